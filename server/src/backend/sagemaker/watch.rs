//! The watcher of one SageMaker update: polls CloudWatch's alarms, the
//! endpoint and, each metric period, the metrics, and records what changed.
//! A poll that fails is reported as an event and retried later, slower.

use std::collections::BTreeMap;

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types as cw;
use guardrail_core::alarm::{AlarmState, EvaluatedPoint};
use guardrail_core::event::{Event, EventKind, FleetMetrics, RunOutcome};
use guardrail_core::judge::{Judgement, Watch as JudgeWatch};
use guardrail_core::schedule::schedule;
use guardrail_core::{check, Plan};
use tokio::sync::oneshot;

use super::aws::{call_error, CallError, Clients, Pace};
use super::reading::{alarm_state, AlarmChange, EndpointView, FleetView, Reader};
use super::{rollback_alarms, watched_alarms, WatchRecord};
use crate::store::Recorder;

/// The metric period the watcher records: the plan's shortest alarm period,
/// at least a minute (SageMaker publishes per minute).
pub fn metric_period(plan: &Plan) -> u32 {
    plan.alarms
        .iter()
        .filter_map(|alarm| alarm.period)
        .filter_map(|period| u32::try_from(period).ok())
        .min()
        .unwrap_or(60)
        .clamp(60, 3_600)
}

/// The metrics recorded per fleet: (metric, statistic).
const METRICS: [(&str, &str); 7] = [
    ("Invocations", "Sum"),
    ("Invocation4XXErrors", "Sum"),
    ("Invocation5XXErrors", "Sum"),
    ("InvocationModelErrors", "Sum"),
    ("ModelLatency", "Average"),
    ("ModelLatency", "p99"),
    ("OverheadLatency", "Average"),
];

pub struct Watch {
    clients: Clients,
    plan: Plan,
    record: WatchRecord,
    reader: Reader,
    recorder: Recorder,
    pace: Pace,
    alarms: Vec<String>,
    period_ms: u64,
    /// API epoch ms of the first metric period not yet recorded.
    next_period_api_ms: u64,
    /// The `Finished` event, held back until the last metrics are recorded.
    finish: Option<(u64, EventKind)>,
    /// Each of the plan's alarms' condition, as the local engine records it.
    conditions: Vec<(String, String)>,
    /// A poll met an expired token: renew the clients before the next.
    renew: bool,
    /// The plan's canary judge, on the recorded periods' statistics
    /// (`JudgeSpec::looking_every`); its score is published with
    /// PutMetricData.
    judge: Option<JudgeWatch>,
}

/// The most pages of one answer the watcher reads (`NextToken`s followed):
/// far more than 14 queries or 100 alarms take, and a bound on a service that
/// keeps answering with one.
const MAX_PAGES: usize = 50;

fn millis(time: Option<&DateTime>) -> Option<u64> {
    time.and_then(|time| time.to_millis().ok())
        .map(|ms| ms.max(0) as u64)
}

/// An ISO 8601 time as CloudWatch writes it in history and reason data
/// (`2026-11-22T07:00:00.000+0000`, `...Z`), in epoch ms.
fn iso_ms(text: &str) -> Option<u64> {
    let head = text.get(..19)?;
    let time = humantime::parse_rfc3339_weak(head).ok()?;
    let ms = time.duration_since(std::time::UNIX_EPOCH).ok()?.as_millis();
    let fraction = text
        .get(19..)
        .and_then(|rest| rest.strip_prefix('.'))
        .map(|rest| {
            rest.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
        })
        .and_then(|digits| format!("{digits:0<3}").get(..3)?.parse::<u64>().ok())
        .unwrap_or(0);
    u64::try_from(ms).ok().map(|ms| ms + fraction)
}

