// Straight segments against the TLAS and the BLASes: the binary BVH in the layout of
// renderer-core's accel module (uploaded as-is, indices made global), closest hit,
// any hit, and the box-overlap query of the soft gate.

struct Ray {
    origin: vec3<f32>,
    dir: vec3<f32>,
    t_min: f32,
    t_max: f32,
}

struct Hit {
    t: f32,
    slot: u32,
    instance: u32,
    u: f32,
    v: f32,
    normal: vec3<f32>,
}

fn no_hit() -> Hit {
    return Hit(INF, NONE, NONE, 0.0, 0.0, vec3<f32>(0.0));
}

fn safe_inverse(d: vec3<f32>) -> vec3<f32> {
    let tiny = vec3<f32>(1e-30);
    let s = select(vec3<f32>(-1.0), vec3<f32>(1.0), d >= vec3<f32>(0.0));
    return 1.0 / select(d, s * tiny, abs(d) < tiny);
}

// Entry distance into the node's box within [t_min, t_max], or INF. The exit
// distance is widened by its rounding error (1 + 2 gamma(3), Ize, "Robust BVH Ray
// Traversal", JCGT 2013), so a ray that grazes a box face (a triangle edge that lies
// in it) is not turned away by rounding.
fn slab(n: u32, o: vec3<f32>, inv: vec3<f32>, t_min: f32, t_max: f32) -> f32 {
    let node = nodes[n];
    let t0 = (node.min - o) * inv;
    let t1 = (node.max - o) * inv;
    let lo = max(max3(min(t0, t1)), t_min);
    let hi = min(min3(max(t0, t1)) * 1.0000004, t_max);
    return select(INF, lo, lo <= hi);
}

// A ray in the frame of the watertight triangle test (Woop, Benthin and Wald,
// "Watertight Ray/Triangle Intersection", JCGT 2013): axes rotated so that the
// direction's largest component is z (`kz` names it), the origin rotated alike
// (`o`), and the shear (s.x, s.y) with the scale s.z that map the direction onto +z,
// so a triangle is tested by the 2-D signs of its vertices.
struct RayFrame {
    o: vec3<f32>,
    d: vec3<f32>,
    s: vec3<f32>,
    kz: u32,
}

// `v` with its components rotated so that component `kz` comes last (selects, not
// dynamic indexing, which could put the vector in local memory).
fn rotate_axes(v: vec3<f32>, kz: u32) -> vec3<f32> {
    return select(select(v.zxy, v.yzx, kz == 0u), v, kz == 2u);
}

fn ray_frame(ray: Ray) -> RayFrame {
    let a = abs(ray.dir);
    let kz = select(select(0u, 1u, a.y > a.x), 2u, a.z > max(a.x, a.y));
    let d = rotate_axes(ray.dir, kz);
    // A zero direction gets a zero scale, which every test takes as a miss (no
    // division by zero: WGSL leaves its result open).
    let sz = select(0.0, 1.0 / d.z, d.z != 0.0);
    return RayFrame(rotate_axes(ray.origin, kz), d, vec3<f32>(d.x * sz, d.y * sz, sz), kz);
}

// p.x q.y - p.y q.x for the edge from p to q. The two triangles that share an edge
// see it as (p, q) and (q, p); both evaluate the one expression on the same operands
// in the same order and negate exactly, so their values are exactly opposite even
// where the compiler fuses the multiply and subtract (NVIDIA's does): a ray on the
// edge then meets one of them, never neither.
fn edge_function(p: vec2<f32>, q: vec2<f32>) -> f32 {
    let swap = q.x < p.x || (q.x == p.x && q.y < p.y);
    let lo = select(p, q, swap);
    let hi = select(q, p, swap);
    let e = lo.x * hi.y - lo.y * hi.x;
    return select(e, -e, swap);
}

