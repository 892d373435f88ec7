/* tree_simple with C2 in a process group of its own (setpgid) -- see
 * tree_simple.c. */
#define TREE_C2_OWN_PGRP 1
#include "tree_simple.c"
