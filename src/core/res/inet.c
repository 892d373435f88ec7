/* TCP and UDP sockets over IPv4 and IPv6.
 *
 * Saved for every socket: family, type, local and peer address, and the
 * options an application sets: SO_REUSEADDR, SO_REUSEPORT, IPV6_V6ONLY,
 * SO_KEEPALIVE (+ TCP_KEEPIDLE/KEEPINTVL/KEEPCNT), SO_LINGER,
 * SO_RCVTIMEO/SNDTIMEO, SO_PRIORITY, SO_MARK, IP_TOS/IPV6_TCLASS,
 * IP_FREEBIND, SO_BROADCAST, TCP_NODELAY, TCP_CORK, TCP_USER_TIMEOUT; the
 * status flags (O_NONBLOCK) travel in the FileEntry. SO_RCVBUF/SO_SNDBUF
 * are saved when they differ from the kernel's default for a new socket
 * (the lock bit that tells an explicit setting is not visible): not for
 * established connections, whose buffers autotune.
 *
 * TCP, by state:
 *   CLOSE    (never connected, maybe bound): socket() and bind() again.
 *   LISTEN   socket(), bind(), listen(backlog) (backlog from TCP_INFO).
 *            Connections already waiting in the accept queue are refused:
 *            their peers believe them established, and they cannot be read
 *            without accept()ing them.
 *   ESTABLISHED only with --tcp-established (dump and restore), by TCP
 *            repair, after all tasks are seen (inet_dump_finish):
 *            1. every connection is locked: a socket filter that drops
 *               every incoming segment (no ACK, no RST: the peer just
 *               retransmits), then TCP_REPAIR on. Locking all before
 *               reading any makes the two ends of a connection inside the
 *               tree agree: nothing either side acknowledges after its
 *               lock is lost, since the sender still holds it.
 *            2. read in repair mode: TCP_INFO (options, window scales),
 *               SIOCINQ, SIOCOUTQ, SIOCOUTQNSD, each queue's sequence
 *               (TCP_REPAIR_QUEUE + TCP_QUEUE_SEQ) and contents
 *               (recv(MSG_PEEK) on the queue: sent-but-unacked and unsent
 *               bytes of the write queue, unread bytes of the receive
 *               queue), TCP_MAXSEG (the MSS clamp in repair mode),
 *               TCP_TIMESTAMP, TCP_REPAIR_WINDOW.
 *            3. with -R the locks come off at once (filter detached,
 *               TCP_REPAIR off with a window probe, SO_REUSEADDR back);
 *               otherwise they stay: a socket closed in repair mode sends
 *               neither FIN nor RST, so killing the tree is silent. And
 *               cryo forks a holder, "cryo-tcp-lock", which keeps the
 *               locked sockets open after the tree is gone, so a peer
 *               outside the tree that sends meanwhile sees its segments
 *               dropped, not answered with RST, and retransmits until
 *               restore, which asks the holder (abstract unix socket
 *               @cryo-tcp-lock-CKPTID) for them. The holder also unlocks
 *               the sockets if the dump fails after locking (no
 *               inventory.img once cryo exits) and gives up after
 *               LOCK_HOLD_MAX; after that, or after a reboot, a peer that
 *               sends before restore gets a RST and the connection is
 *               lost (as in ENGINES.md); an idle peer survives. Without
 *               the holder a socket in repair mode alone would not do: it
 *               still acknowledges what arrives, and once the tree is
 *               killed nothing holds the 4-tuple.
 *            Restore: the sockets the holder hands over are closed (still
 *            in repair mode: silently) if both ends of the connection are
 *            in the images; one whose peer is outside the tree is used
 *            as the restored socket if it still matches the image
 *            (addresses, sequence numbers, queue lengths): a new socket
 *            can only take the 4-tuple once the old one is closed, and a
 *            segment from the peer in between would get a RST. Otherwise:
 *            socket(), TCP_REPAIR on, each queue's sequence set
 *            (rcv_nxt and snd_una: the kernel advances them as the queues
 *            are refilled), bind() to the original local address
 *            (SK_FORCE_REUSE in repair mode), connect() to the peer (no
 *            packet in repair mode), TCP_REPAIR_OPTIONS (MSS, window
 *            scale, SACK, timestamps), TCP_TIMESTAMP, the receive queue
 *            and the sent-but-unacked part of the write queue written in
 *            repair mode (into the queues, not onto the wire),
 *            TCP_REPAIR_WINDOW. Then, once every file of the tree is open
 *            (restore_finish: both ends of a connection inside the tree
 *            exist), TCP_REPAIR off (a window probe gets the peer's ACK),
 *            SO_REUSEADDR as it was, and the unsent bytes are written
 *            normally. Sent-but-unacked bytes go out again on the
 *            retransmit timer. Not kept: out-of-order segments received
 *            (the peer retransmits them), urgent data, TCP_MD5SIG/AO keys,
 *            congestion state and the RTT estimate. Any other state
 *            (SYN_SENT, FIN_WAIT*, CLOSE_WAIT, ...) is refused. A restore
 *            that fails after the connections were restored closes them
 *            outside repair mode: the peers see the connection end.
 * UDP: bound and/or connected; the datagrams waiting in the receive queue
 *   are read without consuming them (SO_PEEK_OFF from 0, recvmsg(MSG_PEEK)
 *   with the source address) and sent again at restore, after bind() and
 *   before connect(), from a raw socket (IP_HDRINCL / IPV6_HDRINCL) with
 *   the original source address and port, so recvfrom() reads them as
 *   before; cryo then waits until they are all queued. Without raw
 *   sockets they are sent from the source address if it can be bound,
 *   else from an unbound socket (with a warning: the source is lost).
 *
 * Needs: CAP_NET_ADMIN (TCP_REPAIR, raw sockets), linux >= 4.8
 * (TCP_REPAIR_WINDOW). Refused: a socket filter already attached to an
 * established connection, SO_PEEK_OFF in use on a UDP socket. */
#define LOG_PREFIX "inet: "
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>

#include "basic/kcompat.h"
#include "basic/log.h"
#include "basic/util.h"
#include "core/res/files.h"

/* how long the holder keeps connections locked for a restore */
#define LOCK_HOLD_MAX_S (15 * 60)
#define UDP_QUEUE_MAX (64ULL << 20)
/* sockets per hand-over message (SCM_MAX_FD is 253) */
#define HANDOVER_MAX 200

static int gso(int fd, int level, int opt, int *ret) {
        socklen_t l = sizeof(*ret);
        *ret = 0;
        if (getsockopt(fd, level, opt, ret, &l) < 0)
                return -errno;
        return 0;
}

static int sso(int fd, int level, int opt, int v) {
        if (setsockopt(fd, level, opt, &v, sizeof(v)) < 0)
                return -errno;
        return 0;
}

static const char *tcp_state_name(unsigned s) {
        static const char *const names[] = {
                [TCP_ESTABLISHED] = "ESTABLISHED", [TCP_SYN_SENT] = "SYN_SENT", [TCP_SYN_RECV] = "SYN_RECV",
                [TCP_FIN_WAIT1] = "FIN_WAIT1",     [TCP_FIN_WAIT2] = "FIN_WAIT2", [TCP_TIME_WAIT] = "TIME_WAIT",
                [TCP_CLOSE] = "CLOSE",             [TCP_CLOSE_WAIT] = "CLOSE_WAIT", [TCP_LAST_ACK] = "LAST_ACK",
                [TCP_LISTEN] = "LISTEN",           [TCP_CLOSING] = "CLOSING",
        };
        return s < ARRAY_SIZE(names) && names[s] ? names[s] : "unknown";
}

/* "127.0.0.1:80" / "[::1]:80" (static buffer, 4 slots) */
static const char *addr_str(uint32_t family, const ProtobufCBinaryData *addr, uint32_t port) {
        static char buf[4][INET6_ADDRSTRLEN + 16];
        static int slot;
        char *b = buf[slot++ & 3], a[INET6_ADDRSTRLEN] = "?";
        if (addr->len == 4 || addr->len == 16)
                inet_ntop(addr->len == 4 ? AF_INET : AF_INET6, addr->data, a, sizeof(a));
        snprintf(b, sizeof(buf[0]), family == AF_INET6 ? "[%s]:%u" : "%s:%u", a, port);
        return b;
}


/* sockaddr -> address bytes and port */
static void from_sockaddr(const struct sockaddr_storage *ss, ProtobufCBinaryData *addr, uint32_t *port) {
        if (ss->ss_family == AF_INET) {
                const struct sockaddr_in *in = (const void *)ss;
                pb_bytes_set(addr, &in->sin_addr, 4);
                *port = ntohs(in->sin_port);
        } else if (ss->ss_family == AF_INET6) {
                const struct sockaddr_in6 *in6 = (const void *)ss;
                pb_bytes_set(addr, &in6->sin6_addr, 16);
                *port = ntohs(in6->sin6_port);
        }
}

