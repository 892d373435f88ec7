/* Refusal: a pty pair in packet mode with a status byte waiting on the
 * master (the slave's IXON was turned off: TIOCPKT_NOSTOP), which cannot be
 * saved. The refused dump must leave the status byte and the bytes queued
 * both ways as they were.
 * ZDTM: flavours=norestore refuse=packet */
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>

#include "zdtm.h"

static void expect(int fd, const char *want, size_t len, const char *what) {
        char buf[64];
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n != (ssize_t)len || memcmp(buf, want, len))
                zdtm_fail("%s: read %zd bytes, expected %zu", what, n, len);
}

int main(int argc, char **argv) {
        struct termios t;
        int one = 1, q = -1;

        zdtm_init(argc, argv);
        int m = posix_openpt(O_RDWR | O_NOCTTY | O_NONBLOCK);
        zdtm_check(m >= 0 && grantpt(m) == 0 && unlockpt(m) == 0, "pty: %s", strerror(errno));
        int s = open(ptsname(m), O_RDWR | O_NOCTTY | O_NONBLOCK);
        zdtm_check(s >= 0, "open slave: %s", strerror(errno));
        zdtm_check(ioctl(m, TIOCPKT, &one) == 0, "TIOCPKT: %s", strerror(errno));
        zdtm_check(tcgetattr(s, &t) == 0, "tcgetattr");
        t.c_iflag &= ~IXON;
        zdtm_check(tcsetattr(s, TCSANOW, &t) == 0, "tcsetattr");
        zdtm_check(write(s, "out", 3) == 3, "write slave");
        zdtm_check(write(m, "in\n", 3) == 3, "write master");
        for (int i = 0; i < 2000 && (ioctl(m, TIOCINQ, &q), q) < 7; i++) {
                struct timespec ts = { 0, 1000000 };
                nanosleep(&ts, NULL);
        }
        zdtm_check(q == 7, "master queue %d bytes", q);
        zdtm_ready();
        zdtm_wait_go();
        struct pollfd p = { .fd = m, .events = POLLPRI };
        if (poll(&p, 1, 0) != 1 || !(p.revents & POLLPRI))
                zdtm_fail("no packet status waiting on the master any more");
        expect(m, "\020", 1, "status byte (TIOCPKT_NOSTOP)");
        expect(m, "\0outin\r\n", 8, "master data");
        expect(s, "in\n", 3, "slave line");
        zdtm_pass();
}
