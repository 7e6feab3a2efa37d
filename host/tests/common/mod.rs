//! Shared by the CLI tests: running the `host` binary.

use std::process::Command;

/// Runs `host` with `args`; returns success, stdout and stderr.
pub fn host(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_host"))
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("host runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
