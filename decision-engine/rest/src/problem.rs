//! The one place a domain error becomes an HTTP reply: a status, and an
//! `application/problem+json` body (RFC 9457) with every field problem.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use decision_service::ServiceError;
use serde::Serialize;

/// The body of a refusal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Problem {
    /// A URI naming the kind of problem (`urn:decision-engine:problem:<code>`,
    /// the gRPC code name the same refusal has on the other door).
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// One entry per field problem (empty unless the input was refused).
    #[serde(default)]
    pub errors: Vec<FieldProblem>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct FieldProblem {
    pub field: String,
    pub message: String,
}

/// The HTTP status and title of each refusal.
pub fn status_of(e: &ServiceError) -> (StatusCode, &'static str) {
    match e {
        ServiceError::Invalid { .. } => (StatusCode::BAD_REQUEST, "Invalid input"),
        ServiceError::NotFound(_) => (StatusCode::NOT_FOUND, "Not found"),
        ServiceError::Conflict(_) => (StatusCode::CONFLICT, "Already exists with other content"),
        ServiceError::Precondition(_) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "Not allowed in this state",
        ),
        ServiceError::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, "Unauthenticated"),
        ServiceError::Forbidden(_) => (StatusCode::FORBIDDEN, "Forbidden"),
        ServiceError::Changed(_) => (
            StatusCode::CONFLICT,
            "Changed meanwhile: read again and retry",
        ),
        ServiceError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "Unavailable"),
        ServiceError::Corrupt(_) => (StatusCode::INTERNAL_SERVER_ERROR, "Stored data is damaged"),
        ServiceError::DeadlineExceeded(_) => (StatusCode::GATEWAY_TIMEOUT, "Deadline exceeded"),
        ServiceError::Overloaded(_) => (StatusCode::TOO_MANY_REQUESTS, "Overloaded"),
        ServiceError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "Internal error"),
    }
}

/// The body of `e`.
pub fn problem_of(e: &ServiceError) -> Problem {
    let (status, title) = status_of(e);
    Problem {
        kind: format!("urn:decision-engine:problem:{}", e.code_name()),
        title: title.to_string(),
        status: status.as_u16(),
        detail: e.to_string(),
        errors: match e {
            ServiceError::Invalid { fields, .. } => fields
                .iter()
                .map(|f| FieldProblem {
                    field: f.field.clone(),
                    message: f.message.clone(),
                })
                .collect(),
            _ => Vec::new(),
        },
    }
}

/// The reply refusing a call with `e`.
pub fn problem(e: &ServiceError) -> Response {
    let body = problem_of(e);
    let status = StatusCode::from_u16(body.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let text = serde_json::to_string_pretty(&body).unwrap_or_else(|_| e.to_string());
    let mut response = (status, text + "\n").into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    if matches!(e, ServiceError::Unauthenticated(_)) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refusal_has_a_status_and_invalid_input_lists_each_field() {
        let m = String::new;
        for (e, status) in [
            (ServiceError::field("x", "bad"), 400),
            (ServiceError::NotFound(m()), 404),
            (ServiceError::Conflict(m()), 409),
            (ServiceError::Precondition(m()), 422),
            (ServiceError::Unauthenticated(m()), 401),
            (ServiceError::Forbidden(m()), 403),
            (ServiceError::Changed(m()), 409),
            (ServiceError::Unavailable(m()), 503),
            (ServiceError::Corrupt(m()), 500),
            (ServiceError::DeadlineExceeded(m()), 504),
            (ServiceError::Overloaded(m()), 429),
            (ServiceError::Internal(m()), 500),
        ] {
            assert_eq!(problem_of(&e).status, status, "{e:?}");
            assert_eq!(problem(&e).status().as_u16(), status);
        }
        let p = problem_of(&ServiceError::Invalid {
            summary: "2 problems".into(),
            fields: vec![
                decision_core::FieldError {
                    field: "features.age".into(),
                    message: "expected an integer".into(),
                },
                decision_core::FieldError {
                    field: "institution".into(),
                    message: "must not be empty".into(),
                },
            ],
        });
        assert_eq!(p.kind, "urn:decision-engine:problem:InvalidArgument");
        assert_eq!(
            p.errors,
            vec![
                FieldProblem {
                    field: "features.age".into(),
                    message: "expected an integer".into()
                },
                FieldProblem {
                    field: "institution".into(),
                    message: "must not be empty".into()
                },
            ]
        );
    }
}
