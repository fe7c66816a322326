//! What the command line prints, and the exit code each failure gives.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | the plan is invalid, or a rollout did not end on the new config |
//! | 2 | the input could not be read or is not a plan, or an argument is out of range |
//! | 3 | the engine or server refused: a busy endpoint, an unknown endpoint, config or run, an abort too late |
//! | 4 | guardrail could not do its work: a port in use, a store it cannot write, a server it cannot reach |
//! | 5 | guardrail stopped watching a SageMaker update before it ended: SageMaker carries on |

use guardrail_app::api::{ErrorKind, ServiceError};

use crate::engine::EngineError;

/// Writes to standard output, ignoring a closed pipe (`guardrail ... | head`).
pub fn emit(text: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}

/// `println!` that never panics on a closed pipe.
macro_rules! say {
    () => { $crate::output::emit("\n") };
    ($($arg:tt)*) => { $crate::output::emit(&format!("{}\n", format_args!($($arg)*))) };
}
pub(crate) use say;

/// A failure that ends a command with a message and an exit code.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The plan is not valid (exit 1).
    #[error("{0}")]
    Invalid(String),
    /// The rollout rolled back, failed or was aborted (exit 1).
    #[error("{0}")]
    Rollback(String),
    /// The input could not be read, is not a plan, or an argument is out of range (exit 2).
    #[error("{0}")]
    Input(String),
    /// The engine or the server refused the request (exit 3).
    #[error("{0}")]
    Refused(String),
    /// guardrail could not do its work (exit 4).
    #[error("{0}")]
    Failed(String),
    /// guardrail stopped watching a SageMaker update before it ended (exit 5).
    #[error("{0}")]
    Unwatched(String),
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Invalid(_) | Self::Rollback(_) => 1,
            Self::Input(_) => 2,
            Self::Refused(_) => 3,
            Self::Failed(_) => 4,
            Self::Unwatched(_) => 5,
        }
    }

    fn of_kind(kind: ErrorKind, message: String) -> CliError {
        match kind {
            ErrorKind::Invalid => Self::Invalid(message),
            ErrorKind::Input => Self::Input(message),
            ErrorKind::Refused | ErrorKind::Unauthorized => Self::Refused(message),
            ErrorKind::Failed | ErrorKind::Unreachable => Self::Failed(message),
        }
    }
}

impl From<EngineError> for CliError {
    fn from(error: EngineError) -> Self {
        CliError::of_kind(crate::backend::error_kind(&error), error.to_string())
    }
}

impl From<ServiceError> for CliError {
    fn from(error: ServiceError) -> Self {
        CliError::of_kind(error.kind, error.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_errors_exit_with_the_code_of_their_kind() {
        let busy = EngineError::Busy {
            endpoint: "e".into(),
            run: "r".into(),
        };
        assert_eq!(CliError::from(busy).exit_code(), 3);
        assert_eq!(
            CliError::from(EngineError::InvalidPlan("x".into())).exit_code(),
            1
        );
        assert_eq!(CliError::from(EngineError::TimeScale(0.5)).exit_code(), 2);
        assert_eq!(
            CliError::from(EngineError::Instances("x".into())).exit_code(),
            4
        );
        let remote = ServiceError::new(ErrorKind::Refused, "busy");
        assert_eq!(CliError::from(remote).exit_code(), 3);
    }
}
