//! Progressive CPU rendering on the scheduler, as the frame graph of DESIGN.md:
//!
//! - stage 0, [`Snapshot`]: an immutable, `Arc`-shared scene, camera and settings that
//!   the host builds (from a file, or each frame from its own scene with
//!   [`crate::builder::SceneBuilder`]);
//! - stage 1, acceleration structures: BLASes in parallel, cached by mesh content,
//!   and the TLAS, rebuilt when the snapshot's scene changes; the emitter table;
//! - stage 2, field caches: the curvature-bound grid, reused while the fields are
//!   unchanged;
//! - stages 3-5, fused per tile: integrate curved camera rays, intersect and shade
//!   (path tracing with curved shadow and bounce rays), write into the tile's own
//!   buffer; a tile commits whole or not at all;
//! - stage 6, present: committed tiles reach the [`Film`] and the step's telemetry is
//!   gathered into its [`StepReport`].
//!
//! Each [`Renderer::render_step`] runs as many tiles of the current pass (one sample
//! per pixel) as fit its time budget. Determinism: every random number is a hash of
//! (pixel, sample, bounce, seed), and each pixel's samples reach the film pass by
//! pass, so the image is bit-identical for any thread count, tile order and budget.
//!
//! ```
//! use std::{sync::Arc, time::Duration};
//! use renderer_core::render::{RenderSettings, Renderer, Snapshot};
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

use std::sync::Arc;
use std::time::{Duration, Instant};

use scheduler::order::{Order, Tile, TileGrid};
use scheduler::telemetry::FrameTrace;
use scheduler::{Budget, CancelToken, Graph, GraphConfig, Outcome, Pool, RunOutcome, StepSizer};

use crate::accel::BlasCache;
use crate::camera::Camera;
use crate::curvature::FieldCache;
use crate::film::{Film, TileFilm};
use crate::gpu::{Backend, GpuConfig, GpuContext, GpuFrame, GpuScene, GpuSceneData};
use crate::integrator::Integrator;
use crate::lights::{Emitters, TraceStats};
use crate::path::PathContext;
use crate::rng::Sampler;
use crate::scene::{CameraDesc, Scene};
use crate::trace::SceneTracer;

/// Image and sampling settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RenderSettings {
    /// Image width in pixels.
    pub width: u32,
    /// Image height in pixels.
    pub height: u32,
    /// Samples per pixel for a finished frame.
    pub spp: u32,
    /// Seed of every random choice.
    pub seed: u64,
    /// Tile size in pixels (16x16 and 32x16 are the usual ones).
    pub tile: (u32, u32),
    /// The order tiles start in.
    pub order: Order,
    /// Scattering events after the first hit (0: direct lighting only).
    pub max_bounces: u32,
}

impl Default for RenderSettings {
    fn default() -> Self {
        Self {
            width: 320,
            height: 240,
            spp: 16,
            seed: 0,
            tile: (16, 16),
            order: Order::CentreFirst,
            max_bounces: 4,
        }
    }
}

