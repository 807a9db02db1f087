//! Stages 1 and 2: acceleration structures (BLASes in parallel, cached by mesh
//! content; the TLAS over instances; the emitter table) and the field caches (the
//! curvature-bound grid, cached by medium), built once per scene and shared by every
//! renderer that adopts them ([`ReadyScene`]).

use std::sync::Arc;

use scheduler::{Budget, CancelToken, Graph, Outcome};

use super::report::{StepReport, stage};
use crate::accel::{Blas, BlasCache};
use crate::curvature::FieldCache;
use crate::gpu::{GpuContext, GpuError, GpuScene, GpuSceneData};
use crate::integrator::Integrator;
use crate::lights::Emitters;
use crate::scene::Scene;
use crate::trace::SceneTracer;

/// Stages 1 and 2 for one scene: what the tiles read.
#[derive(Debug)]
pub(crate) struct Prepared {
    pub(crate) scene: Arc<Scene>,
    /// Shared with the next scene when only its materials, lights or environment
    /// differ ([`Scene::same_geometry`]).
    pub(crate) tracer: Arc<SceneTracer>,
    /// One BLAS per mesh, by mesh index: kept when only instances move.
    pub(crate) blases: Vec<Arc<Blas>>,
    /// Kept when the emissive instances are unchanged.
    pub(crate) emitters: Arc<Emitters>,
}

/// A scene ready to render: its acceleration structures, field grid and emitter
/// table built (stages 1-2) and, on the GPU backend, its buffers uploaded. Cheap to
/// clone (shared); renderers that [`Renderer::adopt`](super::Renderer::adopt) it skip stages 1-2 and the
/// upload. GPU memory is freed when the last clone of an uploaded one is dropped.
///
/// A batch keeps several of these resident and demotes them
/// ([`ReadyScene::demoted`]) to RAM when the GPU budget is short.
#[derive(Debug, Clone)]
pub struct ReadyScene {
    pub(super) prepared: Arc<Prepared>,
    pub(super) gpu: Option<Arc<GpuScene>>,
}