static socklen_t to_sockaddr(uint32_t family, const ProtobufCBinaryData *addr, uint32_t port,
                             struct sockaddr_storage *ss) {
        memset(ss, 0, sizeof(*ss));
        if (family == AF_INET) {
                struct sockaddr_in *in = (void *)ss;
                in->sin_family = AF_INET;
                in->sin_port = htons(port);
                if (addr->len == 4)
                        memcpy(&in->sin_addr, addr->data, 4);
                return sizeof(*in);
        }
        struct sockaddr_in6 *in6 = (void *)ss;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(port);
        if (addr->len == 16)
                memcpy(&in6->sin6_addr, addr->data, 16);
        return sizeof(*in6);
}

/* The kernel's defaults for the buffers of a new socket. */
static int sysctl_int(const char *path, int field) {
        _cleanup_free_ char *t = NULL;
        int v[3] = { 0, 0, 0 };
        if (read_full_file(path, &t, NULL) < 0)
                return 0;
        sscanf(t, "%d %d %d", &v[0], &v[1], &v[2]);
        return v[field];
}

static bool inet_match(const struct fd_dump_info *fi) {
        int dom, type, proto;
        if (!S_ISSOCK(fi->st.st_mode) || fi->lfd < 0)
                return false;
        if (gso(fi->lfd, SOL_SOCKET, SO_DOMAIN, &dom) < 0 || (dom != AF_INET && dom != AF_INET6))
                return false;
        if (gso(fi->lfd, SOL_SOCKET, SO_TYPE, &type) < 0 || gso(fi->lfd, SOL_SOCKET, SO_PROTOCOL, &proto) < 0)
                return false;
        return (type == SOCK_STREAM && proto == IPPROTO_TCP) || (type == SOCK_DGRAM && proto == IPPROTO_UDP);
}

/* ------------------------------------------------------------------ dump */

static void dump_opts(int fd, InetEntry *e) {
        struct linger lg = {};
        struct timeval tv = {};
        socklen_t l;
        int v;

        if (gso(fd, SOL_SOCKET, SO_REUSEADDR, &v) == 0)
                e->reuseaddr = !!v;
        if (gso(fd, SOL_SOCKET, SO_REUSEPORT, &v) == 0)
                e->reuseport = !!v;
        if (e->family == AF_INET6 && gso(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v) == 0)
                e->v6only = !!v;
        if (gso(fd, SOL_SOCKET, SO_KEEPALIVE, &v) == 0)
                e->keepalive = !!v;
        if (gso(fd, SOL_SOCKET, SO_PRIORITY, &v) == 0)
                e->priority = v;
        if (gso(fd, SOL_SOCKET, SO_MARK, &v) == 0)
                e->mark = v;
        if (gso(fd, SOL_SOCKET, SO_BROADCAST, &v) == 0)
                e->broadcast = !!v;
        if (e->family == AF_INET ? gso(fd, IPPROTO_IP, IP_TOS, &v) == 0 : gso(fd, IPPROTO_IPV6, IPV6_TCLASS, &v) == 0)
                e->tos = v;
        if (gso(fd, IPPROTO_IP, IP_FREEBIND, &v) == 0)
                e->freebind = !!v;
        l = sizeof(lg);
        if (getsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, &l) == 0) {
                e->linger_on = !!lg.l_onoff;
                e->linger = lg.l_linger;
        }
        l = sizeof(tv);
        if (getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, &l) == 0)
                e->rcvtimeo_us = (uint64_t)tv.tv_sec * 1000000 + tv.tv_usec;
        l = sizeof(tv);
        if (getsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, &l) == 0)
                e->sndtimeo_us = (uint64_t)tv.tv_sec * 1000000 + tv.tv_usec;
        if (gso(fd, SOL_SOCKET, SO_PEEK_OFF, &v) == 0)
                e->peek_off = v;
        if (e->proto == IPPROTO_TCP) {
                if (gso(fd, IPPROTO_TCP, TCP_NODELAY, &v) == 0)
                        e->nodelay = !!v;
                if (gso(fd, IPPROTO_TCP, TCP_CORK, &v) == 0)
                        e->cork = !!v;
                if (gso(fd, IPPROTO_TCP, TCP_KEEPIDLE, &v) == 0)
                        e->keepidle = v;
                if (gso(fd, IPPROTO_TCP, TCP_KEEPINTVL, &v) == 0)
                        e->keepintvl = v;
                if (gso(fd, IPPROTO_TCP, TCP_KEEPCNT, &v) == 0)
                        e->keepcnt = v;
                if (gso(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &v) == 0)
                        e->user_timeout = v;
        }
        /* buffers: only when they are not what a new socket gets */
        if (e->state != TCP_ESTABLISHED || e->proto == IPPROTO_UDP) {
                int drcv = e->proto == IPPROTO_TCP ? sysctl_int("/proc/sys/net/ipv4/tcp_rmem", 1)
                                                   : sysctl_int("/proc/sys/net/core/rmem_default", 0);
                int dsnd = e->proto == IPPROTO_TCP ? sysctl_int("/proc/sys/net/ipv4/tcp_wmem", 1)
                                                   : sysctl_int("/proc/sys/net/core/wmem_default", 0);
                if (gso(fd, SOL_SOCKET, SO_RCVBUF, &v) == 0 && v != drcv)
                        e->rcvbuf = v;
                if (gso(fd, SOL_SOCKET, SO_SNDBUF, &v) == 0 && v != dsnd)
                        e->sndbuf = v;
        }
}

static UdpMsgEntry *add_dgram(InetEntry *e, const void *data, size_t len, const struct sockaddr_storage *from) {
        UdpMsgEntry *m = xzalloc(sizeof(*m));
        udp_msg_entry__init(m);
        pb_bytes_set(&m->data, data, len);
        from_sockaddr(from, &m->src_addr, &m->src_port);
        e->queue = xrealloc_array(e->queue, e->n_queue + 1, sizeof(*e->queue));
        e->queue[e->n_queue++] = m;
        return m;
}

/* The datagrams waiting on a UDP socket, without consuming them. */
static int peek_udp(const struct fd_dump_info *fi, InetEntry *e) {
        const size_t cap = 65536;
        _cleanup_free_ char *buf = xzalloc(cap);
        uint64_t total = 0;
        int r;

        if (e->peek_off != -1)
                return log_error_errno(-ENOTSUP, "pid %d: fd %d is a UDP socket using SO_PEEK_OFF, not supported yet",
                                       fi->pid, fi->fd);
        r = sso(fi->lfd, SOL_SOCKET, SO_PEEK_OFF, 0);
        if (r < 0)
                return log_error_errno(r, "pid %d: fd %d: cannot set SO_PEEK_OFF on UDP socket: %m", fi->pid, fi->fd);
        for (;;) {
                struct sockaddr_storage from = {};
                struct iovec iov = { .iov_base = buf, .iov_len = cap };
                struct msghdr msg = { .msg_name = &from, .msg_namelen = sizeof(from), .msg_iov = &iov, .msg_iovlen = 1 };
                ssize_t n = recvmsg(fi->lfd, &msg, MSG_PEEK | MSG_DONTWAIT | MSG_TRUNC);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                break;
                        r = log_error_errno(-errno, "pid %d: fd %d: cannot peek into UDP socket queue: %m", fi->pid,
                                            fi->fd);
                        goto out;
                }
                if ((size_t)n > cap) {
                        r = log_error_errno(-ENOTSUP, "pid %d: fd %d: UDP socket has a %zd-byte datagram queued, not supported",
                                            fi->pid, fi->fd, n);
                        goto out;
                }
                add_dgram(e, buf, n, &from);
                total += n + 64;
                if (total > UDP_QUEUE_MAX) {
                        r = log_error_errno(-E2BIG, "pid %d: fd %d: UDP socket queue too large", fi->pid, fi->fd);
                        goto out;
                }
        }
        r = 0;
out:
        if (sso(fi->lfd, SOL_SOCKET, SO_PEEK_OFF, -1) < 0 && r == 0)
                r = log_error_errno(-errno, "pid %d: fd %d: cannot reset SO_PEEK_OFF: %m", fi->pid, fi->fd);
        if (r == 0 && e->n_queue)
                log_debug("pid %d: fd %d: %zu datagrams queued", fi->pid, fi->fd, e->n_queue);
        return r;
}

