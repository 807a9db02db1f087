//! The scene format (RON) and its loading: camera, meshes (OBJ files or analytic
//! sphere, plane and box), instances with transforms, fields and tolerances.
//!
//! Loading validates everything and fails with a [`SceneError`] that names the file,
//! the line:column where RON gives one, the field, and the bad value. The schema is
//! documented on the types below and in `assets/scenes/README.md`.
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
//! assert_eq!(scene.instances.len(), 1);
//! ```

use std::f64::consts::PI;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use glam::{Affine3A, DVec3, EulerRot, Quat, Vec3};
use serde::Deserialize;

use crate::accel::{Mesh, MeshError};
pub use crate::environment::Environment;
use crate::field::{At, FieldKind, Medium};
use crate::integrator::Tolerances;
pub use crate::material::Material;

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
}

fn terrain_seed() -> u64 {
    crate::procedural::SEED
}

fn default_up() -> DVec3 {
    DVec3::Y
}

/// Where a mesh's triangles come from.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub enum MeshSource {
    /// A Wavefront OBJ file, relative to the scene file's folder.
    Obj(PathBuf),
    /// A PLY file (ASCII or binary; `vertex` x, y, z and `face` index lists),
    /// relative to the scene file's folder.
    Ply(PathBuf),
    /// A UV sphere of `radius` around the origin.
    Sphere {
        /// Radius (> 0).
        radius: f64,
    },
    /// A square in the y = 0 plane, `size` on a side, centred on the origin.
    Plane {
        /// Side length (> 0).
        size: f64,
    },
    /// The peer comparison's terrain: a height field over [-1, 1]^2 with z up,
    /// `n` x `n` vertices (708: 999,698 triangles), generated at load.
    Terrain {
        /// Vertices per side (2..=4096).
        n: u32,
        /// Seed of its waves (default: the peer comparison's).
        #[serde(default = "terrain_seed")]
        seed: u64,
    },
    /// An axis-aligned box.
    Box {
        /// Lower corner.
        min: DVec3,
        /// Upper corner (each component above `min`).
        max: DVec3,
    },
}

/// A named mesh.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeshDesc {
    /// Name that instances refer to.
    pub name: String,
    /// Its triangles.
    pub source: MeshSource,
}

/// A named material.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaterialDesc {
    /// Name that instances refer to.
    pub name: String,
    /// The material.
    pub kind: Material,
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

/// A mesh placed in the scene: scale, then rotate (degrees about x, y, z), then
/// translate.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceDesc {
    /// The mesh's name.
    pub mesh: String,
    /// Translation.
    #[serde(default)]
    pub translate: DVec3,
    /// Rotation, degrees about x, y, z (applied in that order).
    #[serde(default)]
    pub rotate_deg: DVec3,
    /// Uniform scale (> 0).
    #[serde(default = "one")]
    pub scale: f64,
    /// Material name (default: a grey diffuse).
    #[serde(default)]
    pub material: Option<String>,
}

fn one() -> f64 {
    1.0
}

/// A scene file as written.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SceneFile {
    /// The camera (a field-only file for `grin trace` may leave it out).
    #[serde(default)]
    pub camera: Option<CameraDesc>,
    /// Refractive index where no field applies (default 1).
    #[serde(default = "one")]
    pub background_index: f64,
    /// Meshes.
    #[serde(default)]
    pub meshes: Vec<MeshDesc>,
    /// Instances of the meshes.
    #[serde(default)]
    pub instances: Vec<InstanceDesc>,
    /// Fields.
    #[serde(default)]
    pub fields: Vec<FieldKind>,
    /// Materials.
    #[serde(default)]
    pub materials: Vec<MaterialDesc>,
    /// Lights.
    #[serde(default)]
    pub lights: Vec<Light>,
    /// What escaping rays see.
    #[serde(default)]
    pub environment: Environment,
    /// Integration tolerances (defaults if absent).
    #[serde(default)]
    pub tolerances: Option<Tolerances>,
}

/// A loaded, validated scene.
#[derive(Debug, Clone)]
pub struct Scene {
    /// The camera, if given.
    pub camera: Option<CameraDesc>,
    /// The meshes, in file order (shared: a host rebuilding its scene every frame
    /// shares them instead of copying).
    pub meshes: Vec<Arc<Mesh>>,
    /// Instances: mesh index and object-to-world transform.
    pub instances: Vec<(usize, Affine3A)>,
    /// Material of each instance.
    pub materials: Vec<Material>,
    /// Lights.
    pub lights: Vec<Light>,
    /// What escaping rays see.
    pub environment: Environment,
    /// The fields.
    pub medium: Medium,
    /// Tolerances.
    pub tolerances: Tolerances,
}

