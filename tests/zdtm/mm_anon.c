/* Anonymous memory across C/R:
 *   - a 64 MiB private region filled with an address-derived pattern;
 *   - a 16 MiB sparse region (MADV_NOHUGEPAGE) where only every 7th page was
 *     touched: the others must read zero AND still be non-resident (mincore
 *     and /proc/self/pagemap) -- a restore must not populate them;
 *   - read-only and PROT_NONE regions with contents;
 *   - a MAP_SHARED anonymous region (still shared: a forked child's write is
 *     seen by the parent after restore);
 *   - a MAP_GROWSDOWN region;
 *   - the heap grown with sbrk() to an unaligned break, which must be exact;
 *   - regions with MADV_DONTFORK, MADV_DONTDUMP, MADV_HUGEPAGE,
 *     MADV_NOHUGEPAGE, MADV_WIPEONFORK: their VmFlags in /proc/self/smaps
 *     must be the same;
 *   - an mlock()ed region (VmFlags "lo", fully Locked).
 * No malloc() happens between recording the break and checking it. */
#include "zdtm.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/wait.h>

#define PAGE 4096ul
#define MB (1024ul * 1024)

static uint64_t pat(uint64_t addr, uint64_t salt) {
        return (addr * 0x9e3779b97f4a7c15ull) ^ salt ^ (addr >> 12);
}

static void fill(void *p, size_t len, uint64_t salt) {
        uint64_t *w = p;
        for (size_t i = 0; i < len / 8; i++)
                w[i] = pat((uintptr_t)&w[i], salt);
}

static void check(const char *what, const void *p, size_t len, uint64_t salt) {
        const uint64_t *w = p;
        for (size_t i = 0; i < len / 8; i++)
                if (w[i] != pat((uintptr_t)&w[i], salt))
                        zdtm_fail("%s: word at %p (offset %#zx) is %#llx, expected %#llx", what, (void *)&w[i], i * 8,
                                  (unsigned long long)w[i], (unsigned long long)pat((uintptr_t)&w[i], salt));
}

