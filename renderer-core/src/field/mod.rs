//! Fields: what bends light. Gradient-index (GRIN) primitives give a refractive index
//! n(x) and its gradient; Schwarzschild masses give the null-geodesic acceleration.
//!
//! Each primitive knows its *region*: the box outside which it has no gradient. GRIN
//! primitives add their deviations from the background index; masses add their
//! accelerations. Each also gives an analytic, conservative bound on ray curvature over
//! any box, which the renderer's curvature grid is built from.
//!
//! # One module per primitive
//!
//! Every kind lives in its own module here, with its WGSL beside it (`luneburg.rs` and
//! `luneburg.wgsl`): the parameters (the type a scene file names), validation, the
//! index or acceleration, the curvature bound, the GPU parameter block and the shader
//! function that reads it back. [`FieldKind`] is generated from the one registration
//! list at the bottom of this file, which also hands each kind's WGSL to the shader
//! loader and generates the shaders' dispatch over kinds. `renderer-core/README.md`
//! lists the steps to add a kind.

use std::path::Path;

use glam::DVec3;
use serde::Deserialize;

use crate::gpu::layout::GpuField;
pub(crate) use crate::scene::At;
use crate::scene::SceneError;

mod aabb;

pub use aabb::Aabb;
pub use grid::{GridError, SampledGrid};
pub(crate) use kerr::curvature_bound as kerr_curvature_bound;
pub use kerr::{Constants, Disk, DiskProfile, Drift, Frame, Root, Spacetime};
pub(crate) use kerr::{KERR_GPU_RK, hi_lo};
pub(crate) use linear::{LinearPoint, LinearRay};

/// A primitive's contribution to the curvature bound over a box (see
/// [`Medium::curvature_bound`]).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct CurvatureTerms {
    /// Upper bound on |grad n| over the box.
    pub(crate) gradient: f64,
    /// Lowest index deviation over the box, for the lower bound on n.
    pub(crate) low: f64,
    /// Upper bound on a mass's geodesic acceleration over |v|^2.
    pub(crate) mass: f64,
}

/// A surface across which a primitive's gradient jumps (its edge): a Runge-Kutta
/// step across it has a large error whatever its length, so the integrator ends
/// steps on it instead of shrinking them until the error passes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Kink {
    /// A sphere.
    Sphere(DVec3, f64),
    /// A box's faces.
    Box(Aabb),
}

impl Kink {
    /// The first distance `t > 0` at which the line `o + t d` (unit `d`) crosses
    /// the surface.
    pub(crate) fn distance(&self, o: DVec3, d: DVec3) -> Option<f64> {
        match *self {
            Self::Sphere(c, r) => {
                let oc = o - c;
                let b = oc.dot(d);
                let disc = b * b - (oc.length_squared() - r * r);
                if disc <= 0.0 {
                    return None;
                }
                let root = disc.sqrt();
                let (t0, t1) = (-b - root, -b + root);
                if t0 > 0.0 {
                    Some(t0)
                } else {
                    (t1 > 0.0).then_some(t1)
                }
            }
            Self::Box(b) => {
                let (t0, t1) = b.ray_interval(o, d)?;
                if t0 > 0.0 {
                    Some(t0)
                } else {
                    (t1 > 0.0).then_some(t1)
                }
            }
        }
    }
}

/// What every field primitive provides, each in its own module. The shader side is
/// the module's WGSL file: `fn <module>_deviation(f: GpuField, p: vec3<f32>,
/// background: f32) -> vec4<f32>` for a GRIN primitive (deviation, gradient), or
/// `fn <module>_acceleration(f: GpuField, p: vec3<f32>, v: vec3<f32>) -> vec3<f32>`
/// for a mass, reading the parameter block that [`Primitive::gpu`] writes.
pub(crate) trait Primitive {
    /// Whether it bends rays by geodesic acceleration (a mass) rather than by an
    /// index gradient.
    const MASS: bool = false;

    /// Whether it is a spacetime whose rays are integrated in Hamiltonian form (a
    /// Kerr hole: WGSL `<module>_derivative`) rather than by an acceleration.
    const SPACETIME: bool = false;

    /// The box outside which it has no gradient (or acceleration).
    fn region(&self) -> Aabb;

