//! Grin's renderer core: the library a host links. It renders scenes in which light
//! travels along curved paths (gradient-index media, gravitational lensing) on the
//! [`scheduler`] crate's staged task graph.
//!
//! - [`accel`]: BLAS per mesh (binned SAH, GPU layout), TLAS over instances.
//! - [`camera`]: pinhole camera, a static observer near a mass.
//! - [`film`]: per-pixel sums, counts and AOVs; tiles commit whole.
//! - [`flow`]: optical flow between frames through the curved light (same surface
//!   point, same image order, sub-pixel).
//! - [`frame`]: the frame graph, one module per stage: snapshots, stages 1-2, the
//!   tile backends (CPU tiles, GPU batches) and the progressive, budgeted,
//!   deterministic [`Renderer`].
//! - [`field`]: GRIN primitives and Schwarzschild masses, with analytic curvature
//!   bounds.
//! - [`environment`]: what escaping rays see, one module per kind.
//! - [`material`]: how surfaces emit and scatter, one module per kind.
//! - [`builder`]: scenes built in code by a host, without files.
//! - [`procedural`]: generated meshes (the peer terrain).
//! - [`scene`]: the RON scene format, loading and validation.
//! - [`session`]: a host's session: scene, camera and settings in, budgeted steps,
//!   the image out without an allocation per frame.
//! - [`texture`]: images for textures and environment maps (linear RGB).
//! - [`trace`]: one curved ray through a whole scene, stopping at the first hit.
//! - [`truth`]: ground truth for data generation through the curved light (object
//!   coordinates, lens maps, image order, instance footprints).
//! - [`integrator`]: adaptive Dormand-Prince ray integration into straight segments.
//!
//! Inside the crate only (their unit tests beside them): `curvature` (the
//! curvature-bound grid and its cache), `lights` (point, directional and
//! emissive-geometry lights; next-event estimation with curved shadow rays), `path`
//! (the path tracer: L/n^2 transport, mirror, dielectric, MIS), `rng` (counter-based
//! random numbers of pixel, sample, bounce and seed) and `shade` (albedo, environment
//! and Fresnel helpers).

#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod accel;
pub mod builder;
pub mod camera;
pub(crate) mod curvature;
pub mod environment;
pub mod field;
pub mod film;
pub mod flow;
pub mod frame;
pub mod gpu;
pub mod input;
pub mod integrator;
mod kinds;
pub(crate) mod lights;
pub mod material;
pub(crate) mod path;
pub mod procedural;
pub(crate) mod rng;
pub mod scene;
pub mod session;
pub(crate) mod shade;
pub mod texture;
pub mod trace;
pub mod truth;
mod wide;

pub use scheduler;

/// Linear RGB (radiance, irradiance or reflectance), one `f64` per channel.
pub type Rgb = [f64; 3];

// The host API at the crate root: what a host needs to load or build a scene, render
// it progressively on the CPU or a GPU (its own device too), and read the film.
pub use builder::SceneBuilder;
pub use film::{Film, SampleRecord};
pub use frame::{RenderSettings, Renderer, Snapshot, SnapshotError, StepError, StepReport};
pub use gpu::{Backend, GpuConfig, GpuContext, GpuError, GpuFilmView};
pub use scene::{CameraDesc, Scene, SceneError};
pub use scheduler::{CancelToken, Pool, PoolConfig};
pub use session::{FrameFormat, FrameView, Session, SessionError};
