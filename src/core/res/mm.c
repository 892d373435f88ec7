/* The address space: every VMA (address, size, protection, sharing, flags,
 * the file behind it, madvise states), the mm fields (code/data/brk/stack/
 * arg/env bounds, auxv, exe file) and the contents of every page that is
 * present or swapped out -- never-touched pages, zero-page mappings and
 * pages of private file mappings still identical to the file are skipped.
 *
 * Dump: /proc/PID/smaps for the VMAs, PAGEMAP_SCAN (pagemap as fallback) to
 * find the pages, reads of /proc/PID/mem (process_vm_readv would pin the
 * pages and so break copy-on-write sharing with children) to copy them, in runs, into pages-PID.img; pagemap-PID.img lists the runs.
 *
 * Restore (remote syscalls in the new process, which still carries cryo's
 * own mappings): map a scratch area in a hole of both layouts, unmap all of
 * cryo, move the vDSO group ([vvar], [vvar_vclock], [vdso] -- however many
 * pieces this kernel has) to the original address with mremap, map every
 * VMA at its address, populate the ranges that get pages (MADV_POPULATE_WRITE:
 * page faults are expensive here) and preadv() the pages straight from the
 * image into place, then set the final protections, madvise states and the
 * mm fields (PR_SET_MM_MAP, which needs no CAP_SYS_RESOURCE). */
#define LOG_PREFIX "mm: "
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include "basic/kcompat.h"
#include "basic/log.h"
#include "basic/proc.h"
#include "basic/util.h"
#include "core/res/files.h"
#include "core/res/ipc.h"
#include "core/res/task.h"
#include "image/image.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#ifndef MREMAP_FIXED
#define MREMAP_MAYMOVE 1
#define MREMAP_FIXED 2
#endif
#ifndef PR_SET_VMA
#define PR_SET_VMA 0x53564d41
#define PR_SET_VMA_ANON_NAME 0
#endif

#define PAGE 4096ULL

/* smaps VmFlags -> the madvise() that sets them */
static const struct {
        char flag[3];
        int advice;
} madv_flags[] = {
        { "dc", MADV_DONTFORK }, { "dd", MADV_DONTDUMP },   { "hg", MADV_HUGEPAGE },
        { "nh", MADV_NOHUGEPAGE }, { "wf", MADV_WIPEONFORK }, { "mg", MADV_MERGEABLE },
};

static bool is_special(VmaKind k) {
        return k == VMA_KIND__VMA_VDSO || k == VMA_KIND__VMA_VVAR || k == VMA_KIND__VMA_VSYSCALL;
}

static bool name_is(const char *n, const char *s) {
        return n && strcmp(n, s) == 0;
}

static int vma_classify(pid_t pid, const struct proc_vma *v, VmaEntry *e) {
        const char *n = v->name;
        e->kind = VMA_KIND__VMA_ANON;
        if (name_is(n, "[vdso]"))
                e->kind = VMA_KIND__VMA_VDSO;
        else if (n && strncmp(n, "[vvar", 5) == 0)
                e->kind = VMA_KIND__VMA_VVAR;
        else if (name_is(n, "[vsyscall]"))
                e->kind = VMA_KIND__VMA_VSYSCALL;
        else if (name_is(n, "[heap]"))
                e->kind = VMA_KIND__VMA_HEAP;
        else if (name_is(n, "[stack]"))
                e->kind = VMA_KIND__VMA_STACK;
        else if (n && strncmp(n, "[anon:", 6) == 0) {
                e->anon_name = strndup(n + 6, strlen(n) - 7);
        } else if (n && strncmp(n, "[anon_shmem:", 12) == 0) {
                e->anon_name = strndup(n + 12, strlen(n) - 13);
        } else if (n && n[0] == '[')
                return log_error_errno(-ENOTSUP, "pid %d: mapping %llx-%llx %s is not supported yet", pid,
                                       (unsigned long long)v->start, (unsigned long long)v->end, n);
        else if (n && strncmp(n, "/SYSV", 5) == 0) {
                /* SysV shm: the segment (its inode number is the shmid) is saved by ipc.c */
                e->kind = VMA_KIND__VMA_SYSVSHM;
                e->shmid = (int32_t)v->ino;
                e->shmat_flags = (proc_vma_has_flag(v, "mw") ? 0 : SHM_RDONLY) | (v->prot & PROT_EXEC ? SHM_EXEC : 0);
        }
        else if (n && v->shared && strcmp(n, "/dev/zero (deleted)") == 0)
                e->kind = VMA_KIND__VMA_ANON;
        else if (n && (v->ino || n[0] == '/'))
                e->kind = VMA_KIND__VMA_FILE;
        else if (n)
                return log_error_errno(-ENOTSUP, "pid %d: mapping %llx-%llx '%s' is not supported yet", pid,
                                       (unsigned long long)v->start, (unsigned long long)v->end, n);
        if (is_special(e->kind))
                return 0;
        if (proc_vma_has_flag(v, "io") || proc_vma_has_flag(v, "pf"))
                return log_error_errno(-ENOTSUP, "pid %d: mapping %llx-%llx %s is a device (I/O) mapping, not supported yet",
                                       pid, (unsigned long long)v->start, (unsigned long long)v->end, n ? n : "");
        if (proc_vma_has_flag(v, "ht"))
                return log_error_errno(-ENOTSUP, "pid %d: mapping %llx-%llx is hugetlbfs memory, not supported yet", pid,
                                       (unsigned long long)v->start, (unsigned long long)v->end);
        if (proc_vma_has_flag(v, "um") || proc_vma_has_flag(v, "uw") || proc_vma_has_flag(v, "ui"))
                return log_error_errno(-ENOTSUP, "pid %d: mapping %llx-%llx is registered with userfaultfd, not supported yet",
                                       pid, (unsigned long long)v->start, (unsigned long long)v->end);
        return 0;
}

