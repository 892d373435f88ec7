/* Pty pairs inside the tree, with bytes queued both ways.
 *
 *   A (cooked): P holds the master; C is a session leader with the slave as
 *      its controlling terminal on fds 0-2 and a /dev/tty fd; its child G
 *      is the foreground group and does the reading after restore. Termios changed
 *      (VERASE ^H, no ECHOCTL), window 40x120. Queued at dump: towards the
 *      master C's "from-child\n" (as "from-child\r\n") and the echo of what
 *      P typed; towards the slave the line "line1\n", a line ended by ^D
 *      and the unfinished line "a\nb" (its newline typed literally, ^V).
 *   B (raw): P holds master (packet mode) and slave (exclusive, raw),
 *      window 10x20, binary bytes queued both ways.
 *   D: a pty P never unlocked (its slave never opened).
 *   E: a pty whose slave was opened, written to and closed: the master
 *      reads the bytes, then sees the hangup.
 * A pty opened first stays only in C (P closes it): P's fds name the ptys
 * out of order (B's number is higher than A's, the lowest is C's), so
 * restore has to hold numbers for later pairs.
 * After restore every pty has its number, termios, window size, modes and
 * queues; through A, G reads the lines as they were typed, completes the
 * unfinished one, echoes and answers, switches to raw mode and back, and a
 * ^C written on the master interrupts it with SIGINT.
 * ZDTM: serial=1 (pty numbers are global: never alongside other tests)
 */
#include "zdtm.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>

static void msleep(int ms) {
        struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
        nanosleep(&ts, NULL);
}

static int inq(int fd) {
        int n = -1;
        if (ioctl(fd, TIOCINQ, &n) < 0)
                return -1;
        return n;
}

static int ptn(int m) {
        int n = -1;
        if (ioctl(m, TIOCGPTN, &n) < 0)
                zdtm_fail("TIOCGPTN: %m");
        return n;
}

static void wait_inq(int fd, int want, const char *what) {
        for (int i = 0; i < 4000 && inq(fd) < want; i++)
                msleep(1);
        if (inq(fd) != want)
                zdtm_fail("%s: %d bytes queued, expected %d", what, inq(fd), want);
}

/* read exactly len bytes from a non-blocking fd within 4 s, compare */
static void expect(int fd, const char *want, size_t len, const char *what) {
        char buf[256];
        size_t got = 0;
        for (int i = 0; i < 4000 && got < len; i++) {
                ssize_t n = read(fd, buf + got, len - got);
                if (n > 0)
                        got += n;
                else if (n < 0 && errno != EAGAIN)
                        zdtm_fail("%s: read: %m", what);
                else
                        msleep(1);
        }
        if (got != len || memcmp(buf, want, len) != 0) {
                char hex[600] = "";
                for (size_t i = 0; i < got && i < 64; i++)
                        snprintf(hex + strlen(hex), sizeof(hex) - strlen(hex), "%02x ", (unsigned char)buf[i]);
                zdtm_fail("%s: got %zu bytes [%s], expected %zu", what, got, hex, len);
        }
        int extra = inq(fd);
        if (extra > 0)
                zdtm_fail("%s: %d more bytes than expected", what, extra);
}

static void xwrite(int fd, const void *b, size_t n) {
        if (write(fd, b, n) != (ssize_t)n)
                zdtm_fail("write: %m");
}

/* ------------------------------------------------------------ child side */

static int to_p = -1, from_p = -1; /* sync pipes in C */
static char cfail[512];

#define CFAIL(...)                                                                                                     \
        do {                                                                                                           \
                snprintf(cfail, sizeof(cfail), __VA_ARGS__);                                                           \
                goto out;                                                                                              \
        } while (0)

static void c_tell(char c) {
        if (write(to_p, &c, 1) != 1)
                _exit(5);
}

static char c_wait(void) {
        char c;
        if (read(from_p, &c, 1) != 1)
                _exit(6);
        return c;
}

