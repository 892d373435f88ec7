/* Kernel feature probes. Each probe performs the operation cryo depends on,
 * for real: ptrace requests on a child forked for the purpose, clone3 with
 * set_tid on a pid just freed, a no-op PR_SET_MM_MAP inside a child, a
 * userfaultfd write-protect + PAGEMAP_SCAN round on a scratch mapping...
 * Children die with their parent (PR_SET_PDEATHSIG, PTRACE_O_EXITKILL) and
 * are always killed and reaped before a probe returns. Probes print nothing:
 * the result says what was found and what a missing feature costs. */
#define LOG_PREFIX "kerndat: "
#include "core/kerndat.h"

#include <elf.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <linux/userfaultfd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>

#include "arch/x86_64/arch.h"
#include "basic/kcompat.h"
#include "basic/log.h"
#include "basic/proc.h"
#include "basic/util.h"

#define CAP_SYS_PTRACE_BIT 19
#define CAP_SYS_RESOURCE_BIT 24

static void __attribute__((format(printf, 3, 4))) set(struct kerndat_result *r, bool ok, const char *fmt, ...) {
        va_list ap;
        r->ok = ok;
        va_start(ap, fmt);
        vsnprintf(r->detail, sizeof(r->detail), fmt, ap);
        va_end(ap);
}

/* "EPERM (Operation not permitted)" for a negative errno */
static const char *err_str(int r, char *buf, size_t len) {
        const char *name = strerrorname_np(-r);
        snprintf(buf, len, "%s (%s)", name ? name : "?", strerror(-r));
        return buf;
}
#define ERR(r) err_str((r), (char[96]){ 0 }, 96)

/* --- probe children ---------------------------------------------------- */

/* What a child reports back once it is set up: fn's result and a message. */
struct child_report {
        int r;
        char msg[200];
};

typedef int (*child_fn)(void *arg, char *msg, size_t len);

/* Fork a child that runs fn, reports, and then sleeps until killed. The
 * child dies with cryo. ret_report may be NULL. */
static int child_start(child_fn fn, void *arg, pid_t *ret_pid, struct child_report *ret_report) {
        struct child_report rep = { 0 };
        int p[2];
        pid_t parent = getpid(), pid;

        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        pid = fork();
        if (pid < 0) {
                int r = -errno;
                close(p[0]);
                close(p[1]);
                return r;
        }
        if (pid == 0) {
                close(p[0]);
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (getppid() != parent)
                        _exit(1);
                if (fn)
                        rep.r = fn(arg, rep.msg, sizeof(rep.msg));
                if (write(p[1], &rep, sizeof(rep)) != sizeof(rep))
                        _exit(1);
                close(p[1]);
                for (;;)
                        pause();
        }
        close(p[1]);
        ssize_t n;
        do
                n = read(p[0], &rep, sizeof(rep));
        while (n < 0 && errno == EINTR);
        close(p[0]);
        if (n != sizeof(rep)) {
                kill(pid, SIGKILL);
                waitpid(pid, NULL, __WALL);
                return -ECHILD;
        }
        *ret_pid = pid;
        if (ret_report)
                *ret_report = rep;
        return 0;
}

/* Kill and reap (works whether or not we trace it). */
static void child_stop(pid_t pid) {
        int st;
        if (pid <= 0)
                return;
        kill(pid, SIGKILL);
        for (;;) {
                pid_t w = waitpid(pid, &st, __WALL);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w < 0 || WIFEXITED(st) || WIFSIGNALED(st))
                        break;
        }
}

