// The curved-ray integrator, as renderer-core's integrator module: fields (GRIN
// primitives and Schwarzschild masses), the curvature-bound grid, adaptive
// Dormand-Prince 5(4) steps limited by the chord deviation h^2 kappa / 8, straight
// flight outside every field, stop surfaces, and the soft gate (an uncertain miss
// redoes the step four times finer). f32 throughout: the host keeps the RK tolerance
// above f32 rounding.
//
// The trace modes (MODE_*) and the consumer's verdicts (VERDICT_*) come with the
// generated prelude.

struct Stop {
    kind: u32,
    a: vec3<f32>,
    b: vec3<f32>,
    radius: f32,
}

fn no_stop() -> Stop {
    return Stop(STOP_NONE, vec3<f32>(0.0), vec3<f32>(0.0), 0.0);
}

fn stop_side(s: Stop, p: vec3<f32>) -> f32 {
    if s.kind == STOP_PLANE {
        return dot(p - s.a, s.b);
    }
    return length(p - s.a) - s.radius;
}

// ---- fields ----

// Each kind's index_deviation / acceleration is in its own file beside its Rust
// module (renderer-core/src/field/<kind>.wgsl); the dispatch over kinds
// (index_deviation, field_acceleration) is generated into the prelude.

// Refractive index (x) and its gradient (yzw).
fn medium_index(p: vec3<f32>) -> vec4<f32> {
    var out = vec4<f32>(params.tol.x, 0.0, 0.0, 0.0);
    for (var i = 0u; i < params.counts.x; i++) {
        out += index_deviation(fields[i], p, params.tol.x);
    }
    return out;
}

// Summed geodesic acceleration of the masses for direction v.
fn medium_acceleration(p: vec3<f32>, v: vec3<f32>) -> vec3<f32> {
    var a = vec3<f32>(0.0);
    for (var i = 0u; i < params.counts.x; i++) {
        a += field_acceleration(fields[i], p, v);
    }
    return a;
}

// ---- the curvature-bound grid ----

fn has_grid() -> bool {
    return params.grid_dims.x > 0u;
}

fn grid_cell_min() -> f32 {
    return params.grid_min.w;
}

// Cell of p, or x = NONE outside.
fn grid_cell_of(p: vec3<f32>) -> vec3<u32> {
    if !has_grid() || !box_contains(params.grid_min.xyz, params.grid_max.xyz, p) {
        return vec3<u32>(NONE);
    }
    let f = (p - params.grid_min.xyz) / params.grid_cell.xyz;
    return min(vec3<u32>(f), params.grid_dims.xyz - vec3<u32>(1u));
}

fn grid_kappa(c: vec3<u32>) -> f32 {
    return scalars[(c.z * params.grid_dims.y + c.y) * params.grid_dims.x + c.x];
}

fn kappa_at(p: vec3<f32>) -> f32 {
    let c = grid_cell_of(p);
    if c.x == NONE {
        return 0.0;
    }
    return grid_kappa(c);
}

// How far past a cell boundary at p + t d a point is taken to be in the next cell
// (f32: more than the rounding of p + t d).
fn grid_nudge(p: vec3<f32>, t: f32) -> f32 {
    return 1e-4 * grid_cell_min() + 1e-6 * (max3(abs(p)) + t);
}

// Distance along p + t d to the first cell with curvature; < 0: none.
fn straight_run(p: vec3<f32>, d: vec3<f32>) -> f32 {
    if !has_grid() {
        return -1.0;
    }
    let iv = box_interval(params.grid_min.xyz, params.grid_max.xyz, p, d);
    if iv.x > iv.y {
        return -1.0;
    }
    var t = max(iv.x, 0.0);
    let eps = grid_nudge(p, t);
    let guard = 4u * (params.grid_dims.x + params.grid_dims.y + params.grid_dims.z) + 8u;
    for (var g = 0u; g < guard && t <= iv.y; g++) {
        let q = p + d * (t + eps);
        let c = grid_cell_of(q);
        if c.x == NONE {
            return -1.0;
        }
        if grid_kappa(c) > 0.0 {
            return t;
        }
        let lo = params.grid_min.xyz + params.grid_cell.xyz * vec3<f32>(c);
        let cell = box_interval(lo, lo + params.grid_cell.xyz, q, d);
        if cell.x > cell.y {
            return -1.0;
        }
        t += eps + max(cell.y, 0.0);
    }
    return -1.0;
}

