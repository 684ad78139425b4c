//! svkit, the multicall binary: every program by the name it is started by, or as
//! `svkit NAME ARGS...`; `svkit --links DIR` makes the names.

mod common;
use common::*;
use std::path::Path;
use std::process::{Command, Stdio};

/// A directory of links to svkit, one per program, made by `svkit --links`.
fn links(t: &TempDir) -> std::path::PathBuf {
    let dir = t.join("bin");
    std::fs::create_dir(&dir).unwrap();
    let (code, _, err) = out(Command::new(bin("svkit")).arg("--links").arg(&dir));
    assert_eq!(code, 0, "{err}");
    dir
}

#[test]
fn every_program_answers_by_its_link_and_as_svkit_name() {
    let t = TempDir::new("multicall");
    let dir = links(&t);
    let (_, list, _) = out(Command::new(bin("svkit")).arg("--list"));
    let names: Vec<&str> = list.lines().collect();
    assert_eq!(names.len(), 25, "{list}");
    for name in &names {
        let link = dir.join(name);
        assert_eq!(std::fs::read_link(&link).unwrap(), Path::new(bin("svkit")));
        let (code, usage, _) = out(Command::new(&link).arg("--help"));
        assert_eq!(code, 0, "{name}");
        assert!(
            usage.contains("usage:") && usage.contains(name),
            "{name}: {usage}"
        );
        let (code, usage2, _) = out(Command::new(bin("svkit")).args([name, "--help"]));
        assert_eq!((code, &usage2), (0, &usage), "svkit {name}");
    }
    // The same bytes as the separate binary.
    let input = b"one\ntwo\n";
    let (_, via_link) = pipe_through(
        &mut Command::new(dir.join("tai64nlocal")),
        b"@4000000065000000000000001 x\n",
    );
    let (_, alone) = pipe_through(&mut cmd("tai64nlocal"), b"@4000000065000000000000001 x\n");
    assert_eq!(via_link, alone);
    let (code, o) = pipe_through(Command::new(bin("svkit")).arg("fghack").arg("cat"), input);
    assert_eq!((code, o.as_slice()), (0, &input[..]));
    let (code, _, err) = out(Command::new(bin("svkit")).arg("nonesuch"));
    assert_eq!(code, 100);
    assert_eq!(err, "svkit: fatal: unknown program: nonesuch\n");
}

#[test]
fn svscan_by_link_runs_supervise_by_link_sharing_one_binary() {
    let t = TempDir::new("multicall-tree");
    let dir = links(&t);
    let scan = t.join("scan");
    let s = service(&scan.join("s"), "exec sleep 1000");
    let mut p = Proc::spawn(
        Command::new(dir.join("svscan"))
            .arg(&scan)
            .stdin(Stdio::null())
            .stdout(Stdio::null()),
    );
    p.services.push(s.clone());
    must("up", || status_pid(&s) != 0);
    let exe = |pid: u32| std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
    let kids = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", p.pid())).unwrap();
    let sup: u32 = kids.split_whitespace().next().unwrap().parse().unwrap();
    assert_eq!(
        exe(p.pid()),
        exe(sup),
        "svscan and supervise run different binaries"
    );
    assert_eq!(exe(sup), Path::new(bin("svkit")).canonicalize().unwrap());
    let comm = std::fs::read_to_string(format!("/proc/{sup}/comm")).unwrap();
    assert_eq!(comm.trim(), "supervise");
}
