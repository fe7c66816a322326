//! The what-if off the main thread, so a keystroke never waits for it: the
//! one seeded run with its explanation and charts, then the analyses (the
//! 1 000-run detection and the detection curve).
//!
//! The worker is this same Wasm bundle: its entry point (`main.rs`)
//! registers `worker::AnalysisWorker` instead of mounting the page when it
//! finds itself in a worker, so the browser fetches and compiles nothing more. gloo-worker
//! spawns it from the bundle's own script (the page's `modulepreload` link).
//!
//! Every request carries a generation. The worker advances the core's
//! [`Analysis`] a few milliseconds at a time, yields so that a newer request
//! can arrive, and drops work whose generation is no longer the latest. The
//! page shows progress, and shows a result only when its generation is the
//! plan on screen. Where no worker can be spawned (native builds, or a host
//! that serves the bundle without its preload link) the analyses run on the
//! page, as before.

use guardrail_core::alarm::{trim_float, AlarmState, Scope};
use guardrail_core::controller::Outcome;
use guardrail_core::explain::{explain, mmss};
use guardrail_core::plan::Scenario;
use guardrail_core::schedule::schedule;
use guardrail_core::simulate::{
    simulate, Analysed, Analysis, Progress, Simulation, CURVE_ERROR_RATES, DEFAULT_RUNS,
};
use guardrail_core::verdict::{shipped_failures, Evidence};
use guardrail_core::{check, Plan};

use crate::charts::{alarm_chart, traffic_chart};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// Runs per point of the detection curve (the headline figure uses 1 000).
pub const CURVE_RUNS: u32 = 100;

/// Runs of a pinned plan's detection in Compare.
pub const COMPARE_RUNS: u32 = 200;

/// What Compare shows of a pinned plan beyond its check: the evidence of its
/// seeded run with its detection, and the detection's count.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Compared {
    pub evidence: Option<Evidence>,
    /// Runs rolled back by an alarm, of runs.
    pub detection: Option<(u32, u32)>,
}

/// Starts a pinned plan's detection; `None` when the plan has errors.
fn start_compare(plan_json: &str) -> Option<(Analysis, Option<Evidence>, f64)> {
    let plan = Plan::from_json(plan_json).ok()?;
    let rollout = check(&plan).rollout?;
    let scenario = plan.scenario_or_default();
    let evidence = simulate(&rollout, &scenario)
        .and_then(|simulation| Evidence::of_run(&rollout, &scenario, &simulation))
        .ok();
    let analysis = Analysis::detection_only(&rollout, &scenario, COMPARE_RUNS).ok()?;
    Some((analysis, evidence, scenario.green.error_rate))
}

/// A finished detection with its run's evidence.
fn compared(analysis: &Analysis, evidence: Option<Evidence>, error_rate: f64) -> Compared {
    let detection = analysis.results().map(|found| found.detection);
    Compared {
        evidence: evidence.map(|evidence| Evidence {
            detection: detection
                .as_ref()
                .map(|found| (found.probability, error_rate)),
            ..evidence
        }),
        detection: detection.map(|found| (found.detected, found.runs)),
    }
}

/// A pinned plan's seeded run and detection, on this thread.
pub fn compare_now(plan_json: &str) -> Compared {
    let Some((mut analysis, evidence, error_rate)) = start_compare(plan_json) else {
        return Compared::default();
    };
    while !analysis.is_done() {
        if analysis.advance(u32::MAX).is_err() {
            return Compared {
                evidence,
                ..Compared::default()
            };
        }
    }
    compared(&analysis, evidence, error_rate)
}

/// What the what-if's analyses found: the detection, the curve and, with a
/// canary judge, the A/A runs.
pub type Found = Result<Analysed, String>;

/// From the page to the worker.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Ask {
    /// The what-if of the plan on screen.
    Analyse(Request),
    /// A plan pinned to Compare (JSON): its seeded run and detection.
    Compare(String),
}

/// Analyse this plan, or (no plan) stop.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Request {
    pub generation: u64,
    /// The plan as JSON; `None` drops whatever is under way.
    pub plan: Option<String>,
    /// The width to draw the charts at (`charts::width_for`).
    pub width: u32,
}

