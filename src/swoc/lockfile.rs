//! A lock file's name (`CLIENT.UNIQUE`) and contents (`key=value` lines): pure pack and unpack.

use super::name::ClientName;
use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Who holds a lock and since when: the contents of a lock file, `key=value` lines so
/// that `cat` explains a lock. Unknown keys are skipped, for later additions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockInfo {
    pub client: String,
    pub host: String,
    pub uid: u32,
    /// The process that asked for the lock (for swocclient, its parent: the job).
    pub pid: u32,
    pub created: SystemTime,
    /// From `--ttl`: after this the lock no longer counts.
    pub expires: Option<SystemTime>,
    pub comment: Option<String>,
}

/// Why a lock file's contents were not understood.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InfoError {
    NotText,
    NoEquals(usize),
    Missing(&'static str),
    BadValue(&'static str),
}

impl std::fmt::Display for InfoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InfoError::NotText => write!(f, "not text"),
            InfoError::NoEquals(n) => write!(f, "line {n} is not key=value"),
            InfoError::Missing(k) => write!(f, "no {k}="),
            InfoError::BadValue(k) => write!(f, "bad {k}= value"),
        }
    }
}

impl std::error::Error for InfoError {}

impl LockInfo {
    pub fn pack(&self) -> String {
        let mut s = format!(
            "client={}\nhost={}\nuid={}\npid={}\ncreated={}\n",
            self.client,
            self.host,
            self.uid,
            self.pid,
            fmt_time(self.created)
        );
        if let Some(e) = self.expires {
            s.push_str(&format!("expires={}\n", fmt_time(e)));
        }
        if let Some(c) = &self.comment {
            s.push_str(&format!("comment={c}\n"));
        }
        s
    }

    pub fn unpack(b: &[u8]) -> Result<LockInfo, InfoError> {
        let text = std::str::from_utf8(b).map_err(|_| InfoError::NotText)?;
        let (mut client, mut host, mut uid, mut pid, mut created, mut expires, mut comment) =
            (None, None, None, None, None, None, None);
        for (i, line) in text.lines().enumerate() {
            if line.is_empty() {
                continue;
            }
            let (k, v) = line.split_once('=').ok_or(InfoError::NoEquals(i + 1))?;
            match k {
                "client" => client = Some(v.to_string()),
                "host" => host = Some(v.to_string()),
                "uid" => uid = Some(v.parse().map_err(|_| InfoError::BadValue("uid"))?),
                "pid" => pid = Some(v.parse().map_err(|_| InfoError::BadValue("pid"))?),
                "created" => created = Some(parse_time(v).ok_or(InfoError::BadValue("created"))?),
                "expires" => expires = Some(parse_time(v).ok_or(InfoError::BadValue("expires"))?),
                "comment" => comment = Some(v.to_string()),
                _ => {}
            }
        }
        Ok(LockInfo {
            client: client.ok_or(InfoError::Missing("client"))?,
            host: host.unwrap_or_default(),
            uid: uid.unwrap_or(0),
            pid: pid.unwrap_or(0),
            created: created.ok_or(InfoError::Missing("created"))?,
            expires,
            comment,
        })
    }
}

/// `SECONDS.NANOSECONDS` since the epoch: exact, and sorts as text within a century.
pub fn fmt_time(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    format!("{}.{:09}", d.as_secs(), d.subsec_nanos())
}

pub fn parse_time(s: &str) -> Option<SystemTime> {
    let (secs, frac) = match s.split_once('.') {
        Some((_, "")) => return None,
        Some((secs, frac)) => (secs, frac),
        None => (s, "0"),
    };
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    if !digits(secs) || !digits(frac) || frac.len() > 9 {
        return None;
    }
    let nanos = frac.parse::<u32>().ok()? * 10u32.pow(9 - frac.len() as u32);
    UNIX_EPOCH.checked_add(Duration::new(secs.parse().ok()?, nanos))
}

/// The unique part of a lock name: time (so `ls` sorts by age), pid and random bits
/// (so two hosts sharing a client name over NFS never pick the same name). No '.', so
/// the client is everything before the last '.'.
pub fn unique_part(now: SystemTime, pid: u32, random: u64) -> String {
    let d = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    format!(
        "{}-{:09}-{pid}-{random:016x}",
        d.as_secs(),
        d.subsec_nanos()
    )
}