static volatile sig_atomic_t got_int;

static void on_int(int sig) {
        got_int = 1;
}

/* G: the foreground group of A; it does the talking after restore */
static void g_main(int status_fd, int devfd) {
        struct termios t0, t;
        struct winsize ws;
        char buf[256];
        ssize_t n;

        tcgetattr(0, &t0);
        zdtm_wait_go();

        /* the lines as they were typed before the checkpoint */
        c_wait();
        n = read(0, buf, sizeof(buf));
        if (n != 6 || memcmp(buf, "line1\n", 6))
                CFAIL("first read on the slave: %zd bytes '%.*s', expected 'line1\\n': %m", n, (int)(n > 0 ? n : 0), buf);
        n = read(0, buf, sizeof(buf));
        if (n != 3 || memcmp(buf, "eof", 3))
                CFAIL("second read on the slave: %zd bytes '%.*s', expected 'eof' (ended by ^D)", n, (int)(n > 0 ? n : 0),
                      buf);
        c_tell('c'); /* P types "cd\n" */
        n = read(0, buf, sizeof(buf));
        if (n != 6 || memcmp(buf, "a\nbcd\n", 6))
                CFAIL("third read on the slave: %zd bytes '%.*s', expected 'a\\nbcd\\n' (the unfinished line completed)", n,
                      (int)(n > 0 ? n : 0), buf);
        /* echo and answer */
        c_tell('p');
        n = read(0, buf, sizeof(buf));
        if (n != 5 || memcmp(buf, "ping\n", 5))
                CFAIL("ping: read %zd bytes '%.*s'", n, (int)(n > 0 ? n : 0), buf);
        xwrite(1, "pong\n", 5);

        /* state */
        if (tcgetattr(0, &t) < 0)
                CFAIL("tcgetattr: %m");
        if (t.c_cc[VERASE] != 8 || (t.c_lflag & ECHOCTL) || !(t.c_lflag & ICANON) || memcmp(&t, &t0, sizeof(t)))
                CFAIL("termios changed: lflag %#x (was %#x), VERASE %d", t.c_lflag, t0.c_lflag, t.c_cc[VERASE]);
        if (ioctl(0, TIOCGWINSZ, &ws) < 0 || ws.ws_row != 40 || ws.ws_col != 120)
                CFAIL("window size %dx%d, expected 40x120", ws.ws_row, ws.ws_col);
        if (getsid(0) != getppid())
                CFAIL("session %d, expected its parent's", getsid(0));
        if (tcgetpgrp(0) != getpid())
                CFAIL("foreground group %d, expected its own %d", tcgetpgrp(0), getpid());
        unsigned d1 = 0, d2 = 0;
        struct stat s0;
        int tfd = open("/dev/tty", O_RDWR);
        if (tfd < 0)
                CFAIL("open /dev/tty: %m (no controlling terminal)");
        fstat(0, &s0);
        if (ioctl(tfd, TIOCGDEV, &d1) < 0 || ioctl(devfd, TIOCGDEV, &d2) < 0 || d1 != s0.st_rdev || d2 != s0.st_rdev)
                CFAIL("/dev/tty is device %#x, the old /dev/tty fd %#x, the slave is %#lx", d1, d2, (unsigned long)s0.st_rdev);
        close(tfd);
        char lnk[64];
        snprintf(lnk, sizeof(lnk), "/proc/self/fd/%d", devfd);
        n = readlink(lnk, buf, sizeof(buf) - 1);
        if (n < 0 || (buf[n] = 0, strcmp(buf, "/dev/tty")))
                CFAIL("fd %d is '%s', expected /dev/tty", devfd, n < 0 ? "?" : buf);

        /* raw and back */
        t = t0;
        cfmakeraw(&t);
        t.c_cc[VMIN] = 2;
        t.c_cc[VTIME] = 0;
        if (tcsetattr(0, TCSANOW, &t) < 0)
                CFAIL("raw mode: %m");
        c_tell('r');
        n = read(0, buf, sizeof(buf));
        if (n != 2 || buf[0] != 3 || buf[1] != 'q')
                CFAIL("raw read: %zd bytes", n);
        if (tcsetattr(0, TCSANOW, &t0) < 0)
                CFAIL("cooked mode: %m");
        /* P types ^C: SIGINT for this group, the foreground one */
        sigset_t none, intr;
        sigemptyset(&none);
        sigemptyset(&intr);
        sigaddset(&intr, SIGINT);
        sigprocmask(SIG_BLOCK, &intr, NULL);
        c_tell('i');
        for (int i = 0; i < 1000 && !got_int; i++) {
                struct timespec ts = { 0, 5000000 };
                sigprocmask(SIG_UNBLOCK, &intr, NULL);
                nanosleep(&ts, NULL);
                sigprocmask(SIG_BLOCK, &intr, NULL);
        }
        if (!got_int)
                CFAIL("no SIGINT after ^C on the master");
        _exit(42);
out:
        if (write(status_fd, cfail, strlen(cfail)) < 0)
                _exit(7);
        _exit(1);
}

