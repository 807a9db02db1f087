//! From a Bevy world to a Grin scene, each frame: the snapshot builder of a host.
//!
//! - **Meshes**: each `Mesh3d` asset with a triangle-list topology becomes a Grin mesh
//!   (positions, indices, the first UV set), converted once per asset and again when
//!   the asset changes (`AssetEvent::Modified`); Grin's BLAS cache then builds a BLAS
//!   per distinct mesh content. An asset whose data lives in the render world only
//!   (`RenderAssetUsages::RENDER_WORLD`) cannot be read: an error names it.
//! - **Instances**: every visible `Mesh3d` entity (not `Visibility::Hidden`) at its
//!   `GlobalTransform`, ordered by entity so instance ids are stable.
//! - **Materials**: a [`GrinMaterial`] if the entity has one, else its
//!   `StandardMaterial` through [`material_of`].
//! - **Lights**: `DirectionalLight`s (along the entity's forward, -Z) and
//!   `PointLight`s (at its translation), in [`GrinUnits`].
//! - **Fields**: every [`GrinField`] at its entity's translation.
//! - **Environment**: [`GrinEnvironment`] if present, else the `ClearColor` as a
//!   constant radiance (linear RGB).
//! - **Camera**: the [`GrinCamera`] entity's `GlobalTransform` (looking along -Z, +Y
//!   up) and its perspective projection's vertical field of view.
//!
//! The scene goes to the session, which compares it with the last one: the film
//! keeps converging when nothing changed, and only the changed parts are rebuilt.
//! A scene that does not validate (a field with a bad parameter) is logged once and
//! the last good one keeps rendering.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use bevy::asset::AssetEvent;
use bevy::camera::Projection;
use bevy::mesh::{Indices, PrimitiveTopology, VertexAttributeValues};
use bevy::prelude::*;
use glam::DVec3;
use renderer_core::material::{Dielectric, Diffuse, Emissive, Mirror, RoughConductor};
use renderer_core::scene::{CameraDesc, Environment, Light, Material};
use renderer_core::{Scene, SceneBuilder};

use crate::step::GrinState;
use crate::{GrinCamera, GrinEnvironment, GrinField, GrinMaterial, GrinMesh, GrinStats, GrinUnits};

/// Why a part of the Bevy scene cannot become part of a Grin scene.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ExtractError {
    /// A mesh asset Grin cannot read.
    #[error("mesh {asset}: {reason}")]
    Mesh {
        /// The asset.
        asset: String,
        /// What is wrong.
        reason: String,
    },
    /// The camera cannot be used.
    #[error("camera {entity}: {reason}")]
    Camera {
        /// The camera's entity.
        entity: Entity,
        /// What is wrong.
        reason: String,
    },
    /// The assembled scene does not validate (a field or material parameter).
    #[error("{part}: {reason}")]
    Scene {
        /// The entity the bad part came from, as Bevy prints it.
        part: String,
        /// Grin's validation message.
        reason: String,
    },
}

/// Grin meshes converted from Bevy mesh assets, by asset.
#[derive(Resource, Debug, Default)]
pub struct MeshCache {
    meshes: HashMap<AssetId<Mesh>, Result<GrinMesh, ExtractError>>,
    /// The last extraction's error, while it lasts.
    error: Option<String>,
}

impl MeshCache {
    /// The Grin mesh of `id`, converted now if it is not cached.
    fn get(
        &mut self,
        id: AssetId<Mesh>,
        assets: &Assets<Mesh>,
        uploads: &mut u64,
    ) -> Option<Result<GrinMesh, ExtractError>> {
        if let Some(m) = self.meshes.get(&id) {
            return Some(m.clone());
        }
        let mesh = assets.get(id)?;
        *uploads += 1;
        let converted = convert_mesh(mesh)
            .map(Arc::new)
            .map_err(|reason| ExtractError::Mesh {
                asset: format!("{id}"),
                reason,
            });
        self.meshes.insert(id, converted.clone());
        Some(converted)
    }

    /// Forgets `id` (its asset changed or went).
    fn forget(&mut self, id: AssetId<Mesh>) {
        self.meshes.remove(&id);
    }
}

