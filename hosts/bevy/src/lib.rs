//! Grin in a Bevy app: [`GrinPlugin`] renders the curved light of a Bevy scene with
//! Grin, progressively, within a time budget per frame, and shows the film as a Bevy
//! [`Image`].
//!
//! Put a [`GrinCamera`] on an entity with a transform and a perspective projection
//! (the view), [`GrinField`]s on entities (placed at the entity's translation),
//! and keep Bevy meshes, materials and lights as they are. Each frame the plugin
//! extracts the scene ([`extract`]: meshes as triangle lists, instances from global
//! transforms, `StandardMaterial`s mapped to Grin materials, directional and point
//! lights, the clear colour or a [`GrinEnvironment`]) into a Grin
//! [`Session`](renderer_core::session::Session), which keeps converging while
//! nothing visible changes and restarts when something does, rebuilding only what
//! changed: a moved entity rebuilds the TLAS, a changed mesh asset its BLAS. Then it
//! renders for the camera's budget, on Grin's CPU pool or on Bevy's own wgpu device
//! ([`GrinBackend::Gpu`]: the film is resolved into the image's texture on the
//! device, with no copy through the host), and writes the image the camera's
//! [`GrinFilm`] names. [`GrinStats`] has the progress and the telemetry.
//!
//! ```no_run
//! use bevy::prelude::*;
//! use grin_bevy::{GrinCamera, GrinField, GrinFilm, GrinPlugin};
//! use renderer_core::field::Luneburg;
//!
//! fn setup(
//!     mut commands: Commands,
//!     mut meshes: ResMut<Assets<Mesh>>,
//!     mut materials: ResMut<Assets<StandardMaterial>>,
//! ) {
//!     commands.spawn((
//!         Mesh3d(meshes.add(Cuboid::new(1.0, 1.0, 1.0))),
//!         MeshMaterial3d(materials.add(Color::srgb(0.8, 0.3, 0.2))),
//!         Transform::from_xyz(0.0, 0.0, -3.0),
//!     ));
//!     commands.spawn((DirectionalLight::default(), Transform::default().looking_to(Vec3::new(-1.0, -2.0, -1.0), Vec3::Y)));
//!     let lens = Luneburg { centre: glam::DVec3::ZERO, radius: 0.8 };
//!     commands.spawn((GrinField::new(lens), Transform::from_xyz(0.0, 0.0, -1.5)));
//!     // The view Grin renders (a transform, a perspective projection), and a 2-D
//!     // camera for the film's sprite.
//!     commands.spawn((GrinCamera::new(320, 240), Transform::from_xyz(0.0, 0.0, 2.0), Projection::default()));
//!     commands.spawn(Camera2d);
//! }
//!
//! // Show the film: a sprite of the image the camera's `GrinFilm` names.
//! fn show(mut commands: Commands, films: Query<&GrinFilm, Added<GrinFilm>>) {
//!     for film in &films {
//!         commands.spawn(Sprite::from_image(film.image.clone()));
//!     }
//! }
//!
//! App::new()
//!     .add_plugins((DefaultPlugins, GrinPlugin::default()))
//!     .add_systems(Startup, setup)
//!     .add_systems(Update, show)
//!     .run();
//! ```

#![deny(unsafe_code)]

use std::sync::Arc;
use std::time::Duration;

use bevy::prelude::*;
use renderer_core::RenderSettings;
use renderer_core::field::FieldKind;
use renderer_core::scene::{Environment, Material};

pub mod extract;
mod gpu;
pub mod room;
mod step;

pub use extract::ExtractError;

/// The plugin: extraction, the render step and the film's image each frame (in
/// `PostUpdate`, after transforms propagate). `units` converts Bevy's photometric
/// light units into Grin's ([`GrinUnits`]).
#[derive(Debug, Clone, Default)]
pub struct GrinPlugin {
    /// How Bevy's light values become Grin's.
    pub units: GrinUnits,
    /// Worker threads of Grin's CPU pool (0: one per core).
    pub threads: usize,
}

