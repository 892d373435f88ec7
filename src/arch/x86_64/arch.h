#pragma once
/* The architecture interface: everything that differs between CPUs sits
 * behind these few calls. Only x86_64 exists today. */
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/user.h>

typedef struct user_regs_struct arch_regs_t;

/* registers of a stopped tracee */
int arch_get_regs(pid_t tid, arch_regs_t *ret);
int arch_set_regs(pid_t tid, const arch_regs_t *regs);
/* The full XSAVE area at the size the kernel reports (NT_X86_XSTATE). */
int arch_get_xstate(pid_t tid, void **ret_buf, size_t *ret_len);
int arch_set_xstate(pid_t tid, const void *buf, size_t len);
/* XCR0 and the kernel's xstate size on this CPU */
int arch_xfeatures(uint64_t *ret_xcr0, uint32_t *ret_size);
/* The XCR0 bits recorded inside an XSAVE image (xstate_bv of its header ∪ the
 * sw-reserved xfeatures), to refuse restoring features this CPU lacks. */
uint64_t arch_xsave_features(const void *buf, size_t len);

/* Prepare regs to execute one syscall at syscall_ip. */
void arch_regs_for_syscall(arch_regs_t *regs, uint64_t syscall_ip, long nr, const uint64_t args[6]);
int64_t arch_syscall_result(const arch_regs_t *regs);
uint64_t arch_regs_ip(const arch_regs_t *regs);
uint64_t arch_regs_sp(const arch_regs_t *regs);
/* Is this a byte pair that executes a syscall? */
bool arch_is_syscall_insn(const uint8_t *p);
#define ARCH_SYSCALL_INSN_LEN 2
