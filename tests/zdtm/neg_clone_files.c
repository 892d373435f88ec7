/* Refusal: two processes sharing one fd table (clone with CLONE_FILES but
 * not CLONE_THREAD). Restoring them with separate tables would change what
 * one sees when the other opens or closes a file, so the dump must refuse.
 * ZDTM: flavours=norestore refuse=clone_files */
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>

#include "zdtm.h"

static char stack[65536];

static int child(void *arg) {
        (void)arg;
        for (;;)
                pause();
        return 0;
}

int main(int argc, char **argv) {
        zdtm_init(argc, argv);
        pid_t c = clone(child, stack + sizeof(stack), CLONE_FILES | SIGCHLD, NULL);
        zdtm_check(c > 0, "clone: %m");
        zdtm_ready();
        zdtm_wait_go();
        kill(c, SIGKILL);
        waitpid(c, NULL, 0);
        zdtm_pass();
}
