"""Workload of tests/apps/python3.py:  python3 py_threads.py WD

Three threads increment their own counter and a shared total under one lock
(and check on every step that their private count, their counter and their
thread id still agree); the main thread grows a dict by 200 entries every
10 ms and appends a progress line to WD/progress every 0.1 s:
    SEQ DICTSIZE C0 C1 C2 TOTAL
It writes the threads' ids to WD/tids and creates WD/ready, then runs until
WD/go appears. Then it checks that every thread is still alive and still
counting, stops and joins them, checks the counters against the threads'
private counts and the dict entry by entry, and writes PASS or FAIL: ... to
WD/result (exit status 0 or 1).
"""
import os
import sys
import threading
import time

NTHREADS = 3
wd = sys.argv[1]
lock = threading.Lock()
counters = [0] * NTHREADS
total = [0]
errors = []
stop = threading.Event()
tids = [None] * NTHREADS
final_local = [None] * NTHREADS


def value(k):
    return (k * k) ^ 0x5A5A5A ^ (k << 7)


def worker(i):
    tids[i] = threading.get_native_id()
    local = 0
    while not stop.is_set():
        with lock:
            counters[i] += 1
            total[0] += 1
            local += 1
            if counters[i] != local and len(errors) < 10:
                errors.append("thread %d: counter %d but %d increments made" % (i, counters[i], local))
        if threading.get_native_id() != tids[i] and len(errors) < 10:
            errors.append("thread %d: native id changed %d -> %d" % (i, tids[i], threading.get_native_id()))
        x = 0
        for j in range(50):  # some work outside the lock
            x += j * i
    final_local[i] = local


def write_atomic(name, text):
    tmp = os.path.join(wd, name + ".tmp")
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, os.path.join(wd, name))


def main():
    threads = [threading.Thread(target=worker, args=(i,), name="count-%d" % i) for i in range(NTHREADS)]
    for t in threads:
        t.start()
    while None in tids:
        time.sleep(0.001)
    write_atomic("tids", " ".join(map(str, tids)) + "\n")
    d = {}
    n = 0
    seq = 0
    last_progress = 0.0
    longest_pause = 0.0
    last_tick = time.monotonic()
    progress = open(os.path.join(wd, "progress"), "a", buffering=1)
    ready = False
    while not os.path.exists(os.path.join(wd, "go")):
        for _ in range(200):
            d[n] = value(n)
            n += 1
        if len(d) != n:
            errors.append("dict has %d entries, expected %d" % (len(d), n))
            break
        now = time.monotonic()
        longest_pause = max(longest_pause, now - last_tick)
        last_tick = now
        if now - last_progress >= 0.1:
            with lock:
                c = list(counters)
                tot = total[0]
            if sum(c) != tot:
                errors.append("counters %s do not add up to the total %d" % (c, tot))
            progress.write("%d %d %s %d\n" % (seq, n, " ".join(map(str, c)), tot))
            seq += 1
            last_progress = now
            if not ready and n > 2000:
                write_atomic("ready", "")
                ready = True
        time.sleep(0.01)
    # after restore: are all threads still there and counting?
    res = []
    dead = [i for i, t in enumerate(threads) if not t.is_alive()]
    if dead:
        res.append("threads %s are gone" % dead)
    with lock:
        c0 = list(counters)
    time.sleep(1.0)
    with lock:
        c1 = list(counters)
    stuck = [i for i in range(NTHREADS) if c1[i] <= c0[i]]
    if stuck:
        res.append("threads %s stopped counting (counters %s then %s)" % (stuck, c0, c1))
    stop.set()
    for i, t in enumerate(threads):
        t.join(10)
        if t.is_alive():
            res.append("thread %d does not finish" % i)
    for i in range(NTHREADS):
        if final_local[i] is not None and final_local[i] != counters[i]:
            res.append("thread %d made %d increments, its counter is %d" % (i, final_local[i], counters[i]))
    if sum(counters) != total[0]:
        res.append("counters %s do not add up to the total %d" % (counters, total[0]))
    if len(d) != n:
        res.append("dict has %d entries, expected %d" % (len(d), n))
    bad = [k for k in range(n) if d.get(k) != value(k)]
    if bad:
        res.append("%d dict entries wrong, first %d: %r" % (len(bad), bad[0], d.get(bad[0])))
    res += errors
    if res:
        write_atomic("result", "FAIL: " + "; ".join(res)[:2000] + "\n")
        return 1
    write_atomic("result", "PASS dict %d entries, counters %s, longest pause %.2fs\n" % (n, counters, longest_pause))
    return 0


if __name__ == "__main__":
    try:
        rc = main()
    except BaseException as e:
        write_atomic("result", "FAIL: exception %s: %s\n" % (type(e).__name__, e))
        rc = 1
    os._exit(rc)
