/* timerfd: saves the clock, the settime flags, the remaining time, the
 * interval and the expirations not read yet (ticks), all from fdinfo.
 *
 * A periodic timer that fired and was not read shows a remaining time of 0
 * (the kernel forwards it only on read or timerfd_gettime()), which would
 * restore as disarmed; so cryo first calls timerfd_gettime() on its copy,
 * which forwards the timer exactly as the target's next read would, and then
 * reads fdinfo again.
 *
 * Restore: timerfd_create(clock), timerfd_settime() with the remaining time
 * (an absolute timer gets now(clock) + remaining and keeps its flags,
 * TFD_TIMER_CANCEL_ON_SET included), then TFD_IOC_SET_TICKS for the unread
 * expirations (CONFIG_CHECKPOINT_RESTORE), then the status flags. */
#define LOG_PREFIX "timerfd: "
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/timerfd.h>
#include <time.h>

#include "basic/kcompat.h"
#include "basic/log.h"
#include "basic/util.h"
#include "core/res/files.h"

#define NSEC_PER_SEC 1000000000ULL

static bool timerfd_match(const struct fd_dump_info *fi) {
        return fi->link && strcmp(fi->link, "anon_inode:[timerfd]") == 0;
}

static int parse_timerfd_fdinfo(const struct proc_fdinfo *f, TimerfdEntry *e) {
        unsigned long long s, ns, is, ins, ticks;
        unsigned flags;
        const char *v;
        int clk;

        if (!(v = proc_fdinfo_get(f, "clockid:")) || sscanf(v, "%d", &clk) != 1)
                return -EINVAL;
        if (!(v = proc_fdinfo_get(f, "ticks:")) || sscanf(v, "%llu", &ticks) != 1)
                return -EINVAL;
        /* printed as "0%o" */
        if (!(v = proc_fdinfo_get(f, "settime flags:")) || sscanf(v, "%o", &flags) != 1)
                return -EINVAL;
        if (!(v = proc_fdinfo_get(f, "it_value:")) || sscanf(v, "(%llu, %llu)", &s, &ns) != 2)
                return -EINVAL;
        if (!(v = proc_fdinfo_get(f, "it_interval:")) || sscanf(v, "(%llu, %llu)", &is, &ins) != 2)
                return -EINVAL;
        e->clock_id = clk;
        e->ticks = ticks;
        e->settime_flags = flags;
        e->value_ns = s * NSEC_PER_SEC + ns;
        e->interval_ns = is * NSEC_PER_SEC + ins;
        return 0;
}

static int timerfd_dump(struct dump_ctx *ctx, const struct fd_dump_info *fi, FileEntry *fe) {
        int r;

        TimerfdEntry *e = xzalloc(sizeof(*e));
        timerfd_entry__init(e);
        fe->timerfd = e;

        for (int attempt = 0;; attempt++) {
                struct proc_fdinfo f = {};
                struct itimerspec cur;

                if (timerfd_gettime(fi->lfd, &cur) < 0)
                        return log_error_errno(-errno, "pid %d: fd %d: timerfd_gettime failed: %m", fi->pid, fi->fd);
                r = proc_read_fdinfo(getpid(), fi->lfd, &f);
                if (r < 0)
                        return log_error_errno(r, "pid %d: fd %d: cannot read timerfd state: %m", fi->pid, fi->fd);
                r = parse_timerfd_fdinfo(&f, e);
                proc_fdinfo_done(&f);
                if (r < 0)
                        return log_error_errno(r, "pid %d: fd %d: cannot parse timerfd fdinfo", fi->pid, fi->fd);
                /* fired again between the two reads: forward once more */
                if (e->value_ns || !e->interval_ns || !e->ticks || attempt >= 3)
                        break;
        }
        if (!e->value_ns && e->interval_ns && e->ticks)
                return log_error_errno(-EAGAIN, "pid %d: fd %d: periodic timerfd keeps expiring, cannot read it",
                                       fi->pid, fi->fd);
        return 0;
}

static struct timespec ns_to_ts(uint64_t ns) {
        return (struct timespec){ .tv_sec = ns / NSEC_PER_SEC, .tv_nsec = ns % NSEC_PER_SEC };
}

static int timerfd_open(struct restore_ctx *ctx, const FileEntry *fe, int *ret_fd) {
        _cleanup_close_ int fd = -EBADF;
        const TimerfdEntry *e = fe->timerfd;
        struct itimerspec its = {};
        int flags, r;

        if (!e)
                return log_error_errno(-EBADMSG, "file %u: timerfd entry missing", fe->id);
        fd = timerfd_create(e->clock_id, TFD_CLOEXEC);
        if (fd < 0)
                return log_error_errno(-errno, "file %u: cannot create timerfd on clock %d: %m", fe->id, e->clock_id);

        flags = e->settime_flags & (TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET);
        its.it_interval = ns_to_ts(e->interval_ns);
        if (e->value_ns) {
                uint64_t v = e->value_ns;
                if (flags & TFD_TIMER_ABSTIME) {
                        struct timespec now;
                        if (clock_gettime(e->clock_id, &now) < 0)
                                return log_error_errno(-errno, "file %u: cannot read clock %d: %m", fe->id,
                                                       e->clock_id);
                        v += (uint64_t)now.tv_sec * NSEC_PER_SEC + now.tv_nsec;
                }
                its.it_value = ns_to_ts(v);
        }
        /* a zero it_value disarms, absolute or not; the flags are kept anyway
         * (the kernel remembers them, and CANCEL_ON_SET registers the timer) */
        if (timerfd_settime(fd, flags, &its, NULL) < 0)
                return log_error_errno(-errno, "file %u: cannot arm timerfd: %m", fe->id);
        if (e->ticks) {
                uint64_t t = e->ticks;
                if (ioctl(fd, TFD_IOC_SET_TICKS, &t) < 0)
                        return log_error_errno(-errno,
                                               "file %u: cannot restore %llu unread timerfd expirations "
                                               "(TFD_IOC_SET_TICKS needs CONFIG_CHECKPOINT_RESTORE): %m",
                                               fe->id, (unsigned long long)t);
        }
        r = files_restore_flags_pos(fe, fd);
        if (r < 0)
                return r;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

const struct file_ops timerfd_ops = {
        .kind = FILE_KIND__FK_TIMERFD,
        .name = "timerfd",
        .match = timerfd_match,
        .dump = timerfd_dump,
        .open = timerfd_open,
};