// ---- Kerr holes (shaders/kerr.wgsl; shaders/kerr_off.wgsl without f64) ----

// Disk crossings a ray records (integrator::DISK_CROSSINGS).
const KERR_DISK_CROSSINGS: u32 = 4u;
// kerr_passage's answer when the ray left the region (any other: its termination).
const KERR_LEFT: u32 = 0xfffffffeu;

// What a ray met of a Kerr hole (integrator::KerrTrace, in f32).
struct KerrRec {
    // p_t: the ray's energy normalisation (1 for a ray from outside the region).
    energy: f32,
    // What the disk lets through of the light behind it.
    transmittance: f32,
    // Equatorial crossings, and disk crossings recorded.
    crossings: u32,
    disk_count: u32,
    // The largest relative drift of H, L_z and Carter's Q (xyz).
    drift: vec4<f32>,
    // The constants where the ray entered: H, p_t, L_z, Q.
    start: vec4<f32>,
    // Each disk crossing: scene position and Boyer-Lindquist r; the photon energy
    // the gas measures; its weight; the equatorial crossings before it.
    disk: array<vec4<f32>, 4>,
    disk_energy: vec4<f32>,
    disk_weight: vec4<f32>,
    disk_order: vec4<u32>,
}

// The record of the ray `trace` last traced.
var<private> kerr_rec: KerrRec;
// The low parts of that ray's origin and direction in f64 (the single-ray entry
// point sets them; zero for the renderer's rays).
var<private> launch_lo: array<vec3<f32>, 2>;
// Whether the ray `trace` traces next carries the far momentum of its direction
// where it starts inside a Kerr hole's ergosphere (a camera's ray there: its
// observer's photon; field::Root).
var<private> launch_far: bool;

fn has_kerr() -> bool {
    return params.misc.w != NONE;
}

// Whether p is in the hole's region, not on its edge moving out along d (a ray the
// passage let go may round back inside in f32).
fn kerr_enters(p: vec3<f32>, d: vec3<f32>) -> bool {
    if !has_kerr() {
        return false;
    }
    let f = fields[params.misc.w];
    let oc = p - f.p0.xyz;
    let r2 = f.p2.x * f.p2.x;
    let d2 = length2(oc);
    return d2 < r2 && !(dot(oc, d) > 0.0 && d2 > r2 * (1.0 - 2e-5));
}

// Counters a passage shares with the trace loop.
struct Walk {
    steps: u32,
    segments: u32,
    subdivisions: u32,
    gate: u32,
    travelled: f32,
}

// ---- the integrator ----

struct State {
    x: vec3<f32>,
    p: vec3<f32>,
    opl: f32,
}

struct Deriv {
    dx: vec3<f32>,
    dp: vec3<f32>,
    dopl: f32,
}

fn deriv(s: State) -> Deriv {
    let ng = medium_index(s.x);
    let dx = s.p / ng.x;
    var a = vec3<f32>(0.0);
    if params.counts.w > 0u {
        a = medium_acceleration(s.x, dx);
    }
    return Deriv(dx, ng.yzw + a * ng.x, ng.x * length(dx));
}

fn in_field(p: vec3<f32>) -> bool {
    if params.counts.w > 0u {
        for (var i = 0u; i < params.counts.x; i++) {
            let f = fields[i];
            if is_mass(f) && length2(p - mass_centre(f)) < mass_extent(f) * mass_extent(f) {
                return true;
            }
        }
    }
    return kappa_at(p) > 0.0;
}

// Straight distance from p along unit d before anything bends the ray; < 0: never.
fn straight_distance(p: vec3<f32>, d: vec3<f32>) -> f32 {
    var best = straight_run(p, d);
    if params.counts.w > 0u {
        for (var i = 0u; i < params.counts.x; i++) {
            let f = fields[i];
            if !is_mass(f) {
                continue;
            }
            let oc = p - mass_centre(f);
            let b = dot(oc, d);
            let disc = b * b - (length2(oc) - mass_extent(f) * mass_extent(f));
            if disc >= 0.0 && -b + sqrt(disc) > 0.0 {
                let t = max(-b - sqrt(disc), 0.0);
                best = select(t, min(best, t), best >= 0.0);
            }
        }
    }
    if has_kerr() {
        let f = fields[params.misc.w];
        let oc = p - f.p0.xyz;
        let b = dot(oc, d);
        let r2 = f.p2.x * f.p2.x;
        let disc = b * b - (length2(oc) - r2);
        let leaving = b > 0.0 && length2(oc) > r2 * (1.0 - 2e-5);
        if !leaving && disc >= 0.0 && -b + sqrt(disc) > 0.0 {
            let t = max(-b - sqrt(disc), 0.0);
            best = select(t, min(best, t), best >= 0.0);
        }
    }
    return best;
}

