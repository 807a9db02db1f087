//! `grin-preview SCENE.ron`: the interactive window. Each UI frame gives the renderer
//! a time budget (so the window stays responsive whatever the scene), and the image
//! refines while the view is still. Moving the camera starts a new frame at once: the
//! old one is dropped, not finished.
//!
//! On the GPU backend the renderer runs on the window's own device
//! (`GpuContext::from_device`) and the image is drawn straight from the film buffer
//! where it accumulates (a fragment shader averages each pixel's sums): nothing is
//! copied back or up again. On the CPU backend, for the AOV views, or with
//! `--present host`, the film is converted on the host and uploaded as a texture.
//!
//! Controls: left-drag orbit, right-drag pan, wheel zoom; W A S D Q E fly; 1 image,
//! 2 depth, 3 normals, 4 segment-count heat map; F fields on/off (straight light);
//! P screenshot (PNG); T telemetry summary; Esc quit. Editing the scene file reloads
//! it; a broken edit is reported and the last good scene stays.
//!
//! Scripted runs (tests, demos): `--spp N` and/or `--frames N` end the run,
//! `--screenshot FILE` saves the window's last image (read back from the swapchain),
//! `--camera px,py,pz,lx,ly,lz[,fov]` sets the view, `--input FILE` replays input
//! events (one per UI frame), `--print-camera` prints the final camera,
//! `--wait-reloads N` keeps the run going until N reloads have been shown.
//!
//! Exit codes: 0 done, 1 a window or device failure, 2 bad input.

mod camera;
mod display;

use grin_app::{cli_args, exit};

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use clap::Parser;
use renderer_core::field::Medium;
use renderer_core::frame::{RenderSettings, Renderer, StepError, StepReport};
use renderer_core::gpu::{Backend, GpuConfig, GpuError};
use renderer_core::scene::{CameraDesc, Scene};
use renderer_core::scheduler::telemetry::Stats;
use renderer_core::scheduler::{CancelToken, Pool, PoolConfig};
use renderer_core::session::{Session, SessionError};
use renderer_core::texture::linear_to_srgb;
use winit::application::ApplicationHandler;
use winit::event::{ElementState, MouseButton, MouseScrollDelta, WindowEvent};
use winit::event_loop::{ActiveEventLoop, ControlFlow, EventLoop};
use winit::keyboard::{Key, NamedKey};
use winit::window::WindowId;

use crate::exit::{Exit, Failure};

use camera::{Event, Orbit};
use display::{Display, Source};

#[derive(Parser, Debug)]
#[command(
    name = "grin-preview",
    version,
    about = "Grin's interactive preview window"
)]
struct Args {
    /// Scene file (RON); edits reload it.
    scene: PathBuf,
    /// Window size, WxH.
    #[arg(long, default_value = "640x480", value_parser = cli_args::parse_window_size)]
    size: (u32, u32),
    /// Where frames render: auto (a real GPU if present, else the CPU), cpu, gpu.
    #[arg(long, value_enum, default_value = "auto")]
    backend: cli_args::BackendArg,
    /// Samples per pixel to stop at (scripted runs end there).
    #[arg(long)]
    spp: Option<u32>,
    /// End after this many UI frames.
    #[arg(long)]
    frames: Option<u64>,
    /// Save the window's last image here (PNG) when the run ends.
    #[arg(long)]
    screenshot: Option<PathBuf>,
    /// The camera: `px,py,pz,lx,ly,lz[,fov]`.
    #[arg(long, allow_hyphen_values = true)]
    camera: Option<String>,
    /// Replay input events from this file (`orbit DX DY`, `pan DX DY`, `zoom S`, `key K [N]`).
    #[arg(long)]
    input: Option<PathBuf>,
    /// Print the final camera (as --camera takes it) on standard output.
    #[arg(long)]
    print_camera: bool,
    /// In a scripted run, do not end before this many reloads were shown.
    #[arg(long, default_value_t = 0)]
    wait_reloads: u32,
    /// Milliseconds of rendering per UI frame (the rest of a frame, about 10 ms here,
    /// is converting, uploading and presenting the image).
    #[arg(long, default_value_t = 14)]
    budget_ms: u64,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Light bounces.
    #[arg(long, default_value_t = 4)]
    bounces: u32,
    /// How a GPU film reaches the window: `device` (drawn from the film buffer on the
    /// window's device, no copies) or `host` (read back, converted and uploaded each
    /// frame, as on the CPU backend).
    #[arg(long, default_value = "device", value_parser = ["device", "host"])]
    present: String,
}

