/* memfds: contents, size, name, seals (F_SEAL_SEAL by default, SHRINK|GROW,
 * WRITE), file position, access modes (a read-only reopen sharing the inode),
 * a shared mapping that must stay the same object as the fd, and a memfd
 * reached only through its mapping (fd closed). */
#include <sys/mman.h>
#include <sys/stat.h>

#include "fd_common.h"

#define PG 4096
#define SIZE (3 * PG + 100)

static unsigned char pat(size_t i, int salt) {
        return (unsigned char)(i * 7 + salt + (i >> 12));
}

static void check_contents(int fd, size_t size, int salt, const char *what) {
        static unsigned char buf[SIZE];
        struct stat st;
        if (fstat(fd, &st) < 0 || (size_t)st.st_size != size)
                zdtm_fail("%s: size %lld, expected %zu", what, (long long)st.st_size, size);
        if (pread(fd, buf, size, 0) != (ssize_t)size)
                zdtm_fail("%s: pread: %s", what, strerror(errno));
        for (size_t i = 0; i < size; i++)
                if (buf[i] != pat(i, salt))
                        zdtm_fail("%s: byte %zu is %#x, expected %#x", what, i, buf[i], pat(i, salt));
}

static int mk(const char *name, unsigned flags, size_t size, int salt) {
        static unsigned char buf[SIZE];
        int fd = memfd_create(name, flags);
        zdtm_check(fd >= 0, "memfd_create: %s", strerror(errno));
        for (size_t i = 0; i < size; i++)
                buf[i] = pat(i, salt);
        zdtm_check(write(fd, buf, size) == (ssize_t)size, "write: %s", strerror(errno));
        return fd;
}

static void check_seals(int fd, int want, const char *what) {
        int s = fcntl(fd, F_GET_SEALS);
        if (s != want)
                zdtm_fail("%s: seals %#x, expected %#x", what, s, want);
}

