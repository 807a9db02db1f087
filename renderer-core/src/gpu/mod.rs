//! The GPU backend: the same path tracer as the CPU path, as WGSL compute shaders run
//! through wgpu on any vendor's GPU (Vulkan, Metal, DX12, GL) and, on machines without
//! one, on Mesa's software Vulkan driver (lavapipe).
//!
//! - [`GpuContext`]: the device, chosen by preference, adapter name or PCI bus id,
//!   with its pipelines compiled once and reused for every frame and job.
//! - [`MemoryTracker`]: every buffer goes through it, so resident bytes per owner (a
//!   scene, a film) are known exactly; allocation failures become
//!   [`GpuError::OutOfMemory`], and an injection switch makes the Nth allocation fail
//!   (software drivers never run out).
//! - [`GpuScene`]: a scene's acceleration structures, materials, lights and fields,
//!   uploaded with bytemuck in the layouts of [`layout`].
//! - The renderer's frame graph dispatches pixel batches of one sample pass each,
//!   sized to the step budget, with cancellation between dispatches
//!   ([`crate::frame::Renderer::with_gpu`]).
//!
//! ```no_run
//! use renderer_core::gpu::{GpuConfig, GpuContext};
//! let ctx = GpuContext::new(&GpuConfig::from_env())?;
//! println!("{}", ctx.describe());
//! # Ok::<(), renderer_core::gpu::GpuError>(())
//! ```

#![allow(unsafe_code)] // one block: the shader module, see its SAFETY comment

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

mod frame;
pub mod layout;
pub mod probe;
mod scene;
pub mod shaders;

pub(crate) use frame::{GpuCounters, GpuFrame};

/// A renderer's film where it accumulates on the GPU
/// ([`crate::frame::Renderer::gpu_film`]): `width * height` [`layout::GpuPixel`]s in
/// row order, each the sums over its samples (radiance, normal, depth), the sample
/// and hit counts, the first instance plus one (0: none) and the segment count. A
/// host on the same device ([`GpuContext::from_device`]) binds it as a read-only
/// storage buffer to show or post-process the image without a copy; the mean
/// radiance of a pixel is `rgb / max(count, 1)`.
#[derive(Debug, Clone, Copy)]
pub struct GpuFilmView<'a> {
    /// The buffer (usage includes `STORAGE`).
    pub buffer: &'a wgpu::Buffer,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}
pub use scene::{GpuScene, GpuSceneData, RayQuery, RayResult};

/// Which path renders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backend {
    /// The GPU when a hardware adapter exists, else the CPU (said once).
    #[default]
    Auto,
    /// The CPU path.
    Cpu,
    /// The GPU path; an error when there is no adapter.
    Gpu,
}

/// A backend name that is not `auto`, `cpu` or `gpu`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("backend {0:?}: expected auto, cpu or gpu")]
pub struct UnknownBackend(pub String);

impl FromStr for Backend {
    type Err = UnknownBackend;
    fn from_str(s: &str) -> Result<Self, UnknownBackend> {
        match s {
            "auto" => Ok(Self::Auto),
            "cpu" => Ok(Self::Cpu),
            "gpu" => Ok(Self::Gpu),
            _ => Err(UnknownBackend(s.to_owned())),
        }
    }
}

/// How to pick the adapter.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AdapterChoice {
    /// wgpu's default (high performance first).
    #[default]
    Default,
    /// Prefer an integrated, low-power adapter.
    LowPower,
    /// The first adapter whose name contains this (case-insensitive).
    Name(String),
    /// The adapter on this PCI bus id (as `lspci -D` or `nvidia-smi` print it,
    /// e.g. `0000:01:00.0`), so a cluster job can use the GPU it was given.
    PciBusId(String),
}

/// Device settings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct GpuConfig {
    /// Backends to consider (`vulkan`, `gl`, `metal`, `dx12`, comma separated; empty:
    /// all, or `WGPU_BACKEND`).
    pub backends: String,
    /// Adapter choice.
    pub adapter: AdapterChoice,
    /// Buffer allocations (1-based, counted per context; inclusive ranges) to fail
    /// with [`GpuError::OutOfMemory`]: fault injection for tests, set only with the
    /// `fault-injection` feature (which the workspace's tests turn on).
    fail_allocations: Vec<(u64, u64)>,
    /// Time every render dispatch on the GPU itself (timestamp queries, where the
    /// adapter has them); steps then report a `tiles.kernel` stage. Each dispatch
    /// pays one extra small read-back, so leave it off outside profiling.
    pub profile: bool,
}

