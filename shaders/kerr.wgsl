// Rays through a Kerr hole's region, as renderer-core/src/integrator/kerr.rs: the
// null geodesic of Hamilton's equations (renderer-core/src/field/kerr.wgsl) by
// Dormand-Prince 5(4) in the affine parameter with FSAL, in f64; steps bounded by the
// chord tolerance from the curvature bound and shortened where a chord strays from
// its ends' tangents by more than twice it; steps ended on the equatorial plane
// (disk crossings and the image order exact) and on a stop surface; capture just
// outside the outer horizon; the constants of motion taken where the ray enters and
// their drift where a passage ends and at each disk crossing. Chords go to the
// consumer in f32 like every other segment. Compiled only for devices with f64
// shaders; shaders/kerr_off.wgsl stands in elsewhere (such a device refuses Kerr
// scenes). The CPU's one relaxation that needs a box query per step (chords that
// stray where no geometry is near) stays CPU-only, as for the other fields.

// The hole, from its f64 block in `scalars` ((hi, lo) pairs; field/kerr.rs writes it).
struct KerrHole {
    centre: d3,
    e1: d3,
    e2: d3,
    e3: d3,
    m: f64,
    a: f64,
    extent: f64,
    capture: f64,
    disk: bool,
    inner: f64,
    outer: f64,
    // The disk gas's sense of rotation: +1 (+phi) or -1.
    sense: f64,
    opacity: f64,
    rk: f64,
    temperature: f64,
    flux_max: f64,
    brightness: f64,
    // 0: Novikov-Thorne, 1: power law (q).
    profile: f64,
    q: f64,
    // The ISCO of the disk gas's orbits (Spacetime::isco, from the host).
    isco: f64,
}

fn kerr_scalar(i: u32) -> f64 {
    return f64(scalars[i]) + f64(scalars[i + 1u]);
}

fn kerr_scalar3(i: u32) -> d3 {
    return d3(kerr_scalar(i), kerr_scalar(i + 2u), kerr_scalar(i + 4u));
}

fn kerr_hole() -> KerrHole {
    let b = fields[params.misc.w].head.y;
    return KerrHole(
        kerr_scalar3(b),
        kerr_scalar3(b + 6u),
        kerr_scalar3(b + 12u),
        kerr_scalar3(b + 18u),
        kerr_scalar(b + 24u),
        kerr_scalar(b + 26u),
        kerr_scalar(b + 28u),
        kerr_scalar(b + 30u),
        kerr_scalar(b + 32u) > 0.0,
        kerr_scalar(b + 34u),
        kerr_scalar(b + 36u),
        kerr_scalar(b + 38u),
        kerr_scalar(b + 40u),
        kerr_scalar(b + 42u),
        kerr_scalar(b + 44u),
        kerr_scalar(b + 46u),
        kerr_scalar(b + 48u),
        kerr_scalar(b + 50u),
        kerr_scalar(b + 52u),
        kerr_scalar(b + 54u),
    );
}

fn kerr_vector_to_local(h: KerrHole, v: d3) -> d3 {
    return d3(dot(v, h.e1), dot(v, h.e2), dot(v, h.e3));
}

fn kerr_vector_to_world(h: KerrHole, v: d3) -> d3 {
    return h.e1 * v.x + h.e2 * v.y + h.e3 * v.z;
}

// The constants of motion (field::Constants): H, the size of its terms, p_t, L_z,
// Carter's Q.
struct KerrConstants {
    h: f64,
    magnitude: f64,
    energy: f64,
    lz: f64,
    carter: f64,
}

fn kerr_constants(m: f64, a: f64, x: d3, p: d3, pt: f64) -> KerrConstants {
    let r = kerr_radius(m, a, x);
    let q = r * r + a * a;
    let rho2 = x.x * x.x + x.y * x.y;
    let lz = x.x * p.y - x.y * p.x;
    let cos = x.z / r;
    let sin2 = rho2 / q;
    var carter: f64;
    if rho2 > 0.0 {
        let sin = sqrt(sin2);
        let p_theta = cos / sin * (x.x * p.x + x.y * p.y) - r * sin * p.z;
        carter = p_theta * p_theta + cos * cos * (lz * lz / sin2 - a * a * pt * pt);
    } else {
        carter = q * (p.x * p.x + p.y * p.y) - a * a * pt * pt;
    }
    let hm = kerr_hamiltonian(m, a, x, p, pt);
    return KerrConstants(hm.x, hm.y, pt, lz, carter);
}

