/* eventfd: not written yet (stub). */
#include "core/res/files.h"

const struct file_ops eventfd_ops = { .kind = FILE_KIND__FK_EVENTFD, .name = "eventfd" };
