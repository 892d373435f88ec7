/* placeholder */
#include "cli/cli.h"
int cmd_inspect(int argc, char **argv) {
        return 1;
}
