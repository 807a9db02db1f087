//! Budgets (deadline, item cap, work cap, stall detection), the watchdog that trips a
//! run's token when its deadline passes or it stops making progress, and adaptive
//! step sizing for callers that do "a little every frame".

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::cancel::{CancelReason, CancelToken};

/// Limits on one run of a [`Graph`](crate::Graph).
///
/// Every limit is optional; [`Budget::default`] has none. Limits apply to the whole
/// run (all its stages): once one is reached no new item starts, items already running
/// finish or see the stop at their next safe point, and the run's outcome says which
/// limit ended it.
///
/// ```
/// use std::time::Duration;
/// use scheduler::Budget;
/// let budget = Budget::within(Duration::from_millis(4)).with_max_items(64);
/// assert_eq!(budget.max_items, Some(64));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Budget {
    /// No item starts after this instant, and the watchdog trips the run's token when
    /// it passes, so busy items stop at their next safe point.
    pub deadline: Option<Instant>,
    /// At most this many items start (and so at most this many commit) in the run.
    pub max_items: Option<u64>,
    /// No item starts once the work units reported by items
    /// ([`TaskCtx::add_work`](crate::TaskCtx::add_work)) reach this cap.
    pub max_work: Option<u64>,
    /// The run ends [`Stalled`](crate::RunOutcome::Stalled) when this many consecutive
    /// runs of the same graph (this one included) committed no item although they had
    /// items to run.
    pub stall_steps: Option<u32>,
    /// The watchdog trips the run's token with [`CancelReason::Stalled`] when no item
    /// completes for this long.
    pub stall_timeout: Option<Duration>,
}

impl Budget {
    /// No limits.
    #[must_use]
    pub fn unlimited() -> Self {
        Self::default()
    }

    /// A deadline `time` from now.
    #[must_use]
    pub fn within(time: Duration) -> Self {
        Self::default().with_deadline(Instant::now() + time)
    }

    /// Sets the deadline.
    #[must_use]
    pub fn with_deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Sets the item cap.
    #[must_use]
    pub fn with_max_items(mut self, n: u64) -> Self {
        self.max_items = Some(n);
        self
    }

    /// Sets the work-unit cap.
    #[must_use]
    pub fn with_max_work(mut self, units: u64) -> Self {
        self.max_work = Some(units);
        self
    }

    /// Sets stall detection by steps without progress.
    #[must_use]
    pub fn with_stall_steps(mut self, steps: u32) -> Self {
        self.stall_steps = Some(steps);
        self
    }

    /// Sets stall detection by time without a completed item.
    #[must_use]
    pub fn with_stall_timeout(mut self, timeout: Duration) -> Self {
        self.stall_timeout = Some(timeout);
        self
    }
}

/// Which limit of a [`Budget`] stopped a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub enum Limit {
    /// The deadline passed.
    Deadline,
    /// The item cap was reached.
    Items,
    /// The work-unit cap was reached.
    Work,
}

/// Chooses how many items to run in the next step so that a step takes about a target
/// time, from a rolling estimate of the wall time per item.
///
/// ```
/// use std::time::Duration;
/// use scheduler::StepSizer;
/// let mut sizer = StepSizer::new(Duration::from_millis(4), 1, 1024);
/// assert_eq!(sizer.next_batch(), 1); // nothing measured yet: start small
/// sizer.record(10, Duration::from_millis(2)); // 200 us per item
/// assert_eq!(sizer.next_batch(), 20);
/// ```
#[derive(Debug, Clone)]
pub struct StepSizer {
    target: Duration,
    min: usize,
    max: usize,
    window: VecDeque<(usize, Duration)>,
    capacity: usize,
}

impl StepSizer {
    /// A sizer aiming at `target` per step, never fewer than `min` nor more than `max`
    /// items, averaging over the last 8 steps.
    #[must_use]
    pub fn new(target: Duration, min: usize, max: usize) -> Self {
        let min = min.max(1);
        Self {
            target,
            min,
            max: max.max(min),
            window: VecDeque::with_capacity(8),
            capacity: 8,
        }
    }

