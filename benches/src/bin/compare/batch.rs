//! `compare -- batch`: 4 scenes x 24 small frames rendered (a) by one `grin batch`
//! process and (b) the way pipelines without a batch mode do it, one `grin render`
//! process per frame, two at a time (one thread each, so both use the same cores).
//! Both use the default backend choice. Writes `benches/results/batch.json` with
//! both wall times, the ratio (goal: at least 3x in-process), and the batch's peak RSS
//! against its `--ram-budget`; and the sweep row (`sweep.rs`: 64 variations traced
//! once, shaded 64 times, against 64 renders). `compare -- batch sweep` runs the
//! sweep row alone.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use super::results_path;

const SCENES: [&str; 4] = ["luneburg", "heat_haze", "tetra", "black_hole"];
const FRAMES: u32 = 24;
const SIZE: (u32, u32) = (64, 48);
const SPP: u32 = 2;
const RAM_BUDGET: &str = "256M";

pub(crate) fn compare(args: &[String]) -> ExitCode {
    let result = if args.first().is_some_and(|a| a == "sweep") {
        super::sweep::run().and_then(|row| {
            let path = results_path("batch_sweep.json");
            let row = serde_json::json!({"machine": benches::machine(), "sweep": row});
            std::fs::write(
                &path,
                serde_json::to_string_pretty(&row).map_err(|e| e.to_string())? + "\n",
            )
            .map_err(|e| format!("{}: {e}", path.display()))?;
            eprintln!("wrote {}", path.display());
            Ok(())
        })
    } else {
        run()
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("compare batch: {e}");
            ExitCode::FAILURE
        }
    }
}

pub(crate) fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Builds the release `grin` and returns its path.
fn grin() -> Result<PathBuf, String> {
    let status = Command::new(env!("CARGO"))
        .args(["build", "--release", "-p", "app", "--bin", "grin"])
        .current_dir(root())
        .status()
        .map_err(|e| format!("cargo build: {e}"))?;
    if !status.success() {
        return Err("cargo build --release --bin grin failed".into());
    }
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from);
    Ok(target.join("release").join("grin"))
}

fn run() -> Result<(), String> {
    let grin = grin()?;
    let work = std::env::temp_dir().join(format!("grin-compare-batch-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let scenes: Vec<PathBuf> = SCENES
        .iter()
        .map(|s| root().join("assets/scenes").join(format!("{s}.ron")))
        .collect();
    let jobs: Vec<String> = scenes
        .iter()
        .map(|p| {
            format!(
                "(scene: {:?}, frames: (start: 0, count: {FRAMES}))",
                p.display().to_string()
            )
        })
        .collect();
    let manifest = work.join("manifest.ron");
    std::fs::write(
        &manifest,
        format!(
            "(defaults: (size: ({}, {}), spp: {SPP}, bounces: 2), jobs: [{}])",
            SIZE.0,
            SIZE.1,
            jobs.join(", ")
        ),
    )
    .map_err(|e| e.to_string())?;
    let frames = SCENES.len() as u32 * FRAMES;

    // (a) One process.
    let out_a = work.join("batch");
    let t = Instant::now();
    let status = Command::new(&grin)
        .args(["batch", &manifest.display().to_string(), "--out"])
        .arg(&out_a)
        .args(["--ram-budget", RAM_BUDGET])
        .stderr(Stdio::inherit())
        .status()
        .map_err(|e| e.to_string())?;
    let batch_s = t.elapsed().as_secs_f64();
    if !status.success() {
        return Err(format!("grin batch exited with {status}"));
    }
    let report: serde_json::Value = serde_json::from_slice(
        &std::fs::read(out_a.join("report.json")).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    eprintln!("in-process: {frames} frames in {batch_s:.2} s");

    // (b) A process per frame, two at a time.
    let out_b = work.join("per-frame");
    std::fs::create_dir_all(&out_b).map_err(|e| e.to_string())?;
    let mut queue: Vec<(usize, u32)> = (0..SCENES.len())
        .flat_map(|s| (0..FRAMES).map(move |f| (s, f)))
        .collect();
    queue.reverse();
    let t = Instant::now();
    let mut running: Vec<std::process::Child> = Vec::new();
    let spawn = |(s, f): (usize, u32)| -> Result<std::process::Child, String> {
        let out: PathBuf = out_b.join(format!("{}_{f:05}.png", SCENES[s]));
        Command::new(&grin)
            .arg("render")
            .arg(&scenes[s])
            .arg("-o")
            .arg(&out)
            .args(["--size", &format!("{}x{}", SIZE.0, SIZE.1)])
            .args([
                "--spp",
                &SPP.to_string(),
                "--bounces",
                "2",
                "--threads",
                "1",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| e.to_string())
    };
    while !queue.is_empty() || !running.is_empty() {
        while running.len() < 2 {
            match queue.pop() {
                Some(u) => running.push(spawn(u)?),
                None => break,
            }
        }
        let mut i = 0;
        let mut any = false;
        while i < running.len() {
            if let Some(st) = running[i].try_wait().map_err(|e| e.to_string())? {
                if !st.success() {
                    return Err(format!("grin render exited with {st}"));
                }
                // Already exited: wait() only reaps it.
                let _ = running.swap_remove(i).wait();
                any = true;
            } else {
                i += 1;
            }
        }
        if !any {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    }
    let per_frame_s = t.elapsed().as_secs_f64();
    eprintln!("process per frame (2 at a time): {frames} frames in {per_frame_s:.2} s");
    let ratio = per_frame_s / batch_s;
    eprintln!("in-process is {ratio:.2}x faster (goal: 3x)");
    let same = same_images(&out_a, &out_b)?;
    let out = serde_json::json!({
        "machine": benches::machine(),
        "scenes": SCENES,
        "frames_per_scene": FRAMES,
        "size": [SIZE.0, SIZE.1],
        "spp": SPP,
        "in_process_s": batch_s,
        "process_per_frame_s": per_frame_s,
        "process_per_frame_parallel": 2,
        "ratio": ratio,
        "goal_ratio": 3.0,
        "peak_rss_bytes": report["peak_rss_bytes"],
        "ram_budget": RAM_BUDGET,
        "ram_budget_bytes": report["budgets"]["ram_bytes"],
        "identical_images": same,
        "sweep": super::sweep::run()?,
    });
    let path = results_path("batch.json");
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&out).map_err(|e| e.to_string())? + "\n",
    )
    .map_err(|e| format!("{}: {e}", path.display()))?;
    eprintln!("wrote {}", path.display());
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}

/// Whether both ways made the same images (they should: same scene, settings, seed).
fn same_images(batch: &Path, per_frame: &Path) -> Result<bool, String> {
    for s in SCENES {
        for f in 0..FRAMES {
            let a = std::fs::read(batch.join(s).join(format!("frame_{f:05}.png")))
                .map_err(|e| e.to_string())?;
            let b = std::fs::read(per_frame.join(format!("{s}_{f:05}.png")))
                .map_err(|e| e.to_string())?;
            if a != b {
                return Ok(false);
            }
        }
    }
    Ok(true)
}
