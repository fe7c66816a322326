//! The planner's state: one plan, the open view and the run on show, and how the
//! page's opening state is decided from the URL and the saved draft.
//!
//! Every view reads and edits this state through [`use_planner`]; none of them
//! knows the page that lays them out ([`crate::planner`]).

use guardrail_core::link::{self, LinkState};
use guardrail_core::record::{self, RunRecord};
use guardrail_core::schedule::Schedule;
use guardrail_core::{examples, Checked, Plan};
use leptos::prelude::*;

/// The local-storage key of the draft.
pub const DRAFT_KEY: &str = "guardrail.draft.v1";

/// This tab's newest state, written on every change (session storage), while
/// the URL is rewritten only once typing pauses.
pub const PENDING_KEY: &str = "guardrail.pending.v1";

/// The newest fragment of a tab, and the URL fragment it supersedes.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Pending {
    /// The fragment in the URL when `latest` was made.
    pub url: String,
    pub latest: String,
}

/// The fragment a page opens with: the URL's, unless this tab changed its
/// state after last writing the URL (a reload within the pause), in which
/// case the newer state. A different URL (a link pasted or followed) wins.
pub fn opening_fragment(url: &str, pending: Option<Pending>) -> String {
    match pending {
        Some(pending) if pending.url == url && !pending.latest.is_empty() => pending.latest,
        _ => url.to_string(),
    }
}

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

/// The verdict on the plan on screen, for the header and Compare.
#[derive(Clone, Copy)]
pub struct CurrentVerdict(pub Memo<guardrail_core::verdict::Judgement>);

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
    /// Opened from a review link: the page replays and explores, and has no
    /// control that starts or stops a rollout. Fixed for the page's life.
    pub review: bool,
    /// The run the link carried (its token, as it came, and the record), shown
    /// without asking any server.
    pub record: StoredValue<Option<(String, RunRecord)>>,
    /// The plan on screen came from a link and is not the saved draft: the
    /// draft is kept as it was, and edits here do not change it, until the
    /// user makes this plan the draft.
    pub linked: RwSignal<bool>,
    /// Undo and redo of the plan (see [`crate::history`]).
    pub history: StoredValue<crate::history::History>,
    /// Whether there is a step to undo, and one to redo, for the buttons.
    pub can_undo: RwSignal<bool>,
    pub can_redo: RwSignal<bool>,
    /// The next change to the plan is an undo or a redo, not a new step.
    pub stepping: StoredValue<bool>,
    /// Fields whose text the plan cannot take (`1.5` seconds, `abc`): the
    /// plan keeps its last value, so these block the verdict and the export
    /// until they are fixed (see [`Editing::untaken`]).
    pub untaken: RwSignal<Vec<guardrail_core::problem::Problem>>,
    /// The width charts are drawn at, from the window's (`charts::width_for`).
    pub chart_width: RwSignal<u32>,
}

pub fn use_planner() -> Planner {
    expect_context::<Planner>()
}

/// The plan that the fields below edit, and whose problems they show: the
/// planner's own, or another one (the run view's retrospective judge edits a
/// copy of a recorded run's alarms with the same alarm editor). The nearest
/// one provided wins.
#[derive(Clone, Copy)]
pub struct Editing {
    pub plan: RwSignal<Plan>,
    pub checked: Memo<Checked>,
    /// Put before every element id, so that two editors can share a page.
    pub prefix: &'static str,
    /// Whether an alarm can be listed for rollback or not: every alarm the
    /// retrospective judge is given is judged as a rollback alarm.
    pub rollback_choice: bool,
    /// The fields of this editor holding text the plan cannot take, one
    /// problem per field path (code `not_taken`).
    pub untaken: RwSignal<Vec<guardrail_core::problem::Problem>>,
}

impl Editing {
    /// The planner's own plan, ids unprefixed.
    pub fn of_planner(planner: Planner) -> Self {
        Self {
            plan: planner.plan,
            checked: planner.checked,
            prefix: "",
            rollback_choice: true,
            untaken: planner.untaken,
        }
    }