/// The what-if's one seeded run, ready to show: its outcome, figures,
/// explanation and charts (SVG drawn by plotters in the worker).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WhatIf {
    pub headline: String,
    /// The update completed and no regression shipped with it.
    pub succeeded: bool,
    pub requests_to_green: u64,
    pub failed_from_green: u64,
    pub time_to_rollback: String,
    pub seed: u64,
    pub sentences: Vec<String>,
    pub overlay: String,
    pub alarms: Vec<AlarmTraceView>,
    /// What the plan's verdict needs from this run (and from one more with
    /// no regression at all); the detection is added when the analysis ends.
    pub evidence: Evidence,
    /// The Problems box's one-click fixes, each proven on seeded runs off the
    /// page's thread; they arrive after the detection (`Reply::Fixed`).
    pub fixes: Vec<crate::edit::NewFleetFix>,
}

/// The Problems box's one-click fixes for `plan_json`, each proven on seeded
/// runs (up to a few thousand: after the detection, not before it).
pub fn fixes(plan_json: &str) -> Vec<crate::edit::NewFleetFix> {
    Plan::from_json(plan_json)
        .map(|plan| crate::edit::new_fleet_fixes(&plan))
        .unwrap_or_default()
}

/// One alarm of [`WhatIf`]: what it watches, when it fired, its chart.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlarmTraceView {
    pub name: String,
    pub scope: String,
    pub condition: String,
    pub fired_at: Option<String>,
    pub svg: String,
    pub label: String,
}

/// Simulates `plan_json`'s scenario once and draws it.
pub fn what_if(plan_json: &str, width: u32) -> Result<WhatIf, String> {
    let plan = Plan::from_json(plan_json).map_err(|error| error.to_string())?;
    let rollout = check(&plan)
        .rollout
        .ok_or_else(|| "the plan has errors".to_string())?;
    let scenario = plan.scenario_or_default();
    let simulation = simulate(&rollout, &scenario).map_err(|error| error.to_string())?;
    let schedule = schedule(&rollout);
    let (headline, succeeded) = headline(&scenario, &simulation);
    let alarms = (0..simulation.alarms.len())
        .filter_map(|index| trace_view(&simulation, index, width))
        .collect();
    Ok(WhatIf {
        headline,
        succeeded,
        requests_to_green: simulation.requests_to_green,
        failed_from_green: simulation.failed_requests_from_green,
        time_to_rollback: match (
            simulation.time_to_rollback_seconds(),
            simulation.rollback_at_seconds(),
        ) {
            (Some(seconds), _) => mmss(seconds as u64),
            // Rolled back before the regression met a request: an alarm that
            // fires on healthy traffic, or a timeout.
            (None, Some(at)) => format!("before the regression began (at {})", mmss(at as u64)),
            (None, None) => "none".into(),
        },
        seed: scenario.seed,
        sentences: explain(&schedule, &scenario, &simulation),
        overlay: traffic_chart(&schedule, Some(&simulation), width),
        alarms,
        evidence: Evidence::of_run(&rollout, &scenario, &simulation)
            .map_err(|error| error.to_string())?,
        fixes: Vec::new(),
    })
}

/// The run's outcome in a line, and whether it shipped a good update.
fn headline(scenario: &Scenario, simulation: &Simulation) -> (String, bool) {
    match &simulation.outcome {
    Outcome::Succeeded { completed_at_ms } => match shipped_failures(scenario, simulation) {
        // Green's regression reached production and no alarm acted.
        Some(failures) => (
            format!(
                "Shipped the regression: the update completed at {} with {failures} more failed request(s) on green than blue would have had, and no alarm fired",
                mmss(completed_at_ms / 1_000)
            ),
            false,
        ),
        None => (
            format!("Succeeded at {}", mmss(completed_at_ms / 1_000)),
            true,
        ),
    },
    Outcome::RolledBack {
        decided_at_ms,
        phase,
        ..
    } => (
        format!(
            "Rolled back at {} during the {}",
            mmss(decided_at_ms / 1_000),
            phase.label()
        ),
        false,
    ),
    }
}