int mm_dump_vmas(struct dump_ctx *ctx, struct dump_task *t) {
        struct proc_vmas vmas = { 0 };
        struct proc_stat ps;
        _cleanup_free_ char *auxv = NULL;
        size_t auxv_len = 0;
        char path[96];
        MmEntry *mm;
        int r;

        r = proc_read_smaps(t->pid, &vmas);
        if (r < 0)
                return log_error_errno(r, "pid %d: cannot read its memory map: %m", t->pid);
        mm = t->mm = xzalloc(sizeof(*mm));
        mm_entry__init(mm);
        mm->vmas = xzalloc((vmas.n + 1) * sizeof(VmaEntry *));
        for (size_t i = 0; i < vmas.n; i++) {
                struct proc_vma *v = &vmas.v[i];
                VmaEntry *e = xzalloc(sizeof(*e));
                vma_entry__init(e);
                mm->vmas[mm->n_vmas++] = e;
                e->start = v->start;
                e->end = v->end;
                e->pgoff = v->pgoff;
                e->prot = v->prot;
                e->name = v->name ? xstrdup(v->name) : NULL;
                e->dev = makedev(v->dev_major, v->dev_minor);
                e->ino = v->ino;
                e->flags = v->shared ? MAP_SHARED : MAP_PRIVATE;
                r = vma_classify(t->pid, v, e);
                if (r < 0)
                        goto out;
                if (is_special(e->kind))
                        continue;
                if (e->kind != VMA_KIND__VMA_FILE)
                        e->flags |= MAP_ANONYMOUS;
                if (proc_vma_has_flag(v, "gd"))
                        e->flags |= MAP_GROWSDOWN;
                /* VM_NORESERVE: no commit charge (a 64 GiB MAP_NORESERVE arena must
                 * not fail, or be charged, at restore) */
                if (proc_vma_has_flag(v, "nr"))
                        e->flags |= MAP_NORESERVE;
                for (size_t k = 0; k < ARRAY_SIZE(madv_flags); k++)
                        if (proc_vma_has_flag(v, madv_flags[k].flag))
                                e->madv |= 1ULL << madv_flags[k].advice;
                e->locked = proc_vma_has_flag(v, "lo");
                e->had_thp = v->anon_huge_kb > 0;
                if (e->kind == VMA_KIND__VMA_FILE) {
                        _cleanup_close_ int fd = -EBADF;
                        char what[128];
                        bool need_write = v->shared && proc_vma_has_flag(v, "mw");
                        snprintf(path, sizeof(path), "/proc/%d/map_files/%llx-%llx", t->pid,
                                 (unsigned long long)v->start, (unsigned long long)v->end);
                        fd = open(path, (need_write ? O_RDWR : O_RDONLY) | O_CLOEXEC);
                        if (fd < 0) {
                                r = log_error_errno(-errno, "pid %d: cannot open the file behind mapping %llx-%llx (%s): %m",
                                                    t->pid, (unsigned long long)v->start, (unsigned long long)v->end,
                                                    v->name);
                                goto out;
                        }
                        snprintf(what, sizeof(what), "mapping %llx-%llx", (unsigned long long)v->start,
                                 (unsigned long long)v->end);
                        r = files_dump_mapped(ctx, t->pid, fd, what, &e->file_id);
                        if (r < 0)
                                goto out;
                        FileEntry *fe = dump_ctx_file(ctx, e->file_id);
                        if (fe && fe->reg)
                                fe->reg->mapped = true;
                        if (need_write && fe && (fe->flags & O_ACCMODE) == O_RDONLY && fe->kind == FILE_KIND__FK_REG)
                                fe->flags = (fe->flags & ~O_ACCMODE) | O_RDWR;
                }
        }

        r = proc_read_stat(t->pid, 0, &ps);
        if (r < 0) {
                log_error_errno(r, "pid %d: cannot read stat: %m", t->pid);
                goto out;
        }
        mm->start_code = ps.start_code;
        mm->end_code = ps.end_code;
        mm->start_data = ps.start_data;
        mm->end_data = ps.end_data;
        mm->start_brk = ps.start_brk;
        mm->start_stack = ps.start_stack;
        mm->arg_start = ps.arg_start;
        mm->arg_end = ps.arg_end;
        mm->env_start = ps.env_start;
        mm->env_end = ps.env_end;

        snprintf(path, sizeof(path), "/proc/%d/auxv", t->pid);
        r = read_full_file(path, &auxv, &auxv_len);
        if (r < 0) {
                log_error_errno(r, "pid %d: cannot read auxv: %m", t->pid);
                goto out;
        }
        mm->n_auxv = auxv_len / 8;
        mm->auxv = xzalloc((mm->n_auxv + 1) * 8);
        memcpy(mm->auxv, auxv, mm->n_auxv * 8);

        {
                _cleanup_close_ int fd = -EBADF;
                snprintf(path, sizeof(path), "/proc/%d/exe", t->pid);
                fd = open(path, O_RDONLY | O_CLOEXEC);
                if (fd < 0) {
                        r = log_error_errno(-errno, "pid %d: cannot open its executable: %m", t->pid);
                        goto out;
                }
                r = files_dump_mapped(ctx, t->pid, fd, "the executable", &mm->exe_file_id);
                if (r < 0)
                        goto out;
        }
        r = 0;
out:
        proc_vmas_done(&vmas);
        return r;
}

/* Pages worth saving in [start, end): see the comment at the top. */
struct run {
        uint64_t start, end;
};

static int scan_pagemap_scan(int pm_fd, const VmaEntry *e, struct run **runs, size_t *n, size_t *cap, size_t first) {
        struct page_region regs[512];
        uint64_t start = e->start;
        bool anon_only = e->kind == VMA_KIND__VMA_FILE || !(e->flags & MAP_SHARED);

        while (start < e->end) {
                struct pm_scan_arg a = {
                        .size = sizeof(a),
                        .start = start,
                        .end = e->end,
                        .vec = (uintptr_t)regs,
                        .vec_len = ARRAY_SIZE(regs),
                        /* never a zero-page mapping; for private mappings only anonymous pages */
                        .category_mask = PAGE_IS_PFNZERO | (anon_only ? PAGE_IS_FILE : 0),
                        .category_inverted = PAGE_IS_PFNZERO | (anon_only ? PAGE_IS_FILE : 0),
                        .category_anyof_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
                        .return_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
                };
                long k = ioctl(pm_fd, PAGEMAP_SCAN, &a);
                if (k < 0)
                        return -errno;
                for (long i = 0; i < k; i++) {
                        if (*n > first && (*runs)[*n - 1].end == regs[i].start)
                                (*runs)[*n - 1].end = regs[i].end;
                        else
                                *ARRAY_PUSH(*runs, *n, *cap) = (struct run){ regs[i].start, regs[i].end };
                }
                if (a.walk_end <= start)
                        break;
                start = a.walk_end;
        }
        return 0;
}

static int scan_pagemap_read(int pm_fd, const VmaEntry *e, uint64_t zero_pfn, struct run **runs, size_t *n,
                             size_t *cap, size_t first) {
        bool anon_only = e->kind == VMA_KIND__VMA_FILE || !(e->flags & MAP_SHARED);
        uint64_t buf[4096];
        for (uint64_t addr = e->start; addr < e->end;) {
                size_t cnt = MIN((e->end - addr) / PAGE, ARRAY_SIZE(buf));
                int r = pread_all(pm_fd, buf, cnt * 8, (addr / PAGE) * 8);
                if (r < 0)
                        return r;
                for (size_t i = 0; i < cnt; i++, addr += PAGE) {
                        uint64_t pm = buf[i];
                        bool want = (pm & (PM_PRESENT | PM_SWAP)) && !(anon_only && (pm & PM_FILE)) &&
                                    !((pm & PM_PRESENT) && zero_pfn && (pm & PM_PFN_MASK) == zero_pfn);
                        if (!want)
                                continue;
                        if (*n > first && (*runs)[*n - 1].end == addr)
                                (*runs)[*n - 1].end = addr + PAGE;
                        else
                                *ARRAY_PUSH(*runs, *n, *cap) = (struct run){ addr, addr + PAGE };
                }
        }
        return 0;
}

