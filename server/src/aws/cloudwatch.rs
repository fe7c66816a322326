//! CloudWatch's operations on the local engine, whatever the encoding: alarms
//! (`PutMetricAlarm`, `DescribeAlarms`, `DescribeAlarmHistory`, `DeleteAlarms`,
//! `SetAlarmState`) and the `AWS/SageMaker` metrics the engine publishes
//! (`GetMetricStatistics`, `GetMetricData`, `ListMetrics`).
//!
//! Errors carry CloudWatch's query codes (`InvalidParameterValue`,
//! `ResourceNotFound`, …), which every client maps, and its shape ids.

use axum::http::StatusCode;
use guardrail_core::alarm::{AlarmState, Metric, PeriodSamples, Stat};
use guardrail_core::plan::{Dimension, MetricAlarm, Statistic};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::aws::failure::{parse, Failure};
use crate::aws::wire::{epoch_millis, epoch_seconds};
use crate::engine::cloudwatch::{AlarmView, CloudWatchError};
use crate::engine::ids::shown;
use crate::engine::metrics::PUBLISHED_BUCKET_MS;
use crate::engine::Engine;

/// The operations this module answers.
pub const OPERATIONS: [&str; 8] = [
    "PutMetricAlarm",
    "DescribeAlarms",
    "DescribeAlarmHistory",
    "DeleteAlarms",
    "SetAlarmState",
    "GetMetricStatistics",
    "GetMetricData",
    "ListMetrics",
];

