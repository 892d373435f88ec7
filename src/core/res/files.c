/* The generic fd driver: see files.h for the scheme. Kinds live in their own
 * files (reg-file.c, pipe.c, eventfd.c, ...). */
#define LOG_PREFIX "files: "
#include "core/res/files.h"
#include "core/res/tty.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/file.h>
#include <sys/syscall.h>

#include "basic/kcompat.h"
#include "basic/log.h"
#include "basic/util.h"
#include "image/image.h"

static const struct file_ops *const all_ops[] = {
        &memfd_ops, &tty_ops, &mqueue_ops, &reg_file_ops, &pipe_ops, &eventfd_ops, &epoll_ops,
        &timerfd_ops, &signalfd_ops, &inotify_ops, &unix_ops, &inet_ops,
};

const struct file_ops *file_ops_for(FileKind kind) {
        for (size_t i = 0; i < ARRAY_SIZE(all_ops); i++)
                if (all_ops[i]->kind == kind)
                        return all_ops[i];
        return NULL;
}

/* Names the kind of a socket no file_ops took, for the refusal. */
static const char *socket_desc(int fd, char *buf, size_t n) {
        static const char *const nl[] = {
                [0] = "NETLINK_ROUTE", [2] = "NETLINK_USERSOCK", [4] = "NETLINK_SOCK_DIAG",
                [6] = "NETLINK_XFRM", [9] = "NETLINK_AUDIT", [12] = "NETLINK_NETFILTER",
                [15] = "NETLINK_KOBJECT_UEVENT", [16] = "NETLINK_GENERIC",
        };
        int dom = -1, type = -1, proto = -1;
        socklen_t l = sizeof(int);
        getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &dom, &l);
        l = sizeof(int);
        getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l);
        l = sizeof(int);
        getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &l);
        const char *ip = dom == AF_INET ? "IPv4" : "IPv6";
        switch (dom) {
        case AF_INET:
        case AF_INET6:
                if (type == SOCK_RAW)
                        snprintf(buf, n, "a raw %s socket (protocol %d)", ip, proto);
                else if (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6)
                        snprintf(buf, n, "an ICMP (ping) %s socket", ip);
                else if (proto == IPPROTO_SCTP)
                        snprintf(buf, n, "an SCTP %s socket", ip);
                else if (proto == IPPROTO_UDPLITE)
                        snprintf(buf, n, "a UDP-Lite %s socket", ip);
                else if (proto == 262 /* IPPROTO_MPTCP */)
                        snprintf(buf, n, "an MPTCP %s socket", ip);
                else if (proto == IPPROTO_TCP)
                        snprintf(buf, n, "a TCP %s socket", ip);
                else if (proto == IPPROTO_UDP)
                        snprintf(buf, n, "a UDP %s socket", ip);
                else
                        snprintf(buf, n, "an %s socket of protocol %d", ip, proto);
                break;
        case AF_NETLINK:
                if (proto >= 0 && (size_t)proto < ARRAY_SIZE(nl) && nl[proto])
                        snprintf(buf, n, "a netlink socket (%s)", nl[proto]);
                else
                        snprintf(buf, n, "a netlink socket (protocol %d)", proto);
                break;
        case AF_PACKET:
                snprintf(buf, n, "a packet socket (%s)", type == SOCK_RAW ? "raw" : "cooked");
                break;
        case AF_UNIX:
                snprintf(buf, n, "a unix socket of type %d", type);
                break;
        case 40: /* AF_VSOCK */
                snprintf(buf, n, "a vsock socket");
                break;
        case AF_BLUETOOTH:
                snprintf(buf, n, "a bluetooth socket");
                break;
        case AF_ALG:
                snprintf(buf, n, "an AF_ALG (crypto) socket");
                break;
        case AF_KEY:
                snprintf(buf, n, "a PF_KEY socket");
                break;
        case 44: /* AF_XDP */
                snprintf(buf, n, "an AF_XDP socket");
                break;
        default:
                snprintf(buf, n, "a socket of family %d", dom);
        }
        return buf;
}

