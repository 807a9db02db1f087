//! Cancellation tokens: cloneable, with a reason, and with child tokens.
//!
//! A token is only a flag; nothing is interrupted by force. Tasks look at it at their
//! *safe points* (between tiles, rows or samples), where stopping leaves nothing half
//! written. Checking costs one or two atomic loads.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

/// Why a token was cancelled.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub enum CancelReason {
    /// Cancelled by a caller, with its own words.
    Requested(String),
    /// The work was superseded (for example the preview's camera moved).
    Superseded,
    /// A budget's deadline passed (set by the watchdog).
    Deadline,
    /// No progress was seen for too long (set by the watchdog).
    Stalled,
    /// The owner is shutting down.
    Shutdown,
}

impl fmt::Display for CancelReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Requested(why) => write!(f, "cancelled: {why}"),
            Self::Superseded => f.write_str("superseded"),
            Self::Deadline => f.write_str("deadline passed"),
            Self::Stalled => f.write_str("stalled"),
            Self::Shutdown => f.write_str("shutting down"),
        }
    }
}

/// A cancellation flag shared by clones, with child tokens.
///
/// Cancelling a token cancels every child made from it (and their children); a child
/// can be cancelled on its own without touching its parent. The first reason given
/// wins.
///
/// ```
/// use scheduler::{CancelReason, CancelToken};
/// let frame = CancelToken::new();
/// let tile = frame.child();
/// assert!(!tile.is_cancelled());
/// frame.cancel(CancelReason::Superseded);
/// assert!(tile.is_cancelled());
/// assert_eq!(tile.reason(), Some(CancelReason::Superseded));
/// ```
#[derive(Clone, Default)]
pub struct CancelToken {
    node: Arc<Node>,
}

#[derive(Default)]
struct Node {
    cancelled: AtomicBool,
    reason: OnceLock<CancelReason>,
    parent: Option<Arc<Node>>,
}

impl CancelToken {
    /// A new token, not cancelled, with no parent.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A token that is cancelled when this one is, and can also be cancelled alone.
    #[must_use]
    pub fn child(&self) -> Self {
        Self {
            node: Arc::new(Node {
                parent: Some(Arc::clone(&self.node)),
                ..Node::default()
            }),
        }
    }

    /// Cancels this token and its children. Later calls keep the first reason.
    pub fn cancel(&self, reason: CancelReason) {
        let _ = self.node.reason.set(reason);
        self.node.cancelled.store(true, Ordering::Release);
    }

    /// Whether this token or any ancestor is cancelled.
    #[inline]
    #[must_use]
    pub fn is_cancelled(&self) -> bool {
        let mut node = Some(&self.node);
        while let Some(n) = node {
            if n.cancelled.load(Ordering::Acquire) {
                return true;
            }
            node = n.parent.as_ref();
        }
        false
    }

    /// The reason of the nearest cancelled token on the chain from this one up, or
    /// `None` if none is cancelled.
    #[must_use]
    pub fn reason(&self) -> Option<CancelReason> {
        let mut node = Some(&self.node);
        while let Some(n) = node {
            if n.cancelled.load(Ordering::Acquire) {
                return n.reason.get().cloned();
            }
            node = n.parent.as_ref();
        }
        None
    }
}

impl fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelToken")
            .field("reason", &self.reason())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn child_cancel_does_not_reach_parent() {
        let parent = CancelToken::new();
        let child = parent.child();
        child.cancel(CancelReason::Requested("tile".into()));
        assert!(child.is_cancelled());
        assert!(!parent.is_cancelled());
    }

    #[test]
    fn first_reason_wins_and_clones_share() {
        let t = CancelToken::new();
        let clone = t.clone();
        t.cancel(CancelReason::Deadline);
        clone.cancel(CancelReason::Shutdown);
        assert_eq!(clone.reason(), Some(CancelReason::Deadline));
    }

    #[test]
    fn grandchild_sees_the_nearest_reason() {
        let a = CancelToken::new();
        let b = a.child();
        let c = b.child();
        a.cancel(CancelReason::Shutdown);
        assert_eq!(c.reason(), Some(CancelReason::Shutdown));
        b.cancel(CancelReason::Superseded);
        assert_eq!(c.reason(), Some(CancelReason::Superseded));
    }
}
