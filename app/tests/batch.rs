//! `grin batch` under stress: out-of-memory injection at random allocations,
//! SIGKILL at random moments with resume, a status file read while it is rewritten,
//! residency under a one-scene budget, mesh sequences, pruning, and `grin inspect`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

fn grin(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_grin"));
    cmd.args(args).current_dir(ROOT);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run grin")
}

fn temp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("grin-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A small deterministic generator (xorshift64*), so "random" runs repeat.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A manifest in `dir` over the repository's scenes: three scene keys, one of them an
/// animated sequence, small frames.
fn manifest(dir: &Path, size: (u32, u32), spp: u32, outputs: &str) -> PathBuf {
    let scenes = Path::new(ROOT).join("assets/scenes");
    let s = |n: &str| scenes.join(n).display().to_string();
    let text = format!(
        r#"(
    defaults: (size: ({w}, {h}), spp: {spp}, bounces: 2, outputs: {outputs}),
    jobs: [
        (scene: "{tetra}", name: "tetra", frames: (start: 0, count: 3),
         camera_path: [
             (frame: 0, position: (2.0, 2.0, -3.0), look_at: (0.3, 0.3, 0.3)),
             (frame: 2, position: (2.5, 1.5, -3.0), look_at: (0.3, 0.3, 0.3)),
         ]),
        (scene: "{haze}", name: "haze", frames: (start: 0, count: 3),
         animate: [(instance: 0, keys: [(frame: 0, translate: (0.0, 0.0, 0.0)), (frame: 2, translate: (0.4, 0.0, 0.0))])]),
        (scene: "{lens}", name: "lens", frames: (start: 0, count: 2)),
        (scene: "{tetra}", name: "tetra_again", frames: (start: 5, count: 2)),
    ],
)"#,
        w = size.0,
        h = size.1,
        tetra = s("tetra.ron"),
        haze = s("heat_haze.ron"),
        lens = s("luneburg.ron"),
    );
    let path = dir.join("manifest.ron");
    std::fs::write(&path, text).unwrap();
    path
}

/// Every file under `dir` (relative path -> bytes), except reports and status files.
fn outputs(dir: &Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    let mut m = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_path_buf();
                let name = rel.to_string_lossy();
                if !(name.starts_with("report") || name.starts_with("status")) {
                    m.insert(rel, std::fs::read(&p).unwrap());
                }
            }
        }
    }
    m
}

fn report(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap()
}

