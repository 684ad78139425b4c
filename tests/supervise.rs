//! supervise: starting, restarting, throttling, control bytes, signals, faults.

mod common;
use common::*;
use std::time::Duration;

fn starts(dir: &std::path::Path) -> usize {
    lines(&dir.join("starts")).len()
}

#[test]
fn runs_the_service_and_reports_it_up() {
    let t = TempDir::new("up");
    let s = service(&t.join("s"), "echo $$ >> starts\nexec sleep 1000");
    let _p = Proc::supervise(&s);
    must("service up", || status_pid(&s) != 0);
    let pid = status_pid(&s);
    must("run started", || {
        lines(&s.join("starts")) == vec![pid.to_string()]
    });
    assert!(svstat(&s).starts_with(&format!("{}: up (pid {pid}) ", s.display())));
    let meta = std::fs::metadata(s.join("supervise")).unwrap();
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    assert_eq!(meta.permissions().mode() & 0o777, 0o700);
    for fifo in ["control", "ok"] {
        let m = std::fs::metadata(s.join("supervise").join(fifo)).unwrap();
        assert!(m.file_type().is_fifo());
        assert_eq!(m.permissions().mode() & 0o777, 0o600);
    }
    assert!(!s.join("supervise/status.new").exists());
}

#[test]
fn second_supervise_is_refused() {
    let t = TempDir::new("lock");
    let s = service(&t.join("s"), "exec sleep 1000");
    let _p = Proc::supervise(&s);
    let (code, _, err) = out(cmd("supervise").arg(&s));
    assert_eq!(code, 111);
    assert_eq!(
        err,
        format!(
            "supervise: fatal: unable to acquire {}/supervise/lock: temporary failure\n",
            s.display()
        )
    );
}

#[test]
fn down_file_then_up_down_once() {
    let t = TempDir::new("down");
    let s = service(&t.join("s"), "echo x >> starts\nexec sleep 1000");
    std::fs::write(s.join("down"), "").unwrap();
    let _p = Proc::supervise(&s);
    assert_eq!(status_pid(&s), 0);
    assert!(svstat(&s).ends_with(" seconds"), "{}", svstat(&s));
    svc("-u", &s);
    must("up", || status_pid(&s) != 0);
    assert!(svstat(&s).ends_with("seconds, normally down"));
    // The status says up before run execs: wait for the script before stopping it.
    must("run started", || starts(&s) == 1);
    svc("-d", &s);
    must("down", || status_pid(&s) == 0);
    assert_eq!(starts(&s), 1);

    // -o: runs once, no restart after it exits.
    script(&s.join("run"), "echo x >> starts\nexec sleep 1.2");
    svc("-o", &s);
    must("started once more", || starts(&s) == 2);
    must("exited", || status_pid(&s) == 0 && starts(&s) == 2);
    // The throttle would have restarted it within a second of the exit: wait 2 s of it
    // (an absence, which only waiting shows).
    assert!(!wait_for(Duration::from_secs(2), || starts(&s) > 2));
}

#[test]
fn long_run_restarts_at_once() {
    let t = TempDir::new("restart");
    let s = service(
        &t.join("s"),
        "echo start $(date +%s%N) >> times\nsleep 1.1\necho stop $(date +%s%N) >> times",
    );
    let _p = Proc::supervise(&s);
    // The gap runs from run's last word before it exits to the start as supervise's
    // own status stamps it: no shell or date of the next run is timed, so a loaded
    // machine adds only supervise's wake-up. The throttle would have held the start
    // for a whole second after the exit (the unit tests check the policy itself).
    let mut gap = None;
    must("restarted after a stop", || {
        let Ok(b) = std::fs::read(s.join("supervise/status")) else {
            return false;
        };
        if b.len() < 18 || b[12..16] == [0; 4] {
            return false;
        }
        let secs = u64::from_be_bytes(b[..8].try_into().unwrap()) - (1 << 62) - 10;
        let nanos = u32::from_be_bytes(b[8..12].try_into().unwrap());
        let started = secs * 1_000_000_000 + u64::from(nanos);
        let stopped = lines(&s.join("times"))
            .iter()
            .filter_map(|l| l.strip_prefix("stop ")?.parse::<u64>().ok())
            .filter(|t| *t <= started)
            .max();
        gap = stopped.map(|t| Duration::from_nanos(started - t));
        gap.is_some()
    });
    let gap = gap.unwrap();
    assert!(gap < Duration::from_millis(900), "restart took {gap:?}");
}

#[test]
fn crash_loop_is_throttled_to_one_start_per_second_and_stays_responsive() {
    let t = TempDir::new("throttle");
    // Killed by a signal at once, every time.
    let s = service(&t.join("s"), "echo $(date +%s%N) >> starts\nkill -9 $$");
    let _p = Proc::supervise(&s);
    must("four starts", || starts(&s) >= 4);
    let l = lines(&s.join("starts"));
    let ns = |i: usize| l[i].parse::<u64>().unwrap();
    for i in 1..4 {
        let gap = Duration::from_nanos(ns(i) - ns(i - 1));
        assert!(gap >= Duration::from_millis(900), "start {i} after {gap:?}");
    }
    // svc answers at once while the throttle waits.
    svc("-d", &s);
    must("want down", || {
        std::fs::read(s.join("supervise/status")).is_ok_and(|b| b[17] == b'd')
    });
    let n = starts(&s);
    // No start once the throttle's second has passed: an absence, which only waiting
    // shows.
    assert!(!wait_for(Duration::from_millis(1500), || starts(&s) > n));
}

#[test]
fn background_forking_run_is_throttled() {
    let t = TempDir::new("fork");
    let s = service(
        &t.join("s"),
        // TERM ignored: `svc -d` between the fork and the echo would leave a sleep
        // whose pid nobody recorded.
        "trap '' TERM\nsleep 1000 &\necho $! >> bg\necho $(date +%s%N) >> starts\nexit 0",
    );
    let _p = Proc::supervise(&s);
    must("three starts", || starts(&s) >= 3);
    let l = lines(&s.join("starts"));
    let gap = l[2].parse::<u64>().unwrap() - l[0].parse::<u64>().unwrap();
    assert!(Duration::from_nanos(gap) >= Duration::from_millis(1800));
    svc("-d", &s);
    must("down", || svstat(&s).contains(": down "));
    // The background sleeps outlive run: kill them by pid.
    must("bg pids recorded", || {
        lines(&s.join("bg")).len() >= starts(&s)
    });
    for pid in lines(&s.join("bg")) {
        signal(pid.parse().unwrap(), libc::SIGKILL);
    }
}

