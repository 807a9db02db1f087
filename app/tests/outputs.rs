//! Outputs are whole or absent, and only regular files are ever replaced (the
//! reliability issue's defects 1, 2 and part of 8): device nodes and FIFOs are
//! refused before rendering, a full disk is an error with nothing partial under a
//! final name, and an output may not replace the scene or another output.

mod common;

use common::walk;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
const SCENE: &str = "assets/scenes/tetra.ron";

fn grin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_grin"))
        .args(args)
        .current_dir(ROOT)
        .env("GRIN_THREADS", "2")
        .output()
        .expect("run grin")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("grin-outputs-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn mkfifo(path: &Path) -> bool {
    Command::new("mkfifo")
        .arg(path)
        .status()
        .is_ok_and(|s| s.success())
}

fn is_fifo(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_fifo())
}

fn render_to(out: &Path, extra: &[&str]) -> Output {
    render_with(out, extra, &[])
}

/// `grin render SCENE` at 16x12, 1 spp, on the CPU unless `extra` gives its own
/// `--size` or `--backend`, with `env` set.
fn render_with(out: &Path, extra: &[&str], env: &[(&str, &str)]) -> Output {
    let mut args = vec!["render", SCENE, "--spp", "1"];
    if !extra.contains(&"--size") {
        args.extend(["--size", "16x12"]);
    }
    if !extra.contains(&"--backend") {
        args.extend(["--backend", "cpu"]);
    }
    Command::new(env!("CARGO_BIN_EXE_grin"))
        .args(args)
        .args(extra)
        .arg("-o")
        .arg(out)
        .current_dir(ROOT)
        .env("GRIN_THREADS", "2")
        .envs(env.iter().copied())
        .output()
        .expect("run grin")
}