/// A Bevy mesh as a Grin mesh: a triangle list's positions, indices (or consecutive
/// vertices without them) and first UV set.
///
/// # Errors
/// A message for another topology, positions that are not `Float32x3`, data held
/// in the render world only, or a mesh Grin rejects (no triangles, a bad index).
pub fn convert_mesh(mesh: &Mesh) -> Result<renderer_core::accel::Mesh, String> {
    if mesh.primitive_topology() != PrimitiveTopology::TriangleList {
        return Err(format!(
            "topology {:?}: Grin renders triangle lists",
            mesh.primitive_topology()
        ));
    }
    let positions = match mesh.try_attribute(Mesh::ATTRIBUTE_POSITION) {
        Ok(VertexAttributeValues::Float32x3(p)) => p.clone(),
        Ok(other) => return Err(format!("positions are {other:?}: expected Float32x3")),
        Err(e) => {
            return Err(format!(
                "positions: {e} (keep RenderAssetUsages::MAIN_WORLD so Grin can read them)"
            ));
        }
    };
    let flat: Vec<u32> = match mesh.try_indices_option() {
        Ok(Some(Indices::U16(i))) => i.iter().map(|&v| u32::from(v)).collect(),
        Ok(Some(Indices::U32(i))) => i.clone(),
        Ok(None) => (0..u32::try_from(positions.len()).map_err(|e| e.to_string())?).collect(),
        Err(e) => return Err(format!("indices: {e}")),
    };
    if !flat.len().is_multiple_of(3) {
        return Err(format!(
            "{} indices: not a whole number of triangles",
            flat.len()
        ));
    }
    let indices = flat.chunks_exact(3).map(|t| [t[0], t[1], t[2]]).collect();
    let grin = renderer_core::accel::Mesh::new(positions, indices).map_err(|e| e.to_string())?;
    match mesh.try_attribute(Mesh::ATTRIBUTE_UV_0) {
        Ok(VertexAttributeValues::Float32x2(uv)) => {
            grin.with_uvs(uv.clone()).map_err(|e| e.to_string())
        }
        _ => Ok(grin),
    }
}

/// A `StandardMaterial` as a Grin material:
/// - `specular_transmission` above 0.5: `Dielectric` (its `ior`, tinted by the base
///   colour);
/// - `metallic` above 0.5: `Mirror` when `perceptual_roughness` is under 0.05, else
///   `RoughConductor` (its roughness), coloured by the base colour;
/// - otherwise `Diffuse` of the base colour, emitting `emissive / per_unit`; a black
///   base colour with emission is `Emissive`.
///
/// Colours are linear RGB.
#[must_use]
pub fn material_of(m: &StandardMaterial, units: GrinUnits) -> Material {
    let base = m.base_color.to_linear();
    let colour = [base.red, base.green, base.blue].map(|c| c.clamp(0.0, 1.0));
    let scale = 1.0 / units.per_unit;
    let emission = [m.emissive.red, m.emissive.green, m.emissive.blue].map(|c| c.max(0.0) * scale);
    if m.specular_transmission > 0.5 {
        return Dielectric {
            ior: f64::from(m.ior),
            tint: colour,
        }
        .into();
    }
    if m.metallic > 0.5 {
        if m.perceptual_roughness < 0.05 {
            return Mirror { colour }.into();
        }
        return RoughConductor {
            colour,
            roughness: m.perceptual_roughness.clamp(0.0, 1.0),
        }
        .into();
    }
    if colour == [0.0; 3] && emission != [0.0; 3] {
        return Emissive { radiance: emission }.into();
    }
    Diffuse { colour, emission }.into()
}

/// The camera of a Grin camera entity.
fn camera_desc(
    entity: Entity,
    at: &GlobalTransform,
    projection: Option<&Projection>,
) -> Result<CameraDesc, ExtractError> {
    let fov = match projection {
        Some(Projection::Perspective(p)) => p.fov,
        Some(_) => {
            return Err(ExtractError::Camera {
                entity,
                reason: "its projection is not perspective: Grin renders a pinhole camera".into(),
            });
        }
        None => std::f32::consts::FRAC_PI_4,
    };
    let position = dvec(at.translation());
    let forward = dvec(*at.forward());
    let up = dvec(*at.up());
    Ok(CameraDesc {
        position,
        look_at: position + forward,
        up,
        fov_deg: f64::from(fov).to_degrees(),
        observer: Default::default(),
    })
}

fn dvec(v: Vec3) -> DVec3 {
    DVec3::new(f64::from(v.x), f64::from(v.y), f64::from(v.z))
}

fn linear(c: Color) -> [f32; 3] {
    let l = c.to_linear();
    [l.red, l.green, l.blue]
}

type MeshItem<'a> = (
    Entity,
    &'a Mesh3d,
    &'a GlobalTransform,
    Option<&'a MeshMaterial3d<StandardMaterial>>,
    Option<&'a GrinMaterial>,
    Option<&'a Visibility>,
);

/// The queries extraction reads.
#[derive(bevy::ecs::system::SystemParam)]
pub(crate) struct SceneQueries<'w, 's> {
    cameras: Query<
        'w,
        's,
        (
            Entity,
            &'static GlobalTransform,
            Option<&'static Projection>,
        ),
        With<GrinCamera>,
    >,
    meshes: Query<'w, 's, MeshItem<'static>>,
    fields: Query<'w, 's, (Entity, &'static GrinField, &'static GlobalTransform)>,
    directional: Query<'w, 's, (&'static DirectionalLight, &'static GlobalTransform)>,
    points: Query<'w, 's, (&'static PointLight, &'static GlobalTransform)>,
    mesh_assets: Res<'w, Assets<Mesh>>,
    materials: Res<'w, Assets<StandardMaterial>>,
    clear: Option<Res<'w, ClearColor>>,
    environment: Option<Res<'w, GrinEnvironment>>,
    units: Res<'w, GrinUnits>,
}

