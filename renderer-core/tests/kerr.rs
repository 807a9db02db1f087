//! Kerr holes through the whole renderer: the redshift and order AOVs, the shadow's
//! edges (Bardeen 1973), observers' aberration and Doppler shift, the bundled
//! scenes, and the scene checks (M = 1).

use std::path::Path;
use std::sync::Arc;

use glam::DVec3;
use renderer_core::camera::Camera;
use renderer_core::field::{Disk, DiskProfile, FieldKind, Kerr, Medium, Spacetime};
use renderer_core::frame::{RenderSettings, Renderer, Snapshot};
use renderer_core::integrator::{Termination, Tolerances};
use renderer_core::scene::{CameraDesc, Observer, Scene};
use renderer_core::trace::SceneTracer;
use scheduler::{Pool, PoolConfig};

fn renderer() -> Renderer {
    Renderer::new(Arc::new(Pool::new(PoolConfig::with_threads(2)).unwrap()))
}

fn kerr(spin: f64, extent: f64, disk: Option<Disk>) -> Kerr {
    Kerr {
        centre: DVec3::ZERO,
        mass: 1.0,
        spin,
        axis: DVec3::Y,
        extent,
        disk,
    }
}

fn scene(hole: Kerr, camera: CameraDesc) -> Scene {
    let mut b = renderer_core::builder::SceneBuilder::new();
    b.field(FieldKind::Kerr(hole)).camera(camera);
    b.build().unwrap()
}

fn settings(size: u32) -> RenderSettings {
    RenderSettings {
        width: size,
        height: size,
        spp: 1,
        max_bounces: 0,
        ..RenderSettings::default()
    }
}

/// g of a circular Keplerian emitter seen face-on from far away (the closed
/// form): sqrt(1 - 3M/r + 2a sqrt(M) / r^1.5) / (1 + a sqrt(M) / r^1.5).
fn face_on_g(a: f64, r: f64) -> f64 {
    (1.0 - 3.0 / r + 2.0 * a / r.powf(1.5)).sqrt() / (1.0 + a / r.powf(1.5))
}

#[test]
fn the_redshift_aov_of_a_face_on_disk_is_the_keplerian_closed_form() {
    for a in [0.0, 0.5] {
        let hole = kerr(
            a,
            1e3,
            Some(Disk {
                inner: Some(6.0),
                outer: 12.0,
                retrograde: false,
                profile: DiskProfile::NovikovThorne,
                temperature: 8000.0,
                brightness: 1.0,
                opacity: 1.0,
            }),
        );
        // On the axis, outside the region (at rest in flat space: the sky's g is 1),
        // looking down at the disk; 14 M across the image.
        let d = 5e3;
        let camera = CameraDesc {
            position: DVec3::new(0.0, d, 0.0),
            look_at: DVec3::ZERO,
            up: DVec3::Z,
            fov_deg: 2.0 * (14.0f64 / d).atan().to_degrees(),
            observer: Observer::Static,
        };
        let s = scene(hole, camera);
        let snap = Snapshot::new(Arc::new(s), settings(81)).unwrap();
        let truth = renderer().ground_truth(&snap).unwrap();
        let st = Spacetime { m: 1.0, a };
        let (mut disk, mut sky) = (0, 0);
        for p in truth.pixels() {
            match p.termination {
                Termination::Disk => {
                    // Its Boyer-Lindquist r from the crossing (in the equatorial
                    // plane: the axis is +y here).
                    let x = DVec3::new(p.position.x, p.position.z, p.position.y);
                    let r = st.radius(x);
                    if p.order == 0 {
                        let g = p.redshift.unwrap();
                        assert!(
                            (g - face_on_g(a, r)).abs() < 1e-4,
                            "a {a}, r {r}: g {g} vs {}",
                            face_on_g(a, r)
                        );
                        disk += 1;
                    }
                }
                Termination::Escaped => {
                    let g = p.redshift.unwrap();
                    assert!((g - 1.0).abs() < 1e-9, "sky g {g}");
                    sky += 1;
                }
                _ => {}
            }
        }
        assert!(
            disk > 1000 && sky > 100,
            "a {a}: {disk} disk, {sky} sky pixels"
        );
        // At r = 6 and a = 0 the closed form is sqrt(1/2).
        assert!((face_on_g(0.0, 6.0) - 0.5f64.sqrt()).abs() < 1e-15);
    }
}

