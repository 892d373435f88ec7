/* MAP_NORESERVE arenas (VM_NORESERVE, "nr" in smaps VmFlags), the way
 * allocators and VMs reserve address space:
 *   - a 1 TiB private writable mapping and a 64 GiB shared anonymous one,
 *     both MAP_NORESERVE, with a few pages touched far apart. Without the
 *     flag the kernel charges the whole size to the commit limit and refuses
 *     the mapping (heuristic overcommit: more than RAM + swap), so a restore
 *     that drops MAP_NORESERVE fails or, with overcommit_memory=1, silently
 *     turns the arenas into charged memory;
 *   - a small private mapping WITHOUT MAP_NORESERVE next to nothing special:
 *     it must not gain the flag.
 * After restore: the same VmFlags ("nr" or not), the touched pages hold their
 * data, untouched pages read zero and are still not resident. */
#include "zdtm.h"

#include <fcntl.h>
#include <sys/mman.h>

#define PAGE 4096ul
#define GB (1024ul * 1024 * 1024)
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static char smaps_buf[4 << 20];

/* VmFlags of the VMA starting at addr, without malloc */
static int vma_flags(const void *addr, char *flags, size_t fl) {
        char hdr[32];
        size_t n = 0;
        ssize_t r;
        int fd = open("/proc/self/smaps", O_RDONLY);
        if (fd < 0)
                zdtm_fail("open smaps: %m");
        while ((r = read(fd, smaps_buf + n, sizeof(smaps_buf) - 1 - n)) > 0)
                n += r;
        close(fd);
        smaps_buf[n] = 0;
        snprintf(hdr, sizeof(hdr), "%lx-", (unsigned long)(uintptr_t)addr);
        for (const char *l = smaps_buf; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
                if (strncmp(l, hdr, strlen(hdr)) || (l != smaps_buf && l[-1] != '\n'))
                        continue;
                const char *m = strstr(l, "VmFlags:");
                if (!m)
                        return -1;
                size_t k = strcspn(m + 8, "\n");
                if (k >= fl)
                        k = fl - 1;
                memcpy(flags, m + 8, k);
                flags[k] = 0;
                return 0;
        }
        return -1;
}

static bool has_nr(const void *addr, const char *what) {
        char fl[256];
        if (vma_flags(addr, fl, sizeof(fl)) < 0)
                zdtm_fail("%s at %p: no such VMA in smaps", what, addr);
        return strstr(fl, " nr") != NULL;
}

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

static const uint64_t priv_offs[] = { 0, 7 * PAGE, 1 * GB, 17 * GB + 5 * PAGE, 513 * GB, 1024 * GB - PAGE };
static const uint64_t shr_offs[] = { 0, 3 * GB, 64 * GB - PAGE };

static void fill(uint8_t *p, uint8_t v) {
        memset(p, v, PAGE);
}

static void check_page(const char *what, const uint8_t *p, uint8_t v) {
        for (size_t i = 0; i < PAGE; i++)
                if (p[i] != v)
                        zdtm_fail("%s: byte %zu of page %p is %#x, expected %#x", what, i, (const void *)p, p[i], v);
}

int main(int argc, char **argv) {
        zdtm_init(argc, argv);
        size_t psz = 1024 * GB, ssz = 64 * GB;
        uint8_t *priv = mmap(NULL, psz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (priv == MAP_FAILED)
                zdtm_fail("mmap 1 TiB MAP_NORESERVE: %m");
        uint8_t *shr = mmap(NULL, ssz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (shr == MAP_FAILED)
                zdtm_fail("mmap 64 GiB shared MAP_NORESERVE: %m");
        uint8_t *plain = mmap(NULL, 16 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (plain == MAP_FAILED)
                zdtm_fail("mmap: %m");
        for (size_t i = 0; i < ARRAY_LEN(priv_offs); i++)
                fill(priv + priv_offs[i], 0x40 + i);
        for (size_t i = 0; i < ARRAY_LEN(shr_offs); i++)
                fill(shr + shr_offs[i], 0x60 + i);
        fill(plain + 3 * PAGE, 0x33);
        bool nr_priv = has_nr(priv, "private arena"), nr_shr = has_nr(shr, "shared arena"),
             nr_plain = has_nr(plain, "plain mapping");
        zdtm_check(nr_priv && nr_shr && !nr_plain, "set-up: VM_NORESERVE private %d shared %d plain %d (overcommit_memory=2?)",
                   nr_priv, nr_shr, nr_plain);

        zdtm_ready();
        zdtm_wait_go();

        if (!has_nr(priv, "private arena"))
                zdtm_fail("the 1 TiB private arena lost MAP_NORESERVE (VmFlags without nr)");
        if (!has_nr(shr, "shared arena"))
                zdtm_fail("the 64 GiB shared arena lost MAP_NORESERVE (VmFlags without nr)");
        if (has_nr(plain, "plain mapping"))
                zdtm_fail("a mapping without MAP_NORESERVE gained it");
        for (size_t i = 0; i < ARRAY_LEN(priv_offs); i++)
                check_page("private arena", priv + priv_offs[i], 0x40 + i);
        for (size_t i = 0; i < ARRAY_LEN(shr_offs); i++)
                check_page("shared arena", shr + shr_offs[i], 0x60 + i);
        check_page("plain mapping", plain + 3 * PAGE, 0x33);
        static const uint64_t holes[] = { 8 * PAGE, 2 * GB, 700 * GB };
        for (size_t i = 0; i < ARRAY_LEN(holes); i++)
                if (page_present(priv + holes[i]))
                        zdtm_fail("untouched page at +%#llx of the private arena is resident after restore",
                                  (unsigned long long)holes[i]);
        for (size_t i = 0; i < ARRAY_LEN(holes); i++)
                check_page("private arena hole", priv + holes[i], 0);
        check_page("shared arena hole", shr + 5 * GB, 0);
        zdtm_pass();
}
