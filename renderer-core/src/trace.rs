//! Tracing one curved ray through a whole scene: the integrator's segments tested
//! against the TLAS as they are made, stopping at the first hit.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use glam::DVec3;
use serde::Serialize;

use crate::accel::{BlasCache, Instance, Ray, Tlas};
use crate::field::Root;
use crate::integrator::{
    Integrator, RayCone, Segment, StopSurface, Termination, TraceResult, Verdict,
};
use crate::scene::Scene;

/// A scene ready for tracing: its integrator and its acceleration structures.
#[derive(Debug)]
pub struct SceneTracer {
    integrator: Integrator,
    tlas: Arc<Tlas>,
    /// The fields' region, when no geometry lies in it: segments inside it cannot
    /// hit anything and skip the TLAS (a lens in front of a wall, a black hole
    /// before a star field).
    clear: Option<crate::field::Aabb>,
}

/// Soft-gate attempts shared by all the rays of one frame (the per-frame budget; the
/// per-ray budget is [`Tolerances::soft_gate_attempts`](crate::integrator::Tolerances)).
#[derive(Debug)]
pub struct GateBudget {
    left: AtomicU64,
    used: AtomicU64,
}

impl GateBudget {
    /// A budget of `attempts` subdivisions.
    #[must_use]
    pub fn new(attempts: u64) -> Self {
        Self {
            left: AtomicU64::new(attempts),
            used: AtomicU64::new(0),
        }
    }

    /// No limit beyond each ray's own.
    #[must_use]
    pub fn unlimited() -> Self {
        Self::new(u64::MAX)
    }

    /// Takes one attempt, if any is left.
    pub fn take(&self) -> bool {
        let ok = self
            .left
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok();
        if ok {
            self.used.fetch_add(1, Ordering::Relaxed);
        }
        ok
    }

    /// Attempts taken so far (for telemetry).
    #[must_use]
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }
}

/// Where a ray hit geometry.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SurfaceHit {
    /// World position.
    pub position: DVec3,
    /// Instance index.
    pub instance: u32,
    /// Triangle index within the instance's mesh.
    pub triangle: u32,
    /// Index of the segment that hit.
    pub segment: u32,
    /// Unit geometric normal (world space, not flipped towards the ray).
    pub normal: DVec3,
    /// Barycentric coordinates (u, v) of the hit on its triangle.
    pub barycentric: [f32; 2],
}

/// A traced ray: the integrator's result, the hit if any, and (on request) the path.
#[derive(Debug, Clone, Serialize)]
pub struct RayReport {
    /// The integrator's end state (position is the hit point on a hit).
    pub result: TraceResult,
    /// The hit, if the ray ended on geometry.
    pub hit: Option<SurfaceHit>,
    /// The segments' end points, starting at the origin (empty unless asked for).
    pub path: Vec<DVec3>,
    /// Geometric length of the path, to the hit if there is one.
    pub path_length: f64,
}

impl SceneTracer {
    /// Builds the integrator and the BLASes (through `cache`) and TLAS of `scene`.
    #[must_use]
    pub fn new(scene: &Scene, cache: &BlasCache) -> Self {
        let blases: Vec<_> = scene.meshes.iter().map(|m| cache.get(m)).collect();
        let integrator = Integrator::new(scene.medium.clone(), scene.tolerances);
        Self::from_parts(scene, &blases, integrator)
    }

    /// A tracer from parts built elsewhere: one BLAS per mesh of `scene` (in its
    /// order) and an integrator for its medium. Builds the TLAS.
    #[must_use]
    pub fn from_parts(
        scene: &Scene,
        blases: &[Arc<crate::accel::Blas>],
        integrator: Integrator,
    ) -> Self {
        let instances = scene
            .instances
            .iter()
            .map(|inst| Instance {
                blas: Arc::clone(&blases[inst.mesh]),
                transform: inst.transform,
            })
            .collect();
        let tlas = Arc::new(Tlas::build(instances));
        let integrator = integrator.with_geometry(Arc::clone(&tlas));
        Self {
            clear: integrator.clear_region(),
            integrator,
            tlas,
        }
    }

