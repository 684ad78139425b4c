//! swocclient and swocserver: locks as files under a service directory, and waiters
//! that wake when the last one goes. Every test has a SWOC directory of its own.

mod common;

use common::*;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};
use svkit::swoc::{ClientName, LockRequest, Locked, Released, SwocDir};

/// swocclient for `name` on the service directory `t`, deaf to the caller's environment.
fn client(t: &TempDir, name: &str) -> Command {
    let mut c = cmd("swocclient");
    c.env_remove("SWOC_DIR")
        .env_remove("SWOC_CLIENT")
        .arg("-d")
        .arg(t.path())
        .arg("-c")
        .arg(name);
    c
}

fn server(t: &TempDir) -> Command {
    let mut c = cmd("swocserver");
    c.env_remove("SWOC_DIR")
        .env_remove("SWOC_CLIENT")
        .arg("--dir")
        .arg(t.path());
    c
}

#[track_caller]
fn ok(c: &mut Command) -> String {
    let (code, o, e) = out(c);
    assert_eq!(code, 0, "{c:?}: stdout {o:?} stderr {e:?}");
    o
}

/// Runs `c`, which must exit with `want`; returns its stderr.
#[track_caller]
fn fails(c: &mut Command, want: i32) -> String {
    let (code, o, e) = out(c);
    assert_eq!(code, want, "{c:?}: stdout {o:?} stderr {e:?}");
    e
}

fn locks(t: &TempDir) -> PathBuf {
    t.join("swoc/locks")
}

/// File names in locks/ that start with `prefix`.
fn files(t: &TempDir, prefix: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(locks(t))
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(prefix))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

fn spawn(c: &mut Command) -> Proc {
    Proc::spawn(
        c.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
    )
}

fn running(p: &mut Proc) -> bool {
    matches!(p.child.try_wait(), Ok(None))
}

#[test]
fn help_and_version() {
    for prog in ["swocclient", "swocserver"] {
        for h in ["-h", "--help"] {
            let (code, o, _) = out(cmd(prog).arg(h));
            assert_eq!(code, 0, "{prog} {h}");
            assert!(o.starts_with(&format!("usage: {prog}")), "{prog} {h}: {o}");
        }
        let (code, o, _) = out(cmd(prog).arg("-V"));
        assert_eq!(code, 0);
        assert_eq!(o, format!("{prog} (svkit) {}\n", env!("CARGO_PKG_VERSION")));
    }
}

#[test]
fn lock_then_release_counts_and_layout() {
    let t = TempDir::new("swoc-lock");
    ok(client(&t, "alpha").arg("-l"));
    ok(client(&t, "alpha").arg("--lock"));
    ok(client(&t, "beta").arg("-l"));
    assert_eq!(files(&t, "alpha.").len(), 2);
    assert_eq!(files(&t, "beta.").len(), 1);
    assert!(
        files(&t, ".").is_empty(),
        "temp files left: {:?}",
        files(&t, ".")
    );
    let mode = |p: &str| std::fs::metadata(t.join(p)).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode("swoc"), 0o755);
    assert_eq!(mode("swoc/locks"), 0o1775);
    assert_eq!(mode("swoc/blocked"), 0o1775);
    let s = ok(client(&t, "alpha").arg("-s"));
    assert_eq!(first_line(&s), "client alpha: 2 locks, not blocked", "{s}");
    assert!(s.contains("server: new locks allowed"), "{s}");
    ok(client(&t, "alpha").arg("-r"));
    let s = ok(client(&t, "alpha").arg("--status"));
    assert_eq!(first_line(&s), "client alpha: 1 lock, not blocked", "{s}");
    ok(client(&t, "alpha").arg("--release"));
    let e = fails(client(&t, "alpha").arg("-r"), 1);
    assert!(e.contains("swocclient: fatal: unable to release: client alpha holds no lock"));
    assert_eq!(files(&t, "beta.").len(), 1, "beta's lock untouched");
    let s = ok(server(&t).arg("-s"));
    assert!(s.contains("client beta: 1 lock, not blocked"), "{s}");
    assert!(s.ends_with("total: 1 lock from 1 client\n"), "{s}");
}

