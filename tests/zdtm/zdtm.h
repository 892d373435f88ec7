#pragma once
/* Self-checking workloads. Protocol (driven by tests/run.py):
 *   WORKLOAD DIR      -- DIR is the test's scratch directory
 * The workload sets up its state and records what it expects, then calls
 * zdtm_ready() (creates DIR/ready). The runner dumps it, kills it, restores
 * it, and creates DIR/go. zdtm_wait_go() polls for DIR/go (every 5 ms, with
 * nanosleep, so the workload is usually caught inside a syscall); the
 * workload then verifies every piece of its state and ends with
 * zdtm_pass() or zdtm_fail("precise reason"), which write DIR/result
 * ("PASS" or "FAIL: ...") and exit 0 / 1. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern const char *zdtm_dir;

void zdtm_init(int argc, char **argv);
/* path inside DIR (static buffer rotated over 4 slots) */
const char *zdtm_path(const char *name);
void zdtm_ready(void);
void zdtm_wait_go(void);
/* like zdtm_wait_go() but busy: calls fn(arg) between polls (for workloads
 * that must be running, not sleeping, when frozen) */
void zdtm_wait_go_busy(void (*fn)(void *), void *arg);
__attribute__((noreturn)) void zdtm_pass(void);
__attribute__((noreturn, format(printf, 1, 2))) void zdtm_fail(const char *fmt, ...);
/* for workloads that fail during set-up (not a C/R failure, but still FAIL) */
#define zdtm_check(cond, ...)                                                                                          \
        do {                                                                                                           \
                if (!(cond))                                                                                           \
                        zdtm_fail(__VA_ARGS__);                                                                        \
        } while (0)
