#pragma once
/* Checks shared by the fd_* workloads. */
#include <fcntl.h>

#include "zdtm.h"

/* readlink /proc/self/fd/FD into a static buffer ("" if not open) */
static inline const char *fd_link(int fd) {
        static char l[4096];
        char p[64];
        snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
        ssize_t n = readlink(p, l, sizeof(l) - 1);
        l[n > 0 ? n : 0] = 0;
        return l;
}

/* fd is open, is what the link says (prefix match), and has these flags */
static inline void fd_check(int fd, const char *link_prefix, bool nonblock, bool cloexec, const char *what) {
        int fl = fcntl(fd, F_GETFL), fdfl = fcntl(fd, F_GETFD);
        if (fl < 0 || fdfl < 0)
                zdtm_fail("%s: fd %d is not open after restore", what, fd);
        if (link_prefix && strncmp(fd_link(fd), link_prefix, strlen(link_prefix)) != 0)
                zdtm_fail("%s: fd %d is '%s', expected '%s...'", what, fd, fd_link(fd), link_prefix);
        if (!!(fl & O_NONBLOCK) != nonblock)
                zdtm_fail("%s: O_NONBLOCK is %s, expected %s", what, fl & O_NONBLOCK ? "on" : "off",
                          nonblock ? "on" : "off");
        if (!!(fdfl & FD_CLOEXEC) != cloexec)
                zdtm_fail("%s: FD_CLOEXEC is %s, expected %s", what, fdfl & FD_CLOEXEC ? "on" : "off",
                          cloexec ? "on" : "off");
}

/* the value after "key" in /proc/self/fdinfo/FD (static buffer, "" if none) */
static inline const char *fd_info(int fd, const char *key) {
        static char buf[65536], val[256];
        char p[64];
        snprintf(p, sizeof(p), "/proc/self/fdinfo/%d", fd);
        int f = open(p, O_RDONLY | O_CLOEXEC);
        ssize_t n = f < 0 ? -1 : read(f, buf, sizeof(buf) - 1);
        if (f >= 0)
                close(f);
        buf[n > 0 ? n : 0] = 0;
        val[0] = 0;
        for (char *line = buf; line && *line;) {
                if (strncmp(line, key, strlen(key)) == 0) {
                        char *v = line + strlen(key);
                        while (*v == ' ' || *v == '\t')
                                v++;
                        size_t l = strcspn(v, "\n");
                        if (l >= sizeof(val))
                                l = sizeof(val) - 1;
                        memcpy(val, v, l);
                        val[l] = 0;
                        break;
                }
                line = strchr(line, '\n');
                if (line)
                        line++;
        }
        return val;
}
