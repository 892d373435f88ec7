/* POSIX message queues: an mqd_t is an fd on the IPC namespace's mqueue
 * filesystem ("/NAME" in /proc/PID/fd, " (deleted)" after mq_unlink()).
 *
 * Dump: the name, the attributes (mq_getsetattr: maxmsg, msgsize; the
 * O_NONBLOCK of mq_flags is the file's status flag, saved like any other),
 * owner and mode (fstat), and the queued messages with their priorities.
 * There is no way to peek at a queue: cryo reads every message out through
 * its own read-write open of the queue (/proc/self/fd of its pidfd_getfd
 * copy, O_NONBLOCK) and sends them back in the same order with the same
 * priorities at once. The tree is frozen, so none of its processes sees it;
 * the queue is left exactly as it was (order within a priority included),
 * which --leave-running needs. A process outside the tree using the queue at
 * that very moment could see it empty for a moment. Several open file
 * descriptions of one queue (by inode) save the messages once.
 * Refused: an mq_notify() registration (NOTIFY_PID in what read() of the
 * queue returns): the sigevent cannot be read back, and refilling the queue
 * would fire it.
 *
 * A queue opened through a mount of the mqueue filesystem (open() of
 * /dev/mqueue/NAME) is saved by its NAME and comes back mq_open()ed: its
 * /proc/PID/fd link then reads "/NAME".
 *
 * Restore: a queue whose name exists is the original when its maxmsg,
 * msgsize, owner and mode match -- a dump leaves a named queue in place, it
 * may be shared with processes outside the tree -- and is opened as it is,
 * not refilled (cryo never empties or unlinks a queue it did not create).
 * Any other queue of that name refuses the restore. A missing queue is
 * created (O_CREAT|O_EXCL, with the attributes), chowned, chmodded and
 * filled; an unlinked one is created under its name (a temporary one if a
 * new queue has that name now) and unlinked at once. If the restore fails, the queues it created are unlinked
 * (ipc.c). Cryo keeps one read-write fd per queue in the stash; every file
 * of the tree is a reopen of it through /proc/self/fd with its own access
 * mode, then gets its status flags (O_NONBLOCK). */
#define LOG_PREFIX "mqueue: "
#include <fcntl.h>
#include <mqueue.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>

#include "basic/kcompat.h"
#include "basic/log.h"
#include "basic/util.h"
#include "core/res/files.h"
#include "core/res/ipc.h"

#ifndef MQUEUE_MAGIC
#define MQUEUE_MAGIC 0x19800202
#endif
#define DELETED_SUFFIX " (deleted)"

static uint64_t mqueue_key(uint64_t ino) {
        return ((uint64_t)FILE_KIND__FK_MQUEUE << 56) | (ino & ((1ULL << 56) - 1));
}

static int mq_getattr_fd(int fd, struct mq_attr *ret) {
        return syscall(__NR_mq_getsetattr, fd, NULL, ret) < 0 ? -errno : 0;
}

static bool mqueue_match(const struct fd_dump_info *fi) {
        struct statfs s;
        return fi->link && fi->link[0] == '/' && S_ISREG(fi->st.st_mode) && fstatfs(fi->lfd, &s) == 0 &&
               (uint32_t)s.f_type == MQUEUE_MAGIC;
}