/// What the window shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum View {
    Image,
    Depth,
    Normal,
    Segments,
}

/// The renderer side and the interaction state.
struct Preview {
    args: Args,
    /// The renderer with the shown scene, camera and settings.
    session: Session,
    pool: Arc<Pool>,
    /// The renderer runs on the window's device and the image is drawn from its film
    /// buffer there.
    film_on_device: bool,
    backend: String,
    scene: Arc<Scene>,
    straight: Option<Arc<Scene>>,
    fields: bool,
    stamp: Option<(SystemTime, u64)>,
    last_check: Instant,
    reloads: u32,
    error: Option<String>,
    orbit: Orbit,
    view: View,
    script: std::collections::VecDeque<Event>,
    size: (u32, u32),
    frames: u64,
    last_report: Option<StepReport>,
    frame_ms: f64,
    rays_per_s: f64,
    last_title: Instant,
    drag: Option<(MouseButton, (f64, f64))>,
    cursor: (f64, f64),
    shots: u32,
    display: Option<Display>,
    failure: Option<Failure>,
    interactive_spp: u32,
    /// UI frame wall times after the first, in nanoseconds.
    frame_times: Vec<u64>,
}

fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

impl Preview {
    fn camera(&self) -> CameraDesc {
        self.orbit.desc()
    }

    fn shown_scene(&self) -> Arc<Scene> {
        match (&self.straight, self.fields) {
            (Some(s), false) => Arc::clone(s),
            _ => Arc::clone(&self.scene),
        }
    }

    fn target_spp(&self) -> u32 {
        self.args.spp.unwrap_or(self.interactive_spp)
    }

    fn scripted(&self) -> bool {
        self.args.frames.is_some() || self.args.screenshot.is_some() && self.args.spp.is_some()
    }

    /// Reloads the scene when its file changed; a broken edit keeps the last good one.
    fn check_reload(&mut self) {
        if self.last_check.elapsed() < Duration::from_millis(150) {
            return;
        }
        self.last_check = Instant::now();
        let now = stamp(&self.args.scene);
        if now.is_none() || now == self.stamp {
            return;
        }
        self.stamp = now;
        match Scene::load(&self.args.scene) {
            Ok(s) => {
                self.scene = Arc::new(s);
                self.straight = None;
                self.reloads += 1;
                self.error = None;
                eprintln!("grin-preview: reloaded {}", self.args.scene.display());
            }
            Err(e) => {
                eprintln!("grin-preview: reload failed, keeping the last good scene: {e}");
                self.error = Some(e.to_string());
            }
        }
    }

    /// On the GPU backend, moves the renderer onto the window's device (same adapter)
    /// so that the film is drawn where it accumulates.
    fn share_device(&mut self, d: &Display) {
        let Some(ctx) = self.session.renderer().gpu() else {
            return;
        };
        if self.args.present != "device" {
            return;
        }
        if ctx.adapter_name() != d.info.name {
            eprintln!(
                "grin-preview: the window is on {} and frames render on {}: the film is copied through the host",
                d.info.name,
                ctx.adapter_name()
            );
            return;
        }
        match renderer_core::gpu::GpuContext::from_device(
            d.info.clone(),
            d.device.clone(),
            d.queue.clone(),
        ) {
            Ok(shared) => {
                let mut r = Renderer::with_gpu(Arc::clone(&self.pool), Arc::new(shared));
                r.keep_film_on_gpu(true);
                self.session = Session::new(r);
                self.film_on_device = true;
                self.backend = format!(
                    "GPU {} (the window's device, film drawn in place)",
                    d.info.name
                );
            }
            Err(e) => eprintln!(
                "grin-preview: cannot render on the window's device ({e}); the film is copied through the host"
            ),
        }
    }