#[test]
fn lock_file_says_who_when_pid_comment_and_expiry() {
    let t = TempDir::new("swoc-format");
    ok(client(&t, "alpha")
        .args(["-l", "-m", "nightly backup"])
        .args(["--ttl", "1h"]));
    let names = files(&t, "");
    assert_eq!(names.len(), 1, "{names:?}");
    let unique = names[0].strip_prefix("alpha.").unwrap();
    assert!(
        unique
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-'),
        "{unique}"
    );
    let body = std::fs::read_to_string(locks(&t).join(&names[0])).unwrap();
    let field = |k: &str| {
        body.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .unwrap_or_else(|| panic!("no {k}= in {body:?}"))
            .to_string()
    };
    assert_eq!(field("client"), "alpha");
    assert_eq!(field("comment"), "nightly backup");
    // The job holding the lock is swocclient's parent: this test.
    assert_eq!(field("pid"), std::process::id().to_string());
    assert_eq!(field("host"), svkit::swoc::hostname().unwrap());
    let secs = |k: &str| -> f64 { field(k).parse().unwrap() };
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!((now - secs("created")).abs() < 600.0);
    assert!((secs("expires") - secs("created") - 3600.0).abs() < 0.001);
    let s = ok(client(&t, "alpha").arg("-s"));
    assert!(s.contains(": nightly backup"), "{s}");
    assert!(
        s.contains("expires in 59m") || s.contains("expires in 1h00m"),
        "{s}"
    );
    let s = ok(server(&t).arg("-s"));
    assert!(s.contains("age 0s") || s.contains("age 1s"), "{s}");
    assert!(s.contains(": nightly backup"), "{s}");
}

#[test]
fn client_name_from_environment_or_host_name() {
    let t = TempDir::new("swoc-env");
    let mut c = cmd("swocclient");
    c.env("SWOC_DIR", t.path()).env("SWOC_CLIENT", "envname");
    ok(c.arg("-l"));
    assert_eq!(files(&t, "envname.").len(), 1);
    let mut c = cmd("swocclient");
    c.env("SWOC_DIR", t.path()).env_remove("SWOC_CLIENT");
    ok(c.arg("-l"));
    let host = svkit::swoc::hostname().unwrap();
    assert_eq!(
        files(&t, &format!("{host}.")).len(),
        1,
        "{:?}",
        files(&t, "")
    );
    let s = ok(cmd("swocserver").env("SWOC_DIR", t.path()).arg("-s"));
    assert!(s.contains("total: 2 locks from 2 clients"), "{s}");
}

#[test]
fn bad_client_names_are_usage_errors() {
    let t = TempDir::new("swoc-names");
    let long = "x".repeat(65);
    for bad in [
        "a/b",
        "..",
        "../etc",
        "/abs",
        "a b",
        " lead",
        ".hidden",
        "",
        "a..b",
        "end.",
        "tab\tx",
        "new\nline",
        "semi;colon",
        "ünï",
        &long,
    ] {
        let e = fails(client(&t, bad).arg("-l"), 64);
        assert!(e.contains("invalid client name"), "{bad:?}: {e}");
        let e = fails(
            cmd("swocclient")
                .env("SWOC_DIR", t.path())
                .env("SWOC_CLIENT", bad)
                .arg("-l"),
            // An empty $SWOC_CLIENT means the host name.
            if bad.is_empty() { 0 } else { 64 },
        );
        assert!(
            bad.is_empty() || e.contains("invalid client name"),
            "{bad:?}: {e}"
        );
        for op in ["-r", "-b", "-u"] {
            fails(server(&t).args([op, bad]), 64);
        }
    }
    assert!(!t.join("etc").exists() && !t.join("swoc/etc").exists());
    assert!(
        files(&t, "")
            .iter()
            .all(|f| f.starts_with(&svkit::swoc::hostname().unwrap())),
        "{:?}",
        files(&t, "")
    );
    // The longest name allowed works.
    ok(client(&t, &"x".repeat(64)).arg("-l"));
}