    /// Like [`SceneTracer::new`], with the BLASes built in parallel as a stage of a
    /// frame on `graph` (one task per mesh; cached meshes cost a lookup), and the TLAS
    /// and integrator built in a serial stage after the barrier.
    ///
    /// # Errors
    /// The graph's error if it is already running or called from its own worker.
    pub fn build_on(
        scene: &Scene,
        cache: &BlasCache,
        graph: &scheduler::Graph,
    ) -> Result<Self, scheduler::GraphError> {
        let report = graph.run(
            &scheduler::CancelToken::new(),
            scheduler::Budget::unlimited(),
            |frame| {
                let blases = frame.stage("blas").run(&scene.meshes, |_, mesh| {
                    scheduler::Outcome::Done(cache.get(mesh))
                });
                frame.serial("tlas", |_| {
                    let blases: Vec<_> = blases.results.into_iter().flatten().collect();
                    let integrator = Integrator::new(scene.medium.clone(), scene.tolerances);
                    Self::from_parts(scene, &blases, integrator)
                })
            },
        )?;
        Ok(report.value)
    }

    /// The top-level structure.
    pub(crate) fn tlas(&self) -> &Tlas {
        &self.tlas
    }

    /// The integrator.
    #[must_use]
    pub fn integrator(&self) -> &Integrator {
        &self.integrator
    }

    /// Tests one segment against the scene.
    #[must_use]
    pub fn intersect_segment(&self, seg: &Segment) -> Option<crate::accel::Hit> {
        self.tlas.intersect(&segment_ray(seg))
    }

    /// Whether the segment meets any triangle (any hit, for shadow rays).
    #[must_use]
    pub fn segment_occluded(&self, seg: &Segment) -> bool {
        self.tlas.occluded(&segment_ray(seg))
    }
}

/// The smallest distance from its start at which a ray's first segment takes a hit,
/// relative to `1 + |start|` (max norm); the shaders' `SEGMENT_START_EPS`.
pub const SEGMENT_START_EPS: f64 = 1e-7;

/// The f32 ray of a segment, parametrised over [0, 1].
fn segment_ray(seg: &Segment) -> Ray {
    let d = seg.end - seg.start;
    // The smallest accepted distance is absolute (scaled by the start's magnitude,
    // for f32 rounding), not a fraction of the segment: a straight flight's one
    // segment is `far` long.
    let eps = SEGMENT_START_EPS * (1.0 + seg.start.abs().max_element());
    // Only a ray's first segment starts on a surface and keeps that distance.
    let len = d.length().max(1e-300);
    // A later segment also takes hits up to that margin behind its start, and every
    // segment up to a margin past its end: where a path meets a surface at a joint
    // (a field region whose boundary is the ground ends its chords on it), the
    // surface's t is then inside one of the two segments' ranges whatever its
    // rounding (a straight flight that starts 1e-12 above the ground computed its
    // t = 1e-19 as slightly negative, and the ray passed through).
    let eps_end = SEGMENT_START_EPS * (1.0 + seg.end.abs().max_element());
    let t_min = if seg.index == 0 {
        eps / len
    } else {
        -eps / len
    };
    Ray {
        origin: seg.start.as_vec3(),
        dir: d.as_vec3(),
        t_min: t_min as f32,
        t_max: (1.0 + eps_end / len) as f32,
    }
}

impl SceneTracer {
    /// Whether the segment, with its deviation envelope, lies where no geometry
    /// is (see [`SceneTracer::clear`]).
    fn in_clear(&self, seg: &Segment) -> bool {
        self.clear.is_some_and(|b| {
            let r = DVec3::splat(seg.deviation);
            b.contains(seg.start.min(seg.end) - r) && b.contains(seg.start.max(seg.end) + r)
        })
    }