static bool vma_has_pages(const VmaEntry *e) {
        if (is_special(e->kind) || e->kind == VMA_KIND__VMA_SYSVSHM) /* SysV shm: in ipc.img */
                return false;
        if (e->kind == VMA_KIND__VMA_FILE && (e->flags & MAP_SHARED))
                return false; /* the file holds them */
        return true;
}

int mm_dump_pages(struct dump_ctx *ctx, struct dump_task *t) {
        struct img_raw_writer w;
        _cleanup_close_ int pm_fd = -EBADF, mem_fd = -EBADF;
        _cleanup_free_ uint8_t *buf = NULL;
        _cleanup_free_ struct run *runs = NULL;
        size_t nruns = 0, cruns = 0;
        const size_t BUF = 1 << 20;
        char path[64];
        bool use_scan = true;
        int r;

        snprintf(path, sizeof(path), "/proc/%d/pagemap", t->pid);
        pm_fd = open(path, O_RDONLY | O_CLOEXEC);
        if (pm_fd < 0)
                return log_error_errno(-errno, "pid %d: cannot open %s: %m", t->pid, path);
        snprintf(path, sizeof(path), "/proc/%d/mem", t->pid);
        mem_fd = open(path, O_RDONLY | O_CLOEXEC);
        if (mem_fd < 0)
                return log_error_errno(-errno, "pid %d: cannot open %s: %m", t->pid, path);

        t->pagemap = xzalloc(sizeof(*t->pagemap));
        pagemap__init(t->pagemap);
        snprintf(path, sizeof(path), "pages-%d.img", t->pid);
        r = img_raw_create(ctx->dirfd, path, IMG_PAGES, ctx->ckpt_id, &w);
        if (r < 0)
                return r;
        buf = xzalloc(BUF);

        for (size_t i = 0; i < t->mm->n_vmas; i++) {
                VmaEntry *e = t->mm->vmas[i];
                size_t first = nruns;
                if (!vma_has_pages(e))
                        continue;
                bool shared_anon = e->kind != VMA_KIND__VMA_FILE && (e->flags & MAP_SHARED);
                _cleanup_close_ int obj_fd = -EBADF;
                if (shared_anon) {
                        /* the shared object's data, whoever touched it: SEEK_DATA over its file */
                        char mf[96];
                        snprintf(mf, sizeof(mf), "/proc/%d/map_files/%llx-%llx", t->pid, (unsigned long long)e->start,
                                 (unsigned long long)e->end);
                        obj_fd = open(mf, O_RDONLY | O_CLOEXEC);
                        if (obj_fd < 0) {
                                r = log_error_errno(-errno, "pid %d: cannot open shared mapping %llx: %m", t->pid,
                                                    (unsigned long long)e->start);
                                goto fail;
                        }
                        off_t base = (off_t)e->pgoff, lim = base + (off_t)(e->end - e->start);
                        for (off_t o = base; o < lim;) {
                                off_t d = lseek(obj_fd, o, SEEK_DATA);
                                if (d < 0 || d >= lim)
                                        break;
                                off_t h = lseek(obj_fd, d, SEEK_HOLE);
                                if (h < 0 || h > lim)
                                        h = lim;
                                d &= ~(off_t)(PAGE - 1);
                                h = (h + PAGE - 1) & ~(off_t)(PAGE - 1);
                                *ARRAY_PUSH(runs, nruns, cruns) = (struct run){ e->start + (d - base), e->start + (h - base) };
                                o = h;
                        }
                } else if (use_scan) {
                        r = scan_pagemap_scan(pm_fd, e, &runs, &nruns, &cruns, first);
                        if (r == -ENOTTY || r == -EINVAL) {
                                use_scan = false;
                                nruns = first;
                        } else if (r < 0) {
                                r = log_error_errno(r, "pid %d: PAGEMAP_SCAN failed: %m", t->pid);
                                goto fail;
                        }
                }
                if (!use_scan && !shared_anon) {
                        r = scan_pagemap_read(pm_fd, e, 0, &runs, &nruns, &cruns, first);
                        if (r < 0) {
                                r = log_error_errno(r, "pid %d: cannot read pagemap: %m", t->pid);
                                goto fail;
                        }
                }
                for (size_t k = first; k < nruns; k++) {
                        for (uint64_t a = runs[k].start; a < runs[k].end;) {
                                size_t len = MIN(runs[k].end - a, (uint64_t)BUF);
                                /* /proc/PID/mem, not process_vm_readv: the latter pins pages,
                                 * which unshares pages a child still shares copy-on-write */
                                if (shared_anon)
                                        r = pread_all(obj_fd, buf, len, (off_t)(a - e->start) + (off_t)e->pgoff);
                                else
                                        r = pread_all(mem_fd, buf, len, a);
                                if (r < 0) {
                                        r = log_error_errno(r, "pid %d: cannot read memory at %llx: %m", t->pid,
                                                            (unsigned long long)a);
                                        goto fail;
                                }
                                r = img_raw_append(&w, buf, len);
                                if (r < 0)
                                        goto fail;
                                a += len;
                        }
                }
        }
        t->pagemap->runs = xzalloc((nruns + 1) * sizeof(PagemapEntry *));
        for (size_t k = 0; k < nruns; k++) {
                PagemapEntry *pe = xzalloc(sizeof(*pe));
                pagemap_entry__init(pe);
                pe->vaddr = runs[k].start;
                pe->nr_pages = (runs[k].end - runs[k].start) / PAGE;
                t->pagemap->runs[t->pagemap->n_runs++] = pe;
                t->nr_pages += pe->nr_pages;
        }
        t->pagemap->nr_pages = t->nr_pages;
        ctx->pages_total += t->nr_pages;
        return img_raw_finish(&w);
fail:
        img_raw_abort(&w);
        return r;
}

/* private memory whose anonymous pages a child can share copy-on-write */
/* Stacks are left out: premapping one near cryo's own stack in the new
 * process could block the growth of cryo's stack there. */
static bool private_anon(const VmaEntry *e) {
        return (e->kind == VMA_KIND__VMA_ANON || e->kind == VMA_KIND__VMA_HEAP || e->kind == VMA_KIND__VMA_FILE) &&
               !(e->flags & (MAP_SHARED | MAP_GROWSDOWN));
}