fn kappa_bound(x: vec3<f32>, h: f32) -> f32 {
    var k = kappa_at(x);
    if params.counts.w > 0u {
        for (var i = 0u; i < params.counts.x; i++) {
            let f = fields[i];
            if is_mass(f) {
                let rs = mass_rs(f);
                let r = max(length(x - mass_centre(f)) - h, rs);
                k += 1.5 * rs / (r * r);
            }
        }
    }
    return k;
}

fn captured(x: vec3<f32>) -> bool {
    if params.counts.w > 0u {
        for (var i = 0u; i < params.counts.x; i++) {
            let f = fields[i];
            if is_mass(f) && length2(x - mass_centre(f)) <= mass_rs(f) * mass_rs(f) {
                return true;
            }
        }
    }
    return false;
}

fn advance(s: State, d: Deriv, a: f32) -> State {
    return State(s.x + d.dx * a, s.p + d.dp * a, s.opl + d.dopl * a);
}

struct Step {
    s: State,
    err: f32,
}

// The Dormand-Prince 5(4) tableau DP_A (row i gives stage i from the stages before
// it; row 6 is the 5th-order solution, whose derivative is the 7th stage, FSAL) and
// the error weights DP_E come with the prelude, generated from the CPU integrator's.

// One Dormand-Prince 5(4) step of size h. The seven stages run in a loop so that
// the field code is compiled once (drivers inline every call: unrolled stages made
// the kernel too big to compile in reasonable time on software Vulkan); the sums
// within a stage are unrolled, because llvmpipe ends an invocation's loops after
// 65,535 iterations in all, and every loop turn counts against a long ray.
fn dp_step(s: State, h: f32) -> Step {
    var a = DP_A;
    var kx: array<vec3<f32>, 7>;
    var kp: array<vec3<f32>, 7>;
    var ko: array<f32, 7>;
    var out = s;
    for (var i = 0u; i < 7u; i++) {
        let r = 6u * i;
        let c0 = a[r] * h;
        let c1 = a[r + 1u] * h;
        let c2 = a[r + 2u] * h;
        let c3 = a[r + 3u] * h;
        let c4 = a[r + 4u] * h;
        let c5 = a[r + 5u] * h;
        var st = s;
        st.x += kx[0] * c0 + kx[1] * c1 + kx[2] * c2 + kx[3] * c3 + kx[4] * c4 + kx[5] * c5;
        st.p += kp[0] * c0 + kp[1] * c1 + kp[2] * c2 + kp[3] * c3 + kp[4] * c4 + kp[5] * c5;
        st.opl += ko[0] * c0 + ko[1] * c1 + ko[2] * c2 + ko[3] * c3 + ko[4] * c4 + ko[5] * c5;
        let d = deriv(st);
        kx[i] = d.dx;
        kp[i] = d.dp;
        ko[i] = d.dopl;
        out = st;
    }
    let e = DP_E;
    let e1 = e[0] * h;
    let e3 = e[2] * h;
    let e4 = e[3] * h;
    let e5 = e[4] * h;
    let e6 = e[5] * h;
    let e7 = e[6] * h;
    let ex = kx[0] * e1 + kx[2] * e3 + kx[3] * e4 + kx[4] * e5 + kx[5] * e6 + kx[6] * e7;
    let ep = kp[0] * e1 + kp[2] * e3 + kp[3] * e4 + kp[4] * e5 + kp[5] * e6 + kp[6] * e7;
    // The index at the end is the last stage's (kx = p / n there).
    let n = max(length(out.p) / max(length(kx[6]), 1e-30), 1e-6);
    return Step(out, max(length(ex), length(ep) / max(n, length(out.p))));
}

fn single_mass() -> GpuField {
    return fields[params.misc.z];
}