// The watertight test: (t, u, v) with t < 0 for a miss; u and v are the weights of
// the second and third vertices. Double-sided. As the CPU's (accel::RayFrame), t
// comes from the triangle's plane, n . (a - o) / n . d, which keeps full relative
// precision for planes along the axes (a ray 1e-12 above the ground still meets it
// ahead); the rotation of the axes is a cyclic one, so it keeps cross products.
fn triangle_hit(slot: u32, t_min: f32, f: RayFrame, t_max: f32) -> vec3<f32> {
    let tri = triangles[slot];
    let miss = vec3<f32>(-1.0, 0.0, 0.0);
    if f.s.z == 0.0 {
        return miss;
    }
    let v0 = rotate_axes(tri.v0.xyz, f.kz);
    let n = cross(rotate_axes(tri.v1.xyz - tri.v0.xyz, f.kz), rotate_axes(tri.v2.xyz - tri.v0.xyz, f.kz));
    let a3 = v0 - f.o;
    let b3 = rotate_axes(tri.v1.xyz, f.kz) - f.o;
    let c3 = rotate_axes(tri.v2.xyz, f.kz) - f.o;
    let a = a3.xy - f.s.xy * a3.z;
    let b = b3.xy - f.s.xy * b3.z;
    let c = c3.xy - f.s.xy * c3.z;
    // Twice the signed areas seen from the ray: the weights of a, b and c.
    let u = edge_function(c, b);
    let v = edge_function(a, c);
    let w = edge_function(b, a);
    if (u < 0.0 || v < 0.0 || w < 0.0) && (u > 0.0 || v > 0.0 || w > 0.0) {
        return miss;
    }
    let det = u + v + w;
    let facing = dot(n, f.d);
    if det == 0.0 || facing == 0.0 {
        return miss;
    }
    let inv = 1.0 / det;
    let t = dot(n, a3) / facing;
    if t >= t_min && t <= t_max {
        return vec3<f32>(t, v * inv, w * inv);
    }
    return miss;
}

// One triangle against a ray (the kernel probe's entry point).
fn intersect_triangle(slot: u32, ray: Ray, t_max: f32) -> vec3<f32> {
    return triangle_hit(slot, ray.t_min, ray_frame(ray), t_max);
}

// A closest- or any-hit traversal: the current node and a stack of far children
// with their entry distances (a pop beyond the nearest hit so far is skipped).
struct Traversal {
    node: u32,
    sp: u32,
    stack_node: array<u32, STACK_DEPTH>,
    stack_t: array<f32, STACK_DEPTH>,
}

// At an interior node: goes on to the nearer child the ray meets, keeping the other
// for later; false when it meets neither.
fn descend(tr: ptr<function, Traversal>, n: GpuNode, ray: Ray, inv: vec3<f32>, t_max: f32) -> bool {
    let a = n.left_or_first;
    let b = a + 1u;
    let ta = slab(a, ray.origin, inv, ray.t_min, t_max);
    let tb = slab(b, ray.origin, inv, ray.t_min, t_max);
    let swap = tb < ta;
    let tn = min(ta, tb);
    let tf = max(ta, tb);
    if tn >= INF {
        return false;
    }
    if tf < INF && (*tr).sp < STACK_DEPTH {
        (*tr).stack_node[(*tr).sp] = select(b, a, swap);
        (*tr).stack_t[(*tr).sp] = tf;
        (*tr).sp += 1u;
    }
    (*tr).node = select(a, b, swap);
    return true;
}

// The next waiting node still nearer than t_max; false when none is left.
fn pop(tr: ptr<function, Traversal>, t_max: f32) -> bool {
    while (*tr).sp > 0u {
        (*tr).sp -= 1u;
        if (*tr).stack_t[(*tr).sp] <= t_max {
            (*tr).node = (*tr).stack_node[(*tr).sp];
            return true;
        }
    }
    return false;
}

// The nearest hit in one BLAS (object-space ray), or any hit when `any`.
fn blas_intersect(root: u32, ray: Ray, any: bool) -> Hit {
    var best = no_hit();
    let inv = safe_inverse(ray.dir);
    let frame = ray_frame(ray);
    var t_max = ray.t_max;
    var tr: Traversal;
    tr.node = root;
    loop {
        let n = nodes[tr.node];
        if n.count > 0u {
            for (var k = 0u; k < n.count; k++) {
                let slot = n.left_or_first + k;
                let r = triangle_hit(slot, ray.t_min, frame, t_max);
                if r.x >= 0.0 {
                    t_max = r.x;
                    best = Hit(r.x, slot, NONE, r.y, r.z, vec3<f32>(0.0));
                    if any {
                        return best;
                    }
                }
            }
        } else if descend(&tr, n, ray, inv, t_max) {
            continue;
        }
        if !pop(&tr, t_max) {
            break;
        }
    }
    if best.slot != NONE {
        let tri = triangles[best.slot];
        best.normal = normalize(cross(tri.v1.xyz - tri.v0.xyz, tri.v2.xyz - tri.v0.xyz));
    }
    return best;
}

