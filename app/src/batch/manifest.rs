//! The batch manifest (RON): jobs, each a scene with frames, resolution, samples,
//! outputs and per-job overrides, optionally a camera path (keyframes) and animated
//! instances (transform keyframes). A manifest may also be a plain list of scene
//! files, each then one frame with the defaults. Everything is validated before any
//! rendering starts; errors name the file, the line and column (syntax) or the job
//! and field (meaning).
//!
//! ```ron
//! (
//!     defaults: (size: (160, 120), spp: 8),
//!     jobs: [
//!         (scene: "../scenes/luneburg.ron", name: "lens", frames: (start: 0, count: 12),
//!          camera_path: [
//!              (frame: 0, position: (0.0, 0.0, -5.0), look_at: (0.0, 0.0, 0.0)),
//!              (frame: 11, position: (2.0, 0.0, -4.5), look_at: (0.0, 0.0, 0.0)),
//!          ]),
//!     ],
//! )
//! ```

use std::path::{Component, Path, PathBuf};

use glam::DVec3;
use serde::Deserialize;

/// A frame range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Frames {
    /// First frame number.
    pub(crate) start: u32,
    /// How many.
    pub(crate) count: u32,
}

/// One camera keyframe; the camera is interpolated linearly between keyframes.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CameraKey {
    /// Frame number.
    pub(crate) frame: u32,
    /// Eye position.
    pub(crate) position: DVec3,
    /// Point looked at.
    pub(crate) look_at: DVec3,
}

/// A translation keyframe of one instance.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MoveKey {
    /// Frame number.
    pub(crate) frame: u32,
    /// Translation added to the instance's own transform.
    pub(crate) translate: DVec3,
}

/// An animated instance: moved by translation keyframes, and/or given a new mesh
/// every frame from a sequence of files.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Animation {
    /// Instance index in the scene.
    pub(crate) instance: usize,
    /// Keyframes, in frame order.
    #[serde(default)]
    pub(crate) keys: Vec<MoveKey>,
    /// Mesh files, one per frame (`.obj` or `.ply`), relative to the manifest's
    /// folder: a pattern where `{frame}` stands for the frame number, `{frame:04}`
    /// for it zero-padded to 4 digits (resolved against the manifest's folder at
    /// validation).
    #[serde(default)]
    pub(crate) meshes: Option<String>,
}

impl Animation {
    /// The mesh file of `frame`, if the animation has a mesh sequence.
    pub(crate) fn mesh_at(&self, frame: u32) -> Option<PathBuf> {
        self.meshes
            .as_deref()
            .map(|p| PathBuf::from(frame_pattern(p, frame).unwrap_or_default()))
    }
}

/// `pattern` with `{frame}` or `{frame:0N}` replaced by `frame`; `None` when it has
/// no such placeholder or a malformed one.
pub(crate) fn frame_pattern(pattern: &str, frame: u32) -> Option<String> {
    let start = pattern.find("{frame")?;
    let end = start + pattern[start..].find('}')?;
    let spec = &pattern[start + "{frame".len()..end];
    let number = match spec {
        "" => frame.to_string(),
        _ => {
            let width: usize = spec.strip_prefix(":0")?.parse().ok().filter(|w| *w <= 10)?;
            format!("{frame:0width$}")
        }
    };
    Some(format!(
        "{}{number}{}",
        &pattern[..start],
        &pattern[end + 1..]
    ))
}

