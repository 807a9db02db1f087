//! Progressive CPU rendering on the scheduler: a [`Snapshot`] (immutable, shared) is
//! rendered in passes of one sample per pixel; each [`Renderer::render_step`] runs as
//! many tiles of the current pass as fit its time budget, as a parallel stage of a
//! frame graph, and commits the tiles that finished whole.
//!
//! Determinism: every random number is a hash of (pixel, sample, bounce, seed), and
//! each pixel's samples reach the film pass by pass, so the image is bit-identical for
//! any thread count, tile order and step budget.

use std::sync::Arc;
use std::time::{Duration, Instant};

use scheduler::order::{Order, Tile, TileGrid};
use scheduler::{Budget, CancelToken, Graph, GraphConfig, Outcome, Pool, RunOutcome, StepSizer};

use crate::accel::BlasCache;
use crate::camera::Camera;
use crate::film::{Film, SampleRecord, TileFilm};
use crate::integrator::Termination;
use crate::rng::Sampler;
use crate::scene::{CameraDesc, Scene};
use crate::shade::{albedo, direct, emitted, environment};
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
    /// Tile size in pixels.
    pub tile: (u32, u32),
    /// The order tiles start in.
    pub order: Order,
    /// Diffuse bounces after the first hit (0: direct lighting only).
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
            max_bounces: 1,
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
}

/// Everything a frame reads, immutable and shared: scene, camera, settings and the
/// acceleration structures.
#[derive(Debug, Clone)]
pub struct Snapshot {
    scene: Arc<Scene>,
    camera: Camera,
    settings: RenderSettings,
    tracer: Arc<SceneTracer>,
}

impl Snapshot {
    /// A snapshot of `scene` (BLASes from `cache`, reused across snapshots).
    ///
    /// # Errors
    /// [`RenderError`] for a scene without camera or an empty image.
    pub fn new(
        scene: Arc<Scene>,
        settings: RenderSettings,
        cache: &BlasCache,
    ) -> Result<Self, RenderError> {
        let desc: CameraDesc = scene.camera.ok_or(RenderError::NoCamera)?;
        if settings.width == 0 || settings.height == 0 || settings.spp == 0 {
            return Err(RenderError::EmptyImage {
                width: settings.width,
                height: settings.height,
                spp: settings.spp,
            });
        }
        let camera = Camera::new(&desc, settings.width, settings.height, &scene.medium);
        let tracer = Arc::new(SceneTracer::new(&scene, cache));
        Ok(Self {
            scene,
            camera,
            settings,
            tracer,
        })
    }

    /// The settings.
    #[must_use]
    pub fn settings(&self) -> &RenderSettings {
        &self.settings
    }

    /// One sample of pixel (`x`, `y`).
    fn sample(&self, x: u32, y: u32, sample: u32) -> SampleRecord {
        let s = &self.settings;
        let pixel = y * s.width + x;
        let mut rng = Sampler::new(pixel, sample, 0, s.seed);
        let (jx, jy) = (rng.next_f64(), rng.next_f64());
        let (mut origin, mut dir) = self.camera.ray(f64::from(x) + jx, f64::from(y) + jy);
        let mut record = SampleRecord::default();
        let mut radiance = [0.0f64; 3];
        let mut throughput = [1.0f64; 3];
        for bounce in 0..=s.max_bounces {
            let report = self.tracer.trace(origin, dir, None, false);
            if bounce == 0 {
                record.segments = report.result.segments;
            }
            let Some(hit) = report.hit else {
                if report.result.termination == Termination::Escaped {
                    let env = environment(&self.scene.environment, report.result.direction);
                    for c in 0..3 {
                        radiance[c] += throughput[c] * env[c];
                    }
                }
                break;
            };
            let material = &self.scene.materials[hit.instance as usize];
            let incoming = report.result.direction;
            let mut n = hit.normal;
            if n.dot(incoming) > 0.0 {
                n = -n;
            }
            if bounce == 0 {
                record.depth = report.path_length as f32;
                record.normal = n.as_vec3().to_array();
                record.instance = Some(hit.instance);
            }
            let e = emitted(material);
            let rho = albedo(material, hit.position, n);
            let d = direct(&self.scene, &self.tracer, hit.position, n, rho);
            for c in 0..3 {
                radiance[c] += throughput[c] * (e[c] + d[c]);
                throughput[c] *= rho[c];
            }
            if bounce == s.max_bounces || throughput.iter().all(|&t| t == 0.0) {
                break;
            }
            // Cosine-weighted bounce: the pdf cancels cos/pi, leaving the albedo.
            let mut r = Sampler::new(pixel, sample, bounce + 1, s.seed);
            let (u1, u2) = (r.next_f64(), r.next_f64());
            let (a, b) = n.any_orthonormal_pair();
            let phi = std::f64::consts::TAU * u1;
            let rad = u2.sqrt();
            dir =
                (a * (rad * phi.cos()) + b * (rad * phi.sin()) + n * (1.0 - u2).sqrt()).normalize();
            origin = hit.position + n * 1e-4 * (1.0 + hit.position.length());
        }
        record.rgb = radiance.map(|v| v as f32);
        record
    }