#[test]
fn block_and_unblock_from_client_and_server() {
    let t = TempDir::new("swoc-block");
    ok(client(&t, "alpha").arg("-b"));
    let e = fails(client(&t, "alpha").arg("-l"), 1);
    assert!(e.contains("client alpha is blocked"), "{e}");
    assert!(files(&t, "").is_empty());
    let s = ok(client(&t, "alpha").arg("-s"));
    assert_eq!(first_line(&s), "client alpha: 0 locks, blocked");
    ok(client(&t, "beta").arg("-l"));
    ok(client(&t, "alpha").arg("--unblock"));
    ok(client(&t, "alpha").arg("-l"));

    ok(server(&t).args(["-b", "beta"]));
    fails(client(&t, "beta").arg("--lock"), 1);
    let s = ok(server(&t).arg("--status"));
    assert!(s.contains("client beta: 1 lock, blocked"), "{s}");
    assert!(s.contains("client alpha: 1 lock, not blocked"), "{s}");
    ok(server(&t).args(["--unblock", "beta"]));
    ok(client(&t, "beta").arg("-l"));
    // Blocking twice and unblocking what is not blocked are no-ops.
    ok(server(&t).args(["--block", "gamma"]));
    ok(server(&t).args(["-b", "gamma"]));
    let s = ok(server(&t).arg("-s"));
    assert!(s.contains("client gamma: 0 locks, blocked"), "{s}");
    ok(server(&t).args(["-u", "gamma"]));
    ok(server(&t).args(["-u", "gamma"]));
    ok(client(&t, "gamma").arg("-u"));
}

#[test]
fn disallow_and_allow_new_locks() {
    let t = TempDir::new("swoc-allow");
    ok(client(&t, "alpha").arg("-l"));
    ok(server(&t).arg("-d"));
    assert!(t.join("swoc/disallow").exists());
    let e = fails(client(&t, "alpha").arg("-l"), 1);
    assert!(e.contains("the server disallows new locks"), "{e}");
    assert!(ok(server(&t).arg("-s")).starts_with("server: new locks disallowed\n"));
    assert!(ok(client(&t, "alpha").arg("-s")).contains("server: new locks disallowed"));
    // Locks already held can still be released.
    ok(client(&t, "alpha").arg("-r"));
    ok(server(&t).arg("--allow"));
    ok(client(&t, "alpha").arg("-l"));
    ok(server(&t).arg("--disallow"));
    ok(server(&t).arg("-a"));
    assert!(ok(server(&t).arg("-s")).starts_with("server: new locks allowed\n"));
}

#[test]
fn reset_removes_locks_and_unblocks() {
    let t = TempDir::new("swoc-reset");
    for _ in 0..3 {
        ok(client(&t, "alpha").arg("-l"));
    }
    ok(client(&t, "beta").arg("-l"));
    ok(client(&t, "alpha").arg("-b"));
    ok(client(&t, "alpha").arg("-i"));
    assert!(files(&t, "alpha.").is_empty());
    assert_eq!(files(&t, "beta.").len(), 1);
    let s = ok(client(&t, "alpha").arg("-s"));
    assert_eq!(first_line(&s), "client alpha: 0 locks, not blocked");
    ok(client(&t, "alpha").arg("--reset"));
    ok(client(&t, "alpha").arg("-l"));
}

#[test]
fn server_releases_every_lock_of_a_client() {
    let t = TempDir::new("swoc-srv-release");
    for _ in 0..3 {
        ok(client(&t, "alpha").arg("-l"));
    }
    ok(client(&t, "alpha.example.com").arg("-l"));
    ok(client(&t, "beta").arg("-l"));
    ok(server(&t).args(["-r", "alpha"]));
    assert!(files(&t, "alpha.").len() == 1 && files(&t, "alpha.example.com.").len() == 1);
    assert_eq!(files(&t, "beta.").len(), 1);
    let e = fails(server(&t).args(["--release", "alpha"]), 1);
    assert!(e.contains("client alpha holds no lock"), "{e}");
    ok(server(&t).args(["--release", "alpha.example.com"]));
    ok(server(&t).args(["-r", "beta"]));
    assert!(files(&t, "").is_empty());
}

