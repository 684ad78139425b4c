//! The `-s` reports of swocclient and swocserver, and how ages and counts are written.

use super::name::ClientName;
use super::scan::{Lock, Scan};
use std::io::Write;
use std::time::{Duration, SystemTime};

/// An age as operators read it: `45s`, `3m05s`, `2h07m`, `4d03h`.
pub fn fmt_age(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        3600..86400 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{:02}h", s / 86400, s % 86400 / 3600),
    }
}

/// `1 lock`, `2 locks`.
pub fn plural(n: usize, what: &str) -> String {
    match n {
        1 => format!("1 {what}"),
        _ => format!("{n} {what}s"),
    }
}

/// Printable on one line whatever a hand-made lock file holds.
fn printable(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

fn write_lock(out: &mut impl Write, l: &Lock, now: SystemTime) -> std::io::Result<()> {
    let age = fmt_age(now.duration_since(l.created()).unwrap_or_default());
    write!(out, "  {}: age {age}", printable(&l.file))?;
    match &l.info {
        Ok(i) => {
            write!(
                out,
                ", pid {}, host {}, uid {}",
                i.pid,
                printable(&i.host),
                l.owner
            )?;
            match i.expires {
                Some(e) if e <= now => write!(
                    out,
                    ", expired {} ago",
                    fmt_age(now.duration_since(e).unwrap_or_default())
                )?,
                Some(e) => write!(
                    out,
                    ", expires in {}",
                    fmt_age(e.duration_since(now).unwrap_or_default())
                )?,
                None => {}
            }
            if let Some(c) = &i.comment {
                write!(out, ": {}", printable(c))?;
            }
        }
        Err(e) => write!(out, " (from mtime), unreadable contents: {e}")?,
    }
    writeln!(out)
}

fn write_client(
    out: &mut impl Write,
    client: &str,
    locks: &[&Lock],
    blocked: bool,
    now: SystemTime,
) -> std::io::Result<()> {
    let expired = locks.iter().filter(|l| l.expired(now)).count();
    write!(
        out,
        "client {client}: {}",
        plural(locks.len() - expired, "lock")
    )?;
    if expired > 0 {
        write!(out, " (and {expired} expired)")?;
    }
    writeln!(out, ", {}", if blocked { "blocked" } else { "not blocked" })?;
    for l in locks {
        write_lock(out, l, now)?;
    }
    Ok(())
}

fn write_server_line(out: &mut impl Write, scan: &Scan) -> std::io::Result<()> {
    match scan.disallowed {
        true => writeln!(out, "server: new locks disallowed"),
        false => writeln!(out, "server: new locks allowed"),
    }
}

fn write_garbage(out: &mut impl Write, scan: &Scan) -> std::io::Result<()> {
    for g in &scan.garbage {
        writeln!(out, "garbage: {}: {}", printable(&g.path), g.why)?;
    }
    for f in &scan.foreign {
        writeln!(
            out,
            "foreign: {}: owned by uid {}, which may not use client {}: ignored",
            printable(&f.path),
            f.owner,
            f.client
        )?;
    }
    Ok(())
}

fn by_age<'a>(locks: impl Iterator<Item = &'a Lock>) -> Vec<&'a Lock> {
    let mut v: Vec<&Lock> = locks.collect();
    v.sort_by(|a, b| {
        a.created()
            .cmp(&b.created())
            .then_with(|| a.file.cmp(&b.file))
    });
    v
}

/// `swocclient -s`: the client's locks with their ages, whether it is blocked, and
/// whether the server takes new locks.
pub fn write_client_status(
    out: &mut impl Write,
    scan: &Scan,
    client: &ClientName,
    now: SystemTime,
) -> std::io::Result<()> {
    let mine = by_age(scan.locks.iter().filter(|l| l.client == client.as_str()));
    let blocked = scan.blocked.iter().any(|b| b == client.as_str());
    write_client(out, client.as_str(), &mine, blocked, now)?;
    write_server_line(out, scan)?;
    write_garbage(out, scan)
}

