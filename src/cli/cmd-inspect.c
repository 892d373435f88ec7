/* cryo inspect DIR [--json]: show what a checkpoint holds. Every image is
 * read through the image layer, which verifies magic, version, checkpoint id,
 * length and checksums, so inspect doubles as an integrity check: any bad
 * image gives a one-line error and exit status 1, before anything is
 * printed. Raw images (pages, blobs) are verified too. */
#include <dirent.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <getopt.h>
#include <netinet/in.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>

#include "basic/json.h"
#include "basic/kcompat.h"
#include "basic/log.h"
#include "basic/util.h"
#include "cli/cli.h"
#include "cli/common.h"
#include "core.pb-c.h"
#include "core/kerndat.h"
#include "files.pb-c.h"
#include "image/image.h"
#include "inventory.pb-c.h"
#include "ipc.pb-c.h"
#include "mm.pb-c.h"

/* --- loading ---------------------------------------------------------------- */

struct itask {
        PstreeEntry *pe; /* borrowed from the pstree */
        TaskCore *core;
        MmEntry *mm;
        Pagemap *pm;
        Fdtable *fdt;
        uint64_t pages_len; /* payload of pages-PID.img */
        uint64_t *vma_pages; /* pages dumped per VMA, mm->n_vmas of them */
        uint64_t stray_pages; /* pages outside every VMA (should be 0) */
};

struct iimage {
        char *name;
        uint64_t size;
        bool hdr_ok; /* magic and header checksum */
        struct img_header h;
};

struct inspect {
        const char *dir;
        int dirfd;
        uint64_t id;
        InventoryEntry *inv;
        Pstree *ps;
        Files *files;
        IpcImage *ipc; /* NULL: no ipc.img */
        struct itask *t;
        size_t nt;
        struct iimage *img;
        size_t nimg;
};

static void inspect_done(struct inspect *x) {
        for (size_t i = 0; x->t && i < x->nt; i++) {
                img_msg_free((ProtobufCMessage *)x->t[i].core);
                img_msg_free((ProtobufCMessage *)x->t[i].mm);
                img_msg_free((ProtobufCMessage *)x->t[i].pm);
                img_msg_free((ProtobufCMessage *)x->t[i].fdt);
                free(x->t[i].vma_pages);
        }
        free(x->t);
        for (size_t i = 0; i < x->nimg; i++)
                free(x->img[i].name);
        free(x->img);
        if (x->inv)
                img_msg_free((ProtobufCMessage *)x->inv);
        if (x->ps)
                img_msg_free((ProtobufCMessage *)x->ps);
        if (x->files)
                img_msg_free((ProtobufCMessage *)x->files);
        if (x->ipc)
                img_msg_free((ProtobufCMessage *)x->ipc);
        safe_close(x->dirfd);
}

/* img_read_msg with a "%s-%u.img" name and a typed result */
#define READ_MSG(x, fmt, pid, type, desc, ret)                                                                         \
        ({                                                                                                             \
                char _n[64];                                                                                           \
                snprintf(_n, sizeof(_n), fmt, (unsigned)(pid));                                                        \
                img_read_msg((x)->dirfd, _n, (type), (x)->id, &(desc), (ProtobufCMessage **)(ret), NULL);             \
        })

static int verify_raw(struct inspect *x, const char *name, enum img_type type, uint64_t *ret_len) {
        int fd = -EBADF;
        int r = img_raw_open(x->dirfd, name, type, x->id, &fd, ret_len);
        safe_close(fd);
        return r;
}

/* Which VMA each dumped page belongs to; runs and VMAs are both sorted. */
static int count_vma_pages(struct itask *t, uint32_t page_size) {
        MmEntry *mm = t->mm;
        uint64_t total = 0;

        t->vma_pages = xzalloc(sizeof(uint64_t) * (mm->n_vmas + 1));
        for (size_t i = 0; i < t->pm->n_runs; i++) {
                uint64_t a = t->pm->runs[i]->vaddr, b = a + (uint64_t)t->pm->runs[i]->nr_pages * page_size;
                uint64_t covered = 0;
                total += t->pm->runs[i]->nr_pages;
                /* first VMA ending after a */
                size_t lo = 0, hi = mm->n_vmas;
                while (lo < hi) {
                        size_t mid = (lo + hi) / 2;
                        if (mm->vmas[mid]->end <= a)
                                lo = mid + 1;
                        else
                                hi = mid;
                }
                for (size_t v = lo; v < mm->n_vmas && mm->vmas[v]->start < b; v++) {
                        uint64_t s = MAX(a, mm->vmas[v]->start), e = MIN(b, mm->vmas[v]->end);
                        if (e > s) {
                                t->vma_pages[v] += (e - s) / page_size;
                                covered += (e - s) / page_size;
                        }
                }
                t->stray_pages += (b - a) / page_size - covered;
        }
        if (total != t->pm->nr_pages)
                return log_error_errno(-EBADMSG, "pagemap-%u.img lists %" PRIu64 " pages in its runs but says %" PRIu64,
                                       t->pe->pid, total, t->pm->nr_pages);
        return 0;
}

static int name_cmp(const void *a, const void *b) {
        return strverscmp(((const struct iimage *)a)->name, ((const struct iimage *)b)->name);
}

