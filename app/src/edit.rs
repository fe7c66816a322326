//! Pure edits of a plan, one per control in the designer.
//!
//! The designer never pokes at nested `Option`s itself: each control calls one of
//! these functions, which keep the plan in SageMaker's shape (for example, moving
//! from canary to rolling moves the size into `RollingUpdatePolicy` and keeps the
//! waits). They are plain functions so that they are tested natively.

use guardrail_core::alarm::Metric;
use guardrail_core::field::limits::MAX_ALARMS;
use guardrail_core::field::Field;
use guardrail_core::plan::{
    AlarmRef, AutoRollbackConfig, BlueGreenUpdatePolicy, CapacitySize, CapacitySizeType,
    ComparisonOperator, DeploymentConfig, Dimension, MetricAlarm, Plan, RollingUpdatePolicy,
    Statistic, TrafficRoutingConfig, TrafficRoutingType, TreatMissingData,
};

/// The four ways to shift traffic, as the designer offers them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    AllAtOnce,
    Canary,
    Linear,
    Rolling,
}

impl Mode {
    pub const ALL: [Mode; 4] = [Mode::AllAtOnce, Mode::Canary, Mode::Linear, Mode::Rolling];

    pub fn label(self) -> &'static str {
        match self {
            Mode::AllAtOnce => "All at once",
            Mode::Canary => "Canary",
            Mode::Linear => "Linear",
            Mode::Rolling => "Rolling",
        }
    }

    pub fn id(self) -> &'static str {
        match self {
            Mode::AllAtOnce => "all-at-once",
            Mode::Canary => "canary",
            Mode::Linear => "linear",
            Mode::Rolling => "rolling",
        }
    }
}

/// The plan's mode; a plan without an update policy is all at once, as on SageMaker.
pub fn mode(plan: &Plan) -> Mode {
    let Some(config) = &plan.deployment_config else {
        return Mode::AllAtOnce;
    };
    if config.rolling_update_policy.is_some() && config.blue_green_update_policy.is_none() {
        return Mode::Rolling;
    }
    match config
        .blue_green_update_policy
        .as_ref()
        .and_then(|policy| policy.traffic_routing_configuration.as_ref())
        .and_then(|routing| routing.kind)
    {
        Some(TrafficRoutingType::Canary) => Mode::Canary,
        Some(TrafficRoutingType::Linear) => Mode::Linear,
        _ => Mode::AllAtOnce,
    }
}

fn config(plan: &mut Plan) -> &mut DeploymentConfig {
    plan.deployment_config.get_or_insert_with(Default::default)
}

fn blue_green(plan: &mut Plan) -> &mut BlueGreenUpdatePolicy {
    config(plan)
        .blue_green_update_policy
        .get_or_insert_with(Default::default)
}

fn routing(plan: &mut Plan) -> &mut TrafficRoutingConfig {
    blue_green(plan)
        .traffic_routing_configuration
        .get_or_insert_with(Default::default)
}

fn rolling(plan: &mut Plan) -> &mut RollingUpdatePolicy {
    config(plan)
        .rolling_update_policy
        .get_or_insert_with(Default::default)
}

/// The step size of the current mode: canary size, linear step or rolling batch.
pub fn size(plan: &Plan) -> Option<CapacitySize> {
    let config = plan.deployment_config.as_ref()?;
    match mode(plan) {
        Mode::AllAtOnce => None,
        Mode::Canary => config
            .blue_green_update_policy
            .as_ref()?
            .traffic_routing_configuration
            .as_ref()?
            .canary_size
            .clone(),
        Mode::Linear => config
            .blue_green_update_policy
            .as_ref()?
            .traffic_routing_configuration
            .as_ref()?
            .linear_step_size
            .clone(),
        Mode::Rolling => config
            .rolling_update_policy
            .as_ref()?
            .maximum_batch_size
            .clone(),
    }
}

