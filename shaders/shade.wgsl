// Shading and the path tracer, as renderer-core's shade, lights and path modules:
// materials, environments, point/directional/emissive lights with next-event
// estimation and MIS, mirror and Fresnel dielectric, L/n^2 transport; the camera;
// and the two entry points: `render` (one sample of a range of pixels, added to the
// film, in one or more rounds) and `trace_rays` (single curved rays, for golden tests and parity).

// Group 1 of `render`.
@group(1) @binding(B_DISPATCH) var<uniform> dispatch: GpuDispatch;
@group(1) @binding(B_FILM) var<storage, read_write> film: array<GpuPixel>;
// Rays, segments, soft-gate subdivisions, paths a round left unfinished.
@group(1) @binding(B_STATS) var<storage, read_write> stats: array<atomic<u32>, 4>;
// Paths between the rounds of a batch (one per invocation of a dispatch).
@group(1) @binding(B_PATHS) var<storage, read_write> paths: array<GpuPathState>;
// Group 1 of `trace_rays`.
@group(1) @binding(B_RAYS) var<storage, read> rays: array<GpuRay>;
@group(1) @binding(B_RESULTS) var<storage, read_write> results: array<GpuRayResult>;

fn rem2(x: f32) -> f32 {
    return x - 2.0 * floor(x / 2.0);
}

fn texture_sample(base: u32, w: u32, h: u32, u: f32, v: f32) -> vec3<f32> {
    let wf = f32(w);
    let hf = f32(h);
    let x = (u - floor(u)) * wf - 0.5;
    let y = clamp(clamp(v, 0.0, 1.0) * hf - 0.5, 0.0, hf - 1.0);
    let x0 = floor(x);
    let y0 = floor(y);
    let fx = x - x0;
    let fy = y - y0;
    let i0 = u32(x0 - wf * floor(x0 / wf));
    let i1 = u32((x0 + 1.0) - wf * floor((x0 + 1.0) / wf));
    let j0 = u32(min(y0, hf - 1.0));
    let j1 = u32(min(y0 + 1.0, hf - 1.0));
    let a = texels[base + j0 * w + i0].xyz;
    let b = texels[base + j0 * w + i1].xyz;
    let c = texels[base + j1 * w + i0].xyz;
    let d = texels[base + j1 * w + i1].xyz;
    return mix(mix(a, b, fx), mix(c, d, fx), fy);
}

// Each material kind's emitted / albedo / bounce is in its own file beside its
// Rust module (renderer-core/src/material/<kind>.wgsl); the dispatch over kinds
// (emitted, is_diffuse, albedo, specular_bounce) is generated into the prelude.

fn luminance(c: vec3<f32>) -> f32 {
    return 0.2126 * c.x + 0.7152 * c.y + 0.0722 * c.z;
}

fn equirect_uv(dir: vec3<f32>) -> vec2<f32> {
    // At the poles the azimuth is undefined: the middle of the map (as the CPU's).
    var u = 0.5;
    if dir.x != 0.0 || dir.z != 0.0 {
        u = 0.5 + atan2(dir.x, -dir.z) / TAU;
    }
    // The polar angle by atan2, not acos: acos is ill-conditioned near the poles and
    // llvmpipe's f32 acos was 2e-5 off in v elsewhere.
    let v = atan2(length(dir.xz), dir.y) / PI;
    return vec2<f32>(u - floor(u), v);
}

// Each environment kind's radiance is in its own file beside its Rust module
// (renderer-core/src/environment/<kind>.wgsl); environment(dir) is generated into
// the prelude.

fn environment_is_black() -> bool {
    return params.counts.z == ENV_CONSTANT && all(params.env_a.xyz == vec3<f32>(0.0));
}

fn reflect_dir(d: vec3<f32>, n: vec3<f32>) -> vec3<f32> {
    return d - n * (2.0 * dot(d, n));
}

