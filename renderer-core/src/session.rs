//! One rendering session for a host: a scene, a camera and settings in, budgeted
//! steps, and the image out without an allocation per frame. The host sets what
//! changed ([`Session::set_scene`], [`Session::set_camera`],
//! [`Session::set_settings`]) and calls [`Session::step`] once per host frame; the
//! film keeps converging while nothing that shows changed (a scene rebuilt with the
//! same content counts as unchanged, see [`crate::scene::Scene::same_content`]) and
//! restarts when something did. [`Session::frame`] borrows the image as sRGB RGBA8 or
//! linear RGBA floats from buffers the session keeps.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use renderer_core::{CancelToken, Pool, PoolConfig, RenderSettings, Renderer, Scene};
//! use renderer_core::session::{FrameFormat, Session};
//!
//! let text = r#"(
//!     camera: Some((position: (0.0, 0.0, -5.0), look_at: (0.0, 0.0, 0.0), fov_deg: 40.0)),
//!     meshes: [(name: "ball", source: Sphere(radius: 1.0))],
//!     instances: [(mesh: "ball")],
//!     lights: [Directional(direction: (0.0, -1.0, 1.0), irradiance: (1.0, 1.0, 1.0))],
//! )"#;
//! let scene = Arc::new(Scene::from_str(text, "inline.ron".as_ref())?);
//! let pool = Arc::new(Pool::new(PoolConfig::with_threads(2))?);
//! let mut session = Session::new(Renderer::new(pool));
//! session.set_scene(scene);
//! session.set_settings(RenderSettings { width: 32, height: 24, spp: 2, ..RenderSettings::default() });
//! while !session.step(Duration::from_millis(50), &CancelToken::new())?.frame_complete {}
//! let view = session.frame(FrameFormat::Rgba8)?;
//! assert_eq!((view.width, view.height), (32, 24));
//! assert_eq!(view.rgba8().unwrap().len(), 32 * 24 * 4);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::sync::Arc;
use std::time::Duration;

use crate::frame::{
    ReadyScene, RenderSettings, Renderer, Snapshot, SnapshotError, StepError, StepReport,
};
use crate::scene::{CameraDesc, Scene};
use crate::scheduler::CancelToken;
use crate::texture::linear_to_srgb;

/// Why a session cannot step or show its frame.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// No scene was set.
    #[error("no scene: set one first")]
    NoScene,
    /// Neither the session nor the scene has a camera.
    #[error("no camera: the scene has none and none was set")]
    NoCamera,
    /// The camera or settings are invalid (the snapshot cannot be made).
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    /// The step, or the film's read-back, failed.
    #[error(transparent)]
    Step(#[from] StepError),
}

/// The pixel format of [`Session::frame`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameFormat {
    /// sRGB-encoded RGBA8, alpha 255, rows top to bottom.
    Rgba8,
    /// Linear RGBA floats, alpha 1, rows top to bottom.
    Rgba32F,
}

/// The session's image, borrowed until the next call that changes the session.
#[derive(Debug, Clone, Copy)]
pub struct FrameView<'a> {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Passes (samples per pixel) the image holds.
    pub samples: u32,
    data: FrameData<'a>,
}

#[derive(Debug, Clone, Copy)]
enum FrameData<'a> {
    Rgba8(&'a [u8]),
    Rgba32F(&'a [f32]),
}

impl<'a> FrameView<'a> {
    /// The pixels, when the view is RGBA8.
    #[must_use]
    pub fn rgba8(&self) -> Option<&'a [u8]> {
        match self.data {
            FrameData::Rgba8(d) => Some(d),
            FrameData::Rgba32F(_) => None,
        }
    }

    /// The pixels, when the view is RGBA floats.
    #[must_use]
    pub fn rgba32f(&self) -> Option<&'a [f32]> {
        match self.data {
            FrameData::Rgba32F(d) => Some(d),
            FrameData::Rgba8(_) => None,
        }
    }
}