/// The shape of a query error code, for `__type`.
pub fn shape_of(code: &'static str) -> &'static str {
    match code {
        "InvalidParameterValue" => "InvalidParameterValueException",
        "MissingParameter" => "MissingRequiredParameterException",
        "InvalidParameterCombination" => "InvalidParameterCombinationException",
        "LimitExceeded" => "LimitExceededFault",
        "InvalidFormat" => "InvalidFormatFault",
        "InternalServiceError" => "InternalServiceFault",
        other => other,
    }
}

fn failure(code: &'static str, message: impl Into<String>) -> Failure {
    let status = match code {
        "ResourceNotFound" => StatusCode::NOT_FOUND,
        "InternalServiceError" => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    };
    Failure::new(status, code, message)
}

fn invalid(message: impl Into<String>) -> Failure {
    failure("InvalidParameterValue", message)
}

fn missing(parameter: &str) -> Failure {
    failure(
        "MissingParameter",
        format!("The parameter {parameter} is required."),
    )
}

impl From<CloudWatchError> for Failure {
    fn from(error: CloudWatchError) -> Failure {
        let code = match error {
            CloudWatchError::InvalidParameterValue(_) => "InvalidParameterValue",
            CloudWatchError::ResourceNotFound(_) => "ResourceNotFound",
            CloudWatchError::LimitExceeded(_) => "LimitExceeded",
            CloudWatchError::Internal(_) => "InternalServiceError",
        };
        failure(code, error.to_string())
    }
}

fn read<T: serde::de::DeserializeOwned>(input: Value) -> Result<T, Failure> {
    parse(input, "InvalidParameterValue")
}

/// Answers one CloudWatch operation.
pub fn call(
    engine: &Engine,
    region: &str,
    operation: &str,
    input: Value,
) -> Result<Value, Failure> {
    match operation {
        "PutMetricAlarm" => put_metric_alarm(engine, region, input),
        "DescribeAlarms" => describe_alarms(engine, read(input)?),
        "DescribeAlarmHistory" => describe_alarm_history(engine, read(input)?),
        "DeleteAlarms" => {
            let input: AlarmNames = read(input)?;
            if input.alarm_names.is_empty() {
                return Err(missing("AlarmNames"));
            }
            if input.alarm_names.len() > 100 {
                return Err(invalid(format!(
                    "AlarmNames has {} names; at most 100 are allowed.",
                    input.alarm_names.len()
                )));
            }
            engine.cloudwatch().delete_alarms(&input.alarm_names)?;
            Ok(json!({}))
        }
        "SetAlarmState" => set_alarm_state(engine, read(input)?),
        "GetMetricStatistics" => get_metric_statistics(engine, read(input)?),
        "GetMetricData" => get_metric_data(engine, read(input)?),
        "ListMetrics" => list_metrics(engine, read(input)?),
        _ => Err(failure(
            "InvalidAction",
            format!(
                "guardrail's local CloudWatch does not implement {}; it implements {}",
                shown(operation),
                OPERATIONS.join(", ")
            ),
        )),
    }
}

/// Members of `PutMetricAlarm` that the local CloudWatch does not evaluate.
const UNSUPPORTED_ALARM_MEMBERS: [&str; 4] = [
    "Metrics",
    "ThresholdMetricId",
    "EvaluationCriteria",
    "EvaluationInterval",
];

fn put_metric_alarm(engine: &Engine, region: &str, input: Value) -> Result<Value, Failure> {
    if let Some(member) = UNSUPPORTED_ALARM_MEMBERS
        .iter()
        .find(|member| input.get(**member).is_some())
    {
        return Err(invalid(format!(
            "{member}: guardrail's local CloudWatch evaluates single-metric alarms (MetricName, Namespace, Dimensions, Statistic); metric math and PromQL alarms are not supported"
        )));
    }
    let alarm: MetricAlarm = read(input)?;
    if alarm.alarm_name.is_empty() {
        return Err(missing("AlarmName"));
    }
    engine.cloudwatch().put_alarm(alarm, region)?;
    Ok(json!({}))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct AlarmNames {
    alarm_names: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct DescribeAlarmsInput {
    alarm_names: Vec<String>,
    alarm_name_prefix: Option<String>,
    alarm_types: Vec<String>,
    state_value: Option<String>,
    action_prefix: Option<String>,
    max_records: Option<i64>,
    next_token: Option<String>,
}

/// `value` of `member`, which must be one of `allowed`.
fn choice<'a>(member: &str, value: &'a str, allowed: &[&str]) -> Result<&'a str, Failure> {
    if allowed.contains(&value) {
        Ok(value)
    } else {
        Err(invalid(format!(
            "{member} '{}' is not one of {}.",
            shown(value),
            allowed.join(", ")
        )))
    }
}

fn state_of(text: &str) -> Result<AlarmState, Failure> {
    Ok(
        match choice("StateValue", text, &["OK", "ALARM", "INSUFFICIENT_DATA"])? {
            "OK" => AlarmState::Ok,
            "ALARM" => AlarmState::Alarm,
            _ => AlarmState::InsufficientData,
        },
    )
}

/// `ScanBy`: whether the oldest come first (the default is newest first).
fn ascending(scan_by: Option<&str>) -> Result<bool, Failure> {
    let order = scan_by.unwrap_or("TimestampDescending");
    Ok(choice(
        "ScanBy",
        order,
        &["TimestampDescending", "TimestampAscending"],
    )? == "TimestampAscending")
}

/// Where a page starts: `NextToken` is the position of its first item.
fn page_start(token: Option<&str>) -> Result<usize, Failure> {
    match token {
        None => Ok(0),
        Some(token) => token.parse().map_err(|_| {
            failure(
                "InvalidNextToken",
                format!(
                    "The NextToken '{}' is not one this server gave.",
                    shown(token)
                ),
            )
        }),
    }
}

fn records(max: Option<i64>, default: i64) -> Result<usize, Failure> {
    let max = max.unwrap_or(default);
    if (1..=100).contains(&max) {
        Ok(max as usize)
    } else {
        Err(invalid(format!(
            "MaxRecords {max} is out of range; allowed 1 to 100."
        )))
    }
}

/// One page of `items` from `start`, and the next page's token.
fn page<T>(items: Vec<T>, start: usize, size: usize) -> (Vec<T>, Option<String>) {
    let total = items.len();
    let end = start.saturating_add(size).min(total);
    let next = (end < total).then(|| end.to_string());
    (items.into_iter().skip(start).take(size).collect(), next)
}

fn alarm_json(view: &AlarmView) -> Value {
    let mut alarm = serde_json::to_value(&view.definition).unwrap_or_else(|_| json!({}));
    let Some(map) = alarm.as_object_mut() else {
        return alarm;
    };
    for (key, default) in [
        ("ActionsEnabled", json!(true)),
        ("OKActions", json!([])),
        ("AlarmActions", json!([])),
        ("InsufficientDataActions", json!([])),
    ] {
        map.entry(key).or_insert(default);
    }
    map.insert("AlarmArn".into(), json!(view.arn));
    map.insert(
        "AlarmConfigurationUpdatedTimestamp".into(),
        epoch_seconds(view.configured_ms),
    );
    map.insert("StateValue".into(), json!(view.state.as_str()));
    map.insert("StateReason".into(), json!(view.reason));
    if let Some(data) = &view.reason_data {
        map.insert("StateReasonData".into(), json!(data));
    }
    map.insert(
        "StateUpdatedTimestamp".into(),
        epoch_seconds(view.updated_ms),
    );
    map.insert(
        "StateTransitionedTimestamp".into(),
        epoch_seconds(view.transitioned_ms),
    );
    alarm
}

fn describe_alarms(engine: &Engine, input: DescribeAlarmsInput) -> Result<Value, Failure> {
    if input.alarm_names.len() > 100 {
        return Err(invalid(format!(
            "AlarmNames has {} names; at most 100 are allowed.",
            input.alarm_names.len()
        )));
    }
    if !input.alarm_names.is_empty() && input.alarm_name_prefix.is_some() {
        return Err(failure(
            "InvalidParameterCombination",
            "AlarmNames and AlarmNamePrefix cannot be given together.",
        ));
    }
    let state = input.state_value.as_deref().map(state_of).transpose()?;
    let size = records(input.max_records, 50)?;
    let start = page_start(input.next_token.as_deref())?;
    let metric_alarms =
        input.alarm_types.is_empty() || input.alarm_types.iter().any(|kind| kind == "MetricAlarm");
    let views = engine.cloudwatch().alarms(|view| {
        let name = &view.definition.alarm_name;
        metric_alarms
            && (input.alarm_names.is_empty() || input.alarm_names.contains(name))
            && input
                .alarm_name_prefix
                .as_deref()
                .is_none_or(|prefix| name.starts_with(prefix))
            && state.is_none_or(|state| view.state == state)
            && input.action_prefix.as_deref().is_none_or(|prefix| {
                let definition = &view.definition;
                [
                    &definition.ok_actions,
                    &definition.alarm_actions,
                    &definition.insufficient_data_actions,
                ]
                .into_iter()
                .flatten()
                .flatten()
                .any(|action| action.starts_with(prefix))
            })
    });
    let alarms: Vec<Value> = views.iter().map(alarm_json).collect();
    let (alarms, next) = page(alarms, start, size);
    let mut output = json!({"MetricAlarms": alarms, "CompositeAlarms": []});
    if let Some(next) = next {
        output["NextToken"] = json!(next);
    }
    Ok(output)
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct DescribeAlarmHistoryInput {
    alarm_name: Option<String>,
    history_item_type: Option<String>,
    start_date: Option<f64>,
    end_date: Option<f64>,
    max_records: Option<i64>,
    next_token: Option<String>,
    scan_by: Option<String>,
}

const HISTORY_ITEM_TYPES: [&str; 5] = [
    "ConfigurationUpdate",
    "StateUpdate",
    "Action",
    "AlarmContributorStateUpdate",
    "AlarmContributorAction",
];

fn describe_alarm_history(
    engine: &Engine,
    input: DescribeAlarmHistoryInput,
) -> Result<Value, Failure> {
    if let Some(kind) = input.history_item_type.as_deref() {
        choice("HistoryItemType", kind, &HISTORY_ITEM_TYPES)?;
    }
    let ascending = ascending(input.scan_by.as_deref())?;
    let size = records(input.max_records, 100)?;
    let start = page_start(input.next_token.as_deref())?;
    let from = input.start_date.map(epoch_millis);
    let to = input.end_date.map(epoch_millis);
    let mut items: Vec<Value> = engine
        .cloudwatch()
        .history(|item| {
            input
                .alarm_name
                .as_deref()
                .is_none_or(|name| item.alarm == name)
                && input
                    .history_item_type
                    .as_deref()
                    .is_none_or(|kind| item.kind == kind)
                && from.is_none_or(|from| item.at_ms >= from)
                && to.is_none_or(|to| item.at_ms <= to)
        })
        .into_iter()
        .map(|item| {
            json!({
                "AlarmName": item.alarm,
                "AlarmType": "MetricAlarm",
                "Timestamp": epoch_seconds(item.at_ms),
                "HistoryItemType": item.kind,
                "HistorySummary": item.summary,
                "HistoryData": item.data,
            })
        })
        .collect();
    if !ascending {
        items.reverse();
    }
    let (items, next) = page(items, start, size);
    let mut output = json!({ "AlarmHistoryItems": items });
    if let Some(next) = next {
        output["NextToken"] = json!(next);
    }
    Ok(output)
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct SetAlarmStateInput {
    alarm_name: String,
    state_value: Option<String>,
    state_reason: Option<String>,
    state_reason_data: Option<String>,
}

fn set_alarm_state(engine: &Engine, input: SetAlarmStateInput) -> Result<Value, Failure> {
    if input.alarm_name.is_empty() {
        return Err(missing("AlarmName"));
    }
    let state = state_of(
        input
            .state_value
            .as_deref()
            .ok_or_else(|| missing("StateValue"))?,
    )?;
    let reason = input.state_reason.ok_or_else(|| missing("StateReason"))?;
    if reason.chars().count() > 1023 {
        return Err(invalid("StateReason is longer than 1023 characters."));
    }
    if let Some(data) = &input.state_reason_data {
        if data.len() > 4000 || serde_json::from_str::<Value>(data).is_err() {
            return Err(failure(
                "InvalidFormat",
                "StateReasonData must be JSON text of at most 4000 characters.",
            ));
        }
    }
    engine
        .cloudwatch()
        .set_state(&input.alarm_name, state, &reason, input.state_reason_data)?;
    Ok(json!({}))
}

/// A metric's identity: namespace, name and dimensions.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct MetricId {
    namespace: String,
    metric_name: String,
    dimensions: Vec<Dimension>,
}

/// The most datapoints `GetMetricStatistics` returns, as on CloudWatch.
const MAX_STATISTICS_POINTS: u64 = 1_440;
/// The most datapoints one `GetMetricData` call returns.
const MAX_DATA_POINTS: u64 = 100_800;

/// A period CloudWatch accepts for the engine's 10-second metrics.
fn check_period(member: &str, period: Option<i64>) -> Result<u64, Failure> {
    let period = period.ok_or_else(|| missing(member))?;
    if period > 0 && (matches!(period, 10 | 20 | 30) || period % 60 == 0) {
        Ok(period as u64 * 1_000)
    } else {
        Err(invalid(format!(
            "{member} {period} is not allowed: use 10, 20, 30 or a multiple of 60 seconds (the local engine publishes SageMaker's metrics every {} seconds).",
            PUBLISHED_BUCKET_MS / 1_000
        )))
    }
}

/// The window `[start, end)` in API ms, aligned to the period, and how many
/// periods it holds, within `limit`.
fn window(
    start: Option<f64>,
    end: Option<f64>,
    period_ms: u64,
    limit: u64,
) -> Result<(u64, u64), Failure> {
    let start = epoch_millis(start.ok_or_else(|| missing("StartTime"))?);
    let end = epoch_millis(end.ok_or_else(|| missing("EndTime"))?);
    if start >= end {
        return Err(invalid(
            "The parameter StartTime must be less than the parameter EndTime.",
        ));
    }
    let start = start - start % period_ms;
    let points = (end - start).div_ceil(period_ms);
    if points > limit {
        return Err(failure(
            "InvalidParameterCombination",
            format!(
                "You have requested up to {points} datapoints, which exceeds the limit of {limit}. You may reduce the datapoints requested by increasing Period, or decreasing the time range."
            ),
        ));
    }
    Ok((start, end))
}

/// The unit CloudWatch reports for a metric.
fn unit_of(metric: Metric) -> &'static str {
    match metric {
        Metric::ModelLatency | Metric::OverheadLatency => "Microseconds",
        _ => "None",
    }
}

/// Each period of `[start, end)` that has data: its start and samples. An
/// unknown metric, or a unit that is not the metric's, has none.
fn series(
    engine: &Engine,
    metric: &MetricId,
    unit: Option<&str>,
    (start, end): (u64, u64),
    period_ms: u64,
) -> Vec<(u64, PeriodSamples, Metric)> {
    let Some(name) = Metric::from_name(&metric.metric_name) else {
        return Vec::new();
    };
    if unit.is_some_and(|unit| unit != unit_of(name)) {
        return Vec::new();
    }
    let mut points = Vec::new();
    let mut at = start;
    while at < end {
        if let Some(bucket) =
            engine.published(&metric.namespace, &metric.dimensions, at, at + period_ms)
        {
            if let Some(samples) = bucket.samples(name, bucket.instances) {
                points.push((at, samples, name));
            }
        }
        at += period_ms;
    }
    points
}

fn parse_stat(text: &str) -> Result<Stat, Failure> {
    Statistic::ALL
        .into_iter()
        .find(|statistic| statistic.as_str() == text)
        .map(Stat::Basic)
        .or_else(|| Stat::parse_percentile(text))
        .ok_or_else(|| {
            invalid(format!(
                "The statistic '{}' is not SampleCount, Average, Sum, Minimum, Maximum or a percentile such as p99.",
                shown(text)
            ))
        })
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct GetMetricStatisticsInput {
    #[serde(flatten)]
    metric: MetricId,
    start_time: Option<f64>,
    end_time: Option<f64>,
    period: Option<i64>,
    statistics: Vec<String>,
    extended_statistics: Vec<String>,
    unit: Option<String>,
}

fn get_metric_statistics(
    engine: &Engine,
    input: GetMetricStatisticsInput,
) -> Result<Value, Failure> {
    if input.metric.namespace.is_empty() {
        return Err(missing("Namespace"));
    }
    if input.metric.metric_name.is_empty() {
        return Err(missing("MetricName"));
    }
    if input.statistics.is_empty() && input.extended_statistics.is_empty() {
        return Err(failure(
            "InvalidParameterCombination",
            "Must specify either Statistics or ExtendedStatistics, but not both.",
        ));
    }
    if input.statistics.len() > 5 || input.extended_statistics.len() > 10 {
        return Err(invalid(
            "At most 5 Statistics and 10 ExtendedStatistics may be asked for.",
        ));
    }
    let basic = input
        .statistics
        .iter()
        .map(|text| match parse_stat(text)? {
            Stat::Basic(statistic) => Ok(statistic),
            Stat::Percentile(_) => Err(invalid(format!(
                "Statistics holds '{}': percentiles go in ExtendedStatistics.",
                shown(text)
            ))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let extended = input
        .extended_statistics
        .iter()
        .map(|text| match parse_stat(text)? {
            Stat::Percentile(p) => Ok((text.clone(), Stat::Percentile(p))),
            Stat::Basic(_) => Err(invalid(format!(
                "ExtendedStatistics holds '{}': basic statistics go in Statistics.",
                shown(text)
            ))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let period_ms = check_period("Period", input.period)?;
    let window = window(
        input.start_time,
        input.end_time,
        period_ms,
        MAX_STATISTICS_POINTS,
    )?;
    let datapoints: Vec<Value> = series(
        engine,
        &input.metric,
        input.unit.as_deref(),
        window,
        period_ms,
    )
    .into_iter()
    .map(|(at, samples, metric)| {
        let mut point = json!({"Timestamp": epoch_seconds(at), "Unit": unit_of(metric)});
        for statistic in &basic {
            point[statistic.as_str()] = json!(samples.statistic(Stat::Basic(*statistic)));
        }
        if !extended.is_empty() {
            let values: serde_json::Map<String, Value> = extended
                .iter()
                .map(|(label, stat)| (label.clone(), json!(samples.statistic(*stat))))
                .collect();
            point["ExtendedStatistics"] = Value::Object(values);
        }
        point
    })
    .collect();
    Ok(json!({"Label": input.metric.metric_name, "Datapoints": datapoints}))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct MetricStat {
    metric: MetricId,
    period: Option<i64>,
    stat: String,
    unit: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct MetricDataQuery {
    id: String,
    metric_stat: Option<MetricStat>,
    expression: Option<String>,
    label: Option<String>,
    return_data: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct GetMetricDataInput {
    metric_data_queries: Vec<MetricDataQuery>,
    start_time: Option<f64>,
    end_time: Option<f64>,
    scan_by: Option<String>,
    max_datapoints: Option<i64>,
}

fn get_metric_data(engine: &Engine, input: GetMetricDataInput) -> Result<Value, Failure> {
    let queries = &input.metric_data_queries;
    if queries.is_empty() {
        return Err(missing("MetricDataQueries"));
    }
    if queries.len() > 500 {
        return Err(invalid(format!(
            "MetricDataQueries has {} queries; at most 500 are allowed.",
            queries.len()
        )));
    }
    let ascending = ascending(input.scan_by.as_deref())?;
    let limit = match input.max_datapoints {
        None => MAX_DATA_POINTS,
        Some(max) if max > 0 => (max as u64).min(MAX_DATA_POINTS),
        Some(max) => return Err(invalid(format!("MaxDatapoints {max} must be positive."))),
    };
    let mut planned = Vec::new();
    let mut total = 0u64;
    for (index, query) in queries.iter().enumerate() {
        let at = format!("MetricDataQueries[{index}]");
        let valid_id = query
            .id
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase())
            && query.id.len() <= 255
            && query
                .id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !valid_id {
            return Err(invalid(format!(
                "{at}.Id '{}' must start with a lower-case letter and hold only letters, digits and underscores.",
                shown(&query.id)
            )));
        }
        if query.expression.is_some() {
            return Err(invalid(format!(
                "{at}.Expression: guardrail's local CloudWatch does not evaluate metric math; use MetricStat."
            )));
        }
        let stat = query
            .metric_stat
            .as_ref()
            .ok_or_else(|| missing(&format!("{at}.MetricStat")))?;
        let period_ms = check_period(&format!("{at}.MetricStat.Period"), stat.period)?;
        let parsed = parse_stat(&stat.stat)?;
        let window = window(input.start_time, input.end_time, period_ms, limit)?;
        total = total.saturating_add((window.1 - window.0).div_ceil(period_ms));
        if total > limit {
            return Err(failure(
                "InvalidParameterCombination",
                format!("The queries ask for more than {limit} datapoints in all."),
            ));
        }
        planned.push((query, stat, parsed, window, period_ms));
    }
    let results: Vec<Value> = planned
        .into_iter()
        .filter(|(query, ..)| query.return_data.unwrap_or(true))
        .map(|(query, stat, parsed, window, period_ms)| {
            let mut points: Vec<(u64, f64)> = series(
                engine,
                &stat.metric,
                stat.unit.as_deref(),
                window,
                period_ms,
            )
            .into_iter()
            .map(|(at, samples, _)| (at, samples.statistic(parsed)))
            .collect();
            if !ascending {
                points.reverse();
            }
            json!({
                "Id": query.id,
                "Label": query.label.clone().unwrap_or_else(|| stat.metric.metric_name.clone()),
                "Timestamps": points.iter().map(|(at, _)| epoch_seconds(*at)).collect::<Vec<_>>(),
                "Values": points.iter().map(|(_, value)| json!(*value)).collect::<Vec<_>>(),
                "StatusCode": "Complete",
            })
        })
        .collect();
    Ok(json!({"MetricDataResults": results, "Messages": []}))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct DimensionFilter {
    name: String,
    value: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct ListMetricsInput {
    namespace: Option<String>,
    metric_name: Option<String>,
    dimensions: Vec<DimensionFilter>,
    next_token: Option<String>,
}

/// Metrics in one `ListMetrics` page, as on CloudWatch.
const METRICS_PAGE: usize = 500;

fn list_metrics(engine: &Engine, input: ListMetricsInput) -> Result<Value, Failure> {
    if input.dimensions.len() > 30 {
        return Err(invalid("Dimensions has more than 30 filters."));
    }
    let start = page_start(input.next_token.as_deref())?;
    let namespace = "AWS/SageMaker";
    let mut metrics = Vec::new();
    if input
        .namespace
        .as_deref()
        .is_none_or(|asked| asked == namespace)
    {
        for dimensions in engine.published_dimensions() {
            let matches = input.dimensions.iter().all(|filter| {
                dimensions.iter().any(|dimension| {
                    dimension.name == filter.name
                        && filter
                            .value
                            .as_deref()
                            .is_none_or(|value| dimension.value == value)
                })
            });
            if !matches {
                continue;
            }
            for metric in Metric::ALL {
                if input
                    .metric_name
                    .as_deref()
                    .is_none_or(|asked| asked == metric.as_str())
                {
                    metrics.push(json!({
                        "Namespace": namespace,
                        "MetricName": metric.as_str(),
                        "Dimensions": dimensions,
                    }));
                }
            }
        }
    }
    let (metrics, next) = page(metrics, start, METRICS_PAGE);
    let mut output = json!({ "Metrics": metrics });
    if let Some(next) = next {
        output["NextToken"] = json!(next);
    }
    Ok(output)
}