/// Errors from building a snapshot.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RenderError {
    /// The scene has no camera.
    #[error("the scene has no camera")]
    NoCamera,
    /// Width, height or samples per pixel is zero.
    #[error("image size {width}x{height} with {spp} spp: all must be at least 1")]
    EmptyImage {
        /// Width.
        width: u32,
        /// Height.
        height: u32,
        /// Samples per pixel.
        spp: u32,
    },
    /// A tile side is zero.
    #[error("tile size {0}x{1}: both must be at least 1")]
    EmptyTile(u32, u32),
    /// The renderer's graph could not run (re-entered, or called from its own
    /// worker thread).
    #[error(transparent)]
    Graph(#[from] scheduler::GraphError),
    /// The GPU backend failed (out of memory, no adapter for `Backend::Gpu`, a
    /// device error).
    #[error(transparent)]
    Gpu(#[from] crate::gpu::GpuError),
}

/// Stage 0: everything a frame reads, immutable and cheap to share: the scene, the
/// camera and the settings.
#[derive(Debug, Clone)]
pub struct Snapshot {
    scene: Arc<Scene>,
    camera: Camera,
    settings: RenderSettings,
}

impl Snapshot {
    /// A snapshot of `scene` seen by its own camera.
    ///
    /// # Errors
    /// [`RenderError`] for a scene without camera, an empty image or tile.
    pub fn new(scene: Arc<Scene>, settings: RenderSettings) -> Result<Self, RenderError> {
        let desc: CameraDesc = scene.camera.ok_or(RenderError::NoCamera)?;
        Self::with_camera(scene, desc, settings)
    }

    /// A snapshot of `scene` seen by `camera` (a host moving its own camera).
    ///
    /// # Errors
    /// [`RenderError`] for an empty image or tile.
    pub fn with_camera(
        scene: Arc<Scene>,
        camera: CameraDesc,
        settings: RenderSettings,
    ) -> Result<Self, RenderError> {
        if settings.width == 0 || settings.height == 0 || settings.spp == 0 {
            return Err(RenderError::EmptyImage {
                width: settings.width,
                height: settings.height,
                spp: settings.spp,
            });
        }
        if settings.tile.0 == 0 || settings.tile.1 == 0 {
            return Err(RenderError::EmptyTile(settings.tile.0, settings.tile.1));
        }
        let camera = Camera::new(&camera, settings.width, settings.height, &scene.medium);
        Ok(Self {
            scene,
            camera,
            settings,
        })
    }

    /// The settings.
    #[must_use]
    pub fn settings(&self) -> &RenderSettings {
        &self.settings
    }

    /// The scene.
    #[must_use]
    pub fn scene(&self) -> &Arc<Scene> {
        &self.scene
    }

    /// The camera.
    #[must_use]
    pub fn camera(&self) -> &Camera {
        &self.camera
    }

    /// Whether `other` shows the same image (the same scene, by identity or by
    /// content ([`Scene::same_content`]), camera and settings): then a renderer keeps
    /// accumulating samples instead of starting over. A host that rebuilds an
    /// unchanged scene every frame keeps converging.
    #[must_use]
    pub fn same_frame(&self, other: &Self) -> bool {
        self.camera == other.camera
            && self.settings == other.settings
            && (Arc::ptr_eq(&self.scene, &other.scene) || self.scene.same_content(&other.scene))
    }
}

/// Stages 1 and 2 for one scene: what the tiles read.
#[derive(Debug)]
struct Prepared {
    scene: Arc<Scene>,
    /// Shared with the next scene when only its materials, lights or environment
    /// differ ([`Scene::same_geometry`]).
    tracer: Arc<SceneTracer>,
    emitters: Emitters,
}

impl Prepared {
    /// Renders sample `sample` of every pixel of `tile`, checking `stop` before each
    /// pixel.
    fn render_tile(
        &self,
        snapshot: &Snapshot,
        tile: Tile,
        sample: u32,
        stop: &mut impl FnMut() -> bool,
        stats: &mut TraceStats,
    ) -> Option<TileFilm> {
        let s = &snapshot.settings;
        let ctx = PathContext {
            scene: &self.scene,
            tracer: &self.tracer,
            emitters: &self.emitters,
            max_bounces: s.max_bounces,
            seed: s.seed,
        };
        let mut film = TileFilm::new(tile);
        for y in tile.y0..tile.y1 {
            for x in tile.x0..tile.x1 {
                // A safe point per pixel: a pixel is microseconds, a row can be a
                // millisecond of curved rays.
                if stop() {
                    return None;
                }
                let pixel = y * s.width + x;
                let mut rng = Sampler::new(pixel, sample, 0, s.seed);
                let (jx, jy) = (rng.next_f64(), rng.next_f64());
                let (origin, dir) = snapshot.camera.ray(f64::from(x) + jx, f64::from(y) + jy);
                film.add(x, y, &ctx.sample(pixel, sample, origin, dir, stats));
            }
        }
        Some(film)
    }
}

/// A scene ready to render: its acceleration structures, field grid and emitter
/// table built (stages 1-2) and, on the GPU backend, its buffers uploaded. Cheap to
/// clone (shared); renderers that [`Renderer::adopt`] it skip stages 1-2 and the
/// upload. GPU memory is freed when the last clone of an uploaded one is dropped.
///
/// A batch keeps several of these resident and demotes them
/// ([`ReadyScene::demoted`]) to RAM when the GPU budget is short.
#[derive(Debug, Clone)]
pub struct ReadyScene {
    prepared: Arc<Prepared>,
    gpu: Option<Arc<GpuScene>>,
}

/// Measured memory of a ready scene, in bytes per kind of buffer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Footprint {
    /// Host memory: `meshes` (positions, indices, texture coordinates), `blas`
    /// (bottom-level BVHs and their triangles), `tlas` (top-level BVH, instances,
    /// inverse transforms), `fields` (sampled index grids and the curvature grid),
    /// `textures`.
    pub ram: Vec<(&'static str, u64)>,
    /// GPU memory, per scene buffer (as allocated: rounded up, at least the binding
    /// minimum); empty when the scene is not built for the GPU.
    pub gpu: Vec<(&'static str, u64)>,
}

impl Footprint {
    /// Host bytes in all.
    #[must_use]
    pub fn ram_bytes(&self) -> u64 {
        self.ram.iter().map(|(_, b)| b).sum()
    }

    /// GPU bytes in all.
    #[must_use]
    pub fn gpu_bytes(&self) -> u64 {
        self.gpu.iter().map(|(_, b)| b).sum()
    }
}

fn bytes_of<T>(v: &[T]) -> u64 {
    std::mem::size_of_val(v) as u64
}

impl Prepared {
    /// Host bytes per kind.
    fn ram_footprint(&self) -> Vec<(&'static str, u64)> {
        let scene = self.scene.footprint();
        let kind = |k: &str| scene.iter().find(|(n, _)| *n == k).map_or(0, |(_, b)| *b);
        let tlas = self.tracer.tlas();
        let mut seen = std::collections::HashSet::new();
        let blas = tlas
            .instances()
            .iter()
            .filter(|i| seen.insert(Arc::as_ptr(&i.blas)))
            .map(|i| {
                bytes_of(&i.blas.bvh.nodes)
                    + bytes_of(&i.blas.bvh.prims)
                    + bytes_of(&i.blas.triangles)
            })
            .sum();
        let tlas_bytes = bytes_of(&tlas.bvh().nodes)
            + bytes_of(&tlas.bvh().prims)
            + bytes_of(tlas.instances())
            + bytes_of(tlas.inverses());
        let kappa = self
            .tracer
            .integrator()
            .grid()
            .map_or(0, |g| bytes_of(g.kappa()));
        vec![
            ("meshes", kind("meshes")),
            ("blas", blas),
            ("tlas", tlas_bytes),
            ("fields", kind("fields") + kappa),
            ("textures", kind("textures")),
        ]
    }
}

impl ReadyScene {
    /// The scene.
    #[must_use]
    pub fn scene(&self) -> &Arc<Scene> {
        &self.prepared.scene
    }

    /// Whether its buffers are on the GPU.
    #[must_use]
    pub fn on_gpu(&self) -> bool {
        self.gpu.is_some()
    }

    /// Host memory per kind, and GPU memory per buffer (measured from the uploaded
    /// buffers; for a scene not on the GPU, from the buffers it would upload).
    #[must_use]
    pub fn footprint(&self) -> Footprint {
        let gpu = match &self.gpu {
            Some(g) => g.footprint(),
            None => self.gpu_data().footprint(),
        };
        Footprint {
            ram: self.prepared.ram_footprint(),
            gpu,
        }
    }

    /// Host memory per kind (cheap: no GPU buffers are built to measure it).
    #[must_use]
    pub fn ram_footprint(&self) -> Vec<(&'static str, u64)> {
        self.prepared.ram_footprint()
    }

    /// What uploading it would allocate (built on the CPU, nothing uploaded).
    #[must_use]
    pub fn gpu_data(&self) -> GpuSceneData {
        let p = &self.prepared;
        GpuSceneData::build(&p.scene, &p.tracer, &p.emitters)
    }

    /// The same scene without its GPU buffers (they are freed when no other clone or
    /// renderer holds them); it can be uploaded again with [`ReadyScene::upload`].
    #[must_use]
    pub fn demoted(&self) -> Self {
        Self {
            prepared: Arc::clone(&self.prepared),
            gpu: None,
        }
    }

    /// Uploads its buffers to `ctx` (a no-op when already there).
    ///
    /// # Errors
    /// [`crate::gpu::GpuError::OutOfMemory`] when a buffer cannot be allocated
    /// (nothing stays allocated).
    pub fn upload(&mut self, ctx: &GpuContext) -> Result<(), RenderError> {
        if self.gpu.is_none() {
            self.upload_data(ctx, &self.gpu_data())?;
        }
        Ok(())
    }

    /// Uploads `data`, built earlier by [`ReadyScene::gpu_data`] (to measure it first
    /// without building it twice).
    ///
    /// # Errors
    /// As [`ReadyScene::upload`].
    pub fn upload_data(
        &mut self,
        ctx: &GpuContext,
        data: &GpuSceneData,
    ) -> Result<(), RenderError> {
        self.gpu = Some(Arc::new(data.upload(ctx)?));
        Ok(())
    }
}

/// Wall time of one stage of a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageTime {
    /// Stage name (`accel.blas`, `fields`, `accel.tlas`, `tiles`, `present`; on the
    /// GPU also `accel.upload`, `tiles.kernel` (GPU time, when profiled),
    /// `present.readback` and `present.film`, parts of the stages before them).
    pub name: String,
    /// Wall time from its start to its barrier.
    pub wall: Duration,
}

/// The frame graph's stage names, as they appear in [`StepReport::stages`], the
/// Chrome traces and the telemetry.
pub mod stage {
    /// Stage 1: one BVH per mesh.
    pub const BLAS: &str = "accel.blas";
    /// Stage 2: the curvature-bound grid of the medium.
    pub const FIELDS: &str = "fields";
    /// Stages 1-2: the TLAS over instances and the emitter table.
    pub const TLAS: &str = "accel.tlas";
    /// GPU: the scene's buffers uploaded to the device.
    pub const UPLOAD: &str = "accel.upload";
    /// Stages 3-5: tiles (CPU) or pixel batches (GPU).
    pub const TILES: &str = "tiles";
    /// GPU: the kernels themselves, by GPU timestamps (when profiled).
    pub const KERNEL: &str = "tiles.kernel";
    /// Stage 6: tiles commit to the film, or the GPU film is read back.
    pub const PRESENT: &str = "present";
    /// GPU: the copy of the film (and counters) back to the host, within `present`.
    pub const READBACK: &str = "present.readback";
    /// GPU: the conversion into the host film, within `present`.
    pub const FILM: &str = "present.film";
}

/// What one [`Renderer::render_step`] did.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StepReport {
    /// Tiles committed.
    pub tiles_done: u32,
    /// Tiles started but stopped at a safe point (discarded).
    pub tiles_discarded: u32,
    /// Pixel samples committed.
    pub samples: u64,
    /// Rays traced by the step's tiles, committed or not (camera, bounce, shadow).
    pub rays: u64,
    /// Segments the integrator made for them.
    pub segments: u64,
    /// Soft-gate subdivisions among them.
    pub subdivisions: u64,
    /// How the step's tile run ended.
    pub outcome: RunOutcome,
    /// Passes (samples per pixel) complete over the whole film.
    pub passes_done: u32,
    /// Whether the frame has all its samples.
    pub frame_complete: bool,
    /// Whether stages 1-2 ran in this step (a new scene); BLASes and the field
    /// grid may still have come from their caches.
    pub prepared: bool,
    /// Whether the curvature grid came from the field cache (when `prepared`).
    pub fields_cached: bool,
    /// Wall time of each stage that ran.
    pub stages: Vec<StageTime>,
    /// The frames the step ran, for a Chrome trace
    /// ([`scheduler::telemetry::write_chrome_trace`]).
    pub traces: Vec<FrameTrace>,
    /// Wall time of the step.
    pub wall: Duration,
}