static int new_file_id(struct dump_ctx *ctx, FileEntry **ret) {
        FileEntry *fe = xzalloc(sizeof(*fe));
        file_entry__init(fe);
        fe->id = ctx->nfiles + 1;
        *ARRAY_PUSH(ctx->files, ctx->nfiles, ctx->cfiles) = fe;
        *ret = fe;
        return 0;
}

/* Order of an open file description against a key: dev, inode, then the
 * kernel's own order of file pointers (kcmp). 2 = cannot be ordered. */
static int key_cmp(struct dump_ctx *ctx, pid_t pid, int fd, uint64_t dev, uint64_t ino, size_t ki) {
        const struct dump_file_key *k = &ctx->keys[ki];
        if (dev != k->dev)
                return dev < k->dev ? -1 : 1;
        if (ino != k->ino)
                return ino < k->ino ? -1 : 1;
        long r = syscall(__NR_kcmp, pid, k->pid, KCMP_FILE, fd, k->fd);
        return r == 0 ? 0 : r == 1 ? -1 : r == 2 ? 1 : 2;
}

/* Binary search; *ret_pos is where it is or would go. */
static int key_find(struct dump_ctx *ctx, pid_t pid, int fd, uint64_t dev, uint64_t ino, size_t *ret_pos) {
        size_t lo = 0, hi = ctx->nkidx;
        while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                int c = key_cmp(ctx, pid, fd, dev, ino, ctx->kidx[mid]);
                if (c == 2)
                        return -EINVAL;
                if (c == 0) {
                        *ret_pos = mid;
                        return 1;
                }
                if (c < 0)
                        hi = mid;
                else
                        lo = mid + 1;
        }
        *ret_pos = lo;
        return 0;
}

static void add_key(struct dump_ctx *ctx, pid_t pid, int fd, const struct stat *st, uint32_t id) {
        struct dump_file_key *k = ARRAY_PUSH(ctx->keys, ctx->nkeys, ctx->ckeys);
        *k = (struct dump_file_key){ .pid = pid, .fd = fd, .dev = st->st_dev, .ino = st->st_ino, .id = id };
        size_t pos;
        if (fd < 0 || key_find(ctx, pid, fd, st->st_dev, st->st_ino, &pos) != 0)
                return;
        ARRAY_PUSH(ctx->kidx, ctx->nkidx, ctx->ckidx);
        memmove(ctx->kidx + pos + 1, ctx->kidx + pos, (ctx->nkidx - 1 - pos) * sizeof(size_t));
        ctx->kidx[pos] = ctx->nkeys - 1;
}

/* An already-seen open file description? O(log n) kcmp calls. */
static int find_shared(struct dump_ctx *ctx, pid_t pid, int fd, const struct stat *st, uint32_t *ret_id) {
        size_t pos;
        int r = key_find(ctx, pid, fd, st->st_dev, st->st_ino, &pos);
        if (r == 1) {
                *ret_id = ctx->keys[ctx->kidx[pos]].id;
                return 1;
        }
        if (r == 0)
                return 0;
        /* kcmp could not order them: compare one by one */
        for (size_t i = 0; i < ctx->nkeys; i++) {
                struct dump_file_key *k = &ctx->keys[i];
                if (k->fd < 0 || k->dev != st->st_dev || k->ino != st->st_ino)
                        continue;
                if (syscall(__NR_kcmp, pid, k->pid, KCMP_FILE, fd, k->fd) == 0) {
                        *ret_id = k->id;
                        return 1;
                }
        }
        return 0;
}

/* Locks shown in the fd's fdinfo ("lock:" lines). Without --file-locks any
 * lock refuses the dump; with it each lock is saved once: FLOCK/OFD per open
 * file description, POSIX per process and inode. */
