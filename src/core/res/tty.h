#pragma once
/* Terminals (tty.c): the fd kind, and the hooks the drivers call. */
#include "core/ctx.h"

struct file_ops;
extern const struct file_ops tty_ops;

/* Dump, after every fd of the tree is known: pairs the pty slaves with their
 * masters, refuses terminals outside the tree without --shell-job, reads
 * each in-tree pair's state and queues. */
int tty_dump_finish(struct dump_ctx *ctx);

/* Restore, in a session leader right after its setsid() and before it forks
 * the rest of the session: takes the pty that was the session's controlling
 * terminal. */
int tty_restore_session(struct restore_ctx *ctx, struct restore_task *t);
/* Restore, in cryo once every process group exists (tasks seized, not yet
 * restored): the foreground group of each pty that is a controlling
 * terminal, and with --shell-job the job's foreground group on cryo's
 * terminal. */
int tty_restore_groups(struct restore_ctx *ctx);
/* Restore failed after tty_restore_groups(): give cryo's terminal back to cryo. */
void tty_restore_abort(struct restore_ctx *ctx);
