//! Optical flow through the curved light: for each pixel of one frame, where the
//! surface point it sees appears in another frame.
//!
//! Through a lens a point can have several images, so flow follows the image of the
//! same surface point *in the same order* ([`crate::truth`]): the point is the
//! pixel's instance and object coordinates (so moving instances are followed in
//! their own frame), and its image in the other frame is found in two steps:
//!
//! 1. the other frame's [ground truth](crate::truth::GroundTruth) is searched within
//!    a window around the pixel for the nearest object coordinates of the same
//!    instance and order;
//! 2. that pixel centre is refined to sub-pixel precision by Gauss-Newton on the
//!    object coordinates of rays traced through the other frame's curved light at
//!    the current estimate (the 3x2 Jacobian from rays a quarter pixel apart), until
//!    a step is below 1e-4 pixels.
//!
//! A pixel's flow is valid only when the refined ray sees the same point (the
//! object-coordinate residual is below a hundredth of a pixel's footprint) in the
//! same order; otherwise the pixel is marked: nothing to follow (it saw the sky), not
//! found (occluded, or outside the window), left the image, or seen only in another
//! image order. Flow is in pixels, x right and y down, from the pixel's centre.

use glam::{DVec2, DVec3};

use crate::camera::Camera;
use crate::scene::Scene;
use crate::trace::SceneTracer;
use crate::truth::{GroundTruth, TruthPixel};

/// Whether a pixel's flow is valid, and why not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FlowStatus {
    /// The same surface point, in the same image order, at the flow's end.
    Valid,
    /// The pixel saw no surface (sky, horizon, a hole's shadow).
    NoSurface,
    /// The point is not seen in the other frame within the window (occluded, or it
    /// moved farther than the window).
    NotFound,
    /// The point's image left the other frame.
    LeftImage,
    /// The point is seen in the other frame only in another image order (its image
    /// crossed a lens's or a mass's caustic).
    OrderChanged,
}

impl FlowStatus {
    /// The code written beside the flow: 1 valid, 0 no surface, -1 not found, -2
    /// left the image, -3 image order changed.
    #[must_use]
    pub fn code(self) -> f32 {
        match self {
            Self::Valid => 1.0,
            Self::NoSurface => 0.0,
            Self::NotFound => -1.0,
            Self::LeftImage => -2.0,
            Self::OrderChanged => -3.0,
        }
    }
}

/// Flow of every pixel of a frame, row by row.
#[derive(Debug, Clone, PartialEq)]
pub struct Flow {
    width: u32,
    height: u32,
    /// Displacement in pixels (x right, y down); zero where not valid.
    vectors: Vec<DVec2>,
    status: Vec<FlowStatus>,
}

impl Flow {
    /// Width in pixels.
    #[must_use]
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    #[must_use]
    pub fn height(&self) -> u32 {
        self.height
    }

    /// Displacements in pixels, row by row (zero where not valid).
    #[must_use]
    pub fn vectors(&self) -> &[DVec2] {
        &self.vectors
    }

    /// Each pixel's status, row by row.
    #[must_use]
    pub fn status(&self) -> &[FlowStatus] {
        &self.status
    }

    /// Pixel (`x`, `y`)'s displacement and status.
    ///
    /// # Panics
    /// Outside the image.
    #[must_use]
    pub fn at(&self, x: u32, y: u32) -> (DVec2, FlowStatus) {
        assert!(
            x < self.width && y < self.height,
            "pixel ({x}, {y}) is outside the image"
        );
        let k = (y * self.width + x) as usize;
        (self.vectors[k], self.status[k])
    }
}

/// How far (pixels) the search looks around a pixel by default.
pub const DEFAULT_WINDOW: u32 = 32;

/// The other frame: its scene, tracer, camera and ground truth.
pub(crate) struct Target<'a> {
    pub(crate) scene: &'a Scene,
    pub(crate) tracer: &'a SceneTracer,
    pub(crate) camera: &'a Camera,
    pub(crate) truth: &'a GroundTruth,
    pub(crate) centres: Vec<DVec3>,
}

impl Target<'_> {
    fn trace(&self, q: DVec2) -> TruthPixel {
        crate::truth::trace_ray(
            self.scene,
            self.tracer,
            &self.centres,
            &self.camera.photon(q.x, q.y),
            self.camera.pixel_cone(),
        )
    }
}

/// Flow of row `y` of `from` into `to`, searching `window` pixels around each pixel.
pub(crate) fn flow_row(
    from: &GroundTruth,
    to: &Target<'_>,
    window: u32,
    y: u32,
) -> Vec<(DVec2, FlowStatus)> {
    (0..from.width())
        .map(|x| flow_pixel(from.at(x, y), x, y, to, window))
        .collect()
}

