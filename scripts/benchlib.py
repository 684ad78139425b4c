"""benchlib: what scripts/bench-readiness and scripts/bench-waiters share.

Where the binaries are (target/release, as scripts/bench-core finds them), the peers' clean
environment, status readers for the four supervisors' formats, and process plumbing that
keeps every process a benchmark starts in the driver's tree (it becomes a child subreaper)
so that the end of a run kills and reaps each of them by pid, never by name.

Imported by path (`sys.path.insert(0, os.path.dirname(__file__))`); it is not installed.
"""

import ctypes
import os
import select
import signal
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REL = os.path.join(REPO, "target", "release")
# Peers get a clean environment: /usr/bin first, svkit's target dir never on PATH.
PEER_ENV = {"PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "LC_ALL": "C", "HOME": "/tmp"}


def svkit_env(bindir=REL):
    """The peers' environment with svkit's directory first on PATH, where its programs
    find their siblings (svscan starts supervise, svcstart's scripts run svc)."""
    return dict(PEER_ENV, PATH=bindir + ":" + PEER_ENV["PATH"])


def log(prog, msg):
    print(f"{prog}: {msg}", file=sys.stderr, flush=True)


def build(prog, no_build):
    """cargo build --release in the repository (unless no_build); False if it failed."""
    if no_build:
        return True
    log(prog, "cargo build --release")
    return subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=REPO).returncode == 0


def missing(paths):
    return [p for p in paths if not os.access(p, os.X_OK)]


# ---------------------------------------------------------------------------------------
# process plumbing

_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_TIMERSLACK = 29
PR_SET_CHILD_SUBREAPER = 36


def prctl(option, arg):
    return _libc.prctl(ctypes.c_int(option), ctypes.c_ulong(arg), ctypes.c_ulong(0),
                       ctypes.c_ulong(0), ctypes.c_ulong(0))


def become_subreaper(prog):
    """Orphans (a service left by a killed supervisor) come to the driver, not to init."""
    if prctl(PR_SET_CHILD_SUBREAPER, 1) != 0:
        log(prog, "warning: cannot become a child subreaper; orphans may escape clean-up")


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
    """Reaps every child that has exited; returns how many."""
    n = 0
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return n
        if pid == 0:
            return n
        n += 1


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
    end = time.monotonic() + 2
    while descendants() and time.monotonic() < end:
        reap_any()
        time.sleep(0.01)
    reap_any()


class Spawner:
    """posix_spawn with stdin from /dev/null, output appended to a log file, in a new
    session (a terminal's Ctrl-C reaches only the driver, which tears everything down)."""

    def __init__(self, logpath):
        self.logpath = logpath
        self.logfd = os.open(logpath, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC,
                             0o644)
        self.nullfd = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)

    def spawn(self, argv, env=PEER_ENV):
        acts = [(os.POSIX_SPAWN_DUP2, self.nullfd, 0),
                (os.POSIX_SPAWN_DUP2, self.logfd, 1),
                (os.POSIX_SPAWN_DUP2, self.logfd, 2)]
        return os.posix_spawn(argv[0], argv, env, file_actions=acts, setsid=True)

    def run(self, argv, env=PEER_ENV, timeout=30.0):
        """Spawns argv and waits for it; its exit code, or None if it had to be killed."""
        pid = self.spawn(argv, env)
        return Child(pid).wait(timeout)[0]

    def tail(self, n=15):
        try:
            with open(self.logpath, errors="replace") as f:
                lines = f.read().splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-n:])

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