int mm_dump_cow(struct dump_ctx *ctx, struct dump_task *t, struct dump_task *p) {
        _cleanup_close_ int tfd = -EBADF, pfd = -EBADF;
        _cleanup_free_ uint64_t *a = NULL, *b = NULL;
        const size_t CH = 4096;
        char path[64];

        if (!p || !p->mm || !t->mm)
                return 0;
        snprintf(path, sizeof(path), "/proc/%d/pagemap", t->pid);
        tfd = open(path, O_RDONLY | O_CLOEXEC);
        snprintf(path, sizeof(path), "/proc/%d/pagemap", p->pid);
        pfd = open(path, O_RDONLY | O_CLOEXEC);
        if (tfd < 0 || pfd < 0)
                return log_error_errno(-errno, "pid %d: cannot open pagemap: %m", t->pid);
        a = xzalloc(CH * 8);
        b = xzalloc(CH * 8);
        size_t cap = 0;
        for (size_t i = 0; i < t->mm->n_vmas; i++) {
                VmaEntry *e = t->mm->vmas[i], *q = NULL;
                if (!private_anon(e))
                        continue;
                for (size_t k = 0; k < p->mm->n_vmas && !q; k++)
                        if (p->mm->vmas[k]->start == e->start && p->mm->vmas[k]->end == e->end &&
                            p->mm->vmas[k]->kind == e->kind && private_anon(p->mm->vmas[k]) &&
                            p->mm->vmas[k]->ino == e->ino && p->mm->vmas[k]->pgoff == e->pgoff)
                                q = p->mm->vmas[k];
                if (!q)
                        continue;
                log_debug("pid %d: %llx-%llx also in parent %d: comparing pages", t->pid,
                          (unsigned long long)e->start, (unsigned long long)e->end, p->pid);
                size_t before = t->pagemap->n_inherited;
                for (uint64_t addr = e->start; addr < e->end;) {
                        size_t cnt = MIN((e->end - addr) / PAGE, CH);
                        int r = pread_all(tfd, a, cnt * 8, (addr / PAGE) * 8);
                        if (r >= 0)
                                r = pread_all(pfd, b, cnt * 8, (addr / PAGE) * 8);
                        if (r < 0)
                                return log_error_errno(r, "pid %d: cannot read pagemap: %m", t->pid);
                        for (size_t k = 0; k < cnt; k++, addr += PAGE) {
                                uint64_t pa = a[k] & PM_PFN_MASK, pb = b[k] & PM_PFN_MASK;
                                if (!(a[k] & PM_PRESENT) || !(b[k] & PM_PRESENT) || !pa || pa != pb ||
                                    (a[k] & PM_FILE))
                                        continue; /* not shared, or a page-cache page (shared anyway) */
                                size_t n = t->pagemap->n_inherited;
                                PagemapEntry *last = n > before ? t->pagemap->inherited[n - 1] : NULL;
                                if (last && last->vaddr + (uint64_t)last->nr_pages * PAGE == addr) {
                                        last->nr_pages++;
                                        continue;
                                }
                                if (n == cap) {
                                        cap = cap ? cap * 2 : 64;
                                        t->pagemap->inherited =
                                                xrealloc_array(t->pagemap->inherited, cap, sizeof(PagemapEntry *));
                                }
                                PagemapEntry *pe = xzalloc(sizeof(*pe));
                                pagemap_entry__init(pe);
                                pe->vaddr = addr;
                                pe->nr_pages = 1;
                                t->pagemap->inherited[t->pagemap->n_inherited++] = pe;
                        }
                }
                if (t->pagemap->n_inherited > before) {
                        e->premap = e->inherited = true;
                        q->premap = true;
                        log_debug("pid %d: %llx-%llx shared copy-on-write with pid %d (%zu runs)", t->pid,
                                  (unsigned long long)e->start, (unsigned long long)e->end, p->pid,
                                  t->pagemap->n_inherited - before);
                }
        }
        return 0;
}

/* ------------------------------------------------------------------ restore */

#define RCALL(what, ...)                                                                                               \
        ({                                                                                                             \
                int64_t _r = infect_call(inf, __VA_ARGS__);                                                            \
                if (_r < 0 && _r > -4096)                                                                              \
                        return log_error_errno((int)_r, "pid %d: %s: %m", pid, what);                                 \
                _r;                                                                                                    \
        })

static bool overlaps(uint64_t a, uint64_t b, uint64_t c, uint64_t d) {
        return a < d && c < b;
}

/* A hole of size len free in both the current layout and the target's. */
static uint64_t find_hole(const struct proc_vmas *cur, const MmEntry *mm, uint64_t len) {
        for (uint64_t cand = 0x10000000000ULL; cand < 0x7f0000000000ULL; cand += 0x4000000000ULL) {
                bool ok = true;
                for (size_t i = 0; i < cur->n && ok; i++)
                        ok = !overlaps(cand, cand + len, cur->v[i].start, cur->v[i].end);
                for (size_t i = 0; i < mm->n_vmas && ok; i++)
                        ok = !overlaps(cand, cand + len, mm->vmas[i]->start, mm->vmas[i]->end + 0x100000);
                if (ok)
                        return cand;
        }
        return 0;
}

/* The next stretch of [*s, e) outside every VMA premapped here: returns
 * false when none is left. A VMA of the current layout may be a premapped
 * one merged by the kernel with its neighbours (an inherited mapping the
 * parent premapped, adjacent and compatible): only what lies outside the
 * premapped VMAs may go. */
static bool next_unkept(const MmEntry *mm, const bool *kept, uint64_t *s, uint64_t e, uint64_t *gs, uint64_t *ge) {
        while (*s < e) {
                const VmaEntry *hit = NULL;
                uint64_t next = e;
                for (size_t i = 0; i < mm->n_vmas && !hit; i++) {
                        if (!kept || !kept[i])
                                continue;
                        if (mm->vmas[i]->start <= *s && *s < mm->vmas[i]->end)
                                hit = mm->vmas[i];
                        else if (mm->vmas[i]->start > *s && mm->vmas[i]->start < next)
                                next = mm->vmas[i]->start;
                }
                if (hit) {
                        *s = hit->end;
                        continue;
                }
                *gs = *s;
                *ge = next;
                *s = next;
                return true;
        }
        return false;
}

