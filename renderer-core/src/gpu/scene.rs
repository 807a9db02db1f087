//! A scene on the GPU: every BVH in one node array (the TLAS first, indices made
//! global), triangles in leaf order, instances, materials, lights, emitters, fields,
//! the curvature grid and the images, each uploaded with bytemuck in the layouts of
//! [`super::layout`] and charged to the scene in the [`super::MemoryTracker`].

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use glam::DVec3;

use super::layout::{
    self, GpuEmitter, GpuField, GpuInstance, GpuLight, GpuMaterial, GpuNode, GpuParams, GpuRay,
    GpuRayResult, GpuTriangle, GpuUv,
};
use super::{GpuContext, GpuError, TrackedBuffer};
use crate::camera::Camera;
use crate::field::{Constants, Drift};
use crate::integrator::{DISK_CROSSINGS, DiskCrossing, KerrTrace, StopSurface, Termination};
use crate::lights::Emitters;
use crate::rng::mix64;
use crate::scene::{Light, Scene};
use crate::trace::SceneTracer;

/// The smallest RK tolerance the f32 shaders use: below it, rounding in the error
/// estimate would reject steps for ever. The step stays bounded by the geometric
/// tolerance, which sets the accuracy.
pub(crate) const MIN_GPU_RK: f64 = 1e-6;

const NONE: u32 = u32::MAX;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A scene resident on the GPU.
#[derive(Debug)]
pub struct GpuScene {
    owner: String,
    kinds: Vec<&'static str>,
    buffers: Vec<TrackedBuffer>,
    base: GpuParams,
    /// As [`GpuSceneData`]'s.
    footprint: bool,
    /// Whether it holds a Kerr hole (its rays need the f64 program).
    kerr: bool,
}

/// One ray for [`GpuScene::trace_rays`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RayQuery {
    /// Origin.
    pub origin: DVec3,
    /// Direction.
    pub direction: DVec3,
    /// Where to stop, besides a hit or escape.
    pub stop: Option<StopSurface>,
}

/// Where a GPU-traced ray ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RayResult {
    /// How it ended.
    pub termination: Termination,
    /// Final position.
    pub position: DVec3,
    /// Final unit direction.
    pub direction: DVec3,
    /// Optical path length.
    pub optical_path: f64,
    /// Path length to the hit (0 without one).
    pub path_length: f64,
    /// Segments.
    pub segments: u32,
    /// Integration steps.
    pub steps: u32,
    /// The instance hit.
    pub instance: Option<u32>,
    /// What it met of a Kerr hole, in a scene with one (f32 figures widened; disk
    /// crossings' positions as the shaders record them).
    pub kerr: Option<KerrTrace>,
}

/// A ray's Kerr record from the shaders' result.
fn kerr_trace(r: &GpuRayResult) -> KerrTrace {
    let f = f64::from;
    let count = r.kerr[3].to_bits().min(DISK_CROSSINGS as u32);
    let mut disk = [DiskCrossing::default(); DISK_CROSSINGS];
    for (i, c) in disk.iter_mut().enumerate().take(count as usize) {
        *c = DiskCrossing {
            position: DVec3::new(f(r.disk[i][0]), f(r.disk[i][1]), f(r.disk[i][2])),
            r: f(r.disk[i][3]),
            energy: f(r.disk_energy[i]),
            weight: f(r.disk_weight[i]),
            order: r.disk_order[i],
        };
    }
    let [h, energy, lz, carter] = r.kerr_start.map(f);
    KerrTrace {
        energy: f(r.kerr[0]),
        crossings: r.kerr[2].to_bits(),
        disk,
        disk_count: count,
        transmittance: f(r.kerr[1]),
        // The size of H's terms is not sent back.
        start: (energy != 0.0).then_some(Constants {
            hamiltonian: h,
            magnitude: 0.0,
            energy,
            lz,
            carter,
        }),
        drift: Drift {
            hamiltonian: f(r.kerr_drift[0]),
            lz: f(r.kerr_drift[1]),
            carter: f(r.kerr_drift[2]),
        },
    }
}

fn v4(v: DVec3, w: f64) -> [f32; 4] {
    [v.x as f32, v.y as f32, v.z as f32, w as f32]
}

