//! Grin's scheduler: a staged task graph on work-stealing deques, with budgets,
//! cancellation and telemetry. It knows nothing about rendering; the renderer, the
//! preview window and the batch binary are all built on it.
//!
//! # Concepts
//!
//! - **Pool** ([`Pool`]): a fixed set of named worker threads. Each has a
//!   crossbeam-deque worker (LIFO for itself), steals FIFO from the others, and takes
//!   work from a global injector. Idle workers spin briefly, then park: an idle pool
//!   uses no CPU.
//! - **Frame and stage** ([`Graph::run`], [`Frame`]): a frame is a sequence of stages.
//!   A *serial* stage runs on the calling thread ([`Frame::serial`]); a *parallel*
//!   stage fans a list of items out as tasks ([`Frame::stage`]) or runs a small graph
//!   of dependent tasks ([`Frame::dag`]). Results come back in item order whichever
//!   worker ran them. The frame's own thread runs a share of an item stage beside
//!   `threads() - 1` spinning workers rather than waiting idle.
//! - **Barrier**: every stage call returns only when all the tasks it started have
//!   ended, so nothing of stage k+1 starts before stage k is finished. Task closures
//!   may therefore borrow from the caller's stack, like `std::thread::scope`.
//! - **Order** ([`order`]): the sequence in which a stage's items *start*: scanline,
//!   centre-first or foveated. Items are claimed from one shared cursor over that
//!   sequence, so on one thread the start order is the enumeration exactly, and on N
//!   threads the first N started are the first N of the order.
//! - **Safe point**: a place in a task where stopping leaves nothing half done
//!   (between rows, samples or tiles). A task checks [`TaskCtx::interrupted`] there and
//!   returns [`Outcome::Cancelled`] or [`Outcome::OverBudget`]; only
//!   [`Outcome::Done`] hands over an output, so a stopped task never commits half its
//!   work. Nothing is ever interrupted by force.
//! - **Cancellation** ([`CancelToken`]): cloneable flags with a reason and child
//!   tokens. Once a run's token is cancelled, no new task starts.
//! - **Budget** ([`Budget`]): a deadline, an item cap and a work cap for a run; a
//!   watchdog trips the run's token when the deadline passes, even while a task is
//!   busy; stall detection ends a run that makes no progress; [`StepSizer`] picks how
//!   many items fit the next step of a "little every frame" caller.
//! - **Telemetry** ([`telemetry`]): per-stage wall times, per-task durations and
//!   percentiles, counters merged at barriers, rolling statistics, invariant checks,
//!   JSON summaries and Chrome trace files for Perfetto.
//!
//! # Example
//!
//! A frame with a serial set-up stage, a parallel stage over tiles started
//! centre-first, and a serial stage that assembles the results; a second run is
//! limited to 5 tiles (its serial stages still run, and assemble what finished).
//!
//! ```
//! use std::sync::Arc;
//! use scheduler::order::{Order, TileGrid};
//! use scheduler::{Budget, CancelToken, Graph, GraphConfig, Outcome, Pool, PoolConfig, RunOutcome};
//!
//! let pool = Arc::new(Pool::new(PoolConfig::with_threads(2)).unwrap());
//! let graph = Graph::new(pool, GraphConfig::named("demo"));
//! let grid = TileGrid::new(64, 48, 16, 16);
//! let tiles = grid.tiles(Order::CentreFirst);
//!
//! let render = |budget: Budget| {
//!     graph.run(&CancelToken::new(), budget, |frame| {
//!         let scale = frame.serial("setup", |_| 2u32);
//!         let out = frame.stage("shade").run(&tiles, |ctx, tile| {
//!             let mut sum = 0u64;
//!             for y in tile.y0..tile.y1 {
//!                 if let Some(stop) = ctx.interrupted() {
//!                     return stop.into(); // safe point: nothing committed
//!                 }
//!                 for x in tile.x0..tile.x1 {
//!                     sum += u64::from((x ^ y) * scale);
//!                 }
//!             }
//!             ctx.count("pixels", u64::from(tile.pixels()));
//!             Outcome::Done(sum)
//!         });
//!         frame.serial("assemble", |_| out.results.iter().flatten().sum::<u64>())
//!     })
//!     .unwrap()
//! };
//!
//! let full = render(Budget::unlimited());
//! assert_eq!(full.outcome, RunOutcome::Completed);
//! assert_eq!(full.summary.counters.get("pixels"), 64 * 48);
//!
//! let capped = render(Budget::unlimited().with_max_items(5));
//! assert!(matches!(capped.outcome, RunOutcome::OverBudget(_)));
//! assert_eq!(capped.summary.stages[1].counts.done, 5);
//! assert_eq!(capped.summary.stages[1].counts.not_started, 7);
//! println!("{}", capped.summary.to_json());
//! ```

#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod budget;
pub mod cancel;
pub mod graph;
pub mod jobs;
#[allow(unsafe_code)]
mod latch;
pub mod order;
pub mod outcome;
pub mod pool;
pub mod telemetry;

pub use budget::{Budget, Limit, StepSizer};
pub use cancel::{CancelReason, CancelToken};
pub use graph::{
    Dag, DagCtx, Frame, Graph, GraphConfig, GraphError, RunReport, Stage, StageOutput, TaskCtx,
    TaskId,
};
pub use outcome::{Interrupt, Outcome, RunOutcome};
pub use pool::{Pool, PoolConfig, PoolError};
