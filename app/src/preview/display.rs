//! The preview's presentation side: a window surface and the image drawn over it 1:1,
//! from a texture the host uploads or straight from the renderer's film buffer on the
//! same device; and the read-back of what was drawn (screenshots).

use std::sync::Arc;

use winit::dpi::PhysicalSize;
use winit::event_loop::ActiveEventLoop;
use winit::window::Window;

/// The presentation side: a surface, and the image drawn over it 1:1, either from a
/// texture the host uploads or from the renderer's film buffer on this device.
pub(crate) struct Display {
    pub(crate) window: Arc<Window>,
    surface: wgpu::Surface<'static>,
    pub(crate) device: wgpu::Device,
    pub(crate) queue: wgpu::Queue,
    pub(crate) info: wgpu::AdapterInfo,
    config: wgpu::SurfaceConfiguration,
    pipeline: wgpu::RenderPipeline,
    layout: wgpu::BindGroupLayout,
    texture: Option<(wgpu::Texture, wgpu::BindGroup, u32, u32)>,
    film_pipeline: wgpu::RenderPipeline,
    film_layout: wgpu::BindGroupLayout,
    /// The film pass's uniform: width, height, whether to encode sRGB, unused.
    film_frame: wgpu::Buffer,
    pub(crate) adapter: String,
    readable: bool,
}

/// What a UI frame shows.
pub(crate) enum Source<'a> {
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
    /// Opens a window of `size`, a device that can draw on it (with the adapter's
    /// limits, so the renderer's kernels run on it too) and both blit pipelines.
    pub(crate) fn new(event_loop: &ActiveEventLoop, size: (u32, u32)) -> Result<Self, String> {
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
        let (config, readable) = surface_config(&surface, &adapter, window.inner_size())?;
        surface.configure(&device, &config);
        let (pipeline, layout) = texture_blit(&device, config.format);
        let (film_pipeline, film_layout) = film_blit(&device, config.format);
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

    pub(crate) fn resize(&mut self, w: u32, h: u32) {
        self.config.width = w.max(1);
        self.config.height = h.max(1);
        self.surface.configure(&self.device, &self.config);
    }

    /// Draws `source` (uploading it first when it comes from the host); with `grab`,
    /// also reads the drawn swapchain image back (RGBA8).
    pub(crate) fn show(
        &mut self,
        source: &Source<'_>,
        grab: bool,
    ) -> Result<Option<Vec<u8>>, String> {
        let (w, h) = source.size();
        let film_group = match source {
            Source::Rgba(rgba, ..) => {
                self.upload(rgba, w, h);
                None
            }
            Source::Film(film) => Some(self.film_group(film)),
        };
        let Some(frame) = self.next_frame() else {
            return Ok(None);
        };
        let (pipeline, group) = match &film_group {
            Some(group) => (&self.film_pipeline, group),
            None => (
                &self.pipeline,
                &self.texture.as_ref().expect("uploaded above").1,
            ),
        };
        let view = frame
            .texture
            .create_view(&wgpu::TextureViewDescriptor::default());
        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("frame"),
            });
        blit(&mut encoder, &view, pipeline, group);
        let readback =
            (grab && self.readable).then(|| self.copy_frame(&mut encoder, &frame.texture));
        self.queue.submit([encoder.finish()]);
        let grabbed = match readback {
            Some(buffer) => Some(self.read_frame(&buffer, &frame.texture)?),
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
        let (fw, fh) = (frame.texture.width(), frame.texture.height());
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

    /// The film pass's bind group for `film`, with its frame uniform written.
    fn film_group(&self, film: &renderer_core::gpu::GpuFilmView<'_>) -> wgpu::BindGroup {
        let encode = u32::from(!self.config.format.is_srgb());
        self.queue.write_buffer(
            &self.film_frame,
            0,
            &[film.width, film.height, encode, 0]
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect::<Vec<u8>>(),
        );
        self.device.create_bind_group(&wgpu::BindGroupDescriptor {
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
        })
    }

    /// The next swapchain image; `None` (the surface reconfigured when it was
    /// outdated or lost) skips this UI frame.
    fn next_frame(&mut self) -> Option<wgpu::SurfaceTexture> {
        match self.surface.get_current_texture() {
            wgpu::CurrentSurfaceTexture::Success(f)
            | wgpu::CurrentSurfaceTexture::Suboptimal(f) => Some(f),
            wgpu::CurrentSurfaceTexture::Outdated | wgpu::CurrentSurfaceTexture::Lost => {
                self.surface.configure(&self.device, &self.config);
                None
            }
            _ => None,
        }
    }

    /// Bytes per row of a read-back of `texture` (rows padded to 256 bytes).
    fn readback_row(texture: &wgpu::Texture) -> u32 {
        (4 * texture.width()).next_multiple_of(256)
    }

    /// Encodes a copy of the drawn `texture` into a new mappable buffer.
    fn copy_frame(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        texture: &wgpu::Texture,
    ) -> wgpu::Buffer {
        let row = Self::readback_row(texture);
        let buffer = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("screenshot"),
            size: u64::from(row) * u64::from(texture.height()),
            usage: wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::MAP_READ,
            mapped_at_creation: false,
        });
        encoder.copy_texture_to_buffer(
            texture.as_image_copy(),
            wgpu::TexelCopyBufferInfo {
                buffer: &buffer,
                layout: wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(row),
                    rows_per_image: Some(texture.height()),
                },
            },
            texture.size(),
        );
        buffer
    }

    /// Maps `buffer` (a copy of `texture` made by [`Display::copy_frame`], submitted)
    /// and gives its pixels as RGBA8, rows unpadded.
    fn read_frame(
        &self,
        buffer: &wgpu::Buffer,
        texture: &wgpu::Texture,
    ) -> Result<Vec<u8>, String> {
        let (fw, fh, row) = (
            texture.width(),
            texture.height(),
            Self::readback_row(texture),
        );
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
        Ok(out)
    }
}

