//! The lens room: the scene of the `lens_room` example and of the plugin's tests,
//! built from Bevy meshes, materials and lights. `assets/scenes/lens_room.ron` is
//! the same scene in Grin's format.

use bevy::prelude::*;
use glam::DVec3;
use renderer_core::field::{GaussianBlob, Luneburg};

use crate::GrinField;

/// Marks the lens (the example moves it).
#[derive(Component, Debug)]
pub struct Lens;

/// Marks the heat-haze blob (the example moves it).
#[derive(Component, Debug)]
pub struct Haze;

/// The room's camera transform: at (0, 0.5, 4) looking at (0, -0.2, -1), with its
/// vertical field of view of 50 degrees.
#[must_use]
pub fn camera() -> (Transform, Projection) {
    (
        Transform::from_xyz(0.0, 0.5, 4.0).looking_at(Vec3::new(0.0, -0.2, -1.0), Vec3::Y),
        Projection::Perspective(PerspectiveProjection {
            fov: 50f32.to_radians(),
            ..PerspectiveProjection::default()
        }),
    )
}

/// A box from its corners, as a cuboid mesh placed at its centre.
fn cuboid(
    meshes: &mut Assets<Mesh>,
    material: Handle<StandardMaterial>,
    min: Vec3,
    max: Vec3,
) -> (Mesh3d, MeshMaterial3d<StandardMaterial>, Transform) {
    let size = max - min;
    (
        Mesh3d(meshes.add(Cuboid::new(size.x, size.y, size.z))),
        MeshMaterial3d(material),
        Transform::from_translation((min + max) / 2.0),
    )
}

/// Spawns the room: floor, back wall, a red and a green box, the light, the clear
/// colour, the lens and the haze (not the camera).
pub fn spawn(
    commands: &mut Commands<'_, '_>,
    meshes: &mut Assets<Mesh>,
    materials: &mut Assets<StandardMaterial>,
) {
    let mut diffuse = |r: f32, g: f32, b: f32| materials.add(Color::linear_rgb(r, g, b));
    let (floor, wall, red, green) = (
        diffuse(0.7, 0.7, 0.7),
        diffuse(0.3, 0.4, 0.7),
        diffuse(0.8, 0.2, 0.15),
        diffuse(0.2, 0.7, 0.3),
    );
    commands.spawn((
        Mesh3d(meshes.add(Plane3d::default().mesh().size(8.0, 8.0))),
        MeshMaterial3d(floor),
        Transform::from_xyz(0.0, -1.0, 0.0),
    ));
    commands.spawn(cuboid(
        meshes,
        wall,
        Vec3::new(-4.0, -1.0, -4.0),
        Vec3::new(4.0, 3.0, -3.8),
    ));
    commands.spawn(cuboid(
        meshes,
        red,
        Vec3::new(-1.7, -1.0, -2.0),
        Vec3::new(-0.7, 0.0, -1.0),
    ));
    commands.spawn(cuboid(
        meshes,
        green,
        Vec3::new(0.9, -1.0, -2.6),
        Vec3::new(1.7, 0.2, -1.8),
    ));
    commands.spawn((
        DirectionalLight {
            illuminance: 20_000.0,
            ..DirectionalLight::default()
        },
        Transform::default().looking_to(Vec3::new(0.4, -1.0, -0.6), Vec3::Y),
    ));
    commands.insert_resource(ClearColor(Color::linear_rgb(0.2, 0.25, 0.35)));
    commands.spawn((
        Lens,
        GrinField::new(Luneburg {
            centre: DVec3::ZERO,
            radius: 0.6,
        }),
        Transform::from_xyz(-0.3, 0.0, 1.2),
    ));
    commands.spawn((
        Haze,
        GrinField::new(GaussianBlob {
            centre: DVec3::ZERO,
            sigma: 0.35,
            amplitude: -0.02,
        }),
        Transform::from_xyz(1.3, 0.7, -2.2),
    ));
}