/* Was the parent's twin of e premapped (so e is here, inherited)? */
static bool parent_premapped(struct restore_ctx *ctx, struct restore_task *t, const VmaEntry *e) {
        for (size_t i = 0; i < ctx->ntasks; i++) {
                struct restore_task *p = &ctx->tasks[i];
                if (p->pe->pid != t->pe->ppid || !p->mm || !p->premapped)
                        continue;
                for (size_t k = 0; k < p->mm->n_vmas; k++)
                        if (p->mm->vmas[k]->start == e->start && p->mm->vmas[k]->end == e->end)
                                return p->premapped[k];
        }
        return false;
}

int mm_premap_child(struct restore_ctx *ctx, struct restore_task *t) {
        MmEntry *mm = t->mm;
        Pagemap *pm = t->pagemap;
        bool any = false;
        int r;

        for (size_t i = 0; i < mm->n_vmas; i++)
                any |= mm->vmas[i]->premap;
        if (!any)
                return 0;
        /* what this process premapped: its children (forked after this) read it */
        t->premapped = xzalloc(mm->n_vmas * sizeof(bool));
        uint64_t *run_off = xzalloc((pm->n_runs + 1) * sizeof(uint64_t));
        uint64_t off = IMG_RAW_DATA_OFF;
        for (size_t k = 0; k < pm->n_runs; k++) {
                run_off[k] = off;
                off += (uint64_t)pm->runs[k]->nr_pages * PAGE;
        }
        for (size_t i = 0; i < mm->n_vmas; i++) {
                VmaEntry *e = mm->vmas[i];
                if (!e->premap)
                        continue;
                if (e->inherited) {
                        /* the parent's copy is here (copy-on-write): write what differs, drop what we lack */
                        if (!parent_premapped(ctx, t, e)) {
                                log_debug("pid %d: %llx-%llx was not inherited", getpid(), (unsigned long long)e->start,
                                          (unsigned long long)e->end);
                                continue;
                        }
                        t->premapped[i] = true;
                        uint64_t pos = e->start;
                        for (size_t k = 0; k < pm->n_runs; k++) {
                                uint64_t rs = pm->runs[k]->vaddr, re = rs + (uint64_t)pm->runs[k]->nr_pages * PAGE;
                                if (re <= e->start || rs >= e->end)
                                        continue;
                                if (rs > pos)
                                        madvise((void *)pos, rs - pos, MADV_DONTNEED);
                                pos = re;
                                for (uint64_t a = rs; a < re;) {
                                        /* skip inherited stretches */
                                        uint64_t next = re;
                                        bool inh = false;
                                        for (size_t j = 0; j < pm->n_inherited; j++) {
                                                uint64_t is = pm->inherited[j]->vaddr,
                                                         ie = is + (uint64_t)pm->inherited[j]->nr_pages * PAGE;
                                                if (is <= a && a < ie) {
                                                        inh = true;
                                                        next = MIN(ie, re);
                                                        break;
                                                }
                                                if (is > a && is < next)
                                                        next = is;
                                        }
                                        if (!inh) {
                                                r = pread_all(t->pages_fd, (void *)a, next - a, run_off[k] + (a - rs));
                                                if (r < 0) {
                                                        free(run_off);
                                                        return log_error_errno(r, "cannot read pages: %m");
                                                }
                                        }
                                        a = next;
                                }
                        }
                        if (pos < e->end)
                                madvise((void *)pos, e->end - pos, MADV_DONTNEED);
                        continue;
                }
                int fl = MAP_PRIVATE | MAP_FIXED_NOREPLACE | (e->flags & (MAP_GROWSDOWN | MAP_NORESERVE));
                int ffd = -1;
                if (e->kind == VMA_KIND__VMA_FILE) {
                        size_t idx;
                        if (!restore_ctx_file(ctx, e->file_id, &idx) || ctx->file_fds[idx] < 0)
                                continue;
                        ffd = ctx->file_fds[idx];
                } else
                        fl |= MAP_ANONYMOUS;
                void *m = mmap((void *)e->start, e->end - e->start, PROT_READ | PROT_WRITE, fl, ffd,
                               ffd >= 0 ? (off_t)e->pgoff : 0);
                if (m == MAP_FAILED) {
                        log_debug("pid %d: cannot premap %llx-%llx: %m", getpid(), (unsigned long long)e->start,
                                  (unsigned long long)e->end);
                        continue; /* collides with cryo's own mappings here: restored the ordinary way */
                }
                if ((uint64_t)m != e->start) {
                        munmap(m, e->end - e->start);
                        continue;
                }
                t->premapped[i] = true;
                if (e->madv & (1ULL << MADV_HUGEPAGE))
                        madvise(m, e->end - e->start, MADV_HUGEPAGE);
                for (size_t k = 0; k < pm->n_runs; k++) {
                        uint64_t rs = pm->runs[k]->vaddr, len = (uint64_t)pm->runs[k]->nr_pages * PAGE;
                        if (rs < e->start || rs >= e->end)
                                continue;
                        if (pm->runs[k]->nr_pages >= 8)
                                madvise((void *)rs, len, MADV_POPULATE_WRITE);
                        r = pread_all(t->pages_fd, (void *)rs, len, run_off[k]);
                        if (r < 0) {
                                free(run_off);
                                return log_error_errno(r, "cannot read pages: %m");
                        }
                }
        }
        free(run_off);
        return 0;
}

int mm_restore_check(struct restore_ctx *ctx, struct restore_task *t) {
        MmEntry *mm = t->mm;
        for (size_t i = 0; i < mm->n_vmas; i++) {
                VmaEntry *e = mm->vmas[i];
                if (e->end <= e->start || (e->start | e->end) & (PAGE - 1))
                        return log_error_errno(-EBADMSG, "pid %d: mm image has a bad mapping %llx-%llx", t->pe->pid,
                                               (unsigned long long)e->start, (unsigned long long)e->end);
                if (e->kind == VMA_KIND__VMA_FILE && !restore_ctx_file(ctx, e->file_id, NULL))
                        return log_error_errno(-EBADMSG, "pid %d: mapping %llx-%llx names unknown file %u", t->pe->pid,
                                               (unsigned long long)e->start, (unsigned long long)e->end, e->file_id);
        }
        uint64_t total = 0;
        for (size_t k = 0; k < t->pagemap->n_runs; k++)
                total += t->pagemap->runs[k]->nr_pages;
        if (total != t->pagemap->nr_pages)
                return log_error_errno(-EBADMSG, "pid %d: pagemap image is inconsistent", t->pe->pid);
        return 0;
}

static const VmaEntry *vma_of(const MmEntry *mm, uint64_t addr) {
        for (size_t i = 0; i < mm->n_vmas; i++)
                if (mm->vmas[i]->start <= addr && addr < mm->vmas[i]->end)
                        return mm->vmas[i];
        return NULL;
}

