/* The blocked signal mask across C/R: a distinctive set of standard and
 * real-time signals (including 32/33, reserved by glibc, set with the raw
 * syscall) must stay blocked, and blocking must still work: a raised blocked
 * signal stays pending until unblocked. */
#include "zdtm.h"

#include <signal.h>
#include <sys/syscall.h>

static volatile int hits[65];

static void handler(int sig) {
        hits[sig]++;
}

static uint64_t raw_mask(void) {
        uint64_t m = 0;
        if (syscall(SYS_rt_sigprocmask, SIG_BLOCK, NULL, &m, 8))
                zdtm_fail("rt_sigprocmask: %m");
        return m;
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

int main(int argc, char **argv) {
        zdtm_init(argc, argv);
        /* HUP INT QUIT USR1 ALRM TERM CHLD(17) WINCH(28) SYS(31) 32 33 35 40 47 58 64 */
        static const int sigs[] = { 1, 2, 3, 10, 14, 15, 17, 28, 31, 32, 33, 35, 40, 47, 58, 64 };
        uint64_t want = 0;
        for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
                want |= 1ull << (sigs[i] - 1);
        /* SIGKILL/SIGSTOP cannot be blocked: asking for them must not matter */
        uint64_t ask = want | (1ull << (SIGKILL - 1)) | (1ull << (SIGSTOP - 1));
        zdtm_check(syscall(SYS_rt_sigprocmask, SIG_SETMASK, &ask, NULL, 8) == 0, "rt_sigprocmask: %m");
        zdtm_check(raw_mask() == want, "set-up: mask %#llx, expected %#llx", (unsigned long long)raw_mask(),
                   (unsigned long long)want);
        zdtm_check(status_mask("SigBlk:") == want, "set-up: SigBlk differs");

        zdtm_ready();
        zdtm_wait_go();

        uint64_t got = raw_mask();
        if (got != want)
                zdtm_fail("blocked mask is %#llx, expected %#llx (missing %#llx, extra %#llx)", (unsigned long long)got,
                          (unsigned long long)want, (unsigned long long)(want & ~got), (unsigned long long)(got & ~want));
        if (status_mask("SigBlk:") != want)
                zdtm_fail("/proc/self/status SigBlk is %#llx, expected %#llx",
                          (unsigned long long)status_mask("SigBlk:"), (unsigned long long)want);
        uint64_t pnd = status_mask("SigPnd:") | status_mask("ShdPnd:");
        if (pnd)
                zdtm_fail("signals pending after restore: %#llx", (unsigned long long)pnd);

        /* blocking still works */
        struct sigaction sa = { .sa_handler = handler };
        sigemptyset(&sa.sa_mask);
        zdtm_check(sigaction(SIGUSR1, &sa, NULL) == 0, "sigaction: %m");
        zdtm_check(sigaction(SIGRTMIN + 1, &sa, NULL) == 0, "sigaction: %m"); /* 35 */
        raise(SIGUSR1);
        raise(35);
        if (hits[SIGUSR1] || hits[35])
                zdtm_fail("a blocked signal was delivered at once");
        sigset_t s;
        sigemptyset(&s);
        sigaddset(&s, SIGUSR1);
        sigaddset(&s, 35);
        zdtm_check(sigprocmask(SIG_UNBLOCK, &s, NULL) == 0, "sigprocmask: %m");
        if (hits[SIGUSR1] != 1 || hits[35] != 1)
                zdtm_fail("unblocked signals delivered %d/%d times, expected once each", hits[SIGUSR1], hits[35]);
        zdtm_pass();
}