/* PTRACE_SEIZE + PTRACE_INTERRUPT, wait for the PTRACE_EVENT_STOP. */
static int seize_stop(pid_t pid) {
        int st;
        if (ptrace(PTRACE_SEIZE, pid, NULL, (void *)(long)PTRACE_O_EXITKILL) < 0)
                return -errno;
        if (ptrace(PTRACE_INTERRUPT, pid, NULL, NULL) < 0)
                return -errno;
        for (;;) {
                pid_t w = waitpid(pid, &st, __WALL);
                if (w < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (!WIFSTOPPED(st))
                        return -ESRCH;
                if ((st >> 16) == PTRACE_EVENT_STOP)
                        return 0;
                /* a signal-delivery-stop first: pass the signal on */
                if (ptrace(PTRACE_CONT, pid, NULL, (void *)(long)WSTOPSIG(st)) < 0)
                        return -errno;
        }
}

/* A stopped, seized child for the ptrace probes; fn may prepare it. */
static int seized_child(struct kerndat_result *r, child_fn fn, void *arg, pid_t *ret_pid) {
        pid_t pid;
        int k = child_start(fn, arg, &pid, NULL);
        if (k < 0) {
                set(r, false, "cannot fork a probe child: %s", ERR(k));
                return k;
        }
        k = seize_stop(pid);
        if (k < 0) {
                set(r, false, "PTRACE_SEIZE/PTRACE_INTERRUPT on a child failed: %s", ERR(k));
                child_stop(pid);
                return k;
        }
        *ret_pid = pid;
        return 0;
}

static bool have_cap(int bit, uint64_t *ret_eff) {
        struct proc_status st = { 0 };
        bool ok = false;
        if (proc_read_status(getpid(), getpid(), &st) >= 0) {
                ok = st.cap_eff & (1ULL << bit);
                if (ret_eff)
                        *ret_eff = st.cap_eff;
        }
        proc_status_done(&st);
        return ok;
}

/* --- ptrace ------------------------------------------------------------- */

static void probe_ptrace_seize(struct kerndat_result *r) {
        pid_t pid;
        int st;
        int k = child_start(NULL, NULL, &pid, NULL);
        if (k < 0)
                return set(r, false, "cannot fork a probe child: %s", ERR(k));
        if (ptrace(PTRACE_SEIZE, pid, NULL, (void *)(long)(PTRACE_O_EXITKILL | PTRACE_O_TRACESYSGOOD)) < 0) {
                set(r, false, "PTRACE_SEIZE failed: %s", ERR(-errno));
                goto out;
        }
        if (ptrace(PTRACE_INTERRUPT, pid, NULL, NULL) < 0) {
                set(r, false, "PTRACE_INTERRUPT failed: %s", ERR(-errno));
                goto out;
        }
        while (waitpid(pid, &st, __WALL) < 0)
                if (errno != EINTR) {
                        set(r, false, "waitpid after PTRACE_INTERRUPT failed: %s", ERR(-errno));
                        goto out;
                }
        if (!WIFSTOPPED(st) || (st >> 16) != PTRACE_EVENT_STOP) {
                set(r, false, "PTRACE_INTERRUPT did not give a PTRACE_EVENT_STOP (wait status 0x%x)", st);
                goto out;
        }
        /* the stop must be listenable and resumable too */
        if (ptrace(PTRACE_CONT, pid, NULL, NULL) < 0) {
                set(r, false, "PTRACE_CONT from the event stop failed: %s", ERR(-errno));
                goto out;
        }
        set(r, true, "seized a child, PTRACE_INTERRUPT stopped it in PTRACE_EVENT_STOP, PTRACE_CONT resumed it");
out:
        child_stop(pid);
}

static void probe_ptrace_scope(struct kerndat_result *r) {
        _cleanup_free_ char *s = NULL;
        int scope, k;
        bool cap = have_cap(CAP_SYS_PTRACE_BIT, NULL);

        k = read_full_file("/proc/sys/kernel/yama/ptrace_scope", &s, NULL);
        if (k == -ENOENT)
                return set(r, true, "Yama is not enabled: no extra ptrace restrictions");
        if (k < 0)
                return set(r, false, "cannot read /proc/sys/kernel/yama/ptrace_scope: %s", ERR(k));
        s[strcspn(s, "\n")] = 0;
        if (parse_int(s, &scope) < 0)
                return set(r, false, "unexpected ptrace_scope value '%s'", s);
        r->value = scope;
        switch (scope) {
        case 0:
                return set(r, true, "ptrace_scope 0 (classic): any process of the same user can be traced");
        case 1:
        case 2:
                return set(r, cap, "ptrace_scope %d (%s): %s", scope, scope == 1 ? "restricted to descendants" : "admin only",
                           cap ? "cryo has CAP_SYS_PTRACE, so it may trace any process"
                               : "cryo lacks CAP_SYS_PTRACE and can trace only its own descendants");
        default:
                return set(r, false, "ptrace_scope %d: ptrace is disabled for everyone until reboot", scope);
        }
}

void kerndat_xfeatures_str(uint64_t x, char *buf, size_t len) {
        static const struct {
                uint64_t mask;
                const char *name;
        } f[] = {
                { 1ULL << 0, "x87" },
                { 1ULL << 1, "SSE" },
                { 1ULL << 2, "AVX" },
                { 3ULL << 3, "MPX" },
                { 7ULL << 5, "AVX-512" },
                { 1ULL << 8, "PT" },
                { 1ULL << 9, "PKRU" },
                { 1ULL << 10, "PASID" },
                { 1ULL << 11, "CET-U" },
                { 1ULL << 12, "CET-S" },
                { 1ULL << 14, "UINTR" },
                { 1ULL << 15, "LBR" },
                { 3ULL << 17, "AMX" },
                { 1ULL << 19, "APX" },
        };
        size_t o = 0;
        uint64_t seen = 0;

        buf[0] = 0;
        for (size_t i = 0; i < ARRAY_SIZE(f); i++) {
                if (!(x & f[i].mask))
                        continue;
                seen |= f[i].mask;
                o += snprintf(buf + o, o < len ? len - o : 0, "%s%s%s", o ? " " : "", f[i].name,
                              (x & f[i].mask) != f[i].mask ? "(partial)" : "");
        }
        for (int b = 0; b < 64; b++)
                if ((x & ~seen) & (1ULL << b))
                        o += snprintf(buf + o, o < len ? len - o : 0, "%sbit%d", o ? " " : "", b);
        if (len)
                buf[MIN(o, len - 1)] = 0;
}

static void probe_ptrace_xstate(struct kerndat_result *r) {
        _cleanup_free_ void *buf = NULL;
        size_t len = 0;
        uint64_t xcr0 = 0, sw = 0;
        uint32_t cpuid_size = 0;
        char names[128];
        pid_t pid;
        int k;

        if (arch_xfeatures(&xcr0, &cpuid_size) < 0)
                return set(r, false, "this CPU has no XSAVE (CPUID leaf 0xd)");
        if (seized_child(r, NULL, NULL, &pid) < 0)
                return;
        k = arch_get_xstate(pid, &buf, &len);
        if (k < 0) {
                set(r, false, "PTRACE_GETREGSET NT_X86_XSTATE failed: %s", ERR(k));
                goto out;
        }
        if (len < 576) {
                set(r, false, "PTRACE_GETREGSET NT_X86_XSTATE returned only %zu bytes", len);
                goto out;
        }
        k = arch_set_xstate(pid, buf, len);
        if (k < 0) {
                set(r, false, "PTRACE_GETREGSET works (%zu bytes) but PTRACE_SETREGSET NT_X86_XSTATE failed: %s", len,
                    ERR(k));
                goto out;
        }
        /* the kernel's record of the saved features: NT_X86_XSTATE puts XCR0
         * in the first sw_reserved word (struct user_xstateregs) */
        memcpy(&sw, (uint8_t *)buf + 464, sizeof(sw));
        kerndat_xfeatures_str(xcr0, names, sizeof(names));
        /* the features that matter most, named when absent too */
        char absent[64] = "";
        kerndat_xfeatures_str(~xcr0 & (0x7ULL | (7ULL << 5) | (1ULL << 9)), absent, sizeof(absent));
        r->value = len;
        set(r, true, "xsave %zu bytes (CPUID: %u), XCR0 0x%" PRIx64 ": %s%s%s%s", len, cpuid_size, xcr0, names,
            absent[0] ? "; absent: " : "", absent, sw != xcr0 ? "; the xsave image names another set" : "");
out:
        child_stop(pid);
}

static void probe_ptrace_sigmask(struct kerndat_result *r) {
        uint64_t m = 0, m2 = 0, want;
        pid_t pid;

        if (seized_child(r, NULL, NULL, &pid) < 0)
                return;
        if (ptrace(PTRACE_GETSIGMASK, pid, (void *)sizeof(m), &m) < 0) {
                set(r, false, "PTRACE_GETSIGMASK failed: %s", ERR(-errno));
                goto out;
        }
        want = m ^ (1ULL << (SIGUSR2 - 1)) ^ (1ULL << (SIGRTMIN + 1 - 1));
        if (ptrace(PTRACE_SETSIGMASK, pid, (void *)sizeof(want), &want) < 0) {
                set(r, false, "PTRACE_SETSIGMASK failed: %s", ERR(-errno));
                goto out;
        }
        if (ptrace(PTRACE_GETSIGMASK, pid, (void *)sizeof(m2), &m2) < 0 || m2 != want) {
                set(r, false, "PTRACE_SETSIGMASK did not take effect (wrote 0x%" PRIx64 ", read 0x%" PRIx64 ")", want,
                    m2);
                goto out;
        }
        set(r, true, "read mask 0x%" PRIx64 ", set and read back 0x%" PRIx64, m, m2);
out:
        child_stop(pid);
}

static int child_block_usr(void *arg, char *msg, size_t len) {
        sigset_t s;
        sigemptyset(&s);
        sigaddset(&s, SIGUSR1);
        sigaddset(&s, SIGUSR2);
        return sigprocmask(SIG_BLOCK, &s, NULL) < 0 ? -errno : 0;
}

static int peek_one(pid_t pid, uint32_t flags, siginfo_t *si) {
        struct __ptrace_peeksiginfo_args a = { .off = 0, .flags = flags, .nr = 1 };
        long n = ptrace(PTRACE_PEEKSIGINFO, pid, &a, si);
        if (n < 0)
                return -errno;
        return (int)n;
}

static void probe_ptrace_peeksiginfo(struct kerndat_result *r) {
        siginfo_t si1, si2;
        pid_t pid;
        int k;

        k = child_start(child_block_usr, NULL, &pid, NULL);
        if (k < 0)
                return set(r, false, "cannot fork a probe child: %s", ERR(k));
        /* one thread-private and one process-wide pending signal, both blocked */
        if (syscall(SYS_tgkill, pid, pid, SIGUSR1) < 0 || kill(pid, SIGUSR2) < 0) {
                set(r, false, "cannot queue signals to the probe child: %s", ERR(-errno));
                goto out;
        }
        k = seize_stop(pid);
        if (k < 0) {
                set(r, false, "PTRACE_SEIZE failed: %s", ERR(k));
                goto out;
        }
        k = peek_one(pid, 0, &si1);
        if (k < 0) {
                set(r, false, "PTRACE_PEEKSIGINFO failed: %s", ERR(k));
                goto out;
        }
        int k2 = peek_one(pid, PTRACE_PEEKSIGINFO_SHARED, &si2);
        if (k2 < 0) {
                set(r, false, "PTRACE_PEEKSIGINFO with PTRACE_PEEKSIGINFO_SHARED failed: %s", ERR(k2));
                goto out;
        }
        if (k != 1 || si1.si_signo != SIGUSR1 || k2 != 1 || si2.si_signo != SIGUSR2) {
                set(r, false, "PTRACE_PEEKSIGINFO returned the wrong signals (private: %d x sig %d, shared: %d x sig %d)",
                    k, k ? si1.si_signo : 0, k2, k2 ? si2.si_signo : 0);
                goto out;
        }
        set(r, true, "read a thread-private SIGUSR1 and a shared SIGUSR2 without dequeuing them");
out:
        child_stop(pid);
}

static void probe_ptrace_rseq(struct kerndat_result *r) {
        struct cryo_ptrace_rseq_configuration c = { 0 };
        pid_t pid;
        long n;

        if (seized_child(r, NULL, NULL, &pid) < 0)
                return;
        n = ptrace(PTRACE_GET_RSEQ_CONFIGURATION, pid, (void *)sizeof(c), &c);
        if (n < 0) {
                set(r, false, "PTRACE_GET_RSEQ_CONFIGURATION failed: %s", ERR(-errno));
                goto out;
        }
        r->value = c.rseq_abi_size;
        if (c.rseq_abi_pointer)
                set(r, true, "child's rseq area at 0x%" PRIx64 ", size %u, signature 0x%08x", c.rseq_abi_pointer,
                    c.rseq_abi_size, c.signature);
        else
                set(r, true, "the request works (this libc registered no rseq area)");
out:
        child_stop(pid);
}

/* --- memory and files of another process --------------------------------- */

static char probe_buf[64] = "written by cryo before fork";

static void probe_process_vm(struct kerndat_result *r) {
        const char pattern[] = "written by process_vm_writev";
        char back[sizeof(pattern)] = { 0 };
        pid_t pid;
        int k = child_start(NULL, NULL, &pid, NULL);
        if (k < 0)
                return set(r, false, "cannot fork a probe child: %s", ERR(k));
        struct iovec l = { (void *)pattern, sizeof(pattern) }, rm = { probe_buf, sizeof(pattern) };
        ssize_t n = process_vm_writev(pid, &l, 1, &rm, 1, 0);
        if (n != (ssize_t)sizeof(pattern)) {
                set(r, false, "process_vm_writev failed: %s", n < 0 ? ERR(-errno) : "short write");
                goto out;
        }
        l = (struct iovec){ back, sizeof(back) };
        n = process_vm_readv(pid, &l, 1, &rm, 1, 0);
        if (n != (ssize_t)sizeof(back)) {
                set(r, false, "process_vm_readv failed: %s", n < 0 ? ERR(-errno) : "short read");
                goto out;
        }
        if (memcmp(back, pattern, sizeof(pattern)) != 0 || memcmp(probe_buf, pattern, sizeof(pattern)) == 0) {
                set(r, false, "process_vm_readv/writev did not reach the child's memory");
                goto out;
        }
        set(r, true, "wrote %zu bytes into a child and read them back", sizeof(pattern));
out:
        child_stop(pid);
}

static int child_eventfd(void *arg, char *msg, size_t len) {
        int fd = eventfd(4242, 0);
        return fd < 0 ? -errno : fd;
}

static void probe_pidfd_getfd(struct kerndat_result *r) {
        _cleanup_close_ int pidfd = -EBADF, fd = -EBADF;
        struct child_report rep;
        uint64_t v = 0;
        pid_t pid;
        int k = child_start(child_eventfd, NULL, &pid, &rep);
        if (k < 0)
                return set(r, false, "cannot fork a probe child: %s", ERR(k));
        if (rep.r < 0) {
                set(r, false, "the probe child cannot create an eventfd: %s", ERR(rep.r));
                goto out;
        }
        pidfd = syscall(__NR_pidfd_open, pid, 0);
        if (pidfd < 0) {
                set(r, false, "pidfd_open failed: %s", ERR(-errno));
                goto out;
        }
        fd = syscall(__NR_pidfd_getfd, pidfd, rep.r, 0);
        if (fd < 0) {
                set(r, false, "pidfd_open works, pidfd_getfd failed: %s", ERR(-errno));
                goto out;
        }
        if (read(fd, &v, sizeof(v)) != sizeof(v) || v != 4242) {
                set(r, false, "pidfd_getfd returned a file that is not the child's eventfd");
                goto out;
        }
        set(r, true, "took a copy of the child's eventfd (fd %d) through a pidfd", rep.r);
out:
        child_stop(pid);
}

static void probe_kcmp(struct kerndat_result *r) {
        _cleanup_close_ int a = open("/dev/null", O_RDONLY | O_CLOEXEC);
        _cleanup_close_ int b = open("/dev/null", O_RDONLY | O_CLOEXEC);
        pid_t pid;
        long same, diff;

        if (a < 0 || b < 0)
                return set(r, false, "cannot open /dev/null: %s", ERR(-errno));
        /* the child inherits both: a in both processes is one open file
         * description, a and b are two */
        int k = child_start(NULL, NULL, &pid, NULL);
        if (k < 0)
                return set(r, false, "cannot fork a probe child: %s", ERR(k));
        same = syscall(__NR_kcmp, getpid(), pid, KCMP_FILE, a, a);
        if (same < 0) {
                set(r, false, "kcmp(KCMP_FILE) failed: %s", ERR(-errno));
                goto out;
        }
        diff = syscall(__NR_kcmp, getpid(), pid, KCMP_FILE, a, b);
        if (same != 0 || diff <= 0) {
                set(r, false, "kcmp(KCMP_FILE) gave wrong answers (same file: %ld, different files: %ld)", same, diff);
                goto out;
        }
        set(r, true, "KCMP_FILE tells a shared open file description from a second open() of the same file");
out:
        child_stop(pid);
}

static void probe_map_files(struct kerndat_result *r) {
        _cleanup_free_ char *maps = NULL;
        struct proc_vmas vmas = { 0 };
        _cleanup_close_ int fd = -EBADF;
        char path[128], link[4096];
        struct stat st;
        pid_t pid;
        int k = child_start(NULL, NULL, &pid, NULL);
        if (k < 0)
                return set(r, false, "cannot fork a probe child: %s", ERR(k));
        snprintf(path, sizeof(path), "/proc/%d/maps", pid);
        k = read_full_file(path, &maps, NULL);
        if (k >= 0)
                k = proc_parse_smaps(maps, &vmas);
        if (k < 0) {
                set(r, false, "cannot read %s: %s", path, ERR(k));
                goto out;
        }
        const struct proc_vma *v = NULL;
        for (size_t i = 0; i < vmas.n && !v; i++)
                if (vmas.v[i].name && vmas.v[i].name[0] == '/' && vmas.v[i].ino)
                        v = &vmas.v[i];
        if (!v) {
                set(r, false, "the probe child has no file mapping to look at");
                goto out;
        }
        snprintf(path, sizeof(path), "/proc/%d/map_files/%" PRIx64 "-%" PRIx64, pid, v->start, v->end);
        ssize_t n = readlink(path, link, sizeof(link) - 1);
        if (n < 0) {
                set(r, false, "readlink %s failed: %s", path, ERR(-errno));
                goto out;
        }
        link[n] = 0;
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                set(r, false, "readlink works but open %s failed: %s", path, ERR(-errno));
                goto out;
        }
        if (fstat(fd, &st) < 0 || st.st_ino != v->ino) {
                set(r, false, "%s opened another file than the mapping's", path);
                goto out;
        }
        set(r, true, "opened the child's mapping of %s through map_files", link);
out:
        proc_vmas_done(&vmas);
        child_stop(pid);
}

