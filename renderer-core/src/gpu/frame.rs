//! The GPU side of the frame graph's stages 3-6: the film lives in a GPU buffer while a
//! frame renders; each dispatch renders one sample of a run of pixels (a batch of
//! scanline tiles); `frame::gpu` sizes the batches to the step's budget and checks the
//! token between them; the film is read back when the step presents it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::layout::{GpuDispatch, GpuPathState, GpuPixel, PATH_TURNS, binding};
use super::{GpuContext, GpuError, GpuScene, TrackedBuffer};
use crate::film::{Film, PixelSums};

/// Pixels one dispatch takes at most when paths run in rounds (their states, 256
/// bytes each, are kept between rounds).
const ROUND_PIXELS: u32 = 1 << 16;

/// Counters read back with the film, and where the step's time went.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct GpuCounters {
    pub(crate) rays: u64,
    pub(crate) segments: u64,
    pub(crate) subdivisions: u64,
    /// GPU time of the render dispatches since the last present (timestamp
    /// queries), when the context times them.
    pub(crate) kernel: Option<Duration>,
    /// Copying the film to a mapped buffer and waiting for the map.
    pub(crate) readback: Duration,
    /// Writing the mapped sums into the host's film.
    pub(crate) film: Duration,
}

/// Timestamp queries around each render dispatch.
#[derive(Debug)]
struct Timer {
    queries: wgpu::QuerySet,
    resolved: TrackedBuffer,
    /// Nanoseconds per tick.
    period: f64,
    /// GPU nanoseconds since the last present.
    ns: u64,
}

