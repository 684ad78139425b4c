//! clinit: levels with overlap, every mode, tests failing, removed entries and groups,
//! changed commands, concurrency, cltab errors, the respawn throttle, -s, -k.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// A scan directory with svkit's svscan on it (or not yet), and a cltab beside it.
struct Tree {
    // Dropped in this order: svscan and its services first, then their directory.
    svscan: Option<Proc>,
    scan: PathBuf,
    t: TempDir,
}

impl Tree {
    fn new(tag: &str) -> Tree {
        let mut tree = Tree::without_svscan(tag);
        tree.start_svscan();
        tree
    }

    fn without_svscan(tag: &str) -> Tree {
        let t = TempDir::new(tag);
        let scan = t.join("scan");
        std::fs::create_dir(&scan).unwrap();
        Tree {
            svscan: None,
            scan,
            t,
        }
    }

    fn start_svscan(&mut self) {
        let mut p = Proc::spawn(
            cmd("svscan")
                .args(["-t", "1s"])
                .arg(&self.scan)
                .stdin(Stdio::null())
                .stdout(Stdio::null()),
        );
        p.services.push(self.scan.clone());
        self.svscan = Some(p);
    }

    fn path(&self) -> &Path {
        self.t.path()
    }

    /// Writes the cltab: settings for this tree, then `body` with `T` meaning the
    /// tree's directory.
    fn cltab(&self, body: &str) {
        let head = format!(
            ":::clstat:{}/clstat\n:::stop-interval:500ms\n",
            self.path().display()
        );
        let body = body.replace("T/", &format!("{}/", self.path().display()));
        std::fs::write(self.t.join("cltab"), head + &body).unwrap();
    }

    /// clinit on this tree's cltab and scan directory.
    fn command(&self, args: &[&str]) -> std::process::Command {
        let mut c = cmd("clinit");
        c.arg("-f")
            .arg(self.t.join("cltab"))
            .arg("-S")
            .arg(&self.scan)
            .args(args)
            .stdin(Stdio::null());
        c
    }

    fn clinit(&self, args: &[&str]) -> (i32, String, String) {
        out(&mut self.command(&[&["-t", "10s"], args].concat()))
    }

    fn spawn(&self, args: &[&str]) -> Proc {
        Proc::spawn(&mut self.command(args))
    }

    fn svc_dir(&self, name: &str) -> PathBuf {
        self.scan.join(name)
    }

    fn pid(&self, name: &str) -> u32 {
        status_pid(&self.svc_dir(name))
    }

    fn status(&self, args: &[&str]) -> String {
        let (code, stdout, stderr) = self.clinit(&[&["-s"], args].concat());
        assert!(code == 0 || code == 1, "{stderr}");
        stdout
    }
}

#[test]
fn levels_switch_with_overlap_and_leave_other_groups_alone() {
    let tree = Tree::new("clinit-levels");
    tree.cltab(
        "# web and db\n\
         web:a:12:respawn:exec sleep 1001\n\
         web:b:1:respawn:exec sleep 1002\n\
         web:c:2:respawn:exec sleep 1003\n\
         web:w:2:wait:echo waited >> T/log\n\
         web:gone:2:off:\n\
         db:d:1:respawn:exec sleep 1004\n",
    );
    let (code, _, err) = tree.clinit(&["web", "1"]);
    assert_eq!((code, err.as_str()), (0, ""));
    let a = tree.pid("web.a");
    assert!(a != 0 && tree.pid("web.b") != 0);
    assert_eq!(tree.pid("web.c"), 0);
    // Another group's entries exist, with a down file, and do not run.
    assert!(tree.svc_dir("db.d/down").exists());
    assert_eq!(tree.pid("db.d"), 0);
    assert!(!tree.svc_dir("web.gone").exists());
    assert_eq!(tree.status(&[]), "web 1 DONE\ndb - CONFIGURED\n");

    let (code, _, err) = tree.clinit(&["web", "2"]);
    assert_eq!((code, err.as_str()), (0, ""));
    // In both levels: kept running, not restarted.
    assert_eq!(tree.pid("web.a"), a);
    assert_eq!(tree.pid("web.b"), 0);
    assert!(tree.pid("web.c") != 0);
    assert_eq!(lines(&tree.path().join("log")), ["waited"]);
    // The same level again: respawn entries stay, wait entries do not run again.
    assert_eq!(tree.clinit(&["web", "2"]).0, 0);
    assert_eq!(lines(&tree.path().join("log")), ["waited"]);
    assert_eq!(tree.pid("web.a"), a);

    assert_eq!(tree.status(&["web"]), "2 DONE\n");
    assert_eq!(tree.status(&["web", "2"]), "DONE\n");
    assert_eq!(tree.clinit(&["-s", "web", "1"]).0, 1);
    // Cluster::Init's own line format, readable from another node with --clstat.
    let clstat = tree.path().join("clstat");
    assert_eq!(
        std::fs::read_to_string(&clstat).unwrap(),
        "Cluster::Init::Group web 2 DONE\nCluster::Init::Group db - CONFIGURED\n"
    );
    let (code, stdout, _) = out(cmd("clinit")
        .args(["-f", "/nonexistent/cltab", "-s", "--clstat"])
        .arg(&clstat)
        .arg("db"));
    assert_eq!((code, stdout.as_str()), (0, "- CONFIGURED\n"));

    // -k: everything down, gracefully, and said so.
    let (code, _, err) = tree.clinit(&["-k"]);
    assert_eq!((code, err.as_str()), (0, ""));
    for n in ["web.a", "web.b", "web.c", "db.d"] {
        assert_eq!(tree.pid(n), 0, "{n}");
    }
    assert!(!alive(a));
    assert_eq!(tree.status(&[]), "web - CONFIGURED\ndb - CONFIGURED\n");
}

