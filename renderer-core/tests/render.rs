//! CPU rendering: determinism across threads and tile orders, whole-tile commits under
//! cancellation, budgets, and progress to a complete frame.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use renderer_core::frame::{RenderSettings, Renderer, Snapshot};
use renderer_core::scene::Scene;
use scheduler::order::Order;
use scheduler::{CancelReason, CancelToken, Pool, PoolConfig};

fn snapshot(name: &str, order: Order) -> Snapshot {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../assets/scenes")
        .join(name);
    let scene = Arc::new(Scene::load(&path).unwrap());
    let settings = RenderSettings {
        width: 40,
        height: 30,
        spp: 2,
        seed: 7,
        tile: (16, 16),
        order,
        max_bounces: 1,
    };
    Snapshot::new(scene, settings).unwrap()
}

fn image_hash(r: &Renderer) -> u64 {
    let mut h = DefaultHasher::new();
    for p in r.film().rgb() {
        for c in p {
            c.to_bits().hash(&mut h);
        }
    }
    r.film()
        .depth()
        .iter()
        .for_each(|d| d.to_bits().hash(&mut h));
    h.finish()
}

fn render(name: &str, threads: usize, order: Order) -> (u64, f32) {
    let mut r = Renderer::new(Arc::new(
        Pool::new(PoolConfig::with_threads(threads)).unwrap(),
    ));
    r.render_all(&snapshot(name, order)).unwrap();
    let energy: f32 = r.film().rgb().iter().map(|p| p[0] + p[1] + p[2]).sum();
    (image_hash(&r), energy)
}

#[test]
fn images_are_bit_identical_for_any_thread_count_and_tile_order() {
    for name in ["luneburg.ron", "heat_haze.ron", "tetra.ron"] {
        let (reference, energy) = render(name, 1, Order::Scanline);
        assert!(energy > 0.0, "{name}: the image is black");
        assert_eq!(
            render(name, 2, Order::Scanline).0,
            reference,
            "{name}: 2 threads"
        );
        assert_eq!(
            render(name, 2, Order::CentreFirst).0,
            reference,
            "{name}: centre-first"
        );
        assert_eq!(
            render(name, 3, Order::Foveated { x: 0.2, y: 0.8 }).0,
            reference,
            "{name}: foveated"
        );
    }
}

#[test]
fn a_small_budget_does_fewer_tiles_and_repeated_steps_complete_the_frame() {
    let snap = snapshot("luneburg.ron", Order::CentreFirst);
    let mut r = Renderer::new(Arc::new(Pool::new(PoolConfig::with_threads(2)).unwrap()));
    r.reset(&snap);
    let token = CancelToken::new();
    let first = r
        .render_step(&snap, Duration::from_micros(1), &token)
        .unwrap();
    // 40x30 in 16x16 tiles is 6 tiles per pass; a 1 us budget cannot do a pass.
    assert!(first.tiles_done < 6, "{first:?}");
    let mut steps = 1;
    loop {
        let step = r
            .render_step(&snap, Duration::from_millis(2), &token)
            .unwrap();
        if step.frame_complete {
            break;
        }
        steps += 1;
        assert!(steps < 1_000, "no progress: {step:?}");
    }
    assert!(steps > 1);
    // Stepping with budgets gives the same image as rendering at once.
    let (reference, _) = render("luneburg.ron", 2, Order::CentreFirst);
    assert_eq!(image_hash(&r), reference);
}

#[test]
fn a_cancelled_step_commits_only_whole_tiles() {
    let snap = snapshot("luneburg.ron", Order::Scanline);
    let mut r = Renderer::new(Arc::new(Pool::new(PoolConfig::with_threads(2)).unwrap()));
    r.reset(&snap);
    let token = CancelToken::new();
    token.cancel(CancelReason::Superseded);
    let step = r
        .render_step(&snap, Duration::from_secs(5), &token)
        .unwrap();
    assert_eq!(step.tiles_done, 0);
    // No pixel has a sample: nothing partial reached the film.
    for y in 0..30 {
        for x in 0..40 {
            assert_eq!(r.film().samples(x, y), 0);
        }
    }
    // Every pixel has either 0 samples or exactly the pass's 1 after one step with a
    // budget that stops mid-pass: tiles commit whole.
    let token = CancelToken::new();
    let step = r
        .render_step(&snap, Duration::from_micros(300), &token)
        .unwrap();
    let counted: u64 = (0..30)
        .flat_map(|y| (0..40).map(move |x| (x, y)))
        .map(|(x, y)| u64::from(r.film().samples(x, y)))
        .sum();
    assert_eq!(counted, step.samples);
    assert!((0..30).all(|y| (0..40).all(|x| r.film().samples(x, y) <= 1)));
}