/// Alarm `index` of the run: its scope, condition, first ALARM and chart.
fn trace_view(simulation: &Simulation, index: usize, width: u32) -> Option<AlarmTraceView> {
    let trace = simulation.alarms.get(index)?;
    Some(AlarmTraceView {
        name: trace.name.clone(),
        scope: match trace.scope {
            Scope::NewFleet => "new fleet only",
            Scope::Endpoint => "whole endpoint",
            Scope::NoMetric => "matches no metric: sees no data",
            Scope::Unrelated => "not this rollout",
            Scope::Team => "the team's own metric, as the scenario models it",
        }
        .to_string(),
        condition: trace.condition.clone(),
        fired_at: trace
            .transitions
            .iter()
            .find(|transition| transition.to == AlarmState::Alarm)
            .map(|transition| mmss(transition.at_ms / 1_000)),
        svg: alarm_chart(simulation, index, width),
        label: format!(
            "{} datapoints against the threshold {}",
            trace.name,
            trim_float(trace.threshold)
        ),
    })
}

/// From the worker to the page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Reply {
    /// The one seeded run, first.
    Simulated {
        generation: u64,
        what_if: Result<WhatIf, String>,
    },
    Progress {
        generation: u64,
        progress: Progress,
    },
    Done {
        generation: u64,
        found: Found,
    },
    /// The one-click fixes, proven after the detection.
    Fixed {
        generation: u64,
        fixes: Vec<crate::edit::NewFleetFix>,
    },
    /// A newer request arrived before this one was done; its work was dropped.
    Cancelled {
        generation: u64,
    },
    /// A pinned plan (its JSON, as asked), compared.
    Compared {
        plan: String,
        compared: Compared,
    },
}

/// Starts the analyses of `plan_json`.
pub fn start(plan_json: &str) -> Result<Analysis, String> {
    let plan = Plan::from_json(plan_json).map_err(|error| error.to_string())?;
    let rollout = check(&plan)
        .rollout
        .ok_or_else(|| "the plan has errors".to_string())?;
    Analysis::new(
        &rollout,
        &plan.scenario_or_default(),
        DEFAULT_RUNS,
        &CURVE_ERROR_RATES,
        CURVE_RUNS,
    )
    .map_err(|error| error.to_string())
}

/// Both analyses at once, on this thread.
pub fn analyse_now(plan_json: &str) -> Found {
    let mut analysis = start(plan_json)?;
    while !analysis.is_done() {
        analysis
            .advance(u32::MAX)
            .map_err(|error| error.to_string())?;
    }
    analysis
        .results()
        .ok_or_else(|| "the analysis did not finish".to_string())
}

/// What the what-if shows of the analyses.
#[derive(Clone, Debug, PartialEq)]
pub enum Shown {
    /// The plan has errors: nothing to analyse.
    Nothing,
    /// Under way for the plan on screen; the last result, of an earlier
    /// plan, is shown dimmed meanwhile.
    Running {
        progress: Progress,
        previous: Option<Found>,
    },
    Done(Found),
}

impl Shown {
    /// The latest result, of this plan or (while running) an earlier one.
    pub fn last(&self) -> Option<Found> {
        match self {
            Shown::Nothing => None,
            Shown::Running { previous, .. } => previous.clone(),
            Shown::Done(found) => Some(found.clone()),
        }
    }
}

/// The page's side: one worker for the page's life, the state it reports,
/// and the generation of the plan on screen.
#[derive(Clone, Copy)]
pub struct Analyses {
    pub shown: RwSignal<Shown>,
    /// The one seeded run, and the generation it belongs to.
    pub what_if: RwSignal<Option<(u64, Result<WhatIf, String>)>>,
    /// The generation of the plan on screen.
    pub generation: RwSignal<u64>,
    /// Analyses dropped because the plan changed under them.
    pub cancelled: RwSignal<u32>,
    /// Whether the analyses run in a worker.
    pub in_worker: RwSignal<bool>,
    requested: StoredValue<Option<(Option<String>, u32)>>,
    /// Pinned plans (JSON) compared, for Compare.
    pub compared: RwSignal<std::collections::HashMap<String, Compared>>,
    /// Pinned plans asked for and not yet compared.
    comparing: StoredValue<std::collections::HashSet<String>>,
    #[cfg(feature = "csr")]
    bridge: StoredValue<Option<worker::Bridge>, LocalStorage>,
}

