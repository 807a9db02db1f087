//! The film on Bevy's device: Grin accumulates it in a storage buffer on the device
//! Bevy renders with, and each frame a compute pass in Bevy's render world resolves
//! it (sum / count, sRGB-encoded) into the film image's texture, so nothing is
//! copied through the host.

use bevy::prelude::*;
use bevy::render::render_asset::RenderAssets;
use bevy::render::renderer::{RenderDevice, RenderQueue};
use bevy::render::texture::GpuImage;
use bevy::render::{Extract, ExtractSchedule, Render, RenderApp, RenderSystems};
use renderer_core::gpu::layout::{GpuPixel, WgslStruct};

/// The film buffer the render world resolves into an image this frame (main world
/// side; empty while the host copies the film).
#[derive(Resource, Debug, Clone, Default)]
pub(crate) struct DeviceFilm(Option<FilmTarget>);

#[derive(Debug, Clone)]
struct FilmTarget {
    buffer: wgpu::Buffer,
    width: u32,
    height: u32,
    image: AssetId<Image>,
}

impl DeviceFilm {
    pub(crate) fn set(
        &mut self,
        buffer: wgpu::Buffer,
        width: u32,
        height: u32,
        image: AssetId<Image>,
    ) {
        self.0 = Some(FilmTarget {
            buffer,
            width,
            height,
            image,
        });
    }

    pub(crate) fn clear(&mut self) {
        self.0 = None;
    }
}

/// The resolve pipeline (render world), made on first use.
#[derive(Resource, Default)]
struct Resolve {
    pipeline: Option<(wgpu::ComputePipeline, wgpu::BindGroupLayout)>,
}

pub(crate) fn build(app: &mut App) {
    app.init_resource::<DeviceFilm>();
    if let Some(render) = app.get_sub_app_mut(RenderApp) {
        render
            .init_resource::<DeviceFilm>()
            .init_resource::<Resolve>()
            .add_systems(ExtractSchedule, extract_film)
            .add_systems(
                Render,
                resolve_film.in_set(RenderSystems::PrepareBindGroups),
            );
    }
}

fn extract_film(main: Extract<'_, '_, Res<'_, DeviceFilm>>, mut film: ResMut<'_, DeviceFilm>) {
    film.clone_from(&main);
}

const RESOLVE: &str = r"
struct Size {
    width: u32,
    height: u32,
}

@group(0) @binding(0) var<storage, read> film: array<GpuPixel>;
@group(0) @binding(1) var<uniform> size: Size;
@group(0) @binding(2) var out_image: texture_storage_2d<rgba8unorm, write>;

fn srgb(c: f32) -> f32 {
    if c <= 0.0031308 {
        return 12.92 * c;
    }
    return 1.055 * pow(c, 1.0 / 2.4) - 0.055;
}

@compute @workgroup_size(8, 8)
fn resolve(@builtin(global_invocation_id) id: vec3<u32>) {
    if id.x >= size.width || id.y >= size.height {
        return;
    }
    let px = film[id.y * size.width + id.x];
    let c = clamp(px.rgb / f32(max(px.count, 1u)), vec3<f32>(0.0), vec3<f32>(1.0));
    textureStore(out_image, vec2<i32>(id.xy), vec4<f32>(srgb(c.x), srgb(c.y), srgb(c.z), 1.0));
}
";

fn resolve_film(
    film: Res<'_, DeviceFilm>,
    images: Res<'_, RenderAssets<GpuImage>>,
    device: Res<'_, RenderDevice>,
    queue: Res<'_, RenderQueue>,
    mut resolve: ResMut<'_, Resolve>,
) {
    let Some(target) = &film.0 else {
        return;
    };
    let Some(image) = images.get(target.image) else {
        return;
    };
    let size = image.texture.size();
    if size.width != target.width || size.height != target.height {
        return;
    }
    let device = device.wgpu_device();
    let (pipeline, layout) = resolve.pipeline.get_or_insert_with(|| {
        let source = format!("{}\n{RESOLVE}", GpuPixel::wgsl());
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("grin film resolve"),
            source: wgpu::ShaderSource::Wgsl(source.into()),
        });
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some("grin film resolve"),
            layout: None,
            module: &module,
            entry_point: Some("resolve"),
            compilation_options: wgpu::PipelineCompilationOptions::default(),
            cache: None,
        });
        let layout = pipeline.get_bind_group_layout(0);
        (pipeline, layout)
    });
    let size_buffer = wgpu::util::DeviceExt::create_buffer_init(
        device,
        &wgpu::util::BufferInitDescriptor {
            label: Some("grin film size"),
            contents: &[target.width.to_le_bytes(), target.height.to_le_bytes()].concat(),
            usage: wgpu::BufferUsages::UNIFORM,
        },
    );
    let view = image.texture.create_view(&wgpu::TextureViewDescriptor {
        format: Some(wgpu::TextureFormat::Rgba8Unorm),
        usage: Some(wgpu::TextureUsages::STORAGE_BINDING),
        ..wgpu::TextureViewDescriptor::default()
    });
    let group = device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some("grin film resolve"),
        layout,
        entries: &[
            wgpu::BindGroupEntry {
                binding: 0,
                resource: target.buffer.as_entire_binding(),
            },
            wgpu::BindGroupEntry {
                binding: 1,
                resource: size_buffer.as_entire_binding(),
            },
            wgpu::BindGroupEntry {
                binding: 2,
                resource: wgpu::BindingResource::TextureView(&view),
            },
        ],
    });
    let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
        label: Some("grin film resolve"),
    });
    {
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor::default());
        pass.set_pipeline(pipeline);
        pass.set_bind_group(0, &group, &[]);
        pass.dispatch_workgroups(target.width.div_ceil(8), target.height.div_ceil(8), 1);
    }
    let queue: &wgpu::Queue = &queue;
    queue.submit([encoder.finish()]);
}
