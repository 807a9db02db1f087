//! Lambertian with its albedo from an image, looked up by the mesh's texture
//! coordinates.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use super::{PlaceImage, At, Kind, LOBE_LAMBERT, Lobe, Surface};
use crate::gpu::layout::GpuMaterial;
use crate::scene::SceneError;

fn one_f32() -> f32 {
    1.0
}

/// Lambertian with its albedo from an image (PNG as sRGB; HDR/EXR as linear),
/// looked up by the mesh's texture coordinates, repeated `repeat` times.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Texture {
    /// Image file, relative to the scene file's folder.
    pub file: PathBuf,
    /// Repeats of the image across the texture coordinates' unit square.
    #[serde(default = "one_f32")]
    pub repeat: f32,
    /// The decoded image (filled in by loading; a host building a scene sets it).
    #[serde(skip)]
    pub image: Option<Arc<crate::texture::Texture>>,
}

impl Kind for Texture {
    const LOBE: u32 = LOBE_LAMBERT;

    fn lobe(&self, at: &Surface) -> Lobe {
        Lobe::Lambert(match (&self.image, at.uv) {
            (Some(t), Some([u, v])) => {
                let r = f64::from(self.repeat);
                t.sample(f64::from(u) * r, (f64::from(v) * r).rem_euclid(1.0))
            }
            // Scene loading and building guarantee both.
            _ => [0.5; 3],
        })
    }

    fn needs_uv(&self) -> bool {
        true
    }

    fn load(&mut self, at: &At<'_>, base: &Path) -> Result<(), SceneError> {
        if self.image.is_none() {
            self.image = Some(at.load_image("file", &self.file, base)?);
        }
        Ok(())
    }

    fn validate(&self, at: &At<'_>) -> Result<(), SceneError> {
        at.positive("repeat", f64::from(self.repeat))?;
        match &self.image {
            None => Err(at.fail(
                "file",
                &self.file,
                "a built scene's texture must carry its image",
            )),
            Some(t) if t.max_value() > 1.0 => Err(at.fail(
                "file",
                t.max_value(),
                "texels are albedos and must be in [0, 1]",
            )),
            Some(_) => Ok(()),
        }
    }

    fn gpu(
        &self,
        g: &mut GpuMaterial,
        place: &mut PlaceImage<'_>,
    ) {
        // texture.wgsl: a.w = repeat; the image at tex_base, tex_w x tex_h (a
        // width of 0: no image).
        g.a[3] = self.repeat;
        if let Some(t) = &self.image {
            (g.tex_base, g.tex_w, g.tex_h) = place(t);
        }
    }

    fn image(&self) -> Option<&Arc<crate::texture::Texture>> {
        self.image.as_ref()
    }

    #[cfg(test)]
    fn examples() -> Vec<Self> {
        let texels = (0..12)
            .map(|i| [0.1 + 0.07 * i as f32, 0.9 - 0.05 * i as f32, 0.5])
            .collect();
        vec![Texture {
            file: "example.png".into(),
            repeat: 2.0,
            image: Some(Arc::new(
                crate::texture::Texture::new(4, 3, texels).expect("a valid 4 x 3 image"),
            )),
        }]
    }
}