#[test]
fn client_wait_returns_after_release_and_times_out() {
    let t = TempDir::new("swoc-cwait");
    ok(client(&t, "alpha").arg("-l"));
    ok(client(&t, "beta").arg("-l"));
    let e = fails(client(&t, "alpha").args(["-w", "-t", "200ms"]), 1);
    assert!(
        e.contains("timed out: client alpha still holds 1 lock"),
        "{e}"
    );
    fails(client(&t, "alpha").args(["--wait", "--timeout", "0"]), 1);
    // Other clients' locks do not count.
    ok(client(&t, "gamma").args(["-w", "-t", "0"]));
    let mut w = spawn(client(&t, "alpha").arg("-w"));
    // Its own timeout makes this take a while: the waiter must still be waiting.
    fails(client(&t, "alpha").args(["-w", "-t", "300ms"]), 1);
    assert!(running(&mut w), "swocclient -w returned with a lock held");
    ok(client(&t, "alpha").arg("-r"));
    assert_eq!(w.wait_exit(), Some(0), "{}", w.stderr());
    assert_eq!(files(&t, "beta.").len(), 1);
}

#[test]
fn client_wait_for_n_locks() {
    let t = TempDir::new("swoc-wait-n");
    ok(client(&t, "alpha").arg("-l"));
    ok(client(&t, "alpha").arg("-l"));
    ok(client(&t, "alpha").args(["-w2", "-t", "0"]));
    fails(client(&t, "alpha").args(["-w1", "-t", "100ms"]), 1);
    fails(client(&t, "alpha").args(["-wx"]), 64);
    let mut w = spawn(client(&t, "alpha").arg("--wait=1"));
    fails(client(&t, "alpha").args(["-w1", "-t", "300ms"]), 1);
    assert!(running(&mut w));
    ok(client(&t, "alpha").arg("-r"));
    assert_eq!(w.wait_exit(), Some(0), "{}", w.stderr());
}

#[test]
fn server_wait_returns_after_the_last_release() {
    let t = TempDir::new("swoc-swait");
    ok(server(&t).args(["-w", "-t", "0"]));
    ok(client(&t, "alpha").arg("-l"));
    ok(client(&t, "beta").arg("-l"));
    let e = fails(server(&t).args(["-w", "-t", "200ms"]), 1);
    assert!(e.contains("timed out: 2 locks still held"), "{e}");
    // An interval longer than the test's deadline: only inotify can wake it in time.
    let mut w = spawn(server(&t).args(["--wait", "-i", "10m"]));
    ok(client(&t, "alpha").arg("-r"));
    fails(server(&t).args(["-w", "-t", "300ms"]), 1);
    assert!(
        running(&mut w),
        "swocserver -w returned with beta's lock held"
    );
    ok(client(&t, "beta").arg("-r"));
    assert_eq!(w.wait_exit(), Some(0), "{}", w.stderr());
}

#[test]
fn server_wait_polls_without_inotify() {
    let t = TempDir::new("swoc-poll");
    ok(client(&t, "alpha").arg("-l"));
    let mut w = spawn(server(&t).args(["-w", "--no-inotify", "-i", "50ms"]));
    let mut c = spawn(client(&t, "alpha").args(["-w", "--no-inotify", "--interval", "50ms"]));
    fails(server(&t).args(["-w", "-t", "300ms"]), 1);
    assert!(running(&mut w) && running(&mut c));
    ok(client(&t, "alpha").arg("-r"));
    assert_eq!(w.wait_exit(), Some(0), "{}", w.stderr());
    assert_eq!(c.wait_exit(), Some(0), "{}", c.stderr());
}

#[test]
fn ttl_locks_expire() {
    let t = TempDir::new("swoc-ttl");
    ok(client(&t, "alpha").args(["-l", "--ttl", "1h"]));
    fails(server(&t).args(["-w", "-t", "0"]), 1);
    ok(server(&t).args(["-r", "alpha"]));
    ok(client(&t, "alpha").args(["-l", "--ttl", "1s"]));
    // No release: the waiter returns when the lock expires, long before its next look.
    let mut w = spawn(server(&t).args(["-w", "-i", "10m"]));
    let mut c = spawn(client(&t, "alpha").args(["-w", "--interval", "10m"]));
    assert_eq!(w.wait_exit(), Some(0), "{}", w.stderr());
    assert_eq!(c.wait_exit(), Some(0), "{}", c.stderr());
    let s = ok(server(&t).arg("-s"));
    assert!(s.contains("client alpha: 0 locks (and 1 expired)"), "{s}");
    assert!(
        s.contains("expired 0s ago")
            || s.contains("expired 1s ago")
            || s.contains("expired 2s ago"),
        "{s}"
    );
    assert!(s.ends_with("total: 0 locks from 0 clients\n"), "{s}");
    let e = fails(client(&t, "alpha").arg("-r"), 1);
    assert!(e.contains("holds no lock (1 expired removed)"), "{e}");
    assert!(files(&t, "").is_empty());
}

