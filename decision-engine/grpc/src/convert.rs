//! Proto messages to and from the engine's JSON-shaped request and decision.
//! Features travel under their canonical names in both; a feature absent
//! from the message is absent from the request (never zero).

use serde_json::{Map, Value};

use crate::pb;
use decision_core::Decision;
use decision_core::{FieldError, InputError};

/// Every canonical feature by proto group: the one list the conversions
/// below are generated from. Calls `$callback!` with the groups appended to
/// its arguments.
macro_rules! with_feature_groups {
    ($callback:ident ! ($($args:tt)*)) => {
        $callback!($($args)*
            bureau: Bureau {
                bureau_has_record, bureau_current_overdue_count, bureau_max_dpd_24m, bureau_worst_class,
                bureau_inquiries_3m, bureau_inquiries_6m, bureau_total_debt, bureau_lender_count,
                bureau_guarantee_debt, court_enforcement_flag
            },
            subsidy: Subsidy { subsidy_annual_amount, subsidy_years, subsidy_land_area_mu },
            repayment: Repayment {
                repay_loan_count, repay_on_time_ratio, repay_max_dpd, repay_current_overdue, repay_years_as_customer
            },
            household: Household {
                age, household_size, labor_count, land_area_mu, annual_net_income, main_crop, has_livestock,
                coop_member, non_agri_income, village_code
            },
            review: Review { review_rating, review_veto, review_indicative_limit },
            application: Application {
                requested_amount, requested_term_months, loan_purpose, guarantee_type
            }
        )
    };
}

macro_rules! canonical_names {
    ($($group:ident : $msg:ident { $($field:ident),+ }),+) => {
        &[$($(stringify!($field)),+),+]
    };
}

/// The canonical feature names (DESIGN.md section 3) carried in typed
/// groups; the guarantors' are in [`GUARANTOR_FEATURES`].
pub const CANONICAL: &[&str] = with_feature_groups!(canonical_names!());

/// Most guarantors an application carries.
pub const MAX_GUARANTORS: usize = 2;

/// A guarantor's features, as `guarantor<N>_<name>` in the feature schema.
pub const GUARANTOR_FEATURES: &[&str] = &[
    "bureau_has_record",
    "current_overdue_count",
    "max_dpd_24m",
    "court_enforcement_flag",
];

/// Whether `name` is a guarantor feature (`guarantor1_max_dpd_24m`).
fn is_guarantor_feature(name: &str) -> bool {
    (1..=MAX_GUARANTORS).any(|n| {
        name.strip_prefix(&format!("guarantor{n}_"))
            .is_some_and(|rest| GUARANTOR_FEATURES.contains(&rest))
    })
}

macro_rules! groups_into_map {
    ($map:ident, $features:ident; $($group:ident : $msg:ident { $($field:ident),+ }),+) => {
        $(if let Some(g) = &$features.$group {
            $(if let Some(v) = &g.$field {
                $map.insert(stringify!($field).to_string(), Value::from(v.clone()));
            })+
        })+
    };
}

/// The features of a proto request as the engine's feature map.
pub fn features_from_proto(
    features: Option<&pb::Features>,
) -> Result<Map<String, Value>, InputError> {
    let (map, errors) = features_and_errors_from_proto(features);
    if errors.is_empty() {
        Ok(map)
    } else {
        Err(InputError { errors })
    }
}

