//! The run-script and cron helpers: setlock, setuidgid, envuidgid, envdir, softlimit,
//! fghack, pgrphack; each checked for its job, its errors, and against daemontools.

mod common;
use common::*;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TOOLS: [&str; 7] = [
    "setlock",
    "setuidgid",
    "envuidgid",
    "envdir",
    "softlimit",
    "fghack",
    "pgrphack",
];

/// The operands each tool needs before the program.
fn operands(tool: &str, t: &TempDir) -> Vec<String> {
    match tool {
        "setlock" => vec![t.join("lock").display().to_string()],
        "setuidgid" | "envuidgid" => vec!["nobody".into()],
        "envdir" => vec![t.path().display().to_string()],
        "softlimit" => vec!["-o".into(), "100".into()],
        _ => vec![],
    }
}

#[test]
fn every_tool_reports_a_missing_program_and_usage() {
    let t = TempDir::new("chain");
    for tool in TOOLS {
        let (code, _, err) = out(cmd(tool).args(operands(tool, &t)).arg("no-such-program-x"));
        assert_eq!(code, 111, "{tool}");
        // As nobody, a $PATH directory it may not search makes it "access denied".
        let why = if tool == "setuidgid" {
            "access denied"
        } else {
            "file does not exist"
        };
        assert_eq!(
            err,
            format!("{tool}: fatal: unable to run no-such-program-x: {why}\n"),
            "{tool}"
        );
        let theirs = out(Command::new(daemontools(tool))
            .args(operands(tool, &t))
            .arg("no-such-program-x"));
        assert_eq!(
            (code, err.as_str()),
            (theirs.0, theirs.2.as_str()),
            "{tool} vs daemontools"
        );
        let (code, _, err) = out(&mut cmd(tool));
        // daemontools' envdir exits 111 on a usage error, and Debian's suite checks it.
        let usage_code = if tool == "envdir" { 111 } else { 100 };
        assert_eq!(code, usage_code, "{tool} without arguments");
        assert!(
            err.contains(&format!("{tool}: usage: {tool} ")),
            "{tool}: {err}"
        );
        let (code, o, _) = out(cmd(tool).arg("--help"));
        assert_eq!(code, 0, "{tool} --help");
        assert!(
            o.starts_with(&format!("{tool}: usage: {tool} ")),
            "{tool}: {o}"
        );
        // The program's own options are not ours.
        let (code, o, _) = out(cmd(tool)
            .args(operands(tool, &t))
            .args(["echo", "-n", "-x"]));
        assert_eq!((code, o.as_str()), (0, "-x"), "{tool}");
    }
}

#[test]
fn setlock_holds_the_lock_while_the_program_runs_and_passes_its_exit_code() {
    let t = TempDir::new("setlock");
    let lock = t.join("lock");
    let (code, _, _) = out(cmd("setlock").arg(&lock).args(["sh", "-c", "exit 7"]));
    assert_eq!(code, 7);
    let mut holder = Proc::spawn(
        cmd("setlock")
            .arg(&lock)
            .args(["sh", "-c", "echo held > held; exec sleep 1000"])
            .current_dir(t.path()),
    );
    must("holder has the lock", || t.join("held").exists());
    let (code, _, err) = out(cmd("setlock").arg("-n").arg(&lock).arg("true"));
    assert_eq!(code, 111);
    assert_eq!(
        err,
        format!(
            "setlock: fatal: unable to lock {}: temporary failure\n",
            lock.display()
        )
    );
    // -E: a busy code that cannot be mistaken for the program's.
    assert_eq!(
        out(cmd("setlock")
            .args(["-n", "-E", "75"])
            .arg(&lock)
            .arg("true"))
        .0,
        75
    );
    // -x: busy is no error.
    assert_eq!(
        out(cmd("setlock").arg("-nx").arg(&lock).arg("false")),
        (0, String::new(), String::new())
    );
    // -t: waits that long, then fails.
    let start = Instant::now();
    let (code, _, err) = out(cmd("setlock").args(["-t", "300ms"]).arg(&lock).arg("true"));
    assert_eq!(code, 111);
    assert!(start.elapsed() >= Duration::from_millis(300));
    assert!(err.contains("timed out"), "{err}");
    // Shared locks do not exclude each other, but an exclusive one excludes them.
    assert_eq!(
        out(cmd("setlock").args(["-s", "-n"]).arg(&lock).arg("true")).0,
        111
    );
    holder.stop();
    let mut reader = Proc::spawn(
        cmd("setlock")
            .args(["-s"])
            .arg(&lock)
            .args(["sh", "-c", "echo r > shared; exec sleep 1000"])
            .current_dir(t.path()),
    );
    must("shared holder", || t.join("shared").exists());
    assert_eq!(
        out(cmd("setlock").args(["-s", "-n"]).arg(&lock).arg("true")).0,
        0
    );
    assert_eq!(out(cmd("setlock").arg("-n").arg(&lock).arg("true")).0, 111);
    // -t gets the lock once it is released in time.
    let waiter = Proc::spawn(
        cmd("setlock")
            .args(["-t", "1m"])
            .arg(&lock)
            .args(["sh", "-c", "exit 5"]),
    );
    reader.stop();
    let mut waiter = waiter;
    assert_eq!(waiter.wait_exit(), Some(5));
}

