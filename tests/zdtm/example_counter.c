/* The smallest workload: a counter in memory keeps counting across C/R. */
#include "zdtm.h"

static volatile uint64_t counter;

static void tick(void *arg) {
        (void)arg;
        counter++;
}

int main(int argc, char **argv) {
        zdtm_init(argc, argv);
        pid_t pid = getpid();
        zdtm_ready();
        zdtm_wait_go_busy(tick, NULL);
        if (getpid() != pid)
                zdtm_fail("pid changed from %d to %d", pid, getpid());
        if (counter == 0)
                zdtm_fail("counter did not advance");
        zdtm_pass();
}
