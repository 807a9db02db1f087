//! `grin-preview SCENE.ron`: the interactive window. Each UI frame gives the renderer
//! a time budget (so the window stays responsive whatever the scene), and the image
//! refines while the view is still. Moving the camera starts a new frame at once: the
//! old one is dropped, not finished.
//!
//! On the GPU backend the renderer runs on the window's own device
//! (`GpuContext::from_device`) and the image is drawn straight from the film buffer
//! where it accumulates (a fragment shader averages each pixel's sums): nothing is
//! copied back or up again. On the CPU backend, for the AOV views, or with
//! `--present host`, the film is converted on the host and uploaded as a texture.
//!
//! Controls: left-drag orbit, right-drag pan, wheel zoom; W A S D Q E fly; 1 image,
//! 2 depth, 3 normals, 4 segment-count heat map; F fields on/off (straight light);
//! P screenshot (PNG); T telemetry summary; Esc quit. Editing the scene file reloads
//! it; a broken edit is reported and the last good scene stays.
//!
//! Scripted runs (tests, demos): `--spp N` and/or `--frames N` end the run,
//! `--screenshot FILE` saves the window's last image (read back from the swapchain),
//! `--camera px,py,pz,lx,ly,lz[,fov]` sets the view, `--input FILE` replays input
//! events (one per UI frame), `--print-camera` prints the final camera,
//! `--wait-reloads N` keeps the run going until N reloads have been shown.
//!
//! Exit codes: 0 done, 1 a window or device failure, 2 bad input.

mod camera;
#[path = "../cli_args.rs"]
mod cli_args;
#[path = "../exit.rs"]
mod exit;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use clap::Parser;
use renderer_core::field::Medium;
use renderer_core::frame::{RenderSettings, Renderer, StepError, StepReport};
use renderer_core::gpu::{Backend, GpuConfig, GpuError};
use renderer_core::scene::{CameraDesc, Scene};
use renderer_core::scheduler::{CancelToken, Pool, PoolConfig};
use renderer_core::session::{Session, SessionError};
use renderer_core::texture::linear_to_srgb;
use winit::application::ApplicationHandler;
use winit::dpi::PhysicalSize;
use winit::event::{ElementState, MouseButton, MouseScrollDelta, WindowEvent};
use winit::event_loop::{ActiveEventLoop, ControlFlow, EventLoop};
use winit::keyboard::{Key, NamedKey};
use winit::window::{Window, WindowId};

use crate::exit::{Exit, Failure};

use camera::{Event, Orbit};

#[derive(Parser, Debug)]
#[command(
    name = "grin-preview",
    version,
    about = "Grin's interactive preview window"
)]
struct Args {
    /// Scene file (RON); edits reload it.
    scene: PathBuf,
    /// Window size, WxH.
    #[arg(long, default_value = "640x480", value_parser = cli_args::parse_window_size)]
    size: (u32, u32),
    /// Where frames render: auto (a real GPU if present, else the CPU), cpu, gpu.
    #[arg(long, value_enum, default_value = "auto")]
    backend: cli_args::BackendArg,
    /// Samples per pixel to stop at (scripted runs end there).
    #[arg(long)]
    spp: Option<u32>,
    /// End after this many UI frames.
    #[arg(long)]
    frames: Option<u64>,
    /// Save the window's last image here (PNG) when the run ends.
    #[arg(long)]
    screenshot: Option<PathBuf>,
    /// The camera: `px,py,pz,lx,ly,lz[,fov]`.
    #[arg(long, allow_hyphen_values = true)]
    camera: Option<String>,
    /// Replay input events from this file (`orbit DX DY`, `pan DX DY`, `zoom S`, `key K [N]`).
    #[arg(long)]
    input: Option<PathBuf>,
    /// Print the final camera (as --camera takes it) on standard output.
    #[arg(long)]
    print_camera: bool,
    /// In a scripted run, do not end before this many reloads were shown.
    #[arg(long, default_value_t = 0)]
    wait_reloads: u32,
    /// Milliseconds of rendering per UI frame (the rest of a frame, about 10 ms here,
    /// is converting, uploading and presenting the image).
    #[arg(long, default_value_t = 14)]
    budget_ms: u64,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Light bounces.
    #[arg(long, default_value_t = 4)]
    bounces: u32,
    /// How a GPU film reaches the window: `device` (drawn from the film buffer on the
    /// window's device, no copies) or `host` (read back, converted and uploaded each
    /// frame, as on the CPU backend).
    #[arg(long, default_value = "device", value_parser = ["device", "host"])]
    present: String,
}

/// What the window shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum View {
    Image,
    Depth,
    Normal,
    Segments,
}

/// The presentation side: a surface, and the image drawn over it 1:1, either from a
/// texture the host uploads or from the renderer's film buffer on this device.
struct Display {
    window: Arc<Window>,
    surface: wgpu::Surface<'static>,
    device: wgpu::Device,
    queue: wgpu::Queue,
    info: wgpu::AdapterInfo,
    config: wgpu::SurfaceConfiguration,
    pipeline: wgpu::RenderPipeline,
    layout: wgpu::BindGroupLayout,
    texture: Option<(wgpu::Texture, wgpu::BindGroup, u32, u32)>,
    film_pipeline: wgpu::RenderPipeline,
    film_layout: wgpu::BindGroupLayout,
    /// The film pass's uniform: width, height, whether to encode sRGB, unused.
    film_frame: wgpu::Buffer,
    adapter: String,
    readable: bool,
}