/// Builds the Grin scene of the world and hands it to the session (see the module).
pub(crate) fn extract_scene(
    q: SceneQueries<'_, '_>,
    mut events: MessageReader<'_, '_, AssetEvent<Mesh>>,
    mut cache: ResMut<'_, MeshCache>,
    mut state: ResMut<'_, GrinState>,
    mut stats: ResMut<'_, GrinStats>,
) {
    let started = Instant::now();
    for e in events.read() {
        match e {
            AssetEvent::Modified { id }
            | AssetEvent::Removed { id }
            | AssetEvent::Unused { id } => {
                cache.forget(*id);
            }
            _ => {}
        }
    }
    let Some((entity, at, projection)) = q.cameras.iter().min_by_key(|(e, ..)| *e) else {
        return;
    };
    let result = camera_desc(entity, at, projection)
        .and_then(|camera| build_scene(&q, &mut cache, &mut stats).map(|s| (camera, s)));
    match result {
        Ok((camera, (scene, instances))) => {
            state.set_scene(Arc::new(scene), camera);
            stats.instances = instances;
            if let Some(old) = cache.error.take() {
                info!("grin: the scene is valid again");
                if stats.error.as_deref() == Some(old.as_str()) {
                    stats.error = None;
                }
            }
        }
        Err(e) => {
            let message = e.to_string();
            if cache.error.as_deref() != Some(message.as_str()) {
                error!("grin: {message}; rendering the last good scene");
            }
            cache.error = Some(message.clone());
            stats.error = Some(message);
        }
    }
    stats.extract = started.elapsed();
}

/// The scene and its instance count.
fn build_scene(
    q: &SceneQueries<'_, '_>,
    cache: &mut MeshCache,
    stats: &mut GrinStats,
) -> Result<(Scene, usize), ExtractError> {
    let units = *q.units;
    let mut b = SceneBuilder::new();
    let mut ids = HashMap::new();
    let mut items: Vec<MeshItem<'_>> = q
        .meshes
        .iter()
        .filter(|(.., vis)| !matches!(vis, Some(Visibility::Hidden)))
        .collect();
    items.sort_unstable_by_key(|(e, ..)| *e);
    let mut instances = 0;
    for (entity, mesh, at, standard, grin, _) in items {
        let id = mesh.0.id();
        let Some(converted) = cache.get(id, &q.mesh_assets, &mut stats.mesh_uploads) else {
            // Not loaded yet: it appears when it is.
            continue;
        };
        let mesh_id = match ids.get(&id) {
            Some(m) => *m,
            None => {
                let m = b.mesh(converted?);
                ids.insert(id, m);
                m
            }
        };
        let material = match (grin, standard.and_then(|m| q.materials.get(&m.0))) {
            (Some(g), _) => g.0.clone(),
            (None, Some(m)) => material_of(m, units),
            (None, None) => Diffuse {
                colour: [0.8; 3],
                emission: [0.0; 3],
            }
            .into(),
        };
        let transform = glam::Affine3A::from_cols_array(&at.affine().to_cols_array());
        b.instance(mesh_id, transform, material);
        let name = format!("{entity}");
        b.named(&name, "bevy");
        instances += 1;
    }
    let scale = 1.0 / units.per_unit;
    for (light, at) in &q.directional {
        let c = linear(light.color);
        b.light(Light::Directional {
            direction: dvec(*at.forward()),
            irradiance: c.map(|v| v * light.illuminance * scale),
        });
    }
    for (light, at) in &q.points {
        let c = linear(light.color);
        let candela = light.intensity / (4.0 * std::f32::consts::PI);
        b.light(Light::Point {
            position: dvec(at.translation()),
            intensity: c.map(|v| v * candela * scale),
        });
    }
    let mut fields: Vec<_> = q.fields.iter().collect();
    fields.sort_unstable_by_key(|(e, ..)| *e);
    for (_, field, at) in &fields {
        b.field(field.0.clone().translated(dvec(at.translation())));
    }
    let environment = match (&q.environment, &q.clear) {
        (Some(e), _) => e.0.clone(),
        (None, Some(c)) => Environment::from(renderer_core::environment::Constant(linear(c.0))),
        (None, None) => Environment::from(renderer_core::environment::Constant([0.0; 3])),
    };
    b.environment(environment);
    let scene = b.build().map_err(|e| {
        let text = e.to_string();
        // Name the entity a field came from.
        let part = fields
            .iter()
            .enumerate()
            .find(|(i, _)| text.contains(&format!("fields[{i}]")))
            .map_or_else(
                || "scene".to_string(),
                |(_, (entity, ..))| format!("GrinField on {entity}"),
            );
        ExtractError::Scene { part, reason: text }
    })?;
    Ok((scene, instances))
}
