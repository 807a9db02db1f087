//! The structs the GPU reads, defined once: each is declared here, in Rust, by
//! `gpu_structs!`, which also writes its WGSL declaration. The shaders are this
//! prelude followed by `shaders/*.wgsl`, so a field added here reaches both sides, and
//! a unit test checks with naga's layouter that WGSL places every field where
//! `#[repr(C)]` does.

use bytemuck::{Pod, Zeroable};

/// A Rust field type and its WGSL spelling.
pub trait WgslType {
    /// The WGSL type.
    const WGSL: &'static str;
}

impl WgslType for f32 {
    const WGSL: &'static str = "f32";
}
impl WgslType for u32 {
    const WGSL: &'static str = "u32";
}
impl WgslType for [f32; 2] {
    const WGSL: &'static str = "vec2<f32>";
}
impl WgslType for [f32; 3] {
    const WGSL: &'static str = "vec3<f32>";
}
impl WgslType for [f32; 4] {
    const WGSL: &'static str = "vec4<f32>";
}
impl WgslType for [u32; 4] {
    const WGSL: &'static str = "vec4<u32>";
}
impl WgslType for [[f32; 4]; 4] {
    const WGSL: &'static str = "array<vec4<f32>, 4>";
}

/// A struct shared with WGSL.
pub trait WgslStruct: Pod {
    /// Its WGSL name.
    const NAME: &'static str;
    /// Its WGSL declaration.
    fn wgsl() -> String;
}

