//! Times and ids, made in one place. Times on the wire are RFC 3339 with an
//! explicit zone (`Z` or an offset such as `+08:00`), written back in UTC;
//! ids are a prefix and random-looking hex digits.

use std::time::SystemTime;

use sha2::{Digest, Sha256};

/// Parses an RFC 3339 time; the zone is required, so a branch in Beijing can
/// write `2026-12-01T00:00:00+08:00`.
pub fn parse(text: &str) -> Result<SystemTime, String> {
    chrono::DateTime::parse_from_rfc3339(text.trim())
        .map(|t| SystemTime::from(t.with_timezone(&chrono::Utc)))
        .map_err(|e| {
            format!(
                "expected an RFC 3339 time with its zone, such as 2026-12-01T00:00:00+08:00 or 2026-11-30T16:00:00Z, found `{text}` ({e})"
            )
        })
}

/// A time bound given on the command line (`--since`, `--until`, a
/// period): a date (`2026-11-01`, midnight UTC) or an RFC 3339 time with its
/// zone (`2026-11-01T00:00:00+08:00`), written as stored decision times are
/// (UTC, to the microsecond) so that the two compare as text. The error
/// names `field`.
pub fn bound(field: &str, text: &str) -> Result<String, String> {
    date_or_time(text)
        .map(format_micros)
        .map_err(|e| format!("{field}: {e}"))
}

/// A date (`2026-11-01`, midnight UTC) or an RFC 3339 time with its zone;
/// the error says what was expected.
pub fn date_or_time(text: &str) -> Result<SystemTime, String> {
    let text = text.trim();
    match chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        Ok(d) => d
            .and_hms_opt(0, 0, 0)
            .map(|t| SystemTime::from(t.and_utc()))
            .ok_or_else(|| format!("`{text}` is not a date")),
        Err(_) => parse(text).map_err(|e| {
            format!(
                "expected a date (2026-11-01, midnight UTC) or {}",
                e.trim_start_matches("expected ")
            )
        }),
    }
}

/// `2026-11-30T16:00:00Z`: UTC, whole seconds, so strings sort in time order.
pub fn format(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// Now, to the second (`2026-11-30T16:00:00Z`): registry times.
pub fn now_seconds() -> String {
    format(SystemTime::now())
}

/// `t` to the microsecond (`2026-11-30T16:00:00.123456Z`).
pub fn format_micros(t: SystemTime) -> String {
    humantime::format_rfc3339_micros(t).to_string()
}

/// Now, to the microsecond (`2026-11-30T16:00:00.123456Z`): when a decision
/// or a batch run was recorded.
pub fn now_micros() -> String {
    humantime::format_rfc3339_micros(SystemTime::now()).to_string()
}

/// A new id: `prefix_` and `hex_digits` hex digits of a digest of the
/// clock, the process, a counter and `seed`, so two ids made at once, by
/// one process or two, differ.
pub fn new_id(prefix: &str, hex_digits: usize, seed: &[&str]) -> String {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut h = Sha256::new();
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    h.update(nanos.to_le_bytes());
    h.update(std::process::id().to_le_bytes());
    h.update(
        COUNTER
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            .to_le_bytes(),
    );
    for s in seed {
        h.update(s.as_bytes());
        h.update([0]);
    }
    let digits = hex::encode(h.finalize());
    format!("{prefix}_{}", &digits[..hex_digits.min(digits.len())])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_honoured_and_a_zone_is_required() {
        assert_eq!(
            format(parse("2026-12-01T00:00:00+08:00").unwrap()),
            "2026-11-30T16:00:00Z"
        );
        assert_eq!(
            format(parse("2026-11-30T16:00:00Z").unwrap()),
            "2026-11-30T16:00:00Z"
        );
        assert!(
            parse("2026-12-01T00:00:00")
                .unwrap_err()
                .contains("with its zone")
        );
        assert!(parse("2026-12-01T00:00:00Z+0800").is_err());
    }

    #[test]
    fn ids_made_at_once_differ() {
        let a = new_id("act", 16, &["x"]);
        let b = new_id("act", 16, &["x"]);
        assert_ne!(a, b);
        assert!(a.starts_with("act_") && a.len() == 4 + 16, "{a}");
    }
}

#[cfg(test)]
mod bound_tests {
    use super::bound;

    #[test]
    fn a_bound_compares_as_text_with_stored_times() {
        assert_eq!(
            bound("--since", "2026-11-01").unwrap(),
            "2026-11-01T00:00:00.000000Z"
        );
        assert_eq!(
            bound("--since", "2026-11-01T08:00:00+08:00").unwrap(),
            "2026-11-01T00:00:00.000000Z"
        );
        // A decision half a second after the bound sorts after it.
        assert!("2026-11-01T00:00:00.500000Z" > bound("--since", "2026-11-01").unwrap().as_str());
        let e = bound("--until", "last week").unwrap_err();
        assert!(e.starts_with("--until: expected a date"), "{e}");
    }
}