// The ray's state across passages: its energy normalisation, the constants where
// it first entered, and its f64 launch (used for its first entry).
var<private> kerr_pt: f64;
var<private> kerr_start: KerrConstants;
var<private> kerr_started: bool;
var<private> kerr_exact: bool;
var<private> kerr_origin: d3;
var<private> kerr_dir: d3;

// A ray's record at its start (integrator::kerr::Hole::launch): p_t of the null
// momentum along its direction where it starts inside the region, else 1.
fn kerr_launch(origin: vec3<f32>, direction: vec3<f32>) {
    kerr_started = false;
    kerr_exact = false;
    kerr_pt = 1.0;
    if !has_kerr() {
        return;
    }
    let h = kerr_hole();
    kerr_origin = d3(origin) + d3(launch_lo[0]);
    let d = d3(direction) + d3(launch_lo[1]);
    kerr_dir = select(d3(1.0, 0.0, 0.0), normalize(d), dot(d, d) > 0.0);
    kerr_exact = true;
    let oc = kerr_origin - h.centre;
    if dot(oc, oc) < h.extent * h.extent {
        let x = kerr_vector_to_local(h, oc);
        let far = launch_far && kerr_fl(h.m, h.a, x).w >= 1.0;
        let mom = kerr_momentum_root(h.m, h.a, x, kerr_vector_to_local(h, kerr_dir), far);
        if any(mom != d4(0.0)) {
            kerr_pt = mom.w;
        }
    }
    kerr_rec.energy = f32(kerr_pt);
}

// The relative drift of the constants at (x, p) from the ray's start, folded into
// the record (field::Constants::drift).
fn kerr_note_drift(m: f64, a: f64, x: d3, p: d3, pt: f64) {
    let c = kerr_constants(m, a, x, p, pt);
    let s = kerr_start;
    let k = s.carter + (s.lz - a * s.energy) * (s.lz - a * s.energy);
    let scale2 = max(k + s.lz * s.lz + m * m * s.energy * s.energy, 1e-300);
    let dh = abs(c.h) / max(c.magnitude, 1e-300);
    let dl = abs(c.lz - s.lz) / sqrt(scale2);
    let dq = abs(c.carter - s.carter) / scale2;
    kerr_rec.drift = max(kerr_rec.drift, vec4<f32>(f32(dh), f32(dl), f32(dq), 0.0));
}

struct KerrStep {
    x: d3,
    p: d3,
    err: f64,
    k: KerrDeriv,
}