pub(super) fn random64() -> u64 {
    // std's RandomState is seeded from the OS's random source once per thread and then
    // stepped per instance: enough to make names unique, with no unsafe and no crate.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    h.finish()
}

/// The client a lock file name `CLIENT.UNIQUE` belongs to, or why it is not one.
pub fn lock_client(name: &str) -> Result<&str, &'static str> {
    let (client, unique) = name
        .rsplit_once('.')
        .ok_or("not a lock name (CLIENT.UNIQUE)")?;
    if ClientName::new(client).is_err() {
        return Err("not a lock name (bad client name)");
    }
    if unique.is_empty()
        || !unique
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err("not a lock name (bad unique part)");
    }
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        let t = UNIX_EPOCH + Duration::new(1_732_233_444, 5);
        assert_eq!(fmt_time(t), "1732233444.000000005");
        assert_eq!(parse_time("1732233444.000000005"), Some(t));
        assert_eq!(
            parse_time("1732233444"),
            Some(UNIX_EPOCH + Duration::from_secs(1_732_233_444))
        );
        assert_eq!(
            parse_time("1.5"),
            Some(UNIX_EPOCH + Duration::from_millis(1500))
        );
        for bad in [
            "",
            ".5",
            "1.",
            "x",
            "-1",
            "1.0000000001",
            "1.2.3",
            "1e9",
            "+1",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }

    fn info() -> LockInfo {
        LockInfo {
            client: "alpha".into(),
            host: "alpha.example.com".into(),
            uid: 1000,
            pid: 4242,
            created: UNIX_EPOCH + Duration::new(1_732_233_444, 123_456_789),
            expires: Some(UNIX_EPOCH + Duration::from_secs(1_732_237_044)),
            comment: Some("nightly = backup".into()),
        }
    }

    #[test]
    fn lock_info_round_trip() {
        let i = info();
        let packed = i.pack();
        assert_eq!(
            packed,
            "client=alpha\nhost=alpha.example.com\nuid=1000\npid=4242\n\
             created=1732233444.123456789\nexpires=1732237044.000000000\n\
             comment=nightly = backup\n"
        );
        assert_eq!(LockInfo::unpack(packed.as_bytes()), Ok(i));
        let plain = LockInfo {
            expires: None,
            comment: None,
            ..info()
        };
        assert_eq!(LockInfo::unpack(plain.pack().as_bytes()), Ok(plain));
    }

    #[test]
    fn lock_info_tolerates_and_rejects() {
        let min = LockInfo::unpack(b"created=5\nclient=x\nfuture=thing\n\n").unwrap();
        assert_eq!(min.client, "x");
        assert_eq!(min.created, UNIX_EPOCH + Duration::from_secs(5));
        assert_eq!(min.expires, None);
        assert_eq!(LockInfo::unpack(b""), Err(InfoError::Missing("client")));
        assert_eq!(
            LockInfo::unpack(b"client=x\n"),
            Err(InfoError::Missing("created"))
        );
        assert_eq!(
            LockInfo::unpack(b"client=x\nrubbish\n"),
            Err(InfoError::NoEquals(2))
        );
        assert_eq!(
            LockInfo::unpack(b"client=x\ncreated=soon\n"),
            Err(InfoError::BadValue("created"))
        );
        assert_eq!(
            LockInfo::unpack(b"client=x\ncreated=1\npid=-1\n"),
            Err(InfoError::BadValue("pid"))
        );
        assert_eq!(LockInfo::unpack(b"\xff\xfe"), Err(InfoError::NotText));
    }

    #[test]
    fn lock_names() {
        let u = unique_part(UNIX_EPOCH + Duration::new(1_732_233_444, 7), 42, 0xabc);
        assert_eq!(u, "1732233444-000000007-42-0000000000000abc");
        let name = format!("host.example.com.{u}");
        assert_eq!(lock_client(&name), Ok("host.example.com"));
        assert_eq!(lock_client("alpha.1"), Ok("alpha"));
        assert!(lock_client("README").is_err());
        assert!(lock_client("alpha.").is_err());
        assert!(lock_client(".x").is_err());
        assert!(lock_client("a b.1").is_err());
        assert!(lock_client("a.b c").is_err());
        assert!(lock_client("a..1").is_err());
    }
}
