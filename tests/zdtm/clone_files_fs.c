/* A child created with clone(CLONE_FILES | CLONE_FS) shares its parent's fd
 * table and cwd/root/umask; after restore they must still be shared: an fd
 * the child opens appears in the parent, one the parent closes vanishes for
 * the child, and the child's chdir()/umask() change the parent's. */
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "zdtm.h"

static char stack[256 * 1024];
static int cmd[2], ack[2];
static char subdir[4096];

static int child(void *arg) {
        (void)arg;
        char c;
        /* step 1: open a file at a known number; step 2: chdir + umask */
        while (read(cmd[0], &c, 1) == 1) {
                if (c == 'o') {
                        int fd = open("/dev/null", O_RDONLY);
                        if (fd < 0 || dup2(fd, 200) != 200)
                                _exit(10);
                        close(fd);
                } else if (c == 'c') {
                        if (chdir(subdir) < 0)
                                _exit(11);
                        umask(0027);
                } else if (c == 'q')
                        _exit(0);
                if (write(ack[1], "k", 1) != 1)
                        _exit(12);
        }
        _exit(13);
}

int main(int argc, char **argv) {
        zdtm_init(argc, argv);
        snprintf(subdir, sizeof(subdir), "%s", zdtm_path("sub"));
        zdtm_check(mkdir(subdir, 0700) == 0 || errno == EEXIST, "mkdir: %m");
        zdtm_check(pipe(cmd) == 0 && pipe(ack) == 0, "pipe");
        umask(0022);
        pid_t c = clone(child, stack + sizeof(stack), CLONE_FILES | CLONE_FS | SIGCHLD, NULL);
        zdtm_check(c > 0, "clone: %m");
        zdtm_ready();
        zdtm_wait_go();
        char k;
        if (fcntl(200, F_GETFD) >= 0)
                zdtm_fail("fd 200 exists before the child opened it");
        if (write(cmd[1], "o", 1) != 1 || read(ack[0], &k, 1) != 1)
                zdtm_fail("child did not answer");
        if (fcntl(200, F_GETFD) < 0)
                zdtm_fail("the fd the child opened is not in our table: the fd table is no longer shared");
        if (write(cmd[1], "c", 1) != 1 || read(ack[0], &k, 1) != 1)
                zdtm_fail("child did not answer");
        char cwd[4096];
        if (!getcwd(cwd, sizeof(cwd)) || strcmp(cwd, subdir) != 0)
                zdtm_fail("the child's chdir did not move us (cwd %s): fs info no longer shared", cwd);
        mode_t m = umask(0);
        if (m != 0027)
                zdtm_fail("the child's umask did not reach us (%03o)", m);
        if (write(cmd[1], "q", 1) != 1)
                zdtm_fail("write");
        int st;
        if (waitpid(c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
                zdtm_fail("child exited with %#x", st);
        zdtm_pass();
}