#[test]
fn tests_once_and_level_zero() {
    let tree = Tree::new("clinit-modes");
    tree.cltab(
        "0:pre:0:test:test -e T/ok\n\
         0:one:0:once:echo once >> T/once.log\n\
         0:z:0:respawn:exec sleep 1005\n\
         0:idle:1:respawn:exec sleep 1006\n",
    );
    // The test fails: the group is failed, the rest still happens.
    let (code, _, err) = tree.clinit(&["0", "0"]);
    assert_eq!(code, 1);
    assert_eq!(err, "clinit: warning: 0: test pre exited 1\n");
    assert_eq!(tree.status(&[]), "0 0 FAILED\n");
    assert!(tree.pid("0.z") != 0);
    must("once ran", || {
        lines(&tree.path().join("once.log")).len() == 1
    });
    // once: not restarted after it exits.
    must("once down", || tree.pid("0.one") == 0);
    assert!(!svstat(&tree.svc_dir("0.one")).contains("want up"));

    // Retrying the level after a failure runs the test (and once) again.
    std::fs::write(tree.path().join("ok"), "").unwrap();
    let (code, _, err) = tree.clinit(&["0", "0"]);
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(tree.status(&["0", "0"]), "DONE\n");
    must("once ran again", || {
        lines(&tree.path().join("once.log")).len() == 2
    });
    // At the level already: once does not run again.
    assert_eq!(tree.clinit(&["0", "0"]).0, 0);
    must("once down", || tree.pid("0.one") == 0);
    assert_eq!(lines(&tree.path().join("once.log")).len(), 2);
}

#[test]
fn a_removed_group_is_stopped_gracefully_and_a_changed_command_restarts() {
    let tree = Tree::new("clinit-removed");
    // Records the INT it gets (Cluster::Init's first, graceful, signal).
    let graceful = "trap 'echo INT >> T/signals; exit 0' INT; while :; do sleep 0.05; done";
    tree.cltab(&format!(
        "old:x:1:respawn:{graceful}\n\
         keep:k:1:respawn:exec sleep 1007\n"
    ));
    assert_eq!(tree.clinit(&["old", "1"]).0, 0);
    assert_eq!(tree.clinit(&["keep", "1"]).0, 0);
    let x = tree.pid("old.x");
    let k = tree.pid("keep.k");
    assert!(x != 0 && k != 0);
    tree.cltab("keep:k:1:respawn:exec sleep 1008\n");
    let (code, _, err) = tree.clinit(&["-r"]);
    assert_eq!((code, err.as_str()), (0, ""));
    // Stopped by INT, not KILLed; its directory and supervise are gone.
    assert_eq!(lines(&tree.path().join("signals")), ["INT"]);
    assert!(!alive(x));
    must("dir gone", || !tree.svc_dir("old.x").exists());
    assert_eq!(tree.status(&[]), "keep 1 DONE\n");
    // The changed command took over.
    must("restarted with the new command", || {
        let p = tree.pid("keep.k");
        p != 0
            && p != k
            && std::fs::read_to_string(format!("/proc/{p}/cmdline"))
                .unwrap_or_default()
                .contains("1008")
    });
    assert!(
        std::fs::read_to_string(tree.svc_dir("keep.k/run"))
            .unwrap()
            .contains("exec sleep 1008")
    );
}

#[test]
fn escalates_to_term_then_kill() {
    let tree = Tree::new("clinit-escalate");
    tree.cltab(
        "g:deaf:1:respawn:trap '' INT TERM; while :; do sleep 0.05; done\n\
         g:other:2:respawn:exec sleep 1009\n",
    );
    assert_eq!(tree.clinit(&["g", "1"]).0, 0);
    let deaf = tree.pid("g.deaf");
    let (code, _, err) = tree.clinit(&["g", "2"]);
    assert_eq!((code, err.as_str()), (0, ""));
    assert!(!alive(deaf));
    assert_eq!(tree.pid("g.deaf"), 0);
    assert!(tree.pid("g.other") != 0);
}

#[test]
fn concurrent_clinits_take_turns() {
    let tree = Tree::new("clinit-lock");
    tree.cltab(
        "g:w1:1:wait:echo start1 >> T/log; sleep 0.3; echo end1 >> T/log\n\
         g:w2:2:wait:echo start2 >> T/log; sleep 0.3; echo end2 >> T/log\n",
    );
    let mut a = tree.spawn(&["g", "1"]);
    let mut b = tree.spawn(&["g", "2"]);
    assert_eq!(a.wait_exit(), Some(0));
    assert_eq!(b.wait_exit(), Some(0));
    let log = lines(&tree.path().join("log"));
    assert_eq!(log.len(), 4);
    // Each run is whole: a start is followed by its own end.
    assert_eq!(log[0].replace("start", "end"), log[1]);
    assert_eq!(log[2].replace("start", "end"), log[3]);
}

