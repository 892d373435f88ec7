/* Memory workload for bench/: maps SIZE MiB of private anonymous memory,
 * fills every 8-byte word with a value derived from its address, reports
 * ready (DIR/ready) and waits for DIR/go, then verifies every word and
 * writes DIR/result (PASS or FAIL) -- so a benchmark run is also a
 * byte-exact round-trip check. Usage: memload DIR SIZE_MIB [nchildren] */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "benchproto.h"

static uint64_t pattern(uint64_t addr) {
        uint64_t x = addr * 0x9E3779B97F4A7C15ULL;
        return x ^ (x >> 29);
}

static int verify(uint64_t *m, size_t words) {
        for (size_t i = 0; i < words; i++)
                if (m[i] != pattern((uint64_t)(uintptr_t)&m[i]))
                        return 0;
        return 1;
}

int main(int argc, char **argv) {
        if (argc < 3) {
                fprintf(stderr, "usage: memload DIR SIZE_MIB [NCHILDREN]\n");
                return 2;
        }
        dir = argv[1];
        size_t size = strtoull(argv[2], NULL, 10) << 20;
        int nchild = argc > 3 ? atoi(argv[3]) : 0;
        /* split the memory over the parent and its children */
        size_t part = size / (nchild + 1);
        part &= ~4095UL;
        int idx = 0;
        pid_t kids[64];
        for (int i = 1; i <= nchild && i < 64; i++) {
                pid_t p = fork();
                if (p == 0) {
                        idx = i;
                        break;
                }
                kids[i] = p;
        }
        uint64_t *m = mmap(NULL, part, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
        if (m == MAP_FAILED)
                return 3;
        size_t words = part / 8;
        for (size_t i = 0; i < words; i++)
                m[i] = pattern((uint64_t)(uintptr_t)&m[i]);
        if (idx == 0) {
                /* children are ready when they have filled; a simple barrier via files */
                for (int i = 1; i <= nchild; i++) {
                        char n[32];
                        snprintf(n, sizeof(n), "ready.%d", i);
                        while (!exists(n))
                                usleep(1000);
                }
                put("ready", "ready\n");
        } else {
                char n[32];
                snprintf(n, sizeof(n), "ready.%d", idx);
                put(n, "ready\n");
        }
        wait_go();
        int ok = verify(m, words);
        if (idx != 0)
                return ok ? 0 : 1;
        for (int i = 1; i <= nchild; i++) {
                int st;
                if (waitpid(kids[i], &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
                        ok = 0;
        }
        put("result", ok ? "PASS\n" : "FAIL: memory differs after restore\n");
        return ok ? 0 : 1;
}