// Invariants re-imposed after each step (see the CPU integrator).
fn reimpose(s: ptr<function, State>, h0: f32, energy0: f32) {
    let ng = medium_index((*s).x);
    if params.counts.w == 0u {
        let len = length((*s).p);
        if len > 0.0 {
            (*s).p *= ng.x / len;
        }
    } else if params.misc.z != NONE && all(ng.yzw == vec3<f32>(0.0)) {
        let m = single_mass();
        let rs = mass_rs(m);
        let x = (*s).x - mass_centre(m);
        let r = length(x);
        let h_now = length(cross(x, (*s).p));
        let v2 = 2.0 * energy0 + rs * h_now * h_now / (r * r * r);
        if v2 > 0.0 && h_now > 0.0 {
            (*s).p = normalize((*s).p) * sqrt(v2);
            let radial = x / r;
            let vr = radial * dot((*s).p, radial);
            let vt = (*s).p - vr;
            let vt_len = length(vt);
            if vt_len > 0.0 {
                let want = h0 / r;
                let speed = length((*s).p);
                let vt_new = vt * (want / vt_len);
                let vr_len2 = max(speed * speed - want * want, 0.0);
                let vr_sign = sign(dot((*s).p, radial));
                (*s).p = vt_new + radial * (select(vr_sign, 1.0, vr_sign == 0.0) * sqrt(vr_len2));
            }
        }
    }
}

fn launch_speed(s: ptr<function, State>) {
    if params.misc.z == NONE {
        return;
    }
    let m = single_mass();
    let rs = mass_rs(m);
    let x = (*s).x - mass_centre(m);
    let r = length(x);
    if r >= mass_extent(m) || r <= rs {
        return;
    }
    let d = normalize_or_x((*s).p);
    let sin2 = length2(cross(x, d)) / (r * r);
    (*s).p = d / sqrt(1.0 - rs * sin2 / r);
}

fn mass_invariants(s: State) -> vec2<f32> {
    if params.misc.z == NONE {
        return vec2<f32>(0.0);
    }
    let m = single_mass();
    let x = s.x - mass_centre(m);
    let h = length(cross(x, s.p));
    let r = length(x);
    return vec2<f32>(h, 0.5 * length2(s.p) - mass_rs(m) * h * h / (2.0 * r * r * r));
}

// Where the straight piece o + t d, 0 < t <= len, meets the surface; < 0: nowhere.
fn straight_crossing(stop: Stop, o: vec3<f32>, d: vec3<f32>, len: f32) -> f32 {
    var t = -1.0;
    if stop.kind == STOP_PLANE {
        let den = dot(d, stop.b);
        if den == 0.0 {
            return -1.0;
        }
        t = dot(stop.a - o, stop.b) / den;
    } else if stop.kind == STOP_SPHERE {
        let oc = o - stop.a;
        let b = dot(oc, d);
        let disc = b * b - (length2(oc) - stop.radius * stop.radius);
        if disc < 0.0 {
            return -1.0;
        }
        let t0 = -b - sqrt(disc);
        t = select(-b + sqrt(disc), t0, t0 > 0.0);
    }
    if t > 0.0 && t <= len {
        return t;
    }
    return -1.0;
}

// ---- segments against the scene (the consumer of the CPU's trace) ----

struct Consumer {
    mode: u32,
    ray_left: u32,
    length: f32,
    unused: f32,
    hit: Hit,
    hit_position: vec3<f32>,
}

// As the CPU's: a ray's first segment keeps a distance from its start, a later
// one takes hits up to a rounding margin behind its start, and every segment up to
// a margin past its end (a surface at a joint is inside one of the two ranges).
fn segment_ray(start: vec3<f32>, end: vec3<f32>, first: bool) -> Ray {
    let d = end - start;
    let len = max(length(d), 1e-30);
    let eps = SEGMENT_START_EPS * (1.0 + max3(abs(start)));
    let eps_end = SEGMENT_START_EPS * (1.0 + max3(abs(end)));
    return Ray(start, d, select(-eps / len, eps / len, first), 1.0 + eps_end / len);
}

fn envelope_overlaps(start: vec3<f32>, end: vec3<f32>, r: f32) -> bool {
    return scene_envelope(start, end, r);
}

