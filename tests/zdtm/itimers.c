/* Interval timers across C/R: ITIMER_REAL, ITIMER_VIRTUAL and ITIMER_PROF
 * with distinct values and intervals. After go the intervals must be exact,
 * the remaining times plausible (not grown, not shrunk by more than the time
 * that passed: wall time for REAL, CPU time for VIRTUAL/PROF), and the timers
 * must still be running (the remaining time keeps decreasing). */
#include "zdtm.h"

#include <signal.h>
#include <sys/time.h>
#include <time.h>

static volatile int fired[3];

static void handler(int sig) {
        fired[sig == SIGALRM ? 0 : sig == SIGVTALRM ? 1 : 2]++;
}

static double tv(const struct timeval *t) {
        return t->tv_sec + t->tv_usec / 1e6;
}

static double now(clockid_t c) {
        struct timespec ts;
        clock_gettime(c, &ts);
        return ts.tv_sec + ts.tv_nsec / 1e9;
}

static const char *const names[3] = { "ITIMER_REAL", "ITIMER_VIRTUAL", "ITIMER_PROF" };
static const int which[3] = { ITIMER_REAL, ITIMER_VIRTUAL, ITIMER_PROF };

int main(int argc, char **argv) {
        zdtm_init(argc, argv);
        const struct itimerval set[3] = {
                { .it_interval = { 50, 250000 }, .it_value = { 300, 123000 } },
                { .it_interval = { 7, 500000 }, .it_value = { 200, 654000 } },
                { .it_interval = { 3, 250 }, .it_value = { 250, 111000 } },
        };
        struct itimerval before[3], after[3];
        struct sigaction sa = { .sa_handler = handler, .sa_flags = SA_RESTART };
        sigemptyset(&sa.sa_mask);
        sigaction(SIGALRM, &sa, NULL);
        sigaction(SIGVTALRM, &sa, NULL);
        sigaction(SIGPROF, &sa, NULL);
        for (int i = 0; i < 3; i++)
                zdtm_check(setitimer(which[i], &set[i], NULL) == 0, "setitimer(%s): %m", names[i]);
        double t0 = now(CLOCK_MONOTONIC), c0 = now(CLOCK_PROCESS_CPUTIME_ID);
        for (int i = 0; i < 3; i++)
                getitimer(which[i], &before[i]);

        zdtm_ready();
        zdtm_wait_go();

        for (int i = 0; i < 3; i++)
                getitimer(which[i], &after[i]);
        double wall = now(CLOCK_MONOTONIC) - t0, cpu = now(CLOCK_PROCESS_CPUTIME_ID) - c0;
        for (int i = 0; i < 3; i++) {
                if (fired[i])
                        zdtm_fail("%s fired %d times, far too early", names[i], fired[i]);
                if (after[i].it_interval.tv_sec != set[i].it_interval.tv_sec ||
                    after[i].it_interval.tv_usec != set[i].it_interval.tv_usec)
                        zdtm_fail("%s interval is %ld.%06ld, expected %ld.%06ld", names[i],
                                  (long)after[i].it_interval.tv_sec, (long)after[i].it_interval.tv_usec,
                                  (long)set[i].it_interval.tv_sec, (long)set[i].it_interval.tv_usec);
                double b = tv(&before[i].it_value), a = tv(&after[i].it_value);
                double passed = i == 0 ? wall : cpu;
                if (a <= 0)
                        zdtm_fail("%s is disarmed (it was %.6f s from expiry)", names[i], b);
                /* setitimer() adds one tick to CPU-time itimers; allow that much (HZ >= 100) */
                if (a > b + (i == 0 ? 0.001 : 0.0105))
                        zdtm_fail("%s remaining time grew from %.6f to %.6f s", names[i], b, a);
                if (a < b - passed - 0.5)
                        zdtm_fail("%s remaining time fell from %.6f to %.6f s, but only %.3f s passed", names[i], b, a,
                                  passed);
        }
        /* still counting */
        struct itimerval x0[3], x1[3];
        for (int i = 0; i < 3; i++)
                getitimer(which[i], &x0[i]);
        double s = now(CLOCK_PROCESS_CPUTIME_ID);
        while (now(CLOCK_PROCESS_CPUTIME_ID) - s < 0.1)
                ;
        for (int i = 0; i < 3; i++) {
                getitimer(which[i], &x1[i]);
                if (tv(&x1[i].it_value) >= tv(&x0[i].it_value) - 0.01)
                        zdtm_fail("%s does not run any more: %.6f then %.6f after 0.1 s of CPU", names[i],
                                  tv(&x0[i].it_value), tv(&x1[i].it_value));
        }
        zdtm_pass();
}
