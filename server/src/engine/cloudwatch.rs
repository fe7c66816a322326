//! CloudWatch on the local engine: metric alarms (on one metric or on metric
//! math) over the metrics SageMaker publishes and those users publish with
//! `PutMetricData`, and composite alarms over other alarms, evaluated all the
//! time by the core's alarm monitor on the API clock, each change kept in the
//! alarm's history.
//!
//! An update started through SageMaker's API reads its rollback alarms' states
//! from here, as SageMaker reads CloudWatch's: it subscribes to them and hears
//! of every change, including one made by `SetAlarmState`.
//!
//! With a store ([`CloudWatch::restore`]), every alarm, its state and its
//! history are kept there: `PutMetricAlarm`, `DeleteAlarms` and
//! `SetAlarmState` are written before they answer, and an evaluation's change
//! as it happens. A restart brings every alarm back in the state it had.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use guardrail_core::alarm::{
    trim_float, AlarmRule, AlarmState, EvaluatedPoint, PeriodSamples, Source, Stat,
};
use guardrail_core::monitor::{CompositeRule, Judgement, Monitor};
use guardrail_core::plan::{CompositeAlarm, MetricAlarm, MetricIdentity};
use guardrail_core::timeline::AlarmTransition;
use guardrail_core::{check_alarm, check_composite, Problem};
use serde_json::json;
use tokio::sync::{mpsc, Notify};

use crate::engine::clock::ApiClock;
use crate::engine::custom_metrics::{self, CustomMetrics, Datum, PutError};
use crate::engine::ids::ACCOUNT;
use crate::engine::metrics::PUBLISHED_RETENTION_MS;
use crate::store::{ResourceKind, SavedHistoryItem, Store, StoreError};

/// Where alarm datapoints come from: the metrics of the engine's endpoints and
/// those users published, selected by an exact match of the dimensions.
pub trait MetricSource {
    /// The samples of metric `identity` over an alarm period `[from_ms,
    /// to_ms)` of API time, or `None` where no metric matches or it has no
    /// data there.
    fn samples(&self, identity: &MetricIdentity, from_ms: u64, to_ms: u64)
        -> Option<PeriodSamples>;
}

/// The most alarms the local CloudWatch keeps (`LimitExceeded` beyond).
pub const MAX_ALARMS: usize = 5_000;
/// History items kept, oldest forgotten first.
const MAX_HISTORY: usize = 20_000;

/// Why a CloudWatch call failed, with the code its clients map.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CloudWatchError {
    #[error("{0}")]
    InvalidParameterValue(String),
    /// CloudWatch's `ValidationError`: a request that is well formed but not
    /// allowed now (a composite alarm naming alarms that do not exist).
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    ResourceNotFound(String),
    #[error("{0}")]
    LimitExceeded(String),
    /// The change could not be kept (the store failed): nothing changed.
    #[error("{0}")]
    Internal(String),
}

impl From<StoreError> for CloudWatchError {
    fn from(error: StoreError) -> CloudWatchError {
        CloudWatchError::Internal(format!(
            "the local CloudWatch could not keep the change: {error}"
        ))
    }
}

/// An alarm as `DescribeAlarms` shows it, and as the store keeps it.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct AlarmView {
    pub definition: MetricAlarm,
    pub arn: String,
    pub state: AlarmState,
    pub reason: String,
    /// `StateReasonData`, JSON text.
    pub reason_data: Option<String>,
    pub updated_ms: u64,
    pub transitioned_ms: u64,
    pub configured_ms: u64,
}

/// A composite alarm as `DescribeAlarms` shows it, and as the store keeps it.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct CompositeView {
    pub definition: CompositeAlarm,
    pub arn: String,
    pub state: AlarmState,
    pub reason: String,
    pub updated_ms: u64,
    pub transitioned_ms: u64,
    pub configured_ms: u64,
}

/// One `AlarmHistoryItem`.
#[derive(Clone, Debug)]
pub struct HistoryItem {
    pub alarm: String,
    /// Whether the alarm is a composite one (`AlarmType`).
    pub composite: bool,
    pub at_ms: u64,
    /// `StateUpdate` or `ConfigurationUpdate`.
    pub kind: &'static str,
    pub summary: String,
    /// `HistoryData`, JSON text.
    pub data: String,
}

impl CompositeView {
    /// A composite alarm just put: `INSUFFICIENT_DATA` until evaluated.
    fn created(definition: CompositeAlarm, arn: String, now: u64) -> CompositeView {
        CompositeView {
            definition,
            arn,
            state: AlarmState::InsufficientData,
            reason: "Unchecked: Initial alarm creation".into(),
            updated_ms: now,
            transitioned_ms: now,
            configured_ms: now,
        }
    }
}