static int child_fork_grandchild(void *arg, char *msg, size_t len) {
        pid_t parent = getpid();
        pid_t g = fork();
        if (g < 0)
                return -errno;
        if (g == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (getppid() != parent)
                        _exit(0);
                for (;;)
                        pause();
        }
        return g;
}

static void probe_proc_children(struct kerndat_result *r) {
        _cleanup_free_ pid_t *kids = NULL;
        struct child_report rep;
        size_t n = 0;
        pid_t pid;
        int k = child_start(child_fork_grandchild, NULL, &pid, &rep);
        if (k < 0)
                return set(r, false, "cannot fork a probe child: %s", ERR(k));
        if (rep.r < 0) {
                set(r, false, "the probe child cannot fork: %s", ERR(rep.r));
                goto out;
        }
        k = proc_list_children(pid, pid, &kids, &n);
        if (k < 0) {
                set(r, false, "cannot read /proc/%d/task/%d/children: %s", pid, pid, ERR(k));
                goto out;
        }
        if (n != 1 || kids[0] != rep.r) {
                set(r, false, "/proc/%d/task/%d/children lists %zu pids, not the one grandchild %d", pid, pid, n, rep.r);
                goto out;
        }
        set(r, true, "/proc/PID/task/TID/children listed the probe child's child");
out:
        if (rep.r > 0)
                kill(rep.r, SIGKILL);
        child_stop(pid);
}

