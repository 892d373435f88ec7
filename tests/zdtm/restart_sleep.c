/* Sleeps and polls interrupted by the checkpoint must not fail after
 * restore: poll(), nanosleep() and clock_nanosleep() are restarted by the
 * kernel with -ERESTART_RESTARTBLOCK, whose restart state does not survive
 * into a new process -- cryo has to restart the original call instead.
 * Without a signal handler, none of them may return EINTR. */
#include <poll.h>
#include <sys/stat.h>
#include <time.h>

#include "zdtm.h"

int main(int argc, char **argv) {
        zdtm_init(argc, argv);
        int eintr_poll = 0, eintr_ns = 0, eintr_cns = 0, rounds = 0;
        struct stat st;
        zdtm_ready();
        while (stat(zdtm_path("go"), &st) != 0) {
                if (poll(NULL, 0, 30) < 0)
                        eintr_poll++;
                struct timespec ts = { 0, 30 * 1000 * 1000 };
                if (nanosleep(&ts, NULL) < 0)
                        eintr_ns++;
                if (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL) != 0)
                        eintr_cns++;
                rounds++;
        }
        if (eintr_poll || eintr_ns || eintr_cns)
                zdtm_fail("interrupted calls failed after restore: poll %d, nanosleep %d, clock_nanosleep %d (in %d rounds)",
                          eintr_poll, eintr_ns, eintr_cns, rounds);
        zdtm_pass();
}
