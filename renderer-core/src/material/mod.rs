//! Materials: how a surface emits and scatters light, one module per kind with its
//! WGSL beside it (`mirror.rs` and `mirror.wgsl`), registered by one line in the
//! `material_kinds!` list at the end of this file, which generates [`Material`], its
//! scene-file parsing, the dispatch of every method, the WGSL constants and the
//! shaders' dispatch over kinds. `renderer-core/README.md` lists the steps to add a
//! kind.
//!
//! Every kind answers the same questions (`Kind`): what it emits, how it scatters
//! at a point ([`Lobe`]: a Lambertian lobe of some albedo, which takes next-event
//! estimation and a cosine-distributed bounce; a glossy lobe the kind evaluates
//! (f cos), gives the density of and samples, which takes next-event estimation
//! through the lobe with MIS and sampled bounces; delta lobes sampled by the kind's
//! `sample_specular`; or nothing), and its GPU parameter block. The path tracer
//! (`path`), next-event estimation (`lights`) and the GPU kernel use only these.

use std::path::Path;
use std::sync::Arc;

use glam::DVec3;

use crate::gpu::layout::GpuMaterial;
use crate::rng::Sampler;
pub(crate) use crate::scene::At;
use crate::scene::SceneError;
use crate::shade::Rgb;
use crate::texture::Texture as Image;

/// How a material scatters at a point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Lobe {
    /// Lambertian reflection of this albedo: f = albedo / pi, sampled with the
    /// cosine density cos / pi; takes next-event estimation.
    Lambert(Rgb),
    /// A glossy lobe (rough metal): the kind evaluates, samples and gives the density
    /// of its reflection (`glossy_eval`, `glossy_sample`, `glossy_pdf`); next-event
    /// estimation evaluates it towards each light, with multiple importance sampling
    /// against its own samples, and bounces sample it.
    Glossy,
    /// Delta lobes only (mirror, smooth dielectric): no next-event estimation; the
    /// bounce comes from the kind's specular sampling.
    Specular,
    /// Scatters nothing (a pure emitter).
    None,
}

/// A point a ray hit, as a material sees it.
#[derive(Debug, Clone, Copy)]
pub struct Surface {
    /// World position.
    pub position: DVec3,
    /// Unit normal on the side the ray came from.
    pub normal: DVec3,
    /// Whether the ray hit the geometric front face.
    pub front: bool,
    /// Texture coordinates, for kinds that ask for them ([`Material::needs_uv`]).
    pub uv: Option<[f32; 2]>,
    /// Refractive index of the medium at the point (on the ray's side).
    pub index: f64,
}

/// A direction sampled from a glossy lobe.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GlossySample {
    /// The new direction (away from the surface, on the viewer's side).
    pub direction: DVec3,
    /// Throughput factor per channel: the lobe's `f cos` over `pdf`.
    pub weight: Rgb,
    /// The density of `direction` (per solid angle).
    pub pdf: f64,
}

/// A sampled delta-lobe bounce.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpecularBounce {
    /// The new direction.
    pub direction: DVec3,
    /// Throughput factor per channel, applied as `throughput * weight * scale`.
    pub weight: Rgb,
    /// A common factor (the radiance scaling (n1/n2)^2 of a refraction).
    pub scale: f64,
    /// Whether the ray goes through the surface (its origin is offset below it).
    pub transmitted: bool,
}

/// What every material kind provides, each in its own module. The shader side is
/// the module's WGSL file: `fn <module>_emitted(m: GpuMaterial) -> vec3<f32>` if it
/// emits, `fn <module>_albedo(m: GpuMaterial, p: vec3<f32>, n: vec3<f32>, h: Hit) ->
/// vec3<f32>` for a Lambertian kind, `fn <module>_eval(m, n, wo, wi) -> vec3<f32>`,
/// `fn <module>_pdf(m, n, wo, wi) -> f32` and `fn <module>_sample(m, n, wo, u1, u2)
/// -> GlossySample` for a glossy one, `fn <module>_bounce(m: GpuMaterial, incoming:
/// vec3<f32>, n: vec3<f32>, front: bool, index_here: f32, rng: ptr<function,
/// Sampler>) -> Bounce` for a specular one, reading the block [`Kind::gpu`] writes.
pub(crate) trait Kind {
    /// Whether it emits ([`Kind::emitted`] may be non-zero).
    const EMITS: bool = false;
    /// Its lobe kind on the GPU: 0 Lambert, 1 specular, 2 none.
    const LOBE: u32;

