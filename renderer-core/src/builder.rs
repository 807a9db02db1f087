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
//!                       up: DVec3::Y, fov_deg: 45.0, observer: Default::default() });
//! let scene = b.build()?;
//! assert_eq!(scene.instances().len(), 1);
//! // Next frame: the floor moved; everything else is shared.
//! let mut next = scene.edit();
//! next.set_transform(0, Affine3A::from_translation(Vec3::new(0.0, -2.0, 0.0)))?;
//! let next = next.build()?;
//! assert!(next.same_content(&scene) == false && Arc::ptr_eq(&next.meshes()[0], &scene.meshes()[0]));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::Path;
use std::sync::Arc;

use glam::Affine3A;

use crate::accel::Mesh;
use crate::field::{At, FieldKind, Medium};
use crate::integrator::Tolerances;
use crate::scene::{
    CameraDesc, Check, Environment, Instance, Light, Material, Scene, SceneError, validate_camera,
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
    instances: Vec<Instance>,
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

    /// Places `mesh` with an object-to-world `transform` and a material (named
    /// `mesh<i>`, of its own category: see [`SceneBuilder::named`]).
    pub fn instance(&mut self, mesh: MeshId, transform: Affine3A, material: Material) -> &mut Self {
        let name = format!("mesh{}", mesh.0);
        self.instances.push(Instance {
            mesh: mesh.0,
            material,
            transform,
            category: name.clone(),
            name,
        });
        self
    }

    /// Names the instance added last and gives its object class, for data
    /// generation (metadata, COCO categories).
    pub fn named(&mut self, name: &str, category: &str) -> &mut Self {
        if let Some(i) = self.instances.last_mut() {
            i.name = name.to_owned();
            i.category = category.to_owned();
        }
        self
    }

    /// A builder holding `scene`'s parts ([`Scene::edit`]); its meshes keep their
    /// order, so mesh `i` is `MeshId` number `i` ([`SceneBuilder::mesh_id`]).
    pub(crate) fn from_scene(scene: &Scene) -> Self {
        Self {
            camera: scene.camera,
            meshes: scene.meshes.clone(),
            instances: scene.instances.clone(),
            lights: scene.lights.clone(),
            environment: scene.environment.clone(),
            background: Some(scene.medium.background),
            fields: scene.medium.fields.clone(),
            tolerances: Some(scene.tolerances),
        }
    }

    /// The id of mesh `index` (in the order added, or a scene's order after
    /// [`Scene::edit`]), if there is one.
    #[must_use]
    pub fn mesh_id(&self, index: usize) -> Option<MeshId> {
        (index < self.meshes.len()).then_some(MeshId(index))
    }

    /// How many instances there are.
    #[must_use]
    pub fn instance_count(&self) -> usize {
        self.instances.len()
    }

    /// The transform of instance `index`, if there is one.
    #[must_use]
    pub fn transform(&self, index: usize) -> Option<Affine3A> {
        self.instances.get(index).map(|i| i.transform)
    }

    /// Moves instance `index` (a host animating its scene).
    ///
    /// # Errors
    /// [`SceneError::Invalid`] for an instance that does not exist.
    pub fn set_transform(
        &mut self,
        index: usize,
        transform: Affine3A,
    ) -> Result<&mut Self, SceneError> {
        self.instance_at(index)?.transform = transform;
        Ok(self)
    }

    /// Gives instance `index` another mesh.
    ///
    /// # Errors
    /// [`SceneError::Invalid`] for an instance that does not exist.
    pub fn set_mesh(&mut self, index: usize, mesh: MeshId) -> Result<&mut Self, SceneError> {
        self.instance_at(index)?.mesh = mesh.0;
        Ok(self)
    }

    /// Gives instance `index` another material.
    ///
    /// # Errors
    /// [`SceneError::Invalid`] for an instance that does not exist.
    pub fn set_material(
        &mut self,
        index: usize,
        material: Material,
    ) -> Result<&mut Self, SceneError> {
        self.instance_at(index)?.material = material;
        Ok(self)
    }

    fn instance_at(&mut self, index: usize) -> Result<&mut Instance, SceneError> {
        let n = self.instances.len();
        self.instances.get_mut(index).ok_or_else(|| {
            Check::new(Path::new(BUILDER_PATH)).fail(
                format!("instances[{index}]"),
                index,
                &format!("no such instance: there are {n}"),
            )
        })
    }

    /// Removes every instance (the meshes stay, for new instances).
    pub fn clear_instances(&mut self) -> &mut Self {
        self.instances.clear();
        self
    }

    /// Removes every light.
    pub fn clear_lights(&mut self) -> &mut Self {
        self.lights.clear();
        self
    }

    /// Removes every field (the background index stays).
    pub fn clear_fields(&mut self) -> &mut Self {
        self.fields.clear();
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

    /// Sets the whole medium: its background index and fields (replacing those
    /// added).
    pub fn medium(&mut self, medium: Medium) -> &mut Self {
        self.background = Some(medium.background);
        self.fields = medium.fields;
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
        crate::scene::validate_spacetime(&c, &self.fields, background)?;
        if let Some(cam) = &self.camera {
            crate::scene::validate_observer(&c, cam, &self.fields)?;
        }
        for (i, m) in self.meshes.iter().enumerate() {
            m.check().map_err(|reason| {
                c.fail(format!("meshes[{i}]"), m.indices.len(), &reason.to_string())
            })?;
        }
        for (i, inst) in self.instances.iter().enumerate() {
            let (mesh, material) = (inst.mesh, &inst.material);
            if !inst.transform.is_finite() || inst.transform.matrix3.determinant() == 0.0 {
                return Err(c.fail(
                    format!("instances[{i}].transform"),
                    inst.transform,
                    "must be finite and invertible",
                ));
            }
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
        if tolerances.max_steps == 0 {
            return Err(c.fail("tolerances.max_steps".into(), 0, "must be at least 1"));
        }
        Ok(Scene {
            camera: self.camera,
            meshes: self.meshes.clone(),
            instances: self.instances.clone(),
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

#[cfg(test)]
mod tests {
    use glam::{DVec3, Vec3};

    use super::*;
    use crate::material::Diffuse;

    fn scene() -> Scene {
        let text = r#"(
            camera: Some((position: (0.0, 0.0, -5.0), look_at: (0.0, 0.0, 0.0), fov_deg: 40.0)),
            meshes: [(name: "ball", source: Sphere(radius: 1.0))],
            materials: [(name: "red", kind: Diffuse(colour: (0.8, 0.1, 0.1)))],
            instances: [(mesh: "ball", material: Some("red")), (mesh: "ball", translate: (2.0, 0.0, 0.0))],
            lights: [Point(position: (0.0, 3.0, 0.0), intensity: (5.0, 5.0, 5.0))],
            fields: [Luneburg(centre: (0.0, 0.0, 0.0), radius: 1.0)],
        )"#;
        Scene::from_str(text, "inline.ron".as_ref()).unwrap()
    }

    fn field(e: SceneError) -> String {
        match e {
            SceneError::Invalid { field, .. } => field,
            other => panic!("not an invalid value: {other}"),
        }
    }

    #[test]
    fn an_edited_scene_keeps_what_was_not_changed() {
        let scene = scene();
        let same = scene.edit().build().unwrap();
        assert!(same.same_content(&scene));
        assert_eq!(same.camera(), scene.camera());
        assert!(Arc::ptr_eq(&same.meshes()[0], &scene.meshes()[0]));

        // A moved instance: the same meshes, another geometry.
        let moved = Affine3A::from_translation(Vec3::new(0.0, 1.0, 0.0));
        let mut b = scene.edit();
        b.set_transform(1, moved).unwrap();
        let next = b.build().unwrap();
        assert!(!next.same_geometry(&scene));
        assert_eq!(next.instances()[1].transform, moved);
        assert_eq!(next.instances()[0], scene.instances()[0]);

        // Another material only: the same geometry, other content.
        let mut b = scene.edit();
        b.set_material(
            0,
            Material::Diffuse(Diffuse {
                colour: [0.1; 3],
                emission: [0.0; 3],
            }),
        )
        .unwrap();
        let recoloured = b.build().unwrap();
        assert!(recoloured.same_geometry(&scene) && !recoloured.same_content(&scene));

        // Without fields and lights.
        let mut b = scene.edit();
        b.clear_fields().clear_lights();
        let bare = b.build().unwrap();
        assert!(bare.medium().fields.is_empty() && bare.lights().is_empty());
        assert_eq!(bare.instances().len(), 2);
    }

    #[test]
    fn edits_are_validated_like_a_file() {
        let scene = scene();
        let mut b = scene.edit();
        assert_eq!(
            field(b.set_transform(2, Affine3A::IDENTITY).unwrap_err()),
            "instances[2]"
        );
        b.set_transform(0, Affine3A::from_scale(Vec3::ZERO))
            .unwrap();
        assert_eq!(field(b.build().unwrap_err()), "instances[0].transform");
        let mut b = scene.edit();
        b.set_transform(1, Affine3A::from_translation(Vec3::new(f32::NAN, 0.0, 0.0)))
            .unwrap();
        assert_eq!(field(b.build().unwrap_err()), "instances[1].transform");
        let mut b = scene.edit();
        b.tolerances(Tolerances {
            max_steps: 0,
            ..Tolerances::default()
        });
        assert_eq!(field(b.build().unwrap_err()), "tolerances.max_steps");
        let mut b = scene.edit();
        b.camera(CameraDesc {
            position: DVec3::ZERO,
            look_at: DVec3::ZERO,
            up: DVec3::Y,
            fov_deg: 40.0,
            observer: Default::default(),
        });
        assert_eq!(field(b.build().unwrap_err()), "camera.look_at");
        assert!(scene.edit().mesh_id(1).is_none());
    }
}
