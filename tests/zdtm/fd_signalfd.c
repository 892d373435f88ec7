/* signalfds: two masks (one with a real-time signal), O_NONBLOCK, FD_CLOEXEC,
 * a signal pending across C/R read through the signalfd, then fresh signals
 * (with a sigqueue value) read through it. */
#include <signal.h>
#include <sys/signalfd.h>

#include "fd_common.h"

static struct signalfd_siginfo rd(int fd, const char *what) {
        struct signalfd_siginfo si;
        ssize_t n = read(fd, &si, sizeof(si));
        if (n != sizeof(si))
                zdtm_fail("%s: read returned %zd: %s", what, n, strerror(errno));
        return si;
}

int main(int argc, char **argv) {
        zdtm_init(argc, argv);
        int rt = SIGRTMIN + 3;
        sigset_t all, m1, m2;
        sigemptyset(&all);
        sigaddset(&all, SIGUSR1);
        sigaddset(&all, SIGUSR2);
        sigaddset(&all, rt);
        zdtm_check(sigprocmask(SIG_BLOCK, &all, NULL) == 0, "sigprocmask: %s", strerror(errno));
        sigemptyset(&m1);
        sigaddset(&m1, SIGUSR1);
        sigaddset(&m1, rt);
        sigemptyset(&m2);
        sigaddset(&m2, SIGUSR2);

        int s1 = signalfd(-1, &m1, SFD_NONBLOCK | SFD_CLOEXEC);
        int s2 = signalfd(-1, &m2, 0);
        zdtm_check(s1 >= 0 && s2 >= 0, "signalfd: %s", strerror(errno));
        unsigned long long want1 = (1ULL << (SIGUSR1 - 1)) | (1ULL << (rt - 1)), want2 = 1ULL << (SIGUSR2 - 1);
        char w1[32], w2[32];
        snprintf(w1, sizeof(w1), "%016llx", want1);
        snprintf(w2, sizeof(w2), "%016llx", want2);
        /* pending across C/R (the task's pending signals) */
        zdtm_check(kill(getpid(), SIGUSR2) == 0, "kill: %s", strerror(errno));

        zdtm_ready();
        zdtm_wait_go();

        fd_check(s1, "anon_inode:[signalfd]", true, true, "signalfd 1");
        fd_check(s2, "anon_inode:[signalfd]", false, false, "signalfd 2");
        if (strcmp(fd_info(s1, "sigmask:"), w1) != 0)
                zdtm_fail("signalfd 1: sigmask %s, expected %s", fd_info(s1, "sigmask:"), w1);
        if (strcmp(fd_info(s2, "sigmask:"), w2) != 0)
                zdtm_fail("signalfd 2: sigmask %s, expected %s", fd_info(s2, "sigmask:"), w2);

        struct signalfd_siginfo si;
        if (read(s1, &si, sizeof(si)) >= 0 || errno != EAGAIN)
                zdtm_fail("signalfd 1: something to read before any signal was sent (or not O_NONBLOCK)");

        sigset_t pend;
        sigpending(&pend);
        if (!sigismember(&pend, SIGUSR2))
                zdtm_fail("SIGUSR2 sent before the dump is no longer pending (task signal state, not the signalfd)");
        si = rd(s2, "signalfd 2 (SIGUSR2 pending across C/R)");
        if ((int)si.ssi_signo != SIGUSR2)
                zdtm_fail("signalfd 2: read signal %u, expected SIGUSR2", si.ssi_signo);

        zdtm_check(kill(getpid(), SIGUSR1) == 0, "kill: %s", strerror(errno));
        si = rd(s1, "signalfd 1 (SIGUSR1)");
        if ((int)si.ssi_signo != SIGUSR1 || si.ssi_pid != (uint32_t)getpid())
                zdtm_fail("signalfd 1: read signal %u from pid %u, expected SIGUSR1 from %d", si.ssi_signo,
                          si.ssi_pid, getpid());
        union sigval sv = { .sival_int = 4242 };
        zdtm_check(sigqueue(getpid(), rt, sv) == 0, "sigqueue: %s", strerror(errno));
        si = rd(s1, "signalfd 1 (real-time signal)");
        if ((int)si.ssi_signo != rt || si.ssi_int != 4242)
                zdtm_fail("signalfd 1: read signal %u value %d, expected %d value 4242", si.ssi_signo, si.ssi_int, rt);
        /* SIGUSR2 is not in s1's mask */
        zdtm_check(kill(getpid(), SIGUSR2) == 0, "kill: %s", strerror(errno));
        if (read(s1, &si, sizeof(si)) >= 0)
                zdtm_fail("signalfd 1 read SIGUSR2, which is not in its mask (read signal %u)", si.ssi_signo);
        si = rd(s2, "signalfd 2 (SIGUSR2 after restore)");
        if ((int)si.ssi_signo != SIGUSR2)
                zdtm_fail("signalfd 2: read signal %u, expected SIGUSR2", si.ssi_signo);
        zdtm_pass();
}
