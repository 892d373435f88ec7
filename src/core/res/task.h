#pragma once
/* Per-process kernel state other than memory and files, split by kind:
 *   task.c     identity and misc (comm, cwd/root, umask, personality, rlimits,
 *              scheduling, prctl bits, clear_child_tid, robust list, rseq)
 *   signals.c  sigactions, blocked mask, pending signals, sigaltstack
 *   timers.c   itimers and POSIX timers
 *   creds.c    uids/gids/groups, capabilities, securebits, no_new_privs
 *   mm.c       address space and pages
 * Each has a dump function (task seized and prepared for remote syscalls),
 * a restore part that runs inside the new process as cryo code before it
 * stops ("child"), and/or a part cryo drives by remote syscalls ("remote"). */
#include "core/ctx.h"

/* task.c */
int task_dump_misc(struct dump_ctx *ctx, struct dump_task *t);
int task_restore_child(struct restore_ctx *ctx, struct restore_task *t);
int task_restore_remote(struct restore_ctx *ctx, struct restore_task *t);
int thread_dump_misc(struct dump_ctx *ctx, struct dump_task *t, struct infect_task *inf, ThreadCore *tc);
/* per-thread state of a non-leader thread, by remote calls in that thread */
int thread_restore_remote(struct restore_ctx *ctx, struct restore_task *t, struct infect_task *inf, ThreadCore *tc);

/* signals.c */
int signals_dump(struct dump_ctx *ctx, struct dump_task *t);
int signals_dump_thread(struct dump_ctx *ctx, struct dump_task *t, struct infect_task *inf, ThreadCore *tc);
int signals_restore_thread_remote(struct restore_ctx *ctx, struct restore_task *t, struct infect_task *inf,
                                  ThreadCore *tc);
int signals_restore_child(struct restore_ctx *ctx, struct restore_task *t);

/* timers.c */
int timers_dump(struct dump_ctx *ctx, struct dump_task *t);
int timers_restore_child(struct restore_ctx *ctx, struct restore_task *t);

/* creds.c */
int creds_dump(struct dump_ctx *ctx, struct dump_task *t, struct infect_task *inf, ThreadCore *tc);
int creds_restore_remote(struct restore_ctx *ctx, struct restore_task *t, struct infect_task *inf, ThreadCore *tc);

/* mm.c */
int mm_dump_vmas(struct dump_ctx *ctx, struct dump_task *t);   /* before any scratch is mapped */
int mm_dump_pages(struct dump_ctx *ctx, struct dump_task *t);  /* writes pages-PID.img */
/* Which private anonymous pages t still shares copy-on-write with its parent p. */
int mm_dump_cow(struct dump_ctx *ctx, struct dump_task *t, struct dump_task *p);
/* In the new process, before it forks: set up the premapped VMAs (create them,
 * or fix up the ones inherited from the parent) so children inherit them. */
int mm_premap_child(struct restore_ctx *ctx, struct restore_task *t);
int mm_restore_remote(struct restore_ctx *ctx, struct restore_task *t);
/* restore-time checks that need no process (files behind mappings, vDSO) */
int mm_restore_check(struct restore_ctx *ctx, struct restore_task *t);

/* remote scratch layout used during dump (offsets into t->inf.scratch) */
#define SCRATCH_SIZE (256 * 1024)
