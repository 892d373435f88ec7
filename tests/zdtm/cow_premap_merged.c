/* Copy-on-write premapping when the parent's premapped VMAs merge.
 * The parent has two adjacent private anonymous VMAs, V1 (read-only) and V2
 * (read-write), both filled before it forks:
 *   - child X leaves both alone: the parent premaps both at restore (as
 *     read-write, before forking), so the kernel merges them into one VMA
 *     that every child inherits;
 *   - child Y makes the first page of V1 PROT_NONE (its V1 is two VMAs, not
 *     the parent's) and keeps V2 shared with the parent.
 * Y inherits the merged V1+V2 but keeps only V2: a restore that drops any
 * inherited VMA not wholly its own unmapped V2 with V1 and never mapped it
 * again -- Y crashed on its first access (seen with PostgreSQL's .data after
 * a second checkpoint). Every process checks V1 and V2 after restore.
 * ZDTM: flavours=cr,leave-running,norestore */
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "zdtm.h"

#define PAGE 4096UL
#define NP 16 /* pages per VMA */

static uint64_t *v1, *v2;

static uint64_t pat(uint64_t i, int which) {
        return (i * 0x9E3779B97F4A7C15ULL) ^ (uint64_t)which;
}

/* 0 if V1 (from page 'from') and V2 hold the parent's data */
static int check(size_t from) {
        for (size_t i = from * PAGE / 8; i < NP * PAGE / 8; i++)
                if (v1[i] != pat(i, 1))
                        return 1;
        for (size_t i = 0; i < NP * PAGE / 8; i++)
                if (v2[i] != pat(i, 2))
                        return 2;
        return 0;
}

int main(int argc, char **argv) {
        zdtm_init(argc, argv);
        uint8_t *m = mmap(NULL, 2 * NP * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        zdtm_check(m != MAP_FAILED, "mmap: %m");
        v1 = (uint64_t *)m;
        v2 = (uint64_t *)(m + NP * PAGE);
        for (size_t i = 0; i < NP * PAGE / 8; i++) {
                v1[i] = pat(i, 1);
                v2[i] = pat(i, 2);
        }
        zdtm_check(mprotect(v1, NP * PAGE, PROT_READ) == 0, "mprotect: %m");

        int ready[2];
        zdtm_check(pipe(ready) == 0, "pipe: %m");
        pid_t kids[2];
        for (int k = 0; k < 2; k++) {
                kids[k] = fork();
                zdtm_check(kids[k] >= 0, "fork: %m");
                if (kids[k] == 0) {
                        if (k == 1 && mprotect(v1, PAGE, PROT_NONE) < 0)
                                _exit(9);
                        if (write(ready[1], "x", 1) != 1)
                                _exit(9);
                        zdtm_wait_go();
                        int r = check(k == 1 ? 1 : 0);
                        _exit(r ? 10 + r : 0);
                }
        }
        for (int got = 0; got < 2;) {
                char b[2];
                ssize_t n = read(ready[0], b, 2 - got);
                zdtm_check(n > 0, "children not ready");
                got += n;
        }
        zdtm_ready();
        zdtm_wait_go();
        int bad = check(0);
        for (int k = 0; k < 2; k++) {
                int st;
                zdtm_check(waitpid(kids[k], &st, 0) == kids[k], "waitpid: %m");
                if (WIFSIGNALED(st))
                        zdtm_fail("child %c died of signal %d (its memory was lost at restore)", "XY"[k],
                                  WTERMSIG(st));
                if (!WIFEXITED(st) || WEXITSTATUS(st))
                        zdtm_fail("child %c: %s differs after restore (status %#x)", "XY"[k],
                                  WEXITSTATUS(st) == 11 ? "V1" : "V2", st);
        }
        if (bad)
                zdtm_fail("parent: %s differs after restore", bad == 1 ? "V1" : "V2");
        zdtm_pass();
}