    /// Records that the field at `path` holds text the plan cannot take
    /// (`message`), or (`None`) that it no longer does.
    pub fn set_untaken(&self, path: &str, message: Option<String>) {
        let present = self
            .untaken
            .try_with_untracked(|list| list.iter().any(|problem| problem.path == path));
        // Gone (the page is closing), or nothing to record or clear.
        if present.is_none() || (present == Some(false) && message.is_none()) {
            return;
        }
        self.untaken.try_update(|list| {
            list.retain(|problem| problem.path != path);
            if let Some(message) = message {
                list.push(guardrail_core::problem::Problem {
                    path: path.to_string(),
                    code: "not_taken".into(),
                    message: format!(
                        "{message}; the plan keeps its last value until this is fixed"
                    ),
                });
            }
        });
    }

    /// Applies an edit to the plan.
    pub fn edit(&self, change: impl FnOnce(&mut Plan)) {
        self.plan
            .update(|plan| edit_keeping_descriptions(plan, change));
    }

    /// An element id under this editor's prefix.
    pub fn id(&self, id: &str) -> String {
        format!("{}{id}", self.prefix)
    }
}

/// `change`, then each generated alarm description brought in step.
fn edit_keeping_descriptions(plan: &mut Plan, change: impl FnOnce(&mut Plan)) {
    let before = plan.clone();
    change(plan);
    guardrail_core::describe::follow(&before, plan);
}

pub fn use_editing() -> Editing {
    expect_context::<Editing>()
}

/// The most plans pinned beside the current one (one colour each).
pub const MOST_PINNED: usize = crate::charts::COMPARE_COLOURS.len() - 1;

impl Planner {
    /// Pins `plan` to Compare as `name`, unless Compare is full (it never
    /// drops a pinned plan by itself). Says what it did, and whether that
    /// went well.
    pub fn pin(self, name: String, plan: Plan) -> (bool, String) {
        let mut said = (true, format!("Pinned {name} to Compare."));
        self.pinned.update(|pinned| {
            if let Some(same) = pinned.iter_mut().find(|(pinned, _)| *pinned == name) {
                same.1 = plan;
            } else if pinned.len() >= MOST_PINNED {
                said = (
                    false,
                    format!(
                        "Compare holds the current plan and {MOST_PINNED} more: remove one first."
                    ),
                );
            } else {
                pinned.push((name, plan));
            }
        });
        said
    }

    /// Applies an edit to the plan. Alarm descriptions guardrail generated
    /// follow what their alarms now are (`guardrail_core::describe`).
    pub fn edit(&self, change: impl FnOnce(&mut Plan)) {
        self.plan
            .update(|plan| edit_keeping_descriptions(plan, change));
    }

    /// Takes back the last step; `false` when there is none.
    pub fn undo(&self) -> bool {
        self.step(crate::history::History::undo)
    }

    /// Does again the step last undone; `false` when there is none.
    pub fn redo(&self) -> bool {
        self.step(crate::history::History::redo)
    }

    fn step(&self, take: fn(&mut crate::history::History, &Plan) -> Option<Plan>) -> bool {
        let current = self.plan.get_untracked();
        let Some(plan) = self
            .history
            .try_update_value(|history| take(history, &current))
            .flatten()
        else {
            return false;
        };
        self.stepping.set_value(true);
        self.plan.set(plan);
        self.history.with_value(|history| {
            self.can_undo.set(history.can_undo());
            self.can_redo.set(history.can_redo());
        });
        true
    }

    /// Replaces the plan as one step of its own (a preset, an import, a
    /// named plan opened, a one-click fix): never joined to typing just
    /// before it.
    pub fn replace_plan(&self, plan: Plan) {
        self.history
            .update_value(crate::history::History::break_step);
        self.plan.set(plan);
    }

