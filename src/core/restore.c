/* The restore driver.
 *
 * 1. Read and verify every image (checksums, versions, checkpoint id, the
 *    files behind mappings, CPU features, free PIDs) -- nothing is created
 *    before all of it passed.
 * 2. Open every file the tree had, in cryo, at fd numbers above any the tree
 *    uses (files.c).
 * 3. Fork the tree with clone3(set_tid): each new process runs cryo code that
 *    sets its session/group, forks its own children, installs its fds and
 *    sets the state it can set on itself (signals, timers, cwd ...), then
 *    reports ready and waits.
 * 4. cryo seizes each process and replaces its address space and the rest by
 *    remote syscalls (mm.c, task.c, creds.c), then puts back the registers,
 *    XSAVE state and signal mask while the task sits in a PTRACE_EVENT_STOP.
 * 5. All tasks are detached together. On any failure every process created
 *    so far is killed and reaped. */
#define LOG_PREFIX "restore: "
#include "core/restore.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include "arch/x86_64/arch.h"
#include "basic/kcompat.h"
#include "basic/log.h"
#include "basic/proc.h"
#include "basic/util.h"
#include "core/res/files.h"
#include "core/res/ipc.h"
#include "core/res/task.h"
#include "core/res/tty.h"
#include "image/image.h"

#define READY_MAX_PREMAP 800

struct ready_msg {
        int32_t pid;
        int32_t err;
        char text[504];
        uint32_t npremap;                  /* VMAs the process premapped (mm_premap_child) */
        uint16_t premap[READY_MAX_PREMAP];
};
_Static_assert(sizeof(struct ready_msg) <= PIPE_BUF, "ready messages must be written atomically");

static int read_task_images(struct restore_ctx *ctx, struct restore_task *t) {
        char name[64];
        pid_t pid = t->pe->pid;
        int r;

        snprintf(name, sizeof(name), "core-%d.img", pid);
        r = img_read_msg(ctx->dirfd, name, IMG_CORE, ctx->ckpt_id, &task_core__descriptor, (ProtobufCMessage **)&t->core,
                         NULL);
        if (r < 0)
                return r;
        snprintf(name, sizeof(name), "mm-%d.img", pid);
        r = img_read_msg(ctx->dirfd, name, IMG_MM, ctx->ckpt_id, &mm_entry__descriptor, (ProtobufCMessage **)&t->mm,
                         NULL);
        if (r < 0)
                return r;
        snprintf(name, sizeof(name), "pagemap-%d.img", pid);
        r = img_read_msg(ctx->dirfd, name, IMG_PAGEMAP, ctx->ckpt_id, &pagemap__descriptor,
                         (ProtobufCMessage **)&t->pagemap, NULL);
        if (r < 0)
                return r;
        snprintf(name, sizeof(name), "fds-%d.img", pid);
        r = img_read_msg(ctx->dirfd, name, IMG_FDS, ctx->ckpt_id, &fdtable__descriptor, (ProtobufCMessage **)&t->fdt,
                         NULL);
        if (r < 0)
                return r;
        snprintf(name, sizeof(name), "pages-%d.img", pid);
        uint64_t len;
        r = img_raw_open(ctx->dirfd, name, IMG_PAGES, ctx->ckpt_id, &t->pages_fd, &len);
        if (r < 0)
                return r;
        if (len != t->pagemap->nr_pages * 4096ULL)
                return log_error_errno(-EBADMSG, "image '%s' holds %llu bytes but pagemap-%d.img lists %llu pages", name,
                                       (unsigned long long)len, pid, (unsigned long long)t->pagemap->nr_pages);
        if (t->core->pid != (uint32_t)pid || t->core->n_threads < 1 || t->core->n_threads != t->pe->n_threads ||
            t->core->threads[0]->tid != (uint32_t)pid)
                return log_error_errno(-EBADMSG, "core-%d.img does not describe pid %d", pid, pid);
        for (size_t k = 0; k < t->core->n_threads; k++) {
                ThreadCore *tc = t->core->threads[k];
                if (!tc->regs || tc->tid != t->pe->threads[k] || tc->tid <= 1)
                        return log_error_errno(-EBADMSG, "core-%d.img: thread %zu is inconsistent with pstree.img", pid, k);
        }
        return 0;
}

static int check_cpu(struct restore_ctx *ctx, struct restore_task *t) {
        uint64_t xcr0;
        uint32_t size;
        if (arch_xfeatures(&xcr0, &size) < 0)
                return 0;
        for (size_t i = 0; i < t->core->n_threads; i++) {
                ThreadCore *tc = t->core->threads[i];
                uint64_t need = arch_xsave_features(tc->xsave.data, tc->xsave.len);
                if (need & ~xcr0)
                        return log_error_errno(-ENOTSUP, "pid %d uses CPU state features %#llx that this CPU lacks (it has %#llx)",
                                               tc->tid, (unsigned long long)need, (unsigned long long)xcr0);
        }
        return 0;
}

/* A pid still held by a zombie is freed as soon as its parent reaps it:
 * wait a little for that; a live process holding it is an error. */
