//! `host`: the tinyconv command line (see `host --help`).
use clap::Parser;

fn main() -> anyhow::Result<()> {
    host::cli::run(host::cli::Cli::parse())?;
    Ok(())
}