/// Encodes one full-screen draw of `pipeline` with `group` into `view`.
fn blit(
    encoder: &mut wgpu::CommandEncoder,
    view: &wgpu::TextureView,
    pipeline: &wgpu::RenderPipeline,
    group: &wgpu::BindGroup,
) {
    let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
        label: Some("blit"),
        color_attachments: &[Some(wgpu::RenderPassColorAttachment {
            view,
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

/// The surface's configuration for a window of `inner` size: an sRGB format when there
/// is one, and copyable (for screenshots) when the surface allows it, which the second
/// value says.
fn surface_config(
    surface: &wgpu::Surface<'_>,
    adapter: &wgpu::Adapter,
    inner: PhysicalSize<u32>,
) -> Result<(wgpu::SurfaceConfiguration, bool), String> {
    let caps = surface.get_capabilities(adapter);
    let format = caps
        .formats
        .iter()
        .copied()
        .find(|f| f.is_srgb())
        .or_else(|| caps.formats.first().copied())
        .ok_or("the surface supports no format")?;
    let readable = caps.usages.contains(wgpu::TextureUsages::COPY_SRC);
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
    Ok((config, readable))
}

/// The pipeline that draws a host-uploaded sRGB texture, and its bind group layout.
fn texture_blit(
    device: &wgpu::Device,
    format: wgpu::TextureFormat,
) -> (wgpu::RenderPipeline, wgpu::BindGroupLayout) {
    let texture = wgpu::BindGroupLayoutEntry {
        binding: 0,
        visibility: wgpu::ShaderStages::FRAGMENT,
        ty: wgpu::BindingType::Texture {
            sample_type: wgpu::TextureSampleType::Float { filterable: false },
            view_dimension: wgpu::TextureViewDimension::D2,
            multisampled: false,
        },
        count: None,
    };
    blit_pipeline(device, "blit", BLIT.into(), &[texture], format)
}

/// The pipeline that draws the renderer's film buffer (averaging each pixel's sums),
/// and its bind group layout (the film, then the frame uniform).
fn film_blit(
    device: &wgpu::Device,
    format: wgpu::TextureFormat,
) -> (wgpu::RenderPipeline, wgpu::BindGroupLayout) {
    let source = format!(
        "{}{FILM_BLIT}",
        <renderer_core::gpu::layout::GpuPixel as renderer_core::gpu::layout::WgslStruct>::wgsl()
    );
    let fragment_buffer = |binding: u32, ty: wgpu::BufferBindingType| wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::FRAGMENT,
        ty: wgpu::BindingType::Buffer {
            ty,
            has_dynamic_offset: false,
            min_binding_size: None,
        },
        count: None,
    };
    let entries = [
        fragment_buffer(0, wgpu::BufferBindingType::Storage { read_only: true }),
        fragment_buffer(1, wgpu::BufferBindingType::Uniform),
    ];
    blit_pipeline(device, "film blit", source, &entries, format)
}

/// A full-screen pipeline from WGSL `source` (entry points `vs` and `fs`) whose one
/// bind group has `entries`, and that group's layout.
fn blit_pipeline(
    device: &wgpu::Device,
    label: &str,
    source: String,
    entries: &[wgpu::BindGroupLayoutEntry],
    format: wgpu::TextureFormat,
) -> (wgpu::RenderPipeline, wgpu::BindGroupLayout) {
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some(label),
        source: wgpu::ShaderSource::Wgsl(source.into()),
    });
    let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some(label),
        entries,
    });
    let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some(label),
        bind_group_layouts: &[Some(&layout)],
        immediate_size: 0,
    });
    (
        fullscreen_pipeline(device, &module, &pipeline_layout, format),
        layout,
    )
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
