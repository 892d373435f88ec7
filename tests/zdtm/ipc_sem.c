/* SysV semaphores: a private set of four (SETALL by the parent, then one
 * semaphore raised by a child) and a set with a key; a second child sleeps
 * in semop() waiting for semaphore 0 to reach 5 when the tree is frozen.
 * After restore: the values, the pid of the last operation on each
 * semaphore (GETPID), mode, owner, size, the key still finding the set, and
 * the waiter goes on once the parent raises the semaphore. * ZDTM: serial=1 (SysV ids and queue names are global: never alongside other tests)
 */
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/wait.h>

#include "zdtm.h"

union semun {
        int val;
        struct semid_ds *buf;
        unsigned short *array;
};

static int s1, s2;

static int semop1(int id, int num, int op) {
        struct sembuf b = { .sem_num = num, .sem_op = op };
        int r;
        /* a freeze interrupts a sleeping semop() with EINTR (it is never restarted) */
        while ((r = semop(id, &b, 1)) < 0 && errno == EINTR)
                ;
        return r;
}

static void expect(int id, const char *set, const unsigned short *want, const pid_t *pids, int n) {
        unsigned short v[8];
        if (semctl(id, 0, GETALL, (union semun){ .array = v }) < 0)
                zdtm_fail("semctl(%s, GETALL): %s", set, strerror(errno));
        for (int i = 0; i < n; i++) {
                if (v[i] != want[i])
                        zdtm_fail("%s: semaphore %d is %u, expected %u", set, i, v[i], want[i]);
                int p = semctl(id, i, GETPID);
                if (p != pids[i])
                        zdtm_fail("%s: semaphore %d was last operated on by pid %d, expected %d", set, i, p, pids[i]);
        }
}

int main(int argc, char **argv) {
        zdtm_init(argc, argv);
        pid_t me = getpid();
        key_t key = 0x43530000 | (me & 0xffff);

        s1 = semget(IPC_PRIVATE, 4, IPC_CREAT | 0640);
        s2 = semget(key, 2, IPC_CREAT | IPC_EXCL | 0600);
        zdtm_check(s1 >= 0 && s2 >= 0, "semget: %s", strerror(errno));
        unsigned short init[4] = { 3, 0, 7, 32767 };
        zdtm_check(semctl(s1, 0, SETALL, (union semun){ .array = init }) == 0, "SETALL: %s", strerror(errno));
        zdtm_check(semctl(s2, 1, SETVAL, (union semun){ .val = 11 }) == 0, "SETVAL: %s", strerror(errno));

        pid_t raiser = fork();
        zdtm_check(raiser >= 0, "fork: %s", strerror(errno));
        if (raiser == 0) {
                if (semop1(s1, 1, 2) < 0)
                        _exit(1);
                _exit(0);
        }
        int st;
        zdtm_check(waitpid(raiser, &st, 0) == raiser && WIFEXITED(st) && WEXITSTATUS(st) == 0, "raiser failed");

        pid_t waiter = fork();
        zdtm_check(waiter >= 0, "fork: %s", strerror(errno));
        if (waiter == 0) {
                if (semop1(s1, 0, -5) < 0)
                        _exit(2);
                _exit(0);
        }
        for (int i = 0; i < 2000 && semctl(s1, 0, GETNCNT) != 1; i++)
                usleep(1000);
        zdtm_check(semctl(s1, 0, GETNCNT) == 1, "the waiter does not wait");
        zdtm_ready();
        zdtm_wait_go();

        unsigned short w1[4] = { 3, 2, 7, 32767 };
        pid_t p1[4] = { me, raiser, me, me };
        expect(s1, "set 1", w1, p1, 4);
        unsigned short w2[2] = { 0, 11 };
        pid_t p2[2] = { 0, me };
        expect(s2, "set 2", w2, p2, 2);
        struct semid_ds ds;
        if (semctl(s1, 0, IPC_STAT, (union semun){ .buf = &ds }) < 0)
                zdtm_fail("IPC_STAT: %s", strerror(errno));
        if (ds.sem_nsems != 4 || (ds.sem_perm.mode & 0777) != 0640 || ds.sem_perm.uid != getuid() ||
            ds.sem_perm.cuid != getuid() || ds.sem_perm.__key != IPC_PRIVATE)
                zdtm_fail("set 1: nsems %lu mode %o uid %u cuid %u key %#x", (unsigned long)ds.sem_nsems,
                          ds.sem_perm.mode & 0777, ds.sem_perm.uid, ds.sem_perm.cuid, ds.sem_perm.__key);
        if (semget(key, 0, 0) != s2)
                zdtm_fail("semget(key %#x) does not find set 2 (%d) any more", key, s2);

        /* the waiter is still there and gets its 5 */
        for (int i = 0; i < 5000 && semctl(s1, 0, GETNCNT) != 1; i++)
                usleep(1000);
        if (semop1(s1, 0, 2) < 0)
                zdtm_fail("semop(+2): %s", strerror(errno));
        if (waitpid(waiter, &st, 0) != waiter || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
                zdtm_fail("waiter: exit status %#x", st);
        if (semctl(s1, 0, GETVAL) != 0 || semctl(s1, 0, GETPID) != waiter)
                zdtm_fail("semaphore 0 after the waiter: %d by pid %d", semctl(s1, 0, GETVAL), semctl(s1, 0, GETPID));
        semctl(s1, 0, IPC_RMID);
        semctl(s2, 0, IPC_RMID);
        zdtm_pass();
}
