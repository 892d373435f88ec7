/* Listening TCP sockets on 127.0.0.1 (SO_REUSEADDR, backlog 5, SO_RCVBUF,
 * TCP_NODELAY, SO_KEEPALIVE with TCP_KEEPIDLE, O_NONBLOCK) and on ::1
 * (IPV6_V6ONLY, SO_REUSEPORT, SO_SNDBUF, SO_RCVTIMEO, SO_LINGER), a TCP
 * socket bound but not listening and one neither bound nor connected.
 * After restore the addresses and options are the same, and a client the
 * test spawns itself connects to both listeners and talks to them. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/wait.h>

#include "sk_common.h"

static void check_opt(int fd, int level, int opt, int want, const char *what) {
        int v = sk_getint(fd, level, opt);
        if (v != want)
                zdtm_fail("%s: option is %d, expected %d", what, v, want);
}

static int port_of(int fd) {
        struct sockaddr_storage ss;
        socklen_t l = sizeof(ss);
        zdtm_check(getsockname(fd, (struct sockaddr *)&ss, &l) == 0, "getsockname: %s", strerror(errno));
        return ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                              : ((struct sockaddr_in6 *)&ss)->sin6_port);
}

/* a client process: connects to the port, sends "hi N", reads "ok" */
static pid_t client(int family, int port, int n) {
        pid_t p = fork();
        zdtm_check(p >= 0, "fork: %s", strerror(errno));
        if (p)
                return p;
        int c = socket(family, SOCK_STREAM, 0);
        struct sockaddr_storage ss = {};
        socklen_t l;
        if (family == AF_INET) {
                struct sockaddr_in *in = (void *)&ss;
                in->sin_family = AF_INET;
                in->sin_port = htons(port);
                in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                l = sizeof(*in);
        } else {
                struct sockaddr_in6 *in6 = (void *)&ss;
                in6->sin6_family = AF_INET6;
                in6->sin6_port = htons(port);
                in6->sin6_addr = in6addr_loopback;
                l = sizeof(*in6);
        }
        if (connect(c, (struct sockaddr *)&ss, l) < 0)
                _exit(20);
        char msg[16], buf[4] = "";
        int k = snprintf(msg, sizeof(msg), "hi %d", n);
        if (write(c, msg, k) != k || read(c, buf, 2) != 2 || memcmp(buf, "ok", 2) != 0)
                _exit(21);
        _exit(0);
}

static void serve(int l, const char *want, const char *what) {
        struct pollfd p = { .fd = l, .events = POLLIN };
        if (poll(&p, 1, 5000) != 1)
                zdtm_fail("%s: no connection arrived", what);
        int a = accept(l, NULL, NULL);
        if (a < 0)
                zdtm_fail("%s: accept: %s", what, strerror(errno));
        sk_expect_stream(a, want, strlen(want), what);
        if (write(a, "ok", 2) != 2)
                zdtm_fail("%s: write: %s", what, strerror(errno));
        close(a);
}

