//! Shading sanity against the closed form: a diffuse plane under a directional light
//! reflects albedo / pi * E * cos(theta); an occluder puts it in shadow.

use glam::DVec3;

use super::{Emitters, ShadingPoint, TraceStats, direct};
use crate::accel::BlasCache;
use crate::integrator::Termination;
use crate::scene::Scene;
use crate::shade::albedo;
use crate::trace::SceneTracer;

fn scene(light_dir: DVec3, occluder: bool) -> Scene {
    let extra = if occluder {
        r#"(mesh: "roof", translate: (0.0, 2.0, 0.0))"#
    } else {
        ""
    };
    let text = format!(
        r#"(
        meshes: [(name: "floor", source: Plane(size: 10.0)), (name: "roof", source: Plane(size: 4.0))],
        materials: [(name: "paint", kind: Diffuse(colour: (0.5, 0.25, 1.0)))],
        instances: [(mesh: "floor", material: Some("paint")), {extra}],
        lights: [Directional(direction: ({}, {}, {}), irradiance: (2.0, 2.0, 2.0))],
    )"#,
        light_dir.x, light_dir.y, light_dir.z
    );
    Scene::from_str(&text, "shading.ron".as_ref()).unwrap()
}

/// Direct light at `p` on the floor (normal +y).
fn lit(s: &Scene, tracer: &SceneTracer, p: DVec3, rho: [f64; 3]) -> [f64; 3] {
    let at = ShadingPoint {
        position: p,
        normal: DVec3::Y,
        albedo: rho,
        index: 1.0,
        cone: crate::integrator::RayCone::EXACT,
    };
    direct(
        s,
        tracer.into(),
        &Emitters::new(s),
        &at,
        [0.5; 5],
        true,
        &mut TraceStats::default(),
    )
}

#[test]
fn a_diffuse_plane_under_a_directional_light_has_the_analytic_radiance() {
    for theta_deg in [0.0f64, 30.0, 60.0, 85.0] {
        let theta = theta_deg.to_radians();
        // Light travelling down and sideways, at theta from the normal (+y).
        let dir = DVec3::new(theta.sin(), -theta.cos(), 0.0);
        let s = scene(dir, false);
        let tracer = SceneTracer::new(&s, &BlasCache::default());
        // A camera ray onto the floor.
        let hit = tracer.trace(
            DVec3::new(0.3, 3.0, -4.0),
            DVec3::new(-0.3, -3.0, 4.2),
            None,
            false,
        );
        assert_eq!(hit.result.termination, Termination::Hit);
        let h = hit.hit.unwrap();
        let p = h.position;
        let n = DVec3::Y;
        let rho = albedo(&s.instances()[h.instance as usize].material, p, n, None);
        let l = lit(&s, &tracer, p, rho);
        for c in 0..3 {
            let expect = rho[c] / std::f64::consts::PI * 2.0 * theta.cos();
            assert!(
                (l[c] - expect).abs() < 1e-9,
                "theta {theta_deg}: {} vs {expect}",
                l[c]
            );
        }
    }
}

#[test]
fn an_occluder_casts_a_shadow_through_the_same_tracer() {
    let s = scene(DVec3::new(0.0, -1.0, 0.0), true);
    let tracer = SceneTracer::new(&s, &BlasCache::default());
    let rho = [0.5, 0.25, 1.0];
    let under = lit(&s, &tracer, DVec3::new(0.0, 0.0, 0.0), rho);
    assert_eq!(under, [0.0; 3]);
    let beside = lit(&s, &tracer, DVec3::new(4.0, 0.0, 0.0), rho);
    assert!(beside[0] > 0.0);
}

#[test]
fn light_behind_a_black_hole_does_not_reach_the_floor() {
    // The sun straight overhead, a black hole (r_s 2) hovering 10 above the point:
    // the shadow ray falls into it. Only a ray that escapes brings a light at
    // infinity (before, any ray that did not hit geometry counted as lit).
    let text = r#"(
        meshes: [(name: "floor", source: Plane(size: 10.0))],
        materials: [(name: "paint", kind: Diffuse(colour: (0.5, 0.5, 0.5)))],
        instances: [(mesh: "floor", material: Some("paint"))],
        lights: [Directional(direction: (0.0, -1.0, 0.0), irradiance: (2.0, 2.0, 2.0))],
        fields: [Schwarzschild(centre: (0.0, 10.0, 0.0), rs: 2.0, extent: 50.0)],
    )"#;
    let s = Scene::from_str(text, "hole.ron".as_ref()).unwrap();
    let tracer = SceneTracer::new(&s, &BlasCache::default());
    let shadow = tracer.trace_shadow(
        DVec3::new(0.0, 1e-3, 0.0),
        DVec3::Y,
        crate::integrator::RayCone::EXACT,
        None,
    );
    assert_eq!(shadow.result.termination, Termination::Captured);
    let under = lit(&s, &tracer, DVec3::ZERO, [0.5; 3]);
    assert_eq!(under, [0.0; 3]);
    // Off to the side (impact parameter 30, far above the critical 5.2): lit.
    let aside = lit(&s, &tracer, DVec3::new(30.0, 0.0, 0.0), [0.5; 3]);
    assert!(aside[0] > 0.0, "{aside:?}");
}