    /// Index deviation from `background` and its gradient at `p` (zero for masses).
    fn index_deviation(&self, _p: DVec3, _background: f64) -> (f64, DVec3) {
        (0.0, DVec3::ZERO)
    }

    /// The surface across which its gradient jumps, if it has one (see [`Kink`]).
    fn kink(&self) -> Option<Kink> {
        None
    }

    /// The point it is symmetric about, if it has one: the `order` ground truth
    /// counts how often a camera ray winds half a turn about it
    /// ([`crate::truth`]).
    fn centre(&self) -> Option<DVec3> {
        None
    }

    /// Moves it by `by` (a host placing a field with its object's transform): the
    /// moved field at `x` is the field at `x - by`.
    fn translate(&mut self, by: DVec3);

    /// Geodesic acceleration at `p` for direction `v` (zero for GRIN primitives).
    fn acceleration(&self, _p: DVec3, _v: DVec3) -> DVec3 {
        DVec3::ZERO
    }

    /// Its contribution to the curvature bound over `cell`, from its analytic form
    /// (never from samples at points).
    fn curvature(&self, cell: &Aabb, background: f64) -> CurvatureTerms;

    /// Loads the data it refers to (files resolve against `base`, the scene's folder).
    fn load(&mut self, _at: &At<'_>, _base: &Path) -> Result<(), SceneError> {
        Ok(())
    }

