/* The vDSO across C/R: [vvar], [vvar_vclock] and [vdso] stay at the same
 * addresses, AT_SYSINFO_EHDR still points at the vDSO, its code is intact,
 * and clock_gettime/gettimeofday/time/getcpu called straight through the
 * vDSO entry points (found by parsing its ELF) work after restore: the
 * monotonic clock never goes back and agrees with the raw syscall. */
#include "zdtm.h"

#include <elf.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>

struct area {
        unsigned long start, end;
};

static int find(const char *name, struct area *a) {
        FILE *f = fopen("/proc/self/maps", "r");
        char line[512];
        int found = 0;
        if (!f)
                zdtm_fail("open maps: %m");
        while (fgets(line, sizeof(line), f)) {
                char *n = strchr(line, '[');
                if (n && strncmp(n, name, strlen(name)) == 0 && n[strlen(name)] == '\n') {
                        sscanf(line, "%lx-%lx", &a->start, &a->end);
                        found = 1;
                }
        }
        fclose(f);
        return found;
}

static void *vdso_sym(uintptr_t base, const char *name) {
        const Elf64_Ehdr *eh = (const Elf64_Ehdr *)base;
        const Elf64_Phdr *ph = (const Elf64_Phdr *)(base + eh->e_phoff);
        const Elf64_Dyn *dyn = NULL;
        uintptr_t load = 0;
        int have_load = 0;
        for (int i = 0; i < eh->e_phnum; i++) {
                if (ph[i].p_type == PT_LOAD && !have_load) {
                        load = base + ph[i].p_offset - ph[i].p_vaddr;
                        have_load = 1;
                }
                if (ph[i].p_type == PT_DYNAMIC)
                        dyn = (const Elf64_Dyn *)(base + ph[i].p_offset);
        }
        if (!dyn || !have_load)
                return NULL;
        const Elf64_Sym *sym = NULL;
        const char *str = NULL;
        const uint32_t *hash = NULL;
        for (; dyn->d_tag != DT_NULL; dyn++) {
                if (dyn->d_tag == DT_SYMTAB)
                        sym = (const Elf64_Sym *)(load + dyn->d_un.d_ptr);
                else if (dyn->d_tag == DT_STRTAB)
                        str = (const char *)(load + dyn->d_un.d_ptr);
                else if (dyn->d_tag == DT_HASH)
                        hash = (const uint32_t *)(load + dyn->d_un.d_ptr);
        }
        if (!sym || !str || !hash)
                return NULL;
        for (uint32_t i = 0; i < hash[1]; i++)
                if (sym[i].st_name && strcmp(str + sym[i].st_name, name) == 0 && sym[i].st_value)
                        return (void *)(load + sym[i].st_value);
        return NULL;
}

typedef int (*cgt_t)(clockid_t, struct timespec *);
typedef int (*gtod_t)(struct timeval *, void *);
typedef time_t (*time_t_)(time_t *);
typedef long (*getcpu_t)(unsigned *, unsigned *, void *);

static double tsd(const struct timespec *t) {
        return t->tv_sec + t->tv_nsec / 1e9;
}

