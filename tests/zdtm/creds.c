/* Credentials across C/R. The workload, started as root, sets supplementary
 * groups, real/effective/saved/fs uids and gids (all distinct, non-root),
 * keeps some capabilities through the uid change, sets the effective,
 * permitted and inheritable sets, raises an ambient capability, drops three
 * from the bounding set, sets securebits (one of them locked) and
 * no_new_privs; the kernel then marks it non-dumpable. All of it must be
 * the same after restore. CAP_DAC_OVERRIDE stays effective so the workload
 * can still write its result into the root-owned scratch dir. A child with
 * the same credentials keeps its parent-death signal (credentials set at
 * restore clear it in the kernel). */
#include "zdtm.h"

#include <grp.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <signal.h>

#define CAPB(c) (1ull << (c))

static int capget_(uint64_t *eff, uint64_t *prm, uint64_t *inh) {
        struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
        struct __user_cap_data_struct d[2];
        if (syscall(SYS_capget, &h, d))
                return -1;
        *eff = d[0].effective | (uint64_t)d[1].effective << 32;
        *prm = d[0].permitted | (uint64_t)d[1].permitted << 32;
        *inh = d[0].inheritable | (uint64_t)d[1].inheritable << 32;
        return 0;
}

static int capset_(uint64_t eff, uint64_t prm, uint64_t inh) {
        struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
        struct __user_cap_data_struct d[2] = {
                { (uint32_t)eff, (uint32_t)prm, (uint32_t)inh },
                { (uint32_t)(eff >> 32), (uint32_t)(prm >> 32), (uint32_t)(inh >> 32) },
        };
        return syscall(SYS_capset, &h, d);
}

static int last_cap(void) {
        FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "r");
        int c = 40;
        if (f) {
                if (fscanf(f, "%d", &c) != 1)
                        c = 40;
                fclose(f);
        }
        return c;
}

static uint64_t bounding(int last) {
        uint64_t b = 0;
        for (int c = 0; c <= last; c++)
                if (prctl(PR_CAPBSET_READ, c, 0, 0, 0) == 1)
                        b |= CAPB(c);
        return b;
}

static uint64_t ambient(int last) {
        uint64_t a = 0;
        for (int c = 0; c <= last; c++)
                if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, c, 0, 0) == 1)
                        a |= CAPB(c);
        return a;
}

