/* Refusal: an inotify watch on a directory of a tmpfs that was lazily
 * unmounted (kept alive by an open fd): no path leads to it any more.
 * ZDTM: flavours=norestore */
#include <fcntl.h>
#include <sys/inotify.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "zdtm.h"

int main(int argc, char **argv) {
        zdtm_init(argc, argv);
        char m[4096];
        snprintf(m, sizeof(m), "%s", zdtm_path("m"));
        zdtm_check(mkdir(m, 0755) == 0, "mkdir: %s", strerror(errno));
        zdtm_check(mount("zdtm", m, "tmpfs", 0, "size=1m") == 0, "mount: %s", strerror(errno));
        int in = inotify_init1(IN_NONBLOCK); /* a lower fd than the pin: refused first */
        zdtm_check(in >= 0 && inotify_add_watch(in, m, IN_CREATE) == 1, "inotify: %s", strerror(errno));
        int pin = open(m, O_RDONLY | O_DIRECTORY);
        zdtm_check(pin >= 0, "open: %s", strerror(errno));
        zdtm_check(umount2(m, MNT_DETACH) == 0, "umount: %s", strerror(errno));
        zdtm_ready();
        zdtm_wait_go();
        int f = openat(pin, "f", O_CREAT | O_WRONLY, 0644);
        if (f < 0)
                zdtm_fail("create in the detached tmpfs: %s", strerror(errno));
        close(f);
        char buf[4096];
        if (read(in, buf, sizeof(buf)) <= 0)
                zdtm_fail("the watch is gone");
        zdtm_pass();
}