#[test]
fn respawn_throttle_from_the_cltab() {
    let tree = Tree::new("clinit-throttle");
    tree.cltab(
        ":::restart:burst 3 5s 1h\n\
         g:crash:1:respawn:echo x >> T/starts; exit 1\n",
    );
    tree.clinit(&["g", "1"]);
    let dir = tree.svc_dir("g.crash");
    assert_eq!(
        std::fs::read_to_string(dir.join("restart")).unwrap(),
        "burst 3 5s 1h\n"
    );
    // Three starts, then it rests (IS::Init: 5 in 10 s, then 60 s).
    must("resting", || {
        let j = out(cmd("svstat").arg("-j").arg(&dir)).1;
        j.contains("\"starts\":3,") && !j.contains("\"backoff\":0,")
    });
    assert_eq!(lines(&tree.path().join("starts")).len(), 3);
}

#[test]
fn cltab_errors_change_nothing() {
    let tree = Tree::new("clinit-errors");
    for (body, want) in [
        (
            "g:a:1:respawn:exec sleep 1\ng:b:1:sometimes:x\n",
            "cltab:4: bad mode \"sometimes\"",
        ),
        (
            "g:a:1:respawn:x\nh:a:2:once:y\n",
            "cltab:4: duplicate tag \"a\": already used on line 3 (group g)",
        ),
        (
            "g:a:1:respawn\n",
            "cltab:3: want GROUP:TAG:LEVELS:MODE:COMMAND",
        ),
    ] {
        tree.cltab(body);
        let (code, _, err) = tree.clinit(&["g", "1"]);
        assert_eq!(code, 100, "{err}");
        assert!(err.starts_with("clinit: fatal: "), "{err}");
        assert!(err.contains(want), "{err}");
        assert_eq!(std::fs::read_dir(&tree.scan).unwrap().count(), 0);
        assert!(!tree.path().join("clstat").exists());
    }
    tree.cltab("g:a:1:respawn:exec sleep 1010\n");
    let (code, _, err) = tree.clinit(&["nosuch", "1"]);
    assert_eq!(code, 100);
    assert!(err.contains("no group nosuch in"), "{err}");
    for args in [
        &[][..],
        &["g"],
        &["-s", "-r"],
        &["-r", "g", "1"],
        &["-x"],
        &["-s", "a", "b", "c"],
    ] {
        assert_eq!(tree.clinit(args).0, 100, "{args:?}");
    }
    let (code, stdout, _) = out(cmd("clinit").arg("-h"));
    assert_eq!(code, 0);
    assert!(stdout.starts_with("clinit: usage: clinit "));
}

#[test]
fn without_svscan_it_is_111() {
    let tree = Tree::without_svscan("clinit-nosvscan");
    tree.cltab("g:a:1:respawn:exec sleep 1011\n");
    let (code, _, err) = out(&mut tree.command(&["-t", "300ms", "g", "1"]));
    assert_eq!(code, 111);
    assert_eq!(
        err,
        format!(
            "clinit: fatal: no supervise in {}/g.a after 300ms: is svscan running on {}?\n",
            tree.scan.display(),
            tree.scan.display()
        )
    );
}

#[test]
fn a_daemon_left_by_a_wait_command_holds_no_lock() {
    let tree = Tree::new("clinit-lockfd");
    tree.cltab(
        "g:bg:1:wait:sleep 1000 </dev/null >/dev/null 2>&1 & echo $! > T/bg.pid\n\
         g:a:2:respawn:exec sleep 1012\n",
    );
    assert_eq!(tree.clinit(&["g", "1"]).0, 0);
    let bg: u32 = lines(&tree.path().join("bg.pid"))[0].parse().unwrap();
    // Were the lock inherited, this clinit would wait for ever: it gets 20 s.
    let mut next = tree.spawn(&["g", "2"]);
    let code = next.wait_exit();
    signal(bg, libc::SIGKILL);
    assert_eq!(code, Some(0));
    // Levels from the command line are checked as the cltab's are.
    for bad in ["", "a b"] {
        let (code, _, err) = tree.clinit(&["g", bad]);
        assert_eq!(code, 100, "{bad:?}");
        assert!(err.contains("bad level"), "{err}");
    }
}

#[test]
fn a_directory_that_is_not_clinits_is_refused_before_anything_changes() {
    let tree = Tree::new("clinit-foreign");
    std::fs::create_dir(tree.svc_dir("g.b")).unwrap();
    std::fs::write(tree.svc_dir("g.b/down"), "").unwrap();
    tree.cltab("g:a:1:respawn:exec sleep 1013\ng:b:1:respawn:exec sleep 1014\n");
    let (code, _, err) = tree.clinit(&["g", "1"]);
    assert_eq!(code, 100);
    assert!(
        err.contains(&format!(
            "{} exists and is not clinit's: rename tag b (cltab line 4)",
            tree.svc_dir("g.b").display()
        )),
        "{err}"
    );
    assert!(!tree.svc_dir("g.a").exists());
}

/// At boot clinit may run before svscan has started every supervise: it waits for
/// them (up to -t) instead of failing.
#[test]
fn waits_for_a_scanner_that_starts_after_it() {
    let mut tree = Tree::new("clinit-late");
    tree.cltab("g:a:1:respawn:exec sleep 1017\n");
    // The directory exists from an earlier run; then svscan goes away.
    assert_eq!(tree.spawn(&["-t", "20s", "g", "1"]).wait_exit(), Some(0));
    tree.svscan = None;
    must("supervise gone", || !common::ok(&tree.svc_dir("g.a")));
    let mut c = tree.spawn(&["-t", "20s", "g", "1"]);
    // clinit now waits for a supervise; svscan comes after it (that clinit does not
    // return meanwhile is an absence, which only waiting shows).
    assert!(!wait_for(
        std::time::Duration::from_millis(300),
        || matches!(c.child.try_wait(), Ok(Some(_)))
    ));
    tree.start_svscan();
    assert_eq!(c.wait_exit(), Some(0));
    assert!(tree.pid("g.a") != 0);
}

