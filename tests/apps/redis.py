"""redis-server with 200,000 keys, checkpointed during a light write load.

redis-server runs directly (no systemd): --port on 127.0.0.1, --save '' and
--daemonize no, files in the scratch dir. 200,000 keys go in with
redis-cli --pipe; a writer then SETs w:N and INCRs a counter. After the
restore: same pid and threads, DBSIZE is exactly what was written, sampled
GETs (and every w:N) hold the right values, the counter matches, new writes
work, 20 new clients connect at once, and SHUTDOWN NOSAVE ends it with
status 0.

Established TCP connections: until cryo implements --tcp-established it
refuses them, so the writer uses short connections and is stopped, and the
test waits until redis has closed every client socket, right before the
dump (redis is then idle but holds everything just written). Once
`cryo dump --help` lists --tcp-established as implemented, the writer keeps
one connection open through the dump and a second client waits in BLPOP
(dumped and restored with --tcp-established): the writer must carry on
after the restore with nothing lost and the BLPOP must return what a new
client pushes.
"""
import os
import random
import socket
import time

PACKAGES = [["redis-server"]]
BINARIES = ["redis-server", "redis-cli"]
BUDGET = 180
NKEYS = 200000


def value(i):
    v = "v%d-%08x" % (i, (i * 2654435761) & 0xffffffff)
    if i % 1000 == 7:
        v += "x" * 1500  # some larger values
    return v


class Redis:
    """A minimal RESP client."""

    def __init__(self, port, timeout=10):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass

    def send(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.s.sendall(b"".join(out))

    def _line(self):
        while b"\r\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                raise ConnectionError("redis closed the connection")
            self.buf += d
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            d = self.s.recv(65536)
            if not d:
                raise ConnectionError("redis closed the connection")
            self.buf += d
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def reply(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            raise ValueError("redis error: " + rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n).decode()
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self.reply() for _ in range(n)]
        raise ValueError("bad RESP line %r" % line)

    def cmd(self, *args):
        self.send(*args)
        return self.reply()


def client_list(port):
    r = Redis(port)
    try:
        return [l for l in r.cmd("CLIENT", "LIST").split("\n") if l.strip()]
    finally:
        r.close()


def protocol_file(path):
    with open(path, "wb") as f:
        chunk = []
        for i in range(NKEYS):
            k, v = b"key:%d" % i, value(i).encode()
            chunk.append(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(k), k, len(v), v))
            if len(chunk) == 5000:
                f.write(b"".join(chunk))
                chunk = []
        f.write(b"".join(chunk))


class Writer:
    """The light write load: SET w:N N then INCR wcount, ~200 per second."""

    def __init__(self, app, port, persistent):
        self.app, self.port, self.persistent = app, port, persistent
        self.acked = 0  # w:0 .. w:acked-1 are written and counted
        self.conn = None

    def __call__(self, stop):
        while not stop.is_set():
            c = self.conn or Redis(self.port)
            if self.persistent:
                self.conn = c
            try:
                for _ in range(10):
                    n = self.acked
                    r1 = c.cmd("SET", "w:%d" % n, value(n))
                    r2 = c.cmd("INCR", "wcount")
                    if r1 != "OK" or r2 != n + 1:
                        raise AssertionError("SET w:%d -> %r, INCR wcount -> %r (expected OK, %d)" % (n, r1, r2, n + 1))
                    self.acked = n + 1
            finally:
                if not self.persistent:
                    c.close()
            time.sleep(0.05)
        if self.conn:
            self.conn.close()


