//! Grin's renderer core: the library a host links. It renders scenes in which light
//! travels along curved paths (gradient-index media, gravitational lensing) on the
//! [`scheduler`] crate's staged task graph.
//!
//! The scene format, fields, integrator, acceleration structures, shading and film
//! arrive with their issues; this crate currently re-exports the scheduler so hosts
//! build against one dependency.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub use scheduler;
