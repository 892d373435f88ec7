/* eventfd: saves the 64-bit counter and the EFD_SEMAPHORE mode, both read
 * from fdinfo ("eventfd-count:" in hex, "eventfd-semaphore:"). Restored with
 * eventfd(0, mode) followed by a write() of the counter (eventfd()'s initial
 * value is only 32 bits wide), then the status flags (O_NONBLOCK). */
#define LOG_PREFIX "eventfd: "
#include <fcntl.h>
#include <string.h>
#include <sys/eventfd.h>

#include "basic/kcompat.h"
#include "basic/log.h"
#include "basic/util.h"
#include "core/res/files.h"

static bool eventfd_match(const struct fd_dump_info *fi) {
        return fi->link && strcmp(fi->link, "anon_inode:[eventfd]") == 0;
}

static int eventfd_dump(struct dump_ctx *ctx, const struct fd_dump_info *fi, FileEntry *fe) {
        const char *v;
        char *end;

        EventfdEntry *e = xzalloc(sizeof(*e));
        eventfd_entry__init(e);
        fe->eventfd = e;

        v = proc_fdinfo_get(&fi->fdinfo, "eventfd-count:");
        if (!v)
                return log_error_errno(-EINVAL, "pid %d: fd %d: eventfd without eventfd-count in fdinfo", fi->pid,
                                       fi->fd);
        errno = 0;
        e->counter = strtoull(v, &end, 16);
        if (errno || end == v)
                return log_error_errno(-EINVAL, "pid %d: fd %d: cannot parse eventfd-count '%.20s'", fi->pid, fi->fd,
                                       v);
        /* Printed since linux 6.5; before that the mode cannot be read back. */
        v = proc_fdinfo_get(&fi->fdinfo, "eventfd-semaphore:");
        if (v)
                e->semaphore = strtoul(v, NULL, 10) != 0;
        else
                log_warn("pid %d: fd %d: kernel does not show the eventfd mode, assuming not EFD_SEMAPHORE", fi->pid,
                         fi->fd);
        return 0;
}

static int eventfd_open(struct restore_ctx *ctx, const FileEntry *fe, int *ret_fd) {
        _cleanup_close_ int fd = -EBADF;
        const EventfdEntry *e = fe->eventfd;
        int r;

        if (!e)
                return log_error_errno(-EBADMSG, "file %u: eventfd entry missing", fe->id);
        fd = eventfd(0, EFD_CLOEXEC | (e->semaphore ? EFD_SEMAPHORE : 0));
        if (fd < 0)
                return log_error_errno(-errno, "file %u: cannot create eventfd: %m", fe->id);
        if (e->counter) {
                uint64_t c = e->counter;
                if (write(fd, &c, sizeof(c)) != sizeof(c))
                        return log_error_errno(-errno, "file %u: cannot set eventfd counter to %llu: %m", fe->id,
                                               (unsigned long long)c);
        }
        r = files_restore_flags_pos(fe, fd);
        if (r < 0)
                return r;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

const struct file_ops eventfd_ops = {
        .kind = FILE_KIND__FK_EVENTFD,
        .name = "eventfd",
        .match = eventfd_match,
        .dump = eventfd_dump,
        .open = eventfd_open,
};
