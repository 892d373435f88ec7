/* unix socketpairs: stream (data queued both ways, one end shut down for
 * writing, 400 KiB in one direction), datagram (message boundaries, an
 * empty datagram, a 300000-byte one, order), seqpacket (records, then end-of-file after the
 * peer's shutdown), a pair split across parent and child, buffer sizes,
 * SO_PASSCRED, O_NONBLOCK, FD_CLOEXEC. */
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "fd_common.h"

#define BIG (400 * 1024)
#define BIGDG 300000

static unsigned char big[BIG];

static void xsend(int fd, const void *p, size_t n) {
        zdtm_check(send(fd, p, n, MSG_DONTWAIT) == (ssize_t)n, "send %zu: %s", n, strerror(errno));
}

static void expect_msg(int fd, const void *want, size_t n, const char *what) {
        static unsigned char buf[BIG + 1];
        ssize_t r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (r < 0)
                zdtm_fail("%s: recv: %s (queued data lost?)", what, strerror(errno));
        if ((size_t)r != n)
                zdtm_fail("%s: message of %zd bytes, expected %zu (boundaries lost?)", what, r, n);
        if (memcmp(buf, want, n) != 0)
                zdtm_fail("%s: message contents differ", what);
}

static void expect_stream(int fd, const void *want, size_t n, const char *what) {
        static unsigned char buf[BIG];
        size_t got = 0;
        while (got < n) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                if (poll(&p, 1, 1000) <= 0)
                        zdtm_fail("%s: only %zu of %zu bytes queued", what, got, n);
                ssize_t r = recv(fd, buf + got, n - got, MSG_DONTWAIT);
                if (r <= 0)
                        zdtm_fail("%s: recv after %zu of %zu bytes: %zd %s", what, got, n, r, strerror(errno));
                got += r;
        }
        if (memcmp(buf, want, n) != 0)
                zdtm_fail("%s: stream contents differ", what);
}

static void expect_empty(int fd, const char *what) {
        char c;
        ssize_t r = recv(fd, &c, 1, MSG_DONTWAIT);
        if (r >= 0 || errno != EAGAIN)
                zdtm_fail("%s: expected an empty queue, recv returned %zd (%s)", what, r, r < 0 ? strerror(errno) : "");
}

static int getint(int fd, int opt) {
        int v = -1;
        socklen_t l = sizeof(v);
        getsockopt(fd, SOL_SOCKET, opt, &v, &l);
        return v;
}

