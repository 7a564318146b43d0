//! The compact record's bytes (`decision.record.v1.DecisionRecord`): every
//! example household's record reads back as written and renders the
//! engine's decision and trace byte for byte; a record of another format,
//! a field that does not hold what it must, or cut bytes are refused
//! naming what is wrong.

use decision_core::evaluate::{Options, evaluate_recorded, render};
use decision_core::policy_set::PolicySet;
use decision_core::request::Request;
use decision_store::compact::{RecordError, decode, encode, pb, to_pb};

fn requests() -> Vec<(String, Request)> {
    let dir = format!("{}/../../examples/requests", env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                Request::from_json(&text).unwrap(),
            )
        })
        .collect()
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap()
}

#[test]
fn every_example_record_reads_back_as_written_and_renders_byte_for_byte() {
    let set = PolicySet::shipped().unwrap();
    let mut read_back = 0;
    for (file, request) in requests() {
        let policy = set.select(&request.institution, &request.product).unwrap();
        let (decision, record) =
            evaluate_recorded(policy, &request, Options { trace: true }).unwrap();
        let bytes = encode(&record);
        let read = decode(&bytes, policy.rules.len()).unwrap();
        assert_eq!(read, record, "{file}: the record reads back as written");
        let again = render(policy, &request, &read, Options { trace: true }).unwrap();
        assert_eq!(json(&again), json(&decision), "{file}: rendered differs");
        assert!(
            bytes.len() * 10 < json(&decision).len(),
            "{file}: the record ({} bytes) is not a tenth of the trace JSON ({} bytes)",
            bytes.len(),
            json(&decision).len()
        );
        read_back += 1;
    }
    assert_eq!(read_back, 17);
}

#[test]
fn a_record_of_another_format_or_damaged_bytes_is_refused() {
    let set = PolicySet::shipped().unwrap();
    let (_, request) = requests().remove(0);
    let policy = set.select(&request.institution, &request.product).unwrap();
    let (_, record) = evaluate_recorded(policy, &request, Options { trace: false }).unwrap();
    let rules = policy.rules.len();

    let mut m = to_pb(&record);
    m.format = 1;
    assert_eq!(
        decode(&prost::Message::encode_to_vec(&m), rules),
        Err(RecordError::Format { found: 1 })
    );
    let mut m = to_pb(&record);
    m.score = "six hundred".into();
    let e = decode(&prost::Message::encode_to_vec(&m), rules).unwrap_err();
    assert!(
        e.to_string()
            .contains("score: expected a decimal, found \"six hundred\""),
        "{e}"
    );
    let mut m = to_pb(&record);
    m.outcome = pb::Outcome::Unspecified as i32;
    let e = decode(&prost::Message::encode_to_vec(&m), rules).unwrap_err();
    assert!(
        e.to_string()
            .contains("outcome: expected APPROVE, REFER or DECLINE"),
        "{e}"
    );
    let mut m = to_pb(&record);
    m.policy.truncate(8);
    let e = decode(&prost::Message::encode_to_vec(&m), rules).unwrap_err();
    assert!(
        e.to_string()
            .contains("policy: expected a 32-byte sha256, found 8 bytes"),
        "{e}"
    );
    let bytes = encode(&record);
    let e = decode(&bytes, rules + 8).unwrap_err();
    assert!(e.to_string().contains("rule_hits: expected"), "{e}");
    // Cut bytes: refused, whether the cut falls inside a field (it does not
    // decode) or between two (a field it must hold is missing).
    for cut in [bytes.len() / 2, bytes.len() - 1] {
        let e = decode(&bytes[..cut], rules).unwrap_err();
        assert!(matches!(e, RecordError::Damaged(_)), "{e}");
        assert!(
            e.to_string().contains("does not decode") || e.to_string().contains("expected"),
            "{e}"
        );
    }
}
