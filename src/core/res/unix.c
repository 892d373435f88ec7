/* unix: not written yet (stub). */
#include "core/res/files.h"

const struct file_ops unix_ops = { .kind = FILE_KIND__FK_UNIX, .name = "unix" };
