/* Unix seqpacket sockets: a listener bound to a relative path (from the
 * scratch dir), an accepted connection with records queued both ways
 * (boundaries, a 100000-byte record, an empty record), one direction shut
 * down, a connection waiting in the accept queue, and file descriptors in
 * flight (SCM_RIGHTS): a record carrying the read end of a pipe with data
 * in it, a regular file at an offset, and one end of a socketpair whose
 * other end was closed by the sender; another record carries the same pipe
 * end again (one open file description, twice in flight). */
#include <sys/stat.h>

#include "sk_common.h"

#define BIGREC 100000
static unsigned char big[BIGREC];

static void send_fds(int s, const char *data, const int *fds, int n) {
        char cbuf[CMSG_SPACE(sizeof(int) * 4)] = {};
        struct iovec iov = { (void *)data, strlen(data) };
        struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
                            .msg_controllen = CMSG_SPACE(sizeof(int) * n) };
        struct cmsghdr *h = CMSG_FIRSTHDR(&m);
        h->cmsg_level = SOL_SOCKET;
        h->cmsg_type = SCM_RIGHTS;
        h->cmsg_len = CMSG_LEN(sizeof(int) * n);
        memcpy(CMSG_DATA(h), fds, sizeof(int) * n);
        zdtm_check(sendmsg(s, &m, 0) == (ssize_t)strlen(data), "sendmsg: %s", strerror(errno));
}

static int recv_fds(int s, const char *want, int *fds, int n, const char *what) {
        char buf[64] = "", cbuf[CMSG_SPACE(sizeof(int) * 8)];
        struct iovec iov = { buf, sizeof(buf) };
        struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
        ssize_t r = recvmsg(s, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (r != (ssize_t)strlen(want) || memcmp(buf, want, r) != 0)
                zdtm_fail("%s: record '%.*s' (%zd), expected '%s' (%s)", what, (int)(r > 0 ? r : 0), buf, r, want,
                          r < 0 ? strerror(errno) : "");
        struct cmsghdr *h = CMSG_FIRSTHDR(&m);
        if (!h || h->cmsg_type != SCM_RIGHTS || h->cmsg_len != CMSG_LEN(sizeof(int) * n))
                zdtm_fail("%s: the %d file descriptor(s) in flight are lost", what, n);
        memcpy(fds, CMSG_DATA(h), sizeof(int) * n);
        return n;
}

int main(int argc, char **argv) {
        struct sockaddr_un la;
        zdtm_init(argc, argv);
        zdtm_check(chdir(zdtm_dir) == 0, "chdir: %s", strerror(errno));
        unlink("seq.sock");
        for (size_t i = 0; i < BIGREC; i++)
                big[i] = (unsigned char)(i * 31 + 5);

        int l = socket(AF_UNIX, SOCK_SEQPACKET, 0);
        socklen_t ll = sk_addr(&la, "seq.sock");
        zdtm_check(l >= 0 && bind(l, (struct sockaddr *)&la, ll) == 0, "bind: %s", strerror(errno));
        zdtm_check(listen(l, 3) == 0, "listen: %s", strerror(errno));
        int c = socket(AF_UNIX, SOCK_SEQPACKET, 0);
        zdtm_check(connect(c, (struct sockaddr *)&la, ll) == 0, "connect: %s", strerror(errno));
        int a = accept(l, NULL, NULL);
        zdtm_check(a >= 0, "accept: %s", strerror(errno));
        int v = 1 << 20;
        setsockopt(c, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));

        sk_send(c, "rec-1", 5, "client");
        sk_send(c, "", 0, "client");
        sk_send(c, big, BIGREC, "client");
        sk_send(c, "rec-3", 5, "client");
        sk_send(a, "answer", 6, "server");
        shutdown(a, SHUT_WR);

        /* files in flight, server -> client direction closed: client -> server */
        int p[2], sp[2];
        zdtm_check(pipe(p) == 0 && socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0, "pipe: %s", strerror(errno));
        zdtm_check(write(p[1], "in the pipe", 11) == 11, "write: %s", strerror(errno));
        int f = open("data.txt", O_RDWR | O_CREAT | O_TRUNC, 0600);
        zdtm_check(f >= 0 && write(f, "0123456789", 10) == 10 && lseek(f, 4, SEEK_SET) == 4, "file: %s", strerror(errno));
        zdtm_check(send(sp[1], "sp", 2, 0) == 2, "send: %s", strerror(errno));
        int fl[3] = { p[0], f, sp[0] };
        send_fds(c, "fds", fl, 3);
        send_fds(c, "pipe-again", &p[0], 1);
        close(p[0]);
        close(f);
        close(sp[0]);
        close(sp[1]);

        int w = socket(AF_UNIX, SOCK_SEQPACKET, 0);
        zdtm_check(connect(w, (struct sockaddr *)&la, ll) == 0, "connect: %s", strerror(errno));

        zdtm_ready();
        zdtm_wait_go();

        sk_check_name(l, false, "seq.sock", "listener");
        sk_check_name(a, false, "seq.sock", "accepted socket");
        sk_check_name(c, true, "seq.sock", "client");
        sk_expect_msg(a, "rec-1", 5, "record 1");
        sk_expect_msg(a, "", 0, "empty record");
        sk_expect_msg(a, big, BIGREC, "100000-byte record");
        sk_expect_msg(a, "rec-3", 5, "record 3");
        int got[3], again;
        recv_fds(a, "fds", got, 3, "record with three fds");
        recv_fds(a, "pipe-again", &again, 1, "record with the pipe again");
        sk_expect_empty(a, "server");
        sk_expect_msg(c, "answer", 6, "client");
        char ch;
        if (recv(c, &ch, 1, MSG_DONTWAIT) != 0)
                zdtm_fail("client: no end-of-file after the server's shutdown");

        char buf[32] = "";
        if (read(got[0], buf, sizeof(buf)) != 11 || memcmp(buf, "in the pipe", 11) != 0)
                zdtm_fail("the pipe passed in flight lost its data");
        if (write(p[1], "more", 4) != 4 || read(again, buf, 4) != 4 || memcmp(buf, "more", 4) != 0)
                zdtm_fail("the pipe end passed twice is not one open file description of the same pipe");
        if (lseek(got[1], 0, SEEK_CUR) != 4)
                zdtm_fail("the file passed in flight lost its offset");
        if (read(got[1], buf, 6) != 6 || memcmp(buf, "456789", 6) != 0)
                zdtm_fail("the file passed in flight reads wrong data");
        if (recv(got[2], buf, sizeof(buf), MSG_DONTWAIT) != 2 || memcmp(buf, "sp", 2) != 0)
                zdtm_fail("the socket passed in flight lost its data");
        if (recv(got[2], buf, 1, MSG_DONTWAIT) != 0)
                zdtm_fail("the socket passed in flight: no EOF after its closed peer's data");

        int a2 = accept(l, NULL, NULL);
        if (a2 < 0)
                zdtm_fail("the waiting connection is gone: %s", strerror(errno));
        sk_send(w, "hello", 5, "waiting client");
        sk_expect_msg(a2, "hello", 5, "late accepted socket");
        sk_send(c, "after", 5, "client after restore");
        sk_expect_msg(a, "after", 5, "server after restore");
        zdtm_pass();
}
