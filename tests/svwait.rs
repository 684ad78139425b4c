//! svwait: up, down, any/all, timeouts, a supervise that is or goes away, no polling.

mod common;
use common::*;
use std::process::Stdio;
use std::time::{Duration, Instant};

fn svwait(args: &[&str], dirs: &[&std::path::Path]) -> Proc {
    Proc::spawn(cmd("svwait").args(args).args(dirs).stdin(Stdio::null()))
}

#[test]
fn waits_for_up_then_down() {
    let t = TempDir::new("svwait");
    let (s, _p) = down_service(&t, "s", "exec sleep 1000");
    let mut w = svwait(&["-u"], &[&s]);
    // Waiting costs nothing while nothing changes: CPU time measured over half a
    // second in which svwait must not return (a measure and an absence: it takes time).
    assert!(!wait_for(Duration::from_millis(500), || matches!(
        w.child.try_wait(),
        Ok(Some(_))
    )));
    assert!(cpu_ticks(w.pid()) <= 2);
    svc("-u", &s);
    assert_eq!(w.wait_exit(), Some(0));
    assert!(status_pid(&s) != 0);
    let mut w = svwait(&["-d"], &[&s]);
    svc("-d", &s);
    assert_eq!(w.wait_exit(), Some(0));
    assert_eq!(status_pid(&s), 0);
    // Already there: at once.
    assert_eq!(out(cmd("svwait").arg("-d").arg(&s)).0, 0);
}

#[test]
fn all_or_any() {
    let t = TempDir::new("svwaitao");
    let (a, _pa) = down_service(&t, "a", "exec sleep 1000");
    let (b, _pb) = down_service(&t, "b", "exec sleep 1000");
    let mut any = svwait(&["-u", "-o"], &[&a, &b]);
    let mut all = svwait(&["-u", "-a"], &[&a, &b]);
    svc("-u", &a);
    assert_eq!(any.wait_exit(), Some(0));
    // -a must not return with b down: an absence, which only waiting shows.
    assert!(!wait_for(Duration::from_millis(300), || matches!(
        all.child.try_wait(),
        Ok(Some(_))
    )));
    svc("-u", &b);
    assert_eq!(all.wait_exit(), Some(0));
}

#[test]
fn timeout_and_errors() {
    let t = TempDir::new("svwaitto");
    let (s, p) = down_service(&t, "s", "exec sleep 1000");
    let start = Instant::now();
    let (code, _, err) = out(cmd("svwait").args(["-u", "-t", "300ms"]).arg(&s));
    assert_eq!((code, err.as_str()), (1, ""));
    assert!(start.elapsed() >= Duration::from_millis(300));
    // The supervise goes away while we wait: 111 at once, not at the timeout.
    let mut w = Proc::spawn(
        cmd("svwait")
            .args(["-u", "-t", "1h"])
            .arg(&s)
            .stderr(Stdio::piped()),
    );
    // It waits (an absence of exit, which only waiting shows) until the supervise goes.
    assert!(!wait_for(Duration::from_millis(300), || matches!(
        w.child.try_wait(),
        Ok(Some(_))
    )));
    drop(p);
    assert_eq!(w.wait_exit(), Some(111));
    assert_eq!(
        w.stderr(),
        format!(
            "svwait: fatal: unable to wait for {}: supervise not running\n",
            s.display()
        )
    );
    let (code, _, err) = out(cmd("svwait").arg("-u").arg(&s));
    assert_eq!(code, 111, "{err}");
    let (code, _, _) = out(cmd("svwait").arg("-u").arg(t.join("missing")));
    assert_eq!(code, 111);
    for bad in [
        &[][..],
        &["-u"][..],
        &["-t", "soon", "x"][..],
        &["-z", "x"][..],
    ] {
        let (code, _, err) = out(cmd("svwait").args(bad));
        assert_eq!(code, 100, "{bad:?}");
        assert!(
            err.ends_with("svwait: usage: svwait [-u|-U|-d|-D] [-t timeout] [-a|-o] service ...\n")
        );
    }
}

#[test]
fn down_and_exit_counts_as_down() {
    let t = TempDir::new("svwaitdx");
    let s = service(&t.join("s"), "exec sleep 1000");
    let mut p = Proc::supervise(&s);
    must("up", || status_pid(&s) != 0);
    let mut w = svwait(&["-d"], &[&s]);
    svc("-dx", &s);
    assert_eq!(p.wait_exit(), Some(0));
    assert_eq!(w.wait_exit(), Some(0));
}

