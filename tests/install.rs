//! scripts/install (DESTDIR, CARGO_TARGET_DIR, no cargo on PATH) and the systemd unit in
//! service-templates/.

mod common;
use common::*;
use std::path::Path;
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Every binary the package builds, from src/bin/.
fn binaries() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(Path::new(ROOT).join("src/bin"))
        .unwrap()
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_suffix(".rs")
                .map(String::from)
        })
        .collect();
    v.sort();
    v
}

/// A target directory holding this build's binaries as if `cargo build --release` had
/// made them there.
fn prebuilt(t: &TempDir) -> std::path::PathBuf {
    let release = t.join("target/release");
    std::fs::create_dir_all(&release).unwrap();
    for name in binaries() {
        std::fs::copy(bin(&name), release.join(&name)).unwrap();
    }
    t.join("target")
}

fn install(t: &TempDir, target: &Path) -> (i32, String, String) {
    out(Command::new("sh")
        .arg(Path::new(ROOT).join("scripts/install"))
        .arg("/opt/svkit")
        .env("DESTDIR", t.join("dest"))
        .env("CARGO_TARGET_DIR", target)
        // As under sudo: no cargo to build with.
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"))
}

#[test]
fn installs_the_prebuilt_binary_and_its_links_into_destdir_without_cargo() {
    let t = TempDir::new("install");
    let target = prebuilt(&t);
    let (code, stdout, err) = install(&t, &target);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("installed svkit in"), "{stdout}");
    for name in binaries() {
        let b = t.join("dest/opt/svkit/bin").join(&name);
        // One binary; every program a link to it.
        if name != "svkit" {
            assert_eq!(
                std::fs::read_link(&b).unwrap(),
                Path::new("svkit"),
                "{name}"
            );
        }
        let (code, usage, _) = out(Command::new(&b).arg("--help"));
        assert_eq!(code, 0, "{name} --help");
        assert!(usage.contains("usage:"), "{name}: {usage}");
        assert!(
            t.join(format!("dest/opt/svkit/share/man/man8/{name}.8"))
                .exists(),
            "{name}.8"
        );
    }
    assert!(!Path::new("/opt/svkit").exists(), "wrote outside DESTDIR");
}

#[test]
fn says_what_to_do_when_the_binary_is_missing_and_cargo_is_not_there() {
    let t = TempDir::new("install-missing");
    let target = prebuilt(&t);
    std::fs::remove_file(target.join("release/svkit")).unwrap();
    let (code, _, err) = install(&t, &target);
    assert_eq!(code, 111);
    assert!(
        err.contains("release/svkit missing: run cargo build --release first"),
        "{err}"
    );
    assert!(!t.join("dest").exists(), "installed half a toolkit");
}

/// Rust's musl target triple on this machine, as scripts/install names it.
fn musl_triple() -> String {
    let m = out(Command::new("uname").arg("-m")).1;
    format!("{}-unknown-linux-musl", m.trim())
}

#[test]
fn without_cargo_the_newer_build_is_installed_unless_svkit_libc_chooses() {
    let t = TempDir::new("install-libc");
    let target = prebuilt(&t);
    // A musl build made after the glibc one: a stand-in that says which it is.
    let musl = target.join(musl_triple()).join("release");
    std::fs::create_dir_all(&musl).unwrap();
    let stand_in = b"#!/bin/sh\necho musl\n";
    std::fs::write(musl.join("svkit"), stand_in).unwrap();
    std::fs::set_permissions(
        musl.join("svkit"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let installed = t.join("dest/opt/svkit/bin/svkit");
    let (code, stdout, err) = install(&t, &target);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("(musl build)"), "{stdout}");
    assert_eq!(std::fs::read(&installed).unwrap(), stand_in);
    let (code, stdout, err) = out(Command::new("sh")
        .arg(Path::new(ROOT).join("scripts/install"))
        .arg("/opt/svkit")
        .env("DESTDIR", t.join("dest"))
        .env("CARGO_TARGET_DIR", &target)
        .env("SVKIT_LIBC", "gnu")
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"));
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("(gnu build)"), "{stdout}");
    assert_eq!(
        std::fs::read(&installed).unwrap(),
        std::fs::read(target.join("release/svkit")).unwrap()
    );
}

#[test]
fn a_wrong_svkit_libc_is_a_usage_error() {
    let t = TempDir::new("install-badlibc");
    let target = prebuilt(&t);
    let (code, _, err) = out(Command::new("sh")
        .arg(Path::new(ROOT).join("scripts/install"))
        .arg("/opt/svkit")
        .env("DESTDIR", t.join("dest"))
        .env("CARGO_TARGET_DIR", &target)
        .env("SVKIT_LIBC", "uclibc"));
    assert_eq!(code, 100);
    assert!(err.contains("SVKIT_LIBC must be musl or gnu"), "{err}");
    assert!(!t.join("dest").exists());
}

#[test]
fn the_systemd_unit_passes_systemd_analyze_verify() {
    let t = TempDir::new("unit");
    let unit =
        std::fs::read_to_string(Path::new(ROOT).join("service-templates/svscan.service")).unwrap();
    assert!(unit.contains("ExecStart=/usr/local/bin/svscan "), "{unit}");
    assert!(unit.contains("KillMode=mixed"), "{unit}");
    // systemd-analyze checks that the command exists: point it at this build's.
    let here = unit.replace("/usr/local/bin/svscan", bin("svscan"));
    std::fs::write(t.join("svscan.service"), here).unwrap();
    let (code, stdout, err) = out(Command::new("systemd-analyze")
        .arg("verify")
        .arg(t.join("svscan.service")));
    assert_eq!(code, 0, "{stdout}{err}");
    assert_eq!(err, "", "systemd-analyze complained");
}
