/* Registers across C/R: general purpose registers, x87 (control word, tag
 * word, all eight stack registers), MXCSR, SSE/AVX/AVX-512 vector registers
 * (zmm0-31 or ymm0-15 or xmm0-15, whatever the CPU has), the AVX-512 opmask
 * registers k0-7, PKRU, and the FS/GS bases.
 *
 * All of it is loaded by a loop written in assembly that holds the values in
 * the registers themselves and re-checks every one of them each iteration, so
 * nothing is spilled to memory where a lazy restore could hide a loss. The
 * loop creates DIR/ready itself (rename(2) of ready.tmp) only once the values
 * are live. It polls DIR/go with a raw access(2) syscall:
 *   - regs_xstate:     busy in user space, access(2) every 1024 iterations;
 *   - regs_xstate_sys: sits in nanosleep(2) (2 ms) between checks, so the
 *                      dump catches it inside a syscall.
 * A syscall clobbers only rax, rcx and r11, which hold nothing. */
#include "zdtm.h"

#include <asm/prctl.h>
#include <cpuid.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/syscall.h>

#ifndef REGS_IN_SYSCALL
#define REGS_IN_SYSCALL 0
#endif

/* Layout of the shared area (offsets are used by the assembly). */
#define OFF_VEXP 0          /* expected vectors: 32 x 64 bytes ... */
#define OFF_KEXP 2048       /* ... directly followed by k0-7 (8 x 8) */
#define OFF_VSEEN 2112      /* seen vectors, same layout */
#define OFF_KSEEN 4160
#define OFF_GEXP 4224       /* 9 GPRs expected */
#define OFF_GSEEN 4352      /* 9 GPRs seen */
#define OFF_FXREF 4480      /* fxsave right after loading (512, 16-aligned) */
#define OFF_FXSEEN 4992     /* fxsave each iteration */
#define OFF_ST 5504         /* 8 x 16 bytes: long doubles to load */
#define OFF_FCW 5632        /* u16 */
#define OFF_MXCSR 5636      /* u32 */
#define OFF_PKRU_EXP 5640   /* u32 */
#define OFF_PKRU_SEEN 5644  /* u32 */
#define OFF_FAIL 5648       /* u64: 0 ok, 1 gpr, 2 vector/k, 3 pkru, 4 x87/mxcsr */
#define OFF_ITERS 5656      /* u64 */
#define OFF_GO 5664         /* const char * */
#define OFF_MODE 5672       /* u64: 1 = sleep in nanosleep between checks */
#define OFF_FAILIDX 5680    /* u64 */
#define OFF_HAS_PKRU 5688   /* u64 */
#define OFF_TS 5696         /* struct timespec */
#define OFF_READY_TMP 5712  /* const char * */
#define OFF_READY 5720      /* const char * */
#define OFF_READY_DONE 5728 /* u64 */
#define OFF_EINTR 5736      /* u64: nanosleep returned -EINTR this often */
#define OFF_SYSERR 5744     /* u64: other unexpected syscall result */
#define OFF_MXCSR_DEF 5752  /* u32 */
#define OFF_PKRU_ORIG 5756  /* u32 */
#define AREA_SIZE 6144
#define NGPR 9

static uint8_t area[AREA_SIZE] __attribute__((aligned(64)));
#define A64(off) (*(uint64_t *)(area + (off)))
#define A32(off) (*(uint32_t *)(area + (off)))

#define S_(x) #x
#define S(x) S_(x)

#define R8(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7)
#define R16(M) R8(M) M(8) M(9) M(10) M(11) M(12) M(13) M(14) M(15)
#define R32(M) R16(M) M(16) M(17) M(18) M(19) M(20) M(21) M(22) M(23) M(24) M(25) M(26) M(27) M(28) M(29) M(30) M(31)

