/* Threads across C/R: the main thread and three others, each in a
 * different state at dump time (futex wait in pthread_cond_wait, nanosleep,
 * busy in user space). Per thread: the tid, its name (comm), signal mask,
 * its sigaltstack, a __thread variable, its
 * rseq registration and robust list (glibc's, per thread), and its
 * clear_child_tid (pthread_join() relies on it to wake up); in
 * threads_sigpending also a signal pending for that thread only (tgkill,
 * SI_TKILL: a restorer must queue it from the thread itself). After go every
 * thread checks itself; main checks /proc/self/task, wakes the waiter and
 * joins them all. */
#include "zdtm.h"

#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/rseq.h>
#include <sys/syscall.h>
#include <time.h>
#include <dirent.h>

#ifndef THREADS_PENDING
#define THREADS_PENDING 0 /* threads_sigpending.c: each thread also has a pending signal of its own */
#endif
#define NT 3

static __thread uint64_t tls_value;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int released;
static pthread_barrier_t setup_done, counted;
static volatile int hits[NT + 1][65];

struct th {
        int idx;
        pid_t tid;
        pthread_t pt;
        char name[16];
        uint8_t *alt;
        void *robust;
        char err[256];
};
static struct th ths[NT + 1];

static void handler(int sig) {
        int me = -1;
        for (int i = 0; i <= NT; i++)
                if (ths[i].tid == gettid())
                        me = i;
        if (me >= 0)
                hits[me][sig]++;
}

static int rseq_ok(void) {
        char *tp;
        __asm__("mov %%fs:0, %0" : "=r"(tp));
        errno = 0;
        long r = syscall(SYS_rseq, tp + __rseq_offset, 32, 0, 0x53053053);
        return r == -1 && errno == EBUSY;
}

static void setup_self(struct th *t) {
        t->tid = gettid();
        snprintf(t->name, sizeof(t->name), "thr-%d", t->idx);
        prctl(PR_SET_NAME, t->name, 0, 0, 0);
        tls_value = 0xabcd000000000000ull + (uint64_t)t->idx * 0x1111;
        sigset_t m;
        sigemptyset(&m);
        sigaddset(&m, SIGRTMIN + 4 + t->idx); /* private mask per thread */
        sigaddset(&m, SIGUSR1);
        pthread_sigmask(SIG_SETMASK, &m, NULL);
        t->alt = malloc(32768);
        stack_t ss = { .ss_sp = t->alt, .ss_size = 32768 + 0 * t->idx };
        sigaltstack(&ss, NULL);
        size_t len;
        syscall(SYS_get_robust_list, 0, &t->robust, &len);
        /* a signal only this thread has pending (blocked) */
        if (THREADS_PENDING)
                syscall(SYS_tgkill, getpid(), t->tid, SIGRTMIN + 4 + t->idx);
}