impl Scene {
    /// Whether `other` renders the same (its default camera aside): equal instances,
    /// materials, lights, environment, medium and tolerances, and meshes that are the
    /// same `Arc` or equal. Cheap when a host reuses its mesh `Arc`s, as
    /// [`crate::builder::SceneBuilder`] does.
    #[must_use]
    pub fn same_content(&self, other: &Scene) -> bool {
        self.instances == other.instances
            && self.meshes.len() == other.meshes.len()
            && self.materials == other.materials
            && self.lights == other.lights
            && self.environment == other.environment
            && self.tolerances == other.tolerances
            && self.medium == other.medium
            && self
                .meshes
                .iter()
                .zip(&other.meshes)
                .all(|(a, b)| Arc::ptr_eq(a, b) || a == b)
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

/// The largest coordinate or scale an instance transform may produce (f32 holds
/// up to 3.4e38; products of these stay finite).
const MAX_COORD: f64 = 1e30;
/// The smallest instance scale (f32 normal numbers reach 1.2e-38).
const MIN_SCALE: f64 = 1e-30;
/// The largest rotation angle, degrees.
const MAX_DEGREES: f64 = 1e6;

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
            .materials
            .iter()
            .filter_map(Material::image)
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

    /// Loads and validates a scene file; mesh files resolve against its folder.
    ///
    /// # Errors
    /// A [`SceneError`] naming the file, position, field and value.
    pub fn load(path: &Path) -> Result<Self, SceneError> {
        let text = crate::input::read_text(path, crate::input::SCENE_BYTES).map_err(|source| {
            SceneError::Io {
                path: path.to_owned(),
                source,
            }
        })?;
        Self::from_str(&text, path)
    }

    /// Parses and validates scene text; `path` names it in errors and anchors
    /// relative mesh paths.
    ///
    /// # Errors
    /// A [`SceneError`] naming the file, position, field and value.
    #[allow(clippy::should_implement_trait)]
    pub fn from_str(text: &str, path: &Path) -> Result<Self, SceneError> {
        let file: SceneFile = ron::from_str(text).map_err(|e| SceneError::Parse {
            path: path.to_owned(),
            line: e.span.start.line,
            column: e.span.start.col,
            message: e.code.to_string(),
        })?;
        Self::from_file(file, path)
    }

    /// Validates a parsed scene.
    ///
    /// # Errors
    /// A [`SceneError`] naming the file, field and value.
    pub fn from_file(file: SceneFile, path: &Path) -> Result<Self, SceneError> {
        let c = Check { path };
        if let Some(cam) = &file.camera {
            validate_camera(&c, cam)?;
        }
        c.positive("background_index".into(), file.background_index)?;
        let tolerances = file.tolerances.unwrap_or_default();
        c.positive("tolerances.geometric".into(), tolerances.geometric)?;
        c.positive("tolerances.rk".into(), tolerances.rk)?;
        c.positive("tolerances.far".into(), tolerances.far)?;
        if tolerances.max_steps == 0 {
            return Err(c.fail("tolerances.max_steps".into(), 0, "must be at least 1"));
        }
        let base = path.parent().unwrap_or(Path::new("."));
        let mut fields = file.fields;
        for (i, f) in fields.iter_mut().enumerate() {
            let at = At {
                check: &c,
                index: i,
            };
            f.load(&at, base)?;
            f.validate(&at, file.background_index)?;
        }
        let mut meshes = Vec::with_capacity(file.meshes.len());
        for (i, m) in file.meshes.iter().enumerate() {
            if file.meshes[..i].iter().any(|o| o.name == m.name) {
                return Err(c.fail(
                    format!("meshes[{i}].name"),
                    &m.name,
                    "is used by an earlier mesh",
                ));
            }
            meshes.push(Arc::new(load_mesh(&c, i, &m.source, base)?));
        }
        let mut file_materials = file.materials;
        for (i, m) in file_materials.iter_mut().enumerate() {
            let at = crate::material::At {
                check: &c,
                index: i,
            };
            m.kind.load(&at, base)?;
            m.kind.validate(&at)?;
        }
        let mut environment = file.environment;
        let at = crate::environment::At { check: &c };
        environment.load(&at, base)?;
        environment.validate(&at)?;
        for (i, l) in file.lights.iter().enumerate() {
            validate_light(&c, i, l)?;
        }
        let mut materials = Vec::with_capacity(file.instances.len());
        let mut instances = Vec::with_capacity(file.instances.len());
        for (i, inst) in file.instances.iter().enumerate() {
            let Some(mesh) = file.meshes.iter().position(|m| m.name == inst.mesh) else {
                return Err(c.fail(
                    format!("instances[{i}].mesh"),
                    &inst.mesh,
                    "names no mesh of this scene",
                ));
            };
            materials.push(match &inst.material {
                None => Material::default(),
                Some(name) => match file_materials.iter().find(|m| &m.name == name) {
                    Some(m) => {
                        if m.kind.needs_uv() && meshes[mesh].uvs.is_empty() {
                            return Err(c.fail(
                                format!("instances[{i}].material"),
                                name,
                                "is an image texture, but the mesh has no texture coordinates \
                                 (use an OBJ with vt lines, a Sphere or a Plane)",
                            ));
                        }
                        m.kind.clone()
                    }
                    None => {
                        return Err(c.fail(
                            format!("instances[{i}].material"),
                            name,
                            "names no material of this scene",
                        ));
                    }
                },
            });
            let t = c.vec(format!("instances[{i}].translate"), inst.translate)?;
            let r = c.vec(format!("instances[{i}].rotate_deg"), inst.rotate_deg)?;
            let s = c.positive(format!("instances[{i}].scale"), inst.scale)?;
            // The transform is applied in f32: values it cannot hold (an instance
            // would silently vanish) are refused here, with the field.
            if t.abs().max_element() > MAX_COORD {
                return Err(c.fail(
                    format!("instances[{i}].translate"),
                    t,
                    "must be within 1e30 of the origin (the transform is applied in f32)",
                ));
            }
            if r.abs().max_element() > MAX_DEGREES {
                return Err(c.fail(
                    format!("instances[{i}].rotate_deg"),
                    r,
                    "must be within 1e6 degrees (f32 angles lose all precision beyond)",
                ));
            }
            if !(MIN_SCALE..=MAX_COORD).contains(&s) {
                return Err(c.fail(
                    format!("instances[{i}].scale"),
                    s,
                    "must be between 1e-30 and 1e30 (the transform is applied in f32)",
                ));
            }
            let extent = meshes[mesh]
                .positions
                .iter()
                .flatten()
                .fold(0.0f64, |m, &v| m.max(f64::from(v).abs()));
            if extent * s + t.abs().max_element() > MAX_COORD {
                return Err(c.fail(
                    format!("instances[{i}].scale"),
                    s,
                    "places the mesh beyond 1e30 from the origin (the transform is applied in f32)",
                ));
            }
            let rot = Quat::from_euler(
                EulerRot::ZYX,
                (r.z * PI / 180.0) as f32,
                (r.y * PI / 180.0) as f32,
                (r.x * PI / 180.0) as f32,
            );
            instances.push((
                mesh,
                Affine3A::from_scale_rotation_translation(Vec3::splat(s as f32), rot, t.as_vec3()),
            ));
        }
        Ok(Self {
            camera: file.camera,
            meshes,
            instances,
            materials,
            lights: file.lights,
            environment,
            medium: Medium {
                background: file.background_index,
                fields,
            },
            tolerances,
        })
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

fn load_mesh(
    c: &Check<'_>,
    i: usize,
    source: &MeshSource,
    base: &Path,
) -> Result<Mesh, SceneError> {
    let at = |name: &str| format!("meshes[{i}].{name}");
    let mesh = match source {
        MeshSource::Obj(rel) => {
            let resolved = base.join(rel);
            let fail = |source: MeshFileError| SceneError::MeshFile {
                path: c.path.to_owned(),
                field: at("source"),
                resolved: resolved.clone(),
                source,
            };
            crate::input::check_file(&resolved, crate::input::MESH_BYTES)
                .map_err(|e| fail(e.into()))?;
            load_obj(&resolved).map_err(fail)?
        }
        MeshSource::Ply(rel) => {
            let resolved = base.join(rel);
            let fail = |source: MeshFileError| SceneError::MeshFile {
                path: c.path.to_owned(),
                field: at("source"),
                resolved: resolved.clone(),
                source,
            };
            crate::input::check_file(&resolved, crate::input::MESH_BYTES)
                .map_err(|e| fail(e.into()))?;
            load_ply(&resolved).map_err(fail)?
        }
        MeshSource::Sphere { radius } => {
            sphere(c.positive(at("source.radius"), *radius)? as f32, 48, 24)
        }
        MeshSource::Plane { size } => {
            let h = c.positive(at("source.size"), *size)? as f32 / 2.0;
            Mesh {
                positions: vec![[-h, 0.0, -h], [h, 0.0, -h], [h, 0.0, h], [-h, 0.0, h]],
                indices: vec![[0, 2, 1], [0, 3, 2]],
                uvs: vec![[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]],
            }
        }
        MeshSource::Terrain { n, seed } => {
            if !(2..=4096).contains(n) {
                return Err(c.fail(at("source.n"), n, "must be in 2..=4096"));
            }
            crate::procedural::terrain(*n as usize, *seed)
        }
        MeshSource::Box { min, max } => {
            let (min, max) = (
                c.vec(at("source.min"), *min)?,
                c.vec(at("source.max"), *max)?,
            );
            if !min.cmplt(max).all() {
                return Err(c.fail(
                    at("source"),
                    (min, max),
                    "min must be below max on every axis",
                ));
            }
            crate::procedural::cuboid(min.as_vec3(), max.as_vec3())
        }
    };
    if let Err(reason) = mesh.check() {
        return Err(c.fail(at("source"), source, &reason.to_string()));
    }
    let area: f32 = mesh
        .indices
        .iter()
        .map(|t| {
            let [a, b, c] = t.map(|k| Vec3::from(mesh.positions[k as usize]));
            (b - a).cross(c - a).length() * 0.5
        })
        .sum();
    if area <= 0.0 {
        return Err(c.fail(at("source"), source, "has zero area"));
    }
    Ok(mesh)
}

/// Why a mesh file cannot be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MeshFileError {
    /// Not a readable regular file of a sane size.
    #[error(transparent)]
    Input(#[from] crate::input::InputError),
    /// Reading failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The OBJ parser failed.
    #[error(transparent)]
    Obj(#[from] tobj::LoadError),
    /// The PLY is malformed or lacks what a mesh needs (the sentence says which).
    #[error("{0}")]
    Ply(String),
    /// Neither `.obj` nor `.ply`.
    #[error("expected a .obj or .ply file")]
    Extension,
    /// The mesh read is unusable.
    #[error(transparent)]
    Mesh(#[from] MeshError),
}

/// Loads a Wavefront OBJ file's triangles (all its models; texture coordinates when
/// every vertex has them).
///
/// # Errors
/// [`MeshFileError::Obj`] with the parser's error.
pub fn load_obj(path: &Path) -> Result<Mesh, MeshFileError> {
    let (models, _) = tobj::load_obj(path, &tobj::GPU_LOAD_OPTIONS)?;
    let mut mesh = Mesh::default();
    // Texture coordinates only when every model has them for every vertex.
    let with_uvs = models
        .iter()
        .all(|m| m.mesh.texcoords.len() / 2 == m.mesh.positions.len() / 3);
    for m in models {
        let offset = mesh.positions.len() as u32;
        mesh.positions
            .extend(m.mesh.positions.chunks_exact(3).map(|p| [p[0], p[1], p[2]]));
        if with_uvs {
            // OBJ's v points up; images' rows go down.
            mesh.uvs
                .extend(m.mesh.texcoords.chunks_exact(2).map(|t| [t[0], 1.0 - t[1]]));
        }
        mesh.indices.extend(
            m.mesh
                .indices
                .chunks_exact(3)
                .map(|t| [t[0] + offset, t[1] + offset, t[2] + offset]),
        );
    }
    Ok(mesh)
}

/// Loads a mesh file by its extension: `.obj` ([`load_obj`]) or `.ply`
/// ([`load_ply`]), and checks it ([`Mesh::check`]).
///
/// # Errors
/// An unknown extension, the parser's error, or what the check finds.
pub fn load_mesh_file(path: &Path) -> Result<Mesh, MeshFileError> {
    crate::input::check_file(path, crate::input::MESH_BYTES)?;
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    let mesh = match ext.as_deref() {
        Some("obj") => load_obj(path)?,
        Some("ply") => load_ply(path)?,
        _ => return Err(MeshFileError::Extension),
    };
    mesh.check()?;
    Ok(mesh)
}

/// Reads a PLY mesh (ASCII or binary): vertex positions and faces (polygons fanned
/// into triangles). Elements are parsed into small fixed records (a position, a face
/// of up to four corners inline) rather than generic property maps, so a
/// large mesh takes about the memory of its final arrays.
///
/// # Errors
/// [`MeshFileError::Io`] when the file cannot be read, [`MeshFileError::Ply`]
/// saying what is missing or malformed.
pub fn load_ply(path: &Path) -> Result<Mesh, MeshFileError> {
    let file = std::fs::File::open(path)?;
    read_ply(file).map_err(MeshFileError::Ply)
}

fn read_ply(file: std::fs::File) -> Result<Mesh, String> {
    use ply_rs_bw::parser::{Parser, Reader};
    let mut reader = Reader::new(std::io::BufReader::new(file));
    PLY_OVERFLOW.with(|o| o.borrow_mut().clear());
    let header = Parser::<PlyVertex>::new()
        .read_header(&mut reader)
        .map_err(|e| e.to_string())?;
    let mut mesh = Mesh::default();
    let (mut have_vertices, mut have_faces) = (false, false);
    for (name, def) in &header.elements {
        match name.as_str() {
            "vertex" => {
                let vertices = Parser::<PlyVertex>::new()
                    .read_payload_for_element(&mut reader, def, &header)
                    .map_err(|e| e.to_string())?;
                mesh.positions.reserve_exact(vertices.len());
                for v in vertices {
                    if v.set != 7 {
                        return Err("a vertex has no numeric 'x', 'y' or 'z'".into());
                    }
                    mesh.positions.push(v.p);
                }
                have_vertices = true;
            }
            "face" => {
                let faces = Parser::<PlyFace>::new()
                    .read_payload_for_element(&mut reader, def, &header)
                    .map_err(|e| e.to_string())?;
                mesh.indices.reserve(faces.len());
                let checked = (|| {
                    for f in &faces {
                        match f.status {
                            0 => {}
                            1 => return Err("a face has no 'vertex_indices' list".to_owned()),
                            2 => return Err("face indices are not an integer list".to_owned()),
                            _ => {
                                return Err("face index out of range (negative or huge)".to_owned());
                            }
                        }
                        let mut fan = |idx: &[u32]| {
                            if idx.iter().any(|&i| i as usize >= mesh.positions.len()) {
                                return Err(format!("face index out of range: {idx:?}"));
                            }
                            for k in 1..idx.len().saturating_sub(1) {
                                mesh.indices.push([idx[0], idx[k], idx[k + 1]]);
                            }
                            Ok(())
                        };
                        if f.overflow {
                            PLY_OVERFLOW.with(|o| fan(&o.borrow()[f.inline[0] as usize]))?;
                        } else {
                            fan(&f.inline[..usize::from(f.len)])?;
                        }
                    }
                    Ok(())
                })();
                PLY_OVERFLOW.with(|o| o.borrow_mut().clear());
                checked?;
                have_faces = true;
            }
            _ => {
                Parser::<PlyIgnored>::new()
                    .read_payload_for_element(&mut reader, def, &header)
                    .map_err(|e| e.to_string())?;
            }
        }
    }
    if !have_vertices {
        return Err("no 'vertex' element".into());
    }
    if !have_faces {
        return Err("no 'face' element".into());
    }
    Ok(mesh)
}

/// Face corners kept inline (a triangle or a quad needs no allocation).
const PLY_FACE: usize = 4;

/// A PLY vertex: its position, and which coordinates were set (bits x, y, z).
#[derive(Debug)]
struct PlyVertex {
    p: [f32; 3],
    set: u8,
}

/// A PLY face in 24 bytes: up to [`PLY_FACE`] corners inline; a larger polygon's
/// corners go to [`PLY_OVERFLOW`] and `inline[0]` indexes them.
#[derive(Debug)]
struct PlyFace {
    inline: [u32; PLY_FACE],
    len: u8,
    /// 0: fine; 1: no index list; 2: not integers; 3: an index is negative or huge.
    status: u8,
    overflow: bool,
}

thread_local! {
    /// Corners of the faces with more than [`PLY_FACE`] of them, while a file loads.
    static PLY_OVERFLOW: std::cell::RefCell<Vec<Vec<u32>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// An element the loader skips (parsed, not kept).
#[derive(Debug)]
struct PlyIgnored;

fn ply_number(p: &ply_rs_bw::ply::Property) -> Option<f64> {
    use ply_rs_bw::ply::Property as P;
    Some(match *p {
        P::Char(v) => f64::from(v),
        P::UChar(v) => f64::from(v),
        P::Short(v) => f64::from(v),
        P::UShort(v) => f64::from(v),
        P::Int(v) => f64::from(v),
        P::UInt(v) => f64::from(v),
        P::Float(v) => f64::from(v),
        P::Double(v) => v,
        _ => return None,
    })
}

impl ply_rs_bw::ply::PropertyAccess for PlyVertex {
    fn new() -> Self {
        Self {
            p: [0.0; 3],
            set: 0,
        }
    }
    fn set_property(
        &mut self,
        name: &str,
        property: ply_rs_bw::ply::Property,
    ) -> ply_rs_bw::ply::PropertyAccessResult {
        let axis = match name {
            "x" => 0,
            "y" => 1,
            "z" => 2,
            _ => return ply_rs_bw::ply::PropertyAccessResult::Ignored,
        };
        if let Some(v) = ply_number(&property) {
            self.p[axis] = v as f32;
            self.set |= 1 << axis;
        }
        ply_rs_bw::ply::PropertyAccessResult::Set
    }
}

impl ply_rs_bw::ply::PropertyAccess for PlyFace {
    fn new() -> Self {
        Self {
            inline: [0; PLY_FACE],
            len: 0,
            status: 1,
            overflow: false,
        }
    }
    fn set_property(
        &mut self,
        name: &str,
        property: ply_rs_bw::ply::Property,
    ) -> ply_rs_bw::ply::PropertyAccessResult {
        use ply_rs_bw::ply::Property as P;
        if name != "vertex_indices" && name != "vertex_index" {
            return ply_rs_bw::ply::PropertyAccessResult::Ignored;
        }
        let idx: Vec<i64> = match property {
            P::ListChar(v) => v.into_iter().map(i64::from).collect(),
            P::ListUChar(v) => v.into_iter().map(i64::from).collect(),
            P::ListShort(v) => v.into_iter().map(i64::from).collect(),
            P::ListUShort(v) => v.into_iter().map(i64::from).collect(),
            P::ListInt(v) => v.into_iter().map(i64::from).collect(),
            P::ListUInt(v) => v.into_iter().map(i64::from).collect(),
            _ => {
                self.status = 2;
                return ply_rs_bw::ply::PropertyAccessResult::Set;
            }
        };
        let Ok(idx) = idx
            .into_iter()
            .map(u32::try_from)
            .collect::<Result<Vec<u32>, _>>()
        else {
            self.status = 3;
            return ply_rs_bw::ply::PropertyAccessResult::Set;
        };
        self.status = 0;
        if idx.len() <= PLY_FACE {
            self.inline[..idx.len()].copy_from_slice(&idx);
            self.len = idx.len() as u8;
        } else {
            self.overflow = true;
            self.inline[0] = PLY_OVERFLOW.with(|o| {
                let mut o = o.borrow_mut();
                o.push(idx);
                (o.len() - 1) as u32
            });
        }
        ply_rs_bw::ply::PropertyAccessResult::Set
    }
}

impl ply_rs_bw::ply::PropertyAccess for PlyIgnored {
    fn new() -> Self {
        Self
    }
}

fn sphere(r: f32, slices: u32, stacks: u32) -> Mesh {
    let mut m = Mesh::default();
    for j in 0..=stacks {
        let th = std::f32::consts::PI * j as f32 / stacks as f32;
        for i in 0..=slices {
            let ph = 2.0 * std::f32::consts::PI * i as f32 / slices as f32;
            m.positions.push([
                r * th.sin() * ph.cos(),
                r * th.cos(),
                r * th.sin() * ph.sin(),
            ]);
            m.uvs
                .push([i as f32 / slices as f32, j as f32 / stacks as f32]);
        }
    }
    let w = slices + 1;
    for j in 0..stacks {
        for i in 0..slices {
            let (a, b, c, d) = (
                j * w + i,
                j * w + i + 1,
                (j + 1) * w + i,
                (j + 1) * w + i + 1,
            );
            if j > 0 {
                m.indices.push([a, b, c]);
            }
            if j + 1 < stacks {
                m.indices.push([b, d, c]);
            }
        }
    }
    m
}
