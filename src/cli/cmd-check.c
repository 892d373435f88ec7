/* cryo check: run the kernel feature probes (core/kerndat.c) and print what
 * works, what is missing and what a missing feature disables. Exit 0 when
 * everything dump and restore need is present. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "basic/json.h"
#include "basic/log.h"
#include "basic/util.h"
#include "cli/cli.h"
#include "cli/common.h"
#include "core/kerndat.h"

static void check_usage(FILE *f) {
        fprintf(f,
                "Usage: cryo check [--json] [--feature NAME]...\n"
                "\n"
                "Probe, for real, the kernel features cryo uses (each probe performs the\n"
                "operation, most on a child process) and report what is missing and what that\n"
                "disables. Exit status 0 when everything needed for dump and restore is\n"
                "present, 1 otherwise; with --feature, 0 when all the named features work.\n"
                "\n"
                "Options:\n"
                "      --json              print a JSON array of results\n"
                "      --feature NAME      check only NAME (repeatable; 'list' lists the names)\n"
                "  -o, --log-file FILE     write a detailed log to FILE\n"
                "  -v[N]                   verbosity 0..4 (default 2)\n"
                "  -h, --help              this help\n");
}

static const char *needed_str(const struct kerndat_result *r) {
        if (r->need_dump && r->need_restore)
                return "dump,restore";
        if (r->need_dump)
                return "dump";
        if (r->need_restore)
                return "restore";
        return "-";
}

static void print_table(const struct kerndat_result *r, size_t n) {
        printf("%-19s %-8s %-13s %s\n", "FEATURE", "STATUS", "NEEDED FOR", "DETAIL");
        for (size_t i = 0; i < n; i++) {
                printf("%-19s %-8s %-13s %s\n", r[i].name, r[i].ok ? "ok" : "MISSING", needed_str(&r[i]), r[i].detail);
                if (!r[i].ok)
                        printf("%-19s %-8s %-13s disables: %s\n", "", "", "", r[i].disables);
        }
}

static void print_summary(const struct kerndat_result *r, size_t n) {
        bool dump = true, restore = true;
        size_t optional = 0;

        for (size_t i = 0; i < n; i++) {
                if (r[i].ok)
                        continue;
                dump &= !r[i].need_dump;
                restore &= !r[i].need_restore;
                optional += !r[i].need_dump && !r[i].need_restore;
        }
        printf("\n");
        if (dump && restore)
                printf("Looks good: cryo can dump and restore on this system");
        else
                printf("cryo cannot %s on this system", !dump && !restore ? "dump or restore" : !dump ? "dump" : "restore");
        if (optional) {
                printf(" (%zu optional feature%s missing:", optional, optional > 1 ? "s" : "");
                for (size_t i = 0; i < n; i++)
                        if (!r[i].ok && !r[i].need_dump && !r[i].need_restore)
                                printf(" %s", r[i].name);
                printf(")");
        }
        printf(".\n");
}

static void print_json(const struct kerndat_result *r, size_t n) {
        struct json j;
        json_init(&j, stdout);
        json_arr_open(&j, NULL);
        for (size_t i = 0; i < n; i++) {
                json_obj_open(&j, NULL);
                json_str(&j, "name", r[i].name);
                json_str(&j, "status", r[i].ok ? "ok" : "MISSING");
                json_bool(&j, "ok", r[i].ok);
                json_str(&j, "detail", r[i].detail);
                json_str(&j, "disables", r[i].disables);
                json_bool(&j, "needed_for_dump", r[i].need_dump);
                json_bool(&j, "needed_for_restore", r[i].need_restore);
                json_uint(&j, "value", r[i].value);
                json_obj_close(&j);
        }
        json_arr_close(&j);
}

static void list_features(FILE *f) {
        size_t n;
        const struct kerndat_probe *p = kerndat_probes(&n);
        for (size_t i = 0; i < n; i++)
                fprintf(f, "%-19s without it: %s\n", p[i].name, p[i].disables);
}

int cmd_check(int argc, char **argv) {
        static const struct option longopts[] = {
                { "json", no_argument, NULL, 'J' },
                { "feature", required_argument, NULL, 'F' },
                COMMON_LONG_OPTS,
                {},
        };
        struct common_opts co = { .verbosity = 2 };
        _cleanup_free_ const struct kerndat_probe **sel = NULL;
        _cleanup_free_ struct kerndat_result *res = NULL;
        size_t nsel = 0, csel = 0, nres = 0;
        bool json = false;
        int c, r;

        optind = 1;
        while ((c = getopt_long(argc, argv, COMMON_SHORT_OPTS, longopts, NULL)) != -1) {
                if (common_opt(&co, c, optarg))
                        continue;
                switch (c) {
                case 'J':
                        json = true;
                        break;
                case 'F': {
                        if (strcmp(optarg, "list") == 0) {
                                list_features(stdout);
                                return 0;
                        }
                        const struct kerndat_probe *p = kerndat_find(optarg);
                        if (!p) {
                                fprintf(stderr, "cryo check: unknown feature '%s'; known features:\n", optarg);
                                list_features(stderr);
                                return 2;
                        }
                        *ARRAY_PUSH(sel, nsel, csel) = p;
                        break;
                }
                case 'h':
                        check_usage(stdout);
                        return 0;
                default:
                        check_usage(stderr);
                        return 2;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "cryo check: unexpected argument '%s'\n", argv[optind]);
                check_usage(stderr);
                return 2;
        }
        common_setup_log(&co);

        if (nsel) {
                res = xzalloc(sizeof(*res) * nsel);
                for (size_t i = 0; i < nsel; i++)
                        kerndat_run(sel[i], &res[i]);
                nres = nsel;
        } else
                kerndat_run_all(&res, &nres);

        if (json)
                print_json(res, nres);
        else {
                print_table(res, nres);
                if (!nsel)
                        print_summary(res, nres);
        }

        if (nsel) {
                r = 0;
                for (size_t i = 0; i < nres; i++)
                        if (!res[i].ok)
                                r = 1;
                return r;
        }
        return kerndat_all_needed_ok(res, nres) ? 0 : 1;
}