/// What a UI frame shows.
enum Source<'a> {
    /// sRGB-encoded RGBA8 from the host, with its size.
    Rgba(&'a [u8], u32, u32),
    /// The renderer's film on this device.
    Film(renderer_core::gpu::GpuFilmView<'a>),
}

impl Source<'_> {
    fn size(&self) -> (u32, u32) {
        match self {
            Self::Rgba(_, w, h) => (*w, *h),
            Self::Film(f) => (f.width, f.height),
        }
    }
}

/// The fragment shader that shows a film from its accumulators; the `GpuPixel`
/// declaration comes from renderer-core's layout.
const FILM_BLIT: &str = r"
struct Frame {
    width: u32,
    height: u32,
    encode_srgb: u32,
    unused: u32,
}

@group(0) @binding(0) var<storage, read> film: array<GpuPixel>;
@group(0) @binding(1) var<uniform> frame: Frame;

@vertex
fn vs(@builtin(vertex_index) i: u32) -> @builtin(position) vec4<f32> {
    let uv = vec2<f32>(f32((i << 1u) & 2u), f32(i & 2u));
    return vec4<f32>(uv * 2.0 - 1.0, 0.0, 1.0);
}

fn srgb(c: f32) -> f32 {
    if c <= 0.0031308 {
        return 12.92 * c;
    }
    return 1.055 * pow(c, 1.0 / 2.4) - 0.055;
}

@fragment
fn fs(@builtin(position) p: vec4<f32>) -> @location(0) vec4<f32> {
    let xy = min(vec2<u32>(p.xy), vec2<u32>(frame.width - 1u, frame.height - 1u));
    let px = film[xy.y * frame.width + xy.x];
    var c = clamp(px.rgb / f32(max(px.count, 1u)), vec3<f32>(0.0), vec3<f32>(1.0));
    if frame.encode_srgb != 0u {
        c = vec3<f32>(srgb(c.x), srgb(c.y), srgb(c.z));
    }
    return vec4<f32>(c, 1.0);
}
";

const BLIT: &str = r"
@group(0) @binding(0) var film: texture_2d<f32>;

@vertex
fn vs(@builtin(vertex_index) i: u32) -> @builtin(position) vec4<f32> {
    let uv = vec2<f32>(f32((i << 1u) & 2u), f32(i & 2u));
    return vec4<f32>(uv * 2.0 - 1.0, 0.0, 1.0);
}

@fragment
fn fs(@builtin(position) p: vec4<f32>) -> @location(0) vec4<f32> {
    let size = vec2<i32>(textureDimensions(film));
    let xy = clamp(vec2<i32>(p.xy), vec2<i32>(0), size - 1);
    return textureLoad(film, xy, 0);
}
";

