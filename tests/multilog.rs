//! multilog: the same logs as daemontools' multilog for the same input and script, the
//! directory layout, signals, crash recovery, bounded memory, and no loss under kill -9.

mod common;
use common::*;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Deterministic awkward input: NULs, 0xff, tabs, stars, empty and long lines, and a
/// last line without its newline.
fn awkward_input(lines: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let alphabet = b"abcxyz o*\0\xff\t 1";
    let lens = [0usize, 1, 5, 50, 199, 200, 201, 999, 1000, 1001, 3000];
    let mut out = Vec::new();
    for i in 0..lines {
        let n = lens[(next() % lens.len() as u64) as usize];
        out.extend_from_slice(format!("{i} ").as_bytes());
        for _ in 0..n {
            out.push(alphabet[(next() % alphabet.len() as u64) as usize]);
        }
        out.push(b'\n');
    }
    out.extend_from_slice(b"last line without newline");
    out
}

/// Compares two byte strings, reporting lengths and the first difference, not the data.
#[track_caller]
fn same_bytes(a: &[u8], b: &[u8], what: &str) {
    if a != b {
        let at = a
            .iter()
            .zip(b)
            .position(|(x, y)| x != y)
            .unwrap_or(a.len().min(b.len()));
        panic!(
            "{what}: {} vs {} bytes, first difference at {at}: {:?} vs {:?}",
            a.len(),
            b.len(),
            String::from_utf8_lossy(&a[at.saturating_sub(40)..(at + 40).min(a.len())]),
            String::from_utf8_lossy(&b[at.saturating_sub(40)..(at + 40).min(b.len())]),
        );
    }
}

/// Runs a multilog in `dir` with `input`; returns (exit code, stderr).
fn run_multilog(prog: &str, dir: &Path, script: &[&str], input: &[u8]) -> (i32, Vec<u8>) {
    let o = feed(Command::new(prog).args(script).current_dir(dir), input);
    (o.status.code().unwrap_or(-1), o.stderr)
}

/// A multilog on `./main` in `dir` whose input the test writes.
fn spawn_multilog(dir: &Path, script: &[&str]) -> (Proc, std::process::ChildStdin) {
    let mut p = Proc::spawn(
        cmd("multilog")
            .args(script)
            .current_dir(dir)
            .stdin(Stdio::piped()),
    );
    let stdin = p.child.stdin.take().unwrap();
    (p, stdin)
}

/// The archived files of a log directory, oldest first, then `current`.
fn log_files(dir: &Path) -> Vec<PathBuf> {
    // Polled before multilog may have made the directory: none yet is no files yet.
    let Ok(rd) = std::fs::read_dir(dir) else {
        return vec![dir.join("current")];
    };
    let mut v: Vec<PathBuf> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with('@'))
        .collect();
    v.sort();
    v.push(dir.join("current"));
    v
}

fn log_content(dir: &Path) -> Vec<u8> {
    log_files(dir)
        .iter()
        .flat_map(|p| std::fs::read(p).unwrap_or_default())
        .collect()
}

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn same_logs_as_daemontools() {
    let input = awkward_input(6000);
    let scripts: [&[&str]; 3] = [
        &["s4096", "n99999", "./a"],
        &[
            "s5000", "n99999", "-*", "+*o*", "./a", "-*a", "e", "=st", "+1*", "./b",
        ],
        &[
            "n99999", "-1*", "./a", "s10000", "+*z*", "./b", "e", "-*", "+*\t*", "=st",
        ],
    ];
    for script in scripts {
        let t = TempDir::new("mlcompat");
        for side in ["ours", "theirs"] {
            std::fs::create_dir(t.join(side)).unwrap();
        }
        let ours = run_multilog(bin("multilog"), &t.join("ours"), script, &input);
        let theirs = run_multilog(
            daemontools("multilog").to_str().unwrap(),
            &t.join("theirs"),
            script,
            &input,
        );
        assert_eq!(
            ours.0,
            0,
            "{script:?}: {}",
            String::from_utf8_lossy(&ours.1)
        );
        assert_eq!(ours, theirs, "exit code and stderr for {script:?}");
        for d in ["a", "b"] {
            let (o, th) = (t.join("ours").join(d), t.join("theirs").join(d));
            if !th.exists() {
                continue;
            }
            same_bytes(
                &log_content(&o),
                &log_content(&th),
                &format!("{d} for {script:?}"),
            );
            for f in log_files(&o) {
                assert_eq!(mode(&f), 0o744, "{}", f.display());
            }
            let max: u64 = if script.contains(&"s4096") {
                4096
            } else {
                99_999
            };
            if script[0] == "s4096" {
                for f in log_files(&o) {
                    assert!(std::fs::metadata(&f).unwrap().len() <= max);
                }
            }
        }
        let st = t.join("ours/st");
        if st.exists() {
            assert_eq!(
                std::fs::read(&st).unwrap(),
                std::fs::read(t.join("theirs/st")).unwrap()
            );
            assert_eq!(std::fs::metadata(&st).unwrap().len(), 1001);
        }
    }
}

