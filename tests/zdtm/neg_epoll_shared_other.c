/* Refusal: a child shares an epoll but holds another file at a watched fd
 * number (restore could register the wrong file).
 * ZDTM: flavours=norestore */
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/wait.h>

#include "zdtm.h"

int main(int argc, char **argv) {
        zdtm_init(argc, argv);
        int ep = epoll_create1(0);
        int e = eventfd(0, 0);
        struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 7 };
        zdtm_check(ep >= 0 && e >= 0 && epoll_ctl(ep, EPOLL_CTL_ADD, e, &ev) == 0, "setup: %s", strerror(errno));
        pid_t c = fork();
        zdtm_check(c >= 0, "fork");
        if (c == 0) {
                int other = eventfd(1, 0);
                dup2(other, e);
                zdtm_wait_go();
                _exit(0);
        }
        zdtm_ready();
        zdtm_wait_go();
        waitpid(c, NULL, 0);
        zdtm_pass();
}