impl StepReport {
    fn blank(pass: u32, spp: u32) -> Self {
        Self {
            tiles_done: 0,
            tiles_discarded: 0,
            samples: 0,
            rays: 0,
            segments: 0,
            subdivisions: 0,
            outcome: RunOutcome::Completed,
            passes_done: pass,
            frame_complete: pass >= spp,
            prepared: false,
            fields_cached: false,
            stages: Vec::new(),
            traces: Vec::new(),
            wall: Duration::ZERO,
        }
    }
}

/// A progressive renderer: owns the film, the progress through the passes, and the
/// caches of stages 1 and 2 (BLASes by mesh content, the field grid by medium), so
/// successive snapshots of a changing scene reuse what did not change.
#[derive(Debug)]
pub struct Renderer {
    graph: Graph,
    film: Film,
    pass: u32,
    pending: Vec<Tile>,
    sizer: StepSizer,
    current: Option<Snapshot>,
    starved: bool,
    blas: BlasCache,
    fields: FieldCache,
    prepared: Option<Arc<Prepared>>,
    gpu: Option<GpuState>,
    fallback: Option<String>,
}

/// The GPU backend's part of a renderer: the shared device, the resident scene and
/// the frame's film.
#[derive(Debug)]
struct GpuState {
    ctx: Arc<GpuContext>,
    scene: Option<(Arc<Scene>, Arc<GpuScene>)>,
    /// The film and per-frame buffers, bound to `scene`; kept across frames of the
    /// same size and restarted (cleared on the GPU) when `stale`.
    frame: Option<GpuFrame>,
    stale: bool,
    /// Leave the film on the device after each step ([`Renderer::keep_film_on_gpu`]).
    keep_film: bool,
}