#[test]
fn timestamps_and_layout() {
    let t = TempDir::new("mllayout");
    let lines: Vec<String> = (0..3000)
        .map(|i| format!("line {i:05} {}", "x".repeat(60)))
        .collect();
    let input = lines.join("\n") + "\n";
    let (code, _) = run_multilog(
        bin("multilog"),
        t.path(),
        &["t", "s4096", "n3", "./main"],
        input.as_bytes(),
    );
    assert_eq!(code, 0);
    let main = t.join("main");
    let files = log_files(&main);
    assert_eq!(files.len(), 3, "n3: two archives and current");
    assert!(files[0].to_string_lossy().ends_with(".s"));
    assert_eq!(mode(&main), 0o700);
    assert_eq!(mode(&main.join("lock")), 0o600);
    assert!(main.join("state").exists());
    let content = log_content(&main);
    let got: Vec<&[u8]> = content
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    for l in &got {
        assert_eq!(l[0], b'@');
        assert!(l[1..25].iter().all(|b| b"0123456789abcdef".contains(b)));
        assert_eq!(l[25], b' ');
    }
    // The newest lines survive, in order, each whole.
    let tail: Vec<&str> = got
        .iter()
        .map(|l| std::str::from_utf8(&l[26..]).unwrap())
        .collect();
    assert_eq!(tail.last().unwrap(), lines.last().unwrap());
    let first = lines.iter().position(|l| l == tail[0]).unwrap();
    assert_eq!(
        tail,
        lines[first..]
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
    );

    let (code, _) = run_multilog(bin("multilog"), t.path(), &["T", "./iso"], b"hello\n");
    assert_eq!(code, 0);
    let l = std::fs::read_to_string(t.join("iso/current")).unwrap();
    let b = l.as_bytes();
    assert_eq!(
        (b[4], b[10], b[19], b[29], b[30]),
        (b'-', b'T', b'.', b'Z', b' '),
        "{l}"
    );
    assert!(l.ends_with(" hello\n"));
}

#[test]
fn bad_scripts_and_directories() {
    let t = TempDir::new("mlbad");
    let (code, err) = run_multilog(bin("multilog"), t.path(), &["./a", "foo"], b"");
    assert_eq!(code, 100);
    assert_eq!(
        String::from_utf8_lossy(&err),
        "multilog: fatal: unknown action: foo\n"
    );
    let (code, err) = run_multilog(bin("multilog"), t.path(), &["./a", "t"], b"");
    assert_eq!(code, 100);
    assert!(String::from_utf8_lossy(&err).contains(": t"));
    std::fs::write(t.join("file"), "").unwrap();
    let (code, err) = run_multilog(bin("multilog"), t.path(), &["./file/sub"], b"x\n");
    assert_eq!(code, 111);
    assert_eq!(
        String::from_utf8_lossy(&err),
        "multilog: fatal: unable to open directory ./file/sub: not a directory\n"
    );
    // One multilog per directory.
    let mut first = Proc::spawn(
        cmd("multilog")
            .arg("./main")
            .current_dir(t.path())
            .stdin(Stdio::piped()),
    );
    must("locked", || t.join("main/current").exists());
    let (code, err) = run_multilog(bin("multilog"), t.path(), &["./main"], b"x\n");
    assert_eq!(code, 111);
    assert_eq!(
        String::from_utf8_lossy(&err),
        "multilog: fatal: unable to lock directory ./main: temporary failure\n"
    );
    drop(first.child.stdin.take());
    assert_eq!(first.wait_exit(), Some(0));
}

#[test]
fn alarm_rotates_and_term_finishes_the_line() {
    let t = TempDir::new("mlsig");
    let (mut p, mut stdin) = spawn_multilog(t.path(), &["./main"]);
    stdin.write_all(b"one\ntwo\n").unwrap();
    stdin.flush().unwrap();
    let main = t.join("main");
    must("written", || {
        std::fs::read(main.join("current")).is_ok_and(|c| c == b"one\ntwo\n")
    });
    signal(p.pid(), libc::SIGALRM);
    must("rotated", || log_files(&main).len() == 2);
    assert_eq!(std::fs::read(&log_files(&main)[0]).unwrap(), b"one\ntwo\n");
    assert_eq!(mode(&log_files(&main)[0]), 0o744);
    stdin.write_all(b"partial").unwrap();
    stdin.flush().unwrap();
    must("partial written", || {
        std::fs::read(main.join("current")).is_ok_and(|c| c == b"partial")
    });
    signal(p.pid(), libc::SIGTERM);
    stdin.write_all(b" rest\nnot read\n").unwrap();
    stdin.flush().unwrap();
    assert_eq!(p.wait_exit(), Some(0));
    assert_eq!(
        std::fs::read(main.join("current")).unwrap(),
        b"partial rest\n"
    );
    assert_eq!(mode(&main.join("current")), 0o744);
}

#[test]
fn unfinished_current_becomes_u_after_a_crash() {
    let t = TempDir::new("mlcrash");
    let (mut p, mut stdin) = spawn_multilog(t.path(), &["./main"]);
    stdin.write_all(b"before crash\n").unwrap();
    stdin.flush().unwrap();
    let main = t.join("main");
    must("written", || {
        std::fs::read(main.join("current")).is_ok_and(|c| c == b"before crash\n")
    });
    assert_eq!(mode(&main.join("current")), 0o644);
    signal(p.pid(), libc::SIGKILL);
    let _ = p.child.wait();
    let (code, _) = run_multilog(bin("multilog"), t.path(), &["./main"], b"after\n");
    assert_eq!(code, 0);
    let files = log_files(&main);
    assert_eq!(files.len(), 2);
    assert!(files[0].to_string_lossy().ends_with(".u"));
    assert_eq!(std::fs::read(&files[0]).unwrap(), b"before crash\n");
    assert_eq!(std::fs::read(&files[1]).unwrap(), b"after\n");
    // A cleanly finished current is appended to.
    let (code, _) = run_multilog(bin("multilog"), t.path(), &["./main"], b"again\n");
    assert_eq!(code, 0);
    assert_eq!(
        std::fs::read(main.join("current")).unwrap(),
        b"after\nagain\n"
    );
}

