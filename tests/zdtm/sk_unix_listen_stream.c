/* A listening unix stream socket bound to a path (backlog 7), a connection
 * to it accepted inside the process with data queued both ways (and 200
 * KiB one way), a second connection still waiting in the accept queue, a
 * third accepted one whose client was closed after sending (its data then
 * EOF), and a child process holding the client end of a fourth connection
 * (the pair split across processes). After restore: the names
 * (getsockname/getpeername read the listener's path on both sides), the
 * queued data, the waiting connection is accept()ed and works, the closed
 * one reads its data then EOF, the child talks both ways, and new clients
 * can connect. */
#include <sys/stat.h>
#include <sys/wait.h>

#include "sk_common.h"

#define BIG (200 * 1024)
static unsigned char big[BIG];

static int connect_to(const struct sockaddr_un *a, socklen_t l) {
        int c = socket(AF_UNIX, SOCK_STREAM, 0);
        zdtm_check(c >= 0 && connect(c, (const struct sockaddr *)a, l) == 0, "connect: %s", strerror(errno));
        return c;
}

int main(int argc, char **argv) {
        struct sockaddr_un la;
        char path[200];
        zdtm_init(argc, argv);
        snprintf(path, sizeof(path), "%s", zdtm_path("listen.sock"));
        unlink(path);
        for (size_t i = 0; i < BIG; i++)
                big[i] = (unsigned char)(i * 7 + (i >> 9));

        int l = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
        socklen_t ll = sk_addr(&la, path);
        zdtm_check(l >= 0 && bind(l, (struct sockaddr *)&la, ll) == 0, "bind: %s", strerror(errno));
        zdtm_check(listen(l, 7) == 0, "listen: %s", strerror(errno));

        /* 1: accepted, data both ways */
        int c1 = connect_to(&la, ll);
        int a1 = accept(l, NULL, NULL);
        zdtm_check(a1 >= 0, "accept: %s", strerror(errno));
        int v = 512 * 1024;
        zdtm_check(setsockopt(a1, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v)) == 0, "SO_SNDBUF: %s", strerror(errno));
        sk_send(c1, "ping", 4, "c1");
        sk_send(c1, "PING", 4, "c1");
        sk_send(a1, "pong", 4, "a1");
        for (size_t off = 0; off < BIG;) {
                ssize_t n = send(a1, big + off, BIG - off, MSG_DONTWAIT);
                zdtm_check(n > 0, "send big: %s", strerror(errno));
                off += n;
        }
        /* 3: accepted, client sent then closed */
        int c3 = connect_to(&la, ll);
        int a3 = accept(l, NULL, NULL);
        zdtm_check(a3 >= 0, "accept: %s", strerror(errno));
        sk_send(c3, "bye", 3, "c3");
        close(c3);
        /* 4: the client end in a child */
        int c4 = connect_to(&la, ll);
        int a4 = accept(l, NULL, NULL);
        zdtm_check(a4 >= 0, "accept: %s", strerror(errno));
        sk_send(a4, "to-child", 8, "a4");
        pid_t kid = fork();
        zdtm_check(kid >= 0, "fork: %s", strerror(errno));
        if (kid == 0) {
                close(a4);
                zdtm_wait_go();
                char buf[16] = "";
                struct pollfd p = { .fd = c4, .events = POLLIN };
                if (poll(&p, 1, 2000) != 1 || recv(c4, buf, sizeof(buf), 0) != 8 || memcmp(buf, "to-child", 8) != 0)
                        _exit(10);
                if (strcmp(sk_name(c4, true), path) != 0)
                        _exit(11);
                if (send(c4, "from-child", 10, 0) != 10)
                        _exit(12);
                _exit(0);
        }
        close(c4);
        /* 2: waiting in the accept queue */
        int c2 = connect_to(&la, ll);

        zdtm_ready();
        zdtm_wait_go();

        sk_check_name(l, false, path, "listener");
        sk_check_name(a1, false, path, "accepted socket");
        sk_check_name(c1, true, path, "client");
        sk_check_name(c1, false, "", "client");
        sk_expect_stream(a1, "pingPING", 8, "accepted socket");
        sk_expect_stream(c1, "pong", 4, "client");
        sk_expect_stream(c1, big, BIG, "client, 200 KiB");
        sk_expect_empty(c1, "client");
        sk_expect_empty(a1, "accepted socket");
        sk_send(c1, "again", 5, "client after restore");
        sk_expect_stream(a1, "again", 5, "accepted socket after restore");

        sk_expect_stream(a3, "bye", 3, "socket whose client was closed");
        char ch;
        if (recv(a3, &ch, 1, MSG_DONTWAIT) != 0)
                zdtm_fail("socket whose client was closed: no EOF after its data (%s)", strerror(errno));

        int a2 = accept(l, NULL, NULL);
        if (a2 < 0)
                zdtm_fail("the connection waiting in the accept queue is gone: %s", strerror(errno));
        if (accept(l, NULL, NULL) >= 0 || errno != EAGAIN)
                zdtm_fail("more than one connection was waiting");
        sk_send(c2, "late", 4, "waiting client");
        sk_expect_stream(a2, "late", 4, "late accepted socket");
        sk_send(a2, "ok", 2, "late accepted socket");
        sk_expect_stream(c2, "ok", 2, "waiting client");

        int st;
        if (waitpid(kid, &st, 0) != kid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
                zdtm_fail("child with the client end failed: status %#x", st);
        sk_expect_stream(a4, "from-child", 10, "accepted socket of the child");

        int c5 = connect_to(&la, ll);
        struct pollfd p = { .fd = l, .events = POLLIN };
        int a5 = poll(&p, 1, 2000) == 1 ? accept(l, NULL, NULL) : -1;
        if (a5 < 0)
                zdtm_fail("a new client cannot connect: %s", strerror(errno));
        sk_send(c5, "new", 3, "new client");
        sk_expect_stream(a5, "new", 3, "new connection");
        struct stat sb;
        if (stat(path, &sb) < 0 || !S_ISSOCK(sb.st_mode))
                zdtm_fail("the socket file is gone");
        zdtm_pass();
}
