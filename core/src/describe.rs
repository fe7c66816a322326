//! Alarm descriptions generated from the alarm as it is, so that an exported
//! `AlarmDescription` never says something the alarm does not do (a copy on
//! the new fleet at another threshold, or an `Average` of 1 called "1 %").
//!
//! The planner keeps a description it generated in step with its alarm: an
//! edit regenerates a description that was generated (or missing); one the
//! user wrote is theirs and stays.

use crate::alarm::{trim_float, Metric};
use crate::plan::{MetricAlarm, Plan, TreatMissingData};

/// What the alarm does, in one line. Example: `Invocation5XXErrors Average
/// \>= 0.025 (2.5 % of requests) on the new fleet (EndpointConfigName=fixed),
/// 1 of 1 period(s) of 60 s; missing data notBreaching`.
pub fn describe(alarm: &MetricAlarm) -> String {
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
    let metric = Metric::from_name(&alarm.metric_name);
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
    let scope = match alarm
        .dimensions
        .iter()
        .find(|dimension| dimension.name == "EndpointConfigName")
    {
        Some(config) => format!("on the new fleet (EndpointConfigName={})", config.value),
        None => "on the whole endpoint".to_string(),
    };
    let evaluation = alarm.evaluation_periods.unwrap_or(1);
    let needed = alarm.datapoints_to_alarm.unwrap_or(evaluation);
    let missing = alarm
        .treat_missing_data
        .unwrap_or(TreatMissingData::Missing)
        .as_str();
    format!(
        "{} {statistic} {operator} {}{meaning} {scope}, {needed} of {evaluation} period(s) of {} s; missing data {missing}",
        alarm.metric_name,
        trim_float(threshold),
        alarm.period.unwrap_or(60),
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
