/* Regular files and devices across C/R. Descriptors at numbers with gaps up
 * to 1000, each checked for its flags (F_GETFL, exact), close-on-exec bit,
 * offset, inode and contents:
 *    5  a.dat      O_RDWR, offset 12345          12  dup of 5 (shared offset)
 *    7  b.log      O_WRONLY|O_APPEND, cloexec    13  a.dat opened again, offset 99
 *    8  c.dat      O_PATH                        11  d.dat O_RDONLY, offset 777
 *   10  dir/       directory, getdents half done 20  u.dat unlinked, O_RDWR, offset 4321
 *   21  /dev/null  22 /dev/zero  23 /dev/urandom
 *   30  g.dat      offset past EOF               31  "we ird\nname.dat"
 *  100  e.dat      O_RDWR|O_NONBLOCK, cloexec  1000  f.dat O_RDONLY|O_NOATIME
 * After go: the dup shares its offset with 5 and the separate open does not,
 * O_APPEND still appends, the directory listing continues where it was, the
 * unlinked file keeps its data with no links, and no other fd exists. */
#include "zdtm.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>

struct want {
        int fd;
        const char *name; /* in DIR, or absolute device path */
        int flags;        /* open flags */
        int cloexec;
        off_t pos;
        int getfl;        /* F_GETFL recorded */
        dev_t dev;
        ino_t ino;
};

static uint8_t pat(int id, size_t off) {
        return (uint8_t)(id * 31 + off * 7 + (off >> 8));
}

