/* Refusal: a listening TCP socket on 127.0.0.1 (no inet support): the dump
 * must fail with one line naming the pid and the socket, and leave the
 * workload running untouched.
 * ZDTM: flavours=norestore refuse="tcp|inet|socket" */
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
        zdtm_ready();
        zdtm_wait_go();
        /* still listening: connect to it */
        int c = socket(AF_INET, SOCK_STREAM, 0);
        if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof(a)))
                zdtm_fail("cannot connect to the listening socket any more: %m");
        int acc = accept(s, NULL, NULL);
        if (acc < 0)
                zdtm_fail("accept: %m");
        if (write(c, "x", 1) != 1)
                zdtm_fail("write: %m");
        char b;
        if (read(acc, &b, 1) != 1 || b != 'x')
                zdtm_fail("data did not arrive over the connection");
        zdtm_pass();
}
