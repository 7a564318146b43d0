//! Who may call: bearer tokens mapped to a person, roles and a scope, from
//! a TOML file. A missing or unknown token is
//! [`ServiceError::Unauthenticated`], the wrong role or scope
//! [`ServiceError::Forbidden`]; both are checked before anything else.
//! Reading the token out of a request (gRPC metadata, an HTTP header) is
//! the front door's business; this module only judges it.
//!
//! A token's scope is the institutions it lists (`institutions = ["HB-A"]`)
//! or, without the list, the province: the province governs what binds
//! every institution (the feature schema, the red lines, market parameters
//! and the default `*`), an institution only its own policies. The file may
//! hold each token's SHA-256 (`token_sha256`) instead of the token, so no
//! secret needs to sit in it; tokens are looked up by their digest either
//! way.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;
use sha2::{Digest, Sha256};

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

    /// Whether this person acts for the province (a token without
    /// `institutions`).
    pub fn is_province(&self) -> bool {
        self.institutions.is_none()
    }

    /// The institutions this person is limited to; `None`: the province.
    pub fn scope(&self) -> Option<&[String]> {
        self.institutions.as_deref()
    }

    /// [`ServiceError::Forbidden`] naming the scope, unless this person may
    /// govern `scope`: the province governs everything, an institution's
    /// people only their own institutions.
    pub fn require_governs(&self, scope: &Scope) -> Result<(), ServiceError> {
        match scope {
            Scope::Institution(i) => self.require_scope(i),
            Scope::Province(what) if !self.is_province() => Err(ServiceError::Forbidden(format!(
                "{} acts for {} and not for the province: {what} is governed by province roles",
                self.person,
                self.institutions.as_deref().unwrap_or_default().join(", ")
            ))),
            Scope::Province(_) => Ok(()),
        }
    }

    /// [`ServiceError::Forbidden`] naming the scope, unless this person may
    /// read what `scope` governs: everyone reads the province's documents
    /// and activations (they bind every institution), an institution's
    /// people only their own institutions' besides.
    pub fn require_reads(&self, scope: &Scope) -> Result<(), ServiceError> {
        match scope {
            Scope::Province(_) => Ok(()),
            Scope::Institution(i) => self.require_scope(i),
        }
    }
}

/// Whom a document or an activation is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// The province: the schema, the red lines, market parameters, the
    /// default `*`; the text names it for messages (e.g. "the province
    /// default `*`").
    Province(String),
    /// One institution, by its code.
    Institution(String),
}

impl Scope {
    /// The scope of an activation for `institution` (`*`: the default).
    pub fn of_institution(institution: &str) -> Scope {
        match institution.trim() {
            "*" => Scope::Province("the province default `*`".into()),
            i => Scope::Institution(i.to_string()),
        }
    }

    /// The institution an audit entry records: the code, or `*`.
    pub fn audit_name(&self) -> &str {
        match self {
            Scope::Province(_) => "*",
            Scope::Institution(i) => i,
        }
    }
}

