//! The peer comparison's terrain mesh and rays, generated (never committed) as
//! specified in `../shared/reference/peer-terrain.md` and recorded in
//! `benches/peers/README.md`.

use std::io::Write;
use std::path::Path;

use glam::{Vec3, Vec3A};
use renderer_core::accel::{Mesh, Ray};

pub use renderer_core::procedural::{SEED, SplitMix};

/// The peer terrain (see [`renderer_core::procedural::terrain`]) with the recorded
/// seed [`SEED`].
#[must_use]
pub fn terrain(n: usize) -> Mesh {
    renderer_core::procedural::terrain(n, SEED)
}

/// Writes `mesh` as binary little-endian PLY (float x, y, z; uchar count, int
/// indices), the file both Grin and the peers load.
///
/// # Errors
/// Any I/O error.
pub fn write_ply(mesh: &Mesh, path: &Path) -> std::io::Result<()> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    write!(
        f,
        "ply\nformat binary_little_endian 1.0\nelement vertex {}\nproperty float x\nproperty float y\nproperty float z\nelement face {}\nproperty list uchar int vertex_indices\nend_header\n",
        mesh.positions.len(),
        mesh.indices.len()
    )?;
    for p in &mesh.positions {
        for c in p {
            f.write_all(&c.to_le_bytes())?;
        }
    }
    for t in &mesh.indices {
        f.write_all(&[3u8])?;
        for &i in t {
            f.write_all(&(i as i32).to_le_bytes())?;
        }
    }
    f.flush()
}

/// The camera of the peer scene.
pub const EYE: Vec3 = Vec3::new(0.0, -1.7, 1.25);
/// Point looked at.
pub const TARGET: Vec3 = Vec3::new(0.0, 0.15, -0.1);

/// `res` x `res` pinhole rays (pixel centres) from the peer camera, 45 degree fov.
#[must_use]
pub fn coherent_rays(res: usize) -> Vec<Ray> {
    let fwd = (TARGET - EYE).normalize();
    let right = fwd.cross(Vec3::Z).normalize();
    let up = right.cross(fwd);
    let half = (22.5f32).to_radians().tan();
    let mut rays = Vec::with_capacity(res * res);
    for y in 0..res {
        for x in 0..res {
            let sx = ((x as f32 + 0.5) / res as f32 * 2.0 - 1.0) * half;
            let sy = (1.0 - (y as f32 + 0.5) / res as f32 * 2.0) * half;
            rays.push(Ray {
                origin: EYE,
                dir: (fwd + right * sx + up * sy).normalize(),
                t_min: 0.0,
                t_max: f32::INFINITY,
            });
        }
    }
    rays
}

/// `n` rays with origins uniform in the mesh's bounding box and directions uniform
/// on the sphere.
#[must_use]
pub fn incoherent_rays(mesh: &Mesh, n: usize) -> Vec<Ray> {
    let (lo, hi) = mesh.positions.iter().fold(
        (Vec3A::splat(f32::MAX), Vec3A::splat(f32::MIN)),
        |(lo, hi), p| (lo.min(Vec3A::from(*p)), hi.max(Vec3A::from(*p))),
    );
    let mut rng = SplitMix::new(SEED ^ 0x5eed);
    (0..n)
        .map(|_| {
            let o = lo
                + (hi - lo) * Vec3A::new(rng.unit() as f32, rng.unit() as f32, rng.unit() as f32);
            let z = 2.0 * rng.unit() - 1.0;
            let phi = std::f64::consts::TAU * rng.unit();
            let r = (1.0 - z * z).sqrt();
            Ray {
                origin: o.into(),
                dir: Vec3::new((r * phi.cos()) as f32, (r * phi.sin()) as f32, z as f32),
                t_min: 0.0,
                t_max: f32::INFINITY,
            }
        })
        .collect()
}
