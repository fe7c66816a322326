//! Lint of what an alarm's metrics can see: the value a failing green can
//! push them to (single metrics and metric math alike), divisions whose
//! denominator is often 0 at the plan's traffic, team metrics that only the
//! team publishes, short periods on data stored per minute, and math
//! metrics that match nothing of this rollout.

use crate::alarm::{AlarmRule, Metric, Query, Scope, Source, Stat};
use crate::field::{AlarmField, Field, QueryField};
use crate::math::{self, Expr, Op};
use crate::plan::{Plan, Statistic, TeamMetric, TeamMetricKind};
use crate::problem::Problem;
use crate::schedule::Step;

use super::warn;

/// The value `query`'s statistic takes over one period in which green
/// serves `share` (0 to 1) of the endpoint's `requests` requests and
/// `failing` of green's requests fail (0 to 1), blue being healthy; `None`
/// where it depends on what lint does not know (latency, team metrics).
///
/// Worked examples, 100 requests, a 25 % canary failing every request:
/// Invocation5XXErrors Average endpoint-wide 0.25, on the new fleet 1; Sum
/// 25 on both; Invocations Sum 100 endpoint-wide, 25 on the new fleet.
pub(crate) fn query_value(query: &Query, share: f64, requests: f64, failing: f64) -> Option<f64> {
    let metric = query.metric?;
    let seen = match query.scope {
        Scope::NewFleet => share * requests,
        Scope::Endpoint => requests,
        _ => return None,
    };
    let failed = share * requests * failing;
    if seen <= 0.0 {
        return None;
    }
    match metric {
        Metric::Invocations => Some(match query.stat {
            Stat::Basic(Statistic::Sum | Statistic::SampleCount) => seen,
            _ => 1.0,
        }),
        Metric::Invocation5XXErrors | Metric::InvocationModelErrors => {
            let fraction = failed / seen;
            Some(match query.stat {
                Stat::Basic(Statistic::Average) => fraction,
                Stat::Basic(Statistic::Sum) => failed,
                Stat::Basic(Statistic::SampleCount) => seen,
                Stat::Basic(Statistic::Maximum) => f64::from(u8::from(failed > 0.0)),
                Stat::Basic(Statistic::Minimum) => f64::from(u8::from(fraction >= 1.0)),
                Stat::Percentile(p) => {
                    f64::from(u8::from(fraction > 1.0 - p / 100.0 || p >= 100.0))
                }
            })
        }
        _ => None,
    }
}

/// The alarm's value over one period at `share` with green's requests
/// failing at `failing`: its metric's, or its expression's over its
/// metrics' values.
fn value_at(rule: &AlarmRule, share: f64, requests: f64, failing: f64) -> Option<f64> {
    match &rule.source {
        Source::Metric(query) => query_value(query, share, requests, failing),
        Source::Math {
            metrics,
            expression,
            ..
        } => {
            let values: Vec<Option<f64>> = metrics
                .iter()
                .map(|query| query_value(query, share, requests, failing))
                .collect();
            if values.iter().any(Option::is_none) {
                return None;
            }
            math::evaluate(expression, 1, &|metric| vec![values[metric]])
                .first()
                .copied()
                .flatten()
        }
    }
}

/// The highest value the alarm can take when every green request fails and
/// blue is healthy, with green serving `share` of `requests`; `None` when
/// lint cannot tell (latency, team metrics, an expression that does not grow
/// with green's errors).
pub(crate) fn worst_case(rule: &AlarmRule, share: f64, requests: f64) -> Option<f64> {
    let worst = value_at(rule, share, requests, 1.0)?;
    if let Source::Math { .. } = rule.source {
        // Only an expression that grows with green's failures has its worst
        // at total failure.
        let healthy = value_at(rule, share, requests, 0.0)?;
        if worst <= healthy {
            return None;
        }
    }
    Some(worst)
}

/// Whether the alarm reads an error metric of SageMaker's, for messages.
pub(crate) fn reads_errors(rule: &AlarmRule) -> bool {
    rule.queries().iter().any(|query| {
        query.metric.is_some_and(|metric| {
            metric.is_per_request_flag() && metric != Metric::Invocation4XXErrors
        })
    })
}

