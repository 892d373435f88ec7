/* Refusal: an established TCP connection on 127.0.0.1 (both ends in this
 * process) dumped without --tcp-established: the dump must fail with one
 * line naming the pid and the connection, and leave the workload running
 * untouched -- the connection still carries data both ways afterwards.
 * ZDTM: flavours=norestore refuse="--tcp-established" */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "zdtm.h"

int main(int argc, char **argv) {
        zdtm_init(argc, argv);
        int s = socket(AF_INET, SOCK_STREAM, 0);
        zdtm_check(s >= 0, "socket: %m");
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        zdtm_check(bind(s, (struct sockaddr *)&a, sizeof(a)) == 0, "bind: %m");
        zdtm_check(listen(s, 5) == 0, "listen: %m");
        socklen_t l = sizeof(a);
        zdtm_check(getsockname(s, (struct sockaddr *)&a, &l) == 0, "getsockname: %m");
        int c = socket(AF_INET, SOCK_STREAM, 0);
        zdtm_check(c >= 0 && connect(c, (struct sockaddr *)&a, sizeof(a)) == 0, "connect: %m");
        int acc = accept(s, NULL, NULL);
        zdtm_check(acc >= 0, "accept: %m");
        zdtm_check(write(c, "ping", 4) == 4, "write: %m"); /* in flight at dump time */
        zdtm_ready();
        zdtm_wait_go();
        char b[8] = "";
        if (read(acc, b, 4) != 4 || memcmp(b, "ping", 4))
                zdtm_fail("the data in flight did not arrive");
        if (write(acc, "pong", 4) != 4 || read(c, b, 4) != 4 || memcmp(b, "pong", 4))
                zdtm_fail("the connection does not carry data back");
        zdtm_pass();
}