    /// Whether the segment's deviation envelope may meet a triangle (see
    /// [`crate::accel::Tlas::envelope_overlaps`]): a miss of such a segment is
    /// uncertain.
    #[must_use]
    pub fn envelope_overlaps(&self, seg: &Segment) -> bool {
        self.tlas
            .envelope_overlaps(seg.start, seg.end, seg.deviation)
    }

    /// Traces a ray from `origin` along `direction`, until a hit, `stop`, or the
    /// ray's own end; `with_path` records the segment end points.
    #[must_use]
    pub fn trace(
        &self,
        origin: DVec3,
        direction: DVec3,
        stop: Option<StopSurface>,
        with_path: bool,
    ) -> RayReport {
        self.trace_within(origin, direction, stop, with_path, &GateBudget::unlimited())
    }

    /// Like [`SceneTracer::trace`], for a ray that stands for the beam `cone`: the
    /// integrator needs its path only to a fraction of the beam's width (see
    /// [`RayCone`]). The renderer traces every ray this way.
    #[must_use]
    pub fn trace_cone(
        &self,
        origin: DVec3,
        direction: DVec3,
        cone: RayCone,
        stop: Option<StopSurface>,
        with_path: bool,
    ) -> RayReport {
        self.trace_rooted(origin, direction, Root::Near, cone, stop, with_path)
    }

    /// [`SceneTracer::trace_cone`] for a ray whose momentum, where it starts in a
    /// Kerr hole's ergosphere, is the `root` one of the two with its direction (a
    /// camera's ray: [`crate::camera::Camera::photon`]).
    #[must_use]
    pub fn trace_rooted(
        &self,
        origin: DVec3,
        direction: DVec3,
        root: Root,
        cone: RayCone,
        stop: Option<StopSurface>,
        with_path: bool,
    ) -> RayReport {
        self.trace_full(
            origin,
            direction,
            root,
            cone,
            stop,
            with_path,
            &GateBudget::unlimited(),
        )
    }

    /// Whether a shadow ray from `origin` along `direction` is blocked before
    /// `stop` or its own end (any hit, not the nearest: cheaper than
    /// [`SceneTracer::trace`]), for the beam `cone` ([`RayCone::EXACT`]: the scene's
    /// tolerances). The report's `hit` is `None`; its termination is
    /// [`Termination::Hit`] when blocked, and its direction is the ray's final one.
    #[must_use]
    pub fn trace_shadow(
        &self,
        origin: DVec3,
        direction: DVec3,
        cone: RayCone,
        stop: Option<StopSurface>,
    ) -> RayReport {
        let mut ray_left = self.integrator.tolerances().soft_gate_attempts;
        let mut result = self
            .integrator
            .trace_cone(origin, direction, cone, stop, |seg| {
                if self.in_clear(seg) {
                    return Verdict::Continue;
                }
                if self.segment_occluded(seg) {
                    return Verdict::Hit;
                }
                if seg.deviation > 0.0 && ray_left > 0 && self.envelope_overlaps(seg) {
                    ray_left -= 1;
                    return Verdict::Uncertain;
                }
                Verdict::Continue
            });
        if result.termination == Termination::Hit {
            result.position = origin;
        }
        RayReport {
            result,
            hit: None,
            path: Vec::new(),
            path_length: 0.0,
        }
    }

