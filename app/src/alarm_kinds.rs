//! Pure edits for the alarms teams write beyond one SageMaker metric: metric
//! math (a new-fleet error rate, and the queries of any math alarm), alarms on
//! the team's own metrics with the scenario's model of them, and composite
//! alarms. Each control of the designer calls one of these; they are plain
//! functions so that they are tested natively.

use guardrail_core::alarm::Metric;
use guardrail_core::field::limits::{
    MAX_ALARMS, MAX_COMPOSITE_ALARMS, MAX_METRIC_QUERIES, MAX_TEAM_METRICS,
};
use guardrail_core::plan::{
    ComparisonOperator, CompositeAlarm, Dimension, MetricAlarm, MetricDataQuery, MetricIdentity,
    Plan, Scenario, Statistic, TeamMetric, TeamMetricKind, TreatMissingData,
};

use crate::edit::{push_rollback_alarm, rate_alarm, scope_dimensions, unused_name};

/// Adds a new-fleet 5XX rate alarm (5 %), listed for rollback.
pub fn add_rate_alarm(plan: &mut Plan) -> Option<usize> {
    if plan.alarms.len() >= MAX_ALARMS {
        return None;
    }
    let name = unused_name(plan, plan.alarms.len() + 1, |number| {
        format!("{}-new-fleet-5xx-rate-{number}", plan.endpoint_name)
    });
    let alarm = rate_alarm(plan, &name, 5.0);
    Some(push_rollback_alarm(plan, alarm))
}

/// Adds an alarm on a business metric the team publishes (a conversion rate
/// falling below a floor), listed for rollback, with the scenario's model of
/// the metric so that the what-if can simulate it.
pub fn add_team_alarm(plan: &mut Plan) -> Option<usize> {
    if plan.alarms.len() >= MAX_ALARMS {
        return None;
    }
    let name = unused_name(plan, plan.alarms.len() + 1, |number| {
        format!("{}-conversion-{number}", plan.endpoint_name)
    });
    let identity = MetricIdentity::new(
        "MyTeam/Business",
        "ConversionRate",
        vec![Dimension::new("EndpointName", &plan.endpoint_name)],
    );
    let alarm = MetricAlarm {
        alarm_name: name,
        namespace: identity.namespace.clone(),
        metric_name: identity.metric_name.clone(),
        dimensions: identity.dimensions.clone(),
        statistic: Some(Statistic::Average),
        period: Some(60),
        evaluation_periods: Some(2),
        threshold: Some(2.5),
        comparison_operator: Some(ComparisonOperator::LessThanThreshold),
        treat_missing_data: Some(TreatMissingData::NotBreaching),
        ..MetricAlarm::default()
    };
    let index = push_rollback_alarm(plan, alarm);
    model_team_metric(plan, &identity);
    Some(index)
}

/// Gives the scenario a model of `identity` if it has none: a business
/// metric around 3.1 with noise 0.2 that the regression halves on green.
pub fn model_team_metric(plan: &mut Plan, identity: &MetricIdentity) {
    let scenario = plan.scenario.get_or_insert_with(Scenario::default);
    if scenario.team_metrics.len() >= MAX_TEAM_METRICS
        || scenario
            .team_metrics
            .iter()
            .any(|model| model.identity().same_as(identity))
    {
        return;
    }
    scenario.team_metrics.push(TeamMetric {
        namespace: identity.namespace.clone(),
        metric_name: identity.metric_name.clone(),
        dimensions: identity.dimensions.clone(),
        kind: TeamMetricKind::Level,
        level: Some(3.1),
        noise: Some(0.2),
        green_level: Some(1.5),
        publish_seconds: Some(60),
        storage_resolution: None,
    });
}

/// The shared period of a math alarm's metrics (the first one's).
pub fn math_period(alarm: &MetricAlarm) -> Option<i64> {
    alarm
        .metrics
        .iter()
        .flatten()
        .find_map(|query| query.metric_stat.as_ref()?.period)
}

/// Sets every metric of a math alarm to one period: an alarm's metrics share it.
pub fn set_math_period(alarm: &mut MetricAlarm, period: Option<i64>) {
    for query in alarm.metrics.iter_mut().flatten() {
        if let Some(stat) = query.metric_stat.as_mut() {
            stat.period = period;
        }
    }
}

/// Makes query `position` the one that returns data, and no other.
pub fn set_returned(alarm: &mut MetricAlarm, position: usize) {
    for (index, query) in alarm.metrics.iter_mut().flatten().enumerate() {
        query.return_data = Some(index == position);
    }
}