static void mkfile(const char *name, int id, size_t len) {
        int fd = open(zdtm_path(name), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        uint8_t buf[4096];
        if (fd < 0)
                zdtm_fail("create %s: %m", name);
        for (size_t off = 0; off < len;) {
                size_t n = len - off < sizeof(buf) ? len - off : sizeof(buf);
                for (size_t i = 0; i < n; i++)
                        buf[i] = pat(id, off + i);
                if (write(fd, buf, n) != (ssize_t)n)
                        zdtm_fail("write %s: %m", name);
                off += n;
        }
        close(fd);
}

static void place(int fd, int want, int cloexec) {
        if (fd == want)
                return;
        if (dup3(fd, want, cloexec ? O_CLOEXEC : 0) != want)
                zdtm_fail("dup2 %d -> %d: %m", fd, want);
        close(fd);
}

static void check_data(const char *what, int fd, int id, off_t off, size_t n) {
        uint8_t buf[256];
        if (n > sizeof(buf))
                n = sizeof(buf);
        ssize_t r = pread(fd, buf, n, off);
        if (r != (ssize_t)n)
                zdtm_fail("%s: pread at %lld returned %zd: %m", what, (long long)off, r);
        for (size_t i = 0; i < n; i++)
                if (buf[i] != pat(id, off + i))
                        zdtm_fail("%s: byte at offset %lld is %#x, expected %#x", what, (long long)(off + i), buf[i],
                                  pat(id, off + i));
}

struct linux_dirent64 {
        uint64_t d_ino;
        int64_t d_off;
        unsigned short d_reclen;
        unsigned char d_type;
        char d_name[];
};

/* first name returned by getdents64 on fd, or "" at the end */
static void next_name(int fd, char *out, size_t outl) {
        char buf[512];
        long n = syscall(SYS_getdents64, fd, buf, sizeof(buf));
        out[0] = 0;
        if (n < 0)
                zdtm_fail("getdents64: %m");
        if (n > 0)
                snprintf(out, outl, "%s", ((struct linux_dirent64 *)buf)->d_name);
}

int main(int argc, char **argv) {
        zdtm_init(argc, argv);
        struct want w[] = {
                { 5, "a.dat", O_RDWR, 0, 12345, 0, 0, 0 },
                { 7, "b.log", O_WRONLY | O_APPEND, 1, 0, 0, 0, 0 },
                { 8, "c.dat", O_PATH, 0, 0, 0, 0, 0 },
                { 10, "dir", O_RDONLY | O_DIRECTORY, 0, -1, 0, 0, 0 },
                { 11, "d.dat", O_RDONLY, 0, 777, 0, 0, 0 },
                { 12, NULL, 0, 0, 12345, 0, 0, 0 }, /* dup of 5 */
                { 13, "a.dat", O_RDONLY, 0, 99, 0, 0, 0 },
                { 20, "u.dat", O_RDWR, 0, 4321, 0, 0, 0 },
                { 21, "/dev/null", O_WRONLY, 0, 0, 0, 0, 0 },
                { 22, "/dev/zero", O_RDONLY, 0, 0, 0, 0, 0 },
                { 23, "/dev/urandom", O_RDONLY, 0, 0, 0, 0, 0 },
                { 30, "g.dat", O_RDWR, 0, 50000, 0, 0, 0 },
                { 31, "we ird\nname.dat", O_RDONLY, 0, 3, 0, 0, 0 },
                { 100, "e.dat", O_RDWR | O_NONBLOCK, 1, 20, 0, 0, 0 },
                { 1000, "f.dat", O_RDONLY | O_NOATIME, 0, 1, 0, 0, 0 },
        };
        const int nw = sizeof(w) / sizeof(w[0]);
        mkfile("a.dat", 1, 100000);
        mkfile("b.log", 2, 5000);
        mkfile("c.dat", 3, 10);
        mkfile("d.dat", 4, 2000);
        mkfile("u.dat", 5, 10240);
        mkfile("g.dat", 6, 10);
        mkfile("we ird\nname.dat", 7, 100);
        mkfile("e.dat", 8, 4096);
        mkfile("f.dat", 9, 100);
        zdtm_check(mkdir(zdtm_path("dir"), 0755) == 0 || errno == EEXIST, "mkdir: %m");
        for (int i = 0; i < 40; i++) {
                char n[64];
                snprintf(n, sizeof(n), "dir/entry-%02d", i);
                mkfile(n, 10, 1);
        }
        /* stdin/out/err stay; nothing else open */
        for (int i = 0; i < nw; i++) {
                int fd;
                if (!w[i].name) {
                        fd = fcntl(5, F_DUPFD, w[i].fd);
                        zdtm_check(fd == w[i].fd, "F_DUPFD gave %d", fd);
                } else {
                        const char *p = w[i].name[0] == '/' ? w[i].name : zdtm_path(w[i].name);
                        fd = open(p, w[i].flags | (w[i].cloexec ? O_CLOEXEC : 0));
                        zdtm_check(fd >= 0, "open %s: %m", w[i].name);
                        place(fd, w[i].fd, w[i].cloexec);
                        if (w[i].pos > 0)
                                zdtm_check(lseek(w[i].fd, w[i].pos, SEEK_SET) == w[i].pos, "lseek %s: %m", w[i].name);
                }
        }
        /* b.log: O_APPEND, position at the end */
        w[1].pos = lseek(7, 0, SEEK_END);
        /* the directory: read part of it */
        char seen_name[256], next_want[256];
        next_name(10, seen_name, sizeof(seen_name));
        next_name(10, seen_name, sizeof(seen_name));
        w[3].pos = lseek(10, 0, SEEK_CUR);
        {
                int d2 = open(zdtm_path("dir"), O_RDONLY | O_DIRECTORY);
                zdtm_check(d2 >= 0 && lseek(d2, w[3].pos, SEEK_SET) == w[3].pos, "second dir fd: %m");
                next_name(d2, next_want, sizeof(next_want));
                close(d2);
                zdtm_check(next_want[0], "set-up: directory listing ended early");
        }
        zdtm_check(unlink(zdtm_path("u.dat")) == 0, "unlink: %m");
        for (int i = 0; i < nw; i++) {
                struct stat st;
                w[i].getfl = fcntl(w[i].fd, F_GETFL);
                zdtm_check(fstat(w[i].fd, &st) == 0, "fstat %d: %m", w[i].fd);
                w[i].dev = st.st_dev;
                w[i].ino = st.st_ino;
        }

        zdtm_ready();
        zdtm_wait_go();

        for (int fd = 0; fd < 1100; fd++) {
                int expected = fd <= 2;
                for (int i = 0; i < nw; i++)
                        expected |= w[i].fd == fd;
                int r = fcntl(fd, F_GETFD);
                if (expected && r < 0)
                        zdtm_fail("fd %d is missing after restore", fd);
                if (!expected && r >= 0) {
                        char l[256] = "";
                        char p[64];
                        snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
                        readlink(p, l, sizeof(l) - 1);
                        zdtm_fail("unexpected fd %d (%s) after restore", fd, l);
                }
        }
        for (int i = 0; i < nw; i++) {
                int fd = w[i].fd;
                const char *n = w[i].name ? w[i].name : "a.dat (dup)";
                int fdfl = fcntl(fd, F_GETFD), fl = fcntl(fd, F_GETFL);
                if (!!(fdfl & FD_CLOEXEC) != w[i].cloexec)
                        zdtm_fail("fd %d (%s): close-on-exec is %d, expected %d", fd, n, !!(fdfl & FD_CLOEXEC),
                                  w[i].cloexec);
                if (fl != w[i].getfl)
                        zdtm_fail("fd %d (%s): F_GETFL is %#o, expected %#o", fd, n, fl, w[i].getfl);
                struct stat st;
                if (fstat(fd, &st))
                        zdtm_fail("fd %d (%s): fstat: %m", fd, n);
                /* an unlinked file can only come back as a new inode with the same data */
                if (w[i].fd != 20 && (st.st_dev != w[i].dev || st.st_ino != w[i].ino))
                        zdtm_fail("fd %d (%s): now dev %#lx ino %lu, was dev %#lx ino %lu", fd, n, (unsigned long)st.st_dev,
                                  (unsigned long)st.st_ino, (unsigned long)w[i].dev, (unsigned long)w[i].ino);
                if (w[i].flags & O_PATH)
                        continue;
                off_t pos = lseek(fd, 0, SEEK_CUR);
                if (w[i].fd >= 21 && w[i].fd <= 23)
                        continue; /* devices: position meaningless */
                if (pos != w[i].pos)
                        zdtm_fail("fd %d (%s): offset %lld, expected %lld", fd, n, (long long)pos, (long long)w[i].pos);
        }
        /* contents at the offsets */
        check_data("a.dat at 12345", 5, 1, 12345, 100);
        check_data("d.dat at 777", 11, 4, 777, 100);
        check_data("a.dat (2nd open)", 13, 1, 99, 100);
        check_data("we ird\\nname.dat", 31, 7, 3, 50);
        check_data("e.dat", 100, 8, 20, 100);
        check_data("f.dat", 1000, 9, 1, 50);
        /* shared offset through the dup, independent through the second open */
        uint8_t b[10];
        if (read(5, b, 10) != 10)
                zdtm_fail("read a.dat: %m");
        if (lseek(12, 0, SEEK_CUR) != 12355)
                zdtm_fail("fd 12 (dup of 5) does not share the offset: %lld after reading 10 via fd 5",
                          (long long)lseek(12, 0, SEEK_CUR));
        if (lseek(13, 0, SEEK_CUR) != 99)
                zdtm_fail("fd 13 (separate open of a.dat) moved with fd 5: %lld", (long long)lseek(13, 0, SEEK_CUR));
        /* O_APPEND */
        if (write(7, "xyz", 3) != 3)
                zdtm_fail("write b.log: %m");
        struct stat st;
        fstat(7, &st);
        if (st.st_size != 5003)
                zdtm_fail("b.log is %lld bytes after appending 3 to 5000", (long long)st.st_size);
        /* O_PATH really is */
        if (read(8, b, 1) != -1 || errno != EBADF)
                zdtm_fail("fd 8 (O_PATH) can be read");
        /* directory continues */
        char got[256];
        next_name(10, got, sizeof(got));
        if (strcmp(got, next_want))
                zdtm_fail("directory listing continues with \"%s\", expected \"%s\"", got, next_want);
        /* unlinked file */
        fstat(20, &st);
        if (st.st_nlink != 0)
                zdtm_fail("unlinked u.dat has %lu links after restore", (unsigned long)st.st_nlink);
        if (st.st_size != 10240)
                zdtm_fail("unlinked u.dat is %lld bytes, expected 10240", (long long)st.st_size);
        for (off_t o = 0; o < 10240; o += 256)
                check_data("unlinked u.dat", 20, 5, o, 256);
        char l[512] = "";
        readlink("/proc/self/fd/20", l, sizeof(l) - 1);
        if (!strstr(l, "u.dat (deleted)"))
                zdtm_fail("fd 20 links to \"%s\", expected .../u.dat (deleted)", l);
        /* devices */
        const struct {
                int fd;
                unsigned maj, min;
        } dv[] = { { 21, 1, 3 }, { 22, 1, 5 }, { 23, 1, 9 } };
        for (int i = 0; i < 3; i++) {
                fstat(dv[i].fd, &st);
                if (!S_ISCHR(st.st_mode) || major(st.st_rdev) != dv[i].maj || minor(st.st_rdev) != dv[i].min)
                        zdtm_fail("fd %d is not char device %u:%u", dv[i].fd, dv[i].maj, dv[i].min);
        }
        if (write(21, "abc", 3) != 3)
                zdtm_fail("write /dev/null: %m");
        memset(b, 0xff, sizeof(b));
        if (read(22, b, 10) != 10 || b[0] || b[9])
                zdtm_fail("/dev/zero does not read zeros");
        if (read(23, b, 10) != 10)
                zdtm_fail("read /dev/urandom: %m");
        /* past EOF */
        fstat(30, &st);
        if (st.st_size != 10)
                zdtm_fail("g.dat grew to %lld", (long long)st.st_size);
        zdtm_pass();
}