#[test]
fn missing_run_is_retried_until_it_appears() {
    let t = TempDir::new("norun");
    let s = t.join("s");
    std::fs::create_dir_all(&s).unwrap();
    // stderr goes to a file, read while supervise runs.
    let log = t.join("stderr");
    let mut p = Proc::spawn(
        cmd("supervise")
            .arg(&s)
            .stderr(std::fs::File::create(&log).unwrap())
            .stdin(std::process::Stdio::null()),
    );
    p.services.push(s.clone());
    must("supervise/ok", || ok(&s));
    assert_eq!(status_pid(&s), 0);
    // Not executable: still retried, and the retry fails.
    std::fs::write(s.join("run"), "#!/bin/sh\nexec sleep 1000\n").unwrap();
    let denied = format!("unable to start {}/run: access denied", s.display());
    must("a retry refused", || {
        std::fs::read_to_string(&log).is_ok_and(|e| e.contains(&denied))
    });
    assert_eq!(status_pid(&s), 0);
    assert!(p.child.try_wait().unwrap().is_none(), "supervise exited");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(s.join("run"), std::fs::Permissions::from_mode(0o755)).unwrap();
    must("started once run is executable", || status_pid(&s) != 0);
    p.stop();
    let err = std::fs::read_to_string(&log).unwrap();
    let first = err.lines().next().unwrap_or("");
    assert_eq!(
        first,
        format!(
            "supervise: warning: unable to start {}/run: file does not exist",
            s.display()
        )
    );
    assert!(err.contains(&format!(
        "unable to start {}/run: access denied",
        s.display()
    )));
}

#[test]
fn control_bytes_pause_continue_signals_and_exit() {
    let t = TempDir::new("ctl");
    let s = service(
        &t.join("s"),
        "trap 'echo hup >> sigs' HUP\ntrap 'echo alrm >> sigs' ALRM\ntrap 'echo int >> sigs' INT\necho ready > ready\nwhile :; do sleep 0.05; done",
    );
    let mut p = Proc::supervise(&s);
    must("ready", || s.join("ready").exists());
    let pid = status_pid(&s);
    svc("-p", &s);
    must("paused", || svstat(&s).ends_with(", paused"));
    let stopped = || {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|st| st.rsplit_once(')').unwrap().1.trim_start().starts_with('T'))
    };
    must("process stopped", stopped);
    svc("-c", &s);
    must("continued", || !svstat(&s).contains("paused") && !stopped());
    svc("-h", &s);
    must("hup", || {
        lines(&s.join("sigs")).contains(&"hup".to_string())
    });
    svc("-a", &s);
    must("alrm", || {
        lines(&s.join("sigs")).contains(&"alrm".to_string())
    });
    svc("-i", &s);
    must("int", || {
        lines(&s.join("sigs")).contains(&"int".to_string())
    });
    // Garbage is ignored.
    std::fs::write(s.join("supervise/control"), b"\x00zZ\xff\n?").unwrap();
    assert_eq!(status_pid(&s), pid);
    // -x alone: supervise exits once the service is down, here after -k.
    svc("-x", &s);
    assert!(p.child.try_wait().unwrap().is_none());
    svc("-k", &s);
    assert_eq!(p.wait_exit(), Some(0));
    assert!(!alive(pid));
    assert!(svstat(&s).ends_with("supervise not running"));
}

#[test]
fn term_brings_service_down_then_exits() {
    let t = TempDir::new("term");
    let s = service(&t.join("s"), "exec sleep 1000");
    let mut p = Proc::supervise(&s);
    must("up", || status_pid(&s) != 0);
    let pid = status_pid(&s);
    signal(p.pid(), libc::SIGTERM);
    assert_eq!(p.wait_exit(), Some(0));
    assert!(!alive(pid), "service survived");
    let b = std::fs::read(s.join("supervise/status")).unwrap();
    assert_eq!(&b[12..18], &[0, 0, 0, 0, 0, b'd']);
}

#[test]
fn run_gets_only_stdio_and_its_own_session() {
    let t = TempDir::new("fds");
    let s = service(&t.join("s"), "exec sleep 1000");
    // Start supervise with nothing but stdio, so whatever else run has came from it.
    let mut c = cmd("supervise");
    c.arg(&s).stdin(std::process::Stdio::null());
    use std::os::unix::process::CommandExt;
    // SAFETY: close_range(2) is async-signal-safe and only closes descriptors (a raw
    // system call: musl has no wrapper).
    unsafe {
        c.pre_exec(|| {
            libc::syscall(libc::SYS_close_range, 3, libc::c_uint::MAX, 0);
            Ok(())
        });
    }
    let mut p = Proc::spawn(&mut c);
    p.services.push(s.clone());
    must("up", || status_pid(&s) != 0);
    let pid = status_pid(&s);
    must("sleep running", || {
        std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|e| e.ends_with("sleep"))
    });
    // sleep may hold a locale file open for a moment while it starts; a descriptor
    // leaked by supervise stays, so wait for exactly stdio and report what stayed.
    let fds = || {
        let mut fds: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        fds.sort();
        fds
    };
    if !wait_for(DEADLINE, || fds() == ["0", "1", "2"]) {
        panic!("run has descriptors beyond stdio: {:?}", fds());
    }
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let sid = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .nth(3)
        .unwrap();
    assert_eq!(sid, pid.to_string(), "run is not a session leader");
}

#[test]
fn status_extension_counts_starts_and_last_exit() {
    let t = TempDir::new("ext");
    let s = service(&t.join("s"), "echo x >> starts\nsleep 0.2\nexit 3");
    let _p = Proc::supervise(&s);
    must("two starts", || starts(&s) >= 2);
    let (_, json, _) = out(cmd("svstat").arg("-j").arg(&s));
    assert!(json.contains("\"last_exit\":{\"code\":3}"), "{json}");
    assert!(json.contains("\"starts\":"), "{json}");
}

#[test]
fn usage_errors() {
    for args in [&[][..], &["a", "b"][..]] {
        let (code, _, err) = out(cmd("supervise").args(args));
        assert_eq!(code, 100);
        assert_eq!(err, "supervise: usage: supervise dir\n");
    }
    let (code, o, _) = out(cmd("supervise").arg("-h"));
    assert_eq!((code, o.as_str()), (0, "supervise: usage: supervise dir\n"));
    let (code, _, err) = out(cmd("supervise").arg("/nonexistent/x"));
    assert_eq!(code, 111);
    assert_eq!(
        err,
        "supervise: fatal: unable to chdir to /nonexistent/x: file does not exist\n"
    );
}

#[test]
fn a_regular_file_in_place_of_the_control_fifo_is_replaced() {
    let t = TempDir::new("notfifo");
    let s = service(&t.join("s"), "exec sleep 1000");
    std::fs::create_dir(s.join("supervise")).unwrap();
    std::fs::write(s.join("supervise/control"), "dddd").unwrap();
    let p = Proc::supervise(&s);
    must("up", || status_pid(&s) != 0);
    svc("-d", &s);
    must("down", || status_pid(&s) == 0);
    // Idle means asleep in poll, not spinning on a file that is always readable: CPU
    // time measured over half a second (a measure, so it takes the time).
    let before = cpu_ticks(p.pid());
    assert!(!wait_for(Duration::from_millis(500), || cpu_ticks(p.pid())
        > before + 10));
}

