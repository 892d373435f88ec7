#!/usr/bin/env python3
"""cryo test runner (stdlib only).

Runs every self-checking workload (build/tests/NAME for tests/zdtm/NAME.c) in
several flavours, the shell-loop script test, negative tests, unit tests and
(optionally) the fuzzers, and prints one final line "N passed, N failed".

Flavours of a workload:
  cr             start, wait for DIR/ready, dump (kills), restore -d, go, PASS
  leave-running  dump -R, the original goes on and PASSes, then the images are
                 restored and the copy must PASS too
  norestore      the workload alone (sanity of the test itself)
A workload may restrict its flavours or change its timeout with a line
    // ZDTM: flavours=cr,norestore timeout=120
in its source.

The runner is a child subreaper and reaps every child at once in a thread of
its own (PID 1 here reaps orphans late, and restored trees are reparented to
us). Because of that thread, children are never waited for with
subprocess' wait(): everything goes through Reaper.wait().
"""
import argparse
import concurrent.futures
import ctypes
import errno
import glob
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PR_SET_CHILD_SUBREAPER = 36


# --------------------------------------------------------------------------
# process handling

class Reaper:
    """Reaps every child as soon as it exits and keeps its status for whoever
    waits for it. Statuses carry a sequence number so a waiter can ignore the
    status of an earlier process that had the same pid."""

    def __init__(self):
        self.cond = threading.Condition()
        self.status = {}  # pid -> (seq, wait status)
        self.seq = 0
        self.thread = threading.Thread(target=self._run, name="reaper", daemon=True)
        self.thread.start()

    def _run(self):
        while True:
            try:
                pid, st = os.waitpid(-1, 0)
            except ChildProcessError:
                time.sleep(0.005)
                continue
            except InterruptedError:
                continue
            with self.cond:
                self.seq += 1
                self.status[pid] = (self.seq, st)
                self.cond.notify_all()

    def mark(self):
        with self.cond:
            return self.seq

    def wait(self, pid, timeout, since=0):
        """Wait status of pid (reaped after mark `since`), or None on timeout."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                e = self.status.get(pid)
                if e is not None and e[0] > since:
                    del self.status[pid]
                    return e[1]
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(min(left, 0.05))

    def reaped(self, pid, since=0):
        with self.cond:
            e = self.status.get(pid)
            return e is not None and e[0] > since


REAPER = None
_POPENS = []  # keep Popen objects alive: their __del__ must never waitpid()


def spawn(argv, cwd=None, stdin=None, stdout=None, stderr=None, new_session=False, env=None):
    """Starts argv; stdin/stdout/stderr are paths (None = /dev/null). Returns pid."""
    fin = open(stdin or os.devnull, "rb")
    fout = open(stdout, "ab") if stdout else open(os.devnull, "wb")
    ferr = fout if stderr == stdout and stdout else (open(stderr, "ab") if stderr else open(os.devnull, "wb"))
    try:
        p = subprocess.Popen(argv, cwd=cwd, stdin=fin, stdout=fout, stderr=ferr, close_fds=True,
                             start_new_session=new_session, env=env)
    finally:
        fin.close()
        fout.close()
        if ferr is not fout:
            ferr.close()
    p.returncode = 0  # tell subprocess it is done: the reaper owns it
    _POPENS.append(p)
    return p.pid


def status_str(st):
    if st is None:
        return "still running"
    if os.WIFEXITED(st):
        return "exit %d" % os.WEXITSTATUS(st)
    if os.WIFSIGNALED(st):
        try:
            name = signal.Signals(os.WTERMSIG(st)).name
        except ValueError:
            name = str(os.WTERMSIG(st))
        return "killed by %s" % name
    return "status 0x%x" % st


def exit_code(st):
    if st is None:
        return None
    if os.WIFEXITED(st):
        return os.WEXITSTATUS(st)
    if os.WIFSIGNALED(st):
        return -os.WTERMSIG(st)
    return -1000


class CmdResult:
    def __init__(self, argv, rc, out, err, status, elapsed):
        self.argv, self.rc, self.out, self.err, self.status, self.elapsed = argv, rc, out, err, status, elapsed

    def describe(self):
        return "`%s` -> %s" % (" ".join(self.argv), status_str(self.status))


def run_cmd(argv, outdir, tag, timeout=60, cwd=None):
    """Runs a command to completion, stdout/stderr into outdir/tag.{out,err}."""
    out, err = os.path.join(outdir, tag + ".out"), os.path.join(outdir, tag + ".err")
    for f in (out, err):
        if os.path.exists(f):
            os.unlink(f)
    mark = REAPER.mark()
    t0 = time.monotonic()
    pid = spawn(argv, cwd=cwd, stdout=out, stderr=err, new_session=True)
    st = REAPER.wait(pid, timeout, since=mark)
    if st is None:
        kill_pid(pid, signal.SIGKILL)
        st2 = REAPER.wait(pid, 10, since=mark)
        rc = None
    else:
        rc = exit_code(st)
    return CmdResult(argv, rc, read_text(out), read_text(err), st, time.monotonic() - t0)


def kill_pid(pid, sig=signal.SIGKILL):
    try:
        os.kill(pid, sig)
        return True
    except ProcessLookupError:
        return False


def read_text(path, limit=None):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return ""
    if limit is not None and len(data) > limit:
        data = data[-limit:]
    return data.decode("utf-8", "replace")


def tail(text, n=25):
    lines = text.rstrip("\n").split("\n")
    return "\n".join(lines[-n:]) if text.strip() else "(empty)"


def pid_alive(pid):
    """True if pid exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
    except OSError:
        return False
    state = s[s.rfind(")") + 2]
    return state not in "ZX"


def pid_exists(pid):
    return os.path.exists("/proc/%d" % pid)


def proc_stat_fields(pid, tid=None):
    """Fields of /proc/PID/stat, 1-based numbering like proc(5): f[1] = pid, f[2] = comm."""
    path = "/proc/%d/task/%d/stat" % (pid, tid) if tid else "/proc/%d/stat" % pid
    with open(path) as f:
        s = f.read()
    lp, rp = s.index("("), s.rindex(")")
    rest = s[rp + 2:].split()
    return [None, s[:lp].strip(), s[lp + 1:rp]] + rest


def proc_children(pid):
    kids = []
    try:
        for tid in sorted(int(t) for t in os.listdir("/proc/%d/task" % pid)):
            try:
                with open("/proc/%d/task/%d/children" % (pid, tid)) as f:
                    kids += [int(x) for x in f.read().split()]
            except OSError:
                pass
    except OSError:
        pass
    return kids