    /// Radiance emitted (both sides).
    fn emitted(&self) -> Rgb {
        [0.0; 3]
    }

    /// How it scatters at `at`.
    fn lobe(&self, at: &Surface) -> Lobe;

    /// A glossy kind's BSDF times the cosine at `wi`, f(wo, wi) cos(n, wi), for light
    /// arriving from `wi` and leaving towards `wo` (both unit, away from the surface).
    fn glossy_eval(&self, _at: &Surface, _wo: DVec3, _wi: DVec3) -> Rgb {
        [0.0; 3]
    }

    /// The density (per solid angle) with which [`Kind::glossy_sample`] picks `wi`.
    fn glossy_pdf(&self, _at: &Surface, _wo: DVec3, _wi: DVec3) -> f64 {
        0.0
    }

    /// Samples an incoming direction for outgoing `wo` from two uniform numbers.
    fn glossy_sample(&self, _at: &Surface, _wo: DVec3, _u: [f64; 2]) -> Option<GlossySample> {
        None
    }

    /// Samples its delta lobes for a ray arriving along `incoming` (specular kinds).
    fn sample_specular(
        &self,
        _at: &Surface,
        _incoming: DVec3,
        _rng: &mut Sampler,
    ) -> Option<SpecularBounce> {
        None
    }

    /// Whether [`Kind::lobe`] reads texture coordinates.
    fn needs_uv(&self) -> bool {
        false
    }

    /// Loads what it refers to (files resolve against `base`).
    fn load(&mut self, _at: &At<'_>, _base: &Path) -> Result<(), SceneError> {
        Ok(())
    }

