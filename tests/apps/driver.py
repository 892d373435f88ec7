"""Driver of the real-application tests: tests/apps/NAME.py, run by tests/run.py
as the group "apps" (one test per script: apps/NAME).

Every app script defines
    PACKAGES   list of alternatives, each a list of Debian packages, e.g.
               [["nginx-light"], ["nginx"]]: the first that installs is used
    BINARIES   what must exist afterwards (names looked up in PATH, or paths);
               when they all exist already nothing is installed
    BUDGET     seconds the test may take once installed (default 180)
    run(app)   the test itself, raising app.fail(...) on any failure

and drives one application through: install it if missing (apt-get, quietly,
"apt-get update" once if the package is unknown), start it in the test's
scratch dir with setsid and stray fds closed, on 127.0.0.1 only, put it under
load, checkpoint it while busy (`cryo dump`, which kills it), check it is
gone, restore it (`cryo restore -d`) and prove it kept its state and keeps
working. Whatever the test started is killed by pid at the end, on failure
too.

The driver runs inside tests/run.py (a child subreaper that reaps at once):
it gets that module as `rp` and uses its spawn(), REAPER, proc_tree(), ...
"""
import json
import os
import random
import shutil
import signal
import socket
import sys
import threading
import time
import traceback

DEFAULT_BUDGET = 180
INSTALL_TIMEOUT = 900  # a JDK from a cold cache; not counted in the app's budget
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
HERE = os.path.dirname(os.path.abspath(__file__))

_apt_lock = threading.Lock()
_apt_updated = [False]


def clean_env(**extra):
    """The environment apps run with: no variables of the caller (pyenv shims, MAKEFLAGS ...)."""
    env = {"PATH": PATH, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "HOME": "/root", "TERM": "dumb"}
    env.update({k: str(v) for k, v in extra.items()})
    return env


def which(name):
    if "/" in name:
        return name if os.access(name, os.X_OK) else None
    return shutil.which(name, path=PATH)


def option_supported(app, option):
    """True once `cryo dump --help` offers option (e.g. --tcp-established) as implemented."""
    r = app.run([app.ctx.r.cryo, "dump", "--help"], "cryo-help", timeout=20)
    for line in (r.out + r.err).split("\n"):
        if option in line:
            return "not yet implemented" not in line
    return False