impl Plugin for GrinPlugin {
    fn build(&self, app: &mut App) {
        // A headless app without Bevy's renderer has no mesh, image or material
        // assets yet (initialising them again would drop the renderer's).
        if !app.world().contains_resource::<Assets<Mesh>>() {
            app.init_asset::<Mesh>();
        }
        if !app.world().contains_resource::<Assets<Image>>() {
            app.init_asset::<Image>();
        }
        if !app.world().contains_resource::<Assets<StandardMaterial>>() {
            app.init_asset::<StandardMaterial>();
        }
        app.insert_resource(self.units)
            .insert_resource(step::PoolThreads(self.threads))
            .init_resource::<GrinStats>()
            .init_resource::<extract::MeshCache>()
            .init_resource::<step::GrinState>()
            .add_systems(
                PostUpdate,
                (
                    step::attach_films,
                    extract::extract_scene,
                    step::render_step,
                    step::show_film,
                )
                    .chain()
                    .in_set(GrinSystems)
                    .after(bevy::transform::TransformSystems::Propagate),
            );
        gpu::build(app);
    }
}

/// A headless Bevy app with the plugin on `threads` CPU threads (0: one per core):
/// no window and no Bevy renderer (`MinimalPlugins`, assets, transforms), so Grin
/// renders on its CPU pool and the film is in the image's data. For tests, benches
/// and hosts that make images without a screen; call `update` to step it.
pub fn headless_app(threads: usize) -> App {
    let mut app = App::new();
    app.add_plugins((
        MinimalPlugins,
        AssetPlugin::default(),
        bevy::transform::TransformPlugin,
        GrinPlugin {
            threads,
            ..GrinPlugin::default()
        },
    ));
    app
}

/// The plugin's systems (in `PostUpdate`).
#[derive(SystemSet, Debug, Clone, PartialEq, Eq, Hash)]
pub struct GrinSystems;

/// Which Grin path renders a [`GrinCamera`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GrinBackend {
    /// Bevy's device when it is a hardware GPU, else Grin's CPU pool (said once):
    /// on a software adapter (lavapipe) the CPU path is the faster.
    #[default]
    Auto,
    /// Grin's CPU pool (deterministic; the image is copied into the Bevy image).
    Cpu,
    /// Bevy's own wgpu device (`RenderDevice`/`RenderQueue`): the film accumulates
    /// there and is resolved into the image's texture in place. Without Bevy's
    /// renderer (a headless app with no `RenderPlugin`) the CPU renders, said once.
    Gpu,
}

/// What a [`GrinCamera`] shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GrinAov {
    /// The rendered image (sRGB).
    #[default]
    Image,
    /// Path length to the first hit, grey from near (white) to the farthest hit.
    Depth,
    /// The first hit's normal, `0.5 + 0.5 n` as RGB.
    Normal,
    /// The first hit's instance, a colour per instance (black: no hit).
    Instance,
    /// Integrator segments per pixel, grey to the most.
    Segments,
}

/// The view Grin renders: an entity's `GlobalTransform` (looking along -Z, +Y up)
/// and its perspective `Projection` (vertical field of view; 45 degrees without
/// one). It needs no Bevy 3-D camera: show the film ([`GrinFilm`]) with a sprite or
/// a UI image under a 2-D camera.
#[derive(Component, Debug, Clone)]
pub struct GrinCamera {
    /// Image size, samples per pixel, seed, bounces, tiles.
    pub settings: RenderSettings,
    /// Rendering time per Bevy frame (a step renders at least one tile).
    pub budget: Duration,
    /// Which path renders.
    pub backend: GrinBackend,
    /// What the film image shows.
    pub aov: GrinAov,
}

impl GrinCamera {
    /// A camera of `width` x `height` pixels, 16 samples per pixel, 8 ms a frame, on
    /// [`GrinBackend::Auto`], showing the image.
    #[must_use]
    pub fn new(width: u32, height: u32) -> Self {
        Self {
            settings: RenderSettings {
                width,
                height,
                ..RenderSettings::default()
            },
            budget: Duration::from_millis(8),
            backend: GrinBackend::Auto,
            aov: GrinAov::Image,
        }
    }

    /// The same with `spp` samples per pixel.
    #[must_use]
    pub fn with_spp(mut self, spp: u32) -> Self {
        self.settings.spp = spp;
        self
    }

