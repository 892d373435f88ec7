/* System V IPC: shared memory segments, semaphore sets, message queues.
 *
 * Which objects: they are global in the IPC namespace (cryo's own; a task in
 * another one is refused by dump.c), so a checkpoint takes the ones its tree
 * uses: every segment a process of the tree has attached (its /SYSV mappings;
 * the inode number of one is the shmid), created (shm_cpid) or attached or
 * detached last (shm_lpid); every semaphore set in which a process of the
 * tree did the last operation on one of the semaphores (sempid); every
 * message queue a process of the tree sent to or received from last (lspid,
 * lrpid). An object the tree uses only in other ways (waiting in semop(),
 * say) is not seen.
 *
 * Saved in ipc.img: key, id, owner, creator, mode, and
 *   shm  size, cpid/lpid, and the contents: the runs of data (SEEK_DATA) of
 *        the segment's shmem file, raw in shm-ID.img. The file is opened
 *        through /proc/PID/map_files of a process of the tree that has it
 *        attached (no trace left); a segment nobody in the tree has attached
 *        is attached read-only for a moment by its lpid (a remote shmat, so
 *        shm_lpid stays; only shm_atime/shm_dtime show it), else by its cpid,
 *        else by cryo;
 *   sem  every value (GETALL) and the pid of the last operation on each;
 *   msg  msg_qbytes, lspid/lrpid and every message in order, read with
 *        msgrcv(MSG_COPY), which copies without dequeuing (it needs
 *        CONFIG_CHECKPOINT_RESTORE).
 * Refused: SEM_UNDO adjustments, which cannot be read (there is no
 * /proc/PID/sysvipc): a process that has an undo list (kcmp KCMP_SYSVSEM
 * against cryo, which has none; note that creating a thread makes one) and
 * did the last operation on a semaphore of a set in the checkpoint;
 * hugetlb segments.
 *
 * Restore, before any process of the tree exists. Each object is created
 * with its old id: the id goes to /proc/sys/kernel/{shm,sem,msg}_next_id
 * right before the *get() call (and is checked after it: when the index is
 * in use the kernel silently takes the next one). Creation and the calls
 * that record a pid run in short-lived helper processes: the creator's
 * effective uid/gid, and the pid the object remembers where it remembers one
 * (clone3 set_tid; such a pid is free unless an unrelated process got it
 * meanwhile -- then any pid does): a segment is created by its cpid and
 * filled by its lpid; each semaphore's value is set (SETVAL) by its sempid;
 * the messages are sent by lspid after lrpid received a dummy one. Then
 * owner and mode (IPC_SET, as root), SHM_LOCK, and for a segment that was
 * removed while attached (SHM_DEST) a read-only attach in cryo that keeps it
 * alive until cryo exits -- the tree attaches it again meanwhile -- and
 * IPC_RMID. Times (atime, otime, stime, ctime ...) are not restored.
 *
 * The objects stay where they are after a dump: other processes may share
 * them. So restore may find the original still there: an object with the
 * same id, key, owner, creator, mode and size is used as it is now, never
 * rolled back to the checkpoint (which also means: restored after a dump
 * that killed the tree, nothing has changed it since). Any other object in
 * the way -- the id or the key taken -- refuses the restore. A failed
 * restore removes what it created.
 *
 * Mappings: mm.c calls ipc_shm_attach_remote() for the VMAs of a segment:
 * a remote shmat() at the address of the attachment, then the parts the
 * process had unmapped are unmapped again, then each piece gets its
 * protection and madvise() state. */
#define LOG_PREFIX "ipc: "
#include "core/res/ipc.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <sys/wait.h>

#include "basic/kcompat.h"
#include "basic/log.h"
#include "basic/util.h"
#include "image/image.h"
#include "ipc.pb-c.h"

#ifndef MSG_COPY
#define MSG_COPY 040000
#endif
#ifndef SHM_EXEC
#define SHM_EXEC 0100000
#endif
#ifndef SHM_DEST
#define SHM_DEST 01000
#define SHM_LOCKED 02000
#endif

#define PAGE 4096ULL

enum { IPC_SHM, IPC_SEM, IPC_MSG };
static const char *const kind_name[] = { "shared memory segment", "semaphore set", "message queue" };
static const char *const next_id_file[] = { "/proc/sys/kernel/shm_next_id", "/proc/sys/kernel/sem_next_id",
                                            "/proc/sys/kernel/msg_next_id" };

union semun {
        int val;
        struct semid_ds *buf;
        unsigned short *array;
};

/* ------------------------------------------------------------------ dump */

static bool in_tree(const struct dump_ctx *ctx, pid_t pid) {
        if (pid <= 0)
                return false;
        for (size_t i = 0; i < ctx->ntasks; i++)
                if (ctx->tasks[i].pid == pid)
                        return true;
        return false;
}

/* The ids in /proc/sysvipc/NAME (second column). */
static int list_ids(const char *name, int **ret, size_t *ret_n) {
        _cleanup_free_ char *text = NULL;
        char path[64];
        size_t n = 0, cap = 0;
        int *ids = NULL, r;

        snprintf(path, sizeof(path), "/proc/sysvipc/%s", name);
        r = read_full_file(path, &text, NULL);
        if (r < 0)
                return log_error_errno(r, "cannot read %s: %m", path);
        char *line = strchr(text, '\n'); /* the header */
        while (line && *++line) {
                int key, id;
                if (sscanf(line, "%d %d", &key, &id) == 2)
                        *ARRAY_PUSH(ids, n, cap) = id;
                line = strchr(line, '\n');
        }
        *ret = ids;
        *ret_n = n;
        return 0;
}

static IpcPermEntry *perm_new(const struct ipc_perm *p, int id) {
        IpcPermEntry *e = xzalloc(sizeof(*e));
        ipc_perm_entry__init(e);
        e->key = p->__key;
        e->id = id;
        e->mode = p->mode;
        e->uid = p->uid;
        e->gid = p->gid;
        e->cuid = p->cuid;
        e->cgid = p->cgid;
        return e;
}

