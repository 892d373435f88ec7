/* UDP: a socket bound to 127.0.0.1 with datagrams queued from two senders
 * (one connected to it, one using sendto, an empty datagram among them);
 * a pair of connected sockets on ::1 with a datagram queued each way; a
 * dual-stack socket bound to :: with an IPv4 datagram queued; a socket
 * bound to 0.0.0.0 with SO_BROADCAST and SO_RCVBUF. After restore every
 * datagram is read back whole, in order, with its source address and port,
 * the connected sockets still only talk to each other, and new datagrams
 * flow. */
#include <arpa/inet.h>
#include <netinet/in.h>

#include "sk_common.h"

static int udp(int family, const char *addr, int v6only) {
        int s = socket(family, SOCK_DGRAM, 0);
        zdtm_check(s >= 0, "socket: %s", strerror(errno));
        if (family == AF_INET6)
                zdtm_check(setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only)) == 0, "V6ONLY: %s",
                           strerror(errno));
        struct sockaddr_storage ss = {};
        if (family == AF_INET) {
                struct sockaddr_in *in = (void *)&ss;
                in->sin_family = AF_INET;
                inet_pton(AF_INET, addr, &in->sin_addr);
        } else {
                struct sockaddr_in6 *in6 = (void *)&ss;
                in6->sin6_family = AF_INET6;
                inet_pton(AF_INET6, addr, &in6->sin6_addr);
        }
        zdtm_check(bind(s, (struct sockaddr *)&ss, family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6)) == 0,
                   "bind %s: %s", addr, strerror(errno));
        return s;
}

static socklen_t name_of(int fd, struct sockaddr_storage *ss) {
        socklen_t l = sizeof(*ss);
        zdtm_check(getsockname(fd, (struct sockaddr *)ss, &l) == 0, "getsockname: %s", strerror(errno));
        return l;
}

static const char *str(const struct sockaddr_storage *ss) {
        static char b[2][INET6_ADDRSTRLEN + 16];
        static int k;
        char *o = b[k++ & 1], a[INET6_ADDRSTRLEN] = "";
        if (ss->ss_family == AF_INET) {
                const struct sockaddr_in *in = (const void *)ss;
                inet_ntop(AF_INET, &in->sin_addr, a, sizeof(a));
                snprintf(o, sizeof(b[0]), "%s:%d", a, ntohs(in->sin_port));
        } else {
                const struct sockaddr_in6 *in6 = (const void *)ss;
                inet_ntop(AF_INET6, &in6->sin6_addr, a, sizeof(a));
                snprintf(o, sizeof(b[0]), "[%s]:%d", a, ntohs(in6->sin6_port));
        }
        return o;
}

/* next datagram must be want (n bytes) from the address of sender */
static void expect_from(int fd, const void *want, size_t n, const char *from, const char *what) {
        char buf[2048];
        struct sockaddr_storage ss = {};
        socklen_t l = sizeof(ss);
        ssize_t r = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&ss, &l);
        if (r < 0)
                zdtm_fail("%s: recvfrom: %s (datagram lost?)", what, strerror(errno));
        if ((size_t)r != n || memcmp(buf, want, n) != 0)
                zdtm_fail("%s: got %zd bytes '%.*s', expected %zu '%.*s'", what, r, (int)r, buf, n, (int)n,
                          (const char *)want);
        if (strcmp(str(&ss), from) != 0)
                zdtm_fail("%s: source %s, expected %s", what, str(&ss), from);
}

