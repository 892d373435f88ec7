/* Refusal: a hugetlb memfd.
 * ZDTM: flavours=norestore */
#include <sys/mman.h>

#include "zdtm.h"

int main(int argc, char **argv) {
        zdtm_init(argc, argv);
        int m = memfd_create("huge", MFD_HUGETLB);
        zdtm_check(m >= 0, "memfd_create(MFD_HUGETLB): %s", strerror(errno));
        zdtm_ready();
        zdtm_wait_go();
        zdtm_pass();
}