impl GpuConfig {
    /// From the environment: `WGPU_BACKEND`, `GRIN_GPU_ADAPTER` (a name substring,
    /// `pci:BUS_ID`, or `low-power`), `GRIN_GPU_PROFILE` (`1`: [`GpuConfig::profile`])
    /// and, in builds with the `fault-injection` feature, `GRIN_GPU_FAIL_ALLOC`
    /// (allocations to fail: `N`, `N-M`, `N-` for every one from N on, comma
    /// separated; see [`parse_allocations`]).
    #[must_use]
    pub fn from_env() -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let adapter = match var("GRIN_GPU_ADAPTER") {
            None => AdapterChoice::Default,
            Some(v) if v == "low-power" => AdapterChoice::LowPower,
            Some(v) => match v.strip_prefix("pci:") {
                Some(bus) => AdapterChoice::PciBusId(bus.to_owned()),
                None => AdapterChoice::Name(v),
            },
        };
        Self {
            backends: var("WGPU_BACKEND").unwrap_or_default(),
            adapter,
            fail_allocations: fail_allocations(var("GRIN_GPU_FAIL_ALLOC")),
            profile: var("GRIN_GPU_PROFILE").is_some_and(|v| v != "0"),
        }
    }

    /// With the Nth allocation failing (fault injection for tests).
    #[cfg(feature = "fault-injection")]
    #[must_use]
    pub fn failing_allocation(mut self, n: u64) -> Self {
        self.fail_allocations.push((n, n));
        self
    }

    /// With an adapter choice.
    #[must_use]
    pub fn with_adapter(mut self, adapter: AdapterChoice) -> Self {
        self.adapter = adapter;
        self
    }
}

/// The allocations `GRIN_GPU_FAIL_ALLOC` asks to fail (fault injection: only with the
/// `fault-injection` feature; without it the variable is refused with a warning, so
/// a test run against a release build does not silently test nothing).
fn fail_allocations(var: Option<String>) -> Vec<(u64, u64)> {
    let Some(v) = var else {
        return Vec::new();
    };
    if !cfg!(feature = "fault-injection") {
        eprintln!(
            "grin: GRIN_GPU_FAIL_ALLOC is set, but this build has no fault injection (renderer-core's `fault-injection` feature); ignored"
        );
        return Vec::new();
    }
    let parsed = parse_allocations(&v);
    if parsed.is_none() {
        // A test switch that silently did nothing would pass tests that test nothing.
        eprintln!(
            "grin: GRIN_GPU_FAIL_ALLOC={v:?} is not a list of allocation numbers (N, N-M, N-, comma separated); ignored"
        );
    }
    parsed.unwrap_or_default()
}

/// Parses a list of allocation numbers to fail: `N`, `N-M` (inclusive), `N-` (N and
/// every later one), comma separated; `None` if any part is not of these forms.
///
/// ```
/// use renderer_core::gpu::parse_allocations;
/// assert_eq!(parse_allocations("3,7-9,20-"), Some(vec![(3, 3), (7, 9), (20, u64::MAX)]));
/// assert_eq!(parse_allocations("x"), None);
/// ```
#[must_use]
pub fn parse_allocations(text: &str) -> Option<Vec<(u64, u64)>> {
    text.split(',')
        .map(|part| {
            let part = part.trim();
            match part.split_once('-') {
                None => part.parse().ok().map(|n| (n, n)),
                Some((a, "")) => a.trim().parse().ok().map(|a| (a, u64::MAX)),
                Some((a, b)) => match (a.trim().parse(), b.trim().parse()) {
                    (Ok(a), Ok(b)) if a <= b => Some((a, b)),
                    _ => None,
                },
            }
        })
        .collect()
}