class App:
    """One application test: scratch dir, time budget, processes, checkpoint/restore."""

    def __init__(self, rp, ctx, name):
        self.rp, self.ctx, self.name = rp, ctx, name
        self.dir = ctx.dir
        self.out = os.path.join(self.dir, "workload.out")  # run.py shows its tail on failure
        self.deadline = time.monotonic() + DEFAULT_BUDGET
        self.budget = DEFAULT_BUDGET
        self.stage = "setup"
        self.roots = {}  # root pid -> reaper mark at its start (or restore)
        self.sids = set()  # sessions of the apps started: everything in them is killed at the end
        self.bg = []  # (thread, stop event, errors list, name)
        self.n_ckpt = 0
        self.image = None  # the tree of the last checkpoint (cryo inspect --json)
        self.env = clean_env()
        self.dump_extra = []
        self.holders0 = set(lock_holders())
        self.driver = sys.modules[__name__]

    # ---- messages and time
    def step(self, what):
        self.stage = what
        self.ctx.note("[%5.1fs] %s" % (self.elapsed(), what))

    def note(self, msg):
        self.ctx.note("        " + msg)

    def fail(self, msg):
        self.ctx.fail("%s: %s" % (self.stage, msg))

    def elapsed(self):
        return self.budget - (self.deadline - time.monotonic())

    def left(self):
        return self.deadline - time.monotonic()

    def t(self, seconds):
        """seconds, cut to what is left of the budget (fails once it is spent)."""
        left = self.left()
        if left <= 0:
            self.fail("the test's time budget of %ds is spent" % self.budget)
        return max(0.1, min(seconds, left))

    def sleep(self, seconds):
        time.sleep(self.t(seconds))

    def path(self, *p):
        return os.path.join(self.dir, *p)

    # ---- installing
    def install(self, alternatives, binaries):
        missing = [b for b in binaries if not which(b)]
        if not missing:
            return
        self.step("installing %s (missing: %s)" % (" or ".join("+".join(a) for a in alternatives),
                                                    ", ".join(missing)))
        with _apt_lock:
            errors = []
            for pkgs in alternatives:
                err = self._apt_install(pkgs)
                if err is None and all(which(b) for b in binaries):
                    return
                errors.append(err or "installed %s but still missing %s" %
                              (" ".join(pkgs), ", ".join(b for b in binaries if not which(b))))
            self.fail("; ".join(errors))

    def _apt_install(self, pkgs):
        """None on success, else a one-line reason."""
        policy = "/usr/sbin/policy-rc.d"
        made_policy = False
        if not os.path.exists(policy):
            # keep the package's init script from starting a system-wide
            # service (a redis on 6379, an nginx on 80) during the install
            with open(policy, "w") as f:
                f.write("#!/bin/sh\nexit 101\n")
            os.chmod(policy, 0o755)
            made_policy = True
        try:
            if not _apt_updated[0] and not self._apt_known(pkgs):
                err = self._apt_update()
                if err:
                    return err
            argv = ["apt-get", "install", "-y", "-qq", "--no-install-recommends"] + pkgs
            r = self._apt(argv, "apt-install")
            if r.rc != 0 and not _apt_updated[0]:
                err = self._apt_update()  # an old package list may name files gone from the archive
                if err:
                    return err
                r = self._apt(argv, "apt-install")
            if r.rc == 0:
                return None
            return "apt-get install %s: %s: %s" % (" ".join(pkgs), r.describe(),
                                                   self.rp.tail(r.err, 3).replace("\n", " | "))
        finally:
            if made_policy:
                try:
                    os.unlink(policy)
                except OSError:
                    pass

    def _apt_update(self):
        _apt_updated[0] = True
        r = self._apt(["apt-get", "update", "-qq"], "apt-update")
        if r.rc != 0:
            return "apt-get update: %s: %s" % (r.describe(), self.rp.tail(r.err, 3).replace("\n", " | "))
        return None

    def _apt_known(self, pkgs):
        # (never subprocess.run(): run.py's reaper thread would take its child)
        r = self.rp.run_cmd(["apt-cache", "show", "--no-all-versions"] + pkgs, self.dir, "apt-cache", timeout=60)
        return r.rc == 0

    def _apt(self, argv, tag):
        env = clean_env(DEBIAN_FRONTEND="noninteractive")
        # run_cmd() passes no env: go through spawn for the environment
        out, err = self.path(tag + ".out"), self.path(tag + ".err")
        mark = self.rp.REAPER.mark()
        t0 = time.monotonic()
        pid = self.rp.spawn(argv, stdout=out, stderr=err, new_session=True, env=env)
        st = self.rp.REAPER.wait(pid, INSTALL_TIMEOUT, since=mark)
        if st is None:
            self.rp.kill_pid(pid, signal.SIGKILL)
            self.rp.REAPER.wait(pid, 10, since=mark)
        res = self.rp.CmdResult(argv, self.rp.exit_code(st), self.rp.read_text(out), self.rp.read_text(err), st,
                                time.monotonic() - t0)
        self.note("%s (%.1fs)" % (res.describe(), res.elapsed))
        return res

    # ---- processes
    def start(self, argv, cwd=None, env=None, stdin=None):
        """Starts argv in a new session (setsid), stdio to workload.out, other fds closed."""
        mark = self.rp.REAPER.mark()
        pid = self.rp.spawn(argv, cwd=cwd or self.dir, stdin=stdin, stdout=self.out, stderr=self.out,
                            new_session=True, env=env or self.env)
        self.roots[pid] = mark
        self.sids.add(pid)  # setsid: the root leads a session of its own
        self.note("started pid %d: %s" % (pid, " ".join(a if "\n" not in a else "'...'" for a in argv)[:300]))
        return pid

    def run(self, argv, tag, timeout=60, cwd=None, env=None, stdin=None):
        """Runs a helper command to completion (bounded by the budget): CmdResult."""
        out, err = self.path(tag + ".out"), self.path(tag + ".err")
        for f in (out, err):
            if os.path.exists(f):
                os.unlink(f)
        mark = self.rp.REAPER.mark()
        t0 = time.monotonic()
        pid = self.rp.spawn(argv, cwd=cwd or self.dir, stdin=stdin, stdout=out, stderr=err, new_session=True,
                            env=env or self.env)
        st = self.rp.REAPER.wait(pid, self.t(timeout), since=mark)
        if st is None:
            self.rp.kill_pid(pid, signal.SIGKILL)
            self.rp.REAPER.wait(pid, 10, since=mark)
        return self.rp.CmdResult(argv, self.rp.exit_code(st), self.rp.read_text(out), self.rp.read_text(err), st,
                                 time.monotonic() - t0)

    def status_of(self, pid, timeout=0.5):
        """Wait status of a root that exited (None if it did not)."""
        return self.rp.REAPER.wait(pid, timeout, self.roots.get(pid, 0))

    def check_alive(self, pid, what="the app"):
        if not self.rp.pid_alive(pid):
            self.fail("%s (pid %d) died: %s; output: %s" %
                      (what, pid, self.rp.status_str(self.status_of(pid)),
                       self.rp.tail(self.rp.read_text(self.out), 6).replace("\n", " | ")))

    def wait_for(self, cond, timeout, what, pid=None):
        """Polls cond() until true; fails after timeout or when pid dies meanwhile."""
        deadline = time.monotonic() + self.t(timeout)
        while True:
            v = cond()
            if v:
                return v
            if pid is not None:
                self.check_alive(pid)
            if time.monotonic() > deadline:
                self.fail("%s: not after %.0fs" % (what() if callable(what) else what, timeout))
            time.sleep(0.02)

    def wait_exit(self, pid, timeout, what):
        st = self.rp.REAPER.wait(pid, self.t(timeout), self.roots.get(pid, 0))
        if st is None:
            self.fail("%s: pid %d still running after %.0fs" % (what, pid, timeout))
        return st

    def tree(self, root):
        return self.rp.proc_tree(root)

    def socket_fds(self, pid):
        n = 0
        try:
            for fd in os.listdir("/proc/%d/fd" % pid):
                try:
                    if os.readlink("/proc/%d/fd/%s" % (pid, fd)).startswith("socket:"):
                        n += 1
                except OSError:
                    pass
        except OSError:
            pass
        return n

    def tids(self, pid):
        try:
            return sorted(int(t) for t in os.listdir("/proc/%d/task" % pid))
        except OSError:
            return []

    def thread_names(self, pid):
        """tid -> comm of every thread of pid."""
        out = {}
        for t in self.tids(pid):
            try:
                with open("/proc/%d/task/%d/comm" % (pid, t)) as f:
                    out[t] = f.read().strip()
            except OSError:
                pass
        return out

    # ---- load generators (threads of the runner)
    def background(self, name, fn):
        """Runs fn(stop_event) in a thread; exceptions are kept for stop_background()."""
        stop = threading.Event()
        errors = []

        def body():
            try:
                fn(stop)
            except Exception as e:  # reported by stop_background()
                errors.append("%s: %s" % (type(e).__name__, e))
                if not isinstance(e, (OSError, AssertionError, ValueError)):
                    errors.append(traceback.format_exc(limit=3))

        th = threading.Thread(target=body, name="app-" + name, daemon=True)
        th.start()
        self.bg.append((th, stop, errors, name))
        return stop

    def stop_background(self, check=True):
        errs = []
        for (th, stop, errors, name) in self.bg:
            stop.set()
        for (th, stop, errors, name) in self.bg:
            th.join(15)
            if th.is_alive():
                errs.append("load generator %s did not stop" % name)
            errs += ["load generator %s: %s" % (name, e) for e in errors]
        self.bg = []
        if check and errs:
            self.fail("; ".join(errs))

    # ---- checkpoint / restore
    def snapshot(self, pids, root):
        """The tree as cryo inspect --json shows it, read from /proc."""
        out = []
        for p in pids:
            try:
                f = self.rp.proc_stat_fields(p)
                out.append({"pid": p, "ppid": 0 if p == root else int(f[4]), "pgid": int(f[5]), "sid": int(f[6]),
                            "comm": f[2], "threads": self.tids(p)})
            except (OSError, ValueError, IndexError):
                pass
        return out

    def checkpoint(self, root, extra=(), tag=None):
        """cryo dump of the tree at root (which kills it); checks it is gone; returns the image tree."""
        self.n_ckpt += 1
        tag = tag or "dump%d" % self.n_ckpt
        img = self.path("img%d" % self.n_ckpt)
        shutil.rmtree(img, ignore_errors=True)
        os.makedirs(img)
        before = self.tree(root)
        seen = self.snapshot(before, root)
        self.step("checkpoint %d of the tree %s" % (self.n_ckpt, before if len(before) < 12 else
                                                   "of %d processes under %d" % (len(before), root)))
        # no -v: stderr carries only the one-line error, the log file gets everything
        res = self.ctx.cryo(["dump", "-t", str(root), "-D", img] + list(extra), tag, timeout=self.t(150),
                            verbose=False)
        if res.rc != 0:
            errl = [l for l in res.err.split("\n") if l.strip()]
            time.sleep(0.2)
            alive = self.rp.pid_alive(root)
            self.fail("cryo dump %s (%s): %s [the app %s]" %
                      ("refused" if res.rc is not None else "timed out", self.rp.status_str(res.status),
                       " / ".join(errl[-3:]) or "(no message)",
                       "kept running" if alive else "DIED: %s" % self.rp.status_str(self.status_of(root))))
        self.note("dump took %.2fs, images %.1f MiB" % (res.elapsed, dir_size(img) / 1048576.0))
        st = self.rp.REAPER.wait(root, self.t(15), self.roots.get(root, 0))
        if st is None:
            self.fail("pid %d still %s after cryo dump (which should kill it)" %
                      (root, "alive" if self.rp.pid_alive(root) else "unreaped"))
        if os.WIFEXITED(st):
            self.fail("pid %d ended by itself (%s) around the dump instead of being killed by it" %
                      (root, self.rp.status_str(st)))
        r = self.run([self.ctx.r.cryo, "inspect", img, "--json"], "inspect%d" % self.n_ckpt, timeout=60)
        try:
            image = json.loads(r.out)["tree"]
        except (ValueError, KeyError, TypeError) as e:
            # not the app's fault: go on with the tree as seen just before the dump
            self.note("cryo inspect --json of the checkpoint failed (%s, %s): %s; using the tree seen before the dump"
                      % (r.describe(), e, r.err.strip()[-300:]))
            image = seen
        pids = [t["pid"] for t in image]
        left = self.rp.wait_gone(pids, self.t(10))
        if left:
            self.fail("pids %s of the checkpointed tree still exist 10s after cryo dump" % left)
        if root not in pids:
            self.fail("the checkpoint's tree %s does not hold the root %d" % (pids, root))
        self.image = image
        self.img = img
        self.dump_extra = list(extra)
        return image

    def restore(self, root, exact_tree=True, exact_threads=True):
        """cryo restore -d of the last checkpoint; checks the tree came back with the same ids.

        exact_tree: every process of the image must be back (else only the root must, the
        others may have finished already); exact_threads: the same for threads."""
        tag = "restore%d" % self.n_ckpt
        pidfile = self.path(tag + ".pid")
        if os.path.exists(pidfile):
            os.unlink(pidfile)
        self.step("restore %d" % self.n_ckpt)
        mark = self.rp.REAPER.mark()
        self.roots[root] = mark
        extra = [o for o in self.dump_extra if o == "--tcp-established"]  # needed at both ends
        res = self.ctx.cryo(["restore", "-D", self.img, "-d", "--pidfile", pidfile] + extra, tag,
                            timeout=self.t(150), verbose=False)
        if res.rc != 0:
            errl = [l for l in res.err.split("\n") if l.strip()]
            self.fail("cryo restore failed (%s): %s" % (self.rp.status_str(res.status),
                                                        " / ".join(errl[-3:]) or "(no message)"))
        self.note("restore took %.2fs" % res.elapsed)
        live = {}
        for p in self.tree(root):
            try:
                f = self.rp.proc_stat_fields(p)
                live[p] = (int(f[4]), int(f[5]), int(f[6]), self.tids(p))
            except (OSError, ValueError, IndexError):
                pass
        if root not in live:
            self.fail("restored root pid %d is not alive (%s)" % (root, self.rp.status_str(self.status_of(root))))
        pf = self.rp.read_text(pidfile).strip()
        if pf != str(root):
            self.fail("--pidfile holds %r, expected %d" % (pf, root))
        problems, notes = [], []
        for t in self.image:
            pid = t["pid"]
            must = exact_tree or pid == root
            if pid not in live:
                (problems if must else notes).append("pid %d (%s) missing" % (pid, t.get("comm")))
                continue
            ppid, pgid, sid, tids = live[pid]
            want_ppid = t["ppid"] if t["ppid"] else None
            if want_ppid is not None and ppid != want_ppid:
                problems.append("pid %d ppid %d, was %d" % (pid, ppid, want_ppid))
            if (pgid, sid) != (t["pgid"], t["sid"]):
                problems.append("pid %d pgid/sid %d/%d, were %d/%d" % (pid, pgid, sid, t["pgid"], t["sid"]))
            if tids != sorted(t["threads"]):
                d = "pid %d threads %s, were %s" % (pid, short(tids), short(sorted(t["threads"])))
                (problems if exact_threads else notes).append(d)
        extra = sorted(set(live) - set(t["pid"] for t in self.image))
        if extra and exact_tree:
            problems.append("processes %s not in the checkpoint" % extra)
        for n in notes:
            self.note("after restore: " + n)
        if problems:
            self.fail("restored tree differs from the checkpoint: " + "; ".join(problems[:8]))
        return live

    def check_gone_port(self, port):
        """The port no longer accepts connections (the app is really gone)."""
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=2)
        except OSError:
            return
        s.close()
        self.fail("127.0.0.1:%d still accepts connections after the dump" % port)

    # ---- the end
    def session_members(self):
        """Pids of every process in one of the sessions the test started."""
        out = []
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    if int(self.rp.proc_stat_fields(int(d))[6]) in self.sids:
                        out.append(int(d))
                except (OSError, ValueError, IndexError):
                    pass
        return out

    def stop_all(self):
        """Kills, by pid, whatever is still running in the sessions the test started
        (pids are checked to still be in such a session right before the kill:
        pid_max is small here and pids come round again)."""
        self.stop_background(check=False)
        # a dump with --tcp-established forks a holder ("cryo-tcp-lock") that keeps the
        # connections locked until restore; it ends up our child: end those of this test
        for p in set(lock_holders()) - self.holders0:
            self.rp.kill_pid(p, signal.SIGKILL)
            self.ctx.note("killed the lock holder %d a dump left" % p)
        for _ in range(5):
            pids = self.session_members()
            if not pids:
                return
            for p in pids:
                try:
                    sid = int(self.rp.proc_stat_fields(p)[6])
                except (OSError, ValueError, IndexError):
                    continue
                if sid in self.sids:
                    self.rp.kill_pid(p, signal.SIGKILL)
            self.rp.wait_gone(pids, 5)
        self.ctx.note("still there after the kill: %s" % self.session_members())


