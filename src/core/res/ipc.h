#pragma once
/* IPC objects: System V shared memory, semaphores and message queues
 * (ipc.c, ipc.img) and POSIX message queues (mqueue.c, an fd kind). */
#include "core/ctx.h"

/* ipc.c, dump: after every task is dumped (the tree is still frozen): the
 * SysV objects of the tree into ipc.img; refuses tasks with SEM_UNDO. */
int ipc_dump(struct dump_ctx *ctx);

/* ipc.c, restore: right after the images are read, before any process of
 * the tree exists: recreate the SysV objects with their ids. */
int ipc_restore(struct restore_ctx *ctx);
/* At the end of a restore (r: its result): on failure remove every object
 * this restore created (SysV objects, POSIX queues); frees the state. */
void ipc_restore_finish(struct restore_ctx *ctx, int r);
/* mm.c, in mm_restore_remote(): map VMA t->mm->vmas[idx], a SysV segment,
 * by a remote shmat() at its address (the first piece of an attachment
 * attaches it, later pieces only get their protection). */
int ipc_shm_attach_remote(struct restore_ctx *ctx, struct restore_task *t, size_t idx);
/* mqueue.c: a queue this restore created, to unlink if the restore fails. */
void ipc_restore_created_mqueue(struct restore_ctx *ctx, const char *name);
