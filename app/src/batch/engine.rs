//! The in-process batch scheduler: work units (one frame each) grouped by scene key,
//! workers that lease ready scenes from a residency cache, and the out-of-memory
//! ladder.
//!
//! A *key* is what a resident scene serves: a scene file (every job that renders it
//! without animation shares it; camera paths change only the camera) or one animated
//! job's whole sequence (a ready scene per frame: instances moved, meshes replaced).
//! The cache ([`Cache`]) holds each key in one of three states: *resident* (ready to
//! render: on the GPU backend, uploaded; on the CPU backend, acceleration structures
//! built), *staged in RAM* (parsed, or on the GPU backend prepared but not uploaded),
//! or absent; [`scheduler::jobs::residency::Residency`] decides, under the count and
//! byte budgets, what is loaded, promoted, demoted, evicted or waited for.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use glam::Affine3A;
use renderer_core::frame::{ReadyScene, Renderer, SnapshotError, StepError};
use renderer_core::gpu::{GpuContext, GpuError, GpuSceneData};
use renderer_core::scene::Scene;
use renderer_core::session::SessionError;
use scheduler::jobs::residency::{Admission, Budgets, Event, Residency, Size};
use scheduler::jobs::retry::Failure;

use super::manifest::Job;

/// One frame to render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Unit {
    /// Job index in the manifest.
    pub(crate) job: usize,
    /// Frame number.
    pub(crate) frame: u32,
    /// Its key.
    pub(crate) key: usize,
    /// Its scene within the key (the frame's position in an animated sequence; 0 for
    /// a plain scene).
    pub(crate) index: usize,
}

/// What a resident scene serves.
#[derive(Debug, Clone)]
pub(crate) struct Key {
    /// For logs and the status file: the scene file, or `job N (sequence)`.
    pub(crate) name: String,
    /// The job whose settings build it.
    pub(crate) job: usize,
    /// Frames of an animated sequence (this run's, in order); empty for a plain scene.
    pub(crate) frames: Vec<u32>,
}

impl Key {
    /// Whether it is an animated sequence.
    pub(crate) fn sequence(&self) -> bool {
        !self.frames.is_empty()
    }
}

/// Groups `todo` (job, frame) pairs, in order, into units and keys.
pub(crate) fn plan(jobs: &[Job], todo: &[(usize, u32)]) -> (Vec<Unit>, Vec<Key>) {
    let mut keys: Vec<Key> = Vec::new();
    let mut by_scene: HashMap<PathBuf, usize> = HashMap::new();
    let mut by_job: HashMap<usize, usize> = HashMap::new();
    let mut units = Vec::with_capacity(todo.len());
    for &(j, frame) in todo {
        let job = &jobs[j];
        let (key, index) = if job.animate.is_empty() {
            let k = *by_scene.entry(job.scene.clone()).or_insert_with(|| {
                keys.push(Key {
                    name: job.scene.display().to_string(),
                    job: j,
                    frames: Vec::new(),
                });
                keys.len() - 1
            });
            (k, 0)
        } else {
            let k = *by_job.entry(j).or_insert_with(|| {
                keys.push(Key {
                    name: format!("{} (sequence of job {j})", job.scene.display()),
                    job: j,
                    frames: Vec::new(),
                });
                keys.len() - 1
            });
            keys[k].frames.push(frame);
            (k, keys[k].frames.len() - 1)
        };
        units.push(Unit {
            job: j,
            frame,
            key,
            index,
        });
    }
    (units, keys)
}

/// A frame's failure: its class (for the retry policy) and message.
#[derive(Debug, Clone)]
pub(crate) struct FrameError {
    pub(crate) class: Failure,
    pub(crate) message: String,
}

impl FrameError {
    pub(crate) fn fatal(message: impl Into<String>) -> Self {
        Self {
            class: Failure::Fatal,
            message: message.into(),
        }
    }
}

impl From<GpuError> for FrameError {
    fn from(e: GpuError) -> Self {
        let class = match &e {
            GpuError::OutOfMemory { .. } => Failure::OutOfMemory,
            _ => Failure::Transient,
        };
        Self {
            class,
            message: e.to_string(),
        }
    }
}

impl From<SessionError> for FrameError {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::Step(e) => e.into(),
            SessionError::Snapshot(e) => e.into(),
            e => Self::fatal(e.to_string()),
        }
    }
}

