/* All 64 signal dispositions across C/R: handler (default, ignore, two
 * handlers), flags (SA_RESTART, SA_SIGINFO, SA_ONSTACK, SA_NODEFER,
 * SA_RESETHAND, SA_NOCLDSTOP, SA_NOCLDWAIT), the restorer and the mask, read
 * back raw with rt_sigaction(2). Signals 32 and 33 (reserved by glibc) are set
 * with the raw syscall. After go the handlers must still run, with siginfo
 * where asked, and SA_RESETHAND must still reset. */
#include "zdtm.h"

#include <signal.h>
#include <sys/syscall.h>

#define NSIG_ 64
#ifndef SA_RESTORER
#define SA_RESTORER 0x04000000
#endif

struct ksigaction {
        void *handler;
        unsigned long flags;
        void *restorer;
        uint64_t mask;
};

static volatile int hits[NSIG_ + 1];
static volatile int info_ok[NSIG_ + 1];

static void handler_a(int sig) {
        hits[sig]++;
}

static void handler_b(int sig, siginfo_t *si, void *uc) {
        hits[sig]++;
        if (si && si->si_signo == sig && uc)
                info_ok[sig]++;
}

static int raw_get(int sig, struct ksigaction *ret) {
        return syscall(SYS_rt_sigaction, sig, NULL, ret, 8);
}

static int raw_set(int sig, const struct ksigaction *ka) {
        return syscall(SYS_rt_sigaction, sig, ka, NULL, 8);
}

/* what signal s gets */
static void plan(int s, void **handler, unsigned long *flags, uint64_t *mask) {
        static const unsigned long fl[] = { SA_RESTART, SA_SIGINFO, SA_ONSTACK, SA_NODEFER, SA_RESETHAND,
                                            SA_NOCLDSTOP, SA_NOCLDWAIT };
        int kind = s % 4;
        *flags = 0;
        for (int i = 0; i < 7; i++)
                if ((s * 5 + i * 3) % 7 < 3)
                        *flags |= fl[i];
        if (s == SIGCHLD)
                *flags &= ~SA_NOCLDWAIT;
        *mask = 0;
        for (int k = 1; k <= 4; k++) {
                int m = 1 + (s * (7 + 2 * k) + k) % 64;
                if (m != SIGKILL && m != SIGSTOP)
                        *mask |= 1ull << (m - 1);
        }
        if (kind == 0)
                *handler = SIG_DFL;
        else if (kind == 1)
                *handler = SIG_IGN;
        else if (kind == 2) {
                *handler = (void *)handler_a;
                *flags &= ~SA_SIGINFO;
        } else {
                *handler = (void *)handler_b;
                *flags |= SA_SIGINFO;
        }
        if (s == 32 || s == 33) /* glibc-internal: must not run our handlers via raise() tests */
                *handler = s == 32 ? SIG_IGN : SIG_DFL;
}