def progress(app, path, what):
    """Lines of a progress file "SEQ V1 V2 ...": the sequence numbers must run
    0, 1, 2 ... and every value must never go down. Returns the lines as int lists."""
    text = app.rp.read_text(path)
    rows = []
    for i, line in enumerate(text.split("\n")[:-1]):  # the last one may be incomplete
        try:
            row = [int(x) for x in line.split()]
        except ValueError:
            app.fail("%s line %d is not numbers: %r" % (what, i + 1, line))
        if not row or row[0] != i:
            app.fail("%s line %d has sequence %r, expected %d (a gap or a repeat): %r" % (what, i + 1, row[:1], i, line))
        if rows and (len(row) != len(rows[-1]) or any(b < a for a, b in zip(rows[-1][1:], row[1:]))):
            app.fail("%s went backwards or changed shape at line %d: %s after %s" % (what, i + 1, row, rows[-1]))
        rows.append(row)
    return rows


def selfcheck(app, argv, wd, busy=2.0, exact_threads=True, named_threads=None, tids_file=None, env=None,
              ready_timeout=60, finish_timeout=60, dump_args=()):
    """A self-checking program (python3, java): started with setsid, made busy,
    checkpointed, restored, then told to check itself (WD/go) and to write
    WD/result. WD/progress must go on from where it stopped.

    named_threads: a regex; the threads whose comm matches must keep their tids.
    tids_file: a file in wd the program writes its threads' tids into, which
    must all be back after restore."""
    import re
    pid = app.start(argv, cwd=wd, env=env)
    ready = os.path.join(wd, "ready")
    prog = os.path.join(wd, "progress")
    app.wait_for(lambda: os.path.exists(ready), ready_timeout, "the program's ready file", pid)
    app.step("busy for %.1fs" % busy)
    app.sleep(busy)
    app.check_alive(pid)
    before = progress(app, prog, "the progress file")
    if len(before) < 3:
        app.fail("only %d progress lines after %.1fs of work" % (len(before), busy))
    want_tids = {}
    if named_threads:
        rx = re.compile(named_threads)
        want_tids = {t: n for t, n in app.thread_names(pid).items() if rx.match(n)}
        if not want_tids:
            app.note("no thread named like %r: %s" % (named_threads, sorted(set(app.thread_names(pid).values()))))
    if tids_file:
        for t in app.rp.read_text(os.path.join(wd, tids_file)).split():
            want_tids[int(t)] = "tid from %s" % tids_file
    app.note("%d threads in all, checked by tid: %s" % (len(app.tids(pid)), short(sorted(want_tids))))
    app.checkpoint(pid, dump_args)
    n_dumped = len(progress(app, prog, "the progress file"))
    app.sleep(0.5)
    if len(progress(app, prog, "the progress file")) != n_dumped:
        app.fail("the progress file grew after the dump: the program was not stopped")
    app.restore(pid, exact_threads=exact_threads)
    names = app.thread_names(pid)
    lost = ["%d (%s)" % (t, n) for t, n in sorted(want_tids.items()) if t not in names]
    if lost:
        app.fail("threads missing after restore: %s" % ", ".join(lost))
    app.step("the program goes on after restore")
    app.wait_for(lambda: len(progress(app, prog, "the progress file")) >= n_dumped + 5, 20,
                 "5 more progress lines after restore (dumped at %d)" % n_dumped, pid)
    last = progress(app, prog, "the progress file")[-1]
    app.note("progress at the dump: line %d, now: %s" % (n_dumped, last))
    app.step("the program checks itself")
    with open(os.path.join(wd, "go"), "w"):
        pass
    st = app.wait_exit(pid, finish_timeout, "the program after go")
    res = app.rp.read_text(os.path.join(wd, "result")).strip() or "(no result file)"
    if not res.startswith("PASS") or app.rp.exit_code(st) != 0:
        app.fail("the program's own check: %s: %s; output: %s" %
                 (app.rp.status_str(st), res, app.rp.tail(app.rp.read_text(app.out), 6).replace("\n", " | ")))
    app.note(res)


