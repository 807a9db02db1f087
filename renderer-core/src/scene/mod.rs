//! Scenes: the runtime [`Scene`] that rendering reads, and its loading from the RON
//! scene format ([`file`](mod@file): the file's schema and the loader, the only module that
//! knows it; [`mesh_io`]: OBJ and PLY meshes).
//!
//! Loading validates everything and fails with a [`SceneError`] that names the file,
//! the line:column where RON gives one, the field, and the bad value. The schema is
//! documented on the types of [`file`](mod@file) and in `assets/scenes/README.md`.
//!
//! ```
//! use renderer_core::scene::Scene;
//! let text = r#"(
//!     camera: Some((position: (0.0, 0.0, -5.0), look_at: (0.0, 0.0, 0.0), fov_deg: 40.0)),
//!     meshes: [(name: "ball", source: Sphere(radius: 1.0))],
//!     instances: [(mesh: "ball", translate: (0.0, 0.0, 2.0))],
//!     fields: [Luneburg(centre: (0.0, 0.0, 0.0), radius: 1.0)],
//! )"#;
//! let scene = Scene::from_str(text, "inline.ron".as_ref()).unwrap();
//! assert_eq!(scene.instances().len(), 1);
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;

use glam::{Affine3A, DVec3};
use serde::Deserialize;

use crate::accel::Mesh;
pub use crate::environment::Environment;
use crate::field::{FieldKind, Medium};
use crate::integrator::Tolerances;
pub use crate::material::Material;

pub mod file;
pub mod mesh_io;

pub use file::{InstanceDesc, MaterialDesc, MeshDesc, MeshSource, SceneFile};
pub use mesh_io::{MeshFileError, load_mesh_file, load_obj, load_ply};

/// Why a scene could not be loaded. Every variant names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SceneError {
    /// The file could not be read.
    #[error("{path}: cannot read: {source}")]
    Io {
        /// The scene file.
        path: PathBuf,
        /// Why: the operating system's error, not a regular file, over the limit.
        source: crate::input::InputError,
    },
    /// RON syntax or schema error (unknown field kind, missing field, wrong type).
    #[error("{path}:{line}:{column}: {message}")]
    Parse {
        /// The scene file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// RON's message.
        message: String,
    },
    /// A value is out of its valid range.
    #[error("{path}: {field} = {value}: {reason}")]
    Invalid {
        /// The scene file.
        path: PathBuf,
        /// Where in the scene, e.g. `fields[1].radius`.
        field: String,
        /// The bad value as written.
        value: String,
        /// What it must be.
        reason: String,
    },
    /// A mesh file does not exist or cannot be read.
    #[error("{path}: {field}: mesh file {resolved} cannot be loaded: {source}")]
    MeshFile {
        /// The scene file.
        path: PathBuf,
        /// Where in the scene.
        field: String,
        /// The mesh path resolved against the scene's folder.
        resolved: PathBuf,
        /// Why.
        source: MeshFileError,
    },
    /// A field's data file (a sampled grid) does not exist or is malformed.
    #[error("{path}: {field}: field file {resolved} cannot be loaded: {reason}")]
    FieldFile {
        /// The scene file.
        path: PathBuf,
        /// Where in the scene.
        field: String,
        /// The file path resolved against the scene's folder.
        resolved: PathBuf,
        /// Why.
        reason: String,
    },
    /// An image (texture or environment map) does not exist or cannot be decoded.
    #[error("{path}: {field}: image {resolved} cannot be loaded: {source}")]
    ImageFile {
        /// The scene file.
        path: PathBuf,
        /// Where in the scene.
        field: String,
        /// The file path resolved against the scene's folder.
        resolved: PathBuf,
        /// Why.
        source: crate::texture::TextureError,
    },
}

/// A camera: a pinhole at `position` looking at `look_at`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraDesc {
    /// Eye position.
    pub position: DVec3,
    /// Point looked at.
    pub look_at: DVec3,
    /// Up direction (default +y).
    #[serde(default = "default_up")]
    pub up: DVec3,
    /// Vertical field of view in degrees, in (0, 180).
    pub fov_deg: f64,
    /// Who looks: how the camera moves (near a Kerr hole, or at all).
    #[serde(default)]
    pub observer: Observer,
}