fn consume(c: ptr<function, Consumer>, start: vec3<f32>, end: vec3<f32>, deviation: f32, first: bool) -> u32 {
    let mode = (*c).mode;
    if mode == MODE_NONE {
        return VERDICT_CONTINUE;
    }
    let ray = segment_ray(start, end, first);
    let seg_len = length(end - start);
    let h = scene_intersect(ray, mode == MODE_ANY);
    if h.slot != NONE {
        if mode == MODE_CLOSEST {
            let position = start + (end - start) * h.t;
            (*c).length += seg_len * h.t;
            (*c).unused = medium_index(position).x * (1.0 - h.t) * seg_len;
            (*c).hit = h;
            (*c).hit_position = position;
        }
        return VERDICT_HIT;
    }
    if deviation > 0.0 && (*c).ray_left > 0u && envelope_overlaps(start, end, deviation) {
        (*c).ray_left -= 1u;
        return VERDICT_UNCERTAIN;
    }
    (*c).length += seg_len;
    return VERDICT_CONTINUE;
}

struct TraceOut {
    term: u32,
    position: vec3<f32>,
    direction: vec3<f32>,
    opl: f32,
    steps: u32,
    segments: u32,
    subdivisions: u32,
    hit: Hit,
    path_length: f32,
}

fn finish(c: Consumer, term: u32, s: State, origin: vec3<f32>, steps: u32, segments: u32, subdivisions: u32) -> TraceOut {
    var out = TraceOut(term, s.x, normalize_or_x(s.p), s.opl, steps, segments, subdivisions, no_hit(), c.length);
    if c.mode == MODE_CLOSEST && c.hit.slot != NONE {
        out.position = c.hit_position;
        out.term = TERM_HIT;
        out.opl -= c.unused;
        out.hit = c.hit;
    } else if c.mode == MODE_ANY && term == TERM_HIT {
        out.position = origin;
    }
    return out;
}

const PHASE_STEP: u32 = 0u;
const PHASE_PROBE: u32 = 1u;
const PHASE_CROSS: u32 = 2u;

const EMIT_NONE: u32 = 0u;
const EMIT_STRAIGHT: u32 = 1u;
const EMIT_STOPPED: u32 = 2u;
const EMIT_CURVED: u32 = 3u;

