/* Established TCP connections with data in flight both ways, restored with
 * TCP repair (--tcp-established at dump and restore):
 *   - IPv4, between the process and a forked child: each side has written
 *     200000 bytes the other has not read, most of it unsent (the
 *     receiver's window is small and full), and the parent has 3000 more
 *     bytes sent but not acknowledged (the child's socket dropped them
 *     with a socket filter, removed just before the checkpoint; the next
 *     retransmission is seconds away);
 *   - IPv6, both ends inside the process, 50000 unread bytes each way.
 * After restore both streams continue with no byte lost or duplicated:
 * every byte is checked against its offset in the stream, and 100000 more
 * bytes go each way.
 * ZDTM: opts=--tcp-established ropts=--tcp-established timeout=60 */
#include <arpa/inet.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/wait.h>
#include <time.h>

#include "sk_common.h"

#define N1 200000  /* written each way before the checkpoint */
#define NACK 3000  /* parent -> child, sent but not acknowledged */
#define N6 50000
#define MORE 100000 /* each way after restore */

static unsigned char pat(int dir, size_t i) {
        return dir ? (unsigned char)(i * 131 + (i >> 8) + 7) : (unsigned char)(i * 17 + (i >> 11) + 3);
}

/* writes [from, to) of stream dir, waiting for room */
static int put(int fd, int dir, size_t from, size_t to) {
        static unsigned char buf[65536];
        while (from < to) {
                size_t n = to - from < sizeof(buf) ? to - from : sizeof(buf);
                for (size_t i = 0; i < n; i++)
                        buf[i] = pat(dir, from + i);
                ssize_t w = send(fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
                if (w < 0 && errno == EAGAIN) {
                        struct pollfd p = { .fd = fd, .events = POLLOUT };
                        if (poll(&p, 1, 10000) != 1)
                                return -ETIMEDOUT;
                        continue;
                }
                if (w <= 0)
                        return -errno;
                from += w;
        }
        return 0;
}

/* reads [from, to) of stream dir and checks every byte; returns 0 or the
 * bad offset + 1, or -errno */
static long get(int fd, int dir, size_t from, size_t to) {
        static unsigned char buf[65536];
        while (from < to) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                if (poll(&p, 1, 10000) != 1)
                        return -ETIMEDOUT;
                size_t n = to - from < sizeof(buf) ? to - from : sizeof(buf);
                ssize_t r = recv(fd, buf, n, MSG_DONTWAIT);
                if (r < 0 && errno == EAGAIN)
                        continue;
                if (r <= 0)
                        return r == 0 ? -EPIPE : -errno;
                for (ssize_t i = 0; i < r; i++)
                        if (buf[i] != pat(dir, from + i))
                                return (long)(from + i) + 1;
                from += r;
        }
        return 0;
}

static void set_int(int fd, int level, int opt, int v) {
        zdtm_check(setsockopt(fd, level, opt, &v, sizeof(v)) == 0, "setsockopt %d: %s", opt, strerror(errno));
}

static void drop_all(int fd, bool on) {
        struct sock_filter drop[] = { BPF_STMT(BPF_RET | BPF_K, 0) };
        struct sock_fprog prog = { .len = 1, .filter = drop };
        if (on)
                zdtm_check(setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) == 0, "filter: %s",
                           strerror(errno));
        else
                zdtm_check(setsockopt(fd, SOL_SOCKET, SO_DETACH_FILTER, &(int){ 0 }, sizeof(int)) == 0, "detach: %s", strerror(errno));
}

static void child(int c, int ready_fd) {
        char ok = 0;
        /* stream 1 (child -> parent): N1 bytes the parent will not read yet */
        if (put(c, 1, 0, N1) < 0)
                _exit(20);
        if (write(ready_fd, &ok, 1) != 1)
                _exit(21);
        zdtm_wait_go();
        long r = get(c, 0, 0, N1 + NACK + MORE);
        if (r) {
                fprintf(stderr, "child: stream 0 %s at %ld\n", r < 0 ? strerror(-r) : "corrupt", r < 0 ? 0 : r - 1);
                _exit(22);
        }
        if (put(c, 1, N1, N1 + MORE) < 0)
                _exit(23);
        char x;
        if (recv(c, &x, 1, 0) != 0) /* the parent closes when it has read everything */
                _exit(24);
        _exit(0);
}