int main(int argc, char **argv) {
        zdtm_init(argc, argv);
        int one = 1;

        int l4 = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        struct sockaddr_in a4 = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        zdtm_check(setsockopt(l4, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0, "SO_REUSEADDR: %s", strerror(errno));
        int rb = 100000, idle = 77;
        zdtm_check(setsockopt(l4, SOL_SOCKET, SO_RCVBUF, &rb, sizeof(rb)) == 0, "SO_RCVBUF: %s", strerror(errno));
        zdtm_check(setsockopt(l4, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0, "TCP_NODELAY: %s", strerror(errno));
        zdtm_check(setsockopt(l4, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one)) == 0, "SO_KEEPALIVE: %s", strerror(errno));
        zdtm_check(setsockopt(l4, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle)) == 0, "TCP_KEEPIDLE: %s", strerror(errno));
        zdtm_check(bind(l4, (struct sockaddr *)&a4, sizeof(a4)) == 0 && listen(l4, 5) == 0, "listen v4: %s",
                   strerror(errno));

        int l6 = socket(AF_INET6, SOCK_STREAM, 0);
        struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
        int sb = 300000;
        struct timeval tv = { 3, 250000 };
        struct linger lg = { 1, 9 };
        zdtm_check(setsockopt(l6, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) == 0, "IPV6_V6ONLY: %s", strerror(errno));
        zdtm_check(setsockopt(l6, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) == 0, "SO_REUSEPORT: %s", strerror(errno));
        zdtm_check(setsockopt(l6, SOL_SOCKET, SO_SNDBUF, &sb, sizeof(sb)) == 0, "SO_SNDBUF: %s", strerror(errno));
        zdtm_check(setsockopt(l6, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0, "SO_RCVTIMEO: %s", strerror(errno));
        zdtm_check(setsockopt(l6, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) == 0, "SO_LINGER: %s", strerror(errno));
        zdtm_check(bind(l6, (struct sockaddr *)&a6, sizeof(a6)) == 0 && listen(l6, 3) == 0, "listen v6: %s",
                   strerror(errno));

        int b = socket(AF_INET, SOCK_STREAM, 0);
        zdtm_check(bind(b, (struct sockaddr *)&a4, sizeof(a4)) == 0, "bind: %s", strerror(errno));
        int u = socket(AF_INET6, SOCK_STREAM, 0);

        int p4 = port_of(l4), p6 = port_of(l6), pb = port_of(b);
        int rcv4 = sk_getint(l4, SOL_SOCKET, SO_RCVBUF), snd6 = sk_getint(l6, SOL_SOCKET, SO_SNDBUF);
        int rcvb = sk_getint(b, SOL_SOCKET, SO_RCVBUF);

        zdtm_ready();
        zdtm_wait_go();

        if (port_of(l4) != p4 || port_of(l6) != p6 || port_of(b) != pb || port_of(u) != 0)
                zdtm_fail("ports changed: %d/%d/%d/%d, expected %d/%d/%d/0", port_of(l4), port_of(l6), port_of(b),
                          port_of(u), p4, p6, pb);
        check_opt(l4, SOL_SOCKET, SO_ACCEPTCONN, 1, "v4 listening");
        check_opt(l6, SOL_SOCKET, SO_ACCEPTCONN, 1, "v6 listening");
        check_opt(b, SOL_SOCKET, SO_ACCEPTCONN, 0, "bound socket not listening");
        check_opt(l4, SOL_SOCKET, SO_REUSEADDR, 1, "v4 SO_REUSEADDR");
        check_opt(l6, SOL_SOCKET, SO_REUSEADDR, 0, "v6 SO_REUSEADDR");
        check_opt(l6, SOL_SOCKET, SO_REUSEPORT, 1, "v6 SO_REUSEPORT");
        check_opt(l4, SOL_SOCKET, SO_REUSEPORT, 0, "v4 SO_REUSEPORT");
        check_opt(l6, IPPROTO_IPV6, IPV6_V6ONLY, 1, "IPV6_V6ONLY");
        check_opt(u, IPPROTO_IPV6, IPV6_V6ONLY, 0, "IPV6_V6ONLY of the unbound socket");
        check_opt(l4, SOL_SOCKET, SO_RCVBUF, rcv4, "v4 SO_RCVBUF");
        check_opt(l6, SOL_SOCKET, SO_SNDBUF, snd6, "v6 SO_SNDBUF");
        check_opt(b, SOL_SOCKET, SO_RCVBUF, rcvb, "default SO_RCVBUF");
        check_opt(l4, IPPROTO_TCP, TCP_NODELAY, 1, "TCP_NODELAY");
        check_opt(l6, IPPROTO_TCP, TCP_NODELAY, 0, "v6 TCP_NODELAY");
        check_opt(l4, SOL_SOCKET, SO_KEEPALIVE, 1, "SO_KEEPALIVE");
        check_opt(l4, IPPROTO_TCP, TCP_KEEPIDLE, idle, "TCP_KEEPIDLE");
        struct timeval tv2 = {};
        struct linger lg2 = {};
        socklen_t sl = sizeof(tv2);
        getsockopt(l6, SOL_SOCKET, SO_RCVTIMEO, &tv2, &sl);
        if (tv2.tv_sec != 3 || tv2.tv_usec < 240000 || tv2.tv_usec > 260000) /* in jiffies */
                zdtm_fail("SO_RCVTIMEO is %ld.%06ld", (long)tv2.tv_sec, (long)tv2.tv_usec);
        sl = sizeof(lg2);
        getsockopt(l6, SOL_SOCKET, SO_LINGER, &lg2, &sl);
        if (lg2.l_onoff != 1 || lg2.l_linger != 9)
                zdtm_fail("SO_LINGER is %d/%d", lg2.l_onoff, lg2.l_linger);
        if (!(fcntl(l4, F_GETFL) & O_NONBLOCK) || (fcntl(l6, F_GETFL) & O_NONBLOCK))
                zdtm_fail("O_NONBLOCK flags changed");

        pid_t c4 = client(AF_INET, p4, 4), c6 = client(AF_INET6, p6, 6);
        serve(l4, "hi 4", "v4 listener");
        serve(l6, "hi 6", "v6 listener");
        int st;
        if (waitpid(c4, &st, 0) != c4 || !WIFEXITED(st) || WEXITSTATUS(st))
                zdtm_fail("v4 client failed: %#x", st);
        if (waitpid(c6, &st, 0) != c6 || !WIFEXITED(st) || WEXITSTATUS(st))
                zdtm_fail("v6 client failed: %#x", st);
        if (listen(b, 1) < 0)
                zdtm_fail("the bound socket cannot listen: %s", strerror(errno));
        zdtm_pass();
}
