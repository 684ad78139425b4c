//! Restart policies: when a service that went down may start again. The `restart`
//! file of a service directory chooses one (read by `crate::settings`); without it,
//! daemontools' throttle.

use crate::units::{ParseUnitError, deadline_after, parse_duration_saturating};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// daemontools' throttle: at most one start per second.
pub const MIN_RUN_INTERVAL: Duration = Duration::from_secs(1);

/// How restarts are spaced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RestartPolicy {
    /// `daemontools`: at once if the last start was a second ago or more.
    #[default]
    Daemontools,
    /// `burst N WINDOW REST` (IS::Init: `burst 5 10s 60s`): after N starts within
    /// WINDOW, wait REST after the last one.
    Burst {
        starts: usize,
        window: Duration,
        rest: Duration,
    },
    /// `exponential INITIAL CAP`: after a run shorter than CAP, wait INITIAL, then
    /// twice as long after each further short run, at most CAP; a run of CAP or more
    /// starts the count again.
    Exponential { initial: Duration, cap: Duration },
}

/// Why a `restart` file's text is no policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PolicyError {
    /// burst's N, as written: not a whole number above zero.
    Starts(String),
    Duration(ParseUnitError),
    /// The whole text (trimmed): no policy svkit knows.
    Unknown(String),
}

impl std::fmt::Display for PolicyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PolicyError::Starts(n) => write!(f, "invalid number of starts {n:?}"),
            PolicyError::Duration(e) => e.fmt(f),
            PolicyError::Unknown(text) => write!(
                f,
                "not a restart policy: {text:?} (want daemontools, burst N WINDOW REST or exponential INITIAL CAP)"
            ),
        }
    }
}

/// Parses the `restart` file: a policy name and its numbers (durations with s/m/h/d;
/// one over a hundred years is a hundred years).
pub fn parse_policy(text: &str) -> Result<RestartPolicy, PolicyError> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let dur = |w: &str| parse_duration_saturating(w).map_err(PolicyError::Duration);
    match words.as_slice() {
        [] | ["daemontools"] => Ok(RestartPolicy::Daemontools),
        ["burst"] => Ok(RestartPolicy::Burst {
            starts: 5,
            window: Duration::from_secs(10),
            rest: Duration::from_secs(60),
        }),
        ["burst", n, window, rest] => Ok(RestartPolicy::Burst {
            starts: n
                .parse()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| PolicyError::Starts(n.to_string()))?,
            window: dur(window)?,
            rest: dur(rest)?,
        }),
        ["exponential"] => Ok(RestartPolicy::Exponential {
            initial: Duration::from_secs(1),
            cap: Duration::from_secs(60),
        }),
        ["exponential", initial, cap] => Ok(RestartPolicy::Exponential {
            initial: dur(initial)?,
            cap: dur(cap)?,
        }),
        _ => Err(PolicyError::Unknown(text.trim().to_string())),
    }
}

/// The history a policy needs, and the answer it gives.
#[derive(Clone, Debug, Default)]
pub struct Backoff {
    pub policy: RestartPolicy,
    starts: VecDeque<Instant>,
    exited: Option<Instant>,
    delay: Duration,
}

impl Backoff {
    pub fn record_start(&mut self, now: Instant) {
        self.starts.push_back(now);
        let keep = match self.policy {
            RestartPolicy::Burst { starts, .. } => starts,
            _ => 1,
        };
        while self.starts.len() > keep {
            self.starts.pop_front();
        }
    }

    pub fn record_exit(&mut self, now: Instant) {
        self.exited = Some(now);
        if let RestartPolicy::Exponential { initial, cap } = self.policy {
            let lived = self
                .starts
                .back()
                .map_or(Duration::ZERO, |s| now.saturating_duration_since(*s));
            self.delay = if lived >= cap {
                Duration::ZERO
            } else if self.delay.is_zero() {
                initial.min(cap)
            } else {
                self.delay.saturating_mul(2).min(cap)
            };
        }
    }

    /// The service went down because it was told to (or was to run once): that is
    /// no crash, so a later start is not held back by the starts before it, beyond
    /// the one-second minimum after the last.
    pub fn forget_crashes(&mut self) {
        while self.starts.len() > 1 {
            self.starts.pop_front();
        }
        self.delay = Duration::ZERO;
    }

