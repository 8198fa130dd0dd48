//! The `meshguard` command line: the proxy's decisions, offline, from the engine the proxy
//! runs. `check` decides one request and explains it, `lint` finds mistakes, `render` writes
//! the WasmPlugin. Native only: none of this is compiled into the .wasm.

pub mod args;
mod check;
pub mod input;
mod lint;
pub mod plugin;
mod render;
mod report;
mod request;
mod token;

use clap::Parser;
use std::io::Write;
use std::process::ExitCode;

/// Exit code of a usage, input or configuration error (clap's own code for usage errors).
pub const FAILED: u8 = 2;

/// Why a command could not run: printed as `meshguard: <message>`, exit code 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure(pub String);

/// Runs the command line; the binary's `main`.
pub fn main() -> ExitCode {
    let cli = match args::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // `--help` and `--version` are "errors" that go to stdout with code 0.
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(FAILED));
        }
    };
    let result = match &cli.command {
        args::Command::Check(a) => check::run(a),
        args::Command::Lint(a) => lint::run(a),
        args::Command::Render(a) => render::run(a).map(|out| (0, out)),
    };
    match result {
        Ok((code, out)) => {
            // A closed pipe (`| head`) is the reader's choice, not an error worth a panic.
            let _ = std::io::stdout().lock().write_all(out.as_bytes());
            ExitCode::from(code)
        }
        Err(Failure(message)) => {
            let _ = writeln!(std::io::stderr().lock(), "meshguard: {message}");
            ExitCode::from(FAILED)
        }
    }
}
