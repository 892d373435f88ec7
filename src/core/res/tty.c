/* Terminals.
 *
 * Pty pairs inside the tree. A pty master (/dev/ptmx) held in the tree is
 * restored with its number N (cryo opens /dev/ptmx until the kernel hands
 * out N, holding the numbers it does not want until then), with the slave's
 * termios, window size, packet mode, lock and exclusive state, the session
 * it is the controlling terminal of and that session's foreground group,
 * and the bytes queued in both directions. Slaves are reopened as
 * /dev/pts/N; /dev/tty fds that named the pty are reopened as /dev/tty by
 * their process once it has its controlling terminal back.
 *
 * There is no way to peek at a tty's queues, so the dump reads them out and
 * writes them straight back, the way restore writes them:
 *   - towards the master (what the slave side wrote, after output
 *     processing, and echoes): read from the master, whose line discipline
 *     is always raw; written back on the slave with OPOST off;
 *   - towards the slave (what was written on the master, after input
 *     processing): in canonical mode read one line per read(), then the
 *     unfinished line with ICANON off; in raw mode read as it is. Written
 *     back on the master with the slave's input processing off, ECHO on,
 *     and every special character disabled but '\n' and, as bytes the data
 *     does not contain, an EOF (lines ended by ^D), a ^V (newlines typed
 *     literally) and an erase; the echo tells when the kernel is done with
 *     the bytes (in canonical mode a last character typed and erased closes
 *     the stream), then it is read away and the real termios put back.
 * What cannot be written back faithfully is refused before anything is
 * read (a packet-mode status byte, a line discipline other than N_TTY,
 * EXTPROC, bytes on the master of a slave never opened); if the lines read
 * cannot be written back as lines (they use every byte value) their bytes
 * go back raw and the dump is refused.
 *
 * A session's controlling terminal is taken by its leader right after
 * setsid(), before it forks the rest of the session (so every member
 * inherits it); the foreground group is set once every group exists, by a
 * remote ioctl in the leader (TIOCSPGRP only works from inside the
 * session).
 *
 * Any other terminal (a pty slave whose master is outside the tree, a
 * virtual console, /dev/tty of a session outside the tree) is the job's
 * terminal: with --shell-job its fds are reopened on the restoring cryo's
 * terminal, and the tree's process group that was in its foreground is put
 * in the foreground of cryo's terminal. Its termios and window size are
 * left alone: it is the user's terminal now. */
#define LOG_PREFIX "tty: "
#include "core/res/tty.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <termios.h>
#include <time.h>

#include "basic/log.h"
#include "basic/proc.h"
#include "basic/util.h"
#include "core/res/files.h"

/* the kernel's struct termios2 (glibc has no such type; asm/ioctls.h wants it for TCGETS2) */
struct termios2 {
        tcflag_t c_iflag, c_oflag, c_cflag, c_lflag;
        cc_t c_line;
        cc_t c_cc[19];
        speed_t c_ispeed, c_ospeed;
};
#define KNCCS 19

enum { TTY_PTM = 1, TTY_PTS = 2, TTY_DEV_TTY = 3, TTY_OTHER = 4 };

#define STASH_PTM 0x7474790100000000ULL /* master of pty N, until its open() */
#define STASH_PTS 0x7474790200000000ULL /* cryo's slave of pty N, until the tree is set up */

#define MAX_QUEUE (1 << 20)
#define N_TTY_BUF_SIZE_ 4096 /* the line discipline's read buffer */

/* pty number of a /dev/pts/N device, or -1 */
static int pts_index(uint64_t rdev) {
        unsigned maj = major(rdev), min = minor(rdev);
        if (maj < 136 || maj > 143)
                return -1;
        return (int)((maj - 136) * 256 + min);
}

static bool is_tty_major(unsigned maj) {
        return maj == 4 || maj == 5 || (maj >= 136 && maj <= 143);
}

static int tcget2(int fd, struct termios2 *t) {
        return ioctl(fd, TCGETS2, t) < 0 ? -errno : 0;
}

static int tcset2(int fd, const struct termios2 *t) {
        return ioctl(fd, TCSETS2, t) < 0 ? -errno : 0;
}

static int inq(int fd) {
        int n = 0;
        return ioctl(fd, TIOCINQ, &n) < 0 ? -errno : n;
}

static short poll_now(int fd, short events) {
        struct pollfd p = { .fd = fd, .events = events };
        return poll(&p, 1, 0) > 0 ? p.revents : 0;
}

static void sleep_ms(long ms) {
        struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
        nanosleep(&ts, NULL);
}

static void termios_to_pair(const struct termios2 *t, TtyPairEntry *p) {
        p->iflag = t->c_iflag;
        p->oflag = t->c_oflag;
        p->cflag = t->c_cflag;
        p->lflag = t->c_lflag;
        p->line = t->c_line;
        p->cc.data = xzalloc(KNCCS);
        memcpy(p->cc.data, t->c_cc, KNCCS);
        p->cc.len = KNCCS;
        p->ispeed = t->c_ispeed;
        p->ospeed = t->c_ospeed;
}

static void termios_from_pair(const TtyPairEntry *p, struct termios2 *t) {
        memset(t, 0, sizeof(*t));
        t->c_iflag = p->iflag;
        t->c_oflag = p->oflag;
        t->c_cflag = p->cflag;
        t->c_lflag = p->lflag;
        t->c_line = p->line;
        memcpy(t->c_cc, p->cc.data, MIN(p->cc.len, (size_t)KNCCS));
        t->c_ispeed = p->ispeed;
        t->c_ospeed = p->ospeed;
}

static void bytes_append(ProtobufCBinaryData *b, const void *data, size_t len) {
        b->data = xrealloc_array(b->data, b->len + len + 1, 1);
        memcpy(b->data + b->len, data, len);
        b->len += len;
}

/* ------------------------------------------------------------ the queues */

/* A pty being read or written: the master, a slave of cryo's own (non-blocking). */
struct pty_io {
        int m, s;
        unsigned index;
        pid_t pid; /* for messages: who holds the master (0 at restore) */
        int fd;
};

static const char *io_what(const struct pty_io *io, char *buf, size_t n) {
        if (io->pid)
                snprintf(buf, n, "pid %d: fd %d: pty %u", io->pid, io->fd, io->index);
        else
                snprintf(buf, n, "pty %u", io->index);
        return buf;
}

static int write_full(int fd, const void *data, size_t len) {
        const char *p = data;
        for (int idle = 0; len > 0;) {
                ssize_t n = write(fd, p, len);
                if (n > 0) {
                        p += n;
                        len -= n;
                        idle = 0;
                        continue;
                }
                if (n < 0 && errno != EAGAIN && errno != EINTR)
                        return -errno;
                if (++idle > 2000)
                        return -ETIMEDOUT;
                sleep_ms(1);
        }
        return 0;
}

