/* Refusal: a bound unix socket (the dump must fail naming pid, fd, "bound unix socket").
 * ZDTM: flavours=norestore */
#include <sys/socket.h>
#include <sys/un.h>

#include "zdtm.h"

int main(int argc, char **argv) {
        zdtm_init(argc, argv);
        int s = socket(AF_UNIX, SOCK_DGRAM, 0);
        struct sockaddr_un a = { .sun_family = AF_UNIX };
        snprintf(a.sun_path, sizeof(a.sun_path), "%s", zdtm_path("sock"));
        unlink(a.sun_path);
        zdtm_check(s >= 0 && bind(s, (struct sockaddr *)&a, sizeof(a)) == 0, "bind: %s", strerror(errno));
        zdtm_ready();
        zdtm_wait_go();
        int type = 0;
        socklen_t l = sizeof(type);
        if (getsockopt(s, SOL_SOCKET, SO_TYPE, &type, &l) < 0 || type != SOCK_DGRAM)
                zdtm_fail("socket lost");
        zdtm_pass();
}