/// A host's rendering session over one [`Renderer`] (CPU or GPU).
#[derive(Debug)]
pub struct Session {
    renderer: Renderer,
    scene: Option<Arc<Scene>>,
    camera: Option<CameraDesc>,
    settings: RenderSettings,
    /// The snapshot of the current scene, camera and settings; `None` after a change
    /// (rebuilt by the next step).
    snapshot: Option<Snapshot>,
    rgba8: Vec<u8>,
    rgba32f: Vec<f32>,
    /// Passes complete after the last step.
    passes: u32,
}

impl Session {
    /// A session on `renderer` with default settings and no scene yet.
    #[must_use]
    pub fn new(renderer: Renderer) -> Self {
        Self {
            renderer,
            scene: None,
            camera: None,
            settings: RenderSettings::default(),
            snapshot: None,
            rgba8: Vec::new(),
            rgba32f: Vec::new(),
            passes: 0,
        }
    }

    /// Sets the scene. A scene with the same content as the current one (a host that
    /// rebuilds its scene every frame) keeps the film converging; a changed one
    /// restarts it, and the acceleration structures are rebuilt only as far as they
    /// changed (BLASes are cached by mesh content, the curvature grid by medium).
    pub fn set_scene(&mut self, scene: Arc<Scene>) {
        if self.scene.as_ref().is_some_and(|s| Arc::ptr_eq(s, &scene)) {
            return;
        }
        self.scene = Some(scene);
        self.snapshot = None;
    }

    /// Sets the camera (otherwise the scene's own is used).
    pub fn set_camera(&mut self, camera: CameraDesc) {
        if self.camera != Some(camera) {
            self.camera = Some(camera);
            self.snapshot = None;
        }
    }

    /// Sets the image settings (size, samples per pixel, bounces, seed, tiles).
    pub fn set_settings(&mut self, settings: RenderSettings) {
        if self.settings != settings {
            self.settings = settings;
            self.snapshot = None;
        }
    }

    /// The settings.
    #[must_use]
    pub fn settings(&self) -> &RenderSettings {
        &self.settings
    }

    /// Renders for about `budget` (at least one tile after a step that finished
    /// none) and returns what the step did; `token` cancels it at the next safe
    /// point.
    ///
    /// # Errors
    /// [`SessionError::NoScene`], [`SessionError::NoCamera`],
    /// [`SessionError::Snapshot`] for an invalid camera or settings, or the renderer's
    /// error ([`SessionError::Step`]).
    pub fn step(
        &mut self,
        budget: Duration,
        token: &CancelToken,
    ) -> Result<StepReport, SessionError> {
        self.step_with(budget, token, false)
    }

    fn step_with(
        &mut self,
        budget: Duration,
        token: &CancelToken,
        whole: bool,
    ) -> Result<StepReport, SessionError> {
        self.ensure_snapshot()?;
        let Some(snapshot) = self.snapshot.as_ref() else {
            return Err(SessionError::NoScene);
        };
        let report = if whole {
            self.renderer.render_step_whole(snapshot, budget, token)?
        } else {
            self.renderer.render_step(snapshot, budget, token)?
        };
        self.passes = report.passes_done;
        Ok(report)
    }

    /// The [ground truth](crate::truth) of the current scene, camera and settings
    /// (see [`Renderer::ground_truth`]).
    ///
    /// # Errors
    /// As [`Session::step`].
    pub fn ground_truth(&mut self) -> Result<crate::truth::GroundTruth, SessionError> {
        self.ensure_snapshot()?;
        let Some(snapshot) = self.snapshot.as_ref() else {
            return Err(SessionError::NoScene);
        };
        Ok(self.renderer.ground_truth(snapshot)?)
    }

    /// The snapshot of the current scene, camera and settings, made if needed.
    fn ensure_snapshot(&mut self) -> Result<(), SessionError> {
        if self.snapshot.is_none() {
            let scene = self.scene.clone().ok_or(SessionError::NoScene)?;
            let camera = self.camera.or(scene.camera).ok_or(SessionError::NoCamera)?;
            self.snapshot = Some(Snapshot::with_camera(scene, camera, self.settings)?);
        }
        Ok(())
    }