fn to_object(inst: GpuInstance, p: vec3<f32>, w: f32) -> vec3<f32> {
    let h = vec4<f32>(p, w);
    return vec3<f32>(dot(inst.inv0, h), dot(inst.inv1, h), dot(inst.inv2, h));
}

// The nearest hit of a world-space ray (t in the ray's units), or any hit.
fn scene_intersect(ray: Ray, any: bool) -> Hit {
    var best = no_hit();
    if params.misc.x == 0u {
        return best;
    }
    let inv = safe_inverse(ray.dir);
    var t_max = ray.t_max;
    var tr: Traversal;
    tr.node = 0u;
    loop {
        let n = nodes[tr.node];
        if n.count > 0u {
            for (var k = 0u; k < n.count; k++) {
                let i = tlas_prims[n.left_or_first + k];
                let inst = instances[i];
                if inst.root == NONE {
                    continue;
                }
                let local = Ray(to_object(inst, ray.origin, 1.0), to_object(inst, ray.dir, 0.0), ray.t_min, t_max);
                var h = blas_intersect(inst.root, local, any);
                if h.slot != NONE {
                    h.instance = i;
                    h.normal = normalize(vec3<f32>(dot(inst.nrm0.xyz, h.normal), dot(inst.nrm1.xyz, h.normal), dot(inst.nrm2.xyz, h.normal)));
                    t_max = h.t;
                    best = h;
                    if any {
                        return best;
                    }
                }
            }
        } else if descend(&tr, n, ray, inv, t_max) {
            continue;
        }
        if !pop(&tr, t_max) {
            break;
        }
    }
    return best;
}

fn boxes_overlap(alo: vec3<f32>, ahi: vec3<f32>, blo: vec3<f32>, bhi: vec3<f32>) -> bool {
    return !(any(alo > bhi) || any(ahi < blo));
}

// Whether some triangle's box in the BLAS overlaps [lo, hi] (object space).
fn blas_overlaps(root: u32, lo: vec3<f32>, hi: vec3<f32>) -> bool {
    var stack: array<u32, STACK_DEPTH>;
    var sp = 1u;
    stack[0] = root;
    while sp > 0u {
        sp -= 1u;
        let n = nodes[stack[sp]];
        if !boxes_overlap(n.min, n.max, lo, hi) {
            continue;
        }
        if n.count > 0u {
            for (var k = 0u; k < n.count; k++) {
                let t = triangles[n.left_or_first + k];
                let a = t.v0.xyz;
                let b = t.v1.xyz;
                let c = t.v2.xyz;
                if boxes_overlap(min(a, min(b, c)), max(a, max(b, c)), lo, hi) {
                    return true;
                }
            }
        } else if sp + 2u <= STACK_DEPTH {
            stack[sp] = n.left_or_first;
            stack[sp + 1u] = n.left_or_first + 1u;
            sp += 2u;
        }
    }
    return false;
}

// Whether the spindle over the chord from height `da` to `db` above a plane, straying
// by at most 4 `dev` l (1 - l) at the chord's fraction l, stays more than `margin`
// above it (accel.rs, `Blas::envelope_overlaps`).
fn spindle_above(da: f32, db: f32, dev: f32, margin: f32) -> bool {
    let c = 4.0 * dev;
    var l = select(0.0, 1.0, db < da);
    if c > 0.0 {
        l = clamp((c - (db - da)) / (2.0 * c), 0.0, 1.0);
    }
    return da + l * (db - da) - c * l * (1.0 - l) > margin;
}