// Fresnel reflectance (x) and cos of the refracted angle (y; < 0: total reflection).
fn fresnel(cos_i: f32, eta: f32) -> vec2<f32> {
    let sin2_t = eta * eta * max(1.0 - cos_i * cos_i, 0.0);
    if sin2_t >= 1.0 {
        return vec2<f32>(1.0, -1.0);
    }
    let cos_t = sqrt(1.0 - sin2_t);
    let rs = (eta * cos_i - cos_t) / (eta * cos_i + cos_t);
    let rp = (cos_i - eta * cos_t) / (cos_i + eta * cos_t);
    return vec2<f32>(0.5 * (rs * rs + rp * rp), cos_t);
}

fn refract_dir(d: vec3<f32>, n: vec3<f32>, eta: f32, cos_t: f32) -> vec3<f32> {
    let cos_i = -dot(d, n);
    return normalize(d * eta + n * (eta * cos_i - cos_t));
}

fn cosine_direction(n: vec3<f32>, u1: f32, u2: f32) -> vec3<f32> {
    let ab = orthonormal_pair(n);
    let phi = TAU * u1;
    let r = sqrt(u2);
    return normalize(ab[0] * (r * cos(phi)) + ab[1] * (r * sin(phi)) + n * sqrt(max(1.0 - u2, 0.0)));
}

fn power_heuristic(a: f32, b: f32) -> f32 {
    // Scaled by the larger pdf first: the squares of small pdfs (1e-20) are
    // subnormal, which GPUs flush to zero (NVIDIA's do), losing the ratio.
    let m = max(a, b);
    if m <= 0.0 {
        return 0.0;
    }
    let x = a / m;
    let y = b / m;
    return x * x / (x * x + y * y);
}

// Rays traced for telemetry: rays, segments, subdivisions.
struct Tally {
    rays: u32,
    segments: u32,
    subdivisions: u32,
}

fn tally(t: ptr<function, Tally>, r: TraceOut) {
    (*t).rays += 1u;
    (*t).segments += r.segments;
    (*t).subdivisions += r.subdivisions;
}

struct EmitterSample {
    point: vec3<f32>,
    normal: vec3<f32>,
    instance: u32,
    area_pdf: f32,
}

fn sample_emitter(u0: f32, u1: f32, u2: f32) -> EmitterSample {
    let count = params.counts.y;
    // partition_point(cdf <= u0): the first triangle whose cumulative weight is above u0.
    var lo = 0u;
    var hi = count;
    while lo < hi {
        let mid = (lo + hi) / 2u;
        if emitters[mid].a.w <= u0 {
            lo = mid + 1u;
        } else {
            hi = mid;
        }
    }
    let e = emitters[min(lo, count - 1u)];
    let s = sqrt(u1);
    let b1 = s * (1.0 - u2);
    let b2 = s * u2;
    return EmitterSample(e.a.xyz + e.e1.xyz * b1 + e.e2.xyz * b2, e.normal.xyz, e.instance, materials[e.instance].area_pdf);
}

// Radiance is carried as L / n^2 (lights::index_ratio2).
fn index_ratio2(here: f32, there: f32) -> f32 {
    let r = here / there;
    return r * r;
}

// A point or directional light seen from a diffuse point (lights::light_sample):
// direction, value per unit albedo, the irradiance on a surface facing it (for a
// glossy lobe's f cos), the shadow ray's stop, and whether it is in front of the
// surface.
struct LightSample {
    dir: vec3<f32>,
    value: vec3<f32>,
    incident: vec3<f32>,
    stop: Stop,
    ok: bool,
}

fn light_sample(light: GpuLight, origin: vec3<f32>, n: vec3<f32>, index_here: f32) -> LightSample {
    var out = LightSample(vec3<f32>(0.0), vec3<f32>(0.0), vec3<f32>(0.0), no_stop(), false);
    if light.kind == LIGHT_DIRECTIONAL {
        out.dir = -normalize(light.v.xyz);
        out.value = light.c.xyz;
    } else {
        let d = light.v.xyz - origin;
        let r2 = max(length2(d), MIN_DISTANCE2);
        out.dir = d / sqrt(r2);
        out.value = light.c.xyz / r2;
        out.stop = Stop(STOP_SPHERE, light.v.xyz, vec3<f32>(0.0), POINT_LIGHT_STOP * (1.0 + sqrt(r2)));
    }
    let cos = dot(n, out.dir);
    // light.c.w: the index at the light.
    let ratio2 = index_ratio2(index_here, light.c.w);
    out.incident = out.value * ratio2;
    out.value *= ratio2 * cos / PI;
    out.ok = cos > 0.0;
    return out;
}

