/* Scale workloads for bench/scale.py, all self-checking after restore:
 *   scaleload DIR tree N      N processes: a root, 9 children, the rest grandchildren
 *   scaleload DIR threads N   one process with N threads (counters keep moving)
 *   scaleload DIR fds N       one process with N open fds (files, pipes, eventfds, dups)
 * Protocol as bench/memload.c: DIR/ready, wait for DIR/go, DIR/result. */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "benchproto.h"


static int finish(int ok, const char *why) {
        char b[256];
        snprintf(b, sizeof(b), ok ? "PASS\n" : "FAIL: %s\n", why);
        put("result", b);
        return ok ? 0 : 1;
}

static int tree(int n) {
        int kids = 9, per = (n - 1 - kids) / kids;
        pid_t me = getpid();
        pid_t c[16];
        int ready[2];
        if (pipe(ready) < 0)
                return 3;
        for (int i = 0; i < kids; i++) {
                c[i] = fork();
                if (c[i] == 0) {
                        pid_t g[256], parent = getpid();
                        int ng = per + (i < (n - 1 - kids) % kids ? 1 : 0);
                        for (int k = 0; k < ng; k++) {
                                g[k] = fork();
                                if (g[k] == 0) {
                                        if (write(ready[1], "g", 1) != 1)
                                                _exit(9);
                                        wait_go();
                                        _exit(getppid() == parent ? 0 : 1);
                                }
                        }
                        if (write(ready[1], "c", 1) != 1)
                                _exit(9);
                        wait_go();
                        int bad = getppid() != me;
                        for (int k = 0; k < ng; k++) {
                                int st;
                                if (waitpid(g[k], &st, 0) != g[k] || !WIFEXITED(st) || WEXITSTATUS(st))
                                        bad = 1;
                        }
                        _exit(bad);
                }
        }
        for (int got = 0; got < n - 1;) {
                char b[64];
                ssize_t r = read(ready[0], b, sizeof(b));
                if (r <= 0)
                        return 3;
                got += r;
        }
        put("ready", "ready\n");
        wait_go();
        int ok = 1;
        for (int i = 0; i < kids; i++) {
                int st;
                if (waitpid(c[i], &st, 0) != c[i] || !WIFEXITED(st) || WEXITSTATUS(st))
                        ok = 0;
        }
        return finish(ok, "a process of the tree lost its parent or failed");
}

static atomic_long *cnt;
static atomic_int stop;

static void *spin(void *a) {
        long i = (long)a;
        while (!stop) {
                cnt[i]++;
                struct timespec ts = { 0, 1000000 };
                nanosleep(&ts, NULL);
        }
        return NULL;
}

static int threads(int n) {
        pthread_t *t = calloc(n, sizeof(*t));
        cnt = calloc(n, sizeof(*cnt));
        for (long i = 0; i < n; i++)
                if (pthread_create(&t[i], NULL, spin, (void *)i))
                        return 3;
        put("ready", "ready\n");
        wait_go();
        long *snap = calloc(n, sizeof(long));
        for (int i = 0; i < n; i++)
                snap[i] = cnt[i];
        struct timespec ts = { 0, 200000000 };
        nanosleep(&ts, NULL);
        int ok = 1;
        for (int i = 0; i < n; i++)
                if (cnt[i] <= snap[i])
                        ok = 0;
        stop = 1;
        for (int i = 0; i < n; i++)
                pthread_join(t[i], NULL);
        return finish(ok, "a thread stopped counting");
}

static int fds(int n) {
        struct rlimit rl;
        getrlimit(RLIMIT_NOFILE, &rl);
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        char path[4096];
        snprintf(path, sizeof(path), "%s/data", dir);
        int base = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
        if (base < 0 || write(base, "0123456789", 10) != 10)
                return 3;
        int *fd = calloc(n, sizeof(int));
        int made = 0;
        for (int i = 0; made < n; i++) {
                switch (i % 4) {
                case 0:
                        fd[made++] = open(path, O_RDONLY);
                        break;
                case 1:
                        fd[made++] = eventfd(i, 0);
                        break;
                case 2: {
                        int p[2];
                        if (pipe(p) < 0)
                                return 3;
                        fd[made++] = p[0];
                        if (made < n)
                                fd[made++] = p[1];
                        else
                                close(p[1]);
                        break;
                }
                default:
                        fd[made++] = dup(base);
                }
                if (fd[made - 1] < 0)
                        return 3;
                if (i % 4 == 0)
                        lseek(fd[made - 1], i % 10, SEEK_SET);
        }
        put("ready", "ready\n");
        wait_go();
        int ok = 1;
        for (int i = 0, k = 0; k < n; i++) {
                if (i % 4 == 0) {
                        if (lseek(fd[k], 0, SEEK_CUR) != i % 10)
                                ok = 0;
                        k++;
                } else if (i % 4 == 1) {
                        uint64_t v;
                        if (read(fd[k], &v, 8) != 8 || v != (uint64_t)i)
                                ok = 0;
                        k++;
                } else if (i % 4 == 2) {
                        k += 2;
                } else {
                        if (fcntl(fd[k], F_GETFD) < 0)
                                ok = 0;
                        k++;
                }
        }
        return finish(ok, "an fd lost its state");
}

int main(int argc, char **argv) {
        if (argc < 4)
                return 2;
        dir = argv[1];
        int n = atoi(argv[3]);
        if (!strcmp(argv[2], "tree"))
                return tree(n);
        if (!strcmp(argv[2], "threads"))
                return threads(n);
        if (!strcmp(argv[2], "fds"))
                return fds(n);
        return 2;
}