static int dump_locks(struct dump_ctx *ctx, struct dump_task *t, const struct fd_dump_info *fi, FdEntry *de) {
        for (const char *line = fi->fdinfo.text; line && *line;) {
                char kind[16], mode[16], rw[16], end[32];
                long long start;
                int pid;
                if (sscanf(line, "lock: %*d: %15s %15s %15s %d %*s %lld %31s", kind, mode, rw, &pid, &start, end) == 6) {
                        uint32_t k = !strcmp(kind, "FLOCK") ? 1 : !strcmp(kind, "POSIX") ? 2 : !strcmp(kind, "OFDLCK") ? 3 : 0;
                        if (!ctx->opts.file_locks)
                                return log_error_errno(-ENOTSUP, "pid %d: fd %d holds a file lock (%s); use --file-locks",
                                                       t->pid, fi->fd, kind);
                        if (!k || strcmp(mode, "ADVISORY") != 0)
                                return log_error_errno(-ENOTSUP, "pid %d: fd %d holds a %s %s lock, not supported yet",
                                                       t->pid, fi->fd, mode, kind);
                        bool dup = false;
                        if (k == 2 && pid != t->pid)
                                dup = true; /* another process's POSIX lock on the same file */
                        for (size_t i = 0; i < t->fdt->n_fds && !dup; i++) {
                                FdEntry *o = t->fdt->fds[i];
                                if (o == de)
                                        continue;
                                for (size_t j = 0; j < o->n_locks && !dup; j++)
                                        dup = o->locks[j]->kind == k && o->locks[j]->start == start &&
                                              ((k != 2 && o->file_id == de->file_id) ||
                                               (k == 2 && dump_ctx_file(ctx, o->file_id) &&
                                                dump_ctx_file(ctx, o->file_id)->ino == (uint64_t)fi->st.st_ino));
                        }
                        if (!dup) {
                                FileLockEntry *l = xzalloc(sizeof(*l));
                                file_lock_entry__init(l);
                                l->kind = k;
                                l->write = !strcmp(rw, "WRITE");
                                l->start = start;
                                l->end = !strcmp(end, "EOF") ? -1 : strtoll(end, NULL, 10);
                                de->locks = xrealloc_array(de->locks, de->n_locks + 1, sizeof(*de->locks));
                                de->locks[de->n_locks++] = l;
                        }
                }
                line = strchr(line, '\n');
                if (line)
                        line++;
        }
        return 0;
}