static void *map(size_t len, int prot, int flags) {
        void *p = mmap(NULL, len, prot, flags | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
                zdtm_fail("mmap %zu: %m", len);
        return p;
}

/* 2 MiB-aligned anonymous region */
static void *map_aligned(size_t len) {
        uint8_t *p = map(len + 2 * MB, PROT_READ | PROT_WRITE, MAP_PRIVATE);
        uint8_t *a = (uint8_t *)(((uintptr_t)p + 2 * MB - 1) & ~(2 * MB - 1));
        if (a > p)
                munmap(p, a - p);
        munmap(a + len, p + len + 2 * MB - (a + len));
        return a;
}

/* /proc/self/smaps without malloc */
static char smaps_buf[4 << 20];

static const char *smaps(void) {
        int fd = open("/proc/self/smaps", O_RDONLY);
        size_t n = 0;
        ssize_t r;
        if (fd < 0)
                zdtm_fail("open smaps: %m");
        while ((r = read(fd, smaps_buf + n, sizeof(smaps_buf) - 1 - n)) > 0)
                n += r;
        close(fd);
        smaps_buf[n] = 0;
        return smaps_buf;
}

/* VmFlags and Locked of the VMA starting at addr */
static int vma_info(const void *addr, char *flags, size_t fl, unsigned long *locked_kb) {
        char hdr[32];
        snprintf(hdr, sizeof(hdr), "%lx-", (unsigned long)(uintptr_t)addr);
        const char *s = smaps();
        for (const char *l = s; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
                if (strncmp(l, hdr, strlen(hdr)) || (l != s && l[-1] != '\n'))
                        continue;
                *locked_kb = 0;
                flags[0] = 0;
                for (const char *m = strchr(l, '\n') + 1; m && *m; m = strchr(m, '\n') ? strchr(m, '\n') + 1 : NULL) {
                        if (strncmp(m, "Locked:", 7) == 0)
                                *locked_kb = strtoul(m + 7, NULL, 10);
                        if (strncmp(m, "VmFlags:", 8) == 0) {
                                size_t k = strcspn(m + 8, "\n");
                                if (k >= fl)
                                        k = fl - 1;
                                memcpy(flags, m + 8, k);
                                flags[k] = 0;
                                return 0;
                        }
                }
        }
        return -1;
}

static int has_flag(const char *flags, const char *f) {
        char b[8];
        snprintf(b, sizeof(b), " %s", f);
        const char *p = strstr(flags, b);
        return p && (p[3] == ' ' || p[3] == 0);
}

/* (no fd is kept open on /proc/self/pagemap across C/R: not what this tests) */
static int page_present(const void *p) {
        uint64_t e = 0;
        int fd = open("/proc/self/pagemap", O_RDONLY);
        if (fd < 0)
                zdtm_fail("open pagemap: %m");
        if (pread(fd, &e, 8, ((uintptr_t)p / PAGE) * 8) != 8)
                zdtm_fail("pread pagemap: %m");
        close(fd);
        return (e >> 63) & 1;
}

enum { R_BIG, R_SPARSE, R_RO, R_NONE, R_SHARED, R_GROWSDOWN, R_DONTFORK, R_DONTDUMP, R_HUGE, R_NOHUGE, R_WIPE, R_LOCK, NR };
static const char *const rname[NR] = { "64M private", "sparse", "read-only", "PROT_NONE", "shared", "growsdown",
                                       "dontfork", "dontdump", "hugepage", "nohugepage", "wipeonfork", "mlocked" };
static const int rmadv[NR] = { [R_DONTFORK] = MADV_DONTFORK, [R_DONTDUMP] = MADV_DONTDUMP, [R_HUGE] = MADV_HUGEPAGE,
                               [R_NOHUGE] = MADV_NOHUGEPAGE, [R_WIPE] = MADV_WIPEONFORK };
static const char *const rflag[NR] = { [R_GROWSDOWN] = "gd", [R_DONTFORK] = "dc", [R_DONTDUMP] = "dd",
                                       [R_HUGE] = "hg", [R_NOHUGE] = "nh", [R_WIPE] = "wf", [R_LOCK] = "lo" };
static uint8_t *reg[NR];
static size_t len[NR];
static char vmflags[NR][128];
static unsigned long locked[NR];

int main(int argc, char **argv) {
        zdtm_init(argc, argv);
        const size_t sizes[NR] = { 64 * MB, 16 * MB, 1 * MB, 256 * 1024, 1 * MB, 64 * 1024,
                                   1 * MB,  1 * MB,  4 * MB, 2 * MB,     1 * MB, 1 * MB };
        for (int i = 0; i < NR; i++) {
                len[i] = sizes[i];
                if (i == R_SHARED)
                        reg[i] = map(len[i], PROT_READ | PROT_WRITE, MAP_SHARED);
                else if (i == R_GROWSDOWN)
                        reg[i] = map(len[i], PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_GROWSDOWN);
                else if (i == R_HUGE || i == R_NOHUGE || i == R_SPARSE)
                        reg[i] = map_aligned(len[i]);
                else
                        reg[i] = map(len[i], PROT_READ | PROT_WRITE, MAP_PRIVATE);
                if (rmadv[i])
                        zdtm_check(madvise(reg[i], len[i], rmadv[i]) == 0, "madvise %s: %m", rname[i]);
                if (i == R_SPARSE)
                        zdtm_check(madvise(reg[i], len[i], MADV_NOHUGEPAGE) == 0, "madvise: %m");
                if (i == R_SPARSE) {
                        for (size_t off = 0; off < len[i]; off += 7 * PAGE)
                                fill(reg[i] + off, PAGE, 0x5000 + i);
                } else
                        fill(reg[i], len[i], 0x5000 + i);
                if (i == R_LOCK)
                        zdtm_check(mlock(reg[i], len[i]) == 0, "mlock: %m");
        }
        zdtm_check(mprotect(reg[R_RO], len[R_RO], PROT_READ) == 0, "mprotect: %m");
        zdtm_check(mprotect(reg[R_NONE], len[R_NONE], PROT_NONE) == 0, "mprotect: %m");
        for (int i = 0; i < NR; i++) {
                zdtm_check(vma_info(reg[i], vmflags[i], sizeof(vmflags[i]), &locked[i]) == 0,
                           "set-up: no smaps entry for the %s region at %p", rname[i], reg[i]);
                if (rflag[i])
                        zdtm_check(has_flag(vmflags[i], rflag[i]), "set-up: %s region lacks VmFlags %s: %s", rname[i],
                                   rflag[i], vmflags[i]);
        }
        zdtm_check(locked[R_LOCK] == len[R_LOCK] / 1024, "set-up: Locked %lu kB", locked[R_LOCK]);
        unsigned char vec[16 * MB / PAGE];
        zdtm_check(mincore(reg[R_SPARSE], len[R_SPARSE], vec) == 0, "mincore: %m");
        for (size_t p = 0; p < len[R_SPARSE] / PAGE; p++)
                zdtm_check((vec[p] & 1) == (p % 7 == 0), "set-up: sparse page %zu residency %d", p, vec[p] & 1);

        /* the heap: an unaligned break, then no malloc until it is checked */
        uint8_t *brk0 = sbrk(0);
        zdtm_check(sbrk(3 * PAGE + 123) != (void *)-1, "sbrk: %m");
        uint8_t *brk1 = sbrk(0);
        zdtm_check(brk1 == brk0 + 3 * PAGE + 123, "sbrk arithmetic");
        memset(brk0, 0xa7, brk1 - brk0);

        zdtm_ready();
        zdtm_wait_go();

        uint8_t *brk_now = sbrk(0);
        if (brk_now != brk1)
                zdtm_fail("program break is %p, expected %p", (void *)brk_now, (void *)brk1);
        for (uint8_t *p = brk0; p < brk1; p++)
                if (*p != 0xa7)
                        zdtm_fail("heap byte at %p (brk %p) is %#x, expected 0xa7", (void *)p, (void *)brk1, *p);

        /* residency first: reading would fault pages in */
        zdtm_check(mincore(reg[R_SPARSE], len[R_SPARSE], vec) == 0, "mincore: %m");
        for (size_t p = 0; p < len[R_SPARSE] / PAGE; p++) {
                int want = p % 7 == 0;
                if ((vec[p] & 1) != want)
                        zdtm_fail("sparse page %zu (%p) is %sresident after restore (mincore)", p,
                                  (void *)(reg[R_SPARSE] + p * PAGE), want ? "not " : "");
                if (page_present(reg[R_SPARSE] + p * PAGE) != want)
                        zdtm_fail("sparse page %zu (%p) is %spresent in pagemap after restore", p,
                                  (void *)(reg[R_SPARSE] + p * PAGE), want ? "not " : "");
        }
        for (size_t off = 0; off < len[R_SPARSE]; off += PAGE) {
                if ((off / PAGE) % 7 == 0)
                        check("sparse (touched page)", reg[R_SPARSE] + off, PAGE, 0x5000 + R_SPARSE);
                else
                        for (size_t k = 0; k < PAGE; k += 8)
                                if (*(uint64_t *)(reg[R_SPARSE] + off + k))
                                        zdtm_fail("sparse untouched page at %p is not zero", (void *)(reg[R_SPARSE] + off));
        }
        for (int i = 0; i < NR; i++) {
                char f[128];
                unsigned long lk;
                if (vma_info(reg[i], f, sizeof(f), &lk))
                        zdtm_fail("the %s region at %p is gone (no smaps entry starts there)", rname[i], reg[i]);
                if (strcmp(f, vmflags[i]))
                        zdtm_fail("%s region VmFlags are \"%s\", expected \"%s\"", rname[i], f, vmflags[i]);
                if (i == R_LOCK && lk != locked[i])
                        zdtm_fail("mlocked region: Locked %lu kB, expected %lu kB", lk, locked[i]);
        }
        zdtm_check(mprotect(reg[R_NONE], len[R_NONE], PROT_READ) == 0, "mprotect: %m");
        for (int i = 0; i < NR; i++)
                if (i != R_SPARSE)
                        check(rname[i], reg[i], len[i], 0x5000 + i);
        zdtm_check(mprotect(reg[R_NONE], len[R_NONE], PROT_NONE) == 0, "mprotect: %m");
        /* the shared region is still shared; the private one still private */
        pid_t c = fork();
        zdtm_check(c >= 0, "fork: %m");
        if (c == 0) {
                *(volatile uint64_t *)reg[R_SHARED] = 0x1234;
                *(volatile uint64_t *)reg[R_BIG] = 0x1234;
                _exit(0);
        }
        int st;
        zdtm_check(waitpid(c, &st, 0) == c && WIFEXITED(st) && WEXITSTATUS(st) == 0, "child failed");
        if (*(volatile uint64_t *)reg[R_SHARED] != 0x1234)
                zdtm_fail("MAP_SHARED region is not shared with a child any more");
        if (*(volatile uint64_t *)reg[R_BIG] == 0x1234)
                zdtm_fail("private region became shared with a child");
        fill(reg[R_SHARED], 8, 0x5000 + R_SHARED);
        zdtm_pass();
}