/// GPU errors.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum GpuError {
    /// No adapter at all.
    #[error(
        "no GPU adapter found (backends: {backends}); install a driver (on Debian, mesa-vulkan-drivers gives a software one) or use the CPU backend"
    )]
    NoAdapter {
        /// The backends searched.
        backends: String,
    },
    /// Adapters exist but none matches the choice.
    #[error("no GPU adapter matches {wanted}; available: {available}")]
    NoMatchingAdapter {
        /// The choice.
        wanted: String,
        /// What there is.
        available: String,
    },
    /// The adapter lacks a limit the shaders need.
    #[error("adapter {adapter}: {what}")]
    Limits {
        /// The adapter.
        adapter: String,
        /// What is missing.
        what: String,
    },
    /// The device could not be created.
    #[error("could not open the GPU device: {0}")]
    Device(String),
    /// A shader failed to compile on this device.
    #[error("shader: {0}")]
    Shader(String),
    /// A scene's BVH is deeper than the shaders' traversal stacks hold: a traversal
    /// would drop nodes (and miss hits), so the scene is refused.
    #[error(
        "the scene's BVH is {depth} levels deep; the GPU traversal holds {limit} (render it on the CPU backend)"
    )]
    TooDeep {
        /// Levels of the deepest BVH (the TLAS or a mesh's).
        depth: u32,
        /// What the shaders' stacks hold.
        limit: u32,
    },
    /// The scene holds something the shaders do not render (render it on the CPU
    /// backend).
    #[error("the GPU backend cannot render {what} yet; render it on the CPU backend")]
    Unsupported {
        /// What.
        what: String,
    },
    /// An allocation failed (or was made to fail); the device stays usable.
    #[error("GPU out of memory allocating {bytes} bytes for {what} ({resident} bytes resident)")]
    OutOfMemory {
        /// What was being allocated.
        what: String,
        /// Its size.
        bytes: u64,
        /// Bytes resident before it.
        resident: u64,
    },
    /// An error the device reported outside any scope, or a lost device.
    #[error("GPU device error: {0}")]
    Uncaptured(String),
}

/// Resident bytes per owner, for every buffer made through one context.
#[derive(Debug, Default)]
pub struct MemoryTracker {
    owners: Mutex<BTreeMap<String, u64>>,
    allocations: AtomicU64,
    fail_at: Vec<(u64, u64)>,
}

impl MemoryTracker {
    /// Bytes resident in total.
    #[must_use]
    pub fn resident(&self) -> u64 {
        self.lock().values().sum()
    }

    /// Bytes resident per owner (scenes are `scene:<id>`, films `film`).
    #[must_use]
    pub fn by_owner(&self) -> BTreeMap<String, u64> {
        self.lock().clone()
    }