/// The features that convert, and a problem for each `extra` entry that
/// does not (so they can be reported with the schema's own findings).
pub fn features_and_errors_from_proto(
    features: Option<&pb::Features>,
) -> (Map<String, Value>, Vec<FieldError>) {
    let mut map = Map::new();
    let Some(f) = features else {
        return (map, Vec::new());
    };
    with_feature_groups!(groups_into_map!(map, f;));
    let mut errors = Vec::new();
    if let Some(app) = &f.application {
        for (i, g) in app.guarantors.iter().enumerate() {
            if i >= MAX_GUARANTORS {
                errors.push(FieldError {
                    field: format!("features.application.guarantors[{i}]"),
                    message: format!("expected at most {MAX_GUARANTORS} guarantors"),
                });
                continue;
            }
            let n = i + 1;
            let mut put = |name: &str, v: Option<Value>| {
                if let Some(v) = v {
                    map.insert(format!("guarantor{n}_{name}"), v);
                }
            };
            put("bureau_has_record", g.bureau_has_record.map(Value::from));
            put(
                "current_overdue_count",
                g.current_overdue_count.map(Value::from),
            );
            put("max_dpd_24m", g.max_dpd_24m.map(Value::from));
            put(
                "court_enforcement_flag",
                g.court_enforcement_flag.map(Value::from),
            );
        }
    }
    let mut extra: Vec<_> = f.extra.iter().collect();
    extra.sort_by(|a, b| a.0.cmp(b.0));
    for (name, value) in extra {
        let field = format!("features.extra.{name}");
        if CANONICAL.contains(&name.as_str()) || is_guarantor_feature(name) {
            errors.push(FieldError {
                field,
                message: format!(
                    "`{name}` is a canonical feature: set it in its typed group, not in extra"
                ),
            });
            continue;
        }
        match feature_value_to_json(value) {
            Some(v) => {
                map.insert(name.clone(), v);
            }
            None => errors.push(unset_feature_value(field)),
        }
    }
    (map, errors)
}

/// A `FeatureValue` as JSON; `None` when no kind is set.
pub fn feature_value_to_json(value: &pb::FeatureValue) -> Option<Value> {
    Some(match value.kind.as_ref()? {
        pb::feature_value::Kind::BoolValue(b) => Value::from(*b),
        pb::feature_value::Kind::IntValue(i) => Value::from(*i),
        pb::feature_value::Kind::DecimalValue(s) | pb::feature_value::Kind::StringValue(s) => {
            Value::from(s.clone())
        }
    })
}

/// The problem of a `FeatureValue` with no kind set, at `field`.
pub fn unset_feature_value(field: String) -> FieldError {
    FieldError {
        field,
        message: "expected one of bool_value, int_value, decimal_value or string_value".to_string(),
    }
}

/// Takes one feature out of a JSON map as the proto field's type.
trait FromJson: Sized {
    fn from_json(v: &Value) -> Option<Self>;
}
impl FromJson for bool {
    fn from_json(v: &Value) -> Option<Self> {
        v.as_bool()
    }
}
impl FromJson for i64 {
    fn from_json(v: &Value) -> Option<Self> {
        v.as_i64()
    }
}
impl FromJson for String {
    fn from_json(v: &Value) -> Option<Self> {
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }
}

macro_rules! map_into_groups {
    ($map:ident, $errors:ident; $($group:ident : $msg:ident { $($field:ident),+ }),+) => {
        pb::Features {
            $($group: {
                let mut m = pb::$msg::default();
                let mut any = false;
                $(if let Some(v) = $map.remove(stringify!($field)).filter(|v| !v.is_null()) {
                    match FromJson::from_json(&v) {
                        Some(x) => {
                            m.$field = Some(x);
                            any = true;
                        }
                        None => $errors.push(FieldError {
                            field: format!("features.{}", stringify!($field)),
                            message: format!("cannot be carried in the proto field's type: {v}"),
                        }),
                    }
                })+
                any.then_some(m)
            },)+
            extra: Default::default(),
        }
    };
}

/// A JSON feature map as proto features (for clients and tests): canonical
/// names into their typed groups, the rest into `extra`.
pub fn features_to_proto(features: &Map<String, Value>) -> Result<pb::Features, InputError> {
    let mut map = features.clone();
    let mut errors = Vec::new();
    let mut proto = with_feature_groups!(map_into_groups!(map, errors;));
    let mut guarantors = Vec::new();
    for n in 1..=MAX_GUARANTORS {
        let mut take = |name: &str| {
            map.remove(&format!("guarantor{n}_{name}"))
                .filter(|v| !v.is_null())
        };
        let g = pb::Guarantor {
            bureau_has_record: take("bureau_has_record").and_then(|v| v.as_bool()),
            current_overdue_count: take("current_overdue_count").and_then(|v| v.as_i64()),
            max_dpd_24m: take("max_dpd_24m").and_then(|v| v.as_i64()),
            court_enforcement_flag: take("court_enforcement_flag").and_then(|v| v.as_bool()),
        };
        if g != pb::Guarantor::default() {
            // A second guarantor keeps its place even when the first is
            // empty.
            guarantors.resize(n - 1, pb::Guarantor::default());
            guarantors.push(g);
        }
    }
    if !guarantors.is_empty() {
        proto
            .application
            .get_or_insert_with(Default::default)
            .guarantors = guarantors;
    }
    for (name, v) in map {
        let kind = match v {
            Value::Bool(b) => pb::feature_value::Kind::BoolValue(b),
            Value::Number(n) => match n.as_i64() {
                Some(i) => pb::feature_value::Kind::IntValue(i),
                None => pb::feature_value::Kind::DecimalValue(n.to_string()),
            },
            Value::String(s) => pb::feature_value::Kind::StringValue(s),
            Value::Null => continue,
            other => {
                errors.push(FieldError {
                    field: format!("features.{name}"),
                    message: format!("expected a bool, number or string, found {other}"),
                });
                continue;
            }
        };
        proto
            .extra
            .insert(name, pb::FeatureValue { kind: Some(kind) });
    }
    if errors.is_empty() {
        Ok(proto)
    } else {
        Err(InputError { errors })
    }
}

