/* Pending signals across C/R, both queues:
 *   thread-private: SIGHUP and SIGUSR2 (tgkill), RT SIGRTMIN+1 x2 and
 *                   SIGRTMIN+2 x1 (rt_tgsigqueueinfo, with values)
 *   process-wide:   SIGHUP and SIGUSR1 (kill, SIGUSR1 sent twice: coalesced),
 *                   RT SIGRTMIN+2 x3 (sigqueue, with values)
 * All blocked. After go the pending sets must be the same (SigPnd/ShdPnd in
 * /proc), then everything is unblocked at once and a handler that blocks all
 * signals logs each delivery: the order must be the kernel's (private queue
 * first, lowest number first, RT queued FIFO) with the right si_code,
 * si_value, si_pid and si_uid, and nothing may be lost or duplicated. */
#include "zdtm.h"

#include <signal.h>
#include <sys/syscall.h>

struct ev {
        int sig, code, val;
        pid_t pid;
        uid_t uid;
};
static struct ev log_[64];
static volatile int nlog;

static void handler(int sig, siginfo_t *si, void *uc) {
        (void)uc;
        if (nlog < 64)
                log_[nlog] = (struct ev){ sig, si->si_code, si->si_value.sival_int, si->si_pid, si->si_uid };
        nlog++;
}

static uint64_t status_mask(const char *key) {
        FILE *f = fopen("/proc/self/status", "r");
        char line[256];
        unsigned long long v = ~0ull;
        size_t kl = strlen(key);
        if (!f)
                zdtm_fail("open /proc/self/status: %m");
        while (fgets(line, sizeof(line), f))
                if (strncmp(line, key, kl) == 0)
                        sscanf(line + kl, "%llx", &v);
        fclose(f);
        return v;
}

static int tgsigqueue(int sig, int val) {
        siginfo_t si;
        memset(&si, 0, sizeof(si));
        si.si_signo = sig;
        si.si_code = SI_QUEUE;
        si.si_pid = getpid();
        si.si_uid = getuid();
        si.si_value.sival_int = val;
        return syscall(SYS_rt_tgsigqueueinfo, getpid(), gettid(), sig, &si);
}

#define B(s) (1ull << ((s)-1))

int main(int argc, char **argv) {
        zdtm_init(argc, argv);
        const int R1 = SIGRTMIN + 1, R2 = SIGRTMIN + 2;
        pid_t me = getpid();
        struct sigaction sa = { .sa_sigaction = handler, .sa_flags = SA_SIGINFO };
        sigfillset(&sa.sa_mask); /* no nesting: one delivery at a time */
        sigset_t blk;
        sigemptyset(&blk);
        const int sigs[] = { SIGHUP, SIGUSR1, SIGUSR2, R1, R2 };
        for (int i = 0; i < 5; i++) {
                zdtm_check(sigaction(sigs[i], &sa, NULL) == 0, "sigaction: %m");
                sigaddset(&blk, sigs[i]);
        }
        zdtm_check(sigprocmask(SIG_BLOCK, &blk, NULL) == 0, "sigprocmask: %m");

        zdtm_check(syscall(SYS_tgkill, me, gettid(), SIGHUP) == 0, "tgkill: %m");
        zdtm_check(kill(me, SIGHUP) == 0, "kill: %m");
        zdtm_check(kill(me, SIGUSR1) == 0, "kill: %m");
        zdtm_check(kill(me, SIGUSR1) == 0, "kill: %m");
        zdtm_check(syscall(SYS_tgkill, me, gettid(), SIGUSR2) == 0, "tgkill: %m");
        zdtm_check(tgsigqueue(R1, 201) == 0, "rt_tgsigqueueinfo: %m");
        zdtm_check(tgsigqueue(R1, 202) == 0, "rt_tgsigqueueinfo: %m");
        zdtm_check(tgsigqueue(R2, 301) == 0, "rt_tgsigqueueinfo: %m");
        for (int v = 101; v <= 103; v++)
                zdtm_check(sigqueue(me, R2, (union sigval){ .sival_int = v }) == 0, "sigqueue: %m");

        uint64_t want_priv = B(SIGHUP) | B(SIGUSR2) | B(R1) | B(R2);
        uint64_t want_shd = B(SIGHUP) | B(SIGUSR1) | B(R2);
        zdtm_check(status_mask("SigPnd:") == want_priv && status_mask("ShdPnd:") == want_shd,
                   "set-up: SigPnd %#llx ShdPnd %#llx", (unsigned long long)status_mask("SigPnd:"),
                   (unsigned long long)status_mask("ShdPnd:"));

        zdtm_ready();
        zdtm_wait_go();

        if (nlog)
                zdtm_fail("%d signals were delivered while blocked (first: %d)", nlog, log_[0].sig);
        uint64_t priv = status_mask("SigPnd:"), shd = status_mask("ShdPnd:");
        if (priv != want_priv || shd != want_shd)
                zdtm_fail("pending sets: thread-private %#llx (expected %#llx), process-wide %#llx (expected %#llx)",
                          (unsigned long long)priv, (unsigned long long)want_priv, (unsigned long long)shd,
                          (unsigned long long)want_shd);
        sigset_t p;
        sigpending(&p);
        for (int i = 0; i < 5; i++)
                if (!sigismember(&p, sigs[i]))
                        zdtm_fail("sigpending() lacks signal %d", sigs[i]);

        zdtm_check(sigprocmask(SIG_UNBLOCK, &blk, NULL) == 0, "sigprocmask: %m");

        const struct ev want[] = {
                /* thread-private queue first */
                { SIGHUP, SI_TKILL, 0, me, 0 },
                { SIGUSR2, SI_TKILL, 0, me, 0 },
                { R1, SI_QUEUE, 201, me, 0 },
                { R1, SI_QUEUE, 202, me, 0 },
                { R2, SI_QUEUE, 301, me, 0 },
                /* then the process-wide one */
                { SIGHUP, SI_USER, 0, me, 0 },
                { SIGUSR1, SI_USER, 0, me, 0 },
                { R2, SI_QUEUE, 101, me, 0 },
                { R2, SI_QUEUE, 102, me, 0 },
                { R2, SI_QUEUE, 103, me, 0 },
        };
        int nwant = sizeof(want) / sizeof(want[0]);
        char seen[1024] = "";
        for (int i = 0; i < nlog && i < 64; i++) {
                size_t l = strlen(seen);
                snprintf(seen + l, sizeof(seen) - l, "%s%d/%d/%d", i ? " " : "", log_[i].sig, log_[i].code, log_[i].val);
        }
        if (nlog != nwant)
                zdtm_fail("%d deliveries after unblocking, expected %d; got (sig/code/value): %s", nlog, nwant, seen);
        for (int i = 0; i < nwant; i++) {
                const struct ev *g = &log_[i], *w = &want[i];
                if (g->sig != w->sig || g->code != w->code || (w->code == SI_QUEUE && g->val != w->val))
                        zdtm_fail("delivery %d is sig %d code %d value %d, expected sig %d code %d value %d; all: %s", i,
                                  g->sig, g->code, g->val, w->sig, w->code, w->val, seen);
                if (g->pid != w->pid || g->uid != w->uid)
                        zdtm_fail("delivery %d (sig %d): si_pid %d si_uid %d, expected %d %d", i, g->sig, g->pid, g->uid,
                                  w->pid, w->uid);
        }
        if (status_mask("SigPnd:") || status_mask("ShdPnd:"))
                zdtm_fail("signals still pending after delivery");
        zdtm_pass();
}
