//! The REST door in process (the router itself, over the in-memory store):
//! the OpenAPI document and the routes are the same set; every example
//! household through `POST /v1/pre-review` is exactly `evaluate`'s decision
//! JSON and fits the document's schema; bad input is problem+json naming
//! each field, and nothing is recorded; retries, look-ups, explanations,
//! replays, the registry's calls and their refusals.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use decision_core::{Options, PolicySet, evaluate};
use decision_rest::{OPENAPI, Problem, ROUTES, Rest, router};
use decision_service::{Decisions, Limits, Policies, PreCredits, Registry, Reviews, Tokens};
use decision_store::{MemoryStore, Store};
use serde_json::Value;
use tower_service::Service;

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

struct Door {
    router: axum::Router,
    store: Arc<MemoryStore>,
}

async fn door(max_concurrent_calls: usize) -> Door {
    let store = Arc::new(MemoryStore::new());
    let set = Arc::new(PolicySet::shipped().unwrap());
    let tokens = Arc::new(Tokens::load(&repo("config/tokens.dev.toml")).unwrap());
    let policies = Arc::new(Policies::new(set.clone(), store.clone()).await.unwrap());
    let rest = Arc::new(Rest {
        decisions: Arc::new(Decisions::new(policies.clone(), Limits::default())),
        registry: Arc::new(Registry::new(set, store.clone(), tokens.clone())),
        precredits: Arc::new(PreCredits::new(store.clone(), tokens.clone(), None)),
        reviews: Arc::new(Reviews::new(policies, tokens)),
        permits: Arc::new(tokio::sync::Semaphore::new(max_concurrent_calls)),
        max_concurrent_calls,
        call_timeout: Duration::from_secs(30),
        max_body_bytes: 1 << 20,
    });
    Door {
        router: router(rest),
        store,
    }
}

/// (status, content type, headers, body).
struct Reply {
    status: StatusCode,
    content_type: String,
    headers: axum::http::HeaderMap,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    fn problem(&self) -> Problem {
        assert_eq!(
            self.content_type, "application/problem+json",
            "{}",
            self.body
        );
        serde_json::from_str(&self.body).unwrap()
    }
}

