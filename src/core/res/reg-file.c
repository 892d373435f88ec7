/* stub */
#include "core/res/files.h"
const struct file_ops reg_file_ops = { .kind = FILE_KIND__FK_REG, .name = "file" };
