"""benchlib: what the Python bench-* scripts share (bench-core, bench-multilog,
bench-readiness and bench-waiters, bench-admin, bench-clinit).

Where the binaries are (svkit as installed: build() runs `scripts/install` into
target/bench/, whose programs are links to the one multicall binary, built with musl
where Rust's musl target is there; or SVKIT_BIN=DIR, e.g. an older build or a
`cargo build --release` target/release), the peers' clean environment,
status readers and the control FIFO of the four supervisors, process plumbing that keeps
every process a benchmark starts in the driver's tree (it becomes a child subreaper) so
that the end of a run kills and reaps each of them by pid, never by name, run_in_tempdir()
which does that and removes the temp dir however the run ends, and the pieces of a report
(versions and load, the metric table, ratios svkit/peer, titled sections, failures).

Imported by path (`sys.path.insert(0, os.path.dirname(__file__))`); it is not installed.
"""

import ctypes
import os
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# svkit as installed (one multicall binary: svscan and every supervise share its text),
# by build(); SVKIT_BIN=DIR measures the programs in DIR instead.
BENCH_DESTDIR = os.path.join(REPO, "target", "bench")
REL = os.environ.get("SVKIT_BIN") or os.path.join(BENCH_DESTDIR, "usr", "bin")
# Peers get a clean environment: /usr/bin first, svkit's target dir never on PATH.
PEER_ENV = {"PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "LC_ALL": "C", "HOME": "/tmp"}


def svkit_env(bindir=REL):
    """The peers' environment with svkit's directory first on PATH, where its programs
    find their siblings (svscan starts supervise, svcstart's scripts run svc)."""
    return dict(PEER_ENV, PATH=bindir + ":" + PEER_ENV["PATH"])


class BenchError(Exception):
    """A measurement that failed: the report shows it as FAILED, the others go on."""


def log(prog, msg):
    print(f"{prog}: {msg}", file=sys.stderr, flush=True)


def build(prog, no_build, quiet=True):
    """`DESTDIR=target/bench scripts/install /usr` in the repository (unless no_build or
    SVKIT_BIN is set): svkit built and installed as an operator gets it; False if that
    failed."""
    if no_build or os.environ.get("SVKIT_BIN"):
        return True
    log(prog, "DESTDIR=target/bench scripts/install /usr")
    r = subprocess.run(["sh", os.path.join(REPO, "scripts", "install"), "/usr"],
                       env=dict(os.environ, DESTDIR=BENCH_DESTDIR),
                       stdout=subprocess.DEVNULL if quiet else None)
    return r.returncode == 0


def build_and_check(prog, no_build, needed):
    """build() with its output shown (unless no_build), then sync, and every
    (peer, path) in `needed` executable; False, said on stderr, if not."""
    if not no_build:
        if not build(prog, False, quiet=False):
            log(prog, "build failed")
            return False
        # Freshly linked binaries sit dirty in the page cache: their write-back is no
        # measurement's cost, and smaps counts their mapped text as Private_Dirty until then.
        os.sync()
    for who, path in needed:
        if not os.access(path, os.X_OK):
            log(prog, f"{who}: {path} is missing")
            return False
    return True


def missing(paths):
    return [p for p in paths if not os.access(p, os.X_OK)]


# ---------------------------------------------------------------------------------------
# process plumbing

_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_TIMERSLACK = 29
PR_SET_CHILD_SUBREAPER = 36
PTRACE_CONT = 7
PTRACE_SEIZE = 0x4206
PTRACE_O_TRACEEXIT = 0x40
PTRACE_EVENT_EXIT = 6
_libc.ptrace.restype = ctypes.c_long
_libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]


def prctl(option, arg):
    return _libc.prctl(ctypes.c_int(option), ctypes.c_ulong(arg), ctypes.c_ulong(0),
                       ctypes.c_ulong(0), ctypes.c_ulong(0))


def become_subreaper(prog):
    """Orphans (a service left by a killed supervisor) come to the driver, not to init."""
    if prctl(PR_SET_CHILD_SUBREAPER, 1) != 0:
        log(prog, "warning: cannot become a child subreaper; orphans may escape clean-up")


def interrupt_on_signals():
    """INT (even if the driver was started with it ignored), TERM and HUP raise
    KeyboardInterrupt, so that a run's `finally` tears everything down."""
    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)