/* Reads every message out of the queue and puts them back. */
static int drain_and_refill(const struct fd_dump_info *fi, int rfd, const MqueueEntry *e, MqueueEntry *out) {
        _cleanup_free_ char *buf = xzalloc(e->msgsize + 1);
        size_t cap = 0;
        int r = 0;

        for (;;) {
                unsigned prio;
                ssize_t n = syscall(__NR_mq_timedreceive, rfd, buf, (size_t)e->msgsize, &prio, NULL);
                if (n < 0) {
                        if (errno != EAGAIN)
                                r = log_error_errno(-errno, "pid %d: fd %d: cannot read POSIX message queue '/%s': %m",
                                                    fi->pid, fi->fd, e->name);
                        break;
                }
                if (out->n_msgs == cap) {
                        cap = cap ? cap * 2 : 16;
                        out->msgs = xrealloc_array(out->msgs, cap, sizeof(*out->msgs));
                }
                MqueueMsgEntry *m = xzalloc(sizeof(*m));
                mqueue_msg_entry__init(m);
                m->prio = prio;
                m->data.len = n;
                m->data.data = xzalloc(n + 1);
                memcpy(m->data.data, buf, n);
                out->msgs[out->n_msgs++] = m;
        }
        /* back in the order they came out: the queue is as it was */
        for (size_t i = 0; i < out->n_msgs; i++) {
                const MqueueMsgEntry *m = out->msgs[i];
                if (syscall(__NR_mq_timedsend, rfd, m->data.data, m->data.len, m->prio, NULL) < 0) {
                        int k = log_error_errno(-errno, "pid %d: fd %d: could not put message %zu of %zu back into POSIX message queue '/%s': %m",
                                                fi->pid, fi->fd, i + 1, out->n_msgs, e->name);
                        if (r >= 0)
                                r = k;
                }
        }
        return r;
}

static int mqueue_dump(struct dump_ctx *ctx, const struct fd_dump_info *fi, FileEntry *fe) {
        _cleanup_close_ int rfd = -EBADF;
        struct mq_attr attr;
        char proc[64], text[256];
        /* "/NAME", or a path through a mount of the mqueue filesystem (/dev/mqueue/NAME) */
        const char *name = strrchr(fi->link, '/') + 1;
        size_t len = strlen(name);
        int r;

        MqueueEntry *e = xzalloc(sizeof(*e));
        mqueue_entry__init(e);
        fe->mqueue = e;
        if (len >= strlen(DELETED_SUFFIX) && strcmp(name + len - strlen(DELETED_SUFFIX), DELETED_SUFFIX) == 0) {
                len -= strlen(DELETED_SUFFIX);
                e->unlinked = true;
        }
        e->name = strndup(name, len);
        if (!e->name)
                return -ENOMEM;
        e->mode = fi->st.st_mode & 07777;
        e->uid = fi->st.st_uid;
        e->gid = fi->st.st_gid;
        r = mq_getattr_fd(fi->lfd, &attr);
        if (r < 0)
                return log_error_errno(r, "pid %d: fd %d: cannot read the attributes of POSIX message queue '/%s': %m",
                                       fi->pid, fi->fd, e->name);
        e->maxmsg = attr.mq_maxmsg;
        e->msgsize = attr.mq_msgsize;
        if (e->msgsize <= 0 || e->msgsize > (1 << 24))
                return log_error_errno(-EINVAL, "pid %d: fd %d: POSIX message queue '/%s' has a message size of %lld",
                                       fi->pid, fi->fd, e->name, (long long)e->msgsize);

        /* cryo's copy may be write-only: its own read-write, non-blocking open */
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fi->lfd);
        rfd = open(proc, O_RDWR | O_NONBLOCK | O_CLOEXEC);
        if (rfd < 0)
                return log_error_errno(-errno, "pid %d: fd %d: cannot open POSIX message queue '/%s': %m", fi->pid,
                                       fi->fd, e->name);
        /* "QSIZE:... NOTIFY:... SIGNO:... NOTIFY_PID:..." (pread: no file position moves) */
        ssize_t n = pread(rfd, text, sizeof(text) - 1, 0);
        if (n < 0)
                return log_error_errno(-errno, "pid %d: fd %d: cannot read the state of POSIX message queue '/%s': %m",
                                       fi->pid, fi->fd, e->name);
        text[n] = 0;
        const char *np = strstr(text, "NOTIFY_PID:");
        if (np && atoi(np + strlen("NOTIFY_PID:")) != 0)
                return log_error_errno(-ENOTSUP, "pid %d: fd %d: POSIX message queue '/%s' has an mq_notify() registration (by pid %d), not supported yet",
                                       fi->pid, fi->fd, e->name, atoi(np + strlen("NOTIFY_PID:")));

        /* another open file description of the same queue saved the messages */
        for (size_t i = 0; i < ctx->nfiles; i++) {
                const FileEntry *o = ctx->files[i];
                if (o != fe && o->kind == FILE_KIND__FK_MQUEUE && o->ino == fe->ino && o->mqueue &&
                    o->mqueue->holds_msgs)
                        return 0;
        }
        e->holds_msgs = true;
        r = drain_and_refill(fi, rfd, e, e);
        if (r < 0)
                return r;
        struct mq_attr after;
        if (mq_getattr_fd(rfd, &after) == 0 && after.mq_curmsgs != attr.mq_curmsgs)
                return log_error_errno(-EAGAIN, "pid %d: fd %d: POSIX message queue '/%s' changed while it was read (a process outside the tree uses it?)",
                                       fi->pid, fi->fd, e->name);
        log_debug("pid %d: fd %d: POSIX message queue '/%s'%s: %zu message(s), maxmsg %lld msgsize %lld", fi->pid,
                  fi->fd, e->name, e->unlinked ? " (unlinked)" : "", e->n_msgs, (long long)e->maxmsg,
                  (long long)e->msgsize);
        return 0;
}