def proc_tree(pid):
    """pid and all its descendants, parents first, children sorted."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop(0)
        if not pid_exists(p):
            continue
        out.append(p)
        todo += sorted(proc_children(p))
    return out


def wait_gone(pids, timeout):
    deadline = time.monotonic() + timeout
    while True:
        left = [p for p in pids if pid_exists(p)]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.01)


def kill_session(sid):
    """SIGKILL whatever is left in the session a workload was started in (its
    grandchildren may have been reparented out of the tree we know)."""
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            if int(proc_stat_fields(int(d))[6]) == sid:
                kill_pid(int(d), signal.SIGKILL)
        except (OSError, ValueError, IndexError):
            pass


def kill_tree(pids, sid=None):
    """SIGKILL pids that still exist (and, if sid is given, are still in that session)."""
    for p in pids:
        try:
            if sid is not None and int(proc_stat_fields(p)[6]) != sid:
                continue
        except (OSError, ValueError, IndexError):
            continue
        kill_pid(p, signal.SIGKILL)


# --------------------------------------------------------------------------
# outside-visible state (like CRIU's zdtm.py get_visible_state)

STATUS_KEYS = ("Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "SigBlk", "SigIgn",
               "SigCgt", "NoNewPrivs", "Umask", "Seccomp")
NUMBERED_LINK = re.compile(r"^([a-z_]+):\[(\d+)\]$")


def read_maps(pid):
    vmas = []
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            parts = line.split(None, 5)
            start, end = (int(x, 16) for x in parts[0].split("-"))
            perms = parts[1]
            name = parts[5].strip() if len(parts) > 5 else ""
            if vmas and vmas[-1][1] == start and vmas[-1][2] == perms and vmas[-1][3] == name:
                vmas[-1][1] = end  # the kernel may split or merge differently: compare the union
            else:
                vmas.append([start, end, perms, name])
    return ["%x-%x %s %s" % tuple(v) for v in vmas]


def visible_state(root):
    """Dict pid -> dict of outside-visible things for the whole tree under root."""
    state = {}
    links = {}  # "pipe:[123]" -> "pipe:#0": numbering by first occurrence

    def norm(target):
        m = NUMBERED_LINK.match(target)
        if not m:
            return target
        if target not in links:
            n = sum(1 for k in links if k.startswith(m.group(1) + ":"))
            links[target] = "%s:#%d" % (m.group(1), n)
        return links[target]

    for pid in proc_tree(root):
        s = {}
        try:
            s["maps"] = read_maps(pid)
            fds = {}
            for fd in sorted(int(x) for x in os.listdir("/proc/%d/fd" % pid)):
                try:
                    fds[fd] = norm(os.readlink("/proc/%d/fd/%d" % (pid, fd)))
                except OSError:
                    pass
            s["fds"] = fds
            for ln in ("cwd", "exe", "root"):
                try:
                    s[ln] = os.readlink("/proc/%d/%s" % (pid, ln))
                except OSError:
                    s[ln] = None
            with open("/proc/%d/status" % pid) as f:
                for line in f:
                    k, _, v = line.partition(":")
                    if k in STATUS_KEYS:
                        s[k] = " ".join(v.split())
            f = proc_stat_fields(pid)
            s["ppid"], s["pgid"], s["sid"] = f[4], f[5], f[6]
            s["nice"], s["policy"] = f[19], f[41]
            tids = sorted(int(t) for t in os.listdir("/proc/%d/task" % pid))
            s["tids"] = tids
            for t in tids:
                with open("/proc/%d/task/%d/status" % (pid, t)) as fh:
                    for line in fh:
                        if line.startswith("SigBlk:"):
                            s["SigBlk/%d" % t] = line.split()[1]
        except OSError as e:
            s["error"] = str(e)
        state[pid] = s
    return state


def stable_state(pid, tries=5):
    """visible_state() taken until two looks in a row agree: a workload that handles a
    periodic signal shows the signal in SigBlk while its handler runs."""
    prev = visible_state(pid)
    for _ in range(tries):
        time.sleep(0.02)
        cur = visible_state(pid)
        if not diff_state(prev, cur):
            return cur
        prev = cur
    return prev


def state_diff_settled(before, pid, tries=5):
    """Differences between `before` and pid's state now, looking again a few times
    before believing them (transient states come and go)."""
    d = diff_state(before, visible_state(pid))
    for _ in range(tries):
        if not d:
            break
        time.sleep(0.02)
        d = diff_state(before, visible_state(pid))
    return d


def diff_state(a, b):
    """List of human-readable differences (empty if equal)."""
    out = []
    if sorted(a) != sorted(b):
        out.append("process tree differs: %s vs %s" % (sorted(a), sorted(b)))
    for pid in sorted(set(a) & set(b)):
        sa, sb = a[pid], b[pid]
        for k in sorted(set(sa) | set(sb), key=str):
            va, vb = sa.get(k), sb.get(k)
            if va == vb:
                continue
            if k == "maps":
                la, lb = set(va or []), set(vb or [])
                out.append("pid %d maps: only before: %s; only after: %s" %
                           (pid, sorted(la - lb)[:8], sorted(lb - la)[:8]))
            elif k == "fds":
                va, vb = va or {}, vb or {}
                d = ["%d: %r -> %r" % (fd, va.get(fd), vb.get(fd)) for fd in sorted(set(va) | set(vb))
                     if va.get(fd) != vb.get(fd)]
                out.append("pid %d fds: %s" % (pid, "; ".join(d[:10])))
            else:
                out.append("pid %d %s: %r -> %r" % (pid, k, va, vb))
    return out


# --------------------------------------------------------------------------
# test plumbing

class TestFailure(Exception):
    pass


class Ctx:
    """One test: its scratch directory, log of what happened, helpers."""

    def __init__(self, runner, name):
        self.r = runner
        self.name = name
        self.dir = os.path.join(runner.outdir, name.replace("/", "_"))
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        self.notes = []
        self.pids = set()  # everything this test may have to kill
        self.sid = None
        self.logs = []  # cryo logs to show on failure
        self.results = []  # (name, ok, message) for tests producing several results
        self.info = None  # a short note for the PASS line
        self.inspect_errors = []

    def note(self, msg):
        self.notes.append(msg)

    def fail(self, msg):
        raise TestFailure(msg)

    def cryo(self, args, tag, timeout=None, log=True, verbose=True):
        argv = [self.r.cryo] + args
        if log:
            logf = os.path.join(self.dir, tag + ".log")
            if os.path.exists(logf):
                os.unlink(logf)
            argv += ["-o", logf]
            self.logs.append(logf)
        if verbose:
            argv += ["-v%d" % self.r.verbosity]
        res = run_cmd(argv, self.dir, tag, timeout=timeout or self.r.cmd_timeout)
        self.note("%s (%.2fs)" % (res.describe(), res.elapsed))
        return res

    def cleanup(self):
        kill_tree(sorted(self.pids), None)
        if self.sid:
            kill_session(self.sid)


def last_line(text):
    lines = [l for l in text.split("\n") if l.strip()]
    return lines[-1].strip() if lines else "(no output)"


def one_line_error(res):
    """The CLI must report a failure as exactly one non-empty line on stderr."""
    lines = [l for l in res.err.split("\n") if l.strip()]
    if len(lines) != 1:
        return "expected a one-line error on stderr, got %d lines: %r" % (len(lines), res.err[-600:])
    return None


class Workload:
    def __init__(self, name, src, binary):
        self.name, self.src, self.binary = name, src, binary
        self.flavours = ["cr", "leave-running", "norestore"]
        self.timeout = 60
        self.refuse_words = []  # the refusal must mention one of these (lower case)
        self.serial = False  # serial=1 : never alongside other tests (global resources: pty numbers)
        self.dump_opts = []  # opts=--a,--b : extra cryo dump options
        self.restore_opts = []  # ropts=... : extra cryo restore options
        try:
            with open(src, errors="replace") as f:
                for line in f:
                    m = re.search(r"ZDTM:\s*(.*)$", line)
                    if not m:
                        continue
                    for k, v in re.findall(r'(\w+)=("[^"]*"|\S+)', m.group(1).replace("*/", " ")):
                        v = v.strip('"')
                        if k == "flavours":
                            self.flavours = [x for x in v.split(",") if x]
                        elif k == "timeout":
                            self.timeout = int(v)
                        elif k == "refuse":
                            self.refuse_words = [w.lower() for w in v.split("|") if w]
                        elif k == "serial":
                            self.serial = v not in ("0", "no", "false")
                        elif k == "opts":
                            self.dump_opts = v.split(",")
                        elif k == "ropts":
                            self.restore_opts = v.split(",")
        except OSError:
            pass
        # neg_* workloads hold something cryo must refuse to dump
        if name.startswith("neg_") and "refuse" not in self.flavours:
            self.flavours.append("refuse")


class Instance:
    """A running workload (or restored copy) in a test's scratch dir."""

    def __init__(self, ctx, wl, sub="wd"):
        self.ctx, self.wl = ctx, wl
        self.wd = os.path.join(ctx.dir, sub)
        os.makedirs(self.wd, exist_ok=True)
        self.pid = None
        self.mark = 0
        self.out = os.path.join(ctx.dir, "workload.out")

    def start(self):
        if not os.access(self.wl.binary, os.X_OK):
            self.ctx.fail("workload binary %s is not built" % self.wl.binary)
        self.mark = REAPER.mark()
        self.pid = spawn([self.wl.binary, self.wd], cwd=self.wd, stdout=self.out, stderr=self.out, new_session=True)
        self.ctx.pids.add(self.pid)
        self.ctx.sid = self.pid
        return self.pid

    def path(self, f):
        return os.path.join(self.wd, f)

    def result(self):
        r = read_text(self.path("result")).strip()
        return r or "(no result file)"

    def wait_ready(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if os.path.exists(self.path("ready")):
                return
            if REAPER.reaped(self.pid, self.mark) or not pid_alive(self.pid):
                st = REAPER.wait(self.pid, 1, self.mark)
                self.ctx.fail("workload exited before ready (%s): %s; output: %s" %
                              (status_str(st), self.result(), tail(read_text(self.out), 5)))
            time.sleep(0.005)
        self.ctx.fail("workload not ready after %ds" % timeout)

    def go_and_check(self, timeout, what="workload"):
        with open(self.path("go"), "w"):
            pass
        st = REAPER.wait(self.pid, timeout, self.mark)
        if st is None:
            self.ctx.fail("%s pid %d did not finish within %ds after go (result: %s)" %
                          (what, self.pid, timeout, self.result()))
        res = self.result()
        if res != "PASS" or exit_code(st) != 0:
            self.ctx.fail("%s %s: %s" % (what, status_str(st), res))


class Runner:
    def __init__(self, args):
        self.args = args
        self.build = os.path.abspath(args.build)
        self.cryo = os.path.join(self.build, "cryo")
        self.outdir = os.path.abspath(args.outdir)
        self.verbosity = args.verbosity
        self.cmd_timeout = 120
        self.keep = args.keep
        self.lock = threading.Lock()
        self.passed = 0
        self.failed = 0
        self.failures = []

    # ---- reporting
    def report(self, name, ok, msg, ctx=None, elapsed=None):
        with self.lock:
            if ok:
                self.passed += 1
                print("PASS %s%s%s" % (name, " (%.1fs)" % elapsed if elapsed is not None else "",
                                       " [%s]" % ctx.info if ctx is not None and ctx.info else ""), flush=True)
            else:
                self.failed += 1
                self.failures.append(name)
                lines = ["FAIL %s: %s" % (name, msg)]
                if ctx is not None:
                    if ctx.notes:
                        lines.append("  steps:")
                        lines += ["    " + n for n in ctx.notes[-12:]]
                    for lf in ctx.logs[-2:]:
                        if os.path.exists(lf):
                            lines.append("  --- tail of %s" % os.path.relpath(lf, ROOT))
                            lines += ["    " + l for l in tail(read_text(lf, 1 << 20), 20).split("\n")]
                    errs = sorted(glob.glob(os.path.join(ctx.dir, "*.err")))
                    for ef in errs[-2:]:
                        t = read_text(ef).strip()
                        if t:
                            lines.append("  --- %s" % os.path.relpath(ef, ROOT))
                            lines += ["    " + l for l in tail(t, 8).split("\n")]
                    wo = os.path.join(ctx.dir, "workload.out")
                    if os.path.exists(wo) and read_text(wo).strip():
                        lines.append("  --- workload output")
                        lines += ["    " + l for l in tail(read_text(wo), 8).split("\n")]
                    lines.append("  (scratch dir: %s)" % os.path.relpath(ctx.dir, ROOT))
                print("\n".join(lines), flush=True)

    def run_test(self, name, fn, *a):
        ctx = Ctx(self, name)
        t0 = time.monotonic()
        ok, msg = True, None
        try:
            fn(ctx, *a)
        except TestFailure as e:
            ok, msg = False, str(e)
        except Exception:
            ok, msg = False, "runner exception: " + traceback.format_exc()
        finally:
            try:
                ctx.cleanup()
            except Exception:
                pass
        for (n, o, m) in ctx.results:
            self.report(n, o, m, ctx if not o else None)
        if ctx.results and ok:
            pass  # a multi-result job reports only its sub-results
        else:
            self.report(name, ok, msg, ctx, time.monotonic() - t0)
        if ok and not self.keep and all(o for (_, o, _) in ctx.results):
            shutil.rmtree(ctx.dir, ignore_errors=True)


# --------------------------------------------------------------------------
# workload flavours

def dump_args(ctx, pid, img, extra=()):
    wl = getattr(ctx, "wl", None)
    return ["dump", "-t", str(pid), "-D", img] + list(extra) + (wl.dump_opts if wl else [])


def check_dumped_gone(ctx, inst, tree):
    # cryo dump returns once the killed tree has exited (zombies at most):
    # looked at before any waiting
    for p in tree:
        try:
            with open("/proc/%d/stat" % p) as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state not in "ZX":
            ctx.fail("pid %d still exists in state %s when cryo dump returned (it should have exited)" % (p, state))
    st = REAPER.wait(inst.pid, 15, inst.mark)
    if st is None:
        ctx.fail("pid %d still %s after dump (cryo dump should kill it)" %
                 ("alive" if pid_alive(inst.pid) else "unreaped", inst.pid))
    left = wait_gone(tree, 10)
    if left:
        ctx.fail("pids %s still exist 10s after dump" % left)
    # the original must not have run its checks (it was killed while waiting)
    if os.path.exists(inst.path("result")):
        ctx.fail("original wrote a result before being killed: %s" % inst.result())


def restore_and_check(ctx, inst, img, before, tag="restore"):
    pidfile = os.path.join(ctx.dir, tag + ".pid")
    if os.path.exists(pidfile):
        os.unlink(pidfile)
    inst.mark = REAPER.mark()
    wl = getattr(ctx, "wl", None)
    res = ctx.cryo(["restore", "-D", img, "-d", "--pidfile", pidfile] + (wl.restore_opts if wl else []), tag)
    if res.rc != 0:
        kill_tree(list(before), ctx.sid)
        ctx.fail("restore failed: %s: %s" % (res.describe(), last_line(res.err)))
    if not pid_alive(inst.pid):
        ctx.fail("restored pid %d is not alive after restore -d (%s, result: %s)" %
                 (inst.pid, status_str(REAPER.wait(inst.pid, 0.5, inst.mark)), inst.result()))
    pf = read_text(pidfile).strip()
    if pf != str(inst.pid):
        ctx.fail("--pidfile has %r, expected %d" % (pf, inst.pid))
    ctx.pids.update(before)
    ctx.pids.update(visible_state(inst.pid))
    d = state_diff_settled(before, inst.pid)
    if d:
        ctx.fail("visible state changed by C/R:\n    " + "\n    ".join(d[:20]))


def flavour_norestore(ctx, wl):
    inst = Instance(ctx, wl)
    inst.start()
    inst.wait_ready()
    inst.go_and_check(wl.timeout)


def start_workload(ctx, wl):
    """Start wl, wait until it is ready; its visible state and tree."""
    ctx.wl = wl
    inst = Instance(ctx, wl)
    img = os.path.join(ctx.dir, "img")
    os.makedirs(img)
    inst.start()
    inst.wait_ready()
    before = stable_state(inst.pid)
    tree = list(before)
    ctx.pids.update(tree)
    return inst, img, before, tree


def flavour_cr(ctx, wl):
    inst, img, before, tree = start_workload(ctx, wl)
    res = ctx.cryo(dump_args(ctx, inst.pid, img), "dump")
    if res.rc != 0:
        ctx.fail("dump failed: %s: %s" % (res.describe(), last_line(res.err)))
    check_dumped_gone(ctx, inst, tree)
    restore_and_check(ctx, inst, img, before)
    inst.go_and_check(wl.timeout, "restored workload")
    # the images must also be readable by `cryo inspect` and show the tree that was dumped
    got = dumped_tree(ctx, img)
    if got is None:
        ctx.fail("C/R worked, but %s" % ctx.inspect_errors[0])
    if sorted(t[0] for t in got) != sorted(tree):
        ctx.fail("C/R worked, but cryo inspect shows the tree %s, dumped was %s" % (sorted(t[0] for t in got),
                                                                                 sorted(tree)))


SNAP_SKIP = {"ready", "go", "result"}


def snapshot_files(top, dest):
    """Copies the regular files under top (the filesystem state the images rely on)."""
    saved = []
    for dp, dns, fns in os.walk(top):
        for fn in fns:
            p = os.path.join(dp, fn)
            rel = os.path.relpath(p, top)
            if rel in SNAP_SKIP or not os.path.isfile(p) or os.path.islink(p):
                continue
            d = os.path.join(dest, rel)
            os.makedirs(os.path.dirname(d), exist_ok=True)
            shutil.copyfile(p, d)
            saved.append(rel)
    return saved


def unsnapshot_files(top, dest, saved):
    """Rewrites the saved files in place (same inodes), truncating what grew."""
    for rel in saved:
        p = os.path.join(top, rel)
        with open(os.path.join(dest, rel), "rb") as f:
            data = f.read()
        with open(p, "r+b" if os.path.exists(p) else "wb") as f:
            f.write(data)
            f.truncate(len(data))


def flavour_leave_running(ctx, wl):
    inst, img, before, tree = start_workload(ctx, wl)
    zombies = {p for p in tree if not pid_alive(p)}
    stopped = {p for p in tree if p not in zombies and proc_stat_fields(p)[3] in "tT"}
    res = ctx.cryo(dump_args(ctx, inst.pid, img, ["-R"]), "dump")
    if res.rc != 0:
        ctx.fail("dump -R failed: %s: %s" % (res.describe(), last_line(res.err)))
    for p in tree:
        if p not in zombies and not pid_alive(p):
            ctx.fail("pid %d died during dump -R (%s)" % (p, status_str(REAPER.wait(p, 0.5, inst.mark))))
        f = proc_stat_fields(p)
        if f[3] in "tT" and p not in stopped:
            ctx.fail("pid %d left stopped (state %s) after dump -R" % (p, f[3]))
        with open("/proc/%d/status" % p) as fh:
            tr = [l.split()[1] for l in fh if l.startswith("TracerPid:")]
        if tr and tr[0] != "0":
            ctx.fail("pid %d still traced by %s after dump -R" % (p, tr[0]))
    d = state_diff_settled(before, inst.pid)
    if d:
        ctx.fail("visible state changed by dump -R:\n    " + "\n    ".join(d[:20]))
    snap = os.path.join(ctx.dir, "snapshot")
    saved = snapshot_files(inst.wd, snap)
    inst.go_and_check(wl.timeout, "original (after dump -R)")
    left = wait_gone(tree, 10)
    if left:
        ctx.fail("pids %s of the original still exist 10s after it passed" % left)
    for f in ("go", "result"):
        if os.path.exists(inst.path(f)):
            os.unlink(inst.path(f))
    unsnapshot_files(inst.wd, snap, saved)
    restore_and_check(ctx, inst, img, before)
    inst.go_and_check(wl.timeout, "restored copy")


def flavour_refuse(ctx, wl):
    neg_dump_unsupported(ctx, wl, wl.refuse_words)


FLAVOURS = {"cr": flavour_cr, "leave-running": flavour_leave_running, "norestore": flavour_norestore,
            "refuse": flavour_refuse}


# --------------------------------------------------------------------------
# the shell-loop script test

def check_counter_file(ctx, path, must_reach=None):
    lines = read_text(path).split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for i, l in enumerate(lines):
        if l != str(i):
            ctx.fail("counter file line %d is %r, expected %d (gap or duplicate); tail: %s" %
                     (i + 1, l, i, lines[max(0, i - 3):i + 3]))
    if must_reach is not None and len(lines) < must_reach:
        ctx.fail("counter stopped at %d lines, expected at least %d" % (len(lines), must_reach))
    return len(lines)


def comm_of(pid):
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return None


def wait_for_busy_child(pid, timeout):
    """Spins until sh has a child that is not `sleep` (the $(expr ...) subshell), so the
    dump can catch the pipe between them. Returns its comm, or None on timeout."""
    deadline = time.monotonic() + timeout
    path = "/proc/%d/task/%d/children" % (pid, pid)
    while time.monotonic() < deadline:
        try:
            with open(path) as f:
                kids = f.read().split()
        except OSError:
            return None
        for k in kids:
            c = comm_of(int(k))
            if c and c != "sleep":
                return c
    return None


def dumped_tree(ctx, img):
    """[(pid, ppid, comm)] from `cryo inspect --json`."""
    r = ctx.cryo(["inspect", img, "--json"], "inspect-" + os.path.basename(img), log=False, verbose=False)
    try:
        if r.rc != 0:
            raise ValueError("exit %s" % r.rc)
        return [(t["pid"], t["ppid"], t.get("comm", "?")) for t in json.loads(r.out)["tree"]]
    except (ValueError, KeyError, TypeError):
        ctx.inspect_errors.append("cryo inspect --json %s: %s: %s" % (os.path.basename(img), r.describe(),
                                                                       last_line(r.err)))
        return None


def flavour_script(ctx, script, rounds=3):
    """The shell loop: sh appends a counter to a file every second; each round dumps the
    tree (sh plus sleep or the $(expr) subshell), restores it and checks the counter goes
    on without a gap or a duplicate, under the same pids."""
    wd = os.path.join(ctx.dir, "wd")
    os.makedirs(wd)
    counter = os.path.join(wd, "counter")
    body = "\n".join(l for l in open(script).read().split("\n") if l.strip() and not l.lstrip().startswith("#"))
    cmd = ["sh", "-c", body, "sh", counter]
    mark = REAPER.mark()
    pid = spawn(cmd, cwd=wd, stdout=os.path.join(ctx.dir, "workload.out"),
                stderr=os.path.join(ctx.dir, "workload.out"), new_session=True)
    ctx.pids.add(pid)
    ctx.sid = pid
    seed = os.environ.get("CRYO_TEST_SEED", str(time.time()))
    ctx.note("random seed %s (CRYO_TEST_SEED)" % seed)
    rnd = random.Random(seed)
    deadline = time.monotonic() + 10
    while not os.path.exists(counter) and time.monotonic() < deadline:
        time.sleep(0.01)
    if not os.path.exists(counter):
        ctx.fail("the loop did not start writing %s" % counter)
    caught = []
    for rnd_i in range(rounds):
        img = os.path.join(ctx.dir, "img%d" % rnd_i)
        os.makedirs(img)
        if rnd_i % 2 == 1:
            # aim for the moment sh runs $(expr ...): a child with a pipe back to sh
            time.sleep(rnd.uniform(0.0, 0.5))
            wait_for_busy_child(pid, 3)
        else:
            time.sleep(rnd.uniform(0.3, 2.3))
        before = visible_state(pid)
        ctx.pids.update(before)
        check_counter_file(ctx, counter)
        res = ctx.cryo(["dump", "-t", str(pid), "-D", img], "dump%d" % rnd_i)
        if res.rc != 0:
            ctx.fail("round %d: dump of tree %s failed: %s: %s" % (rnd_i, list(before), res.describe(),
                                                                 last_line(res.err)))
        tree = dumped_tree(ctx, img)
        if tree is None:  # inspect failed (reported at the end): take our own look instead
            tree = [(p, int(before[p]["ppid"]) if p != pid else 0, comm_of(p) or "?") for p in before]
        tpids = [t[0] for t in tree]
        ctx.pids.update(tpids)
        caught.append("+".join(t[2] for t in tree))
        if not tree or tree[0][0] != pid:
            ctx.fail("round %d: dumped tree %s is not rooted at sh %d" % (rnd_i, tree, pid))
        st = REAPER.wait(pid, 15, mark)
        if st is None:
            ctx.fail("round %d: sh %d still alive after dump" % (rnd_i, pid))
        left = wait_gone(tpids, 10)
        if left:
            ctx.fail("round %d: pids %s still exist after dump" % (rnd_i, left))
        n_dumped = check_counter_file(ctx, counter)
        mark = REAPER.mark()
        pidfile = os.path.join(ctx.dir, "restore%d.pid" % rnd_i)
        res = ctx.cryo(["restore", "-D", img, "-d", "--pidfile", pidfile], "restore%d" % rnd_i)
        if res.rc != 0:
            ctx.fail("round %d: restore of tree %s failed: %s: %s" % (rnd_i, tree, res.describe(),
                                                                     last_line(res.err)))
        after = visible_state(pid)
        ctx.pids.update(after)
        if not pid_alive(pid):
            ctx.fail("round %d: sh %d not alive after restore" % (rnd_i, pid))
        if read_text(pidfile).strip() != str(pid):
            ctx.fail("round %d: pidfile has %r, expected %d" % (rnd_i, read_text(pidfile).strip(), pid))
        # every dumped child must be back as sh's child -- unless it already finished
        # (expr lives for a millisecond); then sh must have reaped it and gone on
        for (p, pp, comm) in tree[1:]:
            if p in after:
                if int(after[p]["ppid"]) != pp:
                    ctx.fail("round %d: restored %s %d has ppid %s, expected %d" % (rnd_i, comm, p, after[p]["ppid"], pp))
            elif comm == "sleep" and pid_exists(p):
                ctx.fail("round %d: restored sleep %d is not sh's child" % (rnd_i, p))
        # the shell moves on between our look and the freeze (pipes come and go, the heap
        # grows): compare only what a running sh does not change
        common = [p for p in before if p in after and p in tpids]
        stable = lambda st: {k: v for k, v in st.items() if k not in ("maps", "fds") and not k.startswith("SigBlk")}
        d = diff_state({p: stable(before[p]) for p in common}, {p: stable(after[p]) for p in common})
        if d:
            ctx.fail("round %d: visible state changed (tree %s):\n    %s" % (rnd_i, tree, "\n    ".join(d[:20])))
        ctx.note("round %d: dumped %s at %d lines" % (rnd_i, caught[-1], n_dumped))
        time.sleep(1.6)
        check_counter_file(ctx, counter, must_reach=n_dumped + 1)
    time.sleep(1.2)
    final_tree = proc_tree(pid)
    kill_pid(pid, signal.SIGKILL)
    REAPER.wait(pid, 10, mark)
    kill_tree(final_tree, pid)
    wait_gone(final_tree, 10)
    n = check_counter_file(ctx, counter)
    if n < rounds + 2:
        ctx.fail("counter only reached %d" % n)
    ctx.info = "trees dumped: %s; counter reached %d" % (", ".join(caught), n)
    if ctx.inspect_errors:
        ctx.fail("C/R worked, but %s" % ctx.inspect_errors[0])


def is_standalone_script(path):
    """tests/scripts/*.sh with a '# SCRIPT: standalone' line drive cryo themselves."""
    try:
        with open(path, errors="replace") as f:
            return any(re.match(r"#\s*SCRIPT:\s*standalone\b", l) for l in f.read(4096).split("\n"))
    except OSError:
        return False


def flavour_standalone_script(ctx, script, timeout=300):
    """Runs `sh SCRIPT CRYO DIR` (DIR: the test's scratch dir): it passes when it exits 0;
    its last line of output is the note on the PASS line."""
    res = run_cmd(["sh", script, ctx.r.cryo, ctx.dir], ctx.dir, "script", timeout=timeout, cwd=ctx.dir)
    ctx.note(res.describe())
    ctx.logs += sorted(glob.glob(os.path.join(ctx.dir, "*.log")))
    if res.rc != 0:
        ctx.fail("%s:\n    %s" % (res.describe(), "\n    ".join(tail(res.out + res.err, 20).split("\n"))))
    ctx.info = last_line(res.out)


# --------------------------------------------------------------------------
# negative tests

def free_pid():
    pid_max = int(open("/proc/sys/kernel/pid_max").read())
    for p in range(pid_max - 1, 300, -1):
        if not pid_exists(p):
            return p
    raise TestFailure("no free pid")


def neg_dump_nonexistent(ctx):
    p = free_pid()
    img = os.path.join(ctx.dir, "img")
    os.makedirs(img)
    res = ctx.cryo(["dump", "-t", str(p), "-D", img], "dump", log=False, verbose=False)
    if res.rc == 0 or res.rc is None:
        ctx.fail("dump of nonexistent pid %d: %s" % (p, res.describe()))
    e = one_line_error(res)
    if e:
        ctx.fail(e)
    if str(p) not in res.err:
        ctx.fail("error does not name pid %d: %r" % (p, res.err.strip()))


def neg_dump_special_pids(ctx):
    """Kernel threads, init, cryo's own ancestors: one line naming the pid and why."""
    img = os.path.join(ctx.dir, "img")
    os.makedirs(img)
    cases = [(2, "kernel thread"), (1, "init"), (os.getpid(), "ancestor")]
    for p, word in cases:
        res = ctx.cryo(["dump", "-t", str(p), "-D", img], "dump-%d" % p, log=False, verbose=False)
        if res.rc == 0 or res.rc is None:
            ctx.fail("dump of pid %d: %s" % (p, res.describe()))
        e = one_line_error(res)
        if e:
            ctx.fail("pid %d: %s" % (p, e))
        if str(p) not in res.err or word not in res.err:
            ctx.fail("error for pid %d does not say '%s': %r" % (p, word, res.err.strip()))
    if os.path.exists(os.path.join(img, "inventory.img")):
        ctx.fail("a refused dump left an inventory.img")


def neg_restore_nonexistent(ctx):
    res = ctx.cryo(["restore", "-D", "/nonexistent/cryo-images", "-d"], "restore", log=False, verbose=False)
    if res.rc == 0 or res.rc is None:
        ctx.fail("restore -D /nonexistent: %s" % res.describe())
    e = one_line_error(res)
    if e:
        ctx.fail(e)


def neg_restore_empty(ctx):
    img = os.path.join(ctx.dir, "img")
    os.makedirs(img)
    res = ctx.cryo(["restore", "-D", img, "-d"], "restore", log=False, verbose=False)
    if res.rc == 0 or res.rc is None:
        ctx.fail("restore from an empty dir: %s" % res.describe())
    e = one_line_error(res)
    if e:
        ctx.fail(e)


def mount_tmpfs(ctx, path, opts):
    os.makedirs(path, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "cryo-test", path], capture_output=True, text=True)
    if r.returncode != 0:
        ctx.fail("cannot mount tmpfs at %s: %s" % (path, r.stderr.strip()))
    ctx.mounts = getattr(ctx, "mounts", []) + [path]


