//! The `grin` binary end to end: `grin trace` prints the documented JSON; bad input
//! exits with status 2 and a message naming the problem.

mod common;

use common::walk;
use std::process::Command;

fn grin(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_grin"))
        .args(args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .output()
        .expect("run grin")
}

#[test]
fn trace_prints_the_luneburg_focus_as_json() {
    let out = grin(&[
        "trace",
        "assets/scenes/luneburg.ron",
        "--origin",
        "-3,0.5,0",
        "--dir",
        "1,0,0",
        "--stop-plane",
        "1,0,0,1,0,0",
        "--path",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["termination"], "Stopped");
    let p: Vec<f64> = serde_json::from_value(v["exit_point"].clone()).unwrap();
    assert!((p[0] - 1.0).abs() < 1e-4 && p[1].abs() < 1e-4, "{p:?}");
    let d: Vec<f64> = serde_json::from_value(v["exit_direction"].clone()).unwrap();
    assert!((d[0] - 0.75f64.sqrt()).abs() < 1e-4 && (d[1] + 0.5).abs() < 1e-4);
    // OPL: straight to the sphere, then pi/2 + sqrt(1 - h^2) inside.
    let expect = (3.0 - 0.75f64.sqrt()) + std::f64::consts::FRAC_PI_2 + 0.75f64.sqrt();
    assert!((v["optical_path_length"].as_f64().unwrap() - expect).abs() < 1e-4);
    assert!(v["steps"].as_u64().unwrap() > 0 && v["segments"].as_u64().unwrap() > 1);
    assert_eq!(
        v["path"].as_array().unwrap().len() as u64,
        v["segments"].as_u64().unwrap() + 1
    );
}

#[test]
fn trace_reports_a_hit_on_the_wall() {
    let out = grin(&[
        "trace",
        "assets/scenes/luneburg.ron",
        "--origin",
        "-3,0.5,0",
        "--dir",
        "1,0,0",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["termination"], "Hit");
    assert!((v["hit"]["position"][0].as_f64().unwrap() - 3.0).abs() < 1e-5);
}

#[test]
fn bad_input_exits_2_with_a_clear_message() {
    for (args, needle) in [
        (
            vec![
                "trace",
                "no/such.ron",
                "--origin",
                "0,0,0",
                "--dir",
                "1,0,0",
            ],
            "no/such.ron",
        ),
        (
            vec![
                "trace",
                "assets/scenes/luneburg.ron",
                "--origin",
                "0,0",
                "--dir",
                "1,0,0",
            ],
            "3 finite",
        ),
        (
            vec![
                "trace",
                "assets/scenes/luneburg.ron",
                "--origin",
                "0,0,0",
                "--dir",
                "0,0,0",
            ],
            "--dir",
        ),
        (
            vec![
                "trace",
                "assets/scenes/luneburg.ron",
                "--origin",
                "0,0,0",
                "--dir",
                "1,0,0",
                "--tolerance",
                "-1",
            ],
            "--tolerance",
        ),
        (vec!["frobnicate"], "frobnicate"),
    ] {
        let out = grin(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

#[test]
fn observer_directions_are_read_in_the_local_static_frame() {
    // At r = 30 M the shadow's edge is at psi = asin(b_c / r * sqrt(1 - 2M/r)) = 9.63
    // degrees from the hole: a ray 9 degrees off it is captured, one 11 degrees off
    // is not.
    let run = |deg: f64| {
        let a = deg.to_radians();
        let dir = format!("{},0,{}", a.sin(), a.cos());
        let out = grin(&[
            "trace",
            "assets/scenes/black_hole.ron",
            "--origin",
            "0,0,-30",
            "--dir",
            &dir,
            "--observer",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["termination"].as_str().unwrap().to_owned()
    };
    assert_eq!(run(9.0), "Captured");
    assert_ne!(run(11.0), "Captured");
    let out = grin(&[
        "trace",
        "assets/scenes/luneburg.ron",
        "--origin",
        "0,0,-3",
        "--dir",
        "0,0,1",
        "--observer",
    ]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn render_writes_a_png_and_rejects_bad_input_with_status_2() {
    let dir = std::env::temp_dir().join(format!("grin-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("lens.png");
    let run = grin(&[
        "render",
        "assets/scenes/luneburg.ron",
        "-o",
        out.to_str().unwrap(),
        "--spp",
        "1",
        "--size",
        "24x16",
        "--threads",
        "2",
        "--backend",
        "cpu",
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(String::from_utf8_lossy(&run.stderr).contains("CPU backend"));
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(&bytes[1..4], b"PNG");
    assert!(
        !dir.join("lens.png.tmp").exists(),
        "no temporary file is left behind"
    );
    for (args, needle) in [
        (vec!["render", "missing.ron", "-o", "x.png"], "missing.ron"),
        (
            vec![
                "render",
                "assets/scenes/luneburg.ron",
                "-o",
                "x.png",
                "--size",
                "0x10",
            ],
            "WxH",
        ),
        (
            vec![
                "render",
                "assets/scenes/luneburg.ron",
                "-o",
                "/no/such/dir/x.png",
            ],
            "/no/such/dir",
        ),
        (
            vec![
                "render",
                "assets/scenes/luneburg.ron",
                "-o",
                "x.png",
                "--spp",
                "0",
            ],
            "--spp",
        ),
    ] {
        let r = grin(&args);
        assert_eq!(r.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&r.stderr).contains(needle),
            "{args:?}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn render_writes_aovs_exr_and_a_chrome_trace() {
    let dir = std::env::temp_dir().join(format!("grin-cli-aov-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("lens.png");
    let trace = dir.join("frame.trace.json");
    let run = grin(&[
        "render",
        "assets/scenes/luneburg.ron",
        "-o",
        out.to_str().unwrap(),
        "--spp",
        "2",
        "--size",
        "32x24",
        "--aov",
        "depth,normal,instance,mask,segments",
        "--exr",
        "--trace-out",
        trace.to_str().unwrap(),
        "--backend",
        "cpu",
    ]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    // Telemetry in the summary: rays, segments, soft-gate subdivisions, stage times.
    for needle in ["rays", "segments", "subdivisions", "tiles", "accel.blas"] {
        assert!(stderr.contains(needle), "{needle}: {stderr}");
    }
    let colour = image::open(dir.join("lens.exr")).unwrap().to_rgb32f();
    assert_eq!(colour.dimensions(), (32, 24));
    assert!(colour.pixels().any(|p| p.0[0] > 0.0));
    for aov in ["depth", "normal", "instance", "mask", "segments"] {
        let img = image::open(dir.join(format!("lens.{aov}.exr")))
            .unwrap_or_else(|e| panic!("{aov}: {e}"))
            .to_rgb32f();
        assert_eq!(img.dimensions(), (32, 24), "{aov}");
    }
    // The depth AOV is a path length (the wall is about 4 to 7 units away); instance
    // ids are whole numbers, -1 where nothing was hit.
    let depth = image::open(dir.join("lens.depth.exr")).unwrap().to_rgb32f();
    assert!(depth.pixels().any(|p| p.0[0] > 3.0 && p.0[0] < 20.0));
    let ids = image::open(dir.join("lens.instance.exr"))
        .unwrap()
        .to_rgb32f();
    assert!(
        ids.pixels()
            .all(|p| p.0[0] == p.0[0].round() && p.0[0] >= -1.0)
    );
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&trace).unwrap()).unwrap();
    let events = doc["traceEvents"].as_array().unwrap();
    assert!(
        events.iter().any(|e| e["name"] == "tiles"),
        "a tiles stage span"
    );
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // Bad AOV names and an output that cannot be written are bad input: status 2.
    let bad = grin(&[
        "render",
        "assets/scenes/luneburg.ron",
        "-o",
        out.to_str().unwrap(),
        "--aov",
        "depth,albedo",
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("albedo"));
    let folder = dir.join("folder.png");
    std::fs::create_dir_all(&folder).unwrap();
    let onto_a_folder = grin(&[
        "render",
        "assets/scenes/luneburg.ron",
        "-o",
        folder.to_str().unwrap(),
        "--spp",
        "1",
        "--size",
        "8x8",
    ]);
    assert_eq!(onto_a_folder.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&onto_a_folder.stderr).contains("is a directory"));
    assert!(folder.is_dir());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn render_backends_say_where_they_run() {
    let dir = std::env::temp_dir().join(format!("grin-cli-gpu-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("bh.png");
    let render = |backend: &str, wgpu: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_grin"));
        cmd.current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
        cmd.args([
            "render",
            "assets/scenes/black_hole.ron",
            "-o",
            out.to_str().unwrap(),
            "--spp",
            "1",
            "--size",
            "32x24",
            "--backend",
            backend,
        ]);
        if let Some(b) = wgpu {
            cmd.env("WGPU_BACKEND", b);
        }
        cmd.output().unwrap()
    };
    // No adapter of this API here: auto renders on the CPU and says why, in one line;
    // gpu refuses with exit code 4.
    let missing = if cfg!(target_os = "macos") {
        "dx12"
    } else {
        "metal"
    };
    let auto = render("auto", Some(missing));
    let stderr = String::from_utf8_lossy(&auto.stderr);
    assert!(auto.status.success(), "{stderr}");
    assert_eq!(
        stderr.lines().filter(|l| l.contains("backend")).count(),
        1,
        "{stderr}"
    );
    assert!(
        stderr.contains("CPU backend") && stderr.contains("no GPU"),
        "{stderr}"
    );
    let gpu = render("gpu", Some(missing));
    assert_eq!(
        gpu.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&gpu.stderr)
    );
    // With the machine's adapters: the GPU renders when there is one.
    let gpu = render("gpu", None);
    let stderr = String::from_utf8_lossy(&gpu.stderr);
    if gpu.status.code() == Some(4) {
        assert!(
            std::env::var("GRIN_REQUIRE_GPU").as_deref() != Ok("1"),
            "GRIN_REQUIRE_GPU=1 but: {stderr}"
        );
        eprintln!("skipped the GPU render: {stderr}");
        return;
    }
    assert!(gpu.status.success(), "{stderr}");
    assert!(stderr.contains("GPU backend"), "{stderr}");
    let img = image::open(&out).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), (32, 24));
    assert!(img.pixels().any(|p| p.0[0] > 10), "an image, not black");
}

#[test]
fn batch_renders_resumes_and_refuses_bad_manifests() {
    let dir = std::env::temp_dir().join(format!("grin-batch-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = dir.to_str().unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec![
            "batch",
            "assets/manifests/demo.ron",
            "--out",
            out,
            "--backend",
            "cpu",
        ];
        args.extend_from_slice(extra);
        grin(&args)
    };
    let first = run(&[]);
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(first.status.success(), "{stderr}");
    assert!(stderr.contains("11 frames rendered"), "{stderr}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
    let frames = report["frames"].as_array().unwrap();
    assert_eq!(frames.len(), 11);
    for f in frames {
        assert_eq!(f["status"], "done");
        assert_eq!(f["non_finite"], 0);
        assert!(f["bytes"].as_u64().unwrap() > 0);
    }
    // The camera path moves the lens view: its first and last frames differ.
    let a = std::fs::read(dir.join("lens/frame_00000.png")).unwrap();
    let b = std::fs::read(dir.join("lens/frame_00003.png")).unwrap();
    assert_ne!(a, b);
    assert!(dir.join("tetra/frame_00000.exr").is_file());
    assert!(dir.join("lens/frame_00002.depth.png").is_file());
    // Resume: everything done is skipped; a missing output is rendered again, alone,
    // and comes back byte-identical.
    let again = run(&["--skip-completed"]);
    assert!(String::from_utf8_lossy(&again.stderr).contains("0 frames rendered, 11 already done"));
    std::fs::remove_file(dir.join("haze/frame_00001.png")).unwrap();
    let before = std::fs::read(dir.join("haze/frame_00002.png")).unwrap();
    let third = run(&["--skip-completed"]);
    let stderr = String::from_utf8_lossy(&third.stderr);
    assert!(
        third.status.success() && stderr.contains("1 frames rendered, 10 already done"),
        "{stderr}"
    );
    assert_eq!(
        before,
        std::fs::read(dir.join("haze/frame_00002.png")).unwrap()
    );
    let leftovers: Vec<_> = walk(&dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // A manifest writing outside --out is refused before anything renders.
    let bad = dir.join("bad.ron");
    std::fs::write(
        &bad,
        format!(
            r#"(jobs: [(scene: "{}", name: "../x")])"#,
            concat!(env!("CARGO_MANIFEST_DIR"), "/../assets/scenes/tetra.ron")
        ),
    )
    .unwrap();
    let refused = grin(&["batch", bad.to_str().unwrap(), "--out", out]);
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("bad.ron") && stderr.contains("jobs[0].name"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn shards_together_make_the_single_run_byte_for_byte() {
    let root = std::env::temp_dir().join(format!("grin-shards-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let batch = |out: &std::path::Path, shard: Option<&str>, env: &[(&str, &str)]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_grin"));
        cmd.current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
        cmd.args([
            "batch",
            "assets/manifests/demo.ron",
            "--out",
            out.to_str().unwrap(),
            "--backend",
            "cpu",
        ]);
        if let Some(s) = shard {
            cmd.args(["--shard", s]);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let run = cmd.output().unwrap();
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
    };
    let single = root.join("single");
    batch(&single, None, &[]);
    let sharded = root.join("sharded");
    batch(&sharded, Some("0/3"), &[]);
    // Shard 1 from Slurm's variables (an array 5-7), shard 2 from Kubernetes'.
    batch(
        &sharded,
        None,
        &[
            ("SLURM_ARRAY_TASK_ID", "6"),
            ("SLURM_ARRAY_TASK_MIN", "5"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
        ],
    );
    batch(
        &sharded,
        None,
        &[("JOB_COMPLETION_INDEX", "2"), ("GRIN_SHARD_COUNT", "3")],
    );
    let files = |dir: &std::path::Path| {
        let mut v: Vec<_> = walk(dir)
            .into_iter()
            .filter(|p| {
                !p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("report")
            })
            .map(|p| p.strip_prefix(dir).unwrap().to_path_buf())
            .collect();
        v.sort();
        v
    };
    let (a, b) = (files(&single), files(&sharded));
    assert_eq!(a, b, "the same set of outputs");
    for f in &a {
        assert_eq!(
            std::fs::read(single.join(f)).unwrap(),
            std::fs::read(sharded.join(f)).unwrap(),
            "{}",
            f.display()
        );
    }
    // Each shard's report holds its own part: 11 frames as 3 + 4 + 4.
    let mut counts: Vec<u64> = ["0-of-3", "1-of-3", "2-of-3"]
        .iter()
        .map(|s| {
            let r: serde_json::Value = serde_json::from_slice(
                &std::fs::read(sharded.join(format!("report.{s}.json"))).unwrap(),
            )
            .unwrap();
            r["frames_done"].as_u64().unwrap()
        })
        .collect();
    counts.sort_unstable();
    assert_eq!(counts, vec![3, 4, 4]);
    std::fs::remove_dir_all(&root).unwrap();
}

/// The Slurm array script in assets/cluster runs as the array's tasks would (the
/// `#SBATCH` lines are comments to bash): three tasks with Slurm's variables render
/// every frame of the demo once, each writing its own report.
#[test]
fn the_slurm_array_script_renders_every_frame_once() {
    let out = std::env::temp_dir().join(format!("grin-slurm-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    for task in 1..=3 {
        let run = Command::new("bash")
            .arg("assets/cluster/grin-array.slurm")
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
            .env("GRIN", env!("CARGO_BIN_EXE_grin"))
            .env("MANIFEST", "assets/manifests/demo.ron")
            .env("OUT", &out)
            .env("SLURM_ARRAY_TASK_ID", task.to_string())
            .env("SLURM_ARRAY_TASK_MIN", "1")
            .env("SLURM_ARRAY_TASK_COUNT", "3")
            .env("SLURM_CPUS_PER_TASK", "1")
            .env("WGPU_BACKEND", "metal")
            .output()
            .unwrap();
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
    }
    let mut done = 0;
    for i in 0..3 {
        let r: serde_json::Value = serde_json::from_slice(
            &std::fs::read(out.join(format!("report.{i}-of-3.json"))).unwrap(),
        )
        .unwrap();
        done += r["frames_done"].as_u64().unwrap();
        assert!(out.join(format!("status.{}.json", i + 1)).is_file());
    }
    assert_eq!(done, 11);
    let markers = ["lens", "haze", "tetra", "stretch"]
        .iter()
        .map(|d| {
            std::fs::read_dir(out.join(d))
                .unwrap()
                .filter(|e| {
                    e.as_ref()
                        .unwrap()
                        .path()
                        .to_string_lossy()
                        .ends_with(".done")
                })
                .count()
        })
        .sum::<usize>();
    assert_eq!(markers, 11);
    // The Kubernetes manifest gives grin the shard count it gives the Job.
    let k8s = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../assets/cluster/grin-indexed-job.yaml"
    ))
    .unwrap();
    assert!(k8s.contains("completionMode: Indexed"));
    assert!(k8s.contains("completions: 8") && k8s.contains("value: \"8\""));
    // A render farm's frame range: units 3..=5 of the manifest's 11.
    let ranged = out.join("ranged");
    let run = grin(&[
        "batch",
        "assets/manifests/demo.ron",
        "--out",
        ranged.to_str().unwrap(),
        "--backend",
        "cpu",
        "--range",
        "3-5",
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(ranged.join("report.3-5.json")).unwrap()).unwrap();
    let got: Vec<(u64, u64)> = r["frames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["job"].as_u64().unwrap(), f["frame"].as_u64().unwrap()))
        .collect();
    assert_eq!(got, vec![(0, 3), (1, 0), (1, 1)]);
    std::fs::remove_dir_all(&out).unwrap();
}