#[test]
fn supervise_symlink_to_a_missing_directory_is_followed() {
    let t = TempDir::new("symlink");
    let s = service(&t.join("s"), "exec sleep 1000");
    let target = t.join("run-state/s");
    std::os::unix::fs::symlink(&target, s.join("supervise")).unwrap();
    let _p = Proc::supervise(&s);
    must("up", || status_pid(&s) != 0);
    assert!(target.join("status").exists());
}

#[test]
fn down_signal_is_sent_instead_of_term() {
    let t = TempDir::new("downsig");
    let s = service(
        &t.join("s"),
        "trap 'echo hup >> sigs; exit 0' HUP\ntrap 'echo term >> sigs; exit 0' TERM\necho ready > ready\nwhile :; do sleep 0.05; done",
    );
    std::fs::write(s.join("down-signal"), "HUP\n").unwrap();
    let _p = Proc::supervise(&s);
    must("ready", || s.join("ready").exists());
    svc("-d", &s);
    must("down", || status_pid(&s) == 0);
    assert_eq!(lines(&s.join("sigs")), vec!["hup"]);
}

#[test]
fn timeout_kill_kills_the_whole_group() {
    let t = TempDir::new("tkill");
    // Ignores TERM, and so does a child of its own.
    let s = service(
        &t.join("s"),
        "trap '' TERM\nsh -c 'trap \"\" TERM; echo $$ > child; exec sleep 1000' &\necho ready > ready\nwhile :; do sleep 0.05; done",
    );
    std::fs::write(s.join("timeout-kill"), "500ms\n").unwrap();
    let _p = Proc::supervise(&s);
    // `echo $$ > child` makes the file before it writes the pid: wait for the line.
    must("ready", || {
        s.join("ready").exists() && lines(&s.join("child")).len() == 1
    });
    let child: u32 = lines(&s.join("child"))[0].parse().unwrap();
    let start = std::time::Instant::now();
    svc("-d", &s);
    must("down", || status_pid(&s) == 0);
    assert!(
        start.elapsed() >= Duration::from_millis(450),
        "{:?}",
        start.elapsed()
    );
    must("child killed with the group", || !alive(child));
    let (_, json, _) = out(cmd("svstat").arg("-j").arg(&s));
    assert!(json.contains("\"last_exit\":{\"signal\":9}"), "{json}");
}

#[test]
fn garbage_stop_settings_fall_back_to_daemontools() {
    let t = TempDir::new("badstop");
    let s = service(&t.join("s"), "exec sleep 1000");
    std::fs::write(s.join("down-signal"), "NOPE").unwrap();
    std::fs::write(s.join("timeout-kill"), "soon").unwrap();
    let mut p = Proc::supervise_capturing_stderr(&s);
    must("up", || status_pid(&s) != 0);
    assert!(
        svstat(&s).ends_with(", bad settings (see supervise's stderr)"),
        "{}",
        svstat(&s)
    );
    svc("-d", &s);
    must("down by TERM", || status_pid(&s) == 0);
    let (_, json, _) = out(cmd("svstat").arg("-j").arg(&s));
    assert!(json.contains("\"last_exit\":{\"signal\":15}"), "{json}");
    p.stop();
    let err = p.stderr();
    assert!(
        err.contains("down-signal: not a signal: \"NOPE\", using TERM"),
        "{err}"
    );
    assert!(
        err.contains("timeout-kill: invalid duration \"soon\""),
        "{err}"
    );
}

#[test]
fn finish_runs_with_exit_code_and_signal_before_the_restart() {
    let t = TempDir::new("finish");
    let s = service(
        &t.join("s"),
        "echo start $(date +%s%N) >> log\nif [ -e crash ]; then kill -9 $$; fi\nexit 3",
    );
    script(
        &s.join("finish"),
        "echo finish \"$@\" >> log\nwhile [ ! -e release ]; do sleep 0.02; done\nrm release\necho finished $(date +%s%N) >> log",
    );
    let _p = Proc::supervise(&s);
    must("finish called", || {
        lines(&s.join("log")).iter().any(|l| l == "finish 3 0")
    });
    // Down and finishing: not restarted while finish runs.
    assert!(svstat(&s).contains(", finishing"), "{}", svstat(&s));
    let (_, json, _) = out(cmd("svstat").arg("-j").arg(&s));
    assert!(json.contains("\"finishing\":true"), "{json}");
    let mut w = Proc::spawn(cmd("svwait").arg("-D").arg(&s));
    let log_len = || lines(&s.join("log")).len();
    // Let the one-second throttle pass while finish runs: a supervise that did not
    // wait for finish would start run again within it (an absence, shown by waiting).
    assert!(!wait_for(Duration::from_millis(1200), || log_len() > 2));
    assert!(
        w.child.try_wait().unwrap().is_none(),
        "svwait -D returned during finish"
    );
    std::fs::write(s.join("crash"), "").unwrap();
    std::fs::write(s.join("release"), "").unwrap();
    must("restarted after finish", || log_len() >= 4);
    let l = lines(&s.join("log"));
    assert!(
        l[2].starts_with("finished ") && l[3].starts_with("start "),
        "{l:?}"
    );
    must("finish of the crash", || {
        lines(&s.join("log")).iter().any(|l| l == "finish -1 9")
    });
    svc("-d", &s);
    std::fs::write(s.join("release"), "").unwrap();
    assert_eq!(w.wait_exit(), Some(0));
}

#[test]
fn a_finish_that_hangs_is_killed_and_supervise_stays_responsive() {
    let t = TempDir::new("finishhang");
    let s = service(&t.join("s"), "echo x >> starts\nexit 0");
    script(&s.join("finish"), "exec sleep 1000");
    std::fs::write(s.join("timeout-finish"), "500ms").unwrap();
    let mut p = Proc::supervise_capturing_stderr(&s);
    must("two starts", || starts(&s) >= 2);
    // svc works while finish hangs.
    svc("-d", &s);
    must("want down", || {
        std::fs::read(s.join("supervise/status")).is_ok_and(|b| b[17] == b'd')
    });
    must("finish gone", || !svstat(&s).contains("finishing"));
    let n = starts(&s);
    // No start after the throttle's second: an absence, which only waiting shows.
    assert!(!wait_for(Duration::from_millis(1500), || starts(&s) > n));
    p.stop();
    assert!(
        p.stderr()
            .contains("finish did not end in time: killing it")
    );
}

