/* MAP_SHARED anonymous memory shared by a parent and two children: the
 * contents written before the checkpoint survive, and after restore it is
 * still ONE object -- a write by one process is seen by the others. */
#include <sys/mman.h>
#include <sys/wait.h>

#include "zdtm.h"

#define SZ (4 << 20)

static volatile uint32_t *shm;

static int child(int idx) {
        /* wait for go (the parent touches go after restore), then handshake */
        zdtm_wait_go();
        volatile uint32_t *slot = &shm[1024 * (idx + 1)];
        for (int i = 0; i < 4096; i++)
                if (shm[4096 + i] != (uint32_t)(i * 2654435761u))
                        return 10;
        /* tell the parent we are here, wait for its answer through the same memory */
        slot[0] = 0xC0DE0000u + idx;
        for (long spin = 0; slot[1] != 0xACCu + idx; spin++) {
                if (spin > 400000000L)
                        return 11;
        }
        return 0;
}

int main(int argc, char **argv) {
        zdtm_init(argc, argv);
        shm = mmap(NULL, SZ, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        zdtm_check(shm != MAP_FAILED, "mmap: %m");
        for (int i = 0; i < 4096; i++)
                shm[4096 + i] = i * 2654435761u;
        shm[SZ / 4 - 1] = 0xE17Du; /* the last page, touched only here */
        pid_t kids[2];
        for (int k = 0; k < 2; k++) {
                kids[k] = fork();
                zdtm_check(kids[k] >= 0, "fork: %m");
                if (kids[k] == 0)
                        _exit(child(k));
        }
        zdtm_ready();
        zdtm_wait_go();
        if (shm[SZ / 4 - 1] != 0xE17Du)
                zdtm_fail("last page of the shared mapping lost its contents");
        for (int k = 0; k < 2; k++) {
                volatile uint32_t *slot = &shm[1024 * (k + 1)];
                long spin = 0;
                while (slot[0] != 0xC0DE0000u + k)
                        if (++spin > 400000000L)
                                zdtm_fail("child %d never wrote to the shared mapping (not shared after restore?)", k);
                slot[1] = 0xACCu + k;
        }
        for (int k = 0; k < 2; k++) {
                int st;
                if (waitpid(kids[k], &st, 0) != kids[k] || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
                        zdtm_fail("child %d: exit status %#x", k, st);
        }
        zdtm_pass();
}