// The ray from a diffuse point to an emitter sample (lights::emitter_ray): direction,
// cosine at the point, the light density per solid angle, and whether it is usable.
struct EmitterRay {
    dir: vec3<f32>,
    cos_x: f32,
    pdf_light: f32,
    ok: bool,
}

fn emitter_ray(e: EmitterSample, origin: vec3<f32>, n: vec3<f32>) -> EmitterRay {
    let w = e.point - origin;
    let d2 = length2(w);
    let dir = w / sqrt(d2);
    let cos_x = dot(n, dir);
    let cos_e = abs(dot(e.normal, dir));
    return EmitterRay(dir, cos_x, e.area_pdf * d2 / max(cos_e, 1e-30), cos_x > 0.0 && cos_e > EMITTER_MIN_COSINE);
}

// The factor of an emitter sample's radiance (lights::emitter_scale).
fn emitter_scale(pdf_light: f32, cos_x: f32, mis: bool, ratio2: f32) -> f32 {
    let pdf_b = cos_x / PI;
    var weight = 1.0;
    if mis {
        weight = power_heuristic(pdf_light, pdf_b);
    }
    return weight * pdf_b / pdf_light * ratio2;
}

// One sample added to a pixel's accumulators (film::Planes::add); `instance` NONE:
// nothing was hit.
fn film_add(acc0: GpuPixel, rgb: vec3<f32>, instance: u32, depth: f32, normal: vec3<f32>, segments: u32) -> GpuPixel {
    var acc = acc0;
    acc.rgb += rgb;
    acc.count += 1u;
    acc.segments += segments;
    if instance != NONE {
        acc.hits += 1u;
        acc.depth += depth;
        acc.normal += normal;
        // The film keeps the first instance plus one: a zeroed film is empty.
        if acc.instance == 0u {
            acc.instance = instance + 1u;
        }
    }
    return acc;
}

fn surface_origin(p: vec3<f32>, n: vec3<f32>) -> vec3<f32> {
    return p + n * SURFACE_OFFSET * (1.0 + length(p));
}

struct Record {
    rgb: vec3<f32>,
    depth: f32,
    normal: vec3<f32>,
    instance: u32,
    segments: u32,
}

// What the next traced ray of a path is for (TASK_*, in `GpuPathState::flags.y`) and
// the flags of a path state (FLAG_*, in `flags.w`) come with the generated prelude.

// A camera path before its first turn: the loop variables of `path_resume`.
fn path_start(pixel: u32, sample: u32, origin0: vec3<f32>, dir0: vec3<f32>, observed: f32) -> GpuPathState {
    var st: GpuPathState;
    st.origin = vec4<f32>(origin0, medium_index(origin0).x);
    st.dir = vec4<f32>(dir0, 0.0);
    st.throughput = vec4<f32>(1.0, 1.0, 1.0, 0.0);
    st.previous = vec4<f32>(origin0, 0.0);
    st.at_n = vec4<f32>(0.0, 1.0, 0.0, 0.0);
    let rng = sampler_new(pixel, sample, 1u);
    st.rng = vec4<u32>(rng.key, rng.dim, 0u);
    st.flags = vec4<u32>(0u, TASK_PATH, 0u, FLAG_SPECULAR);
    st.rec = vec4<u32>(NONE, 0u, 0u, 0u);
    st.rec_normal = vec4<f32>(0.0, 0.0, 0.0, observed);
    return st;
}

