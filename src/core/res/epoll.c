/* epoll: not written yet (stub). */
#include "core/res/files.h"

const struct file_ops epoll_ops = { .kind = FILE_KIND__FK_EPOLL, .name = "epoll" };
