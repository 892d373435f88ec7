/* Credentials of each thread: real/effective/saved/fs uids and gids,
 * supplementary groups, the five capability sets, securebits and
 * no_new_privs. Dump: /proc/PID/task/TID/status and a remote
 * prctl(PR_GET_SECUREBITS). Restore: the very last remote calls, since they
 * drop the privileges the rest of the restore needs: securebits with
 * KEEP_CAPS, bounding-set drops, groups, gids, uids, fs ids, capset, the
 * final KEEP_CAPS bit, ambient raises, no_new_privs. */
#define LOG_PREFIX "creds: "
#include <linux/capability.h>
#include <linux/securebits.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "basic/kcompat.h"
#include "basic/log.h"
#include "basic/proc.h"
#include "basic/util.h"
#include "core/res/task.h"

int creds_dump(struct dump_ctx *ctx, struct dump_task *t, struct infect_task *inf, ThreadCore *tc) {
        struct proc_status st;
        int64_t sb;
        int r;

        r = proc_read_status(t->pid, tc->tid, &st);
        if (r < 0)
                return log_error_errno(r, "pid %d: cannot read status: %m", tc->tid);
        CredsEntry *c = xzalloc(sizeof(*c));
        creds_entry__init(c);
        c->uid = st.uid[0];
        c->euid = st.uid[1];
        c->suid = st.uid[2];
        c->fsuid = st.uid[3];
        c->gid = st.gid[0];
        c->egid = st.gid[1];
        c->sgid = st.gid[2];
        c->fsgid = st.gid[3];
        c->n_groups = st.ngroups;
        c->groups = TAKE_PTR(st.groups);
        c->cap_inh = st.cap_inh;
        c->cap_prm = st.cap_prm;
        c->cap_eff = st.cap_eff;
        c->cap_bnd = st.cap_bnd;
        c->cap_amb = st.cap_amb;
        c->no_new_privs = st.no_new_privs;
        sb = infect_call(inf, __NR_prctl, PR_GET_SECUREBITS, 0, 0, 0, 0, 0);
        if (sb < 0)
                return log_error_errno((int)sb, "pid %d: cannot read securebits: %m", tc->tid);
        c->secbits = sb;
        tc->creds = c;
        proc_status_done(&st);
        return 0;
}

static int cap_last_cap(void) {
        _cleanup_free_ char *s = NULL;
        int v;
        if (read_full_file("/proc/sys/kernel/cap_last_cap", &s, NULL) < 0)
                return 40;
        s[strcspn(s, "\n")] = 0;
        return parse_int(s, &v) < 0 ? 40 : v;
}

#define RCALL(what, ...)                                                                                               \
        do {                                                                                                           \
                int64_t _r = infect_call(inf, __VA_ARGS__);                                                            \
                if (_r < 0)                                                                                            \
                        return log_error_errno((int)_r, "pid %d: cannot restore %s: %m", pid, what);                  \
        } while (0)

int creds_restore_remote(struct restore_ctx *ctx, struct restore_task *t, struct infect_task *inf, ThreadCore *tc) {
        CredsEntry *c = tc->creds;
        pid_t pid = tc->tid;
        int last = cap_last_cap();

        if (!c)
                return 0;
        if (c->n_groups > 65536)
                return log_error_errno(-EBADMSG, "pid %d: implausible number of groups", pid);

        RCALL("securebits", __NR_prctl, PR_SET_SECUREBITS, c->secbits | SECBIT_KEEP_CAPS, 0, 0, 0, 0);
        {
                struct infect_rec recs[64];
                size_t n = 0;
                for (int cap = 0; cap <= last && cap < 64; cap++)
                        if (!(c->cap_bnd & (1ULL << cap)))
                                recs[n++] = INFECT_REC(__NR_prctl, PR_CAPBSET_DROP, cap);
                int r = infect_batch(inf, recs, n);
                if (r < 0)
                        return log_error_errno(r, "pid %d: cannot restore the capability bounding set: %m", pid);
                for (size_t i = 0; i < n; i++)
                        if (recs[i].ret < 0)
                                return log_error_errno((int)recs[i].ret,
                                                       "pid %d: cannot restore the capability bounding set: %m", pid);
        }

        uint32_t *g = xzalloc((c->n_groups + 1) * sizeof(uint32_t));
        for (size_t i = 0; i < c->n_groups; i++)
                g[i] = c->groups[i];
        int r = infect_write_mem(pid, inf->scratch, g, c->n_groups * sizeof(uint32_t) + 4);
        free(g);
        if (r < 0)
                return log_error_errno(r, "pid %d: cannot write groups: %m", pid);
        RCALL("supplementary groups", __NR_setgroups, c->n_groups, inf->scratch, 0, 0, 0, 0);
        RCALL("gids", __NR_setresgid, c->gid, c->egid, c->sgid, 0, 0, 0);
        RCALL("uids", __NR_setresuid, c->uid, c->euid, c->suid, 0, 0, 0);
        /* setfs[ug]id return the previous value, never an error */
        infect_call(inf, __NR_setfsgid, c->fsgid, 0, 0, 0, 0, 0);
        infect_call(inf, __NR_setfsuid, c->fsuid, 0, 0, 0, 0, 0);

        struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
        struct __user_cap_data_struct data[2] = {
                { (uint32_t)c->cap_eff, (uint32_t)c->cap_prm, (uint32_t)c->cap_inh },
                { (uint32_t)(c->cap_eff >> 32), (uint32_t)(c->cap_prm >> 32), (uint32_t)(c->cap_inh >> 32) },
        };
        r = infect_write_mem(pid, inf->scratch, &hdr, sizeof(hdr));
        if (r >= 0)
                r = infect_write_mem(pid, inf->scratch + 64, data, sizeof(data));
        if (r < 0)
                return log_error_errno(r, "pid %d: cannot write capabilities: %m", pid);
        RCALL("capabilities", __NR_capset, inf->scratch, inf->scratch + 64, 0, 0, 0, 0);
        if (!(c->secbits & SECBIT_KEEP_CAPS))
                RCALL("securebits (keep-caps)", __NR_prctl, PR_SET_KEEPCAPS, 0, 0, 0, 0, 0);
        for (int cap = 0; cap <= last; cap++)
                if (c->cap_amb & (1ULL << cap))
                        RCALL("ambient capabilities", __NR_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0, 0);
        if (c->no_new_privs)
                RCALL("no_new_privs", __NR_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0);
        return 0;
}