fn flow_pixel(p: &TruthPixel, x: u32, y: u32, to: &Target<'_>, window: u32) -> (DVec2, FlowStatus) {
    if !p.is_hit() {
        return (DVec2::ZERO, FlowStatus::NoSurface);
    }
    let t = to.truth;
    let w = i64::from(window);
    let (x0, x1) = (
        (i64::from(x) - w).max(0),
        (i64::from(x) + w).min(i64::from(t.width()) - 1),
    );
    let (y0, y1) = (
        (i64::from(y) - w).max(0),
        (i64::from(y) + w).min(i64::from(t.height()) - 1),
    );
    // The nearest object coordinates of the same instance, in the same order and in
    // any other.
    let mut same: Option<(f64, u32, u32)> = None;
    let mut other = f64::INFINITY;
    for v in y0..=y1 {
        for u in x0..=x1 {
            let c = t.at(u as u32, v as u32);
            if c.instance != p.instance {
                continue;
            }
            let d = (c.objcoords - p.objcoords).length_squared();
            if c.order == p.order {
                if same.is_none_or(|(b, _, _)| d < b) {
                    same = Some((d, u as u32, v as u32));
                }
            } else {
                other = other.min(d);
            }
        }
    }
    let Some((_, u, v)) = same else {
        let status = if other.is_finite() {
            FlowStatus::OrderChanged
        } else {
            FlowStatus::NotFound
        };
        return (DVec2::ZERO, status);
    };
    let start = DVec2::new(f64::from(x) + 0.5, f64::from(y) + 0.5);
    let size = DVec2::new(f64::from(t.width()), f64::from(t.height()));
    match refine(p, DVec2::new(f64::from(u) + 0.5, f64::from(v) + 0.5), to) {
        Some(q) if q.cmplt(DVec2::ZERO).any() || q.cmpge(size).any() => {
            (DVec2::ZERO, FlowStatus::LeftImage)
        }
        Some(q) => (q - start, FlowStatus::Valid),
        // The nearest same-order image could not be refined onto the point; if an
        // image of another order lies nearer, the point moved into that order.
        None if other < (t.at(u, v).objcoords - p.objcoords).length_squared() => {
            (DVec2::ZERO, FlowStatus::OrderChanged)
        }
        None => (DVec2::ZERO, FlowStatus::NotFound),
    }
}

/// Gauss-Newton on the image position `q` whose ray in `to` sees `p`'s point; `None`
/// when it does not converge onto it (another instance or order in the way, or a
/// residual above a hundredth of a pixel's footprint).
fn refine(p: &TruthPixel, mut q: DVec2, to: &Target<'_>) -> Option<DVec2> {
    const STEPS: [f64; 6] = [0.25, -0.25, 0.05, -0.05, 0.01, -0.01];
    let sees = |c: &TruthPixel| c.instance == p.instance && c.order == p.order;
    let mut at = to.trace(q);
    if !sees(&at) {
        return None;
    }
    for _ in 0..12 {
        // The point itself (a still point is found at once, even on a sliver of
        // its surface too thin for the differences below).
        if (p.objcoords - at.objcoords).length() <= 1e-12 * (1.0 + p.objcoords.length()) {
            return Some(q);
        }
        // The Jacobian d objcoords / d q: differences a quarter pixel away, to the
        // side that stays on the point's surface (at an edge: closer if need be) and
        // on the image.
        let side = |axis: DVec2, extent: u32| {
            STEPS.into_iter().find_map(|s| {
                let q2 = q + axis * s;
                let inside = (0.0..f64::from(extent)).contains(&q2.dot(axis));
                let c = to.trace(q2);
                (inside && sees(&c)).then(|| (c.objcoords - at.objcoords) / s)
            })
        };
        let jx = side(DVec2::X, to.truth.width())?;
        let jy = side(DVec2::Y, to.truth.height())?;
        let r = p.objcoords - at.objcoords;
        // Least squares: (J^T J) d = J^T r.
        let (a, b, c) = (jx.dot(jx), jx.dot(jy), jy.dot(jy));
        let det = a * c - b * b;
        if det.is_nan() || det <= 0.0 {
            return None;
        }
        let (gx, gy) = (jx.dot(r), jy.dot(r));
        let mut d = DVec2::new((c * gx - b * gy) / det, (a * gy - b * gx) / det);
        // At most two pixels a step: the linear model holds near the estimate only.
        if d.length() > 2.0 {
            d *= 2.0 / d.length();
        }
        q += d;
        at = to.trace(q);
        if !sees(&at) {
            return None;
        }
        if d.length() < 1e-4 {
            // The point itself, not its projection onto a nearby visible surface:
            // the residual within a hundredth of a pixel's footprint.
            let footprint = jx.length().max(jy.length());
            let residual = (p.objcoords - at.objcoords).length();
            return (residual <= 0.01 * footprint).then_some(q);
        }
    }
    None
}

/// Assembles rows made by [`flow_row`]; `None` if one is missing.
pub(crate) fn from_rows(
    width: u32,
    height: u32,
    rows: Vec<Option<Vec<(DVec2, FlowStatus)>>>,
) -> Option<Flow> {
    let mut vectors = Vec::with_capacity(width as usize * height as usize);
    let mut status = Vec::with_capacity(width as usize * height as usize);
    for row in rows {
        for (v, s) in row? {
            vectors.push(v);
            status.push(s);
        }
    }
    Some(Flow {
        width,
        height,
        vectors,
        status,
    })
}

#[cfg(test)]
mod tests;
