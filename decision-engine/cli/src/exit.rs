//! Exit statuses, chosen in one place. Every command ends in an [`Exit`]
//! or a [`Failure`]; [`report`] prints a failure's message and picks the
//! status:
//!
//! | status | meaning |
//! |---|---|
//! | 0 | done |
//! | 1 | a policy document is invalid, or the server refused the call (policy registry, pre-credit register) |
//! | 2 | the request or input is invalid (nothing was evaluated or recorded) |
//! | 3 | anything else failed: a file, the store, the network |
//! | 4 | a batch finished, but some rows are ERROR (see its errors file) |
//!
//! One status is not chosen here: a second Ctrl-C or SIGTERM while a batch
//! winds down ends the process at once with 130, from the signal handler
//! `decision_batch` installs (the first one stops the run cleanly, exit 3).

use std::process::ExitCode;

/// How a command that did its work ended.
pub enum Exit {
    Done,
    /// A batch finished with ERROR rows.
    RowErrors,
}

/// Why a command did not do its work. The message (possibly empty, when
/// the command already said why) goes to standard error.
#[derive(Debug)]
pub enum Failure {
    Policy(String),
    Input(String),
    Other(String),
}

impl Failure {
    fn status(&self) -> u8 {
        match self {
            Failure::Policy(_) => 1,
            Failure::Input(_) => 2,
            Failure::Other(_) => 3,
        }
    }

    fn message(&self) -> &str {
        match self {
            Failure::Policy(m) | Failure::Input(m) | Failure::Other(m) => m,
        }
    }
}

/// Prints the failure, if any, and returns the exit status.
pub fn report(result: Result<Exit, Failure>) -> ExitCode {
    match result {
        Ok(Exit::Done) => ExitCode::SUCCESS,
        Ok(Exit::RowErrors) => ExitCode::from(4),
        Err(failure) => {
            if !failure.message().is_empty() {
                eprintln!("{}", failure.message());
            }
            ExitCode::from(failure.status())
        }
    }
}
