//! Pure edits of a plan, one per control in the designer.
//!
//! The designer never pokes at nested `Option`s itself: each control calls one of
//! these functions, which keep the plan in SageMaker's shape (for example, moving
//! from canary to rolling moves the size into `RollingUpdatePolicy` and keeps the
//! waits). They are plain functions so that they are tested natively.

use guardrail_core::alarm::Metric;
use guardrail_core::check;
use guardrail_core::field::limits::MAX_ALARMS;
use guardrail_core::field::Field;
use guardrail_core::plan::{
    AlarmRef, AutoRollbackConfig, BlueGreenUpdatePolicy, CapacitySize, CapacitySizeType,
    ComparisonOperator, DeploymentConfig, Dimension, MetricAlarm, MetricDataQuery, MetricIdentity,
    Plan, RollingUpdatePolicy, Statistic, TrafficRoutingConfig, TrafficRoutingType,
    TreatMissingData,
};
use serde::{Deserialize, Serialize};

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

pub(crate) fn scope_dimensions(plan: &Plan, new_fleet_only: bool) -> Vec<Dimension> {
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
        // The alarm's own dimensions, and those of each metric of a math alarm.
        let queries = alarm.metrics.iter_mut().flatten();
        let leaves = queries.filter_map(|query| query.metric_stat.as_mut());
        let sets = std::iter::once(&mut alarm.dimensions)
            .chain(leaves.map(|stat| &mut stat.metric.dimensions));
        for dimension in sets.flatten() {
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
    Some(push_rollback_alarm(plan, alarm))
}

/// Adds `alarm` to the plan with a description of what it does, listed for
/// rollback; its index.
pub(crate) fn push_rollback_alarm(plan: &mut Plan, alarm: MetricAlarm) -> usize {
    let name = alarm.alarm_name.clone();
    let alarm = MetricAlarm {
        alarm_description: Some(guardrail_core::describe::describe(&alarm)),
        ..alarm
    };
    plan.alarms.push(alarm);
    set_rollback_alarm(plan, &name, true);
    plan.alarms.len() - 1
}

/// The one-click fix for an endpoint-wide alarm that cannot fire while
/// green's share is small: the same alarm on the new fleet alone
/// (`EndpointConfigName`), listed for rollback. For an error metric's
/// `Average`, its threshold is proven on seeded runs before it is offered
/// ([`guardrail_core::tune`]): it lies between blue's and green's error
/// rates, fires in none of 200 runs with green as healthy as blue, and
/// catches the regression as often as the plan requires; both figures are
/// said beside the button. Other alarms keep their threshold.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewFleetFix {
    /// The alarm the fix copies onto the new fleet.
    pub index: usize,
    /// The proven threshold; `None` keeps the original's.
    pub tuned: Option<guardrail_core::tune::Tuned>,
    /// Why no alarm is offered, when none is.
    pub refused: Option<String>,
    /// The new fleet's 5XX rate by metric math (in percent) rather than a
    /// copy of the alarm: the same alarm, so the copy's proof is its proof.
    #[serde(default)]
    pub rate: bool,
}

impl NewFleetFix {
    /// What the button says beside it.
    pub fn describe(&self) -> String {
        match (&self.tuned, &self.refused) {
            (_, Some(why)) => why.clone(),
            (Some(tuned), None) => guardrail_core::explain::capitalise(&tuned.describe()),
            (None, None) => "The same threshold, on the new fleet alone.".into(),
        }
    }
}

/// The new-fleet copy of alarm `index` of `plan`, at `threshold` (`None`:
/// the original's), listed for rollback; the plan with it, and its index.
fn with_new_fleet_copy(plan: &Plan, index: usize, threshold: Option<f64>) -> Option<(Plan, usize)> {
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
    if threshold.is_some() {
        alarm.threshold = threshold;
    }
    // Green publishes nothing before it serves.
    if alarm.treat_missing_data == Some(TreatMissingData::Breaching) {
        alarm.treat_missing_data = Some(TreatMissingData::NotBreaching);
    }
    // Said as it now is: another scope, perhaps another threshold.
    alarm.alarm_description = Some(guardrail_core::describe::describe(&alarm));
    let name = alarm.alarm_name.clone();
    let mut next = plan.clone();
    next.alarms.push(alarm);
    set_rollback_alarm(&mut next, &name, true);
    let added = next.alarms.len() - 1;
    Some((next, added))
}