    /// Checks its parameters (for host-built scenes too: loaded data must be there).
    fn validate(&self, at: &At<'_>) -> Result<(), SceneError>;

    /// Its GPU parameter block (kind, `area_pdf` and padding are filled in by the
    /// caller); `place` uploads an image and gives (first texel, width, height).
    fn gpu(&self, g: &mut GpuMaterial, place: &mut PlaceImage<'_>);

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

/// Uploads an image for the GPU and gives (first texel, width, height).
pub(crate) type PlaceImage<'a> = dyn FnMut(&Arc<Image>) -> (u32, u32, u32) + 'a;

/// `c` and `w` as an f32 vec4.
pub(crate) fn c4(c: [f32; 3], w: f32) -> [f32; 4] {
    [c[0], c[1], c[2], w]
}

pub(crate) fn white() -> [f32; 3] {
    [1.0; 3]
}

/// One registered kind, as the shader loader sees it.
#[derive(Debug, Clone, Copy)]
pub struct KindInfo {
    /// The variant's name (as a scene file writes it).
    pub name: &'static str,
    /// Its module (and WGSL function prefix).
    pub module: &'static str,
    /// Its GPU kind number (`GpuMaterial::kind`) and WGSL constant `MAT_<CONST>`.
    pub gpu: u32,
    /// The WGSL constant's suffix.
    pub constant: &'static str,
    /// Whether it emits.
    pub emits: bool,
    /// Its lobe kind: 0 Lambert, 1 specular, 2 none, 3 glossy.
    pub lobe: u32,
    /// Its WGSL file, relative to the workspace.
    pub wgsl_path: &'static str,
    /// Its WGSL source.
    pub wgsl: &'static str,
}

/// [`KindInfo::lobe`] of a Lambertian kind.
pub const LOBE_LAMBERT: u32 = 0;
/// [`KindInfo::lobe`] of a specular kind.
pub const LOBE_SPECULAR: u32 = 1;
/// [`KindInfo::lobe`] of a kind that scatters nothing.
pub const LOBE_NONE: u32 = 2;
/// [`KindInfo::lobe`] of a glossy kind.
pub const LOBE_GLOSSY: u32 = 3;

macro_rules! material_kinds {
    ($( $(#[$doc:meta])* $kind:ident($module:ident) = $gpu:literal, $constant:literal; )*) => {
        crate::kinds::kind_enum! {
            /// How a surface scatters light, as written in a scene file:
            /// `Diffuse(colour: (0.8, 0.8, 0.8))` (each kind's parameters are its type's
            /// fields). Albedos are linear RGB, each in [0, 1]. Emission is two-sided.
            Material, "a material kind",
            $( $(#[$doc])* $kind($module), )*
        }

        /// Every registered kind, in registration order.
        pub const KINDS: &[KindInfo] = &[
            $( KindInfo {
                name: stringify!($kind),
                module: stringify!($module),
                gpu: $gpu,
                constant: $constant,
                emits: <$module::$kind as Kind>::EMITS,
                lobe: <$module::$kind as Kind>::LOBE,
                wgsl_path: concat!("renderer-core/src/material/", stringify!($module), ".wgsl"),
                wgsl: include_str!(concat!(stringify!($module), ".wgsl")),
            }, )*
        ];

        impl Material {
            /// Its entry in [`KINDS`].
            #[must_use]
            pub fn info(&self) -> &'static KindInfo {
                &KINDS[self.ordinal()]
            }

            /// Radiance emitted (both sides).
            #[must_use]
            pub fn emitted(&self) -> Rgb {
                match self { $( Self::$kind(m) => m.emitted(), )* }
            }

            /// How it scatters at `at`.
            #[must_use]
            pub fn lobe(&self, at: &Surface) -> Lobe {
                match self { $( Self::$kind(m) => m.lobe(at), )* }
            }

            /// Whether it scatters diffusely (a Lambertian lobe: it takes next-event
            /// estimation).
            #[must_use]
            pub fn is_diffuse(&self) -> bool {
                self.info().lobe == LOBE_LAMBERT
            }

            /// A glossy kind's f(wo, wi) cos(n, wi) (zero for other kinds).
            pub(crate) fn glossy_eval(&self, at: &Surface, wo: DVec3, wi: DVec3) -> Rgb {
                match self { $( Self::$kind(m) => m.glossy_eval(at, wo, wi), )* }
            }

            /// The density of a glossy kind's samples at `wi` (zero for other kinds).
            pub(crate) fn glossy_pdf(&self, at: &Surface, wo: DVec3, wi: DVec3) -> f64 {
                match self { $( Self::$kind(m) => m.glossy_pdf(at, wo, wi), )* }
            }

            /// Samples a glossy kind's lobe (`None` for other kinds).
            pub(crate) fn glossy_sample(
                &self,
                at: &Surface,
                wo: DVec3,
                u: [f64; 2],
            ) -> Option<GlossySample> {
                match self { $( Self::$kind(m) => m.glossy_sample(at, wo, u), )* }
            }

            /// Samples its delta lobes (`None` for other kinds).
            pub(crate) fn sample_specular(
                &self,
                at: &Surface,
                incoming: DVec3,
                rng: &mut Sampler,
            ) -> Option<SpecularBounce> {
                match self { $( Self::$kind(m) => m.sample_specular(at, incoming, rng), )* }
            }

            /// Whether [`Material::lobe`] reads texture coordinates.
            #[must_use]
            pub fn needs_uv(&self) -> bool {
                match self { $( Self::$kind(m) => m.needs_uv(), )* }
            }

            /// The image it holds, if any.
            #[must_use]
            pub fn image(&self) -> Option<&Arc<Image>> {
                match self { $( Self::$kind(m) => m.image(), )* }
            }

            pub(crate) fn load(&mut self, at: &At<'_>, base: &Path) -> Result<(), SceneError> {
                match self { $( Self::$kind(m) => m.load(at, base), )* }
            }

            pub(crate) fn validate(&self, at: &At<'_>) -> Result<(), SceneError> {
                match self { $( Self::$kind(m) => m.validate(at), )* }
            }

            pub(crate) fn gpu(
                &self,
                g: &mut GpuMaterial,
                place: &mut PlaceImage<'_>,
            ) {
                match self { $( Self::$kind(m) => m.gpu(g, place), )* }
                g.kind = self.info().gpu;
            }

            /// Every kind's examples (for the shared tests).
            #[cfg(test)]
            pub(crate) fn examples() -> Vec<Material> {
                let mut all = Vec::new();
                $( all.extend(<$module::$kind as Kind>::examples().into_iter().map(Self::$kind)); )*
                all
            }
        }
    };
}

// The registration list: one line per kind (GPU number and WGSL constant suffix).
material_kinds! {
    /// Lambertian with a constant albedo, optionally emitting too.
    Diffuse(diffuse) = 0, "DIFFUSE";
    /// Lambertian with a 3D checker of two albedos.
    Checker(checker) = 1, "CHECKER";
    /// Lambertian with its albedo from an image, by the mesh's texture coordinates.
    Texture(texture) = 2, "TEXTURE";
    /// Emits constant radiance and reflects nothing.
    Emissive(emissive) = 3, "EMISSIVE";
    /// A perfect mirror.
    Mirror(mirror) = 4, "MIRROR";
    /// A smooth dielectric interface (glass, water): Fresnel reflection and
    /// refraction.
    Dielectric(dielectric) = 5, "DIELECTRIC";
    /// A rough metal: GGX microfacets with Schlick's Fresnel (a glossy lobe).
    RoughConductor(rough_conductor) = 6, "ROUGH_CONDUCTOR";
}

impl Default for Material {
    fn default() -> Self {
        Self::Diffuse(Diffuse {
            colour: [0.7, 0.7, 0.7],
            emission: [0.0; 3],
        })
    }
}

/// The shaders' dispatch over material kinds, generated from [`KINDS`]: `emitted`,
/// `is_diffuse`, `albedo` (Lambertian kinds) and `specular_bounce` (specular kinds).
#[must_use]
pub fn wgsl_dispatch() -> String {
    let mut s = String::from(
        "// Generated from renderer-core/src/material/mod.rs (the registration list).\n",
    );
    for k in KINDS {
        s += &format!("const MAT_{}: u32 = {}u;\n", k.constant, k.gpu);
    }
    s +=
        "struct Bounce {\n    dir: vec3<f32>,\n    weight: vec3<f32>,\n    transmitted: bool,\n}\n";
    s += "struct GlossySample {\n    dir: vec3<f32>,\n    weight: vec3<f32>,\n    pdf: f32,\n    ok: bool,\n}\n";
    let kinds = |lobe: u32| KINDS.iter().filter(move |k| k.lobe == lobe);
    s += "fn emitted(m: GpuMaterial) -> vec3<f32> {\n";
    for k in KINDS.iter().filter(|k| k.emits) {
        s += &format!(
            "    if m.kind == MAT_{} {{\n        return {}_emitted(m);\n    }}\n",
            k.constant, k.module
        );
    }
    s += "    return vec3<f32>(0.0);\n}\n";
    s += "fn is_diffuse(m: GpuMaterial) -> bool {\n    return false";
    for k in kinds(LOBE_LAMBERT) {
        s += &format!(" || m.kind == MAT_{}", k.constant);
    }
    s += ";\n}\n";
    s += "fn albedo(m: GpuMaterial, p: vec3<f32>, n: vec3<f32>, h: Hit) -> vec3<f32> {\n";
    for k in kinds(LOBE_LAMBERT) {
        s += &format!(
            "    if m.kind == MAT_{} {{\n        return {}_albedo(m, p, n, h);\n    }}\n",
            k.constant, k.module
        );
    }
    s += "    return vec3<f32>(0.0);\n}\n";
    s += "fn is_specular(m: GpuMaterial) -> bool {\n    return false";
    for k in kinds(LOBE_SPECULAR) {
        s += &format!(" || m.kind == MAT_{}", k.constant);
    }
    s += ";\n}\n";
    s += "fn specular_bounce(m: GpuMaterial, incoming: vec3<f32>, n: vec3<f32>, front: bool, index_here: f32, rng: ptr<function, Sampler>) -> Bounce {\n";
    for k in kinds(LOBE_SPECULAR) {
        s += &format!(
            "    if m.kind == MAT_{} {{\n        return {}_bounce(m, incoming, n, front, index_here, rng);\n    }}\n",
            k.constant, k.module
        );
    }
    s += "    return Bounce(incoming, vec3<f32>(0.0), false);\n}\n";
    s += "fn is_glossy(m: GpuMaterial) -> bool {\n    return false";
    for k in kinds(LOBE_GLOSSY) {
        s += &format!(" || m.kind == MAT_{}", k.constant);
    }
    s += ";\n}\n";
    for (f, args, ret, none) in [
        (
            "eval",
            "wo: vec3<f32>, wi: vec3<f32>",
            "vec3<f32>",
            "vec3<f32>(0.0)",
        ),
        ("pdf", "wo: vec3<f32>, wi: vec3<f32>", "f32", "0.0"),
        (
            "sample",
            "wo: vec3<f32>, u1: f32, u2: f32",
            "GlossySample",
            "GlossySample(vec3<f32>(0.0), vec3<f32>(0.0), 0.0, false)",
        ),
    ] {
        let call = args
            .split(", ")
            .map(|a| a.split(':').next().unwrap_or(a))
            .collect::<Vec<_>>()
            .join(", ");
        s += &format!("fn glossy_{f}(m: GpuMaterial, n: vec3<f32>, {args}) -> {ret} {{\n");
        for k in kinds(LOBE_GLOSSY) {
            s += &format!(
                "    if m.kind == MAT_{} {{\n        return {}_{f}(m, n, {call});\n    }}\n",
                k.constant, k.module
            );
        }
        s += &format!("    return {none};\n}}\n");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_registered_once_with_its_wgsl() {
        for (i, k) in KINDS.iter().enumerate() {
            assert!(
                KINDS[..i]
                    .iter()
                    .all(|o| o.gpu != k.gpu && o.constant != k.constant)
            );
            let mut entries = Vec::new();
            if k.emits {
                entries.push("_emitted(");
            }
            match k.lobe {
                LOBE_LAMBERT => entries.push("_albedo("),
                LOBE_SPECULAR => entries.push("_bounce("),
                LOBE_GLOSSY => entries.extend(["_eval(", "_pdf(", "_sample("]),
                _ => {}
            }
            for entry in entries {
                assert!(
                    k.wgsl.contains(&format!("fn {}{entry}", k.module)),
                    "{} defines no fn {}{entry}",
                    k.wgsl_path,
                    k.module
                );
            }
        }
        let names: Vec<_> = Material::examples().iter().map(|m| m.info().name).collect();
        for k in KINDS {
            assert!(names.contains(&k.name), "{} has no examples", k.name);
        }
    }

    #[test]
    fn examples_are_valid_and_answer_consistently() {
        let check = crate::scene::Check::new(Path::new("examples.ron"));
        let at = Surface {
            position: DVec3::new(0.3, 0.2, 0.1),
            normal: DVec3::Y,
            front: true,
            uv: Some([0.25, 0.75]),
            index: 1.0,
        };
        for (i, m) in Material::examples().iter().enumerate() {
            m.validate(&At::new(&check, format!("materials[{i}].kind")))
                .unwrap_or_else(|e| panic!("{m:?}: {e}"));
            let lobe = m.lobe(&at);
            assert_eq!(matches!(lobe, Lobe::Lambert(_)), m.is_diffuse(), "{m:?}");
            assert_eq!(
                m.emitted().iter().any(|&v| v > 0.0),
                m.info().emits && m.emitted() != [0.0; 3],
                "{m:?}"
            );
            // A glossy lobe samples directions above the surface, with the density
            // and weight its eval and pdf give.
            let wo = DVec3::new(-0.6, 0.8, 0.0);
            let glossy = m.glossy_sample(&at, wo, [0.3, 0.6]);
            assert_eq!(glossy.is_some(), lobe == Lobe::Glossy, "{m:?}");
            if let Some(g) = glossy {
                assert!(
                    g.direction.dot(at.normal) > 0.0 && g.pdf > 0.0,
                    "{m:?}: {g:?}"
                );
                let (f, pdf) = (
                    m.glossy_eval(&at, wo, g.direction),
                    m.glossy_pdf(&at, wo, g.direction),
                );
                assert!((pdf - g.pdf).abs() <= 1e-12 * pdf, "{m:?}");
                for (w, f) in g.weight.iter().zip(f) {
                    assert!((w - f / pdf).abs() <= 1e-12 * w.max(1.0), "{m:?}");
                }
            }
            let mut rng = Sampler::new(1, 2, 3, 4);
            let bounce = m.sample_specular(&at, DVec3::new(0.6, -0.8, 0.0), &mut rng);
            assert_eq!(bounce.is_some(), lobe == Lobe::Specular, "{m:?}");
            if let Some(b) = bounce {
                // A delta bounce leaves the surface on the side it says.
                let side = b.direction.dot(at.normal);
                assert_eq!(side < 0.0, b.transmitted, "{m:?}: {b:?}");
                assert!((b.direction.length() - 1.0).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn a_scene_file_names_a_kind_with_its_parameters() {
        let m: Material = ron::from_str("Diffuse(colour: (0.8, 0.5, 0.2))").unwrap();
        assert_eq!(
            m,
            Material::Diffuse(Diffuse {
                colour: [0.8, 0.5, 0.2],
                emission: [0.0; 3]
            })
        );
        let m: Material = ron::from_str("Mirror()").unwrap();
        assert_eq!(m, Material::Mirror(Mirror { colour: [1.0; 3] }));
        for (bad, says) in [
            (
                "Dielectric(tint: (1, 1, 1))",
                "Unexpected missing field named `ior`",
            ),
            (
                "Mirror(colour: (1, 1, 1), gloss: 1)",
                "Unexpected field named `gloss`",
            ),
            (
                "Mirorr(colour: (1, 1, 1))",
                "Unexpected variant named `Mirorr`",
            ),
        ] {
            let e = ron::from_str::<Material>(bad).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