impl Display {
    fn new(event_loop: &ActiveEventLoop, size: (u32, u32)) -> Result<Self, String> {
        let attrs = Window::default_attributes()
            .with_title("grin-preview")
            .with_inner_size(PhysicalSize::new(size.0, size.1));
        let window = Arc::new(
            event_loop
                .create_window(attrs)
                .map_err(|e| format!("window: {e}"))?,
        );
        let instance =
            wgpu::Instance::new(wgpu::InstanceDescriptor::new_with_display_handle_from_env(
                Box::new(event_loop.owned_display_handle()),
            ));
        let surface = instance
            .create_surface(Arc::clone(&window))
            .map_err(|e| format!("surface: {e}"))?;
        let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
            compatible_surface: Some(&surface),
            ..Default::default()
        }))
        .map_err(|e| format!("no adapter for the window: {e}"))?;
        let info = adapter.get_info();
        // The adapter's limits, not wgpu's defaults: the renderer's kernels run on this
        // device too (they bind more storage buffers than the defaults allow).
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("grin-preview"),
            required_limits: adapter.limits(),
            ..Default::default()
        }))
        .map_err(|e| format!("device: {e}"))?;
        device.on_uncaptured_error(Arc::new(|e: wgpu::Error| {
            eprintln!("grin-preview: GPU error: {e}");
        }));
        let caps = surface.get_capabilities(&adapter);
        let format = caps
            .formats
            .iter()
            .copied()
            .find(|f| f.is_srgb())
            .or_else(|| caps.formats.first().copied())
            .ok_or("the surface supports no format")?;
        let readable = caps.usages.contains(wgpu::TextureUsages::COPY_SRC);
        let inner = window.inner_size();
        let config = wgpu::SurfaceConfiguration {
            usage: wgpu::TextureUsages::RENDER_ATTACHMENT
                | if readable {
                    wgpu::TextureUsages::COPY_SRC
                } else {
                    wgpu::TextureUsages::empty()
                },
            format,
            width: inner.width.max(1),
            height: inner.height.max(1),
            present_mode: wgpu::PresentMode::AutoVsync,
            desired_maximum_frame_latency: 2,
            alpha_mode: caps
                .alpha_modes
                .first()
                .copied()
                .unwrap_or(wgpu::CompositeAlphaMode::Auto),
            view_formats: Vec::new(),
            color_space: wgpu::SurfaceColorSpace::Auto,
        };
        surface.configure(&device, &config);
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("blit"),
            source: wgpu::ShaderSource::Wgsl(BLIT.into()),
        });
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("film"),
            entries: &[wgpu::BindGroupLayoutEntry {
                binding: 0,
                visibility: wgpu::ShaderStages::FRAGMENT,
                ty: wgpu::BindingType::Texture {
                    sample_type: wgpu::TextureSampleType::Float { filterable: false },
                    view_dimension: wgpu::TextureViewDimension::D2,
                    multisampled: false,
                },
                count: None,
            }],
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("blit"),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = fullscreen_pipeline(&device, &module, &pipeline_layout, format);
        let film_module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("film blit"),
            source: wgpu::ShaderSource::Wgsl(
                format!(
                    "{}{FILM_BLIT}",
                    <renderer_core::gpu::layout::GpuPixel as renderer_core::gpu::layout::WgslStruct>::wgsl()
                )
                .into(),
            ),
        });
        let fragment_buffer =
            |binding: u32, ty: wgpu::BufferBindingType| wgpu::BindGroupLayoutEntry {
                binding,
                visibility: wgpu::ShaderStages::FRAGMENT,
                ty: wgpu::BindingType::Buffer {
                    ty,
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            };
        let film_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("film buffer"),
            entries: &[
                fragment_buffer(0, wgpu::BufferBindingType::Storage { read_only: true }),
                fragment_buffer(1, wgpu::BufferBindingType::Uniform),
            ],
        });
        let film_pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("film blit"),
            bind_group_layouts: &[Some(&film_layout)],
            immediate_size: 0,
        });
        let film_pipeline =
            fullscreen_pipeline(&device, &film_module, &film_pipeline_layout, format);
        let film_frame = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("film frame"),
            size: 16,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        Ok(Self {
            window,
            surface,
            device,
            queue,
            adapter: format!("{} ({:?}, {:?})", info.name, info.backend, info.device_type),
            info,
            config,
            pipeline,
            layout,
            texture: None,
            film_pipeline,
            film_layout,
            film_frame,
            readable,
        })
    }

    fn resize(&mut self, w: u32, h: u32) {
        self.config.width = w.max(1);
        self.config.height = h.max(1);
        self.surface.configure(&self.device, &self.config);
    }

    /// Draws `source` (uploading it first when it comes from the host); with `grab`,
    /// also reads the drawn swapchain image back (RGBA8).
    fn show(&mut self, source: &Source<'_>, grab: bool) -> Result<Option<Vec<u8>>, String> {
        let (w, h) = source.size();
        if let Source::Rgba(rgba, ..) = source {
            self.upload(rgba, w, h);
        }
        let film_group;
        let (pipeline, group) = match source {
            Source::Rgba(..) => (
                &self.pipeline,
                &self.texture.as_ref().expect("uploaded above").1,
            ),
            Source::Film(film) => {
                let encode = u32::from(!self.config.format.is_srgb());
                self.queue.write_buffer(
                    &self.film_frame,
                    0,
                    &[film.width, film.height, encode, 0]
                        .iter()
                        .flat_map(|v| v.to_le_bytes())
                        .collect::<Vec<u8>>(),
                );
                film_group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: Some("film buffer"),
                    layout: &self.film_layout,
                    entries: &[
                        wgpu::BindGroupEntry {
                            binding: 0,
                            resource: film.buffer.as_entire_binding(),
                        },
                        wgpu::BindGroupEntry {
                            binding: 1,
                            resource: self.film_frame.as_entire_binding(),
                        },
                    ],
                });
                (&self.film_pipeline, &film_group)
            }
        };
        let frame = match self.surface.get_current_texture() {
            wgpu::CurrentSurfaceTexture::Success(f)
            | wgpu::CurrentSurfaceTexture::Suboptimal(f) => f,
            wgpu::CurrentSurfaceTexture::Outdated | wgpu::CurrentSurfaceTexture::Lost => {
                self.surface.configure(&self.device, &self.config);
                return Ok(None);
            }
            _ => return Ok(None),
        };
        let view = frame
            .texture
            .create_view(&wgpu::TextureViewDescriptor::default());
        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("frame"),
            });
        {
            let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
                label: Some("blit"),
                color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                    view: &view,
                    depth_slice: None,
                    resolve_target: None,
                    ops: wgpu::Operations {
                        load: wgpu::LoadOp::Clear(wgpu::Color::BLACK),
                        store: wgpu::StoreOp::Store,
                    },
                })],
                depth_stencil_attachment: None,
                timestamp_writes: None,
                occlusion_query_set: None,
                multiview_mask: None,
            });
            pass.set_pipeline(pipeline);
            pass.set_bind_group(0, group, &[]);
            pass.draw(0..3, 0..1);
        }
        let (fw, fh) = (frame.texture.width(), frame.texture.height());
        let row = (4 * fw).next_multiple_of(256);
        let readback = (grab && self.readable).then(|| {
            let buffer = self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("screenshot"),
                size: u64::from(row) * u64::from(fh),
                usage: wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::MAP_READ,
                mapped_at_creation: false,
            });
            encoder.copy_texture_to_buffer(
                frame.texture.as_image_copy(),
                wgpu::TexelCopyBufferInfo {
                    buffer: &buffer,
                    layout: wgpu::TexelCopyBufferLayout {
                        offset: 0,
                        bytes_per_row: Some(row),
                        rows_per_image: Some(fh),
                    },
                },
                frame.texture.size(),
            );
            buffer
        });
        self.queue.submit([encoder.finish()]);
        let grabbed = match readback {
            Some(buffer) => {
                let slice = buffer.slice(..);
                slice.map_async(wgpu::MapMode::Read, |_| {});
                self.device
                    .poll(wgpu::PollType::wait_indefinitely())
                    .map_err(|e| format!("screenshot: {e}"))?;
                let data = slice
                    .get_mapped_range()
                    .map_err(|e| format!("screenshot: {e}"))?;
                let bgra = matches!(
                    self.config.format,
                    wgpu::TextureFormat::Bgra8Unorm | wgpu::TextureFormat::Bgra8UnormSrgb
                );
                let mut out = Vec::with_capacity((4 * fw * fh) as usize);
                for y in 0..fh as usize {
                    for px in data[y * row as usize..][..4 * fw as usize].chunks_exact(4) {
                        if bgra {
                            out.extend_from_slice(&[px[2], px[1], px[0], 255]);
                        } else {
                            out.extend_from_slice(&[px[0], px[1], px[2], 255]);
                        }
                    }
                }
                drop(data);
                buffer.unmap();
                Some(out)
            }
            None if grab => {
                eprintln!(
                    "grin-preview: the surface cannot be read back; saving the film as shown"
                );
                match source {
                    Source::Rgba(rgba, ..) => Some(rgba.to_vec()),
                    // The caller converts the film on the host instead.
                    Source::Film(_) => None,
                }
            }
            None => None,
        };
        self.window.pre_present_notify();
        self.queue.present(frame);
        Ok(grabbed.map(|mut v| {
            // The swapchain may be larger than the film (a resize in flight): crop.
            if (fw, fh) != (w, h) {
                v = crop(&v, fw, w.min(fw), h.min(fh));
            }
            v
        }))
    }
}

