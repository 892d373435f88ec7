/* inotify: saves every watch (wd, mask, and the path of the watched inode).
 * fdinfo gives, per watch, the inode, the superblock's device in the
 * kernel's internal encoding (MAJOR << 20 | MINOR) and a file handle; cryo
 * opens the handle with open_by_handle_at() through a mount of that device
 * (found in /proc/self/mountinfo; needs CAP_DAC_READ_SEARCH) and reads the
 * path back from /proc/self/fd. A watch whose inode has no reachable path
 * (deleted, or on a device not mounted here) is refused.
 *
 * Restore: inotify_init1(), then the watches in ascending wd order. Each must
 * get its original wd, and the kernel hands wds out cyclically
 * (idr_alloc_cyclic), so a watch is added and removed until the allocator
 * reaches the wanted number, as CRIU does. The removals queue IN_IGNORED
 * events, which are drained at the end. Events queued at dump time are not
 * saved (fdinfo does not show them). */
#define LOG_PREFIX "inotify: "
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "basic/kcompat.h"
#include "basic/log.h"
#include "basic/util.h"
#include "core/res/files.h"

#define MAX_HANDLE_BYTES 128

struct watch_info {
        int wd;
        uint32_t mask;
        uint64_t ino;
        uint64_t sdev; /* kernel encoding */
        int handle_type;
        unsigned handle_bytes;
        unsigned char handle[MAX_HANDLE_BYTES];
};

static bool inotify_match(const struct fd_dump_info *fi) {
        return fi->link && strcmp(fi->link, "anon_inode:inotify") == 0;
}

static int parse_watch(const char *line, struct watch_info *w) {
        unsigned long long ino, sdev;
        unsigned mask, ignored, bytes;
        int wd, type, n = 0;
        const char *hex;

        if (sscanf(line, "inotify wd:%d ino:%llx sdev:%llx mask:%x ignored_mask:%x fhandle-bytes:%x fhandle-type:%x "
                         "f_handle:%n",
                   &wd, &ino, &sdev, &mask, &ignored, &bytes, &type, &n) != 7 ||
            n == 0)
                return -EINVAL;
        if (bytes > MAX_HANDLE_BYTES)
                return -E2BIG;
        hex = line + n;
        for (unsigned i = 0; i < bytes; i++) {
                unsigned b;
                if (sscanf(hex + 2 * i, "%2x", &b) != 1)
                        return -EINVAL;
                w->handle[i] = b;
        }
        w->wd = wd;
        w->ino = ino;
        w->sdev = sdev;
        w->mask = mask;
        w->handle_bytes = bytes;
        w->handle_type = type;
        return 0;
}

/* mountinfo escapes ' ', '\t', '\n' and '\\' as \ooo */
static void unescape_octal(char *s) {
        char *d = s;
        for (; *s; s++) {
                if (s[0] == '\\' && s[1] >= '0' && s[1] <= '7' && s[2] >= '0' && s[2] <= '7' && s[3] >= '0' &&
                    s[3] <= '7') {
                        *d++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
                        s += 3;
                } else
                        *d++ = *s;
        }
        *d = 0;
}

/* Resolve the watch's inode to a path, through each mount of its device in
 * turn (mounts of the whole filesystem first). */
static int resolve_watch(const struct watch_info *w, char **ret_path) {
        _cleanup_free_ char *text = NULL;
        unsigned maj = KDEV_MAJOR(w->sdev), min = KDEV_MINOR(w->sdev);
        int r = -ENOENT;

        r = read_full_file("/proc/self/mountinfo", &text, NULL);
        if (r < 0)
                return r;
        r = -ENOENT;
        for (int pass = 0; pass < 2; pass++)
                for (char *line = text; line && *line;) {
                        char *next = strchr(line, '\n');
                        char root[PATH_MAX], mnt[PATH_MAX];
                        unsigned mj, mn;
                        if (next)
                                *next = 0;
                        if (sscanf(line, "%*d %*d %u:%u %4095s %4095s", &mj, &mn, root, mnt) == 4 && mj == maj &&
                            mn == min && (strcmp(root, "/") == 0) == (pass == 0)) {
                                _cleanup_close_ int mfd = -EBADF, hfd = -EBADF;
                                char buf[sizeof(struct file_handle) + MAX_HANDLE_BYTES] __attribute__((aligned(8)));
                                struct file_handle *fh = (struct file_handle *)buf;
                                char proc[64], path[PATH_MAX + 1];
                                struct stat st;
                                ssize_t n;

                                unescape_octal(mnt);
                                mfd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                                fh->handle_bytes = w->handle_bytes;
                                fh->handle_type = w->handle_type;
                                memcpy(fh->f_handle, w->handle, w->handle_bytes);
                                if (mfd >= 0)
                                        hfd = open_by_handle_at(mfd, fh, O_PATH | O_CLOEXEC);
                                if (hfd < 0) {
                                        r = mfd < 0 || errno == ESTALE ? -ENOENT : -errno;
                                        goto next;
                                }
                                snprintf(proc, sizeof(proc), "/proc/self/fd/%d", hfd);
                                n = readlink(proc, path, sizeof(path) - 1);
                                if (n <= 0 || path[0] != '/')
                                        goto next;
                                path[n] = 0;
                                /* the path must lead back to the same inode
                                 * (not deleted, not a disconnected dentry).
                                 * Only the inode number is compared: st_dev
                                 * differs from the superblock's device on
                                 * btrfs subvolumes and overlayfs. */
                                if (lstat(path, &st) < 0 || st.st_ino != w->ino)
                                        goto next;
                                *ret_path = xstrdup(path);
                                return S_ISLNK(st.st_mode) ? 1 : 0;
                        }
                next:
                        if (next)
                                *next = '\n';
                        line = next ? next + 1 : NULL;
                }
        return r;
}