/// Measured memory of a ready scene, in bytes per kind of buffer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Footprint {
    /// Host memory: `meshes` (positions, indices, texture coordinates), `blas`
    /// (bottom-level BVHs and their triangles), `tlas` (top-level BVH, instances,
    /// inverse transforms), `fields` (sampled index grids and the curvature grid),
    /// `textures`.
    pub ram: Vec<(&'static str, u64)>,
    /// GPU memory, per scene buffer (as allocated: rounded up, at least the binding
    /// minimum); empty when the scene is not built for the GPU.
    pub gpu: Vec<(&'static str, u64)>,
}

impl Footprint {
    /// Host bytes in all.
    #[must_use]
    pub fn ram_bytes(&self) -> u64 {
        self.ram.iter().map(|(_, b)| b).sum()
    }

    /// GPU bytes in all.
    #[must_use]
    pub fn gpu_bytes(&self) -> u64 {
        self.gpu.iter().map(|(_, b)| b).sum()
    }
}

fn bytes_of<T>(v: &[T]) -> u64 {
    std::mem::size_of_val(v) as u64
}

impl Prepared {
    /// Host bytes per kind.
    fn ram_footprint(&self) -> Vec<(&'static str, u64)> {
        let scene = self.scene.footprint();
        let kind = |k: &str| scene.iter().find(|(n, _)| *n == k).map_or(0, |(_, b)| *b);
        let tlas = self.tracer.tlas();
        let mut seen = std::collections::HashSet::new();
        let blas = tlas
            .instances()
            .iter()
            .filter(|i| seen.insert(Arc::as_ptr(&i.blas)))
            .map(|i| i.blas.bytes())
            .sum();
        let tlas_bytes = bytes_of(&tlas.bvh().nodes)
            + bytes_of(&tlas.bvh().prims)
            + bytes_of(tlas.instances())
            + bytes_of(tlas.inverses());
        let kappa = self
            .tracer
            .integrator()
            .grid()
            .map_or(0, |g| bytes_of(g.kappa()));
        vec![
            ("meshes", kind("meshes")),
            ("blas", blas),
            ("tlas", tlas_bytes),
            ("fields", kind("fields") + kappa),
            ("textures", kind("textures")),
        ]
    }
}

impl ReadyScene {
    /// The scene.
    #[must_use]
    pub fn scene(&self) -> &Arc<Scene> {
        &self.prepared.scene
    }

    /// Whether its buffers are on the GPU.
    #[must_use]
    pub fn on_gpu(&self) -> bool {
        self.gpu.is_some()
    }

    /// Host memory per kind, and GPU memory per buffer (measured from the uploaded
    /// buffers; for a scene not on the GPU, from the buffers it would upload).
    #[must_use]
    pub fn footprint(&self) -> Footprint {
        let gpu = match &self.gpu {
            Some(g) => g.footprint(),
            None => self.gpu_data().footprint(),
        };
        Footprint {
            ram: self.prepared.ram_footprint(),
            gpu,
        }
    }

    /// Host memory per kind (cheap: no GPU buffers are built to measure it).
    #[must_use]
    pub fn ram_footprint(&self) -> Vec<(&'static str, u64)> {
        self.prepared.ram_footprint()
    }

    /// What uploading it would allocate (built on the CPU, nothing uploaded).
    #[must_use]
    pub fn gpu_data(&self) -> GpuSceneData {
        let p = &self.prepared;
        GpuSceneData::build(&p.scene, &p.tracer, &p.emitters)
    }

    /// The same scene without its GPU buffers (they are freed when no other clone or
    /// renderer holds them); it can be uploaded again with [`ReadyScene::upload`].
    #[must_use]
    pub fn demoted(&self) -> Self {
        Self {
            prepared: Arc::clone(&self.prepared),
            gpu: None,
        }
    }

    /// Uploads its buffers to `ctx` (a no-op when already there).
    ///
    /// # Errors
    /// [`GpuError::OutOfMemory`] when a buffer cannot be allocated
    /// (nothing stays allocated).
    pub fn upload(&mut self, ctx: &GpuContext) -> Result<(), GpuError> {
        if self.gpu.is_none() {
            self.upload_data(ctx, &self.gpu_data())?;
        }
        Ok(())
    }

    /// Uploads `data`, built earlier by [`ReadyScene::gpu_data`] (to measure it first
    /// without building it twice).
    ///
    /// # Errors
    /// As [`ReadyScene::upload`].
    pub fn upload_data(&mut self, ctx: &GpuContext, data: &GpuSceneData) -> Result<(), GpuError> {
        self.gpu = Some(Arc::new(data.upload(ctx)?));
        Ok(())
    }
}

/// The caches of stages 1-2 a renderer keeps across scenes, and the stages for its
/// current one.
#[derive(Debug, Default)]
pub(super) struct Caches {
    blas: BlasCache,
    fields: FieldCache,
    /// Stages 1-2 of the renderer's current scene.
    pub(super) prepared: Option<Arc<Prepared>>,
    /// What stages 1-2 did so far.
    pub(super) counts: PrepareCounts,
}

/// How often a renderer ran stages 1-2, by how much of them it ran
/// ([`crate::Renderer::counters`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PrepareCounts {
    /// Scenes prepared whole: BLASes looked up (built on a miss), the field grid and
    /// the TLAS.
    pub full: u64,
    /// Scenes whose meshes and fields stood and whose TLAS was rebuilt (objects
    /// moved, appeared or went).
    pub tlas_only: u64,
    /// Scenes whose geometry stood and whose emitter table was made again
    /// (materials, lights or the environment changed).
    pub emitters_only: u64,
}

impl Caches {
    /// Caches for a renderer on a GPU (its BLASes keep the GPU layout they are
    /// collapsed from).
    pub(super) fn for_gpu() -> Self {
        Self {
            blas: BlasCache::for_gpu(),
            ..Self::default()
        }
    }