/// The wait between steps of the current mode.
pub fn wait(plan: &Plan) -> Option<i64> {
    let config = plan.deployment_config.as_ref()?;
    match mode(plan) {
        Mode::Rolling => {
            config
                .rolling_update_policy
                .as_ref()?
                .wait_interval_in_seconds
        }
        _ => {
            config
                .blue_green_update_policy
                .as_ref()?
                .traffic_routing_configuration
                .as_ref()?
                .wait_interval_in_seconds
        }
    }
}

/// The execution timeout of the current mode's policy.
pub fn timeout(plan: &Plan) -> Option<i64> {
    let config = plan.deployment_config.as_ref()?;
    match mode(plan) {
        Mode::Rolling => {
            config
                .rolling_update_policy
                .as_ref()?
                .maximum_execution_timeout_in_seconds
        }
        _ => {
            config
                .blue_green_update_policy
                .as_ref()?
                .maximum_execution_timeout_in_seconds
        }
    }
}

pub fn termination_wait(plan: &Plan) -> Option<i64> {
    plan.deployment_config
        .as_ref()?
        .blue_green_update_policy
        .as_ref()?
        .termination_wait_in_seconds
}

pub fn rollback_batch(plan: &Plan) -> Option<CapacitySize> {
    plan.deployment_config
        .as_ref()?
        .rolling_update_policy
        .as_ref()?
        .rollback_maximum_batch_size
        .clone()
}

/// Switches the mode, carrying over the size, the wait and the timeout.
pub fn set_mode(plan: &mut Plan, new_mode: Mode) {
    if mode(plan) == new_mode && plan.deployment_config.is_some() {
        return;
    }
    let size = size(plan).unwrap_or_else(|| CapacitySize::instances(1));
    // All at once waits 0 s (it has no steps), so it has no wait to carry over.
    let wait = if mode(plan) == Mode::AllAtOnce {
        None
    } else {
        wait(plan)
    }
    .or(Some(300));
    let timeout = timeout(plan);
    let termination_wait = termination_wait(plan).or(Some(0));
    let rollback = plan
        .deployment_config
        .as_ref()
        .and_then(|config| config.auto_rollback_configuration.clone());
    plan.deployment_config = Some(DeploymentConfig {
        auto_rollback_configuration: rollback,
        ..DeploymentConfig::default()
    });
    match new_mode {
        Mode::Rolling => {
            *rolling(plan) = RollingUpdatePolicy {
                maximum_batch_size: Some(size),
                wait_interval_in_seconds: wait,
                maximum_execution_timeout_in_seconds: timeout,
                rollback_maximum_batch_size: None,
            };
        }
        Mode::AllAtOnce | Mode::Canary | Mode::Linear => {
            let kind = match new_mode {
                Mode::Canary => TrafficRoutingType::Canary,
                Mode::Linear => TrafficRoutingType::Linear,
                _ => TrafficRoutingType::AllAtOnce,
            };
            *blue_green(plan) = BlueGreenUpdatePolicy {
                traffic_routing_configuration: Some(TrafficRoutingConfig {
                    kind: Some(kind),
                    // SageMaker requires the wait for every type; with one step
                    // there is nothing to wait between.
                    wait_interval_in_seconds: if kind == TrafficRoutingType::AllAtOnce {
                        Some(0)
                    } else {
                        wait
                    },
                    canary_size: (kind == TrafficRoutingType::Canary).then(|| size.clone()),
                    linear_step_size: (kind == TrafficRoutingType::Linear).then(|| size.clone()),
                }),
                termination_wait_in_seconds: termination_wait,
                maximum_execution_timeout_in_seconds: timeout,
            };
        }
    }
}