// One Dormand-Prince step of h from (x, p) given the derivative k0 there: the 5th
// order result, the error norm (position, and momentum relative to its size) and
// the derivative at the result (FSAL). KERR_DP_A / KERR_DP_E: the CPU's tableau in
// f64, generated into the Kerr program.
fn kerr_dp_step(m: f64, a: f64, x: d3, p: d3, pt: f64, h: f64, k0: KerrDeriv) -> KerrStep {
    // Unrolled: llvmpipe ends an invocation's loops after 65,535 turns in all, and
    // a loop over the stages cost a ray near the photon orbit its last thousand
    // steps there.
    let t = KERR_DP_A;
    let k1 = kerr_derivative(m, a, x + k0.dx * (t[0] * h), p + k0.dp * (t[0] * h), pt);
    let k2 = kerr_derivative(m, a, x + (k0.dx * t[6] + k1.dx * t[7]) * h, p + (k0.dp * t[6] + k1.dp * t[7]) * h, pt);
    let k3 = kerr_derivative(m, a, x + (k0.dx * t[12] + k1.dx * t[13] + k2.dx * t[14]) * h, p + (k0.dp * t[12] + k1.dp * t[13] + k2.dp * t[14]) * h, pt);
    let k4 = kerr_derivative(
        m,
        a,
        x + (k0.dx * t[18] + k1.dx * t[19] + k2.dx * t[20] + k3.dx * t[21]) * h,
        p + (k0.dp * t[18] + k1.dp * t[19] + k2.dp * t[20] + k3.dp * t[21]) * h,
        pt,
    );
    let k5 = kerr_derivative(
        m,
        a,
        x + (k0.dx * t[24] + k1.dx * t[25] + k2.dx * t[26] + k3.dx * t[27] + k4.dx * t[28]) * h,
        p + (k0.dp * t[24] + k1.dp * t[25] + k2.dp * t[26] + k3.dp * t[27] + k4.dp * t[28]) * h,
        pt,
    );
    let x5 = x + (k0.dx * t[30] + k1.dx * t[31] + k2.dx * t[32] + k3.dx * t[33] + k4.dx * t[34] + k5.dx * t[35]) * h;
    let p5 = p + (k0.dp * t[30] + k1.dp * t[31] + k2.dp * t[32] + k3.dp * t[33] + k4.dp * t[34] + k5.dp * t[35]) * h;
    let k6 = kerr_derivative(m, a, x5, p5, pt);
    let e = KERR_DP_E;
    let ex = (k0.dx * e[0] + k2.dx * e[2] + k3.dx * e[3] + k4.dx * e[4] + k5.dx * e[5] + k6.dx * e[6]) * h;
    let ep = (k0.dp * e[0] + k2.dp * e[2] + k3.dp * e[3] + k4.dp * e[4] + k5.dp * e[5] + k6.dp * e[6]) * h;
    let err = max(length(ex), length(ep) / max(length(p5), 1e-300));
    return KerrStep(x5, p5, err, k6);
}

// Which side of the surface a local point is on: the equatorial plane (z), or the
// stop surface (in scene coordinates).
fn kerr_side(h: KerrHole, stop: Stop, equator: bool, y: d3) -> f64 {
    if equator {
        return y.z;
    }
    let w = h.centre + kerr_vector_to_world(h, y);
    if stop.kind == STOP_PLANE {
        return dot(w - d3(stop.a), d3(stop.b));
    }
    return length(w - d3(stop.a)) - f64(stop.radius);
}

struct KerrCrossing {
    h: f64,
    x: d3,
    p: d3,
}

// Where the path from (x, p) first changes side, knowing it has by h: the step and
// state just past it, by the secant method with a bisection every third try,
// re-integrating from the start.
fn kerr_crossing(hole: KerrHole, stop: Stop, equator: bool, x: d3, p: d3, pt: f64, h: f64, k0: KerrDeriv) -> KerrCrossing {
    var lo = 0.0lf;
    var hi = h;
    let first = kerr_dp_step(hole.m, hole.a, x, p, pt, h, k0);
    var f_lo = kerr_side(hole, stop, equator, x);
    var f_hi = kerr_side(hole, stop, equator, first.x);
    var best = KerrCrossing(h, first.x, first.p);
    for (var i = 0u; i < 80u; i++) {
        let secant = hi - f_hi * (hi - lo) / (f_hi - f_lo);
        var t = 0.5 * (lo + hi);
        if i % 3u != 2u && f_hi != f_lo {
            t = clamp(secant, lo + 1e-3 * (hi - lo), hi - 1e-3 * (hi - lo));
        }
        let st = kerr_dp_step(hole.m, hole.a, x, p, pt, t, k0);
        let f = kerr_side(hole, stop, equator, st.x);
        if (f < 0.0) == (f_lo < 0.0) && f != 0.0 {
            lo = t;
            f_lo = f;
        } else {
            hi = t;
            f_hi = f;
            best = KerrCrossing(t, st.x, st.p);
        }
        if abs(f_hi) < 1e-13 * (1.0 + length(st.x)) || hi - lo <= 1e-15 * h {
            break;
        }
    }
    return best;
}

// How far a step's path strays from its chord (integrator::kerr::chord_deviation).
fn kerr_chord_deviation(chord: d3, t0: d3, t1: d3) -> f64 {
    let len2 = dot(chord, chord);
    if len2 == 0.0 {
        return max(length(t0), length(t1)) * 0.25;
    }
    let a0 = length(t0 - chord * (dot(t0, chord) / len2));
    let a1 = length(t1 - chord * (dot(t1, chord) / len2));
    return 1.25 * 0.25 * max(a0, a1);
}