impl Display {
    /// Uploads `rgba` (sRGB-encoded RGBA8, `w` x `h`) into the film texture.
    fn upload(&mut self, rgba: &[u8], w: u32, h: u32) {
        if !self.texture.as_ref().is_some_and(|t| t.2 == w && t.3 == h) {
            let texture = self.device.create_texture(&wgpu::TextureDescriptor {
                label: Some("film"),
                size: wgpu::Extent3d {
                    width: w,
                    height: h,
                    depth_or_array_layers: 1,
                },
                mip_level_count: 1,
                sample_count: 1,
                dimension: wgpu::TextureDimension::D2,
                format: wgpu::TextureFormat::Rgba8UnormSrgb,
                usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
                view_formats: &[],
            });
            let view = texture.create_view(&wgpu::TextureViewDescriptor::default());
            let group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("film"),
                layout: &self.layout,
                entries: &[wgpu::BindGroupEntry {
                    binding: 0,
                    resource: wgpu::BindingResource::TextureView(&view),
                }],
            });
            self.texture = Some((texture, group, w, h));
        }
        let Some((texture, ..)) = self.texture.as_ref() else {
            return;
        };
        self.queue.write_texture(
            wgpu::TexelCopyTextureInfo {
                texture,
                mip_level: 0,
                origin: wgpu::Origin3d::ZERO,
                aspect: wgpu::TextureAspect::All,
            },
            rgba,
            wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(4 * w),
                rows_per_image: Some(h),
            },
            wgpu::Extent3d {
                width: w,
                height: h,
                depth_or_array_layers: 1,
            },
        );
    }
}

/// A pipeline that draws one full-screen triangle with `module`'s `vs` and `fs`.
fn fullscreen_pipeline(
    device: &wgpu::Device,
    module: &wgpu::ShaderModule,
    layout: &wgpu::PipelineLayout,
    format: wgpu::TextureFormat,
) -> wgpu::RenderPipeline {
    device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
        label: Some("blit"),
        layout: Some(layout),
        vertex: wgpu::VertexState {
            module,
            entry_point: Some("vs"),
            compilation_options: wgpu::PipelineCompilationOptions::default(),
            buffers: &[],
        },
        primitive: wgpu::PrimitiveState::default(),
        depth_stencil: None,
        multisample: wgpu::MultisampleState::default(),
        fragment: Some(wgpu::FragmentState {
            module,
            entry_point: Some("fs"),
            compilation_options: wgpu::PipelineCompilationOptions::default(),
            targets: &[Some(wgpu::ColorTargetState {
                format,
                blend: None,
                write_mask: wgpu::ColorWrites::ALL,
            })],
        }),
        multiview_mask: None,
        cache: None,
    })
}

fn crop(v: &[u8], stride_px: u32, w: u32, h: u32) -> Vec<u8> {
    (0..h as usize)
        .flat_map(|y| v[y * 4 * stride_px as usize..][..4 * w as usize].to_vec())
        .collect()
}

