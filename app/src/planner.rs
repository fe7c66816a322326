//! The planner page: the header, the notice bar, the view tabs and the layout,
//! and the effects that keep the URL fragment and the local-storage draft in
//! step with the state ([`crate::state`]).
//!
//! Everything is derived from one plan with memos, so a keystroke flows
//! plan → check → schedule → charts in one pass, in Wasm.

use guardrail_core::check;
use guardrail_core::schedule::schedule;
use guardrail_core::verdict::{judge, Judgement};
use leptos::prelude::*;

use crate::analysis::Shown;
use crate::browser;
use crate::designer::Designer;
use crate::lazy::lazily;
use crate::panels::{ComparePanel, ExportPanel, PreviewPanel, WhatIfPanel};
use crate::presets::{self, PRESETS};
use crate::runs::RunPanel;
use crate::state::{
    fragment_for, opening_fragment, restore, use_planner, Beyond, CurrentVerdict, Editing, Notice,
    Pending, Planner, Restored, View, DRAFT_KEY, PENDING_KEY,
};

/// How long the state must stay unchanged before the URL is rewritten.
const WRITE_AFTER_MS: u32 = 200;

/// The verdict on the plan on screen: its check, the fields that hold text
/// the plan cannot take, and what the what-if found (the latest result, for
/// a moment the previous plan's).
fn current_verdict(planner: Planner, analyses: crate::analysis::Analyses) -> Memo<Judgement> {
    Memo::new(move |_| {
        let required = planner
            .plan
            .with(|plan| plan.scenario_or_default().required_detection());
        let error_rate = planner
            .plan
            .with(|plan| plan.scenario_or_default().green.error_rate);
        // The latest the what-if found, for this plan or (for the moment it
        // takes to run again) the one before.
        let mut evidence = analyses.what_if.with(|what_if| match what_if {
            Some((_, Ok(what_if))) => Some(what_if.evidence.clone()),
            _ => None,
        });
        if let (Some(evidence), Some(Ok(found))) =
            (evidence.as_mut(), analyses.shown.with(Shown::last))
        {
            evidence.detection = Some((found.detection.probability, error_rate));
        }
        planner.untaken.with(|untaken| {
            planner
                .checked
                .with(|checked| judge(checked, untaken, evidence.as_ref(), required))
        })
    })
}

/// The saved draft, as JSON.
fn saved_draft() -> Option<String> {
    browser::storage_get::<serde_json::Value>(DRAFT_KEY).map(|draft| draft.to_string())
}

#[component]
pub fn App() -> impl IntoView {
    let restored = restore(
        &opening_fragment(&browser::fragment(), browser::session_get(PENDING_KEY)),
        saved_draft().as_deref(),
    );
    let planner = planner_of(restored);
    let (plan, checked, review, linked) = (
        planner.plan,
        planner.checked,
        planner.review,
        planner.linked,
    );
    follow_window_width(planner);
    provide_context(planner);
    provide_context(Editing::of_planner(planner));
    let analyses = crate::analysis::provide_analyses();
    provide_context(CurrentVerdict(current_verdict(planner, analyses)));
    // The what-if and its analyses follow the plan whatever the view, since
    // the verdict at the top needs them: in a worker, off this thread.
    let valid = Memo::new(move |_| checked.with(|checked| checked.rollout.is_some()));
    Effect::new(move |_| {
        let valid = valid.get();
        let width = planner.chart_width.get();
        plan.with(|plan| analyses.request(valid.then_some(plan), width));
    });

    let written = keep_url_and_draft(planner);
    keep_pins_and_history(planner);
    undo_keys(planner);
    follow_pasted_links(planner, written);

    view! {
        <a class="skip-link" href="#results">"Skip to the results"</a>
        <Header />
        <NoticeBar />
        {review.then(|| view! { <ReviewBar /> })}
        <Show when=move || linked.get()>
            <LinkBar />
        </Show>
        <div class="layout">
            <Designer />
            <section class="panels" aria-label="Views" id="results" tabindex="-1">
                <ViewTabs />
                {move || match planner.view.get() {
                    View::Preview => view! { <PreviewPanel /> }.into_any(),
                    View::WhatIf => lazily(what_if_panel(), LOADING).into_any(),
                    View::Compare => lazily(compare_panel(), LOADING).into_any(),
                    View::Export => lazily(export_panel(), LOADING).into_any(),
                    View::Run => lazily(run_panel(), LOADING).into_any(),
                }}
            </section>
        </div>
    }
}

