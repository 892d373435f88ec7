#!/usr/bin/env python3
"""cryo memory benchmark (issue #2, item 7).

For each size: start bench/memload (address-derived pattern), checkpoint it
(cryo dump), wait until its pid is free, restore it (cryo restore -d), let it
verify every byte (a run that does not PASS is an error, not a number), and
time the same bytes through a plain program in the same directory
(bench/baseline: write in 1 MiB chunks; read back into fresh populated memory,
and into a reused buffer). Reports medians over --runs runs and the ratios.

Usage: bench/bench.py [--sizes 256,1024,4096] [--runs 3] [--dir DIR] [--build build]
"""
import argparse
import ctypes
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time

libc = ctypes.CDLL(None, use_errno=True)
PR_SET_CHILD_SUBREAPER = 36


def reap():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def wait_file(path, timeout):
    end = time.time() + timeout
    while not os.path.exists(path):
        reap()
        if time.time() > end:
            raise RuntimeError(f"timeout waiting for {path}")
        time.sleep(0.01)


def pid_gone(pid, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        reap()
        if not os.path.exists(f"/proc/{pid}"):
            return
        time.sleep(0.01)
    raise RuntimeError(f"pid {pid} did not go away")


def dir_size(d):
    return sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))


def one_run(args, size, work):
    cryo = os.path.join(args.build, "cryo")
    memload = os.path.join(args.build, "bench", "memload")
    baseline = os.path.join(args.build, "bench", "baseline")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    img = os.path.join(work, "img")
    out = open(os.path.join(work, "out"), "w")
    p = subprocess.Popen([memload, work, str(size)] + ([str(args.children)] if args.children else []),
                         stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True, close_fds=True)
    wait_file(os.path.join(work, "ready"), 300)
    t = time.monotonic()
    r = subprocess.run([cryo, "dump", "-t", str(p.pid), "-D", img, "-v3", "-o", os.path.join(work, "dump.log")],
                       capture_output=True, text=True)
    dump_s = time.monotonic() - t
    if r.returncode != 0:
        raise RuntimeError("dump failed: " + r.stderr)
    frozen = None
    for line in open(os.path.join(work, "dump.log")):
        if "frozen for" in line:
            frozen = float(line.rsplit("frozen for", 1)[1].split()[0])
    p.wait()
    pid_gone(p.pid)
    time.sleep(0.5)  # let the old address space be torn down before timing the restore
    img_mib = dir_size(img) / 2**20
    t = time.monotonic()
    r = subprocess.run([cryo, "restore", "-D", img, "-d", "-v3", "-o", os.path.join(work, "restore.log")],
                       capture_output=True, text=True)
    restore_s = time.monotonic() - t
    if r.returncode != 0:
        raise RuntimeError("restore failed: " + r.stderr)
    open(os.path.join(work, "go"), "w").close()
    wait_file(os.path.join(work, "result"), 300)
    res = open(os.path.join(work, "result")).read().strip()
    if res != "PASS":
        raise RuntimeError(f"restored workload says: {res}")
    pid_gone(p.pid)
    shutil.rmtree(img)
    b = subprocess.run([baseline, os.path.join(work, "baseline.bin"), str(size)], capture_output=True, text=True,
                       check=True).stdout.split()
    vals = dict(zip(b[0::2], map(float, b[1::2])))
    return dict(dump=dump_s, restore=restore_s, frozen=frozen, img=img_mib, write=vals["write"],
                read_fresh=vals["read_fresh"], read_reuse=vals["read_reuse"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="256,1024,4096")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--children", type=int, default=0)
    ap.add_argument("--dir", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "out"))
    ap.add_argument("--build", default=os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "build"))
    args = ap.parse_args()
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    rows = []
    for size in [int(s) for s in args.sizes.split(",")]:
        runs = []
        for i in range(args.runs):
            runs.append(one_run(args, size, os.path.join(args.dir, f"mem{size}")))
            print(f"  {size} MiB run {i + 1}: " + " ".join(f"{k}={v:.3f}" for k, v in runs[-1].items() if v is not None),
                  flush=True)
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0] if runs[0][k] is not None}
        rows.append((size, med))
    print()
    print(f"medians of {args.runs} runs" + (f", memory split over a parent and {args.children} children" if args.children else ""))
    print("| size MiB | dump s | baseline write s | dump/write | restore s | baseline read s (fresh mem) | restore/read | restore/dump | frozen s | image MiB |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for size, m in rows:
        print(f"| {size} | {m['dump']:.3f} | {m['write']:.3f} | {m['dump'] / m['write']:.2f} | {m['restore']:.3f} | "
              f"{m['read_fresh']:.3f} | {m['restore'] / m['read_fresh']:.2f} | {m['restore'] / m['dump']:.2f} | "
              f"{m.get('frozen', 0):.3f} | {m['img']:.1f} |")
    print("(baseline read into a reused 1 MiB buffer, i.e. page-cache copy only: " +
          ", ".join(f"{s} MiB {m['read_reuse']:.3f} s" for s, m in rows) + ")")


if __name__ == "__main__":
    main()
