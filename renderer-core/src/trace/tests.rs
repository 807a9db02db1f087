//! Soft gate: a thin object that the true curved path hits but the coarse chord
//! misses is found when uncertain misses are subdivided, and missed with a budget of 0.

use crate::accel::{BlasCache, Mesh};
use crate::builder::SceneBuilder;
use crate::field::{FieldKind, Luneburg, Medium};
use crate::integrator::{Integrator, Segment, Termination, Tolerances, Verdict};
use crate::trace::SceneTracer;
use glam::{Affine3A, DVec3};

fn lens() -> Medium {
    Medium::default().with(FieldKind::Luneburg(Luneburg {
        centre: DVec3::ZERO,
        radius: 1.0,
    }))
}

fn coarse(attempts: u32) -> Tolerances {
    Tolerances {
        geometric: 0.02,
        rk: 1e-7,
        soft_gate_attempts: attempts,
        ..Tolerances::default()
    }
}

fn segments(tol: Tolerances, origin: DVec3) -> Vec<Segment> {
    let mut out = Vec::new();
    Integrator::new(lens(), tol).trace(origin, DVec3::X, None, |s| {
        out.push(*s);
        Verdict::Continue
    });
    out
}

fn distance_to_chord(p: DVec3, s: &Segment) -> f64 {
    let d = s.end - s.start;
    let t = ((p - s.start).dot(d) / d.length_squared()).clamp(0.0, 1.0);
    (s.start + d * t - p).length()
}

#[test]
fn a_thin_object_between_chord_and_curve_is_found_only_with_the_soft_gate() {
    let origin = DVec3::new(-2.0, 0.6, 0.0);
    let rough = segments(coarse(0), origin);
    let fine = segments(Tolerances::default(), origin);
    // The nearest point of the fine polyline (the true path) to a point.
    let on_path = |p: DVec3| {
        fine.iter()
            .filter(|s| s.length() < 1.0)
            .map(|s| {
                let d = s.end - s.start;
                let t = ((p - s.start).dot(d) / d.length_squared()).clamp(0.0, 1.0);
                (s.start + d * t, d.normalize())
            })
            .min_by(|a, b| (a.0 - p).length().total_cmp(&(b.0 - p).length()))
            .unwrap()
    };
    // The curved segment whose chord strays furthest from the true path.
    let (seg, (centre, tangent), gap) = rough
        .iter()
        .filter(|s| s.deviation > 0.0 && s.length() < 1.0)
        .map(|s| {
            let mid = (s.start + s.end) * 0.5;
            let near = on_path(mid);
            (*s, near, distance_to_chord(near.0, s))
        })
        .max_by(|a, b| a.2.total_cmp(&b.2))
        .unwrap();
    assert!(
        gap > 1e-4,
        "the coarse chords hug the path too closely: {gap}"
    );
    assert!(
        gap <= seg.deviation,
        "the deviation bound must cover the gap: {gap} > {}",
        seg.deviation
    );
    // A small triangle across the true path, not reaching the chord.
    let u = tangent.cross(DVec3::Z).normalize();
    let size = gap / 2.0;
    let corners = [
        centre + u * size,
        centre + (u * -0.5 + DVec3::Z * 0.87) * size,
        centre + (u * -0.5 - DVec3::Z * 0.87) * size,
    ];
    let mesh = Mesh {
        positions: corners.iter().map(|c| c.as_vec3().into()).collect(),
        indices: vec![[0, 1, 2]],
        uvs: Vec::new(),
    };
    let scene = |tol| {
        let mut b = SceneBuilder::new();
        let m = b.mesh(std::sync::Arc::new(mesh.clone()));
        b.instance(m, Affine3A::IDENTITY, crate::scene::Material::default())
            .medium(lens())
            .tolerances(tol);
        b.build().unwrap()
    };
    let cache = BlasCache::default();
    let without = SceneTracer::new(&scene(coarse(0)), &cache).trace(origin, DVec3::X, None, false);
    assert_ne!(
        without.result.termination,
        Termination::Hit,
        "the chord alone must miss"
    );
    let with = SceneTracer::new(&scene(coarse(64)), &cache).trace(origin, DVec3::X, None, false);
    assert_eq!(with.result.termination, Termination::Hit);
    assert!(with.result.subdivisions > 0);
    assert!((with.hit.unwrap().position - centre).length() < gap);
    // A frame whose shared soft-gate budget is spent finds it no more.
    let frame = crate::trace::GateBudget::new(0);
    let spent = SceneTracer::new(&scene(coarse(64)), &cache).trace_within(
        origin,
        DVec3::X,
        None,
        false,
        &frame,
    );
    assert_ne!(spent.result.termination, Termination::Hit);
    let frame = crate::trace::GateBudget::new(1000);
    let fresh = SceneTracer::new(&scene(coarse(64)), &cache).trace_within(
        origin,
        DVec3::X,
        None,
        false,
        &frame,
    );
    assert_eq!(fresh.result.termination, Termination::Hit);
    assert_eq!(frame.used(), u64::from(fresh.result.subdivisions));
    // The finely integrated path hits it too (it is really on the path).
    let truth = SceneTracer::new(&scene(Tolerances::default()), &cache).trace(
        origin,
        DVec3::X,
        None,
        false,
    );
    assert_eq!(truth.result.termination, Termination::Hit);
}