/// The renderer side and the interaction state.
struct Preview {
    args: Args,
    /// The renderer with the shown scene, camera and settings.
    session: Session,
    pool: Arc<Pool>,
    /// The renderer runs on the window's device and the image is drawn from its film
    /// buffer there.
    film_on_device: bool,
    backend: String,
    scene: Arc<Scene>,
    straight: Option<Arc<Scene>>,
    fields: bool,
    stamp: Option<(SystemTime, u64)>,
    last_check: Instant,
    reloads: u32,
    error: Option<String>,
    orbit: Orbit,
    view: View,
    script: std::collections::VecDeque<Event>,
    size: (u32, u32),
    frames: u64,
    last_report: Option<StepReport>,
    frame_ms: f64,
    rays_per_s: f64,
    last_title: Instant,
    drag: Option<(MouseButton, (f64, f64))>,
    cursor: (f64, f64),
    shots: u32,
    display: Option<Display>,
    failure: Option<Failure>,
    interactive_spp: u32,
    /// Wall time of every UI frame after the first, ms.
    frame_times: Vec<f64>,
}

fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

impl Preview {
    fn camera(&self) -> CameraDesc {
        self.orbit.desc()
    }

    fn shown_scene(&self) -> Arc<Scene> {
        match (&self.straight, self.fields) {
            (Some(s), false) => Arc::clone(s),
            _ => Arc::clone(&self.scene),
        }
    }

    fn target_spp(&self) -> u32 {
        self.args.spp.unwrap_or(self.interactive_spp)
    }

    fn scripted(&self) -> bool {
        self.args.frames.is_some() || self.args.screenshot.is_some() && self.args.spp.is_some()
    }

    /// Reloads the scene when its file changed; a broken edit keeps the last good one.
    fn check_reload(&mut self) {
        if self.last_check.elapsed() < Duration::from_millis(150) {
            return;
        }
        self.last_check = Instant::now();
        let now = stamp(&self.args.scene);
        if now.is_none() || now == self.stamp {
            return;
        }
        self.stamp = now;
        match Scene::load(&self.args.scene) {
            Ok(s) => {
                self.scene = Arc::new(s);
                self.straight = None;
                self.reloads += 1;
                self.error = None;
                eprintln!("grin-preview: reloaded {}", self.args.scene.display());
            }
            Err(e) => {
                eprintln!("grin-preview: reload failed, keeping the last good scene: {e}");
                self.error = Some(e.to_string());
            }
        }
    }

    /// On the GPU backend, moves the renderer onto the window's device (same adapter)
    /// so that the film is drawn where it accumulates.
    fn share_device(&mut self, d: &Display) {
        let Some(ctx) = self.session.renderer().gpu() else {
            return;
        };
        if self.args.present != "device" {
            return;
        }
        if ctx.adapter_name() != d.info.name {
            eprintln!(
                "grin-preview: the window is on {} and frames render on {}: the film is copied through the host",
                d.info.name,
                ctx.adapter_name()
            );
            return;
        }
        match renderer_core::gpu::GpuContext::from_device(
            d.info.clone(),
            d.device.clone(),
            d.queue.clone(),
        ) {
            Ok(shared) => {
                let mut r = Renderer::with_gpu(Arc::clone(&self.pool), Arc::new(shared));
                r.keep_film_on_gpu(true);
                self.session = Session::new(r);
                self.film_on_device = true;
                self.backend = format!(
                    "GPU {} (the window's device, film drawn in place)",
                    d.info.name
                );
            }
            Err(e) => eprintln!(
                "grin-preview: cannot render on the window's device ({e}); the film is copied through the host"
            ),
        }
    }

    fn toggle_fields(&mut self) {
        self.fields = !self.fields;
        if self.straight.is_none() {
            let mut straight = self.scene.edit();
            straight
                .clear_fields()
                .background_index(Medium::default().background);
            match straight.build() {
                Ok(s) => self.straight = Some(Arc::new(s)),
                Err(e) => {
                    eprintln!("grin-preview: the scene without its fields is invalid: {e}");
                    self.fields = true;
                    return;
                }
            }
        }
        eprintln!(
            "grin-preview: fields {}",
            if self.fields {
                "on"
            } else {
                "off (straight light)"
            }
        );
    }

    fn apply(&mut self, e: &Event) {
        match *e {
            Event::Orbit(dx, dy) => self.orbit.orbit(dx, dy),
            Event::Pan(dx, dy) => self.orbit.pan(dx, dy),
            Event::Zoom(s) => self.orbit.zoom(s),
            Event::Key(k) => {
                self.orbit.fly(k);
            }
        }
    }