/// The field of metric `position` of alarm `index`: the alarm's own for a
/// single metric, the query's for metric math.
fn metric_field(
    rule: &AlarmRule,
    index: usize,
    query: usize,
    alarm: AlarmField,
    part: QueryField,
) -> Field {
    if rule.is_math() {
        Field::AlarmQuery(index, query, part)
    } else {
        Field::Alarm(index, alarm)
    }
}

/// The position in the definition's `Metrics` of the rule's metric `metric`.
fn query_position(plan: &Plan, index: usize, metric: usize) -> usize {
    plan.alarms[index]
        .metrics
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
        .filter(|(_, query)| query.metric_stat.is_some())
        .nth(metric)
        .map(|(position, _)| position)
        .unwrap_or(metric)
}

/// The scenario's model of a team metric.
fn model_of<'a>(plan: &'a Plan, query: &Query) -> Option<(usize, &'a TeamMetric)> {
    plan.scenario
        .as_ref()?
        .team_metrics
        .iter()
        .enumerate()
        .find(|(_, model)| model.identity().same_as(&query.identity))
}

/// A team metric: nothing publishes it in a rehearsal but the team, and the
/// what-if assumes what the scenario says of it.
pub(crate) fn team_metrics(
    plan: &Plan,
    index: usize,
    rule: &AlarmRule,
    warnings: &mut Vec<Problem>,
) {
    for (metric, query) in rule.queries().iter().enumerate() {
        if query.scope != Scope::Team {
            continue;
        }
        let position = query_position(plan, index, metric);
        let field = metric_field(
            rule,
            index,
            position,
            AlarmField::MetricName,
            QueryField::MetricName,
        );
        let name = format!(
            "{} ({})",
            query.identity.metric_name, query.identity.namespace
        );
        // The canary judge's score for this update: guardrail publishes it
        // when the plan has a judge, and the what-if simulates it.
        let score = crate::judge::score_metric(&plan.endpoint_name, &plan.endpoint_config_name);
        if query.identity.same_as(&score) {
            if plan.judge.is_none() {
                warn(
                    warnings,
                    field,
                    "canary_score_without_judge",
                    format!(
                        "{name} is the canary judge's score, but the plan has no Judge: nothing publishes it during this plan's runs, so the alarm sees missing data; add a Judge (the default judge compares 5XX, model errors and latency)"
                    ),
                );
            }
            if rule.treat_missing_data == crate::plan::TreatMissingData::Breaching {
                warn(
                    warnings,
                    Field::Alarm(index, crate::field::AlarmField::TreatMissingData),
                    "canary_score_breaching",
                    format!(
                        "{name} treats missing data as breaching, but the judge publishes no score until both fleets have served its minimum samples: the alarm fires at the start of every bake and rolls back healthy updates; use notBreaching (a judge that stops publishing then leaves the update to the other alarms)"
                    ),
                );
            }
            continue;
        }
        let assumed = match model_of(plan, query) {
            None => "the what-if has no model of it and sees no data; describe it in Scenario.TeamMetrics (its level and noise, and how the regression moves it on green)".to_string(),
            Some((model, found)) => match found.kind {
                TeamMetricKind::Level => format!(
                    "the what-if assumes what Scenario.TeamMetrics[{model}] sets: about {} (noise {}), moving towards {} with green's share of traffic once the regression starts",
                    crate::alarm::trim_float(found.level.unwrap_or_default()),
                    crate::alarm::trim_float(found.noise.unwrap_or_default()),
                    crate::alarm::trim_float(found.green_level.or(found.level).unwrap_or_default()),
                ),
                kind => format!(
                    "the what-if assumes what Scenario.TeamMetrics[{model}] sets: the client's own count of every invocation ({}), endpoint-wide",
                    kind.as_str()
                ),
            },
        };
        warn(
            warnings,
            field,
            "team_metric_publisher",
            format!(
                "{name} is published by the team, not by SageMaker: nothing publishes it during a rehearsal or an \
                 update unless the team sends it (PutMetricData) all along, or the alarm sees missing data; {assumed}"
            ),
        );
    }
}