int main(int argc, char **argv) {
        zdtm_init(argc, argv);
        int last = last_cap();
        const gid_t groups[] = { 1001, 1002, 1003, 50000 };
        const uint64_t eff = CAPB(CAP_DAC_OVERRIDE) | CAPB(CAP_NET_BIND_SERVICE) | CAPB(CAP_KILL);
        const uint64_t prm = eff | CAPB(CAP_CHOWN) | CAPB(CAP_SYS_PTRACE);
        const uint64_t inh = CAPB(CAP_NET_BIND_SERVICE) | CAPB(CAP_CHOWN);
        const uint64_t amb = CAPB(CAP_NET_BIND_SERVICE);
        const int secbits = SECBIT_KEEP_CAPS | SECBIT_NOROOT | SECBIT_NOROOT_LOCKED;

        zdtm_check(getuid() == 0, "must start as root");
        zdtm_check(setgroups(4, groups) == 0, "setgroups: %m");
        for (int c = 0; c <= last; c++)
                if (c == CAP_SYS_BOOT || c == CAP_MKNOD || c == CAP_WAKE_ALARM)
                        zdtm_check(prctl(PR_CAPBSET_DROP, c, 0, 0, 0) == 0, "PR_CAPBSET_DROP %d: %m", c);
        zdtm_check(prctl(PR_SET_SECUREBITS, secbits, 0, 0, 0) == 0, "PR_SET_SECUREBITS: %m");
        zdtm_check(setresgid(2001, 2002, 2003) == 0, "setresgid: %m");
        zdtm_check(setresuid(1001, 1002, 1003) == 0, "setresuid: %m");
        setfsuid(1003);
        setfsgid(2003);
        zdtm_check(capset_(eff, prm, inh) == 0, "capset: %m");
        zdtm_check(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_BIND_SERVICE, 0, 0) == 0, "ambient raise: %m");
        zdtm_check(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0, "PR_SET_NO_NEW_PRIVS: %m");

        uint64_t bnd = bounding(last);
        int dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
        zdtm_check(!(bnd & CAPB(CAP_SYS_BOOT)) && (bnd & CAPB(CAP_KILL)), "set-up: bounding set %#llx",
                   (unsigned long long)bnd);

        /* a child with these credentials and a parent-death signal: setting
         * credentials clears it (commit_creds), so a restore must set it
         * after them */
        int cpipe[2];
        zdtm_check(pipe(cpipe) == 0, "pipe: %m");
        pid_t child = fork();
        zdtm_check(child >= 0, "fork: %m");
        if (child == 0) {
                int sig = 0;
                if (prctl(PR_SET_PDEATHSIG, SIGUSR2, 0, 0, 0) < 0)
                        _exit(2);
                if (write(cpipe[1], "x", 1) != 1)
                        _exit(2);
                zdtm_wait_go();
                prctl(PR_GET_PDEATHSIG, &sig, 0, 0, 0);
                _exit(sig == SIGUSR2 ? 0 : 3);
        }
        char cb;
        zdtm_check(read(cpipe[0], &cb, 1) == 1, "child not ready");

        zdtm_ready();
        zdtm_wait_go();

        int cst;
        zdtm_check(waitpid(child, &cst, 0) == child, "waitpid: %m");
        if (!WIFEXITED(cst) || WEXITSTATUS(cst))
                zdtm_fail("child: %s (status %#x)",
                          WIFEXITED(cst) && WEXITSTATUS(cst) == 3 ? "its parent-death signal is no longer SIGUSR2"
                                                                  : "failed",
                          cst);

        uid_t r, e, s;
        gid_t gr, ge, gs;
        getresuid(&r, &e, &s);
        getresgid(&gr, &ge, &gs);
        if (r != 1001 || e != 1002 || s != 1003)
                zdtm_fail("uids are %d/%d/%d, expected 1001/1002/1003", r, e, s);
        if (gr != 2001 || ge != 2002 || gs != 2003)
                zdtm_fail("gids are %d/%d/%d, expected 2001/2002/2003", gr, ge, gs);
        int fsu = setfsuid(-1), fsg = setfsgid(-1);
        if (fsu != 1003 || fsg != 2003)
                zdtm_fail("fsuid/fsgid are %d/%d, expected 1003/2003", fsu, fsg);
        gid_t g[64];
        int ng = getgroups(64, g);
        if (ng != 4)
                zdtm_fail("%d supplementary groups, expected 4", ng);
        for (int i = 0; i < 4; i++)
                if (g[i] != groups[i])
                        zdtm_fail("supplementary group %d is %d, expected %d", i, g[i], groups[i]);
        uint64_t ge_, gp_, gi_;
        zdtm_check(capget_(&ge_, &gp_, &gi_) == 0, "capget: %m");
        if (ge_ != eff)
                zdtm_fail("effective caps %#llx, expected %#llx", (unsigned long long)ge_, (unsigned long long)eff);
        if (gp_ != prm)
                zdtm_fail("permitted caps %#llx, expected %#llx", (unsigned long long)gp_, (unsigned long long)prm);
        if (gi_ != inh)
                zdtm_fail("inheritable caps %#llx, expected %#llx", (unsigned long long)gi_, (unsigned long long)inh);
        if (ambient(last) != amb)
                zdtm_fail("ambient caps %#llx, expected %#llx", (unsigned long long)ambient(last),
                          (unsigned long long)amb);
        if (bounding(last) != bnd)
                zdtm_fail("bounding set %#llx, expected %#llx", (unsigned long long)bounding(last),
                          (unsigned long long)bnd);
        int sb = prctl(PR_GET_SECUREBITS, 0, 0, 0, 0);
        if (sb != secbits)
                zdtm_fail("securebits %#x, expected %#x", sb, secbits);
        if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
                zdtm_fail("no_new_privs is not set");
        if (prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0) != 1)
                zdtm_fail("keepcaps is not set");
        if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != dumpable)
                zdtm_fail("dumpable is %d, expected %d", prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), dumpable);
        zdtm_pass();
}
