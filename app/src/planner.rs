//! The planner page: its state, the URL and draft it keeps in step, and the layout.
//!
//! All state is one plan plus the open view. Everything else (validation, the
//! schedule, simulations) is derived from it with memos, so a keystroke flows
//! plan → check → schedule → charts in one pass, in Wasm.

use guardrail_core::link::{self, LinkState};
use guardrail_core::schedule::{schedule, Schedule};
use guardrail_core::{check, examples, Checked, Plan};
use leptos::prelude::*;

use crate::browser;
use crate::designer::Designer;
use crate::panels::{ComparePanel, ExportPanel, PreviewPanel, WhatIfPanel};
use crate::presets::{self, PRESETS};
use crate::runs::RunPanel;

/// The local-storage key of the draft.
pub const DRAFT_KEY: &str = "guardrail.draft.v1";

/// The right-hand views.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum View {
    Preview,
    WhatIf,
    Compare,
    Export,
    Run,
}

impl View {
    pub const ALL: [View; 5] = [
        View::Preview,
        View::WhatIf,
        View::Compare,
        View::Export,
        View::Run,
    ];

    pub fn id(self) -> &'static str {
        match self {
            View::Preview => "plan",
            View::WhatIf => "whatif",
            View::Compare => "compare",
            View::Export => "export",
            View::Run => "run",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            View::Preview => "Preview",
            View::WhatIf => "What-if",
            View::Compare => "Compare",
            View::Export => "Export & import",
            View::Run => "Run & replay",
        }
    }

    pub fn from_id(id: &str) -> View {
        View::ALL
            .into_iter()
            .find(|view| view.id() == id)
            .unwrap_or(View::Preview)
    }
}

/// A message across the top of the page.
#[derive(Clone, Debug, PartialEq)]
pub struct Notice {
    pub error: bool,
    pub text: String,
}

/// The planner's shared state, provided as context.
#[derive(Clone, Copy)]
pub struct Planner {
    pub plan: RwSignal<Plan>,
    pub view: RwSignal<View>,
    pub checked: Memo<Checked>,
    pub schedule: Memo<Option<Schedule>>,
    pub notice: RwSignal<Option<Notice>>,
    /// Plans pinned for comparison, with their names.
    pub pinned: RwSignal<Vec<(String, Plan)>>,
    /// The recorded run on show in the run view.
    pub run: RwSignal<Option<String>>,
    /// The moment of that run on show, in plan milliseconds; `None` is its end.
    pub at_ms: RwSignal<Option<u64>>,
    /// The URL fragment for all of the above, encoded once per change.
    pub fragment: Memo<String>,
}

pub fn use_planner() -> Planner {
    expect_context::<Planner>()
}

impl Planner {
    /// Applies an edit to the plan.
    pub fn edit(&self, change: impl FnOnce(&mut Plan)) {
        self.plan.update(change);
    }
}

/// What the page opens with.
#[derive(Clone, Debug, PartialEq)]
pub struct Restored {
    pub plan: Plan,
    pub view: View,
    pub run: Option<String>,
    pub at_ms: Option<u64>,
    pub notice: Option<Notice>,
}

/// Decides the opening state: a link in the URL wins, then the saved draft, then
/// the seed notebook's canary. A broken link says why and opens the default plan.
pub fn restore(fragment: &str, draft: Option<&str>) -> Restored {
    let default = || examples::notebook_canary();
    if let Some(token) = fragment.split('&').find_map(|part| part.strip_prefix("p=")) {
        return match link::decode(token) {
            Ok(state) => Restored {
                plan: state.plan,
                view: View::from_id(state.view.as_deref().unwrap_or_default()),
                run: state.run,
                at_ms: state.at_ms,
                notice: None,
            },
            Err(error) => Restored {
                plan: default(),
                view: View::Preview,
                run: None,
                at_ms: None,
                notice: Some(Notice {
                    error: true,
                    text: format!(
                        "This link could not be opened: {error}. Showing the default plan instead."
                    ),
                }),
            },
        };
    }
    if let Some(plan) = draft.and_then(|text| Plan::from_json(text).ok()) {
        return Restored {
            plan,
            view: View::Preview,
            run: None,
            at_ms: None,
            notice: None,
        };
    }
    Restored {
        plan: default(),
        view: View::Preview,
        run: None,
        at_ms: None,
        notice: None,
    }
}

