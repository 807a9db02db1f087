//! Light transport against closed forms: the white furnace, an emitting enclosure
//! (next-event estimation with MIS against the geometric series), L/n^2 inside a
//! gradient-index lens, energy conservation through a Fresnel dielectric, mirrors,
//! and image textures.

use std::path::Path;
use std::sync::Arc;

use crate::frame::{RenderSettings, Renderer, Snapshot};
use crate::scene::Scene;
use scheduler::{Pool, PoolConfig};

fn render(text: &str, size: u32, spp: u32, bounces: u32) -> Vec<[f32; 3]> {
    render_at(text, Path::new("transport.ron"), size, spp, bounces)
}

fn render_at(text: &str, path: &Path, size: u32, spp: u32, bounces: u32) -> Vec<[f32; 3]> {
    let scene = Arc::new(Scene::from_str(text, path).unwrap());
    let settings = RenderSettings {
        width: size,
        height: size,
        spp,
        seed: 3,
        max_bounces: bounces,
        ..RenderSettings::default()
    };
    let mut r = Renderer::new(Arc::new(Pool::new(PoolConfig::with_threads(2)).unwrap()));
    r.render_all(&Snapshot::new(scene, settings).unwrap())
        .unwrap();
    r.film().rgb()
}

fn mean(px: &[[f32; 3]]) -> [f64; 3] {
    let mut m = [0.0; 3];
    for p in px {
        for c in 0..3 {
            m[c] += f64::from(p[c]) / px.len() as f64;
        }
    }
    m
}

#[test]
fn white_furnace_a_white_object_in_a_uniform_environment_vanishes() {
    // Albedo 1 under uniform radiance 0.8: every pixel is 0.8, object or not. A convex
    // sphere's bounce rays all escape, so each sample is exact.
    let text = r#"(
        camera: Some((position: (0.0, 0.0, -4.0), look_at: (0.0, 0.0, 0.0), fov_deg: 40.0)),
        meshes: [(name: "ball", source: Sphere(radius: 1.0))],
        materials: [(name: "white", kind: Diffuse(colour: (1.0, 1.0, 1.0)))],
        instances: [(mesh: "ball", material: Some("white"))],
        environment: Constant((0.8, 0.8, 0.8)),
    )"#;
    for px in render(text, 24, 2, 4) {
        for c in px {
            assert!((c - 0.8).abs() < 1e-5, "{px:?}");
        }
    }
}

#[test]
fn an_emitting_enclosure_converges_to_the_geometric_series() {
    // Camera inside a closed sphere whose wall emits Le and reflects albedo rho:
    // with B bounces, L = Le * (1 + rho + ... + rho^(B+1)) (the last vertex still
    // gathers direct light). Exercises emitter sampling,
    // its area density and the MIS weights; rho = 1 is the closed white furnace.
    for (rho, bounces) in [(0.5f64, 4u32), (1.0, 3)] {
        let text = format!(
            r#"(
            camera: Some((position: (0.1, 0.05, 0.0), look_at: (1.0, 0.2, 0.3), fov_deg: 70.0)),
            meshes: [(name: "shell", source: Sphere(radius: 2.0))],
            materials: [(name: "wall", kind: Diffuse(colour: ({rho}, {rho}, {rho}), emission: (0.5, 0.5, 0.5)))],
            instances: [(mesh: "shell", material: Some("wall"))],
        )"#
        );
        let expect: f64 = (0..=bounces + 1).map(|k| 0.5 * rho.powi(k as i32)).sum();
        let m = mean(&render(&text, 24, 16, bounces));
        for c in m {
            let rel = (c - expect).abs() / expect;
            assert!(rel < 0.01, "rho {rho}: {c} vs {expect} ({rel:.4})");
        }
    }
}

#[test]
fn radiance_over_n_squared_is_invariant_through_a_grin_lens() {
    // The camera sits at the centre of a Luneburg lens (n = sqrt 2) and sees a
    // uniform sky of radiance 1 through it: L = 1 * n_camera^2 / n_sky^2 = 2.
    let text = r#"(
        camera: Some((position: (0.0, 0.0, 0.0), look_at: (0.0, 0.0, 1.0), fov_deg: 60.0)),
        fields: [Luneburg(centre: (0.0, 0.0, 0.0), radius: 1.0)],
        environment: Constant((1.0, 1.0, 1.0)),
    )"#;
    for px in render(text, 8, 1, 0) {
        for c in px {
            assert!((c - 2.0).abs() < 1e-4, "{px:?}");
        }
    }
    // From outside, looking through the lens, the sky keeps its radiance.
    let outside = text.replace("position: (0.0, 0.0, 0.0)", "position: (0.0, 0.0, -3.0)");
    for px in render(&outside, 8, 1, 0) {
        for c in px {
            assert!((c - 1.0).abs() < 1e-4, "{px:?}");
        }
    }
}

