//! The scene file's schema (RON) and the loader that compiles it into a runtime
//! [`Scene`]: names resolved to indices, meshes generated or read, images and grids
//! loaded, everything validated. No module below the loader sees these types.

use std::f64::consts::PI;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use glam::{Affine3A, DVec3, EulerRot, Quat, Vec3};
use serde::Deserialize;

use super::mesh_io::{MeshFileError, load_obj, load_ply, sphere};
use super::{
    CameraDesc, Check, Instance, Light, Scene, SceneError, validate_camera, validate_light,
};
use crate::accel::Mesh;
use crate::environment::Environment;
use crate::field::{At, FieldKind, Medium};
use crate::integrator::Tolerances;
use crate::material::Material;

fn terrain_seed() -> u64 {
    crate::procedural::SEED
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
    /// A name for data generation (the metadata and COCO export; default: the
    /// mesh's name).
    #[serde(default)]
    pub name: Option<String>,
    /// The object class for data generation (COCO categories; default: the name).
    #[serde(default)]
    pub category: Option<String>,
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

/// The largest coordinate or scale an instance transform may produce (f32 holds
/// up to 3.4e38; products of these stay finite).
const MAX_COORD: f64 = 1e30;
/// The smallest instance scale (f32 normal numbers reach 1.2e-38).
const MIN_SCALE: f64 = 1e-30;
/// The largest rotation angle, degrees.
const MAX_DEGREES: f64 = 1e6;

impl Scene {
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
            let at = At::new(&c, format!("fields[{i}]"));
            f.load(&at, base)?;
            f.validate(&at, file.background_index)?;
        }
        super::validate_spacetime(&c, &fields, file.background_index)?;
        if let Some(cam) = &file.camera {
            super::validate_observer(&c, cam, &fields)?;
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
            let at = At::new(&c, format!("materials[{i}].kind"));
            m.kind.load(&at, base)?;
            m.kind.validate(&at)?;
        }
        let mut environment = file.environment;
        let at = At::new(&c, "environment");
        environment.load(&at, base)?;
        environment.validate(&at)?;
        for (i, l) in file.lights.iter().enumerate() {
            validate_light(&c, i, l)?;
        }
        let mut instances = Vec::with_capacity(file.instances.len());
        for (i, inst) in file.instances.iter().enumerate() {
            let Some(mesh) = file.meshes.iter().position(|m| m.name == inst.mesh) else {
                return Err(c.fail(
                    format!("instances[{i}].mesh"),
                    &inst.mesh,
                    "names no mesh of this scene",
                ));
            };
            let material = match &inst.material {
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
            };
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
            let name = inst.name.clone().unwrap_or_else(|| inst.mesh.clone());
            instances.push(Instance {
                mesh,
                material,
                category: inst.category.clone().unwrap_or_else(|| name.clone()),
                name,
                transform: Affine3A::from_scale_rotation_translation(
                    Vec3::splat(s as f32),
                    rot,
                    t.as_vec3(),
                ),
            });
        }
        Ok(Self {
            camera: file.camera,
            meshes,
            instances,
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

fn load_mesh(
    c: &Check<'_>,
    i: usize,
    source: &MeshSource,
    base: &Path,
) -> Result<Mesh, SceneError> {
    let at = |name: &str| format!("meshes[{i}].{name}");
    let mesh = match source {
        MeshSource::Obj(rel) | MeshSource::Ply(rel) => {
            let resolved = base.join(rel);
            let fail = |source: MeshFileError| SceneError::MeshFile {
                path: c.path.to_owned(),
                field: at("source"),
                resolved: resolved.clone(),
                source,
            };
            crate::input::check_file(&resolved, crate::input::MESH_BYTES)
                .map_err(|e| fail(e.into()))?;
            let read = match source {
                MeshSource::Obj(_) => load_obj,
                _ => load_ply,
            };
            read(&resolved).map_err(fail)?
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
