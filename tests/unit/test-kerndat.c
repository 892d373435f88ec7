/* TAP unit test of the kernel feature probes: every probe runs, says
 * something, cleans up after itself (no child left behind), and the
 * probes dump and restore need succeed on a machine that can run cryo. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "core/kerndat.h"

static int n, failed;

#define OK(cond, ...)                                                                                                  \
        do {                                                                                                           \
                int c_ = (cond);                                                                                       \
                n++;                                                                                                   \
                printf("%sok %d - ", c_ ? "" : "not ", n);                                                             \
                printf(__VA_ARGS__);                                                                                   \
                printf("\n");                                                                                          \
                failed += !c_;                                                                                         \
        } while (0)

int main(void) {
        size_t np;
        const struct kerndat_probe *p = kerndat_probes(&np);
        char buf[256];

        OK(np >= 20, "%zu probes are registered", np);
        for (size_t i = 0; i < np; i++) {
                struct kerndat_result r;
                OK(kerndat_find(p[i].name) == &p[i], "%s can be found by name", p[i].name);
                kerndat_run(&p[i], &r);
                OK(r.name == p[i].name && r.detail[0] && r.disables && r.disables[0], "%s: has a detail (%s)", r.name,
                   r.detail);
                /* every child a probe forks is reaped before it returns */
                errno = 0;
                OK(waitpid(-1, NULL, WNOHANG | __WALL) < 0 && errno == ECHILD, "%s leaves no child behind", r.name);
                if (r.need_dump || r.need_restore)
                        OK(r.ok, "%s: needed and present%s", r.name, r.ok ? "" : " -- MISSING");
        }
        OK(kerndat_find("no-such-feature") == NULL, "unknown names are not found");

        kerndat_xfeatures_str(0x2e7, buf, sizeof(buf));
        OK(strcmp(buf, "x87 SSE AVX AVX-512 PKRU") == 0, "xfeature names: %s", buf);
        kerndat_xfeatures_str(0x1ULL | (1ULL << 5) | (1ULL << 40), buf, sizeof(buf));
        OK(strcmp(buf, "x87 AVX-512(partial) bit40") == 0, "partial and unknown xfeatures: %s", buf);
        kerndat_xfeatures_str(0x2e7, buf, 8);
        OK(strlen(buf) == 7, "xfeature names are truncated safely: '%s'", buf);

        printf("1..%d\n", n);
        return failed ? 1 : 0;
}
