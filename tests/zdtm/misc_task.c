/* Assorted per-task state across C/R: umask, personality, nice, scheduling
 * policy (SCHED_BATCH with SCHED_RESET_ON_FORK), comm (with spaces and
 * parentheses, to trip /proc/PID/stat parsers), cwd (a directory with a
 * space in its name), dumpable, child_subreaper, THP disable, timer slack,
 * the clear_child_tid address (set_tid_address), glibc's robust list, glibc's
 * rseq registration (a raw re-registration must say EBUSY, and the area's
 * cpu_id must be kept up to date), and the mm's exposed layout: cmdline,
 * environ, auxv, the start/end of code, data, brk, args and env, and exe. */
#include "zdtm.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/rseq.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>

#define RSEQ_SIG_ 0x53053053

static char *slurp(const char *path, size_t *len) {
        int fd = open(path, O_RDONLY);
        size_t cap = 65536, n = 0;
        char *b = malloc(cap);
        ssize_t r;
        if (fd < 0)
                zdtm_fail("open %s: %m", path);
        while ((r = read(fd, b + n, cap - n)) > 0) {
                n += r;
                if (n == cap)
                        b = realloc(b, cap *= 2);
        }
        close(fd);
        *len = n;
        return b;
}

/* /proc/self/stat fields 26-28 and 45-51 (code, stack, data, brk, args, env) */
static void mm_fields(unsigned long long f[12]) {
        size_t n;
        char *s = slurp("/proc/self/stat", &n);
        s[n] = 0;
        char *p = strrchr(s, ')') + 3; /* past ") S" */
        unsigned long long v[60] = { 0 };
        int k = 4;
        while (*p && k < 60) {
                char *end;
                while (*p == ' ')
                        p++;
                v[k++] = strtoull(p, &end, 10);
                if (end == p)
                        break;
                p = end;
        }
        /* v[k] is field k of proc(5) */
        const int idx[10] = { 26, 27, 28, 45, 46, 47, 48, 49, 50, 51 };
        for (int i = 0; i < 10; i++)
                f[i] = v[idx[i]];
        if (!f[0] || !f[6])
                zdtm_fail("cannot parse /proc/self/stat: %s", s);
        f[10] = f[11] = 0;
        free(s);
}

static void *tid_address(void) {
        void *p = NULL;
        if (prctl(PR_GET_TID_ADDRESS, &p, 0, 0, 0))
                zdtm_fail("PR_GET_TID_ADDRESS: %m");
        return p;
}

static char *rseq_area(void) {
        char *tp;
        __asm__("mov %%fs:0, %0" : "=r"(tp));
        return tp + __rseq_offset;
}

static int rseq_check(char *msg, size_t n) {
        errno = 0;
        long r = syscall(SYS_rseq, rseq_area(), 32, 0, RSEQ_SIG_);
        if (r == 0) {
                snprintf(msg, n, "rseq was not registered (a re-registration succeeded)");
                return -1;
        }
        if (errno != EBUSY) {
                snprintf(msg, n, "rseq re-registration of glibc's area says %s, expected EBUSY (registered elsewhere?)",
                         strerror(errno));
                return -1;
        }
        for (int i = 0; i < 20; i++) {
                unsigned cpu = 0;
                syscall(SYS_getcpu, &cpu, NULL, NULL);
                volatile uint32_t *cpu_id = (volatile uint32_t *)(rseq_area() + 4);
                if (*cpu_id == cpu)
                        return 0;
                sched_yield();
        }
        snprintf(msg, n, "rseq cpu_id is %d, getcpu says otherwise: the kernel does not update the area",
                 (int)*(volatile int32_t *)(rseq_area() + 4));
        return -1;
}

static volatile pid_t my_tid_word;