// Whether a path with chord a-b straying by at most `dev` may meet a triangle of the
// BLAS (object space): the triangle's box overlaps the chord's grown by `dev`, and
// the path may reach its plane.
fn blas_envelope(root: u32, a: vec3<f32>, b: vec3<f32>, dev: f32) -> bool {
    let margin = 1e-6 * (1.0 + max3(max(abs(a), abs(b))));
    let lo = min(a, b) - vec3<f32>(dev + margin);
    let hi = max(a, b) + vec3<f32>(dev + margin);
    var stack: array<u32, STACK_DEPTH>;
    var sp = 1u;
    stack[0] = root;
    while sp > 0u {
        sp -= 1u;
        let n = nodes[stack[sp]];
        if !boxes_overlap(n.min, n.max, lo, hi) {
            continue;
        }
        if n.count > 0u {
            for (var k = 0u; k < n.count; k++) {
                let t = triangles[n.left_or_first + k];
                let p = t.v0.xyz;
                let q = t.v1.xyz;
                let r = t.v2.xyz;
                if !boxes_overlap(min(p, min(q, r)), max(p, max(q, r)), lo, hi) {
                    continue;
                }
                let nrm = cross(q - p, r - p);
                let len = length(nrm);
                if len == 0.0 {
                    return true;
                }
                let da = dot(a - p, nrm) / len;
                let db = dot(b - p, nrm) / len;
                if !(spindle_above(da, db, dev, margin) || spindle_above(-da, -db, dev, margin)) {
                    return true;
                }
            }
        } else if sp + 2u <= STACK_DEPTH {
            stack[sp] = n.left_or_first;
            stack[sp + 1u] = n.left_or_first + 1u;
            sp += 2u;
        }
    }
    return false;
}

// The soft gate's test: whether a path with chord a-b straying by at most `dev` may
// meet geometry (world space; the chord is carried into each instance's space, its
// deviation stretched by the inverse's Frobenius norm).
fn scene_envelope(a: vec3<f32>, b: vec3<f32>, dev: f32) -> bool {
    if params.misc.x == 0u {
        return false;
    }
    let pad = 1e-5 * (1.0 + max3(max(abs(a), abs(b))));
    let lo = min(a, b) - vec3<f32>(dev + pad);
    let hi = max(a, b) + vec3<f32>(dev + pad);
    var stack: array<u32, STACK_DEPTH>;
    var sp = 1u;
    stack[0] = 0u;
    while sp > 0u {
        sp -= 1u;
        let n = nodes[stack[sp]];
        if !boxes_overlap(n.min, n.max, lo, hi) {
            continue;
        }
        if n.count > 0u {
            for (var k = 0u; k < n.count; k++) {
                let i = tlas_prims[n.left_or_first + k];
                let inst = instances[i];
                if inst.root == NONE {
                    continue;
                }
                let stretch = sqrt(dot(inst.inv0.xyz, inst.inv0.xyz) + dot(inst.inv1.xyz, inst.inv1.xyz)
                    + dot(inst.inv2.xyz, inst.inv2.xyz));
                if blas_envelope(inst.root, to_object(inst, a, 1.0), to_object(inst, b, 1.0), dev * stretch) {
                    return true;
                }
            }
        } else if sp + 2u <= STACK_DEPTH {
            stack[sp] = n.left_or_first;
            stack[sp + 1u] = n.left_or_first + 1u;
            sp += 2u;
        }
    }
    return false;
}

// The soft gate's test: whether geometry may lie in the world box [lo, hi] (the box
// is carried into each instance's space as the bounds of its transformed corners).
fn scene_overlaps(lo: vec3<f32>, hi: vec3<f32>) -> bool {
    if params.misc.x == 0u {
        return false;
    }
    var stack: array<u32, STACK_DEPTH>;
    var sp = 1u;
    stack[0] = 0u;
    while sp > 0u {
        sp -= 1u;
        let n = nodes[stack[sp]];
        if !boxes_overlap(n.min, n.max, lo, hi) {
            continue;
        }
        if n.count > 0u {
            for (var k = 0u; k < n.count; k++) {
                let i = tlas_prims[n.left_or_first + k];
                let inst = instances[i];
                if inst.root == NONE {
                    continue;
                }
                var olo = vec3<f32>(INF);
                var ohi = vec3<f32>(-INF);
                for (var c = 0u; c < 8u; c++) {
                    let corner = select(lo, hi, vec3<bool>((c & 1u) != 0u, (c & 2u) != 0u, (c & 4u) != 0u));
                    let q = to_object(inst, corner, 1.0);
                    olo = min(olo, q);
                    ohi = max(ohi, q);
                }
                if blas_overlaps(inst.root, olo, ohi) {
                    return true;
                }
            }
        } else if sp + 2u <= STACK_DEPTH {
            stack[sp] = n.left_or_first;
            stack[sp + 1u] = n.left_or_first + 1u;
            sp += 2u;
        }
    }
    return false;
}