// The step-length predictor (field::kerr_curvature_bound).
fn kerr_curvature_bound(m: f64, a: f64, r: f64) -> f64 {
    let rr = max(r, m + sqrt(max(m * m - a * a, 0.0)));
    return 3.0 * m / (rr * rr) * (1.0 + 2.0 * abs(a) / rr) * 1.5;
}

// The step-size factor (integrator::step_factor: in f32, as the CPU's).
fn kerr_step_factor(ratio: f64) -> f64 {
    return f64(pow(f32(min(ratio, 1e30)), 0.2));
}

// The scene direction of the path at (x, p), times the background index.
fn kerr_exit_momentum(h: KerrHole, x: d3, p: d3, pt: f64) -> vec3<f32> {
    let v = kerr_vector_to_world(h, kerr_derivative(h.m, h.a, x, p, pt).dx);
    return normalize_or_x(vec3<f32>(v)) * params.tol.x;
}

// Carries the ray across the hole's region (integrator::Integrator::kerr_passage),
// emitting chords to the consumer. Returns KERR_LEFT with `s` where it left (moving
// out), or how the ray ended.
fn kerr_passage(c: ptr<function, Consumer>, s: ptr<function, State>, stop: Stop, cone: vec2<f32>, w: ptr<function, Walk>) -> u32 {
    let hole = kerr_hole();
    let m = hole.m;
    let a = hole.a;
    var xw = d3((*s).x);
    var d = d3(normalize_or_x((*s).p));
    if kerr_exact && (*w).segments <= 1u {
        // The first entry, from the f64 launch: an f32 origin far out would put the
        // entry off by its rounding.
        xw = kerr_origin;
        d = kerr_dir;
        let oc = kerr_origin - hole.centre;
        let c2 = dot(oc, oc) - hole.extent * hole.extent;
        if c2 >= 0.0 {
            let b = dot(oc, d);
            let disc = b * b - c2;
            if disc >= 0.0 && -b - sqrt(disc) > 0.0 {
                xw = kerr_origin + d * (-b - sqrt(disc));
            }
        }
    }
    kerr_exact = false;
    var x = kerr_vector_to_local(hole, xw - hole.centre);
    // The launch's root applies where the ray starts in the ergosphere.
    let far = launch_far && !kerr_started && kerr_fl(m, a, x).w >= 1.0;
    let mom = kerr_momentum_root(m, a, x, kerr_vector_to_local(hole, d), far);
    if all(mom == d4(0.0)) {
        return TERM_CAPTURED;
    }
    var pt = kerr_pt;
    let scale = pt / mom.w;
    var p = mom.xyz;
    if scale > 0.0 && scale < 1e300 {
        p *= scale;
    } else {
        pt = mom.w;
    }
    if !kerr_started {
        kerr_start = kerr_constants(m, a, x, p, pt);
        kerr_started = true;
        kerr_rec.start = vec4<f32>(f32(kerr_start.h), f32(kerr_start.energy), f32(kerr_start.lz), f32(kerr_start.carter));
    }
    let n = f64(params.tol.x);
    let e2 = hole.extent * hole.extent;
    var h = -1.0lf;
    var cap = 1e300lf;
    var k0 = kerr_derivative(m, a, x, p, pt);
    let max_turns = 4u * min(params.seed.z, 0x3fffffffu) + 64u;
    for (var turn = 0u; turn < max_turns; turn++) {
        let r = kerr_radius(m, a, x);
        if (*w).steps >= params.seed.z {
            kerr_note_drift(m, a, x, p, pt);
            (*s).p = kerr_exit_momentum(hole, x, p, pt);
            return TERM_STEP_BUDGET;
        }
        if r <= hole.capture {
            kerr_note_drift(m, a, x, p, pt);
            (*s).p = kerr_exit_momentum(hole, x, p, pt);
            return TERM_CAPTURED;
        }
        let speed = max(length(k0.dx), 1e-300);
        if dot(x, x) >= e2 && dot(k0.dx, x) >= 0.0 {
            kerr_note_drift(m, a, x, p, pt);
            (*s).p = kerr_exit_momentum(hole, x, p, pt);
            return KERR_LEFT;
        }
        let geometric = max(f64(params.tol.y), f64(CONE_GEOMETRIC_FRACTION * (cone.x + cone.y * (*w).travelled)));
        if h < 0.0 {
            h = 0.05 * r / speed;
        }
        var h_try = min(min(h, cap), 0.5 * length(x) / speed);
        let reach = h_try * speed;
        let kappa = kerr_curvature_bound(m, a, r - reach);
        h_try = min(h_try, sqrt(8.0 * geometric / kappa) / speed);
        (*w).steps += 1u;
        let st = kerr_dp_step(m, a, x, p, pt, h_try, k0);
        if st.err > hole.rk && h_try * speed > 1e-12 * (1.0 + r) {
            h = h_try * max(0.9 * kerr_step_factor(hole.rk / st.err), 0.1);
            cap = 1e300;
            continue;
        }
        // The step ends early where it crosses the equatorial plane or the stop
        // surface, just past it.
        var end = KerrCrossing(h_try, st.x, st.p);
        var v_end = st.k.dx;
        var equator = false;
        var stopped = false;
        if x.z != 0.0 && x.z * st.x.z < 0.0 {
            end = kerr_crossing(hole, stop, true, x, p, pt, h_try, k0);
            equator = true;
        }
        if stop.kind != STOP_NONE {
            let sa = kerr_side(hole, stop, false, x);
            let sb = kerr_side(hole, stop, false, end.x);
            if sa != 0.0 && sa * sb <= 0.0 {
                end = kerr_crossing(hole, stop, false, x, p, pt, end.h, k0);
                stopped = true;
                equator = false;
            }
        }
        if equator || stopped {
            v_end = kerr_derivative(m, a, end.x, end.p, pt).dx;
        }
        let world = hole.centre + kerr_vector_to_world(hole, end.x);
        let start = (*s).x;
        let len = length(world - d3(start));
        let deviation = kerr_chord_deviation(end.x - x, k0.dx * end.h, v_end * end.h) + st.err;
        if deviation > 2.0 * geometric && !equator && !stopped && len > 1e-9 {
            // The curvature bound predicts steps well away from the horizon; near
            // it the path twists faster: shorter, down to the tolerance.
            cap = 0.5 * h_try;
            continue;
        }
        (*w).segments += 1u;
        let verdict = consume(c, start, vec3<f32>(world), f32(deviation), (*w).segments == 1u);
        if verdict == VERDICT_HIT {
            (*s).x = vec3<f32>(world);
            (*s).opl += f32(n * len);
            kerr_note_drift(m, a, end.x, end.p, pt);
            (*s).p = kerr_exit_momentum(hole, end.x, end.p, pt);
            return TERM_HIT;
        }
        if verdict == VERDICT_UNCERTAIN && h_try * speed > 1e-9 && (*w).gate > 0u {
            // Soft gate: forget this chord and redo it finer.
            (*w).gate -= 1u;
            (*w).subdivisions += 1u;
            (*w).segments -= 1u;
            cap = 0.25 * h_try;
            continue;
        }
        (*w).travelled += f32(len);
        (*s).opl += f32(n * len);
        (*s).x = vec3<f32>(world);
        x = end.x;
        p = end.p;
        if equator || stopped {
            k0 = kerr_derivative(m, a, x, p, pt);
        } else {
            k0 = st.k;
        }
        if stopped {
            kerr_note_drift(m, a, x, p, pt);
            (*s).p = kerr_exit_momentum(hole, x, p, pt);
            return TERM_STOPPED;
        }
        if equator {
            let order = kerr_rec.crossings;
            kerr_rec.crossings += 1u;
            if hole.disk {
                let rc = kerr_radius(m, a, x);
                let ut = kerr_kepler_ut(m, a, rc, hole.sense);
                if rc >= hole.inner && rc <= hole.outer && ut > 0.0 {
                    let omega = kerr_kepler_omega(m, a, rc, hole.sense);
                    let lz = x.x * p.y - x.y * p.x;
                    kerr_note_drift(m, a, x, p, pt);
                    let i = kerr_rec.disk_count;
                    if i < KERR_DISK_CROSSINGS {
                        kerr_rec.disk[i] = vec4<f32>(vec3<f32>(world), f32(rc));
                        kerr_rec.disk_energy[i] = f32(ut * (pt + omega * lz));
                        kerr_rec.disk_weight[i] = kerr_rec.transmittance * f32(hole.opacity);
                        kerr_rec.disk_order[i] = order;
                        kerr_rec.disk_count += 1u;
                    }
                    kerr_rec.transmittance *= f32(1.0 - hole.opacity);
                    if kerr_rec.transmittance <= 0.0 {
                        (*s).p = kerr_exit_momentum(hole, x, p, pt);
                        return TERM_DISK;
                    }
                }
            }
        }
        if st.err > 0.0 {
            h = end.h * clamp(0.9 * kerr_step_factor(hole.rk / st.err), 0.2, 5.0);
        } else {
            h = end.h * 5.0;
        }
        cap = 1e300;
    }
    kerr_note_drift(m, a, x, p, pt);
    (*s).p = kerr_exit_momentum(hole, x, p, pt);
    return TERM_STEP_BUDGET;
}

