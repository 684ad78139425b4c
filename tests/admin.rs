//! svcstart, svcstop, svcreset, svcrestart: act, verify, and answer 0 / 1 / 100 / 111.

mod common;
use common::*;
use std::path::Path;
use std::process::Stdio;

fn frontend(prog: &str, args: &[&str], dirs: &[&Path]) -> (i32, String, String) {
    out(cmd(prog).args(args).args(dirs))
}

#[test]
fn start_then_stop() {
    let t = TempDir::new("admin-basic");
    let (s, _p) = down_service(&t, "s", "exec sleep 1000");
    let (code, stdout, stderr) = frontend("svcstart", &["-s", "200ms"], &[&s]);
    assert_eq!((code, stderr.as_str()), (0, ""), "{stdout}");
    let line = format!("Starting {} ", s.display());
    assert!(stdout.starts_with(&line), "{stdout}");
    assert!(stdout.ends_with("....OK\n"), "{stdout}");
    let pid = status_pid(&s);
    assert!(pid != 0 && alive(pid));
    // Already running: still 0, and it is not restarted.
    assert_eq!(frontend("svcstart", &["-q", "-s", "100ms"], &[&s]).0, 0);
    assert_eq!(status_pid(&s), pid);

    let (code, stdout, _) = frontend("svcstop", &[], &[&s]);
    assert_eq!(code, 0, "{stdout}");
    assert_eq!(stdout, format!("Stopping {} ....OK\n", s.display()));
    assert_eq!(status_pid(&s), 0);
    assert!(!alive(pid));
    // The down file stays as it was without -p.
    assert!(s.join("down").exists());
}

#[test]
fn a_service_that_dies_at_once_did_not_start() {
    let t = TempDir::new("admin-dies");
    let (s, _p) = down_service(&t, "s", "exit 3");
    let (code, stdout, _) = frontend("svcstart", &[], &[&s]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.ends_with("FAILED (exited within 1s)\n")
            || stdout.ends_with("FAILED (restarted within 1s)\n"),
        "{stdout}"
    );
    // Brought down again: no restart loop left behind.
    must("down and wanted down", || {
        status_pid(&s) == 0 && svstat(&s).contains(": down ")
    });
    assert!(!svstat(&s).contains("want up"), "{}", svstat(&s));
}

#[test]
fn readiness_is_waited_for_and_dots_grow() {
    let t = TempDir::new("admin-ready");
    let (s, _p) = down_service(&t, "s", "date +%s%N > started; exec sleep 1000");
    // Ready 3 s after it started.
    script(
        &s.join("check"),
        "[ $(( $(date +%s%N) - $(cat started) )) -gt 3000000000 ]",
    );
    std::fs::write(s.join("check-interval"), "50ms").unwrap();
    let (code, stdout, _) = frontend("svcstart", &["-s", "100ms"], &[&s]);
    assert_eq!(code, 0, "{stdout}");
    let dots = stdout.matches('.').count() - s.display().to_string().matches('.').count();
    // A dot per half second of waiting, on top of the four.
    assert!(dots >= 6, "{stdout}");
    assert!(svstat(&s).contains("ready"), "{}", svstat(&s));

    // A check that never passes: not ready within the timeout is a failure, and the
    // service is brought down again.
    svc("-d", &s);
    must("down", || status_pid(&s) == 0);
    script(&s.join("check"), "exit 1");
    let (code, stdout, _) = frontend("svcstart", &["-t", "1s"], &[&s]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("FAILED (up but not ready after 1s"),
        "{stdout}"
    );
    must("down", || status_pid(&s) == 0);
}