    /// Renders sample `sample` of every pixel of `tile`, checking `stop` between rows.
    fn render_tile(
        &self,
        tile: Tile,
        sample: u32,
        stop: &mut impl FnMut() -> bool,
    ) -> Option<TileFilm> {
        let mut film = TileFilm::new(tile);
        for y in tile.y0..tile.y1 {
            if stop() {
                return None;
            }
            for x in tile.x0..tile.x1 {
                film.add(x, y, &self.sample(x, y, sample));
            }
        }
        Some(film)
    }
}

/// What one [`Renderer::render_step`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct StepReport {
    /// Tiles committed.
    pub tiles_done: u32,
    /// Tiles started but stopped at a safe point (discarded).
    pub tiles_discarded: u32,
    /// Pixel samples committed.
    pub samples: u64,
    /// How the step's run ended.
    pub outcome: RunOutcome,
    /// Passes (samples per pixel) complete over the whole film.
    pub passes_done: u32,
    /// Whether the frame has all its samples.
    pub frame_complete: bool,
    /// Wall time of the step.
    pub wall: Duration,
}

/// A progressive renderer: owns the film and the progress through the passes.
#[derive(Debug)]
pub struct Renderer {
    graph: Graph,
    film: Film,
    pass: u32,
    pending: Vec<Tile>,
    sizer: StepSizer,
    settings: Option<RenderSettings>,
    starved: bool,
}

impl Renderer {
    /// A renderer whose tiles run on `pool`.
    #[must_use]
    pub fn new(pool: Arc<Pool>) -> Self {
        Self {
            graph: Graph::new(pool, GraphConfig::named("render")),
            film: Film::new(0, 0),
            pass: 0,
            pending: Vec::new(),
            sizer: StepSizer::new(Duration::from_millis(16), 1, usize::MAX),
            settings: None,
            starved: false,
        }
    }

    /// The film.
    #[must_use]
    pub fn film(&self) -> &Film {
        &self.film
    }

    /// Starts over (a new film), for `snapshot`'s settings.
    pub fn reset(&mut self, snapshot: &Snapshot) {
        let s = snapshot.settings;
        self.film = Film::new(s.width, s.height);
        self.pass = 0;
        self.settings = Some(s);
        self.pending = TileGrid::new(s.width, s.height, s.tile.0, s.tile.1).tiles(s.order);
    }

    /// Renders as many tiles as fit in `budget` and commits those that finish;
    /// cancelling `token` stops it at the next row. A step after one that finished no
    /// tile finishes exactly one, however long it takes, so repeated steps always
    /// complete the frame.
    ///
    /// # Errors
    /// The scheduler's error if the renderer's graph is already running.
    pub fn render_step(
        &mut self,
        snapshot: &Snapshot,
        budget: Duration,
        token: &CancelToken,
    ) -> Result<StepReport, scheduler::GraphError> {
        if self.settings != Some(snapshot.settings) {
            self.reset(snapshot);
        }
        let s = snapshot.settings;
        let started = Instant::now();
        let mut report = StepReport {
            tiles_done: 0,
            tiles_discarded: 0,
            samples: 0,
            outcome: RunOutcome::Completed,
            passes_done: self.pass,
            frame_complete: self.pass >= s.spp,
            wall: Duration::ZERO,
        };
        if self.pass >= s.spp {
            return Ok(report);
        }
        self.sizer.set_target(budget);
        let take = self.sizer.next_batch().min(self.pending.len());
        let batch: Vec<Tile> = self.pending[..take].to_vec();
        let pass = self.pass;
        // Progress is guaranteed: after a step that committed nothing (a tile longer
        // than the budget), the next step finishes one tile whatever its cost.
        let limits = if self.starved {
            Budget::unlimited().with_max_items(1)
        } else {
            Budget::within(budget)
        };
        let run = self.graph.run(token, limits, |frame| {
            frame.stage("integrate+shade").run(&batch, |ctx, tile| {
                let mut stop = || ctx.interrupted().is_some();
                match snapshot.render_tile(*tile, pass, &mut stop) {
                    Some(film) => Outcome::Done(film),
                    None => ctx.interrupted().map_or(Outcome::Cancelled, Outcome::from),
                }
            })
        })?;
        let out = run.value;
        let mut done = vec![false; batch.len()];
        for (k, film) in out.results.iter().enumerate() {
            if let Some(film) = film {
                self.film.commit(film);
                done[k] = true;
                report.tiles_done += 1;
                report.samples += u64::from(film.tile().pixels());
            }
        }
        report.tiles_discarded = (out.counts.cancelled + out.counts.over_budget) as u32;
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

    /// Renders the whole frame (all passes), step after step.
    ///
    /// # Errors
    /// As [`Renderer::render_step`].
    pub fn render_all(&mut self, snapshot: &Snapshot) -> Result<(), scheduler::GraphError> {
        self.reset(snapshot);
        let token = CancelToken::new();
        while !self
            .render_step(snapshot, Duration::from_millis(250), &token)?
            .frame_complete
        {}
        Ok(())
    }
}