/* The entry of the same queue that carries its messages (or NULL). */
static const MqueueEntry *messages_of(const struct restore_ctx *ctx, const FileEntry *fe) {
        if (fe->mqueue->holds_msgs)
                return fe->mqueue;
        for (size_t i = 0; i < ctx->files->n_files; i++) {
                const FileEntry *o = ctx->files->files[i];
                if (o->kind == FILE_KIND__FK_MQUEUE && o->ino == fe->ino && o->mqueue && o->mqueue->holds_msgs)
                        return o->mqueue;
        }
        return NULL;
}

/* cryo's read-write fd on the queue: the original if it is still there,
 * else a new queue, filled. */
static int queue_open(struct restore_ctx *ctx, const FileEntry *fe, int *ret_fd) {
        const MqueueEntry *e = fe->mqueue;
        _cleanup_close_ int fd = -EBADF;
        struct mq_attr attr = { .mq_maxmsg = e->maxmsg, .mq_msgsize = e->msgsize };
        char tmp[64];
        const char *name = e->name;
        struct stat st;
        int r;

        if (!e->unlinked) {
                fd = syscall(__NR_mq_open, e->name, O_RDWR | O_NONBLOCK | O_CLOEXEC, 0, NULL);
                if (fd >= 0) {
                        struct mq_attr cur;
                        if (mq_getattr_fd(fd, &cur) < 0 || fstat(fd, &st) < 0)
                                return log_error_errno(-errno, "file %u: cannot look at POSIX message queue '/%s': %m",
                                                       fe->id, e->name);
                        if (cur.mq_maxmsg != e->maxmsg || cur.mq_msgsize != e->msgsize ||
                            (st.st_mode & 07777) != e->mode || st.st_uid != e->uid || st.st_gid != e->gid)
                                return log_error_errno(-EEXIST, "POSIX message queue '/%s' exists with other attributes (maxmsg %ld, msgsize %ld, mode %o, owner %u:%u); cannot restore it",
                                                       e->name, (long)cur.mq_maxmsg, (long)cur.mq_msgsize,
                                                       st.st_mode & 07777, st.st_uid, st.st_gid);
                        log_info("POSIX message queue '/%s' is still there: used as it is", e->name);
                        *ret_fd = TAKE_FD(fd);
                        return 0;
                }
                if (errno != ENOENT)
                        return log_error_errno(-errno, "file %u: cannot open POSIX message queue '/%s': %m", fe->id,
                                               e->name);
        }
        fd = syscall(__NR_mq_open, name, O_RDWR | O_NONBLOCK | O_CREAT | O_EXCL | O_CLOEXEC, 0600, &attr);
        if (fd < 0 && errno == EEXIST && e->unlinked) {
                /* a new queue has the name now: the unlinked one only shows it in /proc/PID/fd */
                snprintf(tmp, sizeof(tmp), "cryo-%d-%llu", getpid(), (unsigned long long)fe->ino);
                log_warn("file %u: the name of unlinked POSIX message queue '/%s' is taken: it is restored as '/%s (deleted)'",
                         fe->id, e->name, tmp);
                name = tmp;
                fd = syscall(__NR_mq_open, name, O_RDWR | O_NONBLOCK | O_CREAT | O_EXCL | O_CLOEXEC, 0600, &attr);
        }
        if (fd < 0)
                return log_error_errno(-errno, "file %u: cannot create POSIX message queue '/%s' (maxmsg %lld, msgsize %lld): %m",
                                       fe->id, name, (long long)e->maxmsg, (long long)e->msgsize);
        if (e->unlinked)
                syscall(__NR_mq_unlink, name);
        else
                ipc_restore_created_mqueue(ctx, name);
        if (fchown(fd, e->uid, e->gid) < 0 || fchmod(fd, e->mode) < 0)
                return log_error_errno(-errno, "file %u: cannot give POSIX message queue '/%s' owner %u:%u and mode %o: %m",
                                       fe->id, e->name, e->uid, e->gid, e->mode);
        const MqueueEntry *src = messages_of(ctx, fe);
        for (size_t i = 0; src && i < src->n_msgs; i++) {
                const MqueueMsgEntry *m = src->msgs[i];
                if (syscall(__NR_mq_timedsend, fd, m->data.data, m->data.len, m->prio, NULL) < 0) {
                        r = log_error_errno(-errno, "file %u: cannot put message %zu back into POSIX message queue '/%s': %m",
                                            fe->id, i + 1, e->name);
                        return r;
                }
        }
        log_debug("file %u: POSIX message queue '/%s'%s created with %zu message(s)", fe->id, e->name,
                  e->unlinked ? " (unlinked)" : "", src ? src->n_msgs : 0);
        *ret_fd = TAKE_FD(fd);
        return 0;
}