static int inet_dump(struct dump_ctx *ctx, const struct fd_dump_info *fi, FileEntry *fe) {
        struct sockaddr_storage ss;
        socklen_t l;
        int v, r;

        InetEntry *e = xzalloc(sizeof(*e));
        inet_entry__init(e);
        fe->inet = e;

        if (gso(fi->lfd, SOL_SOCKET, SO_DOMAIN, &v) < 0)
                return log_error_errno(-errno, "pid %d: fd %d: cannot read the socket family: %m", fi->pid, fi->fd);
        e->family = v;
        gso(fi->lfd, SOL_SOCKET, SO_TYPE, &v);
        e->type = v;
        gso(fi->lfd, SOL_SOCKET, SO_PROTOCOL, &v);
        e->proto = v;
        l = sizeof(ss);
        if (getsockname(fi->lfd, (struct sockaddr *)&ss, &l) < 0)
                return log_error_errno(-errno, "pid %d: fd %d: cannot read the socket's address: %m", fi->pid, fi->fd);
        from_sockaddr(&ss, &e->src_addr, &e->src_port);
        l = sizeof(ss);
        bool connected = getpeername(fi->lfd, (struct sockaddr *)&ss, &l) == 0;
        if (connected)
                from_sockaddr(&ss, &e->dst_addr, &e->dst_port);
        const char *proto = e->proto == IPPROTO_TCP ? "TCP" : "UDP";

        if (e->proto == IPPROTO_TCP) {
                struct tcp_info ti = {};
                l = sizeof(ti);
                if (getsockopt(fi->lfd, IPPROTO_TCP, TCP_INFO, &ti, &l) < 0)
                        return log_error_errno(-errno, "pid %d: fd %d: cannot read TCP_INFO: %m", fi->pid, fi->fd);
                e->state = ti.tcpi_state;
                switch (e->state) {
                case TCP_LISTEN:
                        e->backlog = ti.tcpi_sacked; /* sk_max_ack_backlog for a listener */
                        if (ti.tcpi_unacked > 0)
                                return log_error_errno(-ENOTSUP,
                                                       "pid %d: fd %d is a listening TCP socket (%s) with %u "
                                                       "connection(s) waiting to be accepted, not supported",
                                                       fi->pid, fi->fd, addr_str(e->family, &e->src_addr, e->src_port),
                                                       ti.tcpi_unacked);
                        break;
                case TCP_CLOSE:
                        break;
                case TCP_ESTABLISHED: {
                        if (!ctx->opts.tcp_established)
                                return log_error_errno(-ENOTSUP,
                                                       "pid %d: fd %d is an established TCP connection (%s -> %s); use "
                                                       "--tcp-established",
                                                       fi->pid, fi->fd, addr_str(e->family, &e->src_addr, e->src_port),
                                                       addr_str(e->family, &e->dst_addr, e->dst_port));
                        socklen_t fl = 0;
                        if (getsockopt(fi->lfd, SOL_SOCKET, SO_GET_FILTER, NULL, &fl) == 0 && fl > 0)
                                return log_error_errno(-ENOTSUP,
                                                       "pid %d: fd %d is an established TCP connection (%s -> %s) with "
                                                       "a socket filter attached, not supported",
                                                       fi->pid, fi->fd, addr_str(e->family, &e->src_addr, e->src_port),
                                                       addr_str(e->family, &e->dst_addr, e->dst_port));
                        e->tcp = xzalloc(sizeof(*e->tcp));
                        tcp_stream_entry__init(e->tcp); /* read in inet_dump_finish() */
                        break;
                }
                default:
                        return log_error_errno(-ENOTSUP,
                                               "pid %d: fd %d is a TCP connection in state %s (%s -> %s), not "
                                               "supported",
                                               fi->pid, fi->fd, tcp_state_name(e->state),
                                               addr_str(e->family, &e->src_addr, e->src_port),
                                               addr_str(e->family, &e->dst_addr, e->dst_port));
                }
        } else
                e->state = connected ? TCP_ESTABLISHED : TCP_CLOSE;
        dump_opts(fi->lfd, e);
        if (e->proto == IPPROTO_UDP) {
                r = peek_udp(fi, e);
                if (r < 0)
                        return r;
        }
        log_debug("pid %d: fd %d: %s %s socket %s -> %s, state %s", fi->pid, fi->fd, proto,
                  e->family == AF_INET ? "IPv4" : "IPv6", addr_str(e->family, &e->src_addr, e->src_port),
                  connected ? addr_str(e->family, &e->dst_addr, e->dst_port) : "-", tcp_state_name(e->state));
        return 0;
}

/* ----------------------------------------------------- TCP repair (dump) */

struct locked_sk {
        FileEntry *fe;
        int fd;
        pid_t pid;
        int pfd;       /* the fd number in pid, for messages */
        bool filtered; /* drop filter attached */
        bool repair;   /* in repair mode */
};

static int attach_drop(int fd) {
        struct sock_filter drop[] = { BPF_STMT(BPF_RET | BPF_K, 0) };
        struct sock_fprog prog = { .len = 1, .filter = drop };
        if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0)
                return -errno;
        return 0;
}

/* Undoes the lock of one socket (the connection goes on). */
static void unlock_one(int fd, bool filtered, bool repair, bool reuseaddr) {
        if (repair) {
                int off = TCP_REPAIR_OFF; /* with a window probe: the peer answers, we catch up */
                setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &off, sizeof(off));
                /* leaving repair mode resets sk_reuse */
                sso(fd, SOL_SOCKET, SO_REUSEADDR, reuseaddr);
        }
        if (filtered)
                sso(fd, SOL_SOCKET, SO_DETACH_FILTER, 0);
}

static int peek_tcp_queue(struct locked_sk *l, int queue, uint32_t *ret_seq, uint32_t len, ProtobufCBinaryData *ret) {
        socklen_t sl = sizeof(*ret_seq);
        if (sso(l->fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, queue) < 0 ||
            getsockopt(l->fd, IPPROTO_TCP, TCP_QUEUE_SEQ, ret_seq, &sl) < 0)
                return log_error_errno(-errno, "pid %d: fd %d: cannot read the TCP %s queue sequence: %m", l->pid,
                                       l->pfd, queue == TCP_RECV_QUEUE ? "receive" : "send");
        if (!len)
                return 0;
        /* one byte more than there should be, to be sure there is no more */
        _cleanup_free_ uint8_t *buf = xzalloc((size_t)len + 1);
        ssize_t n = recv(l->fd, buf, (size_t)len + 1, MSG_PEEK | MSG_DONTWAIT);
        if (n != (ssize_t)len)
                return log_error_errno(n < 0 ? -errno : -EIO, "pid %d: fd %d: read %zd of the %u bytes of the TCP %s queue: %m",
                                       l->pid, l->pfd, n, len, queue == TCP_RECV_QUEUE ? "receive" : "send");
        ret->len = len;
        ret->data = TAKE_PTR(buf);
        return 0;
}

/* Reads a locked connection in repair mode. */
static int snapshot(struct locked_sk *l) {
        InetEntry *e = l->fe->inet;
        TcpStreamEntry *t = e->tcp;
        struct tcp_info ti = {};
        struct tcp_repair_window w;
        socklen_t sl = sizeof(ti);
        int v, inq, outq, unsq, peek_off = -1, r;

        if (getsockopt(l->fd, IPPROTO_TCP, TCP_INFO, &ti, &sl) < 0)
                return log_error_errno(-errno, "pid %d: fd %d: cannot read TCP_INFO: %m", l->pid, l->pfd);
        if (ti.tcpi_state != TCP_ESTABLISHED)
                return log_error_errno(-EAGAIN, "pid %d: fd %d: the TCP connection (%s -> %s) went to state %s during the dump",
                                       l->pid, l->pfd, addr_str(e->family, &e->src_addr, e->src_port),
                                       addr_str(e->family, &e->dst_addr, e->dst_port), tcp_state_name(ti.tcpi_state));
        if (ioctl(l->fd, SIOCINQ, &inq) < 0 || ioctl(l->fd, SIOCOUTQ, &outq) < 0 ||
            ioctl(l->fd, SIOCOUTQNSD, &unsq) < 0)
                return log_error_errno(-errno, "pid %d: fd %d: cannot read the TCP queue lengths: %m", l->pid, l->pfd);
        t->inq_len = inq;
        t->outq_len = outq;
        t->unsq_len = unsq;
        /* peek from the start of the queue, whatever the application's offset */
        gso(l->fd, SOL_SOCKET, SO_PEEK_OFF, &peek_off);
        if (peek_off != -1)
                sso(l->fd, SOL_SOCKET, SO_PEEK_OFF, -1);
        r = peek_tcp_queue(l, TCP_RECV_QUEUE, &t->inq_seq, t->inq_len, &t->inq);
        if (r >= 0)
                r = peek_tcp_queue(l, TCP_SEND_QUEUE, &t->outq_seq, t->outq_len, &t->outq);
        sso(l->fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_NO_QUEUE);
        if (peek_off != -1)
                sso(l->fd, SOL_SOCKET, SO_PEEK_OFF, peek_off);
        if (r < 0)
                return r;
        if (gso(l->fd, IPPROTO_TCP, TCP_MAXSEG, &v) < 0)
                return log_error_errno(-errno, "pid %d: fd %d: cannot read the MSS: %m", l->pid, l->pfd);
        t->mss_clamp = v;
        t->opt_mask = ti.tcpi_options;
        if (ti.tcpi_options & TCPI_OPT_WSCALE) {
                t->snd_wscale = ti.tcpi_snd_wscale;
                t->rcv_wscale = ti.tcpi_rcv_wscale;
        }
        if (ti.tcpi_options & TCPI_OPT_TIMESTAMPS) {
                if (gso(l->fd, IPPROTO_TCP, TCP_TIMESTAMP, &v) < 0)
                        return log_error_errno(-errno, "pid %d: fd %d: cannot read TCP_TIMESTAMP: %m", l->pid, l->pfd);
                t->timestamp = v;
        }
        sl = sizeof(w);
        if (getsockopt(l->fd, IPPROTO_TCP, TCP_REPAIR_WINDOW, &w, &sl) == 0) {
                t->has_window = true;
                t->snd_wl1 = w.snd_wl1;
                t->snd_wnd = w.snd_wnd;
                t->max_window = w.max_window;
                t->rcv_wnd = w.rcv_wnd;
                t->rcv_wup = w.rcv_wup;
        }
        log_debug("pid %d: fd %d: TCP %s -> %s: rcv_nxt %u (%u unread), write_seq %u (%u queued, %u unsent), mss %u, "
                  "options %#x, wscale %u/%u",
                  l->pid, l->pfd, addr_str(e->family, &e->src_addr, e->src_port),
                  addr_str(e->family, &e->dst_addr, e->dst_port), t->inq_seq, t->inq_len, t->outq_seq, t->outq_len,
                  t->unsq_len, t->mss_clamp, t->opt_mask, t->snd_wscale, t->rcv_wscale);
        return 0;
}