#define ZLD(n) "vmovdqu64 " #n "*64(%rsi), %zmm" #n "\n"
#define ZST(n) "vmovdqu64 %zmm" #n ", " #n "*64(%rsi)\n"
#define YLD(n) "vmovdqu " #n "*32(%rsi), %ymm" #n "\n"
#define YST(n) "vmovdqu %ymm" #n ", " #n "*32(%rsi)\n"
#define XLD(n) "movdqu " #n "*16(%rsi), %xmm" #n "\n"
#define XST(n) "movdqu %xmm" #n ", " #n "*16(%rsi)\n"
#define KLD(n) "kmovq " #n "*8+2048(%rsi), %k" #n "\n"
#define KST(n) "kmovq %k" #n ", " #n "*8+2048(%rsi)\n"
#define FLD_ST(n) "fldt " S(OFF_ST) "+(7-" #n ")*16(%rdi)\n"
#define FX_CMP(n)                                                                                                      \
        "mov " S(OFF_FXSEEN) "+32+" #n "*16(%rax), %rdx\n"                                                             \
        "cmp " S(OFF_FXREF) "+32+" #n "*16(%rax), %rdx\n"                                                              \
        "jne 94f\n"                                                                                                    \
        "movzwl " S(OFF_FXSEEN) "+40+" #n "*16(%rax), %edx\n"                                                          \
        "cmpw " S(OFF_FXREF) "+40+" #n "*16(%rax), %dx\n"                                                              \
        "jne 94f\n"

#define GPRS(M) M(rbx, 0) M(rbp, 1) M(r8, 2) M(r9, 3) M(r10, 4) M(r12, 5) M(r13, 6) M(r14, 7) M(r15, 8)
#define G_LD(r, i) "mov " S(OFF_GEXP) "+" #i "*8(%rdi), %" #r "\n"
#define G_CMP(r, i) "cmp " S(OFF_GEXP) "+" #i "*8(%rax), %" #r "\njne 91f\n"
#define G_ST(r, i) "mov %" #r ", " S(OFF_GSEEN) "+" #i "*8(%rax)\n"

