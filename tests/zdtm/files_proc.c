/* Descriptors on the workload's own /proc files across C/R: /proc/PID/status
 * and /proc/PID/pagemap opened by pid number (as a program that opened
 * /proc/self/... sees them: the link names the pid). After restore they must
 * still read this process (the same pid), so a restorer can only open them
 * once the process exists. */
#include "zdtm.h"

#include <fcntl.h>
#include <sys/mman.h>

static int readall(int fd, char *buf, size_t n) {
        ssize_t r = pread(fd, buf, n - 1, 0);
        if (r < 0)
                return -1;
        buf[r] = 0;
        return 0;
}

int main(int argc, char **argv) {
        zdtm_init(argc, argv);
        char p[64], buf[8192];
        snprintf(p, sizeof(p), "/proc/%d/status", getpid());
        int st = open(p, O_RDONLY);
        snprintf(p, sizeof(p), "/proc/%d/pagemap", getpid());
        int pm = open(p, O_RDONLY);
        zdtm_check(st >= 0 && pm >= 0, "open /proc files: %m");
        static char page[4096] __attribute__((aligned(4096)));
        page[0] = 1;

        zdtm_ready();
        zdtm_wait_go();

        if (readall(st, buf, sizeof(buf)))
                zdtm_fail("read /proc/%d/status after restore: %m", getpid());
        char want[64];
        snprintf(want, sizeof(want), "\nPid:\t%d\n", getpid());
        if (!strstr(buf, want))
                zdtm_fail("the status fd does not describe this process any more");
        uint64_t e = 0;
        if (pread(pm, &e, 8, ((uintptr_t)page / 4096) * 8) != 8)
                zdtm_fail("read pagemap after restore: %m");
        if (!(e >> 63))
                zdtm_fail("pagemap fd says a touched page is not present");
        zdtm_pass();
}