pub fn provide_analyses() -> Analyses {
    let analyses = Analyses {
        shown: RwSignal::new(Shown::Nothing),
        what_if: RwSignal::new(None),
        generation: RwSignal::new(0),
        cancelled: RwSignal::new(0),
        in_worker: RwSignal::new(false),
        requested: StoredValue::new(None),
        compared: RwSignal::new(Default::default()),
        comparing: StoredValue::new(Default::default()),
        #[cfg(feature = "csr")]
        bridge: StoredValue::new_local(None),
    };
    provide_context(analyses);
    analyses
}

pub fn use_analyses() -> Analyses {
    expect_context::<Analyses>()
}

impl Analyses {
    /// Asks for the analyses of `plan` (`None`: the plan has errors). The
    /// same plan again changes nothing.
    pub fn request(&self, plan: Option<&Plan>, width: u32) {
        let json = plan.map(Plan::to_json_pretty);
        let asked = (json.clone(), width);
        if self
            .requested
            .with_value(|last| last.as_ref() == Some(&asked))
        {
            return;
        }
        self.requested.set_value(Some(asked));
        let generation = self.generation.get_untracked() + 1;
        self.generation.set(generation);
        let previous = self.shown.with_untracked(Shown::last);
        if !self.send(Ask::Analyse(Request {
            generation,
            plan: json.clone(),
            width,
        })) {
            // No worker: analyse here.
            self.what_if.set(json.as_deref().map(|json| {
                let mut found = what_if(json, width);
                if let Ok(found) = found.as_mut() {
                    found.fixes = fixes(json);
                }
                (generation, found)
            }));
            self.shown.set(match json {
                None => Shown::Nothing,
                Some(json) => Shown::Done(analyse_now(&json)),
            });
            return;
        }
        self.shown.set(match json {
            None => Shown::Nothing,
            Some(_) => Shown::Running {
                progress: Progress { done: 0, total: 0 },
                previous,
            },
        });
    }

    /// Asks for the comparison of each of `plans` (JSON) not yet compared,
    /// and forgets those of plans no longer asked for. Without a worker,
    /// compares them here.
    pub fn compare(&self, plans: &[String]) {
        let stale = self
            .compared
            .with_untracked(|compared| compared.keys().any(|plan| !plans.contains(plan)));
        if stale {
            self.compared
                .update(|compared| compared.retain(|plan, _| plans.contains(plan)));
        }
        self.comparing
            .update_value(|comparing| comparing.retain(|plan| plans.contains(plan)));
        for plan in plans {
            let known = self
                .compared
                .with_untracked(|compared| compared.contains_key(plan))
                || self
                    .comparing
                    .with_value(|comparing| comparing.contains(plan));
            if known {
                continue;
            }
            self.comparing
                .update_value(|comparing| _ = comparing.insert(plan.clone()));
            if !self.send(Ask::Compare(plan.clone())) {
                self.receive(Reply::Compared {
                    plan: plan.clone(),
                    compared: compare_now(plan),
                });
            }
        }
    }

    /// Keeps a pinned plan's comparison, if the plan is still asked for.
    fn take_compared(&self, plan: String, compared: Compared) {
        let asked = self
            .comparing
            .try_update_value(|comparing| comparing.remove(&plan))
            .unwrap_or(false);
        if asked {
            self.compared.update(|all| _ = all.insert(plan, compared));
        }
    }

    /// Takes a reply from the worker: only the plan on screen's count.
    pub fn receive(&self, reply: Reply) {
        let current = self.generation.get_untracked();
        match reply {
            Reply::Progress {
                generation,
                progress,
            } if generation == current => self.shown.update(|shown| {
                if let Shown::Running { progress: now, .. } = shown {
                    *now = progress;
                }
            }),
            Reply::Simulated {
                generation,
                what_if,
            } if generation == current => self.what_if.set(Some((generation, what_if))),
            Reply::Done { generation, found } if generation == current => {
                self.shown.set(Shown::Done(found))
            }
            Reply::Fixed { generation, fixes } if generation == current => {
                self.what_if.update(|what_if| {
                    if let Some((shown, Ok(what_if))) = what_if {
                        if *shown == generation {
                            what_if.fixes = fixes;
                        }
                    }
                })
            }
            Reply::Cancelled { .. } => self.cancelled.update(|count| *count += 1),
            Reply::Compared { plan, compared } => self.take_compared(plan, compared),
            _ => {}
        }
    }

