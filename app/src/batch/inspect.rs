//! `grin inspect`: what each scene and sequence of a manifest costs in RAM and GPU
//! memory, per buffer kind, to set budgets from facts.

use std::path::PathBuf;
use std::sync::Arc;

use super::engine;
use super::manifest::Manifest;
use crate::exit::{Exit, Failure};
use crate::render_cmd::BackendArg;

/// `grin inspect` arguments.
#[derive(clap::Args, Debug)]
pub(crate) struct InspectArgs {
    /// Scene files, or manifests (each of their scenes and animated sequences).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Upload each scene to the GPU (when there is one) and report the bytes the
    /// memory tracker counted, besides the computed ones.
    #[arg(long)]
    upload: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// `grin inspect`: each scene's and sequence's RAM and GPU footprint per buffer kind.
pub(crate) fn inspect(args: &InspectArgs) -> Result<String, Failure> {
    let bad = |e: String| Failure::new(Exit::BadInput, format!("grin inspect: {e}"));
    let mut renderer = crate::render_cmd::open_renderer(
        "grin inspect",
        None,
        if args.upload {
            BackendArg::Gpu
        } else {
            BackendArg::Cpu
        },
    )?;
    let mut rows = Vec::new();
    for file in &args.files {
        // A scene, else a manifest.
        let items: Vec<(String, Vec<Arc<renderer_core::scene::Scene>>)> =
            match renderer_core::scene::Scene::load(file) {
                Ok(s) => vec![(file.display().to_string(), vec![Arc::new(s)])],
                Err(scene_err) => {
                    let m = Manifest::load(file).map_err(|e| {
                        bad(format!(
                            "{} is neither a scene ({scene_err}) nor a manifest ({e})",
                            file.display()
                        ))
                    })?;
                    let todo: Vec<(usize, u32)> = m
                        .jobs
                        .iter()
                        .enumerate()
                        .flat_map(|(i, j)| {
                            (j.frames.start..j.frames.start + j.frames.count).map(move |f| (i, f))
                        })
                        .collect();
                    let (_, keys) = engine::plan(&m.jobs, &todo);
                    keys.iter()
                        .map(|k| {
                            engine::load_key(k, &m.jobs[k.job])
                                .map(|s| (k.name.clone(), s))
                                .map_err(|e| bad(e.message))
                        })
                        .collect::<Result<_, _>>()?
                }
            };
        for (name, scenes) in items {
            let mut ram: Vec<(&'static str, u64)> = Vec::new();
            let mut gpu: Vec<(&'static str, u64)> = Vec::new();
            let mut tracked = 0u64;
            for s in &scenes {
                let mut ready = renderer
                    .ready(Arc::clone(s))
                    .map_err(|e| Failure::new(Exit::Failed, e.to_string()))?;
                let f = ready.footprint();
                add(&mut ram, &f.ram);
                add(&mut gpu, &f.gpu);
                if let Some(ctx) = renderer.gpu().cloned() {
                    let before = ctx.memory().resident();
                    ready.upload(&ctx).map_err(|e| {
                        Failure::new(Exit::OutOfMemory, format!("grin inspect: {name}: {e}"))
                    })?;
                    tracked += ctx.memory().resident() - before;
                }
                renderer.forget_scene();
            }
            rows.push(serde_json::json!({
                "scene": name,
                "frames": scenes.len(),
                "ram": ram.iter().map(|(k, v)| (k.to_string(), serde_json::Value::from(*v))).collect::<serde_json::Map<_, _>>(),
                "ram_bytes": ram.iter().map(|(_, b)| b).sum::<u64>(),
                "gpu": gpu.iter().map(|(k, v)| (k.to_string(), serde_json::Value::from(*v))).collect::<serde_json::Map<_, _>>(),
                "gpu_bytes": gpu.iter().map(|(_, b)| b).sum::<u64>(),
                "gpu_tracked_bytes": renderer.gpu().map(|_| tracked),
            }));
        }
    }
    if args.json {
        return serde_json::to_string_pretty(&rows)
            .map_err(|e| Failure::new(Exit::Failed, e.to_string()));
    }
    let mut out = String::new();
    for r in &rows {
        let mib = |v: &serde_json::Value| v.as_u64().unwrap_or(0) as f64 / 1048576.0;
        out.push_str(&format!(
            "{} ({} frame{}): RAM {:.2} MiB, GPU {:.2} MiB{}\n",
            r["scene"].as_str().unwrap_or(""),
            r["frames"],
            if r["frames"] == 1 { "" } else { "s" },
            mib(&r["ram_bytes"]),
            mib(&r["gpu_bytes"]),
            r["gpu_tracked_bytes"]
                .as_u64()
                .map_or(String::new(), |t| format!(
                    " (uploaded: {:.2} MiB tracked)",
                    t as f64 / 1048576.0
                )),
        ));
        for tier in ["ram", "gpu"] {
            if let Some(m) = r[tier].as_object() {
                let parts: Vec<String> = m
                    .iter()
                    .map(|(k, v)| format!("{k} {}", v.as_u64().unwrap_or(0)))
                    .collect();
                out.push_str(&format!("  {tier:<3} bytes: {}\n", parts.join(", ")));
            }
        }
    }
    Ok(out.trim_end().to_owned())
}

fn add(into: &mut Vec<(&'static str, u64)>, from: &[(&'static str, u64)]) {
    for &(k, b) in from {
        match into.iter_mut().find(|(n, _)| *n == k) {
            Some(e) => e.1 += b,
            None => into.push((k, b)),
        }
    }
}
