//! `grin render`: a scene to an image (PNG, or linear OpenEXR), with AOVs, a
//! Chrome trace of the frame graph, and progress on the terminal.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use renderer_core::film::Film;
use renderer_core::frame::{RenderSettings, Renderer, StepError, StepReport};
use renderer_core::gpu::{Backend, GpuConfig, GpuError};
use renderer_core::scene::Scene;
use renderer_core::session::{Session, SessionError};
use renderer_core::texture::linear_to_srgb;
use renderer_core::truth::GroundTruth;
use scheduler::CancelToken;
use scheduler::order::Order;

/// An AOV (arbitrary output variable) the film keeps beside the colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Aov {
    /// Path length along the (curved) camera ray to the first hit.
    Depth,
    /// Unit normal at the first hit, facing the camera.
    Normal,
    /// Traced at the pixel centre: instance id hit (the plane the metadata's and
    /// COCO's masks and boxes are made from).
    Instance,
    /// Fraction of samples that hit geometry.
    Mask,
    /// Segments per camera ray.
    Segments,
    /// Traced at the pixel centre: the hit in the instance's own coordinates.
    Objcoords,
    /// Traced at the pixel centre: texture coordinates at the hit.
    Uv,
    /// Traced at the pixel centre: world position of the hit.
    Position,
    /// Traced at the pixel centre: the ray's final direction (at the hit, or the sky
    /// direction it escapes to: the lens map).
    Exit,
    /// Traced at the pixel centre: angle (radians) between the ray's first and final
    /// directions.
    Deflection,
    /// Traced at the pixel centre: the image order (half turns about a lens or mass;
    /// near a Kerr hole, equatorial-plane crossings before the disk or the ray's end).
    Order,
    /// Traced at the pixel centre, near a Kerr hole: the frequency ratio g =
    /// nu_observed / nu_emitted to the disk's gas, or to the sky at rest (NaN: none).
    Redshift,
}

impl Aov {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Depth => "depth",
            Self::Normal => "normal",
            Self::Instance => "instance",
            Self::Mask => "mask",
            Self::Segments => "segments",
            Self::Objcoords => "objcoords",
            Self::Uv => "uv",
            Self::Position => "position",
            Self::Exit => "exit",
            Self::Deflection => "deflection",
            Self::Order => "order",
            Self::Redshift => "redshift",
        }
    }

    /// Whether it is traced at pixel centres (the ground truth) rather than kept by
    /// the film.
    pub(crate) fn traced(self) -> bool {
        matches!(
            self,
            Self::Instance
                | Self::Objcoords
                | Self::Uv
                | Self::Position
                | Self::Exit
                | Self::Deflection
                | Self::Order
                | Self::Redshift
        )
    }
}

/// Who looks (see the scene format's `observer`): how the camera moves near a Kerr
/// hole (outside its ergosphere: refused inside).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ObserverArg {
    /// At rest.
    Static,
    /// Zero angular momentum (turning with the frame dragging).
    Zamo,
    /// Falling from rest at infinity.
    FreeFall,
    /// On a circular equatorial orbit with the spin.
    Orbit,
    /// On a circular equatorial orbit against the spin.
    OrbitRetrograde,
}

impl ObserverArg {
    pub(crate) fn observer(self) -> renderer_core::scene::Observer {
        use renderer_core::scene::Observer;
        match self {
            Self::Static => Observer::Static,
            Self::Zamo => Observer::Zamo,
            Self::FreeFall => Observer::FreeFall,
            Self::Orbit => Observer::Orbit { retrograde: false },
            Self::OrbitRetrograde => Observer::Orbit { retrograde: true },
        }
    }
}

/// The order tiles start in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum TileOrder {
    /// Row by row.
    Scanline,
    /// Nearest the image centre first.
    CentreFirst,
}