static void lock_name(uint64_t ckpt_id, struct sockaddr_un *sa, socklen_t *len) {
        *sa = (struct sockaddr_un){ .sun_family = AF_UNIX };
        int n = snprintf(sa->sun_path + 1, sizeof(sa->sun_path) - 1, "cryo-tcp-lock-%016llx",
                         (unsigned long long)ckpt_id);
        *len = offsetof(struct sockaddr_un, sun_path) + 1 + n;
}

/* The holder: runs once cryo is gone (its end of `alive` closes). If the
 * dump did not complete (no inventory.img) the tree was resumed: unlock.
 * Otherwise keep the sockets, locked, until restore asks for them to be
 * closed, or LOCK_HOLD_MAX_S passes. */
static void __attribute__((noreturn))
holder_main(struct locked_sk *ls, size_t n, int alive, int srv, int dirfd) {
        struct pollfd p = { .fd = alive, .events = POLLIN };
        char c;

        prctl(PR_SET_NAME, "cryo-tcp-lock", 0, 0, 0);
        prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0);
        while (poll(&p, 1, -1) < 0 && errno == EINTR)
                ;
        while (read(alive, &c, 1) > 0)
                ;
        if (faccessat(dirfd, "inventory.img", F_OK, 0) < 0) {
                for (size_t i = 0; i < n; i++)
                        unlock_one(ls[i].fd, true, true, ls[i].fe->inet->reuseaddr);
                _exit(0);
        }
        close(dirfd);
        struct timespec end, now;
        clock_gettime(CLOCK_MONOTONIC, &end);
        end.tv_sec += LOCK_HOLD_MAX_S;
        for (;;) {
                clock_gettime(CLOCK_MONOTONIC, &now);
                long ms = (end.tv_sec - now.tv_sec) * 1000 + (end.tv_nsec - now.tv_nsec) / 1000000;
                if (ms <= 0)
                        break;
                struct pollfd q = { .fd = srv, .events = POLLIN };
                int k = poll(&q, 1, (int)MIN(ms, 60000L));
                if (k <= 0)
                        continue;
                int cfd = accept4(srv, NULL, NULL, SOCK_CLOEXEC);
                if (cfd < 0)
                        continue;
                char req[16] = "";
                struct pollfd rq = { .fd = cfd, .events = POLLIN };
                if (poll(&rq, 1, 2000) == 1 && read(cfd, req, sizeof(req) - 1) > 0 && strcmp(req, "release") == 0) {
                        /* hand the sockets over (restore takes back those whose
                         * peer is outside the tree), then close ours: the last
                         * close happens in repair mode, no FIN, no RST */
                        for (size_t i = 0; i < n; i += HANDOVER_MAX) {
                                size_t cnt = MIN(n - i, (size_t)HANDOVER_MAX);
                                uint32_t ids[HANDOVER_MAX];
                                char cbuf[CMSG_SPACE(sizeof(int) * HANDOVER_MAX)] = {};
                                struct iovec iov = { ids, cnt * sizeof(uint32_t) };
                                struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
                                                    .msg_controllen = CMSG_SPACE(sizeof(int) * cnt) };
                                struct cmsghdr *h = CMSG_FIRSTHDR(&m);
                                h->cmsg_level = SOL_SOCKET;
                                h->cmsg_type = SCM_RIGHTS;
                                h->cmsg_len = CMSG_LEN(sizeof(int) * cnt);
                                for (size_t j = 0; j < cnt; j++) {
                                        ids[j] = ls[i + j].fe->id;
                                        memcpy(CMSG_DATA(h) + j * sizeof(int), &ls[i + j].fd, sizeof(int));
                                }
                                if (sendmsg(cfd, &m, MSG_NOSIGNAL) < 0)
                                        break;
                        }
                        for (size_t i = 0; i < n; i++)
                                close(ls[i].fd);
                        if (write(cfd, "released", 8) < 0)
                                _exit(1);
                        _exit(0);
                }
                close(cfd);
        }
        _exit(0);
}

/* Forks the holder of the locked connections (see the top of the file). */
static int start_holder(struct dump_ctx *ctx, struct locked_sk *ls, size_t n) {
        _cleanup_close_ int srv = -EBADF;
        struct sockaddr_un sa;
        socklen_t len;
        int alive[2];

        srv = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (srv < 0)
                return log_error_errno(-errno, "cannot create the TCP lock holder's socket: %m");
        lock_name(ctx->ckpt_id, &sa, &len);
        if (bind(srv, (struct sockaddr *)&sa, len) < 0 || listen(srv, 4) < 0)
                return log_error_errno(-errno, "cannot bind the TCP lock holder's socket: %m");
        if (pipe2(alive, O_CLOEXEC) < 0)
                return log_error_errno(-errno, "cannot create a pipe: %m");
        pid_t pid = fork();
        if (pid < 0) {
                int r = log_error_errno(-errno, "cannot fork the TCP lock holder: %m");
                close(alive[0]);
                close(alive[1]);
                return r;
        }
        if (pid == 0) {
                /* keep only what the holder needs; it can be killed */
                sigset_t none;
                sigemptyset(&none);
                sigprocmask(SIG_SETMASK, &none, NULL);
                signal(SIGTERM, SIG_DFL);
                signal(SIGINT, SIG_DFL);
                setsid();
                signal(SIGPIPE, SIG_IGN);
                int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
                if (nul >= 0) {
                        dup2(nul, 0);
                        dup2(nul, 1);
                        dup2(nul, 2);
                }
                DIR *d = opendir("/proc/self/fd");
                struct dirent *de;
                int dfd = d ? dirfd(d) : -1;
                while (d && (de = readdir(d))) {
                        int fd;
                        bool keep = false;
                        if (parse_int(de->d_name, &fd) < 0 || fd <= 2 || fd == dfd)
                                continue;
                        for (size_t i = 0; i < n; i++)
                                keep |= ls[i].fd == fd;
                        keep |= fd == alive[0] || fd == srv || fd == ctx->dirfd;
                        if (!keep)
                                close(fd);
                }
                if (d)
                        closedir(d);
                holder_main(ls, n, alive[0], srv, ctx->dirfd);
        }
        close(alive[0]);
        /* cryo keeps the write end until it exits (close-on-exec, never written) */
        log_info("%zu established TCP connection(s) stay locked by pid %d (cryo-tcp-lock) until restore, at most %d "
                 "minutes",
                 n, pid, LOCK_HOLD_MAX_S / 60);
        return 0;
}

static int inet_lock_key(struct dump_ctx *ctx, uint32_t id, pid_t *ret_pid, int *ret_fd) {
        *ret_pid = 0;
        for (size_t i = 0; i < ctx->nkeys; i++)
                if (ctx->keys[i].id == id && ctx->keys[i].fd >= 0 && (*ret_pid == 0 || *ret_pid == getpid())) {
                        *ret_pid = ctx->keys[i].pid;
                        *ret_fd = ctx->keys[i].fd;
                }
        return *ret_pid ? 0 : -ENOENT;
}

