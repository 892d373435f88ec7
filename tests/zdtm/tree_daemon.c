/* A daemon-style grandchild whose session leader exited: the root is a
 * subreaper, its child A calls setsid() and forks B, then A exits. B is
 * inherited by the root and lives in session A (and group A), whose leader
 * is gone. After restore B must be back in session A, group A, under the
 * root, with a working pipe to it. */
#include <sys/prctl.h>
#include <sys/wait.h>

#include "zdtm.h"

int main(int argc, char **argv) {
        zdtm_init(argc, argv);
        int p[2], q[2];
        zdtm_check(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0, "subreaper: %m");
        zdtm_check(pipe(p) == 0 && pipe(q) == 0, "pipe");
        pid_t a = fork();
        if (a == 0) {
                setsid();
                pid_t b = fork();
                if (b == 0) {
                        char c;
                        if (read(p[0], &c, 1) != 1)
                                _exit(10);
                        if (getsid(0) != getppid() && getsid(0) == getpgid(0)) {
                                /* fine: our session leader is gone */
                        }
                        char msg[64];
                        int n = snprintf(msg, sizeof(msg), "%d %d %d", getsid(0), getpgid(0), getppid());
                        _exit(write(q[1], msg, n) == n ? 0 : 11);
                }
                _exit(b > 0 ? 0 : 1);
        }
        int st;
        zdtm_check(waitpid(a, &st, 0) == a && WIFEXITED(st) && WEXITSTATUS(st) == 0, "A failed");
        /* B is ours now */
        zdtm_ready();
        zdtm_wait_go();
        if (write(p[1], "x", 1) != 1)
                zdtm_fail("write to B: %m");
        char buf[64] = { 0 };
        if (read(q[0], buf, sizeof(buf) - 1) <= 0)
                zdtm_fail("no answer from B");
        int sid, pgid, ppid;
        if (sscanf(buf, "%d %d %d", &sid, &pgid, &ppid) != 3)
                zdtm_fail("bad answer '%s'", buf);
        if (sid != a || pgid != a)
                zdtm_fail("B is in session %d, group %d; expected %d (the exited leader)", sid, pgid, a);
        if (ppid != getpid())
                zdtm_fail("B's parent is %d, expected %d", ppid, getpid());
        pid_t w = wait(&st);
        if (w <= 0 || !WIFEXITED(st) || WEXITSTATUS(st))
                zdtm_fail("B exited with %#x", st);
        zdtm_pass();
}
