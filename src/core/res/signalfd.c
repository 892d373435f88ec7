/* signalfd: not written yet (stub). */
#include "core/res/files.h"

const struct file_ops signalfd_ops = { .kind = FILE_KIND__FK_SIGNALFD, .name = "signalfd" };