int main(int argc, char **argv) {
        zdtm_init(argc, argv);
        int st[2], dg[2], sp[2], xp[2];
        zdtm_check(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, st) == 0, "socketpair: %s", strerror(errno));
        zdtm_check(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, dg) == 0, "socketpair: %s", strerror(errno));
        zdtm_check(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sp) == 0, "socketpair: %s", strerror(errno));
        zdtm_check(socketpair(AF_UNIX, SOCK_STREAM, 0, xp) == 0, "socketpair: %s", strerror(errno));
        for (size_t i = 0; i < BIG; i++)
                big[i] = (unsigned char)(i * 13 + (i >> 10));

        /* stream: a -> b "hello" "world" (one byte stream), b -> a 400 KiB */
        int v = 512 * 1024;
        zdtm_check(setsockopt(st[1], SOL_SOCKET, SO_SNDBUF, &v, sizeof(v)) == 0, "SO_SNDBUF: %s", strerror(errno));
        xsend(st[0], "hello", 5);
        xsend(st[0], "world", 5);
        size_t off = 0;
        while (off < BIG) {
                ssize_t n = send(st[1], big + off, BIG - off, MSG_DONTWAIT);
                zdtm_check(n > 0, "send big: %s", strerror(errno));
                off += n;
        }
        shutdown(st[0], SHUT_WR);
        int sndbuf1 = getint(st[1], SO_SNDBUF);
        v = 1;
        zdtm_check(setsockopt(st[1], SOL_SOCKET, SO_PASSCRED, &v, sizeof(v)) == 0, "SO_PASSCRED");

        /* datagrams: three to dg[1] incl. an empty one, one to dg[0] */
        xsend(dg[0], "first", 5);
        xsend(dg[0], "", 0);
        xsend(dg[0], big, 60000);
        v = 1024 * 1024;
        zdtm_check(setsockopt(dg[1], SOL_SOCKET, SO_SNDBUF, &v, sizeof(v)) == 0, "SO_SNDBUF: %s", strerror(errno));
        int sndbuf_dg1 = getint(dg[1], SO_SNDBUF);
        xsend(dg[1], "reply", 5);
        xsend(dg[1], big + 1, BIGDG); /* larger than cryo's first peek buffer */
        v = 100000;
        zdtm_check(setsockopt(dg[0], SOL_SOCKET, SO_RCVBUF, &v, sizeof(v)) == 0, "SO_RCVBUF");
        int rcvbuf0 = getint(dg[0], SO_RCVBUF);

        /* seqpacket: two records then the writer shuts down */
        xsend(sp[0], "rec-1", 5);
        xsend(sp[0], "record-two", 10);
        shutdown(sp[0], SHUT_WR);

        /* split across processes: "pre" waits in the child's queue; after
         * restore the child reads it and "ping" and echoes both */
        xsend(xp[0], "pre", 3);
        pid_t child = fork();
        zdtm_check(child >= 0, "fork: %s", strerror(errno));
        if (child == 0) {
                /* keeps xp[0] too: closing it here would race with the
                 * runner's look at the fds after ready */
                zdtm_wait_go();
                char buf[64];
                size_t got = 0;
                while (got < 7) {
                        ssize_t n = recv(xp[1], buf + got, sizeof(buf) - got, 0);
                        if (n <= 0)
                                _exit(1);
                        got += n;
                }
                _exit(send(xp[1], buf, got, 0) == (ssize_t)got ? 0 : 2);
        }
        close(xp[1]);

        zdtm_ready();
        zdtm_wait_go();

        fd_check(st[0], "socket:[", false, true, "stream end a");
        fd_check(st[1], "socket:[", false, true, "stream end b");
        fd_check(dg[0], "socket:[", true, false, "dgram end a");
        fd_check(dg[1], "socket:[", true, false, "dgram end b");
        fd_check(sp[0], "socket:[", false, false, "seqpacket end a");

        /* the pair is still a pair: peers by inode */
        expect_stream(st[1], "helloworld", 10, "stream b");
        char c;
        if (recv(st[1], &c, 1, MSG_DONTWAIT) != 0)
                zdtm_fail("stream b: no end-of-file after the data (shutdown of a lost)");
        expect_stream(st[0], big, BIG, "stream a (400 KiB)");
        expect_empty(st[0], "stream a after reading");
        if (send(st[0], "x", 1, MSG_NOSIGNAL | MSG_DONTWAIT) >= 0 || errno != EPIPE)
                zdtm_fail("stream a: send after SHUT_WR did not fail with EPIPE");
        if (send(st[1], "y", 1, MSG_DONTWAIT) != 1)
                zdtm_fail("stream b: send: %s", strerror(errno));
        expect_stream(st[0], "y", 1, "stream a after restore");
        if (getint(st[1], SO_SNDBUF) != sndbuf1)
                zdtm_fail("stream b: SO_SNDBUF %d, expected %d", getint(st[1], SO_SNDBUF), sndbuf1);
        if (getint(st[1], SO_PASSCRED) != 1 || getint(st[0], SO_PASSCRED) != 0)
                zdtm_fail("SO_PASSCRED: %d/%d, expected 0/1", getint(st[0], SO_PASSCRED),
                          getint(st[1], SO_PASSCRED));

        expect_msg(dg[1], "first", 5, "dgram b, message 1");
        expect_msg(dg[1], "", 0, "dgram b, message 2 (empty)");
        expect_msg(dg[1], big, 60000, "dgram b, message 3 (60000 bytes)");
        expect_empty(dg[1], "dgram b after 3 messages");
        expect_msg(dg[0], "reply", 5, "dgram a");
        expect_msg(dg[0], big + 1, BIGDG, "dgram a, 300000-byte message");
        expect_empty(dg[0], "dgram a after 2 messages");
        if (getint(dg[1], SO_SNDBUF) != sndbuf_dg1)
                zdtm_fail("dgram b: SO_SNDBUF %d, expected %d", getint(dg[1], SO_SNDBUF), sndbuf_dg1);
        if (getint(dg[0], SO_RCVBUF) != rcvbuf0)
                zdtm_fail("dgram a: SO_RCVBUF %d, expected %d", getint(dg[0], SO_RCVBUF), rcvbuf0);
        xsend(dg[0], "again", 5);
        expect_msg(dg[1], "again", 5, "dgram b after restore");

        expect_msg(sp[1], "rec-1", 5, "seqpacket record 1");
        expect_msg(sp[1], "record-two", 10, "seqpacket record 2");
        if (recv(sp[1], &c, 1, MSG_DONTWAIT) != 0)
                zdtm_fail("seqpacket: no end-of-file after the records");

        /* the child's end */
        xsend(xp[0], "ping", 4);
        expect_stream(xp[0], "preping", 7, "split pair: echo from the child");
        int status;
        if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
                zdtm_fail("split pair: child failed (status %#x)", status);
        zdtm_pass();
}
