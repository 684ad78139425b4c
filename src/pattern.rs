//! multilog's patterns: `*` before the end matches any string without the next pattern
//! character, `*` at the end matches anything, every other character itself.

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

#[cfg(test)]
mod tests {
    use super::matches;

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
