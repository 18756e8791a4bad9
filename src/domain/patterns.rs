//! The formats of values callers send, written once as regular expressions: the server checks a
//! value against the same expression the API document publishes as its `pattern`, so that what
//! the document allows and what the server accepts cannot drift apart.
//!
//! The expressions keep to what JSON Schema validators (ECMA 262, Python's `re`) and Rust's
//! `regex` read alike. Whitespace is spelled out as Rust's `char::is_whitespace` set, not `\s`,
//! which differs between engines. A document pattern ends in `$`, which Python also matches before
//! one final newline; the server accepts that newline too (and drops it).

use std::sync::LazyLock;

use regex::Regex;

/// A host name whose last label starts with a letter (so that no URL parser reads it as an
/// address), or a dotted IPv4 address.
macro_rules! host {
    () => {
        concat!(
            "(([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.)*[A-Za-z]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?",
            "|((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9]))"
        )
    };
}

/// An optional port, 0 to 65535.
macro_rules! port {
    () => {
        "(:([0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?"
    };
}

/// Rust's whitespace (`char::is_whitespace`), as a character-class body.
macro_rules! ws {
    () => {
        r"\t\n\u000b\u000c\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
    };
}

/// Holds a character that is not whitespace: not blank after trimming.
pub const NOT_BLANK: &str = concat!("[^", ws!(), "]");

/// An email address as the gateway reads one: no whitespace, one `@`, a domain of dot-separated
/// non-empty labels with at least one dot.
pub const EMAIL: &str = concat!(
    "^[^@",
    ws!(),
    "]+@[^@.",
    ws!(),
    "]+(\\.[^@.",
    ws!(),
    "]+)+$"
);

/// An absolute http(s) URL: a host name whose last label starts with a letter, or a dotted IPv4
/// address; an optional port; then optionally a path, query or fragment of visible ASCII.
pub const HTTP_URL: &str = concat!("^https?://", host!(), port!(), "([/?#][\\x21-\\x7e]*)?$");

/// An origin: scheme, host and optional port, with at most a final `/`.
pub const ORIGIN: &str = concat!("^https?://", host!(), port!(), "/?$");

/// Digits only: a vendor's numeric id written as a string.
pub const DIGITS: &str = "^[0-9]{1,18}$";

/// A duration from 0 to 7 days, in one unit: `0s`, `90s`, `30m`, `24h`, `7d`.
pub const OVERLAP: &str =
    "^((0|[1-9][0-9]{0,4})s|(0|[1-9][0-9]{0,3})m|(0|[1-9][0-9]?|1[0-5][0-9]|16[0-8])h|[0-7]d)$";

/// A duration from 1 second to 365 days, in one unit: `14d`, `72h`, `90m`, `3600s`.
pub const VALIDITY: &str =
    "^([1-9][0-9]{0,6}s|[1-9][0-9]{0,4}m|[1-9][0-9]{0,2}h|([1-9]|[1-9][0-9]|[12][0-9]{2}|3[0-5][0-9]|36[0-5])d)$";

/// A duration from 0 to 1 day, in one unit: `0s`, `2s`, `500ms`, `10m`, `24h`, `1d`.
pub const UP_TO_A_DAY: &str =
    "^((0|[1-9][0-9]{0,3})ms|(0|[1-9][0-9]{0,3})s|(0|[1-9][0-9]{0,2})m|([0-9]|1[0-9]|2[0-4])h|[01]d)$";

/// An HTTP header name (RFC 9110's token).
pub const HEADER_NAME: &str = "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$";

/// `pattern` for the server: its final `$` made the true end of the value.
fn compiled(pattern: &str) -> Regex {
    let anchored = match pattern.strip_suffix('$') {
        Some(start) => format!(r"{start}\z"),
        None => pattern.to_string(),
    };
    // The patterns are constants of this file, checked by its tests.
    Regex::new(&anchored).unwrap_or_else(|e| panic!("{pattern}: {e}"))
}

static EMAIL_RE: LazyLock<Regex> = LazyLock::new(|| compiled(EMAIL));
static HTTP_URL_RE: LazyLock<Regex> = LazyLock::new(|| compiled(HTTP_URL));
static OVERLAP_RE: LazyLock<Regex> = LazyLock::new(|| compiled(OVERLAP));
static VALIDITY_RE: LazyLock<Regex> = LazyLock::new(|| compiled(VALIDITY));
static UP_TO_A_DAY_RE: LazyLock<Regex> = LazyLock::new(|| compiled(UP_TO_A_DAY));
static ORIGIN_RE: LazyLock<Regex> = LazyLock::new(|| compiled(ORIGIN));
static DIGITS_RE: LazyLock<Regex> = LazyLock::new(|| compiled(DIGITS));
static HEADER_NAME_RE: LazyLock<Regex> = LazyLock::new(|| compiled(HEADER_NAME));

