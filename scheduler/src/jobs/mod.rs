//! Resource-aware scheduling for batches of jobs (generic: the batch command wires
//! these to scenes and frames).
//!
//! - [`residency`]: which scenes are on the GPU or staged in RAM, under count and byte
//!   budgets, with pins and furthest-next-use eviction.

pub mod residency;
