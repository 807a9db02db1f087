//! Outcomes: how a task ends and how a run ends. These are not errors: a cancelled
//! tile or a frame that ran out of time is a normal event for a progressive renderer.

use std::fmt;

use crate::budget::Limit;
use crate::cancel::CancelReason;

/// What a task returns. Only `Done` hands over an output, so a task that stops early
/// can never commit half its work.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum Outcome<R> {
    /// Finished; the output is committed.
    Done(R),
    /// Saw a cancellation at a safe point; nothing is committed.
    Cancelled,
    /// Saw its budget run out at a safe point; nothing is committed.
    OverBudget,
}

impl<R> Outcome<R> {
    /// The output, if the task finished.
    pub fn done(self) -> Option<R> {
        match self {
            Self::Done(r) => Some(r),
            _ => None,
        }
    }
}

/// Why a task should stop, as seen at a safe point
/// ([`TaskCtx::interrupted`](crate::TaskCtx::interrupted)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interrupt {
    /// The run's token (or an ancestor) was cancelled.
    Cancelled,
    /// The run's deadline passed.
    OverBudget,
}

impl<R> From<Interrupt> for Outcome<R> {
    fn from(i: Interrupt) -> Self {
        match i {
            Interrupt::Cancelled => Self::Cancelled,
            Interrupt::OverBudget => Self::OverBudget,
        }
    }
}

/// How a whole run (or one stage) ended.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub enum RunOutcome {
    /// Every item of every stage ran.
    Completed,
    /// The caller's token was cancelled; the reason is the token's.
    Cancelled(CancelReason),
    /// A budget limit stopped the run.
    OverBudget(Limit),
    /// No progress: either for `stall_steps` runs in a row or for `stall_timeout`.
    Stalled,
}

impl RunOutcome {
    /// Whether the run did all its work.
    #[must_use]
    pub fn is_completed(&self) -> bool {
        matches!(self, Self::Completed)
    }
}

impl fmt::Display for RunOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Completed => f.write_str("completed"),
            Self::Cancelled(r) => write!(f, "cancelled ({r})"),
            Self::OverBudget(l) => write!(f, "over budget ({l:?})"),
            Self::Stalled => f.write_str("stalled"),
        }
    }
}
