/* Pipes and a FIFO across C/R, with data in them:
 *   p1: 256 KiB (F_SETPIPE_SZ) holding 200 KiB, read end O_NONBLOCK, and a
 *       dup of its write end at another number;
 *   p2: default size, completely full, write end O_NONBLOCK (still full:
 *       EAGAIN);
 *   p3: empty, both ends (still connected);
 *   p4: 1000 bytes, write end closed (EOF after the data);
 *   p5: read end closed (EPIPE on write);
 *   fifo: a FIFO in the scratch dir opened O_RDWR, O_RDONLY|O_NONBLOCK and
 *       O_WRONLY, holding 777 bytes.
 * Sizes (F_GETPIPE_SZ), flags (F_GETFL), byte counts (FIONREAD) and the data
 * itself must be the same. */
#include "zdtm.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

static uint8_t pat(int id, size_t off) {
        return (uint8_t)(id * 37 + off * 13 + (off >> 9));
}

static void put(int fd, int id, size_t len) {
        uint8_t buf[4096];
        for (size_t off = 0; off < len;) {
                size_t n = len - off < sizeof(buf) ? len - off : sizeof(buf);
                for (size_t i = 0; i < n; i++)
                        buf[i] = pat(id, off + i);
                ssize_t r = write(fd, buf, n);
                if (r <= 0)
                        zdtm_fail("write pipe %d: %m", id);
                off += r;
        }
}

static void get(const char *what, int fd, int id, size_t len) {
        uint8_t buf[4096];
        for (size_t off = 0; off < len;) {
                size_t n = len - off < sizeof(buf) ? len - off : sizeof(buf);
                ssize_t r = read(fd, buf, n);
                if (r <= 0)
                        zdtm_fail("%s: read at %zu of %zu returned %zd: %m", what, off, len, r);
                for (ssize_t i = 0; i < r; i++)
                        if (buf[i] != pat(id, off + i))
                                zdtm_fail("%s: byte %zu is %#x, expected %#x", what, off + i, buf[i], pat(id, off + i));
                off += r;
        }
}

static int queued(int fd) {
        int n = -1;
        if (ioctl(fd, FIONREAD, &n))
                zdtm_fail("FIONREAD: %m");
        return n;
}

struct fdw {
        int fd, getfl;
};