    /// Allocations attempted so far.
    #[must_use]
    pub fn allocations(&self) -> u64 {
        self.allocations.load(Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, u64>> {
        self.owners.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn add(&self, owner: &str, bytes: u64) {
        *self.lock().entry(owner.to_owned()).or_default() += bytes;
    }

    fn remove(&self, owner: &str, bytes: u64) {
        let mut m = self.lock();
        if let Some(v) = m.get_mut(owner) {
            *v = v.saturating_sub(bytes);
            if *v == 0 {
                m.remove(owner);
            }
        }
    }
}

/// The size [`GpuContext::buffer`] allocates for `contents` bytes with a minimum of
/// `min`.
pub(crate) fn buffer_size(contents: u64, min: u64) -> u64 {
    min.max(contents).max(16).next_multiple_of(4)
}

/// A buffer counted by the [`MemoryTracker`] until dropped.
#[derive(Debug)]
pub struct TrackedBuffer {
    buffer: wgpu::Buffer,
    bytes: u64,
    owner: String,
    tracker: Arc<MemoryTracker>,
}

impl TrackedBuffer {
    /// The wgpu buffer.
    #[must_use]
    pub fn buffer(&self) -> &wgpu::Buffer {
        &self.buffer
    }

    /// Its size.
    #[must_use]
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

impl Drop for TrackedBuffer {
    fn drop(&mut self) {
        self.tracker.remove(&self.owner, self.bytes);
    }
}

/// A read-only or read-write storage buffer of the compute stage at `binding`.
fn storage(binding: u32, read_only: bool) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Storage { read_only },
            has_dynamic_offset: false,
            min_binding_size: None,
        },
        count: None,
    }
}

/// The compute pipelines and their layouts.
#[derive(Debug)]
struct Pipelines {
    scene_layout: wgpu::BindGroupLayout,
    render_layout: wgpu::BindGroupLayout,
    trace_layout: wgpu::BindGroupLayout,
    render: wgpu::ComputePipeline,
    trace: wgpu::ComputePipeline,
}

/// The entry points of the program with the Kerr passage (f64).
#[derive(Debug)]
struct KerrPipelines {
    render: wgpu::ComputePipeline,
    trace: wgpu::ComputePipeline,
}

/// An open device with Grin's pipelines; share it (`Arc`) between renderers and jobs.
#[derive(Debug)]
pub struct GpuContext {
    device: wgpu::Device,
    queue: wgpu::Queue,
    info: wgpu::AdapterInfo,
    limits: wgpu::Limits,
    memory: Arc<MemoryTracker>,
    pipelines: Pipelines,
    /// Whether the device runs f64 shaders (`SHADER_F64`: Kerr holes).
    f64: bool,
    /// The Kerr variant's pipelines, built when a Kerr scene first needs them.
    kerr: std::sync::OnceLock<Result<KerrPipelines, String>>,
    uncaptured: Arc<Mutex<Vec<String>>>,
    /// Nanoseconds per timestamp tick, when dispatches are timed on the GPU.
    timestamp_period: Option<f32>,
}

/// Storage buffers one stage of the render kernel binds.
const STORAGE_BUFFERS_NEEDED: u32 = layout::binding::SCENE_STORAGE.len() as u32 + 3;

/// Whether a device with `limits` can run the renderer's kernels.
fn check_limits(info: &wgpu::AdapterInfo, limits: &wgpu::Limits) -> Result<(), GpuError> {
    if limits.max_storage_buffers_per_shader_stage < STORAGE_BUFFERS_NEEDED {
        return Err(GpuError::Limits {
            adapter: describe_info(info),
            what: format!(
                "{} storage buffers per shader stage, the renderer needs {STORAGE_BUFFERS_NEEDED}",
                limits.max_storage_buffers_per_shader_stage
            ),
        });
    }
    Ok(())
}

/// Device nodes in `dev` (normally `/dev`) through which a hardware GPU's driver
/// reaches it on Linux: DRM's `dri/` (AMD, Intel, Arm, Apple, NVIDIA's open
/// modules), `nvidia*` (NVIDIA's driver), `dxg` (WSL 2), `kgsl*` and `mali*` (mobile
/// systems-on-chip), `galcore` (Vivante). Where there is none, the drivers can offer
/// only software adapters.
///
/// ```
/// let dev = std::env::temp_dir().join(format!("grin-doc-dev-{}", std::process::id()));
/// std::fs::create_dir_all(dev.join("dri")).unwrap();
/// assert!(renderer_core::gpu::gpu_device_nodes(&dev).is_empty());
/// std::fs::write(dev.join("nvidia0"), b"").unwrap();
/// assert_eq!(renderer_core::gpu::gpu_device_nodes(&dev), ["nvidia0"]);
/// std::fs::remove_dir_all(&dev).unwrap();
/// ```
#[must_use]
pub fn gpu_device_nodes(dev: &std::path::Path) -> Vec<String> {
    const PREFIXES: [&str; 5] = ["nvidia", "dxg", "kgsl", "mali", "galcore"];
    let names = |dir: &std::path::Path| -> Vec<String> {
        std::fs::read_dir(dir).map_or_else(
            |_| Vec::new(),
            |d| {
                d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                    .collect()
            },
        )
    };
    let mut found: Vec<String> = names(&dev.join("dri"))
        .into_iter()
        .map(|n| format!("dri/{n}"))
        .collect();
    found.extend(
        names(dev)
            .into_iter()
            .filter(|n| PREFIXES.iter().any(|p| n.starts_with(p))),
    );
    found.sort();
    found
}

fn backends_from(s: &str) -> wgpu::Backends {
    if s.is_empty() {
        wgpu::Backends::all()
    } else {
        wgpu::Backends::from_comma_list(s)
    }
}

fn describe_info(i: &wgpu::AdapterInfo) -> String {
    let bus = if i.device_pci_bus_id.is_empty() {
        String::new()
    } else {
        format!(", PCI {}", i.device_pci_bus_id)
    };
    format!("{} ({:?}, {:?}{bus})", i.name, i.backend, i.device_type)
}

impl GpuContext {
    /// Opens the adapter `config` asks for and builds the pipelines.
    ///
    /// # Errors
    /// [`GpuError::NoAdapter`] when there is none, [`GpuError::NoMatchingAdapter`],
    /// [`GpuError::Limits`], [`GpuError::Device`] or [`GpuError::Shader`].
    pub fn new(config: &GpuConfig) -> Result<Self, GpuError> {
        Self::open(config, Self::adapter(config)?)
    }

    /// Opens the adapter `config` asks for only if it is a hardware one: `Ok(Err(
    /// description))` for a software adapter (lavapipe, llvmpipe), found without
    /// opening a device on it or compiling the shaders for it (on a machine without
    /// a GPU that took 0.8 s and about 100 MB of memory for a context that
    /// [`crate::Backend::Auto`] then did not use).
    ///
    /// # Errors
    /// As [`GpuContext::new`].
    pub fn new_hardware(config: &GpuConfig) -> Result<Result<Self, String>, GpuError> {
        let adapter = Self::adapter(config)?;
        let info = adapter.get_info();
        if info.device_type == wgpu::DeviceType::Cpu {
            return Ok(Err(describe_info(&info)));
        }
        Self::open(config, adapter).map(Ok)
    }

