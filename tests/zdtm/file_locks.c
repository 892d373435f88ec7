/* File locks across C/R (--file-locks): an flock on one file, a POSIX
 * record lock on a byte range of another, an OFD lock on a third. After
 * restore a forked probe must still find every lock held (and by us), and
 * the locks must still be ours to release.
 * ZDTM: opts=--file-locks */
#include <fcntl.h>
#include <sys/file.h>
#include <sys/wait.h>

#include "zdtm.h"

static int probe(const char *path, int kind) {
        /* in a child: 0 if the lock is free, 1 if held by someone */
        pid_t c = fork();
        if (c == 0) {
                int fd = open(path, O_RDWR);
                if (fd < 0)
                        _exit(2);
                if (kind == 1)
                        _exit(flock(fd, LOCK_EX | LOCK_NB) < 0 ? 1 : 0);
                struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 10, .l_len = 5 };
                if (kind == 2)
                        _exit(fcntl(fd, F_SETLK, &fl) < 0 ? 1 : 0);
                fl.l_start = 0;
                fl.l_len = 0;
                _exit(fcntl(fd, F_OFD_SETLK, &fl) < 0 ? 1 : 0);
        }
        int st;
        waitpid(c, &st, 0);
        return WIFEXITED(st) ? WEXITSTATUS(st) : 3;
}

int main(int argc, char **argv) {
        zdtm_init(argc, argv);
        /* zdtm_path() rotates a few static buffers: keep our own copies */
        char *a = strdup(zdtm_path("flock.f")), *b = strdup(zdtm_path("posix.f")), *c = strdup(zdtm_path("ofd.f"));
        int fa = open(a, O_RDWR | O_CREAT, 0600), fb = open(b, O_RDWR | O_CREAT, 0600), fc = open(c, O_RDWR | O_CREAT, 0600);
        zdtm_check(fa >= 0 && fb >= 0 && fc >= 0, "open: %m");
        zdtm_check(flock(fa, LOCK_EX) == 0, "flock: %m");
        struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 12, .l_len = 2 };
        zdtm_check(fcntl(fb, F_SETLK, &fl) == 0, "F_SETLK: %m");
        struct flock ofd = { .l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0 };
        zdtm_check(fcntl(fc, F_OFD_SETLK, &ofd) == 0, "F_OFD_SETLK: %m");
        zdtm_check(probe(a, 1) == 1 && probe(b, 2) == 1 && probe(c, 3) == 1, "locks not seen before C/R");
        zdtm_ready();
        zdtm_wait_go();
        if (probe(a, 1) != 1)
                zdtm_fail("flock lost");
        if (probe(b, 2) != 1)
                zdtm_fail("POSIX lock on bytes 12-13 lost");
        if (probe(c, 3) != 1)
                zdtm_fail("OFD lock lost");
        /* the POSIX lock covers exactly 12..13: byte 10..11 must be free */
        struct flock q = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 12, .l_len = 2 };
        pid_t k = fork();
        if (k == 0) {
                int fd = open(b, O_RDWR);
                struct flock g = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 12 };
                _exit(fcntl(fd, F_SETLK, &g) == 0 ? 0 : 1);
        }
        int st;
        waitpid(k, &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
                zdtm_fail("POSIX lock grew beyond its range");
        if (fcntl(fb, F_GETLK, &q) < 0 || q.l_type != F_UNLCK)
                zdtm_fail("we do not own the POSIX lock any more");
        if (flock(fa, LOCK_UN) < 0 || probe(a, 1) != 0)
                zdtm_fail("cannot release the flock");
        zdtm_pass();
}
