//! Environments: what a ray that escapes the scene sees (directions: +y is up), one
//! module per kind with its WGSL beside it, registered by one line in the
//! `environment_kinds!` list at the end of this file, which generates
//! [`Environment`], its scene-file parsing, the dispatch, the WGSL constants and the
//! shaders' `environment(dir)`. `renderer-core/README.md` lists the steps to add a
//! kind (as for field and material kinds).

use std::path::Path;
use std::sync::Arc;

use glam::DVec3;

use crate::gpu::layout::GpuParams;
use crate::material::PlaceImage;
pub(crate) use crate::scene::At;
use crate::scene::SceneError;
use crate::shade::Rgb;
use crate::texture::Texture as Image;

/// What every environment kind provides, each in its own module. The shader side is
/// the module's WGSL file: `fn <module>_radiance(dir: vec3<f32>) -> vec3<f32>`,
/// reading the `env_*` words of `params` that [`Sky::gpu`] writes.
pub(crate) trait Sky {
    /// Radiance seen along unit `dir`.
    fn radiance(&self, dir: DVec3) -> Rgb;

    /// Whether it is black in every direction (no environment lighting to sample).
    fn is_black(&self) -> bool {
        false
    }

    /// Loads what it refers to (files resolve against `base`).
    fn load(&mut self, _at: &At<'_>, _base: &Path) -> Result<(), SceneError> {
        Ok(())
    }

