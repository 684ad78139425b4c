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

/// swocclient for `name` on the service directory `dir`.
fn client_at(dir: &Path, name: &str) -> Command {
    let mut c = cmd("swocclient");
    c.env_remove("SWOC_DIR")
        .env_remove("SWOC_CLIENT")
        .arg("-d")
        .arg(dir)
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

/// A test directory with a SWOC directory in it, made by the setup step
/// (`swocserver --init`): nothing else makes one.
fn swoc_dir(tag: &str) -> TempDir {
    let t = TempDir::new(tag);
    ok(server(&t).arg("--init"));
    t
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
    let t = swoc_dir("swoc-lock");
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
    let t = swoc_dir("swoc-format");
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
    let t = swoc_dir("swoc-env");
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
    let t = swoc_dir("swoc-names");
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
    let t = swoc_dir("swoc-block");
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
    let t = swoc_dir("swoc-allow");
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
    let t = swoc_dir("swoc-reset");
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
    let t = swoc_dir("swoc-srv-release");
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
    let t = swoc_dir("swoc-cwait");
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
    let t = swoc_dir("swoc-wait-n");
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
    let t = swoc_dir("swoc-swait");
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
    let t = swoc_dir("swoc-poll");
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
    let t = swoc_dir("swoc-ttl");
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
    let t = swoc_dir("swoc-garbage");
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
        "swocclient: fatal: unable to use {}/service: not a directory",
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
    let server = t.join("swocserver");
    std::fs::copy(bin("swocserver"), &server).unwrap();
    let e = fails(
        cmd("setuidgid")
            .arg("nobody")
            .arg(&server)
            .arg("--init")
            .arg("--dir")
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
    dir.init().unwrap();
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
    dir.init().unwrap();
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
    let t = swoc_dir("swoc-many-bin");
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

/// A SWOC directory is made only by the setup step (`swocserver --init`). Before, a
/// client whose NFS share had not mounted made one on the local disk under the mount
/// point and took its lock there (exit 0, a lock no server saw), and `swocserver --dir
/// typo -w` made an empty one, found no lock, and exited 0 at once, so the cron line
/// `swocserver -w && shutdown` shut the server down. Now both exit 1 (SWOC's minor
/// problem) with a message that says what to check, and create nothing.
#[test]
fn a_missing_swoc_directory_is_never_made_on_the_way() {
    let t = TempDir::new("swoc-missing");
    let want = "file does not exist (not a SWOC directory: is the share mounted, is the \
                name right? swocserver --init creates one)";
    // The mount point of a share that did not mount: there, but empty.
    let mnt = t.join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let e = fails(client_at(&mnt, "web1").arg("-l"), 1);
    assert_eq!(
        e,
        format!(
            "swocclient: fatal: unable to use {}/swoc: {want}\n",
            mnt.display()
        )
    );
    assert_eq!(
        std::fs::read_dir(&mnt).unwrap().count(),
        0,
        "made something"
    );
    // A misspelt directory: the cron line must not shut the server down.
    let typo = t.join("typo");
    for action in ["-w", "-s", "-d", "-a"] {
        let e = fails(cmd("swocserver").arg("--dir").arg(&typo).arg(action), 1);
        assert_eq!(
            e,
            format!(
                "swocserver: fatal: unable to use {}: {want}\n",
                typo.display()
            ),
            "{action}"
        );
    }
    let line = format!(
        "{} --dir {} -w && echo shutdown",
        bin("swocserver"),
        typo.display()
    );
    let (code, o, _) = out(Command::new("sh").args(["-c", &line]));
    assert_eq!((code, o.as_str()), (1, ""));
    for action in [&["-l"][..], &["-r"], &["-w"], &["-s"], &["-b"], &["-i"]] {
        fails(client_at(&typo, "web1").args(action), 1);
    }
    assert!(!typo.exists(), "made {}", typo.display());
    // A part missing from a tree that is there is not made either.
    ok(cmd("swocserver").arg("--dir").arg(&mnt).arg("--init"));
    ok(client_at(&mnt, "web1").arg("-l"));
    std::fs::remove_dir(mnt.join("swoc/blocked")).unwrap();
    let e = fails(client_at(&mnt, "web1").arg("-s"), 1);
    assert!(
        e.contains(&format!(
            "unable to use {}/swoc/blocked: file does not exist",
            mnt.display()
        )),
        "{e}"
    );
    assert!(!mnt.join("swoc/blocked").exists());
    // --init makes what is missing and keeps what is there.
    ok(cmd("swocserver").arg("--dir").arg(&mnt).arg("--init"));
    let s = ok(client_at(&mnt, "web1").arg("-s"));
    assert_eq!(first_line(&s), "client web1: 1 lock, not blocked", "{s}");
}

/// The cron templates: a PATH that holds svkit's install directory (cron's own is
/// /usr/bin:/bin), and a server line that shuts down only when the wait succeeded.
/// Run as cron would, with `shutdown` replaced by an echo and svkit's binaries found
/// through PATH.
#[test]
fn the_server_cron_template_shuts_down_only_after_a_real_wait() {
    let template = Path::new(env!("CARGO_MANIFEST_DIR")).join("service-templates/swoc");
    let mut line = None;
    for name in ["crontab.server", "crontab.client"] {
        let text = std::fs::read_to_string(template.join(name)).unwrap();
        let path = text
            .lines()
            .find_map(|l| l.strip_prefix("PATH="))
            .unwrap_or_else(|| panic!("{name}: no PATH line"));
        assert!(
            path.split(':').any(|d| d == "/usr/local/bin"),
            "{name}: {path}"
        );
        assert!(path.split(':').any(|d| d == "/usr/sbin"), "{name}: {path}");
        if name == "crontab.server" {
            line = text
                .lines()
                .find(|l| l.contains("swocserver -w"))
                .map(|l| l.split_whitespace().skip(5).collect::<Vec<_>>().join(" "));
        }
    }
    let line = line
        .expect("no swocserver -w line")
        .replace("shutdown -h now", "echo SHUTDOWN");
    let bindir = Path::new(bin("swocserver")).parent().unwrap().to_owned();
    let cron = |service: &Path| {
        out(Command::new("/bin/sh")
            .args(["-c", &line])
            .env_clear()
            .env("PATH", format!("{}:/usr/bin:/bin", bindir.display()))
            .env("SWOC_DIR", service))
    };
    let t = TempDir::new("swoc-cron");
    let (code, o, e) = cron(&t.join("typo"));
    assert_eq!((code, o.as_str()), (1, ""), "{e}");
    assert!(e.contains("not a SWOC directory"), "{e}");
    ok(server(&t).arg("--init"));
    let (code, o, e) = cron(t.path());
    assert_eq!((code, o.as_str()), (0, "SHUTDOWN\n"), "{e}");
}

/// The default place, /service/swoc, is in svscan's scan directory: a SWOC service
/// directory that `swocserver --init` makes appears whole, with a down file, so
/// svscan's supervise neither starts nor complains about it.
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
    ok(cmd("swocserver").arg("--dir").arg(&service).arg("--init"));
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
    assert_eq!(p.stderr(), "svscan: stopped swoc\n");
}

/// Accounts made for one test, all with the same new group as their primary group (the
/// `swoc` group of the setup), removed on drop.
struct Accounts {
    group: String,
    users: Vec<String>,
}

impl Accounts {
    fn new(tag: &str, n: usize) -> Accounts {
        let base = format!("swk{tag}{}", std::process::id() % 100000);
        let run = |args: &[&str]| {
            let st = Command::new(args[0])
                .args(&args[1..])
                .stdout(Stdio::null())
                .status()
                .unwrap();
            assert!(st.success(), "{args:?}");
        };
        let mut a = Accounts {
            group: format!("{base}g"),
            users: Vec::new(),
        };
        run(&["groupadd", &a.group]);
        for i in 0..n {
            let u = format!("{base}u{i}");
            run(&["useradd", "-M", "-N", "-g", &a.group, &u]);
            a.users.push(u);
        }
        a
    }

    fn uid(&self, i: usize) -> u32 {
        let (_, o, _) = out(Command::new("id").args(["-u", &self.users[i]]));
        o.trim().parse().unwrap()
    }
}

impl Drop for Accounts {
    fn drop(&mut self) {
        for u in &self.users {
            let _ = Command::new("userdel").arg(u).status();
        }
        let _ = Command::new("groupdel").arg(&self.group).status();
    }
}

/// A SWOC directory set up as swocclient(8) says, locks/ and blocked/ in `accts`' group,
/// with copies of the binaries that the accounts can run (the build tree may lie under
/// a 0700 directory).
struct Setup {
    t: TempDir,
    client: PathBuf,
    server: PathBuf,
}

impl Setup {
    fn new(tag: &str, accts: &Accounts, clients: &str) -> Setup {
        let t = TempDir::new(tag);
        std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let client = t.join("swocclient");
        let server = t.join("swocserver");
        std::fs::copy(bin("swocclient"), &client).unwrap();
        std::fs::copy(bin("swocserver"), &server).unwrap();
        let svc = t.join("svc");
        ok(cmd("swocserver").arg("--dir").arg(&svc).arg("--init"));
        for d in ["locks", "blocked"] {
            let st = Command::new("chgrp")
                .arg(&accts.group)
                .arg(svc.join("swoc").join(d))
                .status()
                .unwrap();
            assert!(st.success());
        }
        std::fs::write(svc.join("swoc/clients"), clients).unwrap();
        Setup { t, client, server }
    }

    fn svc(&self) -> PathBuf {
        self.t.join("svc")
    }

    fn swoc(&self, p: &str) -> PathBuf {
        self.svc().join("swoc").join(p)
    }

    /// swocclient as `user` (root if None) for client `name`.
    fn client(&self, user: Option<&str>, name: &str) -> Command {
        let mut c = match user {
            Some(u) => {
                let mut c = cmd("setuidgid");
                c.arg(u).arg(&self.client);
                c
            }
            None => Command::new(&self.client),
        };
        c.env_remove("SWOC_DIR")
            .env_remove("SWOC_CLIENT")
            .arg("-d")
            .arg(self.svc())
            .arg("-c")
            .arg(name);
        c
    }

    fn server(&self) -> Command {
        let mut c = Command::new(&self.server);
        c.env_remove("SWOC_DIR").arg("--dir").arg(self.svc());
        c
    }

    /// A shell command run as `user`.
    fn sh(&self, user: &str, script: &str) -> (i32, String, String) {
        out(cmd("setuidgid").arg(user).args(["sh", "-c", script]))
    }
}

/// A member of the swoc group plants a lock under another client's name. Before, the
/// victim's `-r` then failed for good (it picked the planted, oldest lock, which the
/// sticky bit kept it from removing), and `-w` and `swocserver -w` waited for it.
/// Now a lock counts as a client's only when its owner may use the name.
#[test]
fn a_planted_lock_is_foreign_and_ignored() {
    let a = Accounts::new("pl", 2);
    let (victim, attacker) = (a.users[0].as_str(), a.users[1].as_str());
    let s = Setup::new(
        "swoc-plant",
        &a,
        &format!("victim {}\nmallory {}\n", a.uid(0), a.uid(1)),
    );
    // Through swocclient: refused, loudly, and nothing stays.
    let e = fails(s.client(Some(attacker), "victim").arg("-l"), 1);
    assert!(
        e.contains(&format!("uid {} may not use client victim", a.uid(1))),
        "{e}"
    );
    // By hand: an old lock, so that "oldest first" would pick it.
    let planted = s.swoc("locks/victim.1-000000000-1-0000000000000001");
    let (code, _, e) = s.sh(
        attacker,
        &format!(
            "printf 'client=victim\\ncreated=1\\n' > {}",
            planted.display()
        ),
    );
    assert_eq!(code, 0, "{e}");
    ok(s.client(Some(attacker), "mallory").arg("-l"));
    // The victim's waiters and the server's do not wait for it.
    ok(s.client(Some(victim), "victim").args(["-w", "-t", "2s"]));
    // Two jobs: take in one shell, release from another.
    let job = |args: &str| {
        s.sh(
            victim,
            &format!(
                "{} -d {} -c victim {args}; exit $?",
                s.client.display(),
                s.svc().display()
            ),
        )
    };
    assert_eq!(job("-l").0, 0);
    let (code, _, e) = job("-r");
    assert_eq!(code, 0, "victim's release: {e}");
    assert!(planted.exists(), "a client removed a foreign lock");
    let st = ok(s.server().arg("-s"));
    assert!(
        st.contains(&format!(
            "foreign: locks/victim.1-000000000-1-0000000000000001: owned by uid {}, which may not use client victim: ignored",
            a.uid(1)
        )),
        "{st}"
    );
    assert!(st.contains("total: 1 lock from 1 client"), "{st}");
    ok(s.client(Some(attacker), "mallory").arg("-r"));
    ok(s.server().args(["-w", "-t", "2s"]));
    // The server's account removes it, and says so.
    let (code, _, e) = out(s.server().args(["-r", "victim"]));
    assert_eq!(code, 1, "{e}");
    assert!(
        e.contains("removed 1 foreign lock named for client victim"),
        "{e}"
    );
    assert!(!planted.exists());
}

/// A member plants `blocked/C` first. Before, `swocserver -b C` then reported success
/// while doing nothing, and the member could lift the "server's" block later; and the
/// planted file blocked the victim. Now a foreign block does not count, and the server's
/// -b replaces it with a block of its own, which no member can remove.
#[test]
fn a_planted_block_is_foreign_and_the_server_replaces_it() {
    let a = Accounts::new("bl", 2);
    let (victim, attacker) = (a.users[0].as_str(), a.users[1].as_str());
    let s = Setup::new(
        "swoc-block-plant",
        &a,
        &format!("victim {}\nmallory {}\n", a.uid(0), a.uid(1)),
    );
    let block = s.swoc("blocked/victim");
    let (code, _, e) = s.sh(attacker, &format!(": > {}", block.display()));
    assert_eq!(code, 0, "{e}");
    // It does not block the victim.
    ok(s.client(Some(victim), "victim").arg("-l"));
    ok(s.client(Some(victim), "victim").arg("-r"));
    let st = ok(s.server().arg("-s"));
    assert!(st.contains("foreign: blocked/victim: owned by uid"), "{st}");
    // The server's block replaces it, and says so.
    let (code, _, e) = out(s.server().args(["-b", "victim"]));
    assert_eq!(code, 0, "{e}");
    assert!(e.contains("with the server's block"), "{e}");
    let (code, _, _) = s.sh(attacker, &format!("rm -f {}", block.display()));
    assert_ne!(code, 0, "a member lifted the server's block");
    let e = fails(s.client(Some(victim), "victim").arg("-l"), 1);
    assert!(e.contains("client victim is blocked"), "{e}");
    // The victim cannot lift the server's block either, nor can a member through -b/-u.
    let e = fails(s.client(Some(victim), "victim").arg("-u"), 1);
    assert!(e.contains("only swocserver -u lifts it"), "{e}");
    let e = fails(
        cmd("setuidgid")
            .arg(attacker)
            .arg(&s.server)
            .arg("--dir")
            .arg(s.svc())
            .args(["-u", "victim"]),
        1,
    );
    assert!(e.contains("is not the server's account"), "{e}");
    fails(s.client(Some(victim), "victim").arg("-l"), 1);
    ok(s.server().args(["-u", "victim"]));
    ok(s.client(Some(victim), "victim").arg("-l"));
    // Another member cannot block a client through swocclient; the client blocks and
    // unblocks itself.
    let e = fails(s.client(Some(attacker), "victim").arg("-b"), 1);
    assert!(e.contains("may not use client victim"), "{e}");
    assert!(!block.exists());
    ok(s.client(Some(victim), "victim").arg("-b"));
    fails(s.client(Some(victim), "victim").arg("-l"), 1);
    ok(s.client(Some(victim), "victim").arg("-u"));
    ok(s.client(Some(victim), "victim").arg("-l"));
}

/// What the checks refuse: a swoc/ others may write (they could swap locks/ for a
/// symlink), a symlink in place of locks/, a shared directory that is not sticky, and a
/// clients file the server's account did not write. Before, root followed the symlink
/// and wrote its lock into whatever directory it named.
#[test]
fn unsafe_layouts_are_refused() {
    let a = Accounts::new("ul", 1);
    let attacker = a.users[0].as_str();
    let s = Setup::new("swoc-unsafe", &a, "");
    let elsewhere = s.t.join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::fs::set_permissions(&elsewhere, std::fs::Permissions::from_mode(0o700)).unwrap();
    // A group-writable swoc/: the member swaps locks/ for a symlink.
    let swoc = s.svc().join("swoc");
    assert!(
        Command::new("chgrp")
            .arg(&a.group)
            .arg(&swoc)
            .status()
            .unwrap()
            .success()
    );
    std::fs::set_permissions(&swoc, std::fs::Permissions::from_mode(0o775)).unwrap();
    let (code, _, e) = s.sh(
        attacker,
        &format!(
            "cd {} && mv locks old && ln -s {} locks",
            swoc.display(),
            elsewhere.display()
        ),
    );
    assert_eq!(code, 0, "{e}");
    let e = fails(s.client(None, "web1").arg("-l"), 1);
    assert!(e.contains("writable by group or others"), "{e}");
    std::fs::set_permissions(&swoc, std::fs::Permissions::from_mode(0o755)).unwrap();
    let e = fails(s.client(None, "web1").arg("-l"), 1);
    assert!(
        e.contains(&format!(
            "unable to use {}/locks: a symbolic link",
            swoc.display()
        )),
        "{e}"
    );
    assert_eq!(
        std::fs::read_dir(&elsewhere).unwrap().count(),
        0,
        "wrote through the symlink"
    );
    std::fs::remove_file(swoc.join("locks")).unwrap();
    std::fs::rename(swoc.join("old"), swoc.join("locks")).unwrap();
    ok(s.client(None, "web1").arg("-l"));
    // Shared but not sticky.
    std::fs::set_permissions(swoc.join("blocked"), std::fs::Permissions::from_mode(0o775)).unwrap();
    let e = fails(s.server().arg("-s"), 1);
    assert!(
        e.contains("blocked: writable by others but not sticky"),
        "{e}"
    );
    std::fs::set_permissions(
        swoc.join("blocked"),
        std::fs::Permissions::from_mode(0o1775),
    )
    .unwrap();
    // A clients file others may write, or that is someone else's.
    std::fs::set_permissions(swoc.join("clients"), std::fs::Permissions::from_mode(0o666)).unwrap();
    let e = fails(s.server().arg("-s"), 1);
    assert!(e.contains("clients: writable by group or others"), "{e}");
    std::fs::set_permissions(swoc.join("clients"), std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(
        Command::new("chown")
            .arg(attacker)
            .arg(swoc.join("clients"))
            .status()
            .unwrap()
            .success()
    );
    let e = fails(s.server().arg("-s"), 1);
    assert!(
        e.contains("not by the server's account (uid 0) or root"),
        "{e}"
    );
    std::fs::write(swoc.join("clients.new"), "web1 x\n").unwrap();
    std::fs::rename(swoc.join("clients.new"), swoc.join("clients")).unwrap();
    let e = fails(s.server().arg("-s"), 1);
    assert!(e.contains("clients: line 1: invalid uid \"x\""), "{e}");
}

/// Durations past a hundred years are usage errors (they crashed: Instant overflow).
#[test]
fn absurd_durations_are_usage_errors() {
    let t = swoc_dir("swoc-durations");
    for args in [
        &["-l", "--ttl", "110000000000000d"][..],
        &["-w", "-t", "110000000000000d"],
        &["-w", "--interval", "110000000000000d"],
    ] {
        let e = fails(client(&t, "alpha").args(args), 64);
        assert!(e.contains("too long"), "{args:?}: {e}");
    }
    for args in [
        &["-w", "-t", "110000000000000d"][..],
        &["-w", "-i", "110000000000000d"],
    ] {
        let e = fails(server(&t).args(args), 64);
        assert!(e.contains("too long"), "{args:?}: {e}");
    }
    // A hundred years is fine.
    ok(client(&t, "alpha").args(["-l", "--ttl", "36500d"]));
    ok(client(&t, "beta").args(["-w", "-t", "36500d", "--interval", "36500d"]));
}
