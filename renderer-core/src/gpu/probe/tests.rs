//! Kernel parity: every leaf function of the shaders against the CPU function it
//! mirrors, on tables of inputs with their edge cases (grazing rays, boundaries, the
//! horizon, zero vectors). A failure names the function, the input, both values and
//! the tolerance. Tolerances are f32-level: the shaders compute in f32, the CPU in
//! f64 (or, for the BVH, in the same f32 operations).
//!
//! Where f32 and f64 may truly disagree on a discrete outcome (a ray exactly on a
//! triangle's edge, a box touching a bound, a star's rim), the case is accepted only
//! when the CPU itself changes its answer under a perturbation at f32 rounding scale:
//! the input is then ill-conditioned, and the count of such cases is printed.

use std::fmt::Debug;
use std::sync::{Arc, OnceLock};

use glam::{Affine3A, DVec3, Quat, Vec3};

use super::Probe;
use crate::accel::{Mesh, Ray, Triangle};
use crate::builder::SceneBuilder;
use crate::camera::Camera;
use crate::field::{
    Aabb, FieldKind, GaussianBlob, Grid, LinearGradient, Luneburg, MaxwellFishEye, SampledGrid,
    Schwarzschild,
};
use crate::gpu::layout::{GpuParams, GpuProbe, GpuProbeOut, GpuTriangle, NONE, probe_op as op};
use crate::gpu::{GpuConfig, GpuContext, GpuError, GpuScene, GpuSceneData};
use crate::integrator::{State, StopSurface, Tolerances, static_observer_direction};
use crate::lights::{self, Emitters};
use crate::rng::Sampler;
use crate::scene::{CameraDesc, Environment, Light, Material, Scene};
use crate::shade;
use crate::texture::Texture;
use crate::trace::SceneTracer;

/// The device and the probe pipeline, or `None` (after saying so) without an
/// adapter, unless `GRIN_REQUIRE_GPU=1` makes that a failure.
pub(crate) fn gpu() -> Option<&'static (Arc<GpuContext>, Probe)> {
    static CELL: OnceLock<Result<(Arc<GpuContext>, Probe), String>> = OnceLock::new();
    let made = CELL.get_or_init(|| match GpuContext::new(&GpuConfig::from_env()) {
        Ok(ctx) => {
            let probe = Probe::new(&ctx).unwrap_or_else(|e| panic!("probe pipeline: {e}"));
            Ok((Arc::new(ctx), probe))
        }
        Err(e @ GpuError::NoAdapter { .. }) => Err(e.to_string()),
        Err(e) => panic!("GPU context: {e}"),
    });
    match made {
        Ok(x) => Some(x),
        Err(e) => {
            assert!(
                std::env::var("GRIN_REQUIRE_GPU").as_deref() != Ok("1"),
                "GRIN_REQUIRE_GPU=1 but no GPU: {e}"
            );
            eprintln!("skipped: no GPU adapter ({e})");
            None
        }
    }
}

const WIDTH: u32 = 64;
const HEIGHT: u32 = 48;
const SEED: u64 = 0x005E_ED0F_61E1;

/// A scene on both sides.
struct Fixture {
    scene: Scene,
    tracer: SceneTracer,
    emitters: Emitters,
    data: GpuSceneData,
    gpu: GpuScene,
    camera: Camera,
    params: GpuParams,
}

impl Fixture {
    fn new(scene: Scene) -> Option<Self> {
        let (ctx, _) = gpu()?;
        let cache = crate::accel::BlasCache::default();
        let tracer = SceneTracer::new(&scene, &cache);
        let emitters = Emitters::new(&scene);
        let data = GpuSceneData::build(&scene, &tracer, &emitters);
        let gpu = data.upload(ctx).unwrap();
        let desc = scene.camera.expect("a camera");
        let camera = Camera::new(&desc, WIDTH, HEIGHT, &scene.medium);
        let params = gpu.params(&camera, WIDTH, HEIGHT, 4, SEED);
        Some(Self {
            scene,
            tracer,
            emitters,
            data,
            gpu,
            camera,
            params,
        })
    }

    fn run(&self, cases: &[GpuProbe]) -> Vec<GpuProbeOut> {
        let (ctx, probe) = gpu().expect("a device");
        probe.run(ctx, &self.gpu, &self.params, cases).unwrap()
    }

    fn triangles(&self) -> Vec<GpuTriangle> {
        bytemuck::cast_slice(self.data.contents("triangles").unwrap()).to_vec()
    }

    fn integrator(&self) -> &crate::integrator::Integrator {
        self.tracer.integrator()
    }
}

/// `v` as the shaders see it.
fn f32_rounded(v: DVec3) -> DVec3 {
    v.as_vec3().as_dvec3()
}

fn v4(v: DVec3, w: f64) -> [f32; 4] {
    [v.x as f32, v.y as f32, v.z as f32, w as f32]
}

fn d3(v: [f32; 4]) -> DVec3 {
    DVec3::new(f64::from(v[0]), f64::from(v[1]), f64::from(v[2]))
}

/// A probe case.
fn case(o: u32, u: [u32; 3], a: [f32; 4], b: [f32; 4], c: [f32; 4], d: [f32; 4]) -> GpuProbe {
    GpuProbe {
        op: [o, u[0], u[1], u[2]],
        a,
        b,
        c,
        d,
    }
}

const Z: [f32; 4] = [0.0; 4];

/// The checks of one test: each comparison counts; every failure is kept with its
/// function and input, and all are printed at the end.
#[derive(Default)]
struct Report {
    checked: usize,
    ill_conditioned: usize,
    failures: Vec<String>,
}

impl Report {
    /// |GPU - CPU| <= tol (1 + |CPU|).
    fn scalar(&mut self, func: &str, input: &dyn Debug, gpu: f32, cpu: f64, tol: f64) {
        self.checked += 1;
        let g = f64::from(gpu);
        if (g - cpu).abs().is_nan() || (g - cpu).abs() > tol * (1.0 + cpu.abs()) {
            self.failures.push(format!(
                "{func}({input:?}): GPU {g:e}, CPU {cpu:e} (tolerance {tol:e} x (1 + |CPU|))"
            ));
        }
    }

    /// Each component within tol (1 + |CPU|_max).
    fn vector(&mut self, func: &str, input: &dyn Debug, gpu: [f32; 4], cpu: DVec3, tol: f64) {
        self.checked += 1;
        let g = d3(gpu);
        let scale = 1.0 + cpu.abs().max_element();
        if g.is_nan() || (g - cpu).abs().max_element() > tol * scale {
            self.failures.push(format!(
                "{func}({input:?}): GPU {g}, CPU {cpu} (tolerance {tol:e} x {scale:e})"
            ));
        }
    }

    fn exact<T: PartialEq + Debug>(&mut self, func: &str, input: &dyn Debug, gpu: T, cpu: T) {
        self.checked += 1;
        if gpu != cpu {
            self.failures
                .push(format!("{func}({input:?}): GPU {gpu:?}, CPU {cpu:?}"));
        }
    }

    /// A discrete outcome: equal, or accepted as ill-conditioned when `sensitive`.
    fn outcome<T: PartialEq + Debug>(
        &mut self,
        func: &str,
        input: &dyn Debug,
        gpu: T,
        cpu: T,
        sensitive: impl FnOnce() -> bool,
    ) -> bool {
        self.checked += 1;
        if gpu == cpu {
            return true;
        }
        if sensitive() {
            self.ill_conditioned += 1;
        } else {
            self.failures
                .push(format!("{func}({input:?}): GPU {gpu:?}, CPU {cpu:?}"));
        }
        false
    }

    /// A distance the shaders give as a negative number for "none": both none, or
    /// both within `tol(cpu)`. Whether both found one.
    fn optional(
        &mut self,
        func: &str,
        input: &dyn Debug,
        gpu: f32,
        cpu: Option<f64>,
        tol: impl Fn(f64) -> f64,
    ) -> bool {
        let gpu = (gpu >= 0.0).then_some(f64::from(gpu));
        match (gpu, cpu) {
            (Some(g), Some(c)) => {
                self.checked += 1;
                if (g - c).abs() > tol(c) {
                    self.failures
                        .push(format!("{func}({input:?}): GPU {g}, CPU {c}"));
                }
                true
            }
            (g, c) => {
                self.exact(&format!("{func} (found)"), input, g.is_some(), c.is_some());
                false
            }
        }
    }

    fn finish(self, what: &str) {
        eprintln!(
            "{what}: {} checks, {} ill-conditioned cases accepted",
            self.checked, self.ill_conditioned
        );
        assert!(
            self.failures.is_empty(),
            "{what}: {} of {} checks failed:\n  {}",
            self.failures.len(),
            self.checked,
            self.failures.join("\n  ")
        );
        assert!(
            self.ill_conditioned * 20 <= self.checked,
            "{what}: {} of {} cases ill-conditioned: the table is not testing much",
            self.ill_conditioned,
            self.checked
        );
    }
}

/// Deterministic inputs: the renderer's own sampler as a plain generator.
struct Numbers(Sampler);

impl Numbers {
    fn new(stream: u32) -> Self {
        Self(Sampler::new(stream, 0, 0, 1))
    }

    fn f(&mut self) -> f64 {
        self.0.next_f64()
    }

    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.f()
    }

    fn point(&mut self, lo: DVec3, hi: DVec3) -> DVec3 {
        DVec3::new(
            self.range(lo.x, hi.x),
            self.range(lo.y, hi.y),
            self.range(lo.z, hi.z),
        )
    }

    fn unit(&mut self) -> DVec3 {
        let z = self.range(-1.0, 1.0);
        let phi = self.range(0.0, std::f64::consts::TAU);
        let r = (1.0 - z * z).sqrt();
        DVec3::new(r * phi.cos(), r * phi.sin(), z)
    }
}

// ---- scenes ----

