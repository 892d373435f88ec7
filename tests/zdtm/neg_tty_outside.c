/* Refusal: the workload's fd is a pty slave whose master is held outside
 * the dumped tree (by a grandchild that was reparented away), and the dump
 * is not a --shell-job one.
 * ZDTM: flavours=norestore refuse=shell-job */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "zdtm.h"

int main(int argc, char **argv) {
        zdtm_init(argc, argv);
        int m = posix_openpt(O_RDWR | O_NOCTTY);
        zdtm_check(m >= 0 && grantpt(m) == 0 && unlockpt(m) == 0, "pty: %s", strerror(errno));
        int s = open(ptsname(m), O_RDWR | O_NOCTTY);
        zdtm_check(s >= 0, "open slave: %s", strerror(errno));
        pid_t c = fork();
        zdtm_check(c >= 0, "fork");
        if (c == 0) {
                if (fork() == 0) {
                        char b;
                        close(s);
                        _exit(read(m, &b, 1) == 1 ? 0 : 1); /* until the workload is done */
                }
                _exit(0);
        }
        waitpid(c, NULL, 0);
        close(m);
        zdtm_ready();
        zdtm_wait_go();
        if (write(s, "x", 1) != 1)
                zdtm_fail("write on the slave: %s", strerror(errno));
        zdtm_pass();
}