#[test]
fn the_shadow_of_a_distant_equatorial_observer_spans_the_critical_impact_parameters() {
    // Bardeen: seen from far away in the equatorial plane, the shadow's horizontal
    // edges are at the critical impact parameters of prograde and retrograde photons
    // (4.0963 and 6.1382 at a = 0.5) on either side of the centre.
    let a = 0.5;
    let st = Spacetime { m: 1.0, a };
    let d = 1e6;
    let tracer_for = |camera: CameraDesc| {
        let s = scene(kerr(a, 1e5, None), camera);
        (SceneTracer::new(&s, &Default::default()), s)
    };
    let (w, m_per_px) = (401u32, 0.05);
    let camera = CameraDesc {
        position: DVec3::new(0.0, 0.0, -d),
        look_at: DVec3::ZERO,
        up: DVec3::Y,
        fov_deg: 2.0 * (0.5 * f64::from(w) * m_per_px / d).atan().to_degrees(),
        observer: Observer::Static,
    };
    let (tracer, s) = tracer_for(camera);
    // By bisection on the image-plane offset alpha (M), from the traced ray's end.
    let captured = |alpha: f64| {
        let dir = (DVec3::new(alpha, 0.0, d)).normalize();
        let r = tracer.trace(camera.position, dir, None, false);
        (r.result.termination == Termination::Captured, r)
    };
    let mut edges = Vec::new();
    for side in [1.0, -1.0] {
        let (mut inside, mut outside) = (0.0, side * 10.0);
        for _ in 0..60 {
            let mid = 0.5 * (inside + outside);
            if captured(mid).0 {
                inside = mid;
            } else {
                outside = mid;
            }
        }
        let alpha = 0.5 * (inside + outside);
        // The photon's angular momentum says which edge this is: turning with the
        // spin (L > 0) is the prograde one.
        let k = captured(outside).1.result.kerr.unwrap().start.unwrap();
        let prograde = -k.lz / k.energy > 0.0;
        let expect = st.critical_impact(prograde);
        assert!(
            (alpha.abs() - expect).abs() < 1e-4,
            "side {side}: |alpha| {} vs b_c {expect} (prograde {prograde})",
            alpha.abs()
        );
        edges.push((alpha, prograde));
    }
    assert_ne!(edges[0].1, edges[1].1, "one edge of each sense");
    // On the rendered image (pixel centres, 0.05 M apart), within a pixel.
    let snap = Snapshot::new(Arc::new(s), settings(w)).unwrap();
    let truth = renderer().ground_truth(&snap).unwrap();
    let row = w / 2;
    let centre = f64::from(w) / 2.0;
    let captured_px: Vec<f64> = (0..w)
        .filter(|&x| truth.at(x, row).termination == Termination::Captured)
        .map(|x| (f64::from(x) + 0.5 - centre) * m_per_px)
        .collect();
    let (lo, hi) = (captured_px[0], captured_px[captured_px.len() - 1]);
    // The image's x grows to the camera's right: -x in the scene here.
    for (alpha, _) in &edges {
        let seen = if -alpha < 0.0 { lo } else { hi };
        assert!(
            (seen + alpha).abs() <= m_per_px,
            "edge at {} M on the image, {} M by bisection",
            seen,
            -alpha
        );
    }
}

#[test]
fn a_moving_observer_sees_aberration_and_doppler_shift() {
    // A camera outside the hole's region moving at 0.5 c along its view: a pixel at
    // angle t' from the view is the coordinate direction at t with
    // cos t = (cos t' - v) / (1 - v cos t'), and light from straight ahead is
    // blueshifted by sqrt((1 + v) / (1 - v)).
    let v = 0.5;
    let camera = CameraDesc {
        position: DVec3::new(0.0, 0.0, -500.0),
        look_at: DVec3::new(0.0, 0.0, 0.0),
        up: DVec3::Y,
        fov_deg: 90.0,
        observer: Observer::Velocity(DVec3::new(0.0, 0.0, v)),
    };
    let hole = kerr(0.5, 100.0, None);
    let medium = Medium::default().with(FieldKind::Kerr(hole));
    let cam = Camera::new(&camera, 201, 201, &medium);
    assert!(cam.has_tetrad());
    for x in [100.5, 130.5, 170.5, 200.0] {
        let (_, dir) = cam.ray(x, 100.5);
        let tan_prime = (x - 100.5) / 100.5;
        let cos_prime = 1.0 / (1.0 + tan_prime * tan_prime).sqrt();
        let expect = (cos_prime - v) / (1.0 - v * cos_prime);
        assert!((dir.z - expect).abs() < 1e-12, "{} vs {expect}", dir.z);
        // The observed energy: gamma (1 + v . d) for the integrator's flat p = (1, d).
        let gamma = 1.0 / (1.0 - v * v).sqrt();
        assert!((cam.photon_energy(dir) - gamma * (1.0 + v * dir.z)).abs() < 1e-12);
    }
    let (_, ahead) = cam.ray(100.5, 100.5);
    assert!((cam.photon_energy(ahead) - 3f64.sqrt()).abs() < 1e-12);
}

