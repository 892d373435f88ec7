/* Unit tests of the /proc parsers (src/basic/proc.c) against real samples
 * from this machine (proc-samples.h) and malformed inputs. TAP output. */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include "basic/proc.h"
#include "proc-samples.h"
#include "tap.h"

static const struct proc_vma *find_vma(const struct proc_vmas *v, uint64_t start) {
        for (size_t i = 0; i < v->n; i++)
                if (v->v[i].start == start)
                        return &v->v[i];
        return NULL;
}

static void test_smaps(void) {
        struct proc_vmas v = { 0 };
        is_int(proc_parse_smaps(sample_smaps, &v), 0, "smaps: real sample parses");
        is_int(v.n, 26, "smaps: 26 VMAs");
        const struct proc_vma *a = find_vma(&v, 0x7f09e6939000ull);
        if (ok(a != NULL, "smaps: the shared file mapping is found")) {
                is_u64(a->end, 0x7f09e693b000ull, "smaps: end");
                is_int(a->prot, PROT_READ | PROT_WRITE, "smaps: prot rw-");
                ok(a->shared, "smaps: 's' means shared");
                is_int(a->dev_major, 0xfe, "smaps: dev major");
                is_int(a->dev_minor, 0, "smaps: dev minor");
                is_u64(a->ino, 10952893, "smaps: inode");
                is_str(a->name, "/tmp/cap/a b (c).dat", "smaps: a name with spaces and parentheses is kept whole");
                is_u64(a->rss_kb, 4, "smaps: Rss");
                ok(proc_vma_has_flag(a, "sh"), "smaps: VmFlags sh");
                ok(!proc_vma_has_flag(a, "dc"), "smaps: no VmFlags dc");
        }
        const struct proc_vma *d = find_vma(&v, 0x7f09e6936000ull);
        if (ok(d != NULL, "smaps: the MADV_DONTFORK region is found")) {
                ok(d->name == NULL, "smaps: plain anonymous has no name");
                ok(!d->shared, "smaps: private");
                ok(proc_vma_has_flag(d, "dc"), "smaps: VmFlags dc");
                ok(proc_vma_has_flag(d, "ac"), "smaps: VmFlags ac (last flag)");
                ok(!proc_vma_has_flag(d, "d"), "smaps: a one-letter prefix is not a flag");
                ok(!proc_vma_has_flag(d, "xx"), "smaps: VmFlags xx absent");
        }
        const struct proc_vma *vd = find_vma(&v, 0x7f09e6943000ull);
        if (ok(vd != NULL, "smaps: [vdso] found")) {
                is_str(vd->name, "[vdso]", "smaps: [vdso] name");
                is_int(vd->prot, PROT_READ | PROT_EXEC, "smaps: [vdso] r-x");
        }
        const struct proc_vma *vs = find_vma(&v, 0xffffffffff600000ull);
        if (ok(vs != NULL, "smaps: [vsyscall] found"))
                is_int(vs->prot, PROT_EXEC, "smaps: [vsyscall] --x");
        const struct proc_vma *lc = find_vma(&v, 0x7f09e6774000ull);
        if (ok(lc != NULL, "smaps: libc text found"))
                is_u64(lc->pgoff, 0x26000, "smaps: libc text pgoff");
        proc_vmas_done(&v);
        ok(v.n == 0 && v.v == NULL, "smaps: done resets");

        /* maps format (no smaps fields) */
        const char *maps = "00400000-00452000 r-xp 00000000 08:02 173521      /usr/bin/dbus-daemon\n"
                           "7ffc3fca1000-7ffc3fcc2000 rw-p 00000000 00:00 0                          [stack]\n";
        is_int(proc_parse_smaps(maps, &v), 0, "maps text parses");
        is_int(v.n, 2, "maps: 2 VMAs");
        if (v.n == 2) {
                is_u64(v.v[0].rss_kb, 0, "maps: no smaps fields");
                is_str(v.v[1].name, "[stack]", "maps: [stack]");
        }
        proc_vmas_done(&v);
        is_int(proc_parse_smaps("", &v), 0, "smaps: empty text is zero VMAs");
        is_int(v.n, 0, "smaps: zero VMAs");
        proc_vmas_done(&v);

        const char *bad[] = {
                "zzzz\n",
                "Rss: 4 kB\n00400000-00452000 r-xp 00000000 08:02 1 /x\n", /* field before any header */
                "00452000-00400000 r-xp 00000000 08:02 1 /x\n",            /* end before start */
                "00400000-00400000 r-xp 00000000 08:02 1 /x\n",            /* empty */
                "00400000-00452000 r-xp\n",                                /* truncated */
                "00400000-00452000 rwxps 00000000 08:02 1 /x\n",           /* 5 perms */
                "00400000-00452000 r-xp 0000g000 08:02 1 /x\n",
                "00400000-",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                char what[128];
                snprintf(what, sizeof(what), "smaps: malformed input %zu is refused", i);
                struct proc_vmas w = { 0 };
                int r = proc_parse_smaps(bad[i], &w);
                ok(r < 0, what);
                if (r == 0)
                        proc_vmas_done(&w);
        }
}