// One camera sample's radiance and first-hit AOVs: the CPU's path::PathContext::sample
// with lights::direct at each diffuse vertex. Written as a loop that traces one ray
// per turn (the path ray, then each light's shadow ray, the environment ray and the
// emitter ray of a diffuse vertex), so that the integrator is compiled once. It takes
// at most `turns` turns and then saves its variables in `st`: a path can go on in a
// later dispatch, each of which gets a fresh loop allowance on drivers that cap the
// loop iterations of an invocation (llvmpipe ends every loop of an invocation after
// 65,535 iterations in all, which a curved path of several rays exceeds). Returns
// whether the path is finished.
fn path_resume(st: ptr<function, GpuPathState>, pixel: u32, sample: u32, turns: u32, t: ptr<function, Tally>) -> bool {
    let s = *st;
    var origin = s.origin.xyz;
    var index_here = s.origin.w;
    var dir = s.dir.xyz;
    var pdf_bsdf = s.dir.w;
    var radiance = s.radiance.xyz;
    var cos_x = s.radiance.w;
    var throughput = s.throughput.xyz;
    var pdf_light = s.throughput.w;
    var previous = s.previous.xyz;
    var rec = Record(vec3<f32>(0.0), s.previous.w, s.rec_normal.xyz, s.rec.x, s.rec.y);
    // The photon energy the path ray's observer measures (path.rs: near a Kerr hole
    // the disk's colour and the sky's brightness depend on it).
    var observed = s.rec_normal.w;
    var at = s.at.xyz;
    var at_n = s.at_n.xyz;
    var at_albedo = s.at_albedo.xyz;
    var at_origin = s.at_origin.xyz;
    var u = array<f32, 5>(s.at.w, s.at_n.w, s.at_albedo.w, s.at_origin.w, s.light_value.w);
    var light_value = s.light_value.xyz;
    var emitter = EmitterSample(s.emitter_point.xyz, s.emitter_normal.xyz, s.rec.z, s.emitter_point.w);
    // The beam's width where the path is (its spread is the pixel's, for every ray).
    var beam = s.emitter_normal.w;
    var rng = Sampler(s.rng.xy, s.rng.z);
    var turn = s.rng.w;
    var depth = s.flags.x;
    var task = s.flags.y;
    var light_i = s.flags.z;
    var specular = (s.flags.w & FLAG_SPECULAR) != 0u;
    var glossy = (s.flags.w & FLAG_GLOSSY) != 0u;
    // At a glossy vertex at_albedo holds the outgoing direction wo, and at_instance
    // its instance (for the material).
    var at_instance = s.rec.w;
    var last = (s.flags.w & FLAG_LAST) != 0u;
    let background = params.tol.x;
    let max_bounces = params.dims.z;
    var done = false;
    for (var k = 0u; k < turns; k++) {
        if turn >= PATH_TURNS {
            done = true;
            break;
        }
        turn += 1u;
        // The ray of this turn.
        var ro = origin;
        var rd = dir;
        var stop = no_stop();
        var mode = MODE_CLOSEST;
        var skip = false;
        if task == TASK_LIGHT {
            ro = at_origin;
            mode = MODE_ANY;
            if light_i >= params.dims.w {
                skip = true;
            } else {
                let ls = light_sample(lights[light_i], at_origin, at_n, index_here);
                rd = ls.dir;
                light_value = ls.value;
                stop = ls.stop;
                skip = !ls.ok;
                if glossy && !skip {
                    light_value = ls.incident * glossy_eval(materials[at_instance], at_n, at_albedo, rd);
                    skip = all(light_value == vec3<f32>(0.0));
                }
            }
        } else if task == TASK_ENV {
            ro = at_origin;
            mode = MODE_ANY;
            // A glossy vertex's bounce ray gathers the environment instead.
            skip = environment_is_black() || glossy;
            rd = cosine_direction(at_n, u[3], u[4]);
        } else if task == TASK_EMITTER {
            ro = at_origin;
            skip = params.counts.y == 0u;
            if !skip {
                emitter = sample_emitter(u[0], u[1], u[2]);
                let er = emitter_ray(emitter, at_origin, at_n);
                rd = er.dir;
                cos_x = er.cos_x;
                pdf_light = er.pdf_light;
                skip = !er.ok;
            }
        }
        var r: TraceOut;
        if !skip {
            // The camera's ray carries its observer's photon (field::Root).
            launch_far = task == TASK_PATH && depth == 0u && (s.flags.w & FLAG_FAR_ROOT) != 0u;
            r = trace(ro, rd, vec2<f32>(beam, params.cam_fwd.w), stop, mode);
            launch_far = false;
            tally(t, r);
        }
        if task == TASK_LIGHT {
            // The light arrives only along a ray that left every field or crossed
            // the light's stop surface (lights.rs, `reaches_light`).
            if !skip && (r.term == TERM_ESCAPED || r.term == TERM_STOPPED) {
                if glossy {
                    radiance += throughput * light_value;
                } else {
                    radiance += throughput * at_albedo * light_value;
                }
            }
            if light_i >= params.dims.w {
                task = TASK_ENV;
            }
            light_i += 1u;
            continue;
        }
        if task == TASK_ENV {
            if !skip && r.term == TERM_ESCAPED {
                radiance += throughput * at_albedo * environment(r.direction) * index_ratio2(index_here, background);
            }
            task = TASK_EMITTER;
            continue;
        }
        if task == TASK_EMITTER {
            if !skip && r.hit.slot != NONE && r.hit.instance == emitter.instance {
                let le = emitted(materials[emitter.instance]);
                let ratio2 = index_ratio2(index_here, medium_index(r.position).x);
                if glossy {
                    let gm = materials[at_instance];
                    var weight = 1.0;
                    if !last {
                        weight = power_heuristic(pdf_light, glossy_pdf(gm, at_n, at_albedo, rd));
                    }
                    radiance += throughput * glossy_eval(gm, at_n, at_albedo, rd) * le * (weight / pdf_light * ratio2);
                } else {
                    radiance += throughput * at_albedo * le * emitter_scale(pdf_light, cos_x, !last, ratio2);
                }
            }
            // The diffuse or glossy bounce.
            if last {
                done = true;
                break;
            }
            let u1 = next_f(&rng);
            let u2 = next_f(&rng);
            if glossy {
                let gs = glossy_sample(materials[at_instance], at_n, at_albedo, u1, u2);
                if !gs.ok {
                    done = true;
                    break;
                }
                dir = gs.dir;
                pdf_bsdf = gs.pdf;
                throughput *= gs.weight;
            } else {
                dir = cosine_direction(at_n, u1, u2);
                pdf_bsdf = dot(at_n, dir) / PI;
                throughput *= at_albedo;
            }
            origin = at_origin;
            observed = kerr_static_energy(origin, dir);
            specular = false;
            previous = at;
            task = TASK_PATH;
            depth += 1u;
            if depth > max_bounces || all(throughput == vec3<f32>(0.0)) {
                done = true;
                break;
            }
            continue;
        }
        // The path ray.
        if depth == 0u {
            rec.segments = r.segments;
        }
        // A Kerr disk's light (no light sample reaches it: it counts in full), and
        // what it lets through of what lies behind it; the sky seen through the
        // hole's region is shifted by g^4.
        var sky_shift = 1.0;
        if has_kerr() {
            for (var i = 0u; i < min(kerr_rec.disk_count, KERR_DISK_CROSSINGS); i++) {
                radiance += throughput * kerr_disk_radiance(i, observed);
            }
            throughput *= kerr_rec.transmittance;
            let g = observed / kerr_rec.energy;
            if g > 0.0 && g < 1e30 {
                sky_shift = (g * g) * (g * g);
            }
        }
        if r.hit.slot == NONE {
            // After a diffuse vertex the environment was gathered by its own ray.
            if r.term == TERM_ESCAPED && (specular || glossy) {
                radiance += throughput * environment(r.direction) * (index_ratio2(index_here, background) * sky_shift);
            }
            done = true;
            break;
        }
        let hit = r.hit;
        let position = r.position;
        beam += params.cam_fwd.w * r.path_length;
        let index_there = medium_index(position).x;
        throughput *= index_ratio2(index_here, index_there);
        index_here = index_there;
        let m = materials[hit.instance];
        let incoming = r.direction;
        let front = dot(hit.normal, incoming) < 0.0;
        let n = select(-hit.normal, hit.normal, front);
        if depth == 0u {
            rec.depth = r.path_length;
            rec.normal = n;
            rec.instance = hit.instance;
        }
        let le = emitted(m);
        if any(le > vec3<f32>(0.0)) {
            var weight = 1.0;
            if !specular {
                let d2 = length2(position - previous);
                let cos_e = max(abs(dot(hit.normal, incoming)), MIS_MIN_COSINE);
                weight = power_heuristic(pdf_bsdf, m.area_pdf * d2 / cos_e);
            }
            radiance += throughput * le * weight;
        }
        last = depth == max_bounces;
        rng = sampler_new(pixel, sample, depth + 1u);
        let eps = SURFACE_OFFSET * (1.0 + length(position));
        if is_diffuse(m) || is_glossy(m) {
            glossy = is_glossy(m);
            at = position;
            at_n = n;
            if glossy {
                at_albedo = -incoming;
                at_instance = hit.instance;
            } else {
                at_albedo = albedo(m, position, n, hit);
            }
            at_origin = surface_origin(position, n);
            for (var j = 0u; j < 5u; j++) {
                u[j] = next_f(&rng);
            }
            light_i = 0u;
            task = TASK_LIGHT;
            continue;
        }
        if last {
            done = true;
            break;
        }
        if !is_specular(m) {
            done = true;
            break;
        }
        glossy = false;
        let bounce = specular_bounce(m, incoming, n, front, index_here, &rng);
        dir = bounce.dir;
        throughput *= bounce.weight;
        origin = select(position + n * eps, position - n * eps, bounce.transmitted);
        observed = kerr_static_energy(origin, dir);
        specular = true;
        previous = position;
        depth += 1u;
        if depth > max_bounces || all(throughput == vec3<f32>(0.0)) {
            done = true;
            break;
        }
    }
    var flags = select(0u, FLAG_SPECULAR, specular) | select(0u, FLAG_LAST, last) | select(0u, FLAG_DONE, done) | select(0u, FLAG_GLOSSY, glossy) | (s.flags.w & FLAG_FAR_ROOT);
    *st = GpuPathState(
        vec4<f32>(origin, index_here),
        vec4<f32>(dir, pdf_bsdf),
        vec4<f32>(radiance, cos_x),
        vec4<f32>(throughput, pdf_light),
        vec4<f32>(previous, rec.depth),
        vec4<f32>(at, u[0]),
        vec4<f32>(at_n, u[1]),
        vec4<f32>(at_albedo, u[2]),
        vec4<f32>(at_origin, u[3]),
        vec4<f32>(light_value, u[4]),
        vec4<f32>(emitter.point, emitter.area_pdf),
        vec4<f32>(emitter.normal, beam),
        vec4<f32>(rec.normal, observed),
        vec4<u32>(rng.key, rng.dim, turn),
        vec4<u32>(depth, task, light_i, flags),
        vec4<u32>(rec.instance, rec.segments, emitter.instance, at_instance),
    );
    return done;
}