static int dump_one_fd(struct dump_ctx *ctx, struct dump_task *t, int pidfd, int fd) {
        struct fd_dump_info fi = { .pid = t->pid, .fd = fd, .lfd = -EBADF };
        char path[64], link[PATH_MAX + 1];
        const struct file_ops *ops = NULL;
        FileEntry *fe;
        uint32_t id;
        ssize_t n;
        int r;

        snprintf(path, sizeof(path), "/proc/%d/fd/%d", t->pid, fd);
        n = readlink(path, link, sizeof(link) - 1);
        if (n < 0)
                return log_error_errno(-errno, "pid %d: cannot read fd %d: %m", t->pid, fd);
        link[n] = 0;
        fi.link = link;
        r = proc_read_fdinfo(t->pid, fd, &fi.fdinfo);
        if (r < 0)
                return log_error_errno(r, "pid %d: cannot read fdinfo of fd %d: %m", t->pid, fd);
        fi.lfd = syscall(__NR_pidfd_getfd, pidfd, fd, 0);
        if (fi.lfd < 0) {
                r = log_error_errno(-errno, "pid %d: cannot get a copy of fd %d (%s): %m", t->pid, fd, link);
                goto out;
        }
        if (fstat(fi.lfd, &fi.st) < 0) {
                r = log_error_errno(-errno, "pid %d: cannot stat fd %d: %m", t->pid, fd);
                goto out;
        }

        FdEntry *de = xzalloc(sizeof(*de));
        fd_entry__init(de);
        de->fd = fd;
        de->cloexec = !!(fi.fdinfo.flags & O_CLOEXEC);
        t->fdt->fds = xrealloc_array(t->fdt->fds, t->fdt->n_fds + 1, sizeof(FdEntry *));
        t->fdt->fds[t->fdt->n_fds++] = de;

        if (find_shared(ctx, t->pid, fd, &fi.st, &id)) {
                de->file_id = id;
                r = dump_locks(ctx, t, &fi, de);
                goto out;
        }
        for (size_t i = 0; i < ARRAY_SIZE(all_ops); i++)
                if (all_ops[i]->match && all_ops[i]->dump && all_ops[i]->match(&fi)) {
                        ops = all_ops[i];
                        break;
                }
        if (!ops) {
                char buf[64];
                if (S_ISSOCK(fi.st.st_mode))
                        r = log_error_errno(-ENOTSUP, "pid %d: fd %d is %s, not supported yet", t->pid, fd,
                                            socket_desc(fi.lfd, buf, sizeof(buf)));
                else
                        r = log_error_errno(-ENOTSUP, "pid %d: fd %d is '%s', not supported yet", t->pid, fd, link);
                goto out;
        }
        new_file_id(ctx, &fe);
        fe->kind = ops->kind;
        fe->flags = fi.fdinfo.flags & ~(O_CLOEXEC | O_LARGEFILE);
        fe->pos = fi.fdinfo.pos;
        fe->ino = fi.st.st_ino;
        de->file_id = fe->id;
        add_key(ctx, t->pid, fd, &fi.st, fe->id);
        r = ops->dump(ctx, &fi, fe);
        if (r >= 0)
                r = dump_locks(ctx, t, &fi, de);
        log_debug("pid %d: fd %d -> file %u (%s) %s", t->pid, fd, fe->id, ops->name, link);
out:
        safe_close(fi.lfd);
        proc_fdinfo_done(&fi.fdinfo);
        return r;
}

int files_dump_task(struct dump_ctx *ctx, struct dump_task *t) {
        _cleanup_free_ int *fds = NULL;
        _cleanup_close_ int pidfd = -EBADF;
        size_t nfds = 0;
        int r;

        t->fdt = xzalloc(sizeof(*t->fdt));
        fdtable__init(t->fdt);
        pidfd = syscall(__NR_pidfd_open, t->pid, 0);
        if (pidfd < 0)
                return log_error_errno(-errno, "pid %d: cannot open a pidfd: %m", t->pid);
        r = proc_list_fds(t->pid, &fds, &nfds);
        if (r < 0)
                return log_error_errno(r, "pid %d: cannot list fds: %m", t->pid);
        for (size_t i = 0; i < nfds; i++) {
                r = dump_one_fd(ctx, t, pidfd, fds[i]);
                if (r < 0)
                        return r;
        }
        return 0;
}

