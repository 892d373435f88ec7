"""A Java program counting in 4 threads (tests/apps/progs/CryoCounter.java,
compiled here with javac): the JVM with its dozens of threads (GC, JIT
compilers, signal dispatcher ...), JIT-compiled loops and a garbage-making
workload, checkpointed while the 4 threads count, restored, and then it
checks itself: every counter went on monotonically, no thread was lost,
no increment lost, its map intact, its progress file going on."""
import os
import shutil

PACKAGES = [["default-jdk-headless"], ["openjdk-17-jdk-headless"]]
BINARIES = ["javac", "java"]
BUDGET = 170


def run(app):
    wd = app.path("wd")
    classes = app.path("classes")
    os.makedirs(wd)
    os.makedirs(classes)
    src = os.path.join(app.rp.APPS_DIR, "progs", "CryoCounter.java")
    shutil.copy(src, classes)
    app.step("javac CryoCounter.java")
    r = app.run(["javac", "-d", classes, os.path.join(classes, "CryoCounter.java")], "javac", timeout=120)
    if r.rc != 0:
        app.fail("javac: %s: %s" % (r.describe(), app.rp.tail(r.err, 5).replace("\n", " | ")))
    app.step("start java CryoCounter")
    # a bounded heap keeps the images small; everything else is the JVM's default
    argv = ["java", "-Xmx256m", "-Xms32m", "-Djava.io.tmpdir=" + wd, "-cp", classes, "CryoCounter", wd]
    # the JVM starts and stops compiler and GC helper threads as it likes: only
    # the program's own threads must keep their tids (its check covers the rest)
    # The JVM holds a flock on its perf-data file (/tmp/hsperfdata_root/PID):
    # cryo must be told to save file locks, as CRIU must.
    extra = ["--file-locks"] if app.driver.option_supported(app, "--file-locks") else []
    app.driver.selfcheck(app, argv, wd, busy=3.0, exact_threads=False, named_threads=r"count-\d|monitor",
                         ready_timeout=60, finish_timeout=60, dump_args=extra)
