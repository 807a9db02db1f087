//! One step of the frame graph, stage by stage:
//!
//! | stage | what | where |
//! |---|---|---|
//! | 0 | the snapshot; a new frame restarts the film | [`super::snapshot`] |
//! | 1 | BLASes (parallel, cached), TLAS, emitter table | [`super::prepare`] |
//! | 2 | field caches (the curvature grid) | [`super::prepare`] |
//! | — | barrier; the scene made resident ([`stage::UPLOAD`](super::stage::UPLOAD)) | [`upload`](super::backend::TileBackend::upload) |
//! | 3-5 | tiles: integrate, intersect, shade | [`tiles`](super::backend::TileBackend::tiles) ([`super::cpu`], [`super::gpu`]) |
//! | — | barrier | |
//! | 6 | present: tiles commit, or the GPU film is read back | [`tiles`](super::backend::TileBackend::tiles) |
//!
//! Stages 1-2 run only for a new scene (and then only as far as it changed); the
//! upload only for a scene not yet resident.

use std::time::{Duration, Instant};

use scheduler::CancelToken;

use super::backend::TileJob;
use super::renderer::Renderer;
use super::report::StepReport;
use super::snapshot::Snapshot;

/// Why a step failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StepError {
    /// The renderer's graph could not run (re-entered, or called from its own
    /// worker thread).
    #[error(transparent)]
    Graph(#[from] scheduler::GraphError),
    /// The GPU backend failed (out of memory, a device error).
    #[error(transparent)]
    Gpu(#[from] crate::gpu::GpuError),
    /// A stage that must finish every item did not (a task failed).
    #[error("the {0} stage did not finish every item")]
    Incomplete(&'static str),
}

impl Renderer {
    /// Renders as many tiles as fit in `budget` and commits those that finish;
    /// cancelling `token` stops it at the next pixel. A snapshot that shows another
    /// frame than the last one ([`Snapshot::same_frame`]) starts a new film. A step
    /// after one that finished no tile finishes exactly one, however long it takes,
    /// so repeated steps always complete the frame.
    ///
    /// # Errors
    /// [`StepError::Graph`] if the renderer's graph is already running or is called
    /// from one of its own workers; [`StepError::Gpu`] when the device fails.
    pub fn render_step(
        &mut self,
        snapshot: &Snapshot,
        budget: Duration,
        token: &CancelToken,
    ) -> Result<StepReport, StepError> {
        self.step(snapshot, budget, token, false)
    }

    /// As [`Renderer::render_step`], but every tile the step starts finishes: the
    /// budget sizes the step's batch of tiles instead of cutting it short, so offline
    /// rendering discards no work and traces the same rays in every run (interactive
    /// hosts, which need the deadline, use `render_step`). Cancelling `token` still
    /// stops it at the next pixel.
    ///
    /// # Errors
    /// As [`Renderer::render_step`].
    pub fn render_step_whole(
        &mut self,
        snapshot: &Snapshot,
        budget: Duration,
        token: &CancelToken,
    ) -> Result<StepReport, StepError> {
        self.step(snapshot, budget, token, true)
    }

    fn step(
        &mut self,
        snapshot: &Snapshot,
        budget: Duration,
        token: &CancelToken,
        whole: bool,
    ) -> Result<StepReport, StepError> {
        let started = Instant::now();
        // Stage 0: the snapshot. Another frame starts a new film.
        let same = self
            .current
            .as_ref()
            .is_some_and(|c| c.same_frame(snapshot));
        // Stages 1-2 already stand when they were made for the current frame's scene:
        // then the content comparison just made is not repeated.
        let standing = same
            .then(|| self.caches.prepared.clone())
            .flatten()
            .filter(|p| {
                self.current
                    .as_ref()
                    .is_some_and(|c| std::sync::Arc::ptr_eq(&c.scene, &p.scene))
            });
        if !same {
            self.reset(snapshot);
        }
        let s = snapshot.settings;
        let mut report = StepReport::blank(self.pass, s.spp);
        if self.pass >= s.spp {
            return Ok(report);
        }
        // Stages 1-2: acceleration structures and fields, then a barrier.
        let prepared = match standing {
            Some(p) => p,
            None => self
                .caches
                .prepare(&self.graph, &snapshot.scene, &mut report)?,
        };
        let backend = self.tiles.backend();
        // The prepared scene where the tiles run.
        backend.upload(&self.graph, &prepared, &mut report)?;
        // Stages 3-5, barrier, 6: tiles in what is left of the budget, then present.
        let job = TileJob {
            graph: &self.graph,
            prepared: &prepared,
            snapshot,
            pass: self.pass,
            budget: budget.saturating_sub(started.elapsed()),
            token,
            film: &mut self.film,
            whole,
        };
        if backend.tiles(job, &mut report)? {
            self.pass += 1;
        }
        report.passes_done = self.pass;
        report.frame_complete = self.pass >= s.spp;
        report.wall = started.elapsed();
        Ok(report)
    }

    /// Renders the whole frame (all passes), step after step
    /// ([`Renderer::render_step_whole`]: nothing started is discarded), calling
    /// `progress` after each step.
    ///
    /// # Errors
    /// As [`Renderer::render_step`].
    pub fn render_all_with(
        &mut self,
        snapshot: &Snapshot,
        token: &CancelToken,
        mut progress: impl FnMut(&StepReport),
    ) -> Result<(), StepError> {
        self.reset(snapshot);
        loop {
            let report = self.render_step_whole(snapshot, Duration::from_millis(250), token)?;
            progress(&report);
            if report.frame_complete || token.is_cancelled() {
                return Ok(());
            }
        }
    }

    /// Renders the whole frame (all passes).
    ///
    /// # Errors
    /// As [`Renderer::render_step`].
    pub fn render_all(&mut self, snapshot: &Snapshot) -> Result<(), StepError> {
        self.render_all_with(snapshot, &CancelToken::new(), |_| {})
    }
}