#[test]
fn cancelling_mid_frame_keeps_exactly_the_tiles_that_completed() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/scenes/luneburg.ron");
    let scene = Arc::new(Scene::load(&path).unwrap());
    let settings = RenderSettings {
        width: 160,
        height: 96,
        spp: 1,
        seed: 5,
        tile: (16, 16),
        order: Order::Scanline,
        max_bounces: 1,
    };
    let snap = Snapshot::new(scene, settings).unwrap();
    let pool = Arc::new(Pool::new(PoolConfig::with_threads(2)).unwrap());
    let mut reference = Renderer::new(Arc::clone(&pool));
    reference.render_all(&snap).unwrap();
    let full = reference.film().rgb();
    let tiles = 10 * 6;
    let mut seen_partial = false;
    for delay_ms in [1u64, 3, 8, 20, 50] {
        let mut r = Renderer::new(Arc::clone(&pool));
        r.reset(&snap);
        let token = CancelToken::new();
        let canceller = {
            let token = token.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(delay_ms));
                token.cancel(CancelReason::Superseded);
            })
        };
        let step = r
            .render_step(&snap, Duration::from_secs(60), &token)
            .unwrap();
        canceller.join().unwrap();
        if step.tiles_done == 0 || step.tiles_done == tiles {
            continue;
        }
        seen_partial = true;
        let rgb = r.film().rgb();
        let mut committed = 0;
        for ty in 0..6 {
            for tx in 0..10 {
                let n = r.film().samples(tx * 16, ty * 16);
                committed += n;
                for y in ty * 16..ty * 16 + 16 {
                    for x in tx * 16..tx * 16 + 16 {
                        // Whole tiles only, and each exactly as the full render has it.
                        assert_eq!(r.film().samples(x, y), n, "tile ({tx}, {ty}) is partial");
                        let i = (y * 160 + x) as usize;
                        let expect = if n == 1 { full[i] } else { [0.0; 3] };
                        assert_eq!(rgb[i], expect, "pixel ({x}, {y})");
                    }
                }
            }
        }
        assert_eq!(committed, step.tiles_done, "{step:?}");
    }
    assert!(seen_partial, "no cancellation landed mid-frame");
}

/// The host's one mesh: a triangle.
fn host_triangle() -> Arc<renderer_core::accel::Mesh> {
    Arc::new(
        renderer_core::accel::Mesh::new(
            vec![[-1.0, 0.0, -1.0], [1.0, 0.0, -1.0], [0.0, 1.0, 0.5]],
            vec![[0, 1, 2]],
        )
        .unwrap(),
    )
}

/// A host's scene, built anew from its own parts (the mesh `Arc`s reused).
fn host_scene(mesh: &Arc<renderer_core::accel::Mesh>, colour: [f32; 3]) -> Arc<Scene> {
    use renderer_core::builder::SceneBuilder;
    use renderer_core::scene::{CameraDesc, Light, Material};
    let mut b = SceneBuilder::new();
    b.camera(CameraDesc {
        position: glam::DVec3::new(0.0, 1.0, -4.0),
        look_at: glam::DVec3::ZERO,
        up: glam::DVec3::Y,
        fov_deg: 40.0,
        observer: Default::default(),
    });
    let m = b.mesh(Arc::clone(mesh));
    b.instance(
        m,
        glam::Affine3A::IDENTITY,
        Material::Diffuse(renderer_core::material::Diffuse {
            colour,
            emission: [0.0; 3],
        }),
    );
    b.light(Light::Directional {
        direction: glam::DVec3::new(0.2, -1.0, 0.3),
        irradiance: [1.0; 3],
    });
    Arc::new(b.build().unwrap())
}

#[test]
fn a_host_that_rebuilds_an_unchanged_scene_keeps_converging() {
    let mesh = host_triangle();
    let settings = RenderSettings {
        width: 16,
        height: 12,
        spp: 4,
        ..RenderSettings::default()
    };
    let mut r = Renderer::new(Arc::new(Pool::new(PoolConfig::with_threads(2)).unwrap()));
    // Every step gets a new scene object with the same content: the film is kept
    // and the frame completes.
    let mut passes = Vec::new();
    for _ in 0..64 {
        let snap = Snapshot::new(host_scene(&mesh, [0.5, 0.5, 0.5]), settings).unwrap();
        // No budget: a tile or none per step, so the frame takes several steps.
        let report = r
            .render_step(&snap, Duration::ZERO, &CancelToken::new())
            .unwrap();
        passes.push(report.passes_done);
        if report.frame_complete {
            break;
        }
    }
    assert_eq!(passes.last(), Some(&4), "{passes:?}");
    assert!(passes.windows(2).all(|w| w[1] >= w[0]), "{passes:?}");
    // A real change (a material) starts over.
    let snap = Snapshot::new(host_scene(&mesh, [0.9, 0.1, 0.1]), settings).unwrap();
    let report = r
        .render_step(&snap, Duration::from_secs(5), &CancelToken::new())
        .unwrap();
    assert!(report.passes_done < 4, "{}", report.passes_done);
}

