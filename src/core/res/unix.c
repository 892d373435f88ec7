/* AF_UNIX sockets of type STREAM, DGRAM and SEQPACKET: socketpairs, bound
 * sockets (filesystem and abstract names), listening sockets with the
 * connections waiting in their accept queue, connected sockets, datagram
 * sockets connected or sending to a bound socket, and sockets in flight
 * (passed with SCM_RIGHTS and held by no process).
 *
 * Saved per socket (sock_diag, NETLINK_SOCK_DIAG unix diag by inode, with
 * NAME, VFS, PEER, ICONS, RQLEN, SHUTDOWN): type, state, inode, peer inode,
 * address, listen backlog and the clients in the accept queue (ICONS), the
 * shutdown state, SO_RCVBUF, SO_SNDBUF, SO_PASSCRED. The socket file of a
 * filesystem name is found with SIOCUNIXFILE (an O_PATH fd on the very
 * inode the socket is bound to): its mode, owner, whether it has been
 * unlinked, and for a relative name the directory it is relative to.
 *
 * The receive queue is read without consuming it: SO_PEEK_OFF is set to 0
 * and recvmsg(MSG_PEEK) repeated, each call moving the peek offset on, then
 * the offset is put back to "off". One message is saved per datagram or
 * seqpacket record, so boundaries survive; a stream is saved in the chunks
 * the kernel returns (a chunk ends where the next one carries other
 * credentials or files). Each message keeps the sender's address
 * (datagrams), the credentials if the receiver has SO_PASSCRED, and the
 * files passed with it: SCM_RIGHTS hands cryo a copy of each, which is
 * described as an ordinary FileEntry (files_dump_inflight(): any kind cryo
 * can dump but an epoll, sockets in flight included, whose own queues are
 * read the same way).
 *
 * Connections: a connected stream/seqpacket socket is one end of a pair
 * whose other end must be in the tree (socketpair, or connect()ed and
 * accept()ed). An accepted end carries its listener's name; the end that
 * has the name of a listener (or the only named end, or else the newer
 * inode) is taken to be the accepted one. A client whose connection still
 * waits in a listener's accept queue (the listener's ICONS list it; its own
 * peer, the embryo socket, has no inode) is restored by connect()ing it to
 * the restored listener, in queue order. Data it already sent into the
 * embryo cannot be read (the embryo has no file): such a dump is refused,
 * as is a waiting client whose listener is outside the tree. A stream
 * socket whose peer was closed keeps its unread data and reads EOF after
 * it. A datagram socket may be connected to any named socket of the tree;
 * to one outside the tree only with --ext-unix-sk, and then, as CRIU does,
 * restore connect()s it to the same name again (whoever is bound there
 * then: typically /dev/log); stream sockets with a peer outside the tree
 * are refused even with --ext-unix-sk (half a connection cannot be
 * restored), as are name-less external datagram peers.
 *
 * Restore (all sockets together, in restore_prepare, before any open()):
 *   1. connected pairs: socketpair(), or, when an end has an inherited
 *      name, a temporary listener bound to that name, connect() and
 *      accept(), so getsockname()/getpeername() read as before; a socket
 *      whose peer was closed gets a temporary peer that is closed in step 5;
 *   2. every socket with a name of its own is bound to it: a stale socket
 *      file at the path (one no socket is bound to, tested with a datagram
 *      connect(): ECONNREFUSED) is unlinked first; anything else there is
 *      an error. The file gets the saved mode and owner;
 *   3. listeners listen() with their backlog and their waiting clients
 *      connect() to them in order;
 *   then (restore_finish, after every file is open):
 *   4. queues are refilled by sending each message from the socket's peer,
 *      or for datagrams from the socket bound to the sender's name (a
 *      temporary socket bound to that name if it is free, else an unnamed
 *      one: the address is then lost, with a warning), with the files
 *      in flight (cryo's own fds for their FileEntries) and the
 *      credentials: uid and gid as saved, the pid only if a process has
 *      it at restore time -- the tree does not exist yet, so a pid of the
 *      tree reads as cryo's;
 *   5. datagram sockets connect() to their peer; temporary peers are
 *      closed (the socket reads EOF after its data, or gets ECONNREFUSED);
 *      shutdown states, buffer sizes and SO_PASSCRED are set last (so no
 *      send above autobinds), and socket files that had been unlinked are
 *      unlinked again.
 * Not restored: the peer credentials (SO_PEERCRED names cryo), a seqpacket
 * empty record queued after the receive side was shut down
 * (indistinguishable from end-of-file), an empty datagram the application
 * had already peeked at, the address of datagrams queued on one end of a
 * connected datagram pair by a third socket, sockets outside the tree that
 * are connected to a datagram socket of the tree (they keep pointing to
 * the old one). Refused: out-of-band data, SO_PEEK_OFF in use,
 * SO_PASSPIDFD, SCM_SECURITY/SCM_PIDFD in flight. */
#define LOG_PREFIX "unix: "
#include <fcntl.h>
#include <limits.h>
#include <linux/sockios.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "basic/kcompat.h"
#include "basic/log.h"
#include "basic/sockdiag.h"
#include "basic/util.h"
#include "core/res/files.h"

#ifndef SIOCUNIXFILE
#define SIOCUNIXFILE (SIOCPROTOPRIVATE + 0)
#endif

/* no queue of a socket holds more than this (in bytes) */
#define QUEUE_MAX (1ULL << 30)
#define SHUTDOWN_MASK (CRYO_RCV_SHUTDOWN | CRYO_SEND_SHUTDOWN)

/* stash keys: the socket itself, and the temporary peer of one whose peer
 * was closed */
static uint64_t unix_key(uint64_t ino) {
        return ((uint64_t)FILE_KIND__FK_UNIX << 56) | (ino & ((1ULL << 48) - 1));
}
static uint64_t unix_closed_peer_key(uint64_t ino) {
        return unix_key(ino) | (1ULL << 48);
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

static bool is_abstract(const ProtobufCBinaryData *name) {
        return name->len > 0 && name->data[0] == 0;
}

static bool same_name(const ProtobufCBinaryData *a, const ProtobufCBinaryData *b) {
        return a->len > 0 && a->len == b->len && memcmp(a->data, b->data, a->len) == 0;
}

/* Printable form of an address for messages (static buffer, 2 slots). */
static const char *name_str(const ProtobufCBinaryData *name) {
        static char buf[2][sizeof(((struct sockaddr_un *)0)->sun_path) + 16];
        static int slot;
        char *b = buf[slot++ & 1];
        size_t n = 0;
        if (name->len == 0)
                return "(unnamed)";
        if (is_abstract(name))
                b[n++] = '@';
        for (size_t i = is_abstract(name) ? 1 : 0; i < name->len && n < sizeof(buf[0]) - 5; i++) {
                unsigned char c = name->data[i];
                if (c >= 0x20 && c < 0x7f)
                        b[n++] = c;
                else
                        n += snprintf(b + n, 5, "\\x%02x", c);
        }
        b[n] = 0;
        return b;
}


/* ------------------------------------------------------------------ dump */

static bool unix_match(const struct fd_dump_info *fi) {
        int domain;
        if (!S_ISSOCK(fi->st.st_mode) || fi->lfd < 0)
                return false;
        return getsockopt_int(fi->lfd, SO_DOMAIN, &domain) == 0 && domain == AF_UNIX;
}

static UnixMsgEntry *add_msg(UnixEntry *e, const void *data, size_t len) {
        UnixMsgEntry *m = xzalloc(sizeof(*m));
        unix_msg_entry__init(m);
        pb_bytes_set(&m->data, data, len);
        e->queue = xrealloc_array(e->queue, e->n_queue + 1, sizeof(*e->queue));
        e->queue[e->n_queue++] = m;
        return m;
}

static void close_cmsg_fds(struct msghdr *msg) {
        for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c))
                if (c->cmsg_level == SOL_SOCKET && (c->cmsg_type == SCM_RIGHTS || c->cmsg_type == SCM_PIDFD)) {
                        size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                        for (size_t i = 0; i < n; i++) {
                                int fd;
                                memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
                                safe_close(fd);
                        }
                }
}