/* sock_diag: ask for one unix socket of a socketpair by inode, check its peer */
static void probe_sock_diag_unix(struct kerndat_result *r) {
        _cleanup_close_ int nl = -EBADF;
        int sp[2] = { -1, -1 };
        struct stat s0, s1;
        struct {
                struct nlmsghdr nlh;
                struct unix_diag_req req;
        } q = { 0 };
        union {
                char buf[8192];
                struct nlmsghdr align;
        } u;
        struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
        ssize_t n;

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
                return set(r, false, "socketpair: %s", ERR(-errno));
        if (fstat(sp[0], &s0) < 0 || fstat(sp[1], &s1) < 0) {
                set(r, false, "fstat on a socket: %s", ERR(-errno));
                goto out;
        }
        nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
        if (nl < 0) {
                set(r, false, "socket(AF_NETLINK, NETLINK_SOCK_DIAG): %s", ERR(-errno));
                goto out;
        }
        q.nlh.nlmsg_len = sizeof(q);
        q.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
        q.nlh.nlmsg_flags = NLM_F_REQUEST;
        q.nlh.nlmsg_seq = 1;
        q.req.sdiag_family = AF_UNIX;
        q.req.udiag_states = ~0u;
        q.req.udiag_ino = s0.st_ino;
        q.req.udiag_show = UDIAG_SHOW_PEER;
        q.req.udiag_cookie[0] = q.req.udiag_cookie[1] = ~0u; /* INET_DIAG_NOCOOKIE */
        if (sendto(nl, &q, sizeof(q), 0, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                set(r, false, "sending a unix_diag request: %s", ERR(-errno));
                goto out;
        }
        n = recv(nl, u.buf, sizeof(u.buf), 0);
        if (n < 0) {
                set(r, false, "receiving the unix_diag reply: %s", ERR(-errno));
                goto out;
        }
        struct nlmsghdr *h = &u.align;
        if (!NLMSG_OK(h, (size_t)n)) {
                set(r, false, "malformed netlink reply");
                goto out;
        }
        if (h->nlmsg_type == NLMSG_ERROR) {
                struct nlmsgerr *e = NLMSG_DATA(h);
                set(r, false, "unix_diag request refused: %s (no CONFIG_UNIX_DIAG?)", ERR(e->error ? e->error : -EIO));
                goto out;
        }
        struct unix_diag_msg *m = NLMSG_DATA(h);
        if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY || m->udiag_ino != s0.st_ino) {
                set(r, false, "unix_diag answered about another socket");
                goto out;
        }
        uint32_t peer = 0;
        int alen = h->nlmsg_len - NLMSG_LENGTH(sizeof(*m));
        for (struct rtattr *a = (struct rtattr *)(m + 1); RTA_OK(a, alen); a = RTA_NEXT(a, alen))
                if (a->rta_type == UNIX_DIAG_PEER && RTA_PAYLOAD(a) >= sizeof(uint32_t))
                        memcpy(&peer, RTA_DATA(a), sizeof(peer));
        if (peer != s1.st_ino) {
                set(r, false, "unix_diag did not report the peer (got inode %u, expected %lu)", peer,
                    (unsigned long)s1.st_ino);
                goto out;
        }
        set(r, true, "NETLINK_SOCK_DIAG found a unix socket by inode and named its peer");
out:
        safe_close(sp[0]);
        safe_close(sp[1]);
}

