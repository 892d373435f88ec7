/* epoll: saves the registrations (target fd number, events, data) listed in
 * fdinfo ("tfd: N events: HEX data: HEX ..."). A registration is keyed by
 * (file, fd number) in the kernel and outlives close() of that number while
 * the file stays open elsewhere; each one is checked with
 * kcmp(KCMP_EPOLL_TFD) to still be the file the target holds at that number,
 * otherwise the dump is refused (the registration could not be re-created).
 *
 * Restore: open() is epoll_create1(); the registrations need the targets at
 * their final numbers, so post_fds() adds them with EPOLL_CTL_ADD inside the
 * restored process. An epoll shared by several fds or processes gets the
 * post_fds call once per holder, in no fixed order: registrations already
 * present (seen in the instance's own fdinfo) are skipped, and a holder
 * without the target fd leaves it to the others. That is only right if
 * every holder has, at each registered number, nothing or the registered
 * file: the dump checks this with kcmp and refuses otherwise.
 *
 * Readiness is recomputed by the kernel on insertion, so pending
 * level-triggered events reappear; an edge-triggered event that was
 * delivered but whose condition still holds is delivered once more. */
#define LOG_PREFIX "epoll: "
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>

#include "basic/kcompat.h"
#include "basic/log.h"
#include "basic/util.h"
#include "core/res/files.h"

struct cryo_kcmp_epoll_slot {
        uint32_t efd, tfd, toff;
};

static bool epoll_match(const struct fd_dump_info *fi) {
        return fi->link && strcmp(fi->link, "anon_inode:[eventpoll]") == 0;
}

/* Calls fn for every "tfd:" line of an epoll fdinfo text. */
static int for_each_tfd(const char *text, int (*fn)(void *userdata, int tfd, uint32_t events, uint64_t data),
                        void *userdata) {
        for (const char *line = text; line && *line;) {
                int tfd;
                unsigned events;
                unsigned long long data;
                if (strncmp(line, "tfd:", 4) == 0) {
                        if (sscanf(line, "tfd: %d events: %x data: %llx", &tfd, &events, &data) != 3)
                                return -EINVAL;
                        int r = fn(userdata, tfd, events, data);
                        if (r < 0)
                                return r;
                }
                line = strchr(line, '\n');
                if (line)
                        line++;
        }
        return 0;
}

static int add_tfd(void *userdata, int tfd, uint32_t events, uint64_t data) {
        EpollEntry *e = userdata;
        EpollTfdEntry *t = xzalloc(sizeof(*t));
        epoll_tfd_entry__init(t);
        t->tfd = tfd;
        t->events = events;
        t->data = data;
        e->tfds = xrealloc_array(e->tfds, e->n_tfds + 1, sizeof(*e->tfds));
        e->tfds[e->n_tfds++] = t;
        return 0;
}

/* Another process sharing this epoll runs post_fds() too, possibly first:
 * at each registered number it must hold either nothing or the registered
 * file, or restore would register the wrong one. */
static int check_other_holders(struct dump_ctx *ctx, const struct fd_dump_info *fi, const EpollEntry *e) {
        for (size_t i = 0; i < ctx->ntasks; i++) {
                pid_t pid = ctx->tasks[i].pid;
                _cleanup_free_ int *fds = NULL;
                size_t nfds = 0;
                bool holds = false;
                int r;

                if (pid == fi->pid)
                        continue;
                r = proc_list_fds(pid, &fds, &nfds);
                if (r < 0)
                        return log_error_errno(r, "pid %d: cannot list fds: %m", pid);
                for (size_t j = 0; j < nfds && !holds; j++)
                        holds = syscall(__NR_kcmp, fi->pid, pid, KCMP_FILE, fi->fd, fds[j]) == 0;
                if (!holds)
                        continue;
                for (size_t j = 0; j < e->n_tfds; j++) {
                        struct cryo_kcmp_epoll_slot slot = { .efd = fi->fd, .tfd = e->tfds[j]->tfd };
                        long k = syscall(__NR_kcmp, pid, fi->pid, KCMP_EPOLL_TFD, e->tfds[j]->tfd, &slot);
                        if (k == 0 || (k < 0 && errno == EBADF))
                                continue;
                        return log_error_errno(-ENOTSUP,
                                               "pid %d: epoll fd %d watches fd %d, and pid %d, which shares that "
                                               "epoll, holds another file at fd %d, not supported",
                                               fi->pid, fi->fd, e->tfds[j]->tfd, pid, e->tfds[j]->tfd);
                }
        }
        return 0;
}