    /// Records a change of the plan from `before` to `after` in the history,
    /// unless it was an undo or a redo.
    pub fn record(&self, before: &Plan, after: &Plan, now_ms: f64) {
        if self.stepping.try_update_value(std::mem::take) == Some(true) {
            return;
        }
        self.history.update_value(|history| {
            history.changed(before, after, now_ms);
            self.can_undo.set(history.can_undo());
            self.can_redo.set(history.can_redo());
        });
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
    pub review: bool,
    /// The run carried by the link (`r=`): its token and record.
    pub record: Option<(String, RunRecord)>,
    /// The plan came from a link and differs from the saved draft, which
    /// stays as it was (see [`Planner::linked`]).
    pub linked: bool,
}

/// Decides the opening state: a link in the URL wins, then the saved draft, then
/// the seed notebook's canary. A link never replaces the draft: a plan that
/// differs from it opens beside it ([`Restored::linked`]). A broken link says
/// why and opens the draft (or, with none, the default plan).
pub fn restore(fragment: &str, draft: Option<&str>) -> Restored {
    let draft = draft.and_then(|text| Plan::from_json(text).ok());
    let opening = |plan: Plan| Restored {
        plan,
        view: View::Preview,
        run: None,
        at_ms: None,
        notice: None,
        review: false,
        record: None,
        linked: false,
    };
    let Some(token) = fragment.split('&').find_map(|part| part.strip_prefix("p=")) else {
        return opening(draft.unwrap_or_else(examples::notebook_canary));
    };
    let state = match link::decode(token) {
        Ok(state) => state,
        Err(error) => {
            let instead = if draft.is_some() {
                "Your draft is shown instead, unchanged."
            } else {
                "Showing the default plan instead."
            };
            return Restored {
                notice: Some(Notice {
                    error: true,
                    text: format!("This link could not be opened: {error}. {instead}"),
                }),
                ..opening(draft.unwrap_or_else(examples::notebook_canary))
            };
        }
    };
    let linked = !state.review && draft.as_ref().is_some_and(|draft| *draft != state.plan);
    let mut restored = Restored {
        view: View::from_id(state.view.as_deref().unwrap_or_default()),
        run: state.run,
        at_ms: state.at_ms,
        review: state.review,
        linked,
        ..opening(state.plan)
    };
    let carried = fragment
        .split('&')
        .find_map(|part| part.strip_prefix(record::KEY));
    if let Some(token) = carried {
        match RunRecord::from_token(token) {
            Ok(found) => {
                restored.run = Some(found.run_id.clone());
                restored.record = Some((token.to_string(), found));
            }
            Err(error) => {
                restored.notice = Some(Notice {
                    error: true,
                    text: format!("The run in this link could not be read: {error}. The plan opened; the run did not."),
                });
            }
        }
    }
    restored
}

/// What a page's URL fragment says beyond the plan and view.
#[derive(Clone, Copy, Debug, Default)]
pub struct Beyond<'a> {
    /// In the run view: the run and the moment on show.
    pub run: Option<&'a str>,
    pub at_ms: Option<u64>,
    /// A review page stays one on reload.
    pub review: bool,
    /// The token of the run the page was opened with, carried as it came.
    pub record_token: Option<&'a str>,
}

