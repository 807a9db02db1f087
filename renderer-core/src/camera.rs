//! The camera: a pinhole that turns pixel positions into rays. Near a mass it is a
//! static observer: pixel directions are laid out in the observer's local orthonormal
//! frame and mapped to coordinate directions
//! ([`crate::integrator::static_observer_direction`]), so a
//! black hole's shadow has the angular size a real observer sees.

use glam::DVec3;

use crate::field::{Frame, Kerr, Medium, Root, Spacetime};
use crate::integrator::{RayCone, static_observer_direction};
use crate::scene::{CameraDesc, Observer};

/// A contravariant 4-vector (t, spatial).
type Four = (f64, DVec3);

/// A moving observer's orthonormal tetrad near a Kerr hole (or in flat space, for a
/// boosted camera outside its region): pixel directions are laid out in it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Tetrad {
    /// The hole's frame and spacetime where the camera is inside its region; `None`:
    /// flat (the scene's coordinates).
    hole: Option<(Frame, Spacetime)>,
    /// The camera in the hole's coordinates (the scene's when flat).
    x: DVec3,
    /// The 4-velocity.
    u: Four,
    /// Right, up and forward.
    e: [Four; 3],
}

impl Tetrad {
    fn dot(&self, v: Four, w: Four) -> f64 {
        match &self.hole {
            Some((_, st)) => st.dot(self.x, v, w),
            None => -v.0 * w.0 + v.1.dot(w.1),
        }
    }

    /// The tetrad of 4-velocity `u` with axes from the camera's right, up and forward
    /// (scene vectors), by Gram-Schmidt in the metric.
    fn new(hole: Option<(Frame, Spacetime)>, x: DVec3, u: Four, axes: [DVec3; 3]) -> Self {
        let mut t = Self {
            hole,
            x,
            u,
            e: [(0.0, DVec3::ZERO); 3],
        };
        let local = |v: DVec3| hole.map_or(v, |(f, _)| f.vector_to_local(v));
        // Forward first (it keeps its direction best), then right, then up.
        let mut done: Vec<Four> = Vec::new();
        for i in [2, 0, 1] {
            let mut v: Four = (0.0, local(axes[i]));
            let du = t.dot(v, u);
            v = (v.0 + du * u.0, v.1 + u.1 * du);
            for w in &done {
                let dw = t.dot(v, *w);
                v = (v.0 - dw * w.0, v.1 - w.1 * dw);
            }
            let n = t.dot(v, v).max(f64::MIN_POSITIVE).sqrt();
            v = (v.0 / n, v.1 / n);
            done.push(v);
            t.e[i] = v;
        }
        t
    }

    /// The ray the observer sends along unit `local` (right, up, forward
    /// components): the past-directed null vector k = -u + local.e. Its scene
    /// direction (k's spatial part, normalised) and which of the momenta with that
    /// direction it is (inside the ergosphere two are: the one whose p^t over the
    /// spatial part's length is k's).
    fn ray(&self, local: DVec3) -> (DVec3, Root) {
        let t = self.e[0].0 * local.x + self.e[1].0 * local.y + self.e[2].0 * local.z - self.u.0;
        let s = self.e[0].1 * local.x + self.e[1].1 * local.y + self.e[2].1 * local.z;
        let spatial = s - self.u.1;
        let len = spatial.length().max(f64::MIN_POSITIVE);
        let d = spatial / len;
        let root = match &self.hole {
            Some((_, st)) if st.in_ergosphere(self.x) => {
                let tau = t / len;
                let miss = |root| {
                    st.momentum_root(self.x, d, root)
                        .map_or(f64::INFINITY, |(pt, p)| {
                            (st.raise(self.x, pt, p).0 - tau).abs()
                        })
                };
                if miss(Root::Far) < miss(Root::Near) {
                    Root::Far
                } else {
                    Root::Near
                }
            }
            _ => Root::Near,
        };
        let world = self.hole.map_or(d, |(f, _)| f.vector_to_world(d));
        (world.normalize_or(DVec3::X), root)
    }