    fn toggle_fields(&mut self) {
        self.fields = !self.fields;
        if self.straight.is_none() {
            let mut straight = self.scene.edit();
            straight
                .clear_fields()
                .background_index(Medium::default().background);
            match straight.build() {
                Ok(s) => self.straight = Some(Arc::new(s)),
                Err(e) => {
                    eprintln!("grin-preview: the scene without its fields is invalid: {e}");
                    self.fields = true;
                    return;
                }
            }
        }
        eprintln!(
            "grin-preview: fields {}",
            if self.fields {
                "on"
            } else {
                "off (straight light)"
            }
        );
    }

    fn apply(&mut self, e: &Event) {
        match *e {
            Event::Orbit(dx, dy) => self.orbit.orbit(dx, dy),
            Event::Pan(dx, dy) => self.orbit.pan(dx, dy),
            Event::Zoom(s) => self.orbit.zoom(s),
            Event::Key(k) => {
                self.orbit.fly(k);
            }
        }
    }

    /// The view as sRGB RGBA8 from the host's film (read back first when it stays on
    /// the device).
    fn image(&mut self) -> Result<(Vec<u8>, u32, u32), String> {
        let film = self
            .session
            .renderer_mut()
            .sync_film()
            .map_err(|e| e.to_string())?;
        let (w, h) = (film.width(), film.height());
        let byte = |v: f32| (v.clamp(0.0, 1.0) * 255.0 + 0.5) as u8;
        let px: Vec<[u8; 3]> = match self.view {
            View::Image => film
                .rgb()
                .iter()
                .map(|p| {
                    [
                        byte(linear_to_srgb(p[0])),
                        byte(linear_to_srgb(p[1])),
                        byte(linear_to_srgb(p[2])),
                    ]
                })
                .collect(),
            View::Depth => {
                let d = film.depth();
                let max = d.iter().copied().fold(0.0f32, f32::max).max(1e-6);
                d.iter().map(|&v| [byte(1.0 - v / max); 3]).collect()
            }
            View::Normal => film
                .normal()
                .iter()
                .map(|n| {
                    [
                        byte(n[0] * 0.5 + 0.5),
                        byte(n[1] * 0.5 + 0.5),
                        byte(n[2] * 0.5 + 0.5),
                    ]
                })
                .collect(),
            View::Segments => {
                let s = film.segments();
                let max = s.iter().copied().fold(0.0f32, f32::max).max(1.0);
                s.iter()
                    .map(|&v| {
                        let t = v / max;
                        [
                            byte(t * 2.0),
                            byte(1.0 - (2.0 * t - 1.0).abs()),
                            byte(1.0 - t * 2.0),
                        ]
                    })
                    .collect()
            }
        };
        Ok((
            px.iter().flat_map(|p| [p[0], p[1], p[2], 255]).collect(),
            w,
            h,
        ))
    }

    fn summary(&self) {
        let Some(r) = &self.last_report else {
            eprintln!("grin-preview: no step yet");
            return;
        };
        let stages: Vec<String> = r
            .stages
            .iter()
            .map(|s| format!("{} {:.2} ms", s.name, s.wall.as_secs_f64() * 1e3))
            .collect();
        eprintln!(
            "grin-preview: {} spp of {}, last step {:.2} ms ({} tiles, {} rays, {} segments, {} subdivisions), {:.2} M rays/s, UI {:.1} ms/frame over {} frames; stages: {}",
            r.passes_done,
            self.target_spp(),
            r.wall.as_secs_f64() * 1e3,
            r.tiles_done,
            r.rays,
            r.segments,
            r.subdivisions,
            self.rays_per_s / 1e6,
            self.frame_ms,
            self.frames,
            stages.join(", ")
        );
    }

