//! What a handler reads out of gRPC metadata: the bearer token (judged by
//! `decision_service::auth`) and the client's deadline (`grpc-timeout`).

use std::time::{Duration, Instant};

use decision_service::Bearer;
use tonic::metadata::MetadataMap;

/// The `authorization` value of a call, as the service judges it.
pub fn bearer(metadata: &MetadataMap) -> Bearer<'_> {
    match metadata.get("authorization") {
        None => Bearer::Missing,
        Some(v) => match v.to_str() {
            Ok(text) => Bearer::parse(Some(text)),
            Err(_) => Bearer::Malformed,
        },
    }
}

/// The deadline a client set with `grpc-timeout` (e.g. `100m`, `5S`).
pub fn deadline(metadata: &MetadataMap, now: Instant) -> Option<Instant> {
    let value = metadata.get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    // The gRPC spec allows at most 8 digits; anything else is no deadline.
    if digits.is_empty() || digits.len() > 8 {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    let duration = match unit {
        "H" => Duration::from_secs(n.saturating_mul(3600)),
        "M" => Duration::from_secs(n.saturating_mul(60)),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    };
    // tonic's transport cancels the call (CANCELLED) when this deadline
    // passes; answering a millisecond earlier lets the client see
    // DEADLINE_EXCEEDED, as the gRPC spec asks.
    now.checked_add(duration.saturating_sub(Duration::from_millis(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts_parse() {
        let now = Instant::now();
        let mut m = MetadataMap::new();
        m.insert("grpc-timeout", "250m".parse().unwrap());
        assert_eq!(deadline(&m, now), Some(now + Duration::from_millis(249)));
        m.insert("grpc-timeout", "3S".parse().unwrap());
        assert_eq!(deadline(&m, now), Some(now + Duration::from_millis(2999)));
        m.insert("grpc-timeout", "bogus".parse().unwrap());
        assert_eq!(deadline(&m, now), None);
        m.insert("grpc-timeout", "18446744073709551615S".parse().unwrap());
        assert_eq!(
            deadline(&m, now),
            None,
            "more than 8 digits is not a deadline"
        );
        m.insert("grpc-timeout", "99999999H".parse().unwrap());
        assert!(
            deadline(&m, now).is_some(),
            "the largest legal value does not overflow"
        );
    }
}