    /// The view as sRGB RGBA8 from the host's film (read back first when it stays on
    /// the device).
    fn image(&mut self) -> Result<(Vec<u8>, u32, u32), String> {
        let film = self
            .session
            .renderer_mut()
            .sync_film()
            .map_err(|e| e.to_string())?;
        let (w, h) = (film.width(), film.height());
        let byte = |v: f32| (v.clamp(0.0, 1.0) * 255.0 + 0.5) as u8;
        let px: Vec<[u8; 3]> = match self.view {
            View::Image => film
                .rgb()
                .iter()
                .map(|p| {
                    [
                        byte(linear_to_srgb(p[0])),
                        byte(linear_to_srgb(p[1])),
                        byte(linear_to_srgb(p[2])),
                    ]
                })
                .collect(),
            View::Depth => {
                let d = film.depth();
                let max = d.iter().copied().fold(0.0f32, f32::max).max(1e-6);
                d.iter().map(|&v| [byte(1.0 - v / max); 3]).collect()
            }
            View::Normal => film
                .normal()
                .iter()
                .map(|n| {
                    [
                        byte(n[0] * 0.5 + 0.5),
                        byte(n[1] * 0.5 + 0.5),
                        byte(n[2] * 0.5 + 0.5),
                    ]
                })
                .collect(),
            View::Segments => {
                let s = film.segments();
                let max = s.iter().copied().fold(0.0f32, f32::max).max(1.0);
                s.iter()
                    .map(|&v| {
                        let t = v / max;
                        [
                            byte(t * 2.0),
                            byte(1.0 - (2.0 * t - 1.0).abs()),
                            byte(1.0 - t * 2.0),
                        ]
                    })
                    .collect()
            }
        };
        Ok((
            px.iter().flat_map(|p| [p[0], p[1], p[2], 255]).collect(),
            w,
            h,
        ))
    }

    fn summary(&self) {
        let Some(r) = &self.last_report else {
            eprintln!("grin-preview: no step yet");
            return;
        };
        let stages: Vec<String> = r
            .stages
            .iter()
            .map(|s| format!("{} {:.2} ms", s.name, s.wall.as_secs_f64() * 1e3))
            .collect();
        eprintln!(
            "grin-preview: {} spp of {}, last step {:.2} ms ({} tiles, {} rays, {} segments, {} subdivisions), {:.2} M rays/s, UI {:.1} ms/frame over {} frames; stages: {}",
            r.passes_done,
            self.target_spp(),
            r.wall.as_secs_f64() * 1e3,
            r.tiles_done,
            r.rays,
            r.segments,
            r.subdivisions,
            self.rays_per_s / 1e6,
            self.frame_ms,
            self.frames,
            stages.join(", ")
        );
    }

    /// One UI frame: reload, scripted input, a budgeted render step, the image.
    fn frame(&mut self) -> Result<bool, Failure> {
        let t = Instant::now();
        self.check_reload();
        if let Some(e) = self.script.pop_front() {
            self.apply(&e);
        }
        let settings = RenderSettings {
            width: self.size.0,
            height: self.size.1,
            spp: self.target_spp(),
            seed: self.args.seed,
            max_bounces: self.args.bounces,
            // Small tiles: a step's work comes in small pieces, so it ends close to
            // its budget even where curved pixels are slow.
            tile: (8, 8),
            ..RenderSettings::default()
        };
        self.session.set_scene(self.shown_scene());
        self.session.set_camera(self.camera());
        self.session.set_settings(settings);
        let report = self
            .session
            .step(
                Duration::from_millis(self.args.budget_ms),
                &CancelToken::new(),
            )
            .map_err(|e| match e {
                SessionError::Snapshot(e) => Failure::new(Exit::BadInput, e.to_string()),
                e @ SessionError::Step(StepError::Gpu(GpuError::OutOfMemory { .. })) => {
                    Failure::new(Exit::OutOfMemory, e.to_string())
                }
                e => Failure::new(Exit::Failed, e.to_string()),
            })?;
        let complete = report.frame_complete;
        if report.wall.as_secs_f64() > 0.0 && report.rays > 0 {
            let rate = report.rays as f64 / report.wall.as_secs_f64();
            self.rays_per_s = if self.rays_per_s == 0.0 {
                rate
            } else {
                0.8 * self.rays_per_s + 0.2 * rate
            };
        }
        self.last_report = Some(report);
        self.frames += 1;
        let done = self.scripted()
            && self.script.is_empty()
            && self.reloads >= self.args.wait_reloads
            && (complete || self.args.frames.is_some_and(|n| self.frames >= n))
            || self
                .args
                .frames
                .is_some_and(|n| self.frames >= n.saturating_mul(20));
        let grab = done && self.args.screenshot.is_some();
        let in_place = self.film_on_device
            && self.view == View::Image
            && self.display.is_some()
            && self.session.renderer().gpu_film().is_some();
        let (shot, w, h) = if in_place {
            let film = self.session.renderer().gpu_film().expect("checked above");
            let d = self.display.as_mut().expect("checked above");
            let shot = d
                .show(&Source::Film(film), grab)
                .map_err(|e| Failure::new(Exit::Failed, e))?;
            (shot, film.width, film.height)
        } else {
            let (rgba, w, h) = self.image().map_err(|e| Failure::new(Exit::Failed, e))?;
            let shot = match self.display.as_mut() {
                Some(d) => d
                    .show(&Source::Rgba(&rgba, w, h), grab)
                    .map_err(|e| Failure::new(Exit::Failed, e))?,
                None => None,
            };
            (shot.or(grab.then_some(rgba)), w, h)
        };
        if self.frames == 1 {
            eprintln!(
                "grin-preview: showing {} ({}x{})",
                self.args.scene.display(),
                w,
                h
            );
        }
        if done {
            if let Some(path) = self.args.screenshot.clone() {
                let data = match shot {
                    Some(data) => data,
                    None => self.image().map_err(|e| Failure::new(Exit::Failed, e))?.0,
                };
                save_png(&path, &data, w, h).map_err(|e| Failure::new(Exit::Failed, e))?;
                eprintln!("grin-preview: screenshot {}", path.display());
            }
            if self.args.print_camera {
                println!("{}", camera::format_camera(&self.camera()));
            }
        }
        let ms = t.elapsed().as_secs_f64() * 1e3;
        self.frame_ms = if self.frames == 1 {
            ms
        } else {
            0.9 * self.frame_ms + 0.1 * ms
        };
        if self.frames > 1 {
            self.frame_times.push(ms);
        }
        if done && !self.frame_times.is_empty() {
            let mut v = self.frame_times.clone();
            v.sort_by(f64::total_cmp);
            let mean = v.iter().sum::<f64>() / v.len() as f64;
            eprintln!(
                "grin-preview: {} UI frames, mean {mean:.1} ms ({:.0} fps), median {:.1} ms, p95 {:.1} ms",
                v.len() + 1,
                1e3 / mean,
                v[v.len() / 2],
                v[v.len() * 95 / 100]
            );
        }
        if self.last_title.elapsed() > Duration::from_millis(250) || done {
            self.last_title = Instant::now();
            if let Some(d) = &self.display {
                let spp = self.last_report.as_ref().map_or(0, |r| r.passes_done);
                let mut title = format!(
                    "grin-preview - {} - {spp} spp - {:.1} ms/frame - {:.2} M rays/s - {}",
                    self.args
                        .scene
                        .file_name()
                        .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
                    self.frame_ms,
                    self.rays_per_s / 1e6,
                    self.backend
                );
                if let Some(e) = &self.error {
                    title.push_str(&format!(" - RELOAD FAILED: {e}"));
                }
                d.window.set_title(&title);
            }
        }
        Ok(done)
    }