int inet_dump_finish(struct dump_ctx *ctx) {
        _cleanup_free_ struct locked_sk *ls = NULL;
        size_t n = 0;
        int r = 0;

        for (size_t i = 0; i < ctx->nfiles; i++)
                if (ctx->files[i]->kind == FILE_KIND__FK_INET && ctx->files[i]->inet && ctx->files[i]->inet->tcp)
                        n++;
        if (!n)
                return 0;
        ls = xzalloc(n * sizeof(*ls));
        n = 0;
        for (size_t i = 0; i < ctx->nfiles; i++) {
                FileEntry *fe = ctx->files[i];
                if (fe->kind != FILE_KIND__FK_INET || !fe->inet || !fe->inet->tcp)
                        continue;
                struct locked_sk *l = &ls[n++];
                l->fe = fe;
                l->fd = -EBADF;
                if (inet_lock_key(ctx, fe->id, &l->pid, &l->pfd) < 0) {
                        r = log_error_errno(-EINVAL, "file %u: no holder found for a TCP connection", fe->id);
                        goto fail;
                }
                l->fd = files_dump_getfd(l->pid, l->pfd);
                if (l->fd < 0) {
                        r = log_error_errno(l->fd, "pid %d: fd %d: cannot get the TCP socket again: %m", l->pid, l->pfd);
                        goto fail;
                }
        }
        /* 1. lock every connection, then 2. read them */
        for (size_t i = 0; i < n; i++) {
                r = attach_drop(ls[i].fd);
                if (r < 0) {
                        log_error_errno(r, "pid %d: fd %d: cannot lock the TCP connection (socket filter): %m",
                                        ls[i].pid, ls[i].pfd);
                        goto fail;
                }
                ls[i].filtered = true;
                r = sso(ls[i].fd, IPPROTO_TCP, TCP_REPAIR, TCP_REPAIR_ON);
                if (r < 0) {
                        log_error_errno(r, "pid %d: fd %d: cannot put the TCP connection in repair mode (TCP_REPAIR, "
                                           "needs CAP_NET_ADMIN): %m",
                                        ls[i].pid, ls[i].pfd);
                        goto fail;
                }
                ls[i].repair = true;
        }
        for (size_t i = 0; i < n; i++) {
                r = snapshot(&ls[i]);
                if (r < 0)
                        goto fail;
        }
        if (ctx->opts.leave_running) {
                for (size_t i = 0; i < n; i++)
                        unlock_one(ls[i].fd, true, true, ls[i].fe->inet->reuseaddr);
        } else {
                r = start_holder(ctx, ls, n);
                if (r < 0)
                        goto fail;
        }
        for (size_t i = 0; i < n; i++)
                safe_close(ls[i].fd);
        return 0;
fail:
        for (size_t i = 0; i < n; i++) {
                if (ls[i].fd < 0)
                        continue;
                unlock_one(ls[i].fd, ls[i].filtered, ls[i].repair, ls[i].fe->inet->reuseaddr);
                safe_close(ls[i].fd);
        }
        return r;
}

/* --------------------------------------------------------------- restore */