impl From<SnapshotError> for FrameError {
    fn from(e: SnapshotError) -> Self {
        Self::fatal(e.to_string())
    }
}

impl From<StepError> for FrameError {
    fn from(e: StepError) -> Self {
        let class = match &e {
            StepError::Gpu(GpuError::OutOfMemory { .. }) => Failure::OutOfMemory,
            _ => Failure::Transient,
        };
        Self {
            class,
            message: e.to_string(),
        }
    }
}

/// The scenes of `key`, parsed, one per sequence frame (one for a plain scene).
pub(crate) fn load_key(key: &Key, job: &Job) -> Result<Vec<Arc<Scene>>, FrameError> {
    let base = Scene::load(&job.scene).map_err(|e| FrameError::fatal(e.to_string()))?;
    if !key.sequence() {
        return Ok(vec![Arc::new(base)]);
    }
    key.frames
        .iter()
        .map(|&f| frame_scene(&base, job, f).map(Arc::new))
        .collect::<Result<_, _>>()
        .map_err(FrameError::fatal)
}

/// `scene` as it is at `frame` of `job`: animated instances moved and their meshes
/// replaced (the camera is set per snapshot).
pub(crate) fn frame_scene(scene: &Scene, job: &Job, frame: u32) -> Result<Scene, String> {
    let mut s = scene.edit();
    for (a, anim) in job.animate.iter().enumerate() {
        let n = s.instance_count();
        let Some(transform) = s.transform(anim.instance) else {
            return Err(format!(
                "animate[{a}].instance {} but the scene has {n} instances",
                anim.instance
            ));
        };
        if let Some(file) = anim.mesh_at(frame) {
            let mesh = renderer_core::scene::load_mesh_file(&file)
                .map_err(|e| format!("animate[{a}].meshes: {}: {e}", file.display()))?;
            // A new mesh for this instance only (others sharing the old one keep it).
            let id = s.mesh(Arc::new(mesh));
            s.set_mesh(anim.instance, id).map_err(|e| e.to_string())?;
        }
        let t = translation_at(&anim.keys, frame).as_vec3();
        s.set_transform(anim.instance, Affine3A::from_translation(t) * transform)
            .map_err(|e| e.to_string())?;
    }
    s.build()
        .map_err(|e| format!("{}: frame {frame}: {e}", job.scene.display()))
}

/// The translation of an animated instance at `frame`, interpolated between its
/// keyframes (held before the first and after the last).
pub(crate) fn translation_at(keys: &[super::manifest::MoveKey], frame: u32) -> glam::DVec3 {
    let Some(first) = keys.first() else {
        return glam::DVec3::ZERO;
    };
    if frame <= first.frame {
        return first.translate;
    }
    for w in keys.windows(2) {
        if frame <= w[1].frame {
            let t = f64::from(frame - w[0].frame) / f64::from(w[1].frame - w[0].frame);
            return w[0].translate.lerp(w[1].translate, t);
        }
    }
    keys.last().map_or(glam::DVec3::ZERO, |k| k.translate)
}

/// Where a key is.
#[derive(Debug)]
enum Held {
    /// A worker is loading, preparing or uploading it.
    Loading,
    /// Parsed scenes in RAM (prefetched, or demoted on the CPU backend).
    Parsed(Vec<Arc<Scene>>),
    /// Prepared but not on the GPU (demoted, or a streamed sequence).
    Prepared(Vec<ReadyScene>),
    /// Resident: ready to render.
    Resident(Vec<ReadyScene>),
}

/// A leased key: its ready scenes, pinned until [`Cache::release`].
#[derive(Debug)]
pub(crate) struct Lease {
    pub(crate) readies: Vec<ReadyScene>,
    /// Seconds spent parsing, preparing and uploading for this lease (0 when the key
    /// was resident).
    pub(crate) load_s: f64,
    pub(crate) accel_s: f64,
    pub(crate) upload_s: f64,
    /// How it was served.
    pub(crate) admission: Admission,
}

impl Lease {
    /// How it was served, for the report.
    pub(crate) fn served(&self) -> &'static str {
        match self.admission {
            Admission::Resident => "resident",
            Admission::Promoted => "promoted from RAM",
            Admission::Loaded => "loaded",
            Admission::Streamed => "streamed",
            Admission::Wait => "waited",
        }
    }
}