/// What the one-click fix offers for alarm `index`; `None` if there is no
/// such alarm or no room for another.
pub fn new_fleet_fix(plan: &Plan, index: usize) -> Option<NewFleetFix> {
    with_new_fleet_copy(plan, index, None)?;
    let original = &plan.alarms[index];
    let flag_average = Metric::from_name(&original.metric_name)
        .is_some_and(|metric| metric.is_per_request_flag())
        && original.statistic == Some(Statistic::Average);
    if !flag_average {
        return Some(NewFleetFix {
            index,
            tuned: None,
            refused: None,
            rate: false,
        });
    }
    let tuned = guardrail_core::tune::tune(plan, |threshold| {
        with_new_fleet_copy(plan, index, Some(threshold))
            .map(|(next, _)| next)
            .unwrap_or_else(|| plan.clone())
    });
    Some(match tuned {
        Ok(tuned) => NewFleetFix {
            index,
            tuned: Some(tuned),
            refused: None,
            rate: false,
        },
        Err(untuned) => NewFleetFix {
            index,
            tuned: None,
            refused: Some(guardrail_core::explain::capitalise(&untuned.describe())),
            rate: false,
        },
    })
}

/// The other choice beside a proven new-fleet copy of an error metric's
/// `Average`: the new fleet's 5XX rate by metric math, at the same threshold
/// in percent. It fires on exactly the runs the copy fires on (the rate is
/// the new fleet's `Average` times 100, missing where it is missing), so the
/// copy's proof holds for it; `alarm_kinds`' tests run both to show it.
pub fn rate_choice(plan: &Plan, copy: &NewFleetFix) -> Option<NewFleetFix> {
    let original = plan.alarms.get(copy.index)?;
    if copy.refused.is_some()
        || copy.rate
        || original.metric_name != Metric::Invocation5XXErrors.as_str()
        || plan.alarms.len() >= MAX_ALARMS
    {
        return None;
    }
    let tuned = copy.tuned.clone().map(|mut tuned| {
        tuned.threshold = (tuned.threshold * 100.0 * 1e9).round() / 1e9;
        tuned
    })?;
    Some(NewFleetFix {
        index: copy.index,
        tuned: Some(tuned),
        refused: None,
        rate: true,
    })
}

/// The plan with `fix` applied, and the added alarm's index; `None` when the
/// fix offers nothing.
pub fn apply_new_fleet_fix(plan: &Plan, fix: &NewFleetFix) -> Option<(Plan, usize)> {
    if fix.refused.is_some() {
        return None;
    }
    if fix.rate {
        let original = plan.alarms.get(fix.index)?;
        let name = unused_name(plan, 1, |number| match number {
            1 => format!("{}-new-fleet-rate", original.alarm_name),
            _ => format!("{}-new-fleet-rate-{number}", original.alarm_name),
        });
        let threshold = fix.tuned.as_ref()?.threshold;
        let mut next = plan.clone();
        next.alarms.push(rate_alarm(plan, &name, threshold));
        set_rollback_alarm(&mut next, &name, true);
        let added = next.alarms.len() - 1;
        return Some((next, added));
    }
    with_new_fleet_copy(
        plan,
        fix.index,
        fix.tuned.as_ref().map(|tuned| tuned.threshold),
    )
}

/// The fix for alarm `index`, worked out and applied.
pub fn add_new_fleet_alarm(plan: &Plan, index: usize) -> Option<(Plan, usize)> {
    apply_new_fleet_fix(plan, &new_fleet_fix(plan, index)?)
}

/// The instance count nearest the plan's whose share the size's percent is
/// exactly, when the percent does not divide the fleet now.
pub fn exact_instance_count(plan: &Plan) -> Option<u32> {
    let size = size(plan)?;
    if size.kind != Some(CapacitySizeType::CapacityPercent) {
        return None;
    }
    let percent = u32::try_from(size.value?).ok()?;
    let fleet = u32::try_from(plan.instance_count?).ok()?;
    guardrail_core::assumptions::exact_fleet_for(percent, fleet).filter(|count| *count != fleet)
}