/// The URL fragment for a plan and view, and in the run view the run and moment.
pub fn fragment_for(plan: &Plan, view: View, run: Option<String>, at_ms: Option<u64>) -> String {
    let in_run = view == View::Run;
    let state = LinkState {
        plan: plan.clone(),
        view: Some(view.id().to_string()),
        run: run.filter(|_| in_run),
        at_ms: at_ms.filter(|_| in_run),
    };
    format!("p={}", link::encode(&state))
}

#[component]
pub fn App() -> impl IntoView {
    let restored = restore(
        &browser::fragment(),
        browser::storage_get(DRAFT_KEY).as_deref(),
    );
    let plan = RwSignal::new(restored.plan);
    let checked = Memo::new(move |_| plan.with(check));
    let view = RwSignal::new(restored.view);
    let run = RwSignal::new(restored.run);
    let at_ms = RwSignal::new(restored.at_ms);
    let fragment = Memo::new(move |_| {
        plan.with(|plan| fragment_for(plan, view.get(), run.get(), at_ms.get()))
    });
    let planner = Planner {
        plan,
        view,
        checked,
        schedule: Memo::new(move |_| {
            checked.with(|checked| checked.rollout.as_ref().map(schedule))
        }),
        notice: RwSignal::new(restored.notice),
        pinned: RwSignal::new(Vec::new()),
        run,
        at_ms,
        fragment,
    };
    provide_context(planner);

    // Keep the URL and the draft in step with the plan and the view.
    let written = StoredValue::new(String::new());
    Effect::new(move |_| {
        let fragment = fragment.get();
        written.set_value(fragment.clone());
        browser::replace_fragment(&fragment);
        browser::storage_set(DRAFT_KEY, &plan.with(Plan::to_json_pretty));
    });
    // A link pasted into the address bar of an open page.
    let _ = window_event_listener(leptos::ev::hashchange, move |_| {
        let fragment = browser::fragment();
        if written.with_value(|last| *last != fragment) {
            let restored = restore(&fragment, None);
            planner.notice.set(restored.notice);
            planner.view.set(restored.view);
            planner.run.set(restored.run);
            planner.at_ms.set(restored.at_ms);
            plan.set(restored.plan);
        }
    });

    view! {
        <Header />
        <NoticeBar />
        <div class="layout">
            <Designer />
            <section class="panels" aria-label="Views">
                <ViewTabs />
                {move || match planner.view.get() {
                    View::Preview => view! { <PreviewPanel /> }.into_any(),
                    View::WhatIf => view! { <WhatIfPanel /> }.into_any(),
                    View::Compare => view! { <ComparePanel /> }.into_any(),
                    View::Export => view! { <ExportPanel /> }.into_any(),
                    View::Run => view! { <RunPanel /> }.into_any(),
                }}
            </section>
        </div>
    }
}