    /// For the GPU: whether the camera is in the hole's region, the 4-velocity
    /// (spatial part in scene axes, u^t) and the right, up and forward axes
    /// (spatial parts in scene axes, t parts).
    fn gpu(&self) -> (bool, [[f64; 4]; 4]) {
        let world = |v: DVec3| self.hole.map_or(v, |(f, _)| f.vector_to_world(v));
        let four = |v: DVec3, w: f64| [v.x, v.y, v.z, w];
        (
            self.hole.is_some(),
            [
                four(world(self.u.1), self.u.0),
                four(world(self.e[0].1), self.e[0].0),
                four(world(self.e[1].1), self.e[1].0),
                four(world(self.e[2].1), self.e[2].0),
            ],
        )
    }

    /// The photon energy the observer measures for a ray along scene direction
    /// `dir` carrying the `root` momentum, in the integrator's normalisation (the
    /// contravariant spatial momentum is the unit coordinate direction).
    fn energy(&self, dir: DVec3, root: Root) -> f64 {
        match &self.hole {
            Some((f, st)) => st
                .momentum_root(self.x, f.vector_to_local(dir), root)
                .map_or(1.0, |(pt, p)| self.u.0 * pt + self.u.1.dot(p)),
            // Flat: p = (1, d) covariant.
            None => self.u.0 + self.u.1.dot(dir),
        }
    }
}

