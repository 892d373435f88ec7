#pragma once
/* Parsers for /proc files. Pure functions over text where possible so they
 * can be unit-tested and fuzzed; the *_read() wrappers read the files. */
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct proc_vma {
        uint64_t start, end, pgoff;
        uint32_t prot;   /* PROT_* */
        bool shared;     /* 's' in maps */
        uint32_t dev_major, dev_minor;
        uint64_t ino;
        char *name;      /* path or [heap]/[stack]/[vdso]/..., NULL for plain anonymous */
        /* from smaps */
        char vmflags[128]; /* "rd wr mr mw me ac" ... as printed */
        uint64_t anon_huge_kb, rss_kb, locked_kb, swap_kb;
};

struct proc_vmas {
        struct proc_vma *v;
        size_t n, cap;
};

void proc_vmas_done(struct proc_vmas *vmas);
/* Parses /proc/PID/smaps text (or maps text: then smaps fields stay 0). */
int proc_parse_smaps(const char *text, struct proc_vmas *ret);
int proc_read_smaps(pid_t pid, struct proc_vmas *ret);
bool proc_vma_has_flag(const struct proc_vma *v, const char *flag2); /* e.g. "gd", "dc", "hg" */

struct proc_status {
        char name[64];
        char state;
        pid_t tgid, pid, ppid, tracer_pid;
        uint32_t uid[4], gid[4]; /* real, effective, saved, fs */
        uint32_t *groups;
        size_t ngroups;
        uint64_t cap_inh, cap_prm, cap_eff, cap_bnd, cap_amb;
        uint64_t sig_blk, sig_ign, sig_cgt, sig_pnd, shd_pnd;
        uint32_t umask;
        int threads;
        int no_new_privs;
        int seccomp;
        int seccomp_filters;
};

void proc_status_done(struct proc_status *s);
int proc_parse_status(const char *text, struct proc_status *ret);
int proc_read_status(pid_t pid, pid_t tid, struct proc_status *ret);

struct proc_stat {
        pid_t pid;
        char comm[64];
        char state;
        pid_t ppid, pgrp, session;
        int tty_nr;
        unsigned long flags;
        long priority, nice, num_threads;
        int exit_signal;
        uint32_t rt_priority, policy;
        uint64_t start_code, end_code, start_stack, start_data, end_data, start_brk;
        uint64_t arg_start, arg_end, env_start, env_end;
        unsigned long long starttime;
        int exit_code; /* field 52: wait status of a zombie */
};

int proc_parse_stat(const char *text, struct proc_stat *ret);
int proc_read_stat(pid_t pid, pid_t tid, struct proc_stat *ret);

/* /proc/PID/fdinfo/FD: "key:\tvalue" lines; kind-specific lines repeat */
struct proc_fdinfo {
        uint64_t pos;
        uint32_t flags; /* octal in the file */
        int mnt_id;
        uint64_t ino;
        char *text;     /* the whole file, for kind-specific parsing */
};

void proc_fdinfo_done(struct proc_fdinfo *f);
int proc_parse_fdinfo(const char *text, struct proc_fdinfo *ret);
int proc_read_fdinfo(pid_t pid, int fd, struct proc_fdinfo *ret);
/* Finds the first line starting with key (e.g. "eventfd-count:") and returns
 * a pointer to the value after it, or NULL. */
const char *proc_fdinfo_get(const struct proc_fdinfo *f, const char *key);

struct proc_limit {
        uint64_t cur, max; /* RLIM_INFINITY for unlimited */
};
#define PROC_NLIMITS 16
int proc_parse_limits(const char *text, struct proc_limit ret[PROC_NLIMITS]);

struct proc_timer {
        int id;
        int signo;
        uint64_t sigev_value;
        int notify;     /* SIGEV_* */
        int notify_tid; /* for SIGEV_THREAD_ID */
        int clock_id;
};
int proc_parse_timers(const char *text, struct proc_timer **ret, size_t *ret_n);

/* pids of /proc/PID/task */
int proc_list_tasks(pid_t pid, pid_t **ret, size_t *ret_n);
/* numbers in /proc/PID/task/TID/children */
int proc_list_children(pid_t pid, pid_t tid, pid_t **ret, size_t *ret_n);
/* open fds of /proc/PID/fd, sorted */
int proc_list_fds(pid_t pid, int **ret, size_t *ret_n);

struct stat;
/* The text of a /proc/PID/{fd/N,cwd,root,exe,map_files/...} link names a
 * removed file with " (deleted)" appended -- unless that suffix is part of
 * the file's real name. st is the file itself (fstat of it, or stat through
 * the link). Returns true if the file was removed; *ret_path (malloc'ed) is
 * the path without the kernel's suffix. */
bool proc_link_removed(const char *link, const struct stat *st, char **ret_path);
