/* Identity and miscellaneous per-process state: comm, cwd and root, umask,
 * personality, rlimits, exit signal, scheduling policy/priority/nice,
 * prctl bits (pdeath signal, dumpable, child subreaper, THP disable, timer
 * slack), and per thread clear_child_tid, the robust futex list and the rseq
 * registration.
 * Dump: /proc files, ptrace (PTRACE_GET_RSEQ_CONFIGURATION), get_robust_list
 * and remote prctl()s.
 * Restore: most of it inside the new process before it stops (cwd, root,
 * umask, comm, prctls, clear_child_tid, robust list); rseq, personality,
 * rlimits, scheduling and dumpable by cryo at the end (rseq needs the
 * restored memory; dumpable must follow the credential change, which
 * resets it). */
#define LOG_PREFIX "task: "
#include <sched.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "basic/kcompat.h"
#include "basic/log.h"
#include "basic/proc.h"
#include "basic/util.h"
#include "core/res/task.h"

static int read_link(const char *path, char **ret) {
        char buf[PATH_MAX + 1];
        ssize_t n = readlink(path, buf, sizeof(buf) - 1);
        if (n < 0)
                return -errno;
        buf[n] = 0;
        *ret = xstrdup(buf);
        return 0;
}

int thread_dump_misc(struct dump_ctx *ctx, struct dump_task *t, struct infect_task *inf, ThreadCore *tc) {
        pid_t tid = tc->tid;
        struct cryo_ptrace_rseq_configuration rc = { 0 };
        struct sched_param sp;
        char path[96];
        _cleanup_free_ char *comm = NULL;
        uint64_t head = 0;
        size_t len = 0;
        int64_t r;

        snprintf(path, sizeof(path), "/proc/%d/task/%d/comm", t->pid, tid);
        r = read_full_file(path, &comm, NULL);
        if (r < 0)
                return log_error_errno((int)r, "pid %d: cannot read comm: %m", tid);
        comm[strcspn(comm, "\n")] = 0;
        tc->comm = TAKE_PTR(comm);

        r = sched_getscheduler(tid);
        if (r < 0)
                return log_error_errno(-errno, "pid %d: cannot read the scheduling policy: %m", tid);
        tc->sched_policy = r;
        if (sched_getparam(tid, &sp) < 0)
                return log_error_errno(-errno, "pid %d: cannot read scheduling parameters: %m", tid);
        tc->sched_prio = sp.sched_priority;
        errno = 0;
        r = getpriority(PRIO_PROCESS, tid);
        if (r == -1 && errno)
                return log_error_errno(-errno, "pid %d: cannot read the nice value: %m", tid);
        tc->nice = r;

        if (syscall(__NR_get_robust_list, tid, &head, &len) < 0)
                return log_error_errno(-errno, "pid %d: cannot read the robust futex list: %m", tid);
        tc->robust_list = head;
        tc->robust_list_len = len;

        r = infect_call(inf, __NR_prctl, PR_GET_TID_ADDRESS, inf->scratch, 0, 0, 0, 0);
        if (r < 0)
                return log_error_errno((int)r, "pid %d: cannot read clear_child_tid: %m", tid);
        r = infect_read_mem(t->pid, inf->scratch, &tc->clear_child_tid, sizeof(uint64_t));
        if (r < 0)
                return log_error_errno((int)r, "pid %d: cannot read clear_child_tid: %m", tid);

        if (ptrace(PTRACE_GET_RSEQ_CONFIGURATION, tid, (void *)sizeof(rc), &rc) < 0)
                return log_error_errno(-errno, "pid %d: cannot read the rseq registration: %m", tid);
        if (rc.rseq_abi_pointer) {
                tc->rseq = xzalloc(sizeof(*tc->rseq));
                rseq_entry__init(tc->rseq);
                tc->rseq->ptr = rc.rseq_abi_pointer;
                tc->rseq->size = rc.rseq_abi_size;
                tc->rseq->sig = rc.signature;
                tc->rseq->flags = rc.flags;
        }
        return 0;
}

