/* threads, with a signal pending for each thread only (see threads.c). */
#define THREADS_PENDING 1
#include "threads.c"