static int set_common_opts(const FileEntry *fe, int fd) {
        const InetEntry *e = fe->inet;
        int r = 0;

        if (e->keepalive)
                r = r ?: sso(fd, SOL_SOCKET, SO_KEEPALIVE, 1);
        if (e->priority)
                r = r ?: sso(fd, SOL_SOCKET, SO_PRIORITY, e->priority);
        if (e->mark)
                r = r ?: sso(fd, SOL_SOCKET, SO_MARK, e->mark);
        if (e->broadcast)
                r = r ?: sso(fd, SOL_SOCKET, SO_BROADCAST, 1);
        if (e->tos)
                r = r ?: (e->family == AF_INET ? sso(fd, IPPROTO_IP, IP_TOS, e->tos)
                                               : sso(fd, IPPROTO_IPV6, IPV6_TCLASS, e->tos));
        if (e->freebind)
                r = r ?: sso(fd, IPPROTO_IP, IP_FREEBIND, 1);
        if (e->linger_on) {
                struct linger lg = { .l_onoff = 1, .l_linger = e->linger };
                if (!r && setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) < 0)
                        r = -errno;
        }
        if (e->rcvtimeo_us) {
                struct timeval tv = { .tv_sec = e->rcvtimeo_us / 1000000, .tv_usec = e->rcvtimeo_us % 1000000 };
                if (!r && setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
                        r = -errno;
        }
        if (e->sndtimeo_us) {
                struct timeval tv = { .tv_sec = e->sndtimeo_us / 1000000, .tv_usec = e->sndtimeo_us % 1000000 };
                if (!r && setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
                        r = -errno;
        }
        if (e->proto == IPPROTO_TCP) {
                if (e->nodelay)
                        r = r ?: sso(fd, IPPROTO_TCP, TCP_NODELAY, 1);
                if (e->cork)
                        r = r ?: sso(fd, IPPROTO_TCP, TCP_CORK, 1);
                if (e->keepidle)
                        r = r ?: sso(fd, IPPROTO_TCP, TCP_KEEPIDLE, e->keepidle);
                if (e->keepintvl)
                        r = r ?: sso(fd, IPPROTO_TCP, TCP_KEEPINTVL, e->keepintvl);
                if (e->keepcnt)
                        r = r ?: sso(fd, IPPROTO_TCP, TCP_KEEPCNT, e->keepcnt);
                if (e->user_timeout)
                        r = r ?: sso(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, e->user_timeout);
        }
        if (e->rcvbuf) {
                int rr = sso(fd, SOL_SOCKET, SO_RCVBUFFORCE, e->rcvbuf / 2);
                r = r ?: (rr == -EPERM ? sso(fd, SOL_SOCKET, SO_RCVBUF, e->rcvbuf / 2) : rr);
        }
        if (e->sndbuf) {
                int rr = sso(fd, SOL_SOCKET, SO_SNDBUFFORCE, e->sndbuf / 2);
                r = r ?: (rr == -EPERM ? sso(fd, SOL_SOCKET, SO_SNDBUF, e->sndbuf / 2) : rr);
        }
        if (r < 0)
                return log_error_errno(r, "file %u: cannot set the socket options: %m", fe->id);
        return 0;
}

/* Options that must precede bind(). */
static int pre_bind_opts(const FileEntry *fe, int fd, bool force_reuse) {
        const InetEntry *e = fe->inet;
        int r = 0;
        if (e->family == AF_INET6)
                r = sso(fd, IPPROTO_IPV6, IPV6_V6ONLY, e->v6only);
        if (!r && (e->reuseaddr || force_reuse))
                r = sso(fd, SOL_SOCKET, SO_REUSEADDR, 1);
        if (!r && e->reuseport)
                r = sso(fd, SOL_SOCKET, SO_REUSEPORT, 1);
        if (r < 0)
                return log_error_errno(r, "file %u: cannot set SO_REUSEADDR/SO_REUSEPORT/IPV6_V6ONLY: %m", fe->id);
        return 0;
}

static int do_bind(const FileEntry *fe, int fd) {
        const InetEntry *e = fe->inet;
        struct sockaddr_storage ss;
        socklen_t l = to_sockaddr(e->family, &e->src_addr, e->src_port, &ss);
        if (bind(fd, (struct sockaddr *)&ss, l) < 0)
                return log_error_errno(-errno, "file %u: cannot bind the %s socket to %s: %m", fe->id,
                                       e->proto == IPPROTO_TCP ? "TCP" : "UDP",
                                       addr_str(e->family, &e->src_addr, e->src_port));
        return 0;
}

static uint32_t csum_add(uint32_t sum, const void *p, size_t len) {
        const uint8_t *b = p;
        for (size_t i = 0; i + 1 < len; i += 2)
                sum += (uint32_t)b[i] << 8 | b[i + 1];
        if (len & 1)
                sum += (uint32_t)b[len - 1] << 8;
        return sum;
}

static uint16_t csum_fold(uint32_t sum) {
        while (sum >> 16)
                sum = (sum & 0xffff) + (sum >> 16);
        return (uint16_t)~sum;
}

static bool v4mapped(const ProtobufCBinaryData *a) {
        static const uint8_t pfx[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
        return a->len == 16 && memcmp(a->data, pfx, 12) == 0;
}

/* Sends one datagram to dst:dport from src:sport, from a raw socket. */
static int forge_udp(const ProtobufCBinaryData *data, const ProtobufCBinaryData *src, uint32_t sport, int family,
                     const uint8_t *dst, uint32_t dport) {
        _cleanup_close_ int raw = -EBADF;
        size_t len = data->len;
        struct udphdr uh = { .source = htons(sport), .dest = htons(dport), .len = htons(sizeof(uh) + len) };
        struct sockaddr_storage ss = {};
        struct iovec iov[3];
        socklen_t sl;

        if (family == AF_INET) {
                struct iphdr ih = { .ihl = 5, .version = 4, .ttl = 64, .protocol = IPPROTO_UDP };
                if (len > 65535 - sizeof(ih) - sizeof(uh))
                        return -EMSGSIZE;
                memcpy(&ih.saddr, src->data, 4);
                memcpy(&ih.daddr, dst, 4);
                ih.tot_len = htons(sizeof(ih) + sizeof(uh) + len);
                raw = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
                if (raw < 0)
                        return -errno;
                struct sockaddr_in *in = (void *)&ss;
                in->sin_family = AF_INET;
                memcpy(&in->sin_addr, dst, 4);
                sl = sizeof(*in);
                iov[0] = (struct iovec){ &ih, sizeof(ih) };
                iov[1] = (struct iovec){ &uh, sizeof(uh) };
                iov[2] = (struct iovec){ data->data, len };
                struct msghdr msg = { .msg_name = &ss, .msg_namelen = sl, .msg_iov = iov, .msg_iovlen = 3 };
                return sendmsg(raw, &msg, 0) < 0 ? -errno : 0;
        }
        struct ip6_hdr h6 = {};
        if (len > 65535 - sizeof(uh))
                return -EMSGSIZE;
        h6.ip6_flow = htonl(6u << 28);
        h6.ip6_plen = htons(sizeof(uh) + len);
        h6.ip6_nxt = IPPROTO_UDP;
        h6.ip6_hlim = 64;
        memcpy(&h6.ip6_src, src->data, 16);
        memcpy(&h6.ip6_dst, dst, 16);
        /* the checksum is mandatory over IPv6: pseudo-header + header + data */
        uint32_t sum = 0, ulen = htonl(sizeof(uh) + len), nxt = htonl(IPPROTO_UDP);
        sum = csum_add(sum, &h6.ip6_src, 16);
        sum = csum_add(sum, &h6.ip6_dst, 16);
        sum = csum_add(sum, &ulen, 4);
        sum = csum_add(sum, &nxt, 4);
        sum = csum_add(sum, &uh, sizeof(uh));
        sum = csum_add(sum, data->data, len);
        uh.check = htons(csum_fold(sum)) ?: 0xffff;
        raw = socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
        if (raw < 0)
                return -errno;
        struct sockaddr_in6 *in6 = (void *)&ss;
        in6->sin6_family = AF_INET6;
        memcpy(&in6->sin6_addr, dst, 16);
        sl = sizeof(*in6);
        iov[0] = (struct iovec){ &h6, sizeof(h6) };
        iov[1] = (struct iovec){ &uh, sizeof(uh) };
        iov[2] = (struct iovec){ data->data, len };
        struct msghdr msg = { .msg_name = &ss, .msg_namelen = sl, .msg_iov = iov, .msg_iovlen = 3 };
        return sendmsg(raw, &msg, 0) < 0 ? -errno : 0;
}

/* Without raw sockets: from the source address if it can be bound. */
static int plain_udp(const FileEntry *fe, size_t k, const ProtobufCBinaryData *src, int family, const uint8_t *dst,
                     uint32_t dport) {
        const UdpMsgEntry *m = fe->inet->queue[k];
        _cleanup_close_ int s = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        struct sockaddr_storage from, to;
        ProtobufCBinaryData d = { .len = family == AF_INET ? 4 : 16, .data = (uint8_t *)dst };
        socklen_t sl;

        if (s < 0)
                return -errno;
        sso(s, SOL_SOCKET, SO_REUSEADDR, 1);
        sl = to_sockaddr(family, src, m->src_port, &from);
        if (bind(s, (struct sockaddr *)&from, sl) < 0)
                log_warn("file %u: datagram %zu came from %s, which cannot be bound (%m): restored with another "
                         "source",
                         fe->id, k, addr_str(family, src, m->src_port));
        sl = to_sockaddr(family, &d, dport, &to);
        if (sendto(s, m->data.data, m->data.len, 0, (struct sockaddr *)&to, sl) < 0)
                return -errno;
        return 0;
}

static int count_queued(int fd, size_t want) {
        static char buf[65536];
        size_t n = 0;
        if (sso(fd, SOL_SOCKET, SO_PEEK_OFF, 0) < 0)
                return -errno;
        while (n < want && recv(fd, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT | MSG_TRUNC) >= 0)
                n++;
        sso(fd, SOL_SOCKET, SO_PEEK_OFF, -1);
        return (int)n;
}

/* Puts the saved datagrams back into the receive queue of fd (bound, not
 * yet connected). */
static int fill_udp(const FileEntry *fe, int fd) {
        const InetEntry *e = fe->inet;
        uint8_t dst[16];
        int r;

        if (!e->n_queue)
                return 0;
        /* room for all of them while they are put back (each costs its
         * buffer's truesize); the size is put back afterwards */
        uint64_t need = 0;
        int cur = 0;
        for (size_t k = 0; k < e->n_queue; k++)
                need += e->queue[k]->data.len + 1024;
        bool grown = gso(fd, SOL_SOCKET, SO_RCVBUF, &cur) == 0 && need > (uint64_t)cur &&
                     sso(fd, SOL_SOCKET, SO_RCVBUFFORCE, (int)MIN(need, (uint64_t)INT_MAX / 2)) == 0;

        for (size_t k = 0; k < e->n_queue; k++) {
                const UdpMsgEntry *m = e->queue[k];
                ProtobufCBinaryData src = m->src_addr;
                int fam = e->family;
                if (src.len != 4 && src.len != 16)
                        return log_error_errno(-EBADMSG, "file %u: datagram %zu has a bad source address", fe->id, k);
                if (v4mapped(&src)) {
                        fam = AF_INET; /* an IPv4 datagram on a dual-stack socket */
                        src.len = 4;
                        src.data += 12;
                }
                /* to the bound address, or loopback for a wildcard one */
                bool any = true;
                for (size_t i = 0; i < e->src_addr.len; i++)
                        any &= e->src_addr.data[i] == 0;
                if (fam == AF_INET) {
                        static const uint8_t lo4[4] = { 127, 0, 0, 1 };
                        const uint8_t *s = e->src_addr.len == 16 ? e->src_addr.data + 12 : e->src_addr.data;
                        memcpy(dst, any || (e->family == AF_INET6 && !v4mapped(&e->src_addr)) ? lo4 : s, 4);
                } else {
                        static const uint8_t lo6[16] = { [15] = 1 };
                        memcpy(dst, any ? lo6 : e->src_addr.data, 16);
                }
                r = forge_udp(&m->data, &src, m->src_port, fam, dst, e->src_port);
                if (r == -EPERM || r == -EACCES || r == -EAFNOSUPPORT) {
                        if (k == 0)
                                log_warn("file %u: no raw sockets (%s): queued datagrams are sent from ordinary sockets",
                                         fe->id, strerror(-r));
                        r = plain_udp(fe, k, &src, fam, dst, e->src_port);
                }
                if (r < 0)
                        return log_error_errno(r, "file %u: cannot queue datagram %zu (%zu bytes from %s) again: %m",
                                               fe->id, k, m->data.len, addr_str(fam, &src, m->src_port));
        }
        /* loopback delivers in a softirq: wait until all are in */
        struct timespec t0, now;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (;;) {
                int got = count_queued(fd, e->n_queue);
                if (got < 0)
                        return log_error_errno(got, "file %u: cannot count the queued datagrams: %m", fe->id);
                if ((size_t)got >= e->n_queue)
                        break;
                clock_gettime(CLOCK_MONOTONIC, &now);
                if (now.tv_sec - t0.tv_sec >= 3)
                        return log_error_errno(-ETIMEDOUT,
                                               "file %u: only %d of %zu datagrams arrived back in the UDP socket's "
                                               "queue (%s)",
                                               fe->id, got, e->n_queue, addr_str(e->family, &e->src_addr, e->src_port));
                struct timespec ts = { 0, 1000000 };
                nanosleep(&ts, NULL);
        }
        if (grown && !e->rcvbuf)
                (void)sso(fd, SOL_SOCKET, SO_RCVBUFFORCE, cur / 2);
        log_debug("file %u: %zu datagrams queued again", fe->id, e->n_queue);
        return 0;
}

static int send_all(int fd, const uint8_t *p, size_t len, const FileEntry *fe, const char *what) {
        size_t chunk = len;
        while (len > 0) {
                ssize_t n = send(fd, p, MIN(chunk, len), MSG_DONTWAIT | MSG_NOSIGNAL);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        /* a repair-mode receive queue is filled with linear skbs: try smaller ones */
                        if (n < 0 && (errno == ENOMEM || errno == EAGAIN) && chunk > 1024) {
                                chunk /= 2;
                                continue;
                        }
                        return log_error_errno(n < 0 ? -errno : -EIO, "file %u: cannot refill the TCP %s (%zu bytes left): %m",
                                               fe->id, what, len);
                }
                p += n;
                len -= n;
        }
        return 0;
}

static int open_tcp_established(struct restore_ctx *ctx, const FileEntry *fe, int fd) {
        const InetEntry *e = fe->inet;
        const TcpStreamEntry *t = e->tcp;
        struct sockaddr_storage ss;
        socklen_t l;
        int r;

        if (t->inq.len != t->inq_len || t->outq.len != t->outq_len || t->unsq_len > t->outq_len)
                return log_error_errno(-EBADMSG, "file %u: inconsistent TCP queues in the image", fe->id);
        r = sso(fd, IPPROTO_TCP, TCP_REPAIR, TCP_REPAIR_ON);
        if (r < 0)
                return log_error_errno(r, "file %u: cannot put a TCP socket in repair mode (TCP_REPAIR, needs "
                                          "CAP_NET_ADMIN): %m",
                                       fe->id);
        if ((r = sso(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_RECV_QUEUE)) < 0 ||
            (r = sso(fd, IPPROTO_TCP, TCP_QUEUE_SEQ, t->inq_seq - t->inq_len)) < 0 ||
            (r = sso(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_SEND_QUEUE)) < 0 ||
            (r = sso(fd, IPPROTO_TCP, TCP_QUEUE_SEQ, t->outq_seq - t->outq_len)) < 0)
                return log_error_errno(r, "file %u: cannot set the TCP sequence numbers: %m", fe->id);
        r = pre_bind_opts(fe, fd, false);
        if (r < 0)
                return r;
        r = do_bind(fe, fd);
        if (r < 0)
                return r;
        l = to_sockaddr(e->family, &e->dst_addr, e->dst_port, &ss);
        if (connect(fd, (struct sockaddr *)&ss, l) < 0)
                return log_error_errno(-errno, "file %u: cannot reconnect the TCP connection %s -> %s in repair mode: %m",
                                       fe->id, addr_str(e->family, &e->src_addr, e->src_port),
                                       addr_str(e->family, &e->dst_addr, e->dst_port));
        struct tcp_repair_opt opts[4];
        int no = 0;
        if (t->opt_mask & TCPI_OPT_SACK)
                opts[no++] = (struct tcp_repair_opt){ TCPOPT_SACK_PERMITTED, 0 };
        if (t->opt_mask & TCPI_OPT_WSCALE)
                opts[no++] = (struct tcp_repair_opt){ TCPOPT_WINDOW, t->snd_wscale | (t->rcv_wscale << 16) };
        if (t->opt_mask & TCPI_OPT_TIMESTAMPS)
                opts[no++] = (struct tcp_repair_opt){ TCPOPT_TIMESTAMP, 0 };
        opts[no++] = (struct tcp_repair_opt){ TCPOPT_MAXSEG, t->mss_clamp };
        if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_OPTIONS, opts, no * sizeof(opts[0])) < 0)
                return log_error_errno(-errno, "file %u: cannot set the TCP options (TCP_REPAIR_OPTIONS): %m", fe->id);
        if ((t->opt_mask & TCPI_OPT_TIMESTAMPS) && (r = sso(fd, IPPROTO_TCP, TCP_TIMESTAMP, t->timestamp)) < 0)
                return log_error_errno(r, "file %u: cannot set TCP_TIMESTAMP: %m", fe->id);
        /* room for the queues as they were (a setting locks autotuning: only if needed) */
        int cur;
        if (gso(fd, SOL_SOCKET, SO_SNDBUF, &cur) == 0 && (uint64_t)cur < (uint64_t)t->outq_len * 2 + 65536)
                (void)sso(fd, SOL_SOCKET, SO_SNDBUFFORCE, (int)MIN((uint64_t)t->outq_len * 2 + 65536, (uint64_t)INT_MAX / 2));
        if (gso(fd, SOL_SOCKET, SO_RCVBUF, &cur) == 0 && (uint64_t)cur < (uint64_t)t->inq_len * 2 + 65536)
                (void)sso(fd, SOL_SOCKET, SO_RCVBUFFORCE, (int)MIN((uint64_t)t->inq_len * 2 + 65536, (uint64_t)INT_MAX / 2));
        if (t->inq_len) {
                r = sso(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_RECV_QUEUE);
                if (r < 0)
                        return log_error_errno(r, "file %u: TCP_REPAIR_QUEUE: %m", fe->id);
                r = send_all(fd, t->inq.data, t->inq_len, fe, "receive queue");
                if (r < 0)
                        return r;
        }
        /* sent but not acknowledged: back in the write queue as sent */
        if (t->outq_len - t->unsq_len) {
                r = sso(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_SEND_QUEUE);
                if (r < 0)
                        return log_error_errno(r, "file %u: TCP_REPAIR_QUEUE: %m", fe->id);
                r = send_all(fd, t->outq.data, t->outq_len - t->unsq_len, fe, "send queue");
                if (r < 0)
                        return r;
        }
        sso(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_NO_QUEUE);
        if (t->has_window) {
                struct tcp_repair_window w = { .snd_wl1 = t->snd_wl1, .snd_wnd = t->snd_wnd,
                                               .max_window = t->max_window, .rcv_wnd = t->rcv_wnd,
                                               .rcv_wup = t->rcv_wup };
                if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_WINDOW, &w, sizeof(w)) < 0)
                        return log_error_errno(-errno, "file %u: cannot set the TCP window (TCP_REPAIR_WINDOW): %m",
                                               fe->id);
        }
        log_debug("file %u: TCP %s -> %s repaired: %u bytes to read, %u in flight, %u to send", fe->id,
                  addr_str(e->family, &e->src_addr, e->src_port), addr_str(e->family, &e->dst_addr, e->dst_port),
                  t->inq_len, t->outq_len - t->unsq_len, t->unsq_len);
        return 0;
}