/* --- restore-side process creation ---------------------------------------- */

static void probe_clone3_set_tid(struct kerndat_result *r) {
        char ns[64] = "?";
        ssize_t l = readlink("/proc/self/ns/pid", ns, sizeof(ns) - 1);
        if (l > 0)
                ns[l] = 0;
        for (int attempt = 0; attempt < 8; attempt++) {
                /* a pid that is free right now: one we just used and reaped */
                pid_t want = fork();
                if (want < 0)
                        return set(r, false, "fork: %s", ERR(-errno));
                if (want == 0)
                        _exit(0);
                while (waitpid(want, NULL, 0) < 0 && errno == EINTR)
                        ;
                struct cryo_clone_args a = { .exit_signal = SIGCHLD, .set_tid = (uint64_t)(uintptr_t)&want,
                                             .set_tid_size = 1 };
                long got = syscall(__NR_clone3, &a, sizeof(a));
                if (got == 0)
                        _exit(0);
                if (got < 0) {
                        if (errno == EEXIST)
                                continue; /* someone took it meanwhile */
                        return set(r, false, "clone3 with set_tid %d failed: %s", want, ERR(-errno));
                }
                while (waitpid(got, NULL, 0) < 0 && errno == EINTR)
                        ;
                if (got != want)
                        return set(r, false, "clone3 asked for pid %d and created pid %ld", want, got);
                r->value = want;
                return set(r, true, "asked for the free pid %d in %s and got it", want, ns);
        }
        set(r, false, "clone3 set_tid: every attempted pid was taken meanwhile (EEXIST)");
}

static int child_mm_map(void *arg, char *msg, size_t len) {
        _cleanup_free_ char *auxv = NULL;
        struct cryo_prctl_mm_map m = { 0 };
        struct proc_stat st;
        size_t auxv_len = 0;
        int k;

        k = proc_read_stat(getpid(), getpid(), &st);
        if (k < 0) {
                snprintf(msg, len, "cannot read /proc/self/stat");
                return k;
        }
        k = read_full_file("/proc/self/auxv", &auxv, &auxv_len);
        if (k < 0) {
                snprintf(msg, len, "cannot read /proc/self/auxv");
                return k;
        }
        m.start_code = st.start_code;
        m.end_code = st.end_code;
        m.start_data = st.start_data;
        m.end_data = st.end_data;
        m.start_brk = st.start_brk;
        m.brk = (uint64_t)syscall(SYS_brk, 0);
        m.start_stack = st.start_stack;
        m.arg_start = st.arg_start;
        m.arg_end = st.arg_end;
        m.env_start = st.env_start;
        m.env_end = st.env_end;
        m.auxv = (uint64_t)(uintptr_t)auxv;
        m.auxv_size = auxv_len;
        m.exe_fd = (uint32_t)-1; /* keep /proc/PID/exe */
        if (prctl(PR_SET_MM, PR_SET_MM_MAP, &m, sizeof(m), 0) < 0) {
                k = -errno;
                snprintf(msg, len, "code %#" PRIx64 "-%#" PRIx64 " brk %#" PRIx64 "-%#" PRIx64, m.start_code,
                         m.end_code, m.start_brk, m.brk);
                return k;
        }
        snprintf(msg, len, "%zu bytes of auxv", auxv_len);
        return 0;
}

static void probe_prctl_mm_map(struct kerndat_result *r) {
        struct child_report rep;
        unsigned int size = 0;
        pid_t pid;
        int k;

        if (prctl(PR_SET_MM, PR_SET_MM_MAP_SIZE, &size, 0, 0) < 0)
                return set(r, false, "PR_SET_MM_MAP_SIZE query failed: %s (no CONFIG_CHECKPOINT_RESTORE?)", ERR(-errno));
        if (size != sizeof(struct cryo_prctl_mm_map))
                return set(r, false, "the kernel's struct prctl_mm_map is %u bytes, cryo's is %zu", size,
                           sizeof(struct cryo_prctl_mm_map));
        k = child_start(child_mm_map, NULL, &pid, &rep);
        if (k < 0)
                return set(r, false, "cannot fork a probe child: %s", ERR(k));
        child_stop(pid);
        if (rep.r < 0)
                return set(r, false, "a no-op PR_SET_MM_MAP in a child failed: %s (%s)", ERR(rep.r), rep.msg);
        set(r, true, "struct prctl_mm_map is %u bytes; a child re-set its own layout and %s with PR_SET_MM_MAP", size,
            rep.msg);
}

static int child_timer_ids(void *arg, char *msg, size_t len) {
        struct sigevent sev = { .sigev_notify = SIGEV_NONE };
        int id = 4242, id2 = 4242, k;

        if (prctl(PR_TIMER_CREATE_RESTORE_IDS, PR_TIMER_CREATE_RESTORE_IDS_ON, 0, 0, 0) < 0) {
                snprintf(msg, len, "prctl(PR_TIMER_CREATE_RESTORE_IDS, ON)");
                return -errno;
        }
        k = prctl(PR_TIMER_CREATE_RESTORE_IDS, PR_TIMER_CREATE_RESTORE_IDS_GET, 0, 0, 0);
        if (k != 1) {
                snprintf(msg, len, "PR_TIMER_CREATE_RESTORE_IDS_GET returned %d", k);
                return -EINVAL;
        }
        /* raw syscall: glibc's timer_create does not pass the id in */
        if (syscall(SYS_timer_create, CLOCK_MONOTONIC, &sev, &id) < 0) {
                snprintf(msg, len, "timer_create with id 4242");
                return -errno;
        }
        if (id != 4242) {
                snprintf(msg, len, "timer_create returned id %d instead of 4242", id);
                return -EINVAL;
        }
        if (syscall(SYS_timer_create, CLOCK_MONOTONIC, &sev, &id2) == 0 || errno != EBUSY) {
                snprintf(msg, len, "a second timer with the same id was not refused with EBUSY");
                return -EINVAL;
        }
        snprintf(msg, len, "created a POSIX timer with the chosen id 4242; a duplicate id gave EBUSY");
        return 0;
}

static void probe_timer_restore_ids(struct kerndat_result *r) {
        struct child_report rep;
        pid_t pid;
        int k = child_start(child_timer_ids, NULL, &pid, &rep);
        if (k < 0)
                return set(r, false, "cannot fork a probe child: %s", ERR(k));
        child_stop(pid);
        if (rep.r < 0)
                return set(r, false, "%s: %s", rep.msg, ERR(rep.r));
        set(r, true, "%s", rep.msg);
}

/* --- file kinds ----------------------------------------------------------- */

