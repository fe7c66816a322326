//! Helpers shared by the tests that use AWS's own tools. Each test binary
//! uses some of them.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// The workspace root.
pub fn workspace() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// A program of the Python virtual environment `scripts/setup.sh --python`
/// makes (`GUARDRAIL_VENV` overrides where it is). These tests need AWS's own
/// tools: without them they fail and say how to install them.
pub fn venv_bin(name: &str) -> PathBuf {
    let venv = std::env::var_os("GUARDRAIL_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join(".venv"));
    let path = venv.join("bin").join(name);
    assert!(
        path.exists(),
        "{} is missing: run `scripts/setup.sh --python` (scripts/test.sh does) to install botocore, \
         boto3, the AWS CLI and cfn-lint",
        path.display()
    );
    path
}

/// Runs a Python program in the venv with `input` on standard input.
pub fn python(program: &str, input: &str) -> Output {
    run(
        Command::new(venv_bin("python")).arg("-c").arg(program),
        input,
    )
}

/// Runs `command` with `input` on standard input and waits for it.
pub fn run(command: &mut Command, input: &str) -> Output {
    use std::io::Write;
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the program starts");
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input.as_bytes()).expect("write stdin");
    }
    child.wait_with_output().expect("the program finishes")
}
