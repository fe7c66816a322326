//! CloudWatch on the local engine: metric alarms on the metrics SageMaker
//! publishes, evaluated all the time by the core's alarm monitor on the API
//! clock, each change kept in the alarm's history.
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

use guardrail_core::alarm::{trim_float, AlarmRule, AlarmState, EvaluatedPoint, Stat};
use guardrail_core::monitor::Monitor;
use guardrail_core::plan::MetricAlarm;
use guardrail_core::timeline::AlarmTransition;
use guardrail_core::{check_alarm, Problem};
use serde_json::json;
use tokio::sync::{mpsc, Notify};

use crate::engine::clock::ApiClock;
use crate::engine::ids::ACCOUNT;
use crate::store::{ResourceKind, SavedHistoryItem, Store, StoreError};

/// Where alarm datapoints come from: the published metrics of the engine's
/// endpoints, selected by an exact match of the alarm's dimensions.
pub trait MetricSource {
    /// `alarm`'s statistic over `[from_ms, to_ms)` of API time, or `None` where
    /// no metric matches or no invocation happened.
    fn datapoint(
        &self,
        alarm: &MetricAlarm,
        rule: &AlarmRule,
        from_ms: u64,
        to_ms: u64,
    ) -> Option<f64>;
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

/// One `AlarmHistoryItem`.
#[derive(Clone, Debug)]
pub struct HistoryItem {
    pub alarm: String,
    pub at_ms: u64,
    /// `StateUpdate` or `ConfigurationUpdate`.
    pub kind: &'static str,
    pub summary: String,
    /// `HistoryData`, JSON text.
    pub data: String,
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
    /// Monitor index → alarm name.
    names: BTreeMap<usize, String>,
    history: VecDeque<HistoryItem>,
    subscribers: Vec<Subscriber>,
    next_subscriber: u64,
}

/// The local CloudWatch. See the module documentation.
pub struct CloudWatch {
    clock: ApiClock,
    state: Mutex<State>,
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
                .unwrap_or(&problem.path);
            format!("{field}: {}", problem.message)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

impl CloudWatch {
    pub fn new(clock: ApiClock) -> CloudWatch {
        CloudWatch {
            clock,
            state: Mutex::new(State {
                monitor: Monitor::on_epoch_clock(),
                ..State::default()
            }),
            changed: Notify::new(),
        }
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
                state.names.insert(index, name.clone());
                state.alarms.insert(name, Stored { index, view });
            }
            state.history = history
                .into_iter()
                .map(|item| HistoryItem {
                    alarm: item.alarm,
                    at_ms: item.at_ms,
                    kind: if item.kind == "StateUpdate" {
                        "StateUpdate"
                    } else {
                        "ConfigurationUpdate"
                    },
                    summary: item.summary,
                    data: item.data,
                })
                .collect();
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
                if state.alarms.len() >= MAX_ALARMS {
                    return Err(CloudWatchError::LimitExceeded(format!(
                        "the local CloudWatch keeps at most {MAX_ALARMS} alarms"
                    )));
                }
                AlarmView {
                    definition: alarm.clone(),
                    arn: format!("arn:aws:cloudwatch:{region}:{ACCOUNT}:alarm:{name}"),
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
                state.names.insert(index, name.clone());
                state.alarms.insert(name.clone(), Stored { index, view });
                ("Create", format!("Alarm \"{name}\" created"))
            }
        };
        let data = json!({
            "version": "1.0",
            "type": kind,
            "updatedAlarm": serde_json::to_value(&alarm).unwrap_or_default(),
        });
        push_history(
            &mut state,
            HistoryItem {
                alarm: name,
                at_ms: now,
                kind: "ConfigurationUpdate",
                summary,
                data: data.to_string(),
            },
        );
        drop(state);
        self.changed.notify_one();
        Ok(())
    }

    /// `DeleteAlarms`: every name must exist, or nothing is deleted.
    pub fn delete_alarms(&self, names: &[String]) -> Result<(), CloudWatchError> {
        let mut state = self.lock();
        if let Some(missing) = names.iter().find(|name| !state.alarms.contains_key(*name)) {
            return Err(CloudWatchError::ResourceNotFound(format!(
                "alarm {missing} does not exist"
            )));
        }
        if let Some(store) = &state.store {
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            store.delete_resources(ResourceKind::Alarm, &names)?;
        }
        for name in names {
            if let Some(stored) = state.alarms.remove(name) {
                state.monitor.remove(stored.index);
                state.names.remove(&stored.index);
            }
        }
        Ok(())
    }

    /// `SetAlarmState`: the state holds until the next evaluation.
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
            .ok_or_else(|| {
                CloudWatchError::ResourceNotFound(format!("alarm {name} does not exist"))
            })?;
        let condition = state
            .monitor
            .rule(index)
            .map(AlarmRule::condition)
            .unwrap_or_default();
        let Some(transition) = state.monitor.set_state(index, to, reason, now) else {
            return Ok(());
        };
        record(
            &mut state,
            AlarmNews {
                transition,
                condition,
                points: Vec::new(),
            },
            reason_data,
        )
        .map_err(CloudWatchError::from)
    }

    /// When the next evaluation is due, on the API clock.
    pub fn next_due(&self) -> Option<u64> {
        self.lock().monitor.next_due()
    }

    /// Carries out every evaluation due by `now_ms`, records the changes and
    /// tells the subscribers.
    pub fn advance_to(&self, now_ms: u64, source: &dyn MetricSource) {
        let mut state = self.lock();
        let State {
            monitor,
            alarms,
            names,
            ..
        } = &mut *state;
        let judgements = monitor.handle_due(now_ms, |index, rule, period| {
            let alarm = names.get(&index).and_then(|name| alarms.get(name))?;
            let period_ms = rule.period_ms() as i64;
            let from = u64::try_from(period.checked_mul(period_ms)?).ok()?;
            source.datapoint(&alarm.view.definition, rule, from, from + rule.period_ms())
        });
        for judgement in judgements {
            let condition = state
                .monitor
                .rule(judgement.index)
                .map(AlarmRule::condition)
                .unwrap_or_default();
            let reason_data = state
                .monitor
                .rule(judgement.index)
                .map(|rule| reason_data(rule, &judgement.points, judgement.transition.at_ms));
            let kept = record(
                &mut state,
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
            kind: item.kind.to_string(),
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
    let statistic = match rule.stat {
        Stat::Basic(statistic) => json!({"statistic": statistic.as_str()}),
        Stat::Percentile(p) => json!({"extendedStatistic": format!("p{}", trim_float(p))}),
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
        fn datapoint(&self, _: &MetricAlarm, _: &AlarmRule, _: u64, _: u64) -> Option<f64> {
            self.0
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
}