/// Switches mode as [`set_mode`] does, remembering in `left` the
/// deployment config of the mode left behind, and bringing back the one
/// `new_mode` had when it was last left, so that Canary → Rolling → Canary
/// ends where it began. The rollback alarms are the plan's, as they are now.
pub fn switch_mode(plan: &mut Plan, new_mode: Mode, left: &mut Vec<(Mode, DeploymentConfig)>) {
    let old_mode = mode(plan);
    if old_mode == new_mode && plan.deployment_config.is_some() {
        return;
    }
    if let Some(config) = plan.deployment_config.clone() {
        left.retain(|(mode, _)| *mode != old_mode);
        left.push((old_mode, config));
    }
    match left.iter().position(|(mode, _)| *mode == new_mode) {
        Some(index) => {
            let (_, mut config) = left.remove(index);
            config.auto_rollback_configuration = plan
                .deployment_config
                .as_ref()
                .and_then(|config| config.auto_rollback_configuration.clone());
            plan.deployment_config = Some(config);
        }
        None => set_mode(plan, new_mode),
    }
}

pub fn set_size(plan: &mut Plan, kind: Option<CapacitySizeType>, value: Option<i64>) {
    let size = CapacitySize { kind, value };
    match mode(plan) {
        Mode::AllAtOnce => {}
        Mode::Canary => routing(plan).canary_size = Some(size),
        Mode::Linear => routing(plan).linear_step_size = Some(size),
        Mode::Rolling => rolling(plan).maximum_batch_size = Some(size),
    }
}

pub fn set_wait(plan: &mut Plan, value: Option<i64>) {
    match mode(plan) {
        Mode::Rolling => rolling(plan).wait_interval_in_seconds = value,
        _ => routing(plan).wait_interval_in_seconds = value,
    }
}

pub fn set_timeout(plan: &mut Plan, value: Option<i64>) {
    match mode(plan) {
        Mode::Rolling => rolling(plan).maximum_execution_timeout_in_seconds = value,
        _ => blue_green(plan).maximum_execution_timeout_in_seconds = value,
    }
}

pub fn set_termination_wait(plan: &mut Plan, value: Option<i64>) {
    if mode(plan) != Mode::Rolling {
        blue_green(plan).termination_wait_in_seconds = value;
    }
}

/// Sets (or with `None` removes) the rolling rollback batch size.
pub fn set_rollback_batch(plan: &mut Plan, size: Option<CapacitySize>) {
    if mode(plan) == Mode::Rolling {
        rolling(plan).rollback_maximum_batch_size = size;
    }
}

/// Whether the alarm is listed in `AutoRollbackConfiguration`.
pub fn is_rollback_alarm(plan: &Plan, name: &str) -> bool {
    plan.rollback_alarm_names().contains(&name)
}

/// Lists or unlists an alarm for rollback; an empty list removes the configuration.
pub fn set_rollback_alarm(plan: &mut Plan, name: &str, enabled: bool) {
    let config = config(plan);
    let rollback = config
        .auto_rollback_configuration
        .get_or_insert_with(AutoRollbackConfig::default);
    rollback.alarms.retain(|alarm| alarm.alarm_name != name);
    if enabled {
        rollback.alarms.push(AlarmRef {
            alarm_name: name.to_string(),
        });
    }
    if rollback.alarms.is_empty() {
        config.auto_rollback_configuration = None;
    }
}

/// Whether the alarm watches only the new fleet (has `EndpointConfigName`).
pub fn is_new_fleet_only(alarm: &MetricAlarm) -> bool {
    alarm
        .dimensions
        .iter()
        .any(|dimension| dimension.name == "EndpointConfigName")
}

/// Rewrites an alarm's dimensions to watch this plan's endpoint, endpoint-wide or
/// new fleet only.
pub fn set_scope(plan: &Plan, alarm: &mut MetricAlarm, new_fleet_only: bool) {
    alarm.dimensions = scope_dimensions(plan, new_fleet_only);
}

fn scope_dimensions(plan: &Plan, new_fleet_only: bool) -> Vec<Dimension> {
    let mut dimensions = vec![
        Dimension::new("EndpointName", &plan.endpoint_name),
        Dimension::new("VariantName", &plan.variant_name),
    ];
    if new_fleet_only {
        dimensions.push(Dimension::new(
            "EndpointConfigName",
            &plan.endpoint_config_name,
        ));
    }
    dimensions
}