#[test]
fn burst_policy_rests_after_quick_starts() {
    let t = TempDir::new("burst");
    let s = service(&t.join("s"), "echo $(date +%s%N) >> starts\nexit 1");
    std::fs::write(s.join("restart"), "burst 3 10s 1m\n").unwrap();
    let _p = Proc::supervise(&s);
    must("three starts", || starts(&s) >= 3);
    must("backoff shown", || svstat(&s).contains(", backoff "));
    let line = svstat(&s);
    let secs: u64 = line
        .split(", backoff ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!((50..=60).contains(&secs), "{line}");
    assert!(line.ends_with(" seconds, last exit 1, 3 starts"), "{line}");
    let (_, json, _) = out(cmd("svstat").arg("-j").arg(&s));
    assert!(json.contains("\"backoff\":"), "{json}");
    // Resting: no start for two seconds, twice the throttle (an absence, shown only
    // by waiting).
    assert!(!wait_for(Duration::from_millis(2000), || starts(&s) > 3));
    // svc -u does not jump the rest; svc -d cancels it.
    svc("-d", &s);
    must("no backoff once down", || !svstat(&s).contains("backoff"));
}

#[test]
fn stops_on_purpose_are_no_crash_loop() {
    let t = TempDir::new("burst-deliberate");
    let s = service(&t.join("s"), "echo x >> starts\nexec sleep 1000");
    std::fs::write(s.join("down"), "").unwrap();
    // Two starts within an hour would mean an hour's rest, were they crashes.
    std::fs::write(s.join("restart"), "burst 2 1h 1h\n").unwrap();
    let _p = Proc::supervise(&s);
    for round in 1..=3 {
        svc("-u", &s);
        must("up", || status_pid(&s) != 0 && starts(&s) == round);
        svc("-d", &s);
        must("down", || status_pid(&s) == 0);
    }
    svc("-u", &s);
    must("up a fourth time", || status_pid(&s) != 0);
    assert!(!svstat(&s).contains("backoff"));
}

#[test]
fn exponential_policy_doubles_the_wait() {
    let t = TempDir::new("expo");
    let s = service(&t.join("s"), "echo $(date +%s%N) >> starts\nexit 1");
    std::fs::write(s.join("restart"), "exponential 1s 4s\n").unwrap();
    let _p = Proc::supervise(&s);
    must("four starts", || starts(&s) >= 4);
    let l = lines(&s.join("starts"));
    let ns = |i: usize| l[i].parse::<u64>().unwrap();
    let gaps: Vec<u64> = (1..4).map(|i| (ns(i) - ns(i - 1)) / 1_000_000).collect();
    assert!(
        gaps[0] >= 950 && gaps[1] >= 1950 && gaps[2] >= 3950,
        "{gaps:?} ms"
    );
}

#[test]
fn garbage_restart_file_falls_back_to_daemontools() {
    // (svstat reports it too: see garbage_stop_settings_fall_back_to_daemontools.)
    let t = TempDir::new("badrestart");
    let s = service(&t.join("s"), "echo x >> starts\nexit 1");
    std::fs::write(s.join("restart"), "sometimes").unwrap();
    let mut p = Proc::supervise_capturing_stderr(&s);
    must("three starts", || starts(&s) >= 3);
    p.stop();
    assert!(
        p.stderr()
            .contains("restart: not a restart policy: \"sometimes\"")
    );
}

#[test]
fn notify_hears_every_change_and_never_blocks() {
    let t = TempDir::new("notify");
    let s = service(&t.join("s"), "echo x >> starts\nsleep 0.3\nexit 2");
    // Hangs after recording: supervise must not wait for it.
    script(
        &s.join("notify"),
        "echo $$ >> notifiers\necho \"$*\" >> events\nexec sleep 1000",
    );
    std::fs::write(s.join("restart"), "exponential 2s 1m").unwrap();
    // The hanging notifies must not hold the test harness's output open.
    let mut p = Proc::spawn(
        cmd("supervise")
            .arg(&s)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null()),
    );
    p.services.push(s.clone());
    // Kills the hanging notifies by pid, even when an assertion fails.
    struct Notifiers(std::path::PathBuf);
    impl Drop for Notifiers {
        fn drop(&mut self) {
            for pid in lines(&self.0) {
                signal(pid.parse().unwrap(), libc::SIGKILL);
            }
        }
    }
    let _notifiers = Notifiers(s.join("notifiers"));
    must("supervise/ok", || ok(&s));
    let name = std::fs::canonicalize(&s).unwrap().display().to_string();
    must("start, exit and backoff", || {
        lines(&s.join("events")).len() >= 3
    });
    // Each event has a notify of its own, running concurrently: order is not kept.
    let mut ev = lines(&s.join("events"))[..3].to_vec();
    ev.sort();
    let want = ["backoff 2", "exit 2", "start"].map(|e| format!("{name} {e}"));
    assert_eq!(ev, want);
    svc("-d", &s);
    must("want down", || {
        std::fs::read(s.join("supervise/status")).is_ok_and(|b| b[17] == b'd')
    });
    svc("-o", &s);
    must("down at last", || {
        lines(&s.join("events")).contains(&format!("{name} down"))
    });
    // The hanging notifies are ours to clean up, by pid.
    let n = lines(&s.join("events")).len();
    must("every notifier recorded", || {
        lines(&s.join("notifiers")).len() >= n
    });
    for pid in lines(&s.join("notifiers")) {
        signal(pid.parse().unwrap(), libc::SIGKILL);
    }
    drop(p);
}

#[test]
fn a_notify_without_its_run_bit_is_reported() {
    let t = TempDir::new("notifybad");
    let s = service(&t.join("s"), "exec sleep 1000");
    std::fs::write(s.join("notify"), "#!/bin/sh\necho hi\n").unwrap();
    let mut p = Proc::supervise_capturing_stderr(&s);
    must("up", || status_pid(&s) != 0);
    svc("-d", &s);
    must("down", || status_pid(&s) == 0);
    p.stop();
    assert!(p.stderr().contains("/notify: access denied"));
}

#[test]
fn notification_fd_readiness() {
    let t = TempDir::new("notifyfd");
    let s = service(
        &t.join("s"),
        "while [ ! -e go ]; do sleep 0.02; done\necho >&5\nexec sleep 1000",
    );
    std::fs::write(s.join("notification-fd"), "5\n").unwrap();
    let _p = Proc::supervise(&s);
    must("up, not ready", || {
        svstat(&s).ends_with(" seconds, not ready")
    });
    let mut w = Proc::spawn(cmd("svwait").arg("-U").arg(&s));
    assert_eq!(out(cmd("svwait").args(["-U", "-t", "200ms"]).arg(&s)).0, 1);
    std::fs::write(s.join("go"), "").unwrap();
    assert_eq!(w.wait_exit(), Some(0));
    assert!(svstat(&s).contains(" seconds, ready "), "{}", svstat(&s));
    let (_, json, _) = out(cmd("svstat").arg("-j").arg(&s));
    assert!(json.contains("\"ready\":true"), "{json}");
}

