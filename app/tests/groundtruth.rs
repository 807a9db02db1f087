//! Ground truth through a lens from `grin batch`: the traced AOVs, the per-frame
//! metadata, and the COCO export checked with pycocotools (a venv the CI makes:
//! `GRIN_COCO_PYTHON`; `GRIN_REQUIRE_COCO=1` makes its absence a failure).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

fn grin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_grin"))
        .args(args)
        .current_dir(ROOT)
        .output()
        .expect("run grin")
}

/// `grin batch MANIFEST --out OUT [extra] --backend cpu`, which must succeed.
fn batch(manifest: &Path, out: &Path, extra: &[&str]) {
    let mut args = vec![
        "batch",
        manifest.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend(extra);
    args.extend(["--backend", "cpu"]);
    let run = grin(&args);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
}

fn temp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("grin-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A sequence through the Luneburg lens with PNG AOVs (the checker reads the
/// instance plane with Pillow).
fn manifest(dir: &Path) -> PathBuf {
    let m = dir.join("gt.ron");
    let scene = Path::new(ROOT).join("assets/scenes/lens_objects.ron");
    std::fs::write(
        &m,
        format!(
            r#"(defaults: (size: (96, 72), spp: 2, bounces: 1),
                jobs: [(scene: "{}", name: "lens", frames: (start: 0, count: 3),
                        camera_path: [(frame: 0, position: (-6.0, 0.3, 0.2), look_at: (0.0, 0.0, 0.0)),
                                      (frame: 2, position: (-5.8, 0.5, 0.8), look_at: (0.0, 0.0, 0.0))],
                        outputs: (flow: true, aovs: ["instance", "objcoords", "order"]))])"#,
            scene.display()
        ),
    )
    .unwrap();
    m
}

#[test]
fn a_batch_writes_metadata_and_a_coco_file_whose_masks_are_the_instance_aov() {
    let dir = temp("groundtruth");
    let out = dir.join("out");
    let coco = out.join("coco.json");
    let m = manifest(&dir);
    batch(&m, &out, &["--coco", coco.to_str().unwrap()]);
    for f in 0..3 {
        for file in ["png", "json", "instance.png", "objcoords.png", "order.png"] {
            let p = out.join(format!("lens/frame_{f:05}.{file}"));
            assert!(p.is_file(), "{}", p.display());
        }
    }
    // Flow both ways, none beyond the sequence's ends; the EXR holds x, y and the
    // status of every pixel, most of them valid.
    for (f, fwd, bwd) in [(0, true, false), (1, true, true), (2, false, true)] {
        for (way, there) in [("fwd", fwd), ("bwd", bwd)] {
            for ext in ["exr", "png"] {
                let p = out.join(format!("lens/frame_{f:05}.flow_{way}.{ext}"));
                assert_eq!(p.is_file(), there, "{}", p.display());
            }
        }
    }
    let flow = image::open(out.join("lens/frame_00001.flow_fwd.exr"))
        .unwrap()
        .to_rgb32f();
    assert_eq!(flow.dimensions(), (96, 72));
    let codes: Vec<f32> = flow.pixels().map(|p| p.0[2]).collect();
    assert!(
        codes
            .iter()
            .all(|c| [1.0, 0.0, -1.0, -2.0, -3.0].contains(c))
    );
    let valid = codes.iter().filter(|&&c| c == 1.0).count();
    assert!(valid > 96 * 72 / 2, "{valid} valid");
    assert!(
        flow.pixels().any(|p| p.0[2] == 1.0 && p.0[0].abs() > 0.1),
        "the camera moves"
    );
    // The metadata: intrinsics from the field of view, the lens, and the ball seen
    // beside and through it (its box taller than its direct image alone).
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("lens/frame_00000.json")).unwrap()).unwrap();
    let f = meta["camera"]["K"][0][0].as_f64().unwrap();
    assert!((f - 36.0 / 20f64.to_radians().tan()).abs() < 1e-9, "{f}");
    assert_eq!(meta["medium"]["fields"][0]["Luneburg"]["radius"], 1.0);
    let ball = &meta["instances"][1];
    assert_eq!(
        (ball["name"].as_str(), ball["category"].as_str()),
        (Some("ball"), Some("sphere"))
    );
    assert!(ball["visible_pixels"].as_u64().unwrap() > 20, "{ball}");
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&coco).unwrap()).unwrap();
    assert_eq!(doc["images"].as_array().unwrap().len(), 3);
    assert_eq!(doc["categories"].as_array().unwrap().len(), 3);
    // pycocotools decodes every mask to the instance AOV.
    let python = std::env::var("GRIN_COCO_PYTHON").ok();
    let Some(python) = python else {
        assert!(
            std::env::var("GRIN_REQUIRE_COCO").is_err(),
            "GRIN_REQUIRE_COCO is set but GRIN_COCO_PYTHON (a Python with pycocotools and Pillow) is not"
        );
        eprintln!("skipping the pycocotools check: GRIN_COCO_PYTHON is not set");
        return;
    };
    let check = Command::new(python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/coco_check.py"))
        .arg(&coco)
        .arg(&out)
        .output()
        .expect("run the pycocotools check");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(check.status.success(), "{said}");
    assert!(
        said.contains("every mask equal to the instance AOV"),
        "{said}"
    );
}