#[derive(clap::Args, Debug)]
pub(crate) struct RenderArgs {
    /// Scene file (RON).
    scene: PathBuf,
    /// Output image: PNG (sRGB, 8-bit), or linear float OpenEXR when it ends in
    /// `.exr`. Written to a temporary name, then renamed.
    #[arg(short, long)]
    output: PathBuf,
    /// Samples per pixel.
    #[arg(long, default_value_t = 16)]
    spp: u32,
    /// Image size, "WxH".
    #[arg(long, default_value = "320x240", value_parser = parse_size)]
    size: (u32, u32),
    /// Worker threads (default: GRIN_THREADS, else all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// The camera, replacing the scene's: `px,py,pz,lx,ly,lz[,fov]` (eye, point looked
    /// at, vertical field of view in degrees); `grin-preview --print-camera` prints one.
    #[arg(long, allow_hyphen_values = true, value_parser = crate::cli_args::parse_camera)]
    camera: Option<(glam::DVec3, glam::DVec3, Option<f64>)>,
    /// The camera's observer near a Kerr hole, replacing the scene's.
    #[arg(long, value_enum)]
    observer: Option<ObserverArg>,
    /// Scattering events after the first hit (0: direct lighting only).
    #[arg(long, default_value_t = 4)]
    bounces: u32,
    /// Tile size, "WxH" (16x16 or 32x16 are the usual).
    #[arg(long, default_value = "16x16", value_parser = parse_size)]
    tile: (u32, u32),
    /// Order tiles start in.
    #[arg(long, value_enum, default_value_t = TileOrder::CentreFirst)]
    order: TileOrder,
    /// AOVs to write beside the image, comma-separated: OUT.depth.png (or .exr
    /// with --exr), and so on.
    #[arg(long, value_enum, value_delimiter = ',')]
    aov: Vec<Aov>,
    /// Also write the image as linear float OpenEXR beside the PNG (and the AOVs
    /// as OpenEXR, with exact values).
    #[arg(long)]
    exr: bool,
    /// Write the frame's metadata beside the image (OUT.json): camera intrinsics
    /// and extrinsics, the fields, per instance its visible pixels, 2-D box and mask
    /// as seen through the curved light, and its 3-D box.
    #[arg(long)]
    metadata: bool,
    /// Write a Chrome trace (chrome://tracing, Perfetto) of the frame graph here.
    #[arg(long)]
    trace_out: Option<PathBuf>,
    /// Where frames render: the GPU when there is an adapter (else the CPU, said
    /// once), the CPU, or the GPU only (exit 4 without one). The adapter comes from
    /// WGPU_BACKEND and GRIN_GPU_ADAPTER (a name substring or pci:BUS_ID).
    #[arg(long, value_enum, default_value_t = BackendArg::Auto)]
    backend: BackendArg,
}

/// `--backend`.
pub(crate) use crate::cli_args::{BackendArg, parse_size};

pub(crate) use crate::exit::{Exit, Failure};

fn fail(exit: Exit, msg: impl std::fmt::Display) -> Failure {
    Failure::new(exit, format!("grin render: {msg}"))
}

/// Writes `bytes` to `path` whole or not at all (a temporary file, every byte
/// checked, synced, then renamed; only a regular file or nothing is replaced): exit
/// 2 with the path on failure.
pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    scheduler::jobs::status::write_bytes_atomic(path, bytes).map_err(|e| {
        fail(
            Exit::BadInput,
            format!("cannot write {}: {e}", path.display()),
        )
    })
}

/// Encodes `img` in memory, then [`write_file`]s it: an encoder writing straight to
/// a file can lose its last buffered bytes on a full disk without an error.
pub(crate) fn save(
    path: &Path,
    img: image::DynamicImage,
    format: image::ImageFormat,
) -> Result<(), Failure> {
    let mut bytes = std::io::Cursor::new(Vec::new());
    img.write_to(&mut bytes, format).map_err(|e| {
        fail(
            Exit::BadInput,
            format!("cannot encode {}: {e}", path.display()),
        )
    })?;
    write_file(path, &bytes.into_inner())
}

