#pragma once
/* Cleanup and small helpers in the systemd style: _cleanup_ attributes,
 * TAKE_PTR/TAKE_FD, fds initialised to -EBADF, -errno returns. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _packed_ __attribute__((packed))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define PAGE_SIZE_ 4096UL
#define ALIGN_UP(x, a) (((x) + (a) - 1) & ~((__typeof__(x))(a) - 1))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

static inline void freep(void *p) {
        free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(freep)

static inline int safe_close(int fd) {
        if (fd >= 0) {
                int saved = errno;
                close(fd);
                errno = saved;
        }
        return -EBADF;
}
static inline void closep(int *fd) {
        safe_close(*fd);
}
#define _cleanup_close_ _cleanup_(closep)

static inline void fclosep(FILE **f) {
        if (*f)
                fclose(*f);
}
#define _cleanup_fclose_ _cleanup_(fclosep)

#define TAKE_PTR(p)                                                                                                    \
        ({                                                                                                             \
                __typeof__(p) _p = (p);                                                                                \
                (p) = NULL;                                                                                            \
                _p;                                                                                                    \
        })
#define TAKE_FD(fd)                                                                                                    \
        ({                                                                                                             \
                int _fd = (fd);                                                                                        \
                (fd) = -EBADF;                                                                                         \
                _fd;                                                                                                   \
        })

/* libc -1/errno -> -errno, at the call site */
#define NEG_ERRNO(expr) ((expr) < 0 ? -errno : 0)
static inline int neg_errno(void) {
        return errno > 0 ? -errno : -EIO;
}

void *xzalloc(size_t n);
void *xrealloc_array(void *p, size_t n, size_t sz);
char *xstrdup(const char *s);
/* Grow an array of elements to hold at least n+1 entries. */
#define ARRAY_PUSH(arr, n, cap)                                                                                        \
        ({                                                                                                             \
                if ((n) >= (cap)) {                                                                                    \
                        (cap) = (cap) ? (cap) * 2 : 16;                                                                \
                        (arr) = xrealloc_array((arr), (cap), sizeof(*(arr)));                                          \
                }                                                                                                      \
                &(arr)[(n)++];                                                                                         \
        })

int read_full_file(const char *path, char **ret, size_t *ret_len);
int write_all(int fd, const void *buf, size_t len);
int pwrite_all(int fd, const void *buf, size_t len, off_t off);
int read_all(int fd, void *buf, size_t len);
int pread_all(int fd, void *buf, size_t len, off_t off);
int write_string_file(const char *path, const char *s);
int parse_int(const char *s, int *ret);
int parse_u64(const char *s, uint64_t *ret);