fn c4(c: [f32; 3], w: f32) -> [f32; 4] {
    [c[0], c[1], c[2], w]
}

fn split(v: u64) -> [u32; 2] {
    [v as u32, (v >> 32) as u32]
}

/// The GPU buffers of a scene, built on the CPU but not uploaded: their contents
/// and sizes, so a batch can budget a scene before it takes any GPU memory.
#[derive(Debug, Clone)]
pub struct GpuSceneData {
    buffers: Vec<(&'static str, Vec<u8>)>,
    base: GpuParams,
    /// Whether rendered rays relax their tolerances to the pixel's footprint
    /// ([`crate::integrator::Tolerances::pixel_footprint`]).
    footprint: bool,
    /// Levels of the deepest BVH (the TLAS or a mesh's).
    deepest: u32,
    /// Whether it holds a Kerr hole: its rays need the f64 program, and the
    /// renderer does not shade it yet (single rays trace).
    kerr: bool,
}

/// The smallest storage buffer the scene binds (an empty array still binds one
/// zeroed element of any struct).
const MIN_SCENE_BUFFER: u64 = 256;

impl GpuSceneData {
    /// The buffers for `scene` with its acceleration structures and emitters (stage
    /// 1's results).
    #[must_use]
    pub(crate) fn build(scene: &Scene, tracer: &SceneTracer, emitters: &Emitters) -> Self {
        let tlas = tracer.tlas();
        let mut nodes: Vec<GpuNode> = tlas
            .bvh()
            .nodes
            .iter()
            .map(|n| GpuNode {
                min: n.min,
                left_or_first: n.left_or_first,
                max: n.max,
                count: n.count,
            })
            .collect();
        let mut triangles: Vec<GpuTriangle> = Vec::new();
        let mut uvs: Vec<GpuUv> = Vec::new();
        let mut deepest = tlas.bvh().depth();
        // Per mesh: (root, slot base, uv base).
        let mut placed: HashMap<usize, (u32, u32, u32)> = HashMap::new();
        let mut instances = Vec::new();
        for (i, inst) in tlas.instances().iter().enumerate() {
            let mesh_index = scene.instances[i].mesh;
            let (root, slot_base, uv_base) = *placed.entry(mesh_index).or_insert_with(|| {
                let mesh = &scene.meshes[mesh_index];
                let blas = inst.blas.binary(mesh);
                deepest = deepest.max(blas.bvh.depth());
                if blas.bvh.nodes.is_empty() || blas.triangles.is_empty() {
                    return (NONE, 0, NONE);
                }
                let node_base = nodes.len() as u32;
                let slot_base = triangles.len() as u32;
                nodes.extend(blas.bvh.nodes.iter().map(|n| GpuNode {
                    min: n.min,
                    left_or_first: n.left_or_first
                        + if n.count > 0 { slot_base } else { node_base },
                    max: n.max,
                    count: n.count,
                }));
                triangles.extend(blas.triangles.iter().map(|t| GpuTriangle {
                    v0: t.v0,
                    v1: t.v1,
                    v2: t.v2,
                }));
                let uv_base = if mesh.uvs.is_empty() {
                    NONE
                } else {
                    let base = uvs.len() as u32;
                    uvs.extend(blas.bvh.prims.iter().map(|&p| {
                        let [a, b, c] = mesh.indices[p as usize].map(|k| mesh.uvs[k as usize]);
                        GpuUv {
                            a: [a[0], a[1], b[0], b[1]],
                            b: [c[0], c[1], 0.0, 0.0],
                        }
                    }));
                    base
                };
                (node_base, slot_base, uv_base)
            });
            let inv = tlas.inverses()[i];
            let m = inv.matrix3;
            let t = inv.translation;
            let row = |r: usize| [m.x_axis[r], m.y_axis[r], m.z_axis[r], t[r]];
            let col = |c: glam::Vec3A| [c.x, c.y, c.z, 0.0];
            instances.push(GpuInstance {
                inv0: row(0),
                inv1: row(1),
                inv2: row(2),
                nrm0: col(m.x_axis),
                nrm1: col(m.y_axis),
                nrm2: col(m.z_axis),
                root,
                slot_base,
                uv_base,
                pad: 0,
            });
        }
        let mut texels: Vec<[f32; 4]> = Vec::new();
        let mut textures: HashMap<*const crate::texture::Texture, u32> = HashMap::new();
        let mut place_texture = |t: &Arc<crate::texture::Texture>| -> (u32, u32, u32) {
            let base = *textures.entry(Arc::as_ptr(t)).or_insert_with(|| {
                let base = texels.len() as u32;
                texels.extend(t.texels().iter().map(|c| [c[0], c[1], c[2], 0.0]));
                base
            });
            (base, t.width(), t.height())
        };
        let materials: Vec<GpuMaterial> = scene
            .instances
            .iter()
            .map(|i| &i.material)
            .enumerate()
            .map(|(k, m)| {
                let mut g = GpuMaterial {
                    kind: 0,
                    tex_base: 0,
                    tex_w: 0,
                    tex_h: 0,
                    a: [0.0; 4],
                    b: [0.0; 4],
                    area_pdf: emitters.area_pdf(k as u32) as f32,
                    pad0: 0.0,
                    pad1: 0.0,
                    pad2: 0.0,
                };
                m.gpu(&mut g, &mut place_texture);
                g
            })
            .collect();
        let medium = &scene.medium;
        let lights: Vec<GpuLight> = scene
            .lights
            .iter()
            .map(|l| match *l {
                Light::Directional {
                    direction,
                    irradiance,
                } => GpuLight {
                    kind: layout::light::DIRECTIONAL,
                    pad0: 0,
                    pad1: 0,
                    pad2: 0,
                    v: v4(direction, 0.0),
                    c: c4(irradiance, medium.background as f32),
                },
                Light::Point {
                    position,
                    intensity,
                } => GpuLight {
                    kind: layout::light::POINT,
                    pad0: 0,
                    pad1: 0,
                    pad2: 0,
                    v: v4(position, 1.0),
                    c: c4(intensity, medium.index(position).0 as f32),
                },
            })
            .collect();
        let emitter_records: Vec<GpuEmitter> = emitters
            .records()
            .map(|(instance, [a, e1, e2, n], cdf)| GpuEmitter {
                a: v4(a, cdf),
                e1: v4(e1, 0.0),
                e2: v4(e2, 0.0),
                normal: v4(n, 0.0),
                instance,
                pad0: 0,
                pad1: 0,
                pad2: 0,
            })
            .collect();
        let mut scalars: Vec<f32> = Vec::new();
        let mut base = GpuParams::zeroed();
        if let Some(grid) = tracer.integrator().grid() {
            let dims = grid.dims();
            scalars.extend(grid.kappa().iter().map(|&k| k as f32));
            base.grid_dims = [dims[0] as u32, dims[1] as u32, dims[2] as u32, 0];
            let b = grid.bounds();
            base.grid_min = v4(b.min, grid.cell_size());
            base.grid_max = v4(b.max, 0.0);
            base.grid_cell = v4(grid.cell(), 0.0);
        }
        let mut masses = Vec::new();
        let mut kerr_field = NONE;
        let fields: Vec<GpuField> = medium
            .fields
            .iter()
            .enumerate()
            .map(|(k, f)| {
                if f.info().spacetime {
                    kerr_field = k as u32;
                } else if f.is_mass() {
                    masses.push(k as u32);
                }
                f.gpu(&mut scalars)
            })
            .collect();
        let kerr = kerr_field != NONE;
        if kerr {
            // The Kerr passage's RK tolerance, in its slot of the hole's f64 block
            // (the f32 programs' floor, MIN_GPU_RK, is for f32 arithmetic).
            let at = fields[kerr_field as usize].head[1] as usize + 2 * crate::field::KERR_GPU_RK;
            scalars[at..at + 2].copy_from_slice(&crate::field::hi_lo(scene.tolerances.rk));
        }
        scene.environment.gpu(&mut base, &mut place_texture);
        let tol = scene.tolerances;
        base.counts = [
            fields.len() as u32,
            emitter_records.len() as u32,
            base.counts[2],
            masses.len() as u32,
        ];
        base.misc = [
            instances.len() as u32,
            0,
            if masses.len() == 1 { masses[0] } else { NONE },
            kerr_field,
        ];
        base.tol = [
            medium.background as f32,
            tol.geometric as f32,
            tol.rk.max(MIN_GPU_RK) as f32,
            tol.far as f32,
        ];
        base.seed[2] = tol.max_steps;
        base.seed[3] = tol.soft_gate_attempts;
        base.dims[3] = lights.len() as u32;

        let bytes = |b: &[u8]| b.to_vec();
        let buffers = vec![
            ("nodes", bytes(bytemuck::cast_slice(&nodes))),
            ("triangles", bytes(bytemuck::cast_slice(&triangles))),
            ("tlas prims", bytes(bytemuck::cast_slice(&tlas.bvh().prims))),
            ("instances", bytes(bytemuck::cast_slice(&instances))),
            ("uvs", bytes(bytemuck::cast_slice(&uvs))),
            ("materials", bytes(bytemuck::cast_slice(&materials))),
            ("lights", bytes(bytemuck::cast_slice(&lights))),
            ("emitters", bytes(bytemuck::cast_slice(&emitter_records))),
            ("fields", bytes(bytemuck::cast_slice(&fields))),
            ("scalars", bytes(bytemuck::cast_slice(&scalars))),
            ("texels", bytes(bytemuck::cast_slice(&texels))),
        ];
        Self {
            buffers,
            base,
            footprint: tol.pixel_footprint,
            deepest,
            kerr,
        }
    }

