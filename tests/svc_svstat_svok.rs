//! svc, svstat and svok: messages and exit codes, bad input, JSON.

mod common;
use common::*;

#[test]
fn svc_on_missing_dir_file_and_unsupervised_dir() {
    let t = TempDir::new("svcbad");
    let file = t.join("file");
    std::fs::write(&file, "").unwrap();
    let bare = t.join("bare");
    std::fs::create_dir(&bare).unwrap();
    let missing = t.join("missing");
    let (code, o, err) = out(cmd("svc").arg("-u").arg(&missing).arg(&file).arg(&bare));
    assert_eq!(code, 111);
    assert_eq!(o, "");
    assert_eq!(
        err,
        format!(
            "svc: warning: unable to chdir to {m}: file does not exist\n\
             svc: warning: unable to chdir to {f}: not a directory\n\
             svc: warning: unable to control {b}: file does not exist \
             (no supervise runs there: start svscan on its parent directory, or supervise {b})\n",
            m = missing.display(),
            f = file.display(),
            b = bare.display()
        )
    );
}

#[test]
fn svc_reports_supervise_not_running_but_still_serves_the_others() {
    let t = TempDir::new("svcnr");
    let a = service(&t.join("a"), "exec sleep 1000");
    let b = service(&t.join("b"), "exec sleep 1000");
    std::fs::write(b.join("down"), "").unwrap();
    let p = Proc::supervise(&b);
    drop(p);
    let c = service(&t.join("c"), "exec sleep 1000");
    std::fs::write(c.join("down"), "").unwrap();
    let _pc = Proc::supervise(&c);
    let (code, _, err) = out(cmd("svc").arg("-u").arg(&a).arg(&b).arg(&c));
    assert_eq!(code, 111);
    assert!(err.contains(&format!(
        "svc: warning: unable to control {}: supervise not running\n",
        b.display()
    )));
    must("c came up although b failed", || status_pid(&c) != 0);
}

#[test]
fn svc_usage() {
    for args in [
        &[][..],
        &["-u"][..],
        &["-z", "/tmp"][..],
        &["--bogus", "/tmp"][..],
    ] {
        let (code, _, err) = out(cmd("svc").args(args));
        assert_eq!(code, 100, "{args:?}");
        assert!(
            err.ends_with("svc: usage: svc [-udopchaitkxrq12w+=] service ...\n"),
            "{err}"
        );
    }
    let (code, o, _) = out(cmd("svc").arg("--help"));
    assert_eq!(
        (code, o.as_str()),
        (0, "svc: usage: svc [-udopchaitkxrq12w+=] service ...\n")
    );
}

#[test]
fn svc_several_options_in_order() {
    let t = TempDir::new("svcmulti");
    let s = service(&t.join("s"), "exec sleep 1000");
    std::fs::write(s.join("down"), "").unwrap();
    let mut p = Proc::supervise(&s);
    let (code, _, _) = out(cmd("svc").args(["-u", "-p"]).arg(&s));
    assert_eq!(code, 0);
    must("up and paused", || {
        svstat(&s).ends_with(", normally down, paused")
    });
    let pid = status_pid(&s);
    let (code, _, _) = out(cmd("svc").arg("-dx").arg(&s));
    assert_eq!(code, 0);
    assert_eq!(p.wait_exit(), Some(0));
    assert!(!alive(pid));
}

#[test]
fn svstat_errors_in_daemontools_words() {
    let t = TempDir::new("svstatbad");
    let file = t.join("file");
    std::fs::write(&file, "").unwrap();
    let bare = t.join("bare");
    std::fs::create_dir(&bare).unwrap();
    let missing = t.join("missing");
    let (code, o, _) = out(cmd("svstat").arg(&missing).arg(&file).arg(&bare));
    // daemontools' svstat exits 0 here; ours says that a service could not be read.
    assert_eq!(code, 111);
    assert_eq!(
        o,
        format!(
            "{}: unable to chdir: file does not exist\n{}: unable to chdir: not a directory\n{b}: unable to open supervise/ok: file does not exist \
             (no supervise runs there: start svscan on its parent directory, or supervise {b})\n",
            missing.display(),
            file.display(),
            b = bare.display()
        )
    );
}

