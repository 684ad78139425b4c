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