int main(int argc, char **argv) {
        zdtm_init(argc, argv);
        const char *comm = "mi) sc(t x";
        const unsigned long pers = PER_LINUX | ADDR_NO_RANDOMIZE | UNAME26 | SHORT_INODE | STICKY_TIMEOUTS;
        char msg[256];

        char cwd[4096];
        snprintf(cwd, sizeof(cwd), "%s/cwd dir", zdtm_dir);
        zdtm_check(mkdir(cwd, 0755) == 0 || errno == EEXIST, "mkdir: %m");
        zdtm_check(chdir(cwd) == 0, "chdir: %m");
        char cwd_want[4096];
        zdtm_check(getcwd(cwd_want, sizeof(cwd_want)) != NULL, "getcwd: %m");
        umask(0027);
        zdtm_check(personality(pers) != -1, "personality: %m");
        zdtm_check(setpriority(PRIO_PROCESS, 0, 7) == 0, "setpriority: %m");
        struct sched_param sp = { 0 };
        zdtm_check(sched_setscheduler(0, SCHED_BATCH | SCHED_RESET_ON_FORK, &sp) == 0, "sched_setscheduler: %m");
        zdtm_check(prctl(PR_SET_NAME, comm, 0, 0, 0) == 0, "PR_SET_NAME: %m");
        zdtm_check(prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0, "PR_SET_DUMPABLE: %m");
        zdtm_check(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0, "PR_SET_CHILD_SUBREAPER: %m");
        zdtm_check(prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0) == 0, "PR_SET_THP_DISABLE: %m");
        zdtm_check(prctl(PR_SET_TIMERSLACK, 123457, 0, 0, 0) == 0, "PR_SET_TIMERSLACK: %m");
        void *orig_tid_addr = tid_address();
        zdtm_check(syscall(SYS_set_tid_address, &my_tid_word) == getpid(), "set_tid_address");
        zdtm_check(tid_address() == (void *)&my_tid_word, "set-up: PR_GET_TID_ADDRESS disagrees");
        void *rl_head = NULL;
        size_t rl_len = 0;
        zdtm_check(syscall(SYS_get_robust_list, 0, &rl_head, &rl_len) == 0, "get_robust_list: %m");
        zdtm_check(rl_head != NULL, "glibc registered no robust list");
        zdtm_check(rseq_check(msg, sizeof(msg)) == 0, "set-up: %s", msg);

        size_t cl, el, al;
        char *cmdline = slurp("/proc/self/cmdline", &cl);
        char *environ_ = slurp("/proc/self/environ", &el);
        char *auxv = slurp("/proc/self/auxv", &al);
        unsigned long long mmf[12];
        mm_fields(mmf);
        char exe[4096] = "";
        zdtm_check(readlink("/proc/self/exe", exe, sizeof(exe) - 1) > 0, "readlink exe: %m");

        zdtm_ready();
        zdtm_wait_go();

        /* checked first: nothing below may disturb them */
        if (tid_address() != (void *)&my_tid_word)
                zdtm_fail("clear_child_tid is %p, expected %p", tid_address(), (void *)&my_tid_word);
        void *h2 = NULL;
        size_t l2 = 0;
        if (syscall(SYS_get_robust_list, 0, &h2, &l2) || h2 != rl_head || l2 != rl_len)
                zdtm_fail("robust list is %p/%zu, expected %p/%zu", h2, l2, rl_head, rl_len);
        if (rseq_check(msg, sizeof(msg)))
                zdtm_fail("%s", msg);

        mode_t um = umask(0);
        umask(um);
        if (um != 0027)
                zdtm_fail("umask is %04o, expected 0027", um);
        int p = personality(0xffffffff);
        if ((unsigned long)p != pers)
                zdtm_fail("personality is %#x, expected %#lx", p, pers);
        struct utsname u;
        uname(&u);
        if (strncmp(u.release, "2.6.", 4))
                zdtm_fail("UNAME26 has no effect: release %s", u.release);
        errno = 0;
        int nice_ = getpriority(PRIO_PROCESS, 0);
        if (nice_ != 7)
                zdtm_fail("nice is %d, expected 7", nice_);
        int pol = sched_getscheduler(0);
        if (pol != (SCHED_BATCH | SCHED_RESET_ON_FORK))
                zdtm_fail("scheduling policy is %#x, expected SCHED_BATCH|SCHED_RESET_ON_FORK (%#x)", pol,
                          SCHED_BATCH | SCHED_RESET_ON_FORK);
        char name[17] = "";
        prctl(PR_GET_NAME, name, 0, 0, 0);
        if (strcmp(name, comm))
                zdtm_fail("comm is \"%s\", expected \"%s\"", name, comm);
        char cwd_now[4096] = "";
        if (!getcwd(cwd_now, sizeof(cwd_now)) || strcmp(cwd_now, cwd_want))
                zdtm_fail("cwd is \"%s\", expected \"%s\"", cwd_now, cwd_want);
        int v;
        if ((v = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0)) != 0)
                zdtm_fail("dumpable is %d, expected 0", v);
        int sr = 0;
        prctl(PR_GET_CHILD_SUBREAPER, &sr, 0, 0, 0);
        if (sr != 1)
                zdtm_fail("child_subreaper is %d, expected 1", sr);
        if ((v = prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0)) != 1)
                zdtm_fail("THP disable is %d, expected 1", v);
        if ((v = prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0)) != 123457)
                zdtm_fail("timer slack is %d ns, expected 123457", v);

        size_t cl2, el2, al2;
        char *cmdline2 = slurp("/proc/self/cmdline", &cl2);
        char *environ2 = slurp("/proc/self/environ", &el2);
        char *auxv2 = slurp("/proc/self/auxv", &al2);
        if (cl2 != cl || memcmp(cmdline, cmdline2, cl))
                zdtm_fail("/proc/self/cmdline differs (%zu vs %zu bytes)", cl2, cl);
        if (el2 != el || memcmp(environ_, environ2, el))
                zdtm_fail("/proc/self/environ differs (%zu vs %zu bytes)", el2, el);
        if (al2 != al || memcmp(auxv, auxv2, al)) {
                const uint64_t *a = (const uint64_t *)auxv, *b = (const uint64_t *)auxv2;
                for (size_t i = 0; i + 1 < al / 8 && i + 1 < al2 / 8; i += 2)
                        if (a[i] != b[i] || a[i + 1] != b[i + 1])
                                zdtm_fail("/proc/self/auxv entry %zu: type %llu value %#llx, expected type %llu value %#llx",
                                          i / 2, (unsigned long long)b[i], (unsigned long long)b[i + 1],
                                          (unsigned long long)a[i], (unsigned long long)a[i + 1]);
                zdtm_fail("/proc/self/auxv differs in length (%zu vs %zu bytes)", al2, al);
        }
        unsigned long long mmf2[12];
        mm_fields(mmf2);
        static const char *const mmn[10] = { "start_code", "end_code", "start_stack", "start_data", "end_data",
                                             "start_brk", "arg_start", "arg_end", "env_start", "env_end" };
        for (int i = 0; i < 10; i++)
                if (mmf[i] != mmf2[i])
                        zdtm_fail("mm %s is %#llx, expected %#llx", mmn[i], mmf2[i], mmf[i]);
        char exe2[4096] = "";
        if (readlink("/proc/self/exe", exe2, sizeof(exe2) - 1) <= 0 || strcmp(exe, exe2))
                zdtm_fail("exe is \"%s\", expected \"%s\"", exe2, exe);
        syscall(SYS_set_tid_address, orig_tid_addr);
        zdtm_pass();
}