    /// Checks its parameters (also for host-built scenes, where `loaded` data must
    /// already be present).
    fn validate(&self, at: &At<'_>, background: f64) -> Result<(), SceneError>;

    /// Its GPU parameter block; bulk data (tables, grids) goes to `scalars`, which
    /// the block indexes.
    fn gpu(&self, scalars: &mut Vec<f32>) -> GpuField;

    /// Host bytes of the data it holds beyond its parameters.
    fn data_bytes(&self) -> u64 {
        0
    }

    /// Parameters for the shared tests (gradients against finite differences,
    /// conservative curvature bounds, CPU-GPU parity): each kind's own examples.
    #[cfg(test)]
    fn examples() -> Vec<Self>
    where
        Self: Sized;
}

/// The GRIN contribution of a primitive whose gradient and lowest deviation over a
/// box are `gradient` and `low` (`low` only counts where there is a gradient).
pub(crate) fn grin_terms(gradient: f64, low: impl FnOnce() -> f64) -> CurvatureTerms {
    CurvatureTerms {
        gradient,
        low: if gradient > 0.0 { low() } else { 0.0 },
        mass: 0.0,
    }
}

/// The largest field extent: a ray leaves a Schwarzschild field (rs 2) of extent
/// 1e10 in 2,400 steps, 1e11 in 12,000, 1e12 in 99,000, and not within the default
/// 200,000 beyond (the f64 steps stall near 3e12: measured with `grin trace`), so a
/// larger field would only turn the sky black.
const MAX_EXTENT: f64 = 1e10;

/// `extent` must be at most [`MAX_EXTENT`].
pub(crate) fn check_extent(at: &At<'_>, extent: f64) -> Result<(), SceneError> {
    if extent > MAX_EXTENT {
        return Err(at.fail(
            "extent",
            extent,
            "must be at most 1e10: rays could not leave a larger field within their step budget (f64 steps stall near 1e12)",
        ));
    }
    Ok(())
}

/// A GPU parameter block of `kind` with everything else zero.
pub(crate) fn block(kind: u32) -> GpuField {
    GpuField {
        head: [kind, 0, 0, 0],
        head2: [0; 4],
        p0: [0.0; 4],
        p1: [0.0; 4],
        p2: [0.0; 4],
    }
}

/// `v` and `w` as an f32 vec4.
pub(crate) fn v4(v: DVec3, w: f64) -> [f32; 4] {
    [v.x as f32, v.y as f32, v.z as f32, w as f32]
}

/// One registered kind, as the shader loader sees it.
#[derive(Debug, Clone, Copy)]
pub struct KindInfo {
    /// The variant's name (as a scene file writes it).
    pub name: &'static str,
    /// Its module (and WGSL function prefix).
    pub module: &'static str,
    /// Its GPU kind number (`GpuField::head[0]`) and WGSL constant `FIELD_<CONST>`.
    pub gpu: u32,
    /// The WGSL constant's suffix.
    pub constant: &'static str,
    /// Whether it is a mass (WGSL `<module>_acceleration`) rather than a GRIN
    /// primitive (WGSL `<module>_deviation`).
    pub mass: bool,
    /// Whether it is a spacetime integrated in Hamiltonian form (WGSL
    /// `<module>_derivative`; neither of the above).
    pub spacetime: bool,
    /// Its WGSL file, relative to the workspace.
    pub wgsl_path: &'static str,
    /// Its WGSL source.
    pub wgsl: &'static str,
}

macro_rules! field_kinds {
    ($( $(#[$doc:meta])* $kind:ident($module:ident) = $gpu:literal, $constant:literal; )*) => {
        crate::kinds::kind_enum! {
            /// One field primitive, as written in a scene file: `Luneburg(centre: (0, 0, 0),
            /// radius: 1)` (each kind's parameters are its type's fields).
            FieldKind, "a field kind",
            $( $(#[$doc])* $kind($module), )*
        }

        /// Written as a scene file reads it: the kind's name around its parameters
        /// (`{"Luneburg": {"centre": [0, 0, 0], "radius": 1}}` in JSON); loaded data
        /// (a grid's samples) is not written, only the file it came from.
        impl serde::Serialize for FieldKind {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                match self {
                    $( Self::$kind(f) => s.serialize_newtype_variant(
                        "FieldKind",
                        self.ordinal() as u32,
                        stringify!($kind),
                        f,
                    ), )*
                }
            }
        }

        /// Every registered kind, in registration order.
        pub const KINDS: &[KindInfo] = &[
            $( KindInfo {
                name: stringify!($kind),
                module: stringify!($module),
                gpu: $gpu,
                constant: $constant,
                mass: <$module::$kind as Primitive>::MASS,
                spacetime: <$module::$kind as Primitive>::SPACETIME,
                wgsl_path: concat!("renderer-core/src/field/", stringify!($module), ".wgsl"),
                wgsl: include_str!(concat!(stringify!($module), ".wgsl")),
            }, )*
        ];

        impl FieldKind {
            /// Its entry in [`KINDS`].
            #[must_use]
            pub fn info(&self) -> &'static KindInfo {
                &KINDS[self.ordinal()]
            }

            /// The box outside which this primitive has no gradient.
            #[must_use]
            pub fn region(&self) -> Aabb {
                match self { $( Self::$kind(f) => f.region(), )* }
            }

            /// Whether this is a mass (as opposed to a GRIN primitive).
            #[must_use]
            pub fn is_mass(&self) -> bool {
                match self { $( Self::$kind(_) => <$module::$kind as Primitive>::MASS, )* }
            }

            /// The index deviation from the background and its gradient at `p` (zero
            /// for masses).
            #[must_use]
            pub fn index_deviation(&self, p: DVec3, background: f64) -> (f64, DVec3) {
                match self { $( Self::$kind(f) => f.index_deviation(p, background), )* }
            }

            /// Geodesic acceleration at `p` for a ray with (unnormalised) direction
            /// `v` (zero for GRIN primitives and outside a mass's extent).
            #[must_use]
            pub fn acceleration(&self, p: DVec3, v: DVec3) -> DVec3 {
                match self { $( Self::$kind(f) => f.acceleration(p, v), )* }
            }

            /// The field moved by `by`: its value at `x` is this one's at `x - by`
            /// (a host places a field with its object's translation).
            ///
            /// ```
            /// use glam::DVec3;
            /// use renderer_core::field::{FieldKind, Luneburg};
            /// let lens = FieldKind::from(Luneburg { centre: DVec3::ZERO, radius: 1.0 });
            /// let moved = lens.clone().translated(DVec3::new(2.0, 0.0, 0.0));
            /// assert_eq!(moved.centre(), Some(DVec3::new(2.0, 0.0, 0.0)));
            /// let (a, b) = (DVec3::new(0.25, 0.125, 0.0), DVec3::new(2.25, 0.125, 0.0));
            /// assert_eq!(lens.index_deviation(a, 1.0), moved.index_deviation(b, 1.0));
            /// ```
            #[must_use]
            pub fn translated(mut self, by: DVec3) -> Self {
                match &mut self { $( Self::$kind(f) => f.translate(by), )* }
                self
            }

            /// The point it is symmetric about (lenses, blobs, masses), if any.
            #[must_use]
            pub fn centre(&self) -> Option<DVec3> {
                match self { $( Self::$kind(f) => <$module::$kind as Primitive>::centre(f), )* }
            }

            pub(crate) fn kink(&self) -> Option<Kink> {
                match self { $( Self::$kind(f) => f.kink(), )* }
            }

            pub(crate) fn curvature(&self, cell: &Aabb, background: f64) -> CurvatureTerms {
                match self { $( Self::$kind(f) => f.curvature(cell, background), )* }
            }

            pub(crate) fn load(&mut self, at: &At<'_>, base: &Path) -> Result<(), SceneError> {
                match self { $( Self::$kind(f) => f.load(at, base), )* }
            }

            pub(crate) fn validate(&self, at: &At<'_>, background: f64) -> Result<(), SceneError> {
                match self { $( Self::$kind(f) => f.validate(at, background), )* }
            }

            pub(crate) fn gpu(&self, scalars: &mut Vec<f32>) -> GpuField {
                let mut g = match self { $( Self::$kind(f) => f.gpu(scalars), )* };
                g.head[0] = self.info().gpu;
                g
            }

            pub(crate) fn data_bytes(&self) -> u64 {
                match self { $( Self::$kind(f) => f.data_bytes(), )* }
            }

            /// Every kind's examples (for the shared tests).
            #[cfg(test)]
            pub(crate) fn examples() -> Vec<FieldKind> {
                let mut all = Vec::new();
                $( all.extend(<$module::$kind as Primitive>::examples().into_iter().map(Self::$kind)); )*
                all
            }
        }
    };
}

// The registration list: one line per kind (GPU number and WGSL constant suffix).
field_kinds! {
    /// n = `n0 + gradient . x` inside a box (the mirage when the gradient is vertical).
    LinearGradient(linear) = 0, "LINEAR";
    /// Luneburg lens: n = sqrt(2 - (r/R)^2) inside radius R.
    Luneburg(luneburg) = 1, "LUNEBURG";
    /// Maxwell fish-eye: n = n0 / (1 + (r/R)^2) up to an extent.
    MaxwellFishEye(fisheye) = 2, "FISHEYE";
    /// A Gaussian bump of index (heat haze).
    GaussianBlob(gaussian) = 3, "GAUSSIAN";
    /// A sampled 3D grid of index deviations, trilinear.
    Grid(grid) = 4, "GRID";
    /// A Schwarzschild mass bending rays along null geodesics.
    Schwarzschild(schwarzschild) = 5, "MASS";
    /// A spherically symmetric lens with n(r) from a table (Eaton, Luneburg variants,
    /// measured profiles).
    RadialProfile(radial) = 6, "RADIAL";
    /// A spinning (Kerr) black hole, with an optional thin accretion disk.
    Kerr(kerr) = 7, "KERR";
}

/// The shaders' dispatch over kinds, generated from [`KINDS`]: `index_deviation`
/// (GRIN primitives) and `field_acceleration` (masses).
#[must_use]
pub fn wgsl_dispatch() -> String {
    let mut s =
        String::from("// Generated from renderer-core/src/field/mod.rs (the registration list).\n");
    for k in KINDS {
        s += &format!("const FIELD_{}: u32 = {}u;\n", k.constant, k.gpu);
    }
    s += "fn index_deviation(f: GpuField, p: vec3<f32>, background: f32) -> vec4<f32> {\n";
    s += "    let kind = f.head.x;\n";
    for k in KINDS.iter().filter(|k| !k.mass) {
        s += &format!(
            "    if kind == FIELD_{} {{\n        return {}_deviation(f, p, background);\n    }}\n",
            k.constant, k.module
        );
    }
    s += "    return vec4<f32>(0.0);\n}\n";
    s += "fn field_acceleration(f: GpuField, p: vec3<f32>, v: vec3<f32>) -> vec3<f32> {\n";
    s += "    let kind = f.head.x;\n";
    for k in KINDS.iter().filter(|k| k.mass && !k.spacetime) {
        s += &format!(
            "    if kind == FIELD_{} {{\n        return {}_acceleration(f, p, v);\n    }}\n",
            k.constant, k.module
        );
    }
    s += "    return vec3<f32>(0.0);\n}\n";
    s
}

/// All the fields of a scene: a background index, GRIN primitives and masses.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Medium {
    /// Index where no primitive applies.
    pub background: f64,
    /// The primitives.
    pub fields: Vec<FieldKind>,
}

impl Default for Medium {
    fn default() -> Self {
        Self {
            background: 1.0,
            fields: Vec::new(),
        }
    }
}

impl Medium {
    /// A medium of uniform index `n` with no primitives.
    #[must_use]
    pub fn uniform(n: f64) -> Self {
        Self {
            background: n,
            fields: Vec::new(),
        }
    }

    /// Adds a primitive.
    #[must_use]
    pub fn with(mut self, field: impl Into<FieldKind>) -> Self {
        self.fields.push(field.into());
        self
    }

    /// Whether there are masses.
    #[must_use]
    pub fn has_masses(&self) -> bool {
        self.fields.iter().any(FieldKind::is_mass)
    }

    /// The same medium without its masses (its GRIN primitives alone).
    #[must_use]
    pub(crate) fn grin_only(&self) -> Medium {
        Medium {
            background: self.background,
            fields: self
                .fields
                .iter()
                .filter(|f| !f.is_mass())
                .cloned()
                .collect(),
        }
    }

    /// The masses.
    pub fn masses(&self) -> impl Iterator<Item = &Schwarzschild> {
        self.fields.iter().filter_map(|f| match f {
            FieldKind::Schwarzschild(m) => Some(m),
            _ => None,
        })
    }

    /// The Kerr holes.
    pub fn kerr_holes(&self) -> impl Iterator<Item = &Kerr> {
        self.fields.iter().filter_map(|f| match f {
            FieldKind::Kerr(k) => Some(k),
            _ => None,
        })
    }

    /// Refractive index and its gradient at `p`.
    #[must_use]
    pub fn index(&self, p: DVec3) -> (f64, DVec3) {
        self.fields
            .iter()
            .fold((self.background, DVec3::ZERO), |(n, g), f| {
                let (dn, dg) = f.index_deviation(p, self.background);
                (n + dn, g + dg)
            })
    }

    /// Summed geodesic acceleration of all masses.
    #[must_use]
    pub fn acceleration(&self, p: DVec3, v: DVec3) -> DVec3 {
        self.fields.iter().map(|f| f.acceleration(p, v)).sum()
    }

    /// The smallest box that holds every primitive's region (`None`: nothing bends).
    #[must_use]
    pub fn bounds(&self) -> Option<Aabb> {
        self.fields
            .iter()
            .map(FieldKind::region)
            .reduce(|a, b| a.union(&b))
    }

    /// A conservative upper bound on ray curvature (1/length) anywhere in `cell`.
    ///
    /// GRIN: curvature = |grad n perpendicular to the ray| / n <= |grad n| / n, with
    /// |grad n| bounded by the sum of the primitives' bounds and n from below by the
    /// background minus their deviations. Mass: the geodesic acceleration over |v|^2 is
    /// at most 1.5 r_s / r^2 (since h <= r |v|), with r the nearest distance to the cell.
    #[must_use]
    pub fn curvature_bound(&self, cell: &Aabb) -> f64 {
        let mut grad = 0.0;
        let mut low = 0.0;
        let mut mass = 0.0;
        for f in &self.fields {
            let t = f.curvature(cell, self.background);
            grad += t.gradient;
            low += t.low;
            mass += t.mass;
        }
        let n_min = (self.background + low).max(1e-3);
        grad / n_min + mass
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn numeric_gradient(m: &Medium, p: DVec3) -> DVec3 {
        let e = 1e-6;
        let f = |d: DVec3| m.index(p + d).0;
        DVec3::new(
            (f(DVec3::X * e) - f(-DVec3::X * e)) / (2.0 * e),
            (f(DVec3::Y * e) - f(-DVec3::Y * e)) / (2.0 * e),
            (f(DVec3::Z * e) - f(-DVec3::Z * e)) / (2.0 * e),
        )
    }

    /// A reproducible stream of uniform numbers in [0, 1).
    fn numbers(mut seed: u64) -> impl FnMut() -> f64 {
        move || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    /// Points in and around a primitive's region.
    fn points_around(f: &FieldKind, count: usize, seed: u64) -> Vec<DVec3> {
        let r = f.region();
        let (c, half) = ((r.min + r.max) / 2.0, (r.max - r.min) / 2.0);
        let mut rnd = numbers(seed);
        (0..count)
            .map(|_| c + half * DVec3::new(rnd() * 2.4 - 1.2, rnd() * 2.4 - 1.2, rnd() * 2.4 - 1.2))
            .collect()
    }

    #[test]
    fn every_kind_is_registered_once_with_its_wgsl() {
        for (i, k) in KINDS.iter().enumerate() {
            assert!(
                KINDS[..i]
                    .iter()
                    .all(|o| o.gpu != k.gpu && o.constant != k.constant)
            );
            let entry = if k.spacetime {
                "_derivative("
            } else if k.mass {
                "_acceleration("
            } else {
                "_deviation("
            };
            assert!(
                k.wgsl.contains(&format!("fn {}{entry}", k.module)),
                "{} defines no fn {}{entry}",
                k.wgsl_path,
                k.module
            );
        }
        for f in FieldKind::examples() {
            assert_eq!(f.info().mass, f.is_mass());
        }
        let names: Vec<_> = FieldKind::examples()
            .iter()
            .map(|f| f.info().name)
            .collect();
        for k in KINDS {
            assert!(names.contains(&k.name), "{} has no examples", k.name);
        }
    }

    #[test]
    fn a_translated_field_is_the_field_moved() {
        // Every kind's examples: moved by `by`, the index, gradient and acceleration
        // at `p + by` are the original's at `p` (to rounding), its region and centre
        // move with it.
        let by = DVec3::new(1.25, -0.5, 2.0);
        for f in FieldKind::examples() {
            let moved = f.clone().translated(by);
            let (r, m) = (f.region(), moved.region());
            assert!((m.min - r.min - by).abs().max_element() < 1e-12, "{f:?}");
            assert!((m.max - r.max - by).abs().max_element() < 1e-12, "{f:?}");
            match (f.centre(), moved.centre()) {
                (Some(c), Some(d)) => assert!((d - c - by).length() < 1e-12, "{f:?}"),
                (None, None) => {}
                other => panic!("{f:?}: centres {other:?}"),
            }
            for p in points_around(&f, 50, 3) {
                let (n0, g0) = f.index_deviation(p, 1.0);
                let (n1, g1) = moved.index_deviation(p + by, 1.0);
                assert!(
                    (n0 - n1).abs() < 1e-9 * (1.0 + n0.abs()),
                    "{f:?} at {p}: {n0} vs {n1}"
                );
                assert!(
                    (g0 - g1).length() < 1e-7 * (1.0 + g0.length()),
                    "{f:?} at {p}"
                );
                let v = DVec3::new(0.3, 0.2, -0.9).normalize();
                let (a0, a1) = (f.acceleration(p, v), moved.acceleration(p + by, v));
                assert!(
                    (a0 - a1).length() < 1e-7 * (1.0 + a0.length()),
                    "{f:?} at {p}"
                );
            }
        }
    }

    #[test]
    fn analytic_gradients_match_finite_differences() {
        // Every kind's examples: the gradient it returns is the derivative of the
        // index it returns (away from the support's edge and, for piecewise kinds,
        // from their kinks: a point is skipped when its one-sided slopes differ).
        for f in FieldKind::examples().into_iter().filter(|f| !f.is_mass()) {
            let m = Medium::default().with(f.clone());
            let mut checked = 0;
            for p in points_around(&f, 200, 7) {
                let (_, g) = m.index(p);
                let numeric = numeric_gradient(&m, p);
                let e = 1e-5;
                let smooth = (0..3).all(|a| {
                    let mut d = DVec3::ZERO;
                    d[a] = e;
                    let fwd = (m.index(p + d).0 - m.index(p).0) / e;
                    let back = (m.index(p).0 - m.index(p - d).0) / e;
                    (fwd - back).abs() < 1e-4 * (1.0 + fwd.abs())
                });
                if !smooth {
                    continue;
                }
                checked += 1;
                assert!(
                    (g - numeric).length() < 1e-6,
                    "{f:?} at {p}: {g} vs {numeric}"
                );
            }
            assert!(
                checked > 100,
                "{}: only {checked} smooth points",
                f.info().name
            );
        }
    }

    #[test]
    fn curvature_bound_is_conservative_over_samples() {
        // Sampled |grad n|/n never exceeds the cell's analytic bound: each kind alone,
        // then all the GRIN examples together.
        let grin: Vec<_> = FieldKind::examples()
            .into_iter()
            .filter(|f| !f.is_mass())
            .collect();
        let mut media: Vec<Medium> = grin
            .iter()
            .map(|f| Medium::default().with(f.clone()))
            .collect();
        media.push(Medium {
            background: 1.0,
            fields: grin,
        });
        let mut rnd = numbers(12345);
        for m in &media {
            let region = m.bounds().unwrap();
            let (c, half) = (
                (region.min + region.max) / 2.0,
                (region.max - region.min) / 2.0,
            );
            for _ in 0..200 {
                let centre =
                    c + half * DVec3::new(rnd() * 2.4 - 1.2, rnd() * 2.4 - 1.2, rnd() * 2.4 - 1.2);
                let cell = Aabb::around(centre, 0.05 * half.max_element());
                let bound = m.curvature_bound(&cell);
                for _ in 0..20 {
                    let p = cell.min + (cell.max - cell.min) * DVec3::new(rnd(), rnd(), rnd());
                    let (n, g) = m.index(p);
                    assert!(
                        g.length() / n <= bound * (1.0 + 1e-9) + 1e-12,
                        "{:?}: {p}: {} > {bound}",
                        m.fields,
                        g.length() / n
                    );
                }
            }
        }
    }

    #[test]
    fn mass_curvature_bounds_the_acceleration() {
        for f in FieldKind::examples().into_iter().filter(FieldKind::is_mass) {
            let m = Medium::default().with(f.clone());
            let mut rnd = numbers(99);
            let r = f.region();
            let centre = (r.min + r.max) / 2.0;
            let rs = match &f {
                FieldKind::Schwarzschild(m) => m.rs,
                _ => 0.0,
            };
            for p in points_around(&f, 300, 3) {
                // Inside the horizon the bound is taken at r_s (rays there are
                // captured, not integrated).
                if (p - centre).length() < 2.0 * rs {
                    continue;
                }
                let cell = Aabb::around(p, 0.01);
                let bound = m.curvature_bound(&cell);
                let v = DVec3::new(rnd() - 0.5, rnd() - 0.5, rnd() - 0.5).normalize();
                let a = m.acceleration(p, v);
                let perp = a - v * a.dot(v);
                assert!(perp.length() <= bound * (1.0 + 1e-9), "{f:?} at {p}");
            }
        }
    }

    #[test]
    fn a_scene_file_names_a_kind_with_its_parameters() {
        let f: FieldKind = ron::from_str("Luneburg(centre: (0, 1, 0), radius: 2.0)").unwrap();
        assert_eq!(
            f,
            FieldKind::Luneburg(Luneburg {
                centre: DVec3::Y,
                radius: 2.0
            })
        );
        // Errors name what is wrong and where, as the struct variants did.
        for (bad, says) in [
            (
                "Luneburg(centre: (0, 1, 0))",
                "1:27: Unexpected missing field named `radius`",
            ),
            (
                "Luneburg(centre: (0, 1, 0), radius: 2.0, extra: 1)",
                "1:42-1:47: Unexpected field named `extra`",
            ),
            (
                "Lunebur(centre: (0, 1, 0), radius: 2.0)",
                "1:1-1:8: Unexpected variant named `Lunebur`",
            ),
        ] {
            let e = ron::from_str::<FieldKind>(bad).unwrap_err().to_string();
            assert!(e.starts_with(says), "{bad}: {e}");
        }
        // JSON (a host's own format) names kinds the same way.
        let j: FieldKind =
            serde_json::from_str(r#"{"Luneburg": {"centre": [0, 1, 0], "radius": 2.0}}"#).unwrap();
        assert_eq!(j, f);
    }

    #[test]
    fn the_shader_dispatch_names_every_kind() {
        // Every GRIN primitive and mass; a spacetime (a Kerr hole) is integrated by
        // its own passage, never through the index or acceleration dispatch.
        let s = wgsl_dispatch();
        for k in KINDS {
            assert_eq!(
                s.contains(&format!("{}_", k.module)),
                !k.spacetime,
                "{}",
                k.name
            );
        }
    }
}