def run(app):
    port = app.driver.free_port()
    wd = app.path("wd")
    os.makedirs(wd)
    tcp_est = app.driver.option_supported(app, "--tcp-established")
    app.step("start redis-server on 127.0.0.1:%d" % port)
    pid = app.start(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                     "--daemonize", "no", "--dir", wd, "--logfile", os.path.join(wd, "redis.log"),
                     "--protected-mode", "yes"], cwd=wd)
    app.wait_for(lambda: app.driver.port_open(port), 30, "redis listening on %d" % port, pid)
    r = Redis(port)
    if r.cmd("PING") != "PONG":
        app.fail("PING did not get PONG")
    r.close()

    app.step("load %d keys with redis-cli --pipe" % NKEYS)
    proto = app.path("keys.resp")
    protocol_file(proto)
    res = app.run(["redis-cli", "-h", "127.0.0.1", "-p", str(port), "--pipe"], "pipe", timeout=90, stdin=proto)
    if res.rc != 0 or "errors: 0" not in res.out:
        app.fail("redis-cli --pipe: %s: %s %s" % (res.describe(), res.out.strip()[-300:], res.err.strip()[-300:]))
    r = Redis(port)
    n = r.cmd("DBSIZE")
    r.close()
    if n != NKEYS:
        app.fail("DBSIZE %d after loading %d keys" % (n, NKEYS))

    app.step("light write load (%s connections)" % ("one persistent" if tcp_est else "short"))
    writer = Writer(app, port, tcp_est)
    app.background("redis-writer", writer)
    app.wait_for(lambda: writer.acked >= 100, 30, "the writer getting 100 writes through", pid)
    blocked = None
    if tcp_est:
        # and a client blocked in BLPOP across the checkpoint: woken after restore
        blocked = Redis(port, timeout=60)
        blocked.send("BLPOP", "wakeup", "0")
        app.wait_for(lambda: len([l for l in client_list(port) if "cmd=blpop" in l]) == 1, 10,
                     "the BLPOP client blocked in redis", pid)
    app.sleep(1.0)
    extra = []
    if tcp_est:
        extra = ["--tcp-established"]
        app.wait_for(lambda: app.driver.server_conns(port) == 2 and app.driver.listen_backlog(port) == 0, 10,
                     lambda: "redis holding just the writer's and the BLPOP client's connections (%d open)" %
                     app.driver.server_conns(port), pid)
    else:
        # no --tcp-established yet: no client may be connected at the dump
        app.stop_background()
        app.wait_for(lambda: app.driver.server_conns(port) == 0 and app.driver.listen_backlog(port) == 0, 15,
                     lambda: "redis closing its client connections (%d open)" % app.driver.server_conns(port), pid)
    info_threads = len(app.tids(pid))
    app.note("%d writes acknowledged before the dump; redis has %d threads" % (writer.acked, info_threads))
    app.checkpoint(pid, extra)
    app.check_gone_port(port)
    acked_at_dump = writer.acked
    app.restore(pid)
    if tcp_est:
        app.step("the writer's connection carries on after restore")
        app.wait_for(lambda: writer.acked >= acked_at_dump + 100, 30,
                     "100 more writes on the old connection after restore (at %d)" % writer.acked, pid)
        app.stop_background()
        app.step("the client blocked in BLPOP gets its value")
        r = Redis(port)
        if r.cmd("LPUSH", "wakeup", "hello") != 1:
            app.fail("LPUSH wakeup did not return 1")
        r.close()
        try:
            got = blocked.reply()
        except (OSError, ValueError) as e:
            app.fail("the BLPOP client, connected across the checkpoint: %s" % e)
        if got != ["wakeup", "hello"]:
            app.fail("BLPOP returned %r, expected ['wakeup', 'hello']" % (got,))
        blocked.close()
    app.step("check the data after restore")
    nw = writer.acked
    r = Redis(port)
    n = r.cmd("DBSIZE")
    want = NKEYS + nw + 1  # + wcount
    if n != want:
        app.fail("DBSIZE %d, expected %d (%d keys + %d w:N + wcount)" % (n, want, NKEYS, nw))
    wc = int(r.cmd("GET", "wcount"))
    if wc != nw:
        app.fail("wcount is %d, expected %d" % (wc, nw))
    rnd = random.Random(1)
    sample = rnd.sample(range(NKEYS), 2000) + [0, NKEYS - 1]
    for i in sample:
        r.send("GET", "key:%d" % i)
    for i in sample:
        v = r.reply()
        if v != value(i):
            app.fail("GET key:%d -> %r, expected %r" % (i, v and v[:60], value(i)[:60]))
    for i in range(nw):
        r.send("GET", "w:%d" % i)
    for i in range(nw):
        v = r.reply()
        if v != value(i):
            app.fail("GET w:%d -> %r, expected %r" % (i, v and v[:60], value(i)[:60]))
    app.note("DBSIZE %d, %d sampled keys and all %d w:N right" % (n, len(sample), nw))

    app.step("new writes and new clients after restore")
    for i in range(1000):
        r.send("SET", "new:%d" % i, value(i))
    for i in range(1000):
        if r.reply() != "OK":
            app.fail("SET new:%d failed" % i)
    if r.cmd("DBSIZE") != want + 1000:
        app.fail("DBSIZE %d after 1000 new keys, expected %d" % (r.cmd("DBSIZE"), want + 1000))
    clients = []
    try:
        for i in range(20):
            clients.append(Redis(port))
        for i, c in enumerate(clients):
            if c.cmd("PING") != "PONG" or c.cmd("GET", "new:%d" % i) != value(i):
                app.fail("new client %d: PING or GET new:%d wrong" % (i, i))
        nc = len([l for l in r.cmd("CLIENT", "LIST").split("\n") if l.strip()])
        if nc < 21:
            app.fail("CLIENT LIST shows %d clients, expected at least 21" % nc)
    finally:
        for c in clients:
            c.close()
    app.step("SHUTDOWN NOSAVE")
    try:
        r.cmd("SHUTDOWN", "NOSAVE")
    except (ConnectionError, OSError):
        pass  # redis closes the connection as it exits
    r.close()
    st = app.wait_exit(pid, 20, "redis after SHUTDOWN NOSAVE")
    if app.rp.exit_code(st) != 0:
        app.fail("redis ended with %s after SHUTDOWN NOSAVE; log: %s" %
                 (app.rp.status_str(st), app.rp.tail(app.rp.read_text(os.path.join(wd, "redis.log")), 4)))