/* Everything waiting to be read on the master. */
static int take_to_master(const struct pty_io *io, ProtobufCBinaryData *out) {
        char buf[4096], w[80];
        /* poll() makes the line discipline take what is still in flight */
        while (poll_now(io->m, POLLIN) & POLLIN) {
                int q = inq(io->m);
                if (q <= 0)
                        break;
                ssize_t n = read(io->m, buf, MIN((size_t)q, sizeof(buf)));
                if (n < 0 && (errno == EAGAIN || errno == EINTR))
                        continue;
                if (n <= 0)
                        return log_error_errno(n < 0 ? -errno : -EIO, "%s: cannot read the output waiting on the master: %m",
                                               io_what(io, w, sizeof(w)));
                if (out->len + n > MAX_QUEUE)
                        return log_error_errno(-EFBIG, "%s: more than %d bytes wait on the master, not supported",
                                               io_what(io, w, sizeof(w)), MAX_QUEUE);
                bytes_append(out, buf, n);
        }
        return 0;
}

/* Everything waiting to be read on the slave, as the reader would get it. */
static int take_to_slave(const struct pty_io *io, const struct termios2 *t, TtyPairEntry *p) {
        char buf[N_TTY_BUF_SIZE_ + 1], w[80];
        bool canon = (t->c_lflag & ICANON) && !(t->c_lflag & EXTPROC);
        ProtobufCBinaryData rest = { 0 };
        int r = 0;

        if (t->c_lflag & EXTPROC) {
                if (inq(io->s) > 0 || (poll_now(io->s, POLLIN) & POLLIN))
                        return log_error_errno(-ENOTSUP, "%s: input waits in EXTPROC mode, not supported",
                                               io_what(io, w, sizeof(w)));
                return 0;
        }
        if (canon)
                for (int k = 0; k <= N_TTY_BUF_SIZE_ && (poll_now(io->s, POLLIN) & POLLIN); k++) {
                        ssize_t n = read(io->s, buf, sizeof(buf));
                        if (n < 0 && errno == EAGAIN)
                                break;
                        if (n < 0)
                                return log_error_errno(-errno, "%s: cannot read the input waiting on the slave: %m",
                                                       io_what(io, w, sizeof(w)));
                        p->to_slave = xrealloc_array(p->to_slave, p->n_to_slave + 1, sizeof(*p->to_slave));
                        p->to_slave[p->n_to_slave].data = xzalloc(n + 1);
                        memcpy(p->to_slave[p->n_to_slave].data, buf, n);
                        p->to_slave[p->n_to_slave++].len = n;
                }
        /* the rest: raw input, or the line being typed (ICANON off makes it readable) */
        struct termios2 t2 = *t;
        t2.c_lflag &= ~ICANON;
        t2.c_cc[VMIN] = 0;
        t2.c_cc[VTIME] = 0;
        r = tcset2(io->m, &t2);
        if (r < 0)
                return log_error_errno(r, "%s: cannot set the termios: %m", io_what(io, w, sizeof(w)));
        for (;;) {
                ssize_t n = read(io->s, buf, sizeof(buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n == 0 || (n < 0 && errno == EAGAIN))
                        break;
                if (n < 0) {
                        r = log_error_errno(-errno, "%s: cannot read the input waiting on the slave: %m",
                                            io_what(io, w, sizeof(w)));
                        break;
                }
                if (rest.len + n > MAX_QUEUE) {
                        r = log_error_errno(-EFBIG, "%s: too much input waits on the slave", io_what(io, w, sizeof(w)));
                        break;
                }
                bytes_append(&rest, buf, n);
        }
        int r2 = tcset2(io->m, t);
        if (r2 < 0 && r >= 0)
                r = log_error_errno(r2, "%s: cannot put the termios back: %m", io_what(io, w, sizeof(w)));
        if (canon)
                p->to_slave_partial = rest;
        else if (rest.len) {
                p->to_slave = xrealloc_array(p->to_slave, p->n_to_slave + 1, sizeof(*p->to_slave));
                p->to_slave[p->n_to_slave++] = rest;
        } else
                free(rest.data);
        return r;
}

/* Byte values in the queued input. */
static void used_bytes(const TtyPairEntry *p, bool used[256]) {
        memset(used, 0, 256 * sizeof(bool));
        for (size_t i = 0; i < p->n_to_slave; i++)
                for (size_t k = 0; k < p->to_slave[i].len; k++)
                        used[p->to_slave[i].data[k]] = true;
        for (size_t k = 0; k < p->to_slave_partial.len; k++)
                used[p->to_slave_partial.data[k]] = true;
        used[0] = used['\n'] = used['x'] = true; /* 0 is "disabled"; 'x' is the barrier */
}

static int take_byte(bool used[256]) {
        for (int c = 1; c < 256; c++)
                if (!used[c]) {
                        used[c] = true;
                        return c;
                }
        return -1;
}

/* Reads n echoed bytes away from the master: once they are all there the
 * line discipline has taken in everything written before them. */
static int drain_echo(const struct pty_io *io, size_t n) {
        char junk[4096], w[80];
        size_t got = 0;
        for (int idle = 0; got < n;) {
                int q = inq(io->m);
                if (q > 0) {
                        ssize_t k = read(io->m, junk, MIN((size_t)q, MIN(sizeof(junk), n - got)));
                        if (k > 0) {
                                got += k;
                                idle = 0;
                                continue;
                        }
                }
                if (++idle > 3000)
                        return log_error_errno(-ETIMEDOUT, "%s: the input written back was not taken in (%zu of %zu echoed; output stopped with ^S?)",
                                               io_what(io, w, sizeof(w)), got, n);
                sleep_ms(1);
        }
        return 0;
}

/* The termios input is written back under: no input processing, no output
 * processing (so each echoed byte is one byte), ECHO on, every special
 * character disabled. */
static void feed_termios(const struct termios2 *t, bool canon, struct termios2 *e) {
        *e = *t;
        e->c_iflag = 0;
        e->c_oflag &= ~OPOST;
        e->c_lflag = ECHO | (canon ? ICANON : 0);
        for (int k = 0; k < KNCCS; k++)
                e->c_cc[k] = 0; /* _POSIX_VDISABLE: the line discipline never treats 0 as special */
        e->c_cc[VMIN] = 1;
}

/* All the queued input as plain bytes, raw: nothing lost, but canonical
 * lines become one (when the exact form could not be written back). */
static int feed_raw(const struct pty_io *io, const struct termios2 *t, const TtyPairEntry *p) {
        struct termios2 e;
        size_t n = 0;
        char w[80];
        feed_termios(t, false, &e);
        int r = tcset2(io->m, &e);
        if (r < 0)
                return log_error_errno(r, "%s: cannot set the termios: %m", io_what(io, w, sizeof(w)));
        for (size_t i = 0; i <= p->n_to_slave; i++) {
                const ProtobufCBinaryData *c = i < p->n_to_slave ? &p->to_slave[i] : &p->to_slave_partial;
                r = write_full(io->m, c->data, c->len);
                if (r < 0)
                        return log_error_errno(r, "%s: cannot write the input back: %m", io_what(io, w, sizeof(w)));
                n += c->len;
        }
        return drain_echo(io, n);
}

/* Writes the slave's queue back through the master (see the top). */
static int feed_to_slave(const struct pty_io *io, const struct termios2 *t, const TtyPairEntry *p) {
        bool canon = (t->c_lflag & ICANON) && !(t->c_lflag & EXTPROC);
        size_t echo = 0, total = 0, nl = 0;
        struct termios2 e;
        char w[80];
        int r;

        for (size_t i = 0; i < p->n_to_slave; i++)
                total += p->to_slave[i].len;
        total += p->to_slave_partial.len;
        if (total == 0 && !p->n_to_slave)
                return 0;
        if (!canon)
                return feed_raw(io, t, p);

        feed_termios(t, true, &e);
        /* bytes the data does not use: the EOF that ends a line without a
         * newline, the erase of the barrier, the ^V before a newline typed
         * literally (which needs IEXTEN; its other characters stay disabled) */
        bool used[256];
        used_bytes(p, used);
        int eof = take_byte(used), erase = take_byte(used), lnext = take_byte(used);
        if (eof < 0 || erase < 0 || lnext < 0) {
                feed_raw(io, t, p);
                return log_error_errno(-ENOTSUP, "%s: the lines waiting on the slave use every byte value, they cannot be saved as lines",
                                       io_what(io, w, sizeof(w)));
        }
        e.c_cc[VEOF] = eof;
        e.c_cc[VERASE] = erase;
        e.c_cc[VLNEXT] = lnext;
        e.c_lflag |= IEXTEN;
        r = tcset2(io->m, &e);
        if (r < 0)
                return log_error_errno(r, "%s: cannot set the termios: %m", io_what(io, w, sizeof(w)));

        for (size_t i = 0; i < p->n_to_slave; i++)
                nl += p->to_slave[i].len + 1;
        nl += p->to_slave_partial.len;
        _cleanup_free_ char *buf = xzalloc(2 * nl + 4);
        size_t n = 0;
        for (size_t i = 0; i <= p->n_to_slave; i++) {
                const ProtobufCBinaryData *c = i < p->n_to_slave ? &p->to_slave[i] : &p->to_slave_partial;
                bool line = i < p->n_to_slave, ends_nl = line && c->len && c->data[c->len - 1] == '\n';
                size_t body = ends_nl ? c->len - 1 : c->len;
                for (size_t k = 0; k < body; k++) {
                        if (c->data[k] == '\n')
                                buf[n++] = lnext; /* typed literally: not echoed */
                        buf[n++] = c->data[k];
                }
                echo += body;
                if (ends_nl) {
                        buf[n++] = '\n';
                        echo++;
                } else if (line)
                        buf[n++] = eof; /* ended by EOF (^D): read() returns the line without it */
        }
        /* typed and erased: its echo comes once everything before it was taken in */
        bool barrier = total + 2 < N_TTY_BUF_SIZE_ - 1;
        if (barrier) {
                buf[n++] = 'x';
                buf[n++] = erase;
                echo += 2;
        }
        r = write_full(io->m, buf, n);
        if (r < 0)
                return log_error_errno(r, "%s: cannot write the input back: %m", io_what(io, w, sizeof(w)));
        r = drain_echo(io, echo);
        if (r >= 0 && !barrier)
                sleep_ms(100);
        return r;
}

/* Puts the saved queues into the pair and leaves it with termios t and its
 * packet mode (packet mode must be off when called). Goes on after a
 * failure, so that as much as possible is back; returns the first one. */
static int put_queues(const struct pty_io *io, const struct termios2 *t, const TtyPairEntry *p) {
        char w[80];
        int r = feed_to_slave(io, t, p), k;

        io_what(io, w, sizeof(w));
        k = tcset2(io->m, t);
        if (k < 0 && r >= 0)
                r = log_error_errno(k, "%s: cannot set the termios: %m", w);
        if (p->to_master.len) {
                struct termios2 o = *t;
                o.c_oflag &= ~OPOST;
                k = tcset2(io->m, &o);
                if (k >= 0) {
                        k = write_full(io->s, p->to_master.data, p->to_master.len);
                        if (k < 0 && r >= 0)
                                r = log_error_errno(k, "%s: cannot write the output back: %m", w);
                } else if (r >= 0)
                        r = log_error_errno(k, "%s: cannot set the termios: %m", w);
                k = tcset2(io->m, t);
                if (k < 0 && r >= 0)
                        r = log_error_errno(k, "%s: cannot set the termios: %m", w);
        }
        if (p->packet) {
                int one = 1;
                if (ioctl(io->m, TIOCPKT, &one) < 0 && r >= 0)
                        r = log_error_errno(-errno, "%s: cannot set packet mode: %m", w);
        }
        return r;
}

/* ------------------------------------------------------------------ dump */

static bool tty_match(const struct fd_dump_info *fi) {
        struct termios t;
        if (!S_ISCHR(fi->st.st_mode) || (fi->fdinfo.flags & O_PATH))
                return false;
        if (is_tty_major(major(fi->st.st_rdev)))
                return true;
        return fi->lfd >= 0 && tcgetattr(fi->lfd, &t) == 0;
}

static int tty_dump(struct dump_ctx *ctx, const struct fd_dump_info *fi, FileEntry *fe) {
        TtyEntry *te = xzalloc(sizeof(*te));
        unsigned maj = major(fi->st.st_rdev), min = minor(fi->st.st_rdev);
        const char *base = strrchr(fi->link, '/');

        tty_entry__init(te);
        fe->tty = te;
        te->path = xstrdup(fi->link);
        te->rdev = fi->st.st_rdev;
        te->real_rdev = fi->st.st_rdev;
        if ((maj == 5 && min == 2) || (base && strcmp(base, "/ptmx") == 0)) {
                int n = -1;
                te->type = TTY_PTM;
                if (ioctl(fi->lfd, TIOCGPTN, &n) < 0 || n < 0)
                        return log_error_errno(-errno, "pid %d: fd %d is a pty master (%s) whose number cannot be read: %m",
                                               fi->pid, fi->fd, fi->link);
                if (strcmp(fi->link, "/dev/ptmx") != 0 && strcmp(fi->link, "/dev/pts/ptmx") != 0)
                        return log_error_errno(-ENOTSUP, "pid %d: fd %d is a pty master opened as %s, not supported (only /dev/ptmx)",
                                               fi->pid, fi->fd, fi->link);
                te->index = n;
                te->real_rdev = makedev(136, n); /* devpts: major 136, minor N */
                return 0;
        }
        if (pts_index(fi->st.st_rdev) >= 0) {
                te->type = TTY_PTS;
                te->index = pts_index(fi->st.st_rdev);
                return 0;
        }
        unsigned dev = 0;
        if (ioctl(fi->lfd, TIOCGDEV, &dev) == 0 && dev)
                te->real_rdev = makedev(major(dev), minor(dev));
        te->type = maj == 5 && min == 0 ? TTY_DEV_TTY : TTY_OTHER;
        if (pts_index(te->real_rdev) >= 0)
                te->index = pts_index(te->real_rdev);
        return 0;
}

static bool dump_holder(struct dump_ctx *ctx, uint32_t id, pid_t *pid, int *fd) {
        for (size_t i = 0; i < ctx->nkeys; i++)
                if (ctx->keys[i].id == id && ctx->keys[i].fd >= 0) {
                        *pid = ctx->keys[i].pid;
                        *fd = ctx->keys[i].fd;
                        return true;
                }
        return false;
}

static FileEntry *find_master(struct dump_ctx *ctx, int index) {
        for (size_t i = 0; i < ctx->nfiles; i++) {
                FileEntry *fe = ctx->files[i];
                if (fe->kind == FILE_KIND__FK_TTY && fe->tty && fe->tty->type == TTY_PTM && (int)fe->tty->index == index)
                        return fe;
        }
        return NULL;
}

static struct dump_task *dump_task_by_pid(struct dump_ctx *ctx, pid_t pid) {
        for (size_t i = 0; i < ctx->ntasks; i++)
                if (ctx->tasks[i].pid == pid)
                        return &ctx->tasks[i];
        return NULL;
}

static bool is_tree_pgid(struct dump_ctx *ctx, pid_t pgid) {
        for (size_t i = 0; i < ctx->ntasks; i++)
                if (!ctx->tasks[i].zombie && ctx->tasks[i].pgid == pgid)
                        return true;
        return false;
}

/* tty_nr and tpgid of a process (/proc/PID/stat fields 7 and 8) */
static int read_tty_fields(pid_t pid, int *tty_nr, pid_t *tpgid) {
        char path[64];
        _cleanup_free_ char *text = NULL;
        size_t len;
        snprintf(path, sizeof(path), "/proc/%d/stat", pid);
        int r = read_full_file(path, &text, &len);
        if (r < 0)
                return r;
        const char *p = strrchr(text, ')');
        if (!p || sscanf(p + 1, " %*c %*d %*d %*d %d %d", tty_nr, tpgid) != 2)
                return -EBADMSG;
        return 0;
}

static const char *dev_name(uint64_t rdev, char *buf, size_t n) {
        if (pts_index(rdev) >= 0)
                snprintf(buf, n, "/dev/pts/%d", pts_index(rdev));
        else
                snprintf(buf, n, "the terminal %u:%u", major(rdev), minor(rdev));
        return buf;
}

/* The state and queues of the pair whose master is fe. */
static int dump_pair(struct dump_ctx *ctx, FileEntry *fe) {
        TtyEntry *te = fe->tty;
        TtyPairEntry *p = xzalloc(sizeof(*p));
        struct pty_io io = { .m = -EBADF, .s = -EBADF, .index = te->index };
        struct termios2 t;
        struct winsize ws;
        char w[80];
        int r, v;

        tty_pair_entry__init(p);
        te->pair = p;
        if (!dump_holder(ctx, fe->id, &io.pid, &io.fd))
                return log_error_errno(-EINVAL, "pty %u: no process holds its master", te->index);
        io.m = files_dump_getfd(io.pid, io.fd);
        if (io.m < 0)
                return log_error_errno(io.m, "pid %d: cannot get a copy of fd %d: %m", io.pid, io.fd);
        for (size_t i = 0; i < ctx->nfiles; i++) {
                TtyEntry *o = ctx->files[i]->kind == FILE_KIND__FK_TTY ? ctx->files[i]->tty : NULL;
                if (o && o != te && !o->job && o->index == te->index && (o->type == TTY_PTS || o->type == TTY_DEV_TTY))
                        p->slave_open = true;
        }
        io_what(&io, w, sizeof(w));

        r = tcget2(io.m, &t);
        if (r < 0) {
                r = log_error_errno(r, "%s: cannot read the termios: %m", w);
                goto out;
        }
        termios_to_pair(&t, p);
        if (ioctl(io.m, TIOCGWINSZ, &ws) == 0) {
                p->rows = ws.ws_row;
                p->cols = ws.ws_col;
                p->xpixel = ws.ws_xpixel;
                p->ypixel = ws.ws_ypixel;
        }
        v = 0;
        if (ioctl(io.m, TIOCGPKT, &v) == 0)
                p->packet = v;
        v = 0;
        if (ioctl(io.m, TIOCGPTLCK, &v) == 0)
                p->locked = v;
        pid_t sid = 0, pg = 0;
        if (ioctl(io.m, TIOCGSID, &sid) == 0 && sid > 0) {
                struct dump_task *lt = dump_task_by_pid(ctx, sid);
                if (!lt || lt->zombie || lt->sid != lt->pid) {
                        r = log_error_errno(-ENOTSUP, "%s is the controlling terminal of session %d, which is not in the tree, not supported",
                                            w, sid);
                        goto out;
                }
                p->sid = sid;
                if (ioctl(io.m, TIOCGPGRP, &pg) == 0 && pg > 0) {
                        if (is_tree_pgid(ctx, pg))
                                p->fg_pgid = pg;
                        else
                                log_debug("%s: foreground group %d no longer exists", w, pg);
                }
        }
        short ev = poll_now(io.m, POLLIN | POLLPRI);
        if (p->packet && (ev & POLLPRI)) {
                r = log_error_errno(-ENOTSUP, "%s: a packet-mode status byte waits to be read on the master, not supported", w);
                goto out;
        }
        if (!p->slave_open && !(ev & POLLHUP)) {
                /* the slave was never opened: opening it now would change the
                 * pair (the master would see a hangup once it is closed) */
                if (inq(io.m) > 0) {
                        r = log_error_errno(-ENOTSUP, "%s: bytes wait on the master but its slave was never opened, not supported", w);
                        goto out;
                }
                log_debug("%s: slave never opened", w);
                r = 0;
                goto out;
        }
        p->slave_closed = !p->slave_open;
        /* a slave of cryo's own, non-blocking (an extra open changes nothing) */
        if (p->locked) {
                v = 0;
                ioctl(io.m, TIOCSPTLCK, &v);
        }
        io.s = ioctl(io.m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
        r = io.s < 0 ? -errno : 0;
        if (p->locked) {
                v = 1;
                ioctl(io.m, TIOCSPTLCK, &v);
        }
        if (r < 0) {
                r = log_error_errno(r, "%s: cannot open its slave: %m", w);
                goto out;
        }
        /* bytes are written back both ways: neither side may be stopped
         * (^S, tcflow(TCOOFF)), nor its buffer full */
        if (!(poll_now(io.s, POLLOUT) & POLLOUT) || !(poll_now(io.m, POLLOUT) & POLLOUT)) {
                r = log_error_errno(-ENOTSUP, "%s: its output is stopped (^S or tcflow) or its buffer full, not supported", w);
                goto out;
        }
        if (ioctl(io.s, TIOCGETD, &v) == 0 && v != N_TTY) {
                r = log_error_errno(-ENOTSUP, "%s uses line discipline %d, not supported (only N_TTY)", w, v);
                goto out;
        }
        v = 0;
        if (ioctl(io.s, TIOCGEXCL, &v) == 0)
                p->exclusive = v;

        /* take the queues out, then put them straight back */
        if (p->packet) {
                v = 0;
                if (ioctl(io.m, TIOCPKT, &v) < 0) {
                        r = log_error_errno(-errno, "%s: cannot leave packet mode: %m", w);
                        goto out;
                }
        }
        r = take_to_master(&io, &p->to_master);
        if (r >= 0)
                r = take_to_slave(&io, &t, p);
        int r2 = put_queues(&io, &t, p);
        if (r >= 0)
                r = r2;
        if (r >= 0 && (p->to_master.len || p->n_to_slave || p->to_slave_partial.len))
                log_debug("%s: %zu bytes towards the master, %zu reads and %zu typed bytes towards the slave", w,
                          p->to_master.len, p->n_to_slave, p->to_slave_partial.len);
out:
        safe_close(io.s);
        safe_close(io.m);
        return r;
}

/* An entry with no fd for the job's terminal: only its foreground group. */
static void add_job_entry(struct dump_ctx *ctx, uint64_t dev, pid_t fg) {
        char name[64];
        FileEntry *fe = xzalloc(sizeof(*fe));
        file_entry__init(fe);
        fe->id = ctx->nfiles + 1;
        fe->kind = FILE_KIND__FK_TTY;
        fe->flags = O_RDWR;
        *ARRAY_PUSH(ctx->files, ctx->nfiles, ctx->cfiles) = fe;
        TtyEntry *te = xzalloc(sizeof(*te));
        tty_entry__init(te);
        fe->tty = te;
        te->type = TTY_OTHER;
        te->path = xstrdup(dev_name(dev, name, sizeof(name)));
        te->rdev = te->real_rdev = dev;
        te->job = true;
        te->job_fg_pgid = fg;
}

int tty_dump_finish(struct dump_ctx *ctx) {
        uint64_t job_dev = 0;
        char n1[64], n2[64];
        int r;

        /* slaves and /dev/tty of an in-tree pair; everything else is the job's terminal */
        for (size_t i = 0; i < ctx->nfiles; i++) {
                FileEntry *fe = ctx->files[i];
                TtyEntry *te = fe->kind == FILE_KIND__FK_TTY ? fe->tty : NULL;
                pid_t pid = 0;
                int fd = -1;
                if (!te)
                        continue;
                if (te->type == TTY_PTM)
                        continue;
                dump_holder(ctx, fe->id, &pid, &fd);
                int idx = pts_index(te->real_rdev);
                if (idx >= 0 && find_master(ctx, idx)) {
                        if (te->type == TTY_PTS) {
                                struct stat a, b;
                                _cleanup_close_ int lfd = files_dump_getfd(pid, fd);
                                snprintf(n1, sizeof(n1), "/dev/pts/%d", idx);
                                if (lfd < 0 || fstat(lfd, &a) < 0 || stat(n1, &b) < 0 || a.st_dev != b.st_dev ||
                                    a.st_ino != b.st_ino)
                                        return log_error_errno(-ENOTSUP, "pid %d: fd %d is a pty slave (%s) of another devpts instance, not supported",
                                                               pid, fd, te->path);
                        }
                        continue;
                }
                te->job = true;
                if (!ctx->opts.shell_job) {
                        if (te->type == TTY_DEV_TTY)
                                return log_error_errno(-ENOTSUP, "pid %d: fd %d is /dev/tty (%s, outside the tree); use --shell-job (-j) to restore it onto the restoring terminal",
                                                       pid, fd, dev_name(te->real_rdev, n1, sizeof(n1)));
                        return log_error_errno(-ENOTSUP, "pid %d: fd %d is the terminal %s; use --shell-job (-j) to restore it onto the restoring terminal",
                                               pid, fd, te->path);
                }
                if (job_dev && job_dev != te->real_rdev)
                        return log_error_errno(-ENOTSUP, "pid %d: fd %d is %s but the job's terminal is %s: only one terminal outside the tree can be restored (onto cryo's)",
                                               pid, fd, dev_name(te->real_rdev, n1, sizeof(n1)),
                                               dev_name(job_dev, n2, sizeof(n2)));
                job_dev = te->real_rdev;
        }
        for (size_t i = 0; i < ctx->nfiles; i++) {
                FileEntry *fe = ctx->files[i];
                if (fe->kind == FILE_KIND__FK_TTY && fe->tty && fe->tty->type == TTY_PTM) {
                        r = dump_pair(ctx, fe);
                        if (r < 0)
                                return r;
                }
        }

        /* controlling terminals */
        pid_t job_fg = 0;
        bool job_ctty = false;
        for (size_t i = 0; i < ctx->ntasks; i++) {
                struct dump_task *t = &ctx->tasks[i];
                int tty_nr = 0;
                pid_t tpgid = 0;
                if (t->zombie || read_tty_fields(t->pid, &tty_nr, &tpgid) < 0 || tty_nr == 0)
                        continue;
                uint64_t dev = makedev(major(tty_nr), minor(tty_nr));
                int idx = pts_index(dev);
                if (idx >= 0 && find_master(ctx, idx))
                        continue; /* the pair knows its session */
                if (t->sid == t->pid)
                        return log_error_errno(-ENOTSUP, "pid %d is a session leader whose controlling terminal %s is outside the tree, not supported",
                                               t->pid, dev_name(dev, n1, sizeof(n1)));
                if (!ctx->opts.shell_job)
                        return log_error_errno(-ENOTSUP, "pid %d: its controlling terminal %s is outside the tree; use --shell-job (-j)",
                                               t->pid, dev_name(dev, n1, sizeof(n1)));
                if (job_dev && job_dev != dev)
                        return log_error_errno(-ENOTSUP, "pid %d: its controlling terminal is %s but the job's terminal is %s: only one terminal outside the tree can be restored (onto cryo's)",
                                               t->pid, dev_name(dev, n1, sizeof(n1)), dev_name(job_dev, n2, sizeof(n2)));
                job_dev = dev;
                job_ctty = true;
                if (i == 0 && tpgid > 0 && is_tree_pgid(ctx, tpgid))
                        job_fg = tpgid;
        }
        if (job_fg) {
                bool have = false;
                for (size_t i = 0; i < ctx->nfiles; i++) {
                        TtyEntry *te = ctx->files[i]->kind == FILE_KIND__FK_TTY ? ctx->files[i]->tty : NULL;
                        if (te && te->job) {
                                te->job_fg_pgid = job_fg;
                                have = true;
                        }
                }
                if (!have)
                        add_job_entry(ctx, job_dev, job_fg);
                log_info("process group %d is in the foreground of the job's terminal %s", job_fg,
                         dev_name(job_dev, n1, sizeof(n1)));
        } else if (job_ctty)
                log_debug("the job is in the background of %s", dev_name(job_dev, n1, sizeof(n1)));
        return 0;
}

/* --------------------------------------------------------------- restore */

static int stash_peek(const struct restore_ctx *ctx, uint64_t key) {
        for (size_t i = 0; i < ctx->nstash; i++)
                if (ctx->stash[i].key == key && ctx->stash[i].fd >= 0)
                        return ctx->stash[i].fd;
        return -ENOENT;
}

/* Who holds file id, for messages. */
static void restore_holder(const struct restore_ctx *ctx, uint32_t id, pid_t *pid, int *fd) {
        *pid = 0;
        *fd = -1;
        for (size_t i = 0; i < ctx->ntasks; i++) {
                const Fdtable *fdt = ctx->tasks[i].fdt;
                for (size_t k = 0; fdt && k < fdt->n_fds; k++)
                        if (fdt->fds[k]->file_id == id) {
                                *pid = ctx->tasks[i].pe->pid;
                                *fd = fdt->fds[k]->fd;
                                return;
                        }
        }
}

/* The terminal a shell job is restored onto: cryo's controlling terminal,
 * else the one on cryo's stdin, stdout or stderr. */
static int job_terminal_path(char *buf, size_t n) {
        _cleanup_close_ int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
        unsigned dev = 0;
        if (fd >= 0 && ioctl(fd, TIOCGDEV, &dev) == 0 && dev) {
                uint64_t d = makedev(major(dev), minor(dev));
                struct stat st;
                if (pts_index(d) >= 0) {
                        snprintf(buf, n, "/dev/pts/%d", pts_index(d));
                        if (stat(buf, &st) == 0 && st.st_rdev == d)
                                return 0;
                }
                for (int i = 0; i <= 2; i++)
                        if (isatty(i) && fstat(i, &st) == 0 && st.st_rdev == d && ttyname_r(i, buf, n) == 0)
                                return 0;
                snprintf(buf, n, "/dev/tty");
                return 0;
        }
        for (int i = 0; i <= 2; i++)
                if (isatty(i) && ttyname_r(i, buf, n) == 0)
                        return 0;
        return -ENOTTY;
}

static int open_job_terminal(struct restore_ctx *ctx, const FileEntry *fe, int *ret_fd) {
        const TtyEntry *te = fe->tty;
        int flags = (fe->flags & O_ACCMODE) | O_NOCTTY | O_CLOEXEC;
        char path[256];
        pid_t pid;
        int hfd, r;

        if (!ctx->opts.shell_job)
                return log_error_errno(-ENOTSUP, "file %u is the terminal %s of a shell job: restore with --shell-job (-j)",
                                       fe->id, te->path);
        restore_holder(ctx, fe->id, &pid, &hfd);
        if (te->type == TTY_DEV_TTY)
                snprintf(path, sizeof(path), "/dev/tty");
        else if (job_terminal_path(path, sizeof(path)) < 0) {
                if (pid)
                        return log_error_errno(-ENOTTY, "pid %d: fd %d: restoring a shell job needs a terminal: cryo has no controlling terminal and no terminal on stdin, stdout or stderr",
                                               pid, hfd);
                snprintf(path, sizeof(path), "/dev/tty");
        }
        _cleanup_close_ int fd = open(path, flags);
        if (fd < 0 && !pid) {
                /* no fd: the entry only says the job was in the foreground */
                log_warn("cannot open the terminal %s (%m): the restored job is not put in the foreground", path);
                fd = open("/dev/null", O_RDWR | O_CLOEXEC);
        }
        if (fd < 0) {
                return log_error_errno(-errno, "pid %d: fd %d: cannot open the terminal %s for %s: %m", pid, hfd, path,
                                       te->path);
        }
        r = files_restore_flags_pos(fe, fd);
        if (r < 0)
                return r;
        log_debug("file %u (%s) -> %s", fe->id, te->path, path);
        *ret_fd = TAKE_FD(fd);
        return 0;
}

/* A new pair's state and queues (m is its master, unlocked). */
static int restore_pair(struct restore_ctx *ctx, const FileEntry *fe, int m) {
        const TtyEntry *te = fe->tty;
        const TtyPairEntry *p = te->pair;
        struct pty_io io = { .m = m, .s = -EBADF, .index = te->index };
        struct termios2 t;
        char w[32];
        int r;

        snprintf(w, sizeof(w), "pty %u", te->index);
        if (!p)
                return log_error_errno(-EBADMSG, "file %u: the pty master has no pair state", fe->id);
        termios_from_pair(p, &t);
        struct winsize ws = { .ws_row = p->rows, .ws_col = p->cols, .ws_xpixel = p->xpixel, .ws_ypixel = p->ypixel };
        if (ioctl(m, TIOCSWINSZ, &ws) < 0)
                return log_error_errno(-errno, "%s: cannot set the window size: %m", w);
        bool data = p->to_master.len || p->n_to_slave || p->to_slave_partial.len;
        if (!(p->slave_open || p->slave_closed || p->sid || data)) {
                /* the slave was never opened */
                r = tcset2(m, &t);
                if (r < 0)
                        return log_error_errno(r, "%s: cannot set the termios: %m", w);
                if (p->packet) {
                        int one = 1;
                        if (ioctl(m, TIOCPKT, &one) < 0)
                                return log_error_errno(-errno, "%s: cannot set packet mode: %m", w);
                }
                return 0;
        }
        io.s = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
        if (io.s < 0)
                return log_error_errno(-errno, "%s: cannot open its slave: %m", w);
        r = tcset2(m, &t);
        if (r < 0)
                r = log_error_errno(r, "%s: cannot set the termios: %m", w);
        if (r >= 0)
                r = put_queues(&io, &t, p);
        if (r >= 0 && (p->sid || p->slave_open)) {
                /* kept for the session leader (TIOCSCTTY) and until the slaves are open */
                r = restore_ctx_move_high(ctx, io.s);
                if (r >= 0) {
                        restore_ctx_stash_fd(ctx, STASH_PTS | te->index, r);
                        return 0;
                }
                return r;
        }
        safe_close(io.s); /* slave_closed: the master sees the hangup it saw */
        return r;
}

static int tty_restore_prepare(struct restore_ctx *ctx) {
        int *extra = NULL;
        size_t nextra = 0, cextra = 0;
        int r = 0;

        for (size_t i = 0; i < ctx->files->n_files && r >= 0; i++) {
                const FileEntry *fe = ctx->files->files[i];
                const TtyEntry *te = fe->kind == FILE_KIND__FK_TTY ? fe->tty : NULL;
                char path[64];
                struct stat st;
                pid_t pid;
                int hfd, m = -1;

                if (!te || te->type != TTY_PTM)
                        continue;
                restore_holder(ctx, fe->id, &pid, &hfd);
                /* the kernel hands out the lowest free number: take them until
                 * ours, holding the others (an earlier pair may have taken ours) */
                for (size_t k = 0; k < nextra && m < 0; k++) {
                        int n = -1;
                        if (extra[k] >= 0 && ioctl(extra[k], TIOCGPTN, &n) == 0 && n == (int)te->index) {
                                m = extra[k];
                                extra[k] = -1;
                        }
                }
                snprintf(path, sizeof(path), "/dev/pts/%u", te->index);
                if (m < 0 && stat(path, &st) == 0) {
                        r = log_error_errno(-EEXIST, "pid %d: fd %d: pty %u is in use (%s exists); cannot restore its pty pair",
                                            pid, hfd, te->index, path);
                        break;
                }
                while (m < 0) {
                        int fd = open(te->path, (fe->flags & O_ACCMODE) | O_NOCTTY | O_CLOEXEC), n = -1;
                        if (fd < 0) {
                                r = log_error_errno(-errno, "pid %d: fd %d: cannot open %s: %m", pid, hfd, te->path);
                                break;
                        }
                        if (ioctl(fd, TIOCGPTN, &n) < 0) {
                                r = log_error_errno(-errno, "pid %d: fd %d: %s gave no pty number: %m", pid, hfd, te->path);
                                close(fd);
                                break;
                        }
                        if (n == (int)te->index) {
                                m = fd;
                                break;
                        }
                        *ARRAY_PUSH(extra, nextra, cextra) = fd;
                        if (n > (int)te->index || nextra > 65536) {
                                r = log_error_errno(-EBUSY, "pid %d: fd %d: pty %u is taken (got pty %d); cannot restore its pty pair",
                                                    pid, hfd, te->index, n);
                                break;
                        }
                }
                if (r < 0)
                        break;
                int zero = 0;
                if (ioctl(m, TIOCSPTLCK, &zero) < 0) {
                        r = log_error_errno(-errno, "pty %u: cannot unlock it: %m", te->index);
                        close(m);
                        break;
                }
                r = restore_pair(ctx, fe, m);
                if (r < 0) {
                        close(m);
                        break;
                }
                r = restore_ctx_move_high(ctx, m);
                if (r < 0)
                        break;
                restore_ctx_stash_fd(ctx, STASH_PTM | te->index, r);
                log_debug("pty %u restored", te->index);
        }
        for (size_t k = 0; k < nextra; k++)
                safe_close(extra[k]);
        free(extra);
        return r < 0 ? r : 0;
}

static int tty_open(struct restore_ctx *ctx, const FileEntry *fe, int *ret_fd) {
        const TtyEntry *te = fe->tty;
        char path[64];
        int fd, r;

        if (!te)
                return log_error_errno(-EBADMSG, "file %u: no terminal in the image", fe->id);
        if (te->job)
                return open_job_terminal(ctx, fe, ret_fd);
        switch (te->type) {
        case TTY_PTM:
                fd = restore_ctx_take_fd(ctx, STASH_PTM | te->index);
                if (fd < 0)
                        return log_error_errno(-EBADMSG, "file %u: pty %u was not created", fe->id, te->index);
                break;
        case TTY_PTS:
        case TTY_DEV_TTY:
                /* a /dev/tty is reopened by its process once the pty is its controlling terminal */
                snprintf(path, sizeof(path), "/dev/pts/%u", te->index);
                fd = open(path, (fe->flags & O_ACCMODE) | O_NOCTTY | O_CLOEXEC);
                if (fd < 0) {
                        pid_t pid;
                        int hfd;
                        restore_holder(ctx, fe->id, &pid, &hfd);
                        return log_error_errno(-errno, "pid %d: fd %d: cannot open %s: %m", pid, hfd, path);
                }
                break;
        default:
                return log_error_errno(-EBADMSG, "file %u: a terminal of type %u that is not the job's", fe->id, te->type);
        }
        r = files_restore_flags_pos(fe, fd);
        if (r < 0) {
                close(fd);
                return r;
        }
        *ret_fd = fd;
        return 0;
}

/* Every pair's slave is open now: lock and exclusive state; cryo's slaves go
 * unless a session leader needs one. */
static int tty_restore_finish(struct restore_ctx *ctx) {
        for (size_t i = 0; i < ctx->files->n_files; i++) {
                const FileEntry *fe = ctx->files->files[i];
                const TtyEntry *te = fe->kind == FILE_KIND__FK_TTY ? fe->tty : NULL;
                if (!te || te->type != TTY_PTM || !te->pair)
                        continue;
                int m = restore_ctx_file_fd(ctx, fe->id), s = stash_peek(ctx, STASH_PTS | te->index), v = 1;
                if (m < 0)
                        continue;
                if (te->pair->exclusive && s >= 0 && ioctl(s, TIOCEXCL) < 0)
                        return log_error_errno(-errno, "pty %u: cannot set exclusive mode: %m", te->index);
                if (te->pair->locked && ioctl(m, TIOCSPTLCK, &v) < 0)
                        return log_error_errno(-errno, "pty %u: cannot lock it: %m", te->index);
                if (s >= 0 && !te->pair->sid)
                        safe_close(restore_ctx_take_fd(ctx, STASH_PTS | te->index));
        }
        return 0;
}

/* In the process, after its fds are in place: a /dev/tty that named an
 * in-tree pty is reopened as /dev/tty (the pty is its terminal by now). */
static int tty_post_fds(struct restore_ctx *ctx, const FileEntry *fe, int fd) {
        const TtyEntry *te = fe->tty;
        if (!te || te->job || te->type != TTY_DEV_TTY)
                return 0;
        int fdfl = fcntl(fd, F_GETFD);
        _cleanup_close_ int n = open("/dev/tty", (fe->flags & O_ACCMODE) | O_NOCTTY | O_CLOEXEC);
        if (n < 0)
                return log_error_errno(-errno, "pid %d: fd %d: cannot reopen /dev/tty (pty %u): %m", getpid(), fd,
                                       te->index);
        if (dup3(n, fd, fdfl >= 0 && (fdfl & FD_CLOEXEC) ? O_CLOEXEC : 0) < 0)
                return log_error_errno(-errno, "pid %d: fd %d: cannot install /dev/tty: %m", getpid(), fd);
        return files_restore_flags_pos(fe, fd);
}

int tty_restore_session(struct restore_ctx *ctx, struct restore_task *t) {
        for (size_t i = 0; i < ctx->files->n_files; i++) {
                const FileEntry *fe = ctx->files->files[i];
                const TtyEntry *te = fe->kind == FILE_KIND__FK_TTY ? fe->tty : NULL;
                if (!te || te->type != TTY_PTM || !te->pair || te->pair->sid != t->pe->pid)
                        continue;
                int s = stash_peek(ctx, STASH_PTS | te->index);
                if (s < 0)
                        return log_error_errno(-EBADMSG, "pid %d: the slave of pty %u is not open", t->pe->pid, te->index);
                if (ioctl(s, TIOCSCTTY, 0) < 0)
                        return log_error_errno(-errno, "pid %d: cannot make /dev/pts/%u its controlling terminal: %m",
                                               t->pe->pid, te->index);
        }
        return 0;
}

/* TIOCSPGRP's argument, at the same address in every restored process (they
 * are still copies of cryo). */
static int32_t pgrp_arg;

static struct restore_task *restore_task_by_pid(struct restore_ctx *ctx, pid_t pid) {
        for (size_t i = 0; i < ctx->ntasks; i++)
                if (ctx->tasks[i].pe->pid == (uint32_t)pid)
                        return &ctx->tasks[i];
        return NULL;
}

/* cryo's own pgid stood for the root's group outside the tree */
static pid_t restored_pgid(struct restore_ctx *ctx, pid_t pgid) {
        pid_t root = ctx->tasks[0].pe->pid, root_pgid = ctx->tasks[0].pe->pgid;
        if (root_pgid != root && pgid == root_pgid)
                return getpgrp();
        return pgid;
}

int tty_restore_groups(struct restore_ctx *ctx) {
        pid_t job_fg = 0;

        for (size_t i = 0; i < ctx->files->n_files; i++) {
                const FileEntry *fe = ctx->files->files[i];
                const TtyEntry *te = fe->kind == FILE_KIND__FK_TTY ? fe->tty : NULL;
                if (!te)
                        continue;
                if (te->job && te->job_fg_pgid)
                        job_fg = te->job_fg_pgid;
                if (te->type != TTY_PTM || !te->pair || !te->pair->sid || !te->pair->fg_pgid ||
                    te->pair->fg_pgid == te->pair->sid)
                        continue;
                struct restore_task *lt = restore_task_by_pid(ctx, te->pair->sid);
                int s = stash_peek(ctx, STASH_PTS | te->index);
                if (!lt || lt->pe->zombie || !lt->prepared || s < 0)
                        return log_error_errno(-EBADMSG, "pty %u: session leader %u cannot be driven", te->index,
                                               te->pair->sid);
                int32_t v = te->pair->fg_pgid;
                int r = infect_write_mem(lt->pe->pid, (uint64_t)(uintptr_t)&pgrp_arg, &v, sizeof(v));
                if (r < 0)
                        return log_error_errno(r, "pid %d: cannot write its memory: %m", lt->pe->pid);
                int64_t x = infect_call(&lt->inf, __NR_ioctl, s, TIOCSPGRP, (uint64_t)(uintptr_t)&pgrp_arg, 0, 0, 0);
                if (x < 0)
                        return log_error_errno((int)x, "pid %d: cannot put process group %d in the foreground of /dev/pts/%u: %m",
                                               lt->pe->pid, v, te->index);
                log_debug("pty %u: foreground group %d", te->index, v);
        }

        if (!job_fg || !ctx->opts.shell_job)
                return 0;
        pid_t fg = restored_pgid(ctx, job_fg);
        if (fg == getpgrp())
                return 0; /* the job is in cryo's group, which has the terminal */
        _cleanup_close_ int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (fd < 0) {
                log_warn("cryo has no controlling terminal: the restored job (group %d) stays in the background", fg);
                return 0;
        }
        if (tcgetpgrp(fd) != getpgrp()) {
                log_warn("cryo is not in the foreground of its terminal: the restored job (group %d) stays in the background",
                         fg);
                return 0;
        }
        if (tcsetpgrp(fd, fg) < 0)
                return log_error_errno(-errno, "cannot put the restored job's process group %d in the foreground: %m", fg);
        log_info("process group %d is in the foreground of cryo's terminal", fg);
        return 0;
}

void tty_restore_abort(struct restore_ctx *ctx) {
        if (!ctx->opts.shell_job || !ctx->tasks)
                return;
        _cleanup_close_ int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (fd < 0)
                return;
        pid_t cur = tcgetpgrp(fd);
        bool ours = false;
        for (size_t i = 0; i < ctx->ntasks && !ours; i++)
                ours = cur > 0 && cur != getpgrp() && (pid_t)ctx->tasks[i].pe->pgid == cur;
        if (!ours)
                return;
        sigset_t ttou, old;
        sigemptyset(&ttou);
        sigaddset(&ttou, SIGTTOU);
        sigprocmask(SIG_BLOCK, &ttou, &old);
        if (tcsetpgrp(fd, getpgrp()) < 0)
                log_warn_errno(-errno, "cannot take cryo's terminal back: %m");
        sigprocmask(SIG_SETMASK, &old, NULL);
}

const struct file_ops tty_ops = {
        .kind = FILE_KIND__FK_TTY,
        .name = "tty",
        .match = tty_match,
        .dump = tty_dump,
        .open = tty_open,
        .post_fds = tty_post_fds,
        .restore_prepare = tty_restore_prepare,
        .restore_finish = tty_restore_finish,
};