#[component]
fn Header() -> impl IntoView {
    let planner = use_planner();
    let copied = RwSignal::new(false);
    // The link is built from the state itself, so it never lags the address bar.
    let share = Memo::new(move |_| format!("{}#{}", browser::page_url(), planner.fragment.get()));
    let status = move || {
        planner.checked.with(|checked| {
            let errors = checked.report.errors.len();
            let warnings = checked.report.warnings.len();
            if errors > 0 {
                (
                    "status invalid",
                    format!("{errors} error(s), {warnings} warning(s)"),
                )
            } else {
                ("status valid", format!("Valid, {warnings} warning(s)"))
            }
        })
    };
    view! {
        <header class="topbar">
            <h1><span class="logo" aria-hidden="true"></span>"guardrail"</h1>
            <p class="tagline">"Plan, rehearse and review guarded model rollouts"</p>
            <p class=move || status().0 id="plan-status" role="status">{move || status().1}</p>
            <div class="preset">
                <label for="preset">"Preset"</label>
                <select
                    id="preset"
                    on:change=move |event| {
                        let id = event_target_value(&event);
                        if let Some(preset) = presets::find(&id) {
                            let (plan, note) = planner.plan.with_untracked(|current| presets::apply(preset, current));
                            planner.plan.set(plan);
                            planner.notice.set(note.map(|text| Notice { error: false, text }));
                        }
                    }
                >
                    <option value="" selected=true>"Apply a preset…"</option>
                    {PRESETS
                        .iter()
                        .map(|preset| view! { <option value=preset.id>{preset.name}</option> })
                        .collect_view()}
                </select>
            </div>
            <div class="share">
                <label for="share-link">"Share link"</label>
                <input id="share-link" type="text" readonly=true prop:value=move || share.get() />
                <button
                    id="copy-link"
                    type="button"
                    on:click=move |_| {
                        copied.set(browser::copy(&share.get_untracked()));
                    }
                >
                    {move || if copied.get() { "Copied" } else { "Copy link" }}
                </button>
            </div>
        </header>
    }
}

#[component]
fn NoticeBar() -> impl IntoView {
    let planner = use_planner();
    move || {
        planner.notice.get().map(|notice| {
            view! {
                <div class=if notice.error { "notice error" } else { "notice" } role="alert" id="notice">
                    <p>{notice.text}</p>
                    <button type="button" on:click=move |_| planner.notice.set(None)>
                        "Dismiss"
                    </button>
                </div>
            }
        })
    }
}

#[component]
fn ViewTabs() -> impl IntoView {
    let planner = use_planner();
    view! {
        <div class="tabs" role="tablist" aria-label="Views">
            {View::ALL
                .into_iter()
                .map(|view| {
                    view! {
                        <button
                            type="button"
                            role="tab"
                            id=format!("tab-{}", view.id())
                            aria-selected=move || (planner.view.get() == view).to_string()
                            class:active=move || planner.view.get() == view
                            on:click=move |_| planner.view.set(view)
                        >
                            {view.label()}
                        </button>
                    }
                })
                .collect_view()}
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_in_the_url_wins_over_the_draft() {
        let mut plan = examples::notebook_canary();
        plan.instance_count = Some(7);
        let fragment = fragment_for(&plan, View::WhatIf, Some("run-1".into()), Some(5));
        let restored = restore(&fragment, Some(examples::ROLLING));
        assert_eq!(restored.plan, plan);
        assert_eq!(restored.view, View::WhatIf);
        assert_eq!(restored.notice, None);
        // Outside the run view, the run is not part of the link.
        assert_eq!(restored.run, None);
        let fragment = fragment_for(&plan, View::Run, Some("run-1".into()), Some(5_000));
        let restored = restore(&fragment, None);
        assert_eq!(
            (restored.run.as_deref(), restored.at_ms),
            (Some("run-1"), Some(5_000))
        );
    }

    #[test]
    fn a_broken_link_says_why_and_opens_the_default_plan() {
        let restored = restore("p=1.AAAAbroken", Some(examples::ROLLING));
        assert_eq!(restored.plan, examples::notebook_canary());
        let notice = restored.notice.expect("a notice");
        assert!(notice.error);
        assert!(
            notice.text.contains("could not be opened"),
            "{}",
            notice.text
        );
    }

    #[test]
    fn without_a_link_the_draft_is_restored() {
        let restored = restore("", Some(examples::ROLLING));
        assert_eq!(
            restored.plan,
            Plan::from_json(examples::ROLLING).expect("plan")
        );
        let restored = restore("", Some("not json"));
        assert_eq!(restored.plan, examples::notebook_canary());
    }
}