    /// The target time per step.
    #[must_use]
    pub fn target(&self) -> Duration {
        self.target
    }

    /// Changes the target time per step (the estimate is kept).
    pub fn set_target(&mut self, target: Duration) {
        self.target = target;
    }

    /// Estimated wall time per item, if anything has been recorded.
    #[must_use]
    pub fn time_per_item(&self) -> Option<Duration> {
        let (items, time) = self
            .window
            .iter()
            .fold((0usize, Duration::ZERO), |(n, t), &(i, d)| (n + i, t + d));
        (items > 0).then(|| time / u32::try_from(items).unwrap_or(u32::MAX))
    }

    /// How many items the next step should run: the target over the measured time per
    /// item, computed from the window's sums (not a rounded time per item, so items
    /// far shorter than a nanosecond, a GPU's pixels, are sized right).
    #[must_use]
    pub fn next_batch(&self) -> usize {
        let (items, time) = self.window.iter().fold((0u128, 0u128), |(n, t), &(i, d)| {
            (n + i as u128, t + d.as_nanos())
        });
        if items == 0 {
            return self.min;
        }
        if time == 0 {
            return self.max;
        }
        let n = self.target.as_nanos().saturating_mul(items) / time;
        usize::try_from(n)
            .unwrap_or(usize::MAX)
            .clamp(self.min, self.max)
    }

    /// Records that a step ran `items` items in `elapsed` wall time. Steps that ran no
    /// item teach nothing and are ignored.
    pub fn record(&mut self, items: usize, elapsed: Duration) {
        if items == 0 {
            return;
        }
        if self.window.len() == self.capacity {
            self.window.pop_front();
        }
        self.window.push_back((items, elapsed));
    }
}

/// One thread per pool, started on first use, that trips tokens whose deadline passed
/// or whose progress counter stopped moving.
#[derive(Debug)]
pub(crate) struct Watchdog {
    inner: Arc<WatchInner>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Debug, Default)]
struct WatchInner {
    state: Mutex<WatchState>,
    cvar: Condvar,
}

#[derive(Debug, Default)]
struct WatchState {
    entries: Vec<Entry>,
    next_id: u64,
    stop: bool,
}

#[derive(Debug)]
struct Entry {
    id: u64,
    token: CancelToken,
    deadline: Option<Instant>,
    stall: Option<Stall>,
}

#[derive(Debug)]
struct Stall {
    window: Duration,
    progress: Arc<AtomicU64>,
    last_value: u64,
    last_change: Instant,
}

/// Removes its entry from the watchdog when dropped.
#[derive(Debug)]
pub(crate) struct WatchGuard {
    inner: Arc<WatchInner>,
    id: u64,
}

impl Drop for WatchGuard {
    fn drop(&mut self) {
        let mut state = self.inner.lock();
        state.entries.retain(|e| e.id != self.id);
    }
}

impl WatchInner {
    fn lock(&self) -> std::sync::MutexGuard<'_, WatchState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Watchdog {
    pub(crate) fn start() -> Self {
        Self {
            inner: Arc::default(),
            thread: Mutex::new(None),
        }
    }

    /// Watches `token`: trips it with [`CancelReason::Deadline`] at `deadline`, and
    /// with [`CancelReason::Stalled`] when `progress` does not change for `stall`.
    pub(crate) fn watch(
        &self,
        token: &CancelToken,
        deadline: Option<Instant>,
        stall: Option<(Duration, Arc<AtomicU64>)>,
    ) -> Option<WatchGuard> {
        if deadline.is_none() && stall.is_none() {
            return None;
        }
        self.ensure_thread();
        let mut state = self.inner.lock();
        let id = state.next_id;
        state.next_id += 1;
        state.entries.push(Entry {
            id,
            token: token.clone(),
            deadline,
            stall: stall.map(|(window, progress)| Stall {
                window,
                last_value: progress.load(Ordering::Relaxed),
                progress,
                last_change: Instant::now(),
            }),
        });
        drop(state);
        self.inner.cvar.notify_one();
        Some(WatchGuard {
            inner: Arc::clone(&self.inner),
            id,
        })
    }