#[test]
fn garbage_is_reported_and_never_breaks_the_waiter() {
    let t = TempDir::new("swoc-garbage");
    ok(server(&t).arg("-s"));
    let l = locks(&t);
    std::fs::write(l.join("README"), "not a lock\n").unwrap();
    std::fs::write(l.join("bad name.1"), "").unwrap();
    std::fs::create_dir(l.join("subdir.1")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", l.join("link.1")).unwrap();
    assert!(
        Command::new("mkfifo")
            .arg(l.join("fifo.1"))
            .status()
            .unwrap()
            .success()
    );
    std::fs::write(l.join(".tmp.alpha.fresh"), "").unwrap();
    let stale = std::fs::File::create(l.join(".tmp.alpha.stale")).unwrap();
    stale
        .set_modified(SystemTime::now() - Duration::from_secs(3600))
        .unwrap();
    std::fs::write(t.join("swoc/blocked/no way"), "").unwrap();
    let s = ok(server(&t).arg("-s"));
    for g in [
        "garbage: locks/README: not a lock name",
        "garbage: locks/bad name.1: not a lock name",
        "garbage: locks/link.1: not a regular file",
        "garbage: locks/fifo.1: not a regular file",
        "garbage: locks/.tmp.alpha.stale: stale temp file",
        "garbage: blocked/no way: not a client name",
    ] {
        assert!(s.contains(g), "{g:?} not in {s}");
    }
    assert!(!s.contains("subdir") && !s.contains("fresh"), "{s}");
    assert!(s.ends_with("total: 0 locks from 0 clients\n"), "{s}");
    assert!(ok(client(&t, "alpha").arg("-s")).contains("garbage: locks/README"));
    // Garbage is not a lock: nothing to wait for.
    ok(server(&t).args(["-w", "-t", "5s"]));
    ok(client(&t, "alpha").args(["-w", "-t", "5s"]));
    // A hand-made lock with unreadable contents counts, and is shown as such.
    std::fs::write(l.join("alpha.byhand"), "rubbish").unwrap();
    let s = ok(server(&t).arg("-s"));
    assert!(
        s.contains("alpha.byhand: age 0s (from mtime), unreadable contents")
            || s.contains("alpha.byhand: age 1s (from mtime), unreadable contents"),
        "{s}"
    );
    fails(server(&t).args(["-w", "-t", "200ms"]), 1);
    let mut w = spawn(server(&t).arg("-w"));
    std::fs::write(l.join("more garbage"), "").unwrap();
    ok(client(&t, "alpha").arg("-r"));
    assert_eq!(w.wait_exit(), Some(0), "{}", w.stderr());
}

#[test]
fn unwritable_swoc_dir_is_exit_1_with_path_and_reason() {
    let t = TempDir::new("swoc-unwritable");
    // Root may write anywhere, so make the path impossible: a file where a directory
    // must be, at each level.
    let file = t.join("file");
    std::fs::write(&file, "").unwrap();
    let e = fails(
        cmd("swocclient")
            .args(["-c", "alpha", "-l", "-d"])
            .arg(&file),
        1,
    );
    let want = format!(
        "swocclient: fatal: unable to use {}: not a directory",
        file.display()
    );
    assert!(e.contains(&want), "{e}");
    // A regular file as a component of the path.
    let e = fails(
        cmd("swocclient")
            .args(["-c", "alpha", "-l", "-d"])
            .arg(file.join("service")),
        1,
    );
    let want = format!(
        "swocclient: fatal: unable to access {}/service: not a directory",
        file.display()
    );
    assert!(e.contains(&want), "{e}");
    let e = fails(
        cmd("swocserver")
            .arg("--dir")
            .arg(file.join("service"))
            .arg("-w"),
        1,
    );
    assert!(
        e.contains(&format!("{}/service: not a directory", file.display())),
        "{e}"
    );
    let svc = t.join("svc");
    std::fs::create_dir_all(&svc).unwrap();
    std::fs::write(svc.join("swoc"), "").unwrap();
    let e = fails(cmd("swocserver").arg("--dir").arg(&svc).arg("-s"), 1);
    assert!(
        e.contains(&format!(
            "unable to use {}/swoc: not a directory",
            svc.display()
        )),
        "{e}"
    );
    let svc2 = t.join("svc2");
    std::fs::create_dir_all(svc2.join("swoc")).unwrap();
    std::fs::write(svc2.join("swoc/locks"), "").unwrap();
    let e = fails(
        cmd("swocclient").args(["-c", "a", "-r", "-d"]).arg(&svc2),
        1,
    );
    assert!(
        e.contains(&format!("{}/swoc/locks: not a directory", svc2.display())),
        "{e}"
    );
    // And a real permission problem: nobody may not create in a directory of root's.
    let ro = t.join("ro");
    std::fs::create_dir(&ro).unwrap();
    std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755)).unwrap();
    // nobody must be able to run it: the build tree may lie under a 0700 directory
    // (a mktemp -d clone), so a copy in this test's directory is run.
    let client = t.join("swocclient");
    std::fs::copy(bin("swocclient"), &client).unwrap();
    let e = fails(
        cmd("setuidgid")
            .arg("nobody")
            .arg(&client)
            .args(["-c", "alpha", "-l", "-d"])
            .arg(&ro),
        1,
    );
    assert!(
        e.contains(&format!(
            "unable to create {}/swoc: access denied",
            ro.display()
        )),
        "{e}"
    );
}