/* C: the session leader of A */
static void c_main(const char *slave, int status_fd) {
        pid_t g;
        int st, devfd;

        if (setsid() < 0)
                _exit(10);
        int s = open(slave, O_RDWR); /* becomes the controlling terminal */
        if (s < 0)
                _exit(11);
        dup2(s, 0);
        dup2(s, 1);
        dup2(s, 2);
        close(s);
        devfd = open("/dev/tty", O_RDWR);
        if (devfd < 0)
                _exit(12);
        signal(SIGINT, on_int);
        g = fork();
        if (g == 0) {
                setpgid(0, 0);
                g_main(status_fd, devfd);
        }
        setpgid(g, g);
        if (tcsetpgrp(0, g) < 0)
                _exit(13);
        xwrite(1, "from-child\n", 11);
        c_tell('w');
        close(from_p);
        close(to_p);
        if (waitpid(g, &st, 0) != g)
                CFAIL("waitpid: %m");
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 42)
                _exit(1); /* G reported why */
        if (getsid(0) != getpid())
                CFAIL("session %d, expected its own", getsid(0));
        snprintf(cfail, sizeof(cfail), "OK");
out:
        if (write(status_fd, cfail, strlen(cfail)) < 0)
                _exit(7);
        _exit(strcmp(cfail, "OK") ? 1 : 0);
}

/* ------------------------------------------------------------ parent */

static int st_fd = -1;

/* the child's next step, or its report if it gave up */
static void step(int fd, char want, const char *what) {
        char c, res[512] = "";
        if (read(fd, &c, 1) == 1 && c == want)
                return;
        ssize_t n = read(st_fd, res, sizeof(res) - 1);
        zdtm_fail("child stopped before %s: %s", what, n > 0 ? res : "no report");
}

