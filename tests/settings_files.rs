//! Settings files of a service directory that are FIFOs, symbolic links to /dev/zero
//! or huge: supervise neither hangs nor eats memory on them; it warns, uses the
//! default, and starts the service.

mod common;
use common::*;
use std::process::Stdio;

/// A file of `n` bytes of `1` and no newline.
fn huge(path: &std::path::Path, n: usize) {
    std::fs::write(path, vec![b'1'; n]).unwrap();
}

#[test]
fn supervise_warns_about_unusable_settings_and_starts_the_service() {
    let t = TempDir::new("settings-supervise");
    let s = service(
        &t.join("s"),
        "echo started > started; exec sleep 1000 2>/dev/null",
    );
    script(&s.join("check"), "exit 0");
    script(&s.join("finish"), "exit 0");
    mkfifo(&s.join("restart"));
    mkfifo(&s.join("notification-fd"));
    std::os::unix::fs::symlink("/dev/zero", s.join("down-signal")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", s.join("check-timeout")).unwrap();
    huge(&s.join("check-interval"), 8 << 20);
    huge(&s.join("timeout-kill"), 8 << 20);
    mkfifo(&s.join("timeout-finish"));
    // Whatever goes wrong, not more than 300 MB.
    let mut p = Proc::spawn(
        cmd("softlimit")
            .args(["-a", "300000000", bin("supervise")])
            .arg(&s)
            .stdin(Stdio::null())
            .stderr(Stdio::piped()),
    );
    p.services.push(s.clone());
    must("started", || {
        s.join("started").exists() && status_pid(&s) != 0
    });
    must("ready", || svstat(&s).contains(", ready "));
    assert!(svstat(&s).contains(", bad settings"), "{}", svstat(&s));
    svc("-d", &s);
    must("down", || {
        status_pid(&s) == 0 && !svstat(&s).contains("finishing")
    });
    p.stop();
    let err = p.stderr();
    let d = s.display();
    for want in [
        format!("supervise: warning: {d}/restart: not a regular file, using daemontools'"),
        format!("supervise: warning: {d}/notification-fd: not a regular file, ignored"),
        format!("{d}/./down-signal: is a symbolic link, not followed, using TERM"),
        format!(
            "supervise: warning: {d}/check-timeout: is a symbolic link, not followed, using the default"
        ),
        format!(
            "supervise: warning: {d}/check-interval: longer than 4096 bytes, using the default"
        ),
        format!("{d}/./timeout-kill: longer than 4096 bytes, not killing"),
        format!("supervise: warning: {d}/timeout-finish: not a regular file, using the default"),
    ] {
        assert!(err.contains(&want), "want {want:?} in:\n{err}");
    }
}

/// A duration of a settings file past a hundred years is a hundred years: the service
/// runs, supervise does not crash at the arithmetic.
#[test]
fn supervise_saturates_huge_durations() {
    let t = TempDir::new("settings-forever");
    let s = service(&t.join("s"), "exec sleep 1000 2>/dev/null");
    script(&s.join("check"), "exit 1");
    script(&s.join("finish"), "exit 0");
    for f in ["check-timeout", "timeout-kill", "timeout-finish"] {
        std::fs::write(s.join(f), "110000000000000d\n").unwrap();
    }
    std::fs::write(
        s.join("restart"),
        "burst 1 110000000000000d 110000000000000d\n",
    )
    .unwrap();
    let mut p = Proc::supervise_capturing_stderr(&s);
    must("up", || status_pid(&s) != 0);
    assert!(svstat(&s).contains(", not ready"), "{}", svstat(&s));
    svc("-d", &s);
    must("down", || {
        status_pid(&s) == 0 && !svstat(&s).contains("finishing")
    });
    assert!(matches!(p.child.try_wait(), Ok(None)), "supervise died");
    p.stop();
    let err = p.stderr();
    assert!(!err.contains("panicked"), "{err}");
    assert!(!err.contains("warning"), "{err}");
}
