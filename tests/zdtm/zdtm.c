#include "zdtm.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

const char *zdtm_dir;

void zdtm_init(int argc, char **argv) {
        if (argc < 2) {
                fprintf(stderr, "usage: %s DIR\n", argv[0]);
                exit(2);
        }
        zdtm_dir = argv[1];
}

const char *zdtm_path(const char *name) {
        static char buf[4][4096];
        static int slot;
        char *b = buf[slot++ % 4];
        snprintf(b, sizeof(buf[0]), "%s/%s", zdtm_dir, name);
        return b;
}

static void write_file(const char *name, const char *text) {
        char tmp[4200];
        snprintf(tmp, sizeof(tmp), "%s.tmp", zdtm_path(name));
        int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                _exit(3);
        if (write(fd, text, strlen(text)) < 0)
                _exit(3);
        close(fd);
        rename(tmp, zdtm_path(name));
}

void zdtm_ready(void) {
        write_file("ready", "ready\n");
}

static bool go_exists(void) {
        struct stat st;
        return stat(zdtm_path("go"), &st) == 0;
}

void zdtm_wait_go(void) {
        while (!go_exists()) {
                struct timespec ts = { 0, 5 * 1000 * 1000 };
                nanosleep(&ts, NULL);
        }
}

void zdtm_wait_go_busy(void (*fn)(void *), void *arg) {
        while (!go_exists())
                fn(arg);
}

void zdtm_pass(void) {
        write_file("result", "PASS\n");
        exit(0);
}

void zdtm_fail(const char *fmt, ...) {
        char msg[2048], line[2100];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        snprintf(line, sizeof(line), "FAIL: %s\n", msg);
        write_file("result", line);
        exit(1);
}
