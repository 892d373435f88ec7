/* Names that end in " (deleted)" for real -- the suffix the kernel appends
 * to the /proc links of removed files -- must not be taken for removed files:
 *   fd 5   "DIR/real (deleted)"          an ordinary file, O_RDWR, offset 7
 *   fd 6   "DIR/gone (deleted)" unlinked: its link reads "... (deleted) (deleted)"
 *   fd 7   "DIR/dir (deleted)"           a directory (O_RDONLY|O_DIRECTORY)
 *   fd 8   "DIR/a (deleted)/b (deleted)" a file in such a directory, offset 3
 *   cwd    "DIR/dir (deleted)"
 *   a MAP_SHARED mapping of "DIR/map (deleted)" (written through, at restore
 *   the same file)
 * plus names with a space, a newline and a tab. After go: every fd names the
 * same path and inode, offsets, contents, the unlinked file has no link and
 * its data, the cwd is the directory, and the mapping still writes the file. */
#include "zdtm.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/mman.h>
#include <sys/stat.h>

static char base[PATH_MAX];

struct want {
        int fd;
        const char *name; /* in DIR */
        int flags;
        off_t pos;
        bool unlinked;
        ino_t ino;
        char link[PATH_MAX + 32];
};

static struct want w[] = {
        { 5, "real (deleted)", O_RDWR, 7, false },
        { 6, "gone (deleted)", O_RDWR, 2, true },
        { 7, "dir (deleted)", O_RDONLY | O_DIRECTORY, 0, false },
        { 8, "a (deleted)/b (deleted)", O_RDONLY, 3, false },
        { 9, "with space", O_RDONLY, 1, false },
        { 10, "new\nline (deleted)", O_RDONLY, 1, false },
        { 11, "tab\there", O_RDONLY, 1, false },
};
#define NW (sizeof(w) / sizeof(w[0]))

static const char *in(const char *name) {
        static char buf[4][PATH_MAX + 64];
        static int k;
        char *b = buf[k++ % 4];
        snprintf(b, PATH_MAX + 64, "%.*s/%s", PATH_MAX - 1, base, name);
        return b;
}

static void readlink_fd(int fd, char *out, size_t n) {
        char p[64];
        snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
        ssize_t l = readlink(p, out, n - 1);
        if (l < 0)
                zdtm_fail("readlink fd %d: %m", fd);
        out[l] = 0;
}

int main(int argc, char **argv) {
        zdtm_init(argc, argv);
        if (!realpath(zdtm_dir, base))
                zdtm_fail("realpath %s: %m", zdtm_dir);
        zdtm_check(mkdir(in("dir (deleted)"), 0755) == 0 || errno == EEXIST, "mkdir: %m");
        zdtm_check(mkdir(in("a (deleted)"), 0755) == 0 || errno == EEXIST, "mkdir: %m");
        for (size_t i = 0; i < NW; i++) {
                if (!(w[i].flags & O_DIRECTORY)) {
                        int c = open(in(w[i].name), O_WRONLY | O_CREAT | O_TRUNC, 0644);
                        zdtm_check(c >= 0, "create %s: %m", w[i].name);
                        dprintf(c, "contents of %zu\n", i);
                        close(c);
                }
                int fd = open(in(w[i].name), w[i].flags);
                zdtm_check(fd >= 0, "open %s: %m", w[i].name);
                zdtm_check(dup2(fd, w[i].fd) == w[i].fd, "dup2: %m");
                close(fd);
                if (w[i].pos)
                        lseek(w[i].fd, w[i].pos, SEEK_SET);
                struct stat st;
                fstat(w[i].fd, &st);
                w[i].ino = st.st_ino;
                if (w[i].unlinked)
                        zdtm_check(unlink(in(w[i].name)) == 0, "unlink: %m");
                readlink_fd(w[i].fd, w[i].link, sizeof(w[i].link));
        }
        int mf = open(in("map (deleted)"), O_RDWR | O_CREAT | O_TRUNC, 0644);
        zdtm_check(mf >= 0 && ftruncate(mf, 4096) == 0, "map file: %m");
        char *map = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, mf, 0);
        zdtm_check(map != MAP_FAILED, "mmap: %m");
        close(mf);
        strcpy(map, "before");
        zdtm_check(chdir(in("dir (deleted)")) == 0, "chdir: %m");
        /* zdtm_path() may be relative to the old cwd */
        zdtm_dir = base;

        zdtm_ready();
        zdtm_wait_go();

        for (size_t i = 0; i < NW; i++) {
                char l[PATH_MAX + 32];
                struct stat st;
                readlink_fd(w[i].fd, l, sizeof(l));
                if (strcmp(l, w[i].link))
                        zdtm_fail("fd %d ('%s') now links to '%s', was '%s'", w[i].fd, w[i].name, l, w[i].link);
                if (fstat(w[i].fd, &st) < 0)
                        zdtm_fail("fstat fd %d: %m", w[i].fd);
                if (w[i].unlinked ? st.st_nlink != 0 : st.st_ino != w[i].ino)
                        zdtm_fail("fd %d ('%s'): nlink %lu inode %lu (was %lu)", w[i].fd, w[i].name,
                                  (unsigned long)st.st_nlink, (unsigned long)st.st_ino, (unsigned long)w[i].ino);
                if ((fcntl(w[i].fd, F_GETFL) & O_ACCMODE) != (w[i].flags & O_ACCMODE))
                        zdtm_fail("fd %d: access mode changed", w[i].fd);
                if (w[i].flags & O_DIRECTORY)
                        continue;
                if (lseek(w[i].fd, 0, SEEK_CUR) != w[i].pos)
                        zdtm_fail("fd %d ('%s'): offset %lld, expected %lld", w[i].fd, w[i].name,
                                  (long long)lseek(w[i].fd, 0, SEEK_CUR), (long long)w[i].pos);
                char buf[64] = { 0 }, exp[64];
                snprintf(exp, sizeof(exp), "contents of %zu\n", i);
                if (pread(w[i].fd, buf, sizeof(buf) - 1, 0) < 0 || strcmp(buf, exp))
                        zdtm_fail("fd %d ('%s'): contents '%s'", w[i].fd, w[i].name, buf);
        }
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof(cwd)) || strcmp(cwd, in("dir (deleted)")))
                zdtm_fail("cwd is '%s', expected '%s'", cwd, in("dir (deleted)"));
        if (strcmp(map, "before"))
                zdtm_fail("mapping holds '%.16s'", map);
        strcpy(map, "after");
        char buf[16] = { 0 };
        int rf = open(in("map (deleted)"), O_RDONLY);
        if (rf < 0 || pread(rf, buf, 15, 0) < 0 || strcmp(buf, "after"))
                zdtm_fail("the mapping no longer writes 'map (deleted)': file holds '%s'", buf);
        close(rf);
        zdtm_pass();
}
