#pragma once
/* Driving a stopped task from outside: ptrace seize/interrupt, running single
 * syscalls inside it, and a scratch mapping to pass memory arguments.
 *
 * A remote syscall points the task's registers at a `syscall` instruction
 * already present in it (in the vDSO, or any executable mapping), resumes it
 * with PTRACE_SYSCALL and reads the result at syscall-exit. All signals are
 * blocked in the task while it is driven, so no signal is delivered or lost.
 * Before the task's own (or final) registers are put back, the task is
 * "parked" in a PTRACE_EVENT_STOP: that stop sits inside the kernel's signal
 * path, so an interrupted syscall's -ERESTART* is handled exactly as if
 * nothing had happened. */
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "arch/x86_64/arch.h"

struct infect_task {
        pid_t tid;
        arch_regs_t regs;         /* registers at the last park, to return to */
        uint64_t orig_sigmask;    /* mask to put back */
        bool sigmask_blocked;
        uint64_t syscall_ip;      /* address of a syscall instruction inside the task */
        uint64_t scratch;         /* remote scratch mapping, 0 if none */
        size_t scratch_size;
        bool parked;              /* in a PTRACE_EVENT_STOP (vs syscall-exit-stop) */
        uint64_t batch_code;      /* the batch runner inside the scratch area, 0 = none */
};

/* One syscall of a batch: nr and args in, ret out (raw: -errno on failure). */
struct infect_rec {
        uint64_t nr;
        uint64_t a[6];
        int64_t ret;
};
_Static_assert(sizeof(struct infect_rec) == 64, "the batch runner's table layout");
#define INFECT_BATCH_MAX 448

/* Seize and stop one thread; on success it is in a PTRACE_EVENT_STOP.
 * exitkill: the task dies if cryo dies (restore); a dump never sets it so
 * the target survives whatever happens to cryo. */
int infect_seize(pid_t tid, bool exitkill);
/* The same, but give up after timeout_ms if the thread does not stop (a
 * vfork() parent waits, unstoppable, until its child execs or exits; a task
 * may sleep uninterruptibly in I/O): returns -ETIMEDOUT and the thread stays
 * seized, running, until it stops or cryo exits -- it cannot be detached
 * before it stops, and the kernel detaches it, with nothing pending, when
 * cryo exits. */
int infect_seize_timeout(pid_t tid, bool exitkill, int timeout_ms);
/* Wait for tid to report a stop; returns the waitpid status. */
int infect_wait(pid_t tid, int *ret_status);
int infect_detach(pid_t tid);

/* Prepare a seized task for remote syscalls (finds a syscall insn, blocks signals). */
int infect_prepare(struct infect_task *t, pid_t tid);
/* Same, with a syscall instruction already known to be at syscall_ip in the
 * task (threads of one process; processes forked from cryo). */
int infect_prepare_ip(struct infect_task *t, pid_t tid, uint64_t syscall_ip);
/* A syscall instruction in cryo's own vDSO: at the same address in every
 * process cryo forks. */
int infect_own_syscall_ip(uint64_t *ret);
/* Run one syscall inside the task; ret gets the raw return (-errno on failure).
 * Returns <0 only if the injection itself failed. */
int infect_syscall(struct infect_task *t, long nr, int64_t *ret, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3,
                   uint64_t a4, uint64_t a5);
#define infect_sys(t, ret, nr, ...) infect_syscall_n((t), (nr), (ret), __VA_ARGS__)
int infect_syscall_n(struct infect_task *t, long nr, int64_t *ret, int n, ...);
/* Same, but treat a negative syscall result as failure and return it. */
int64_t infect_call(struct infect_task *t, long nr, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4,
                    uint64_t a5);

/* Map scratch memory (at hint if nonzero, MAP_FIXED_NOREPLACE) / unmap it. */
int infect_scratch_map(struct infect_task *t, size_t size, uint64_t hint);
int infect_scratch_unmap(struct infect_task *t);
/* Run many syscalls in the task with one round trip: a small position-
 * independent loop is copied into the (executable) scratch area and executes
 * the table; cryo waits for its done flag and stops it again. Without an
 * executable scratch area (W^X policies) it falls back to one syscall at a
 * time. Syscalls that may block must not be batched. Returns <0 only if
 * driving the task failed; each record's ret says how its call went. */
int infect_batch(struct infect_task *t, struct infect_rec *recs, size_t n);
#define INFECT_REC(nr_, ...) ((struct infect_rec){ .nr = (nr_), .a = { __VA_ARGS__ } })

/* Put the task back in a PTRACE_EVENT_STOP so final registers can be set. */
int infect_park(struct infect_task *t);
/* Park, restore t->regs and the signal mask (the task continues as before when detached). */
int infect_finish(struct infect_task *t);

/* memory of another process */
int infect_read_mem(pid_t pid, uint64_t addr, void *buf, size_t len);
int infect_write_mem(pid_t pid, uint64_t addr, const void *buf, size_t len);
/* Find a `syscall` instruction in pid's executable mappings (vDSO first). */
int infect_find_syscall_ip(pid_t pid, uint64_t *ret);
