#pragma once
/* Option handling shared by the subcommands. */
#include <getopt.h>
#include <stdbool.h>

struct common_opts {
        int verbosity;     /* -v: CRIU's scale, 0 none .. 4 debug; default 2 */
        const char *log_file;
};

#define COMMON_LONG_OPTS                                                                                               \
        { "log-file", required_argument, NULL, 'o' }, { "verbosity", optional_argument, NULL, 'v' },                  \
        { "help", no_argument, NULL, 'h' }
#define COMMON_SHORT_OPTS "o:v::h"

/* handles -o/-v; returns 1 if consumed */
int common_opt(struct common_opts *o, int c, const char *arg);
void common_setup_log(const struct common_opts *o);
/* Print the first recorded error (or fallback) as the one line on failure. */
int report_failure(int r, const char *what);