#[test]
fn a_clear_dielectric_conserves_energy_and_a_mirror_reflects_its_tint() {
    // A glass sphere (no absorption) in a uniform sky: Fresnel splits every path but
    // each ends in the sky with throughput 1 (the n^2 factors cancel in and out), so
    // the image is the sky up to paths cut at the bounce limit (a faceted sphere
    // traps a few grazing rays in long internal reflections: 0.5% of the light
    // after 24 bounces, 0.3% after 64).
    let glass = r#"(
        camera: Some((position: (0.0, 0.0, -4.0), look_at: (0.0, 0.0, 0.0), fov_deg: 35.0)),
        meshes: [(name: "ball", source: Sphere(radius: 1.0))],
        materials: [(name: "glass", kind: Dielectric(ior: 1.5))],
        instances: [(mesh: "ball", material: Some("glass"))],
        environment: Constant((0.6, 0.6, 0.6)),
    )"#;
    let m = mean(&render(glass, 16, 8, 64));
    for c in m {
        assert!((c - 0.6).abs() < 0.6 * 0.005, "{m:?}");
    }
    let mirror = glass.replace("Dielectric(ior: 1.5)", "Mirror(colour: (0.9, 0.5, 0.25))");
    for px in render(&mirror, 12, 1, 4) {
        // Every pixel sees the sky, straight or off the mirror.
        assert!(
            [0.6f32, 0.54].iter().any(|v| (px[0] - v).abs() < 1e-5),
            "{px:?}"
        );
        assert!([0.6f32, 0.3].iter().any(|v| (px[1] - v).abs() < 1e-5));
        assert!([0.6f32, 0.15].iter().any(|v| (px[2] - v).abs() < 1e-5));
    }
}