int task_dump_misc(struct dump_ctx *ctx, struct dump_task *t) {
        TaskCore *core = t->core;
        struct proc_limit lim[PROC_NLIMITS];
        struct proc_status st;
        struct proc_stat ps;
        _cleanup_free_ char *text = NULL;
        char path[64];
        int64_t r;

        r = proc_read_stat(t->pid, 0, &ps);
        if (r < 0)
                return log_error_errno((int)r, "pid %d: cannot read stat: %m", t->pid);
        core->exit_signal = ps.exit_signal;

        r = proc_read_status(t->pid, 0, &st);
        if (r < 0)
                return log_error_errno((int)r, "pid %d: cannot read status: %m", t->pid);
        core->umask = st.umask;
        proc_status_done(&st);

        snprintf(path, sizeof(path), "/proc/%d/personality", t->pid);
        r = read_full_file(path, &text, NULL);
        if (r < 0)
                return log_error_errno((int)r, "pid %d: cannot read personality: %m", t->pid);
        core->personality = strtoul(text, NULL, 16);
        free(TAKE_PTR(text));

        snprintf(path, sizeof(path), "/proc/%d/limits", t->pid);
        r = read_full_file(path, &text, NULL);
        if (r < 0 || proc_parse_limits(text, lim) < 0)
                return log_error_errno(r < 0 ? (int)r : -EINVAL, "pid %d: cannot read resource limits", t->pid);
        core->n_rlimits = PROC_NLIMITS;
        core->rlimits = xzalloc(PROC_NLIMITS * sizeof(RlimitEntry *));
        for (int i = 0; i < PROC_NLIMITS; i++) {
                RlimitEntry *e = xzalloc(sizeof(*e));
                rlimit_entry__init(e);
                e->resource = i;
                e->cur = lim[i].cur;
                e->max = lim[i].max;
                core->rlimits[i] = e;
        }

        snprintf(path, sizeof(path), "/proc/%d/cwd", t->pid);
        r = read_link(path, &core->cwd);
        if (r < 0)
                return log_error_errno((int)r, "pid %d: cannot read the working directory: %m", t->pid);
        snprintf(path, sizeof(path), "/proc/%d/root", t->pid);
        r = read_link(path, &core->root);
        if (r < 0)
                return log_error_errno((int)r, "pid %d: cannot read the root directory: %m", t->pid);
        /* " (deleted)" may end a directory's real name */
        for (int k = 0; k < 2; k++) {
                char **p = k ? &core->root : &core->cwd;
                struct stat dst;
                char *name;
                snprintf(path, sizeof(path), "/proc/%d/%s", t->pid, k ? "root" : "cwd");
                if (stat(path, &dst) < 0)
                        return log_error_errno(-errno, "pid %d: cannot stat its %s directory: %m", t->pid,
                                               k ? "root" : "working");
                bool removed = proc_link_removed(*p, &dst, &name);
                if (removed) {
                        r = log_error_errno(-ENOTSUP, "pid %d: its %s directory %s was removed, not supported yet",
                                            t->pid, k ? "root" : "working", name);
                        free(name);
                        return r;
                }
                free(name);
        }

        struct infect_task *inf = &t->inf;
        int32_t v32;
        r = infect_call(inf, __NR_prctl, PR_GET_PDEATHSIG, inf->scratch, 0, 0, 0, 0);
        if (r < 0 || infect_read_mem(t->pid, inf->scratch, &v32, 4) < 0)
                return log_error_errno(r < 0 ? (int)r : -EFAULT, "pid %d: cannot read the parent-death signal", t->pid);
        core->pdeath_signal = v32;
        r = infect_call(inf, __NR_prctl, PR_GET_CHILD_SUBREAPER, inf->scratch, 0, 0, 0, 0);
        if (r < 0 || infect_read_mem(t->pid, inf->scratch, &v32, 4) < 0)
                return log_error_errno(r < 0 ? (int)r : -EFAULT, "pid %d: cannot read the subreaper bit", t->pid);
        core->child_subreaper = v32;
        r = infect_call(inf, __NR_prctl, PR_GET_DUMPABLE, 0, 0, 0, 0, 0);
        if (r < 0)
                return log_error_errno((int)r, "pid %d: cannot read the dumpable bit: %m", t->pid);
        core->dumpable = r;
        r = infect_call(inf, __NR_prctl, PR_GET_THP_DISABLE, 0, 0, 0, 0, 0);
        if (r < 0)
                return log_error_errno((int)r, "pid %d: cannot read the THP-disable bit: %m", t->pid);
        core->thp_disable = r;
        r = infect_call(inf, __NR_prctl, PR_GET_TIMERSLACK, 0, 0, 0, 0, 0);
        if (r < 0)
                return log_error_errno((int)r, "pid %d: cannot read the timer slack: %m", t->pid);
        core->timer_slack_ns = r;
        return 0;
}