int main(int argc, char **argv) {
        zdtm_init(argc, argv);
        signal(SIGPIPE, SIG_IGN);
        int p1[2], p2[2], p3[2], p4[2], p5[2];
        zdtm_check(pipe(p1) == 0 && pipe(p2) == 0 && pipe(p3) == 0 && pipe(p4) == 0 && pipe(p5) == 0, "pipe: %m");
        zdtm_check(fcntl(p1[1], F_SETPIPE_SZ, 256 * 1024) >= 256 * 1024, "F_SETPIPE_SZ: %m");
        put(p1[1], 1, 200 * 1024);
        zdtm_check(fcntl(p1[0], F_SETFL, O_NONBLOCK) == 0, "F_SETFL: %m");
        int p1w_dup = fcntl(p1[1], F_DUPFD, 50);
        zdtm_check(fcntl(p2[1], F_SETFL, O_NONBLOCK) == 0, "F_SETFL: %m");
        int p2size = fcntl(p2[0], F_GETPIPE_SZ);
        put(p2[1], 2, p2size);
        zdtm_check(write(p2[1], "x", 1) == -1 && errno == EAGAIN, "set-up: p2 not full");
        put(p4[1], 4, 1000);
        close(p4[1]);
        close(p5[0]);
        zdtm_check(mkfifo(zdtm_path("fifo"), 0600) == 0, "mkfifo: %m");
        int frw = open(zdtm_path("fifo"), O_RDWR);
        int fr = open(zdtm_path("fifo"), O_RDONLY | O_NONBLOCK);
        int fw = open(zdtm_path("fifo"), O_WRONLY);
        zdtm_check(frw >= 0 && fr >= 0 && fw >= 0, "open fifo: %m");
        put(fw, 6, 777);

        struct fdw fds[] = { { p1[0], 0 }, { p1[1], 0 }, { p1w_dup, 0 }, { p2[0], 0 }, { p2[1], 0 }, { p3[0], 0 },
                             { p3[1], 0 }, { p4[0], 0 }, { p5[1], 0 },  { frw, 0 },   { fr, 0 },    { fw, 0 } };
        const int nf = sizeof(fds) / sizeof(fds[0]);
        for (int i = 0; i < nf; i++)
                fds[i].getfl = fcntl(fds[i].fd, F_GETFL);
        const int sizes[5] = { fcntl(p1[0], F_GETPIPE_SZ), p2size, fcntl(p3[0], F_GETPIPE_SZ), fcntl(p4[0], F_GETPIPE_SZ),
                               fcntl(p5[1], F_GETPIPE_SZ) };
        const int rends[5] = { p1[0], p2[0], p3[0], p4[0], -1 };
        const int counts[5] = { 200 * 1024, p2size, 0, 1000, 0 };

        zdtm_ready();
        zdtm_wait_go();

        for (int i = 0; i < nf; i++) {
                int fl = fcntl(fds[i].fd, F_GETFL);
                if (fl != fds[i].getfl)
                        zdtm_fail("fd %d: F_GETFL %#o, expected %#o", fds[i].fd, fl, fds[i].getfl);
        }
        const int any[5] = { p1[0], p2[0], p3[0], p4[0], p5[1] };
        for (int i = 0; i < 5; i++) {
                int s = fcntl(any[i], F_GETPIPE_SZ);
                if (s != sizes[i])
                        zdtm_fail("pipe p%d: size %d, expected %d", i + 1, s, sizes[i]);
                if (rends[i] >= 0 && queued(rends[i]) != counts[i])
                        zdtm_fail("pipe p%d holds %d bytes, expected %d", i + 1, queued(rends[i]), counts[i]);
        }
        if (queued(fr) != 777)
                zdtm_fail("fifo holds %d bytes, expected 777", queued(fr));
        /* the write end of p1 and its dup are one file */
        char a[128], b[128];
        snprintf(a, sizeof(a), "/proc/self/fd/%d", p1[1]);
        snprintf(b, sizeof(b), "/proc/self/fd/%d", p1w_dup);
        char la[64] = "", lb[64] = "", lr[64] = "";
        readlink(a, la, sizeof(la) - 1);
        readlink(b, lb, sizeof(lb) - 1);
        snprintf(a, sizeof(a), "/proc/self/fd/%d", p1[0]);
        readlink(a, lr, sizeof(lr) - 1);
        if (strcmp(la, lb) || strcmp(la, lr))
                zdtm_fail("p1 ends are different pipes now: %s %s %s", lr, la, lb);
        if (write(p2[1], "x", 1) != -1 || errno != EAGAIN)
                zdtm_fail("full pipe p2 accepts more data after restore");
        get("p1", p1[0], 1, 200 * 1024);
        if (read(p1[0], a, 1) != -1 || errno != EAGAIN)
                zdtm_fail("p1 has more data than written (or its read end blocks)");
        get("p2", p2[0], 2, p2size);
        get("p4", p4[0], 4, 1000);
        if (read(p4[0], a, 1) != 0)
                zdtm_fail("p4 (write end closed) does not give EOF after its data");
        if (write(p5[1], "x", 1) != -1 || errno != EPIPE)
                zdtm_fail("p5 (read end closed) does not give EPIPE");
        get("fifo", fr, 6, 777);
        if (read(fr, a, 1) != -1 || errno != EAGAIN)
                zdtm_fail("fifo has more data than written");
        /* still connected */
        put(p3[1], 3, 3000);
        get("p3 after restore", p3[0], 3, 3000);
        put(p1w_dup, 7, 100);
        get("p1 via dup'ed write end", p1[0], 7, 100);
        put(frw, 8, 50);
        get("fifo O_RDWR -> O_RDONLY", fr, 8, 50);
        put(fw, 9, 60);
        get("fifo O_WRONLY -> O_RDWR", frw, 9, 60);
        zdtm_pass();
}
