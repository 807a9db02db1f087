//! Images used by shading: material textures and equirectangular environment maps,
//! held as linear RGB floats and sampled bilinearly with wrap-around in u.
//!
//! PNG and other 8-bit images are sRGB-encoded and are decoded to linear; Radiance
//! HDR and OpenEXR files are linear already.

use std::path::Path;

/// A linear RGB image.
#[derive(Debug, Clone, PartialEq)]
pub struct Texture {
    width: u32,
    height: u32,
    texels: Vec<[f32; 3]>,
}

/// sRGB transfer function, decoded.
#[must_use]
pub fn srgb_to_linear(v: f32) -> f32 {
    if v <= 0.04045 {
        v / 12.92
    } else {
        ((v + 0.055) / 1.055).powf(2.4)
    }
}

/// sRGB transfer function, encoded (input clamped to [0, 1]).
#[must_use]
pub fn linear_to_srgb(v: f32) -> f32 {
    let v = v.clamp(0.0, 1.0);
    if v <= 0.003_130_8 {
        v * 12.92
    } else {
        1.055 * v.powf(1.0 / 2.4) - 0.055
    }
}

/// Why a texture cannot be made or loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TextureError {
    /// The size is zero or does not match the texels.
    #[error("{width}x{height} texture with {texels} texels")]
    Size {
        /// Width.
        width: u32,
        /// Height.
        height: u32,
        /// Texels given.
        texels: usize,
    },
    /// A texel is negative or not finite.
    #[error("texel {texel:?} is negative or not finite")]
    Texel {
        /// The texel.
        texel: [f32; 3],
    },
    /// The file is not a readable regular file of a sane size.
    #[error(transparent)]
    Input(#[from] crate::input::InputError),
    /// The image decoder failed (boxed: the decoder's error is large).
    #[error(transparent)]
    Decode(Box<image::ImageError>),
}

impl Texture {
    /// A texture from linear texels, row by row from the top.
    ///
    /// # Errors
    /// [`TextureError::Size`] if the size is zero or does not match the texel count,
    /// [`TextureError::Texel`] if a texel is negative or not finite.
    pub fn new(width: u32, height: u32, texels: Vec<[f32; 3]>) -> Result<Self, TextureError> {
        if width == 0 || height == 0 || texels.len() != width as usize * height as usize {
            return Err(TextureError::Size {
                width,
                height,
                texels: texels.len(),
            });
        }
        if let Some(&texel) = texels
            .iter()
            .find(|t| t.iter().any(|c| !c.is_finite() || *c < 0.0))
        {
            return Err(TextureError::Texel { texel });
        }
        Ok(Self {
            width,
            height,
            texels,
        })
    }

    /// Loads an image file: 8- and 16-bit formats are taken as sRGB, float formats
    /// (HDR, EXR) as linear.
    ///
    /// # Errors
    /// [`TextureError::Input`] when the file is not a readable regular file of a
    /// sane size, [`TextureError::Decode`] with the decoder's error, or why the image
    /// is unusable.
    pub fn load(path: &Path) -> Result<Self, TextureError> {
        crate::input::check_file(path, crate::input::MESH_BYTES)?;
        let img = image::open(path).map_err(|e| TextureError::Decode(Box::new(e)))?;
        let linear = matches!(
            img.color(),
            image::ColorType::Rgb32F | image::ColorType::Rgba32F
        );
        let rgb = img.to_rgb32f();
        let (w, h) = rgb.dimensions();
        let texels = rgb
            .pixels()
            .map(|p| if linear { p.0 } else { p.0.map(srgb_to_linear) })
            .collect();
        Self::new(w, h, texels)
    }

    /// Width in texels.
    #[must_use]
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in texels.
    #[must_use]
    pub fn height(&self) -> u32 {
        self.height
    }

    /// The largest value of any channel.
    #[must_use]
    pub fn max_value(&self) -> f32 {
        self.texels.iter().flatten().copied().fold(0.0, f32::max)
    }

    /// Bilinear lookup at (`u`, `v`), v = 0 at the top row; u wraps, v clamps.
    #[must_use]
    pub fn sample(&self, u: f64, v: f64) -> [f64; 3] {
        let (w, h) = (f64::from(self.width), f64::from(self.height));
        let x = u.rem_euclid(1.0) * w - 0.5;
        let y = (v.clamp(0.0, 1.0) * h - 0.5).clamp(0.0, h - 1.0);
        let (x0, y0) = (x.floor(), y.floor());
        let (fx, fy) = (x - x0, y - y0);
        let wrap = |i: f64| (i.rem_euclid(w)) as usize;
        let clampy = |j: f64| (j.min(h - 1.0)) as usize;
        let at = |i: f64, j: f64| self.texels[clampy(j) * self.width as usize + wrap(i)];
        let (a, b, c, d) = (
            at(x0, y0),
            at(x0 + 1.0, y0),
            at(x0, y0 + 1.0),
            at(x0 + 1.0, y0 + 1.0),
        );
        std::array::from_fn(|k| {
            let top = f64::from(a[k]) * (1.0 - fx) + f64::from(b[k]) * fx;
            let bottom = f64::from(c[k]) * (1.0 - fx) + f64::from(d[k]) * fx;
            top * (1.0 - fy) + bottom * fy
        })
    }
}

impl Texture {
    /// The linear texels, row by row.
    pub(crate) fn texels(&self) -> &[[f32; 3]] {
        &self.texels
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn srgb_round_trip() {
        for k in 0..=20 {
            let v = k as f32 / 20.0;
            assert!((linear_to_srgb(srgb_to_linear(v)) - v).abs() < 1e-5);
        }
    }

    #[test]
    fn bilinear_and_wrap() {
        let t = Texture::new(2, 1, vec![[0.0; 3], [1.0; 3]]).unwrap();
        // Texel centres at u = 0.25 and 0.75.
        assert_eq!(t.sample(0.25, 0.5), [0.0; 3]);
        assert_eq!(t.sample(0.75, 0.5), [1.0; 3]);
        assert!((t.sample(0.5, 0.5)[0] - 0.5).abs() < 1e-12);
        // Across the seam: u = 0 is halfway between the last and the first texel.
        assert!((t.sample(0.0, 0.5)[0] - 0.5).abs() < 1e-12);
        assert!(Texture::new(2, 2, vec![[0.0; 3]; 3]).is_err());
        assert!(Texture::new(1, 1, vec![[f32::NAN; 3]]).is_err());
    }
}