#[test]
fn processor_output_and_state() {
    let t = TempDir::new("mlproc");
    let input: String = (0..400)
        .map(|i| format!("entry {i:04} {}\n", "y".repeat(40)))
        .collect();
    let script = [
        "s4096",
        "n99",
        "!wc -l; cat <&4 >/dev/null; echo processed >&5",
        "./main",
    ];
    let (code, err) = run_multilog(bin("multilog"), t.path(), &script, input.as_bytes());
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&err));
    let main = t.join("main");
    let files = log_files(&main);
    assert!(files.len() > 2);
    for f in &files[..files.len() - 1] {
        let out = std::fs::read_to_string(f).unwrap();
        let n: usize = out.trim().parse().unwrap();
        assert!(n > 40 && n < 90, "{}: {out}", f.display());
        assert_eq!(mode(f), 0o744);
    }
    assert_eq!(
        std::fs::read_to_string(main.join("state")).unwrap(),
        "processed\n"
    );
    for gone in ["previous", "processed", "newstate"] {
        assert!(!main.join(gone).exists(), "{gone}");
    }
}

/// The resident set high-water mark of a process, in kB.
fn vm_hwm(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap()
}

#[test]
fn a_huge_line_does_not_grow_memory() {
    let t = TempDir::new("mlhuge");
    let mut p = Proc::spawn(
        cmd("multilog")
            .args(["t", "s16777215", "n3", "-x*", "e", "+*", "./main"])
            .current_dir(t.path())
            .stdin(Stdio::piped())
            .stderr(Stdio::null()),
    );
    let mut stdin = p.child.stdin.take().unwrap();
    let block = vec![b'z'; 1 << 20];
    for _ in 0..200 {
        stdin.write_all(&block).unwrap();
    }
    stdin.flush().unwrap();
    let main = t.join("main");
    // All but what the pipe holds has been read: the peak so far is the peak.
    let hwm = vm_hwm(p.pid());
    assert!(hwm < 8 * 1024, "peak RSS {hwm} kB for a 200 MB line");
    stdin.write_all(b"\n").unwrap();
    drop(stdin);
    assert_eq!(p.wait_exit(), Some(0));
    let files = log_files(&main);
    assert_eq!(files.len(), 3);
    assert!(
        files
            .iter()
            .all(|f| std::fs::metadata(f).unwrap().len() <= 16_777_215)
    );
}

#[test]
fn no_line_lost_when_the_logger_is_killed_20_times() {
    let t = TempDir::new("mlkill");
    let s = service(
        &t.join("prod"),
        "i=0\nwhile [ ! -e stop ]; do i=$((i+1)); echo \"n $i\"; if [ $((i % 20)) = 0 ]; then sleep 0.02; fi; done\necho \"last $i\"\nexec sleep 1000",
    );
    service(
        &s.join("log"),
        &format!("exec {} n1000 ./main", bin("multilog")),
    );
    let mut scan = Proc::spawn(
        cmd("svscan")
            .arg(t.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null()),
    );
    scan.services.push(s.clone());
    let log = s.join("log");
    let main = log.join("main");
    let mut last_pid = 0;
    for _ in 0..20 {
        must("logger up and logging", || {
            let pid = status_pid(&log);
            pid != 0
                && pid != last_pid
                && std::fs::metadata(main.join("current")).is_ok_and(|m| m.len() > 0)
        });
        last_pid = status_pid(&log);
        // Let it log a little before the next kill.
        let size = |m: &Path| {
            log_files(m)
                .iter()
                .map(|f| std::fs::metadata(f).map(|x| x.len()).unwrap_or(0))
                .sum::<u64>()
        };
        let before = size(&main);
        must("logger makes progress", || size(&main) > before);
        signal(last_pid, libc::SIGKILL);
    }
    std::fs::write(s.join("stop"), "").unwrap();
    must("last line logged", || {
        log_content(&main).windows(5).any(|w| w == b"last ")
    });
    let content = log_content(&main);
    let text = String::from_utf8_lossy(&content);
    let last: usize = text
        .lines()
        .find_map(|l| l.strip_prefix("last "))
        .unwrap()
        .parse()
        .unwrap();
    let mut seen = vec![0u32; last + 1];
    for l in text.lines() {
        if let Some(n) = l.strip_prefix("n ") {
            seen[n.parse::<usize>().unwrap()] += 1;
        }
    }
    let wrong: Vec<usize> = (1..=last).filter(|&i| seen[i] != 1).take(10).collect();
    assert!(
        wrong.is_empty(),
        "lines not logged exactly once: {wrong:?} of {last}"
    );
    // Most kills leave an unfinished current, saved as a .u archive by the next start;
    // one that lands just after a rotation (current still empty) leaves none, which a
    // loaded machine makes more likely.
    let unfinished = log_files(&main)
        .iter()
        .filter(|f| f.to_string_lossy().ends_with(".u"))
        .count();
    assert!(unfinished >= 10, "{unfinished} .u archives for 20 kills");
    drop(scan);
}

