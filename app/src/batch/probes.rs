//! Load probes for `--auto-scale`: CPU use and available memory (cgroup limits
//! included) from `sysinfo`; GPU utilisation and memory from NVML (cargo feature
//! `nvml`, the library loaded at run time), `rocm-smi --json` or `intel_gpu_top
//! --json` where those tools exist. Each reports its load as a share of the limit its
//! flag sets; one that cannot read is logged once and skipped (never fatal).

use std::process::Command;

use scheduler::jobs::admission::Probe;
use sysinfo::System;

/// The limits the flags set.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// `--max-cpu`, percent of all cores.
    pub(crate) max_cpu: f64,
    /// `--min-free-mem-mb`.
    pub(crate) min_free_mem_mb: u64,
    /// `--max-gpu-util`, percent.
    pub(crate) max_gpu_util: Option<f64>,
    /// `--max-gpu-mem-mb`.
    pub(crate) max_gpu_mem_mb: Option<u64>,
}

/// CPU use of the whole machine against `--max-cpu`.
pub(crate) struct Cpu {
    sys: System,
    max: f64,
}

impl Probe for Cpu {
    fn name(&self) -> &str {
        "cpu"
    }
    fn sample(&mut self) -> Result<f64, String> {
        // sysinfo measures use between two refreshes: the poll interval.
        self.sys.refresh_cpu_usage();
        Ok(f64::from(self.sys.global_cpu_usage()) / self.max)
    }
}

/// Memory in use against what may be used: the total (the cgroup's limit when it is
/// lower) minus `--min-free-mem-mb`.
pub(crate) struct Memory {
    sys: System,
    min_free: u64,
}

/// Total and available bytes, within the cgroup's limit when there is one.
pub(crate) fn memory(sys: &mut System) -> (u64, u64) {
    sys.refresh_memory();
    let (mut total, mut available) = (sys.total_memory(), sys.available_memory());
    if let Some(c) = sys.cgroup_limits() {
        if c.total_memory > 0 && c.total_memory < total {
            total = c.total_memory;
            available = available.min(c.free_memory);
        }
    }
    (total, available)
}

impl Probe for Memory {
    fn name(&self) -> &str {
        "memory"
    }
    fn sample(&mut self) -> Result<f64, String> {
        let (total, available) = memory(&mut self.sys);
        let usable = total.saturating_sub(self.min_free).max(1);
        Ok(total.saturating_sub(available) as f64 / usable as f64)
    }
}

/// One reading of a GPU: utilisation (percent) and memory used (MiB).
type GpuReading = (Option<f64>, Option<f64>);

/// A source of GPU readings.
type GpuSource = Box<dyn FnMut() -> Result<GpuReading, String> + Send>;

/// A GPU probe over some source of readings, against `--max-gpu-util` and
/// `--max-gpu-mem-mb` (the larger of the two shares).
pub(crate) struct Gpu {
    name: String,
    read: GpuSource,
    limits: Limits,
}

impl Probe for Gpu {
    fn name(&self) -> &str {
        &self.name
    }
    fn sample(&mut self) -> Result<f64, String> {
        let (util, mem) = (self.read)()?;
        let a = util
            .zip(self.limits.max_gpu_util)
            .map_or(0.0, |(u, m)| u / m);
        let b = mem
            .zip(self.limits.max_gpu_mem_mb)
            .map_or(0.0, |(u, m)| u / m as f64);
        Ok(a.max(b))
    }
}

/// The renderer's own count of the GPU bytes it allocated, against
/// `--max-gpu-mem-mb` (works on every backend and vendor, but sees only this process).
pub(crate) struct Tracker {
    pub(crate) ctx: std::sync::Arc<renderer_core::gpu::GpuContext>,
    pub(crate) max_mb: u64,
}

impl Probe for Tracker {
    fn name(&self) -> &str {
        "gpu (grin's tracker)"
    }
    fn sample(&mut self) -> Result<f64, String> {
        Ok(self.ctx.memory().resident() as f64 / 1048576.0 / self.max_mb.max(1) as f64)
    }
}

/// Runs a vendor tool that prints JSON.
fn tool_json(program: &str, args: &[&str]) -> Result<serde_json::Value, String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{program} exited with {}", out.status));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("{program}: not JSON: {e}"))
}

/// `rocm-smi --showuse --showmeminfo vram --json`: card0's "GPU use (%)" and "VRAM
/// Total Used Memory (B)".
fn rocm() -> Result<GpuReading, String> {
    let v = tool_json(
        "rocm-smi",
        &["--showuse", "--showmeminfo", "vram", "--json"],
    )?;
    parse_rocm(&v)
}

pub(crate) fn parse_rocm(v: &serde_json::Value) -> Result<GpuReading, String> {
    let card = v
        .as_object()
        .and_then(|o| o.values().next())
        .ok_or("rocm-smi: no card in its output")?;
    let num = |k: &str| {
        card.get(k).and_then(|x| {
            x.as_str()
                .and_then(|s| s.parse::<f64>().ok())
                .or(x.as_f64())
        })
    };
    Ok((
        num("GPU use (%)"),
        num("VRAM Total Used Memory (B)").map(|b| b / 1048576.0),
    ))
}

