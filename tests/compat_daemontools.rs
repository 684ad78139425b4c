//! Byte compatibility with Debian's daemontools, checked against the real tools in
//! /usr/bin: each side reads and controls what the other writes.

mod common;
use common::*;
use std::path::Path;
use std::process::{Command, Stdio};

/// svstat output with the seconds count replaced, since two calls may straddle a second.
fn normalized(line: &str) -> String {
    let mut words: Vec<String> = line.split(' ').map(str::to_string).collect();
    for i in 1..words.len() {
        if words[i].starts_with("seconds") && words[i - 1].chars().all(|c| c.is_ascii_digit()) {
            words[i - 1] = "N".into();
        }
    }
    words.join(" ")
}

fn real_svstat(dir: &Path) -> String {
    let (code, o, _) = out(Command::new(daemontools("svstat")).arg(dir));
    assert_eq!(code, 0);
    o.trim_end().to_string()
}

fn same_svstat(dir: &Path) -> String {
    let ours = normalized(&svstat(dir));
    let theirs = normalized(&real_svstat(dir));
    assert_eq!(ours, theirs, "svkit svstat vs daemontools svstat");
    ours
}

/// A daemontools supervise, stopped by pid (svc -dx, then KILL) and reaped on drop.
fn real_supervise(dir: &Path) -> Proc {
    let mut p = Proc::spawn(
        Command::new(daemontools("supervise"))
            .arg(dir)
            .stdin(Stdio::null()),
    );
    p.services.push(dir.to_path_buf());
    must("daemontools supervise up", || ok(dir));
    p
}

#[test]
fn daemontools_svstat_and_svok_read_our_status() {
    let t = TempDir::new("compat1");
    let s = service(&t.join("s"), "exec sleep 1000");
    std::fs::write(s.join("down"), "").unwrap();
    let _p = Proc::supervise(&s);
    let name = s.display().to_string();
    assert!(same_svstat(&s).starts_with(&format!("{name}: down N seconds")));
    svc("-u", &s);
    must("up", || status_pid(&s) != 0);
    let pid = status_pid(&s);
    assert_eq!(
        same_svstat(&s),
        format!("{name}: up (pid {pid}) N seconds, normally down")
    );
    svc("-p", &s);
    must("paused", || svstat(&s).contains("paused"));
    assert_eq!(
        same_svstat(&s),
        format!("{name}: up (pid {pid}) N seconds, normally down, paused")
    );
    svc("-c", &s);
    std::fs::remove_file(s.join("down")).unwrap();
    // A process that ignores TERM stays up with want down.
    script(
        &s.join("run"),
        "trap '' TERM\necho $$ > pid\nwhile :; do sleep 0.05; done",
    );
    svc("-k", &s);
    must("restarted", || {
        status_pid(&s) != 0
            && status_pid(&s) != pid
            && lines(&s.join("pid")) == vec![status_pid(&s).to_string()]
    });
    let pid = status_pid(&s);
    svc("-d", &s);
    must("want down", || svstat(&s).ends_with("want down"));
    assert_eq!(
        same_svstat(&s),
        format!("{name}: up (pid {pid}) N seconds, want down")
    );
    svc("-k", &s);
    must("down", || status_pid(&s) == 0);
    std::fs::write(s.join("down"), "").unwrap();
    assert_eq!(same_svstat(&s), format!("{name}: down N seconds"));
    std::fs::remove_file(s.join("down")).unwrap();
    assert_eq!(
        same_svstat(&s),
        format!("{name}: down N seconds, normally up")
    );
    let real_svok = |d: &Path| out(Command::new(daemontools("svok")).arg(d)).0;
    assert_eq!(real_svok(&s), 0);
    drop(_p);
    assert_eq!(same_svstat(&s), format!("{name}: supervise not running"));
    assert_eq!(real_svok(&s), 100);
}