    /// The earliest moment the next start may happen (never sooner than a second after
    /// the last one, whatever the policy).
    pub fn earliest_start(&self) -> Option<Instant> {
        let last = *self.starts.back()?;
        let mut t = deadline_after(last, MIN_RUN_INTERVAL);
        match self.policy {
            RestartPolicy::Daemontools => {}
            RestartPolicy::Burst {
                starts,
                window,
                rest,
            } => {
                if self.starts.len() >= starts
                    && let Some(first) = self.starts.front()
                    && last.saturating_duration_since(*first) < window
                {
                    t = t.max(deadline_after(last, rest));
                }
            }
            RestartPolicy::Exponential { .. } => {
                if let Some(e) = self.exited {
                    t = t.max(deadline_after(e, self.delay));
                }
            }
        }
        Some(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn policies_parse() {
        assert_eq!(parse_policy(""), Ok(RestartPolicy::Daemontools));
        assert_eq!(
            parse_policy("daemontools\n"),
            Ok(RestartPolicy::Daemontools)
        );
        assert_eq!(
            parse_policy("burst"),
            Ok(RestartPolicy::Burst {
                starts: 5,
                window: secs(10),
                rest: secs(60)
            })
        );
        assert_eq!(
            parse_policy("burst 3 1m 2h\n"),
            Ok(RestartPolicy::Burst {
                starts: 3,
                window: secs(60),
                rest: secs(7200)
            })
        );
        assert_eq!(
            parse_policy("exponential 500ms 5m"),
            Ok(RestartPolicy::Exponential {
                initial: Duration::from_millis(500),
                cap: secs(300)
            })
        );
        for bad in [
            "sometimes",
            "burst 0 1s 1s",
            "burst x 1s 1s",
            "burst 5 10s",
            "exponential 1s soon",
        ] {
            assert!(parse_policy(bad).is_err(), "{bad}");
        }
        // What supervise's warning and clinit's cltab error say, word for word.
        assert_eq!(
            parse_policy("burst 0 1s 1s").unwrap_err().to_string(),
            "invalid number of starts \"0\""
        );
        assert_eq!(
            parse_policy(" sometimes \n").unwrap_err().to_string(),
            "not a restart policy: \"sometimes\" (want daemontools, burst N WINDOW REST or exponential INITIAL CAP)"
        );
        assert!(
            parse_policy("exponential 1s soon")
                .unwrap_err()
                .to_string()
                .starts_with("invalid duration \"soon\"")
        );
        // A file's "for ever" is a hundred years, not an error nor an overflow.
        assert_eq!(
            parse_policy("burst 5 10s 110000000000000d"),
            Ok(RestartPolicy::Burst {
                starts: 5,
                window: secs(10),
                rest: crate::units::MAX_DURATION
            })
        );
    }

    #[test]
    fn daemontools_throttle() {
        let t = Instant::now();
        let mut b = Backoff::default();
        assert_eq!(b.earliest_start(), None);
        b.record_start(t);
        b.record_exit(t + secs(5));
        assert_eq!(b.earliest_start(), Some(t + secs(1)));
    }

    #[test]
    fn is_init_burst() {
        let t = Instant::now();
        let mut b = Backoff {
            policy: parse_policy("burst").unwrap(),
            ..Default::default()
        };
        for i in 0..4 {
            b.record_start(t + secs(i));
            assert_eq!(b.earliest_start(), Some(t + secs(i + 1)));
        }
        b.record_start(t + secs(4));
        // Five starts within 10 s: rest 60 s.
        assert_eq!(b.earliest_start(), Some(t + secs(64)));
        // Spread out over more than the window: no rest.
        let mut b = Backoff {
            policy: parse_policy("burst").unwrap(),
            ..Default::default()
        };
        for i in 0..6 {
            b.record_start(t + secs(3 * i));
        }
        assert_eq!(b.earliest_start(), Some(t + secs(16)));
        // Stopped on purpose: the starts before are no crash loop.
        let mut b = Backoff {
            policy: parse_policy("burst").unwrap(),
            ..Default::default()
        };
        for i in 0..5 {
            b.record_start(t + secs(i));
        }
        b.forget_crashes();
        assert_eq!(b.earliest_start(), Some(t + secs(5)));
    }

    #[test]
    fn exponential_doubles_to_the_cap_and_resets() {
        let t = Instant::now();
        let mut b = Backoff {
            policy: parse_policy("exponential 1s 8s").unwrap(),
            ..Default::default()
        };
        let mut now = t;
        let mut delays = Vec::new();
        for _ in 0..6 {
            b.record_start(now);
            b.record_exit(now);
            let next = b.earliest_start().unwrap();
            delays.push(next.duration_since(now).as_secs());
            now = next;
        }
        assert_eq!(delays, vec![1, 2, 4, 8, 8, 8]);
        // A run as long as the cap: restarted at once, and the next short run waits 1 s.
        b.record_start(now);
        b.record_exit(now + secs(9));
        assert_eq!(b.earliest_start(), Some(now + secs(9)));
        b.record_start(now + secs(9));
        b.record_exit(now + secs(9));
        assert_eq!(b.earliest_start(), Some(now + secs(10)));
    }
}