    /// The contents of buffer `what` ("triangles", "uvs", ...), for the kernel probe.
    #[cfg(test)]
    pub(crate) fn contents(&self, what: &str) -> Option<&[u8]> {
        self.buffers
            .iter()
            .find(|(w, _)| *w == what)
            .map(|(_, b)| b.as_slice())
    }

    /// GPU bytes per buffer kind, as [`GpuContext::buffer`] will allocate them.
    #[must_use]
    pub fn footprint(&self) -> Vec<(&'static str, u64)> {
        self.buffers
            .iter()
            .map(|(what, b)| (*what, super::buffer_size(b.len() as u64, MIN_SCENE_BUFFER)))
            .collect()
    }

    /// GPU bytes in all.
    #[must_use]
    pub fn bytes(&self) -> u64 {
        self.footprint().iter().map(|(_, b)| b).sum()
    }

    /// Uploads the buffers.
    ///
    /// # Errors
    /// [`GpuError::TooDeep`] when a BVH is deeper than the shaders' traversal stacks
    /// hold; [`GpuError::OutOfMemory`] when a buffer cannot be allocated: what was
    /// allocated is freed.
    pub fn upload(&self, ctx: &GpuContext) -> Result<GpuScene, GpuError> {
        fits_the_stack(self.deepest)?;
        if self.kerr {
            // The f64 program, compiled now (or why this device cannot have it).
            ctx.pipeline_for(true, true)?;
        }
        let owner = format!("scene:{}", NEXT_ID.fetch_add(1, Ordering::Relaxed));
        let storage = wgpu::BufferUsages::STORAGE;
        let buffers = self
            .buffers
            .iter()
            .map(|(what, b)| ctx.buffer(&owner, what, storage, b, MIN_SCENE_BUFFER))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(GpuScene {
            owner,
            kinds: self.buffers.iter().map(|(what, _)| *what).collect(),
            buffers,
            base: self.base,
            footprint: self.footprint,
            kerr: self.kerr,
        })
    }
}

/// Whether a BVH `depth` levels deep fits the shaders' traversal stacks: a
/// closest-hit traversal keeps at most one node waiting per interior level, a box
/// query one plus the two it pushes, so `STACK_DEPTH` levels fit.
fn fits_the_stack(depth: u32) -> Result<(), GpuError> {
    if depth > super::layout::STACK_DEPTH {
        return Err(GpuError::TooDeep {
            depth,
            limit: super::layout::STACK_DEPTH,
        });
    }
    Ok(())
}

impl GpuScene {
    /// Builds `scene`'s acceleration structures (BLASes from `cache`) and emitter
    /// table and uploads them: a scene for single-ray queries
    /// ([`GpuScene::trace_rays`]) without a renderer. A renderer's scenes come from
    /// its own stages 1-2 instead ([`crate::frame::ReadyScene::upload`]).
    ///
    /// # Errors
    /// [`GpuError::OutOfMemory`] when a buffer cannot be allocated: what was
    /// allocated is freed.
    pub fn for_scene(
        ctx: &GpuContext,
        scene: &Scene,
        cache: &crate::accel::BlasCache,
    ) -> Result<Self, GpuError> {
        let tracer = SceneTracer::new(scene, cache);
        Self::upload(ctx, scene, &tracer, &Emitters::new(scene))
    }

