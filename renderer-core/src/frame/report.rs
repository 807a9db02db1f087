//! What a step reports: its stages' wall times, counters and Chrome-trace frames,
//! under the names in [`stage`] and [`counter`].

use std::time::Duration;

use scheduler::RunOutcome;
use scheduler::telemetry::{FrameSummary, FrameTrace};

/// Wall time of one stage of a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageTime {
    /// Stage name (one of [`stage`]).
    pub name: String,
    /// Wall time from its start to its barrier.
    pub wall: Duration,
}

/// The frame graph's stage names, as they appear in [`StepReport::stages`], the
/// Chrome traces and the telemetry.
pub mod stage {
    /// Stage 1: one BVH per mesh.
    pub const BLAS: &str = "accel.blas";
    /// Stage 2: the curvature-bound grid of the medium.
    pub const FIELDS: &str = "fields";
    /// Stages 1-2: the TLAS over instances and the emitter table.
    pub const TLAS: &str = "accel.tlas";
    /// The prepared scene made resident where the tiles run (the GPU's buffers; the
    /// CPU tiles read it in place and skip this stage).
    pub const UPLOAD: &str = "accel.upload";
    /// Stages 3-5: tiles (CPU) or pixel batches (GPU).
    pub const TILES: &str = "tiles";
    /// GPU: the kernels themselves, by GPU timestamps (when profiled), within `tiles`.
    pub const KERNEL: &str = "tiles.kernel";
    /// Stage 6: tiles commit to the film, or the GPU film is read back.
    pub const PRESENT: &str = "present";
    /// GPU: the copy of the film (and counters) back to the host, within `present`.
    pub const READBACK: &str = "present.readback";
    /// GPU: the conversion into the host film, within `present`.
    pub const FILM: &str = "present.film";
}

/// The step's counter names, as the tiles count them into the telemetry.
pub mod counter {
    /// Rays traced (camera, bounce, shadow).
    pub const RAYS: &str = "rays";
    /// Segments the integrator made for them.
    pub const SEGMENTS: &str = "segments";
    /// Soft-gate subdivisions among the segments.
    pub const SUBDIVISIONS: &str = "subdivisions";
}

/// What one [`crate::frame::Renderer::render_step`] did.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StepReport {
    /// Tiles committed (CPU) or pixel batches dispatched (GPU).
    pub tiles_done: u32,
    /// Tiles started but stopped at a safe point (discarded).
    pub tiles_discarded: u32,
    /// Pixel samples committed.
    pub samples: u64,
    /// Rays traced by the step's tiles, committed or not (camera, bounce, shadow).
    pub rays: u64,
    /// Segments the integrator made for them.
    pub segments: u64,
    /// Soft-gate subdivisions among them.
    pub subdivisions: u64,
    /// How the step's tile run ended.
    pub outcome: RunOutcome,
    /// Passes (samples per pixel) complete over the whole film.
    pub passes_done: u32,
    /// Whether the frame has all its samples.
    pub frame_complete: bool,
    /// Whether stages 1-2 ran in this step (a new scene); BLASes and the field
    /// grid may still have come from their caches.
    pub prepared: bool,
    /// Whether the curvature grid came from the field cache (when `prepared`).
    pub fields_cached: bool,
    /// Wall time of each stage that ran.
    pub stages: Vec<StageTime>,
    /// The frames the step ran, for a Chrome trace
    /// ([`scheduler::telemetry::write_chrome_trace`]).
    pub traces: Vec<FrameTrace>,
    /// Wall time of the step.
    pub wall: Duration,
}

impl StepReport {
    pub(super) fn blank(pass: u32, spp: u32) -> Self {
        Self {
            tiles_done: 0,
            tiles_discarded: 0,
            samples: 0,
            rays: 0,
            segments: 0,
            subdivisions: 0,
            outcome: RunOutcome::Completed,
            passes_done: pass,
            frame_complete: pass >= spp,
            prepared: false,
            fields_cached: false,
            stages: Vec::new(),
            traces: Vec::new(),
            wall: Duration::ZERO,
        }
    }

    /// Adds the stage times and the trace of one graph run.
    pub(super) fn add_run(&mut self, summary: &FrameSummary, trace: FrameTrace) {
        self.stages
            .extend(summary.stages.iter().map(|st| StageTime {
                name: st.name.clone(),
                wall: Duration::from_nanos(st.wall_ns),
            }));
        self.traces.push(trace);
    }

    /// Adds a stage timed outside the graph (a part of one of its stages).
    pub(super) fn add_stage(&mut self, name: &str, wall: Duration) {
        self.stages.push(StageTime {
            name: name.to_owned(),
            wall,
        });
    }
}