#[test]
fn start_script_decides_and_is_verified() {
    let t = TempDir::new("admin-script");
    let (s, _p) = down_service(&t, "s", "exec sleep 1000");
    // Runs in the service dir, with SVC_NAME, SVC_DIR and svkit's tools on PATH.
    script(
        &s.join("start"),
        "echo \"$SVC_NAME $SVC_DIR $PWD $(command -v svc)\" > env.out\n\
         echo from-start-script\n\
         svc -u . && svwait -u -t 10s .",
    );
    let (code, stdout, _) = frontend("svcstart", &[], &[&s]);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("from-start-script\n"), "{stdout}");
    assert!(stdout.ends_with("OK\n"), "{stdout}");
    let abs = std::fs::canonicalize(&s).unwrap();
    let svc_bin = Path::new(bin("svc"));
    assert_eq!(
        std::fs::read_to_string(s.join("env.out")).unwrap(),
        format!(
            "s {} {} {}\n",
            abs.display(),
            abs.display(),
            svc_bin.display()
        )
    );
    assert!(status_pid(&s) != 0);

    // Exit 0 but the service is not up: we verify, we do not trust.
    svc("-d", &s);
    must("down", || status_pid(&s) == 0);
    script(&s.join("start"), "exit 0");
    let (code, stdout, _) = frontend("svcstart", &["-s", "300ms"], &[&s]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("FAILED (start script exited 0 but the service is not up)"),
        "{stdout}"
    );

    // Non-zero: failed, and the service must end up down even if the script left it up.
    script(&s.join("start"), "svc -u .; svwait -u -t 10s .; exit 2");
    let (code, stdout, _) = frontend("svcstart", &[], &[&s]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("FAILED (start script exited 2)"),
        "{stdout}"
    );
    must("down", || status_pid(&s) == 0);
    assert!(!svstat(&s).contains("want up"));
}

#[test]
fn a_hanging_start_script_is_killed_at_the_timeout() {
    let t = TempDir::new("admin-hang");
    let (s, _p) = down_service(&t, "s", "exec sleep 1000");
    script(
        &s.join("start"),
        "sleep 1000 & echo $! > child.pid; echo $$ > script.pid; wait",
    );
    let started = std::time::Instant::now();
    let (code, stdout, _) = frontend("svcstart", &["-T", "1s"], &[&s]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("FAILED (start script still running after 1s, killed)"),
        "{stdout}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(15));
    // The script and what it started are gone (its process group was killed).
    for f in ["script.pid", "child.pid"] {
        let pid: u32 = std::fs::read_to_string(s.join(f))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        must("killed", || !alive(pid));
    }
    assert_eq!(status_pid(&s), 0);
}

/// In Syn-3 the script owns its timeout (the seed's slapd start script tries for up to
/// 75 s): svcstart's own timeout (-t) bounds only its own waiting, never a script, which
/// has the much longer script timeout (-T). The same for svcstop's stop script.
#[test]
fn scripts_outlast_the_verification_timeout() {
    let t = TempDir::new("admin-slow");
    let (s, _p) = down_service(&t, "s", "exec sleep 1000");
    // Like the seed's slapd script: start, then poll until it answers, here after 2 s.
    script(
        &s.join("start"),
        "svc -u .
sleep 2
svwait -u -t 10s . && echo answered",
    );
    let (code, stdout, _) = frontend("svcstart", &["-t", "1s", "-s", "100ms"], &[&s]);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("answered\n"), "{stdout}");
    assert!(stdout.ends_with("OK\n"), "{stdout}");
    assert!(status_pid(&s) != 0);
    script(
        &s.join("stop"),
        "sleep 2
svc -d . && svwait -d -t 10s . && echo stopped",
    );
    let (code, stdout, _) = frontend("svcstop", &["-t", "1s"], &[&s]);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("stopped\n"), "{stdout}");
    assert_eq!(status_pid(&s), 0);
}

#[test]
fn a_start_script_that_is_not_executable_is_ignored_with_a_warning() {
    let t = TempDir::new("admin-noexec");
    let (s, _p) = down_service(&t, "s", "exec sleep 1000");
    std::fs::write(s.join("start"), "#!/bin/sh\nexit 1\n").unwrap();
    let (code, stdout, stderr) = frontend("svcstart", &["-s", "100ms"], &[&s]);
    assert_eq!(code, 0, "{stdout}");
    assert_eq!(
        stderr,
        format!(
            "svcstart: warning: {}/start is not an executable file; ignoring it\n",
            s.display()
        )
    );
    assert!(status_pid(&s) != 0);
}

