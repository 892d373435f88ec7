#pragma once
/* Helpers shared by the sk_* socket workloads. */
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "zdtm.h"

/* an address in the scratch dir, or an abstract one ("@name") */
static inline socklen_t sk_addr(struct sockaddr_un *a, const char *name) {
        memset(a, 0, sizeof(*a));
        a->sun_family = AF_UNIX;
        if (name[0] == '@') {
                size_t n = strlen(name + 1);
                memcpy(a->sun_path + 1, name + 1, n);
                return offsetof(struct sockaddr_un, sun_path) + 1 + n;
        }
        size_t n = strlen(name);
        zdtm_check(n < sizeof(a->sun_path), "socket path too long: %s", name);
        memcpy(a->sun_path, name, n + 1);
        return offsetof(struct sockaddr_un, sun_path) + strlen(a->sun_path) + 1;
}

static inline void sk_send(int fd, const void *p, size_t n, const char *what) {
        zdtm_check(send(fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)n, "%s: send %zu: %s", what, n,
                   strerror(errno));
}

/* the next message: exactly these bytes */
static inline void sk_expect_msg(int fd, const void *want, size_t n, const char *what) {
        static unsigned char buf[1 << 17];
        ssize_t r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (r < 0)
                zdtm_fail("%s: recv: %s (queued data lost?)", what, strerror(errno));
        if ((size_t)r != n)
                zdtm_fail("%s: message of %zd bytes, expected %zu (boundaries lost?)", what, r, n);
        if (memcmp(buf, want, n) != 0)
                zdtm_fail("%s: message contents differ", what);
}

/* n bytes of a stream, waiting up to a second for each piece */
static inline void sk_expect_stream(int fd, const void *want, size_t n, const char *what) {
        unsigned char *buf = malloc(n + 1);
        size_t got = 0;
        while (got < n) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                if (poll(&p, 1, 2000) <= 0)
                        zdtm_fail("%s: only %zu of %zu bytes arrived", what, got, n);
                ssize_t r = recv(fd, buf + got, n - got, MSG_DONTWAIT);
                if (r <= 0)
                        zdtm_fail("%s: recv after %zu of %zu bytes: %zd %s", what, got, n, r, r < 0 ? strerror(errno) : "EOF");
                got += r;
        }
        if (memcmp(buf, want, n) != 0)
                zdtm_fail("%s: stream contents differ", what);
        free(buf);
}

static inline void sk_expect_empty(int fd, const char *what) {
        char c;
        ssize_t r = recv(fd, &c, 1, MSG_DONTWAIT);
        if (r >= 0 || errno != EAGAIN)
                zdtm_fail("%s: expected an empty queue, recv returned %zd (%s)", what, r, r < 0 ? strerror(errno) : "");
}

static inline int sk_getint(int fd, int level, int opt) {
        int v = -12345;
        socklen_t l = sizeof(v);
        getsockopt(fd, level, opt, &v, &l);
        return v;
}

/* getsockname/getpeername as "@abstract", "/path" or "" (static, 2 slots) */
static inline const char *sk_name(int fd, bool peer) {
        static char out[2][sizeof(((struct sockaddr_un *)0)->sun_path) + 2];
        static int slot;
        char *o = out[slot++ & 1];
        struct sockaddr_un a = {};
        socklen_t l = sizeof(a);
        o[0] = 0;
        if ((peer ? getpeername(fd, (struct sockaddr *)&a, &l) : getsockname(fd, (struct sockaddr *)&a, &l)) < 0)
                return "(error)";
        size_t n = l > offsetof(struct sockaddr_un, sun_path) ? l - offsetof(struct sockaddr_un, sun_path) : 0;
        if (n == 0)
                return o;
        if (a.sun_path[0] == 0) {
                o[0] = '@';
                memcpy(o + 1, a.sun_path + 1, n - 1);
                o[n] = 0;
        } else
                snprintf(o, sizeof(out[0]), "%s", a.sun_path);
        return o;
}

static inline void sk_check_name(int fd, bool peer, const char *want, const char *what) {
        const char *got = sk_name(fd, peer);
        if (strcmp(got, want) != 0)
                zdtm_fail("%s: %s is '%s', expected '%s'", what, peer ? "getpeername" : "getsockname", got, want);
}