#[test]
fn setlock_errors() {
    let (code, _, err) = out(cmd("setlock").arg("/nonexistent/dir/lock").arg("true"));
    assert_eq!(code, 111);
    assert_eq!(
        err,
        "setlock: fatal: unable to open /nonexistent/dir/lock: file does not exist\n"
    );
    assert_eq!(
        out(cmd("setlock")
            .arg("-x")
            .arg("/nonexistent/dir/lock")
            .arg("true"))
        .0,
        0
    );
    for bad in [
        &["-t", "soon"][..],
        &["-E", "0"][..],
        &["-E", "256"][..],
        &["-q"][..],
    ] {
        let (code, _, err) = out(cmd("setlock").args(bad).arg("/tmp/x").arg("true"));
        assert_eq!(code, 100, "{bad:?}: {err}");
    }
}

#[test]
fn fifty_contenders() {
    let t = TempDir::new("contend");
    let lock = t.join("lock");
    // -n: exactly one of 50 runs while the others find the lock busy.
    let mut kids: Vec<Proc> = (0..50)
        .map(|_| {
            Proc::spawn(
                cmd("setlock")
                    .args(["-n", "-E", "75"])
                    .arg(&lock)
                    .args(["sh", "-c", "echo x >> ran; sleep 2"])
                    .current_dir(t.path())
                    .stderr(Stdio::null()),
            )
        })
        .collect();
    let codes: Vec<Option<i32>> = kids.iter_mut().map(|k| k.wait_exit()).collect();
    assert_eq!(
        codes.iter().filter(|c| **c == Some(0)).count(),
        1,
        "{codes:?}"
    );
    assert_eq!(
        codes.iter().filter(|c| **c == Some(75)).count(),
        49,
        "{codes:?}"
    );
    assert_eq!(lines(&t.join("ran")).len(), 1);
    // Waiting: all 50 run, one at a time; a read-modify-write counter loses nothing.
    std::fs::write(t.join("count"), "0").unwrap();
    let body = "if [ -e inside ]; then echo overlap >> bad; fi; touch inside; \
                n=$(cat count); echo $((n+1)) > count; rm inside";
    let mut kids: Vec<Proc> = (0..50)
        .map(|_| {
            Proc::spawn(
                cmd("setlock")
                    .arg(&lock)
                    .args(["sh", "-c", body])
                    .current_dir(t.path()),
            )
        })
        .collect();
    for k in kids.iter_mut() {
        assert_eq!(k.wait_exit(), Some(0));
    }
    assert_eq!(lines(&t.join("count")), vec!["50"]);
    assert!(!t.join("bad").exists(), "two holders at once");
}