/* Move the kernel's vDSO pieces of the new process to where the target had them. */
static int move_vdso(struct restore_ctx *ctx, struct restore_task *t, const struct proc_vmas *cur) {
        struct infect_task *inf = &t->inf;
        pid_t pid = t->pe->pid;
        const MmEntry *mm = t->mm;
        struct {
                uint64_t from, to, len;
        } mv[8];
        size_t n = 0;
        uint64_t cur_lo = UINT64_MAX, cur_hi = 0, tgt_lo = UINT64_MAX, tgt_hi = 0;

        for (size_t i = 0; i < mm->n_vmas; i++) {
                const VmaEntry *e = mm->vmas[i];
                if (e->kind != VMA_KIND__VMA_VDSO && e->kind != VMA_KIND__VMA_VVAR)
                        continue;
                const struct proc_vma *c = NULL;
                for (size_t k = 0; k < cur->n; k++)
                        if (name_is(cur->v[k].name, e->name))
                                c = &cur->v[k];
                if (!c)
                        return log_error_errno(-ENOTSUP, "pid %d: this kernel has no %s mapping; the checkpoint needs one",
                                               pid, e->name);
                if (c->end - c->start != e->end - e->start)
                        return log_error_errno(-ENOTSUP, "pid %d: %s is %llu bytes here but was %llu bytes (another kernel?), not supported yet",
                                               pid, e->name, (unsigned long long)(c->end - c->start),
                                               (unsigned long long)(e->end - e->start));
                if (n == ARRAY_SIZE(mv))
                        return log_error_errno(-ENOTSUP, "pid %d: too many vDSO pieces", pid);
                mv[n].from = c->start;
                mv[n].to = e->start;
                mv[n].len = e->end - e->start;
                cur_lo = MIN(cur_lo, c->start);
                cur_hi = MAX(cur_hi, c->end);
                tgt_lo = MIN(tgt_lo, e->start);
                tgt_hi = MAX(tgt_hi, e->end);
                n++;
        }
        /* pieces the target no longer has (it unmapped them) go away */
        for (size_t k = 0; k < cur->n; k++) {
                const struct proc_vma *c = &cur->v[k];
                bool special = c->name && (name_is(c->name, "[vdso]") || strncmp(c->name, "[vvar", 5) == 0);
                bool wanted = false;
                for (size_t i = 0; i < n; i++)
                        wanted |= mv[i].from == c->start;
                if (special && !wanted && n > 0)
                        RCALL("unmap a vDSO piece", __NR_munmap, c->start, c->end - c->start, 0, 0, 0, 0);
        }
        if (!n)
                return 0;
        /* An overlapping move would clobber pieces not yet moved: go through a hole. */
        uint64_t via = 0;
        if (overlaps(cur_lo, cur_hi, tgt_lo, tgt_hi)) {
                via = find_hole(cur, mm, (cur_hi - cur_lo) + PAGE);
                if (!via)
                        return log_error_errno(-ENOMEM, "pid %d: no room to move the vDSO", pid);
        }
        uint64_t ip = inf->syscall_ip;
        for (int pass = via ? 0 : 1; pass < 2; pass++)
                for (size_t i = 0; i < n; i++) {
                        uint64_t from = pass == 0 || !via ? mv[i].from : via + (mv[i].from - cur_lo);
                        uint64_t to = pass == 0 ? via + (mv[i].from - cur_lo) : mv[i].to;
                        if (from == to)
                                continue;
                        RCALL("move the vDSO", __NR_mremap, from, mv[i].len, mv[i].len, MREMAP_MAYMOVE | MREMAP_FIXED,
                              to, 0);
                        if (ip >= from && ip < from + mv[i].len) {
                                ip = to + (ip - from);
                                inf->syscall_ip = ip;
                        }
                }
        return 0;
}

/* Remote calls of the mapping step, sent in batches (infect_batch). */
struct mbatch {
        struct infect_task *inf;
        pid_t pid;
        struct infect_rec *recs;
        size_t n, cap;
        uint64_t name_off; /* next free byte for VMA names in the scratch area */
};

#define MBATCH_NAMES_OFF (64 * 1024)
#define MBATCH_NAMES_END (192 * 1024)

static int mbatch_flush(struct mbatch *b) {
        int r = infect_batch(b->inf, b->recs, b->n);
        if (r < 0)
                return log_error_errno(r, "pid %d: cannot drive the restore of its memory: %m", b->pid);
        for (size_t k = 0; k < b->n; k++) {
                const struct infect_rec *x = &b->recs[k];
                if (x->nr == __NR_mmap && (uint64_t)x->ret != x->a[0])
                        return log_error_errno(x->ret < 0 && x->ret > -4096 ? (int)x->ret : -EFAULT,
                                               "pid %d: cannot map %llx-%llx: %m", b->pid, (unsigned long long)x->a[0],
                                               (unsigned long long)(x->a[0] + x->a[1]));
                if (x->nr == __NR_madvise && x->ret < 0)
                        return log_error_errno((int)x->ret, "pid %d: madvise(%llu) on %llx: %m", b->pid,
                                               (unsigned long long)x->a[2], (unsigned long long)x->a[0]);
        }
        b->n = 0;
        b->name_off = 0;
        return 0;
}

static int mbatch_add(struct mbatch *b, struct infect_rec rec) {
        if (b->n == INFECT_BATCH_MAX) {
                int r = mbatch_flush(b);
                if (r < 0)
                        return r;
        }
        *ARRAY_PUSH(b->recs, b->n, b->cap) = rec;
        return 0;
}

/* PR_SET_VMA_ANON_NAME with the name placed in the scratch area */
static int mbatch_name(struct mbatch *b, const VmaEntry *e) {
        size_t l = strlen(e->anon_name) + 1;
        if (MBATCH_NAMES_OFF + b->name_off + l > MBATCH_NAMES_END) {
                int r = mbatch_flush(b);
                if (r < 0)
                        return r;
        }
        uint64_t addr = b->inf->scratch + MBATCH_NAMES_OFF + b->name_off;
        int r = infect_write_mem(b->pid, addr, e->anon_name, l);
        if (r < 0)
                return log_error_errno(r, "pid %d: cannot write scratch memory: %m", b->pid);
        b->name_off += ALIGN_UP(l, 8);
        return mbatch_add(b, INFECT_REC(__NR_prctl, PR_SET_VMA, PR_SET_VMA_ANON_NAME, e->start, e->end - e->start, addr));
}

static int open_flags_prot(const VmaEntry *e, int *prot) {
        *prot = e->prot;
        return 0;
}