#[test]
fn a_hanging_wait_entry_is_killed_at_the_wait_timeout() {
    let tree = Tree::new("clinit-waittimeout");
    tree.cltab(
        ":::wait-timeout:500ms\n\
         g:hang:1:wait:sleep 1000 & echo $! > T/child.pid; wait\n\
         g:after:1:respawn:exec sleep 1019\n",
    );
    let (code, _, err) = tree.clinit(&["g", "1"]);
    assert_eq!(code, 1);
    assert_eq!(
        err,
        "clinit: warning: g: wait hang still running after 500ms, killed\n"
    );
    // Its whole process group went, and clinit went on with the level.
    let child: u32 = lines(&tree.path().join("child.pid"))[0].parse().unwrap();
    must("child killed", || !alive(child));
    assert!(tree.pid("g.after") != 0);
    assert_eq!(tree.status(&["g"]), "1 FAILED\n");
}

#[test]
fn settle_catches_an_entry_that_dies_at_once() {
    let tree = Tree::new("clinit-settle");
    tree.cltab(
        "g:bad:1:respawn:exec /nonexistent/daemon\n\
         g:good:1:respawn:exec sleep 1018\n",
    );
    let (code, _, err) = tree.clinit(&["--settle", "1s", "g", "1"]);
    assert_eq!(code, 1);
    // (Or, should every short life of it slip between two looks: not up at all.)
    assert!(
        err == "clinit: warning: g.bad: did not stay up for 1s\n"
            || err.starts_with("clinit: warning: g.bad: not up after "),
        "{err}"
    );
    assert_eq!(tree.status(&["g"]), "1 FAILED\n");
    // The entry that works passes a settle time.
    tree.cltab("g:good:1:respawn:exec sleep 1018\n");
    let (code, _, err) = tree.clinit(&["--settle", "500ms", "-r"]);
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(tree.status(&["g"]), "1 DONE\n");
}

#[test]
fn leftovers_of_a_killed_clinit_are_swept() {
    let tree = Tree::new("clinit-sweep");
    tree.cltab("g:a:1:respawn:exec sleep 1020\n");
    // A directory taken out of svscan's sight, its supervise still running...
    let removed = tree.scan.join(".clinit-removed.g.old.1");
    service(&removed, "exec sleep 1021");
    std::fs::write(removed.join("clinit"), "group g\ntag old\nmode respawn\n").unwrap();
    let mut sup = Proc::supervise(&removed);
    must("old service up", || status_pid(&removed) != 0);
    let old = status_pid(&removed);
    // ...and one half built.
    std::fs::create_dir(tree.scan.join(".clinit-new.g.b")).unwrap();
    let (code, _, err) = tree.clinit(&["g", "1"]);
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(sup.wait_exit(), Some(0));
    assert!(!alive(old));
    let mut names: Vec<String> = std::fs::read_dir(&tree.scan)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["g.a"]);
}

/// The unprivileged account the attacks below run as.
const NOBODY: u32 = 65534;

/// Runs a shell script as nobody; it must succeed.
fn as_nobody(script: &str) {
    let (code, _, err) = out(cmd("setuidgid").args(["nobody", "/bin/sh", "-c", script]));
    assert_eq!(code, 0, "{script}: {err}");
}

fn chown_nobody(path: &Path) {
    let (code, _, err) = out(std::process::Command::new("chown")
        .args(["-R", "nobody:"])
        .arg(path));
    assert_eq!(code, 0, "{err}");
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o7777
}

/// A directory only root may enter, holding a root file mode 600: what the attacks aim at.
fn victim(tree: &Tree) -> PathBuf {
    let v = tree.path().join("victim");
    std::fs::create_dir(&v).unwrap();
    set_mode(&v, 0o700);
    std::fs::write(v.join("secret"), "secret\n").unwrap();
    set_mode(&v.join("secret"), 0o600);
    v
}

#[track_caller]
fn victim_intact(v: &Path) {
    assert_eq!(
        std::fs::read_to_string(v.join("secret")).unwrap(),
        "secret\n"
    );
    assert_eq!(mode_of(&v.join("secret")), 0o600);
    assert_eq!(mode_of(v), 0o700);
    let names: Vec<_> = std::fs::read_dir(v)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["secret"]);
}

