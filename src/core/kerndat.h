#pragma once
/* Kernel feature probes ("kerndat"): what this kernel, this CPU and cryo's
 * own privileges allow. Every probe does the real operation (on a child it
 * forks where the operation needs another process) instead of trusting the
 * kernel config, and describes what is lost when the feature is missing.
 *
 * `cryo check` prints all of them; dump and restore may run single probes to
 * decide between code paths (e.g. "timer-restore-ids"). Probes never print:
 * the result carries the explanation. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KERNDAT_DETAIL_MAX 320

struct kerndat_result {
        const char *name;                /* stable short name, e.g. "clone3-set-tid" */
        bool ok;                         /* the feature works */
        char detail[KERNDAT_DETAIL_MAX]; /* what was found, or why it failed */
        const char *disables;            /* what cryo cannot do without it */
        bool need_dump;                  /* a dump cannot work without it */
        bool need_restore;               /* a restore cannot work without it */
        /* a number the engine may want (xsave size, uffd features...), 0 if none */
        uint64_t value;
};

struct kerndat_probe {
        const char *name;
        const char *disables;
        bool need_dump, need_restore;
        /* Fills r->ok, r->detail and r->value; name/disables/need_* are
         * filled by kerndat_run() from this table. */
        void (*run)(struct kerndat_result *r);
};

/* All probes, in display order. */
const struct kerndat_probe *kerndat_probes(size_t *ret_n);
const struct kerndat_probe *kerndat_find(const char *name);
/* Run one probe. Never fails: a failure is a result with ok = false. */
void kerndat_run(const struct kerndat_probe *p, struct kerndat_result *ret);
/* Run every probe; *ret is an array of *ret_n results to free(). */
void kerndat_run_all(struct kerndat_result **ret, size_t *ret_n);
/* Is anything needed by dump or restore missing? */
bool kerndat_all_needed_ok(const struct kerndat_result *r, size_t n);

/* XCR0 feature bits as names ("x87 SSE AVX AVX-512 PKRU ..."), for check
 * and inspect. Writes at most len bytes, always NUL-terminated. */
void kerndat_xfeatures_str(uint64_t xcr0, char *buf, size_t len);