int files_dump_mapped(struct dump_ctx *ctx, pid_t pid, int path_fd, const char *what, uint32_t *ret_id) {
        struct fd_dump_info fi = { .pid = pid, .fd = -1, .lfd = path_fd };
        char path[64], link[PATH_MAX + 1];
        const struct file_ops *ops = NULL;
        FileEntry *fe;
        ssize_t n;
        int r;

        if (fstat(path_fd, &fi.st) < 0)
                return log_error_errno(-errno, "pid %d: cannot stat %s: %m", pid, what);
        /* Any open file description of the same inode will do for a mapping. */
        for (size_t i = 0; i < ctx->nkeys; i++)
                if (ctx->keys[i].dev == (uint64_t)fi.st.st_dev && ctx->keys[i].ino == (uint64_t)fi.st.st_ino) {
                        FileEntry *o = dump_ctx_file(ctx, ctx->keys[i].id);
                        if (o && (o->kind == FILE_KIND__FK_MEMFD || o->kind == FILE_KIND__FK_REG)) {
                                *ret_id = o->id;
                                return 0;
                        }
                }
        snprintf(path, sizeof(path), "/proc/self/fd/%d", path_fd);
        n = readlink(path, link, sizeof(link) - 1);
        if (n < 0)
                return log_error_errno(-errno, "pid %d: cannot resolve %s: %m", pid, what);
        link[n] = 0;
        fi.link = link;
        r = proc_read_fdinfo(getpid(), path_fd, &fi.fdinfo);
        if (r < 0)
                return log_error_errno(r, "pid %d: cannot read fdinfo of %s: %m", pid, what);
        for (size_t i = 0; i < ARRAY_SIZE(all_ops); i++)
                if ((all_ops[i] == &reg_file_ops || all_ops[i] == &memfd_ops) && all_ops[i]->match &&
                    all_ops[i]->match(&fi)) {
                        ops = all_ops[i];
                        break;
                }
        if (!ops) {
                proc_fdinfo_done(&fi.fdinfo);
                return log_error_errno(-ENOTSUP, "pid %d: %s is backed by '%s', not supported yet", pid, what, link);
        }
        new_file_id(ctx, &fe);
        fe->kind = ops->kind;
        fe->flags = O_RDONLY;
        fe->ino = fi.st.st_ino;
        add_key(ctx, pid, -1, &fi.st, fe->id);
        r = ops->dump(ctx, &fi, fe);
        proc_fdinfo_done(&fi.fdinfo);
        if (r < 0)
                return r;
        *ret_id = fe->id;
        return 0;
}

int files_dump_getfd(pid_t pid, int fd) {
        if (pid == getpid()) {
                int n = fcntl(fd, F_DUPFD_CLOEXEC, 3);
                return n < 0 ? -errno : n;
        }
        int pidfd = syscall(__NR_pidfd_open, pid, 0);
        if (pidfd < 0)
                return -errno;
        int n = syscall(__NR_pidfd_getfd, pidfd, fd, 0);
        int r = n < 0 ? -errno : n;
        close(pidfd);
        return r;
}

/* A file in flight is described like any other, as held by cryo itself
 * (pid = cryo, fd = its copy), so the kinds that look at /proc/PID/fd/FD
 * find it. The copy stays open until files_dump_finish() so later holders
 * of the same open file description are matched to it by kcmp. */
int files_dump_inflight(struct dump_ctx *ctx, pid_t holder_pid, int holder_fd, int lfd, uint32_t *ret_id) {
        struct fd_dump_info fi = { .pid = getpid(), .fd = lfd, .lfd = lfd };
        char path[64], link[PATH_MAX + 1];
        const struct file_ops *ops = NULL;
        FileEntry *fe;
        uint32_t id;
        ssize_t n;
        int r;

        if (fstat(lfd, &fi.st) < 0) {
                r = log_error_errno(-errno, "pid %d: fd %d: cannot stat a file in flight: %m", holder_pid, holder_fd);
                safe_close(lfd);
                return r;
        }
        if (find_shared(ctx, getpid(), lfd, &fi.st, &id)) {
                safe_close(lfd);
                *ret_id = id;
                return 0;
        }
        snprintf(path, sizeof(path), "/proc/self/fd/%d", lfd);
        n = readlink(path, link, sizeof(link) - 1);
        if (n < 0) {
                r = log_error_errno(-errno, "pid %d: fd %d: cannot resolve a file in flight: %m", holder_pid, holder_fd);
                safe_close(lfd);
                return r;
        }
        link[n] = 0;
        fi.link = link;
        r = proc_read_fdinfo(getpid(), lfd, &fi.fdinfo);
        if (r < 0) {
                safe_close(lfd);
                return log_error_errno(r, "pid %d: fd %d: cannot read the fdinfo of a file in flight: %m", holder_pid,
                                       holder_fd);
        }
        for (size_t i = 0; i < ARRAY_SIZE(all_ops); i++)
                if (all_ops[i]->match && all_ops[i]->dump && all_ops[i]->match(&fi)) {
                        ops = all_ops[i];
                        break;
                }
        /* an epoll's registrations name fd numbers of a process: cryo has none */
        if (!ops || ops == &epoll_ops) {
                char buf[64];
                r = log_error_errno(-ENOTSUP, "pid %d: fd %d is a unix socket with %s in flight (SCM_RIGHTS), not supported yet",
                                    holder_pid, holder_fd,
                                    S_ISSOCK(fi.st.st_mode) ? socket_desc(lfd, buf, sizeof(buf)) : link);
                proc_fdinfo_done(&fi.fdinfo);
                safe_close(lfd);
                return r;
        }
        new_file_id(ctx, &fe);
        fe->kind = ops->kind;
        fe->flags = fi.fdinfo.flags & ~(O_CLOEXEC | O_LARGEFILE);
        fe->pos = fi.fdinfo.pos;
        fe->ino = fi.st.st_ino;
        add_key(ctx, getpid(), lfd, &fi.st, fe->id);
        log_debug("pid %d: fd %d: file %u (%s) %s in flight", holder_pid, holder_fd, fe->id, ops->name, link);
        r = ops->dump(ctx, &fi, fe);
        proc_fdinfo_done(&fi.fdinfo);
        if (r < 0)
                return r;
        *ret_id = fe->id;
        return 0;
}

