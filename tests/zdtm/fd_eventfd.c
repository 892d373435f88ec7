/* eventfds: a counter wider than 32 bits, semaphore mode, O_NONBLOCK,
 * FD_CLOEXEC, a dup at a fixed number sharing the same file, an empty one. */
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>

#include "fd_common.h"

#define BIG 0x123456789aULL
#define DUPFD 100

static uint64_t rd(int fd, const char *what) {
        uint64_t v = 0;
        ssize_t n = read(fd, &v, sizeof(v));
        if (n != sizeof(v))
                zdtm_fail("%s: read returned %zd: %s", what, n, strerror(errno));
        return v;
}

int main(int argc, char **argv) {
        zdtm_init(argc, argv);

        int big = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        int sem = eventfd(7, EFD_SEMAPHORE);
        int empty = eventfd(0, EFD_NONBLOCK);
        zdtm_check(big >= 0 && sem >= 0 && empty >= 0, "eventfd: %s", strerror(errno));
        uint64_t v = BIG;
        zdtm_check(write(big, &v, 8) == 8, "write: %s", strerror(errno));
        v = 42;
        zdtm_check(write(big, &v, 8) == 8, "write: %s", strerror(errno));
        zdtm_check(dup2(big, DUPFD) == DUPFD, "dup2: %s", strerror(errno));

        zdtm_ready();
        zdtm_wait_go();

        fd_check(big, "anon_inode:[eventfd]", true, true, "big counter eventfd");
        fd_check(sem, "anon_inode:[eventfd]", false, false, "semaphore eventfd");
        fd_check(empty, "anon_inode:[eventfd]", true, false, "empty eventfd");
        fd_check(DUPFD, "anon_inode:[eventfd]", true, false, "dup of the big eventfd");

        v = rd(big, "big counter eventfd");
        if (v != BIG + 42)
                zdtm_fail("big counter eventfd: counter is %#llx, expected %#llx", (unsigned long long)v,
                          (unsigned long long)(BIG + 42));
        if (read(big, &v, 8) >= 0 || errno != EAGAIN)
                zdtm_fail("big counter eventfd: second read did not fail with EAGAIN (%s)", strerror(errno));

        for (int i = 0; i < 7; i++) {
                v = rd(sem, "semaphore eventfd");
                if (v != 1)
                        zdtm_fail("semaphore eventfd: read %d returned %llu, expected 1 (semaphore mode lost?)", i,
                                  (unsigned long long)v);
        }
        struct pollfd pfd = { .fd = sem, .events = POLLIN };
        if (poll(&pfd, 1, 0) != 0)
                zdtm_fail("semaphore eventfd: still readable after 7 reads");

        if (read(empty, &v, 8) >= 0 || errno != EAGAIN)
                zdtm_fail("empty eventfd: read did not fail with EAGAIN");

        /* the dup is the same file: written through one, read through the other */
        v = 5;
        if (write(DUPFD, &v, 8) != 8)
                zdtm_fail("write to dup: %s", strerror(errno));
        v = rd(big, "big counter eventfd after write through its dup");
        if (v != 5)
                zdtm_fail("fd %d and fd %d are no longer the same eventfd (read %llu)", big, DUPFD,
                          (unsigned long long)v);
        zdtm_pass();
}
