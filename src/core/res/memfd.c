/* memfd: saves the name, size, seals (F_GET_SEALS), mode and the contents
 * (a blob image). Reached through an fd ("/memfd:NAME (deleted)") or only
 * through a mapping (fi->fd == -1). Several open file descriptions of one
 * memfd (reopened through /proc/PID/fd) share one inode: the first entry
 * carries the contents, the others point at its blob, and restore keeps the
 * first memfd in the stash (key: kind and inode) so the later ones are
 * reopened from it instead of becoming separate files.
 *
 * Restore: memfd_create(name, MFD_ALLOW_SEALING unless the seals are the
 * F_SEAL_SEAL of a memfd created without it), fchmod, ftruncate, contents,
 * then a reopen through /proc/self/fd if the access mode was not O_RDWR,
 * status flags and position, and the seals last (F_ADD_SEALS: F_SEAL_WRITE
 * would forbid filling it). MFD_HUGETLB memfds are refused. */
#define LOG_PREFIX "memfd: "
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include "basic/kcompat.h"
#include "basic/log.h"
#include "basic/util.h"
#include "core/res/files.h"

#define MEMFD_PREFIX "/memfd:"
#define DELETED_SUFFIX " (deleted)"
#define SEALS_ALL                                                                                                      \
        (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_FUTURE_WRITE | F_SEAL_EXEC)

static uint64_t memfd_key(uint64_t ino) {
        return ((uint64_t)FILE_KIND__FK_MEMFD << 56) | (ino & ((1ULL << 56) - 1));
}

static bool memfd_match(const struct fd_dump_info *fi) {
        return fi->link && strncmp(fi->link, MEMFD_PREFIX, strlen(MEMFD_PREFIX)) == 0 && S_ISREG(fi->st.st_mode);
}

static const char *who(const struct fd_dump_info *fi, char *buf, size_t n) {
        if (fi->fd >= 0)
                snprintf(buf, n, "fd %d", fi->fd);
        else
                snprintf(buf, n, "a mapping of '%s'", fi->link);
        return buf;
}

static int memfd_dump(struct dump_ctx *ctx, const struct fd_dump_info *fi, FileEntry *fe) {
        _cleanup_close_ int rfd = -EBADF;
        const char *name = fi->link + strlen(MEMFD_PREFIX);
        size_t len = strlen(name);
        struct statfs sfs;
        char proc[64], w[PATH_MAX + 32];
        int seals;

        MemfdEntry *e = xzalloc(sizeof(*e));
        memfd_entry__init(e);
        fe->memfd = e;

        if (len >= strlen(DELETED_SUFFIX) && strcmp(name + len - strlen(DELETED_SUFFIX), DELETED_SUFFIX) == 0)
                len -= strlen(DELETED_SUFFIX);
        e->name = strndup(name, len);
        if (!e->name)
                return -ENOMEM;
        e->size = fi->st.st_size;
        e->mode = fi->st.st_mode & 07777;
        /* Reached only through a mapping: the restored fd serves the
         * mapping alone, so it gets the access mode cryo opened it with
         * (O_RDWR for a writable shared mapping). */
        if (fi->fd < 0)
                fe->flags = (fe->flags & ~(uint32_t)O_ACCMODE) | (fi->fdinfo.flags & O_ACCMODE);

        if (fstatfs(fi->lfd, &sfs) < 0)
                return log_error_errno(-errno, "pid %d: %s: cannot statfs memfd: %m", fi->pid,
                                       who(fi, w, sizeof(w)));
        if ((uint32_t)sfs.f_type == HUGETLBFS_MAGIC) {
                e->hugetlb = true;
                return log_error_errno(-ENOTSUP, "pid %d: %s is a hugetlb memfd '%s', not supported yet", fi->pid,
                                       who(fi, w, sizeof(w)), e->name);
        }

        /* cryo's copy may be write-only or O_PATH: read through a fresh open */
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fi->lfd);
        rfd = open(proc, O_RDONLY | O_CLOEXEC);
        if (rfd < 0)
                return log_error_errno(-errno, "pid %d: %s: cannot reopen memfd '%s' for reading: %m", fi->pid,
                                       who(fi, w, sizeof(w)), e->name);
        seals = fcntl(rfd, F_GET_SEALS);
        if (seals < 0)
                return log_error_errno(-errno, "pid %d: %s: cannot read the seals of memfd '%s': %m", fi->pid,
                                       who(fi, w, sizeof(w)), e->name);
        e->seals = seals;

        /* another open file description of the same memfd already saved it */
        for (size_t i = 0; i < ctx->nfiles; i++) {
                const FileEntry *o = ctx->files[i];
                if (o != fe && o->kind == FILE_KIND__FK_MEMFD && o->ino == fe->ino && o->memfd) {
                        fe->blob_id = o->blob_id;
                        log_debug("pid %d: %s: memfd '%s' shares inode %llu with file %u", fi->pid,
                                  who(fi, w, sizeof(w)), e->name, (unsigned long long)fe->ino, o->id);
                        return 0;
                }
        }
        return dump_ctx_new_blob(ctx, rfd, e->size, &fe->blob_id);
}