/* Closes cryo's copies of the files in flight. */
static void close_inflight(struct dump_ctx *ctx) {
        for (size_t i = 0; i < ctx->nkeys; i++)
                if (ctx->keys[i].pid == getpid() && ctx->keys[i].fd >= 0) {
                        safe_close(ctx->keys[i].fd);
                        ctx->keys[i].fd = -1;
                }
}

int dump_ctx_new_blob(struct dump_ctx *ctx, int src_fd, uint64_t size, uint32_t *ret_blob_id) {
        struct img_raw_writer w;
        char name[64];
        uint32_t id = ++ctx->next_blob_id;
        _cleanup_free_ char *buf = xzalloc(1 << 20);
        int r;

        snprintf(name, sizeof(name), "blob-%u.img", id);
        r = img_raw_create(ctx->dirfd, name, IMG_BLOB, ctx->ckpt_id, &w);
        if (r < 0)
                return r;
        for (uint64_t off = 0; off < size;) {
                size_t want = MIN(size - off, (uint64_t)1 << 20);
                ssize_t n = pread(src_fd, buf, want, off);
                if (n < 0) {
                        r = log_error_errno(-errno, "cannot read file contents: %m");
                        goto fail;
                }
                if (n == 0) { /* shrank under us: keep the size we promised */
                        memset(buf, 0, want);
                        n = want;
                }
                r = img_raw_append(&w, buf, n);
                if (r < 0)
                        goto fail;
                off += n;
        }
        r = img_raw_finish(&w);
        if (r < 0)
                return r;
        *ret_blob_id = id;
        return 0;
fail:
        img_raw_abort(&w);
        return r;
}

int restore_ctx_blob_fill(struct restore_ctx *ctx, uint32_t blob_id, int dst_fd) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        uint64_t len;
        char name[64];
        int r;

        snprintf(name, sizeof(name), "blob-%u.img", blob_id);
        r = img_raw_open(ctx->dirfd, name, IMG_BLOB, ctx->ckpt_id, &fd, &len);
        if (r < 0)
                return r;
        buf = xzalloc(1 << 20);
        for (uint64_t off = 0; off < len;) {
                size_t want = MIN(len - off, (uint64_t)1 << 20);
                r = pread_all(fd, buf, want, IMG_RAW_DATA_OFF + off);
                if (r < 0)
                        return log_error_errno(r, "cannot read %s: %m", name);
                r = pwrite_all(dst_fd, buf, want, off);
                if (r < 0)
                        return log_error_errno(r, "cannot write file contents from %s: %m", name);
                off += want;
        }
        return 0;
}