int task_restore_child(struct restore_ctx *ctx, struct restore_task *t) {
        TaskCore *core = t->core;
        ThreadCore *tc = core->threads[0];
        pid_t pid = getpid();

        if (core->root && strcmp(core->root, "/") != 0) {
                if (chroot(core->root) < 0)
                        return log_error_errno(-errno, "pid %d: cannot change root to '%s': %m", pid, core->root);
        }
        if (core->cwd && chdir(core->cwd) < 0)
                return log_error_errno(-errno, "pid %d: cannot change directory to '%s': %m", pid, core->cwd);
        umask(core->umask);
        if (tc->comm && prctl(PR_SET_NAME, tc->comm, 0, 0, 0) < 0)
                return log_error_errno(-errno, "pid %d: cannot set comm: %m", pid);
        if (prctl(PR_SET_PDEATHSIG, core->pdeath_signal, 0, 0, 0) < 0)
                return log_error_errno(-errno, "pid %d: cannot set the parent-death signal: %m", pid);
        if (prctl(PR_SET_CHILD_SUBREAPER, core->child_subreaper, 0, 0, 0) < 0)
                return log_error_errno(-errno, "pid %d: cannot set the subreaper bit: %m", pid);
        if (prctl(PR_SET_THP_DISABLE, core->thp_disable, 0, 0, 0) < 0)
                return log_error_errno(-errno, "pid %d: cannot set the THP-disable bit: %m", pid);
        if (core->timer_slack_ns && prctl(PR_SET_TIMERSLACK, core->timer_slack_ns, 0, 0, 0) < 0)
                return log_error_errno(-errno, "pid %d: cannot set the timer slack: %m", pid);
        if (syscall(__NR_set_robust_list, tc->robust_list, tc->robust_list_len) < 0)
                return log_error_errno(-errno, "pid %d: cannot set the robust futex list: %m", pid);
        syscall(__NR_set_tid_address, tc->clear_child_tid);
        return 0;
}

static int rseq_register(struct infect_task *inf, ThreadCore *tc) {
        if (!tc->rseq)
                return 0;
        int64_t r = infect_call(inf, __NR_rseq, tc->rseq->ptr, tc->rseq->size, 0, tc->rseq->sig, 0, 0);
        if (r < 0)
                return log_error_errno((int)r, "pid %d: cannot re-register rseq at %#llx: %m", tc->tid,
                                       (unsigned long long)tc->rseq->ptr);
        return 0;
}

static int sched_restore(ThreadCore *tc) {
        struct sched_param sp = { .sched_priority = tc->sched_prio };
        if (sched_setscheduler(tc->tid, tc->sched_policy, &sp) < 0)
                return log_error_errno(-errno, "pid %d: cannot set scheduling policy %d: %m", tc->tid, tc->sched_policy);
        if (setpriority(PRIO_PROCESS, tc->tid, tc->nice) < 0)
                return log_error_errno(-errno, "pid %d: cannot set nice %d: %m", tc->tid, tc->nice);
        return 0;
}

int thread_restore_remote(struct restore_ctx *ctx, struct restore_task *t, struct infect_task *inf, ThreadCore *tc) {
        pid_t tid = tc->tid;
        int64_t x;
        int r;

        x = infect_call(inf, __NR_set_robust_list, tc->robust_list, tc->robust_list_len, 0, 0, 0, 0);
        if (x < 0)
                return log_error_errno((int)x, "pid %d: cannot set the robust futex list: %m", tid);
        infect_call(inf, __NR_set_tid_address, tc->clear_child_tid, 0, 0, 0, 0, 0);
        if (tc->comm) {
                char comm[16] = { 0 };
                snprintf(comm, sizeof(comm), "%s", tc->comm);
                r = infect_write_mem(t->pe->pid, inf->scratch, comm, sizeof(comm));
                if (r < 0)
                        return log_error_errno(r, "pid %d: cannot write scratch memory: %m", tid);
                x = infect_call(inf, __NR_prctl, PR_SET_NAME, inf->scratch, 0, 0, 0, 0);
                if (x < 0)
                        return log_error_errno((int)x, "pid %d: cannot set comm: %m", tid);
        }
        r = rseq_register(inf, tc);
        if (r < 0)
                return r;
        return sched_restore(tc);
}

int task_restore_remote(struct restore_ctx *ctx, struct restore_task *t) {
        TaskCore *core = t->core;
        ThreadCore *tc = core->threads[0];
        struct infect_task *inf = &t->inf;
        pid_t pid = t->pe->pid;
        int64_t r;

        r = rseq_register(inf, tc);
        if (r < 0)
                return r;
        r = infect_call(inf, __NR_personality, core->personality, 0, 0, 0, 0, 0);
        if (r < 0)
                return log_error_errno((int)r, "pid %d: cannot set personality %#x: %m", pid, core->personality);

        for (size_t i = 0; i < core->n_rlimits; i++) {
                RlimitEntry *e = core->rlimits[i];
                struct rlimit rl = { e->cur, e->max };
                if (prlimit(pid, e->resource, &rl, NULL) < 0)
                        return log_error_errno(-errno, "pid %d: cannot set resource limit %u to %llu/%llu%s: %m", pid,
                                               e->resource, (unsigned long long)e->cur, (unsigned long long)e->max,
                                               errno == EPERM ? " (cryo cannot raise a hard limit above its own)" : "");
        }
        return sched_restore(tc);
}
