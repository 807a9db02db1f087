//! The batch's threads: workers that lease a unit's scene and render it on their
//! session (with retries down the failure ladder), the writer that writes outputs and
//! records each frame, and the prefetcher.

#[allow(clippy::wildcard_imports)]
use super::*;

/// `GRIN_BATCH_PANIC_AT=N` makes the Nth frame render of the process panic (for
/// testing that a panicking frame is reported and the batch goes on).
pub(super) fn inject_panic() {
    static RENDERS: AtomicUsize = AtomicUsize::new(0);
    let n = RENDERS.fetch_add(1, Ordering::Relaxed) + 1;
    if std::env::var("GRIN_BATCH_PANIC_AT")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        == Some(n)
    {
        panic!("injected panic (GRIN_BATCH_PANIC_AT={n})");
    }
}

/// A rendered frame on its way to the writer.
pub(super) struct Rendered {
    pub(crate) unit: Unit,
    pub(crate) worker: usize,
    pub(crate) served: &'static str,
    pub(crate) film: Film,
    /// The ground truth and the metadata, when the job writes traced AOVs or
    /// metadata.
    pub(crate) truth: Option<(renderer_core::truth::GroundTruth, serde_json::Value)>,
    /// A sweep's films, one per render of [`manifest::Sweep`] (empty without one;
    /// `film` is then the frame's own, else the first of these).
    pub(crate) sweep: Vec<Film>,
    /// Optical flow to the neighbouring frames (`"fwd"`, `"bwd"`).
    pub(crate) flows: Vec<(&'static str, renderer_core::flow::Flow)>,
    pub(crate) load_s: f64,
    pub(crate) accel_s: f64,
    pub(crate) upload_s: f64,
    pub(crate) render_s: f64,
    pub(crate) retries: u32,
    /// This process's claim on the frame, released once its outputs are written.
    pub(crate) claim: Option<Claim>,
}

/// What the batch's threads share.
pub(super) struct Ctx<'a> {
    pub(crate) args: &'a BatchArgs,
    pub(crate) jobs: &'a [Job],
    pub(crate) cache: &'a Cache,
    pub(crate) progress: &'a Progress,
    pub(crate) queue: Mutex<VecDeque<Unit>>,
    pub(crate) policy: RetryPolicy,
    /// When this batch started (wall clock, for done-markers of concurrent batches).
    pub(crate) started_at: std::time::SystemTime,
}

