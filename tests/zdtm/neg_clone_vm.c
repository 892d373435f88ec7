/* Refusal: two processes sharing one address space (clone with CLONE_VM
 * but not CLONE_THREAD, as vfork does). Restoring them as separate address
 * spaces would silently split their memory, so the dump must refuse.
 * ZDTM: flavours=norestore refuse=clone_vm */
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
        pid_t c = clone(child, stack + sizeof(stack), CLONE_VM | SIGCHLD, NULL);
        zdtm_check(c > 0, "clone: %m");
        zdtm_ready();
        zdtm_wait_go();
        kill(c, SIGKILL);
        waitpid(c, NULL, 0);
        zdtm_pass();
}
