/* Refusal: a vfork() in flight. The parent waits in vfork(), unstoppable,
 * until its child calls exec or _exit; this child does neither until go.
 * The dump must not wait for it forever: it gives up after its seize
 * timeout with one line naming the parent, the child and vfork, and leaves
 * both running, untraced. (A short vfork+exec is simply waited for.)
 * ZDTM: flavours=norestore refuse=vfork */
#include <sys/wait.h>

#include "zdtm.h"

int main(int argc, char **argv) {
        zdtm_init(argc, argv);
        pid_t c = vfork();
        if (c == 0) {
                /* shares the parent's memory and stack: only file syscalls
                 * here. Ready once the parent is surely inside vfork(). */
                zdtm_ready();
                zdtm_wait_go();
                _exit(42);
        }
        zdtm_check(c > 0, "vfork: %m");
        int st;
        zdtm_check(waitpid(c, &st, 0) == c, "waitpid: %m");
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 42)
                zdtm_fail("the vfork child ended with status %#x", st);
        zdtm_pass();
}