/// Renames the endpoint, the variant or the new config, keeping alarm dimensions
/// pointed at the plan: a dimension of that name that held the old value takes
/// the new one. (The three plan fields share their names with the dimensions.)
pub fn rename_endpoint(plan: &mut Plan, field: Field, value: String) {
    let (old, dimension_name) = match field {
        Field::EndpointName => (
            std::mem::replace(&mut plan.endpoint_name, value.clone()),
            "EndpointName",
        ),
        Field::VariantName => (
            std::mem::replace(&mut plan.variant_name, value.clone()),
            "VariantName",
        ),
        Field::EndpointConfigName => (
            std::mem::replace(&mut plan.endpoint_config_name, value.clone()),
            "EndpointConfigName",
        ),
        _ => return,
    };
    for alarm in &mut plan.alarms {
        for dimension in &mut alarm.dimensions {
            if dimension.name == dimension_name && dimension.value == old {
                dimension.value = value.clone();
            }
        }
    }
}

/// Renames an alarm, keeping its rollback listing.
pub fn rename_alarm(plan: &mut Plan, index: usize, name: String) {
    let Some(alarm) = plan.alarms.get_mut(index) else {
        return;
    };
    let old = std::mem::replace(&mut alarm.alarm_name, name.clone());
    if let Some(rollback) = plan
        .deployment_config
        .as_mut()
        .and_then(|config| config.auto_rollback_configuration.as_mut())
    {
        for reference in &mut rollback.alarms {
            if reference.alarm_name == old {
                reference.alarm_name = name.clone();
            }
        }
    }
}

/// Adds a new-fleet 5XX alarm with a unique name and lists it for rollback.
pub fn add_alarm(plan: &mut Plan) -> Option<usize> {
    if plan.alarms.len() >= MAX_ALARMS {
        return None;
    }
    let name = unused_name(plan, plan.alarms.len() + 1, |number| {
        format!("{}-new-fleet-errors-{number}", plan.endpoint_name)
    });
    let alarm = MetricAlarm {
        alarm_name: name.clone(),
        namespace: "AWS/SageMaker".into(),
        metric_name: Metric::Invocation5XXErrors.as_str().into(),
        dimensions: scope_dimensions(plan, true),
        statistic: Some(Statistic::Average),
        period: Some(60),
        evaluation_periods: Some(1),
        datapoints_to_alarm: None,
        threshold: Some(0.05),
        comparison_operator: Some(ComparisonOperator::GreaterThanOrEqualToThreshold),
        // Green publishes nothing before it serves: see the lint's
        // `new_fleet_breaching`.
        treat_missing_data: Some(TreatMissingData::NotBreaching),
        ..MetricAlarm::default()
    };
    plan.alarms.push(alarm);
    set_rollback_alarm(plan, &name, true);
    Some(plan.alarms.len() - 1)
}

