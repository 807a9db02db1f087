//! Stages 3-6 on the CPU: tiles of the current pass run on the pool, as many as the
//! [`StepSizer`] expects to fit the budget; each integrates its camera rays, shades
//! them and writes its own buffer (stages 3-5, fused per tile), stopping at the next
//! pixel when cancelled; present commits the finished tiles whole to the film.

use std::sync::Arc;
use std::time::{Duration, Instant};

use scheduler::order::{Tile, TileGrid};
use scheduler::{Budget, Graph, Outcome, StepSizer};

use super::backend::{TileBackend, TileJob};
use super::graph::StepError;
use super::prepare::{Prepared, ReadyScene};
use super::report::{StepReport, counter, stage};
use super::snapshot::{RenderSettings, Snapshot};
use crate::film::TileFilm;
use crate::lights::TraceStats;
use crate::path::PathContext;
use crate::rng::Sampler;
use crate::trace::RayMemo;

/// The CPU backend: the tiles left in the current pass and the step sizer.
#[derive(Debug)]
pub(crate) struct CpuTiles {
    pending: Vec<Tile>,
    sizer: StepSizer,
    /// The last step committed no tile (one tile takes longer than the budget): the
    /// next finishes one whatever it costs.
    starved: bool,
}

impl CpuTiles {
    /// A backend whose steps start at least `min_batch` tiles (one per worker).
    pub(super) fn new(min_batch: usize) -> Self {
        Self {
            pending: Vec::new(),
            sizer: StepSizer::new(Duration::from_millis(16), min_batch, usize::MAX),
            starved: false,
        }
    }
}

/// Every tile of a pass, in the settings' order.
fn pass_tiles(s: &RenderSettings) -> Vec<Tile> {
    TileGrid::new(s.width, s.height, s.tile.0, s.tile.1).tiles(s.order)
}

impl TileBackend for CpuTiles {
    fn restart(&mut self, snapshot: &Snapshot) {
        // `starved` survives: a host whose scene changes every frame still gets a
        // tile per step when its budget is shorter than one tile.
        self.pending = pass_tiles(&snapshot.settings);
    }

    fn upload(
        &mut self,
        _graph: &Graph,
        _prepared: &Arc<Prepared>,
        _report: &mut StepReport,
    ) -> Result<(), StepError> {
        // The tiles read the prepared scene where it is.
        Ok(())
    }

    fn tiles(&mut self, job: TileJob<'_>, report: &mut StepReport) -> Result<bool, StepError> {
        let started = Instant::now();
        let TileJob {
            graph,
            prepared,
            snapshot,
            pass,
            budget,
            token,
            film,
            whole,
        } = job;
        self.sizer.set_target(budget.max(Duration::from_micros(1)));
        let take = self.sizer.next_batch().min(self.pending.len());
        let batch = &self.pending[..take];
        // Progress is guaranteed: after a step that committed nothing (a tile longer
        // than the budget), the next step finishes one tile whatever its cost. An
        // offline step finishes every tile of its batch: nothing is discarded.
        let limits = if whole {
            Budget::unlimited()
        } else if self.starved {
            Budget::unlimited().with_max_items(1)
        } else {
            Budget::within(budget)
        };
        let run = graph.run(token, limits, |frame| {
            let out = frame.stage(stage::TILES).run(batch, |ctx, tile| {
                let mut stats = TraceStats::default();
                let mut stop = || ctx.interrupted().is_some();
                let rendered = render_tile(prepared, snapshot, *tile, pass, &mut stop, &mut stats);
                ctx.count(counter::RAYS, stats.rays);
                ctx.count(counter::SEGMENTS, stats.segments);
                ctx.count(counter::SUBDIVISIONS, stats.subdivisions);
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
        report.add_run(&run.summary, run.trace());
        let (done, samples, counts) = run.value;
        report.tiles_done = done.iter().filter(|&&d| d).count() as u32;
        report.samples = samples;
        report.tiles_discarded = (counts.cancelled + counts.over_budget) as u32;
        report.rays = run.summary.counters.get(counter::RAYS);
        report.segments = run.summary.counters.get(counter::SEGMENTS);
        report.subdivisions = run.summary.counters.get(counter::SUBDIVISIONS);
        report.outcome = run.outcome;
        let mut k = 0;
        self.pending.retain(|_| {
            let keep = k >= done.len() || !done[k];
            k += 1;
            keep
        });
        self.sizer
            .record(report.tiles_done as usize, started.elapsed());
        self.starved = report.tiles_done == 0 && !token.is_cancelled();
        let pass_done = self.pending.is_empty();
        if pass_done {
            self.pending = pass_tiles(&snapshot.settings);
        }
        Ok(pass_done)
    }

    fn adopt(&mut self, _ready: &ReadyScene) {}

    fn forget(&mut self) {}
}

/// Stages 3-5 for one tile: sample `sample` of every pixel of `tile`, checking `stop`
/// before each pixel (`None` when it said stop).
fn render_tile(
    prepared: &Prepared,
    snapshot: &Snapshot,
    tile: Tile,
    sample: u32,
    stop: &mut impl FnMut() -> bool,
    stats: &mut TraceStats,
) -> Option<TileFilm> {
    let s = &snapshot.settings;
    let ctx = PathContext {
        scene: &prepared.scene,
        tracer: &prepared.tracer,
        emitters: &prepared.emitters,
        max_bounces: s.max_bounces,
        seed: s.seed,
        memo: None,
    };
    let mut film = [TileFilm::new(tile)];
    let done = add_samples(
        &mut film,
        std::slice::from_ref(&ctx),
        None,
        snapshot,
        sample,
        stop,
        stats,
    );
    let [film] = film;
    done.then_some(film)
}

/// Adds sample `sample` of every pixel of the films' tile (one film per context,
/// all of one tile) through each context to its film, checking `stop` before each
/// pixel (false when it said stop). Each pixel's samples are taken one context after
/// the other, `memo` (the one the contexts ask, if any) forgotten before each pixel:
/// what the contexts share stays in a few cache lines.
pub(super) fn add_samples(
    films: &mut [TileFilm],
    ctxs: &[PathContext<'_>],
    memo: Option<&RayMemo>,
    snapshot: &Snapshot,
    sample: u32,
    stop: &mut impl FnMut() -> bool,
    stats: &mut TraceStats,
) -> bool {
    let s = &snapshot.settings;
    let Some(tile) = films.first().map(TileFilm::tile) else {
        return true;
    };
    let cone = snapshot.camera.pixel_cone();
    for y in tile.y0..tile.y1 {
        for x in tile.x0..tile.x1 {
            // A safe point per pixel: a pixel is microseconds, a row can be a
            // millisecond of curved rays.
            if stop() {
                return false;
            }
            let pixel = y * s.width + x;
            let mut rng = Sampler::new(pixel, sample, 0, s.seed);
            let (jx, jy) = (rng.next_f64(), rng.next_f64());
            let ray = snapshot.camera.photon(f64::from(x) + jx, f64::from(y) + jy);
            if let Some(m) = memo {
                m.clear();
            }
            for (ctx, film) in ctxs.iter().zip(films.iter_mut()) {
                film.add(x, y, &ctx.sample(pixel, sample, &ray, cone, stats));
            }
        }
    }
    true
}