static int memfd_create_compat(const char *name, unsigned flags) {
        /* say MFD_EXEC (linux 6.3) explicitly, as the kernel asks; older
         * kernels reject the flag, and vm.memfd_noexec=2 refuses it */
        int fd = memfd_create(name, flags | MFD_EXEC);
        if (fd < 0 && (errno == EINVAL || errno == EACCES))
                fd = memfd_create(name, flags);
        return fd;
}

static int reopen(const FileEntry *fe, int fd, int accmode) {
        char proc[64];
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
        int n = open(proc, accmode | O_CLOEXEC);
        if (n < 0)
                return log_error_errno(-errno, "file %u: cannot reopen memfd '%s' with access mode %d: %m", fe->id,
                                       fe->memfd->name, accmode);
        return n;
}

static int memfd_open(struct restore_ctx *ctx, const FileEntry *fe, int *ret_fd) {
        _cleanup_close_ int fd = -EBADF, mfd = -EBADF;
        const MemfdEntry *e = fe->memfd;
        int accmode = fe->flags & O_ACCMODE;
        uint64_t key = memfd_key(fe->ino);
        unsigned seals;
        int r;

        if (!e)
                return log_error_errno(-EBADMSG, "file %u: memfd entry missing", fe->id);
        if (e->hugetlb)
                return log_error_errno(-ENOTSUP, "file %u: hugetlb memfd '%s', not supported", fe->id, e->name);
        seals = e->seals & SEALS_ALL;

        r = restore_ctx_take_fd(ctx, key);
        if (r >= 0) {
                /* the inode exists already: one more open file description */
                mfd = r;
                r = restore_ctx_stash_fd(ctx, key, mfd);
                if (r < 0)
                        return r;
                fd = reopen(fe, TAKE_FD(mfd), accmode);
                if (fd < 0)
                        return fd;
                r = files_restore_flags_pos(fe, fd);
                if (r < 0)
                        return r;
                *ret_fd = TAKE_FD(fd);
                return 0;
        }

        mfd = memfd_create_compat(e->name, MFD_CLOEXEC | (seals != F_SEAL_SEAL ? MFD_ALLOW_SEALING : 0));
        if (mfd < 0)
                return log_error_errno(-errno, "file %u: cannot create memfd '%s': %m", fe->id, e->name);
        if (fchmod(mfd, e->mode) < 0)
                return log_error_errno(-errno, "file %u: cannot chmod memfd '%s' to %04o: %m", fe->id, e->name,
                                       e->mode);
        if (ftruncate(mfd, e->size) < 0)
                return log_error_errno(-errno, "file %u: cannot resize memfd '%s' to %llu: %m", fe->id, e->name,
                                       (unsigned long long)e->size);
        if (fe->blob_id) {
                r = restore_ctx_blob_fill(ctx, fe->blob_id, mfd);
                if (r < 0)
                        return log_error_errno(r, "file %u: cannot fill memfd '%s': %m", fe->id, e->name);
        }

        if (accmode != O_RDWR) {
                fd = reopen(fe, mfd, accmode);
                if (fd < 0)
                        return fd;
        } else
                fd = fcntl(mfd, F_DUPFD_CLOEXEC, 0);
        if (fd < 0)
                return log_error_errno(-errno, "file %u: cannot dup memfd: %m", fe->id);
        r = files_restore_flags_pos(fe, fd);
        if (r < 0)
                return r;

        if (seals != F_SEAL_SEAL) {
                int cur = fcntl(mfd, F_GET_SEALS);
                unsigned add = seals & ~(unsigned)(cur < 0 ? 0 : cur);
                if (add && fcntl(mfd, F_ADD_SEALS, add) < 0)
                        return log_error_errno(-errno, "file %u: cannot seal memfd '%s' with %#x: %m", fe->id,
                                               e->name, add);
        }

        /* keep the inode at hand for other open file descriptions of it */
        r = restore_ctx_move_high(ctx, TAKE_FD(mfd));
        if (r < 0)
                return r;
        r = restore_ctx_stash_fd(ctx, key, r);
        if (r < 0)
                return r;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

const struct file_ops memfd_ops = {
        .kind = FILE_KIND__FK_MEMFD,
        .name = "memfd",
        .match = memfd_match,
        .dump = memfd_dump,
        .open = memfd_open,
};