/// Which files a frame writes.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Outputs {
    /// The sRGB PNG.
    #[serde(default = "yes")]
    pub(crate) png: bool,
    /// The linear OpenEXR.
    #[serde(default)]
    pub(crate) exr: bool,
    /// AOVs: depth, normal, instance, mask, segments (the film's), and objcoords,
    /// uv, position, exit, deflection, order (traced at pixel centres).
    #[serde(default)]
    pub(crate) aovs: Vec<String>,
    /// The frame's metadata JSON beside its image (camera, fields, instances' boxes
    /// and masks as seen through the curved light); `grin batch --coco` turns it on.
    #[serde(default)]
    pub(crate) metadata: bool,
    /// Optical flow to the next frame and to the previous one of the job, through
    /// the curved light (`frame_N.flow_fwd.exr` and `.flow_bwd.exr`: R = x right, G =
    /// y down, in pixels, B = status; and colour-coded PNGs); none beyond the job's
    /// first and last frames.
    #[serde(default)]
    pub(crate) flow: bool,
    /// How far (pixels) flow searches for a point in the other frame.
    #[serde(default = "flow_window")]
    pub(crate) flow_window: u32,
}

fn flow_window() -> u32 {
    renderer_core::flow::DEFAULT_WINDOW
}

fn yes() -> bool {
    true
}

impl Default for Outputs {
    fn default() -> Self {
        Self {
            png: true,
            exr: false,
            aovs: Vec::new(),
            metadata: false,
            flow: false,
            flow_window: flow_window(),
        }
    }
}

/// Settings a job may override.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Settings {
    /// Width and height.
    pub(crate) size: Option<(u32, u32)>,
    /// Samples per pixel.
    pub(crate) spp: Option<u32>,
    /// Seed.
    pub(crate) seed: Option<u64>,
    /// Bounces.
    pub(crate) bounces: Option<u32>,
    /// Outputs.
    pub(crate) outputs: Option<Outputs>,
}

/// Variations of a job's lights, materials, environment and exposure over its
/// fixed geometry and camera: the product of the lists given (an empty list keeps
/// the scene's), rendered for each frame by tracing the rays they share once
/// ([`renderer_core::frame::Renderer::render_sweep`]); exposures only scale the
/// images written. Variation `k` of a frame is written `frame_N.sweep_K.png` (and
/// `.exr`), `K = ((l * M + m) * E + e) * X + x` for light set `l` of `L`, material
/// set `m` of `M`, environment `e` of `E` and exposure `x` of `X`; `frame_N.sweep.json`
/// lists them.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Sweep {
    /// Light sets, each replacing the scene's lights.
    #[serde(default)]
    pub(crate) lights: Vec<Vec<renderer_core::scene::Light>>,
    /// Material sets, each giving instances (by name) another material.
    #[serde(default)]
    pub(crate) materials:
        Vec<std::collections::BTreeMap<String, renderer_core::material::Material>>,
    /// Environments, each replacing the scene's.
    #[serde(default)]
    pub(crate) environments: Vec<renderer_core::scene::Environment>,
    /// Exposures in stops (each image is the render times 2^exposure).
    #[serde(default)]
    pub(crate) exposures: Vec<f64>,
}

impl Sweep {
    /// Renders per frame (light sets x material sets x environments).
    pub(crate) fn renders(&self) -> usize {
        self.lights.len().max(1) * self.materials.len().max(1) * self.environments.len().max(1)
    }

    /// Images per frame (renders x exposures).
    pub(crate) fn images(&self) -> usize {
        self.renders() * self.exposures.len().max(1)
    }

    /// Render `k`'s light set, material set and environment indices (`None`: the
    /// scene's own).
    pub(crate) fn render_parts(&self, k: usize) -> [Option<usize>; 3] {
        let (m, e) = (self.materials.len().max(1), self.environments.len().max(1));
        let (l, rest) = (k / (m * e), k % (m * e));
        let pick = |i: usize, n: usize| (n > 0).then_some(i);
        [
            pick(l, self.lights.len()),
            pick(rest / e, self.materials.len()),
            pick(rest % e, self.environments.len()),
        ]
    }
}

