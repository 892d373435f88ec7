/* timerfds: a long relative one-shot, a fast periodic timer left unread
 * (ticks pile up), an absolute CLOCK_REALTIME timer with CANCEL_ON_SET, an
 * expired one-shot with one unread tick, a disarmed timer that keeps an
 * interval, a CLOCK_BOOTTIME periodic timer; clocks, flags, fd numbers. */
#include <sys/timerfd.h>
#include <time.h>

#include "fd_common.h"

#define NS 1000000000LL

static int64_t ts_ns(struct timespec t) {
        return t.tv_sec * NS + t.tv_nsec;
}

static int64_t now_ns(clockid_t c) {
        struct timespec t;
        clock_gettime(c, &t);
        return ts_ns(t);
}

static int mk(clockid_t c, int fl, int sflags, int64_t value, int64_t interval) {
        int fd = timerfd_create(c, fl);
        zdtm_check(fd >= 0, "timerfd_create: %s", strerror(errno));
        struct itimerspec its = { { interval / NS, interval % NS }, { value / NS, value % NS } };
        zdtm_check(timerfd_settime(fd, sflags, &its, NULL) == 0, "timerfd_settime: %s", strerror(errno));
        return fd;
}

static struct itimerspec get(int fd, const char *what) {
        struct itimerspec its;
        if (timerfd_gettime(fd, &its) < 0)
                zdtm_fail("%s: timerfd_gettime: %s", what, strerror(errno));
        return its;
}

static uint64_t ticks(int fd, const char *what) {
        uint64_t v;
        if (read(fd, &v, 8) != 8)
                zdtm_fail("%s: read: %s", what, strerror(errno));
        return v;
}

int main(int argc, char **argv) {
        zdtm_init(argc, argv);
        int64_t t0 = now_ns(CLOCK_MONOTONIC);

        int longer = mk(CLOCK_MONOTONIC, 0, 0, 1000 * NS, 0);
        int periodic = mk(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC, 0, 2000000, 3000000); /* 2 ms, then 3 ms */
        int64_t deadline = now_ns(CLOCK_REALTIME) + 600 * NS;
        int abs_rt = mk(CLOCK_REALTIME, TFD_CLOEXEC, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, deadline, 0);
        int expired = mk(CLOCK_MONOTONIC, TFD_NONBLOCK, 0, 1000000, 0); /* fires after 1 ms */
        int disarmed = mk(CLOCK_MONOTONIC, 0, 0, 0, 5 * NS);
        int boot = mk(CLOCK_BOOTTIME, TFD_NONBLOCK, 0, 3600 * NS, 7 * NS + 123);
        struct timespec d = { 0, 50 * 1000 * 1000 };
        nanosleep(&d, NULL); /* periodic piles up ~16 ticks, expired fires */

        zdtm_ready();
        zdtm_wait_go();
        int64_t elapsed = now_ns(CLOCK_MONOTONIC) - t0;

        fd_check(longer, "anon_inode:[timerfd]", false, false, "1000 s timer");
        fd_check(periodic, "anon_inode:[timerfd]", true, true, "periodic timer");
        fd_check(abs_rt, "anon_inode:[timerfd]", false, true, "absolute realtime timer");
        fd_check(expired, "anon_inode:[timerfd]", true, false, "expired timer");
        fd_check(disarmed, "anon_inode:[timerfd]", false, false, "disarmed timer");
        fd_check(boot, "anon_inode:[timerfd]", true, false, "boottime timer");

        struct itimerspec its = get(longer, "1000 s timer");
        int64_t v = ts_ns(its.it_value);
        /* the time between dump and restore does not count */
        if (v > 1000 * NS || v < 1000 * NS - elapsed - NS)
                zdtm_fail("1000 s timer: %lld ns remain after %lld ns", (long long)v, (long long)elapsed);
        if (ts_ns(its.it_interval) != 0)
                zdtm_fail("1000 s timer: got an interval");
        if (strcmp(fd_info(longer, "clockid:"), "1") != 0)
                zdtm_fail("1000 s timer: clockid is %s, expected 1", fd_info(longer, "clockid:"));

        its = get(periodic, "periodic timer");
        if (ts_ns(its.it_interval) != 3000000)
                zdtm_fail("periodic timer: interval %lld ns, expected 3000000", (long long)ts_ns(its.it_interval));
        if (ts_ns(its.it_value) <= 0 || ts_ns(its.it_value) > 3000000)
                zdtm_fail("periodic timer: %lld ns to the next expiry, expected (0, 3 ms]",
                          (long long)ts_ns(its.it_value));
        uint64_t n = ticks(periodic, "periodic timer");
        if (n < 10)
                zdtm_fail("periodic timer: %llu expirations read, expected at least 10 (50 ms at 3 ms)",
                          (unsigned long long)n);
        /* and it keeps running */
        d.tv_nsec = 10 * 1000 * 1000;
        nanosleep(&d, NULL);
        if (ticks(periodic, "periodic timer, later") < 1)
                zdtm_fail("periodic timer stopped");

        its = get(abs_rt, "absolute realtime timer");
        v = ts_ns(its.it_value);
        if (v > 600 * NS || v < 600 * NS - elapsed - 5 * NS)
                zdtm_fail("absolute realtime timer: %lld ns remain after %lld ns", (long long)v, (long long)elapsed);
        if (strcmp(fd_info(abs_rt, "settime flags:"), "03") != 0)
                zdtm_fail("absolute realtime timer: settime flags %s, expected 03 (ABSTIME|CANCEL_ON_SET)",
                          fd_info(abs_rt, "settime flags:"));
        if (strcmp(fd_info(abs_rt, "clockid:"), "0") != 0)
                zdtm_fail("absolute realtime timer: clockid %s, expected 0", fd_info(abs_rt, "clockid:"));

        its = get(expired, "expired timer");
        if (ts_ns(its.it_value) != 0 || ts_ns(its.it_interval) != 0)
                zdtm_fail("expired timer: armed again after restore");
        if ((n = ticks(expired, "expired timer")) != 1)
                zdtm_fail("expired timer: %llu unread expirations, expected 1", (unsigned long long)n);
        if (read(expired, &n, 8) >= 0 || errno != EAGAIN)
                zdtm_fail("expired timer: second read did not fail with EAGAIN");

        its = get(disarmed, "disarmed timer");
        if (ts_ns(its.it_value) != 0 || ts_ns(its.it_interval) != 5 * NS)
                zdtm_fail("disarmed timer: value %lld interval %lld, expected 0 and 5 s", (long long)ts_ns(its.it_value),
                          (long long)ts_ns(its.it_interval));

        its = get(boot, "boottime timer");
        if (ts_ns(its.it_interval) != 7 * NS + 123)
                zdtm_fail("boottime timer: interval %lld ns, expected 7000000123", (long long)ts_ns(its.it_interval));
        v = ts_ns(its.it_value);
        if (v > 3600 * NS || v < 3600 * NS - elapsed - NS)
                zdtm_fail("boottime timer: %lld ns remain", (long long)v);
        if (strcmp(fd_info(boot, "clockid:"), "7") != 0)
                zdtm_fail("boottime timer: clockid %s, expected 7", fd_info(boot, "clockid:"));
        zdtm_pass();
}