/// Directories of another account's in the scan directory (a service root gave it to
/// look after, a logger's service directory), with clinit files it wrote there (one
/// naming an entry, one linked to clinit's own, one in a log directory): not clinit's,
/// so never stopped, rewritten or removed.
#[test]
fn a_marker_another_account_planted_is_not_clinits() {
    let tree = Tree::new("clinit-forged");
    set_mode(tree.path(), 0o755);
    tree.cltab("g:a:1:respawn:exec sleep 1022\n");
    assert_eq!(tree.clinit(&["g", "1"]).0, 0);
    // Made outside the scan directory and moved in whole: svscan's supervise must
    // find them finished (and chown -R not meet its files).
    let build = |name: &str| {
        let d = tree.path().join(name);
        std::fs::create_dir(&d).unwrap();
        d
    };
    let xb = build("x");
    service(&xb, "exec sleep 1023");
    service(&xb.join("log"), "exec cat >/dev/null");
    std::fs::create_dir(xb.join("log/main")).unwrap();
    std::fs::write(xb.join("log/main/current"), "a log line\n").unwrap();
    let lb = build("logger");
    service(&lb, "exec sleep 1024");
    std::fs::create_dir(lb.join("main")).unwrap();
    std::fs::write(lb.join("main/current"), "a log line\n").unwrap();
    chown_nobody(&xb);
    chown_nobody(&lb);
    let (x, logger) = (tree.svc_dir("g.x"), tree.svc_dir("web-log"));
    let marker = "printf 'group g\\ntag x\\nmode respawn\\n'";
    as_nobody(&format!(
        "{marker} > {x}/clinit && {marker} > {x}/log/clinit && {marker} > {l}/clinit && \
         ln -s ../g.a/clinit {l}/clinit2",
        x = xb.display(),
        l = lb.display()
    ));
    std::fs::rename(&xb, &x).unwrap();
    std::fs::rename(&lb, &logger).unwrap();
    must("nobody's services supervised", || {
        tree.pid("g.x") != 0 && tree.pid("web-log") != 0
    });
    let (xpid, lpid) = (tree.pid("g.x"), tree.pid("web-log"));
    let kept = || {
        assert_eq!(tree.pid("g.x"), xpid);
        assert_eq!(tree.pid("web-log"), lpid);
        for f in ["run", "clinit", "log/run", "log/clinit", "log/main/current"] {
            assert!(x.join(f).exists(), "{f}");
        }
        for f in ["run", "clinit", "main/current"] {
            assert!(logger.join(f).exists(), "{f}");
        }
    };
    // -r takes away what no entry wants: of clinit's, nothing; the others stay.
    let (code, _, err) = tree.clinit(&["-r"]);
    kept();
    assert_eq!(code, 0, "{err}");
    for d in [&x, &logger] {
        assert!(
            err.contains(&format!(
                "clinit: warning: {}: not clinit's (its clinit file is owned by uid {NOBODY}): left alone\n",
                d.display()
            )),
            "{err}"
        );
    }
    assert!(tree.pid("g.a") != 0);
    // Nor does a marker that is a link to clinit's own make a directory clinit's.
    std::fs::remove_file(logger.join("clinit")).unwrap();
    std::fs::rename(logger.join("clinit2"), logger.join("clinit")).unwrap();
    let (code, _, err) = tree.clinit(&["-k"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("web-log: not clinit's (its clinit file is a symbolic link)"),
        "{err}"
    );
    kept();
    assert_eq!(tree.pid("g.a"), 0);
    // An entry of that name is refused, not written into nobody's directory.
    tree.cltab("g:a:1:respawn:exec sleep 1022\ng:x:1:respawn:exec sleep 1025\n");
    let (code, _, err) = tree.clinit(&["g", "1"]);
    assert_eq!(code, 100, "{err}");
    assert!(err.contains("g.x exists and is not clinit's"), "{err}");
    assert_eq!(
        std::fs::read_to_string(x.join("run")).unwrap(),
        "#!/bin/sh\nexec sleep 1023\n"
    );
    kept();
}

/// Symbolic links in clinit's directories, where its files and supervise's were and
/// beside them, pointing at root's files: removing the entries unlinks them and
/// follows none; what clinit did not make stays, with its directory.
#[test]
fn removing_an_entry_follows_no_link_and_keeps_what_clinit_did_not_make() {
    let tree = Tree::new("clinit-links");
    let v = victim(&tree);
    tree.cltab("g:a:1:respawn:exec sleep 1026\ng:b:1:respawn:exec sleep 1027\n");
    assert_eq!(tree.clinit(&["g", "1"]).0, 0);
    let (a, b) = (tree.svc_dir("g.a"), tree.svc_dir("g.b"));
    for d in [&a, &b] {
        std::fs::remove_file(d.join("down-signal")).unwrap();
        std::os::unix::fs::symlink(v.join("secret"), d.join("down-signal")).unwrap();
        std::os::unix::fs::symlink(&v, d.join("supervise/victim")).unwrap();
    }
    std::os::unix::fs::symlink(&v, a.join("extra")).unwrap();
    tree.cltab("h:c:1:wait:true\n");
    let (code, _, err) = tree.clinit(&["-r"]);
    assert_eq!(code, 0, "{err}");
    victim_intact(&v);
    assert!(!b.exists());
    assert!(!a.exists());
    // g.a is out of svscan's sight, with only what clinit did not make left in it.
    let left: Vec<PathBuf> = std::fs::read_dir(&tree.scan)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(left.len(), 1, "{left:?}");
    let name = left[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with(".clinit-removed.g.a."), "{name}");
    let inside: Vec<_> = std::fs::read_dir(&left[0])
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(inside, ["extra"]);
    assert_eq!(
        err,
        format!(
            "clinit: warning: unable to remove {}: it holds extra (not made by clinit): left in place\n",
            left[0].display()
        )
    );
}

/// A clstat directory other accounts may write (a shared /var/run, say): nobody puts
/// links at the lock and at the temp file names clinit used to take, pointing at
/// root's files. clinit writes through none of them; where it cannot go on, it says so.
#[test]
fn a_shared_clstat_directory_cannot_redirect_clinit() {
    let tree = Tree::new("clinit-clstat");
    set_mode(tree.path(), 0o755);
    let v = victim(&tree);
    let shared = tree.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    set_mode(&shared, 0o777);
    tree.cltab(":::clstat:T/shared/clstat\ng:w:1:wait:true\n");
    // The temp file was .clstat.PID.tmp: the shell's pid is clinit's once it execs.
    let script = format!(
        "{} nobody ln -s {}/secret {}/.clstat.$$.tmp && exec {} -f {} -S {} g 1",
        bin("setuidgid"),
        v.display(),
        shared.display(),
        bin("clinit"),
        tree.path().join("cltab").display(),
        tree.scan.display()
    );
    let (code, _, err) = out(std::process::Command::new("/bin/sh").arg("-c").arg(&script));
    assert_eq!((code, err.as_str()), (0, ""));
    victim_intact(&v);
    let clstat = shared.join("clstat");
    assert_eq!(
        std::fs::read_to_string(&clstat).unwrap(),
        "Cluster::Init::Group g 1 DONE\n"
    );
    assert_eq!(mode_of(&clstat), 0o644);
    assert_eq!(mode_of(&shared.join("clstat.lock")), 0o600);

    // A link at the lock is refused: nothing is made where it points.
    let lock = shared.join("clstat.lock");
    std::fs::remove_file(&lock).unwrap();
    as_nobody(&format!("ln -s {}/nologin {}", v.display(), lock.display()));
    let (code, _, err) = tree.clinit(&["g", "1"]);
    assert_eq!(code, 111, "{err}");
    assert_eq!(
        err,
        format!(
            "clinit: fatal: unable to lock {}: a symbolic link: not clinit's, remove it\n",
            lock.display()
        )
    );
    victim_intact(&v);
    // So is a lock file of nobody's: nobody could hold it, and clinit, for ever.
    std::fs::remove_file(&lock).unwrap();
    as_nobody(&format!("touch {}", lock.display()));
    let (code, _, err) = tree.clinit(&["g", "1"]);
    assert_eq!(code, 111, "{err}");
    assert!(
        err.contains(&format!("owned by uid {NOBODY}: not clinit's, remove it")),
        "{err}"
    );
    // And a link put in clstat's place.
    std::fs::remove_file(&lock).unwrap();
    as_nobody(&format!(
        "rm -f {c} && ln -s {}/secret {c}",
        v.display(),
        c = clstat.display()
    ));
    let (code, _, err) = tree.clinit(&["g", "1"]);
    assert_eq!(code, 111, "{err}");
    assert!(
        err.contains("clstat: a symbolic link: not written by clinit, remove it"),
        "{err}"
    );
    victim_intact(&v);
}

/// Arguments are bytes: a group or level that is not UTF-8 is refused by name (clstat
/// is text), and paths that are not UTF-8 work.
#[test]
fn arguments_that_are_not_utf8() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let tree = Tree::new("clinit-bytes");
    tree.cltab("g:w:1:wait:echo ran >> T/log\n");
    let ff = OsStr::from_bytes(b"\xff");
    let [g, one, t] = ["g", "1", "-t"].map(OsStr::new);
    for (args, want) in [
        (vec![g, ff], "clinit: level \"\\xFF\" is not UTF-8 text\n"),
        (vec![ff, one], "clinit: group \"\\xFF\" is not UTF-8 text\n"),
        (
            vec![t, ff, g, one],
            "clinit: duration \"\\xFF\" is not UTF-8 text\n",
        ),
    ] {
        let (code, _, err) = out(tree.command(&[]).args(&args));
        assert_eq!(code, 100, "{args:?}: {err}");
        assert!(err.starts_with(want), "{err}");
        assert!(err.contains("clinit: usage: "), "{err}");
    }
    assert!(!tree.path().join("clstat").exists());
    assert!(!tree.path().join("log").exists());
    let cltab = tree.path().join(OsStr::from_bytes(b"cl\xfftab"));
    std::fs::copy(tree.path().join("cltab"), &cltab).unwrap();
    let (code, _, err) = out(cmd("clinit")
        .arg("-f")
        .arg(&cltab)
        .arg("-S")
        .arg(&tree.scan)
        .args(["g", "1"]));
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(lines(&tree.path().join("log")), ["ran"]);
}