// The static observer's coordinate direction (integrator::static_observer_direction).
fn static_observer_direction(position: vec3<f32>, local: vec3<f32>, centre: vec3<f32>, rs: f32) -> vec3<f32> {
    let x = position - centre;
    let r = length(x);
    if r <= rs {
        return local;
    }
    let radial = x / r;
    let cos_local = dot(local, radial);
    let tangential = local - radial * cos_local;
    // See the CPU's: no cancellation, unit length by construction.
    let k = rs / r;
    let one_minus_k = (r - rs) / r;
    return (radial * (cos_local * sqrt(one_minus_k)) + tangential) / sqrt(1.0 - k * cos_local * cos_local);
}

// The unit scene vector through image position (x, y) at rest.
fn camera_local(x: f32, y: f32) -> vec3<f32> {
    let w = f32(params.dims.x);
    let h = f32(params.dims.y);
    let tan_half = params.cam_pos.w;
    let sx = (2.0 * x / w - 1.0) * tan_half * (w / h);
    let sy = (1.0 - 2.0 * y / h) * tan_half;
    return normalize(params.cam_fwd.xyz + params.cam_right.xyz * sx + params.cam_up.xyz * sy);
}

// A moving observer's null vector near a Kerr hole for the unit scene vector
// `local` (camera.rs, Tetrad::ray): -u + local.e, (spatial in scene axes, t).
fn camera_null(local: vec3<f32>) -> vec4<f32> {
    let l = vec3<f32>(dot(local, params.cam_right.xyz), dot(local, params.cam_up.xyz), dot(local, params.cam_fwd.xyz));
    return params.tetrad_right * l.x + params.tetrad_up * l.y + params.tetrad_forward * l.z - params.tetrad_u;
}