// ---- what the path tracer needs of the hole (path.rs, camera.rs) ----

// Whether the camera's ray along `dir` from `origin`, whose tetrad null vector has
// p^t `tau` over its spatial part's length, carries the far momentum of its
// direction (camera.rs, Tetrad::ray: inside the ergosphere, the root whose p^t is
// nearer tau).
fn kerr_camera_far(origin: vec3<f32>, dir: vec3<f32>, tau: f32) -> bool {
    if params.misc.y != 2u || !has_kerr() {
        return false;
    }
    let h = kerr_hole();
    let x = kerr_vector_to_local(h, d3(origin) - h.centre);
    if kerr_fl(h.m, h.a, x).w < 1.0 {
        return false;
    }
    let d = kerr_vector_to_local(h, d3(dir));
    let near = kerr_momentum_root(h.m, h.a, x, d, false);
    let far = kerr_momentum_root(h.m, h.a, x, d, true);
    if all(far == d4(0.0)) {
        return false;
    }
    let miss_near = select(abs(kerr_raise(h.m, h.a, x, near).w - f64(tau)), f64(1e300), all(near == d4(0.0)));
    let miss_far = abs(kerr_raise(h.m, h.a, x, far).w - f64(tau));
    return miss_far < miss_near;
}

// The photon energy the camera's observer measures for its ray along scene direction
// `dir` from `origin` carrying the `far` or near momentum (camera::Camera::photon):
// 1 without a tetrad.
fn kerr_observed(origin: vec3<f32>, dir: vec3<f32>, far: bool) -> f32 {
    let u = params.tetrad_u;
    if params.misc.y == 3u {
        // Flat: p = (1, d) covariant.
        return u.w + dot(u.xyz, dir);
    }
    if params.misc.y != 2u || !has_kerr() {
        return 1.0;
    }
    let h = kerr_hole();
    let x = kerr_vector_to_local(h, d3(origin) - h.centre);
    let p = kerr_momentum_root(h.m, h.a, x, kerr_vector_to_local(h, d3(dir)), far);
    if all(p == d4(0.0)) {
        return 1.0;
    }
    let us = kerr_vector_to_local(h, d3(u.xyz));
    return f32(f64(u.w) * p.w + dot(us, p.xyz));
}