/// A manifest sweep's image equals `grin render` of the scene edited the same way
/// (pixel for pixel), and an exposure of one stop doubles the linear image.
#[test]
fn a_manifest_sweep_renders_each_variation_as_its_own_scene_would() {
    let dir = temp("sweep");
    let scenes = Path::new(ROOT).join("assets/scenes");
    let base = std::fs::read_to_string(scenes.join("lens_objects.ron")).unwrap();
    let sun = "Directional(direction: (0.5, -0.7, 0.4), irradiance: (2.5, 2.5, 2.5))";
    let lamp = "Point(position: (-2.0, 2.0, 1.0), intensity: (8.0, 6.0, 4.0))";
    assert!(
        base.contains(sun),
        "the scene's light is the first light set"
    );
    // The variation as a scene of its own: the point light, a blue ball, a pale wall.
    let variant = base
        .replace(sun, lamp)
        .replace(
            "(name: \"red\", kind: Diffuse(colour: (0.8, 0.2, 0.15))),",
            "(name: \"red\", kind: Diffuse(colour: (0.2, 0.3, 0.9))),",
        )
        .replace(
            "(name: \"tiles\", kind: Checker(a: (0.9, 0.9, 0.9), b: (0.1, 0.15, 0.3), scale: 2.0)),",
            "(name: \"tiles\", kind: Diffuse(colour: (0.8, 0.8, 0.7))),",
        );
    assert_ne!(variant, base);
    let variant_path = dir.join("variant.ron");
    std::fs::write(
        &variant_path,
        variant.replace("\"../", &format!("\"{}/", scenes.display())),
    )
    .unwrap();
    let manifest = dir.join("sweep.ron");
    std::fs::write(
        &manifest,
        format!(
            r#"(defaults: (size: (64, 48), spp: 2, bounces: 2),
                jobs: [(scene: "{}", name: "sweep", outputs: (exr: true),
                        sweep: (lights: [[{sun}], [{lamp}]],
                                materials: [{{}}, {{"ball": Diffuse(colour: (0.2, 0.3, 0.9)), "wall": Diffuse(colour: (0.8, 0.8, 0.7))}}],
                                exposures: [0.0, 1.0]))])"#,
            scenes.join("lens_objects.ron").display()
        ),
    )
    .unwrap();
    let out = dir.join("out");
    batch(&manifest, &out, &[]);
    let listed: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("sweep/frame_00000.sweep.json")).unwrap())
            .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 8);
    // Light set 1, material set 1, exposure 0: image ((1 * 2 + 1) * 1 + 0) * 2 + 0.
    assert_eq!(listed[6]["lights"], 1);
    assert_eq!(listed[6]["materials"], 1);
    let alone = dir.join("alone.exr");
    let run = grin(&[
        "render",
        variant_path.to_str().unwrap(),
        "-o",
        alone.to_str().unwrap(),
        "--size",
        "64x48",
        "--spp",
        "2",
        "--bounces",
        "2",
        "--backend",
        "cpu",
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let read = |p: &Path| image::open(p).unwrap().to_rgb32f();
    let swept = read(&out.join("sweep/frame_00000.sweep_006.exr"));
    assert!(
        swept == read(&alone),
        "the sweep's variation differs from rendering it alone"
    );
    let brighter = read(&out.join("sweep/frame_00000.sweep_007.exr"));
    for (a, b) in swept.pixels().zip(brighter.pixels()) {
        for c in 0..3 {
            assert_eq!(b.0[c], 2.0 * a.0[c]);
        }
    }
}

/// The Kerr scene of the README: `grin render kerr_disk.ron -o kerr.png --aov
/// redshift` writes the picture and g per pixel (16-bit, 0..65535 = g 0..2): the
/// unshifted sky at the static observer's g = 1 / sqrt(1 - 2M r / (r^2 + a^2 cos^2))
/// blueshift (about 1.025 at r = 40), the disk both blue- and redshifted, the shadow
/// 0 (no g).
#[test]
fn render_writes_the_kerr_picture_and_its_redshift() {
    let dir = temp("kerr");
    let out = dir.join("kerr.png");
    let run = grin(&[
        "render",
        "assets/scenes/kerr_disk.ron",
        "-o",
        out.to_str().unwrap(),
        "--aov",
        "redshift",
        "--size",
        "96x54",
        "--spp",
        "1",
    ]);
    let log = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{log}");
    // Auto renders it on a GPU with f64 shaders, else on the CPU (here: no GPU).
    assert!(
        log.contains("grin render: CPU backend") || log.contains("grin render: GPU backend"),
        "{log}"
    );
    let image = image::open(&out).unwrap().to_rgb8();
    assert_eq!(image.dimensions(), (96, 54));
    let g = image::open(dir.join("kerr.redshift.png")).unwrap();
    let image::DynamicImage::ImageLuma16(g) = g else {
        panic!("the redshift AOV is 16-bit grey");
    };
    let values: Vec<f64> = g
        .pixels()
        .map(|p| f64::from(p.0[0]) / 65535.0 * 2.0)
        .collect();
    // The sky at the corner.
    assert!((values[0] - 1.0253).abs() < 1e-3, "{}", values[0]);
    assert!(values.iter().any(|&v| v > 1.2) && values.iter().any(|&v| v > 0.0 && v < 0.7));
    assert!(
        values.iter().filter(|&&v| v == 0.0).count() > 20,
        "the shadow"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