    fn screenshot_now(&mut self) {
        self.shots += 1;
        let path = PathBuf::from(format!("grin-preview-{:03}.png", self.shots));
        match self
            .image()
            .and_then(|(rgba, w, h)| save_png(&path, &rgba, w, h))
        {
            Ok(()) => eprintln!("grin-preview: saved {}", path.display()),
            Err(e) => eprintln!("grin-preview: {e}"),
        }
    }
}

fn save_png(path: &Path, rgba: &[u8], w: u32, h: u32) -> Result<(), String> {
    let img = image::RgbaImage::from_raw(w, h, rgba.to_vec()).ok_or("screenshot size mismatch")?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    img.save_with_format(&tmp, image::ImageFormat::Png)
        .and_then(|()| std::fs::rename(&tmp, path).map_err(image::ImageError::IoError))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            format!("cannot write {}: {e}", path.display())
        })
}

impl ApplicationHandler for Preview {
    fn resumed(&mut self, event_loop: &ActiveEventLoop) {
        if self.display.is_some() {
            return;
        }
        match Display::new(event_loop, self.size) {
            Ok(d) => {
                self.share_device(&d);
                eprintln!(
                    "grin-preview: window on {}; frames render on {}",
                    d.adapter, self.backend
                );
                let inner = d.window.inner_size();
                self.size = (inner.width.max(1), inner.height.max(1));
                d.window.request_redraw();
                self.display = Some(d);
            }
            Err(e) => {
                self.failure = Some(Failure::new(Exit::Failed, format!("grin-preview: {e}")));
                event_loop.exit();
            }
        }
    }

    fn window_event(&mut self, event_loop: &ActiveEventLoop, _: WindowId, event: WindowEvent) {
        let mut changed = false;
        match event {
            WindowEvent::CloseRequested => event_loop.exit(),
            WindowEvent::Resized(s) => {
                if let Some(d) = self.display.as_mut() {
                    d.resize(s.width, s.height);
                }
                self.size = (s.width.max(1), s.height.max(1));
                changed = true;
            }
            WindowEvent::MouseInput { state, button, .. } => {
                if state == ElementState::Pressed {
                    self.drag = Some((button, self.cursor));
                } else {
                    self.drag = None;
                }
            }
            WindowEvent::CursorMoved { position, .. } => {
                let now = (position.x, position.y);
                if let Some((button, last)) = self.drag {
                    let (dx, dy) = (now.0 - last.0, now.1 - last.1);
                    match button {
                        MouseButton::Left => self.orbit.orbit(dx, dy),
                        _ => self.orbit.pan(dx, dy),
                    }
                    self.drag = Some((button, now));
                    changed = true;
                }
                self.cursor = now;
            }
            WindowEvent::MouseWheel { delta, .. } => {
                let steps = match delta {
                    MouseScrollDelta::LineDelta(_, y) => f64::from(y),
                    MouseScrollDelta::PixelDelta(p) => p.y / 40.0,
                };
                self.orbit.zoom(steps);
                changed = true;
            }
            WindowEvent::KeyboardInput { event, .. } if event.state == ElementState::Pressed => {
                match event.logical_key.as_ref() {
                    Key::Named(NamedKey::Escape) => event_loop.exit(),
                    Key::Character(c) => {
                        let ch = c.chars().next().unwrap_or(' ');
                        match ch.to_ascii_lowercase() {
                            '1' => self.view = View::Image,
                            '2' => self.view = View::Depth,
                            '3' => self.view = View::Normal,
                            '4' => self.view = View::Segments,
                            'f' => self.toggle_fields(),
                            'p' => self.screenshot_now(),
                            't' => self.summary(),
                            k => {
                                self.orbit.fly(k);
                            }
                        }
                        changed = true;
                    }
                    _ => {}
                }
            }
            WindowEvent::RedrawRequested => match self.frame() {
                Ok(true) => event_loop.exit(),
                Ok(false) => {}
                Err(f) => {
                    self.failure =
                        Some(Failure::new(f.exit, format!("grin-preview: {}", f.message)));
                    event_loop.exit();
                }
            },
            _ => {}
        }
        if changed {
            if let Some(d) = &self.display {
                d.window.request_redraw();
            }
        }
    }

