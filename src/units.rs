//! Durations and sizes as operators write them (the Blat conventions): `5`, `250ms`,
//! `1h10m`, `2d`; `4096`, `64k`, `16m`, `1g`.

use std::time::Duration;

/// Why a duration or size did not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseUnitError {
    pub input: String,
    pub what: &'static str,
}

impl std::fmt::Display for ParseUnitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.what == "duration too long" {
            return write!(f, "duration {:?} too long ({})", self.input, self.hint());
        }
        write!(
            f,
            "invalid {} {:?} ({})",
            self.what,
            self.input,
            self.hint()
        )
    }
}

impl ParseUnitError {
    fn hint(&self) -> &'static str {
        match self.what {
            "duration too long" => "at most 36500d",
            "duration" => {
                "want numbers each with an optional suffix ms, s, m, h or d, like 90s or 1h10m"
            }
            "size" => "want a number with an optional suffix k, m or g",
            _ => "want a whole number",
        }
    }
}

impl std::error::Error for ParseUnitError {}

/// The longest duration svkit takes anywhere: a hundred years. Longer is never meant, and
/// `Instant + Duration` panics past what the clock can hold (about 2^63 s on Linux), so
/// every deadline stays far inside it.
pub const MAX_DURATION: Duration = Duration::from_secs(36_500 * 86_400);

/// `now + d`, never past what an `Instant` holds (a `d` read from a file is not checked
/// against `MAX_DURATION` by its parser's caller).
pub fn deadline_after(now: std::time::Instant, d: Duration) -> std::time::Instant {
    now.checked_add(d.min(MAX_DURATION))
        .unwrap_or(now + Duration::from_secs(1))
}

/// Parses a duration as `parse_duration` does, but one past `MAX_DURATION` becomes
/// `MAX_DURATION`: for settings files, where the operator meant "for ever".
pub fn parse_duration_saturating(s: &str) -> Result<Duration, ParseUnitError> {
    match parse_duration(s) {
        Err(e) if e.what == "duration too long" => Ok(MAX_DURATION),
        other => other,
    }
}

/// Parses a non-negative duration: one or more numbers, each with an optional unit
/// (ms, s, m, h, d; none means seconds), added up: `1h10m`, `1.5s`, `250ms`. More than
/// `MAX_DURATION` is an error (`what` = "duration too long").
pub fn parse_duration(s: &str) -> Result<Duration, ParseUnitError> {
    let err = || ParseUnitError {
        input: s.to_string(),
        what: "duration",
    };
    let mut rest = s;
    let mut total = 0f64;
    if rest.is_empty() {
        return Err(err());
    }
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, after) = rest.split_at(n);
        if num.is_empty() || num.starts_with('.') || num.ends_with('.') {
            return Err(err());
        }
        let value: f64 = num.parse().map_err(|_| err())?;
        let u = after
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(u);
        let scale = match unit {
            "" | "s" => 1.0,
            "ms" => 0.001,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86400.0,
            _ => return Err(err()),
        };
        total += value * scale;
        rest = next;
    }
    if !total.is_finite() || total > MAX_DURATION.as_secs_f64() {
        return Err(ParseUnitError {
            input: s.to_string(),
            what: "duration too long",
        });
    }
    Duration::try_from_secs_f64(total).map_err(|_| err())
}

/// Writes a duration the way `parse_duration` reads it, to the millisecond: `30s`,
/// `1m30s`, `250ms`, `2d3h`, `0s`.
pub fn format_duration(d: Duration) -> String {
    let mut ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
        ("ms", 1),
    ] {
        if ms >= size {
            out.push_str(&format!("{}{unit}", ms / size));
            ms %= size;
        }
    }
    out
}

/// Parses a size in bytes: a whole number with an optional suffix k, m or g (powers of
/// 1024, upper or lower case).
pub fn parse_size(s: &str) -> Result<u64, ParseUnitError> {
    let err = || ParseUnitError {
        input: s.to_string(),
        what: "size",
    };
    let n = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(n);
    let value: u64 = num.parse().map_err(|_| err())?;
    let scale: u64 = match unit {
        "" => 1,
        "k" | "K" => 1 << 10,
        "m" | "M" => 1 << 20,
        "g" | "G" => 1 << 30,
        _ => return Err(err()),
    };
    value.checked_mul(scale).ok_or_else(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86400)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("1h10m"), Ok(Duration::from_secs(4200)));
        assert_eq!(
            parse_duration("1m30s500ms"),
            Ok(Duration::from_millis(90_500))
        );
    }

    #[test]
    fn formats_durations_as_parsed() {
        for (d, s) in [
            (Duration::from_secs(30), "30s"),
            (Duration::from_millis(90_500), "1m30s500ms"),
            (Duration::from_millis(250), "250ms"),
            (Duration::from_secs(97_200 + 3600), "1d4h"),
            (Duration::ZERO, "0s"),
        ] {
            assert_eq!(format_duration(d), s);
            assert_eq!(parse_duration(s), Ok(d));
        }
    }

    #[test]
    fn bad_durations() {
        for bad in [
            "",
            "s",
            "-1",
            "1x",
            "1.",
            ".5",
            "1..2",
            "1e9",
            "5 s",
            "1h m",
            "h1",
            "999999999999999999999d",
            "110000000000000d",
            "36501d",
            "9223372036854775808",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_duration("soon").unwrap_err().to_string(),
            "invalid duration \"soon\" (want numbers each with an optional suffix ms, s, m, h or d, like 90s or 1h10m)"
        );
    }

    #[test]
    fn too_long_durations_are_refused_or_saturated() {
        assert_eq!(parse_duration("36500d"), Ok(MAX_DURATION));
        assert_eq!(
            parse_duration("110000000000000d").unwrap_err().to_string(),
            "duration \"110000000000000d\" too long (at most 36500d)"
        );
        assert_eq!(
            parse_duration_saturating("110000000000000d"),
            Ok(MAX_DURATION)
        );
        assert!(parse_duration_saturating("soon").is_err());
        let now = std::time::Instant::now();
        assert!(deadline_after(now, Duration::MAX) > now);
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64k"), Ok(65536));
        assert_eq!(parse_size("16m"), Ok(16 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        for bad in [
            "",
            "k",
            "-1",
            "1.5m",
            "10kb",
            "1t",
            "99999999999999999999",
            "18014398509481984k",
        ] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }
}