/// A job as written.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct JobFile {
    scene: PathBuf,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    frames: Option<Frames>,
    #[serde(default)]
    camera_path: Vec<CameraKey>,
    #[serde(default)]
    animate: Vec<Animation>,
    #[serde(default)]
    size: Option<(u32, u32)>,
    #[serde(default)]
    spp: Option<u32>,
    #[serde(default)]
    seed: Option<u64>,
    #[serde(default)]
    bounces: Option<u32>,
    #[serde(default)]
    outputs: Option<Outputs>,
    #[serde(default)]
    sweep: Option<Sweep>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestFile {
    #[serde(default)]
    defaults: Settings,
    jobs: Vec<JobFile>,
}

/// A validated job.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Job {
    /// The scene file (resolved against the manifest's folder).
    pub(crate) scene: PathBuf,
    /// Output name: a relative path inside `--out` (no `..`, not absolute).
    pub(crate) name: PathBuf,
    /// Frames.
    pub(crate) frames: Frames,
    /// Camera keyframes (empty: the scene's camera).
    pub(crate) camera_path: Vec<CameraKey>,
    /// Animated instances.
    pub(crate) animate: Vec<Animation>,
    /// Width, height.
    pub(crate) size: (u32, u32),
    /// Samples per pixel.
    pub(crate) spp: u32,
    /// Seed.
    pub(crate) seed: u64,
    /// Bounces.
    pub(crate) bounces: u32,
    /// Outputs.
    pub(crate) outputs: Outputs,
    /// Variations rendered for each frame, if any.
    pub(crate) sweep: Option<Sweep>,
}

/// A validated manifest.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Manifest {
    /// Its jobs, in file order.
    pub(crate) jobs: Vec<Job>,
}

/// A manifest that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ManifestError {
    /// Unreadable.
    #[error("{path}: {reason}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// Not valid RON for a manifest.
    #[error("{path}:{line}:{column}: {reason}")]
    Syntax {
        /// The file.
        path: String,
        /// Line (1-based).
        line: usize,
        /// Column (1-based).
        column: usize,
        /// What is wrong.
        reason: String,
    },
    /// A job's field is wrong.
    #[error("{path}: jobs[{job}].{field}: {reason}")]
    Job {
        /// The file.
        path: String,
        /// Job index.
        job: usize,
        /// The field.
        field: String,
        /// What is wrong.
        reason: String,
    },
}

/// The most images a sweep may make of a frame (each variation's film is held until
/// the frame is written: 4096 films of 320x240 are 7 GB).
const MAX_SWEEP: usize = 1024;

/// The most frames a manifest (and each job) may hold: the batch plans every frame
/// up front (about 50 bytes each), and 4 billion frames would take 200 GB.
const MAX_FRAMES: u32 = 10_000_000;

/// The longest folder or file name of a job (most file systems allow 255 bytes; the
/// frame files add their own names inside).
const MAX_NAME_COMPONENT: usize = 200;

const AOVS: [&str; 11] = [
    "depth",
    "normal",
    "instance",
    "mask",
    "segments",
    "objcoords",
    "uv",
    "position",
    "exit",
    "deflection",
    "order",
];