impl Watch {
    pub fn new(
        clients: Clients,
        plan: Plan,
        record: WatchRecord,
        recorder: Recorder,
        history: &[Event],
    ) -> Option<Watch> {
        let rollout = check(&plan).rollout?;
        let conditions = rollout
            .alarms()
            .iter()
            .map(|rule| (rule.name.clone(), rule.condition()))
            .collect();
        let mut reader = Reader::new(
            schedule(&rollout),
            &record.to_config,
            rollback_alarms(&plan),
            record.started_api_ms,
        );
        reader.before_modified_ms = record.before_modified_api_ms;
        reader.endpoint_name.clone_from(&plan.endpoint_name);
        reader.replay(history);
        let period_ms = u64::from(metric_period(&plan)) * 1_000;
        let recorded_until = history
            .iter()
            .filter_map(|event| match event.kind {
                EventKind::MetricPeriod { end_ms, .. } => Some(record.started_api_ms + end_ms),
                _ => None,
            })
            .max();
        let next_period_api_ms =
            recorded_until.unwrap_or(record.started_api_ms / period_ms * period_ms);
        // The judge picks up where the record ends: its looks depend on the
        // recorded periods alone.
        let mut judge = rollout
            .judge()
            .map(|spec| JudgeWatch::new(&spec.looking_every(metric_period(&plan))));
        if let Some(judge) = judge.as_mut() {
            for event in history {
                if let EventKind::MetricPeriod {
                    end_ms,
                    blue,
                    green,
                    ..
                } = &event.kind
                {
                    judge.tick_span(period_ms, *end_ms, &green.as_tick(), &blue.as_tick());
                }
            }
        }
        Some(Watch {
            pace: Pace::new(record.settings.poll_ms),
            alarms: watched_alarms(&plan),
            clients,
            plan,
            record,
            reader,
            recorder,
            period_ms,
            next_period_api_ms,
            finish: None,
            conditions,
            renew: false,
            judge,
        })
    }

    pub fn run_id(&self) -> &str {
        self.recorder.run_id()
    }

    fn now_ms(&self) -> u64 {
        self.reader.at(self.record.api_now_ms())
    }

    fn emit(&mut self, events: Vec<(u64, EventKind)>) {
        for (at_ms, mut kind) in events {
            if let EventKind::AlarmStateChanged {
                alarm, condition, ..
            } = &mut kind
            {
                if let Some((_, text)) = self.conditions.iter().find(|(name, _)| name == alarm) {
                    condition.clone_from(text);
                }
            }
            if matches!(kind, EventKind::Finished { .. }) {
                self.finish = Some((at_ms, kind));
            } else {
                self.recorder.emit(at_ms, kind);
            }
        }
    }

    fn failed(&mut self, operation: &str, error: &CallError) {
        self.renew |= error.expired_token();
        let retry_in_ms = self.pace.failed();
        let now = self.now_ms();
        tracing::warn!("{operation} failed: {error}; retrying in {retry_in_ms} ms");
        self.recorder.emit(
            now,
            EventKind::PollFailed {
                operation: operation.to_string(),
                error: error.text.clone(),
                retry_in_ms,
            },
        );
    }

    /// Polls until the update ends, `stop` says who stopped watching, or the
    /// record cannot be written.
    pub async fn run(mut self, mut stop: oneshot::Receiver<String>) {
        loop {
            let ok = self.poll().await;
            if ok {
                self.pace.succeeded();
            }
            if self.reader.finished {
                break;
            }
            if let Some(reason) = self.recorder.failure.clone() {
                self.recorder_failed(&reason);
                return;
            }
            tokio::select! {
                by = &mut stop => {
                    let by = by.unwrap_or_else(|_| "guardrail, shutting down".into());
                    let now = self.now_ms();
                    self.recorder.emit(now, EventKind::WatchStopped { by: by.clone() });
                    self.recorder.emit(now, EventKind::Finished { outcome: RunOutcome::Unwatched { by } });
                    return;
                }
                _ = tokio::time::sleep(self.pace.wait()) => {}
            }
        }
        // The update ended: record the metrics up to its end, then the outcome.
        let end = self.record.api_now_ms();
        if end >= self.next_period_api_ms + self.period_ms {
            self.poll_metrics(end).await;
        }
        if let Some((at_ms, kind)) = self.finish.take() {
            self.recorder.emit(at_ms, kind);
        }
        if let Some(reason) = self.recorder.failure.clone() {
            self.recorder_failed(&reason);
        }
    }

    fn recorder_failed(&self, reason: &str) {
        tracing::error!(
            "stopped watching the SageMaker update of {}: {reason}; SageMaker carries on",
            self.plan.endpoint_name
        );
    }

