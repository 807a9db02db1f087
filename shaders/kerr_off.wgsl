// Stand-ins for the Kerr passage (shaders/kerr.wgsl and
// renderer-core/src/field/kerr.wgsl, which need f64 shaders) in the program of a
// device without them: it refuses scenes with a Kerr hole (gpu::GpuSceneData::
// upload), so these are never reached.

fn kerr_launch(origin: vec3<f32>, direction: vec3<f32>) {}

fn kerr_passage(c: ptr<function, Consumer>, s: ptr<function, State>, stop: Stop, cone: vec2<f32>, w: ptr<function, Walk>) -> u32 {
    return TERM_CAPTURED;
}

fn probe_kerr(c: GpuProbe) -> GpuProbeOut {
    var o: GpuProbeOut;
    return o;
}

fn kerr_observed(origin: vec3<f32>, dir: vec3<f32>, far: bool) -> f32 {
    return 1.0;
}

fn kerr_camera_far(origin: vec3<f32>, dir: vec3<f32>, tau: f32) -> bool {
    return false;
}

fn kerr_static_energy(origin: vec3<f32>, dir: vec3<f32>) -> f32 {
    return 1.0;
}

fn kerr_disk_radiance(i: u32, observed: f32) -> vec3<f32> {
    return vec3<f32>(0.0);
}