static int inotify_dump(struct dump_ctx *ctx, const struct fd_dump_info *fi, FileEntry *fe) {
        int r;

        InotifyEntry *e = xzalloc(sizeof(*e));
        inotify_entry__init(e);
        fe->inotify = e;

        for (const char *line = fi->fdinfo.text; line && *line;) {
                if (strncmp(line, "inotify ", 8) == 0) {
                        struct watch_info w = {};
                        char *path = NULL;

                        r = parse_watch(line, &w);
                        if (r < 0)
                                return log_error_errno(r, "pid %d: fd %d: cannot parse inotify watch '%.80s'", fi->pid,
                                                       fi->fd, line);
                        r = resolve_watch(&w, &path);
                        if (r < 0)
                                return log_error_errno(r,
                                                       "pid %d: fd %d: inotify watch %d is on inode %llu of device "
                                                       "%u:%u that has no path here (deleted or not mounted), "
                                                       "not supported",
                                                       fi->pid, fi->fd, w.wd, (unsigned long long)w.ino,
                                                       KDEV_MAJOR(w.sdev), KDEV_MINOR(w.sdev));
                        InotifyWdEntry *we = xzalloc(sizeof(*we));
                        inotify_wd_entry__init(we);
                        we->wd = w.wd;
                        /* a watch on a symlink itself was added with IN_DONT_FOLLOW */
                        we->mask = w.mask | (r == 1 ? IN_DONT_FOLLOW : 0);
                        we->path = path;
                        we->ino = w.ino;
                        we->dev = makedev(KDEV_MAJOR(w.sdev), KDEV_MINOR(w.sdev));
                        e->wds = xrealloc_array(e->wds, e->n_wds + 1, sizeof(*e->wds));
                        e->wds[e->n_wds++] = we;
                        log_debug("pid %d: fd %d: watch %d mask %#x on '%s'", fi->pid, fi->fd, we->wd, we->mask,
                                  we->path);
                }
                line = strchr(line, '\n');
                if (line)
                        line++;
        }
        return 0;
}

static int cmp_wd(const void *a, const void *b) {
        const InotifyWdEntry *x = *(InotifyWdEntry *const *)a, *y = *(InotifyWdEntry *const *)b;
        return x->wd < y->wd ? -1 : x->wd > y->wd;
}

static int inotify_open(struct restore_ctx *ctx, const FileEntry *fe, int *ret_fd) {
        _cleanup_free_ InotifyWdEntry **wds = NULL;
        _cleanup_close_ int fd = -EBADF;
        const InotifyEntry *e = fe->inotify;
        int r;

        if (!e)
                return log_error_errno(-EBADMSG, "file %u: inotify entry missing", fe->id);
        fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
        if (fd < 0)
                return log_error_errno(-errno, "file %u: cannot create inotify: %m", fe->id);

        wds = xrealloc_array(NULL, e->n_wds ? e->n_wds : 1, sizeof(*wds));
        memcpy(wds, e->wds, e->n_wds * sizeof(*wds));
        qsort(wds, e->n_wds, sizeof(*wds), cmp_wd);
        for (size_t i = 0; i < e->n_wds; i++) {
                const InotifyWdEntry *we = wds[i];
                uint64_t tries = 0;
                for (;;) {
                        int wd = inotify_add_watch(fd, we->path, we->mask);
                        if (wd < 0)
                                return log_error_errno(-errno, "file %u: cannot watch '%s' (mask %#x): %m", fe->id,
                                                       we->path, we->mask);
                        if (wd == we->wd)
                                break;
                        if (wd > we->wd || (i > 0 && wd <= wds[i - 1]->wd))
                                /* overshot, or the path is the inode of an
                                 * earlier watch (it got renamed over?) */
                                return log_error_errno(-EEXIST,
                                                       "file %u: watch on '%s' got wd %d, cannot get back its wd %d",
                                                       fe->id, we->path, wd, we->wd);
                        if (inotify_rm_watch(fd, wd) < 0)
                                return log_error_errno(-errno, "file %u: cannot remove watch %d: %m", fe->id, wd);
                        if (++tries % 100000 == 0)
                                log_debug("file %u: still stepping towards wd %d (at %d)", fe->id, we->wd, wd);
                }
        }
        /* drop the IN_IGNORED events of the removals above */
        for (;;) {
                char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
                ssize_t n = read(fd, buf, sizeof(buf));
                if (n <= 0)
                        break;
        }
        r = files_restore_flags_pos(fe, fd);
        if (r < 0)
                return r;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

const struct file_ops inotify_ops = {
        .kind = FILE_KIND__FK_INOTIFY,
        .name = "inotify",
        .match = inotify_match,
        .dump = inotify_dump,
        .open = inotify_open,
};