    /// One round: alarms first (so a rollback finds its cause), the endpoint,
    /// then the metrics when a period is complete. False if a call failed.
    async fn poll(&mut self) -> bool {
        if std::mem::take(&mut self.renew) {
            if let Some(clients) = self.clients.renewed().await {
                tracing::info!("asked the AWS credential chain for new credentials");
                self.clients = clients;
            }
        }
        let alarms_ok = self.poll_alarms().await;
        let endpoint_ok = self.poll_endpoint().await;
        let settle_ms = self.period_ms.max(120_000);
        let api_now = self.record.api_now_ms();
        let until = api_now.saturating_sub(settle_ms);
        let metrics_ok =
            if !self.reader.finished && until >= self.next_period_api_ms + self.period_ms {
                self.poll_metrics(until).await
            } else {
                true
            };
        alarms_ok && endpoint_ok && metrics_ok
    }

    async fn poll_alarms(&mut self) -> bool {
        if self.alarms.is_empty() {
            return true;
        }
        let mut alarms = Vec::new();
        let mut next_token = None;
        for _ in 0..MAX_PAGES {
            let described = match self
                .clients
                .poll_cloudwatch
                .describe_alarms()
                .set_alarm_names(Some(self.alarms.clone()))
                .set_next_token(next_token.take())
                .send()
                .await
            {
                Ok(described) => described,
                Err(error) => {
                    self.failed("DescribeAlarms", &call_error(&error));
                    return false;
                }
            };
            alarms.extend(described.metric_alarms().iter().cloned());
            next_token = described.next_token().map(str::to_string);
            if next_token.is_none() {
                break;
            }
        }
        let mut ok = true;
        for alarm in &alarms {
            let Some(name) = alarm.alarm_name() else {
                continue;
            };
            let Some(state) = alarm
                .state_value()
                .and_then(|state| alarm_state(state.as_str()))
            else {
                continue;
            };
            let updated = millis(alarm.state_updated_timestamp())
                .unwrap_or(self.record.started_api_ms)
                .max(self.record.started_api_ms);
            let known = self.reader.alarm_state(name);
            let changed = match known {
                None => true,
                Some((known_state, known_at)) => known_state != state || updated > known_at,
            };
            if !changed {
                continue;
            }
            let mut changes = Vec::new();
            if let Some((_, known_at)) = known {
                match self.history(name, known_at).await {
                    Ok(found) => changes = found,
                    Err(error) => {
                        self.failed("DescribeAlarmHistory", &error);
                        ok = false;
                    }
                }
            }
            if changes.is_empty() {
                changes.push(AlarmChange {
                    alarm: name.to_string(),
                    at_api_ms: updated,
                    from: known
                        .map(|(state, _)| state)
                        .unwrap_or(AlarmState::InsufficientData),
                    to: state,
                    reason: alarm.state_reason().unwrap_or_default().to_string(),
                    points: self.points(alarm.state_reason_data()),
                });
            }
            let mut events = Vec::new();
            for change in changes {
                events.extend(self.reader.alarm(change));
            }
            self.emit(events);
        }
        ok
    }

