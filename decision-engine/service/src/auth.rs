//! Who may call: bearer tokens mapped to a person and roles, from a TOML
//! file. A missing or unknown token is [`ServiceError::Unauthenticated`],
//! the wrong role [`ServiceError::Forbidden`]; both are checked before
//! anything else. Reading the token out of a request (gRPC metadata, an
//! HTTP header) is the front door's business; this module only judges it.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

use crate::ServiceError;

/// What a person may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Uploads and validates policy versions.
    Analyst,
    /// Activates versions and rolls back (four-eyes).
    Approver,
    /// Reads versions and the audit log.
    Auditor,
    /// A loan system calling the decision service (when it requires tokens).
    Client,
    /// A loan officer: signs, records and revokes pre-credits.
    Officer,
    /// Reviews referred and routed decisions at a level of the authority
    /// matrix (the token names the level and the branch).
    Reviewer,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Analyst => "analyst",
            Role::Approver => "approver",
            Role::Auditor => "auditor",
            Role::Client => "client",
            Role::Officer => "officer",
            Role::Reviewer => "reviewer",
        }
    }
}

/// A caller the token identifies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub person: String,
    pub roles: Vec<Role>,
    /// The institutions this person acts for; `None`: the province (all).
    pub institutions: Option<Vec<String>>,
    /// A reviewer's level in the authority matrix, e.g. `branch_officer`.
    pub review_level: Option<String>,
    /// The branch the person works at (reports group reviews by it).
    pub branch: Option<String>,
}

impl Principal {
    /// Whether this person may act for `institution`.
    pub fn acts_for(&self, institution: &str) -> bool {
        self.institutions
            .as_ref()
            .is_none_or(|list| list.iter().any(|i| i == institution))
    }