/// The one-click fix for an endpoint-wide alarm that cannot fire while
/// green's share is small: the same alarm on the new fleet alone
/// (`EndpointConfigName`), listed for rollback. For an error metric's
/// `Average`, its threshold is the highest of a few fractions of the
/// scenario's green error rate that catches the regression in the share of
/// seeded runs the plan requires (200 runs each) without firing on a
/// healthy green. Returns the plan with it added, and the alarm's index.
pub fn add_new_fleet_alarm(plan: &Plan, index: usize) -> Option<(Plan, usize)> {
    use guardrail_core::alarm::Metric;
    use guardrail_core::simulate::detect;
    use guardrail_core::verdict::false_alarm;
    if plan.alarms.len() >= MAX_ALARMS {
        return None;
    }
    let original = plan.alarms.get(index)?;
    let mut alarm = original.clone();
    alarm.alarm_name = unused_name(plan, 1, |number| match number {
        1 => format!("{}-new-fleet", original.alarm_name),
        _ => format!("{}-new-fleet-{number}", original.alarm_name),
    });
    alarm.dimensions = scope_dimensions(plan, true);
    let name = alarm.alarm_name.clone();
    let with = |threshold: Option<f64>| {
        let mut next = plan.clone();
        let mut alarm = alarm.clone();
        if threshold.is_some() {
            alarm.threshold = threshold;
        }
        next.alarms.push(alarm);
        set_rollback_alarm(&mut next, &name, true);
        next
    };
    let flag_average = Metric::from_name(&original.metric_name)
        .is_some_and(|metric| metric.is_per_request_flag())
        && original.statistic == Some(Statistic::Average);
    let scenario = plan.scenario_or_default();
    let rate = scenario.green.error_rate;
    if !flag_average || rate <= 0.0 {
        return Some((with(None), plan.alarms.len()));
    }
    let candidates = [0.5, 0.25, 0.1].map(|fraction| {
        // Thresholds people can read: two significant digits.
        let raw = rate * fraction;
        let scale = 10f64.powi(1 - raw.log10().floor() as i32);
        (raw * scale).round() / scale
    });
    let catches = |candidate: &Plan| {
        let Some(rollout) = guardrail_core::check(candidate).rollout else {
            return false;
        };
        false_alarm(&rollout, &scenario).ok().flatten().is_none()
            && detect(&rollout, &scenario, 200)
                .is_ok_and(|detection| detection.probability >= scenario.required_detection())
    };
    let chosen = candidates
        .iter()
        .map(|threshold| with(Some(*threshold)))
        .find(|candidate| catches(candidate))
        .unwrap_or_else(|| with(Some(candidates[candidates.len() - 1])));
    Some((chosen, plan.alarms.len()))
}

/// The alarm a problem's path is in: `Alarms[2].Threshold` is alarm 2.
pub fn alarm_index(path: &str) -> Option<usize> {
    path.strip_prefix("Alarms[")?
        .split(']')
        .next()?
        .parse()
        .ok()
}

/// The first of `name(first)`, `name(first + 1)`, … that no alarm of `plan`
/// has.
fn unused_name(plan: &Plan, first: usize, name: impl Fn(usize) -> String) -> String {
    (first..)
        .map(name)
        .find(|candidate| {
            !plan
                .alarms
                .iter()
                .any(|alarm| alarm.alarm_name == *candidate)
        })
        .unwrap_or_default()
}

/// Removes an alarm and its rollback listing.
pub fn remove_alarm(plan: &mut Plan, index: usize) {
    if index >= plan.alarms.len() {
        return;
    }
    let removed = plan.alarms.remove(index);
    if is_rollback_alarm(plan, &removed.alarm_name) {
        set_rollback_alarm(plan, &removed.alarm_name, false);
    }
}

/// The statistic as the designer shows it: "Average", "p99"...
pub fn statistic_label(alarm: &MetricAlarm) -> String {
    match (&alarm.statistic, &alarm.extended_statistic) {
        (Some(statistic), _) => statistic.as_str().to_string(),
        (None, Some(extended)) => extended.clone(),
        (None, None) => String::new(),
    }
}

/// The threshold's label, saying what the number means for the alarm's
/// metric and statistic: the `Average` of an error metric is a fraction of
/// requests, its `Sum` a count per period, its extremes 0 or 1.
pub fn threshold_label(alarm: &MetricAlarm) -> String {
    use guardrail_core::alarm::Metric;
    let statistic = statistic_label(alarm);
    let Some(metric) = Metric::from_name(&alarm.metric_name) else {
        return "Threshold".into();
    };
    let period = alarm
        .period
        .map(|seconds| format!("per {seconds} s period"))
        .unwrap_or_else(|| "per period".into());
    let meaning = match statistic.as_str() {
        "" => return format!("Threshold ({})", metric.unit()),
        "SampleCount" => format!("requests {period}"),
        "Average" if metric.is_per_request_flag() => "fraction of requests, 0 to 1".into(),
        "Sum" if metric.is_per_request_flag() => format!("failed requests {period}, a count"),
        "Sum" if metric.unit() == "count" => format!("requests {period}, a count"),
        "Sum" => format!("{} summed {period}", metric.unit()),
        _ if metric.is_per_request_flag() => "0 or 1 per request".into(),
        _ => metric.unit().to_string(),
    };
    format!("Threshold ({statistic}: {meaning})")
}

