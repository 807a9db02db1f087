//! Stages 3-6 on a GPU: the prepared scene is uploaded once (the timed stage
//! [`stage::UPLOAD`]); each step dispatches pixel batches of the current pass, sized by
//! a [`StepSizer`] on the pixels-per-second measured on this device for this scene,
//! checking the token between dispatches; present reads the film back into the host's
//! (or leaves it on the device, [`GpuTiles::keep_film`]).
//!
//! The stages run as serial stages of the renderer's graph: the GPU does the parallel
//! work, the step gets the same stage times, counters and Chrome-trace frames as on
//! the CPU.

use std::sync::Arc;
use std::time::{Duration, Instant};

use scheduler::{Budget, Graph, RunOutcome, StepSizer};

use super::backend::{TileBackend, TileJob};
use super::graph::StepError;
use super::prepare::{Prepared, ReadyScene};
use super::report::{StepReport, counter, stage};
use super::snapshot::Snapshot;
use crate::film::Film;
use crate::gpu::layout::WORKGROUP_SIZE;
use crate::gpu::{GpuContext, GpuCounters, GpuError, GpuFilmView, GpuFrame, GpuScene};
use crate::scene::Scene;

/// The first dispatch of a frame, before any rate is measured: one workgroup row of
/// tiles.
const FIRST_BATCH: usize = 4096;

/// The share of what is left of the budget a batch is sized to fill: the rate
/// varies across the image, and overrunning costs more than a short step.
const BATCH_FILL: f64 = 0.9;

/// The GPU backend: the shared device, the resident scene and the frame's film.
#[derive(Debug)]
pub(crate) struct GpuTiles {
    ctx: Arc<GpuContext>,
    scene: Option<(Arc<Scene>, Arc<GpuScene>)>,
    /// The film and per-frame buffers, bound to `scene`; kept across frames of the
    /// same size and restarted (cleared on the GPU) when `stale`.
    frame: Option<GpuFrame>,
    stale: bool,
    /// Leave the film on the device after each step.
    keep_film: bool,
    /// Pixels per dispatch, from the time per pixel measured on the current frame's
    /// scene (the same device and scene keep it across restarts).
    sizer: StepSizer,
}

fn pixel_sizer() -> StepSizer {
    StepSizer::new(
        Duration::from_millis(16),
        WORKGROUP_SIZE as usize,
        usize::MAX,
    )
}

impl GpuTiles {
    /// A backend on `ctx`'s device.
    pub(super) fn new(ctx: Arc<GpuContext>) -> Self {
        Self {
            ctx,
            scene: None,
            frame: None,
            stale: false,
            keep_film: false,
            sizer: pixel_sizer(),
        }
    }

    /// The device.
    pub(super) fn ctx(&self) -> &Arc<GpuContext> {
        &self.ctx
    }

    /// Whether steps leave the film on the device.
    pub(super) fn keep_film(&mut self, keep: bool) {
        self.keep_film = keep;
    }

    /// The film on the device, once a frame started.
    pub(super) fn film_view(&self) -> Option<GpuFilmView<'_>> {
        self.frame.as_ref().map(GpuFrame::film_view)
    }

    /// Reads the film on the device back into `film` when steps leave it there (and
    /// it is of the frame's size).
    pub(super) fn sync(&mut self, film: &mut Film) -> Result<(), GpuError> {
        if let (true, Some(frame)) = (self.keep_film, self.frame.as_mut()) {
            if (film.width(), film.height()) == frame.size() {
                // No dispatch ran since the last step's counters were read: these
                // are zero.
                frame.present(&self.ctx, Some(film))?;
            }
        }
        Ok(())
    }

    /// The frame's buffers for `snapshot`: made for a new scene or size, cleared for
    /// a new frame of the same size.
    fn frame_for(&mut self, snapshot: &Snapshot) -> Result<&mut GpuFrame, GpuError> {
        let s = snapshot.settings;
        let Some((_, scene)) = self.scene.as_ref() else {
            return Err(GpuError::Uncaptured(
                "no scene on the device: the upload stage did not run".to_owned(),
            ));
        };
        if self
            .frame
            .as_ref()
            .is_some_and(|f| f.size() != (s.width, s.height))
        {
            self.frame = None;
        }
        let params = || scene.params(&snapshot.camera, s.width, s.height, s.max_bounces, s.seed);
        let frame = match self.frame.take() {
            None => {
                self.sizer = pixel_sizer();
                GpuFrame::new(&self.ctx, scene, &params(), s.width, s.height)?
            }
            Some(mut frame) if self.stale => {
                frame.restart(&self.ctx, &params());
                frame
            }
            Some(frame) => frame,
        };
        self.stale = false;
        Ok(self.frame.insert(frame))
    }
}

/// What a step's dispatches did.
#[derive(Debug, Clone, Copy, Default)]
struct Dispatched {
    samples: u64,
    batches: u32,
    pass_done: bool,
}

