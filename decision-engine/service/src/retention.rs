//! Retention (保存期限): the inputs of online decisions older than the
//! retention period are removed, except those under legal hold (set by an
//! auditor, see [`crate::Registry::set_legal_hold`]). What was decided stays
//! provable: the outcome, the versions (by content hash) and the digest of
//! the request (the sha256 the idempotency check made of it) are kept, and
//! the prune is in the audit log.

use std::time::SystemTime;

use decision_store::{AuditEntry, Pruned, Store};

use crate::{ServiceError, clock};

/// The cut: a date (`2025-06-01`: before that day, UTC) or an RFC 3339
/// time, written as stored times are (microseconds, UTC), so text order is
/// time order.
pub fn cut(before: &str) -> Result<String, ServiceError> {
    let text = before.trim();
    let at = clock::date_or_time(text).map_err(|e| ServiceError::field("before", e))?;
    if at > SystemTime::now() {
        return Err(ServiceError::field(
            "before",
            format!("is `{text}`, in the future: expected a time the retention period has passed"),
        ));
    }
    Ok(clock::format_micros(at))
}

/// Prunes the online decisions recorded before `before`, as `person`
/// (who runs it, for the audit log).
pub async fn prune<S: Store>(
    store: &S,
    before: &str,
    person: &str,
) -> Result<Pruned, ServiceError> {
    if person.trim().is_empty() {
        return Err(ServiceError::field(
            "by",
            "must not be empty: the person running the prune, for the audit log",
        ));
    }
    let cut = cut(before)?;
    let at = clock::now_seconds();
    let entry = AuditEntry {
        at: at.clone(),
        person: person.trim().to_string(),
        role: "operator".into(),
        action: "PruneDecisions".into(),
        kind: "decision".into(),
        id: "*".into(),
        version: String::new(),
        hash: String::new(),
        accepted: true,
        // Filled in by the store with what it did.
        detail: String::new(),
        // Every institution's decisions.
        institution: "*".into(),
    };
    store
        .prune(&cut, &at, entry)
        .await
        .map_err(|e| ServiceError::Unavailable(format!("{e}; nothing was pruned")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_is_a_day_or_a_time_and_never_in_the_future() {
        assert_eq!(cut("2025-06-01").unwrap(), "2025-06-01T00:00:00.000000Z");
        assert_eq!(
            cut("2025-06-01T08:00:00+08:00").unwrap(),
            "2025-06-01T00:00:00.000000Z"
        );
        let ServiceError::Invalid { fields, .. } = cut("June 2025").unwrap_err() else {
            panic!()
        };
        assert_eq!(fields[0].field, "before");
        assert!(
            fields[0]
                .message
                .starts_with("expected a date (2026-11-01, midnight UTC) or an RFC 3339 time"),
            "{}",
            fields[0].message
        );
        let ServiceError::Invalid { fields, .. } = cut("2999-01-01").unwrap_err() else {
            panic!()
        };
        assert_eq!(
            fields[0].message,
            "is `2999-01-01`, in the future: expected a time the retention period has passed"
        );
    }
}