#[test]
fn image_textures_are_looked_up_by_texture_coordinates() {
    let dir = std::env::temp_dir().join(format!("grin-texture-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // Left half red, right half blue (sRGB 255 decodes to linear 1).
    let img = image::RgbImage::from_fn(4, 4, |x, _| {
        if x < 2 {
            image::Rgb([255, 0, 0])
        } else {
            image::Rgb([0, 0, 255])
        }
    });
    img.save(dir.join("halves.png")).unwrap();
    // A plane facing the camera (rotated up), lit head-on with E = pi: radiance is
    // the albedo itself.
    let text = r#"(
        camera: Some((position: (0.0, 0.0, -3.0), look_at: (0.0, 0.0, 0.0), fov_deg: 30.0)),
        meshes: [(name: "card", source: Plane(size: 2.0))],
        materials: [(name: "tex", kind: Texture(file: "halves.png"))],
        instances: [(mesh: "card", rotate_deg: (-90.0, 0.0, 0.0), material: Some("tex"))],
        lights: [Directional(direction: (0.0, 0.0, 1.0), irradiance: (3.14159265, 3.14159265, 3.14159265))],
    )"#;
    let px = render_at(text, &dir.join("scene.ron"), 16, 1, 0);
    let (left, right) = (px[8 * 16 + 2], px[8 * 16 + 13]);
    let (red, blue) = if left[0] > right[0] {
        (left, right)
    } else {
        (right, left)
    };
    assert!((red[0] - 1.0).abs() < 1e-3 && red[2] < 1e-3, "{red:?}");
    assert!((blue[2] - 1.0).abs() < 1e-3 && blue[0] < 1e-3, "{blue:?}");
    // A texture on a mesh without texture coordinates is refused with its place.
    let boxed = text.replace(
        "Plane(size: 2.0)",
        "Box(min: (-1.0, -1.0, -1.0), max: (1.0, 1.0, 1.0))",
    );
    let err = Scene::from_str(&boxed, &dir.join("scene.ron"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("instances[0].material") && err.contains("texture coordinates"),
        "{err}"
    );
    let missing = text.replace("halves.png", "nowhere.png");
    let err = Scene::from_str(&missing, &dir.join("scene.ron"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("materials[0].kind.file") && err.contains("nowhere.png"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_equirectangular_sky_is_looked_up_by_direction() {
    let dir = std::env::temp_dir().join(format!("grin-equirect-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // u runs along the azimuth from -z (u = 0.5 at the image's middle column) towards
    // +x (u = 0.75): the left half of the image is behind -x, the right half +x.
    let img = image::RgbImage::from_fn(8, 4, |x, _| {
        if x < 4 {
            image::Rgb([255, 0, 0])
        } else {
            image::Rgb([0, 0, 255])
        }
    });
    img.save(dir.join("sky.png")).unwrap();
    let looking = |x: f64| {
        format!(
            r#"(
            camera: Some((position: (0.0, 0.0, 0.0), look_at: ({x}, 0.0, 0.0), fov_deg: 5.0)),
            environment: Equirect(file: "sky.png", scale: 2.0),
        )"#
        )
    };
    let east = render_at(&looking(1.0), &dir.join("s.ron"), 4, 1, 0);
    let west = render_at(&looking(-1.0), &dir.join("s.ron"), 4, 1, 0);
    for p in &east {
        assert!((p[2] - 2.0).abs() < 1e-3 && p[0] < 1e-3, "east {p:?}");
    }
    for p in &west {
        assert!((p[0] - 2.0).abs() < 1e-3 && p[2] < 1e-3, "west {p:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_white_rough_metal_in_a_uniform_sky_reflects_at_most_the_sky() {
    // A convex ball of white (F0 = 1) rough metal under uniform radiance 0.8: each
    // pixel on it is 0.8 times the lobe's directional albedo, at most 1 (single
    // scattering loses the light that would bounce between microfacets), and close to
    // 1 for a smooth one (a rough one's albedo is checked against quadrature in
    // material/rough_conductor.rs; here only that it conserves energy). The
    // background pixels are the sky exactly.
    for (roughness, floor) in [(0.1f64, 0.99), (0.5, 0.0)] {
        let text = format!(
            r#"(
            camera: Some((position: (0.0, 0.0, -4.0), look_at: (0.0, 0.0, 0.0), fov_deg: 30.0)),
            meshes: [(name: "ball", source: Sphere(radius: 1.0))],
            materials: [(name: "metal", kind: RoughConductor(colour: (1.0, 1.0, 1.0), roughness: {roughness}))],
            instances: [(mesh: "ball", material: Some("metal"))],
            environment: Constant((0.8, 0.8, 0.8)),
        )"#
        );
        let m = mean(&render(&text, 32, 64, 4));
        for c in m {
            let albedo = c / 0.8;
            assert!(
                albedo <= 1.0 + 2e-3 && albedo >= floor,
                "roughness {roughness}: mean {c}, albedo {albedo}"
            );
        }
    }
}

#[test]
fn glossy_next_event_estimation_and_bounces_agree() {
    // A rough metal ball lit by an emitting enclosure (next-event estimation of the
    // emitter with MIS against the lobe's samples, plus bounces that hit it) and by a
    // sky of the same radiance (only bounce rays find it): the same light field, so
    // the same image up to noise.
    let ball = r#"(mesh: "ball", material: Some("metal"))"#;
    let common = r#"camera: Some((position: (0.0, 0.0, -3.0), look_at: (0.0, 0.0, 0.0), fov_deg: 35.0)),
        materials: [(name: "metal", kind: RoughConductor(colour: (0.9, 0.7, 0.5), roughness: 0.45)),
                    (name: "glow", kind: Emissive(radiance: (1.0, 1.0, 1.0)))],"#;
    let enclosed = format!(
        r#"({common}
        meshes: [(name: "ball", source: Sphere(radius: 1.0)), (name: "shell", source: Sphere(radius: 6.0))],
        instances: [{ball}, (mesh: "shell", material: Some("glow"))],
    )"#
    );
    let open = format!(
        r#"({common}
        meshes: [(name: "ball", source: Sphere(radius: 1.0))],
        instances: [{ball}],
        environment: Constant((1.0, 1.0, 1.0)),
    )"#
    );
    let a = mean(&render(&enclosed, 32, 64, 3));
    let b = mean(&render(&open, 32, 64, 3));
    for c in 0..3 {
        let rel = (a[c] - b[c]).abs() / b[c];
        assert!(
            rel < 0.01,
            "channel {c}: enclosure {} vs sky {} ({rel:.4})",
            a[c],
            b[c]
        );
    }
}