impl HistoryItem {
    /// A history item as the store kept it.
    fn kept(item: SavedHistoryItem) -> HistoryItem {
        HistoryItem {
            composite: item.kind.starts_with("Composite"),
            alarm: item.alarm,
            at_ms: item.at_ms,
            kind: if item.kind.ends_with("StateUpdate") {
                "StateUpdate"
            } else {
                "ConfigurationUpdate"
            },
            summary: item.summary,
            data: item.data,
        }
    }
}

/// What a subscriber hears: an alarm changed state.
#[derive(Clone, Debug)]
pub struct AlarmNews {
    /// At API time.
    pub transition: AlarmTransition,
    pub condition: String,
    pub points: Vec<EvaluatedPoint>,
}

struct Stored {
    index: usize,
    view: AlarmView,
}

struct StoredComposite {
    index: usize,
    view: CompositeView,
}

struct Subscriber {
    id: u64,
    alarms: Vec<String>,
    sender: mpsc::UnboundedSender<AlarmNews>,
}

#[derive(Default)]
struct State {
    /// Where alarms and their history are kept, if anywhere.
    store: Option<Store>,
    monitor: Monitor,
    alarms: BTreeMap<String, Stored>,
    composites: BTreeMap<String, StoredComposite>,
    history: VecDeque<HistoryItem>,
    subscribers: Vec<Subscriber>,
    next_subscriber: u64,
}

/// The local CloudWatch. See the module documentation.
pub struct CloudWatch {
    clock: ApiClock,
    state: Mutex<State>,
    /// What users publish with `PutMetricData`; its own lock, since alarms
    /// read it while the state is held.
    custom: CustomMetrics,
    /// Woken when an alarm is added, so that the evaluating task re-plans.
    pub changed: Notify,
}

pub use guardrail_wire::iso8601;

