/* AF_UNIX sockets: only both ends of a socketpair (unbound, connected to
 * each other) held inside the dumped tree, of type STREAM, DGRAM or
 * SEQPACKET. Everything else is refused: bound or listening sockets,
 * unconnected ones, ends whose peer was closed or is held outside the tree
 * (checked once the whole tree is seen, in unix_dump_finish()).
 *
 * Saved per end: type, inode and peer inode (sock_diag, NETLINK_SOCK_DIAG
 * unix diag by inode), the bytes waiting in its receive queue, its
 * shutdown state (UNIX_DIAG_SHUTDOWN), SO_RCVBUF, SO_SNDBUF and SO_PASSCRED.
 * The queue is read without consuming it: SO_PEEK_OFF is set to 0 and
 * recvmsg(MSG_PEEK) repeated, each call moving the peek offset on, then the
 * offset is put back to "off". One message is saved per datagram/seqpacket
 * record, so boundaries survive. Messages carrying file descriptors
 * (SCM_RIGHTS), pidfds or security labels are refused; credentials
 * (SO_PASSCRED) are accepted but not kept: restored messages carry cryo's.
 * Out-of-band data and a socket using SO_PEEK_OFF itself are refused.
 *
 * Restore: the first end's open() makes the socketpair, sets SO_PASSCRED
 * on both ends, fills both queues (the messages of one end are sent from the
 * other, one send per message, in order, with the sender's buffer raised
 * for the duration), sets the buffer sizes, shuts the ends down as they
 * were, and parks the other end in the restore context (key: kind and peer
 * inode) for its own open(). Not restored: the peer credentials
 * (SO_PEERCRED names cryo), a seqpacket empty record queued after the
 * receive side was shut down (indistinguishable from end-of-file), an empty
 * datagram the application had already peeked at. */
#define LOG_PREFIX "unix: "
#include <fcntl.h>
#include <limits.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "basic/kcompat.h"
#include "basic/log.h"
#include "basic/sockdiag.h"
#include "basic/util.h"
#include "core/res/files.h"

/* no queue of a socket holds more than this (in bytes) */
#define QUEUE_MAX (1ULL << 30)

static uint64_t unix_key(uint64_t ino) {
        return ((uint64_t)FILE_KIND__FK_UNIX << 56) | (ino & ((1ULL << 56) - 1));
}

static const char *type_name(int type) {
        switch (type) {
        case SOCK_STREAM:
                return "stream";
        case SOCK_DGRAM:
                return "datagram";
        case SOCK_SEQPACKET:
                return "seqpacket";
        default:
                return "unknown";
        }
}

static int getsockopt_int(int fd, int opt, int *ret) {
        socklen_t l = sizeof(*ret);
        if (getsockopt(fd, SOL_SOCKET, opt, ret, &l) < 0)
                return -errno;
        return 0;
}

static int setsockopt_int(int fd, int opt, int v) {
        if (setsockopt(fd, SOL_SOCKET, opt, &v, sizeof(v)) < 0)
                return -errno;
        return 0;
}

static bool unix_match(const struct fd_dump_info *fi) {
        int domain;
        if (!S_ISSOCK(fi->st.st_mode) || fi->lfd < 0)
                return false;
        return getsockopt_int(fi->lfd, SO_DOMAIN, &domain) == 0 && domain == AF_UNIX;
}

static void add_msg(UnixEntry *e, const void *data, size_t len) {
        UnixMsgEntry *m = xzalloc(sizeof(*m));
        unix_msg_entry__init(m);
        m->data.len = len;
        if (len) {
                m->data.data = xzalloc(len);
                memcpy(m->data.data, data, len);
        }
        e->queue = xrealloc_array(e->queue, e->n_queue + 1, sizeof(*e->queue));
        e->queue[e->n_queue++] = m;
}

/* Checks the control messages of one peeked message; closes any fds that
 * came with it. Returns a description of what cannot be saved, or NULL. */