static void test_status(void) {
        struct proc_status s;
        is_int(proc_parse_status(sample_status, &s), 0, "status: real sample parses");
        is_str(s.name, "a) b (c", "status: Name with spaces and parentheses");
        is_int(s.state, 'R', "status: State");
        is_int(s.tgid, 27736, "status: Tgid");
        is_int(s.pid, 27736, "status: Pid");
        is_int(s.ppid, 27681, "status: PPid");
        is_int(s.uid[0], 0, "status: Uid");
        is_int(s.ngroups, 0, "status: empty Groups");
        is_u64(s.cap_eff, 0x1fffeffffffull, "status: CapEff");
        is_u64(s.cap_bnd, 0x1fffeffffffull, "status: CapBnd");
        is_int(s.umask, 022, "status: Umask (octal)");
        is_int(s.threads, 1, "status: Threads");
        is_int(s.no_new_privs, 0, "status: NoNewPrivs");
        is_int(s.seccomp, 0, "status: Seccomp");
        proc_status_done(&s);

        is_int(proc_parse_status(sample_status_creds, &s), 0, "status (creds): real sample parses");
        is_int(s.uid[0], 1001, "status (creds): real uid");
        is_int(s.uid[1], 1002, "status (creds): effective uid");
        is_int(s.uid[2], 1003, "status (creds): saved uid");
        is_int(s.uid[3], 1003, "status (creds): fs uid");
        is_int(s.gid[0], 2001, "status (creds): real gid");
        is_int(s.gid[3], 2003, "status (creds): fs gid");
        is_int(s.ngroups, 4, "status (creds): 4 groups");
        if (s.ngroups == 4) {
                is_int(s.groups[0], 1001, "status (creds): group 0");
                is_int(s.groups[3], 50000, "status (creds): group 3");
        }
        is_u64(s.cap_inh, 0x401, "status (creds): CapInh");
        is_u64(s.cap_prm, 0x80423, "status (creds): CapPrm");
        is_u64(s.cap_eff, 0x422, "status (creds): CapEff");
        is_u64(s.cap_bnd, 0x1f7f6bfffffull, "status (creds): CapBnd");
        is_u64(s.cap_amb, 0x400, "status (creds): CapAmb");
        is_int(s.no_new_privs, 1, "status (creds): NoNewPrivs");
        proc_status_done(&s);

        const char *bad[] = {
                "",
                "Name:\tx\nGid:\t0\t0\t0\t0\n",                 /* no Uid */
                "Name:\tx\nUid:\t0\t0\t0\t0\n",                 /* no Gid */
                "Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n",         /* no Name */
                "Name:\tx\nUid:\t0\t0\nGid:\t0\t0\t0\t0\n",     /* short Uid */
                "garbage without newline",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                char what[128];
                snprintf(what, sizeof(what), "status: malformed input %zu is refused", i);
                struct proc_status t;
                int r = proc_parse_status(bad[i], &t);
                ok(r < 0, what);
                if (r == 0)
                        proc_status_done(&t);
        }
        /* many groups */
        char big[8192] = "Name:\tg\nUid:\t1\t2\t3\t4\nGid:\t5\t6\t7\t8\nGroups:\t";
        for (int i = 0; i < 300; i++) {
                char g[16];
                snprintf(g, sizeof(g), "%d ", 10000 + i);
                strcat(big, g);
        }
        strcat(big, "\nUmask:\t0777\n");
        /* found by fuzz-proc: a second Groups line overflowed the array */
        char two[8192];
        snprintf(two, sizeof(two), "%sGroups:\t1 2\n", big);
        int r2 = proc_parse_status(two, &s);
        ok(r2 < 0 || s.ngroups == 300 || s.ngroups == 302 || s.ngroups == 2, "status: two Groups lines do not corrupt");
        if (r2 == 0)
                proc_status_done(&s);
        int rr = proc_parse_status(big, &s);
        is_int(rr, 0, "status: 300 groups parse");
        if (rr == 0) {
                is_int(s.ngroups, 300, "status: 300 groups counted");
                if (s.ngroups == 300)
                        is_int(s.groups[299], 10299, "status: last group");
                is_int(s.umask, 0777, "status: Umask 0777");
                proc_status_done(&s);
        }
}

