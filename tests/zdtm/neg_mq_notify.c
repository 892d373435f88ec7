/* Refusal: a POSIX message queue with an mq_notify() registration (its
 * sigevent cannot be read back). After the refused dump the queue is
 * still empty, the notification did not fire and is still registered.
 * ZDTM: flavours=norestore refuse=mq_notify * ZDTM: serial=1 (SysV ids and queue names are global: never alongside other tests)
 */
#include <fcntl.h>
#include <mqueue.h>
#include <signal.h>

#include "zdtm.h"

static char name[64];

int main(int argc, char **argv) {
        zdtm_init(argc, argv);
        snprintf(name, sizeof(name), "/cryo-zdtm-mqn-%d", getpid());
        struct mq_attr a = { .mq_maxmsg = 4, .mq_msgsize = 32 };
        mqd_t q = mq_open(name, O_RDWR | O_CREAT | O_EXCL | O_NONBLOCK, 0600, &a);
        zdtm_check(q >= 0, "mq_open: %s", strerror(errno));
        mq_unlink(name);
        struct sigevent ev = { .sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR1 };
        sigset_t s;
        sigemptyset(&s);
        sigaddset(&s, SIGUSR1);
        sigprocmask(SIG_BLOCK, &s, NULL);
        zdtm_check(mq_notify(q, &ev) == 0, "mq_notify: %s", strerror(errno));
        zdtm_ready();
        zdtm_wait_go();
        struct mq_attr cur;
        sigset_t pend;
        sigpending(&pend);
        if (mq_getattr(q, &cur) < 0 || cur.mq_curmsgs != 0)
                zdtm_fail("the queue changed under a refused dump");
        if (sigismember(&pend, SIGUSR1))
                zdtm_fail("the refused dump fired the notification");
        /* still registered: a message fires it now */
        if (mq_send(q, "x", 1, 0) < 0)
                zdtm_fail("mq_send: %s", strerror(errno));
        sigpending(&pend);
        if (!sigismember(&pend, SIGUSR1))
                zdtm_fail("the mq_notify registration is gone after a refused dump");
        zdtm_pass();
}
