//! The frame graph of DESIGN.md, as progressive rendering on the scheduler, one module
//! per stage:
//!
//! - stage 0, [`Snapshot`] (`snapshot.rs`): an immutable, `Arc`-shared scene, camera
//!   and settings that the host builds (from a file, or each frame from its own scene
//!   with [`crate::builder::SceneBuilder`]);
//! - stage 1, acceleration structures (`prepare.rs`): BLASes in parallel, cached by
//!   mesh content, and the TLAS, rebuilt when the snapshot's scene changes; the
//!   emitter table;
//! - stage 2, field caches (`prepare.rs`): the curvature-bound grid, reused while the
//!   fields are unchanged;
//! - the upload: the prepared scene made resident where the tiles run, behind the
//!   tile backend's seam (`backend.rs`; a timed stage on the GPU, nothing on the CPU);
//! - stages 3-5, fused per tile: integrate curved camera rays, intersect and shade
//!   (path tracing with curved shadow and bounce rays), write into the tile's own
//!   buffer; a tile commits whole or not at all (`cpu.rs`: tiles on the pool;
//!   `gpu.rs`: pixel batches on a device);
//! - stage 6, present: committed tiles reach the [`Film`](crate::film::Film) (or the
//!   GPU film is read back) and the step's telemetry is gathered into its
//!   [`StepReport`] (`report.rs`, with the [`stage`] and [`counter`] names).
//!
//! `graph.rs` is the step itself, [`Renderer::render_step`], which reads as that list.
//!
//! Each [`Renderer::render_step`] runs as many tiles of the current pass (one sample
//! per pixel) as fit its time budget. Determinism: every random number is a hash of
//! (pixel, sample, bounce, seed), and each pixel's samples reach the film pass by
//! pass, so the image is bit-identical for any thread count, tile order and budget.
//!
//! ```
//! use std::{sync::Arc, time::Duration};
//! use renderer_core::frame::{RenderSettings, Renderer, Snapshot};
//! use renderer_core::scene::Scene;
//! use renderer_core::scheduler::{CancelToken, Pool, PoolConfig};
//!
//! let scene = Scene::from_str(r#"(
//!     camera: Some((position: (0.0, 1.0, -4.0), look_at: (0.0, 0.0, 0.0), fov_deg: 40.0)),
//!     meshes: [(name: "ball", source: Sphere(radius: 1.0))],
//!     instances: [(mesh: "ball")],
//!     lights: [Directional(direction: (0.0, -1.0, 1.0), irradiance: (3.0, 3.0, 3.0))],
//! )"#, "inline.ron".as_ref())?;
//! let settings = RenderSettings { width: 32, height: 24, spp: 2, ..RenderSettings::default() };
//! let snapshot = Snapshot::new(Arc::new(scene), settings)?;
//! let mut renderer = Renderer::new(Arc::new(Pool::new(PoolConfig::default())?));
//! let token = CancelToken::new();
//! loop {
//!     let report = renderer.render_step(&snapshot, Duration::from_millis(4), &token)?;
//!     if report.frame_complete {
//!         break;
//!     }
//! }
//! assert_eq!(renderer.film().samples(16, 12), 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod backend;
mod cpu;
mod gpu;
mod graph;
mod prepare;
mod renderer;
mod report;
mod snapshot;
mod sweep;

pub use graph::StepError;
pub use prepare::{Footprint, PrepareCounts, ReadyScene};
pub use renderer::{Renderer, RendererCounters};
pub use report::{StageTime, StepReport, counter, stage};
pub use snapshot::{RenderSettings, Snapshot, SnapshotError};
pub use sweep::{SweepError, SweepReport};

#[cfg(test)]
mod tests;
