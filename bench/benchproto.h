#pragma once
/* The ready/go/result protocol of the bench workloads (the same as the test
 * workloads': DIR/ready when set up, wait for DIR/go, DIR/result). */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

static const char *dir;

static inline void put(const char *name, const char *text) {
        char p[4096], t[4200];
        snprintf(p, sizeof(p), "%s/%s", dir, name);
        snprintf(t, sizeof(t), "%s.tmp", p);
        FILE *f = fopen(t, "w");
        if (!f)
                exit(3);
        fputs(text, f);
        fclose(f);
        rename(t, p);
}

static inline int exists(const char *name) {
        char p[4096];
        struct stat st;
        snprintf(p, sizeof(p), "%s/%s", dir, name);
        return stat(p, &st) == 0;
}

static inline void wait_go(void) {
        while (!exists("go")) {
                struct timespec ts = { 0, 2000000 };
                nanosleep(&ts, NULL);
        }
}