def lock_holders():
    """Pids of cryo's TCP lock holders that are children of this runner."""
    me = os.getpid()
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        comm = st[st.index("(") + 1:st.rindex(")")]
        rest = st[st.rindex(")") + 2:].split()
        if comm == "cryo-tcp-lock" and int(rest[1]) == me and rest[0] not in "ZX":
            out.append(int(d))
    return out


def listen_backlog(port):
    """Connections waiting in the accept queue of the listener on 127.0.0.1:port (None: no listener)."""
    want = "0100007F:%04X" % port
    try:
        with open("/proc/net/tcp") as f:
            next(f)
            for line in f:
                p = line.split()
                if p[1] == want and p[3] == "0A":
                    return int(p[4].split(":")[1], 16)
    except (OSError, StopIteration, IndexError, ValueError):
        pass
    return None


def server_conns(port):
    """TCP connections on 127.0.0.1:port held open by some process (server side:
    not the listener, not TIME_WAIT or orphans, whose inode is 0)."""
    want = "0100007F:%04X" % port
    n = 0
    try:
        with open("/proc/net/tcp") as f:
            next(f)
            for line in f:
                p = line.split()
                if p[1] == want and p[3] != "0A" and p[9] != "0":
                    n += 1
    except (OSError, StopIteration, IndexError):
        pass
    return n


