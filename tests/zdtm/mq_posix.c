/* POSIX message queues: a named queue (maxmsg 8, msgsize 128, mode 0640)
 * open read-write and non-blocking in the parent and write-only (blocking)
 * in a child, holding five messages of three priorities; and a queue
 * unlinked while open (maxmsg 4, msgsize 16) with two messages.
 * After restore: the attributes (mq_getattr: maxmsg, msgsize, curmsgs, the
 * O_NONBLOCK flag per open file), mode and owner, the name still opening
 * the same queue, the messages in priority order with their priorities (and
 * FIFO within one priority), EAGAIN on the empty non-blocking queue, and a
 * message the child sends through its own descriptor after restore. * ZDTM: serial=1 (SysV ids and queue names are global: never alongside other tests)
 */
#include <fcntl.h>
#include <mqueue.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "zdtm.h"

static char name[64], uname_[64];

static void expect(mqd_t q, const char *what, const char *want, unsigned want_prio) {
        char buf[128];
        unsigned prio;
        ssize_t n = mq_receive(q, buf, sizeof(buf), &prio);
        if (n < 0)
                zdtm_fail("%s: mq_receive: %s (expected '%s')", what, strerror(errno), want);
        if ((size_t)n != strlen(want) || memcmp(buf, want, n) != 0 || prio != want_prio)
                zdtm_fail("%s: got '%.*s' priority %u, expected '%s' priority %u", what, (int)n, buf, prio, want,
                          want_prio);
}

static void check_attr(mqd_t q, const char *what, long maxmsg, long msgsize, long cur, long flags) {
        struct mq_attr a;
        if (mq_getattr(q, &a) < 0)
                zdtm_fail("%s: mq_getattr: %s", what, strerror(errno));
        if (a.mq_maxmsg != maxmsg || a.mq_msgsize != msgsize || a.mq_curmsgs != cur || a.mq_flags != flags)
                zdtm_fail("%s: maxmsg %ld msgsize %ld curmsgs %ld flags %#lx, expected %ld %ld %ld %#lx", what,
                          a.mq_maxmsg, a.mq_msgsize, a.mq_curmsgs, a.mq_flags, maxmsg, msgsize, cur, flags);
}

int main(int argc, char **argv) {
        zdtm_init(argc, argv);
        snprintf(name, sizeof(name), "/cryo-zdtm-mq-%d", getpid());
        snprintf(uname_, sizeof(uname_), "/cryo-zdtm-mq-%d-u", getpid());
        mode_t um = umask(0);
        struct mq_attr a1 = { .mq_maxmsg = 8, .mq_msgsize = 128 }, a2 = { .mq_maxmsg = 4, .mq_msgsize = 16 };
        mqd_t q = mq_open(name, O_RDWR | O_CREAT | O_EXCL | O_NONBLOCK, 0640, &a1);
        mqd_t u = mq_open(uname_, O_RDWR | O_CREAT | O_EXCL, 0600, &a2);
        umask(um);
        zdtm_check(q >= 0 && u >= 0, "mq_open: %s", strerror(errno));
        zdtm_check(mq_unlink(uname_) == 0, "mq_unlink: %s", strerror(errno));
        const struct {
                const char *text;
                unsigned prio;
        } msgs[] = { { "a5", 5 }, { "b1", 1 }, { "c5", 5 }, { "d9", 9 }, { "e1", 1 } };
        for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++)
                zdtm_check(mq_send(q, msgs[i].text, strlen(msgs[i].text), msgs[i].prio) == 0, "mq_send: %s",
                           strerror(errno));
        zdtm_check(mq_send(u, "first", 5, 0) == 0 && mq_send(u, "second", 6, 0) == 0, "mq_send: %s", strerror(errno));

        pid_t kid = fork();
        zdtm_check(kid >= 0, "fork: %s", strerror(errno));
        if (kid == 0) {
                mqd_t w = mq_open(name, O_WRONLY);
                if (w < 0)
                        _exit(10);
                mq_close(q);
                zdtm_wait_go();
                check_attr(w, "child's write-only descriptor", 8, 128, 5, 0);
                if (mq_send(w, "from child", 10, 3) < 0)
                        _exit(11);
                _exit(0);
        }
        usleep(20000);
        zdtm_ready();
        zdtm_wait_go();

        int kst;
        if (waitpid(kid, &kst, 0) != kid || !WIFEXITED(kst) || WEXITSTATUS(kst) != 0)
                zdtm_fail("child: exit status %#x", kst);
        check_attr(q, "named queue", 8, 128, 6, O_NONBLOCK); /* with the child's */
        check_attr(u, "unlinked queue", 4, 16, 2, 0);
        struct stat st;
        if (fstat(q, &st) < 0 || (st.st_mode & 07777) != 0640 || st.st_uid != getuid() || st.st_gid != getgid())
                zdtm_fail("named queue: mode %o owner %u:%u", st.st_mode & 07777, st.st_uid, st.st_gid);
        char link[128], path[64];
        snprintf(path, sizeof(path), "/proc/self/fd/%d", u);
        ssize_t n = readlink(path, link, sizeof(link) - 1);
        link[n > 0 ? n : 0] = 0;
        if (!strstr(link, "(deleted)"))
                zdtm_fail("the unlinked queue is '%s' now", link);
        mqd_t again = mq_open(name, O_RDONLY);
        struct stat st2;
        if (again < 0 || fstat(again, &st2) < 0 || st2.st_ino != st.st_ino)
                zdtm_fail("'%s' does not open the same queue any more", name);
        mq_close(again);

        expect(q, "named queue", "d9", 9);
        expect(q, "named queue", "a5", 5);
        expect(q, "named queue", "c5", 5);
        expect(q, "named queue", "from child", 3);
        expect(q, "named queue", "b1", 1);
        expect(q, "named queue", "e1", 1);
        char buf[128];
        if (mq_receive(q, buf, sizeof(buf), NULL) >= 0 || errno != EAGAIN)
                zdtm_fail("named queue: empty and non-blocking, but mq_receive said %s", strerror(errno));
        expect(u, "unlinked queue", "first", 0);
        expect(u, "unlinked queue", "second", 0);
        mq_unlink(name);
        zdtm_pass();
}