fn camera_ray(x: f32, y: f32) -> vec3<f32> {
    let local = camera_local(x, y);
    if params.misc.y == 1u {
        return static_observer_direction(params.cam_pos.xyz, local, params.observer.xyz, params.observer.w);
    }
    if params.misc.y >= 2u {
        return normalize_or_x(camera_null(local).xyz);
    }
    return local;
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn render(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x + gid.y * WORKGROUP_SIZE * 65535u;
    if i >= dispatch.count {
        return;
    }
    let pixel = dispatch.first + i;
    var st: GpuPathState;
    if dispatch.round == 0u {
        let width = params.dims.x;
        let px = pixel % width;
        let py = pixel / width;
        var rng = sampler_new(pixel, dispatch.sample, 0u);
        let jx = next_f(&rng);
        let jy = next_f(&rng);
        let dir = camera_ray(f32(px) + jx, f32(py) + jy);
        // Inside a Kerr hole's ergosphere, which of the two momenta with this
        // direction is the observer's photon.
        var far = false;
        if params.misc.y == 2u {
            let k = camera_null(camera_local(f32(px) + jx, f32(py) + jy));
            far = kerr_camera_far(params.cam_pos.xyz, dir, k.w / length(k.xyz));
        }
        st = path_start(pixel, dispatch.sample, params.cam_pos.xyz, dir, kerr_observed(params.cam_pos.xyz, dir, far));
        if far {
            st.flags.w |= FLAG_FAR_ROOT;
        }
    } else {
        st = paths[i];
        if (st.flags.w & FLAG_DONE) != 0u {
            return;
        }
    }
    var t = Tally(0u, 0u, 0u);
    let done = path_resume(&st, pixel, dispatch.sample, dispatch.turns, &t);
    atomicAdd(&stats[0], t.rays);
    atomicAdd(&stats[1], t.segments);
    atomicAdd(&stats[2], t.subdivisions);
    if !done {
        paths[i] = st;
        atomicAdd(&stats[3], 1u);
        return;
    }
    if dispatch.turns < PATH_TURNS {
        paths[i].flags.w = st.flags.w;
    }
    film[pixel] = film_add(film[pixel], st.radiance.xyz, st.rec.x, st.previous.w, st.rec_normal.xyz, st.rec.y);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn trace_rays(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x + gid.y * WORKGROUP_SIZE * 65535u;
    if i >= arrayLength(&rays) {
        return;
    }
    let ray = rays[i];
    let stop = Stop(ray.stop_kind.x, ray.stop_a.xyz, ray.stop_b.xyz, ray.stop_a.w);
    let mode = select(MODE_NONE, MODE_CLOSEST, params.misc.x > 0u);
    launch_lo = array<vec3<f32>, 2>(ray.origin_lo.xyz, ray.dir_lo.xyz);
    // Single rays keep the scene's tolerances, as `grin trace` does.
    let r = trace(ray.origin.xyz, ray.dir.xyz, vec2<f32>(0.0), stop, mode);
    let k = kerr_rec;
    results[i] = GpuRayResult(
        vec4<f32>(r.position, r.opl),
        vec4<f32>(r.direction, r.path_length),
        vec4<u32>(r.term, r.segments, r.steps, r.hit.instance),
        vec4<f32>(k.energy, k.transmittance, bitcast<f32>(k.crossings), bitcast<f32>(k.disk_count)),
        k.drift,
        k.start,
        k.disk,
        k.disk_energy,
        k.disk_weight,
        k.disk_order,
    );
}
