/* File mappings across C/R:
 *   - a private writable mapping with some pages modified (COW: they must
 *     keep the modified data while the file keeps the old data) and the rest
 *     untouched (they must show the file);
 *   - a shared writable mapping: a write made before the dump is in the file,
 *     writes made after restore reach the file (msync + pread), and the file's
 *     writes show in the mapping;
 *   - a read-only private mapping, and a mapping at a file offset;
 *   - private (with a modified page) and shared mappings of unlinked files.
 * The files live in the scratch dir; the runner puts them back as they were
 * at dump time before restoring a second copy (leave-running flavour). */
#include "zdtm.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#define PAGE 4096ul

static uint64_t pat(int file, size_t off, uint64_t salt) {
        return ((uint64_t)file << 56) ^ (off * 0x9e3779b97f4a7c15ull) ^ salt;
}

static void fill(void *p, int file, size_t off, size_t len, uint64_t salt) {
        for (size_t i = 0; i < len; i += 8)
                *(uint64_t *)((uint8_t *)p + i) = pat(file, off + i, salt);
}

static void check(const char *what, const void *p, int file, size_t off, size_t len, uint64_t salt) {
        for (size_t i = 0; i < len; i += 8) {
                uint64_t v = *(const uint64_t *)((const uint8_t *)p + i);
                if (v != pat(file, off + i, salt))
                        zdtm_fail("%s: file offset %#zx holds %#llx, expected %#llx", what, off + i, (unsigned long long)v,
                                  (unsigned long long)pat(file, off + i, salt));
        }
}

static int mkfile(const char *name, int id, size_t pages) {
        int fd = open(zdtm_path(name), O_RDWR | O_CREAT | O_TRUNC, 0644);
        uint8_t buf[PAGE];
        if (fd < 0)
                zdtm_fail("create %s: %m", name);
        for (size_t p = 0; p < pages; p++) {
                fill(buf, id, p * PAGE, PAGE, 0);
                if (write(fd, buf, PAGE) != PAGE)
                        zdtm_fail("write %s: %m", name);
        }
        return fd;
}

static void *map(int fd, size_t len, int prot, int flags, off_t off) {
        void *p = mmap(NULL, len, prot, flags, fd, off);
        if (p == MAP_FAILED)
                zdtm_fail("mmap: %m");
        return p;
}

static void file_check(const char *what, int fd, int id, size_t off, size_t len, uint64_t salt) {
        uint8_t buf[PAGE];
        if (pread(fd, buf, len, off) != (ssize_t)len)
                zdtm_fail("%s: pread: %m", what);
        check(what, buf, id, off, len, salt);
}

int main(int argc, char **argv) {
        zdtm_init(argc, argv);
        /* 1: private, 16 pages, pages 2, 5, 11 modified */
        int fd1 = mkfile("priv.dat", 1, 16);
        uint8_t *m1 = map(fd1, 16 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, 0);
        const int mod[] = { 2, 5, 11 };
        for (int i = 0; i < 3; i++)
                fill(m1 + mod[i] * PAGE, 1, mod[i] * PAGE, PAGE, 0xc0c0);
        check("private (read)", m1, 1, 0, 2 * PAGE, 0);
        close(fd1);
        /* 2: shared, 8 pages, page 3 written through the mapping */
        int fd2 = mkfile("shared.dat", 2, 8);
        uint8_t *m2 = map(fd2, 8 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
        fill(m2 + 3 * PAGE, 2, 3 * PAGE, PAGE, 0x5a5a);
        zdtm_check(msync(m2, 8 * PAGE, MS_SYNC) == 0, "msync: %m");
        /* 3: read-only */
        int fd3 = mkfile("ro.dat", 3, 4);
        uint8_t *m3 = map(fd3, 4 * PAGE, PROT_READ, MAP_PRIVATE, 0);
        close(fd3);
        /* 4: at an offset: pages 4..7 of an 8-page file */
        int fd4 = mkfile("off.dat", 4, 8);
        uint8_t *m4 = map(fd4, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, 4 * PAGE);
        close(fd4);
        /* 5: private mapping of an unlinked file, page 1 modified */
        int fd5 = mkfile("gone-priv.dat", 5, 4);
        uint8_t *m5 = map(fd5, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, 0);
        fill(m5 + PAGE, 5, PAGE, PAGE, 0x7777);
        close(fd5);
        zdtm_check(unlink(zdtm_path("gone-priv.dat")) == 0, "unlink: %m");
        /* 6: shared mapping of an unlinked file, written through the mapping */
        int fd6 = mkfile("gone-shared.dat", 6, 4);
        uint8_t *m6 = map(fd6, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
        fill(m6 + 2 * PAGE, 6, 2 * PAGE, PAGE, 0x6666);
        close(fd6);
        zdtm_check(unlink(zdtm_path("gone-shared.dat")) == 0, "unlink: %m");

        zdtm_ready();
        zdtm_wait_go();

        for (int p = 0; p < 16; p++) {
                int modified = p == 2 || p == 5 || p == 11;
                char what[64];
                snprintf(what, sizeof(what), "private mapping page %d (%s)", p, modified ? "modified" : "untouched");
                check(what, m1 + p * PAGE, 1, p * PAGE, PAGE, modified ? 0xc0c0 : 0);
        }
        fd1 = open(zdtm_path("priv.dat"), O_RDONLY);
        zdtm_check(fd1 >= 0, "open priv.dat: %m");
        for (int i = 0; i < 3; i++)
                file_check("private mapping leaked into the file", fd1, 1, mod[i] * PAGE, PAGE, 0);
        close(fd1);

        for (int p = 0; p < 8; p++)
                check("shared mapping", m2 + p * PAGE, 2, p * PAGE, PAGE, p == 3 ? 0x5a5a : 0);
        file_check("shared file page 3", fd2, 2, 3 * PAGE, PAGE, 0x5a5a);
        fill(m2 + 6 * PAGE, 2, 6 * PAGE, PAGE, 0x6060);
        if (msync(m2, 8 * PAGE, MS_SYNC))
                zdtm_fail("msync after restore: %m");
        file_check("a write through the restored shared mapping did not reach the file", fd2, 2, 6 * PAGE, PAGE, 0x6060);
        uint8_t buf[PAGE];
        fill(buf, 2, 7 * PAGE, PAGE, 0x7070);
        zdtm_check(pwrite(fd2, buf, PAGE, 7 * PAGE) == PAGE, "pwrite: %m");
        check("a file write does not show in the restored shared mapping", m2 + 7 * PAGE, 2, 7 * PAGE, PAGE, 0x7070);
        struct stat st;
        zdtm_check(fstat(fd2, &st) == 0 && st.st_size == 8 * PAGE, "shared.dat size changed");

        check("read-only mapping", m3, 3, 0, 4 * PAGE, 0);
        check("mapping at offset", m4, 4, 4 * PAGE, 4 * PAGE, 0);
        for (int p = 0; p < 4; p++)
                check(p == 1 ? "unlinked private mapping (modified page)" : "unlinked private mapping", m5 + p * PAGE, 5,
                      p * PAGE, PAGE, p == 1 ? 0x7777 : 0);
        for (int p = 0; p < 4; p++)
                check("unlinked shared mapping", m6 + p * PAGE, 6, p * PAGE, PAGE, p == 2 ? 0x6666 : 0);
        fill(m6, 6, 0, 8, 0x1111); /* still writable */
        zdtm_pass();
}
