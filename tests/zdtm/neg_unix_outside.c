/* Refusal: one end of a socketpair held by a process outside the dumped
 * tree (a grandchild that was reparented away).
 * ZDTM: flavours=norestore */
#include <sys/socket.h>
#include <sys/wait.h>

#include "zdtm.h"

int main(int argc, char **argv) {
        zdtm_init(argc, argv);
        int sv[2];
        zdtm_check(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair: %s", strerror(errno));
        pid_t c = fork();
        zdtm_check(c >= 0, "fork");
        if (c == 0) {
                if (fork() == 0) {
                        char b;
                        close(sv[0]);
                        _exit(recv(sv[1], &b, 1, 0) == 1 ? 0 : 1); /* until the workload is done */
                }
                _exit(0);
        }
        waitpid(c, NULL, 0);
        close(sv[1]);
        zdtm_ready();
        zdtm_wait_go();
        if (send(sv[0], "x", 1, MSG_NOSIGNAL) != 1)
                zdtm_fail("send: %s", strerror(errno));
        zdtm_pass();
}