static const char *check_cmsgs(struct msghdr *msg) {
        const char *bad = NULL;

        for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
                if (c->cmsg_level != SOL_SOCKET) {
                        bad = bad ?: "control messages";
                        continue;
                }
                switch (c->cmsg_type) {
                case SCM_RIGHTS:
                case SCM_PIDFD: {
                        size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                        for (size_t i = 0; i < n; i++) {
                                int fd;
                                memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
                                safe_close(fd);
                        }
                        bad = c->cmsg_type == SCM_RIGHTS ? "file descriptors in flight (SCM_RIGHTS)"
                                                         : (bad ?: "pidfds in flight (SCM_PIDFD)");
                        break;
                }
                case SCM_CREDENTIALS:
                        break;
                case SCM_SECURITY:
                        bad = bad ?: "security labels in flight (SCM_SECURITY)";
                        break;
                default:
                        bad = bad ?: "control messages";
                }
        }
        if (!bad && (msg->msg_flags & MSG_CTRUNC))
                bad = "file descriptors in flight (SCM_RIGHTS)";
        return bad;
}

/* Reads the receive queue of cryo's copy of the socket without consuming it. */
static int peek_queue(const struct fd_dump_info *fi, const struct unix_diag_info *di, UnixEntry *e) {
        bool dgram = di->type != SOCK_STREAM;
        size_t cap = 256 * 1024;
        _cleanup_free_ char *buf = xzalloc(cap);
        /* room for the most fds one message may carry (SCM_MAX_FD 253) */
        char cbuf[CMSG_SPACE(sizeof(int) * 253) + CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(sizeof(int)) + 256]
                __attribute__((aligned(8)));
        uint64_t off = 0;
        int saved, r;

        r = getsockopt_int(fi->lfd, SO_PEEK_OFF, &saved);
        if (r < 0)
                return log_error_errno(r, "pid %d: fd %d: cannot read SO_PEEK_OFF of unix socket: %m", fi->pid,
                                       fi->fd);
        if (saved != -1)
                return log_error_errno(-ENOTSUP, "pid %d: fd %d is a unix socket using SO_PEEK_OFF, not supported yet",
                                       fi->pid, fi->fd);
        r = setsockopt_int(fi->lfd, SO_PEEK_OFF, 0);
        if (r < 0)
                return log_error_errno(r, "pid %d: fd %d: cannot set SO_PEEK_OFF on unix socket: %m", fi->pid,
                                       fi->fd);

        for (;;) {
                struct iovec iov = { .iov_base = buf, .iov_len = cap };
                struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
                                      .msg_controllen = sizeof(cbuf) };
                const char *bad;
                ssize_t n;

                n = recvmsg(fi->lfd, &msg, MSG_PEEK | MSG_DONTWAIT | MSG_CMSG_CLOEXEC | (dgram ? MSG_TRUNC : 0));
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                break;
                        r = log_error_errno(-errno, "pid %d: fd %d: cannot peek into unix socket queue: %m", fi->pid,
                                            fi->fd);
                        goto out;
                }
                bad = check_cmsgs(&msg);
                if (bad) {
                        r = log_error_errno(-ENOTSUP, "pid %d: fd %d is a unix socket that has %s, not supported yet",
                                            fi->pid, fi->fd, bad);
                        goto out;
                }
                if (dgram && (size_t)n > cap) {
                        /* a bigger record than the buffer: peek it again whole */
                        cap = ALIGN_UP((size_t)n, 4096);
                        free(buf);
                        buf = xzalloc(cap);
                        r = setsockopt_int(fi->lfd, SO_PEEK_OFF, (int)off);
                        if (r < 0)
                                goto out;
                        continue;
                }
                if (n == 0 && (di->type == SOCK_STREAM || (di->type == SOCK_SEQPACKET &&
                                                           (di->shutdown & CRYO_RCV_SHUTDOWN))))
                        break; /* end of file */
                add_msg(e, buf, n);
                off += n;
                if (off > QUEUE_MAX || off > INT_MAX || e->n_queue > 1000000) {
                        r = log_error_errno(-E2BIG, "pid %d: fd %d: unix socket queue too large", fi->pid, fi->fd);
                        goto out;
                }
        }
        r = 0;
out:
        if (setsockopt_int(fi->lfd, SO_PEEK_OFF, saved) < 0 && r == 0)
                r = log_error_errno(-errno, "pid %d: fd %d: cannot reset SO_PEEK_OFF of unix socket: %m", fi->pid,
                                    fi->fd);
        if (r == 0)
                log_debug("pid %d: fd %d: %zu bytes in %zu messages queued", fi->pid, fi->fd, (size_t)off,
                          e->n_queue);
        return r;
}