    /// Uploads `scene` with its acceleration structures and emitters (stage 1's
    /// results).
    ///
    /// # Errors
    /// [`GpuError::OutOfMemory`] when a buffer cannot be allocated: what was
    /// allocated is freed.
    pub(crate) fn upload(
        ctx: &GpuContext,
        scene: &Scene,
        tracer: &SceneTracer,
        emitters: &Emitters,
    ) -> Result<Self, GpuError> {
        GpuSceneData::build(scene, tracer, emitters).upload(ctx)
    }

    /// Bytes this scene holds on the GPU.
    #[must_use]
    pub fn bytes(&self) -> u64 {
        self.buffers.iter().map(TrackedBuffer::bytes).sum()
    }

    /// Bytes per buffer, as allocated (and counted by the memory tracker).
    #[must_use]
    pub fn footprint(&self) -> Vec<(&'static str, u64)> {
        self.kinds
            .iter()
            .zip(&self.buffers)
            .map(|(k, b)| (*k, b.bytes()))
            .collect()
    }

    /// Whether it holds a Kerr hole.
    pub(crate) fn has_kerr(&self) -> bool {
        self.kerr
    }

    /// Its owner name in the memory tracker.
    #[must_use]
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// The frame parameters for `camera` and the image settings.
    pub(crate) fn params(
        &self,
        camera: &Camera,
        width: u32,
        height: u32,
        max_bounces: u32,
        seed: u64,
    ) -> GpuParams {
        let mut p = self.base;
        let c = camera.parts();
        p.dims = [width, height, max_bounces, p.dims[3]];
        let [lo, hi] = split(mix64(seed ^ 0x9E37_79B9_7F4A_7C15));
        p.seed[0] = lo;
        p.seed[1] = hi;
        p.cam_pos = v4(c.position, c.tan_half);
        let spread = if self.footprint {
            camera.pixel_cone().spread
        } else {
            0.0
        };
        p.cam_fwd = v4(c.forward, spread);
        p.cam_right = v4(c.right, 0.0);
        p.cam_up = v4(c.up, 0.0);
        if let Some((centre, rs)) = c.observer {
            p.misc[1] = 1;
            p.observer = v4(centre, rs);
        }
        if let Some((inside, [u, right, up, forward])) = c.tetrad {
            p.misc[1] = if inside { 2 } else { 3 };
            let f = |v: [f64; 4]| v.map(|c| c as f32);
            p.tetrad_u = f(u);
            p.tetrad_right = f(right);
            p.tetrad_up = f(up);
            p.tetrad_forward = f(forward);
        }
        p
    }