fn quad_with_uvs() -> Arc<Mesh> {
    Arc::new(
        Mesh::new(
            vec![
                [-1.0, 0.0, -1.0],
                [1.0, 0.0, -1.0],
                [1.0, 0.0, 1.0],
                [-1.0, 0.0, 1.0],
            ],
            vec![[0, 2, 1], [0, 3, 2]],
        )
        .unwrap()
        .with_uvs(vec![[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
        .unwrap(),
    )
}

fn cube() -> Arc<Mesh> {
    Arc::new(crate::procedural::cuboid(
        Vec3::splat(-0.5),
        Vec3::splat(0.5),
    ))
}

fn tetra() -> Arc<Mesh> {
    Arc::new(
        Mesh::new(
            vec![
                [0.0, 0.6, 0.0],
                [-0.5, -0.3, -0.4],
                [0.5, -0.3, -0.4],
                [0.0, -0.3, 0.5],
            ],
            vec![[0, 1, 2], [0, 2, 3], [0, 3, 1], [1, 3, 2]],
        )
        .unwrap(),
    )
}

fn image() -> Arc<Texture> {
    let texels = (0..12)
        .map(|i| {
            let f = i as f32 / 11.0;
            [f, 1.0 - f, 0.25 + 0.5 * (i % 2) as f32]
        })
        .collect();
    Arc::new(Texture::new(4, 3, texels).unwrap())
}

fn grid_field() -> FieldKind {
    let dims = [4, 3, 5];
    let (min, max) = (DVec3::new(-1.0, -1.5, 5.0), DVec3::new(1.0, 0.5, 7.0));
    let values = (0..dims[0] * dims[1] * dims[2])
        .map(|i| 0.02 * ((i * 7919) % 13) as f64 / 13.0)
        .collect();
    FieldKind::Grid(Grid {
        file: "probe-grid".into(),
        grid: Some(Arc::new(SampledGrid {
            dims,
            min,
            max,
            values,
        })),
    })
}

/// Every kind of geometry, material, light and GRIN field.
fn rich(environment: Environment) -> Scene {
    let mut b = SceneBuilder::new();
    b.camera(CameraDesc {
        position: DVec3::new(0.3, 0.8, -3.0),
        look_at: DVec3::new(0.0, 0.0, 4.0),
        up: DVec3::Y,
        fov_deg: 55.0,
        observer: Default::default(),
    });
    let (quad, cube, tetra) = (b.mesh(quad_with_uvs()), b.mesh(cube()), b.mesh(tetra()));
    let at = |s: f32, r: Quat, t: [f32; 3]| {
        Affine3A::from_scale_rotation_translation(Vec3::splat(s), r, Vec3::from(t))
    };
    b.instance(
        cube,
        at(
            1.5,
            Quat::from_euler(glam::EulerRot::XYZ, 0.3, 0.7, 0.1),
            [0.0, 0.0, 4.0],
        ),
        Material::Checker(crate::material::Checker {
            a: [0.9, 0.8, 0.7],
            b: [0.1, 0.2, 0.3],
            scale: 2.0,
        }),
    );
    b.instance(
        quad,
        at(6.0, Quat::IDENTITY, [0.0, -1.2, 3.0]),
        Material::Texture(crate::material::Texture {
            file: "probe-image".into(),
            repeat: 2.0,
            image: Some(image()),
        }),
    );
    b.instance(
        quad,
        at(
            0.8,
            Quat::from_rotation_x(std::f32::consts::PI),
            [0.5, 3.0, 3.0],
        ),
        Material::Emissive(crate::material::Emissive {
            radiance: [4.0, 3.5, 3.0],
        }),
    );
    b.instance(
        tetra,
        at(1.0, Quat::from_rotation_y(0.4), [-2.0, 0.0, 3.0]),
        Material::Mirror(crate::material::Mirror {
            colour: [0.9, 0.9, 0.8],
        }),
    );
    b.instance(
        cube,
        at(0.6, Quat::from_rotation_z(0.2), [2.0, 0.5, 3.0]),
        Material::Dielectric(crate::material::Dielectric {
            ior: 1.5,
            tint: [0.95, 1.0, 0.9],
        }),
    );
    b.instance(
        quad,
        at(
            2.0,
            Quat::from_rotation_z(std::f32::consts::FRAC_PI_2),
            [4.5, 0.5, 4.0],
        ),
        Material::Diffuse(crate::material::Diffuse {
            colour: [0.6, 0.5, 0.4],
            emission: [0.5, 0.2, 0.1],
        }),
    );
    b.instance(
        tetra,
        at(1.2, Quat::from_rotation_y(-0.5), [-1.0, -0.6, 2.2]),
        Material::RoughConductor(crate::material::RoughConductor {
            colour: [0.95, 0.64, 0.54],
            roughness: 0.35,
        }),
    );
    b.light(Light::Directional {
        direction: DVec3::new(0.3, -1.0, 0.2),
        irradiance: [1.0, 0.9, 0.8],
    });
    b.light(Light::Point {
        position: DVec3::new(0.0, 2.0, 1.0),
        intensity: [3.0, 2.5, 2.0],
    });
    b.field(FieldKind::LinearGradient(LinearGradient {
        n0: 1.0,
        gradient: DVec3::new(0.0, 0.01, 0.005),
        region: Aabb::new(DVec3::new(-3.0, -1.0, 7.5), DVec3::new(3.0, 2.0, 9.0)),
    }));
    b.field(FieldKind::Luneburg(Luneburg {
        centre: DVec3::new(0.0, 0.0, 1.5),
        radius: 0.8,
    }));
    b.field(FieldKind::MaxwellFishEye(MaxwellFishEye {
        centre: DVec3::new(-2.5, 1.5, 6.0),
        radius: 0.7,
        n0: 2.0,
        extent: 1.0,
    }));
    b.field(FieldKind::GaussianBlob(GaussianBlob {
        centre: DVec3::new(2.0, 1.5, 1.0),
        sigma: 0.3,
        amplitude: 0.2,
    }));
    b.field(grid_field());
    b.environment(environment);
    b.build().unwrap()
}

fn gradient_sky() -> Environment {
    Environment::GradientSky(crate::environment::GradientSky {
        horizon: [0.8, 0.85, 0.9],
        zenith: [0.2, 0.35, 0.7],
    })
}

/// Masses alone: one (the orbit invariants apply) or two.
fn masses(two: bool) -> Scene {
    let mut b = SceneBuilder::new();
    b.camera(CameraDesc {
        position: DVec3::new(0.0, 2.0, -15.0),
        look_at: DVec3::ZERO,
        up: DVec3::Y,
        fov_deg: 40.0,
        observer: Default::default(),
    });
    b.field(FieldKind::Schwarzschild(Schwarzschild {
        centre: DVec3::ZERO,
        rs: 1.0,
        extent: 30.0,
    }));
    if two {
        b.field(FieldKind::Schwarzschild(Schwarzschild {
            centre: DVec3::new(6.0, 1.0, 2.0),
            rs: 0.5,
            extent: 8.0,
        }));
    }
    b.environment(Environment::StarField(crate::environment::StarField {
        background: [0.01, 0.01, 0.02],
        cells: 64,
        density: 0.3,
        brightness: 4.0,
        seed: 3,
    }));
    b.tolerances(Tolerances::default());
    b.build().unwrap()
}

// ---- the tests ----

#[test]
fn random_numbers_match_the_cpu_sampler() {
    let Some(f) = Fixture::new(rich(gradient_sky())) else {
        return;
    };
    let mut inputs = Vec::new();
    for pixel in [0, 1, 12_345, 1 << 24, u32::MAX] {
        for sample in [0, 1, 7, 1 << 20] {
            for bounce in [0, 1, 5] {
                inputs.push([pixel, sample, bounce]);
            }
        }
    }
    let cases: Vec<_> = inputs
        .iter()
        .map(|&u| case(op::RNG, u, Z, Z, Z, Z))
        .collect();
    let out = f.run(&cases);
    let mut r = Report::default();
    for (u, o) in inputs.iter().zip(&out) {
        let mut s = Sampler::new(u[0], u[1], u[2], SEED);
        let (w0, w1) = (s.next_u64(), s.next_u64());
        let split = |w: u64| [w as u32, (w >> 32) as u32];
        let words = [split(w0), split(w1)].concat();
        r.exact("next_u64", u, o.u.to_vec(), words);
        let mut s = Sampler::new(u[0], u[1], u[2], SEED);
        for k in 0..4 {
            let cpu = s.next_f64();
            // The shaders keep the top 24 of the CPU's 53 bits.
            let cut = (cpu * 16_777_216.0).floor() / 16_777_216.0;
            r.exact("next_f", &(u, k), o.a[k], cut as f32);
        }
    }
    r.finish("sampler");
}

/// The f64 margin of the barycentrics of `ray` on `tri`: how far inside (> 0) or
/// outside the nearest edge the ray passes.
fn edge_margin(tri: &GpuTriangle, ray: &Ray) -> f64 {
    let v = |a: [f32; 4]| DVec3::new(a[0].into(), a[1].into(), a[2].into());
    let (e1, e2) = (v(tri.v1) - v(tri.v0), v(tri.v2) - v(tri.v0));
    let (o, d) = (ray.origin.as_dvec3(), ray.dir.as_dvec3());
    let p = d.cross(e2);
    let det = e1.dot(p);
    if det.abs() < 1e-30 {
        return 0.0;
    }
    let s = o - v(tri.v0);
    let u = s.dot(p) / det;
    let q = s.cross(e1);
    let w = d.dot(q) / det;
    u.min(w).min(1.0 - u - w)
}

#[test]
fn ray_triangle_matches_the_cpu() {
    let Some(f) = Fixture::new(rich(gradient_sky())) else {
        return;
    };
    let tris = f.triangles();
    let mut rays = Vec::new();
    let mut n = Numbers::new(11);
    for (slot, t) in tris.iter().enumerate() {
        let v = |a: [f32; 4]| Vec3::new(a[0], a[1], a[2]);
        let (v0, e1, e2) = (v(t.v0), v(t.v1) - v(t.v0), v(t.v2) - v(t.v0));
        let normal = e1.cross(e2).normalize_or_zero();
        let centroid = v0 + (e1 + e2) / 3.0;
        let off = normal * 0.7 + Vec3::new(0.05, -0.03, 0.02);
        let mut push = |origin: Vec3, dir: Vec3, t_min: f32, t_max: f32| {
            rays.push((
                slot as u32,
                Ray {
                    origin,
                    dir,
                    t_min,
                    t_max,
                },
            ));
        };
        // Head-on, from behind, short of it, and a miss.
        push(centroid + off, -off, 0.0, f32::INFINITY);
        push(centroid - off, off * 2.0, 0.0, 10.0);
        push(centroid + off, -off, 0.0, 0.5);
        push(centroid + off, -off + e1 * 3.0, 0.0, f32::INFINITY);
        // At a vertex and an edge's midpoint (edge cases, literally).
        push(v0 + off, -off, 0.0, f32::INFINITY);
        push(v0 + e1 * 0.5 + off, -off, 0.0, f32::INFINITY);
        // Grazing: in the triangle's plane, and at a shallow angle.
        push(centroid - e1, e1, 0.0, f32::INFINITY);
        push(
            centroid - e1 + normal * 1e-3,
            e1 - normal * 2e-3,
            0.0,
            f32::INFINITY,
        );
        // A zero direction and a t_min beyond the hit.
        push(centroid + off, Vec3::ZERO, 0.0, f32::INFINITY);
        push(centroid + off, -off, 2.0, f32::INFINITY);
        // Random directions through random points of it.
        for _ in 0..4 {
            let (a, b) = (n.f() as f32, n.f() as f32);
            let target = v0 + e1 * a * 0.5 + e2 * b * 0.5;
            let from = target + n.unit().as_vec3() * 2.0;
            push(from, target - from, 0.0, f32::INFINITY);
        }
    }
    let cases: Vec<_> = rays
        .iter()
        .map(|(slot, ray)| {
            let o = ray.origin;
            let d = ray.dir;
            case(
                op::TRIANGLE,
                [*slot, 0, 0],
                [o.x, o.y, o.z, ray.t_min],
                [d.x, d.y, d.z, ray.t_max],
                Z,
                Z,
            )
        })
        .collect();
    let out = f.run(&cases);
    let mut r = Report::default();
    for ((slot, ray), o) in rays.iter().zip(&out) {
        let t = &tris[*slot as usize];
        let tri = Triangle {
            v0: t.v0,
            v1: t.v1,
            v2: t.v2,
        };
        let cpu = crate::accel::intersect_triangle(&tri, ray, ray.t_max);
        let gpu = (o.a[0] >= 0.0).then_some((o.a[0], o.a[1], o.a[2]));
        let input = (slot, ray);
        let agree = r.outcome(
            "intersect_triangle (hit)",
            &input,
            gpu.is_some(),
            cpu.is_some(),
            || edge_margin(t, ray).abs() < 1e-5,
        );
        if let (true, Some(g), Some(c)) = (agree, gpu, cpu) {
            r.scalar("intersect_triangle t", &input, g.0, c.0.into(), 1e-5);
            r.scalar("intersect_triangle u", &input, g.1, c.1.into(), 1e-5);
            r.scalar("intersect_triangle v", &input, g.2, c.2.into(), 1e-5);
        }
    }
    r.finish("ray-triangle");
}

#[test]
fn scene_hits_match_the_cpu_bvh() {
    let Some(f) = Fixture::new(rich(gradient_sky())) else {
        return;
    };
    let tris = f.triangles();
    let mut rays = Vec::new();
    for y in 0..12 {
        for x in 0..16 {
            let (o, d) = f.camera.ray(
                (f64::from(x) + 0.37) * f64::from(WIDTH) / 16.0,
                (f64::from(y) + 0.61) * f64::from(HEIGHT) / 12.0,
            );
            rays.push(Ray {
                origin: o.as_vec3(),
                dir: d.as_vec3(),
                t_min: 0.0,
                t_max: f32::INFINITY,
            });
        }
    }
    let mut n = Numbers::new(12);
    for _ in 0..200 {
        let o = n.point(DVec3::new(-4.0, -1.0, -1.0), DVec3::new(4.0, 3.0, 7.0));
        let d = n.unit() * n.range(0.5, 3.0);
        let t_max = if n.f() < 0.3 {
            n.range(0.1, 3.0)
        } else {
            f64::INFINITY
        };
        rays.push(Ray {
            origin: o.as_vec3(),
            dir: d.as_vec3(),
            t_min: 1e-4,
            t_max: t_max as f32,
        });
    }
    let mut cases = Vec::new();
    for ray in &rays {
        for any in [0, 1] {
            let (o, d) = (ray.origin, ray.dir);
            cases.push(case(
                op::INTERSECT,
                [any, 0, 0],
                [o.x, o.y, o.z, ray.t_min],
                [d.x, d.y, d.z, ray.t_max],
                Z,
                Z,
            ));
        }
    }
    let out = f.run(&cases);
    let tlas = f.tracer.tlas();
    let mut r = Report::default();
    // How close to an edge the GPU's hit was (in the f64 barycentrics of its slot).
    let gpu_margin = |o: &GpuProbeOut, ray: &Ray| {
        if o.u[0] == NONE {
            return 1.0;
        }
        let inst = &f.data_instances()[o.u[1] as usize];
        let local = inst.to_object(ray);
        edge_margin(&tris[o.u[0] as usize], &local).abs()
    };
    for (k, ray) in rays.iter().enumerate() {
        let (closest, any) = (&out[2 * k], &out[2 * k + 1]);
        let cpu = tlas.intersect(ray);
        let near_edge = || {
            gpu_margin(closest, ray) < 1e-4
                || cpu.is_some_and(|h| h.u.min(h.v).min(1.0 - h.u - h.v) < 1e-4)
        };
        let agree = r.outcome(
            "scene_intersect (closest: instance)",
            ray,
            (closest.u[0] != NONE).then_some(closest.u[1]),
            cpu.map(|h| h.instance),
            near_edge,
        );
        if let (true, Some(h)) = (agree, cpu) {
            r.scalar("scene_intersect t", ray, closest.a[0], h.t.into(), 1e-4);
            r.vector(
                "scene_intersect normal",
                ray,
                closest.b,
                h.normal.as_dvec3(),
                1e-4,
            );
            if h.u.min(h.v).min(1.0 - h.u - h.v) > 1e-4 {
                r.scalar("scene_intersect u", ray, closest.a[1], h.u.into(), 1e-4);
                r.scalar("scene_intersect v", ray, closest.a[2], h.v.into(), 1e-4);
            }
        }
        r.outcome(
            "scene_intersect (any: hit)",
            ray,
            any.u[0] != NONE,
            tlas.occluded(ray),
            near_edge,
        );
    }
    r.finish("BVH closest and any hit");
}

/// The world-to-object transform of an uploaded instance.
struct InstanceTransform {
    rows: [[f32; 4]; 3],
}

impl InstanceTransform {
    fn to_object(&self, ray: &Ray) -> Ray {
        let h = |p: Vec3, w: f32| {
            let r = |row: [f32; 4]| row[0] * p.x + row[1] * p.y + row[2] * p.z + row[3] * w;
            Vec3::new(r(self.rows[0]), r(self.rows[1]), r(self.rows[2]))
        };
        Ray {
            origin: h(ray.origin, 1.0),
            dir: h(ray.dir, 0.0),
            ..*ray
        }
    }
}

impl Fixture {
    fn data_instances(&self) -> Vec<InstanceTransform> {
        let inst: &[crate::gpu::layout::GpuInstance] =
            bytemuck::cast_slice(self.data.contents("instances").unwrap());
        inst.iter()
            .map(|i| InstanceTransform {
                rows: [i.inv0, i.inv1, i.inv2],
            })
            .collect()
    }
}

#[test]
fn soft_gate_overlap_matches_the_cpu() {
    let Some(f) = Fixture::new(rich(gradient_sky())) else {
        return;
    };
    let mut n = Numbers::new(13);
    let mut boxes = Vec::new();
    let mut chords = Vec::new();
    for _ in 0..300 {
        let c = n.point(DVec3::new(-5.0, -2.0, -1.0), DVec3::new(5.0, 4.0, 7.0));
        let half = DVec3::splat(n.range(0.005, 0.6)) * (DVec3::ONE + n.unit() * 0.5);
        boxes.push((c - half, c + half));
        let end = c + n.unit() * n.range(0.01, 2.0);
        chords.push((c, end, n.range(0.0, 0.3)));
    }
    let cases: Vec<_> = boxes
        .iter()
        .zip(&chords)
        .map(|(&(lo, hi), &(s, e, dev))| {
            case(
                op::OVERLAP,
                [0; 3],
                v4(lo, 0.0),
                v4(hi, 0.0),
                v4(s, 0.0),
                v4(e, dev),
            )
        })
        .collect();
    let out = f.run(&cases);
    let tlas = f.tracer.tlas();
    let mut r = Report::default();
    for ((&(lo, hi), &(s, e, dev)), o) in boxes.iter().zip(&chords).zip(&out) {
        let cpu_box = |grow: f64| {
            let g = DVec3::splat(grow * (1.0 + lo.abs().max(hi.abs()).max_element()));
            tlas.overlaps_box((lo - g).as_vec3(), (hi + g).as_vec3())
        };
        r.outcome(
            "scene_overlaps",
            &(lo, hi),
            o.u[0] != 0,
            cpu_box(0.0),
            || cpu_box(1e-5) != cpu_box(-1e-5),
        );
        let seg = |grow: f64| crate::integrator::Segment {
            start: s,
            end: e,
            deviation: dev + grow * (1.0 + s.abs().max(e.abs()).max_element()),
            index: 1,
        };
        r.outcome(
            "envelope_overlaps",
            &(s, e, dev),
            o.u[1] != 0,
            f.tracer.envelope_overlaps(&seg(0.0)),
            || f.tracer.envelope_overlaps(&seg(1e-5)) != f.tracer.envelope_overlaps(&seg(-1e-5)),
        );
    }
    r.finish("soft gate");
}

#[test]
fn every_field_primitive_matches_the_cpu() {
    // Every registered GRIN kind's own examples (field/<kind>.rs), so a new kind is
    // compared as soon as it is registered.
    let mut scene = rich(gradient_sky());
    scene.medium.fields = FieldKind::examples()
        .into_iter()
        .filter(|f| !f.is_mass())
        .collect();
    let Some(f) = Fixture::new(scene) else {
        return;
    };
    let background = f.scene.medium.background;
    let mut inputs = Vec::new();
    let mut n = Numbers::new(14);
    for (i, field) in f.scene.medium.fields.iter().enumerate() {
        let region = field.region();
        let (c, half) = (
            (region.min + region.max) / 2.0,
            (region.max - region.min) / 2.0,
        );
        let mut points = vec![c, c + half * 0.999, c - half * DVec3::new(0.5, 0.999, 0.2)];
        points.push(c + half * 1.5);
        points.push(c + DVec3::new(half.x * 0.7, half.y * 0.7, 0.0));
        for _ in 0..40 {
            points.push(c + half * n.point(DVec3::splat(-1.1), DVec3::splat(1.1)));
        }
        for p in points {
            inputs.push((i as u32, p));
        }
    }
    let cases: Vec<_> = inputs
        .iter()
        .map(|&(i, p)| case(op::DEVIATION, [i, 0, 0], v4(p, background), Z, Z, Z))
        .collect();
    let out = f.run(&cases);
    let mut r = Report::default();
    for (&(i, p), o) in inputs.iter().zip(&out) {
        let field = &f.scene.medium.fields[i as usize];
        // Points within f32 rounding of where a primitive's support ends may fall
        // on either side.
        let inside = |q: DVec3| field.index_deviation(q, background).1 != DVec3::ZERO;
        let eps = 2e-6 * (1.0 + p.abs().max_element());
        let edge = (0..3).any(|a| {
            let mut e = DVec3::ZERO;
            e[a] = eps;
            inside(p + e) != inside(p - e)
        }) || (inside(p * (1.0 + 2e-6)) != inside(p * (1.0 - 2e-6)));
        if edge {
            r.ill_conditioned += 1;
            continue;
        }
        let (dev, grad) = field.index_deviation(p, background);
        let name = format!("index_deviation[{}]", field.info().name);
        r.scalar(&name, &p, o.a[0], dev, 2e-6);
        r.vector(
            &(name + " gradient"),
            &p,
            [o.a[1], o.a[2], o.a[3], 0.0],
            grad,
            1e-5,
        );
    }
    r.finish("field primitives");
}

#[test]
fn medium_index_and_mass_acceleration_match_the_cpu() {
    let mut r = Report::default();
    for scene in [rich(gradient_sky()), masses(false), masses(true)] {
        let Some(f) = Fixture::new(scene) else {
            return;
        };
        let mut n = Numbers::new(15);
        let mut inputs = Vec::new();
        for _ in 0..150 {
            let p = n.point(DVec3::new(-4.0, -2.0, -2.0), DVec3::new(4.0, 3.0, 9.0));
            inputs.push((p, n.unit() * n.range(0.5, 1.5)));
        }
        // Near the horizon and along the radius (h = 0).
        inputs.push((DVec3::new(1.05, 0.0, 0.0), DVec3::Y));
        inputs.push((DVec3::new(0.0, 3.0, 0.0), -DVec3::Y));
        inputs.push((DVec3::new(29.0, 0.0, 0.0), DVec3::Z));
        let cases: Vec<_> = inputs
            .iter()
            .map(|&(p, v)| case(op::MEDIUM, [0; 3], v4(p, 0.0), v4(v, 0.0), Z, Z))
            .collect();
        let out = f.run(&cases);
        let m = &f.scene.medium;
        for (&(p, v), o) in inputs.iter().zip(&out) {
            let (idx, grad) = m.index(p);
            r.scalar("medium_index", &p, o.a[0], idx, 2e-6);
            r.vector(
                "medium_index gradient",
                &p,
                [o.a[1], o.a[2], o.a[3], 0.0],
                grad,
                1e-5,
            );
            r.vector(
                "medium_acceleration",
                &(p, v),
                o.b,
                m.acceleration(p, v),
                1e-5,
            );
        }
    }
    r.finish("medium");
}

#[test]
fn kerr_hamiltons_equations_match_the_cpu() {
    // Points outside the horizon of holes of spin 0, 0.5 and -0.9 (M = 1 and 2),
    // on and off the axis and the equatorial plane, with launched null momenta.
    let mut r = Report::default();
    let Some(f) = Fixture::new(rich(gradient_sky())) else {
        return;
    };
    let mut n = Numbers::new(22);
    let mut inputs = Vec::new();
    for (m, a) in [(1.0, 0.0), (1.0, 0.5), (2.0, -1.8)] {
        let st = crate::field::Spacetime { m, a };
        let target = inputs.len() + 150;
        while inputs.len() < target {
            let x = n.point(DVec3::splat(-12.0 * m), DVec3::splat(12.0 * m));
            if st.radius(x) < 1.1 * st.horizon() {
                continue;
            }
            if let Some((pt, p)) = st.momentum(x, n.unit()) {
                inputs.push((st, x, p, pt));
            }
        }
        inputs.push((
            st,
            DVec3::new(0.0, 0.0, 3.0 * m),
            DVec3::new(0.1, 0.2, -1.0),
            1.0,
        ));
        inputs.push((st, DVec3::new(4.0 * m, 0.0, 0.0), DVec3::Y, 1.0));
    }
    let cases: Vec<_> = inputs
        .iter()
        .map(|&(st, x, p, pt)| {
            case(
                op::KERR,
                [0; 3],
                v4(x, st.m),
                v4(p, st.a),
                [pt as f32, 0.0, 0.0, 0.0],
                Z,
            )
        })
        .collect();
    let out = f.run(&cases);
    for (&(st, x, p, pt), o) in inputs.iter().zip(&out) {
        let input = (st.m, st.a, x, p, pt);
        r.scalar("kerr_radius", &input, o.a[3], st.radius(x), 2e-6);
        let (dx, dp) = st.derivative(x, p, pt);
        r.vector(
            "kerr_derivative dx",
            &input,
            [o.a[0], o.a[1], o.a[2], 0.0],
            dx,
            1e-5,
        );
        r.vector("kerr_derivative dp", &input, o.b, dp, 1e-5);
    }
    r.finish("Kerr derivative");
}

#[test]
fn kerr_observers_tetrads_and_photon_energies_match_the_cpu() {
    // Each observer at points around a hole of a = 0.9 (near the ergosphere too, for
    // the ZAMO and the falling observer), the camera's tetrad ray for pixels
    // across a 60 degree view and the photon energy it measures.
    use crate::camera::Camera;
    use crate::field::{FieldKind, Kerr, Medium};
    use crate::scene::{CameraDesc, Observer};
    let mut r = Report::default();
    let Some(f) = Fixture::new(rich(gradient_sky())) else {
        return;
    };
    let hole = Kerr {
        centre: DVec3::ZERO,
        mass: 1.0,
        spin: 0.9,
        axis: DVec3::Z,
        extent: 100.0,
        disk: None,
    };
    let (frame, st) = (hole.frame(), hole.spacetime());
    let medium = Medium::default().with(FieldKind::Kerr(hole));
    let equator = |r: f64, phi: f64| {
        let q = (r * r + 0.81f64).sqrt();
        DVec3::new(q * phi.cos(), q * phi.sin(), 0.0)
    };
    let mut inputs = Vec::new();
    for (observer, code, param) in [
        (Observer::Static, 0, DVec3::ZERO),
        (Observer::Zamo, 1, DVec3::ZERO),
        (Observer::FreeFall, 2, DVec3::ZERO),
        (Observer::Orbit { retrograde: false }, 3, DVec3::X),
        (Observer::Orbit { retrograde: true }, 3, -DVec3::X),
        (
            Observer::Velocity(DVec3::new(0.1, -0.3, 0.2)),
            4,
            DVec3::ZERO,
        ),
    ] {
        let mut positions = vec![equator(8.0, 0.3), equator(25.0, 2.0)];
        if !matches!(observer, Observer::Orbit { .. }) {
            positions.push(DVec3::new(3.0, -4.0, 6.0));
        }
        if matches!(observer, Observer::Zamo | Observer::FreeFall) {
            // Near the ergosphere (equatorial radius 2).
            positions.push(equator(2.3, 1.0));
        }
        for position in positions {
            let desc = CameraDesc {
                position,
                look_at: DVec3::new(0.5, 0.2, 0.0),
                up: DVec3::Z,
                fov_deg: 60.0,
                observer,
            };
            let cam = Camera::new(&desc, 64, 64, &medium);
            let param = match observer {
                Observer::Velocity(v) => frame.vector_to_local(v),
                _ => param,
            };
            for (px, py) in [(32.0, 32.0), (3.5, 60.5), (50.5, 10.5)] {
                inputs.push((cam, position, code, param, px, py));
            }
        }
    }
    let tan_half = 30f64.to_radians().tan();
    let cases: Vec<_> = inputs
        .iter()
        .map(|&(cam, position, code, param, px, py)| {
            let [right, up, _] = cam.basis();
            let sx = (2.0 * px / 64.0 - 1.0) * tan_half;
            let sy = (1.0 - 2.0 * py / 64.0) * tan_half;
            case(
                op::KERR_CAMERA,
                [code, 0, 0],
                v4(frame.to_local(position), st.m),
                v4(frame.vector_to_local(right), st.a),
                v4(frame.vector_to_local(up), sx),
                v4(param, sy),
            )
        })
        .collect();
    let out = f.run(&cases);
    for (&(cam, position, code, _, px, py), o) in inputs.iter().zip(&out) {
        let input = (position, code, px, py);
        let (_, dir) = cam.ray(px, py);
        let gpu_dir = frame.vector_to_world(d3(o.b)).as_vec3();
        r.vector(
            "kerr_tetrad_ray direction",
            &input,
            [gpu_dir.x, gpu_dir.y, gpu_dir.z, 0.0],
            dir,
            2e-5,
        );
        r.scalar(
            "kerr_tetrad_ray energy",
            &input,
            o.b[3],
            cam.photon_energy(dir),
            2e-5,
        );
    }
    r.finish("Kerr observers");
}

#[test]
fn curvature_queries_match_the_cpu() {
    let mut r = Report::default();
    let mut found = 0;
    for scene in [rich(gradient_sky()), masses(true)] {
        let Some(f) = Fixture::new(scene) else {
            return;
        };
        let it = f.integrator();
        let cell = it
            .grid()
            .map_or(1.0, crate::curvature::CurvatureGrid::cell_size);
        let mut n = Numbers::new(16);
        let mut inputs = Vec::new();
        for _ in 0..200 {
            let p = n.point(DVec3::new(-6.0, -3.0, -4.0), DVec3::new(8.0, 4.0, 10.0));
            inputs.push((p, n.unit(), n.range(0.0, 2.0)));
        }
        inputs.push((DVec3::new(0.0, 0.0, -20.0), DVec3::Z, 0.5));
        inputs.push((DVec3::new(0.5, 0.0, 0.0), DVec3::X, 0.1));
        let cases: Vec<_> = inputs
            .iter()
            .map(|&(p, d, h)| case(op::CURVATURE, [0; 3], v4(p, 0.0), v4(d, h), Z, Z))
            .collect();
        let out = f.run(&cases);
        for (&(p, d, h), o) in inputs.iter().zip(&out) {
            let input = (p, d, h);
            // A point within f32 rounding of a cell face may fall in either cell.
            let kappa = |q: DVec3| it.grid().map_or(0.0, |g| g.kappa_at(q));
            let e = 1e-5 * (1.0 + p.abs().max_element());
            let on_face = (0..3).any(|a| {
                let mut v = DVec3::ZERO;
                v[a] = e;
                kappa(p + v) != kappa(p - v)
            });
            if !on_face {
                r.scalar("kappa_at", &input, o.a[0], kappa(p), 1e-6);
                r.scalar("kappa_bound", &input, o.a[3], it.kappa(p, h), 1e-5);
                r.exact("in_field", &input, o.u[0] != 0, it.in_field(p));
            } else {
                r.ill_conditioned += 1;
            }
            r.exact("captured", &input, o.u[1] != 0, it.captured(p));
            // Straight runs end on a cell face: the shaders nudge past faces by
            // 1e-4 of a cell (f32), the CPU by 1e-9.
            let tol_run = |t: f64| 3e-4 * cell + 2e-6 * (p.abs().max_element() + t);
            let run = it.grid().and_then(|g| g.straight_run(p, d));
            if r.optional("straight_run", &input, o.a[1], run, tol_run) {
                found += 1;
            }
            let dist = it.straight_distance(p, d);
            r.optional("straight_distance", &input, o.a[2], dist, tol_run);
        }
    }
    assert!(found >= 20, "only {found} straight runs met curvature");
    r.finish("curvature grid and straight flight");
}

/// Momentum of a ray at `x` heading along `d` in `f`'s medium (|p| = n, or the
/// launch speed near a single mass).
fn momentum(f: &Fixture, x: DVec3, d: DVec3) -> DVec3 {
    let mut s = State {
        x,
        p: d * f.scene.medium.index(x).0,
        opl: 0.0,
    };
    f.integrator().launch_speed(&mut s);
    s.p
}

#[test]
fn dormand_prince_steps_match_the_cpu() {
    let mut r = Report::default();
    for scene in [rich(gradient_sky()), masses(false), masses(true)] {
        let Some(f) = Fixture::new(scene) else {
            return;
        };
        let mut n = Numbers::new(17);
        let mut inputs = Vec::new();
        let centres = [
            DVec3::new(0.0, 0.0, 1.5),
            DVec3::new(-2.5, 1.5, 6.0),
            DVec3::new(2.0, 1.5, 1.0),
            DVec3::new(0.0, -0.5, 6.0),
            DVec3::new(0.0, 0.5, 8.0),
            DVec3::new(0.0, 0.0, 0.0),
        ];
        for c in centres {
            for _ in 0..8 {
                let x = c + n.unit() * n.range(1.2, 4.0);
                let d = n.unit();
                let h = [0.01, 0.1, 0.4][inputs.len() % 3];
                inputs.push((
                    State {
                        x,
                        p: momentum(&f, x, d),
                        opl: n.range(0.0, 5.0),
                    },
                    h,
                ));
            }
        }
        let cases: Vec<_> = inputs
            .iter()
            .map(|(s, h)| {
                case(
                    op::DP_STEP,
                    [0; 3],
                    v4(s.x, s.opl),
                    v4(s.p, 0.0),
                    [*h as f32, 0.0, 0.0, 0.0],
                    Z,
                )
            })
            .collect();
        let out = f.run(&cases);
        let it = f.integrator();
        for ((s, h), o) in inputs.iter().zip(&out) {
            let input = (s.x, s.p, s.opl, h);
            let (dx, dp, dopl) = it.deriv(s);
            r.vector("deriv dx", &input, o.c, dx, 2e-6);
            r.vector("deriv dp", &input, o.d, dp, 1e-5);
            r.scalar("deriv dopl", &input, o.c[3], dopl, 2e-6);
            let (out, err) = it.dp_step(s, *h);
            r.vector("dp_step x", &input, o.a, out.x, 2e-6);
            r.vector("dp_step p", &input, o.b, out.p, 4e-6);
            r.scalar("dp_step opl", &input, o.a[3], out.opl, 2e-6);
            // The error estimate is a difference of stage sums: in f32 it cannot go
            // below their rounding (~1e-7 of |p| h); above that it must agree.
            let floor = 1e-6 * (s.p.length() * h + s.x.abs().max_element() * 1e-1);
            r.checked += 1;
            let g = f64::from(o.b[3]);
            if (g - err).abs() > floor + 0.05 * err {
                r.failures.push(format!(
                    "dp_step err({input:?}): GPU {g:e}, CPU {err:e} (f32 floor {floor:e})"
                ));
            }
        }
    }
    r.finish("Dormand-Prince");
}

#[test]
fn invariants_match_the_cpu() {
    let mut r = Report::default();
    for scene in [masses(false), rich(gradient_sky()), masses(true)] {
        let Some(f) = Fixture::new(scene) else {
            return;
        };
        let it = f.integrator();
        let mut n = Numbers::new(18);
        let mut inputs = Vec::new();
        for k in 0..40 {
            let x = n.unit() * n.range(1.3, 20.0)
                + DVec3::new(0.0, 0.0, if k % 2 == 0 { 0.0 } else { 1.5 });
            let d = n.unit();
            let s = State {
                x,
                p: momentum(&f, x, d),
                opl: 0.0,
            };
            let (h0, e0) = it.mass_invariants(&s);
            // After a step: the state drifted a little.
            let drift = State {
                x: s.x + d * 0.01,
                p: s.p * (1.0 + n.range(-1e-3, 1e-3)) + n.unit() * 1e-3,
                opl: 0.0,
            };
            inputs.push((drift, h0, e0));
        }
        // Radial: h = 0 (nothing to re-impose on the tangent).
        let x = DVec3::new(5.0, 0.0, 0.0);
        inputs.push((
            State {
                x,
                p: -DVec3::X,
                opl: 0.0,
            },
            0.0,
            0.5,
        ));
        let cases: Vec<_> = inputs
            .iter()
            .map(|(s, h0, e0)| {
                case(
                    op::INVARIANTS,
                    [0; 3],
                    v4(s.x, s.opl),
                    v4(s.p, 0.0),
                    [*h0 as f32, *e0 as f32, 0.0, 0.0],
                    Z,
                )
            })
            .collect();
        let out = f.run(&cases);
        for ((s, h0, e0), o) in inputs.iter().zip(&out) {
            let input = (s.x, s.p, h0, e0);
            // The shaders take h0 and the energy in f32.
            let mut re = *s;
            it.reimpose(&mut re, f64::from(*h0 as f32), f64::from(*e0 as f32));
            r.vector("reimpose", &input, o.a, re.p, 2e-5);
            let mut l = *s;
            it.launch_speed(&mut l);
            r.vector("launch_speed", &input, o.b, l.p, 2e-6);
            let (h, e) = it.mass_invariants(s);
            r.scalar("mass_invariants h", &input, o.c[0], h, 2e-6);
            r.scalar("mass_invariants energy", &input, o.c[1], e, 2e-6);
        }
    }
    r.finish("invariants");
}

#[test]
fn stop_surfaces_match_the_cpu() {
    let Some(f) = Fixture::new(rich(gradient_sky())) else {
        return;
    };
    let mut n = Numbers::new(19);
    let mut inputs = Vec::new();
    let surfaces = [
        StopSurface::Plane {
            point: DVec3::new(0.0, 0.0, 2.0),
            normal: DVec3::Z,
        },
        StopSurface::Plane {
            point: DVec3::new(1.0, -1.0, 0.5),
            normal: DVec3::new(0.3, 0.9, -0.2).normalize(),
        },
        StopSurface::Sphere {
            centre: DVec3::new(0.5, 0.0, 1.0),
            radius: 1.2,
        },
        StopSurface::Sphere {
            centre: DVec3::ZERO,
            radius: 1e-3,
        },
    ];
    for s in surfaces {
        for _ in 0..30 {
            let o = n.point(DVec3::splat(-3.0), DVec3::splat(3.0));
            inputs.push((s, o, n.unit(), n.range(0.1, 6.0)));
        }
        // Parallel to the plane, tangent to the sphere, starting inside.
        inputs.push((s, DVec3::new(0.0, 0.0, 0.0), DVec3::X, 5.0));
        inputs.push((s, DVec3::new(-3.0, 1.2, 1.0), DVec3::X, 10.0));
        inputs.push((s, DVec3::new(0.5, 0.0, 1.0), DVec3::Y, 10.0));
    }
    let cases: Vec<_> = inputs
        .iter()
        .map(|&(s, o, d, len)| {
            let (kind, a, b) = match s {
                StopSurface::Plane { point, normal } => (
                    crate::gpu::layout::stop::PLANE,
                    v4(point, 0.0),
                    v4(normal, 0.0),
                ),
                StopSurface::Sphere { centre, radius } => {
                    (crate::gpu::layout::stop::SPHERE, v4(centre, radius), Z)
                }
            };
            case(op::STOP, [kind, 0, 0], a, b, v4(o, 0.0), v4(d, len))
        })
        .collect();
    let out = f.run(&cases);
    let mut r = Report::default();
    for (&(s, o, d, len), g) in inputs.iter().zip(&out) {
        let input = (s, o, d, len);
        r.scalar("stop_side", &input, g.a[0], s.side(o), 2e-6);
        let cpu = crate::integrator::straight_crossing(&s, o, d, len);
        let gpu = (g.a[1] >= 0.0).then_some(f64::from(g.a[1]));
        let sensitive = || {
            let c = |l: f64| crate::integrator::straight_crossing(&s, o, d, l).is_some();
            c(len * (1.0 + 1e-5)) != c(len * (1.0 - 1e-5))
        };
        if r.outcome(
            "straight_crossing (found)",
            &input,
            gpu.is_some(),
            cpu.is_some(),
            sensitive,
        ) {
            if let (Some(g), Some(c)) = (gpu, cpu) {
                r.scalar("straight_crossing t", &input, g as f32, c, 2e-5);
            }
        }
    }
    r.finish("stop surfaces");
}

#[test]
fn static_observer_and_camera_match_the_cpu() {
    let mut r = Report::default();
    let mut n = Numbers::new(20);
    let mut inputs = Vec::new();
    for radius in [0.5, 1.0001, 1.5, 3.0, 20.0] {
        let position = DVec3::new(0.3, -0.2, 1.0).normalize() * radius;
        let radial = position.normalize();
        let mut locals = vec![radial, -radial, radial.any_orthonormal_vector()];
        for _ in 0..6 {
            locals.push(n.unit());
        }
        for l in locals {
            inputs.push((position, l));
        }
    }
    for scene in [masses(false), rich(gradient_sky())] {
        let Some(f) = Fixture::new(scene) else {
            return;
        };
        let mut cases: Vec<_> = inputs
            .iter()
            .map(|&(p, l)| {
                case(
                    op::OBSERVER,
                    [0; 3],
                    v4(p, 0.0),
                    v4(l, 0.0),
                    [0.0, 0.0, 0.0, 1.0],
                    Z,
                )
            })
            .collect();
        let pixels = [
            (0.0, 0.0),
            (f64::from(WIDTH), f64::from(HEIGHT)),
            (f64::from(WIDTH) / 2.0, f64::from(HEIGHT) / 2.0),
            (3.25, 40.5),
            (60.9, 0.1),
        ];
        cases.extend(
            pixels
                .iter()
                .map(|&(x, y)| case(op::CAMERA, [0; 3], [x as f32, y as f32, 0.0, 0.0], Z, Z, Z)),
        );
        let out = f.run(&cases);
        for (&(p, l), o) in inputs.iter().zip(&out) {
            // The CPU on the shaders' f32 inputs. Near the horizon 1 - r_s / r
            // carries the f32 rounding of r (6e-8 of it) divided by (r - r_s) / r:
            // 1e-3 at r = 1.0001 r_s; physics, not the formula.
            let (pf, lf) = (f32_rounded(p), f32_rounded(l));
            let r_len = pf.length();
            let tol = 2e-6 + 1e-7 * r_len / (r_len - 1.0).max(1e-12);
            r.vector(
                "static_observer_direction",
                &(p, l),
                o.a,
                static_observer_direction(pf, lf, DVec3::ZERO, 1.0),
                tol,
            );
        }
        for (&(x, y), o) in pixels.iter().zip(&out[inputs.len()..]) {
            let (_, d) = f.camera.ray(x, y);
            r.vector("camera_ray", &(x, y), o.a, d, 2e-6);
        }
    }
    r.finish("static observer and camera");
}

#[test]
fn materials_and_texture_lookup_match_the_cpu() {
    let Some(f) = Fixture::new(rich(gradient_sky())) else {
        return;
    };
    // First the hits (slot and barycentrics for the texture's UVs), then each
    // material at them.
    let mut rays = Vec::new();
    for y in 0..10 {
        for x in 0..14 {
            let (o, d) = f.camera.ray(
                (f64::from(x) + 0.43) * f64::from(WIDTH) / 14.0,
                (f64::from(y) + 0.29) * f64::from(HEIGHT) / 10.0,
            );
            rays.push((o, d));
        }
    }
    let hit_cases: Vec<_> = rays
        .iter()
        .map(|&(o, d)| {
            case(
                op::INTERSECT,
                [0; 3],
                v4(o, 0.0),
                v4(d, f64::from(f32::MAX)),
                Z,
                Z,
            )
        })
        .collect();
    let hits = f.run(&hit_cases);
    let tlas = f.tracer.tlas();
    let mut inputs = Vec::new();
    for (&(o, d), h) in rays.iter().zip(&hits) {
        let ray = Ray {
            origin: o.as_vec3(),
            dir: d.as_vec3(),
            t_min: 0.0,
            t_max: f32::MAX,
        };
        let Some(cpu) = tlas.intersect(&ray) else {
            continue;
        };
        if h.u[0] == NONE || h.u[1] != cpu.instance {
            continue;
        }
        let p = o + d * f64::from(cpu.t);
        let nrm = cpu.normal.as_dvec3();
        inputs.push((p, nrm, h.u[0], cpu));
    }
    let mut cases = Vec::new();
    for &(p, nrm, slot, h) in &inputs {
        cases.push(case(
            op::MATERIAL,
            [h.instance, slot, h.instance],
            v4(p, 0.0),
            v4(nrm, 0.0),
            [h.u, h.v, 0.0, 0.0],
            Z,
        ));
    }
    let out = f.run(&cases);
    let mut r = Report::default();
    let mut kinds = std::collections::BTreeSet::new();
    for (&(p, nrm, _, h), o) in inputs.iter().zip(&out) {
        let m = &f.scene.instances[h.instance as usize].material;
        kinds.insert(format!("{:?}", std::mem::discriminant(m)));
        let mesh = &f.scene.meshes[f.scene.instances[h.instance as usize].mesh];
        let uv = m
            .needs_uv()
            .then(|| mesh.uv_at(h.triangle, h.u, h.v))
            .flatten();
        let cpu = shade::albedo(m, p, nrm, uv);
        let input = (h.instance, p, uv);
        // A checker cell boundary within f32 rounding of the point reads either
        // colour; so does a texel boundary.
        let checker_edge = matches!(m, Material::Checker(crate::material::Checker { .. })) && {
            let e = 1e-5 * (1.0 + p.abs().max_element());
            (0..3).any(|a| {
                let mut v = DVec3::ZERO;
                v[a] = e;
                shade::albedo(m, p + v, nrm, uv) != shade::albedo(m, p - v, nrm, uv)
            })
        };
        if checker_edge {
            r.ill_conditioned += 1;
        } else {
            r.vector("albedo", &input, o.a, DVec3::from(cpu), 2e-5);
        }
        r.vector("emitted", &input, o.b, DVec3::from(shade::emitted(m)), 1e-6);
        r.exact("is_diffuse", &input, o.u[0] != 0, shade::is_diffuse(m));
    }
    // Every registered kind is in the probe's scene (a new kind goes there too).
    for k in crate::material::KINDS {
        assert!(
            f.scene
                .instances
                .iter()
                .any(|i| i.material.info().name == k.name),
            "material kind {} is not in the probe scene",
            k.name
        );
    }
    assert!(
        kinds.len() >= 4,
        "the view shows too few materials: {kinds:?}"
    );
    // The texture lookup itself over a grid of UVs, wrapping in u and clamping in v
    // (the floor, instance 1, is the textured one).
    let Material::Texture(crate::material::Texture { image: Some(t), .. }) =
        &f.scene.instances[1].material
    else {
        panic!("instance 1 is the textured floor");
    };
    let mut uvs = Vec::new();
    for i in 0..25 {
        for j in 0..9 {
            uvs.push((f64::from(i) * 0.0917 - 0.7, f64::from(j) * 0.1713 - 0.2));
        }
    }
    uvs.extend([
        (0.0, 0.0),
        (1.0, 1.0),
        (0.125, 1.0 / 6.0),
        (-1e-3, 0.5),
        (3.0, -5.0),
    ]);
    let cases: Vec<_> = uvs
        .iter()
        .map(|&(u, v)| {
            case(
                op::MATERIAL,
                [1, 0, 1],
                Z,
                Z,
                [0.0, 0.0, u as f32, v as f32],
                Z,
            )
        })
        .collect();
    let out = f.run(&cases);
    for (&(u, v), o) in uvs.iter().zip(&out) {
        let (u, v) = (f64::from(u as f32), f64::from(v as f32));
        r.vector(
            "texture_sample",
            &(u, v),
            o.c,
            DVec3::from(t.sample(u, v)),
            2e-5,
        );
    }
    r.finish("materials");
}

#[test]
fn environments_match_the_cpu() {
    // These, then every registered kind's own examples (environment/<kind>.rs), so
    // a new kind is compared as soon as it is registered.
    let mut envs = vec![
        Environment::Constant(crate::environment::Constant([0.2, 0.3, 0.4])),
        Environment::Constant(crate::environment::Constant([0.0; 3])),
        gradient_sky(),
        Environment::StarField(crate::environment::StarField {
            background: [0.01, 0.02, 0.03],
            cells: 32,
            density: 0.5,
            brightness: 3.0,
            seed: 9,
        }),
        Environment::CheckerSphere(crate::environment::CheckerSphere {
            a: [0.9, 0.9, 0.9],
            b: [0.1, 0.1, 0.2],
            divisions: 8,
        }),
        Environment::Equirect(crate::environment::Equirect {
            file: "probe-sky".into(),
            scale: 1.5,
            image: Some(image()),
        }),
    ];
    envs.extend(Environment::examples());
    let mut r = Report::default();
    let mut n = Numbers::new(21);
    let mut dirs = vec![
        DVec3::X,
        -DVec3::X,
        DVec3::Y,
        -DVec3::Y,
        DVec3::Z,
        -DVec3::Z,
        DVec3::new(0.0, 0.3, -1.0).normalize(),
    ];
    for _ in 0..300 {
        dirs.push(n.unit());
    }
    for env in envs {
        let Some(f) = Fixture::new(rich(env.clone())) else {
            return;
        };
        let cases: Vec<_> = dirs
            .iter()
            .map(|&d| case(op::ENVIRONMENT, [0; 3], v4(d, 0.0), Z, Z, Z))
            .collect();
        let out = f.run(&cases);
        for (&d, o) in dirs.iter().zip(&out) {
            let input = (&env, d);
            let cpu = DVec3::from(shade::environment(&env, d));
            // Star rims, checker lines and cell edges within f32 rounding of the
            // direction read either side.
            let edge = || {
                let e = 3e-6;
                [DVec3::X, DVec3::Y, DVec3::Z].iter().any(|&a| {
                    let hi = DVec3::from(shade::environment(&env, (d + a * e).normalize()));
                    let lo = DVec3::from(shade::environment(&env, (d - a * e).normalize()));
                    (hi - lo).abs().max_element() > 1e-3
                })
            };
            let g = d3(o.a);
            let close = (g - cpu).abs().max_element() <= 2e-5 * (1.0 + cpu.abs().max_element());
            r.outcome("environment", &input, close, true, edge);
            let (u, v) = shade::equirect_uv(d);
            // u wraps at the seam (dir.x = 0 behind): 0 and 1 are the same place.
            let du = (f64::from(o.b[0]) - u).abs();
            r.checked += 1;
            if du.min(1.0 - du) > 2e-6 || (f64::from(o.b[1]) - v).abs() > 2e-6 {
                r.failures.push(format!(
                    "equirect_uv({d}): GPU ({}, {}), CPU ({u}, {v})",
                    o.b[0], o.b[1]
                ));
            }
            r.exact(
                "environment_is_black",
                &input,
                o.u[0] != 0,
                lights::environment_is_black(&env),
            );
        }
    }
    r.finish("environments");
}

#[test]
fn fresnel_reflection_and_refraction_match_the_cpu() {
    let Some(f) = Fixture::new(rich(gradient_sky())) else {
        return;
    };
    let mut inputs = Vec::new();
    let n = DVec3::new(0.2, 0.9, -0.1).normalize();
    let (t1, t2) = n.any_orthonormal_pair();
    for eta in [1.0f64 / 1.5, 1.5, 1.0, 1.0 / 1.33, 2.4] {
        for cos_i in [1.0, 0.9, 0.5, 0.2, 0.01, 1e-4, 0.0] {
            let sin_i: f64 = 1.0 - cos_i * cos_i;
            let d = (t1 * sin_i.sqrt() - n * cos_i).normalize_or(t1);
            inputs.push((d, n, eta));
        }
        // Around the critical angle (eta > 1): sin_t = 1.
        if eta > 1.0 {
            let crit = (1.0f64 / eta).asin();
            for da in [-1e-3, 1e-3] {
                let a = crit + da;
                inputs.push(((t2 * a.sin() - n * a.cos()).normalize(), n, eta));
            }
        }
    }
    let cases: Vec<_> = inputs
        .iter()
        .map(|&(d, n, eta)| {
            case(
                op::FRESNEL,
                [0; 3],
                v4(d, 0.0),
                v4(n, 0.0),
                [eta as f32, 0.0, 0.0, 0.0],
                Z,
            )
        })
        .collect();
    let out = f.run(&cases);
    let mut r = Report::default();
    for (&(d, n, eta), o) in inputs.iter().zip(&out) {
        let input = (d, n, eta);
        // The CPU on the shaders' f32 inputs.
        let (d, n, eta) = (f32_rounded(d), f32_rounded(n), f64::from(eta as f32));
        let cos_i = -d.dot(n);
        let (fr, cos_t) = shade::fresnel(cos_i, eta);
        // Total reflection is sin^2 t >= 1: within f32 rounding of 1 (grazing
        // incidence with eta near 1) either answer is right, and R -> 1 there anyway.
        let total = r.outcome(
            "fresnel (total reflection)",
            &input,
            o.a[1] < 0.0,
            cos_t.is_none(),
            || {
                let sin2_t = eta * eta * (1.0 - cos_i * cos_i).max(0.0);
                (sin2_t - 1.0).abs() < 3e-7
            },
        );
        if total {
            r.scalar("fresnel reflectance", &input, o.a[0], fr, 2e-5);
        }
        r.vector("reflect", &input, o.b, shade::reflect(d, n), 2e-6);
        if let (true, Some(ct)) = (total, cos_t) {
            r.scalar("fresnel cos_t", &input, o.a[1], ct, 2e-5);
            // Near grazing refraction (cos_t -> 0) the direction is ill-conditioned in
            // cos_t: compare it where cos_t is not tiny.
            if ct > 1e-2 {
                r.vector("refract", &input, o.c, shade::refract(d, n, eta, ct), 2e-5);
            }
        }
    }
    r.finish("Fresnel, reflection and refraction");
}

#[test]
fn sampling_weights_and_emitters_match_the_cpu() {
    let Some(f) = Fixture::new(rich(gradient_sky())) else {
        return;
    };
    let mut n = Numbers::new(22);
    let mut normals = vec![
        DVec3::Z,
        -DVec3::Z,
        DVec3::X,
        DVec3::new(0.0, 0.0, -1.0 + 1e-7).normalize(),
    ];
    for _ in 0..20 {
        normals.push(n.unit());
    }
    let mut cosine = Vec::new();
    for &nr in &normals {
        for (u1, u2) in [(0.0, 0.0), (0.5, 0.5), (0.999_999, 0.999_999), (0.25, 0.01)] {
            cosine.push((nr, u1, u2));
        }
        cosine.push((nr, n.f(), n.f()));
    }
    let mis = [
        (0.0, 0.0, 1.0, 1.0),
        (1.0, 0.0, 1.5, 1.0),
        (0.3, 0.7, 1.0, 1.33),
        (1e-20, 1e-20, 2.4, 1.0),
        (1e10, 2.0, 1.0, 2.0),
    ];
    let cdf: Vec<f64> = f.emitters.records().map(|(_, _, c)| c).collect();
    assert!(
        cdf.len() >= 4,
        "the scene has {} emitter triangles",
        cdf.len()
    );
    let mut emit = Vec::new();
    for k in 0..60 {
        let u0 = (f64::from(k) + 0.5) / 60.0;
        // Within f32 rounding of a CDF step either triangle may be chosen.
        if cdf.iter().any(|&c| (c - u0).abs() < 1e-6) {
            continue;
        }
        emit.push((u0, n.f(), n.f()));
    }
    emit.push((0.0, 0.0, 0.0));
    emit.push((0.999_999, 0.999_999, 0.999_999));
    let mut cases: Vec<GpuProbe> = cosine
        .iter()
        .map(|&(nr, u1, u2)| {
            case(
                op::COSINE,
                [0; 3],
                v4(nr, 0.0),
                [u1 as f32, u2 as f32, 0.0, 0.0],
                Z,
                Z,
            )
        })
        .collect();
    cases.extend(mis.iter().map(|&(a, b, c, d)| {
        case(
            op::MIS,
            [0; 3],
            [a as f32, b as f32, c as f32, d as f32],
            Z,
            Z,
            Z,
        )
    }));
    cases.extend(emit.iter().map(|&(u0, u1, u2)| {
        case(
            op::EMITTER,
            [0; 3],
            [u0 as f32, u1 as f32, u2 as f32, 0.0],
            Z,
            Z,
            Z,
        )
    }));
    let out = f.run(&cases);
    let mut r = Report::default();
    for (&(nr, u1, u2), o) in cosine.iter().zip(&out) {
        let input = (nr, u1, u2);
        // The shaders take u in f32.
        let (u1, u2) = (f64::from(u1 as f32), f64::from(u2 as f32));
        r.vector(
            "cosine_direction",
            &input,
            o.a,
            shade::cosine_direction(nr, u1, u2),
            1e-5,
        );
        let (a, b) = nr.any_orthonormal_pair();
        r.vector("orthonormal_pair a", &input, o.b, a, 1e-5);
        r.vector("orthonormal_pair b", &input, o.c, b, 1e-5);
    }
    let out = &out[cosine.len()..];
    for (&(a, b, c, d), o) in mis.iter().zip(out) {
        let input = (a, b, c, d);
        let (a, b) = (f64::from(a as f32), f64::from(b as f32));
        r.scalar(
            "power_heuristic",
            &input,
            o.a[0],
            lights::power_heuristic(a, b),
            2e-6,
        );
        r.scalar(
            "index_ratio2",
            &input,
            o.a[1],
            lights::index_ratio2(c, d),
            2e-6,
        );
    }
    let out = &out[mis.len()..];
    for (&(u0, u1, u2), o) in emit.iter().zip(out) {
        let input = (u0, u1, u2);
        let f32u = |v: f64| f64::from(v as f32);
        let cpu = f.emitters.sample(f32u(u0), f32u(u1), f32u(u2)).unwrap();
        r.exact("sample_emitter instance", &input, o.u[0], cpu.instance);
        r.vector("sample_emitter point", &input, o.a, cpu.point, 2e-6);
        r.vector("sample_emitter normal", &input, o.b, cpu.normal, 2e-6);
        r.scalar(
            "sample_emitter area_pdf",
            &input,
            o.a[3],
            cpu.area_pdf,
            2e-6,
        );
    }
    r.finish("sampling, MIS and emitters");
}

#[test]
fn next_event_estimation_matches_the_cpu() {
    let Some(f) = Fixture::new(rich(gradient_sky())) else {
        return;
    };
    let medium = &f.scene.medium;
    let mut n = Numbers::new(23);
    let mut points = Vec::new();
    for _ in 0..40 {
        let p = n.point(DVec3::new(-3.0, -1.0, -1.0), DVec3::new(3.0, 2.5, 8.0));
        points.push((p, n.unit(), medium.index(p).0));
    }
    // Grazing: the normal perpendicular to the directional light.
    let sun = -DVec3::new(0.3, -1.0, 0.2).normalize();
    points.push((DVec3::ZERO, sun.any_orthonormal_vector(), 1.0));
    // At the point light itself (r clamped).
    points.push((DVec3::new(0.0, 2.0, 1.0), DVec3::Y, 1.0));
    let mut cases = Vec::new();
    for &(p, nr, idx) in &points {
        for l in 0..f.scene.lights.len() as u32 {
            cases.push(case(
                op::LIGHT,
                [l, 0, 0],
                v4(p, 0.0),
                v4(nr, 0.0),
                [idx as f32, 0.0, 0.0, 0.0],
                Z,
            ));
        }
    }
    let mut emitter = Vec::new();
    for &(p, nr, _) in &points {
        let e = f.emitters.sample(n.f(), n.f(), n.f()).unwrap();
        let mis = emitter.len() % 2 == 0;
        emitter.push((e, p, nr, mis, n.range(0.6, 1.6)));
    }
    cases.extend(emitter.iter().map(|&(e, p, nr, mis, ratio)| {
        case(
            op::EMITTER_RAY,
            [u32::from(mis), 0, 0],
            v4(e.point, e.area_pdf),
            v4(e.normal, 0.0),
            v4(p, 0.0),
            v4(nr, ratio),
        )
    }));
    let out = f.run(&cases);
    let mut r = Report::default();
    let mut k = 0;
    for &(p, nr, idx) in &points {
        for light in &f.scene.lights {
            let o = &out[k];
            k += 1;
            let input = (light, p, nr, idx);
            let idx = f64::from(idx as f32);
            let cpu = lights::light_sample(light, p, nr, idx, medium);
            let cos =
                |m: DVec3| lights::light_sample(light, p, m.normalize(), idx, medium).is_some();
            let ok = r.outcome(
                "light_sample (in front)",
                &input,
                o.u[0] != 0,
                cpu.is_some(),
                || cos(nr + DVec3::splat(1e-6)) != cos(nr - DVec3::splat(1e-6)),
            );
            if let (true, Some(c)) = (ok, cpu) {
                r.vector("light_sample direction", &input, o.a, c.direction, 2e-6);
                r.vector(
                    "light_sample value",
                    &input,
                    o.b,
                    DVec3::from(c.value),
                    2e-5,
                );
                let (kind, radius) = match c.stop {
                    Some(StopSurface::Sphere { radius, .. }) => {
                        (crate::gpu::layout::stop::SPHERE, radius)
                    }
                    _ => (crate::gpu::layout::stop::NONE, 0.0),
                };
                r.exact("light_sample stop", &input, o.u[1], kind);
                r.scalar("light_sample stop radius", &input, o.b[3], radius, 2e-6);
            }
        }
    }
    for &(e, p, nr, mis, ratio) in &emitter {
        let o = &out[k];
        k += 1;
        let input = (e.point, e.normal, p, nr, mis, ratio);
        let cpu = lights::emitter_ray(&e, p, nr);
        let ok = r.outcome(
            "emitter_ray (usable)",
            &input,
            o.u[0] != 0,
            cpu.is_some(),
            || false,
        );
        if let (true, Some(c)) = (ok, cpu) {
            r.vector("emitter_ray direction", &input, o.a, c.direction, 2e-6);
            r.scalar("emitter_ray cos_x", &input, o.a[3], c.cos_x, 2e-6);
            r.scalar("emitter_ray pdf_light", &input, o.b[0], c.pdf_light, 2e-5);
            let ratio = f64::from(ratio as f32);
            r.scalar(
                "emitter_scale",
                &input,
                o.b[1],
                lights::emitter_scale(c.pdf_light, c.cos_x, mis, ratio),
                2e-5,
            );
        }
    }
    r.finish("next-event estimation");
}

#[test]
fn film_accumulation_matches_the_cpu() {
    let Some(f) = Fixture::new(rich(gradient_sky())) else {
        return;
    };
    use crate::film::{Planes, SampleRecord};
    let mut inputs = Vec::new();
    let mut n = Numbers::new(24);
    for k in 0..30u32 {
        let count = k % 5;
        let hits = count.saturating_sub(k % 2);
        let first = if hits > 0 { Some(k % 3) } else { None };
        let sums = (
            [n.range(0.0, 3.0), n.range(0.0, 3.0), n.range(0.0, 3.0)],
            count,
            [n.range(-1.0, 1.0), n.range(-1.0, 1.0), n.range(-1.0, 1.0)],
            hits,
            n.range(0.0, 20.0),
            first,
        );
        let sample = SampleRecord {
            rgb: [n.f() as f32, n.f() as f32 * 4.0, 0.0],
            depth: n.range(0.1, 9.0) as f32,
            normal: n.unit().as_vec3().to_array(),
            instance: (k % 4 != 0).then_some(k % 7),
            segments: k * 3,
        };
        inputs.push((sums, sample));
    }
    let cases: Vec<_> = inputs
        .iter()
        .map(|&((rgb, count, normal, hits, depth, first), s)| {
            let sn = s.normal;
            case(
                op::FILM,
                [
                    s.instance.unwrap_or(NONE),
                    first.map_or(0, |i| i + 1),
                    s.segments,
                ],
                [
                    rgb[0] as f32,
                    rgb[1] as f32,
                    rgb[2] as f32,
                    f32::from_bits(count),
                ],
                [
                    normal[0] as f32,
                    normal[1] as f32,
                    normal[2] as f32,
                    f32::from_bits(hits),
                ],
                [depth as f32, sn[0], sn[1], sn[2]],
                [s.rgb[0], s.rgb[1], s.rgb[2], s.depth],
            )
        })
        .collect();
    let out = f.run(&cases);
    let mut r = Report::default();
    for (&((rgb, count, normal, hits, depth, first), s), o) in inputs.iter().zip(&out) {
        let mut p = Planes::new(1);
        p.rgb[0] = rgb.map(|v| f64::from(v as f32));
        p.count[0] = count;
        p.normal[0] = normal.map(|v| f64::from(v as f32));
        p.hits[0] = hits;
        p.depth[0] = f64::from(depth as f32);
        p.instance[0] = first.unwrap_or(u32::MAX);
        p.add(0, &s);
        let input = (count, hits, first, s);
        r.vector("film_add rgb", &input, o.a, DVec3::from(p.rgb[0]), 1e-6);
        r.scalar("film_add depth", &input, o.a[3], p.depth[0], 1e-6);
        r.vector(
            "film_add normal",
            &input,
            o.b,
            DVec3::from(p.normal[0]),
            1e-6,
        );
        r.exact("film_add count", &input, o.u[0], p.count[0]);
        r.exact("film_add hits", &input, o.u[1], p.hits[0]);
        // The GPU film keeps the instance plus one (0: none).
        r.exact(
            "film_add instance",
            &input,
            o.u[2].checked_sub(1),
            (p.instance[0] != u32::MAX).then_some(p.instance[0]),
        );
        r.exact(
            "film_add segments",
            &input,
            u64::from(o.u[3]),
            p.segments[0],
        );
    }
    r.finish("film accumulation");
}

#[test]
fn box_queries_match_the_cpu() {
    let Some(f) = Fixture::new(rich(gradient_sky())) else {
        return;
    };
    let b = Aabb::new(DVec3::new(-1.0, -0.5, 2.0), DVec3::new(1.5, 2.0, 3.0));
    let mut n = Numbers::new(25);
    let mut inputs = vec![
        (DVec3::new(0.0, 0.0, 0.0), DVec3::Z),
        (DVec3::new(0.0, 0.0, 2.5), DVec3::X),
        (DVec3::new(5.0, 0.0, 2.5), DVec3::X),
        (DVec3::new(0.0, 3.0, 2.5), DVec3::X),
        (
            DVec3::new(-1.0, -0.5, 2.0),
            DVec3::new(1.0, 1.0, 1.0).normalize(),
        ),
    ];
    for _ in 0..60 {
        inputs.push((n.point(DVec3::splat(-3.0), DVec3::splat(5.0)), n.unit()));
    }
    let cases: Vec<_> = inputs
        .iter()
        .map(|&(o, d)| {
            case(
                op::BOX,
                [0; 3],
                v4(b.min, 0.0),
                v4(b.max, 0.0),
                v4(o, 0.0),
                v4(d, 0.0),
            )
        })
        .collect();
    let out = f.run(&cases);
    let mut r = Report::default();
    for (&(o, d), g) in inputs.iter().zip(&out) {
        let input = (o, d);
        let cpu = b.ray_interval(o, d);
        let gpu = (g.a[0] <= g.a[1]).then_some((g.a[0], g.a[1]));
        if r.outcome(
            "box_interval (meets)",
            &input,
            gpu.is_some(),
            cpu.is_some(),
            || false,
        ) {
            if let (Some(g), Some(c)) = (gpu, cpu) {
                r.scalar("box_interval entry", &input, g.0, c.0, 2e-6);
                if c.1.is_finite() {
                    r.scalar("box_interval exit", &input, g.1, c.1, 2e-6);
                }
            }
        }
        let (near, far) = b.distance_range(o);
        r.scalar("distance_range near", &input, g.a[2], near, 2e-6);
        r.scalar("distance_range far", &input, g.a[3], far, 2e-6);
        r.exact("box_contains", &input, g.u[0] != 0, b.contains(o));
    }
    r.finish("boxes");
}