    /// One UI frame: reload, scripted input, a budgeted render step, the image; `true`
    /// when a scripted run is done.
    fn frame(&mut self) -> Result<bool, Failure> {
        let t = Instant::now();
        self.check_reload();
        if let Some(e) = self.script.pop_front() {
            self.apply(&e);
        }
        let complete = self.step()?;
        self.frames += 1;
        let done = self.scripted()
            && self.script.is_empty()
            && self.reloads >= self.args.wait_reloads
            && (complete || self.args.frames.is_some_and(|n| self.frames >= n))
            || self
                .args
                .frames
                .is_some_and(|n| self.frames >= n.saturating_mul(20));
        let grab = done && self.args.screenshot.is_some();
        let (shot, w, h) = self.present(grab)?;
        if self.frames == 1 {
            eprintln!(
                "grin-preview: showing {} ({}x{})",
                self.args.scene.display(),
                w,
                h
            );
        }
        if done {
            self.finish(shot, w, h)?;
        }
        self.record_frame_time(t.elapsed(), done);
        if self.last_title.elapsed() > Duration::from_millis(250) || done {
            self.update_title();
        }
        Ok(done)
    }

    /// The UI frame's render step on the session (the scene, camera and settings as
    /// they are now); whether the frame has all its samples.
    fn step(&mut self) -> Result<bool, Failure> {
        let settings = RenderSettings {
            width: self.size.0,
            height: self.size.1,
            spp: self.target_spp(),
            seed: self.args.seed,
            max_bounces: self.args.bounces,
            // Small tiles: a step's work comes in small pieces, so it ends close to
            // its budget even where curved pixels are slow.
            tile: (8, 8),
            ..RenderSettings::default()
        };
        self.session.set_scene(self.shown_scene());
        self.session.set_camera(self.camera());
        self.session.set_settings(settings);
        let report = self
            .session
            .step(
                Duration::from_millis(self.args.budget_ms),
                &CancelToken::new(),
            )
            .map_err(|e| match e {
                SessionError::Snapshot(e) => Failure::new(Exit::BadInput, e.to_string()),
                e @ SessionError::Step(StepError::Gpu(GpuError::OutOfMemory { .. })) => {
                    Failure::new(Exit::OutOfMemory, e.to_string())
                }
                e => Failure::new(Exit::Failed, e.to_string()),
            })?;
        let complete = report.frame_complete;
        if report.wall.as_secs_f64() > 0.0 && report.rays > 0 {
            let rate = report.rays as f64 / report.wall.as_secs_f64();
            self.rays_per_s = if self.rays_per_s == 0.0 {
                rate
            } else {
                0.8 * self.rays_per_s + 0.2 * rate
            };
        }
        self.last_report = Some(report);
        Ok(complete)
    }

    /// Shows the image (straight from the film on the device when it can), and with
    /// `grab` gives it back as RGBA8 with its size.
    fn present(&mut self, grab: bool) -> Result<(Option<Vec<u8>>, u32, u32), Failure> {
        let in_place = self.film_on_device
            && self.view == View::Image
            && self.display.is_some()
            && self.session.renderer().gpu_film().is_some();
        if in_place {
            let film = self.session.renderer().gpu_film().expect("checked above");
            let d = self.display.as_mut().expect("checked above");
            let shot = d
                .show(&Source::Film(film), grab)
                .map_err(|e| Failure::new(Exit::Failed, e))?;
            return Ok((shot, film.width, film.height));
        }
        let (rgba, w, h) = self.image().map_err(|e| Failure::new(Exit::Failed, e))?;
        let shot = match self.display.as_mut() {
            Some(d) => d
                .show(&Source::Rgba(&rgba, w, h), grab)
                .map_err(|e| Failure::new(Exit::Failed, e))?,
            None => None,
        };
        Ok((shot.or(grab.then_some(rgba)), w, h))
    }