struct Inner {
    residency: Residency<usize>,
    held: HashMap<usize, Held>,
    /// Units left per key (a streamed key, which the residency does not track, is
    /// freed when its count reaches 0).
    remaining: HashMap<usize, usize>,
    /// Keys that cannot be served, with the reason.
    broken: HashMap<usize, String>,
    /// Each loaded key's size.
    sizes: HashMap<usize, Size>,
    log: Vec<String>,
}

/// The residency cache of a batch, shared by its workers.
pub(crate) struct Cache {
    inner: Mutex<Inner>,
    changed: Condvar,
    gpu: Option<Arc<GpuContext>>,
    keys: Vec<Key>,
    jobs: Arc<Vec<Job>>,
}

/// A key's resident state, for the status file.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Placed {
    pub(crate) key: String,
    pub(crate) tier: &'static str,
    pub(crate) in_use: u32,
    pub(crate) sequence: bool,
    pub(crate) bytes: u64,
}

impl Cache {
    /// A cache for `units` (in order) under `budgets`; on the GPU backend when `gpu`.
    pub(crate) fn new(
        budgets: Budgets,
        gpu: Option<Arc<GpuContext>>,
        units: &[Unit],
        keys: Vec<Key>,
        jobs: Arc<Vec<Job>>,
    ) -> Self {
        let mut residency = Residency::new(budgets);
        residency.plan(units.iter().map(|u| u.key));
        let mut remaining = HashMap::new();
        for u in units {
            *remaining.entry(u.key).or_insert(0) += 1;
        }
        Self {
            inner: Mutex::new(Inner {
                residency,
                held: HashMap::new(),
                remaining,
                broken: HashMap::new(),
                sizes: HashMap::new(),
                log: Vec::new(),
            }),
            changed: Condvar::new(),
            gpu,
            keys,
            jobs,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wait<'a>(&self, g: MutexGuard<'a, Inner>) -> MutexGuard<'a, Inner> {
        self.changed.wait(g).unwrap_or_else(PoisonError::into_inner)
    }

    /// Applies the residency's evictions to what is held: a demoted key keeps its
    /// prepared scenes (GPU backend) or its parsed ones (CPU backend); a dropped or
    /// forgotten key is freed.
    fn apply_events(&self, g: &mut Inner) {
        for e in g.residency.take_events() {
            match e {
                Event::Demoted(k) => {
                    if let Some(Held::Resident(r)) = g.held.remove(&k) {
                        let staged = if self.gpu.is_some() {
                            Held::Prepared(r.iter().map(ReadyScene::demoted).collect())
                        } else {
                            Held::Parsed(r.iter().map(|x| Arc::clone(x.scene())).collect())
                        };
                        g.held.insert(k, staged);
                        g.log.push(format!("demoted to RAM: {}", self.keys[k].name));
                    }
                }
                Event::Dropped(k) | Event::Forgotten(k) => {
                    if !matches!(g.held.get(&k), Some(Held::Loading)) {
                        g.held.remove(&k);
                    }
                }
            }
        }
    }

