#pragma once
#include "core/ctx.h"

/* Restore the tree in opts->dir. Returns the root pid (>0) once the tree
 * runs; on failure nothing restored is left behind. */
int cryo_restore(const struct restore_opts *opts);