#[test]
fn a_material_or_light_change_keeps_the_acceleration_structures() {
    // A host that changes only a material (or a light, or the environment) gets a new
    // film but no BLAS, field or TLAS stage: they stand for the same geometry; the
    // image is the one a fresh renderer makes of the changed scene, bit for bit.
    let mesh = host_triangle();
    let settings = RenderSettings {
        width: 16,
        height: 12,
        spp: 2,
        ..RenderSettings::default()
    };
    let pool = Arc::new(Pool::new(PoolConfig::with_threads(2)).unwrap());
    let mut r = Renderer::new(Arc::clone(&pool));
    let first = Snapshot::new(host_scene(&mesh, [0.5, 0.5, 0.5]), settings).unwrap();
    // Steps until the frame completes: whether stages 1-2 ran, and the stages.
    let steps = |r: &mut Renderer, snap: &Snapshot| {
        let (mut prepared, mut stages) = (false, Vec::new());
        for _ in 0..100 {
            let report = r
                .render_step(snap, Duration::from_secs(5), &CancelToken::new())
                .unwrap();
            prepared |= report.prepared;
            stages.extend(
                report
                    .stages
                    .iter()
                    .map(|s| s.name.clone())
                    .filter(|n| n.starts_with("accel.") || n == "fields"),
            );
            if report.frame_complete {
                break;
            }
        }
        (prepared, stages)
    };
    let (prepared, stages) = steps(&mut r, &first);
    assert!(
        prepared && !stages.is_empty(),
        "the first frame builds them: {stages:?}"
    );
    let changed = Snapshot::new(host_scene(&mesh, [0.9, 0.1, 0.1]), settings).unwrap();
    let (prepared, stages) = steps(&mut r, &changed);
    assert!(!prepared && stages.is_empty(), "rebuilt: {stages:?}");
    let mut fresh = Renderer::new(pool);
    let (prepared, _) = steps(&mut fresh, &changed);
    assert!(prepared);
    assert_eq!(r.film().rgb(), fresh.film().rgb());
}

/// Relative RMSE of 4x4 block means of `a` against `b` (`width` a multiple of 4).
fn block_error(a: &[[f32; 3]], b: &[[f32; 3]], width: usize) -> f64 {
    let height = a.len() / width;
    let (bw, bh) = (width / 4, height / 4);
    let blocks = |img: &[[f32; 3]]| {
        let mut out = vec![[0.0f64; 3]; bw * bh];
        for (i, p) in img.iter().enumerate() {
            let (x, y) = (i % width, i / width);
            for c in 0..3 {
                out[(y / 4) * bw + x / 4][c] += f64::from(p[c]);
            }
        }
        out
    };
    let (ba, bb) = (blocks(a), blocks(b));
    let (mut num, mut den) = (0.0, 0.0);
    for (p, q) in ba.iter().zip(&bb) {
        for c in 0..3 {
            num += (p[c] - q[c]).powi(2);
            den += q[c] * q[c];
        }
    }
    (num / den).sqrt()
}

#[test]
fn footprint_tolerances_render_as_accurately_as_exact_ones() {
    // Each ray integrated to its pixel's footprint (the default) against every ray
    // at the scene's tolerances: the same image error against a converged exact
    // reference (within 5% of it), which at 16 spp is the Monte Carlo noise.
    let pool = Arc::new(Pool::new(PoolConfig::with_threads(2)).unwrap());
    let (width, height) = (64u32, 48u32);
    for name in ["luneburg.ron", "black_hole.ron", "heat_haze.ron"] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../assets/scenes")
            .join(name);
        let footprint = Arc::new(Scene::load(&path).unwrap());
        assert!(footprint.tolerances().pixel_footprint, "the default");
        let exact = Arc::new(
            footprint
                .edit()
                .tolerances(renderer_core::integrator::Tolerances {
                    pixel_footprint: false,
                    ..*footprint.tolerances()
                })
                .build()
                .unwrap(),
        );
        let image = |scene: &Arc<Scene>, spp: u32, seed: u64| {
            let settings = RenderSettings {
                width,
                height,
                spp,
                seed,
                ..RenderSettings::default()
            };
            let mut r = Renderer::new(Arc::clone(&pool));
            r.render_all(&Snapshot::new(Arc::clone(scene), settings).unwrap())
                .unwrap();
            r.film().rgb()
        };
        let reference = image(&exact, 128, 99);
        let e_exact = block_error(&image(&exact, 16, 1), &reference, width as usize);
        let e_footprint = block_error(&image(&footprint, 16, 1), &reference, width as usize);
        eprintln!("{name}: block error footprint {e_footprint:.5}, exact {e_exact:.5}");
        assert!(
            e_footprint <= 1.05 * e_exact,
            "{name}: footprint error {e_footprint:.5}, exact {e_exact:.5}"
        );
    }
}