    fn about_to_wait(&mut self, event_loop: &ActiveEventLoop) {
        // Keep drawing while the frame refines, a script runs, or a reload may come;
        // when the image is complete, wait for input (and poll the file now and then).
        let refining = !self.last_report.as_ref().is_some_and(|r| r.frame_complete)
            || !self.script.is_empty()
            || self.scripted();
        if refining {
            event_loop.set_control_flow(ControlFlow::Poll);
            if let Some(d) = &self.display {
                d.window.request_redraw();
            }
        } else {
            event_loop.set_control_flow(ControlFlow::WaitUntil(
                Instant::now() + Duration::from_millis(200),
            ));
            self.check_reload();
            if self.reloads > 0 && self.last_report.is_some() {
                if let Some(d) = &self.display {
                    d.window.request_redraw();
                }
            }
        }
    }
}

fn run(args: Args) -> Result<(), Failure> {
    let fail2 = |m: String| Failure::new(Exit::BadInput, format!("grin-preview: {m}"));
    let scene = Scene::load(&args.scene).map_err(|e| fail2(e.to_string()))?;
    let mut cam = match scene.camera() {
        Some(c) => c,
        None if args.camera.is_some() => CameraDesc {
            position: glam::DVec3::new(0.0, 0.0, -5.0),
            look_at: glam::DVec3::ZERO,
            up: glam::DVec3::Y,
            fov_deg: 45.0,
        },
        None => {
            return Err(fail2(format!(
                "{}: the scene has no camera; pass --camera",
                args.scene.display()
            )));
        }
    };
    if let Some(c) = &args.camera {
        let (p, l, fov) = camera::parse_camera(c).map_err(|e| fail2(format!("--camera: {e}")))?;
        cam.position = p;
        cam.look_at = l;
        if let Some(f) = fov {
            cam.fov_deg = f;
        }
    }
    let script = match &args.input {
        Some(p) => {
            let text = renderer_core::input::read_text(p, renderer_core::input::SCENE_BYTES)
                .map_err(|e| fail2(format!("{}: {e}", p.display())))?;
            camera::parse_script(&text).map_err(|e| fail2(format!("{}: {e}", p.display())))?
        }
        None => Vec::new(),
    };
    let backend = Backend::from(args.backend);
    let pool = match args.threads {
        Some(0) => return Err(fail2("--threads must be at least 1".into())),
        Some(n) => PoolConfig::with_threads(n),
        None => PoolConfig::default(),
    };
    let pool = Arc::new(Pool::new(pool).map_err(|e| fail2(e.to_string()))?);
    let renderer = Renderer::with_backend(Arc::clone(&pool), backend, &GpuConfig::from_env())
        .map_err(|e| Failure::new(Exit::NoGpu, format!("grin-preview: --backend gpu: {e}")))?;
    let backend = match (renderer.gpu(), renderer.fallback_reason()) {
        (Some(ctx), _) => format!("GPU {}", ctx.adapter_name()),
        (None, Some(_)) => format!("CPU, {} threads", pool.threads()),
        (None, None) => format!("CPU, {} threads", pool.threads()),
    };
    if let Some(why) = renderer.fallback_reason() {
        eprintln!("grin-preview: rendering on the CPU ({why})");
    }
    let event_loop = EventLoop::new()
        .map_err(|e| Failure::new(Exit::Failed, format!("grin-preview: no display: {e}")))?;
    let mut app = Preview {
        stamp: stamp(&args.scene),
        session: Session::new(renderer),
        pool,
        film_on_device: false,
        backend,
        scene: Arc::new(scene),
        straight: None,
        fields: true,
        last_check: Instant::now(),
        reloads: 0,
        error: None,
        orbit: Orbit::new(cam),
        view: View::Image,
        script: script.into(),
        size: args.size,
        frames: 0,
        last_report: None,
        frame_ms: 0.0,
        rays_per_s: 0.0,
        last_title: Instant::now(),
        drag: None,
        cursor: (0.0, 0.0),
        shots: 0,
        display: None,
        failure: None,
        interactive_spp: 1024,
        frame_times: Vec::new(),
        args,
    };
    event_loop
        .run_app(&mut app)
        .map_err(|e| Failure::new(Exit::Failed, format!("grin-preview: {e}")))?;
    match app.failure {
        Some(f) => Err(f),
        None => Ok(()),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(),
    }
}
