//! The planner's state: one plan, the open view and the run on show, and how the
//! page's opening state is decided from the URL and the saved draft.
//!
//! Every view reads and edits this state through [`use_planner`]; none of them
//! knows the page that lays them out ([`crate::planner`]).

use guardrail_core::link::{self, LinkState};
use guardrail_core::schedule::Schedule;
use guardrail_core::{examples, Checked, Plan};
use leptos::prelude::*;

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
