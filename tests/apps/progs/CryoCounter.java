// Workload of tests/apps/java.py:  java CryoCounter WD
//
// Four threads ("count-0" .. "count-3") count as fast as they can, each in a
// volatile field of its own and in a private local, adding to a shared total
// under a lock every 1024 steps and allocating a little garbage as they go
// (so the JIT compiles the loop and the GC runs). A monitor thread samples
// the counters every 10 ms and records any counter that went backwards; the
// main thread grows a HashMap and appends a progress line to WD/progress
// every 100 ms:  SEQ MAPSIZE C0 C1 C2 C3
// It creates WD/ready, then runs until WD/go appears; then it checks that all
// threads are alive and still counting, stops and joins them, checks every
// counter against the thread's private count, the total and the map, and
// writes PASS or FAIL: ... to WD/result (exit status 0 or 1).
import java.io.File;
import java.io.FileWriter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;

public class CryoCounter {
    static final int N = 4;
    static final Object lock = new Object();
    static long total = 0;          // under lock: sum of the 1024-step chunks
    static volatile boolean stop = false;
    static final List<String> errors = new ArrayList<>();

    static synchronized void error(String s) {
        if (errors.size() < 10)
            errors.add(s);
    }

    static class Worker extends Thread {
        volatile long count = 0;
        volatile long finalLocal = -1;
        long chunks = 0;

        Worker(int i) {
            super("count-" + i);
        }

        public void run() {
            long local = 0;
            long[][] ring = new long[16][];
            int r = 0;
            while (!stop) {
                local++;
                count = local;
                if ((local & 1023) == 0) {
                    synchronized (lock) {
                        total += 1024;
                        chunks++;
                    }
                    ring[r++ & 15] = new long[64 + (int) (local & 63)];
                }
                if (count != local)
                    error(getName() + ": count " + count + " but local " + local);
            }
            finalLocal = local;
        }
    }

    static void writeAtomic(String wd, String name, String text) throws IOException {
        File tmp = new File(wd, name + ".tmp");
        try (FileWriter w = new FileWriter(tmp)) {
            w.write(text);
        }
        Files.move(tmp.toPath(), new File(wd, name).toPath(), StandardCopyOption.ATOMIC_MOVE);
    }

    static long value(long k) {
        return k * k ^ 0x5a5a5aL ^ (k << 9);
    }

    public static void main(String[] args) throws Exception {
        String wd = args[0];
        int rc = 1;
        try {
            rc = body(wd);
        } catch (Throwable t) {
            writeAtomic(wd, "result", "FAIL: exception " + t + "\n");
        }
        System.exit(rc);
    }

    static int body(String wd) throws Exception {
        Worker[] w = new Worker[N];
        for (int i = 0; i < N; i++) {
            w[i] = new Worker(i);
            w[i].start();
        }
        final long[] maxPause = {0};
        Thread monitor = new Thread("monitor") {
            public void run() {
                long[] last = new long[N];
                long lastT = System.nanoTime();
                while (!stop) {
                    for (int i = 0; i < N; i++) {
                        long c = w[i].count;
                        if (c < last[i])
                            error("count-" + i + " went back from " + last[i] + " to " + c);
                        last[i] = c;
                    }
                    long t = System.nanoTime();
                    maxPause[0] = Math.max(maxPause[0], t - lastT);
                    lastT = t;
                    try {
                        Thread.sleep(10);
                    } catch (InterruptedException e) {
                        return;
                    }
                }
            }
        };
        monitor.start();
        HashMap<Long, Long> map = new HashMap<>();
        long n = 0, seq = 0;
        File go = new File(wd, "go");
        boolean ready = false;
        try (FileWriter progress = new FileWriter(new File(wd, "progress"), true)) {
            while (!go.exists()) {
                for (int k = 0; k < 100; k++, n++)
                    map.put(n, value(n));
                if (map.size() != n)
                    error("map has " + map.size() + " entries, expected " + n);
                StringBuilder sb = new StringBuilder();
                sb.append(seq++).append(' ').append(n);
                for (int i = 0; i < N; i++)
                    sb.append(' ').append(w[i].count);
                progress.write(sb.append('\n').toString());
                progress.flush();
                if (!ready && seq >= 3) {
                    writeAtomic(wd, "ready", "");
                    ready = true;
                }
                Thread.sleep(100);
            }
        }
        List<String> res = new ArrayList<>();
        for (int i = 0; i < N; i++)
            if (!w[i].isAlive())
                res.add("count-" + i + " is gone");
        long[] c0 = new long[N];
        for (int i = 0; i < N; i++)
            c0[i] = w[i].count;
        Thread.sleep(1000);
        for (int i = 0; i < N; i++)
            if (w[i].count <= c0[i])
                res.add("count-" + i + " stopped counting at " + c0[i]);
        stop = true;
        for (int i = 0; i < N; i++) {
            w[i].join(10000);
            if (w[i].isAlive())
                res.add("count-" + i + " does not finish");
        }
        monitor.join(10000);
        long sumChunks = 0;
        StringBuilder counts = new StringBuilder();
        for (int i = 0; i < N; i++) {
            if (w[i].finalLocal != w[i].count)
                res.add("count-" + i + " counted " + w[i].finalLocal + " but its field holds " + w[i].count);
            if (w[i].chunks != w[i].count / 1024)
                res.add("count-" + i + " added " + w[i].chunks + " chunks for " + w[i].count);
            sumChunks += w[i].chunks;
            counts.append(i == 0 ? "" : ",").append(w[i].count);
        }
        synchronized (lock) {
            if (total != sumChunks * 1024)
                res.add("total " + total + " is not " + sumChunks + " chunks");
        }
        if (map.size() != n)
            res.add("map has " + map.size() + " entries, expected " + n);
        for (long k = 0; k < n; k++) {
            Long v = map.get(k);
            if (v == null || v != value(k)) {
                res.add("map entry " + k + " is " + v);
                break;
            }
        }
        synchronized (CryoCounter.class) {
            res.addAll(errors);
        }
        if (!res.isEmpty()) {
            writeAtomic(wd, "result", "FAIL: " + String.join("; ", res) + "\n");
            return 1;
        }
        writeAtomic(wd, "result", String.format("PASS map %d entries, counters %s, longest monitor pause %.2fs%n",
                                                n, counts, maxPause[0] / 1e9));
        return 0;
    }
}