/// A period of 10, 20 or 30 s on data stored per minute sees a datapoint in
/// one period of a minute's.
pub(crate) fn short_periods(
    plan: &Plan,
    index: usize,
    rule: &AlarmRule,
    warnings: &mut Vec<Problem>,
) {
    if rule.period_seconds >= 60 {
        return;
    }
    for (metric, query) in rule.queries().iter().enumerate() {
        let per_minute = match query.scope {
            Scope::Endpoint | Scope::NewFleet => true,
            Scope::Team => model_of(plan, query).is_some_and(|(_, model)| !model.high_resolution()),
            Scope::NoMetric | Scope::Unrelated => false,
        };
        if !per_minute {
            continue;
        }
        let position = query_position(plan, index, metric);
        let field = metric_field(
            rule,
            index,
            position,
            AlarmField::Period,
            QueryField::StatPeriod,
        );
        let who = if query.scope == Scope::Team {
            format!(
                "{} is modelled at standard resolution (one datapoint a minute)",
                query.identity.metric_name
            )
        } else {
            "SageMaker publishes its endpoint metrics once a minute".to_string()
        };
        warn(
            warnings,
            field,
            "period_below_resolution",
            format!(
                "{who}: a {} s period sees a datapoint in one period of {}, and TreatMissingData decides the others. Use 60 s, \
                 or a high-resolution metric the team publishes (StorageResolution 1)",
                rule.period_seconds,
                60 / rule.period_seconds.max(1)
            ),
        );
    }
}

/// A math alarm's metrics that match no metric of this rollout.
pub(crate) fn blind_metrics(
    plan: &Plan,
    index: usize,
    rule: &AlarmRule,
    warnings: &mut Vec<Problem>,
) {
    if !rule.is_math() {
        return;
    }
    for (metric, query) in rule.queries().iter().enumerate() {
        let why = match query.scope {
            Scope::NoMetric => "SageMaker publishes its endpoint metrics only under {EndpointName, VariantName} and {EndpointName, VariantName, EndpointConfigName}",
            Scope::Unrelated => "it is another endpoint's, config's or AWS namespace's metric",
            _ => continue,
        };
        let position = query_position(plan, index, metric);
        warn(
            warnings,
            Field::AlarmQuery(index, position, QueryField::Dimensions),
            if query.scope == Scope::NoMetric {
                "alarm_matches_no_metric"
            } else {
                "alarm_unrelated"
            },
            format!(
                "{} sees no data of this rollout: {why}. Use EndpointName={} and VariantName={} (plus EndpointConfigName={} for the new fleet only)",
                plan.alarms[index].metrics.as_deref().unwrap_or_default()[position].id,
                plan.endpoint_name,
                plan.variant_name,
                plan.endpoint_config_name
            ),
        );
    }
}

/// Divisions whose denominator is a count that is often 0 at the plan's
/// traffic: a division by 0 drops the datapoint.
pub(crate) fn zero_denominators(
    plan: &Plan,
    index: usize,
    rule: &AlarmRule,
    watched: &[&Step],
    warnings: &mut Vec<Problem>,
) {
    let Source::Math {
        metrics,
        expression,
        ..
    } = &rule.source
    else {
        return;
    };
    let mut denominators = Vec::new();
    divisions(expression, &mut denominators);
    let rate = plan.scenario_or_default().requests_per_second;
    // The smallest share green has while alarms watch: where a new-fleet
    // count is smallest.
    let smallest = watched
        .iter()
        .map(|step| step.green_traffic_percent() / 100.0)
        .fold(1.0_f64, f64::min);
    let mut said = Vec::new();
    for denominator in denominators {
        let mut read = Vec::new();
        math::metrics_read(denominator, &mut read);
        let [metric] = read.as_slice() else { continue };
        let Some(query) = metrics.get(*metric) else {
            continue;
        };
        let Some(share) = request_share(plan, query, smallest) else {
            continue;
        };
        if !counts_requests(query) || said.contains(metric) {
            continue;
        }
        // Data stored per minute holds a minute's requests whatever the period.
        let per_minute = query.scope != Scope::Team
            || model_of(plan, query).is_some_and(|(_, model)| !model.high_resolution());
        let seconds = if per_minute {
            f64::from(rule.period_seconds.max(60))
        } else {
            f64::from(rule.period_seconds)
        };
        let expected = rate * seconds * share;
        let zero = libm::exp(-expected);
        if zero < 0.05 {
            continue;
        }
        said.push(*metric);
        let position = query_position(plan, index, *metric);
        let id = &plan.alarms[index].metrics.as_deref().unwrap_or_default()[position].id;
        let phase = if query.scope == Scope::NewFleet {
            format!(
                " while green serves {} %",
                crate::alarm::trim_float((smallest * 1_000.0).round() / 10.0)
            )
        } else {
            String::new()
        };
        warn(
            warnings,
            Field::AlarmQuery(index, position, QueryField::Stat),
            "denominator_often_zero",
            format!(
                "{id} divides the expression and counts about {} request(s) a {} s datapoint at the plan's {} requests per second{phase}: \
                 it is 0 in about {} % of periods, and a division by 0 drops the datapoint, so TreatMissingData ({}) decides \
                 those periods. Use a longer period, or FILL the numerator and compare counts instead of a rate",
                crate::alarm::trim_float((expected * 100.0).round() / 100.0),
                seconds,
                crate::alarm::trim_float(rate),
                crate::alarm::trim_float((zero * 100.0).round()),
                rule.treat_missing_data.as_str()
            ),
        );
    }
}

