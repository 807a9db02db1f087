//! The [`Renderer`]: the film, the progress through the passes, the caches of stages
//! 1-2 and the backend the tiles run on. Its step is in [`super::graph`].

use std::sync::Arc;

use scheduler::{Graph, GraphConfig, Pool};

use super::backend::Tiles;
use super::cpu::CpuTiles;
use super::gpu::GpuTiles;
use super::graph::StepError;
use super::prepare::{Caches, PrepareCounts, ReadyScene};
use super::report::StepReport;
use super::snapshot::Snapshot;
use crate::accel::BlasCache;
use crate::film::Film;
use crate::gpu::{AdapterChoice, Backend, GpuConfig, GpuContext, GpuError, GpuFilmView};
use crate::scene::Scene;

/// A progressive renderer: owns the film, the progress through the passes, and the
/// caches of stages 1 and 2 (BLASes by mesh content, the field grid by medium), so
/// successive snapshots of a changing scene reuse what did not change.
#[derive(Debug)]
pub struct Renderer {
    pub(super) graph: Graph,
    pub(super) film: Film,
    /// Passes complete in the current frame.
    pub(super) pass: u32,
    /// The current frame.
    pub(super) current: Option<Snapshot>,
    pub(super) caches: Caches,
    pub(super) tiles: Tiles,
    fallback: Option<String>,
    /// The pool's thread count (the film is cleared on as many threads).
    threads: usize,
    /// Films started ([`Renderer::reset`]).
    films: u64,
}

/// What a renderer has done so far, for a host's telemetry ([`Renderer::counters`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RendererCounters {
    /// Films started: the first frame and every restart after a visible change.
    pub films: u64,
    /// Stages 1-2 runs, by how much of them ran.
    pub prepares: PrepareCounts,
    /// BLASes built (the BLAS cache's misses).
    pub blas_builds: u64,
}

impl Renderer {
    fn on(pool: Arc<Pool>, tiles: impl FnOnce(usize) -> Tiles) -> Self {
        // At least one tile per worker each step, so no worker idles.
        let min_batch = pool.threads().max(1);
        Self {
            graph: Graph::new(pool, GraphConfig::named("render")),
            film: Film::new(0, 0),
            pass: 0,
            current: None,
            caches: Caches::default(),
            tiles: tiles(min_batch),
            fallback: None,
            threads: min_batch,
            films: 0,
        }
    }

    /// A renderer whose tiles run on `pool`.
    #[must_use]
    pub fn new(pool: Arc<Pool>) -> Self {
        Self::on(pool, |min_batch| Tiles::Cpu(CpuTiles::new(min_batch)))
    }

    /// A renderer whose frames run on `ctx`'s GPU (stages 1-2 still build on
    /// `pool`). The device and its pipelines are shared: make one context and give it
    /// to every renderer.
    #[must_use]
    pub fn with_gpu(pool: Arc<Pool>, ctx: Arc<GpuContext>) -> Self {
        let mut r = Self::on(pool, |_| Tiles::Gpu(Box::new(GpuTiles::new(ctx))));
        r.caches = Caches::for_gpu();
        r
    }