int main(int argc, char **argv) {
        int p2c[2], c2p[2], stp[2];
        char name_a[64], name_b[64], cbuf;
        struct winsize ws;
        struct termios t;

        zdtm_init(argc, argv);
        signal(SIGPIPE, SIG_IGN);

        /* kept only by C: restore meets the numbers out of order */
        int gap = posix_openpt(O_RDWR | O_NOCTTY);
        zdtm_check(gap >= 0, "pty: %m");

        /* A */
        int ma = posix_openpt(O_RDWR | O_NOCTTY | O_NONBLOCK);
        zdtm_check(ma >= 0 && grantpt(ma) == 0 && unlockpt(ma) == 0, "pty A: %m");
        snprintf(name_a, sizeof(name_a), "%s", ptsname(ma));
        int na = ptn(ma);
        ws = (struct winsize){ .ws_row = 40, .ws_col = 120 };
        zdtm_check(ioctl(ma, TIOCSWINSZ, &ws) == 0, "TIOCSWINSZ: %m");
        zdtm_check(tcgetattr(ma, &t) == 0, "tcgetattr A: %m");
        t.c_cc[VERASE] = 8;
        t.c_lflag &= ~ECHOCTL;
        zdtm_check(tcsetattr(ma, TCSANOW, &t) == 0, "tcsetattr A: %m");
        zdtm_check(pipe(p2c) == 0 && pipe(c2p) == 0 && pipe(stp) == 0, "pipe: %m");
        pid_t c = fork();
        zdtm_check(c >= 0, "fork: %m");
        if (c == 0) {
                close(ma);
                close(p2c[1]);
                close(c2p[0]);
                close(stp[0]);
                from_p = p2c[0];
                to_p = c2p[1];
                c_main(name_a, stp[1]);
        }
        close(p2c[0]);
        close(c2p[1]);
        close(stp[1]);
        st_fd = stp[0];
        zdtm_check(read(c2p[0], &cbuf, 1) == 1, "child did not start");
        wait_inq(ma, 12, "A master after the child wrote");
        xwrite(ma, "line1\neof\004a\026\nb", 14); /* ^V: a newline typed literally */
        wait_inq(ma, 12 + 7 + 3 + 4, "A master after typing");

        /* B */
        close(gap);
        int mb = posix_openpt(O_RDWR | O_NOCTTY | O_NONBLOCK);
        zdtm_check(mb >= 0 && grantpt(mb) == 0 && unlockpt(mb) == 0, "pty B: %m");
        snprintf(name_b, sizeof(name_b), "%s", ptsname(mb));
        int nb = ptn(mb);
        int sb = open(name_b, O_RDWR | O_NOCTTY | O_NONBLOCK);
        zdtm_check(sb >= 0, "open %s: %m", name_b);
        zdtm_check(tcgetattr(sb, &t) == 0, "tcgetattr B: %m");
        cfmakeraw(&t);
        t.c_cc[VMIN] = 1;
        t.c_cc[VTIME] = 0;
        zdtm_check(tcsetattr(sb, TCSANOW, &t) == 0, "tcsetattr B: %m");
        struct termios tb = t;
        ws = (struct winsize){ .ws_row = 10, .ws_col = 20, .ws_xpixel = 7 };
        zdtm_check(ioctl(mb, TIOCSWINSZ, &ws) == 0, "TIOCSWINSZ B: %m");
        int one = 1;
        zdtm_check(ioctl(mb, TIOCPKT, &one) == 0, "TIOCPKT: %m");
        zdtm_check(ioctl(sb, TIOCEXCL) == 0, "TIOCEXCL: %m");
        static const char to_slave_b[] = "\0\001\177\377raw\r\n\003";
        static const char to_master_b[] = "\r\nout\0\n\377";
        xwrite(mb, to_slave_b, sizeof(to_slave_b) - 1);
        xwrite(sb, to_master_b, sizeof(to_master_b) - 1);
        wait_inq(sb, sizeof(to_slave_b) - 1, "B slave");
        wait_inq(mb, sizeof(to_master_b) - 1, "B master");

        /* D: locked, never opened */
        int md = posix_openpt(O_RDWR | O_NOCTTY);
        zdtm_check(md >= 0, "pty D: %m");
        int nd = ptn(md);

        /* E: slave opened, written to, closed */
        int me = posix_openpt(O_RDWR | O_NOCTTY | O_NONBLOCK);
        zdtm_check(me >= 0 && grantpt(me) == 0 && unlockpt(me) == 0, "pty E: %m");
        int ne = ptn(me);
        int se = open(ptsname(me), O_RDWR | O_NOCTTY);
        zdtm_check(se >= 0, "open slave E: %m");
        xwrite(se, "bye\n", 4);
        close(se);
        wait_inq(me, 5, "E master");

        zdtm_ready();
        zdtm_wait_go();

        /* numbers and states */
        if (ptn(ma) != na || strcmp(ptsname(ma), name_a) || ptn(mb) != nb || strcmp(ptsname(mb), name_b) ||
            ptn(md) != nd || ptn(me) != ne)
                zdtm_fail("pty numbers changed: A %d->%d B %d->%d D %d->%d E %d->%d", na, ptn(ma), nb, ptn(mb), nd,
                          ptn(md), ne, ptn(me));
        int v = -1;
        if (ioctl(md, TIOCGPTLCK, &v) < 0 || v != 1)
                zdtm_fail("pty D is no longer locked (%d)", v);
        if (ioctl(ma, TIOCGPTLCK, &v) < 0 || v != 0)
                zdtm_fail("pty A is locked");
        if (ioctl(mb, TIOCGPKT, &v) < 0 || v != 1)
                zdtm_fail("pty B left packet mode");
        if (ioctl(ma, TIOCGPKT, &v) < 0 || v != 0)
                zdtm_fail("pty A is in packet mode");
        if (ioctl(sb, TIOCGEXCL, &v) < 0 || v != 1)
                zdtm_fail("pty B's slave is no longer exclusive");
        if (ioctl(mb, TIOCGWINSZ, &ws) < 0 || ws.ws_row != 10 || ws.ws_col != 20 || ws.ws_xpixel != 7)
                zdtm_fail("pty B window %dx%d", ws.ws_row, ws.ws_col);
        if (tcgetattr(sb, &t) < 0 || memcmp(&t, &tb, sizeof(t)))
                zdtm_fail("pty B termios changed (lflag %#x, was %#x)", t.c_lflag, tb.c_lflag);
        pid_t sid = 0;
        if (ioctl(ma, TIOCGSID, &sid) < 0 || sid != c)
                zdtm_fail("pty A is the controlling terminal of session %d, expected %d", sid, c);

        /* B's queues: raw both ways, packet header on the master */
        expect(sb, to_slave_b, sizeof(to_slave_b) - 1, "pty B slave");
        char pk[sizeof(to_master_b)];
        pk[0] = 0;
        memcpy(pk + 1, to_master_b, sizeof(to_master_b) - 1);
        expect(mb, pk, sizeof(pk), "pty B master (packet mode)");
        /* E: the bytes, then the hangup */
        struct pollfd pf = { .fd = me, .events = POLLIN };
        poll(&pf, 1, 0);
        if (!(pf.revents & POLLHUP))
                zdtm_fail("pty E: the master does not see the hangup (revents %#x)", pf.revents);
        expect(me, "bye\r\n", 5, "pty E master");
        char b1[8];
        if (read(me, b1, sizeof(b1)) != -1 || errno != EIO)
                zdtm_fail("pty E: read after the bytes did not fail with EIO: %m");

        /* A: what waited on the master, then the conversation */
        expect(ma, "from-child\r\nline1\r\neofa\r\nb", 26, "pty A master");
        cbuf = 'g';
        xwrite(p2c[1], &cbuf, 1);
        step(c2p[0], 'c', "completing the line");
        xwrite(ma, "cd\n", 3);
        expect(ma, "cd\r\n", 4, "pty A echo of cd");
        step(c2p[0], 'p', "ping");
        xwrite(ma, "ping\n", 5);
        expect(ma, "ping\r\npong\r\n", 12, "pty A echo and answer");
        step(c2p[0], 'r', "raw mode");
        xwrite(ma, "\003q", 2);
        step(c2p[0], 'i', "^C");
        xwrite(ma, "\003", 1);
        char res[512] = "";
        ssize_t n = read(stp[0], res, sizeof(res) - 1);
        int st;
        if (waitpid(c, &st, 0) != c)
                zdtm_fail("waitpid: %m");
        if (n <= 0 || strcmp(res, "OK"))
                zdtm_fail("child: %s (status %#x)", n > 0 ? res : "no report", st);
        if (!WIFEXITED(st) || WEXITSTATUS(st))
                zdtm_fail("child exit status %#x", st);
        zdtm_pass();
}