    #[cfg(feature = "csr")]
    fn send(&self, request: Ask) -> bool {
        if self.bridge.with_value(Option::is_none) {
            let this = *self;
            let bridge = worker::spawn(move |reply| this.receive(reply));
            self.in_worker.set(bridge.is_some());
            self.bridge.set_value(bridge);
        }
        self.bridge.with_value(|bridge| match bridge {
            Some(bridge) => {
                bridge.send(request);
                true
            }
            None => false,
        })
    }

    #[cfg(not(feature = "csr"))]
    fn send(&self, _request: Ask) -> bool {
        false
    }
}

#[cfg(feature = "csr")]
pub mod worker {
    use std::cell::Cell;
    use std::rc::Rc;

    use gloo_worker::{HandlerId, Registrable, Spawnable, Worker, WorkerBridge, WorkerScope};
    use wasm_bindgen::JsCast;

    use super::{compared, start, start_compare, what_if, Ask, Compared, Reply};

    /// How long the worker computes before it looks for a newer request.
    const SLICE_MS: f64 = 8.0;
    /// Simulations between looks at the clock.
    const RUNS_PER_LOOK: u32 = 10;

    pub type Bridge = WorkerBridge<AnalysisWorker>;

    /// The worker: at most one analysis under way, the latest asked for.
    pub struct AnalysisWorker {
        latest: Rc<Cell<u64>>,
    }

    impl Worker for AnalysisWorker {
        type Message = ();
        type Input = Ask;
        type Output = Reply;

        fn create(_scope: &WorkerScope<Self>) -> Self {
            AnalysisWorker {
                latest: Rc::new(Cell::new(0)),
            }
        }

        fn update(&mut self, _scope: &WorkerScope<Self>, _message: ()) {}

        fn received(&mut self, scope: &WorkerScope<Self>, ask: Ask, who: HandlerId) {
            let request = match ask {
                Ask::Analyse(request) => request,
                Ask::Compare(plan) => {
                    let scope = scope.clone();
                    wasm_bindgen_futures::spawn_local(async move {
                        let compared = compare_in_slices(&plan).await;
                        scope.respond(who, Reply::Compared { plan, compared });
                    });
                    return;
                }
            };
            self.latest.set(request.generation);
            let Some(plan) = request.plan else {
                return;
            };
            wasm_bindgen_futures::spawn_local(analyse(
                scope.clone(),
                who,
                self.latest.clone(),
                request.generation,
                plan,
                request.width,
            ));
        }
    }

    /// Answers request `generation` for `plan`: the what-if's run at once,
    /// then the detection a slice at a time with its progress, then the
    /// proven fixes; cancelled as soon as a newer request (`latest`) comes.
    async fn analyse(
        scope: WorkerScope<AnalysisWorker>,
        who: HandlerId,
        latest: Rc<Cell<u64>>,
        generation: u64,
        plan: String,
        width: u32,
    ) {
        scope.respond(
            who,
            Reply::Simulated {
                generation,
                what_if: what_if(&plan, width),
            },
        );
        yield_to_messages().await;
        if latest.get() != generation {
            scope.respond(who, Reply::Cancelled { generation });
            return;
        }
        let failed = |error: String| Reply::Done {
            generation,
            found: Err(error),
        };
        let mut analysis = match start(&plan) {
            Ok(analysis) => analysis,
            Err(error) => {
                scope.respond(who, failed(error));
                return;
            }
        };
        loop {
            if latest.get() != generation {
                scope.respond(who, Reply::Cancelled { generation });
                return;
            }
            let began = js_sys::Date::now();
            while !analysis.is_done() && js_sys::Date::now() - began < SLICE_MS {
                if let Err(error) = analysis.advance(RUNS_PER_LOOK) {
                    scope.respond(who, failed(error.to_string()));
                    return;
                }
            }
            if let Some(found) = analysis.results() {
                scope.respond(
                    who,
                    Reply::Done {
                        generation,
                        found: Ok(found),
                    },
                );
                yield_to_messages().await;
                if latest.get() == generation {
                    let fixes = crate::analysis::fixes(&plan);
                    scope.respond(who, Reply::Fixed { generation, fixes });
                }
                return;
            }
            scope.respond(
                who,
                Reply::Progress {
                    generation,
                    progress: analysis.progress(),
                },
            );
            yield_to_messages().await;
        }
    }