#[test]
fn stop_escalates_to_kill() {
    let t = TempDir::new("admin-kill");
    // TERM is ignored, and that survives the exec.
    let s = service(
        &t.join("s"),
        "trap '' TERM; echo > trapped; exec sleep 1000",
    );
    let _p = Proc::supervise(&s);
    // Up is said before run starts: wait until TERM is really ignored.
    must("up", || status_pid(&s) != 0 && s.join("trapped").exists());
    let pid = status_pid(&s);
    let (code, stdout, _) = frontend("svcstop", &["-t", "500ms"], &[&s]);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.ends_with("OK (KILLed after 500ms)\n"), "{stdout}");
    assert!(!alive(pid));
    assert_eq!(status_pid(&s), 0);
}

#[test]
fn stop_script_is_verified() {
    let t = TempDir::new("admin-stopscript");
    let s = service(&t.join("s"), "exec sleep 1000");
    let _p = Proc::supervise(&s);
    must("up", || status_pid(&s) != 0);
    script(&s.join("stop"), "echo not stopping; exit 0");
    let (code, stdout, _) = frontend("svcstop", &["-t", "2s"], &[&s]);
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("not stopping\n"), "{stdout}");
    assert!(
        stdout.contains("FAILED (stop script exited 0 but the service still runs)"),
        "{stdout}"
    );
    assert!(status_pid(&s) != 0);
    script(&s.join("stop"), "exit 7");
    assert_eq!(frontend("svcstop", &["-q"], &[&s]).0, 1);
    script(&s.join("stop"), "svc -d . && svwait -d -t 10s .");
    let (code, stdout, _) = frontend("svcstop", &[], &[&s]);
    assert_eq!(code, 0, "{stdout}");
    assert_eq!(status_pid(&s), 0);
}

#[test]
fn persist_moves_the_down_file() {
    let t = TempDir::new("admin-persist");
    let (s, _p) = down_service(&t, "s", "exec sleep 1000");
    assert_eq!(frontend("svcstart", &["-p", "-s", "100ms"], &[&s]).0, 0);
    assert!(!s.join("down").exists());
    assert_eq!(frontend("svcstop", &["--persist"], &[&s]).0, 0);
    assert!(s.join("down").exists());
    // A failed start leaves the down file alone.
    script(&s.join("run"), "exit 1");
    assert_eq!(frontend("svcstart", &["-p", "-q"], &[&s]).0, 1);
    assert!(s.join("down").exists());
    // Only start and stop know -p.
    assert_eq!(frontend("svcrestart", &["-p"], &[&s]).0, 100);
}

#[test]
fn reset_goes_back_to_the_configured_state() {
    let t = TempDir::new("admin-reset");
    let (down, _pd) = down_service(&t, "down", "exec sleep 1000");
    let up = service(&t.join("up"), "exec sleep 1000");
    let _pu = Proc::supervise(&up);
    must("up", || status_pid(&up) != 0);
    svc("-u", &down);
    svc("-d", &up);
    must("swapped", || status_pid(&down) != 0 && status_pid(&up) == 0);
    let (code, stdout, _) = frontend("svcreset", &["-s", "100ms"], &[&down, &up]);
    assert_eq!(code, 0, "{stdout}");
    assert_eq!(
        stdout,
        format!(
            "Stopping {} ....OK\nStarting {} ....OK\n",
            down.display(),
            up.display()
        )
    );
    assert_eq!(status_pid(&down), 0);
    assert!(status_pid(&up) != 0);
}