static int list_images(struct inspect *x) {
        _cleanup_close_ int fd = openat(x->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        size_t cap = 0;
        DIR *d;
        struct dirent *de;
        int r = 0;

        if (fd < 0 || !(d = fdopendir(fd)))
                return log_error_errno(-errno, "cannot list '%s': %m", x->dir);
        TAKE_FD(fd);
        while ((de = readdir(d))) {
                size_t l = strlen(de->d_name);
                struct stat st;
                if (l < 5 || strcmp(de->d_name + l - 4, ".img") != 0)
                        continue;
                if (fstatat(x->dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
                        continue;
                struct iimage *im = ARRAY_PUSH(x->img, x->nimg, cap);
                *im = (struct iimage){ .name = xstrdup(de->d_name), .size = st.st_size };
                _cleanup_close_ int ifd = openat(x->dirfd, de->d_name, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW);
                if (ifd >= 0 && img_read_header(ifd, &im->h) >= 0)
                        im->hdr_ok = im->h.magic == IMG_MAGIC &&
                                     im->h.hdr_hash == img_hash(&im->h, offsetof(struct img_header, hdr_hash));
                /* raw images are verified here; metadata ones when they are read */
                if (strncmp(de->d_name, "blob-", 5) == 0) {
                        r = verify_raw(x, de->d_name, IMG_BLOB, NULL);
                        if (r < 0)
                                break;
                }
        }
        closedir(d);
        if (x->nimg)
                qsort(x->img, x->nimg, sizeof(*x->img), name_cmp);
        return r;
}

static int inspect_load(struct inspect *x) {
        int r;

        x->dirfd = open(x->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (x->dirfd < 0)
                return log_error_errno(-errno, "cannot open image directory '%s': %m", x->dir);
        if (faccessat(x->dirfd, "inventory.img", F_OK, 0) < 0 && errno == ENOENT)
                return log_error_errno(-ENOENT, "'%s' holds no complete checkpoint (no inventory.img)", x->dir);
        r = img_read_msg(x->dirfd, "inventory.img", IMG_INVENTORY, 0, &inventory_entry__descriptor,
                         (ProtobufCMessage **)&x->inv, &x->id);
        if (r < 0)
                return r;
        if (x->inv->page_size && x->inv->page_size != PAGE_SIZE_)
                return log_error_errno(-EBADMSG, "inventory.img: page size %u, this system uses %lu", x->inv->page_size,
                                       PAGE_SIZE_);
        r = img_read_msg(x->dirfd, "pstree.img", IMG_PSTREE, x->id, &pstree__descriptor, (ProtobufCMessage **)&x->ps,
                         NULL);
        if (r < 0)
                return r;
        r = img_read_msg(x->dirfd, "files.img", IMG_FILES, x->id, &files__descriptor, (ProtobufCMessage **)&x->files,
                         NULL);
        if (r < 0)
                return r;
        r = img_read_msg(x->dirfd, "ipc.img", IMG_IPC, x->id, &ipc_image__descriptor, (ProtobufCMessage **)&x->ipc,
                         NULL);
        if (r < 0 && r != -ENOENT)
                return r;
        for (size_t i = 0; x->ipc && i < x->ipc->n_shm; i++) {
                char n[64];
                uint64_t len = 0;
                if (!x->ipc->shm[i]->perm)
                        return log_error_errno(-EBADMSG, "ipc.img: a segment without ids");
                snprintf(n, sizeof(n), "shm-%d.img", x->ipc->shm[i]->perm->id);
                r = verify_raw(x, n, IMG_BLOB, &len);
                if (r < 0)
                        return r;
                if (len != x->ipc->shm[i]->data_len)
                        return log_error_errno(-EBADMSG, "%s holds %" PRIu64 " bytes, ipc.img says %" PRIu64, n, len,
                                               x->ipc->shm[i]->data_len);
        }

        x->t = xzalloc(sizeof(*x->t) * (x->ps->n_tasks + 1));
        for (size_t i = 0; i < x->ps->n_tasks; i++) {
                struct itask *t = &x->t[i];
                uint32_t pid = x->ps->tasks[i]->pid;
                char name[64];

                t->pe = x->ps->tasks[i];
                x->nt++;
                if (t->pe->zombie)
                        continue; /* a zombie has only its pstree entry */
                if ((r = READ_MSG(x, "core-%u.img", pid, IMG_CORE, task_core__descriptor, &t->core)) < 0 ||
                    (r = READ_MSG(x, "mm-%u.img", pid, IMG_MM, mm_entry__descriptor, &t->mm)) < 0 ||
                    (r = READ_MSG(x, "pagemap-%u.img", pid, IMG_PAGEMAP, pagemap__descriptor, &t->pm)) < 0 ||
                    (r = READ_MSG(x, "fds-%u.img", pid, IMG_FDS, fdtable__descriptor, &t->fdt)) < 0)
                        return r;
                snprintf(name, sizeof(name), "pages-%u.img", pid);
                if (t->pm->nr_pages || faccessat(x->dirfd, name, F_OK, 0) == 0) {
                        r = verify_raw(x, name, IMG_PAGES, &t->pages_len);
                        if (r < 0)
                                return r;
                }
                if (t->pages_len != t->pm->nr_pages * PAGE_SIZE_)
                        return log_error_errno(-EBADMSG, "%s holds %" PRIu64 " bytes but pagemap-%u.img lists %" PRIu64
                                               " pages", name, t->pages_len, pid, t->pm->nr_pages);
                r = count_vma_pages(t, PAGE_SIZE_);
                if (r < 0)
                        return r;
        }
        return list_images(x);
}

/* --- names ------------------------------------------------------------------ */

static const char *sig_name(int sig, char buf[16]) {
        const char *s = sig > 0 && sig < 32 ? sigabbrev_np(sig) : NULL;
        if (s)
                snprintf(buf, 16, "%s", s);
        else
                snprintf(buf, 16, "sig%d", sig);
        return buf;
}
#define SIGNAME(s) sig_name((s), (char[16]){ 0 })

/* " USR1 TERM" for a mask (bit N-1 = signal N); "" for 0 */
static void mask_names(uint64_t m, char *buf, size_t len) {
        size_t o = 0;
        buf[0] = 0;
        for (int s = 1; s <= 64 && o < len; s++)
                if (m & (1ULL << (s - 1)))
                        o += snprintf(buf + o, len - o, "%s%s", o ? " " : "", SIGNAME(s));
}

static const char *const rlimit_names[] = {
        "CPU", "FSIZE", "DATA", "STACK", "CORE", "RSS", "NPROC", "NOFILE",
        "MEMLOCK", "AS", "LOCKS", "SIGPENDING", "MSGQUEUE", "NICE", "RTPRIO", "RTTIME",
};

static const char *rlimit_name(uint32_t r) {
        return r < ARRAY_SIZE(rlimit_names) ? rlimit_names[r] : "?";
}

static const char *clock_name(int c) {
        static const char *const n[] = { "REALTIME",        "MONOTONIC",        "PROCESS_CPUTIME", "THREAD_CPUTIME",
                                         "MONOTONIC_RAW",   "REALTIME_COARSE",  "MONOTONIC_COARSE", "BOOTTIME",
                                         "REALTIME_ALARM",  "BOOTTIME_ALARM",   "SGI_CYCLE",       "TAI" };
        return c >= 0 && (size_t)c < ARRAY_SIZE(n) ? n[c] : "cpu-clock";
}

static const char *notify_name(int n) {
        switch (n) {
        case SIGEV_SIGNAL:
                return "signal";
        case SIGEV_NONE:
                return "none";
        case SIGEV_THREAD:
                return "thread";
        case SIGEV_THREAD_ID:
                return "thread-id";
        }
        return "?";
}

static const char *itimer_name(size_t i) {
        return i == 0 ? "REAL" : i == 1 ? "VIRTUAL" : i == 2 ? "PROF" : "?";
}

static void sa_flag_names(uint64_t f, char *buf, size_t len) {
        static const struct {
                uint64_t bit;
                const char *name;
        } n[] = {
                { SA_NOCLDSTOP, "NOCLDSTOP" }, { SA_NOCLDWAIT, "NOCLDWAIT" }, { SA_SIGINFO, "SIGINFO" },
                { 0x04000000, "RESTORER" },    { SA_ONSTACK, "ONSTACK" },     { SA_RESTART, "RESTART" },
                { SA_NODEFER, "NODEFER" },     { SA_RESETHAND, "RESETHAND" },
        };
        size_t o = 0;
        buf[0] = 0;
        for (size_t i = 0; i < ARRAY_SIZE(n) && o < len; i++)
                if (f & n[i].bit)
                        o += snprintf(buf + o, len - o, "%s%s", o ? "|" : "", n[i].name);
}

static const char *vma_kind_name(VmaKind k) {
        switch (k) {
        case VMA_KIND__VMA_ANON:
                return "anon";
        case VMA_KIND__VMA_FILE:
                return "file";
        case VMA_KIND__VMA_VDSO:
                return "vdso";
        case VMA_KIND__VMA_VVAR:
                return "vvar";
        case VMA_KIND__VMA_VSYSCALL:
                return "vsyscall";
        case VMA_KIND__VMA_HEAP:
                return "heap";
        case VMA_KIND__VMA_STACK:
                return "stack";
        case VMA_KIND__VMA_SYSVSHM:
                return "sysvshm";
        default:
                return "?";
        }
}

static void prot_str(const VmaEntry *v, char buf[5]) {
        buf[0] = v->prot & PROT_READ ? 'r' : '-';
        buf[1] = v->prot & PROT_WRITE ? 'w' : '-';
        buf[2] = v->prot & PROT_EXEC ? 'x' : '-';
        buf[3] = (v->flags & MAP_TYPE) == MAP_PRIVATE ? 'p' : 's';
        buf[4] = 0;
}

static void map_flag_names(uint32_t f, char *buf, size_t len) {
        static const struct {
                uint32_t bit;
                const char *name;
        } n[] = {
                { MAP_ANONYMOUS, "anon" },     { MAP_GROWSDOWN, "growsdown" }, { MAP_LOCKED, "locked" },
                { MAP_NORESERVE, "noreserve" }, { MAP_HUGETLB, "hugetlb" },     { MAP_STACK, "stack" },
        };
        size_t o = snprintf(buf, len, "%s", (f & MAP_TYPE) == MAP_PRIVATE ? "private" : "shared");
        for (size_t i = 0; i < ARRAY_SIZE(n) && o < len; i++)
                if (f & n[i].bit)
                        o += snprintf(buf + o, len - o, "|%s", n[i].name);
}

static void madv_names(uint64_t m, char *buf, size_t len) {
        static const char *const n[] = {
                [MADV_RANDOM] = "random",     [MADV_SEQUENTIAL] = "sequential", [MADV_DONTFORK] = "dontfork",
                [MADV_MERGEABLE] = "mergeable", [MADV_HUGEPAGE] = "hugepage",   [MADV_NOHUGEPAGE] = "nohugepage",
                [MADV_DONTDUMP] = "dontdump", [18] = "wipeonfork",
        };
        size_t o = 0;
        buf[0] = 0;
        for (unsigned b = 0; b < 64 && o < len; b++)
                if (m & (1ULL << b))
                        o += snprintf(buf + o, len - o, "%s%s", o ? "," : "",
                                      b < ARRAY_SIZE(n) && n[b] ? n[b] : "?");
}

static void open_flag_names(uint32_t f, char *buf, size_t len) {
        static const struct {
                uint32_t bit;
                const char *name;
        } n[] = {
                { O_APPEND, "O_APPEND" }, { O_NONBLOCK, "O_NONBLOCK" }, { O_DIRECT, "O_DIRECT" },
                { O_NOATIME, "O_NOATIME" }, { O_PATH, "O_PATH" },       { O_SYNC, "O_SYNC" },
                { O_DSYNC, "O_DSYNC" },   { O_ASYNC, "O_ASYNC" },       { O_DIRECTORY, "O_DIRECTORY" },
        };
        uint32_t acc = f & O_ACCMODE;
        size_t o = snprintf(buf, len, "%s", acc == O_RDONLY ? "O_RDONLY" : acc == O_WRONLY ? "O_WRONLY" : "O_RDWR");
        for (size_t i = 0; i < ARRAY_SIZE(n) && o < len; i++)
                if ((f & n[i].bit) == n[i].bit)
                        o += snprintf(buf + o, len - o, "|%s", n[i].name);
}

static const char *file_kind_name(FileKind k) {
        static const char *const n[] = { "reg", "pipe", "eventfd", "epoll", "timerfd",
                                         "signalfd", "inotify", "memfd", "unix",
                                         [FILE_KIND__FK_INET] = "inet", [FILE_KIND__FK_TTY] = "tty",
                                         [FILE_KIND__FK_MQUEUE] = "mqueue" };
        return (unsigned)k < ARRAY_SIZE(n) ? n[k] : "?";
}

static const char *mode_kind(uint32_t m) {
        switch (m & S_IFMT) {
        case S_IFREG:
                return "file";
        case S_IFDIR:
                return "dir";
        case S_IFCHR:
                return "chardev";
        case S_IFBLK:
                return "blockdev";
        case S_IFIFO:
                return "fifo";
        case S_IFSOCK:
                return "socket";
        case S_IFLNK:
                return "symlink";
        }
        return "?";
}

static void fmt_ns(uint64_t ns, char *buf, size_t len) {
        snprintf(buf, len, "%" PRIu64 ".%09" PRIu64 "s", ns / UINT64_C(1000000000), ns % UINT64_C(1000000000));
}

/* One line describing an open file description (without the kind). */
static char *file_desc(const struct inspect *x, const FileEntry *f) {
        char *s = NULL, fl[160], b1[40], b2[40];
        size_t sl = 0;
        FILE *m = open_memstream(&s, &sl);

        if (!m)
                abort();
        open_flag_names(f->flags, fl, sizeof(fl));
        switch (f->kind) {
        case FILE_KIND__FK_REG: {
                const RegFileEntry *r = f->reg;
                if (!r) {
                        fprintf(m, "(no details)");
                        break;
                }
                fprintf(m, "%s '%s' %s pos %" PRIu64 " size %" PRIu64, mode_kind(r->mode), r->path, fl, f->pos,
                        r->size);
                if (S_ISCHR(r->mode) || S_ISBLK(r->mode))
                        fprintf(m, " rdev %u:%u", major(r->rdev), minor(r->rdev));
                if (r->unlinked)
                        fprintf(m, " unlinked (contents in blob-%u.img)", f->blob_id);
                break;
        }
        case FILE_KIND__FK_PIPE: {
                const PipeEntry *p = f->pipe;
                uint64_t ino = p ? p->pipe_ino : f->ino;
                fprintf(m, "%s:[%" PRIu64 "] %s end", p && p->fifo ? "fifo" : "pipe", ino,
                        (f->flags & O_ACCMODE) == O_WRONLY ? "write" : "read");
                if (p && p->fifo)
                        fprintf(m, " '%s'", p->path);
                if (p && p->peer_outside)
                        fprintf(m, ", other end outside the tree");
                for (size_t i = 0; i < x->files->n_pipe_data; i++)
                        if (x->files->pipe_data[i]->pipe_ino == ino)
                                fprintf(m, ", %zu bytes buffered, capacity %u", x->files->pipe_data[i]->data.len,
                                        x->files->pipe_data[i]->capacity);
                if (f->flags & O_NONBLOCK)
                        fprintf(m, " O_NONBLOCK");
                break;
        }
        case FILE_KIND__FK_EVENTFD:
                if (f->eventfd)
                        fprintf(m, "counter %" PRIu64 "%s", f->eventfd->counter,
                                f->eventfd->semaphore ? " semaphore" : "");
                fprintf(m, " %s", fl);
                break;
        case FILE_KIND__FK_EPOLL:
                fprintf(m, "%zu watched fds", f->epoll ? f->epoll->n_tfds : 0);
                for (size_t i = 0; f->epoll && i < f->epoll->n_tfds; i++)
                        fprintf(m, "%s fd %d events 0x%x data 0x%" PRIx64, i ? "," : ":", f->epoll->tfds[i]->tfd,
                                f->epoll->tfds[i]->events, f->epoll->tfds[i]->data);
                break;
        case FILE_KIND__FK_TIMERFD:
                if (f->timerfd) {
                        fmt_ns(f->timerfd->value_ns, b1, sizeof(b1));
                        fmt_ns(f->timerfd->interval_ns, b2, sizeof(b2));
                        fprintf(m, "clock %s, next %s, interval %s, ticks %" PRIu64 "%s",
                                clock_name(f->timerfd->clock_id), f->timerfd->value_ns ? b1 : "disarmed", b2,
                                f->timerfd->ticks, f->timerfd->settime_flags & 1 ? ", absolute" : "");
                }
                break;
        case FILE_KIND__FK_SIGNALFD: {
                char sn[256];
                uint64_t mk = f->signalfd ? f->signalfd->sigmask : 0;
                mask_names(mk, sn, sizeof(sn));
                fprintf(m, "mask 0x%" PRIx64 " (%s)", mk, sn);
                break;
        }
        case FILE_KIND__FK_INOTIFY:
                fprintf(m, "%zu watches", f->inotify ? f->inotify->n_wds : 0);
                for (size_t i = 0; f->inotify && i < f->inotify->n_wds; i++)
                        fprintf(m, "%s wd %d mask 0x%x '%s'", i ? "," : ":", f->inotify->wds[i]->wd,
                                f->inotify->wds[i]->mask, f->inotify->wds[i]->path);
                break;
        case FILE_KIND__FK_MEMFD:
                if (f->memfd)
                        fprintf(m, "'memfd:%s' size %" PRIu64 " seals 0x%x mode %04o%s %s pos %" PRIu64
                                   " (contents in blob-%u.img)",
                                f->memfd->name, f->memfd->size, f->memfd->seals, f->memfd->mode & 07777,
                                f->memfd->hugetlb ? " hugetlb" : "", fl, f->pos, f->blob_id);
                break;
        case FILE_KIND__FK_UNIX: {
                const UnixEntry *u = f->unix_sk;
                if (!u)
                        break;
                size_t q = 0;
                for (size_t i = 0; i < u->n_queue; i++)
                        q += u->queue[i]->data.len;
                fprintf(m, "%s socket:[%" PRIu64 "] peer %" PRIu64 ", %zu messages (%zu bytes) queued",
                        u->type == 1 ? "stream" : u->type == 2 ? "dgram" : u->type == 5 ? "seqpacket" : "?", u->ino,
                        u->peer_ino, u->n_queue, q);
                if (u->shutdown)
                        fprintf(m, ", shutdown %s%s", u->shutdown & 1 ? "rd" : "", u->shutdown & 2 ? "wr" : "");
                if (u->passcred)
                        fprintf(m, ", SO_PASSCRED");
                break;
        }
        case FILE_KIND__FK_TTY: {
                const TtyEntry *t = f->tty;
                if (!t)
                        break;
                static const char *const tn[] = { "terminal", "pty master", "pty slave", "/dev/tty", "terminal" };
                fprintf(m, "%s '%s' %s", tn[t->type < ARRAY_SIZE(tn) ? t->type : 0], t->path, fl);
                if (t->job)
                        fprintf(m, ", the job's terminal (onto cryo's with --shell-job)%s",
                                t->job_fg_pgid ? "" : ", background");
                if (t->job && t->job_fg_pgid)
                        fprintf(m, ", foreground group %d", t->job_fg_pgid);
                if (!t->job && t->type != 1)
                        fprintf(m, ", pty %u", t->index);
                const TtyPairEntry *p = t->pair;
                if (p) {
                        size_t in = p->to_slave_partial.len;
                        for (size_t i = 0; i < p->n_to_slave; i++)
                                in += p->to_slave[i].len;
                        fprintf(m, ", pty %u %ux%u %s%s%s%s", t->index, p->cols, p->rows,
                                p->lflag & 2 /* ICANON */ ? "cooked" : "raw", p->packet ? " packet" : "",
                                p->locked ? " locked" : "", p->exclusive ? " exclusive" : "");
                        if (p->sid)
                                fprintf(m, ", terminal of session %u (foreground %u)", p->sid, p->fg_pgid);
                        fprintf(m, ", %zu bytes towards the master, %zu towards the slave", p->to_master.len, in);
                        if (p->slave_closed)
                                fprintf(m, ", slave closed");
                        else if (!p->slave_open && !p->sid)
                                fprintf(m, ", slave never opened");
                }
                break;
        }
        case FILE_KIND__FK_MQUEUE:
                if (f->mqueue)
                        fprintf(m, "'/%s'%s maxmsg %" PRId64 " msgsize %" PRId64 " mode %04o %s%s", f->mqueue->name,
                                f->mqueue->unlinked ? " (unlinked)" : "", f->mqueue->maxmsg, f->mqueue->msgsize,
                                f->mqueue->mode, fl, f->mqueue->holds_msgs ? "" : " (messages with another file)");
                if (f->mqueue && f->mqueue->holds_msgs)
                        fprintf(m, ", %zu messages queued", f->mqueue->n_msgs);
                break;
        case FILE_KIND__FK_INET:
                if (f->inet) {
                        char a[INET6_ADDRSTRLEN] = "?", b[INET6_ADDRSTRLEN] = "?";
                        int fam = f->inet->family == AF_INET6 ? AF_INET6 : AF_INET;
                        if (f->inet->src_addr.len)
                                inet_ntop(fam, f->inet->src_addr.data, a, sizeof(a));
                        if (f->inet->dst_addr.len)
                                inet_ntop(fam, f->inet->dst_addr.data, b, sizeof(b));
                        fprintf(m, "%s%s %s:%u", f->inet->proto == IPPROTO_TCP ? "TCP" : "UDP",
                                fam == AF_INET6 ? "v6" : "", a, f->inet->src_port);
                        if (f->inet->dst_port)
                                fprintf(m, " -> %s:%u", b, f->inet->dst_port);
                        if (f->inet->proto == IPPROTO_TCP && f->inet->backlog)
                                fprintf(m, " listening (backlog %u)", f->inet->backlog);
                        if (f->inet->tcp)
                                fprintf(m, " established (repair data saved)");
                }
                break;
        default:
                fprintf(m, "unknown kind %d", f->kind);
        }
        fclose(m);
        return s;
}

static const FileEntry *find_file(const struct inspect *x, uint32_t id) {
        for (size_t i = 0; i < x->files->n_files; i++)
                if (x->files->files[i]->id == id)
                        return x->files->files[i];
        return NULL;
}

static const char *task_comm(const struct itask *t) {
        if (!t->core)
                return t->pe->zombie ? "<zombie>" : "";
        return t->core->n_threads && t->core->threads[0]->comm ? t->core->threads[0]->comm : "";
}

static bool sigaction_default(const SigactionEntry *s) {
        return s->handler == 0 && s->flags == 0 && s->mask == 0;
}

static bool rlimit_unlimited(const RlimitEntry *r) {
        return r->cur == RLIM_INFINITY && r->max == RLIM_INFINITY;
}

static uint64_t xsave_sw_features(const ProtobufCBinaryData *x) {
        uint64_t f = 0;
        /* NT_X86_XSTATE keeps XCR0 in the first word of the sw_reserved
         * bytes (offset 464; struct user_xstateregs), unlike a signal frame */
        if (x->len >= 464 + 8)
                memcpy(&f, x->data + 464, sizeof(f));
        return f;
}

struct siginfo_short {
        int signo, code, pid, uid;
};

static struct siginfo_short siginfo_decode(const ProtobufCBinaryData *b) {
        siginfo_t si;
        memset(&si, 0, sizeof(si));
        memcpy(&si, b->data, MIN(b->len, sizeof(si)));
        return (struct siginfo_short){ si.si_signo, si.si_code, si.si_pid, (int)si.si_uid };
}

/* --- text output ---------------------------------------------------------------- */

static void fmt_time(uint64_t t, char *buf, size_t len, bool utc) {
        time_t tt = (time_t)t;
        struct tm tm;
        if (utc)
                gmtime_r(&tt, &tm);
        else
                localtime_r(&tt, &tm);
        strftime(buf, len, utc ? "%Y-%m-%dT%H:%M:%SZ" : "%Y-%m-%d %H:%M:%S %Z", &tm);
}

static void fmt_size(uint64_t n, char *buf, size_t len) {
        if (n < 10240)
                snprintf(buf, len, "%" PRIu64 " B", n);
        else if (n < 10ULL << 20)
                snprintf(buf, len, "%.1f KiB", n / 1024.0);
        else if (n < 10ULL << 30)
                snprintf(buf, len, "%.1f MiB", n / 1048576.0);
        else
                snprintf(buf, len, "%.1f GiB", n / 1073741824.0);
}

static void print_pending(const char *what, SiginfoEntry **p, size_t n) {
        if (!n)
                return;
        printf("%s", what);
        for (size_t i = 0; i < n; i++) {
                struct siginfo_short s = siginfo_decode(&p[i]->siginfo);
                printf("%s%s (code %d, from pid %d uid %d)", i ? ", " : " ", SIGNAME(s.signo), s.code, s.pid, s.uid);
        }
        printf("\n");
}

/* " (-ERESTART_RESTARTBLOCK)" etc. for a syscall's error return in ax */
static const char *errno_note(int64_t ax) {
        static char buf[48];
        const char *n = NULL;
        if (ax >= 0 || ax < -4095)
                return "";
        switch (-ax) {
        case ERESTARTSYS:
                n = "ERESTARTSYS";
                break;
        case ERESTARTNOINTR:
                n = "ERESTARTNOINTR";
                break;
        case ERESTARTNOHAND:
                n = "ERESTARTNOHAND";
                break;
        case ERESTART_RESTARTBLOCK:
                n = "ERESTART_RESTARTBLOCK";
                break;
        default:
                n = strerrorname_np((int)-ax);
        }
        snprintf(buf, sizeof(buf), " (-%s)", n ? n : "?");
        return buf;
}

static void print_thread(const ThreadCore *th) {
        char buf[512];
        printf("    thread %u '%s'\n", th->tid, th->comm ? th->comm : "");
        if (th->regs)
                printf("      regs      ip 0x%" PRIx64 " sp 0x%" PRIx64 " ax 0x%" PRIx64 "%s orig_ax %" PRId64
                       " fs_base 0x%" PRIx64 "\n",
                       th->regs->ip, th->regs->sp, th->regs->ax, errno_note((int64_t)th->regs->ax),
                       (int64_t)th->regs->orig_ax, th->regs->fs_base);
        uint64_t xf = xsave_sw_features(&th->xsave);
        kerndat_xfeatures_str(xf, buf, sizeof(buf));
        printf("      xsave     %zu bytes, features 0x%" PRIx64 " (%s)\n", th->xsave.len, xf, buf);
        mask_names(th->blocked, buf, sizeof(buf));
        printf("      sigmask   0x%" PRIx64 "%s%s%s\n", th->blocked, buf[0] ? " (" : "", buf, buf[0] ? ")" : "");
        print_pending("      pending  ", th->pending, th->n_pending);
        if (th->altstack && th->altstack->size)
                printf("      altstack  sp 0x%" PRIx64 " size %" PRIu64 " flags 0x%x\n", th->altstack->sp,
                       th->altstack->size, th->altstack->flags);
        if (th->rseq && th->rseq->ptr)
                printf("      rseq      0x%" PRIx64 " size %u sig 0x%08x\n", th->rseq->ptr, th->rseq->size,
                       th->rseq->sig);
        if (th->clear_child_tid || th->robust_list)
                printf("      tid/futex clear_child_tid 0x%" PRIx64 " robust_list 0x%" PRIx64 "\n",
                       th->clear_child_tid, th->robust_list);
        printf("      sched     policy %d prio %d nice %d\n", th->sched_policy, th->sched_prio, th->nice);
        const CredsEntry *c = th->creds;
        if (c) {
                size_t o = 0;
                buf[0] = 0;
                for (size_t i = 0; i < c->n_groups && o < sizeof(buf); i++)
                        o += snprintf(buf + o, sizeof(buf) - o, "%s%u", i ? "," : "", c->groups[i]);
                printf("      creds     uid %u/%u/%u/%u gid %u/%u/%u/%u groups [%s]\n", c->uid, c->euid, c->suid,
                       c->fsuid, c->gid, c->egid, c->sgid, c->fsgid, buf);
                printf("                caps eff 0x%" PRIx64 " prm 0x%" PRIx64 " inh 0x%" PRIx64 " bnd 0x%" PRIx64
                       " amb 0x%" PRIx64 ", secbits 0x%x%s\n",
                       c->cap_eff, c->cap_prm, c->cap_inh, c->cap_bnd, c->cap_amb, c->secbits,
                       c->no_new_privs ? ", no_new_privs" : "");
        }
}

static void print_task(const struct inspect *x, const struct itask *t) {
        const TaskCore *c = t->core;
        char buf[512], b1[40], b2[40];

        if (!c) {
                printf("\ntask %u: zombie, wait status %#x\n", t->pe->pid, t->pe->exit_code);
                return;
        }

        printf("\ntask %u '%s'\n", t->pe->pid, task_comm(t));
        printf("  cwd '%s' root '%s' umask %04o personality 0x%x exit_signal %s\n", c->cwd ? c->cwd : "",
               c->root ? c->root : "", c->umask, c->personality, c->exit_signal ? SIGNAME(c->exit_signal) : "0");
        printf("  dumpable %d pdeath_signal %d child_subreaper %d thp_disable %d timer_slack %" PRIu64 " ns%s\n",
               c->dumpable, c->pdeath_signal, c->child_subreaper, c->thp_disable, c->timer_slack_ns,
               t->pe->stopped ? ", stopped (SIGSTOP)" : "");
        for (size_t i = 0; i < c->n_threads; i++)
                print_thread(c->threads[i]);

        bool any = false;
        for (size_t i = 0; i < c->n_sigactions; i++) {
                const SigactionEntry *s = c->sigactions[i];
                if (sigaction_default(s))
                        continue;
                if (!any)
                        printf("  sigactions (not default)\n");
                any = true;
                sa_flag_names(s->flags, buf, sizeof(buf));
                if (s->handler == (uint64_t)(uintptr_t)SIG_IGN)
                        printf("    %-9s ignored", SIGNAME((int)i + 1));
                else if (s->handler == 0)
                        printf("    %-9s default", SIGNAME((int)i + 1));
                else
                        printf("    %-9s handler 0x%" PRIx64, SIGNAME((int)i + 1), s->handler);
                printf(" flags 0x%" PRIx64 "%s%s%s mask 0x%" PRIx64 "\n", s->flags, buf[0] ? " (" : "", buf,
                       buf[0] ? ")" : "", s->mask);
        }
        print_pending("  shared pending", c->shared_pending, c->n_shared_pending);
        for (size_t i = 0; i < c->n_itimers; i++) {
                const ItimerEntry *it = c->itimers[i];
                if (it->value_us || it->interval_us)
                        printf("  itimer %-7s next %" PRIu64 " us, interval %" PRIu64 " us\n", itimer_name(i),
                               it->value_us, it->interval_us);
        }
        for (size_t i = 0; i < c->n_posix_timers; i++) {
                const PosixTimerEntry *p = c->posix_timers[i];
                fmt_ns(p->value_ns, b1, sizeof(b1));
                fmt_ns(p->interval_ns, b2, sizeof(b2));
                printf("  posix timer %d: clock %s (%d), notify %s", p->id, clock_name(p->clock_id), p->clock_id,
                       notify_name(p->sigev_notify));
                if (p->sigev_notify != SIGEV_NONE)
                        printf(" %s value 0x%" PRIx64, SIGNAME(p->signo), p->sigev_value);
                if (p->sigev_notify == SIGEV_THREAD_ID)
                        printf(" tid %d", p->notify_tid);
                printf(", next %s, interval %s, overrun %d\n", p->value_ns ? b1 : "disarmed", b2, p->overrun);
        }
        any = false;
        for (size_t i = 0; i < c->n_rlimits; i++) {
                const RlimitEntry *r = c->rlimits[i];
                if (rlimit_unlimited(r))
                        continue;
                if (r->cur == RLIM_INFINITY)
                        snprintf(b1, sizeof(b1), "unlimited");
                else
                        snprintf(b1, sizeof(b1), "%" PRIu64, r->cur);
                if (r->max == RLIM_INFINITY)
                        snprintf(b2, sizeof(b2), "unlimited");
                else
                        snprintf(b2, sizeof(b2), "%" PRIu64, r->max);
                printf("%s %s %s/%s", any ? "," : "  rlimits (soft/hard)", rlimit_name(r->resource), b1, b2);
                any = true;
        }
        if (any)
                printf("\n");

        const MmEntry *mm = t->mm;
        printf("  mm  code 0x%" PRIx64 "-0x%" PRIx64 " data 0x%" PRIx64 "-0x%" PRIx64 " brk 0x%" PRIx64 "-0x%" PRIx64
               " stack 0x%" PRIx64 "\n",
               mm->start_code, mm->end_code, mm->start_data, mm->end_data, mm->start_brk, mm->brk, mm->start_stack);
        printf("      args 0x%" PRIx64 "-0x%" PRIx64 " env 0x%" PRIx64 "-0x%" PRIx64 " auxv %zu words, exe file %u\n",
               mm->arg_start, mm->arg_end, mm->env_start, mm->env_end, mm->n_auxv, mm->exe_file_id);
        fmt_size(t->pm->nr_pages * PAGE_SIZE_, b1, sizeof(b1));
        printf("  vmas: %zu, pages dumped: %" PRIu64 " (%s) in %zu runs\n", mm->n_vmas, t->pm->nr_pages, b1,
               t->pm->n_runs);
        printf("    %-33s %-4s %-22s %-8s %7s  %s\n", "START-END", "PROT", "FLAGS", "KIND", "PAGES", "NAME");
        for (size_t i = 0; i < mm->n_vmas; i++) {
                const VmaEntry *v = mm->vmas[i];
                char prot[5], fl[96], md[160];
                prot_str(v, prot);
                map_flag_names(v->flags, fl, sizeof(fl));
                madv_names(v->madv, md, sizeof(md));
                printf("    %016" PRIx64 "-%016" PRIx64 " %-4s %-22s %-8s %7" PRIu64 "  %s", v->start, v->end, prot, fl,
                       vma_kind_name(v->kind), t->vma_pages[i], v->name ? v->name : "");
                if (v->kind == VMA_KIND__VMA_FILE)
                        printf(" (file %u, offset 0x%" PRIx64 ")", v->file_id, v->pgoff);
                if (v->anon_name && v->anon_name[0])
                        printf(" [anon:%s]", v->anon_name);
                if (md[0])
                        printf(" madv:%s", md);
                if (v->locked)
                        printf(" mlocked");
                if (v->had_thp)
                        printf(" thp");
                printf("\n");
        }
        if (t->stray_pages)
                printf("    !! %" PRIu64 " dumped pages lie outside every VMA\n", t->stray_pages);
        printf("  fds: %zu\n", t->fdt->n_fds);
        for (size_t i = 0; i < t->fdt->n_fds; i++) {
                const FdEntry *fd = t->fdt->fds[i];
                const FileEntry *f = find_file(x, fd->file_id);
                if (!f) {
                        printf("    %4d -> file %u: MISSING from files.img\n", fd->fd, fd->file_id);
                        continue;
                }
                _cleanup_free_ char *d = file_desc(x, f);
                printf("    %4d -> %-8s %s%s (file %u)\n", fd->fd, file_kind_name(f->kind), d,
                       fd->cloexec ? " cloexec" : "", f->id);
        }
}

static void print_text(const struct inspect *x) {
        const InventoryEntry *inv = x->inv;
        char buf[256], when[64];

        fmt_time(inv->created_unix, when, sizeof(when), false);
        printf("checkpoint %s\n", x->dir);
        printf("  id         %016" PRIx64 "\n", x->id);
        printf("  version    image format %u, written by cryo %s\n", inv->img_version,
               inv->tool_version ? inv->tool_version : "?");
        printf("  kernel     %s on host '%s'\n", inv->kernel_release ? inv->kernel_release : "?",
               inv->hostname ? inv->hostname : "");
        printf("  date       %s\n", when);
        printf("  root pid   %u, %u tasks, %" PRIu64 " pages\n", inv->root_pid, inv->ntasks, inv->pages_total);
        kerndat_xfeatures_str(inv->xfeatures, buf, sizeof(buf));
        printf("  cpu        xsave %u bytes, XCR0 0x%" PRIx64 " (%s)\n", inv->xsave_size, inv->xfeatures, buf);
        printf("  flags      %s%s%s\n", inv->shell_job ? "shell-job " : "", inv->leave_running ? "leave-running " : "",
               !inv->shell_job && !inv->leave_running ? "-" : "");
        if (inv->parent_dir && inv->parent_dir[0])
                printf("  parent     '%s'\n", inv->parent_dir);

        printf("\nprocess tree\n  %-8s %-8s %-8s %-8s %-16s %s\n", "PID", "PPID", "PGID", "SID", "COMM", "THREADS");
        for (size_t i = 0; i < x->nt; i++) {
                const PstreeEntry *p = x->t[i].pe;
                size_t o = 0;
                buf[0] = 0;
                for (size_t k = 0; k < p->n_threads && o < sizeof(buf); k++)
                        o += snprintf(buf + o, sizeof(buf) - o, "%s%u", k ? "," : "", p->threads[k]);
                printf("  %-8u %-8u %-8u %-8u %-16s %s\n", p->pid, p->ppid, p->pgid, p->sid, task_comm(&x->t[i]), buf);
        }
        for (size_t i = 0; i < x->nt; i++)
                print_task(x, &x->t[i]);

        const IpcImage *ipc = x->ipc;
        if (ipc && ipc->n_shm + ipc->n_sem + ipc->n_msq) {
                printf("\nSysV IPC\n");
                for (size_t i = 0; i < ipc->n_shm; i++) {
                        const IpcShmEntry *e = ipc->shm[i];
                        if (!e->perm)
                                continue;
                        printf("  shm %-8d key 0x%08x mode %04o owner %u:%u size %" PRIu64 " (%" PRIu64
                               " bytes of data in shm-%d.img) cpid %u lpid %u%s%s\n",
                               e->perm->id, (unsigned)e->perm->key, e->perm->mode & 0777, e->perm->uid, e->perm->gid,
                               e->size, e->data_len, e->perm->id, e->cpid, e->lpid,
                               e->perm->mode & 01000 ? " removed-while-attached" : "",
                               e->perm->mode & 02000 ? " locked" : "");
                }
                for (size_t i = 0; i < ipc->n_sem; i++) {
                        const IpcSemEntry *e = ipc->sem[i];
                        size_t o = 0;
                        buf[0] = 0;
                        for (size_t k = 0; k < e->n_values && o < sizeof(buf); k++)
                                o += snprintf(buf + o, sizeof(buf) - o, "%s%u", k ? "," : "", e->values[k]);
                        if (e->perm)
                                printf("  sem %-8d key 0x%08x mode %04o owner %u:%u values %s\n", e->perm->id,
                                       (unsigned)e->perm->key, e->perm->mode & 0777, e->perm->uid, e->perm->gid, buf);
                }
                for (size_t i = 0; i < ipc->n_msq; i++) {
                        const IpcMsqEntry *e = ipc->msq[i];
                        uint64_t bytes = 0;
                        for (size_t k = 0; k < e->n_msgs; k++)
                                bytes += e->msgs[k]->data.len;
                        if (e->perm)
                                printf("  msg %-8d key 0x%08x mode %04o owner %u:%u %zu messages (%" PRIu64
                                       " bytes), qbytes %" PRIu64 " lspid %u lrpid %u\n",
                                       e->perm->id, (unsigned)e->perm->key, e->perm->mode & 0777, e->perm->uid,
                                       e->perm->gid, e->n_msgs, bytes, e->qbytes, e->lspid, e->lrpid);
                }
        }

        uint64_t total = 0;
        printf("\nimages\n");
        for (size_t i = 0; i < x->nimg; i++) {
                const struct iimage *im = &x->img[i];
                fmt_size(im->size, buf, sizeof(buf));
                printf("  %-22s %12" PRIu64 "  %-10s %s%s\n", im->name, im->size, buf,
                       im->hdr_ok ? img_type_name(im->h.type) : "not a cryo image",
                       im->hdr_ok && im->h.ckpt_id != x->id ? " (another checkpoint)" : "");
                total += im->size;
        }
        fmt_size(total, buf, sizeof(buf));
        printf("  %-22s %12" PRIu64 "  %s\n", "total", total, buf);
}

/* --- JSON output ------------------------------------------------------------------ */

/* Any protobuf-c message, field by field, by its descriptor. */
static void json_msg(struct json *j, const char *key, const ProtobufCMessage *m);

static size_t pb_elem_size(const ProtobufCFieldDescriptor *fd) {
        switch (fd->type) {
        case PROTOBUF_C_TYPE_INT64:
        case PROTOBUF_C_TYPE_SINT64:
        case PROTOBUF_C_TYPE_SFIXED64:
        case PROTOBUF_C_TYPE_UINT64:
        case PROTOBUF_C_TYPE_FIXED64:
        case PROTOBUF_C_TYPE_DOUBLE:
                return 8;
        case PROTOBUF_C_TYPE_BOOL:
                return sizeof(protobuf_c_boolean);
        case PROTOBUF_C_TYPE_STRING:
        case PROTOBUF_C_TYPE_MESSAGE:
                return sizeof(void *);
        case PROTOBUF_C_TYPE_BYTES:
                return sizeof(ProtobufCBinaryData);
        default:
                return 4;
        }
}

static void json_pb_value(struct json *j, const char *key, const ProtobufCFieldDescriptor *fd, const void *p) {
        switch (fd->type) {
        case PROTOBUF_C_TYPE_INT32:
        case PROTOBUF_C_TYPE_SINT32:
        case PROTOBUF_C_TYPE_SFIXED32:
                json_int(j, key, *(const int32_t *)p);
                break;
        case PROTOBUF_C_TYPE_INT64:
        case PROTOBUF_C_TYPE_SINT64:
        case PROTOBUF_C_TYPE_SFIXED64:
                json_int(j, key, *(const int64_t *)p);
                break;
        case PROTOBUF_C_TYPE_UINT32:
        case PROTOBUF_C_TYPE_FIXED32:
                json_uint(j, key, *(const uint32_t *)p);
                break;
        case PROTOBUF_C_TYPE_UINT64:
        case PROTOBUF_C_TYPE_FIXED64:
                json_uint(j, key, *(const uint64_t *)p);
                break;
        case PROTOBUF_C_TYPE_BOOL:
                json_bool(j, key, *(const protobuf_c_boolean *)p);
                break;
        case PROTOBUF_C_TYPE_ENUM: {
                int v = *(const int *)p;
                const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(fd->descriptor, v);
                if (ev)
                        json_str(j, key, ev->name);
                else
                        json_int(j, key, v);
                break;
        }
        case PROTOBUF_C_TYPE_STRING:
                json_str(j, key, *(char *const *)p);
                break;
        case PROTOBUF_C_TYPE_BYTES: {
                const ProtobufCBinaryData *b = p;
                json_obj_open(j, key);
                json_uint(j, "len", b->len);
                if (b->len <= 64) {
                        char hex[129];
                        for (size_t i = 0; i < b->len; i++)
                                snprintf(hex + 2 * i, 3, "%02x", b->data[i]);
                        hex[2 * b->len] = 0;
                        json_str(j, "hex", hex);
                }
                json_obj_close(j);
                break;
        }
        case PROTOBUF_C_TYPE_MESSAGE:
                json_msg(j, key, *(ProtobufCMessage *const *)p);
                break;
        default:
                json_null(j, key);
        }
}

static void json_msg(struct json *j, const char *key, const ProtobufCMessage *m) {
        if (!m) {
                json_null(j, key);
                return;
        }
        const ProtobufCMessageDescriptor *d = m->descriptor;
        json_obj_open(j, key);
        for (unsigned i = 0; i < d->n_fields; i++) {
                const ProtobufCFieldDescriptor *fd = &d->fields[i];
                const char *base = (const char *)m;
                if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
                        size_t n = *(const size_t *)(base + fd->quantifier_offset);
                        const char *arr = *(char *const *)(base + fd->offset);
                        json_arr_open(j, fd->name);
                        for (size_t k = 0; k < n; k++)
                                json_pb_value(j, NULL, fd, arr + k * pb_elem_size(fd));
                        json_arr_close(j);
                } else if (fd->type == PROTOBUF_C_TYPE_MESSAGE && !*(ProtobufCMessage *const *)(base + fd->offset))
                        continue; /* absent sub-message (e.g. the other kinds of a file) */
                else
                        json_pb_value(j, fd->name, fd, base + fd->offset);
        }
        json_obj_close(j);
}

static void json_sigmask(struct json *j, const char *key, uint64_t m) {
        json_arr_open(j, key);
        for (int s = 1; s <= 64; s++)
                if (m & (1ULL << (s - 1)))
                        json_str(j, NULL, SIGNAME(s));
        json_arr_close(j);
}

static void json_pending(struct json *j, const char *key, SiginfoEntry **p, size_t n) {
        json_arr_open(j, key);
        for (size_t i = 0; i < n; i++) {
                struct siginfo_short s = siginfo_decode(&p[i]->siginfo);
                json_obj_open(j, NULL);
                json_int(j, "signo", s.signo);
                json_str(j, "name", SIGNAME(s.signo));
                json_int(j, "code", s.code);
                json_int(j, "pid", s.pid);
                json_int(j, "uid", s.uid);
                json_obj_close(j);
        }
        json_arr_close(j);
}

static void json_limit(struct json *j, const char *key, uint64_t v) {
        if (v == RLIM_INFINITY)
                json_str(j, key, "unlimited");
        else
                json_uint(j, key, v);
}

static void json_thread(struct json *j, const ThreadCore *th) {
        char buf[256];
        json_obj_open(j, NULL);
        json_uint(j, "tid", th->tid);
        json_str(j, "comm", th->comm);
        if (th->regs) {
                json_obj_open(j, "regs");
                json_uint(j, "ip", th->regs->ip);
                json_uint(j, "sp", th->regs->sp);
                json_uint(j, "ax", th->regs->ax);
                json_int(j, "orig_ax", (int64_t)th->regs->orig_ax);
                json_uint(j, "fs_base", th->regs->fs_base);
                json_obj_close(j);
        }
        uint64_t xf = xsave_sw_features(&th->xsave);
        kerndat_xfeatures_str(xf, buf, sizeof(buf));
        json_obj_open(j, "xsave");
        json_uint(j, "size", th->xsave.len);
        json_uint(j, "features", xf);
        json_str(j, "feature_names", buf);
        json_obj_close(j);
        json_uint(j, "sigmask", th->blocked);
        json_sigmask(j, "sigmask_names", th->blocked);
        json_pending(j, "pending", th->pending, th->n_pending);
        json_msg(j, "altstack", (const ProtobufCMessage *)th->altstack);
        json_msg(j, "rseq", (const ProtobufCMessage *)th->rseq);
        json_uint(j, "clear_child_tid", th->clear_child_tid);
        json_uint(j, "robust_list", th->robust_list);
        json_int(j, "sched_policy", th->sched_policy);
        json_int(j, "sched_prio", th->sched_prio);
        json_int(j, "nice", th->nice);
        json_msg(j, "creds", (const ProtobufCMessage *)th->creds);
        json_obj_close(j);
}

static void json_task(struct json *j, const struct inspect *x, const struct itask *t) {
        const TaskCore *c = t->core;
        char buf[256];

        if (!c) {
                json_obj_open(j, NULL);
                json_uint(j, "pid", t->pe->pid);
                json_bool(j, "zombie", true);
                json_int(j, "exit_status", t->pe->exit_code);
                json_obj_close(j);
                return;
        }

        json_obj_open(j, NULL);
        json_uint(j, "pid", t->pe->pid);
        json_str(j, "comm", task_comm(t));
        json_str(j, "cwd", c->cwd);
        json_str(j, "root", c->root);
        json_uint(j, "umask", c->umask);
        json_uint(j, "personality", c->personality);
        json_int(j, "exit_signal", c->exit_signal);
        json_int(j, "pdeath_signal", c->pdeath_signal);
        json_int(j, "dumpable", c->dumpable);
        json_int(j, "child_subreaper", c->child_subreaper);
        json_int(j, "thp_disable", c->thp_disable);
        json_uint(j, "timer_slack_ns", c->timer_slack_ns);
        json_bool(j, "stopped", t->pe->stopped);
        json_arr_open(j, "threads");
        for (size_t i = 0; i < c->n_threads; i++)
                json_thread(j, c->threads[i]);
        json_arr_close(j);

        json_arr_open(j, "sigactions");
        for (size_t i = 0; i < c->n_sigactions; i++) {
                const SigactionEntry *s = c->sigactions[i];
                if (sigaction_default(s))
                        continue;
                json_obj_open(j, NULL);
                json_int(j, "signo", (int)i + 1);
                json_str(j, "name", SIGNAME((int)i + 1));
                json_str(j, "disposition", s->handler == (uint64_t)(uintptr_t)SIG_IGN ? "ignore"
                                           : s->handler == 0                        ? "default"
                                                                                    : "handler");
                json_uint(j, "handler", s->handler);
                json_uint(j, "flags", s->flags);
                sa_flag_names(s->flags, buf, sizeof(buf));
                json_str(j, "flag_names", buf);
                json_uint(j, "mask", s->mask);
                json_uint(j, "restorer", s->restorer);
                json_obj_close(j);
        }
        json_arr_close(j);
        json_pending(j, "shared_pending", c->shared_pending, c->n_shared_pending);
        json_arr_open(j, "itimers");
        for (size_t i = 0; i < c->n_itimers; i++) {
                json_obj_open(j, NULL);
                json_str(j, "which", itimer_name(i));
                json_uint(j, "value_us", c->itimers[i]->value_us);
                json_uint(j, "interval_us", c->itimers[i]->interval_us);
                json_obj_close(j);
        }
        json_arr_close(j);
        json_arr_open(j, "posix_timers");
        for (size_t i = 0; i < c->n_posix_timers; i++)
                json_msg(j, NULL, &c->posix_timers[i]->base);
        json_arr_close(j);
        json_arr_open(j, "rlimits");
        for (size_t i = 0; i < c->n_rlimits; i++) {
                const RlimitEntry *r = c->rlimits[i];
                if (rlimit_unlimited(r))
                        continue;
                json_obj_open(j, NULL);
                json_str(j, "resource", rlimit_name(r->resource));
                json_limit(j, "cur", r->cur);
                json_limit(j, "max", r->max);
                json_obj_close(j);
        }
        json_arr_close(j);

        const MmEntry *mm = t->mm;
        json_obj_open(j, "mm");
        json_uint(j, "start_code", mm->start_code);
        json_uint(j, "end_code", mm->end_code);
        json_uint(j, "start_data", mm->start_data);
        json_uint(j, "end_data", mm->end_data);
        json_uint(j, "start_brk", mm->start_brk);
        json_uint(j, "brk", mm->brk);
        json_uint(j, "start_stack", mm->start_stack);
        json_uint(j, "arg_start", mm->arg_start);
        json_uint(j, "arg_end", mm->arg_end);
        json_uint(j, "env_start", mm->env_start);
        json_uint(j, "env_end", mm->env_end);
        json_uint(j, "auxv_words", mm->n_auxv);
        json_uint(j, "exe_file_id", mm->exe_file_id);
        json_obj_close(j);
        json_obj_open(j, "pages");
        json_uint(j, "nr_pages", t->pm->nr_pages);
        json_uint(j, "runs", t->pm->n_runs);
        json_uint(j, "bytes", t->pages_len);
        json_uint(j, "outside_vmas", t->stray_pages);
        json_obj_close(j);
        json_arr_open(j, "vmas");
        for (size_t i = 0; i < mm->n_vmas; i++) {
                const VmaEntry *v = mm->vmas[i];
                char prot[5], fl[96], md[160];
                prot_str(v, prot);
                map_flag_names(v->flags, fl, sizeof(fl));
                madv_names(v->madv, md, sizeof(md));
                json_obj_open(j, NULL);
                json_uint(j, "start", v->start);
                json_uint(j, "end", v->end);
                json_str(j, "prot", prot);
                json_uint(j, "flags", v->flags);
                json_str(j, "flag_names", fl);
                json_str(j, "kind", vma_kind_name(v->kind));
                json_str(j, "name", v->name);
                json_uint(j, "pgoff", v->pgoff);
                json_uint(j, "file_id", v->file_id);
                json_str(j, "madvise", md);
                json_bool(j, "locked", v->locked);
                json_bool(j, "had_thp", v->had_thp);
                json_str(j, "anon_name", v->anon_name);
                json_uint(j, "pages", t->vma_pages[i]);
                json_obj_close(j);
        }
        json_arr_close(j);
        json_arr_open(j, "fds");
        for (size_t i = 0; i < t->fdt->n_fds; i++) {
                const FdEntry *fd = t->fdt->fds[i];
                const FileEntry *f = find_file(x, fd->file_id);
                json_obj_open(j, NULL);
                json_int(j, "fd", fd->fd);
                json_uint(j, "file_id", fd->file_id);
                json_bool(j, "cloexec", fd->cloexec);
                json_str(j, "kind", f ? file_kind_name(f->kind) : NULL);
                if (f) {
                        _cleanup_free_ char *d = file_desc(x, f);
                        json_str(j, "desc", d);
                } else
                        json_str(j, "desc", "missing from files.img");
                json_obj_close(j);
        }
        json_arr_close(j);
        json_obj_close(j);
}

static void print_json(const struct inspect *x) {
        const InventoryEntry *inv = x->inv;
        struct json j;
        char buf[256];

        json_init(&j, stdout);
        json_obj_open(&j, NULL);
        json_str(&j, "dir", x->dir);
        json_obj_open(&j, "checkpoint");
        snprintf(buf, sizeof(buf), "%016" PRIx64, x->id);
        json_str(&j, "id", buf);
        json_uint(&j, "img_version", inv->img_version);
        json_str(&j, "tool_version", inv->tool_version);
        json_str(&j, "kernel", inv->kernel_release);
        json_str(&j, "hostname", inv->hostname);
        json_uint(&j, "created_unix", inv->created_unix);
        fmt_time(inv->created_unix, buf, sizeof(buf), true);
        json_str(&j, "created", buf);
        json_uint(&j, "root_pid", inv->root_pid);
        json_uint(&j, "ntasks", inv->ntasks);
        json_uint(&j, "pages_total", inv->pages_total);
        json_uint(&j, "page_size", inv->page_size);
        json_uint(&j, "xfeatures", inv->xfeatures);
        kerndat_xfeatures_str(inv->xfeatures, buf, sizeof(buf));
        json_str(&j, "xfeature_names", buf);
        json_uint(&j, "xsave_size", inv->xsave_size);
        json_arr_open(&j, "flags");
        if (inv->shell_job)
                json_str(&j, NULL, "shell-job");
        if (inv->leave_running)
                json_str(&j, NULL, "leave-running");
        json_arr_close(&j);
        json_str(&j, "parent_dir", inv->parent_dir);
        json_obj_close(&j);

        json_arr_open(&j, "tree");
        for (size_t i = 0; i < x->nt; i++) {
                const PstreeEntry *p = x->t[i].pe;
                json_obj_open(&j, NULL);
                json_uint(&j, "pid", p->pid);
                json_uint(&j, "ppid", p->ppid);
                json_uint(&j, "pgid", p->pgid);
                json_uint(&j, "sid", p->sid);
                json_str(&j, "comm", task_comm(&x->t[i]));
                json_arr_open(&j, "threads");
                for (size_t k = 0; k < p->n_threads; k++)
                        json_uint(&j, NULL, p->threads[k]);
                json_arr_close(&j);
                json_obj_close(&j);
        }
        json_arr_close(&j);

        json_arr_open(&j, "tasks");
        for (size_t i = 0; i < x->nt; i++)
                json_task(&j, x, &x->t[i]);
        json_arr_close(&j);

        json_arr_open(&j, "files");
        for (size_t i = 0; i < x->files->n_files; i++) {
                _cleanup_free_ char *d = file_desc(x, x->files->files[i]);
                json_obj_open(&j, NULL);
                json_str(&j, "desc", d);
                json_msg(&j, "entry", &x->files->files[i]->base);
                json_obj_close(&j);
        }
        json_arr_close(&j);
        json_arr_open(&j, "pipe_data");
        for (size_t i = 0; i < x->files->n_pipe_data; i++) {
                const PipeDataEntry *p = x->files->pipe_data[i];
                json_obj_open(&j, NULL);
                json_uint(&j, "pipe_ino", p->pipe_ino);
                json_uint(&j, "capacity", p->capacity);
                json_uint(&j, "bytes", p->data.len);
                json_obj_close(&j);
        }
        json_arr_close(&j);

        json_arr_open(&j, "images");
        for (size_t i = 0; i < x->nimg; i++) {
                const struct iimage *im = &x->img[i];
                json_obj_open(&j, NULL);
                json_str(&j, "name", im->name);
                json_uint(&j, "size", im->size);
                json_str(&j, "type", im->hdr_ok ? img_type_name(im->h.type) : NULL);
                if (im->hdr_ok)
                        json_uint(&j, "payload_len", im->h.payload_len);
                json_bool(&j, "this_checkpoint", im->hdr_ok && im->h.ckpt_id == x->id);
                json_obj_close(&j);
        }
        json_arr_close(&j);
        if (x->ipc)
                json_msg(&j, "ipc", &x->ipc->base);
        json_obj_close(&j);
}

/* --- command ------------------------------------------------------------------------ */

static void inspect_usage(FILE *f) {
        fprintf(f,
                "Usage: cryo inspect DIR [--json]\n"
                "\n"
                "Show what the checkpoint in DIR contains: the checkpoint itself, the process\n"
                "tree, each task's threads (registers, signals, credentials), timers, limits,\n"
                "memory map and open files, the SysV IPC objects, and the size of every\n"
                "image. Every image is verified (checksums, checkpoint id, lengths) on the\n"
                "way: a damaged image gives a one-line error and exit status 1.\n"
                "\n"
                "Options:\n"
                "      --json              print the same as one JSON object\n"
                "  -D, --images-dir DIR    the directory (instead of the argument)\n"
                "  -o, --log-file FILE     write a detailed log to FILE\n"
                "  -v[N]                   verbosity 0..4 (default 2)\n"
                "  -h, --help              this help\n");
}

int cmd_inspect(int argc, char **argv) {
        static const struct option longopts[] = {
                { "json", no_argument, NULL, 'J' },
                { "images-dir", required_argument, NULL, 'D' },
                COMMON_LONG_OPTS,
                {},
        };
        struct common_opts co = { .verbosity = 2 };
        struct inspect x = { .dirfd = -EBADF };
        bool json = false;
        int c, r;

        optind = 1;
        while ((c = getopt_long(argc, argv, "D:" COMMON_SHORT_OPTS, longopts, NULL)) != -1) {
                if (common_opt(&co, c, optarg))
                        continue;
                switch (c) {
                case 'J':
                        json = true;
                        break;
                case 'D':
                        x.dir = optarg;
                        break;
                case 'h':
                        inspect_usage(stdout);
                        return 0;
                default:
                        inspect_usage(stderr);
                        return 2;
                }
        }
        if (optind < argc && !x.dir)
                x.dir = argv[optind++];
        if (!x.dir || optind < argc) {
                fprintf(stderr, "cryo inspect: %s\n", x.dir ? "too many arguments" : "which image directory?");
                inspect_usage(stderr);
                return 2;
        }
        common_setup_log(&co);

        r = inspect_load(&x);
        if (r < 0) {
                inspect_done(&x);
                return report_failure(r, "inspect");
        }
        if (json)
                print_json(&x);
        else
                print_text(&x);
        inspect_done(&x);
        if (fflush(stdout) != 0 || ferror(stdout))
                return 1;
        return 0;
}
