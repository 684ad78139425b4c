//! Line timestamps: tai64n's `@` + 24 hex digits in front of each line, and
//! tai64nlocal's conversion of such a label to local time.

use crate::tai64::Tai64N;
use std::io::{self, Read, Write};

/// `@` + 24 lowercase hex digits + a space: what tai64n and `multilog t` put in front.
pub const LABEL_LEN: usize = 26;

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The label for `t`, with its trailing space.
pub fn label(t: Tai64N) -> [u8; LABEL_LEN] {
    let mut out = [0u8; LABEL_LEN];
    out[0] = b'@';
    for (i, b) in t.pack().iter().enumerate() {
        out[1 + 2 * i] = HEX[(b >> 4) as usize];
        out[2 + 2 * i] = HEX[(b & 15) as usize];
    }
    out[25] = b' ';
    out
}

/// tai64n: copies `input` to `output`, putting the label of the moment each line's first
/// byte was read in front of it. A last line without a newline is labelled too.
pub fn label_lines(mut input: impl Read, mut output: impl Write) -> io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut out = Vec::with_capacity(96 * 1024);
    let mut at_start = true;
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        // One clock reading per read: every line that starts in it arrived then.
        let stamp = label(Tai64N::now());
        for piece in buf[..n].split_inclusive(|&b| b == b'\n') {
            if at_start {
                out.extend_from_slice(&stamp);
            }
            out.extend_from_slice(piece);
            at_start = piece.last() == Some(&b'\n');
        }
        // A partial line too: what was read is shown now, not at the next newline.
        output.write_all(&out)?;
        output.flush()?;
        out.clear();
    }
    output.flush()
}

/// tai64nlocal on one line (with or without its newline): a line starting with `@` and
/// lowercase hex digits gets the label replaced by local `YYYY-MM-DD HH:MM:SS.NNNNNNNNN`,
/// decoded as daemontools does (digits shift in, 24 of them make a TAI64N label).
/// Anything else, or a label no calendar date fits, is copied unchanged.
pub fn localize_line(line: &[u8], out: &mut Vec<u8>) {
    if line.first() != Some(&b'@') {
        out.extend_from_slice(line);
        return;
    }
    let digits = line[1..]
        .iter()
        .take_while(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
        .count();
    let (mut secs, mut nanos) = (0u64, 0u64);
    for &b in &line[1..1 + digits] {
        let u = (b as char).to_digit(16).unwrap_or(0) as u64;
        secs = (secs << 4).wrapping_add(nanos >> 28);
        nanos = ((nanos & 0x0fff_ffff) << 4) + u;
    }
    let unix = secs.wrapping_sub(crate::tai64::EPOCH) as i64;
    match local_time(unix) {
        Some(tm) if digits > 0 => {
            let _ = write!(
                out,
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:09}",
                tm.tm_year as i64 + 1900,
                tm.tm_mon + 1,
                tm.tm_mday,
                tm.tm_hour,
                tm.tm_min,
                tm.tm_sec,
                nanos
            );
            out.extend_from_slice(&line[1 + digits..]);
        }
        _ => out.extend_from_slice(line),
    }
}

fn local_time(t: i64) -> Option<libc::tm> {
    // A time that the C library's time_t cannot hold has no local time.
    #[allow(
        clippy::useless_conversion,
        reason = "time_t is 32 bits on some targets"
    )]
    let t = t.try_into().ok()?;
    // SAFETY: localtime_r writes only into the tm we pass and reads the time_t we pass.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        (!libc::localtime_r(&t, &mut tm).is_null()).then_some(tm)
    }
}

/// tai64nlocal: converts every line of `input`.
pub fn localize_lines(input: impl Read, mut output: impl Write) -> io::Result<()> {
    use std::io::BufRead;
    let mut input = io::BufReader::with_capacity(64 * 1024, input);
    let mut line = Vec::new();
    let mut out = Vec::with_capacity(64 * 1024);
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        localize_line(&line, &mut out);
        // Write out before waiting for more input: `tail -f current | tai64nlocal`.
        if out.len() >= 32 * 1024 || input.buffer().is_empty() {
            output.write_all(&out)?;
            output.flush()?;
            out.clear();
        }
    }
    output.write_all(&out)?;
    output.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_format() {
        let l = label(Tai64N::from_unix(0x6b02_31f2 - 10, 0x1234_567a));
        assert_eq!(&l, b"@400000006b0231f21234567a ");
    }

    #[test]
    fn labels_every_line_once() {
        let mut out = Vec::new();
        label_lines(&b"a\n\nb\0c\nno newline"[..], &mut out).unwrap();
        let text = out
            .split(|&b| b == b'\n')
            .map(|l| l.len())
            .collect::<Vec<_>>();
        assert_eq!(text, vec![27, 26, 29, 36]);
        assert!(out.starts_with(b"@4000"));
    }

    #[test]
    fn localize_keeps_what_it_cannot_convert() {
        let mut out = Vec::new();
        for l in [
            &b"plain\n"[..],
            b"@\n",
            b"@zz\n",
            b"x@4000 y\n",
            b"@400000006B0231F2\n",
        ] {
            out.clear();
            localize_line(l, &mut out);
            assert_eq!(out, l);
        }
    }
}