impl Renderer {
    /// A renderer whose tiles run on `pool`.
    #[must_use]
    pub fn new(pool: Arc<Pool>) -> Self {
        // At least one tile per worker each step, so no worker idles.
        let min_batch = pool.threads().max(1);
        Self {
            graph: Graph::new(pool, GraphConfig::named("render")),
            film: Film::new(0, 0),
            pass: 0,
            pending: Vec::new(),
            sizer: StepSizer::new(Duration::from_millis(16), min_batch, usize::MAX),
            current: None,
            starved: false,
            blas: BlasCache::default(),
            fields: FieldCache::default(),
            prepared: None,
            gpu: None,
            fallback: None,
        }
    }

    /// A renderer whose frames run on `ctx`'s GPU (stages 1-2 still build on
    /// `pool`). The device and its pipelines are shared: make one context and give it
    /// to every renderer.
    #[must_use]
    pub fn with_gpu(pool: Arc<Pool>, ctx: Arc<GpuContext>) -> Self {
        let mut r = Self::new(pool);
        r.gpu = Some(GpuState {
            ctx,
            scene: None,
            frame: None,
            stale: false,
            keep_film: false,
        });
        r
    }

    /// On the GPU backend, whether steps leave the film on the device (no read-back:
    /// a host on the same device shows it from [`Renderer::gpu_film`]) or read it back
    /// into [`Renderer::film`] after every step (the default). With the film kept on
    /// the device, [`Renderer::sync_film`] reads it back on demand. No effect on the
    /// CPU backend.
    pub fn keep_film_on_gpu(&mut self, keep: bool) {
        if let Some(g) = self.gpu.as_mut() {
            g.keep_film = keep;
        }
    }

