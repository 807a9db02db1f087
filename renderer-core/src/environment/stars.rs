//! Point-like stars of random brightness and colour on a dark background (a sky for
//! black holes: lensing shows in how the stars move).

use glam::DVec3;
use serde::Deserialize;

use super::{At, Sky, c4};
use crate::gpu::layout::GpuParams;
use crate::material::PlaceImage;
use crate::rng::mix64;
use crate::scene::SceneError;
use crate::shade::Rgb;

fn default_star_cells() -> u32 {
    256
}

fn default_star_density() -> f32 {
    0.08
}

fn default_star_brightness() -> f32 {
    4.0
}

/// Point-like stars of random brightness and colour on a dark background, the same
/// for a given `seed`: the sphere is cut into `cells` x `cells` cells per cube face,
/// and a fraction `density` of them hold a star.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StarField {
    /// Radiance between the stars.
    #[serde(default)]
    pub background: [f32; 3],
    /// Cells per cube-face edge (16..=4096).
    #[serde(default = "default_star_cells")]
    pub cells: u32,
    /// Fraction of cells with a star, in (0, 1].
    #[serde(default = "default_star_density")]
    pub density: f32,
    /// Radiance of the brightest stars.
    #[serde(default = "default_star_brightness")]
    pub brightness: f32,
    /// Seed of the star positions.
    #[serde(default)]
    pub seed: u64,
}

impl Sky for StarField {
    fn radiance(&self, dir: DVec3) -> Rgb {
        star_field(
            dir,
            self.background.map(f64::from),
            self.cells,
            f64::from(self.density),
            f64::from(self.brightness),
            self.seed,
        )
    }

    fn validate(&self, at: &At<'_>) -> Result<(), SceneError> {
        at.radiance("background", self.background)?;
        if !(16..=4096).contains(&self.cells) {
            return Err(at.fail("cells", self.cells, "must be in 16..=4096"));
        }
        if !(self.density > 0.0 && self.density <= 1.0) {
            return Err(at.fail("density", self.density, "must be in (0, 1]"));
        }
        at.positive("brightness", f64::from(self.brightness))
            .map(|_| ())
    }

    fn gpu(&self, p: &mut GpuParams, _place: &mut PlaceImage<'_>) {
        // stars.wgsl: env_a = (background, density), env_b.w = brightness,
        // env_tex.w = cells, env_seed.xy = seed (low, high words).
        p.env_tex[3] = self.cells;
        p.env_seed = [self.seed as u32, (self.seed >> 32) as u32, 0, 0];
        p.env_a = c4(self.background, self.density);
        p.env_b = [0.0, 0.0, 0.0, self.brightness];
    }

    #[cfg(test)]
    fn examples() -> Vec<Self> {
        vec![StarField {
            background: [0.01, 0.01, 0.02],
            cells: 64,
            density: 0.5,
            brightness: 4.0,
            seed: 7,
        }]
    }
}

/// Stars on a cube-map grid: each cell holds a star with probability `density`, at
/// a hashed position, with hashed brightness (many faint, few bright) and colour.
fn star_field(dir: DVec3, background: Rgb, cells: u32, density: f64, peak: f64, seed: u64) -> Rgb {
    let a = dir.abs();
    let (face, s, t) = if a.x >= a.y && a.x >= a.z {
        (u64::from(dir.x < 0.0), dir.y / a.x, dir.z / a.x)
    } else if a.y >= a.z {
        (2 + u64::from(dir.y < 0.0), dir.x / a.y, dir.z / a.y)
    } else {
        (4 + u64::from(dir.z < 0.0), dir.x / a.z, dir.y / a.z)
    };
    let n = f64::from(cells);
    let (fs, ft) = ((s + 1.0) * 0.5 * n, (t + 1.0) * 0.5 * n);
    let (i, j) = (fs.floor().min(n - 1.0), ft.floor().min(n - 1.0));
    let h = mix64(seed ^ (face << 58) ^ ((i as u64) << 29) ^ (j as u64));
    let unit = |bits: u64| (bits & 0xFFFF) as f64 / 65536.0;
    if unit(h) >= density {
        return background;
    }
    // Star centre in the middle half of its cell, radius 0.12 cells.
    let (cs, ct) = (
        i + 0.25 + 0.5 * unit(h >> 16),
        j + 0.25 + 0.5 * unit(h >> 32),
    );
    let r2 = (fs - cs).powi(2) + (ft - ct).powi(2);
    if r2 > 0.12 * 0.12 {
        return background;
    }
    let level = peak * unit(h >> 48).powi(3).max(0.02);
    let warm = unit(mix64(h));
    let tint = [0.75 + 0.25 * warm, 0.85, 1.0 - 0.3 * warm];
    std::array::from_fn(|c| background[c] + level * tint[c])
}

