#include "basic/proc.h"

#include <ctype.h>
#include <dirent.h>
#include <inttypes.h>
#include <limits.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "basic/util.h"

void proc_vmas_done(struct proc_vmas *vmas) {
        for (size_t i = 0; i < vmas->n; i++)
                free(vmas->v[i].name);
        free(vmas->v);
        *vmas = (struct proc_vmas){ 0 };
}

static bool is_vma_header(const char *line) {
        /* "start-end perms ..." : hex digits then '-' */
        const char *p = line;
        if (!isxdigit((unsigned char)*p))
                return false;
        while (isxdigit((unsigned char)*p))
                p++;
        return *p == '-';
}

static int parse_vma_line(const char *full, struct proc_vma *v) {
        unsigned long long s, e, off, ino;
        char line[PATH_MAX + 128];
        size_t ll = strcspn(full, "\n");
        if (ll >= sizeof(line))
                return -EINVAL;
        memcpy(line, full, ll);
        line[ll] = 0;
        unsigned maj, min;
        char perms[8];
        int n = 0;

        if (sscanf(line, "%llx-%llx %7s %llx %x:%x %llu %n", &s, &e, perms, &off, &maj, &min, &ino, &n) < 7)
                return -EINVAL;
        if (strlen(perms) != 4 || e <= s)
                return -EINVAL;
        *v = (struct proc_vma){ .start = s, .end = e, .pgoff = off, .dev_major = maj, .dev_minor = min, .ino = ino };
        if (perms[0] == 'r')
                v->prot |= PROT_READ;
        if (perms[1] == 'w')
                v->prot |= PROT_WRITE;
        if (perms[2] == 'x')
                v->prot |= PROT_EXEC;
        v->shared = perms[3] == 's';
        const char *name = line + n;
        while (*name == ' ')
                name++;
        size_t l = strcspn(name, "\n");
        if (l > 0) {
                v->name = strndup(name, l);
                if (!v->name)
                        abort();
        }
        return 0;
}

int proc_parse_smaps(const char *text, struct proc_vmas *ret) {
        struct proc_vmas vmas = { 0 };
        struct proc_vma *cur = NULL;
        const char *line = text;
        int r = 0;

        while (line && *line) {
                const char *nl = strchr(line, '\n');
                if (is_vma_header(line)) {
                        struct proc_vma v;
                        r = parse_vma_line(line, &v);
                        if (r < 0)
                                goto fail;
                        cur = ARRAY_PUSH(vmas.v, vmas.n, vmas.cap);
                        *cur = v;
                } else if (cur) {
                        unsigned long long kb;
                        if (sscanf(line, "AnonHugePages: %llu kB", &kb) == 1)
                                cur->anon_huge_kb = kb;
                        else if (sscanf(line, "Rss: %llu kB", &kb) == 1)
                                cur->rss_kb = kb;
                        else if (sscanf(line, "Locked: %llu kB", &kb) == 1)
                                cur->locked_kb = kb;
                        else if (sscanf(line, "Swap: %llu kB", &kb) == 1)
                                cur->swap_kb = kb;
                        else if (strncmp(line, "VmFlags:", 8) == 0) {
                                size_t l = nl ? (size_t)(nl - line - 8) : strlen(line + 8);
                                if (l >= sizeof(cur->vmflags))
                                        l = sizeof(cur->vmflags) - 1;
                                memcpy(cur->vmflags, line + 8, l);
                                cur->vmflags[l] = 0;
                        }
                } else if (*line != '\n') {
                        r = -EINVAL;
                        goto fail;
                }
                line = nl ? nl + 1 : NULL;
        }
        *ret = vmas;
        return 0;
fail:
        proc_vmas_done(&vmas);
        return r;
}

int proc_read_smaps(pid_t pid, struct proc_vmas *ret) {
        char path[64];
        _cleanup_free_ char *text = NULL;
        int r;

        snprintf(path, sizeof(path), "/proc/%d/smaps", pid);
        r = read_full_file(path, &text, NULL);
        if (r < 0)
                return r;
        return proc_parse_smaps(text, ret);
}

bool proc_vma_has_flag(const struct proc_vma *v, const char *flag2) {
        for (const char *p = v->vmflags; *p; p++) {
                while (*p == ' ')
                        p++;
                if (p[0] && p[1] && p[0] == flag2[0] && p[1] == flag2[1] && (p[2] == ' ' || p[2] == 0))
                        return true;
                while (*p && *p != ' ')
                        p++;
                if (!*p)
                        break;
        }
        return false;
}

void proc_status_done(struct proc_status *s) {
        free(s->groups);
        s->groups = NULL;
}

