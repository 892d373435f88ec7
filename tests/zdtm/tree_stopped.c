/* A stopped child across C/R: the child stopped itself with SIGSTOP before
 * the dump and must still be stopped (state T) after restore; the parent then
 * sees it continue after SIGCONT and exit with 7. */
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
        pid_t c = fork();
        zdtm_check(c >= 0, "fork: %m");
        if (c == 0) {
                raise(SIGSTOP);
                _exit(7);
        }
        int st;
        zdtm_check(waitpid(c, &st, WUNTRACED) == c && WIFSTOPPED(st), "set-up: child did not stop");
        zdtm_check(state_of(c) == 'T', "set-up: child state %c", state_of(c));

        zdtm_ready();
        zdtm_wait_go();

        char s = state_of(c);
        if (s != 'T')
                zdtm_fail("child %d is in state %c after restore, expected T (stopped)", c, s ? s : '-');
        if (kill(c, SIGCONT))
                zdtm_fail("SIGCONT: %m");
        /* "continued" is reported only while the child lives; it may have exited already */
        if (waitpid(c, &st, WCONTINUED) != c)
                zdtm_fail("waitpid(WCONTINUED): %m");
        if (WIFCONTINUED(st) && waitpid(c, &st, 0) != c)
                zdtm_fail("waitpid: %m");
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 7)
                zdtm_fail("child did not exit with 7 after SIGCONT (status %#x)", st);
        zdtm_pass();
}