int main(int argc, char **argv) {
        zdtm_init(argc, argv);

        /* IPv4 between parent and child; small receive buffers fill the windows */
        int l = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a4 = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        set_int(l, SOL_SOCKET, SO_RCVBUF, 8192);
        zdtm_check(bind(l, (struct sockaddr *)&a4, sizeof(a4)) == 0 && listen(l, 1) == 0, "listen: %s",
                   strerror(errno));
        socklen_t al = sizeof(a4);
        getsockname(l, (struct sockaddr *)&a4, &al);
        int c = socket(AF_INET, SOCK_STREAM, 0);
        set_int(c, SOL_SOCKET, SO_RCVBUF, 8192);
        set_int(c, SOL_SOCKET, SO_SNDBUF, 256 * 1024);
        zdtm_check(connect(c, (struct sockaddr *)&a4, sizeof(a4)) == 0, "connect: %s", strerror(errno));
        int a = accept(l, NULL, NULL);
        zdtm_check(a >= 0, "accept: %s", strerror(errno));
        close(l);
        set_int(a, SOL_SOCKET, SO_SNDBUF, 256 * 1024);
        set_int(a, IPPROTO_TCP, TCP_NODELAY, 1);

        /* sent but never acknowledged: the child's socket drops them */
        drop_all(c, true);
        zdtm_check(put(a, 0, 0, NACK) == 0, "put: %s", strerror(errno));

        int sync[2];
        zdtm_check(pipe(sync) == 0, "pipe");
        pid_t kid = fork();
        zdtm_check(kid >= 0, "fork: %s", strerror(errno));
        if (kid == 0) {
                close(a);
                close(sync[0]);
                child(c, sync[1]);
        }
        close(sync[1]);
        char ok;
        zdtm_check(read(sync[0], &ok, 1) == 1, "child failed before the checkpoint");
        /* let the retransmissions back off (0.2, 0.6, 1.4 s: the next one is ~3 s in) */
        struct timespec ts = { 1, 600 * 1000 * 1000 };
        nanosleep(&ts, NULL);
        zdtm_check(put(a, 0, NACK, N1 + NACK) == 0, "put: %s", strerror(errno));
        drop_all(c, false);
        close(c);

        /* IPv6 inside the process */
        int l6 = socket(AF_INET6, SOCK_STREAM, 0);
        struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
        zdtm_check(bind(l6, (struct sockaddr *)&a6, sizeof(a6)) == 0 && listen(l6, 1) == 0, "listen6: %s",
                   strerror(errno));
        socklen_t a6l = sizeof(a6);
        getsockname(l6, (struct sockaddr *)&a6, &a6l);
        int c6 = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK, 0);
        zdtm_check(connect(c6, (struct sockaddr *)&a6, sizeof(a6)) == 0 || errno == EINPROGRESS, "connect6: %s",
                   strerror(errno));
        int s6 = accept(l6, NULL, NULL);
        zdtm_check(s6 >= 0, "accept6: %s", strerror(errno));
        struct pollfd pw = { .fd = c6, .events = POLLOUT };
        poll(&pw, 1, 1000);
        zdtm_check(put(c6, 0, 0, N6) == 0 && put(s6, 1, 0, N6) == 0, "put6: %s", strerror(errno));
        struct sockaddr_in6 p6;
        socklen_t p6l = sizeof(p6);
        getpeername(s6, (struct sockaddr *)&p6, &p6l);

        zdtm_ready();
        zdtm_wait_go();

        long r = get(a, 1, 0, N1);
        if (r)
                zdtm_fail("stream child->parent before the checkpoint: %s at offset %ld",
                          r < 0 ? strerror(-r) : "wrong byte", r < 0 ? 0 : r - 1);
        if (put(a, 0, N1 + NACK, N1 + NACK + MORE) < 0)
                zdtm_fail("stream parent->child after restore: %s", strerror(errno));
        r = get(a, 1, N1, N1 + MORE);
        if (r)
                zdtm_fail("stream child->parent after restore: %s at offset %ld", r < 0 ? strerror(-r) : "wrong byte",
                          r < 0 ? 0 : r - 1);
        shutdown(a, SHUT_WR);
        int st;
        if (waitpid(kid, &st, 0) != kid || !WIFEXITED(st) || WEXITSTATUS(st))
                zdtm_fail("the child's end of the connection failed: status %#x (exit %d)", st, WEXITSTATUS(st));

        r = get(s6, 0, 0, N6);
        if (!r)
                r = get(c6, 1, 0, N6);
        if (r)
                zdtm_fail("IPv6 connection: %s at offset %ld", r < 0 ? strerror(-r) : "wrong byte", r < 0 ? 0 : r - 1);
        if (put(c6, 0, N6, N6 + MORE) < 0 || get(s6, 0, N6, N6 + MORE) != 0)
                zdtm_fail("IPv6 connection after restore");
        struct sockaddr_in6 q6;
        socklen_t q6l = sizeof(q6);
        if (getpeername(s6, (struct sockaddr *)&q6, &q6l) < 0 || memcmp(&q6, &p6, sizeof(q6)) != 0)
                zdtm_fail("IPv6 peer address changed");
        if (sk_getint(a, IPPROTO_TCP, TCP_NODELAY) != 1)
                zdtm_fail("TCP_NODELAY lost");
        /* no TIME_WAIT left behind for a later restore of the same images */
        struct linger lg = { 1, 0 };
        setsockopt(a, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        setsockopt(s6, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        setsockopt(c6, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        zdtm_pass();
}