/// Durations past a hundred years (2^63 s and more crashed on adding them to the
/// clock): refused on the command line (usage, 100) and in the cltab (file:line, 100).
/// A hundred years is taken and overflows nothing.
#[test]
fn durations_past_a_hundred_years_are_refused() {
    let tree = Tree::new("clinit-durations");
    tree.cltab("g:w:1:wait:true\n");
    for opt in ["-t", "--settle"] {
        let (code, _, err) = tree.clinit(&[opt, "110000000000000d", "g", "1"]);
        assert_eq!(code, 100, "{err}");
        assert!(
            err.starts_with("clinit: duration \"110000000000000d\" too long (at most 36500d)\n"),
            "{err}"
        );
    }
    for setting in ["wait-timeout", "stop-interval"] {
        tree.cltab(&format!(":::{setting}:110000000000000d\ng:w:1:wait:true\n"));
        let (code, _, err) = tree.clinit(&["g", "1"]);
        assert_eq!(code, 100, "{err}");
        assert_eq!(
            err,
            format!(
                "clinit: fatal: {}:3: duration \"110000000000000d\" too long (at most 36500d)\n",
                tree.path().join("cltab").display()
            )
        );
    }
    assert!(!tree.path().join("clstat").exists());
    tree.cltab(
        ":::wait-timeout:36500d\n:::stop-interval:36500d\n\
         g:w:1:wait:true\ng:a:1:respawn:exec sleep 1028\ng:z:2:wait:true\n",
    );
    let (code, _, err) = tree.clinit(&["-t", "36500d", "g", "1"]);
    assert_eq!((code, err.as_str()), (0, ""));
    assert!(tree.pid("g.a") != 0);
    let (code, _, err) = tree.clinit(&["-t", "36500d", "g", "2"]);
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(tree.pid("g.a"), 0);
}