impl Manifest {
    /// Reads and validates `path`.
    pub(crate) fn load(path: &Path) -> Result<Self, ManifestError> {
        let text = renderer_core::input::read_text(path, renderer_core::input::SCENE_BYTES)
            .map_err(|e| ManifestError::Io {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
        let manifest = Self::parse(&text, path)?;
        manifest.check_scenes(path)?;
        Ok(manifest)
    }

    /// Loads and validates every scene the jobs name (each file once), and checks
    /// what the manifest says of them (animated instances exist), so that a bad
    /// scene stops the batch before anything renders rather than failing its frames.
    fn check_scenes(&self, path: &Path) -> Result<(), ManifestError> {
        let mut seen = std::collections::HashMap::new();
        for (k, job) in self.jobs.iter().enumerate() {
            let fail = |field: &str, reason: String| ManifestError::Job {
                path: path.display().to_string(),
                job: k,
                field: field.into(),
                reason,
            };
            let same_file = |a: &Path, b: &Path| matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y);
            if same_file(&job.scene, path) {
                return Err(fail("scene", "is the manifest itself".into()));
            }
            let instances = match seen.get(&job.scene) {
                Some(&n) => n,
                None => {
                    let scene = renderer_core::scene::Scene::load(&job.scene)
                        .map_err(|e| fail("scene", e.to_string()))?;
                    seen.insert(job.scene.clone(), scene.instances().len());
                    scene.instances().len()
                }
            };
            for (a, anim) in job.animate.iter().enumerate() {
                if anim.instance >= instances {
                    return Err(fail(
                        &format!("animate[{a}].instance"),
                        format!(
                            "{} is not an instance of {} ({instances} instances)",
                            anim.instance,
                            job.scene.display()
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Validates `text`, read from `path` (scene paths are relative to its folder).
    pub(crate) fn parse(text: &str, path: &Path) -> Result<Self, ManifestError> {
        let shown = path.display().to_string();
        let syntax = |e: ron::error::SpannedError| ManifestError::Syntax {
            path: shown.clone(),
            line: e.span.start.line,
            column: e.span.start.col,
            reason: e.code.to_string(),
        };
        // Optional fields are written bare (`spp: 4`, not `spp: Some(4)`).
        let ron = ron::Options::default()
            .with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME);
        let file: ManifestFile = match ron.from_str::<Vec<PathBuf>>(text) {
            // A plain list of scene files.
            Ok(scenes) => ManifestFile {
                defaults: Settings::default(),
                jobs: scenes
                    .into_iter()
                    .map(|scene| JobFile {
                        scene,
                        name: None,
                        frames: None,
                        camera_path: Vec::new(),
                        animate: Vec::new(),
                        size: None,
                        spp: None,
                        seed: None,
                        bounces: None,
                        outputs: None,
                        sweep: None,
                    })
                    .collect(),
            },
            Err(_) => ron.from_str(text).map_err(syntax)?,
        };
        let base = path.parent().unwrap_or(Path::new("."));
        let d = &file.defaults;
        let mut jobs = Vec::with_capacity(file.jobs.len());
        for (i, j) in file.jobs.into_iter().enumerate() {
            let fail = |field: &str, reason: String| ManifestError::Job {
                path: shown.clone(),
                job: i,
                field: field.to_owned(),
                reason,
            };
            let scene = base.join(&j.scene);
            if !scene.is_file() {
                return Err(fail("scene", format!("{} is not a file", scene.display())));
            }
            let stem = j
                .scene
                .file_stem()
                .map_or_else(|| format!("job{i}"), |s| s.to_string_lossy().into_owned());
            let name = PathBuf::from(j.name.clone().unwrap_or(stem));
            if name.as_os_str().is_empty()
                || name
                    .components()
                    .any(|c| !matches!(c, Component::Normal(_)))
            {
                return Err(fail(
                    "name",
                    format!(
                        "{:?} must be a relative path inside --out (no '..', not absolute)",
                        name.display().to_string()
                    ),
                ));
            }
            // Names must be usable as paths on every file system, and may not take
            // the batch's own files or folders.
            let name_str = name.to_string_lossy();
            if name_str.contains('\0')
                || name
                    .components()
                    .any(|c| c.as_os_str().len() > MAX_NAME_COMPONENT)
            {
                return Err(fail(
                    "name",
                    format!(
                        "{:?}: no NUL bytes, at most {MAX_NAME_COMPONENT} bytes per folder or file name",
                        name_str
                    ),
                ));
            }
            let first = name
                .components()
                .next()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .unwrap_or_default();
            if first == "pruned"
                || (name.components().count() == 1
                    && (first == "status.json"
                        || (first.starts_with("report") && first.ends_with(".json"))))
            {
                return Err(fail(
                    "name",
                    format!(
                        "{name_str:?} is reserved: --out holds the batch's report*.json, status.json and pruned/"
                    ),
                ));
            }
            let frames = j.frames.unwrap_or(Frames { start: 0, count: 1 });
            if frames.count == 0 {
                return Err(fail("frames.count", "must be at least 1".into()));
            }
            if frames.start.checked_add(frames.count).is_none() {
                return Err(fail("frames", "start + count overflows".into()));
            }
            if frames.count > MAX_FRAMES {
                return Err(fail(
                    "frames.count",
                    format!(
                        "{}: at most {MAX_FRAMES} frames a job (split longer sequences into jobs or manifests)",
                        frames.count
                    ),
                ));
            }
            let size = j.size.or(d.size).unwrap_or((320, 240));
            if size.0 == 0 || size.1 == 0 || size.0 > 16384 || size.1 > 16384 {
                return Err(fail(
                    "size",
                    format!("{}x{}: both must be in 1..=16384", size.0, size.1),
                ));
            }
            let spp = j.spp.or(d.spp).unwrap_or(16);
            if spp == 0 {
                return Err(fail("spp", "must be at least 1".into()));
            }
            let outputs = j.outputs.or_else(|| d.outputs.clone()).unwrap_or_default();
            if let Some(a) = outputs.aovs.iter().find(|a| !AOVS.contains(&a.as_str())) {
                return Err(fail(
                    "outputs.aovs",
                    format!("unknown AOV {a:?} (known: {})", AOVS.join(", ")),
                ));
            }
            if !outputs.png
                && !outputs.exr
                && outputs.aovs.is_empty()
                && !outputs.metadata
                && !outputs.flow
            {
                return Err(fail("outputs", "writes nothing".into()));
            }
            if outputs.flow && outputs.flow_window == 0 {
                return Err(fail("outputs.flow_window", "must be at least 1".into()));
            }
            if outputs.flow
                && let Some(a) = j.animate.iter().position(|a| a.meshes.is_some())
            {
                return Err(fail(
                    &format!("animate[{a}].meshes"),
                    "outputs.flow follows surface points by their object coordinates, which a mesh sequence changes every frame; drop flow or the mesh sequence".into(),
                ));
            }
            check_keys(j.camera_path.iter().map(|k| k.frame), frames)
                .map_err(|r| fail("camera_path", r))?;
            for (k, key) in j.camera_path.iter().enumerate() {
                let v = key.position - key.look_at;
                if !(key.position.is_finite() && key.look_at.is_finite()) || v.length() == 0.0 {
                    return Err(fail(
                        &format!("camera_path[{k}]"),
                        "position and look_at must be finite and distinct".into(),
                    ));
                }
            }
            let mut animate = j.animate;
            for (a, anim) in animate.iter_mut().enumerate() {
                if anim.keys.is_empty() && anim.meshes.is_none() {
                    return Err(fail(
                        &format!("animate[{a}]"),
                        "needs keys or meshes (or both)".into(),
                    ));
                }
                if let Some(pattern) = &anim.meshes {
                    let resolved = base.join(pattern).display().to_string();
                    for f in frames.start..frames.start + frames.count {
                        let file = frame_pattern(&resolved, f).ok_or_else(|| {
                            fail(
                                &format!("animate[{a}].meshes"),
                                format!(
                                    "{pattern:?} needs a {{frame}} or {{frame:0N}} placeholder"
                                ),
                            )
                        })?;
                        if !Path::new(&file).is_file() {
                            return Err(fail(
                                &format!("animate[{a}].meshes"),
                                format!("frame {f}: {file} is not a file"),
                            ));
                        }
                    }
                    anim.meshes = Some(resolved);
                }
                check_keys(anim.keys.iter().map(|k| k.frame), frames)
                    .map_err(|r| fail(&format!("animate[{a}].keys"), r))?;
                if anim.keys.iter().any(|k| !k.translate.is_finite()) {
                    return Err(fail(
                        &format!("animate[{a}].keys"),
                        "translations must be finite".into(),
                    ));
                }
            }
            let sweep = j.sweep;
            if let Some(sw) = &sweep {
                if sw.images() > MAX_SWEEP {
                    return Err(fail(
                        "sweep",
                        format!("{} images a frame: at most {MAX_SWEEP}", sw.images()),
                    ));
                }
                if let Some(x) = sw
                    .exposures
                    .iter()
                    .find(|x| !x.is_finite() || x.abs() > 64.0)
                {
                    return Err(fail(
                        "sweep.exposures",
                        format!("{x}: stops must be finite and within 64"),
                    ));
                }
                if !outputs.png && !outputs.exr {
                    return Err(fail(
                        "sweep",
                        "needs outputs.png or outputs.exr: a sweep's variations are images".into(),
                    ));
                }
            }
            jobs.push(Job {
                scene,
                name,
                frames,
                camera_path: j.camera_path,
                animate,
                size,
                spp,
                seed: j.seed.or(d.seed).unwrap_or(0),
                bounces: j.bounces.or(d.bounces).unwrap_or(4),
                outputs,
                sweep,
            });
        }
        if jobs.is_empty() {
            return Err(ManifestError::Job {
                path: shown,
                job: 0,
                field: "jobs".into(),
                reason: "the manifest has no jobs".into(),
            });
        }
        let total: u64 = jobs.iter().map(|j| u64::from(j.frames.count)).sum();
        if total > u64::from(MAX_FRAMES) {
            return Err(ManifestError::Job {
                path: path.display().to_string(),
                job: jobs.len() - 1,
                field: "frames".into(),
                reason: format!(
                    "the manifest has {total} frames in all, over the {MAX_FRAMES} one batch plans at once; split it"
                ),
            });
        }
        let mut names: Vec<&Path> = jobs.iter().map(|j| j.name.as_path()).collect();
        names.sort();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            let job = jobs.iter().rposition(|j| j.name == w[1]).unwrap_or(0);
            return Err(ManifestError::Job {
                path: path.display().to_string(),
                job,
                field: "name".into(),
                reason: format!("{:?} is used by another job: outputs would collide", w[1]),
            });
        }
        // One job's folder inside another's would mix their frames and markers
        // (resume could take one job's files for the other's).
        for (k, a) in jobs.iter().enumerate() {
            if let Some(b) = jobs
                .iter()
                .find(|b| b.name != a.name && a.name.starts_with(&b.name))
            {
                return Err(ManifestError::Job {
                    path: path.display().to_string(),
                    job: k,
                    field: "name".into(),
                    reason: format!(
                        "{:?} is inside job {:?}'s folder: outputs would mix",
                        a.name, b.name
                    ),
                });
            }
        }
        Ok(Self { jobs })
    }
}

/// Keyframes: strictly increasing frame numbers within the job's frames.
fn check_keys(keys: impl Iterator<Item = u32>, frames: Frames) -> Result<(), String> {
    let mut last: Option<u32> = None;
    for f in keys {
        if f < frames.start || f >= frames.start + frames.count {
            return Err(format!(
                "keyframe at frame {f} is outside frames {}..{}",
                frames.start,
                frames.start + frames.count
            ));
        }
        if last.is_some_and(|l| f <= l) {
            return Err(format!(
                "keyframes must be in increasing frame order ({f} after {})",
                last.unwrap_or(0)
            ));
        }
        last = Some(f);
    }
    Ok(())
}

impl Job {
    /// The camera at `frame`, interpolated between keyframes (held before the first
    /// and after the last); `None` without a camera path.
    pub(crate) fn camera_at(&self, frame: u32) -> Option<(DVec3, DVec3)> {
        let keys = &self.camera_path;
        let first = keys.first()?;
        if frame <= first.frame {
            return Some((first.position, first.look_at));
        }
        for w in keys.windows(2) {
            if frame <= w[1].frame {
                let t = f64::from(frame - w[0].frame) / f64::from(w[1].frame - w[0].frame);
                return Some((
                    w[0].position.lerp(w[1].position, t),
                    w[0].look_at.lerp(w[1].look_at, t),
                ));
            }
        }
        keys.last().map(|k| (k.position, k.look_at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> PathBuf {
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../assets/manifests"))
    }

    fn parse(text: &str) -> Result<Manifest, ManifestError> {
        Manifest::parse(text, &dir().join("test.ron"))
    }

    #[test]
    fn a_full_manifest_and_a_plain_list() {
        let m = parse(
            r#"(
                defaults: (size: (64, 48), spp: 2),
                jobs: [
                    (scene: "../scenes/luneburg.ron", name: "lens/a", frames: (start: 0, count: 4), spp: 3,
                     camera_path: [
                        (frame: 0, position: (0.0, 0.0, -5.0), look_at: (0.0, 0.0, 0.0)),
                        (frame: 2, position: (2.0, 0.0, -5.0), look_at: (0.0, 0.0, 0.0)),
                     ],
                     animate: [(instance: 0, keys: [(frame: 0, translate: (0.0, 0.0, 0.0))])],
                     outputs: (exr: true, aovs: ["depth"])),
                    (scene: "../scenes/tetra.ron"),
                ],
            )"#,
        )
        .unwrap();
        assert_eq!(m.jobs.len(), 2);
        let j = &m.jobs[0];
        assert_eq!((j.size, j.spp, j.frames.count), ((64, 48), 3, 4));
        assert!(j.outputs.png && j.outputs.exr);
        assert_eq!(j.camera_at(1).unwrap().0, DVec3::new(1.0, 0.0, -5.0));
        assert_eq!(j.camera_at(3).unwrap().0, DVec3::new(2.0, 0.0, -5.0));
        assert_eq!(m.jobs[1].name, PathBuf::from("tetra"));
        let list = parse(r#"["../scenes/luneburg.ron", "../scenes/mirage.ron"]"#).unwrap();
        assert_eq!(list.jobs.len(), 2);
        assert_eq!(list.jobs[1].frames, Frames { start: 0, count: 1 });
    }

    #[test]
    fn bad_manifests_are_refused_with_where_and_why() {
        let scene = r#"scene: "../scenes/luneburg.ron""#;
        let cases: Vec<(String, &str)> = vec![
            ("(jobs: [(scene: \"a.ron\",)]".into(), "test.ron:1:"),
            (
                "(jobs: [(scene: \"missing.ron\")])".into(),
                "jobs[0].scene: ",
            ),
            (
                format!("(jobs: [({scene}, spp: 0)])"),
                "jobs[0].spp: must be at least 1",
            ),
            (
                format!("(jobs: [({scene}, size: (0, 10))])"),
                "jobs[0].size: 0x10",
            ),
            (
                format!("(jobs: [({scene}, frames: (start: 0, count: 0))])"),
                "jobs[0].frames.count",
            ),
            (
                format!("(jobs: [({scene}, name: \"../escape\")])"),
                "jobs[0].name: ",
            ),
            (
                format!("(jobs: [({scene}, name: \"/abs/path\")])"),
                "jobs[0].name: ",
            ),
            (
                format!("(jobs: [({scene}, outputs: (aovs: [\"albedo\"]))])"),
                "unknown AOV \"albedo\"",
            ),
            (
                format!("(jobs: [({scene}, outputs: (png: false))])"),
                "jobs[0].outputs: writes nothing",
            ),
            (
                format!("(jobs: [({scene}, sweep: (exposures: [1e9]))])"),
                "jobs[0].sweep.exposures: 1000000000: stops must be finite",
            ),
            (
                format!("(jobs: [({scene}, outputs: (flow: true, flow_window: 0))])"),
                "jobs[0].outputs.flow_window: must be at least 1",
            ),
            (
                format!(
                    "(jobs: [({scene}, frames: (start: 0, count: 2), outputs: (flow: true), animate: [(instance: 0, meshes: \"../meshes/stretch/tetra_{{frame:04}}.obj\")])])"
                ),
                "jobs[0].animate[0].meshes: outputs.flow follows surface points",
            ),
            (
                format!(
                    "(jobs: [({scene}, frames: (start: 0, count: 2), camera_path: [(frame: 5, position: (0.0, 0.0, 1.0), look_at: (0.0, 0.0, 0.0))])])"
                ),
                "jobs[0].camera_path: keyframe at frame 5 is outside",
            ),
            (
                format!(
                    "(jobs: [({scene}, frames: (start: 0, count: 4), animate: [(instance: 0, keys: [(frame: 2, translate: (0.0, 0.0, 0.0)), (frame: 1, translate: (0.0, 0.0, 0.0))])])])"
                ),
                "jobs[0].animate[0].keys: keyframes must be in increasing",
            ),
            (
                format!("(jobs: [({scene}), ({scene})])"),
                "jobs[1].name: \"luneburg\" is used by another job",
            ),
            (
                format!("(jobs: [({scene}, name: \"x\"), ({scene}, name: \"x/y\")])"),
                "jobs[1].name: \"x/y\" is inside job \"x\"'s folder",
            ),
            (
                format!("(jobs: [({scene}, frames: (start: 0, count: 4294967295))])"),
                "jobs[0].frames.count: 4294967295: at most 10000000 frames",
            ),
            (
                format!("(jobs: [({scene}, name: \"pruned/x\")])"),
                "jobs[0].name: \"pruned/x\" is reserved",
            ),
            (
                format!("(jobs: [({scene}, name: \"report.json\")])"),
                "jobs[0].name: \"report.json\" is reserved",
            ),
            (
                format!("(jobs: [({scene}, name: \"{}\")])", "n".repeat(300)),
                "at most 200 bytes",
            ),
            ("(jobs: [])".into(), "the manifest has no jobs"),
            (format!("(jobs: [({scene}, sp: 3)])"), "test.ron:1:"),
        ];
        for (text, want) in cases {
            let err = parse(&text).unwrap_err().to_string();
            assert!(err.contains(want), "{text}\n  gave: {err}\n  want: {want}");
            assert!(err.contains("test.ron"), "names the file: {err}");
        }
    }

    /// Fuzzing on stable Rust: the bundled manifest with bytes flipped, cut or
    /// duplicated, and arbitrary bytes, through the parser and validator: never a
    /// panic, and every error names the file. `GRIN_FUZZ_CASES=N` runs more.
    #[test]
    fn mutated_manifests_never_panic_and_errors_name_the_file() {
        use proptest::prelude::*;
        use proptest::test_runner::{Config, RngSeed, TestRunner};
        let cases = std::env::var("GRIN_FUZZ_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(64);
        let demo = std::fs::read(dir().join("demo.ron")).unwrap();
        let mut runner = TestRunner::new(Config {
            cases,
            failure_persistence: None,
            rng_seed: RngSeed::Fixed(0x6772_696e),
            ..Config::default()
        });
        let edit = (0usize..4, 0usize..10_000, 0usize..40, any::<u8>());
        runner
            .run(
                &(
                    proptest::collection::vec(edit, 1..5),
                    proptest::collection::vec(any::<u8>(), 0..200),
                ),
                |(edits, noise)| {
                    let mut b = demo.clone();
                    for (kind, at, len, byte) in edits {
                        let n = b.len().max(1);
                        let a = (at % n).min(b.len());
                        let z = (a + len).min(b.len());
                        b = match kind {
                            0 => [&b[..a], &b[z..]].concat(),
                            1 => [&b[..z], &b[a..]].concat(),
                            2 => {
                                let mut c = b.clone();
                                if a < c.len() {
                                    c[a] = byte;
                                }
                                c
                            }
                            _ => b[..a].to_vec(),
                        };
                    }
                    for text in [String::from_utf8_lossy(&b), String::from_utf8_lossy(&noise)] {
                        if let Err(e) = parse(&text) {
                            prop_assert!(e.to_string().contains("test.ron"), "{e}");
                        }
                    }
                    Ok(())
                },
            )
            .unwrap();
    }
}
