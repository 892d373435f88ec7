/* POSIX timers across C/R. Five timers are created and two deleted, so the
 * ids are not consecutive (6 created, 2 deleted); they use different clocks and notification kinds
 * (SIGEV_SIGNAL with distinct values, SIGEV_NONE, SIGEV_THREAD_ID). After go
 * every id must still name its timer (checked in /proc/self/timers too),
 * intervals must be exact, remaining times plausible, and the fast periodic
 * one must keep firing with its own signal and value. */
#include "zdtm.h"

#include <signal.h>
#include <sys/syscall.h>
#include <time.h>

#ifndef sigev_notify_thread_id
#define sigev_notify_thread_id _sigev_un._tid
#endif

#define N 6
static volatile int fired[N];
static volatile int bad_value;

static void handler(int sig, siginfo_t *si, void *uc) {
        (void)uc;
        int i = si->si_value.sival_int - 1000;
        if (si->si_code != SI_TIMER || i < 0 || i >= N || sig != SIGRTMIN + i)
                bad_value++;
        else
                fired[i]++;
}

static double ts(const struct timespec *t) {
        return t->tv_sec + t->tv_nsec / 1e9;
}

static double now(void) {
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        return ts(&t);
}

int main(int argc, char **argv) {
        zdtm_init(argc, argv);
        const clockid_t clocks[N] = { CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME,
                                      CLOCK_BOOTTIME, CLOCK_REALTIME,  CLOCK_PROCESS_CPUTIME_ID };
        const int notify[N] = { SIGEV_SIGNAL, SIGEV_SIGNAL, SIGEV_SIGNAL, SIGEV_THREAD_ID, SIGEV_NONE, SIGEV_SIGNAL };
        const struct itimerspec set[N] = {
                { { 0, 0 }, { 0, 0 } },                 /* deleted */
                { { 0, 20000000 }, { 0, 20000000 } },   /* fast periodic: 20 ms */
                { { 0, 0 }, { 0, 0 } },                 /* deleted */
                { { 77, 7 }, { 600, 123456789 } },      /* SIGEV_THREAD_ID */
                { { 33, 333 }, { 400, 5 } },            /* SIGEV_NONE */
                { { 11, 111111111 }, { 500, 999 } },    /* process CPU clock */
        };
        timer_t ids[N];
        struct sigaction sa = { .sa_sigaction = handler, .sa_flags = SA_SIGINFO | SA_RESTART };
        sigemptyset(&sa.sa_mask);
        for (int i = 0; i < N; i++) {
                sigaction(SIGRTMIN + i, &sa, NULL);
                struct sigevent sev;
                memset(&sev, 0, sizeof(sev));
                sev.sigev_notify = notify[i];
                sev.sigev_signo = SIGRTMIN + i;
                sev.sigev_value.sival_int = 1000 + i;
                if (notify[i] == SIGEV_THREAD_ID)
                        sev.sigev_notify_thread_id = gettid();
                zdtm_check(timer_create(clocks[i], &sev, &ids[i]) == 0, "timer_create %d: %m", i);
        }
        zdtm_check(timer_delete(ids[0]) == 0 && timer_delete(ids[2]) == 0, "timer_delete: %m");
        const int live[] = { 1, 3, 4, 5 };
#define NLIVE 4
        for (int k = 0; k < NLIVE; k++)
                zdtm_check(timer_settime(ids[live[k]], 0, &set[live[k]], NULL) == 0, "timer_settime: %m");
        struct itimerspec before[N];
        for (int k = 0; k < NLIVE; k++)
                timer_gettime(ids[live[k]], &before[live[k]]);
        double t0 = now();
        /* a deleted id stays invalid */
        struct itimerspec x;
        zdtm_check(timer_gettime(ids[2], &x) == -1 && errno == EINVAL, "deleted timer still answers");

        /* what /proc says before */
        char procbuf[4096] = "";
        FILE *f = fopen("/proc/self/timers", "r");
        zdtm_check(f != NULL, "open /proc/self/timers: %m");
        size_t n = fread(procbuf, 1, sizeof(procbuf) - 1, f);
        procbuf[n] = 0;
        fclose(f);

        zdtm_ready();
        zdtm_wait_go();

        double wall = now() - t0;
        for (int k = 0; k < NLIVE; k++) {
                int i = live[k];
                struct itimerspec a;
                if (timer_gettime(ids[i], &a))
                        zdtm_fail("timer id %ld (clock %d) is gone: %m", (long)(intptr_t)ids[i], (int)clocks[i]);
                if (a.it_interval.tv_sec != set[i].it_interval.tv_sec || a.it_interval.tv_nsec != set[i].it_interval.tv_nsec)
                        zdtm_fail("timer id %ld interval %ld.%09ld, expected %ld.%09ld", (long)(intptr_t)ids[i],
                                  (long)a.it_interval.tv_sec, a.it_interval.tv_nsec, (long)set[i].it_interval.tv_sec,
                                  set[i].it_interval.tv_nsec);
                if (i == 1)
                        continue; /* periodic: checked by firing below */
                double b = ts(&before[i].it_value), v = ts(&a.it_value);
                if (v <= 0)
                        zdtm_fail("timer id %ld is disarmed", (long)(intptr_t)ids[i]);
                if (v > b + 0.001)
                        zdtm_fail("timer id %ld remaining time grew from %.9f to %.9f", (long)(intptr_t)ids[i], b, v);
                if (v < b - wall - 0.5)
                        zdtm_fail("timer id %ld remaining fell from %.9f to %.9f in %.3f s", (long)(intptr_t)ids[i], b, v,
                                  wall);
        }
        if (timer_gettime(ids[0], &x) == 0 || timer_gettime(ids[2], &x) == 0)
                zdtm_fail("a deleted timer id exists again after restore");
        /* /proc/self/timers lists the same timers (ids, signals, values, notify, clocks) */
        char procnow[4096] = "";
        f = fopen("/proc/self/timers", "r");
        zdtm_check(f != NULL, "open /proc/self/timers: %m");
        n = fread(procnow, 1, sizeof(procnow) - 1, f);
        procnow[n] = 0;
        fclose(f);
        if (strcmp(procbuf, procnow))
                zdtm_fail("/proc/self/timers differs:\n--- before\n%s--- after\n%s", procbuf, procnow);
        /* the periodic one keeps firing */
        int f0 = fired[1];
        double s = now();
        while (now() - s < 0.3) {
                struct timespec d = { 0, 5000000 };
                nanosleep(&d, NULL);
        }
        if (fired[1] - f0 < 5)
                zdtm_fail("periodic timer fired %d times in 0.3 s after restore (interval 20 ms)", fired[1] - f0);
        if (bad_value)
                zdtm_fail("%d timer signals came with a wrong signal/value/code", bad_value);
        if (fired[3] || fired[4] || fired[5])
                zdtm_fail("long timers fired early (%d, %d, %d)", fired[3], fired[4], fired[5]);
        zdtm_pass();
}