/// The 4-velocity of `observer` at scene point `position` near `hole`, and the
/// frame it is expressed in (`None`: flat, the camera outside the hole's region);
/// or why there is none.
pub(crate) fn observer_velocity(
    observer: Observer,
    position: DVec3,
    hole: &Kerr,
) -> Result<(Option<(Frame, Spacetime)>, Four), String> {
    let (frame, st) = (hole.frame(), hole.spacetime());
    let x = frame.to_local(position);
    let inside = (position - hole.centre).length() < hole.extent;
    let r = st.radius(x);
    if inside && r <= st.horizon() {
        return Err(format!(
            "the camera is inside the horizon (r = {r} <= r+ = {})",
            st.horizon()
        ));
    }
    let boosted = |hole: Option<(Frame, Spacetime)>, v: DVec3| {
        let v = hole.map_or(v, |(f, _)| f.vector_to_local(v));
        let n = match &hole {
            Some((_, st)) => -st.dot(x, (1.0, v), (1.0, v)),
            None => 1.0 - v.length_squared(),
        };
        if n > 0.0 && v.is_finite() {
            let g = 1.0 / n.sqrt();
            Ok((hole, (g, v * g)))
        } else {
            Err(format!("velocity {v} is not slower than light here"))
        }
    };
    if !inside {
        return match observer {
            Observer::Static => Ok((None, (1.0, DVec3::ZERO))),
            Observer::Velocity(v) => boosted(None, v),
            other => Err(format!(
                "{other:?} needs the camera within the Kerr hole's extent ({} from its centre; extent {})",
                (position - hole.centre).length(),
                hole.extent
            )),
        };
    }
    let h = Some((frame, st));
    let u = match observer {
        Observer::Static => st
            .static_observer(x)
            .ok_or_else(|| format!("no observer is static inside the ergosphere (r = {r})"))?,
        Observer::Zamo => st.zamo(x).ok_or("no ZAMO at or inside the horizon")?,
        Observer::FreeFall => st.free_fall(x),
        Observer::Orbit { retrograde } => {
            if x.z.abs() > 1e-9 * (1.0 + r) {
                return Err(format!(
                    "an orbiting camera must lie in the hole's equatorial plane ({} off it)",
                    x.z
                ));
            }
            st.orbiting(x, (st.a >= 0.0) != retrograde)
                .ok_or_else(|| format!("no circular orbit at r = {r} (inside the photon orbit)"))?
        }
        Observer::Velocity(v) => return boosted(h, v),
    };
    Ok((h, u))
}

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
    /// A moving observer's tetrad (near a Kerr hole, or boosted).
    tetrad: Option<Tetrad>,
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
        // Near a Kerr hole: the observer's tetrad (an observer the scene's checks
        // refuse, reached through the API alone, falls back to the ZAMO).
        let tetrad = medium.kerr_holes().next().and_then(|hole| {
            let (h, u) = observer_velocity(desc.observer, desc.position, hole)
                .or_else(|_| observer_velocity(Observer::Zamo, desc.position, hole))
                .ok()?;
            let x = h.map_or(desc.position, |(f, _)| f.to_local(desc.position));
            (h.is_some() || u.1 != DVec3::ZERO).then(|| Tetrad::new(h, x, u, [right, up, forward]))
        });
        Self {
            position: desc.position,
            forward,
            right,
            up,
            tan_half: (desc.fov_deg.to_radians() / 2.0).tan(),
            width: width.max(1),
            height: height.max(1),
            observer: (masses.len() == 1).then(|| masses[0]),
            tetrad,
        }
    }

    /// The photon energy the camera's observer measures for its ray along `dir`
    /// (from [`Camera::ray`]), in the integrator's normalisation: over a Kerr disk
    /// crossing's energy it is the frequency ratio g (1 for a camera at rest outside
    /// every hole's region). Inside a Kerr hole's ergosphere a direction does not fix
    /// the photon: [`Camera::photon`] says which it is, and its energy.
    #[must_use]
    pub fn photon_energy(&self, dir: DVec3) -> f64 {
        self.tetrad.map_or(1.0, |t| t.energy(dir, Root::Near))
    }

    /// The ray through image position (`x`, `y`) in pixels as [`Camera::ray`], with
    /// the photon energy the camera's observer measures for it and which momentum it
    /// carries where the camera is inside a Kerr hole's ergosphere (trace it with
    /// [`crate::trace::SceneTracer::trace_rooted`]).
    #[must_use]
    pub fn photon(&self, x: f64, y: f64) -> CameraRay {
        if let Some(t) = &self.tetrad {
            let (direction, root) = t.ray(self.in_frame(self.local(x, y)));
            return CameraRay {
                origin: self.position,
                direction,
                energy: t.energy(direction, root),
                root,
            };
        }
        let (origin, direction) = self.ray(x, y);
        CameraRay {
            origin,
            direction,
            energy: 1.0,
            root: Root::Near,
        }
    }

    /// The unit scene vector through image position (`x`, `y`) at rest.
    fn local(&self, x: f64, y: f64) -> DVec3 {
        let aspect = f64::from(self.width) / f64::from(self.height);
        let sx = (2.0 * x / f64::from(self.width) - 1.0) * self.tan_half * aspect;
        let sy = (1.0 - 2.0 * y / f64::from(self.height)) * self.tan_half;
        (self.forward + self.right * sx + self.up * sy).normalize()
    }

    /// Scene vector `v` in the camera's frame (right, up, forward components).
    fn in_frame(&self, v: DVec3) -> DVec3 {
        DVec3::new(v.dot(self.right), v.dot(self.up), v.dot(self.forward))
    }

    /// Whether a moving observer's (or a Kerr hole's static observer's) tetrad
    /// lays out the pixels.
    #[must_use]
    pub fn has_tetrad(&self) -> bool {
        self.tetrad.is_some()
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
    ///     observer: Default::default(),
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
        let local = self.local(x, y);
        let dir = match (self.observer, &self.tetrad) {
            (_, Some(t)) => t.ray(self.in_frame(local)).0,
            (Some((centre, rs)), None) => {
                static_observer_direction(self.position, local, centre, rs)
            }
            (None, None) => local,
        };
        (self.position, dir)
    }
}