    /// Checks its parameters (for host-built scenes too: loaded data must be there).
    fn validate(&self, at: &At<'_>) -> Result<(), SceneError>;

    /// Its words of the GPU parameters (`env_a`, `env_b`, `env_tex`, `env_seed`;
    /// the kind is set by the caller).
    fn gpu(&self, p: &mut GpuParams, place: &mut PlaceImage<'_>);

    /// The image it holds, if any.
    fn image(&self) -> Option<&Arc<Image>> {
        None
    }

    /// Parameters for the shared tests.
    #[cfg(test)]
    fn examples() -> Vec<Self>
    where
        Self: Sized;
}

/// `c` and `w` as an f32 vec4.
pub(crate) fn c4(c: [f32; 3], w: f32) -> [f32; 4] {
    [c[0], c[1], c[2], w]
}

/// One registered kind, as the shader loader sees it.
#[derive(Debug, Clone, Copy)]
pub struct KindInfo {
    /// The variant's name (as a scene file writes it).
    pub name: &'static str,
    /// Its module (and WGSL function prefix).
    pub module: &'static str,
    /// Its GPU kind number (`GpuParams::counts[2]`) and WGSL constant `ENV_<CONST>`.
    pub gpu: u32,
    /// The WGSL constant's suffix.
    pub constant: &'static str,
    /// Its WGSL file, relative to the workspace.
    pub wgsl_path: &'static str,
    /// Its WGSL source.
    pub wgsl: &'static str,
}

macro_rules! environment_kinds {
    ($( $(#[$doc:meta])* $kind:ident($module:ident) = $gpu:literal, $constant:literal; )*) => {
        crate::kinds::kind_enum! {
            /// What a ray that escapes sees, as written in a scene file:
            /// `GradientSky(horizon: (0.8, 0.85, 0.9), zenith: (0.2, 0.35, 0.7))`.
            Environment, "an environment kind",
            $( $(#[$doc])* $kind($module), )*
        }

        /// Every registered kind, in registration order.
        pub const KINDS: &[KindInfo] = &[
            $( KindInfo {
                name: stringify!($kind),
                module: stringify!($module),
                gpu: $gpu,
                constant: $constant,
                wgsl_path: concat!("renderer-core/src/environment/", stringify!($module), ".wgsl"),
                wgsl: include_str!(concat!(stringify!($module), ".wgsl")),
            }, )*
        ];

        impl Environment {
            /// Its entry in [`KINDS`].
            #[must_use]
            pub fn info(&self) -> &'static KindInfo {
                &KINDS[self.ordinal()]
            }

            /// Radiance seen along unit `dir`.
            #[must_use]
            pub fn radiance(&self, dir: DVec3) -> Rgb {
                match self { $( Self::$kind(e) => e.radiance(dir), )* }
            }

            /// Whether it is black in every direction.
            #[must_use]
            pub fn is_black(&self) -> bool {
                match self { $( Self::$kind(e) => e.is_black(), )* }
            }

            /// The image it holds, if any.
            #[must_use]
            pub fn image(&self) -> Option<&Arc<Image>> {
                match self { $( Self::$kind(e) => e.image(), )* }
            }

            pub(crate) fn load(&mut self, at: &At<'_>, base: &Path) -> Result<(), SceneError> {
                match self { $( Self::$kind(e) => e.load(at, base), )* }
            }

            pub(crate) fn validate(&self, at: &At<'_>) -> Result<(), SceneError> {
                match self { $( Self::$kind(e) => e.validate(at), )* }
            }

            pub(crate) fn gpu(&self, p: &mut GpuParams, place: &mut PlaceImage<'_>) {
                match self { $( Self::$kind(e) => e.gpu(p, place), )* }
                p.counts[2] = self.info().gpu;
            }

            /// Every kind's examples (for the shared tests).
            #[cfg(test)]
            pub(crate) fn examples() -> Vec<Environment> {
                let mut all = Vec::new();
                $( all.extend(<$module::$kind as Sky>::examples().into_iter().map(Self::$kind)); )*
                all
            }
        }
    };
}

// The registration list: one line per kind (GPU number and WGSL constant suffix).
environment_kinds! {
    /// The same radiance in every direction.
    Constant(constant) = 0, "CONSTANT";
    /// A sky blending from the horizon (and below) to the zenith (+y).
    GradientSky(gradient) = 1, "GRADIENT";
    /// Point-like stars of random brightness and colour on a dark background.
    StarField(stars) = 2, "STARS";
    /// A latitude-longitude checkerboard (a lensing test pattern).
    CheckerSphere(checker) = 3, "CHECKER";
    /// An equirectangular (latitude-longitude) image.
    Equirect(equirect) = 4, "EQUIRECT";
}

impl Default for Environment {
    fn default() -> Self {
        Self::Constant(Constant([0.0; 3]))
    }
}

/// The shaders' dispatch over environment kinds, generated from [`KINDS`].
#[must_use]
pub fn wgsl_dispatch() -> String {
    let mut s = String::from(
        "// Generated from renderer-core/src/environment/mod.rs (the registration list).\n",
    );
    for k in KINDS {
        s += &format!("const ENV_{}: u32 = {}u;\n", k.constant, k.gpu);
    }
    s += "fn environment(dir: vec3<f32>) -> vec3<f32> {\n    let kind = params.counts.z;\n";
    for k in KINDS {
        s += &format!(
            "    if kind == ENV_{} {{\n        return {}_radiance(dir);\n    }}\n",
            k.constant, k.module
        );
    }
    s += "    return vec3<f32>(0.0);\n}\n";
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_registered_once_with_its_wgsl_and_valid_examples() {
        for (i, k) in KINDS.iter().enumerate() {
            assert!(
                KINDS[..i]
                    .iter()
                    .all(|o| o.gpu != k.gpu && o.constant != k.constant)
            );
            assert!(
                k.wgsl.contains(&format!("fn {}_radiance(", k.module)),
                "{} defines no fn {}_radiance",
                k.wgsl_path,
                k.module
            );
        }
        let check = crate::scene::Check::new(Path::new("examples.ron"));
        let examples = Environment::examples();
        for k in KINDS {
            assert!(
                examples.iter().any(|e| e.info().name == k.name),
                "{} has no examples",
                k.name
            );
        }
        for e in &examples {
            e.validate(&At::new(&check, "environment"))
                .unwrap_or_else(|err| panic!("{e:?}: {err}"));
            for dir in [DVec3::Y, -DVec3::Y, DVec3::new(0.6, 0.0, -0.8)] {
                let l = e.radiance(dir);
                assert!(l.iter().all(|v| v.is_finite() && *v >= 0.0), "{e:?}");
                if e.is_black() {
                    assert_eq!(l, [0.0; 3], "{e:?}");
                }
            }
        }
    }

    #[test]
    fn a_scene_file_names_a_kind_with_its_parameters() {
        let e: Environment = ron::from_str("Constant((0.1, 0.2, 0.3))").unwrap();
        assert_eq!(e, Environment::Constant(Constant([0.1, 0.2, 0.3])));
        let e: Environment =
            ron::from_str("GradientSky(horizon: (1, 1, 1), zenith: (0, 0, 1))").unwrap();
        assert_eq!(
            e,
            Environment::GradientSky(GradientSky {
                horizon: [1.0; 3],
                zenith: [0.0, 0.0, 1.0]
            })
        );
        let e: Environment = ron::from_str("StarField(seed: 3)").unwrap();
        assert!(matches!(
            e,
            Environment::StarField(StarField {
                seed: 3,
                cells: 256,
                ..
            })
        ));
        for (bad, says) in [
            ("Constant(0.1)", "Expected"),
            (
                "GradientSky(horizon: (1, 1, 1))",
                "missing field named `zenith`",
            ),
            (
                "Gradient(horizon: (1, 1, 1), zenith: (0, 0, 1))",
                "Unexpected variant",
            ),
        ] {
            let err = ron::from_str::<Environment>(bad).unwrap_err().to_string();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }
}