/// Refuses, before anything renders, an output path that cannot be written: a
/// device node, FIFO, directory or link where the file would go, or a missing
/// folder.
pub(crate) fn check_output(path: &Path, what: &str) -> Result<(), Failure> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !dir.is_dir() {
        return Err(fail(
            Exit::BadInput,
            format!("{what} folder {} does not exist", dir.display()),
        ));
    }
    scheduler::jobs::status::ensure_replaceable(path)
        .map_err(|e| fail(Exit::BadInput, format!("{what}: {e}")))
}

pub(crate) fn rgb_f32(w: u32, h: u32, px: Vec<[f32; 3]>) -> image::DynamicImage {
    let flat: Vec<f32> = px.into_iter().flatten().collect();
    image::DynamicImage::ImageRgb32F(
        image::Rgb32FImage::from_raw(w, h, flat).expect("the film's size matches its planes"),
    )
}

fn grey16(w: u32, h: u32, px: Vec<u16>) -> image::DynamicImage {
    image::DynamicImage::ImageLuma16(
        image::ImageBuffer::from_raw(w, h, px).expect("the film's size matches its planes"),
    )
}

pub(crate) fn srgb8(
    w: u32,
    h: u32,
    px: &[[f32; 3]],
    encode: impl Fn(f32) -> f32,
) -> image::DynamicImage {
    let flat: Vec<u8> = px
        .iter()
        .flat_map(|p| p.map(|v| (encode(v) * 255.0 + 0.5) as u8))
        .collect();
    image::DynamicImage::ImageRgb8(
        image::RgbImage::from_raw(w, h, flat).expect("the film's size matches its planes"),
    )
}

/// `out.png` + `depth` + `exr` -> `out.depth.exr`.
fn beside(output: &Path, what: &str, ext: &str) -> PathBuf {
    let stem = output
        .file_stem()
        .map_or_else(|| "render".into(), |s| s.to_string_lossy().into_owned());
    output.with_file_name(format!("{stem}.{what}.{ext}"))
}

/// Writes one AOV; returns the file and a note on its encoding.
pub(crate) fn write_aov(
    film: &Film,
    truth: Option<&GroundTruth>,
    aov: Aov,
    output: &Path,
    exr: bool,
) -> Result<String, Failure> {
    let (w, h) = (film.width(), film.height());
    let ext = if exr { "exr" } else { "png" };
    let path = beside(output, aov.name(), ext);
    let scalar = |v: Vec<f32>| v.into_iter().map(|x| [x; 3]).collect::<Vec<_>>();
    if aov.traced() {
        let truth = truth.ok_or_else(|| {
            fail(
                Exit::Failed,
                format!("the {} AOV needs the ground truth", aov.name()),
            )
        })?;
        let note = if exr {
            let px = crate::truth_out::float_pixels(truth, aov);
            save(&path, rgb_f32(w, h, px), image::ImageFormat::OpenExr)?;
            "linear float, traced at pixel centres".to_owned()
        } else {
            let (img, note) = crate::truth_out::png16(truth, aov);
            save(&path, img, image::ImageFormat::Png)?;
            format!("{note}, traced at pixel centres")
        };
        return Ok(format!("{} ({note})", path.display()));
    }
    let note = if exr {
        let px = match aov {
            Aov::Depth => scalar(film.depth()),
            Aov::Normal => film.normal(),
            Aov::Mask => scalar(film.hit_mask()),
            Aov::Segments => scalar(film.segments()),
            _ => unreachable!("traced AOVs are written above"),
        };
        save(&path, rgb_f32(w, h, px), image::ImageFormat::OpenExr)?;
        "linear float".to_owned()
    } else {
        let (img, note) = match aov {
            Aov::Depth => {
                let d = film.depth();
                let max = d
                    .iter()
                    .copied()
                    .fold(0.0f32, f32::max)
                    .max(f32::MIN_POSITIVE);
                let px = d
                    .iter()
                    .map(|&v| (v / max * 65535.0).round() as u16)
                    .collect();
                (grey16(w, h, px), format!("16-bit, 65535 = depth {max}"))
            }
            Aov::Normal => (
                srgb8(w, h, &film.normal(), |v| (v + 1.0) * 0.5),
                "8-bit, (n + 1) / 2".to_owned(),
            ),
            Aov::Mask => {
                let px = film
                    .hit_mask()
                    .iter()
                    .map(|&m| (m * 65535.0).round() as u16)
                    .collect();
                (
                    grey16(w, h, px),
                    "16-bit, 65535 = all samples hit".to_owned(),
                )
            }
            Aov::Segments => {
                let px = film
                    .segments()
                    .iter()
                    .map(|&s| s.round().min(65535.0) as u16)
                    .collect();
                (grey16(w, h, px), "16-bit, mean segments per ray".to_owned())
            }
            _ => unreachable!("traced AOVs are written above"),
        };
        save(&path, img, image::ImageFormat::Png)?;
        note
    };
    Ok(format!("{} ({note})", path.display()))
}

