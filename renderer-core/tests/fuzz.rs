//! Fuzzing the loaders on stable Rust with proptest: arbitrary bytes and structured
//! mutations of every bundled scene, mesh (OBJ, PLY ASCII and binary) and field grid
//! go through the loaders and validators. A panic fails the test (proptest catches
//! it and shrinks the input); every error must name the file it is about.
//!
//! A few seconds per target by default, from a fixed seed; `GRIN_FUZZ_CASES=N` runs N
//! cases per target and `GRIN_FUZZ_SEED=S` starts from another seed (for example
//! `GRIN_FUZZ_CASES=20000 GRIN_FUZZ_SEED=7 cargo test --release -p renderer-core
//! --test fuzz`).

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use renderer_core::scene::{Scene, load_mesh_file};

fn cases() -> u32 {
    std::env::var("GRIN_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(48)
}

/// A runner of [`cases`] cases from a fixed seed (the same inputs in every CI run),
/// or from `GRIN_FUZZ_SEED` for new ones.
fn runner() -> TestRunner {
    let seed = std::env::var("GRIN_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x6772_696e);
    TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        rng_seed: proptest::test_runner::RngSeed::Fixed(seed),
        ..Config::default()
    })
}

fn assets() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets")
}

/// A folder for this process's fuzz files.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("grin-fuzz-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Values that break naive code: overflows, NaN, negatives, zero, huge counts.
const NASTY: [&str; 16] = [
    "NaN",
    "inf",
    "-inf",
    "1e39",
    "-1e39",
    "1e300",
    "-1",
    "0",
    "0.0",
    "-0.0",
    "4294967296",
    "18446744073709551615",
    "99999999999999999999999",
    "1e-320",
    "\"\"",
    "[]",
];

/// A structured mutation of `text`: numbers replaced by nasty values, a slice cut
/// out or duplicated, bytes flipped, the text truncated.
#[derive(Debug, Clone)]
enum Mutation {
    ReplaceNumber { nth: usize, with: usize },
    Cut { at: usize, len: usize },
    Duplicate { at: usize, len: usize },
    Flip { at: usize, byte: u8 },
    Truncate { at: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (0usize..400, 0..NASTY.len()).prop_map(|(nth, with)| Mutation::ReplaceNumber { nth, with }),
        1 => (0usize..100_000, 1usize..40).prop_map(|(at, len)| Mutation::Cut { at, len }),
        1 => (0usize..100_000, 1usize..40).prop_map(|(at, len)| Mutation::Duplicate { at, len }),
        2 => (0usize..100_000, any::<u8>()).prop_map(|(at, byte)| Mutation::Flip { at, byte }),
        1 => (0usize..100_000).prop_map(|at| Mutation::Truncate { at }),
    ]
}

fn apply(text: &[u8], m: &Mutation) -> Vec<u8> {
    let n = text.len().max(1);
    match *m {
        Mutation::ReplaceNumber { nth, with } => {
            // The nth run of digits (with sign, point and exponent) in the text.
            let s = String::from_utf8_lossy(text);
            let mut runs = Vec::new();
            let b = s.as_bytes();
            let mut i = 0;
            while i < b.len() {
                if b[i].is_ascii_digit() {
                    let start = if i > 0 && b[i - 1] == b'-' { i - 1 } else { i };
                    while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.') {
                        i += 1;
                    }
                    runs.push((start, i));
                } else {
                    i += 1;
                }
            }
            if runs.is_empty() {
                return text.to_vec();
            }
            let (a, z) = runs[nth % runs.len()];
            let mut out = b[..a].to_vec();
            out.extend_from_slice(NASTY[with].as_bytes());
            out.extend_from_slice(&b[z..]);
            out
        }
        Mutation::Cut { at, len } => {
            let a = at % n;
            let z = (a + len).min(text.len());
            [&text[..a.min(text.len())], &text[z..]].concat()
        }
        Mutation::Duplicate { at, len } => {
            let a = (at % n).min(text.len());
            let z = (a + len).min(text.len());
            [&text[..z], &text[a..]].concat()
        }
        Mutation::Flip { at, byte } => {
            let mut out = text.to_vec();
            if !out.is_empty() {
                let k = at % out.len();
                out[k] = byte;
            }
            out
        }
        Mutation::Truncate { at } => text[..(at % n).min(text.len())].to_vec(),
    }
}

fn bundled_scenes() -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(assets().join("scenes")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "ron") {
            out.push((p.clone(), std::fs::read_to_string(&p).unwrap()));
        }
    }
    out.sort();
    out
}