    /// The snapshot the next step renders (made now if needed): its camera, scene
    /// and settings.
    ///
    /// # Errors
    /// [`SessionError::NoScene`], [`SessionError::NoCamera`] or
    /// [`SessionError::Snapshot`].
    pub fn snapshot(&mut self) -> Result<&Snapshot, SessionError> {
        self.ensure_snapshot()?;
        self.snapshot.as_ref().ok_or(SessionError::NoScene)
    }

    /// Steps until the frame has all its samples (or `token` is cancelled), calling
    /// `progress` after each step; offline, every tile started finishes
    /// ([`Renderer::render_step_whole`]). A frame already complete is not rendered
    /// again.
    ///
    /// # Errors
    /// As [`Session::step`].
    pub fn render_all(
        &mut self,
        token: &CancelToken,
        mut progress: impl FnMut(&StepReport),
    ) -> Result<(), SessionError> {
        loop {
            let report = self.step_with(Duration::from_millis(250), token, true)?;
            progress(&report);
            if report.frame_complete || token.is_cancelled() {
                return Ok(());
            }
        }
    }

    /// Renders with what `ready` holds (built ahead, e.g. by a batch that keeps
    /// scenes resident): its scene becomes the session's, and no stage 1-2 work nor
    /// upload is repeated for it (see [`Renderer::adopt`]).
    pub fn adopt(&mut self, ready: &ReadyScene) {
        self.renderer.adopt(ready);
        self.set_scene(Arc::clone(ready.scene()));
    }

    /// Drops the renderer's hold on the scene's acceleration structures and GPU
    /// buffers, and the film (a host freeing device memory after an out-of-memory
    /// error); the next step prepares the scene again and starts a new film.
    pub fn forget_scene(&mut self) {
        self.renderer.forget_scene();
        self.snapshot = None;
    }

    /// Drops the scene itself as well (nothing of it stays held by the session, a
    /// batch worker between frames); the next step needs a new one.
    pub fn clear_scene(&mut self) {
        self.forget_scene();
        self.scene = None;
    }

