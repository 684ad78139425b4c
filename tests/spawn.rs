//! Every program svkit starts begins with every signal at its default disposition and
//! an empty signal mask, whatever the starter inherited (src/spawn.rs). supervise's own
//! programs (run, finish, check, notify) are tested in tests/supervise.rs.

mod common;
use common::*;
use std::path::Path;
use std::process::Command;

/// A shell command that records its ignored and blocked masks in `file`.
fn record(file: &Path) -> String {
    format!(
        "grep -E '^Sig(Ign|Blk)' /proc/self/status | tr '\\n' ' ' > {f}.tmp && mv {f}.tmp {f}",
        f = file.display()
    )
}

#[track_caller]
fn assert_clean(file: &Path) {
    let got = std::fs::read_to_string(file).unwrap();
    assert_eq!(
        got.split_whitespace().collect::<Vec<_>>(),
        ["SigBlk:", "0000000000000000", "SigIgn:", "0000000000000000"],
        "{}",
        file.display()
    );
}

/// Starts `cmd` with SIGHUP and SIGUSR1 ignored and SIGUSR2 blocked, as a careless
/// parent might leave them (the test harness's own posix_spawn adds glibc's 32 and 33).
fn dirty(cmd: &mut Command) -> &mut Command {
    // SAFETY: signal(2) and sigprocmask(2) in the forked child, async-signal-safe.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(cmd, || {
            libc::signal(libc::SIGHUP, libc::SIG_IGN);
            libc::signal(libc::SIGUSR1, libc::SIG_IGN);
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGUSR2);
            libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            Ok(())
        })
    }
}

#[test]
fn multilog_processor() {
    let t = TempDir::new("spawn-multilog");
    let rec = t.join("sig-processor");
    let o = feed(
        dirty(&mut cmd("multilog"))
            .arg("s4096")
            .arg(format!("!{}; cat", record(&rec)))
            .arg(t.join("log")),
        &b"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n".repeat(200),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_clean(&rec);
}

#[test]
fn svcstart_start_script() {
    let t = TempDir::new("spawn-svcstart");
    let s = service(&t.join("s"), "exec sleep 1000");
    std::fs::write(s.join("down"), "").unwrap();
    let _p = Proc::supervise(&s);
    let rec = t.join("sig-start");
    script(&s.join("start"), &format!("{}\nsvc -u .", record(&rec)));
    let (code, stdout, _) = out(dirty(&mut cmd("svcstart")).args(["-s", "100ms"]).arg(&s));
    assert_eq!(code, 0, "{stdout}");
    assert_clean(&rec);
}

#[test]
fn svscan_starts_supervise_clean() {
    let t = TempDir::new("spawn-svscan");
    let rec = t.join("sig-run");
    let s = service(
        &t.join("scan/s"),
        &format!("{}\nexec sleep 1000", record(&rec)),
    );
    let mut p = Proc::spawn(
        dirty(&mut cmd("svscan"))
            .arg(t.join("scan"))
            .stdin(std::process::Stdio::null()),
    );
    p.services.push(s.clone());
    must("run started", || rec.exists());
    // The supervise svscan started is clean itself, not only what it starts.
    let sup = std::fs::read_to_string(format!("/proc/{}/task/{}/children", p.pid(), p.pid()))
        .unwrap_or_default();
    for pid in sup.split_whitespace() {
        let st = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let blk = st.lines().find(|l| l.starts_with("SigBlk:"));
        assert_eq!(blk, Some("SigBlk:\t0000000000000000"), "supervise {pid}");
    }
    assert_clean(&rec);
    svc("-dx", &s);
    must("supervise gone", || !ok(&s));
}
