#pragma once
/* Logging: one global configuration (the only global state in cryo), levels,
 * a per-file prefix (define LOG_PREFIX before including), %m support, and
 * log_*_errno(r, ...) helpers that return r so errors are logged and
 * propagated in one step. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>

enum log_level { LOG_ERR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3, LOG_LEVEL_MAX };

#ifndef LOG_PREFIX
#define LOG_PREFIX ""
#endif

void log_setup(int level, const char *file); /* file: NULL = stderr only */
int log_get_level(void);
/* level of detail written to the log file (default: same as stderr) */
void log_setup_file_level(int level);
int log_internal(int level, int err, const char *prefix, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
/* The first error message of a run, for the one-line CLI report. */
const char *log_first_error(void);
/* Move the log file's fd to >= min_fd (restore needs the low numbers). */
int log_relocate(int min_fd);
/* Stop writing to stderr (a restored process's fd 2 is no longer cryo's). */
void log_disable_stderr(void);

#define log_full_errno(lvl, err, ...) log_internal((lvl), (err), LOG_PREFIX, __VA_ARGS__)
#define log_error(...) log_full_errno(LOG_ERR, 0, __VA_ARGS__)
#define log_warn(...) log_full_errno(LOG_WARN, 0, __VA_ARGS__)
#define log_info(...) log_full_errno(LOG_INFO, 0, __VA_ARGS__)
#define log_debug(...) log_full_errno(LOG_DEBUG, 0, __VA_ARGS__)
/* These return -abs(r): `return log_error_errno(r, "...: %m");` */
#define log_error_errno(r, ...) log_full_errno(LOG_ERR, (r), __VA_ARGS__)
#define log_warn_errno(r, ...) log_full_errno(LOG_WARN, (r), __VA_ARGS__)
#define log_debug_errno(r, ...) log_full_errno(LOG_DEBUG, (r), __VA_ARGS__)