static uint64_t held_key(uint32_t file_id) {
        return ((uint64_t)FILE_KIND__FK_INET << 56) | file_id;
}

/* Is the other end of this connection in the images too? */
static bool peer_in_images(const struct restore_ctx *ctx, const InetEntry *e) {
        for (size_t i = 0; i < ctx->files->n_files; i++) {
                const InetEntry *o = ctx->files->files[i]->kind == FILE_KIND__FK_INET ? ctx->files->files[i]->inet : NULL;
                if (o && o->tcp && o->family == e->family && o->src_port == e->dst_port && o->dst_port == e->src_port &&
                    o->src_addr.len == e->dst_addr.len && o->dst_addr.len == e->src_addr.len &&
                    !memcmp(o->src_addr.data, e->dst_addr.data, o->src_addr.len) &&
                    !memcmp(o->dst_addr.data, e->src_addr.data, o->dst_addr.len))
                        return true;
        }
        return false;
}

/* Takes the locked sockets back from the holder the dump left (none: the
 * dump ran on another boot or host, or the holder gave up: fine). A
 * connection whose peer is outside the tree cannot be recreated next to
 * its locked original (the 4-tuple is taken), and between closing one and
 * connecting the other any segment of the peer would be answered with RST:
 * so such a socket is kept, to be used as the restored one if it still
 * matches the image (inet_open). Connections inside the tree have no one
 * to send in between: their originals are closed (in repair mode: no FIN,
 * no RST) and they are rebuilt from the image. */
static int release_lock(struct restore_ctx *ctx) {
        _cleanup_close_ int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        struct sockaddr_un sa;
        socklen_t len;
        size_t kept = 0, closed = 0;

        if (s < 0)
                return log_error_errno(-errno, "cannot create a unix socket: %m");
        lock_name(ctx->ckpt_id, &sa, &len);
        if (connect(s, (struct sockaddr *)&sa, len) < 0) {
                log_debug("no TCP lock holder for this checkpoint (%m)");
                return 0;
        }
        if (write(s, "release", 7) != 7)
                return log_error_errno(-errno, "cannot talk to the TCP lock holder: %m");
        for (;;) {
                uint32_t ids[HANDOVER_MAX];
                char cbuf[CMSG_SPACE(sizeof(int) * HANDOVER_MAX)];
                struct iovec iov = { ids, sizeof(ids) };
                struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
                struct pollfd p = { .fd = s, .events = POLLIN };
                if (poll(&p, 1, 5000) != 1)
                        return log_error_errno(-ETIMEDOUT, "the TCP lock holder of this checkpoint does not answer");
                ssize_t n = recvmsg(s, &m, MSG_CMSG_CLOEXEC);
                if (n <= 0)
                        return log_error_errno(n < 0 ? -errno : -EPIPE, "lost the TCP lock holder: %m");
                if (n == 8 && memcmp(ids, "released", 8) == 0)
                        break;
                struct cmsghdr *h = CMSG_FIRSTHDR(&m);
                size_t nfd = h && h->cmsg_type == SCM_RIGHTS ? (h->cmsg_len - CMSG_LEN(0)) / sizeof(int) : 0;
                for (size_t i = 0; i < nfd; i++) {
                        int fd;
                        memcpy(&fd, CMSG_DATA(h) + i * sizeof(int), sizeof(int));
                        const FileEntry *fe = i < (size_t)n / sizeof(uint32_t) ? restore_ctx_file(ctx, ids[i], NULL) : NULL;
                        if (!fe || fe->kind != FILE_KIND__FK_INET || !fe->inet || !fe->inet->tcp ||
                            peer_in_images(ctx, fe->inet)) {
                                close(fd);
                                closed++;
                                continue;
                        }
                        int hfd = restore_ctx_move_high(ctx, fd);
                        if (hfd < 0)
                                return hfd;
                        restore_ctx_stash_fd(ctx, held_key(fe->id), hfd);
                        kept++;
                }
        }
        log_info("the TCP lock holder released %zu connection(s): %zu kept for peers outside the tree", kept + closed,
                 kept);
        return 0;
}

