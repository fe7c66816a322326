//! Running, following and replaying a rollout from the browser.

use anyhow::{ensure, Result};
use guardrail_tests::{
    aws_json, chart_svg, console_errors, dist_dir, fetched_wasm, free_port, guardrail_binary,
    open_fresh, open_view, scratch_dir, value_of, wait_for, wait_for_text, with_browser,
    TestServer,
};
use thirtyfour::components::SelectElement;
use thirtyfour::prelude::*;

/// Opens the planner at `base` and starts its default plan, the seed
/// notebook's canary to the incompatible model, on the local engine at 600×.
async fn start_the_seed_canary(driver: &WebDriver, base: &str) -> Result<()> {
    open_fresh(driver, base).await?;
    start_the_plan_on_screen(driver, "600").await
}

/// Starts the plan on screen, a variant of the seed canary, as
/// [`start_the_seed_canary`] does, at the time scale `scale`.
async fn start_the_plan_on_screen(driver: &WebDriver, scale: &str) -> Result<()> {
    wait_for_text(driver, "#total-duration", |text| text == "13:00").await?;
    // The latency alarm (Average >= 10 ms) is raised to 1 s: these tests are
    // about errors, and a machine busy with other tests can push a short
    // period's average latency past 10 ms.
    guardrail_tests::type_into(driver, "#alarm-1-threshold", "1000000").await?;
    open_view(driver, "run").await?;
    let time_scale = driver.find(By::Css("#time-scale")).await?;
    SelectElement::new(&time_scale)
        .await?
        .select_by_value(scale)
        .await?;
    driver.find(By::Css("#start-run")).await?.click().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rollout_started_in_the_browser_is_followed_live_and_replayed_from_its_link() -> Result<()>
{
    let server = TestServer::with_engine().await?;
    let base = server.base_url.clone();
    let link = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let out = link.clone();
    with_browser(|driver| async move {
        open_fresh(&driver, &base).await?;
        // The run's view is a chunk of its own, which the first load leaves
        // out and the first run shown fetches.
        let first = fetched_wasm(&driver).await?;
        ensure!(
            first.len() == 1 && first[0].ends_with("_bg.wasm"),
            "the first load fetches the main module alone: {first:?}"
        );
        let run_view = |name: &String| name.starts_with("split_run_view_");
        start_the_plan_on_screen(&driver, "600").await?;
        // The seed notebook's canary to the incompatible model: the endpoint-wide
        // alarm fires once green has all the traffic.
        let status =
            wait_for_text(&driver, "#run-status", |text| text.contains("rolled back")).await?;
        let later = fetched_wasm(&driver).await?;
        ensure!(
            later.iter().any(run_view) && later.contains(&first[0]),
            "the run view's chunk is fetched when a run is shown: {later:?}"
        );
        ensure!(status.contains("during the final bake"), "{status}");
        ensure!(
            status.contains("TestAlarm-5XXErrors-guardrail-demo"),
            "{status}"
        );
        let events = wait_for_text(&driver, "#run-events", |text| {
            text.contains("rollback completed")
        })
        .await?;
        ensure!(events.contains("canary bake started"), "{events}");
        let chart = chart_svg(&driver, "#run-chart svg").await?;
        ensure!(
            chart.contains("ALARM TestAlarm-5XXErrors-guardrail-demo"),
            "the chart marks the alarm"
        );
        // One clock: the plan and its what-if are drawn on the run's clock,
        // aligned at green's first traffic, and the difference is said.
        let clocks = wait_for_text(&driver, "#run-clocks", |text| {
            text.contains("rolled back at")
        })
        .await?;
        ensure!(
            clocks.contains("aligned at green's first traffic")
                && clocks.contains("5:00 in the plan"),
            "{clocks}"
        );
        ensure!(
            clocks.contains("The what-if rolled back at 11:00 on the plan's clock"),
            "{clocks}"
        );
        let chart = chart_svg(&driver, "#run-chart svg").await?;
        ensure!(
            chart.contains("planned (aligned)") && chart.contains("what-if (aligned)"),
            "the chart has no plan or what-if"
        );
        wait_for_text(&driver, "#runs", |text| text.contains("rolled_back")).await?;
        let errors = console_errors(&driver).await?;
        ensure!(errors.is_empty(), "console errors: {errors:?}");
        *out.lock().map_err(|_| anyhow::anyhow!("lock"))? =
            value_of(&driver, "#share-link").await?;
        Ok(())
    })
    .await?;

    let link = link.lock().map_err(|_| anyhow::anyhow!("lock"))?.clone();
    let state = guardrail_core::link::decode(&link).map_err(|error| anyhow::anyhow!("{error}"))?;
    ensure!(
        state.view.as_deref() == Some("run") && state.run.is_some(),
        "{state:?}"
    );
    with_browser(|driver| async move {
        driver.goto(&link).await?;
        let status =
            wait_for_text(&driver, "#run-status", |text| text.contains("rolled back")).await?;
        ensure!(status.contains("during the final bake"), "{status}");
        // Scrub back into the canary bake: the snapshot shows that moment.
        let canary = driver
            .find(By::XPath(
                "//ol[@id='run-events']/li[contains(., 'canary bake started')]/button",
            ))
            .await?;
        canary.click().await?;
        let snapshot = wait_for_text(&driver, "#run-snapshot", |text| {
            text.contains("canary bake")
        })
        .await?;
        ensure!(snapshot.contains("25%"), "{snapshot}");
        // The slider announces the moment and its phase, and the state shown
        // agrees with the log at that moment: the last traffic shift not
        // dimmed is the share the snapshot shows.
        let slider = driver.find(By::Css("#run-cursor")).await?;
        let said = slider.attr("aria-valuetext").await?.unwrap_or_default();
        ensure!(said.ends_with(", canary bake"), "{said}");
        replay_agrees_with_the_log(&driver).await?;
        // Shift+Right: to the next phase, announced, and agreeing still.
        slider.send_keys(Key::Shift + Key::Right).await?;
        let next = wait_for("the next phase", || async {
            let said = slider.attr("aria-valuetext").await.ok()??;
            (!said.ends_with(", canary bake")).then_some(said)
        })
        .await?;
        let phase = next
            .split_once(", ")
            .map(|(_, phase)| phase.to_string())
            .unwrap_or_default();
        let snapshot = text_of(&driver, "#run-snapshot").await?;
        ensure!(snapshot.contains(&phase), "{next} / {snapshot}");
        replay_agrees_with_the_log(&driver).await?;
        // The moment is part of the link.
        let moved = value_of(&driver, "#share-link").await?;
        let state =
            guardrail_core::link::decode(&moved).map_err(|error| anyhow::anyhow!("{error}"))?;
        ensure!(state.at_ms.is_some(), "{state:?}");
        Ok(())
    })
    .await
}

/// Events after the replay's moment are dimmed, and the green share the
/// snapshot shows is the last traffic shift the log shows as happened.
async fn replay_agrees_with_the_log(driver: &WebDriver) -> Result<()> {
    let later = driver.find_all(By::Css("#run-events li.later")).await?;
    ensure!(!later.is_empty(), "nothing dimmed after the moment");
    let opacity = driver
        .execute(
            "return getComputedStyle(document.querySelector('#run-events li.later')).opacity;",
            vec![],
        )
        .await?;
    let opacity: f64 = opacity.json().as_str().unwrap_or("1").parse()?;
    ensure!(opacity < 1.0, "later events are not dimmed: {opacity}");
    let happened = driver
        .find_all(By::Css("#run-events li:not(.later)"))
        .await?;
    let mut share = "0%".to_string();
    for event in happened {
        let text = event.text().await?;
        if let Some(rest) = text
            .split_once("traffic shifted: green ")
            .map(|(_, rest)| rest)
        {
            share = rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string();
        }
    }
    let snapshot = text_of(driver, "#run-snapshot").await?;
    ensure!(
        snapshot.contains(&format!("Green traffic\n{share}"))
            || snapshot.contains(&format!("Green traffic {share}")),
        "the log says green {share}; the snapshot: {snapshot}"
    );
    Ok(())
}

/// The cells of each row of the table `css`.
async fn table_rows(driver: &WebDriver, css: &str) -> Result<Vec<Vec<String>>> {
    let mut rows = Vec::new();
    for row in driver.find_all(By::Css(format!("{css} tbody tr"))).await? {
        let mut cells = Vec::new();
        for cell in row.find_all(By::Css("th, td")).await? {
            cells.push(cell.text().await?);
        }
        rows.push(cells);
    }
    Ok(rows)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_retrospective_judge_re_judges_the_recorded_run_under_edited_alarms() -> Result<()> {
    let server = TestServer::with_engine().await?;
    let base = server.base_url.clone();
    with_browser(|driver| async move {
        start_the_seed_canary(&driver, &base).await?;
        wait_for_text(&driver, "#run-status", |text| text.contains("rolled back")).await?;
        // With the run's own alarms, the judge finds what the run found.
        let verdict = wait_for_text(&driver, "#retro-verdict", |text| {
            text.contains("rolled back")
        })
        .await?;
        ensure!(
            verdict.contains("TestAlarm-5XXErrors-guardrail-demo")
                && verdict.contains("during the final bake, when the run did"),
            "{verdict}"
        );
        let rows = table_rows(&driver, "#retro-alarms").await?;
        let errors = rows
            .iter()
            .find(|row| row.first().is_some_and(|name| name.contains("5XXErrors")))
            .ok_or_else(|| anyhow::anyhow!("no 5XX alarm: {rows:?}"))?;
        ensure!(
            errors.len() == 4 && errors[2] != "never" && errors[2] == errors[3],
            "the same period as the run: {errors:?}"
        );
        // Average >= 0.1 of the new fleet's 5XX fires during the canary bake.
        guardrail_tests::type_into(&driver, "#retro-alarm-0-threshold", "0.1").await?;
        let scope = driver.find(By::Css("#retro-alarm-0-scope")).await?;
        SelectElement::new(&scope)
            .await?
            .select_by_value("new-fleet")
            .await?;
        let verdict = wait_for_text(&driver, "#retro-verdict", |text| {
            text.contains("during the canary bake")
        })
        .await?;
        ensure!(verdict.contains("before the run did"), "{verdict}");
        let rows = table_rows(&driver, "#retro-alarms").await?;
        ensure!(
            rows[0][1].contains("Average of Invocation5XXErrors >= 0.1"),
            "the typed threshold is the one judged: {rows:?}"
        );
        let spared = text_of(&driver, "#retro-spared").await?;
        ensure!(spared.contains("would have spared"), "{spared}");
        let chart = chart_svg(&driver, "#run-chart svg").await?;
        ensure!(
            chart.contains(" would roll back: TestAlarm-5XXErrors-guardrail-demo"),
            "the chart marks the re-judged rollback"
        );
        // The reviewer's edits are not the plan's.
        ensure!(value_of(&driver, "#alarm-0-threshold").await? == "1");
        // The run had no judge, so the run view shows none; the reviewer
        // turns one on. This run recorded minutes: the default judge's 10 s
        // is refused by name, a minute is judged.
        ensure!(
            driver.find(By::Css("#run-judge")).await.is_err(),
            "a judge section for an unjudged run"
        );
        driver
            .find(By::Css("#retro-judge-on"))
            .await?
            .click()
            .await?;
        wait_for_text(&driver, "#retro-judge-verdict", |text| {
            text.contains("every 60 s") && text.contains("10 s")
        })
        .await?;
        guardrail_tests::type_into(&driver, "#retro-judge-period", "60").await?;
        // At 600× green served a handful of requests in the canary: the
        // judge re-reads them from the record, too few to score.
        let judged = wait_for_text(&driver, "#retro-judge-verdict", |text| {
            text.starts_with("The judge never scored green in its")
        })
        .await?;
        ensure!(judged.contains("minimum sample"), "{judged}");
        let rows = table_rows(&driver, "#retro-judge-metrics").await?;
        ensure!(
            rows.iter()
                .any(|row| row[0] == "Invocation5XXErrors (critical)"
                    && row[1] == "NoData"
                    && row[2] == "100 %"
                    && row[3] == "0 %"),
            "green's errors and blue's, from the record: {rows:?}"
        );
        // A period the judge cannot take says why.
        guardrail_tests::type_into(&driver, "#retro-alarm-0-period", "45").await?;
        wait_for_text(&driver, "#retro-verdict", |text| text.contains("Period")).await?;
        driver.find(By::Css("#retro-reset")).await?.click().await?;
        wait_for_text(&driver, "#retro-verdict", |text| {
            text.contains("when the run did")
        })
        .await?;
        let errors = console_errors(&driver).await?;
        ensure!(errors.is_empty(), "console errors: {errors:?}");
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_endpoint_follows_its_config_and_two_runs_compare_on_one_chart() -> Result<()> {
    let server = TestServer::with_engine().await?;
    with_browser(|driver| async move {
        start_the_seed_canary(&driver, &server.base_url).await?;
        wait_for_text(&driver, "#run-status", |text| text.contains("rolled back")).await?;
        let first = text_of(&driver, "#run-title code").await?;
        ensure!(text_of(&driver, "#demo-config").await? == "baseline");
        // The fixed model: it succeeds, and the demo endpoint serves it.
        guardrail_tests::type_into(&driver, "#endpoint-config-name", "fixed").await?;
        driver.find(By::Css("#start-run")).await?.click().await?;
        let status =
            wait_for_text(&driver, "#run-status", |text| text.contains("succeeded")).await?;
        ensure!(status.contains("baseline → fixed"), "{status}");
        wait_for_text(&driver, "#demo-config", |text| text == "fixed").await?;
        // Compare it with the first run: both on one chart, and in words.
        driver
            .find(By::Id(format!("compare-run-{first}")))
            .await?
            .click()
            .await?;
        let said =
            wait_for_text(&driver, "#run-compare", |text| text.contains("rolled back")).await?;
        ensure!(
            said.contains(&format!("Compared with run {first}"))
                && said.contains("baseline → incompatible"),
            "{said}"
        );
        let chart = chart_svg(&driver, "#run-chart svg").await?;
        ensure!(
            chart.contains(&format!("run {first}")),
            "the other run is not drawn"
        );
        let errors = console_errors(&driver).await?;
        ensure!(errors.is_empty(), "console errors: {errors:?}");
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_rollout_says_why() -> Result<()> {
    let server = TestServer::with_engine().await?;
    with_browser(|driver| async move {
        open_fresh(&driver, &server.base_url).await?;
        guardrail_tests::type_into(&driver, "#endpoint-name", "prod-churn").await?;
        open_view(&driver, "run").await?;
        driver.find(By::Css("#start-run")).await?.click().await?;
        let error = wait_for_text(&driver, "#run-error", |text| !text.is_empty()).await?;
        ensure!(
            error.contains("no endpoint prod-churn on the local engine"),
            "{error}"
        );
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn off_loopback_the_planner_asks_for_the_access_token_once_per_tab() -> Result<()> {
    const TOKEN: &str = "browser-token-5e1f0c2a9b";
    let server = TestServer::with_engine_token(TOKEN).await?;
    with_browser(|driver| async move {
        start_the_seed_canary(&driver, &server.base_url).await?;
        let error = wait_for_text(&driver, "#run-error", |text| !text.is_empty()).await?;
        ensure!(error.contains("needs its access token"), "{error}");
        let use_token = |token: &'static str| {
            let driver = driver.clone();
            async move {
                guardrail_tests::type_into(&driver, "#access-token", token).await?;
                driver.find(By::Css("#use-token")).await?.click().await?;
                wait_for_text(&driver, "#token-saved", |text| text.contains("Saved")).await?;
                driver.find(By::Css("#start-run")).await?.click().await?;
                anyhow::Ok(())
            }
        };
        use_token("not-the-token-at-all").await?;
        wait_for_text(&driver, "#run-error", |text| {
            text.contains("is not this guardrail's")
        })
        .await?;
        use_token(TOKEN).await?;
        wait_for_text(&driver, "#run-events", |text| {
            text.contains("canary bake started")
        })
        .await?;
        // Kept for this tab only, and never in the page's address.
        let kept = driver
            .execute(
                "return [sessionStorage.getItem('guardrail-access-token'), \
                 JSON.stringify(Object.assign({}, localStorage)), location.href];",
                vec![],
            )
            .await?
            .json()
            .clone();
        ensure!(
            kept[0].as_str() == Some(&format!("\"{TOKEN}\"")[..]),
            "{kept}"
        );
        ensure!(
            !kept[1].as_str().unwrap_or_default().contains(TOKEN),
            "{kept}"
        );
        ensure!(
            !kept[2].as_str().unwrap_or_default().contains(TOKEN),
            "{kept}"
        );
        let errors = console_errors(&driver).await?;
        ensure!(
            errors.iter().all(|error| error.contains("401")),
            "console errors: {errors:?}"
        );
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_abort_button_rolls_a_running_update_back_and_says_who_asked() -> Result<()> {
    let server = TestServer::with_engine().await?;
    with_browser(|driver| async move {
        open_fresh(&driver, &server.base_url).await?;
        // The fixed model at real time: nothing would end this run for 13 minutes.
        guardrail_tests::type_into(&driver, "#endpoint-config-name", "fixed").await?;
        open_view(&driver, "run").await?;
        let scale = driver.find(By::Css("#time-scale")).await?;
        SelectElement::new(&scale)
            .await?
            .select_by_value("1")
            .await?;
        driver.find(By::Css("#start-run")).await?.click().await?;
        wait_for_text(&driver, "#run-events", |text| {
            text.contains("canary bake started")
        })
        .await?;
        driver.find(By::Css("#abort-run")).await?.click().await?;
        let status =
            wait_for_text(&driver, "#run-status", |text| text.contains("rolled back")).await?;
        ensure!(status.contains("aborted by the planner"), "{status}");
        wait_for_text(&driver, "#run-events", |text| {
            text.contains("rollback completed")
        })
        .await?;
        // A finished run offers no abort.
        ensure!(
            driver.find_all(By::Css("#abort-run")).await?.is_empty(),
            "the abort button stays"
        );
        let errors = console_errors(&driver).await?;
        ensure!(errors.is_empty(), "console errors: {errors:?}");
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_judged_run_shows_the_judges_score_and_evidence_at_the_moment_on_show() -> Result<()> {
    let server = TestServer::with_engine().await?;
    let base = server.base_url.clone();
    with_browser(|driver| async move {
        open_fresh(&driver, &base).await?;
        driver.find(By::Css("#judge-on")).await?.click().await?;
        wait_for_text(&driver, "#judge-status", |text| text.contains("canary-score")).await?;
        // 60×: the canary bake takes 5 s, long enough for the judge's
        // minimum samples (at 600× green serves a handful of requests).
        start_the_plan_on_screen(&driver, "60").await?;
        // Green fails every request: the judge fails it in the canary bake,
        // and its alarm rolls back.
        wait_for_text(&driver, "#run-status", |text| text.contains("rolled back")).await?;
        let look = wait_for_text(&driver, "#run-judge-score", |text| text.starts_with("Look ")).await?;
        let rows = table_rows(&driver, "#run-judge-metrics").await?;
        ensure!(look.contains("fails green"), "{look} {rows:?}");
        ensure!(
            rows.iter().any(|row| row[0] == "Invocation5XXErrors (critical)" && row[1] == "High"),
            "{rows:?}"
        );
        let chart = chart_svg(&driver, "#run-chart svg").await?;
        ensure!(chart.contains("judge score") && chart.contains("judge fails green"), "the chart draws the score");
        // At the start of the run the judge has not looked yet.
        driver.execute("const c = document.querySelector('#run-cursor'); c.value = '0'; c.dispatchEvent(new Event('input', {bubbles: true}));", Vec::new()).await?;
        wait_for_text(&driver, "#run-judge-score", |text| text.starts_with("No look yet")).await?;
        let errors = console_errors(&driver).await?;
        ensure!(errors.is_empty(), "console errors: {errors:?}");
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn an_update_through_the_sagemaker_api_is_a_run_the_planner_follows() -> Result<()> {
    // The API clock 60 times faster: the canary's 300 s bake takes 5 s.
    let server = TestServer::with_engine_options(guardrail_server::engine::EngineOptions {
        load_rps: 100.0,
        seed: 5,
        api_time_scale: 60.0,
        api_provisioning_seconds: 0,
    })
    .await?;
    let base = server.base_url.clone();
    let client = reqwest::Client::new();
    let plan = guardrail_core::examples::notebook_canary();
    aws_json(
        &client,
        &base,
        "GraniteServiceVersion20100801.PutMetricAlarm",
        &serde_json::to_value(&plan.alarms[0])?,
    )
    .await?;
    let mut deployment = serde_json::to_value(&plan.deployment_config)?;
    deployment["AutoRollbackConfiguration"]["Alarms"] =
        serde_json::json!([{"AlarmName": plan.alarms[0].alarm_name}]);
    aws_json(
        &client,
        &base,
        "SageMaker.UpdateEndpoint",
        &serde_json::json!({
            "EndpointName": "guardrail-demo",
            "EndpointConfigName": "incompatible",
            "DeploymentConfig": deployment,
        }),
    )
    .await?;
    with_browser(|driver| async move {
        open_fresh(&driver, &base).await?;
        open_view(&driver, "run").await?;
        let open = driver
            .find(By::XPath(
                "//table[@id='runs']//tr[contains(., 'guardrail-demo: baseline → incompatible')]//button",
            ))
            .await?;
        open.click().await?;
        // Followed live to its end: the endpoint-wide alarm fires once green
        // has all the traffic, as in the planner's own run of this plan.
        let status =
            wait_for_text(&driver, "#run-status", |text| text.contains("rolled back")).await?;
        ensure!(status.contains("TestAlarm-5XXErrors-guardrail-demo"), "{status}");
        let events = wait_for_text(&driver, "#run-events", |text| {
            text.contains("rollback completed")
        })
        .await?;
        ensure!(events.contains("canary bake started"), "{events}");
        ensure!(
            events.contains("alarm TestAlarm-5XXErrors-guardrail-demo"),
            "the run shows CloudWatch's alarm changes: {events}"
        );
        let errors = console_errors(&driver).await?;
        ensure!(errors.is_empty(), "console errors: {errors:?}");
        Ok(())
    })
    .await
}

/// `guardrail serve` rehearsing as a user would: its SageMaker backend drives
/// the server's own SageMaker and CloudWatch APIs through the AWS SDK
/// (`AWS_ENDPOINT_URL` points at itself), the API clock 120 times faster.
struct Rehearsal {
    child: std::process::Child,
    base_url: String,
    data: std::path::PathBuf,
}

impl Rehearsal {
    async fn start() -> Result<Rehearsal> {
        let port = free_port()?;
        let base_url = format!("http://127.0.0.1:{port}");
        let data = scratch_dir("rehearse")?;
        let child = std::process::Command::new(guardrail_binary()?)
            .args(["serve", "--port", &port.to_string(), "--rps", "60"])
            .args(["--time-scale", "120", "--provisioning-seconds", "60"])
            .args(["--poll-ms", "100"])
            .arg("--dist")
            .arg(dist_dir()?)
            .arg("--data-dir")
            .arg(&data)
            .env("AWS_ENDPOINT_URL", &base_url)
            .env("AWS_ACCESS_KEY_ID", "AKIDLOCAL")
            .env("AWS_SECRET_ACCESS_KEY", "browser-test-secret")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()?;
        let rehearsal = Rehearsal {
            child,
            base_url,
            data,
        };
        let client = reqwest::Client::new();
        let health = format!("{}/healthz", rehearsal.base_url);
        wait_for("guardrail serve to answer", || {
            let request = client.get(&health).send();
            async move { request.await.ok().filter(|r| r.status().is_success()) }
        })
        .await?;
        Ok(rehearsal)
    }
}

impl Drop for Rehearsal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plan_runs_on_sagemaker_from_the_planner_after_its_preflight() -> Result<()> {
    let server = Rehearsal::start().await?;
    let base = server.base_url.clone();
    with_browser(|driver| async move {
        open_fresh(&driver, &base).await?;
        wait_for_text(&driver, "#total-duration", |text| text == "13:00").await?;
        // As in the local run above: this test is about errors, not latency.
        guardrail_tests::type_into(&driver, "#alarm-1-threshold", "1000000").await?;
        open_view(&driver, "run").await?;
        wait_for("the SageMaker backend on offer", || {
            let driver = driver.clone();
            async move {
                driver
                    .find(By::Css("#backend option[value='sagemaker']"))
                    .await
                    .ok()
            }
        })
        .await?;
        let backend = driver.find(By::Css("#backend")).await?;
        SelectElement::new(&backend)
            .await?
            .select_by_value("sagemaker")
            .await?;
        // The preflight, before anything is sent: what would be updated, and
        // why a start would be refused (the plan's alarms are not in CloudWatch).
        let endpoint = wait_for_text(&driver, "#target-endpoint", |text| !text.is_empty()).await?;
        ensure!(
            endpoint.starts_with("arn:aws:sagemaker:us-east-1:")
                && endpoint.ends_with(":endpoint/guardrail-demo"),
            "{endpoint}"
        );
        ensure!(text_of(&driver, "#target-region").await? == "us-east-1");
        ensure!(!text_of(&driver, "#target-account").await?.is_empty());
        let problems = wait_for_text(&driver, "#target-problems", |text| {
            text.contains("rollback alarm TestAlarm-5XXErrors-guardrail-demo does not exist")
        })
        .await?;
        ensure!(
            problems.contains("TestAlarm-ModelLatency-guardrail-demo"),
            "every missing alarm is named: {problems}"
        );
        ensure!(
            driver.find_all(By::Css("#time-scale")).await?.is_empty(),
            "SageMaker's clock is its own: no time scale to choose"
        );
        // A refused start says why and starts nothing.
        driver.find(By::Css("#start-run")).await?.click().await?;
        let refused = wait_for_text(&driver, "#run-error", |text| !text.is_empty()).await?;
        ensure!(refused.contains("does not exist"), "{refused}");

        // The user has guardrail put the plan's alarms: the preflight passes.
        driver
            .find(By::Css("#create-alarms"))
            .await?
            .click()
            .await?;
        wait_for("the preflight to pass", || {
            let driver = driver.clone();
            async move {
                let endpoint = driver.find(By::Css("#target-endpoint")).await.ok()?;
                let problems = driver.find_all(By::Css("#target-problems")).await.ok()?;
                problems.is_empty().then_some(endpoint)
            }
        })
        .await?;
        let start = driver.find(By::Css("#start-run")).await?;
        ensure!(start.text().await? == "Start on SageMaker");
        start.click().await?;
        let stop = wait_for_text(&driver, "#abort-run", |text| !text.is_empty()).await?;
        ensure!(stop == "Stop watching (SageMaker carries on)", "{stop}");
        // The alarms in CloudWatch are the plan's as edited in the planner.
        let described = aws_json(
            &reqwest::Client::new(),
            &base,
            "GraniteServiceVersion20100801.DescribeAlarms",
            &serde_json::json!({"AlarmNames": ["TestAlarm-ModelLatency-guardrail-demo"]}),
        )
        .await?;
        ensure!(
            described["MetricAlarms"][0]["Threshold"] == serde_json::json!(1_000_000.0),
            "{described}"
        );
        // SageMaker (here, guardrail's SageMaker API) rolls the update back;
        // the planner says so, and why, where a waiter would say InService.
        let status =
            wait_for_text(&driver, "#run-status", |text| text.contains("rolled back")).await?;
        ensure!(
            status.contains("TestAlarm-5XXErrors-guardrail-demo"),
            "{status}"
        );
        let events = text_of(&driver, "#run-events").await?;
        ensure!(events.contains("canary bake started"), "{events}");
        // SageMaker's metrics are statistics, not samples: nothing to re-judge.
        wait_for_text(&driver, "#retro-no-samples", |text| {
            text.contains("GetMetricData")
        })
        .await?;
        // The judge, though, compares those statistics, as the watcher would.
        driver
            .find(By::Css("#retro-judge-on"))
            .await?
            .click()
            .await?;
        let verdict = wait_for_text(&driver, "#retro-judge-verdict", |text| {
            text.starts_with("The judge ")
        })
        .await?;
        ensure!(!verdict.contains("cannot"), "{verdict}");
        wait_for_text(&driver, "#runs", |text| text.contains("rolled_back")).await?;
        let errors = console_errors(&driver).await?;
        ensure!(errors.is_empty(), "console errors: {errors:?}");
        Ok(())
    })
    .await
}

async fn text_of(driver: &WebDriver, css: &str) -> Result<String> {
    Ok(driver.find(By::Css(css)).await?.text().await?)
}

/// What the run view shows: the outcome, the snapshot at the cursor and the
/// events, in that order.
async fn run_view(driver: &WebDriver) -> Result<(String, String, String)> {
    Ok((
        text_of(driver, "#run-status").await?,
        text_of(driver, "#run-snapshot").await?,
        text_of(driver, "#run-events").await?,
    ))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_review_link_replays_the_run_read_only_with_its_server_gone() -> Result<()> {
    let server = TestServer::with_engine().await?;
    let base = server.base_url.clone();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(None));
    let out = seen.clone();
    with_browser(|driver| async move {
        start_the_seed_canary(&driver, &base).await?;
        wait_for_text(&driver, "#run-status", |text| text.contains("rolled back")).await?;
        wait_for_text(&driver, "#run-events", |text| {
            text.contains("rollback completed")
        })
        .await?;
        // The reviewer is sent the moment the canary bake started.
        driver
            .find(By::XPath(
                "//ol[@id='run-events']/li[contains(., 'canary bake started')]/button",
            ))
            .await?
            .click()
            .await?;
        wait_for_text(&driver, "#run-snapshot", |text| {
            text.contains("canary bake")
        })
        .await?;
        let shown = run_view(&driver).await?;
        driver
            .find(By::Css("#copy-review-link"))
            .await?
            .click()
            .await?;
        let note = wait_for_text(&driver, "#review-note", |text| !text.is_empty()).await?;
        ensure!(note.contains("without this server"), "{note}");
        let link = value_of(&driver, "#review-text").await?;
        *out.lock().map_err(|_| anyhow::anyhow!("lock"))? = Some((link, shown));
        Ok(())
    })
    .await?;
    let (link, shown) = seen
        .lock()
        .map_err(|_| anyhow::anyhow!("lock"))?
        .take()
        .ok_or_else(|| anyhow::anyhow!("no review link"))?;
    ensure!(link.contains("&r=1."), "the link carries the run: {link}");
    ensure!(link.len() < 4_096, "{} characters", link.len());

    // The server that recorded the run is gone. The planner, served as static
    // files from elsewhere, opens the link in a fresh profile.
    drop(server);
    let host = TestServer::start().await?;
    let fragment = link
        .split_once('#')
        .map(|(_, rest)| rest)
        .unwrap_or_default();
    let moved = format!("{}/#{fragment}", host.base_url);
    let api = host.base_url.clone();
    let inside = api.clone();
    with_browser(|driver| async move {
        let api = inside;
        driver.goto(&moved).await?;
        wait_for_text(&driver, "#run-status", |text| text.contains("rolled back")).await?;
        wait_for_text(&driver, "#run-snapshot", |text| {
            text.contains("canary bake")
        })
        .await?;
        let replayed = run_view(&driver).await?;
        // The same run at the same moment; only the local model servers'
        // loopback addresses stay behind.
        let shown = (shown.0, shown.1, without_loopback_addresses(&shown.2));
        ensure!(replayed == shown, "server: {shown:?}\nlink: {replayed:?}");
        // Read-only by construction: nothing that starts or stops a rollout.
        wait_for_text(&driver, "#review-bar", |text| {
            text.contains("starts and stops nothing")
        })
        .await?;
        for control in [
            "#start-run",
            "#abort-run",
            "#backend",
            "#time-scale",
            "#create-alarms",
        ] {
            ensure!(
                driver.find_all(By::Css(control)).await?.is_empty(),
                "{control} is on a review page"
            );
        }
        // Moving around rewrites the URL and keeps the run and the review.
        driver.find(By::Css("#tab-plan")).await?.click().await?;
        open_view(&driver, "run").await?;
        let url = driver.current_url().await?.to_string();
        ensure!(url.contains("&r=1."), "{url}");
        driver.refresh().await?;
        wait_for_text(&driver, "#run-status", |text| text.contains("rolled back")).await?;
        ensure!(driver.find_all(By::Css("#start-run")).await?.is_empty());
        // The link carries no per-period samples: the judge says where to
        // re-judge the run instead.
        let missing = wait_for_text(&driver, "#retro-no-samples", |text| {
            text.contains("guardrail retro")
        })
        .await?;
        ensure!(missing.contains("server that recorded it"), "{missing}");
        // The reviewer's summary, with the image drawn from the link's record.
        driver
            .find(By::Css("#copy-review-summary"))
            .await?
            .click()
            .await?;
        wait_for_text(&driver, "#review-note", |text| text.contains("summary")).await?;
        let summary = value_of(&driver, "#review-text").await?;
        ensure!(summary.contains("**rolled back**"), "{summary}");
        ensure!(
            summary.contains("| `TestAlarm-5XXErrors-guardrail-demo` |")
                && summary.contains("**ALARM** at"),
            "{summary}"
        );
        let image = summary
            .split("![The run's timeline](")
            .nth(1)
            .and_then(|rest| rest.split(')').next())
            .ok_or_else(|| anyhow::anyhow!("no image link: {summary}"))?
            .to_string();
        ensure!(
            image.starts_with(&format!("{api}/timeline.svg?r=1.")),
            "{image}"
        );
        let svg = reqwest::get(&image).await?.text().await?;
        ensure!(
            svg.starts_with("<svg") && svg.contains("rolled back during the final bake"),
            "{svg}"
        );
        let errors = console_errors(&driver).await?;
        ensure!(errors.is_empty(), "console errors: {errors:?}");
        Ok(())
    })
    .await?;
    // Even were a page to try, this server would refuse it: the static host
    // answers no server functions at all.
    let answer = reqwest::Client::new()
        .post(format!("{api}/api/start_rollout"))
        .send()
        .await?;
    ensure!(!answer.status().is_success());
    Ok(())
}

/// `text` without " at http://127.0.0.1:PORT".
fn without_loopback_addresses(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(index) = rest.find(" at http://127.0.0.1:") {
        out.push_str(&rest[..index]);
        let after = &rest[index + " at http://127.0.0.1:".len()..];
        rest = after.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    out.push_str(rest);
    out
}
