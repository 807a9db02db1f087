//! Trace once, shade many: variations of one scene's materials, lights and
//! environment over the same geometry and camera, rendered together. Each tile's
//! pass renders every variation in turn through one [`RayMemo`]: the rays the
//! variations share (camera and bounce rays, whose paths do not depend on colours;
//! shadow rays towards lights that did not move) are traced once and answered from
//! memory after. Every variation's image is bit-identical to rendering it alone: the
//! same samples, the same random numbers, and answers that tracing again would give.

use std::sync::Arc;

use scheduler::order::TileGrid;
use scheduler::{Budget, CancelToken, Outcome};

use super::cpu::add_samples;
use super::graph::StepError;
use super::renderer::Renderer;
use super::report::{StepReport, counter};
use super::snapshot::Snapshot;
use crate::film::{Film, TileFilm};
use crate::lights::{Emitters, TraceStats};
use crate::path::PathContext;
use crate::scene::Scene;
use crate::trace::RayMemo;

/// Why a sweep could not render.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SweepError {
    /// A variation's geometry differs from the snapshot's scene.
    #[error(
        "variation {0} changes the geometry (instances, meshes, fields or tolerances) of the sweep's scene: only materials, lights and the environment may vary"
    )]
    Geometry(usize),
    /// The renderer's graph failed, or the sweep was cancelled.
    #[error(transparent)]
    Step(#[from] StepError),
}

/// A finished sweep: one film per variation, and how many rays were traced and
/// answered from memory.
#[derive(Debug, Clone)]
pub struct SweepReport {
    /// The variations' films, in order.
    pub films: Vec<Film>,
    /// Rays traced.
    pub rays: u64,
    /// Rays answered from memory (asked again by a later variation).
    pub remembered: u64,
}

impl Renderer {
    /// Renders every sample of `base` (its camera and settings) for each of
    /// `variations` (scenes with `base`'s geometry: [`Scene::same_geometry`]) on the
    /// CPU pool, tracing the rays they share once. Each film equals the one a
    /// render of that variation alone would make, bit for bit.
    ///
    /// # Errors
    /// [`SweepError::Geometry`] for a variation whose geometry differs;
    /// [`SweepError::Step`] when the graph fails or `token` is cancelled
    /// ([`StepError::Incomplete`]).
    pub fn render_sweep(
        &mut self,
        base: &Snapshot,
        variations: &[Arc<Scene>],
        token: &CancelToken,
    ) -> Result<SweepReport, SweepError> {
        if let Some(k) = variations.iter().position(|v| !base.scene.same_geometry(v)) {
            return Err(SweepError::Geometry(k));
        }
        let mut report = StepReport::blank(0, 0);
        let prepared = self
            .caches
            .prepare(&self.graph, &base.scene, &mut report)
            .map_err(StepError::from)?;
        let emitters: Vec<Emitters> = variations.iter().map(|v| Emitters::new(v)).collect();
        let s = base.settings;
        let tiles = TileGrid::new(s.width, s.height, s.tile.0, s.tile.1).tiles(s.order);
        let mut films: Vec<Film> = variations
            .iter()
            .map(|_| Film::new(s.width, s.height))
            .collect();
        // One task per tile renders all its passes for every variation (each
        // pixel's sample for every variation in turn, sharing the memo), so its films
        // hold whole sums, committed once.
        let run = self
            .graph
            .run(token, Budget::unlimited(), |frame| {
                frame
                    .stage("sweep")
                    .run(&tiles, |ctx, &tile| {
                        let memo = RayMemo::default();
                        let mut stats = TraceStats::default();
                        let mut stop = || ctx.interrupted().is_some();
                        let mut out: Vec<TileFilm> =
                            variations.iter().map(|_| TileFilm::new(tile)).collect();
                        let paths: Vec<PathContext<'_>> = variations
                            .iter()
                            .zip(&emitters)
                            .map(|(scene, emitters)| PathContext {
                                scene,
                                tracer: &prepared.tracer,
                                emitters,
                                max_bounces: s.max_bounces,
                                seed: s.seed,
                                memo: Some(&memo),
                            })
                            .collect();
                        for pass in 0..s.spp {
                            if !add_samples(
                                &mut out,
                                &paths,
                                Some(&memo),
                                base,
                                pass,
                                &mut stop,
                                &mut stats,
                            ) {
                                return Outcome::Cancelled;
                            }
                        }
                        ctx.count(counter::RAYS, stats.rays);
                        ctx.count("remembered", stats.remembered);
                        Outcome::Done(out)
                    })
                    .results
            })
            .map_err(StepError::from)?;
        let rays = run.summary.counters.get(counter::RAYS);
        let remembered = run.summary.counters.get("remembered");
        for tile in run.value {
            let tile = tile.ok_or(StepError::Incomplete("sweep"))?;
            for (film, t) in films.iter_mut().zip(&tile) {
                film.commit(t);
            }
        }
        Ok(SweepReport {
            films,
            rays,
            remembered,
        })
    }
}

#[cfg(test)]
mod tests {
    use scheduler::order::Order;
    use scheduler::{Pool, PoolConfig};

    use super::*;
    use crate::frame::RenderSettings;