#[test]
fn restart_only_what_runs() {
    let t = TempDir::new("admin-restart");
    let (s, _p) = down_service(&t, "s", "exec sleep 1000");
    let (code, stdout, _) = frontend("svcrestart", &[], &[&s]);
    assert_eq!(code, 0);
    assert_eq!(
        stdout,
        format!("{}: not running, not restarted\n", s.display())
    );
    assert_eq!(status_pid(&s), 0);
    svc("-u", &s);
    must("up", || status_pid(&s) != 0);
    let before = status_pid(&s);
    let (code, stdout, _) = frontend("svcrestart", &["-s", "100ms"], &[&s]);
    assert_eq!(code, 0, "{stdout}");
    assert!(
        stdout.starts_with(&format!("Restarting {} ....", s.display()))
            && stdout.ends_with(".OK\n"),
        "{stdout}"
    );
    let after = status_pid(&s);
    assert!(after != 0 && after != before);
    assert!(!alive(before));
}

#[test]
fn json_quiet_and_several_services() {
    let t = TempDir::new("admin-json");
    let (good, _pg) = down_service(&t, "good", "exec sleep 1000");
    let (bad, _pb) = down_service(&t, "bad", "exit 1");
    let (code, stdout, stderr) = frontend("svcstart", &["--json", "-s", "300ms"], &[&bad, &good]);
    assert_eq!((code, stderr.as_str()), (1, ""));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(
        lines[0].starts_with(&format!(
            "{{\"service\":\"{}\",\"action\":\"start\",\"result\":\"failed\",\"exit\":1,\"reason\":\"",
            bad.display()
        )),
        "{stdout}"
    );
    // The second is still handled after the first failed.
    assert!(
        lines[1].starts_with(&format!(
            "{{\"service\":\"{}\",\"action\":\"start\",\"result\":\"ok\",\"exit\":0,\"reason\":null,\"pid\":{},",
            good.display(),
            status_pid(&good)
        )),
        "{stdout}"
    );
    // Quiet: nothing at all, the exit code says it.
    let (code, stdout, stderr) = frontend("svcstop", &["-q"], &[&good, &bad]);
    assert_eq!((code, stdout.as_str(), stderr.as_str()), (0, "", ""));
}

#[test]
fn bare_names_are_found_under_svdir() {
    let t = TempDir::new("admin-svdir");
    let (s, _p) = down_service(&t, "web", "exec sleep 1000");
    let (code, stdout, _) = out(cmd("svcstart")
        .args(["-s", "100ms", "web"])
        .env("SVDIR", t.path()));
    assert_eq!(code, 0, "{stdout}");
    assert_eq!(stdout, format!("Starting {} ....OK\n", s.display()));
}

#[test]
fn faults_and_usage() {
    let t = TempDir::new("admin-faults");
    let (s, _p) = down_service(&t, "s", "exec sleep 1000");
    // An unknown service anywhere on the line: 100, and nothing is done at all.
    let missing = t.join("nosuch");
    let (code, stdout, stderr) = frontend("svcstart", &[], &[&s, &missing]);
    assert_eq!((code, stdout.as_str()), (100, ""));
    assert_eq!(
        stderr,
        format!(
            "svcstart: warning: unable to find service {}: file does not exist\n",
            missing.display()
        )
    );
    assert_eq!(status_pid(&s), 0);
    assert!(!svstat(&s).contains("want up"));
    // An admin frontend reading JSON is told too.
    let (code, stdout, stderr) = frontend("svcstart", &["--json"], &[&missing, &s]);
    assert_eq!((code, stderr.as_str()), (100, ""));
    assert_eq!(
        stdout,
        format!(
            "{{\"service\":\"{0}\",\"action\":null,\"result\":\"unknown\",\"exit\":100,\"reason\":\"unable to find service {0}: file does not exist\",\"pid\":null,\"seconds\":0.000}}\n",
            missing.display()
        )
    );
    assert_eq!(status_pid(&s), 0);
    // No supervise: 111, and the message says so.
    let lone = service(&t.join("lone"), "exec sleep 1000");
    for prog in ["svcstart", "svcstop", "svcreset", "svcrestart"] {
        let (code, _, stderr) = frontend(prog, &[], &[&lone]);
        assert_eq!(code, 111, "{prog}");
        let (_, json, _) = frontend(prog, &["--json"], &[&lone]);
        assert!(
            json.contains("\"result\":\"unreachable\",\"exit\":111,\"reason\":\"supervise not running\",\"pid\":null"),
            "{json}"
        );
        assert_eq!(
            stderr,
            format!(
                "{prog}: warning: unable to control {}: supervise not running\n",
                lone.display()
            )
        );
    }
    // Usage: 100 with the synopsis; help: 0 on stdout.
    for prog in ["svcstart", "svcstop", "svcreset", "svcrestart"] {
        let (code, _, stderr) = frontend(prog, &[], &[]);
        assert_eq!(code, 100, "{prog}");
        assert!(
            stderr.starts_with(&format!("{prog}: usage: {prog} ")),
            "{stderr}"
        );
        let (code, _, stderr) = frontend(prog, &["-t", "soon"], &[&s]);
        assert_eq!(code, 100, "{prog}");
        assert!(stderr.contains("invalid duration \"soon\""), "{stderr}");
        let (code, stdout, _) = frontend(prog, &["-h"], &[]);
        assert_eq!(code, 0);
        assert!(stdout.starts_with(&format!("{prog}: usage: ")));
    }
    let (code, _, _) = out(cmd("svcstop").args(["-x"]).arg(&s).stdout(Stdio::null()));
    assert_eq!(code, 100);
}

