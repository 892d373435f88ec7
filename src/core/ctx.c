#define LOG_PREFIX "ctx: "
#include "core/ctx.h"

#include <fcntl.h>

#include "basic/log.h"
#include "basic/util.h"

FileEntry *dump_ctx_file(struct dump_ctx *ctx, uint32_t id) {
        for (size_t i = 0; i < ctx->nfiles; i++)
                if (ctx->files[i]->id == id)
                        return ctx->files[i];
        return NULL;
}

const FileEntry *restore_ctx_file(const struct restore_ctx *ctx, uint32_t id, size_t *ret_index) {
        for (size_t i = 0; i < ctx->files->n_files; i++)
                if (ctx->files->files[i]->id == id) {
                        if (ret_index)
                                *ret_index = i;
                        return ctx->files->files[i];
                }
        return NULL;
}

int restore_ctx_move_high(struct restore_ctx *ctx, int fd) {
        if (fd >= ctx->fd_base)
                return fd;
        int n = fcntl(fd, F_DUPFD_CLOEXEC, ctx->next_high_fd);
        if (n < 0)
                return log_error_errno(-errno, "cannot move fd above %d (raise RLIMIT_NOFILE?): %m", ctx->next_high_fd);
        close(fd);
        ctx->next_high_fd = n + 1;
        return n;
}

int restore_ctx_stash_fd(struct restore_ctx *ctx, uint64_t key, int fd) {
        __typeof__(ctx->stash) s = ARRAY_PUSH(ctx->stash, ctx->nstash, ctx->cstash);
        s->key = key;
        s->fd = fd;
        return 0;
}

int restore_ctx_take_fd(struct restore_ctx *ctx, uint64_t key) {
        for (size_t i = 0; i < ctx->nstash; i++)
                if (ctx->stash[i].key == key && ctx->stash[i].fd >= 0) {
                        int fd = ctx->stash[i].fd;
                        ctx->stash[i].fd = -1;
                        return fd;
                }
        return -ENOENT;
}

const char *restore_ctx_inherit(const struct restore_ctx *ctx, const char *key, int *ret_fd) {
        for (size_t i = 0; i < ctx->opts.ninherit; i++)
                if (strcmp(ctx->opts.inherit[i].key, key) == 0) {
                        *ret_fd = ctx->opts.inherit[i].fd;
                        return ctx->opts.inherit[i].key;
                }
        return NULL;
}

void restore_ctx_close_stash(struct restore_ctx *ctx) {
        for (size_t i = 0; i < ctx->nstash; i++)
                if (ctx->stash[i].fd >= 0) {
                        close(ctx->stash[i].fd);
                        ctx->stash[i].fd = -1;
                }
}

const struct restore_shmem *restore_ctx_shmem(const struct restore_ctx *ctx, uint64_t ino) {
        for (size_t i = 0; i < ctx->nshmem; i++)
                if (ctx->shmem[i].ino == ino)
                        return &ctx->shmem[i];
        return NULL;
}

void restore_ctx_add_shmem(struct restore_ctx *ctx, uint64_t ino, pid_t pid, uint64_t start, uint64_t end) {
        struct restore_shmem *s = ARRAY_PUSH(ctx->shmem, ctx->nshmem, ctx->cshmem);
        *s = (struct restore_shmem){ .ino = ino, .pid = pid, .start = start, .end = end };
}
