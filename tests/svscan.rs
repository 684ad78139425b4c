//! svscan: services and loggers, new directories, dead supervises, orphans, shutdown,
//! scale; svscanboot and readproctitle.

mod common;
use common::*;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

fn svscan(dir: &Path, extra: &[&str]) -> Proc {
    let mut p = Proc::spawn(
        cmd("svscan")
            .args(extra)
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null()),
    );
    p.services.push(dir.to_path_buf());
    p
}

/// Pids of the direct children of `pid` and whether each is a zombie.
fn children(pid: u32) -> Vec<(u32, bool)> {
    let mut v = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        if f.get(1) == Some(&pid.to_string().as_str()) {
            v.push((p, f[0] == "Z"));
        }
    }
    v
}

#[test]
fn services_and_loggers_start_and_logs_lose_nothing() {
    let t = TempDir::new("scan");
    let a = service(
        &t.join("a"),
        "n=$(cat n 2>/dev/null || echo 0)\nwhile [ $n -lt 300 ]; do n=$((n+1)); echo $n; echo $n > n; done\nexec sleep 1000",
    );
    service(&a.join("log"), "exec cat >> ../out");
    let b = service(&t.join("b"), "exec sleep 1000");
    let p = svscan(t.path(), &[]);
    must("all up", || {
        [&a, &a.join("log"), &b].iter().all(|d| status_pid(d) != 0)
    });
    must("300 lines logged", || lines(&a.join("out")).len() == 300);
    // Logger down: the pipe held by svscan keeps what the service writes meanwhile.
    svc("-d", &a.join("log"));
    must("logger down", || status_pid(&a.join("log")) == 0);
    std::fs::write(a.join("n"), "300").unwrap();
    script(
        &a.join("run"),
        "n=$(cat n)\nwhile [ $n -lt 600 ]; do n=$((n+1)); echo $n; echo $n > n; done\nexec sleep 1000",
    );
    svc("-k", &a);
    must("service wrote up to 600", || {
        lines(&a.join("n")) == vec!["600"]
    });
    assert_eq!(lines(&a.join("out")).len(), 300);
    svc("-u", &a.join("log"));
    must("600 lines logged", || lines(&a.join("out")).len() == 600);
    let want: Vec<String> = (1..=600).map(|i| i.to_string()).collect();
    assert_eq!(lines(&a.join("out")), want);
    drop(p);
}

#[test]
fn new_directory_is_picked_up_at_once() {
    let t = TempDir::new("inotify");
    let scan = t.join("scan");
    std::fs::create_dir(&scan).unwrap();
    service(&scan.join("a"), "exec sleep 1000");
    let _p = svscan(&scan, &[]);
    must("a up", || status_pid(&scan.join("a")) != 0);
    // Created elsewhere and moved in, as operators are told to do.
    service(&t.join("b"), "exec sleep 1000");
    std::fs::rename(t.join("b"), scan.join("b")).unwrap();
    let created = Instant::now();
    must("b up", || status_pid(&scan.join("b")) != 0);
    // The periodic rescan comes every 5 s; inotify is far quicker than that.
    assert!(
        created.elapsed() < Duration::from_secs(4),
        "{:?}",
        created.elapsed()
    );
    // Dot directories are not services.
    service(&scan.join(".hidden"), "exec sleep 1000");
    service(&scan.join("c"), "exec sleep 1000");
    must("c up", || status_pid(&scan.join("c")) != 0);
    assert!(!scan.join(".hidden/supervise").exists());
}

#[test]
fn killed_supervise_is_restarted_and_its_orphan_replaced() {
    let t = TempDir::new("kill9");
    let s = service(&t.join("s"), "exec sleep 1000");
    let p = svscan(t.path(), &[]);
    must("up", || status_pid(&s) != 0);
    let old_service = status_pid(&s);
    let sup = children(p.pid())
        .into_iter()
        .map(|(c, _)| c)
        .find(|c| {
            std::fs::read_to_string(format!("/proc/{c}/cmdline"))
                .is_ok_and(|l| l.contains("supervise"))
        })
        .unwrap();
    signal(sup, libc::SIGKILL);
    must("old service gone", || !alive(old_service));
    must("new service up", || {
        let pid = status_pid(&s);
        pid != 0 && pid != old_service && ok(&s)
    });
    svc("-d", &s);
    must("down", || status_pid(&s) == 0);
    svc("-u", &s);
    must("up again", || status_pid(&s) != 0);
    drop(p);
}

