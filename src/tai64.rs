//! TAI64N timestamps: the 12-byte label daemontools puts in `supervise/status`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// 2^62 + 10: TAI64 label of the Unix epoch, as daemontools counts it (10 leap seconds).
const TAI64_EPOCH: u64 = (1 << 62) + 10;

/// A TAI64N instant: seconds since the Unix epoch plus nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Tai64N {
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
        Tai64N {
            secs: d.as_secs(),
            nanos: d.subsec_nanos(),
        }
    }

    /// Big-endian label: 8 bytes of 2^62 + 10 + seconds, 4 bytes of nanoseconds.
    pub fn pack(&self) -> [u8; 12] {
        let mut b = [0u8; 12];
        b[..8].copy_from_slice(&(TAI64_EPOCH.wrapping_add(self.secs)).to_be_bytes());
        b[8..].copy_from_slice(&self.nanos.to_be_bytes());
        b
    }

    /// `None` for a label that is not a TAI64N of this era or has nanoseconds >= 10^9.
    pub fn unpack(b: &[u8; 12]) -> Option<Self> {
        let label = u64::from_be_bytes(b[..8].try_into().ok()?);
        let nanos = u32::from_be_bytes(b[8..].try_into().ok()?);
        if !(TAI64_EPOCH..(1 << 63)).contains(&label) || nanos >= 1_000_000_000 {
            return None;
        }
        Some(Tai64N {
            secs: label - TAI64_EPOCH,
            nanos,
        })
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
        let t = Tai64N {
            secs: 0x6b02_2760 - 10,
            nanos: 0x160e_cffc,
        };
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
        let mut b = Tai64N { secs: 5, nanos: 0 }.pack();
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