/// `intel_gpu_top -J -s 200 -o -` prints a stream of samples; one sample's busiest
/// engine is the utilisation (it reports no memory use).
fn intel() -> Result<GpuReading, String> {
    let out = Command::new("timeout")
        .args(["1", "intel_gpu_top", "-J", "-s", "300", "-o", "-"])
        .output()
        .map_err(|e| format!("intel_gpu_top: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    parse_intel(&text)
}

pub(crate) fn parse_intel(text: &str) -> Result<GpuReading, String> {
    // The stream is a JSON array that is still open when the tool is stopped: take
    // the first whole object.
    let start = text.find('{').ok_or("intel_gpu_top: no sample")?;
    let mut de =
        serde_json::Deserializer::from_str(&text[start..]).into_iter::<serde_json::Value>();
    let sample = de
        .next()
        .ok_or("intel_gpu_top: no sample")?
        .map_err(|e| format!("intel_gpu_top: {e}"))?;
    let busy = sample.get("engines").and_then(|e| e.as_object()).map(|e| {
        e.values()
            .filter_map(|x| x.get("busy").and_then(serde_json::Value::as_f64))
            .fold(0.0, f64::max)
    });
    Ok((busy, None))
}

#[cfg(feature = "nvml")]
fn nvml() -> Result<GpuSource, String> {
    let nvml = nvml_wrapper::Nvml::init().map_err(|e| format!("NVML: {e}"))?;
    Ok(Box::new(move || {
        let d = nvml.device_by_index(0).map_err(|e| format!("NVML: {e}"))?;
        let util = d.utilization_rates().map_err(|e| format!("NVML: {e}"))?;
        let mem = d.memory_info().map_err(|e| format!("NVML: {e}"))?;
        Ok((Some(f64::from(util.gpu)), Some(mem.used as f64 / 1048576.0)))
    }))
}

#[cfg(not(feature = "nvml"))]
fn nvml() -> Result<GpuSource, String> {
    Err("built without the `nvml` feature".into())
}

/// The probes for `limits`: CPU and memory always; the GPU ones when a GPU gate is
/// set (each vendor's that can start: NVML, then rocm-smi, then intel_gpu_top; the
/// rest are reported as unavailable), and with `--max-gpu-mem-mb` on the GPU
/// backend the renderer's own byte tracker.
pub(crate) fn probes(
    limits: Limits,
    gpu: Option<&std::sync::Arc<renderer_core::gpu::GpuContext>>,
) -> (Vec<Box<dyn Probe>>, Vec<String>) {
    let mut v: Vec<Box<dyn Probe>> = vec![
        Box::new(Cpu {
            sys: System::new(),
            max: limits.max_cpu.max(1.0),
        }),
        Box::new(Memory {
            sys: System::new(),
            min_free: limits.min_free_mem_mb * 1048576,
        }),
    ];
    let mut log = Vec::new();
    if limits.max_gpu_util.is_some() || limits.max_gpu_mem_mb.is_some() {
        let tool = |name: &str| {
            Command::new(name)
                .arg("--help")
                .output()
                .map(|_| ())
                .map_err(|e| format!("{name}: {e}"))
        };
        let mut sources: Vec<(String, GpuSource)> = Vec::new();
        match nvml() {
            Ok(read) => sources.push(("gpu (nvml)".into(), read)),
            Err(e) => log.push(format!("probe gpu (nvml) unavailable, skipped: {e}")),
        }
        match tool("rocm-smi") {
            Ok(()) => sources.push(("gpu (rocm-smi)".into(), Box::new(rocm))),
            Err(e) => log.push(format!("probe gpu (rocm-smi) unavailable, skipped: {e}")),
        }
        match tool("intel_gpu_top") {
            Ok(()) => sources.push(("gpu (intel_gpu_top)".into(), Box::new(intel))),
            Err(e) => log.push(format!(
                "probe gpu (intel_gpu_top) unavailable, skipped: {e}"
            )),
        }
        for (name, read) in sources {
            v.push(Box::new(Gpu { name, read, limits }));
        }
        if let (Some(ctx), Some(max_mb)) = (gpu, limits.max_gpu_mem_mb) {
            v.push(Box::new(Tracker {
                ctx: std::sync::Arc::clone(ctx),
                max_mb,
            }));
        }
    }
    (v, log)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendor_outputs_parse() {
        let rocm = serde_json::json!({"card0": {"GPU use (%)": "37", "VRAM Total Used Memory (B)": "2147483648"}});
        assert_eq!(parse_rocm(&rocm), Ok((Some(37.0), Some(2048.0))));
        assert!(parse_rocm(&serde_json::json!({})).is_err());
        let intel = r#"[
{"period": {"duration": 300.0}, "engines": {"Render/3D/0": {"busy": 12.5}, "Video/0": {"busy": 40.0}}},
{"period""#;
        assert_eq!(parse_intel(intel), Ok((Some(40.0), None)));
        assert!(parse_intel("").is_err());
    }

    #[test]
    fn gpu_share_is_the_larger_of_utilisation_and_memory() {
        let limits = Limits {
            max_cpu: 85.0,
            min_free_mem_mb: 0,
            max_gpu_util: Some(80.0),
            max_gpu_mem_mb: Some(1000),
        };
        let mut g = Gpu {
            name: "gpu".into(),
            read: Box::new(|| Ok((Some(40.0), Some(900.0)))),
            limits,
        };
        assert!((g.sample().unwrap() - 0.9).abs() < 1e-12);
    }

    #[test]
    fn cpu_and_memory_read_on_this_machine() {
        let (mut v, _) = probes(
            Limits {
                max_cpu: 85.0,
                min_free_mem_mb: 1,
                max_gpu_util: None,
                max_gpu_mem_mb: None,
            },
            None,
        );
        for p in &mut v {
            let s = p.sample().unwrap();
            assert!(s.is_finite() && s >= 0.0, "{} {s}", p.name());
        }
    }
}
