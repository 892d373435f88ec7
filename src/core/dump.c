/* The dump driver: freeze the tree, collect every task, write the images,
 * then kill the tree or let it go. Any failure resumes every task exactly
 * as it was (registers, signal mask, no scratch mapping left) and detaches.
 *
 * Order: seize the root, then its children (read from the stopped parent's
 * /proc/PID/task/TID/children, so the list cannot change under us), depth
 * first -- the whole tree is stopped before anything is collected. Then per
 * task: refusals (threads, zombies, namespaces, seccomp, sessions), VMAs
 * (before cryo maps its scratch page into the task), remote calls for the
 * kernel state, pages, fds. Images are written last, the inventory after
 * everything else, so a directory without inventory.img is not a
 * checkpoint. */
#define LOG_PREFIX "dump: "
#include "core/dump.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>

#include "arch/x86_64/arch.h"
#include "basic/kcompat.h"
#include "basic/log.h"
#include "basic/proc.h"
#include "basic/util.h"
#include "config.h"
#include "core/res/files.h"
#include "core/res/ipc.h"
#include "core/res/task.h"
#include "image/image.h"

static struct dump_task *task_add(struct dump_ctx *ctx, pid_t pid, pid_t ppid) {
        struct dump_task *t = ARRAY_PUSH(ctx->tasks, ctx->ntasks, ctx->ctasks);
        *t = (struct dump_task){ .pid = pid, .ppid = ppid };
        return t;
}

/* A task that does not stop when interrupted: a vfork() parent (it waits,
 * unstoppable, until its child execs or exits) or a task asleep
 * uninterruptibly (I/O). Both go on running: refuse rather than wait forever. */
#define SEIZE_TIMEOUT_MS 10000

static int refuse_unstoppable(pid_t pid, pid_t tid) {
        _cleanup_free_ pid_t *tids = NULL, *kids = NULL;
        size_t ntids = 0, nkids = 0;
        struct proc_stat ps;
        char wchan[64] = "", path[64];

        if (proc_list_tasks(pid, &tids, &ntids) >= 0)
                for (size_t k = 0; k < ntids; k++) {
                        free(kids);
                        kids = NULL;
                        if (proc_list_children(pid, tids[k], &kids, &nkids) < 0)
                                continue;
                        for (size_t i = 0; i < nkids; i++)
                                if (syscall(__NR_kcmp, pid, kids[i], KCMP_VM, 0, 0) == 0)
                                        return log_error_errno(-ENOTSUP, "pid %d is in vfork(): its child %d has not called exec or exited for %d s, not supported yet",
                                                               pid, kids[i], SEIZE_TIMEOUT_MS / 1000);
                }
        snprintf(path, sizeof(path), "/proc/%d/task/%d/wchan", pid, tid);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
                ssize_t n = read(fd, wchan, sizeof(wchan) - 1);
                wchan[n > 0 ? n : 0] = 0;
        }
        return log_error_errno(-ETIMEDOUT, "pid %d%s%.0d did not stop within %d s (state %c%s%s), cannot checkpoint it", pid,
                               tid != pid ? ": thread " : "", tid != pid ? tid : 0, SEIZE_TIMEOUT_MS / 1000,
                               proc_read_stat(tid, 0, &ps) == 0 ? ps.state : '?', wchan[0] ? ", in " : "", wchan);
}

