//! The names AWS's APIs give things on the local engine: the account, ARNs,
//! and how a value a client sent is quoted back in a message.

/// The account the local engine's ARNs name.
pub const ACCOUNT: &str = "123456789012";

/// A SageMaker resource's ARN; SageMaker writes the name in lower case.
pub fn arn(region: &str, kind: &str, name: &str) -> String {
    format!(
        "arn:aws:sagemaker:{region}:{ACCOUNT}:{kind}/{}",
        name.to_lowercase()
    )
}

/// A value in a message: at most 100 characters of it.
pub fn shown(value: &str) -> String {
    let mut text: String = value.chars().take(100).collect();
    if value.chars().count() > 100 {
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_are_lower_case_and_long_values_are_cut() {
        assert_eq!(
            arn("eu-west-1", "endpoint", "DEMO-Canary"),
            "arn:aws:sagemaker:eu-west-1:123456789012:endpoint/demo-canary"
        );
        let long = "x".repeat(150);
        assert_eq!(shown(&long).chars().count(), 101);
        assert_eq!(shown("short"), "short");
    }
}
