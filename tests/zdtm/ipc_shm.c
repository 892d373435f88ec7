/* SysV shared memory, four segments:
 *   A  private, 3 pages + 100 bytes, mode 0640, data in the first and last
 *      page (the middle one is a hole); attached in the parent and in the
 *      child, at different addresses;
 *   B  with a key, 64 KiB, attached read-write in the parent (its second
 *      half mprotect()ed read-only: two VMAs of one attachment) and
 *      read-only (SHM_RDONLY) in the child;
 *   C  private, attached by nobody: the parent wrote it and detached
 *      (found by its creator pid, read by a short attach);
 *   D  private, attached in parent and child, then IPC_RMID (SHM_DEST: it
 *      lives only as long as it is attached);
 *   E  private, 4 pages, attached in the parent, which then unmapped its
 *      first and third page (two VMAs with offsets, holes before and
 *      between them).
 * After restore: every byte, every shmctl(IPC_STAT) field that can be kept,
 * the same addresses, writes of one process seen by the other through A and
 * D, and the read-only mapping still read-only. * ZDTM: serial=1 (SysV ids and queue names are global: never alongside other tests)
 */
#include <setjmp.h>
#include <signal.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/wait.h>

#include "zdtm.h"

#define SZ_A (3 * 4096 + 100)
#define SZ_B (64 << 10)
#define SZ_C 8192
#define SZ_D 4096
#define SZ_E (4 * 4096)

static int id_a, id_b, id_c, id_d, id_e;
static key_t key_b;
static volatile uint8_t *pa, *pb, *pd; /* this process's attachments */
static pid_t parent;

static uint8_t pat(int seg, size_t i) {
        return (uint8_t)(i * 31 + seg * 7 + (i >> 12));
}

static void check_bytes(const char *who, const char *seg, int s, volatile uint8_t *p, size_t off, size_t len) {
        for (size_t i = off; i < off + len; i++)
                if (p[i] != pat(s, i))
                        zdtm_fail("%s: segment %s byte %zu is %u, expected %u", who, seg, i, p[i], pat(s, i));
}

static void check_zero(const char *who, const char *seg, volatile uint8_t *p, size_t off, size_t len) {
        for (size_t i = off; i < off + len; i++)
                if (p[i])
                        zdtm_fail("%s: segment %s byte %zu (a hole) is %u", who, seg, i, p[i]);
}

static void check_a(const char *who, volatile uint8_t *p) {
        check_bytes(who, "A", 1, p, 0, 4096);
        check_zero(who, "A", p, 4096, 4096);
        check_bytes(who, "A", 1, p, 8192, SZ_A - 8192 - 64);
        check_zero(who, "A", p, SZ_A - 64, 64 - 4); /* the last 4 bytes are the child's */
}

static sigjmp_buf jb;
static void on_segv(int sig) {
        siglongjmp(jb, 1);
}

/* Does a write to p fault? */
static bool write_faults(volatile uint8_t *p) {
        struct sigaction sa = { .sa_handler = on_segv }, old;
        bool faulted = false;
        sigaction(SIGSEGV, &sa, &old);
        if (sigsetjmp(jb, 1) == 0)
                p[0] = p[0];
        else
                faulted = true;
        sigaction(SIGSEGV, &old, NULL);
        return faulted;
}

static int child(void) {
        /* its own attachment of A, elsewhere than the inherited one */
        volatile uint8_t *inherited = pa;
        pa = shmat(id_a, NULL, 0);
        if (pa == (void *)-1 || pa == inherited)
                return 20;
        if (shmdt((void *)inherited) < 0)
                return 21;
        if (shmdt((void *)pb) < 0) /* both pieces of it */
                return 22;
        pb = shmat(id_b, NULL, SHM_RDONLY);
        if (pb == (void *)-1)
                return 23;
        zdtm_wait_go();
        check_a("child", pa);
        check_bytes("child", "B", 2, pb, 0, SZ_B);
        if (!write_faults(pb))
                zdtm_fail("child: its SHM_RDONLY attachment of B is writable after restore");
        for (size_t i = 0; i < SZ_D; i++)
                if (pd[i] != pat(4, i))
                        zdtm_fail("child: segment D byte %zu differs", i);
        /* across processes: A from here, answer through D */
        pa[SZ_A - 4] = 0xC5;
        for (long spin = 0; pd[100] != 0xAC; spin++)
                if (spin > 2000000000L)
                        zdtm_fail("child: the parent never answered through segment D");
        return 0;
}

static void check_stat(const char *seg, int id, size_t size, unsigned mode, int nattch, key_t key, bool dest) {
        struct shmid_ds ds;
        if (shmctl(id, IPC_STAT, &ds) < 0)
                zdtm_fail("shmctl(%s = %d, IPC_STAT): %s", seg, id, strerror(errno));
        if (ds.shm_segsz != size)
                zdtm_fail("segment %s: size %zu, expected %zu", seg, (size_t)ds.shm_segsz, size);
        if ((ds.shm_perm.mode & 0777) != mode)
                zdtm_fail("segment %s: mode %o, expected %o", seg, ds.shm_perm.mode & 0777, mode);
        if (!!(ds.shm_perm.mode & SHM_DEST) != dest)
                zdtm_fail("segment %s: SHM_DEST is %s", seg, dest ? "lost" : "set");
        if (ds.shm_perm.__key != key)
                zdtm_fail("segment %s: key %#x, expected %#x", seg, ds.shm_perm.__key, key);
        if ((int)ds.shm_nattch != nattch)
                zdtm_fail("segment %s: %d attachments, expected %d", seg, (int)ds.shm_nattch, nattch);
        if (ds.shm_cpid != parent)
                zdtm_fail("segment %s: creator pid %d, expected %d", seg, ds.shm_cpid, parent);
        if (ds.shm_perm.uid != getuid() || ds.shm_perm.cuid != getuid() || ds.shm_perm.gid != getgid())
                zdtm_fail("segment %s: owner %u:%u creator %u", seg, ds.shm_perm.uid, ds.shm_perm.gid,
                          ds.shm_perm.cuid);
}

