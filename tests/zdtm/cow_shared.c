/* Private anonymous memory shared copy-on-write between a parent and its
 * children must stay shared after restore: a parent fills 64 MiB, forks 3
 * children that never touch it (one writes a few pages of its own, one
 * frees a range), and after restore the total PSS of the tree (shared pages
 * counted once) must be at most 1.1x what it was -- and every byte must
 * still be right in every process.
 * ZDTM: flavours=cr,norestore */
#include <sys/mman.h>
#include <sys/wait.h>

#include "zdtm.h"

#define SZ (64UL << 20)

static uint64_t *mem;

static uint64_t pat(uint64_t i, int who) {
        return (i * 0x9E3779B97F4A7C15ULL) ^ (uint64_t)who;
}

static long pss_kb(pid_t pid) {
        char path[64], line[256];
        long kb = -1;
        snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", pid);
        FILE *f = fopen(path, "r");
        if (!f)
                return -1;
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "Pss: %ld kB", &kb) == 1)
                        break;
        fclose(f);
        return kb;
}

static int check(int who) {
        size_t n = SZ / 8;
        for (size_t i = 0; i < n; i++) {
                uint64_t want = pat(i, 0);
                if (who == 1 && i >= 1000 && i < 1000 + 4096)
                        want = pat(i, 1); /* child 1 wrote these */
                if (who == 2 && i >= n / 2 && i < n / 2 + 65536)
                        want = 0; /* child 2 dropped these */
                if (mem[i] != want)
                        return 20 + who;
        }
        return 0;
}

int main(int argc, char **argv) {
        zdtm_init(argc, argv);
        mem = mmap(NULL, SZ, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        zdtm_check(mem != MAP_FAILED, "mmap: %m");
        for (size_t i = 0; i < SZ / 8; i++)
                mem[i] = pat(i, 0);
        pid_t kids[3];
        int ready[2];
        zdtm_check(pipe(ready) == 0, "pipe");
        for (int k = 0; k < 3; k++) {
                kids[k] = fork();
                if (kids[k] == 0) {
                        if (k == 1)
                                for (size_t i = 1000; i < 1000 + 4096; i++)
                                        mem[i] = pat(i, 1);
                        if (k == 2)
                                madvise((char *)mem + SZ / 2, 65536 * 8, MADV_DONTNEED);
                        if (write(ready[1], "x", 1) != 1)
                                _exit(9);
                        zdtm_wait_go();
                        _exit(check(k));
                }
        }
        for (int got = 0; got < 3;) {
                char b[3];
                ssize_t n = read(ready[0], b, 3 - got);
                zdtm_check(n > 0, "children not ready");
                got += n;
        }
        long before = pss_kb(getpid());
        for (int k = 0; k < 3; k++)
                before += pss_kb(kids[k]);
        zdtm_ready();
        zdtm_wait_go();
        long after = pss_kb(getpid());
        for (int k = 0; k < 3; k++)
                after += pss_kb(kids[k]);
        int bad = check(0);
        for (int k = 0; k < 3; k++) {
                int st;
                waitpid(kids[k], &st, 0);
                if (!WIFEXITED(st) || WEXITSTATUS(st))
                        zdtm_fail("child %d: memory differs after restore (status %#x)", k, st);
        }
        if (bad)
                zdtm_fail("parent: memory differs after restore");
        FILE *f = fopen(zdtm_path("pss"), "w");
        if (f) {
                fprintf(f, "pss_before_kb %ld pss_after_kb %ld\n", before, after);
                fclose(f);
        }
        if (after > before * 11 / 10)
                zdtm_fail("memory no longer shared: total PSS %ld kB before, %ld kB after (> 1.1x)", before, after);
        zdtm_pass();
}