// The photon energy a static observer at `origin` measures for a ray along `dir`
// (Integrator::static_energy: 1 outside the region; inside the ergosphere, where
// no observer is static, the ZAMO's).
fn kerr_static_energy(origin: vec3<f32>, dir: vec3<f32>) -> f32 {
    if !has_kerr() {
        return 1.0;
    }
    let h = kerr_hole();
    let oc = d3(origin) - h.centre;
    if dot(oc, oc) >= h.extent * h.extent {
        return 1.0;
    }
    let x = kerr_vector_to_local(h, oc);
    let p = kerr_momentum(h.m, h.a, x, kerr_vector_to_local(h, d3(normalize_or_x(dir))));
    if all(p == d4(0.0)) {
        return 1.0;
    }
    let f = kerr_fl(h.m, h.a, x).w;
    var u: d4;
    if f < 1.0 {
        u = kerr_observer(h.m, h.a, x, KERR_STATIC, d4(0.0));
    } else if kerr_radius(h.m, h.a, x) > h.m + sqrt(max(h.m * h.m - h.a * h.a, 0.0)) {
        u = kerr_observer(h.m, h.a, x, KERR_ZAMO, d4(0.0));
    } else {
        return 1.0;
    }
    return f32(u.w * p.w + dot(u.xyz, p.xyz));
}

