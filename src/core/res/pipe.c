/* Pipes and FIFOs. Each end's open file description is one FileEntry; the
 * pipe is known by its inode. The bytes buffered in a pipe are saved once
 * (pipe_data in files.img) without consuming them: tee() into a private
 * pipe, then read that. After all tasks are seen, a pipe with only one end
 * in the tree is checked against every other process: if someone outside
 * holds the other end it is marked external and restore needs
 * --inherit-fd fd[N]:pipe:[INO] for it (otherwise the restored process
 * would silently talk to nobody); if no one holds it, it was closed and
 * stays closed after restore.
 * Restore: the first end opened creates the pipe (pipe2), sets its size,
 * writes the saved bytes and parks the other end for its own entry. A FIFO
 * is opened by path, with a temporary O_RDWR holder so no open blocks. */
#define LOG_PREFIX "pipe: "
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "basic/log.h"
#include "basic/util.h"
#include "core/res/files.h"

#define PIPE_KEY(ino, end) (((uint64_t)FILE_KIND__FK_PIPE << 56) | ((uint64_t)(ino) << 2) | (end))

static bool pipe_match(const struct fd_dump_info *fi) {
        return S_ISFIFO(fi->st.st_mode);
}

static PipeDataEntry *find_data(struct dump_ctx *ctx, uint64_t ino) {
        for (size_t i = 0; i < ctx->npipe_data; i++)
                if (ctx->pipe_data[i]->pipe_ino == ino)
                        return ctx->pipe_data[i];
        return NULL;
}

static int pipe_dump(struct dump_ctx *ctx, const struct fd_dump_info *fi, FileEntry *fe) {
        PipeEntry *pe = xzalloc(sizeof(*pe));
        _cleanup_close_ int rfd = -EBADF;
        int tmp[2] = { -1, -1 };
        int r = 0;

        pipe_entry__init(pe);
        fe->pipe = pe;
        pe->pipe_ino = fi->st.st_ino;
        if (strncmp(fi->link, "pipe:", 5) != 0) {
                pe->fifo = true;
                pe->path = xstrdup(fi->link);
        }
        if (find_data(ctx, pe->pipe_ino))
                return 0;

        /* a readable descriptor of the pipe, to tee() from */
        if ((fi->fdinfo.flags & O_ACCMODE) == O_RDONLY)
                rfd = fcntl(fi->lfd, F_DUPFD_CLOEXEC, 0);
        else {
                char path[64];
                snprintf(path, sizeof(path), "/proc/%d/fd/%d", fi->pid, fi->fd);
                rfd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        }
        if (rfd < 0)
                return log_error_errno(-errno, "pid %d: fd %d: cannot open the pipe for reading: %m", fi->pid, fi->fd);
        int cap = fcntl(rfd, F_GETPIPE_SZ);
        if (cap < 0)
                return log_error_errno(-errno, "pid %d: fd %d: cannot read the pipe size: %m", fi->pid, fi->fd);

        PipeDataEntry *d = xzalloc(sizeof(*d));
        pipe_data_entry__init(d);
        d->pipe_ino = pe->pipe_ino;
        d->capacity = cap;
        *ARRAY_PUSH(ctx->pipe_data, ctx->npipe_data, ctx->cpipe_data) = d;

        if (pipe2(tmp, O_NONBLOCK | O_CLOEXEC) < 0)
                return log_error_errno(-errno, "cannot create a pipe: %m");
        if (fcntl(tmp[1], F_SETPIPE_SZ, cap) < 0) {
                r = log_error_errno(-errno, "cannot size a pipe to %d: %m", cap);
                goto out;
        }
        ssize_t n = tee(rfd, tmp[1], cap, SPLICE_F_NONBLOCK);
        if (n < 0 && errno != EAGAIN) {
                r = log_error_errno(-errno, "pid %d: fd %d: cannot copy the pipe's buffered data: %m", fi->pid, fi->fd);
                goto out;
        }
        if (n > 0) {
                d->data.data = xzalloc(n);
                d->data.len = n;
                r = read_all(tmp[0], d->data.data, n);
                if (r < 0) {
                        log_error_errno(r, "cannot read pipe data: %m");
                        goto out;
                }
        }
out:
        safe_close(tmp[0]);
        safe_close(tmp[1]);
        return r;
}