impl Door {
    async fn call(&self, method: Method, uri: &str, token: &str, body: &str) -> Reply {
        let mut request = Request::builder().method(method).uri(uri);
        if !token.is_empty() {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = request.body(Body::from(body.to_string())).unwrap();
        let response = self.router.clone().call(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let content_type = headers
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let bytes = axum::body::to_bytes(response.into_body(), 64 << 20)
            .await
            .unwrap();
        Reply {
            status,
            content_type,
            headers,
            body: String::from_utf8(bytes.to_vec()).unwrap(),
        }
    }
}

fn examples() -> Vec<PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(repo("examples/requests"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

fn openapi() -> Value {
    serde_json::from_str(OPENAPI).unwrap()
}

/// The property names and required names of a schema of the document.
fn schema_keys(name: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let doc = openapi();
    let schema = &doc["components"]["schemas"][name];
    let properties = schema["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("schema {name}"))
        .keys()
        .cloned()
        .collect();
    let required = schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    (properties, required)
}

/// `value`'s keys are the schema's properties, and every required one is
/// there.
fn fits(value: &Value, schema: &str) {
    let (properties, required) = schema_keys(schema);
    let keys: BTreeSet<String> = value.as_object().unwrap().keys().cloned().collect();
    assert!(
        keys.is_subset(&properties),
        "{schema}: {:?} not documented",
        keys.difference(&properties).collect::<Vec<_>>()
    );
    assert!(
        required.is_subset(&keys),
        "{schema}: {:?} missing",
        required.difference(&keys).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn the_openapi_document_and_the_routes_are_the_same_set_and_every_route_is_served() {
    let doc = openapi();
    assert_eq!(doc["openapi"], "3.1.0");
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.insert((method.to_uppercase(), path.clone()));
        }
    }
    let routes: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(documented, routes);
    // Every documented operation answers (not the fallback's "no route"),
    // and every $ref names a component that exists.
    let door = door(16).await;
    for (method, path) in &routes {
        let uri = path
            .replace("{decision_id}", "dec_0")
            .replace("{activation_id}", "act_0");
        let reply = door.call(method.parse().unwrap(), &uri, "", "{}").await;
        assert!(
            !reply.body.contains("no route"),
            "{method} {path}: {}",
            reply.body
        );
    }
    let text = OPENAPI;
    for piece in text.split("\"$ref\": \"#/components/").skip(1) {
        let reference = piece.split('"').next().unwrap();
        let mut node = &doc["components"];
        for part in reference.split('/') {
            node = &node[part];
        }
        assert!(!node.is_null(), "dangling $ref {reference}");
    }
    // Served as kept in the repository.
    let served = door.call(Method::GET, "/v1/openapi.json", "", "").await;
    assert_eq!(served.status, StatusCode::OK);
    assert_eq!(served.json(), doc);
    let none = door.call(Method::GET, "/v1/nope", "", "").await;
    assert_eq!(none.status, StatusCode::NOT_FOUND);
    assert_eq!(
        none.problem().detail,
        "no route GET /v1/nope: the routes are listed in /v1/openapi.json"
    );
}

#[tokio::test]
async fn every_example_household_through_the_rest_door_is_exactly_evaluates_decision() {
    let door = door(16).await;
    let set = PolicySet::shipped().unwrap();
    for file in examples() {
        let text = std::fs::read_to_string(&file).unwrap();
        let request = decision_core::Request::from_json(&text).unwrap();
        let policy = set.select(&request.institution, &request.product).unwrap();
        let expected =
            serde_json::to_value(evaluate(policy, &request, Options { trace: true }).unwrap())
                .unwrap();
        let reply = door.call(Method::POST, "/v1/pre-review", "", &text).await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "{}: {}",
            file.display(),
            reply.body
        );
        assert_eq!(reply.content_type, "application/json");
        assert_eq!(reply.json(), expected, "{}", file.display());
        assert_eq!(reply.headers["idempotent-replay"], "false");
        fits(&reply.json(), "Decision");

        // Stored: read back, told in words, replayed identical.
        let id = expected["decision_id"].as_str().unwrap();
        let stored = door
            .call(Method::GET, &format!("/v1/decisions/{id}"), "", "")
            .await;
        assert_eq!(stored.status, StatusCode::OK, "{}", stored.body);
        fits(&stored.json(), "StoredDecision");
        assert_eq!(stored.json()["decision"], expected);
        assert_eq!(
            stored.json()["request"],
            serde_json::from_str::<Value>(&text).unwrap()
        );
        let zh = door
            .call(
                Method::GET,
                &format!("/v1/decisions/{id}/explain?lang=zh"),
                "",
                "",
            )
            .await;
        assert_eq!(zh.status, StatusCode::OK);
        assert_eq!(zh.content_type, "text/plain; charset=utf-8");
        assert_eq!(zh.body, stored.json()["explanation_zh"].as_str().unwrap());
        let replay = door
            .call(Method::POST, &format!("/v1/decisions/{id}/replay"), "", "")
            .await;
        assert_eq!(replay.json()["identical"], true, "{}", replay.body);
        fits(&replay.json(), "Replay");
    }
    // Without its trace on request.
    let text = std::fs::read_to_string(&examples()[0]).unwrap();
    let plain = door
        .call(Method::POST, "/v1/pre-review?trace=false", "", &text)
        .await;
    assert_eq!(plain.headers["idempotent-replay"], "true");
    assert!(plain.json().get("trace").is_none() || plain.json()["trace"].is_null());
}

#[tokio::test]
async fn bad_input_is_problem_json_naming_every_field_and_nothing_is_recorded() {
    let door = door(16).await;
    let mut request: Value = serde_json::from_str(
        &std::fs::read_to_string(repo("examples/requests/01-clean-approve.json")).unwrap(),
    )
    .unwrap();
    request["request_id"] = "REST-BAD-1".into();
    request["features"]["age"] = "forty".into();
    request["features"]["bureau_worst_class"] = "terrible".into();
    let reply = door
        .call(Method::POST, "/v1/pre-review", "", &request.to_string())
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let problem = reply.problem();
    assert_eq!(problem.kind, "urn:decision-engine:problem:InvalidArgument");
    assert_eq!(problem.status, 400);
    let fields: Vec<&str> = problem.errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        ["features.age", "features.bureau_worst_class"],
        "{problem:?}"
    );
    for e in &problem.errors {
        assert!(e.message.contains("expected"), "{e:?}");
    }
    fits(&reply.json(), "Problem");
    // Not JSON at all, and not UTF-8.
    let reply = door
        .call(Method::POST, "/v1/pre-review", "", "{\"request_id\": ")
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.problem().errors[0].field, "request");
    let reply = door
        .call(Method::GET, "/v1/decisions/x/explain?lang=fr", "", "")
        .await;
    assert_eq!(
        reply.problem().errors,
        vec![decision_rest::FieldProblem {
            field: "lang".into(),
            message: "is `fr`: expected en, zh or both".into()
        }]
    );
    let reply = door
        .call(Method::GET, "/v1/policy/versions?colour=red", "", "")
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.problem().errors[0].field, "query");
    // Nothing was recorded for the refused pre-review.
    assert_eq!(door.store.get("dec_0").await.unwrap(), None);
    let decision_id = decision_core::decision_id("HB-JINGSHAN", "FARMER_CREDIT", "REST-BAD-1");
    assert_eq!(door.store.get(&decision_id).await.unwrap(), None);
    let missing = door
        .call(Method::GET, &format!("/v1/decisions/{decision_id}"), "", "")
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_changed_retry_is_409_and_the_registry_needs_its_roles() {
    let door = door(16).await;
    let text = std::fs::read_to_string(repo("examples/requests/02-grade-aa.json")).unwrap();
    let first = door.call(Method::POST, "/v1/pre-review", "", &text).await;
    assert_eq!(first.status, StatusCode::OK);
    let again = door.call(Method::POST, "/v1/pre-review", "", &text).await;
    assert_eq!(again.headers["idempotent-replay"], "true");
    assert_eq!(again.headers["recorded-at"], first.headers["recorded-at"]);
    let changed = text.replace("\"age\": 38", "\"age\": 39");
    assert_ne!(changed, text);
    let conflict = door
        .call(Method::POST, "/v1/pre-review", "", &changed)
        .await;
    assert_eq!(conflict.status, StatusCode::CONFLICT);
    assert_eq!(
        conflict.problem().kind,
        "urn:decision-engine:problem:AlreadyExists"
    );

    // The registry: no token is 401 with a challenge; the wrong role 403.
    let anonymous = door.call(Method::GET, "/v1/policy/versions", "", "").await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(anonymous.headers["www-authenticate"], "Bearer");
    let analyst = "dev-analyst-token-0001";
    let wrong_role = door.call(Method::GET, "/v1/audit-log", analyst, "").await;
    assert_eq!(
        wrong_role.status,
        StatusCode::FORBIDDEN,
        "{}",
        wrong_role.body
    );

    // Publish a scorecard, activate it with four eyes, read it all back.
    let mut card: Value = serde_json::from_str(
        &std::fs::read_to_string(repo("scorecards/farmer-scorecard.json")).unwrap(),
    )
    .unwrap();
    card["version"] = "2026.8".into();
    let published = door
        .call(
            Method::POST,
            "/v1/policy/scorecards",
            analyst,
            &card.to_string(),
        )
        .await;
    assert_eq!(published.status, StatusCode::CREATED, "{}", published.body);
    fits(&published.json(), "Uploaded");
    let again = door
        .call(
            Method::POST,
            "/v1/policy/scorecards",
            analyst,
            &card.to_string(),
        )
        .await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.json()["created"], false);
    let versions = door
        .call(
            Method::GET,
            "/v1/policy/versions?kind=scorecard",
            analyst,
            "",
        )
        .await;
    fits(&versions.json(), "Versions");
    assert!(
        versions.json()["versions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["version"] == "2026.8")
    );
    let activation = serde_json::json!({
        "institution": "HB-REST",
        "ruleset_id": "farmer-credit-default",
        "ruleset_version": "2026.4",
        "scorecard_id": "farmer-scorecard",
        "scorecard_version": "2026.8",
    });
    let requested = door
        .call(
            Method::POST,
            "/v1/policy/activations",
            "dev-approver-token-0001",
            &activation.to_string(),
        )
        .await;
    assert_eq!(requested.status, StatusCode::CREATED, "{}", requested.body);
    fits(&requested.json(), "Activation");
    let id = requested.json()["activation_id"]
        .as_str()
        .unwrap()
        .to_string();
    let own = door
        .call(
            Method::POST,
            &format!("/v1/policy/activations/{id}/approve"),
            "dev-approver-token-0001",
            "",
        )
        .await;
    assert_eq!(own.status, StatusCode::FORBIDDEN, "four eyes: {}", own.body);
    let approved = door
        .call(
            Method::POST,
            &format!("/v1/policy/activations/{id}/approve"),
            "dev-approver-token-0002",
            "",
        )
        .await;
    assert_eq!(approved.status, StatusCode::OK, "{}", approved.body);
    assert_eq!(approved.json()["status"], "approved");
    let listed = door
        .call(
            Method::GET,
            "/v1/policy/activations?institution=HB-REST",
            analyst,
            "",
        )
        .await;
    fits(&listed.json(), "Activations");
    let log = door
        .call(
            Method::GET,
            "/v1/audit-log?limit=5",
            "dev-auditor-token-00001",
            "",
        )
        .await;
    fits(&log.json(), "AuditLog");
    assert_eq!(log.json()["entries"].as_array().unwrap().len(), 5);
    let bad_activation = door
        .call(
            Method::POST,
            "/v1/policy/activations",
            "dev-approver-token-0001",
            "{\"institution\": \"HB-REST\"}",
        )
        .await;
    assert_eq!(bad_activation.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad_activation.problem().errors[0].field, "activation");
}

#[tokio::test]
async fn beyond_the_server_wide_budget_calls_are_429_but_pre_reviews_and_health_are_not() {
    // A budget of none: every budgeted call is shed, the others answered.
    let door = door(0).await;
    let shed = door.call(Method::GET, "/v1/decisions/dec_0", "", "").await;
    assert_eq!(shed.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(shed.headers["retry-after"], "1");
    assert_eq!(
        shed.problem().detail,
        "the server is running its limit of 0 calls at once (max_concurrent_calls); GET /v1/decisions/{decision_id} was not started: retry with backoff"
    );
    let text = std::fs::read_to_string(&examples()[0]).unwrap();
    assert_eq!(
        door.call(Method::POST, "/v1/pre-review", "", &text)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        door.call(Method::GET, "/v1/health", "", "").await.json(),
        serde_json::json!({"status": "SERVING"})
    );
}

#[tokio::test]
async fn a_pruned_decision_answers_with_what_was_kept_and_a_held_one_whole() {
    let door = door(16).await;
    let mut ids = Vec::new();
    for file in examples().iter().take(2) {
        let reply = door
            .call(
                Method::POST,
                "/v1/pre-review",
                "",
                &std::fs::read_to_string(file).unwrap(),
            )
            .await;
        ids.push(reply.json()["decision_id"].as_str().unwrap().to_string());
    }
    let auditor = "dev-auditor-token-00001";
    let no_reason = door
        .call(
            Method::PUT,
            &format!("/v1/decisions/{}/legal-hold", ids[1]),
            auditor,
            r#"{"hold": true, "reason": ""}"#,
        )
        .await;
    assert_eq!(no_reason.problem().errors[0].field, "reason");
    let held = door
        .call(
            Method::PUT,
            &format!("/v1/decisions/{}/legal-hold", ids[1]),
            auditor,
            r#"{"hold": true, "reason": "complaint 2026-118"}"#,
        )
        .await;
    assert_eq!(held.status, StatusCode::OK, "{}", held.body);
    fits(&held.json(), "LegalHold");
    assert_eq!(held.json()["legal_hold"], true);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let now = humantime_now();
    let pruned = decision_service::retention::prune(&*door.store, &now, "ops.zhang")
        .await
        .unwrap();
    assert_eq!((pruned.pruned, pruned.held), (1, 1));
    let gone = door
        .call(Method::GET, &format!("/v1/decisions/{}", ids[0]), "", "")
        .await;
    assert_eq!(gone.status, StatusCode::OK, "{}", gone.body);
    fits(&gone.json(), "StoredDecision");
    fits(&gone.json()["pruned"], "PrunedDecision");
    assert!(gone.json().get("request").is_none());
    assert!(
        gone.json()["pruned"]["request_digest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    let kept = door
        .call(Method::GET, &format!("/v1/decisions/{}", ids[1]), "", "")
        .await;
    assert_eq!(kept.json()["legal_hold"], true);
    assert!(kept.json()["request"].is_object());
    let replay = door
        .call(
            Method::POST,
            &format!("/v1/decisions/{}/replay", ids[0]),
            "",
            "",
        )
        .await;
    assert_eq!(replay.status, StatusCode::UNPROCESSABLE_ENTITY);
}

fn humantime_now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

#[tokio::test]
async fn reviews_and_the_register_answer_over_rest_within_their_roles() {
    let door = door(16).await;
    let mut request: Value = serde_json::from_str(
        &std::fs::read_to_string(repo("examples/requests/01-clean-approve.json")).unwrap(),
    )
    .unwrap();
    request["institution"] = "3201".into();
    request["request_id"] = "REST-REVIEW-1".into();
    let decided = door
        .call(Method::POST, "/v1/pre-review", "", &request.to_string())
        .await
        .json();
    assert_eq!(decided["routing"]["level"], "county_approver");
    let county = "dev-reviewer-token-3201-county";
    let queue = door
        .call(
            Method::GET,
            "/v1/reviews/pending?institution=3201",
            county,
            "",
        )
        .await;
    assert_eq!(queue.status, StatusCode::OK, "{}", queue.body);
    fits(&queue.json(), "PendingReviews");
    let cases = queue.json()["cases"].as_array().unwrap().clone();
    assert_eq!(cases.len(), 1);
    assert_eq!(cases[0]["case"]["decision_id"], decided["decision_id"]);
    let review = serde_json::json!({
        "review_id": "RV-1",
        "decision_id": decided["decision_id"],
        "outcome": "APPROVE",
        "limit": decided["limit"],
        "annual_rate": decided["annual_rate"],
        "reason_codes": ["O101"],
        "note": "checked the land contract",
    });
    let recorded = door
        .call(Method::POST, "/v1/reviews", county, &review.to_string())
        .await;
    assert_eq!(recorded.status, StatusCode::OK, "{}", recorded.body);
    fits(&recorded.json(), "Reviewed");
    assert_eq!(recorded.json()["idempotent_replay"], false);
    assert_eq!(
        recorded.json()["step"]["decision_id"],
        decided["decision_id"]
    );
    let bad = door
        .call(
            Method::POST,
            "/v1/reviews",
            county,
            r#"{"review_id": "RV-2"}"#,
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.problem().errors[0].field, "review");
    assert!(
        bad.problem().errors[0].message.ends_with(
            r#"expected {"review_id", "decision_id", "outcome", "limit", "annual_rate", "reason_codes", "note"}"#
        ),
        "{}",
        bad.problem().errors[0].message
    );
    let not_a_reviewer = door
        .call(
            Method::POST,
            "/v1/reviews",
            "dev-analyst-token-0001",
            &review.to_string(),
        )
        .await;
    assert_eq!(not_a_reviewer.status, StatusCode::FORBIDDEN);

    // The register: an officer of 3201 reads 3201's households, not 3202's.
    let officer = "dev-officer-token-3201";
    let none = door
        .call(
            Method::GET,
            "/v1/precredits/3201/households/H00000001",
            officer,
            "",
        )
        .await;
    assert_eq!(none.status, StatusCode::NOT_FOUND, "{}", none.body);
    assert_eq!(
        none.problem().detail,
        "no pre-credit of institution 3201 and product FARMER_CREDIT for this household"
    );
    let other = door
        .call(
            Method::GET,
            "/v1/precredits/3202/households/H00000001",
            officer,
            "",
        )
        .await;
    assert_eq!(other.status, StatusCode::FORBIDDEN, "{}", other.body);
}
