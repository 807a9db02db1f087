//! The camera: a pinhole that turns pixel positions into rays. Near a mass it is a
//! static observer: pixel directions are laid out in the observer's local orthonormal
//! frame and mapped to coordinate directions
//! ([`crate::integrator::static_observer_direction`]), so a
//! black hole's shadow has the angular size a real observer sees.

use glam::DVec3;

use crate::field::Medium;
use crate::integrator::{RayCone, static_observer_direction};
use crate::scene::CameraDesc;

/// A camera for an image of `width` x `height` pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Camera {
    position: DVec3,
    forward: DVec3,
    right: DVec3,
    up: DVec3,
    tan_half: f64,
    width: u32,
    height: u32,
    observer: Option<(DVec3, f64)>,
}

impl Camera {
    /// A camera from its description, for `medium` (which decides whether it is a
    /// static observer: when exactly one mass's region holds the camera).
    #[must_use]
    pub fn new(desc: &CameraDesc, width: u32, height: u32, medium: &Medium) -> Self {
        let forward = (desc.look_at - desc.position).normalize();
        let right = forward.cross(desc.up).normalize();
        let up = right.cross(forward);
        let masses: Vec<(DVec3, f64)> = medium
            .masses()
            .filter(|m| (desc.position - m.centre).length() < m.extent)
            .map(|m| (m.centre, m.rs))
            .collect();
        Self {
            position: desc.position,
            forward,
            right,
            up,
            tan_half: (desc.fov_deg.to_radians() / 2.0).tan(),
            width: width.max(1),
            height: height.max(1),
            observer: (masses.len() == 1).then(|| masses[0]),
        }
    }

    /// Eye position.
    #[must_use]
    pub fn position(&self) -> DVec3 {
        self.position
    }

    /// The camera's orthonormal frame in world coordinates: right, up and forward
    /// (image x grows to the right, image y downwards).
    #[must_use]
    pub fn basis(&self) -> [DVec3; 3] {
        [self.right, self.up, self.forward]
    }

    /// Image size in pixels.
    #[must_use]
    pub fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    /// Focal length in pixels (the same horizontally and vertically: square pixels):
    /// a direction `(a, b, 1)` in the camera's frame (right, down, forward) meets the
    /// image at `(cx + f a, cy + f b)`, with `(cx, cy) = (width / 2, height / 2)` in
    /// coordinates where pixel `(i, j)`'s centre is `(i + 0.5, j + 0.5)`. Near a mass
    /// ([`Camera::is_static_observer`]) this describes the observer's own frame.
    #[must_use]
    pub fn focal_pixels(&self) -> f64 {
        f64::from(self.height) / 2.0 / self.tan_half
    }

    /// Whether pixel directions are mapped from a static observer's frame.
    #[must_use]
    pub fn is_static_observer(&self) -> bool {
        self.observer.is_some()
    }

    /// The angle a pixel subtends (radians), at the image's corner where pixels are
    /// smallest: the spread of a camera ray's beam ([`RayCone`]).
    ///
    /// ```
    /// use glam::DVec3;
    /// use renderer_core::camera::Camera;
    /// use renderer_core::field::Medium;
    /// use renderer_core::scene::CameraDesc;
    /// let desc = CameraDesc {
    ///     position: DVec3::new(0.0, 0.0, -5.0),
    ///     look_at: DVec3::ZERO,
    ///     up: DVec3::Y,
    ///     fov_deg: 35.0,
    /// };
    /// let camera = Camera::new(&desc, 320, 240, &Medium::default());
    /// let cone = camera.pixel_cone();
    /// // A little under the 2.5 mrad of a centre pixel: corner pixels are smaller.
    /// assert!(cone.spread > 2.0e-3 && cone.spread < desc.fov_deg.to_radians() / 240.0);
    /// ```
    #[must_use]
    pub fn pixel_cone(&self) -> RayCone {
        let aspect = f64::from(self.width) / f64::from(self.height);
        let t2 = self.tan_half * self.tan_half * (1.0 + aspect * aspect);
        RayCone {
            width: 0.0,
            spread: 2.0 * self.tan_half / f64::from(self.height) / (1.0 + t2),
        }
    }

    /// The ray through image position (`x`, `y`) in pixels (0..width, 0..height; the
    /// pixel centres are at +0.5): origin and unit coordinate direction.
    #[must_use]
    pub fn ray(&self, x: f64, y: f64) -> (DVec3, DVec3) {
        let aspect = f64::from(self.width) / f64::from(self.height);
        let sx = (2.0 * x / f64::from(self.width) - 1.0) * self.tan_half * aspect;
        let sy = (1.0 - 2.0 * y / f64::from(self.height)) * self.tan_half;
        let local = (self.forward + self.right * sx + self.up * sy).normalize();
        let dir = match self.observer {
            Some((centre, rs)) => static_observer_direction(self.position, local, centre, rs),
            None => local,
        };
        (self.position, dir)
    }
}

/// A camera's frame, for the GPU backend.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CameraParts {
    pub(crate) position: DVec3,
    pub(crate) forward: DVec3,
    pub(crate) right: DVec3,
    pub(crate) up: DVec3,
    pub(crate) tan_half: f64,
    pub(crate) observer: Option<(DVec3, f64)>,
}

impl Camera {
    /// Its frame and observer.
    pub(crate) fn parts(&self) -> CameraParts {
        CameraParts {
            position: self.position,
            forward: self.forward,
            right: self.right,
            up: self.up,
            tan_half: self.tan_half,
            observer: self.observer,
        }
    }
}
