//! The kernel probe: the shaders' leaf functions evaluated one case at a time, so
//! that each can be compared with the CPU function it mirrors (the random numbers,
//! ray-triangle, the BVH queries, the soft gate, every field, the integrator's step
//! and invariants, stop surfaces, the camera, materials, environments, Fresnel,
//! sampling, MIS, emitters, next-event estimation, L / n^2 and the film). Whole-image
//! parity cannot say which of them differs; this can, and names the function and the
//! input.
//!
//! The entry point `probe` (`shaders/probe.wgsl`) is compiled only here, into its own
//! pipeline, so the render and trace pipelines do not carry it. Each case is a
//! [`GpuProbe`]: an operation from [`layout::probe_op`] and its arguments, as the
//! comments of `shaders/probe.wgsl` lay them out.

use super::layout::{self, GpuParams, GpuProbe, GpuProbeOut};
use super::{GpuContext, GpuError, GpuScene, storage};

/// The probe pipeline of one device.
#[derive(Debug)]
pub struct Probe {
    layout: wgpu::BindGroupLayout,
    pipeline: wgpu::ComputePipeline,
}

impl Probe {
    /// Compiles the program with the probe entry point for `ctx`'s device.
    ///
    /// # Errors
    /// [`GpuError::Shader`] when the program does not compile.
    pub fn new(ctx: &GpuContext) -> Result<Self, GpuError> {
        let device = &ctx.device;
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        // With the Kerr passage where the device has f64 shaders (its probe cases
        // answer zeros elsewhere).
        let module = GpuContext::shader_module(
            device,
            "grin probe",
            super::shaders::probe_source_for(ctx.has_f64()),
        );
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("probe"),
            entries: &[
                storage(layout::binding::PROBES, true),
                storage(layout::binding::PROBE_OUT, false),
            ],
        });
        let pipeline = GpuContext::compute_pipeline(
            device,
            &module,
            &ctx.pipelines.scene_layout,
            &layout,
            "probe",
        );
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(GpuError::Shader(e.to_string()));
        }
        Ok(Self { layout, pipeline })
    }

    /// Evaluates `cases` against `scene` with frame parameters `params`.
    ///
    /// # Errors
    /// Allocation or device errors.
    pub fn run(
        &self,
        ctx: &GpuContext,
        scene: &GpuScene,
        params: &GpuParams,
        cases: &[GpuProbe],
    ) -> Result<Vec<GpuProbeOut>, GpuError> {
        if cases.is_empty() {
            return Ok(Vec::new());
        }
        let uniform = wgpu::BufferUsages::UNIFORM;
        let storage = wgpu::BufferUsages::STORAGE;
        let params = ctx.buffer("probe", "params", uniform, bytemuck::bytes_of(params), 0)?;
        let input = ctx.buffer("probe", "cases", storage, bytemuck::cast_slice(cases), 0)?;
        let out_bytes = (cases.len() * std::mem::size_of::<GpuProbeOut>()) as u64;
        let output = ctx.buffer(
            "probe",
            "results",
            storage | wgpu::BufferUsages::COPY_SRC,
            &[],
            out_bytes,
        )?;
        let g0 = scene.bind_group(ctx, params.buffer());
        let g1 = ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("probe"),
            layout: &self.layout,
            entries: &[
                wgpu::BindGroupEntry {
                    binding: layout::binding::PROBES,
                    resource: input.buffer().as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: layout::binding::PROBE_OUT,
                    resource: output.buffer().as_entire_binding(),
                },
            ],
        });
        ctx.dispatch(&self.pipeline, [&g0, &g1], cases.len() as u32, None);
        let bytes = ctx.read_back(output.buffer(), out_bytes)?;
        Ok(bytemuck::cast_slice::<u8, GpuProbeOut>(&bytes).to_vec())
    }
}

#[cfg(test)]
pub(crate) mod tests;
