//! Shared test scaffolding: temp dirs, binaries, processes killed by pid on drop, and
//! waiting for conditions with generous deadlines instead of fixed sleeps.
#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Deadline for anything that should happen "at once" on an idle machine.
pub const DEADLINE: Duration = Duration::from_secs(20);

pub fn bin(name: &str) -> &'static str {
    match name {
        "supervise" => env!("CARGO_BIN_EXE_supervise"),
        "svc" => env!("CARGO_BIN_EXE_svc"),
        "svstat" => env!("CARGO_BIN_EXE_svstat"),
        "svok" => env!("CARGO_BIN_EXE_svok"),
        "svscan" => env!("CARGO_BIN_EXE_svscan"),
        "svscanboot" => env!("CARGO_BIN_EXE_svscanboot"),
        "readproctitle" => env!("CARGO_BIN_EXE_readproctitle"),
        "setlock" => env!("CARGO_BIN_EXE_setlock"),
        "setuidgid" => env!("CARGO_BIN_EXE_setuidgid"),
        "envuidgid" => env!("CARGO_BIN_EXE_envuidgid"),
        "envdir" => env!("CARGO_BIN_EXE_envdir"),
        "softlimit" => env!("CARGO_BIN_EXE_softlimit"),
        "fghack" => env!("CARGO_BIN_EXE_fghack"),
        "pgrphack" => env!("CARGO_BIN_EXE_pgrphack"),
        "tai64n" => env!("CARGO_BIN_EXE_tai64n"),
        "tai64nlocal" => env!("CARGO_BIN_EXE_tai64nlocal"),
        "multilog" => env!("CARGO_BIN_EXE_multilog"),
        "svwait" => env!("CARGO_BIN_EXE_svwait"),
        "swocclient" => env!("CARGO_BIN_EXE_swocclient"),
        "swocserver" => env!("CARGO_BIN_EXE_swocserver"),
        "clinit" => env!("CARGO_BIN_EXE_clinit"),
        "svcstart" => env!("CARGO_BIN_EXE_svcstart"),
        "svcstop" => env!("CARGO_BIN_EXE_svcstop"),
        "svcreset" => env!("CARGO_BIN_EXE_svcreset"),
        "svcrestart" => env!("CARGO_BIN_EXE_svcrestart"),
        "svkit" => env!("CARGO_BIN_EXE_svkit"),
        other => panic!("unknown binary {other}"),
    }
}

/// A real daemontools tool from Debian's package; the suite needs them (scripts/test
/// installs them), and fails rather than skips when they are missing.
pub fn daemontools(name: &str) -> PathBuf {
    let p = PathBuf::from("/usr/bin").join(name);
    assert!(
        p.exists(),
        "{} missing: install daemontools (scripts/test does it)",
        p.display()
    );
    p
}

/// A directory removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "svkit-test-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, p: impl AsRef<Path>) -> PathBuf {
        self.0.join(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes an executable script.
pub fn script(path: &Path, body: &str) {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Makes a service directory whose run script is `body`.
pub fn service(dir: &Path, body: &str) -> PathBuf {
    script(&dir.join("run"), body);
    dir.to_path_buf()
}

/// A supervised service that stays down until told (a `down` file): its directory
/// and its supervise, which already answers on supervise/ok.
pub fn down_service(t: &TempDir, name: &str, run: &str) -> (PathBuf, Proc) {
    let s = service(&t.join(name), run);
    std::fs::write(s.join("down"), "").unwrap();
    let p = Proc::supervise(&s);
    (s, p)
}

/// Polls `cond` until it holds or `limit` passes.
pub fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[track_caller]
pub fn must(what: &str, cond: impl FnMut() -> bool) {
    assert!(wait_for(DEADLINE, cond), "timed out waiting for: {what}");
}

/// Runs `cmd` with `input` on its stdin (written from a thread, so that a large input
/// cannot deadlock against the output); stdout and stderr are collected.
pub fn feed(cmd: &mut Command, input: &[u8]) -> Output {
    use std::io::Write;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let o = child.wait_with_output().unwrap();
    writer.join().unwrap();
    o
}

/// Runs `cmd` with `input` on its stdin; returns its exit code and stdout.
pub fn pipe_through(cmd: &mut Command, input: &[u8]) -> (i32, Vec<u8>) {
    let o = feed(cmd, input);
    (o.status.code().unwrap_or(-1), o.stdout)
}

pub fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null()).output().unwrap()
}