static int mqueue_open(struct restore_ctx *ctx, const FileEntry *fe, int *ret_fd) {
        _cleanup_close_ int fd = -EBADF, qfd = -EBADF;
        uint64_t key = mqueue_key(fe->ino);
        char proc[64];
        int r;

        if (!fe->mqueue || !fe->mqueue->name)
                return log_error_errno(-EBADMSG, "file %u: message queue entry missing", fe->id);
        r = restore_ctx_take_fd(ctx, key);
        if (r >= 0)
                qfd = r; /* the queue exists already: one more open file description */
        else {
                r = queue_open(ctx, fe, &qfd);
                if (r < 0)
                        return r;
                r = restore_ctx_move_high(ctx, TAKE_FD(qfd));
                if (r < 0)
                        return r;
                qfd = r;
        }
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", qfd);
        fd = open(proc, (fe->flags & O_ACCMODE) | O_CLOEXEC);
        r = fd < 0 ? -errno : 0;
        int k = restore_ctx_stash_fd(ctx, key, TAKE_FD(qfd));
        if (r < 0)
                return log_error_errno(r, "file %u: cannot open POSIX message queue '/%s': %m", fe->id,
                                       fe->mqueue->name);
        if (k < 0)
                return k;
        r = files_restore_flags_pos(fe, fd);
        if (r < 0)
                return r;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

const struct file_ops mqueue_ops = {
        .kind = FILE_KIND__FK_MQUEUE,
        .name = "mqueue",
        .match = mqueue_match,
        .dump = mqueue_dump,
        .open = mqueue_open,
};