static int seize_tree(struct dump_ctx *ctx, pid_t pid, pid_t ppid) {
        struct proc_stat ps;
        _cleanup_free_ pid_t *kids = NULL;
        size_t nkids = 0;
        int r;

        r = proc_read_stat(pid, 0, &ps);
        if (r == -ENOENT && ppid)
                return 0; /* a child that exited and was reaped meanwhile */
        if (r == -ENOENT)
                return log_error_errno(-ESRCH, "no process with pid %d", pid);
        if (r < 0)
                return log_error_errno(r, "pid %d: cannot read its state: %m", pid);
        if (ps.flags & 0x00200000 /* PF_KTHREAD */)
                return log_error_errno(-EPERM, "pid %d (%s) is a kernel thread: it cannot be checkpointed", pid, ps.comm);
        if (ps.state == 'Z') {
                /* a dead child nobody has reaped yet: restore recreates it dead */
                struct dump_task *z = task_add(ctx, pid, ppid);
                z->zombie = true;
                z->exit_code = ps.exit_code;
                struct proc_status zs;
                if (proc_read_status(pid, 0, &zs) == 0) {
                        z->zombie_sigblk = zs.sig_blk;
                        proc_status_done(&zs);
                }
                z->pgid = ps.pgrp;
                z->sid = ps.session;
                if (pid == ctx->opts.pid)
                        return log_error_errno(-EINVAL, "pid %d is a zombie: nothing to checkpoint", pid);
                return 0;
        }
        if (ps.state == 't')
                return log_error_errno(-EBUSY, "pid %d is being traced by another process", pid);

        size_t idx = ctx->ntasks;
        struct dump_task *t = task_add(ctx, pid, ppid);
        t->pgid = ps.pgrp;
        t->sid = ps.session;
        t->stopped = ps.state == 'T';
        r = infect_seize_timeout(pid, false, SEIZE_TIMEOUT_MS);
        if (r == -ETIMEDOUT)
                return refuse_unstoppable(pid, pid);
        if (r < 0 && ppid && (r == -ESRCH || r == -EPERM) && (proc_read_stat(pid, 0, &ps) < 0 || ps.state == 'Z')) {
                /* it exited between the listing and the seize (its parent is
                 * stopped, so it stays a zombie -- or it is already gone) */
                ctx->ntasks--;
                return seize_tree(ctx, pid, ppid);
        }
        if (r < 0) {
                if (r == -EPERM) {
                        struct proc_status st;
                        if (proc_read_status(pid, 0, &st) == 0 && st.tracer_pid) {
                                proc_status_done(&st);
                                return log_error_errno(-EBUSY, "pid %d is being traced by pid %d", pid, st.tracer_pid);
                        }
                }
                return log_error_errno(r, "cannot seize pid %d: %m", pid);
        }
        ctx->tasks[idx].seized = true;

        /* every thread; threads may be creating threads: repeat until no new one */
        _cleanup_free_ pid_t *tids = NULL;
        size_t ntids = 0;
        for (bool added = true; added;) {
                added = false;
                free(tids);
                tids = NULL;
                r = proc_list_tasks(pid, &tids, &ntids);
                if (r < 0)
                        return log_error_errno(r, "pid %d: cannot list threads: %m", pid);
                for (size_t k = 0; k < ntids; k++) {
                        struct dump_task *tt = &ctx->tasks[idx];
                        bool known = tids[k] == pid;
                        for (size_t j = 0; j < tt->nth && !known; j++)
                                known = tt->th[j].tid == tids[k];
                        if (known)
                                continue;
                        r = infect_seize_timeout(tids[k], false, SEIZE_TIMEOUT_MS);
                        if (r == -ETIMEDOUT)
                                return refuse_unstoppable(pid, tids[k]);
                        if (r == -ESRCH)
                                continue; /* exited meanwhile */
                        if (r < 0)
                                return log_error_errno(r, "cannot seize thread %d of pid %d: %m", tids[k], pid);
                        struct dump_thread *th = ARRAY_PUSH(tt->th, tt->nth, tt->cth);
                        *th = (struct dump_thread){ .tid = tids[k], .seized = true };
                        added = true;
                }
        }

        /* the tasks are stopped now: their children cannot change */
        for (size_t k = 0; k < ntids; k++) {
                free(kids);
                kids = NULL;
                r = proc_list_children(pid, tids[k], &kids, &nkids);
                if (r < 0)
                        return log_error_errno(r, "pid %d: cannot list children: %m", pid);
                for (size_t i = 0; i < nkids; i++) {
                        r = seize_tree(ctx, kids[i], pid);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

static bool in_tree(struct dump_ctx *ctx, pid_t pid) {
        for (size_t i = 0; i < ctx->ntasks; i++)
                if (ctx->tasks[i].pid == pid)
                        return true;
        return false;
}

/* File locks are not saved yet: refuse rather than restore without them. */
static int check_locks(struct dump_ctx *ctx) {
        _cleanup_free_ char *text = NULL;
        if (ctx->opts.file_locks)
                return 0; /* collected per fd (files.c) */
        if (read_full_file("/proc/locks", &text, NULL) < 0)
                return 0;
        for (char *line = text; line && *line;) {
                char kind[16];
                int pid;
                if (sscanf(line, "%*d: %15s %*s %*s %d", kind, &pid) == 2 && in_tree(ctx, pid))
                        return log_error_errno(-ENOTSUP, "pid %d holds a file lock (%s), not supported yet", pid, kind);
                line = strchr(line, '\n');
                if (line)
                        line++;
        }
        return 0;
}

static int check_task(struct dump_ctx *ctx, struct dump_task *t) {
        static const char *const nss[] = { "mnt", "pid", "net", "ipc", "uts", "user", "cgroup", "time" };
        struct proc_status st;
        int r;

        if (t->zombie)
                return 0;
        r = proc_read_status(t->pid, 0, &st);
        if (r < 0)
                return log_error_errno(r, "pid %d: cannot read status: %m", t->pid);
        int seccomp = st.seccomp;
        proc_status_done(&st);
        if (seccomp)
                return log_error_errno(-ENOTSUP, "pid %d has a seccomp filter (mode %d), not supported yet", t->pid,
                                       seccomp);
        for (size_t i = 0; i < ARRAY_SIZE(nss); i++) {
                char a[64], b[64];
                struct stat sa, sb;
                snprintf(a, sizeof(a), "/proc/%d/ns/%s", t->pid, nss[i]);
                snprintf(b, sizeof(b), "/proc/self/ns/%s", nss[i]);
                if (stat(a, &sa) < 0 || stat(b, &sb) < 0)
                        continue;
                if (sa.st_ino != sb.st_ino)
                        return log_error_errno(-ENOTSUP, "pid %d lives in another %s namespace than cryo, not supported yet",
                                               t->pid, nss[i]);
        }
        return 0;
}

static struct dump_task *find_task(struct dump_ctx *ctx, pid_t pid);

/* The task whose fd table (kind KCMP_FILES) or fs info (KCMP_FS) t uses: up
 * through the parents it shares it with. */
static struct dump_task *share_root(struct dump_ctx *ctx, struct dump_task *t, int kind) {
        for (;;) {
                bool up = kind == KCMP_FILES ? t->share_files : t->share_fs;
                struct dump_task *p = up ? find_task(ctx, t->ppid) : NULL;
                if (!p)
                        return t;
                t = p;
        }
}

/* Resources processes (not threads) can share through clone flags. An fd
 * table or fs info shared with the parent is rebuilt by cloning with the
 * same flag; anything else shared would be silently split by a restore, so
 * it is refused. */
static int check_sharing(struct dump_ctx *ctx) {
        for (size_t i = 1; i < ctx->ntasks; i++) {
                struct dump_task *t = &ctx->tasks[i], *p = find_task(ctx, t->ppid);
                if (t->zombie || !p || p->zombie)
                        continue;
                t->share_files = syscall(__NR_kcmp, t->pid, p->pid, KCMP_FILES, 0, 0) == 0;
                t->share_fs = syscall(__NR_kcmp, t->pid, p->pid, KCMP_FS, 0, 0) == 0;
        }
        for (size_t i = 0; i < ctx->ntasks; i++)
                for (size_t j = i + 1; j < ctx->ntasks; j++) {
                        struct dump_task *a = &ctx->tasks[i], *b = &ctx->tasks[j];
                        if (a->zombie || b->zombie)
                                continue;
                        if (syscall(__NR_kcmp, a->pid, b->pid, KCMP_VM, 0, 0) == 0)
                                return log_error_errno(-ENOTSUP, "pids %d and %d share an address space (CLONE_VM, e.g. vfork), not supported yet",
                                                       a->pid, b->pid);
                        if (syscall(__NR_kcmp, a->pid, b->pid, KCMP_SIGHAND, 0, 0) == 0)
                                return log_error_errno(-ENOTSUP, "pids %d and %d share signal handlers (CLONE_SIGHAND), not supported yet",
                                                       a->pid, b->pid);
                        if (syscall(__NR_kcmp, a->pid, b->pid, KCMP_FILES, 0, 0) == 0 &&
                            share_root(ctx, a, KCMP_FILES) != share_root(ctx, b, KCMP_FILES))
                                return log_error_errno(-ENOTSUP, "pids %d and %d share an fd table (CLONE_FILES) other than with a parent, not supported yet",
                                                       a->pid, b->pid);
                        if (syscall(__NR_kcmp, a->pid, b->pid, KCMP_FS, 0, 0) == 0 &&
                            share_root(ctx, a, KCMP_FS) != share_root(ctx, b, KCMP_FS))
                                return log_error_errno(-ENOTSUP, "pids %d and %d share cwd/root/umask (CLONE_FS) other than with a parent, not supported yet",
                                                       a->pid, b->pid);
                }
        return 0;
}

static struct dump_task *find_task(struct dump_ctx *ctx, pid_t pid) {
        for (size_t i = 0; i < ctx->ntasks; i++)
                if (ctx->tasks[i].pid == pid)
                        return &ctx->tasks[i];
        return NULL;
}

/* Can every session and process group be rebuilt? Restore creates each
 * process as a child of its parent (so it starts in its parent's session),
 * calls setsid() in session leaders, then puts every process in its group
 * with setpgid() -- group leaders first. A group whose leader is gone gets a
 * temporary helper process with the leader's pid. */
/* Is pid a live process (a zombie waiting for init does not count)? */
static bool pid_exists_anywhere(pid_t p) {
        struct proc_stat ps;
        if (proc_read_stat(p, 0, &ps) < 0)
                return false;
        return ps.state != 'Z' && ps.state != 'X';
}

static PstreeHelper *find_helper(Pstree *ps, pid_t pid) {
        for (size_t k = 0; k < ps->n_helpers; k++)
                if (ps->helpers[k]->pid == (uint32_t)pid)
                        return ps->helpers[k];
        return NULL;
}

/* A helper standing in for the exited leader of session sid, for member t. */
static int session_helper(struct dump_ctx *ctx, Pstree *ps, struct dump_task *t, pid_t parent) {
        PstreeHelper *h = find_helper(ps, t->sid);
        if (h && (!h->session || h->parent != (uint32_t)parent))
                return log_error_errno(-ENOTSUP, "pid %d: its session %d, whose leader exited, has members under different parents, not supported yet",
                                       t->pid, t->sid);
        if (!h) {
                h = xzalloc(sizeof(*h));
                pstree_helper__init(h);
                h->pid = t->sid;
                h->parent = parent;
                h->session = true;
                ps->helpers = xrealloc_array(ps->helpers, ps->n_helpers + 1, sizeof(*ps->helpers));
                ps->helpers[ps->n_helpers++] = h;
        }
        h->members = xrealloc_array(h->members, h->n_members + 1, sizeof(uint32_t));
        h->members[h->n_members++] = t->pid;
        return 0;
}

static int check_sessions(struct dump_ctx *ctx, Pstree *ps) {
        struct dump_task *root = &ctx->tasks[0];
        bool outside_sid = root->sid != root->pid, outside_pgid = root->pgid != root->pid;
        int r;

        if (outside_sid && !ctx->opts.shell_job && !find_task(ctx, root->sid) && !pid_exists_anywhere(root->sid)) {
                /* a daemon whose session leader exited (fork, setsid, fork): recreate the session */
                r = session_helper(ctx, ps, root, 0);
                if (r < 0)
                        return r;
                outside_sid = false;
                if (root->pgid == root->sid)
                        outside_pgid = false;
        }
        if (outside_sid && !ctx->opts.shell_job)
                return log_error_errno(-ENOTSUP, "pid %d: its session %d is outside the tree; use --shell-job (-j) or start it with setsid",
                                       root->pid, root->sid);
        if (outside_pgid && !ctx->opts.shell_job)
                return log_error_errno(-ENOTSUP, "pid %d: its process group %d is outside the tree; use --shell-job (-j)",
                                       root->pid, root->pgid);
        if (outside_sid && find_task(ctx, root->sid))
                return log_error_errno(-ENOTSUP, "pid %d: its session leader %d is below it, not supported", root->pid,
                                       root->sid);
        for (size_t i = 1; i < ctx->ntasks; i++) {
                struct dump_task *t = &ctx->tasks[i];
                struct dump_task *p = find_task(ctx, t->ppid);
                if (t->sid != t->pid && t->sid != p->sid) {
                        if (find_task(ctx, t->sid) || pid_exists_anywhere(t->sid) || t->zombie)
                                return log_error_errno(-ENOTSUP, "pid %d is in session %d but its parent %d is in session %d, not supported yet",
                                                       t->pid, t->sid, p->pid, p->sid);
                        /* its session leader exited and it was inherited by its subreaper p */
                        r = session_helper(ctx, ps, t, p->pid);
                        if (r < 0)
                                return r;
                }
                if (t->pgid == t->pid)
                        continue;
                if (find_helper(ps, t->pgid) && find_helper(ps, t->pgid)->session)
                        continue; /* the session helper leads that group */
                if (outside_pgid && t->pgid == root->pgid) {
                        if (t->sid != root->sid)
                                return log_error_errno(-EINVAL, "pid %d: inconsistent process group", t->pid);
                        continue;
                }
                struct dump_task *leader = find_task(ctx, t->pgid);
                if (leader) {
                        if (leader->sid != t->sid)
                                return log_error_errno(-EINVAL, "pid %d: its group %d is in another session", t->pid,
                                                       t->pgid);
                        if (t->zombie && t->pgid != p->pgid)
                                return log_error_errno(-ENOTSUP, "pid %d is a zombie in process group %d, which its parent is not in, not supported yet",
                                                       t->pid, t->pgid);
                        continue;
                }
                if (t->zombie)
                        return log_error_errno(-ENOTSUP, "pid %d is a zombie in process group %d whose leader exited, not supported yet",
                                               t->pid, t->pgid);
                /* the group's leader exited: a helper will stand in for it */
                if (find_helper(ps, t->pgid))
                        continue;
                PstreeHelper *h = xzalloc(sizeof(*h));
                pstree_helper__init(h);
                h->pid = t->pgid;
                h->parent = p->pid;
                ps->helpers = xrealloc_array(ps->helpers, ps->n_helpers + 1, sizeof(*ps->helpers));
                ps->helpers[ps->n_helpers++] = h;
        }
        return 0;
}

/* A thread stopped inside an rseq critical section must not continue in the
 * middle of it (it may resume on another CPU): do what the kernel does when
 * it preempts one -- go to the abort handler and clear rseq_cs. The task is
 * then saved (and, with -R, resumed) at the abort handler. */
static int rseq_abort_if_inside(struct dump_task *t, struct infect_task *inf, ThreadCore *tc) {
        struct {
                uint32_t version, flags;
                uint64_t start_ip, post_commit_offset, abort_ip;
        } cs;
        uint64_t cs_ptr = 0, ip = inf->regs.rip;

        if (!tc->rseq || !tc->rseq->ptr)
                return 0;
        if (infect_read_mem(t->pid, tc->rseq->ptr + 8, &cs_ptr, sizeof(cs_ptr)) < 0 || !cs_ptr)
                return 0;
        if (infect_read_mem(t->pid, cs_ptr, &cs, sizeof(cs)) < 0)
                return 0;
        if (ip < cs.start_ip || ip - cs.start_ip >= cs.post_commit_offset)
                return 0;
        uint64_t zero = 0;
        int r = infect_write_mem(t->pid, tc->rseq->ptr + 8, &zero, sizeof(zero));
        if (r < 0)
                return log_error_errno(r, "pid %d: cannot clear its rseq critical section: %m", inf->tid);
        log_debug("pid %d: stopped inside an rseq critical section at %#llx: aborting it to %#llx", inf->tid,
                  (unsigned long long)ip, (unsigned long long)cs.abort_ip);
        inf->regs.rip = cs.abort_ip;
        tc->regs->ip = cs.abort_ip;
        return 0;
}

static int dump_thread_core(struct dump_ctx *ctx, struct dump_task *t, struct infect_task *inf, ThreadCore **ret) {
        const arch_regs_t *g = &inf->regs;
        ThreadCore *tc = xzalloc(sizeof(*tc));
        thread_core__init(tc);
        *ret = tc;
        tc->tid = inf->tid;

        UserRegsX86 *r = xzalloc(sizeof(*r));
        user_regs_x86__init(r);
        r->r15 = g->r15, r->r14 = g->r14, r->r13 = g->r13, r->r12 = g->r12, r->bp = g->rbp, r->bx = g->rbx;
        r->r11 = g->r11, r->r10 = g->r10, r->r9 = g->r9, r->r8 = g->r8, r->ax = g->rax, r->cx = g->rcx;
        r->dx = g->rdx, r->si = g->rsi, r->di = g->rdi, r->orig_ax = g->orig_rax, r->ip = g->rip, r->cs = g->cs;
        r->flags = g->eflags, r->sp = g->rsp, r->ss = g->ss, r->fs_base = g->fs_base, r->gs_base = g->gs_base;
        r->ds = g->ds, r->es = g->es, r->fs = g->fs, r->gs = g->gs;
        tc->regs = r;

        void *xs;
        size_t xl;
        int e = arch_get_xstate(inf->tid, &xs, &xl);
        if (e < 0)
                return log_error_errno(e, "pid %d: cannot read the FPU/XSAVE state: %m", inf->tid);
        tc->xsave.data = xs;
        tc->xsave.len = xl;

        e = thread_dump_misc(ctx, t, inf, tc);
        if (e < 0)
                return e;
        e = rseq_abort_if_inside(t, inf, tc);
        if (e < 0)
                return e;
        return creds_dump(ctx, t, inf, tc);
}

static int dump_task_state(struct dump_ctx *ctx, struct dump_task *t) {
        int r;

        t->core = xzalloc(sizeof(*t->core));
        task_core__init(t->core);
        t->core->pid = t->pid;
        t->core->stopped = t->stopped;

        r = mm_dump_vmas(ctx, t); /* before the scratch mapping exists */
        if (r < 0)
                return r;
        r = infect_prepare(&t->inf, t->pid);
        if (r < 0)
                return r;
        t->prepared = true;
        r = infect_scratch_map(&t->inf, SCRATCH_SIZE, 0);
        if (r < 0)
                return r;
        int64_t brk = infect_call(&t->inf, __NR_brk, 0, 0, 0, 0, 0, 0);
        if (brk < 0)
                return log_error_errno((int)brk, "pid %d: cannot read brk: %m", t->pid);
        t->mm->brk = brk;

        for (size_t k = 0; k < t->nth; k++) {
                struct dump_thread *th = &t->th[k];
                r = infect_prepare_ip(&th->inf, th->tid, t->inf.syscall_ip);
                if (r < 0)
                        return r;
                th->prepared = true;
                th->inf.scratch = t->inf.scratch; /* one address space: the leader's scratch serves all */
                th->inf.scratch_size = 0;          /* (only the leader unmaps it) */
                th->inf.batch_code = t->inf.batch_code;
        }
        t->core->n_threads = 1 + t->nth;
        t->core->threads = xzalloc(t->core->n_threads * sizeof(ThreadCore *));
        r = dump_thread_core(ctx, t, &t->inf, &t->core->threads[0]);
        if (r < 0)
                return r;
        for (size_t k = 0; k < t->nth; k++) {
                r = dump_thread_core(ctx, t, &t->th[k].inf, &t->core->threads[k + 1]);
                if (r < 0)
                        return r;
                r = signals_dump_thread(ctx, t, &t->th[k].inf, t->core->threads[k + 1]);
                if (r < 0)
                        return r;
        }
        r = signals_dump(ctx, t);
        if (r < 0)
                return r;
        r = timers_dump(ctx, t);
        if (r < 0)
                return r;
        r = task_dump_misc(ctx, t);
        if (r < 0)
                return r;
        r = mm_dump_pages(ctx, t);
        if (r < 0)
                return r;
        for (size_t i = 0; i < ctx->ntasks; i++)
                if (ctx->tasks[i].pid == t->ppid && !ctx->tasks[i].zombie) {
                        r = mm_dump_cow(ctx, t, &ctx->tasks[i]);
                        if (r < 0)
                                return r;
                }
        return files_dump_task(ctx, t);
}

static int write_images(struct dump_ctx *ctx) {
        char name[64];
        int r;

        Pstree ps = ctx->pstree;
        ps.tasks = xzalloc(ctx->ntasks * sizeof(PstreeEntry *));
        for (size_t i = 0; i < ctx->ntasks; i++) {
                struct dump_task *t = &ctx->tasks[i];
                PstreeEntry *e = xzalloc(sizeof(*e));
                pstree_entry__init(e);
                e->pid = t->pid;
                e->ppid = i == 0 ? 0 : t->ppid;
                e->pgid = t->pgid;
                e->sid = t->sid;
                e->zombie = t->zombie;
                e->exit_code = t->exit_code;
                e->zombie_sigblk = t->zombie_sigblk;
                e->share_files = t->share_files;
                e->share_fs = t->share_fs;
                e->stopped = t->stopped;
                e->n_threads = 1 + t->nth;
                e->threads = xzalloc(e->n_threads * sizeof(uint32_t));
                e->threads[0] = t->pid;
                for (size_t k = 0; k < t->nth; k++)
                        e->threads[k + 1] = t->th[k].tid;
                ps.tasks[ps.n_tasks++] = e;
        }
        r = img_write_msg(ctx->dirfd, "pstree.img", IMG_PSTREE, ctx->ckpt_id, &ps.base);
        for (size_t i = 0; i < ps.n_tasks; i++) {
                free(ps.tasks[i]->threads);
                free(ps.tasks[i]);
        }
        free(ps.tasks);
        if (r < 0)
                return r;

        Files fl = FILES__INIT;
        fl.n_files = ctx->nfiles;
        fl.files = ctx->files;
        fl.n_pipe_data = ctx->npipe_data;
        fl.pipe_data = ctx->pipe_data;
        r = img_write_msg(ctx->dirfd, "files.img", IMG_FILES, ctx->ckpt_id, &fl.base);
        if (r < 0)
                return r;

        for (size_t i = 0; i < ctx->ntasks; i++) {
                struct dump_task *t = &ctx->tasks[i];
                if (t->zombie)
                        continue;
                snprintf(name, sizeof(name), "core-%d.img", t->pid);
                r = img_write_msg(ctx->dirfd, name, IMG_CORE, ctx->ckpt_id, &t->core->base);
                if (r < 0)
                        return r;
                snprintf(name, sizeof(name), "mm-%d.img", t->pid);
                r = img_write_msg(ctx->dirfd, name, IMG_MM, ctx->ckpt_id, &t->mm->base);
                if (r < 0)
                        return r;
                snprintf(name, sizeof(name), "pagemap-%d.img", t->pid);
                r = img_write_msg(ctx->dirfd, name, IMG_PAGEMAP, ctx->ckpt_id, &t->pagemap->base);
                if (r < 0)
                        return r;
                snprintf(name, sizeof(name), "fds-%d.img", t->pid);
                r = img_write_msg(ctx->dirfd, name, IMG_FDS, ctx->ckpt_id, &t->fdt->base);
                if (r < 0)
                        return r;
        }

        InventoryEntry inv = INVENTORY_ENTRY__INIT;
        struct utsname u;
        uint64_t xcr0 = 0;
        uint32_t xsize = 0;
        char host[256] = "";
        uname(&u);
        gethostname(host, sizeof(host) - 1);
        arch_xfeatures(&xcr0, &xsize);
        inv.img_version = IMG_VERSION;
        inv.tool_version = (char *)CRYO_VERSION;
        inv.kernel_release = u.release;
        inv.root_pid = ctx->tasks[0].pid;
        inv.shell_job = ctx->opts.shell_job;
        inv.xfeatures = xcr0;
        inv.xsave_size = xsize;
        inv.created_unix = time(NULL);
        inv.page_size = 4096;
        inv.leave_running = ctx->opts.leave_running;
        inv.ntasks = ctx->ntasks;
        inv.pages_total = ctx->pages_total;
        inv.hostname = host;
        /* the inventory is written last: a directory without it is no checkpoint */
        return img_write_msg(ctx->dirfd, "inventory.img", IMG_INVENTORY, ctx->ckpt_id, &inv.base);
}

static void resume_all(struct dump_ctx *ctx) {
        for (size_t i = 0; i < ctx->ntasks; i++) {
                struct dump_task *t = &ctx->tasks[i];
                for (size_t k = 0; k < t->nth; k++) {
                        struct dump_thread *th = &t->th[k];
                        if (!th->seized)
                                continue;
                        if (th->prepared && infect_finish(&th->inf) < 0)
                                log_warn("thread %d: could not put it back cleanly", th->tid);
                        infect_detach(th->tid);
                        th->seized = false;
                }
                if (!t->seized)
                        continue;
                if (t->prepared) {
                        int r = infect_scratch_unmap(&t->inf);
                        if (r >= 0)
                                r = infect_finish(&t->inf);
                        if (r < 0)
                                log_warn("pid %d: could not put the task back cleanly: %d", t->pid, r);
                }
                if (t->stopped)
                        kill(t->pid, SIGSTOP); /* back into its job-control stop, before it can run */
                if (infect_detach(t->pid) < 0)
                        log_warn("pid %d: cannot detach: %m", t->pid);
                t->seized = false;
        }
}

/* Kill the tree and return once it has exited: a dump that returned means
 * the tree no longer runs nor holds its ports, locks and memory (exiting a
 * large address space takes a while). */
static void kill_all(struct dump_ctx *ctx) {
        _cleanup_free_ struct pollfd *pfds = xzalloc((ctx->ntasks + 1) * sizeof(*pfds));
        size_t npfds = 0;
        for (size_t i = 0; i < ctx->ntasks; i++) {
                struct dump_task *t = &ctx->tasks[i];
                if (!t->seized)
                        continue;
                int pfd = (int)syscall(__NR_pidfd_open, t->pid, 0);
                if (pfd >= 0)
                        pfds[npfds++] = (struct pollfd){ .fd = pfd, .events = POLLIN };
                kill(t->pid, SIGKILL);
        }
        /* We are their tracer: a traced thread that dies stays a zombie until
         * its tracer waits for it (and its thread group cannot finish before
         * that), so collect every thread's death here. The leader's death
         * goes on to its real parent. */
        for (size_t i = 0; i < ctx->ntasks; i++) {
                struct dump_task *t = &ctx->tasks[i];
                for (size_t k = 0; k < t->nth; k++)
                        if (t->th[k].seized) {
                                while (waitpid(t->th[k].tid, NULL, __WALL) < 0 && errno == EINTR)
                                        ;
                                t->th[k].seized = false;
                        }
                if (t->seized) {
                        while (waitpid(t->pid, NULL, __WALL) < 0 && errno == EINTR)
                                ;
                        t->seized = false;
                }
        }
        /* a pidfd polls readable once its process has exited */
        struct timespec t0, now;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (size_t left = npfds; left;) {
                clock_gettime(CLOCK_MONOTONIC, &now);
                long ms = 10000 - ((now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000);
                if (ms <= 0) {
                        log_warn("the killed tree has not exited after 10 s");
                        break;
                }
                int n = poll(pfds, npfds, (int)ms);
                if (n < 0 && errno != EINTR)
                        break;
                for (size_t i = 0; n > 0 && i < npfds; i++)
                        if (pfds[i].fd >= 0 && pfds[i].revents) {
                                close(pfds[i].fd);
                                pfds[i].fd = -1; /* poll ignores it from now on */
                                left--;
                        }
        }
        for (size_t i = 0; i < npfds; i++)
                if (pfds[i].fd >= 0)
                        close(pfds[i].fd);
}

static void dump_ctx_done(struct dump_ctx *ctx) {
        for (size_t i = 0; i < ctx->ntasks; i++) {
                struct dump_task *t = &ctx->tasks[i];
                if (t->core)
                        task_core__free_unpacked(t->core, NULL);
                if (t->mm)
                        mm_entry__free_unpacked(t->mm, NULL);
                if (t->pagemap)
                        pagemap__free_unpacked(t->pagemap, NULL);
                if (t->fdt)
                        fdtable__free_unpacked(t->fdt, NULL);
                free(t->th);
        }
        for (size_t i = 0; i < ctx->pstree.n_helpers; i++)
                pstree_helper__free_unpacked(ctx->pstree.helpers[i], NULL);
        free(ctx->pstree.helpers);
        for (size_t i = 0; i < ctx->nfiles; i++)
                file_entry__free_unpacked(ctx->files[i], NULL);
        for (size_t i = 0; i < ctx->npipe_data; i++)
                pipe_data_entry__free_unpacked(ctx->pipe_data[i], NULL);
        free(ctx->files);
        free(ctx->pipe_data);
        free(ctx->keys);
        free(ctx->kidx);
        free(ctx->tasks);
        safe_close(ctx->dirfd);
}

static int open_dir(const char *dir, int *ret) {
        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                return log_error_errno(-errno, "cannot create the images directory '%s': %m", dir);
        int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return log_error_errno(-errno, "cannot open the images directory '%s': %m", dir);
        /* probe writability now, before the tree is frozen */
        int p = openat(fd, ".cryo-probe", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (p < 0) {
                int r = log_error_errno(-errno, "cannot write to the images directory '%s': %m", dir);
                close(fd);
                return r;
        }
        close(p);
        unlinkat(fd, ".cryo-probe", 0);
        unlinkat(fd, "inventory.img", 0); /* an old checkpoint here is no longer valid */
        *ret = fd;
        return 0;
}

int cryo_dump(const struct dump_opts *opts) {
        struct dump_ctx ctx = { .opts = *opts, .dirfd = -EBADF, .pstree = PSTREE__INIT };
        int r;

        if (opts->pid == getpid() || opts->pid == 1)
                return log_error_errno(-EINVAL, "cannot checkpoint pid %d (cryo itself or init)", opts->pid);
        if (kill(opts->pid, 0) < 0 && errno == ESRCH)
                return log_error_errno(-ESRCH, "no process with pid %d", opts->pid);
        /* never freeze an ancestor of cryo: it would wait on us */
        for (pid_t p = getppid(); p > 1;) {
                struct proc_stat ps;
                if (p == opts->pid)
                        return log_error_errno(-EINVAL, "pid %d is an ancestor of cryo itself", opts->pid);
                if (proc_read_stat(p, 0, &ps) < 0)
                        break;
                p = ps.ppid;
        }
        r = open_dir(opts->dir, &ctx.dirfd);
        if (r < 0)
                return r;
        if (getrandom(&ctx.ckpt_id, sizeof(ctx.ckpt_id), 0) != sizeof(ctx.ckpt_id))
                ctx.ckpt_id = ((uint64_t)time(NULL) << 20) ^ getpid();

        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        r = seize_tree(&ctx, opts->pid, 0);
        if (r < 0)
                goto fail;
        log_info("froze %zu task(s)", ctx.ntasks);
        for (size_t i = 0; i < ctx.ntasks; i++) {
                r = check_task(&ctx, &ctx.tasks[i]);
                if (r < 0)
                        goto fail;
        }
        r = check_locks(&ctx);
        if (r < 0)
                goto fail;
        r = check_sessions(&ctx, &ctx.pstree);
        if (r < 0)
                goto fail;
        r = check_sharing(&ctx);
        if (r < 0)
                goto fail;
        for (size_t i = 0; i < ctx.ntasks; i++) {
                if (ctx.tasks[i].zombie)
                        continue;
                r = dump_task_state(&ctx, &ctx.tasks[i]);
                if (r < 0)
                        goto fail;
        }
        r = files_dump_finish(&ctx);
        if (r < 0)
                goto fail;
        r = ipc_dump(&ctx);
        if (r < 0)
                goto fail;
        /* everything is collected: a tree that goes on running need not wait
         * for the metadata to be written (a failure still fails the dump) */
        if (opts->leave_running)
                resume_all(&ctx);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        r = write_images(&ctx);
        if (r < 0)
                goto fail;
        if (!opts->leave_running) {
                kill_all(&ctx);
                clock_gettime(CLOCK_MONOTONIC, &t1);
        }
        log_info("dumped %zu task(s), %llu pages; frozen for %.3f s", ctx.ntasks, (unsigned long long)ctx.pages_total,
                 (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
        dump_ctx_done(&ctx);
        return 0;
fail:
        resume_all(&ctx);
        unlinkat(ctx.dirfd, "inventory.img", 0);
        dump_ctx_done(&ctx);
        return r;
}
