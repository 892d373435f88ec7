#pragma once
/* File descriptors: the per-kind operations table and the generic driver.
 *
 * Dump: for every fd of every task, cryo takes its own copy of the open file
 * description (pidfd_getfd), works out which kind it is, and files each
 * distinct open file description once (shared ones found with kcmp) as a
 * FileEntry in files.img; each task's fds-PID.img maps fd numbers to ids.
 *
 * Restore: cryo creates every open file description itself before the tree
 * is forked (ops->open) and keeps it at a high fd number; each restored
 * process inherits them, dup3()s its own to their final numbers, runs the
 * kinds' post_fds hooks (epoll registrations need the final numbers), and
 * closes the rest. Sharing is thus preserved by construction. */
#include <sys/stat.h>

#include "basic/proc.h"
#include "core/ctx.h"

struct fd_dump_info {
        pid_t pid;
        int fd;                    /* number in the target */
        int lfd;                   /* cryo's copy of the same open file description */
        struct stat st;            /* fstat(lfd) */
        const char *link;          /* readlink /proc/PID/fd/FD, e.g. "anon_inode:[eventfd]" */
        struct proc_fdinfo fdinfo; /* /proc/PID/fdinfo/FD */
};

struct file_ops {
        FileKind kind;
        const char *name;
        /* Does this fd belong to this kind? */
        bool (*match)(const struct fd_dump_info *fi);
        /* Fill the kind-specific part of fe (id, kind, flags, pos, ino are set).
         * Must log an error naming pid and fd and return -errno when the fd
         * cannot be saved faithfully. May add to ctx (pipe data, blobs). */
        int (*dump)(struct dump_ctx *ctx, const struct fd_dump_info *fi, FileEntry *fe);
        /* Create the open file description in cryo; return its fd (any number). */
        int (*open)(struct restore_ctx *ctx, const FileEntry *fe, int *ret_fd);
        /* Optional, runs inside the restored process after all its fds are
         * at their final numbers. fd is the final number. */
        int (*post_fds)(struct restore_ctx *ctx, const FileEntry *fe, int fd);
        /* Optional, run once in cryo before the first open() of any kind
         * (objects that need each other: sockets bound, listening,
         * connected), and once after every open() (ctx->file_fds is
         * complete: queues carrying other files, connections). */
        int (*restore_prepare)(struct restore_ctx *ctx);
        int (*restore_finish)(struct restore_ctx *ctx);
};

extern const struct file_ops reg_file_ops, pipe_ops, eventfd_ops, epoll_ops, timerfd_ops, signalfd_ops, inotify_ops,
        memfd_ops, unix_ops, inet_ops, mqueue_ops;

const struct file_ops *file_ops_for(FileKind kind);

/* Dump every fd of t into ctx (files + t->fdt). */
int files_dump_task(struct dump_ctx *ctx, struct dump_task *t);
/* File entry for a file reached through a mapping or /proc/PID/exe (no fd in
 * the target). path_fd is an fd cryo opened on it. Returns the id. */
int files_dump_mapped(struct dump_ctx *ctx, pid_t pid, int path_fd, const char *what, uint32_t *ret_id);
/* Second pass after all tasks: checks that need the whole tree (pipe peers). */
int files_dump_finish(struct dump_ctx *ctx);
/* A file in flight in a unix socket's queue (SCM_RIGHTS): lfd is cryo's
 * copy (from recvmsg(MSG_PEEK)), owned by this call. Returns the id of its
 * FileEntry, a new one or the entry of the same open file description
 * already seen. holder_pid/holder_fd name the socket for messages. */
int files_dump_inflight(struct dump_ctx *ctx, pid_t holder_pid, int holder_fd, int lfd, uint32_t *ret_id);
/* unix.c: peers, listeners and their waiting clients, across the tree. */
int unix_dump_finish(struct dump_ctx *ctx);
/* inet.c: established TCP connections are locked and read last. */
int inet_dump_finish(struct dump_ctx *ctx);
int pipe_dump_finish(struct dump_ctx *ctx);

/* Restore: open everything in cryo (before forking) */
int files_restore_open_all(struct restore_ctx *ctx);
/* Inside restored task t: put fds in place, run post hooks, close the rest. */
int files_restore_task_fds(struct restore_ctx *ctx, struct restore_task *t);
/* POSIX record locks, by remote calls once cryo's fds are closed in t */
int files_restore_posix_locks(struct restore_ctx *ctx, struct restore_task *t);

/* helpers for kinds */
int dump_ctx_new_blob(struct dump_ctx *ctx, int src_fd, uint64_t size, uint32_t *ret_blob_id);
int restore_ctx_blob_fill(struct restore_ctx *ctx, uint32_t blob_id, int dst_fd);
/* cryo's fd for file id once opened (restore_finish hooks), or -ENOENT. */
int restore_ctx_file_fd(const struct restore_ctx *ctx, uint32_t id);
/* cryo's own fd for the open file description a dumped (pid, fd) names:
 * pidfd_getfd, or a dup for a file cryo holds itself (in flight). */
int files_dump_getfd(pid_t pid, int fd);
/* A protobuf bytes field holding a copy of src. */
void pb_bytes_set(ProtobufCBinaryData *dst, const void *src, size_t len);
/* Apply the status flags and position of fe to fd (O_NONBLOCK, O_APPEND...). */
int files_restore_flags_pos(const FileEntry *fe, int fd);
