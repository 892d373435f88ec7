#define LOG_PREFIX "infect: "
#include "infect/infect.h"

#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sched.h>
#include <sys/wait.h>
#include <time.h>

#include "basic/kcompat.h"
#include "basic/log.h"
#include "basic/proc.h"
#include "basic/util.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

int infect_wait(pid_t tid, int *ret_status) {
        int st;
        for (;;) {
                pid_t p = waitpid(tid, &st, __WALL);
                if (p < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                break;
        }
        *ret_status = st;
        if (WIFEXITED(st) || WIFSIGNALED(st))
                return -ESRCH;
        return 0;
}

/* waitpid() for tid with a deadline (timeout_ms < 0: none): polls, with
 * short sleeps growing to 5 ms, once the stop did not come at once */
static int wait_deadline(pid_t tid, int *ret_status, int timeout_ms) {
        struct timespec t0, now;
        long nap_ns = 20000;
        if (timeout_ms < 0)
                return infect_wait(tid, ret_status);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (;;) {
                int st;
                pid_t p = waitpid(tid, &st, __WALL | WNOHANG);
                if (p < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (p == tid) {
                        *ret_status = st;
                        return WIFEXITED(st) || WIFSIGNALED(st) ? -ESRCH : 0;
                }
                clock_gettime(CLOCK_MONOTONIC, &now);
                if ((now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000 >= timeout_ms)
                        return -ETIMEDOUT;
                struct timespec nap = { 0, nap_ns };
                nanosleep(&nap, NULL);
                nap_ns = MIN(nap_ns * 2, 5000000L);
        }
}

int infect_seize(pid_t tid, bool exitkill) {
        return infect_seize_timeout(tid, exitkill, -1);
}

int infect_seize_timeout(pid_t tid, bool exitkill, int timeout_ms) {
        int st, r;
        long opts = PTRACE_O_TRACESYSGOOD | (exitkill ? PTRACE_O_EXITKILL : 0);
        if (ptrace(PTRACE_SEIZE, tid, NULL, (void *)opts) < 0)
                return -errno;
        if (ptrace(PTRACE_INTERRUPT, tid, NULL, NULL) < 0) {
                r = -errno;
                ptrace(PTRACE_DETACH, tid, NULL, NULL);
                return r;
        }
        for (;;) {
                r = wait_deadline(tid, &st, timeout_ms);
                if (r < 0)
                        return r;
                if (WIFSTOPPED(st) && (st >> 16) == PTRACE_EVENT_STOP)
                        return 0;
                if (WIFSTOPPED(st)) {
                        /* A signal-delivery-stop came first: re-inject the signal
                         * and wait for our interrupt's stop. */
                        int sig = WSTOPSIG(st);
                        if (ptrace(PTRACE_CONT, tid, NULL, (void *)(long)sig) < 0)
                                return -errno;
                        continue;
                }
        }
}

int infect_detach(pid_t tid) {
        if (ptrace(PTRACE_DETACH, tid, NULL, NULL) < 0)
                return -errno;
        return 0;
}

int infect_read_mem(pid_t pid, uint64_t addr, void *buf, size_t len) {
        struct iovec l = { buf, len }, rm = { (void *)addr, len };
        ssize_t n = process_vm_readv(pid, &l, 1, &rm, 1, 0);
        if (n < 0)
                return -errno;
        if ((size_t)n != len)
                return -EFAULT;
        return 0;
}

int infect_write_mem(pid_t pid, uint64_t addr, const void *buf, size_t len) {
        struct iovec l = { (void *)buf, len }, rm = { (void *)addr, len };
        ssize_t n = process_vm_writev(pid, &l, 1, &rm, 1, 0);
        if (n >= 0 && (size_t)n == len)
                return 0;
        /* read-only pages: /proc/PID/mem writes with FOLL_FORCE */
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/mem", pid);
        _cleanup_close_ int fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        return pwrite_all(fd, buf, len, addr);
}

int infect_find_syscall_ip(pid_t pid, uint64_t *ret) {
        struct proc_vmas vmas = { 0 };
        char path[64];
        int r, pass;

        r = proc_read_smaps(pid, &vmas);
        if (r < 0)
                return r;
        snprintf(path, sizeof(path), "/proc/%d/mem", pid);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                proc_vmas_done(&vmas);
                return -errno;
        }
        for (pass = 0; pass < 2; pass++)
                for (size_t i = 0; i < vmas.n; i++) {
                        struct proc_vma *v = &vmas.v[i];
                        bool vdso = v->name && strcmp(v->name, "[vdso]") == 0;
                        if (!(v->prot & PROT_EXEC) || (pass == 0) != vdso ||
                            (v->name && strcmp(v->name, "[vsyscall]") == 0))
                                continue;
                        size_t len = MIN(v->end - v->start, (uint64_t)1 << 20);
                        _cleanup_free_ uint8_t *buf = xzalloc(len);
                        ssize_t n = pread(fd, buf, len, v->start);
                        for (ssize_t k = 0; k + 1 < n; k++)
                                if (arch_is_syscall_insn(buf + k)) {
                                        *ret = v->start + k;
                                        proc_vmas_done(&vmas);
                                        return 0;
                                }
                }
        proc_vmas_done(&vmas);
        return -ENOENT;
}

int infect_prepare_ip(struct infect_task *t, pid_t tid, uint64_t syscall_ip) {
        uint64_t all = ~0ULL;
        int r;

        *t = (struct infect_task){ .tid = tid, .parked = true };
        r = arch_get_regs(tid, &t->regs);
        if (r < 0)
                return log_error_errno(r, "pid %d: cannot read registers: %m", tid);
        if (syscall_ip)
                t->syscall_ip = syscall_ip;
        else {
                r = infect_find_syscall_ip(tid, &t->syscall_ip);
                if (r < 0)
                        return log_error_errno(r, "pid %d: no syscall instruction found to drive the task", tid);
        }
        if (ptrace(PTRACE_GETSIGMASK, tid, (void *)sizeof(uint64_t), &t->orig_sigmask) < 0)
                return log_error_errno(-errno, "pid %d: cannot read signal mask: %m", tid);
        if (ptrace(PTRACE_SETSIGMASK, tid, (void *)sizeof(uint64_t), &all) < 0)
                return log_error_errno(-errno, "pid %d: cannot block signals: %m", tid);
        t->sigmask_blocked = true;
        return 0;
}

int infect_prepare(struct infect_task *t, pid_t tid) {
        return infect_prepare_ip(t, tid, 0);
}

int infect_own_syscall_ip(uint64_t *ret) {
        return infect_find_syscall_ip(getpid(), ret);
}

/* Resume with PTRACE_SYSCALL and wait for a syscall stop. */
static int step_to_syscall_stop(pid_t tid) {
        int st, r;
        if (ptrace(PTRACE_SYSCALL, tid, NULL, NULL) < 0)
                return -errno;
        for (;;) {
                r = infect_wait(tid, &st);
                if (r < 0)
                        return r;
                if (WIFSTOPPED(st) && WSTOPSIG(st) == (SIGTRAP | 0x80))
                        return 0;
                if (WIFSTOPPED(st) && (st >> 16) == PTRACE_EVENT_STOP) {
                        /* a group-stop or stray interrupt: keep going */
                        if (ptrace(PTRACE_SYSCALL, tid, NULL, NULL) < 0)
                                return -errno;
                        continue;
                }
                if (WIFSTOPPED(st)) {
                        /* Signals are blocked; only SIGKILL/SIGSTOP or a fault of
                         * our own making (e.g. SIGSEGV from a bad syscall_ip) get here. */
                        return log_error_errno(-EFAULT, "pid %d: unexpected signal %d while driving the task", tid,
                                               WSTOPSIG(st));
                }
        }
}

int infect_syscall(struct infect_task *t, long nr, int64_t *ret, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3,
                   uint64_t a4, uint64_t a5) {
        arch_regs_t regs = t->regs;
        const uint64_t args[6] = { a0, a1, a2, a3, a4, a5 };
        int r;

        arch_regs_for_syscall(&regs, t->syscall_ip, nr, args);
        r = arch_set_regs(t->tid, &regs);
        if (r < 0)
                return log_error_errno(r, "pid %d: cannot set registers: %m", t->tid);
        t->parked = false;
        r = step_to_syscall_stop(t->tid); /* entry */
        if (r < 0)
                return r;
        r = step_to_syscall_stop(t->tid); /* exit */
        if (r < 0)
                return r;
        r = arch_get_regs(t->tid, &regs);
        if (r < 0)
                return r;
        *ret = arch_syscall_result(&regs);
        log_debug("pid %d: syscall %ld = %lld", t->tid, nr, (long long)*ret);
        return 0;
}

int infect_syscall_n(struct infect_task *t, long nr, int64_t *ret, int n, ...) {
        uint64_t a[6] = { 0 };
        va_list ap;
        va_start(ap, n);
        for (int i = 0; i < n && i < 6; i++)
                a[i] = va_arg(ap, uint64_t);
        va_end(ap);
        return infect_syscall(t, nr, ret, a[0], a[1], a[2], a[3], a[4], a[5]);
}

int64_t infect_call(struct infect_task *t, long nr, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4,
                    uint64_t a5) {
        int64_t ret;
        int r = infect_syscall(t, nr, &ret, a0, a1, a2, a3, a4, a5);
        if (r < 0)
                return r;
        if (ret < 0 && ret > -4096)
                return ret;
        return ret;
}

/* The batch runner: r12 = table {count, done, recs[]}; runs each record's
 * syscall, stores its result, sets done and spins until cryo stops it. It
 * uses no stack and only relative jumps, so it runs wherever it is copied.
 * When done it sleeps in pause() (signals are blocked) until cryo stops it. */
extern const uint8_t cryo_batch_start[], cryo_batch_end[];
__asm__(".pushsection .rodata\n"
        ".globl cryo_batch_start\n"
        "cryo_batch_start:\n"
        "  mov %rdi, %r12\n"
        "  mov (%r12), %r13\n"
        "  lea 16(%r12), %r14\n"
        "1:\n"
        "  test %r13, %r13\n"
        "  jz 2f\n"
        "  mov (%r14), %rax\n"
        "  mov 8(%r14), %rdi\n"
        "  mov 16(%r14), %rsi\n"
        "  mov 24(%r14), %rdx\n"
        "  mov 32(%r14), %r10\n"
        "  mov 40(%r14), %r8\n"
        "  mov 48(%r14), %r9\n"
        "  syscall\n"
        "  mov %rax, 56(%r14)\n"
        "  add $64, %r14\n"
        "  dec %r13\n"
        "  jmp 1b\n"
        "2:\n"
        "  movq $1, 8(%r12)\n"
        "3:\n"
        "  mov $34, %eax\n" /* pause(): sleep, leave the CPU to cryo, until it stops us */
        "  syscall\n"
        "  jmp 3b\n"
        ".globl cryo_batch_end\n"
        "cryo_batch_end:\n"
        ".popsection\n");

#define BATCH_CODE_OFF(size) ((size)-4096)

int infect_scratch_map(struct infect_task *t, size_t size, uint64_t hint) {
        /* executable too, for the batch runner; W^X policies refuse that: then without */
        int64_t a = infect_call(t, __NR_mmap, hint, size, PROT_READ | PROT_WRITE | PROT_EXEC,
                                MAP_PRIVATE | MAP_ANONYMOUS | (hint ? MAP_FIXED_NOREPLACE : 0), (uint64_t)-1, 0);
        bool exec = !(a < 0 && a > -4096);
        if (!exec)
                a = infect_call(t, __NR_mmap, hint, size, PROT_READ | PROT_WRITE,
                                MAP_PRIVATE | MAP_ANONYMOUS | (hint ? MAP_FIXED_NOREPLACE : 0), (uint64_t)-1, 0);
        if (a < 0 && a > -4096)
                return log_error_errno((int)a, "pid %d: cannot map scratch memory: %m", t->tid);
        if (hint && (uint64_t)a != hint)
                return log_error_errno(-EEXIST, "pid %d: scratch memory landed at %llx, not %llx", t->tid,
                                       (unsigned long long)a, (unsigned long long)hint);
        t->scratch = a;
        t->scratch_size = size;
        t->batch_code = 0;
        if (exec && size >= 64 * 1024) {
                size_t len = cryo_batch_end - cryo_batch_start;
                if (infect_write_mem(t->tid, a + BATCH_CODE_OFF(size), cryo_batch_start, len) == 0)
                        t->batch_code = a + BATCH_CODE_OFF(size);
        }
        return 0;
}

/* Wait for the PTRACE_EVENT_STOP an interrupt asked for (signals are blocked,
 * so any other stop is unexpected). */
static int wait_event_stop(struct infect_task *t, const char *when) {
        int st, r;
        for (;;) {
                r = infect_wait(t->tid, &st);
                if (r < 0)
                        return r;
                if (WIFSTOPPED(st) && (st >> 16) == PTRACE_EVENT_STOP)
                        return 0;
                if (WIFSTOPPED(st))
                        return log_error_errno(-EFAULT, "pid %d: unexpected stop %#x %s", t->tid, st, when);
        }
}

static int run_batch(struct infect_task *t, struct infect_rec *recs, size_t n) {
        /* the table sits just below the code page (threads share the leader's scratch) */
        uint64_t table = t->batch_code - 16 - INFECT_BATCH_MAX * sizeof(struct infect_rec);
        uint64_t hdr[2] = { n, 0 };
        arch_regs_t regs = t->regs;
        const uint64_t args[6] = { table, 0, 0, 0, 0, 0 };
        int r;

        r = infect_write_mem(t->tid, table, hdr, sizeof(hdr));
        if (r >= 0)
                r = infect_write_mem(t->tid, table + 16, recs, n * sizeof(*recs));
        if (r < 0)
                return r;
        arch_regs_for_syscall(&regs, t->batch_code, 0, args);
        r = arch_set_regs(t->tid, &regs);
        if (r < 0)
                return r;
        if (ptrace(PTRACE_CONT, t->tid, NULL, NULL) < 0)
                return -errno;
        t->parked = false;
        /* wait for the done flag (the calls are short and never block) */
        struct timespec start, now;
        clock_gettime(CLOCK_MONOTONIC, &start);
        for (unsigned spin = 0;; spin++) {
                uint64_t done = 0;
                r = infect_read_mem(t->tid, table + 8, &done, sizeof(done));
                if (r < 0)
                        return r;
                if (done)
                        break;
                if (spin > 200) {
                        struct timespec ts = { 0, 50 * 1000 };
                        nanosleep(&ts, NULL);
                }
                clock_gettime(CLOCK_MONOTONIC, &now);
                if (now.tv_sec - start.tv_sec > 10)
                        return log_error_errno(-ETIMEDOUT, "pid %d: batch of %zu syscalls did not finish", t->tid, n);
        }
        if (ptrace(PTRACE_INTERRUPT, t->tid, NULL, NULL) < 0)
                return -errno;
        r = wait_event_stop(t, "after a batch");
        if (r < 0)
                return r;
        t->parked = true;
        r = infect_read_mem(t->tid, table + 16, recs, n * sizeof(*recs));
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++)
                log_debug("pid %d: batched syscall %llu = %lld", t->tid, (unsigned long long)recs[i].nr,
                          (long long)recs[i].ret);
        return 0;
}

int infect_batch(struct infect_task *t, struct infect_rec *recs, size_t n) {
        int r;
        if (!t->batch_code || !t->scratch) {
                for (size_t i = 0; i < n; i++) {
                        r = infect_syscall(t, recs[i].nr, &recs[i].ret, recs[i].a[0], recs[i].a[1], recs[i].a[2],
                                           recs[i].a[3], recs[i].a[4], recs[i].a[5]);
                        if (r < 0)
                                return r;
                }
                return 0;
        }
        for (size_t off = 0; off < n; off += INFECT_BATCH_MAX) {
                r = run_batch(t, recs + off, MIN(n - off, (size_t)INFECT_BATCH_MAX));
                if (r < 0)
                        return r;
        }
        return 0;
}

int infect_scratch_unmap(struct infect_task *t) {
        if (!t->scratch)
                return 0;
        t->batch_code = 0;
        int64_t r = infect_call(t, __NR_munmap, t->scratch, t->scratch_size, 0, 0, 0, 0);
        if (r < 0)
                return log_error_errno((int)r, "pid %d: cannot unmap scratch memory: %m", t->tid);
        t->scratch = 0;
        return 0;
}

int infect_park(struct infect_task *t) {
        int r;
        if (t->parked)
                return 0;
        if (ptrace(PTRACE_INTERRUPT, t->tid, NULL, NULL) < 0)
                return -errno;
        if (ptrace(PTRACE_CONT, t->tid, NULL, NULL) < 0)
                return -errno;
        r = wait_event_stop(t, "while parking");
        if (r < 0)
                return r;
        t->parked = true;
        return 0;
}

int infect_finish(struct infect_task *t) {
        int r = infect_park(t);
        if (r < 0)
                return r;
        r = arch_set_regs(t->tid, &t->regs);
        if (r < 0)
                return log_error_errno(r, "pid %d: cannot restore registers: %m", t->tid);
        if (t->sigmask_blocked) {
                if (ptrace(PTRACE_SETSIGMASK, t->tid, (void *)sizeof(uint64_t), &t->orig_sigmask) < 0)
                        return log_error_errno(-errno, "pid %d: cannot restore signal mask: %m", t->tid);
                t->sigmask_blocked = false;
        }
        return 0;
}