    /// The end of a scripted run: the screenshot (`shot`, or the film converted on
    /// the host) and the camera, as asked.
    fn finish(&mut self, shot: Option<Vec<u8>>, w: u32, h: u32) -> Result<(), Failure> {
        if let Some(path) = self.args.screenshot.clone() {
            let data = match shot {
                Some(data) => data,
                None => self.image().map_err(|e| Failure::new(Exit::Failed, e))?.0,
            };
            save_png(&path, &data, w, h).map_err(|e| Failure::new(Exit::Failed, e))?;
            eprintln!("grin-preview: screenshot {}", path.display());
        }
        if self.args.print_camera {
            println!("{}", camera::format_camera(&self.camera()));
        }
        Ok(())
    }

    /// Records a UI frame's wall time (the first, which opens the device, is left out
    /// of the statistics); at the end of a run, prints them.
    fn record_frame_time(&mut self, took: Duration, done: bool) {
        let ms = took.as_secs_f64() * 1e3;
        self.frame_ms = if self.frames == 1 {
            ms
        } else {
            0.9 * self.frame_ms + 0.1 * ms
        };
        if self.frames > 1 {
            self.frame_times
                .push(u64::try_from(took.as_nanos()).unwrap_or(u64::MAX));
        }
        if done && !self.frame_times.is_empty() {
            let st = Stats::of(&self.frame_times);
            let ms = |ns: u64| ns as f64 / 1e6;
            let mean = st.mean / 1e6;
            eprintln!(
                "grin-preview: {} UI frames, mean {mean:.1} ms ({:.0} fps), median {:.1} ms, p95 {:.1} ms",
                st.count + 1,
                1e3 / mean,
                ms(st.p50),
                ms(st.p95)
            );
        }
    }

    /// The window title: scene, samples, frame time, ray rate, backend, and a failed
    /// reload.
    fn update_title(&mut self) {
        self.last_title = Instant::now();
        let Some(d) = &self.display else {
            return;
        };
        let spp = self.last_report.as_ref().map_or(0, |r| r.passes_done);
        let mut title = format!(
            "grin-preview - {} - {spp} spp - {:.1} ms/frame - {:.2} M rays/s - {}",
            self.args
                .scene
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
            self.frame_ms,
            self.rays_per_s / 1e6,
            self.backend
        );
        if let Some(e) = &self.error {
            title.push_str(&format!(" - RELOAD FAILED: {e}"));
        }
        d.window.set_title(&title);
    }

    fn screenshot_now(&mut self) {
        self.shots += 1;
        let path = PathBuf::from(format!("grin-preview-{:03}.png", self.shots));
        match self
            .image()
            .and_then(|(rgba, w, h)| save_png(&path, &rgba, w, h))
        {
            Ok(()) => eprintln!("grin-preview: saved {}", path.display()),
            Err(e) => eprintln!("grin-preview: {e}"),
        }
    }
}

fn save_png(path: &Path, rgba: &[u8], w: u32, h: u32) -> Result<(), String> {
    let img = image::RgbaImage::from_raw(w, h, rgba.to_vec()).ok_or("screenshot size mismatch")?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    img.save_with_format(&tmp, image::ImageFormat::Png)
        .and_then(|()| std::fs::rename(&tmp, path).map_err(image::ImageError::IoError))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            format!("cannot write {}: {e}", path.display())
        })
}

impl ApplicationHandler for Preview {
    fn resumed(&mut self, event_loop: &ActiveEventLoop) {
        if self.display.is_some() {
            return;
        }
        match Display::new(event_loop, self.size) {
            Ok(d) => {
                self.share_device(&d);
                eprintln!(
                    "grin-preview: window on {}; frames render on {}",
                    d.adapter, self.backend
                );
                let inner = d.window.inner_size();
                self.size = (inner.width.max(1), inner.height.max(1));
                d.window.request_redraw();
                self.display = Some(d);
            }
            Err(e) => {
                self.failure = Some(Failure::new(Exit::Failed, format!("grin-preview: {e}")));
                event_loop.exit();
            }
        }
    }

