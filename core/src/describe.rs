//! Alarm descriptions generated from the alarm as it is, so that an exported
//! `AlarmDescription` never says something the alarm does not do (a copy on
//! the new fleet at another threshold, or an `Average` of 1 called "1 %").
//!
//! The planner keeps a description it generated in step with its alarm: an
//! edit regenerates a description that was generated (or missing); one the
//! user wrote is theirs and stays.

use crate::alarm::{trim_float, Metric, NAMESPACE};
use crate::field::limits::ALARM_DESCRIPTION_MAX;
use crate::plan::{Dimension, MetricAlarm, Plan, TreatMissingData};

/// What the alarm does, in one line. Example: `Invocation5XXErrors Average
/// \>= 0.025 (2.5 % of requests) on the new fleet (EndpointConfigName=fixed),
/// 1 of 1 period(s) of 60 s; missing data notBreaching`. A math alarm says its
/// expression and what each id reads: `5XX rate (%) = 100 * errors /
/// requests \>= 5, where errors = Invocation5XXErrors Sum on the new fleet
/// (EndpointConfigName=fixed) and requests = …`.
pub fn describe(alarm: &MetricAlarm) -> String {
    let text = match &alarm.metrics {
        Some(_) => describe_math(alarm),
        None => describe_metric(alarm),
    };
    if text.chars().count() <= ALARM_DESCRIPTION_MAX {
        return text;
    }
    let mut short: String = text.chars().take(ALARM_DESCRIPTION_MAX - 1).collect();
    short.push('…');
    short
}

/// Where a metric's data comes from, in words.
fn scope_words(namespace: &str, dimensions: &[Dimension]) -> String {
    if namespace != NAMESPACE {
        return format!("in {namespace}");
    }
    match dimensions
        .iter()
        .find(|dimension| dimension.name == "EndpointConfigName")
    {
        Some(config) => format!("on the new fleet (EndpointConfigName={})", config.value),
        None => "on the whole endpoint".to_string(),
    }
}

/// How the alarm counts: M of N periods, and missing data.
fn counting(alarm: &MetricAlarm, period: Option<i64>) -> String {
    let evaluation = alarm.evaluation_periods.unwrap_or(1);
    let needed = alarm.datapoints_to_alarm.unwrap_or(evaluation);
    let missing = alarm
        .treat_missing_data
        .unwrap_or(TreatMissingData::Missing)
        .as_str();
    format!(
        "{needed} of {evaluation} period(s) of {} s; missing data {missing}",
        period.unwrap_or(60)
    )
}

fn describe_math(alarm: &MetricAlarm) -> String {
    let queries = alarm.metrics.as_deref().unwrap_or_default();
    let operator = alarm
        .comparison_operator
        .map(|operator| operator.symbol())
        .unwrap_or("?");
    let threshold = trim_float(alarm.threshold.unwrap_or_default());
    let returned = queries.iter().find(|query| query.returns_data());
    let subject = match returned {
        Some(query) => {
            let what = query
                .expression
                .clone()
                .or_else(|| {
                    query
                        .metric_stat
                        .as_ref()
                        .map(|stat| format!("{} {}", stat.metric.metric_name, stat.stat))
                })
                .unwrap_or_default();
            match query.label.as_deref().filter(|label| !label.is_empty()) {
                Some(label) if label != what => format!("{label} = {what}"),
                _ => what,
            }
        }
        None => "?".to_string(),
    };
    let reads: Vec<String> = queries
        .iter()
        .filter_map(|query| {
            let stat = query.metric_stat.as_ref()?;
            Some(format!(
                "{} = {} {} {}",
                query.id,
                stat.metric.metric_name,
                stat.stat,
                scope_words(&stat.metric.namespace, &stat.metric.dimensions)
            ))
        })
        .collect();
    let period = queries
        .iter()
        .find_map(|query| query.metric_stat.as_ref()?.period);
    format!(
        "{subject} {operator} {threshold}, where {}; {}",
        reads.join(" and "),
        counting(alarm, period)
    )
}

