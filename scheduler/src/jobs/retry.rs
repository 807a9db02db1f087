//! What to do after a failed unit of work: failures are classified, and out-of-memory
//! has its own ladder (free idle sequences, then the least recently used idle scene,
//! then skip and record), transient failures are retried after a delay a bounded
//! number of times, fatal ones are skipped at once. A failure never stops a batch.
//!
//! ```
//! use std::time::Duration;
//! use scheduler::jobs::retry::{Failure, RetryPolicy, Step};
//! let p = RetryPolicy { retries: 1, delay: Duration::from_millis(10) };
//! assert_eq!(p.next(Failure::OutOfMemory, 0), Step::EvictSequences);
//! assert_eq!(p.next(Failure::OutOfMemory, 1), Step::EvictScene);
//! assert_eq!(p.next(Failure::OutOfMemory, 2), Step::Skip);
//! assert_eq!(p.next(Failure::Transient, 0), Step::Retry(Duration::from_millis(10)));
//! assert_eq!(p.next(Failure::Transient, 1), Step::Skip);
//! ```

use std::time::Duration;

/// A failure's class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub enum Failure {
    /// Out of (GPU or host) memory.
    OutOfMemory,
    /// Might succeed if tried again (a busy device, an I/O hiccup).
    Transient,
    /// Will fail again (bad input, a bug).
    Fatal,
}

/// The next step after a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Free idle sequences from the GPU, then retry.
    EvictSequences,
    /// Evict the least recently used idle scene, then retry.
    EvictScene,
    /// Retry after this delay.
    Retry(Duration),
    /// Give up on this unit: record it and go on.
    Skip,
}

/// Retries for transient failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries of a transient failure.
    pub retries: u32,
    /// Delay before each.
    pub delay: Duration,
}

impl RetryPolicy {
    /// The step after failure `class` on its `attempt`-th failure (0: the first).
    #[must_use]
    pub fn next(&self, class: Failure, attempt: u32) -> Step {
        match class {
            Failure::OutOfMemory => match attempt {
                0 => Step::EvictSequences,
                1 => Step::EvictScene,
                _ => Step::Skip,
            },
            Failure::Transient if attempt < self.retries => Step::Retry(self.delay),
            _ => Step::Skip,
        }
    }
}
