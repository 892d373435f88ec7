/* libFuzzer target: every /proc parser of src/basic/proc.c on arbitrary text.
 * Built by tests/fuzz/build.sh (clang -fsanitize=fuzzer,address,undefined). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "basic/log.h"
#include "basic/proc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static int init;
        if (!init) {
                log_setup(LOG_ERR, NULL);
                init = 1;
        }
        char *text = malloc(size + 1);
        memcpy(text, data, size);
        text[size] = 0;

        struct proc_vmas v = { 0 };
        if (proc_parse_smaps(text, &v) == 0) {
                for (size_t i = 0; i < v.n; i++)
                        (void)proc_vma_has_flag(&v.v[i], "dc");
                proc_vmas_done(&v);
        }
        struct proc_status st;
        if (proc_parse_status(text, &st) == 0)
                proc_status_done(&st);
        struct proc_stat ps;
        (void)proc_parse_stat(text, &ps);
        struct proc_fdinfo fi;
        if (proc_parse_fdinfo(text, &fi) == 0) {
                (void)proc_fdinfo_get(&fi, "eventfd-count:");
                (void)proc_fdinfo_get(&fi, "tfd:");
                (void)proc_fdinfo_get(&fi, "");
                proc_fdinfo_done(&fi);
        }
        struct proc_limit lim[PROC_NLIMITS];
        (void)proc_parse_limits(text, lim);
        struct proc_timer *t = NULL;
        size_t n = 0;
        if (proc_parse_timers(text, &t, &n) == 0)
                free(t);
        free(text);
        return 0;
}
