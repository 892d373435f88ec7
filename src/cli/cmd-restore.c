/* cryo restore */
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "basic/log.h"
#include "basic/util.h"
#include "cli/cli.h"
#include "cli/common.h"
#include "core/restore.h"

enum { OPT_INHERIT = 1000, OPT_PIDFILE, OPT_TCP, OPT_FILE_LOCKS, OPT_UNSUPPORTED };

static void restore_usage(FILE *f) {
        fprintf(f,
                "Usage: cryo restore -D DIR [OPTIONS]\n"
                "\n"
                "Restore the process tree saved in DIR with its original PIDs and TIDs. Every\n"
                "image is verified (checksums, versions, checkpoint id, free PIDs) before any\n"
                "process is created. Without -d cryo waits for the restored root and exits\n"
                "with its status (128+N if signal N killed it).\n"
                "\n"
                "Options:\n"
                "  -D, --images-dir DIR      the checkpoint to restore\n"
                "  -d, --restore-detached    return as soon as the tree runs\n"
                "      --pidfile FILE        write the root's pid to FILE\n"
                "  -j, --shell-job           restore into cryo's own session, process group and\n"
                "                            terminal (needed for a checkpoint dumped with -j)\n"
                "      --inherit-fd fd[N]:KEY  use cryo's fd N for the external resource KEY\n"
                "                            (e.g. pipe:[1234], as the dump reported it)\n"
                "      --file-locks          accepted for CRIU compatibility, no effect (saved locks\n"
                "                            are always restored)\n"
                "      --tcp-established     restore established TCP connections (needed if the\n"
                "                            checkpoint has any)\n"
                "      --root, --ext-mount-map, --manage-cgroups, --evasive-devices\n"
                "                            not yet implemented (refused, exit status 2)\n"
                "  -o, --log-file FILE       write a detailed log to FILE\n"
                "  -v[N]                     verbosity 0..4 (default 2)\n"
                "  -h, --help                this help\n");
}

int cmd_restore(int argc, char **argv) {
        static const struct option longopts[] = {
                { "images-dir", required_argument, NULL, 'D' },
                { "restore-detached", no_argument, NULL, 'd' },
                { "shell-job", no_argument, NULL, 'j' },
                { "pidfile", required_argument, NULL, OPT_PIDFILE },
                { "inherit-fd", required_argument, NULL, OPT_INHERIT },
                { "tcp-established", no_argument, NULL, OPT_TCP },
                { "file-locks", no_argument, NULL, OPT_FILE_LOCKS },
                { "root", required_argument, NULL, OPT_UNSUPPORTED },
                { "ext-mount-map", required_argument, NULL, OPT_UNSUPPORTED },
                { "manage-cgroups", optional_argument, NULL, OPT_UNSUPPORTED },
                { "evasive-devices", no_argument, NULL, OPT_UNSUPPORTED },
                COMMON_LONG_OPTS,
                {},
        };
        struct restore_opts o = { .dir = NULL };
        struct common_opts co = { .verbosity = 2 };
        size_t cinherit = 0;
        int c, r;

        opterr = 0;
        int longidx = 0;
        while ((c = getopt_long(argc, argv, "D:dj" COMMON_SHORT_OPTS, longopts, &longidx)) != -1) {
                if (common_opt(&co, c, optarg))
                        continue;
                switch (c) {
                case 'D':
                        o.dir = optarg;
                        break;
                case 'd':
                        o.detach = true;
                        break;
                case 'j':
                        o.shell_job = true;
                        break;
                case OPT_PIDFILE:
                        o.pidfile = optarg;
                        break;
                case OPT_TCP:
                        o.tcp_established = true;
                        break;
                case OPT_FILE_LOCKS:
                        break; /* locks in the images are always restored */
                case OPT_INHERIT: {
                        int fd;
                        char *colon = strchr(optarg, ':');
                        if (strncmp(optarg, "fd[", 3) != 0 || !colon || colon[-1] != ']' ||
                            sscanf(optarg, "fd[%d]", &fd) != 1 || fd < 0 || !colon[1]) {
                                fprintf(stderr, "cryo: --inherit-fd wants fd[N]:KEY, got '%s'\n", optarg);
                                return 2;
                        }
                        struct inherit_fd *in = ARRAY_PUSH(o.inherit, o.ninherit, cinherit);
                        in->fd = fd;
                        in->key = colon + 1;
                        break;
                }
                case OPT_UNSUPPORTED:
                        fprintf(stderr, "cryo: option '--%s' is not implemented yet\n", longopts[longidx].name);
                        return 2;
                case 'h':
                        restore_usage(stdout);
                        return 0;
                default:
                        fprintf(stderr, "cryo: unknown or incomplete option '%s' (see 'cryo restore --help')\n",
                                argv[optind - 1]);
                        return 2;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "cryo: unexpected argument '%s'\n", argv[optind]);
                return 2;
        }
        if (!o.dir) {
                fprintf(stderr, "cryo: restore needs -D DIR (see 'cryo restore --help')\n");
                return 2;
        }
        common_setup_log(&co);
        r = cryo_restore(&o);
        free(o.inherit);
        if (r < 0)
                return report_failure(r, "restore");
        if (o.detach)
                return 0;
        /* wait for the root like a parent would, and exit as it did. A shell
         * job in the foreground of cryo's terminal that stops (^Z) stops
         * cryo too, so the shell gets the terminal back; when the shell
         * continues cryo, the job continues (with the terminal if cryo got it). */
        int st, tty = o.shell_job ? open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC) : -1;
        pid_t job_pg = tty >= 0 ? getpgid(r) : -1;
        bool proxy = job_pg > 0 && job_pg != getpgrp() && tcgetpgrp(tty) == job_pg;
        for (;;) {
                pid_t p = waitpid(r, &st, proxy ? WUNTRACED : 0);
                if (p < 0 && errno == EINTR)
                        continue;
                if (p < 0) {
                        fprintf(stderr, "cryo: cannot wait for pid %d: %m\n", r);
                        return 1;
                }
                if (proxy && WIFSTOPPED(st)) {
                        sigset_t ttou, old;
                        sigemptyset(&ttou);
                        sigaddset(&ttou, SIGTTOU);
                        sigprocmask(SIG_BLOCK, &ttou, &old);
                        if (tcgetpgrp(tty) == job_pg)
                                tcsetpgrp(tty, getpgrp());
                        raise(SIGTSTP);
                        if (tcgetpgrp(tty) == getpgrp())
                                tcsetpgrp(tty, job_pg);
                        sigprocmask(SIG_SETMASK, &old, NULL);
                        kill(-job_pg, SIGCONT);
                        continue;
                }
                break;
        }
        if (tty >= 0)
                close(tty);
        if (WIFEXITED(st))
                return WEXITSTATUS(st);
        if (WIFSIGNALED(st))
                return 128 + WTERMSIG(st);
        return 1;
}
