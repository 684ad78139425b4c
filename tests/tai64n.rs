//! tai64n and tai64nlocal, byte for byte against daemontools' on the same input.

mod common;
use common::*;
use std::process::Command;

#[test]
fn tai64n_labels_each_line_with_now() {
    let input = b"first\n\nbinary \0\xff\x01 line\nno newline at the end";
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let (code, out) = pipe_through(&mut cmd("tai64n"), input);
    assert_eq!(code, 0);
    let lines: Vec<&[u8]> = out.split(|&b| b == b'\n').collect();
    let inputs: Vec<&[u8]> = input.split(|&b| b == b'\n').collect();
    assert_eq!(lines.len(), inputs.len());
    for (l, i) in lines.iter().zip(&inputs) {
        assert_eq!(l[0], b'@');
        assert!(l[1..25].iter().all(|b| b"0123456789abcdef".contains(b)));
        assert_eq!(l[25], b' ');
        assert_eq!(&l[26..], *i);
        let secs = u64::from_str_radix(std::str::from_utf8(&l[1..17]).unwrap(), 16).unwrap();
        let unix = secs - (1 << 62) - 10;
        assert!(unix >= before && unix <= before + 60, "{unix} vs {before}");
    }
    // The same shape as daemontools' tai64n gives.
    let (_, theirs) = pipe_through(&mut Command::new(daemontools("tai64n")), input);
    let shape = |o: &[u8]| {
        o.split(|&b| b == b'\n')
            .map(|l| l.len())
            .collect::<Vec<_>>()
    };
    assert_eq!(shape(&out), shape(&theirs));
}

#[test]
fn tai64nlocal_matches_daemontools() {
    // Only inputs daemontools' tai64nlocal survives: it crashes on labels no date fits,
    // which ours copies unchanged.
    let mut input = Vec::new();
    input.extend_from_slice(
        b"plain line\n@400000006b0231f21234567a hello\n@400000006b0231f21234567azz\n",
    );
    input.extend_from_slice(b"@400000006b0231f212345678\n@400000006b0231f23b9aca00 nanos\n");
    input.extend_from_slice(
        b"@4000000000000005000000ff before 1970\nx@400000006b0231f21234567a x\n",
    );
    input.extend_from_slice(b"@400000003b9aca001234567a\n\n\xff\0binary\n");
    // Labels from every few months over fifty years, in two zones.
    let mut secs: u64 = (1 << 62) + 10;
    for i in 0..200u64 {
        secs += 7_777_777 + i;
        input.extend_from_slice(format!("@{secs:016x}{:08x} line {i}\n", i * 4_999_999).as_bytes());
    }
    input.extend_from_slice(b"@400000006b0231f21234567a no newline");
    for tz in ["UTC", "Europe/Amsterdam", "America/New_York"] {
        let (c1, ours) = pipe_through(cmd("tai64nlocal").env("TZ", tz), &input);
        let (c2, theirs) = pipe_through(
            Command::new(daemontools("tai64nlocal")).env("TZ", tz),
            &input,
        );
        assert_eq!((c1, c2), (0, 0));
        assert_eq!(
            String::from_utf8_lossy(&ours),
            String::from_utf8_lossy(&theirs),
            "TZ={tz}"
        );
    }
}

#[test]
fn tai64n_then_tai64nlocal_round_trip() {
    let (_, labelled) = pipe_through(&mut cmd("tai64n"), b"a\nb\n");
    let (_, ours) = pipe_through(&mut cmd("tai64nlocal"), &labelled);
    let (_, theirs) = pipe_through(&mut Command::new(daemontools("tai64nlocal")), &labelled);
    assert_eq!(ours, theirs);
    assert!(ours.ends_with(b" a\n") || ours.windows(3).any(|w| w == b" a\n"));
}

#[test]
fn garbage_labels_are_kept() {
    let input = b"@\n@zz\n@400000006B0231F2 upper\n@400000006b0231f2123456789 long\n";
    let (code, out) = pipe_through(&mut cmd("tai64nlocal"), input);
    assert_eq!((code, out.as_slice()), (0, &input[..]));
    assert_eq!(out_code("tai64n"), 100);
}

fn out_code(tool: &str) -> i32 {
    out(cmd(tool).arg("extra")).0
}
