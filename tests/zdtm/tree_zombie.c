/* Zombies across C/R: two children that have exited but were not waited for
 * (one with exit code 42, one killed by SIGTERM) must still be zombies of
 * this process after restore, with the same pids, and waitid() must report
 * their exit status. (A shell caught between a child's exit and its wait is
 * in this state.) */
#include "zdtm.h"

#include <signal.h>
#include <sys/wait.h>

static char state_of(pid_t pid) {
        char p[64], buf[512];
        snprintf(p, sizeof(p), "/proc/%d/stat", pid);
        FILE *f = fopen(p, "r");
        if (!f)
                return 0;
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = 0;
        char *r = strrchr(buf, ')');
        return r && r[1] ? r[2] : 0;
}

int main(int argc, char **argv) {
        zdtm_init(argc, argv);
        pid_t z1 = fork();
        zdtm_check(z1 >= 0, "fork: %m");
        if (z1 == 0)
                _exit(42);
        pid_t z2 = fork();
        zdtm_check(z2 >= 0, "fork: %m");
        if (z2 == 0) {
                for (;;)
                        pause();
        }
        kill(z2, SIGTERM);
        /* wait until both are zombies, without reaping them */
        siginfo_t si;
        for (int i = 0; i < 2; i++) {
                memset(&si, 0, sizeof(si));
                zdtm_check(waitid(P_PID, i ? z2 : z1, &si, WEXITED | WNOWAIT) == 0, "waitid WNOWAIT: %m");
        }
        zdtm_check(state_of(z1) == 'Z' && state_of(z2) == 'Z', "set-up: children are not zombies");

        zdtm_ready();
        zdtm_wait_go();

        if (state_of(z1) != 'Z')
                zdtm_fail("child %d is no longer a zombie (state %c)", z1, state_of(z1) ? state_of(z1) : '-');
        if (state_of(z2) != 'Z')
                zdtm_fail("child %d is no longer a zombie (state %c)", z2, state_of(z2) ? state_of(z2) : '-');
        memset(&si, 0, sizeof(si));
        if (waitid(P_PID, z1, &si, WEXITED | WNOHANG))
                zdtm_fail("waitid(%d): %m", z1);
        if (si.si_pid != z1 || si.si_code != CLD_EXITED || si.si_status != 42)
                zdtm_fail("zombie %d: waitid says pid %d code %d status %d, expected CLD_EXITED 42", z1, si.si_pid,
                          si.si_code, si.si_status);
        memset(&si, 0, sizeof(si));
        if (waitid(P_PID, z2, &si, WEXITED | WNOHANG))
                zdtm_fail("waitid(%d): %m", z2);
        if (si.si_pid != z2 || si.si_code != CLD_KILLED || si.si_status != SIGTERM)
                zdtm_fail("zombie %d: waitid says pid %d code %d status %d, expected CLD_KILLED SIGTERM", z2, si.si_pid,
                          si.si_code, si.si_status);
        if (waitpid(-1, NULL, WNOHANG) != -1 || errno != ECHILD)
                zdtm_fail("more children than the two zombies");
        zdtm_pass();
}
