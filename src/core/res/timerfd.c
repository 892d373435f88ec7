/* timerfd: not written yet (stub). */
#include "core/res/files.h"

const struct file_ops timerfd_ops = { .kind = FILE_KIND__FK_TIMERFD, .name = "timerfd" };
