/* stub */
#include "core/res/files.h"
const struct file_ops pipe_ops = { .kind = FILE_KIND__FK_PIPE, .name = "pipe" };
