#!/usr/bin/env python3
"""cryo scale benchmark (issue #3, item 7).

Scenarios: a tree of 100 processes, one process with 64 threads, one process
with 10,000 open fds, and 1 GiB of memory split over a parent and 3 children.
Per run: freeze time (from the first stop to the last resume, reported by a
`cryo dump -R`), dump seconds (a second dump, which kills the tree), restore
seconds, and the tree's summed RSS and PSS at the checkpoint and after the
restore. Every restored tree verifies itself (a run that does not PASS is an
error). Medians over --runs runs.

Usage: bench/scale.py [--runs 3] [--only NAME,...]
"""
import argparse
import ctypes
import os
import shutil
import statistics
import subprocess
import time

libc = ctypes.CDLL(None, use_errno=True)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "build")
SCEN = {
    "tree100": ["scaleload", "tree", "100"],
    "threads64": ["scaleload", "threads", "64"],
    "fds10000": ["scaleload", "fds", "10000"],
    "mem1g-4procs": ["memload", "1024", "3"],
}


def reap():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def wait_file(path, timeout=300):
    end = time.time() + timeout
    while not os.path.exists(path):
        reap()
        if time.time() > end:
            raise RuntimeError("timeout waiting for " + path)
        time.sleep(0.01)


def session_pids(sid):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            s = open(f"/proc/{d}/stat").read()
        except OSError:
            continue
        f = s[s.rfind(")") + 2:].split()
        if int(f[3]) == sid and f[0] not in "ZX":
            out.append(int(d))
    return out


def mem_kb(pids):
    rss = pss = 0
    for p in pids:
        try:
            for line in open(f"/proc/{p}/smaps_rollup"):
                if line.startswith("Rss:"):
                    rss += int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1])
        except OSError:
            pass
    return rss, pss


def gone(pids, timeout=60):
    end = time.time() + timeout
    while time.time() < end:
        reap()
        if not any(os.path.exists(f"/proc/{p}") for p in pids):
            return
        time.sleep(0.02)
    raise RuntimeError("tree did not go away")


def cryo(*args):
    t = time.monotonic()
    r = subprocess.run([os.path.join(BUILD, "cryo")] + list(args), capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("cryo %s failed: %s" % (args[0], r.stderr.strip()))
    return time.monotonic() - t


def one(name, work):
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    prog, *args = SCEN[name]
    p = subprocess.Popen([os.path.join(BUILD, "bench", prog), work] + args, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    wait_file(os.path.join(work, "ready"))
    pids = session_pids(p.pid)
    rss0, pss0 = mem_kb(pids)
    cryo("dump", "-t", str(p.pid), "-D", os.path.join(work, "img-r"), "-R", "-v3", "-o", os.path.join(work, "dump-r.log"))
    frozen = None
    for line in open(os.path.join(work, "dump-r.log")):
        if "frozen for" in line:
            frozen = float(line.rsplit("frozen for", 1)[1].split()[0])
    shutil.rmtree(os.path.join(work, "img-r"))
    img = os.path.join(work, "img")
    dump_s = cryo("dump", "-t", str(p.pid), "-D", img, "-o", os.path.join(work, "dump.log"))
    p.wait()
    gone(pids)
    time.sleep(0.3)
    restore_s = cryo("restore", "-D", img, "-d", "-o", os.path.join(work, "restore.log"))
    pids2 = session_pids(p.pid)
    rss1, pss1 = mem_kb(pids2)
    open(os.path.join(work, "go"), "w").close()
    wait_file(os.path.join(work, "result"))
    res = open(os.path.join(work, "result")).read().strip()
    if res != "PASS":
        raise RuntimeError(f"{name}: restored tree says {res}")
    gone(pids2)
    return dict(procs=len(pids), frozen=frozen, dump=dump_s, restore=restore_s, rss0=rss0 / 1024, rss1=rss1 / 1024,
                pss0=pss0 / 1024, pss1=pss1 / 1024)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", default=",".join(SCEN))
    ap.add_argument("--dir", default=os.path.join(ROOT, "bench", "out"))
    a = ap.parse_args()
    libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    rows = []
    for name in a.only.split(","):
        runs = []
        for i in range(a.runs):
            runs.append(one(name, os.path.join(a.dir, name)))
            print(f"  {name} run {i + 1}: " + " ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}"
                                                    for k, v in runs[-1].items()), flush=True)
        rows.append((name, {k: statistics.median(r[k] for r in runs) for k in runs[0]}))
    print(f"\nmedians of {a.runs} runs")
    print("| scenario | processes | freeze s (dump -R) | dump s | restore s | RSS MiB before/after | PSS MiB before/after | PSS ratio |")
    print("|---|---|---|---|---|---|---|---|")
    for name, m in rows:
        print(f"| {name} | {m['procs']:.0f} | {m['frozen']:.3f} | {m['dump']:.3f} | {m['restore']:.3f} | "
              f"{m['rss0']:.1f} / {m['rss1']:.1f} | {m['pss0']:.1f} / {m['pss1']:.1f} | {m['pss1'] / m['pss0']:.2f} |")


if __name__ == "__main__":
    main()
