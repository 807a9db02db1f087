//! The session, the render step per frame and the film's image.

use std::sync::Arc;

use bevy::asset::RenderAssetUsages;
use bevy::prelude::*;
use bevy::render::render_resource::{
    Extent3d, TextureDimension, TextureFormat, TextureUsages, TextureViewDescriptor,
};
use bevy::render::renderer::{RenderAdapterInfo, RenderDevice, RenderQueue};
use renderer_core::gpu::GpuContext;
use renderer_core::scene::CameraDesc;
use renderer_core::{CancelToken, Film, FrameFormat, Pool, PoolConfig, Renderer, Scene, Session};

use crate::gpu::DeviceFilm;
use crate::{GrinAov, GrinBackend, GrinCamera, GrinFilm, GrinStats};

/// Threads of the CPU pool (0: one per core).
#[derive(Resource, Debug, Clone, Copy)]
pub(crate) struct PoolThreads(pub(crate) usize);

/// The plugin's Grin session and what it renders next.
#[derive(Resource, Debug, Default)]
pub(crate) struct GrinState {
    session: Option<Session>,
    /// The backend the session renders on (as asked; the CPU may stand in).
    backend: Option<GrinBackend>,
    /// Whether the film stays on Bevy's device.
    on_device: bool,
    pool: Option<Arc<Pool>>,
    /// The scene and camera the next step renders.
    next: Option<(Arc<Scene>, CameraDesc)>,
    token: CancelToken,
    /// The last render step's error, while it lasts.
    error: Option<String>,
}

impl GrinState {
    pub(crate) fn set_scene(&mut self, scene: Arc<Scene>, camera: CameraDesc) {
        self.next = Some((scene, camera));
    }
}

/// Gives each [`GrinCamera`] without a [`GrinFilm`] an image of its size.
pub(crate) fn attach_films(
    mut commands: Commands<'_, '_>,
    cameras: Query<'_, '_, (Entity, &GrinCamera), Without<GrinFilm>>,
    mut images: ResMut<'_, Assets<Image>>,
) {
    for (entity, camera) in &cameras {
        let image = images.add(film_image(camera.settings.width, camera.settings.height));
        commands.entity(entity).insert(GrinFilm { image });
    }
}

/// An image a film is shown in: RGBA8 holding sRGB bytes, sampled through an sRGB
/// view, and writable as a storage texture (the GPU path resolves the film into it).
#[must_use]
pub(crate) fn film_image(width: u32, height: u32) -> Image {
    let mut image = Image::new_fill(
        Extent3d {
            width: width.max(1),
            height: height.max(1),
            depth_or_array_layers: 1,
        },
        TextureDimension::D2,
        &[0, 0, 0, 255],
        TextureFormat::Rgba8Unorm,
        RenderAssetUsages::default(),
    );
    image.texture_descriptor.usage |= TextureUsages::STORAGE_BINDING;
    image.texture_descriptor.view_formats = &[TextureFormat::Rgba8UnormSrgb];
    // The view Bevy samples: sRGB, for sampling only (an sRGB view cannot be a
    // storage binding, the texture's other use).
    image.texture_view_descriptor = Some(TextureViewDescriptor {
        format: Some(TextureFormat::Rgba8UnormSrgb),
        usage: Some(TextureUsages::TEXTURE_BINDING),
        ..TextureViewDescriptor::default()
    });
    image
}

/// The GPU device Bevy renders on, when its renderer runs.
#[derive(bevy::ecs::system::SystemParam)]
pub(crate) struct BevyDevice<'w> {
    device: Option<Res<'w, RenderDevice>>,
    queue: Option<Res<'w, RenderQueue>>,
    info: Option<Res<'w, RenderAdapterInfo>>,
}

