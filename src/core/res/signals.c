/* Signals: the 64 sigactions (handler, flags, restorer, mask), each thread's
 * blocked mask and private pending queue, the shared pending queue (with
 * full siginfo), and the sigaltstack.
 * Dump: sigactions and sigaltstack by remote rt_sigaction/sigaltstack calls;
 * queues with PTRACE_PEEKSIGINFO; the mask is the one infect saved (the
 * kernel reports saved_sigmask while in sigsuspend/ppoll).
 * Restore (inside the new process, all signals blocked): raw rt_sigaction
 * with the original restorer, sigaltstack, then the queues are refilled with
 * rt_sigqueueinfo / rt_tgsigqueueinfo in their original order. The mask is
 * set last, through ptrace, when the task is resumed. */
#define LOG_PREFIX "signals: "
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>

#include "basic/kcompat.h"
#include "basic/log.h"
#include "basic/util.h"
#include "core/res/task.h"

struct k_sigaction {
        uint64_t handler;
        uint64_t flags;
        uint64_t restorer;
        uint64_t mask;
};

struct k_stack {
        uint64_t sp;
        int32_t flags;
        int32_t pad;
        uint64_t size;
};

static int peek_queue(pid_t tid, bool shared, SiginfoEntry ***ret, size_t *ret_n) {
        SiginfoEntry **v = NULL;
        size_t n = 0;
        for (;;) {
                struct {
                        uint64_t off;
                        uint32_t flags;
                        int32_t nr;
                } a = { .off = n, .flags = shared ? 1 /* PTRACE_PEEKSIGINFO_SHARED */ : 0, .nr = 1 };
                uint8_t si[128];
                long r = ptrace(PTRACE_PEEKSIGINFO, tid, &a, si);
                if (r < 0) {
                        free(v);
                        return -errno;
                }
                if (r == 0)
                        break;
                SiginfoEntry *e = xzalloc(sizeof(*e));
                siginfo_entry__init(e);
                e->siginfo.len = sizeof(si);
                e->siginfo.data = xzalloc(sizeof(si));
                memcpy(e->siginfo.data, si, sizeof(si));
                v = xrealloc_array(v, n + 1, sizeof(*v));
                v[n++] = e;
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

int signals_dump_thread(struct dump_ctx *ctx, struct dump_task *t, struct infect_task *inf, ThreadCore *tc) {
        struct k_stack ks;
        int64_t r;
        pid_t tid = tc->tid;

        r = infect_call(inf, __NR_sigaltstack, 0, inf->scratch, 0, 0, 0, 0);
        if (r < 0)
                return log_error_errno((int)r, "pid %d: cannot read sigaltstack: %m", tid);
        r = infect_read_mem(t->pid, inf->scratch, &ks, sizeof(ks));
        if (r < 0)
                return log_error_errno((int)r, "pid %d: cannot read sigaltstack: %m", tid);
        tc->altstack = xzalloc(sizeof(*tc->altstack));
        sigaltstack_entry__init(tc->altstack);
        tc->altstack->sp = ks.sp;
        tc->altstack->flags = ks.flags;
        tc->altstack->size = ks.size;

        tc->blocked = inf->orig_sigmask;
        r = peek_queue(tid, false, &tc->pending, &tc->n_pending);
        if (r < 0)
                return log_error_errno((int)r, "pid %d: cannot read pending signals: %m", tid);
        return 0;
}

int signals_restore_thread_remote(struct restore_ctx *ctx, struct restore_task *t, struct infect_task *inf,
                                  ThreadCore *tc) {
        for (size_t i = 0; i < tc->n_pending; i++) {
                uint8_t si[128] = { 0 };
                int32_t signo;
                memcpy(si, tc->pending[i]->siginfo.data, MIN(sizeof(si), tc->pending[i]->siginfo.len));
                memcpy(&signo, si, sizeof(signo));
                int r = infect_write_mem(t->pe->pid, inf->scratch, si, sizeof(si));
                if (r < 0)
                        return log_error_errno(r, "pid %d: cannot write scratch memory: %m", tc->tid);
                int64_t x = infect_call(inf, __NR_rt_tgsigqueueinfo, t->pe->pid, tc->tid, signo, inf->scratch, 0, 0);
                if (x < 0)
                        return log_error_errno((int)x, "pid %d: cannot queue signal %d: %m", tc->tid, signo);
        }
        if (!tc->altstack || (tc->altstack->flags & SS_DISABLE))
                return 0;
        struct k_stack ks = { .sp = tc->altstack->sp, .flags = tc->altstack->flags & ~SS_ONSTACK,
                              .size = tc->altstack->size };
        int r = infect_write_mem(t->pe->pid, inf->scratch, &ks, sizeof(ks));
        if (r < 0)
                return log_error_errno(r, "pid %d: cannot write scratch memory: %m", tc->tid);
        int64_t x = infect_call(inf, __NR_sigaltstack, inf->scratch, 0, 0, 0, 0, 0);
        if (x < 0)
                return log_error_errno((int)x, "pid %d: cannot restore sigaltstack: %m", tc->tid);
        return 0;
}

int signals_dump(struct dump_ctx *ctx, struct dump_task *t) {
        struct infect_task *inf = &t->inf;
        TaskCore *core = t->core;
        ThreadCore *tc = core->threads[0];
        struct k_sigaction ka[64];
        int64_t r;

        struct infect_rec recs[64];
        for (int sig = 1; sig <= 64; sig++)
                recs[sig - 1] = INFECT_REC(__NR_rt_sigaction, sig, 0, inf->scratch + (sig - 1) * sizeof(ka[0]), 8);
        r = infect_batch(inf, recs, 64);
        if (r < 0)
                return log_error_errno((int)r, "pid %d: cannot read its signal actions: %m", t->pid);
        for (int sig = 1; sig <= 64; sig++)
                if (recs[sig - 1].ret < 0)
                        return log_error_errno((int)recs[sig - 1].ret, "pid %d: cannot read the action of signal %d: %m",
                                               t->pid, sig);
        r = infect_read_mem(t->pid, inf->scratch, ka, sizeof(ka));
        if (r < 0)
                return log_error_errno((int)r, "pid %d: cannot read sigactions: %m", t->pid);
        core->n_sigactions = 64;
        core->sigactions = xzalloc(64 * sizeof(SigactionEntry *));
        for (int i = 0; i < 64; i++) {
                SigactionEntry *e = xzalloc(sizeof(*e));
                sigaction_entry__init(e);
                e->handler = ka[i].handler;
                e->flags = ka[i].flags;
                e->restorer = ka[i].restorer;
                e->mask = ka[i].mask;
                core->sigactions[i] = e;
        }

        r = signals_dump_thread(ctx, t, inf, tc);
        if (r < 0)
                return r;
        r = peek_queue(t->pid, true, &core->shared_pending, &core->n_shared_pending);
        if (r < 0)
                return log_error_errno((int)r, "pid %d: cannot read shared pending signals: %m", t->pid);
        return 0;
}

int signals_restore_child(struct restore_ctx *ctx, struct restore_task *t) {
        TaskCore *core = t->core;
        ThreadCore *tc = core->threads[0];
        pid_t pid = getpid();

        for (size_t i = 0; i < core->n_sigactions && i < 64; i++) {
                int sig = i + 1;
                SigactionEntry *e = core->sigactions[i];
                struct k_sigaction ka = { e->handler, e->flags, e->restorer, e->mask };
                if (sig == SIGKILL || sig == SIGSTOP)
                        continue;
                if (syscall(__NR_rt_sigaction, sig, &ka, NULL, 8) < 0)
                        return log_error_errno(-errno, "pid %d: cannot restore the action of signal %d: %m", pid, sig);
        }
        if (tc->altstack && !(tc->altstack->flags & SS_DISABLE)) {
                struct k_stack ks = { .sp = tc->altstack->sp, .flags = tc->altstack->flags & ~SS_ONSTACK,
                                      .size = tc->altstack->size };
                if (syscall(__NR_sigaltstack, &ks, NULL) < 0)
                        return log_error_errno(-errno, "pid %d: cannot restore sigaltstack: %m", pid);
        }
        for (size_t i = 0; i < core->n_shared_pending; i++) {
                siginfo_t si;
                memcpy(&si, core->shared_pending[i]->siginfo.data, MIN(sizeof(si), core->shared_pending[i]->siginfo.len));
                if (syscall(__NR_rt_sigqueueinfo, pid, si.si_signo, &si) < 0)
                        return log_error_errno(-errno, "pid %d: cannot queue shared signal %d: %m", pid, si.si_signo);
        }
        /* the leader's own queue; other threads queue theirs themselves
         * (signals_restore_thread_remote): the kernel accepts a queued
         * siginfo with si_code >= 0 only from the receiving thread */
        for (size_t k = 0; k < 1 && k < core->n_threads; k++) {
                ThreadCore *th = core->threads[k];
                for (size_t i = 0; i < th->n_pending; i++) {
                        siginfo_t si;
                        memcpy(&si, th->pending[i]->siginfo.data, MIN(sizeof(si), th->pending[i]->siginfo.len));
                        if (syscall(__NR_rt_tgsigqueueinfo, pid, th->tid, si.si_signo, &si) < 0)
                                return log_error_errno(-errno, "pid %d: cannot queue signal %d: %m", th->tid,
                                                       si.si_signo);
                }
        }
        return 0;
}