/// The fixes the Problems box offers: one per alarm the lint finds blind in
/// a phase.
pub fn new_fleet_fixes(plan: &Plan) -> Vec<NewFleetFix> {
    let mut indices: Vec<usize> = check(plan)
        .report
        .warnings
        .iter()
        .filter(|warning| warning.code == "alarm_blind_in_phase")
        .filter_map(|warning| alarm_index(&warning.path))
        .collect();
    indices.dedup();
    indices
        .into_iter()
        .filter_map(|index| new_fleet_fix(plan, index))
        .flat_map(|copy| {
            let rate = rate_choice(plan, &copy);
            std::iter::once(copy).chain(rate)
        })
        .collect()
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
pub(crate) fn unused_name(plan: &Plan, first: usize, name: impl Fn(usize) -> String) -> String {
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

/// The one click that turns the canary judge on: the default judge (5XX,
/// model errors, latency) and, unless an alarm already reads its score, the
/// rollback alarm on `CanaryScore` that makes it act (the judge itself only
/// publishes). An alarm on the score that is not listed for rollback is
/// listed. Says what it added.
pub fn turn_on_judge(plan: &mut Plan) -> String {
    use guardrail_core::judge::{score_alarm, score_metric};
    use guardrail_core::plan::JudgeSection;
    let judge = plan.judge.get_or_insert_with(JudgeSection::default_judge);
    let pass = judge
        .pass_score
        .unwrap_or(guardrail_core::judge::JudgeSpec::default_judge().pass_score);
    let score = score_metric(&plan.endpoint_name, &plan.endpoint_config_name);
    let reading = plan.alarms.iter().find(|alarm| {
        alarm.metrics.is_none()
            && guardrail_core::plan::MetricIdentity::new(
                &alarm.namespace,
                &alarm.metric_name,
                alarm.dimensions.clone(),
            )
            .same_as(&score)
    });
    if let Some(alarm) = reading {
        let name = alarm.alarm_name.clone();
        if is_rollback_alarm(plan, &name) {
            return format!("The judge is on; {name} rolls back on its score.");
        }
        set_rollback_alarm(plan, &name, true);
        return format!(
            "The judge is on; {name}, which reads its score, is now listed for rollback."
        );
    }
    if plan.alarms.len() >= MAX_ALARMS {
        return format!(
            "The judge is on, but the plan already has {MAX_ALARMS} alarms: remove one and add an alarm on CanaryScore, or the judge's verdict rolls nothing back."
        );
    }
    let mut alarm = score_alarm(&plan.endpoint_name, &plan.endpoint_config_name, pass);
    alarm.alarm_name = unused_name(plan, 1, |number| {
        if number == 1 {
            format!("{}-canary-score", plan.endpoint_name)
        } else {
            format!("{}-canary-score-{number}", plan.endpoint_name)
        }
    });
    let name = alarm.alarm_name.clone();
    push_rollback_alarm(plan, alarm);
    format!("The judge is on, and {name} (CanaryScore Minimum < {} in a minute) rolls back on its verdict.", guardrail_core::alarm::trim_float(pass))
}

/// Adds a judged metric: the first signal the judge does not compare yet,
/// with the default judge's settings for it. `None` when all are judged.
pub fn add_judged_metric(plan: &mut Plan) -> Option<usize> {
    use guardrail_core::judge::Signal;
    use guardrail_core::plan::{JudgeSection, JudgedMetric};
    let judge = plan.judge.as_mut()?;
    let signal = Signal::ALL.into_iter().find(|signal| {
        !judge
            .metrics
            .iter()
            .any(|metric| metric.metric_name == signal.name())
    })?;
    let defaults = JudgeSection::default_judge();
    let metric = defaults
        .metrics
        .into_iter()
        .find(|metric| metric.metric_name == signal.name())
        .unwrap_or_else(|| JudgedMetric {
            metric_name: signal.name().to_string(),
            direction: Some("Increase".into()),
            allowed_effect_percent: Some(0.0),
            minimum_samples: Some(50),
            critical: Some(false),
            weight: Some(1.0),
        });
    judge.metrics.push(metric);
    Some(judge.metrics.len() - 1)
}

pub use guardrail_core::import::{import, Import, Imported};

/// The new-fleet 5XX rate as metric math: `100 * FILL(errors, 0) / requests`
/// over the new config's `Invocation5XXErrors` and `Invocations` sums, in
/// percent. It is the `Average` of `Invocation5XXErrors` on the new fleet
/// times 100, point for point, missing where that is missing (no requests).
pub fn rate_alarm(plan: &Plan, name: &str, threshold_percent: f64) -> MetricAlarm {
    let dimensions = scope_dimensions(plan, true);
    let metric = |id: &str, metric: Metric| {
        MetricDataQuery::metric(
            id,
            MetricIdentity::new("AWS/SageMaker", metric.as_str(), dimensions.clone()),
            "Sum",
            60,
        )
    };
    let alarm = MetricAlarm {
        alarm_name: name.to_string(),
        metrics: Some(vec![
            metric("errors", Metric::Invocation5XXErrors),
            metric("requests", Metric::Invocations),
            MetricDataQuery::expression(
                "rate",
                "100 * FILL(errors, 0) / requests",
                "5XX rate on the new fleet (%)",
                true,
            ),
        ]),
        evaluation_periods: Some(1),
        threshold: Some(threshold_percent),
        comparison_operator: Some(ComparisonOperator::GreaterThanOrEqualToThreshold),
        // Green publishes nothing before it serves: no requests, no rate.
        treat_missing_data: Some(TreatMissingData::NotBreaching),
        ..MetricAlarm::default()
    };
    MetricAlarm {
        alarm_description: Some(guardrail_core::describe::describe(&alarm)),
        ..alarm
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use guardrail_core::{check, examples};

    #[test]
    fn one_click_turns_on_the_default_judge_and_the_alarm_that_acts_on_it() {
        let mut plan = examples::notebook_canary();
        let blind = |plan: &Plan| {
            check(plan).report.warnings.iter().any(|problem| {
                problem.code == "alarm_blind_in_phase" && problem.path == "Alarms[0].Threshold"
            })
        };
        assert!(blind(&plan));
        let said = turn_on_judge(&mut plan);
        // The judge compares 5XX while both fleets serve, and its alarm
        // acts: the endpoint-wide 5XX alarm's blind canary is covered.
        assert!(!blind(&plan));
        assert_eq!(
            plan.judge,
            Some(guardrail_core::plan::JudgeSection::default_judge())
        );
        let name = "guardrail-demo-canary-score";
        assert!(said.contains(name), "{said}");
        assert!(is_rollback_alarm(&plan, name));
        let checked = check(&plan);
        assert!(checked.report.is_valid(), "{:?}", checked.report);
        // No warning about the score: the judge publishes what it reads.
        assert!(
            checked
                .report
                .warnings
                .iter()
                .all(|problem| !problem.code.starts_with("canary_score")),
            "{:?}",
            checked.report.warnings
        );
        assert!(checked.rollout.expect("valid").judge().is_some());
        // A second click adds nothing.
        let before = plan.clone();
        turn_on_judge(&mut plan);
        assert_eq!(plan, before);
        // An alarm on the score taken off the rollback list is listed again.
        set_rollback_alarm(&mut plan, name, false);
        let said = turn_on_judge(&mut plan);
        assert!(said.contains("now listed"), "{said}");
        assert_eq!(plan, before);

        // Judged metrics: the one signal left, then none.
        assert_eq!(add_judged_metric(&mut plan), Some(3));
        assert_eq!(
            plan.judge.as_ref().expect("judge").metrics[3].metric_name,
            "Invocation4XXErrors"
        );
        assert!(check(&plan).report.is_valid());
        assert_eq!(add_judged_metric(&mut plan), None);
    }

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
        // Blue fails nothing, so the lowest candidate that no healthy run
        // fires is a tenth of the way to green's 20 %.
        assert_eq!(added.threshold, Some(0.02));
        assert_eq!(
            added.treat_missing_data,
            Some(TreatMissingData::NotBreaching)
        );
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
    fn the_one_click_fix_stays_quiet_at_blues_own_error_rate_and_says_both_figures() {
        // Blue and green both fail 1 % of requests, then green 4 %: a
        // threshold from green's rate alone (2 %) would fire on a healthy
        // green.
        let mut plan = examples::notebook_canary();
        let mut scenario = plan.scenario_or_default();
        scenario.blue.error_rate = 0.01;
        scenario.green.error_rate = 0.04;
        plan.scenario = Some(scenario.clone());
        // At 5 requests a second a canary minute holds about 100 requests:
        // no threshold tells 1 % from 4 % there, and none is offered.
        let noisy = new_fleet_fix(&plan, 0).expect("room");
        assert!(
            noisy
                .refused
                .as_deref()
                .is_some_and(|why| why.contains("fired with green as healthy as blue")),
            "{noisy:?}"
        );
        assert!(apply_new_fleet_fix(&plan, &noisy).is_none());
        // At 50 a second, one is.
        scenario.requests_per_second = 50.0;
        plan.scenario = Some(scenario.clone());
        let fix = new_fleet_fix(&plan, 0).expect("room");
        let tuned = fix
            .tuned
            .clone()
            .unwrap_or_else(|| panic!("{}", fix.describe()));
        assert!(
            tuned.threshold > 0.01 && tuned.threshold < 0.04,
            "{tuned:?}"
        );
        assert_eq!(tuned.false_alarms.runs, guardrail_core::tune::STATED_RUNS);
        assert!(tuned.false_alarms.rate() <= 0.01, "{tuned:?}");
        assert!(
            tuned.caught.rate() >= scenario.required_detection(),
            "{tuned:?}"
        );
        let said = fix.describe();
        assert!(
            said.contains("caught the what-if's regression in"),
            "{said}"
        );
        assert!(
            said.contains("fired with green as healthy as blue in "),
            "{said}"
        );
        assert!(said.contains("of 400 runs"), "{said}");
        let (fixed, index) = apply_new_fleet_fix(&plan, &fix).expect("applies");
        assert_eq!(fixed.alarms[index].threshold, Some(tuned.threshold));
        // With no regression at all there is nothing to tune, and no alarm
        // is offered.
        scenario.green.error_rate = 0.01;
        plan.scenario = Some(scenario);
        let refused = new_fleet_fix(&plan, 0).expect("room");
        assert!(refused.refused.is_some() && apply_new_fleet_fix(&plan, &refused).is_none());
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
    fn a_percent_step_that_does_not_divide_the_fleet_offers_the_count_that_does() {
        let mut plan = Plan::from_json(examples::NOTEBOOK_LINEAR).expect("example");
        if let Some(routing) = plan
            .deployment_config
            .as_mut()
            .and_then(|config| config.blue_green_update_policy.as_mut())
            .and_then(|policy| policy.traffic_routing_configuration.as_mut())
        {
            routing.linear_step_size = Some(CapacitySize {
                kind: Some(CapacitySizeType::CapacityPercent),
                value: Some(25),
            });
        }
        plan.instance_count = Some(3);
        assert_eq!(exact_instance_count(&plan), Some(4));
        plan.instance_count = Some(4);
        assert_eq!(exact_instance_count(&plan), None, "already exact");
        plan.instance_count = Some(3);
        // Whole instances: nothing to offer.
        set_size(&mut plan, Some(CapacitySizeType::InstanceCount), Some(1));
        assert_eq!(exact_instance_count(&plan), None);
    }

    #[test]
    fn adding_scoping_and_removing_alarms() {
        let mut plan = examples::notebook_canary();
        let index = add_alarm(&mut plan).expect("room for one more");
        let name = plan.alarms[index].alarm_name.clone();
        assert!(is_new_fleet_only(&plan.alarms[index]));
        assert!(is_rollback_alarm(&plan, &name));
        assert!(check(&plan).report.is_valid());
        // A plain new alarm is not Blocked: it treats green's missing data
        // before green serves as healthy, and does not roll back a healthy
        // update.
        let rollout = check(&plan).rollout.expect("valid");
        let mut healthy = plan.scenario_or_default();
        healthy.green = guardrail_core::plan::GreenBehaviour {
            error_rate: healthy.blue.error_rate,
            latency_ms: healthy.blue.latency_ms,
            ..healthy.green
        };
        assert_eq!(
            guardrail_core::verdict::false_alarm(&rollout, &healthy).expect("simulates"),
            None
        );
        assert!(!check(&plan)
            .report
            .warnings
            .iter()
            .any(|warning| warning.code == "new_fleet_breaching"));
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
        // Part of a plan merges into it and names what it changed.
        let found = import(
            &current,
            "{\"DeploymentConfig\":{\"BlueGreenUpdatePolicy\":{}}}",
        )
        .expect("merges");
        match found.imported {
            Imported::Merged { plan, changed } => {
                assert_eq!(changed, ["DeploymentConfig"]);
                assert_eq!(plan.endpoint_name, current.endpoint_name);
                assert_eq!(plan.endpoint_config_name, current.endpoint_config_name);
                assert_eq!(plan.instance_type, current.instance_type);
                assert_eq!(plan.instance_count, current.instance_count);
                assert_eq!(plan.alarms, current.alarms);
                assert_ne!(plan.deployment_config, current.deployment_config);
            }
            other => panic!("{other:?}"),
        }
        let found = import(&current, "{\"InstanceCount\": 4}").expect("merges");
        assert!(matches!(
            found.imported,
            Imported::Merged { ref plan, ref changed }
                if plan.instance_count == Some(4) && changed == &["InstanceCount"] && plan.alarms == current.alarms
        ));
        // Link errors are said once, in the user's words.
        let error = import(&current, "nonsense").expect_err("not a link");
        assert_eq!(error.matches("not a").count(), 1, "{error}");
        let mut damaged = link.clone();
        damaged.insert(20, '!');
        let error = import(&current, &damaged).expect_err("damaged");
        assert!(
            error.contains("character 21 of the link, `!`, cannot be in one"),
            "{error}"
        );
        assert!(!error.contains("Invalid symbol"), "{error}");
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

#[cfg(test)]
mod properties {
    use super::*;
    use guardrail_core::examples;
    use guardrail_core::simulate::detect;
    use proptest::prelude::*;

    proptest! {
        // Each case proves a threshold (up to 3 200 seeded runs) and checks
        // it on 400 more: a few cases cover the range.
        // A fixed seed: the same cases on every run.
        #![proptest_config(ProptestConfig {
            cases: 24,
            rng_seed: proptest::test_runner::RngSeed::Fixed(20_261_204),
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        /// Across blue error rates from 0 to 5 % and regressions of 2× and
        /// more, the fix's alarm fires on a healthy green, in seeded runs it
        /// was not tuned on, no more often than the false-alarm rate it
        /// states (the top of its 95 % interval).
        #[test]
        fn the_fix_never_fires_on_a_healthy_green_above_the_rate_it_states(
            blue in 0.0f64..0.05,
            factor in 2.0f64..6.0,
            requests_per_second in 20.0f64..100.0,
            seed in 0u64..1_000_000,
        ) {
            let mut plan = examples::notebook_canary();
            let mut scenario = plan.scenario_or_default();
            scenario.requests_per_second = requests_per_second;
            scenario.blue.error_rate = blue;
            scenario.green.error_rate = (blue * factor).clamp(0.01, 1.0);
            scenario.seed = seed;
            plan.scenario = Some(scenario.clone());
            let fix = new_fleet_fix(&plan, 0).expect("room");
            let Some(tuned) = fix.tuned.clone() else {
                // Nothing is offered: nothing can fire.
                prop_assert!(fix.refused.is_some());
                return Ok(());
            };
            // What it states is low: it was quiet in all 200 runs it was
            // chosen on.
            prop_assert!(tuned.false_alarms.rate() <= 0.025, "{}", tuned.describe());
            let (fixed, _) = apply_new_fleet_fix(&plan, &fix).expect("applies");
            let rollout = check(&fixed).rollout.expect("valid");
            let mut healthy = scenario.clone();
            healthy.green.error_rate = blue;
            healthy.green.latency_ms = healthy.blue.latency_ms;
            // Seeds the tuning did not use.
            healthy.seed = seed.wrapping_add(7_777_777);
            let fresh = detect(&rollout, &healthy, 400).expect("simulates");
            prop_assert!(
                fresh.probability <= tuned.false_alarms.high,
                "fired in {} of 400 fresh healthy runs; it stated {}",
                fresh.detected,
                tuned.false_alarms.describe()
            );
        }
    }
}