/// Adds a metric (`m2`, `m3`, … on the new fleet's invocations) or an
/// expression (`e2`, … of the first metric) to a math alarm.
pub fn add_query(plan: &Plan, alarm: &mut MetricAlarm, expression: bool) {
    let Some(queries) = alarm.metrics.as_mut() else {
        return;
    };
    if queries.len() >= MAX_METRIC_QUERIES {
        return;
    }
    let prefix = if expression { "e" } else { "m" };
    let id = (1..)
        .map(|number| format!("{prefix}{number}"))
        .find(|id| !queries.iter().any(|query| &query.id == id))
        .unwrap_or_default();
    let query = if expression {
        let first = queries
            .iter()
            .find(|query| query.metric_stat.is_some())
            .map(|query| query.id.clone())
            .unwrap_or_else(|| "m1".into());
        MetricDataQuery::expression(&id, &first, "", false)
    } else {
        let period = queries
            .iter()
            .find_map(|query| query.metric_stat.as_ref()?.period)
            .unwrap_or(60);
        MetricDataQuery::metric(
            &id,
            MetricIdentity::new(
                "AWS/SageMaker",
                Metric::Invocations.as_str(),
                scope_dimensions(plan, true),
            ),
            "Sum",
            period,
        )
    };
    queries.push(query);
}

/// Removes query `position`; the first remaining returns data if the
/// removed one did.
pub fn remove_query(alarm: &mut MetricAlarm, position: usize) {
    let Some(queries) = alarm.metrics.as_mut() else {
        return;
    };
    if position >= queries.len() || queries.len() <= 1 {
        return;
    }
    let removed = queries.remove(position);
    if removed.returns_data() {
        let last = queries.len() - 1;
        set_returned(alarm, last);
    }
}

/// Dimensions as one line: `EndpointName=ep, VariantName=AllTraffic`.
pub fn dimensions_text(dimensions: &[Dimension]) -> String {
    dimensions
        .iter()
        .map(|dimension| format!("{}={}", dimension.name, dimension.value))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The dimensions in one line of `Name=Value` pairs separated by commas; a
/// pair without `=` is a name with an empty value, which validation names.
pub fn parse_dimensions(text: &str) -> Vec<Dimension> {
    text.split(',')
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((name, value)) => Dimension::new(name.trim(), value.trim()),
            None => Dimension::new(pair, ""),
        })
        .collect()
}

/// Adds a composite alarm that pages when any of the plan's rollback alarms
/// fires (a composite alarm cannot roll back itself: the assumption
/// `composite_rollback`).
pub fn add_composite(plan: &mut Plan) -> Option<usize> {
    if plan.composite_alarms.len() >= MAX_COMPOSITE_ALARMS {
        return None;
    }
    let names: Vec<String> = plan
        .rollback_alarm_names()
        .into_iter()
        .map(|name| format!("ALARM(\"{name}\")"))
        .collect();
    let taken = |candidate: &str| {
        plan.alarms
            .iter()
            .any(|alarm| alarm.alarm_name == candidate)
            || plan
                .composite_alarms
                .iter()
                .any(|alarm| alarm.alarm_name == candidate)
    };
    let name = (1..)
        .map(|number| format!("{}-page-{number}", plan.endpoint_name))
        .find(|candidate| !taken(candidate))
        .unwrap_or_default();
    plan.composite_alarms.push(CompositeAlarm {
        alarm_name: name,
        alarm_description: Some("Pages when any rollback alarm fires".into()),
        alarm_rule: if names.is_empty() {
            "FALSE".into()
        } else {
            names.join(" OR ")
        },
        actions_enabled: Some(false),
        ..CompositeAlarm::default()
    });
    Some(plan.composite_alarms.len() - 1)
}

/// Adds a model of a team metric to the scenario.
pub fn add_team_metric(plan: &mut Plan) -> Option<usize> {
    let scenario = plan.scenario.get_or_insert_with(Scenario::default);
    if scenario.team_metrics.len() >= MAX_TEAM_METRICS {
        return None;
    }
    let name = (1..)
        .map(|number| format!("Metric{number}"))
        .find(|candidate| {
            !scenario
                .team_metrics
                .iter()
                .any(|model| &model.metric_name == candidate)
        })
        .unwrap_or_default();
    scenario.team_metrics.push(TeamMetric {
        namespace: "MyTeam/Business".into(),
        metric_name: name,
        dimensions: Vec::new(),
        kind: TeamMetricKind::Level,
        level: Some(1.0),
        noise: Some(0.1),
        green_level: Some(0.5),
        publish_seconds: Some(60),
        storage_resolution: None,
    });
    Some(scenario.team_metrics.len() - 1)
}

/// The team metric models of the scenario, or none.
pub fn team_metrics(plan: &Plan) -> &[TeamMetric] {
    plan.scenario
        .as_ref()
        .map(|scenario| scenario.team_metrics.as_slice())
        .unwrap_or_default()
}