def umount(path):
    subprocess.run(["umount", "-l", path], capture_output=True)


def check_untouched_and_pass(ctx, inst, what):
    if not pid_alive(inst.pid):
        ctx.fail("workload died after %s (%s)" % (what, status_str(REAPER.wait(inst.pid, 0.5, inst.mark))))
    f = proc_stat_fields(inst.pid)
    if f[3] in "tT":
        ctx.fail("workload left stopped after %s" % what)
    with open("/proc/%d/status" % inst.pid) as fh:
        tr = [l.split()[1] for l in fh if l.startswith("TracerPid:")]
    if tr and tr[0] != "0":
        ctx.fail("workload still traced after %s" % what)
    inst.go_and_check(60, "workload (after %s)" % what)


def neg_dump_bad_dir(ctx, wl, mode):
    mnt = os.path.join(ctx.dir, "mnt")
    try:
        if mode == "readonly":
            mount_tmpfs(ctx, mnt, "size=16m,ro")
            img = mnt
        else:
            mount_tmpfs(ctx, mnt, "size=64k")
            img = mnt
        inst = Instance(ctx, wl)
        inst.start()
        inst.wait_ready()
        before = stable_state(inst.pid)
        res = ctx.cryo(["dump", "-t", str(inst.pid), "-D", img], "dump", log=False, verbose=False)
        if res.rc == 0 or res.rc is None:
            ctx.fail("dump into a %s dir: %s" % (mode, res.describe()))
        e = one_line_error(res)
        if e:
            ctx.fail(e)
        d = state_diff_settled(before, inst.pid) if pid_alive(inst.pid) else []
        if d:
            ctx.fail("failed dump changed the workload's visible state:\n    " + "\n    ".join(d[:20]))
        check_untouched_and_pass(ctx, inst, "a failed dump into a %s dir" % mode)
    finally:
        umount(mnt)


