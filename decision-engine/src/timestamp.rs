//! Times on the wire: RFC 3339 with an explicit zone (`Z` or an offset such
//! as `+08:00`), written back in UTC.

use std::time::SystemTime;

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

/// `2026-11-30T16:00:00Z`: UTC, whole seconds, so strings sort in time order.
pub fn format(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
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
}
