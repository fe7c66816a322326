//! The planner page.

use guardrail_core::explain::mmss;
use guardrail_core::schedule::schedule;
use guardrail_core::{check, examples};
use leptos::prelude::*;

use crate::charts::traffic_chart;

#[component]
pub fn App() -> impl IntoView {
    let plan = examples::notebook_canary();
    let checked = check(&plan);
    let schedule = checked.rollout.as_ref().map(schedule);
    let chart = schedule.as_ref().map(traffic_chart).unwrap_or_default();
    let total = schedule
        .as_ref()
        .map(|schedule| mmss(u64::from(schedule.total_seconds)))
        .unwrap_or_default();
    view! {
        <main>
            <h1>"guardrail"</h1>
            <p id="total-duration">{total}</p>
            <div id="traffic-chart" inner_html=chart></div>
        </main>
    }
}