int mm_restore_remote(struct restore_ctx *ctx, struct restore_task *t) {
        struct infect_task *inf = &t->inf;
        pid_t pid = t->pe->pid;
        MmEntry *mm = t->mm;
        Pagemap *pmap = t->pagemap;
        struct proc_vmas cur = { 0 };
        const uint64_t scratch_len = SCRATCH_SIZE;
        int r;

        r = proc_read_smaps(pid, &cur);
        if (r < 0)
                return log_error_errno(r, "pid %d: cannot read its memory map: %m", pid);
        uint64_t hole = find_hole(&cur, mm, scratch_len);
        if (!hole) {
                proc_vmas_done(&cur);
                return log_error_errno(-ENOMEM, "pid %d: no free address range for restore scratch memory", pid);
        }
        r = infect_scratch_map(inf, scratch_len, hole);
        if (r < 0)
                goto out;

        /* 1. drop cryo's own mappings (all but the kernel's special ones and the scratch), in one batch */
        {
                size_t n = 0, cap = cur.n + 1;
                struct infect_rec *recs = xzalloc(cap * sizeof(*recs));
                for (size_t k = 0; k < cur.n; k++) {
                        const struct proc_vma *c = &cur.v[k];
                        uint64_t s = c->start, gs, ge;
                        if (c->name && (name_is(c->name, "[vdso]") || strncmp(c->name, "[vvar", 5) == 0 ||
                                        name_is(c->name, "[vsyscall]")))
                                continue;
                        /* what was premapped before the fork is already in place */
                        while (next_unkept(mm, t->premapped, &s, c->end, &gs, &ge)) {
                                if (n == cap) {
                                        cap *= 2;
                                        recs = xrealloc_array(recs, cap, sizeof(*recs));
                                }
                                recs[n++] = INFECT_REC(__NR_munmap, gs, ge - gs);
                        }
                }
                r = infect_batch(inf, recs, n);
                for (size_t k = 0; r >= 0 && k < n; k++)
                        if (recs[k].ret < 0)
                                r = log_error_errno((int)recs[k].ret, "pid %d: cannot unmap %llx-%llx: %m", pid,
                                                    (unsigned long long)recs[k].a[0],
                                                    (unsigned long long)(recs[k].a[0] + recs[k].a[1]));
                free(recs);
                if (r < 0)
                        goto out;
        }
        /* 2. the vDSO */
        r = move_vdso(ctx, t, &cur);
        if (r < 0)
                goto out;
        bool *kept = xzalloc((mm->n_vmas + 1) * sizeof(bool));
        for (size_t i = 0; i < mm->n_vmas; i++)
                kept[i] = t->premapped && t->premapped[i];
        proc_vmas_done(&cur);

        /* 3. every mapping, writable for now where pages go in. Plain mmaps,
         * their madvise states and names go out in batches; the few mappings
         * that need a result first (SysV attach, a shared object opened
         * through map_files) flush the batch and go one by one. */
        bool *added_write = xzalloc((mm->n_vmas + 1) * sizeof(bool));
        struct mbatch mb = { .inf = inf, .pid = pid };
        for (size_t i = 0; i < mm->n_vmas; i++) {
                VmaEntry *e = mm->vmas[i];
                int prot, fd = -1;
                if (is_special(e->kind))
                        continue;
                if (e->kind == VMA_KIND__VMA_SYSVSHM) { /* shmat, not mmap: ipc.c */
                        r = mbatch_flush(&mb);
                        if (r >= 0)
                                r = ipc_shm_attach_remote(ctx, t, i);
                        if (r < 0)
                                goto fail3;
                        continue;
                }
                if (kept[i]) {
                        added_write[i] = e->prot != (PROT_READ | PROT_WRITE);
                        goto madv;
                }
                open_flags_prot(e, &prot);
                if (vma_has_pages(e) && !(prot & PROT_WRITE)) {
                        prot |= PROT_WRITE;
                        added_write[i] = true;
                }
                uint32_t flags = (e->flags & (MAP_SHARED | MAP_PRIVATE | MAP_ANONYMOUS | MAP_GROWSDOWN | MAP_NORESERVE)) | MAP_FIXED;
                int obj_fd = -1;
                if (e->kind != VMA_KIND__VMA_FILE && (e->flags & MAP_SHARED)) {
                        /* one shared anonymous object: the first mapping creates it, the
                         * others map it through /proc/PID/map_files of the first */
                        const struct restore_shmem *sh = restore_ctx_shmem(ctx, e->ino);
                        if (sh) {
                                char mf[96];
                                r = mbatch_flush(&mb);
                                if (r < 0)
                                        goto fail3;
                                snprintf(mf, sizeof(mf), "/proc/%d/map_files/%llx-%llx", sh->pid,
                                         (unsigned long long)sh->start, (unsigned long long)sh->end);
                                if (infect_write_mem(pid, inf->scratch, mf, strlen(mf) + 1) < 0) {
                                        r = log_error_errno(-EFAULT, "pid %d: cannot write scratch memory", pid);
                                        goto fail3;
                                }
                                int64_t o = infect_call(inf, __NR_open, inf->scratch, O_RDWR, 0, 0, 0, 0);
                                if (o < 0) {
                                        r = log_error_errno((int)o, "pid %d: cannot open the shared mapping %s: %m", pid, mf);
                                        goto fail3;
                                }
                                obj_fd = o;
                                fd = o;
                                flags &= ~MAP_ANONYMOUS;
                        } else if (e->pgoff != 0) {
                                r = log_error_errno(-ENOTSUP, "pid %d: shared anonymous mapping %llx starts %llu bytes into its object; partially unmapped shared memory is not supported yet",
                                                    pid, (unsigned long long)e->start, (unsigned long long)e->pgoff);
                                goto fail3;
                        } else
                                restore_ctx_add_shmem(ctx, e->ino, pid, e->start, e->end);
                }
                if (e->kind == VMA_KIND__VMA_FILE) {
                        size_t idx;
                        restore_ctx_file(ctx, e->file_id, &idx);
                        fd = ctx->file_fds[idx];
                        if (added_write[i] && (e->flags & MAP_SHARED))
                                added_write[i] = false, prot &= ~PROT_WRITE;
                }
                r = mbatch_add(&mb, INFECT_REC(__NR_mmap, e->start, e->end - e->start, prot, flags,
                                               (uint64_t)(int64_t)fd,
                                               e->kind == VMA_KIND__VMA_FILE || obj_fd >= 0 ? e->pgoff : 0));
                if (r < 0)
                        goto fail3;
                if (obj_fd >= 0) {
                        r = mbatch_flush(&mb); /* the fd must outlive the mmap */
                        infect_call(inf, __NR_close, obj_fd, 0, 0, 0, 0, 0);
                        if (r < 0)
                                goto fail3;
                }
        madv:
                /* madvise states; HUGEPAGE before the pages arrive so they come as huge pages */
                for (size_t k = 0; k < ARRAY_SIZE(madv_flags); k++)
                        if (e->madv & (1ULL << madv_flags[k].advice)) {
                                r = mbatch_add(&mb, INFECT_REC(__NR_madvise, e->start, e->end - e->start,
                                                               madv_flags[k].advice));
                                if (r < 0)
                                        goto fail3;
                        }
                if (e->anon_name && e->anon_name[0] && strlen(e->anon_name) < 256) {
                        r = mbatch_name(&mb, e);
                        if (r < 0)
                                goto fail3;
                }
        }
        r = mbatch_flush(&mb);
        if (r < 0)
                goto fail3;
        free(mb.recs);

        /* 4. pages: populate big runs in the kernel, then preadv straight into place */
        {
                const size_t max_iov = 1024;
                struct iovec *iov = xzalloc(max_iov * sizeof(*iov));
                uint64_t file_off = IMG_RAW_DATA_OFF;
                size_t k = 0;
                while (k < pmap->n_runs) {
                        size_t cnt = 0;
                        uint64_t bytes = 0;
                        while (k + cnt < pmap->n_runs && cnt < max_iov) {
                                PagemapEntry *pe = pmap->runs[k + cnt];
                                uint64_t len = (uint64_t)pe->nr_pages * PAGE;
                                const VmaEntry *e = vma_of(mm, pe->vaddr);
                                size_t vi = 0;
                                while (vi < mm->n_vmas && mm->vmas[vi] != e)
                                        vi++;
                                if (vi < mm->n_vmas && kept[vi]) {
                                        /* already in place: only the file offset moves */
                                        if (cnt == 0) {
                                                file_off += len;
                                                k++;
                                                continue;
                                        }
                                        break;
                                }
                                if (!e || pe->vaddr + len > e->end || !vma_has_pages(e)) {
                                        free(iov);
                                        free(added_write);
                                        return log_error_errno(-EBADMSG, "pid %d: pages at %llx lie outside any mapping",
                                                               pid, (unsigned long long)pe->vaddr);
                                }
                                if (bytes + len > (1ULL << 30) && cnt > 0)
                                        break;
                                iov[cnt].iov_base = (void *)pe->vaddr;
                                iov[cnt].iov_len = len;
                                bytes += len;
                                cnt++;
                                if (pe->nr_pages >= 8)
                                        infect_call(inf, __NR_madvise, pe->vaddr, len, MADV_POPULATE_WRITE, 0, 0, 0);
                        }
                        r = infect_write_mem(pid, inf->scratch, iov, cnt * sizeof(*iov));
                        if (r < 0) {
                                free(iov);
                                free(added_write);
                                return log_error_errno(r, "pid %d: cannot write scratch memory: %m", pid);
                        }
                        uint64_t done = 0;
                        while (done < bytes) {
                                /* preadv may stop short (2 GiB cap); continue where it stopped */
                                int64_t got = infect_call(inf, __NR_preadv, t->pages_fd, inf->scratch, cnt, file_off, 0,
                                                          0);
                                if (got <= 0) {
                                        free(iov);
                                        free(added_write);
                                        return log_error_errno(got < 0 ? (int)got : -ENODATA,
                                                               "pid %d: cannot read pages from the image: %m", pid);
                                }
                                done += got;
                                file_off += got;
                                if (done < bytes) {
                                        /* drop the fully read iovecs, trim the partial one */
                                        uint64_t skip = got;
                                        size_t j = 0;
                                        while (j < cnt && skip >= iov[j].iov_len)
                                                skip -= iov[j++].iov_len;
                                        memmove(iov, iov + j, (cnt - j) * sizeof(*iov));
                                        cnt -= j;
                                        iov[0].iov_base = (char *)iov[0].iov_base + skip;
                                        iov[0].iov_len -= skip;
                                        r = infect_write_mem(pid, inf->scratch, iov, cnt * sizeof(*iov));
                                        if (r < 0) {
                                                free(iov);
                                                free(added_write);
                                                return r;
                                        }
                                }
                        }
                        k += cnt;
                }
                free(iov);
        }

        /* 5. final protections and locks, in one batch */
        {
                struct infect_rec *recs = xzalloc((2 * mm->n_vmas + 1) * sizeof(*recs));
                size_t n = 0;
                for (size_t i = 0; i < mm->n_vmas; i++) {
                        VmaEntry *e = mm->vmas[i];
                        if (added_write[i])
                                recs[n++] = INFECT_REC(__NR_mprotect, e->start, e->end - e->start, e->prot);
                        if (e->locked)
                                recs[n++] = INFECT_REC(__NR_mlock, e->start, e->end - e->start);
                }
                r = infect_batch(inf, recs, n);
                for (size_t k = 0; r >= 0 && k < n; k++)
                        if (recs[k].ret < 0 && recs[k].nr == __NR_mprotect)
                                r = log_error_errno((int)recs[k].ret, "pid %d: mprotect %llx: %m", pid,
                                                    (unsigned long long)recs[k].a[0]);
                free(recs);
                if (r < 0) {
                        free(added_write);
                        return r;
                }
        }
        free(added_write);
        free(kept);

        /* 6. the mm fields, auxv and exe file */
        {
                struct cryo_prctl_mm_map m = {
                        .start_code = mm->start_code, .end_code = mm->end_code, .start_data = mm->start_data,
                        .end_data = mm->end_data, .start_brk = mm->start_brk, .brk = mm->brk,
                        .start_stack = mm->start_stack, .arg_start = mm->arg_start, .arg_end = mm->arg_end,
                        .env_start = mm->env_start, .env_end = mm->env_end,
                        .auxv = inf->scratch + 4096, .auxv_size = mm->n_auxv * 8, .exe_fd = (uint32_t)-1,
                };
                if (mm->n_auxv * 8 > 4096)
                        return log_error_errno(-EBADMSG, "pid %d: auxv too large", pid);
                if (mm->exe_file_id) {
                        size_t idx;
                        if (!restore_ctx_file(ctx, mm->exe_file_id, &idx))
                                return log_error_errno(-EBADMSG, "pid %d: unknown exe file", pid);
                        m.exe_fd = ctx->file_fds[idx];
                }
                r = infect_write_mem(pid, inf->scratch + 4096, mm->auxv, mm->n_auxv * 8);
                if (r >= 0)
                        r = infect_write_mem(pid, inf->scratch, &m, sizeof(m));
                if (r < 0)
                        return log_error_errno(r, "pid %d: cannot write scratch memory: %m", pid);
                RCALL("cannot set the mm fields (PR_SET_MM_MAP)", __NR_prctl, PR_SET_MM, PR_SET_MM_MAP, inf->scratch,
                      sizeof(m), 0, 0);
        }
        return 0;
fail3:
        free(mb.recs);
        free(added_write);
        free(kept);
        return r;
out:
        proc_vmas_done(&cur);
        return r;
}