#[test]
fn observers_near_the_hole_see_the_same_sky_differently() {
    // Static, ZAMO, falling and orbiting observers at one point of the equatorial
    // plane (r = 8): each tetrad's pixel directions are launched as null rays that
    // the observer measures with energy 1 over |spatial part| (the integrator's
    // normalisation); their photon energies differ by their motion, and all agree
    // that a ray along the view leaves along it when they are at rest.
    let a = 0.9;
    let hole = kerr(a, 100.0, None);
    let medium = Medium::default().with(FieldKind::Kerr(hole));
    let x = (64.0f64 + a * a).sqrt();
    let position = DVec3::new(x, 0.0, 0.0);
    let mut energies = Vec::new();
    for observer in [
        Observer::Static,
        Observer::Zamo,
        Observer::FreeFall,
        Observer::Orbit { retrograde: false },
        Observer::Orbit { retrograde: true },
    ] {
        let desc = CameraDesc {
            position,
            look_at: DVec3::new(x, 0.0, 10.0),
            up: DVec3::Y,
            fov_deg: 60.0,
            observer,
        };
        desc.validate_in(Path::new("test"), &medium).unwrap();
        let cam = Camera::new(&desc, 64, 64, &medium);
        let (_, dir) = cam.ray(32.0, 32.0);
        energies.push(cam.photon_energy(dir));
    }
    // Moving observers measure different energies for the same pixel.
    for i in 1..energies.len() {
        assert!((energies[i] - energies[0]).abs() > 1e-3, "{energies:?}");
    }
}