#[test]
fn our_svstat_reads_daemontools_status() {
    let t = TempDir::new("compat2");
    let s = service(&t.join("s"), "exec sleep 1000");
    let _p = real_supervise(&s);
    must("up", || status_pid(&s) != 0);
    assert_eq!(
        std::fs::metadata(s.join("supervise/status")).unwrap().len(),
        18
    );
    let pid = status_pid(&s);
    let name = s.display().to_string();
    assert_eq!(same_svstat(&s), format!("{name}: up (pid {pid}) N seconds"));
    // Our svc drives the real supervise.
    svc("-p", &s);
    must("paused", || real_svstat(&s).contains("paused"));
    assert_eq!(
        same_svstat(&s),
        format!("{name}: up (pid {pid}) N seconds, paused")
    );
    svc("-cd", &s);
    must("down", || status_pid(&s) == 0);
    assert_eq!(
        same_svstat(&s),
        format!("{name}: down N seconds, normally up")
    );
    let (_, json, _) = out(cmd("svstat").arg("-j").arg(&s));
    assert!(json.contains("\"state\":\"down\""), "{json}");
    assert!(
        !json.contains("starts"),
        "daemontools status has no extension: {json}"
    );
    assert_eq!(out(cmd("svok").arg(&s)).0, 0);
}

#[test]
fn daemontools_svc_drives_our_supervise() {
    let t = TempDir::new("compat3");
    let s = service(&t.join("s"), "exec sleep 1000");
    let mut p = Proc::supervise(&s);
    must("up", || status_pid(&s) != 0);
    let real_svc = |opt: &str| {
        let (code, _, err) = out(Command::new(daemontools("svc")).arg(opt).arg(&s));
        assert_eq!((code, err.as_str()), (0, ""));
    };
    real_svc("-d");
    must("down", || status_pid(&s) == 0);
    real_svc("-u");
    must("up again", || status_pid(&s) != 0);
    real_svc("-dx");
    assert_eq!(p.wait_exit(), Some(0));
}

#[test]
fn once_and_want_bytes_match_daemontools() {
    // The same commands to both supervisors leave the same want/paused bytes.
    let t = TempDir::new("compat4");
    let ours = service(&t.join("ours"), "exec sleep 1000");
    let theirs = service(&t.join("theirs"), "exec sleep 1000");
    for d in [&ours, &theirs] {
        std::fs::write(d.join("down"), "").unwrap();
    }
    let _a = Proc::supervise(&ours);
    let _b = real_supervise(&theirs);
    let tail = |d: &Path| std::fs::read(d.join("supervise/status")).unwrap()[16..18].to_vec();
    assert_eq!(tail(&ours), tail(&theirs));
    for opt in ["-o", "-p", "-c", "-u", "-d"] {
        svc(opt, &ours);
        svc(opt, &theirs);
        // daemontools sleeps a second after each start before it reads commands again.
        must(&format!("both settled after {opt}"), || {
            tail(&ours) == tail(&theirs) && (status_pid(&ours) == 0) == (status_pid(&theirs) == 0)
        });
    }
}

#[test]
fn error_phrases_match_daemontools() {
    let t = TempDir::new("compat5");
    let file = t.join("file");
    std::fs::write(&file, "").unwrap();
    let bare = t.join("bare");
    std::fs::create_dir(&bare).unwrap();
    // Ours may add the cause in parentheses after daemontools' words (a directory
    // no supervise ever ran in): scripts match the words, which stay the same.
    let same_words = |ours: &str, theirs: &str, what: &str| {
        let (o, t) = (ours.trim_end_matches('\n'), theirs.trim_end_matches('\n'));
        assert!(
            o == t || (o.starts_with(t) && o[t.len()..].starts_with(" (") && o.ends_with(')')),
            "{what}: ours {o:?}, daemontools' {t:?}"
        );
    };
    for d in [t.join("missing"), file, bare] {
        same_words(&svstat(&d), &real_svstat(&d), "svstat");
        let ours = out(cmd("svok").arg(&d));
        let theirs = out(Command::new(daemontools("svok")).arg(&d));
        assert_eq!(ours.0, theirs.0, "svok exit code for {}", d.display());
        assert_eq!(ours.2, theirs.2, "svok message for {}", d.display());
        let ours = out(cmd("svc").arg("-u").arg(&d));
        let theirs = out(Command::new(daemontools("svc")).arg("-u").arg(&d));
        same_words(&ours.2, &theirs.2, "svc warning");
        // We exit 111 where daemontools exits 0, so wrapper scripts can tell.
        assert_eq!((ours.0, theirs.0), (111, 0));
    }
}