int main(int argc, char **argv) {
        zdtm_init(argc, argv);
        parent = getpid();
        key_b = 0x43520000 | (getpid() & 0xffff);

        id_a = shmget(IPC_PRIVATE, SZ_A, IPC_CREAT | 0640);
        id_b = shmget(key_b, SZ_B, IPC_CREAT | IPC_EXCL | 0600);
        id_c = shmget(IPC_PRIVATE, SZ_C, IPC_CREAT | 0600);
        id_d = shmget(IPC_PRIVATE, SZ_D, IPC_CREAT | 0600);
        id_e = shmget(IPC_PRIVATE, SZ_E, IPC_CREAT | 0600);
        zdtm_check(id_a >= 0 && id_b >= 0 && id_c >= 0 && id_d >= 0 && id_e >= 0, "shmget: %s", strerror(errno));
        pa = shmat(id_a, NULL, 0);
        pb = shmat(id_b, NULL, 0);
        pd = shmat(id_d, NULL, 0);
        volatile uint8_t *pc = shmat(id_c, NULL, 0);
        zdtm_check(pa != (void *)-1 && pb != (void *)-1 && pc != (void *)-1 && pd != (void *)-1, "shmat: %s",
                   strerror(errno));
        for (size_t i = 0; i < SZ_A - 64; i++) /* the second page and the last 64 bytes stay 0 */
                if (i < 4096 || i >= 8192)
                        pa[i] = pat(1, i);
        for (size_t i = 0; i < SZ_B; i++)
                pb[i] = pat(2, i);
        for (size_t i = 0; i < SZ_C; i++)
                pc[i] = pat(3, i);
        for (size_t i = 0; i < SZ_D; i++)
                pd[i] = pat(4, i);
        zdtm_check(shmdt((void *)pc) == 0, "shmdt: %s", strerror(errno));
        volatile uint8_t *pe = shmat(id_e, NULL, 0);
        zdtm_check(pe != (void *)-1, "shmat: %s", strerror(errno));
        for (size_t i = 0; i < SZ_E; i++)
                pe[i] = pat(5, i);
        zdtm_check(munmap((void *)pe, 4096) == 0 && munmap((void *)(pe + 8192), 4096) == 0, "munmap: %s",
                   strerror(errno));
        zdtm_check(mprotect((void *)(pb + SZ_B / 2), SZ_B / 2, PROT_READ) == 0, "mprotect: %s", strerror(errno));

        /* the child needs none of E */
        pid_t kid = fork();
        zdtm_check(kid >= 0, "fork: %s", strerror(errno));
        if (kid == 0)
                _exit(child());
        /* D goes away when the last one detaches */
        zdtm_check(shmctl(id_d, IPC_RMID, NULL) == 0, "shmctl(IPC_RMID): %s", strerror(errno));
        for (int i = 0; i < 2000; i++) { /* the child has its attachments */
                struct shmid_ds ds;
                if (shmctl(id_b, IPC_STAT, &ds) == 0 && ds.shm_nattch == 3)
                        break;
                usleep(1000);
        }
        zdtm_ready();
        zdtm_wait_go();

        check_a("parent", pa);
        check_bytes("parent", "B", 2, pb, 0, SZ_B);
        if (write_faults(pb) || !write_faults(pb + SZ_B / 2))
                zdtm_fail("parent: the protections of the two halves of B changed");
        check_stat("A", id_a, SZ_A, 0640, 2, IPC_PRIVATE, false);
        check_stat("B", id_b, SZ_B, 0600, 3, key_b, false); /* one per VMA: the parent has two */
        check_stat("C", id_c, SZ_C, 0600, 0, IPC_PRIVATE, false);
        check_stat("D", id_d, SZ_D, 0600, 2, IPC_PRIVATE, true);
        check_stat("E", id_e, SZ_E, 0600, 4, IPC_PRIVATE, false); /* two VMAs, in parent and child */
        check_bytes("parent", "E", 5, pe, 4096, 4096);
        check_bytes("parent", "E", 5, pe, 3 * 4096, 4096);
        struct shmid_ds ds;
        if (shmctl(id_c, IPC_STAT, &ds) == 0 && ds.shm_lpid != parent)
                zdtm_fail("segment C: last attacher %d, expected %d", ds.shm_lpid, parent);
        if (shmget(key_b, 0, 0) != id_b)
                zdtm_fail("shmget(key %#x) does not find segment B (%d) any more", key_b, id_b);
        pc = shmat(id_c, NULL, SHM_RDONLY);
        if (pc == (void *)-1)
                zdtm_fail("shmat(C): %s", strerror(errno));
        check_bytes("parent", "C", 3, pc, 0, SZ_C);
        shmdt((void *)pc);

        for (long spin = 0; pa[SZ_A - 4] != 0xC5; spin++)
                if (spin > 2000000000L)
                        zdtm_fail("the child's write to segment A never showed (not shared after restore?)");
        pd[100] = 0xAC;
        int st;
        if (waitpid(kid, &st, 0) != kid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
                zdtm_fail("child: exit status %#x", st);
        shmctl(id_a, IPC_RMID, NULL);
        shmctl(id_b, IPC_RMID, NULL);
        shmctl(id_c, IPC_RMID, NULL);
        shmctl(id_e, IPC_RMID, NULL);
        zdtm_pass();
}
