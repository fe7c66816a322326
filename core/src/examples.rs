//! The example plans shipped in `examples/`, compiled in so that the planner's
//! presets, the CLI and the tests all use the very same files.

pub const NOTEBOOK_CANARY: &str = include_str!("../../examples/notebook-canary.json");
pub const NOTEBOOK_LINEAR: &str = include_str!("../../examples/notebook-linear.json");
pub const ALL_AT_ONCE: &str = include_str!("../../examples/all-at-once.json");
pub const ROLLING: &str = include_str!("../../examples/rolling.json");
/// Two hours of linear steps with ten rollback alarms: a long, busy record.
pub const LINEAR_2H_10_ALARMS: &str = include_str!("../../examples/linear-2h-10-alarms.json");
/// The seed notebook's canary with the guardrails production teams write: a
/// new-fleet 5XX rate by metric math, the client's own error rate at 10-second
/// resolution, a business metric, and a composite alarm that pages.
pub const TEAM_GUARDRAILS: &str = include_str!("../../examples/team-guardrails.json");
/// A bare `DeploymentConfig`, as `aws sagemaker update-endpoint --deployment-config` takes it.
pub const DEPLOYMENT_CONFIG_CANARY: &str =
    include_str!("../../examples/deployment-config-canary.json");

/// Every example plan with its file name.
pub const ALL: [(&str, &str); 6] = [
    ("notebook-canary.json", NOTEBOOK_CANARY),
    ("notebook-linear.json", NOTEBOOK_LINEAR),
    ("all-at-once.json", ALL_AT_ONCE),
    ("rolling.json", ROLLING),
    ("linear-2h-10-alarms.json", LINEAR_2H_10_ALARMS),
    ("team-guardrails.json", TEAM_GUARDRAILS),
];

/// The notebook canary as a parsed plan. The file is part of the build and is
/// tested to parse, so a failure here is a build defect, not user input.
pub fn notebook_canary() -> crate::plan::Plan {
    crate::plan::Plan::from_json(NOTEBOOK_CANARY).unwrap_or_else(|error| {
        unreachable!("examples/notebook-canary.json does not parse: {error}")
    })
}

/// `plan` with a copy of its first alarm on the new fleet alone
/// (`EndpointConfigName`), named `name` and listed for rollback: what tests
/// of new-fleet alarms start from.
#[cfg(test)]
pub(crate) fn with_new_fleet_copy(mut plan: crate::plan::Plan, name: &str) -> crate::plan::Plan {
    let mut alarm = plan.alarms[0].clone();
    alarm.alarm_name = name.to_string();
    alarm.dimensions.push(crate::plan::Dimension::new(
        "EndpointConfigName",
        &plan.endpoint_config_name,
    ));
    if let Some(rollback) = plan
        .deployment_config
        .as_mut()
        .and_then(|config| config.auto_rollback_configuration.as_mut())
    {
        rollback.alarms.push(crate::plan::AlarmRef {
            alarm_name: alarm.alarm_name.clone(),
        });
    }
    plan.alarms.push(alarm);
    plan
}
