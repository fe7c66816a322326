//! Running, following and replaying a rollout from the browser.

use anyhow::{ensure, Result};
use guardrail_tests::{
    aws_json, console_errors, open_fresh, value_of, wait_for_text, with_browser, TestServer,
};
use thirtyfour::components::SelectElement;
use thirtyfour::prelude::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_rollout_started_in_the_browser_is_followed_live_and_replayed_from_its_link() -> Result<()>
{
    let server = TestServer::with_engine().await?;
    let base = server.base_url.clone();
    let link = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let out = link.clone();
    with_browser(|driver| async move {
        open_fresh(&driver, &base).await?;
        wait_for_text(&driver, "#total-duration", |text| text == "13:00").await?;
        // The latency alarm (Average >= 10 ms) is raised to 1 s: this test is about
        // errors, and a machine busy with other tests can push a short period's
        // average latency past 10 ms.
        guardrail_tests::type_into(&driver, "#alarm-1-threshold", "1000000").await?;
        driver.find(By::Css("#tab-run")).await?.click().await?;
        let scale = driver.find(By::Css("#time-scale")).await?;
        SelectElement::new(&scale)
            .await?
            .select_by_value("600")
            .await?;
        driver.find(By::Css("#start-run")).await?.click().await?;
        // The seed notebook's canary to the incompatible model: the endpoint-wide
        // alarm fires once green has all the traffic.
        let status =
            wait_for_text(&driver, "#run-status", |text| text.contains("rolled back")).await?;
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
        let chart = driver
            .find(By::Css("#run-chart svg"))
            .await?
            .inner_html()
            .await?;
        ensure!(
            chart.contains("ALARM TestAlarm-5XXErrors-guardrail-demo"),
            "the chart marks the alarm"
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
        // The moment is part of the link.
        let moved = value_of(&driver, "#share-link").await?;
        let state =
            guardrail_core::link::decode(&moved).map_err(|error| anyhow::anyhow!("{error}"))?;
        ensure!(state.at_ms.is_some(), "{state:?}");
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
        driver.find(By::Css("#tab-run")).await?.click().await?;
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
async fn the_abort_button_rolls_a_running_update_back_and_says_who_asked() -> Result<()> {
    let server = TestServer::with_engine().await?;
    with_browser(|driver| async move {
        open_fresh(&driver, &server.base_url).await?;
        // The fixed model at real time: nothing would end this run for 13 minutes.
        guardrail_tests::type_into(&driver, "#endpoint-config-name", "fixed").await?;
        driver.find(By::Css("#tab-run")).await?.click().await?;
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
        driver.find(By::Css("#tab-run")).await?.click().await?;
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