/// How the camera moves: its 4-velocity, whose orthonormal tetrad lays out the pixel
/// directions (so aberration is right) and measures the photons' frequencies (the
/// redshift). Near a Kerr hole every observer must be outside its horizon, and
/// no observer is static inside its ergosphere.
#[derive(Debug, Clone, Copy, PartialEq, Default, Deserialize, serde::Serialize)]
#[non_exhaustive]
pub enum Observer {
    /// At rest in the scene's coordinates (the static observer).
    #[default]
    Static,
    /// A Kerr hole's zero-angular-momentum observer (turning with the frame dragging).
    Zamo,
    /// Falling into a Kerr hole from rest at infinity, with no angular momentum.
    FreeFall,
    /// On a circular Keplerian orbit in a Kerr hole's equatorial plane (the camera
    /// must lie in it, outside the photon orbit of its sense).
    Orbit {
        /// Against the hole's spin.
        #[serde(default)]
        retrograde: bool,
    },
    /// Moving with coordinate velocity dx/dt (scene axes, in units of c): a boosted
    /// camera, anywhere.
    Velocity(DVec3),
}

fn default_up() -> DVec3 {
    DVec3::Y
}

/// A light source.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[non_exhaustive]
pub enum Light {
    /// Parallel light travelling along `direction`, giving irradiance `irradiance`
    /// (W/m^2 per channel) on a surface facing it.
    Directional {
        /// Direction the light travels in.
        direction: DVec3,
        /// Irradiance on a surface perpendicular to it.
        irradiance: [f32; 3],
    },
    /// A point light of radiant intensity `intensity` (W/sr per channel).
    Point {
        /// Position.
        position: DVec3,
        /// Intensity.
        intensity: [f32; 3],
    },
}

/// One placed mesh: which mesh, its material and where.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    /// Index into [`Scene::meshes`].
    pub mesh: usize,
    /// How its surface emits and scatters.
    pub material: Material,
    /// Object to world.
    pub transform: Affine3A,
    /// Its name, for data generation (a scene file's `name`, else its mesh's).
    pub name: String,
    /// Its object class, for data generation (a scene file's `category`, else its
    /// name).
    pub category: String,
}

/// A loaded, validated scene: made only by the loader ([`Scene::load`]) or a
/// [`crate::builder::SceneBuilder`] (also from a scene, [`Scene::edit`]), both of
/// which validate every part, so what rendering reads is always valid.
#[derive(Debug, Clone)]
pub struct Scene {
    pub(crate) camera: Option<CameraDesc>,
    pub(crate) meshes: Vec<Arc<Mesh>>,
    pub(crate) instances: Vec<Instance>,
    pub(crate) lights: Vec<Light>,
    pub(crate) environment: Environment,
    pub(crate) medium: Medium,
    pub(crate) tolerances: Tolerances,
}

impl Scene {
    /// The camera, if given.
    #[must_use]
    pub fn camera(&self) -> Option<CameraDesc> {
        self.camera
    }

    /// The meshes, in file order (shared: a host rebuilding its scene every frame
    /// shares them instead of copying).
    #[must_use]
    pub fn meshes(&self) -> &[Arc<Mesh>] {
        &self.meshes
    }

    /// The instances, in file order.
    #[must_use]
    pub fn instances(&self) -> &[Instance] {
        &self.instances
    }

    /// The lights.
    #[must_use]
    pub fn lights(&self) -> &[Light] {
        &self.lights
    }

    /// What escaping rays see.
    #[must_use]
    pub fn environment(&self) -> &Environment {
        &self.environment
    }

    /// The fields.
    #[must_use]
    pub fn medium(&self) -> &Medium {
        &self.medium
    }

    /// The integration tolerances.
    #[must_use]
    pub fn tolerances(&self) -> &Tolerances {
        &self.tolerances
    }

    /// A builder holding this scene's parts (meshes shared, not copied), to change
    /// some and [`build`](crate::builder::SceneBuilder::build) a new, validated scene.
    #[must_use]
    pub fn edit(&self) -> crate::builder::SceneBuilder {
        crate::builder::SceneBuilder::from_scene(self)
    }