#[test]
fn orphans_are_reaped() {
    let t = TempDir::new("orphan");
    // The subshell exits at once, leaving its sleep to be reparented to svscan.
    let s = service(
        &t.join("s"),
        "(sleep 0.2 &)\necho spawned > spawned\nexec sleep 1000",
    );
    let p = svscan(t.path(), &[]);
    must("spawned", || s.join("spawned").exists());
    must("no zombie left", || {
        let kids = children(p.pid());
        kids.iter().all(|(_, z)| !z) && kids.len() == 1
    });
    drop(p);
}

#[test]
fn term_brings_everything_down_and_exits() {
    let t = TempDir::new("shutdown");
    let a = service(&t.join("a"), "exec sleep 1000");
    service(&a.join("log"), "exec cat > /dev/null");
    // Ignores TERM: needs the KILL after the timeout.
    let b = service(
        &t.join("b"),
        "trap '' TERM\necho $$ > pid\nwhile :; do sleep 0.05; done",
    );
    let mut p = svscan(t.path(), &["-t", "1s"]);
    must("all up", || {
        [&a, &a.join("log"), &b].iter().all(|d| status_pid(d) != 0)
            && lines(&b.join("pid")) == vec![status_pid(&b).to_string()]
    });
    let pids: Vec<u32> = [&a, &a.join("log"), &b]
        .iter()
        .map(|d| status_pid(d))
        .collect();
    let sups: Vec<u32> = children(p.pid()).into_iter().map(|(c, _)| c).collect();
    assert_eq!(sups.len(), 3);
    let start = Instant::now();
    signal(p.pid(), libc::SIGTERM);
    assert_eq!(p.wait_exit(), Some(0));
    assert!(
        start.elapsed() >= Duration::from_millis(900),
        "did not wait for the timeout"
    );
    for pid in pids.iter().chain(&sups) {
        assert!(!alive(*pid), "{pid} survived");
    }
    for d in [&a, &a.join("log"), &b] {
        assert!(svstat(d).ends_with("supervise not running"));
    }
}

#[test]
fn removed_directory_keeps_its_supervise() {
    let t = TempDir::new("removed");
    let scan = t.join("scan");
    let s = service(&scan.join("s"), "exec sleep 1000");
    let p = svscan(&scan, &[]);
    must("up", || status_pid(&s) != 0);
    let moved = t.join("moved");
    std::fs::rename(&s, &moved).unwrap();
    signal(p.pid(), libc::SIGHUP);
    // Still supervised at its new place after the rescan that HUP asks for.
    let pid = status_pid(&moved);
    // svscan's answer to HUP cannot be seen from outside when it rightly does nothing:
    // an absence, which only waiting shows.
    assert!(!wait_for(Duration::from_millis(1000), || !ok(&moved)));
    assert_eq!(status_pid(&moved), pid);
    assert!(alive(pid));
    svc("-dx", &moved);
    must("gone", || !alive(pid));
    // The forgotten supervise has exited and was reaped.
    must("no children left", || children(p.pid()).is_empty());
    drop(p);
}