/// Renders one step of the first Grin camera within its budget.
pub(crate) fn render_step(
    mut state: ResMut<'_, GrinState>,
    cameras: Query<'_, '_, (Entity, &GrinCamera)>,
    threads: Res<'_, PoolThreads>,
    bevy_device: BevyDevice<'_>,
    mut stats: ResMut<'_, GrinStats>,
) {
    let Some((_, camera)) = cameras.iter().min_by_key(|(e, _)| *e) else {
        return;
    };
    if state.backend != Some(camera.backend) {
        open_session(
            &mut state,
            camera.backend,
            threads.0,
            &bevy_device,
            &mut stats,
        );
    }
    let GrinState {
        session,
        next,
        token,
        error,
        ..
    } = &mut *state;
    let Some(session) = session.as_mut() else {
        return;
    };
    if let Some((scene, desc)) = next.take() {
        session.set_scene(scene);
        session.set_camera(desc);
    }
    session.set_settings(camera.settings);
    match session.step(camera.budget, token) {
        Ok(report) => {
            stats.spp = report.passes_done;
            stats.spp_target = camera.settings.spp;
            stats.complete = report.frame_complete;
            stats.rays += report.rays;
            stats.step = report.wall;
            stats.rays_per_s = if report.wall.is_zero() {
                0.0
            } else {
                report.rays as f64 / report.wall.as_secs_f64()
            };
            stats.stages = report
                .stages
                .iter()
                .map(|s| (s.name.clone(), s.wall))
                .collect();
            if let Some(old) = error.take()
                && stats.error.as_deref() == Some(old.as_str())
            {
                stats.error = None;
            }
            let c = session.renderer().counters();
            stats.films = c.films;
            stats.full_prepares = c.prepares.full;
            stats.tlas_rebuilds = c.prepares.tlas_only;
            stats.blas_builds = c.blas_builds;
        }
        // No scene yet (nothing extracted): nothing to render.
        Err(renderer_core::SessionError::NoScene) => {}
        Err(e) => {
            let message = format!("render step: {e}");
            if error.as_deref() != Some(message.as_str()) {
                error!("grin: {message}");
            }
            *error = Some(message.clone());
            stats.error = Some(message);
        }
    }
}

/// A session on `backend`: Bevy's device for the GPU when Bevy's renderer runs and
/// Grin can use it, else the CPU (said once).
fn open_session(
    state: &mut GrinState,
    backend: GrinBackend,
    threads: usize,
    bevy_device: &BevyDevice<'_>,
    stats: &mut GrinStats,
) {
    let pool = match &state.pool {
        Some(p) => Arc::clone(p),
        None => {
            let config = if threads == 0 {
                PoolConfig::default()
            } else {
                PoolConfig::with_threads(threads)
            };
            match Pool::new(config) {
                Ok(p) => Arc::new(p),
                Err(e) => {
                    error!("grin: cannot start the CPU pool: {e}");
                    stats.error = Some(format!("CPU pool: {e}"));
                    return;
                }
            }
        }
    };
    state.pool = Some(Arc::clone(&pool));
    state.backend = Some(backend);
    state.on_device = false;
    let cpu = |why: &str, stats: &mut GrinStats| {
        if !why.is_empty() {
            info!("grin: {why}; rendering on the CPU");
        }
        stats.backend = format!("CPU ({} threads)", pool.threads());
        Session::new(Renderer::new(Arc::clone(&pool)))
    };
    let session = match backend {
        GrinBackend::Cpu => cpu("", stats),
        GrinBackend::Auto
            if bevy_device
                .info
                .as_ref()
                .is_none_or(|i| i.device_type == wgpu::DeviceType::Cpu) =>
        {
            let why = match &bevy_device.info {
                Some(i) => format!("Bevy renders on a software adapter ({})", i.name),
                None => "Bevy's renderer is not running (no RenderDevice)".to_string(),
            };
            cpu(&why, stats)
        }
        GrinBackend::Gpu | GrinBackend::Auto => {
            match (&bevy_device.device, &bevy_device.queue, &bevy_device.info) {
                (Some(device), Some(queue), Some(info)) => {
                    let info: &wgpu::AdapterInfo = info;
                    let queue: &wgpu::Queue = queue;
                    match GpuContext::from_device(
                        info.clone(),
                        device.wgpu_device().clone(),
                        queue.clone(),
                    ) {
                        Ok(ctx) => {
                            let mut r = Renderer::with_gpu(Arc::clone(&pool), Arc::new(ctx));
                            r.keep_film_on_gpu(true);
                            state.on_device = true;
                            stats.backend = format!("GPU {} (Bevy's device)", info.name);
                            Session::new(r)
                        }
                        Err(e) => cpu(&format!("Grin cannot render on Bevy's device: {e}"), stats),
                    }
                }
                _ => cpu("Bevy's renderer is not running (no RenderDevice)", stats),
            }
        }
    };
    state.session = Some(session);
}