/// Declares `#[repr(C)]` plain-data structs together with their WGSL declarations.
macro_rules! gpu_structs {
    ($(
        $(#[doc = $doc:expr])*
        struct $name:ident {
            $( $(#[doc = $fdoc:expr])* $field:ident : $ty:ty ),* $(,)?
        }
    )*) => {
        $(
            $(#[doc = $doc])*
            #[repr(C)]
            #[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
            pub struct $name {
                $( $(#[doc = $fdoc])* pub $field: $ty ),*
            }

            impl WgslStruct for $name {
                const NAME: &'static str = stringify!($name);
                fn wgsl() -> String {
                    let mut s = format!("struct {} {{\n", stringify!($name));
                    $( s += &format!("    {}: {},\n", stringify!($field), <$ty as WgslType>::WGSL); )*
                    s + "}\n"
                }
            }
        )*

        /// The WGSL declarations of every shared struct, with their names and sizes.
        pub fn declarations() -> Vec<(&'static str, usize, String)> {
            vec![$( ($name::NAME, std::mem::size_of::<$name>(), $name::wgsl()) ),*]
        }
    };
}

/// Invocations per workgroup of every compute entry point.
pub const WORKGROUP_SIZE: u32 = 64;
/// Entries of a traversal stack (the BVH depth it allows).
pub const STACK_DEPTH: u32 = 64;
/// The most turns (traced rays, skipped ones included) a camera path takes.
pub const PATH_TURNS: u32 = 4096;
/// "No index" (no instance, no hit slot) in every buffer the shaders read or write.
pub const NONE: u32 = u32::MAX;

/// Binding indices (`B_*` in the shaders). Group 0 is the scene; group 1 is the
/// entry point's own: `render` binds the dispatch, film, counters and path states,
/// `trace_rays` the rays and results.
pub mod binding {
    /// Group 0: frame parameters (uniform).
    pub const PARAMS: u32 = 0;
    /// Group 0: BVH nodes.
    pub const NODES: u32 = 1;
    /// Group 0: triangles.
    pub const TRIANGLES: u32 = 2;
    /// Group 0: TLAS primitive order.
    pub const TLAS_PRIMS: u32 = 3;
    /// Group 0: instances.
    pub const INSTANCES: u32 = 4;
    /// Group 0: texture coordinates.
    pub const UVS: u32 = 5;
    /// Group 0: materials.
    pub const MATERIALS: u32 = 6;
    /// Group 0: lights.
    pub const LIGHTS: u32 = 7;
    /// Group 0: emissive triangles.
    pub const EMITTERS: u32 = 8;
    /// Group 0: field primitives.
    pub const FIELDS: u32 = 9;
    /// Group 0: grid scalars and curvature cells.
    pub const SCALARS: u32 = 10;
    /// Group 0: texels.
    pub const TEXELS: u32 = 11;
    /// Group 1 of `render`: the dispatch (uniform).
    pub const DISPATCH: u32 = 0;
    /// Group 1 of `render`: the film.
    pub const FILM: u32 = 1;
    /// Group 1 of `render`: counters (rays, segments, subdivisions, unfinished paths).
    pub const STATS: u32 = 2;
    /// Group 1 of `trace_rays`: the rays.
    pub const RAYS: u32 = 3;
    /// Group 1 of `trace_rays`: the results.
    pub const RESULTS: u32 = 4;
    /// Group 1 of `render`: path states between rounds.
    pub const PATHS: u32 = 5;
    /// Group 1 of the kernel probe (`probe`, tests only): the cases.
    pub const PROBES: u32 = 6;
    /// Group 1 of the kernel probe: the results.
    pub const PROBE_OUT: u32 = 7;
    /// Group 0's storage buffers, in the order a scene's buffers are built.
    pub const SCENE_STORAGE: [u32; 11] = [
        NODES, TRIANGLES, TLAS_PRIMS, INSTANCES, UVS, MATERIALS, LIGHTS, EMITTERS, FIELDS, SCALARS,
        TEXELS,
    ];
    /// Every binding, by its shader name (`B_` + name).
    pub const ALL: [(&str, u32); 20] = [
        ("PARAMS", PARAMS),
        ("NODES", NODES),
        ("TRIANGLES", TRIANGLES),
        ("TLAS_PRIMS", TLAS_PRIMS),
        ("INSTANCES", INSTANCES),
        ("UVS", UVS),
        ("MATERIALS", MATERIALS),
        ("LIGHTS", LIGHTS),
        ("EMITTERS", EMITTERS),
        ("FIELDS", FIELDS),
        ("SCALARS", SCALARS),
        ("TEXELS", TEXELS),
        ("DISPATCH", DISPATCH),
        ("FILM", FILM),
        ("STATS", STATS),
        ("RAYS", RAYS),
        ("RESULTS", RESULTS),
        ("PATHS", PATHS),
        ("PROBES", PROBES),
        ("PROBE_OUT", PROBE_OUT),
    ];
}

/// Light kinds (`GpuLight::kind`).
pub mod light {
    /// Directional.
    pub const DIRECTIONAL: u32 = 0;
    /// Point.
    pub const POINT: u32 = 1;
}

/// Stop surfaces of a traced ray (`GpuRay::stop_kind`).
pub mod stop {
    /// None.
    pub const NONE: u32 = 0;
    /// A plane.
    pub const PLANE: u32 = 1;
    /// A sphere.
    pub const SPHERE: u32 = 2;
}

/// What a traced ray looks for (`MODE_*`).
pub mod trace_mode {
    /// The closest hit (path rays, emitter rays).
    pub const CLOSEST: u32 = 0;
    /// Any hit (shadow rays).
    pub const ANY: u32 = 1;
    /// No geometry: through the fields alone.
    pub const NONE: u32 = 2;
}

/// What the next traced ray of a camera path is for (`GpuPathState::flags[1]`,
/// `TASK_*`).
pub mod path_task {
    /// The path ray (camera, bounce).
    pub const PATH: u32 = 0;
    /// The shadow ray of light `flags[2]`.
    pub const LIGHT: u32 = 1;
    /// The environment ray of a diffuse vertex.
    pub const ENV: u32 = 2;
    /// The emitter ray of a diffuse vertex.
    pub const EMITTER: u32 = 3;
}

/// Bits of `GpuPathState::flags[3]` (`FLAG_*`).
pub mod path_flag {
    /// The last bounce was specular (or the camera).
    pub const SPECULAR: u32 = 1;
    /// This vertex is the last (the bounce limit): no bounce ray.
    pub const LAST: u32 = 2;
    /// The path is finished.
    pub const DONE: u32 = 4;
    /// The current (or last) vertex is glossy: its direct light evaluates the lobe,
    /// and its bounce ray counts the environment when it escapes.
    pub const GLOSSY: u32 = 8;
    /// The camera's ray carries the far momentum of its direction (the camera is
    /// inside a Kerr hole's ergosphere: [`crate::field::Root::Far`]).
    pub const FAR_ROOT: u32 = 16;
}

/// Operations of the kernel probe (`OP_*`): the test-only entry point `probe`
/// (`shaders/probe.wgsl`) that evaluates one leaf function of the shaders per case,
/// for comparison with the CPU's (see [`super::probe`]).
pub mod probe_op {
    /// The sampler: four numbers and two raw words of stream (pixel, sample, bounce).
    pub const RNG: u32 = 0;
    /// The watertight ray-triangle test against one triangle slot.
    pub const TRIANGLE: u32 = 1;
    /// The scene's closest or any hit of a straight ray.
    pub const INTERSECT: u32 = 2;
    /// The soft gate: whether geometry may lie in a box, and in a chord's envelope.
    pub const OVERLAP: u32 = 3;
    /// One field primitive's index deviation and gradient.
    pub const DEVIATION: u32 = 4;
    /// The medium's index, gradient and mass acceleration.
    pub const MEDIUM: u32 = 5;
    /// The curvature grid and the straight-flight queries.
    pub const CURVATURE: u32 = 6;
    /// One Dormand-Prince step and the derivative.
    pub const DP_STEP: u32 = 7;
    /// The invariants: re-imposition, launch speed, the orbit's h and energy.
    pub const INVARIANTS: u32 = 8;
    /// Stop surfaces: side and straight crossing.
    pub const STOP: u32 = 9;
    /// The static observer's direction.
    pub const OBSERVER: u32 = 10;
    /// The camera ray.
    pub const CAMERA: u32 = 11;
    /// A material's albedo and emission (checker, texture lookup).
    pub const MATERIAL: u32 = 12;
    /// The environment and the equirectangular mapping.
    pub const ENVIRONMENT: u32 = 13;
    /// Fresnel, reflection and refraction.
    pub const FRESNEL: u32 = 14;
    /// Cosine-distributed directions and the orthonormal pair.
    pub const COSINE: u32 = 15;
    /// The power heuristic (MIS weights) and L / n^2.
    pub const MIS: u32 = 16;
    /// The emitter sampler (CDF, square-root warp).
    pub const EMITTER: u32 = 17;
    /// Next-event estimation: a point or directional light's shadow ray and value.
    pub const LIGHT: u32 = 18;
    /// Next-event estimation: an emitter sample's ray, density and MIS scale.
    pub const EMITTER_RAY: u32 = 19;
    /// Film accumulation of one sample.
    pub const FILM: u32 = 20;
    /// Box interval and distance range.
    pub const BOX: u32 = 21;
    /// A Kerr hole's Boyer-Lindquist radius and Hamilton's equations.
    pub const KERR: u32 = 22;
    /// A Kerr observer's 4-velocity, tetrad ray and photon energy.
    pub const KERR_CAMERA: u32 = 23;
}

gpu_structs! {
    /// One BVH node, as [`crate::accel::BvhNode`], with child and leaf indices made
    /// global: all BVHs share one node array and one triangle array.
    struct GpuNode {
        /// Box minimum.
        min: [f32; 3],
        /// Interior: left child (the right is next). Leaf: first primitive slot.
        left_or_first: u32,
        /// Box maximum.
        max: [f32; 3],
        /// Leaf: primitive count; 0 for an interior node.
        count: u32,
    }

    /// A triangle as [`crate::accel::Triangle`]: its three vertices exactly as the
    /// mesh stores them (the watertight test needs two triangles that share an edge
    /// to see the same values).
    struct GpuTriangle {
        /// First vertex.
        v0: [f32; 4],
        /// Second vertex.
        v1: [f32; 4],
        /// Third vertex.
        v2: [f32; 4],
    }

    /// An instance: the world-to-object transform, the normal matrix, its BVH root
    /// and where its triangles' texture coordinates are.
    struct GpuInstance {
        /// Rows of the 3x4 world-to-object matrix.
        inv0: [f32; 4],
        /// Second row.
        inv1: [f32; 4],
        /// Third row.
        inv2: [f32; 4],
        /// Rows of the normal matrix (inverse transpose), w unused.
        nrm0: [f32; 4],
        /// Second row.
        nrm1: [f32; 4],
        /// Third row.
        nrm2: [f32; 4],
        /// Root node of the instance's BLAS in the shared node array.
        root: u32,
        /// First slot of its triangles in the shared triangle array.
        slot_base: u32,
        /// First entry of its per-slot texture coordinates (u32::MAX: none).
        uv_base: u32,
        /// Padding.
        pad: u32,
    }

    /// Texture coordinates of one triangle's three corners.
    struct GpuUv {
        /// u0, v0, u1, v1.
        a: [f32; 4],
        /// u2, v2, unused.
        b: [f32; 4],
    }

    /// A material; the meaning of `a` and `b` depends on `kind` (the kinds of `crate::material`).
    struct GpuMaterial {
        /// Kind.
        kind: u32,
        /// First texel of its image.
        tex_base: u32,
        /// Image width.
        tex_w: u32,
        /// Image height.
        tex_h: u32,
        /// Kind-specific parameters (laid out by `material/<kind>.rs`, read by its
        /// WGSL beside it).
        a: [f32; 4],
        /// Kind-specific parameters.
        b: [f32; 4],
        /// Density per unit area of the emitter sampler choosing a point of this
        /// instance (0: not an emitter).
        area_pdf: f32,
        /// Padding.
        pad0: f32,
        /// Padding.
        pad1: f32,
        /// Padding.
        pad2: f32,
    }

    /// A point or directional light.
    struct GpuLight {
        /// Kind ([`light`]).
        kind: u32,
        /// Padding.
        pad0: u32,
        /// Padding.
        pad1: u32,
        /// Padding.
        pad2: u32,
        /// Direction or position.
        v: [f32; 4],
        /// Irradiance or intensity; w: the index at the light.
        c: [f32; 4],
    }

    /// An emissive triangle in world space, with its cumulative sampling weight.
    struct GpuEmitter {
        /// First vertex; w: cumulative distribution up to this triangle.
        a: [f32; 4],
        /// First edge.
        e1: [f32; 4],
        /// Second edge.
        e2: [f32; 4],
        /// Unit normal.
        normal: [f32; 4],
        /// Instance.
        instance: u32,
        /// Padding.
        pad0: u32,
        /// Padding.
        pad1: u32,
        /// Padding.
        pad2: u32,
    }

    /// A field primitive's parameter block: `head[0]` is its kind (the registration
    /// list of `renderer-core/src/field/mod.rs`); the rest is laid out by the kind's
    /// own module (`field/<kind>.rs`, `gpu`) and read back by its WGSL beside it.
    struct GpuField {
        /// Kind; then kind-specific words (e.g. where its data starts in `scalars`).
        head: [u32; 4],
        /// Kind-specific words.
        head2: [u32; 4],
        /// Kind-specific parameters.
        p0: [f32; 4],
        /// Kind-specific parameters.
        p1: [f32; 4],
        /// Kind-specific parameters.
        p2: [f32; 4],
    }

    /// One pixel's accumulators on the GPU (sums over its samples).
    struct GpuPixel {
        /// Radiance sum.
        rgb: [f32; 3],
        /// Samples.
        count: u32,
        /// Normal sum over hits.
        normal: [f32; 3],
        /// Samples that hit.
        hits: u32,
        /// Depth sum over hits.
        depth: f32,
        /// Instance of the first hit plus one (0: none), so that a zeroed film is
        /// empty.
        instance: u32,
        /// Segments of the camera rays.
        segments: u32,
        /// Padding.
        pad: u32,
    }

    /// Everything about a frame that is the same for every pixel.
    struct GpuParams {
        /// Width, height, max bounces, light count.
        dims: [u32; 4],
        /// Field count, emitter count, environment kind, mass count.
        counts: [u32; 4],
        /// Seed key (mix64(seed ^ golden), low and high words), max steps, soft-gate
        /// attempts.
        seed: [u32; 4],
        /// Curvature grid dims (0 x: none), unused.
        grid_dims: [u32; 4],
        /// Instance count, the camera's observer (0: none, 1: static near a
        /// Schwarzschild mass, 2: a tetrad inside a Kerr hole's region, 3: a tetrad
        /// outside it), the single Schwarzschild mass's field index (u32::MAX unless
        /// exactly one), the Kerr hole's field index (u32::MAX: none).
        misc: [u32; 4],
        /// Environment texture base, width, height, star cells.
        env_tex: [u32; 4],
        /// Star seed (low, high), unused.
        env_seed: [u32; 4],
        /// Camera position; w: tan(fov / 2).
        cam_pos: [f32; 4],
        /// Camera forward; w: the pixel's beam spread (radians per unit of path,
        /// [`crate::integrator::RayCone`]; 0: every ray at the scene's tolerances).
        cam_fwd: [f32; 4],
        /// Camera right.
        cam_right: [f32; 4],
        /// Camera up.
        cam_up: [f32; 4],
        /// Observer's mass centre and r_s.
        observer: [f32; 4],
        /// Background index, geometric tolerance, RK tolerance, far distance.
        tol: [f32; 4],
        /// Environment colour a (constant, horizon, checker a, star background); w:
        /// equirect scale or star density.
        env_a: [f32; 4],
        /// Environment colour b (zenith, checker b); w: star brightness or checker
        /// divisions.
        env_b: [f32; 4],
        /// Curvature grid min; w: smallest cell side.
        grid_min: [f32; 4],
        /// Curvature grid max.
        grid_max: [f32; 4],
        /// Curvature grid cell size.
        grid_cell: [f32; 4],
        /// A moving observer's 4-velocity near a Kerr hole (the camera's tetrad,
        /// `misc.y` = 2 inside the hole's region, 3 outside it): spatial part in
        /// scene axes, w: u^t.
        tetrad_u: [f32; 4],
        /// The tetrad's right axis (spatial part, scene axes; w: its t part).
        tetrad_right: [f32; 4],
        /// Its up axis.
        tetrad_up: [f32; 4],
        /// Its forward axis.
        tetrad_forward: [f32; 4],
    }

    /// What changes between the dispatches of a frame.
    struct GpuDispatch {
        /// Sample (pass) index.
        sample: u32,
        /// First pixel (linear index).
        first: u32,
        /// Pixels in this dispatch.
        count: u32,
        /// Path turns (traced rays) each invocation may take in this dispatch; a
        /// path not finished by then is saved in the path states and resumed by the
        /// next round. [`PATH_TURNS`] or more: every path finishes in one round.
        turns: u32,
        /// Round of this batch of pixels: 0 starts their paths, later rounds resume
        /// them.
        round: u32,
        /// Padding.
        pad0: u32,
        /// Padding.
        pad1: u32,
        /// Padding.
        pad2: u32,
    }

    /// A camera path between two rounds of a batch (see [`GpuDispatch::turns`]):
    /// the shaders' `path_sample` loop variables, packed.
    struct GpuPathState {
        /// Origin of the next path ray; w: index of refraction where the path is.
        origin: [f32; 4],
        /// Direction of the next path ray; w: BSDF pdf of the last bounce.
        dir: [f32; 4],
        /// Radiance so far; w: cosine at the vertex towards the emitter sample.
        radiance: [f32; 4],
        /// Throughput; w: light pdf of the emitter sample.
        throughput: [f32; 4],
        /// The previous vertex; w: first hit's depth (the record's).
        previous: [f32; 4],
        /// The diffuse vertex being lit; w: its random number 0.
        at: [f32; 4],
        /// Its normal; w: random number 1.
        at_n: [f32; 4],
        /// Its albedo; w: random number 2.
        at_albedo: [f32; 4],
        /// The origin of its rays; w: random number 3.
        at_origin: [f32; 4],
        /// The current light's value; w: random number 4.
        light_value: [f32; 4],
        /// The emitter sample's point; w: its area pdf.
        emitter_point: [f32; 4],
        /// The emitter sample's normal; w: the beam's width at the path's origin.
        emitter_normal: [f32; 4],
        /// The first hit's normal (the record's); w: the photon energy the path ray's
        /// observer measures (1 away from a Kerr hole).
        rec_normal: [f32; 4],
        /// The sampler: key (2 words), dimension; w: turns taken.
        rng: [u32; 4],
        /// Depth, task ([`path_task`]), light index, flags ([`path_flag`]).
        flags: [u32; 4],
        /// First hit's instance and camera-ray segments (the record's), the emitter
        /// sample's instance, unused.
        rec: [u32; 4],
    }

    /// A ray for the ray-tracing entry point (golden tests and ray parity).
    struct GpuRay {
        /// Origin.
        origin: [f32; 4],
        /// Direction.
        dir: [f32; 4],
        /// Stop surface point or centre; w: radius.
        stop_a: [f32; 4],
        /// Stop plane normal.
        stop_b: [f32; 4],
        /// Stop kind ([`stop`]), unused.
        stop_kind: [u32; 4],
        /// What f32 leaves of the origin (origin + this is it in f64, for the f64
        /// Kerr passage); w unused.
        origin_lo: [f32; 4],
        /// The same for the direction.
        dir_lo: [f32; 4],
    }

    /// One case of the kernel probe: an operation ([`probe_op`]) and its arguments.
    struct GpuProbe {
        /// Operation, then up to three integer arguments.
        op: [u32; 4],
        /// First vector argument.
        a: [f32; 4],
        /// Second.
        b: [f32; 4],
        /// Third.
        c: [f32; 4],
        /// Fourth.
        d: [f32; 4],
    }

    /// What a probe case returned (the meaning depends on the operation).
    struct GpuProbeOut {
        /// First vector result.
        a: [f32; 4],
        /// Second.
        b: [f32; 4],
        /// Third.
        c: [f32; 4],
        /// Fourth.
        d: [f32; 4],
        /// Integer results.
        u: [u32; 4],
    }

    /// Where a ray ended.
    struct GpuRayResult {
        /// Position; w: optical path.
        position: [f32; 4],
        /// Direction; w: path length to the hit.
        direction: [f32; 4],
        /// Termination (as [`crate::integrator::Termination`], in declaration order),
        /// segments, steps, hit instance (u32::MAX: none).
        info: [u32; 4],
        /// Near a Kerr hole ([`crate::integrator::KerrTrace`]): p_t, transmittance,
        /// equatorial crossings and disk crossings (as u32 bits).
        kerr: [f32; 4],
        /// The largest relative drift of H, L_z and Q; w unused.
        kerr_drift: [f32; 4],
        /// The constants where the ray entered: H, p_t, L_z, Q.
        kerr_start: [f32; 4],
        /// Each disk crossing: position and Boyer-Lindquist r.
        disk: [[f32; 4]; 4],
        /// Each disk crossing's photon energy measured by the gas.
        disk_energy: [f32; 4],
        /// Each disk crossing's weight.
        disk_weight: [f32; 4],
        /// Equatorial crossings before each disk crossing.
        disk_order: [u32; 4],
    }
}

/// The WGSL prelude: constants and every shared struct.
#[must_use]
pub fn prelude() -> String {
    let mut s = format!(
        "// Generated from renderer-core/src/gpu/layout.rs: do not edit here.\n\
         const WORKGROUP_SIZE: u32 = {WORKGROUP_SIZE}u;\n\
         const STACK_DEPTH: u32 = {STACK_DEPTH}u;\n\
         const PATH_TURNS: u32 = {PATH_TURNS}u;\n\
         const NONE: u32 = {NONE}u;\n"
    );
    for (name, b) in binding::ALL {
        s += &format!("const B_{name}: u32 = {b}u;\n");
    }
    for t in crate::integrator::Termination::ALL {
        s += &format!("const TERM_{}: u32 = {}u;\n", t.gpu_name(), t as u32);
    }
    for v in crate::integrator::Verdict::ALL {
        s += &format!("const VERDICT_{}: u32 = {}u;\n", v.gpu_name(), v as u32);
    }
    // The Dormand-Prince tableau as the shaders walk it: row i (of 7) gives stage i
    // from the stages before it (row 0: none), zero-padded to 6 columns.
    let fmt = |v: f64| format!("{v:?}");
    s += "const DP_A = array<f32, 42>(\n";
    s += "    0.0, 0.0, 0.0, 0.0, 0.0, 0.0,\n";
    for row in crate::integrator::DP_A {
        s += &format!("    {},\n", row.map(fmt).join(", "));
    }
    s += ");\n";
    s += &format!(
        "const DP_E = array<f32, 7>({});\n",
        crate::integrator::DP_E.map(fmt).join(", ")
    );
    for (prefix, consts) in [
        (
            "LIGHT",
            &[("DIRECTIONAL", light::DIRECTIONAL), ("POINT", light::POINT)][..],
        ),
        (
            "STOP",
            &[
                ("NONE", stop::NONE),
                ("PLANE", stop::PLANE),
                ("SPHERE", stop::SPHERE),
            ][..],
        ),
        (
            "MODE",
            &[
                ("CLOSEST", trace_mode::CLOSEST),
                ("ANY", trace_mode::ANY),
                ("NONE", trace_mode::NONE),
            ][..],
        ),
        (
            "TASK",
            &[
                ("PATH", path_task::PATH),
                ("LIGHT", path_task::LIGHT),
                ("ENV", path_task::ENV),
                ("EMITTER", path_task::EMITTER),
            ][..],
        ),
        (
            "FLAG",
            &[
                ("SPECULAR", path_flag::SPECULAR),
                ("LAST", path_flag::LAST),
                ("DONE", path_flag::DONE),
                ("GLOSSY", path_flag::GLOSSY),
                ("FAR_ROOT", path_flag::FAR_ROOT),
            ][..],
        ),
        (
            "OP",
            &[
                ("RNG", probe_op::RNG),
                ("TRIANGLE", probe_op::TRIANGLE),
                ("INTERSECT", probe_op::INTERSECT),
                ("OVERLAP", probe_op::OVERLAP),
                ("DEVIATION", probe_op::DEVIATION),
                ("MEDIUM", probe_op::MEDIUM),
                ("CURVATURE", probe_op::CURVATURE),
                ("DP_STEP", probe_op::DP_STEP),
                ("INVARIANTS", probe_op::INVARIANTS),
                ("STOP", probe_op::STOP),
                ("OBSERVER", probe_op::OBSERVER),
                ("CAMERA", probe_op::CAMERA),
                ("MATERIAL", probe_op::MATERIAL),
                ("ENVIRONMENT", probe_op::ENVIRONMENT),
                ("FRESNEL", probe_op::FRESNEL),
                ("COSINE", probe_op::COSINE),
                ("MIS", probe_op::MIS),
                ("EMITTER", probe_op::EMITTER),
                ("LIGHT", probe_op::LIGHT),
                ("EMITTER_RAY", probe_op::EMITTER_RAY),
                ("FILM", probe_op::FILM),
                ("BOX", probe_op::BOX),
                ("KERR", probe_op::KERR),
                ("KERR_CAMERA", probe_op::KERR_CAMERA),
            ][..],
        ),
    ] {
        for (name, v) in consts {
            s += &format!("const {prefix}_{name}: u32 = {v}u;\n");
        }
    }
    // Distances and cosines the CPU's transport defines (lights, trace).
    for (name, v) in [
        ("SURFACE_OFFSET", crate::lights::SURFACE_OFFSET),
        ("POINT_LIGHT_STOP", crate::lights::POINT_LIGHT_STOP),
        ("MIN_DISTANCE2", crate::lights::MIN_DISTANCE2),
        ("EMITTER_MIN_COSINE", crate::lights::EMITTER_MIN_COSINE),
        ("MIS_MIN_COSINE", crate::lights::MIS_MIN_COSINE),
        ("SEGMENT_START_EPS", crate::trace::SEGMENT_START_EPS),
        (
            "CONE_GEOMETRIC_FRACTION",
            crate::integrator::RayCone::GEOMETRIC_FRACTION,
        ),
    ] {
        s += &format!("const {name}: f32 = {v:?};\n");
    }
    for (_, _, decl) in declarations() {
        s += &decl;
    }
    // The field, material and environment kinds' numbers and the dispatch over them.
    s += &crate::field::wgsl_dispatch();
    s += &crate::material::wgsl_dispatch();
    s += &crate::environment::wgsl_dispatch();
    s
}
