/* --ext-unix-sk: a unix datagram socket connected to a socket bound to a
 * path by a process outside the tree (think /dev/log). Restore connects it
 * to that path again, as CRIU does; whatever it sends after restore reaches
 * the outside server, which reports what it got in DIR/server.result.
 * ZDTM: flavours=cr,norestore opts=--ext-unix-sk */
#include <sys/wait.h>
#include <time.h>

#include "sk_common.h"

static void server(const char *path, int ready) {
        struct sockaddr_un a;
        socklen_t l = sk_addr(&a, path);
        int s = socket(AF_UNIX, SOCK_DGRAM, 0);
        if (s < 0 || bind(s, (struct sockaddr *)&a, l) < 0 || write(ready, "r", 1) != 1)
                _exit(1);
        char got[512] = "", buf[64];
        for (;;) {
                struct pollfd p = { .fd = s, .events = POLLIN };
                if (poll(&p, 1, 20000) != 1)
                        break;
                ssize_t n = recv(s, buf, sizeof(buf) - 1, 0);
                if (n < 0)
                        break;
                buf[n] = 0;
                if (strcmp(buf, "quit") == 0)
                        break;
                strncat(got, buf, sizeof(got) - strlen(got) - 2);
                strcat(got, ",");
        }
        FILE *f = fopen(zdtm_path("server.result.tmp"), "w");
        if (f) {
                fprintf(f, "%s\n", got);
                fclose(f);
                rename(zdtm_path("server.result.tmp"), zdtm_path("server.result"));
        }
        unlink(path);
        _exit(0);
}

int main(int argc, char **argv) {
        char path[200];
        zdtm_init(argc, argv);
        snprintf(path, sizeof(path), "%s", zdtm_path("log.sock"));
        unlink(path);
        unlink(zdtm_path("server.result"));
        int rp[2];
        zdtm_check(pipe(rp) == 0, "pipe");
        pid_t k = fork();
        zdtm_check(k >= 0, "fork");
        if (k == 0) {
                if (fork() == 0) {
                        setsid(); /* outside the tree and its session */
                        close(rp[0]);
                        server(path, rp[1]);
                }
                _exit(0);
        }
        waitpid(k, NULL, 0);
        char c;
        zdtm_check(read(rp[0], &c, 1) == 1, "the outside server did not start");
        close(rp[0]);
        close(rp[1]);

        struct sockaddr_un a;
        socklen_t l = sk_addr(&a, path);
        int s = socket(AF_UNIX, SOCK_DGRAM, 0);
        zdtm_check(connect(s, (struct sockaddr *)&a, l) == 0, "connect: %s", strerror(errno));
        sk_send(s, "before", 6, "client");

        zdtm_ready();
        zdtm_wait_go();

        sk_check_name(s, true, path, "client");
        sk_send(s, "after", 5, "client after restore");
        sk_send(s, "quit", 4, "client after restore");
        for (int i = 0; i < 500; i++) {
                FILE *f = fopen(zdtm_path("server.result"), "r");
                if (f) {
                        char res[512] = "";
                        if (!fgets(res, sizeof(res), f))
                                res[0] = 0;
                        fclose(f);
                        if (strcmp(res, "before,after,\n") != 0)
                                zdtm_fail("the outside server got '%s'", res);
                        zdtm_pass();
                }
                struct timespec ts = { 0, 10 * 1000 * 1000 };
                nanosleep(&ts, NULL);
        }
        zdtm_fail("the outside server gave no result");
}