/// What a view that is being fetched shows.
const LOADING: &str = "Loading the view…";

// The views besides the preview, where the planner opens: each is fetched
// the first time it is shown (`crate::lazy`).
#[lazy]
fn what_if_panel() -> AnyView {
    view! { <WhatIfPanel /> }.into_any()
}

#[lazy]
fn compare_panel() -> AnyView {
    view! { <ComparePanel /> }.into_any()
}

#[lazy]
fn export_panel() -> AnyView {
    view! { <ExportPanel /> }.into_any()
}

#[lazy]
fn run_panel() -> AnyView {
    view! { <RunPanel /> }.into_any()
}

/// The planner's state, from what the page opened with.
fn planner_of(restored: Restored) -> Planner {
    let plan = RwSignal::new(restored.plan);
    let checked = Memo::new(move |_| plan.with(check));
    let view = RwSignal::new(restored.view);
    let run = RwSignal::new(restored.run);
    let at_ms = RwSignal::new(restored.at_ms);
    let review = restored.review;
    let linked = RwSignal::new(restored.linked);
    let record = StoredValue::new(restored.record);
    let fragment = Memo::new(move |_| {
        let run = run.get();
        let at_ms = at_ms.get();
        let view = view.get();
        record.with_value(|record| {
            plan.with(|plan| {
                fragment_for(
                    plan,
                    view,
                    Beyond {
                        run: run.as_deref(),
                        at_ms,
                        review,
                        record_token: record.as_ref().map(|(token, _)| token.as_str()),
                    },
                )
            })
        })
    });
    let planner = Planner {
        plan,
        view,
        checked,
        schedule: Memo::new(move |_| {
            checked.with(|checked| checked.rollout.as_ref().map(schedule))
        }),
        notice: RwSignal::new(restored.notice),
        pinned: RwSignal::new(browser::storage_get(crate::library::PINNED_KEY).unwrap_or_default()),
        run,
        at_ms,
        fragment,
        review,
        record,
        linked,
        history: StoredValue::new(crate::history::History::default()),
        can_undo: RwSignal::new(false),
        can_redo: RwSignal::new(false),
        stepping: StoredValue::new(false),
        untaken: RwSignal::new(Vec::new()),
        chart_width: RwSignal::new(crate::charts::width_for(browser::viewport_width())),
    };
    planner
}

/// Charts are drawn for the window's width: text stays readable on a phone.
fn follow_window_width(planner: Planner) {
    let _ = window_event_listener(leptos::ev::resize, move |_| {
        let width = crate::charts::width_for(browser::viewport_width());
        if planner.chart_width.get_untracked() != width {
            planner.chart_width.set(width);
        }
    });
}

/// Keeps the URL and the draft in step with the plan and the view, and says
/// which fragment the URL holds.
fn keep_url_and_draft(planner: Planner) -> StoredValue<String> {
    let Planner {
        plan,
        fragment,
        review,
        linked,
        ..
    } = planner;
    // Keep the URL and the draft in step with the plan and the view. The
    // draft and this tab's newest state (session storage) are written on
    // every change, which is cheap; the URL once typing pauses, since
    // `history.replaceState` with a link-sized URL costs several
    // milliseconds. A reload in the pause opens the newest state (see
    // `opening_fragment`), and leaving the page writes the URL at once. A
    // review page, and a plan opened from a link beside the draft, leave the
    // draft alone.
    let written = StoredValue::new(browser::fragment());
    let flush = move || {
        let fragment = fragment.get_untracked();
        if written.with_value(|last| *last != fragment) {
            written.set_value(fragment.clone());
            browser::replace_fragment(&fragment);
        }
    };
    let pending = StoredValue::new_local(None::<browser::Later>);
    Effect::new(move |_| {
        let latest = fragment.get();
        browser::session_set(
            PENDING_KEY,
            &Pending {
                url: written.get_value(),
                latest,
            },
        );
        if !review && !linked.get() {
            plan.with_untracked(|plan| browser::storage_set(DRAFT_KEY, plan));
        }
        // Replacing the timer cancels the one before.
        pending.set_value(Some(browser::later(WRITE_AFTER_MS, flush)));
    });
    let _ = window_event_listener(leptos::ev::pagehide, move |_| flush());
    written
}