    /// [`ServiceError::Forbidden`] naming the scope, unless this person
    /// acts for `institution`.
    pub fn require_scope(&self, institution: &str) -> Result<(), ServiceError> {
        if self.acts_for(institution) {
            return Ok(());
        }
        Err(ServiceError::Forbidden(format!(
            "{} acts for {} and not for institution {institution}",
            self.person,
            self.institutions.as_deref().unwrap_or_default().join(", ")
        )))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokensFile {
    tokens: Vec<TokenEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenEntry {
    token: String,
    person: String,
    roles: Vec<Role>,
    /// The institutions the token acts for; absent: the province (all).
    #[serde(default)]
    institutions: Option<Vec<String>>,
    /// A reviewer's level in the authority matrix.
    #[serde(default)]
    review_level: Option<String>,
    /// The person's branch.
    #[serde(default)]
    branch: Option<String>,
}

/// The configured tokens; empty means every admin call is refused.
#[derive(Clone, Debug, Default)]
pub struct Tokens {
    by_token: HashMap<String, Principal>,
}

impl Tokens {
    /// Reads `[[tokens]] token = "...", person = "...", roles = ["analyst"]`
    /// and optionally `institutions = ["HB-A"]` (without it a token acts
    /// for every institution: the province).
    pub fn load(path: &Path) -> Result<Tokens, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let file: TokensFile =
            toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut by_token = HashMap::new();
        for (i, t) in file.tokens.into_iter().enumerate() {
            if t.token.len() < 16 {
                return Err(format!(
                    "{}: tokens[{i}] ({}): a token needs at least 16 characters",
                    path.display(),
                    t.person
                ));
            }
            if t.institutions.as_ref().is_some_and(Vec::is_empty) {
                return Err(format!(
                    "{}: tokens[{i}] ({}): `institutions = []` acts for nobody; list institutions, or leave it out to act for every institution",
                    path.display(),
                    t.person
                ));
            }
            if t.roles.contains(&Role::Reviewer) && t.review_level.is_none() {
                return Err(format!(
                    "{}: tokens[{i}] ({}): a reviewer needs `review_level`, a level of the authority matrix (e.g. \"branch_officer\")",
                    path.display(),
                    t.person
                ));
            }
            if by_token.contains_key(&t.token) {
                return Err(format!(
                    "{}: tokens[{i}] ({}): this token is given twice",
                    path.display(),
                    t.person
                ));
            }
            by_token.insert(
                t.token,
                Principal {
                    person: t.person,
                    roles: t.roles,
                    institutions: t.institutions,
                    review_level: t.review_level,
                    branch: t.branch,
                },
            );
        }
        Ok(Tokens { by_token })
    }

    /// The caller, if the request's `authorization` names a known token
    /// that holds one of `roles`.
    pub fn authorize(
        &self,
        caller: &Bearer<'_>,
        roles: &[Role],
    ) -> Result<(Principal, Role), ServiceError> {
        let token = match caller {
            Bearer::Missing => {
                return Err(ServiceError::Unauthenticated(
                    "missing `authorization: Bearer TOKEN` metadata".into(),
                ));
            }
            Bearer::Malformed => {
                return Err(ServiceError::Unauthenticated(
                    "expected `authorization: Bearer TOKEN`".into(),
                ));
            }
            Bearer::Token(t) => t,
        };
        let principal = self
            .by_token
            .get(token.trim())
            .ok_or_else(|| ServiceError::Unauthenticated("unknown token".into()))?;
        match roles.iter().find(|r| principal.roles.contains(r)) {
            Some(role) => Ok((principal.clone(), *role)),
            None => Err(ServiceError::Forbidden(format!(
                "{} holds {} but this call needs {}",
                principal.person,
                principal
                    .roles
                    .iter()
                    .map(|r| r.name())
                    .collect::<Vec<_>>()
                    .join(", "),
                roles
                    .iter()
                    .map(|r| r.name())
                    .collect::<Vec<_>>()
                    .join(" or ")
            ))),
        }
    }

    /// The person the request's token names, if any (for the audit log of a
    /// refused call).
    pub fn identify(&self, caller: &Bearer<'_>) -> Option<&Principal> {
        match caller {
            Bearer::Token(t) => self.by_token.get(t.trim()),
            _ => None,
        }
    }
}

/// A request's `authorization` value, as the front door read it.
pub enum Bearer<'a> {
    /// No `authorization` at all.
    Missing,
    /// Present, but not `Bearer TOKEN`.
    Malformed,
    /// The text after `Bearer `.
    Token(&'a str),
}

impl<'a> Bearer<'a> {
    /// Reads an `authorization` value (`None`: the request had none).
    pub fn parse(value: Option<&'a str>) -> Bearer<'a> {
        match value {
            None => Bearer::Missing,
            Some(v) => v
                .strip_prefix("Bearer ")
                .map_or(Bearer::Malformed, Bearer::Token),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Tokens, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.toml");
        std::fs::write(&path, text).unwrap();
        Tokens::load(&path)
    }

    #[test]
    fn a_token_acts_for_the_institutions_it_lists_or_for_all() {
        let tokens = load(
            r#"
[[tokens]]
token = "county-officer-token-1"
person = "officer.zhou"
roles = ["officer"]
institutions = ["3201", "3202"]

[[tokens]]
token = "province-officer-token"
person = "officer.sheng"
roles = ["officer"]
"#,
        )
        .unwrap();
        let (county, _) = tokens
            .authorize(&Bearer::Token("county-officer-token-1"), &[Role::Officer])
            .unwrap();
        assert!(county.require_scope("3202").is_ok());
        assert_eq!(
            county.require_scope("3203").unwrap_err(),
            ServiceError::Forbidden(
                "officer.zhou acts for 3201, 3202 and not for institution 3203".into()
            )
        );
        let (province, _) = tokens
            .authorize(&Bearer::Token("province-officer-token"), &[Role::Officer])
            .unwrap();
        assert!(province.acts_for("3203") && province.acts_for("*"));
        let e = load(
            "[[tokens]]\ntoken = \"county-officer-token-1\"\nperson = \"x\"\nroles = [\"officer\"]\ninstitutions = []\n",
        )
        .unwrap_err();
        assert!(e.contains("`institutions = []` acts for nobody"), "{e}");
    }
}
