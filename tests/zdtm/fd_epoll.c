/* epoll: level- and edge-triggered registrations, EPOLLOUT, a one-shot
 * registration that already fired (must stay disarmed), 64-bit data,
 * an epoll watching another epoll, a target at a high fd number, flags, a
 * child sharing the epolls without some of the watched fds. */
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/wait.h>

#include "fd_common.h"

#define D_LT 0x1122334455667788ULL
#define D_ET 0xdeadbeef00000001ULL
#define D_OUT 77
#define D_ONESHOT 0xabcULL
#define D_HIGH 0x4242ULL
#define D_INNER 0x99ULL
#define HIGHFD 200

struct seen {
        uint64_t data;
        uint32_t events;
};

static int collect(int ep, struct seen *s, int max) {
        struct epoll_event ev[16];
        int n = epoll_wait(ep, ev, 16, 0);
        if (n < 0)
                zdtm_fail("epoll_wait: %s", strerror(errno));
        for (int i = 0; i < n && i < max; i++)
                s[i] = (struct seen){ ev[i].data.u64, ev[i].events };
        return n;
}

static bool has(struct seen *s, int n, uint64_t data, uint32_t events) {
        for (int i = 0; i < n; i++)
                if (s[i].data == data)
                        return s[i].events == events;
        return false;
}

static void expect(int ep, const char *when, int want_n, uint64_t d1, uint32_t e1, uint64_t d2, uint32_t e2) {
        struct seen s[16];
        int n = collect(ep, s, 16);
        char got[512] = "";
        for (int i = 0; i < n; i++)
                snprintf(got + strlen(got), sizeof(got) - strlen(got), " {data %#llx events %#x}",
                         (unsigned long long)s[i].data, s[i].events);
        if (n != want_n || (want_n >= 1 && !has(s, n, d1, e1)) || (want_n >= 2 && !has(s, n, d2, e2)))
                zdtm_fail("%s: epoll_wait reported %d events:%s; expected %d: {data %#llx events %#x} {data %#llx "
                          "events %#x}",
                          when, n, got, want_n, (unsigned long long)d1, e1, (unsigned long long)d2, e2);
}

static void add(int ep, int fd, uint32_t events, uint64_t data) {
        struct epoll_event ev = { .events = events, .data.u64 = data };
        zdtm_check(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0, "epoll_ctl add %d: %s", fd, strerror(errno));
}

static void post(int fd, uint64_t v) {
        if (write(fd, &v, 8) != 8)
                zdtm_fail("eventfd write: %s", strerror(errno));
}

int main(int argc, char **argv) {
        zdtm_init(argc, argv);
        uint64_t v;

        int ep = epoll_create1(EPOLL_CLOEXEC);
        int inner = epoll_create1(0);
        int lt = eventfd(3, EFD_NONBLOCK);   /* readable: reported every time */
        int et = eventfd(0, EFD_NONBLOCK);   /* edge-triggered, not ready yet */
        int out = eventfd(0, EFD_NONBLOCK);  /* writable, EPOLLOUT */
        int once = eventfd(1, EFD_NONBLOCK); /* one-shot, fires before the dump */
        int high = eventfd(0, EFD_NONBLOCK);
        int innerfd = eventfd(1, EFD_NONBLOCK);
        zdtm_check(ep >= 0 && inner >= 0 && lt >= 0 && et >= 0 && out >= 0 && once >= 0 && high >= 0 && innerfd >= 0,
                   "setup: %s", strerror(errno));
        zdtm_check(dup2(high, HIGHFD) == HIGHFD, "dup2: %s", strerror(errno));
        close(high);

        add(ep, lt, EPOLLIN, D_LT);
        add(ep, et, EPOLLIN | EPOLLET, D_ET);
        add(ep, once, EPOLLIN | EPOLLONESHOT, D_ONESHOT);
        add(inner, innerfd, EPOLLIN, D_INNER);
        add(inner, out, EPOLLOUT, D_OUT);
        add(ep, HIGHFD, EPOLLIN, D_HIGH);
        int outer2 = epoll_create1(0);
        zdtm_check(outer2 >= 0, "epoll_create1: %s", strerror(errno));
        add(outer2, inner, EPOLLIN, D_INNER + 1);

        /* fire the one-shot; lt is reported too */
        expect(ep, "before dump", 2, D_LT, EPOLLIN, D_ONESHOT, EPOLLIN);
        expect(ep, "before dump, again", 1, D_LT, EPOLLIN, 0, 0);

        /* a child shares the epolls but has closed two of the watched fds:
         * its restore must neither fail nor register anything */
        int sync = eventfd(0, 0);
        zdtm_check(sync >= 0, "eventfd: %s", strerror(errno));
        pid_t child = fork();
        zdtm_check(child >= 0, "fork: %s", strerror(errno));
        if (child == 0) {
                close(lt);
                close(HIGHFD);
                post(sync, 1);
                zdtm_wait_go();
                _exit(0);
        }
        zdtm_check(read(sync, &v, 8) == 8, "sync: %s", strerror(errno));

        zdtm_ready();
        zdtm_wait_go();

        fd_check(ep, "anon_inode:[eventpoll]", false, true, "outer epoll");
        fd_check(inner, "anon_inode:[eventpoll]", false, false, "inner epoll");

        /* the one-shot stays disarmed, the edge-triggered one is quiet */
        expect(ep, "after restore", 1, D_LT, EPOLLIN, 0, 0);

        post(et, 1);
        expect(ep, "after restore, edge-triggered fd written", 2, D_LT, EPOLLIN, D_ET, EPOLLIN);
        expect(ep, "after restore, edge consumed", 1, D_LT, EPOLLIN, 0, 0);

        post(HIGHFD, 1);
        expect(ep, "after restore, fd 200 written", 2, D_LT, EPOLLIN, D_HIGH, EPOLLIN);

        if (read(lt, &v, 8) != 8 || v != 3)
                zdtm_fail("level-triggered eventfd: counter lost");
        if (read(HIGHFD, &v, 8) != 8)
                zdtm_fail("fd 200: read: %s", strerror(errno));
        expect(ep, "after reading everything", 0, 0, 0, 0, 0);

        struct epoll_event ev = { .events = EPOLLIN | EPOLLONESHOT, .data.u64 = D_ONESHOT + 1 };
        if (epoll_ctl(ep, EPOLL_CTL_MOD, once, &ev) < 0)
                zdtm_fail("re-arming the one-shot registration: %s (registration lost?)", strerror(errno));
        expect(ep, "one-shot re-armed", 1, D_ONESHOT + 1, EPOLLIN, 0, 0);

        /* the nested epolls */
        expect(outer2, "epoll watching an epoll", 1, D_INNER + 1, EPOLLIN, 0, 0);
        expect(inner, "inner epoll", 2, D_INNER, EPOLLIN, D_OUT, EPOLLOUT);
        /* registrations are there exactly once: adding again must fail */
        ev = (struct epoll_event){ .events = EPOLLIN };
        if (epoll_ctl(ep, EPOLL_CTL_ADD, lt, &ev) == 0 || errno != EEXIST)
                zdtm_fail("registration of fd %d is missing after restore", lt);
        if (epoll_ctl(ep, EPOLL_CTL_ADD, inner, &ev) < 0)
                zdtm_fail("adding the inner epoll to the outer one: %s", strerror(errno));
        expect(ep, "outer epoll watching the inner one", 1, 0, EPOLLIN, 0, 0);
        int status;
        if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
                zdtm_fail("child sharing the epoll failed (status %#x)", status);
        zdtm_pass();
}