/// Plans pinned to Compare stay pinned across visits, and every change of
/// the plan is a step to undo.
fn keep_pins_and_history(planner: Planner) {
    let plan = planner.plan;
    // Plans pinned to Compare stay pinned across visits.
    Effect::new(move |_| {
        planner
            .pinned
            .with(|pinned| browser::storage_set(crate::library::PINNED_KEY, pinned))
    });
    // Every change of the plan is a step to undo (see `crate::history`).
    Effect::new(move |before: Option<guardrail_core::Plan>| {
        let after = plan.get();
        if let Some(before) = before {
            planner.record(&before, &after, browser::now_ms());
        }
        after
    });
}

/// Ctrl+Z undoes, Ctrl+Shift+Z and Ctrl+Y redo.
fn undo_keys(planner: Planner) {
    // Ctrl+Z undoes, Ctrl+Shift+Z and Ctrl+Y redo (⌘ on a Mac), in a plan's
    // field too: the plan's history, not the field's, so that what a field
    // shows and the plan never disagree.
    let _ = window_event_listener(leptos::ev::keydown, move |event| {
        if !(event.ctrl_key() || event.meta_key()) || event.alt_key() {
            return;
        }
        // Text that is not the plan's (the import box, a plan's name, the
        // retrospective judge's copy) keeps the browser's own undo.
        let keeps_own_undo = event
            .target()
            .and_then(|target| {
                leptos::wasm_bindgen::JsCast::dyn_into::<leptos::web_sys::Element>(target).ok()
            })
            .is_some_and(|element| {
                let editable = matches!(element.tag_name().as_str(), "INPUT" | "TEXTAREA");
                let plan_field = element.closest("[data-path]").ok().flatten().is_some();
                element.id().starts_with("retro-") || (editable && !plan_field)
            });
        let key = event.key().to_lowercase();
        let wanted = match key.as_str() {
            "z" if event.shift_key() => Some(false),
            "z" => Some(true),
            "y" => Some(false),
            _ => None,
        };
        if let (Some(undo), false) = (wanted, keeps_own_undo) {
            event.prevent_default();
            if undo {
                planner.undo();
            } else {
                planner.redo();
            }
        }
    });
}

/// Follows a link pasted into the address bar; `written` is the fragment the
/// URL holds.
fn follow_pasted_links(planner: Planner, written: StoredValue<String>) {
    let (plan, review) = (planner.plan, planner.review);
    // A link pasted into the address bar of an open page. Another review, or
    // a review pasted into a working page (or back), opens afresh: whether a
    // page can start rollouts is decided once, when it loads.
    let _ = window_event_listener(leptos::ev::hashchange, move |_| {
        let fragment = browser::fragment();
        if written.with_value(|last| *last != fragment) {
            let restored = restore(&fragment, saved_draft().as_deref());
            if restored.review || review {
                browser::reload();
                return;
            }
            planner.linked.set(restored.linked);
            planner.notice.set(restored.notice);
            planner.view.set(restored.view);
            planner.run.set(restored.run);
            planner.at_ms.set(restored.at_ms);
            plan.set(restored.plan);
        }
    });
}

#[component]
fn Header() -> impl IntoView {
    let planner = use_planner();
    let analyses = crate::analysis::use_analyses();
    let judgement = expect_context::<CurrentVerdict>().0;
    let updating = move || {
        planner.checked.with(|checked| checked.rollout.is_some())
            && analyses.generation.get()
                != analyses
                    .what_if
                    .with(|what_if| what_if.as_ref().map_or(0, |(generation, _)| *generation))
            || matches!(analyses.shown.get(), Shown::Running { .. })
    };
    let warnings = move || {
        planner
            .checked
            .with(|checked| match checked.report.warnings.len() {
                0 => String::new(),
                1 => " · 1 warning".to_string(),
                count => format!(" · {count} warnings"),
            })
    };
    view! {
        <header class="topbar">
            <h1><span class="logo" aria-hidden="true"></span>"guardrail"</h1>
            <p class="tagline">"Plan, rehearse and review guarded model rollouts"</p>
            <div class="verdict" role="status" aria-live="polite" aria-busy=move || updating().to_string()>
                <p class=move || format!("status {}", judgement.get().verdict.label().to_lowercase()) class:updating=updating id="plan-status">
                    {move || judgement.get().verdict.label()}
                </p>
                <p class="why" id="plan-why">{move || judgement.get().why}{warnings}</p>
            </div>
            <div class="undo" role="group" aria-label="Undo and redo">
                <button type="button" id="undo" aria-keyshortcuts="Control+Z"
                    title="Undo the last change to the plan (Ctrl+Z)"
                    disabled=move || !planner.can_undo.get()
                    on:click=move |_| { planner.undo(); }>"Undo"</button>
                <button type="button" id="redo" aria-keyshortcuts="Control+Shift+Z Control+Y"
                    title="Redo (Ctrl+Shift+Z)"
                    disabled=move || !planner.can_redo.get()
                    on:click=move |_| { planner.redo(); }>"Redo"</button>
            </div>
            <PresetChoice />
            <ShareLink />
        </header>
    }
}