    /// A renderer on `backend`: [`Backend::Gpu`] opens the device `config` asks for
    /// (an error if it cannot), [`Backend::Auto`] does the same but renders on the CPU
    /// when there is no adapter or only a software one (slower than the CPU path), and
    /// records why ([`Renderer::fallback_reason`]); [`Backend::Cpu`] uses the pool.
    ///
    /// # Errors
    /// [`GpuError`] for [`Backend::Gpu`] without a usable adapter.
    pub fn with_backend(
        pool: Arc<Pool>,
        backend: Backend,
        config: &GpuConfig,
    ) -> Result<Self, GpuError> {
        match backend {
            Backend::Cpu => Ok(Self::new(pool)),
            Backend::Gpu => Ok(Self::with_gpu(pool, Arc::new(GpuContext::new(config)?))),
            // A software adapter (lavapipe) runs the shaders several times slower
            // than the CPU path: Auto takes only real GPUs. On Linux a machine with
            // no GPU device node has none, and asking the drivers (loading each ICD
            // and LLVM) cost 60 MB and 0.1-0.8 s, so they are asked only where a
            // node exists or the configuration names backends or an adapter; a
            // software adapter is declined before a device is opened on it.
            Backend::Auto
                if cfg!(target_os = "linux")
                    && config.backends.is_empty()
                    && matches!(
                        config.adapter,
                        AdapterChoice::Default | AdapterChoice::LowPower
                    )
                    && crate::gpu::gpu_device_nodes(std::path::Path::new("/dev")).is_empty() =>
            {
                let mut r = Self::new(pool);
                r.fallback = Some(
                    "no GPU device node in /dev (dri/, nvidia*, dxg, kgsl*, mali*, galcore): only a software adapter could exist, slower than the CPU path; --backend gpu uses one".into(),
                );
                Ok(r)
            }
            Backend::Auto => match GpuContext::new_hardware(config) {
                Ok(Err(software)) => {
                    let mut r = Self::new(pool);
                    r.fallback = Some(format!(
                        "the only adapter is a software one ({software}), slower than the CPU path; --backend gpu uses it"
                    ));
                    Ok(r)
                }
                Ok(Ok(ctx)) => Ok(Self::with_gpu(pool, Arc::new(ctx))),
                Err(e) => {
                    let mut r = Self::new(pool);
                    r.fallback = Some(e.to_string());
                    Ok(r)
                }
            },
        }
    }

    /// On the GPU backend, whether steps leave the film on the device (no read-back:
    /// a host on the same device shows it from [`Renderer::gpu_film`]) or read it back
    /// into [`Renderer::film`] after every step (the default). With the film kept on
    /// the device, [`Renderer::sync_film`] reads it back on demand. No effect on the
    /// CPU backend.
    pub fn keep_film_on_gpu(&mut self, keep: bool) {
        if let Some(g) = self.tiles.gpu_mut() {
            g.keep_film(keep);
        }
    }