#[test]
fn check_readiness_and_check_failure() {
    let t = TempDir::new("check");
    let s = service(&t.join("s"), "exec sleep 1000");
    script(&s.join("check"), "echo x >> checks\n[ -e healthy ]");
    std::fs::write(s.join("check-interval"), "50ms").unwrap();
    std::fs::write(s.join("check-timeout"), "1s").unwrap();
    script(&s.join("notify"), "echo \"$2\" >> events");
    let _p = Proc::supervise(&s);
    must("checked a few times", || {
        lines(&s.join("checks")).len() >= 3
    });
    assert!(svstat(&s).ends_with(", not ready"), "{}", svstat(&s));
    must("check failing", || {
        svstat(&s).contains("not ready (check failing ")
    });
    must("told", || {
        lines(&s.join("events")).contains(&"check-failed".to_string())
    });
    // A restart checks again, and this time passes.
    std::fs::write(s.join("healthy"), "").unwrap();
    svc("-k", &s);
    must("ready", || svstat(&s).contains(" seconds, ready "));
    must("told ready", || {
        lines(&s.join("events")).contains(&"ready".to_string())
    });
    assert_eq!(out(cmd("svwait").args(["-U", "-t", "5s"]).arg(&s)).0, 0);
}

#[test]
fn a_plain_service_is_ready_once_up() {
    let t = TempDir::new("plainready");
    let s = service(&t.join("s"), "exec sleep 1000");
    let _p = Proc::supervise(&s);
    assert_eq!(out(cmd("svwait").args(["-U", "-t", "10s"]).arg(&s)).0, 0);
    assert!(!svstat(&s).contains(", ready") && !svstat(&s).contains("not ready"));
}

#[test]
fn garbage_notification_fd_is_ignored() {
    let t = TempDir::new("badfd");
    let s = service(&t.join("s"), "exec sleep 1000");
    std::fs::write(s.join("notification-fd"), "1").unwrap();
    let mut p = Proc::supervise_capturing_stderr(&s);
    must("up", || status_pid(&s) != 0);
    assert!(!svstat(&s).contains(", ready") && !svstat(&s).contains("not ready"));
    let (_, json, _) = out(cmd("svstat").arg("-j").arg(&s));
    assert!(json.contains("\"bad_settings\":true"), "{json}");
    svc("-d", &s);
    must("still responsive", || status_pid(&s) == 0);
    p.stop();
    assert!(
        p.stderr()
            .contains("notification-fd: not a descriptor number")
    );
}

#[test]
fn a_check_that_hangs_is_killed_at_its_timeout() {
    let t = TempDir::new("checkhang");
    let s = service(&t.join("s"), "exec sleep 1000");
    script(&s.join("check"), "echo $$ >> checks\nexec sleep 1000");
    std::fs::write(s.join("check-timeout"), "500ms").unwrap();
    let _p = Proc::supervise(&s);
    must("check failing", || {
        svstat(&s).contains("not ready (check failing ")
    });
    let check: u32 = lines(&s.join("checks"))[0].parse().unwrap();
    must("hanging check killed", || !alive(check));
    // Still obeys svc.
    svc("-d", &s);
    must("down", || status_pid(&s) == 0);
}

/// A script line that records the script's ignored and blocked signal masks in `file`.
fn record_signals(file: &str) -> String {
    format!(
        "grep -E '^Sig(Ign|Blk)' /proc/self/status | tr '\\n' ' ' > {file}.tmp && mv {file}.tmp {file}"
    )
}

#[test]
fn every_program_starts_with_default_signals_and_an_empty_mask() {
    let t = TempDir::new("signals");
    let s = service(
        &t.join("s"),
        &format!("{}\nexec sleep 1000", record_signals("sig-run")),
    );
    script(
        &s.join("check"),
        &format!("{}\n[ -e sig-run ]", record_signals("sig-check")),
    );
    script(&s.join("finish"), &record_signals("sig-finish"));
    script(&s.join("notify"), &record_signals("sig-notify-$2"));
    // supervise itself starts with signals ignored and blocked that a service must not
    // inherit (Rust's own posix_spawn leaves glibc's 32 and 33 ignored here, too).
    let mut c = cmd("supervise");
    c.arg(&s).stdin(std::process::Stdio::null());
    // SAFETY: signal(2) and sigprocmask(2) in the forked child, async-signal-safe.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut c, || {
            libc::signal(libc::SIGHUP, libc::SIG_IGN);
            libc::signal(libc::SIGUSR1, libc::SIG_IGN);
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGUSR2);
            libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            Ok(())
        });
    }
    let mut p = Proc::spawn(&mut c);
    p.services.push(s.clone());
    must("ready", || s.join("sig-notify-ready").exists());
    svc("-d", &s);
    must("finished", || s.join("sig-finish").exists());
    must("down told", || s.join("sig-notify-down").exists());
    for f in [
        "sig-run",
        "sig-check",
        "sig-finish",
        "sig-notify-start",
        "sig-notify-ready",
    ] {
        let got = std::fs::read_to_string(s.join(f)).unwrap();
        assert_eq!(
            got.split_whitespace().collect::<Vec<_>>(),
            ["SigBlk:", "0000000000000000", "SigIgn:", "0000000000000000"],
            "{f}"
        );
    }
}

/// A throwaway account, removed on drop: attacks are tried as someone who is not root.
struct User {
    name: String,
    uid: u32,
}

impl User {
    fn new(tag: &str) -> User {
        let name = format!("svk{tag}{}", std::process::id());
        // useradd fails while another one holds /etc/passwd's lock: try again.
        let made = wait_for(DEADLINE, || {
            run(std::process::Command::new("useradd")
                .args(["-M", "-N", "-s", "/bin/false"])
                .arg(&name))
            .status
            .success()
        });
        assert!(made, "useradd {name}");
        // Removed on drop from here on, even if what follows fails.
        let mut user = User {
            uid: u32::MAX,
            name: name.clone(),
        };
        let (_, id, _) = out(std::process::Command::new("id").arg("-u").arg(&name));
        user.uid = id.trim().parse().unwrap();
        user
    }