/* A process of the tree that has segment shmid attached, and the VMA. */
static const VmaEntry *shm_attached(const struct dump_ctx *ctx, int shmid, pid_t *ret_pid) {
        for (size_t i = 0; i < ctx->ntasks; i++) {
                const struct dump_task *t = &ctx->tasks[i];
                if (t->zombie || !t->mm)
                        continue;
                for (size_t k = 0; k < t->mm->n_vmas; k++) {
                        const VmaEntry *v = t->mm->vmas[k];
                        if (v->kind == VMA_KIND__VMA_SYSVSHM && v->shmid == shmid) {
                                *ret_pid = t->pid;
                                return v;
                        }
                }
        }
        return NULL;
}

static struct dump_task *live_task(struct dump_ctx *ctx, pid_t pid) {
        for (size_t i = 0; pid > 0 && i < ctx->ntasks; i++)
                if (ctx->tasks[i].pid == pid && !ctx->tasks[i].zombie && ctx->tasks[i].prepared)
                        return &ctx->tasks[i];
        return NULL;
}

/* cryo's own fd on the shmem file behind segment shmid (lpid, cpid: the
 * segment's, to attach it in one of them if nobody has it attached). */
static int shm_open_data(struct dump_ctx *ctx, int shmid, uint64_t size, pid_t lpid, pid_t cpid, pid_t who,
                         int *ret_fd) {
        char path[96];
        pid_t pid;
        int fd;

        const VmaEntry *v = shm_attached(ctx, shmid, &pid);
        if (v) {
                snprintf(path, sizeof(path), "/proc/%d/map_files/%llx-%llx", pid, (unsigned long long)v->start,
                         (unsigned long long)v->end);
                fd = open(path, O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                        return log_error_errno(-errno, "pid %d: cannot open SysV shared memory segment %d through %s: %m",
                                               pid, shmid, path);
                *ret_fd = fd;
                return 0;
        }
        /* attached by nobody in the tree: a short attach by its last
         * attacher (or creator) keeps shm_lpid as it is */
        struct dump_task *t = live_task(ctx, lpid) ?: live_task(ctx, cpid);
        if (t) {
                int64_t x = infect_call(&t->inf, __NR_shmat, shmid, 0, SHM_RDONLY, 0, 0, 0);
                if (x >= 0 || x <= -4096) {
                        snprintf(path, sizeof(path), "/proc/%d/map_files/%llx-%llx", t->pid, (unsigned long long)x,
                                 (unsigned long long)(x + ALIGN_UP(size, PAGE)));
                        fd = open(path, O_RDONLY | O_CLOEXEC);
                        int r = fd < 0 ? -errno : 0;
                        int64_t d = infect_call(&t->inf, __NR_shmdt, x, 0, 0, 0, 0, 0);
                        if (d < 0 && d > -4096) {
                                safe_close(fd);
                                return log_error_errno((int)d, "pid %d: cannot detach SysV shared memory segment %d again: %m",
                                                       t->pid, shmid);
                        }
                        if (r < 0)
                                return log_error_errno(r, "pid %d: cannot open SysV shared memory segment %d: %m",
                                                       t->pid, shmid);
                        *ret_fd = fd;
                        return 0;
                }
                log_debug("pid %d cannot attach SysV shared memory segment %d (%d): cryo reads it", t->pid, shmid,
                          (int)x);
        }
        void *a = shmat(shmid, NULL, SHM_RDONLY);
        if (a == (void *)-1)
                return log_error_errno(-errno, "pid %d: cannot attach SysV shared memory segment %d to read it: %m", who,
                                       shmid);
        snprintf(path, sizeof(path), "/proc/self/map_files/%llx-%llx", (unsigned long long)(uintptr_t)a,
                 (unsigned long long)((uintptr_t)a + ALIGN_UP(size, PAGE)));
        fd = open(path, O_RDONLY | O_CLOEXEC);
        int r = fd < 0 ? -errno : 0;
        shmdt(a);
        if (r < 0)
                return log_error_errno(r, "pid %d: cannot open SysV shared memory segment %d: %m", who, shmid);
        *ret_fd = fd;
        return 0;
}

static int dump_shm(struct dump_ctx *ctx, IpcImage *img, int shmid) {
        struct shmid_ds ds;
        struct statfs sfs;
        struct img_raw_writer w;
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        pid_t who = 0;
        char name[64];
        int r;

        if (shmctl(shmid, IPC_STAT, &ds) < 0)
                return errno == EINVAL || errno == EIDRM ? 0 : log_error_errno(-errno, "cannot stat SysV shared memory segment %d: %m", shmid);
        if (shm_attached(ctx, shmid, &who))
                ;
        else if (in_tree(ctx, ds.shm_cpid))
                who = ds.shm_cpid;
        else if (in_tree(ctx, ds.shm_lpid))
                who = ds.shm_lpid;
        else
                return 0; /* not the tree's */

        r = shm_open_data(ctx, shmid, ds.shm_segsz, ds.shm_lpid, ds.shm_cpid, who, &fd);
        if (r < 0)
                return r;
        if (fstatfs(fd, &sfs) == 0 && (uint32_t)sfs.f_type == HUGETLBFS_MAGIC)
                return log_error_errno(-ENOTSUP, "pid %d: SysV shared memory segment %d (key %#x) is hugetlb memory, not supported yet",
                                       who, shmid, ds.shm_perm.__key);

        IpcShmEntry *e = xzalloc(sizeof(*e));
        ipc_shm_entry__init(e);
        img->shm = xrealloc_array(img->shm, img->n_shm + 1, sizeof(*img->shm));
        img->shm[img->n_shm++] = e;
        e->perm = perm_new(&ds.shm_perm, shmid);
        e->size = ds.shm_segsz;
        e->cpid = ds.shm_cpid;
        e->lpid = ds.shm_lpid;
        e->nattch = ds.shm_nattch;

        snprintf(name, sizeof(name), "shm-%d.img", shmid);
        r = img_raw_create(ctx->dirfd, name, IMG_BLOB, ctx->ckpt_id, &w);
        if (r < 0)
                return r;
        buf = xzalloc(1 << 20);
        for (off_t o = 0; o < (off_t)e->size;) {
                off_t d = lseek(fd, o, SEEK_DATA);
                if (d < 0 && errno != ENXIO) {
                        r = log_error_errno(-errno, "pid %d: SysV shared memory segment %d: cannot find its data: %m",
                                            who, shmid);
                        goto fail;
                }
                if (d < 0 || d >= (off_t)e->size)
                        break;
                off_t h = lseek(fd, d, SEEK_HOLE);
                if (h < 0 || h > (off_t)e->size)
                        h = e->size;
                IpcDataRun *run = xzalloc(sizeof(*run));
                ipc_data_run__init(run);
                run->off = d;
                run->len = h - d;
                e->runs = xrealloc_array(e->runs, e->n_runs + 1, sizeof(*e->runs));
                e->runs[e->n_runs++] = run;
                for (off_t a = d; a < h;) {
                        size_t len = MIN((uint64_t)(h - a), (uint64_t)1 << 20);
                        r = pread_all(fd, buf, len, a);
                        if (r < 0) {
                                log_error_errno(r, "pid %d: cannot read SysV shared memory segment %d: %m", who, shmid);
                                goto fail;
                        }
                        r = img_raw_append(&w, buf, len);
                        if (r < 0)
                                goto fail;
                        a += len;
                }
                e->data_len += run->len;
                o = h;
        }
        r = img_raw_finish(&w);
        if (r < 0)
                return r;
        log_debug("SysV shm %d key %#x: %llu bytes, %llu of data, cpid %d lpid %d", shmid, ds.shm_perm.__key,
                  (unsigned long long)e->size, (unsigned long long)e->data_len, ds.shm_cpid, ds.shm_lpid);
        return 0;
fail:
        img_raw_abort(&w);
        return r;
}

static int dump_sem(struct dump_ctx *ctx, IpcImage *img, int semid) {
        struct semid_ds ds;
        _cleanup_free_ unsigned short *vals = NULL;
        _cleanup_free_ uint32_t *pids = NULL;
        bool ours = false;

        if (semctl(semid, 0, IPC_STAT, (union semun){ .buf = &ds }) < 0)
                return errno == EINVAL || errno == EIDRM ? 0 : log_error_errno(-errno, "cannot stat SysV semaphore set %d: %m", semid);
        size_t n = ds.sem_nsems;
        pids = xzalloc((n + 1) * sizeof(*pids));
        for (size_t i = 0; i < n; i++) {
                int p = semctl(semid, i, GETPID);
                if (p < 0)
                        return log_error_errno(-errno, "cannot read SysV semaphore %d of set %d: %m", (int)i, semid);
                pids[i] = p;
                ours |= in_tree(ctx, p);
        }
        if (!ours)
                return 0;
        vals = xzalloc((n + 1) * sizeof(*vals));
        if (semctl(semid, 0, GETALL, (union semun){ .array = vals }) < 0)
                return log_error_errno(-errno, "cannot read the values of SysV semaphore set %d: %m", semid);

        IpcSemEntry *e = xzalloc(sizeof(*e));
        ipc_sem_entry__init(e);
        img->sem = xrealloc_array(img->sem, img->n_sem + 1, sizeof(*img->sem));
        img->sem[img->n_sem++] = e;
        e->perm = perm_new(&ds.sem_perm, semid);
        e->n_values = e->n_pids = n;
        e->values = xzalloc((n + 1) * sizeof(*e->values));
        for (size_t i = 0; i < n; i++)
                e->values[i] = vals[i];
        e->pids = TAKE_PTR(pids);
        log_debug("SysV sem %d key %#x: %zu semaphores", semid, ds.sem_perm.__key, n);
        return 0;
}

static int dump_msq(struct dump_ctx *ctx, IpcImage *img, int msqid) {
        struct msqid_ds ds;
        _cleanup_free_ char *buf = NULL;
        pid_t who;

        if (msgctl(msqid, IPC_STAT, &ds) < 0)
                return errno == EINVAL || errno == EIDRM ? 0 : log_error_errno(-errno, "cannot stat SysV message queue %d: %m", msqid);
        if (in_tree(ctx, ds.msg_lspid))
                who = ds.msg_lspid;
        else if (in_tree(ctx, ds.msg_lrpid))
                who = ds.msg_lrpid;
        else
                return 0;

        IpcMsqEntry *e = xzalloc(sizeof(*e));
        ipc_msq_entry__init(e);
        img->msq = xrealloc_array(img->msq, img->n_msq + 1, sizeof(*img->msq));
        img->msq[img->n_msq++] = e;
        e->perm = perm_new(&ds.msg_perm, msqid);
        e->qbytes = ds.msg_qbytes;
        e->lspid = ds.msg_lspid;
        e->lrpid = ds.msg_lrpid;

        /* every message is at most as long as all of them together */
        size_t max = ds.__msg_cbytes + 1;
        buf = xzalloc(sizeof(long) + max);
        e->msgs = xzalloc((ds.msg_qnum + 1) * sizeof(*e->msgs));
        uint64_t bytes = 0;
        for (size_t i = 0; i < ds.msg_qnum; i++) {
                ssize_t n = msgrcv(msqid, buf, max, i, IPC_NOWAIT | MSG_COPY);
                if (n < 0 && errno == ENOSYS)
                        return log_error_errno(-ENOTSUP, "pid %d: SysV message queue %d: reading its messages needs a kernel with CONFIG_CHECKPOINT_RESTORE (MSG_COPY)",
                                               who, msqid);
                if (n < 0)
                        return log_error_errno(-errno, "pid %d: cannot read message %zu of SysV message queue %d: %m", who,
                                               i, msqid);
                IpcMsgEntry *m = xzalloc(sizeof(*m));
                ipc_msg_entry__init(m);
                memcpy(&m->mtype, buf, sizeof(long));
                m->data.len = n;
                m->data.data = xzalloc(n + 1);
                memcpy(m->data.data, buf + sizeof(long), n);
                e->msgs[e->n_msgs++] = m;
                bytes += n;
        }
        if (bytes != ds.__msg_cbytes)
                return log_error_errno(-EAGAIN, "pid %d: SysV message queue %d changed while it was read (a process outside the tree uses it?)",
                                       who, msqid);
        log_debug("SysV msg %d key %#x: %zu messages, %llu bytes", msqid, ds.msg_perm.__key, e->n_msgs,
                  (unsigned long long)bytes);
        return 0;
}

/* Undo adjustments (SEM_UNDO) cannot be read: there is no /proc/PID/sysvipc.
 * kcmp(KCMP_SYSVSEM) against cryo, which has no undo list, tells whether a
 * process has one -- but every process that ever created a thread has one
 * too (CLONE_SYSVSEM makes it, empty). So: a process that has a list and
 * made the last operation on a semaphore of a set in the checkpoint may
 * hold adjustments on it: refused. */
static int check_sem_undo(struct dump_ctx *ctx, const IpcImage *img) {
        for (size_t i = 0; i < ctx->ntasks; i++) {
                const struct dump_task *t = &ctx->tasks[i];
                const IpcSemEntry *used = NULL;
                if (t->zombie)
                        continue;
                for (size_t k = 0; k < img->n_sem && !used; k++)
                        for (size_t j = 0; j < img->sem[k]->n_pids && !used; j++)
                                if (img->sem[k]->pids[j] == (uint32_t)t->pid)
                                        used = img->sem[k];
                if (!used)
                        continue;
                for (size_t k = 0; k <= t->nth; k++) {
                        pid_t tid = k == 0 ? t->pid : t->th[k - 1].tid;
                        long r = syscall(__NR_kcmp, getpid(), tid, KCMP_SYSVSEM, 0, 0);
                        if (r < 0 && (errno == ENOSYS || errno == EINVAL)) {
                                log_warn("kcmp(KCMP_SYSVSEM) is not available: cannot check for SEM_UNDO adjustments");
                                return 0;
                        }
                        if (r < 0)
                                return log_error_errno(-errno, "pid %d: cannot compare its SysV semaphore undo list: %m",
                                                       tid);
                        if (r > 0)
                                return log_error_errno(-ENOTSUP, "pid %d may hold SysV semaphore undo adjustments (SEM_UNDO) on semaphore set %d, not supported",
                                                       t->pid, used->perm->id);
                }
        }
        return 0;
}

int ipc_dump(struct dump_ctx *ctx) {
        IpcImage img = IPC_IMAGE__INIT;
        _cleanup_free_ int *ids = NULL;
        size_t n = 0;
        int r;

        r = list_ids("shm", &ids, &n);
        for (size_t i = 0; r >= 0 && i < n; i++)
                r = dump_shm(ctx, &img, ids[i]);
        /* attached segments that /proc did not list (removed meanwhile?) */
        for (size_t i = 0; r >= 0 && i < ctx->ntasks; i++) {
                const struct dump_task *t = &ctx->tasks[i];
                for (size_t k = 0; r >= 0 && !t->zombie && t->mm && k < t->mm->n_vmas; k++) {
                        const VmaEntry *v = t->mm->vmas[k];
                        bool have = false;
                        if (v->kind != VMA_KIND__VMA_SYSVSHM)
                                continue;
                        for (size_t j = 0; j < img.n_shm && !have; j++)
                                have = img.shm[j]->perm->id == v->shmid;
                        if (!have)
                                r = log_error_errno(-ENOENT, "pid %d: mapping %llx-%llx is SysV shared memory segment %d, which cannot be found",
                                                    t->pid, (unsigned long long)v->start, (unsigned long long)v->end,
                                                    v->shmid);
                        /* restore attaches at start - pgoff, when it maps the first piece
                         * of the attachment: nothing below that piece may be in the way */
                        uint64_t base = v->start - v->pgoff;
                        bool first = true;
                        for (size_t j = 0; j < k; j++)
                                first &= !(t->mm->vmas[j]->kind == VMA_KIND__VMA_SYSVSHM &&
                                           t->mm->vmas[j]->shmid == v->shmid &&
                                           t->mm->vmas[j]->start - t->mm->vmas[j]->pgoff == base);
                        for (size_t j = 0; r >= 0 && first && j < k; j++) {
                                const VmaEntry *w = t->mm->vmas[j];
                                if (w->end > base)
                                        r = log_error_errno(-ENOTSUP, "pid %d: SysV shared memory segment %d attached at %llx: the start of the attachment was unmapped and %llx-%llx mapped there, not supported yet",
                                                            t->pid, v->shmid, (unsigned long long)base,
                                                            (unsigned long long)w->start, (unsigned long long)w->end);
                        }
                }
        }
        free(ids);
        ids = NULL;
        if (r >= 0)
                r = list_ids("sem", &ids, &n);
        for (size_t i = 0; r >= 0 && i < n; i++)
                r = dump_sem(ctx, &img, ids[i]);
        if (r >= 0)
                r = check_sem_undo(ctx, &img);
        free(ids);
        ids = NULL;
        if (r >= 0)
                r = list_ids("msg", &ids, &n);
        for (size_t i = 0; r >= 0 && i < n; i++)
                r = dump_msq(ctx, &img, ids[i]);
        if (r >= 0)
                r = img_write_msg(ctx->dirfd, "ipc.img", IMG_IPC, ctx->ckpt_id, &img.base);
        if (r >= 0 && img.n_shm + img.n_sem + img.n_msq)
                log_info("SysV IPC: %zu shared memory segment(s), %zu semaphore set(s), %zu message queue(s)", img.n_shm,
                         img.n_sem, img.n_msq);
        for (size_t i = 0; i < img.n_shm; i++)
                ipc_shm_entry__free_unpacked(img.shm[i], NULL);
        for (size_t i = 0; i < img.n_sem; i++)
                ipc_sem_entry__free_unpacked(img.sem[i], NULL);
        for (size_t i = 0; i < img.n_msq; i++)
                ipc_msq_entry__free_unpacked(img.msq[i], NULL);
        free(img.shm);
        free(img.sem);
        free(img.msq);
        return r;
}

/* --------------------------------------------------------------- restore */

struct ipc_created {
        int kind, id;
};

struct ipc_restore {
        IpcImage *img;
        struct ipc_created *objs;
        size_t nobjs, cobjs;
        char **mqueues; /* names, without the leading '/' */
        size_t nmq, cmq;
};

void ipc_restore_created_mqueue(struct restore_ctx *ctx, const char *name) {
        struct ipc_restore *st = ctx->ipc;
        if (st)
                *ARRAY_PUSH(st->mqueues, st->nmq, st->cmq) = xstrdup(name);
}

static int ipc_rmid(int kind, int id) {
        int r = kind == IPC_SHM ? shmctl(id, IPC_RMID, NULL)
              : kind == IPC_SEM ? semctl(id, 0, IPC_RMID)
                                : msgctl(id, IPC_RMID, NULL);
        return r < 0 ? -errno : 0;
}

void ipc_restore_finish(struct restore_ctx *ctx, int r) {
        struct ipc_restore *st = ctx->ipc;
        if (!st)
                return;
        if (r < 0) {
                for (size_t i = 0; i < st->nobjs; i++)
                        if (ipc_rmid(st->objs[i].kind, st->objs[i].id) == 0)
                                log_debug("removed SysV %s %d (restore failed)", kind_name[st->objs[i].kind],
                                          st->objs[i].id);
                for (size_t i = 0; i < st->nmq; i++)
                        if (syscall(__NR_mq_unlink, st->mqueues[i]) == 0)
                                log_debug("removed POSIX message queue '/%s' (restore failed)", st->mqueues[i]);
        }
        for (size_t i = 0; i < st->nmq; i++)
                free(st->mqueues[i]);
        free(st->mqueues);
        free(st->objs);
        if (st->img)
                img_msg_free(&st->img->base);
        free(st);
        ctx->ipc = NULL;
}

/* Runs fn(arg) in a child of cryo with pid `pid` if that is free (any pid
 * if not, or if pid is 0) and effective ids uid/gid ((uid_t)-1: cryo's).
 * Returns what fn returned: >= 0, or -errno. fn must not log (the child's
 * errors would print twice): the caller reports. */
static int run_helper(pid_t pid, uid_t uid, gid_t gid, int (*fn)(void *), void *arg) {
        int p[2], r = -ECHILD, st;
        pid_t k = -1;

        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        fflush(NULL);
        if (pid > 0) {
                uint64_t tid = pid;
                struct cryo_clone_args a = { .exit_signal = SIGCHLD, .set_tid = (uintptr_t)&tid, .set_tid_size = 1 };
                k = syscall(__NR_clone3, &a, sizeof(a));
        }
        if (k < 0) {
                struct cryo_clone_args a = { .exit_signal = SIGCHLD };
                k = syscall(__NR_clone3, &a, sizeof(a));
        }
        if (k < 0) {
                r = -errno;
                close(p[0]);
                close(p[1]);
                return r;
        }
        if (k == 0) {
                close(p[0]);
                r = 0;
                if (gid != (gid_t)-1 && syscall(__NR_setresgid, -1, gid, -1) < 0)
                        r = -errno;
                if (r == 0 && uid != (uid_t)-1 && syscall(__NR_setresuid, -1, uid, -1) < 0)
                        r = -errno;
                if (r == 0)
                        r = fn(arg);
                if (write(p[1], &r, sizeof(r)) != sizeof(r))
                        _exit(1);
                _exit(0);
        }
        close(p[1]);
        ssize_t n;
        while ((n = read(p[0], &r, sizeof(r))) < 0 && errno == EINTR)
                ;
        close(p[0]);
        while (waitpid(k, &st, __WALL) < 0 && errno == EINTR)
                ;
        if (n != sizeof(r))
                return -ECHILD;
        if (pid > 0 && k != pid)
                log_debug("pid %d is in use: pid %d stands in for it", pid, k);
        return r;
}

struct create_arg {
        int kind;
        const IpcPermEntry *perm;
        uint64_t size; /* shm: bytes; sem: semaphores */
};

static int create_fn(void *arg) {
        const struct create_arg *a = arg;
        int fl = IPC_CREAT | IPC_EXCL | (a->perm->mode & 0777), id;
        if (a->kind == IPC_SHM)
                id = shmget(a->perm->key, a->size, fl);
        else if (a->kind == IPC_SEM)
                id = semget(a->perm->key, a->size, fl);
        else
                id = msgget(a->perm->key, fl);
        return id < 0 ? -errno : id;
}

static int set_next_id(int kind, int id) {
        char buf[32];
        snprintf(buf, sizeof(buf), "%d", id);
        return write_string_file(next_id_file[kind], buf);
}

/* Creates the object with its old id, by a helper with pid `pid`. */
static int create_with_id(struct ipc_restore *st, int kind, const IpcPermEntry *p, pid_t pid, uint64_t size) {
        struct create_arg a = { .kind = kind, .perm = p, .size = size };
        int r, got = -1;

        for (int attempt = 0; attempt < 2; attempt++) {
                r = set_next_id(kind, p->id);
                if (r < 0)
                        return log_error_errno(r, "cannot write %s: %m", next_id_file[kind]);
                got = run_helper(pid, p->cuid, p->cgid, create_fn, &a);
                set_next_id(kind, -1); /* never leave it armed for someone else */
                if (got < 0)
                        return log_error_errno(got, "cannot create SysV %s %d (key %#x): %m", kind_name[kind], p->id,
                                               (unsigned)p->key);
                if (got == p->id) {
                        *ARRAY_PUSH(st->objs, st->nobjs, st->cobjs) = (struct ipc_created){ kind, got };
                        return 0;
                }
                /* the index of the id is used by another object, or someone
                 * created an object between our write and our get: once more */
                ipc_rmid(kind, got);
        }
        return log_error_errno(-EBUSY, "cannot create SysV %s %d (key %#x) with its id: the kernel gave %d (the id's index is in use)",
                               kind_name[kind], p->id, (unsigned)p->key, got);
}

static bool perm_same(const struct ipc_perm *cur, const IpcPermEntry *p) {
        return cur->__key == p->key && (cur->mode & 0777) == (p->mode & 0777) && cur->uid == p->uid &&
               cur->gid == p->gid && cur->cuid == p->cuid && cur->cgid == p->cgid;
}

/* Is the id or key of p in use? 1: by the original (same everything), to
 * be used as it is; 0: both free; < 0: refused. */
static int check_existing(int kind, const IpcPermEntry *p, uint64_t size) {
        struct shmid_ds sd;
        struct semid_ds md;
        struct msqid_ds qd;
        const struct ipc_perm *cur = NULL;
        uint64_t cur_size = 0;
        int x;

        if (kind == IPC_SHM && (x = shmctl(p->id, IPC_STAT, &sd)) == 0)
                cur = &sd.shm_perm, cur_size = sd.shm_segsz;
        else if (kind == IPC_SEM && (x = semctl(p->id, 0, IPC_STAT, (union semun){ .buf = &md })) == 0)
                cur = &md.sem_perm, cur_size = md.sem_nsems;
        else if (kind == IPC_MSG && (x = msgctl(p->id, IPC_STAT, &qd)) == 0)
                cur = &qd.msg_perm, cur_size = size;
        if (cur) {
                if (perm_same(cur, p) && cur_size == size) {
                        log_info("SysV %s %d (key %#x) is still there: used as it is", kind_name[kind], p->id,
                                 (unsigned)p->key);
                        return 1;
                }
                return log_error_errno(-EEXIST, "SysV %s id %d is taken by another object (key %#x, mode %o, owner %u); cannot restore the one with key %#x",
                                       kind_name[kind], p->id, (unsigned)cur->__key, cur->mode & 0777, cur->uid,
                                       (unsigned)p->key);
        }
        if (errno != EINVAL && errno != EIDRM)
                return log_error_errno(-errno, "cannot look up SysV %s %d: %m", kind_name[kind], p->id);
        if (p->key != IPC_PRIVATE) {
                int o = kind == IPC_SHM ? shmget(p->key, 0, 0) : kind == IPC_SEM ? semget(p->key, 0, 0) : msgget(p->key, 0);
                if (o >= 0)
                        return log_error_errno(-EEXIST, "SysV %s key %#x is taken by id %d; cannot restore id %d",
                                               kind_name[kind], (unsigned)p->key, o, p->id);
        }
        return 0;
}

static int set_owner(int kind, const IpcPermEntry *p, uint64_t qbytes) {
        int r;
        if (kind == IPC_SHM) {
                struct shmid_ds d;
                r = shmctl(p->id, IPC_STAT, &d);
                if (r == 0) {
                        d.shm_perm.uid = p->uid, d.shm_perm.gid = p->gid, d.shm_perm.mode = p->mode & 0777;
                        r = shmctl(p->id, IPC_SET, &d);
                }
        } else if (kind == IPC_SEM) {
                struct semid_ds d;
                r = semctl(p->id, 0, IPC_STAT, (union semun){ .buf = &d });
                if (r == 0) {
                        d.sem_perm.uid = p->uid, d.sem_perm.gid = p->gid, d.sem_perm.mode = p->mode & 0777;
                        r = semctl(p->id, 0, IPC_SET, (union semun){ .buf = &d });
                }
        } else {
                struct msqid_ds d;
                r = msgctl(p->id, IPC_STAT, &d);
                if (r == 0) {
                        d.msg_perm.uid = p->uid, d.msg_perm.gid = p->gid, d.msg_perm.mode = p->mode & 0777;
                        d.msg_qbytes = qbytes;
                        r = msgctl(p->id, IPC_SET, &d);
                }
        }
        if (r < 0)
                return log_error_errno(-errno, "SysV %s %d: cannot set owner %u:%u and mode %o: %m", kind_name[kind],
                                       p->id, p->uid, p->gid, p->mode & 0777);
        return 0;
}

struct shm_fill_arg {
        const IpcShmEntry *e;
        int data_fd;
};

static int shm_fill_fn(void *arg) {
        const struct shm_fill_arg *a = arg;
        const IpcShmEntry *e = a->e;
        char *m = shmat(e->perm->id, NULL, 0);
        int r = 0;
        if (m == (void *)-1)
                return -errno;
        uint64_t pos = IMG_RAW_DATA_OFF;
        for (size_t i = 0; i < e->n_runs && r >= 0; i++) {
                r = pread_all(a->data_fd, m + e->runs[i]->off, e->runs[i]->len, pos);
                pos += e->runs[i]->len;
        }
        shmdt(m);
        return r;
}

static int restore_shm(struct restore_ctx *ctx, const IpcShmEntry *e) {
        const IpcPermEntry *p = e->perm;
        _cleanup_close_ int fd = -EBADF;
        char name[64];
        uint64_t len = 0;
        int r;

        uint64_t sum = 0;
        for (size_t i = 0; i < e->n_runs; i++) {
                const IpcDataRun *run = e->runs[i];
                if (run->off > e->size || run->len > e->size - run->off)
                        return log_error_errno(-EBADMSG, "ipc.img: SysV shared memory segment %d has data outside it",
                                               p->id);
                sum += run->len;
        }
        if (sum != e->data_len)
                return log_error_errno(-EBADMSG, "ipc.img: SysV shared memory segment %d is inconsistent", p->id);

        r = check_existing(IPC_SHM, p, e->size);
        if (r != 0)
                return r < 0 ? r : 0;
        snprintf(name, sizeof(name), "shm-%d.img", p->id);
        r = img_raw_open(ctx->dirfd, name, IMG_BLOB, ctx->ckpt_id, &fd, &len);
        if (r < 0)
                return r;
        if (len != e->data_len)
                return log_error_errno(-EBADMSG, "image '%s' holds %llu bytes, ipc.img says %llu", name,
                                       (unsigned long long)len, (unsigned long long)e->data_len);

        r = create_with_id(ctx->ipc, IPC_SHM, p, e->cpid, e->size);
        if (r < 0)
                return r;
        r = set_owner(IPC_SHM, p, 0);
        if (r < 0)
                return r;
        if (e->data_len || e->lpid) {
                struct shm_fill_arg a = { .e = e, .data_fd = fd };
                r = run_helper(e->lpid, -1, -1, shm_fill_fn, &a);
                if (r < 0)
                        return log_error_errno(r, "cannot fill SysV shared memory segment %d from %s: %m", p->id, name);
        }
        if ((p->mode & SHM_LOCKED) && shmctl(p->id, SHM_LOCK, NULL) < 0)
                return log_error_errno(-errno, "cannot lock SysV shared memory segment %d (SHM_LOCK): %m", p->id);
        if (p->mode & SHM_DEST) {
                /* removed while attached: alive only as long as attached. cryo
                 * holds it until it exits; the tree attaches it by id meanwhile */
                if (shmat(p->id, NULL, SHM_RDONLY) == (void *)-1)
                        return log_error_errno(-errno, "cannot attach SysV shared memory segment %d: %m", p->id);
                if (shmctl(p->id, IPC_RMID, NULL) < 0)
                        return log_error_errno(-errno, "cannot mark SysV shared memory segment %d removed: %m", p->id);
        }
        log_debug("SysV shm %d key %#x restored: %llu bytes, %llu of data", p->id, (unsigned)p->key,
                  (unsigned long long)e->size, (unsigned long long)e->data_len);
        return 0;
}

struct sem_set_arg {
        const IpcSemEntry *e;
        uint32_t pid;
};

static int sem_set_fn(void *arg) {
        const struct sem_set_arg *a = arg;
        for (size_t i = 0; i < a->e->n_values; i++)
                if (a->e->pids[i] == a->pid && semctl(a->e->perm->id, i, SETVAL, (union semun){ .val = a->e->values[i] }) < 0)
                        return -errno;
        return 0;
}

static int restore_sem(struct restore_ctx *ctx, const IpcSemEntry *e) {
        const IpcPermEntry *p = e->perm;
        int r;

        if (e->n_values == 0 || e->n_values != e->n_pids)
                return log_error_errno(-EBADMSG, "ipc.img: SysV semaphore set %d is inconsistent", p->id);
        r = check_existing(IPC_SEM, p, e->n_values);
        if (r != 0)
                return r < 0 ? r : 0;
        r = create_with_id(ctx->ipc, IPC_SEM, p, 0, e->n_values);
        if (r < 0)
                return r;
        r = set_owner(IPC_SEM, p, 0);
        if (r < 0)
                return r;
        /* the values, each set by the pid that last operated on it */
        for (size_t i = 0; i < e->n_values; i++) {
                bool done = false;
                for (size_t j = 0; j < i && !done; j++)
                        done = e->pids[j] == e->pids[i];
                if (done || (e->pids[i] == 0 && e->values[i] == 0))
                        continue;
                struct sem_set_arg a = { .e = e, .pid = e->pids[i] };
                r = run_helper(e->pids[i], -1, -1, sem_set_fn, &a);
                if (r < 0)
                        return log_error_errno(r, "cannot set the values of SysV semaphore set %d: %m", p->id);
        }
        log_debug("SysV sem %d key %#x restored: %zu semaphores", p->id, (unsigned)p->key, e->n_values);
        return 0;
}

static int msg_dummy_fn(void *arg) {
        int id = *(const int *)arg;
        long m = 1;
        if (msgsnd(id, &m, 0, IPC_NOWAIT) < 0 || msgrcv(id, &m, 0, 0, IPC_NOWAIT | MSG_NOERROR) < 0)
                return -errno;
        return 0;
}

static int msg_send_fn(void *arg) {
        const IpcMsqEntry *e = arg;
        size_t max = 0;
        for (size_t i = 0; i < e->n_msgs; i++)
                max = MAX(max, e->msgs[i]->data.len);
        _cleanup_free_ char *buf = xzalloc(sizeof(long) + max + 1);
        for (size_t i = 0; i < e->n_msgs; i++) {
                const IpcMsgEntry *m = e->msgs[i];
                long t = m->mtype;
                memcpy(buf, &t, sizeof(t));
                memcpy(buf + sizeof(long), m->data.data, m->data.len);
                if (msgsnd(e->perm->id, buf, m->data.len, IPC_NOWAIT) < 0)
                        return -errno;
        }
        return 0;
}

static int restore_msq(struct restore_ctx *ctx, const IpcMsqEntry *e) {
        const IpcPermEntry *p = e->perm;
        int r;

        for (size_t i = 0; i < e->n_msgs; i++)
                if (e->msgs[i]->mtype <= 0)
                        return log_error_errno(-EBADMSG, "ipc.img: SysV message queue %d holds a message of type %lld",
                                               p->id, (long long)e->msgs[i]->mtype);
        r = check_existing(IPC_MSG, p, 0);
        if (r != 0)
                return r < 0 ? r : 0;
        r = create_with_id(ctx->ipc, IPC_MSG, p, 0, 0);
        if (r < 0)
                return r;
        r = set_owner(IPC_MSG, p, e->qbytes);
        if (r < 0)
                return r;
        if (e->lrpid) {
                int id = p->id;
                r = run_helper(e->lrpid, -1, -1, msg_dummy_fn, &id);
                if (r < 0)
                        return log_error_errno(r, "SysV message queue %d: cannot set its last receiver: %m", p->id);
        }
        if (e->n_msgs) {
                r = run_helper(e->lspid, -1, -1, msg_send_fn, (void *)e);
                if (r < 0)
                        return log_error_errno(r, "cannot put the %zu messages back into SysV message queue %d: %m",
                                               e->n_msgs, p->id);
        }
        log_debug("SysV msg %d key %#x restored: %zu messages", p->id, (unsigned)p->key, e->n_msgs);
        return 0;
}

int ipc_restore(struct restore_ctx *ctx) {
        struct ipc_restore *st = xzalloc(sizeof(*st));
        int r;

        ctx->ipc = st;
        r = img_read_msg(ctx->dirfd, "ipc.img", IMG_IPC, ctx->ckpt_id, &ipc_image__descriptor,
                         (ProtobufCMessage **)&st->img, NULL);
        if (r == -ENOENT)
                return 0; /* a checkpoint without SysV objects from before ipc.img */
        if (r < 0)
                return r;
        IpcImage *img = st->img;
        for (size_t i = 0; i < img->n_shm; i++)
                if (!img->shm[i]->perm)
                        return log_error_errno(-EBADMSG, "ipc.img: a segment without ids");
        for (size_t i = 0; i < img->n_sem; i++)
                if (!img->sem[i]->perm)
                        return log_error_errno(-EBADMSG, "ipc.img: a semaphore set without ids");
        for (size_t i = 0; i < img->n_msq; i++)
                if (!img->msq[i]->perm)
                        return log_error_errno(-EBADMSG, "ipc.img: a message queue without ids");
        for (size_t i = 0; i < img->n_shm; i++)
                if ((r = restore_shm(ctx, img->shm[i])) < 0)
                        return r;
        for (size_t i = 0; i < img->n_sem; i++)
                if ((r = restore_sem(ctx, img->sem[i])) < 0)
                        return r;
        for (size_t i = 0; i < img->n_msq; i++)
                if ((r = restore_msq(ctx, img->msq[i])) < 0)
                        return r;
        if (img->n_shm + img->n_sem + img->n_msq)
                log_info("SysV IPC: %zu segment(s), %zu semaphore set(s), %zu message queue(s) in place", img->n_shm,
                         img->n_sem, img->n_msq);
        return 0;
}

/* ------------------------------------------------------ mappings (mm.c) */

static bool same_attach(const VmaEntry *a, int shmid, uint64_t base) {
        return a->kind == VMA_KIND__VMA_SYSVSHM && a->shmid == shmid && a->start - a->pgoff == base;
}

int ipc_shm_attach_remote(struct restore_ctx *ctx, struct restore_task *t, size_t idx) {
        const MmEntry *mm = t->mm;
        const VmaEntry *e = mm->vmas[idx];
        struct infect_task *inf = &t->inf;
        pid_t pid = t->pe->pid;
        uint64_t base = e->start - e->pgoff, len = e->end - e->start;
        bool first = true;
        int64_t x;

        if (e->pgoff > e->start || (e->pgoff & (PAGE - 1)))
                return log_error_errno(-EBADMSG, "pid %d: SysV shared memory mapping %llx has a bad offset", pid,
                                       (unsigned long long)e->start);
        /* one attachment may show as several VMAs (mprotect, partial munmap) */
        uint32_t flags = e->shmat_flags & SHM_RDONLY;
        for (size_t j = 0; j < mm->n_vmas; j++)
                if (same_attach(mm->vmas[j], e->shmid, base)) {
                        flags |= mm->vmas[j]->shmat_flags & SHM_EXEC;
                        first &= j >= idx;
                }
        if (first) {
                struct shmid_ds ds;
                if (shmctl(e->shmid, IPC_STAT, &ds) < 0)
                        return log_error_errno(-errno, "pid %d: SysV shared memory segment %d (mapped at %llx) is not there: %m",
                                               pid, e->shmid, (unsigned long long)e->start);
                uint64_t lim = base + ALIGN_UP((uint64_t)ds.shm_segsz, PAGE);
                for (size_t j = 0; j < idx; j++)
                        if (mm->vmas[j]->start < lim && base < mm->vmas[j]->end)
                                return log_error_errno(-ENOTSUP, "pid %d: SysV shared memory segment %d attached at %llx overlaps the mapping at %llx (the start of the attachment was replaced), not supported yet",
                                                       pid, e->shmid, (unsigned long long)base,
                                                       (unsigned long long)mm->vmas[j]->start);
                x = infect_call(inf, __NR_shmat, e->shmid, base, flags, 0, 0, 0);
                if (x < 0 && x > -4096)
                        return log_error_errno((int)x, "pid %d: cannot attach SysV shared memory segment %d at %llx: %m",
                                               pid, e->shmid, (unsigned long long)base);
                if ((uint64_t)x != base)
                        return log_error_errno(-EFAULT, "pid %d: SysV shared memory segment %d landed at %llx, not %llx",
                                               pid, e->shmid, (unsigned long long)x, (unsigned long long)base);
                /* what the process had unmapped of it goes again */
                uint64_t cur = base;
                for (size_t j = idx; j < mm->n_vmas && cur < lim; j++) {
                        const VmaEntry *o = mm->vmas[j];
                        if (!same_attach(o, e->shmid, base))
                                continue;
                        if (o->start > cur)
                                infect_call(inf, __NR_munmap, cur, o->start - cur, 0, 0, 0, 0);
                        cur = o->end;
                }
                if (cur < lim)
                        infect_call(inf, __NR_munmap, cur, lim - cur, 0, 0, 0, 0);
        }
        int aprot = PROT_READ | (flags & SHM_RDONLY ? 0 : PROT_WRITE) | (flags & SHM_EXEC ? PROT_EXEC : 0);
        if ((int)e->prot != aprot) {
                x = infect_call(inf, __NR_mprotect, e->start, len, e->prot, 0, 0, 0);
                if (x < 0)
                        return log_error_errno((int)x, "pid %d: mprotect of SysV shared memory at %llx: %m", pid,
                                               (unsigned long long)e->start);
        }
        for (unsigned b = 0; b < 64; b++)
                if (e->madv & (1ULL << b)) {
                        x = infect_call(inf, __NR_madvise, e->start, len, b, 0, 0, 0);
                        if (x < 0)
                                return log_error_errno((int)x, "pid %d: madvise(%u) on SysV shared memory at %llx: %m",
                                                       pid, b, (unsigned long long)e->start);
                }
        (void)ctx;
        return 0;
}