// Traces a curved ray, testing each segment against the scene as it is made
// (`mode`: closest hit, any hit, or no geometry). The logic is the CPU integrator's;
// its shape is a loop with one Runge-Kutta step and one segment test per turn (a
// phase says what the step is for: a normal step, a probe of a sphere the chord
// passes near, or a secant iteration towards a stop surface), so that each is
// compiled once.
//
// `cone` is the beam the ray stands for (integrator::RayCone: width at the origin,
// spread per unit of path; zero: every chord at the scene's tolerance). As on the
// CPU, a ray for a beam relaxes the chord tolerance to a fraction of the beam's width
// where it is. The CPU's other relaxations stay CPU-only: chords that stray where no
// geometry is near (a box query per step cost more here than the 0.4-5% of segments
// it saved: lavapipe, 320x180, black hole 2.72 s against 2.25 s without, mirage 4.9
// against 4.3 s), and a Runge-Kutta tolerance from the beam's spread (below).
fn trace(origin: vec3<f32>, direction: vec3<f32>, cone: vec2<f32>, stop: Stop, mode: u32) -> TraceOut {
    var c = Consumer(mode, params.seed.w, 0.0, 0.0, no_hit(), vec3<f32>(0.0));
    var s = State(origin, normalize_or_x(direction) * medium_index(origin).x, 0.0);
    kerr_rec = KerrRec(1.0, 1.0, 0u, 0u, vec4<f32>(0.0), vec4<f32>(0.0), array<vec4<f32>, 4>(), vec4<f32>(0.0), vec4<f32>(0.0), vec4<u32>(0u));
    kerr_launch(origin, direction);
    launch_speed(&s);
    var steps = 0u;
    var segments = 0u;
    var subdivisions = 0u;
    var gate_budget = params.seed.w;
    var h = 1.0;
    if has_grid() {
        h = grid_cell_min() * 0.25;
    }
    var inv = mass_invariants(s);
    // The Runge-Kutta tolerance stays the scene's. Relaxed to the beam's spread as on
    // the CPU (a hundredth of the pixel angle), steps across a lens's rim, where the
    // gradient jumps and the error estimate is no guide (the CPU ends its steps
    // there), and the mirage's long curved paths (which the CPU follows in closed
    // form) moved 3-4% of the pixels by more than 2/255 from the exact image (at
    // 128x96, 16 spp: Luneburg 96.7%, mirage 95.7% within; 99.9% and 99.7% without).
    let rk = params.tol.z;
    // Path length so far (the beam widens with it).
    var travelled = 0.0;
    var phase = PHASE_STEP;
    // A normal step waiting for a probe's answer.
    var pending = s;
    var pending_err = 0.0;
    var h_try = 0.0;
    var kappa = 0.0;
    // Secant state towards a stop surface.
    var lo = 0.0;
    var hi = 0.0;
    var f_lo = 0.0;
    var f_hi = 0.0;
    var iter = 0u;
    var probe_t = 0.0;
    var escaping = false;
    // Every turn is a step, a straight flight, a probe or a secant iteration: at most
    // a few per step, so this bound is never reached by a ray within its step budget.
    let max_turns = 4u * min(params.seed.z, 0x3fffffffu) + 64u;
    for (var turn = 0u; turn < max_turns; turn++) {
        var emit = EMIT_NONE;
        var seg_start = s.x;
        var seg_end = s.x;
        var seg_dev = 0.0;
        var eval_h = 0.0;
        if phase == PHASE_STEP {
            if steps >= params.seed.z {
                return finish(c, TERM_STEP_BUDGET, s, origin, steps, segments, subdivisions);
            }
            if captured(s.x) {
                return finish(c, TERM_CAPTURED, s, origin, steps, segments, subdivisions);
            }
            if kerr_enters(s.x, normalize_or_x(s.p)) {
                // Across a Kerr hole's region along its geodesic (shaders/kerr.wgsl).
                var w = Walk(steps, segments, subdivisions, gate_budget, travelled);
                let ended = kerr_passage(&c, &s, stop, cone, &w);
                steps = w.steps;
                segments = w.segments;
                subdivisions = w.subdivisions;
                gate_budget = w.gate;
                travelled = w.travelled;
                if ended != KERR_LEFT {
                    return finish(c, ended, s, origin, steps, segments, subdivisions);
                }
                continue;
            }
            let dir = normalize_or_x(s.p);
            var fly = !in_field(s.x);
            var run = -1.0;
            if fly {
                run = straight_distance(s.x, dir);
                // A field that starts within a nudge is stepped into, curved: a
                // flight that short can leave the point where it is in f32. A ray
                // all but parallel to a cell face crawled along it, its x unchanged
                // flight after flight, until its turn budget ran out (800,000
                // turns at the default step budget: most of an H100's heat-haze
                // frame went to a few such rays).
                fly = run < 0.0 || run > grid_nudge(s.x, run);
            }
            if fly {
                // Straight flight to the next field, or to infinity.
                let n = medium_index(s.x).x;
                var len = params.tol.w;
                if run >= 0.0 {
                    len = run + 1e-6 * (1.0 + run + max3(abs(s.x)));
                }
                escaping = run < 0.0;
                let t_stop = straight_crossing(stop, s.x, dir, len);
                emit = EMIT_STRAIGHT;
                if t_stop > 0.0 {
                    len = t_stop;
                    emit = EMIT_STOPPED;
                }
                seg_end = s.x + dir * len;
                s.opl += n * len;
                s.x = seg_end;
                travelled += len;
            } else {
                // Curved step: limited by the chord deviation and the grid cell.
                h_try = h;
                if kappa_at(s.x) > 0.0 || run >= 0.0 {
                    h_try = min(h_try, grid_cell_min());
                }
                if params.counts.w > 0u {
                    for (var i = 0u; i < params.counts.x; i++) {
                        let f = fields[i];
                        if is_mass(f) {
                            h_try = min(h_try, 0.5 * length(s.x - mass_centre(f)));
                        }
                    }
                }
                kappa = kappa_bound(s.x, h_try);
                if run >= 0.0 {
                    // Stepping into a field that starts here: its cell's bound too.
                    kappa += kappa_at(s.x + dir * (run + grid_nudge(s.x, run)));
                }
                if kappa > 0.0 {
                    let geometric = max(params.tol.y, CONE_GEOMETRIC_FRACTION * (cone.x + cone.y * travelled));
                    h_try = min(h_try, sqrt(8.0 * geometric / kappa));
                }
                eval_h = h_try;
            }
        } else if phase == PHASE_PROBE {
            eval_h = probe_t;
        } else {
            var t = 0.5 * (lo + hi);
            if f_hi != f_lo {
                t = hi - f_hi * (hi - lo) / (f_hi - f_lo);
            }
            eval_h = clamp(t, lo + 1e-3 * (hi - lo), hi - 1e-3 * (hi - lo));
        }
        if emit == EMIT_NONE {
            let step = dp_step(s, eval_h);
            if phase == PHASE_STEP {
                steps += 1u;
                if step.err > rk && h_try > 1e-12 {
                    h = h_try * max(0.9 * pow(rk / step.err, 0.2), 0.1);
                    continue;
                }
                pending = step.s;
                pending_err = step.err;
                reimpose(&pending, inv.x, inv.y);
                emit = EMIT_CURVED;
                if stop.kind != STOP_NONE {
                    let a = stop_side(stop, s.x);
                    if a != 0.0 {
                        if a * stop_side(stop, pending.x) <= 0.0 {
                            // The step crosses: find where (the secant method on the
                            // step length, from the unconstrained end).
                            lo = 0.0;
                            hi = h_try;
                            f_lo = a;
                            f_hi = stop_side(stop, step.s.x);
                            iter = 0u;
                            phase = PHASE_CROSS;
                            continue;
                        }
                        if stop.kind == STOP_SPHERE {
                            let chord = pending.x - s.x;
                            let len2 = length2(chord);
                            if len2 > 0.0 {
                                let lambda = clamp(dot(stop.a - s.x, chord) / len2, 0.0, 1.0);
                                let deviation = h_try * h_try * kappa / 8.0;
                                if length(s.x + chord * lambda - stop.a) <= stop.radius + deviation {
                                    probe_t = h_try * lambda;
                                    phase = PHASE_PROBE;
                                    continue;
                                }
                            }
                        }
                    }
                }
            } else if phase == PHASE_PROBE {
                phase = PHASE_STEP;
                if stop_side(stop, step.s.x) * stop_side(stop, s.x) < 0.0 {
                    lo = 0.0;
                    hi = probe_t;
                    f_lo = stop_side(stop, s.x);
                    f_hi = stop_side(stop, step.s.x);
                    iter = 0u;
                    phase = PHASE_CROSS;
                    continue;
                }
                emit = EMIT_CURVED;
            } else {
                let f = stop_side(stop, step.s.x);
                iter += 1u;
                let done = abs(f) < 1e-7 * (1.0 + length(step.s.x)) || (hi - lo) < 1e-7 * h_try || iter >= 40u;
                if !done {
                    if (f < 0.0) == (f_lo < 0.0) {
                        lo = eval_h;
                        f_lo = f;
                    } else {
                        hi = eval_h;
                        f_hi = f;
                    }
                    continue;
                }
                emit = EMIT_STOPPED;
                seg_end = step.s.x;
                seg_dev = eval_h * eval_h * kappa / 8.0;
                s = step.s;
            }
            if emit == EMIT_CURVED {
                seg_end = pending.x;
                seg_dev = h_try * h_try * kappa / 8.0;
            }
        }
        segments += 1u;
        let verdict = consume(&c, seg_start, seg_end, seg_dev, segments == 1u);
        if verdict == VERDICT_HIT {
            if emit == EMIT_CURVED {
                s = pending;
            }
            return finish(c, TERM_HIT, s, origin, steps, segments, subdivisions);
        }
        if emit == EMIT_STOPPED {
            return finish(c, TERM_STOPPED, s, origin, steps, segments, subdivisions);
        }
        if emit == EMIT_STRAIGHT {
            if escaping {
                return finish(c, TERM_ESCAPED, s, origin, steps, segments, subdivisions);
            }
            launch_speed(&s);
            inv = mass_invariants(s);
            continue;
        }
        // A curved step.
        if verdict == VERDICT_UNCERTAIN && gate_budget > 0u && h_try > 1e-9 {
            // Soft gate: forget this step and redo it finer.
            gate_budget -= 1u;
            subdivisions += 1u;
            segments -= 1u;
            h = h_try / 4.0;
            continue;
        }
        s = pending;
        travelled += h_try;
        if pending_err > 0.0 {
            h = h_try * clamp(0.9 * pow(rk / pending_err, 0.2), 0.2, 5.0);
        } else {
            h = h_try * 5.0;
        }
    }
    return finish(c, TERM_STEP_BUDGET, s, origin, steps, segments, subdivisions);
}