/// A small tmpfs mounted for one test (the suite runs as root), unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: PathBuf, size: &str) -> Tmpfs {
        std::fs::create_dir_all(&at).unwrap();
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&at)
            .status()
            .unwrap();
        assert!(st.success(), "mount tmpfs (needs root)");
        Tmpfs(at)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_pauses_and_loses_nothing() {
    let t = TempDir::new("mlfull");
    let fs = Tmpfs::mount(t.join("fs"), "256k");
    let err_path = t.join("stderr");
    let mut p = Proc::spawn(
        cmd("multilog")
            .args(["s4096", "n99", "./main"])
            .current_dir(&fs.0)
            .stdin(Stdio::piped())
            .stderr(std::fs::File::create(&err_path).unwrap()),
    );
    let mut stdin = p.child.stdin.take().unwrap();
    stdin.write_all(b"first\n").unwrap();
    stdin.flush().unwrap();
    let main = fs.0.join("main");
    must("first line", || log_content(&main) == b"first\n");
    // Fill the file system to the last byte.
    let mut filler = std::fs::File::create(fs.0.join("filler")).unwrap();
    let block = vec![b'f'; 4096];
    while filler.write_all(&block).is_ok() {}
    while filler.write_all(&block[..1]).is_ok() {}
    let lines: Vec<String> = (1..=300)
        .map(|i| format!("line {i:04} {}", "p".repeat(40)))
        .collect();
    let writer = {
        let data = lines.join("\n") + "\n";
        std::thread::spawn(move || {
            stdin.write_all(data.as_bytes()).unwrap();
            stdin
        })
    };
    must("multilog pauses and says so", || {
        std::fs::read_to_string(&err_path).is_ok_and(|e| e.contains("pausing: out of disk space"))
    });
    assert!(p.child.try_wait().unwrap().is_none(), "multilog gave up");
    drop(filler);
    std::fs::remove_file(fs.0.join("filler")).unwrap();
    let stdin = writer.join().unwrap();
    drop(stdin);
    assert_eq!(p.wait_exit(), Some(0));
    let content = String::from_utf8(log_content(&main)).unwrap();
    let mut want = vec!["first".to_string()];
    want.extend(lines);
    assert_eq!(content.lines().collect::<Vec<_>>(), want);
    drop(fs);
}

#[test]
fn r_rotates_a_current_that_grew_old() {
    let t = TempDir::new("mlage");
    let (mut p, mut stdin) = spawn_multilog(t.path(), &["r1s", "./main"]);
    let start = std::time::Instant::now();
    stdin.write_all(b"aging\n").unwrap();
    stdin.flush().unwrap();
    let main = t.join("main");
    must("rotated by age", || log_files(&main).len() == 2);
    assert!(start.elapsed() >= std::time::Duration::from_millis(900));
    assert_eq!(std::fs::read(&log_files(&main)[0]).unwrap(), b"aging\n");
    // An empty current is never rotated, however old: an absence, which only waiting
    // past the one-second age shows.
    assert!(!wait_for(
        std::time::Duration::from_millis(1500),
        || log_files(&main).len() > 2
    ));
    drop(stdin);
    assert_eq!(p.wait_exit(), Some(0));
}

/// A file as stdin is mapped rather than read: the logs must be the same as
/// daemontools' from the same file, starting at the offset the file was left at, and
/// the offset must end where multilog stopped reading.
#[test]
fn a_file_as_input_logs_from_its_offset() {
    use std::io::{Seek, SeekFrom};
    let t = TempDir::new("mlfile");
    // More than one mapping window (8 MB), no final newline.
    let mut input = awkward_input(6000);
    while input.len() < 9 << 20 {
        input.extend_from_slice(b"padding line to pass the window size\n");
    }
    input.extend_from_slice(b"last line without newline");
    let src = t.join("input");
    std::fs::write(&src, &input).unwrap();
    let script = ["s999999", "n99", "./a"];
    for side in ["ours", "theirs"] {
        std::fs::create_dir(t.join(side)).unwrap();
        let prog = match side {
            "ours" => bin("multilog").to_string(),
            _ => daemontools("multilog").to_string_lossy().into_owned(),
        };
        let mut f = std::fs::File::open(&src).unwrap();
        f.seek(SeekFrom::Start(7)).unwrap();
        let shared = f.try_clone().unwrap();
        let o = Command::new(prog)
            .args(script)
            .current_dir(t.join(side))
            .stdin(Stdio::from(f))
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{side}");
        // The open file description is shared: its offset is where multilog left it.
        let mut shared = shared;
        assert_eq!(
            shared.stream_position().unwrap(),
            input.len() as u64,
            "{side}"
        );
    }
    let ours = log_content(&t.join("ours/a"));
    same_bytes(&ours, &log_content(&t.join("theirs/a")), "file input");
    let mut want = input[7..].to_vec();
    want.push(b'\n');
    same_bytes(&ours, &want, "file input from offset 7");
}