    /// Whether `other` renders the same (its default camera aside): equal instances,
    /// materials, lights, environment, medium and tolerances, and meshes that are the
    /// same `Arc` or equal. Cheap when a host reuses its mesh `Arc`s, as
    /// [`crate::builder::SceneBuilder`] does.
    #[must_use]
    pub fn same_content(&self, other: &Scene) -> bool {
        self.same_geometry(other)
            && self
                .instances
                .iter()
                .zip(&other.instances)
                .all(|(a, b)| a.material == b.material)
            && self.lights == other.lights
            && self.environment == other.environment
    }

    /// Whether `other` has the same geometry and fields, so the same acceleration
    /// structures and curvature grid serve both: equal instances (mesh and transform),
    /// medium and tolerances, and meshes that are the same `Arc` or equal (materials,
    /// lights and the environment may differ).
    #[must_use]
    pub fn same_geometry(&self, other: &Scene) -> bool {
        self.instances.len() == other.instances.len()
            && self
                .instances
                .iter()
                .zip(&other.instances)
                .all(|(a, b)| a.mesh == b.mesh && a.transform == b.transform)
            && self.same_meshes_and_fields(other)
    }
}

impl Scene {
    /// Whether `other` has the same meshes (the same `Arc`s or equal), medium and
    /// tolerances: then the BLASes (by mesh index) and the curvature grid of one serve
    /// the other, whatever its instances.
    pub(crate) fn same_meshes_and_fields(&self, other: &Scene) -> bool {
        self.meshes.len() == other.meshes.len()
            && self.tolerances == other.tolerances
            && self.medium == other.medium
            && self
                .meshes
                .iter()
                .zip(&other.meshes)
                .all(|(a, b)| Arc::ptr_eq(a, b) || a == b)
    }

    /// Whether `other`'s emissive geometry is the same (the same instances emit, with
    /// the same mesh, material and transform), given the same meshes: then the
    /// emitter table of one serves the other.
    pub(crate) fn same_emitters(&self, other: &Scene) -> bool {
        self.instances.len() == other.instances.len()
            && self.instances.iter().zip(&other.instances).all(|(a, b)| {
                let emits = |i: &Instance| i.material.emitted().iter().any(|&v| v > 0.0);
                !(emits(a) || emits(b)) || a == b
            })
    }
}

pub(crate) struct Check<'a> {
    path: &'a Path,
}

impl Check<'_> {
    pub(crate) fn new(path: &Path) -> Check<'_> {
        Check { path }
    }
    pub(crate) fn fail(
        &self,
        field: String,
        value: impl std::fmt::Debug,
        reason: &str,
    ) -> SceneError {
        SceneError::Invalid {
            path: self.path.to_owned(),
            field,
            value: format!("{value:?}"),
            reason: reason.to_owned(),
        }
    }
    /// The scene file's path.
    pub(crate) fn path(&self) -> &Path {
        self.path
    }
    pub(crate) fn finite(&self, field: String, v: f64) -> Result<f64, SceneError> {
        if v.is_finite() {
            Ok(v)
        } else {
            Err(self.fail(field, v, "must be a finite number"))
        }
    }
    pub(crate) fn positive(&self, field: String, v: f64) -> Result<f64, SceneError> {
        if v.is_finite() && v > 0.0 {
            Ok(v)
        } else {
            Err(self.fail(field, v, "must be a finite number above 0"))
        }
    }
    pub(crate) fn vec(&self, field: String, v: DVec3) -> Result<DVec3, SceneError> {
        if v.is_finite() {
            Ok(v)
        } else {
            Err(self.fail(field, v, "must have finite components"))
        }
    }
}

/// Where a part's validation errors point: the part's path (`fields[2]`,
/// `materials[0].kind`, `environment`) and a parameter name after it.
pub(crate) struct At<'a> {
    pub(crate) check: &'a Check<'a>,
    prefix: String,
}

impl<'a> At<'a> {
    /// The part at `prefix` of the scene `check` validates.
    pub(crate) fn new(check: &'a Check<'a>, prefix: impl Into<String>) -> Self {
        Self {
            check,
            prefix: prefix.into(),
        }
    }

    /// The path of parameter `name`.
    pub(crate) fn at(&self, name: &str) -> String {
        format!("{}.{name}", self.prefix)
    }