    /// State changes of `alarm` after `after_api_ms`, oldest first.
    async fn history(&self, alarm: &str, after_api_ms: u64) -> Result<Vec<AlarmChange>, CallError> {
        let mut items = Vec::new();
        let mut next_token = None;
        for _ in 0..MAX_PAGES {
            let page = self
                .clients
                .poll_cloudwatch
                .describe_alarm_history()
                .alarm_name(alarm)
                .history_item_type(cw::HistoryItemType::StateUpdate)
                .start_date(DateTime::from_millis((after_api_ms + 1) as i64))
                .max_records(100)
                .set_next_token(next_token.take())
                .send()
                .await
                .map_err(|error| call_error(&error))?;
            items.extend(page.alarm_history_items().iter().cloned());
            next_token = page.next_token().map(str::to_string);
            if next_token.is_none() {
                break;
            }
        }
        let mut changes: Vec<AlarmChange> = items
            .iter()
            .filter_map(|item| {
                let at_api_ms = millis(item.timestamp())?;
                let data: serde_json::Value =
                    serde_json::from_str(item.history_data().unwrap_or("{}")).ok()?;
                let state = |key: &str| data[key]["stateValue"].as_str().and_then(alarm_state);
                Some(AlarmChange {
                    alarm: alarm.to_string(),
                    at_api_ms,
                    from: state("oldState").unwrap_or(AlarmState::InsufficientData),
                    to: state("newState")?,
                    reason: data["newState"]["stateReason"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    points: self.points_of(&data["newState"]["stateReasonData"]),
                })
            })
            .filter(|change| change.at_api_ms > after_api_ms)
            .collect();
        changes.sort_by_key(|change| change.at_api_ms);
        Ok(changes)
    }

    fn points(&self, data: Option<&str>) -> Vec<EvaluatedPoint> {
        data.and_then(|text| serde_json::from_str::<serde_json::Value>(text).ok())
            .map(|value| self.points_of(&value))
            .unwrap_or_default()
    }

    /// `stateReasonData.evaluatedDatapoints`, on the run's clock.
    fn points_of(&self, data: &serde_json::Value) -> Vec<EvaluatedPoint> {
        let data = match data {
            serde_json::Value::String(text) => serde_json::from_str(text).unwrap_or_default(),
            other => other.clone(),
        };
        let mut points: Vec<EvaluatedPoint> = data["evaluatedDatapoints"]
            .as_array()
            .map(|points| {
                points
                    .iter()
                    .filter_map(|point| {
                        let at = iso_ms(point["timestamp"].as_str()?)?;
                        Some(EvaluatedPoint {
                            period_start_seconds: (at as i64 - self.record.started_api_ms as i64)
                                .div_euclid(1_000),
                            value: point["value"].as_f64(),
                            breaching: None,
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        points.sort_by_key(|point| point.period_start_seconds);
        points
    }

    async fn poll_endpoint(&mut self) -> bool {
        let described = match self
            .clients
            .poll_sagemaker
            .describe_endpoint()
            .endpoint_name(&self.plan.endpoint_name)
            .send()
            .await
        {
            Ok(described) => described,
            Err(error) => {
                self.failed("DescribeEndpoint", &call_error(&error));
                return false;
            }
        };
        let view = endpoint_view(&described, &self.plan.variant_name);
        if view.status != "Updating" && !self.reader.finished {
            // The update ended: look once more for the alarm that rolled it back.
            self.find_cause().await;
        }
        let now = self.now_ms();
        let events = self.reader.endpoint(&view, now);
        self.emit(events);
        true
    }

    /// Reads every rollback alarm's history since the update started, so that
    /// a transition between two polls is not missed.
    async fn find_cause(&mut self) {
        for alarm in rollback_alarms(&self.plan) {
            if let Ok(changes) = self
                .history(&alarm, self.record.started_api_ms.saturating_sub(1))
                .await
            {
                let mut events = Vec::new();
                for change in changes {
                    events.extend(self.reader.alarm(change));
                }
                self.emit(events);
            }
        }
    }

    /// Records the complete metric periods before `until_api_ms`.
    async fn poll_metrics(&mut self, until_api_ms: u64) -> bool {
        let start = self.next_period_api_ms;
        let end = start + (until_api_ms.saturating_sub(start) / self.period_ms) * self.period_ms;
        if end <= start {
            return true;
        }
        let period = i32::try_from(self.period_ms / 1_000).unwrap_or(60);
        let queries = self.metric_queries(period);
        let Some(values) = self.metric_values(&queries, start, end).await else {
            return false;
        };
        let (events, looked) = self.periods(&values, start, end);
        self.next_period_api_ms = end;
        // Metric periods are recorded when complete, so they trail the
        // endpoint's events; the recorder keeps times in order.
        let last = self.recorder.last_at_ms();
        self.emit(
            events
                .into_iter()
                .map(|(at_ms, kind)| (at_ms.max(last), kind))
                .collect(),
        );
        // Once the judge has failed green its verdict stands: published every
        // period to the update's end, as the local engine does, also when
        // green serves alone and the judge no longer looks.
        let standing = || {
            self.judge
                .as_ref()
                .filter(|judge| judge.judge().failed())
                .map(|judge| judge.judge().judgement())
        };
        match looked.or_else(standing) {
            Some(judgement) => self.publish(&judgement).await,
            None => true,
        }
    }

    /// A query per fleet (`b`, `g`) and per metric of `METRICS`, with ids
    /// `b0`, `b1`, ...: SageMaker's per-config metrics at `period` seconds.
    fn metric_queries(&self, period: i32) -> Vec<cw::MetricDataQuery> {
        let mut queries = Vec::new();
        for (fleet, config) in [
            ("b", &self.record.from_config),
            ("g", &self.record.to_config),
        ] {
            for (index, (metric, stat)) in METRICS.iter().enumerate() {
                let metric = cw::Metric::builder()
                    .namespace("AWS/SageMaker")
                    .metric_name(*metric)
                    .dimensions(
                        cw::Dimension::builder()
                            .name("EndpointName")
                            .value(&self.plan.endpoint_name)
                            .build(),
                    )
                    .dimensions(
                        cw::Dimension::builder()
                            .name("VariantName")
                            .value(&self.plan.variant_name)
                            .build(),
                    )
                    .dimensions(
                        cw::Dimension::builder()
                            .name("EndpointConfigName")
                            .value(config)
                            .build(),
                    )
                    .build();
                queries.push(
                    cw::MetricDataQuery::builder()
                        .id(format!("{fleet}{index}"))
                        .metric_stat(
                            cw::MetricStat::builder()
                                .metric(metric)
                                .period(period)
                                .stat(*stat)
                                .build(),
                        )
                        .return_data(true)
                        .build(),
                );
            }
        }
        queries
    }

    /// Every value of `queries` over `[start, end)`, by (query id, period
    /// start); `None` (and the run failed) if CloudWatch did not answer.
    async fn metric_values(
        &mut self,
        queries: &[cw::MetricDataQuery],
        start: u64,
        end: u64,
    ) -> Option<BTreeMap<(String, u64), f64>> {
        // (query id, period start) → value, over every page of the answer:
        // CloudWatch may split one query's datapoints across pages.
        let mut values: BTreeMap<(String, u64), f64> = BTreeMap::new();
        let mut next_token = None;
        let mut pages = 0;
        loop {
            let answer = match self
                .clients
                .poll_cloudwatch
                .get_metric_data()
                .set_metric_data_queries(Some(queries.to_vec()))
                .start_time(DateTime::from_millis(start as i64))
                .end_time(DateTime::from_millis(end as i64))
                .set_next_token(next_token.take())
                .send()
                .await
            {
                Ok(answer) => answer,
                Err(error) => {
                    self.failed("GetMetricData", &call_error(&error));
                    return None;
                }
            };
            for result in answer.metric_data_results() {
                let Some(id) = result.id() else { continue };
                for (time, value) in result.timestamps().iter().zip(result.values()) {
                    if let Some(at) = millis(Some(time)) {
                        values.insert((id.to_string(), at), *value);
                    }
                }
            }
            pages += 1;
            next_token = answer.next_token().map(str::to_string);
            if next_token.is_none() {
                break;
            }
            if pages >= MAX_PAGES {
                let error = CallError {
                    code: None,
                    text: format!(
                        "GetMetricData answered {MAX_PAGES} pages and still a NextToken; guardrail reads these periods again later"
                    ),
                    throttled: false,
                };
                self.failed("GetMetricData", &error);
                return None;
            }
        }
        Some(values)
    }

    /// The metric period events of `[start, end)` from `values`, each period
    /// shown to the judge; with the judge's last look if it looked.
    fn periods(
        &mut self,
        values: &BTreeMap<(String, u64), f64>,
        start: u64,
        end: u64,
    ) -> (Vec<(u64, EventKind)>, Option<Judgement>) {
        let mut events = Vec::new();
        let mut looked: Option<Judgement> = None;
        let mut at = start;
        while at < end {
            let get = |id: &str| values.get(&(id.to_string(), at)).copied();
            let fleet = |prefix: &str| FleetMetrics {
                invocations: get(&format!("{prefix}0")).unwrap_or(0.0).max(0.0) as u64,
                invocation_4xx_errors: get(&format!("{prefix}1")).unwrap_or(0.0).max(0.0) as u64,
                invocation_5xx_errors: get(&format!("{prefix}2")).unwrap_or(0.0).max(0.0) as u64,
                invocation_model_errors: get(&format!("{prefix}3")).unwrap_or(0.0).max(0.0) as u64,
                model_latency_average_us: get(&format!("{prefix}4")),
                model_latency_p99_us: get(&format!("{prefix}5")),
                overhead_latency_average_us: get(&format!("{prefix}6")),
            };
            let period_end = at + self.period_ms;
            let (blue, green) = (fleet("b"), fleet("g"));
            let end_ms = self.reader.at(period_end);
            let judged = self.judge.as_mut().and_then(|judge| {
                judge
                    .tick_span(self.period_ms, end_ms, &green.as_tick(), &blue.as_tick())
                    .then(|| judge.judge().judgement())
            });
            events.push((
                end_ms,
                EventKind::MetricPeriod {
                    start_ms: self.reader.at(at),
                    end_ms,
                    blue,
                    green,
                    // GetMetricData gives statistics, not the samples that an
                    // exact re-judgement needs.
                    ticks: None,
                    team: Vec::new(),
                },
            ));
            if let Some(judgement) = judged {
                events.push((
                    end_ms,
                    EventKind::CanaryJudged {
                        judgement: Box::new(judgement.clone()),
                    },
                ));
                looked = Some(judgement);
            }
            at = period_end;
        }
        (events, looked)
    }

    /// Publishes the judge's latest look to CloudWatch (`PutMetricData`),
    /// stamped now: an ordinary alarm on `CanaryScore` is how SageMaker rolls
    /// back on it. Nothing while it has too few requests to say anything.
    async fn publish(&mut self, judgement: &Judgement) -> bool {
        let values = guardrail_core::judge::published_values(judgement);
        if values.is_empty() {
            return true;
        }
        let identity =
            guardrail_core::judge::score_metric(&self.plan.endpoint_name, &self.record.to_config);
        let now =
            DateTime::from_millis(i64::try_from(self.record.api_now_ms()).unwrap_or(i64::MAX));
        let data: Vec<cw::MetricDatum> = values
            .into_iter()
            .map(|(name, value)| {
                let mut datum = cw::MetricDatum::builder()
                    .metric_name(name)
                    .value(value)
                    .unit(cw::StandardUnit::None)
                    .timestamp(now);
                for dimension in &identity.dimensions {
                    datum = datum.dimensions(
                        cw::Dimension::builder()
                            .name(&dimension.name)
                            .value(&dimension.value)
                            .build(),
                    );
                }
                datum.build()
            })
            .collect();
        match self
            .clients
            .poll_cloudwatch
            .put_metric_data()
            .namespace(guardrail_core::judge::NAMESPACE)
            .set_metric_data(Some(data))
            .send()
            .await
        {
            Ok(_) => true,
            Err(error) => {
                self.failed("PutMetricData", &call_error(&error));
                false
            }
        }
    }
}

/// What `DescribeEndpoint` answered, as the reader reads it: blue is the
/// variant `variant` as it serves, green the same variant of the pending
/// deployment.
fn endpoint_view(
    described: &aws_sdk_sagemaker::operation::describe_endpoint::DescribeEndpointOutput,
    variant: &str,
) -> EndpointView {
    let blue = described
        .production_variants()
        .iter()
        .find(|summary| summary.variant_name() == Some(variant))
        .map(|summary| {
            fleet_view(
                summary.current_weight(),
                summary.current_instance_count(),
                summary.variant_status(),
            )
        })
        .unwrap_or_default();
    let green = described.pending_deployment_summary().and_then(|pending| {
        pending
            .production_variants()
            .iter()
            .find(|summary| summary.variant_name() == Some(variant))
            .map(|summary| {
                fleet_view(
                    summary.current_weight(),
                    summary.current_instance_count(),
                    summary.variant_status(),
                )
            })
    });
    EndpointView {
        status: described
            .endpoint_status()
            .map(|status| status.as_str().to_string())
            .unwrap_or_default(),
        config: described
            .endpoint_config_name()
            .unwrap_or_default()
            .to_string(),
        failure_reason: described.failure_reason().map(str::to_string),
        modified_ms: millis(described.last_modified_time()),
        blue,
        green,
    }
}

/// One fleet's weight, instances and first status (with its message and
/// start time).
fn fleet_view(
    weight: Option<f32>,
    instances: Option<i32>,
    statuses: &[aws_sdk_sagemaker::types::ProductionVariantStatus],
) -> FleetView {
    FleetView {
        weight: weight.map(f64::from),
        instances: instances.and_then(|count| u32::try_from(count).ok()),
        status: statuses.first().map(|status| {
            (
                status
                    .status()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
                status.status_message().map(str::to_string),
                millis(status.start_time()),
            )
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cloudwatch_times_are_read_with_or_without_milliseconds() {
        assert_eq!(iso_ms("1970-01-01T00:01:00Z"), Some(60_000));
        assert_eq!(iso_ms("1970-01-01T00:01:00.250+0000"), Some(60_250));
        assert_eq!(iso_ms("1970-01-01T00:01:00.5Z"), Some(60_500));
        assert_eq!(iso_ms("yesterday"), None);
    }
}