impl Ctx<'_> {
    pub(super) fn next_unit(&self) -> Option<Unit> {
        self.queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop_front()
    }

    /// One worker: takes units in order while it is among the active ones, renders
    /// each with retries on its session, hands the film to the writer.
    pub(super) fn work(&self, id: usize, session: &mut Session, tx: &mpsc::SyncSender<Rendered>) {
        loop {
            while id >= self.progress.active.load(Ordering::Relaxed) {
                // Nothing left to wait for: the monitor may have stopped scaling.
                if self
                    .queue
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .is_empty()
                {
                    self.progress.set(id, |w| *w = WorkerState::idle());
                    return;
                }
                self.progress.set(id, |w| {
                    *w = WorkerState {
                        state: "paused",
                        ..WorkerState::idle()
                    }
                });
                std::thread::sleep(Duration::from_millis(100));
            }
            let Some(unit) = self.next_unit() else {
                self.progress.set(id, |w| *w = WorkerState::idle());
                return;
            };
            let job = &self.jobs[unit.job];
            self.progress.set(id, |w| {
                *w = WorkerState {
                    state: "loading",
                    job: Some(unit.job),
                    name: Some(job.name.display().to_string()),
                    frame: Some(unit.frame),
                    passes_done: 0,
                    spp: job.spp,
                }
            });
            let dir = self.args.out.join(&job.name);
            let claim = match self
                .safe_dir(job)
                .and_then(|()| {
                    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))
                })
                .and_then(|()| Claim::take(&image_path(&dir, unit.frame)))
            {
                // Claimed, but finished since this batch started by another process
                // on the same --out: not rendered again.
                Ok(Some(_))
                    if self.done_since_start(job, &image_path(&dir, unit.frame), unit.frame) =>
                {
                    self.cache.forgo(unit.key);
                    self.progress.record(FrameReport::elsewhere(unit, &dir, id));
                    continue;
                }
                Ok(Some(c)) => c,
                Ok(None) => {
                    self.cache.forgo(unit.key);
                    self.progress.record(FrameReport::elsewhere(unit, &dir, id));
                    continue;
                }
                Err(e) => {
                    self.cache.forgo(unit.key);
                    let e = FrameError::fatal(e);
                    eprintln!(
                        "grin batch: job {} frame {} failed: {}",
                        unit.job, unit.frame, e.message
                    );
                    self.progress
                        .record(FrameReport::failed(unit, &dir, id, 0, &e));
                    continue;
                }
            };
            let mut attempt = 0;
            let outcome = loop {
                match self.attempt(id, session, unit) {
                    Ok(r) => break Ok(r),
                    Err((e, pinned)) => {
                        let step = self.policy.next(e.class, attempt);
                        if pinned && step != Step::Skip {
                            self.cache.unpin(unit.key);
                        }
                        match step {
                            Step::EvictSequences => {
                                self.cache.evict_sequences();
                            }
                            Step::EvictScene => {
                                self.cache.evict_least_recent();
                            }
                            Step::Retry(d) => std::thread::sleep(d),
                            _ => {
                                if pinned {
                                    self.cache.release(unit.key);
                                } else {
                                    self.cache.forgo(unit.key);
                                }
                                break Err(e);
                            }
                        }
                        eprintln!(
                            "grin batch: job {} frame {}: {} ({:?}); {:?}, retrying",
                            unit.job, unit.frame, e.message, e.class, step
                        );
                        attempt += 1;
                    }
                }
            };
            session.clear_scene();
            match outcome {
                Ok(mut r) => {
                    r.retries = attempt;
                    r.claim = Some(claim);
                    self.progress.set(id, |w| w.state = "writing");
                    if tx.send(r).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    drop(claim);
                    eprintln!(
                        "grin batch: job {} frame {} failed: {}",
                        unit.job, unit.frame, e.message
                    );
                    self.progress
                        .record(FrameReport::failed(unit, &dir, id, attempt, &e));
                }
            }
        }
    }

    /// One try at a unit: lease, render. On failure, whether the lease is held.
    pub(super) fn attempt(
        &self,
        id: usize,
        session: &mut Session,
        unit: Unit,
    ) -> Result<Rendered, (FrameError, bool)> {
        let job = &self.jobs[unit.job];
        // A panic anywhere in a frame (a defect, or input no check caught) is that
        // frame's failure: the batch goes on and ends with its report.
        let panicked = |what: &str, p: Box<dyn std::any::Any + Send>| {
            let msg = p
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".to_owned());
            FrameError::fatal(format!("panicked while {what}: {msg}"))
        };
        let lease = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.cache.lease(unit.key, session.renderer_mut())
        }))
        .map_err(|p| (panicked("loading its scene", p), false))?
        .map_err(|e| (e, false))?;
        let rendered = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let ready = lease
                .readies
                .get(unit.index)
                .ok_or_else(|| FrameError::fatal("no scene for this frame"))?;
            session.adopt(ready);
            let scene = ready.scene();
            let mut camera = scene
                .camera()
                .ok_or_else(|| FrameError::fatal("the scene has no camera"))?;
            if let Some((position, look_at)) = job.camera_at(unit.frame) {
                camera.position = position;
                camera.look_at = look_at;
            }
            let settings = RenderSettings {
                width: job.size.0,
                height: job.size.1,
                spp: job.spp,
                seed: job.seed,
                tile: (16, 16),
                order: Order::Scanline,
                max_bounces: job.bounces,
            };
            session.set_camera(camera);
            session.set_settings(settings);
            self.progress.set(id, |w| w.state = "rendering");
            inject_panic();
            let t = Instant::now();
            let mut swept = Vec::new();
            if let Some(sweep) = &job.sweep {
                let variations = sweep_scenes(scene, sweep)?;
                let snapshot = session.snapshot()?.clone();
                swept = session
                    .renderer_mut()
                    .render_sweep(&snapshot, &variations, &CancelToken::new())
                    .map_err(|e| match e {
                        renderer_core::frame::SweepError::Step(e) => FrameError::from(e),
                        e => FrameError::fatal(e.to_string()),
                    })?
                    .films;
            } else {
                session.render_all(&CancelToken::new(), |r| {
                    self.progress.set(id, |w| w.passes_done = r.passes_done);
                })?;
            }
            let outputs = &job.outputs;
            let mut flows = Vec::new();
            let truth =
                if outputs.metadata || outputs.flow || outputs.aovs.iter().any(|a| traced(a)) {
                    let truth = session.ground_truth()?;
                    for (way, n) in flow_neighbours(job, unit.frame) {
                        let other = neighbour(scene, job, unit.frame, n, settings)?;
                        let (flow, _) =
                            session
                                .renderer_mut()
                                .flow(&truth, &other, outputs.flow_window)?;
                        flows.push((way, flow));
                    }
                    let image = image_path(Path::new(""), unit.frame);
                    let meta = crate::truth_out::metadata(
                        session.snapshot()?,
                        &truth,
                        &image.display().to_string(),
                        Some(unit.frame),
                    );
                    Some((truth, meta))
                } else {
                    None
                };
            Ok::<_, FrameError>((t.elapsed().as_secs_f64(), truth, flows, swept))
        }))
        .unwrap_or_else(|p| Err(panicked("rendering", p)));
        match rendered {
            Ok((render_s, truth, flows, sweep)) => {
                let film = match sweep.first() {
                    Some(f) => f.clone(),
                    None => session.renderer().film().clone(),
                };
                self.cache.release(unit.key);
                Ok(Rendered {
                    unit,
                    worker: id,
                    served: lease.served(),
                    film,
                    truth,
                    sweep,
                    flows,
                    load_s: lease.load_s,
                    accel_s: lease.accel_s,
                    upload_s: lease.upload_s,
                    render_s,
                    retries: 0,
                    claim: None,
                })
            }
            Err(e) => Err((e, true)),
        }
    }

    /// The writer: outputs, marker, quality gates, pruning; records each frame.
    pub(super) fn write_all(&self, rx: &mpsc::Receiver<Rendered>) {
        for r in rx {
            let job = &self.jobs[r.unit.job];
            let dir = self.args.out.join(&job.name);
            let written = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.write_frame(job, &dir, &r)
            }))
            .unwrap_or_else(|_| Err("panicked while writing its outputs".to_owned()));
            let report = written.unwrap_or_else(|e| {
                let e = FrameError {
                    class: Class::Transient,
                    message: e,
                };
                eprintln!(
                    "grin batch: job {} frame {} failed: {}",
                    r.unit.job, r.unit.frame, e.message
                );
                FrameReport::failed(r.unit, &dir, r.worker, r.retries, &e)
            });
            self.progress.set(r.worker, |w| {
                if w.state == "writing" {
                    w.state = "idle";
                }
            });
            self.progress.record(report);
        }
    }

    /// Whether the frame's done-marker was written after this batch started (by a
    /// concurrent batch on the same --out; an older marker is a previous run's).
    pub(super) fn done_since_start(&self, job: &Job, image: &Path, frame: u32) -> bool {
        complete(&self.args.out, job, image, frame)
            && std::fs::metadata(marker(image))
                .and_then(|m| m.modified())
                .is_ok_and(|t| t >= self.started_at)
    }

    /// Outputs never follow a link out of --out: no folder of the job's path may be a
    /// symbolic link (the files themselves are never replaced through one).
    pub(super) fn safe_dir(&self, job: &Job) -> Result<(), String> {
        let mut at = self.args.out.clone();
        for c in job.name.components() {
            at.push(c);
            if std::fs::symlink_metadata(&at).is_ok_and(|m| m.file_type().is_symlink()) {
                return Err(format!(
                    "{} is a symbolic link; outputs never follow links out of --out",
                    at.display()
                ));
            }
        }
        Ok(())
    }

    pub(super) fn write_frame(
        &self,
        job: &Job,
        dir: &Path,
        r: &Rendered,
    ) -> Result<FrameReport, String> {
        self.safe_dir(job)?;
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let image = image_path(dir, r.unit.frame);
        let t = Instant::now();
        let film = &r.film;
        let (w, h) = (film.width(), film.height());
        let rgb = film.rgb();
        let err = |f: Failure| f.message;
        if job.outputs.png {
            save(
                &image,
                srgb8(w, h, &rgb, linear_to_srgb),
                image::ImageFormat::Png,
            )
            .map_err(err)?;
        }
        if job.outputs.exr {
            save(
                &image.with_extension("exr"),
                rgb_f32(w, h, rgb.clone()),
                image::ImageFormat::OpenExr,
            )
            .map_err(err)?;
        }
        for a in &job.outputs.aovs {
            let aov = <Aov as clap::ValueEnum>::from_str(a, false)?;
            let truth = r.truth.as_ref().map(|(t, _)| t);
            write_aov(film, truth, aov, &image, job.outputs.exr).map_err(err)?;
        }
        if let Some(sweep) = &job.sweep {
            let mut listed = Vec::new();
            for (k, film) in r.sweep.iter().enumerate() {
                let rgb = film.rgb();
                let exposures = if sweep.exposures.is_empty() {
                    vec![0.0]
                } else {
                    sweep.exposures.clone()
                };
                for (x, stops) in exposures.iter().enumerate() {
                    let i = k * exposures.len() + x;
                    let scale = 2f32.powf(*stops as f32);
                    let px: Vec<[f32; 3]> = rgb.iter().map(|p| p.map(|c| c * scale)).collect();
                    let path = sweep_image(&image, i);
                    if job.outputs.png {
                        save(
                            &path,
                            srgb8(w, h, &px, linear_to_srgb),
                            image::ImageFormat::Png,
                        )
                        .map_err(err)?;
                    }
                    if job.outputs.exr {
                        save(
                            &path.with_extension("exr"),
                            rgb_f32(w, h, px),
                            image::ImageFormat::OpenExr,
                        )
                        .map_err(err)?;
                    }
                    let [lights, materials, environment] = sweep.render_parts(k);
                    listed.push(serde_json::json!({
                        "image": path.file_name().map(|n| n.to_string_lossy().into_owned()),
                        "lights": lights,
                        "materials": materials,
                        "environment": environment,
                        "exposure": stops,
                    }));
                }
            }
            let bytes = serde_json::to_vec_pretty(&listed).map_err(|e| e.to_string())?;
            crate::render_cmd::write_file(&image.with_extension("sweep.json"), &bytes)
                .map_err(err)?;
        }
        for (way, flow) in &r.flows {
            let [exr, png] = flow_paths(&image, way);
            save(
                &exr,
                crate::truth_out::flow_exr(flow),
                image::ImageFormat::OpenExr,
            )
            .map_err(err)?;
            save(
                &png,
                crate::truth_out::flow_colours(flow),
                image::ImageFormat::Png,
            )
            .map_err(err)?;
        }
        if let (true, Some((_, meta))) = (job.outputs.metadata, &r.truth) {
            let bytes = serde_json::to_vec(meta).map_err(|e| e.to_string())?;
            crate::render_cmd::write_file(&image.with_extension("json"), &bytes).map_err(err)?;
        }
        let outputs = outputs_of(job, &image, r.unit.frame);
        let bytes = outputs
            .iter()
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum();
        // The marker comes last: its presence says every output is whole.
        crate::render_cmd::write_file(&marker(&image), b"done\n").map_err(err)?;
        let n = rgb.len().max(1) as f64;
        let non_finite = rgb.iter().flatten().filter(|v| !v.is_finite()).count() as u64;
        let mean_luminance = rgb
            .iter()
            .filter(|p| p.iter().all(|v| v.is_finite()))
            .map(|p| 0.2126 * f64::from(p[0]) + 0.7152 * f64::from(p[1]) + 0.0722 * f64::from(p[2]))
            .sum::<f64>()
            / n;
        let hit_share = film.hit_mask().iter().map(|&m| f64::from(m)).sum::<f64>() / n;
        let mut status = "done";
        let mut output = image.display().to_string();
        if self.args.prune_empty && hit_share < self.args.prune_below {
            for p in outputs.iter().chain([&marker(&image)]) {
                let to = pruned_path(&self.args.out, job, p);
                if let Some(parent) = to.parent() {
                    std::fs::create_dir_all(parent)
                        .map_err(|e| format!("{}: {e}", parent.display()))?;
                }
                std::fs::rename(p, &to)
                    .map_err(|e| format!("{} -> {}: {e}", p.display(), to.display()))?;
            }
            status = "pruned";
            output = pruned_path(&self.args.out, job, &image)
                .display()
                .to_string();
        }
        Ok(FrameReport {
            job: r.unit.job,
            frame: r.unit.frame,
            output,
            status,
            worker: r.worker,
            scene: r.served,
            load_s: r.load_s,
            accel_s: r.accel_s,
            upload_s: r.upload_s,
            render_s: r.render_s,
            write_s: t.elapsed().as_secs_f64(),
            bytes,
            retries: r.retries,
            hit_share,
            mean_luminance,
            non_finite,
            error: None,
            failure: None,
        })
    }

    /// Parses the next `--prefetch` keys the queue will need into RAM, while the RAM
    /// budget has room.
    pub(super) fn prefetch(&self) {
        if self.args.prefetch == 0 {
            return;
        }
        loop {
            let upcoming: Vec<usize> = {
                let q = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
                if q.is_empty() {
                    return;
                }
                let mut keys = Vec::new();
                for u in q.iter() {
                    if !keys.contains(&u.key) {
                        keys.push(u.key);
                        if keys.len() > self.args.prefetch {
                            break;
                        }
                    }
                }
                keys
            };
            // The first key is the one workers are on (or about to be); look past it.
            let mut staged = false;
            for &k in upcoming.iter().skip(1) {
                if !self.cache.is_held(k) && self.cache.prefetch(k) {
                    staged = true;
                }
            }
            if !staged {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// Whether the AOV named `a` is traced at pixel centres (needs the ground truth).
fn traced(a: &str) -> bool {
    <Aov as clap::ValueEnum>::from_str(a, false).is_ok_and(Aov::traced)
}

/// The snapshot of frame `n` of `job`, from `scene` (frame `frame`'s): animated
/// instances moved by the difference of their keyframed translations, the camera on
/// its path.
fn neighbour(
    scene: &Arc<renderer_core::scene::Scene>,
    job: &Job,
    frame: u32,
    n: u32,
    settings: RenderSettings,
) -> Result<renderer_core::frame::Snapshot, FrameError> {
    let moved = if job.animate.is_empty() {
        Arc::clone(scene)
    } else {
        let mut s = scene.edit();
        for anim in &job.animate {
            let by =
                engine::translation_at(&anim.keys, n) - engine::translation_at(&anim.keys, frame);
            let t = s
                .transform(anim.instance)
                .ok_or_else(|| FrameError::fatal("an animated instance is missing"))?;
            s.set_transform(
                anim.instance,
                glam::Affine3A::from_translation(by.as_vec3()) * t,
            )
            .map_err(|e| FrameError::fatal(e.to_string()))?;
        }
        Arc::new(s.build().map_err(|e| FrameError::fatal(e.to_string()))?)
    };
    let mut camera = scene
        .camera()
        .ok_or_else(|| FrameError::fatal("the scene has no camera"))?;
    if let Some((position, look_at)) = job.camera_at(n) {
        camera.position = position;
        camera.look_at = look_at;
    }
    Ok(renderer_core::frame::Snapshot::with_camera(
        moved, camera, settings,
    )?)
}

/// The scenes of a sweep's renders, from `scene` (the frame's): lights, materials
/// (by instance name) and environment replaced as each render's parts say.
fn sweep_scenes(
    scene: &Arc<renderer_core::scene::Scene>,
    sweep: &manifest::Sweep,
) -> Result<Vec<Arc<renderer_core::scene::Scene>>, FrameError> {
    (0..sweep.renders())
        .map(|k| {
            let [l, m, e] = sweep.render_parts(k);
            let mut s = scene.edit();
            if let Some(l) = l {
                s.clear_lights();
                for light in &sweep.lights[l] {
                    s.light(*light);
                }
            }
            if let Some(m) = m {
                for (name, material) in &sweep.materials[m] {
                    let mut found = false;
                    for (i, inst) in scene.instances().iter().enumerate() {
                        if inst.name == *name {
                            s.set_material(i, material.clone())
                                .map_err(|e| FrameError::fatal(e.to_string()))?;
                            found = true;
                        }
                    }
                    if !found {
                        let names: Vec<&str> =
                            scene.instances().iter().map(|i| i.name.as_str()).collect();
                        return Err(FrameError::fatal(format!(
                            "sweep.materials[{m}]: no instance is named {name:?} (names: {})",
                            names.join(", ")
                        )));
                    }
                }
            }
            if let Some(e) = e {
                s.environment(sweep.environments[e].clone());
            }
            s.build()
                .map(Arc::new)
                .map_err(|e| FrameError::fatal(format!("sweep render {k}: {e}")))
        })
        .collect()
}
