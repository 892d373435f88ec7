/* A process tree across C/R:
 *     P (session leader, group leader)
 *     |- C1 (P's group) --- G (grandchild, P's group, PR_SET_PDEATHSIG)
 *     `- C2 (P's group; its own group in tree_pgrp, which includes this file;
 *           SCHED_IDLE)
 * All four share one open file description inherited from P (offset 10); a
 * pipe runs from C1 to C2 with 13 bytes in flight at dump time. After go
 * every process checks its pid, ppid, pgid and sid and the shared offset; P
 * checks with kcmp(KCMP_FILE) that the children's fds are still the same
 * open file as its own; C2 reads the bytes in flight; G checks its pdeath
 * signal is still set and was not sent. Once all have checked, P releases
 * them through a second pipe, collects their verdicts (exit codes, with messages in
 * DIR/fail-NAME) and only then passes. */
#include "zdtm.h"

#include <fcntl.h>
#include <linux/kcmp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#ifndef TREE_C2_OWN_PGRP
#define TREE_C2_OWN_PGRP 0
#endif
#define SHARED_FD 7
#define MSG "ping-from-c1\n"

static const char *role = "P";
static pid_t p_pid, p_ppid, c1_pid, c2_pid, g_pid;
static int data_pipe[2], rel_pipe[2], setup_pipe[2];
static volatile int got_usr2;

static void child_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void child_fail(const char *fmt, ...) {
        char msg[1024], name[64];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        snprintf(name, sizeof(name), "fail-%s", role);
        FILE *f = fopen(zdtm_path(name), "w");
        if (f) {
                fprintf(f, "%s", msg);
                fclose(f);
        }
        _exit(1);
}

static void usr2(int sig) {
        (void)sig;
        got_usr2++;
}

static void check_ids(pid_t pid, pid_t ppid, pid_t pgid, pid_t sid, void (*fail)(const char *, ...)) {
        if (getpid() != pid)
                fail("%s: pid is %d, expected %d", role, getpid(), pid);
        if (getppid() != ppid)
                fail("%s: ppid is %d, expected %d", role, getppid(), ppid);
        if (getpgid(0) != pgid)
                fail("%s: pgid is %d, expected %d", role, getpgid(0), pgid);
        if (getsid(0) != sid)
                fail("%s: sid is %d, expected %d", role, getsid(0), sid);
        off_t o = lseek(SHARED_FD, 0, SEEK_CUR);
        if (o != 10)
                fail("%s: shared file offset is %lld, expected 10", role, (long long)o);
}

static void setup_done(void) {
        if (write(setup_pipe[1], "s", 1) != 1)
                child_fail("%s: setup pipe: %m", role);
}

static void release_wait(void) {
        char b;
        setup_done(); /* "my checks are done": P releases nobody before all are */
        if (read(rel_pipe[0], &b, 1) != 1)
                child_fail("%s: release pipe: %m", role);
}