/// Sets a statistic from its label: one of the five basic ones, or a percentile.
pub fn set_statistic(alarm: &mut MetricAlarm, label: &str) {
    match Statistic::ALL
        .into_iter()
        .find(|statistic| statistic.as_str() == label)
    {
        Some(statistic) => {
            alarm.statistic = Some(statistic);
            alarm.extended_statistic = None;
        }
        None => {
            alarm.statistic = None;
            alarm.extended_statistic = (!label.is_empty()).then(|| label.to_string());
        }
    }
}

pub use guardrail_core::import::{import, Import, Imported};

#[cfg(test)]
mod tests {
    use super::*;
    use guardrail_core::{check, examples};

    #[test]
    fn switching_modes_keeps_the_size_wait_and_timeout() {
        let mut plan = examples::notebook_canary();
        set_mode(&mut plan, Mode::Rolling);
        assert_eq!(mode(&plan), Mode::Rolling);
        assert_eq!(size(&plan), Some(CapacitySize::instances(1)));
        assert_eq!(wait(&plan), Some(300));
        assert_eq!(timeout(&plan), Some(1800));
        assert!(check(&plan).report.is_valid(), "{:?}", check(&plan).report);
        set_mode(&mut plan, Mode::Linear);
        assert_eq!(mode(&plan), Mode::Linear);
        assert_eq!(size(&plan), Some(CapacitySize::instances(1)));
        set_mode(&mut plan, Mode::AllAtOnce);
        assert_eq!(mode(&plan), Mode::AllAtOnce);
        // SageMaker requires WaitIntervalInSeconds even with one step.
        assert_eq!(wait(&plan), Some(0));
        assert!(check(&plan).report.is_valid(), "{:?}", check(&plan).report);
        set_mode(&mut plan, Mode::Canary);
        assert_eq!(wait(&plan), Some(300));
        // The rollback alarms survive every switch.
        assert_eq!(plan.rollback_alarm_names().len(), 2);
    }

    #[test]
    fn switching_mode_and_back_restores_what_the_user_had() {
        let mut plan = examples::notebook_canary();
        set_termination_wait(&mut plan, Some(120));
        let before = plan.clone();
        let mut left = Vec::new();
        switch_mode(&mut plan, Mode::Rolling, &mut left);
        assert_eq!(mode(&plan), Mode::Rolling);
        // set_mode alone loses the final bake (Rolling has none).
        let mut lossy = plan.clone();
        set_mode(&mut lossy, Mode::Canary);
        assert_eq!(termination_wait(&lossy), Some(0));
        // An alarm removed from rollback while in Rolling stays removed.
        plan.deployment_config
            .as_mut()
            .and_then(|config| config.auto_rollback_configuration.as_mut())
            .map(|rollback| rollback.alarms.pop());
        switch_mode(&mut plan, Mode::Canary, &mut left);
        assert_eq!(termination_wait(&plan), Some(120));
        assert_eq!(
            plan.deployment_config
                .as_ref()
                .and_then(|config| config.blue_green_update_policy.clone()),
            before
                .deployment_config
                .as_ref()
                .and_then(|config| config.blue_green_update_policy.clone())
        );
        assert_eq!(plan.rollback_alarm_names().len(), 1);
        // And Rolling comes back as it was left.
        switch_mode(&mut plan, Mode::Rolling, &mut left);
        assert_eq!(wait(&plan), Some(300));
    }