    /// An invalid-value error at parameter `name`.
    pub(crate) fn fail(&self, name: &str, value: impl std::fmt::Debug, reason: &str) -> SceneError {
        self.check.fail(self.at(name), value, reason)
    }

    /// `v` must be finite and above 0.
    pub(crate) fn positive(&self, name: &str, v: f64) -> Result<f64, SceneError> {
        self.check.positive(self.at(name), v)
    }

    /// `v` must be finite.
    pub(crate) fn finite(&self, name: &str, v: f64) -> Result<f64, SceneError> {
        self.check.finite(self.at(name), v)
    }

    /// `v` must have finite components.
    pub(crate) fn vec(&self, name: &str, v: DVec3) -> Result<DVec3, SceneError> {
        self.check.vec(self.at(name), v)
    }

    /// An albedo or reflectance: each component in [0, 1].
    pub(crate) fn unit(&self, name: &str, v: [f32; 3]) -> Result<(), SceneError> {
        if v.iter().all(|x| (0.0..=1.0).contains(x)) {
            Ok(())
        } else {
            Err(self.fail(name, v, "components must be in [0, 1]"))
        }
    }

    /// A radiance: each component finite and >= 0.
    pub(crate) fn radiance(&self, name: &str, v: [f32; 3]) -> Result<(), SceneError> {
        if v.iter().all(|x| x.is_finite() && *x >= 0.0) {
            Ok(())
        } else {
            Err(self.fail(name, v, "must be finite and >= 0"))
        }
    }

    /// Loads the image of parameter `name`, `file` relative to `base`.
    pub(crate) fn load_image(
        &self,
        name: &str,
        file: &Path,
        base: &Path,
    ) -> Result<Arc<crate::texture::Texture>, SceneError> {
        let resolved = base.join(file);
        crate::texture::Texture::load(&resolved)
            .map(Arc::new)
            .map_err(|source| SceneError::ImageFile {
                path: self.check.path().to_owned(),
                field: self.at(name),
                resolved,
                source,
            })
    }
}

impl Scene {
    /// Host bytes of what it holds, per kind: `meshes` (positions, indices, texture
    /// coordinates; shared meshes counted once), `fields` (sampled index grids),
    /// `textures` (decoded images).
    #[must_use]
    pub fn footprint(&self) -> Vec<(&'static str, u64)> {
        fn bytes<T>(v: &[T]) -> u64 {
            std::mem::size_of_val(v) as u64
        }
        let mut seen = std::collections::HashSet::new();
        let meshes = self
            .meshes
            .iter()
            .filter(|m| seen.insert(Arc::as_ptr(m)))
            .map(|m| bytes(&m.positions) + bytes(&m.indices) + bytes(&m.uvs))
            .sum();
        let fields = self.medium.fields.iter().map(FieldKind::data_bytes).sum();
        let mut seen = std::collections::HashSet::new();
        let textures = self
            .instances
            .iter()
            .filter_map(|i| i.material.image())
            .chain(self.environment.image())
            .filter(|t| seen.insert(Arc::as_ptr(t)))
            .map(|t| bytes(t.texels()))
            .sum();
        vec![
            ("meshes", meshes),
            ("fields", fields),
            ("textures", textures),
        ]
    }
}

impl CameraDesc {
    /// The checks a scene file's camera gets (finite, a field of view in (0, 180),
    /// `look_at` away from `position`, `up` not along the view), for a camera given
    /// elsewhere (a command-line override); `path` names the scene in the error.
    ///
    /// # Errors
    /// [`SceneError::Invalid`] naming the camera field and value.
    pub fn validate(&self, path: &Path) -> Result<(), SceneError> {
        validate_camera(&Check::new(path), self)
    }

    /// [`CameraDesc::validate`], and whether its observer can be where it is in
    /// `medium` (outside a Kerr hole's horizon; not static inside its ergosphere).
    ///
    /// # Errors
    /// [`SceneError::Invalid`] naming the camera field and value.
    pub fn validate_in(
        &self,
        path: &Path,
        medium: &crate::field::Medium,
    ) -> Result<(), SceneError> {
        let c = Check::new(path);
        validate_camera(&c, self)?;
        validate_observer(&c, self, &medium.fields)
    }
}