/* regs_loop_NAME(area): returns when DIR/go exists or a check failed. */
#define REGS_FN(NAME, LOADV, STOREV, NQ, VZU)                                                                          \
        __asm__(".text\n"                                                                                              \
                ".globl regs_loop_" #NAME "\n"                                                                         \
                ".type regs_loop_" #NAME ", @function\n"                                                               \
                "regs_loop_" #NAME ":\n"                                                                               \
                "push %rbx\npush %rbp\npush %r12\npush %r13\npush %r14\npush %r15\n"                                   \
                "sub $8, %rsp\n"                                                                                       \
                "mov %rdi, (%rsp)\n"                                                                                   \
                "stmxcsr " S(OFF_MXCSR_DEF) "(%rdi)\n"                                                                 \
                "cmpq $0, " S(OFF_HAS_PKRU) "(%rdi)\n"                                                                 \
                "je 1f\n"                                                                                              \
                "xor %ecx, %ecx\nrdpkru\n"                                                                             \
                "mov %eax, " S(OFF_PKRU_ORIG) "(%rdi)\n"                                                               \
                "mov " S(OFF_PKRU_EXP) "(%rdi), %eax\n"                                                                \
                "xor %ecx, %ecx\nxor %edx, %edx\nwrpkru\n"                                                             \
                "1:\n"                                                                                                 \
                "fninit\n"                                                                                             \
                "fldcw " S(OFF_FCW) "(%rdi)\n" R8(FLD_ST) "ldmxcsr " S(OFF_MXCSR) "(%rdi)\n"                           \
                "lea " S(OFF_VEXP) "(%rdi), %rsi\n" LOADV "fxsave64 " S(OFF_FXREF) "(%rdi)\n" GPRS(G_LD)               \
                /* the loop */                                                                                         \
                "2:\n"                                                                                                 \
                "mov (%rsp), %rax\n"                                                                                   \
                "incq " S(OFF_ITERS) "(%rax)\n" GPRS(G_CMP) "lea " S(OFF_VSEEN) "(%rax), %rsi\n" STOREV                \
                "xor %ecx, %ecx\n"                                                                                     \
                "3:\n"                                                                                                 \
                "mov " S(OFF_VSEEN) "(%rax,%rcx,8), %rdx\n"                                                            \
                "cmp " S(OFF_VEXP) "(%rax,%rcx,8), %rdx\n"                                                             \
                "jne 92f\n"                                                                                            \
                "inc %ecx\n"                                                                                           \
                "cmp $" #NQ ", %ecx\n"                                                                                 \
                "jb 3b\n"                                                                                              \
                "cmpq $0, " S(OFF_HAS_PKRU) "(%rax)\n"                                                                 \
                "je 4f\n"                                                                                              \
                "mov %rax, %rsi\n"                                                                                     \
                "xor %ecx, %ecx\nrdpkru\n"                                                                             \
                "mov %eax, " S(OFF_PKRU_SEEN) "(%rsi)\n"                                                               \
                "cmp " S(OFF_PKRU_EXP) "(%rsi), %eax\n"                                                                \
                "mov %rsi, %rax\n"                                                                                     \
                "jne 93f\n"                                                                                            \
                "4:\n"                                                                                                 \
                "fxsave64 " S(OFF_FXSEEN) "(%rax)\n"                                                                   \
                "movzwl " S(OFF_FXSEEN) "(%rax), %edx\n"                                                               \
                "cmpw " S(OFF_FXREF) "(%rax), %dx\n"                                                                   \
                "jne 94f\n"                                                                                            \
                "movzbl " S(OFF_FXSEEN) "+4(%rax), %edx\n"                                                             \
                "cmpb " S(OFF_FXREF) "+4(%rax), %dl\n"                                                                 \
                "jne 94f\n"                                                                                            \
                "mov " S(OFF_FXSEEN) "+24(%rax), %edx\n"                                                               \
                "cmp " S(OFF_FXREF) "+24(%rax), %edx\n"                                                                \
                "jne 94f\n" R8(FX_CMP)                                                                                 \
                /* ready once everything was checked live at least once */                                             \
                "cmpq $0, " S(OFF_READY_DONE) "(%rax)\n"                                                               \
                "jne 5f\n"                                                                                             \
                "movq $1, " S(OFF_READY_DONE) "(%rax)\n"                                                               \
                "mov " S(OFF_READY_TMP) "(%rax), %rdi\n"                                                               \
                "mov " S(OFF_READY) "(%rax), %rsi\n"                                                                   \
                "mov $" S(SYS_rename) ", %eax\n"                                                                       \
                "syscall\n"                                                                                            \
                "mov (%rsp), %rax\n"                                                                                   \
                "5:\n"                                                                                                 \
                "cmpq $0, " S(OFF_MODE) "(%rax)\n"                                                                     \
                "je 6f\n"                                                                                              \
                "lea " S(OFF_TS) "(%rax), %rdi\n"                                                                      \
                "xor %esi, %esi\n"                                                                                     \
                "mov $" S(SYS_nanosleep) ", %eax\n"                                                                    \
                "syscall\n"                                                                                            \
                "mov (%rsp), %rsi\n"                                                                                   \
                "test %rax, %rax\n"                                                                                    \
                "je 7f\n"                                                                                              \
                "cmp $-4, %rax\n"                                                                                      \
                "jne 8f\n"                                                                                             \
                "incq " S(OFF_EINTR) "(%rsi)\n"                                                                        \
                "jmp 7f\n"                                                                                             \
                "8:\n"                                                                                                 \
                "incq " S(OFF_SYSERR) "(%rsi)\n"                                                                       \
                "jmp 7f\n"                                                                                             \
                "6:\n"                                                                                                 \
                "testq $1023, " S(OFF_ITERS) "(%rax)\n"                                                                \
                "jnz 2b\n"                                                                                             \
                "7:\n"                                                                                                 \
                "mov (%rsp), %rax\n"                                                                                   \
                "mov " S(OFF_GO) "(%rax), %rdi\n"                                                                      \
                "xor %esi, %esi\n"                                                                                     \
                "mov $" S(SYS_access) ", %eax\n"                                                                       \
                "syscall\n"                                                                                            \
                "test %rax, %rax\n"                                                                                    \
                "jnz 2b\n"                                                                                             \
                /* go: one last full check, then out */                                                                \
                "mov (%rsp), %rax\n"                                                                                   \
                "movq $0, " S(OFF_MODE) "(%rax)\n"                                                                     \
                "movq $1, " S(OFF_FAIL) "(%rax)\n" GPRS(G_CMP) "movq $0, " S(OFF_FAIL) "(%rax)\n"                      \
                "jmp 99f\n"                                                                                            \
                "91:\n"                                                                                                \
                "mov (%rsp), %rax\n"                                                                                   \
                "movq $1, " S(OFF_FAIL) "(%rax)\n"                                                                     \
                "jmp 99f\n"                                                                                            \
                "92:\n"                                                                                                \
                "mov %rcx, " S(OFF_FAILIDX) "(%rax)\n"                                                                 \
                "movq $2, " S(OFF_FAIL) "(%rax)\n"                                                                     \
                "jmp 99f\n"                                                                                            \
                "93:\n"                                                                                                \
                "movq $3, " S(OFF_FAIL) "(%rax)\n"                                                                     \
                "jmp 99f\n"                                                                                            \
                "94:\n"                                                                                                \
                "movq $4, " S(OFF_FAIL) "(%rax)\n"                                                                     \
                "99:\n"                                                                                                \
                "mov (%rsp), %rax\n" GPRS(G_ST) "lea " S(OFF_VSEEN) "(%rax), %rsi\n" STOREV "fxsave64 " S(             \
                        OFF_FXSEEN) "(%rax)\n"                                                                         \
                "mov %rax, %rdi\n"                                                                                     \
                "cmpq $0, " S(OFF_HAS_PKRU) "(%rdi)\n"                                                                 \
                "je 9f\n"                                                                                              \
                "xor %ecx, %ecx\nrdpkru\n"                                                                             \
                "mov %eax, " S(OFF_PKRU_SEEN) "(%rdi)\n"                                                               \
                "mov " S(OFF_PKRU_ORIG) "(%rdi), %eax\n"                                                               \
                "xor %ecx, %ecx\nxor %edx, %edx\nwrpkru\n"                                                             \
                "9:\n"                                                                                                 \
                "fninit\n"                                                                                             \
                "ldmxcsr " S(OFF_MXCSR_DEF) "(%rdi)\n" VZU "add $8, %rsp\n"                                            \
                "pop %r15\npop %r14\npop %r13\npop %r12\npop %rbp\npop %rbx\n"                                         \
                "ret\n"                                                                                                \
                ".size regs_loop_" #NAME ", .-regs_loop_" #NAME "\n")

/* The first NQ qwords from OFF_VEXP are compared: vectors, then (avx512) k0-7. */
REGS_FN(avx512, R32(ZLD) R8(KLD), R32(ZST) R8(KST), 264, "vzeroupper\n");
REGS_FN(avx, R16(YLD), R16(YST), 64, "vzeroupper\n");
REGS_FN(sse, R16(XLD), R16(XST), 32, "");

void regs_loop_avx512(uint8_t *a);
void regs_loop_avx(uint8_t *a);
void regs_loop_sse(uint8_t *a);

static const char *const gpr_names[NGPR] = { "rbx", "rbp", "r8", "r9", "r10", "r12", "r13", "r14", "r15" };

static uint64_t xgetbv0(void) {
        uint32_t lo, hi;
        __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
        return ((uint64_t)hi << 32) | lo;
}

int main(int argc, char **argv) {
        zdtm_init(argc, argv);
        unsigned a, b, c, d;
        bool osxsave = false, avx = false, avx512 = false, pku = false;
        uint64_t xcr0 = 0;

        if (__get_cpuid(1, &a, &b, &c, &d))
                osxsave = c & (1u << 27);
        if (osxsave)
                xcr0 = xgetbv0();
        if (osxsave && (c & (1u << 28)) && (xcr0 & 6) == 6)
                avx = true;
        if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
                /* avx512f (16) + avx512bw (30, for kmovq), OS-enabled opmask/zmm state */
                avx512 = avx && (b & (1u << 16)) && (b & (1u << 30)) && (xcr0 & 0xe0) == 0xe0;
                pku = (c & (1u << 4)) && (xcr0 & (1u << 9)); /* OSPKE */
        }
        /* /proc/cpuinfo says avx512f here: insist, so a broken check cannot hide the test */
        FILE *ci = fopen("/proc/cpuinfo", "r");
        if (ci) {
                char line[8192];
                while (fgets(line, sizeof(line), ci))
                        if (strncmp(line, "flags", 5) == 0) {
                                if (strstr(line, " avx512f") && strstr(line, " avx512bw") && !avx512)
                                        zdtm_fail("cpuinfo lists avx512f/bw but the cpuid/xgetbv check said no");
                                break;
                        }
                fclose(ci);
        }

        int nvq = avx512 ? 32 * 8 : avx ? 16 * 4 : 16 * 2; /* vector qwords */
        int vstride = avx512 ? 8 : avx ? 4 : 2;             /* qwords per register */
        uint64_t *vexp = (uint64_t *)(area + OFF_VEXP);
        for (int i = 0; i < nvq; i++) {
                int reg = i / vstride, q = i % vstride;
                vexp[i] = 0x5a00000000000000ull ^ ((uint64_t)(reg + 1) << 48) ^ ((uint64_t)(q + 1) << 40) ^
                          (0x9e3779b97f4a7c15ull * (uint64_t)(i + 7) >> 24);
        }
        uint64_t *kexp = (uint64_t *)(area + OFF_KEXP);
        for (int i = 0; i < 8; i++)
                kexp[i] = avx512 ? 0xc3a5000000000000ull | ((uint64_t)(i + 1) * 0x0101010101ull) : 0;
        uint64_t *gexp = (uint64_t *)(area + OFF_GEXP);
        for (int i = 0; i < NGPR; i++)
                gexp[i] = 0x1111111111111111ull * (uint64_t)(i + 1) ^ 0x0123456789abcdefull;
        long double *st = (long double *)(area + OFF_ST);
        const long double stv[8] = { 3.14159265358979323846264L, -2.5e-300L, 1.5e4000L, 12345.678L,
                                     -0.0L, 6.02214076e23L, 1.0L / 3.0L, -2.718281828459045235L };
        for (int i = 0; i < 8; i++)
                st[i] = stv[i];
        *(uint16_t *)(area + OFF_FCW) = 0x027f;      /* 53-bit precision */
        A32(OFF_MXCSR) = 0x1f80 | 0x8000 | 0x40 | 0x2000; /* FZ, DAZ, round down */
        A32(OFF_PKRU_EXP) = 0x96a5c3f0;              /* key 0 stays accessible */
        A64(OFF_HAS_PKRU) = pku;
        A64(OFF_GO) = (uintptr_t)strdup(zdtm_path("go"));
        A64(OFF_READY_TMP) = (uintptr_t)strdup(zdtm_path("ready.tmp"));
        A64(OFF_READY) = (uintptr_t)strdup(zdtm_path("ready"));
        A64(OFF_MODE) = REGS_IN_SYSCALL;
        A64(OFF_TS) = 0;
        A64(OFF_TS + 8) = 2 * 1000 * 1000;

        /* FS base belongs to glibc; GS base is free: give it a value to keep */
        unsigned long fs_before = 0, gs_want = 0x00007f1234560000ul, fs_after = 0, gs_after = 0;
        zdtm_check(syscall(SYS_arch_prctl, ARCH_GET_FS, &fs_before) == 0, "ARCH_GET_FS: %m");
        zdtm_check(syscall(SYS_arch_prctl, ARCH_SET_GS, gs_want) == 0, "ARCH_SET_GS: %m");

        int fd = open((const char *)(uintptr_t)A64(OFF_READY_TMP), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        zdtm_check(fd >= 0, "create ready.tmp: %m");
        zdtm_check(write(fd, "ready\n", 6) == 6, "write ready.tmp: %m");
        close(fd);

        const char *kind = avx512 ? "avx512" : avx ? "avx" : "sse";
        if (avx512)
                regs_loop_avx512(area);
        else if (avx)
                regs_loop_avx(area);
        else
                regs_loop_sse(area);

        zdtm_check(syscall(SYS_arch_prctl, ARCH_GET_FS, &fs_after) == 0, "ARCH_GET_FS: %m");
        zdtm_check(syscall(SYS_arch_prctl, ARCH_GET_GS, &gs_after) == 0, "ARCH_GET_GS: %m");

        uint64_t fail = A64(OFF_FAIL);
        uint64_t *gseen = (uint64_t *)(area + OFF_GSEEN);
        uint64_t *vseen = (uint64_t *)(area + OFF_VSEEN);
        switch (fail) {
        case 0:
                break;
        case 1:
                for (int i = 0; i < NGPR; i++)
                        if (gseen[i] != gexp[i])
                                zdtm_fail("%s: %s is %#" PRIx64 ", expected %#" PRIx64 " (iteration %" PRIu64 ")",
                                          kind, gpr_names[i], gseen[i], gexp[i], A64(OFF_ITERS));
                zdtm_fail("%s: a GPR check failed but all GPRs match afterwards", kind);
        case 2: {
                uint64_t i = A64(OFF_FAILIDX);
                if ((int)i < nvq)
                        zdtm_fail("%s: vector register %s%d qword %d is %#" PRIx64 ", expected %#" PRIx64
                                  " (iteration %" PRIu64 ")",
                                  kind, avx512 ? "zmm" : avx ? "ymm" : "xmm", (int)i / vstride, (int)i % vstride,
                                  vseen[i], vexp[i], A64(OFF_ITERS));
                zdtm_fail("%s: opmask k%d is %#" PRIx64 ", expected %#" PRIx64 " (iteration %" PRIu64 ")", kind,
                          (int)i - nvq, vseen[i], vexp[i], A64(OFF_ITERS));
        }
        case 3:
                zdtm_fail("PKRU is %#x, expected %#x (iteration %" PRIu64 ")", A32(OFF_PKRU_SEEN), A32(OFF_PKRU_EXP),
                          A64(OFF_ITERS));
        case 4: {
                const uint8_t *ref = area + OFF_FXREF, *see = area + OFF_FXSEEN;
                if (memcmp(ref, see, 2))
                        zdtm_fail("x87 control word is %#x, expected %#x", *(const uint16_t *)see,
                                  *(const uint16_t *)ref);
                if (ref[4] != see[4])
                        zdtm_fail("x87 tag word (abridged) is %#x, expected %#x", see[4], ref[4]);
                if (memcmp(ref + 24, see + 24, 4))
                        zdtm_fail("MXCSR is %#x, expected %#x", *(const uint32_t *)(see + 24),
                                  *(const uint32_t *)(ref + 24));
                for (int i = 0; i < 8; i++)
                        if (memcmp(ref + 32 + 16 * i, see + 32 + 16 * i, 10))
                                zdtm_fail("x87 st(%d) is %.20Lg, expected %.20Lg", i, *(const long double *)(see + 32 + 16 * i),
                                          *(const long double *)(ref + 32 + 16 * i));
                zdtm_fail("x87 state check failed but fields match afterwards");
        }
        default:
                zdtm_fail("bad failure code %" PRIu64, fail);
        }
        /* the final snapshot, taken after go, must match too */
        for (int i = 0; i < nvq + (avx512 ? 8 : 0); i++)
                if (vseen[i] != vexp[i])
                        zdtm_fail("%s: final vector/opmask qword %d is %#" PRIx64 ", expected %#" PRIx64, kind, i,
                                  vseen[i], vexp[i]);
        if (pku && A32(OFF_PKRU_SEEN) != A32(OFF_PKRU_EXP))
                zdtm_fail("final PKRU is %#x, expected %#x", A32(OFF_PKRU_SEEN), A32(OFF_PKRU_EXP));
        /* what fxsave saw must be what was loaded */
        const uint8_t *ref = area + OFF_FXREF;
        if (*(const uint16_t *)ref != 0x027f)
                zdtm_fail("loaded x87 control word reads back as %#x", *(const uint16_t *)ref);
        if (*(const uint32_t *)(ref + 24) != A32(OFF_MXCSR))
                zdtm_fail("loaded MXCSR reads back as %#x", *(const uint32_t *)(ref + 24));
        for (int i = 0; i < 8; i++)
                if (memcmp(ref + 32 + 16 * i, &st[i], 10))
                        zdtm_fail("loaded st(%d) reads back wrong", i);
        if (A64(OFF_SYSERR))
                zdtm_fail("nanosleep returned an unexpected error %" PRIu64 " times", A64(OFF_SYSERR));
        if (fs_after != fs_before)
                zdtm_fail("FS base is %#lx, expected %#lx", fs_after, fs_before);
        if (gs_after != gs_want)
                zdtm_fail("GS base is %#lx, expected %#lx", gs_after, gs_want);
        if (A64(OFF_ITERS) < 1)
                zdtm_fail("the loop never ran");
        zdtm_pass();
}