#[test]
fn setuidgid_drops_to_the_account_and_its_primary_group() {
    let (code, o, _) = out(cmd("setuidgid").args(["nobody", "sh", "-c", "id -u; id -g; id -G"]));
    assert_eq!(code, 0);
    let nogroup = o.lines().nth(1).unwrap().to_string();
    assert_eq!(o, format!("65534\n{nogroup}\n{nogroup}\n"));
    let (code, _, err) = out(cmd("setuidgid").args(["no-such-user-x", "true"]));
    assert_eq!(
        (code, err.as_str()),
        (111, "setuidgid: fatal: unknown account no-such-user-x\n")
    );
    // Same as daemontools.
    let theirs =
        out(Command::new(daemontools("setuidgid")).args(["nobody", "sh", "-c", "id; echo $HOME"]));
    let ours = out(cmd("setuidgid").args(["nobody", "sh", "-c", "id; echo $HOME"]));
    assert_eq!(ours, theirs);
}

/// A user and two groups made for one test, removed on drop.
struct TestAccount(String);

impl TestAccount {
    fn new(tag: &str) -> TestAccount {
        let name = format!("svk{tag}{}", std::process::id() % 100000);
        let run = |args: &[&str]| {
            let st = Command::new(args[0])
                .args(&args[1..])
                .stdout(Stdio::null())
                .status()
                .unwrap();
            assert!(st.success(), "{args:?}");
        };
        run(&["groupadd", &format!("{name}x")]);
        run(&[
            "useradd",
            "-M",
            "-N",
            "-g",
            "nogroup",
            "-G",
            &format!("{name}x"),
            &name,
        ]);
        TestAccount(name)
    }
}

impl Drop for TestAccount {
    fn drop(&mut self) {
        let _ = Command::new("userdel").arg(&self.0).status();
        let _ = Command::new("groupdel")
            .arg(format!("{}x", self.0))
            .status();
    }
}