fn describe_metric(alarm: &MetricAlarm) -> String {
    let statistic = match (&alarm.statistic, &alarm.extended_statistic) {
        (Some(statistic), _) => statistic.as_str().to_string(),
        (None, Some(extended)) => extended.clone(),
        (None, None) => "?".into(),
    };
    let operator = alarm
        .comparison_operator
        .map(|operator| operator.symbol())
        .unwrap_or("?");
    let threshold = alarm.threshold.unwrap_or_default();
    let metric = (alarm.namespace == NAMESPACE)
        .then(|| Metric::from_name(&alarm.metric_name))
        .flatten();
    let meaning = match metric {
        Some(metric)
            if metric.is_per_request_flag()
                && alarm.statistic == Some(crate::plan::Statistic::Average) =>
        {
            format!(" ({} % of requests)", trim_float(threshold * 100.0))
        }
        Some(Metric::ModelLatency | Metric::OverheadLatency) => {
            format!(" µs ({} ms)", trim_float(threshold / 1_000.0))
        }
        _ => String::new(),
    };
    format!(
        "{} {statistic} {operator} {}{meaning} {}, {}",
        alarm.metric_name,
        trim_float(threshold),
        scope_words(&alarm.namespace, &alarm.dimensions),
        counting(alarm, alarm.period),
    )
}

/// Whether `alarm`'s description is one guardrail would generate (or none).
pub fn is_generated(alarm: &MetricAlarm) -> bool {
    alarm
        .alarm_description
        .as_deref()
        .is_none_or(|description| description.is_empty() || description == describe(alarm))
}

/// After an edit from `before` to `after`: each alarm whose description was
/// generated gets the description of what it now is; a new alarm without
/// one gets one. Descriptions users wrote stay.
pub fn follow(before: &Plan, after: &mut Plan) {
    for (index, alarm) in after.alarms.iter_mut().enumerate() {
        // The same alarm before: by name, else (a rename) by place.
        let old = before
            .alarms
            .iter()
            .find(|old| old.alarm_name == alarm.alarm_name)
            .or_else(|| before.alarms.get(index));
        let generated = match old {
            Some(old) => is_generated(old) && old.alarm_description == alarm.alarm_description,
            None => alarm.alarm_description.is_none(),
        };
        if generated {
            alarm.alarm_description = Some(describe(alarm));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_say_what_the_alarm_does() {
        let plan = crate::examples::notebook_canary();
        assert_eq!(
            describe(&plan.alarms[0]),
            "Invocation5XXErrors Average >= 1 (100 % of requests) on the whole endpoint, 1 of 1 period(s) of 60 s; missing data notBreaching"
        );
        assert_eq!(
            describe(&plan.alarms[1]),
            "ModelLatency Average >= 10000 µs (10 ms) on the whole endpoint, 1 of 1 period(s) of 60 s; missing data notBreaching"
        );
        // The examples' descriptions are generated ones.
        for (name, text) in crate::examples::ALL {
            let plan = crate::Plan::from_json(text).expect("example");
            for alarm in &plan.alarms {
                assert!(is_generated(alarm), "{name}: {:?}", alarm.alarm_description);
            }
        }
    }

    #[test]
    fn an_edit_regenerates_a_generated_description_and_keeps_a_written_one() {
        let before = crate::examples::notebook_canary();
        let mut after = before.clone();
        after.alarms[0].threshold = Some(0.025);
        after.alarms[0]
            .dimensions
            .push(crate::plan::Dimension::new("EndpointConfigName", "fixed"));
        after.alarms[1].alarm_description = Some("our p50 latency budget".into());
        after.alarms[1].threshold = Some(20_000.0);
        follow(&before, &mut after);
        assert_eq!(
            after.alarms[0].alarm_description.as_deref(),
            Some("Invocation5XXErrors Average >= 0.025 (2.5 % of requests) on the new fleet (EndpointConfigName=fixed), 1 of 1 period(s) of 60 s; missing data notBreaching")
        );
        assert_eq!(
            after.alarms[1].alarm_description.as_deref(),
            Some("our p50 latency budget")
        );
        // A written description stays through later edits too.
        let again_before = after.clone();
        after.alarms[1].period = Some(300);
        follow(&again_before, &mut after);
        assert_eq!(
            after.alarms[1].alarm_description.as_deref(),
            Some("our p50 latency budget")
        );
    }
}