    fn window_event(&mut self, event_loop: &ActiveEventLoop, _: WindowId, event: WindowEvent) {
        let mut changed = false;
        match event {
            WindowEvent::CloseRequested => event_loop.exit(),
            WindowEvent::Resized(s) => {
                if let Some(d) = self.display.as_mut() {
                    d.resize(s.width, s.height);
                }
                self.size = (s.width.max(1), s.height.max(1));
                changed = true;
            }
            WindowEvent::MouseInput { state, button, .. } => {
                if state == ElementState::Pressed {
                    self.drag = Some((button, self.cursor));
                } else {
                    self.drag = None;
                }
            }
            WindowEvent::CursorMoved { position, .. } => {
                let now = (position.x, position.y);
                if let Some((button, last)) = self.drag {
                    let (dx, dy) = (now.0 - last.0, now.1 - last.1);
                    match button {
                        MouseButton::Left => self.orbit.orbit(dx, dy),
                        _ => self.orbit.pan(dx, dy),
                    }
                    self.drag = Some((button, now));
                    changed = true;
                }
                self.cursor = now;
            }
            WindowEvent::MouseWheel { delta, .. } => {
                let steps = match delta {
                    MouseScrollDelta::LineDelta(_, y) => f64::from(y),
                    MouseScrollDelta::PixelDelta(p) => p.y / 40.0,
                };
                self.orbit.zoom(steps);
                changed = true;
            }
            WindowEvent::KeyboardInput { event, .. } if event.state == ElementState::Pressed => {
                match event.logical_key.as_ref() {
                    Key::Named(NamedKey::Escape) => event_loop.exit(),
                    Key::Character(c) => {
                        let ch = c.chars().next().unwrap_or(' ');
                        match ch.to_ascii_lowercase() {
                            '1' => self.view = View::Image,
                            '2' => self.view = View::Depth,
                            '3' => self.view = View::Normal,
                            '4' => self.view = View::Segments,
                            'f' => self.toggle_fields(),
                            'p' => self.screenshot_now(),
                            't' => self.summary(),
                            k => {
                                self.orbit.fly(k);
                            }
                        }
                        changed = true;
                    }
                    _ => {}
                }
            }
            WindowEvent::RedrawRequested => match self.frame() {
                Ok(true) => event_loop.exit(),
                Ok(false) => {}
                Err(f) => {
                    self.failure =
                        Some(Failure::new(f.exit, format!("grin-preview: {}", f.message)));
                    event_loop.exit();
                }
            },
            _ => {}
        }
        if changed {
            if let Some(d) = &self.display {
                d.window.request_redraw();
            }
        }
    }

    fn about_to_wait(&mut self, event_loop: &ActiveEventLoop) {
        // Keep drawing while the frame refines, a script runs, or a reload may come;
        // when the image is complete, wait for input (and poll the file now and then).
        let refining = !self.last_report.as_ref().is_some_and(|r| r.frame_complete)
            || !self.script.is_empty()
            || self.scripted();
        if refining {
            event_loop.set_control_flow(ControlFlow::Poll);
            if let Some(d) = &self.display {
                d.window.request_redraw();
            }
        } else {
            event_loop.set_control_flow(ControlFlow::WaitUntil(
                Instant::now() + Duration::from_millis(200),
            ));
            self.check_reload();
            if self.reloads > 0 && self.last_report.is_some() {
                if let Some(d) = &self.display {
                    d.window.request_redraw();
                }
            }
        }
    }
}

/// A bad-input failure of the preview.
fn bad_input(m: String) -> Failure {
    Failure::new(Exit::BadInput, format!("grin-preview: {m}"))
}

