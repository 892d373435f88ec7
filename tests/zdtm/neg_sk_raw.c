/* Refusal: a raw IPv4 socket (ICMP). The dump must fail with one line
 * naming the pid, the fd and "raw", and leave the workload running.
 * ZDTM: flavours=norestore refuse="raw ipv4 socket" */
#include <netinet/in.h>
#include <sys/socket.h>

#include "zdtm.h"

int main(int argc, char **argv) {
        zdtm_init(argc, argv);
        int s = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
        zdtm_check(s >= 0, "socket(SOCK_RAW): %s", strerror(errno));
        zdtm_ready();
        zdtm_wait_go();
        int type = 0;
        socklen_t l = sizeof(type);
        if (getsockopt(s, SOL_SOCKET, SO_TYPE, &type, &l) < 0 || type != SOCK_RAW)
                zdtm_fail("the raw socket is gone");
        zdtm_pass();
}
