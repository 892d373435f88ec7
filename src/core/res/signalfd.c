/* signalfd: saves the signal mask ("sigmask:" in fdinfo, 64 bits, bit n-1
 * for signal n). Restored with signalfd(-1, mask) and the status flags. The
 * pending signals themselves belong to the task and are restored with it. */
#define LOG_PREFIX "signalfd: "
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>

#include "basic/log.h"
#include "basic/util.h"
#include "core/res/files.h"

static bool signalfd_match(const struct fd_dump_info *fi) {
        return fi->link && strcmp(fi->link, "anon_inode:[signalfd]") == 0;
}

static int signalfd_dump(struct dump_ctx *ctx, const struct fd_dump_info *fi, FileEntry *fe) {
        const char *v;
        char *end;

        SignalfdEntry *e = xzalloc(sizeof(*e));
        signalfd_entry__init(e);
        fe->signalfd = e;

        v = proc_fdinfo_get(&fi->fdinfo, "sigmask:");
        if (!v)
                return log_error_errno(-EINVAL, "pid %d: fd %d: signalfd without sigmask in fdinfo", fi->pid, fi->fd);
        errno = 0;
        e->sigmask = strtoull(v, &end, 16);
        if (errno || end == v)
                return log_error_errno(-EINVAL, "pid %d: fd %d: cannot parse signalfd sigmask '%.20s'", fi->pid,
                                       fi->fd, v);
        return 0;
}

static int signalfd_open(struct restore_ctx *ctx, const FileEntry *fe, int *ret_fd) {
        _cleanup_close_ int fd = -EBADF;
        sigset_t mask;
        int r;

        if (!fe->signalfd)
                return log_error_errno(-EBADMSG, "file %u: signalfd entry missing", fe->id);
        /* The kernel's 64-bit mask is the first word of glibc's sigset_t.
         * Copied whole: sigaddset() refuses glibc's internal signals 32/33. */
        uint64_t m = fe->signalfd->sigmask;
        sigemptyset(&mask);
        memcpy(&mask, &m, sizeof(m));
        fd = signalfd(-1, &mask, SFD_CLOEXEC);
        if (fd < 0)
                return log_error_errno(-errno, "file %u: cannot create signalfd for mask %016llx: %m", fe->id,
                                       (unsigned long long)fe->signalfd->sigmask);
        r = files_restore_flags_pos(fe, fd);
        if (r < 0)
                return r;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

const struct file_ops signalfd_ops = {
        .kind = FILE_KIND__FK_SIGNALFD,
        .name = "signalfd",
        .match = signalfd_match,
        .dump = signalfd_dump,
        .open = signalfd_open,
};
