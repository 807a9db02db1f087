//! CPU rendering: determinism across threads and tile orders, whole-tile commits under
//! cancellation, budgets, and progress to a complete frame.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use renderer_core::render::{RenderSettings, Renderer, Snapshot};
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
