/* regs_xstate, but the loop waits in nanosleep(2) between checks, so the dump
 * finds the task inside a syscall (see regs_xstate.c). */
#define REGS_IN_SYSCALL 1
#include "regs_xstate.c"