#[test]
fn interrupting_svcstart_takes_its_script_along() {
    let t = TempDir::new("admin-int");
    let (s, _p) = down_service(&t, "s", "exec sleep 1000");
    script(&s.join("start"), "echo $$ > script.pid; exec sleep 1000");
    let mut front = Proc::spawn(
        cmd("svcstart")
            .arg(&s)
            .stdin(Stdio::null())
            .stdout(Stdio::null()),
    );
    let mut pid = 0u32;
    must("script runs", || {
        pid = std::fs::read_to_string(s.join("script.pid"))
            .unwrap_or_default()
            .trim()
            .parse()
            .unwrap_or(0);
        pid != 0
    });
    signal(front.pid(), libc::SIGINT);
    let mut st = None;
    must("svcstart gone", || {
        st = front.child.try_wait().unwrap();
        st.is_some()
    });
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(st.unwrap().signal(), Some(libc::SIGINT));
    must("script killed", || !alive(pid));
}

#[test]
fn a_reader_gone_away_does_not_stop_the_work() {
    let t = TempDir::new("admin-epipe");
    let mut procs = Vec::new();
    let mut dirs = Vec::new();
    for n in ["a", "b", "c"] {
        let s = service(&t.join(n), "exec sleep 1000");
        procs.push(Proc::supervise(&s));
        must("up", || status_pid(&s) != 0);
        dirs.push(s);
    }
    // stdout is a pipe whose reader is gone: every write fails with EPIPE.
    let mut c = cmd("svcstop");
    c.args(&dirs).stdin(Stdio::null()).stdout(Stdio::piped());
    let mut child = c.spawn().unwrap();
    drop(child.stdout.take());
    let st = child.wait().unwrap();
    assert_eq!(st.code(), Some(0), "{st}");
    for d in &dirs {
        assert_eq!(status_pid(d), 0, "{}", d.display());
    }
}

