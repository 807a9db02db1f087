//! An equirectangular (latitude-longitude) image around the scene.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use glam::DVec3;
use serde::Deserialize;

use super::{At, Sky};
use crate::gpu::layout::GpuParams;
use crate::material::PlaceImage;
use crate::scene::SceneError;
use crate::shade::{Rgb, equirect_uv};
use crate::texture::Texture;

fn one_f32() -> f32 {
    1.0
}

/// An equirectangular (latitude-longitude) image: u along the azimuth from -z
/// towards +x, v from +y (top row) to -y. HDR/EXR are linear, PNG sRGB.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Equirect {
    /// Image file, relative to the scene file's folder.
    pub file: PathBuf,
    /// Radiance scale.
    #[serde(default = "one_f32")]
    pub scale: f32,
    /// The decoded image (filled in by loading; a host building a scene sets it).
    #[serde(skip)]
    pub image: Option<Arc<Texture>>,
}

impl Sky for Equirect {
    fn radiance(&self, dir: DVec3) -> Rgb {
        match &self.image {
            Some(t) => {
                let (u, v) = equirect_uv(dir);
                t.sample(u, v).map(|c| c * f64::from(self.scale))
            }
            None => [0.0; 3],
        }
    }

    fn load(&mut self, at: &At<'_>, base: &Path) -> Result<(), SceneError> {
        if self.image.is_none() {
            self.image = Some(at.load_image("file", &self.file, base)?);
        }
        Ok(())
    }

    fn validate(&self, at: &At<'_>) -> Result<(), SceneError> {
        at.positive("scale", f64::from(self.scale))?;
        if self.image.is_none() {
            return Err(at.fail(
                "file",
                &self.file,
                "a built scene's environment map must carry its image",
            ));
        }
        Ok(())
    }

    fn gpu(&self, p: &mut GpuParams, place: &mut PlaceImage<'_>) {
        // equirect.wgsl: env_a.w = scale; env_tex = (first texel, width, height)
        // (a width of 0: no image).
        if let Some(t) = &self.image {
            let (b, w, h) = place(t);
            p.env_tex = [b, w, h, 0];
        }
        p.env_a = [0.0, 0.0, 0.0, self.scale];
        p.env_b = [0.0; 4];
    }

    fn image(&self) -> Option<&Arc<Texture>> {
        self.image.as_ref()
    }

    #[cfg(test)]
    fn examples() -> Vec<Self> {
        let texels = (0..24)
            .map(|i| [0.05 * i as f32, 1.0 - 0.03 * i as f32, 0.4])
            .collect();
        vec![Equirect {
            file: "example.hdr".into(),
            scale: 1.5,
            image: Some(Arc::new(
                Texture::new(6, 4, texels).expect("a valid 6 x 4 image"),
            )),
        }]
    }
}
