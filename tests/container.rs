//! service-templates/container: the entrypoint runs stage 1, then svscan as PID 1 of a
//! new PID namespace, which exits with the main service's exit code.

mod common;
use common::*;
use std::path::Path;
use std::process::{Command, Stdio};

const TEMPLATE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/service-templates/container");

fn copy_tree(from: &Path, to: &Path) {
    let ok = Command::new("cp")
        .arg("-R")
        .arg(from)
        .arg(to)
        .status()
        .unwrap()
        .success();
    assert!(ok, "cp -R {}", from.display());
}

/// The example tree in `t`, and the entrypoint in a new PID namespace over it.
fn container(t: &TempDir) -> Command {
    copy_tree(&Path::new(TEMPLATE).join("service"), &t.join("service"));
    copy_tree(
        &Path::new(TEMPLATE).join("cont-init.d"),
        &t.join("cont-init.d"),
    );
    std::fs::create_dir(t.join("run")).unwrap();
    let ours = Path::new(bin("svscan")).parent().unwrap();
    let mut c = Command::new("unshare");
    c.args(["--pid", "--fork", "--mount-proc", "--kill-child"])
        .arg("sh")
        .arg(Path::new(TEMPLATE).join("entrypoint"))
        .env("PATH", format!("{}:/usr/bin:/bin", ours.display()))
        .env("SVKIT_RUN_DIR", t.join("run"))
        .env("SVKIT_CONT_INIT", t.join("cont-init.d"))
        .env("SVKIT_SERVICE_DIR", t.join("service"))
        .env("APP_GREETING", "greetings")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

#[test]
fn the_container_exits_with_its_main_services_code() {
    let t = TempDir::new("container");
    let mut p = Proc::spawn(&mut container(&t));
    assert_eq!(p.wait_exit(), Some(3), "{}", p.stderr());
    let out = {
        use std::io::Read;
        let mut s = String::new();
        p.child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut s)
            .unwrap();
        s
    };
    assert!(
        out.contains("app: prepared for greetings, from the main service"),
        "{out}"
    );
    // side's logger copies its lines to stdout with its name (multilog's p and 1).
    assert!(out.lines().any(|l| l == "side: up"), "{out}");
    // The side service was stopped gracefully (TERM) before svscan exited.
    assert_eq!(lines(&t.join("run/side-stopped")), ["stopped"]);
    // The environment was written for envdir.
    assert_eq!(lines(&t.join("run/env/APP_GREETING")), ["greetings"]);
}

#[test]
fn a_failing_stage_1_script_ends_the_container_before_any_service() {
    let t = TempDir::new("container-init");
    let mut c = container(&t);
    script(&t.join("cont-init.d/20-fail"), "exit 7");
    let mut p = Proc::spawn(&mut c);
    assert_eq!(p.wait_exit(), Some(7));
    let err = p.stderr();
    assert!(err.contains("20-fail exited 7"), "{err}");
    assert!(
        !t.join("service/app/supervise").exists(),
        "a service started"
    );
}