/// Status changes that do not end a wait (svc -p, svc -c) must not make the frontends
/// spin: they sleep until the next change or their deadline.
#[test]
fn waiting_costs_no_cpu() {
    let t = TempDir::new("admin-cpu");
    let (s, _p) = down_service(&t, "s", "exec sleep 1000");
    // svcstart waits 2 s for the settle time once the service is up.
    let mut start = Proc::spawn(
        cmd("svcstart")
            .args(["-q", "-s", "2s"])
            .arg(&s)
            .stdin(Stdio::null()),
    );
    must("up", || status_pid(&s) != 0);
    for _ in 0..3 {
        svc("-p", &s);
        svc("-c", &s);
    }
    let (ms, code) = cpu_ms_at_exit(&mut start);
    assert_eq!(code, Some(0));
    assert!(ms < 50, "svcstart used {ms} ms of CPU in a 2 s wait");
    // svcstop waits 2 s for a service that ignores its TERM, then KILLs it.
    let k = service(&t.join("k"), "trap '' TERM; exec sleep 1000");
    let _pk = Proc::supervise(&k);
    must("up", || status_pid(&k) != 0);
    let mut stop = Proc::spawn(
        cmd("svcstop")
            .args(["-q", "-t", "2s"])
            .arg(&k)
            .stdin(Stdio::null()),
    );
    // (On a loaded machine the 2 s may be over before this looks: then it is down.)
    must("want down", || {
        svstat(&k).contains("want down") || status_pid(&k) == 0
    });
    for _ in 0..3 {
        svc("-p", &k);
        svc("-c", &k);
    }
    let (ms, code) = cpu_ms_at_exit(&mut stop);
    assert_eq!(code, Some(0));
    assert!(ms < 50, "svcstop used {ms} ms of CPU in a 2 s wait");
}

/// A `supervise/status` that is a FIFO neither hangs the frontends nor passes for a
/// status: 111, "bad format".
#[test]
fn a_fifo_status_is_unreachable_at_once() {
    let t = TempDir::new("admin-fifostatus");
    let s = t.join("s");
    let _held = fake_supervise(&s, mkfifo);
    for prog in ["svcstart", "svcstop"] {
        let (code, _, err) = out_within(cmd(prog).args(["-t", "1s"]).arg(&s));
        assert_eq!(code, 111, "{prog}: {err}");
        assert!(err.contains("bad format"), "{prog}: {err}");
        assert!(
            err.starts_with(&format!("{prog}: warning: unable to control")),
            "{err}"
        );
    }
}

/// -p handles `down` inside the service directory without following a link: the
/// account that owns a service directory plants `down` as a link to a file of root's
/// (or to where root should create one); svcstop -p and svcstart -p as root leave the
/// target alone, and svcstop -p replaces the link with a file of its own.
#[test]
fn persist_never_follows_a_planted_down_link() {
    use std::ffi::OsStr;
    let t = TempDir::new("admin-persist-link");
    let user = TempUser::new();
    let s = service(&t.join("s"), "exec sleep 1000");
    user.own(&s);
    user.own(&s.join("run"));
    let precious = t.join("precious");
    std::fs::write(&precious, "root's\n").unwrap();
    let made = t.join("made-by-root");
    let _p = Proc::supervise(&s);
    must("up", || status_pid(&s) != 0);
    let down = s.join("down");
    let plant = |target: &Path| {
        user.run(&[OsStr::new("rm"), OsStr::new("-f"), down.as_os_str()]);
        user.run(&[
            OsStr::new("ln"),
            OsStr::new("-s"),
            target.as_os_str(),
            down.as_os_str(),
        ]);
        assert!(std::fs::symlink_metadata(&down).unwrap().is_symlink());
    };
    plant(&made);
    let (code, o, e) = frontend("svcstop", &["-p"], &[&s]);
    assert_eq!(code, 0, "{o}{e}");
    assert!(!made.exists(), "svcstop -p created the link's target");
    let m = std::fs::symlink_metadata(&down).unwrap();
    assert!(m.is_file(), "down is not a file of its own: {m:?}");
    plant(&precious);
    let (code, o, e) = frontend("svcstop", &["-p"], &[&s]);
    assert_eq!(code, 0, "{o}{e}");
    assert!(std::fs::symlink_metadata(&down).unwrap().is_file());
    assert_eq!(std::fs::read_to_string(&precious).unwrap(), "root's\n");
    plant(&precious);
    let (code, o, e) = frontend("svcstart", &["-p", "-s", "100ms"], &[&s]);
    assert_eq!(code, 0, "{o}{e}");
    assert!(
        std::fs::symlink_metadata(&down).is_err(),
        "down still there"
    );
    assert_eq!(std::fs::read_to_string(&precious).unwrap(), "root's\n");
}