/// The share of the plan's requests `query` counts: green's smallest share
/// for the new fleet, all for the endpoint or a team metric of requests;
/// `None` for anything else.
fn request_share(plan: &Plan, query: &Query, smallest: f64) -> Option<f64> {
    match (query.scope, query.metric) {
        (Scope::NewFleet, Some(_)) => Some(smallest),
        (Scope::Endpoint, Some(_)) => Some(1.0),
        (Scope::Team, _)
            if model_of(plan, query)
                .is_some_and(|(_, model)| model.kind == TeamMetricKind::Requests) =>
        {
            Some(1.0)
        }
        _ => None,
    }
}

/// Whether `query`'s statistic counts requests: the Sum or SampleCount of
/// Invocations (or of a team metric), the SampleCount of a per-request flag.
fn counts_requests(query: &Query) -> bool {
    match query.metric {
        Some(Metric::Invocations) => {
            matches!(
                query.stat,
                Stat::Basic(Statistic::Sum | Statistic::SampleCount)
            )
        }
        Some(metric) if metric.is_per_request_flag() => {
            query.stat == Stat::Basic(Statistic::SampleCount)
        }
        Some(_) => false,
        None => matches!(
            query.stat,
            Stat::Basic(Statistic::Sum | Statistic::SampleCount)
        ),
    }
}

/// Every denominator in `expr`.
fn divisions<'a>(expr: &'a Expr, into: &mut Vec<&'a Expr>) {
    match expr {
        Expr::Binary(op, left, right) => {
            if *op == Op::Divide {
                into.push(right);
            }
            divisions(left, into);
            divisions(right, into);
        }
        Expr::Negate(inner) => divisions(inner, into),
        Expr::Call(_, items) | Expr::Array(items) => {
            for item in items {
                divisions(item, into);
            }
        }
        Expr::Number(_) | Expr::Id(_) | Expr::Metric(_) | Expr::Fill(_) => {}
    }
}

/// A judge whose score no rollback alarm reads publishes and rolls nothing
/// back: SageMaker acts on alarms only.
pub(crate) fn judge_acts(
    plan: &Plan,
    rollout: &crate::rollout::Rollout,
    warnings: &mut Vec<Problem>,
) {
    let Some(spec) = rollout.judge() else {
        return;
    };
    if !rollout.judge_score_read() {
        warn(
            warnings,
            Field::Judge(crate::field::JudgeField::Whole),
            "judge_without_rollback_alarm",
            format!(
                "the judge publishes its verdict as {} {} (EndpointName {}, EndpointConfigName {}), but no rollback alarm reads it, so it rolls nothing back: add an alarm on it (Minimum < {} for 1 period of 60 s, TreatMissingData notBreaching) and list it in AutoRollbackConfiguration",
                crate::judge::NAMESPACE,
                crate::judge::SCORE_METRIC,
                plan.endpoint_name,
                plan.endpoint_config_name,
                crate::alarm::trim_float(spec.pass_score)
            ),
        );
    }
}
