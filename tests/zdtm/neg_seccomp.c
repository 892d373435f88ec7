/* Refusal: a seccomp filter (an allow-everything BPF program, with
 * no_new_privs): the dump must fail with one line naming the pid and
 * seccomp, and leave the workload running untouched.
 * ZDTM: flavours=norestore refuse="seccomp" */
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>

#include "zdtm.h"

int main(int argc, char **argv) {
        zdtm_init(argc, argv);
        struct sock_filter insn[] = { BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW) };
        struct sock_fprog prog = { .len = 1, .filter = insn };
        zdtm_check(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0, "no_new_privs: %m");
        zdtm_check(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) == 0, "seccomp: %m");
        zdtm_ready();
        zdtm_wait_go();
        FILE *f = fopen("/proc/self/status", "r");
        char line[256];
        int mode = -1;
        while (f && fgets(line, sizeof(line), f))
                if (sscanf(line, "Seccomp:\t%d", &mode) == 1)
                        break;
        if (f)
                fclose(f);
        if (mode != SECCOMP_MODE_FILTER)
                zdtm_fail("seccomp mode is %d, expected %d (filter)", mode, SECCOMP_MODE_FILTER);
        zdtm_pass();
}
