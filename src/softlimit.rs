//! softlimit's options: resource limits by letter, with sizes in bytes (k/m/g allowed),
//! `=` for "as high as the hard limit", and soft limits capped at the hard ones.

use crate::units::{ParseUnitError, parse_duration, parse_size};
use nix::errno::Errno;
use nix::sys::resource::{Resource, getrlimit, setrlimit};

/// The value asked for one resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    Value(u64),
    /// `=`: the hard limit.
    Hard,
}

/// The option letters softlimit takes, for its usage message.
pub const LETTERS: &str = "acdflmoprst";

/// The resources one option letter sets; `-m` is `-d -s -l -a` together.
pub fn resources(letter: char) -> Option<&'static [Resource]> {
    use Resource::*;
    Some(match letter {
        'a' => &[RLIMIT_AS],
        'c' => &[RLIMIT_CORE],
        'd' => &[RLIMIT_DATA],
        'f' => &[RLIMIT_FSIZE],
        'l' => &[RLIMIT_MEMLOCK],
        'm' => &[RLIMIT_DATA, RLIMIT_STACK, RLIMIT_MEMLOCK, RLIMIT_AS],
        'o' => &[RLIMIT_NOFILE],
        'p' => &[RLIMIT_NPROC],
        'r' => &[RLIMIT_RSS],
        's' => &[RLIMIT_STACK],
        't' => &[RLIMIT_CPU],
        _ => return None,
    })
}

/// Parses an option's value: `=`, bytes with an optional k/m/g suffix, a count for
/// -o and -p, whole seconds (or a duration such as `5m`) for -t.
pub fn parse_limit(letter: char, value: &str) -> Result<Limit, ParseUnitError> {
    if value == "=" {
        return Ok(Limit::Hard);
    }
    match letter {
        // A CPU limit counts whole seconds: a fraction rounds up, never down to 0.
        't' => parse_duration(value)
            .map(|d| Limit::Value(d.as_secs() + u64::from(d.subsec_nanos() > 0))),
        'o' | 'p' if value.bytes().all(|b| b.is_ascii_digit()) => {
            value.parse().map(Limit::Value).map_err(|_| ParseUnitError {
                input: value.to_string(),
                what: "number",
            })
        }
        'o' | 'p' => Err(ParseUnitError {
            input: value.to_string(),
            what: "number",
        }),
        _ => parse_size(value).map(Limit::Value),
    }
}

/// Sets the soft limit of `res`, never above the hard limit.
pub fn apply(res: Resource, limit: Limit) -> Result<(), Errno> {
    let (_, hard) = getrlimit(res)?;
    let soft = match limit {
        Limit::Hard => hard,
        Limit::Value(v) => v.min(hard),
    };
    setrlimit(res, soft, hard)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values() {
        assert_eq!(parse_limit('m', "="), Ok(Limit::Hard));
        assert_eq!(parse_limit('m', "3000000"), Ok(Limit::Value(3_000_000)));
        assert_eq!(parse_limit('d', "64m"), Ok(Limit::Value(64 << 20)));
        assert_eq!(parse_limit('o', "100"), Ok(Limit::Value(100)));
        assert_eq!(parse_limit('t', "90"), Ok(Limit::Value(90)));
        assert_eq!(parse_limit('t', "5m"), Ok(Limit::Value(300)));
        assert!(parse_limit('o', "10k").is_err());
        assert!(parse_limit('o', "+5").is_err());
        assert_eq!(parse_limit('t', "500ms"), Ok(Limit::Value(1)));
        assert!(parse_limit('m', "abc").is_err());
        assert!(parse_limit('m', "").is_err());
        assert_eq!(resources('m').unwrap().len(), 4);
        assert!(resources('z').is_none());
        assert!(LETTERS.chars().all(|c| resources(c).is_some()));
    }
}