/// Replaces the plan with a preset's.
#[component]
fn PresetChoice() -> impl IntoView {
    let planner = use_planner();
    view! {
        <div class="preset">
            <label for="preset">"Preset"</label>
            <select
                id="preset"
                prop:value=move || planner.plan.with(|plan| presets::matching(plan).unwrap_or_default().to_string())
                on:change=move |event| {
                    let id = event_target_value(&event);
                    if let Some(preset) = presets::find(&id) {
                        let (plan, note) = planner.plan.with_untracked(|current| presets::apply(preset, current));
                        planner.replace_plan(plan);
                        planner.notice.set(note.map(|text| Notice { error: false, text }));
                    }
                }
            >
                <option value="">"Apply a preset…"</option>
                {PRESETS
                    .iter()
                    .map(|preset| view! { <option value=preset.id>{preset.name}</option> })
                    .collect_view()}
            </select>
        </div>
    }
}

/// The plan's share link, and a button that copies it.
#[component]
fn ShareLink() -> impl IntoView {
    let planner = use_planner();
    let copied = RwSignal::new(false);
    // The link is built from the state itself, so it never lags the address bar.
    let share = Memo::new(move |_| format!("{}#{}", browser::page_url(), planner.fragment.get()));
    view! {
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
    }
}

/// Says that a review page cannot start or stop rollouts, and how to work on
/// its plan instead.
#[component]
fn ReviewBar() -> impl IntoView {
    let planner = use_planner();
    let open_as_draft = move |_| {
        planner
            .plan
            .with_untracked(|plan| browser::storage_set(DRAFT_KEY, plan));
        browser::open(&browser::page_url());
    };
    view! {
        <div class="notice" role="status" id="review-bar">
            <p>"Opened from a review link: replay the run and explore what-ifs here. This page starts and stops nothing."</p>
            <button type="button" id="open-as-draft" on:click=open_as_draft>"Open the plan as my draft"</button>
        </div>
    }
}

/// Says that the plan on screen came from a link and that the draft is kept,
/// with the way back to the draft and the way to make this plan the draft.
#[component]
fn LinkBar() -> impl IntoView {
    let planner = use_planner();
    let keep = move |_| {
        planner
            .plan
            .with_untracked(|plan| browser::storage_set(DRAFT_KEY, plan));
        planner.linked.set(false);
        planner.notice.set(Some(Notice {
            error: false,
            text: "This plan is now your draft.".into(),
        }));
    };
    view! {
        <div class="notice" role="status" id="link-bar">
            <p>"This plan came from a link. Your own draft is kept as it was: edits here do not change it."</p>
            // The page without a fragment opens the draft; the browser's Back
            // button comes back to this plan.
            <button type="button" id="back-to-draft" on:click=move |_| browser::open(&browser::page_url())>"Back to my draft"</button>
            <button type="button" id="keep-as-draft" on:click=keep>"Make this my draft"</button>
        </div>
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
    // The WAI-ARIA tabs pattern: one tab in the tab order (the selected
    // one), arrow keys, Home and End move between tabs and open them.
    let on_key = move |event: leptos::ev::KeyboardEvent| {
        let views = View::ALL;
        let now = views
            .iter()
            .position(|view| *view == planner.view.get_untracked())
            .unwrap_or(0);
        let next = match event.key().as_str() {
            "ArrowRight" => (now + 1) % views.len(),
            "ArrowLeft" => (now + views.len() - 1) % views.len(),
            "Home" => 0,
            "End" => views.len() - 1,
            _ => return,
        };
        event.prevent_default();
        planner.view.set(views[next]);
        browser::focus_id(&format!("tab-{}", views[next].id()));
    };
    view! {
        <div class="tabs" role="tablist" aria-label="Views" on:keydown=on_key>
            {View::ALL
                .into_iter()
                .map(|view| {
                    view! {
                        <button
                            type="button"
                            role="tab"
                            id=format!("tab-{}", view.id())
                            aria-controls=format!("panel-{}", view.id())
                            aria-selected=move || (planner.view.get() == view).to_string()
                            tabindex=move || if planner.view.get() == view { "0" } else { "-1" }
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