/* Saves the control messages of one peeked message into m. The fds
 * SCM_RIGHTS gave cryo become FileEntries (or are closed on failure). */
static int save_cmsgs(struct dump_ctx *ctx, const struct fd_dump_info *fi, struct msghdr *msg, UnixMsgEntry *m) {
        const char *bad = NULL;
        int r = 0;

        for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
                if (c->cmsg_level != SOL_SOCKET) {
                        bad = bad ?: "control messages";
                        continue;
                }
                switch (c->cmsg_type) {
                case SCM_RIGHTS:
                        break;
                case SCM_CREDENTIALS:
                        if (c->cmsg_len >= CMSG_LEN(sizeof(struct ucred))) {
                                struct ucred u;
                                memcpy(&u, CMSG_DATA(c), sizeof(u));
                                m->has_creds = true;
                                m->pid = u.pid;
                                m->uid = u.uid;
                                m->gid = u.gid;
                        }
                        break;
                case SCM_PIDFD:
                        bad = bad ?: "pidfds in flight (SCM_PIDFD)";
                        break;
                case SCM_SECURITY:
                        bad = bad ?: "security labels in flight (SCM_SECURITY)";
                        break;
                default:
                        bad = bad ?: "control messages";
                }
        }
        if (!bad && (msg->msg_flags & MSG_CTRUNC))
                bad = "more file descriptors in flight than fit one message (SCM_RIGHTS)";
        if (bad) {
                close_cmsg_fds(msg);
                return log_error_errno(-ENOTSUP, "pid %d: fd %d is a unix socket that has %s, not supported yet",
                                       fi->pid, fi->fd, bad);
        }
        for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
                if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
                        continue;
                size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                for (size_t i = 0; i < n; i++) {
                        int fd;
                        uint32_t id;
                        memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
                        if (r < 0) {
                                safe_close(fd);
                                continue;
                        }
                        r = files_dump_inflight(ctx, fi->pid, fi->fd, fd, &id); /* takes fd */
                        if (r < 0)
                                continue;
                        m->fds = xrealloc_array(m->fds, m->n_fds + 1, sizeof(*m->fds));
                        m->fds[m->n_fds++] = id;
                }
        }
        return r;
}

