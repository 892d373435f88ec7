#pragma once
#include "core/ctx.h"

/* Checkpoint the tree rooted at opts->pid into opts->dir. On failure every
 * task is resumed exactly as it was. */
int cryo_dump(const struct dump_opts *opts);
