/* Plain-copy baselines for bench/: the same number of bytes written to and
 * read back from a file in the same directory, as an ordinary program would.
 * Usage: baseline FILE SIZE_MIB  -> prints "write S  read_reuse S  read_fresh S" */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
        if (argc < 3)
                return 2;
        size_t size = strtoull(argv[2], NULL, 10) << 20, CH = 1 << 20;
        uint64_t *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
        if (m == MAP_FAILED)
                return 3;
        for (size_t i = 0; i < size / 8; i++)
                m[i] = (i * 0x9E3779B97F4A7C15ULL) ^ i;
        unlink(argv[1]);
        int fd = open(argv[1], O_RDWR | O_CREAT | O_TRUNC, 0600);
        if (fd < 0)
                return 3;
        double t = now();
        for (size_t off = 0; off < size; off += CH)
                if (write(fd, (char *)m + off, CH) != (ssize_t)CH)
                        return 4;
        double w = now() - t;
        munmap(m, size);
        char *buf = malloc(CH);
        t = now();
        for (size_t off = 0; off < size; off += CH)
                if (pread(fd, buf, CH, off) != (ssize_t)CH)
                        return 5;
        double rr = now() - t;
        t = now();
        char *dst = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
        for (size_t off = 0; off < size; off += CH)
                if (pread(fd, dst + off, CH, off) != (ssize_t)CH)
                        return 5;
        double rf = now() - t;
        printf("write %.3f read_reuse %.3f read_fresh %.3f\n", w, rr, rf);
        close(fd);
        unlink(argv[1]);
        return 0;
}
