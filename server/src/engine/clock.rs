//! The engine's clocks.
//!
//! The **API clock** is what the SageMaker and CloudWatch APIs see: epoch
//! milliseconds that start at the wall-clock time the server started and then
//! run `--time-scale` times faster than real time. Every timestamp the APIs take
//! and return, every metric bucket and every alarm period is on it, so that a
//! 60-second period is 60 seconds in every response.
//!
//! A **plan clock** is one run's: milliseconds since its update request, at the
//! run's own time scale (the planner picks one per run; an update through the
//! API runs at the API clock's).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The API clock. See the module documentation.
#[derive(Clone, Copy, Debug)]
pub struct ApiClock {
    start: Instant,
    start_wall_ms: u64,
    scale: f64,
}

/// Milliseconds since the Unix epoch, from the system clock.
pub fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|duration| duration.as_millis() as u64)
        .unwrap_or(0)
}

impl ApiClock {
    pub fn start(scale: f64) -> ApiClock {
        ApiClock {
            start: Instant::now(),
            start_wall_ms: wall_ms(),
            scale: scale.max(1e-6),
        }
    }

    /// The clock, started where a previous one left off if that is later than
    /// the wall clock: a restart never turns API time back (at a time scale
    /// above 1 the API clock runs ahead of the wall clock).
    pub fn resume(scale: f64, not_before_ms: u64) -> ApiClock {
        let mut clock = ApiClock::start(scale);
        clock.start_wall_ms = clock.start_wall_ms.max(not_before_ms);
        clock
    }

    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// When the clock started, in epoch milliseconds.
    pub fn started_ms(&self) -> u64 {
        self.start_wall_ms
    }

    /// Now, in epoch milliseconds on the API clock.
    pub fn now_ms(&self) -> u64 {
        self.start_wall_ms + (self.start.elapsed().as_secs_f64() * 1_000.0 * self.scale) as u64
    }

    /// What the API clock reads at the real instant `at`.
    pub fn ms_at(&self, at: Instant) -> u64 {
        let elapsed = at.saturating_duration_since(self.start).as_secs_f64();
        self.start_wall_ms + (elapsed * 1_000.0 * self.scale) as u64
    }

    /// The real instant at which the API clock reads `api_ms`.
    pub fn instant_at(&self, api_ms: u64) -> Instant {
        let ahead_ms = api_ms.saturating_sub(self.start_wall_ms) as f64;
        self.start + Duration::from_secs_f64(ahead_ms / 1_000.0 / self.scale)
    }

    /// The plan clock of a run whose update request came at `api_ms`.
    pub fn plan_clock_from(&self, api_ms: u64) -> PlanClock {
        PlanClock {
            start: self.instant_at(api_ms),
            scale: self.scale,
        }
    }
}

/// Plan time of a run: real time since its start, times its time scale.
#[derive(Clone, Copy, Debug)]
pub struct PlanClock {
    start: Instant,
    scale: f64,
}

impl PlanClock {
    pub fn start(scale: f64) -> PlanClock {
        PlanClock {
            start: Instant::now(),
            scale: scale.max(1e-6),
        }
    }

    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// Plan milliseconds since the start.
    pub fn now_ms(&self) -> u64 {
        (self.start.elapsed().as_secs_f64() * 1_000.0 * self.scale) as u64
    }

    /// The real instant at which plan time reaches `plan_ms`.
    pub fn instant_at(&self, plan_ms: u64) -> Instant {
        self.start + Duration::from_secs_f64(plan_ms as f64 / 1_000.0 / self.scale)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_clock_runs_at_its_scale_from_the_wall_clock() {
        let clock = ApiClock::start(1_000.0);
        let first = clock.now_ms();
        assert!(
            first.abs_diff(wall_ms()) < 5_000,
            "starts at the wall clock"
        );
        std::thread::sleep(Duration::from_millis(20));
        let elapsed = clock.now_ms() - first;
        assert!(elapsed >= 20_000, "20 ms at 1000× is 20 s: {elapsed}");
        let at = clock.instant_at(first + 60_000);
        assert!(at > Instant::now() - Duration::from_secs(1));
        let plan = clock.plan_clock_from(clock.now_ms());
        assert!(plan.now_ms() < 5_000);
    }

    #[test]
    fn a_resumed_clock_never_reads_earlier_than_where_it_left_off() {
        let ahead = wall_ms() + 3_600_000;
        let resumed = ApiClock::resume(60.0, ahead);
        assert!(resumed.now_ms() >= ahead);
        assert!(resumed.now_ms() < ahead + 60_000);
        let behind = ApiClock::resume(1.0, 5);
        assert!(
            behind.now_ms().abs_diff(wall_ms()) < 5_000,
            "the wall clock wins"
        );
    }
}
