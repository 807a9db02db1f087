//! Scenes built in code: a host (a game engine) builds one from its own scene every
//! frame, without files, and gets the same validation as a loaded scene.
//!
//! ```
//! use std::sync::Arc;
//! use glam::{Affine3A, DVec3, Vec3};
//! use renderer_core::accel::Mesh;
//! use renderer_core::builder::SceneBuilder;
//! use renderer_core::material::{Diffuse, Material};
//! use renderer_core::scene::{CameraDesc, Light};
//!
//! let quad = Arc::new(Mesh::new(
//!     vec![[-1.0, 0.0, -1.0], [1.0, 0.0, -1.0], [1.0, 0.0, 1.0], [-1.0, 0.0, 1.0]],
//!     vec![[0, 2, 1], [0, 3, 2]],
//! )?);
//! let mut b = SceneBuilder::new();
//! let floor = b.mesh(quad);
//! b.instance(floor, Affine3A::from_translation(Vec3::new(0.0, -1.0, 0.0)),
//!            Material::Diffuse(Diffuse { colour: [0.8; 3], emission: [0.0; 3] }));
//! b.light(Light::Directional { direction: DVec3::new(0.0, -1.0, 0.2), irradiance: [2.0; 3] });
//! b.camera(CameraDesc { position: DVec3::new(0.0, 1.0, -4.0), look_at: DVec3::ZERO,
//!                       up: DVec3::Y, fov_deg: 45.0 });
//! let scene = b.build()?;
//! assert_eq!(scene.instances.len(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::Path;
use std::sync::Arc;

use glam::Affine3A;

use crate::accel::Mesh;
use crate::field::{At, FieldKind, Medium};
use crate::integrator::Tolerances;
use crate::scene::{
    CameraDesc, Check, Environment, Light, Material, Scene, SceneError, validate_camera,
    validate_light,
};

/// A mesh added to a [`SceneBuilder`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MeshId(usize);

/// Collects a scene's parts; [`SceneBuilder::build`] validates them.
#[derive(Debug, Clone, Default)]
pub struct SceneBuilder {
    camera: Option<CameraDesc>,
    meshes: Vec<Arc<Mesh>>,
    instances: Vec<(usize, Affine3A)>,
    materials: Vec<Material>,
    lights: Vec<Light>,
    environment: Environment,
    background: Option<f64>,
    fields: Vec<FieldKind>,
    tolerances: Option<Tolerances>,
}

/// The name errors from a built scene carry in place of a file.
pub const BUILDER_PATH: &str = "<scene builder>";

impl SceneBuilder {
    /// An empty scene: no camera, background index 1, black environment.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the camera.
    pub fn camera(&mut self, camera: CameraDesc) -> &mut Self {
        self.camera = Some(camera);
        self
    }

    /// Adds a mesh (shared, not copied).
    pub fn mesh(&mut self, mesh: Arc<Mesh>) -> MeshId {
        self.meshes.push(mesh);
        MeshId(self.meshes.len() - 1)
    }

    /// Places `mesh` with an object-to-world `transform` and a material.
    pub fn instance(&mut self, mesh: MeshId, transform: Affine3A, material: Material) -> &mut Self {
        self.instances.push((mesh.0, transform));
        self.materials.push(material);
        self
    }

    /// Adds a light.
    pub fn light(&mut self, light: Light) -> &mut Self {
        self.lights.push(light);
        self
    }

    /// Sets what escaping rays see.
    pub fn environment(&mut self, environment: Environment) -> &mut Self {
        self.environment = environment;
        self
    }

    /// Sets the refractive index where no field applies.
    pub fn background_index(&mut self, n: f64) -> &mut Self {
        self.background = Some(n);
        self
    }

    /// Adds a field.
    pub fn field(&mut self, field: impl Into<FieldKind>) -> &mut Self {
        self.fields.push(field.into());
        self
    }

    /// Sets the integration tolerances.
    pub fn tolerances(&mut self, tolerances: Tolerances) -> &mut Self {
        self.tolerances = Some(tolerances);
        self
    }

    /// Validates the parts (as a scene file is validated; errors name
    /// [`BUILDER_PATH`] and the part, e.g. `instances[2].material`) and makes the
    /// scene. The builder is left as it was, to change and build again next frame.
    ///
    /// # Errors
    /// A [`SceneError`] naming the part and the bad value.
    pub fn build(&self) -> Result<Scene, SceneError> {
        let c = Check::new(Path::new(BUILDER_PATH));
        if let Some(cam) = &self.camera {
            validate_camera(&c, cam)?;
        }
        let background = c.positive("background_index".into(), self.background.unwrap_or(1.0))?;
        for (i, f) in self.fields.iter().enumerate() {
            f.validate(&At::new(&c, format!("fields[{i}]")), background)?;
        }
        for (i, m) in self.meshes.iter().enumerate() {
            m.check().map_err(|reason| {
                c.fail(format!("meshes[{i}]"), m.indices.len(), &reason.to_string())
            })?;
        }
        for (i, (&(mesh, _), material)) in self.instances.iter().zip(&self.materials).enumerate() {
            material
                .validate(&At::new(&c, format!("materials[{i}].kind")))
                .map_err(|e| rename(e, "materials", &format!("instances[{i}].material")))?;
            if material.needs_uv() && self.meshes[mesh].uvs.is_empty() {
                return Err(c.fail(
                    format!("instances[{i}].material"),
                    "Texture",
                    "is an image texture, but the mesh has no texture coordinates",
                ));
            }
        }
        for (i, l) in self.lights.iter().enumerate() {
            validate_light(&c, i, l)?;
        }
        let environment = self.environment.clone();
        environment.validate(&At::new(&c, "environment"))?;
        let tolerances = self.tolerances.unwrap_or_default();
        c.positive("tolerances.geometric".into(), tolerances.geometric)?;
        c.positive("tolerances.rk".into(), tolerances.rk)?;
        c.positive("tolerances.far".into(), tolerances.far)?;
        Ok(Scene {
            camera: self.camera,
            meshes: self.meshes.clone(),
            instances: self.instances.clone(),
            materials: self.materials.clone(),
            lights: self.lights.clone(),
            environment,
            medium: Medium {
                background,
                fields: self.fields.clone(),
            },
            tolerances,
        })
    }
}

/// Points an error about `materials[i]` at the instance that carries the material.
fn rename(e: SceneError, from: &str, to: &str) -> SceneError {
    match e {
        SceneError::Invalid {
            path,
            field,
            value,
            reason,
        } => {
            let rest = field
                .strip_prefix(from)
                .and_then(|r| r.split_once(']'))
                .map_or(field.as_str(), |(_, r)| r);
            SceneError::Invalid {
                path,
                field: format!("{to}{rest}"),
                value,
                reason,
            }
        }
        other => other,
    }
}