    /// A pinned plan's detection, a slice at a time, so that the what-if of
    /// the plan on screen goes on beside it.
    async fn compare_in_slices(plan: &str) -> Compared {
        let Some((mut analysis, evidence, error_rate)) = start_compare(plan) else {
            return Compared::default();
        };
        while !analysis.is_done() {
            let began = js_sys::Date::now();
            while !analysis.is_done() && js_sys::Date::now() - began < SLICE_MS {
                if analysis.advance(RUNS_PER_LOOK).is_err() {
                    return Compared {
                        evidence,
                        ..Compared::default()
                    };
                }
            }
            yield_to_messages().await;
        }
        compared(&analysis, evidence, error_rate)
    }

    /// Lets the worker's queued messages in before the analysis goes on. A
    /// message to itself rather than a timer: browsers hold nested timers back
    /// by 4 ms, which would stretch a long analysis by a quarter.
    async fn yield_to_messages() {
        let Ok(channel) = web_sys::MessageChannel::new() else {
            return;
        };
        let promise = js_sys::Promise::new(&mut |resolve, _reject| {
            channel.port1().set_onmessage(Some(&resolve));
            let _ = channel.port2().post_message(&wasm_bindgen::JsValue::NULL);
        });
        let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
        channel.port1().set_onmessage(None);
    }

    /// Whether this code runs in a worker rather than a page.
    pub fn in_worker() -> bool {
        js_sys::global().dyn_into::<web_sys::Window>().is_err()
    }

    /// Makes this worker answer [`Request`]s.
    pub fn register() {
        AnalysisWorker::registrar().register();
    }

    /// Spawns the worker from the bundle's own script and Wasm, if the page
    /// names them. The loader passes the Wasm's address: the script's default
    /// is its name before Trunk added the content hash.
    pub fn spawn(on_reply: impl Fn(Reply) + 'static) -> Option<Bridge> {
        let script = web_sys::window()?
            .document()?
            .query_selector("link[rel=modulepreload][href$='.js']")
            .ok()??
            .dyn_into::<web_sys::HtmlLinkElement>()
            .ok()?
            .href();
        let wasm = format!("{}_bg.wasm", script.strip_suffix(".js")?);
        let loader = format!(
            "import init from {};\nawait init({{ module_or_path: {} }});\n",
            serde_json::to_string(&script).ok()?,
            serde_json::to_string(&wasm).ok()?
        );
        let parts = js_sys::Array::of1(&wasm_bindgen::JsValue::from_str(&loader));
        let options = web_sys::BlobPropertyBag::new();
        options.set_type("text/javascript");
        let blob = web_sys::Blob::new_with_str_sequence_and_options(&parts, &options).ok()?;
        let url = web_sys::Url::create_object_url_with_blob(&blob).ok()?;
        Some(
            AnalysisWorker::spawner()
                .callback(on_reply)
                .with_loader(true)
                .spawn(&url),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use guardrail_core::examples;

    #[test]
    fn the_worker_draws_the_seed_run_and_analyses_it_as_the_core_does() {
        let json = examples::notebook_canary().to_json_pretty();
        let shown = what_if(&json, crate::charts::SIZE.0).expect("a valid plan");
        assert_eq!(shown.headline, "Rolled back at 11:00 during the final bake");
        assert!(!shown.succeeded);
        assert_eq!(shown.alarms.len(), 2);
        assert!(shown
            .alarms
            .iter()
            .all(|alarm| alarm.svg.starts_with("<svg")));
        // The legend is drawn by hand: its labels are in the overlay.
        assert!(shown.overlay.contains("simulated green traffic"));
        assert!(shown.overlay.contains("rollback at 11:00"));
        let found = analyse_now(&json).expect("analyses");
        assert_eq!(found.detection.runs, DEFAULT_RUNS);
        assert_eq!(found.curve.len(), CURVE_ERROR_RATES.len());
        assert_eq!(found.a_a, None);
        // A plan with errors is refused with a reason, not analysed.
        let mut broken = examples::notebook_canary();
        broken.alarms[0].period = Some(7);
        assert_eq!(
            what_if(&broken.to_json_pretty(), crate::charts::SIZE.0),
            Err("the plan has errors".to_string())
        );
    }
}
