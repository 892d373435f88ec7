/* Abstract unix names: a stream listener with an accepted connection
 * (data both ways) and a waiting one, a datagram socket bound to an
 * abstract name with datagrams queued from an autobound sender (bind()
 * with only the family: the kernel picks a 5-hex-digit name) and from a
 * socket connected to it, and a datagram socket connected to the
 * abstract one. Names on both sides must survive, as must the senders'
 * addresses. */
#include "sk_common.h"

static char *from_of(int fd, char *buf, size_t n, char *out) {
        struct sockaddr_un a = {};
        socklen_t l = sizeof(a);
        ssize_t r = recvfrom(fd, buf, n, MSG_DONTWAIT, (struct sockaddr *)&a, &l);
        if (r < 0)
                zdtm_fail("recvfrom: %s (datagram lost?)", strerror(errno));
        buf[r] = 0;
        out[0] = 0;
        if (l > offsetof(struct sockaddr_un, sun_path) + 1 && a.sun_path[0] == 0) {
                size_t k = l - offsetof(struct sockaddr_un, sun_path);
                out[0] = '@';
                memcpy(out + 1, a.sun_path + 1, k - 1);
                out[k] = 0;
        }
        return buf;
}

int main(int argc, char **argv) {
        struct sockaddr_un la, da;
        char lname[64], dname[64], auto_name[64], buf[64], from[64];
        zdtm_init(argc, argv);
        snprintf(lname, sizeof(lname), "@zdtm-abs-listen-%d", getpid());
        snprintf(dname, sizeof(dname), "@zdtm-abs-dgram-%d", getpid());

        int l = socket(AF_UNIX, SOCK_STREAM, 0);
        socklen_t ll = sk_addr(&la, lname);
        zdtm_check(l >= 0 && bind(l, (struct sockaddr *)&la, ll) == 0, "bind: %s", strerror(errno));
        zdtm_check(listen(l, 4) == 0, "listen: %s", strerror(errno));
        int c = socket(AF_UNIX, SOCK_STREAM, 0);
        zdtm_check(connect(c, (struct sockaddr *)&la, ll) == 0, "connect: %s", strerror(errno));
        int a = accept(l, NULL, NULL);
        zdtm_check(a >= 0, "accept: %s", strerror(errno));
        sk_send(c, "up", 2, "client");
        sk_send(a, "down", 4, "server");
        int w = socket(AF_UNIX, SOCK_STREAM, 0);
        zdtm_check(connect(w, (struct sockaddr *)&la, ll) == 0, "connect: %s", strerror(errno));

        int d = socket(AF_UNIX, SOCK_DGRAM, 0);
        socklen_t dl = sk_addr(&da, dname);
        zdtm_check(d >= 0 && bind(d, (struct sockaddr *)&da, dl) == 0, "bind: %s", strerror(errno));
        int s = socket(AF_UNIX, SOCK_DGRAM, 0);
        struct sockaddr_un any = { .sun_family = AF_UNIX };
        zdtm_check(bind(s, (struct sockaddr *)&any, sizeof(sa_family_t)) == 0, "autobind: %s", strerror(errno));
        snprintf(auto_name, sizeof(auto_name), "%s", sk_name(s, false));
        zdtm_check(auto_name[0] == '@' && strlen(auto_name) == 6, "autobind gave '%s'", auto_name);
        zdtm_check(sendto(s, "auto", 4, 0, (struct sockaddr *)&da, dl) == 4, "sendto: %s", strerror(errno));
        int k = socket(AF_UNIX, SOCK_DGRAM, 0);
        zdtm_check(connect(k, (struct sockaddr *)&da, dl) == 0, "connect: %s", strerror(errno));
        sk_send(k, "conn", 4, "connected sender"); /* unnamed: no sender address */

        zdtm_ready();
        zdtm_wait_go();

        sk_check_name(l, false, lname, "listener");
        sk_check_name(a, false, lname, "accepted socket");
        sk_check_name(c, true, lname, "client");
        sk_check_name(d, false, dname, "datagram socket");
        sk_check_name(s, false, auto_name, "autobound socket");
        sk_check_name(k, true, dname, "connected datagram socket");
        sk_expect_stream(a, "up", 2, "accepted socket");
        sk_expect_stream(c, "down", 4, "client");
        if (strcmp(from_of(d, buf, sizeof(buf), from), "auto") != 0 || strcmp(from, auto_name) != 0)
                zdtm_fail("datagram 1: '%s' from '%s', expected 'auto' from '%s'", buf, from, auto_name);
        if (strcmp(from_of(d, buf, sizeof(buf), from), "conn") != 0 || from[0])
                zdtm_fail("datagram 2: '%s' from '%s', expected 'conn' from nobody", buf, from);
        sk_expect_empty(d, "datagram socket");
        int a2 = accept(l, NULL, NULL);
        if (a2 < 0)
                zdtm_fail("the waiting connection is gone: %s", strerror(errno));
        sk_send(w, "x", 1, "waiting client");
        sk_expect_stream(a2, "x", 1, "late accepted socket");
        sk_send(k, "more", 4, "connected sender after restore");
        if (strcmp(from_of(d, buf, sizeof(buf), from), "more") != 0)
                zdtm_fail("connected datagram socket no longer reaches its peer");
        int n = socket(AF_UNIX, SOCK_STREAM, 0);
        if (connect(n, (struct sockaddr *)&la, ll) < 0)
                zdtm_fail("a new client cannot connect to '%s': %s", lname, strerror(errno));
        zdtm_pass();
}