#[test]
fn svstat_on_corrupt_and_truncated_status() {
    let t = TempDir::new("corrupt");
    let s = service(&t.join("s"), "exec sleep 1000");
    let _p = Proc::supervise(&s);
    must("up", || status_pid(&s) != 0);
    // Replace the status while supervise holds its ok FIFO; it rewrites only on a change.
    for bad in [&b""[..], &b"short"[..], &[0xffu8; 18][..]] {
        std::fs::write(s.join("supervise/status"), bad).unwrap();
        assert_eq!(
            svstat(&s),
            format!(
                "{}: unable to read supervise/status: bad format",
                s.display()
            )
        );
        let (code, o, _) = out(cmd("svstat").arg("-j").arg(&s));
        assert_eq!(code, 111);
        assert!(o.contains("\"state\":\"error\""), "{o}");
    }
    std::fs::remove_file(s.join("supervise/status")).unwrap();
    assert_eq!(
        svstat(&s),
        format!(
            "{}: unable to open supervise/status: file does not exist",
            s.display()
        )
    );
    // supervise is not disturbed and writes a good status on the next change.
    svc("-d", &s);
    must("down", || svstat(&s).contains(": down "));
}

#[test]
fn svstat_json() {
    let t = TempDir::new("json");
    let s = service(&t.join("s"), "exec sleep 1000");
    let _p = Proc::supervise(&s);
    must("up", || status_pid(&s) != 0);
    let pid = status_pid(&s);
    let (code, o, _) = out(cmd("svstat").arg("--json").arg(&s).arg(t.join("nope")));
    assert_eq!(code, 111);
    let l: Vec<&str> = o.lines().collect();
    assert_eq!(l.len(), 2);
    let name = s.display().to_string();
    assert!(
        l[0].starts_with(&format!(
            "{{\"service\":\"{name}\",\"state\":\"up\",\"pid\":{pid},\"seconds\":"
        )),
        "{}",
        l[0]
    );
    assert!(
        l[0].ends_with(",\"normally_up\":true,\"want\":\"up\",\"paused\":false,\"starts\":1,\"last_exit\":null,\"finishing\":false,\"backoff\":0,\"bad_settings\":false,\"ready\":null}"),
        "{}",
        l[0]
    );
    assert!(
        l[1].contains("\"state\":\"error\",\"error\":\"unable to chdir: file does not exist\"")
    );
    assert_eq!(out(&mut cmd("svstat")).0, 100);
    let (code, _, err) = out(cmd("svstat").arg("-q").arg(&s));
    assert_eq!(code, 100);
    assert!(err.ends_with("svstat: usage: svstat [-j] service ...\n"));
}

#[test]
fn svok_exit_codes() {
    let t = TempDir::new("svok");
    let s = service(&t.join("s"), "exec sleep 1000");
    let bare = t.join("bare");
    std::fs::create_dir(&bare).unwrap();
    let code = |p: &std::path::Path| out(cmd("svok").arg(p)).0;
    assert_eq!(code(&bare), 100);
    let (c, _, err) = out(cmd("svok").arg(t.join("missing")));
    assert_eq!(c, 111);
    assert_eq!(
        err,
        format!(
            "svok: fatal: unable to chdir to {}: file does not exist\n",
            t.join("missing").display()
        )
    );
    {
        let _p = Proc::supervise(&s);
        assert_eq!(code(&s), 0);
    }
    assert_eq!(code(&s), 100);
    assert_eq!(out(&mut cmd("svok")).0, 100);
    assert_eq!(out(cmd("svok").args(["a", "b"])).0, 100);
}

#[test]
fn svc_r_restarts_a_running_service() {
    let t = TempDir::new("svcr");
    let s = service(&t.join("s"), "exec sleep 1000");
    let _p = Proc::supervise(&s);
    must("up", || status_pid(&s) != 0);
    let first = status_pid(&s);
    // Within a second of the start the throttle delays the new start; it still comes.
    let (code, _, _) = out(cmd("svc").arg("-r").arg(&s));
    assert_eq!(code, 0);
    must("restarted", || {
        let p = status_pid(&s);
        p != 0 && p != first
    });
    assert!(!alive(first));
    assert!(svstat(&s).contains(": up (pid "));
}

/// A `supervise/status` that is a FIFO, a symlink to /dev/zero or a directory is "bad
/// format", as daemontools' svstat says of a FIFO, and never hangs svstat.
#[test]
fn svstat_on_a_status_that_is_no_regular_file() {
    let t = TempDir::new("svstatfifo");
    let fifo = t.join("fifo");
    let _held = fake_supervise(&fifo, mkfifo);
    let zero = t.join("zero");
    let _held2 = fake_supervise(&zero, |p| {
        std::os::unix::fs::symlink("/dev/zero", p).unwrap()
    });
    let dir = t.join("dir");
    let _held3 = fake_supervise(&dir, |p| std::fs::create_dir(p).unwrap());
    for s in [&fifo, &zero, &dir] {
        let (code, o, e) = out_within(cmd("svstat").arg(s));
        assert_eq!(code, 111, "{e}");
        assert_eq!(
            o,
            format!(
                "{}: unable to read supervise/status: bad format\n",
                s.display()
            )
        );
    }
    // daemontools' own svstat says the same of the FIFO.
    let (_, o, _) = out_within(std::process::Command::new(daemontools("svstat")).arg(&fifo));
    assert_eq!(
        o,
        format!(
            "{}: unable to read supervise/status: bad format\n",
            fifo.display()
        )
    );
}