/// The hex SHA-256 of a token, as `token_sha256` holds it.
pub fn token_digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokensFile {
    tokens: Vec<TokenEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenEntry {
    /// The token itself (development files), or
    #[serde(default)]
    token: Option<String>,
    /// its SHA-256 in hex (`printf %s "$TOKEN" | sha256sum`).
    #[serde(default)]
    token_sha256: Option<String>,
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
    /// By the token's hex SHA-256.
    by_digest: HashMap<String, Principal>,
}

impl Tokens {
    /// Reads `[[tokens]] token = "..."` (or `token_sha256 = "<hex>"`),
    /// `person = "...", roles = ["analyst"]` and optionally
    /// `institutions = ["HB-A"]` (without it a token acts for every
    /// institution: the province).
    pub fn load(path: &Path) -> Result<Tokens, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let file: TokensFile =
            toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut by_token = HashMap::new();
        for (i, t) in file.tokens.into_iter().enumerate() {
            let digest = match (&t.token, &t.token_sha256) {
                (Some(token), None) if token.len() >= 16 => token_digest(token),
                (Some(_), None) => {
                    return Err(format!(
                        "{}: tokens[{i}] ({}): a token needs at least 16 characters",
                        path.display(),
                        t.person
                    ));
                }
                (None, Some(hash))
                    if hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) =>
                {
                    hash.to_ascii_lowercase()
                }
                (None, Some(hash)) => {
                    return Err(format!(
                        "{}: tokens[{i}] ({}): token_sha256 must be 64 hex digits (the SHA-256 of the token, e.g. `printf %s \"$TOKEN\" | sha256sum`), found {} characters",
                        path.display(),
                        t.person,
                        hash.len()
                    ));
                }
                _ => {
                    return Err(format!(
                        "{}: tokens[{i}] ({}): give exactly one of `token` and `token_sha256`",
                        path.display(),
                        t.person
                    ));
                }
            };
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
            if by_token.contains_key(&digest) {
                return Err(format!(
                    "{}: tokens[{i}] ({}): this token is given twice",
                    path.display(),
                    t.person
                ));
            }
            by_token.insert(
                digest,
                Principal {
                    person: t.person,
                    roles: t.roles,
                    institutions: t.institutions,
                    review_level: t.review_level,
                    branch: t.branch,
                },
            );
        }
        Ok(Tokens {
            by_digest: by_token,
        })
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
            .by_digest
            .get(&token_digest(token.trim()))
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
            Bearer::Token(t) => self.by_digest.get(&token_digest(t.trim())),
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

    #[test]
    fn a_file_may_hold_the_tokens_sha256_instead_of_the_token() {
        // printf %s county-approver-token-1 | sha256sum
        let digest = token_digest("county-approver-token-1");
        assert_eq!(
            digest,
            "9eb9242a1f26246a56275d618f4686b16d8a0febac27ea80ab45900ff99098fe"
        );
        let tokens = load(&format!(
            "[[tokens]]\ntoken_sha256 = \"{}\"\nperson = \"approver.hu\"\nroles = [\"approver\"]\ninstitutions = [\"HB-A\"]\n",
            digest.to_uppercase()
        ))
        .unwrap();
        let (who, role) = tokens
            .authorize(&Bearer::Token("county-approver-token-1"), &[Role::Approver])
            .unwrap();
        assert_eq!((who.person.as_str(), role), ("approver.hu", Role::Approver));
        assert_eq!(who.scope(), Some(&["HB-A".to_string()][..]));
        assert!(matches!(
            tokens.authorize(&Bearer::Token(&digest), &[Role::Approver]),
            Err(ServiceError::Unauthenticated(_))
        ));
        for (entry, problem) in [
            (
                "token_sha256 = \"abc\"",
                "token_sha256 must be 64 hex digits",
            ),
            (
                "token = \"county-approver-token-1\"\ntoken_sha256 = \"abc\"",
                "give exactly one of `token` and `token_sha256`",
            ),
            ("", "give exactly one of `token` and `token_sha256`"),
        ] {
            let e = load(&format!(
                "[[tokens]]\n{entry}\nperson = \"x\"\nroles = [\"approver\"]\n"
            ))
            .unwrap_err();
            assert!(e.contains(problem), "{entry}: {e}");
        }
    }

    #[test]
    fn a_county_token_governs_its_institutions_and_reads_the_province() {
        let tokens = load(
            "[[tokens]]\ntoken = \"county-approver-token-1\"\nperson = \"approver.hu\"\nroles = [\"approver\"]\ninstitutions = [\"HB-A\"]\n",
        )
        .unwrap();
        let (county, _) = tokens
            .authorize(&Bearer::Token("county-approver-token-1"), &[Role::Approver])
            .unwrap();
        assert!(
            county
                .require_governs(&Scope::of_institution("HB-A"))
                .is_ok()
        );
        assert_eq!(
            county.require_governs(&Scope::of_institution("*")).unwrap_err(),
            ServiceError::Forbidden(
                "approver.hu acts for HB-A and not for the province: the province default `*` is governed by province roles".into()
            )
        );
        assert!(county.require_reads(&Scope::of_institution("*")).is_ok());
        assert!(
            county
                .require_reads(&Scope::of_institution("HB-B"))
                .is_err()
        );
    }
}
