//! The planner in a real browser: headless Chromium against the release bundle.

use anyhow::Result;
use guardrail_tests::{console_errors, wait_for_text, with_browser, TestServer};
use thirtyfour::prelude::*;

#[tokio::test(flavor = "multi_thread")]
async fn the_page_loads_and_shows_the_chart_for_the_default_plan() -> Result<()> {
    let server = TestServer::start().await?;
    with_browser(|driver| async move {
        driver.goto(&server.base_url).await?;
        let total = wait_for_text(&driver, "#total-duration", |text| !text.is_empty()).await?;
        assert!(total.contains("13:00"), "total duration: {total}");
        let chart = driver.find(By::Css("#traffic-chart svg")).await?;
        assert!(chart.is_displayed().await?);
        let errors = console_errors(&driver).await?;
        assert!(errors.is_empty(), "console errors: {errors:?}");
        Ok(())
    })
    .await
}