#[test]
fn daemon_only_options_are_usage_errors() {
    let t = TempDir::new("swoc-daemon");
    for opt in ["-e", "-c", "--end-daemon", "--reload-config"] {
        let e = fails(server(&t).arg(opt), 64);
        assert!(e.contains("svkit has no SWOC daemon"), "{opt}: {e}");
    }
}

#[test]
fn exclusive_and_misplaced_options_are_usage_errors() {
    let t = TempDir::new("swoc-usage");
    for args in [
        &[][..],
        &["-l", "-r"],
        &["-s", "-w"],
        &["-b", "-u"],
        &["-i", "-l"],
        &["--lock", "--release"],
        &["-r", "-m", "why"],
        &["-s", "--ttl", "1h"],
        &["-l", "-t", "5s"],
        &["-l", "--interval", "1s"],
        &["-l", "--no-inotify"],
        &["-w", "-t", "soon"],
        &["-w", "--interval", "0"],
        &["-l", "--ttl", "forever"],
        &["-l", "-m", "two\nlines"],
        &["-w-1"],
        &["-x"],
        &["-l", "extra"],
        &["-l", "-d"],
    ] {
        let e = fails(client(&t, "alpha").args(args), 64);
        assert!(e.contains("swocclient: usage: swocclient"), "{args:?}: {e}");
    }
    for args in [
        &[][..],
        &["-w", "-s"],
        &["-d", "-a"],
        &["-r", "alpha", "-b", "beta"],
        &["-s", "-t", "1s"],
        &["-s", "-i", "1s"],
        &["-r"],
        &["-w", "-t", "x"],
        &["-x"],
        &["-s", "extra"],
    ] {
        let e = fails(server(&t).args(args), 64);
        assert!(e.contains("swocserver: usage: swocserver"), "{args:?}: {e}");
    }
    assert!(files(&t, "").is_empty());
}

/// 20 clients, each taking and releasing a lock 1,000 times at once, through the
/// library the binaries use: each client's count is exact after every step.
#[test]
fn twenty_clients_a_thousand_times_each() {
    let t = TempDir::new("swoc-many");
    let dir = SwocDir::new(t.path());
    dir.ensure().unwrap();
    let threads: Vec<_> = (0..20)
        .map(|i| {
            let dir = dir.clone();
            std::thread::spawn(move || {
                let c = ClientName::new(&format!("client{i}")).unwrap();
                let count = |dir: &SwocDir| dir.count(Some(&c)).unwrap();
                for n in 0..1000 {
                    let req = LockRequest {
                        client: &c,
                        pid: std::process::id(),
                        comment: None,
                        ttl: None,
                    };
                    assert!(matches!(dir.lock(&req).unwrap(), Locked::Taken(_)));
                    assert_eq!(count(&dir), 1, "{c} round {n}: after lock");
                    assert!(matches!(dir.release_one(&c, 0).unwrap(), Released::One(_)));
                    assert_eq!(count(&dir), 0, "{c} round {n}: after release");
                }
            })
        })
        .collect();
    for th in threads {
        th.join().unwrap();
    }
    let scan = dir.scan(None).unwrap();
    assert!(scan.locks.is_empty() && scan.garbage.is_empty(), "{scan:?}");
    assert!(files(&t, "").is_empty(), "{:?}", files(&t, ""));
}