/// A service directory whose name is not UTF-8: svc acts on it and svstat reads it,
/// under its own name (shown lossily).
#[test]
fn names_that_are_not_utf8() {
    let t = TempDir::new("svclatin1");
    let s = service(&latin1_name(t.path()), "exec sleep 1000");
    std::fs::write(s.join("down"), "").unwrap();
    let _p = supervise_via_alias(&s);
    svc("-u", &s);
    must("up", || status_pid(&s) != 0);
    let (code, o, e) = out_within(cmd("svstat").arg(&s));
    assert_eq!(code, 0, "{e}");
    assert!(o.contains("caf\u{fffd}: up (pid "), "{o}");
    let (code, o, _) = out_within(cmd("svstat").arg("-j").arg(&s));
    assert_eq!(code, 0);
    assert!(o.contains("caf\u{fffd}\""), "{o}");
    svc("-d", &s);
    must("down", || status_pid(&s) == 0);
    assert_eq!(out_within(cmd("svok").arg(&s)).0, 0);
}

/// svc writes only into a FIFO: a `supervise/control` that is a symbolic link to a
/// file of root's, or a regular file, is no supervise listening, and is not written.
#[test]
fn svc_never_writes_through_a_planted_control() {
    let t = TempDir::new("svcplanted");
    let precious = t.join("precious");
    std::fs::write(&precious, "root's\n").unwrap();
    let s = t.join("s");
    let held = fake_supervise(&s, |p| std::fs::write(p, [0u8; 18]).unwrap());
    drop(held);
    let control = s.join("supervise/control");
    std::fs::remove_file(&control).unwrap();
    std::os::unix::fs::symlink(&precious, &control).unwrap();
    let (code, _, err) = out_within(cmd("svc").arg("-u").arg(&s));
    assert_eq!(code, 111);
    assert_eq!(
        err,
        format!(
            "svc: warning: unable to control {}: supervise not running\n",
            s.display()
        )
    );
    assert_eq!(std::fs::read_to_string(&precious).unwrap(), "root's\n");
    std::fs::remove_file(&control).unwrap();
    std::fs::write(&control, "").unwrap();
    assert_eq!(out_within(cmd("svc").arg("-u").arg(&s)).0, 111);
    assert_eq!(std::fs::read(&control).unwrap(), b"");
}

/// svstat exits 0 when it read every service, 111 when one could not be read (not
/// there, no supervise, no status), after printing every line.
#[test]
fn svstat_exit_code_says_whether_every_service_was_read() {
    let t = TempDir::new("svstatcode");
    let s = service(&t.join("s"), "exec sleep 1000");
    let _p = Proc::supervise(&s);
    must("up", || status_pid(&s) != 0);
    let (code, o, _) = out(cmd("svstat").arg(&s));
    assert_eq!(code, 0, "{o}");
    let unsupervised = t.join("u");
    std::fs::create_dir(&unsupervised).unwrap();
    for other in [t.join("missing"), unsupervised] {
        let (code, o, _) = out(cmd("svstat").arg(&other).arg(&s));
        assert_eq!(code, 111, "{o}");
        assert_eq!(o.lines().count(), 2, "{o}");
        assert!(o.lines().nth(1).unwrap().contains(": up (pid "), "{o}");
        assert_eq!(out(cmd("svstat").arg("-j").arg(&other)).0, 111);
    }
}

/// encore's letters: -q -1 -2 -w send QUIT, USR1, USR2 and WINCH to the service.
#[test]
fn svc_q_1_2_w_signal_the_service() {
    let t = TempDir::new("svcsigs");
    let s = service(
        &t.join("s"),
        "for sig in QUIT USR1 USR2 WINCH; do trap \"echo $sig >> got\" $sig; done\n\
         echo $$ > pid\n\
         while :; do sleep 0.05; done",
    );
    let _p = Proc::supervise(&s);
    must("run started", || {
        lines(&s.join("pid")) == vec![status_pid(&s).to_string()]
    });
    let pid = status_pid(&s);
    let mut want = Vec::new();
    for (opt, name) in [
        ("-q", "QUIT"),
        ("-1", "USR1"),
        ("-2", "USR2"),
        ("-w", "WINCH"),
    ] {
        let (code, _, err) = out(cmd("svc").arg(opt).arg(&s));
        assert_eq!(code, 0, "svc {opt}: {err}");
        want.push(name.to_string());
        must(name, || lines(&s.join("got")) == want);
    }
    assert_eq!(status_pid(&s), pid, "the service survived its signals");
}

