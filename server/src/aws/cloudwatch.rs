//! CloudWatch's operations on the local engine, whatever the encoding: alarms
//! (`PutMetricAlarm` on one metric or on metric math, `PutCompositeAlarm`,
//! `DescribeAlarms`, `DescribeAlarmHistory`, `DeleteAlarms`, `SetAlarmState`),
//! the metrics users publish (`PutMetricData`), and reading both those and the
//! `AWS/SageMaker` metrics the engine publishes (`GetMetricStatistics`,
//! `GetMetricData` with metric math, `ListMetrics`).
//!
//! Errors carry CloudWatch's query codes (`InvalidParameterValue`,
//! `ResourceNotFound`, …), which every client maps, and its shape ids.

use axum::http::StatusCode;
use guardrail_core::alarm::{AlarmState, Metric, PeriodSamples, Stat};
use guardrail_core::math::{self, Definition, Expr};
use guardrail_core::plan::{
    CompositeAlarm, Dimension, MetricAlarm, MetricIdentity, Statistic, STANDARD_UNITS,
};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::aws::failure::{parse, Failure};
use crate::aws::wire::{epoch_millis, epoch_seconds};
use crate::engine::cloudwatch::{AlarmView, CloudWatchError, CompositeView, MetricSource};
use crate::engine::custom_metrics::{Datum, DatumData};
use crate::engine::ids::shown;
use crate::engine::metrics::PUBLISHED_BUCKET_MS;
use crate::engine::Engine;

