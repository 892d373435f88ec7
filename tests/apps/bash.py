"""bash running a loop (tests/apps/progs/loop.bash): a counter appended to a
file once per round, with builtins, arrays, a command substitution and a
subshell on every round, and sleeps that alternate between the external
sleep and the builtin read -t on a FIFO. Checkpointed twice at random
phases (bash alone, or with its sleep or command-substitution child);
after each restore the counter must go on with no gap and no duplicate
under the same pid, and bash's own in-memory checks must hold."""
import os
import random
import time

PACKAGES = [["bash"], ["coreutils"]]
BINARIES = ["bash", "sleep"]
BUDGET = 120
ROUNDS = 2


def counter_lines(app, path):
    """The counter file's lines as ints; fails on a gap or a duplicate."""
    text = app.rp.read_text(path)
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for i, l in enumerate(lines):
        if l != str(i):
            app.fail("counter line %d is %r, expected %d (gap, duplicate or torn write); around it: %s" %
                     (i + 1, l, i, lines[max(0, i - 3):i + 3]))
    return len(lines)


def check_no_fail(app, counter):
    f = counter + ".fail"
    if os.path.exists(f):
        app.fail("the loop's own check failed: %s" % app.rp.read_text(f).strip())


def run(app):
    wd = app.path("wd")
    os.makedirs(wd)
    counter = os.path.join(wd, "counter")
    fifo = os.path.join(wd, "fifo")
    os.mkfifo(fifo)
    body = open(os.path.join(app.rp.APPS_DIR, "progs", "loop.bash")).read()
    app.step("start the loop")
    pid = app.start([app_bash(), "-c", body, "bash", counter, fifo], cwd=wd)
    app.wait_for(lambda: counter_lines(app, counter) >= 3, 20, "the loop writing its first 3 lines", pid)
    rnd = random.Random(os.environ.get("CRYO_TEST_SEED", str(time.time())))
    for r in range(ROUNDS):
        app.sleep(rnd.uniform(0.5, 2.0))
        check_no_fail(app, counter)
        app.checkpoint(pid)
        n_dumped = counter_lines(app, counter)
        app.sleep(0.6)
        if counter_lines(app, counter) != n_dumped:
            app.fail("the counter moved on after the dump (%d -> %d lines): the loop was not stopped" %
                     (n_dumped, counter_lines(app, counter)))
        app.restore(pid, exact_tree=False)
        app.note("dumped at %d lines" % n_dumped)
        app.step("the loop goes on after restore %d" % (r + 1))
        app.wait_for(lambda: counter_lines(app, counter) >= n_dumped + 4, 15,
                     "the counter growing from %d to %d lines after restore" % (n_dumped, n_dumped + 4), pid)
        check_no_fail(app, counter)
    app.step("stop the loop")
    app.sleep(0.5)
    app.check_alive(pid, "bash")
    tree = app.tree(pid)
    app.rp.kill_tree(tree, pid)
    app.wait_exit(pid, 10, "bash after SIGKILL")
    n = counter_lines(app, counter)
    check_no_fail(app, counter)
    app.note("the counter reached %d" % n)


def app_bash():
    from shutil import which
    return which("bash", path="/usr/bin:/bin") or "bash"