/// `swocserver -s`: the allow state, every client that holds a lock or is blocked
/// with its locks (ages, comments), garbage files, and the total.
pub fn write_server_status(
    out: &mut impl Write,
    scan: &Scan,
    now: SystemTime,
) -> std::io::Result<()> {
    write_server_line(out, scan)?;
    let mut by_client: std::collections::BTreeMap<&str, Vec<&Lock>> = Default::default();
    for b in &scan.blocked {
        by_client.entry(b.as_str()).or_default();
    }
    for l in &scan.locks {
        by_client.entry(l.client.as_str()).or_default().push(l);
    }
    let mut clients = 0;
    for (client, locks) in &by_client {
        let locks = by_age(locks.iter().copied());
        let blocked = scan
            .blocked
            .binary_search_by(|b| b.as_str().cmp(client))
            .is_ok();
        clients += usize::from(locks.iter().any(|l| !l.expired(now)));
        write_client(out, client, &locks, blocked, now)?;
    }
    write_garbage(out, scan)?;
    writeln!(
        out,
        "total: {} from {}",
        plural(scan.live(None, now), "lock"),
        plural(clients, "client")
    )
}

#[cfg(test)]
mod tests {
    use super::super::lockfile::{InfoError, LockInfo};
    use super::super::scan::{Foreign, Garbage};
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn ages() {
        assert_eq!(fmt_age(Duration::from_millis(300)), "0s");
        assert_eq!(fmt_age(Duration::from_secs(59)), "59s");
        assert_eq!(fmt_age(Duration::from_secs(185)), "3m05s");
        assert_eq!(fmt_age(Duration::from_secs(7620)), "2h07m");
        assert_eq!(
            fmt_age(Duration::from_secs(4 * 86400 + 3 * 3600 + 59)),
            "4d03h"
        );
    }

    #[test]
    fn status_reports() {
        let now = UNIX_EPOCH + Duration::from_secs(1_732_237_000);
        let lock = |file: &str, client: &str, age: u64, expires: Option<u64>, comment| Lock {
            file: file.into(),
            client: client.into(),
            info: Ok(LockInfo {
                client: client.into(),
                host: "h".into(),
                uid: 0,
                pid: 7,
                created: now - Duration::from_secs(age),
                expires: expires.map(|e| now + Duration::from_secs(e) - Duration::from_secs(100)),
                comment,
            }),
            mtime: None,
            owner: 0,
        };
        let scan = Scan {
            locks: vec![
                lock("b.2", "b", 5, None, None),
                lock("a.1", "a", 3700, None, Some("backup".to_string())),
                lock("a.2", "a", 10, Some(160), None),
                lock("c.1", "c", 200, Some(50), None),
                Lock {
                    file: "d.1".into(),
                    client: "d".into(),
                    info: Err(InfoError::Missing("created")),
                    mtime: Some(now - Duration::from_secs(61)),
                    owner: 1000,
                },
            ],
            blocked: vec!["b".into(), "e".into()],
            disallowed: true,
            garbage: vec![Garbage {
                path: "locks/README".into(),
                why: "not a lock name (CLIENT.UNIQUE)",
            }],
            foreign: vec![Foreign {
                path: "blocked/a".into(),
                client: "a".into(),
                owner: 65534,
            }],
        };
        let mut out = Vec::new();
        write_server_status(&mut out, &scan, now).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "server: new locks disallowed\n\
             client a: 2 locks, not blocked\n\
             \x20 a.1: age 1h01m, pid 7, host h, uid 0: backup\n\
             \x20 a.2: age 10s, pid 7, host h, uid 0, expires in 1m00s\n\
             client b: 1 lock, blocked\n\
             \x20 b.2: age 5s, pid 7, host h, uid 0\n\
             client c: 0 locks (and 1 expired), not blocked\n\
             \x20 c.1: age 3m20s, pid 7, host h, uid 0, expired 50s ago\n\
             client d: 1 lock, not blocked\n\
             \x20 d.1: age 1m01s (from mtime), unreadable contents: no created=\n\
             client e: 0 locks, blocked\n\
             garbage: locks/README: not a lock name (CLIENT.UNIQUE)\n\
             foreign: blocked/a: owned by uid 65534, which may not use client a: ignored\n\
             total: 4 locks from 3 clients\n"
        );
        let mut out = Vec::new();
        write_client_status(&mut out, &scan, &ClientName::new("b").unwrap(), now).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "client b: 1 lock, blocked\n\
             \x20 b.2: age 5s, pid 7, host h, uid 0\n\
             server: new locks disallowed\n\
             garbage: locks/README: not a lock name (CLIENT.UNIQUE)\n\
             foreign: blocked/a: owned by uid 65534, which may not use client a: ignored\n"
        );
    }
}