#[test]
fn setuidgid_s_adds_supplementary_groups() {
    let acct = TestAccount::new("s");
    let gid_of = |g: &str| {
        let (_, o, _) = out(Command::new("getent").args(["group", g]));
        o.split(':').nth(2).unwrap().to_string()
    };
    let extra = gid_of(&format!("{}x", acct.0));
    let nogroup = gid_of("nogroup");
    let (code, o, _) = out(cmd("setuidgid").args([&acct.0, "id", "-G"]));
    assert_eq!((code, o.trim()), (0, nogroup.as_str()));
    let (code, o, _) = out(cmd("setuidgid").args(["-s", &acct.0, "id", "-G"]));
    assert_eq!(code, 0);
    let mut got: Vec<&str> = o.split_whitespace().collect();
    got.sort();
    let mut want = vec![nogroup.as_str(), extra.as_str()];
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn envuidgid_sets_uid_and_gid() {
    let (code, o, _) = out(cmd("envuidgid").args(["nobody", "sh", "-c", "echo $UID $GID"]));
    let theirs =
        out(Command::new(daemontools("envuidgid")).args(["nobody", "sh", "-c", "echo $UID $GID"]));
    assert_eq!(code, 0);
    assert_eq!(o, theirs.1);
    assert!(o.starts_with("65534 "));
    assert_eq!(
        out(cmd("envuidgid").args(["no-such-user-x", "true"])).0,
        111
    );
}

#[test]
fn envdir_rules_match_daemontools() {
    let t = TempDir::new("envdir");
    let d = t.join("env");
    std::fs::create_dir(&d).unwrap();
    for (name, content) in [
        ("A", &b"hello  \t\nsecond line\n"[..]),
        ("B", b"x\0y"),
        ("C", b""),
        ("D", b" lead"),
        ("E", b"a\tb \t "),
        ("F", b"\n"),
        (".H", b"hidden"),
    ] {
        std::fs::write(d.join(name), content).unwrap();
    }
    let show = "for v in A B C D E F H; do eval \"[ -n \\\"\\${$v+x}\\\" ]\" && eval \"printf '%s=[%s]\\n' $v \\\"\\$$v\\\"\" || echo \"$v unset\"; done";
    let run = |prog: &str| {
        out(Command::new(prog)
            .arg(&d)
            .args(["sh", "-c", show])
            .env("C", "was set")
            .env("H", "kept"))
    };
    let ours = run(bin("envdir"));
    assert_eq!(ours.0, 0);
    assert_eq!(
        ours.1,
        "A=[hello]\nB=[x\ny]\nC unset\nD=[ lead]\nE=[a\tb]\nF=[]\nH=[kept]\n"
    );
    assert_eq!(ours, run(daemontools("envdir").to_str().unwrap()));
}

/// daemontools' envdir exits 111 on every usage error, without a directory or without
/// a program: so does ours.
#[test]
fn envdir_usage_errors_exit_111_as_daemontools() {
    let t = TempDir::new("envdirusage");
    let dir = t.path().display().to_string();
    for args in [vec![], vec![dir.as_str()]] {
        let ours = out(cmd("envdir").args(&args));
        let theirs = out(Command::new(daemontools("envdir")).args(&args));
        assert_eq!((ours.0, theirs.0), (111, 111), "{args:?}: {}", ours.2);
        assert!(ours.2.starts_with("envdir: usage: envdir "), "{}", ours.2);
    }
    for args in [
        &["-x", &dir, "true"][..],
        &["-p"],
        &["-p", "P"],
        &["-pA=", &dir, "true"],
    ] {
        let (code, _, err) = out(cmd("envdir").args(args));
        assert_eq!(code, 111, "{args:?}: {err}");
        assert!(err.contains("envdir: usage: envdir "), "{args:?}: {err}");
    }
}

/// `-p prefix` (FreeBSD's daemontools port) puts the prefix before every variable name,
/// both for the variables set and for those an empty file removes.
#[test]
fn envdir_prefix_names_every_variable() {
    let t = TempDir::new("envdirprefix");
    std::fs::write(t.join("FOO"), "val\n").unwrap();
    std::fs::write(t.join("GONE"), "").unwrap();
    let show = "echo \"${APP_FOO-unset} ${APP_GONE-unset} ${FOO-unset} ${GONE-unset}\"";
    for p in [&["-p", "APP_"][..], &["-pAPP_"]] {
        let (code, o, e) = out(cmd("envdir")
            .args(p)
            .arg(t.path())
            .args(["sh", "-c", show])
            .env("APP_GONE", "was set")
            .env("GONE", "kept")
            .env_remove("FOO"));
        assert_eq!(
            (code, o.as_str()),
            (0, "val unset unset kept\n"),
            "{p:?}: {e}"
        );
    }
}

#[test]
fn envdir_errors() {
    let t = TempDir::new("envdirbad");
    let (code, _, err) = out(cmd("envdir").arg(t.join("missing")).arg("true"));
    assert_eq!(code, 111);
    assert_eq!(
        err,
        format!(
            "envdir: fatal: unable to switch to directory {}: file does not exist\n",
            t.join("missing").display()
        )
    );
    std::fs::create_dir(t.join("sub")).unwrap();
    let (code, _, err) = out(cmd("envdir").arg(t.path()).arg("true"));
    assert_eq!(code, 111);
    assert_eq!(
        err,
        format!(
            "envdir: fatal: unable to read {}/sub: is a directory\n",
            t.path().display()
        )
    );
    std::fs::remove_dir(t.join("sub")).unwrap();
    std::fs::write(t.join("X=Y"), "v").unwrap();
    let (code, _, err) = out(cmd("envdir").arg(t.path()).arg("true"));
    assert_eq!(code, 111);
    assert!(err.contains("invalid variable name"), "{err}");
}

#[test]
fn softlimit_sets_soft_limits() {
    let show = |args: &[&str]| {
        let (code, o, e) = out(cmd("softlimit").args(args).args([
            "sh",
            "-c",
            "ulimit -n; ulimit -d; ulimit -s; ulimit -v; ulimit -t",
        ]));
        assert_eq!(code, 0, "{e}");
        o.lines().map(str::to_string).collect::<Vec<_>>()
    };
    assert_eq!(show(&["-o", "10"])[0], "10");
    assert_eq!(show(&["-d", "64m"])[1], "65536");
    assert_eq!(
        show(&["-m", "100000k"])[1..4],
        ["100000", "100000", "100000"]
    );
    assert_eq!(show(&["-t", "2m"])[4], "120");
    // Above the hard limit: capped. "=": the hard limit.
    let (_, hard, _) = out(Command::new("sh").args(["-c", "ulimit -Hn"]));
    assert_eq!(show(&["-o", "999999999"])[0], hard.trim());
    assert_eq!(show(&["-o", "="])[0], hard.trim());
    // Plain numbers exactly as daemontools.
    let args = [
        "-o",
        "50",
        "-d",
        "3000000",
        "-s",
        "=",
        "sh",
        "-c",
        "ulimit -a",
    ];
    assert_eq!(
        out(cmd("softlimit").args(args)),
        out(Command::new(daemontools("softlimit")).args(args))
    );
    for bad in [
        &["-m", "abc"][..],
        &["-o", "10k"][..],
        &["-z", "1"][..],
        &["-m"][..],
    ] {
        let (code, _, err) = out(cmd("softlimit").args(bad).arg("true"));
        assert_eq!(code, 100, "{bad:?}");
        assert!(err.ends_with("cpusecs] child\n"), "{err}");
    }
}

#[test]
fn fghack_waits_for_the_background() {
    let t = TempDir::new("fghack");
    let start = Instant::now();
    let (code, _, _) = out(cmd("fghack")
        .args(["sh", "-c", "(sleep 0.5; echo done > done) & exit 3"])
        .current_dir(t.path()));
    assert_eq!(code, 3);
    assert!(
        t.join("done").exists(),
        "returned before the background job ended"
    );
    assert!(start.elapsed() >= Duration::from_millis(500));
    let theirs = out(Command::new(daemontools("fghack")).args(["sh", "-c", "exit 3"]));
    assert_eq!(theirs.0, 3);
    let (code, _, err) = out(cmd("fghack").args(["sh", "-c", "kill -9 $$"]));
    assert_eq!(code, 111);
    assert_eq!(err, "fghack: fatal: sh crashed: signal 9\n");
}

#[test]
fn pgrphack_makes_a_new_session() {
    let script = "set -- $(ps -o pid=,pgid=,sid= -p $$); [ $1 = $2 ] && [ $1 = $3 ] && echo leader";
    for prog in [bin("pgrphack"), daemontools("pgrphack").to_str().unwrap()] {
        let (code, o, _) = out(Command::new(prog).args(["sh", "-c", script]));
        assert_eq!((code, o.as_str()), (0, "leader\n"), "{prog}");
    }
    // Without it, the same shell is no session leader: the check above can fail.
    let (_, o, _) = out(Command::new("sh").args(["-c", script]));
    assert_eq!(o, "");
}

/// A variable file that is a FIFO, a symbolic link to /dev/zero (links are followed,
/// as daemontools' envdir does, to a regular file only) or a first line too long for
/// the environment: envdir says which file and why, exits 111, and neither hangs nor
/// eats memory (it used to wait for a FIFO's writer for ever, and read /dev/zero until
/// memory ran out).
#[test]
fn envdir_refuses_fifos_links_and_huge_lines() {
    let t = TempDir::new("envdirodd");
    type Make<'a> = &'a dyn Fn(&std::path::Path);
    let cases: [(&str, Make, &str); 3] = [
        ("FIFO", &mkfifo, "not a regular file"),
        (
            "ZERO",
            &|p| std::os::unix::fs::symlink("/dev/zero", p).unwrap(),
            "not a regular file",
        ),
        (
            "HUGE",
            &|p| std::fs::write(p, vec![b'x'; 1 << 20]).unwrap(),
            "longer than 131072 bytes",
        ),
    ];
    for (name, make, why) in cases {
        let d = t.join(name);
        std::fs::create_dir(&d).unwrap();
        make(&d.join(name));
        // Whatever goes wrong, not more than 300 MB.
        let (code, _, err) = out_within(
            cmd("softlimit")
                .args(["-a", "300000000", bin("envdir")])
                .arg(&d)
                .arg("true"),
        );
        assert_eq!(code, 111, "{name}: {err}");
        assert_eq!(
            err,
            format!(
                "envdir: fatal: unable to read {}/{name}: {why}\n",
                d.display()
            )
        );
    }
    // A long file whose first line is short is fine: only that line is read.
    let d = t.join("long");
    std::fs::create_dir(&d).unwrap();
    let mut content = b"short\n".to_vec();
    content.extend(vec![b'x'; 1 << 20]);
    std::fs::write(d.join("V"), content).unwrap();
    let (code, o, e) = out_within(cmd("envdir").arg(&d).args(["sh", "-c", "echo $V"]));
    assert_eq!((code, o.as_str()), (0, "short\n"), "{e}");
    // A link to a regular file is followed.
    std::fs::rename(d.join("V"), t.join("target")).unwrap();
    std::os::unix::fs::symlink(t.join("target"), d.join("V")).unwrap();
    let (code, o, e) = out_within(cmd("envdir").arg(&d).args(["sh", "-c", "echo $V"]));
    assert_eq!((code, o.as_str()), (0, "short\n"), "{e}");
}

/// setlock opens its file without blocking and without following a symbolic link:
/// a FIFO is refused at once with -n, -t and the default wait alike (it hung), and a
/// link is neither followed to create its target nor to lock it (daemontools' setlock
/// follows it).
#[test]
fn setlock_refuses_fifos_and_symbolic_links() {
    let t = TempDir::new("setlockodd");
    let fifo = t.join("fifo");
    mkfifo(&fifo);
    for args in [&["-n"][..], &["-t", "1s"][..], &[][..]] {
        let (code, _, err) = out_within(cmd("setlock").args(args).arg(&fifo).arg("true"));
        assert_eq!(code, 111, "{args:?}");
        assert_eq!(
            err,
            format!(
                "setlock: fatal: unable to open {}: not a regular file\n",
                fifo.display()
            )
        );
    }
    let target = t.join("target");
    let link = t.join("link");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let (code, _, err) = out_within(cmd("setlock").arg("-n").arg(&link).arg("true"));
    assert_eq!(code, 111);
    assert_eq!(
        err,
        format!(
            "setlock: fatal: unable to open {}: is a symbolic link, not followed\n",
            link.display()
        )
    );
    assert!(!target.exists(), "the link's target was created");
    // -x: quietly 0, as for any lock that cannot be had.
    assert_eq!(
        out_within(cmd("setlock").args(["-n", "-x"]).arg(&fifo).arg("false")),
        (0, String::new(), String::new())
    );
}

/// A duration past a hundred years (2^63 s and more crashed svscan -t, svwait, svcstart
/// and setlock at the arithmetic) is a usage error at once, saying why.
#[test]
fn huge_durations_are_usage_errors() {
    let huge = "110000000000000d";
    let cases: [(&str, &[&str]); 8] = [
        ("svwait", &["-t", huge, "x"]),
        ("svcstart", &["-t", huge, "x"]),
        ("svcstart", &["-s", huge, "x"]),
        ("svcstop", &["-t", huge, "x"]),
        ("setlock", &["-t", huge, "lock", "true"]),
        ("softlimit", &["-t", huge, "true"]),
        ("svscan", &["-t", huge, "/nonexistent"]),
        ("svcrestart", &["-t", huge, "x"]),
    ];
    for (prog, args) in cases {
        let (code, o, err) = out_within(cmd(prog).args(args));
        assert_eq!(code, 100, "{prog} {args:?}: {err}");
        assert_eq!(o, "");
        assert!(
            err.starts_with(prog)
                && err.contains(&format!("duration \"{huge}\" too long (at most 36500d)\n")),
            "{prog} {args:?}: {err}"
        );
    }
}

/// Paths that are not UTF-8 are used as given: setlock's lock file, envdir's directory
/// and its variable names and values.
#[test]
fn names_that_are_not_utf8() {
    use std::os::unix::ffi::OsStrExt;
    let t = TempDir::new("chainlatin1");
    let lock = latin1_name(t.path());
    let (code, _, e) = out_within(cmd("setlock").arg("-n").arg(&lock).arg("true"));
    assert_eq!(code, 0, "{e}");
    assert!(lock.exists());
    let d = latin1_name(&t.join("env"));
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join(std::ffi::OsStr::from_bytes(b"V\xe9")), b"\xff\xfe\n").unwrap();
    let o = run(cmd("envdir").arg(&d).arg("env"));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        o.stdout
            .split(|&b| b == b'\n')
            .any(|l| l == b"V\xe9=\xff\xfe"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    // An error names it lossily.
    let (code, _, e) = out_within(cmd("envdir").arg(d.join("missing")).arg("true"));
    assert_eq!(code, 111);
    assert!(e.contains("caf\u{fffd}/missing"), "{e}");
}