/// TERM while reading a file: the line in progress is finished and nothing past it
/// is taken, so the file offset is exactly where the log ends.
#[test]
fn term_on_a_file_input_stops_after_the_line() {
    use std::io::Seek;
    let t = TempDir::new("mlfileterm");
    let line = [b'x'; 99];
    let mut input = Vec::with_capacity(40 << 20);
    while input.len() < 40 << 20 {
        input.extend_from_slice(&line);
        input.push(b'\n');
    }
    let src = t.join("input");
    std::fs::write(&src, &input).unwrap();
    let f = std::fs::File::open(&src).unwrap();
    let mut shared = f.try_clone().unwrap();
    let mut p = Proc::spawn(
        cmd("multilog")
            .args(["s16777215", "./main"])
            .current_dir(t.path())
            .stdin(Stdio::from(f)),
    );
    // Only once multilog catches TERM (else the signal would just kill it).
    must("TERM caught", || {
        std::fs::read_to_string(format!("/proc/{}/status", p.pid()))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("SigCgt:"))
            .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
            .is_some_and(|m| m & (1 << (libc::SIGTERM - 1)) != 0)
    });
    signal(p.pid(), libc::SIGTERM);
    assert_eq!(p.wait_exit(), Some(0));
    let logged = log_content(&t.join("main"));
    assert_eq!(shared.stream_position().unwrap(), logged.len() as u64);
    assert!(logged.is_empty() || logged.ends_with(b"\n"));
    same_bytes(&logged, &input[..logged.len()], "logged prefix");
}

/// Arguments are bytes: a Latin-1 directory name and pattern work as in daemontools
/// (std::env::args used to panic on them, exit 134, and the logger crash-looped).
#[test]
fn arguments_that_are_not_utf8() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let t = TempDir::new("mlbytes");
    let input = b"plain\nmit \xe4 umlaut\n\xe4 first\nutf8 \xc3\xa4 is not latin-1\nlast\n";
    let dir = OsStr::from_bytes(b"./caf\xe9");
    let script = [
        OsStr::new("-*"),
        OsStr::from_bytes(b"+*\xe4*"),
        dir,
        OsStr::new("+*"),
        OsStr::from_bytes(b"-\xe4*"),
        OsStr::new("./all"),
    ];
    for side in ["ours", "theirs"] {
        std::fs::create_dir(t.join(side)).unwrap();
        let prog = match side {
            "ours" => PathBuf::from(bin("multilog")),
            _ => daemontools("multilog"),
        };
        let o = feed(
            Command::new(prog).args(script).current_dir(t.join(side)),
            input,
        );
        assert_eq!(
            o.status.code(),
            Some(0),
            "{side}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let ours = t.join("ours");
    assert_eq!(
        std::fs::read(ours.join(dir).join("current")).unwrap(),
        b"mit \xe4 umlaut\n\xe4 first\n"
    );
    for d in [dir, OsStr::new("all")] {
        same_bytes(
            &log_content(&ours.join(d)),
            &log_content(&t.join("theirs").join(d)),
            &d.to_string_lossy(),
        );
    }
    // A bad word that is not UTF-8 is reported (lossily), not a crash.
    let o = feed(
        cmd("multilog")
            .arg(OsStr::from_bytes(b"s4k\xff"))
            .arg("./x")
            .current_dir(t.path()),
        b"",
    );
    assert_eq!(o.status.code(), Some(100));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "multilog: fatal: invalid size: s4k\u{fffd}\n"
    );
}

/// SIGKILL while a rotation blocks (here: in the processor) loses nothing: multilog
/// reads no further than the next possible rotation, so everything it took from the
/// pipe is in a file before the rotation starts, and the rest waits in the pipe for
/// the next multilog. The test holds the pipe's read end, so no byte leaves the pipe
/// but through a multilog; each multilog is killed once its processor runs.
#[test]
fn sigkill_during_a_rotation_loses_no_line() {
    const LINES: usize = 40_000;
    const KILLS: usize = 8;
    let t = TempDir::new("mlkillrot");
    std::fs::write(t.join("block"), "").unwrap();
    // The processor copies `previous`; while ../block exists it then says it runs (its
    // pid in ../busy, written whole) and waits to be killed.
    let processor = "!cat; if [ -e ../block ]; then echo $$ > ../busy.tmp; \
                     mv ../busy.tmp ../busy; exec sleep 1000; fi";
    let script = ["s4096", "n999999", processor, "./main"];
    // Close-on-exec: no multilog or processor may hold the write end (no EOF then).
    let (rd, wr) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    let feeder = std::thread::spawn(move || {
        let data: String = (1..=LINES).map(|i| format!("line {i:06}\n")).collect();
        let mut w = std::fs::File::from(wr);
        // Dropping the write end is the end of input.
        w.write_all(data.as_bytes())
    });
    let start = |rd: &std::os::fd::OwnedFd| {
        Proc::spawn(
            cmd("multilog")
                .args(script)
                .current_dir(t.path())
                .stdin(Stdio::from(rd.try_clone().unwrap())),
        )
    };
    let busy = t.join("busy");
    for _ in 0..KILLS {
        let mut p = start(&rd);
        must("processor running", || busy.exists());
        let sleeper: i32 = std::fs::read_to_string(&busy)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        signal(p.pid(), libc::SIGKILL);
        let _ = p.child.wait();
        // The processor's sleep is multilog's orphan now: killed by pid, init reaps it.
        signal(sleeper as u32, libc::SIGKILL);
        std::fs::remove_file(&busy).unwrap();
    }
    std::fs::remove_file(t.join("block")).unwrap();
    let mut p = start(&rd);
    let code = p.wait_exit();
    // Without a reader left the feeder fails instead of blocking for ever.
    drop(rd);
    let fed = feeder.join().unwrap();
    assert_eq!(code, Some(0));
    assert!(fed.is_ok(), "{fed:?}");
    let main = t.join("main");
    let files = log_files(&main);
    assert!(
        files
            .iter()
            .filter(|f| f.to_string_lossy().ends_with(".u"))
            .count()
            >= KILLS,
        "every kill left its file: {files:?}"
    );
    let content = log_content(&main);
    let mut seen = vec![0u32; LINES + 1];
    let mut bad = Vec::new();
    for l in content.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        match std::str::from_utf8(l)
            .ok()
            .and_then(|l| l.strip_prefix("line "))
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|&n| (1..=LINES).contains(&n))
        {
            Some(n) => seen[n] += 1,
            None => bad.push(String::from_utf8_lossy(l).into_owned()),
        }
    }
    let lost = (1..=LINES).filter(|&i| seen[i] == 0).count();
    let dup = (1..=LINES).filter(|&i| seen[i] > 1).count();
    assert_eq!(
        (lost, dup, bad.len()),
        (0, 0, 0),
        "lines lost, duplicated, broken (first broken: {:?})",
        bad.first()
    );
}