    /// The film on the device, when frames render on the GPU and a frame has started.
    #[must_use]
    pub fn gpu_film(&self) -> Option<GpuFilmView<'_>> {
        self.tiles.gpu()?.film_view()
    }

    /// The film, read back from the device first when steps leave it there
    /// ([`Renderer::keep_film_on_gpu`]).
    ///
    /// # Errors
    /// [`GpuError`] when the read-back fails.
    pub fn sync_film(&mut self) -> Result<&Film, GpuError> {
        if let Some(g) = self.tiles.gpu_mut() {
            g.sync(&mut self.film)?;
        }
        Ok(&self.film)
    }

    /// The GPU context, when frames render on the GPU.
    #[must_use]
    pub fn gpu(&self) -> Option<&Arc<GpuContext>> {
        self.tiles.gpu().map(GpuTiles::ctx)
    }

    /// Why [`Backend::Auto`] chose the CPU, if it did.
    #[must_use]
    pub fn fallback_reason(&self) -> Option<&str> {
        self.fallback.as_deref()
    }

    /// The film.
    #[must_use]
    pub fn film(&self) -> &Film {
        &self.film
    }

    /// The BLAS cache (shared by every snapshot this renderer renders).
    #[must_use]
    pub fn blas_cache(&self) -> &BlasCache {
        self.caches.blas()
    }

    /// What it has done so far: films started, stages 1-2 by kind, BLASes built.
    #[must_use]
    pub fn counters(&self) -> RendererCounters {
        RendererCounters {
            films: self.films,
            prepares: self.caches.counts,
            blas_builds: self.caches.blas().builds(),
        }
    }

    /// Starts over (a new film) for `snapshot`.
    pub fn reset(&mut self, snapshot: &Snapshot) {
        self.films += 1;
        let s = snapshot.settings;
        self.film.clear(s.width, s.height, self.threads);
        self.pass = 0;
        self.current = Some(snapshot.clone());
        self.tiles.backend().restart(snapshot);
    }

    /// Builds `scene`'s stages 1-2 (with this renderer's BLAS and field caches); the
    /// result serves any renderer that [`Renderer::adopt`]s it (this one adopts it).
    /// Nothing is uploaded: [`ReadyScene::upload`] does that, so a caller can budget
    /// its GPU bytes first ([`ReadyScene::footprint`]).
    ///
    /// # Errors
    /// The scheduler's error (see [`Renderer::render_step`]).
    pub fn ready(&mut self, scene: Arc<Scene>) -> Result<ReadyScene, StepError> {
        let mut report = StepReport::blank(0, 0);
        let prepared = self.caches.prepare(&self.graph, &scene, &mut report)?;
        let ready = ReadyScene {
            prepared,
            gpu: None,
        };
        self.adopt(&ready);
        Ok(ready)
    }

    /// Renders snapshots of `ready`'s scene (the same `Arc`) with what `ready` holds:
    /// no stage 1-2 work, and no upload when it is on the GPU (a ready scene without
    /// GPU buffers is uploaded on the next step and freed with the renderer's next
    /// scene: streamed).
    pub fn adopt(&mut self, ready: &ReadyScene) {
        self.caches.prepared = Some(Arc::clone(&ready.prepared));
        self.tiles.backend().adopt(ready);
    }

    /// The [ground truth](crate::truth) of `snapshot`: the centre ray of every pixel
    /// traced on this renderer's pool (rows in parallel; deterministic), with the
    /// scene's stages 1-2 reused when they stand (after a render of the same scene)
    /// or built. On either backend: the ground truth is traced on the CPU. One ray
    /// per pixel, so it costs about what one sample per pixel of the render's camera
    /// rays does.
    ///
    /// # Errors
    /// [`StepError::Graph`] as for [`Renderer::render_step`];
    /// [`StepError::Incomplete`] if a row's task failed.
    pub fn ground_truth(
        &mut self,
        snapshot: &Snapshot,
    ) -> Result<crate::truth::GroundTruth, StepError> {
        let mut report = StepReport::blank(0, 0);
        let prepared = self
            .caches
            .prepare(&self.graph, &snapshot.scene, &mut report)?;
        let (width, height) = (snapshot.settings.width, snapshot.settings.height);
        let rows: Vec<u32> = (0..height).collect();
        let run = self.graph.run(
            &scheduler::CancelToken::new(),
            scheduler::Budget::unlimited(),
            |frame| {
                frame
                    .stage("ground truth")
                    .run(&rows, |_, &y| {
                        scheduler::Outcome::Done(crate::truth::trace_row(
                            &prepared.scene,
                            &prepared.tracer,
                            &snapshot.camera,
                            width,
                            y,
                        ))
                    })
                    .results
            },
        )?;
        crate::truth::from_rows(width, height, run.value)
            .ok_or(StepError::Incomplete("ground truth"))
    }

    /// The [optical flow](crate::flow) of `from` (the ground truth of one frame)
    /// into the frame `to`: `to`'s ground truth is traced (see
    /// [`Renderer::ground_truth`]), each pixel of `from` searched for in it within
    /// `window` pixels and refined on rays traced through `to`'s curved light.
    /// Returns the flow and `to`'s ground truth.
    ///
    /// # Errors
    /// As [`Renderer::ground_truth`].
    pub fn flow(
        &mut self,
        from: &crate::truth::GroundTruth,
        to: &Snapshot,
        window: u32,
    ) -> Result<(crate::flow::Flow, crate::truth::GroundTruth), StepError> {
        let truth = self.ground_truth(to)?;
        let mut report = StepReport::blank(0, 0);
        let prepared = self.caches.prepare(&self.graph, &to.scene, &mut report)?;
        let target = crate::flow::Target {
            scene: &prepared.scene,
            tracer: &prepared.tracer,
            camera: &to.camera,
            truth: &truth,
            centres: crate::truth::centres(&prepared.scene),
        };
        let rows: Vec<u32> = (0..from.height()).collect();
        let run = self.graph.run(
            &scheduler::CancelToken::new(),
            scheduler::Budget::unlimited(),
            |frame| {
                frame
                    .stage("flow")
                    .run(&rows, |_, &y| {
                        scheduler::Outcome::Done(crate::flow::flow_row(from, &target, window, y))
                    })
                    .results
            },
        )?;
        let flow = crate::flow::from_rows(from.width(), from.height(), run.value)
            .ok_or(StepError::Incomplete("flow"))?;
        Ok((flow, truth))
    }

    /// Drops this renderer's hold on its current scene (its acceleration structures
    /// and GPU buffers, unless a [`ReadyScene`] elsewhere still holds them) and the
    /// GPU film; the next step prepares its scene again.
    pub fn forget_scene(&mut self) {
        self.caches.prepared = None;
        self.current = None;
        self.tiles.backend().forget();
    }
}