static void zfail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void zfail(const char *fmt, ...) {
        char msg[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        zdtm_fail("%s", msg);
}

static void cfail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void cfail(const char *fmt, ...) {
        char msg[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        child_fail("%s", msg);
}

static void grandchild(void) {
        role = "G";
        struct sigaction sa = { .sa_handler = usr2 };
        sigemptyset(&sa.sa_mask);
        sigaction(SIGUSR2, &sa, NULL);
        if (prctl(PR_SET_PDEATHSIG, SIGUSR2, 0, 0, 0))
                child_fail("G: PR_SET_PDEATHSIG: %m");
        close(data_pipe[1]);
        g_pid = getpid();
        setup_done();
        zdtm_wait_go();
        check_ids(g_pid, c1_pid, p_pid, p_pid, cfail);
        int s = 0;
        prctl(PR_GET_PDEATHSIG, &s, 0, 0, 0);
        if (s != SIGUSR2)
                child_fail("G: pdeath signal is %d, expected %d (SIGUSR2)", s, SIGUSR2);
        if (got_usr2)
                child_fail("G: got the pdeath signal %d times though C1 never died", got_usr2);
        release_wait();
        _exit(0);
}

static void child1(void) {
        role = "C1";
        c1_pid = getpid();
        close(data_pipe[0]);
        pid_t g = fork();
        if (g < 0)
                child_fail("C1: fork: %m");
        if (g == 0)
                grandchild();
        g_pid = g;
        if (write(data_pipe[1], MSG, strlen(MSG)) != (ssize_t)strlen(MSG))
                child_fail("C1: write: %m");
        setup_done();
        zdtm_wait_go();
        check_ids(c1_pid, p_pid, p_pid, p_pid, cfail);
        /* G is still our child */
        long kr = syscall(SYS_kcmp, getpid(), g_pid, KCMP_FILE, SHARED_FD, SHARED_FD);
        if (kr != 0)
                child_fail("C1: G's (pid %d) fd %d is not the same open file as C1's (kcmp %ld: %m)", g_pid, SHARED_FD, kr);
        release_wait();
        int st;
        if (waitpid(g_pid, &st, 0) != g_pid)
                child_fail("C1: waitpid(G %d): %m", g_pid);
        if (!WIFEXITED(st) || WEXITSTATUS(st))
                _exit(2); /* G wrote its own message */
        _exit(0);
}

static void child2(void) {
        role = "C2";
        c2_pid = getpid();
        if (TREE_C2_OWN_PGRP && setpgid(0, 0))
                child_fail("C2: setpgid: %m");
        close(data_pipe[1]);
        struct sched_param sp = { 0 };
        if (sched_setscheduler(0, SCHED_IDLE, &sp))
                child_fail("C2: SCHED_IDLE: %m");
        setup_done();
        zdtm_wait_go();
        check_ids(c2_pid, p_pid, TREE_C2_OWN_PGRP ? c2_pid : p_pid, p_pid, cfail);
        if (sched_getscheduler(0) != SCHED_IDLE)
                child_fail("C2: scheduling policy is %d, expected SCHED_IDLE (%d)", sched_getscheduler(0), SCHED_IDLE);
        char buf[64] = "";
        ssize_t n = read(data_pipe[0], buf, strlen(MSG));
        if (n != (ssize_t)strlen(MSG) || memcmp(buf, MSG, strlen(MSG)))
                child_fail("C2: read %zd bytes \"%.*s\" from the pipe, expected \"%s\"", n, (int)(n > 0 ? n : 0), buf,
                           "ping-from-c1\\n");
        release_wait();
        _exit(0);
}

static void child_verdict(const char *name, pid_t pid) {
        int st;
        if (waitpid(pid, &st, 0) != pid)
                zdtm_fail("waitpid(%s %d): %m", name, pid);
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
                return;
        const char *names[] = { name, "G" };
        for (int i = 0; i < 2; i++) {
                char fn[64], msg[1024] = "";
                snprintf(fn, sizeof(fn), "fail-%s", names[i]);
                FILE *f = fopen(zdtm_path(fn), "r");
                if (f) {
                        size_t k = fread(msg, 1, sizeof(msg) - 1, f);
                        msg[k] = 0;
                        fclose(f);
                        zdtm_fail("%s", msg);
                }
        }
        if (WIFSIGNALED(st))
                zdtm_fail("%s (pid %d) was killed by signal %d", name, pid, WTERMSIG(st));
        zdtm_fail("%s (pid %d) exited with %d", name, pid, WEXITSTATUS(st));
}

int main(int argc, char **argv) {
        zdtm_init(argc, argv);
        p_pid = getpid();
        p_ppid = getppid();
        zdtm_check(getsid(0) == p_pid, "the runner should start us as a session leader");
        int fd = open(zdtm_path("shared.dat"), O_RDWR | O_CREAT | O_TRUNC, 0644);
        zdtm_check(fd >= 0, "open: %m");
        char buf[100];
        memset(buf, 'a', sizeof(buf));
        zdtm_check(write(fd, buf, 100) == 100, "write: %m");
        zdtm_check(dup2(fd, SHARED_FD) == SHARED_FD, "dup2: %m");
        close(fd);
        zdtm_check(lseek(SHARED_FD, 10, SEEK_SET) == 10, "lseek: %m");
        zdtm_check(pipe(data_pipe) == 0 && pipe(rel_pipe) == 0 && pipe(setup_pipe) == 0, "pipe: %m");

        c1_pid = fork();
        zdtm_check(c1_pid >= 0, "fork: %m");
        if (c1_pid == 0)
                child1();
        c2_pid = fork();
        zdtm_check(c2_pid >= 0, "fork: %m");
        if (c2_pid == 0)
                child2();
        close(data_pipe[0]);
        close(data_pipe[1]);
        close(setup_pipe[1]);
        for (int i = 0; i < 3; i++) {
                char b;
                zdtm_check(read(setup_pipe[0], &b, 1) == 1, "a child died during set-up");
        }

        zdtm_ready();
        zdtm_wait_go();

        check_ids(p_pid, p_ppid, p_pid, p_pid, zfail);
        const pid_t kids[2] = { c1_pid, c2_pid };
        for (int i = 0; i < 2; i++) {
                long r = syscall(SYS_kcmp, p_pid, kids[i], KCMP_FILE, SHARED_FD, SHARED_FD);
                if (r != 0)
                        zdtm_fail("kcmp: %s's fd %d is not the same open file as P's (%ld: %m)", i ? "C2" : "C1",
                                  SHARED_FD, r);
                r = syscall(SYS_kcmp, p_pid, kids[i], KCMP_FILE, rel_pipe[0], rel_pipe[0]);
                if (r != 0)
                        zdtm_fail("kcmp: %s's release pipe is not P's", i ? "C2" : "C1");
        }
        for (int i = 0; i < 3; i++) {
                char b;
                struct pollfd pfd = { .fd = setup_pipe[0], .events = POLLIN };
                /* a child that failed never reports: its verdict will say why */
                if (poll(&pfd, 1, 10000) != 1 || read(setup_pipe[0], &b, 1) != 1)
                        break;
        }
        if (write(rel_pipe[1], "rrr", 3) != 3)
                zdtm_fail("release: %m");
        child_verdict("C2", c2_pid);
        child_verdict("C1", c1_pid);
        off_t o = lseek(SHARED_FD, 0, SEEK_CUR);
        if (o != 10)
                zdtm_fail("P: shared offset is %lld at the end", (long long)o);
        /* one more proof of sharing: a read in a fresh child moves P's offset */
        pid_t c = fork();
        if (c == 0) {
                char b[5];
                _exit(read(SHARED_FD, b, 5) == 5 ? 0 : 1);
        }
        int st;
        waitpid(c, &st, 0);
        if (lseek(SHARED_FD, 0, SEEK_CUR) != 15)
                zdtm_fail("P: a child's read did not move the shared offset");
        zdtm_pass();
}