    /// Like [`SceneTracer::trace`], drawing soft-gate subdivisions from a frame's
    /// shared `budget` as well as from the ray's own.
    #[must_use]
    pub fn trace_within(
        &self,
        origin: DVec3,
        direction: DVec3,
        stop: Option<StopSurface>,
        with_path: bool,
        budget: &GateBudget,
    ) -> RayReport {
        self.trace_full(
            origin,
            direction,
            Root::Near,
            RayCone::EXACT,
            stop,
            with_path,
            budget,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn trace_full(
        &self,
        origin: DVec3,
        direction: DVec3,
        root: Root,
        cone: RayCone,
        stop: Option<StopSurface>,
        with_path: bool,
        budget: &GateBudget,
    ) -> RayReport {
        let mut hit = None;
        let mut unused = 0.0;
        let mut ray_left = self.integrator.tolerances().soft_gate_attempts;
        let mut length = 0.0;
        let mut path = if with_path { vec![origin] } else { Vec::new() };
        let mut result = self
            .integrator
            .trace_rooted(origin, direction, root, cone, stop, |seg| {
                if self.in_clear(seg) {
                    if with_path {
                        path.push(seg.end);
                    }
                    length += seg.length();
                    return Verdict::Continue;
                }
                if let Some(h) = self.intersect_segment(seg) {
                    let t = f64::from(h.t);
                    let position = seg.start + (seg.end - seg.start) * t;
                    length += seg.length() * t;
                    // The integrator counted the whole segment's optical path.
                    unused = self.integrator.medium().index(position).0 * (1.0 - t) * seg.length();
                    if with_path {
                        path.push(position);
                    }
                    hit = Some(SurfaceHit {
                        position,
                        instance: h.instance,
                        triangle: h.triangle,
                        segment: seg.index,
                        normal: h.normal.as_dvec3(),
                        barycentric: [h.u, h.v],
                    });
                    return Verdict::Hit;
                }
                // Draw from the frame's budget only while the ray's own budget lasts, so
                // the frame is charged exactly for the subdivisions the integrator makes.
                if seg.deviation > 0.0
                    && ray_left > 0
                    && self.envelope_overlaps(seg)
                    && budget.take()
                {
                    ray_left -= 1;
                    return Verdict::Uncertain;
                }
                if with_path {
                    path.push(seg.end);
                }
                length += seg.length();
                Verdict::Continue
            });
        if let Some(h) = hit {
            result.position = h.position;
            result.termination = Termination::Hit;
            result.optical_path -= unused;
        }
        RayReport {
            result,
            hit,
            path,
            path_length: length,
        }
    }
}

/// Ray queries remembered by their exact inputs (the bits of origin, direction, beam
/// and stop surface), for renders that ask the same questions again: several
/// variations of one scene's lights and materials over the same geometry trace the
/// same camera and bounce rays, and the same shadow rays towards lights that did not
/// move. Tracing is deterministic, so a remembered answer is the one tracing again
/// would give, bit for bit.
///
/// Its user keeps it to one pixel's sample (cleared before each), whose variations
/// ask mostly the same questions in the same order: answers are a list searched from
/// just after the last one found, so a repeated sequence costs one key comparison a
/// ray (a hash map of a tile's rays cost a fifth of a sweep's time).
#[derive(Debug, Default)]
pub(crate) struct RayMemo {
    answers: std::cell::RefCell<Vec<([u64; 16], RayReport)>>,
    /// Where the next question probably is.
    next: std::cell::Cell<usize>,
}

impl RayMemo {
    /// Forgets every answer (the next pixel asks other questions).
    pub(crate) fn clear(&self) {
        self.answers.borrow_mut().clear();
        self.next.set(0);
    }

    /// The remembered answer to `key`, or `trace`'s (remembered, and counted in
    /// `stats`).
    fn get_or(
        &self,
        key: [u64; 16],
        stats: &mut crate::lights::TraceStats,
        trace: impl FnOnce() -> RayReport,
    ) -> RayReport {
        {
            let answers = self.answers.borrow();
            let n = answers.len();
            let start = self.next.get().min(n);
            if let Some(i) = (start..n).chain(0..start).find(|&i| answers[i].0 == key) {
                self.next.set(i + 1);
                stats.remembered += 1;
                return answers[i].1.clone();
            }
        }
        let r = trace();
        stats.add(&r);
        let mut answers = self.answers.borrow_mut();
        answers.push((key, r.clone()));
        self.next.set(answers.len());
        r
    }
}

/// A query's key: its kind, then the bits of its inputs.
fn memo_key(
    kind: u64,
    origin: DVec3,
    direction: DVec3,
    cone: RayCone,
    stop: Option<StopSurface>,
) -> [u64; 16] {
    let mut k = [0u64; 16];
    k[0] = kind;
    for (i, v) in [origin, direction].iter().enumerate() {
        for c in 0..3 {
            k[1 + 3 * i + c] = v[c].to_bits();
        }
    }
    k[7] = cone.width.to_bits();
    k[8] = cone.spread.to_bits();
    let (tag, a, b) = match stop {
        None => (0, DVec3::ZERO, DVec3::ZERO),
        Some(StopSurface::Plane { point, normal }) => (1, point, normal),
        Some(StopSurface::Sphere { centre, radius }) => (2, centre, DVec3::splat(radius)),
    };
    k[9] = tag;
    for c in 0..3 {
        k[10 + c] = a[c].to_bits();
        k[13 + c] = b[c].to_bits();
    }
    k
}

/// How a sample's rays are traced: by the tracer, or through a [`RayMemo`] that
/// answers repeated questions from memory.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tracing<'a> {
    pub(crate) tracer: &'a SceneTracer,
    pub(crate) memo: Option<&'a RayMemo>,
}

impl<'a> From<&'a SceneTracer> for Tracing<'a> {
    fn from(tracer: &'a SceneTracer) -> Self {
        Self { tracer, memo: None }
    }
}