#[test]
fn event_fifos_are_cleaned_up_and_daemontools_supervise_works_too() {
    let t = TempDir::new("svwaitfifo");
    let (s, _p) = down_service(&t, "s", "exec sleep 1000");
    let mut w = svwait(&["-u"], &[&s]);
    must("fifo made", || {
        std::fs::read_dir(s.join("supervise/event")).is_ok_and(|d| d.count() == 1)
    });
    // A FIFO left by a waiter that died is removed at the next change.
    nix_mkfifo(&s.join("supervise/event/stale"));
    svc("-u", &s);
    assert_eq!(w.wait_exit(), Some(0));
    must("no fifo left", || {
        std::fs::read_dir(s.join("supervise/event")).is_ok_and(|d| d.count() == 0)
    });
    // daemontools' supervise has no event directory: inotify serves instead.
    let d = service(&t.join("d"), "exec sleep 1000");
    let mut real = Proc::spawn(
        std::process::Command::new(daemontools("supervise"))
            .arg(&d)
            .stdin(Stdio::null()),
    );
    real.services.push(d.clone());
    must("daemontools supervise up", || status_pid(&d) != 0 && ok(&d));
    let mut w = svwait(&["-d"], &[&d]);
    svc("-d", &d);
    assert_eq!(w.wait_exit(), Some(0));
}

fn nix_mkfifo(p: &std::path::Path) {
    let st = std::process::Command::new("mkfifo")
        .arg(p)
        .status()
        .unwrap();
    assert!(st.success());
}

/// Status changes that do not meet the goal (svc -p, svc -c) must not make the waiter
/// spin: it sleeps until the next change or its deadline (it busy-looped on the
/// FIFO's POLLHUP once supervise had closed its end: 2.3 s of CPU in 3 s).
#[test]
fn unrelated_changes_cost_no_cpu() {
    let t = TempDir::new("svwaitcpu");
    let s = service(&t.join("s"), "exec sleep 1000");
    let _p = Proc::supervise(&s);
    must("up", || status_pid(&s) != 0);
    let started = Instant::now();
    let mut w = svwait(&["-d", "-t", "2s"], &[&s]);
    must("fifo made", || {
        std::fs::read_dir(s.join("supervise/event")).is_ok_and(|d| d.count() == 1)
    });
    for _ in 0..3 {
        svc("-p", &s);
        svc("-c", &s);
    }
    let (ms, code) = cpu_ms_at_exit(&mut w);
    assert_eq!(code, Some(1));
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert!(ms < 50, "svwait used {ms} ms of CPU in a 2 s wait");
}

/// A `supervise/status` that is a FIFO neither hangs svwait nor passes for a status:
/// it says which file, and "bad format" as svstat does.
#[test]
fn a_fifo_status_is_bad_format_at_once() {
    let t = TempDir::new("svwaitfifostatus");
    let s = t.join("s");
    let _held = fake_supervise(&s, mkfifo);
    let (code, _, err) = out_within(cmd("svwait").args(["-u", "-t", "1s"]).arg(&s));
    assert_eq!(code, 111);
    assert_eq!(
        err,
        format!(
            "svwait: fatal: unable to read {}/supervise/status: bad format\n",
            s.display()
        )
    );
}

/// Every message names the service concerned, and a status no supervise writes is "bad
/// format" (it was "protocol error"; an inotify that could not be had said `unable to
/// watch : ...`).
#[test]
fn messages_name_the_service() {
    let t = TempDir::new("svwaitmsg");
    let s = t.join("s");
    let _held = fake_supervise(&s, |p| std::fs::write(p, "short").unwrap());
    let (code, _, err) = out_within(cmd("svwait").args(["-u", "-t", "1s"]).arg(&s));
    assert_eq!(code, 111);
    assert_eq!(
        err,
        format!(
            "svwait: fatal: unable to read {}/supervise/status: bad format\n",
            s.display()
        )
    );
    // No descriptor left for inotify (this supervise has no event directory).
    let (code, _, err) = out_within(
        cmd("softlimit")
            .args(["-o", "3", bin("svwait"), "-u", "-t", "1s"])
            .arg(&s),
    );
    assert_eq!(code, 111);
    assert_eq!(
        err,
        format!(
            "svwait: fatal: unable to watch {}: process cannot open more files\n",
            s.display()
        )
    );
}

/// A service directory whose name is not UTF-8 is waited for under its own name (it
/// was turned into "caf\u{fffd}", which does not exist).
#[test]
fn names_that_are_not_utf8() {
    let t = TempDir::new("svwaitlatin1");
    let s = service(&latin1_name(t.path()), "exec sleep 1000");
    std::fs::write(s.join("down"), "").unwrap();
    let _p = supervise_via_alias(&s);
    let mut w = svwait(&["-u", "-t", "20s"], &[&s]);
    svc("-u", &s);
    assert_eq!(w.wait_exit(), Some(0));
    let (code, _, err) = out_within(
        cmd("svwait")
            .arg("-u")
            .arg(t.join("x").join(s.file_name().unwrap())),
    );
    assert_eq!(code, 111);
    assert!(err.contains("caf\u{fffd}"), "{err}");
}