/// Writes the film into the camera's image: on the device (the render world
/// resolves it) or through the host.
pub(crate) fn show_film(
    mut state: ResMut<'_, GrinState>,
    cameras: Query<'_, '_, (Entity, &GrinCamera, &GrinFilm)>,
    mut images: ResMut<'_, Assets<Image>>,
    mut device_film: ResMut<'_, DeviceFilm>,
    mut stats: ResMut<'_, GrinStats>,
) {
    let Some((_, camera, film)) = cameras.iter().min_by_key(|(e, ..)| *e) else {
        return;
    };
    let on_device = state.on_device;
    let Some(session) = state.session.as_mut() else {
        return;
    };
    let (w, h) = (camera.settings.width, camera.settings.height);
    // A camera whose size changed gets an image of the new size.
    if images
        .get(&film.image)
        .is_some_and(|i| i.width() != w || i.height() != h)
        && let Some(mut image) = images.get_mut(&film.image)
    {
        *image = film_image(w, h);
    }
    if on_device
        && camera.aov == GrinAov::Image
        && let Some(view) = session.renderer().gpu_film()
    {
        device_film.set(
            view.buffer.clone(),
            view.width,
            view.height,
            film.image.id(),
        );
        return;
    }
    device_film.clear();
    let pixels = match camera.aov {
        GrinAov::Image => match session.frame(FrameFormat::Rgba8) {
            Ok(view) if view.width == w && view.height == h => view.rgba8().map(<[u8]>::to_vec),
            Ok(_) => None,
            Err(e) => {
                stats.error = Some(format!("film: {e}"));
                None
            }
        },
        aov => match session.renderer_mut().sync_film() {
            Ok(f) if f.width() == w && f.height() == h => Some(aov_rgba(f, aov)),
            Ok(_) => None,
            Err(e) => {
                stats.error = Some(format!("film: {e}"));
                None
            }
        },
    };
    let Some(pixels) = pixels else {
        return;
    };
    if let Some(mut image) = images.get_mut(&film.image) {
        image.data = Some(pixels);
    }
}

/// An AOV of `film` as RGBA8 (see [`GrinAov`]).
#[must_use]
pub(crate) fn aov_rgba(film: &Film, aov: GrinAov) -> Vec<u8> {
    let byte = |v: f32| (v.clamp(0.0, 1.0) * 255.0 + 0.5) as u8;
    let grey = |values: Vec<f32>| -> Vec<u8> {
        let max = values
            .iter()
            .copied()
            .filter(|v| v.is_finite())
            .fold(0.0f32, f32::max);
        let scale = if max > 0.0 { 1.0 / max } else { 0.0 };
        values
            .iter()
            .flat_map(|&v| {
                let g = byte(v * scale);
                [g, g, g, 255]
            })
            .collect()
    };
    match aov {
        GrinAov::Image => {
            let mut out = Vec::new();
            film.for_each_mean(|p| {
                let s = p.map(|c| byte(renderer_core::texture::linear_to_srgb(c)));
                out.extend_from_slice(&[s[0], s[1], s[2], 255]);
            });
            out
        }
        GrinAov::Depth => {
            // Near is bright: 1 - d / max over hits, black where nothing was hit.
            let depth = film.depth();
            let max = depth
                .iter()
                .copied()
                .filter(|v| v.is_finite() && *v > 0.0)
                .fold(0.0f32, f32::max);
            depth
                .iter()
                .flat_map(|&d| {
                    let g = if d > 0.0 && d.is_finite() && max > 0.0 {
                        byte(1.0 - 0.8 * d / max)
                    } else {
                        0
                    };
                    [g, g, g, 255]
                })
                .collect()
        }
        GrinAov::Normal => film
            .normal()
            .iter()
            .flat_map(|n| {
                if *n == [0.0; 3] {
                    [0, 0, 0, 255]
                } else {
                    [
                        byte(0.5 + 0.5 * n[0]),
                        byte(0.5 + 0.5 * n[1]),
                        byte(0.5 + 0.5 * n[2]),
                        255,
                    ]
                }
            })
            .collect(),
        GrinAov::Instance => film
            .instance()
            .iter()
            .flat_map(|&i| {
                if i == u32::MAX {
                    [0, 0, 0, 255]
                } else {
                    // A well-spread colour per id (golden-ratio hue steps).
                    let h = (i as f32 * 0.618_034).fract();
                    let c = |k: f32| byte(0.5 + 0.5 * (std::f32::consts::TAU * (h + k)).cos());
                    [c(0.0), c(1.0 / 3.0), c(2.0 / 3.0), 255]
                }
            })
            .collect(),
        GrinAov::Segments => grey(film.segments()),
    }
}
