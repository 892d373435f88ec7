#include "util.h"

#include <fcntl.h>
#include <limits.h>

void *xzalloc(size_t n) {
        void *p = calloc(1, n ? n : 1);
        if (!p)
                abort();
        return p;
}

void *xrealloc_array(void *p, size_t n, size_t sz) {
        void *q = reallocarray(p, n ? n : 1, sz);
        if (!q)
                abort();
        return q;
}

char *xstrdup(const char *s) {
        char *r = strdup(s ? s : "");
        if (!r)
                abort();
        return r;
}

int read_full_file(const char *path, char **ret, size_t *ret_len) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        _cleanup_free_ char *buf = NULL;
        size_t len = 0, cap = 0;

        if (fd < 0)
                return -errno;
        for (;;) {
                if (cap - len < 4096) {
                        cap = cap ? cap * 2 : 8192;
                        buf = xrealloc_array(buf, cap, 1);
                }
                ssize_t n = read(fd, buf + len, cap - len - 1);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                len += n;
        }
        if (!buf)
                buf = xzalloc(1);
        buf[len] = 0;
        *ret = TAKE_PTR(buf);
        if (ret_len)
                *ret_len = len;
        return 0;
}

int write_all(int fd, const void *buf, size_t len) {
        const char *p = buf;
        while (len > 0) {
                ssize_t n = write(fd, p, len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        return -EIO;
                p += n;
                len -= n;
        }
        return 0;
}

int pwrite_all(int fd, const void *buf, size_t len, off_t off) {
        const char *p = buf;
        while (len > 0) {
                ssize_t n = pwrite(fd, p, len, off);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        return -EIO;
                p += n;
                len -= n;
                off += n;
        }
        return 0;
}

int read_all(int fd, void *buf, size_t len) {
        char *p = buf;
        while (len > 0) {
                ssize_t n = read(fd, p, len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        return -ENODATA;
                p += n;
                len -= n;
        }
        return 0;
}

int pread_all(int fd, void *buf, size_t len, off_t off) {
        char *p = buf;
        while (len > 0) {
                ssize_t n = pread(fd, p, len, off);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        return -ENODATA;
                p += n;
                len -= n;
                off += n;
        }
        return 0;
}

int write_string_file(const char *path, const char *s) {
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        return write_all(fd, s, strlen(s));
}

int parse_int(const char *s, int *ret) {
        char *end;
        long v;
        if (!s || !*s)
                return -EINVAL;
        errno = 0;
        v = strtol(s, &end, 10);
        if (errno || *end || v < INT_MIN || v > INT_MAX)
                return -EINVAL;
        *ret = (int)v;
        return 0;
}

int parse_u64(const char *s, uint64_t *ret) {
        char *end;
        unsigned long long v;
        if (!s || !*s || *s == '-')
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 0);
        if (errno || *end)
                return -EINVAL;
        *ret = v;
        return 0;
}