    /// The film on the device, when frames render on the GPU and a frame has started.
    #[must_use]
    pub fn gpu_film(&self) -> Option<crate::gpu::GpuFilmView<'_>> {
        self.gpu.as_ref()?.frame.as_ref().map(GpuFrame::film_view)
    }

    /// The film, read back from the device first when steps leave it there
    /// ([`Renderer::keep_film_on_gpu`]).
    ///
    /// # Errors
    /// [`RenderError::Gpu`] when the read-back fails.
    pub fn sync_film(&mut self) -> Result<&Film, RenderError> {
        if let Some(g) = self.gpu.as_mut() {
            if let (true, Some(frame)) = (g.keep_film, g.frame.as_mut()) {
                if self.film.width() == frame.size().0 && self.film.height() == frame.size().1 {
                    // No dispatch ran since the last step's counters were read: these
                    // are zero.
                    frame.present(&g.ctx, Some(&mut self.film))?;
                }
            }
        }
        Ok(&self.film)
    }

    /// A renderer on `backend`: [`Backend::Gpu`] opens the device `config` asks for
    /// (an error if it cannot), [`Backend::Auto`] does the same but renders on the CPU
    /// when there is no adapter or only a software one (slower than the CPU path), and
    /// records why ([`Renderer::fallback_reason`]); [`Backend::Cpu`] uses the pool.
    ///
    /// # Errors
    /// [`RenderError::Gpu`] for [`Backend::Gpu`] without a usable adapter.
    pub fn with_backend(
        pool: Arc<Pool>,
        backend: Backend,
        config: &GpuConfig,
    ) -> Result<Self, RenderError> {
        match backend {
            Backend::Cpu => Ok(Self::new(pool)),
            Backend::Gpu => Ok(Self::with_gpu(pool, Arc::new(GpuContext::new(config)?))),
            Backend::Auto => match GpuContext::new(config) {
                // A software adapter (lavapipe) runs the shaders several times slower
                // than the CPU path: Auto takes only real GPUs.
                Ok(ctx) if ctx.is_software() => {
                    let mut r = Self::new(pool);
                    r.fallback = Some(format!(
                        "the only adapter is a software one ({}), slower than the CPU path; --backend gpu uses it",
                        ctx.describe()
                    ));
                    Ok(r)
                }
                Ok(ctx) => Ok(Self::with_gpu(pool, Arc::new(ctx))),
                Err(e) => {
                    let mut r = Self::new(pool);
                    r.fallback = Some(e.to_string());
                    Ok(r)
                }
            },
        }
    }

    /// The GPU context, when frames render on the GPU.
    #[must_use]
    pub fn gpu(&self) -> Option<&Arc<GpuContext>> {
        self.gpu.as_ref().map(|g| &g.ctx)
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
        &self.blas
    }

    /// Starts over (a new film) for `snapshot`.
    pub fn reset(&mut self, snapshot: &Snapshot) {
        let s = snapshot.settings;
        self.film.clear(s.width, s.height);
        self.pass = 0;
        // `starved` survives: a host whose scene changes every frame still gets a
        // tile per step when its budget is shorter than one tile.
        self.current = Some(snapshot.clone());
        self.pending = TileGrid::new(s.width, s.height, s.tile.0, s.tile.1).tiles(s.order);
        if let Some(g) = self.gpu.as_mut() {
            g.stale = true;
        }
    }

    /// Builds `scene`'s stages 1-2 (with this renderer's BLAS and field caches); the
    /// result serves any renderer that [`Renderer::adopt`]s it (this one adopts it).
    /// Nothing is uploaded: [`ReadyScene::upload`] does that, so a caller can budget
    /// its GPU bytes first ([`ReadyScene::footprint`]).
    ///
    /// # Errors
    /// The scheduler's error (see [`Renderer::render_step`]).
    pub fn ready(&mut self, scene: Arc<Scene>) -> Result<ReadyScene, RenderError> {
        let mut report = StepReport::blank(0, 0);
        let prepared = self.prepare(&scene, &mut report)?;
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
        self.prepared = Some(Arc::clone(&ready.prepared));
        if let Some(g) = self.gpu.as_mut() {
            let same = g
                .scene
                .as_ref()
                .is_some_and(|(s, _)| Arc::ptr_eq(s, &ready.prepared.scene));
            if let Some(gs) = &ready.gpu {
                g.scene = Some((Arc::clone(&ready.prepared.scene), Arc::clone(gs)));
            } else if !same {
                g.scene = None;
            }
            if !same {
                g.frame = None;
            }
        }
    }

    /// Drops this renderer's hold on its current scene (its acceleration structures
    /// and GPU buffers, unless a [`ReadyScene`] elsewhere still holds them) and the
    /// GPU film; the next step prepares its scene again.
    pub fn forget_scene(&mut self) {
        self.prepared = None;
        self.current = None;
        if let Some(g) = self.gpu.as_mut() {
            g.scene = None;
            g.frame = None;
        }
    }

    /// Stages 1 and 2 for `snapshot`'s scene, unless already done for it.
    fn prepare(
        &mut self,
        scene: &Arc<Scene>,
        report: &mut StepReport,
    ) -> Result<Arc<Prepared>, scheduler::GraphError> {
        // The same scene, or an equal one a host built again: stages 1 and 2 stand.
        if let Some(p) = self
            .prepared
            .as_ref()
            .filter(|p| Arc::ptr_eq(&p.scene, scene) || p.scene.same_content(scene))
        {
            return Ok(Arc::clone(p));
        }
        // Only materials, lights or the environment changed: the acceleration
        // structures and the curvature grid stand; the emitter table (emission per
        // triangle) is made again.
        if let Some(p) = self
            .prepared
            .as_ref()
            .filter(|p| p.scene.same_geometry(scene))
        {
            let prepared = Arc::new(Prepared {
                scene: Arc::clone(scene),
                tracer: Arc::clone(&p.tracer),
                emitters: Emitters::new(scene),
            });
            self.prepared = Some(Arc::clone(&prepared));
            return Ok(prepared);
        }
        let (blas, fields) = (&self.blas, &self.fields);
        let run = self
            .graph
            .run(&CancelToken::new(), Budget::unlimited(), |frame| {
                let blases = frame
                    .stage(stage::BLAS)
                    .run(&scene.meshes, |_, mesh| Outcome::Done(blas.get(mesh)));
                let (grid, cached) = frame.serial(stage::FIELDS, |_| fields.get(&scene.medium));
                let tracer_emitters = frame.serial(stage::TLAS, |_| {
                    let blases: Vec<_> = blases.results.into_iter().flatten().collect();
                    let integrator =
                        Integrator::with_grid(scene.medium.clone(), scene.tolerances, grid);
                    (
                        SceneTracer::from_parts(scene, &blases, integrator),
                        Emitters::new(scene),
                    )
                });
                (tracer_emitters, cached)
            })?;
        collect_stages(&run.summary, report);
        report.traces.push(run.trace());
        let ((tracer, emitters), cached) = run.value;
        report.prepared = true;
        report.fields_cached = cached;
        let prepared = Arc::new(Prepared {
            scene: Arc::clone(scene),
            tracer: Arc::new(tracer),
            emitters,
        });
        self.prepared = Some(Arc::clone(&prepared));
        Ok(prepared)
    }

    /// Renders as many tiles as fit in `budget` and commits those that finish;
    /// cancelling `token` stops it at the next pixel. A snapshot that shows another
    /// frame than the last one ([`Snapshot::same_frame`]) starts a new film. A step
    /// after one that finished no tile finishes exactly one, however long it takes,
    /// so repeated steps always complete the frame.
    ///
    /// # Errors
    /// The scheduler's error if the renderer's graph is already running or is called
    /// from one of its own workers.
    pub fn render_step(
        &mut self,
        snapshot: &Snapshot,
        budget: Duration,
        token: &CancelToken,
    ) -> Result<StepReport, RenderError> {
        let same = self
            .current
            .as_ref()
            .is_some_and(|c| c.same_frame(snapshot));
        // Stages 1-2 already stand for this frame's scene when they were made for the
        // current frame's: then the content comparison just made is not repeated.
        let prepared_for_it = same
            && matches!(
                (&self.current, &self.prepared),
                (Some(c), Some(p)) if Arc::ptr_eq(&c.scene, &p.scene)
            );
        if !same {
            self.reset(snapshot);
        }
        let s = snapshot.settings;
        let started = Instant::now();
        let mut report = StepReport::blank(self.pass, s.spp);
        if self.pass >= s.spp {
            return Ok(report);
        }
        if !prepared_for_it {
            self.prepare(&snapshot.scene, &mut report)?;
        }
        if self.gpu.is_some() {
            self.gpu_step(snapshot, budget, token, started, &mut report)?;
            return Ok(report);
        }
        let Some(prepared) = self.prepared.as_ref() else {
            return Ok(report);
        };
        // The tiles get what is left of the budget after stages 1-2.
        let left = budget.saturating_sub(started.elapsed());
        self.sizer.set_target(left.max(Duration::from_micros(1)));
        let take = self.sizer.next_batch().min(self.pending.len());
        let batch: Vec<Tile> = self.pending[..take].to_vec();
        let pass = self.pass;
        // Progress is guaranteed: after a step that committed nothing (a tile longer
        // than the budget), the next step finishes one tile whatever its cost.
        let limits = if self.starved {
            Budget::unlimited().with_max_items(1)
        } else {
            Budget::within(left)
        };
        let film = &mut self.film;
        let run = self.graph.run(token, limits, |frame| {
            let out = frame.stage(stage::TILES).run(&batch, |ctx, tile| {
                let mut stats = TraceStats::default();
                let mut stop = || ctx.interrupted().is_some();
                let rendered = prepared.render_tile(snapshot, *tile, pass, &mut stop, &mut stats);
                ctx.count("rays", stats.rays);
                ctx.count("segments", stats.segments);
                ctx.count("subdivisions", stats.subdivisions);
                match rendered {
                    Some(film) => Outcome::Done(film),
                    None => ctx.interrupted().map_or(Outcome::Cancelled, Outcome::from),
                }
            });
            frame.serial(stage::PRESENT, |_| {
                let mut done = vec![false; out.results.len()];
                let mut samples = 0;
                for (k, tile) in out.results.iter().enumerate() {
                    if let Some(tile) = tile {
                        film.commit(tile);
                        done[k] = true;
                        samples += u64::from(tile.tile().pixels());
                    }
                }
                (done, samples, out.counts)
            })
        })?;
        collect_stages(&run.summary, &mut report);
        report.traces.push(run.trace());
        let (done, samples, counts) = run.value;
        report.tiles_done = done.iter().filter(|&&d| d).count() as u32;
        report.samples = samples;
        report.tiles_discarded = (counts.cancelled + counts.over_budget) as u32;
        report.rays = run.summary.counters.get("rays");
        report.segments = run.summary.counters.get("segments");
        report.subdivisions = run.summary.counters.get("subdivisions");
        let mut k = 0;
        self.pending.retain(|_| {
            let keep = k >= done.len() || !done[k];
            k += 1;
            keep
        });
        if self.pending.is_empty() {
            self.pass += 1;
            if self.pass < s.spp {
                self.pending = TileGrid::new(s.width, s.height, s.tile.0, s.tile.1).tiles(s.order);
            }
        }
        self.sizer
            .record(report.tiles_done as usize, started.elapsed());
        self.starved = report.tiles_done == 0 && !token.is_cancelled();
        report.outcome = run.outcome;
        report.passes_done = self.pass;
        report.frame_complete = self.pass >= s.spp;
        report.wall = started.elapsed();
        Ok(report)
    }

    /// Renders the whole frame (all passes), step after step, calling `progress`
    /// after each step.
    ///
    /// # Errors
    /// As [`Renderer::render_step`].
    pub fn render_all_with(
        &mut self,
        snapshot: &Snapshot,
        token: &CancelToken,
        mut progress: impl FnMut(&StepReport),
    ) -> Result<(), RenderError> {
        self.reset(snapshot);
        loop {
            let report = self.render_step(snapshot, Duration::from_millis(250), token)?;
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
    pub fn render_all(&mut self, snapshot: &Snapshot) -> Result<(), RenderError> {
        self.render_all_with(snapshot, &CancelToken::new(), |_| {})
    }
}

impl Renderer {
    /// Stages 3-6 on the GPU: upload the scene when it is new (stage 1's last part),
    /// dispatch pixel batches of the current pass within the budget, and present (read
    /// the film back).
    fn gpu_step(
        &mut self,
        snapshot: &Snapshot,
        budget: Duration,
        token: &CancelToken,
        started: Instant,
        report: &mut StepReport,
    ) -> Result<(), RenderError> {
        let s = snapshot.settings;
        let (Some(gpu), Some(prepared)) = (self.gpu.as_mut(), self.prepared.as_ref()) else {
            return Ok(());
        };
        let ctx = Arc::clone(&gpu.ctx);
        let timed = |report: &mut StepReport, name: &str, t: Instant| {
            report.stages.push(StageTime {
                name: name.to_owned(),
                wall: t.elapsed(),
            });
        };
        if !gpu
            .scene
            .as_ref()
            .is_some_and(|(scene, _)| Arc::ptr_eq(scene, &prepared.scene))
        {
            let t = Instant::now();
            // Free the old scene first, so both never need to fit at once.
            gpu.scene = None;
            gpu.frame = None;
            let uploaded =
                GpuScene::upload(&ctx, &prepared.scene, &prepared.tracer, &prepared.emitters)?;
            gpu.scene = Some((Arc::clone(&prepared.scene), Arc::new(uploaded)));
            timed(report, stage::UPLOAD, t);
        }
        let Some((_, scene)) = gpu.scene.as_ref() else {
            return Ok(());
        };
        if gpu
            .frame
            .as_ref()
            .is_some_and(|f| f.size() != (s.width, s.height))
        {
            gpu.frame = None;
        }
        match gpu.frame.as_mut() {
            None => {
                let params =
                    scene.params(&snapshot.camera, s.width, s.height, s.max_bounces, s.seed);
                gpu.frame = Some(GpuFrame::new(&ctx, scene, &params, s.width, s.height)?);
            }
            Some(frame) if gpu.stale => {
                let params =
                    scene.params(&snapshot.camera, s.width, s.height, s.max_bounces, s.seed);
                frame.restart(&ctx, &params);
            }
            Some(_) => {}
        }
        gpu.stale = false;
        let Some(frame) = gpu.frame.as_mut() else {
            return Ok(());
        };
        // Stages 3-5 (the dispatches) and 6 (present) run as serial stages of the
        // renderer's graph: the GPU does the parallel work, the step gets the same
        // stage times, counters and Chrome-trace frames as on the CPU.
        let left = budget.saturating_sub(started.elapsed());
        let pass = self.pass;
        let film = (!gpu.keep_film).then_some(&mut self.film);
        let run = self.graph.run(token, Budget::unlimited(), |f| {
            let done = f.serial(stage::TILES, |_| {
                frame.run(&ctx, pass, left, || token.is_cancelled())
            });
            let counters = f.serial(stage::PRESENT, |c| {
                let counters = frame.present(&ctx, film)?;
                c.count("rays", counters.rays);
                c.count("segments", counters.segments);
                c.count("subdivisions", counters.subdivisions);
                Ok::<_, crate::gpu::GpuError>(counters)
            });
            (done, counters)
        })?;
        collect_stages(&run.summary, report);
        report.traces.push(run.trace());
        let (done, counters) = run.value;
        let (done, counters) = (done?, counters?);
        // Where the GPU step's time went: the kernels themselves (when the context
        // times them), the film's copy back and its conversion into the host film.
        if let Some(kernel) = counters.kernel {
            report.stages.push(StageTime {
                name: stage::KERNEL.to_owned(),
                wall: kernel,
            });
        }
        report.stages.push(StageTime {
            name: stage::READBACK.to_owned(),
            wall: counters.readback,
        });
        report.stages.push(StageTime {
            name: stage::FILM.to_owned(),
            wall: counters.film,
        });
        if done.pass_done {
            self.pass += 1;
        }
        report.tiles_done = done.batches;
        report.samples = done.samples;
        report.rays = counters.rays;
        report.segments = counters.segments;
        report.subdivisions = counters.subdivisions;
        report.outcome = token
            .reason()
            .map_or(RunOutcome::Completed, RunOutcome::Cancelled);
        report.passes_done = self.pass;
        report.frame_complete = self.pass >= s.spp;
        report.wall = started.elapsed();
        Ok(())
    }
}

fn collect_stages(summary: &scheduler::telemetry::FrameSummary, report: &mut StepReport) {
    report
        .stages
        .extend(summary.stages.iter().map(|st| StageTime {
            name: st.name.clone(),
            wall: Duration::from_nanos(st.wall_ns),
        }));
}