/// Dispatches batches of pass `pass` until `budget` is spent, `stop` says so
/// (checked between dispatches) or the pass is complete; at least one batch.
fn dispatch_within(
    ctx: &Arc<GpuContext>,
    frame: &mut GpuFrame,
    sizer: &mut StepSizer,
    pass: u32,
    budget: Duration,
    mut stop: impl FnMut() -> bool,
) -> Result<Dispatched, GpuError> {
    let started = Instant::now();
    let mut out = Dispatched::default();
    loop {
        let left = budget.saturating_sub(started.elapsed());
        sizer.set_target(left.mul_f64(BATCH_FILL));
        let want = match sizer.time_per_item() {
            None => FIRST_BATCH,
            Some(_) => sizer.next_batch(),
        };
        let t0 = Instant::now();
        let (count, pass_done) =
            frame.dispatch(ctx, pass, u32::try_from(want).unwrap_or(u32::MAX))?;
        sizer.record(count as usize, t0.elapsed());
        out.samples += u64::from(count);
        out.batches += 1;
        if pass_done {
            out.pass_done = true;
            return Ok(out);
        }
        if stop() || started.elapsed() >= budget {
            return Ok(out);
        }
    }
}

impl TileBackend for GpuTiles {
    fn restart(&mut self, _snapshot: &Snapshot) {
        self.stale = true;
    }

    fn upload(
        &mut self,
        graph: &Graph,
        prepared: &Arc<Prepared>,
        report: &mut StepReport,
    ) -> Result<(), StepError> {
        if self
            .scene
            .as_ref()
            .is_some_and(|(scene, _)| Arc::ptr_eq(scene, &prepared.scene))
        {
            return Ok(());
        }
        // Free the old scene first, so both never need to fit at once.
        self.scene = None;
        self.frame = None;
        let ctx = &self.ctx;
        let run = graph.run(&scheduler::CancelToken::new(), Budget::unlimited(), |f| {
            f.serial(stage::UPLOAD, |_| {
                GpuScene::upload(ctx, &prepared.scene, &prepared.tracer, &prepared.emitters)
            })
        })?;
        report.add_run(&run.summary, run.trace());
        let uploaded = run.value?;
        self.scene = Some((Arc::clone(&prepared.scene), Arc::new(uploaded)));
        Ok(())
    }

    fn tiles(&mut self, job: TileJob<'_>, report: &mut StepReport) -> Result<bool, StepError> {
        let TileJob {
            graph,
            prepared: _,
            snapshot,
            pass,
            budget,
            token,
            film,
            // Dispatches always complete; the budget only decides how many start.
            whole: _,
        } = job;
        let ctx = Arc::clone(&self.ctx);
        let film = (!self.keep_film).then_some(film);
        self.frame_for(snapshot)?;
        let (Some(frame), sizer) = (self.frame.as_mut(), &mut self.sizer) else {
            return Ok(false);
        };
        let run = graph.run(token, Budget::unlimited(), |f| {
            let done = f.serial(stage::TILES, |_| {
                dispatch_within(&ctx, frame, sizer, pass, budget, || token.is_cancelled())
            });
            let counters = f.serial(stage::PRESENT, |c| {
                let counters = frame.present(&ctx, film)?;
                c.count(counter::RAYS, counters.rays);
                c.count(counter::SEGMENTS, counters.segments);
                c.count(counter::SUBDIVISIONS, counters.subdivisions);
                Ok::<GpuCounters, GpuError>(counters)
            });
            (done, counters)
        })?;
        report.add_run(&run.summary, run.trace());
        let (done, counters) = run.value;
        let (done, counters) = (done?, counters?);
        // Where the GPU step's time went: the kernels themselves (when the context
        // times them), the film's copy back and its conversion into the host film.
        if let Some(kernel) = counters.kernel {
            report.add_stage(stage::KERNEL, kernel);
        }
        report.add_stage(stage::READBACK, counters.readback);
        report.add_stage(stage::FILM, counters.film);
        report.tiles_done = done.batches;
        report.samples = done.samples;
        report.rays = counters.rays;
        report.segments = counters.segments;
        report.subdivisions = counters.subdivisions;
        report.outcome = token
            .reason()
            .map_or(RunOutcome::Completed, RunOutcome::Cancelled);
        Ok(done.pass_done)
    }

    fn adopt(&mut self, ready: &ReadyScene) {
        let same = self
            .scene
            .as_ref()
            .is_some_and(|(s, _)| Arc::ptr_eq(s, &ready.prepared.scene));
        if let Some(gs) = &ready.gpu {
            self.scene = Some((Arc::clone(&ready.prepared.scene), Arc::clone(gs)));
        } else if !same {
            self.scene = None;
        }
        if !same {
            self.frame = None;
        }
    }

    fn forget(&mut self) {
        self.scene = None;
        self.frame = None;
    }
}