impl Tracing<'_> {
    /// The integrator.
    pub(crate) fn integrator(&self) -> &Integrator {
        self.tracer.integrator()
    }

    /// [`SceneTracer::trace_cone`] without the path; counted in `stats` when traced.
    pub(crate) fn trace_cone(
        &self,
        origin: DVec3,
        direction: DVec3,
        cone: RayCone,
        stop: Option<StopSurface>,
        stats: &mut crate::lights::TraceStats,
    ) -> RayReport {
        self.trace_rooted(origin, direction, Root::Near, cone, stop, stats)
    }

    /// [`SceneTracer::trace_rooted`] without the path; counted in `stats` when
    /// traced.
    pub(crate) fn trace_rooted(
        &self,
        origin: DVec3,
        direction: DVec3,
        root: Root,
        cone: RayCone,
        stop: Option<StopSurface>,
        stats: &mut crate::lights::TraceStats,
    ) -> RayReport {
        let kind = match root {
            Root::Near => 0,
            _ => 2,
        };
        self.ask(memo_key(kind, origin, direction, cone, stop), stats, || {
            self.tracer
                .trace_rooted(origin, direction, root, cone, stop, false)
        })
    }

    /// [`SceneTracer::trace_shadow`]; counted in `stats` when traced.
    pub(crate) fn trace_shadow(
        &self,
        origin: DVec3,
        direction: DVec3,
        cone: RayCone,
        stop: Option<StopSurface>,
        stats: &mut crate::lights::TraceStats,
    ) -> RayReport {
        self.ask(memo_key(1, origin, direction, cone, stop), stats, || {
            self.tracer.trace_shadow(origin, direction, cone, stop)
        })
    }

    /// `trace`'s answer, from the memo when there is one (`key` names the question).
    fn ask(
        &self,
        key: [u64; 16],
        stats: &mut crate::lights::TraceStats,
        trace: impl FnOnce() -> RayReport,
    ) -> RayReport {
        match self.memo {
            Some(m) => m.get_or(key, stats, trace),
            None => {
                let r = trace();
                stats.add(&r);
                r
            }
        }
    }
}

/// Shared-ownership convenience for hosts.
pub type SharedTracer = Arc<SceneTracer>;

#[cfg(test)]
mod tests;