static int check_pid_free(pid_t pid, struct timespec *deadline) {
        for (;;) {
                struct proc_stat ps;
                int r = proc_read_stat(pid, 0, &ps);
                if (r == -ENOENT || r == -ESRCH)
                        return 0;
                if (r < 0)
                        return 0;
                struct timespec now;
                clock_gettime(CLOCK_MONOTONIC, &now);
                if (ps.state != 'Z' && ps.state != 'X')
                        return log_error_errno(-EEXIST, "pid %d is already in use by '%s'; cannot restore it", pid,
                                               ps.comm);
                if (now.tv_sec > deadline->tv_sec ||
                    (now.tv_sec == deadline->tv_sec && now.tv_nsec > deadline->tv_nsec))
                        return log_error_errno(-EEXIST, "pid %d is still held by an unreaped zombie; cannot restore it",
                                               pid);
                struct timespec ts = { 0, 20 * 1000 * 1000 };
                nanosleep(&ts, NULL);
        }
}

static int read_images(struct restore_ctx *ctx) {
        int r;

        r = img_read_msg(ctx->dirfd, "inventory.img", IMG_INVENTORY, 0, &inventory_entry__descriptor,
                         (ProtobufCMessage **)&ctx->inv, &ctx->ckpt_id);
        if (r == -ENOENT)
                return log_error_errno(r, "'%s' holds no checkpoint (no inventory.img)", ctx->opts.dir);
        if (r < 0)
                return r;
        if (ctx->inv->img_version != IMG_VERSION)
                return log_error_errno(-EPROTO, "checkpoint format version %u is not supported", ctx->inv->img_version);
        if (ctx->inv->shell_job && !ctx->opts.shell_job)
                return log_error_errno(-EINVAL, "this checkpoint was taken with --shell-job: restore it with --shell-job (-j)");
        r = img_read_msg(ctx->dirfd, "pstree.img", IMG_PSTREE, ctx->ckpt_id, &pstree__descriptor,
                         (ProtobufCMessage **)&ctx->pstree, NULL);
        if (r < 0)
                return r;
        r = img_read_msg(ctx->dirfd, "files.img", IMG_FILES, ctx->ckpt_id, &files__descriptor,
                         (ProtobufCMessage **)&ctx->files, NULL);
        if (r < 0)
                return r;
        if (ctx->pstree->n_tasks == 0 || ctx->pstree->n_tasks != ctx->inv->ntasks ||
            ctx->pstree->tasks[0]->pid != ctx->inv->root_pid)
                return log_error_errno(-EBADMSG, "pstree.img does not match inventory.img");
        ctx->ntasks = ctx->pstree->n_tasks;
        ctx->tasks = xzalloc(ctx->ntasks * sizeof(*ctx->tasks));
        for (size_t i = 0; i < ctx->ntasks; i++) {
                struct restore_task *t = &ctx->tasks[i];
                t->pe = ctx->pstree->tasks[i];
                t->pages_fd = -1;
                if (t->pe->pid <= 1)
                        return log_error_errno(-EBADMSG, "pstree.img has an invalid pid %u", t->pe->pid);
                for (size_t j = 0; j < i; j++)
                        if (ctx->tasks[j].pe->pid == t->pe->pid)
                                return log_error_errno(-EBADMSG, "pstree.img lists pid %u twice", t->pe->pid);
                if (i > 0) {
                        bool parent_before = false;
                        for (size_t j = 0; j < i; j++)
                                parent_before |= ctx->tasks[j].pe->pid == t->pe->ppid;
                        if (!parent_before)
                                return log_error_errno(-EBADMSG, "pstree.img: parent of pid %u is missing", t->pe->pid);
                }
                if (t->pe->zombie) {
                        if (i == 0)
                                return log_error_errno(-EBADMSG, "pstree.img: the root is a zombie");
                        continue;
                }
                r = read_task_images(ctx, t);
                if (r < 0)
                        return r;
                r = mm_restore_check(ctx, t);
                if (r < 0)
                        return r;
                r = check_cpu(ctx, t);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ------------------------------------------------------------- in the child */

static void child_report(struct restore_ctx *ctx, int err) {
        struct ready_msg m = { .pid = getpid(), .err = err };
        for (size_t i = 0; i < ctx->ntasks; i++) {
                struct restore_task *t = &ctx->tasks[i];
                if (t->pe->pid != (uint32_t)m.pid || !t->premapped)
                        continue;
                for (size_t k = 0; k < t->mm->n_vmas && m.npremap < READY_MAX_PREMAP; k++)
                        if (t->premapped[k])
                                m.premap[m.npremap++] = k;
        }
        if (err) {
                const char *e = log_first_error();
                snprintf(m.text, sizeof(m.text), "%s", e ? e : "restore of a process failed");
        }
        if (write(ctx->ready_pipe[1], &m, sizeof(m)) < 0)
                _exit(1);
}

static pid_t clone_with_pid_flags(pid_t pid, int exit_signal, uint64_t flags) {
        uint64_t tid = pid;
        struct cryo_clone_args a = {
                .flags = flags, .exit_signal = exit_signal, .set_tid = (uintptr_t)&tid, .set_tid_size = 1
        };
        return syscall(__NR_clone3, &a, sizeof(a));
}

static pid_t clone_with_pid(pid_t pid, int exit_signal) {
        return clone_with_pid_flags(pid, exit_signal, 0);
}

static void child_run(struct restore_ctx *ctx, size_t idx) __attribute__((noreturn));

/* The session helper that creates pid as its member, if any. */
static const PstreeHelper *session_helper_of(const struct restore_ctx *ctx, uint32_t pid) {
        for (size_t i = 0; i < ctx->pstree->n_helpers; i++) {
                const PstreeHelper *h = ctx->pstree->helpers[i];
                for (size_t k = 0; h->session && k < h->n_members; k++)
                        if (h->members[k] == pid)
                                return h;
        }
        return NULL;
}

static size_t task_index(const struct restore_ctx *ctx, uint32_t pid) {
        for (size_t i = 0; i < ctx->ntasks; i++)
                if (ctx->tasks[i].pe->pid == pid)
                        return i;
        return SIZE_MAX;
}

static pid_t clone_with_pid(pid_t pid, int exit_signal);

/* Stand in for an exited session leader: setsid(), fork the members, leave.
 * Returns in the caller (after reaping the helper); never in the helper. */
static int run_session_helper(struct restore_ctx *ctx, const PstreeHelper *h) {
        pid_t k = clone_with_pid(h->pid, SIGCHLD);
        if (k < 0)
                return log_error_errno(-errno, "cannot create helper pid %d for a session%s: %m", h->pid,
                                       errno == EEXIST ? " (the pid is taken)" : "");
        if (k == 0) {
                if (setsid() < 0)
                        _exit(1);
                for (size_t m = 0; m < h->n_members; m++) {
                        size_t idx = task_index(ctx, h->members[m]);
                        if (idx == SIZE_MAX)
                                _exit(1);
                        struct restore_task *c = &ctx->tasks[idx];
                        pid_t x = clone_with_pid(c->pe->pid, c->core ? c->core->exit_signal : SIGCHLD);
                        if (x < 0) {
                                log_error_errno(-errno, "cannot create pid %d: %m", c->pe->pid);
                                child_report(ctx, -errno);
                                _exit(1);
                        }
                        if (x == 0)
                                child_run(ctx, idx);
                }
                _exit(0);
        }
        int st;
        while (waitpid(k, &st, __WALL) < 0 && errno == EINTR)
                ;
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
                return log_error_errno(-ECHILD, "the session helper %d failed", h->pid);
        return 0;
}

/* A new thread with the given tid that just waits in pause() (with the
 * inherited all-blocked mask) until cryo seizes it and gives it its own
 * registers. Written in asm: it must not touch the stack or TLS. */
static pid_t clone_thread(pid_t tid, void *stack, size_t stack_size) {
        uint64_t t = tid;
        struct cryo_clone_args a = {
                .flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM,
                .stack = (uintptr_t)stack,
                .stack_size = stack_size,
                .set_tid = (uintptr_t)&t,
                .set_tid_size = 1,
        };
        long ret;
        __asm__ volatile("syscall\n\t"
                         "test %%rax, %%rax\n\t"
                         "jnz 1f\n\t"
                         "2:\n\t"
                         "mov $34, %%eax\n\t" /* __NR_pause */
                         "syscall\n\t"
                         "jmp 2b\n\t"
                         "1:\n\t"
                         : "=a"(ret)
                         : "0"((long)__NR_clone3), "D"(&a), "S"(sizeof(a))
                         : "rcx", "r11", "memory");
        if (ret < 0) {
                errno = -ret;
                return -1;
        }
        return ret;
}

static int create_threads(struct restore_task *t) {
        for (size_t k = 1; k < t->core->n_threads; k++) {
                const size_t sz = 16384;
                void *stack = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
                if (stack == MAP_FAILED)
                        return log_error_errno(-errno, "cannot allocate a thread stack: %m");
                pid_t tid = t->core->threads[k]->tid;
                if (clone_thread(tid, stack, sz) < 0)
                        return log_error_errno(-errno, "pid %d: cannot create thread %d%s: %m", t->pe->pid, tid,
                                               errno == EEXIST ? " (the tid is taken)" : "");
        }
        return 0;
}

static int child_setup(struct restore_ctx *ctx, size_t idx) {
        struct restore_task *t = &ctx->tasks[idx];
        pid_t pid = t->pe->pid;
        sigset_t all;
        int r;

        sigfillset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
        if (getpid() != pid)
                return log_error_errno(-EINVAL, "got pid %d instead of %d", getpid(), pid);
        if (t->pe->sid == (uint32_t)pid) {
                if (setsid() < 0)
                        return log_error_errno(-errno, "pid %d: setsid: %m", pid);
                /* its controlling terminal, before it forks the rest of the session */
                r = tty_restore_session(ctx, t);
                if (r < 0)
                        return r;
        } else if (t->pe->pgid == (uint32_t)pid) {
                if (setpgid(0, 0) < 0)
                        return log_error_errno(-errno, "pid %d: setpgid: %m", pid);
        }
        if (!t->pe->zombie) {
                /* memory shared copy-on-write with children must exist before they are forked */
                r = mm_premap_child(ctx, t);
                if (r < 0)
                        return r;
        }
        for (size_t i = idx + 1; i < ctx->ntasks; i++) {
                struct restore_task *c = &ctx->tasks[i];
                if (c->pe->ppid != (uint32_t)pid || session_helper_of(ctx, c->pe->pid))
                        continue;
                /* an fd table or fs info shared with us is shared again by cloning */
                uint64_t fl = (c->pe->share_files ? CLONE_FILES : 0) | (c->pe->share_fs ? CLONE_FS : 0);
                pid_t k = clone_with_pid_flags(c->pe->pid, c->core ? c->core->exit_signal : SIGCHLD, fl);
                if (k < 0)
                        return log_error_errno(-errno, "cannot create pid %d%s: %m", c->pe->pid,
                                               errno == EEXIST ? " (the pid is taken)" : "");
                if (k == 0)
                        child_run(ctx, i);
        }
        for (size_t i = 0; i < ctx->pstree->n_helpers; i++) {
                PstreeHelper *h = ctx->pstree->helpers[i];
                if (h->parent != (uint32_t)pid || !h->session)
                        continue;
                /* members reparent to us when the helper leaves: be their subreaper now */
                prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
                r = run_session_helper(ctx, h);
                if (r < 0)
                        return r;
                sigset_t chld;
                sigemptyset(&chld);
                sigaddset(&chld, SIGCHLD);
                struct timespec zero = { 0, 0 };
                sigtimedwait(&chld, NULL, &zero); /* its SIGCHLD was never the target's */
        }
        for (size_t i = 0; i < ctx->pstree->n_helpers; i++) {
                PstreeHelper *h = ctx->pstree->helpers[i];
                if (h->parent != (uint32_t)pid || h->session)
                        continue;
                pid_t k = clone_with_pid(h->pid, SIGCHLD);
                if (k < 0)
                        return log_error_errno(-errno, "cannot create helper pid %d for a process group%s: %m", h->pid,
                                               errno == EEXIST ? " (the pid is taken)" : "");
                if (k == 0) {
                        child_report(ctx, 0);
                        for (;;)
                                syscall(__NR_pause);
                }
        }
        if (t->pe->zombie)
                return 0; /* it only needs to exist until cryo makes it exit */
        log_disable_stderr();
        if (!t->pe->share_files) { /* a shared table is the parent's to fill */
                r = files_restore_task_fds(ctx, t);
                if (r < 0)
                        return r;
        }
        r = create_threads(t);
        if (r < 0)
                return r;
        r = signals_restore_child(ctx, t);
        if (r < 0)
                return r;
        r = timers_restore_child(ctx, t);
        if (r < 0)
                return r;
        r = task_restore_child(ctx, t);
        if (r < 0)
                return r;
        return 0;
}

static void child_run(struct restore_ctx *ctx, size_t idx) {
        /* die with the restore -- except a session helper's members, whose
         * creator leaves on purpose (the subreaper inherits them) */
        if (!session_helper_of(ctx, ctx->tasks[idx].pe->pid))
                prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
        int r = child_setup(ctx, idx);
        child_report(ctx, r < 0 ? r : 0);
        if (r < 0)
                _exit(1);
        /* cryo takes over from here (ptrace) */
        for (;;)
                syscall(__NR_pause);
}

/* ------------------------------------------------------------ in cryo */

static int wait_ready(struct restore_ctx *ctx) {
        size_t got = 0;
        size_t want = ctx->ntasks;
        for (size_t i = 0; i < ctx->pstree->n_helpers; i++)
                want += !ctx->pstree->helpers[i]->session;
        int waited = 0;
        while (got < want) {
                struct pollfd p = { .fd = ctx->ready_pipe[0], .events = POLLIN };
                int n = poll(&p, 1, 500);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n == 0) {
                        /* a process that died before reporting never will */
                        for (size_t i = 0; i < ctx->ntasks; i++) {
                                struct proc_stat ps;
                                if (ctx->tasks[i].created)
                                        continue;
                                int r = proc_read_stat(ctx->tasks[i].pe->pid, 0, &ps);
                                if (r == 0 && (ps.state == 'Z' || ps.state == 'X'))
                                        return log_error_errno(-ECHILD, "restored pid %d died before it was ready (wait status %#x)",
                                                               ctx->tasks[i].pe->pid, ps.exit_code);
                        }
                        if (++waited < 60)
                                continue;
                }
                if (n <= 0)
                        return log_error_errno(-ETIMEDOUT, "restored processes did not get ready in time");
                struct ready_msg m;
                int r = read_all(ctx->ready_pipe[0], &m, sizeof(m));
                if (r < 0)
                        return log_error_errno(r, "lost contact with restored processes: %m");
                if (m.err) {
                        m.text[sizeof(m.text) - 1] = 0;
                        return log_error_errno(m.err, "%s", m.text);
                }
                for (size_t i = 0; i < ctx->ntasks; i++) {
                        struct restore_task *t = &ctx->tasks[i];
                        if (t->pe->pid != (uint32_t)m.pid)
                                continue;
                        t->created = true;
                        if (m.npremap && t->mm) {
                                t->premapped = xzalloc(t->mm->n_vmas * sizeof(bool));
                                for (uint32_t k = 0; k < m.npremap && k < READY_MAX_PREMAP; k++)
                                        if (m.premap[k] < t->mm->n_vmas)
                                                t->premapped[m.premap[k]] = true;
                        }
                }
                got++;
        }
        return 0;
}

static void regs_from_image(const UserRegsX86 *r, arch_regs_t *g) {
        memset(g, 0, sizeof(*g));
        g->r15 = r->r15, g->r14 = r->r14, g->r13 = r->r13, g->r12 = r->r12, g->rbp = r->bp, g->rbx = r->bx;
        g->r11 = r->r11, g->r10 = r->r10, g->r9 = r->r9, g->r8 = r->r8, g->rax = r->ax, g->rcx = r->cx;
        g->rdx = r->dx, g->rsi = r->si, g->rdi = r->di, g->orig_rax = r->orig_ax, g->rip = r->ip, g->cs = r->cs;
        g->eflags = r->flags, g->rsp = r->sp, g->ss = r->ss, g->fs_base = r->fs_base, g->gs_base = r->gs_base;
        g->ds = r->ds, g->es = r->es, g->fs = r->fs, g->gs = r->gs;
}

static int finish_thread(struct infect_task *inf, ThreadCore *tc) {
        /* final state: set in a PTRACE_EVENT_STOP so an interrupted syscall restarts */
        regs_from_image(tc->regs, &inf->regs);
        /* A sleep or poll interrupted with -ERESTART_RESTARTBLOCK would resume
         * through restart_syscall(), whose state stayed in the old kernel task:
         * the new one would return EINTR. Restart the original call instead
         * (its timeout starts again; a handler still makes it EINTR). */
        if ((int64_t)inf->regs.orig_rax >= 0 && (int64_t)inf->regs.rax == -ERESTART_RESTARTBLOCK)
                inf->regs.rax = (uint64_t)-ERESTARTNOHAND;
        inf->orig_sigmask = tc->blocked;
        int r = infect_finish(inf);
        if (r < 0)
                return log_error_errno(r, "pid %d: cannot set its registers: %m", tc->tid);
        r = arch_set_xstate(tc->tid, tc->xsave.data, tc->xsave.len);
        if (r < 0)
                return log_error_errno(r, "pid %d: cannot restore the FPU/XSAVE state: %m", tc->tid);
        return 0;
}

static int seize_task(struct restore_ctx *ctx, struct restore_task *t) {
        pid_t pid = t->pe->pid;
        size_t nth = t->core ? t->core->n_threads : 1;
        int r = infect_seize(pid, true);
        if (r < 0)
                return log_error_errno(r, "cannot seize restored pid %d: %m", pid);
        t->seized = true;
        t->tinf = xzalloc(nth * sizeof(*t->tinf));
        t->tseized = xzalloc(nth * sizeof(bool));
        for (size_t k = 1; k < nth; k++) {
                pid_t tid = t->core->threads[k]->tid;
                r = infect_seize(tid, true);
                if (r < 0)
                        return log_error_errno(r, "cannot seize restored thread %d: %m", tid);
                t->tseized[k] = true;
        }
        r = infect_prepare_ip(&t->inf, pid, ctx->own_syscall_ip); /* forked from cryo: same vDSO */
        if (r < 0)
                return r;
        t->prepared = true;
        for (size_t k = 1; k < nth; k++) {
                r = infect_prepare_ip(&t->tinf[k], t->core->threads[k]->tid, t->inf.syscall_ip);
                if (r < 0)
                        return r;
        }
        return 0;
}

static struct restore_task *find_task(struct restore_ctx *ctx, pid_t pid) {
        for (size_t i = 0; i < ctx->ntasks; i++)
                if (ctx->tasks[i].pe->pid == (uint32_t)pid)
                        return &ctx->tasks[i];
        return NULL;
}

static bool sigchld_was_pending(struct restore_task *t) {
        if (!t->core)
                return false;
        for (size_t i = 0; i < t->core->n_shared_pending; i++)
                if (t->core->shared_pending[i]->siginfo.len >= 4 &&
                    *(int32_t *)t->core->shared_pending[i]->siginfo.data == SIGCHLD)
                        return true;
        return false;
}

/* Process groups (leaders first), then zombies die and group helpers go. */
static int restore_groups(struct restore_ctx *ctx) {
        pid_t my_pgid = getpgid(0);
        pid_t root_pgid_outside = ctx->tasks[0].pe->pgid != ctx->tasks[0].pe->pid ? (pid_t)ctx->tasks[0].pe->pgid : 0;
        struct infect_task hinf;
        int64_t x;
        int r;

        if (session_helper_of(ctx, ctx->tasks[0].pe->pid))
                root_pgid_outside = 0; /* its session (and group) were recreated, not inherited from cryo */
        for (size_t i = 0; i < ctx->pstree->n_helpers; i++) {
                PstreeHelper *h = ctx->pstree->helpers[i];
                if (h->session)
                        continue;
                r = infect_seize(h->pid, true);
                if (r >= 0)
                        r = infect_prepare(&hinf, h->pid);
                if (r < 0)
                        return log_error_errno(r, "cannot drive the group helper %d: %m", h->pid);
                x = infect_call(&hinf, __NR_setpgid, 0, 0, 0, 0, 0, 0);
                if (x < 0)
                        return log_error_errno((int)x, "helper %d: cannot create process group: %m", h->pid);
        }
        for (int pass = 0; pass < 2; pass++)
                for (size_t i = 0; i < ctx->ntasks; i++) {
                        struct restore_task *t = &ctx->tasks[i];
                        pid_t pid = t->pe->pid, want = t->pe->pgid;
                        bool leader = want == pid;
                        if (leader != (pass == 0))
                                continue;
                        if (root_pgid_outside && want == root_pgid_outside)
                                want = my_pgid;
                        if (getpgid(pid) == want)
                                continue;
                        x = infect_call(&t->inf, __NR_setpgid, 0, leader ? 0 : want, 0, 0, 0, 0);
                        if (x < 0)
                                return log_error_errno((int)x, "pid %d: cannot join process group %d: %m", pid, want);
                }
        /* zombies die the way they died */
        for (size_t i = 0; i < ctx->ntasks; i++) {
                struct restore_task *t = &ctx->tasks[i];
                if (!t->pe->zombie)
                        continue;
                pid_t pid = t->pe->pid;
                int code = t->pe->exit_code, st;
                struct rlimit no_core = { 0, 0 };
                prlimit(pid, RLIMIT_CORE, &no_core, NULL);
                uint64_t mask = t->pe->zombie_sigblk;
                if (WIFSIGNALED(code)) {
                        /* let go of it, with the signal unblocked, and send the signal that killed it */
                        mask &= ~(1ULL << (WTERMSIG(code) - 1));
                        ptrace(PTRACE_SETSIGMASK, pid, (void *)sizeof(mask), &mask);
                        infect_detach(pid);
                        kill(pid, WTERMSIG(code));
                } else {
                        ptrace(PTRACE_SETSIGMASK, pid, (void *)sizeof(mask), &mask);
                        infect_call(&t->inf, __NR_exit_group, WEXITSTATUS(code), 0, 0, 0, 0, 0);
                        while (waitpid(pid, &st, __WALL) < 0 && errno == EINTR)
                                ;
                }
                for (int k = 0; k < 500; k++) { /* until it is a zombie of its parent */
                        struct proc_stat ps;
                        if (proc_read_stat(pid, 0, &ps) < 0 || ps.state == 'Z')
                                break;
                        struct timespec ts = { 0, 2000000 };
                        nanosleep(&ts, NULL);
                }
                t->seized = false;
                struct restore_task *p = find_task(ctx, t->pe->ppid);
                if (p && !sigchld_was_pending(p))
                        p->drain_sigchld = true;
        }
        /* group helpers leave; their parents reap them */
        for (size_t i = 0; i < ctx->pstree->n_helpers; i++) {
                PstreeHelper *h = ctx->pstree->helpers[i];
                int st;
                if (h->session)
                        continue;
                kill(h->pid, SIGKILL);
                while (waitpid(h->pid, &st, __WALL) < 0 && errno == EINTR)
                        ;
                struct restore_task *p = find_task(ctx, h->parent);
                if (!p)
                        return log_error_errno(-EBADMSG, "helper %d has no parent in the tree", h->pid);
                x = infect_call(&p->inf, __NR_wait4, h->pid, 0, __WALL, 0, 0, 0);
                if (x != h->pid)
                        return log_error_errno(x < 0 ? (int)x : -ECHILD, "pid %d: cannot reap group helper %d: %m",
                                               h->parent, h->pid);
                if (!sigchld_was_pending(p))
                        p->drain_sigchld = true;
        }
        return 0;
}

static int restore_one(struct restore_ctx *ctx, struct restore_task *t) {
        pid_t pid = t->pe->pid;
        size_t nth = t->core->n_threads;
        int64_t x;
        int r;

        /* glibc's rseq area (inherited from cryo) is about to disappear with
         * cryo's mappings: unregister it exactly as it was registered */
        struct cryo_ptrace_rseq_configuration rc = { 0 };
        if (ptrace(PTRACE_GET_RSEQ_CONFIGURATION, pid, (void *)sizeof(rc), &rc) >= 0 && rc.rseq_abi_pointer) {
                x = infect_call(&t->inf, __NR_rseq, rc.rseq_abi_pointer, rc.rseq_abi_size, 1 /* UNREGISTER */,
                                rc.signature, 0, 0);
                if (x < 0)
                        return log_error_errno((int)x, "pid %d: cannot unregister cryo's rseq area: %m", pid);
        }
        r = mm_restore_remote(ctx, t);
        if (r < 0)
                return r;
        if (t->drain_sigchld) {
                /* a zombie or helper child died during restore: take back the SIGCHLD it sent */
                uint64_t set = 1ULL << (SIGCHLD - 1);
                struct timespec zero = { 0, 0 };
                r = infect_write_mem(pid, t->inf.scratch, &set, sizeof(set));
                if (r >= 0)
                        r = infect_write_mem(pid, t->inf.scratch + 64, &zero, sizeof(zero));
                if (r < 0)
                        return log_error_errno(r, "pid %d: cannot write scratch memory: %m", pid);
                infect_call(&t->inf, __NR_rt_sigtimedwait, t->inf.scratch, 0, t->inf.scratch + 64, 8, 0, 0);
        }
        for (size_t k = 1; k < nth; k++) {
                /* the syscall instruction moved with the vDSO; the scratch is shared */
                t->tinf[k].syscall_ip = t->inf.syscall_ip;
                t->tinf[k].scratch = t->inf.scratch;
                t->tinf[k].batch_code = t->inf.batch_code;
        }
        r = task_restore_remote(ctx, t);
        if (r < 0)
                return r;
        for (size_t k = 1; k < nth; k++) {
                r = thread_restore_remote(ctx, t, &t->tinf[k], t->core->threads[k]);
                if (r < 0)
                        return r;
                r = signals_restore_thread_remote(ctx, t, &t->tinf[k], t->core->threads[k]);
                if (r < 0)
                        return r;
        }
        /* credentials last: they drop what the steps above need */
        for (size_t k = 1; k < nth; k++) {
                r = creds_restore_remote(ctx, t, &t->tinf[k], t->core->threads[k]);
                if (r < 0)
                        return r;
        }
        r = creds_restore_remote(ctx, t, &t->inf, t->core->threads[0]);
        if (r < 0)
                return r;
        if (t->core->dumpable == 0 || t->core->dumpable == 1) {
                x = infect_call(&t->inf, __NR_prctl, PR_SET_DUMPABLE, t->core->dumpable, 0, 0, 0, 0);
                if (x < 0)
                        return log_error_errno((int)x, "pid %d: cannot set the dumpable bit: %m", pid);
        }
        /* a change of effective ids or a smaller capability set clears the
         * parent-death signal (commit_creds): set it again (a postmaster's
         * children count on theirs) */
        if (t->core->pdeath_signal) {
                x = infect_call(&t->inf, __NR_prctl, PR_SET_PDEATHSIG, t->core->pdeath_signal, 0, 0, 0, 0);
                if (x < 0)
                        return log_error_errno((int)x, "pid %d: cannot set the parent-death signal: %m", pid);
        }
        return 0;
}

/* The last steps, once every process is restored: an fd table shared by
 * several processes must keep cryo's fds until the last of them is done. */
static int restore_finish_one(struct restore_ctx *ctx, struct restore_task *t) {
        pid_t pid = t->pe->pid;
        size_t nth = t->core->n_threads;
        int64_t x;
        int r;

        x = infect_call(&t->inf, __NR_close_range, ctx->fd_base, ~0U, 0, 0, 0, 0);
        if (x < 0)
                return log_error_errno((int)x, "pid %d: cannot close cryo's fds: %m", pid);
        r = files_restore_posix_locks(ctx, t);
        if (r < 0)
                return r;
        r = infect_scratch_unmap(&t->inf);
        if (r < 0)
                return r;
        for (size_t k = 1; k < nth; k++) {
                r = finish_thread(&t->tinf[k], t->core->threads[k]);
                if (r < 0)
                        return r;
        }
        return finish_thread(&t->inf, t->core->threads[0]);
}

static void kill_created(struct restore_ctx *ctx, pid_t root) {
        for (size_t i = 0; ctx->pstree && i < ctx->pstree->n_helpers; i++)
                kill(ctx->pstree->helpers[i]->pid, SIGKILL);
        for (size_t i = 0; i < ctx->ntasks; i++)
                if (ctx->tasks[i].created || ctx->tasks[i].seized)
                        kill(ctx->tasks[i].pe->pid, SIGKILL);
        if (root > 0)
                kill(root, SIGKILL);
        /* we are a subreaper for the duration: reap everything */
        while (waitpid(-1, NULL, __WALL) > 0 || errno == EINTR)
                ;
}

static void restore_ctx_done(struct restore_ctx *ctx) {
        for (size_t i = 0; i < ctx->ntasks; i++) {
                struct restore_task *t = &ctx->tasks[i];
                if (t->core)
                        img_msg_free(&t->core->base);
                if (t->mm)
                        img_msg_free(&t->mm->base);
                if (t->pagemap)
                        img_msg_free(&t->pagemap->base);
                if (t->fdt)
                        img_msg_free(&t->fdt->base);
                safe_close(t->pages_fd);
                free(t->tinf);
                free(t->tseized);
                free(t->premapped);
        }
        free(ctx->tasks);
        if (ctx->file_fds)
                for (size_t i = 0; i < ctx->files->n_files; i++)
                        safe_close(ctx->file_fds[i]);
        free(ctx->file_fds);
        restore_ctx_close_stash(ctx);
        free(ctx->stash);
        free(ctx->shmem);
        if (ctx->files)
                img_msg_free(&ctx->files->base);
        if (ctx->pstree)
                img_msg_free(&ctx->pstree->base);
        if (ctx->inv)
                img_msg_free(&ctx->inv->base);
        safe_close(ctx->ready_pipe[0]);
        safe_close(ctx->ready_pipe[1]);
        safe_close(ctx->dirfd);
}

int cryo_restore(const struct restore_opts *opts) {
        struct restore_ctx ctx = { .opts = *opts, .dirfd = -EBADF, .ready_pipe = { -1, -1 } };
        struct rlimit rl;
        pid_t root = -1;
        int r;

        ctx.dirfd = open(opts->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (ctx.dirfd < 0)
                return log_error_errno(-errno, "cannot open the images directory '%s': %m", opts->dir);
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max;
                setrlimit(RLIMIT_NOFILE, &rl);
        }
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        r = read_images(&ctx);
        if (r < 0)
                goto out;
        r = ipc_restore(&ctx); /* SysV objects before any process of the tree */
        if (r < 0)
                goto out;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        log_info("images read and verified in %.3f s", (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);

        /* cryo's own fds go above every fd number the tree uses */
        int maxfd = 2;
        for (size_t i = 0; i < ctx.ntasks; i++)
                for (size_t k = 0; ctx.tasks[i].fdt && k < ctx.tasks[i].fdt->n_fds; k++)
                        maxfd = MAX(maxfd, ctx.tasks[i].fdt->fds[k]->fd);
        ctx.fd_base = MAX(maxfd + 1, 64);
        ctx.next_high_fd = ctx.fd_base;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && (rlim_t)ctx.fd_base + 64 + ctx.files->n_files > rl.rlim_cur) {
                r = log_error_errno(-EMFILE, "the checkpoint uses fd %d; cryo's RLIMIT_NOFILE (%llu) is too low to restore it",
                                    maxfd, (unsigned long long)rl.rlim_cur);
                goto out;
        }
        if ((r = restore_ctx_move_high(&ctx, ctx.dirfd)) < 0)
                goto out;
        ctx.dirfd = r;
        for (size_t i = 0; i < ctx.ntasks; i++) {
                if (ctx.tasks[i].pe->zombie)
                        continue;
                if ((r = restore_ctx_move_high(&ctx, ctx.tasks[i].pages_fd)) < 0)
                        goto out;
                ctx.tasks[i].pages_fd = r;
        }

        log_relocate(ctx.fd_base);

        struct timespec deadline;
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += 5;
        for (size_t i = 0; i < ctx.ntasks; i++)
                for (size_t k = 0; k < ctx.tasks[i].pe->n_threads; k++) {
                        r = check_pid_free(ctx.tasks[i].pe->threads[k], &deadline);
                        if (r < 0)
                                goto out;
                }
        for (size_t i = 0; i < ctx.pstree->n_helpers; i++) {
                r = check_pid_free(ctx.pstree->helpers[i]->pid, &deadline);
                if (r < 0)
                        goto out;
        }

        r = files_restore_open_all(&ctx);
        if (r < 0)
                goto out;
        if (pipe2(ctx.ready_pipe, O_CLOEXEC) < 0) {
                r = log_error_errno(-errno, "cannot create a pipe: %m");
                goto out;
        }
        for (int k = 0; k < 2; k++) {
                if ((r = restore_ctx_move_high(&ctx, ctx.ready_pipe[k])) < 0)
                        goto out;
                ctx.ready_pipe[k] = r;
        }

        infect_own_syscall_ip(&ctx.own_syscall_ip); /* 0 if none: each task is searched then */
        prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
        fflush(NULL);
        const PstreeHelper *rh = session_helper_of(&ctx, ctx.tasks[0].pe->pid);
        if (rh) {
                /* the root's session leader exited: a helper recreates the session,
                 * and the root is inherited by cryo (a subreaper here) */
                r = run_session_helper(&ctx, rh);
                if (r < 0)
                        goto fail;
                root = ctx.tasks[0].pe->pid;
        } else {
                root = clone_with_pid(ctx.tasks[0].pe->pid, ctx.tasks[0].core->exit_signal ?: SIGCHLD);
                if (root < 0) {
                        r = log_error_errno(-errno, "cannot create pid %d%s: %m", ctx.tasks[0].pe->pid,
                                            errno == EEXIST ? " (the pid is taken)" : "");
                        goto fail;
                }
                if (root == 0)
                        child_run(&ctx, 0);
        }
        ctx.tasks[0].created = true;
        r = wait_ready(&ctx);
        if (r < 0)
                goto fail;
        for (size_t i = 0; i < ctx.ntasks; i++) {
                r = seize_task(&ctx, &ctx.tasks[i]);
                if (r < 0)
                        goto fail;
        }
        r = restore_groups(&ctx);
        if (r >= 0)
                r = tty_restore_groups(&ctx); /* foreground groups */
        if (r < 0)
                goto fail;
        for (size_t i = 0; i < ctx.ntasks; i++) {
                if (ctx.tasks[i].pe->zombie)
                        continue;
                r = restore_one(&ctx, &ctx.tasks[i]);
                if (r < 0)
                        goto fail;
        }
        for (size_t i = 0; i < ctx.ntasks; i++) {
                if (ctx.tasks[i].pe->zombie)
                        continue;
                r = restore_finish_one(&ctx, &ctx.tasks[i]);
                if (r < 0)
                        goto fail;
        }
        for (size_t i = 0; i < ctx.ntasks; i++) {
                struct restore_task *t = &ctx.tasks[i];
                if (t->pe->zombie)
                        continue;
                for (size_t k = 1; k < t->core->n_threads; k++)
                        if (infect_detach(t->core->threads[k]->tid) < 0)
                                log_warn("thread %d: cannot detach: %m", t->core->threads[k]->tid);
                /* a stopped task gets its SIGSTOP while still held: it must not
                 * run a single instruction before it stops again */
                if (t->pe->stopped)
                        kill(t->pe->pid, SIGSTOP);
                if (infect_detach(t->pe->pid) < 0)
                        log_warn("pid %d: cannot detach: %m", t->pe->pid);
                t->seized = false;
        }
        /* stopped tasks go back into their job-control stop */
        for (size_t i = 0; i < ctx.ntasks; i++)
                if (ctx.tasks[i].pe->stopped) {
                        pid_t sp = ctx.tasks[i].pe->pid;
                        /* return only once it is really stopped */
                        for (int k = 0; k < 500; k++) {
                                struct proc_stat ps;
                                if (proc_read_stat(sp, 0, &ps) < 0 || ps.state == 'T')
                                        break;
                                struct timespec ts = { 0, 1000000 };
                                nanosleep(&ts, NULL);
                        }
                }
        prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0);
        if (opts->pidfile) {
                char buf[32];
                int fd = open(opts->pidfile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
                snprintf(buf, sizeof(buf), "%d\n", root);
                if (fd < 0 || write_all(fd, buf, strlen(buf)) < 0)
                        log_warn("cannot write the pid file '%s': %m", opts->pidfile);
                safe_close(fd);
        }
        log_info("restored %zu task(s), root pid %d", ctx.ntasks, root);
        r = root;
        goto out;
fail:
        tty_restore_abort(&ctx);
        kill_created(&ctx, root);
        prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0);
out:
        ipc_restore_finish(&ctx, r);
        restore_ctx_done(&ctx);
        return r;
}