int main(int argc, char **argv) {
        zdtm_init(argc, argv);

        int m1 = mk("zdtm test", MFD_ALLOW_SEALING | MFD_CLOEXEC, SIZE, 1);
        zdtm_check(fcntl(m1, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) == 0, "seal: %s", strerror(errno));
        zdtm_check(lseek(m1, 1234, SEEK_SET) == 1234, "lseek");
        char *map = mmap(NULL, 3 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, m1, 0);
        zdtm_check(map != MAP_FAILED, "mmap: %s", strerror(errno));
        char proc[64];
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", m1);
        int ro = open(proc, O_RDONLY); /* a second open file description of it */
        zdtm_check(ro >= 0, "reopen: %s", strerror(errno));

        int plain = mk("plain", 0, 5, 2); /* no sealing: F_SEAL_SEAL */
        zdtm_check(fcntl(plain, F_SETFL, O_NONBLOCK | O_APPEND) == 0, "setfl");

        int wsealed = mk("write-sealed", MFD_ALLOW_SEALING, 100, 3);
        zdtm_check(fcntl(wsealed, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SEAL) == 0, "seal: %s", strerror(errno));

        int gone = mk("only-mapped", 0, 2 * PG, 4);
        unsigned char *gmap = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, gone, 0);
        zdtm_check(gmap != MAP_FAILED, "mmap: %s", strerror(errno));
        close(gone);
        gmap[10] = 0xee;

        int empty = memfd_create("", 0);
        zdtm_check(empty >= 0, "memfd_create: %s", strerror(errno));

        zdtm_ready();
        zdtm_wait_go();

        fd_check(m1, "/memfd:zdtm test (deleted)", false, true, "memfd 1");
        fd_check(ro, "/memfd:zdtm test (deleted)", false, false, "read-only reopen of memfd 1");
        fd_check(plain, "/memfd:plain (deleted)", true, false, "plain memfd");
        fd_check(wsealed, "/memfd:write-sealed (deleted)", false, false, "write-sealed memfd");
        fd_check(empty, "/memfd: (deleted)", false, false, "empty memfd");
        if ((fcntl(ro, F_GETFL) & O_ACCMODE) != O_RDONLY)
                zdtm_fail("read-only reopen: access mode %d", fcntl(ro, F_GETFL) & O_ACCMODE);
        if ((fcntl(m1, F_GETFL) & O_ACCMODE) != O_RDWR)
                zdtm_fail("memfd 1: access mode %d", fcntl(m1, F_GETFL) & O_ACCMODE);
        if (!(fcntl(plain, F_GETFL) & O_APPEND))
                zdtm_fail("plain memfd: O_APPEND lost");

        check_contents(m1, SIZE, 1, "memfd 1");
        check_contents(plain, 5, 2, "plain memfd");
        check_contents(wsealed, 100, 3, "write-sealed memfd");
        check_seals(m1, F_SEAL_SHRINK | F_SEAL_GROW, "memfd 1");
        check_seals(plain, F_SEAL_SEAL, "plain memfd");
        check_seals(wsealed, F_SEAL_WRITE | F_SEAL_SEAL, "write-sealed memfd");
        check_seals(empty, F_SEAL_SEAL, "empty memfd");
        if (lseek(m1, 0, SEEK_CUR) != 1234)
                zdtm_fail("memfd 1: position %lld, expected 1234", (long long)lseek(m1, 0, SEEK_CUR));
        if (lseek(ro, 0, SEEK_CUR) != 0)
                zdtm_fail("read-only reopen: position %lld, expected 0 (own open file description)",
                          (long long)lseek(ro, 0, SEEK_CUR));

        if (pwrite(wsealed, "x", 1, 0) >= 0 || errno != EPERM)
                zdtm_fail("write-sealed memfd: write did not fail with EPERM");
        if (ftruncate(m1, PG) == 0 || errno != EPERM)
                zdtm_fail("memfd 1: shrinking was not refused (F_SEAL_SHRINK lost)");

        /* mapping, fd and the reopen are one object */
        for (size_t i = 0; i < 3 * PG; i++)
                if ((unsigned char)map[i] != pat(i, 1))
                        zdtm_fail("memfd 1 mapping: byte %zu is %#x, expected %#x", i, (unsigned char)map[i],
                                  pat(i, 1));
        if (pwrite(m1, "hello", 5, PG + 1) != 5)
                zdtm_fail("memfd 1: pwrite: %s", strerror(errno));
        if (memcmp(map + PG + 1, "hello", 5) != 0)
                zdtm_fail("memfd 1: a write through the fd is not seen by the mapping (not the same object)");
        map[2 * PG + 7] = 'Q';
        char c = 0;
        if (pread(ro, &c, 1, 2 * PG + 7) != 1 || c != 'Q')
                zdtm_fail("memfd 1: a write through the mapping is not seen through the read-only reopen");
        if (pwrite(m1, "Z", 1, 3) != 1 || pread(ro, &c, 1, 3) != 1 || c != 'Z')
                zdtm_fail("memfd 1 and its read-only reopen are no longer the same file");

        for (size_t i = 0; i < 2 * PG; i++)
                if (gmap[i] != (i == 10 ? 0xee : pat(i, 4)))
                        zdtm_fail("only-mapped memfd: byte %zu is %#x", i, gmap[i]);
        FILE *f = fopen("/proc/self/maps", "re");
        char line[512], want[32];
        bool found = false;
        snprintf(want, sizeof(want), "%lx-", (unsigned long)gmap);
        while (f && fgets(line, sizeof(line), f))
                if (strncmp(line, want, strlen(want)) == 0)
                        found = strstr(line, " rw-s ") && strstr(line, "/memfd:only-mapped (deleted)");
        if (f)
                fclose(f);
        if (!found)
                zdtm_fail("only-mapped memfd: its mapping is not a shared mapping of /memfd:only-mapped any more");
        zdtm_pass();
}