int proc_parse_status(const char *text, struct proc_status *ret) {
        struct proc_status s = { .seccomp = 0 };
        const char *line = text;
        int seen = 0;

        while (line && *line) {
                const char *nl = strchr(line, '\n');
                unsigned long long x;
                char st;
                if (sscanf(line, "Name:\t%63[^\n]", s.name) == 1)
                        seen |= 1;
                else if (sscanf(line, "State:\t%c", &st) == 1)
                        s.state = st;
                else if (sscanf(line, "Tgid:\t%d", &s.tgid) == 1) {
                }
                else if (sscanf(line, "Pid:\t%d", &s.pid) == 1) {
                }
                else if (sscanf(line, "PPid:\t%d", &s.ppid) == 1) {
                }
                else if (sscanf(line, "TracerPid:\t%d", &s.tracer_pid) == 1) {
                }
                else if (sscanf(line, "Uid:\t%u\t%u\t%u\t%u", &s.uid[0], &s.uid[1], &s.uid[2], &s.uid[3]) == 4)
                        seen |= 2;
                else if (sscanf(line, "Gid:\t%u\t%u\t%u\t%u", &s.gid[0], &s.gid[1], &s.gid[2], &s.gid[3]) == 4)
                        seen |= 4;
                else if (strncmp(line, "Groups:", 7) == 0) {
                        const char *p = line + 7;
                        size_t cap = 0;
                        /* a second Groups line replaces the first */
                        free(s.groups);
                        s.groups = NULL;
                        s.ngroups = 0;
                        while (p < (nl ? nl : p + strlen(p))) {
                                char *end;
                                while (*p == ' ' || *p == '\t')
                                        p++;
                                if (!isdigit((unsigned char)*p))
                                        break;
                                unsigned long g = strtoul(p, &end, 10);
                                *(uint32_t *)ARRAY_PUSH(s.groups, s.ngroups, cap) = g;
                                p = end;
                        }
                } else if (sscanf(line, "Umask:\t%llo", &x) == 1)
                        s.umask = x;
                else if (sscanf(line, "Threads:\t%d", &s.threads) == 1) {
                }
                else if (sscanf(line, "SigBlk:\t%llx", &x) == 1)
                        s.sig_blk = x;
                else if (sscanf(line, "SigIgn:\t%llx", &x) == 1)
                        s.sig_ign = x;
                else if (sscanf(line, "SigCgt:\t%llx", &x) == 1)
                        s.sig_cgt = x;
                else if (sscanf(line, "SigPnd:\t%llx", &x) == 1)
                        s.sig_pnd = x;
                else if (sscanf(line, "ShdPnd:\t%llx", &x) == 1)
                        s.shd_pnd = x;
                else if (sscanf(line, "CapInh:\t%llx", &x) == 1)
                        s.cap_inh = x;
                else if (sscanf(line, "CapPrm:\t%llx", &x) == 1)
                        s.cap_prm = x;
                else if (sscanf(line, "CapEff:\t%llx", &x) == 1)
                        s.cap_eff = x;
                else if (sscanf(line, "CapBnd:\t%llx", &x) == 1)
                        s.cap_bnd = x;
                else if (sscanf(line, "CapAmb:\t%llx", &x) == 1)
                        s.cap_amb = x;
                else if (sscanf(line, "NoNewPrivs:\t%d", &s.no_new_privs) == 1) {
                }
                else if (sscanf(line, "Seccomp:\t%d", &s.seccomp) == 1) {
                }
                else if (sscanf(line, "Seccomp_filters:\t%d", &s.seccomp_filters) == 1) {
                }
                line = nl ? nl + 1 : NULL;
        }
        if (seen != 7) {
                proc_status_done(&s);
                return -EINVAL;
        }
        *ret = s;
        return 0;
}

int proc_read_status(pid_t pid, pid_t tid, struct proc_status *ret) {
        char path[64];
        _cleanup_free_ char *text = NULL;
        int r;

        snprintf(path, sizeof(path), "/proc/%d/task/%d/status", pid, tid ? tid : pid);
        r = read_full_file(path, &text, NULL);
        if (r < 0)
                return r;
        return proc_parse_status(text, ret);
}

