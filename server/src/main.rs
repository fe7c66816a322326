//! The `guardrail` binary: see `guardrail --help`.

use std::process::ExitCode;

fn main() -> ExitCode {
    guardrail_server::cli::main()
}