    /// The sizes of a key's ready scenes: GPU tier (uploaded buffers on the GPU
    /// backend, prepared host memory on the CPU backend) and RAM tier (what stays
    /// when demoted); on the GPU backend also the buffers each scene will upload
    /// (built once: measured now, uploaded later).
    fn measure(&self, readies: &[ReadyScene]) -> (Size, Vec<GpuSceneData>) {
        let mut size = Size::default();
        let mut data = Vec::new();
        let sum = |v: Vec<(&'static str, u64)>| v.iter().map(|(_, b)| b).sum::<u64>();
        for r in readies {
            let ram = sum(r.ram_footprint());
            if self.gpu.is_some() {
                let d = r.gpu_data();
                size.gpu += d.bytes();
                size.ram += ram;
                data.push(d);
            } else {
                size.gpu += ram;
                size.ram += sum(r.scene().footprint());
            }
        }
        (size, data)
    }

    /// Leases `key` for one unit: waits while another worker loads it or while the
    /// budgets have no room; loads, prepares and uploads it when needed (with
    /// `renderer`'s caches).
    pub(crate) fn lease(&self, key: usize, renderer: &mut Renderer) -> Result<Lease, FrameError> {
        let sequence = self.keys[key].sequence();
        let mut g = self.lock();
        let staged = loop {
            if let Some(why) = g.broken.get(&key) {
                return Err(FrameError::fatal(why.clone()));
            }
            match g.held.get(&key) {
                Some(Held::Loading) => g = self.wait(g),
                Some(Held::Resident(r)) => {
                    let readies = r.clone();
                    let size = g.sizes.get(&key).copied().unwrap_or_default();
                    match g.residency.acquire(key, size, sequence) {
                        Ok(admission @ Admission::Resident) => {
                            return Ok(Lease {
                                readies,
                                load_s: 0.0,
                                accel_s: 0.0,
                                upload_s: 0.0,
                                admission,
                            });
                        }
                        // Resident keys are always admitted as such; anything else
                        // means the books disagree: reload.
                        _ => {
                            g.held.remove(&key);
                        }
                    }
                }
                _ => break g.held.insert(key, Held::Loading),
            }
        };
        drop(g);
        let restore = |held: Option<Held>| {
            let mut g = self.lock();
            match held {
                Some(h) => g.held.insert(key, h),
                None => g.held.remove(&key),
            };
            self.changed.notify_all();
        };
        let (mut load_s, mut accel_s) = (0.0, 0.0);
        let readies = match staged {
            Some(Held::Prepared(r)) => r,
            other => {
                let t = Instant::now();
                let scenes = match other {
                    Some(Held::Parsed(s)) => s,
                    _ => match load_key(&self.keys[key], &self.jobs[self.keys[key].job]) {
                        Ok(s) => s,
                        Err(e) => {
                            let mut g = self.lock();
                            g.broken.insert(key, e.message.clone());
                            g.held.remove(&key);
                            self.changed.notify_all();
                            return Err(e);
                        }
                    },
                };
                load_s = t.elapsed().as_secs_f64();
                let t = Instant::now();
                let mut readies = Vec::with_capacity(scenes.len());
                for s in &scenes {
                    match renderer.ready(Arc::clone(s)) {
                        Ok(r) => readies.push(r),
                        Err(e) => {
                            restore(Some(Held::Parsed(scenes.clone())));
                            return Err(e.into());
                        }
                    }
                }
                renderer.forget_scene();
                accel_s = t.elapsed().as_secs_f64();
                readies
            }
        };
        let (size, data) = self.measure(&readies);
        let mut g = self.lock();
        g.sizes.insert(key, size);
        loop {
            match g.residency.acquire(key, size, sequence) {
                Ok(Admission::Wait) => g = self.wait(g),
                Ok(admission @ Admission::Streamed) => {
                    // Too big for the GPU budget as a whole: each frame is uploaded
                    // by the renderer that draws it, and freed after.
                    g.log.push(format!(
                        "streaming {} frame by frame ({} GPU bytes > budget)",
                        self.keys[key].name, size.gpu
                    ));
                    g.held.insert(key, Held::Prepared(readies.clone()));
                    self.changed.notify_all();
                    return Ok(Lease {
                        readies,
                        load_s,
                        accel_s,
                        upload_s: 0.0,
                        admission,
                    });
                }
                Ok(admission) => {
                    self.apply_events(&mut g);
                    drop(g);
                    let t = Instant::now();
                    let mut readies = readies;
                    if let Some(ctx) = &self.gpu {
                        for (r, d) in readies.iter_mut().zip(&data) {
                            if let Err(e) = r.upload_data(ctx, d) {
                                let mut g = self.lock();
                                g.residency.abort(&key);
                                // Keep what was prepared, off the GPU, for the retry.
                                g.held.insert(
                                    key,
                                    Held::Prepared(
                                        readies.iter().map(ReadyScene::demoted).collect(),
                                    ),
                                );
                                self.changed.notify_all();
                                return Err(e.into());
                            }
                        }
                    }
                    let upload_s = t.elapsed().as_secs_f64();
                    let mut g = self.lock();
                    g.held.insert(key, Held::Resident(readies.clone()));
                    self.changed.notify_all();
                    return Ok(Lease {
                        readies,
                        load_s,
                        accel_s,
                        upload_s,
                        admission,
                    });
                }
                Err(e) => {
                    let why = format!("{}: {e}", self.keys[key].name);
                    g.broken.insert(key, why.clone());
                    g.held.remove(&key);
                    self.changed.notify_all();
                    return Err(FrameError::fatal(why));
                }
            }
        }
    }

    /// Ends one unit's use of `key` (whether it rendered or failed for good).
    pub(crate) fn release(&self, key: usize) {
        self.end(key, true);
    }

    /// Ends a unit that gave up without holding a lease (its planned use is consumed).
    pub(crate) fn forgo(&self, key: usize) {
        self.end(key, false);
    }

    fn end(&self, key: usize, pinned: bool) {
        let mut g = self.lock();
        if pinned {
            g.residency.release(key);
        } else {
            g.residency.forgo(key);
        }
        self.apply_events(&mut g);
        if let Some(n) = g.remaining.get_mut(&key) {
            *n = n.saturating_sub(1);
            if *n == 0 && !matches!(g.held.get(&key), Some(Held::Loading)) {
                g.held.remove(&key);
            }
        }
        self.changed.notify_all();
    }

    /// Ends a failed attempt's lease without consuming the unit's planned use.
    pub(crate) fn unpin(&self, key: usize) {
        let mut g = self.lock();
        g.residency.unpin(&key);
        self.changed.notify_all();
    }

    /// The out-of-memory ladder's first step: idle sequences leave the GPU.
    pub(crate) fn evict_sequences(&self) -> usize {
        let mut g = self.lock();
        let n = g.residency.evict_sequences();
        self.apply_events(&mut g);
        self.changed.notify_all();
        n
    }

    /// The ladder's second step: the least recently used idle scene leaves the GPU.
    pub(crate) fn evict_least_recent(&self) -> Option<String> {
        let mut g = self.lock();
        let k = g.residency.evict_least_recent();
        self.apply_events(&mut g);
        self.changed.notify_all();
        k.map(|k| self.keys[k].name.clone())
    }

    /// Parses `key` ahead of use into RAM, if it is absent and the RAM budget has
    /// room; whether it was staged.
    pub(crate) fn prefetch(&self, key: usize) -> bool {
        {
            let g = self.lock();
            if g.held.contains_key(&key) || g.broken.contains_key(&key) {
                return false;
            }
        }
        let Ok(scenes) = load_key(&self.keys[key], &self.jobs[self.keys[key].job]) else {
            // The worker that needs it will load it and report the error.
            return false;
        };
        let ram = scenes
            .iter()
            .flat_map(|s| s.footprint())
            .map(|(_, b)| b)
            .sum();
        let mut g = self.lock();
        if g.held.contains_key(&key) {
            return false;
        }
        if g.residency.prefetch(key, Size { gpu: 0, ram }) {
            g.held.insert(key, Held::Parsed(scenes));
            self.apply_events(&mut g);
            self.changed.notify_all();
            true
        } else {
            false
        }
    }

    /// Whether `key` is held in any state (or being loaded).
    pub(crate) fn is_held(&self, key: usize) -> bool {
        self.lock().held.contains_key(&key)
    }

    /// Messages for the log since the last call.
    pub(crate) fn take_log(&self) -> Vec<String> {
        std::mem::take(&mut self.lock().log)
    }

    /// Where each key is, with bytes per tier and the budgets.
    pub(crate) fn placements(&self) -> (Vec<Placed>, u64, u64, Budgets) {
        let g = self.lock();
        let mut v: Vec<Placed> = g
            .residency
            .placements()
            .into_iter()
            .map(|p| Placed {
                key: self.keys[p.key].name.clone(),
                tier: if p.on_gpu { "resident" } else { "ram" },
                in_use: p.pins,
                sequence: p.sequence,
                bytes: p.bytes,
            })
            .collect();
        for (k, h) in &g.held {
            if let Held::Prepared(r) = h {
                if !g.residency.is_staged(k) && !g.residency.is_resident(k) {
                    v.push(Placed {
                        key: self.keys[*k].name.clone(),
                        tier: "streaming",
                        in_use: 0,
                        sequence: true,
                        bytes: r
                            .iter()
                            .flat_map(ReadyScene::ram_footprint)
                            .map(|(_, b)| b)
                            .sum(),
                    });
                }
            }
        }
        v.sort_by(|a, b| a.key.cmp(&b.key));
        (
            v,
            g.residency.gpu_bytes(),
            g.residency.ram_bytes(),
            g.residency.budgets(),
        )
    }
}
