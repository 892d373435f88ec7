#include "cli/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/log.h"
#include "basic/util.h"

int common_opt(struct common_opts *o, int c, const char *arg) {
        switch (c) {
        case 'o':
                o->log_file = arg;
                return 1;
        case 'v':
                if (arg) {
                        char *end;
                        long v = strtol(arg, &end, 10);
                        if (*end || v < 0) {
                                /* -vvv style */
                                o->verbosity = 2 + (int)strspn(arg, "v") + 1;
                        } else
                                o->verbosity = (int)v;
                } else
                        o->verbosity++;
                return 1;
        }
        return 0;
}

void common_setup_log(const struct common_opts *o) {
        /* CRIU scale: 0 nothing, 1 errors, 2 warnings, 3 info, 4 debug */
        int v = o->verbosity;
        int level = v <= 1 ? LOG_ERR : v == 2 ? LOG_WARN : v == 3 ? LOG_INFO : LOG_DEBUG;
        /* As with CRIU: with -o the detail goes to the file (all of it), and
         * stderr keeps only warnings and the one-line error of a failure. */
        log_setup(o->log_file ? MIN(level, LOG_WARN) : level, o->log_file);
        if (o->log_file)
                log_setup_file_level(LOG_DEBUG);
}

int report_failure(int r, const char *what) {
        const char *e = log_first_error();
        if (e && log_get_level() >= LOG_INFO)
                return 1; /* already on stderr */
        if (e)
                fprintf(stderr, "cryo: %s\n", e);
        else
                fprintf(stderr, "cryo: %s failed: %s\n", what, strerror(r < 0 ? -r : r));
        return 1;
}