/// The first view: the scene's camera, or a default one when `--camera` is given,
/// with `--camera` applied.
fn initial_camera(args: &Args, scene: &Scene) -> Result<CameraDesc, Failure> {
    let mut cam = match scene.camera() {
        Some(c) => c,
        None if args.camera.is_some() => CameraDesc {
            position: glam::DVec3::new(0.0, 0.0, -5.0),
            look_at: glam::DVec3::ZERO,
            up: glam::DVec3::Y,
            fov_deg: 45.0,
            observer: Default::default(),
        },
        None => {
            return Err(bad_input(format!(
                "{}: the scene has no camera; pass --camera",
                args.scene.display()
            )));
        }
    };
    if let Some(c) = &args.camera {
        let (p, l, fov) =
            camera::parse_camera(c).map_err(|e| bad_input(format!("--camera: {e}")))?;
        cam.position = p;
        cam.look_at = l;
        if let Some(f) = fov {
            cam.fov_deg = f;
        }
    }
    Ok(cam)
}

/// The `--input` script's events, one per UI frame.
fn read_script(args: &Args) -> Result<Vec<Event>, Failure> {
    let Some(p) = &args.input else {
        return Ok(Vec::new());
    };
    let text = renderer_core::input::read_text(p, renderer_core::input::SCENE_BYTES)
        .map_err(|e| bad_input(format!("{}: {e}", p.display())))?;
    camera::parse_script(&text).map_err(|e| bad_input(format!("{}: {e}", p.display())))
}

/// The renderer `--backend` and `--threads` ask for, its pool, and the backend's
/// name for the title (the CPU fallback logged once).
fn open_renderer(args: &Args) -> Result<(Renderer, Arc<Pool>, String), Failure> {
    let pool = match args.threads {
        Some(0) => return Err(bad_input("--threads must be at least 1".into())),
        Some(n) => PoolConfig::with_threads(n),
        None => PoolConfig::default(),
    };
    let pool = Arc::new(Pool::new(pool).map_err(|e| bad_input(e.to_string()))?);
    let renderer = Renderer::with_backend(
        Arc::clone(&pool),
        Backend::from(args.backend),
        &GpuConfig::from_env(),
    )
    .map_err(|e| Failure::new(Exit::NoGpu, format!("grin-preview: --backend gpu: {e}")))?;
    let backend = match renderer.gpu() {
        Some(ctx) => format!("GPU {}", ctx.adapter_name()),
        None => format!("CPU, {} threads", pool.threads()),
    };
    if let Some(why) = renderer.fallback_reason() {
        eprintln!("grin-preview: rendering on the CPU ({why})");
    }
    Ok((renderer, pool, backend))
}

fn run(args: Args) -> Result<(), Failure> {
    let scene = Scene::load(&args.scene).map_err(|e| bad_input(e.to_string()))?;
    let cam = initial_camera(&args, &scene)?;
    let script = read_script(&args)?;
    let (renderer, pool, backend) = open_renderer(&args)?;
    let event_loop = EventLoop::new()
        .map_err(|e| Failure::new(Exit::Failed, format!("grin-preview: no display: {e}")))?;
    let mut app = Preview {
        stamp: stamp(&args.scene),
        session: Session::new(renderer),
        pool,
        film_on_device: false,
        backend,
        scene: Arc::new(scene),
        straight: None,
        fields: true,
        last_check: Instant::now(),
        reloads: 0,
        error: None,
        orbit: Orbit::new(cam),
        view: View::Image,
        script: script.into(),
        size: args.size,
        frames: 0,
        last_report: None,
        frame_ms: 0.0,
        rays_per_s: 0.0,
        last_title: Instant::now(),
        drag: None,
        cursor: (0.0, 0.0),
        shots: 0,
        display: None,
        failure: None,
        interactive_spp: 1024,
        frame_times: Vec::new(),
        args,
    };
    event_loop
        .run_app(&mut app)
        .map_err(|e| Failure::new(Exit::Failed, format!("grin-preview: {e}")))?;
    match app.failure {
        Some(f) => Err(f),
        None => Ok(()),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(),
    }
}
