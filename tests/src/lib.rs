//! Helpers for guardrail's end-to-end tests: serve the built planner from the real
//! server on a free loopback port, and drive Debian's Chromium through
//! chromedriver, headless, with a fresh profile.
//!
//! Every wait polls a condition; nothing sleeps for a fixed time. A session is
//! always quit before chromedriver is killed, even when the test fails, so that no
//! Chromium is orphaned.

use std::future::Future;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use thirtyfour::prelude::*;

/// How long any single condition may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(20);

/// The planner's release bundle the tests load: `GUARDRAIL_DIST`, else `dist/`.
pub fn dist_dir() -> Result<PathBuf> {
    let dist = std::env::var_os("GUARDRAIL_DIST")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../dist")));
    if !dist.join("index.html").exists() {
        bail!(
            "no built planner in {}: run `cargo run -p guardrail-bundle --bin bundle` first (scripts/test.sh does)",
            dist.display()
        );
    }
    Ok(dist)
}

/// A benchmark's setting from the environment: `name`, else `default`.
pub fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// A free port on 127.0.0.1.
pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A short, fresh directory under /tmp (Chromium's socket paths must stay short).
pub fn scratch_dir(label: &str) -> Result<PathBuf> {
    static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = PathBuf::from(format!("/tmp/gr-{label}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// The guardrail web server, serving the built planner on a free port.
pub struct TestServer {
    pub base_url: String,
    task: tokio::task::JoinHandle<()>,
    engine: Option<guardrail_server::engine::Engine>,
}

impl TestServer {
    /// The planner's static files only: what the planner tests need.
    pub async fn start() -> Result<TestServer> {
        let dist = dist_dir()?;
        Self::serve(guardrail_server::web::router(&dist), None).await
    }

    /// The whole server with a local engine (the demo endpoint, an in-memory
    /// store and a load generator), as `guardrail serve` runs it.
    pub async fn with_engine() -> Result<TestServer> {
        Self::with_engine_options(guardrail_server::engine::EngineOptions {
            load_rps: 100.0,
            seed: 3,
            ..Default::default()
        })
        .await
    }

    /// The whole server with a local engine that requires `token`, as
    /// `guardrail serve --token` (or off loopback) does.
    pub async fn with_engine_token(token: &str) -> Result<TestServer> {
        use guardrail_server::engine::{registry::Registry, Engine};
        let dist = dist_dir()?;
        let store = guardrail_server::store::Store::in_memory()?;
        let engine = Engine::start(
            Registry::demo(),
            store,
            guardrail_server::engine::EngineOptions {
                load_rps: 100.0,
                seed: 3,
                ..Default::default()
            },
        )
        .await?;
        engine.set_access_token(Some(token.to_string()));
        Self::serve(
            guardrail_server::web::app(&dist, engine.clone()),
            Some(engine),
        )
        .await
    }

    /// The whole server with a local engine started with `options`.
    pub async fn with_engine_options(
        options: guardrail_server::engine::EngineOptions,
    ) -> Result<TestServer> {
        use guardrail_server::engine::{registry::Registry, Engine};
        let dist = dist_dir()?;
        let store = guardrail_server::store::Store::in_memory()?;
        let engine = Engine::start(Registry::demo(), store, options).await?;
        Self::serve(
            guardrail_server::web::app(&dist, engine.clone()),
            Some(engine),
        )
        .await
    }

    async fn serve(
        app: axum::Router,
        engine: Option<guardrail_server::engine::Engine>,
    ) -> Result<TestServer> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        // As `guardrail serve` serves it: invocations ahead of the app.
        let served = guardrail_server::web::Served {
            app,
            invocations: engine.as_ref().map(|engine| engine.invocations()),
        };
        let task = tokio::spawn(async move {
            let _ = guardrail_server::web::serve_http1(listener, served).await;
        });
        Ok(TestServer {
            base_url: format!("http://{address}"),
            task,
            engine,
        })
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
        if let Some(engine) = self.engine.take() {
            // Stop the load generator and the model servers without a runtime.
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                handle.spawn(async move { engine.shutdown().await });
            }
        }
    }
}

/// Calls one of guardrail's AWS APIs at `base` in AWS's JSON protocols, as
/// boto3 does: `target` is `SageMaker.<Op>` (JSON 1.1) or
/// `GraniteServiceVersion20100801.<Op>` (CloudWatch, JSON 1.0).
pub async fn aws_json(
    client: &reqwest::Client,
    base: &str,
    target: &str,
    body: &serde_json::Value,
) -> Result<serde_json::Value> {
    let version = if target.starts_with("SageMaker.") {
        "1.1"
    } else {
        "1.0"
    };
    let response = client
        .post(format!("{base}/"))
        .header("x-amz-target", target)
        .header("content-type", format!("application/x-amz-json-{version}"))
        .body(body.to_string())
        .send()
        .await?;
    let status = response.status();
    let text = response.text().await?;
    if !status.is_success() {
        bail!("{target}: {status} {text}");
    }
    Ok(serde_json::from_str(&text)?)
}

struct Chromedriver {
    child: Child,
    port: u16,
    profile: PathBuf,
}

impl Chromedriver {
    fn start() -> Result<Chromedriver> {
        let binary =
            std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
        if !Path::new(&binary).exists() {
            bail!(
                "{binary} not found: install chromium and chromium-driver (scripts/setup.sh does)"
            );
        }
        let port = free_port()?;
        let profile = scratch_dir("profile")?;
        let child = Command::new(&binary)
            .arg(format!("--port={port}"))
            .env("TMPDIR", "/tmp")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start {binary}"))?;
        let started = Instant::now();
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        while TcpStream::connect_timeout(&address, Duration::from_millis(100)).is_err() {
            if started.elapsed() > WAIT {
                bail!("chromedriver did not listen on {port}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Chromedriver {
            child,
            port,
            profile,
        })
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// Runs `test` with a fresh headless Chromium, and quits it afterwards whatever
/// the test's result.
pub async fn with_browser<F, Fut>(test: F) -> Result<()>
where
    F: FnOnce(WebDriver) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let chromedriver = Chromedriver::start()?;
    let mut caps = DesiredCapabilities::chrome();
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    caps.set_binary(&chromium)?;
    for arg in [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-quic",
        "--no-first-run",
        "--window-size=1400,1000",
    ] {
        caps.add_arg(arg)?;
    }
    caps.add_arg(&format!(
        "--user-data-dir={}",
        chromedriver.profile.display()
    ))?;
    let driver = WebDriver::new(format!("http://127.0.0.1:{}", chromedriver.port), caps)
        .await
        .context("cannot start a Chromium session")?;
    let handle = driver.clone();
    let result = test(driver).await;
    let quit = handle.quit().await;
    drop(chromedriver);
    result?;
    quit.map_err(|error| anyhow!("cannot quit Chromium: {error}"))
}

/// Polls `condition` until it returns `Some`, or fails after [`WAIT`] with `what`.
pub async fn wait_for<T, F, Fut>(what: &str, mut condition: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(value) = condition().await {
            return Ok(value);
        }
        if started.elapsed() > WAIT {
            bail!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Opens the view `name` (`whatif`, `compare`, `export`, `run`) by its tab,
/// as a person does, and waits for it: every view but the preview is
/// fetched the first time it is shown.
pub async fn open_view(driver: &WebDriver, name: &str) -> Result<()> {
    driver
        .find(By::Css(format!("#tab-{name}")))
        .await?
        .click()
        .await?;
    let panel = format!("#panel-{name}");
    wait_for(&format!("the view {panel}"), || async {
        driver.find(By::Css(&panel)).await.ok()
    })
    .await?;
    Ok(())
}

/// Waits until the element `css` exists and its text satisfies `check`; returns the text.
pub async fn wait_for_text(
    driver: &WebDriver,
    css: &str,
    check: impl Fn(&str) -> bool,
) -> Result<String> {
    let last = std::sync::Mutex::new(None::<String>);
    let found = wait_for(&format!("text of {css}"), || async {
        let element = driver.find(By::Css(css)).await.ok()?;
        let text = element.text().await.ok()?;
        if let Ok(mut last) = last.lock() {
            *last = Some(text.clone());
        }
        check(&text).then_some(text)
    })
    .await;
    // Say what was there instead: a timeout alone says nothing.
    found.with_context(|| match last.lock().ok().and_then(|last| last.clone()) {
        Some(text) => format!("{css} last read: {text:?}"),
        None => format!("{css} was never found"),
    })
}

/// The browser console's severe messages (errors), for "no console errors" checks.
pub async fn console_errors(driver: &WebDriver) -> Result<Vec<String>> {
    let value = driver
        .execute("return (window.__guardrailErrors || []).slice();", vec![])
        .await?;
    let errors: Vec<String> = serde_json::from_value(value.json().clone()).unwrap_or_default();
    Ok(errors)
}

/// The Wasm files the page has fetched so far, by name (the main module and
/// any lazily loaded chunk), from the browser's resource timing entries.
pub async fn fetched_wasm(driver: &WebDriver) -> Result<Vec<String>> {
    let value = driver
        .execute(
            "return [...new Set(performance.getEntriesByType('resource')\
               .map(entry => new URL(entry.name).pathname.slice(1))\
               .filter(name => name.endsWith('.wasm')))];",
            vec![],
        )
        .await?;
    Ok(serde_json::from_value(value.json().clone()).unwrap_or_default())
}

/// Replaces the text of the input `css` as a person would: select all, then type.
pub async fn type_into(driver: &WebDriver, css: &str, text: &str) -> Result<()> {
    let input = driver.find(By::Css(css)).await?;
    input.click().await?;
    input.send_keys(Key::Control + "a").await?;
    if text.is_empty() {
        input.send_keys(Key::Backspace).await?;
    } else {
        input.send_keys(text).await?;
    }
    Ok(())
}

/// The markup inside `css`: a chart's SVG.
pub async fn chart_svg(driver: &WebDriver, css: &str) -> Result<String> {
    Ok(driver.find(By::Css(css)).await?.inner_html().await?)
}

/// Whether the radio button or checkbox `css` is checked.
pub async fn is_checked(driver: &WebDriver, css: &str) -> Result<bool> {
    Ok(driver.find(By::Css(css)).await?.is_selected().await?)
}

/// The `value` property of the input `css`.
pub async fn value_of(driver: &WebDriver, css: &str) -> Result<String> {
    let input = driver.find(By::Css(css)).await?;
    Ok(input.prop("value").await?.unwrap_or_default())
}

/// The `guardrail` binary built next to these tests (`cargo test --workspace`
/// builds it; scripts/test.sh runs that).
pub fn guardrail_binary() -> Result<PathBuf> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target")));
    let binary = target.join("debug/guardrail");
    if !binary.exists() {
        bail!(
            "{} is missing: run `cargo build -p guardrail-server` first",
            binary.display()
        );
    }
    Ok(binary)
}

/// Opens the planner at `url` with an empty local storage: the default plan,
/// whatever an earlier test left behind.
pub async fn open_fresh(driver: &WebDriver, url: &str) -> Result<()> {
    driver.goto(url).await?;
    driver
        .execute(
            "window.localStorage.clear(); window.sessionStorage.clear();",
            vec![],
        )
        .await?;
    driver.goto(url).await?;
    wait_for_text(driver, "#total-duration", |text| !text.is_empty()).await?;
    Ok(())
}