static void fail_self(struct th *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail_self(struct th *t, const char *fmt, ...) {
        va_list ap;
        if (t->err[0])
                return;
        va_start(ap, fmt);
        vsnprintf(t->err, sizeof(t->err), fmt, ap);
        va_end(ap);
}

static void check_self(struct th *t) {
        if (gettid() != t->tid)
                fail_self(t, "thread %d: tid is %d, expected %d", t->idx, gettid(), t->tid);
        char n[17] = "";
        prctl(PR_GET_NAME, n, 0, 0, 0);
        if (strcmp(n, t->name))
                fail_self(t, "thread %d: name is \"%s\", expected \"%s\"", t->idx, n, t->name);
        if (tls_value != 0xabcd000000000000ull + (uint64_t)t->idx * 0x1111)
                fail_self(t, "thread %d: __thread value is %#llx", t->idx, (unsigned long long)tls_value);
        sigset_t m;
        pthread_sigmask(SIG_BLOCK, NULL, &m);
        for (int i = 0; i <= NT; i++)
                if (sigismember(&m, SIGRTMIN + 4 + i) != (i == t->idx))
                        fail_self(t, "thread %d: signal %d is %sblocked", t->idx, SIGRTMIN + 4 + i,
                                  sigismember(&m, SIGRTMIN + 4 + i) ? "" : "not ");
        if (!sigismember(&m, SIGUSR1))
                fail_self(t, "thread %d: SIGUSR1 not blocked", t->idx);
        sigset_t p;
        sigpending(&p);
        if (THREADS_PENDING && !sigismember(&p, SIGRTMIN + 4 + t->idx))
                fail_self(t, "thread %d: its pending signal %d is gone", t->idx, SIGRTMIN + 4 + t->idx);
        if (!THREADS_PENDING && sigismember(&p, SIGRTMIN + 4 + t->idx))
                fail_self(t, "thread %d: signal %d is pending out of nowhere", t->idx, SIGRTMIN + 4 + t->idx);
        stack_t ss;
        sigaltstack(NULL, &ss);
        if (ss.ss_sp != t->alt || ss.ss_size != 32768 || ss.ss_flags)
                fail_self(t, "thread %d: altstack %p/%zu/%d, expected %p/32768/0", t->idx, ss.ss_sp, ss.ss_size,
                          ss.ss_flags, (void *)t->alt);
        void *rb = NULL;
        size_t len;
        syscall(SYS_get_robust_list, 0, &rb, &len);
        if (rb != t->robust)
                fail_self(t, "thread %d: robust list %p, expected %p", t->idx, rb, t->robust);
        if (!rseq_ok())
                fail_self(t, "thread %d: rseq is not registered (as glibc did)", t->idx);
        /* the pending signal is delivered to this thread once unblocked */
        sigset_t u;
        sigemptyset(&u);
        sigaddset(&u, SIGRTMIN + 4 + t->idx);
        pthread_sigmask(SIG_UNBLOCK, &u, NULL);
        if (hits[t->idx][SIGRTMIN + 4 + t->idx] != THREADS_PENDING)
                fail_self(t, "thread %d: its pending signal was delivered %d times", t->idx,
                          hits[t->idx][SIGRTMIN + 4 + t->idx]);
}

static void *thread_fn(void *arg) {
        struct th *t = arg;
        setup_self(t);
        pthread_barrier_wait(&setup_done);
        if (t->idx == 1) {
                /* futex wait until main releases us after go */
                pthread_mutex_lock(&mu);
                while (!released)
                        pthread_cond_wait(&cv, &mu);
                pthread_mutex_unlock(&mu);
        } else if (t->idx == 2) {
                zdtm_wait_go(); /* nanosleep */
        } else {
                volatile uint64_t spin = 0;
                while (access(zdtm_path("go"), F_OK))
                        for (int i = 0; i < 100000; i++)
                                spin++;
        }
        pthread_barrier_wait(&counted); /* main has looked at /proc/self/task */
        check_self(t);
        return NULL;
}

int main(int argc, char **argv) {
        zdtm_init(argc, argv);
        struct sigaction sa = { .sa_handler = handler };
        sigemptyset(&sa.sa_mask);
        for (int i = 0; i <= NT; i++)
                sigaction(SIGRTMIN + 4 + i, &sa, NULL);
        pthread_barrier_init(&setup_done, NULL, NT + 1);
        pthread_barrier_init(&counted, NULL, NT + 1);
        ths[0].idx = 0;
        for (int i = 1; i <= NT; i++) {
                ths[i].idx = i;
                zdtm_check(pthread_create(&ths[i].pt, NULL, thread_fn, &ths[i]) == 0, "pthread_create");
        }
        setup_self(&ths[0]);
        pthread_barrier_wait(&setup_done);

        zdtm_ready();
        zdtm_wait_go();

        /* the kernel's view */
        int n = 0;
        DIR *d = opendir("/proc/self/task");
        struct dirent *de;
        while (d && (de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                pid_t tid = atoi(de->d_name);
                int known = 0;
                for (int i = 0; i <= NT; i++)
                        known |= ths[i].tid == tid;
                if (!known)
                        zdtm_fail("unknown thread %d in /proc/self/task", tid);
                n++;
        }
        if (d)
                closedir(d);
        if (n != NT + 1)
                zdtm_fail("%d threads in /proc/self/task, expected %d", n, NT + 1);
        pthread_mutex_lock(&mu);
        released = 1;
        pthread_cond_broadcast(&cv);
        pthread_mutex_unlock(&mu);
        pthread_barrier_wait(&counted);
        check_self(&ths[0]);
        for (int i = 1; i <= NT; i++) {
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_sec += 10;
                int r = pthread_timedjoin_np(ths[i].pt, NULL, &ts);
                if (r)
                        zdtm_fail("thread %d (tid %d) cannot be joined: %s (clear_child_tid lost?)", i, ths[i].tid,
                                  strerror(r));
        }
        for (int i = 0; i <= NT; i++)
                if (ths[i].err[0])
                        zdtm_fail("%s", ths[i].err);
        zdtm_pass();
}
