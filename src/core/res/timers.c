/* Timers: the three itimers (REAL, VIRTUAL, PROF) and every POSIX timer
 * (id, clock, notification, signal value, target thread, interval and the
 * time left). Dump: /proc/PID/timers names them; remote getitimer,
 * timer_gettime and timer_getoverrun read them. Restore, inside the new
 * process: setitimer; timer_create with the original ids through
 * PR_TIMER_CREATE_RESTORE_IDS (Linux 6.15+); timer_settime with the time
 * that was left. The pending overrun count cannot be set back and is lost
 * (documented). */
#define LOG_PREFIX "timers: "
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>

#include "basic/kcompat.h"
#include "basic/log.h"
#include "basic/proc.h"
#include "basic/util.h"
#include "core/res/task.h"

static uint64_t ts_ns(const struct timespec *ts) {
        return (uint64_t)ts->tv_sec * 1000000000ULL + ts->tv_nsec;
}

static struct timespec ns_ts(uint64_t ns) {
        return (struct timespec){ .tv_sec = ns / 1000000000ULL, .tv_nsec = ns % 1000000000ULL };
}

int timers_dump(struct dump_ctx *ctx, struct dump_task *t) {
        struct infect_task *inf = &t->inf;
        TaskCore *core = t->core;
        _cleanup_free_ char *text = NULL;
        _cleanup_free_ struct proc_timer *pt = NULL;
        size_t npt = 0;
        char path[64];
        int64_t r;

        core->n_itimers = 3;
        core->itimers = xzalloc(3 * sizeof(ItimerEntry *));
        for (int which = 0; which < 3; which++) {
                struct itimerval iv;
                r = infect_call(inf, __NR_getitimer, which, inf->scratch, 0, 0, 0, 0);
                if (r < 0)
                        return log_error_errno((int)r, "pid %d: cannot read itimer %d: %m", t->pid, which);
                r = infect_read_mem(t->pid, inf->scratch, &iv, sizeof(iv));
                if (r < 0)
                        return log_error_errno((int)r, "pid %d: cannot read itimer: %m", t->pid);
                ItimerEntry *e = xzalloc(sizeof(*e));
                itimer_entry__init(e);
                e->interval_us = iv.it_interval.tv_sec * 1000000ULL + iv.it_interval.tv_usec;
                e->value_us = iv.it_value.tv_sec * 1000000ULL + iv.it_value.tv_usec;
                core->itimers[which] = e;
        }

        snprintf(path, sizeof(path), "/proc/%d/timers", t->pid);
        r = read_full_file(path, &text, NULL);
        if (r < 0)
                return log_error_errno((int)r, "pid %d: cannot read %s: %m", t->pid, path);
        r = proc_parse_timers(text, &pt, &npt);
        if (r < 0)
                return log_error_errno((int)r, "pid %d: cannot parse %s", t->pid, path);
        core->posix_timers = xzalloc((npt + 1) * sizeof(PosixTimerEntry *));
        for (size_t i = 0; i < npt; i++) {
                struct itimerspec its;
                r = infect_call(inf, __NR_timer_gettime, pt[i].id, inf->scratch, 0, 0, 0, 0);
                if (r < 0)
                        return log_error_errno((int)r, "pid %d: cannot read POSIX timer %d: %m", t->pid, pt[i].id);
                r = infect_read_mem(t->pid, inf->scratch, &its, sizeof(its));
                if (r < 0)
                        return log_error_errno((int)r, "pid %d: cannot read POSIX timer: %m", t->pid);
                int64_t ov = infect_call(inf, __NR_timer_getoverrun, pt[i].id, 0, 0, 0, 0, 0);
                PosixTimerEntry *e = xzalloc(sizeof(*e));
                posix_timer_entry__init(e);
                e->id = pt[i].id;
                e->clock_id = pt[i].clock_id;
                e->sigev_notify = pt[i].notify;
                e->signo = pt[i].signo;
                e->sigev_value = pt[i].sigev_value;
                e->notify_tid = pt[i].notify_tid;
                e->interval_ns = ts_ns(&its.it_interval);
                e->value_ns = ts_ns(&its.it_value);
                e->overrun = ov > 0 ? (int32_t)ov : 0;
                /* CPU-time clocks encode a pid: 0 (self) or ours survive, ids are kept */
                pid_t cpid = e->clock_id < 0 ? ~(e->clock_id >> 3) : 0;
                if (e->clock_id < 0 && cpid != 0 && cpid != t->pid)
                        return log_error_errno(-ENOTSUP, "pid %d: POSIX timer %d uses a CPU-time clock of another process, not supported yet",
                                               t->pid, e->id);
                core->posix_timers[core->n_posix_timers++] = e;
        }
        return 0;
}

int timers_restore_child(struct restore_ctx *ctx, struct restore_task *t) {
        TaskCore *core = t->core;
        pid_t pid = getpid();

        for (size_t i = 0; i < core->n_itimers && i < 3; i++) {
                ItimerEntry *e = core->itimers[i];
                struct itimerval iv = {
                        .it_interval = { e->interval_us / 1000000, e->interval_us % 1000000 },
                        .it_value = { e->value_us / 1000000, e->value_us % 1000000 },
                };
                if (!e->value_us)
                        continue;
                if (syscall(__NR_setitimer, (int)i, &iv, NULL) < 0)
                        return log_error_errno(-errno, "pid %d: cannot restore itimer %zu: %m", pid, i);
        }
        if (!core->n_posix_timers)
                return 0;
        if (prctl(PR_TIMER_CREATE_RESTORE_IDS, PR_TIMER_CREATE_RESTORE_IDS_ON, 0, 0, 0) < 0)
                return log_error_errno(-errno, "pid %d: this kernel cannot create POSIX timers with given ids (PR_TIMER_CREATE_RESTORE_IDS, Linux 6.15+): %m",
                                       pid);
        /* /proc lists the newest first: create the oldest first so the
         * per-process list has the original order */
        for (size_t i = core->n_posix_timers; i-- > 0;) {
                PosixTimerEntry *e = core->posix_timers[i];
                struct sigevent sev;
                int id = e->id;
                memset(&sev, 0, sizeof(sev));
                sev.sigev_notify = e->sigev_notify;
                sev.sigev_signo = e->signo;
                sev.sigev_value.sival_ptr = (void *)(uintptr_t)e->sigev_value;
                sev._sigev_un._tid = e->notify_tid;
                if (syscall(__NR_timer_create, e->clock_id, &sev, &id) < 0)
                        return log_error_errno(-errno, "pid %d: cannot recreate POSIX timer %d: %m", pid, e->id);
                if (id != e->id)
                        return log_error_errno(-EEXIST, "pid %d: POSIX timer %d came back as %d", pid, e->id, id);
                if (e->value_ns) {
                        struct itimerspec its = { .it_interval = ns_ts(e->interval_ns), .it_value = ns_ts(e->value_ns) };
                        if (syscall(__NR_timer_settime, id, 0, &its, NULL) < 0)
                                return log_error_errno(-errno, "pid %d: cannot arm POSIX timer %d: %m", pid, id);
                }
        }
        prctl(PR_TIMER_CREATE_RESTORE_IDS, PR_TIMER_CREATE_RESTORE_IDS_OFF, 0, 0, 0);
        return 0;
}