    #[test]
    fn the_threshold_label_follows_the_metric_and_statistic() {
        let mut alarm = examples::notebook_canary().alarms[0].clone();
        alarm.metric_name = "InvocationModelErrors".into();
        set_statistic(&mut alarm, "Average");
        assert_eq!(
            threshold_label(&alarm),
            "Threshold (Average: fraction of requests, 0 to 1)"
        );
        set_statistic(&mut alarm, "Sum");
        assert_eq!(
            threshold_label(&alarm),
            format!(
                "Threshold (Sum: failed requests per {} s period, a count)",
                alarm.period.unwrap_or_default()
            )
        );
        set_statistic(&mut alarm, "p99");
        assert_eq!(
            threshold_label(&alarm),
            "Threshold (p99: 0 or 1 per request)"
        );
        alarm.metric_name = "ModelLatency".into();
        assert_eq!(threshold_label(&alarm), "Threshold (p99: microseconds)");
        set_statistic(&mut alarm, "SampleCount");
        assert!(threshold_label(&alarm).starts_with("Threshold (SampleCount: requests per"));
    }

    #[test]
    fn the_one_click_fix_adds_a_new_fleet_alarm_that_catches_the_regression_and_clears_the_warning()
    {
        let mut plan = examples::notebook_canary();
        let mut scenario = plan.scenario_or_default();
        scenario.green.error_rate = 0.2;
        plan.scenario = Some(scenario.clone());
        let blind = |plan: &Plan| {
            check(plan)
                .report
                .warnings
                .iter()
                .any(|warning| warning.code == "alarm_blind_in_phase")
        };
        assert!(blind(&plan));
        let (fixed, index) = add_new_fleet_alarm(&plan, 0).expect("room for one more");
        let added = &fixed.alarms[index];
        assert_eq!(
            added.alarm_name,
            "TestAlarm-5XXErrors-guardrail-demo-new-fleet"
        );
        assert!(added
            .dimensions
            .iter()
            .any(|dimension| dimension.name == "EndpointConfigName"
                && dimension.value == plan.endpoint_config_name));
        assert!(fixed
            .rollback_alarm_names()
            .contains(&added.alarm_name.as_str()));
        // Half of green's 20 % error rate.
        assert_eq!(added.threshold, Some(0.1));
        assert!(!blind(&fixed), "{:?}", check(&fixed).report.warnings);
        let rollout = check(&fixed).rollout.expect("valid");
        let detection =
            guardrail_core::simulate::detect(&rollout, &scenario, 1_000).expect("detects");
        assert!(detection.probability >= 0.9, "{detection:?}");
        assert_eq!(alarm_index("Alarms[12].Threshold"), Some(12));
        assert_eq!(alarm_index("Timeout"), None);
        // Again: another name, never a duplicate.
        let (again, index) = add_new_fleet_alarm(&fixed, 0).expect("room");
        assert_eq!(
            again.alarms[index].alarm_name,
            "TestAlarm-5XXErrors-guardrail-demo-new-fleet-2"
        );
    }

    #[test]
    fn renaming_the_endpoint_keeps_alarms_pointed_at_it() {
        let mut plan = examples::notebook_canary();
        rename_endpoint(&mut plan, Field::EndpointName, "prod-churn".into());
        assert!(plan
            .alarms
            .iter()
            .all(|alarm| alarm.dimensions[0].value == "prod-churn"));
        assert!(check(&plan).report.errors.is_empty());
    }

    #[test]
    fn adding_scoping_and_removing_alarms() {
        let mut plan = examples::notebook_canary();
        let index = add_alarm(&mut plan).expect("room for one more");
        let name = plan.alarms[index].alarm_name.clone();
        assert!(is_new_fleet_only(&plan.alarms[index]));
        assert!(is_rollback_alarm(&plan, &name));
        assert!(check(&plan).report.is_valid());
        let mut alarm = plan.alarms[index].clone();
        set_scope(&plan, &mut alarm, false);
        assert!(!is_new_fleet_only(&alarm));
        rename_alarm(&mut plan, index, "renamed".into());
        assert!(is_rollback_alarm(&plan, "renamed"));
        remove_alarm(&mut plan, index);
        assert!(!is_rollback_alarm(&plan, "renamed"));
        assert_eq!(plan.alarms.len(), 2);
        while add_alarm(&mut plan).is_some() {}
        assert_eq!(plan.alarms.len(), MAX_ALARMS);
    }