static void probe_memfd_seals(struct kerndat_result *r) {
        _cleanup_close_ int fd = syscall(__NR_memfd_create, "cryo-check", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        int want = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE, got;

        if (fd < 0)
                return set(r, false, "memfd_create: %s", ERR(-errno));
        if (ftruncate(fd, 4096) < 0)
                return set(r, false, "ftruncate on a memfd: %s", ERR(-errno));
        if (fcntl(fd, F_ADD_SEALS, want) < 0)
                return set(r, false, "memfd_create works, F_ADD_SEALS failed: %s", ERR(-errno));
        got = fcntl(fd, F_GET_SEALS);
        if (got != want)
                return set(r, false, "F_GET_SEALS returned 0x%x after adding 0x%x", got, want);
        if (write(fd, "x", 1) >= 0 || errno != EPERM)
                return set(r, false, "a write to a write-sealed memfd was not refused");
        set(r, true, "created a memfd, sealed it (shrink, grow, write) and the seals hold");
}

static void probe_timerfd_ticks(struct kerndat_result *r) {
        _cleanup_close_ int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
        uint64_t ticks = 7, got = 0;

        if (fd < 0)
                return set(r, false, "timerfd_create: %s", ERR(-errno));
        if (ioctl(fd, TFD_IOC_SET_TICKS, &ticks) < 0)
                return set(r, false, "TFD_IOC_SET_TICKS: %s (no CONFIG_CHECKPOINT_RESTORE?)", ERR(-errno));
        if (read(fd, &got, sizeof(got)) != sizeof(got) || got != ticks)
                return set(r, false, "read after TFD_IOC_SET_TICKS(7) gave %" PRIu64, got);
        set(r, true, "set a timerfd's expiration count to 7 and read 7 back");
}

/* --- dirty memory tracking ------------------------------------------------ */

static void uffd_features_str(uint64_t f, char *buf, size_t len) {
        static const char *const names[] = {
                "PAGEFAULT_FLAG_WP", "EVENT_FORK", "EVENT_REMAP", "EVENT_REMOVE", "MISSING_HUGETLBFS", "MISSING_SHMEM",
                "EVENT_UNMAP", "SIGBUS", "THREAD_ID", "MINOR_HUGETLBFS", "MINOR_SHMEM", "EXACT_ADDRESS",
                "WP_HUGETLBFS_SHMEM", "WP_UNPOPULATED", "POISON", "WP_ASYNC", "MOVE",
        };
        size_t o = 0;
        buf[0] = 0;
        for (unsigned b = 0; b < 64; b++) {
                if (!(f & (1ULL << b)))
                        continue;
                if (b < ARRAY_SIZE(names))
                        o += snprintf(buf + o, o < len ? len - o : 0, "%s%s", o ? " " : "", names[b]);
                else
                        o += snprintf(buf + o, o < len ? len - o : 0, "%sbit%u", o ? " " : "", b);
        }
        if (len)
                buf[MIN(o, len - 1)] = 0;
}

/* Open a userfaultfd and do the UFFDIO_API handshake asking for features. */
static int uffd_open(uint64_t features, uint64_t *ret_features) {
        struct uffdio_api api = { .api = UFFD_API, .features = features };
        int fd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
        if (fd < 0)
                return -errno;
        if (ioctl(fd, UFFDIO_API, &api) < 0) {
                int k = -errno;
                close(fd);
                return k;
        }
        if (ret_features)
                *ret_features = api.features;
        return fd;
}

/* Track writes to len bytes at p with async uffd-wp: register, protect. */
static int uffd_wp_track(int uffd, void *p, size_t len) {
        struct uffdio_register reg = { .range = { (uintptr_t)p, len }, .mode = UFFDIO_REGISTER_MODE_WP };
        struct uffdio_writeprotect wp = { .range = { (uintptr_t)p, len }, .mode = UFFDIO_WRITEPROTECT_MODE_WP };
        if (ioctl(uffd, UFFDIO_REGISTER, &reg) < 0)
                return -errno;
        if (ioctl(uffd, UFFDIO_WRITEPROTECT, &wp) < 0)
                return -errno;
        return 0;
}

static void probe_uffd_wp_async(struct kerndat_result *r) {
        _cleanup_close_ int fd = -EBADF, fd2 = -EBADF;
        uint64_t all = 0, got = 0;
        char names[320];
        size_t len = 4 * PAGE_SIZE_;
        int k;

        fd = uffd_open(0, &all);
        if (fd < 0)
                return set(r, false, "userfaultfd/UFFDIO_API: %s", ERR(fd));
        r->value = all;
        uffd_features_str(all, names, sizeof(names));
        if (!(all & UFFD_FEATURE_WP_ASYNC))
                return set(r, false, "features 0x%" PRIx64 " lack WP_ASYNC (%s)", all, names);
        fd2 = uffd_open(UFFD_FEATURE_WP_ASYNC | (all & UFFD_FEATURE_WP_UNPOPULATED), &got);
        if (fd2 < 0)
                return set(r, false, "features 0x%" PRIx64 " but the UFFDIO_API handshake asking for WP_ASYNC failed: %s",
                           all, ERR(fd2));
        /* the real thing: protect a mapping, write to it: an async fault
         * must resolve in the kernel, not block us */
        uint8_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
                return set(r, false, "mmap: %s", ERR(-errno));
        memset(p, 1, len);
        k = uffd_wp_track(fd2, p, len);
        if (k < 0)
                set(r, false, "features 0x%" PRIx64 ", but write-protecting a mapping failed: %s", all, ERR(k));
        else {
                p[PAGE_SIZE_] = 2;
                set(r, true, "UFFDIO_API features 0x%" PRIx64 " (WP_ASYNC ok); a write to a write-protected page resolved "
                             "asynchronously", all);
        }
        munmap(p, len);
}

/* Scan [p, p+len) for pages in any of the `cats` categories; returns regions. */
static int pagemap_scan(int pm, void *p, size_t len, uint64_t cats, struct page_region *vec, size_t nvec) {
        struct pm_scan_arg a = {
                .size = sizeof(a),
                .start = (uintptr_t)p,
                .end = (uintptr_t)p + len,
                .vec = (uintptr_t)vec,
                .vec_len = nvec,
                .category_anyof_mask = cats,
                .return_mask = cats,
        };
        int n = ioctl(pm, PAGEMAP_SCAN, &a);
        return n < 0 ? -errno : n;
}

static void probe_pagemap_scan(struct kerndat_result *r) {
        _cleanup_close_ int pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
        _cleanup_close_ int uffd = -EBADF;
        struct page_region vec[8];
        size_t len = 8 * PAGE_SIZE_;
        uint64_t feat = 0;
        uint8_t *p;
        int n;

        if (pm < 0)
                return set(r, false, "cannot open /proc/self/pagemap: %s", ERR(-errno));
        p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
                return set(r, false, "mmap: %s", ERR(-errno));
        madvise(p, len, MADV_NOHUGEPAGE);
        p[0] = p[PAGE_SIZE_] = p[5 * PAGE_SIZE_] = 1;
        n = pagemap_scan(pm, p, len, PAGE_IS_PRESENT, vec, ARRAY_SIZE(vec));
        if (n < 0) {
                set(r, false, "ioctl(PAGEMAP_SCAN) on /proc/self/pagemap: %s (kernel older than 6.7?)", ERR(n));
                goto out;
        }
        if (n != 2 || vec[0].start != (uintptr_t)p || vec[0].end != (uintptr_t)p + 2 * PAGE_SIZE_ ||
            vec[1].start != (uintptr_t)p + 5 * PAGE_SIZE_) {
                set(r, false, "PAGEMAP_SCAN reported %d present regions, expected pages 0-1 and 5", n);
                goto out;
        }
        /* with uffd-wp async: exactly the pages written since protection */
        uffd = uffd_open(UFFD_FEATURE_WP_ASYNC, &feat);
        if (uffd < 0 || uffd_wp_track(uffd, p, len) < 0) {
                set(r, true, "found the present pages of a mapping (no uffd-wp async to test written pages)");
                goto out;
        }
        p[3 * PAGE_SIZE_] = 2;
        n = pagemap_scan(pm, p, len, PAGE_IS_WRITTEN, vec, ARRAY_SIZE(vec));
        if (n != 1 || vec[0].start != (uintptr_t)p + 3 * PAGE_SIZE_ || vec[0].end != (uintptr_t)p + 4 * PAGE_SIZE_) {
                set(r, false, "with uffd-wp, PAGEMAP_SCAN reported %d written regions, expected page 3 only", n);
                goto out;
        }
        set(r, true, "found the present pages of a mapping, and with uffd-wp async exactly the one page written");
out:
        munmap(p, len);
}

static void probe_soft_dirty(struct kerndat_result *r) {
        _cleanup_close_ int pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
        uint64_t e = 0;
        uint8_t *p;

        if (pm < 0)
                return set(r, false, "cannot open /proc/self/pagemap: %s", ERR(-errno));
        p = mmap(NULL, PAGE_SIZE_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
                return set(r, false, "mmap: %s", ERR(-errno));
        p[0] = 1; /* a freshly written page is soft-dirty where the feature exists */
        if (pread(pm, &e, sizeof(e), ((uintptr_t)p / PAGE_SIZE_) * sizeof(e)) != sizeof(e))
                e = 0;
        munmap(p, PAGE_SIZE_);
        if (e & PM_SOFT_DIRTY)
                return set(r, true, "present (cryo does not use it: it tracks memory with uffd-wp + PAGEMAP_SCAN)");
        set(r, false, "not in this kernel (a written page is not marked soft-dirty); not needed: cryo tracks memory "
                      "with uffd-wp + PAGEMAP_SCAN");
}

/* --- namespaces, network --------------------------------------------------- */

static int child_timens(void *arg, char *msg, size_t len) {
        _cleanup_close_ int fd = -EBADF;
        const char *off = "monotonic 0 0\n";
        if (unshare(CLONE_NEWTIME) < 0) {
                snprintf(msg, len, "unshare(CLONE_NEWTIME)");
                return -errno;
        }
        fd = open("/proc/self/timens_offsets", O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, off, strlen(off)) != (ssize_t)strlen(off)) {
                snprintf(msg, len, "unshare works, writing /proc/self/timens_offsets failed");
                return -errno;
        }
        return 0;
}

static void probe_time_ns(struct kerndat_result *r) {
        struct child_report rep;
        char ns[64];
        pid_t pid;
        ssize_t l = readlink("/proc/self/ns/time", ns, sizeof(ns) - 1);
        if (l < 0)
                return set(r, false, "no /proc/self/ns/time: %s (no CONFIG_TIME_NS)", ERR(-errno));
        ns[l] = 0;
        int k = child_start(child_timens, NULL, &pid, &rep);
        if (k < 0)
                return set(r, false, "cannot fork a probe child: %s", ERR(k));
        child_stop(pid);
        if (rep.r < 0)
                return set(r, false, "%s; %s: %s", ns, rep.msg, ERR(rep.r));
        set(r, true, "in %s; a child created a time namespace and set its clock offsets", ns);
}

static void probe_tcp_repair(struct kerndat_result *r) {
        _cleanup_close_ int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        _cleanup_close_ int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        _cleanup_close_ int a = -EBADF;
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t sl = sizeof(sa);
        int on = 1, off = 0, q = TCP_SEND_QUEUE;
        uint32_t seq = 0;
        socklen_t seql = sizeof(seq);

        if (ls < 0 || c < 0)
                return set(r, false, "socket(AF_INET): %s", ERR(-errno));
        if (bind(ls, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(ls, 1) < 0 ||
            getsockname(ls, (struct sockaddr *)&sa, &sl) < 0)
                return set(r, false, "cannot listen on 127.0.0.1: %s", ERR(-errno));
        if (connect(c, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                return set(r, false, "cannot connect over loopback (is lo up?): %s", ERR(-errno));
        a = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
        if (a < 0)
                return set(r, false, "accept: %s", ERR(-errno));
        if (setsockopt(c, SOL_TCP, TCP_REPAIR, &on, sizeof(on)) < 0)
                return set(r, false, "setsockopt(TCP_REPAIR): %s%s", ERR(-errno),
                           errno == EPERM ? " (needs CAP_NET_ADMIN)" : "");
        if (setsockopt(c, SOL_TCP, TCP_REPAIR_QUEUE, &q, sizeof(q)) < 0 ||
            getsockopt(c, SOL_TCP, TCP_QUEUE_SEQ, &seq, &seql) < 0) {
                int k = -errno;
                setsockopt(c, SOL_TCP, TCP_REPAIR, &off, sizeof(off));
                return set(r, false, "repair mode entered, reading the send queue sequence failed: %s", ERR(k));
        }
        if (setsockopt(c, SOL_TCP, TCP_REPAIR, &off, sizeof(off)) < 0)
                return set(r, false, "cannot leave TCP repair mode: %s", ERR(-errno));
        set(r, true, "put a loopback connection in repair mode and read its send sequence (%u)", seq);
}

/* --- privileges, layout ------------------------------------------------------ */

static void probe_cap_sys_resource(struct kerndat_result *r) {
        static const char *const names[] = { "CPU",     "FSIZE",   "DATA",   "STACK",      "CORE",   "RSS",
                                             "NPROC",   "NOFILE",  "MEMLOCK", "AS",        "LOCKS",  "SIGPENDING",
                                             "MSGQUEUE", "NICE",   "RTPRIO", "RTTIME" };
        char lim[200] = "";
        size_t o = 0;
        uint64_t eff = 0;

        if (have_cap(CAP_SYS_RESOURCE_BIT, &eff))
                return set(r, true, "present: a restore may set any rlimit and use single-field PR_SET_MM");
        for (int i = 0; i < RLIM_NLIMITS && i < (int)ARRAY_SIZE(names); i++) {
                struct rlimit rl;
                if (getrlimit(i, &rl) == 0 && rl.rlim_max != RLIM_INFINITY && o < sizeof(lim))
                        o += snprintf(lim + o, sizeof(lim) - o, "%s%s %llu", o ? ", " : "", names[i],
                                      (unsigned long long)rl.rlim_max);
        }
        set(r, false, "missing (CapEff 0x%" PRIx64 "): restoring a process whose hard rlimits exceed cryo's own fails "
                      "(cryo's hard limits: %s)", eff, o ? lim : "all unlimited");
}

static void probe_vdso(struct kerndat_result *r) {
        static const char *const names[] = { "[vvar]", "[vvar_vclock]", "[vdso]", "[vsyscall]" };
        _cleanup_free_ char *maps = NULL;
        struct proc_vmas vmas = { 0 };
        size_t o = 0;
        bool vdso = false, contiguous = true;
        uint64_t gstart = 0, gend = 0;
        int k;

        k = read_full_file("/proc/self/maps", &maps, NULL);
        if (k >= 0)
                k = proc_parse_smaps(maps, &vmas);
        if (k < 0)
                return set(r, false, "cannot read /proc/self/maps: %s", ERR(k));
        r->detail[0] = 0;
        for (size_t i = 0; i < vmas.n; i++) {
                const struct proc_vma *v = &vmas.v[i];
                bool known = false;
                for (size_t j = 0; j < ARRAY_SIZE(names); j++)
                        known |= v->name && strcmp(v->name, names[j]) == 0;
                if (!known)
                        continue;
                if (strcmp(v->name, "[vsyscall]") != 0) {
                        vdso |= strcmp(v->name, "[vdso]") == 0;
                        if (gend && v->start != gend)
                                contiguous = false;
                        if (!gstart)
                                gstart = v->start;
                        gend = v->end;
                }
                if (o < sizeof(r->detail))
                        o += snprintf(r->detail + o, sizeof(r->detail) - o, "%s%s %" PRIu64 " pages", o ? ", " : "",
                                      v->name, (v->end - v->start) / PAGE_SIZE_);
        }
        proc_vmas_done(&vmas);
        if (!vdso)
                return set(r, false, "this process has no [vdso] (vdso=0 on the kernel command line?)");
        r->value = gend - gstart;
        if (o < sizeof(r->detail))
                snprintf(r->detail + o, sizeof(r->detail) - o, "; vDSO group %s, %" PRIu64 " KiB",
                         contiguous ? "contiguous" : "NOT contiguous", (gend - gstart) / 1024);
        r->ok = true;
}

/* --- the table ---------------------------------------------------------- */

static const struct kerndat_probe probes[] = {
        { "ptrace-seize", "everything: cryo freezes and drives processes with PTRACE_SEIZE", true, true,
          probe_ptrace_seize },
        { "ptrace-scope", "tracing processes that are not cryo's descendants", true, true, probe_ptrace_scope },
        { "ptrace-xstate", "saving and restoring FPU/SSE/AVX registers", true, true, probe_ptrace_xstate },
        { "ptrace-sigmask", "remote syscalls (signals are blocked while cryo drives a task), signal masks", true,
          true, probe_ptrace_sigmask },
        { "ptrace-peeksiginfo", "saving pending signals", true, false, probe_ptrace_peeksiginfo },
        { "ptrace-rseq", "saving and re-registering rseq areas (glibc threads crash without them)", true, true,
          probe_ptrace_rseq },
        { "process-vm-rw", "reading and writing the memory of stopped processes", true, true, probe_process_vm },
        { "pidfd-getfd", "taking copies of a process's open files", true, false, probe_pidfd_getfd },
        { "kcmp", "recognising one open file shared by several fds or processes (dup, fork)", true, false,
          probe_kcmp },
        { "map-files", "files behind mappings (deleted or inaccessible paths)", true, false, probe_map_files },
        { "proc-children", "finding the process tree under the root pid", true, false, probe_proc_children },
        { "sock-diag-unix", "dumping unix sockets (peers and queues): without it they are refused", false, false, probe_sock_diag_unix },
        { "clone3-set-tid", "recreating processes with their original pids", false, true, probe_clone3_set_tid },
        { "prctl-mm-map", "restoring the mm layout (brk, arg/env, auxv) of restored processes", false, true,
          probe_prctl_mm_map },
        { "timer-restore-ids", "restoring processes that have POSIX timers (timer_create ids)", false, false,
          probe_timer_restore_ids },
        { "memfd-seals", "restoring memfds and their seals", false, false, probe_memfd_seals },
        { "timerfd-set-ticks", "restoring timerfds that have unread expirations", false, false,
          probe_timerfd_ticks },
        { "uffd-wp-async", "pre-dump and incremental dumps (dirty-page tracking; not yet implemented)", false, false,
          probe_uffd_wp_async },
        { "pagemap-scan", "fast page scans at dump (falls back to reading /proc/PID/pagemap); pre-dump", false,
          false, probe_pagemap_scan },
        { "soft-dirty", "nothing (cryo tracks dirty memory with uffd-wp + PAGEMAP_SCAN)", false, false,
          probe_soft_dirty },
        { "time-ns", "nothing yet (processes in another time namespace are refused)", false, false, probe_time_ns },
        { "tcp-repair", "--tcp-established (established TCP connections)", false, false, probe_tcp_repair },
        { "cap-sys-resource", "restoring hard rlimits above cryo's own", false, false, probe_cap_sys_resource },
        { "vdso-layout", "restoring processes that use the vDSO", false, false, probe_vdso },
};

const struct kerndat_probe *kerndat_probes(size_t *ret_n) {
        *ret_n = ARRAY_SIZE(probes);
        return probes;
}

const struct kerndat_probe *kerndat_find(const char *name) {
        for (size_t i = 0; i < ARRAY_SIZE(probes); i++)
                if (strcmp(probes[i].name, name) == 0)
                        return &probes[i];
        return NULL;
}

void kerndat_run(const struct kerndat_probe *p, struct kerndat_result *ret) {
        int saved = errno;
        *ret = (struct kerndat_result){
                .name = p->name,
                .disables = p->disables,
                .need_dump = p->need_dump,
                .need_restore = p->need_restore,
        };
        p->run(ret);
        log_debug("%s: %s: %s", p->name, ret->ok ? "ok" : "MISSING", ret->detail);
        errno = saved;
}

void kerndat_run_all(struct kerndat_result **ret, size_t *ret_n) {
        struct kerndat_result *r = xzalloc(sizeof(*r) * ARRAY_SIZE(probes));
        for (size_t i = 0; i < ARRAY_SIZE(probes); i++)
                kerndat_run(&probes[i], &r[i]);
        *ret = r;
        *ret_n = ARRAY_SIZE(probes);
}

bool kerndat_all_needed_ok(const struct kerndat_result *r, size_t n) {
        for (size_t i = 0; i < n; i++)
                if ((r[i].need_dump || r[i].need_restore) && !r[i].ok)
                        return false;
        return true;
}
