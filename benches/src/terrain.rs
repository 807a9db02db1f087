//! The peer comparison's terrain mesh and rays, generated (never committed) as
//! specified in `../shared/reference/peer-terrain.md` and recorded in
//! `benches/peers/README.md`.

use std::io::Write;
use std::path::Path;

use glam::{Vec3, Vec3A};
use renderer_core::accel::{Mesh, Ray};

/// The seed of every random choice here.
pub const SEED: u64 = 0x6772_696e_2d74_6572; // "grin-ter"

/// splitmix64: small, seedable, and the same on every platform.
#[derive(Debug, Clone)]
pub struct SplitMix(u64);

impl SplitMix {
    /// A generator from `seed`.
    #[must_use]
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The height field over [-1, 1]^2 sampled on `n` x `n` points: 8 octaves of 6 plane
/// waves (frequency 1.5 * 2^o, amplitude 0.12 / 2^o, angle and phase uniform in
/// [0, 2 pi)), scaled so that max |z| = 0.3; two triangles per cell, (a, b, d) and
/// (a, d, c) with a = (i, j), b = (i, j+1), c = (i+1, j), d = (i+1, j+1), i indexing y.
#[must_use]
pub fn terrain(n: usize) -> Mesh {
    let mut rng = SplitMix::new(SEED);
    let tau = std::f64::consts::TAU;
    let waves: Vec<(f64, f64, f64, f64)> = (0..8)
        .flat_map(|o| {
            let f = 1.5 * 2f64.powi(o);
            let amp = 0.12 / 2f64.powi(o);
            (0..6).map(move |_| (f, amp)).collect::<Vec<_>>()
        })
        .map(|(f, amp)| (f, amp, rng.unit() * tau, rng.unit() * tau))
        .collect();
    let coord = |k: usize| -1.0 + 2.0 * k as f64 / (n - 1) as f64;
    let mut z = vec![0.0f64; n * n];
    for i in 0..n {
        for j in 0..n {
            let (x, y) = (coord(j), coord(i));
            z[i * n + j] = waves
                .iter()
                .map(|&(f, amp, a, p)| {
                    amp * (std::f64::consts::PI * f * (a.cos() * x + a.sin() * y) + p).sin()
                })
                .sum();
        }
    }
    let peak = z.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let mut mesh = Mesh::default();
    for i in 0..n {
        for j in 0..n {
            mesh.positions.push([
                coord(j) as f32,
                coord(i) as f32,
                (z[i * n + j] * 0.3 / peak) as f32,
            ]);
        }
    }
    for i in 0..n - 1 {
        for j in 0..n - 1 {
            let a = (i * n + j) as u32;
            let (b, c, d) = (a + 1, a + n as u32, a + n as u32 + 1);
            mesh.indices.push([a, b, d]);
            mesh.indices.push([a, d, c]);
        }
    }
    mesh
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