    /// `prog` (copied where the account can run it) run as the account.
    fn command(&self, t: &TempDir, prog: &str) -> std::process::Command {
        use std::os::unix::fs::PermissionsExt;
        let copy = t.join(format!("{prog}-copy"));
        if !copy.exists() {
            std::fs::copy(bin(prog), &copy).unwrap();
            std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let mut c = cmd("setuidgid");
        c.arg(&self.name).arg(copy);
        c
    }
}

impl Drop for User {
    fn drop(&mut self) {
        wait_for(DEADLINE, || {
            run(std::process::Command::new("userdel").arg(&self.name))
                .status
                .success()
        });
    }
}

/// Root's secrets beside a service, and the traps an account lays in its
/// `supervise/`: a control FIFO anyone may write, and symbolic links from status.new,
/// lock and event/x to the secrets (lock's to a file that does not exist yet).
struct Trap {
    t: TempDir,
    s: std::path::PathBuf,
}

impl Trap {
    fn new(tag: &str, user: &User, sup_owner: u32, sup_mode: u32) -> Trap {
        use std::os::unix::fs::{PermissionsExt, chown, symlink};
        let t = TempDir::new(tag);
        std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let s = service(&t.join("s"), "echo $$ >> starts\nexec sleep 1000");
        for secret in ["secret-status", "secret-event"] {
            std::fs::write(t.join(secret), "precious\n").unwrap();
            std::fs::set_permissions(t.join(secret), std::fs::Permissions::from_mode(0o600))
                .unwrap();
        }
        let sup = s.join("supervise");
        std::fs::create_dir_all(sup.join("event")).unwrap();
        let fifo = std::ffi::CString::new(sup.join("control").to_str().unwrap()).unwrap();
        // SAFETY: mkfifo(3) with a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o666) }, 0);
        std::fs::set_permissions(sup.join("control"), std::fs::Permissions::from_mode(0o666))
            .unwrap();
        symlink(t.join("secret-status"), sup.join("status.new")).unwrap();
        symlink(t.join("created-by-lock"), sup.join("lock")).unwrap();
        symlink(t.join("secret-event"), sup.join("event/x")).unwrap();
        std::fs::write(sup.join("event/y"), "").unwrap();
        for p in ["control", "event/y"] {
            chown(sup.join(p), Some(user.uid), None).unwrap();
        }
        std::fs::set_permissions(sup.join("event"), std::fs::Permissions::from_mode(0o777))
            .unwrap();
        chown(&sup, Some(sup_owner), None).unwrap();
        std::fs::set_permissions(&sup, std::fs::Permissions::from_mode(sup_mode)).unwrap();
        Trap { t, s }
    }

    #[track_caller]
    fn assert_secrets_intact(&self) {
        for secret in ["secret-status", "secret-event"] {
            assert_eq!(
                std::fs::read_to_string(self.t.join(secret)).unwrap(),
                "precious\n",
                "{secret}"
            );
        }
        assert!(!self.t.join("created-by-lock").exists());
        assert_eq!(
            std::fs::read(self.s.join("supervise/event/y")).unwrap(),
            b""
        );
    }
}

#[test]
fn a_supervise_dir_of_another_account_is_refused() {
    let user = User::new("a");
    let trap = Trap::new("foreign", &user, user.uid, 0o755);
    let s = &trap.s;
    let mut p = Proc::supervise_capturing_stderr(s);
    p.services.push(s.clone());
    assert_eq!(p.wait_exit(), Some(111));
    assert_eq!(
        p.stderr(),
        format!(
            "supervise: fatal: unable to use {}/supervise: owned by uid {}, not by uid 0: remove it or chown it\n",
            s.display(),
            user.uid
        )
    );
    assert!(!s.join("starts").exists(), "the service must not start");
    trap.assert_secrets_intact();
    let (code, _, err) = out(user.command(&trap.t, "svc").arg("-k").arg(s));
    assert_eq!(code, 111, "{err}");
}

#[test]
fn a_supervise_dir_others_may_write_is_repaired_and_its_traps_replaced() {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let user = User::new("b");
    let trap = Trap::new("writable", &user, 0, 0o777);
    let s = &trap.s;
    let mut p = Proc::supervise_capturing_stderr(s);
    p.services.push(s.clone());
    must("up", || status_pid(s) != 0);
    let pid = status_pid(s);
    // Several status writes and wake-ups.
    svc("-p", s);
    svc("-c", s);
    must("continued", || {
        std::fs::read(s.join("supervise/status")).is_ok_and(|b| b.len() >= 18 && b[16] == 0)
    });
    trap.assert_secrets_intact();
    for d in ["supervise", "supervise/event"] {
        let m = std::fs::metadata(s.join(d)).unwrap();
        assert_eq!(m.mode() & 0o7777, 0o755, "{d}");
    }
    let control = std::fs::symlink_metadata(s.join("supervise/control")).unwrap();
    assert!(control.file_type().is_fifo());
    assert_eq!((control.uid(), control.mode() & 0o7777), (0, 0o600));
    let lock = std::fs::symlink_metadata(s.join("supervise/lock")).unwrap();
    assert!(lock.file_type().is_file());
    // The account can no longer control the service.
    let (code, _, err) = out(user.command(&trap.t, "svc").arg("-k").arg(s));
    assert_ne!(code, 0, "{err}");
    assert!(err.contains("access denied"), "{err}");
    assert!(alive(pid) && status_pid(s) == pid);
    p.stop();
    let err = p.stderr();
    let sd = format!("{}/supervise", s.display());
    for line in [
        format!(
            "supervise: warning: {sd} was writable by other accounts (mode 0777): made it 0755"
        ),
        format!("supervise: warning: replacing {sd}/lock: a symbolic link"),
        format!("supervise: warning: replacing {sd}/control: owned by another account"),
        format!(
            "supervise: warning: {sd}/event was writable by other accounts (mode 0777): made it 0755"
        ),
    ] {
        assert!(
            err.lines().any(|l| l == line),
            "missing {line:?} in:\n{err}"
        );
    }
}

#[test]
fn a_service_name_that_is_not_utf8_or_begins_with_a_dash() {
    use std::os::unix::ffi::OsStrExt;
    let t = TempDir::new("names");
    for name in [&b"-x"[..], &b"caf\xe9"[..], &b"-\xff"[..]] {
        let name = std::ffi::OsStr::from_bytes(name);
        let s = service(&t.join(name), "exec sleep 1000");
        script(&s.join("notify"), "printf '%s' \"$1\" > notified");
        let mut p = Proc::spawn(
            cmd("supervise")
                .arg(name)
                .current_dir(t.path())
                .stdin(std::process::Stdio::null()),
        );
        p.services.push(s.clone());
        must("up", || status_pid(&s) != 0);
        let abs = std::fs::canonicalize(&s).unwrap();
        must("notified", || {
            std::fs::read(s.join("notified")).is_ok_and(|b| b == abs.as_os_str().as_bytes())
        });
        svc("-dx", &s);
        assert_eq!(p.wait_exit(), Some(0), "{name:?}");
    }
}

#[test]
fn a_supervise_that_cannot_start_leaves_no_service_running() {
    let t = TempDir::new("nook");
    let s = service(&t.join("s"), "echo $$ >> starts\nexec sleep 1000");
    // Something supervise cannot replace where its ok FIFO goes.
    std::fs::create_dir_all(s.join("supervise/ok/x")).unwrap();
    let mut p = Proc::supervise_capturing_stderr(&s);
    let code = p.wait_exit();
    // Whatever happened, nothing started is left behind.
    for pid in lines(&s.join("starts")) {
        signal(pid.parse().unwrap(), libc::SIGKILL);
    }
    assert_eq!(code, Some(111));
    assert!(p.stderr().ends_with(&format!(
        "supervise: fatal: unable to read {}/supervise/ok: is a directory\n",
        s.display()
    )),);
    assert!(!s.join("starts").exists(), "run was started");
}

#[test]
fn run_finds_itself_up_in_its_status_at_once() {
    let t = TempDir::new("upatonce");
    // The pid in supervise/status (od reads host order: x86 and arm64 are
    // little-endian, as the field is) as run sees it the moment it starts: 25
    // services restarted 8 times each (the throttle allows one start a second).
    let mut sups = Vec::new();
    let mut dirs = Vec::new();
    for i in 0..25 {
        let s = service(
            &t.join(format!("s{i}")),
            "p=$(od -An -tu4 -j12 -N4 supervise/status | tr -d ' ')\n\
             echo \"$$ $p\" >> seen\n\
             [ $(wc -l < seen) -ge 8 ] && exec sleep 1000\n\
             exit 0",
        );
        sups.push(Proc::supervise(&s));
        dirs.push(s);
    }
    for s in &dirs {
        assert!(
            wait_for(Duration::from_secs(60), || lines(&s.join("seen")).len()
                >= 8),
            "8 starts of {}",
            s.display()
        );
    }
    let seen: Vec<String> = dirs.iter().flat_map(|s| lines(&s.join("seen"))).collect();
    let wrong: Vec<&String> = seen
        .iter()
        .filter(|l| l.split_once(' ').is_none_or(|(a, b)| a != b))
        .collect();
    assert!(
        wrong.is_empty(),
        "{} of {} starts saw another pid: {wrong:?}",
        wrong.len(),
        seen.len()
    );
}

#[test]
fn notify_hears_down_when_a_pending_restart_is_cancelled() {
    let t = TempDir::new("downpending");
    let s = service(&t.join("s"), "exit 1");
    std::fs::write(s.join("restart"), "exponential 30s 1m").unwrap();
    script(&s.join("notify"), "echo \"$2\" >> events");
    let _p = Proc::supervise(&s);
    must("backing off", || {
        lines(&s.join("events")).contains(&"backoff".to_string())
    });
    svc("-d", &s);
    must("down", || {
        lines(&s.join("events")).contains(&"down".to_string())
    });
}

#[test]
fn each_message_is_one_write() {
    // supervises share svscan's stderr: a line in several writes interleaves with
    // theirs. A datagram socket as stderr shows each write(2) apart.
    let t = TempDir::new("onewrite");
    let s = t.join("s");
    std::fs::create_dir_all(&s).unwrap();
    let (mine, theirs) = std::os::unix::net::UnixDatagram::pair().unwrap();
    let mut p = Proc::spawn(
        cmd("supervise")
            .arg(&s)
            .stdin(std::process::Stdio::null())
            .stderr(std::os::fd::OwnedFd::from(theirs)),
    );
    p.services.push(s.clone());
    mine.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut buf = [0u8; 4096];
    let n = mine.recv(&mut buf).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&buf[..n]),
        format!(
            "supervise: warning: unable to start {}/run: file does not exist\n",
            s.display()
        )
    );
}