/// A run script without exec: `svc -d` TERMs the shell only and its background child
/// lives on; `svc -+d` (encore's process group mode) stops the child as well.
#[test]
fn svc_plus_signals_the_whole_process_group() {
    let t = TempDir::new("svcgroup");
    let s = service(&t.join("s"), "sleep 1000 &\necho $! > child\nwait");
    std::fs::write(s.join("down"), "").unwrap();
    let _p = Proc::supervise(&s);
    // Every background child is KILLed at the end, whatever happens.
    struct Children(std::cell::RefCell<Vec<u32>>);
    impl Drop for Children {
        fn drop(&mut self) {
            for &p in self.0.borrow().iter() {
                signal(p, libc::SIGKILL);
            }
        }
    }
    let children = Children(Default::default());
    let child = |s: &std::path::Path| -> u32 {
        let mut pid = 0;
        must("child pid", || {
            pid = lines(&s.join("child"))
                .first()
                .and_then(|l| l.parse().ok())
                .unwrap_or(0);
            pid != 0
        });
        children.0.borrow_mut().push(pid);
        std::fs::remove_file(s.join("child")).unwrap();
        pid
    };
    // Without +: the shell goes, its child stays (daemontools' behaviour).
    svc("-u", &s);
    let first = child(&s);
    svc("-d", &s);
    must("down", || status_pid(&s) == 0);
    assert!(alive(first), "plain -d reaches run only");
    // With +: the whole group.
    svc("-u", &s);
    let second = child(&s);
    let (code, _, err) = out(cmd("svc").args(["-+", "-d"]).arg(&s));
    assert_eq!(code, 0, "{err}");
    must("down", || status_pid(&s) == 0);
    must("the background child is gone too", || !alive(second));
    // + holds for that svc only: a later -t reaches run alone.
    svc("-u", &s);
    let third = child(&s);
    let run = status_pid(&s);
    svc("-t", &s);
    must("run restarted", || {
        let p = status_pid(&s);
        p != 0 && p != run
    });
    child(&s);
    assert!(alive(third), "+ did not stick");
    svc("-d", &s);
    must("down", || status_pid(&s) == 0);
}

/// svc, svstat, svok and svwait find a bare NAME under $SVDIR, as svcstart does; a
/// NAME that is a directory of the current one stays itself (daemontools').
#[test]
fn bare_names_are_looked_up_under_svdir() {
    let t = TempDir::new("svdir");
    let svdir = t.join("sv");
    let s = service(&svdir.join("web"), "exec sleep 1000");
    std::fs::write(s.join("down"), "").unwrap();
    let _p = Proc::supervise(&s);
    let elsewhere = t.join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let run = |prog: &str, args: &[&str]| {
        out_within(
            cmd(prog)
                .args(args)
                .env("SVDIR", &svdir)
                .current_dir(&elsewhere),
        )
    };
    let (code, _, err) = run("svc", &["-u", "web"]);
    assert_eq!(code, 0, "{err}");
    must("up", || status_pid(&s) != 0);
    let (code, o, _) = run("svstat", &["web"]);
    assert_eq!(code, 0, "{o}");
    assert!(o.starts_with(&format!("{}: up (pid ", s.display())), "{o}");
    assert_eq!(run("svok", &["web"]).0, 0);
    assert_eq!(run("svwait", &["-u", "-t", "10s", "web"]).0, 0);
    // A directory named web where we are wins: svc acts on it, as daemontools' does.
    let local = elsewhere.join("web");
    std::fs::create_dir(&local).unwrap();
    let (code, _, err) = run("svc", &["-d", "web"]);
    assert_eq!(code, 111);
    assert_eq!(
        err,
        "svc: warning: unable to control web: file does not exist \
         (no supervise runs there: start svscan on its parent directory, or supervise web)\n"
    );
    assert!(status_pid(&s) != 0);
    let (code, o, _) = run("svstat", &["./web"]);
    assert_eq!(
        (code, o.as_str()),
        (
            111,
            "./web: unable to open supervise/ok: file does not exist \
             (no supervise runs there: start svscan on its parent directory, or supervise ./web)\n"
        )
    );
    std::fs::remove_dir(&local).unwrap();
    // Not there at all: the message names where it looked.
    let (code, _, err) = run("svc", &["-d", "nosuch"]);
    assert_eq!(code, 111);
    assert_eq!(
        err,
        format!(
            "svc: warning: unable to chdir to {}: file does not exist\n",
            svdir.join("nosuch").display()
        )
    );
    let (code, _, _) = run("svc", &["-d", "web"]);
    assert_eq!(code, 0);
    must("down", || status_pid(&s) == 0);
}
