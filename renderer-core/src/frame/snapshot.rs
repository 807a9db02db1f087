//! Stage 0: the snapshot, everything a frame reads, immutable and `Arc`-shared.

use std::sync::Arc;

use scheduler::order::Order;

use crate::camera::Camera;
use crate::scene::{CameraDesc, Scene};

/// Image and sampling settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RenderSettings {
    /// Image width in pixels.
    pub width: u32,
    /// Image height in pixels.
    pub height: u32,
    /// Samples per pixel for a finished frame.
    pub spp: u32,
    /// Seed of every random choice.
    pub seed: u64,
    /// Tile size in pixels (16x16 and 32x16 are the usual ones).
    pub tile: (u32, u32),
    /// The order tiles start in.
    pub order: Order,
    /// Scattering events after the first hit (0: direct lighting only).
    pub max_bounces: u32,
}

impl Default for RenderSettings {
    fn default() -> Self {
        Self {
            width: 320,
            height: 240,
            spp: 16,
            seed: 0,
            tile: (16, 16),
            order: Order::CentreFirst,
            max_bounces: 4,
        }
    }
}

/// Why a snapshot cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// The scene has no camera.
    #[error("the scene has no camera")]
    NoCamera,
    /// Width, height or samples per pixel is zero.
    #[error("image size {width}x{height} with {spp} spp: all must be at least 1")]
    EmptyImage {
        /// Width.
        width: u32,
        /// Height.
        height: u32,
        /// Samples per pixel.
        spp: u32,
    },
    /// A tile side is zero.
    #[error("tile size {0}x{1}: both must be at least 1")]
    EmptyTile(u32, u32),
}

/// Stage 0: everything a frame reads, immutable and cheap to share: the scene, the
/// camera and the settings.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub(super) scene: Arc<Scene>,
    pub(super) camera: Camera,
    pub(super) settings: RenderSettings,
}

impl Snapshot {
    /// A snapshot of `scene` seen by its own camera.
    ///
    /// # Errors
    /// [`SnapshotError`] for a scene without camera, an empty image or tile.
    pub fn new(scene: Arc<Scene>, settings: RenderSettings) -> Result<Self, SnapshotError> {
        let desc: CameraDesc = scene.camera.ok_or(SnapshotError::NoCamera)?;
        Self::with_camera(scene, desc, settings)
    }

    /// A snapshot of `scene` seen by `camera` (a host moving its own camera).
    ///
    /// # Errors
    /// [`SnapshotError`] for an empty image or tile.
    pub fn with_camera(
        scene: Arc<Scene>,
        camera: CameraDesc,
        settings: RenderSettings,
    ) -> Result<Self, SnapshotError> {
        if settings.width == 0 || settings.height == 0 || settings.spp == 0 {
            return Err(SnapshotError::EmptyImage {
                width: settings.width,
                height: settings.height,
                spp: settings.spp,
            });
        }
        if settings.tile.0 == 0 || settings.tile.1 == 0 {
            return Err(SnapshotError::EmptyTile(settings.tile.0, settings.tile.1));
        }
        let camera = Camera::new(&camera, settings.width, settings.height, &scene.medium);
        Ok(Self {
            scene,
            camera,
            settings,
        })
    }

    /// The settings.
    #[must_use]
    pub fn settings(&self) -> &RenderSettings {
        &self.settings
    }

    /// The scene.
    #[must_use]
    pub fn scene(&self) -> &Arc<Scene> {
        &self.scene
    }

    /// The camera.
    #[must_use]
    pub fn camera(&self) -> &Camera {
        &self.camera
    }

    /// Whether `other` shows the same image (the same scene, by identity or by
    /// content ([`Scene::same_content`]), camera and settings): then a renderer keeps
    /// accumulating samples instead of starting over. A host that rebuilds an
    /// unchanged scene every frame keeps converging.
    #[must_use]
    pub fn same_frame(&self, other: &Self) -> bool {
        self.camera == other.camera
            && self.settings == other.settings
            && (Arc::ptr_eq(&self.scene, &other.scene) || self.scene.same_content(&other.scene))
    }
}