    /// The adapter `config` asks for.
    fn adapter(config: &GpuConfig) -> Result<wgpu::Adapter, GpuError> {
        let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
        if !config.backends.is_empty() {
            desc.backends = backends_from(&config.backends);
        }
        // Creation past 90% of the driver's memory budget returns out-of-memory, which
        // an error scope turns into GpuError::OutOfMemory.
        desc.memory_budget_thresholds = wgpu::MemoryBudgetThresholds {
            for_resource_creation: Some(90),
            for_device_loss: None,
        };
        let backends = desc.backends;
        let instance = wgpu::Instance::new(desc);
        let adapter = match &config.adapter {
            AdapterChoice::Default | AdapterChoice::LowPower => {
                let power = if config.adapter == AdapterChoice::LowPower {
                    wgpu::PowerPreference::LowPower
                } else {
                    wgpu::PowerPreference::HighPerformance
                };
                pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
                    power_preference: power,
                    ..Default::default()
                }))
                .map_err(|_| GpuError::NoAdapter {
                    backends: format!("{backends:?}"),
                })?
            }
            AdapterChoice::Name(_) | AdapterChoice::PciBusId(_) => {
                let all = pollster::block_on(instance.enumerate_adapters(backends));
                if all.is_empty() {
                    return Err(GpuError::NoAdapter {
                        backends: format!("{backends:?}"),
                    });
                }
                let matches = |a: &wgpu::Adapter| {
                    let i = a.get_info();
                    match &config.adapter {
                        AdapterChoice::Name(n) => i.name.to_lowercase().contains(&n.to_lowercase()),
                        AdapterChoice::PciBusId(b) => {
                            !i.device_pci_bus_id.is_empty()
                                && i.device_pci_bus_id.eq_ignore_ascii_case(b)
                        }
                        _ => true,
                    }
                };
                let available = all
                    .iter()
                    .map(|a| describe_info(&a.get_info()))
                    .collect::<Vec<_>>()
                    .join("; ");
                all.into_iter()
                    .find(matches)
                    .ok_or_else(|| GpuError::NoMatchingAdapter {
                        wanted: format!("{:?}", config.adapter),
                        available,
                    })?
            }
        };
        Ok(adapter)
    }

    /// Opens a device on `adapter` and builds the pipelines.
    fn open(config: &GpuConfig, adapter: wgpu::Adapter) -> Result<Self, GpuError> {
        let info = adapter.get_info();
        let limits = adapter.limits();
        check_limits(&info, &limits)?;
        let timestamps =
            config.profile && adapter.features().contains(wgpu::Features::TIMESTAMP_QUERY);
        let mut features = wgpu::Features::empty();
        if timestamps {
            features |= wgpu::Features::TIMESTAMP_QUERY;
        }
        // f64 shaders where the adapter has them: Kerr holes need them.
        features |= adapter.features() & wgpu::Features::SHADER_F64;
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("grin"),
            required_features: features,
            required_limits: limits.clone(),
            ..Default::default()
        }))
        .map_err(|e| GpuError::Device(e.to_string()))?;
        Self::from_parts(
            info,
            device,
            queue,
            timestamps,
            config.fail_allocations.clone(),
        )
    }

    /// A context on a device the host already has (a game engine's, a window's), so
    /// that the film can be shown or used without leaving the GPU: Grin's pipelines
    /// are built on `device` and its buffers live there. `info` is the adapter's
    /// ([`wgpu::Adapter::get_info`]). The device must have been created with the
    /// adapter's storage-buffer limits (`required_limits: adapter.limits()`; wgpu's
    /// defaults allow 8 storage buffers per stage, the renderer binds
    /// 14); timestamps are used when it has [`wgpu::Features::TIMESTAMP_QUERY`] and
    /// `GRIN_GPU_PROFILE=1`. Grin installs its uncaptured-error and device-lost
    /// callbacks on it (errors then surface as [`GpuError::Uncaptured`]).
    ///
    /// ```no_run
    /// # fn host(adapter: wgpu::Adapter) -> Result<(), renderer_core::gpu::GpuError> {
    /// let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
    ///     required_limits: adapter.limits(),
    ///     ..Default::default()
    /// }))
    /// .unwrap();
    /// let ctx = renderer_core::gpu::GpuContext::from_device(adapter.get_info(), device.clone(), queue.clone())?;
    /// println!("{}", ctx.describe());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`GpuError::Limits`] when the device's limits are too small, or
    /// [`GpuError::Shader`].
    pub fn from_device(
        info: wgpu::AdapterInfo,
        device: wgpu::Device,
        queue: wgpu::Queue,
    ) -> Result<Self, GpuError> {
        check_limits(&info, &device.limits())?;
        let config = GpuConfig::from_env();
        let timestamps =
            config.profile && device.features().contains(wgpu::Features::TIMESTAMP_QUERY);
        Self::from_parts(info, device, queue, timestamps, config.fail_allocations)
    }

    fn from_parts(
        info: wgpu::AdapterInfo,
        device: wgpu::Device,
        queue: wgpu::Queue,
        timestamps: bool,
        fail_at: Vec<(u64, u64)>,
    ) -> Result<Self, GpuError> {
        let limits = device.limits();
        let uncaptured = Arc::new(Mutex::new(Vec::new()));
        {
            let sink = Arc::clone(&uncaptured);
            device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
                sink.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(e.to_string());
            }));
            let sink = Arc::clone(&uncaptured);
            device.set_device_lost_callback(move |reason, msg| {
                sink.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(format!("device lost ({reason:?}): {msg}"));
            });
        }
        let pipelines = Self::pipelines(&device)?;
        let timestamp_period = timestamps.then(|| queue.get_timestamp_period());
        let f64 = device.features().contains(wgpu::Features::SHADER_F64);
        Ok(Self {
            device,
            queue,
            info,
            limits,
            memory: Arc::new(MemoryTracker {
                fail_at,
                ..MemoryTracker::default()
            }),
            pipelines,
            f64,
            kerr: std::sync::OnceLock::new(),
            uncaptured,
            timestamp_period,
        })
    }

    /// The shader module of `source` (the program, [`shaders::source`], or the
    /// program with the kernel probe).
    fn shader_module(device: &wgpu::Device, label: &str, source: String) -> wgpu::ShaderModule {
        // Bounds checks stay on; only wgpu's forced loop bounding is off: on lavapipe
        // it ended the integrator's loop after about 1,400 turns (a ray near a mass
        // takes thousands), and every loop in the shaders has its own explicit bound.
        let checks = wgpu::ShaderRuntimeChecks {
            force_loop_bounding: false,
            ..wgpu::ShaderRuntimeChecks::checked()
        };
        // SAFETY: the one check turned off guards against infinite loops, which would
        // be undefined behaviour on some drivers; every loop of shaders/*.wgsl is
        // bounded: the integrator by `max_steps` and a turn cap, traversals by their
        // stacks, the secant search by 40 iterations, the path by its bounce limit and
        // a turn cap.
        unsafe {
            device.create_shader_module_trusted(
                wgpu::ShaderModuleDescriptor {
                    label: Some(label),
                    source: wgpu::ShaderSource::Wgsl(source.into()),
                },
                checks,
            )
        }
    }

    /// A compute pipeline of `entry` in `module` with the scene as group 0 and
    /// `own` as group 1.
    fn compute_pipeline(
        device: &wgpu::Device,
        module: &wgpu::ShaderModule,
        scene_layout: &wgpu::BindGroupLayout,
        own: &wgpu::BindGroupLayout,
        entry: &str,
    ) -> wgpu::ComputePipeline {
        let pl = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some(entry),
            bind_group_layouts: &[Some(scene_layout), Some(own)],
            immediate_size: 0,
        });
        device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(entry),
            layout: Some(&pl),
            module,
            entry_point: Some(entry),
            compilation_options: wgpu::PipelineCompilationOptions::default(),
            cache: None,
        })
    }

    fn pipelines(device: &wgpu::Device) -> Result<Pipelines, GpuError> {
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let module = Self::shader_module(device, "grin shaders", shaders::source());
        let uniform = |binding: u32| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Uniform,
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        };
        use layout::binding as b;
        let mut scene_entries = vec![uniform(b::PARAMS)];
        scene_entries.extend(b::SCENE_STORAGE.map(|k| storage(k, true)));
        let scene_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("scene"),
            entries: &scene_entries,
        });
        let render_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("render"),
            entries: &[
                uniform(b::DISPATCH),
                storage(b::FILM, false),
                storage(b::STATS, false),
                storage(b::PATHS, false),
            ],
        });
        let trace_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("trace"),
            entries: &[storage(b::RAYS, true), storage(b::RESULTS, false)],
        });
        let pipeline = |layout: &wgpu::BindGroupLayout, entry: &str| {
            Self::compute_pipeline(device, &module, &scene_layout, layout, entry)
        };
        let render = pipeline(&render_layout, "render");
        let trace = pipeline(&trace_layout, "trace_rays");
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(GpuError::Shader(e.to_string()));
        }
        Ok(Pipelines {
            scene_layout,
            render_layout,
            trace_layout,
            render,
            trace,
        })
    }

    /// The Kerr variant's `render` and `trace_rays` pipelines, built on first use.
    fn kerr_pipelines(&self) -> Result<&KerrPipelines, GpuError> {
        if !self.f64 {
            return Err(GpuError::Unsupported {
                what: format!(
                    "a Kerr hole: its geodesics are integrated in f64, and {} has no f64 shaders",
                    self.describe()
                ),
            });
        }
        self.kerr
            .get_or_init(|| {
                let device = &self.device;
                let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
                let module =
                    Self::shader_module(device, "grin shaders (Kerr)", shaders::kerr_source());
                let p = &self.pipelines;
                let pipeline = |layout: &wgpu::BindGroupLayout, entry: &str| {
                    Self::compute_pipeline(device, &module, &p.scene_layout, layout, entry)
                };
                let render = pipeline(&p.render_layout, "render");
                let trace = pipeline(&p.trace_layout, "trace_rays");
                match pollster::block_on(scope.pop()) {
                    Some(e) => Err(e.to_string()),
                    None => Ok(KerrPipelines { render, trace }),
                }
            })
            .as_ref()
            .map_err(|e| GpuError::Shader(e.clone()))
    }

    /// The `render` or `trace_rays` pipeline for a scene with (`kerr`) or without a
    /// Kerr hole.
    fn pipeline_for(&self, kerr: bool, trace: bool) -> Result<&wgpu::ComputePipeline, GpuError> {
        Ok(match (kerr, trace) {
            (false, false) => &self.pipelines.render,
            (false, true) => &self.pipelines.trace,
            (true, false) => &self.kerr_pipelines()?.render,
            (true, true) => &self.kerr_pipelines()?.trace,
        })
    }

    /// Whether the device runs f64 shaders (wgpu's `SHADER_F64`), which Kerr holes
    /// need.
    #[must_use]
    pub fn has_f64(&self) -> bool {
        self.f64
    }

    /// One line naming the adapter and backend.
    #[must_use]
    pub fn describe(&self) -> String {
        describe_info(&self.info)
    }

    /// Whether the adapter is a CPU (a software driver such as lavapipe).
    #[must_use]
    pub fn is_software(&self) -> bool {
        self.info.device_type == wgpu::DeviceType::Cpu
    }

    /// The adapter's name.
    #[must_use]
    pub fn adapter_name(&self) -> &str {
        &self.info.name
    }

    /// Nanoseconds per GPU timestamp tick when render dispatches are timed on the
    /// GPU ([`GpuConfig::profile`] asked for it and the adapter has timestamp
    /// queries); `None` otherwise.
    #[must_use]
    pub fn timestamp_period(&self) -> Option<f32> {
        self.timestamp_period
    }

    /// The memory tracker.
    #[must_use]
    pub fn memory(&self) -> &MemoryTracker {
        &self.memory
    }

    /// The device.
    #[must_use]
    pub fn device(&self) -> &wgpu::Device {
        &self.device
    }

    /// The queue.
    #[must_use]
    pub fn queue(&self) -> &wgpu::Queue {
        &self.queue
    }

    /// Creates a buffer charged to `owner`, initialised with `contents` (or zeroed
    /// to `size` bytes when empty).
    ///
    /// # Errors
    /// [`GpuError::OutOfMemory`] when the driver refuses, when the size exceeds the
    /// device's limits, or when the injection switch says so. Nothing is leaked and
    /// the device stays usable.
    pub fn buffer(
        &self,
        owner: &str,
        what: &str,
        usage: wgpu::BufferUsages,
        contents: &[u8],
        size: u64,
    ) -> Result<TrackedBuffer, GpuError> {
        let size = buffer_size(contents.len() as u64, size);
        let n = self.memory.allocations.fetch_add(1, Ordering::Relaxed) + 1;
        let oom = || GpuError::OutOfMemory {
            what: format!("{owner} {what}"),
            bytes: size,
            resident: self.memory.resident(),
        };
        if self
            .memory
            .fail_at
            .iter()
            .any(|&(a, b)| (a..=b).contains(&n))
        {
            return Err(oom());
        }
        let binding_limit = self.limits.max_storage_buffer_binding_size;
        if size > self.limits.max_buffer_size
            || (usage.contains(wgpu::BufferUsages::STORAGE) && size > binding_limit)
        {
            return Err(oom());
        }
        let oom_scope = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let valid_scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let buffer = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(what),
            size,
            usage: usage | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let invalid = pollster::block_on(valid_scope.pop());
        let out_of_memory = pollster::block_on(oom_scope.pop());
        if out_of_memory.is_some() {
            buffer.destroy();
            return Err(oom());
        }
        if let Some(e) = invalid {
            buffer.destroy();
            return Err(GpuError::Device(format!("{owner} {what}: {e}")));
        }
        if !contents.is_empty() {
            self.queue.write_buffer(&buffer, 0, contents);
        }
        self.memory.add(owner, size);
        Ok(TrackedBuffer {
            buffer,
            bytes: size,
            owner: owner.to_owned(),
            tracker: Arc::clone(&self.memory),
        })
    }

    /// Errors the device reported outside any scope since the last call.
    ///
    /// # Errors
    /// [`GpuError::Uncaptured`] with the first of them.
    pub fn check(&self) -> Result<(), GpuError> {
        let mut errors = self
            .uncaptured
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match errors.drain(..).next() {
            Some(e) => Err(GpuError::Uncaptured(e)),
            None => Ok(()),
        }
    }

    /// Waits for the queue to finish.
    ///
    /// # Errors
    /// [`GpuError::Uncaptured`] when polling fails or the device reported an error.
    pub fn wait(&self) -> Result<(), GpuError> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| GpuError::Uncaptured(e.to_string()))?;
        self.check()
    }

    /// Copies `bytes` bytes of `src` back to the host.
    ///
    /// # Errors
    /// An allocation or device error.
    pub fn read_back(&self, src: &wgpu::Buffer, bytes: u64) -> Result<Vec<u8>, GpuError> {
        let staging = self.buffer(
            "readback",
            "staging",
            wgpu::BufferUsages::MAP_READ,
            &[],
            bytes,
        )?;
        let mut enc = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
        enc.copy_buffer_to_buffer(src, 0, staging.buffer(), 0, bytes);
        self.queue.submit([enc.finish()]);
        let slice = staging.buffer().slice(..bytes);
        self.map_read(&slice)?;
        let out = slice
            .get_mapped_range()
            .map_err(|e| GpuError::Uncaptured(format!("map: {e}")))?
            .to_vec();
        staging.buffer().unmap();
        Ok(out)
    }

    /// Maps `slice` (of a `MAP_READ` buffer whose copies are submitted) for reading
    /// and waits until it is mapped.
    ///
    /// # Errors
    /// A device error, a failed map, or a map that never completes (60 s).
    pub(crate) fn map_read(&self, slice: &wgpu::BufferSlice<'_>) -> Result<(), GpuError> {
        let result = Arc::new(Mutex::new(None));
        let r = Arc::clone(&result);
        slice.map_async(wgpu::MapMode::Read, move |res| {
            *r.lock().unwrap_or_else(PoisonError::into_inner) = Some(res);
        });
        self.wait()?;
        // Another thread polling the same device may be the one that runs the
        // callback: wait for it (it comes right after that poll).
        let started = std::time::Instant::now();
        let mut mapped = None;
        while started.elapsed() < std::time::Duration::from_secs(60) {
            mapped = result.lock().unwrap_or_else(PoisonError::into_inner).take();
            if mapped.is_some() {
                break;
            }
            std::thread::yield_now();
            self.wait()?;
        }
        match mapped {
            Some(Ok(())) => Ok(()),
            Some(Err(e)) => Err(GpuError::Uncaptured(format!("map: {e}"))),
            None => Err(GpuError::Uncaptured("map never completed".into())),
        }
    }

    /// Records and submits one compute dispatch of `invocations` over `pipeline`.
    fn dispatch(
        &self,
        pipeline: &wgpu::ComputePipeline,
        groups: [&wgpu::BindGroup; 2],
        invocations: u32,
        timestamps: Option<&wgpu::QuerySet>,
    ) {
        let wg = invocations.div_ceil(layout::WORKGROUP_SIZE);
        let (x, y) = if wg <= 65535 {
            (wg, 1)
        } else {
            (65535, wg.div_ceil(65535))
        };
        let mut enc = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
        {
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: None,
                timestamp_writes: timestamps.map(|query_set| wgpu::ComputePassTimestampWrites {
                    query_set,
                    beginning_of_pass_write_index: Some(0),
                    end_of_pass_write_index: Some(1),
                }),
            });
            pass.set_pipeline(pipeline);
            pass.set_bind_group(0, groups[0], &[]);
            pass.set_bind_group(1, groups[1], &[]);
            pass.dispatch_workgroups(x, y, 1);
        }
        self.queue.submit([enc.finish()]);
    }
}
