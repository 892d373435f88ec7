#pragma once
/* Dump and restore contexts: everything one run knows, passed explicitly
 * (no global state besides logging). */
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "core.pb-c.h"
#include "files.pb-c.h"
#include "infect/infect.h"
#include "inventory.pb-c.h"
#include "mm.pb-c.h"

struct inherit_fd {
        char *key; /* e.g. "pipe:[1234]" or a path */
        int fd;    /* cryo's fd to use for it */
};

struct dump_opts {
        pid_t pid;
        const char *dir;
        bool leave_running;
        bool shell_job;
        bool tcp_established;
        bool ext_unix_sk;
        bool file_locks;
        bool pre_dump;
        const char *prev_images_dir;
};

struct restore_opts {
        const char *dir;
        bool detach;
        bool shell_job;
        bool tcp_established;
        const char *pidfile;
        struct inherit_fd *inherit;
        size_t ninherit;
};

/* A thread of a process other than its leader. */
struct dump_thread {
        pid_t tid;
        bool seized;
        bool prepared;
        struct infect_task inf;
};

/* One process being dumped. */
struct dump_task {
        pid_t pid, ppid, pgid, sid;
        bool zombie;              /* nothing but pstree data is saved */
        int exit_code;
        uint64_t zombie_sigblk;
        bool share_files, share_fs; /* with its parent (CLONE_FILES / CLONE_FS) */
        bool stopped;             /* was in a job-control stop */
        bool seized;
        bool prepared;            /* infect_prepare() done: infect_finish() needed */
        struct infect_task inf;   /* the thread-group leader */
        struct dump_thread *th;   /* the other threads */
        size_t nth, cth;
        TaskCore *core;           /* owned, freed with the ctx */
        MmEntry *mm;
        Pagemap *pagemap;
        Fdtable *fdt;
        uint64_t nr_pages;
};

/* Key to find an already-dumped open file description. */
struct dump_file_key {
        pid_t pid;
        int fd;           /* fd in pid, or -1 for a file seen only through a mapping */
        uint64_t dev, ino;
        uint32_t id;
};

struct dump_ctx {
        struct dump_opts opts;
        int dirfd;
        uint64_t ckpt_id;
        struct dump_task *tasks; /* tasks[0] is the root; parents before children */
        size_t ntasks, ctasks;
        FileEntry **files;
        size_t nfiles, cfiles;
        struct dump_file_key *keys;
        size_t nkeys, ckeys;
        size_t *kidx;            /* keys with an fd, sorted by dev, ino and kcmp order */
        size_t nkidx, ckidx;
        PipeDataEntry **pipe_data;
        size_t npipe_data, cpipe_data;
        uint32_t next_blob_id;
        uint64_t pages_total;
        Pstree pstree;           /* helpers found by the session check */
};

/* One process being restored. */
struct restore_task {
        PstreeEntry *pe;          /* borrowed from ctx->pstree */
        TaskCore *core;
        MmEntry *mm;
        Pagemap *pagemap;
        Fdtable *fdt;
        int pages_fd;             /* cryo's fd for pages-PID.img (inherited by the child) */
        bool created;
        bool seized;
        bool prepared;
        bool drain_sigchld;       /* a child died during restore: its SIGCHLD was not pending before */
        bool *premapped;          /* per VMA: set up by the process itself before forking (mm.c) */
        struct infect_task inf;   /* the leader */
        struct infect_task *tinf; /* threads[1..] of the core image */
        bool *tseized;
};

/* A shared anonymous object already created during restore. */
struct restore_shmem {
        uint64_t ino; /* its inode when dumped */
        pid_t pid;    /* restored process that maps it, at [start, end) */
        uint64_t start, end;
};

struct restore_ctx {
        struct restore_opts opts;
        int dirfd;
        uint64_t ckpt_id;
        InventoryEntry *inv;
        Pstree *pstree;
        Files *files;
        struct restore_task *tasks; /* in pstree order */
        size_t ntasks;
        int *file_fds;              /* cryo's fd for files->files[i], -1 if unused */
        int fd_base;                /* every fd cryo keeps during restore sits at >= fd_base */
        int next_high_fd;
        /* fds parked by one open() for another (the other end of a pipe or socketpair) */
        struct {
                uint64_t key;
                int fd;
        } *stash;
        size_t nstash, cstash;
        int ready_pipe[2];
        struct restore_shmem *shmem;
        size_t nshmem, cshmem;
        bool in_child;              /* running as the restored process (files that need it exist) */
        uint64_t own_syscall_ip;    /* a syscall insn in cryo's vDSO: the same in every process it forks */
        struct ipc_restore *ipc;    /* ipc.c: objects created by this restore */
};

/* Find a file entry by id (NULL if absent). */
FileEntry *dump_ctx_file(struct dump_ctx *ctx, uint32_t id);
const FileEntry *restore_ctx_file(const struct restore_ctx *ctx, uint32_t id, size_t *ret_index);
/* Move fd to cryo's high range (>= fd_base) and return the new number. */
int restore_ctx_move_high(struct restore_ctx *ctx, int fd);
int restore_ctx_stash_fd(struct restore_ctx *ctx, uint64_t key, int fd);
int restore_ctx_take_fd(struct restore_ctx *ctx, uint64_t key); /* -ENOENT if none */
/* Close every stashed fd (after the tree has inherited what it needs). */
void restore_ctx_close_stash(struct restore_ctx *ctx);
const struct restore_shmem *restore_ctx_shmem(const struct restore_ctx *ctx, uint64_t ino);
void restore_ctx_add_shmem(struct restore_ctx *ctx, uint64_t ino, pid_t pid, uint64_t start, uint64_t end);
const char *restore_ctx_inherit(const struct restore_ctx *ctx, const char *key, int *ret_fd);
