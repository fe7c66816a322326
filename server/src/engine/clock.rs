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

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::Notify;

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
        PlanClock::starting_at(self.instant_at(api_ms), self.scale)
    }
}

/// Plan time of a run: real time since its start, times its time scale, less
/// the time it stood still.
///
/// A planner's run holds its clock at the run's next deadline until the run
/// has handled it ([`PlanClock::hold_at`], [`PlanClock::caught_up_to`]): on a
/// busy machine at 600×, a run that wakes 15 ms late would otherwise shift
/// traffic 9 plan seconds after the plan says, and the requests of those
/// seconds would be served by the routing the plan had already replaced.
/// While the clock is held the router keeps new requests waiting
/// ([`PlanClock::released`]); the time lost is taken out of plan time, so the
/// run goes on from the deadline as if it had woken on time.
///
/// A run through SageMaker's API holds its requests the same way but keeps
/// its plan time on the API clock, which CloudWatch reads too: it never calls
/// [`PlanClock::caught_up_to`], and handles what it is behind on one deadline
/// at a time.
#[derive(Clone, Debug)]
pub struct PlanClock {
    inner: Arc<Shared>,
}

/// The same clock: one run's.
impl PartialEq for PlanClock {
    fn eq(&self, other: &PlanClock) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

#[derive(Debug)]
struct Shared {
    start: Instant,
    scale: f64,
    /// Real nanoseconds plan time stood still.
    lost_ns: AtomicU64,
    /// Plan time does not pass this until the run moves it on.
    held_at_ms: AtomicU64,
    moved: Notify,
}

/// How long a request waits for a held clock at most: a run that stops
/// answering never stalls its endpoint's traffic for longer.
const HOLD_PATIENCE: Duration = Duration::from_millis(500);

impl PlanClock {
    pub fn start(scale: f64) -> PlanClock {
        PlanClock::starting_at(Instant::now(), scale)
    }

    /// A clock that started at `start`.
    pub fn starting_at(start: Instant, scale: f64) -> PlanClock {
        PlanClock {
            inner: Arc::new(Shared {
                start,
                scale: scale.max(1e-6),
                lost_ns: AtomicU64::new(0),
                held_at_ms: AtomicU64::new(u64::MAX),
                moved: Notify::new(),
            }),
        }
    }

    pub fn scale(&self) -> f64 {
        self.inner.scale
    }

    /// Plan time at `at` were the clock never held.
    fn running_ms_at(&self, at: Instant) -> u64 {
        let shared = &*self.inner;
        let real_ns = at.saturating_duration_since(shared.start).as_nanos() as u64;
        let ran_ns = real_ns.saturating_sub(shared.lost_ns.load(Ordering::Acquire));
        (ran_ns as f64 / 1e6 * shared.scale) as u64
    }

    /// Plan milliseconds since the start.
    pub fn now_ms(&self) -> u64 {
        self.ms_at(Instant::now())
    }

    /// What plan time read at the real instant `at` (0 before the start).
    pub fn ms_at(&self, at: Instant) -> u64 {
        self.running_ms_at(at)
            .min(self.inner.held_at_ms.load(Ordering::Acquire))
    }

    /// The real instant at which plan time reaches `plan_ms`, should the
    /// clock not stand still before then.
    pub fn instant_at(&self, plan_ms: u64) -> Instant {
        let shared = &*self.inner;
        shared.start
            + Duration::from_nanos(shared.lost_ns.load(Ordering::Acquire))
            + Duration::from_secs_f64(plan_ms as f64 / 1_000.0 / shared.scale)
    }

    /// Plan time will not pass `plan_ms` until the clock is moved on.
    pub fn hold_at(&self, plan_ms: u64) {
        self.inner.held_at_ms.store(plan_ms, Ordering::Release);
        self.inner.moved.notify_waiters();
    }

    /// Everything due at `plan_ms` is handled: if the clock stood still
    /// there, it goes on from `plan_ms` now, and is no longer held.
    pub fn caught_up_to(&self, plan_ms: u64) {
        let shared = &*self.inner;
        let due_ns = (plan_ms as f64 / shared.scale * 1e6) as u64;
        let real_ns = shared.start.elapsed().as_nanos() as u64;
        shared
            .lost_ns
            .fetch_max(real_ns.saturating_sub(due_ns), Ordering::AcqRel);
        self.hold_at(u64::MAX);
    }

    /// Whether plan time stands still now, waiting for the run.
    pub fn is_held(&self) -> bool {
        self.running_ms_at(Instant::now()) >= self.inner.held_at_ms.load(Ordering::Acquire)
    }

    /// Waits while the clock is held (at most [`HOLD_PATIENCE`]).
    pub async fn released(&self) {
        let deadline = Instant::now() + HOLD_PATIENCE;
        loop {
            let moved = self.inner.moved.notified();
            if !self.is_held() || Instant::now() >= deadline {
                return;
            }
            let _ = tokio::time::timeout_at(deadline.into(), moved).await;
        }
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

    #[tokio::test]
    async fn a_held_plan_clock_stands_still_and_goes_on_from_where_it_stood() {
        // At 1000×, a second ago: about 1000 plan seconds have passed.
        let clock = PlanClock::starting_at(Instant::now() - Duration::from_secs(1), 1_000.0);
        assert!(clock.now_ms() >= 1_000_000);
        assert!(!clock.is_held());
        // The run is late for its deadline at 500 s: plan time stands there.
        clock.hold_at(500_000);
        assert!(clock.is_held());
        assert_eq!(clock.now_ms(), 500_000);
        let waiting = {
            let clock = clock.clone();
            tokio::spawn(async move { clock.released().await })
        };
        tokio::task::yield_now().await;
        // Handled: the clock goes on from 500 s, not from 1000.
        clock.caught_up_to(500_000);
        // Not from 1000 s: whatever a busy machine adds, it is well short of
        // the half a real second that would take.
        let now = clock.now_ms();
        assert!((500_000..1_000_000).contains(&now), "{now}");
        assert!(!clock.is_held());
        waiting.await.expect("the waiting request goes on");
        // Its instants follow: plan time 500 s is about now.
        let at = clock.instant_at(now);
        assert!(at <= Instant::now(), "plan time {now} is not in the future");
        // A deadline ahead holds nothing yet.
        clock.hold_at(now + 60_000);
        assert!(!clock.is_held());
    }
}