void pb_bytes_set(ProtobufCBinaryData *dst, const void *src, size_t len) {
        dst->len = len;
        dst->data = len ? xzalloc(len) : NULL;
        if (len)
                memcpy(dst->data, src, len);
}

int files_restore_flags_pos(const FileEntry *fe, int fd) {
        int fl = fe->flags & (O_APPEND | O_NONBLOCK | O_ASYNC | O_DIRECT | O_NOATIME);
        if (fcntl(fd, F_SETFL, fl) < 0)
                return log_error_errno(-errno, "file %u: cannot set flags %#o: %m", fe->id, fl);
        if (fe->pos && lseek(fd, fe->pos, SEEK_SET) < 0 && errno != ESPIPE)
                return log_error_errno(-errno, "file %u: cannot seek to %llu: %m", fe->id,
                                       (unsigned long long)fe->pos);
        return 0;
}

int restore_ctx_file_fd(const struct restore_ctx *ctx, uint32_t id) {
        size_t idx;
        if (!restore_ctx_file(ctx, id, &idx) || !ctx->file_fds || ctx->file_fds[idx] < 0)
                return -ENOENT;
        return ctx->file_fds[idx];
}

int files_restore_open_all(struct restore_ctx *ctx) {
        size_t n = ctx->files->n_files;
        int r;

        ctx->file_fds = xrealloc_array(NULL, n ? n : 1, sizeof(int));
        for (size_t i = 0; i < n; i++)
                ctx->file_fds[i] = -1;
        for (size_t i = 0; i < ARRAY_SIZE(all_ops); i++)
                if (all_ops[i]->restore_prepare) {
                        r = all_ops[i]->restore_prepare(ctx);
                        if (r < 0)
                                return r;
                }
        for (size_t i = 0; i < n; i++) {
                const FileEntry *fe = ctx->files->files[i];
                const struct file_ops *ops = file_ops_for(fe->kind);
                int fd = -1;
                if (!ops || !ops->open)
                        return log_error_errno(-ENOTSUP, "file %u has kind %d that this cryo cannot restore", fe->id,
                                               fe->kind);
                r = ops->open(ctx, fe, &fd);
                if (r < 0)
                        return r;
                if (fd < 0)
                        continue; /* opened later by the process that has it */
                r = restore_ctx_move_high(ctx, fd);
                if (r < 0)
                        return r;
                ctx->file_fds[i] = r;
        }
        for (size_t i = 0; i < ARRAY_SIZE(all_ops); i++)
                if (all_ops[i]->restore_finish) {
                        r = all_ops[i]->restore_finish(ctx);
                        if (r < 0)
                                return r;
                }
        return 0;
}