/// 20 jobs of one client: each release takes exactly one lock, even when two releases
/// race for the same file, so none fails while its own lock exists.
#[test]
fn twenty_jobs_of_one_client_never_lose_or_double_count() {
    let t = TempDir::new("swoc-shared");
    let dir = SwocDir::new(t.path());
    dir.ensure().unwrap();
    let c = ClientName::new("shared").unwrap();
    let threads: Vec<_> = (0..20)
        .map(|_| {
            let (dir, c) = (dir.clone(), c.clone());
            std::thread::spawn(move || {
                for _ in 0..250 {
                    let req = LockRequest {
                        client: &c,
                        pid: 1,
                        comment: None,
                        ttl: None,
                    };
                    assert!(matches!(dir.lock(&req).unwrap(), Locked::Taken(_)));
                    let n = dir.count(Some(&c)).unwrap();
                    assert!((1..=20).contains(&n), "{n} locks with 20 jobs");
                    assert!(matches!(dir.release_one(&c, 1).unwrap(), Released::One(_)));
                }
            })
        })
        .collect();
    for th in threads {
        th.join().unwrap();
    }
    assert!(dir.scan(None).unwrap().locks.is_empty());
    assert!(files(&t, "").is_empty(), "{:?}", files(&t, ""));
}

/// The same through the real binaries, fewer times (each step is a process).
#[test]
fn twenty_clients_through_the_binaries() {
    let t = TempDir::new("swoc-many-bin");
    ok(server(&t).arg("-s"));
    let path: &Path = t.path();
    std::thread::scope(|s| {
        for i in 0..20 {
            s.spawn(move || {
                let name = format!("c{i}");
                let run = |args: &[&str]| {
                    let o = Command::new(bin("swocclient"))
                        .env_remove("SWOC_DIR")
                        .arg("-d")
                        .arg(path)
                        .args(["-c", &name])
                        .args(args)
                        .stdin(Stdio::null())
                        .output()
                        .unwrap();
                    assert_eq!(o.status.code(), Some(0), "{name} {args:?}: {o:?}");
                    String::from_utf8_lossy(&o.stdout).into_owned()
                };
                for _ in 0..10 {
                    run(&["-l"]);
                    run(&["-l"]);
                    let s = run(&["-s"]);
                    assert_eq!(
                        first_line(&s),
                        format!("client {name}: 2 locks, not blocked")
                    );
                    run(&["-r"]);
                    run(&["-w1", "-t", "0"]);
                    run(&["-r"]);
                    run(&["-w", "-t", "0"]);
                }
            });
        }
    });
    let s = ok(server(&t).arg("-s"));
    assert_eq!(
        s,
        "server: new locks allowed\ntotal: 0 locks from 0 clients\n"
    );
    assert!(files(&t, "").is_empty());
}

/// The default place, /service/swoc, is in svscan's scan directory: a SWOC service
/// directory that swocclient makes appears whole, with a down file, so svscan's
/// supervise neither starts nor complains about it.
#[test]
fn a_made_service_directory_is_inert_under_svscan() {
    let t = TempDir::new("swoc-svscan");
    let scan = t.join("scan");
    std::fs::create_dir(&scan).unwrap();
    let mut p = Proc::spawn(
        cmd("svscan")
            .arg(&scan)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
    );
    let service = scan.join("swoc");
    let o = run(cmd("swocclient")
        .arg("-d")
        .arg(&service)
        .args(["-c", "web1", "-l"]));
    assert_eq!(o.status.code(), Some(0));
    assert!(service.join("down").is_file());
    must("supervised", || common::ok(&service));
    assert!(svstat(&service).contains(": down "), "{}", svstat(&service));
    // Nothing but the dot-free layout was left behind.
    let names: Vec<String> = std::fs::read_dir(&scan)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["swoc"]);
    p.stop();
    assert_eq!(p.stderr(), "");
}