int proc_parse_stat(const char *text, struct proc_stat *ret) {
        struct proc_stat s = { 0 };
        const char *lp = strchr(text, '('), *rp = strrchr(text, ')');
        unsigned long long f[64] = { 0 };
        long long sf[64] = { 0 };
        int n = 0;

        if (!lp || !rp || rp < lp)
                return -EINVAL;
        if (sscanf(text, "%d", &s.pid) != 1)
                return -EINVAL;
        size_t cl = MIN((size_t)(rp - lp - 1), sizeof(s.comm) - 1);
        memcpy(s.comm, lp + 1, cl);
        s.comm[cl] = 0;
        const char *p = rp + 1;
        while (*p == ' ')
                p++;
        if (!*p)
                return -EINVAL;
        s.state = *p++;
        /* fields 4.. ; index i = field number - 4 */
        while (*p && n < 64) {
                char *end;
                while (*p == ' ')
                        p++;
                if (!*p || *p == '\n')
                        break;
                sf[n] = strtoll(p, &end, 10);
                f[n] = strtoull(p, &end, 10);
                if (end == p)
                        return -EINVAL;
                p = end;
                n++;
        }
        if (n < 48)
                return -EINVAL;
#define F(k) f[(k)-4]
#define SF(k) sf[(k)-4]
        s.ppid = SF(4);
        s.pgrp = SF(5);
        s.session = SF(6);
        s.tty_nr = SF(7);
        s.flags = F(9);
        s.priority = SF(18);
        s.nice = SF(19);
        s.num_threads = SF(20);
        s.starttime = F(22);
        s.start_code = F(26);
        s.end_code = F(27);
        s.start_stack = F(28);
        s.exit_signal = SF(38);
        s.rt_priority = F(40);
        s.policy = F(41);
        s.start_data = F(45);
        s.end_data = F(46);
        s.start_brk = F(47);
        s.arg_start = F(48);
        s.arg_end = F(49);
        s.env_start = F(50);
        s.env_end = F(51);
        if (n >= 49)
                s.exit_code = SF(52);
#undef F
#undef SF
        *ret = s;
        return 0;
}

int proc_read_stat(pid_t pid, pid_t tid, struct proc_stat *ret) {
        char path[64];
        _cleanup_free_ char *text = NULL;
        int r;

        snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", pid, tid ? tid : pid);
        r = read_full_file(path, &text, NULL);
        if (r < 0)
                return r;
        return proc_parse_stat(text, ret);
}

void proc_fdinfo_done(struct proc_fdinfo *f) {
        free(f->text);
        f->text = NULL;
}

int proc_parse_fdinfo(const char *text, struct proc_fdinfo *ret) {
        struct proc_fdinfo f = { .mnt_id = -1 };
        const char *line = text;
        int seen = 0;

        while (line && *line) {
                const char *nl = strchr(line, '\n');
                unsigned long long x;
                int i;
                if (sscanf(line, "pos:\t%llu", &x) == 1) {
                        f.pos = x;
                        seen |= 1;
                } else if (sscanf(line, "flags:\t%llo", &x) == 1) {
                        f.flags = x;
                        seen |= 2;
                } else if (sscanf(line, "mnt_id:\t%d", &i) == 1)
                        f.mnt_id = i;
                else if (sscanf(line, "ino:\t%llu", &x) == 1)
                        f.ino = x;
                line = nl ? nl + 1 : NULL;
        }
        if (seen != 3)
                return -EINVAL;
        f.text = xstrdup(text);
        *ret = f;
        return 0;
}

int proc_read_fdinfo(pid_t pid, int fd, struct proc_fdinfo *ret) {
        char path[64];
        _cleanup_free_ char *text = NULL;
        int r;

        snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", pid, fd);
        r = read_full_file(path, &text, NULL);
        if (r < 0)
                return r;
        return proc_parse_fdinfo(text, ret);
}

const char *proc_fdinfo_get(const struct proc_fdinfo *f, const char *key) {
        size_t kl = strlen(key);
        for (const char *line = f->text; line && *line;) {
                if (strncmp(line, key, kl) == 0) {
                        const char *v = line + kl;
                        while (*v == ' ' || *v == '\t')
                                v++;
                        return v;
                }
                line = strchr(line, '\n');
                if (line)
                        line++;
        }
        return NULL;
}

static uint64_t parse_limit_value(const char *s) {
        if (strncmp(s, "unlimited", 9) == 0)
                return RLIM_INFINITY;
        return strtoull(s, NULL, 10);
}

/* The column layout of /proc/PID/limits is fixed-width: name (26), soft (21), hard (21). */
int proc_parse_limits(const char *text, struct proc_limit ret[PROC_NLIMITS]) {
        static const char *const names[PROC_NLIMITS] = {
                "Max cpu time", "Max file size", "Max data size", "Max stack size", "Max core file size",
                "Max resident set", "Max processes", "Max open files", "Max locked memory", "Max address space",
                "Max file locks", "Max pending signals", "Max msgqueue size", "Max nice priority",
                "Max realtime priority", "Max realtime timeout",
        };
        int found = 0;
        for (const char *line = text; line && *line;) {
                for (int i = 0; i < PROC_NLIMITS; i++) {
                        size_t l = strlen(names[i]);
                        if (strncmp(line, names[i], l) == 0 && strlen(line) > 26) {
                                const char *p = line + l;
                                while (*p == ' ')
                                        p++;
                                ret[i].cur = parse_limit_value(p);
                                while (*p && *p != ' ')
                                        p++;
                                while (*p == ' ')
                                        p++;
                                ret[i].max = parse_limit_value(p);
                                found++;
                                break;
                        }
                }
                line = strchr(line, '\n');
                if (line)
                        line++;
        }
        return found == PROC_NLIMITS ? 0 : -EINVAL;
}