/// A Kerr hole's scene rules: at most one, in vacuum (background index 1), with no
/// other field in its region (light in a medium, or near a second mass, is not
/// modelled in a Kerr spacetime).
pub(crate) fn validate_spacetime(
    c: &Check<'_>,
    fields: &[crate::field::FieldKind],
    background: f64,
) -> Result<(), SceneError> {
    use crate::field::FieldKind;
    let holes: Vec<usize> = (0..fields.len())
        .filter(|&i| matches!(fields[i], FieldKind::Kerr(_)))
        .collect();
    let Some(&first) = holes.first() else {
        return Ok(());
    };
    if let Some(&second) = holes.get(1) {
        return Err(c.fail(
            format!("fields[{second}]"),
            "Kerr",
            &format!("a scene holds at most one Kerr hole (fields[{first}] is one)"),
        ));
    }
    if background != 1.0 {
        return Err(c.fail(
            "background_index".into(),
            background,
            "must be 1 with a Kerr hole (its spacetime is a vacuum)",
        ));
    }
    let FieldKind::Kerr(hole) = &fields[first] else {
        return Ok(());
    };
    for (i, f) in fields.iter().enumerate() {
        if i != first && f.region().distance_range(hole.centre).0 < hole.extent {
            return Err(c.fail(
                format!("fields[{i}]"),
                f.info().name,
                &format!(
                    "overlaps the Kerr hole's region (fields[{first}], extent {}): light in a medium or near a second mass is not modelled there",
                    hole.extent
                ),
            ));
        }
    }
    Ok(())
}

/// Whether the camera's observer can be where it is.
pub(crate) fn validate_observer(
    c: &Check<'_>,
    cam: &CameraDesc,
    fields: &[crate::field::FieldKind],
) -> Result<(), SceneError> {
    let hole = fields.iter().find_map(|f| match f {
        crate::field::FieldKind::Kerr(k) => Some(k),
        _ => None,
    });
    match (hole, cam.observer) {
        (_, Observer::Static) => {}
        (None, other) => {
            return Err(c.fail(
                "camera.observer".into(),
                other,
                "a moving observer needs a Kerr hole in the scene",
            ));
        }
        _ => {}
    }
    if let Some(hole) = hole {
        if let Err(why) = crate::camera::observer_velocity(cam.observer, cam.position, hole) {
            return Err(c.fail("camera.observer".into(), cam.observer, &why));
        }
    }
    Ok(())
}

pub(crate) fn validate_camera(c: &Check<'_>, cam: &CameraDesc) -> Result<(), SceneError> {
    c.vec("camera.position".into(), cam.position)?;
    c.vec("camera.look_at".into(), cam.look_at)?;
    c.vec("camera.up".into(), cam.up)?;
    if !(cam.fov_deg > 0.0 && cam.fov_deg < 180.0) {
        return Err(c.fail(
            "camera.fov_deg".into(),
            cam.fov_deg,
            "must be in (0, 180) degrees",
        ));
    }
    let forward = cam.look_at - cam.position;
    if forward.length() == 0.0 {
        return Err(c.fail(
            "camera.look_at".into(),
            cam.look_at,
            "must differ from camera.position",
        ));
    }
    if forward.cross(cam.up).length() < 1e-12 * forward.length() * cam.up.length().max(1e-300) {
        return Err(c.fail(
            "camera.up".into(),
            cam.up,
            "must not be parallel to the view direction",
        ));
    }
    Ok(())
}

pub(crate) fn validate_light(c: &Check<'_>, i: usize, l: &Light) -> Result<(), SceneError> {
    let power = |name: &str, v: [f32; 3]| {
        if v.iter().all(|x| x.is_finite() && *x >= 0.0) {
            Ok(())
        } else {
            Err(c.fail(format!("lights[{i}].{name}"), v, "must be finite and >= 0"))
        }
    };
    match *l {
        Light::Directional {
            direction,
            irradiance,
        } => {
            c.vec(format!("lights[{i}].direction"), direction)?;
            if direction.length() == 0.0 {
                return Err(c.fail(
                    format!("lights[{i}].direction"),
                    direction,
                    "must not be zero",
                ));
            }
            power("irradiance", irradiance)
        }
        Light::Point {
            position,
            intensity,
        } => {
            c.vec(format!("lights[{i}].position"), position)?;
            power("intensity", intensity)
        }
    }
}
