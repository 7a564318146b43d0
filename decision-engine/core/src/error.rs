//! Errors a user can cause, as data: each names the field, rule or bin and
//! says what was expected.

use std::fmt;

/// One problem with a request's input.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FieldError {
    /// `request_id`, `institution`, `product` or `features.<name>`.
    pub field: String,
    /// What was wrong and what was expected.
    pub message: String,
}

/// A request refused before evaluation, with every problem found.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct InputError {
    /// Every problem found, each naming its field.
    pub errors: Vec<FieldError>,
}

impl InputError {
    /// A refusal with a single problem, on `field`.
    pub fn one(field: impl Into<String>, message: impl Into<String>) -> Self {
        InputError {
            errors: vec![FieldError {
                field: field.into(),
                message: message.into(),
            }],
        }
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid request ({} problem{}):",
            self.errors.len(),
            plural(self.errors.len())
        )?;
        for e in &self.errors {
            write!(f, "\n  {}: {}", e.field, e.message)?;
        }
        Ok(())
    }
}

/// One problem with a policy document.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PolicyIssue {
    /// The file, or `id@version` when there is no file.
    pub document: String,
    /// Where in the document: `rules[2] RL03_OVERDUE.expression`.
    pub place: String,
    /// What is wrong and what was expected.
    pub message: String,
}

/// A policy refused at load, with every problem found.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct PolicyError {
    /// Every problem found, each naming its document and place.
    pub issues: Vec<PolicyIssue>,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid policy ({} problem{}):",
            self.issues.len(),
            plural(self.issues.len())
        )?;
        for i in &self.issues {
            if i.place.is_empty() {
                write!(f, "\n  {}: {}", i.document, i.message)?;
            } else {
                write!(f, "\n  {}: {}: {}", i.document, i.place, i.message)?;
            }
        }
        Ok(())
    }
}

/// Collects policy issues for one document.
#[derive(Debug, Default)]
pub struct Issues {
    /// The problems found so far.
    pub issues: Vec<PolicyIssue>,
}

impl Issues {
    /// Records a problem at `place` in `document`.
    pub fn push(&mut self, document: &str, place: impl Into<String>, message: impl Into<String>) {
        self.issues.push(PolicyIssue {
            document: document.to_string(),
            place: place.into(),
            message: message.into(),
        });
    }

    /// How many problems were found so far.
    pub fn len(&self) -> usize {
        self.issues.len()
    }

    /// Whether no problem was found so far.
    pub fn is_empty(&self) -> bool {
        self.issues.is_empty()
    }

    /// `Ok` when no problem was found, else a [`PolicyError`] listing them all.
    pub fn into_result(self) -> Result<(), PolicyError> {
        if self.issues.is_empty() {
            Ok(())
        } else {
            Err(PolicyError {
                issues: self.issues,
            })
        }
    }
}

/// Why an evaluation could not produce a decision.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EvaluateError {
    /// The request was refused before evaluation: bad or missing input.
    #[error(transparent)]
    Input(#[from] InputError),
    /// The policy could not be applied to this household (e.g. a division
    /// by zero in a rule); names the rule.
    #[error("{place}: {message}")]
    Policy {
        /// The rule, derived feature, step or characteristic, e.g.
        /// `rule RL_AGE`.
        place: String,
        /// What went wrong.
        message: String,
    },
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Why a stored record cannot be rendered into its decision and trace.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// The record names another policy than the one given.
    #[error("the record was made under policy {recorded}, not {given}")]
    OtherPolicy {
        /// The recorded policy hash, hex.
        recorded: String,
        /// The given policy's hash, hex.
        given: String,
    },
    /// The stored request no longer binds to the policy it was decided
    /// under.
    #[error("the stored request does not bind to its policy: {0}")]
    Request(InputError),
    /// A recorded fact does not follow from the others under the policy
    /// (a damaged record, or an engine that no longer computes alike).
    #[error("the record does not add up under its policy: {0}")]
    Inconsistent(String),
}

impl RenderError {
    /// A recorded fact that does not follow from the others.
    pub fn inconsistent(message: impl Into<String>) -> RenderError {
        RenderError::Inconsistent(message.into())
    }
}

impl From<EvaluateError> for RenderError {
    fn from(e: EvaluateError) -> RenderError {
        match e {
            EvaluateError::Input(e) => RenderError::Request(e),
            EvaluateError::Policy { place, message } => {
                RenderError::Inconsistent(format!("{place}: {message}"))
            }
        }
    }
}
