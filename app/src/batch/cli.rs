//! `grin batch`'s command line: its arguments and their parsers.

#[allow(clippy::wildcard_imports)]
use super::*;

/// `grin batch` arguments.
#[derive(clap::Args, Debug)]
pub(crate) struct BatchArgs {
    /// The manifest (RON): jobs, or a list of scene files.
    pub(crate) manifest: PathBuf,
    /// Output folder; every output stays inside it.
    #[arg(long)]
    pub(crate) out: PathBuf,
    /// Render only the frames whose outputs or done-marker are missing.
    #[arg(long)]
    pub(crate) skip_completed: bool,
    /// Also write a COCO file here (images, categories, RLE instance masks, boxes
    /// and areas as seen through the curved light), assembled from every frame's
    /// metadata (which this turns on); `file_name`s are relative to --out.
    #[arg(long)]
    pub(crate) coco: Option<PathBuf>,
    /// Where frames render (as for `grin render`).
    #[arg(long, value_enum, default_value_t = BackendArg::Auto)]
    pub(crate) backend: BackendArg,
    /// Frames rendered at once (default: cores minus two, at least one).
    #[arg(long)]
    pub(crate) workers: Option<usize>,
    /// Threads in all, divided among the workers (default: all cores).
    #[arg(long)]
    pub(crate) threads: Option<usize>,
    /// Rendered frames waiting to be written, at most (default: twice the workers).
    #[arg(long)]
    pub(crate) frames_in_flight: Option<usize>,
    /// Scenes resident at once (on the GPU; on the CPU backend, with built
    /// acceleration structures).
    #[arg(long, default_value_t = 4)]
    pub(crate) max_resident_scenes: usize,
    /// GPU memory for resident scenes ("512M", "2G", "1.5GiB", bytes).
    #[arg(long, value_parser = parse_bytes, default_value = "2G")]
    pub(crate) vram_budget: u64,
    /// RAM for staged scenes (default: half the available memory, within the cgroup's
    /// limit).
    #[arg(long, value_parser = parse_bytes)]
    pub(crate) ram_budget: Option<u64>,
    /// Scene keys parsed into RAM ahead of use.
    #[arg(long, default_value_t = 2)]
    pub(crate) prefetch: usize,
    /// Retries of a frame after a transient failure.
    #[arg(long, default_value_t = 2)]
    pub(crate) retries: u32,
    /// Delay before each retry, in milliseconds.
    #[arg(long, default_value_t = 500)]
    pub(crate) retry_delay_ms: u64,
    /// The batch report (default: OUT/report.json, or OUT/report.I-of-N.json for
    /// a shard).
    #[arg(long)]
    pub(crate) report: Option<PathBuf>,
    /// A status file (JSON), rewritten atomically every --status-interval seconds.
    #[arg(long)]
    pub(crate) status_file: Option<PathBuf>,
    /// Seconds between status file rewrites.
    #[arg(long, default_value_t = 2.0)]
    pub(crate) status_interval: f64,
    /// Seconds between heartbeat lines when stderr is not a terminal.
    #[arg(long, default_value_t = 10.0)]
    pub(crate) heartbeat: f64,
    /// Move frames whose share of pixels that hit geometry is below --prune-below to
    /// OUT/pruned/ and report them.
    #[arg(long)]
    pub(crate) prune_empty: bool,
    /// The hit share under which --prune-empty prunes a frame.
    #[arg(long, default_value_t = 0.001)]
    pub(crate) prune_below: f64,
    /// Render shard I of N ("I/N", 0-based): the manifest's frames, in order (job by
    /// job, frame by frame), are cut into N contiguous runs of nearly equal length
    /// (run I holds frames floor(I T / N) .. floor((I+1) T / N) of T), so N machines
    /// render every frame exactly once and each loads few scenes. Default: from
    /// SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN of SLURM_ARRAY_TASK_COUNT, or from
    /// JOB_COMPLETION_INDEX of GRIN_SHARD_COUNT (Kubernetes Indexed Jobs), else 0/1.
    #[arg(long, value_parser = shard::parse_shard)]
    pub(crate) shard: Option<(u64, u64)>,
    /// Render only units A..=B ("A-B", or "A") of the manifest's frames counted in
    /// order from 0 (job by job, frame by frame): a render farm's frame range.
    #[arg(long, value_parser = shard::parse_range, conflicts_with = "shard")]
    pub(crate) range: Option<(u64, u64)>,
    /// Gate new frames on the probes (CPU, memory, GPU): fewer workers take frames
    /// while a gate is closed, more again when all are open.
    #[arg(long)]
    pub(crate) auto_scale: bool,
    /// CPU use limit, percent of all cores.
    #[arg(long, default_value_t = 85.0)]
    pub(crate) max_cpu: f64,
    /// Memory to leave free, MiB.
    #[arg(long, default_value_t = 2048)]
    pub(crate) min_free_mem_mb: u64,
    /// GPU utilisation limit, percent (NVML, rocm-smi or intel_gpu_top).
    #[arg(long)]
    pub(crate) max_gpu_util: Option<f64>,
    /// GPU memory use limit, MiB (NVML or rocm-smi).
    #[arg(long)]
    pub(crate) max_gpu_mem_mb: Option<u64>,
    /// A gate closes when its smoothed load reaches this share of its limit...
    #[arg(long, default_value_t = 0.85)]
    pub(crate) high_watermark: f64,
    /// ...and opens again at or below this one.
    #[arg(long, default_value_t = 0.70)]
    pub(crate) low_watermark: f64,
    /// Samples each gate averages.
    #[arg(long, default_value_t = 5)]
    pub(crate) probe_window: usize,
    /// Milliseconds between probe polls.
    #[arg(long, default_value_t = 1000)]
    pub(crate) poll_ms: u64,
    /// Log every probe sample to this file (.csv, else JSON lines), for tuning.
    #[arg(long)]
    pub(crate) probe_log: Option<PathBuf>,
}

/// Parses a byte size: a number with an optional K, M, G or T suffix (powers of
/// 1024; "iB" or "B" after it is accepted).
pub(super) fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let t = t
        .strip_suffix("iB")
        .or_else(|| t.strip_suffix('B'))
        .unwrap_or(t);
    let (num, unit) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&t[..i], c.to_ascii_uppercase()),
        _ => (t, ' '),
    };
    let scale: u64 = match unit {
        ' ' => 1,
        'K' => 1 << 10,
        'M' => 1 << 20,
        'G' => 1 << 30,
        'T' => 1 << 40,
        _ => return Err(format!("{s:?}: unknown unit (K, M, G, T)")),
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("{s:?}: expected a size like 512M or 2G"))?;
    if !(v.is_finite() && v >= 0.0) {
        return Err(format!("{s:?}: must be a non-negative size"));
    }
    Ok((v * scale as f64) as u64)
}

/// The RAM budget's default: half the available memory (within the cgroup's limit).
pub(super) fn default_ram_budget() -> u64 {
    let mut sys = sysinfo::System::new();
    probes::memory(&mut sys).1 / 2
}