#[test]
fn fifos_and_device_nodes_are_never_replaced() {
    let dir = scratch("fifo");
    let fifo = dir.join("x.png");
    assert!(mkfifo(&fifo), "mkfifo is needed for this test");
    let out = render_to(&fifo, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("refusing to replace"),
        "{}",
        stderr(&out)
    );
    assert!(is_fifo(&fifo), "the FIFO was replaced");

    // A Chrome trace, an AOV and the EXR beside the PNG: each is checked before
    // rendering, so nothing at all is written.
    let png = dir.join("y.png");
    let trace = dir.join("trace.json");
    assert!(mkfifo(&trace));
    let out = render_to(&png, &["--trace-out", trace.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(is_fifo(&trace) && !png.exists(), "{}", stderr(&out));
    let aov = dir.join("y.depth.png");
    assert!(mkfifo(&aov));
    let out = render_to(&png, &["--aov", "depth"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(is_fifo(&aov) && !png.exists());

    // A character device (root only): /dev/null's twin in the scratch folder.
    let dev = dir.join("null.png");
    let made = Command::new("mknod")
        .arg(&dev)
        .args(["c", "1", "3"])
        .status()
        .is_ok_and(|s| s.success());
    if made {
        let out = render_to(&dev, &[]);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        use std::os::unix::fs::FileTypeExt;
        assert!(
            std::fs::symlink_metadata(&dev)
                .unwrap()
                .file_type()
                .is_char_device()
        );
    } else {
        eprintln!("skipped the device-node case: mknod is not permitted here");
    }

    // grin batch: --report and --status-file.
    let out_dir = dir.join("batch");
    std::fs::create_dir_all(&out_dir).unwrap();
    let report = dir.join("report.json");
    assert!(mkfifo(&report));
    let out = grin(&[
        "batch",
        "assets/manifests/demo.ron",
        "--out",
        out_dir.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(is_fifo(&report));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn outputs_may_not_replace_the_scene_each_other_or_take_other_formats() {
    let dir = scratch("names");
    let scene = dir.join("scene.ron");
    std::fs::copy(Path::new(ROOT).join(SCENE), &scene).unwrap();
    let before = std::fs::read(&scene).unwrap();
    let out = grin(&[
        "render",
        scene.to_str().unwrap(),
        "--size",
        "8x6",
        "--spp",
        "1",
        "-o",
        scene.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(
        std::fs::read(&scene).unwrap(),
        before,
        "the scene was overwritten"
    );

    let jpg = dir.join("x.jpg");
    let out = render_to(&jpg, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains(".png"), "{}", stderr(&out));
    assert!(!jpg.exists());

    let png = dir.join("x.png");
    let out = render_to(&png, &["--trace-out", png.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(!png.exists());
    let _ = std::fs::remove_dir_all(&dir);
}

/// A 64 KiB tmpfs, filled; `None` (after saying why) where mounting is not allowed.
struct FullDisk(PathBuf);

impl FullDisk {
    fn mount(name: &str) -> Option<Self> {
        let dir = scratch(name);
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
            .arg(&dir)
            .output()
            .is_ok_and(|o| o.status.success());
        if !ok {
            eprintln!("skipped: cannot mount a tmpfs here (needs root and mount rights)");
            return None;
        }
        // Fill it.
        let _ = std::fs::write(dir.join("fill"), vec![0u8; 64 * 1024]);
        Some(Self(dir))
    }
}

impl Drop for FullDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn a_full_disk_is_an_error_and_leaves_nothing_partial() {
    let Some(disk) = FullDisk::mount("full") else {
        return;
    };
    let png = disk.0.join("x.png");
    let out = render_to(&png, &["--aov", "depth"]);
    assert_ne!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("cannot write"), "{}", stderr(&out));
    let left: Vec<_> = std::fs::read_dir(&disk.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        left,
        vec!["fill".to_owned()],
        "partial files left: {left:?}"
    );

    // A batch on the full disk: frames fail, nothing carries a final name, and the
    // exit status says so.
    let out_dir = disk.0.join("batch");
    let _ = std::fs::create_dir_all(&out_dir);
    let out = grin(&[
        "batch",
        "assets/manifests/demo.ron",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_ne!(out.status.code(), Some(0), "{}", stderr(&out));
    for f in walk(&disk.0) {
        let name = f.to_string_lossy().into_owned();
        let len = std::fs::metadata(&f).map_or(0, |m| m.len());
        assert!(
            !name.ends_with(".tmp") && (len > 0 || name.ends_with("fill")),
            "{name}: {len} bytes"
        );
    }
}

/// Runs `cmd` for at most `secs` seconds; `None` if it had to be killed (a hang).
fn run_bounded(cmd: &mut Command, secs: u64) -> Option<Output> {
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let started = std::time::Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            return Some(child.wait_with_output().expect("output"));
        }
        if started.elapsed().as_secs() >= secs {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn a_panicking_frame_fails_alone_and_the_batch_ends_with_its_report() {
    let dir = scratch("panic");
    let out = run_bounded(
        Command::new(env!("CARGO_BIN_EXE_grin"))
            .args([
                "batch",
                "assets/manifests/demo.ron",
                "--workers",
                "1",
                "--out",
            ])
            .arg(&dir)
            .current_dir(ROOT)
            .env("GRIN_BATCH_PANIC_AT", "3"),
        300,
    )
    .expect("grin batch hung after a frame panicked");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
    let frames = report["frames"].as_array().unwrap();
    let failed: Vec<_> = frames.iter().filter(|f| f["status"] != "done").collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(
        failed[0].to_string().contains("panicked while rendering"),
        "{}",
        failed[0]
    );
    assert_eq!(report["frames_done"], frames.len() - 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_grid_whose_size_overflows_is_refused_at_load() {
    let dir = scratch("grid");
    let scene = dir.join("grid.ron");
    std::fs::write(
        dir.join("huge.field.ron"),
        "(dims: (4294967296, 4294967296, 2), min: (-1.0, -1.0, -1.0), max: (1.0, 1.0, 1.0), values: [])",
    )
    .unwrap();
    std::fs::write(
        &scene,
        r#"(
    materials: [(name: "m", kind: Diffuse(colour: (0.5, 0.5, 0.5)))],
    lights: [Directional(direction: (0.0, -1.0, 0.0), irradiance: (1.0, 1.0, 1.0))],
    camera: Some((position: (0.0, 0.0, -5.0), look_at: (0.0, 0.0, 0.0), fov_deg: 40.0)),
    fields: [Grid(file: "huge.field.ron")],
)"#,
    )
    .unwrap();
    let png = dir.join("x.png");
    for args in [
        vec![
            "render",
            scene.to_str().unwrap(),
            "-o",
            png.to_str().unwrap(),
        ],
        vec![
            "trace",
            scene.to_str().unwrap(),
            "--origin",
            "0,0,-3",
            "--dir",
            "0,0,1",
        ],
    ] {
        let out = grin(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("dims"), "{}", stderr(&out));
    }
    assert!(!png.exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn absurd_thread_counts_are_refused_with_the_limit() {
    let dir = scratch("threads");
    let png = dir.join("x.png");
    for (flag, env) in [
        (Some("18446744073709551615"), None),
        (Some("100000"), None),
        (None, Some("100000")),
    ] {
        let threads: Vec<&str> = flag.map(|n| vec!["--threads", n]).unwrap_or_default();
        let envs: Vec<(&str, &str)> = env.map(|n| vec![("GRIN_THREADS", n)]).unwrap_or_default();
        let out = render_with(&png, &threads, &envs);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{flag:?} {env:?}: {}",
            stderr(&out)
        );
        assert!(stderr(&out).contains("at most"), "{}", stderr(&out));
    }
    let out = grin(&[
        "batch",
        "assets/manifests/demo.ron",
        "--out",
        dir.join("b").to_str().unwrap(),
        "--workers",
        "100000",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(!png.exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn devices_directories_and_huge_inputs_are_refused_and_a_bom_is_accepted() {
    let dir = scratch("inputs");
    let png = dir.join("x.png");
    // /dev/zero as a scene or a manifest: refused at once, not read for ever.
    let out = run_bounded(
        Command::new(env!("CARGO_BIN_EXE_grin"))
            .args(["render", "/dev/zero", "-o"])
            .arg(&png)
            .current_dir(ROOT),
        60,
    )
    .expect("reading /dev/zero hung");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not a regular file"),
        "{}",
        stderr(&out)
    );
    let out = run_bounded(
        Command::new(env!("CARGO_BIN_EXE_grin"))
            .args(["batch", "/dev/zero", "--out"])
            .arg(dir.join("b"))
            .current_dir(ROOT),
        60,
    )
    .expect("reading /dev/zero hung");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not a regular file"),
        "{}",
        stderr(&out)
    );

    // A mesh path that is a directory says so (it said "no such file").
    std::fs::create_dir_all(dir.join("mesh.obj")).unwrap();
    let tetra = std::fs::read_to_string(Path::new(ROOT).join(SCENE)).unwrap();
    let scene = dir.join("dir-mesh.ron");
    std::fs::write(&scene, tetra.replace("../meshes/tetra.obj", "mesh.obj")).unwrap();
    let out = render_to_scene(&scene, &png);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("is a directory"), "{}", stderr(&out));

    // A mesh path that is a symbolic link loop says so (it said "no such file").
    std::os::unix::fs::symlink("loop.obj", dir.join("loop.obj")).unwrap();
    let looped = dir.join("loop-mesh.ron");
    std::fs::write(&looped, tetra.replace("../meshes/tetra.obj", "loop.obj")).unwrap();
    let out = render_to_scene(&looped, &png);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("symbolic links"), "{}", stderr(&out));

    // A scene saved with a UTF-8 byte-order mark renders.
    let abs = Path::new(ROOT).join("assets/meshes/tetra.obj");
    let bom = dir.join("bom.ron");
    std::fs::write(
        &bom,
        format!(
            "\u{feff}{}",
            tetra.replace("../meshes/tetra.obj", abs.to_str().unwrap())
        ),
    )
    .unwrap();
    let out = render_to_scene(&bom, &png);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(png.exists());
    let _ = std::fs::remove_dir_all(&dir);
}

fn render_to_scene(scene: &Path, out: &Path) -> Output {
    grin(&[
        "render",
        scene.to_str().unwrap(),
        "--size",
        "8x6",
        "--spp",
        "1",
        "--backend",
        "cpu",
        "-o",
        out.to_str().unwrap(),
    ])
}

#[test]
fn a_camera_override_is_checked_like_the_files_and_huge_directions_normalise() {
    let dir = scratch("camera");
    let png = dir.join("x.png");
    // Up (+y by default) along the view: refused as in a scene file, not rendered white.
    let out = render_to(&png, &["--camera", "0,5,0,0,0,0"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("camera.up"), "{}", stderr(&out));
    assert!(!png.exists());
    // trace: a direction whose squared length overflows is still a direction.
    let out = grin(&["trace", SCENE, "--origin", "0,5,0", "--dir", "0,-1e200,0"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let d: Vec<f64> = serde_json::from_value(v["exit_direction"].clone()).unwrap();
    assert!((d[1] + 1.0).abs() < 1e-9, "{d:?}");
    let out = grin(&["trace", SCENE, "--origin", "0,5,0", "--dir", "0,0,0"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn ranges_past_the_end_and_huge_shards_are_not_silent_no_ops() {
    let dir = scratch("range");
    let batch = |extra: &[&str], out: &Path| {
        let mut args = vec![
            "batch",
            "assets/manifests/demo.ron",
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        grin(&args)
    };
    // The demo has 11 frames (0-10).
    let out = batch(&["--range", "100-200"], &dir.join("a"));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("11 frames"), "{}", stderr(&out));
    // An end past the last frame is clamped: frames 9 and 10 render.
    let out = batch(&["--range", "9-18446744073709551615"], &dir.join("b"));
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.join("b/report.9-18446744073709551615.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(report["frames_done"], 2, "{report}");
    // The last of 2^63 shards holds the last frame (the arithmetic overflowed).
    let out = batch(
        &["--shard", "9223372036854775807/9223372036854775808"],
        &dir.join("c"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let name = "report.9223372036854775807-of-9223372036854775808.json";
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("c").join(name)).unwrap()).unwrap();
    assert_eq!(report["frames_total"], 1, "{report}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_symlink_inside_out_is_never_followed() {
    let dir = scratch("symlink");
    let out = dir.join("out");
    let elsewhere = dir.join("elsewhere");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();
    // The demo's job "tetra" would write into OUT/tetra: make that a link elsewhere.
    std::os::unix::fs::symlink(&elsewhere, out.join("tetra")).unwrap();
    let res = grin(&[
        "batch",
        "assets/manifests/demo.ron",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(res.status.code(), Some(1), "{}", stderr(&res));
    assert!(stderr(&res).contains("symbolic link"), "{}", stderr(&res));
    assert_eq!(
        std::fs::read_dir(&elsewhere).unwrap().count(),
        0,
        "a file was written through the link"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_manifest_is_checked_against_its_scenes_before_anything_renders() {
    let dir = scratch("manifest");
    let scenes = Path::new(ROOT).join("assets/scenes");
    let cases = [
        (
            format!(
                "(jobs: [(scene: \"{}\"), (scene: \"bad.ron\")])",
                scenes.join("tetra.ron").display()
            ),
            "jobs[1].scene",
        ),
        (
            format!(
                "(jobs: [(scene: \"{}\", frames: (start: 0, count: 2), animate: [(instance: 99, keys: [(frame: 0, translate: (0.0, 0.0, 0.0))])])])",
                scenes.join("tetra.ron").display()
            ),
            "jobs[0].animate[0].instance",
        ),
        (
            "(jobs: [(scene: \"m.ron\")])".to_owned(),
            "the manifest itself",
        ),
    ];
    std::fs::write(dir.join("bad.ron"), "(materials: [").unwrap();
    for (text, want) in cases {
        let manifest = dir.join("m.ron");
        std::fs::write(&manifest, &text).unwrap();
        let out_dir = dir.join("out");
        let out = grin(&[
            "batch",
            manifest.to_str().unwrap(),
            "--out",
            out_dir.to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(2), "{text}: {}", stderr(&out));
        assert!(stderr(&out).contains(want), "{text}: {}", stderr(&out));
        // Nothing rendered.
        assert!(
            walk(&out_dir)
                .iter()
                .all(|p| !p.to_string_lossy().ends_with(".png")),
            "{text}: frames were rendered"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_frame_that_cannot_fit_in_memory_is_refused_before_allocating() {
    let dir = scratch("memory");
    let png = dir.join("x.png");
    let out = render_with(
        &png,
        &["--size", "1024x1024"],
        &[("GRIN_MAX_MEMORY", "10000000")],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("GiB"), "{}", stderr(&out));
    assert!(!png.exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_malformed_test_switch_is_reported_not_ignored() {
    let dir = scratch("switch");
    let png = dir.join("x.png");
    let out = render_with(&png, &[], &[("GRIN_GPU_FAIL_ALLOC", "three")]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("GRIN_GPU_FAIL_ALLOC=\"three\""),
        "{}",
        stderr(&out)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_zero_ram_budget_says_what_it_is() {
    let dir = scratch("ram");
    let out = grin(&[
        "batch",
        "assets/manifests/demo.ron",
        "--out",
        dir.to_str().unwrap(),
        "--ram-budget",
        "0",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--ram-budget must be above 0"),
        "{}",
        stderr(&out)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Whether a GPU adapter is there for the GPU cases (lavapipe in CI, where
/// `GRIN_REQUIRE_GPU=1` makes its absence a failure).
fn gpu_available() -> bool {
    let dir = scratch("probe");
    let png = dir.join("p.png");
    let out = grin(&[
        "render",
        SCENE,
        "--size",
        "4x4",
        "--spp",
        "1",
        "--backend",
        "gpu",
        "-o",
        png.to_str().unwrap(),
    ]);
    let _ = std::fs::remove_dir_all(&dir);
    // Exit 4: no adapter.
    if out.status.code() == Some(4) {
        assert!(
            std::env::var("GRIN_REQUIRE_GPU").as_deref() != Ok("1"),
            "GRIN_REQUIRE_GPU=1 but no GPU: {}",
            stderr(&out)
        );
        eprintln!("skipped: no GPU adapter");
        return false;
    }
    assert!(out.status.success(), "{}", stderr(&out));
    true
}

#[test]
fn render_retries_a_transient_gpu_out_of_memory_once() {
    if !gpu_available() {
        return;
    }
    let dir = scratch("oom");
    let png = dir.join("x.png");
    let run = |fail: &str| {
        render_with(
            &png,
            &["--backend", "gpu"],
            &[("GRIN_GPU_FAIL_ALLOC", fail)],
        )
    };
    // One allocation of the scene fails: freed, retried, rendered.
    let out = run("3");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("retrying once"), "{}", stderr(&out));
    assert!(png.exists());
    // Every allocation from the 3rd on fails: exit 3 after the retry.
    std::fs::remove_file(&png).unwrap();
    let out = run("3-");
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(!png.exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn two_batches_on_one_out_render_each_frame_once() {
    let dir = scratch("concurrent");
    let out = dir.join("out");
    let start = |k: usize| {
        Command::new(env!("CARGO_BIN_EXE_grin"))
            .args([
                "batch",
                "assets/manifests/demo.ron",
                "--workers",
                "1",
                "--out",
            ])
            .arg(&out)
            .arg("--report")
            .arg(dir.join(format!("report{k}.json")))
            .current_dir(ROOT)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (start(0), start(1));
    for child in [a, b] {
        let o = child.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let mut done = std::collections::HashMap::new();
    for k in 0..2 {
        let r: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join(format!("report{k}.json"))).unwrap())
                .unwrap();
        for f in r["frames"].as_array().unwrap() {
            if f["status"] == "done" {
                *done
                    .entry((f["job"].as_u64().unwrap(), f["frame"].as_u64().unwrap()))
                    .or_insert(0) += 1;
            }
        }
    }
    assert_eq!(done.len(), 11, "every frame rendered: {done:?}");
    assert!(
        done.values().all(|&n| n == 1),
        "a frame rendered twice: {done:?}"
    );
    // Nothing of the claims or temporary files is left.
    let left: Vec<_> = walk(&out)
        .into_iter()
        .filter(|p| {
            let s = p.to_string_lossy();
            s.ends_with(".claim") || s.ends_with(".tmp")
        })
        .collect();
    assert!(left.is_empty(), "{left:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_batch_job_that_cannot_fit_is_skipped_and_the_rest_go_on() {
    let dir = scratch("jobmem");
    let scene = Path::new(ROOT).join(SCENE);
    let manifest = dir.join("m.ron");
    std::fs::write(
        &manifest,
        format!(
            "(jobs: [(scene: \"{s}\", name: \"small\", size: (16, 12), spp: 1), (scene: \"{s}\", name: \"big\", size: (2048, 2048), spp: 1)])",
            s = scene.display()
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_grin"))
        .args(["batch"])
        .arg(&manifest)
        .arg("--out")
        .arg(dir.join("out"))
        .current_dir(ROOT)
        .env("GRIN_MAX_MEMORY", "100000000")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("out/report.json")).unwrap()).unwrap();
    let frames = report["frames"].as_array().unwrap();
    let status = |job: u64| {
        frames
            .iter()
            .find(|f| f["job"] == job)
            .map(|f| f["status"].as_str().unwrap().to_owned())
    };
    assert_eq!(status(0).as_deref(), Some("done"), "{report}");
    assert_eq!(status(1).as_deref(), Some("failed"), "{report}");
    assert!(report.to_string().contains("GiB is available"), "{report}");
    assert!(dir.join("out/small/frame_00000.png").exists());
    assert!(!dir.join("out/big/frame_00000.png").exists());
    let _ = std::fs::remove_dir_all(&dir);
}