def short(lst, n=10):
    return str(lst) if len(lst) <= n else "[%s ... %d in all]" % (", ".join(map(str, lst[:n])), len(lst))


def dir_size(d):
    n = 0
    for dp, _, fns in os.walk(d):
        for f in fns:
            try:
                n += os.path.getsize(os.path.join(dp, f))
            except OSError:
                pass
    return n


def free_port():
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    for _ in range(50):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        finally:
            s.close()
        if 20000 <= port <= 60999:
            return port
    return random.randint(20000, 60999)


def port_open(port):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=1)
    except OSError:
        return False
    s.close()
    return True


def load_script(path):
    import importlib.util
    name = "cryo_app_" + os.path.basename(path)[:-3]
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def scripts():
    """(name, path) of the app scripts: tests/apps/*.py but this driver and _helpers."""
    out = []
    for f in sorted(os.listdir(HERE)):
        if f.endswith(".py") and f != "driver.py" and not f.startswith("_"):
            out.append((f[:-3], os.path.join(HERE, f)))
    return out


def run_app(rp, ctx, path):
    """The body of the run.py test apps/NAME."""
    mod = load_script(path)
    app = App(rp, ctx, os.path.basename(path)[:-3])
    try:
        app.install(getattr(mod, "PACKAGES", []), getattr(mod, "BINARIES", []))
        app.budget = getattr(mod, "BUDGET", DEFAULT_BUDGET)
        app.deadline = time.monotonic() + app.budget
        mod.run(app)
        app.step("done")
    finally:
        app.stop_all()
        with open(app.path("steps.txt"), "w") as f:  # what happened, kept with run.py --keep
            f.write("\n".join(ctx.notes) + "\n")
