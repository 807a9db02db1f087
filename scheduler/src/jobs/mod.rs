//! Resource-aware scheduling for batches of jobs (generic: the batch command wires
//! these to scenes and frames).
//!
//! - [`residency`]: which scenes are on the GPU or staged in RAM, under count and byte
//!   budgets, with pins and furthest-next-use eviction.
//! - [`admission`]: probes with smoothed, hysteretic gates; a missing probe is logged
//!   once and skipped.
//! - [`retry`]: failure classes and what to do next (the out-of-memory ladder).
//! - [`status`]: atomic JSON snapshots.

pub mod admission;
pub mod residency;
pub mod retry;
pub mod status;