static void test_stat(void) {
        struct proc_stat s;
        is_int(proc_parse_stat(sample_stat, &s), 0, "stat: real sample with comm \"a) b (c\" parses");
        is_int(s.pid, 27736, "stat: pid");
        is_str(s.comm, "a) b (c", "stat: comm with spaces and parentheses");
        is_int(s.state, 'R', "stat: state");
        is_int(s.ppid, 27681, "stat: ppid");
        is_int(s.pgrp, 27681, "stat: pgrp");
        is_int(s.session, 2958, "stat: session");
        is_int(s.tty_nr, 0, "stat: tty_nr");
        is_u64(s.flags, 4194304, "stat: flags");
        is_int(s.priority, 20, "stat: priority");
        is_int(s.nice, 0, "stat: nice");
        is_int(s.num_threads, 1, "stat: num_threads");
        is_u64(s.starttime, 188250, "stat: starttime");
        is_u64(s.start_code, 94473790902272ull, "stat: start_code");
        is_u64(s.end_code, 94473790904189ull, "stat: end_code");
        is_u64(s.start_stack, 140721378821328ull, "stat: start_stack");
        is_int(s.exit_signal, 17, "stat: exit_signal");
        is_int(s.rt_priority, 0, "stat: rt_priority");
        is_int(s.policy, 0, "stat: policy");
        is_u64(s.start_data, 94473790914000ull, "stat: start_data");
        is_u64(s.end_data, 94473790914768ull, "stat: end_data");
        is_u64(s.start_brk, 94473917771776ull, "stat: start_brk");
        is_u64(s.arg_start, 140721378826715ull, "stat: arg_start");
        is_u64(s.arg_end, 140721378826721ull, "stat: arg_end");
        is_u64(s.env_start, 140721378826721ull, "stat: env_start");
        is_u64(s.env_end, 140721378828274ull, "stat: env_end");

        /* a comm that itself looks like the rest of the line */
        char tricky[1024];
        const char *rest = strchr(strrchr(sample_stat, ')'), ' ');
        snprintf(tricky, sizeof(tricky), "42 () S 1 2 3 4 5) %s", rest + 1);
        is_int(proc_parse_stat(tricky, &s), 0, "stat: comm \") S 1 2 3 4 5\" parses");
        is_str(s.comm, ") S 1 2 3 4 5", "stat: the last ')' ends comm");
        is_int(s.ppid, 27681, "stat: fields after the tricky comm");
        snprintf(tricky, sizeof(tricky), "43 () %s", rest + 1);
        is_int(proc_parse_stat(tricky, &s), 0, "stat: empty comm parses");
        is_str(s.comm, "", "stat: empty comm");
        snprintf(tricky, sizeof(tricky), "44 (0123456789abcdefXYZ) %s", rest + 1);
        is_int(proc_parse_stat(tricky, &s), 0, "stat: overlong comm parses");
        ok(strncmp(s.comm, "0123456789abcdef", 16) == 0, "stat: overlong comm kept (truncated at most)");

        const char *bad[] = {
                "",
                "27736 a) b (c R 1 2 3",                          /* no '(' before ')' ... */
                "27736 (abc R 27681 27681 2958 0",                /* no ')' */
                "27736 (x) R 27681 27681 2958 0 -1 4194304\n",    /* too few fields */
                "x (y) R 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50\n",
                "1 (y) R 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 zz 21 22 23 24 25 26 27 28 29 30 31 32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50\n",
                "1 (x)", /* ends at ')': found by fuzz-proc (read past the end) */
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                char what[128];
                snprintf(what, sizeof(what), "stat: malformed input %zu is refused", i);
                ok(proc_parse_stat(bad[i], &s) < 0, what);
        }
}