/// Applies `change` to team metric model `index`.
pub fn edit_team_metric(plan: &mut Plan, index: usize, change: impl FnOnce(&mut TeamMetric)) {
    if let Some(model) = plan
        .scenario
        .as_mut()
        .and_then(|scenario| scenario.team_metrics.get_mut(index))
    {
        change(model);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use guardrail_core::check;
    use guardrail_core::simulate::detect;

    fn canary() -> Plan {
        guardrail_core::examples::notebook_canary()
    }

    #[test]
    fn a_rate_alarm_is_valid_listed_and_catches_the_canary() {
        let mut plan = canary();
        let index = add_rate_alarm(&mut plan).expect("room");
        let checked = check(&plan);
        assert!(
            checked.report.errors.is_empty(),
            "{:?}",
            checked.report.errors
        );
        assert!(plan
            .rollback_alarm_names()
            .contains(&plan.alarms[index].alarm_name.as_str()));
        // It sees the canary: the endpoint-wide alarm's blind canary is covered.
        assert!(!checked
            .report
            .warnings
            .iter()
            .any(|problem| problem.code == "alarm_blind_in_phase"));
        let alone = checked
            .rollout
            .expect("valid")
            .with_only_alarm(2)
            .expect("the rate");
        let detection = detect(&alone, &plan.scenario_or_default(), 50).expect("runs");
        assert_eq!((detection.detected, detection.detected_early), (50, 50));
    }

    #[test]
    fn the_rate_is_the_new_fleet_average_in_percent_point_for_point() {
        // The same threshold as a fraction and as a percent: the same runs fire.
        let mut plan = canary();
        plan.scenario
            .get_or_insert_with(Default::default)
            .green
            .error_rate = 0.04;
        let mut copy = plan.alarms[0].clone();
        copy.alarm_name = "copy".into();
        copy.dimensions = scope_dimensions(&plan, true);
        copy.threshold = Some(0.025);
        copy.treat_missing_data = Some(TreatMissingData::NotBreaching);
        let rate = rate_alarm(&plan, "rate", 2.5);
        let scenario = plan.scenario_or_default();
        let detections: Vec<(u32, Option<f64>)> = [copy, rate]
            .into_iter()
            .map(|alarm| {
                let mut one = plan.clone();
                let name = alarm.alarm_name.clone();
                one.alarms = vec![alarm];
                if let Some(rollback) = one
                    .deployment_config
                    .as_mut()
                    .and_then(|config| config.auto_rollback_configuration.as_mut())
                {
                    rollback.alarms.truncate(1);
                    rollback.alarms[0].alarm_name = name;
                }
                let rollout = check(&one).rollout.expect("valid");
                let detection = detect(&rollout, &scenario, 200).expect("runs");
                (
                    detection.detected,
                    detection
                        .time_to_rollback_seconds
                        .map(|spread| spread.median),
                )
            })
            .collect();
        assert_eq!(detections[0], detections[1], "{detections:?}");
        assert!(detections[0].0 > 0);
    }

    #[test]
    fn queries_are_added_removed_and_share_one_period() {
        let plan = canary();
        let mut alarm = rate_alarm(&plan, "rate", 5.0);
        add_query(&plan, &mut alarm, false);
        add_query(&plan, &mut alarm, true);
        let ids: Vec<&str> = alarm
            .metrics
            .iter()
            .flatten()
            .map(|query| query.id.as_str())
            .collect();
        assert_eq!(ids, ["errors", "requests", "rate", "m1", "e1"]);
        set_math_period(&mut alarm, Some(300));
        assert_eq!(math_period(&alarm), Some(300));
        set_returned(&mut alarm, 4);
        remove_query(&mut alarm, 4);
        let returning: Vec<bool> = alarm
            .metrics
            .iter()
            .flatten()
            .map(MetricDataQuery::returns_data)
            .collect();
        assert_eq!(returning, [false, false, false, true]);
    }

    #[test]
    fn dimensions_read_and_write_as_one_line() {
        let dimensions = parse_dimensions(" EndpointName=ep ,VariantName = AllTraffic, Host");
        assert_eq!(
            dimensions,
            vec![
                Dimension::new("EndpointName", "ep"),
                Dimension::new("VariantName", "AllTraffic"),
                Dimension::new("Host", ""),
            ]
        );
        assert_eq!(
            dimensions_text(&dimensions[..2]),
            "EndpointName=ep, VariantName=AllTraffic"
        );
    }

    #[test]
    fn a_team_alarm_brings_its_model_and_a_composite_names_the_rollback_alarms() {
        let mut plan = canary();
        let index = add_team_alarm(&mut plan).expect("room");
        assert_eq!(team_metrics(&plan).len(), 1);
        let composite = add_composite(&mut plan).expect("room");
        assert!(plan.composite_alarms[composite]
            .alarm_rule
            .contains(&format!("ALARM(\"{}\")", plan.alarms[index].alarm_name)));
        let checked = check(&plan);
        assert!(
            checked.report.errors.is_empty(),
            "{:?}",
            checked.report.errors
        );
        assert!(checked
            .report
            .warnings
            .iter()
            .any(|problem| problem.code == "team_metric_publisher"));
        let added = add_team_metric(&mut plan).expect("room");
        edit_team_metric(&mut plan, added, |model| model.storage_resolution = Some(1));
        assert!(team_metrics(&plan)[added].high_resolution());
    }
}