/// `value` without the one final newline a JSON Schema `$` lets through.
fn body(value: &str) -> &str {
    value.strip_suffix('\n').unwrap_or(value)
}

/// `value` as kept when it matches `pattern` (its final newline dropped).
fn matching<'a>(re: &Regex, value: &'a str) -> Option<&'a str> {
    let value = body(value);
    re.is_match(value).then_some(value)
}

pub fn email(value: &str) -> Option<&str> {
    matching(&EMAIL_RE, value)
}

pub fn http_url(value: &str) -> Option<&str> {
    matching(&HTTP_URL_RE, value)
}

pub fn overlap(value: &str) -> Option<&str> {
    matching(&OVERLAP_RE, value)
}

pub fn validity(value: &str) -> Option<&str> {
    matching(&VALIDITY_RE, value)
}

pub fn up_to_a_day(value: &str) -> Option<&str> {
    matching(&UP_TO_A_DAY_RE, value)
}

pub fn origin(value: &str) -> Option<&str> {
    matching(&ORIGIN_RE, value)
}

pub fn digits(value: &str) -> Option<&str> {
    matching(&DIGITS_RE, value)
}

pub fn header_name(value: &str) -> Option<&str> {
    matching(&HEADER_NAME_RE, value)
}

/// Whether `value` is blank: empty or whitespace only (`NOT_BLANK` does not match).
pub fn is_blank(value: &str) -> bool {
    value.trim().is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pattern_compiles_and_matches_whole_values() {
        assert_eq!(email("ada@example.com"), Some("ada@example.com"));
        assert_eq!(email("ada@example.com\n"), Some("ada@example.com"));
        assert!(email("a+b@x.io").is_some());
        assert!(email("ada@localhost").is_none());
        for bad in [
            "ada",
            "ada@example",
            "a b@x.io",
            "@x.io",
            "a@.io",
            "a@x.",
            "a@x..io",
            "a@b@c.io",
            "a@x.io\n\n",
        ] {
            assert_eq!(email(bad), None, "{bad:?}");
        }
        assert!(http_url("https://ats.example.com/results?x=1#y").is_some());
        assert!(http_url("http://127.0.0.1:8080/results").is_some());
        for bad in [
            "ftp://x.io",
            "https://",
            "https://999.1.1.1/",
            "https://x.io:99999/",
            "https://a b/",
            "http://x.123/",
            "https://u@x.io/",
        ] {
            assert!(http_url(bad).is_none(), "{bad:?}");
        }
        for good in ["0s", "24h", "168h", "7d", "9999m"] {
            assert!(overlap(good).is_some(), "{good}");
        }
        for bad in ["8d", "169h", "soon", "1h30m", "", "05s"] {
            assert!(overlap(bad).is_none(), "{bad:?}");
        }
        assert!(
            validity("365d").is_some() && validity("366d").is_none() && validity("0s").is_none()
        );
        assert!(
            up_to_a_day("24h").is_some()
                && up_to_a_day("25h").is_none()
                && up_to_a_day("2d").is_none()
        );
        assert!(header_name("X-Api-Key").is_some() && header_name("X Api").is_none());
    }

    #[test]
    fn durations_the_patterns_allow_parse_within_their_bounds() {
        use crate::config::parse_duration;
        use std::time::Duration;
        let day = 24 * 3600;
        for (value, max) in [
            ("99999s", 7 * day),
            ("9999m", 7 * day),
            ("168h", 7 * day),
            ("7d", 7 * day),
            ("9999999s", 365 * day),
            ("99999m", 365 * day),
            ("999h", 365 * day),
            ("365d", 365 * day),
            ("9999ms", day),
            ("9999s", day),
            ("999m", day),
            ("24h", day),
            ("1d", day),
        ] {
            let parsed = parse_duration(value).unwrap();
            assert!(parsed <= Duration::from_secs(max), "{value}");
        }
    }

    #[test]
    fn blank_is_rust_whitespace_only() {
        assert!(is_blank(" \t\u{3000}"));
        assert!(!is_blank("\u{1c}"));
        let not_blank = Regex::new(NOT_BLANK).unwrap();
        assert!(!not_blank.is_match(" \t\u{3000}\u{2028}"));
        assert!(not_blank.is_match("\u{1c}"));
    }
}
