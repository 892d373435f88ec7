/* inotify: watches whose wds are not consecutive (some were removed), a
 * one-shot watch on a file, a watch on a directory with a space in its name,
 * a second instance; after restore each watch must report with its original
 * wd, nothing spurious may be queued, new watches get fresh wds. */
#include <poll.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>

#include "fd_common.h"

static char path_a[4096], path_b[4096], path_c[4096], path_f[4096], path_g[4096];

struct ev {
        int wd;
        uint32_t mask;
        char name[64];
};

static int read_events(int fd, struct ev *out, int max) {
        char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int n = 0;
        while (poll(&p, 1, 100) > 0) {
                ssize_t len = read(fd, buf, sizeof(buf));
                if (len <= 0)
                        break;
                for (char *q = buf; q < buf + len;) {
                        struct inotify_event *e = (struct inotify_event *)q;
                        if (n < max) {
                                out[n].wd = e->wd;
                                out[n].mask = e->mask;
                                snprintf(out[n].name, sizeof(out[n].name), "%s", e->len ? e->name : "");
                                n++;
                        }
                        q += sizeof(*e) + e->len;
                }
        }
        return n;
}

/* names unique per run: in the leave-running flavour the original has
 * already created its files in the same directories */
static const char *uniq(const char *base) {
        static char buf[4][64];
        static int slot;
        struct timespec t;
        clock_gettime(CLOCK_REALTIME, &t);
        char *b = buf[slot++ % 4];
        snprintf(b, sizeof(buf[0]), "%s-%lld%09ld", base, (long long)t.tv_sec, t.tv_nsec);
        return b;
}

static void touch(const char *dir, const char *name) {
        char p[4200];
        snprintf(p, sizeof(p), "%s/%s", dir, name);
        int fd = open(p, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
        if (fd < 0)
                zdtm_fail("create %s: %s", p, strerror(errno));
        close(fd);
}

static void expect_one(int fd, int wd, uint32_t mask, const char *name, const char *what) {
        struct ev e[8];
        int n = read_events(fd, e, 8);
        if (n < 1)
                zdtm_fail("%s: no event (expected wd %d mask %#x '%s')", what, wd, mask, name);
        if (e[0].wd != wd || e[0].mask != mask || strcmp(e[0].name, name) != 0)
                zdtm_fail("%s: event wd %d mask %#x '%s', expected wd %d mask %#x '%s'", what, e[0].wd, e[0].mask,
                          e[0].name, wd, mask, name);
        for (int i = 1; i < n; i++)
                if (!(e[i].wd == wd && (e[i].mask & IN_IGNORED)))
                        zdtm_fail("%s: unexpected extra event wd %d mask %#x '%s'", what, e[i].wd, e[i].mask,
                                  e[i].name);
}

int main(int argc, char **argv) {
        zdtm_init(argc, argv);
        snprintf(path_a, sizeof(path_a), "%s", zdtm_path("dir a"));
        snprintf(path_b, sizeof(path_b), "%s", zdtm_path("b"));
        snprintf(path_c, sizeof(path_c), "%s", zdtm_path("c"));
        snprintf(path_f, sizeof(path_f), "%s", zdtm_path("file"));
        snprintf(path_g, sizeof(path_g), "%s", zdtm_path("g"));
        zdtm_check(mkdir(path_a, 0755) == 0 && mkdir(path_b, 0755) == 0 && mkdir(path_c, 0755) == 0 &&
                           mkdir(path_g, 0755) == 0,
                   "mkdir: %s", strerror(errno));
        touch(zdtm_dir, "file");

        int in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        int in2 = inotify_init1(0);
        zdtm_check(in >= 0 && in2 >= 0, "inotify_init1: %s", strerror(errno));
        int wa = inotify_add_watch(in, path_a, IN_CREATE);
        /* burn some wds so the next ones are not consecutive */
        for (int i = 0; i < 5; i++) {
                int w = inotify_add_watch(in, path_b, IN_CREATE);
                zdtm_check(w > 0, "inotify_add_watch: %s", strerror(errno));
                inotify_rm_watch(in, w);
        }
        int wc = inotify_add_watch(in, path_c, IN_CREATE | IN_DELETE);
        int wf = inotify_add_watch(in, path_f, IN_MODIFY | IN_ONESHOT);
        int wb2 = inotify_add_watch(in2, path_b, IN_CREATE);
        zdtm_check(wa > 0 && wc > 0 && wf > 0 && wb2 > 0, "inotify_add_watch: %s", strerror(errno));
        zdtm_check(wc > wa + 2, "wds are consecutive (%d, %d): the test is not testing anything", wa, wc);
        struct ev junk[16];
        read_events(in, junk, 16); /* the IN_IGNORED of the removals */

        zdtm_ready();
        zdtm_wait_go();

        fd_check(in, "anon_inode:inotify", true, true, "inotify 1");
        fd_check(in2, "anon_inode:inotify", false, false, "inotify 2");
        struct ev e[8];
        int n = read_events(in, e, 8);
        if (n)
                zdtm_fail("inotify 1: %d spurious events queued after restore (first: wd %d mask %#x)", n, e[0].wd,
                          e[0].mask);
        int avail = 0;
        if (ioctl(in2, FIONREAD, &avail) < 0 || avail)
                zdtm_fail("inotify 2: %d bytes of spurious events queued after restore", avail);

        const char *x = uniq("x"), *y = uniq("y"), *z = uniq("z"), *w = uniq("w");
        touch(path_a, x);
        expect_one(in, wa, IN_CREATE, x, "watch on 'dir a'");
        touch(path_c, y);
        expect_one(in, wc, IN_CREATE, y, "watch on c");
        char p[4200];
        snprintf(p, sizeof(p), "%s/%s", path_c, y);
        unlink(p);
        expect_one(in, wc, IN_DELETE, y, "watch on c (delete)");
        int fd = open(path_f, O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, "x", 1) != 1)
                zdtm_fail("write %s: %s", path_f, strerror(errno));
        close(fd);
        expect_one(in, wf, IN_MODIFY, "", "one-shot watch on file");
        fd = open(path_f, O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, "x", 1) != 1)
                zdtm_fail("write %s: %s", path_f, strerror(errno));
        close(fd);
        if ((n = read_events(in, e, 8)) != 0)
                zdtm_fail("one-shot watch fired twice (wd %d mask %#x)", e[0].wd, e[0].mask);
        /* b is not watched by the first instance */
        touch(path_b, z);
        if ((n = read_events(in, e, 8)) != 0)
                zdtm_fail("inotify 1: event for b, which it does not watch (wd %d)", e[0].wd);
        expect_one(in2, wb2, IN_CREATE, z, "inotify 2 watch on b");

        /* a new watch does not collide with the restored ones */
        int wg = inotify_add_watch(in, path_g, IN_CREATE);
        if (wg <= 0 || wg == wa || wg == wc || wg == wf)
                zdtm_fail("new watch got wd %d, colliding with a restored one (%d %d %d)", wg, wa, wc, wf);
        touch(path_g, w);
        expect_one(in, wg, IN_CREATE, w, "new watch on g");
        /* the existing watch on 'dir a' is found again by path */
        if (inotify_add_watch(in, path_a, IN_CREATE) != wa)
                zdtm_fail("adding 'dir a' again did not return its wd %d", wa);
        zdtm_pass();
}
