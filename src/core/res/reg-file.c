/* Regular files, directories, O_PATH descriptors and character devices of
 * the memory class (/dev/null, zero, full, random, urandom). Terminals are
 * tty.c's.
 * Dump: the path (checked to still name the same inode), flags, position,
 * mode; the contents of files that are unlinked but open go to blob-N.img.
 * Restore: open the path with the saved flags and seek; a file used by a
 * mapping must still have the size it had; unlinked files are recreated
 * (at their old path when it is free, so /proc shows the same name),
 * filled, opened and unlinked again. */
#define LOG_PREFIX "reg-file: "
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "basic/log.h"
#include "basic/proc.h"
#include "basic/util.h"
#include "core/res/files.h"

static bool reg_match(const struct fd_dump_info *fi) {
        mode_t m = fi->st.st_mode;
        return S_ISREG(m) || S_ISDIR(m) || S_ISCHR(m) || S_ISLNK(m) || (fi->fdinfo.flags & O_PATH);
}

static int reg_dump(struct dump_ctx *ctx, const struct fd_dump_info *fi, FileEntry *fe) {
        const struct stat *st = &fi->st;
        RegFileEntry *re = xzalloc(sizeof(*re));
        reg_file_entry__init(re);
        fe->reg = re;
        re->mode = st->st_mode;
        re->rdev = st->st_rdev;
        re->uid = st->st_uid;
        re->gid = st->st_gid;
        re->mtime_ns = (uint64_t)st->st_mtim.tv_sec * 1000000000ULL + st->st_mtim.tv_nsec;
        re->size = S_ISREG(st->st_mode) ? st->st_size : 0;
        bool removed = proc_link_removed(fi->link, st, &re->path);
        char what[64];
        if (fi->fd >= 0)
                snprintf(what, sizeof(what), "fd %d", fi->fd);
        else
                snprintf(what, sizeof(what), "a mapped file");

        if (fi->link[0] != '/')
                return log_error_errno(-ENOTSUP, "pid %d: %s is '%s', not supported yet", fi->pid, what, fi->link);
        if (S_ISCHR(st->st_mode) && !(fi->fdinfo.flags & O_PATH)) {
                unsigned maj = major(st->st_rdev), min = minor(st->st_rdev);
                if (maj != 1 || !(min == 3 || min == 5 || min == 7 || min == 8 || min == 9))
                        return log_error_errno(-ENOTSUP, "pid %d: %s is the character device %s (%u:%u), not supported yet",
                                               fi->pid, what, re->path, maj, min);
        }
        if (S_ISREG(st->st_mode) && st->st_nlink == 0) {
                /* unlinked but open: keep the contents */
                re->unlinked = true;
                if (st->st_size > (1LL << 32))
                        return log_error_errno(-EFBIG, "pid %d: %s is an unlinked file of %lld bytes, too large to save",
                                               fi->pid, what, (long long)st->st_size);
                return dump_ctx_new_blob(ctx, fi->lfd, st->st_size, &fe->blob_id);
        }
        if (removed)
                return log_error_errno(-ENOTSUP, "pid %d: %s refers to removed '%s', not supported yet", fi->pid, what,
                                       re->path);
        struct stat now;
        if (stat(re->path, &now) < 0 || now.st_dev != st->st_dev || now.st_ino != st->st_ino)
                return log_error_errno(-ENOTSUP, "pid %d: %s ('%s') no longer has that name (renamed or replaced), not supported yet",
                                       fi->pid, what, re->path);
        return 0;
}

/* /proc/N/... of a process of the tree exists only once that process does:
 * such files are opened by the restored process itself. */
static bool names_restored_proc(const struct restore_ctx *ctx, const char *path) {
        int pid;
        char num[16];
        if (strncmp(path, "/proc/", 6) != 0 || sscanf(path + 6, "%15[0-9]", num) != 1 || parse_int(num, &pid) < 0)
                return false;
        for (size_t i = 0; i < ctx->pstree->n_tasks; i++)
                for (size_t k = 0; k < ctx->pstree->tasks[i]->n_threads; k++)
                        if (ctx->pstree->tasks[i]->threads[k] == (uint32_t)pid)
                                return true;
        return false;
}

static int reg_open(struct restore_ctx *ctx, const FileEntry *fe, int *ret_fd) {
        const RegFileEntry *re = fe->reg;
        int flags = (fe->flags & ~(O_CREAT | O_EXCL | O_TRUNC)) | O_CLOEXEC | O_NOCTTY;
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        int r;

        if (!re || !re->path)
                return log_error_errno(-EBADMSG, "file %u: no path in the image", fe->id);
        if (!ctx->in_child && names_restored_proc(ctx, re->path)) {
                *ret_fd = -1; /* deferred to the process itself */
                return 0;
        }
        if (re->tty)
                return log_error_errno(-EBADMSG, "file %u is a terminal saved by an older cryo; dump it again", fe->id);
        if (re->unlinked) {
                /* recreate, fill, open as it was, unlink */
                char tmp[PATH_MAX];
                _cleanup_close_ int wfd = open(re->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
                const char *name = re->path;
                if (wfd < 0) {
                        snprintf(tmp, sizeof(tmp), "%s.cryo-%u", re->path, fe->id);
                        unlink(tmp);
                        wfd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
                        name = tmp;
                }
                if (wfd < 0)
                        return log_error_errno(-errno, "cannot recreate the unlinked file '%s': %m", re->path);
                r = restore_ctx_blob_fill(ctx, fe->blob_id, wfd);
                if (r >= 0 && ftruncate(wfd, re->size) < 0)
                        r = -errno;
                if (r >= 0 && fchmod(wfd, re->mode & 07777) < 0)
                        r = -errno;
                if (r >= 0 && fchown(wfd, re->uid, re->gid) < 0)
                        r = -errno;
                if (r < 0) {
                        unlink(name);
                        return log_error_errno(r, "cannot recreate the unlinked file '%s': %m", re->path);
                }
                char self[64];
                snprintf(self, sizeof(self), "/proc/self/fd/%d", wfd);
                fd = open(self, flags);
                r = fd < 0 ? -errno : 0;
                unlink(name);
                if (r < 0)
                        return log_error_errno(r, "cannot reopen the unlinked file '%s': %m", re->path);
        } else {
                fd = open(re->path, flags, 0);
                if (fd < 0)
                        return log_error_errno(-errno, "cannot open '%s': %m", re->path);
        }
        if (fstat(fd, &st) < 0)
                return log_error_errno(-errno, "cannot stat '%s': %m", re->path);
        if ((st.st_mode & S_IFMT) != (re->mode & S_IFMT))
                return log_error_errno(-ESTALE, "'%s' is no longer the same kind of file", re->path);
        if (S_ISCHR(st.st_mode) && st.st_rdev != re->rdev)
                return log_error_errno(-ESTALE, "'%s' is now another device", re->path);
        if (re->mapped && S_ISREG(st.st_mode) && (uint64_t)st.st_size != re->size)
                return log_error_errno(-ESTALE, "'%s' changed size since the checkpoint (was %llu bytes, now %lld); its mapping cannot be restored",
                                       re->path, (unsigned long long)re->size, (long long)st.st_size);
        if (!(fe->flags & O_PATH)) {
                r = files_restore_flags_pos(fe, fd);
                if (r < 0)
                        return r;
        }
        *ret_fd = TAKE_FD(fd);
        return 0;
}

const struct file_ops reg_file_ops = {
        .kind = FILE_KIND__FK_REG,
        .name = "file",
        .match = reg_match,
        .dump = reg_dump,
        .open = reg_open,
};