    /// The BLAS cache.
    pub(super) fn blas(&self) -> &BlasCache {
        &self.blas
    }

    /// Stages 1 and 2 for `scene` on `graph`, unless already done for it (or for a
    /// scene of the same content); only the emitter table when only materials,
    /// lights or the environment changed.
    pub(super) fn prepare(
        &mut self,
        graph: &Graph,
        scene: &Arc<Scene>,
        report: &mut StepReport,
    ) -> Result<Arc<Prepared>, scheduler::GraphError> {
        // The same scene, or an equal one a host built again: stages 1 and 2 stand.
        if let Some(p) = self
            .prepared
            .as_ref()
            .filter(|p| Arc::ptr_eq(&p.scene, scene) || p.scene.same_content(scene))
        {
            return Ok(Arc::clone(p));
        }
        // Only materials, lights or the environment changed: the acceleration
        // structures and the curvature grid stand; the emitter table (emission per
        // triangle) is made again.
        if let Some(p) = self
            .prepared
            .as_ref()
            .filter(|p| p.scene.same_geometry(scene))
        {
            let prepared = Arc::new(Prepared {
                scene: Arc::clone(scene),
                tracer: Arc::clone(&p.tracer),
                blases: p.blases.clone(),
                emitters: Arc::new(Emitters::new(scene)),
            });
            self.prepared = Some(Arc::clone(&prepared));
            self.counts.emitters_only += 1;
            return Ok(prepared);
        }
        // The same meshes and fields, other instances (a host moving objects): the
        // BLASes and the curvature grid stand, the TLAS is rebuilt, and the emitter
        // table too only when emissive instances changed.
        if let Some(p) = self
            .prepared
            .clone()
            .filter(|p| p.scene.same_meshes_and_fields(scene))
        {
            let run = graph.run(&CancelToken::new(), Budget::unlimited(), |frame| {
                frame.serial(stage::TLAS, |_| {
                    let integrator = p.tracer.integrator().clone();
                    let emitters = if p.scene.same_emitters(scene) {
                        Arc::clone(&p.emitters)
                    } else {
                        Arc::new(Emitters::new(scene))
                    };
                    (
                        SceneTracer::from_parts(scene, &p.blases, integrator),
                        emitters,
                    )
                })
            })?;
            report.add_run(&run.summary, run.trace());
            let (tracer, emitters) = run.value;
            report.prepared = true;
            report.fields_cached = true;
            let prepared = Arc::new(Prepared {
                scene: Arc::clone(scene),
                tracer: Arc::new(tracer),
                blases: p.blases.clone(),
                emitters,
            });
            self.prepared = Some(Arc::clone(&prepared));
            self.counts.tlas_only += 1;
            return Ok(prepared);
        }
        let (blas, fields) = (&self.blas, &self.fields);
        let run = graph.run(&CancelToken::new(), Budget::unlimited(), |frame| {
            let blases = frame
                .stage(stage::BLAS)
                .run(&scene.meshes, |_, mesh| Outcome::Done(blas.get(mesh)));
            let (grid, cached) = frame.serial(stage::FIELDS, |_| fields.get(&scene.medium));
            let tracer_emitters = frame.serial(stage::TLAS, |_| {
                let blases: Vec<_> = blases.results.into_iter().flatten().collect();
                let integrator =
                    Integrator::with_grid(scene.medium.clone(), scene.tolerances, grid);
                (
                    SceneTracer::from_parts(scene, &blases, integrator),
                    Emitters::new(scene),
                    blases,
                )
            });
            (tracer_emitters, cached)
        })?;
        report.add_run(&run.summary, run.trace());
        let ((tracer, emitters, blases), cached) = run.value;
        report.prepared = true;
        report.fields_cached = cached;
        let prepared = Arc::new(Prepared {
            scene: Arc::clone(scene),
            tracer: Arc::new(tracer),
            blases,
            emitters: Arc::new(emitters),
        });
        self.prepared = Some(Arc::clone(&prepared));
        self.counts.full += 1;
        Ok(prepared)
    }
}
