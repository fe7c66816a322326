//! The built-in load generator: keeps an endpoint supplied with traffic, at a
//! steady rate of real requests per second, with rows from the demo data set.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::HeaderValue;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use crate::engine::model::demo_rows;
use crate::engine::router::EndpointRouter;

/// Requests that may be in flight at once; beyond it, ticks are skipped.
const MAX_IN_FLIGHT: usize = 256;

pub fn spawn(router: Arc<EndpointRouter>, rps: f64) -> JoinHandle<()> {
    let rows: Arc<Vec<Bytes>> = Arc::new(demo_rows(100).into_iter().map(Bytes::from).collect());
    tokio::spawn(async move {
        let period = Duration::from_secs_f64(1.0 / rps.max(0.001));
        let mut ticker = tokio::time::interval(period);
        // A busy machine that delays the task still sends the rate: each
        // period of a run at a time scale then has the requests it should.
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
        let content_type = HeaderValue::from_static("text/csv");
        let mut next = 0usize;
        loop {
            ticker.tick().await;
            let Ok(permit) = slots.clone().try_acquire_owned() else {
                continue;
            };
            let body = rows[next % rows.len()].clone();
            next += 1;
            let router = router.clone();
            let content_type = content_type.clone();
            tokio::spawn(async move {
                let _ = router.invoke(body, Some(content_type)).await;
                drop(permit);
            });
        }
    })
}