#[test]
fn a_thousand_services() {
    let t = TempDir::new("thousand");
    let n = 1000;
    let idle = t.join(".idle");
    script(&idle, "exec sleep 100000");
    for i in 0..n {
        let d = t.join(format!("s{i:04}"));
        std::fs::create_dir(&d).unwrap();
        std::os::unix::fs::symlink(&idle, d.join("run")).unwrap();
    }
    // Every tenth one has a logger too, reading what its service writes.
    for i in (0..n).step_by(10) {
        std::fs::create_dir(t.join(format!("s{i:04}/log"))).unwrap();
        std::os::unix::fs::symlink("/bin/cat", t.join(format!("s{i:04}/log/run"))).unwrap();
    }
    let mut p = Proc::spawn(
        cmd("svscan")
            .arg(t.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
    );
    p.services.push(t.path().to_path_buf());
    let dirs: Vec<_> = (0..n)
        .map(|i| t.join(format!("s{i:04}")))
        .chain((0..n).step_by(10).map(|i| t.join(format!("s{i:04}/log"))))
        .collect();
    assert!(
        wait_for(Duration::from_secs(120), || dirs
            .iter()
            .all(|d| status_pid(d) != 0)),
        "not all of {} services came up",
        dirs.len()
    );
    signal(p.pid(), libc::SIGTERM);
    assert_eq!(p.wait_exit(), Some(0));
    // Nothing but one line per supervise stopped at shutdown.
    let err = p.stderr();
    let mut stopped: Vec<&str> = err.lines().collect();
    stopped.sort_unstable();
    let mut want: Vec<String> = dirs
        .iter()
        .map(|d| {
            let rel = d.strip_prefix(t.path()).unwrap();
            format!("svscan: stopped {}", rel.display())
        })
        .collect();
    want.sort_unstable();
    assert_eq!(stopped, want, "svscan or a supervise complained");
}

#[test]
fn svscanboot_feeds_errors_to_readproctitle() {
    let t = TempDir::new("boot");
    let s = service(&t.join("s"), "echo boom-from-service >&2\nexec sleep 1000");
    let mut p = Proc::spawn(cmd("svscanboot").arg(t.path()).stdin(Stdio::null()));
    p.services.push(s.clone());
    let titles = || {
        children(p.pid())
            .into_iter()
            .filter_map(|(c, _)| std::fs::read(format!("/proc/{c}/cmdline")).ok())
            .map(|l| String::from_utf8_lossy(&l).into_owned())
            .collect::<Vec<_>>()
    };
    must("error visible in ps", || {
        titles()
            .iter()
            .any(|t| t.starts_with("readproctitle\0") && t.contains("boom-from-service"))
    });
    // svscanboot became svscan (it keeps the pid the init system knows); readproctitle
    // is its child and exits at the end of input once svscan and its services are gone.
    let title_pid = children(p.pid())
        .into_iter()
        .map(|(c, _)| c)
        .find(|c| {
            std::fs::read(format!("/proc/{c}/cmdline"))
                .is_ok_and(|l| l.starts_with(b"readproctitle\0"))
        })
        .unwrap();
    let title = std::fs::read(format!("/proc/{title_pid}/cmdline")).unwrap();
    assert!(title.starts_with(b"readproctitle\0service\0errors:\0..."));
    assert_eq!(
        title.len(),
        "readproctitle service errors: ".len() + 400 + 1
    );
    signal(p.pid(), libc::SIGTERM);
    assert_eq!(p.wait_exit(), Some(0));
    must("readproctitle exited", || !alive(title_pid));
    assert!(svstat(&s).ends_with("supervise not running"));
}

#[test]
fn readproctitle_window_and_usage() {
    let mut p = Proc::spawn(
        cmd("readproctitle")
            .args(["service", "errors:", "........"])
            .stdin(Stdio::piped()),
    );
    use std::io::Write;
    let mut stdin = p.child.stdin.take().unwrap();
    stdin.write_all(b"abc\n0123456789").unwrap();
    stdin.flush().unwrap();
    let cmdline = || std::fs::read(format!("/proc/{}/cmdline", p.pid())).unwrap_or_default();
    // daemontools keeps the first three bytes, the rest is the newest input.
    must("title updated", || cmdline().ends_with(b"56789\0"));
    assert!(cmdline().ends_with(b"\0service\0errors:\0...56789\0"));
    drop(stdin);
    assert_eq!(p.wait_exit(), Some(0));
    for args in [&[][..], &["abcd"][..], &["x", "ab"][..]] {
        let (code, _, err) = out(cmd("readproctitle").args(args));
        assert_eq!(code, 100, "{args:?}");
        assert!(err.ends_with("readproctitle: usage: readproctitle text ... dots\n"));
    }
}

#[test]
fn svscan_usage() {
    let (code, _, err) = out(cmd("svscan").args(["-t", "soon", "."]));
    assert_eq!(code, 100);
    assert!(err.contains("invalid duration"), "{err}");
    let (code, _, err) = out(cmd("svscan").args(["a", "b"]));
    assert_eq!(code, 100);
    assert!(err.ends_with("svscan: usage: svscan [-t timeout] [dir]\n"));
    let (code, _, err) = out(cmd("svscan").arg("/nonexistent/dir"));
    assert_eq!(code, 111);
    assert_eq!(
        err,
        "svscan: fatal: unable to chdir to /nonexistent/dir: file does not exist\n"
    );
}

#[test]
fn symlink_whose_target_appears_later_is_picked_up() {
    let t = TempDir::new("late");
    let scan = t.join("scan");
    std::fs::create_dir(&scan).unwrap();
    std::os::unix::fs::symlink(t.join("target"), scan.join("late")).unwrap();
    service(&scan.join("a"), "exec sleep 1000");
    let _p = svscan(&scan, &[]);
    must("first scan done", || status_pid(&scan.join("a")) != 0);
    // Nothing changes in the scan directory itself: only the timed rescan can see this.
    service(&t.join("target.tmp"), "exec sleep 1000");
    std::fs::rename(t.join("target.tmp"), t.join("target")).unwrap();
    must("late service up", || status_pid(&scan.join("late")) != 0);
}

#[test]
fn as_pid_1_in_a_pid_namespace() {
    let t = TempDir::new("pid1");
    let s = service(
        &t.join("s"),
        "(sleep 0.2 &)\necho spawned >> spawned\nexec sleep 1000",
    );
    let mut p = Proc::spawn(
        std::process::Command::new("unshare")
            .args(["--pid", "--fork", "--mount-proc", "--kill-child"])
            .arg(bin("svscan"))
            .arg(t.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null()),
    );
    p.services.push(s.clone());
    must("svscan started", || children(p.pid()).len() == 1);
    let scanner = children(p.pid())[0].0;
    let nspid = std::fs::read_to_string(format!("/proc/{scanner}/status")).unwrap();
    let nspid = nspid
        .lines()
        .find(|l| l.starts_with("NSpid:"))
        .unwrap()
        .to_string();
    assert!(nspid.ends_with("\t1"), "svscan is not PID 1: {nspid}");
    must("service up", || {
        status_pid(&s) != 0 && s.join("spawned").exists()
    });
    // The orphaned sleep is reparented to PID 1, which must reap it.
    must("no zombie under PID 1", || {
        let kids = children(scanner);
        kids.len() == 1 && kids.iter().all(|(_, z)| !z)
    });
    // PID 1 ignores signals it has no handler for; svscan handles TERM.
    signal(scanner, libc::SIGTERM);
    assert_eq!(p.wait_exit(), Some(0));
}

/// The supervise children of svscan `scanner`.
fn supervises(scanner: u32) -> Vec<u32> {
    children(scanner)
        .into_iter()
        .map(|(c, _)| c)
        .filter(|c| {
            std::fs::read(format!("/proc/{c}/cmdline"))
                .is_ok_and(|l| l.windows(9).any(|w| w == b"supervise"))
        })
        .collect()
}

/// When a process started, in clock ticks since boot (field 22 of /proc/PID/stat).
fn started_at(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let f: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    f[19].parse().unwrap()
}

fn read_pid(path: &Path) -> u32 {
    let mut pid = 0;
    must(&format!("{} written", path.display()), || {
        pid = lines(path)
            .first()
            .and_then(|l| l.parse().ok())
            .unwrap_or(0);
        pid != 0
    });
    pid
}

#[test]
fn dead_supervise_leaves_no_background_child_and_restarts_are_throttled() {
    let t = TempDir::new("leftover");
    // A background child in run's process group, and a new pid file per start.
    let s = service(
        &t.join("s"),
        "sleep 1000 &\necho $! > bg.new\nmv bg.new bg\nexec sleep 1000",
    );
    let p = svscan(t.path(), &[]);
    let mut starts = Vec::new();
    for round in 0..4 {
        must("up", || {
            status_pid(&s) != 0 && supervises(p.pid()).len() == 1
        });
        let bg = read_pid(&s.join("bg"));
        let service_pid = status_pid(&s);
        std::fs::remove_file(s.join("bg")).unwrap();
        let sup = supervises(p.pid())[0];
        starts.push(started_at(sup));
        signal(sup, libc::SIGKILL);
        must(
            &format!("round {round}: old service and its child gone"),
            || !alive(service_pid) && !alive(bg),
        );
        must("new supervise", || {
            supervises(p.pid()).iter().any(|c| *c != sup)
        });
    }
    // A supervise killed soon after it started is restarted at most once a second (the
    // first ran for a while, so the second may start at once).
    for w in starts.windows(2).skip(1) {
        assert!(w[1] - w[0] >= 99, "restarted {} ticks after", w[1] - w[0]);
    }
    drop(p);
}

#[test]
fn dead_supervise_with_unreadable_status_gets_no_second_copy() {
    let t = TempDir::new("nostatus");
    let s = service(
        &t.join("s"),
        "echo $$ >> pids\ntrap '' TERM\nwhile :; do sleep 0.1; done",
    );
    let p = svscan(t.path(), &["-t", "1s"]);
    must("up", || lines(&s.join("pids")).len() == 1);
    let first: u32 = lines(&s.join("pids"))[0].parse().unwrap();
    // As if supervise had died before it wrote the status of what it started.
    signal(p.pid(), libc::SIGSTOP);
    let sup = supervises(p.pid())[0];
    signal(sup, libc::SIGKILL);
    must("supervise gone", || {
        std::fs::read_to_string(format!("/proc/{sup}/stat")).is_ok_and(|s| s.contains(") Z"))
    });
    std::fs::write(s.join("supervise/status"), b"garbage").unwrap();
    signal(p.pid(), libc::SIGCONT);
    must("second start", || lines(&s.join("pids")).len() == 2);
    assert!(!alive(first), "a second copy started beside the first");
    drop(p);
}

#[test]
fn term_stops_background_children_of_services() {
    let t = TempDir::new("bgterm");
    let s = service(&t.join("s"), "sleep 1000 &\necho $! > bg\nexec sleep 1000");
    service(
        &s.join("log"),
        "sleep 1000 &\necho $! > ../logbg\nexec cat > /dev/null",
    );
    let mut p = svscan(t.path(), &["-t", "2s"]);
    let bg = read_pid(&s.join("bg"));
    let logbg = read_pid(&s.join("logbg"));
    signal(p.pid(), libc::SIGTERM);
    assert_eq!(p.wait_exit(), Some(0));
    let gone = !alive(bg) && !alive(logbg);
    for pid in [bg, logbg] {
        signal(pid, libc::SIGKILL);
    }
    assert!(gone, "background children survived svscan's shutdown");
}

/// svscan with RLIMIT_NOFILE set to `soft`/`hard` before exec.
fn svscan_limited(dir: &Path, soft: u64, hard: u64) -> Proc {
    use std::os::unix::process::CommandExt;
    let mut c = cmd("svscan");
    c.arg(dir).stdin(Stdio::null()).stdout(Stdio::null());
    // SAFETY: setrlimit is async-signal-safe.
    unsafe {
        c.pre_exec(move || {
            let lim = libc::rlimit {
                rlim_cur: soft,
                rlim_max: hard,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut p = Proc::spawn(&mut c);
    p.services.push(dir.to_path_buf());
    p
}

#[test]
fn out_of_descriptors_svscan_degrades_and_keeps_scanning() {
    let t = TempDir::new("nofile");
    let scan = t.join("scan");
    let mut dirs = Vec::new();
    for i in 0..50 {
        let d = service(&scan.join(format!("s{i:02}")), "exec sleep 1000");
        if i % 2 == 0 {
            service(&d.join("log"), "exec sleep 1000");
        }
        dirs.push(d);
    }
    let p = svscan_limited(&scan, 32, 32);
    for d in &dirs {
        p_services_push(d);
    }
    // Some logged services come up with their loggers (daemontools: 13 of 25).
    let logged_up = || {
        dirs.iter()
            .step_by(2)
            .filter(|d| status_pid(d) != 0 && status_pid(&d.join("log")) != 0)
            .count()
    };
    must("some loggers up", || logged_up() >= 5);
    // None of the services with a logger writes anywhere but into its logger's pipe.
    for d in dirs.iter().step_by(2) {
        let pid = status_pid(d);
        if pid != 0 {
            let out = std::fs::read_link(format!("/proc/{pid}/fd/1")).unwrap();
            assert!(
                out.to_string_lossy().starts_with("pipe:"),
                "{} writes to {}",
                d.display(),
                out.display()
            );
        }
    }
    // The scan directory can still be read: a service added now starts.
    let late = service(&t.join("late"), "exec sleep 1000");
    std::fs::rename(&late, scan.join("late")).unwrap();
    must("late service up", || status_pid(&scan.join("late")) != 0);
    let all: Vec<u32> = dirs
        .iter()
        .flat_map(|d| [d.clone(), d.join("log")])
        .chain([scan.join("late")])
        .map(|d| status_pid(&d))
        .filter(|p| *p != 0)
        .collect();
    drop(p);
    for pid in all {
        signal(pid, libc::SIGKILL);
    }
}

/// Nothing to record: the services are KILLed by pid at the end of the test itself.
fn p_services_push(_: &Path) {}

#[test]
fn services_get_the_descriptor_limit_svscan_was_started_with() {
    let t = TempDir::new("limits");
    let s = service(
        &t.join("s"),
        "grep 'Max open files' /proc/self/limits > limits\nexec sleep 1000",
    );
    let _p = svscan_limited(t.path(), 256, 4096);
    must("limits written", || lines(&s.join("limits")).len() == 1);
    let l = lines(&s.join("limits"))[0].clone();
    let f: Vec<&str> = l.split_whitespace().collect();
    assert_eq!(&f[3..5], &["256", "4096"], "{l}");
}

#[test]
fn svscanboot_gives_the_tree_a_clean_environment() {
    let t = TempDir::new("bootenv");
    let s = service(&t.join("s"), "env > env\nexec sleep 1000");
    let mut p = Proc::spawn(
        cmd("svscanboot")
            .arg(t.path())
            .env("SECRET_TOKEN", "x")
            .env("PATH", "/opt/other-toolkit/bin:/usr/bin:/bin")
            .stdin(Stdio::null()),
    );
    p.services.push(s.clone());
    must("env written", || {
        lines(&s.join("env")).iter().any(|l| l.starts_with("PATH="))
    });
    let env = lines(&s.join("env"));
    assert!(!env.iter().any(|l| l.contains("SECRET_TOKEN")), "{env:?}");
    let path = env.iter().find(|l| l.starts_with("PATH=")).unwrap();
    let ours = Path::new(bin("svscan"))
        .parent()
        .unwrap()
        .display()
        .to_string();
    assert_eq!(
        path,
        &format!(
            "PATH={ours}:/command:/usr/local/bin:/usr/local/sbin:/bin:/sbin:/usr/bin:/usr/sbin"
        )
    );
}

#[test]
fn scan_directory_and_service_names_that_are_not_utf8() {
    use std::os::unix::ffi::OsStrExt;
    let t = TempDir::new("bytes");
    let scan = t.join(std::ffi::OsStr::from_bytes(b"caf\xe9"));
    let s = service(
        &scan.join(std::ffi::OsStr::from_bytes(b"n\xe4me")),
        "exec sleep 1000",
    );
    for prog in ["svscan", "svscanboot"] {
        let mut p = Proc::spawn(
            cmd(prog)
                .arg(&scan)
                .stdin(Stdio::null())
                .stdout(Stdio::null()),
        );
        p.services.push(s.clone());
        must(&format!("{prog}: service up"), || status_pid(&s) != 0);
        signal(p.pid(), libc::SIGTERM);
        assert_eq!(p.wait_exit(), Some(0), "{prog}");
    }
}

#[test]
fn a_fifo_for_a_status_file_does_not_freeze_svscan() {
    let t = TempDir::new("fifostatus");
    let s = service(&t.join("s"), "echo $$ >> pids\nexec sleep 1000");
    let mut p = svscan(t.path(), &["-t", "1s"]);
    must("up", || lines(&s.join("pids")).len() == 1);
    let first: u32 = lines(&s.join("pids"))[0].parse().unwrap();
    signal(p.pid(), libc::SIGSTOP);
    let sup = supervises(p.pid())[0];
    signal(sup, libc::SIGKILL);
    must("supervise gone", || {
        std::fs::read_to_string(format!("/proc/{sup}/stat")).is_ok_and(|s| s.contains(") Z"))
    });
    let status = s.join("supervise/status");
    std::fs::remove_file(&status).unwrap();
    let c = std::ffi::CString::new(status.to_str().unwrap()).unwrap();
    // SAFETY: a valid C string.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    signal(p.pid(), libc::SIGCONT);
    // svscan finds what the dead supervise left (by its working directory), stops it,
    // and starts a new supervise, which puts a regular status file in place.
    must("old service gone", || !alive(first));
    must("restarted", || lines(&s.join("pids")).len() == 2);
    signal(p.pid(), libc::SIGTERM);
    assert_eq!(p.wait_exit(), Some(0));
}

#[test]
fn usr1_and_usr2_are_passed_on_to_services_not_loggers() {
    let t = TempDir::new("usr");
    let trap = "trap 'echo USR1 >> got' USR1\ntrap 'echo USR2 >> got' USR2\n\
                echo $$ > pid\nwhile :; do sleep 0.05; done";
    let s = service(&t.join("s"), trap);
    service(
        &s.join("log"),
        "trap 'echo USR1 >> ../loggot' USR1\ntrap 'echo USR2 >> ../loggot' USR2\n\
         trap 'echo ALRM >> ../logalrm' ALRM\n\
         echo $$ > ../logpid\nwhile :; do sleep 0.05; done",
    );
    let mut p = svscan(t.path(), &[]);
    must("up", || {
        lines(&s.join("pid")) == [status_pid(&s).to_string()]
            && !lines(&s.join("logpid")).is_empty()
    });
    let pid = status_pid(&s);
    signal(p.pid(), libc::SIGUSR1);
    must("USR1 passed on", || lines(&s.join("got")) == ["USR1"]);
    signal(p.pid(), libc::SIGUSR2);
    must("USR2 passed on", || {
        lines(&s.join("got")) == ["USR1", "USR2"]
    });
    // svscan sent on both signals before the service said it got USR2. An ALRM sent to
    // the logger now comes after anything svscan sent it: the shell (dash) runs
    // pending traps in signal-number order (USR1 10, USR2 12, ALRM 14), so once the
    // logger has said ALRM it would have said USR1 or USR2 already.
    let logpid: u32 = lines(&s.join("logpid"))[0].parse().unwrap();
    signal(logpid, libc::SIGALRM);
    must("logger got ALRM", || s.join("logalrm").exists());
    assert!(!s.join("loggot").exists(), "the logger got a signal");
    // svscan answers a later HUP: it is still there and its loop still runs.
    let late = service(&t.join(".late"), "exec sleep 1000");
    std::fs::rename(&late, t.join("late")).unwrap();
    signal(p.pid(), libc::SIGHUP);
    must("late service up", || status_pid(&t.join("late")) != 0);
    assert!(matches!(p.child.try_wait(), Ok(None)), "svscan died");
    assert_eq!(status_pid(&s), pid);
    p.services.push(t.join("late"));
}

#[test]
fn a_second_svscan_on_the_same_directory_is_refused() {
    let t = TempDir::new("twice");
    let s = service(&t.join("s"), "exec sleep 1000");
    let _p = svscan(t.path(), &[]);
    must("up", || status_pid(&s) != 0);
    let mut second = Proc::spawn(
        cmd("svscan")
            .arg(t.path())
            .stdin(Stdio::null())
            .stderr(Stdio::piped()),
    );
    assert_eq!(second.wait_exit(), Some(111));
    let err = second.stderr();
    assert_eq!(
        err,
        format!(
            "svscan: fatal: unable to lock {}: another svscan runs there\n",
            t.path().display()
        )
    );
}

#[test]
fn directories_without_run_get_no_supervise_until_they_have_one() {
    let t = TempDir::new("norun");
    std::fs::create_dir(t.join("notes")).unwrap();
    let s = service(&t.join("s"), "exec sleep 1000");
    let mut p = Proc::spawn(
        cmd("svscan")
            .arg(t.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
    );
    p.services.push(t.path().to_path_buf());
    must("s up", || status_pid(&s) != 0);
    // At the timed rescan, notes still has no run: no supervise/ was put there (an
    // absence: wait past the 5-second rescan).
    assert!(!wait_for(Duration::from_secs(6), || t
        .join("notes/supervise")
        .exists()));
    script(&t.join("notes/run"), "exec sleep 1000");
    must("notes up once it has a run", || {
        status_pid(&t.join("notes")) != 0
    });
    p.services.push(t.join("notes"));
    signal(p.pid(), libc::SIGTERM);
    assert_eq!(p.wait_exit(), Some(0));
    let err = p.stderr();
    let mut said: Vec<&str> = err.lines().collect();
    said.sort_unstable();
    assert_eq!(
        said,
        [
            "svscan: stopped notes",
            "svscan: stopped s",
            "svscan: warning: notes has no run file: not supervised until it has one"
        ]
    );
}

#[test]
fn a_loggers_supervise_names_its_service() {
    let t = TempDir::new("logname");
    let s = service(&t.join("web"), "exec sleep 1000");
    std::fs::create_dir(s.join("log")).unwrap();
    // A log/run that cannot be executed.
    std::fs::write(s.join("log/run"), "#!/nonexistent/interpreter\n").unwrap();
    let mut p = Proc::spawn(
        cmd("svscan")
            .arg(t.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
    );
    p.services.push(s.clone());
    must("service up", || status_pid(&s) != 0);
    let logger = supervises(p.pid()).into_iter().find(|c| {
        std::fs::read(format!("/proc/{c}/cmdline")).is_ok_and(|l| l.ends_with(b"web/log\0"))
    });
    assert!(logger.is_some(), "no supervise titled web/log");
    signal(p.pid(), libc::SIGTERM);
    assert_eq!(p.wait_exit(), Some(0));
    let err = p.stderr();
    assert!(err.contains("web/log/run"), "{err}");
}

/// svscan on a tree whose service `main` has a main file and `run`; returns its exit
/// code and whether the side service was stopped.
fn main_service_tree(tag: &str, run: &str, finish: Option<&str>) -> (Option<i32>, bool) {
    let t = TempDir::new(tag);
    // The main service ends only once the side service runs.
    let m = service(
        &t.join("m"),
        &format!("while [ ! -s ../side/pid ]; do sleep 0.05; done\n{run}"),
    );
    std::fs::write(m.join("main"), "").unwrap();
    if let Some(f) = finish {
        script(&m.join("finish"), f);
    }
    let side = service(&t.join("side"), "echo $$ > pid\nexec sleep 1000");
    let mut p = svscan(t.path(), &["-t", "2s"]);
    let code = p.wait_exit();
    let side_pid = lines(&side.join("pid"))
        .first()
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    (code, side_pid != 0 && !alive(side_pid))
}

#[test]
fn svscan_exits_with_its_main_services_code() {
    assert_eq!(
        main_service_tree("main-code", "exit 3", None),
        (Some(3), true)
    );
    // Killed by a signal: 128 + its number.
    assert_eq!(
        main_service_tree("main-signal", "kill -KILL $$", None),
        (Some(128 + 9), true)
    );
    // A finish that asks svscan (its parent's parent) to stop: the code stays 3.
    assert_eq!(
        main_service_tree(
            "main-finish",
            "exit 3",
            Some("kill -TERM $(ps -o ppid= -p $PPID)")
        ),
        (Some(3), true)
    );
}

#[test]
fn at_shutdown_loggers_read_their_input_to_its_end() {
    let t = TempDir::new("drain");
    let s = service(
        &t.join("s"),
        "i=0; while [ $i -lt 3000 ]; do i=$((i+1)); echo line $i; done\necho done > written\nexec sleep 1000",
    );
    // A reader that starts reading only when told: all 3000 lines are still in the
    // pipe at TERM.
    service(
        &s.join("log"),
        "while [ ! -e ../go ]; do sleep 0.02; done\nwhile read -r l; do echo \"$l\" >> ../out; done",
    );
    let mut p = svscan(t.path(), &["-t", "10s"]);
    must("all written", || s.join("written").exists());
    signal(p.pid(), libc::SIGTERM);
    must("service stopped", || status_pid(&s) == 0);
    std::fs::write(s.join("go"), "").unwrap();
    assert_eq!(p.wait_exit(), Some(0));
    assert_eq!(lines(&s.join("out")).len(), 3000, "lines lost at shutdown");
}