def neg_dump_unsupported(ctx, wl, words):
    img = os.path.join(ctx.dir, "img")
    os.makedirs(img)
    inst = Instance(ctx, wl)
    inst.start()
    inst.wait_ready()
    before = stable_state(inst.pid)
    res = ctx.cryo(["dump", "-t", str(inst.pid), "-D", img], "dump", log=False, verbose=False)
    if res.rc == 0 or res.rc is None:
        ctx.fail("dump of %s was not refused: %s" % (wl.name, res.describe()))
    e = one_line_error(res)
    if e:
        ctx.fail(e)
    low = res.err.lower()
    if str(inst.pid) not in res.err or (words and not any(w in low for w in words)):
        ctx.fail("error must name pid %d%s: %r" % (inst.pid, " and the resource (%s)" % "/".join(words) if words else "",
                                                   res.err.strip()))
    d = state_diff_settled(before, inst.pid) if pid_alive(inst.pid) else []
    if d:
        ctx.fail("refused dump changed the workload's visible state:\n    " + "\n    ".join(d[:20]))
    check_untouched_and_pass(ctx, inst, "a refused dump")


def image_layout(path):
    """(data_off, payload_len) of a cryo image file, or None if it is not one."""
    try:
        with open(path, "rb") as f:
            h = f.read(64)
    except OSError:
        return None
    if len(h) < 64 or h[:4] != b"CRYO":
        return None
    data_off = int.from_bytes(h[12:16], "little")
    plen = int.from_bytes(h[24:32], "little")
    return data_off, plen


