#pragma once
/* A tiny TAP producer: ok()/is_int()/is_str() print "ok N - what" or
 * "not ok N - what" with a diagnostic; tap_done() prints the plan and
 * returns the exit status (1 if anything failed). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int tap_n, tap_failed;

static int tap_ok(int cond, const char *file, int line, const char *what) {
        tap_n++;
        printf("%sok %d - %s\n", cond ? "" : "not ", tap_n, what);
        if (!cond) {
                tap_failed++;
                printf("#   failed at %s:%d\n", file, line);
        }
        fflush(stdout);
        return cond;
}

#define ok(cond, what) tap_ok(!!(cond), __FILE__, __LINE__, (what))
#define is_int(got, want, what)                                                                                        \
        do {                                                                                                           \
                long long g_ = (long long)(got), w_ = (long long)(want);                                               \
                if (!tap_ok(g_ == w_, __FILE__, __LINE__, (what)))                                                     \
                        printf("#   got %lld (%#llx), expected %lld (%#llx)\n", g_, (unsigned long long)g_, w_,         \
                               (unsigned long long)w_);                                                                \
        } while (0)
#define is_u64(got, want, what)                                                                                        \
        do {                                                                                                           \
                unsigned long long g_ = (unsigned long long)(got), w_ = (unsigned long long)(want);                    \
                if (!tap_ok(g_ == w_, __FILE__, __LINE__, (what)))                                                     \
                        printf("#   got %llu (%#llx), expected %llu (%#llx)\n", g_, g_, w_, w_);                       \
        } while (0)
#define is_str(got, want, what)                                                                                        \
        do {                                                                                                           \
                const char *g_ = (got), *w_ = (want);                                                                  \
                if (!tap_ok(g_ && w_ ? strcmp(g_, w_) == 0 : g_ == w_, __FILE__, __LINE__, (what)))                    \
                        printf("#   got \"%s\", expected \"%s\"\n", g_ ? g_ : "(null)", w_ ? w_ : "(null)");           \
        } while (0)

static int tap_done(void) {
        printf("1..%d\n", tap_n);
        if (tap_failed)
                printf("# %d of %d failed\n", tap_failed, tap_n);
        return tap_failed ? 1 : 0;
}