#[test]
fn a_zamo_inside_the_ergosphere_sees_its_own_photons() {
    // A zero-angular-momentum observer at r = 1.7 in the equatorial plane of a
    // hole with a = 0.9 (inside the ergosphere, r < 2) looks along a direction n
    // orthogonal to d_phi in the metric, outwards and then inwards. The photon
    // reaching it along n has no angular momentum: p_phi = g(-u + n, d_phi) = 0, a
    // ZAMO's u being orthogonal to d_phi. Two past-directed photons share each
    // coordinate direction there and only one of them is that one: the camera's ray
    // must carry it (the outward one is the near root, the inward one the far).
    // The outward photon arrives from infinity with energy E and is measured with E
    // / alpha: the pixel's g (also through the redshift AOV) is the inverse lapse,
    // sqrt(A / (Delta r^2)), A = (r^2 + a^2)^2 - a^2 Delta.
    use renderer_core::field::Root;
    use renderer_core::integrator::RayCone;
    let (a, r) = (0.9, 1.7);
    let st = Spacetime { m: 1.0, a };
    let q = (r * r + a * a).sqrt();
    let position = DVec3::new(0.0, 0.0, -q);
    let delta = r * r - 2.0 * r + a * a;
    let big_a = (r * r + a * a).powi(2) - a * a * delta;
    let inverse_lapse = (big_a / (delta * r * r)).sqrt();
    let hole = kerr(a, 100.0, None);
    let (frame, medium) = (hole.frame(), Medium::default().with(FieldKind::Kerr(hole)));
    let x = frame.to_local(position);
    assert!(st.in_ergosphere(x));
    // Outwards, turned along phi until orthogonal to d_phi = (-y, x, 0).
    let (radial, phi) = (x.normalize(), DVec3::new(-x.y, x.x, 0.0));
    let g = |v: DVec3, w: DVec3| st.dot(x, (0.0, v), (0.0, w));
    let outwards = radial - phi * (g(radial, phi) / g(phi, phi));
    assert!(g(outwards, phi).abs() < 1e-12);
    // The ZAMO looking along local `forward`: its scene, its centre pixel's ray,
    // and that ray traced with the momentum it carries.
    let look = |forward: DVec3| {
        let camera = CameraDesc {
            position,
            look_at: position + frame.vector_to_world(forward),
            up: DVec3::Y,
            fov_deg: 30.0,
            observer: Observer::Zamo,
        };
        camera.validate_in(Path::new("test"), &medium).unwrap();
        let s = scene(hole, camera);
        let ray = Camera::new(&camera, 1, 1, &medium).photon(0.5, 0.5);
        let tracer = SceneTracer::new(&s, &Default::default());
        let report = tracer.trace_rooted(
            ray.origin,
            ray.direction,
            ray.root,
            RayCone::EXACT,
            None,
            false,
        );
        (s, ray, report.result)
    };
    let mut roots = Vec::new();
    for (sense, forward) in [("outwards", outwards), ("inwards", -outwards)] {
        let (s, ray, result) = look(forward);
        let k = result.kerr.unwrap();
        let c = k.start.unwrap();
        eprintln!(
            "{sense}: {:?} root, L_z {:e}, {:?}",
            ray.root, c.lz, result.termination
        );
        assert!(
            c.lz.abs() < 1e-9 * c.energy.abs(),
            "{sense}: L_z {} (E {})",
            c.lz,
            c.energy
        );
        // The other photon with that direction has angular momentum.
        let other = if ray.root == Root::Near {
            Root::Far
        } else {
            Root::Near
        };
        let (pt, p) = st
            .momentum_root(x, frame.vector_to_local(ray.direction), other)
            .unwrap();
        let lz = st.constants(x, p, pt).lz;
        assert!(
            lz.abs() > 1e-3 * pt.abs(),
            "{sense}: the other root: L_z {lz}, p_t {pt}"
        );
        roots.push(ray.root);
        if sense == "outwards" {
            assert_eq!(result.termination, Termination::Escaped);
            let g = ray.energy / k.energy;
            assert!(
                (g - inverse_lapse).abs() < 1e-9 * inverse_lapse,
                "g {g} vs 1 / alpha {inverse_lapse}"
            );
            let snap = Snapshot::new(Arc::new(s), settings(1)).unwrap();
            let truth = renderer().ground_truth(&snap).unwrap();
            let g_aov = truth.at(0, 0).redshift.unwrap();
            assert!(
                (g_aov - inverse_lapse).abs() < 1e-9 * inverse_lapse,
                "AOV g {g_aov}"
            );
        }
    }
    assert_eq!(roots, [Root::Near, Root::Near]);
    // Turned towards +phi (the rotation), the ZAMO sees photons coming against it:
    // far enough round they are the far roots of their directions (the frame
    // dragging carries the photon with the near root the other way). The traced
    // photon's L_z over the measured energy is g(n, d_phi) for the tetrad's forward
    // axis n (the camera's forward, made orthogonal to u and normalised), to 1e-9,
    // at every turn; where the far root is the photon, the near one is not.
    let (ut, us) = st.zamo(x).unwrap();
    let u = (ut, us);
    let unit = |v: DVec3| v / g(v, v).sqrt();
    for (turn, root) in [
        (-1.5f64, Root::Far),
        (-1.3, Root::Far),
        (-1.0, Root::Near),
        (-0.6, Root::Near),
        (0.6, Root::Near),
        (1.0, Root::Near),
        (1.5, Root::Near),
    ] {
        let forward = unit(outwards) * turn.cos() - unit(phi) * turn.sin();
        let gu = st.dot(x, (0.0, forward), u);
        let e = (gu * u.0, forward + u.1 * gu);
        let n = st.dot(x, e, e).sqrt();
        let expected = st.dot(x, (e.0 / n, e.1 / n), (0.0, phi));
        let (_, ray, result) = look(forward);
        let c = result.kerr.unwrap().start.unwrap();
        let got = c.lz / ray.energy;
        eprintln!(
            "turned {turn}: {:?} root, L_z / E_observed {got} vs {expected}",
            ray.root
        );
        assert_eq!(ray.root, root, "turned {turn}");
        assert!(
            (got - expected).abs() < 1e-9 * expected.abs(),
            "turned {turn}: {got} vs {expected}"
        );
        let (pt, p) = st
            .momentum_root(x, frame.vector_to_local(ray.direction), Root::Near)
            .unwrap();
        let near = st.constants(x, p, pt).lz / (ut * pt + us.dot(p));
        if root == Root::Far {
            assert!(
                (near - expected).abs() > 1e-2 * expected.abs(),
                "turned {turn}: the near root agrees too ({near})"
            );
        }
    }
}