int main(int argc, char **argv) {
        zdtm_init(argc, argv);
        struct area vdso, vvar, vclock = { 0, 0 };
        zdtm_check(find("[vdso]", &vdso), "no [vdso] in maps");
        zdtm_check(find("[vvar]", &vvar), "no [vvar] in maps");
        int have_vclock = find("[vvar_vclock]", &vclock);
        unsigned long ehdr = getauxval(AT_SYSINFO_EHDR);
        zdtm_check(ehdr == vdso.start, "AT_SYSINFO_EHDR %#lx is not the vdso %#lx", ehdr, vdso.start);
        size_t vlen = vdso.end - vdso.start;
        uint8_t *copy = malloc(vlen);
        memcpy(copy, (void *)vdso.start, vlen);
        cgt_t cgt = (cgt_t)vdso_sym(vdso.start, "__vdso_clock_gettime");
        gtod_t gtod = (gtod_t)vdso_sym(vdso.start, "__vdso_gettimeofday");
        time_t_ tm = (time_t_)vdso_sym(vdso.start, "__vdso_time");
        getcpu_t gc = (getcpu_t)vdso_sym(vdso.start, "__vdso_getcpu");
        zdtm_check(cgt && gtod && tm && gc, "vdso symbols not found");
        struct timespec m0, r0;
        zdtm_check(cgt(CLOCK_MONOTONIC, &m0) == 0 && cgt(CLOCK_REALTIME, &r0) == 0, "vdso clock_gettime failed");

        zdtm_ready();
        zdtm_wait_go();

        struct area v2, vv2, vc2 = { 0, 0 };
        if (!find("[vdso]", &v2) || v2.start != vdso.start || v2.end != vdso.end)
                zdtm_fail("[vdso] moved: %#lx-%#lx, was %#lx-%#lx", v2.start, v2.end, vdso.start, vdso.end);
        if (!find("[vvar]", &vv2) || vv2.start != vvar.start || vv2.end != vvar.end)
                zdtm_fail("[vvar] moved: %#lx-%#lx, was %#lx-%#lx", vv2.start, vv2.end, vvar.start, vvar.end);
        if (have_vclock && (!find("[vvar_vclock]", &vc2) || vc2.start != vclock.start || vc2.end != vclock.end))
                zdtm_fail("[vvar_vclock] moved: %#lx-%#lx, was %#lx-%#lx", vc2.start, vc2.end, vclock.start, vclock.end);
        if (getauxval(AT_SYSINFO_EHDR) != vdso.start)
                zdtm_fail("AT_SYSINFO_EHDR is %#lx, expected %#lx", getauxval(AT_SYSINFO_EHDR), vdso.start);
        if (memcmp(copy, (void *)vdso.start, vlen))
                zdtm_fail("the vdso's contents changed");

        const clockid_t clocks[] = { CLOCK_MONOTONIC, CLOCK_REALTIME, CLOCK_BOOTTIME, CLOCK_MONOTONIC_RAW,
                                     CLOCK_MONOTONIC_COARSE, CLOCK_REALTIME_COARSE };
        for (size_t i = 0; i < sizeof(clocks) / sizeof(clocks[0]); i++) {
                struct timespec a, b, c;
                syscall(SYS_clock_gettime, clocks[i], &a);
                if (cgt(clocks[i], &b))
                        zdtm_fail("vdso clock_gettime(%d) failed", (int)clocks[i]);
                syscall(SYS_clock_gettime, clocks[i], &c);
                double slack = (clocks[i] == CLOCK_MONOTONIC_COARSE || clocks[i] == CLOCK_REALTIME_COARSE) ? 0.02 : 0.0005;
                if (tsd(&b) < tsd(&a) - slack || tsd(&b) > tsd(&c) + slack)
                        zdtm_fail("vdso clock %d says %.9f, the syscall %.9f..%.9f", (int)clocks[i], tsd(&b), tsd(&a),
                                  tsd(&c));
        }
        struct timespec m1;
        cgt(CLOCK_MONOTONIC, &m1);
        if (tsd(&m1) < tsd(&m0))
                zdtm_fail("CLOCK_MONOTONIC went back across C/R: %.9f -> %.9f", tsd(&m0), tsd(&m1));
        struct timespec prev = m1;
        for (int i = 0; i < 100000; i++) {
                struct timespec t;
                cgt(CLOCK_MONOTONIC, &t);
                if (tsd(&t) < tsd(&prev))
                        zdtm_fail("vdso CLOCK_MONOTONIC not monotonic after restore");
                prev = t;
        }
        struct timeval tv;
        if (gtod(&tv, NULL) || (tv.tv_sec - time(NULL) > 1 || time(NULL) - tv.tv_sec > 1))
                zdtm_fail("vdso gettimeofday is off: %ld vs %ld", (long)tv.tv_sec, (long)time(NULL));
        time_t t1 = tm(NULL);
        if (t1 < r0.tv_sec || t1 > (time_t)syscall(SYS_time, NULL) + 1)
                zdtm_fail("vdso time() is off: %ld", (long)t1);
        unsigned cpu = ~0u, node = ~0u, scpu = ~0u;
        if (gc(&cpu, &node, NULL) || cpu == ~0u)
                zdtm_fail("vdso getcpu failed");
        syscall(SYS_getcpu, &scpu, NULL, NULL);
        (void)scpu; /* may migrate in between: only check it answered */
        zdtm_pass();
}
