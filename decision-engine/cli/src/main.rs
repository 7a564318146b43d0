//! `decision-engine`: the command line for everything a person does by hand.
//! Parsing and dispatch only: each command is a module of [`commands`], the
//! work is in the library crates, and [`exit`] is the one place an outcome
//! becomes an exit status.

#![forbid(unsafe_code)]

mod commands;
mod exit;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = commands::Cli::parse();
    exit::report(commands::run(cli))
}
