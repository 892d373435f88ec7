/* Refusal: a socketpair with a file descriptor in flight (SCM_RIGHTS).
 * ZDTM: flavours=norestore */
#include <sys/socket.h>

#include "zdtm.h"

int main(int argc, char **argv) {
        zdtm_init(argc, argv);
        int sv[2];
        zdtm_check(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) == 0, "socketpair: %s", strerror(errno));
        char c = 'x', cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
        struct iovec iov = { &c, 1 };
        struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
        struct cmsghdr *h = CMSG_FIRSTHDR(&m);
        h->cmsg_level = SOL_SOCKET;
        h->cmsg_type = SCM_RIGHTS;
        h->cmsg_len = CMSG_LEN(sizeof(int));
        int one = 1;
        memcpy(CMSG_DATA(h), &one, sizeof(int));
        zdtm_check(sendmsg(sv[0], &m, 0) == 1, "sendmsg: %s", strerror(errno));
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
