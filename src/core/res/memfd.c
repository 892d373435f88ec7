/* memfd: not written yet (stub). */
#include "core/res/files.h"

const struct file_ops memfd_ops = { .kind = FILE_KIND__FK_MEMFD, .name = "memfd" };