/// The URL fragment for a plan and view, and in the run view the run and
/// moment; a review page keeps its flag and the run it carries.
pub fn fragment_for(plan: &Plan, view: View, beyond: Beyond<'_>) -> String {
    let in_run = view == View::Run;
    let state = LinkState {
        plan: plan.clone(),
        view: Some(view.id().to_string()),
        run: beyond.run.filter(|_| in_run).map(str::to_string),
        at_ms: beyond.at_ms.filter(|_| in_run),
        review: beyond.review,
    };
    let mut fragment = format!("p={}", link::encode(&state));
    if let Some(token) = beyond.record_token {
        fragment.push('&');
        fragment.push_str(record::KEY);
        fragment.push_str(token);
    }
    fragment
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reload_before_the_url_caught_up_opens_the_newest_state() {
        let pending = Pending {
            url: "p=old".into(),
            latest: "p=new".into(),
        };
        assert_eq!(opening_fragment("p=old", Some(pending.clone())), "p=new");
        // Another link in the address bar is not this tab's stale URL.
        assert_eq!(opening_fragment("p=other", Some(pending)), "p=other");
        assert_eq!(opening_fragment("p=old", None), "p=old");
        let empty = Pending {
            url: String::new(),
            latest: String::new(),
        };
        assert_eq!(opening_fragment("", Some(empty)), "");
    }

    #[test]
    fn a_link_in_the_url_wins_over_the_draft() {
        let mut plan = examples::notebook_canary();
        plan.instance_count = Some(7);
        let beyond = Beyond {
            run: Some("run-1"),
            at_ms: Some(5),
            ..Beyond::default()
        };
        let fragment = fragment_for(&plan, View::WhatIf, beyond);
        let restored = restore(&fragment, Some(examples::ROLLING));
        assert_eq!(restored.plan, plan);
        assert_eq!(restored.view, View::WhatIf);
        assert_eq!(restored.notice, None);
        // Outside the run view, the run is not part of the link.
        assert_eq!(restored.run, None);
        let beyond = Beyond {
            at_ms: Some(5_000),
            ..beyond
        };
        let fragment = fragment_for(&plan, View::Run, beyond);
        let restored = restore(&fragment, None);
        assert_eq!(
            (restored.run.as_deref(), restored.at_ms),
            (Some("run-1"), Some(5_000))
        );
        assert!(!restored.review && restored.record.is_none());
    }

    #[test]
    fn a_review_link_opens_its_run_read_only_and_keeps_both_on_every_rewrite() {
        use guardrail_core::event::{Event, EventKind};
        let plan = examples::notebook_canary();
        let events = vec![Event {
            run_id: "run-9".into(),
            seq: 1,
            at_ms: 0,
            wall_ms: 0,
            kind: EventKind::RollbackCompleted,
        }];
        let review = record::review_link("http://h", &plan, &events, None);
        let fragment = review.url.split_once('#').expect("a fragment").1;
        let restored = restore(fragment, Some(examples::ROLLING));
        assert!(restored.review);
        assert_eq!(restored.view, View::Run);
        assert_eq!(restored.run.as_deref(), Some("run-9"));
        let (token, carried) = restored.record.clone().expect("the run came with the link");
        assert_eq!(carried.to_events(), events);
        // Moving the cursor rewrites the plan token; the review flag and the
        // run's token stay as they came.
        let rewritten = fragment_for(
            &restored.plan,
            View::Run,
            Beyond {
                run: restored.run.as_deref(),
                at_ms: Some(1_000),
                review: true,
                record_token: Some(&token),
            },
        );
        let again = restore(&rewritten, None);
        assert!(again.review);
        assert_eq!(again.at_ms, Some(1_000));
        assert_eq!(again.record.map(|(_, record)| record), Some(carried));
        // A damaged run says so, and the plan still opens.
        let broken = format!(
            "{}&r=1.AAAAbroken",
            fragment.split('&').next().unwrap_or_default()
        );
        let restored = restore(&broken, None);
        assert_eq!(restored.plan, plan);
        assert!(restored.record.is_none());
        assert!(restored
            .notice
            .is_some_and(|notice| notice.text.contains("could not be read")));
    }

    #[test]
    fn a_broken_link_says_why_and_opens_the_draft_or_else_the_default_plan() {
        let restored = restore("p=1.AAAAbroken", Some(examples::ROLLING));
        assert_eq!(
            restored.plan,
            Plan::from_json(examples::ROLLING).expect("plan")
        );
        assert!(!restored.linked);
        let notice = restored.notice.expect("a notice");
        assert!(notice.error);
        assert!(
            notice.text.contains("could not be opened") && notice.text.contains("Your draft"),
            "{}",
            notice.text
        );
        let restored = restore("p=1.AAAAbroken", None);
        assert_eq!(restored.plan, examples::notebook_canary());
        let notice = restored.notice.expect("a notice");
        assert!(notice.text.contains("default plan"), "{}", notice.text);
    }

    #[test]
    fn a_link_opens_beside_a_different_draft_and_as_the_draft_otherwise() {
        let draft = Plan::from_json(examples::ROLLING).expect("plan");
        let other = examples::notebook_canary();
        let fragment = fragment_for(&other, View::Preview, Beyond::default());
        let restored = restore(&fragment, Some(examples::ROLLING));
        assert_eq!(restored.plan, other);
        assert!(restored.linked);
        // The draft's own link (a reload of a page working on the draft).
        let own = fragment_for(&draft, View::Preview, Beyond::default());
        assert!(!restore(&own, Some(examples::ROLLING)).linked);
        // With no draft, the link's plan becomes the draft.
        assert!(!restore(&fragment, None).linked);
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