#[test]
fn a_setting_past_a_hundred_years_means_for_ever() {
    let t = TempDir::new("forever");
    let s = service(&t.join("s"), "exec sleep 1000");
    script(&s.join("check"), "echo x >> checks\nexit 1");
    std::fs::write(s.join("check-timeout"), "110000000000000d").unwrap();
    let mut p = Proc::supervise_capturing_stderr(&s);
    must("checked", || lines(&s.join("checks")).len() >= 2);
    let (_, json, _) = out(cmd("svstat").arg("-j").arg(&s));
    assert!(json.contains("\"bad_settings\":false"), "{json}");
    p.stop();
    assert_eq!(p.stderr(), "");
}

/// `supervise/pid` as runit's runsv writes it: the pid and a newline while up, empty
/// while down; replaced through a new file, so a link planted as its temporary file
/// is never written through.
#[test]
fn pid_file_as_runsv_writes_it() {
    use std::os::unix::fs::PermissionsExt;
    let t = TempDir::new("pidfile");
    let s = service(&t.join("s"), "exec sleep 1000");
    let _p = Proc::supervise(&s);
    let pid_file = s.join("supervise/pid");
    must("pid written", || status_pid(&s) != 0);
    must("pid file", || {
        std::fs::read_to_string(&pid_file).ok() == Some(format!("{}\n", status_pid(&s)))
    });
    let meta = std::fs::symlink_metadata(&pid_file).unwrap();
    assert!(meta.file_type().is_file());
    assert_eq!(meta.permissions().mode() & 0o777, 0o644);
    svc("-d", &s);
    must("empty when down", || {
        status_pid(&s) == 0 && std::fs::read(&pid_file).is_ok_and(|b| b.is_empty())
    });
    let precious = t.join("precious");
    std::fs::write(&precious, "root's\n").unwrap();
    std::os::unix::fs::symlink(&precious, s.join("supervise/pid.new")).unwrap();
    svc("-u", &s);
    must("pid file again", || {
        let pid = status_pid(&s);
        pid != 0 && std::fs::read_to_string(&pid_file).ok() == Some(format!("{pid}\n"))
    });
    assert_eq!(std::fs::read_to_string(&precious).unwrap(), "root's\n");
    assert!(
        !std::fs::symlink_metadata(&pid_file)
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

/// A service that keeps failing: supervise says so on stderr (the first exits, then
/// the 4th, 8th, ... of a streak), and svstat shows the last exit and the starts while
/// it is down waiting for its restart. Stopped on purpose, it reads as in daemontools.
#[test]
fn a_failing_service_is_reported_on_stderr_and_by_svstat() {
    let t = TempDir::new("failing");
    let s = service(&t.join("s"), "echo x >> starts\nexit 3");
    let mut p = Proc::supervise_capturing_stderr(&s);
    must("failing shown", || {
        let l = svstat(&s);
        l.contains(": down ") && l.contains(", normally up, want up, last exit 3, ")
    });
    must("four starts", || starts(&s) >= 4);
    // The fourth run may still be up for a moment: the starts show once it is down
    // again, waiting for its restart.
    must("down waiting, with its starts", || {
        let l = svstat(&s);
        l.contains(": down ") && l.ends_with(" starts")
    });
    svc("-d", &s);
    must("down for good", || {
        let l = svstat(&s);
        l.ends_with(" seconds, normally up") && l.contains(": down ")
    });
    p.stop();
    let err = p.stderr();
    let d = s.display();
    assert!(
        err.contains(&format!(
            "supervise: warning: {d}/run exited 3 unexpectedly: restarting it\n"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "supervise: warning: {d}/run exited 3 unexpectedly (2 times in a row): restarting it\n"
        )),
        "{err}"
    );
    assert!(err.contains("(4 times in a row)"), "{err}");
    assert!(!err.contains("(3 times in a row)"), "{err}");
}

/// A restart policy holding the service back says so, as IS::Init's "respawning too
/// rapidly".
#[test]
fn a_policy_wait_is_said_on_stderr() {
    let t = TempDir::new("backoffmsg");
    let s = service(&t.join("s"), "echo x >> starts\nexit 1");
    std::fs::write(s.join("restart"), "burst 2 10s 1m\n").unwrap();
    let mut p = Proc::supervise_capturing_stderr(&s);
    must("backoff shown", || {
        svstat(&s).ends_with(" seconds, last exit 1, 2 starts") && starts(&s) == 2
    });
    p.stop();
    let err = p.stderr();
    let prefix = format!(
        "supervise: warning: {}/run respawning too rapidly: waiting ",
        s.display()
    );
    let waits: Vec<&str> = err
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .collect();
    // The one-second throttle before the second start goes unsaid.
    assert_eq!(waits.len(), 1, "{err}");
    let rest = waits[0];
    let secs: u64 = rest
        .strip_suffix(" seconds")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{err}"));
    assert!((50..=60).contains(&secs), "{err}");
}

/// With a `down-on-100` file, run exiting 100 stays down (daemontools-encore's "do
/// not restart"); without it, 100 is an exit like any other (daemontools').
#[test]
fn exit_100_stays_down_with_down_on_100() {
    let t = TempDir::new("exit100");
    let s = service(&t.join("s"), "echo x >> starts\nexit 100");
    std::fs::write(s.join("down-on-100"), "").unwrap();
    let mut p = Proc::supervise_capturing_stderr(&s);
    must("down after exit 100", || {
        let l = svstat(&s);
        l.contains(": down ") && l.ends_with(", normally up, last exit 100, 1 starts")
    });
    // The throttle would have restarted it within a second: an absence, which only
    // waiting shows.
    assert!(!wait_for(Duration::from_millis(2500), || starts(&s) > 1));
    p.stop();
    assert!(p.stderr().contains(&format!(
        "supervise: warning: {}/run exited 100: not restarting it (down-on-100)\n",
        s.display()
    )));
    let plain = service(&t.join("plain"), "echo x >> starts\nexit 100");
    let _q = Proc::supervise(&plain);
    must("restarted without down-on-100", || starts(&plain) >= 2);
}

/// The first message a supervise of `s` (whose run cannot be executed) writes.
fn first_start_warning(s: &std::path::Path) -> String {
    let (mine, theirs) = std::os::unix::net::UnixDatagram::pair().unwrap();
    let mut p = Proc::spawn(
        cmd("supervise")
            .arg(s)
            .stdin(std::process::Stdio::null())
            .stderr(std::os::fd::OwnedFd::from(theirs)),
    );
    p.services.push(s.to_path_buf());
    mine.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut buf = [0u8; 4096];
    let n = mine.recv(&mut buf).unwrap();
    p.stop();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn a_run_whose_interpreter_is_missing_says_so() {
    use std::os::unix::fs::PermissionsExt;
    let t = TempDir::new("interp");
    let write_run = |name: &str, text: &[u8]| {
        let s = t.join(name);
        std::fs::create_dir_all(&s).unwrap();
        std::fs::write(s.join("run"), text).unwrap();
        std::fs::set_permissions(s.join("run"), std::fs::Permissions::from_mode(0o755)).unwrap();
        s
    };
    // Saved with DOS line endings: the kernel looks for "/bin/sh\r".
    let s = write_run("crlf", b"#!/bin/sh\r\nexec sleep 1000\r\n");
    assert_eq!(
        first_start_warning(&s),
        format!(
            "supervise: warning: unable to start {0}/run: file does not exist \
             (its interpreter /bin/sh\\r was not found: the file has DOS line endings? \
             dos2unix {0}/run)\n",
            s.display()
        )
    );
    let s = write_run("python9", b"#!/usr/bin/python9 -u\nprint(1)\n");
    assert_eq!(
        first_start_warning(&s),
        format!(
            "supervise: warning: unable to start {}/run: file does not exist \
             (its interpreter /usr/bin/python9 was not found)\n",
            s.display()
        )
    );
    // No #! line at all: daemontools' words, then what to add.
    let s = write_run("noshebang", b"exec sleep 1000\n");
    assert_eq!(
        first_start_warning(&s),
        format!(
            "supervise: warning: unable to start {0}/run: exec format error \
             (it has no #! line: begin {0}/run with one, such as #!/bin/sh)\n",
            s.display()
        )
    );
    // A run that is there and fine but for its interpreter's own name is not read
    // through a symbolic link: the plain words then.
    let target = write_run("target", b"#!/usr/bin/python9\n");
    let s = t.join("linked");
    std::fs::create_dir_all(&s).unwrap();
    std::os::unix::fs::symlink(target.join("run"), s.join("run")).unwrap();
    assert_eq!(
        first_start_warning(&s),
        format!(
            "supervise: warning: unable to start {}/run: file does not exist\n",
            s.display()
        )
    );
}

#[test]
fn encore_files_are_warned_about_once() {
    let t = TempDir::new("encore");
    let s = service(&t.join("s"), "exec sleep 1000");
    // daemontools-encore runs ./log (a file) as the logger and ./start before ./run.
    script(&s.join("log"), "exec multilog t ./main");
    script(&s.join("start"), "mkdir -p /run/x");
    // A Syn-3 check script (it runs svc) is svcstart's, and no concern of supervise.
    script(&s.join("stop"), "svc -d . && svwait -d -t 10s .");
    let mut p = Proc::supervise_capturing_stderr(&s);
    must("up", || status_pid(&s) != 0);
    // Once per supervise, not at each start.
    let first = status_pid(&s);
    svc("-k", &s);
    must("restarted", || {
        status_pid(&s) != 0 && status_pid(&s) != first
    });
    p.stop();
    let d = s.display();
    assert_eq!(
        p.stderr(),
        format!(
            "supervise: warning: {d}/log is an executable file: a daemontools-encore logger? \
             svkit does not run it; make {d}/log a directory with the logger as its run, and \
             let svscan run it (see supervise(8))\n\
             supervise: warning: {d}/start never runs svc: a daemontools-encore start script \
             (set-up run before ./run)? svkit's supervise does not run it; to migrate, move its \
             commands into {d}/run, before its exec (see svcstart(8))\n"
        )
    );
}