/* A socket kept by the holder is the original connection, locked since the
 * dump: use it if it is still exactly what the image says. */
static int take_held(struct restore_ctx *ctx, const FileEntry *fe, int *ret_fd) {
        const InetEntry *e = fe->inet;
        const TcpStreamEntry *t = e->tcp;
        _cleanup_close_ int fd = restore_ctx_take_fd(ctx, held_key(fe->id));
        struct sockaddr_storage a, b;
        ProtobufCBinaryData sa = {}, da = {};
        uint32_t sp = 0, dp = 0, rseq = 0, wseq = 0;
        struct tcp_info ti = {};
        socklen_t l;
        int inq = -1, outq = -1, unsq = -1;
        bool ok;

        if (fd < 0)
                return 0;
        l = sizeof(ti);
        ok = getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &l) == 0 && ti.tcpi_state == TCP_ESTABLISHED;
        l = sizeof(a);
        ok = ok && getsockname(fd, (struct sockaddr *)&a, &l) == 0;
        l = sizeof(b);
        ok = ok && getpeername(fd, (struct sockaddr *)&b, &l) == 0;
        if (ok) {
                from_sockaddr(&a, &sa, &sp);
                from_sockaddr(&b, &da, &dp);
                socklen_t sl = sizeof(uint32_t);
                ok = sp == e->src_port && dp == e->dst_port && sa.len == e->src_addr.len && da.len == e->dst_addr.len &&
                     !memcmp(sa.data, e->src_addr.data, sa.len) && !memcmp(da.data, e->dst_addr.data, da.len) &&
                     ioctl(fd, SIOCINQ, &inq) == 0 && ioctl(fd, SIOCOUTQ, &outq) == 0 &&
                     ioctl(fd, SIOCOUTQNSD, &unsq) == 0 && sso(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_RECV_QUEUE) == 0 &&
                     getsockopt(fd, IPPROTO_TCP, TCP_QUEUE_SEQ, &rseq, &sl) == 0 &&
                     sso(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_SEND_QUEUE) == 0 &&
                     getsockopt(fd, IPPROTO_TCP, TCP_QUEUE_SEQ, &wseq, &sl) == 0 && rseq == t->inq_seq &&
                     wseq == t->outq_seq && (uint32_t)inq == t->inq_len && (uint32_t)outq == t->outq_len;
                sso(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_NO_QUEUE);
        }
        free(sa.data);
        free(da.data);
        if (!ok) {
                log_warn("file %u: the locked original of TCP connection %s -> %s no longer matches the image; it is "
                         "rebuilt from the image",
                         fe->id, addr_str(e->family, &e->src_addr, e->src_port),
                         addr_str(e->family, &e->dst_addr, e->dst_port));
                return 0; /* closed, still in repair mode: silent */
        }
        log_debug("file %u: TCP %s -> %s taken back from the lock holder", fe->id,
                  addr_str(e->family, &e->src_addr, e->src_port), addr_str(e->family, &e->dst_addr, e->dst_port));
        *ret_fd = TAKE_FD(fd);
        return 1;
}

static int inet_open(struct restore_ctx *ctx, const FileEntry *fe, int *ret_fd) {
        _cleanup_close_ int fd = -EBADF;
        const InetEntry *e = fe->inet;
        struct sockaddr_storage ss;
        socklen_t l;
        int r;

        if (!e || (e->family != AF_INET && e->family != AF_INET6) ||
            !((e->type == SOCK_STREAM && e->proto == IPPROTO_TCP) || (e->type == SOCK_DGRAM && e->proto == IPPROTO_UDP)))
                return log_error_errno(-EBADMSG, "file %u: bad inet socket entry", fe->id);
        if (e->proto == IPPROTO_TCP && e->tcp) {
                r = take_held(ctx, fe, &fd);
                if (r > 0)
                        goto done; /* its options and flags are the original's */
        }
        fd = socket(e->family, e->type | SOCK_CLOEXEC, e->proto);
        if (fd < 0)
                return log_error_errno(-errno, "file %u: cannot create a %s socket: %m", fe->id,
                                       e->proto == IPPROTO_TCP ? "TCP" : "UDP");
        if (e->proto == IPPROTO_TCP && e->tcp) {
                r = open_tcp_established(ctx, fe, fd);
        } else {
                /* SO_REUSEADDR for the bind: accepted connections of a listener
                 * share its port, and the dead original's may linger in TIME_WAIT */
                r = pre_bind_opts(fe, fd, e->proto == IPPROTO_TCP);
                if (r >= 0 && e->src_port)
                        r = do_bind(fe, fd);
                if (r >= 0 && e->proto == IPPROTO_TCP && e->state == TCP_LISTEN && listen(fd, e->backlog) < 0)
                        r = log_error_errno(-errno, "file %u: cannot listen on %s: %m", fe->id,
                                            addr_str(e->family, &e->src_addr, e->src_port));
                if (r >= 0 && e->proto == IPPROTO_TCP && !e->reuseaddr)
                        r = sso(fd, SOL_SOCKET, SO_REUSEADDR, 0);
                if (r >= 0 && e->proto == IPPROTO_UDP)
                        r = fill_udp(fe, fd);
                if (r >= 0 && e->proto == IPPROTO_UDP && e->state == TCP_ESTABLISHED) {
                        l = to_sockaddr(e->family, &e->dst_addr, e->dst_port, &ss);
                        if (connect(fd, (struct sockaddr *)&ss, l) < 0)
                                r = log_error_errno(-errno, "file %u: cannot connect the UDP socket to %s: %m", fe->id,
                                                    addr_str(e->family, &e->dst_addr, e->dst_port));
                }
        }
        if (r < 0)
                return r;
        r = set_common_opts(fe, fd);
        if (r < 0)
                return r;
        if (e->peek_off != -1 && e->peek_off != 0 && e->proto == IPPROTO_TCP)
                (void)sso(fd, SOL_SOCKET, SO_PEEK_OFF, e->peek_off);
done:
        r = files_restore_flags_pos(fe, fd);
        if (r < 0)
                return r;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

static int inet_restore_prepare(struct restore_ctx *ctx) {
        const FileEntry *est = NULL;
        for (size_t i = 0; i < ctx->files->n_files && !est; i++) {
                const FileEntry *fe = ctx->files->files[i];
                if (fe->kind == FILE_KIND__FK_INET && fe->inet && fe->inet->tcp)
                        est = fe;
        }
        if (!est)
                return 0;
        if (!ctx->opts.tcp_established)
                return log_error_errno(-ENOTSUP,
                                       "the checkpoint holds established TCP connections (file %u: %s -> %s); "
                                       "restore with --tcp-established",
                                       est->id, addr_str(est->inet->family, &est->inet->src_addr, est->inet->src_port),
                                       addr_str(est->inet->family, &est->inet->dst_addr, est->inet->dst_port));
        return release_lock(ctx);
}

/* Every socket exists now, both ends of connections inside the tree
 * included: connections leave repair mode and the unsent bytes go out. */
static int inet_restore_finish(struct restore_ctx *ctx) {
        for (size_t i = 0; i < ctx->files->n_files; i++) {
                const FileEntry *fe = ctx->files->files[i];
                int fd = ctx->file_fds[i], r;
                if (fe->kind != FILE_KIND__FK_INET || !fe->inet || !fe->inet->tcp)
                        continue;
                const TcpStreamEntry *t = fe->inet->tcp;
                socklen_t fl = 0;
                bool held = getsockopt(fd, SOL_SOCKET, SO_GET_FILTER, NULL, &fl) == 0 && fl > 0;
                if (held && (r = sso(fd, SOL_SOCKET, SO_DETACH_FILTER, 0)) < 0)
                        return log_error_errno(r, "file %u: cannot unlock the TCP connection: %m", fe->id);
                r = sso(fd, IPPROTO_TCP, TCP_REPAIR, TCP_REPAIR_OFF);
                if (r < 0)
                        return log_error_errno(r, "file %u: cannot leave TCP repair mode: %m", fe->id);
                r = sso(fd, SOL_SOCKET, SO_REUSEADDR, fe->inet->reuseaddr);
                if (r < 0)
                        return log_error_errno(r, "file %u: cannot set SO_REUSEADDR: %m", fe->id);
                if (t->unsq_len && !held) {
                        r = send_all(fd, t->outq.data + (t->outq_len - t->unsq_len), t->unsq_len, fe, "unsent data");
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

const struct file_ops inet_ops = {
        .kind = FILE_KIND__FK_INET,
        .name = "inet",
        .match = inet_match,
        .dump = inet_dump,
        .open = inet_open,
        .restore_prepare = inet_restore_prepare,
        .restore_finish = inet_restore_finish,
};