/// Progress on a terminal (a bar) or in a log (a line per tenth of the work).
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    total: u64,
    next_line: u64,
}

impl Progress {
    fn new(total: u64) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(total);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:40} {percent:>3}% {pos}/{len} samples, {msg} eta {eta}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar
        });
        Self {
            bar,
            total,
            next_line: total / 10,
        }
    }

    fn update(&mut self, done: u64, report: &StepReport, started: Instant) {
        let rate = done as f64 / started.elapsed().as_secs_f64().max(1e-9);
        match &self.bar {
            Some(bar) => {
                bar.set_position(done);
                bar.set_message(format!(
                    "pass {}, {:.2} M samples/s",
                    report.passes_done,
                    rate / 1e6
                ));
            }
            None if done >= self.next_line || report.frame_complete => {
                eprintln!(
                    "grin render: {:>3}% ({done}/{} samples, pass {}, {:.2} M samples/s)",
                    done * 100 / self.total.max(1),
                    self.total,
                    report.passes_done,
                    rate / 1e6
                );
                self.next_line = done + self.total / 10;
            }
            None => {}
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Runs `grin render`; returns the summary to print.
/// The renderer for a command: a pool of `threads` (default: all cores) and the
/// backend asked for, announced in one log line (`tool: GPU backend, ...` or `tool:
/// CPU backend, N threads (no GPU: why)`). `--backend gpu` without a GPU exits 4.
pub(crate) fn open_renderer(
    tool: &str,
    threads: Option<usize>,
    backend: BackendArg,
) -> Result<Renderer, Failure> {
    let mut r = open_renderers(tool, 1, threads, backend)?;
    r.pop()
        .ok_or_else(|| Failure::new(Exit::Failed, format!("{tool}: no renderer was opened")))
}

/// `workers` renderers sharing one device: each with its own pool, `threads` in all
/// (default: all cores) divided among the workers (at least one each), all on
/// the backend asked for (one GPU context and pipeline set shared). One log line.
pub(crate) fn open_renderers(
    tool: &str,
    workers: usize,
    threads: Option<usize>,
    backend: BackendArg,
) -> Result<Vec<Renderer>, Failure> {
    let fail = |exit: Exit, msg: String| Failure::new(exit, format!("{tool}: {msg}"));
    let total = match threads {
        Some(0) => return Err(fail(Exit::BadInput, "--threads must be at least 1".into())),
        Some(n) if n > scheduler::pool::max_threads() => {
            return Err(fail(
                Exit::BadInput,
                format!(
                    "--threads {n}: at most {} on this machine",
                    scheduler::pool::max_threads()
                ),
            ));
        }
        Some(n) => n,
        None => scheduler::PoolConfig::default()
            .resolve_threads()
            .map_err(|e| fail(Exit::BadInput, e.to_string()))?,
    };
    // Never more threads in all than asked for (or than cores): no oversubscription.
    let threads = (total / workers.max(1)).max(1);
    let pool = || -> Result<Arc<scheduler::Pool>, Failure> {
        scheduler::Pool::new(scheduler::PoolConfig::with_threads(threads))
            .map(Arc::new)
            .map_err(|e| fail(Exit::BadInput, e.to_string()))
    };
    let backend = Backend::from(backend);
    let first = Renderer::with_backend(pool()?, backend, &GpuConfig::from_env())
        .map_err(|e| fail(Exit::NoGpu, format!("--backend gpu: {e}")))?;
    let who = if workers > 1 {
        format!("{workers} workers x {threads} threads")
    } else {
        format!("{threads} threads")
    };
    match (first.gpu(), first.fallback_reason()) {
        (Some(ctx), _) => eprintln!("{tool}: GPU backend, {}", ctx.describe()),
        (None, Some(why)) => eprintln!("{tool}: CPU backend, {who} (no GPU: {why})"),
        (None, None) => eprintln!("{tool}: CPU backend, {who}"),
    }
    let ctx = first.gpu().cloned();
    let mut all = vec![first];
    for _ in 1..workers.max(1) {
        all.push(match &ctx {
            Some(ctx) => Renderer::with_gpu(pool()?, Arc::clone(ctx)),
            None => Renderer::new(pool()?),
        });
    }
    Ok(all)
}

/// Every path `render` will write, checked before anything renders: `-o` is a PNG
/// or an EXR, no output replaces the scene or another output, and each can be
/// written (its folder exists; no device, FIFO, directory or link is where it goes).
/// Returns whether `-o` is an EXR.
fn check_outputs(args: &RenderArgs) -> Result<bool, Failure> {
    let ext = args
        .output
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    let exr_output = match ext.as_deref() {
        Some("png") => false,
        Some("exr") => true,
        _ => {
            return Err(fail(
                Exit::BadInput,
                format!(
                    "-o {}: the image is written as PNG (.png) or OpenEXR (.exr); name it so",
                    args.output.display()
                ),
            ));
        }
    };
    let mut outputs = vec![(args.output.clone(), "-o")];
    if args.exr && !exr_output {
        outputs.push((args.output.with_extension("exr"), "--exr"));
    }
    for &aov in &args.aov {
        let ext = if args.exr || exr_output { "exr" } else { "png" };
        outputs.push((beside(&args.output, aov.name(), ext), "--aov"));
    }
    if let Some(trace) = &args.trace_out {
        outputs.push((trace.clone(), "--trace-out"));
    }
    if args.metadata {
        outputs.push((args.output.with_extension("json"), "--metadata"));
    }
    let same = |a: &Path, b: &Path| {
        a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
    };
    for (k, (path, what)) in outputs.iter().enumerate() {
        if same(path, &args.scene) {
            return Err(fail(
                Exit::BadInput,
                format!(
                    "{what} {} is the scene file; refusing to overwrite it",
                    path.display()
                ),
            ));
        }
        if let Some((_, other)) = outputs[..k].iter().find(|(p, _)| same(p, path)) {
            return Err(fail(
                Exit::BadInput,
                format!("{what} {} is also the {other} output", path.display()),
            ));
        }
        check_output(path, what)?;
    }
    Ok(exr_output)
}

/// Bytes a frame of `size` takes on the host: the film's planes, the linear RGB read
/// out of it, the image to encode, and each of `aovs` AOVs.
pub(crate) fn frame_bytes(size: (u32, u32), aovs: usize) -> u128 {
    let pixels = u128::from(size.0) * u128::from(size.1);
    pixels * (u128::from(renderer_core::film::FILM_BYTES_PER_PIXEL) + 12 + 12 + 12 * aovs as u128)
}

/// Memory available to this process (the machine's, or its cgroup's), lowered by
/// `GRIN_MAX_MEMORY` (bytes); `None` when unknown.
pub(crate) fn available_memory() -> Option<u64> {
    let mut sys = sysinfo::System::new();
    let (_, available) = crate::batch::probes::memory(&mut sys);
    let cap = std::env::var("GRIN_MAX_MEMORY")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok());
    match (available, cap) {
        (0, c) => c,
        (a, Some(c)) => Some(a.min(c)),
        (a, None) => Some(a),
    }
}

/// Refuses, before allocating, a frame whose film and images would not fit in the
/// memory available (a 16384x16384 frame needs about 30 GB; `GRIN_MAX_MEMORY` in
/// bytes lowers the limit).
fn check_memory(args: &RenderArgs) -> Result<(), Failure> {
    let need = frame_bytes(args.size, args.aov.len());
    let available = available_memory().unwrap_or(u64::MAX);
    if need > u128::from(available) {
        return Err(fail(
            Exit::BadInput,
            format!(
                "--size {}x{} needs about {:.1} GiB for the film and images; {:.1} GiB is available",
                args.size.0,
                args.size.1,
                need as f64 / f64::from(1u32 << 30),
                available as f64 / f64::from(1u32 << 30)
            ),
        ));
    }
    Ok(())
}

pub(crate) fn render(args: &RenderArgs) -> Result<String, Failure> {
    let scene = Scene::load(&args.scene).map_err(|e| fail(Exit::BadInput, e))?;
    if args.spp == 0 {
        return Err(fail(Exit::BadInput, "--spp must be at least 1"));
    }
    let exr_output = check_outputs(args)?;
    check_memory(args)?;
    let mut renderer = open_renderer("grin render", args.threads, args.backend)?;
    // Kerr geodesics run in f64 on the GPU: Auto renders such a scene on the CPU
    // where the device has no f64 shaders (and says so); --backend gpu fails on it
    // with the reason.
    if args.backend == BackendArg::Auto
        && scene.medium().kerr_holes().next().is_some()
        && renderer.gpu().is_some_and(|ctx| !ctx.has_f64())
    {
        eprintln!(
            "grin render: the scene holds a Kerr hole, whose rays need f64 shaders this GPU lacks: rendering on the CPU"
        );
        renderer = open_renderer("grin render", args.threads, BackendArg::Cpu)?;
    }
    let settings = RenderSettings {
        width: args.size.0,
        height: args.size.1,
        spp: args.spp,
        seed: args.seed,
        tile: args.tile,
        order: match args.order {
            TileOrder::Scanline => Order::Scanline,
            TileOrder::CentreFirst => Order::CentreFirst,
        },
        max_bounces: args.bounces,
    };
    let mut session = Session::new(renderer);
    if args.camera.is_some() || args.observer.is_some() {
        let given = scene.camera();
        let mut cam = match (given, args.camera) {
            (Some(c), _) => c,
            (None, Some((position, look_at, _))) => renderer_core::scene::CameraDesc {
                position,
                look_at,
                up: glam::DVec3::Y,
                fov_deg: 45.0,
                observer: Default::default(),
            },
            (None, None) => {
                return Err(fail(
                    Exit::BadInput,
                    format!(
                        "--observer: {} has no camera (give one with --camera)",
                        args.scene.display()
                    ),
                ));
            }
        };
        if let Some((position, look_at, fov)) = args.camera {
            cam.position = position;
            cam.look_at = look_at;
            if let Some(f) = fov {
                cam.fov_deg = f;
            }
        }
        if let Some(o) = args.observer {
            cam.observer = o.observer();
        }
        cam.validate_in(&args.scene, scene.medium())
            .map_err(|e| fail(Exit::BadInput, format!("--camera/--observer: {e}")))?;
        session.set_camera(cam);
    }
    session.set_scene(Arc::new(scene));
    session.set_settings(settings);
    let started = Instant::now();
    let total = u64::from(settings.width) * u64::from(settings.height) * u64::from(settings.spp);
    let mut progress = Progress::new(total);
    let mut traces = Vec::new();
    let (mut done, mut rays, mut segments, mut subdivisions) = (0u64, 0u64, 0u64, 0u64);
    let mut stage_time: Vec<(String, Duration)> = Vec::new();
    // A transient GPU out-of-memory gets one more try with the renderer's GPU
    // buffers freed first (the batch's ladder, for one frame); a second is exit 3.
    let mut attempt = 0;
    loop {
        let result = session.render_all(&CancelToken::new(), |report| {
            done += report.samples;
            rays += report.rays;
            segments += report.segments;
            subdivisions += report.subdivisions;
            for st in &report.stages {
                match stage_time.iter_mut().find(|(n, _)| *n == st.name) {
                    Some((_, t)) => *t += st.wall,
                    None => stage_time.push((st.name.clone(), st.wall)),
                }
            }
            if args.trace_out.is_some() {
                traces.extend(report.traces.iter().cloned());
            }
            progress.update(done, report, started);
        });
        match result {
            Ok(()) => break,
            Err(e @ (SessionError::Snapshot(_) | SessionError::NoCamera)) => {
                return Err(fail(
                    Exit::BadInput,
                    format!("{}: {e}", args.scene.display()),
                ));
            }
            Err(SessionError::Step(StepError::Gpu(e @ GpuError::OutOfMemory { .. })))
                if attempt == 0 =>
            {
                eprintln!("grin render: {e}; freeing the GPU buffers and retrying once");
                attempt += 1;
                session.forget_scene();
                (done, rays, segments, subdivisions) = (0, 0, 0, 0);
                stage_time.clear();
                traces.clear();
            }
            Err(e @ SessionError::Step(StepError::Gpu(GpuError::OutOfMemory { .. }))) => {
                return Err(fail(Exit::OutOfMemory, e));
            }
            Err(e) => return Err(fail(Exit::Failed, e)),
        }
    }
    progress.finish();
    let seconds = started.elapsed().as_secs_f64();
    let film = session.renderer().film();
    let (w, h) = (film.width(), film.height());
    let mut written = Vec::new();
    if exr_output {
        save(
            &args.output,
            rgb_f32(w, h, film.rgb()),
            image::ImageFormat::OpenExr,
        )?;
    } else {
        save(
            &args.output,
            srgb8(w, h, &film.rgb(), linear_to_srgb),
            image::ImageFormat::Png,
        )?;
        if args.exr {
            let path = args.output.with_extension("exr");
            save(
                &path,
                rgb_f32(w, h, film.rgb()),
                image::ImageFormat::OpenExr,
            )?;
            written.push(format!("{} (linear float)", path.display()));
        }
    }
    let truth = if args.metadata || args.aov.iter().any(|a| a.traced()) {
        let t = Instant::now();
        let truth = session
            .ground_truth()
            .map_err(|e| fail(Exit::Failed, format!("ground truth: {e}")))?;
        eprintln!(
            "grin render: ground truth traced at pixel centres in {:.2} s",
            t.elapsed().as_secs_f64()
        );
        Some(truth)
    } else {
        None
    };
    let film = session.renderer().film();
    for &aov in &args.aov {
        written.push(write_aov(
            film,
            truth.as_ref(),
            aov,
            &args.output,
            args.exr || exr_output,
        )?);
    }
    if let (true, Some(truth)) = (args.metadata, &truth) {
        let path = args.output.with_extension("json");
        let image = args
            .output
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let snapshot = session
            .snapshot()
            .map_err(|e| fail(Exit::Failed, format!("metadata: {e}")))?;
        let meta = crate::truth_out::metadata(snapshot, truth, &image, None);
        let bytes =
            serde_json::to_vec(&meta).map_err(|e| fail(Exit::Failed, format!("metadata: {e}")))?;
        write_file(&path, &bytes)?;
        written.push(format!("{} (metadata)", path.display()));
    }
    if let Some(path) = &args.trace_out {
        scheduler::telemetry::write_chrome_trace(path, &traces).map_err(|e| {
            fail(
                Exit::BadInput,
                format!("cannot write {}: {e}", path.display()),
            )
        })?;
        written.push(format!(
            "{} (Chrome trace, {} frames)",
            path.display(),
            traces.len()
        ));
    }
    let stages: Vec<String> = stage_time
        .iter()
        .map(|(n, t)| format!("{n} {:.3} s", t.as_secs_f64()))
        .collect();
    let mut msg = format!(
        "wrote {} ({w}x{h}, {} spp) in {seconds:.2} s: {:.2} M samples/s, {rays} rays, \
         {segments} segments, {subdivisions} soft-gate subdivisions; stages: {}",
        args.output.display(),
        args.spp,
        done as f64 / seconds.max(1e-9) / 1e6,
        stages.join(", ")
    );
    for f in written {
        msg.push_str(&format!("\nwrote {f}"));
    }
    Ok(msg)
}