    /// The lens scene with a lamp, in one variation of its materials, lights and sky.
    fn variation(wall: &str, lamp: f32, light: &str, sky: &str) -> Arc<Scene> {
        let text = format!(
            r#"(
                materials: [
                    (name: "wall", kind: {wall}),
                    (name: "lamp", kind: Diffuse(colour: (0.5, 0.5, 0.5), emission: ({lamp}, {lamp}, {lamp}))),
                    (name: "glass", kind: Dielectric(ior: 1.5)),
                ],
                lights: [{light}],
                environment: {sky},
                camera: Some((position: (-6.0, 0.3, 0.0), look_at: (0.0, 0.0, 0.0), fov_deg: 35.0)),
                meshes: [
                    (name: "wall", source: Box(min: (3.0, -3.0, -3.0), max: (3.2, 3.0, 3.0))),
                    (name: "lamp", source: Box(min: (1.5, 1.2, -0.3), max: (1.8, 1.5, 0.3))),
                    (name: "ball", source: Sphere(radius: 0.3)),
                ],
                instances: [
                    (mesh: "wall", material: Some("wall")),
                    (mesh: "lamp", material: Some("lamp")),
                    (mesh: "ball", material: Some("glass"), translate: (1.5, -1.0, 0.5)),
                ],
                fields: [Luneburg(centre: (0.0, 0.0, 0.0), radius: 1.0)],
            )"#
        );
        Arc::new(Scene::from_str(&text, "sweep.ron".as_ref()).unwrap())
    }

    /// Every film of a sweep equals rendering its variation alone (on another thread
    /// count and tile order), bit for bit, and the variations share most rays.
    #[test]
    fn a_sweep_renders_each_variation_as_rendering_it_alone_would() {
        let checker = "Checker(a: (0.9, 0.9, 0.9), b: (0.1, 0.15, 0.3), scale: 2.0)";
        let sun = "Directional(direction: (0.5, -0.7, 0.4), irradiance: (2.0, 2.0, 2.0))";
        let variations = vec![
            variation(
                checker,
                4.0,
                sun,
                "GradientSky(horizon: (0.8, 0.85, 0.9), zenith: (0.2, 0.35, 0.7))",
            ),
            // Colours only: the same rays.
            variation(
                "Diffuse(colour: (0.3, 0.6, 0.2))",
                4.0,
                sun,
                "GradientSky(horizon: (0.8, 0.85, 0.9), zenith: (0.2, 0.35, 0.7))",
            ),
            // A brighter lamp (emitter sampling changes) and another sun direction.
            variation(
                checker,
                9.0,
                "Directional(direction: (-0.3, -0.8, 0.5), irradiance: (3.0, 2.0, 1.0))",
                "GradientSky(horizon: (0.8, 0.85, 0.9), zenith: (0.2, 0.35, 0.7))",
            ),
            // A point light and another sky.
            variation(
                checker,
                4.0,
                "Point(position: (-2.0, 2.0, 1.0), intensity: (5.0, 5.0, 5.0))",
                "Constant((0.3, 0.2, 0.1))",
            ),
        ];
        let settings = RenderSettings {
            width: 40,
            height: 30,
            spp: 3,
            max_bounces: 3,
            ..RenderSettings::default()
        };
        let base = Snapshot::new(Arc::clone(&variations[0]), settings).unwrap();
        let pool = |n| Arc::new(Pool::new(PoolConfig::with_threads(n)).unwrap());
        let sweep = Renderer::new(pool(2))
            .render_sweep(&base, &variations, &CancelToken::new())
            .unwrap();
        assert_eq!(sweep.films.len(), variations.len());
        for (k, v) in variations.iter().enumerate() {
            let alone = Snapshot::new(
                Arc::clone(v),
                RenderSettings {
                    order: Order::Scanline,
                    tile: (8, 8),
                    ..settings
                },
            )
            .unwrap();
            let mut r = Renderer::new(pool(1));
            while !r
                .render_step_whole(
                    &alone,
                    std::time::Duration::from_millis(50),
                    &CancelToken::new(),
                )
                .unwrap()
                .frame_complete
            {}
            assert!(
                r.film() == &sweep.films[k],
                "variation {k} differs from rendering it alone"
            );
        }
        assert!(
            sweep.remembered > sweep.rays,
            "{} rays traced, {} remembered",
            sweep.rays,
            sweep.remembered
        );
    }

    #[test]
    fn a_variation_that_moves_geometry_is_refused() {
        let checker = "Checker(a: (0.9, 0.9, 0.9), b: (0.1, 0.15, 0.3), scale: 2.0)";
        let sun = "Directional(direction: (0.5, -0.7, 0.4), irradiance: (2.0, 2.0, 2.0))";
        let sky = "Constant((0.3, 0.2, 0.1))";
        let a = variation(checker, 4.0, sun, sky);
        let mut moved = a.edit();
        moved
            .set_transform(2, glam::Affine3A::from_translation(glam::Vec3::X))
            .unwrap();
        let b = Arc::new(moved.build().unwrap());
        let base = Snapshot::new(Arc::clone(&a), RenderSettings::default()).unwrap();
        let pool = Arc::new(Pool::new(PoolConfig::with_threads(1)).unwrap());
        let err = Renderer::new(pool)
            .render_sweep(&base, &[a, b], &CancelToken::new())
            .unwrap_err();
        assert!(matches!(err, SweepError::Geometry(1)), "{err}");
    }
}
