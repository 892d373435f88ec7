/* Resource limits across C/R: soft and hard limits of many resources are
 * lowered to distinctive values; all 16 limits (changed or not) must be the
 * same after restore. */
#include "zdtm.h"

#include <sys/resource.h>

static const char *const names[RLIM_NLIMITS] = {
        "CPU", "FSIZE", "DATA", "STACK", "CORE", "RSS", "NPROC", "NOFILE",
        "MEMLOCK", "AS", "LOCKS", "SIGPENDING", "MSGQUEUE", "NICE", "RTPRIO", "RTTIME",
};

static void fmt(char *b, size_t n, rlim_t v) {
        if (v == RLIM_INFINITY)
                snprintf(b, n, "unlimited");
        else
                snprintf(b, n, "%llu", (unsigned long long)v);
}

int main(int argc, char **argv) {
        zdtm_init(argc, argv);
        const struct {
                int res;
                rlim_t cur, max;
        } set[] = {
                { RLIMIT_CPU, 10000, 20000 },
                { RLIMIT_FSIZE, 1ull << 40, 2ull << 40 },
                { RLIMIT_DATA, 3ull << 30, 5ull << 30 },
                { RLIMIT_STACK, 6ull << 20, 100ull << 20 },
                { RLIMIT_CORE, 0, 12345678 },
                { RLIMIT_RSS, 1ull << 30, 2ull << 30 },
                { RLIMIT_NPROC, 4321, 5432 },
                { RLIMIT_NOFILE, 777, 888 },
                { RLIMIT_MEMLOCK, 65536, 131072 },
                { RLIMIT_AS, 6ull << 30, 7ull << 30 },
                { RLIMIT_LOCKS, 1000, 2000 },
                { RLIMIT_SIGPENDING, 3000, 4000 },
                { RLIMIT_MSGQUEUE, 400000, 800000 },
                { RLIMIT_NICE, 3, 4 },
                { RLIMIT_RTPRIO, 1, 2 },
                { RLIMIT_RTTIME, 1000000, 2000000 },
        };
        struct rlimit want[RLIM_NLIMITS];
        for (size_t i = 0; i < sizeof(set) / sizeof(set[0]); i++) {
                struct rlimit cur;
                getrlimit(set[i].res, &cur);
                struct rlimit rl = { set[i].cur, set[i].max };
                if (cur.rlim_max != RLIM_INFINITY && rl.rlim_max > cur.rlim_max)
                        rl.rlim_max = cur.rlim_max; /* cannot raise (no CAP_SYS_RESOURCE) */
                if (rl.rlim_cur > rl.rlim_max)
                        rl.rlim_cur = rl.rlim_max;
                zdtm_check(setrlimit(set[i].res, &rl) == 0, "setrlimit(%s): %m", names[set[i].res]);
        }
        for (int r = 0; r < RLIM_NLIMITS; r++)
                getrlimit(r, &want[r]);

        zdtm_ready();
        zdtm_wait_go();

        for (int r = 0; r < RLIM_NLIMITS; r++) {
                struct rlimit got;
                char a[32], b[32], c[32], d[32];
                getrlimit(r, &got);
                if (got.rlim_cur != want[r].rlim_cur || got.rlim_max != want[r].rlim_max) {
                        fmt(a, 32, got.rlim_cur);
                        fmt(b, 32, got.rlim_max);
                        fmt(c, 32, want[r].rlim_cur);
                        fmt(d, 32, want[r].rlim_max);
                        zdtm_fail("RLIMIT_%s is %s/%s, expected %s/%s", names[r], a, b, c, d);
                }
        }
        zdtm_pass();
}