/* Reads the receive queue of cryo's copy of the socket without consuming it. */
static int peek_queue(struct dump_ctx *ctx, const struct fd_dump_info *fi, const struct unix_diag_info *di,
                      UnixEntry *e) {
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
                struct sockaddr_un from = {};
                struct iovec iov = { .iov_base = buf, .iov_len = cap };
                struct msghdr msg = { .msg_name = &from, .msg_namelen = sizeof(from), .msg_iov = &iov,
                                      .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
                bool has_fds = false;
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
                if (dgram && (size_t)n > cap) {
                        /* a bigger record than the buffer: peek it again whole */
                        close_cmsg_fds(&msg);
                        cap = ALIGN_UP((size_t)n, 4096);
                        free(buf);
                        buf = xzalloc(cap);
                        r = setsockopt_int(fi->lfd, SO_PEEK_OFF, (int)off);
                        if (r < 0)
                                goto out;
                        continue;
                }
                for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
                        has_fds |= c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS;
                if (n == 0 && !has_fds &&
                    (di->type == SOCK_STREAM || (di->type == SOCK_SEQPACKET && (di->shutdown & CRYO_RCV_SHUTDOWN))))
                        break; /* end of file */
                UnixMsgEntry *m = add_msg(e, buf, n);
                if (dgram && msg.msg_namelen > offsetof(struct sockaddr_un, sun_path))
                        pb_bytes_set(&m->sender, from.sun_path,
                                   MIN(msg.msg_namelen - offsetof(struct sockaddr_un, sun_path), sizeof(from.sun_path)));
                /* a pathname address ends at its NUL */
                if (m->sender.len && m->sender.data[0])
                        m->sender.len = strnlen((char *)m->sender.data, m->sender.len);
                r = save_cmsgs(ctx, fi, &msg, m);
                if (r < 0)
                        goto out;
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

/* The socket file behind a filesystem name: SIOCUNIXFILE opens the inode
 * the socket is bound to (an accepted socket shares its listener's). */
static int resolve_fs_name(const struct fd_dump_info *fi, UnixEntry *e) {
        _cleanup_close_ int pfd = -EBADF;
        char link[PATH_MAX + 1], path[64];
        const char *name = (const char *)e->name.data;
        size_t nlen = e->name.len;
        struct stat st;
        ssize_t n;

        pfd = ioctl(fi->lfd, SIOCUNIXFILE);
        if (pfd < 0)
                return log_error_errno(-errno, "pid %d: fd %d: cannot open the file of unix socket '%s' (SIOCUNIXFILE): %m",
                                       fi->pid, fi->fd, name_str(&e->name));
        if (fstat(pfd, &st) < 0)
                return log_error_errno(-errno, "pid %d: fd %d: cannot stat the file of unix socket '%s': %m", fi->pid,
                                       fi->fd, name_str(&e->name));
        e->file_mode = st.st_mode;
        e->file_uid = st.st_uid;
        e->file_gid = st.st_gid;
        snprintf(path, sizeof(path), "/proc/self/fd/%d", pfd);
        n = readlink(path, link, sizeof(link) - 1);
        if (n < 0)
                return log_error_errno(-errno, "pid %d: fd %d: cannot resolve the file of unix socket '%s': %m",
                                       fi->pid, fi->fd, name_str(&e->name));
        link[n] = 0;
        if (n > 10 && strcmp(link + n - 10, " (deleted)") == 0) {
                e->file_deleted = true;
                link[n -= 10] = 0;
        }
        if (name[0] != '/') {
                /* relative: the directory is what precedes the name in the file's path */
                if ((size_t)n <= nlen || link[n - nlen - 1] != '/' || memcmp(link + n - nlen, name, nlen) != 0)
                        return log_error_errno(-ENOTSUP,
                                               "pid %d: fd %d is a unix socket bound to the relative name '%s' whose "
                                               "file is now '%s', not supported",
                                               fi->pid, fi->fd, name_str(&e->name), link);
                link[n - nlen - 1] = 0;
                e->name_dir = xstrdup(link[0] ? link : "/");
        } else if (!e->file_deleted && ((size_t)n != nlen || memcmp(link, name, nlen) != 0)) {
                /* renamed, or the name was unlinked and is now something else */
                log_debug("pid %d: fd %d: the file of unix socket '%s' is now '%s'", fi->pid, fi->fd,
                          name_str(&e->name), link);
                struct stat cur;
                if (lstat(name, &cur) < 0 || cur.st_ino != st.st_ino || cur.st_dev != st.st_dev)
                        e->file_deleted = true;
        }
        return 0;
}

static int unix_dump(struct dump_ctx *ctx, const struct fd_dump_info *fi, FileEntry *fe) {
        _cleanup_(unix_diag_info_done) struct unix_diag_info di = {};
        int type, v, r;

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
        if (di.state != TCP_LISTEN && di.state != TCP_ESTABLISHED && di.state != TCP_CLOSE)
                return log_error_errno(-ENOTSUP, "pid %d: fd %d is a unix %s socket in state %u, not supported",
                                       fi->pid, fi->fd, type_name(type), di.state);

        e->type = type;
        e->state = di.state;
        e->ino = fi->st.st_ino;
        e->shutdown = di.has_shutdown ? di.shutdown : 0;
        if (di.has_name && di.name_len > 0) {
                /* a pathname is kept without the NUL the kernel may count */
                pb_bytes_set(&e->name, di.name, di.name[0] ? strnlen(di.name, di.name_len) : di.name_len);
                if (!is_abstract(&e->name)) {
                        r = resolve_fs_name(fi, e);
                        if (r < 0)
                                return r;
                }
        }
        if (getsockopt_int(fi->lfd, SO_RCVBUF, &v) == 0)
                e->rcvbuf = v;
        if (getsockopt_int(fi->lfd, SO_SNDBUF, &v) == 0)
                e->sndbuf = v;
        if (getsockopt_int(fi->lfd, SO_PASSCRED, &v) == 0)
                e->passcred = !!v;
        if (getsockopt_int(fi->lfd, SO_PASSPIDFD, &v) == 0 && v)
                return log_error_errno(-ENOTSUP, "pid %d: fd %d is a unix socket with SO_PASSPIDFD, not supported yet",
                                       fi->pid, fi->fd);

        if (di.state == TCP_LISTEN) {
                e->backlog = di.has_rqlen ? di.wqueue : SOMAXCONN;
                for (size_t i = 0; i < di.nicons; i++) {
                        if (di.icons[i] == 0)
                                return log_error_errno(-ENOTSUP,
                                                       "pid %d: fd %d is a listening unix socket with a connection "
                                                       "waiting in its accept queue whose client was closed, not "
                                                       "supported",
                                                       fi->pid, fi->fd);
                        e->pending = xrealloc_array(e->pending, e->n_pending + 1, sizeof(*e->pending));
                        e->pending[e->n_pending++] = di.icons[i];
                }
                log_debug("pid %d: fd %d: unix %s listener %llu '%s', backlog %u, %zu waiting", fi->pid, fi->fd,
                          type_name(type), (unsigned long long)e->ino, name_str(&e->name), e->backlog, e->n_pending);
                return 0;
        }

        if (di.has_peer) {
                e->peer_ino = di.peer_ino;
                if (di.peer_ino == 0 && type != SOCK_DGRAM && (e->shutdown & SHUTDOWN_MASK) != SHUTDOWN_MASK) {
                        /* connected to an embryo: a client waiting to be accepted
                         * (unix_dump_finish finds the listener) */
                        if (di.has_rqlen && di.wqueue > 0)
                                return log_error_errno(-ENOTSUP,
                                                       "pid %d: fd %d is a unix %s socket whose connection waits to "
                                                       "be accepted and has already sent data, which cannot be read "
                                                       "back, not supported",
                                                       fi->pid, fi->fd, type_name(type));
                } else if (di.peer_ino == 0)
                        e->peer_closed = true;
        } else if (di.state == TCP_ESTABLISHED && type != SOCK_DGRAM) {
                /* no peer at all: a connection both sides shut down */
                e->peer_closed = true;
        }
        if (type == SOCK_STREAM) {
                char c;
                if (recv(fi->lfd, &c, 1, MSG_OOB | MSG_PEEK | MSG_DONTWAIT) >= 0)
                        return log_error_errno(-ENOTSUP,
                                               "pid %d: fd %d is a unix socket with out-of-band data queued, "
                                               "not supported yet",
                                               fi->pid, fi->fd);
        }
        r = peek_queue(ctx, fi, &di, e);
        if (r < 0)
                return r;
        log_debug("pid %d: fd %d: unix %s socket %llu '%s', state %u, peer %llu%s, shutdown %u", fi->pid, fi->fd,
                  type_name(type), (unsigned long long)e->ino, name_str(&e->name), e->state,
                  (unsigned long long)e->peer_ino, e->peer_closed ? " (closed)" : "", e->shutdown);
        return 0;
}

/* Names some holder of file id for messages (a process rather than cryo). */
static void holder(const struct dump_ctx *ctx, uint32_t id, pid_t *ret_pid, int *ret_fd) {
        *ret_pid = 0;
        *ret_fd = -1;
        for (size_t i = 0; i < ctx->nkeys; i++)
                if (ctx->keys[i].id == id && (*ret_pid == 0 || *ret_pid == getpid())) {
                        *ret_pid = ctx->keys[i].pid;
                        *ret_fd = ctx->keys[i].fd;
                }
}

static FileEntry *dump_find(struct dump_ctx *ctx, uint64_t ino) {
        for (size_t j = 0; j < ctx->nfiles; j++)
                if (ctx->files[j]->kind == FILE_KIND__FK_UNIX && ctx->files[j]->unix_sk &&
                    ctx->files[j]->unix_sk->ino == ino)
                        return ctx->files[j];
        return NULL;
}

/* Is name the name of a listener of the tree? */
static bool listener_named(struct dump_ctx *ctx, const ProtobufCBinaryData *name) {
        for (size_t j = 0; j < ctx->nfiles; j++) {
                const UnixEntry *o = ctx->files[j]->kind == FILE_KIND__FK_UNIX ? ctx->files[j]->unix_sk : NULL;
                if (o && o->state == TCP_LISTEN && same_name(&o->name, name))
                        return true;
        }
        return false;
}

/* A connected stream/seqpacket pair: which end was accepted (its name is
 * its listener's), which bound its own (if named at all). */
static void decide_names(struct dump_ctx *ctx, UnixEntry *a, UnixEntry *b) {
        UnixEntry *acc;
        if (!a->name.len && !b->name.len)
                return;
        if (!b->name.len)
                acc = a;
        else if (!a->name.len)
                acc = b;
        else if (listener_named(ctx, &a->name) != listener_named(ctx, &b->name))
                acc = listener_named(ctx, &a->name) ? a : b;
        else
                acc = a->ino > b->ino ? a : b; /* the accepted socket is created after its client */
        acc->own_name = false;
        UnixEntry *con = acc == a ? b : a;
        con->own_name = con->name.len > 0;
}

int unix_dump_finish(struct dump_ctx *ctx) {
        /* names of their own: listeners, datagram and unconnected sockets,
         * waiting clients; connected pairs decide below */
        for (size_t i = 0; i < ctx->nfiles; i++) {
                UnixEntry *e = ctx->files[i]->kind == FILE_KIND__FK_UNIX ? ctx->files[i]->unix_sk : NULL;
                if (e)
                        e->own_name = e->name.len > 0 &&
                                      (e->state != TCP_ESTABLISHED || e->type == SOCK_DGRAM || e->peer_ino == 0);
        }
        /* waiting clients: the listener of the tree whose queue lists them */
        for (size_t i = 0; i < ctx->nfiles; i++) {
                FileEntry *fe = ctx->files[i];
                UnixEntry *e = fe->kind == FILE_KIND__FK_UNIX ? fe->unix_sk : NULL;
                pid_t pid;
                int fd;

                if (!e || e->state != TCP_LISTEN)
                        continue;
                holder(ctx, fe->id, &pid, &fd);
                for (size_t k = 0; k < e->n_pending; k++) {
                        FileEntry *cfe = dump_find(ctx, e->pending[k]);
                        if (!cfe)
                                return log_error_errno(-ENOTSUP,
                                                       "pid %d: fd %d is a listening unix socket ('%s') with a "
                                                       "connection from socket:[%llu] outside the tree waiting in "
                                                       "its accept queue, not supported",
                                                       pid, fd, name_str(&e->name), (unsigned long long)e->pending[k]);
                        UnixEntry *c = cfe->unix_sk;
                        if (c->type != e->type || c->peer_ino != 0 || c->peer_closed || c->state != TCP_ESTABLISHED)
                                return log_error_errno(-EINVAL, "pid %d: fd %d: unix socket %llu in the accept queue is inconsistent",
                                                       pid, fd, (unsigned long long)c->ino);
                        c->in_accept_queue = true;
                        c->peer_ino = e->ino;
                }
        }
        for (size_t i = 0; i < ctx->nfiles; i++) {
                FileEntry *fe = ctx->files[i];
                UnixEntry *e = fe->kind == FILE_KIND__FK_UNIX ? fe->unix_sk : NULL;
                FileEntry *pfe;
                pid_t pid;
                int fd;

                if (!e || e->state == TCP_LISTEN || e->in_accept_queue || e->peer_closed)
                        continue;
                holder(ctx, fe->id, &pid, &fd);
                if (e->type != SOCK_DGRAM && e->state == TCP_ESTABLISHED && e->peer_ino == 0)
                        return log_error_errno(-ENOTSUP,
                                               "pid %d: fd %d is a unix %s socket whose connection waits in the accept "
                                               "queue of a listener outside the tree, not supported",
                                               pid, fd, type_name(e->type));
                if (e->peer_ino == 0)
                        continue; /* unconnected */
                pfe = dump_find(ctx, e->peer_ino);
                if (!pfe) {
                        _cleanup_(unix_diag_info_done) struct unix_diag_info pd = {};
                        bool named = sockdiag_unix_by_ino(e->peer_ino, &pd) == 0 && pd.has_name && pd.name_len > 0;
                        if (e->type != SOCK_DGRAM)
                                return log_error_errno(-ENOTSUP,
                                                       "pid %d: fd %d is a unix %s socket whose peer (socket:[%llu]) is "
                                                       "held outside the tree, not supported (not even with "
                                                       "--ext-unix-sk: half a connection cannot be restored)",
                                                       pid, fd, type_name(e->type), (unsigned long long)e->peer_ino);
                        if (!named || (pd.name[0] != '/' && pd.name[0] != 0))
                                return log_error_errno(-ENOTSUP,
                                                       "pid %d: fd %d is a unix datagram socket connected to "
                                                       "socket:[%llu] outside the tree that %s, not supported",
                                                       pid, fd, (unsigned long long)e->peer_ino,
                                                       named ? "has a relative name" : "has no name to reconnect to");
                        if (pd.name[0])
                                pd.name_len = strnlen(pd.name, pd.name_len);
                        ProtobufCBinaryData pn = { .len = pd.name_len, .data = (uint8_t *)pd.name };
                        if (!ctx->opts.ext_unix_sk)
                                return log_error_errno(-ENOTSUP,
                                                       "pid %d: fd %d is a unix datagram socket connected to '%s' "
                                                       "(socket:[%llu]) outside the tree; use --ext-unix-sk",
                                                       pid, fd, name_str(&pn), (unsigned long long)e->peer_ino);
                        e->peer_outside = true;
                        pb_bytes_set(&e->peer_name, pd.name, pd.name_len);
                        log_info("pid %d: fd %d: unix datagram socket connected to '%s' outside the tree: restore "
                                 "connects it to that name again",
                                 pid, fd, name_str(&pn));
                        continue;
                }
                UnixEntry *p = pfe->unix_sk;
                if (p->type != e->type)
                        return log_error_errno(-EINVAL, "pid %d: fd %d: unix socket connected to one of another type",
                                               pid, fd);
                if (e->type == SOCK_DGRAM) {
                        if (p->peer_ino != e->ino && !p->own_name)
                                return log_error_errno(-ENOTSUP,
                                                       "pid %d: fd %d is a unix datagram socket connected to an "
                                                       "unnamed socket (socket:[%llu]) that is not connected back, "
                                                       "not supported",
                                                       pid, fd, (unsigned long long)p->ino);
                        continue;
                }
                if (p->peer_ino != e->ino)
                        return log_error_errno(-ENOTSUP,
                                               "pid %d: fd %d is a unix socket connected to socket:[%llu] that is "
                                               "not connected back, not supported",
                                               pid, fd, (unsigned long long)e->peer_ino);
                if (e->ino < p->ino)
                        decide_names(ctx, e, p);
        }
        /* an accepted socket whose client was closed keeps its listener's name */
        for (size_t i = 0; i < ctx->nfiles; i++) {
                UnixEntry *e = ctx->files[i]->kind == FILE_KIND__FK_UNIX ? ctx->files[i]->unix_sk : NULL;
                if (e && e->peer_closed && e->type != SOCK_DGRAM)
                        e->own_name = false;
        }
        return 0;
}

/* --------------------------------------------------------------- restore */

struct uaddr {
        struct sockaddr_un sa;
        socklen_t len;
        const char *dir; /* a relative filesystem name is relative to it */
        char path[PATH_MAX]; /* filesystem names: the file, for lstat/unlink/chmod */
};

static int uaddr_of(const ProtobufCBinaryData *name, const char *dir, struct uaddr *ret) {
        *ret = (struct uaddr){ .sa.sun_family = AF_UNIX };
        if (name->len == 0 || name->len > sizeof(ret->sa.sun_path))
                return -EINVAL;
        memcpy(ret->sa.sun_path, name->data, name->len);
        ret->len = offsetof(struct sockaddr_un, sun_path) + name->len;
        if (is_abstract(name))
                return 0;
        if (name->len < sizeof(ret->sa.sun_path))
                ret->len++; /* the NUL */
        if (ret->sa.sun_path[0] != '/' && dir && *dir) {
                ret->dir = dir;
                snprintf(ret->path, sizeof(ret->path), "%s/%s", dir, ret->sa.sun_path);
        } else
                snprintf(ret->path, sizeof(ret->path), "%s", ret->sa.sun_path);
        return 0;
}

static bool uaddr_fs(const struct uaddr *a) {
        return a->sa.sun_path[0] != 0;
}

enum { UOP_BIND, UOP_CONNECT };

/* bind() or connect() to a, from the directory of a relative name. */
static int uaddr_op(int op, int fd, const struct uaddr *a) {
        _cleanup_close_ int cwd = -EBADF;
        int r;

        if (a->dir) {
                cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
                if (cwd < 0)
                        return -errno;
                if (chdir(a->dir) < 0)
                        return -errno;
        }
        r = op == UOP_BIND ? bind(fd, (const struct sockaddr *)&a->sa, a->len)
                           : connect(fd, (const struct sockaddr *)&a->sa, a->len);
        r = r < 0 ? -errno : 0;
        if (cwd >= 0 && fchdir(cwd) < 0 && r == 0)
                r = -errno;
        return r;
}

/* Makes the path of a filesystem name free: a socket file no socket is
 * bound to any more (left by the dead original) is unlinked; a live one
 * or anything else is an error (returned, with why, not logged). */
static int free_path(const struct uaddr *a, const char **ret_why) {
        struct stat st;
        int r;

        *ret_why = "cannot stat it";
        if (lstat(a->path, &st) < 0)
                return errno == ENOENT ? 0 : -errno;
        *ret_why = "it exists and is not a socket";
        if (!S_ISSOCK(st.st_mode))
                return -EEXIST;
        _cleanup_close_ int t = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (t < 0)
                return -errno;
        r = uaddr_op(UOP_CONNECT, t, a);
        if (r != -ECONNREFUSED) {
                *ret_why = "a live socket is bound there";
                return r == 0 || r == -EPROTOTYPE ? -EADDRINUSE : r;
        }
        *ret_why = "cannot remove the stale socket file";
        if (unlink(a->path) < 0 && errno != ENOENT)
                return -errno;
        log_debug("removed the stale socket file '%s'", a->path);
        return 0;
}

static void set_file_attrs(const UnixEntry *e, const struct uaddr *a) {
        if (!e->file_mode)
                return;
        if (chmod(a->path, e->file_mode & 07777) < 0)
                log_warn("cannot set the mode of socket file '%s' to %#o: %m", a->path, e->file_mode & 07777);
        if (lchown(a->path, e->file_uid, e->file_gid) < 0)
                log_warn("cannot set the owner of socket file '%s' to %u:%u: %m", a->path, e->file_uid, e->file_gid);
}

/* Binds fd to e's own name (its file recreated, stale one removed first). */
static int bind_own(int fd, const UnixEntry *e) {
        struct uaddr a;
        int r;
        if (uaddr_of(&e->name, e->name_dir, &a) < 0)
                return log_error_errno(-EBADMSG, "unix socket %llu has an invalid name", (unsigned long long)e->ino);
        if (uaddr_fs(&a)) {
                const char *why;
                r = free_path(&a, &why);
                if (r < 0)
                        return log_error_errno(r, "cannot bind a unix socket to '%s': %s: %m", a.path, why);
        }
        r = uaddr_op(UOP_BIND, fd, &a);
        if (r < 0)
                return log_error_errno(r, "cannot bind a unix socket to '%s': %m", name_str(&e->name));
        if (uaddr_fs(&a))
                set_file_attrs(e, &a);
        return 0;
}

struct unix_rst {
        struct restore_ctx *ctx;
        const FileEntry **fes; /* the unix entries */
        int *fds;              /* their sockets, while being made */
        int *closed_peer;      /* temporary peers of sockets whose peer was closed */
        size_t n;
};

static ssize_t rst_find(const struct unix_rst *u, uint64_t ino) {
        for (size_t i = 0; i < u->n; i++)
                if (u->fes[i]->unix_sk->ino == ino)
                        return i;
        return -1;
}

/* Does a socket of the images bind name as its own? */
static bool name_owned(const struct unix_rst *u, const UnixEntry *e) {
        for (size_t i = 0; i < u->n; i++) {
                const UnixEntry *o = u->fes[i]->unix_sk;
                if (o != e && o->own_name && same_name(&o->name, &e->name) &&
                    !!o->name_dir == !!e->name_dir && (!o->name_dir || strcmp(o->name_dir, e->name_dir) == 0))
                        return true;
        }
        return false;
}

static int new_socket(int type) {
        int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return log_error_errno(-errno, "cannot create a unix %s socket: %m", type_name(type));
        return fd;
}

/* Makes a connected pair; acc (may be NULL) is the end with an inherited
 * name, which it gets from a temporary listener bound to that name. */
static int make_pair(struct unix_rst *u, int type, const UnixEntry *acc, const UnixEntry *con, int *ret_acc,
                     int *ret_con) {
        _cleanup_close_ int a = -EBADF, c = -EBADF, t = -EBADF;
        struct uaddr addr;
        int r;

        if (!acc || acc->own_name || !acc->name.len) {
                int sv[2];
                if (socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv) < 0)
                        return log_error_errno(-errno, "cannot create a unix %s socketpair: %m", type_name(type));
                a = sv[0];
                c = sv[1];
                if (acc && acc->own_name && (r = bind_own(a, acc)) < 0)
                        return r;
                if (con && con->own_name && (r = bind_own(c, con)) < 0)
                        return r;
                *ret_acc = TAKE_FD(a);
                *ret_con = TAKE_FD(c);
                return 0;
        }
        if (uaddr_of(&acc->name, acc->name_dir, &addr) < 0)
                return log_error_errno(-EBADMSG, "unix socket %llu has an invalid name", (unsigned long long)acc->ino);
        t = new_socket(type);
        if (t < 0)
                return t;
        const char *why = "bind";
        r = uaddr_fs(&addr) ? free_path(&addr, &why) : 0;
        if (r >= 0) {
                why = "bind";
                r = uaddr_op(UOP_BIND, t, &addr);
        }
        if (r < 0) {
                /* someone outside holds the name: the connection matters more */
                log_warn("cannot bind a temporary listener to '%s' (the name of an accepted unix socket): %s: %s; "
                         "the socket is restored without its name",
                         name_str(&acc->name), why, strerror(-r));
                return make_pair(u, type, NULL, con, ret_acc, ret_con);
        }
        if (listen(t, 1) < 0)
                return log_error_errno(-errno, "cannot listen on '%s': %m", name_str(&acc->name));
        c = new_socket(type);
        if (c < 0)
                return c;
        if (con && con->own_name && (r = bind_own(c, con)) < 0)
                return r;
        r = uaddr_op(UOP_CONNECT, c, &addr);
        if (r < 0)
                return log_error_errno(r, "cannot connect to the temporary listener '%s': %m", name_str(&acc->name));
        a = accept4(t, NULL, NULL, SOCK_CLOEXEC);
        if (a < 0)
                return log_error_errno(-errno, "cannot accept on the temporary listener '%s': %m",
                                       name_str(&acc->name));
        t = safe_close(t);
        if (uaddr_fs(&addr)) {
                /* the listener's file stays if it existed and nobody of the tree binds it */
                if (acc->file_deleted || name_owned(u, acc))
                        unlink(addr.path);
                else
                        set_file_attrs(acc, &addr);
        }
        *ret_acc = TAKE_FD(a);
        *ret_con = TAKE_FD(c);
        return 0;
}

static void rst_free(struct unix_rst *u) {
        for (size_t i = 0; i < u->n; i++) {
                safe_close(u->fds[i]);
                safe_close(u->closed_peer[i]);
        }
        free(u->fes);
        free(u->fds);
        free(u->closed_peer);
}

static int unix_restore_prepare(struct restore_ctx *ctx) {
        _cleanup_(rst_free) struct unix_rst u = { .ctx = ctx };
        int r;

        for (size_t i = 0; i < ctx->files->n_files; i++) {
                const FileEntry *fe = ctx->files->files[i];
                if (fe->kind != FILE_KIND__FK_UNIX)
                        continue;
                if (!fe->unix_sk)
                        return log_error_errno(-EBADMSG, "file %u: unix socket entry missing", fe->id);
                u.fes = xrealloc_array(u.fes, u.n + 1, sizeof(*u.fes));
                u.fes[u.n++] = fe;
        }
        if (!u.n)
                return 0;
        u.fds = xrealloc_array(NULL, u.n, sizeof(int));
        u.closed_peer = xrealloc_array(NULL, u.n, sizeof(int));
        for (size_t i = 0; i < u.n; i++)
                u.fds[i] = u.closed_peer[i] = -EBADF;

        /* 1. connections: pairs, and sockets whose peer was closed */
        for (size_t i = 0; i < u.n; i++) {
                const UnixEntry *e = u.fes[i]->unix_sk, *p;
                ssize_t j;

                if (u.fds[i] >= 0 || e->state == TCP_LISTEN || e->in_accept_queue)
                        continue;
                if (e->peer_closed) {
                        r = make_pair(&u, e->type, e->type == SOCK_DGRAM ? NULL : e, NULL, &u.fds[i],
                                      &u.closed_peer[i]);
                        if (r < 0)
                                return r;
                        if (e->type == SOCK_DGRAM && e->own_name && (r = bind_own(u.fds[i], e)) < 0)
                                return r;
                        continue;
                }
                if (e->peer_ino == 0 || e->peer_outside || (j = rst_find(&u, e->peer_ino)) < 0)
                        continue;
                p = u.fes[j]->unix_sk;
                if (p->peer_ino != e->ino)
                        continue; /* a datagram socket connected to a named one: step 5 */
                if (e->type == SOCK_DGRAM) {
                        r = make_pair(&u, e->type, e, p, &u.fds[i], &u.fds[j]);
                        if (r < 0)
                                return r;
                        continue;
                }
                bool e_acc = !e->own_name && e->name.len;
                r = make_pair(&u, e->type, e_acc ? e : p, e_acc ? p : e, e_acc ? &u.fds[i] : &u.fds[j],
                              e_acc ? &u.fds[j] : &u.fds[i]);
                if (r < 0)
                        return r;
        }
        /* 2. everything else, bound to its own name if it has one (names whose
         * file had been unlinked first: another socket may own the path now) */
        for (int pass = 0; pass < 2; pass++)
                for (size_t i = 0; i < u.n; i++) {
                        const UnixEntry *e = u.fes[i]->unix_sk;
                        if (u.fds[i] >= 0 || e->in_accept_queue || (e->own_name && e->file_deleted) != (pass == 0))
                                continue;
                        u.fds[i] = new_socket(e->type);
                        if (u.fds[i] < 0)
                                return u.fds[i];
                        if (e->own_name && (r = bind_own(u.fds[i], e)) < 0)
                                return r;
                        if (e->own_name && e->file_deleted && name_owned(&u, e)) {
                                struct uaddr a;
                                if (uaddr_of(&e->name, e->name_dir, &a) == 0)
                                        unlink(a.path);
                        }
                }
        /* 3. listeners, then the clients waiting in their accept queues, in order */
        for (size_t i = 0; i < u.n; i++) {
                const UnixEntry *e = u.fes[i]->unix_sk;
                if (e->state == TCP_LISTEN && listen(u.fds[i], MAX(e->backlog, e->n_pending)) < 0)
                        return log_error_errno(-errno, "cannot listen on unix socket '%s': %m", name_str(&e->name));
        }
        for (size_t i = 0; i < u.n; i++) {
                const UnixEntry *e = u.fes[i]->unix_sk;
                struct uaddr a;
                if (e->state != TCP_LISTEN || !e->n_pending)
                        continue;
                if (uaddr_of(&e->name, e->name_dir, &a) < 0)
                        return log_error_errno(-EBADMSG, "listening unix socket %llu has no name to connect to",
                                               (unsigned long long)e->ino);
                for (size_t k = 0; k < e->n_pending; k++) {
                        ssize_t j = rst_find(&u, e->pending[k]);
                        if (j < 0 || u.fds[j] >= 0)
                                return log_error_errno(-EBADMSG, "unix socket %llu waits for listener '%s' but is not in the images",
                                                       (unsigned long long)e->pending[k], name_str(&e->name));
                        const UnixEntry *c = u.fes[j]->unix_sk;
                        u.fds[j] = new_socket(c->type);
                        if (u.fds[j] < 0)
                                return u.fds[j];
                        if (c->own_name && (r = bind_own(u.fds[j], c)) < 0)
                                return r;
                        r = uaddr_op(UOP_CONNECT, u.fds[j], &a);
                        if (r < 0)
                                return log_error_errno(r, "cannot queue a connection on the restored listener '%s': %m",
                                                       name_str(&e->name));
                }
        }
        /* hand them over: each open() takes its own */
        for (size_t i = 0; i < u.n; i++) {
                const UnixEntry *e = u.fes[i]->unix_sk;
                int *fds[2] = { &u.fds[i], &u.closed_peer[i] };
                uint64_t keys[2] = { unix_key(e->ino), unix_closed_peer_key(e->ino) };
                for (int k = 0; k < 2; k++) {
                        if (*fds[k] < 0)
                                continue;
                        r = restore_ctx_move_high(ctx, *fds[k]);
                        if (r < 0)
                                return r;
                        *fds[k] = -EBADF;
                        restore_ctx_stash_fd(ctx, keys[k], r);
                }
        }
        return 0;
}

static int unix_open(struct restore_ctx *ctx, const FileEntry *fe, int *ret_fd) {
        _cleanup_close_ int fd = -EBADF;
        int r;

        if (!fe->unix_sk)
                return log_error_errno(-EBADMSG, "file %u: unix socket entry missing", fe->id);
        fd = restore_ctx_take_fd(ctx, unix_key(fe->unix_sk->ino));
        if (fd < 0)
                return log_error_errno(-EBADMSG, "file %u: unix socket %llu was not created", fe->id,
                                       (unsigned long long)fe->unix_sk->ino);
        r = files_restore_flags_pos(fe, fd);
        if (r < 0)
                return r;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

static const FileEntry *rst_file_by_ino(const struct restore_ctx *ctx, uint64_t ino) {
        for (size_t i = 0; i < ctx->files->n_files; i++) {
                const FileEntry *o = ctx->files->files[i];
                if (o->kind == FILE_KIND__FK_UNIX && o->unix_sk && o->unix_sk->ino == ino)
                        return o;
        }
        return NULL;
}

/* One sendmsg of message m (with its files and credentials) from fd. */
static int send_one(struct restore_ctx *ctx, const FileEntry *fe, size_t idx, int from, const struct uaddr *to) {
        const UnixMsgEntry *m = fe->unix_sk->queue[idx];
        size_t clen = (m->n_fds ? CMSG_SPACE(m->n_fds * sizeof(int)) : 0) +
                      (m->has_creds ? CMSG_SPACE(sizeof(struct ucred)) : 0);
        _cleanup_free_ char *cbuf = clen ? xzalloc(clen) : NULL;
        const uint8_t *p = m->data.data;
        size_t left = m->data.len;
        bool first = true;

        if (m->n_fds > 253)
                return log_error_errno(-EBADMSG, "file %u: message %zu carries too many files", fe->id, idx);
        do {
                struct iovec iov = { .iov_base = (void *)p, .iov_len = left };
                struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
                if (to) {
                        msg.msg_name = (void *)&to->sa;
                        msg.msg_namelen = to->len;
                }
                if (first && clen) {
                        msg.msg_control = cbuf;
                        msg.msg_controllen = clen;
                        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
                        if (m->n_fds) {
                                c->cmsg_level = SOL_SOCKET;
                                c->cmsg_type = SCM_RIGHTS;
                                c->cmsg_len = CMSG_LEN(m->n_fds * sizeof(int));
                                for (size_t k = 0; k < m->n_fds; k++) {
                                        int fd = restore_ctx_file_fd(ctx, m->fds[k]);
                                        if (fd < 0)
                                                return log_error_errno(-EBADMSG,
                                                                       "file %u: file %u passed in message %zu is "
                                                                       "not in the images",
                                                                       fe->id, m->fds[k], idx);
                                        memcpy(CMSG_DATA(c) + k * sizeof(int), &fd, sizeof(int));
                                }
                                c = CMSG_NXTHDR(&msg, c);
                        }
                        if (m->has_creds) {
                                /* the pid must exist now: the tree's do not yet */
                                struct ucred uc = { .pid = m->pid, .uid = m->uid, .gid = m->gid };
                                if (uc.pid <= 0 || (kill(uc.pid, 0) < 0 && errno == ESRCH))
                                        uc.pid = getpid();
                                c->cmsg_level = SOL_SOCKET;
                                c->cmsg_type = SCM_CREDENTIALS;
                                c->cmsg_len = CMSG_LEN(sizeof(uc));
                                memcpy(CMSG_DATA(c), &uc, sizeof(uc));
                        }
                }
                ssize_t n = sendmsg(from, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return log_error_errno(-errno,
                                               "file %u: cannot queue message %zu (%zu bytes%s) on unix socket: %m",
                                               fe->id, idx, left, m->n_fds ? ", with files" : "");
                }
                if (fe->unix_sk->type != SOCK_STREAM && (size_t)n != left)
                        return log_error_errno(-EIO, "file %u: message %zu was cut on queueing", fe->id, idx);
                p += n;
                left -= n;
                first = false;
        } while (left > 0);
        return 0;
}

/* A temporary sender bound to name, if the name is free; else -errno. */
static int temp_sender(const ProtobufCBinaryData *name, struct uaddr *ret_addr) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        int r;

        if (uaddr_of(name, NULL, ret_addr) < 0)
                return -EINVAL;
        if (uaddr_fs(ret_addr) && (ret_addr->sa.sun_path[0] != '/' || lstat(ret_addr->path, &st) == 0))
                return -EADDRINUSE; /* do not touch a file that exists */
        fd = new_socket(SOCK_DGRAM);
        if (fd < 0)
                return fd;
        r = uaddr_op(UOP_BIND, fd, ret_addr);
        if (r < 0)
                return r;
        return TAKE_FD(fd);
}

static int fill_queue(struct restore_ctx *ctx, const FileEntry *fe, int fd) {
        const UnixEntry *e = fe->unix_sk;
        const FileEntry *pfe = e->peer_ino && !e->peer_outside ? rst_file_by_ino(ctx, e->peer_ino) : NULL;
        int closed_peer = -EBADF, peer_fd = -EBADF, r;
        bool paired; /* connected at birth: only its peer can send to it */
        struct uaddr self;

        if (!e->n_queue)
                return 0;
        if (e->peer_closed) {
                closed_peer = restore_ctx_take_fd(ctx, unix_closed_peer_key(e->ino));
                if (closed_peer < 0)
                        return log_error_errno(-EBADMSG, "file %u: the temporary peer of unix socket %llu is missing",
                                               fe->id, (unsigned long long)e->ino);
                restore_ctx_stash_fd(ctx, unix_closed_peer_key(e->ino), closed_peer); /* closed in step 5 */
                peer_fd = closed_peer;
        } else if (pfe) {
                peer_fd = restore_ctx_file_fd(ctx, pfe->id);
        }
        paired = e->peer_closed || (pfe && pfe->unix_sk->peer_ino == e->ino);
        if (e->type != SOCK_DGRAM || paired) {
                if (peer_fd < 0)
                        return log_error_errno(-EBADMSG, "file %u: unix socket %llu has queued data but no peer to send it",
                                               fe->id, (unsigned long long)e->ino);
                (void)setsockopt_int(peer_fd, SO_SNDBUFFORCE, INT_MAX / 2);
                for (size_t k = 0; k < e->n_queue; k++) {
                        if (e->type == SOCK_DGRAM && e->queue[k]->sender.len &&
                            !(pfe && same_name(&pfe->unix_sk->name, &e->queue[k]->sender)))
                                log_warn("file %u: datagram %zu came from '%s'; restored as coming from the socket's "
                                         "peer",
                                         fe->id, k, name_str(&e->queue[k]->sender));
                        r = send_one(ctx, fe, k, peer_fd, NULL);
                        if (r < 0)
                                return r;
                }
                return 0;
        }
        /* datagrams to a named socket: from whoever sent them, by name */
        if (!e->own_name || uaddr_of(&e->name, e->name_dir, &self) < 0)
                return log_error_errno(-EBADMSG, "file %u: unnamed unix datagram socket %llu has queued datagrams",
                                       fe->id, (unsigned long long)e->ino);
        for (size_t k = 0; k < e->n_queue; k++) {
                const UnixMsgEntry *m = e->queue[k];
                _cleanup_close_ int tmp = -EBADF;
                struct uaddr taddr;
                int from = -EBADF;

                for (size_t i = 0; m->sender.len && i < ctx->files->n_files && from < 0; i++) {
                        const FileEntry *o = ctx->files->files[i];
                        if (o->kind == FILE_KIND__FK_UNIX && o->unix_sk && o->unix_sk->own_name &&
                            o->unix_sk->type == SOCK_DGRAM && same_name(&o->unix_sk->name, &m->sender))
                                from = restore_ctx_file_fd(ctx, o->id);
                }
                if (from < 0 && m->sender.len) {
                        tmp = temp_sender(&m->sender, &taddr);
                        if (tmp < 0)
                                log_warn("file %u: datagram %zu came from '%s', which cannot be bound now (%s): "
                                         "restored without its sender's address",
                                         fe->id, k, name_str(&m->sender), strerror(-tmp));
                }
                if (from < 0 && tmp < 0) {
                        tmp = new_socket(SOCK_DGRAM);
                        if (tmp < 0)
                                return tmp;
                }
                if (from < 0)
                        from = tmp;
                (void)setsockopt_int(from, SO_SNDBUFFORCE, INT_MAX / 2);
                /* sendto() a relative name: from its directory */
                _cleanup_close_ int cwd = -EBADF;
                if (self.dir) {
                        cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
                        if (cwd < 0 || chdir(self.dir) < 0)
                                return log_error_errno(-errno, "cannot enter '%s': %m", self.dir);
                }
                r = send_one(ctx, fe, k, from, &self);
                if (cwd >= 0 && fchdir(cwd) < 0)
                        return log_error_errno(-errno, "cannot go back to cryo's directory: %m");
                if (tmp >= 0 && m->sender.len && uaddr_fs(&taddr) && from == tmp)
                        unlink(taddr.path);
                if (r < 0)
                        return r;
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
        unsigned m = fe->unix_sk->shutdown & SHUTDOWN_MASK;
        int how = m == SHUTDOWN_MASK ? SHUT_RDWR : m == CRYO_RCV_SHUTDOWN ? SHUT_RD : SHUT_WR;
        if (m && shutdown(fd, how) < 0 && errno != ENOTCONN)
                return log_error_errno(-errno, "file %u: cannot shut unix socket down (%u): %m", fe->id, m);
        return 0;
}

static int unix_restore_finish(struct restore_ctx *ctx) {
        int r;

        /* 4. queues */
        for (size_t i = 0; i < ctx->files->n_files; i++) {
                const FileEntry *fe = ctx->files->files[i];
                if (fe->kind != FILE_KIND__FK_UNIX || !fe->unix_sk)
                        continue;
                r = fill_queue(ctx, fe, ctx->file_fds[i]);
                if (r < 0)
                        return r;
        }
        /* 5. datagram connections, temporary peers, final settings */
        for (size_t i = 0; i < ctx->files->n_files; i++) {
                const FileEntry *fe = ctx->files->files[i], *pfe;
                const UnixEntry *e = fe->unix_sk;
                int fd = ctx->file_fds[i];
                struct uaddr a;

                if (fe->kind != FILE_KIND__FK_UNIX || !e || e->type != SOCK_DGRAM || !e->peer_ino || e->peer_closed)
                        continue;
                if (e->peer_outside) {
                        if (uaddr_of(&e->peer_name, NULL, &a) < 0)
                                return log_error_errno(-EBADMSG, "file %u: bad peer name", fe->id);
                        r = uaddr_op(UOP_CONNECT, fd, &a);
                        if (r < 0)
                                return log_error_errno(r, "file %u: cannot connect the unix datagram socket to '%s' "
                                                          "outside the tree again: %m",
                                                       fe->id, name_str(&e->peer_name));
                        continue;
                }
                pfe = rst_file_by_ino(ctx, e->peer_ino);
                if (!pfe)
                        return log_error_errno(-EBADMSG, "file %u: the peer of unix socket %llu is not in the images",
                                               fe->id, (unsigned long long)e->ino);
                if (pfe->unix_sk->peer_ino == e->ino)
                        continue; /* a pair, connected at birth */
                if (uaddr_of(&pfe->unix_sk->name, pfe->unix_sk->name_dir, &a) < 0)
                        return log_error_errno(-EBADMSG, "file %u: the peer of unix socket %llu has no name", fe->id,
                                               (unsigned long long)e->ino);
                r = uaddr_op(UOP_CONNECT, fd, &a);
                if (r < 0)
                        return log_error_errno(r, "file %u: cannot connect the unix datagram socket to '%s': %m",
                                               fe->id, name_str(&pfe->unix_sk->name));
        }
        for (size_t i = 0; i < ctx->files->n_files; i++) {
                const FileEntry *fe = ctx->files->files[i];
                const UnixEntry *e = fe->unix_sk;
                int fd = ctx->file_fds[i];

                if (fe->kind != FILE_KIND__FK_UNIX || !e)
                        continue;
                if (e->peer_closed) {
                        int z = restore_ctx_take_fd(ctx, unix_closed_peer_key(e->ino));
                        safe_close(z); /* the socket now reads EOF (stream) or ECONNREFUSED (datagram) */
                } else if ((r = do_shutdown(fe, fd)) < 0)
                        return r;
                if (e->sndbuf && (r = set_buf(fe, fd, SO_SNDBUF, SO_SNDBUFFORCE, e->sndbuf)) < 0)
                        return r;
                if (e->rcvbuf && (r = set_buf(fe, fd, SO_RCVBUF, SO_RCVBUFFORCE, e->rcvbuf)) < 0)
                        return r;
                if (e->passcred && (r = setsockopt_int(fd, SO_PASSCRED, 1)) < 0)
                        return log_error_errno(r, "file %u: cannot set SO_PASSCRED: %m", fe->id);
                if (e->own_name && e->file_deleted && !is_abstract(&e->name)) {
                        struct uaddr a;
                        struct stat st, mine;
                        _cleanup_close_ int pfd = ioctl(fd, SIOCUNIXFILE);
                        if (uaddr_of(&e->name, e->name_dir, &a) == 0 && pfd >= 0 && fstat(pfd, &mine) == 0 &&
                            lstat(a.path, &st) == 0 && st.st_ino == mine.st_ino && st.st_dev == mine.st_dev)
                                unlink(a.path);
                }
        }
        return 0;
}

const struct file_ops unix_ops = {
        .kind = FILE_KIND__FK_UNIX,
        .name = "unix",
        .match = unix_match,
        .dump = unix_dump,
        .open = unix_open,
        .restore_prepare = unix_restore_prepare,
        .restore_finish = unix_restore_finish,
};
