/* Refusal: a socketpair with an epoll instance in flight (SCM_RIGHTS): its
 * registrations name fd numbers of a process, and no process holds it.
 * Files of the kinds cryo can dump are saved in flight (sk_unix_seqpacket).
 * ZDTM: flavours=norestore refuse="epoll|anon_inode" */
#include <sys/epoll.h>
#include <sys/socket.h>

#include "zdtm.h"

int main(int argc, char **argv) {
        zdtm_init(argc, argv);
        int sv[2];
        zdtm_check(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) == 0, "socketpair: %s", strerror(errno));
        int ep = epoll_create1(0);
        zdtm_check(ep >= 0, "epoll_create1: %s", strerror(errno));
        char c = 'x', cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
        struct iovec iov = { &c, 1 };
        struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
        struct cmsghdr *h = CMSG_FIRSTHDR(&m);
        h->cmsg_level = SOL_SOCKET;
        h->cmsg_type = SCM_RIGHTS;
        h->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(h), &ep, sizeof(int));
        zdtm_check(sendmsg(sv[0], &m, 0) == 1, "sendmsg: %s", strerror(errno));
        close(ep);
        zdtm_ready();
        zdtm_wait_go();
        char rc;
        char rcbuf[CMSG_SPACE(sizeof(int))];
        struct iovec riov = { &rc, 1 };
        struct msghdr r = { .msg_iov = &riov, .msg_iovlen = 1, .msg_control = rcbuf, .msg_controllen = sizeof(rcbuf) };
        if (recvmsg(sv[1], &r, MSG_DONTWAIT) != 1 || !CMSG_FIRSTHDR(&r) || CMSG_FIRSTHDR(&r)->cmsg_type != SCM_RIGHTS)
                zdtm_fail("the message with the fd is gone (did a refused dump consume it?)");
        zdtm_pass();
}