static int unix_dump(struct dump_ctx *ctx, const struct fd_dump_info *fi, FileEntry *fe) {
        struct unix_diag_info di;
        int type, v, r;
        const char *s;

        UnixEntry *e = xzalloc(sizeof(*e));
        unix_entry__init(e);
        fe->unix_sk = e;

        if (fi->fd < 0)
                return log_error_errno(-ENOTSUP, "pid %d: unix socket without an fd, not supported", fi->pid);
        r = getsockopt_int(fi->lfd, SO_TYPE, &type);
        if (r < 0)
                return log_error_errno(r, "pid %d: fd %d: cannot read unix socket type: %m", fi->pid, fi->fd);
        if (type != SOCK_STREAM && type != SOCK_DGRAM && type != SOCK_SEQPACKET)
                return log_error_errno(-ENOTSUP, "pid %d: fd %d is a unix socket of type %d, not supported yet",
                                       fi->pid, fi->fd, type);
        r = sockdiag_unix_by_ino(fi->st.st_ino, &di);
        if (r < 0)
                return log_error_errno(r,
                                       "pid %d: fd %d: cannot look up unix socket %llu with sock_diag "
                                       "(CONFIG_UNIX_DIAG; another network namespace?): %m",
                                       fi->pid, fi->fd, (unsigned long long)fi->st.st_ino);

        if (di.has_name && di.name_len > 0) {
                bool abstract = di.name[0] == 0;
                return log_error_errno(-ENOTSUP, "pid %d: fd %d is a bound unix socket (%s'%s'), not supported yet",
                                       fi->pid, fi->fd, abstract ? "abstract " : "", abstract ? di.name + 1 : di.name);
        }
        if (di.state == TCP_LISTEN)
                return log_error_errno(-ENOTSUP, "pid %d: fd %d is a listening unix socket, not supported yet",
                                       fi->pid, fi->fd);
        if (!di.has_peer)
                return log_error_errno(-ENOTSUP, "pid %d: fd %d is an unconnected unix %s socket, not supported yet",
                                       fi->pid, fi->fd, type_name(type));
        if (di.peer_ino == 0)
                return log_error_errno(-ENOTSUP,
                                       "pid %d: fd %d is a unix %s socket whose peer was closed, not supported yet",
                                       fi->pid, fi->fd, type_name(type));

        s = proc_fdinfo_get(&fi->fdinfo, "scm_fds:");
        if (s && strtoul(s, NULL, 10) > 0)
                return log_error_errno(-ENOTSUP,
                                       "pid %d: fd %d is a unix socket that has file descriptors in flight "
                                       "(SCM_RIGHTS), not supported yet",
                                       fi->pid, fi->fd);
        if (getsockopt_int(fi->lfd, SO_PASSPIDFD, &v) == 0 && v)
                return log_error_errno(-ENOTSUP, "pid %d: fd %d is a unix socket with SO_PASSPIDFD, not supported yet",
                                       fi->pid, fi->fd);
        if (type == SOCK_STREAM) {
                char c;
                if (recv(fi->lfd, &c, 1, MSG_OOB | MSG_PEEK | MSG_DONTWAIT) >= 0)
                        return log_error_errno(-ENOTSUP,
                                               "pid %d: fd %d is a unix socket with out-of-band data queued, "
                                               "not supported yet",
                                               fi->pid, fi->fd);
        }

        e->type = type;
        e->ino = fi->st.st_ino;
        e->peer_ino = di.peer_ino;
        e->shutdown = di.has_shutdown ? di.shutdown : 0;
        if (getsockopt_int(fi->lfd, SO_RCVBUF, &v) == 0)
                e->rcvbuf = v;
        if (getsockopt_int(fi->lfd, SO_SNDBUF, &v) == 0)
                e->sndbuf = v;
        if (getsockopt_int(fi->lfd, SO_PASSCRED, &v) == 0)
                e->passcred = !!v;

        r = peek_queue(fi, &di, e);
        if (r < 0)
                return r;
        log_debug("pid %d: fd %d: unix %s socket %llu, peer %llu, shutdown %u", fi->pid, fi->fd, type_name(type),
                  (unsigned long long)e->ino, (unsigned long long)e->peer_ino, e->shutdown);
        return 0;
}

