/* SysV message queues: a private queue holding five messages of several
 * types and sizes (one empty, one of 3000 bytes) after a child received one
 * (so the last sender and the last receiver differ), and a queue with a key
 * whose msg_qbytes was lowered. A second child sleeps in msgrcv() for a
 * type nobody has sent yet when the tree is frozen.
 * After restore: qnum, cbytes, qbytes, lspid, lrpid, mode, owner, the key
 * still finding its queue, every message with its type in order (received
 * by type, by "lowest type up to", and in plain order), and the sleeping
 * child gets the message sent after restore. * ZDTM: serial=1 (SysV ids and queue names are global: never alongside other tests)
 */
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/wait.h>

#include "zdtm.h"

struct msg {
        long type;
        char text[4096];
};

static int q1, q2;

static void send(int q, long type, const char *text, size_t len) {
        struct msg m = { .type = type };
        memcpy(m.text, text, len);
        zdtm_check(msgsnd(q, &m, len, 0) == 0, "msgsnd: %s", strerror(errno));
}

static void expect(int q, long type, long want_type, const char *want, size_t len) {
        struct msg m;
        ssize_t n = msgrcv(q, &m, sizeof(m.text), type, IPC_NOWAIT);
        if (n < 0)
                zdtm_fail("msgrcv(type %ld): %s (expected a message of type %ld)", type, strerror(errno), want_type);
        if (m.type != want_type || (size_t)n != len || memcmp(m.text, want, len) != 0)
                zdtm_fail("msgrcv(type %ld): got type %ld, %zd bytes, expected type %ld, %zu bytes '%.20s'", type,
                          m.type, n, want_type, len, want);
}

int main(int argc, char **argv) {
        zdtm_init(argc, argv);
        pid_t me = getpid();
        key_t key = 0x43510000 | (me & 0xffff);
        static char big[3000];
        for (size_t i = 0; i < sizeof(big); i++)
                big[i] = (char)(i * 13 + 1);

        q1 = msgget(IPC_PRIVATE, IPC_CREAT | 0640);
        q2 = msgget(key, IPC_CREAT | IPC_EXCL | 0600);
        zdtm_check(q1 >= 0 && q2 >= 0, "msgget: %s", strerror(errno));
        struct msqid_ds ds;
        zdtm_check(msgctl(q2, IPC_STAT, &ds) == 0, "IPC_STAT: %s", strerror(errno));
        ds.msg_qbytes = 4000;
        zdtm_check(msgctl(q2, IPC_SET, &ds) == 0, "IPC_SET: %s", strerror(errno));

        send(q1, 9, "take me", 7);
        pid_t taker = fork();
        zdtm_check(taker >= 0, "fork: %s", strerror(errno));
        if (taker == 0) {
                struct msg m;
                _exit(msgrcv(q1, &m, sizeof(m.text), 9, 0) == 7 ? 0 : 1);
        }
        int st;
        zdtm_check(waitpid(taker, &st, 0) == taker && WIFEXITED(st) && WEXITSTATUS(st) == 0, "taker failed");
        send(q1, 1, "one", 3);
        send(q1, 2, "two two", 7);
        send(q1, 1, "uno", 3);
        send(q1, 5, "", 0);
        send(q1, 3, big, sizeof(big));
        send(q2, 4, "four", 4);
        send(q2, 4, "quattro", 7);

        pid_t sleeper = fork();
        zdtm_check(sleeper >= 0, "fork: %s", strerror(errno));
        if (sleeper == 0) {
                struct msg m;
                ssize_t n;
                while ((n = msgrcv(q1, &m, sizeof(m.text), 7, 0)) < 0 && errno == EINTR)
                        ;
                _exit(n == 5 && memcmp(m.text, "seven", 5) == 0 ? 0 : 1);
        }
        usleep(20000);
        zdtm_ready();
        zdtm_wait_go();

        if (msgctl(q1, IPC_STAT, &ds) < 0)
                zdtm_fail("IPC_STAT: %s", strerror(errno));
        if (ds.msg_qnum != 5 || ds.__msg_cbytes != 3 + 7 + 3 + 0 + sizeof(big))
                zdtm_fail("queue 1: %lu messages, %lu bytes", (unsigned long)ds.msg_qnum,
                          (unsigned long)ds.__msg_cbytes);
        if (ds.msg_lspid != me || ds.msg_lrpid != taker)
                zdtm_fail("queue 1: last sender %d, last receiver %d, expected %d and %d", ds.msg_lspid, ds.msg_lrpid,
                          me, taker);
        if ((ds.msg_perm.mode & 0777) != 0640 || ds.msg_perm.uid != getuid() || ds.msg_perm.cuid != getuid() ||
            ds.msg_perm.__key != IPC_PRIVATE)
                zdtm_fail("queue 1: mode %o uid %u cuid %u key %#x", ds.msg_perm.mode & 0777, ds.msg_perm.uid,
                          ds.msg_perm.cuid, ds.msg_perm.__key);
        if (msgctl(q2, IPC_STAT, &ds) < 0)
                zdtm_fail("IPC_STAT: %s", strerror(errno));
        if (ds.msg_qbytes != 4000 || ds.msg_qnum != 2 || (ds.msg_perm.mode & 0777) != 0600)
                zdtm_fail("queue 2: qbytes %lu, %lu messages, mode %o", (unsigned long)ds.msg_qbytes,
                          (unsigned long)ds.msg_qnum, ds.msg_perm.mode & 0777);
        if (msgget(key, 0) != q2)
                zdtm_fail("msgget(key %#x) does not find queue 2 (%d) any more", key, q2);

        expect(q1, 1, 1, "one", 3);
        expect(q1, -4, 1, "uno", 3); /* the lowest type up to 4 */
        expect(q1, 0, 2, "two two", 7);
        expect(q1, 0, 5, "", 0);
        expect(q1, 3, 3, big, sizeof(big));
        expect(q2, 0, 4, "four", 4);
        expect(q2, 0, 4, "quattro", 7);

        send(q1, 7, "seven", 5);
        if (waitpid(sleeper, &st, 0) != sleeper || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
                zdtm_fail("the sleeping receiver: exit status %#x", st);
        msgctl(q1, IPC_RMID, NULL);
        msgctl(q2, IPC_RMID, NULL);
        zdtm_pass();
}