// Linear sRGB of a blackbody at t kelvin and its Y (kerr::blackbody_rgb, in f32).
fn kerr_blackbody(t: f32) -> vec4<f32> {
    if !(t > 0.0) {
        return vec4<f32>(0.0);
    }
    var xyz = vec3<f32>(0.0);
    let cmf = KERR_CMF;
    for (var i = 0u; i < 95u; i++) {
        let w = cmf[i];
        let e = 14387.77 / (w.x * t);
        // exp(e) - 1 without cancellation for small e; beyond e = 80 nothing.
        var em1 = exp(min(e, 80.0)) - 1.0;
        if e < 1e-3 {
            em1 = e * (1.0 + 0.5 * e);
        }
        if e <= 80.0 {
            let um2 = w.x * w.x;
            xyz += w.yzw / (um2 * um2 * w.x * em1);
        }
    }
    let r = 3.2406 * xyz.x - 1.5372 * xyz.y - 0.4986 * xyz.z;
    let g = -0.9689 * xyz.x + 1.8758 * xyz.y + 0.0415 * xyz.z;
    let b = 0.0557 * xyz.x - 0.2040 * xyz.y + 1.0570 * xyz.z;
    return vec4<f32>(max(r, 0.0), max(g, 0.0), max(b, 0.0), xyz.y);
}

// Novikov-Thorne flux at r (kerr::novikov_thorne; f32: its cancellations near the
// ISCO, where the flux goes to zero, cost only there).
fn kerr_novikov_thorne(h: KerrHole, r: f32) -> f32 {
    let m = f32(h.m);
    let astar = f32(h.a / h.m * h.sense);
    let isco = f32(h.isco);
    if r <= isco {
        return 0.0;
    }
    let x = sqrt(r / m);
    let x0 = sqrt(isco / m);
    let th = acos(clamp(astar, -1.0, 1.0));
    let x1 = 2.0 * cos((th - PI) / 3.0);
    let x2 = 2.0 * cos((th + PI) / 3.0);
    let x3 = -2.0 * cos(th / 3.0);
    let t1 = 3.0 * (x1 - astar) * (x1 - astar) / (x1 * (x1 - x2) * (x1 - x3)) * log((x - x1) / (x0 - x1));
    let t2 = 3.0 * (x2 - astar) * (x2 - astar) / (x2 * (x2 - x1) * (x2 - x3)) * log((x - x2) / (x0 - x2));
    let t3 = 3.0 * (x3 - astar) * (x3 - astar) / (x3 * (x3 - x1) * (x3 - x2)) * log((x - x3) / (x0 - x3));
    let bracket = x - x0 - 1.5 * astar * log(x / x0) - t1 - t2 - t3;
    let x2_ = x * x;
    return bracket / (x2_ * x2_ * (x2_ * x - 3.0 * x + 2.0 * astar)) / (m * m);
}

// The disk's radiance for the ray's i-th crossing seen by an observer measuring
// the photon's energy `observed` (kerr::Hole::disk_radiance).
fn kerr_disk_radiance(i: u32, observed: f32) -> vec3<f32> {
    let h = kerr_hole();
    let g = observed / kerr_rec.disk_energy[i];
    if !(g > 0.0 && g < 1e30) {
        return vec3<f32>(0.0);
    }
    let r = kerr_rec.disk[i].w;
    var t: f32;
    let t0 = f32(h.temperature);
    if h.profile == 0.0 {
        t = t0 * pow(max(kerr_novikov_thorne(h, r) / f32(h.flux_max), 0.0), 0.25);
    } else {
        t = t0 * pow(r / f32(h.inner), -f32(h.q) / 4.0);
    }
    let rgb = kerr_blackbody(t * g);
    if rgb.w <= 0.0 {
        return vec3<f32>(0.0);
    }
    let s = g * t / t0;
    let intensity = f32(h.brightness) * (s * s) * (s * s) * kerr_rec.disk_weight[i];
    return rgb.xyz / rgb.w * intensity;
}
