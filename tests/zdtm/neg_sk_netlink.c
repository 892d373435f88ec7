/* Refusal: a netlink socket (NETLINK_ROUTE, bound). The dump must fail with
 * one line naming the pid, the fd and "netlink", and leave the workload
 * running untouched.
 * ZDTM: flavours=norestore refuse="netlink" */
#include <linux/netlink.h>
#include <sys/socket.h>

#include "zdtm.h"

int main(int argc, char **argv) {
        zdtm_init(argc, argv);
        int s = socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
        zdtm_check(s >= 0, "socket(AF_NETLINK): %s", strerror(errno));
        struct sockaddr_nl a = { .nl_family = AF_NETLINK };
        zdtm_check(bind(s, (struct sockaddr *)&a, sizeof(a)) == 0, "bind: %s", strerror(errno));
        zdtm_ready();
        zdtm_wait_go();
        int proto = -1;
        socklen_t l = sizeof(proto);
        if (getsockopt(s, SOL_SOCKET, SO_PROTOCOL, &proto, &l) < 0 || proto != NETLINK_ROUTE)
                zdtm_fail("the netlink socket is gone");
        zdtm_pass();
}
