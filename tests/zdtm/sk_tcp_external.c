/* An established TCP connection to a peer outside the dumped tree (a
 * grandchild that left the tree), which keeps sending numbered records
 * every 2 ms while the tree is frozen, killed and restored: with
 * --tcp-established the connection is locked from the dump to the restore
 * (the peer's segments are dropped, not answered with RST), so the peer
 * just retransmits and the stream goes on. The workload echoes every
 * record; after restore it checks that the records keep coming in order
 * with none lost or repeated, then stops the peer, which checks the echoes
 * and writes its verdict to DIR/peer.result.
 * ZDTM: flavours=cr,norestore opts=--tcp-established ropts=--tcp-established timeout=60 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/wait.h>
#include <time.h>

#include "sk_common.h"

#define REC 16
#define AFTER 300 /* records to see after restore */

static void rec_make(char *r, uint32_t i) {
        memset(r, 0, REC);
        snprintf(r, REC, "rec %010u", i);
}

static void peer_result(const char *fmt, ...) {
        char buf[256];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        FILE *f = fopen(zdtm_path("peer.result.tmp"), "w");
        if (f) {
                fprintf(f, "%s\n", buf);
                fclose(f);
                rename(zdtm_path("peer.result.tmp"), zdtm_path("peer.result"));
        }
        _exit(0);
}

/* outside the tree: send records, read echoes, until "STOP" comes back */
static void peer(const struct sockaddr_in *a) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(s, (const struct sockaddr *)a, sizeof(*a)) < 0)
                peer_result("FAIL: connect: %s", strerror(errno));
        fcntl(s, F_SETFL, O_NONBLOCK);
        int one = 1; /* every record goes out at once, acknowledged or not */
        setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        uint32_t sent = 0, echoed = 0;
        char out[REC], in[REC];
        size_t outoff = REC, inoff = 0;
        struct timespec last = {}, now;
        for (;;) {
                clock_gettime(CLOCK_MONOTONIC, &now);
                long ms = (now.tv_sec - last.tv_sec) * 1000 + (now.tv_nsec - last.tv_nsec) / 1000000;
                if (outoff == REC && ms >= 2) {
                        rec_make(out, sent++);
                        outoff = 0;
                        last = now;
                }
                if (outoff < REC) {
                        ssize_t n = send(s, out + outoff, REC - outoff, MSG_NOSIGNAL);
                        if (n > 0)
                                outoff += n;
                        else if (n < 0 && errno != EAGAIN)
                                peer_result("FAIL: send after %u records: %s", sent, strerror(errno));
                }
                ssize_t n = recv(s, in + inoff, REC - inoff, 0);
                if (n == 0)
                        peer_result("FAIL: the connection was closed after %u echoes", echoed);
                if (n < 0 && errno != EAGAIN)
                        peer_result("FAIL: recv after %u echoes: %s (RST while the tree was down?)", echoed,
                                    strerror(errno));
                if (n > 0 && (inoff += n) == REC) {
                        inoff = 0;
                        if (memcmp(in, "STOP", 5) == 0)
                                peer_result("OK %u records echoed", echoed);
                        char want[REC];
                        rec_make(want, echoed);
                        if (memcmp(in, want, REC) != 0)
                                peer_result("FAIL: echo %u is '%.15s'", echoed, in);
                        echoed++;
                }
                struct timespec ts = { 0, 200 * 1000 };
                nanosleep(&ts, NULL);
        }
}

static void full_read(int fd, char *buf) {
        size_t off = 0;
        while (off < REC) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                if (poll(&p, 1, 10000) != 1)
                        zdtm_fail("no record from the peer for 10 s (after %zu bytes of one)", off);
                ssize_t n = recv(fd, buf + off, REC - off, 0);
                if (n <= 0)
                        zdtm_fail("recv from the peer: %s", n < 0 ? strerror(errno) : "EOF");
                off += n;
        }
}

int main(int argc, char **argv) {
        zdtm_init(argc, argv);
        int l = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t al = sizeof(a);
        zdtm_check(bind(l, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(l, 1) == 0 &&
                           getsockname(l, (struct sockaddr *)&a, &al) == 0,
                   "listen: %s", strerror(errno));
        unlink(zdtm_path("peer.result"));
        pid_t k = fork();
        zdtm_check(k >= 0, "fork");
        if (k == 0) {
                if (fork() == 0) {
                        close(l);
                        setsid(); /* out of the tree's session too: its ids must be free to restore */
                        peer(&a);
                }
                _exit(0);
        }
        waitpid(k, NULL, 0); /* the peer is now outside the tree */
        int s = accept(l, NULL, NULL);
        zdtm_check(s >= 0, "accept: %s", strerror(errno));
        close(l);
        int one = 1;
        setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

        uint32_t next = 0;
        char r[REC], want[REC];
        for (; next < 20; next++) {
                full_read(s, r);
                rec_make(want, next);
                zdtm_check(memcmp(r, want, REC) == 0, "record %u is '%.15s'", next, r);
                zdtm_check(send(s, r, REC, 0) == REC, "echo: %s", strerror(errno));
        }

        zdtm_ready();
        zdtm_wait_go();

        /* the backlog queued while frozen, then at least a second of new records */
        uint32_t stop = next + AFTER;
        struct timespec t0, now;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (;; next++) {
                clock_gettime(CLOCK_MONOTONIC, &now);
                if (next >= stop && (now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000 > 1000)
                        break;
                full_read(s, r);
                rec_make(want, next);
                if (memcmp(r, want, REC) != 0)
                        zdtm_fail("record %u is '%.15s' (lost or repeated bytes)", next, r);
                if (send(s, r, REC, 0) != REC)
                        zdtm_fail("echo of record %u: %s", next, strerror(errno));
        }
        memset(r, 0, REC);
        memcpy(r, "STOP", 5);
        if (send(s, r, REC, 0) != REC)
                zdtm_fail("stop: %s", strerror(errno));
        for (int i = 0; i < 1000; i++) {
                char res[256] = "";
                FILE *f = fopen(zdtm_path("peer.result"), "r");
                if (f) {
                        if (!fgets(res, sizeof(res), f))
                                res[0] = 0;
                        fclose(f);
                        if (strncmp(res, "OK", 2) != 0)
                                zdtm_fail("peer: %s", res);
                        zdtm_pass();
                }
                struct timespec ts = { 0, 10 * 1000 * 1000 };
                nanosleep(&ts, NULL);
        }
        zdtm_fail("the peer gave no verdict");
}
