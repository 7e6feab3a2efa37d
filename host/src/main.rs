//! `host`: the tinyconv command line (see `host --help`).
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    match host::cli::run(host::cli::Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // The error and its causes on one line, without a backtrace.
            eprintln!("error: {:#}", anyhow::Error::from(e));
            ExitCode::FAILURE
        }
    }
}
