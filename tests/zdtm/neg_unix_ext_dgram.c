/* Refusal: a unix datagram socket connected to a path bound outside the
 * tree, dumped without --ext-unix-sk: one line naming the pid, the fd and
 * the option.
 * ZDTM: flavours=norestore refuse="--ext-unix-sk" */
#include <sys/wait.h>

#include "sk_common.h"

int main(int argc, char **argv) {
        char path[200];
        zdtm_init(argc, argv);
        snprintf(path, sizeof(path), "%s", zdtm_path("log.sock"));
        unlink(path);
        struct sockaddr_un a;
        socklen_t l = sk_addr(&a, path);
        int rp[2];
        zdtm_check(pipe(rp) == 0, "pipe");
        pid_t k = fork();
        zdtm_check(k >= 0, "fork");
        if (k == 0) {
                if (fork() == 0) {
                        setsid();
                        int s = socket(AF_UNIX, SOCK_DGRAM, 0);
                        if (s < 0 || bind(s, (struct sockaddr *)&a, l) < 0 || write(rp[1], "r", 1) != 1)
                                _exit(1);
                        char buf[16];
                        struct pollfd p = { .fd = s, .events = POLLIN };
                        poll(&p, 1, 20000);
                        recv(s, buf, sizeof(buf), MSG_DONTWAIT);
                        unlink(path);
                        _exit(0);
                }
                _exit(0);
        }
        waitpid(k, NULL, 0);
        char c;
        zdtm_check(read(rp[0], &c, 1) == 1, "the outside server did not start");
        int s = socket(AF_UNIX, SOCK_DGRAM, 0);
        zdtm_check(connect(s, (struct sockaddr *)&a, l) == 0, "connect: %s", strerror(errno));
        zdtm_ready();
        zdtm_wait_go();
        sk_send(s, "bye", 3, "client");
        zdtm_pass();
}
