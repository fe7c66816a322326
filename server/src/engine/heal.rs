//! Endpoints at rest keep their instance count, as SageMaker keeps it: every
//! serving instance of an endpoint that no update holds is health-checked on
//! the API clock (the assumption `in_service_health`), and one that stops or
//! fails its checks is no longer routed to and is replaced by a new instance
//! of the serving config's model. The endpoint stays `InService`, one
//! instance short (which its metrics show) until the replacement answers.
//! During an update the run checks its fleets itself.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex as StdMutex, Weak};
use std::time::{Duration, Instant as RealInstant};

use guardrail_core::assumptions::{
    PING_INTERVAL_SECONDS, PING_TIMEOUT_SECONDS, UNHEALTHY_AFTER_FAILED_PINGS,
};
use guardrail_core::event::Fleet;

use super::endpoint::EndpointStatus;
use super::fleet::{startup_patience, targets, terminate_when_drained, wait_healthy, Instance};
use super::router::Routing;
use super::{EndpointEntry, Engine, Inner};

/// After a replacement fails to start, the next try waits this long (real
/// time): a model that cannot start is not relaunched in a tight loop.
const RETRY_AFTER_FAILED_LAUNCH: Duration = Duration::from_secs(10);

/// What the healer remembers between rounds.
#[derive(Default)]
struct Healer {
    /// Failed pings in a row, by (endpoint, instance).
    failures: HashMap<(String, String), u32>,
    /// Endpoints with a replacement being launched.
    launching: Arc<StdMutex<HashSet<String>>>,
    /// Endpoints whose last replacement failed, and when.
    failed_at: Arc<StdMutex<HashMap<String, RealInstant>>>,
    counter: u64,
}

/// Runs until the engine is gone.
pub(super) async fn heal(inner: Weak<Inner>) {
    let mut healer = Healer::default();
    loop {
        let Some(strong) = inner.upgrade() else {
            return;
        };
        let engine = Engine { inner: strong };
        let scale = engine.inner.clock.scale();
        let interval = Duration::from_secs_f64((PING_INTERVAL_SECONDS / scale).max(0.025));
        let patience = Duration::from_secs_f64((PING_TIMEOUT_SECONDS / scale).max(0.25));
        let entries: Vec<(String, EndpointEntry)> = engine
            .read_endpoints()
            .iter()
            .map(|(name, entry)| (name.clone(), entry.clone()))
            .collect();
        for (name, entry) in entries {
            healer.round(&engine, &name, &entry, patience).await;
        }
        drop(engine);
        tokio::time::sleep(interval).await;
    }
}

/// Whether an endpoint is at rest: in service, with no update holding it.
fn at_rest(state: &super::endpoint::EndpointState) -> bool {
    state.updating.is_none() && state.status == EndpointStatus::InService
}

impl Healer {
    /// One round for endpoint `name`: pings its instances if it is at rest,
    /// takes out those that failed, and launches replacements for what the
    /// fleet is short.
    async fn round(
        &mut self,
        engine: &Engine,
        name: &str,
        entry: &EndpointEntry,
        patience: Duration,
    ) {
        let checks: Vec<(String, String, bool)> = {
            let Ok(mut state) = entry.state.try_lock() else {
                return;
            };
            if !at_rest(&state) {
                self.failures.retain(|(endpoint, _), _| endpoint != name);
                return;
            }
            state
                .blue
                .iter_mut()
                .map(|instance| {
                    let running = instance.is_running();
                    (instance.id.clone(), instance.url.clone(), running)
                })
                .collect()
        };
        let results = ping_all(&engine.inner.client, checks, patience).await;
        let unhealthy = self.tally(name, results);
        let mut state = entry.state.lock().await;
        if !at_rest(&state) {
            return;
        }
        if !unhealthy.is_empty() {
            take_out(name, entry, &mut state, &unhealthy);
        }
        let short = state
            .desired_instances
            .saturating_sub(state.blue.len() as u32);
        let waited = self
            .failed_at
            .lock()
            .map(|failed| {
                failed
                    .get(name)
                    .is_none_or(|at| at.elapsed() >= RETRY_AFTER_FAILED_LAUNCH)
            })
            .unwrap_or(true);
        let free = self
            .launching
            .lock()
            .map(|mut launching| waited && short > 0 && launching.insert(name.to_string()))
            .unwrap_or(false);
        if !free {
            return;
        }
        let config = state.config.clone();
        drop(state);
        self.start_replacing(engine, name, entry, config, short);
    }

