/* inotify: not written yet (stub). */
#include "core/res/files.h"

const struct file_ops inotify_ops = { .kind = FILE_KIND__FK_INOTIFY, .name = "inotify" };