int main(int argc, char **argv) {
        struct sockaddr_storage sa, ca, xa, p1a, p2a, da;
        char ca_s[64], xa_s[64], p1_s[64], p2_s[64], v4src[100];
        static char big[1400];
        zdtm_init(argc, argv);
        for (size_t i = 0; i < sizeof(big); i++)
                big[i] = (char)('a' + i % 26);

        int s = udp(AF_INET, "127.0.0.1", 0);
        socklen_t sl = name_of(s, &sa);
        int c = udp(AF_INET, "127.0.0.1", 0);
        name_of(c, &ca);
        zdtm_check(connect(c, (struct sockaddr *)&sa, sl) == 0, "connect: %s", strerror(errno));
        int x = socket(AF_INET, SOCK_DGRAM, 0);
        zdtm_check(sendto(x, "first", 5, 0, (struct sockaddr *)&sa, sl) == 5, "sendto: %s", strerror(errno));
        name_of(x, &xa); /* autobound to 0.0.0.0: its datagrams come from loopback */
        ((struct sockaddr_in *)&xa)->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        sk_send(c, "second", 6, "connected sender");
        sk_send(c, "", 0, "connected sender");
        zdtm_check(sendto(x, big, sizeof(big), 0, (struct sockaddr *)&sa, sl) == sizeof(big), "sendto: %s",
                   strerror(errno));
        snprintf(ca_s, sizeof(ca_s), "%s", str(&ca));
        snprintf(xa_s, sizeof(xa_s), "%s", str(&xa));

        int p1 = udp(AF_INET6, "::1", 1), p2 = udp(AF_INET6, "::1", 1);
        socklen_t p1l = name_of(p1, &p1a), p2l = name_of(p2, &p2a);
        zdtm_check(connect(p1, (struct sockaddr *)&p2a, p2l) == 0 && connect(p2, (struct sockaddr *)&p1a, p1l) == 0,
                   "connect v6: %s", strerror(errno));
        sk_send(p1, "to p2", 5, "p1");
        sk_send(p2, "to p1", 5, "p2");
        snprintf(p1_s, sizeof(p1_s), "%s", str(&p1a));
        snprintf(p2_s, sizeof(p2_s), "%s", str(&p2a));

        int d = udp(AF_INET6, "::", 0);
        socklen_t dl = name_of(d, &da);
        struct sockaddr_in d4 = { .sin_family = AF_INET, .sin_port = ((struct sockaddr_in6 *)&da)->sin6_port,
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        zdtm_check(sendto(x, "v4 to dual", 10, 0, (struct sockaddr *)&d4, sizeof(d4)) == 10, "sendto: %s",
                   strerror(errno));
        snprintf(v4src, sizeof(v4src), "[::ffff:%s", xa_s);
        char *colon = strrchr(v4src, ':');
        memmove(colon + 1, colon, strlen(colon) + 1);
        *colon = ']';

        int w = udp(AF_INET, "0.0.0.0", 0);
        int one = 1, rb = 65536;
        zdtm_check(setsockopt(w, SOL_SOCKET, SO_BROADCAST, &one, sizeof(one)) == 0 &&
                           setsockopt(w, SOL_SOCKET, SO_RCVBUF, &rb, sizeof(rb)) == 0,
                   "setsockopt: %s", strerror(errno));
        int wrb = sk_getint(w, SOL_SOCKET, SO_RCVBUF), srb = sk_getint(s, SOL_SOCKET, SO_RCVBUF);
        (void)dl;

        zdtm_ready();
        zdtm_wait_go();

        expect_from(s, "first", 5, xa_s, "datagram 1");
        expect_from(s, "second", 6, ca_s, "datagram 2");
        expect_from(s, "", 0, ca_s, "empty datagram");
        expect_from(s, big, sizeof(big), xa_s, "1400-byte datagram");
        sk_expect_empty(s, "bound socket");
        expect_from(p2, "to p2", 5, p1_s, "v6 p2");
        expect_from(p1, "to p1", 5, p2_s, "v6 p1");
        expect_from(d, "v4 to dual", 10, v4src, "dual-stack socket");
        if (sk_getint(w, SOL_SOCKET, SO_BROADCAST) != 1 || sk_getint(w, SOL_SOCKET, SO_RCVBUF) != wrb)
                zdtm_fail("SO_BROADCAST/SO_RCVBUF of the wildcard socket changed");
        if (sk_getint(s, SOL_SOCKET, SO_RCVBUF) != srb)
                zdtm_fail("SO_RCVBUF of the bound socket is %d, was %d", sk_getint(s, SOL_SOCKET, SO_RCVBUF), srb);
        if (sk_getint(p1, IPPROTO_IPV6, IPV6_V6ONLY) != 1 || sk_getint(d, IPPROTO_IPV6, IPV6_V6ONLY) != 0)
                zdtm_fail("IPV6_V6ONLY changed");

        /* the connected ones still only talk to each other */
        sk_send(p1, "again", 5, "p1 after restore");
        struct pollfd pf = { .fd = p2, .events = POLLIN };
        poll(&pf, 1, 2000);
        expect_from(p2, "again", 5, p1_s, "v6 p2 after restore");
        struct sockaddr_storage probe;
        name_of(s, &probe);
        if (sendto(p1, "x", 1, 0, (struct sockaddr *)&sa, sl) >= 0)
                zdtm_fail("connected v6 socket sent to an IPv4 address");
        sk_send(c, "third", 5, "connected sender after restore");
        pf.fd = s;
        poll(&pf, 1, 2000);
        expect_from(s, "third", 5, ca_s, "bound socket after restore");
        zdtm_check(sendto(s, "reply", 5, 0, (struct sockaddr *)&ca, sizeof(struct sockaddr_in)) == 5, "sendto: %s",
                   strerror(errno));
        pf.fd = c;
        poll(&pf, 1, 2000);
        expect_from(c, "reply", 5, str(&sa), "connected sender, reply");
        zdtm_pass();
}
