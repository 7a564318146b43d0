//! Who may call the admin services: bearer tokens (gRPC metadata
//! `authorization: Bearer TOKEN`) mapped to a person and roles, from a TOML
//! file. A missing or unknown token is UNAUTHENTICATED, the wrong role
//! PERMISSION_DENIED; both are checked before anything else.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;
use tonic::Status;
use tonic::metadata::MetadataMap;

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
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Analyst => "analyst",
            Role::Approver => "approver",
            Role::Auditor => "auditor",
            Role::Client => "client",
        }
    }
}

/// A caller the token identifies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub person: String,
    pub roles: Vec<Role>,
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
}

/// The configured tokens; empty means every admin call is refused.
#[derive(Clone, Debug, Default)]
pub struct Tokens {
    by_token: HashMap<String, Principal>,
}

impl Tokens {
    /// Reads `[[tokens]] token = "...", person = "...", roles = ["analyst"]`.
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
                },
            );
        }
        Ok(Tokens { by_token })
    }

    /// The caller, if the token is known and holds one of `roles`.
    pub fn authorize(
        &self,
        metadata: &MetadataMap,
        roles: &[Role],
    ) -> Result<(Principal, Role), Status> {
        let Some(header) = metadata.get("authorization") else {
            return Err(Status::unauthenticated(
                "missing `authorization: Bearer TOKEN` metadata",
            ));
        };
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .ok_or_else(|| Status::unauthenticated("expected `authorization: Bearer TOKEN`"))?;
        let principal = self
            .by_token
            .get(token.trim())
            .ok_or_else(|| Status::unauthenticated("unknown token"))?;
        match roles.iter().find(|r| principal.roles.contains(r)) {
            Some(role) => Ok((principal.clone(), *role)),
            None => Err(Status::permission_denied(format!(
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
}

impl Tokens {
    /// The person a request's token names, if any (for the audit log of a
    /// refused call).
    pub fn identify(&self, metadata: &MetadataMap) -> Option<&Principal> {
        let token = metadata
            .get("authorization")?
            .to_str()
            .ok()?
            .strip_prefix("Bearer ")?;
        self.by_token.get(token.trim())
    }
}
