//! TAI64N timestamps: the 12-byte label daemontools puts in `supervise/status`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// 2^62 + 10: the TAI64 label of the Unix epoch, as daemontools counts it (10 leap
/// seconds). svkit's one copy.
pub const EPOCH: u64 = (1 << 62) + 10;

/// A TAI64N instant, as its label says it: TAI64 seconds (`EPOCH` + Unix seconds) and
/// nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Tai64N {
    /// TAI64 seconds: 2^62 + 10 at the Unix epoch.
    pub secs: u64,
    pub nanos: u32,
}

impl Tai64N {
    pub const PACKED_LEN: usize = 12;

    pub fn now() -> Self {
        Self::from_system(SystemTime::now())
    }

    pub fn from_system(t: SystemTime) -> Self {
        let d = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
        Self::from_unix(d.as_secs(), d.subsec_nanos())
    }

    /// The instant `unix_secs` seconds and `nanos` nanoseconds after the Unix epoch
    /// (TAI64's seconds end at 2^63: later ones stay there).
    pub fn from_unix(unix_secs: u64, nanos: u32) -> Self {
        Tai64N {
            secs: EPOCH.saturating_add(unix_secs).min(u64::MAX >> 1),
            nanos,
        }
    }

    /// Seconds since the Unix epoch (0 for an instant before it).
    pub fn unix_secs(&self) -> u64 {
        self.secs.saturating_sub(EPOCH)
    }

    /// Big-endian label: 8 bytes of TAI64 seconds, 4 bytes of nanoseconds.
    pub fn pack(&self) -> [u8; 12] {
        let mut b = [0u8; 12];
        b[..8].copy_from_slice(&self.secs.to_be_bytes());
        b[8..].copy_from_slice(&self.nanos.to_be_bytes());
        b
    }

    /// `None` for a label that is not a TAI64N of this era or has nanoseconds >= 10^9.
    pub fn unpack(b: &[u8; 12]) -> Option<Self> {
        let label = u64::from_be_bytes(b[..8].try_into().ok()?);
        let nanos = u32::from_be_bytes(b[8..].try_into().ok()?);
        if !(EPOCH..(1 << 63)).contains(&label) || nanos >= 1_000_000_000 {
            return None;
        }
        Some(Tai64N { secs: label, nanos })
    }

    /// Whole seconds from `self` to `now`, 0 if `self` lies in the future (as svstat does).
    pub fn seconds_until(&self, now: Tai64N) -> u64 {
        now.secs.saturating_sub(self.secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_matches_daemontools_layout() {
        // 2026-11-21 23:20:33 UTC as written by daemontools supervise: 40 00 00 00 6b 02 27 60
        let t = Tai64N::from_unix(0x6b02_2760 - 10, 0x160e_cffc);
        assert_eq!(t.secs, 0x4000_0000_6b02_2760);
        assert_eq!(t.unix_secs(), 0x6b02_2760 - 10);
        assert_eq!(
            t.pack(),
            [
                0x40, 0, 0, 0, 0x6b, 0x02, 0x27, 0x60, 0x16, 0x0e, 0xcf, 0xfc
            ]
        );
        assert_eq!(Tai64N::unpack(&t.pack()), Some(t));
    }

    #[test]
    fn unpack_rejects_garbage() {
        assert_eq!(Tai64N::unpack(&[0; 12]), None);
        let mut b = Tai64N::from_unix(5, 0).pack();
        b[8] = 0xff;
        assert_eq!(Tai64N::unpack(&b), None);
    }

    #[test]
    fn future_counts_as_zero() {
        let a = Tai64N {
            secs: 100,
            nanos: 0,
        };
        assert_eq!(a.seconds_until(Tai64N { secs: 90, nanos: 0 }), 0);
        assert_eq!(
            a.seconds_until(Tai64N {
                secs: 145,
                nanos: 0
            }),
            45
        );
    }
}