static void test_fdinfo(void) {
        struct proc_fdinfo f;
        is_int(proc_parse_fdinfo(sample_fdinfo_reg, &f), 0, "fdinfo: regular file parses");
        is_u64(f.pos, 1234, "fdinfo: pos");
        is_int(f.flags, 0100002, "fdinfo: flags (octal)");
        is_int(f.mnt_id, 26, "fdinfo: mnt_id");
        is_u64(f.ino, 10952893, "fdinfo: ino");
        proc_fdinfo_done(&f);

        is_int(proc_parse_fdinfo(sample_fdinfo_eventfd, &f), 0, "fdinfo: eventfd parses");
        is_int(f.flags, 04002, "fdinfo: eventfd flags");
        const char *c = proc_fdinfo_get(&f, "eventfd-count:");
        ok(c && strtoull(c, NULL, 16) == 5, "fdinfo: eventfd-count value");
        ok(proc_fdinfo_get(&f, "eventfd-semaphore:") != NULL, "fdinfo: eventfd-semaphore present");
        ok(proc_fdinfo_get(&f, "tfd:") == NULL, "fdinfo: absent key is NULL");
        proc_fdinfo_done(&f);

        is_int(proc_parse_fdinfo(sample_fdinfo_epoll, &f), 0, "fdinfo: epoll parses");
        const char *t = proc_fdinfo_get(&f, "tfd:");
        ok(t && strstr(t, "data: 1122334455667788"), "fdinfo: epoll tfd line");
        proc_fdinfo_done(&f);
        is_int(proc_parse_fdinfo(sample_fdinfo_timerfd, &f), 0, "fdinfo: timerfd parses");
        ok(proc_fdinfo_get(&f, "it_interval:") && strstr(proc_fdinfo_get(&f, "it_interval:"), "(1, 500)"),
           "fdinfo: timerfd it_interval");
        proc_fdinfo_done(&f);
        is_int(proc_parse_fdinfo(sample_fdinfo_signalfd, &f), 0, "fdinfo: signalfd parses");
        ok(proc_fdinfo_get(&f, "sigmask:") && strtoull(proc_fdinfo_get(&f, "sigmask:"), NULL, 16) == 0x1000000200ull,
           "fdinfo: signalfd sigmask");
        proc_fdinfo_done(&f);
        is_int(proc_parse_fdinfo(sample_fdinfo_inotify, &f), 0, "fdinfo: inotify parses");
        ok(proc_fdinfo_get(&f, "inotify wd:") != NULL, "fdinfo: inotify wd line");
        proc_fdinfo_done(&f);
        is_int(proc_parse_fdinfo(sample_fdinfo_pipe, &f), 0, "fdinfo: pipe parses");
        is_u64(f.ino, 114868, "fdinfo: pipe ino");
        proc_fdinfo_done(&f);

        const char *bad[] = { "", "pos:\t0\n", "flags:\t02\n", "pos:\tx\nflags:\t02\n", "pos:\t0\nflags:\t9\n" };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                char what[128];
                snprintf(what, sizeof(what), "fdinfo: malformed input %zu is refused", i);
                int r = proc_parse_fdinfo(bad[i], &f);
                ok(r < 0, what);
                if (r == 0)
                        proc_fdinfo_done(&f);
        }
}