/// Loads `text` as the scene `path` (which anchors its relative files): no panic, and
/// an error names the file.
fn check_scene(text: &[u8], path: &Path) -> Result<(), TestCaseError> {
    let text = String::from_utf8_lossy(text);
    if let Err(e) = Scene::from_str(&text, path) {
        let msg = e.to_string();
        let name = path.file_name().unwrap().to_string_lossy();
        prop_assert!(
            msg.contains(&*name),
            "the error does not name {name}: {msg}"
        );
    }
    Ok(())
}

#[test]
fn mutated_scenes_never_panic_and_errors_name_the_file() {
    let scenes = bundled_scenes();
    assert!(scenes.len() >= 8);
    let mut runner = runner();
    runner
        .run(
            &(0..scenes.len(), proptest::collection::vec(mutation(), 1..4)),
            |(k, muts)| {
                let (path, text) = &scenes[k];
                let mut bytes = text.as_bytes().to_vec();
                for m in &muts {
                    bytes = apply(&bytes, m);
                }
                check_scene(&bytes, path)
            },
        )
        .unwrap();
}

#[test]
fn arbitrary_bytes_as_a_scene_never_panic() {
    let path = assets().join("scenes/fuzz.ron");
    let mut runner = runner();
    runner
        .run(&proptest::collection::vec(any::<u8>(), 0..600), |bytes| {
            check_scene(&bytes, &path)
        })
        .unwrap();
}

/// Writes `bytes` as `name` in a scratch folder and loads it as a mesh.
fn check_mesh(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), TestCaseError> {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    // No panic; any error is the loader's sentence (the scene wraps it with the file).
    let _ = load_mesh_file(&path);
    Ok(())
}

#[test]
fn mutated_meshes_never_panic() {
    let dir = scratch("mesh");
    let obj = std::fs::read(assets().join("meshes/tetra.obj")).unwrap();
    let ply = std::fs::read(assets().join("meshes/quad.ply")).unwrap();
    // A binary PLY of the same quad, built here.
    let mut binary = b"ply\nformat binary_little_endian 1.0\nelement vertex 4\nproperty float x\nproperty float y\nproperty float z\nelement face 1\nproperty list uchar int vertex_indices\nend_header\n".to_vec();
    for v in [[0f32, 0., 0.], [1., 0., 0.], [1., 1., 0.], [0., 1., 0.]] {
        for c in v {
            binary.extend_from_slice(&c.to_le_bytes());
        }
    }
    binary.push(4);
    for i in 0i32..4 {
        binary.extend_from_slice(&i.to_le_bytes());
    }
    assert!(
        load_mesh_file(&{
            let p = dir.join("binary.ply");
            std::fs::write(&p, &binary).unwrap();
            p
        })
        .is_ok()
    );
    let sources = [("m.obj", obj), ("m.ply", ply), ("b.ply", binary)];
    let mut runner = runner();
    runner
        .run(
            &(
                0..sources.len(),
                proptest::collection::vec(mutation(), 1..4),
            ),
            |(k, muts)| {
                let (name, bytes) = &sources[k];
                let mut b = bytes.clone();
                for m in &muts {
                    b = apply(&b, m);
                }
                check_mesh(&dir, name, &b)
            },
        )
        .unwrap();
    let mut again = self::runner();
    again
        .run(
            &(0..2usize, proptest::collection::vec(any::<u8>(), 0..400)),
            |(k, bytes): (usize, Vec<u8>)| check_mesh(&dir, ["r.obj", "r.ply"][k], &bytes),
        )
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn mutated_field_grids_never_panic_and_errors_name_the_scene() {
    let dir = scratch("grid");
    let grid = std::fs::read(assets().join("fields/hot_air.ron")).unwrap();
    let scene_path = dir.join("grid-scene.ron");
    let scene = r#"(
    materials: [(name: "m", kind: Diffuse(colour: (0.5, 0.5, 0.5)))],
    camera: Some((position: (0.0, 1.0, -6.0), look_at: (0.0, 1.0, 0.0), fov_deg: 40.0)),
    fields: [Grid(file: "g.ron")],
)"#;
    let mut runner = runner();
    runner
        .run(&proptest::collection::vec(mutation(), 1..4), |muts| {
            let mut b = grid.clone();
            for m in &muts {
                b = apply(&b, m);
            }
            std::fs::write(dir.join("g.ron"), &b).unwrap();
            check_scene(scene.as_bytes(), &scene_path)
        })
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
