/* sigaltstack across C/R, checkpointed while a handler runs on the
 * alternate stack: the altstack settings, the SS_ONSTACK state, the mask in
 * the handler and the signal frame on the altstack (sigreturn after restore
 * must bring back the interrupted code, whose locals are checked). */
#include "zdtm.h"

#include <signal.h>
#include <sys/mman.h>
#include <ucontext.h>

#define ALT_SIZE (64 * 1024)

static uint8_t *alt;
static volatile int in_handler, handler_done;
static char handler_err[512];

static int stack_in_alt(const void *p) {
        return (const uint8_t *)p >= alt && (const uint8_t *)p < alt + ALT_SIZE;
}

static void herr(const char *m) {
        if (!handler_err[0])
                snprintf(handler_err, sizeof(handler_err), "%s", m);
}

static void check_in_handler(const char *when, const ucontext_t *uc) {
        char local;
        stack_t cur;
        sigset_t m;
        char msg[256];
        if (!stack_in_alt(&local)) {
                snprintf(msg, sizeof(msg), "%s: handler runs at %p, outside the altstack %p+%d", when, (void *)&local,
                         alt, ALT_SIZE);
                herr(msg);
        }
        if (sigaltstack(NULL, &cur) || !(cur.ss_flags & SS_ONSTACK) || cur.ss_sp != alt || cur.ss_size != ALT_SIZE) {
                snprintf(msg, sizeof(msg), "%s: sigaltstack in handler: sp %p size %zu flags %#x (want %p %d SS_ONSTACK)",
                         when, cur.ss_sp, cur.ss_size, cur.ss_flags, alt, ALT_SIZE);
                herr(msg);
        }
        sigprocmask(SIG_BLOCK, NULL, &m);
        if (!sigismember(&m, SIGUSR1) || !sigismember(&m, SIGUSR2) || !sigismember(&m, SIGWINCH) ||
            sigismember(&m, SIGHUP)) {
                snprintf(msg, sizeof(msg), "%s: mask in handler wrong (USR1 %d USR2 %d WINCH %d HUP %d)", when,
                         sigismember(&m, SIGUSR1), sigismember(&m, SIGUSR2), sigismember(&m, SIGWINCH),
                         sigismember(&m, SIGHUP));
                herr(msg);
        }
        if (uc->uc_stack.ss_sp != alt || uc->uc_stack.ss_size != ALT_SIZE) {
                snprintf(msg, sizeof(msg), "%s: ucontext uc_stack %p/%zu", when, uc->uc_stack.ss_sp, uc->uc_stack.ss_size);
                herr(msg);
        }
}

static void handler(int sig, siginfo_t *si, void *ucv) {
        const ucontext_t *uc = ucv;
        in_handler = 1;
        if (sig != SIGUSR1 || si->si_signo != SIGUSR1)
                herr("wrong signal in handler");
        check_in_handler("before C/R", uc);
        zdtm_ready();
        zdtm_wait_go();
        check_in_handler("after C/R", uc);
        handler_done = 1;
}

static volatile int handler2_ran;

static void handler2(int sig, siginfo_t *si, void *ucv) {
        char local;
        (void)si;
        (void)ucv;
        handler2_ran++;
        if (sig != SIGUSR2 || !stack_in_alt(&local))
                herr("after C/R: a new signal is not delivered on the altstack");
}

int main(int argc, char **argv) {
        zdtm_init(argc, argv);
        volatile uint64_t locals[16];
        for (int i = 0; i < 16; i++)
                locals[i] = 0xfeed000000000000ull + (uint64_t)i * 0x1234567;

        alt = mmap(NULL, ALT_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        zdtm_check(alt != MAP_FAILED, "mmap: %m");
        stack_t ss = { .ss_sp = alt, .ss_size = ALT_SIZE, .ss_flags = 0 };
        zdtm_check(sigaltstack(&ss, NULL) == 0, "sigaltstack: %m");
        struct sigaction sa = { .sa_sigaction = handler, .sa_flags = SA_SIGINFO | SA_ONSTACK };
        sigemptyset(&sa.sa_mask);
        sigaddset(&sa.sa_mask, SIGUSR2);
        sigaddset(&sa.sa_mask, SIGWINCH);
        zdtm_check(sigaction(SIGUSR1, &sa, NULL) == 0, "sigaction: %m");
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);

        raise(SIGUSR1); /* the whole C/R happens inside the handler */

        if (!in_handler || !handler_done)
                zdtm_fail("handler did not run to completion");
        if (handler_err[0])
                zdtm_fail("%s", handler_err);
        for (int i = 0; i < 16; i++)
                if (locals[i] != 0xfeed000000000000ull + (uint64_t)i * 0x1234567)
                        zdtm_fail("interrupted frame's local %d is %#llx after sigreturn", i,
                                  (unsigned long long)locals[i]);
        stack_t cur;
        zdtm_check(sigaltstack(NULL, &cur) == 0, "sigaltstack: %m");
        if (cur.ss_sp != alt || cur.ss_size != ALT_SIZE || cur.ss_flags != 0)
                zdtm_fail("after the handler: altstack %p/%zu flags %#x, expected %p/%d flags 0", cur.ss_sp, cur.ss_size,
                          cur.ss_flags, alt, ALT_SIZE);
        sigset_t m;
        sigprocmask(SIG_BLOCK, NULL, &m);
        if (sigismember(&m, SIGUSR1) || sigismember(&m, SIGUSR2) || sigismember(&m, SIGWINCH))
                zdtm_fail("sigreturn did not restore the mask");
        /* and once more, a fresh delivery on the restored altstack */
        struct sigaction sa2 = { .sa_sigaction = handler2, .sa_flags = SA_SIGINFO | SA_ONSTACK };
        sigemptyset(&sa2.sa_mask);
        zdtm_check(sigaction(SIGUSR2, &sa2, NULL) == 0, "sigaction: %m");
        raise(SIGUSR2);
        if (handler2_ran != 1)
                zdtm_fail("second handler ran %d times", handler2_ran);
        if (handler_err[0])
                zdtm_fail("%s", handler_err);
        zdtm_pass();
}
