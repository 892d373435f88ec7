/* cryo: checkpoint/restore for Linux process trees. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "config.h"

static void usage(FILE *f) {
        fprintf(f,
                "Usage: cryo COMMAND [OPTIONS]\n"
                "\n"
                "Checkpoint a running process tree into image files and restore it later,\n"
                "with the same PIDs, memory, registers, files and kernel state.\n"
                "\n"
                "Commands:\n"
                "  dump -t PID -D DIR      checkpoint the tree rooted at PID into DIR\n"
                "  pre-dump -t PID -D DIR  copy memory while the tree keeps running (not yet implemented)\n"
                "  restore -D DIR          restore the tree saved in DIR\n"
                "  check                   probe the kernel features cryo needs\n"
                "  inspect DIR             show what a checkpoint contains\n"
                "  page-server             serve pages over the network (not yet implemented)\n"
                "\n"
                "Run 'cryo COMMAND --help' for the options of a command; see cryo(1).\n");
}

int main(int argc, char **argv) {
        if (argc < 2) {
                usage(stderr);
                return 2;
        }
        const char *cmd = argv[1];
        if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
                usage(stdout);
                return 0;
        }
        if (!strcmp(cmd, "-V") || !strcmp(cmd, "--version")) {
                printf("cryo %s\n", CRYO_VERSION);
                return 0;
        }
        argv++;
        argc--;
        if (!strcmp(cmd, "dump"))
                return cmd_dump(argc, argv);
        if (!strcmp(cmd, "pre-dump"))
                return cmd_pre_dump(argc, argv);
        if (!strcmp(cmd, "restore"))
                return cmd_restore(argc, argv);
        if (!strcmp(cmd, "check"))
                return cmd_check(argc, argv);
        if (!strcmp(cmd, "inspect"))
                return cmd_inspect(argc, argv);
        if (!strcmp(cmd, "page-server"))
                return cmd_page_server(argc, argv);
        fprintf(stderr, "cryo: unknown command '%s' (see 'cryo --help')\n", cmd);
        return 2;
}