static int epoll_dump(struct dump_ctx *ctx, const struct fd_dump_info *fi, FileEntry *fe) {
        int r;

        EpollEntry *e = xzalloc(sizeof(*e));
        epoll_entry__init(e);
        fe->epoll = e;

        r = for_each_tfd(fi->fdinfo.text, add_tfd, e);
        if (r < 0)
                return log_error_errno(r, "pid %d: fd %d: cannot parse epoll fdinfo", fi->pid, fi->fd);

        for (size_t i = 0; i < e->n_tfds; i++) {
                struct cryo_kcmp_epoll_slot slot = { .efd = fi->fd, .tfd = e->tfds[i]->tfd };
                /* the same number may be registered more than once (with
                 * different files): toff selects among them */
                for (size_t j = 0; j < i; j++)
                        if (e->tfds[j]->tfd == e->tfds[i]->tfd)
                                slot.toff++;
                long k = syscall(__NR_kcmp, fi->pid, fi->pid, KCMP_EPOLL_TFD, e->tfds[i]->tfd, &slot);
                if (k != 0)
                        return log_error_errno(-ENOTSUP,
                                               "pid %d: epoll fd %d watches fd %d that was closed or replaced, "
                                               "not supported",
                                               fi->pid, fi->fd, e->tfds[i]->tfd);
                log_debug("pid %d: epoll fd %d: tfd %d events %#x data %#llx", fi->pid, fi->fd, e->tfds[i]->tfd,
                          e->tfds[i]->events, (unsigned long long)e->tfds[i]->data);
        }
        if (e->n_tfds)
                return check_other_holders(ctx, fi, e);
        return 0;
}

static int epoll_open(struct restore_ctx *ctx, const FileEntry *fe, int *ret_fd) {
        _cleanup_close_ int fd = -EBADF;
        int r;

        if (!fe->epoll)
                return log_error_errno(-EBADMSG, "file %u: epoll entry missing", fe->id);
        fd = epoll_create1(EPOLL_CLOEXEC);
        if (fd < 0)
                return log_error_errno(-errno, "file %u: cannot create epoll: %m", fe->id);
        r = files_restore_flags_pos(fe, fd);
        if (r < 0)
                return r;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

struct present {
        int *tfds;
        size_t n, cap;
};

static int note_present(void *userdata, int tfd, uint32_t events, uint64_t data) {
        struct present *p = userdata;
        *ARRAY_PUSH(p->tfds, p->n, p->cap) = tfd;
        return 0;
}

static int epoll_post_fds(struct restore_ctx *ctx, const FileEntry *fe, int fd) {
        struct proc_fdinfo f = {};
        struct present p = {};
        pid_t pid = getpid();
        int r;

        if (!fe->epoll || fe->epoll->n_tfds == 0)
                return 0;
        r = proc_read_fdinfo(pid, fd, &f);
        if (r < 0)
                return log_error_errno(r, "pid %d: cannot read fdinfo of epoll fd %d: %m", pid, fd);
        r = for_each_tfd(f.text, note_present, &p);
        proc_fdinfo_done(&f);
        if (r < 0) {
                free(p.tfds);
                return log_error_errno(r, "pid %d: cannot parse fdinfo of epoll fd %d", pid, fd);
        }

        for (size_t i = 0; i < fe->epoll->n_tfds; i++) {
                const EpollTfdEntry *t = fe->epoll->tfds[i];
                struct epoll_event ev = { .events = t->events, .data.u64 = t->data };
                bool done = false;

                for (size_t j = 0; j < p.n && !done; j++)
                        done = p.tfds[j] == t->tfd;
                if (done)
                        continue; /* added by another holder of this epoll */
                if (epoll_ctl(fd, EPOLL_CTL_ADD, t->tfd, &ev) < 0) {
                        if (errno == EEXIST) {
                                /* another holder of this epoll added it meanwhile (the dump
                                 * checked every holder has the same file at that number) */
                                continue;
                        }
                        if (errno == EBADF) {
                                /* not this process's: another holder has it */
                                log_debug("pid %d: epoll fd %d: fd %d not here, left to another holder", pid, fd,
                                          t->tfd);
                                continue;
                        }
                        r = log_error_errno(-errno, "pid %d: epoll fd %d: cannot watch fd %d (events %#x): %m", pid,
                                            fd, t->tfd, t->events);
                        free(p.tfds);
                        return r;
                }
        }
        free(p.tfds);
        return 0;
}

const struct file_ops epoll_ops = {
        .kind = FILE_KIND__FK_EPOLL,
        .name = "epoll",
        .match = epoll_match,
        .dump = epoll_dump,
        .open = epoll_open,
        .post_fds = epoll_post_fds,
};