/// Whether a GPU adapter (lavapipe counts) can be opened; with GRIN_REQUIRE_GPU=1 its
/// absence fails the test instead of skipping it.
fn gpu_available(dir: &Path) -> bool {
    let out = grin(
        &[
            "render",
            "assets/scenes/tetra.ron",
            "-o",
            dir.join("probe.png").to_str().unwrap(),
            "--size",
            "8x6",
            "--spp",
            "1",
            "--backend",
            "gpu",
        ],
        &[],
    );
    if out.status.code() == Some(4) {
        assert!(
            std::env::var("GRIN_REQUIRE_GPU").as_deref() != Ok("1"),
            "GRIN_REQUIRE_GPU=1 but no GPU: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!("skipped: no GPU adapter");
        return false;
    }
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    true
}

#[test]
fn out_of_memory_at_random_allocations_never_stops_the_batch() {
    let dir = temp("oom");
    if !gpu_available(&dir) {
        return;
    }
    let m = manifest(&dir, (24, 18), 1, "(png: true)");
    let mut rng = Rng(0x005E_ED0F_0033);
    // A batch of 10 frames allocates about 60 buffers (11 per scene upload, 3 per
    // frame's film): failures land on scene uploads and films alike.
    let mut cases: Vec<String> = (0..5)
        .map(|_| {
            let n = 1 + rng.below(3);
            (0..n)
                .map(|_| (1 + rng.below(60)).to_string())
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect();
    // And a device that refuses everything after its first scene: frames are
    // skipped after the whole ladder.
    cases.push("12-".into());
    // Three failures in a row on the first frame's film, then its scene's upload:
    // the whole ladder, and that frame alone is skipped.
    cases.push("12-14".into());
    for fail in &cases {
        let out_dir = dir.join(format!("run-{}", fail.replace(',', "_")));
        let out = grin(
            &[
                "batch",
                m.to_str().unwrap(),
                "--out",
                out_dir.to_str().unwrap(),
                "--backend",
                "gpu",
                "--max-resident-scenes",
                "1",
                "--retries",
                "1",
                "--retry-delay-ms",
                "10",
            ],
            &[("GRIN_GPU_FAIL_ALLOC", fail)],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{fail}: {stderr}");
        let r = report(&out_dir);
        let frames = r["frames"].as_array().unwrap();
        assert_eq!(frames.len(), 10, "{fail}: every frame is in the report");
        let failed: Vec<_> = frames.iter().filter(|f| f["status"] == "failed").collect();
        assert_eq!(r["frames_failed"].as_u64(), Some(failed.len() as u64));
        for f in &failed {
            assert_eq!(f["failure"], "OutOfMemory", "{fail}: {f}");
            assert!(f["error"].as_str().unwrap().contains("out of"), "{f}");
        }
        for f in frames.iter().filter(|f| f["status"] == "done") {
            assert!(Path::new(f["output"].as_str().unwrap()).is_file());
        }
        let code = out.status.code();
        let retried = frames
            .iter()
            .filter(|f| f["retries"].as_u64() > Some(0))
            .count();
        eprintln!(
            "GRIN_GPU_FAIL_ALLOC={fail}: exit {code:?}, {} failed, {retried} retried",
            failed.len()
        );
        if failed.is_empty() {
            assert_eq!(code, Some(0), "{fail}: {stderr}");
        } else {
            assert_eq!(code, Some(1), "{fail}: {stderr}");
        }
        if fail == "12-" {
            assert!(failed.len() >= 8, "{fail}: {} failed", failed.len());
        } else if fail == "12-14" {
            assert_eq!(failed.len(), 1, "{fail}: {stderr}");
            assert_eq!(
                failed[0]["retries"], 2,
                "evict sequences, evict a scene, skip"
            );
        } else if !fail.contains(',') {
            // One failing allocation: the ladder's retry renders the frame.
            assert!(failed.is_empty(), "{fail}: {stderr}");
            assert!(
                frames.iter().any(|f| f["retries"].as_u64() > Some(0)),
                "{fail}: a retry was recorded"
            );
        }
    }
    // Run as a single frame, out of memory is its own exit code.
    let one = dir.join("one.ron");
    std::fs::write(
        &one,
        format!(
            "[\"{}\"]",
            Path::new(ROOT).join("assets/scenes/tetra.ron").display()
        ),
    )
    .unwrap();
    let out = grin(
        &[
            "batch",
            one.to_str().unwrap(),
            "--out",
            dir.join("one").to_str().unwrap(),
            "--backend",
            "gpu",
        ],
        &[("GRIN_GPU_FAIL_ALLOC", "1-")],
    );
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn sigkill_at_random_moments_then_resume_gives_the_uninterrupted_outputs() {
    let dir = temp("kill");
    let m = manifest(
        &dir,
        (96, 72),
        4,
        "(png: true, exr: true, aovs: [\"depth\"])",
    );
    let args = |out: &Path| -> Vec<String> {
        [
            "batch",
            m.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--backend",
            "cpu",
            "--skip-completed",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
    };
    let reference = dir.join("reference");
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_grin"))
        .args(args(&reference))
        .current_dir(ROOT)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let whole = outputs(&reference);
    // Kill moments spread over an uninterrupted run's length (each restart has less
    // left to do, so later kills may find it finished).
    let full_ms = started.elapsed().as_millis() as u64;
    let killed = dir.join("killed");
    let mut rng = Rng(0xC0FFEE);
    let mut kills = 0;
    for _ in 0..8 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_grin"))
            .args(args(&killed))
            .current_dir(ROOT)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(20 + rng.below(full_ms / 3)));
        if child.try_wait().unwrap().is_none() {
            // Child::kill is SIGKILL on Unix: no destructor, no cleanup runs.
            child.kill().unwrap();
            kills += 1;
        }
        child.wait().unwrap();
        let left = outputs(&killed)
            .keys()
            .filter(|p| p.extension().is_some_and(|e| e == "tmp"))
            .count();
        eprintln!("after a kill: {left} temporary files left");
    }
    assert!(kills >= 3, "only {kills} runs were killed mid-way");
    // Kills rarely land inside a write (they are short): leave what one would leave,
    // a half-written temporary file, for a frame that is done and one that is not.
    for f in [
        "tetra/frame_00000.png.4242.tmp",
        "tetra_again/frame_00006.exr.17.tmp",
    ] {
        let p = killed.join(f);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, b"half a file").unwrap();
    }
    let out = Command::new(env!("CARGO_BIN_EXE_grin"))
        .args(args(&killed))
        .current_dir(ROOT)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let resumed = outputs(&killed);
    let names =
        |m: &std::collections::BTreeMap<PathBuf, Vec<u8>>| m.keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        names(&resumed),
        names(&whole),
        "the same files, no temporary ones"
    );
    for (p, bytes) in &whole {
        assert!(resumed[p] == *bytes, "{} differs after resume", p.display());
    }
}

#[test]
fn the_status_file_is_always_whole_json_while_it_is_rewritten() {
    let dir = temp("status");
    let m = manifest(&dir, (96, 72), 4, "(png: true)");
    let status = dir.join("out/status.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_grin"))
        .args([
            "batch",
            m.to_str().unwrap(),
            "--out",
            dir.join("out").to_str().unwrap(),
            "--backend",
            "cpu",
            "--status-file",
            status.to_str().unwrap(),
            "--status-interval",
            "0.05",
        ])
        .current_dir(ROOT)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (mut reads, mut running) = (0, 0);
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() && started.elapsed() < Duration::from_secs(120) {
        if let Ok(bytes) = std::fs::read(&status) {
            let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                panic!(
                    "torn status file ({e}): {}",
                    String::from_utf8_lossy(&bytes)
                )
            });
            reads += 1;
            if v["state"] == "running" {
                running += 1;
                assert!(v["workers"].as_array().is_some_and(|w| !w.is_empty()));
                assert!(v["residency"]["budgets"]["max_resident_scenes"].as_u64() > Some(0));
            }
        }
    }
    assert!(child.wait().unwrap().success());
    assert!(
        reads > 20 && running > 5,
        "{reads} reads, {running} while running"
    );
    let last: serde_json::Value = serde_json::from_slice(&std::fs::read(&status).unwrap()).unwrap();
    assert_eq!(last["state"], "finished");
    assert_eq!(last["frames"]["done"], 10);
    assert_eq!(last["frames"]["remaining"], 0);
}