/* Names some holder of file id for messages. */
static void holder(const struct dump_ctx *ctx, uint32_t id, pid_t *ret_pid, int *ret_fd) {
        *ret_pid = 0;
        *ret_fd = -1;
        for (size_t i = 0; i < ctx->nkeys; i++)
                if (ctx->keys[i].id == id) {
                        *ret_pid = ctx->keys[i].pid;
                        *ret_fd = ctx->keys[i].fd;
                        return;
                }
}

int unix_dump_finish(struct dump_ctx *ctx) {
        for (size_t i = 0; i < ctx->nfiles; i++) {
                const FileEntry *fe = ctx->files[i], *peer = NULL;
                pid_t pid;
                int fd;

                if (fe->kind != FILE_KIND__FK_UNIX || !fe->unix_sk)
                        continue;
                for (size_t j = 0; j < ctx->nfiles && !peer; j++)
                        if (ctx->files[j]->kind == FILE_KIND__FK_UNIX && ctx->files[j]->unix_sk &&
                            ctx->files[j]->unix_sk->ino == fe->unix_sk->peer_ino)
                                peer = ctx->files[j];
                holder(ctx, fe->id, &pid, &fd);
                if (!peer)
                        return log_error_errno(-ENOTSUP,
                                               "pid %d: fd %d is a unix socket whose peer (socket:[%llu]) is not "
                                               "held by the dumped tree, not supported yet",
                                               pid, fd, (unsigned long long)fe->unix_sk->peer_ino);
                if (peer->unix_sk->peer_ino != fe->unix_sk->ino || peer->unix_sk->type != fe->unix_sk->type)
                        return log_error_errno(-ENOTSUP,
                                               "pid %d: fd %d is a unix socket connected to socket:[%llu] that is "
                                               "not its socketpair peer, not supported yet",
                                               pid, fd, (unsigned long long)fe->unix_sk->peer_ino);
        }
        return 0;
}

static const FileEntry *find_peer(const struct restore_ctx *ctx, const FileEntry *fe) {
        for (size_t i = 0; i < ctx->files->n_files; i++) {
                const FileEntry *o = ctx->files->files[i];
                if (o->kind == FILE_KIND__FK_UNIX && o->unix_sk && o->unix_sk->ino == fe->unix_sk->peer_ino)
                        return o;
        }
        return NULL;
}

/* Puts fe's queued messages into its receive queue by sending them from
 * the other end, in order. */
static int fill_queue(const FileEntry *fe, int from) {
        const UnixEntry *e = fe->unix_sk;

        for (size_t i = 0; i < e->n_queue; i++) {
                const uint8_t *p = e->queue[i]->data.data;
                size_t left = e->queue[i]->data.len;
                do {
                        ssize_t n = send(from, p, left, MSG_DONTWAIT | MSG_NOSIGNAL);
                        if (n < 0) {
                                if (errno == EINTR)
                                        continue;
                                return log_error_errno(-errno,
                                                       "file %u: cannot queue message %zu (%zu bytes) on unix socket: "
                                                       "%m",
                                                       fe->id, i, left);
                        }
                        if (e->type != SOCK_STREAM && (size_t)n != left)
                                return log_error_errno(-EIO, "file %u: message %zu was cut on queueing", fe->id, i);
                        p += n;
                        left -= n;
                } while (left > 0);
        }
        return 0;
}

static int set_buf(const FileEntry *fe, int fd, int opt, int force_opt, int want) {
        int cur, r;
        r = getsockopt_int(fd, opt, &cur);
        if (r < 0 || cur == want)
                return r;
        /* the kernel doubles what it is given */
        r = setsockopt_int(fd, force_opt, want / 2);
        if (r == -EPERM)
                r = setsockopt_int(fd, opt, want / 2);
        if (r < 0)
                return log_error_errno(r, "file %u: cannot set unix socket buffer size to %d: %m", fe->id, want);
        return 0;
}