def neg_images(ctx, wl):
    """A good dump, then every image file corrupted three ways: restore must refuse cleanly."""
    good = os.path.join(ctx.dir, "img")
    os.makedirs(good)
    inst = Instance(ctx, wl)
    inst.start()
    inst.wait_ready()
    before = stable_state(inst.pid)
    tree = list(before)
    ctx.pids.update(tree)
    res = ctx.cryo(["dump", "-t", str(inst.pid), "-D", good], "dump")
    if res.rc != 0:
        ctx.fail("the good dump failed: %s: %s" % (res.describe(), last_line(res.err)))
    check_dumped_gone(ctx, inst, tree)

    def sub(name, ok, msg=None):
        ctx.results.append(("neg/" + name, ok, msg))

    # inspect must read the good images
    r = ctx.cryo(["inspect", good], "inspect", log=False, verbose=False)
    sub("inspect", r.rc == 0 and r.out.strip() != "", "inspect: %s: %s" % (r.describe(), last_line(r.err)))
    r = ctx.cryo(["inspect", good, "--json"], "inspect-json", log=False, verbose=False)
    try:
        json.loads(r.out)
        jok = r.rc == 0
    except ValueError as e:
        jok = False
        r.err += " (stdout is not JSON: %s)" % e
    sub("inspect-json", jok, "inspect --json: %s: %s" % (r.describe(), last_line(r.err)))

    files = sorted(f for f in os.listdir(good) if image_layout(os.path.join(good, f)))
    if not files:
        ctx.fail("the good dump produced no image files")
    work = os.path.join(ctx.dir, "bad")
    for f in files:
        data_off, plen = image_layout(os.path.join(good, f))
        size = os.path.getsize(os.path.join(good, f))
        cases = [("truncate", None), ("header", 20)]
        if plen > 0:
            cases.append(("payload", data_off + plen // 2))
        for (how, off) in cases:
            name = "corrupt/%s/%s" % (f, how)
            shutil.rmtree(work, ignore_errors=True)
            shutil.copytree(good, work)
            p = os.path.join(work, f)
            with open(p, "r+b") as fh:
                if how == "truncate":
                    fh.truncate(size // 2 if size > 64 else 0)
                else:
                    fh.seek(off)
                    b = fh.read(1)
                    fh.seek(off)
                    fh.write(bytes([b[0] ^ 0x5a]))
            m = REAPER.mark()
            r = ctx.cryo(["restore", "-D", work, "-d"], "restore-bad", log=False, verbose=False)
            errs = []
            if r.rc == 0 or r.rc is None:
                errs.append("restore accepted it: %s" % r.describe())
            else:
                e = one_line_error(r)
                if e:
                    errs.append(e)
            left = wait_gone(tree, 3)
            if left:
                errs.append("pids %s exist after the failed restore" % left)
                kill_tree(left, ctx.sid)
                wait_gone(left, 5)
            sub(name, not errs, "; ".join(errs))
    # an image replaced by a FIFO (nobody writes it): restore and inspect must
    # refuse it, not block forever in open() or read()
    for f in ["pstree.img"] + [x for x in files if x.startswith("pages-")][:1]:
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(good, work)
        os.unlink(os.path.join(work, f))
        os.mkfifo(os.path.join(work, f))
        errs = []
        for what, argv in (("restore", ["restore", "-D", work, "-d"]), ("inspect", ["inspect", work])):
            r = ctx.cryo(argv, what + "-fifo", timeout=20, log=False, verbose=False)
            if r.rc is None:
                errs.append("%s blocked on the FIFO: %s" % (what, r.describe()))
            elif r.rc == 0 and what == "restore":
                errs.append("restore accepted a FIFO as %s" % f)
            elif what == "restore":
                e = one_line_error(r)
                if e:
                    errs.append(e)
        left = wait_gone(tree, 3)
        if left:
            errs.append("pids %s exist after the failed restore" % left)
            kill_tree(left, ctx.sid)
            wait_gone(left, 5)
        sub("corrupt/fifo/%s" % f, not errs, "; ".join(errs))
    # images of another checkpoint mixed in (same file names): refused by the checkpoint id
    other = Instance(ctx, wl, "wd-other")
    other.out = os.path.join(ctx.dir, "workload-other.out")
    other.start()
    other.wait_ready()
    other_tree = proc_tree(other.pid)
    ctx.pids.update(other_tree)
    oimg = os.path.join(ctx.dir, "img-other")
    os.makedirs(oimg)
    r = ctx.cryo(["dump", "-t", str(other.pid), "-D", oimg], "dump-other")
    if r.rc != 0:
        sub("corrupt/mixed", False, "second dump failed: %s: %s" % (r.describe(), last_line(r.err)))
    else:
        REAPER.wait(other.pid, 10, other.mark)
        wait_gone(other_tree, 10)
        for f in sorted(set(files) & set(os.listdir(oimg))):
            shutil.rmtree(work, ignore_errors=True)
            shutil.copytree(good, work)
            shutil.copyfile(os.path.join(oimg, f), os.path.join(work, f))
            r = ctx.cryo(["restore", "-D", work, "-d"], "restore-mixed", log=False, verbose=False)
            errs = []
            if r.rc == 0 or r.rc is None:
                errs.append("restore accepted %s of another checkpoint: %s" % (f, r.describe()))
            else:
                e = one_line_error(r)
                if e:
                    errs.append(e)
            left = wait_gone(tree + other_tree, 3)
            if left:
                errs.append("pids %s exist after the failed restore" % left)
                kill_tree(left, None)
                wait_gone(left, 5)
            sub("corrupt/mixed/%s" % f, not errs, "; ".join(errs))
    # the pristine images still restore and the copy passes
    try:
        restore_and_check(ctx, inst, good, before)
        # restoring the same images again must fail: the pids are taken
        r = ctx.cryo(["restore", "-D", good, "-d"], "restore-twice", log=False, verbose=False)
        errs = []
        if r.rc == 0 or r.rc is None:
            errs.append("second restore while the first copy runs: %s" % r.describe())
        else:
            e = one_line_error(r)
            if e:
                errs.append(e)
        if not pid_alive(inst.pid):
            errs.append("the first copy died during the second restore")
        sub("restore-twice", not errs, "; ".join(errs))
        inst.go_and_check(wl.timeout, "restored workload (pristine images)")
        sub("corrupt/pristine-restore", True)
    except TestFailure as e:
        sub("corrupt/pristine-restore", False, str(e))


def cli_check(ctx):
    res = ctx.cryo(["check"], "check", log=False, verbose=False)
    if res.rc != 0:
        ctx.fail("cryo check: %s: %s%s" % (res.describe(), res.out.strip()[-500:], last_line(res.err)))


# --------------------------------------------------------------------------
# real applications (tests/apps/NAME.py, driven by tests/apps/driver.py)

APPS_DIR = os.path.join(ROOT, "tests", "apps")
_APPS_DRIVER = []


def apps_driver():
    if not _APPS_DRIVER:
        import importlib.util
        spec = importlib.util.spec_from_file_location("cryo_apps_driver", os.path.join(APPS_DIR, "driver.py"))
        mod = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = mod
        spec.loader.exec_module(mod)
        _APPS_DRIVER.append(mod)
    return _APPS_DRIVER[0]


def app_test(ctx, path):
    apps_driver().run_app(sys.modules[__name__], ctx, path)


# --------------------------------------------------------------------------
# unit tests and fuzzers

def unit_test(ctx, binary):
    if not os.access(binary, os.X_OK):
        ctx.fail("%s is not built" % binary)
    res = run_cmd([binary], ctx.dir, "unit", timeout=120, cwd=ctx.dir)
    ctx.note(res.describe())
    bad = [l for l in res.out.split("\n") if l.startswith("not ok")]
    if res.rc != 0 or bad:
        ctx.fail("%s; %s\n    %s" % (res.describe(), "%d TAP failures" % len(bad),
                                       "\n    ".join((bad or [])[:20] + [tail(res.err, 10)])))


def fuzz_test(ctx, binary, seconds):
    corpus = os.path.join(ctx.dir, "corpus")
    os.makedirs(corpus, exist_ok=True)
    seeds = os.path.join(os.path.dirname(binary), "corpus", os.path.basename(binary))
    args = [binary, "-max_total_time=%d" % seconds, "-timeout=10", "-rss_limit_mb=2048", "-print_final_stats=1",
            corpus] + ([seeds] if os.path.isdir(seeds) else [])
    res = run_cmd(args, ctx.dir, "fuzz", timeout=seconds + 120, cwd=ctx.dir)
    ctx.note(res.describe())
    if res.rc != 0:
        # the sanitizer's verdict and the first frame say what broke; the stats tail the rest
        key = [l.strip() for l in res.err.split("\n") if "ERROR: " in l or re.match(r"\s+#[01] ", l)][:3]
        ctx.fail("%s: %s\n    %s" % (res.describe(), " | ".join(key) or "(no sanitizer report)",
                                      "\n    ".join(tail(res.err, 12).split("\n"))))


# --------------------------------------------------------------------------

def workloads(runner):
    out = []
    for src in sorted(glob.glob(os.path.join(ROOT, "tests", "zdtm", "*.c"))):
        name = os.path.basename(src)[:-2]
        if name == "zdtm":
            continue
        out.append(Workload(name, src, os.path.join(runner.build, "tests", name)))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-k", dest="pattern", help="run only tests whose name matches this regex")
    ap.add_argument("-j", dest="jobs", type=int, default=1, help="parallel tests (default 1)")
    ap.add_argument("--keep", action="store_true", help="keep scratch dirs of passed tests too")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"), help="build dir (default build/)")
    ap.add_argument("--outdir", default=None,
                    help="scratch dir (default tests/out/run-PID: runs in parallel do not collide)")
    ap.add_argument("--fuzz", type=int, default=0, metavar="SECONDS",
                    help="also run each fuzzer of build-fuzz/ for SECONDS")
    ap.add_argument("--fuzz-build", default=os.path.join(ROOT, "build-fuzz"))
    ap.add_argument("-v", dest="verbosity", type=int, default=int(os.environ.get("CRYO_TEST_VERBOSITY", "4")),
                    help="cryo -vN level for the logs (default 4)")
    ap.add_argument("-l", "--list", action="store_true", help="list the tests and exit")
    ap.add_argument("--rounds", type=int, default=3, help="C/R rounds of the script test")
    ap.add_argument("--no-apps", action="store_true", help="skip the real-application tests (apps/*)")
    args = ap.parse_args()

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        print("cannot become a child subreaper: %s" % os.strerror(ctypes.get_errno()), file=sys.stderr)
        return 2
    global REAPER
    REAPER = Reaper()
    own_outdir = args.outdir is None
    if own_outdir:
        args.outdir = os.path.join(ROOT, "tests", "out", "run-%d" % os.getpid())
    r = Runner(args)
    os.makedirs(r.outdir, exist_ok=True)

    tests = []  # (name, fn, args, serial?)
    wls = {w.name: w for w in workloads(r)}
    for w in wls.values():
        for fl in w.flavours:
            if fl in FLAVOURS:
                tests.append(("%s/%s" % (w.name, fl), FLAVOURS[fl], (w,), w.serial))
    for s in sorted(glob.glob(os.path.join(ROOT, "tests", "scripts", "*.sh"))):
        n = os.path.basename(s)[:-3]
        if is_standalone_script(s):  # serial: it must not race the others for terminals
            tests.append(("%s/script" % n, flavour_standalone_script, (s,), True))
            continue
        tests.append(("%s/script" % n, lambda ctx, s=s: flavour_script(ctx, s, args.rounds), (), False))
    tests.append(("cli/check", cli_check, (), False))
    tests.append(("neg/dump-nonexistent-pid", neg_dump_nonexistent, (), False))
    tests.append(("neg/dump-special-pids", neg_dump_special_pids, (), False))
    tests.append(("neg/restore-nonexistent-dir", neg_restore_nonexistent, (), False))
    tests.append(("neg/restore-empty-dir", neg_restore_empty, (), False))
    small = wls.get("example_counter")
    if small:
        tests.append(("neg/dump-readonly-dir", neg_dump_bad_dir, (small, "readonly"), False))
    big = wls.get("mm_anon") or small
    if big:
        tests.append(("neg/dump-full-fs", neg_dump_bad_dir, (big, "full"), False))
    img_wl = wls.get("tree_simple") or wls.get("pipe_data") or small
    if img_wl:
        tests.append(("neg/images", neg_images, (img_wl,), False))
    for b in sorted(glob.glob(os.path.join(r.build, "tests", "unit", "test-*"))):
        if os.access(b, os.X_OK) and os.path.isfile(b):
            tests.append(("unit/%s" % os.path.basename(b), unit_test, (b,), False))
    if not args.no_apps and os.path.isfile(os.path.join(APPS_DIR, "driver.py")):
        for (n, path) in apps_driver().scripts():
            tests.append(("apps/%s" % n, app_test, (path,), True))
    if args.fuzz > 0:
        for b in sorted(glob.glob(os.path.join(args.fuzz_build, "fuzz-*"))):
            if os.access(b, os.X_OK) and os.path.isfile(b) and not b.endswith((".c", ".o", ".sh")):
                tests.append(("fuzz/%s" % os.path.basename(b), fuzz_test, (b, args.fuzz), False))

    if args.pattern:
        rx = re.compile(args.pattern)
        # jobs that report several results answer to the names of those too
        also = {"neg/images": " neg/inspect neg/inspect-json neg/corrupt/ neg/restore-twice"}
        tests = [t for t in tests if rx.search(t[0] + also.get(t[0], ""))]
    if args.list:
        for t in tests:
            print(t[0])
        return 0

    def go(t):
        r.run_test(t[0], t[1], *t[2])

    try:
        if args.jobs > 1:
            with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as ex:
                list(ex.map(go, [t for t in tests if not t[3]]))
            for t in tests:
                if t[3]:
                    go(t)
        else:
            for t in tests:
                go(t)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        r.failed += 1
    if r.failures:
        print("failed: " + " ".join(r.failures), file=sys.stderr)
        print("scratch dirs of failed tests are under %s" % os.path.relpath(r.outdir, ROOT), file=sys.stderr)
    elif own_outdir and not args.keep:
        shutil.rmtree(r.outdir, ignore_errors=True)
    print("%d passed, %d failed" % (r.passed, r.failed), flush=True)
    return 1 if r.failed else 0


if __name__ == "__main__":
    sys.exit(main())
