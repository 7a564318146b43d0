//! A pre-review request as it arrives: who asks, for which product, under
//! which idempotency key, and the household's features by canonical name.

use serde::{Deserialize, Serialize};

use crate::error::InputError;

/// `{"request_id", "institution", "product", "features": {name: value}}`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// The caller's idempotency key.
    pub request_id: String,
    /// The institution (法人机构) code.
    pub institution: String,
    /// The product code, e.g. `FARMER_CREDIT`.
    pub product: String,
    /// Feature values by canonical name; absent or `null` is missing.
    pub features: serde_json::Map<String, serde_json::Value>,
}

impl Request {
    /// Parses a request from JSON text.
    pub fn from_json(text: &str) -> Result<Request, InputError> {
        serde_json::from_str(text).map_err(|e| {
            InputError::one(
                "request",
                format!(
                    "expected a JSON object with request_id, institution, product and features: {e}"
                ),
            )
        })
    }
}