fn reason(r: &decision_core::Reason) -> pb::Reason {
    pb::Reason {
        code: r.code.clone(),
        message_zh: r.message_zh.clone(),
        message_en: r.message_en.clone(),
        source: r.source.clone(),
    }
}

/// The reply for a decision; the trace as JSON when `include_trace`.
pub fn decision_to_proto(d: &Decision, include_trace: bool) -> pb::PreReviewResponse {
    pb::PreReviewResponse {
        decision_id: d.decision_id.clone(),
        request_id: d.request_id.clone(),
        institution: d.institution.clone(),
        product: d.product.clone(),
        decision: d.decision.as_str().to_string(),
        score: d.score.to_string(),
        grade: d.grade.clone(),
        limit: d.limit.to_string(),
        annual_rate: d.annual_rate.map(|r| r.to_string()),
        reasons: d.reasons.iter().map(reason).collect(),
        flags: d.flags.iter().map(reason).collect(),
        versions: versions_to_proto(&d.versions),
        trace_json: match (&d.trace, include_trace) {
            (Some(t), true) => serde_json::to_string(t).unwrap_or_default(),
            _ => String::new(),
        },
        idempotent_replay: false,
        recorded_at: String::new(),
        precredit: None,
        routing: d.routing.as_ref().map(routing_to_proto),
    }
}

fn routing_to_proto(r: &decision_core::decision::Routing) -> pb::Routing {
    pb::Routing {
        matrix: r.matrix.clone(),
        amount: r.amount.to_string(),
        term_months: r.term_months,
        guarantee_type: r.guarantee_type.clone(),
        level: r.level.clone(),
        level_name_zh: r.level_name_zh.clone(),
        level_name_en: r.level_name_en.clone(),
        because: r.because.clone(),
        because_zh: r.because_zh.clone(),
    }
}

/// The decision a reply carries (for clients and tests): the inverse of
/// [`decision_to_proto`].
pub fn decision_from_proto(r: &pb::PreReviewResponse) -> Result<Decision, String> {
    let reasons = |rs: &[pb::Reason]| -> Vec<serde_json::Value> {
        rs.iter()
            .map(|r| serde_json::json!({"code": r.code, "message_zh": r.message_zh, "message_en": r.message_en, "source": r.source}))
            .collect()
    };
    let mut v = serde_json::json!({
        "decision_id": r.decision_id, "request_id": r.request_id, "institution": r.institution,
        "product": r.product, "decision": r.decision, "score": r.score, "grade": r.grade, "limit": r.limit,
        "annual_rate": r.annual_rate, "reasons": reasons(&r.reasons), "flags": reasons(&r.flags),
        "versions": r.versions.iter().map(|v| serde_json::json!({"kind": v.kind, "id": v.id, "version": v.version, "hash": v.hash})).collect::<Vec<_>>(),
    });
    if let Some(routing) = &r.routing {
        v["routing"] = serde_json::json!({
            "matrix": routing.matrix, "amount": routing.amount, "term_months": routing.term_months,
            "guarantee_type": routing.guarantee_type, "level": routing.level,
            "level_name_zh": routing.level_name_zh, "level_name_en": routing.level_name_en,
            "because": routing.because, "because_zh": routing.because_zh,
        });
    }
    if !r.trace_json.is_empty() {
        v["trace"] = serde_json::from_str(&r.trace_json).map_err(|e| format!("trace_json: {e}"))?;
    }
    serde_json::from_value(v).map_err(|e| e.to_string())
}