/* Does a process outside the tree hold pipe:[ino]? Returns its pid or 0. */
static pid_t pipe_holder_outside(struct dump_ctx *ctx, uint64_t ino) {
        char want[64];
        DIR *d = opendir("/proc");
        struct dirent *de;
        pid_t found = 0;

        if (!d)
                return 0;
        snprintf(want, sizeof(want), "pipe:[%llu]", (unsigned long long)ino);
        while (!found && (de = readdir(d))) {
                int pid;
                bool ours = false;
                if (parse_int(de->d_name, &pid) < 0 || pid == getpid())
                        continue;
                for (size_t i = 0; i < ctx->ntasks && !ours; i++)
                        ours = ctx->tasks[i].pid == pid;
                if (ours)
                        continue;
                char path[64];
                snprintf(path, sizeof(path), "/proc/%d/fd", pid);
                DIR *fdd = opendir(path);
                if (!fdd)
                        continue;
                struct dirent *fe;
                while ((fe = readdir(fdd))) {
                        char lp[300], link[64];
                        if (fe->d_name[0] == '.')
                                continue;
                        snprintf(lp, sizeof(lp), "/proc/%d/fd/%s", pid, fe->d_name);
                        ssize_t n = readlink(lp, link, sizeof(link) - 1);
                        if (n <= 0)
                                continue;
                        link[n] = 0;
                        if (strcmp(link, want) == 0) {
                                found = pid;
                                break;
                        }
                }
                closedir(fdd);
        }
        closedir(d);
        return found;
}

int pipe_dump_finish(struct dump_ctx *ctx) {
        for (size_t i = 0; i < ctx->nfiles; i++) {
                FileEntry *fe = ctx->files[i];
                if (fe->kind != FILE_KIND__FK_PIPE || fe->pipe->fifo)
                        continue;
                bool rd = false, wr = false;
                int same_end = 0;
                for (size_t j = 0; j < ctx->nfiles; j++) {
                        FileEntry *o = ctx->files[j];
                        if (o->kind != FILE_KIND__FK_PIPE || o->pipe->pipe_ino != fe->pipe->pipe_ino)
                                continue;
                        bool ord = (o->flags & O_ACCMODE) == O_RDONLY;
                        rd |= ord;
                        wr |= !ord;
                        if (ord == ((fe->flags & O_ACCMODE) == O_RDONLY))
                                same_end++;
                }
                if (same_end > 1)
                        return log_error_errno(-ENOTSUP, "pipe:[%llu] has several open descriptions of one end (reopened through /proc), not supported yet",
                                               (unsigned long long)fe->pipe->pipe_ino);
                if (rd && wr)
                        continue;
                pid_t holder = pipe_holder_outside(ctx, fe->pipe->pipe_ino);
                if (holder) {
                        fe->pipe->peer_outside = true;
                        log_info("pipe:[%llu]: the other end is held by pid %d outside the tree; restore needs --inherit-fd fd[N]:pipe:[%llu]",
                                 (unsigned long long)fe->pipe->pipe_ino, holder,
                                 (unsigned long long)fe->pipe->pipe_ino);
                }
        }
        return 0;
}

static const PipeDataEntry *restore_data(struct restore_ctx *ctx, uint64_t ino) {
        for (size_t i = 0; i < ctx->files->n_pipe_data; i++)
                if (ctx->files->pipe_data[i]->pipe_ino == ino)
                        return ctx->files->pipe_data[i];
        return NULL;
}