int files_restore_task_fds(struct restore_ctx *ctx, struct restore_task *t) {
        Fdtable *fdt = t->fdt;
        int r;

        for (size_t i = 0; i < fdt->n_fds; i++) {
                FdEntry *de = fdt->fds[i];
                size_t idx;
                if (!restore_ctx_file(ctx, de->file_id, &idx))
                        return log_error_errno(-EBADMSG, "pid %d: fd %d names unknown file %u", t->pe->pid, de->fd,
                                               de->file_id);
                if (de->fd >= ctx->fd_base)
                        return log_error_errno(-EBADMSG, "pid %d: fd %d collides with cryo's own fds", t->pe->pid,
                                               de->fd);
                int src = ctx->file_fds[idx];
                if (src < 0) {
                        const FileEntry *fe = ctx->files->files[idx];
                        ctx->in_child = true;
                        r = file_ops_for(fe->kind)->open(ctx, fe, &src);
                        if (r < 0)
                                return r;
                        src = restore_ctx_move_high(ctx, src);
                        if (src < 0)
                                return src;
                }
                if (dup3(src, de->fd, de->cloexec ? O_CLOEXEC : 0) < 0)
                        return log_error_errno(-errno, "pid %d: cannot install fd %d: %m", t->pe->pid, de->fd);
        }
        for (size_t i = 0; i < fdt->n_fds; i++) {
                FdEntry *de = fdt->fds[i];
                size_t idx;
                const FileEntry *fe = restore_ctx_file(ctx, de->file_id, &idx);
                const struct file_ops *ops = file_ops_for(fe->kind);
                if (ops && ops->post_fds) {
                        r = ops->post_fds(ctx, fe, de->fd);
                        if (r < 0)
                                return r;
                }
        }
        /* file locks, taken by the process itself so POSIX locks get the right owner */
        for (size_t i = 0; i < fdt->n_fds; i++) {
                FdEntry *de = fdt->fds[i];
                for (size_t j = 0; j < de->n_locks; j++) {
                        FileLockEntry *l = de->locks[j];
                        int rr;
                        if (l->kind == 2)
                                continue; /* POSIX: after cryo's fds are closed (files_restore_posix_locks) */
                        if (l->kind == 1)
                                rr = flock(de->fd, (l->write ? LOCK_EX : LOCK_SH) | LOCK_NB);
                        else {
                                struct flock fl = { .l_type = l->write ? F_WRLCK : F_RDLCK, .l_whence = SEEK_SET,
                                                    .l_start = l->start,
                                                    .l_len = l->end < 0 ? 0 : l->end - l->start + 1 };
                                rr = fcntl(de->fd, l->kind == 2 ? F_SETLK : F_OFD_SETLK, &fl);
                        }
                        if (rr < 0)
                                return log_error_errno(-errno, "pid %d: cannot take back the %s lock on fd %d: %m",
                                                       t->pe->pid, l->kind == 1 ? "flock" : l->kind == 2 ? "POSIX" : "OFD",
                                                       de->fd);
                }
        }
        /* close every low fd the task did not have */
        for (int fd = 0; fd < ctx->fd_base; fd++) {
                bool keep = false;
                for (size_t i = 0; i < fdt->n_fds && !keep; i++)
                        keep = fdt->fds[i]->fd == fd;
                if (!keep)
                        close(fd);
        }
        return 0;
}

int files_dump_finish(struct dump_ctx *ctx) {
        int r = pipe_dump_finish(ctx);
        if (r >= 0)
                r = unix_dump_finish(ctx);
        if (r >= 0)
                r = inet_dump_finish(ctx);
        if (r >= 0)
                r = tty_dump_finish(ctx);
        close_inflight(ctx);
        return r;
}

/* POSIX locks belong to the process and die with the first close() of any fd
 * on the file, so they are taken last, after cryo's own fds are gone. */
int files_restore_posix_locks(struct restore_ctx *ctx, struct restore_task *t) {
        struct infect_task *inf = &t->inf;
        for (size_t i = 0; i < t->fdt->n_fds; i++) {
                FdEntry *de = t->fdt->fds[i];
                for (size_t j = 0; j < de->n_locks; j++) {
                        FileLockEntry *l = de->locks[j];
                        if (l->kind != 2)
                                continue;
                        struct flock fl = { .l_type = l->write ? F_WRLCK : F_RDLCK, .l_whence = SEEK_SET,
                                            .l_start = l->start, .l_len = l->end < 0 ? 0 : l->end - l->start + 1 };
                        int r = infect_write_mem(t->pe->pid, inf->scratch, &fl, sizeof(fl));
                        if (r < 0)
                                return log_error_errno(r, "pid %d: cannot write scratch memory: %m", t->pe->pid);
                        int64_t x = infect_call(inf, __NR_fcntl, de->fd, F_SETLK, inf->scratch, 0, 0, 0);
                        if (x < 0)
                                return log_error_errno((int)x, "pid %d: cannot take back the POSIX lock on fd %d: %m",
                                                       t->pe->pid, de->fd);
                }
        }
        return 0;
}