    /// The image in `format`, written into a buffer the session keeps (no allocation
    /// once it has grown to the image size); on the GPU backend with the film kept on
    /// the device ([`Renderer::keep_film_on_gpu`]) it is read back first.
    ///
    /// # Errors
    /// [`SessionError::Step`] when the read-back fails.
    pub fn frame(&mut self, format: FrameFormat) -> Result<FrameView<'_>, SessionError> {
        let film = self.renderer.sync_film().map_err(StepError::from)?;
        let (width, height) = (film.width(), film.height());
        let samples = self.passes;
        let data = match format {
            FrameFormat::Rgba8 => {
                let byte = |v: f32| (linear_to_srgb(v).clamp(0.0, 1.0) * 255.0 + 0.5) as u8;
                self.rgba8.clear();
                film.for_each_mean(|p| {
                    self.rgba8
                        .extend_from_slice(&[byte(p[0]), byte(p[1]), byte(p[2]), 255]);
                });
                FrameData::Rgba8(&self.rgba8)
            }
            FrameFormat::Rgba32F => {
                self.rgba32f.clear();
                film.for_each_mean(|p| self.rgba32f.extend_from_slice(&[p[0], p[1], p[2], 1.0]));
                FrameData::Rgba32F(&self.rgba32f)
            }
        };
        Ok(FrameView {
            width,
            height,
            samples,
            data,
        })
    }

    /// The renderer (its film, GPU context, caches).
    #[must_use]
    pub fn renderer(&self) -> &Renderer {
        &self.renderer
    }

    /// The renderer, to change how it presents ([`Renderer::keep_film_on_gpu`]).
    pub fn renderer_mut(&mut self) -> &mut Renderer {
        &mut self.renderer
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::{Pool, PoolConfig};

    fn session() -> Session {
        Session::new(Renderer::new(Arc::new(
            Pool::new(PoolConfig::with_threads(2)).unwrap(),
        )))
    }

    fn scene(camera: bool) -> Arc<Scene> {
        let cam = if camera {
            "camera: Some((position: (0.0, 0.0, -5.0), look_at: (0.0, 0.0, 0.0), fov_deg: 40.0)),"
        } else {
            ""
        };
        let text = format!(
            r#"({cam}
            meshes: [(name: "ball", source: Sphere(radius: 1.0))],
            instances: [(mesh: "ball")],
            lights: [Directional(direction: (0.0, -1.0, 1.0), irradiance: (1.0, 1.0, 1.0))],
        )"#
        );
        Arc::new(Scene::from_str(&text, "inline.ron".as_ref()).unwrap())
    }

    #[test]
    fn missing_parts_are_typed_errors() {
        let mut s = session();
        let token = CancelToken::new();
        assert!(matches!(
            s.step(Duration::ZERO, &token),
            Err(SessionError::NoScene)
        ));
        s.set_scene(scene(false));
        assert!(matches!(
            s.step(Duration::ZERO, &token),
            Err(SessionError::NoCamera)
        ));
        s.set_camera(CameraDesc {
            position: glam::DVec3::new(0.0, 0.0, -5.0),
            look_at: glam::DVec3::ZERO,
            up: glam::DVec3::Y,
            fov_deg: 40.0,
            observer: Default::default(),
        });
        s.set_settings(RenderSettings {
            width: 0,
            ..RenderSettings::default()
        });
        assert!(matches!(
            s.step(Duration::ZERO, &token),
            Err(SessionError::Snapshot(_))
        ));
    }

    #[test]
    fn frames_reuse_their_buffers_and_follow_the_film() {
        let mut s = session();
        s.set_scene(scene(true));
        s.set_settings(RenderSettings {
            width: 16,
            height: 12,
            spp: 3,
            ..RenderSettings::default()
        });
        let token = CancelToken::new();
        s.step(Duration::from_secs(5), &token).unwrap();
        let first = s
            .frame(FrameFormat::Rgba8)
            .unwrap()
            .rgba8()
            .unwrap()
            .as_ptr();
        while !s
            .step(Duration::from_secs(5), &token)
            .unwrap()
            .frame_complete
        {}
        let view = s.frame(FrameFormat::Rgba8).unwrap();
        assert_eq!(view.samples, 3);
        assert_eq!(view.rgba8().unwrap().as_ptr(), first, "a new buffer");
        let bytes = view.rgba8().unwrap().to_vec();
        let floats = s
            .frame(FrameFormat::Rgba32F)
            .unwrap()
            .rgba32f()
            .unwrap()
            .to_vec();
        let film = s.renderer().film().rgb();
        for ((b, f), p) in bytes.chunks(4).zip(floats.chunks(4)).zip(&film) {
            assert_eq!(&f[..3], p);
            let byte = |v: f32| (linear_to_srgb(v).clamp(0.0, 1.0) * 255.0 + 0.5) as u8;
            assert_eq!(b, [byte(p[0]), byte(p[1]), byte(p[2]), 255]);
        }
        assert!(film.iter().any(|p| p[0] > 0.0), "a black image");
    }

    #[test]
    fn render_all_finishes_the_frame_once_and_clear_scene_lets_go() {
        let mut s = session();
        let scene = scene(true);
        s.set_scene(Arc::clone(&scene));
        s.set_settings(RenderSettings {
            width: 16,
            height: 12,
            spp: 2,
            ..RenderSettings::default()
        });
        let token = CancelToken::new();
        let mut steps = 0;
        s.render_all(&token, |_| steps += 1).unwrap();
        assert!(steps >= 1);
        assert_eq!(s.renderer().film().samples(8, 6), 2);
        // A complete frame is not rendered again.
        let mut again = Vec::new();
        s.render_all(&token, |r| again.push(r.samples)).unwrap();
        assert_eq!(again, [0]);
        // Forgetting the structures restarts the frame on the same scene.
        s.forget_scene();
        let mut samples = 0;
        s.render_all(&token, |r| samples += r.samples).unwrap();
        assert_eq!(samples, 16 * 12 * 2);
        // Clearing lets go of the scene itself.
        s.clear_scene();
        assert_eq!(Arc::strong_count(&scene), 1);
        assert!(matches!(
            s.render_all(&token, |_| {}),
            Err(SessionError::NoScene)
        ));
    }
}
