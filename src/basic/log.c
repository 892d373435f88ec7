#include "log.h"

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX(a, b) ((a) > (b) ? (a) : (b))

static int log_level = LOG_WARN;
static FILE *log_file;
static int file_level = -1;
static bool stderr_off;
static char first_error[2048];

void log_setup(int level, const char *file) {
        log_level = level;
        if (file) {
                FILE *f = fopen(file, "ae");
                if (f) {
                        setvbuf(f, NULL, _IOLBF, 0);
                        log_file = f;
                } else
                        fprintf(stderr, "cryo: cannot open log file '%s': %m\n", file);
        }
}

void log_setup_file_level(int level) {
        file_level = level;
}

int log_get_level(void) {
        return log_level;
}

const char *log_first_error(void) {
        return first_error[0] ? first_error : NULL;
}

/* Expand %m ourselves with the given error so callers can pass r < 0. */
static void expand_m(char *out, size_t n, const char *fmt, int err) {
        size_t o = 0;
        for (const char *p = fmt; *p && o + 1 < n; p++) {
                if (p[0] == '%' && p[1] == '%') {
                        if (o + 2 < n) {
                                out[o++] = '%';
                                out[o++] = '%';
                        }
                        p++;
                } else if (p[0] == '%' && p[1] == 'm') {
                        const char *s = strerror(err);
                        size_t l = strlen(s);
                        for (size_t i = 0; i < l && o + 1 < n; i++)
                                out[o++] = s[i] == '%' ? ' ' : s[i];
                        p++;
                } else
                        out[o++] = *p;
        }
        out[o] = 0;
}

int log_internal(int level, int err, const char *prefix, const char *fmt, ...) {
        int saved = errno;
        if (err < 0)
                err = -err;
        int e = err ? err : saved;
        char f2[1024], msg[2048];
        va_list ap;

        if (level > log_level && level > file_level && (level != LOG_ERR || first_error[0]))
                goto out;
        expand_m(f2, sizeof(f2), fmt, e);
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), f2, ap);
        va_end(ap);
        if (level == LOG_ERR && !first_error[0])
                snprintf(first_error, sizeof(first_error), "%s", msg);
        /* Errors are reported once by the CLI (log_first_error()); echo them
         * here only in verbose mode so a failure prints exactly one line. */
        if (!stderr_off && level <= log_level && (level != LOG_ERR || log_level >= LOG_INFO))
                fprintf(stderr, "cryo: %s%s\n", level <= LOG_ERR ? "" : prefix, msg);
        if (log_file && level <= MAX(file_level, log_level)) {
                struct timespec ts;
                clock_gettime(CLOCK_MONOTONIC, &ts);
                fprintf(log_file, "(%5ld.%06ld) %d %s%s\n", (long)ts.tv_sec, ts.tv_nsec / 1000, (int)getpid(),
                        prefix, msg);
        }
out:
        errno = saved;
        return err ? -err : -EIO;
}

int log_relocate(int min_fd) {
        if (!log_file || fileno(log_file) >= min_fd)
                return 0;
        int nfd = fcntl(fileno(log_file), F_DUPFD_CLOEXEC, min_fd);
        if (nfd < 0)
                return -errno;
        FILE *f = fdopen(nfd, "a");
        if (!f) {
                close(nfd);
                return -errno;
        }
        setvbuf(f, NULL, _IOLBF, 0);
        fclose(log_file);
        log_file = f;
        return 0;
}

void log_disable_stderr(void) {
        stderr_off = true;
}