/// The operations this module answers.
pub const OPERATIONS: [&str; 10] = [
    "PutMetricAlarm",
    "PutCompositeAlarm",
    "PutMetricData",
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
            CloudWatchError::Validation(_) => "ValidationError",
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
        "PutCompositeAlarm" => put_composite_alarm(engine, region, read(input)?),
        "PutMetricData" => put_metric_data(engine, read(input)?),
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
const UNSUPPORTED_ALARM_MEMBERS: [&str; 2] = ["EvaluationCriteria", "EvaluationInterval"];

fn put_metric_alarm(engine: &Engine, region: &str, input: Value) -> Result<Value, Failure> {
    if let Some(member) = UNSUPPORTED_ALARM_MEMBERS
        .iter()
        .find(|member| input.get(**member).is_some())
    {
        return Err(invalid(format!(
            "{member}: guardrail's local CloudWatch evaluates metric alarms (one metric, or metric math in Metrics); PromQL alarms are not supported"
        )));
    }
    let alarm: MetricAlarm = read(input)?;
    if alarm.alarm_name.is_empty() {
        return Err(missing("AlarmName"));
    }
    engine.cloudwatch().put_alarm(alarm, region)?;
    Ok(json!({}))
}

fn put_composite_alarm(
    engine: &Engine,
    region: &str,
    alarm: CompositeAlarm,
) -> Result<Value, Failure> {
    if alarm.alarm_name.is_empty() {
        return Err(missing("AlarmName"));
    }
    if alarm.alarm_rule.is_empty() {
        return Err(missing("AlarmRule"));
    }
    engine.cloudwatch().put_composite(alarm, region)?;
    Ok(json!({}))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct PutMetricDataInput {
    namespace: Option<String>,
    metric_data: Vec<MetricDatumInput>,
    entity_metric_data: Option<Vec<Value>>,
    strict_entity_validation: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct MetricDatumInput {
    metric_name: String,
    dimensions: Vec<Dimension>,
    timestamp: Option<f64>,
    value: Option<f64>,
    statistic_values: Option<StatisticSetInput>,
    values: Option<Vec<f64>>,
    counts: Option<Vec<f64>>,
    unit: Option<String>,
    storage_resolution: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct StatisticSetInput {
    sample_count: Option<f64>,
    sum: Option<f64>,
    minimum: Option<f64>,
    maximum: Option<f64>,
}

/// CloudWatch's limits on `PutMetricData`.
const MAX_DATA_PER_REQUEST: usize = 1_000;
const MAX_VALUES_PER_DATUM: usize = 150;
const MAX_PAST_MS: u64 = 14 * 24 * 3_600_000;
const MAX_FUTURE_MS: u64 = 2 * 3_600_000;
/// Values must lie within ±2^360 (CloudWatch).
const VALUE_LIMIT: f64 = 2.348_542_582_773_833_2e108;

/// "The value X for parameter P is invalid.", CloudWatch's words.
fn invalid_value(parameter: &str, value: &str) -> Failure {
    invalid(format!(
        "The value {} for parameter {parameter} is invalid.",
        shown(value)
    ))
}

fn put_metric_data(engine: &Engine, input: PutMetricDataInput) -> Result<Value, Failure> {
    let namespace = input.namespace.ok_or_else(|| missing("Namespace"))?;
    if namespace.is_empty()
        || namespace.chars().count() > 255
        || namespace.starts_with(':')
        || namespace.starts_with("AWS/")
        || namespace.chars().any(char::is_control)
    {
        return Err(invalid_value("Namespace", &namespace));
    }
    if input
        .entity_metric_data
        .is_some_and(|data| !data.is_empty())
    {
        return Err(invalid(
            "EntityMetricData: guardrail's local CloudWatch keeps metric data without entities; send it in MetricData",
        ));
    }
    let _ = input.strict_entity_validation;
    if input.metric_data.is_empty() {
        return Err(missing("MetricData"));
    }
    if input.metric_data.len() > MAX_DATA_PER_REQUEST {
        return Err(invalid(format!(
            "The collection MetricData must not have a size greater than {MAX_DATA_PER_REQUEST}."
        )));
    }
    let now = engine.cloudwatch().clock().now_ms();
    let data = input
        .metric_data
        .into_iter()
        .enumerate()
        .map(|(index, datum)| datum_of(&namespace, index + 1, datum, now))
        .collect::<Result<Vec<_>, _>>()?;
    engine.cloudwatch().put_metric_data(&data)?;
    Ok(json!({}))
}

/// One `MetricDatum`, checked as CloudWatch checks it; `number` counts from 1.
fn datum_of(
    namespace: &str,
    number: usize,
    mut datum: MetricDatumInput,
    now_ms: u64,
) -> Result<Datum, Failure> {
    let at = format!("MetricData.member.{number}");
    check_name_and_dimensions(&at, &datum)?;
    let data = datum_data(&at, &mut datum)?;
    if let Some(unit) = &datum.unit {
        if !STANDARD_UNITS.contains(&unit.as_str()) {
            return Err(invalid_value(&format!("{at}.Unit"), unit));
        }
    }
    let high_resolution = match datum.storage_resolution {
        None | Some(60) => false,
        Some(1) => true,
        Some(other) => {
            return Err(invalid_value(
                &format!("{at}.StorageResolution"),
                &other.to_string(),
            ))
        }
    };
    let at_ms = match datum.timestamp {
        None => now_ms,
        Some(seconds) => {
            let at_ms = epoch_millis(seconds);
            if at_ms + MAX_PAST_MS < now_ms || at_ms > now_ms + MAX_FUTURE_MS {
                return Err(invalid(format!(
                    "The parameter {at}.Timestamp must specify a time no more than two weeks in the past and no more than two hours in the future (on the local CloudWatch's clock)."
                )));
            }
            at_ms
        }
    };
    Ok(Datum {
        identity: MetricIdentity::new(namespace, &datum.metric_name, datum.dimensions),
        at_ms,
        high_resolution,
        unit: datum.unit.filter(|unit| unit != "None"),
        data,
    })
}

/// The datum's name and dimensions within CloudWatch's limits; `at` is its
/// place in the request.
fn check_name_and_dimensions(at: &str, datum: &MetricDatumInput) -> Result<(), Failure> {
    if datum.metric_name.is_empty() {
        return Err(missing(&format!("{at}.MetricName")));
    }
    if datum.metric_name.chars().count() > 255 {
        return Err(invalid_value(
            &format!("{at}.MetricName"),
            &datum.metric_name,
        ));
    }
    if datum.dimensions.len() > 30 {
        return Err(invalid(format!(
            "The collection {at}.Dimensions must not have a size greater than 30."
        )));
    }
    for (position, dimension) in datum.dimensions.iter().enumerate() {
        let place = format!("{at}.Dimensions.member.{}", position + 1);
        if dimension.name.is_empty() || dimension.name.chars().count() > 255 {
            return Err(invalid_value(&format!("{place}.Name"), &dimension.name));
        }
        if dimension.value.is_empty() || dimension.value.chars().count() > 1024 {
            return Err(invalid_value(&format!("{place}.Value"), &dimension.value));
        }
    }
    Ok(())
}

/// Whether CloudWatch takes `value`: finite and within its range.
fn number_ok(value: f64) -> bool {
    value.is_finite() && value.abs() <= VALUE_LIMIT
}

/// The datum's one `Value`, `Values` (with `Counts`) or `StatisticValues`,
/// taken out of it.
fn datum_data(at: &str, datum: &mut MetricDatumInput) -> Result<DatumData, Failure> {
    let given: Vec<&str> = [
        ("Value", datum.value.is_some()),
        ("Values", datum.values.is_some()),
        ("StatisticValues", datum.statistic_values.is_some()),
    ]
    .into_iter()
    .filter(|(_, present)| *present)
    .map(|(name, _)| name)
    .collect();
    if given.len() > 1 {
        return Err(failure(
            "InvalidParameterCombination",
            format!(
                "The parameters {at}.{} and {at}.{} are mutually exclusive and you have specified both.",
                given[0], given[1]
            ),
        ));
    }
    if datum.counts.is_some() && datum.values.is_none() {
        return Err(invalid(format!("{at}.Counts needs {at}.Values.")));
    }
    if let Some(value) = datum.value {
        if !number_ok(value) {
            return Err(invalid_value(&format!("{at}.Value"), &value.to_string()));
        }
        Ok(DatumData::Values(vec![(value, 1.0)]))
    } else if let Some(values) = datum.values.take() {
        values_data(at, values, datum.counts.take())
    } else if let Some(set) = datum.statistic_values.take() {
        statistic_set(at, &set)
    } else {
        Err(failure(
            "InvalidParameterCombination",
            format!("{at} must have one of Value, Values or StatisticValues."),
        ))
    }
}

/// `Values` with their `Counts` (1 each if none), pairs of count 0 left out.
fn values_data(at: &str, values: Vec<f64>, counts: Option<Vec<f64>>) -> Result<DatumData, Failure> {
    if values.len() > MAX_VALUES_PER_DATUM {
        return Err(invalid(format!(
            "The collection {at}.Values must not have a size greater than {MAX_VALUES_PER_DATUM}."
        )));
    }
    let counts = counts.unwrap_or_else(|| vec![1.0; values.len()]);
    if counts.len() != values.len() {
        return Err(invalid(format!(
            "The parameters {at}.Values and {at}.Counts must be of the same size."
        )));
    }
    if let Some(bad) = values.iter().find(|value| !number_ok(**value)) {
        return Err(invalid_value(&format!("{at}.Values"), &bad.to_string()));
    }
    if let Some(bad) = counts
        .iter()
        .find(|count| !(count.is_finite() && **count >= 0.0))
    {
        return Err(invalid_value(&format!("{at}.Counts"), &bad.to_string()));
    }
    Ok(DatumData::Values(
        values
            .into_iter()
            .zip(counts)
            .filter(|(_, count)| *count > 0.0)
            .collect(),
    ))
}

/// A `StatisticValues` set: all four members, a count above 0 and a minimum
/// no larger than the maximum.
fn statistic_set(at: &str, set: &StatisticSetInput) -> Result<DatumData, Failure> {
    let member = |name: &str, value: Option<f64>| {
        let value = value.ok_or_else(|| missing(&format!("{at}.StatisticValues.{name}")))?;
        if number_ok(value) {
            Ok(value)
        } else {
            Err(invalid_value(
                &format!("{at}.StatisticValues.{name}"),
                &value.to_string(),
            ))
        }
    };
    let count = member("SampleCount", set.sample_count)?;
    let sum = member("Sum", set.sum)?;
    let minimum = member("Minimum", set.minimum)?;
    let maximum = member("Maximum", set.maximum)?;
    if count <= 0.0 || minimum > maximum {
        return Err(invalid(format!(
            "{at}.StatisticValues must have a SampleCount above 0 and a Minimum no larger than its Maximum."
        )));
    }
    Ok(DatumData::Set {
        count,
        sum,
        minimum,
        maximum,
    })
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
    children_of_alarm_name: Option<String>,
    parents_of_alarm_name: Option<String>,
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
    let times = (view.configured_ms, view.updated_ms, view.transitioned_ms);
    let mut alarm = described(&view.definition, &view.arn, view.state, &view.reason, times);
    if let (Some(data), Some(map)) = (&view.reason_data, alarm.as_object_mut()) {
        map.insert("StateReasonData".into(), json!(data));
    }
    alarm
}

/// An alarm's definition as `DescribeAlarms` shows it: with CloudWatch's
/// defaults, its ARN, its state and when it and its state last changed.
fn described(
    definition: &impl serde::Serialize,
    arn: &str,
    state: AlarmState,
    reason: &str,
    (configured_ms, updated_ms, transitioned_ms): (u64, u64, u64),
) -> Value {
    let mut alarm = serde_json::to_value(definition).unwrap_or_else(|_| json!({}));
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
    map.insert("AlarmArn".into(), json!(arn));
    map.insert(
        "AlarmConfigurationUpdatedTimestamp".into(),
        epoch_seconds(configured_ms),
    );
    map.insert("StateValue".into(), json!(state.as_str()));
    map.insert("StateReason".into(), json!(reason));
    map.insert("StateUpdatedTimestamp".into(), epoch_seconds(updated_ms));
    map.insert(
        "StateTransitionedTimestamp".into(),
        epoch_seconds(transitioned_ms),
    );
    alarm
}

/// The alarm types asked for: `MetricAlarm` only when none are (CloudWatch's
/// default: "only metric alarms are returned, even if composite alarms exist").
fn alarm_types(asked: &[String]) -> Result<(bool, bool), Failure> {
    for kind in asked {
        choice("AlarmTypes", kind, &["MetricAlarm", "CompositeAlarm"])?;
    }
    if asked.is_empty() {
        return Ok((true, false));
    }
    Ok((
        asked.iter().any(|kind| kind == "MetricAlarm"),
        asked.iter().any(|kind| kind == "CompositeAlarm"),
    ))
}

fn composite_json(view: &CompositeView) -> Value {
    let times = (view.configured_ms, view.updated_ms, view.transitioned_ms);
    described(&view.definition, &view.arn, view.state, &view.reason, times)
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
    let (metric_alarms, composite_alarms) = alarm_types(&input.alarm_types)?;
    let cloudwatch = engine.cloudwatch();
    let family = alarm_family(cloudwatch, &input)?;
    let (metric_alarms, composite_alarms) = match (&family, &input.children_of_alarm_name) {
        (Some(_), Some(_)) => (true, true),
        (Some(_), None) => (false, true),
        (None, _) => (metric_alarms, composite_alarms),
    };
    let wanted = |name: &str, actions: [&Option<Vec<String>>; 3], alarm_state: AlarmState| {
        family
            .as_ref()
            .is_none_or(|family| family.iter().any(|member| member == name))
            && (input.alarm_names.is_empty() || input.alarm_names.iter().any(|asked| asked == name))
            && input
                .alarm_name_prefix
                .as_deref()
                .is_none_or(|prefix| name.starts_with(prefix))
            && state.is_none_or(|state| alarm_state == state)
            && input.action_prefix.as_deref().is_none_or(|prefix| {
                actions
                    .into_iter()
                    .flatten()
                    .flatten()
                    .any(|action| action.starts_with(prefix))
            })
    };
    // Each kind's views, filtered alike: (name, actions, state) of each.
    let metric_views = cloudwatch.alarms(|view| {
        let alarm = &view.definition;
        metric_alarms && wanted(&alarm.alarm_name, alarm.actions(), view.state)
    });
    let composite_views = cloudwatch.composites(|view| {
        let alarm = &view.definition;
        composite_alarms && wanted(&alarm.alarm_name, alarm.actions(), view.state)
    });
    Ok(alarms_page(&metric_views, &composite_views, start, size))
}

/// The alarms `ChildrenOfAlarmName` (those a composite names, of both kinds)
/// or `ParentsOfAlarmName` (the composites that name an alarm) asks for;
/// `None` if neither is given.
fn alarm_family(
    cloudwatch: &crate::engine::cloudwatch::CloudWatch,
    input: &DescribeAlarmsInput,
) -> Result<Option<Vec<String>>, Failure> {
    Ok(
        match (&input.children_of_alarm_name, &input.parents_of_alarm_name) {
            (Some(_), Some(_)) => {
                return Err(failure(
                    "InvalidParameterCombination",
                    "ChildrenOfAlarmName and ParentsOfAlarmName cannot be given together.",
                ))
            }
            (Some(parent), None) => Some(cloudwatch.children_of(parent).unwrap_or_default()),
            (None, Some(child)) => Some(
                cloudwatch
                    .composites(|_| true)
                    .into_iter()
                    .filter(|view| {
                        cloudwatch
                            .children_of(&view.definition.alarm_name)
                            .is_some_and(|children| children.contains(child))
                    })
                    .map(|view| view.definition.alarm_name)
                    .collect(),
            ),
            (None, None) => None,
        },
    )
}

/// One page of `DescribeAlarms` over both lists: metric alarms first, then
/// composite ones.
fn alarms_page(
    metric_views: &[AlarmView],
    composite_views: &[CompositeView],
    start: usize,
    size: usize,
) -> Value {
    let items: Vec<(bool, Value)> = metric_views
        .iter()
        .map(|view| (false, alarm_json(view)))
        .chain(
            composite_views
                .iter()
                .map(|view| (true, composite_json(view))),
        )
        .collect();
    let (items, next) = page(items, start, size);
    let mut metric = Vec::new();
    let mut composite = Vec::new();
    for (is_composite, alarm) in items {
        if is_composite {
            composite.push(alarm);
        } else {
            metric.push(alarm);
        }
    }
    let mut output = json!({"MetricAlarms": metric, "CompositeAlarms": composite});
    if let Some(next) = next {
        output["NextToken"] = json!(next);
    }
    output
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct DescribeAlarmHistoryInput {
    alarm_name: Option<String>,
    alarm_types: Vec<String>,
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
    let (metric_alarms, composite_alarms) = alarm_types(&input.alarm_types)?;
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
                && if item.composite {
                    composite_alarms
                } else {
                    metric_alarms
                }
        })
        .into_iter()
        .map(|item| {
            json!({
                "AlarmName": item.alarm,
                "AlarmType": if item.composite { "CompositeAlarm" } else { "MetricAlarm" },
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

/// Each period of `[start, end)` that has data: its start, samples and unit.
/// SageMaker's metrics come from the engine's endpoints (an unknown metric,
/// or a unit that is not the metric's, has none); any other namespace from
/// what users published (of `unit` only, when one is given).
fn series(
    engine: &Engine,
    metric: &MetricId,
    unit: Option<&str>,
    (start, end): (u64, u64),
    period_ms: u64,
) -> Vec<(u64, PeriodSamples, String)> {
    let identity = MetricIdentity::new(
        &metric.namespace,
        &metric.metric_name,
        metric.dimensions.clone(),
    );
    let sagemaker = metric.namespace == guardrail_core::alarm::NAMESPACE;
    let known = Metric::from_name(&metric.metric_name);
    if sagemaker && (known.is_none() || unit.is_some_and(|unit| Some(unit) != known.map(unit_of))) {
        return Vec::new();
    }
    let mut points = Vec::new();
    let mut at = start;
    while at < end {
        let found = if sagemaker {
            engine
                .samples(&identity, at, at + period_ms)
                .map(|samples| (samples, known.map(unit_of).unwrap_or("None").to_string()))
        } else {
            engine
                .cloudwatch()
                .custom()
                .samples_with_unit(&identity, unit, at, at + period_ms)
        };
        if let Some((samples, unit)) = found {
            points.push((at, samples, unit));
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
    .map(|(at, samples, unit)| {
        let mut point = json!({"Timestamp": epoch_seconds(at), "Unit": unit});
        for statistic in &basic {
            point[statistic.as_str()] = json!(samples.statistic(Stat::Basic(*statistic)));
        }
        if !extended.is_empty() {
            // A percentile the data cannot give (a statistic set) is left out.
            let values: serde_json::Map<String, Value> = extended
                .iter()
                .map(|(label, stat)| (label.clone(), samples.statistic(*stat)))
                .filter(|(_, value)| value.is_finite())
                .map(|(label, value)| (label, json!(value)))
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

/// One query of `GetMetricData`, checked: a metric to read, or an expression.
enum Planned<'a> {
    Metric {
        stat: &'a MetricStat,
        parsed: Stat,
        period_ms: u64,
    },
    Expression(Expr),
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
    let planned = plan_queries(&input, limit)?;
    let reads = |index: usize| -> Result<Vec<(u64, f64)>, Failure> {
        let Planned::Metric {
            stat,
            parsed,
            period_ms,
        } = &planned[index]
        else {
            return Ok(Vec::new());
        };
        let window = window(input.start_time, input.end_time, *period_ms, limit)?;
        Ok(series(
            engine,
            &stat.metric,
            stat.unit.as_deref(),
            window,
            *period_ms,
        )
        .into_iter()
        .map(|(at, samples, _)| (at, samples.statistic(*parsed)))
        .filter(|(_, value)| value.is_finite())
        .collect())
    };
    let mut results = Vec::new();
    for (index, query) in queries.iter().enumerate() {
        if !query.return_data.unwrap_or(true) {
            continue;
        }
        let mut points = match &planned[index] {
            Planned::Metric { .. } => reads(index)?,
            Planned::Expression(expr) => expression_points(
                queries,
                &planned,
                index,
                expr,
                &reads,
                (input.start_time, input.end_time),
            )?,
        };
        if !ascending {
            points.reverse();
        }
        results.push(metric_data_result(query, &points));
    }
    Ok(json!({"MetricDataResults": results, "Messages": []}))
}

/// Checks each query of `input` and plans how to answer it: a metric's
/// statistic and period, or a parsed expression; at most `limit` datapoints
/// in all.
fn plan_queries(input: &GetMetricDataInput, limit: u64) -> Result<Vec<Planned<'_>>, Failure> {
    let queries = &input.metric_data_queries;
    let mut planned = Vec::new();
    let mut total = 0u64;
    for (index, query) in queries.iter().enumerate() {
        let at = format!("MetricDataQueries[{index}]");
        check_query_id(queries, index, &at)?;
        match (&query.metric_stat, &query.expression) {
            (Some(_), Some(_)) | (None, None) => {
                return Err(failure(
                    "InvalidParameterCombination",
                    format!("{at} must have exactly one of MetricStat and Expression."),
                ))
            }
            (None, Some(text)) => {
                if text.is_empty() || text.chars().count() > 2_048 {
                    return Err(invalid(format!(
                        "{at}.Expression is {} characters long; allowed 1 to 2048.",
                        text.chars().count()
                    )));
                }
                let expr = math::parse(text).map_err(|error| {
                    failure(
                        "ValidationError",
                        format!("Error in expression {}: {error}", query.id),
                    )
                })?;
                planned.push(Planned::Expression(expr));
            }
            (Some(stat), None) => {
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
                planned.push(Planned::Metric {
                    stat,
                    parsed,
                    period_ms,
                });
            }
        }
    }
    Ok(planned)
}

/// Query `index`'s Id: starts with a lower-case letter, holds only letters,
/// digits and underscores, and no earlier query has it.
fn check_query_id(queries: &[MetricDataQuery], index: usize, at: &str) -> Result<(), Failure> {
    let Some(query) = queries.get(index) else {
        return Ok(());
    };
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
    if queries[..index]
        .iter()
        .any(|earlier| earlier.id == query.id)
    {
        return Err(invalid(format!(
            "{at}.Id '{}' is the Id of another query; each Id is unique.",
            shown(&query.id)
        )));
    }
    Ok(())
}

/// One `MetricDataResults` member: the query's Id, its label (its own, else
/// the metric's name or the expression) and its points.
fn metric_data_result(query: &MetricDataQuery, points: &[(u64, f64)]) -> Value {
    let label =
        query
            .label
            .clone()
            .unwrap_or_else(|| match (&query.metric_stat, &query.expression) {
                (Some(stat), _) => stat.metric.metric_name.clone(),
                (None, Some(expression)) => expression.clone(),
                (None, None) => query.id.clone(),
            });
    json!({
        "Id": query.id,
        "Label": label,
        "Timestamps": points.iter().map(|(at, _)| epoch_seconds(*at)).collect::<Vec<_>>(),
        "Values": points.iter().map(|(_, value)| json!(*value)).collect::<Vec<_>>(),
        "StatusCode": "Complete",
    })
}

/// The points of expression query `index`: its metrics read on the grid of
/// their one period over the window, the expression evaluated there, and the
/// points that have values.
fn expression_points(
    queries: &[MetricDataQuery],
    planned: &[Planned<'_>],
    index: usize,
    expr: &Expr,
    reads: &dyn Fn(usize) -> Result<Vec<(u64, f64)>, Failure>,
    (start, end): (Option<f64>, Option<f64>),
) -> Result<Vec<(u64, f64)>, Failure> {
    let id = &queries[index].id;
    let error = |message: String| {
        failure(
            "ValidationError",
            format!("Error in expression {id}: {message}"),
        )
    };
    let expressions: Vec<Option<&Expr>> = planned
        .iter()
        .map(|plan| match plan {
            Planned::Expression(expr) => Some(expr),
            Planned::Metric { .. } => None,
        })
        .collect();
    let lookup = |name: &str| -> Option<Definition<'_>> {
        let position = queries.iter().position(|query| query.id == name)?;
        match expressions[position] {
            Some(expr) => Some(Definition::Expression(expr)),
            None => Some(Definition::Metric(position)),
        }
    };
    let resolved = math::resolve(expr, &lookup, &mut vec![id.clone()])
        .and_then(|resolved| math::check_returns_series(&resolved).map(|()| resolved))
        .map_err(|problem| error(problem.to_string()))?;
    let mut read = Vec::new();
    math::metrics_read(&resolved, &mut read);
    let periods: Vec<u64> = read
        .iter()
        .filter_map(|position| match &planned[*position] {
            Planned::Metric { period_ms, .. } => Some(*period_ms),
            Planned::Expression(_) => None,
        })
        .collect();
    let Some(period_ms) = periods.first().copied() else {
        return Err(error("it reads no metric".into()));
    };
    if periods.iter().any(|period| *period != period_ms) {
        return Err(error(
            "the metrics it reads have different periods; guardrail's local CloudWatch evaluates expressions over one period".into(),
        ));
    }
    let (from, to) = window(start, end, period_ms, MAX_DATA_POINTS)?;
    let slots = ((to - from).div_ceil(period_ms)) as usize;
    let mut grids: std::collections::BTreeMap<usize, Vec<Option<f64>>> = Default::default();
    for position in &read {
        let mut grid = vec![None; slots];
        for (at, value) in reads(*position)? {
            if let Some(slot) = grid.get_mut(((at - from) / period_ms) as usize) {
                *slot = Some(value);
            }
        }
        grids.insert(*position, grid);
    }
    let values = math::evaluate(&resolved, slots, &|position| {
        grids.get(&position).cloned().unwrap_or_default()
    });
    Ok(values
        .into_iter()
        .enumerate()
        .filter_map(|(slot, value)| Some((from + slot as u64 * period_ms, value?)))
        .collect())
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
    for identity in engine.cloudwatch().custom().identities() {
        let matches = input
            .namespace
            .as_deref()
            .is_none_or(|asked| asked == identity.namespace)
            && input
                .metric_name
                .as_deref()
                .is_none_or(|asked| asked == identity.metric_name)
            && input.dimensions.iter().all(|filter| {
                identity.dimensions.iter().any(|dimension| {
                    dimension.name == filter.name
                        && filter
                            .value
                            .as_deref()
                            .is_none_or(|value| dimension.value == value)
                })
            });
        if matches {
            metrics.push(json!({
                "Namespace": identity.namespace,
                "MetricName": identity.metric_name,
                "Dimensions": identity.dimensions,
            }));
        }
    }
    let (metrics, next) = page(metrics, start, METRICS_PAGE);
    let mut output = json!({ "Metrics": metrics });
    if let Some(next) = next {
        output["NextToken"] = json!(next);
    }
    Ok(output)
}