/// A throwaway unprivileged account for one test, removed on drop.
struct Account(String);

impl Account {
    fn new(tag: &str) -> Account {
        let name = format!("svkml{tag}{}", std::process::id() % 100_000);
        let st = Command::new("useradd")
            .args(["-M", "-N", "-g", "nogroup", "-s", "/bin/sh", &name])
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(st.success(), "useradd {name}");
        Account(name)
    }

    /// Runs `argv` as this account (through svkit's setuidgid).
    fn run(&self, argv: &[&std::ffi::OsStr]) {
        let (code, _, err) = out(cmd("setuidgid").arg(&self.0).args(argv));
        assert_eq!(code, 0, "{argv:?} as {}: {err}", self.0);
    }

    fn uid(&self) -> u32 {
        nix::unistd::User::from_name(&self.0)
            .unwrap()
            .unwrap()
            .uid
            .as_raw()
    }
}

impl Drop for Account {
    fn drop(&mut self) {
        let _ = Command::new("userdel").arg(&self.0).status();
    }
}

/// What a root-owned file outside the log directory looks like: content and mode.
fn snapshot(p: &Path) -> Option<(String, String)> {
    let content = String::from_utf8_lossy(&std::fs::read(p).ok()?).into_owned();
    Some((content, format!("{:o}", mode(p))))
}

/// The log directory belongs to an unprivileged account that plants symbolic links
/// (and a FIFO) where multilog, run as root, keeps its files: multilog refuses them
/// and touches nothing outside the directory.
#[test]
fn root_multilog_follows_no_link_the_log_account_planted() {
    use std::os::unix::fs::PermissionsExt;
    let acct = Account::new("a");
    let t = TempDir::new("mllinks");
    // Root's files outside the log directory: a run script (mode 0755, which the old
    // code took for a finished `current` and appended to), a secret, and a root-only
    // directory where nothing may appear.
    let script = t.join("run");
    std::fs::write(&script, "#!/bin/sh\nexec true\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let secret = t.join("secret");
    std::fs::write(&secret, "root's secret\n").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let rootonly = t.join("rootonly");
    std::fs::create_dir(&rootonly).unwrap();
    std::fs::set_permissions(&rootonly, std::fs::Permissions::from_mode(0o700)).unwrap();
    let input_path = t.join("input");
    let input: String = (0..2000).map(|i| format!("log line {i:05}\n")).collect();
    std::fs::write(&input_path, &input).unwrap();
    let before = [&script, &secret].map(|p| snapshot(p).unwrap());
    // A log directory of the account's, in a directory of root's it can traverse.
    let logdir = |tag: &str| {
        let parent = t.join(tag);
        std::fs::create_dir(&parent).unwrap();
        let main = parent.join("main");
        std::fs::create_dir(&main).unwrap();
        std::fs::set_permissions(&main, std::fs::Permissions::from_mode(0o700)).unwrap();
        nix::unistd::chown(&main, Some(nix::unistd::Uid::from_raw(acct.uid())), None).unwrap();
        (parent, main)
    };
    let multilog = |parent: &Path| {
        Proc::spawn(
            cmd("multilog")
                .args(["s4096", "n99", "!cat", "./main"])
                .current_dir(parent)
                .stdin(std::fs::File::open(&input_path).unwrap())
                .stderr(std::fs::File::create(parent.join("stderr")).unwrap()),
        )
    };
    let cases: [(&str, PathBuf, &str); 7] = [
        ("current", script.clone(), "is a symbolic link"),
        ("lock", rootonly.join("made-by-lock"), "is a symbolic link"),
        (
            "state",
            rootonly.join("made-by-state"),
            "is a symbolic link",
        ),
        ("previous", secret.clone(), "is a symbolic link"),
        ("processed", secret.clone(), "is a symbolic link"),
        ("newstate", secret.clone(), "is a symbolic link"),
        ("current", PathBuf::new(), "not a regular file"),
    ];
    for (i, (name, target, why)) in cases.iter().enumerate() {
        let (parent, main) = logdir(&format!("open{i}"));
        let at = main.join(name);
        if target.as_os_str().is_empty() {
            acct.run(&["mkfifo".as_ref(), at.as_os_str()]);
        } else {
            acct.run(&[
                "ln".as_ref(),
                "-s".as_ref(),
                target.as_os_str(),
                at.as_os_str(),
            ]);
        }
        let mut p = multilog(&parent);
        let code = p.wait_exit();
        let err = std::fs::read_to_string(parent.join("stderr")).unwrap();
        let want = match *name {
            "lock" => format!("multilog: fatal: unable to lock directory ./main: {why}\n"),
            _ => format!("multilog: fatal: unable to open ./main/{name}: {why}\n"),
        };
        assert_eq!(
            [&script, &secret].map(|p| snapshot(p).unwrap()),
            before,
            "{name}"
        );
        assert!(
            std::fs::read_dir(&rootonly).unwrap().next().is_none(),
            "{name}"
        );
        assert_eq!((code, err.as_str()), (Some(111), want.as_str()), "{name}");
    }
    // Planted while multilog runs, before rotations that run the processor: the
    // processor's output and new state are made afresh, never opened through the link.
    let (parent, main) = logdir("running");
    let mut p = Proc::spawn(
        cmd("multilog")
            .args(["s4096", "n99", "!cat", "./main"])
            .current_dir(&parent)
            .stdin(Stdio::piped())
            .stderr(Stdio::null()),
    );
    let mut stdin = p.child.stdin.take().unwrap();
    must("current", || main.join("current").exists());
    for name in ["processed", "newstate"] {
        let at = main.join(name);
        acct.run(&[
            "ln".as_ref(),
            "-s".as_ref(),
            secret.as_os_str(),
            at.as_os_str(),
        ]);
    }
    stdin.write_all(input.as_bytes()).unwrap();
    drop(stdin);
    assert_eq!(p.wait_exit(), Some(0));
    assert_eq!([&script, &secret].map(|p| snapshot(p).unwrap()), before);
    same_bytes(
        &log_content(&main),
        input.as_bytes(),
        "logged through the processor",
    );
    // The directory named on the command line is the operator's: a link to it is fine.
    std::os::unix::fs::symlink(&main, parent.join("via-link")).unwrap();
    let (code, err) = run_multilog(bin("multilog"), &parent, &["./via-link"], b"linked\n");
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&err));
    assert!(
        std::fs::read(main.join("current"))
            .unwrap()
            .ends_with(b"linked\n")
    );
}

