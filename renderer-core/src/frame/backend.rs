//! The seam between the frame graph and the hardware its tiles run on: a
//! [`TileBackend`] makes a prepared scene resident (the upload stage) and runs
//! stages 3-6 (tiles, then present) within a step's budget. The CPU backend
//! ([`super::cpu::CpuTiles`]) runs tiles on the pool; the GPU backend
//! ([`super::gpu::GpuTiles`]) dispatches pixel batches on a device.

use std::sync::Arc;
use std::time::Duration;

use scheduler::{CancelToken, Graph};

use super::cpu::CpuTiles;
use super::gpu::GpuTiles;
use super::graph::StepError;
use super::prepare::{Prepared, ReadyScene};
use super::report::StepReport;
use super::snapshot::Snapshot;
use crate::film::Film;

/// What stages 3-6 of one step work on.
pub(super) struct TileJob<'a> {
    /// The renderer's graph: the stages run as its frames.
    pub(super) graph: &'a Graph,
    /// Stages 1-2 of the snapshot's scene.
    pub(super) prepared: &'a Prepared,
    /// The frame.
    pub(super) snapshot: &'a Snapshot,
    /// The pass (sample index) the tiles render.
    pub(super) pass: u32,
    /// What is left of the step's budget.
    pub(super) budget: Duration,
    /// Cancels the step at the next safe point.
    pub(super) token: &'a CancelToken,
    /// Every tile started finishes (offline): the budget sizes the batch but does not
    /// cut it.
    pub(super) whole: bool,
    /// The host's film, which present fills.
    pub(super) film: &'a mut Film,
}

/// Stages 3-6 of the frame graph on one kind of hardware.
pub(super) trait TileBackend {
    /// A new frame of `snapshot` starts: pass 0 over an empty film.
    fn restart(&mut self, snapshot: &Snapshot);

    /// Makes `prepared` resident where the tiles run, as the timed stage
    /// [`super::stage::UPLOAD`] when there is anything to do.
    ///
    /// # Errors
    /// The graph's, or the device's (out of memory).
    fn upload(
        &mut self,
        graph: &Graph,
        prepared: &Arc<Prepared>,
        report: &mut StepReport,
    ) -> Result<(), StepError>;

    /// Stages 3-6: renders pass `job.pass` of as much of the film as fits the budget,
    /// then presents it, filling `report`'s work, counters and stage times. Returns
    /// whether the pass is complete.
    ///
    /// # Errors
    /// The graph's, or the device's.
    fn tiles(&mut self, job: TileJob<'_>, report: &mut StepReport) -> Result<bool, StepError>;

    /// Takes what `ready` holds for this backend (its GPU buffers).
    fn adopt(&mut self, ready: &ReadyScene);

    /// Drops the resident scene and the frame's state.
    fn forget(&mut self);
}

/// The renderer's backend.
#[derive(Debug)]
pub(super) enum Tiles {
    /// Tiles on the pool.
    Cpu(CpuTiles),
    /// Pixel batches on a device.
    Gpu(Box<GpuTiles>),
}

impl Tiles {
    /// The backend, behind the seam.
    pub(super) fn backend(&mut self) -> &mut dyn TileBackend {
        match self {
            Self::Cpu(c) => c,
            Self::Gpu(g) => g.as_mut(),
        }
    }

    /// The GPU backend, for what only it has (its device, the film on it).
    pub(super) fn gpu(&self) -> Option<&GpuTiles> {
        match self {
            Self::Gpu(g) => Some(g),
            Self::Cpu(_) => None,
        }
    }

    /// The GPU backend, mutably.
    pub(super) fn gpu_mut(&mut self) -> Option<&mut GpuTiles> {
        match self {
            Self::Gpu(g) => Some(g),
            Self::Cpu(_) => None,
        }
    }
}
