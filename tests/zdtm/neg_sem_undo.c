/* Refusal: a process with SysV semaphore undo adjustments (SEM_UNDO):
 * they cannot be read back (there is no /proc/PID/sysvipc).
 * ZDTM: flavours=norestore refuse=undo * ZDTM: serial=1 (SysV ids and queue names are global: never alongside other tests)
 */
#include <sys/ipc.h>
#include <sys/sem.h>

#include "zdtm.h"

int main(int argc, char **argv) {
        zdtm_init(argc, argv);
        int id = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
        zdtm_check(id >= 0, "semget: %s", strerror(errno));
        struct sembuf b = { .sem_num = 0, .sem_op = 1, .sem_flg = SEM_UNDO };
        zdtm_check(semop(id, &b, 1) == 0, "semop: %s", strerror(errno));
        zdtm_ready();
        zdtm_wait_go();
        int v = semctl(id, 0, GETVAL);
        semctl(id, 0, IPC_RMID);
        if (v != 1)
                zdtm_fail("semaphore value %d after a refused dump", v);
        zdtm_pass();
}