/// A camera's ray ([`Camera::photon`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CameraRay {
    /// Where it starts (the eye).
    pub origin: DVec3,
    /// Its unit coordinate direction.
    pub direction: DVec3,
    /// The photon energy the camera's observer measures, in the integrator's
    /// normalisation (1 for a camera at rest outside every hole's region).
    pub energy: f64,
    /// Which momentum it carries where the camera is inside a Kerr hole's
    /// ergosphere ([`Root::Near`] elsewhere).
    pub root: Root,
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
    /// A moving observer's tetrad near a Kerr hole: whether the camera is in the
    /// hole's region, u (spatial in scene axes, u^t), right, up and forward axes.
    pub(crate) tetrad: Option<(bool, [[f64; 4]; 4])>,
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
            tetrad: self.tetrad.map(|t| t.gpu()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::FieldKind;

    /// The integrator rebuilds a ray's momentum from its coordinate direction and
    /// root: it must be the observer's own null vector (-u + s), the same p^t over
    /// the same spatial part, and the energy the observer measures
    /// 1 / |spatial(-u + s)|. Inside the ergosphere two past-directed null vectors share a direction
    /// (the near one was the other for a ZAMO at r = 1.7, a = 0.9, when cameras
    /// launched by direction alone): the camera's ray says which, and both roots
    /// occur there. No observer is static inside the ergosphere.
    #[test]
    fn the_rebuilt_momentum_is_the_observers_null_vector() {
        let hole = Kerr {
            centre: DVec3::ZERO,
            mass: 1.0,
            spin: 0.9,
            axis: DVec3::Z,
            extent: 100.0,
            disk: None,
        };
        let (frame, st) = (hole.frame(), hole.spacetime());
        let medium = Medium::default().with(FieldKind::Kerr(hole));
        let mut checked = 0;
        let mut far = 0;
        for (r, z) in [(1.7, 0.0), (1.9, 0.3), (8.0, 0.0), (3.0, 2.0)] {
            let q = (r * r + 0.81f64).sqrt();
            let position = DVec3::new(q * 0.6, q * 0.8, z);
            let ergosphere = st.in_ergosphere(frame.to_local(position));
            for observer in [Observer::Zamo, Observer::FreeFall, Observer::Static] {
                let desc = CameraDesc {
                    position,
                    look_at: DVec3::new(0.0, 0.0, 0.0),
                    up: DVec3::Z,
                    fov_deg: 120.0,
                    observer,
                };
                let refused = crate::scene::validate_observer(
                    &crate::scene::Check::new(std::path::Path::new("t")),
                    &desc,
                    &medium.fields,
                );
                if ergosphere && observer == Observer::Static {
                    let e = refused.unwrap_err().to_string();
                    assert!(e.contains("ergosphere"), "{e}");
                    continue;
                }
                refused.unwrap();
                let cam = Camera::new(&desc, 16, 16, &medium);
                let t = cam.tetrad.unwrap();
                for (i, j) in [(0, 0), (8, 8), (15, 3), (2, 13), (4, 6), (11, 11)] {
                    let ray = cam.photon(f64::from(i) + 0.5, f64::from(j) + 0.5);
                    assert_eq!(
                        ray.direction,
                        cam.ray(f64::from(i) + 0.5, f64::from(j) + 0.5).1
                    );
                    let local = frame.vector_to_local(ray.direction);
                    // The tetrad's own null vector for this pixel.
                    let l = (cam.forward
                        + cam.right * ((2.0 * (f64::from(i) + 0.5) / 16.0 - 1.0) * cam.tan_half)
                        + cam.up * ((1.0 - 2.0 * (f64::from(j) + 0.5) / 16.0) * cam.tan_half))
                        .normalize();
                    let c = DVec3::new(l.dot(cam.right), l.dot(cam.up), l.dot(cam.forward));
                    let s = (
                        t.e[0].0 * c.x + t.e[1].0 * c.y + t.e[2].0 * c.z,
                        t.e[0].1 * c.x + t.e[1].1 * c.y + t.e[2].1 * c.z,
                    );
                    let (tau, spatial) = (s.0 - t.u.0, s.1 - t.u.1);
                    let len = spatial.length();
                    let (pt, p) = st.momentum_root(t.x, local, ray.root).unwrap();
                    let (rt, _) = st.raise(t.x, pt, p);
                    assert!(
                        (rt - tau / len).abs() < 1e-9 * (1.0 + rt.abs()),
                        "{observer:?} at r {r}: p^t {rt} vs the tetrad's {}",
                        tau / len
                    );
                    assert!((ray.energy - 1.0 / len).abs() < 1e-9 / len);
                    if !ergosphere {
                        assert_eq!(ray.root, Root::Near);
                        assert!((cam.photon_energy(ray.direction) - ray.energy).abs() < 1e-12);
                    }
                    far += usize::from(ray.root == Root::Far);
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, 60);
        assert!(far > 0, "no pixel needed the far root");
    }
}