    /// Counts each instance's failed pings: those not running, or failing
    /// `UNHEALTHY_AFTER_FAILED_PINGS` in a row, are unhealthy.
    fn tally(&mut self, name: &str, results: Vec<(String, bool, bool)>) -> Vec<String> {
        let mut unhealthy = Vec::new();
        for (id, running, healthy) in results {
            let key = (name.to_string(), id.clone());
            if healthy {
                self.failures.remove(&key);
                continue;
            }
            let count = self.failures.entry(key.clone()).or_default();
            *count += 1;
            if !running || *count >= UNHEALTHY_AFTER_FAILED_PINGS {
                self.failures.remove(&key);
                unhealthy.push(id);
            }
        }
        unhealthy
    }

    /// Launches `short` instances of `config` for endpoint `name` in the
    /// background; a failure waits `RETRY_AFTER_FAILED_LAUNCH` before the next.
    fn start_replacing(
        &mut self,
        engine: &Engine,
        name: &str,
        entry: &EndpointEntry,
        config: String,
        short: u32,
    ) {
        self.counter += 1;
        let first = self.counter;
        self.counter += u64::from(short);
        let launching = self.launching.clone();
        let failed_at = self.failed_at.clone();
        let engine = engine.clone();
        let entry = entry.clone();
        let name = name.to_string();
        engine.inner.runtime.clone().spawn(async move {
            let result = replace(&engine, &entry, &config, short, first).await;
            if let Ok(mut failed) = failed_at.lock() {
                match &result {
                    Ok(()) => failed.remove(&name),
                    Err(reason) => {
                        tracing::error!(endpoint = %name, "cannot replace an unhealthy instance: {reason}");
                        failed.insert(name.clone(), RealInstant::now())
                    }
                };
            }
            if let Ok(mut launching) = launching.lock() {
                launching.remove(&name);
            }
        });
    }
}

/// Pings each `(id, url, running)` instance that runs, within `patience`:
/// `(id, running, healthy)` of each.
async fn ping_all(
    client: &reqwest::Client,
    checks: Vec<(String, String, bool)>,
    patience: Duration,
) -> Vec<(String, bool, bool)> {
    futures::future::join_all(checks.into_iter().map(|(id, url, running)| {
        let client = client.clone();
        async move {
            let healthy = running
                && matches!(
                    tokio::time::timeout(patience, client.get(format!("{url}/ping")).send()).await,
                    Ok(Ok(response)) if response.status().is_success()
                );
            (id, running, healthy)
        }
    }))
    .await
}

/// Takes the `unhealthy` instances out of the endpoint's fleet and its
/// routing, and stops each once its requests have drained.
fn take_out(
    name: &str,
    entry: &EndpointEntry,
    state: &mut super::endpoint::EndpointState,
    unhealthy: &[String],
) {
    let (gone, kept): (Vec<Instance>, Vec<Instance>) = state
        .blue
        .drain(..)
        .partition(|instance| unhealthy.contains(&instance.id));
    state.blue = kept;
    entry
        .router
        .set_routing(Routing::blue_only(targets(&state.blue, &state.config)));
    for instance in &gone {
        tracing::warn!(
            endpoint = name,
            instance = %instance.id,
            "an instance at rest failed its health checks; it is no longer routed to and is replaced"
        );
    }
    terminate_when_drained(entry.router.clone(), gone);
}

/// Launches `count` instances of `config`'s model and adds each to the
/// serving fleet once it answers, if the endpoint still exists and is at
/// rest on `config`; otherwise the new instance is stopped.
async fn replace(
    engine: &Engine,
    entry: &EndpointEntry,
    config: &str,
    count: u32,
    first: u64,
) -> Result<(), String> {
    let (_, model) = engine.runnable_config(config)?;
    let patience = startup_patience(engine.inner.clock.scale());
    for n in 0..u64::from(count) {
        let id = format!("{config}-replacement-{}", first + n);
        let index = usize::try_from(first + n).unwrap_or_default();
        let seed = engine.inner.seed ^ (first + n);
        let instance = Instance::launch(&model, index, id.clone(), Fleet::Blue, seed).await?;
        if let Err(reason) = wait_healthy(&engine.inner.client, &instance.url, patience).await {
            instance.terminate();
            return Err(format!("replacement {id} did not become healthy: {reason}"));
        }
        let current = engine
            .read_endpoints()
            .get(&entry.router.name)
            .is_some_and(|now| Arc::ptr_eq(&now.state, &entry.state));
        let mut state = entry.state.lock().await;
        if !current || !at_rest(&state) || state.config != config {
            instance.terminate();
            return Ok(());
        }
        tracing::info!(endpoint = %entry.router.name, instance = %id, "a replacement serves");
        state.blue.push(instance);
        entry
            .router
            .set_routing(Routing::blue_only(targets(&state.blue, &state.config)));
    }
    Ok(())
}