/// A frame's film and per-dispatch buffers on the GPU.
#[derive(Debug)]
pub(crate) struct GpuFrame {
    width: u32,
    height: u32,
    film: TrackedBuffer,
    stats: TrackedBuffer,
    /// Where present copies the film and the counters to be mapped: kept for the
    /// frame's life (a fresh mapped buffer of a 1080p film cost tens of ms a step).
    staging: TrackedBuffer,
    /// The pending-path counter's mapped copy (software drivers' rounds).
    pending: TrackedBuffer,
    /// Path states between rounds; one element when every path finishes in one.
    _paths: TrackedBuffer,
    /// Turns each invocation takes per round ([`GpuDispatch::turns`]).
    turns: u32,
    /// Pixels one dispatch may take (the path states' capacity, in rounds mode).
    capacity: u32,
    dispatch: TrackedBuffer,
    params: TrackedBuffer,
    scene_group: wgpu::BindGroup,
    frame_group: wgpu::BindGroup,
    /// Next pixel of the current pass.
    cursor: u32,
    /// Whether the scene holds a Kerr hole (the f64 program renders it).
    kerr: bool,
    timer: Option<Timer>,
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
        // A Kerr scene's rays need the f64 program (built, or refused, here).
        let kerr = scene.has_kerr();
        ctx.pipeline_for(kerr, false)?;
        let storage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC;
        let uniform = wgpu::BufferUsages::UNIFORM;
        // New buffers are zeroed, which is an empty film (the shaders keep a pixel's
        // first instance plus one, so that zero means none).
        let film_bytes =
            (width as usize * height as usize * std::mem::size_of::<GpuPixel>()) as u64;
        let film = ctx.buffer("film", "film", storage, &[], film_bytes)?;
        let stats = ctx.buffer("film", "stats", storage, &[0u8; 16], 0)?;
        let staging = ctx.buffer(
            "film",
            "staging",
            wgpu::BufferUsages::MAP_READ,
            &[],
            film.bytes() + 16,
        )?;
        let pending = ctx.buffer("film", "pending", wgpu::BufferUsages::MAP_READ, &[], 16)?;
        // On a software driver (llvmpipe caps an invocation's loop iterations) each
        // round traces one ray per path and saves the paths between rounds; a
        // hardware GPU finishes every path in one round.
        let (turns, capacity) = if ctx.is_software() {
            (1, (width * height).min(ROUND_PIXELS))
        } else {
            (PATH_TURNS, u32::MAX)
        };
        let states = if turns >= PATH_TURNS {
            1
        } else {
            capacity as u64
        };
        let paths = ctx.buffer(
            "film",
            "paths",
            wgpu::BufferUsages::STORAGE,
            &[],
            states * std::mem::size_of::<GpuPathState>() as u64,
        )?;
        let dispatch = ctx.buffer(
            "film",
            "dispatch",
            uniform,
            &[0u8; std::mem::size_of::<GpuDispatch>()],
            0,
        )?;
        let params = ctx.buffer("film", "params", uniform, bytemuck::bytes_of(params), 0)?;
        let scene_group = scene.bind_group(ctx, params.buffer());
        let timer = match ctx.timestamp_period() {
            Some(period) => Some(Timer {
                queries: ctx.device.create_query_set(&wgpu::QuerySetDescriptor {
                    label: Some("dispatch timestamps"),
                    ty: wgpu::QueryType::Timestamp,
                    count: 2,
                }),
                resolved: ctx.buffer(
                    "film",
                    "timestamps",
                    wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                    &[],
                    16,
                )?,
                period: f64::from(period),
                ns: 0,
            }),
            None => None,
        };
        let frame_group = ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("frame"),
            layout: &ctx.pipelines.render_layout,
            entries: &[
                wgpu::BindGroupEntry {
                    binding: binding::DISPATCH,
                    resource: dispatch.buffer().as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: binding::FILM,
                    resource: film.buffer().as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: binding::STATS,
                    resource: stats.buffer().as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: binding::PATHS,
                    resource: paths.buffer().as_entire_binding(),
                },
            ],
        });
        Ok(Self {
            width,
            height,
            film,
            stats,
            staging,
            pending,
            _paths: paths,
            turns,
            capacity,
            dispatch,
            params,
            scene_group,
            frame_group,
            cursor: 0,
            kerr,
            timer,
        })
    }

    /// The film's size.
    pub(crate) fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    /// Starts a new frame of the same size on the same scene: new parameters (camera,
    /// seed), the film and counters cleared on the GPU.
    pub(crate) fn restart(&mut self, ctx: &GpuContext, params: &super::layout::GpuParams) {
        ctx.queue
            .write_buffer(self.params.buffer(), 0, bytemuck::bytes_of(params));
        let mut enc = ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
        enc.clear_buffer(self.film.buffer(), 0, None);
        enc.clear_buffer(self.stats.buffer(), 0, None);
        ctx.queue.submit([enc.finish()]);
        self.cursor = 0;
        if let Some(t) = self.timer.as_mut() {
            t.ns = 0;
        }
    }

    /// Pixels of the current pass not dispatched yet.
    pub(crate) fn remaining(&self) -> u32 {
        self.width * self.height - self.cursor
    }

    /// Renders sample `pass` of the next `count` pixels from the cursor (clamped to
    /// what is left of the pass and to the path states' capacity) in one dispatch (and
    /// its rounds, on a software driver), waiting for it. Returns the pixels rendered
    /// and whether the pass is now complete (the cursor then starts over).
    pub(crate) fn dispatch(
        &mut self,
        ctx: &Arc<GpuContext>,
        pass: u32,
        count: u32,
    ) -> Result<(u32, bool), GpuError> {
        let count = count.min(self.remaining()).min(self.capacity).max(1);
        for round in 0..=PATH_TURNS {
            let d = GpuDispatch {
                sample: pass,
                first: self.cursor,
                count,
                turns: self.turns,
                round,
                pad0: 0,
                pad1: 0,
                pad2: 0,
            };
            ctx.queue
                .write_buffer(self.dispatch.buffer(), 0, bytemuck::bytes_of(&d));
            ctx.dispatch(
                ctx.pipeline_for(self.kerr, false)?,
                [&self.scene_group, &self.frame_group],
                count,
                self.timer.as_ref().map(|t| &t.queries),
            );
            ctx.wait()?;
            if let Some(timer) = self.timer.as_mut() {
                timer.ns += timer.read(ctx)?;
            }
            if self.turns >= PATH_TURNS || self.take_pending(ctx)? == 0 {
                break;
            }
        }
        self.cursor += count;
        let pass_done = self.cursor >= self.width * self.height;
        if pass_done {
            self.cursor = 0;
        }
        Ok((count, pass_done))
    }

    /// Paths the last round left unfinished (and clears that counter).
    fn take_pending(&self, ctx: &GpuContext) -> Result<u32, GpuError> {
        let mut enc = ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
        enc.copy_buffer_to_buffer(self.stats.buffer(), 0, self.pending.buffer(), 0, 16);
        enc.clear_buffer(self.stats.buffer(), 12, Some(4));
        ctx.queue.submit([enc.finish()]);
        let slice = self.pending.buffer().slice(..);
        ctx.map_read(&slice)?;
        let s: [u32; 4] = {
            let mapped = slice
                .get_mapped_range()
                .map_err(|e| GpuError::Uncaptured(format!("map: {e}")))?;
            bytemuck::pod_read_unaligned(&mapped[..16])
        };
        self.pending.buffer().unmap();
        Ok(s[3])
    }

    /// The film on the device.
    pub(crate) fn film_view(&self) -> super::GpuFilmView<'_> {
        super::GpuFilmView {
            buffer: self.film.buffer(),
            width: self.width,
            height: self.height,
        }
    }

    /// Reads the counters since the last read and, with `film`, the film back into
    /// it (without, the film stays on the device only).
    pub(crate) fn present(
        &mut self,
        ctx: &GpuContext,
        film: Option<&mut Film>,
    ) -> Result<GpuCounters, GpuError> {
        let t = Instant::now();
        // One submission copies the film and the counters and clears the counters;
        // one map reads both.
        let film_bytes = self.film.bytes();
        let mut enc = ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
        if film.is_some() {
            enc.copy_buffer_to_buffer(self.film.buffer(), 0, self.staging.buffer(), 0, film_bytes);
        }
        enc.copy_buffer_to_buffer(
            self.stats.buffer(),
            0,
            self.staging.buffer(),
            film_bytes,
            16,
        );
        enc.clear_buffer(self.stats.buffer(), 0, None);
        ctx.queue.submit([enc.finish()]);
        let slice = if film.is_some() {
            self.staging.buffer().slice(..)
        } else {
            self.staging.buffer().slice(film_bytes..)
        };
        ctx.map_read(&slice)?;
        let readback = t.elapsed();
        let t = Instant::now();
        let s: [u32; 4];
        {
            let mapped = slice
                .get_mapped_range()
                .map_err(|e| GpuError::Uncaptured(format!("map: {e}")))?;
            let counters_at = if let Some(film) = film {
                let film_part = &mapped[..film_bytes as usize];
                let pixels: &[GpuPixel] = bytemuck::cast_slice(film_part);
                let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
                film.overwrite_sums(threads, |i| {
                    let p = &pixels[i];
                    PixelSums {
                        rgb: p.rgb,
                        count: p.count,
                        normal: p.normal,
                        hits: p.hits,
                        depth: p.depth,
                        instance: p.instance.wrapping_sub(1),
                        segments: p.segments,
                    }
                });
                film_bytes as usize
            } else {
                0
            };
            s = bytemuck::pod_read_unaligned(&mapped[counters_at..counters_at + 16]);
        }
        self.staging.buffer().unmap();
        let film_time = t.elapsed();
        Ok(GpuCounters {
            rays: u64::from(s[0]),
            segments: u64::from(s[1]),
            subdivisions: u64::from(s[2]),
            kernel: self
                .timer
                .as_mut()
                .map(|t| Duration::from_nanos(std::mem::take(&mut t.ns))),
            readback,
            film: film_time,
        })
    }
}

impl Timer {
    /// GPU nanoseconds between the last dispatch's two timestamps.
    fn read(&self, ctx: &GpuContext) -> Result<u64, GpuError> {
        let mut enc = ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
        enc.resolve_query_set(&self.queries, 0..2, self.resolved.buffer(), 0);
        ctx.queue.submit([enc.finish()]);
        let bytes = ctx.read_back(self.resolved.buffer(), 16)?;
        let ticks: &[u64] = bytemuck::cast_slice(&bytes);
        Ok((ticks[1].saturating_sub(ticks[0]) as f64 * self.period) as u64)
    }
}