#[test]
fn readproctitle_title_matches_daemontools() {
    use std::io::Write;
    let input = b"hello\nworld\nsupervise: warning: unable to start x/run: file does not exist\n";
    let mut titles = Vec::new();
    for prog in [daemontools("readproctitle"), bin("readproctitle").into()] {
        let mut p = Proc::spawn(
            Command::new(&prog)
                .args(["service", "errors:", "...................."])
                .stdin(Stdio::piped()),
        );
        let mut stdin = p.child.stdin.take().unwrap();
        stdin.write_all(input).unwrap();
        let cmdline = || std::fs::read(format!("/proc/{}/cmdline", p.pid())).unwrap_or_default();
        must("title shows the end of the input", || {
            cmdline().ends_with(b"exist\n\0")
        });
        let c = cmdline();
        titles.push(c[c.iter().position(|&b| b == 0).unwrap()..].to_vec());
        drop(stdin);
        assert_eq!(p.wait_exit(), Some(0));
    }
    assert_eq!(
        String::from_utf8_lossy(&titles[0]),
        String::from_utf8_lossy(&titles[1])
    );
}

/// The admin frontends drive daemontools' supervise too (no event FIFOs there: they
/// wait through inotify), with the same answers.
#[test]
fn frontends_drive_daemontools_supervise() {
    let t = TempDir::new("compat-admin");
    let s = service(&t.join("s"), "exec sleep 1000");
    std::fs::write(s.join("down"), "").unwrap();
    let _p = real_supervise(&s);
    must("supervise/ok", || ok(&s));
    let (code, stdout, _) = out(cmd("svcstart").args(["-s", "300ms"]).arg(&s));
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.ends_with("....OK\n"), "{stdout}");
    let pid = status_pid(&s);
    assert!(pid != 0);
    assert!(real_svstat(&s).contains(&format!("up (pid {pid})")));
    let (code, stdout, _) = out(cmd("svcstop").arg(&s));
    assert_eq!(code, 0, "{stdout}");
    assert!(!alive(pid));
    assert!(real_svstat(&s).contains(": down "));
    // A run that dies at once under daemontools' supervise: failed, and left down.
    script(&s.join("run"), "exit 1");
    let (code, stdout, _) = out(cmd("svcstart").arg(&s));
    assert_eq!(code, 1, "{stdout}");
    must("down again", || status_pid(&s) == 0);
}

/// clinit under daemontools' svscan: its directories are picked up at the next
/// rescan (every 5 s), then switched as under ours.
#[test]
fn clinit_under_daemontools_svscan() {
    let t = TempDir::new("compat-clinit");
    let scan = t.join("scan");
    std::fs::create_dir(&scan).unwrap();
    let mut scanner = Proc::spawn(
        Command::new(daemontools("svscan"))
            .arg(&scan)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    std::fs::write(
        t.join("cltab"),
        format!(
            ":::clstat:{}/clstat\n:::stop-interval:1s\ng:a:1:respawn:exec sleep 1015\ng:b:2:respawn:exec sleep 1016\n",
            t.path().display()
        ),
    )
    .unwrap();
    let clinit = |level: &str| {
        out(cmd("clinit")
            .arg("-f")
            .arg(t.join("cltab"))
            .arg("-S")
            .arg(&scan)
            .args(["g", level]))
    };
    let (code, _, err) = clinit("1");
    let (a, b) = (scan.join("g.a"), scan.join("g.b"));
    let result = std::panic::catch_unwind(|| {
        assert_eq!((code, err.as_str()), (0, ""));
        assert!(real_svstat(&a).contains("up (pid"));
        let (code, _, err) = clinit("2");
        assert_eq!((code, err.as_str()), (0, ""));
        assert!(real_svstat(&a).contains(": down "));
        assert!(real_svstat(&b).contains("up (pid"));
    });
    // daemontools' svscan does not stop its services: svc -dx each, then the scanner.
    for d in [&a, &b] {
        let pid = status_pid(d);
        let _ = Command::new(daemontools("svc")).arg("-dx").arg(d).status();
        if pid != 0 {
            must("service gone", || !alive(pid));
        }
    }
    scanner.stop();
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}