static int do_shutdown(const FileEntry *fe, int fd) {
        unsigned m = fe->unix_sk->shutdown & (CRYO_RCV_SHUTDOWN | CRYO_SEND_SHUTDOWN);
        int how = m == (CRYO_RCV_SHUTDOWN | CRYO_SEND_SHUTDOWN) ? SHUT_RDWR : m == CRYO_RCV_SHUTDOWN ? SHUT_RD : SHUT_WR;
        if (m && shutdown(fd, how) < 0)
                return log_error_errno(-errno, "file %u: cannot shut unix socket down (%u): %m", fe->id, m);
        return 0;
}

static int unix_open(struct restore_ctx *ctx, const FileEntry *fe, int *ret_fd) {
        _cleanup_close_ int a = -EBADF, b = -EBADF;
        const UnixEntry *e = fe->unix_sk;
        const FileEntry *pfe;
        int sv[2], r;

        if (!e)
                return log_error_errno(-EBADMSG, "file %u: unix socket entry missing", fe->id);

        /* the second end: its peer's open() made it */
        r = restore_ctx_take_fd(ctx, unix_key(e->ino));
        if (r >= 0) {
                a = r;
                r = files_restore_flags_pos(fe, a);
                if (r < 0)
                        return r;
                *ret_fd = TAKE_FD(a);
                return 0;
        }

        pfe = find_peer(ctx, fe);
        if (!pfe || pfe->unix_sk->type != e->type)
                return log_error_errno(-EBADMSG, "file %u: the peer of unix socket %llu is not in the images", fe->id,
                                       (unsigned long long)e->ino);
        if (socketpair(AF_UNIX, e->type | SOCK_CLOEXEC, 0, sv) < 0)
                return log_error_errno(-errno, "file %u: cannot create a unix %s socketpair: %m", fe->id,
                                       type_name(e->type));
        a = sv[0];
        b = sv[1];

        /* credentials are attached to messages sent while it is on */
        if ((e->passcred && (r = setsockopt_int(a, SO_PASSCRED, 1)) < 0) ||
            (pfe->unix_sk->passcred && (r = setsockopt_int(b, SO_PASSCRED, 1)) < 0))
                return log_error_errno(r, "file %u: cannot set SO_PASSCRED: %m", fe->id);

        if (e->n_queue || pfe->unix_sk->n_queue) {
                /* the queued bytes are charged to the sender's buffer */
                (void)setsockopt_int(a, SO_SNDBUFFORCE, INT_MAX / 2);
                (void)setsockopt_int(b, SO_SNDBUFFORCE, INT_MAX / 2);
                r = fill_queue(fe, b);
                if (r < 0)
                        return r;
                r = fill_queue(pfe, a);
                if (r < 0)
                        return r;
        }
        if (e->sndbuf && (r = set_buf(fe, a, SO_SNDBUF, SO_SNDBUFFORCE, e->sndbuf)) < 0)
                return r;
        if (pfe->unix_sk->sndbuf && (r = set_buf(pfe, b, SO_SNDBUF, SO_SNDBUFFORCE, pfe->unix_sk->sndbuf)) < 0)
                return r;
        if (e->rcvbuf && (r = set_buf(fe, a, SO_RCVBUF, SO_RCVBUFFORCE, e->rcvbuf)) < 0)
                return r;
        if (pfe->unix_sk->rcvbuf && (r = set_buf(pfe, b, SO_RCVBUF, SO_RCVBUFFORCE, pfe->unix_sk->rcvbuf)) < 0)
                return r;

        r = do_shutdown(fe, a);
        if (r < 0)
                return r;
        r = do_shutdown(pfe, b);
        if (r < 0)
                return r;

        r = files_restore_flags_pos(fe, a);
        if (r < 0)
                return r;
        r = restore_ctx_move_high(ctx, b);
        if (r < 0)
                return r;
        b = -EBADF; /* moved (closed by the move) */
        r = restore_ctx_stash_fd(ctx, unix_key(e->peer_ino), r);
        if (r < 0)
                return r;
        *ret_fd = TAKE_FD(a);
        return 0;
}

const struct file_ops unix_ops = {
        .kind = FILE_KIND__FK_UNIX,
        .name = "unix",
        .match = unix_match,
        .dump = unix_dump,
        .open = unix_open,
};