static void test_limits(void) {
        struct proc_limit l[PROC_NLIMITS];
        memset(l, 0xaa, sizeof(l));
        is_int(proc_parse_limits(sample_limits, l), 0, "limits: real sample parses");
        is_u64(l[RLIMIT_CPU].cur, RLIM_INFINITY, "limits: cpu unlimited");
        is_u64(l[RLIMIT_STACK].cur, 8388608, "limits: stack soft");
        is_u64(l[RLIMIT_STACK].max, RLIM_INFINITY, "limits: stack hard unlimited");
        is_u64(l[RLIMIT_CORE].cur, 0, "limits: core soft 0");
        is_u64(l[RLIMIT_NPROC].cur, 96365, "limits: nproc");
        is_u64(l[RLIMIT_NOFILE].cur, 20000, "limits: nofile soft");
        is_u64(l[RLIMIT_NOFILE].max, 20000, "limits: nofile hard");
        is_u64(l[RLIMIT_MEMLOCK].max, 8388608, "limits: memlock hard");
        is_u64(l[RLIMIT_MSGQUEUE].cur, 819200, "limits: msgqueue");
        is_u64(l[RLIMIT_NICE].cur, 0, "limits: nice (no units column)");
        is_u64(l[RLIMIT_RTPRIO].max, 0, "limits: rtprio");
        is_u64(l[RLIMIT_RTTIME].cur, RLIM_INFINITY, "limits: rttime");

        /* one line missing */
        char *cut = strdup(sample_limits);
        char *p = strstr(cut, "Max file locks");
        char *e = strchr(p, '\n');
        memmove(p, e + 1, strlen(e + 1) + 1);
        ok(proc_parse_limits(cut, l) < 0, "limits: a missing line is refused");
        free(cut);
        ok(proc_parse_limits("", l) < 0, "limits: empty text is refused");
        ok(proc_parse_limits("Max cpu time", l) < 0, "limits: truncated text is refused");
}

static void test_timers(void) {
        struct proc_timer *t = NULL;
        size_t n = 0;
        is_int(proc_parse_timers(sample_timers, &t, &n), 0, "timers: real sample parses");
        is_int(n, 3, "timers: 3 timers");
        if (n == 3) {
                is_int(t[0].id, 2, "timers: first id");
                is_int(t[0].notify, 1, "timers: SIGEV_NONE");
                is_int(t[0].clock_id, -6, "timers: process CPU clock of self is -6");
                is_int(t[1].id, 1, "timers: second id");
                is_int(t[1].signo, 34, "timers: signal 34");
                is_int(t[1].notify, 4, "timers: SIGEV_THREAD_ID");
                is_int(t[1].notify_tid, 27736, "timers: notify tid");
                is_int(t[1].clock_id, 0, "timers: CLOCK_REALTIME");
                is_int(t[2].id, 0, "timers: third id");
                is_int(t[2].signo, 12, "timers: signal 12");
                is_u64(t[2].sigev_value, 0xdead, "timers: sigev value (hex)");
                is_int(t[2].notify, 0, "timers: SIGEV_SIGNAL");
                is_int(t[2].clock_id, 1, "timers: CLOCK_MONOTONIC");
        }
        free(t);
        t = NULL;
        is_int(proc_parse_timers("", &t, &n), 0, "timers: empty text parses");
        is_int(n, 0, "timers: no timers");
        free(t);
        t = NULL;
        ok(proc_parse_timers("ID: 1\nsignal: 10/0\nnotify: bogus/pid.1\nClockID: 0\n", &t, &n) < 0,
           "timers: an unknown notify kind is refused");
}

int main(void) {
        test_smaps();
        test_status();
        test_stat();
        test_fdinfo();
        test_limits();
        test_timers();
        return tap_done();
}