#[test]
fn one_resident_scene_demotes_to_ram_and_promotes_again() {
    let dir = temp("residency");
    let m = manifest(&dir, (32, 24), 1, "(png: true)");
    let out = grin(
        &[
            "batch",
            m.to_str().unwrap(),
            "--out",
            dir.join("out").to_str().unwrap(),
            "--backend",
            "cpu",
            "--max-resident-scenes",
            "1",
            "--prefetch",
            "0",
            "--ram-budget",
            "64M",
        ],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = report(&dir.join("out"));
    let served: Vec<(u64, &str)> = r["frames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["job"].as_u64().unwrap(), f["scene"].as_str().unwrap()))
        .collect();
    // tetra (3 frames), the haze sequence, the lens, tetra again: the first frame of
    // each key loads it, later ones find it resident; tetra, demoted to RAM while
    // the others ran, comes back from RAM.
    assert_eq!(
        served,
        vec![
            (0, "loaded"),
            (0, "resident"),
            (0, "resident"),
            (1, "loaded"),
            (1, "resident"),
            (1, "resident"),
            (2, "loaded"),
            (2, "resident"),
            (3, "promoted from RAM"),
            (3, "resident"),
        ]
    );
    assert!(r["peak_rss_bytes"].as_u64() > Some(0));
    assert_eq!(r["budgets"]["max_resident_scenes"], 1);
}

#[test]
fn mesh_sequences_inspect_and_prune() {
    let dir = temp("meshes");
    for f in 0..3 {
        let y = 1.0 + 0.5 * f as f64;
        std::fs::write(
            dir.join(format!("wave_{f:03}.obj")),
            format!("v 0 0 0\nv 1 0 0\nv 0 {y} 0\nv 0 0 1\nf 1 3 2\nf 1 2 4\nf 1 4 3\nf 2 3 4\n"),
        )
        .unwrap();
    }
    let tetra = Path::new(ROOT).join("assets/scenes/tetra.ron");
    let m = dir.join("m.ron");
    std::fs::write(
        &m,
        format!(
            r#"(defaults: (size: (32, 24), spp: 1), jobs: [
                (scene: "{t}", name: "wave", frames: (start: 0, count: 3),
                 animate: [(instance: 0, meshes: "wave_{{frame:03}}.obj")]),
                (scene: "{t}", name: "away", camera_path: [(frame: 0, position: (0.0, 0.0, 5.0), look_at: (0.0, 0.0, 50.0))]),
            ])"#,
            t = tetra.display()
        ),
    )
    .unwrap();
    let out = dir.join("out");
    let run = |extra: &[&str]| {
        let mut a = vec![
            "batch",
            m.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--backend",
            "cpu",
            "--prune-empty",
        ];
        a.extend_from_slice(extra);
        grin(&a, &[])
    };
    let first = run(&[]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let frames: Vec<Vec<u8>> = (0..3)
        .map(|f| std::fs::read(out.join(format!("wave/frame_{f:05}.png"))).unwrap())
        .collect();
    assert!(
        frames[0] != frames[1] && frames[1] != frames[2],
        "the mesh changes"
    );
    // The camera looking away sees no geometry: pruned, reported, and complete for
    // --skip-completed.
    assert!(!out.join("away/frame_00000.png").exists());
    assert!(out.join("pruned/away/frame_00000.png").is_file());
    let r = report(&out);
    assert_eq!(r["frames_pruned"], 1);
    let again = run(&["--skip-completed"]);
    assert!(String::from_utf8_lossy(&again.stderr).contains("0 frames rendered, 4 already done"));
    // A missing mesh file is bad input, named, before anything renders.
    std::fs::remove_file(dir.join("wave_002.obj")).unwrap();
    let bad = run(&[]);
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("jobs[0].animate[0].meshes") && stderr.contains("frame 2"),
        "{stderr}"
    );
    // inspect: a scene's footprint per kind, and the manifest's sequence.
    std::fs::copy(dir.join("wave_001.obj"), dir.join("wave_002.obj")).unwrap();
    let out = grin(
        &[
            "inspect",
            tetra.to_str().unwrap(),
            m.to_str().unwrap(),
            "--json",
        ],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = v.as_array().unwrap();
    assert_eq!(
        rows.len(),
        3,
        "the scene, then the manifest's sequence and scene"
    );
    assert_eq!(
        rows[0]["ram"]["meshes"],
        4 * 12 + 4 * 12,
        "4 vertices, 4 triangles"
    );
    assert!(rows[0]["gpu"]["triangles"].as_u64() > Some(0));
    assert_eq!(rows[1]["frames"], 3);
}

#[test]
fn inspect_upload_matches_the_memory_tracker() {
    let dir = temp("inspect");
    if !gpu_available(&dir) {
        return;
    }
    let out = grin(
        &[
            "inspect",
            "assets/scenes/luneburg.ron",
            "--upload",
            "--json",
        ],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["gpu_bytes"], v[0]["gpu_tracked_bytes"]);
}

#[test]
fn bad_batch_flags_exit_2() {
    for args in [
        &["--vram-budget", "lots"][..],
        &["--workers", "0"],
        &["--max-resident-scenes", "0"],
        &["--low-watermark", "0.9"],
    ] {
        let mut a = vec![
            "batch",
            "assets/manifests/demo.ron",
            "--out",
            "/tmp/grin-never-written",
        ];
        a.extend_from_slice(args);
        let out = grin(&a, &[]);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(!Path::new("/tmp/grin-never-written/report.json").exists());
}

#[test]
fn auto_scale_closes_on_a_probe_and_logs_its_samples() {
    let dir = temp("autoscale");
    let m = manifest(&dir, (96, 72), 4, "(png: true)");
    let log = dir.join("probes.csv");
    let out = grin(
        &[
            "batch",
            m.to_str().unwrap(),
            "--out",
            dir.join("out").to_str().unwrap(),
            "--backend",
            "cpu",
            "--workers",
            "2",
            "--auto-scale",
            // A limit of 1% CPU: rendering itself closes the gate.
            "--max-cpu",
            "1",
            "--poll-ms",
            "50",
            "--probe-window",
            "1",
            "--probe-log",
            log.to_str().unwrap(),
        ],
        &[],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("auto-scale: 1 of 2 workers take frames"),
        "{stderr}"
    );
    let csv = std::fs::read_to_string(&log).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("t_s,probe,share,smoothed,open,active_workers")
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert!(
        rows.iter().any(|r| r[1] == "cpu" && r[4] == "false"),
        "{csv}"
    );
    assert!(rows.iter().any(|r| r[1] == "memory"), "{csv}");
    assert!(rows.iter().all(|r| r.len() == 6));
}