/// Cluster::Init's QUICK START and tell() forms: `clinit -d` says what takes the
/// daemon's place; `:::ALL::: :::REREAD:::` is -r, `:::ALL::: :::SHUTDOWN:::` is -k;
/// a level no entry of the group has (a name read as one-character levels) is warned
/// about, and still stops the group as Cluster::Init's `clinit foo 999` does.
#[test]
fn cluster_init_forms() {
    let tree = Tree::new("clinit-forms");
    let (code, _, err) = tree.clinit(&["-d"]);
    assert_eq!(code, 100);
    assert!(
        err.starts_with("clinit: fatal: -d: svkit has no clinit daemon: svscan takes its place"),
        "{err}"
    );
    assert!(
        err.contains("run svscan on the scan directory instead"),
        "{err}"
    );
    tree.cltab(
        "g:a:runmore:respawn:exec sleep 1029\n\
         g:b:1:respawn:exec sleep 1030\n",
    );
    let (code, _, err) = tree.clinit(&["g", "1"]);
    assert_eq!((code, err.as_str()), (0, ""));
    assert!(tree.pid("g.b") != 0);
    let (code, _, err) = tree.clinit(&["g", "runmore"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        err,
        "clinit: warning: g: no entry has level runmore: the whole group is stopped \
         (a LEVELS field without a comma is one level per character: write \
         runmore,runmore for a level named runmore)\n"
    );
    assert_eq!(tree.pid("g.b"), 0);
    assert_eq!(tree.pid("g.a"), 0);
    assert_eq!(tree.status(&["g"]), "runmore DONE\n");
    // Written as the warning says, the level is one.
    tree.cltab(
        "g:a:runmore,runmore:respawn:exec sleep 1029\n\
         g:b:1:respawn:exec sleep 1030\n",
    );
    let (code, _, err) = tree.clinit(&["g", "runmore"]);
    assert_eq!((code, err.as_str()), (0, ""));
    assert!(tree.pid("g.a") != 0);
    // :::REREAD:::: the cltab again (b removed), every group at its level again.
    tree.cltab("g:a:runmore,runmore:respawn:exec sleep 1029\n");
    let (code, _, err) = tree.clinit(&[":::ALL:::", ":::REREAD:::"]);
    assert_eq!((code, err.as_str()), (0, ""));
    must("g.b gone", || !tree.svc_dir("g.b").exists());
    assert!(tree.pid("g.a") != 0);
    // :::SHUTDOWN:::: everything stopped.
    let (code, _, err) = tree.clinit(&[":::ALL:::", ":::SHUTDOWN:::"]);
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(tree.pid("g.a"), 0);
    assert_eq!(tree.status(&[]), "g - CONFIGURED\n");
    let (code, _, err) = tree.clinit(&[":::ALL:::", ":::RESTART:::"]);
    assert_eq!(code, 100);
    assert!(
        err.starts_with("clinit: fatal: :::ALL::: :::RESTART:::: want :::ALL::: :::REREAD:::"),
        "{err}"
    );
    let (code, _, err) = tree.clinit(&["nosuch", "1"]);
    assert_eq!(code, 100);
    assert!(
        err.contains("(to have the cltab read again: clinit -r)"),
        "{err}"
    );
}

/// clstat says a group's state in Cluster::Init's words (its documentation: a failed
/// test marks the group 'FAILED'), so monitoring that greps FAILED works: DONE, PASSED
/// for a level of tests only, FAILED, CONFIGURED once stopped. svkit 0.1's words
/// (run, failed, stopped) are kept by choice with `:::clstat-words:svkit`.
#[test]
fn clstat_says_cluster_init_words() {
    let tree = Tree::new("clinit-words");
    tree.cltab(
        "chk:t1:t:test:true\n\
         chk:t2:t:test:test -e T/ok\n\
         chk:d:r:respawn:exec sleep 1031\n",
    );
    let clstat = tree.path().join("clstat");
    let grep_failed = || {
        std::process::Command::new("grep")
            .args(["-q", "FAILED"])
            .arg(&clstat)
            .status()
            .unwrap()
            .success()
    };
    let (code, _, _) = tree.clinit(&["chk", "t"]);
    assert_eq!(code, 1);
    assert_eq!(
        std::fs::read_to_string(&clstat).unwrap(),
        "Cluster::Init::Group chk t FAILED\n"
    );
    assert!(grep_failed());
    assert_eq!(tree.status(&["chk", "t"]), "FAILED\n");
    std::fs::write(tree.path().join("ok"), "").unwrap();
    let (code, _, err) = tree.clinit(&["chk", "t"]);
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(tree.status(&[]), "chk t PASSED\n");
    assert!(!grep_failed());
    let (code, _, err) = tree.clinit(&["chk", "r"]);
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(tree.status(&[]), "chk r DONE\n");
    let (code, _, err) = tree.clinit(&["-k"]);
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(tree.status(&[]), "chk - CONFIGURED\n");
    // The words of svkit 0.1, by choice; a clstat in the other words still reads.
    tree.cltab(
        ":::clstat-words:svkit\n\
         chk:d:r:respawn:exec sleep 1031\n",
    );
    assert_eq!(tree.status(&[]), "chk - stopped\n");
    let (code, _, err) = tree.clinit(&["chk", "r"]);
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(
        std::fs::read_to_string(&clstat).unwrap(),
        "Cluster::Init::Group chk r run\n"
    );
    assert_eq!(tree.status(&["chk"]), "r run\n");
}

/// An IS::Init isinittab loads: `:::initstat:PATH` (and `:::socket:`) are accepted, and
/// IS::Init's status file is written as IS::Init writes it: `!startid ID`, then
/// `GROUP STATE LEVEL` in columns of 15, sorted by group, with IS::Init's words (run,
/// fail, stopped; a group never switched has no level), then `!endid ID`.
#[test]
fn an_is_init_isinittab_loads_and_initstat_is_written() {
    use std::os::unix::fs::PermissionsExt;
    let tree = Tree::new("clinit-isinit");
    tree.cltab(
        "# IS::Init's isinittab\n\
         :::socket:T/init.s\n\
         :::initstat:T/is/initstat\n\
         mail:sm:1:respawn:exec sleep 1032\n\
         mail:chk:1:test:test -e T/ok\n\
         db:pg:2:respawn:exec sleep 1033\n",
    );
    let initstat = tree.path().join("is/initstat");
    // What IS::Init's status() reads: the lines between matching ids.
    let read = || {
        let text = std::fs::read_to_string(&initstat).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let start = lines[0].strip_prefix("!startid ").expect("startid");
        let end = lines[lines.len() - 1]
            .strip_prefix("!endid ")
            .expect("endid");
        assert_eq!(start, end, "{text}");
        assert!(!start.is_empty());
        lines[1..lines.len() - 1]
            .iter()
            .map(|l| l.to_string())
            .collect::<Vec<_>>()
    };
    let row = |g: &str, s: &str, l: &str| format!("{g:<15} {s:<15} {l:<15}");
    let (code, _, err) = tree.clinit(&["mail", "1"]);
    assert_eq!(code, 1);
    assert_eq!(err, "clinit: warning: mail: test chk exited 1\n");
    assert_eq!(read(), [row("db", "stopped", ""), row("mail", "fail", "1")]);
    std::fs::write(tree.path().join("ok"), "").unwrap();
    let (code, _, err) = tree.clinit(&["mail", "1"]);
    assert_eq!((code, err.as_str()), (0, ""));
    let (code, _, err) = tree.clinit(&["db", "2"]);
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(read(), [row("db", "run", "2"), row("mail", "run", "1")]);
    assert_eq!(
        std::fs::metadata(&initstat).unwrap().permissions().mode() & 0o777,
        0o644
    );
    // Whole groups' split, as IS::Init's status() splits a line.
    let words: Vec<String> = read()[1].split_whitespace().map(String::from).collect();
    assert_eq!(words, ["mail", "run", "1"]);
    let (code, _, err) = tree.clinit(&["-k"]);
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(
        read(),
        [row("db", "stopped", ""), row("mail", "stopped", "")]
    );
}

#[test]
fn status_as_json_with_each_groups_entries() {
    let tree = Tree::new("clinit-json");
    tree.cltab(
        "web:a:1:respawn:exec sleep 1020\n\
         web:b:2:respawn:exec sleep 1021\n\
         db:d:1:respawn:exec sleep 1022\n",
    );
    let (code, _, err) = tree.clinit(&["web", "1"]);
    assert_eq!((code, err.as_str()), (0, ""));
    let a = tree.pid("web.a");
    let (code, json, err) = tree.clinit(&["-s", "--json"]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = json.lines().collect();
    assert_eq!(lines.len(), 2, "{json}");
    // One object a line, a group each, with its entries as svstat -j reports them.
    assert!(
        lines[0].starts_with(
            "{\"group\":\"web\",\"level\":\"1\",\"state\":\"DONE\",\"at_level\":true,\"entries\":[{\"service\":\"web.a\",\"state\":\"up\","
        ),
        "{json}"
    );
    assert!(lines[0].contains(&format!("\"pid\":{a},")), "{json}");
    assert!(
        lines[0].contains("{\"service\":\"web.b\",\"state\":\"down\",\"pid\":0,"),
        "{json}"
    );
    assert!(lines[0].ends_with("}]}"), "{json}");
    // Never switched: no level.
    assert!(
        lines[1].starts_with(
            "{\"group\":\"db\",\"level\":null,\"state\":\"CONFIGURED\",\"at_level\":false,\"entries\":[{\"service\":\"db.d\",\"state\":\"down\""
        ),
        "{json}"
    );
    // Filtered as -s is; exit 1 when nothing matches.
    let (code, json, _) = tree.clinit(&["-s", "--json", "web"]);
    assert_eq!((code, json.lines().count()), (0, 1), "{json}");
    assert!(json.starts_with("{\"group\":\"web\","), "{json}");
    let (code, json, _) = tree.clinit(&["-s", "--json", "web", "2"]);
    assert_eq!((code, json.as_str()), (1, ""));
    // Another node's clstat: its groups only, no entries of this node's.
    let (code, json, _) = out(cmd("clinit")
        .args(["-f", "/nonexistent/cltab", "-s", "--json", "--clstat"])
        .arg(tree.path().join("clstat"))
        .arg("web"));
    assert_eq!(
        (code, json.as_str()),
        (
            0,
            "{\"group\":\"web\",\"level\":\"1\",\"state\":\"DONE\",\"at_level\":true}\n"
        )
    );
    // --json belongs to -s.
    assert_eq!(tree.clinit(&["--json", "web", "1"]).0, 100);
}
