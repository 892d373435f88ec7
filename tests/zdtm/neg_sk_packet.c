/* Refusal: a packet socket (AF_PACKET, bound to lo). The dump must fail
 * with one line naming the pid, the fd and the socket kind, and leave the
 * workload running untouched.
 * ZDTM: flavours=norestore refuse="packet socket" */
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <sys/socket.h>

#include "zdtm.h"

int main(int argc, char **argv) {
        zdtm_init(argc, argv);
        int s = socket(AF_PACKET, SOCK_DGRAM, htons(ETH_P_IP));
        zdtm_check(s >= 0, "socket(AF_PACKET): %s", strerror(errno));
        struct sockaddr_ll a = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_IP),
                                 .sll_ifindex = (int)if_nametoindex("lo") };
        zdtm_check(bind(s, (struct sockaddr *)&a, sizeof(a)) == 0, "bind: %s", strerror(errno));
        zdtm_ready();
        zdtm_wait_go();
        int type = 0;
        socklen_t l = sizeof(type);
        if (getsockopt(s, SOL_SOCKET, SO_TYPE, &type, &l) < 0 || type != SOCK_DGRAM)
                zdtm_fail("the packet socket is gone");
        zdtm_pass();
}
