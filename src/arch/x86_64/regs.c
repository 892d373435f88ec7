/* x86_64 registers and the XSAVE area through ptrace; syscall set-up. */
#define LOG_PREFIX "arch: "
#include "arch/x86_64/arch.h"

#include <cpuid.h>
#include <elf.h>
#include <sys/ptrace.h>
#include <sys/uio.h>

#include "basic/kcompat.h"
#include "basic/log.h"
#include "basic/util.h"

int arch_get_regs(pid_t tid, arch_regs_t *ret) {
        if (ptrace(PTRACE_GETREGS, tid, NULL, ret) < 0)
                return -errno;
        return 0;
}

int arch_set_regs(pid_t tid, const arch_regs_t *regs) {
        if (ptrace(PTRACE_SETREGS, tid, NULL, regs) < 0)
                return -errno;
        return 0;
}

int arch_xfeatures(uint64_t *ret_xcr0, uint32_t *ret_size) {
        unsigned a, b, c, d;
        if (!__get_cpuid_count(0xd, 0, &a, &b, &c, &d))
                return -ENOTSUP;
        /* ebx: size for the features enabled in XCR0 */
        uint32_t lo, hi;
        __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
        *ret_xcr0 = ((uint64_t)hi << 32) | lo;
        *ret_size = b;
        return 0;
}

int arch_get_xstate(pid_t tid, void **ret_buf, size_t *ret_len) {
        uint64_t xcr0;
        uint32_t size;
        int r = arch_xfeatures(&xcr0, &size);
        if (r < 0)
                return r;
        size = MAX(size, 4096u) * 2; /* the kernel tells us the real length */
        void *buf = xzalloc(size);
        struct iovec iov = { buf, size };
        if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_X86_XSTATE, &iov) < 0) {
                r = -errno;
                free(buf);
                return r;
        }
        *ret_buf = buf;
        *ret_len = iov.iov_len;
        return 0;
}

int arch_set_xstate(pid_t tid, const void *buf, size_t len) {
        struct iovec iov = { (void *)buf, len };
        if (ptrace(PTRACE_SETREGSET, tid, (void *)NT_X86_XSTATE, &iov) < 0)
                return -errno;
        return 0;
}

uint64_t arch_xsave_features(const void *buf, size_t len) {
        /* legacy area 512 bytes, then the 64-byte XSAVE header whose first
         * u64 is XSTATE_BV; for ptrace (NT_X86_XSTATE) the kernel stores the
         * XCR0 of the dumping kernel in the first sw-reserved word, offset
         * 464 (USER_XSTATE_XCR0_WORD). Features in use are XSTATE_BV. */
        uint64_t bv = 0, sw = 0;
        if (len >= 512 + 8)
                memcpy(&bv, (const uint8_t *)buf + 512, 8);
        if (len >= 464 + 8)
                memcpy(&sw, (const uint8_t *)buf + 464, 8);
        return bv | sw;
}

void arch_regs_for_syscall(arch_regs_t *regs, uint64_t syscall_ip, long nr, const uint64_t a[6]) {
        regs->rip = syscall_ip;
        regs->rax = nr;
        regs->orig_rax = (uint64_t)-1; /* not in a syscall: no restart logic */
        regs->rdi = a[0];
        regs->rsi = a[1];
        regs->rdx = a[2];
        regs->r10 = a[3];
        regs->r8 = a[4];
        regs->r9 = a[5];
}

int64_t arch_syscall_result(const arch_regs_t *regs) {
        return (int64_t)regs->rax;
}

uint64_t arch_regs_ip(const arch_regs_t *regs) {
        return regs->rip;
}

uint64_t arch_regs_sp(const arch_regs_t *regs) {
        return regs->rsp;
}

bool arch_is_syscall_insn(const uint8_t *p) {
        return p[0] == 0x0f && p[1] == 0x05;
}
