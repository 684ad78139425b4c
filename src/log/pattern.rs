//! multilog's patterns: daemontools' (`*` before the end matches any string without the
//! next pattern character, `*` at the end matches anything, every other character
//! itself), and after `F` shell globs as fnmatch(3) reads them (`*`, `?`, `[a-z]`,
//! `[!x]`, `\` quoting), over bytes (a line may hold NULs, which fnmatch cannot take).

/// Whether `line` matches `pattern`, with daemontools' semantics (no backtracking).
pub fn matches(pattern: &[u8], line: &[u8]) -> bool {
    let (mut p, mut s) = (pattern, line);
    loop {
        let Some((&ch, rest)) = p.split_first() else {
            return s.is_empty();
        };
        p = rest;
        if ch == b'*' {
            let Some(&next) = p.first() else {
                return true;
            };
            match memchr::memchr(next, s) {
                Some(i) => s = &s[i..],
                None => return false,
            }
            continue;
        }
        match s.split_first() {
            Some((&c, rest)) if c == ch => s = rest,
            _ => return false,
        }
    }
}

/// Whether all of `line` matches the shell glob `pattern` (fnmatch(3) without flags).
pub fn glob_matches(pattern: &[u8], line: &[u8]) -> bool {
    // Iterative with one backtrack point: the last `*` seen (linear in practice).
    let (mut p, mut s) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while s < line.len() {
        match glob_step(pattern, p, line[s]) {
            Step::Star => {
                star = Some((p + 1, s));
                p += 1;
                continue;
            }
            Step::Matched(next) => {
                p = next;
                s += 1;
                continue;
            }
            Step::Failed => {}
        }
        match star {
            Some((after, from)) => {
                p = after;
                s = from + 1;
                star = Some((after, from + 1));
            }
            None => return false,
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

enum Step {
    Star,
    /// The byte matched; the pattern goes on at this index.
    Matched(usize),
    Failed,
}

fn glob_step(pattern: &[u8], p: usize, c: u8) -> Step {
    match pattern.get(p) {
        None => Step::Failed,
        Some(b'*') => Step::Star,
        Some(b'?') => Step::Matched(p + 1),
        Some(b'[') => match bracket(pattern, p + 1, c) {
            Some((true, next)) => Step::Matched(next),
            Some((false, _)) => Step::Failed,
            // No closing `]`: a plain `[`.
            None if c == b'[' => Step::Matched(p + 1),
            None => Step::Failed,
        },
        Some(b'\\') if p + 1 < pattern.len() => {
            if pattern[p + 1] == c {
                Step::Matched(p + 2)
            } else {
                Step::Failed
            }
        }
        Some(&ch) if ch == c => Step::Matched(p + 1),
        Some(_) => Step::Failed,
    }
}

/// A bracket expression starting after its `[` at `i`: whether `c` is in it, and the
/// index after its `]`; None if it never closes.
fn bracket(pattern: &[u8], mut i: usize, c: u8) -> Option<(bool, usize)> {
    let negated = matches!(pattern.get(i), Some(b'!' | b'^'));
    if negated {
        i += 1;
    }
    let mut hit = false;
    let mut first = true;
    loop {
        let &lo = pattern.get(i)?;
        if lo == b']' && !first {
            return Some((hit != negated, i + 1));
        }
        first = false;
        if pattern.get(i + 1) == Some(&b'-') && pattern.get(i + 2).is_some_and(|&h| h != b']') {
            let hi = pattern[i + 2];
            hit |= lo <= c && c <= hi;
            i += 3;
        } else {
            hit |= lo == c;
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{glob_matches, matches};

    #[test]
    fn globs_as_fnmatch_reads_them() {
        let g = |p: &str, s: &str| glob_matches(p.as_bytes(), s.as_bytes());
        assert!(g("*", ""));
        assert!(g("*error*", "an error here"));
        assert!(!g("*error*", "an err here"));
        assert!(g("a?c", "abc"));
        assert!(!g("a?c", "ac"));
        assert!(g("[a-c]x", "bx"));
        assert!(!g("[!a-c]x", "bx"));
        assert!(g("[]]", "]"));
        assert!(g("\\*", "*"));
        assert!(!g("\\*", "x"));
        // Backtracking that daemontools' patterns do not do.
        assert!(g("*ab", "aab"));
        assert!(!matches(b"*ab", b"aab"));
        assert!(g("*a*b*c", "xaxbxc"));
        assert!(g("[", "["));
        assert!(glob_matches(b"a*", b"a\0\xff"));
    }

    #[test]
    fn daemontools_semantics() {
        let m = |p: &str, s: &str| matches(p.as_bytes(), s.as_bytes());
        assert!(m("*", ""));
        assert!(m("*", "anything"));
        assert!(m("", ""));
        assert!(!m("", "x"));
        assert!(m("abc", "abc"));
        assert!(!m("abc", "abcd"));
        assert!(m("a*", "abcd"));
        assert!(m("*o*", "hello world"));
        assert!(!m("*o*", "xxxx"));
        // A star stops at the first occurrence of the next character: no backtracking.
        assert!(m("* b", "a b"));
        assert!(!m("*b", "abab"));
        assert!(m("*b*", "abab"));
        assert!(m("@* fatal: *", "@4000 fatal: disk"));
        assert!(!m("@* fatal: *", "@4000 warning: fatal: x"));
    }

    #[test]
    fn bytes_not_text() {
        // Latin-1 and broken UTF-8 are bytes like any other.
        assert!(matches(b"+*\xe4*"[1..].as_ref(), b"mit \xe4 umlaut"));
        assert!(!matches(b"*\xe4*", b"utf8 \xc3\xa4"));
        assert!(matches(b"\xff*", b"\xff\xfe"));
    }
}
