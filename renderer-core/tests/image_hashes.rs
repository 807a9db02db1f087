//! Every example scene renders to the same bits as recorded in `image_hashes.txt`:
//! the guard for refactors that must not change a single pixel (the architecture
//! work moves code between modules and backends, never the maths). A deliberate
//! change of the images re-records them with `GRIN_BLESS=1 cargo test -p
//! renderer-core --test image_hashes`, and the commit says why.
//!
//! The hash is FNV-1a over the film's planes (radiance, depth, normal, instance,
//! segments, as little-endian f32/u32 bits) of a small CPU render on two threads.

use std::hash::Hasher;
use std::path::Path;
use std::sync::Arc;

use renderer_core::frame::{RenderSettings, Renderer, Snapshot};
use renderer_core::scene::Scene;
use scheduler::{Pool, PoolConfig};

/// Every scene in `assets/scenes/`, by name, sorted (a new example scene is hashed
/// as soon as it is added).
fn scenes() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/scenes");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.ends_with(".ron").then_some(name)
        })
        .collect();
    names.sort();
    names
}

fn render_hash(name: &str) -> u64 {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../assets/scenes")
        .join(name);
    let scene = Arc::new(Scene::load(&path).unwrap());
    let settings = RenderSettings {
        width: 32,
        height: 24,
        spp: 1,
        seed: 11,
        max_bounces: 2,
        ..RenderSettings::default()
    };
    let mut r = Renderer::new(Arc::new(Pool::new(PoolConfig::with_threads(2)).unwrap()));
    r.render_all(&Snapshot::new(scene, settings).unwrap())
        .unwrap();
    let film = r.film();
    let mut h = fnv::FnvHasher::default();
    let mut f32s = |v: &[f32]| v.iter().for_each(|x| h.write(&x.to_bits().to_le_bytes()));
    f32s(film.rgb().as_flattened());
    f32s(&film.depth());
    f32s(film.normal().as_flattened());
    f32s(&film.segments());
    film.instance()
        .iter()
        .for_each(|i| h.write(&i.to_le_bytes()));
    h.finish()
}

#[test]
fn every_example_scene_renders_to_the_recorded_bits() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/image_hashes.txt");
    let got: Vec<(String, u64)> = scenes()
        .into_iter()
        .map(|s| {
            let h = render_hash(&s);
            (s, h)
        })
        .collect();
    if std::env::var("GRIN_BLESS").as_deref() == Ok("1") {
        let mut text = String::from(
            "# FNV-1a of each example scene's film (tests/image_hashes.rs); re-record with GRIN_BLESS=1\n",
        );
        for (s, h) in &got {
            text += &format!("{s} {h:016x}\n");
        }
        std::fs::write(&file, text).unwrap();
        return;
    }
    let recorded = std::fs::read_to_string(&file).unwrap();
    let recorded: Vec<(String, u64)> = recorded
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (s, h) = l.split_once(' ').unwrap();
            (s.to_owned(), u64::from_str_radix(h.trim(), 16).unwrap())
        })
        .collect();
    let changed: Vec<String> = got
        .iter()
        .filter(|g| !recorded.contains(g))
        .map(|(s, h)| format!("{s}: now {h:016x}"))
        .collect();
    assert!(
        changed.is_empty() && recorded.len() == got.len(),
        "images changed (or scenes were added) against tests/image_hashes.txt:\n  {}\nIf the change is deliberate, re-record with GRIN_BLESS=1 and say why in the commit.",
        changed.join("\n  ")
    );
}
