//! The planner in a real browser: headless Chromium against the release bundle.

use std::io::Write;
use std::process::{Command, Stdio};

use anyhow::{ensure, Context, Result};
use guardrail_tests::{
    chart_svg, console_errors, guardrail_binary, is_checked, open_fresh, open_view, type_into,
    value_of, wait_for, wait_for_text, with_browser, TestServer,
};
use thirtyfour::components::SelectElement;
use thirtyfour::prelude::*;

const CANARY_VALUE: &str =
    "DeploymentConfig.BlueGreenUpdatePolicy.TrafficRoutingConfiguration.CanarySize.Value";

async fn no_console_errors(driver: &WebDriver) -> Result<()> {
    let errors = console_errors(driver).await?;
    ensure!(errors.is_empty(), "console errors: {errors:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_page_loads_and_shows_the_chart_for_the_default_plan() -> Result<()> {
    let server = TestServer::start().await?;
    with_browser(|driver| async move {
        open_fresh(&driver, &server.base_url).await?;
        let total = wait_for_text(&driver, "#total-duration", |text| !text.is_empty()).await?;
        ensure!(total == "13:00", "total duration: {total}");
        let chart = driver.find(By::Css("#traffic-chart svg")).await?;
        ensure!(chart.is_displayed().await?, "chart hidden");
        let svg = chart_svg(&driver, "#traffic-chart").await?;
        ensure!(svg.contains("canary bake"), "no phase bands in the chart");
        let weights = wait_for_text(&driver, "#weights-model", |text| !text.is_empty()).await?;
        ensure!(
            weights.contains("1/4 = 25 %"),
            "weights model not stated: {weights}"
        );
        // The seed notebook's error alarm is blind during the canary bake.
        let status = wait_for_text(&driver, "#plan-status", |text| !text.is_empty()).await?;
        ensure!(status == "Unprotected", "{status}");
        let why = wait_for_text(&driver, "#plan-why", |text| !text.is_empty()).await?;
        ensure!(why.contains("cannot fire during canary bake"), "{why}");
        no_console_errors(&driver).await
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn changing_the_canary_size_updates_the_chart_and_the_total_duration() -> Result<()> {
    let server = TestServer::start().await?;
    with_browser(|driver| async move {
        open_fresh(&driver, &server.base_url).await?;
        let before = chart_svg(&driver, "#traffic-chart").await?;
        type_into(&driver, "#instance-count", "4").await?;
        type_into(&driver, "#size-value", "2").await?;
        wait_for_text(&driver, "#size-effect", |text| {
            text.contains("33.33% of traffic")
        })
        .await?;
        wait_for_text(&driver, "#steps", |text| text.contains("33.33%")).await?;
        let after = chart_svg(&driver, "#traffic-chart").await?;
        ensure!(before != after, "the chart did not change");
        // A longer canary bake lengthens the rollout: 13:00 + 2:00.
        type_into(&driver, "#wait", "420").await?;
        wait_for_text(&driver, "#total-duration", |text| text == "15:00").await?;
        no_console_errors(&driver).await
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn an_edit_survives_a_reload_at_once_and_a_new_visit() -> Result<()> {
    let server = TestServer::start().await?;
    with_browser(|driver| async move {
        open_fresh(&driver, &server.base_url).await?;
        // The URL is rewritten only once typing pauses; a reload straight
        // after the last key still opens the edited plan (leaving the page
        // writes the URL, and the tab's newest state is in session storage:
        // with neither, this reload opened the plan before the edit).
        type_into(&driver, "#wait", "420").await?;
        driver.refresh().await?;
        wait_for_text(&driver, "#total-duration", |text| text == "15:00").await?;
        // And the draft keeps it for a new visit without a link.
        type_into(&driver, "#wait", "480").await?;
        driver.goto(&server.base_url).await?;
        wait_for_text(&driver, "#total-duration", |text| text == "16:00").await?;
        // The URL caught up: it is a link to the edited plan.
        wait_for("the URL to hold the plan", || {
            let driver = driver.clone();
            async move {
                let url = driver.current_url().await.ok()?.to_string();
                let (_, fragment) = url.split_once("#p=")?;
                let state = guardrail_core::link::decode(fragment).ok()?;
                (guardrail_app::edit::wait(&state.plan) == Some(480)).then_some(())
            }
        })
        .await?;
        no_console_errors(&driver).await
    })
    .await
}

/// Opens `url` as a new page load (not a same-page fragment change).
async fn load(driver: &WebDriver, url: &str) -> Result<()> {
    driver.goto("about:blank").await?;
    driver.goto(url).await?;
    wait_for_text(driver, "#total-duration", |text| !text.is_empty()).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_link_opens_beside_the_draft_and_a_damaged_link_keeps_it() -> Result<()> {
    use guardrail_core::link::{encode, LinkState};
    let server = TestServer::start().await?;
    let rolling = guardrail_core::Plan::from_json(guardrail_core::examples::ROLLING)
        .map_err(|error| anyhow::anyhow!("{error}"))?;
    let link = format!(
        "{}/#p={}",
        server.base_url,
        encode(&LinkState::plan(rolling))
    );
    with_browser(|driver| async move {
        open_fresh(&driver, &server.base_url).await?;
        type_into(&driver, "#endpoint-name", "my-draft").await?;
        // A link to another plan opens beside the draft, and says so.
        load(&driver, &link).await?;
        wait_for_text(&driver, "#link-bar", |text| text.contains("draft is kept")).await?;
        ensure!(
            is_checked(&driver, "#mode-rolling").await?,
            "#mode-rolling is not checked"
        );
        // Edits here leave the draft alone.
        type_into(&driver, "#endpoint-name", "from-the-link").await?;
        driver
            .find(By::Css("#back-to-draft"))
            .await?
            .click()
            .await?;
        wait_for("the draft", || async {
            (value_of(&driver, "#endpoint-name").await.ok()? == "my-draft").then_some(())
        })
        .await?;
        ensure!(
            driver.find(By::Css("#link-bar")).await.is_err(),
            "the draft is no link"
        );
        // The browser's Back returns to the link, with its edit.
        driver.back().await?;
        wait_for("the linked plan", || async {
            (value_of(&driver, "#endpoint-name").await.ok()? == "from-the-link").then_some(())
        })
        .await?;
        // A damaged link says so and shows the draft, unchanged.
        load(&driver, &format!("{}/#p=1.AAAAdamaged", server.base_url)).await?;
        let notice = wait_for_text(&driver, "#notice", |text| !text.is_empty()).await?;
        ensure!(
            notice.contains("could not be opened") && notice.contains("Your draft is shown"),
            "{notice}"
        );
        ensure!(value_of(&driver, "#endpoint-name").await? == "my-draft");
        // "Make this my draft" does what it says.
        load(&driver, &link).await?;
        driver
            .find(By::Css("#keep-as-draft"))
            .await?
            .click()
            .await?;
        wait_for_text(&driver, "#notice", |text| text.contains("now your draft")).await?;
        load(&driver, &server.base_url).await?;
        ensure!(
            is_checked(&driver, "#mode-rolling").await?,
            "#mode-rolling is not checked"
        );
        no_console_errors(&driver).await
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn undo_and_redo_take_back_typing_a_mode_round_trip_and_a_removed_alarm() -> Result<()> {
    let server = TestServer::start().await?;
    with_browser(|driver| async move {
        open_fresh(&driver, &server.base_url).await?;
        let undo = driver.find(By::Css("#undo")).await?;
        ensure!(!undo.is_enabled().await?, "nothing to undo yet");
        // Typing a name is one step, however many keys.
        type_into(&driver, "#endpoint-name", "prod-churn").await?;
        wait_for("undo to be offered", || async {
            undo.is_enabled().await.ok()?.then_some(())
        })
        .await?;
        // Canary → Rolling → Canary keeps the final bake (it was reset to 0).
        ensure!(value_of(&driver, "#termination-wait").await? == "120");
        driver.find(By::Css("#mode-rolling")).await?.click().await?;
        wait_for("rolling", || async {
            driver
                .find(By::Css("#termination-wait"))
                .await
                .is_err()
                .then_some(())
        })
        .await?;
        driver.find(By::Css("#mode-canary")).await?.click().await?;
        wait_for("the final bake back", || async {
            (value_of(&driver, "#termination-wait").await.ok()? == "120").then_some(())
        })
        .await?;
        // Removing with the keyboard: a second Enter removes nothing more.
        let alarms = driver.find_all(By::Css(".alarms .alarm-card")).await?.len();
        let remove = driver.find(By::Css(".alarm-card .remove")).await?;
        remove.send_keys(Key::Enter).await?;
        let status = wait_for_text(&driver, "#alarms-status", |text| {
            text.starts_with("Removed")
        })
        .await?;
        ensure!(status.contains("Ctrl+Z"), "{status}");
        driver.active_element().await?.send_keys(Key::Enter).await?;
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let left = driver.find_all(By::Css(".alarms .alarm-card")).await?.len();
        ensure!(left == alarms - 1, "{alarms} alarms, then {left}");
        // Ctrl+Z, from anywhere, brings back the alarm, then the mode round
        // trip (two steps), then the typed name in one step.
        let body = driver.find(By::Css("body")).await?;
        body.send_keys(Key::Control + "z").await?;
        wait_for("the alarm back", || async {
            (driver
                .find_all(By::Css(".alarms .alarm-card"))
                .await
                .ok()?
                .len()
                == alarms)
                .then_some(())
        })
        .await?;
        for _ in 0..2 {
            undo.click().await?;
        }
        wait_for("the name before", || async {
            (value_of(&driver, "#endpoint-name").await.ok()? == "prod-churn").then_some(())
        })
        .await?;
        undo.click().await?;
        wait_for("the original name", || async {
            (value_of(&driver, "#endpoint-name").await.ok()? == "guardrail-demo").then_some(())
        })
        .await?;
        ensure!(!undo.is_enabled().await?, "all undone");
        // Redo (Ctrl+Shift+Z in a field, where the field's own undo would
        // otherwise act) brings the name back.
        let name = driver.find(By::Css("#endpoint-name")).await?;
        name.send_keys(Key::Control + Key::Shift + "z").await?;
        wait_for("the name redone", || async {
            (value_of(&driver, "#endpoint-name").await.ok()? == "prod-churn").then_some(())
        })
        .await?;
        ensure!(driver.find(By::Css("#redo")).await?.is_enabled().await?);
        no_console_errors(&driver).await
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn an_import_of_json_that_is_no_plan_changes_nothing_and_dropped_fields_are_named(
) -> Result<()> {
    let server = TestServer::start().await?;
    with_browser(|driver| async move {
        open_fresh(&driver, &server.base_url).await?;
        open_view(&driver, "export").await?;
        type_into(&driver, "#import-text", "{\"foo\": 1}").await?;
        driver
            .find(By::Css("#import-button"))
            .await?
            .click()
            .await?;
        // The Export view says what the verdict says, and the export's
        // descriptions say what the alarms do.
        let verdict = wait_for_text(&driver, "#export-verdict", |text| !text.is_empty()).await?;
        ensure!(
            verdict.starts_with("This plan is Unprotected:"),
            "{verdict}"
        );
        let exported = wait_for_text(&driver, "#export-text", |text| !text.is_empty()).await?;
        ensure!(
            exported.contains("(100 % of requests) on the whole endpoint"),
            "{exported}"
        );
        let said = wait_for_text(&driver, "#import-result", |text| !text.is_empty()).await?;
        ensure!(
            said.contains("Nothing was changed") && said.contains("`foo`"),
            "{said}"
        );
        ensure!(value_of(&driver, "#endpoint-name").await? == "guardrail-demo");
        ensure!(
            !driver.find(By::Css("#undo")).await?.is_enabled().await?,
            "no change to undo"
        );
        // Part of a plan merges into it and says what it changed; the rest
        // of the plan is as it was, and one undo takes it back.
        type_into(
            &driver,
            "#import-text",
            "{\"DeploymentConfig\":{\"BlueGreenUpdatePolicy\":{}}}",
        )
        .await?;
        driver
            .find(By::Css("#import-button"))
            .await?
            .click()
            .await?;
        let said =
            wait_for_text(&driver, "#import-result", |text| text.starts_with("Merged")).await?;
        ensure!(
            said.contains("Merged DeploymentConfig into the current plan"),
            "{said}"
        );
        ensure!(value_of(&driver, "#endpoint-name").await? == "guardrail-demo");
        ensure!(value_of(&driver, "#instance-type").await? == "ml.m5.xlarge");
        ensure!(driver.find_all(By::Css(".alarms .alarm-card")).await?.len() == 2);
        driver.find(By::Css("#undo")).await?.click().await?;
        wait_for("the merge undone", || async {
            (!driver
                .find(By::Css("#undo"))
                .await
                .ok()?
                .is_enabled()
                .await
                .ok()?)
            .then_some(())
        })
        .await?;
        let mut plan: serde_json::Value = serde_json::from_str(guardrail_core::examples::ROLLING)?;
        plan["Owner"] = serde_json::json!("team-a");
        type_into(&driver, "#import-text", &plan.to_string()).await?;
        driver
            .find(By::Css("#import-button"))
            .await?
            .click()
            .await?;
        let said = wait_for_text(&driver, "#import-result", |text| {
            text.starts_with("Imported")
        })
        .await?;
        ensure!(
            said.contains("left out 1 field(s)") && said.contains("Owner"),
            "{said}"
        );
        ensure!(
            is_checked(&driver, "#mode-rolling").await?,
            "#mode-rolling is not checked"
        );
        // Ctrl+Z in the import box undoes its text, not the plan.
        let import_box = driver.find(By::Css("#import-text")).await?;
        import_box.send_keys(Key::Control + "z").await?;
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        ensure!(
            is_checked(&driver, "#mode-rolling").await?,
            "Ctrl+Z in the import box undid the import"
        );
        no_console_errors(&driver).await
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_verdict_is_honest_about_a_timeout_a_false_alarm_and_a_shipped_regression() -> Result<()>
{
    let server = TestServer::start().await?;
    with_browser(|driver| async move {
        open_fresh(&driver, &server.base_url).await?;
        // The seed notebook is Unprotected (its error alarm is blind during
        // the canary bake); each case below moves it, and back.
        wait_for_text(&driver, "#plan-status", |text| text == "Unprotected").await?;
        // A timeout shorter than the schedule: certain to time out.
        type_into(&driver, "#timeout", "600").await?;
        wait_for_text(&driver, "#plan-status", |text| text == "Blocked").await?;
        let why = wait_for_text(&driver, "#plan-why", |text| text.contains("time out")).await?;
        ensure!(why.contains("600 s"), "{why}");
        // What blocks is counted as an error, never "0 error(s)".
        let counted = wait_for_text(&driver, ".all-problems summary", |text| {
            text.starts_with("Problems:")
        })
        .await?;
        ensure!(!counted.starts_with("Problems: 0 error(s)"), "{counted}");
        type_into(&driver, "#timeout", "1800").await?;
        wait_for_text(&driver, "#plan-status", |text| text == "Unprotected").await?;
        // An alarm that fires with no regression at all.
        type_into(&driver, "#alarm-0-threshold", "-1").await?;
        wait_for_text(&driver, "#plan-status", |text| text == "Blocked").await?;
        let why = wait_for_text(&driver, "#plan-why", |text| {
            text.contains("no regression at all")
        })
        .await?;
        ensure!(why.contains("TestAlarm-5XXErrors-guardrail-demo"), "{why}");
        // The Problems box says why and how to get out, at the field.
        let problem = wait_for_text(
            &driver,
            "#all-problems li.error[data-code='false_alarm']",
            |text| text.contains("raise the threshold"),
        )
        .await?;
        ensure!(problem.starts_with("Alarms[0].Threshold"), "{problem}");
        open_view(&driver, "whatif").await?;
        wait_for_text(&driver, "#whatif-outcome", |text| {
            text.starts_with("Rolled back")
        })
        .await?;
        let summary = wait_for_text(&driver, ".result .summary", |text| {
            text.contains("before the regression began")
        })
        .await?;
        ensure!(summary.contains("Time to rollback"), "{summary}");
        type_into(&driver, "#alarm-0-threshold", "1").await?;
        wait_for_text(&driver, "#plan-status", |text| text == "Unprotected").await?;
        // A regression that ships: 2 % from 6:40, and no alarm fires.
        type_into(&driver, "#green-error-rate", "0.02").await?;
        type_into(&driver, "#onset", "400").await?;
        let outcome = wait_for_text(&driver, "#whatif-outcome", |text| {
            text.starts_with("Shipped the regression")
        })
        .await?;
        ensure!(outcome.contains("no alarm fired"), "{outcome}");
        let class = driver
            .find(By::Css("#whatif-outcome"))
            .await?
            .attr("class")
            .await?
            .unwrap_or_default();
        ensure!(class.contains("shipped"), "{class}");
        wait_for_text(&driver, "#plan-status", |text| text == "Unprotected").await?;
        let why = wait_for_text(&driver, "#plan-why", |text| text.contains("shipped")).await?;
        ensure!(why.contains("no alarm rolled it back"), "{why}");
        // The detection the user requires is part of the plan, and checked.
        type_into(&driver, "#required-detection", "1.5").await?;
        wait_for_text(&driver, "#plan-status", |text| text == "Blocked").await?;
        let why = wait_for_text(&driver, "#plan-why", |text| !text.is_empty()).await?;
        ensure!(why.starts_with("Scenario.RequiredDetection"), "{why}");
        no_console_errors(&driver).await
    })
    .await
}

/// The id of the element that has focus.
async fn focused_id(driver: &WebDriver) -> Result<String> {
    Ok(driver
        .active_element()
        .await?
        .id()
        .await?
        .unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_view_tabs_follow_the_tabs_pattern_and_a_skip_link_leads_to_the_results() -> Result<()>
{
    let server = TestServer::start().await?;
    with_browser(|driver| async move {
        open_fresh(&driver, &server.base_url).await?;
        let first = driver.find(By::Css("#tab-plan")).await?;
        ensure!(first.attr("aria-controls").await?.as_deref() == Some("panel-plan"));
        ensure!(first.attr("tabindex").await?.as_deref() == Some("0"));
        let other = driver.find(By::Css("#tab-whatif")).await?;
        ensure!(other.attr("tabindex").await?.as_deref() == Some("-1"));
        first.focus().await?;
        for (key, expected) in [
            (Key::Right, "tab-whatif"),
            (Key::End, "tab-run"),
            (Key::Right, "tab-plan"),
            (Key::Left, "tab-run"),
            (Key::Home, "tab-plan"),
        ] {
            driver.active_element().await?.send_keys(key).await?;
            wait_for(expected, || async {
                (focused_id(&driver).await.ok()? == expected).then_some(())
            })
            .await?;
            let tab = driver.find(By::Id(expected)).await?;
            ensure!(
                tab.attr("aria-selected").await?.as_deref() == Some("true"),
                "{expected}"
            );
            let panel = tab.attr("aria-controls").await?.unwrap_or_default();
            driver.find(By::Id(&panel)).await?;
        }
        // The first Tab on the page offers the skip link; it leads to the results.
        driver.goto(&server.base_url).await?;
        wait_for_text(&driver, "#total-duration", |text| !text.is_empty()).await?;
        driver
            .find(By::Css("body"))
            .await?
            .send_keys(Key::Tab)
            .await?;
        let skip = driver.active_element().await?;
        ensure!(skip.class_name().await?.as_deref() == Some("skip-link"));
        ensure!(
            skip.is_displayed().await?,
            "the skip link is not shown when focused"
        );
        skip.send_keys(Key::Enter).await?;
        wait_for("the results focused", || async {
            (focused_id(&driver).await.ok()? == "results").then_some(())
        })
        .await?;
        no_console_errors(&driver).await
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn at_390_pixels_nothing_scrolls_sideways_in_any_view() -> Result<()> {
    let server = TestServer::start().await?;
    with_browser(|driver| async move {
        driver.set_window_rect(0, 0, 390, 844).await?;
        open_fresh(&driver, &server.base_url).await?;
        let width: f64 = driver
            .execute("return window.innerWidth;", vec![])
            .await?
            .convert()?;
        ensure!(width <= 400.0, "the window is {width} px wide");
        let shots = guardrail_tests::scratch_dir("390px")?;
        for view in ["plan", "whatif", "compare", "export", "run"] {
            driver
                .find(By::Id(format!("tab-{view}")))
                .await?
                .click()
                .await?;
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            let overflow: serde_json::Value = driver
                .execute(
                    "const width = window.innerWidth;
                     const wide = [...document.querySelectorAll('body *')]
                        .filter(e => e.getBoundingClientRect().right > width + 1)
                        .slice(0, 5).map(e => e.tagName + '#' + e.id + '.' + e.className);
                     return [document.documentElement.scrollWidth, width, wide];",
                    vec![],
                )
                .await?
                .json()
                .clone();
            let scroll = overflow[0].as_f64().unwrap_or(f64::MAX);
            let inner = overflow[1].as_f64().unwrap_or(0.0);
            ensure!(
                scroll <= inner,
                "{view}: scrollWidth {scroll} > {inner}: {}",
                overflow[2]
            );
            // Charts are drawn for the width, not shrunk: their text stays
            // at the size it was drawn (a 760-px chart shown at 340 px had
            // text at under half its size).
            let scales: Vec<f64> = driver
                .execute(
                    "return [...document.querySelectorAll('.chart svg')]
                        .filter(svg => svg.getBoundingClientRect().width > 0)
                        .map(svg => svg.getBoundingClientRect().width / svg.viewBox.baseVal.width);",
                    vec![],
                )
                .await?
                .convert()?;
            ensure!(view != "plan" || !scales.is_empty(), "no chart in the preview");
            // Kept for a person to look at: what a phone shows of each view.
            driver.screenshot(&shots.join(format!("{view}.png"))).await?;
            ensure!(
                scales.iter().all(|scale| *scale > 0.85),
                "{view}: charts drawn at {scales:?} of their size"
            );
        }
        no_console_errors(&driver).await
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_one_click_fix_adds_the_new_fleet_alarm_and_the_warning_clears() -> Result<()> {
    let server = TestServer::start().await?;
    with_browser(|driver| async move {
        open_fresh(&driver, &server.base_url).await?;
        let blind = "#all-problems li[data-code='alarm_blind_in_phase']";
        let warning = wait_for_text(&driver, blind, |text| !text.is_empty()).await?;
        wait_for_text(&driver, "#plan-status", |text| text == "Unprotected").await?;
        ensure!(
            warning.contains("EndpointConfigName=incompatible"),
            "{warning}"
        );
        // The fix is offered once the what-if has proven it, with both
        // figures beside the button.
        let proof = wait_for_text(&driver, "#fix-proof-0", |text| {
            text.contains("caught the what-if's regression in")
        })
        .await?;
        ensure!(
            proof.contains("fired with green as healthy as blue in 0 of 400 runs"),
            "{proof}"
        );
        // The other choice: the new fleet's 5XX rate by metric math, offered
        // with the same proof.
        ensure!(
            driver.find(By::Css("#fix-new-fleet-rate-0")).await.is_ok(),
            "no metric-math choice"
        );
        driver
            .find(By::Css("#fix-new-fleet-0"))
            .await?
            .click()
            .await?;
        let notice = wait_for_text(&driver, "#notice", |text| text.starts_with("Added")).await?;
        ensure!(
            notice.contains("TestAlarm-5XXErrors-guardrail-demo-new-fleet")
                && notice.contains("95 % interval"),
            "{notice}"
        );
        wait_for("the warning to clear", || async {
            driver.find(By::Css(blind)).await.is_err().then_some(())
        })
        .await?;
        ensure!(driver.find_all(By::Css(".alarms .alarm-card")).await?.len() == 3);
        // A tenth of the way from blue's error rate (0) to green's (1.0): the
        // lowest that no healthy run fired.
        ensure!(value_of(&driver, "#alarm-2-threshold").await? == "0.1");
        ensure!(
            is_checked(&driver, "#alarm-2-rollback").await?,
            "#alarm-2-rollback is not checked"
        );
        wait_for_text(&driver, "#plan-status", |text| text == "Guarded").await?;
        // One step to undo.
        driver.find(By::Css("#undo")).await?.click().await?;
        wait_for("the alarm gone", || async {
            (driver
                .find_all(By::Css(".alarms .alarm-card"))
                .await
                .ok()?
                .len()
                == 2)
                .then_some(())
        })
        .await?;
        no_console_errors(&driver).await
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn named_plans_are_saved_opened_renamed_deleted_and_compared() -> Result<()> {
    let server = TestServer::start().await?;
    with_browser(|driver| async move {
        open_fresh(&driver, &server.base_url).await?;
        driver
            .find(By::Css(".my-plans summary"))
            .await?
            .click()
            .await?;
        type_into(&driver, "#plan-name", "prod canary").await?;
        driver.find(By::Css("#save-plan")).await?.click().await?;
        wait_for_text(&driver, "#plans-status", |text| {
            text == "Saved as prod canary."
        })
        .await?;
        driver.find(By::Css("#mode-rolling")).await?.click().await?;
        type_into(&driver, "#plan-name", "rolling").await?;
        driver.find(By::Css("#save-plan")).await?.click().await?;
        wait_for_text(&driver, "#my-plans", |text| text.contains("rolling")).await?;
        // Open the first: the canary is back.
        driver.find(By::Css("#open-plan-0")).await?.click().await?;
        wait_for("the canary", || async {
            driver
                .find(By::Css("#mode-canary"))
                .await
                .ok()?
                .is_selected()
                .await
                .ok()?
                .then_some(())
        })
        .await?;
        type_into(&driver, "#plan-name", "staging").await?;
        driver
            .find(By::Css("#rename-plan-1"))
            .await?
            .click()
            .await?;
        let list = wait_for_text(&driver, "#my-plans", |text| text.contains("staging")).await?;
        ensure!(!list.contains("rolling"), "{list}");
        // Both to Compare: the current plan and two more, each with its verdict.
        driver.find(By::Css("#pin-plan-0")).await?.click().await?;
        driver.find(By::Css("#pin-plan-1")).await?.click().await?;
        open_view(&driver, "compare").await?;
        let rows = || async {
            driver
                .find_all(By::Css("#compare-table tbody tr.plan-row"))
                .await
                .map(|rows| rows.len())
                .unwrap_or(0)
        };
        wait_for("three rows", || async { (rows().await == 3).then_some(()) }).await?;
        let table = wait_for_text(&driver, "#compare-table", |text| !text.contains('…')).await?;
        ensure!(
            table.contains("prod canary") && table.contains("staging"),
            "{table}"
        );
        ensure!(
            table.contains("Unprotected") && table.contains('%'),
            "{table}"
        );
        // Each verdict says why beside it, and each share of runs its count.
        ensure!(table.contains("cannot fire during canary bake"), "{table}");
        ensure!(
            table.contains("of 200 runs") && table.contains("95 % interval"),
            "{table}"
        );
        // Compare is full: it says so and drops nothing.
        driver.find(By::Css("#pin-current")).await?.click().await?;
        wait_for_text(&driver, "#compare-status", |text| {
            text.contains("remove one first")
        })
        .await?;
        ensure!(rows().await == 3);
        driver.find(By::Css("#unpin-2")).await?.click().await?;
        wait_for("two rows", || async { (rows().await == 2).then_some(()) }).await?;
        // Named plans and pins stay for the next visit.
        driver.refresh().await?;
        // The reloaded page has its tabs only once its Wasm has started.
        let compare = wait_for("the tabs after the reload", || async {
            driver.find(By::Css("#tab-compare")).await.ok()
        })
        .await?;
        compare.click().await?;
        wait_for("two rows after a reload", || async {
            (rows().await == 2).then_some(())
        })
        .await?;
        driver
            .find(By::Css(".my-plans summary"))
            .await?
            .click()
            .await?;
        driver
            .find(By::Css("#delete-plan-0"))
            .await?
            .click()
            .await?;
        let list =
            wait_for_text(&driver, "#my-plans", |text| !text.contains("prod canary")).await?;
        ensure!(list.contains("staging"), "{list}");
        no_console_errors(&driver).await
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invalid_value_shows_the_message_at_its_field() -> Result<()> {
    let server = TestServer::start().await?;
    with_browser(|driver| async move {
        open_fresh(&driver, &server.base_url).await?;
        type_into(&driver, "#size-value", "3").await?;
        let selector = format!("[data-path=\"{CANARY_VALUE}\"] .problems li.error");
        let message = wait_for_text(&driver, &selector, |text| !text.is_empty()).await?;
        ensure!(message.contains("at most 50%"), "{message}");
        ensure!(
            value_of(&driver, "#size-value").await? == "3",
            "the typed value was lost"
        );
        let input = driver.find(By::Css("#size-value")).await?;
        ensure!(input.attr("aria-invalid").await?.as_deref() == Some("true"));
        wait_for_text(&driver, "#plan-status", |text| text == "Blocked").await?;
        let why = wait_for_text(&driver, "#plan-why", |text| !text.is_empty()).await?;
        ensure!(why.contains("at most 50%"), "{why}");
        // One error does not hide the preview: the last good chart stays,
        // dimmed, with the error beside it.
        let beside = wait_for_text(&driver, "#preview-error", |text| !text.is_empty()).await?;
        ensure!(
            beside.contains("at most 50%") && beside.contains("dimmed"),
            "{beside}"
        );
        let kept = driver.find(By::Css(".stale #traffic-chart svg")).await?;
        ensure!(kept.is_displayed().await?, "the last good chart is hidden");
        // Text that is not a number is refused at the field, and the plan keeps 3.
        type_into(&driver, "#timeout", "soon").await?;
        let local = wait_for_text(&driver, "#timeout-local", |text| !text.is_empty()).await?;
        ensure!(local.contains("`soon` is not a whole number"), "{local}");
        // Fixing the size leaves the plan blocked by the text it cannot take,
        // in the badge, the problems list and the export.
        type_into(&driver, "#size-value", "1").await?;
        let why = wait_for_text(&driver, "#plan-why", |text| text.contains("`soon`")).await?;
        ensure!(why.contains("keeps its last value"), "{why}");
        ensure!(driver.find(By::Css("#plan-status")).await?.text().await? == "Blocked");
        let all = wait_for_text(&driver, "#all-problems", |text| text.contains("`soon`")).await?;
        ensure!(all.contains("MaximumExecutionTimeoutInSeconds"), "{all}");
        open_view(&driver, "export").await?;
        let refused = wait_for_text(&driver, "#export-refused", |text| !text.is_empty()).await?;
        ensure!(refused.contains("`soon`"), "{refused}");
        ensure!(
            !driver
                .find(By::Css("#export-copy"))
                .await?
                .is_enabled()
                .await?
        );
        // 1.5 seconds is no more a value the plan can take.
        type_into(&driver, "#timeout", "1.5").await?;
        wait_for_text(&driver, "#export-refused", |text| {
            text.contains("`1.5` is not a whole number")
        })
        .await?;
        // The page still works: fixing the value clears it everywhere.
        type_into(&driver, "#timeout", "1800").await?;
        wait_for_text(&driver, "#plan-status", |text| {
            !text.is_empty() && text != "Blocked"
        })
        .await?;
        ensure!(
            driver
                .find(By::Css("#export-copy"))
                .await?
                .is_enabled()
                .await?
        );
        ensure!(driver.find(By::Css("#export-refused")).await.is_err());
        driver.find(By::Css("#tab-plan")).await?.click().await?;
        wait_for("the preview, no longer dimmed", || async {
            driver
                .find(By::Css(".stale #traffic-chart"))
                .await
                .is_err()
                .then_some(())
        })
        .await?;
        ensure!(driver.find(By::Css("#preview-error")).await.is_err());
        no_console_errors(&driver).await
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_copied_link_opened_in_a_fresh_browser_restores_the_same_plan() -> Result<()> {
    let server = TestServer::start().await?;
    let base = server.base_url.clone();
    let link = with_link(&base).await?;
    anyhow::ensure!(link.contains("#p=1."), "{link}");
    with_browser(|driver| async move {
        driver.goto(&link).await?;
        wait_for_text(&driver, "#total-duration", |text| text == "15:00").await?;
        ensure!(value_of(&driver, "#instance-count").await? == "5");
        ensure!(value_of(&driver, "#wait").await? == "420");
        ensure!(value_of(&driver, "#endpoint-name").await? == "churn-prod");
        let mode = driver.find(By::Css("#mode-canary")).await?;
        ensure!(mode.is_selected().await?, "canary mode not restored");
        no_console_errors(&driver).await
    })
    .await
}

/// Edits the plan in one browser and returns the share link it shows.
async fn with_link(base: &str) -> Result<String> {
    let base = base.to_string();
    let link = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let out = link.clone();
    with_browser(|driver| async move {
        open_fresh(&driver, &base).await?;
        type_into(&driver, "#endpoint-name", "churn-prod").await?;
        type_into(&driver, "#instance-count", "5").await?;
        type_into(&driver, "#wait", "420").await?;
        wait_for_text(&driver, "#total-duration", |text| text == "15:00").await?;
        driver.find(By::Css("#copy-link")).await?.click().await?;
        let shown = wait_for("the share link", || async {
            let value = value_of(&driver, "#share-link").await.ok()?;
            value.contains("#p=").then_some(value)
        })
        .await?;
        *out.lock().map_err(|_| anyhow::anyhow!("lock"))? = shown;
        Ok(())
    })
    .await?;
    let value = link.lock().map_err(|_| anyhow::anyhow!("lock"))?.clone();
    Ok(value)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broken_link_shows_a_clear_message_and_opens_the_default_plan() -> Result<()> {
    let server = TestServer::start().await?;
    with_browser(|driver| async move {
        driver
            .goto(&format!("{}/#p=1.bm90LWEtbGluaw", server.base_url))
            .await?;
        let notice = wait_for_text(&driver, "#notice", |text| !text.is_empty()).await?;
        ensure!(notice.contains("could not be opened"), "{notice}");
        wait_for_text(&driver, "#total-duration", |text| text == "13:00").await?;
        ensure!(value_of(&driver, "#endpoint-name").await? == "guardrail-demo");
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn exported_json_passes_guardrail_check() -> Result<()> {
    let server = TestServer::start().await?;
    let exported = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let out = exported.clone();
    with_browser(|driver| async move {
        open_fresh(&driver, &server.base_url).await?;
        type_into(&driver, "#instance-count", "6").await?;
        driver.find(By::Css("#mode-linear")).await?.click().await?;
        // Six linear steps of 5 minutes outlast the 30-minute timeout: the
        // verdict says Blocked until the timeout allows for them.
        wait_for_text(&driver, "#plan-why", |text| text.contains("time out")).await?;
        type_into(&driver, "#timeout", "14400").await?;
        wait_for_text(&driver, "#plan-status", |text| {
            !text.is_empty() && text != "Blocked"
        })
        .await?;
        open_view(&driver, "export").await?;
        driver.find(By::Css("#export-plan")).await?.click().await?;
        let text = wait_for_text(&driver, "#export-text", |text| text.contains("LINEAR")).await?;
        *out.lock().map_err(|_| anyhow::anyhow!("lock"))? = text;
        // The other formats render too.
        for format in [
            "deployment-config",
            "cli",
            "cloudformation",
            "terraform",
            "boto3",
        ] {
            driver
                .find(By::Css(format!("#export-{format}")))
                .await?
                .click()
                .await?;
            wait_for_text(&driver, "#export-text", |text| {
                text.contains("guardrail-demo") || text.contains("LINEAR")
            })
            .await?;
        }
        no_console_errors(&driver).await
    })
    .await?;
    let text = exported
        .lock()
        .map_err(|_| anyhow::anyhow!("lock"))?
        .clone();
    let mut child = Command::new(guardrail_binary()?)
        .args(["check", "-", "--json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("start guardrail")?;
    child
        .stdin
        .take()
        .context("stdin")?
        .write_all(text.as_bytes())?;
    let output = child.wait_with_output()?;
    ensure!(
        output.status.success(),
        "guardrail check failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    ensure!(
        report["errors"].as_array().is_some_and(Vec::is_empty),
        "{report}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_what_if_panel_explains_the_rollback_and_the_detection_odds() -> Result<()> {
    let server = TestServer::start().await?;
    with_browser(|driver| async move {
        open_fresh(&driver, &server.base_url).await?;
        open_view(&driver, "whatif").await?;
        let outcome = wait_for_text(&driver, "#whatif-outcome", |text| !text.is_empty()).await?;
        ensure!(
            outcome == "Rolled back at 11:00 during the final bake",
            "{outcome}"
        );
        let odds =
            wait_for_text(&driver, "#detection-probability", |text| !text.is_empty()).await?;
        ensure!(odds.contains("Over 1000 seeded runs"), "{odds}");
        let chart = driver.find(By::Css("#whatif-chart")).await?;
        let before = chart_svg(&driver, "#whatif-chart").await?;
        // A 20 % error rate slips past the notebook's Average >= 1 alarm:
        // the update completes, and the regression ships with it.
        type_into(&driver, "#green-error-rate", "0.2").await?;
        let outcome = wait_for_text(&driver, "#whatif-outcome", |text| {
            text.starts_with("Shipped the regression")
        })
        .await?;
        ensure!(outcome.contains("13:00"), "{outcome}");
        // The result is updated in place: the same chart element, redrawn.
        let after = chart.inner_html().await?;
        ensure!(after != before && after.contains("<svg"), "{after}");
        let why =
            wait_for_text(&driver, "#explanation", |text| text.contains("never fired")).await?;
        ensure!(
            why.contains("TestAlarm-5XXErrors-guardrail-demo never fired"),
            "{why}"
        );
        // The view is part of the link.
        let link = value_of(&driver, "#share-link").await?;
        let state =
            guardrail_core::link::decode(&link).map_err(|error| anyhow::anyhow!("{error}"))?;
        ensure!(state.view.as_deref() == Some("whatif"), "{:?}", state.view);
        no_console_errors(&driver).await
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_preset_and_an_import_change_the_plan() -> Result<()> {
    let server = TestServer::start().await?;
    with_browser(|driver| async move {
        open_fresh(&driver, &server.base_url).await?;
        let preset = driver.find(By::Css("#preset")).await?;
        SelectElement::new(&preset).await?.select_by_value("Canary10Percent5Minutes").await?;
        let notice = wait_for_text(&driver, "#notice", |text| !text.is_empty()).await?;
        ensure!(notice.contains("25.0% of traffic"), "{notice}");
        open_view(&driver, "export").await?;
        type_into(&driver, "#import-text", "{\"RollingUpdatePolicy\": {\"MaximumBatchSize\": {\"Type\": \"INSTANCE_COUNT\", \"Value\": 1}, \"WaitIntervalInSeconds\": 60}}").await?;
        driver.find(By::Css("#import-button")).await?.click().await?;
        wait_for_text(&driver, "#import-result", |text| text.contains("DeploymentConfig")).await?;
        let mode = driver.find(By::Css("#mode-rolling")).await?;
        wait_for("rolling mode", || async { mode.is_selected().await.ok().filter(|selected| *selected) }).await?;
        type_into(&driver, "#import-text", "{ broken").await?;
        driver.find(By::Css("#import-button")).await?.click().await?;
        wait_for_text(&driver, "#import-result", |text| text.starts_with("line 1")).await?;
        no_console_errors(&driver).await
    })
    .await
}

/// The `#detection` section's `data-NAME`.
async fn detection_data(driver: &WebDriver, name: &str) -> Result<String> {
    Ok(driver
        .find(By::Css("#detection"))
        .await?
        .attr(&format!("data-{name}"))
        .await?
        .unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_keystroke_during_the_analysis_cancels_it_and_the_result_is_the_plan_on_screen(
) -> Result<()> {
    use guardrail_core::link::{encode, LinkState};
    use guardrail_core::simulate::{detect, DEFAULT_RUNS};
    // The 2-hour linear rollout with 10 alarms: its analyses take about a
    // second in the browser, long enough to type into.
    let plan = guardrail_core::Plan::from_json(guardrail_core::examples::LINEAR_2H_10_ALARMS)
        .map_err(|error| anyhow::anyhow!("{error}"))?;
    let link = encode(&LinkState {
        plan: plan.clone(),
        view: Some("whatif".into()),
        run: None,
        at_ms: None,
        review: false,
    });
    let server = TestServer::start().await?;
    with_browser(|driver| async move {
        // Every browser test starts in a fresh profile.
        driver
            .goto(&format!("{}/#p={link}", server.base_url))
            .await?;
        wait_for_text(&driver, "#detection-probability", |text| !text.is_empty()).await?;
        ensure!(
            detection_data(&driver, "worker").await? == "true",
            "the analyses run in a worker"
        );
        let cancelled_before: u32 = detection_data(&driver, "cancelled").await?.parse()?;
        // No regression: no alarm fires (0.0 %). Then 0.001: most runs roll
        // back (95.6 %), so the two analyses cannot be mistaken for each other.
        type_into(&driver, "#green-error-rate", "0.00").await?;
        // Wait until the analysis of 0.00 is under way, then edit again.
        wait_for("the analysis to be under way", || async {
            let done: u64 = driver
                .find(By::Css("#analysis-progress"))
                .await
                .ok()?
                .prop("value")
                .await
                .ok()??
                .parse()
                .ok()?;
            (done > 0).then_some(())
        })
        .await?;
        driver
            .find(By::Css("#green-error-rate"))
            .await?
            .send_keys("1")
            .await?;
        let shown = wait_for("the analysis of the plan on screen", || async {
            (detection_data(&driver, "state").await.ok()? == "done").then_some(())?;
            driver
                .find(By::Css("#detection-probability"))
                .await
                .ok()?
                .text()
                .await
                .ok()
        })
        .await?;
        ensure!(value_of(&driver, "#green-error-rate").await? == "0.001");
        let cancelled: u32 = detection_data(&driver, "cancelled").await?.parse()?;
        ensure!(
            cancelled > cancelled_before,
            "the analysis of 0.00 was not cancelled ({cancelled_before} → {cancelled})"
        );
        // What is shown is the analysis of 0.001, as the core computes it.
        let mut scenario = plan.scenario_or_default();
        scenario.green.error_rate = 0.001;
        let rollout = guardrail_core::check(&plan)
            .rollout
            .ok_or_else(|| anyhow::anyhow!("the example is valid"))?;
        let expected = detect(&rollout, &scenario, DEFAULT_RUNS)?;
        let expected = format!(
            "an alarm rolled back {:.1}% of them",
            expected.probability * 100.0
        );
        ensure!(shown.contains(&expected), "{shown} (expected {expected})");
        no_console_errors(&driver).await
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn an_emptied_number_field_stays_empty_while_the_next_value_is_typed() -> Result<()> {
    let server = TestServer::start().await?;
    with_browser(|driver| async move {
        open_fresh(&driver, &server.base_url).await?;
        open_view(&driver, "whatif").await?;
        wait_for_text(&driver, "#whatif-outcome", |text| {
            text.starts_with("Rolled back")
        })
        .await?;
        // Emptied: green's error rate is 0 for the plan (the what-if then
        // succeeds), but the field is not filled with "0".
        type_into(&driver, "#green-error-rate", "").await?;
        wait_for_text(&driver, "#whatif-outcome", |text| {
            text.starts_with("Succeeded")
        })
        .await?;
        ensure!(
            value_of(&driver, "#green-error-rate").await?.is_empty(),
            "the emptied field was filled in"
        );
        driver
            .find(By::Css("#green-error-rate"))
            .await?
            .send_keys("0.3")
            .await?;
        wait_for_text(&driver, "#whatif-outcome", |text| {
            !text.starts_with("Succeeded")
        })
        .await?;
        ensure!(value_of(&driver, "#green-error-rate").await? == "0.3");
        // Undo brings back the value before, into the field.
        driver.find(By::Css("#undo")).await?.click().await?;
        wait_for("the field to follow undo", || async {
            let value = value_of(&driver, "#green-error-rate").await.ok()?;
            (value != "0.3").then_some(value)
        })
        .await?;
        no_console_errors(&driver).await
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_preset_menu_shows_what_the_plan_is_and_applies_a_preset_again_after_an_edit(
) -> Result<()> {
    let server = TestServer::start().await?;
    with_browser(|driver| async move {
        open_fresh(&driver, &server.base_url).await?;
        let preset = driver.find(By::Css("#preset")).await?;
        SelectElement::new(&preset)
            .await?
            .select_by_value("notebook-linear")
            .await?;
        wait_for("the menu to show the preset", || async {
            (value_of(&driver, "#preset").await.ok()? == "notebook-linear").then_some(())
        })
        .await?;
        let applied = value_of(&driver, "#instance-count").await?;
        type_into(&driver, "#instance-count", "5").await?;
        wait_for("the menu to leave the preset", || async {
            value_of(&driver, "#preset")
                .await
                .ok()?
                .is_empty()
                .then_some(())
        })
        .await?;
        // The same preset again applies it again, as one undoable step.
        SelectElement::new(&preset)
            .await?
            .select_by_value("notebook-linear")
            .await?;
        wait_for("the preset applied again", || async {
            (value_of(&driver, "#instance-count").await.ok()? == applied).then_some(())
        })
        .await?;
        ensure!(value_of(&driver, "#preset").await? == "notebook-linear");
        driver.find(By::Css("#undo")).await?.click().await?;
        wait_for("undo to bring back the edit", || async {
            (value_of(&driver, "#instance-count").await.ok()? == "5").then_some(())
        })
        .await?;
        no_console_errors(&driver).await
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_server_run_and_replay_says_so_once_and_disables_what_needs_one() -> Result<()> {
    // The planner's files alone, as a static host serves them: no API.
    let server = TestServer::start().await?;
    with_browser(|driver| async move {
        open_fresh(&driver, &server.base_url).await?;
        open_view(&driver, "run").await?;
        let said = wait_for_text(&driver, "#no-server", |text| !text.is_empty()).await?;
        ensure!(said.contains("No guardrail server answers"), "{said}");
        ensure!(said.contains("scripts/run.sh"), "{said}");
        ensure!(
            !driver
                .find(By::Css("#start-run"))
                .await?
                .is_enabled()
                .await?,
            "Start stays disabled without a server"
        );
        let page = driver.find(By::Css("#panel-run")).await?.text().await?;
        ensure!(page.matches("No guardrail server").count() == 1, "{page}");
        ensure!(!page.contains("deserializing"), "{page}");
        ensure!(
            !page.contains("Checking what this run would update"),
            "{page}"
        );
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn at_1280_pixels_the_verdict_reads_as_a_line_and_lint_stays_in_its_card() -> Result<()> {
    let server = TestServer::start().await?;
    with_browser(|driver| async move {
        driver.set_window_rect(0, 0, 1280, 900).await?;
        open_fresh(&driver, &server.base_url).await?;
        wait_for_text(&driver, "#plan-status", |text| text == "Unprotected").await?;
        wait_for_text(&driver, "#plan-why", |text| !text.is_empty()).await?;
        let measured: serde_json::Value = driver
            .execute(
                "const why = document.querySelector('#plan-why').getBoundingClientRect();
                 const bar = document.querySelector('.topbar').getBoundingClientRect();
                 const spills = [...document.querySelectorAll('.alarm-card .problems, .alarm-card li')]
                    .filter(e => e.scrollWidth > e.clientWidth + 1).length;
                 return [why.width, bar.height, spills];",
                vec![],
            )
            .await?
            .json()
            .clone();
        let why_width = measured[0].as_f64().unwrap_or(0.0);
        let bar_height = measured[1].as_f64().unwrap_or(f64::MAX);
        ensure!(why_width > 600.0, "the verdict's reason is {why_width} px wide");
        ensure!(bar_height < 200.0, "the header is {bar_height} px tall");
        ensure!(measured[2].as_u64() == Some(0), "lint spills out of {} card(s)", measured[2]);
        no_console_errors(&driver).await
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn metric_math_team_metrics_and_composite_alarms_are_edited_with_their_problems() -> Result<()>
{
    let server = TestServer::start().await?;
    with_browser(|driver| async move {
        open_fresh(&driver, &server.base_url).await?;
        wait_for_text(&driver, "#plan-status", |text| text == "Unprotected").await?;
        // A new-fleet 5XX rate by metric math: its metrics and expression, and
        // it watches the canary the endpoint-wide alarm cannot see.
        driver
            .find(By::Css("#add-rate-alarm"))
            .await?
            .click()
            .await?;
        let expression = "#alarm-2-query-2-expression";
        wait_for("the expression field", || async {
            driver.find(By::Css(expression)).await.ok().map(|_| ())
        })
        .await?;
        ensure!(value_of(&driver, expression).await? == "100 * FILL(errors, 0) / requests");
        ensure!(value_of(&driver, "#alarm-2-query-0-metric-name").await? == "Invocation5XXErrors");
        wait_for_text(&driver, "#plan-status", |text| text == "Guarded").await?;
        // A function guardrail does not evaluate is refused at the field, by name.
        type_into(&driver, expression, "RATE(errors)").await?;
        let said = wait_for_text(&driver, "#alarm-2-query-2-expression-problems", |text| {
            text.contains("RATE is a CloudWatch function")
        })
        .await?;
        ensure!(said.contains("Error in expression rate"), "{said}");
        wait_for_text(&driver, "#plan-status", |text| text == "Blocked").await?;
        type_into(&driver, expression, "100 * FILL(errors, 0) / requests").await?;
        wait_for_text(&driver, "#plan-status", |text| text == "Guarded").await?;
        // The period is every metric's.
        type_into(&driver, "#alarm-2-period", "300").await?;
        wait_for_text(&driver, "#alarm-2-period-problems", |text| text.is_empty()).await?;
        // An alarm on the team's own metric, with the what-if's model of it.
        driver
            .find(By::Css("#add-team-alarm"))
            .await?
            .click()
            .await?;
        wait_for("the team metric's namespace", || async {
            let value = value_of(&driver, "#alarm-3-namespace").await.ok()?;
            (value == "MyTeam/Business").then_some(())
        })
        .await?;
        let said = wait_for_text(&driver, "#alarm-3-metric-name-problems", |text| {
            text.contains("published by the team")
        })
        .await?;
        ensure!(said.contains("the what-if assumes"), "{said}");
        // A composite alarm: what guardrail assumes, and a rule naming
        // nothing defined.
        driver
            .find(By::Css("#add-composite"))
            .await?
            .click()
            .await?;
        let rule = "#composite-0-rule";
        wait_for("the rule", || async {
            let value = value_of(&driver, rule).await.ok()?;
            value.contains("ALARM(").then_some(())
        })
        .await?;
        let assumption =
            wait_for_text(&driver, "#composite-assumption", |text| !text.is_empty()).await?;
        ensure!(assumption.contains("guardrail assumes not"), "{assumption}");
        type_into(&driver, rule, "ALARM(nope)").await?;
        wait_for_text(&driver, "#composite-0-rule-problems", |text| {
            text.contains("alarms [nope] in the alarm rule do not exist")
        })
        .await?;
        // The scenario's model of the team metric, in the what-if.
        open_view(&driver, "whatif").await?;
        wait_for("the team metric's model", || async {
            let value = value_of(&driver, "#team-metric-0-level").await.ok()?;
            (value == "3.1").then_some(())
        })
        .await?;
        no_console_errors(&driver).await
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn one_click_turns_on_the_canary_judge_and_the_what_if_weighs_it_on_twins() -> Result<()> {
    let server = TestServer::start().await?;
    with_browser(|driver| async move {
        open_fresh(&driver, &server.base_url).await?;
        driver.find(By::Css("#judge-on")).await?.click().await?;
        let said = wait_for_text(&driver, "#judge-status", |text| !text.is_empty()).await?;
        ensure!(said.contains("guardrail-demo-canary-score"), "{said}");
        // The default judge, written out, and the alarm that acts on it.
        ensure!(value_of(&driver, "#judge-confidence").await? == "99");
        ensure!(value_of(&driver, "#judge-period").await? == "10");
        ensure!(value_of(&driver, "#judged-0-metric").await? == "Invocation5XXErrors");
        ensure!(value_of(&driver, "#judged-2-effect").await? == "10");
        let alarm = value_of(&driver, "#alarm-2-name").await?;
        ensure!(alarm == "guardrail-demo-canary-score", "{alarm}");
        // A fourth metric, the one not judged yet; then no more.
        let add = driver.find(By::Css("#judge-add-metric")).await?;
        ensure!(add.text().await? == "Judge another metric (up to 4)");
        add.click().await?;
        wait_for("the fourth metric", || async {
            let value = value_of(&driver, "#judged-3-metric").await.ok()?;
            (value == "Invocation4XXErrors").then_some(())
        })
        .await?;
        wait_for("the button disabled", || async {
            let disabled = add.attr("disabled").await.ok()??;
            Some(disabled)
        })
        .await?;
        driver
            .find(By::Css("#judged-3-remove"))
            .await?
            .click()
            .await?;
        // A score out of range is said at its field.
        type_into(&driver, "#judge-pass", "120").await?;
        let problem =
            wait_for_text(&driver, "#judge-pass-problems", |text| !text.is_empty()).await?;
        ensure!(problem.contains("100"), "{problem}");
        type_into(&driver, "#judge-pass", "75").await?;
        wait_for_text(&driver, "#judge-pass-problems", |text| text.is_empty()).await?;
        // The what-if: the judge beside the alarms on the same runs, and both
        // on as many A/A twins, counted with an interval.
        open_view(&driver, "whatif").await?;
        let judge = wait_for_text(&driver, "#judge-detection-judge", |text| {
            text.matches("of 1000 runs").count() == 2
        })
        .await?;
        ensure!(judge.contains("95 % interval"), "{judge}");
        let alarms = driver
            .find(By::Css("#judge-detection-alarms"))
            .await?
            .text()
            .await?;
        ensure!(alarms.matches("of 1000 runs").count() == 2, "{alarms}");
        // Each alarm alone, the judge's own among them.
        let alone = driver
            .find(By::Css("#judge-detection-alone-2"))
            .await?
            .text()
            .await?;
        ensure!(
            alone.starts_with("guardrail-demo-canary-score alone")
                && alone.contains("of 1000 runs"),
            "{alone}"
        );
        // The notebook was Unprotected (its 5XX alarm is blind in the
        // canary); the judge watches the canary and its alarm acts.
        wait_for_text(&driver, "#plan-status", |text| text == "Guarded").await?;
        no_console_errors(&driver).await
    })
    .await
}