static int fill(int wfd, const PipeDataEntry *d) {
        if (!d)
                return 0;
        if (d->capacity && fcntl(wfd, F_SETPIPE_SZ, d->capacity) < 0)
                return log_error_errno(-errno, "cannot size pipe:[%llu] to %u bytes: %m",
                                       (unsigned long long)d->pipe_ino, d->capacity);
        if (d->data.len) {
                int r = write_all(wfd, d->data.data, d->data.len);
                if (r < 0)
                        return log_error_errno(r, "cannot refill pipe:[%llu]: %m", (unsigned long long)d->pipe_ino);
        }
        return 0;
}

static int pipe_open(struct restore_ctx *ctx, const FileEntry *fe, int *ret_fd) {
        const PipeEntry *pe = fe->pipe;
        bool rd = (fe->flags & O_ACCMODE) == O_RDONLY;
        int fd, r;

        if (!pe)
                return log_error_errno(-EBADMSG, "file %u: no pipe data in the image", fe->id);
        if (pe->fifo) {
                int holder = restore_ctx_take_fd(ctx, PIPE_KEY(pe->pipe_ino, 3));
                if (holder < 0) {
                        holder = open(pe->path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
                        if (holder < 0)
                                return log_error_errno(-errno, "cannot open the FIFO '%s': %m", pe->path);
                        r = fill(holder, restore_data(ctx, pe->pipe_ino));
                        if (r < 0) {
                                close(holder);
                                return r;
                        }
                        holder = restore_ctx_move_high(ctx, holder);
                        if (holder < 0)
                                return holder;
                }
                restore_ctx_stash_fd(ctx, PIPE_KEY(pe->pipe_ino, 3), holder);
                fd = open(pe->path, (fe->flags & O_ACCMODE) | O_NONBLOCK | O_CLOEXEC);
                if (fd < 0)
                        return log_error_errno(-errno, "cannot open the FIFO '%s': %m", pe->path);
        } else if ((fd = restore_ctx_take_fd(ctx, PIPE_KEY(pe->pipe_ino, rd ? 0 : 1))) >= 0) {
                /* created with the other end */
        } else if (pe->peer_outside) {
                char key[64];
                int ifd;
                snprintf(key, sizeof(key), "pipe:[%llu]", (unsigned long long)pe->pipe_ino);
                if (!restore_ctx_inherit(ctx, key, &ifd))
                        return log_error_errno(-ENOTSUP, "%s has its other end outside the checkpoint; give the end to use with --inherit-fd fd[N]:%s",
                                               key, key);
                fd = fcntl(ifd, F_DUPFD_CLOEXEC, 0);
                if (fd < 0)
                        return log_error_errno(-errno, "--inherit-fd for %s: fd %d: %m", key, ifd);
        } else {
                int p[2];
                if (pipe2(p, O_CLOEXEC) < 0)
                        return log_error_errno(-errno, "cannot create a pipe: %m");
                r = fill(p[1], restore_data(ctx, pe->pipe_ino));
                if (r < 0) {
                        close(p[0]);
                        close(p[1]);
                        return r;
                }
                /* park the other end for its own entry (if the tree has it) */
                bool other_used = false;
                for (size_t i = 0; i < ctx->files->n_files; i++) {
                        const FileEntry *o = ctx->files->files[i];
                        if (o != fe && o->kind == FILE_KIND__FK_PIPE && o->pipe && o->pipe->pipe_ino == pe->pipe_ino)
                                other_used = true;
                }
                int other = rd ? p[1] : p[0];
                fd = rd ? p[0] : p[1];
                if (other_used) {
                        other = restore_ctx_move_high(ctx, other);
                        if (other < 0) {
                                close(fd);
                                return other;
                        }
                        restore_ctx_stash_fd(ctx, PIPE_KEY(pe->pipe_ino, rd ? 1 : 0), other);
                } else
                        close(other);
        }
        r = files_restore_flags_pos(fe, fd);
        if (r < 0) {
                close(fd);
                return r;
        }
        *ret_fd = fd;
        return 0;
}

const struct file_ops pipe_ops = {
        .kind = FILE_KIND__FK_PIPE,
        .name = "pipe",
        .match = pipe_match,
        .dump = pipe_dump,
        .open = pipe_open,
};