    #[test]
    fn statistics_switch_between_basic_and_percentile() {
        let mut alarm = examples::notebook_canary().alarms[1].clone();
        set_statistic(&mut alarm, "p99");
        assert_eq!(
            (alarm.statistic, alarm.extended_statistic.as_deref()),
            (None, Some("p99"))
        );
        set_statistic(&mut alarm, "Maximum");
        assert_eq!(statistic_label(&alarm), "Maximum");
        assert_eq!(alarm.extended_statistic, None);
    }

    fn imported(result: Result<Import, String>) -> Imported {
        match result {
            Ok(found) => {
                assert_eq!(found.dropped, Vec::<String>::new());
                found.imported
            }
            Err(error) => panic!("{error}"),
        }
    }

    #[test]
    fn import_takes_plans_deployment_configs_and_links() {
        let current = examples::notebook_canary();
        match imported(import(&current, examples::DEPLOYMENT_CONFIG_CANARY)) {
            Imported::DeploymentConfig(plan) => {
                assert_eq!(plan.endpoint_name, current.endpoint_name);
                assert_eq!(plan.deployment_config, current.deployment_config);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            imported(import(&current, examples::ROLLING)),
            Imported::Plan(_)
        ));
        let link =
            guardrail_core::link::encode(&guardrail_core::link::LinkState::plan(current.clone()));
        assert!(matches!(
            imported(import(&current, &link)),
            Imported::Link(_)
        ));
        let error = import(&current, "{\n \"InstanceCount\": true }").expect_err("type error");
        assert!(error.starts_with("line 2, column"), "{error}");
        assert!(import(&current, "nonsense").is_err());
        assert!(import(&current, "{ broken")
            .expect_err("syntax")
            .starts_with("line 1"));
    }

    #[test]
    fn json_that_is_not_a_plan_is_refused_and_dropped_fields_are_named() {
        let current = examples::notebook_canary();
        for text in [
            "{\"foo\": 1}",
            "{}",
            "[1, 2]",
            "{\"foo\": 1, \"bar\": {\"EndpointName\": \"x\"}}",
        ] {
            let error = import(&current, text).expect_err(text);
            assert!(error.contains("Nothing was changed"), "{text}: {error}");
        }
        let error = import(&current, "{\"foo\": 1}").expect_err("not a plan");
        assert!(error.contains("`foo`"), "{error}");
        // A plan with fields it does not know imports, and names them.
        let mut value: serde_json::Value =
            serde_json::from_str(examples::NOTEBOOK_CANARY).expect("json");
        value["Colour"] = serde_json::json!("blue");
        value["Alarms"][0]["Owner"] = serde_json::json!("team-a");
        let found = import(&current, &value.to_string()).expect("a plan");
        assert!(matches!(found.imported, Imported::Plan(_)));
        assert_eq!(found.dropped, vec!["Alarms[0].Owner", "Colour"]);
        // So does a DeploymentConfig, with its paths under DeploymentConfig.
        let mut config: serde_json::Value =
            serde_json::from_str(examples::DEPLOYMENT_CONFIG_CANARY).expect("json");
        config["BlueGreenUpdatePolicy"]["Speed"] = serde_json::json!(3);
        let found = import(&current, &config.to_string()).expect("a config");
        assert!(matches!(found.imported, Imported::DeploymentConfig(_)));
        assert_eq!(
            found.dropped,
            vec!["DeploymentConfig.BlueGreenUpdatePolicy.Speed"]
        );
    }
}