    /// Group 0 for `params`.
    pub(crate) fn bind_group(&self, ctx: &GpuContext, params: &wgpu::Buffer) -> wgpu::BindGroup {
        let mut entries = vec![wgpu::BindGroupEntry {
            binding: super::layout::binding::PARAMS,
            resource: params.as_entire_binding(),
        }];
        entries.extend(
            self.buffers
                .iter()
                .zip(super::layout::binding::SCENE_STORAGE)
                .map(|(b, binding)| wgpu::BindGroupEntry {
                    binding,
                    resource: b.buffer().as_entire_binding(),
                }),
        );
        ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("scene"),
            layout: &ctx.pipelines.scene_layout,
            entries: &entries,
        })
    }

    /// Traces single curved rays through the scene with the shaders' integrator:
    /// against its geometry when `geometry`, else through its fields alone.
    ///
    /// # Errors
    /// Allocation or device errors.
    pub fn trace_rays(
        &self,
        ctx: &GpuContext,
        rays: &[RayQuery],
        geometry: bool,
    ) -> Result<Vec<RayResult>, GpuError> {
        if rays.is_empty() {
            return Ok(Vec::new());
        }
        let mut p = self.base;
        if !geometry {
            p.misc[0] = 0;
        }
        let queries: Vec<GpuRay> = rays
            .iter()
            .map(|r| {
                let (kind, a, b) = match r.stop {
                    None => (layout::stop::NONE, [0.0; 4], [0.0; 4]),
                    Some(StopSurface::Plane { point, normal }) => {
                        (layout::stop::PLANE, v4(point, 0.0), v4(normal, 0.0))
                    }
                    Some(StopSurface::Sphere { centre, radius }) => {
                        (layout::stop::SPHERE, v4(centre, radius), [0.0; 4])
                    }
                };
                let lo = |v: DVec3| {
                    let [x, y, z] = v.to_array().map(|c| crate::field::hi_lo(c)[1]);
                    [x, y, z, 0.0]
                };
                let direction = r.direction.normalize_or(DVec3::X);
                GpuRay {
                    origin: v4(r.origin, 0.0),
                    dir: v4(direction, 0.0),
                    stop_a: a,
                    stop_b: b,
                    stop_kind: [kind, 0, 0, 0],
                    origin_lo: lo(r.origin),
                    dir_lo: lo(direction),
                }
            })
            .collect();
        let uniform = wgpu::BufferUsages::UNIFORM;
        let storage = wgpu::BufferUsages::STORAGE;
        let params = ctx.buffer("rays", "params", uniform, bytemuck::bytes_of(&p), 0)?;
        let input = ctx.buffer("rays", "rays", storage, bytemuck::cast_slice(&queries), 0)?;
        let out_bytes = (rays.len() * std::mem::size_of::<GpuRayResult>()) as u64;
        let output = ctx.buffer(
            "rays",
            "results",
            storage | wgpu::BufferUsages::COPY_SRC,
            &[],
            out_bytes,
        )?;
        let g0 = self.bind_group(ctx, params.buffer());
        let g1 = ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("rays"),
            layout: &ctx.pipelines.trace_layout,
            entries: &[
                wgpu::BindGroupEntry {
                    binding: super::layout::binding::RAYS,
                    resource: input.buffer().as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: super::layout::binding::RESULTS,
                    resource: output.buffer().as_entire_binding(),
                },
            ],
        });
        ctx.dispatch(
            ctx.pipeline_for(self.kerr, true)?,
            [&g0, &g1],
            rays.len() as u32,
            None,
        );
        let bytes = ctx.read_back(output.buffer(), out_bytes)?;
        let results: &[GpuRayResult] = bytemuck::cast_slice(&bytes);
        let d = |v: [f32; 4]| DVec3::new(f64::from(v[0]), f64::from(v[1]), f64::from(v[2]));
        Ok(results
            .iter()
            .map(|r| RayResult {
                termination: Termination::from_gpu(r.info[0]).unwrap_or(Termination::Hit),
                position: d(r.position),
                direction: d(r.direction),
                optical_path: f64::from(r.position[3]),
                path_length: f64::from(r.direction[3]),
                segments: r.info[1],
                steps: r.info[2],
                instance: (r.info[3] != NONE).then_some(r.info[3]),
                kerr: self.kerr.then(|| kerr_trace(r)),
            })
            .collect())
    }
}

use bytemuck::Zeroable;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accel::BlasCache;

    #[test]
    fn a_bvh_deeper_than_the_traversal_stack_is_refused() {
        let limit = super::super::layout::STACK_DEPTH;
        assert!(fits_the_stack(limit).is_ok());
        let e = fits_the_stack(limit + 1).unwrap_err();
        assert!(
            matches!(e, GpuError::TooDeep { depth, limit: l } if depth == limit + 1 && l == limit)
        );
        assert!(e.to_string().contains("CPU backend"), "{e}");
    }

    #[test]
    fn the_million_triangle_terrain_fits_the_traversal_stack() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/scenes/terrain.ron");
        let scene = Scene::load(&path).unwrap();
        let tracer = SceneTracer::new(&scene, &BlasCache::default());
        let data = GpuSceneData::build(&scene, &tracer, &Emitters::new(&scene));
        eprintln!("terrain: deepest BVH {} levels", data.deepest);
        assert!(data.deepest >= 10 && fits_the_stack(data.deepest).is_ok());
    }
}
