/* Bound unix datagram sockets: a server bound to a path (mode 0640) with
 * datagrams queued from a bound client (connected to it), an unbound one
 * and an abstract-named one, each with its sender address; the client has
 * a reply queued; the server has SO_PASSCRED (uid/gid of the queued
 * datagrams must survive); a socket whose file was unlinked keeps its name
 * and stays without file; a stale socket file of the original must not
 * stop the restore. After restore the same senders can still reach the
 * server by path and the client is still connected to it. */
#include <sys/stat.h>

#include "sk_common.h"

static void recv_from(int fd, const char *want, const char *from, bool creds, const char *what) {
        char buf[256], cbuf[CMSG_SPACE(sizeof(struct ucred))];
        struct sockaddr_un a = {};
        struct iovec iov = { buf, sizeof(buf) };
        struct msghdr m = { .msg_name = &a, .msg_namelen = sizeof(a), .msg_iov = &iov, .msg_iovlen = 1,
                            .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
        ssize_t n = recvmsg(fd, &m, MSG_DONTWAIT);
        if (n < 0)
                zdtm_fail("%s: recvmsg: %s (queued datagram lost?)", what, strerror(errno));
        if ((size_t)n != strlen(want) || memcmp(buf, want, n) != 0)
                zdtm_fail("%s: got '%.*s', expected '%s'", what, (int)n, buf, want);
        char got[120] = "";
        size_t l = m.msg_namelen > offsetof(struct sockaddr_un, sun_path) ? m.msg_namelen - offsetof(struct sockaddr_un, sun_path) : 0;
        if (l && a.sun_path[0] == 0) {
                got[0] = '@';
                memcpy(got + 1, a.sun_path + 1, l - 1);
        } else if (l)
                snprintf(got, sizeof(got), "%s", a.sun_path);
        if (strcmp(got, from) != 0)
                zdtm_fail("%s: sender is '%s', expected '%s'", what, got, from);
        if (creds) {
                struct cmsghdr *c = CMSG_FIRSTHDR(&m);
                if (!c || c->cmsg_type != SCM_CREDENTIALS)
                        zdtm_fail("%s: no credentials with the datagram", what);
                struct ucred u;
                memcpy(&u, CMSG_DATA(c), sizeof(u));
                if (u.uid != getuid() || u.gid != getgid())
                        zdtm_fail("%s: credentials %u:%u, expected %u:%u", what, u.uid, u.gid, getuid(), getgid());
        }
}

int main(int argc, char **argv) {
        struct sockaddr_un sa, ca, xa, da;
        char srv[200], cli[200], abs_name[64], del[200];
        zdtm_init(argc, argv);
        snprintf(srv, sizeof(srv), "%s", zdtm_path("srv.sock"));
        snprintf(cli, sizeof(cli), "%s", zdtm_path("cli.sock"));
        snprintf(del, sizeof(del), "%s", zdtm_path("deleted.sock"));
        snprintf(abs_name, sizeof(abs_name), "@zdtm-dgram-%d", getpid());
        unlink(srv), unlink(cli), unlink(del);

        int s = socket(AF_UNIX, SOCK_DGRAM, 0);
        socklen_t sl = sk_addr(&sa, srv);
        zdtm_check(s >= 0 && bind(s, (struct sockaddr *)&sa, sl) == 0, "bind %s: %s", srv, strerror(errno));
        zdtm_check(chmod(srv, 0640) == 0, "chmod: %s", strerror(errno));
        int one = 1;
        zdtm_check(setsockopt(s, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) == 0, "SO_PASSCRED: %s", strerror(errno));

        int c = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        socklen_t cl = sk_addr(&ca, cli);
        zdtm_check(c >= 0 && bind(c, (struct sockaddr *)&ca, cl) == 0, "bind %s: %s", cli, strerror(errno));
        zdtm_check(connect(c, (struct sockaddr *)&sa, sl) == 0, "connect: %s", strerror(errno));
        int u = socket(AF_UNIX, SOCK_DGRAM, 0);
        int x = socket(AF_UNIX, SOCK_DGRAM, 0);
        socklen_t xl = sk_addr(&xa, abs_name);
        zdtm_check(x >= 0 && bind(x, (struct sockaddr *)&xa, xl) == 0, "bind abstract: %s", strerror(errno));

        sk_send(c, "one", 3, "client");
        zdtm_check(sendto(u, "anon", 4, 0, (struct sockaddr *)&sa, sl) == 4, "sendto: %s", strerror(errno));
        zdtm_check(sendto(x, "abs", 3, 0, (struct sockaddr *)&sa, sl) == 3, "sendto: %s", strerror(errno));
        sk_send(c, "two", 3, "client");
        zdtm_check(sendto(s, "reply", 5, 0, (struct sockaddr *)&ca, cl) == 5, "sendto: %s", strerror(errno));

        /* bound, then its file unlinked */
        int d = socket(AF_UNIX, SOCK_DGRAM, 0);
        socklen_t dl = sk_addr(&da, del);
        zdtm_check(d >= 0 && bind(d, (struct sockaddr *)&da, dl) == 0, "bind %s: %s", del, strerror(errno));
        zdtm_check(unlink(del) == 0, "unlink: %s", strerror(errno));

        zdtm_ready();
        zdtm_wait_go();

        recv_from(s, "one", cli, true, "server 1");
        recv_from(s, "anon", "", true, "server 2");
        recv_from(s, "abs", abs_name, true, "server 3");
        recv_from(s, "two", cli, true, "server 4");
        sk_expect_empty(s, "server");
        recv_from(c, "reply", srv, false, "client");
        sk_check_name(s, false, srv, "server");
        sk_check_name(c, false, cli, "client");
        sk_check_name(c, true, srv, "client");
        sk_check_name(x, false, abs_name, "abstract sender");
        sk_check_name(d, false, del, "socket of an unlinked file");
        struct stat st;
        if (stat(del, &st) == 0)
                zdtm_fail("the unlinked socket file %s exists again", del);
        if (stat(srv, &st) < 0 || !S_ISSOCK(st.st_mode) || (st.st_mode & 07777) != 0640)
                zdtm_fail("socket file %s: %s, mode %o", srv, strerror(errno), st.st_mode & 07777);
        if (!(fcntl(c, F_GETFL) & O_NONBLOCK))
                zdtm_fail("client lost O_NONBLOCK");
        if (sk_getint(s, SOL_SOCKET, SO_PASSCRED) != 1)
                zdtm_fail("server lost SO_PASSCRED");

        /* still reachable by path, the client still connected */
        sk_send(c, "three", 5, "client after restore");
        recv_from(s, "three", cli, true, "server after restore");
        int n = socket(AF_UNIX, SOCK_DGRAM, 0);
        zdtm_check(sendto(n, "new", 3, 0, (struct sockaddr *)&sa, sl) == 3, "a new sender cannot reach the server: %s",
                   strerror(errno));
        recv_from(s, "new", "", true, "server, new sender");
        zdtm_check(sendto(s, "back", 4, 0, (struct sockaddr *)&ca, cl) == 4, "server -> client: %s", strerror(errno));
        recv_from(c, "back", srv, false, "client after restore");
        zdtm_pass();
}
