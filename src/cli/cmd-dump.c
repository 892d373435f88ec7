/* cryo dump / pre-dump */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/log.h"
#include "basic/util.h"
#include "cli/cli.h"
#include "cli/common.h"
#include "core/dump.h"

enum {
        OPT_TCP = 1000,
        OPT_EXT_UNIX,
        OPT_FILE_LOCKS,
        OPT_PREV,
        OPT_UNSUPPORTED,
        OPT_TRACK_MEM,
};

static void dump_usage(FILE *f, const char *name) {
        fprintf(f,
                "Usage: cryo %s -t PID -D DIR [OPTIONS]\n"
                "\n"
                "Checkpoint the process tree rooted at PID (all its descendants and threads)\n"
                "into the directory DIR. The tree is frozen (ptrace), saved, then killed -- or\n"
                "resumed with -R. Anything cryo cannot save faithfully is refused with a\n"
                "one-line error and the tree keeps running untouched. The root must lead its\n"
                "own session (setsid), or be a daemon whose session leader exited, unless -j.\n"
                "('cryo pre-dump' is not implemented yet: it refuses with exit status 2.)\n"
                "\n"
                "Options:\n"
                "  -t, --tree PID          root of the tree to checkpoint\n"
                "  -D, --images-dir DIR    where to write the images (created if missing)\n"
                "  -R, --leave-running     resume the tree after the checkpoint\n"
                "  -j, --shell-job         the tree belongs to a shell job: its session and\n"
                "                          process group (and terminal) are outside the tree\n"
                "      --tcp-established   checkpoint established TCP connections (TCP repair); they\n"
                "                          stay locked (cryo-tcp-lock, at most 15 min) until restore\n"
                "      --ext-unix-sk       allow unix datagram sockets connected to a name outside the\n"
                "                          tree (restore connects them to that name again)\n"
                "      --file-locks        checkpoint file locks (flock, POSIX, OFD); without it a\n"
                "                          tree holding a lock is refused\n"
                "      --track-mem         accepted for CRIU compatibility, no effect\n"
                "      --prev-images-dir D images of a previous pre-dump (not yet implemented)\n"
                "      --root, --ext-mount-map, --manage-cgroups, --evasive-devices\n"
                "                          not yet implemented (refused, exit status 2)\n"
                "  -o, --log-file FILE     write a detailed log to FILE\n"
                "  -v[N]                   verbosity 0..4 (default 2)\n"
                "  -h, --help              this help\n",
                name);
}

static int dump_main(int argc, char **argv, bool pre) {
        static const struct option longopts[] = {
                { "tree", required_argument, NULL, 't' },
                { "images-dir", required_argument, NULL, 'D' },
                { "leave-running", no_argument, NULL, 'R' },
                { "shell-job", no_argument, NULL, 'j' },
                { "tcp-established", no_argument, NULL, OPT_TCP },
                { "ext-unix-sk", no_argument, NULL, OPT_EXT_UNIX },
                { "file-locks", no_argument, NULL, OPT_FILE_LOCKS },
                { "prev-images-dir", required_argument, NULL, OPT_PREV },
                { "track-mem", no_argument, NULL, OPT_TRACK_MEM },
                { "root", required_argument, NULL, OPT_UNSUPPORTED },
                { "ext-mount-map", required_argument, NULL, OPT_UNSUPPORTED },
                { "manage-cgroups", optional_argument, NULL, OPT_UNSUPPORTED },
                { "evasive-devices", no_argument, NULL, OPT_UNSUPPORTED },
                COMMON_LONG_OPTS,
                {},
        };
        struct dump_opts o = { .pid = 0 };
        struct common_opts co = { .verbosity = 2 };
        const char *name = pre ? "pre-dump" : "dump";
        int c, r;

        opterr = 0;
        int longidx = 0;
        while ((c = getopt_long(argc, argv, "t:D:Rj" COMMON_SHORT_OPTS, longopts, &longidx)) != -1) {
                if (common_opt(&co, c, optarg))
                        continue;
                switch (c) {
                case 't':
                        if (parse_int(optarg, &o.pid) < 0 || o.pid <= 0) {
                                fprintf(stderr, "cryo: invalid pid '%s'\n", optarg);
                                return 2;
                        }
                        break;
                case 'D':
                        o.dir = optarg;
                        break;
                case 'R':
                        o.leave_running = true;
                        break;
                case 'j':
                        o.shell_job = true;
                        break;
                case OPT_TCP:
                        o.tcp_established = true;
                        break;
                case OPT_EXT_UNIX:
                        o.ext_unix_sk = true;
                        break;
                case OPT_FILE_LOCKS:
                        o.file_locks = true;
                        break;
                case OPT_TRACK_MEM:
                        break;
                case OPT_PREV:
                        o.prev_images_dir = optarg;
                        break;
                case OPT_UNSUPPORTED:
                        fprintf(stderr, "cryo: option '--%s' is not implemented yet\n", longopts[longidx].name);
                        return 2;
                case 'h':
                        dump_usage(stdout, name);
                        return 0;
                default:
                        fprintf(stderr, "cryo: unknown or incomplete option '%s' (see 'cryo %s --help')\n",
                                argv[optind - 1], name);
                        return 2;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "cryo: unexpected argument '%s'\n", argv[optind]);
                return 2;
        }
        if (!o.pid || !o.dir) {
                fprintf(stderr, "cryo: %s needs -t PID and -D DIR (see 'cryo %s --help')\n", name, name);
                return 2;
        }
        if (pre) {
                fprintf(stderr, "cryo: pre-dump is not implemented yet\n");
                return 2;
        }
        if (o.prev_images_dir) {
                fprintf(stderr, "cryo: --prev-images-dir is not implemented yet\n");
                return 2;
        }
        common_setup_log(&co);
        r = cryo_dump(&o);
        if (r < 0)
                return report_failure(r, "dump");
        return 0;
}

int cmd_dump(int argc, char **argv) {
        return dump_main(argc, argv, false);
}

int cmd_pre_dump(int argc, char **argv) {
        return dump_main(argc, argv, true);
}

int cmd_page_server(int argc, char **argv) {
        fprintf(stderr, "cryo: page-server is not implemented yet\n");
        return 2;
}