#[test]
fn scene_checks_name_what_a_kerr_scene_cannot_be() {
    let check = |text: &str, says: &str| {
        let e = Scene::from_str(text, Path::new("k.ron"))
            .unwrap_err()
            .to_string();
        assert!(e.contains(says), "{e}");
    };
    let cam = |pos: &str, obs: &str| {
        format!(
            "camera: Some((position: {pos}, look_at: (0, 0, 0), fov_deg: 40, observer: {obs})),"
        )
    };
    let hole = "Kerr(centre: (0, 0, 0), mass: 1, spin: 0.9, extent: 100)";
    check(
        &format!("({} fields: [{hole}])", cam("(0, 0, -1.8)", "Static")),
        "camera.observer",
    );
    check(
        &format!("({} fields: [{hole}])", cam("(0, 0, -1.8)", "Static")),
        "ergosphere",
    );
    check(
        &format!(
            "({} fields: [{hole}])",
            cam("(0, 3, -10)", "Orbit(retrograde: false)")
        ),
        "equatorial plane",
    );
    check(
        &format!("({} fields: [{hole}])", cam("(0, 0, -500)", "Zamo")),
        "within the Kerr hole's extent",
    );
    check(
        "(fields: [Kerr(centre: (0, 0, 0), mass: 1, spin: 1.0, extent: 100)])",
        "fields[0].spin",
    );
    check(
        &format!("(fields: [{hole}, {hole}])"),
        "at most one Kerr hole",
    );
    check(
        &format!("(fields: [{hole}, Luneburg(centre: (20, 0, 0), radius: 2)])"),
        "overlaps the Kerr hole",
    );
    check(
        "(fields: [Kerr(centre: (0, 0, 0), mass: 1, spin: 0.5, extent: 100, disk: Some((outer: 200)))])",
        "fields[0].disk.outer",
    );
    check(
        "(fields: [Kerr(centre: (0, 0, 0), mass: 1, spin: 0.5, extent: 100, disk: Some((inner: Some(1.5), outer: 20)))])",
        "fields[0].disk.inner",
    );
    check(
        &format!("({} fields: [])", cam("(0, 0, -5)", "Zamo")),
        "needs a Kerr hole",
    );
    // Inside the ergosphere no observer is static, but a ZAMO or a falling one is
    // fine (its rays carry its own photons: Camera::photon); inside the horizon none.
    for observer in ["Zamo", "FreeFall"] {
        for position in ["(0, 0, -1.8)", "(0, 0, -2.2)"] {
            Scene::from_str(
                &format!("({} fields: [{hole}])", cam(position, observer)),
                Path::new("k.ron"),
            )
            .unwrap();
        }
    }
    check(
        &format!("({} fields: [{hole}])", cam("(0, 0, -1.2)", "Zamo")),
        "inside the horizon",
    );
}

#[test]
fn the_bundled_kerr_scenes_render_their_disk_and_shadow() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/scenes/kerr_disk.ron");
    let s = Scene::load(&path).unwrap();
    let snap = Snapshot::new(
        Arc::new(s),
        RenderSettings {
            width: 64,
            height: 48,
            spp: 1,
            ..RenderSettings::default()
        },
    )
    .unwrap();
    let truth = renderer().ground_truth(&snap).unwrap();
    let count = |t: Termination| truth.pixels().iter().filter(|p| p.termination == t).count();
    assert!(
        count(Termination::Disk) > 500,
        "{}",
        count(Termination::Disk)
    );
    assert!(count(Termination::Captured) > 20);
    // Photon rings: the disk seen after one and two equatorial crossings.
    assert!(
        truth
            .pixels()
            .iter()
            .any(|p| p.termination == Termination::Disk && p.order == 1)
    );
    // The approaching side is blueshifted, the receding one redshifted.
    let g: Vec<f64> = truth
        .pixels()
        .iter()
        .filter(|p| p.termination == Termination::Disk)
        .filter_map(|p| p.redshift)
        .collect();
    assert!(g.iter().any(|&g| g > 1.2) && g.iter().any(|&g| g < 0.6));
    let _ = Tolerances::default();
}
