/* Refusal: an epoll registration whose fd number was closed while the file
 * lives on under another number.
 * ZDTM: flavours=norestore */
#include <sys/epoll.h>
#include <sys/eventfd.h>

#include "zdtm.h"

int main(int argc, char **argv) {
        zdtm_init(argc, argv);
        int ep = epoll_create1(0);
        int e = eventfd(1, 0);
        struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 7 };
        zdtm_check(ep >= 0 && e >= 0 && epoll_ctl(ep, EPOLL_CTL_ADD, e, &ev) == 0, "setup: %s", strerror(errno));
        int e2 = dup(e);
        close(e);
        zdtm_ready();
        zdtm_wait_go();
        if (epoll_wait(ep, &ev, 1, 0) != 1 || ev.data.u64 != 7)
                zdtm_fail("the registration is gone");
        (void)e2;
        zdtm_pass();
}