/// A service directory whose name is not UTF-8 is started and stopped under its own
/// name, shown lossily.
#[test]
fn names_that_are_not_utf8() {
    let t = TempDir::new("admin-latin1");
    let s = service(&latin1_name(t.path()), "exec sleep 1000");
    std::fs::write(s.join("down"), "").unwrap();
    let _p = supervise_via_alias(&s);
    let (code, o, e) = frontend("svcstart", &["-p", "-s", "100ms"], &[&s]);
    assert_eq!(code, 0, "{o}{e}");
    assert!(o.contains("caf\u{fffd} ....OK"), "{o}");
    assert!(status_pid(&s) != 0);
    assert!(!s.join("down").exists());
    let (code, o, e) = frontend("svcstop", &["--json"], &[&s]);
    assert_eq!(code, 0, "{o}{e}");
    assert!(
        o.contains("caf\u{fffd}\",\"action\":\"stop\",\"result\":\"ok\""),
        "{o}"
    );
    assert_eq!(status_pid(&s), 0);
}

#[test]
fn encore_one_shot_scripts_are_told_from_check_scripts() {
    let t = TempDir::new("admin-encore");
    let (s, _p) = down_service(&t, "s", "exec sleep 1000");
    // daemontools-encore's start: a set-up that supervise ran before ./run. It never
    // runs svc, so as a check script it cannot bring the service up: said, not silent.
    script(&s.join("start"), "mkdir -p state\nexit 0");
    let (code, stdout, stderr) = frontend("svcstart", &["-s", "300ms"], &[&s]);
    assert_eq!(code, 1, "{stdout}");
    assert_eq!(
        stderr,
        format!(
            "svcstart: warning: {0}/start never runs svc: a daemontools-encore start script \
             (set-up run before ./run)? svcstart runs it as a check script, which must bring \
             the service up with svc; to migrate, move its commands into {0}/run, before its \
             exec (see svcstart(8))\n",
            s.display()
        )
    );
    // The same script made a check script: no warning, and it works.
    script(
        &s.join("start"),
        "mkdir -p state\nsvc -u . && svwait -u -t 10s .",
    );
    let (code, stdout, stderr) = frontend("svcstart", &["-s", "300ms"], &[&s]);
    assert_eq!((code, stderr.as_str()), (0, ""), "{stdout}");
    // encore's stop: a clean-up after ./run exited.
    script(&s.join("stop"), "rm -rf state");
    let (code, _, stderr) = frontend("svcstop", &["-t", "1s"], &[&s]);
    assert_eq!(code, 1);
    assert!(
        stderr.starts_with(&format!(
            "svcstop: warning: {}/stop never runs svc: a daemontools-encore stop script",
            s.display()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("/finish (see svcstart(8))"), "{stderr}");
    // Quiet is quiet.
    let (_, o, e) = frontend("svcstop", &["-q", "-t", "1s"], &[&s]);
    assert_eq!((o.as_str(), e.as_str()), ("", ""));
    // Not judged: a symbolic link, a program that is no script.
    std::fs::remove_file(s.join("stop")).unwrap();
    std::os::unix::fs::symlink(s.join("start"), s.join("stop")).unwrap();
    script(&t.join("other"), "exit 0");
    std::fs::remove_file(s.join("stop")).unwrap();
    std::os::unix::fs::symlink(t.join("other"), s.join("stop")).unwrap();
    let (_, _, stderr) = frontend("svcstop", &["-t", "1s"], &[&s]);
    assert_eq!(stderr, "");
}

#[test]
fn a_start_script_of_a_relative_service_name_is_found() {
    let t = TempDir::new("admin-relative");
    let (s, _p) = down_service(&t, "s", "exec sleep 1000");
    script(&s.join("start"), "svc -u . && svwait -u -t 10s .");
    let (code, stdout, stderr) = out(cmd("svcstart")
        .args(["-s", "200ms", "./s"])
        .current_dir(t.path()));
    assert_eq!((code, stderr.as_str()), (0, ""), "{stdout}");
    assert!(status_pid(&s) != 0);
}