/// The lines of `out`, each without its newline; the last must end with one.
fn out_lines(out: &[u8]) -> Vec<&[u8]> {
    assert!(
        out.is_empty() || out.ends_with(b"\n"),
        "output ends mid-line"
    );
    let mut v: Vec<&[u8]> = out.split(|&b| b == b'\n').collect();
    v.pop();
    v
}

#[test]
fn one_forwards_whole_lines_to_stdout_with_the_service_name() {
    let t = TempDir::new("mlstdout");
    let logdir = t.join("app/log");
    std::fs::create_dir_all(&logdir).unwrap();
    let long = "y".repeat(5000);
    let input = format!("hello\n{long}\n\nlast");
    // A lone `p` names the service above `log`; `pNAME` names it; `1` alone, no prefix.
    let o = feed(
        cmd("multilog")
            .args(["t", "p", "1", "./main", "pweb", "-*", "+*hello", "1"])
            .current_dir(&logdir),
        input.as_bytes(),
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let lines = out_lines(&o.stdout);
    let logged = log_content(&logdir.join("main"));
    let logged = out_lines(&logged);
    assert_eq!(logged.len(), 4);
    // In the order of the input, whichever `1` a line goes through.
    let want: Vec<Vec<u8>> = vec![
        [b"app: ", logged[0]].concat(),
        [b"web: ", logged[0]].concat(),
        [b"app: ", logged[1]].concat(),
        [b"app: ", logged[2]].concat(),
        [b"app: ", logged[3]].concat(),
    ];
    assert_eq!(lines.len(), want.len());
    for (got, want) in lines.iter().zip(&want) {
        same_bytes(got, want, "stdout line");
    }
    assert!(lines[2].ends_with(long.as_bytes()), "not cut");
    assert!(lines[4].ends_with(b" last"));

    // Elsewhere than in a `log` directory, a lone `p` names the directory itself.
    let other = t.join("other");
    std::fs::create_dir(&other).unwrap();
    let (code, out) = pipe_through(cmd("multilog").args(["p", "1"]).current_dir(&other), b"x\n");
    assert_eq!((code, out), (0, b"other: x\n".to_vec()));
}

#[test]
fn e_shows_200_bytes_unless_e_upper_says_otherwise() {
    let t = TempDir::new("mlalert");
    let long = "z".repeat(5000);
    let input = format!("short\n{long}\n");
    for (script, n) in [(&["e"][..], 200), (&["E0", "e"], 0), (&["E300", "e"], 300)] {
        let (code, err) = run_multilog(bin("multilog"), t.path(), script, input.as_bytes());
        assert_eq!(code, 0);
        let shown = match n {
            0 => long.clone(),
            n => format!("{}...", &long[..n]),
        };
        same_bytes(
            &err,
            format!("short\n{shown}\n").as_bytes(),
            &format!("stderr of {script:?}"),
        );
    }
    // `E` applies to the `e` actions after it only; daemontools' own is unchanged.
    let (_, err) = run_multilog(
        bin("multilog"),
        t.path(),
        &["e", "E0", "e"],
        input.as_bytes(),
    );
    let want = format!("short\nshort\n{}...\n{long}\n", &long[..200]);
    same_bytes(&err, want.as_bytes(), "e E0 e");
    let (code, err) = run_multilog(bin("multilog"), t.path(), &["Ex", "e"], b"");
    assert_eq!(code, 100);
    assert_eq!(err, b"multilog: fatal: invalid alert size: Ex\n");
}

/// The bytes waiting in a pipe.
fn in_pipe(fd: std::os::fd::BorrowedFd) -> usize {
    use std::os::fd::AsRawFd;
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD stores one int through a pointer to our local.
    assert!(unsafe { libc::ioctl(fd.as_raw_fd(), libc::FIONREAD, &mut n) } >= 0);
    n as usize
}

#[test]
fn loggers_sharing_a_slow_stdout_neither_interleave_nor_lose_lines() {
    use std::io::Read;
    use std::os::fd::AsFd;
    let t = TempDir::new("mlshare");
    let (r, w) = nix::unistd::pipe().unwrap();
    const LINES: usize = 3000;
    // Lines of 0 to 4000 bytes, up to PIPE_BUF with the prefix: each is written whole.
    let input = |who: &str| -> Vec<u8> {
        let mut v = Vec::new();
        for i in 0..LINES {
            let len = (i * 7919) % 4000;
            v.extend_from_slice(format!("{who} {i} {len} ").as_bytes());
            v.extend(std::iter::repeat_n(b'a' + (i % 26) as u8, len));
            v.push(b'\n');
        }
        v
    };
    let mut procs = Vec::new();
    let mut feeders = Vec::new();
    for who in ["one", "two"] {
        let dir = t.join(who);
        std::fs::create_dir(&dir).unwrap();
        let mut p = Proc::spawn(
            cmd("multilog")
                .args([&format!("p{who}"), "1", "s16m", "./main"])
                .current_dir(&dir)
                .stdin(Stdio::piped())
                .stdout(Stdio::from(w.try_clone().unwrap())),
        );
        let mut stdin = p.child.stdin.take().unwrap();
        let data = input(who);
        feeders.push(std::thread::spawn(move || stdin.write_all(&data).unwrap()));
        procs.push(p);
    }
    drop(w);
    // Nobody reads until the pipe is full (the kernel fills it by pages: a quarter of
    // its size at least, with writes of up to 4 KiB), and the loggers wait on it.
    let size = nix::fcntl::fcntl(r.as_fd(), nix::fcntl::FcntlArg::F_GETPIPE_SZ).unwrap() as usize;
    must("stdout's pipe full", || in_pipe(r.as_fd()) >= size / 4);
    let mut out = Vec::new();
    std::fs::File::from(r).read_to_end(&mut out).unwrap();
    for f in feeders {
        f.join().unwrap();
    }
    for p in &mut procs {
        assert_eq!(p.wait_exit(), Some(0));
    }
    let mut next = [0usize; 2];
    for line in out_lines(&out) {
        let text = std::str::from_utf8(line).unwrap();
        let (who, rest) = text.split_once(": ").expect(text);
        let mut f = rest.splitn(4, ' ');
        let (w2, i, len, body) = (
            f.next().unwrap(),
            f.next().unwrap().parse::<usize>().unwrap(),
            f.next().unwrap().parse::<usize>().unwrap(),
            f.next().unwrap_or(""),
        );
        assert_eq!(who, w2, "a line of one logger inside another's: {text:.80}");
        let k = usize::from(who == "two");
        assert_eq!(i, next[k], "{who}: lines in order, none lost");
        next[k] += 1;
        assert_eq!(body.len(), len, "{who} {i}: whole");
        assert!(
            body.bytes().all(|b| b == b'a' + (i % 26) as u8),
            "{who} {i}"
        );
    }
    assert_eq!(next, [LINES, LINES]);
    for who in ["one", "two"] {
        same_bytes(&log_content(&t.join(who).join("main")), &input(who), who);
    }
}

#[test]
fn a_closed_stdout_warns_once_and_the_log_goes_on() {
    let t = TempDir::new("mlepipe");
    let (r, w) = nix::unistd::pipe().unwrap();
    drop(r);
    let input: Vec<u8> = (0..20_000)
        .flat_map(|i| format!("line {i}\n").into_bytes())
        .collect();
    let mut c = cmd("multilog");
    c.args(["p", "1", "./main"])
        .current_dir(t.path())
        .stdout(Stdio::from(w));
    let mut child = c
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let data = input.clone();
    let feeder = std::thread::spawn(move || stdin.write_all(&data).unwrap());
    let o = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "multilog: warning: unable to write to standard output: broken pipe; no longer writing to it\n"
    );
    same_bytes(&log_content(&t.join("main")), &input, "log");
}

#[test]
fn f_makes_the_following_patterns_shell_globs() {
    let t = TempDir::new("ml-glob");
    let input = b"error 1\nerr0r 2\nwarning\nan error\nmissing [brackets]\n";
    // daemontools' patterns: `?` and `[` are themselves.
    let ml = bin("multilog");
    let (code, _) = run_multilog(ml, t.path(), &["-*", "+*err?r*", "./plain"], input);
    assert_eq!(code, 0);
    assert_eq!(lines(&t.join("plain/current")), Vec::<String>::new());
    // After F, globs: `?` any byte, brackets, and backtracking `*`.
    let (code, _) = run_multilog(
        ml,
        t.path(),
        &["F", "-*", "+*err?r*", "+*[[]b*", "./glob"],
        input,
    );
    assert_eq!(code, 0);
    assert_eq!(
        lines(&t.join("glob/current")),
        ["error 1", "err0r 2", "an error", "missing [brackets]"]
    );
}
