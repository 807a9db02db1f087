//! Scene loading: every bundled scene loads; malformed scenes give the expected error
//! kind and message parts, and never panic.

use std::path::{Path, PathBuf};

use renderer_core::scene::{Scene, SceneError};

fn assets() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/scenes")
}

#[test]
fn every_bundled_scene_loads() {
    let mut n = 0;
    for entry in std::fs::read_dir(assets()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "ron") {
            let scene = Scene::load(&path).unwrap_or_else(|e| panic!("{e}"));
            assert!(scene.camera().is_some(), "{}", path.display());
            n += 1;
        }
    }
    assert!(n >= 5);
}

const GOOD: &str = r#"(
    camera: Some((position: (0.0, 0.0, -5.0), look_at: (0.0, 0.0, 0.0), fov_deg: 40.0)),
    meshes: [(name: "m", source: Sphere(radius: 1.0))],
    instances: [(mesh: "m")],
    fields: [Luneburg(centre: (0.0, 0.0, 0.0), radius: 1.0)],
)"#;

fn load(text: &str) -> Result<Scene, SceneError> {
    Scene::from_str(text, &assets().join("bad.ron"))
}

/// Each malformed scene, the error kind it must give, and the parts its message must
/// contain.
#[test]
fn malformed_scenes_give_clear_errors() {
    let cases: Vec<(&str, String, &str, Vec<&str>)> = vec![
        ("syntax error", GOOD.replace("fov_deg: 40.0))", "fov_deg: 40.0)"), "parse", vec!["bad.ron:"]),
        ("NaN radius", GOOD.replace("radius: 1.0)]", "radius: NaN)]"), "invalid", vec!["fields[0].radius", "NaN"]),
        ("negative radius", GOOD.replace("radius: 1.0)]", "radius: -2.0)]"), "invalid", vec!["fields[0].radius", "-2.0"]),
        ("negative sphere mesh", GOOD.replace("Sphere(radius: 1.0)", "Sphere(radius: -1.0)"), "invalid", vec!["meshes[0].source.radius", "-1.0"]),
        ("missing mesh file", GOOD.replace("Sphere(radius: 1.0)", "Obj(\"nowhere/missing.obj\")"), "mesh", vec!["meshes[0].source", "nowhere/missing.obj", "No such file or directory"]),
        ("unknown field kind", GOOD.replace("Luneburg(", "Wormhole("), "parse", vec!["Wormhole"]),
        ("zero tolerance", GOOD.replace("fields:", "tolerances: Some((geometric: 0.0, rk: 1e-9, max_steps: 10, far: 1e6)), fields:"), "invalid", vec!["tolerances.geometric", "0.0"]),
        ("zero max steps", GOOD.replace("fields:", "tolerances: Some((geometric: 1e-4, rk: 1e-9, max_steps: 0, far: 1e6)), fields:"), "invalid", vec!["tolerances.max_steps"]),
        ("unknown mesh name", GOOD.replace("(mesh: \"m\")", "(mesh: \"q\")"), "invalid", vec!["instances[0].mesh", "\"q\""]),
        ("zero scale", GOOD.replace("(mesh: \"m\")", "(mesh: \"m\", scale: 0.0)"), "invalid", vec!["instances[0].scale"]),
        ("scale past f32", GOOD.replace("(mesh: \"m\")", "(mesh: \"m\", scale: 1e39)"), "invalid", vec!["instances[0].scale", "1e39"]),
        ("translate past f32", GOOD.replace("(mesh: \"m\")", "(mesh: \"m\", translate: (1e39, 0.0, 0.0))"), "invalid", vec!["instances[0].translate"]),
        ("rotation past f32", GOOD.replace("(mesh: \"m\")", "(mesh: \"m\", rotate_deg: (1e300, 0.0, 0.0))"), "invalid", vec!["instances[0].rotate_deg"]),
        ("mesh placed past f32", GOOD.replace("(mesh: \"m\")", "(mesh: \"m\", scale: 2e29, translate: (9e29, 0.0, 0.0))"), "invalid", vec!["instances[0].scale"]),
        ("fov out of range", GOOD.replace("fov_deg: 40.0", "fov_deg: 180.0"), "invalid", vec!["camera.fov_deg", "180.0"]),
        ("camera looks at itself", GOOD.replace("look_at: (0.0, 0.0, 0.0)", "look_at: (0.0, 0.0, -5.0)"), "invalid", vec!["camera.look_at"]),
        ("empty box", GOOD.replace("Sphere(radius: 1.0)", "Box(min: (1.0, 0.0, 0.0), max: (1.0, 1.0, 1.0))"), "invalid", vec!["meshes[0].source", "min must be below max"]),
        ("negative background", GOOD.replace("fields:", "background_index: -1.0, fields:"), "invalid", vec!["background_index", "-1.0"]),
        ("extent rays cannot leave", GOOD.replace("Luneburg(centre: (0.0, 0.0, 0.0), radius: 1.0)", "Schwarzschild(centre: (0.0, 0.0, 0.0), rs: 2.0, extent: 1e13)"), "invalid", vec!["fields[0].extent", "at most 1e10"]),
        ("mass inside its extent", GOOD.replace("Luneburg(centre: (0.0, 0.0, 0.0), radius: 1.0)", "Schwarzschild(centre: (0.0, 0.0, 0.0), rs: 2.0, extent: 3.0)"), "invalid", vec!["fields[0].extent"]),
        ("index below zero", GOOD.replace("Luneburg(centre: (0.0, 0.0, 0.0), radius: 1.0)", "GaussianBlob(centre: (0.0, 0.0, 0.0), sigma: 1.0, amplitude: -1.5)"), "invalid", vec!["fields[0].amplitude"]),
        ("unknown scene key", GOOD.replace("fields:", "sparkles: [], fields:"), "parse", vec!["sparkles"]),
        ("duplicate mesh name", GOOD.replace("meshes: [(name: \"m\", source: Sphere(radius: 1.0))]", "meshes: [(name: \"m\", source: Sphere(radius: 1.0)), (name: \"m\", source: Plane(size: 1.0))]"), "invalid", vec!["meshes[1].name"]),
        ("missing grid file", GOOD.replace("Luneburg(centre: (0.0, 0.0, 0.0), radius: 1.0)", "Grid(file: \"no/grid.ron\")"), "field", vec!["fields[0].file", "no/grid.ron"]),
        ("unknown material", GOOD.replace("(mesh: \"m\")", "(mesh: \"m\", material: Some(\"gold\"))"), "invalid", vec!["instances[0].material", "gold"]),
        ("albedo above one", GOOD.replace("fields:", "materials: [(name: \"x\", kind: Diffuse(colour: (1.5, 0.0, 0.0)))], fields:"), "invalid", vec!["materials[0].kind.colour", "1.5"]),
        ("zero light direction", GOOD.replace("fields:", "lights: [Directional(direction: (0.0, 0.0, 0.0), irradiance: (1.0, 1.0, 1.0))], fields:"), "invalid", vec!["lights[0].direction"]),
    ];
    assert!(cases.len() >= 15);
    for (what, text, kind, parts) in cases {
        assert_ne!(text, GOOD, "{what}: the case did not change the scene");
        let err = load(&text)
            .err()
            .unwrap_or_else(|| panic!("{what}: loaded"));
        let got = match &err {
            SceneError::Parse { .. } => "parse",
            SceneError::Invalid { .. } => "invalid",
            SceneError::MeshFile { .. } => "mesh",
            SceneError::FieldFile { .. } => "field",
            _ => "other",
        };
        assert_eq!(got, kind, "{what}: {err}");
        let msg = err.to_string();
        assert!(msg.contains("bad.ron"), "{what}: {msg}");
        for p in parts {
            assert!(msg.contains(p), "{what}: '{p}' not in: {msg}");
        }
    }
}