fn problems_text(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|problem| {
            let field = problem
                .path
                .strip_prefix("Alarms[0].")
                .or_else(|| problem.path.strip_prefix("CompositeAlarms[0]."))
                .unwrap_or(&problem.path);
            format!("{field}: {}", problem.message)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// A composite alarm `name` may not take a metric alarm's name, and every
/// alarm its rule names (`children`) but itself must exist.
fn check_composite_names(
    state: &State,
    name: &str,
    children: Vec<&str>,
) -> Result<(), CloudWatchError> {
    if state.alarms.contains_key(name) {
        return Err(CloudWatchError::Validation(format!(
            "{name} is a metric alarm; a composite alarm cannot take its name"
        )));
    }
    let missing: Vec<&str> = children
        .into_iter()
        .filter(|child| {
            *child != name
                && !state.alarms.contains_key(*child)
                && !state.composites.contains_key(*child)
        })
        .collect();
    if !missing.is_empty() {
        return Err(CloudWatchError::Validation(format!(
            "Could not save the composite alarm as alarms [{}] in the alarm rule do not exist",
            missing.join(", ")
        )));
    }
    Ok(())
}

/// Puts back the metric alarms kept in the store, each in its kept state;
/// one whose rules no longer pass is said and not evaluated.
fn restore_alarms(state: &mut State, views: Vec<AlarmView>, now: u64) {
    for view in views {
        let rule = match check_alarm(&view.definition) {
            Ok(rule) => rule,
            Err(problems) => {
                // Kept by an earlier version whose rules were laxer:
                // said, and kept in the store, but not evaluated.
                tracing::error!(
                    "alarm {} cannot be evaluated any more: {}",
                    view.definition.alarm_name,
                    problems_text(&problems)
                );
                continue;
            }
        };
        let index = state.monitor.add(rule, now);
        state
            .monitor
            .set_state(index, view.state, &view.reason, now);
        let name = view.definition.alarm_name.clone();
        state.alarms.insert(name, Stored { index, view });
    }
}

/// Puts back the composite alarms kept in the store, each in its kept state.
fn restore_composites(state: &mut State, composites: Vec<CompositeView>, now: u64) {
    for view in composites {
        let Ok(rule) = check_composite(&view.definition) else {
            tracing::error!(
                "composite alarm {} cannot be evaluated any more",
                view.definition.alarm_name
            );
            continue;
        };
        let name = view.definition.alarm_name.clone();
        let (index, _) = state.monitor.put_composite(
            None,
            CompositeRule {
                name: name.clone(),
                rule,
            },
            now,
        );
        state
            .composites
            .insert(name, StoredComposite { index, view });
    }
    let kept: Vec<(usize, AlarmState, String)> = state
        .composites
        .values()
        .map(|stored| (stored.index, stored.view.state, stored.view.reason.clone()))
        .collect();
    for (index, kept_state, reason) in kept {
        state.monitor.set_state(index, kept_state, &reason, now);
    }
}

impl CloudWatch {
    pub fn new(clock: ApiClock) -> CloudWatch {
        CloudWatch {
            clock,
            state: Mutex::new(State {
                monitor: Monitor::on_epoch_clock(),
                ..State::default()
            }),
            custom: CustomMetrics::default(),
            changed: Notify::new(),
        }
    }

    /// The metrics users published.
    pub fn custom(&self) -> &CustomMetrics {
        &self.custom
    }

    /// The local CloudWatch with the alarms and history kept in `store`, each
    /// alarm in the state it was kept in; from now on it keeps every change
    /// there.
    pub fn restore(clock: ApiClock, store: Store) -> Result<CloudWatch, StoreError> {
        let cloudwatch = CloudWatch::new(clock);
        let views: Vec<AlarmView> = store.resources(ResourceKind::Alarm)?;
        let history = store.alarm_history()?;
        let now = clock.now_ms();
        {
            let mut state = cloudwatch.lock();
            restore_alarms(&mut state, views, now);
            // Composite alarms come back in the state they were kept in: their
            // evaluation when put back is not a change.
            let composites: Vec<CompositeView> = store.resources(ResourceKind::CompositeAlarm)?;
            restore_composites(&mut state, composites, now);
            state.history = history.into_iter().map(HistoryItem::kept).collect();
            for (series, start_ms, body) in store.custom_buckets()? {
                let (Ok(key), Ok(bucket)) = (
                    serde_json::from_str::<custom_metrics::SeriesKey>(&series),
                    serde_json::from_str::<custom_metrics::Bucket>(&body),
                ) else {
                    tracing::error!(
                        "a kept bucket of published metric data cannot be read; it is left out"
                    );
                    continue;
                };
                cloudwatch.custom.restore(key, start_ms, bucket);
            }
            state.store = Some(store);
        }
        Ok(cloudwatch)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn clock(&self) -> ApiClock {
        self.clock
    }

    /// `PutMetricAlarm`: creates an alarm, or replaces one's definition and
    /// keeps its state. The definition follows guardrail's rules for an alarm.
    pub fn put_alarm(&self, alarm: MetricAlarm, region: &str) -> Result<(), CloudWatchError> {
        let rule = check_alarm(&alarm)
            .map_err(|problems| CloudWatchError::InvalidParameterValue(problems_text(&problems)))?;
        let now = self.clock.now_ms();
        let mut state = self.lock();
        let name = alarm.alarm_name.clone();
        if state.composites.contains_key(&name) {
            return Err(CloudWatchError::Validation(format!(
                "{name} is a composite alarm; a metric alarm cannot take its name"
            )));
        }
        let existing = state
            .alarms
            .get(&name)
            .map(|stored| (stored.index, stored.view.clone()));
        let view = match &existing {
            Some((_, old)) => AlarmView {
                definition: alarm.clone(),
                configured_ms: now,
                ..old.clone()
            },
            None => {
                check_room(&state)?;
                AlarmView {
                    definition: alarm.clone(),
                    arn: arn(region, &name),
                    state: AlarmState::InsufficientData,
                    reason: "Unchecked: Initial alarm creation".into(),
                    reason_data: None,
                    updated_ms: now,
                    transitioned_ms: now,
                    configured_ms: now,
                }
            }
        };
        // Kept before it takes effect: a failure changes nothing.
        if let Some(store) = &state.store {
            store.save_resource(ResourceKind::Alarm, &name, &view)?;
        }
        let (kind, summary) = match existing {
            Some((index, _)) => {
                state.monitor.replace(index, rule, now);
                if let Some(stored) = state.alarms.get_mut(&name) {
                    stored.view = view;
                }
                ("Update", format!("Alarm \"{name}\" updated"))
            }
            None => {
                let index = state.monitor.add(rule, now);
                state.alarms.insert(name.clone(), Stored { index, view });
                ("Create", format!("Alarm \"{name}\" created"))
            }
        };
        configuration_changed(
            &mut state,
            &name,
            false,
            kind,
            summary,
            serde_json::to_value(&alarm).unwrap_or_default(),
            now,
        );
        drop(state);
        self.changed.notify_one();
        Ok(())
    }

    /// `PutCompositeAlarm`: creates a composite alarm, or replaces one's rule
    /// and keeps its state. Every alarm its rule names must exist; it is
    /// evaluated at once, and so is every composite alarm that names it.
    pub fn put_composite(
        &self,
        alarm: CompositeAlarm,
        region: &str,
    ) -> Result<(), CloudWatchError> {
        let rule = check_composite(&alarm)
            .map_err(|problems| CloudWatchError::InvalidParameterValue(problems_text(&problems)))?;
        let now = self.clock.now_ms();
        let mut state = self.lock();
        let name = alarm.alarm_name.clone();
        check_composite_names(&state, &name, rule.children())?;
        let existing = state
            .composites
            .get(&name)
            .map(|stored| (stored.index, stored.view.clone()));
        let view = match &existing {
            Some((_, old)) => CompositeView {
                definition: alarm.clone(),
                configured_ms: now,
                ..old.clone()
            },
            None => {
                check_room(&state)?;
                CompositeView::created(alarm.clone(), arn(region, &name), now)
            }
        };
        if let Some(store) = &state.store {
            store.save_resource(ResourceKind::CompositeAlarm, &name, &view)?;
        }
        let index = existing.as_ref().map(|(index, _)| *index);
        let (index, judgements) = state.monitor.put_composite(
            index,
            CompositeRule {
                name: name.clone(),
                rule,
            },
            now,
        );
        let kind = if existing.is_some() {
            "Update"
        } else {
            "Create"
        };
        state
            .composites
            .insert(name.clone(), StoredComposite { index, view });
        configuration_changed(
            &mut state,
            &name,
            true,
            kind,
            format!(
                "Alarm \"{name}\" {}",
                if existing.is_some() {
                    "updated"
                } else {
                    "created"
                }
            ),
            serde_json::to_value(&alarm).unwrap_or_default(),
            now,
        );
        record_all(&mut state, judgements);
        Ok(())
    }

    /// `DeleteAlarms`: every name must exist, and no composite alarm that is
    /// not deleted too may name one of them, or nothing is deleted.
    pub fn delete_alarms(&self, names: &[String]) -> Result<(), CloudWatchError> {
        let mut state = self.lock();
        if let Some(missing) = names
            .iter()
            .find(|name| !state.alarms.contains_key(*name) && !state.composites.contains_key(*name))
        {
            return Err(CloudWatchError::ResourceNotFound(format!(
                "alarm {missing} does not exist"
            )));
        }
        let parents: Vec<&str> = state
            .composites
            .iter()
            .filter(|(parent, _)| !names.contains(parent))
            .filter(|(_, stored)| {
                state
                    .monitor
                    .composite(stored.index)
                    .is_some_and(|composite| {
                        composite
                            .rule
                            .children()
                            .iter()
                            .any(|child| names.iter().any(|name| name == child))
                    })
            })
            .map(|(parent, _)| parent.as_str())
            .collect();
        if !parents.is_empty() {
            return Err(CloudWatchError::Validation(format!(
                "the composite alarm(s) [{}] name alarms being deleted; change their AlarmRule, or delete them too",
                parents.join(", ")
            )));
        }
        if let Some(store) = &state.store {
            let (composite, metric): (Vec<&str>, Vec<&str>) = names
                .iter()
                .map(String::as_str)
                .partition(|name| state.composites.contains_key(*name));
            store.delete_resources(ResourceKind::Alarm, &metric)?;
            store.delete_resources(ResourceKind::CompositeAlarm, &composite)?;
        }
        for name in names {
            if let Some(stored) = state.alarms.remove(name) {
                state.monitor.remove(stored.index);
            }
            if let Some(stored) = state.composites.remove(name) {
                state.monitor.remove(stored.index);
            }
        }
        Ok(())
    }

    /// `SetAlarmState`: the state holds until the next evaluation (a metric
    /// alarm's) or the next change of an alarm its rule names (a composite
    /// alarm's); composite alarms that name it follow at once.
    pub fn set_state(
        &self,
        name: &str,
        to: AlarmState,
        reason: &str,
        reason_data: Option<String>,
    ) -> Result<(), CloudWatchError> {
        let now = self.clock.now_ms();
        let mut state = self.lock();
        let index = state
            .alarms
            .get(name)
            .map(|stored| stored.index)
            .or_else(|| state.composites.get(name).map(|stored| stored.index))
            .ok_or_else(|| {
                CloudWatchError::ResourceNotFound(format!("alarm {name} does not exist"))
            })?;
        let Some(transition) = state.monitor.set_state(index, to, reason, now) else {
            return Ok(());
        };
        let mut followed = Vec::new();
        state.monitor.follow_composites(&mut followed, now);
        let condition = condition_of(&state, index);
        let kept = record(
            &mut state,
            AlarmNews {
                transition,
                condition,
                points: Vec::new(),
            },
            reason_data,
        );
        record_all(&mut state, followed);
        kept.map_err(CloudWatchError::from)
    }

    /// `PutMetricData`: keeps checked data, in the store too, before it answers.
    pub fn put_metric_data(&self, data: &[Datum]) -> Result<(), CloudWatchError> {
        let state = self.lock();
        let changed = self
            .custom
            .put(data, self.clock.now_ms())
            .map_err(|error| match error {
                PutError::TooManyMetrics => CloudWatchError::LimitExceeded(format!(
                    "the local CloudWatch keeps at most {} metrics",
                    custom_metrics::MAX_SERIES
                )),
                PutError::TooMuchData => CloudWatchError::LimitExceeded(format!(
                    "the local CloudWatch keeps at most {} buckets of published data; wait for older data to be rolled up",
                    custom_metrics::MAX_BUCKETS
                )),
            })?;
        if let Some(store) = &state.store {
            let rows: Vec<(String, u64, String)> = changed
                .iter()
                .map(|(key, start, bucket)| {
                    (
                        serde_json::to_string(key).unwrap_or_default(),
                        *start,
                        serde_json::to_string(bucket).unwrap_or_default(),
                    )
                })
                .collect();
            let oldest = self.clock.now_ms().saturating_sub(PUBLISHED_RETENTION_MS);
            store.save_custom_buckets(&[], &rows, oldest)?;
        }
        Ok(())
    }

    /// Rolls up published data as it ages, in the store too.
    pub fn keep_custom_metrics(&self) -> Result<(), StoreError> {
        let now = self.clock.now_ms();
        let state = self.lock();
        let rolled = self.custom.roll_up(now);
        let Some(store) = &state.store else {
            return Ok(());
        };
        let oldest = now.saturating_sub(PUBLISHED_RETENTION_MS);
        let ranges: Vec<(String, u64, u64)> = rolled
            .iter()
            .map(|rolled| {
                (
                    serde_json::to_string(&rolled.series).unwrap_or_default(),
                    rolled.start_ms,
                    rolled.start_ms + rolled.bucket.width_ms,
                )
            })
            .collect();
        let rows: Vec<(String, u64, String)> = rolled
            .iter()
            .map(|rolled| {
                (
                    serde_json::to_string(&rolled.series).unwrap_or_default(),
                    rolled.start_ms,
                    serde_json::to_string(&rolled.bucket).unwrap_or_default(),
                )
            })
            .collect();
        if ranges.is_empty() {
            return Ok(());
        }
        store.save_custom_buckets(&ranges, &rows, oldest)
    }

    /// When the next evaluation is due, on the API clock.
    pub fn next_due(&self) -> Option<u64> {
        self.lock().monitor.next_due()
    }

    /// Carries out every evaluation due by `now_ms`, records the changes and
    /// tells the subscribers.
    pub fn advance_to(&self, now_ms: u64, source: &dyn MetricSource) {
        let mut state = self.lock();
        let judgements = state.monitor.handle_due(now_ms, |ask| {
            let (from, to) = ask.window_ms()?;
            let samples = source.samples(&ask.query.identity, from, to)?;
            ask.query.datapoint(&samples, ask.rule.low_sample_count)
        });
        record_all(&mut state, judgements);
    }

    /// The composite alarms `keep` accepts, by name.
    pub fn composites(&self, keep: impl Fn(&CompositeView) -> bool) -> Vec<CompositeView> {
        self.lock()
            .composites
            .values()
            .filter(|stored| keep(&stored.view))
            .map(|stored| stored.view.clone())
            .collect()
    }

    /// The alarms a composite alarm's rule names, or `None` for another alarm.
    pub fn children_of(&self, name: &str) -> Option<Vec<String>> {
        let state = self.lock();
        let index = state.composites.get(name)?.index;
        let composite = state.monitor.composite(index)?;
        Some(
            composite
                .rule
                .children()
                .into_iter()
                .map(str::to_string)
                .collect(),
        )
    }

    /// The alarms `keep` accepts, by name.
    pub fn alarms(&self, keep: impl Fn(&AlarmView) -> bool) -> Vec<AlarmView> {
        self.lock()
            .alarms
            .values()
            .filter(|stored| keep(&stored.view))
            .map(|stored| stored.view.clone())
            .collect()
    }

    pub fn alarm(&self, name: &str) -> Option<AlarmView> {
        self.lock()
            .alarms
            .get(name)
            .map(|stored| stored.view.clone())
    }

    /// The history items `keep` accepts, oldest first.
    pub fn history(&self, keep: impl Fn(&HistoryItem) -> bool) -> Vec<HistoryItem> {
        self.lock()
            .history
            .iter()
            .filter(|item| keep(item))
            .cloned()
            .collect()
    }

    /// Hears of every change of `alarms` from now on. Returns the subscription,
    /// its feed, and each alarm's state now.
    pub fn subscribe(
        &self,
        alarms: &[String],
    ) -> (
        u64,
        mpsc::UnboundedReceiver<AlarmNews>,
        Vec<(String, AlarmState)>,
    ) {
        let (sender, feed) = mpsc::unbounded_channel();
        let mut state = self.lock();
        let id = state.next_subscriber;
        state.next_subscriber += 1;
        state.subscribers.push(Subscriber {
            id,
            alarms: alarms.to_vec(),
            sender,
        });
        let now = alarms
            .iter()
            .filter_map(|name| {
                state
                    .alarms
                    .get(name)
                    .map(|stored| (name.clone(), stored.view.state))
            })
            .collect();
        (id, feed, now)
    }

    pub fn unsubscribe(&self, id: u64) {
        self.lock()
            .subscribers
            .retain(|subscriber| subscriber.id != id);
    }
}

/// Room for one more alarm, metric or composite.
fn check_room(state: &State) -> Result<(), CloudWatchError> {
    if state.alarms.len() + state.composites.len() >= MAX_ALARMS {
        return Err(CloudWatchError::LimitExceeded(format!(
            "the local CloudWatch keeps at most {MAX_ALARMS} alarms"
        )));
    }
    Ok(())
}

fn arn(region: &str, name: &str) -> String {
    format!("arn:aws:cloudwatch:{region}:{ACCOUNT}:alarm:{name}")
}

/// A `ConfigurationUpdate` history item.
fn configuration_changed(
    state: &mut State,
    name: &str,
    composite: bool,
    kind: &str,
    summary: String,
    updated: serde_json::Value,
    at_ms: u64,
) {
    let data = json!({
        "version": "1.0",
        "type": kind,
        "updatedAlarm": updated,
    });
    push_history(
        state,
        HistoryItem {
            alarm: name.to_string(),
            composite,
            at_ms,
            kind: "ConfigurationUpdate",
            summary,
            data: data.to_string(),
        },
    );
}

/// The condition of alarm `index` for news: a metric alarm's, or a composite's rule.
fn condition_of(state: &State, index: usize) -> String {
    state
        .monitor
        .rule(index)
        .map(AlarmRule::condition)
        .or_else(|| {
            state
                .monitor
                .composite(index)
                .map(|composite| composite.rule.text())
        })
        .unwrap_or_default()
}

/// Records every judgement, in order; a failure to keep one is logged (the
/// change has happened).
fn record_all(state: &mut State, judgements: Vec<Judgement>) {
    for judgement in judgements {
        let condition = condition_of(state, judgement.index);
        let reason_data = state
            .monitor
            .rule(judgement.index)
            .map(|rule| reason_data(rule, &judgement.points, judgement.transition.at_ms));
        let kept = record(
            state,
            AlarmNews {
                transition: judgement.transition,
                condition,
                points: judgement.points,
            },
            reason_data,
        );
        if let Err(error) = kept {
            tracing::error!("an alarm's state change could not be kept: {error}");
        }
    }
}

/// Keeps a state change: the alarm's view (in the store too), its history,
/// and the subscribers. The subscribers hear of it even when the store fails,
/// since the change has happened; the failure is returned.
fn record(
    state: &mut State,
    news: AlarmNews,
    reason_data: Option<String>,
) -> Result<(), StoreError> {
    let transition = &news.transition;
    let mut kept = Ok(());
    let mut composite = false;
    if let Some(stored) = state.alarms.get_mut(&transition.alarm) {
        let view = &mut stored.view;
        view.state = transition.to;
        view.reason = transition.reason.clone();
        view.reason_data = reason_data.clone();
        view.updated_ms = transition.at_ms;
        view.transitioned_ms = transition.at_ms;
        if let Some(store) = &state.store {
            kept = store.save_resource(ResourceKind::Alarm, &transition.alarm, &*view);
        }
    } else if let Some(stored) = state.composites.get_mut(&transition.alarm) {
        composite = true;
        let view = &mut stored.view;
        view.state = transition.to;
        view.reason = transition.reason.clone();
        view.updated_ms = transition.at_ms;
        view.transitioned_ms = transition.at_ms;
        if let Some(store) = &state.store {
            kept = store.save_resource(ResourceKind::CompositeAlarm, &transition.alarm, &*view);
        }
    }
    let data = json!({
        "version": "1.0",
        "oldState": {"stateValue": transition.from.as_str()},
        "newState": {
            "stateValue": transition.to.as_str(),
            "stateReason": transition.reason,
            "stateReasonData": reason_data
                .as_deref()
                .and_then(|text| serde_json::from_str::<serde_json::Value>(text).ok()),
        },
    });
    push_history(
        state,
        HistoryItem {
            alarm: transition.alarm.clone(),
            composite,
            at_ms: transition.at_ms,
            kind: "StateUpdate",
            summary: format!(
                "Alarm updated from {} to {}",
                transition.from.as_str(),
                transition.to.as_str()
            ),
            data: data.to_string(),
        },
    );
    state.subscribers.retain(|subscriber| {
        if subscriber.alarms.contains(&transition.alarm) {
            subscriber.sender.send(news.clone()).is_ok()
        } else {
            !subscriber.sender.is_closed()
        }
    });
    kept
}

/// Adds an item to the history, and to the store's (a failure there is
/// logged: the change it records has already been kept).
fn push_history(state: &mut State, item: HistoryItem) {
    if let Some(store) = &state.store {
        let saved = SavedHistoryItem {
            alarm: item.alarm.clone(),
            at_ms: item.at_ms,
            kind: if item.composite {
                format!("Composite{}", item.kind)
            } else {
                item.kind.to_string()
            },
            summary: item.summary.clone(),
            data: item.data.clone(),
        };
        if let Err(error) = store.append_alarm_history(&saved, MAX_HISTORY) {
            tracing::error!("an alarm's history item could not be kept: {error}");
        }
    }
    state.history.push_back(item);
    while state.history.len() > MAX_HISTORY {
        state.history.pop_front();
    }
}

/// `StateReasonData` as CloudWatch writes it: the datapoints an evaluation used.
fn reason_data(rule: &AlarmRule, points: &[EvaluatedPoint], at_ms: u64) -> String {
    let recent: Vec<f64> = points
        .iter()
        .rev()
        .take(rule.evaluation_periods as usize)
        .filter_map(|point| point.value)
        .collect();
    let evaluated: Vec<serde_json::Value> = points
        .iter()
        .rev()
        .take(rule.evaluation_periods as usize)
        .map(|point| {
            let timestamp = iso8601((point.period_start_seconds.max(0) as u64) * 1_000);
            match point.value {
                Some(value) => json!({"timestamp": timestamp, "value": value}),
                None => json!({"timestamp": timestamp}),
            }
        })
        .collect();
    let start = points
        .first()
        .map(|point| iso8601((point.period_start_seconds.max(0) as u64) * 1_000))
        .unwrap_or_default();
    let statistic = match &rule.source {
        Source::Metric(query) => match query.stat {
            Stat::Basic(statistic) => json!({"statistic": statistic.as_str()}),
            Stat::Percentile(p) => json!({"extendedStatistic": format!("p{}", trim_float(p))}),
        },
        Source::Math { .. } => json!({}),
    };
    let mut data = json!({
        "version": "1.0",
        "queryDate": iso8601(at_ms),
        "startDate": start,
        "period": rule.period_seconds,
        "recentDatapoints": recent,
        "threshold": rule.threshold,
        "evaluatedDatapoints": evaluated,
    });
    if let (Some(object), Some(extra)) = (data.as_object_mut(), statistic.as_object()) {
        object.extend(extra.clone());
    }
    data.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every datapoint has the same value.
    struct Constant(Option<f64>);

    impl MetricSource for Constant {
        fn samples(&self, _: &MetricIdentity, _: u64, _: u64) -> Option<PeriodSamples> {
            self.0.map(|value| PeriodSamples::constant(1, value))
        }
    }

    fn alarm(name: &str) -> MetricAlarm {
        let mut alarm = guardrail_core::examples::notebook_canary().alarms[0].clone();
        alarm.alarm_name = name.into();
        alarm
    }

    #[test]
    fn alarms_evaluate_on_the_api_clock_and_keep_their_history() {
        let cloudwatch = CloudWatch::new(ApiClock::start(1.0));
        cloudwatch.put_alarm(alarm("a"), "us-east-1").expect("put");
        let (_, mut feed, now) = cloudwatch.subscribe(&["a".to_string()]);
        assert_eq!(now, vec![("a".to_string(), AlarmState::InsufficientData)]);
        let due = cloudwatch.next_due().expect("due");
        assert_eq!(due % 60_000, 0, "periods are aligned to the epoch");
        cloudwatch.advance_to(due, &Constant(Some(1.0)));
        let view = cloudwatch.alarm("a").expect("alarm");
        assert_eq!(view.state, AlarmState::Alarm);
        let data: serde_json::Value =
            serde_json::from_str(view.reason_data.as_deref().expect("reason data")).expect("json");
        assert_eq!(data["recentDatapoints"], json!([1.0]));
        assert_eq!(data["statistic"], "Average");
        let news = feed.try_recv().expect("news");
        assert_eq!(
            (news.transition.at_ms, news.transition.to),
            (due, AlarmState::Alarm)
        );
        // By hand, until the next evaluation decides again.
        cloudwatch
            .set_state("a", AlarmState::Ok, "testing", None)
            .expect("set");
        assert_eq!(feed.try_recv().expect("news").transition.to, AlarmState::Ok);
        cloudwatch.advance_to(due + 60_000, &Constant(Some(1.0)));
        assert_eq!(
            cloudwatch.alarm("a").expect("alarm").state,
            AlarmState::Alarm
        );
        let kinds: Vec<(&str, String)> = cloudwatch
            .history(|_| true)
            .iter()
            .map(|item| (item.kind, item.summary.clone()))
            .collect();
        assert_eq!(
            kinds,
            [
                ("ConfigurationUpdate", "Alarm \"a\" created".to_string()),
                (
                    "StateUpdate",
                    "Alarm updated from INSUFFICIENT_DATA to ALARM".into()
                ),
                ("StateUpdate", "Alarm updated from ALARM to OK".into()),
                ("StateUpdate", "Alarm updated from OK to ALARM".into()),
            ]
        );
    }

    #[test]
    fn invalid_unknown_and_too_many_alarms_are_refused_with_their_codes() {
        let cloudwatch = CloudWatch::new(ApiClock::start(1.0));
        let mut bad = alarm("bad");
        bad.period = Some(45);
        match cloudwatch.put_alarm(bad, "us-east-1") {
            Err(CloudWatchError::InvalidParameterValue(message)) => {
                assert!(
                    message.starts_with("Period: 45 s is not allowed"),
                    "{message}"
                )
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            cloudwatch.delete_alarms(&["nope".into()]),
            Err(CloudWatchError::ResourceNotFound(_))
        ));
        assert!(matches!(
            cloudwatch.set_state("nope", AlarmState::Alarm, "x", None),
            Err(CloudWatchError::ResourceNotFound(_))
        ));
        cloudwatch.put_alarm(alarm("a"), "us-east-1").expect("put");
        cloudwatch.delete_alarms(&["a".into()]).expect("deleted");
        assert!(cloudwatch.alarms(|_| true).is_empty());
        assert_eq!(cloudwatch.next_due(), None);
    }

    #[test]
    fn published_data_and_composite_alarms_come_back_after_a_restart() {
        use crate::engine::custom_metrics::{Datum, DatumData};
        use guardrail_core::plan::{CompositeAlarm, Dimension, MetricIdentity};
        let directory = std::env::temp_dir().join(format!(
            "guardrail-cloudwatch-restart-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&directory);
        let clock = ApiClock::start(1.0);
        let identity = MetricIdentity::new("Shop", "Orders", vec![Dimension::new("Site", "www")]);
        let now = clock.now_ms();
        {
            let store = Store::open(&directory).expect("store");
            let cloudwatch = CloudWatch::restore(clock, store).expect("restore");
            cloudwatch.put_alarm(alarm("a"), "us-east-1").expect("put");
            cloudwatch
                .put_composite(
                    CompositeAlarm {
                        alarm_name: "page".into(),
                        alarm_rule: "ALARM(a) OR TRUE".into(),
                        ..CompositeAlarm::default()
                    },
                    "us-east-1",
                )
                .expect("composite");
            cloudwatch
                .put_metric_data(&[Datum {
                    identity: identity.clone(),
                    at_ms: now,
                    high_resolution: true,
                    unit: Some("Count".into()),
                    data: DatumData::Values(vec![(2.0, 3.0)]),
                }])
                .expect("data");
            // A child named by a composite alarm cannot be deleted alone.
            assert!(matches!(
                cloudwatch.delete_alarms(&["a".into()]),
                Err(CloudWatchError::Validation(_))
            ));
        }
        let store = Store::open(&directory).expect("store again");
        let cloudwatch = CloudWatch::restore(clock, store).expect("restore again");
        let composites = cloudwatch.composites(|_| true);
        assert_eq!(composites.len(), 1);
        assert_eq!(composites[0].state, AlarmState::Alarm, "TRUE holds");
        assert_eq!(cloudwatch.children_of("page"), Some(vec!["a".to_string()]));
        let samples = cloudwatch
            .custom()
            .samples(
                &identity,
                Some("Count"),
                now - now % 1_000,
                now - now % 1_000 + 1_000,
            )
            .expect("kept");
        assert_eq!((samples.count, samples.sum), (3, 6.0));
        let history = cloudwatch.history(|item| item.alarm == "page");
        assert!(history.iter().all(|item| item.composite), "{history:?}");
        assert_eq!(history.len(), 2, "created, then INSUFFICIENT_DATA to ALARM");
        cloudwatch
            .delete_alarms(&["page".into(), "a".into()])
            .expect("both at once");
        let _ = std::fs::remove_dir_all(&directory);
    }
}
