"""python3 with 3 threads counting under a lock and a dict growing in the
main thread (tests/apps/progs/py_threads.py): checkpointed while all four
threads run, restored, and then it checks itself: all threads alive, with
the same ids, still counting, no increment lost, the dict intact entry by
entry, and its progress file going on with no gap."""
import os

PACKAGES = [["python3"]]
BINARIES = ["/usr/bin/python3"]
BUDGET = 120


def run(app):
    wd = app.path("wd")
    os.makedirs(wd)
    prog = os.path.join(app.rp.APPS_DIR, "progs", "py_threads.py")
    app.step("start python3 %s" % os.path.basename(prog))
    app.driver.selfcheck(app, ["/usr/bin/python3", "-u", prog, wd], wd, busy=2.0, tids_file="tids")