int main(int argc, char **argv) {
        zdtm_init(argc, argv);
        struct ksigaction want[NSIG_ + 1], got;
        struct ksigaction ref1;

        zdtm_check(raw_get(1, &ref1) == 0, "rt_sigaction(1): %m");
        for (int s = 1; s <= NSIG_; s++) {
                if (s == SIGKILL || s == SIGSTOP)
                        continue;
                void *h;
                unsigned long flags;
                uint64_t mask;
                plan(s, &h, &flags, &mask);
                if (s == 32 || s == 33) {
                        struct ksigaction ka = { .handler = h, .flags = flags | SA_RESTORER, .mask = mask };
                        /* borrow glibc's restorer from a signal set through sigaction() */
                        struct sigaction tmp = { .sa_handler = SIG_IGN };
                        zdtm_check(sigaction(SIGUSR2, &tmp, NULL) == 0, "sigaction: %m");
                        struct ksigaction k2;
                        raw_get(SIGUSR2, &k2);
                        ka.restorer = k2.restorer;
                        zdtm_check(raw_set(s, &ka) == 0, "raw rt_sigaction(%d): %m", s);
                } else {
                        struct sigaction sa = { 0 };
                        sa.sa_flags = (int)flags;
                        if (flags & SA_SIGINFO)
                                sa.sa_sigaction = (void (*)(int, siginfo_t *, void *))h;
                        else
                                sa.sa_handler = (void (*)(int))h;
                        sigemptyset(&sa.sa_mask);
                        for (int m = 1; m <= NSIG_; m++)
                                if ((mask >> (m - 1)) & 1)
                                        sigaddset(&sa.sa_mask, m); /* glibc refuses 32/33 quietly: fine */
                        zdtm_check(sigaction(s, &sa, NULL) == 0, "sigaction(%d): %m", s);
                }
        }
        /* SIGUSR2 was used as a helper above: set it last */
        {
                void *h;
                unsigned long flags;
                uint64_t mask;
                plan(SIGUSR2, &h, &flags, &mask);
                struct sigaction sa = { 0 };
                sa.sa_flags = (int)flags;
                if (flags & SA_SIGINFO)
                        sa.sa_sigaction = (void (*)(int, siginfo_t *, void *))h;
                else
                        sa.sa_handler = (void (*)(int))h;
                sigemptyset(&sa.sa_mask);
                for (int m = 1; m <= NSIG_; m++)
                        if ((mask >> (m - 1)) & 1)
                                sigaddset(&sa.sa_mask, m);
                zdtm_check(sigaction(SIGUSR2, &sa, NULL) == 0, "sigaction: %m");
        }
        /* record exactly what the kernel holds, and check it is what was planned */
        for (int s = 1; s <= NSIG_; s++) {
                if (s == SIGKILL || s == SIGSTOP)
                        continue;
                zdtm_check(raw_get(s, &want[s]) == 0, "rt_sigaction(%d): %m", s);
                void *h;
                unsigned long flags;
                uint64_t mask;
                plan(s, &h, &flags, &mask);
                zdtm_check(want[s].handler == h, "set-up: signal %d handler %p, planned %p", s, want[s].handler, h);
                zdtm_check((want[s].flags & ~(unsigned long)SA_RESTORER) == flags,
                           "set-up: signal %d flags %#lx, planned %#lx", s, want[s].flags, flags);
        }

        zdtm_ready();
        zdtm_wait_go();

        for (int s = 1; s <= NSIG_; s++) {
                if (s == SIGKILL || s == SIGSTOP)
                        continue;
                if (raw_get(s, &got))
                        zdtm_fail("rt_sigaction(%d) after restore: %m", s);
                if (got.handler != want[s].handler)
                        zdtm_fail("signal %d (%s): handler is %p, expected %p", s, strsignal(s), got.handler,
                                  want[s].handler);
                if (got.flags != want[s].flags)
                        zdtm_fail("signal %d (%s): flags are %#lx, expected %#lx", s, strsignal(s), got.flags,
                                  want[s].flags);
                if ((got.flags & SA_RESTORER) && got.restorer != want[s].restorer)
                        zdtm_fail("signal %d (%s): restorer is %p, expected %p", s, strsignal(s), got.restorer,
                                  want[s].restorer);
                if (got.mask != want[s].mask)
                        zdtm_fail("signal %d (%s): sa_mask is %#llx, expected %#llx", s, strsignal(s),
                                  (unsigned long long)got.mask, (unsigned long long)want[s].mask);
        }
        /* the handlers still work */
        for (int s = 1; s <= NSIG_; s++) {
                if (s == SIGKILL || s == SIGSTOP || s == 32 || s == 33)
                        continue;
                if (want[s].handler != (void *)handler_a && want[s].handler != (void *)handler_b)
                        continue;
                int before = hits[s];
                raise(s);
                if (hits[s] != before + 1)
                        zdtm_fail("signal %d (%s): handler ran %d times after raise(), expected once", s, strsignal(s),
                                  hits[s] - before);
                if (want[s].handler == (void *)handler_b && info_ok[s] != 1)
                        zdtm_fail("signal %d (%s): SA_SIGINFO handler got no proper siginfo/ucontext", s, strsignal(s));
                raw_get(s, &got);
                if ((want[s].flags & SA_RESETHAND) && got.handler != SIG_DFL)
                        zdtm_fail("signal %d (%s): SA_RESETHAND did not reset the handler", s, strsignal(s));
                if (!(want[s].flags & SA_RESETHAND) && got.handler != want[s].handler)
                        zdtm_fail("signal %d (%s): handler changed by delivery", s, strsignal(s));
        }
        /* ignored signals stay ignored */
        for (int s = 1; s <= NSIG_; s++)
                if (s != 32 && s != 33 && want[s].handler == SIG_IGN && s != SIGKILL && s != SIGSTOP) {
                        raise(s);
                        if (hits[s])
                                zdtm_fail("signal %d: ignored but a handler ran", s);
                }
        zdtm_pass();
}