    /// The same with `budget` per frame.
    #[must_use]
    pub fn with_budget(mut self, budget: Duration) -> Self {
        self.budget = budget;
        self
    }

    /// The same on `backend`.
    #[must_use]
    pub fn with_backend(mut self, backend: GrinBackend) -> Self {
        self.backend = backend;
        self
    }
}

/// The image a [`GrinCamera`] renders into (added by the plugin when missing; give
/// one to render into an image of your own of the camera's size, RGBA8 sRGB).
#[derive(Component, Debug, Clone)]
pub struct GrinFilm {
    /// The film, sRGB RGBA8, rows top to bottom.
    pub image: Handle<Image>,
}

/// A Grin field on an entity: its parameters as a scene file writes them, moved by
/// the entity's global translation (rotation and scale are not applied: the field's
/// own parameters give its size). Grid fields need their samples loaded
/// ([`renderer_core::field::Grid::grid`]).
#[derive(Component, Debug, Clone)]
pub struct GrinField(pub FieldKind);

impl GrinField {
    /// A field of any kind (`Luneburg`, `MaxwellFishEye`, `LinearGradient`,
    /// `GaussianBlob`, `Grid`, `Schwarzschild`, `RadialProfile`).
    #[must_use]
    pub fn new(field: impl Into<FieldKind>) -> Self {
        Self(field.into())
    }
}

/// A Grin material for an entity, overriding the mapping of its `StandardMaterial`
/// ([`extract::material_of`]).
#[derive(Component, Debug, Clone)]
pub struct GrinMaterial(pub Material);

/// The environment Grin sees (a star field, a sky, an equirectangular map); without
/// it, the clear colour, as a constant radiance.
#[derive(Resource, Debug, Clone)]
pub struct GrinEnvironment(pub Environment);

/// How Bevy's photometric values become Grin's radiometric ones: a directional
/// light's `illuminance` (lux) and a `StandardMaterial`'s `emissive` (nits) are
/// divided by `per_unit`, a point light's `intensity` (lumens) by `4 pi per_unit`
/// (lumens over the sphere: candela). The default, 10,000, maps Bevy's default
/// daylight (`AMBIENT_DAYLIGHT`, 10,000 lux) to Grin's irradiance 1.
#[derive(Resource, Debug, Clone, Copy, PartialEq)]
pub struct GrinUnits {
    /// Bevy units per Grin unit.
    pub per_unit: f32,
}

impl Default for GrinUnits {
    fn default() -> Self {
        Self { per_unit: 10_000.0 }
    }
}

/// Progress and telemetry of the plugin, updated each frame.
#[derive(Resource, Debug, Clone, Default)]
pub struct GrinStats {
    /// Samples per pixel in the film.
    pub spp: u32,
    /// Samples per pixel the camera asks for.
    pub spp_target: u32,
    /// Whether the film has all its samples.
    pub complete: bool,
    /// Rays per second of the last step (0 when it rendered none).
    pub rays_per_s: f64,
    /// Rays traced since the plugin started.
    pub rays: u64,
    /// The last step's stages and their wall times.
    pub stages: Vec<(String, Duration)>,
    /// The last step's wall time.
    pub step: Duration,
    /// The last extraction's wall time (queries to the session's updated scene).
    pub extract: Duration,
    /// Instances in the scene.
    pub instances: usize,
    /// Films started (the first, and one per visible change).
    pub films: u64,
    /// Scenes prepared whole (BLASes, field grid, TLAS).
    pub full_prepares: u64,
    /// Scenes whose TLAS alone was rebuilt (entities moved, came or went).
    pub tlas_rebuilds: u64,
    /// BLASes built (one per mesh content; a changed mesh asset builds one).
    pub blas_builds: u64,
    /// Mesh assets converted to Grin meshes.
    pub mesh_uploads: u64,
    /// What renders ("CPU (2 threads)", "GPU llvmpipe (Bevy's device)").
    pub backend: String,
    /// The last extraction or render error, while it lasts (the last good scene
    /// keeps rendering).
    pub error: Option<String>,
}

/// The Grin mesh of one Bevy mesh, shared by the instances that use it.
pub type GrinMesh = Arc<renderer_core::accel::Mesh>;
