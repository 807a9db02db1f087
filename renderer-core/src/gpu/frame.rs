//! The GPU side of the frame graph's stages 3-6: the film lives in a GPU buffer while a
//! frame renders; each dispatch renders one sample of a run of pixels (a batch of
//! scanline tiles), sized so that the step meets its budget; the token is checked
//! between dispatches; the film is read back when the step presents it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::layout::{GpuDispatch, GpuPixel};
use super::{GpuContext, GpuError, GpuScene, TrackedBuffer};
use crate::film::Film;

/// What a run of dispatches did.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Dispatched {
    /// Pixel samples rendered.
    pub(crate) samples: u64,
    /// Dispatches made.
    pub(crate) batches: u32,
    /// The pass is complete.
    pub(crate) pass_done: bool,
}

/// Counters read back with the film.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct GpuCounters {
    pub(crate) rays: u64,
    pub(crate) segments: u64,
    pub(crate) subdivisions: u64,
}

/// A frame's film and per-dispatch buffers on the GPU.
#[derive(Debug)]
pub(crate) struct GpuFrame {
    width: u32,
    height: u32,
    film: TrackedBuffer,
    stats: TrackedBuffer,
    dispatch: TrackedBuffer,
    _params: TrackedBuffer,
    scene_group: wgpu::BindGroup,
    frame_group: wgpu::BindGroup,
    /// Next pixel of the current pass.
    cursor: u32,
    /// Pixels per second measured on this device for this frame.
    rate: Option<f64>,
}

impl GpuFrame {
    /// A cleared film for `width` x `height` with `params` for `scene`.
    pub(crate) fn new(
        ctx: &GpuContext,
        scene: &GpuScene,
        params: &super::layout::GpuParams,
        width: u32,
        height: u32,
    ) -> Result<Self, GpuError> {
        let storage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC;
        let uniform = wgpu::BufferUsages::UNIFORM;
        let n = width as usize * height as usize;
        let empty = GpuPixel {
            rgb: [0.0; 3],
            count: 0,
            normal: [0.0; 3],
            hits: 0,
            depth: 0.0,
            instance: u32::MAX,
            segments: 0,
            pad: 0,
        };
        let pixels = vec![empty; n];
        let film = ctx.buffer("film", "film", storage, bytemuck::cast_slice(&pixels), 0)?;
        let stats = ctx.buffer("film", "stats", storage, &[0u8; 16], 0)?;
        let dispatch = ctx.buffer(
            "film",
            "dispatch",
            uniform,
            &[0u8; std::mem::size_of::<GpuDispatch>()],
            0,
        )?;
        let params = ctx.buffer("film", "params", uniform, bytemuck::bytes_of(params), 0)?;
        let scene_group = scene.bind_group(ctx, params.buffer());
        let frame_group = ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("frame"),
            layout: &ctx.pipelines.render_layout,
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: dispatch.buffer().as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: film.buffer().as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 2,
                    resource: stats.buffer().as_entire_binding(),
                },
            ],
        });
        Ok(Self {
            width,
            height,
            film,
            stats,
            dispatch,
            _params: params,
            scene_group,
            frame_group,
            cursor: 0,
            rate: None,
        })
    }

    /// Renders sample `pass` of pixels from the cursor on, dispatch after dispatch,
    /// until `budget` is spent, `stop` says so (checked between dispatches), or the
    /// pass is complete. At least one dispatch is made.
    pub(crate) fn run(
        &mut self,
        ctx: &Arc<GpuContext>,
        pass: u32,
        budget: Duration,
        mut stop: impl FnMut() -> bool,
    ) -> Result<Dispatched, GpuError> {
        let started = Instant::now();
        let total = self.width * self.height;
        let mut out = Dispatched::default();
        loop {
            let left = budget.saturating_sub(started.elapsed());
            let remaining = total - self.cursor;
            // Size the batch to what is left of the budget at the measured rate; the
            // first batch of a frame is one workgroup row of tiles, to measure.
            let want = match self.rate {
                Some(rate) => (rate * left.as_secs_f64() * 0.9) as u32,
                None => 4096,
            };
            let count = want
                .max(super::layout::WORKGROUP_SIZE)
                .min(remaining)
                .max(1);
            let d = GpuDispatch {
                sample: pass,
                first: self.cursor,
                count,
                pad: 0,
            };
            ctx.queue
                .write_buffer(self.dispatch.buffer(), 0, bytemuck::bytes_of(&d));
            let t0 = Instant::now();
            ctx.dispatch(
                &ctx.pipelines.render,
                [&self.scene_group, &self.frame_group],
                count,
            );
            ctx.wait()?;
            let took = t0.elapsed().as_secs_f64().max(1e-6);
            let rate = f64::from(count) / took;
            self.rate = Some(self.rate.map_or(rate, |r| 0.5 * (r + rate)));
            self.cursor += count;
            out.samples += u64::from(count);
            out.batches += 1;
            if self.cursor >= total {
                self.cursor = 0;
                out.pass_done = true;
                return Ok(out);
            }
            if stop() || started.elapsed() >= budget {
                return Ok(out);
            }
        }
    }

    /// Reads the film back into `film` and the counters since the last read.
    pub(crate) fn present(
        &self,
        ctx: &GpuContext,
        film: &mut Film,
    ) -> Result<GpuCounters, GpuError> {
        let bytes = ctx.read_back(self.film.buffer(), self.film.bytes())?;
        let pixels: &[GpuPixel] = bytemuck::cast_slice(&bytes);
        for (i, p) in pixels
            .iter()
            .take(self.width as usize * self.height as usize)
            .enumerate()
        {
            film.set_sums(
                i, p.rgb, p.count, p.normal, p.hits, p.depth, p.instance, p.segments,
            );
        }
        let stats = ctx.read_back(self.stats.buffer(), 16)?;
        let s: &[u32] = bytemuck::cast_slice(&stats);
        ctx.queue.write_buffer(self.stats.buffer(), 0, &[0u8; 16]);
        Ok(GpuCounters {
            rays: u64::from(s[0]),
            segments: u64::from(s[1]),
            subdivisions: u64::from(s[2]),
        })
    }
}