    fn ensure_thread(&self) {
        let mut slot = self.thread.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.is_none() {
            let inner = Arc::clone(&self.inner);
            // If the thread cannot start, deadlines are still honoured when items are
            // claimed; only busy items lose their early stop.
            *slot = thread::Builder::new()
                .name("grin-watchdog".to_owned())
                .spawn(move || watch_loop(&inner))
                .ok();
        }
    }

    pub(crate) fn stop(&self) {
        self.inner.lock().stop = true;
        self.inner.cvar.notify_all();
        if let Some(handle) = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            let _ = handle.join();
        }
    }
}

fn watch_loop(inner: &WatchInner) {
    let mut state = inner.lock();
    loop {
        if state.stop {
            return;
        }
        let now = Instant::now();
        let mut next: Option<Instant> = None;
        state.entries.retain_mut(|entry| {
            if entry.deadline.is_some_and(|d| d <= now) {
                entry.token.cancel(CancelReason::Deadline);
                return false;
            }
            if let Some(stall) = &mut entry.stall {
                let value = stall.progress.load(Ordering::Relaxed);
                if value != stall.last_value {
                    stall.last_value = value;
                    stall.last_change = now;
                } else if now.duration_since(stall.last_change) >= stall.window {
                    entry.token.cancel(CancelReason::Stalled);
                    return false;
                }
                // Look again at a fraction of the window, so a stall is seen within
                // about 1.25 windows.
                let check = now + stall.window / 4;
                next = Some(next.map_or(check, |n| n.min(check)));
            }
            if let Some(d) = entry.deadline {
                next = Some(next.map_or(d, |n| n.min(d)));
            }
            true
        });
        state = match next {
            None => inner
                .cvar
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner),
            Some(at) => {
                let wait = at.saturating_duration_since(Instant::now());
                inner
                    .cvar
                    .wait_timeout(state, wait)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizer_clamps_and_forgets_old_steps() {
        let mut s = StepSizer::new(Duration::from_millis(10), 2, 50);
        assert_eq!(s.next_batch(), 2);
        s.record(1, Duration::from_micros(1));
        assert_eq!(s.next_batch(), 50);
        for _ in 0..8 {
            s.record(1, Duration::from_millis(100));
        }
        assert_eq!(s.next_batch(), 2);
        s.record(0, Duration::from_secs(1));
        assert_eq!(s.time_per_item(), Some(Duration::from_millis(100)));
    }

    #[test]
    fn sizer_sizes_items_shorter_than_a_nanosecond() {
        // A GPU renders millions of pixels a millisecond: 0.4 ns a pixel, which a
        // rounded time per item would take for zero (the maximum batch) or 1 ns.
        let mut s = StepSizer::new(Duration::from_millis(2), 64, usize::MAX);
        s.record(2_500_000, Duration::from_millis(1));
        assert_eq!(s.next_batch(), 5_000_000);
        s.set_target(Duration::from_micros(100));
        assert_eq!(s.next_batch(), 250_000);
    }

    #[test]
    fn watchdog_trips_deadline_and_stall() {
        let dog = Watchdog::start();
        let t1 = CancelToken::new();
        let _g1 = dog.watch(&t1, Some(Instant::now() + Duration::from_millis(5)), None);
        let t2 = CancelToken::new();
        let progress = Arc::new(AtomicU64::new(0));
        let _g2 = dog.watch(&t2, None, Some((Duration::from_millis(20), progress)));
        let until = Instant::now() + Duration::from_secs(10);
        while !(t1.is_cancelled() && t2.is_cancelled()) {
            assert!(Instant::now() < until, "watchdog did not fire");
            thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(t1.reason(), Some(CancelReason::Deadline));
        assert_eq!(t2.reason(), Some(CancelReason::Stalled));
        dog.stop();
    }

    #[test]
    fn dropped_guard_stops_watching() {
        let dog = Watchdog::start();
        let t = CancelToken::new();
        let guard = dog.watch(&t, Some(Instant::now() + Duration::from_millis(30)), None);
        drop(guard);
        thread::sleep(Duration::from_millis(60));
        assert!(!t.is_cancelled());
        dog.stop();
    }
}