def ignore_signals():
    """For the tear-down: a second Ctrl-C or TERM must not cut it short."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def seize(pid):
    """Traces `pid` for its exit stop only (no syscall tracing, no cost while it runs);
    False if that is impossible (ctypes.get_errno() says why)."""
    return _libc.ptrace(PTRACE_SEIZE, pid, None, ctypes.c_void_p(PTRACE_O_TRACEEXIT)) == 0


def ptrace_cont(pid, sig):
    _libc.ptrace(PTRACE_CONT, pid, None, ctypes.c_void_p(sig))


def proc_table():
    """{pid: (ppid, comm, state)} for every process visible in /proc."""
    table = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                data = f.read().decode("utf-8", "replace")
        except OSError:
            continue
        lpar, rpar = data.find("("), data.rfind(")")
        rest = data[rpar + 2:].split()
        table[int(name)] = (int(rest[1]), data[lpar + 1:rpar], rest[0])
    return table


def descendants(root=None, table=None):
    """Every process below `root` (default: the driver), zombies included."""
    root = os.getpid() if root is None else root
    table = proc_table() if table is None else table
    kids = {}
    for pid, (ppid, _, _) in table.items():
        kids.setdefault(ppid, []).append(pid)
    out, stack = [], [root]
    while stack:
        for c in kids.get(stack.pop(), []):
            out.append(c)
            stack.append(c)
    return out


def reap_any():
    """Reaps every child that has exited; returns how many. A traced child in a ptrace
    stop (bench-multilog traces its tools for their exit) is let go on, with its signal
    if the stop is for one, so that it can die."""
    n = 0
    while True:
        try:
            pid, st = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return n
        if pid == 0:
            return n
        if os.WIFSTOPPED(st):
            ptrace_cont(pid, 0 if (st >> 16) & 0xff else os.WSTOPSIG(st))
            continue
        n += 1


def term_tree():
    """SIGTERMs every live descendant of the driver, by pid."""
    reap_any()
    table = proc_table()
    for p in descendants(table=table):
        if table[p][2] != "Z":
            try:
                os.kill(p, signal.SIGTERM)
            except ProcessLookupError:
                pass


def kill_tree(prog, grace=0.0):
    """Waits up to `grace` s for every descendant of the driver to go away, then SIGKILLs
    each one left, by pid, until none is left; reaps everything (we are the subreaper)."""
    deadline = time.monotonic() + grace
    while True:
        reap_any()
        table = proc_table()
        alive = [p for p in descendants(table=table) if table[p][2] != "Z"]
        if not alive:
            break
        if time.monotonic() >= deadline:
            for p in alive:
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if time.monotonic() >= deadline + 10:
                log(prog, f"warning: processes survive SIGKILL: {alive[:10]}")
                break
        time.sleep(0.01)
    # Zombies whose parents are gone now are ours; the rest go with their parents.
    end = time.monotonic() + 2
    while descendants() and time.monotonic() < end:
        reap_any()
        time.sleep(0.01)
    reap_any()


def spawn(argv, stdin_fd, stdout_fd, stderr_fd, env=PEER_ENV):
    """posix_spawn in a new session (a terminal's Ctrl-C reaches only the driver, which
    tears everything down)."""
    acts = [(os.POSIX_SPAWN_DUP2, stdin_fd, 0),
            (os.POSIX_SPAWN_DUP2, stdout_fd, 1),
            (os.POSIX_SPAWN_DUP2, stderr_fd, 2)]
    return os.posix_spawn(argv[0], argv, env, file_actions=acts, setsid=True)


def tail(path, n=15, indent=""):
    """The last `n` lines of a log file, each after `indent`; "" if it cannot be read."""
    try:
        with open(path, errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return ""
    return "\n".join(indent + line for line in lines[-n:])


def run_in_tempdir(prog, prefix, body, keep=False, grace=1.0, stop=None, parent=None):
    """body(tmp) in a fresh temp dir (in `parent`, default the system's), with the driver
    a child subreaper and INT, TERM and HUP turned into an orderly stop; returns what body
    returns, or 130 if it was interrupted. Then, always: stop(tmp) if given (to bring the
    services down politely), every descendant that is left killed by pid after `grace` s
    and reaped, and the temp dir removed unless `keep`."""
    become_subreaper(prog)
    interrupt_on_signals()
    tmp = tempfile.mkdtemp(prefix=prefix, dir=parent)
    try:
        return body(tmp)
    except KeyboardInterrupt as e:
        log(prog, f"interrupted ({str(e) or 'SIGINT'}): cleaning up")
        return 130
    finally:
        ignore_signals()
        if stop is not None:
            stop(tmp)
        kill_tree(prog, grace)
        if keep:
            log(prog, f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def comma_list(ap, text, known, what, say_known=False):
    """The items of a comma-separated option, each one of `known` (else a usage error
    through argparse: `unknown WHAT 'x'`, with the known ones if say_known)."""
    items = [x.strip() for x in text.split(",") if x.strip()]
    for x in items:
        if x not in known:
            ap.error(f"unknown {what} {x!r}"
                     + (f" (known: {', '.join(known)})" if say_known else ""))
    return items


class Spawner:
    """spawn() with stdin from /dev/null, output appended to a log file."""

    def __init__(self, logpath):
        self.logpath = logpath
        self.logfd = os.open(logpath, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC,
                             0o644)
        self.nullfd = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)

    def spawn(self, argv, env=PEER_ENV):
        return spawn(argv, self.nullfd, self.logfd, self.logfd, env)

    def run(self, argv, env=PEER_ENV, timeout=30.0):
        """Spawns argv and waits for it; its exit code, or None if it had to be killed."""
        pid = self.spawn(argv, env)
        return Child(pid).wait(timeout)[0]

    def tail(self, n=15):
        return tail(self.logpath, n)

    def close(self):
        os.close(self.logfd)
        os.close(self.nullfd)


class Child:
    """A spawned child whose exit can be waited for with a timeout (through a pidfd, so
    without polling) and whose resource usage comes from wait4 when it is reaped."""

    def __init__(self, pid):
        self.pid = pid
        self.t0 = time.monotonic()
        try:
            self.pidfd = os.pidfd_open(pid)
        except (AttributeError, OSError):
            self.pidfd = None

    def exited(self, timeout):
        """Blocks until the child has exited (True) or `timeout` s have passed (False);
        it stays a zombie until wait() reaps it."""
        if self.pidfd is not None:
            r, _, _ = select.select([self.pidfd], [], [], max(0.0, timeout))
            return bool(r)
        end = time.monotonic() + timeout
        while True:
            try:
                info = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                return True
            if info is not None:
                return True
            if time.monotonic() >= end:
                return False
            time.sleep(0.001)

    def close(self):
        """Closes the pidfd (wait() does; a caller that gave up on the child must)."""
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None

    def wait(self, timeout):
        """(exit code or -signal or None if killed at the timeout, rusage or None,
        seconds from spawn to exit)."""
        killed = False
        if not self.exited(timeout):
            os.kill(self.pid, signal.SIGKILL)
            killed = True
        done = time.monotonic()
        try:
            _, status, ru = os.wait4(self.pid, 0)
        except ChildProcessError:
            status, ru = None, None  # reaped by a kill_tree meanwhile
        self.close()
        if killed or status is None:
            code = None
        else:
            code = os.waitstatus_to_exitcode(status)
        return code, ru, done - self.t0


def wait_until(cond, limit=20.0, interval=0.005):
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(interval)
    return cond()


def write_script(path, text):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o755)


def make_service(svcdir, run, down=False):
    """A service directory with `run` as its run script (and a down file if `down`)."""
    os.makedirs(svcdir)
    write_script(os.path.join(svcdir, "run"), run)
    if down:
        open(os.path.join(svcdir, "down"), "w").close()


# ---------------------------------------------------------------------------------------
# status of the four supervisors


def read_bytes(path):
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        return os.read(fd, 256)
    except OSError:
        return None
    finally:
        os.close(fd)


def dt_pid(svcdir):
    """daemontools/svkit supervise/status: pid little-endian at bytes 12..16."""
    b = read_bytes(os.path.join(svcdir, "supervise", "status"))
    if b is None or len(b) < 18:
        return None
    return int.from_bytes(b[12:16], "little")


def s6_pid(svcdir):
    """s6 2.11 supervise/status (35 bytes): stamp 12, readystamp 12, pid u64 big-endian."""
    b = read_bytes(os.path.join(svcdir, "supervise", "status"))
    if b is None or len(b) < 32:
        return None
    return int.from_bytes(b[24:32], "big")


def runit_state(svcdir):
    """runit supervise/stat: `run`, `down` or `finish` (text)."""
    b = read_bytes(os.path.join(svcdir, "supervise", "stat"))
    if not b:
        return None
    return b.split(b"\n")[0].strip().decode("ascii", "replace")


def supervised(svcdir):
    """The control FIFO has a reader: the supervisor is listening."""
    try:
        fd = os.open(os.path.join(svcdir, "supervise", "control"), os.O_WRONLY | os.O_NONBLOCK)
    except OSError:
        return False
    os.close(fd)
    return True


def send_control(svcdir, cmds):
    """Writes command bytes to supervise/control without blocking; False without a reader."""
    try:
        fd = os.open(os.path.join(svcdir, "supervise", "control"), os.O_WRONLY | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        os.write(fd, cmds)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def is_up(kind, svcdir):
    if kind == "runit":
        st = runit_state(svcdir)
        return st is not None and st.startswith("run")
    pid = s6_pid(svcdir) if kind == "s6" else dt_pid(svcdir)
    return bool(pid)


def is_down(kind, svcdir):
    if kind == "runit":
        st = runit_state(svcdir)
        return st is not None and st.startswith("down")
    pid = s6_pid(svcdir) if kind == "s6" else dt_pid(svcdir)
    return pid == 0


def cpu_ms(ru):
    """User + system CPU of a reaped child (and of the children it waited for), in ms."""
    return (ru.ru_utime + ru.ru_stime) * 1000 if ru is not None else None


# ---------------------------------------------------------------------------------------
# the report

# Debian package of each peer, for its version; svkit's comes from git.
PACKAGES = {"daemontools": "daemontools", "runit": "runit", "s6": "s6", "cat": "coreutils"}


def versions(peers, svkit_bin=REL):
    """`svkit COMMIT, daemontools 0.76-..., ...` for the peers of a run."""
    out = []
    for p in peers:
        if p == "svkit" and svkit_bin != REL:
            out.append(f"svkit from {svkit_bin}")
        elif p == "svkit":
            r = subprocess.run(["git", "-C", REPO, "describe", "--always", "--dirty"],
                               capture_output=True, text=True)
            out.append(f"svkit {r.stdout.strip() or '?'}")
        else:
            r = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", PACKAGES[p]],
                               capture_output=True, text=True)
            out.append(f"{p} {r.stdout.strip() or '?'}")
    return ", ".join(out)


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def median(xs):
    return statistics.median(xs) if xs else None


def fmt(v, nd):
    """A table cell: `-` for no value, a string as it is, a number with `nd` decimals."""
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    return f"{v:.{nd}f}"


def ratio(a, b):
    """svkit/peer as a table shows it: two decimals, two significant digits below 0.1."""
    if a is None or b is None or isinstance(a, str) or isinstance(b, str):
        return "-"
    if b == 0:
        return "inf" if a > 0 else "1.00"
    r = a / b
    return f"{r:.2f}" if r >= 0.1 else f"{r:.2g}"


def machine_line(peers, load_before, svkit_bin=REL):
    """What ran on what: versions, CPUs, and the load average before and after."""
    return (f"{versions(peers, svkit_bin)}; {os.cpu_count()} CPUs; load average "
            f"{load_before} before, {loadavg()} after")


def present(rows, results, peers):
    """The rows (key first) that some peer has a result for."""
    return [r for r in rows if any(r[0] in results[p] for p in peers)]


def metric_table(rows, results, peers):
    """A line per row (key, label, unit, decimals, ...), a column per peer, under a header;
    returns (lines, the label column's width)."""
    label_w = max(len(r[1]) for r in rows) + 2
    col_w = max(12, max(len(p) for p in peers) + 2)
    head = f"{'metric':<{label_w}}{'unit':<6}" + "".join(f"{p:>{col_w}}" for p in peers)
    lines = [head, "-" * len(head)]
    for key, label, unit, nd, *_ in rows:
        lines.append(f"{label:<{label_w}}{unit:<6}"
                     + "".join(f"{fmt(results[p].get(key), nd):>{col_w}}" for p in peers))
    return lines, label_w


def ratio_lines(rows, results, peers, label_w, sep):
    """A line per row: svkit's value over each other peer's, cells `sep`-joined."""
    others = [p for p in peers if p != "svkit"]
    lines = []
    for key, label, *_ in rows:
        parts = [f"{p}={ratio(results['svkit'].get(key), results[p].get(key))}"
                 for p in others]
        lines.append(f"  {label.strip():<{label_w}}" + sep.join(f"{x:<18}" for x in parts))
    return lines


class Record:
    """What a run found: results[peer][metric], and the measurements that failed (each
    said on stderr at once if `prog` is given)."""

    def __init__(self, peers, prog=None):
        self.results = {p: {} for p in peers}
        self.failures = []
        self.prog = prog

    def failed(self, m, p, e):
        self.failures.append(f"{m} / {p}: {e}")
        if self.prog is not None:
            log(self.prog, f"{m}: {p} FAILED: {e}")
        self.results[p].setdefault("_failed", []).append(m)


def print_failures(failures):
    """The measurements that failed, on stderr after the report; 1 if any did, else 0."""
    if not failures:
        return 0
    print("\nFAILURES:", file=sys.stderr)
    for f in failures:
        print("  " + f, file=sys.stderr)
    return 1


def section(title, lines):
    """A titled block of a report after a blank line; nothing if it has no lines."""
    return ["", f"{title}:"] + lines if lines else []