/// Versions as the wire carries them.
pub fn versions_to_proto(versions: &[decision_core::VersionRef]) -> Vec<pb::VersionRef> {
    versions
        .iter()
        .map(|v| pb::VersionRef {
            kind: v.kind.clone(),
            id: v.id.clone(),
            version: v.version.clone(),
            hash: v.hash.clone(),
        })
        .collect()
}

/// What retention kept of a pruned decision, as GetDecision answers it.
pub fn pruned_to_proto(p: &decision_service::PrunedDecision) -> pb::GetDecisionResponse {
    let r = &p.record;
    pb::GetDecisionResponse {
        decision: Some(pb::PreReviewResponse {
            decision_id: r.decision_id.clone(),
            request_id: r.request_id.clone(),
            institution: r.institution.clone(),
            product: r.product.clone(),
            decision: r.outcome.clone(),
            versions: versions_to_proto(&r.versions),
            recorded_at: r.recorded_at.clone(),
            ..Default::default()
        }),
        explanation_en: p.describe(decision_core::Lang::En),
        explanation_zh: p.describe(decision_core::Lang::Zh),
        retention: Some(pb::Retention {
            legal_hold: false,
            pruned: true,
            pruned_at: p.pruned_at.clone(),
            request_digest: r.request_hash.clone(),
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_round_trip_through_proto() {
        let json = serde_json::json!({
            "age": 42, "annual_net_income": "68000", "bureau_has_record": true, "bureau_total_debt": "20000.00",
            "review_rating": "A", "subsidy_years": 4, "my_extra_flag": true, "my_extra_amount": "12.50",
            "requested_amount": "30000", "guarantee_type": "natural_person",
            "guarantor2_bureau_has_record": true, "guarantor2_current_overdue_count": 0,
            "guarantor1_court_enforcement_flag": false
        });
        let map = json.as_object().unwrap();
        let proto = features_to_proto(map).unwrap();
        assert_eq!(proto.household.as_ref().unwrap().age, Some(42));
        assert_eq!(proto.repayment, None, "absent groups stay absent");
        let app = proto.application.as_ref().unwrap();
        assert_eq!(app.guarantors.len(), 2);
        assert_eq!(app.guarantors[1].current_overdue_count, Some(0));
        let back = features_from_proto(Some(&proto)).unwrap();
        let mut a: Vec<_> = back.iter().collect();
        let mut b: Vec<_> = map.iter().collect();
        a.sort_by_key(|x| x.0);
        b.sort_by_key(|x| x.0);
        assert_eq!(a, b);
    }

    #[test]
    fn the_proto_groups_carry_exactly_the_shipped_schema_features() {
        let policies = decision_core::PolicySet::shipped().unwrap();
        let policy = policies.select("ANY", "FARMER_CREDIT").unwrap();
        let mut schema: Vec<&str> = policy
            .schema
            .features
            .iter()
            .map(|f| f.name.as_str())
            .collect();
        let guarantors: Vec<String> = (1..=MAX_GUARANTORS)
            .flat_map(|n| {
                GUARANTOR_FEATURES
                    .iter()
                    .map(move |f| format!("guarantor{n}_{f}"))
            })
            .collect();
        let mut proto: Vec<&str> = CANONICAL.to_vec();
        proto.extend(guarantors.iter().map(String::as_str));
        schema.sort();
        proto.sort();
        assert_eq!(proto, schema);
    }

    #[test]
    fn a_canonical_name_in_extra_is_refused() {
        let mut f = pb::Features::default();
        f.extra.insert(
            "age".into(),
            pb::FeatureValue {
                kind: Some(pb::feature_value::Kind::IntValue(3)),
            },
        );
        f.extra.insert("x".into(), pb::FeatureValue { kind: None });
        let e = features_from_proto(Some(&f)).unwrap_err();
        assert_eq!(e.errors[0].field, "features.extra.age");
        assert_eq!(
            e.errors[1].message,
            "expected one of bool_value, int_value, decimal_value or string_value"
        );
    }
}