#[test]
fn parse_errors_carry_line_and_column() {
    let text = "(\n  camera: None,\n  meshes: [oops],\n)";
    match load(text) {
        Err(SceneError::Parse { line, column, .. }) => assert_eq!((line, column), (3, 12)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_missing_scene_file_is_an_io_error_naming_it() {
    let err = Scene::load(Path::new("/no/such/scene.ron")).unwrap_err();
    assert!(matches!(err, SceneError::Io { .. }));
    assert!(err.to_string().contains("/no/such/scene.ron"));
}

#[test]
fn parallel_build_on_the_scheduler_traces_like_the_serial_one() {
    use renderer_core::accel::BlasCache;
    use renderer_core::trace::SceneTracer;
    use scheduler::{Graph, GraphConfig, Pool, PoolConfig};
    let scene = Scene::load(&assets().join("luneburg.ron")).unwrap();
    let pool = std::sync::Arc::new(Pool::new(PoolConfig::with_threads(2)).unwrap());
    let graph = Graph::new(pool, GraphConfig::named("accel"));
    let cache = BlasCache::default();
    let parallel = SceneTracer::build_on(&scene, &cache, &graph).unwrap();
    let serial = SceneTracer::new(&scene, &BlasCache::default());
    let o = glam::DVec3::new(-3.0, 0.4, 0.1);
    let a = parallel.trace(o, glam::DVec3::X, None, false);
    let b = serial.trace(o, glam::DVec3::X, None, false);
    assert_eq!(a.hit, b.hit);
    assert!(a.hit.is_some());
    assert_eq!(cache.len(), 1);
}

#[test]
fn a_uniform_medium_hits_the_same_triangle_at_the_same_t_as_a_plain_ray_cast() {
    use renderer_core::accel::{BlasCache, Ray};
    use renderer_core::trace::SceneTracer;
    let scene = Scene::load(&assets().join("tetra.ron"))
        .unwrap()
        .edit()
        .medium(renderer_core::field::Medium::uniform(1.5))
        .build()
        .unwrap();
    let tracer = SceneTracer::new(&scene, &BlasCache::default());
    let instance = renderer_core::accel::Instance {
        blas: std::sync::Arc::new(renderer_core::accel::Blas::build(&scene.meshes()[0])),
        transform: scene.instances()[0].transform,
    };
    let tlas = renderer_core::accel::Tlas::build(vec![instance]);
    let mut hits = 0;
    for k in 0..200 {
        let a = f64::from(k) * 0.731;
        let o = glam::DVec3::new(2.0 + a.sin(), 1.5 + (1.3 * a).cos(), -3.0);
        let d = (glam::DVec3::new(0.4, 0.4, 0.4) + glam::DVec3::new(a.cos(), a.sin(), 0.0) * 0.3
            - o)
            .normalize();
        let curved = tracer.trace(o, d, None, false);
        assert_eq!(curved.result.segments, 1, "uniform media are one segment");
        let plain = tlas.intersect(&Ray {
            origin: o.as_vec3(),
            dir: d.as_vec3(),
            t_min: 1e-7,
            t_max: f32::MAX,
        });
        match (curved.hit, plain) {
            (None, None) => {}
            (Some(h), Some(p)) => {
                hits += 1;
                assert_eq!(h.triangle, p.triangle);
                let t = (h.position - o).length();
                assert!(
                    (t - f64::from(p.t)).abs() < 1e-4 * t.max(1.0),
                    "{t} vs {}",
                    p.t
                );
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(hits > 20, "{hits}");
}

#[test]
fn a_sampled_grid_field_bends_rays_like_its_gradient_says() {
    use renderer_core::integrator::{Integrator, Verdict};
    let scene = Scene::load(&assets().join("hot_air.ron")).unwrap();
    let integrator = Integrator::new(scene.medium().clone(), *scene.tolerances());
    // A ray above the bubble's centre is bent away from the hot (low-index) core.
    let r = integrator.trace(
        glam::DVec3::new(-1.9, 0.9, 0.0),
        glam::DVec3::X,
        None,
        |_| Verdict::Continue,
    );
    assert!(r.segments > 2);
    assert!(r.direction.y > 1e-4, "{}", r.direction);
    // Symmetric below the centre line (y = 0.5).
    let r = integrator.trace(
        glam::DVec3::new(-1.9, 0.1, 0.0),
        glam::DVec3::X,
        None,
        |_| Verdict::Continue,
    );
    assert!(r.direction.y < -1e-4, "{}", r.direction);
}

#[test]
fn ply_meshes_load_and_quads_are_fanned() {
    let mesh = renderer_core::scene::load_ply(&assets().join("../meshes/quad.ply")).unwrap();
    assert_eq!(mesh.positions.len(), 4);
    assert_eq!(mesh.indices, vec![[0, 1, 2], [0, 2, 3]]);
    let scene = GOOD.replace("Sphere(radius: 1.0)", "Ply(\"../meshes/quad.ply\")");
    assert_eq!(load(&scene).unwrap().meshes()[0].indices.len(), 2);
    let bad = GOOD.replace("Sphere(radius: 1.0)", "Ply(\"../meshes/tetra.obj\")");
    assert!(matches!(load(&bad), Err(SceneError::MeshFile { .. })));
}
