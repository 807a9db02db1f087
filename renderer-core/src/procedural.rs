//! Procedural meshes: big geometry is generated, never committed. The terrain is the
//! peer comparison's height field (`../shared/reference/peer-terrain.md`).

use glam::Vec3;

use crate::accel::Mesh;

/// The seed of the peer comparison's terrain (recorded in `benches/peers/README.md`).
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

/// The peer comparison's height field over [-1, 1]^2 (z up) sampled on `n` x `n`
/// points (n = 708: 999,698 triangles), waves drawn from `seed`: 8 octaves of 6 plane
/// waves (frequency 1.5 * 2^o, amplitude 0.12 / 2^o, angle and phase uniform in
/// [0, 2 pi)), scaled so that max |z| = 0.3; two triangles per cell, (a, b, d) and
/// (a, d, c) with a = (i, j), b = (i, j+1), c = (i+1, j), d = (i+1, j+1), i indexing y.
#[must_use]
pub fn terrain(n: usize, seed: u64) -> Mesh {
    let n = n.max(2);
    let mut rng = SplitMix::new(seed);
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

/// An axis-aligned box from `lo` to `hi`: 8 vertices, 12 triangles wound outwards.
#[must_use]
pub fn cuboid(lo: Vec3, hi: Vec3) -> Mesh {
    let p = |k: u32| {
        [
            if k & 1 == 0 { lo.x } else { hi.x },
            if k & 2 == 0 { lo.y } else { hi.y },
            if k & 4 == 0 { lo.z } else { hi.z },
        ]
    };
    let faces = [
        [0, 2, 3, 1],
        [4, 5, 7, 6],
        [0, 1, 5, 4],
        [2, 6, 7, 3],
        [0, 4, 6, 2],
        [1, 3, 7, 5],
    ];
    Mesh {
        positions: (0..8).map(p).collect(),
        indices: faces
            .iter()
            .flat_map(|f| [[f[0], f[1], f[2]], [f[0], f[2], f[3]]])
            .collect(),
        uvs: Vec::new(),
    }
}