pub fn out(cmd: &mut Command) -> (i32, String, String) {
    let o = run(cmd);
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

pub fn cmd(name: &str) -> Command {
    Command::new(bin(name))
}

/// svstat's line for one service, without the trailing newline.
pub fn svstat(dir: &Path) -> String {
    let (_, o, _) = out(cmd("svstat").arg(dir));
    o.trim_end().to_string()
}

/// The pid in supervise/status, 0 if down or unreadable.
pub fn status_pid(dir: &Path) -> u32 {
    match std::fs::read(dir.join("supervise/status")) {
        Ok(b) if b.len() >= 18 => u32::from_le_bytes(b[12..16].try_into().unwrap()),
        _ => 0,
    }
}

pub fn svc(opts: &str, dir: &Path) {
    let (code, _, err) = out(cmd("svc").arg(opts).arg(dir));
    assert_eq!(code, 0, "svc {opts} {}: {err}", dir.display());
}

pub fn alive(pid: u32) -> bool {
    // A zombie has exited: count it as gone.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s
            .rsplit_once(')')
            .is_some_and(|(_, r)| r.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

pub fn signal(pid: u32, sig: i32) {
    // SAFETY: kill(2) with a pid this test started; no memory is touched.
    unsafe {
        libc::kill(pid as i32, sig);
    }
}

/// Lines of a file, empty if it does not exist yet.
pub fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// A process started by a test: TERMed, then KILLed, and reaped on drop, together with
/// the services recorded in `services` (their status files), so nothing outlives a test.
pub struct Proc {
    pub child: Child,
    pub services: Vec<PathBuf>,
}

impl Proc {
    pub fn spawn(cmd: &mut Command) -> Proc {
        Proc {
            child: cmd.spawn().unwrap(),
            services: Vec::new(),
        }
    }

    pub fn supervise(dir: &Path) -> Proc {
        let mut p = Proc::spawn(cmd("supervise").arg(dir).stdin(Stdio::null()));
        p.services.push(dir.to_path_buf());
        must("supervise/ok", || ok(dir));
        p
    }

    /// A supervise whose stderr the test reads with `stderr()` after `stop()`.
    pub fn supervise_capturing_stderr(dir: &Path) -> Proc {
        let mut p = Proc::spawn(
            cmd("supervise")
                .arg(dir)
                .stdin(Stdio::null())
                .stderr(Stdio::piped()),
        );
        p.services.push(dir.to_path_buf());
        p
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the process to exit by itself and returns its exit code.
    pub fn wait_exit(&mut self) -> Option<i32> {
        let mut code = None;
        wait_for(DEADLINE, || match self.child.try_wait() {
            Ok(Some(st)) => {
                code = Some(st.code().unwrap_or(-1));
                true
            }
            _ => false,
        });
        code
    }

    /// Everything the process wrote to its piped stderr (call after it has exited).
    pub fn stderr(&mut self) -> String {
        use std::io::Read;
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            e.read_to_string(&mut err).unwrap();
        }
        err
    }

    pub fn stop(&mut self) {
        let pids: Vec<u32> = self.services.iter().map(|d| status_pid(d)).collect();
        if let Ok(None) = self.child.try_wait() {
            signal(self.pid(), libc::SIGTERM);
            if !wait_for(Duration::from_secs(10), || {
                matches!(self.child.try_wait(), Ok(Some(_)))
            }) {
                let _ = self.child.kill();
            }
        }
        let _ = self.child.wait();
        for pid in pids.into_iter().filter(|p| *p != 0) {
            signal(pid, libc::SIGKILL);
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether a supervise answers on the service's ok FIFO.
pub fn ok(dir: &Path) -> bool {
    Command::new(bin("svok"))
        .arg(dir)
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// User plus system CPU time of a process, in clock ticks.
pub fn cpu_ticks(pid: u32) -> u64 {
    let st = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let f: Vec<u64> = st
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .skip(11)
        .take(2)
        .map(|x| x.parse().unwrap())
        .collect();
    f[0] + f[1]
}

/// Waits for the process to exit, and reads its CPU time (user plus system, in
/// milliseconds) from its zombie's /proc entry before reaping it; with its exit code.
pub fn cpu_ms_at_exit(p: &mut Proc) -> (u64, Option<i32>) {
    let pid = p.pid();
    let zombie = || {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
            s.rsplit_once(')')
                .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
        })
    };
    assert!(wait_for(DEADLINE, zombie), "pid {pid} did not exit");
    let ticks = cpu_ticks(pid);
    // SAFETY: sysconf reads a constant of the system; no memory is passed.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let code = p.wait_exit();
    (ticks * 1000 / hz, code)
}

/// As `out`, but a command that has not exited within `DEADLINE` is killed, reaped
/// and reported as hung, instead of hanging the test.
pub fn out_within(cmd: &mut Command) -> (i32, String, String) {
    use std::io::Read;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let exited = wait_for(DEADLINE, || matches!(child.try_wait(), Ok(Some(_))));
    if !exited {
        let _ = child.kill();
        let _ = child.wait();
        panic!("{cmd:?} hung");
    }
    let code = child.wait().unwrap().code().unwrap_or(-1);
    let (mut o, mut e) = (String::new(), String::new());
    child.stdout.take().unwrap().read_to_string(&mut o).unwrap();
    child.stderr.take().unwrap().read_to_string(&mut e).unwrap();
    (code, o, e)
}

/// A service directory that looks supervised without a supervise: `supervise/ok` and
/// `supervise/control` are FIFOs held open for reading by the returned files (commands
/// sent pile up unread), and `supervise/status` is whatever `status` makes of it.
pub fn fake_supervise(dir: &Path, status: impl FnOnce(&Path)) -> Vec<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let sup = dir.join("supervise");
    std::fs::create_dir_all(&sup).unwrap();
    let mut held = Vec::new();
    for f in ["ok", "control"] {
        let p = sup.join(f);
        let st = Command::new("mkfifo").arg(&p).status().unwrap();
        assert!(st.success());
        held.push(
            std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&p)
                .unwrap(),
        );
    }
    status(&sup.join("status"));
    held
}

/// Makes a FIFO at `path`.
pub fn mkfifo(path: &Path) {
    let st = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(st.success(), "mkfifo {}", path.display());
}

/// A throwaway unprivileged account, removed on drop: for attacks tested as someone
/// other than root.
pub struct TempUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

impl TempUser {
    pub fn new() -> TempUser {
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "svkt{}x{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        // useradd fails while another holds /etc/passwd's lock: try again a while.
        let made = wait_for(DEADLINE, || {
            Command::new("useradd")
                .args(["--system", "-M", "-N", "-s", "/usr/sbin/nologin", &name])
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        });
        assert!(made, "useradd {name} failed");
        let id = |flag: &str| -> u32 {
            let o = Command::new("id").args([flag, &name]).output().unwrap();
            String::from_utf8_lossy(&o.stdout).trim().parse().unwrap()
        };
        let (uid, gid) = (id("-u"), id("-g"));
        TempUser { name, uid, gid }
    }

    /// Runs `argv` as this account (through svkit's setuidgid); its exit code.
    pub fn run(&self, argv: &[&std::ffi::OsStr]) -> i32 {
        let (code, _, err) = out(cmd("setuidgid").arg(&self.name).args(argv));
        assert_eq!(code, 0, "as {}: {argv:?}: {err}", self.name);
        code
    }

    /// Gives `path` (not following a link) to this account.
    pub fn own(&self, path: &Path) {
        std::os::unix::fs::lchown(path, Some(self.uid), Some(self.gid)).unwrap();
    }
}

impl Drop for TempUser {
    fn drop(&mut self) {
        wait_for(DEADLINE, || {
            Command::new("userdel")
                .arg(&self.name)
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success() || s.code() == Some(6))
        });
    }
}

/// `dir/caf\xe9`: a name that is not UTF-8 (Latin-1 "café").
pub fn latin1_name(dir: &Path) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    dir.join(std::ffi::OsStr::from_bytes(b"caf\xe9"))
}

/// A supervise for a service directory whose name is not UTF-8, started through a
/// UTF-8 symbolic link to it (svkit's supervise takes its argument with
/// std::env::args, which panics on such a name: another part's to fix).
pub fn supervise_via_alias(dir: &Path) -> Proc {
    let alias = dir.with_file_name(format!("alias-{}", dir.file_name().unwrap().len()));
    std::os::unix::fs::symlink(dir, &alias).unwrap();
    let mut p = Proc::spawn(cmd("supervise").arg(&alias).stdin(Stdio::null()));
    p.services.push(dir.to_path_buf());
    must("supervise/ok", || ok(dir));
    p
}