int proc_parse_timers(const char *text, struct proc_timer **ret, size_t *ret_n) {
        struct proc_timer *t = NULL, *cur = NULL;
        size_t n = 0, cap = 0;

        for (const char *line = text; line && *line;) {
                int a, b;
                unsigned long long v;
                char notify[16], kind[4];
                if (sscanf(line, "ID: %d", &a) == 1) {
                        cur = ARRAY_PUSH(t, n, cap);
                        *cur = (struct proc_timer){ .id = a };
                } else if (cur && sscanf(line, "signal: %d/%llx", &a, &v) == 2) {
                        cur->signo = a;
                        cur->sigev_value = v;
                } else if (cur && sscanf(line, "notify: %15[^/]/%3[a-z].%d", notify, kind, &b) == 3) {
                        /* "signal|none|thread" / "pid|tid" . number */
                        cur->notify_tid = b;
                        if (strcmp(notify, "signal") == 0)
                                cur->notify = 0; /* SIGEV_SIGNAL */
                        else if (strcmp(notify, "none") == 0)
                                cur->notify = 1; /* SIGEV_NONE */
                        else if (strcmp(notify, "thread") == 0)
                                cur->notify = 2; /* SIGEV_THREAD */
                        else {
                                free(t);
                                return -EINVAL;
                        }
                        if (strcmp(kind, "tid") == 0)
                                cur->notify |= 4; /* SIGEV_THREAD_ID */
                } else if (cur && sscanf(line, "ClockID: %d", &a) == 1)
                        cur->clock_id = a;
                line = strchr(line, '\n');
                if (line)
                        line++;
        }
        *ret = t;
        *ret_n = n;
        return 0;
}

static int cmp_int(const void *a, const void *b) {
        int x = *(const int *)a, y = *(const int *)b;
        return x < y ? -1 : x > y;
}

static int list_dir_numbers(const char *path, int **ret, size_t *ret_n) {
        DIR *d = opendir(path);
        struct dirent *de;
        int *v = NULL;
        size_t n = 0, cap = 0;

        if (!d)
                return -errno;
        while ((de = readdir(d))) {
                int x;
                if (parse_int(de->d_name, &x) == 0)
                        *ARRAY_PUSH(v, n, cap) = x;
        }
        closedir(d);
        if (n)
                qsort(v, n, sizeof(int), cmp_int);
        *ret = v;
        *ret_n = n;
        return 0;
}

int proc_list_tasks(pid_t pid, pid_t **ret, size_t *ret_n) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/task", pid);
        return list_dir_numbers(path, ret, ret_n);
}

int proc_list_fds(pid_t pid, int **ret, size_t *ret_n) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/fd", pid);
        return list_dir_numbers(path, ret, ret_n);
}

int proc_list_children(pid_t pid, pid_t tid, pid_t **ret, size_t *ret_n) {
        char path[96];
        _cleanup_free_ char *text = NULL;
        pid_t *v = NULL;
        size_t n = 0, cap = 0;
        int r;

        snprintf(path, sizeof(path), "/proc/%d/task/%d/children", pid, tid ? tid : pid);
        r = read_full_file(path, &text, NULL);
        if (r < 0)
                return r;
        for (char *p = text; *p;) {
                char *end;
                long x = strtol(p, &end, 10);
                if (end == p)
                        break;
                *ARRAY_PUSH(v, n, cap) = (pid_t)x;
                p = end;
                while (*p == ' ' || *p == '\n')
                        p++;
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

bool proc_link_removed(const char *link, const struct stat *st, char **ret_path) {
        static const char sfx[] = " (deleted)";
        const size_t sl = sizeof(sfx) - 1;
        size_t l = strlen(link);
        struct stat now;

        if (l <= sl || strcmp(link + l - sl, sfx) != 0) {
                *ret_path = xstrdup(link);
                return false;
        }
        /* "x (deleted)" may be the name itself: it is if that path is this
         * very file (a removed file has no name, and its old one carries the
         * suffix only in this text) */
        if (link[0] == '/' && stat(link, &now) == 0 && now.st_dev == st->st_dev && now.st_ino == st->st_ino &&
            !(S_ISREG(st->st_mode) && st->st_nlink == 0)) {
                *ret_path = xstrdup(link);
                return false;
        }
        *ret_path = xstrdup(link);
        (*ret_path)[l - sl] = 0;
        return true;
}
