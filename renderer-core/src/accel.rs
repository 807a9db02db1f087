//! Acceleration structures: a BLAS (binned-SAH BVH) per mesh, cached by content hash,
//! and a TLAS over transformed instances, rebuilt per frame.
//!
//! Nodes and triangles are `#[repr(C)]` plain data (bytemuck `Pod`), in the layout the
//! GPU backend uploads as-is: a node is 32 bytes, `[min.xyz, left_or_first,
//! max.xyz, count]`; `count == 0` marks an interior node whose children are
//! `left_or_first` and `left_or_first + 1`; a leaf holds `count` primitives from
//! `left_or_first` in the primitive index array.
//!
//! Construction is ours rather than a crate's: the layout must be exactly the one the
//! WGSL traversal reads, and a binned SAH build is short; traversal is ours by design.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};

use bytemuck::{Pod, Zeroable};
use glam::{Affine3A, DVec3, Vec3, Vec3A};
use smallvec::SmallVec;

/// A BVH node in GPU layout.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
pub struct BvhNode {
    /// Bounding box minimum.
    pub min: [f32; 3],
    /// Interior: index of the left child (the right is the next). Leaf: first primitive.
    pub left_or_first: u32,
    /// Bounding box maximum.
    pub max: [f32; 3],
    /// Leaf: number of primitives; 0 for an interior node.
    pub count: u32,
}

/// A triangle in GPU layout: its three vertices exactly as the mesh stores them (the
/// watertight test needs two triangles that share an edge to see the same values).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
pub struct Triangle {
    /// First vertex, then padding.
    pub v0: [f32; 4],
    /// Second vertex, then padding.
    pub v1: [f32; 4],
    /// Third vertex, then padding.
    pub v2: [f32; 4],
}

impl Triangle {
    /// The triangle `a, b, c`.
    #[must_use]
    pub fn new(a: [f32; 3], b: [f32; 3], c: [f32; 3]) -> Self {
        let w = |v: [f32; 3]| [v[0], v[1], v[2], 0.0];
        Self {
            v0: w(a),
            v1: w(b),
            v2: w(c),
        }
    }

    /// The three vertices.
    #[inline(always)]
    #[must_use]
    pub fn vertices(&self) -> [Vec3; 3] {
        [self.v0, self.v1, self.v2].map(|v| Vec3::new(v[0], v[1], v[2]))
    }

    /// The unit geometric normal, `(v1 - v0) x (v2 - v0)` normalised (zero for a
    /// degenerate triangle).
    #[must_use]
    pub fn normal(&self) -> Vec3 {
        geometric_normal(self.vertices())
    }
}

/// The unit normal of the triangle `a, b, c`: `(b - a) x (c - a)` normalised, zero
/// for a degenerate one. Hits from either traversal layout report this.
#[inline]
pub(crate) fn geometric_normal([a, b, c]: [Vec3; 3]) -> Vec3 {
    (b - a).cross(c - a).normalize_or_zero()
}

/// A straight ray with a parameter interval, in f32 (the traversal precision).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ray {
    /// Origin.
    pub origin: Vec3,
    /// Direction (not necessarily unit; t is in its units).
    pub dir: Vec3,
    /// Smallest t accepted.
    pub t_min: f32,
    /// Largest t accepted.
    pub t_max: f32,
}

/// The nearest hit found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    /// Ray parameter.
    pub t: f32,
    /// Triangle index in its mesh's original order.
    pub triangle: u32,
    /// Instance index (0 for a bare BLAS).
    pub instance: u32,
    /// Barycentric u, v.
    pub u: f32,
    /// Barycentric v.
    pub v: f32,
    /// Unit geometric normal (e1 x e2 orientation): object space from a BLAS, world
    /// space from a TLAS.
    pub normal: Vec3,
}

#[derive(Clone, Copy)]
struct Bounds {
    min: Vec3A,
    max: Vec3A,
}

impl Bounds {
    const EMPTY: Self = Self {
        min: Vec3A::splat(f32::INFINITY),
        max: Vec3A::splat(f32::NEG_INFINITY),
    };
    fn grow(&mut self, p: Vec3A) {
        self.min = self.min.min(p);
        self.max = self.max.max(p);
    }
    fn merge(&mut self, o: &Self) {
        self.min = self.min.min(o.min);
        self.max = self.max.max(o.max);
    }
    fn area(&self) -> f32 {
        let e = (self.max - self.min).max(Vec3A::ZERO);
        2.0 * (e.x * e.y + e.y * e.z + e.z * e.x)
    }
}

/// The bounds of the box `[lo, hi]`'s eight corners mapped by `f`.
fn transformed_bounds(lo: Vec3A, hi: Vec3A, f: impl Fn(Vec3A) -> Vec3A) -> Bounds {
    let mut b = Bounds::EMPTY;
    for k in 0..8 {
        b.grow(f(Vec3A::select(
            glam::BVec3A::new(k & 1 != 0, k & 2 != 0, k & 4 != 0),
            hi,
            lo,
        )));
    }
    b
}

/// A BVH over boxes; leaves index `prims`.
#[derive(Debug, Clone, Default)]
pub struct Bvh {
    /// Flattened nodes, root first.
    pub nodes: Vec<BvhNode>,
    /// Primitive indices, grouped by leaf.
    pub prims: Vec<u32>,
}

const BINS: usize = 16;
const LEAF_MAX: usize = 4;

/// A box's centre, where the builder bins it (computed where needed: a stored copy
/// per primitive was 16 MB of a million-triangle build).
#[inline(always)]
fn centroid(b: &(Vec3A, Vec3A)) -> Vec3A {
    (b.0 + b.1) * 0.5
}

impl Bvh {
    /// Builds a binned-SAH BVH over primitive boxes `(min, max)`.
    #[must_use]
    pub fn build(boxes: &[(Vec3A, Vec3A)]) -> Self {
        let mut bvh = Self {
            nodes: Vec::with_capacity(2 * boxes.len().max(1)),
            prims: (0..boxes.len() as u32).collect(),
        };
        bvh.nodes.push(BvhNode::zeroed());
        bvh.subdivide(0, 0, boxes.len(), boxes);
        bvh.nodes.shrink_to_fit();
        bvh
    }

    fn subdivide(&mut self, node: usize, first: usize, count: usize, boxes: &[(Vec3A, Vec3A)]) {
        let mut b = Bounds::EMPTY;
        let mut cb = Bounds::EMPTY;
        for &p in &self.prims[first..first + count] {
            b.grow(boxes[p as usize].0);
            b.grow(boxes[p as usize].1);
            cb.grow(centroid(&boxes[p as usize]));
        }
        let make_leaf = |nodes: &mut Vec<BvhNode>| {
            nodes[node] = BvhNode {
                min: b.min.into(),
                max: b.max.into(),
                left_or_first: first as u32,
                count: count as u32,
            };
        };
        if count <= LEAF_MAX {
            make_leaf(&mut self.nodes);
            return;
        }
        // Binned SAH on each axis; the cheapest split wins.
        let mut best = (f32::INFINITY, 0usize, 0usize);
        #[allow(clippy::needless_range_loop)] // `axis` indexes vectors, not `boxes`
        for axis in 0..3 {
            let (lo, hi) = (cb.min[axis], cb.max[axis]);
            if hi <= lo {
                continue;
            }
            let scale = BINS as f32 / (hi - lo);
            let mut bins = [(Bounds::EMPTY, 0usize); BINS];
            for &p in &self.prims[first..first + count] {
                let i =
                    (((centroid(&boxes[p as usize])[axis] - lo) * scale) as usize).min(BINS - 1);
                bins[i].0.grow(boxes[p as usize].0);
                bins[i].0.grow(boxes[p as usize].1);
                bins[i].1 += 1;
            }
            let mut left_area = [0.0f32; BINS];
            let mut left_count = [0usize; BINS];
            let (mut acc, mut n) = (Bounds::EMPTY, 0);
            for i in 0..BINS - 1 {
                acc.merge(&bins[i].0);
                n += bins[i].1;
                left_area[i] = acc.area();
                left_count[i] = n;
            }
            let (mut acc, mut n) = (Bounds::EMPTY, 0);
            for i in (1..BINS).rev() {
                acc.merge(&bins[i].0);
                n += bins[i].1;
                let cost = left_area[i - 1] * left_count[i - 1] as f32 + acc.area() * n as f32;
                if left_count[i - 1] > 0 && n > 0 && cost < best.0 {
                    best = (cost, axis, i);
                }
            }
        }
        let leaf_cost = b.area() * count as f32;
        if !best.0.is_finite() {
            // Every centroid coincides: split the list in the middle.
            self.split_at(node, first, count, count / 2, b, boxes);
            return;
        }
        if best.0 >= leaf_cost && count <= 16 {
            make_leaf(&mut self.nodes);
            return;
        }
        let (axis, split_bin) = (best.1, best.2);
        let (lo, hi) = (cb.min[axis], cb.max[axis]);
        let scale = BINS as f32 / (hi - lo);
        // Partition in place.
        let (mut i, mut j) = (first, first + count);
        while i < j {
            let p = self.prims[i] as usize;
            let bin = (((centroid(&boxes[p])[axis] - lo) * scale) as usize).min(BINS - 1);
            if bin < split_bin {
                i += 1;
            } else {
                j -= 1;
                self.prims.swap(i, j);
            }
        }
        let left_count = i - first;
        if left_count == 0 || left_count == count {
            self.split_at(node, first, count, count / 2, b, boxes);
            return;
        }
        self.split_at(node, first, count, left_count, b, boxes);
    }

    #[allow(clippy::too_many_arguments)]
    fn split_at(
        &mut self,
        node: usize,
        first: usize,
        count: usize,
        left_count: usize,
        b: Bounds,
        boxes: &[(Vec3A, Vec3A)],
    ) {
        let left = self.nodes.len();
        self.nodes.push(BvhNode::zeroed());
        self.nodes.push(BvhNode::zeroed());
        self.nodes[node] = BvhNode {
            min: b.min.into(),
            max: b.max.into(),
            left_or_first: left as u32,
            count: 0,
        };
        self.subdivide(left, first, left_count, boxes);
        self.subdivide(left + 1, first + left_count, count - left_count, boxes);
    }

    /// Visits the leaves whose boxes the ray meets, nearest first, with `t_max`
    /// shrinking as `leaf` reports hits: `leaf(first slot, prims, t_max) -> new t_max`.
    pub fn traverse(&self, ray: &Ray, mut leaf: impl FnMut(usize, &[u32], f32) -> f32) {
        if self.nodes.is_empty() || self.prims.is_empty() {
            return;
        }
        let inv = ray.dir.recip();
        let mut t_max = ray.t_max;
        // Far children wait with their entry distance: a pop beyond the nearest hit
        // so far is skipped without another box test.
        let mut stack: SmallVec<[(u32, f32); 64]> = SmallVec::new();
        let mut node = 0u32;
        loop {
            let n = &self.nodes[node as usize];
            if n.count > 0 {
                let first = n.left_or_first as usize;
                t_max = leaf(first, &self.prims[first..first + n.count as usize], t_max);
                if t_max < ray.t_min {
                    // The leaf asked to stop (an any-hit query found one).
                    return;
                }
            } else {
                let (a, b) = (n.left_or_first, n.left_or_first + 1);
                let ta = slab(&self.nodes[a as usize], ray.origin, inv, ray.t_min, t_max);
                let tb = slab(&self.nodes[b as usize], ray.origin, inv, ray.t_min, t_max);
                let (near, far, tn, tf) = if ta <= tb {
                    (a, b, ta, tb)
                } else {
                    (b, a, tb, ta)
                };
                if tn.is_finite() {
                    if tf.is_finite() {
                        stack.push((far, tf));
                    }
                    node = near;
                    continue;
                }
            }
            // Pop, skipping boxes now beyond the nearest hit.
            loop {
                let Some((cand, t_enter)) = stack.pop() else {
                    return;
                };
                if t_enter <= t_max {
                    node = cand;
                    break;
                }
            }
        }
    }
}

impl Bvh {
    /// Levels from the root to the deepest leaf (a lone leaf: 1; empty: 0). A
    /// traversal keeps at most this many nodes waiting.
    ///
    /// ```
    /// use glam::Vec3A;
    /// use renderer_core::accel::Bvh;
    /// let boxes: Vec<(Vec3A, Vec3A)> = (0..64)
    ///     .map(|i| (Vec3A::splat(i as f32), Vec3A::splat(i as f32 + 0.5)))
    ///     .collect();
    /// // 64 boxes in leaves of up to 4: at least 16 leaves, so at least 5 levels.
    /// assert!(Bvh::build(&boxes).depth() >= 5);
    /// ```
    #[must_use]
    pub fn depth(&self) -> u32 {
        if self.nodes.is_empty() {
            return 0;
        }
        let mut deepest = 0;
        let mut stack = vec![(0u32, 1u32)];
        while let Some((i, level)) = stack.pop() {
            let n = &self.nodes[i as usize];
            deepest = deepest.max(level);
            // An interior node has both children in the list (an empty tree's root
            // is a leaf of no primitives).
            if n.count == 0 && (n.left_or_first as usize + 1) < self.nodes.len() {
                stack.push((n.left_or_first, level + 1));
                stack.push((n.left_or_first + 1, level + 1));
            }
        }
        deepest
    }

    /// Whether any leaf primitive accepted by `leaf(first slot, prims)` lies in a leaf
    /// whose box overlaps `[lo, hi]`.
    pub fn any_overlap(
        &self,
        lo: Vec3,
        hi: Vec3,
        mut leaf: impl FnMut(usize, &[u32]) -> bool,
    ) -> bool {
        if self.nodes.is_empty() || self.prims.is_empty() {
            return false;
        }
        // A stack on the stack (this runs for every curved step near geometry: a
        // heap stack was a third of a black-hole render in malloc), spilling to the
        // heap only past 64 entries; a plain array, as `SmallVec`'s checks on every
        // push were a twentieth of the query.
        let mut local = [0u32; 64];
        let mut len = 1;
        let mut spill: Vec<u32> = Vec::new();
        loop {
            let i = if let Some(i) = spill.pop() {
                i
            } else if len > 0 {
                len -= 1;
                local[len]
            } else {
                break;
            };
            let n = &self.nodes[i as usize];
            let (nmin, nmax) = (Vec3::from(n.min), Vec3::from(n.max));
            if nmin.cmpgt(hi).any() || nmax.cmplt(lo).any() {
                continue;
            }
            if n.count > 0 {
                let first = n.left_or_first as usize;
                if leaf(first, &self.prims[first..first + n.count as usize]) {
                    return true;
                }
            } else {
                for child in [n.left_or_first, n.left_or_first + 1] {
                    if len < local.len() {
                        local[len] = child;
                        len += 1;
                    } else {
                        spill.push(child);
                    }
                }
            }
        }
        false
    }
}

/// A box's exit distance is widened by this factor, its rounding error
/// (`1 + 2 gamma(3)`, Ize, "Robust BVH Ray Traversal", JCGT 2013): a ray that grazes
/// a box face (a triangle edge lying in it) is not turned away by rounding. The
/// shaders use the same factor.
pub(crate) const ROBUST_EXIT: f32 = 1.0 + 3.0 * f32::EPSILON;

/// Entry distance of the ray into the node's box within [t_min, t_max], or infinity.
#[inline(always)]
fn slab(n: &BvhNode, o: Vec3, inv: Vec3, t_min: f32, t_max: f32) -> f32 {
    let t0 = (Vec3::from(n.min) - o) * inv;
    let t1 = (Vec3::from(n.max) - o) * inv;
    let lo = t0.min(t1).max_element().max(t_min);
    let hi = (t0.max(t1).min_element() * ROBUST_EXIT).min(t_max);
    if lo <= hi { lo } else { f32::INFINITY }
}

/// A ray set up for the watertight triangle test (Woop, Benthin and Wald,
/// "Watertight Ray/Triangle Intersection", JCGT 2013): `k[2]` is the axis of the
/// direction's largest component, and the shear `(s.x, s.y)` with the scale `s.z`
/// maps the direction onto that axis, so a triangle is tested by the 2-D signs of its
/// vertices. Made once per ray and traversal, used for every triangle.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RayFrame {
    /// The axis permutation: `k[2]` the direction's largest axis.
    pub(crate) k: [usize; 3],
    /// The shear `(x, y)` and the scale `z`; a zero scale for a zero direction,
    /// which every test takes as a miss.
    pub(crate) s: Vec3,
    pub(crate) origin: Vec3,
    pub(crate) dir: Vec3,
    pub(crate) t_min: f32,
}

impl RayFrame {
    #[inline(always)]
    pub(crate) fn new(ray: &Ray) -> Self {
        let a = ray.dir.abs();
        let kz = if a.z > a.x.max(a.y) {
            2
        } else {
            usize::from(a.y > a.x)
        };
        let (kx, ky) = ((kz + 1) % 3, (kz + 2) % 3);
        let dz = ray.dir[kz];
        // A zero direction gets a zero scale, which every test takes as a miss.
        let sz = if dz == 0.0 { 0.0 } else { 1.0 / dz };
        Self {
            k: [kx, ky, kz],
            s: Vec3::new(ray.dir[kx] * sz, ray.dir[ky] * sz, sz),
            origin: ray.origin,
            dir: ray.dir,
            t_min: ray.t_min,
        }
    }

    /// `(t, u, v)` (u and v the weights of `b` and `c`) if the ray meets the triangle
    /// `a, b, c` within `[t_min, t_max]`; double-sided. Two triangles that share an
    /// edge compute exactly opposite values for it (the same products, subtracted
    /// the other way round; Rust never fuses them), so a ray on the edge meets one of
    /// them, never neither.
    ///
    /// `t` comes from the triangle's plane, `n . (a - o) / n . d` with
    /// `n = (b - a) x (c - a)`, not from the sheared coordinates: for a plane along
    /// the axes (a ground, a wall) it keeps full relative precision, so a ray that
    /// starts 1e-12 above the ground still meets it at t > 0 (the shear mixes the
    /// tiny height with coordinates of the size of the triangle).
    #[inline(always)]
    pub(crate) fn hit(&self, a: Vec3, b: Vec3, c: Vec3, t_max: f32) -> Option<(f32, f32, f32)> {
        if self.s.z == 0.0 {
            return None;
        }
        let [kx, ky, kz] = self.k;
        let n = (b - a).cross(c - a);
        let (a, b, c) = (a - self.origin, b - self.origin, c - self.origin);
        let (ax, ay) = (a[kx] - self.s.x * a[kz], a[ky] - self.s.y * a[kz]);
        let (bx, by) = (b[kx] - self.s.x * b[kz], b[ky] - self.s.y * b[kz]);
        let (cx, cy) = (c[kx] - self.s.x * c[kz], c[ky] - self.s.y * c[kz]);
        // Twice the signed areas seen from the ray: the weights of a, b and c.
        let u = cx * by - cy * bx;
        let v = ax * cy - ay * cx;
        let w = bx * ay - by * ax;
        if (u < 0.0 || v < 0.0 || w < 0.0) && (u > 0.0 || v > 0.0 || w > 0.0) {
            return None;
        }
        let det = u + v + w;
        let facing = n.dot(self.dir);
        if det == 0.0 || facing == 0.0 {
            return None;
        }
        let t = n.dot(a) / facing;
        let inv = 1.0 / det;
        (t >= self.t_min && t <= t_max).then_some((t, v * inv, w * inv))
    }
}

/// The watertight ray-triangle test (Woop, Benthin and Wald; the shaders' is the same):
/// `(t, u, v)` if the ray meets the triangle within `[ray.t_min, t_max]`, u and v
/// the weights of the second and third vertices.
#[inline(always)]
#[must_use]
pub fn intersect_triangle(tri: &Triangle, ray: &Ray, t_max: f32) -> Option<(f32, f32, f32)> {
    let [a, b, c] = tri.vertices();
    RayFrame::new(ray).hit(a, b, c, t_max)
}

/// Why a mesh cannot be used (its messages read after "mesh NAME").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MeshError {
    /// No triangles at all.
    #[error("has no triangles")]
    NoTriangles,
    /// A triangle refers to a vertex that does not exist.
    #[error("has a triangle index ({index}) past its {vertices} vertices")]
    IndexOutOfRange {
        /// The index.
        index: u32,
        /// How many vertices there are.
        vertices: usize,
    },
    /// A position is NaN or infinite.
    #[error("has a non-finite vertex")]
    NonFiniteVertex,
    /// Texture coordinates exist for some vertices but not all.
    #[error("has texture coordinates for some vertices only")]
    PartialUvs,
    /// [`Mesh::with_uvs`] got a different number of coordinates than vertices.
    #[error("{uvs} texture coordinates for {vertices} vertices")]
    UvCount {
        /// Coordinates given.
        uvs: usize,
        /// Vertices.
        vertices: usize,
    },
    /// A texture coordinate is NaN or infinite.
    #[error("a texture coordinate is not finite")]
    NonFiniteUv,
}

/// A triangle mesh: positions, index triples and optional texture coordinates.
///
/// A host building meshes by hand should use [`Mesh::new`], which checks the indices
/// (the BLAS builder indexes `positions` directly).
///
/// ```
/// use renderer_core::accel::Mesh;
/// let quad = Mesh::new(
///     vec![[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 1.0, 0.0]],
///     vec![[0, 1, 2], [0, 2, 3]],
/// )
/// .unwrap();
/// assert!(Mesh::new(vec![[0.0; 3]], vec![[0, 1, 2]]).is_err());
/// # let _ = quad;
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Mesh {
    /// Vertex positions.
    pub positions: Vec<[f32; 3]>,
    /// Triangles as vertex index triples.
    pub indices: Vec<[u32; 3]>,
    /// Texture coordinates per vertex (empty: the mesh has none).
    pub uvs: Vec<[f32; 2]>,
}

impl Mesh {
    /// A checked mesh: at least one triangle, every index within `positions`, finite
    /// positions.
    ///
    /// # Errors
    /// The first problem found ([`MeshError`]).
    pub fn new(positions: Vec<[f32; 3]>, indices: Vec<[u32; 3]>) -> Result<Self, MeshError> {
        let mesh = Self {
            positions,
            indices,
            uvs: Vec::new(),
        };
        mesh.check()?;
        Ok(mesh)
    }

    /// Adds per-vertex texture coordinates.
    ///
    /// # Errors
    /// If their count differs from the vertex count or one is not finite.
    pub fn with_uvs(mut self, uvs: Vec<[f32; 2]>) -> Result<Self, MeshError> {
        if uvs.len() != self.positions.len() {
            return Err(MeshError::UvCount {
                uvs: uvs.len(),
                vertices: self.positions.len(),
            });
        }
        if uvs.iter().flatten().any(|v| !v.is_finite()) {
            return Err(MeshError::NonFiniteUv);
        }
        self.uvs = uvs;
        Ok(self)
    }

    /// Checks what [`Mesh::new`] checks.
    ///
    /// # Errors
    /// The first problem found ([`MeshError`]).
    pub fn check(&self) -> Result<(), MeshError> {
        if self.indices.is_empty() {
            return Err(MeshError::NoTriangles);
        }
        if let Some(&index) = self
            .indices
            .iter()
            .flatten()
            .find(|&&k| k as usize >= self.positions.len())
        {
            return Err(MeshError::IndexOutOfRange {
                index,
                vertices: self.positions.len(),
            });
        }
        if self.positions.iter().flatten().any(|v| !v.is_finite()) {
            return Err(MeshError::NonFiniteVertex);
        }
        if !self.uvs.is_empty() && self.uvs.len() != self.positions.len() {
            return Err(MeshError::PartialUvs);
        }
        Ok(())
    }

    /// Interpolated texture coordinates on triangle `tri` at barycentrics (`u`, `v`),
    /// if the mesh has them.
    #[must_use]
    pub fn uv_at(&self, tri: u32, u: f32, v: f32) -> Option<[f32; 2]> {
        if self.uvs.is_empty() {
            return None;
        }
        let [a, b, c] = self
            .indices
            .get(tri as usize)?
            .map(|k| self.uvs[k as usize]);
        let w = 1.0 - u - v;
        Some([
            w * a[0] + u * b[0] + v * c[0],
            w * a[1] + u * b[1] + v * c[1],
        ])
    }

    /// A hash of the mesh's content (positions and indices), for the BLAS cache.
    #[must_use]
    pub fn content_hash(&self) -> u64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        bytemuck::cast_slice::<[f32; 3], u8>(&self.positions).hash(&mut h);
        bytemuck::cast_slice::<[u32; 3], u8>(&self.indices).hash(&mut h);
        h.finish()
    }
}

/// A bottom-level acceleration structure: one mesh's BVH, as the CPU traverses it (a
/// 4-wide tree whose leaves hold the triangles), and, once a GPU asks for it, the
/// binary layout the shaders read ([`Blas::binary`]).
#[derive(Debug, Clone)]
pub struct Blas {
    /// Object-space bounds.
    pub bounds: (Vec3A, Vec3A),
    /// The 4-wide BVH the CPU traverses.
    wide: crate::wide::Bvh4,
    /// The GPU layout, built on first use.
    binary: OnceLock<BinaryLayout>,
}

/// A mesh's BVH in the GPU's layout: binary nodes and the triangles in leaf order.
#[derive(Debug, Clone)]
pub struct BinaryLayout {
    /// The BVH (its `prims` map leaf slots to the mesh's triangle indices).
    pub bvh: Bvh,
    /// Triangles in `bvh.prims` order (GPU layout).
    pub triangles: Vec<Triangle>,
}

impl BinaryLayout {
    /// The layout of `mesh`; every index must be valid.
    #[must_use]
    pub fn build(mesh: &Mesh) -> Self {
        Self::from_bvh(Bvh::build(&triangle_boxes(mesh)), mesh)
    }

    /// The layout of `bvh`, built over `mesh`'s triangle boxes.
    fn from_bvh(bvh: Bvh, mesh: &Mesh) -> Self {
        let triangles = bvh
            .prims
            .iter()
            .map(|&p| {
                let [a, b, c] = corners(mesh, p);
                Triangle::new(a, b, c)
            })
            .collect();
        Self { bvh, triangles }
    }
}

/// The vertices of `mesh`'s triangle `t`.
#[inline]
fn corners(mesh: &Mesh, t: u32) -> [[f32; 3]; 3] {
    mesh.indices[t as usize].map(|i| mesh.positions[i as usize])
}

/// Each triangle's bounding box.
fn triangle_boxes(mesh: &Mesh) -> Vec<(Vec3A, Vec3A)> {
    (0..mesh.indices.len() as u32)
        .map(|t| {
            let [a, b, c] = corners(mesh, t).map(Vec3A::from);
            (a.min(b).min(c), a.max(b).max(c))
        })
        .collect()
}

impl Blas {
    /// Builds the BLAS of `mesh`. Indices out of range are skipped by the caller's
    /// validation; here every index must be valid.
    ///
    /// The binary tree the 4-wide one is collapsed from is dropped here: a host
    /// rendering on the CPU keeps one copy of the triangles (in the wide leaves)
    /// besides its mesh.
    #[must_use]
    pub fn build(mesh: &Mesh) -> Self {
        Self::build_keeping(mesh, false)
    }

    /// As [`Blas::build`], keeping the binary tree as the GPU layout when
    /// `keep_binary` (a renderer on a GPU: [`Blas::binary`] then builds nothing).
    #[must_use]
    pub fn build_keeping(mesh: &Mesh, keep_binary: bool) -> Self {
        let (bvh, bounds) = {
            let boxes = triangle_boxes(mesh);
            let bounds = boxes.iter().fold(
                (Vec3A::splat(f32::INFINITY), Vec3A::splat(f32::NEG_INFINITY)),
                |acc, b| (acc.0.min(b.0), acc.1.max(b.1)),
            );
            (Bvh::build(&boxes), bounds)
        };
        let wide = crate::wide::Bvh4::from_binary(&bvh, |p| corners(mesh, p));
        let binary = OnceLock::new();
        if keep_binary {
            let _ = binary.set(BinaryLayout::from_bvh(bvh, mesh));
        }
        Self {
            wide,
            bounds,
            binary,
        }
    }

    /// The GPU layout of this BLAS, built from `mesh` (the mesh this BLAS was built
    /// from) on the first call and kept.
    pub fn binary(&self, mesh: &Mesh) -> &BinaryLayout {
        self.binary.get_or_init(|| BinaryLayout::build(mesh))
    }

    /// Host bytes held: the CPU's tree, and the GPU layout when one was built.
    #[must_use]
    pub fn bytes(&self) -> u64 {
        let binary = self.binary.get().map_or(0, |b| {
            std::mem::size_of_val(b.bvh.nodes.as_slice())
                + std::mem::size_of_val(b.bvh.prims.as_slice())
                + std::mem::size_of_val(b.triangles.as_slice())
        });
        self.wide.bytes() + binary as u64
    }

    /// The nearest hit of `ray` (object space).
    #[must_use]
    pub fn intersect(&self, ray: &Ray) -> Option<Hit> {
        let best = self.wide.intersect(ray, false);
        best.map(|(lane, t, u, v)| Hit {
            t,
            triangle: self.wide.triangle(lane),
            instance: 0,
            u,
            v,
            normal: self.wide.normal(lane),
        })
    }
}

impl Blas {
    /// Whether the ray meets any triangle within its interval (any hit, not the
    /// nearest: for shadow rays).
    #[must_use]
    pub fn occluded(&self, ray: &Ray) -> bool {
        self.wide.intersect(ray, true).is_some()
    }

    /// Whether a path whose chord is `a`-`b` and which strays from it by at most
    /// `deviation` (object space) may meet some triangle: the triangle's bounding
    /// box overlaps the chord's grown by `deviation`, and the path may reach the
    /// triangle's plane. A path of bounded curvature through both ends of its chord
    /// strays by at most 4 `deviation` l (1 - l) at the chord's fraction l (a
    /// spindle, thin at the ends), so a chord leaving a surface, or passing
    /// outside a convex mesh, is not taken for one that may hit it.
    #[must_use]
    pub fn envelope_overlaps(&self, a: DVec3, b: DVec3, deviation: f64) -> bool {
        // f32 triangles: the margin covers their rounding.
        let margin = 1e-6 * (1.0 + a.abs().max(b.abs()).max_element());
        let r = deviation + margin;
        let lo = (a.min(b) - DVec3::splat(r)).as_vec3();
        let hi = (a.max(b) + DVec3::splat(r)).as_vec3();
        // Whether the spindle stays more than the margin above the plane, given
        // the chord ends' heights above it.
        let above = |da: f64, db: f64| {
            let c = 4.0 * deviation;
            let l = if c > 0.0 {
                ((c - (db - da)) / (2.0 * c)).clamp(0.0, 1.0)
            } else if db < da {
                1.0
            } else {
                0.0
            };
            da + l * (db - da) - c * l * (1.0 - l) > margin
        };
        self.wide.any_triangle(lo, hi, |[p, q, t]| {
            let (tmin, tmax) = (p.min(q).min(t), p.max(q).max(t));
            if tmin.cmpgt(hi).any() || tmax.cmplt(lo).any() {
                return false;
            }
            let (p, q, t) = (p.as_dvec3(), q.as_dvec3(), t.as_dvec3());
            let n = (q - p).cross(t - p);
            let len = n.length();
            if len == 0.0 {
                return true;
            }
            let (da, db) = ((a - p).dot(n) / len, (b - p).dot(n) / len);
            !(above(da, db) || above(-da, -db))
        })
    }

    /// Whether some triangle's bounding box overlaps the box `[lo, hi]` (object
    /// space): a conservative "geometry may be here" test.
    #[must_use]
    pub fn overlaps_box(&self, lo: Vec3, hi: Vec3) -> bool {
        self.wide.any_triangle(lo, hi, |[a, b, c]| {
            let (tmin, tmax) = (a.min(b).min(c), a.max(b).max(c));
            !(tmin.cmpgt(hi).any() || tmax.cmplt(lo).any())
        })
    }
}

/// BLASes shared between frames and scenes, keyed by mesh content hash. The cache
/// holds them weakly: a BLAS lives while a prepared scene uses it (a host rebuilding
/// its scene every frame, or a batch's resident scenes, reuse it) and is freed with
/// the last scene that does, so a long batch does not keep every mesh it ever saw.
#[derive(Debug, Default)]
pub struct BlasCache {
    map: Mutex<HashMap<u64, Weak<Blas>>>,
    /// Whether BLASes keep their binary tree as the GPU layout.
    keep_binary: bool,
    /// BLASes built so far (cache misses).
    builds: AtomicU64,
}

impl BlasCache {
    /// A cache for a renderer on a GPU: the BLASes it builds keep their binary tree
    /// as the GPU layout ([`Blas::build_keeping`]).
    #[must_use]
    pub fn for_gpu() -> Self {
        Self {
            keep_binary: true,
            ..Self::default()
        }
    }

    /// The BLAS of `mesh`, built unless a live one exists.
    pub fn get(&self, mesh: &Mesh) -> Arc<Blas> {
        let key = mesh.content_hash();
        if let Some(b) = self
            .map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
            .and_then(Weak::upgrade)
        {
            return b;
        }
        let blas = Arc::new(Blas::build_keeping(mesh, self.keep_binary));
        self.builds.fetch_add(1, Ordering::Relaxed);
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        map.retain(|_, b| b.strong_count() > 0);
        if let Some(other) = map.get(&key).and_then(Weak::upgrade) {
            // Built by another thread meanwhile: share that one.
            return other;
        }
        map.insert(key, Arc::downgrade(&blas));
        blas
    }

    /// Number of live cached BLASes.
    #[must_use]
    pub fn len(&self) -> usize {
        self.map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .filter(|b| b.strong_count() > 0)
            .count()
    }

    /// Whether the cache is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many BLASes this cache has built (its misses) since it was made: a host
    /// that moves objects sees it stand still.
    #[must_use]
    pub fn builds(&self) -> u64 {
        self.builds.load(Ordering::Relaxed)
    }
}

/// An instance: a BLAS placed in the world.
#[derive(Debug, Clone)]
pub struct Instance {
    /// The geometry.
    pub blas: Arc<Blas>,
    /// Object-to-world transform.
    pub transform: Affine3A,
}

/// The top-level structure: a BVH over instances' world boxes.
#[derive(Debug, Clone)]
pub struct Tlas {
    bvh: Bvh,
    instances: Vec<Instance>,
    inverses: Vec<Affine3A>,
}

impl Tlas {
    /// Builds the TLAS over `instances`.
    #[must_use]
    pub fn build(instances: Vec<Instance>) -> Self {
        let boxes: Vec<(Vec3A, Vec3A)> = instances
            .iter()
            .map(|i| {
                let (lo, hi) = i.blas.bounds;
                let b = transformed_bounds(lo, hi, |c| i.transform.transform_point3a(c));
                (b.min, b.max)
            })
            .collect();
        let inverses = instances.iter().map(|i| i.transform.inverse()).collect();
        Self {
            bvh: Bvh::build(&boxes),
            instances,
            inverses,
        }
    }

    /// The instances.
    #[must_use]
    pub fn instances(&self) -> &[Instance] {
        &self.instances
    }

    /// Whether some triangle's bounding box may overlap the world box `[lo, hi]`
    /// (conservative: the box is carried into each instance's space as the bounds of
    /// its transformed corners).
    #[must_use]
    pub fn overlaps_box(&self, lo: Vec3, hi: Vec3) -> bool {
        self.bvh.any_overlap(lo, hi, |_, prims| {
            prims.iter().any(|&i| {
                let inv = &self.inverses[i as usize];
                let blas = &self.instances[i as usize].blas;
                if *inv == Affine3A::IDENTITY {
                    // The same box, without transforming its 8 corners.
                    return blas.overlaps_box(lo, hi);
                }
                let b = transformed_bounds(lo.into(), hi.into(), |c| inv.transform_point3a(c));
                blas.overlaps_box(b.min.into(), b.max.into())
            })
        })
    }

    /// Whether a path with chord `a`-`b` straying by at most `deviation` may meet
    /// some instance's triangle (world space; see [`Blas::envelope_overlaps`]).
    #[must_use]
    pub fn envelope_overlaps(&self, a: DVec3, b: DVec3, deviation: f64) -> bool {
        let pad = 1e-5 * (1.0 + a.abs().max(b.abs()).max_element());
        let lo = (a.min(b) - DVec3::splat(deviation + pad)).as_vec3();
        let hi = (a.max(b) + DVec3::splat(deviation + pad)).as_vec3();
        self.bvh.any_overlap(lo, hi, |_, prims| {
            prims.iter().any(|&i| {
                let inv = self.inverses[i as usize].as_daffine3();
                // The inverse stretches distances by at most its Frobenius norm.
                let m = inv.matrix3;
                let stretch = (m.x_axis.length_squared()
                    + m.y_axis.length_squared()
                    + m.z_axis.length_squared())
                .sqrt();
                self.instances[i as usize].blas.envelope_overlaps(
                    inv.transform_point3(a),
                    inv.transform_point3(b),
                    deviation * stretch,
                )
            })
        })
    }

    /// `ray` in instance `i`'s object space, up to `t_max` (same parameter t).
    fn local_ray(&self, i: u32, ray: &Ray, t_max: f32) -> Ray {
        let inv = &self.inverses[i as usize];
        Ray {
            origin: inv.transform_point3(ray.origin),
            dir: inv.transform_vector3(ray.dir),
            t_min: ray.t_min,
            t_max,
        }
    }

    /// Whether a world-space ray meets any triangle within its interval.
    #[must_use]
    pub fn occluded(&self, ray: &Ray) -> bool {
        let mut found = false;
        self.bvh.traverse(ray, |_, prims, t_max| {
            for &i in prims {
                if self.instances[i as usize]
                    .blas
                    .occluded(&self.local_ray(i, ray, t_max))
                {
                    found = true;
                    return f32::NEG_INFINITY;
                }
            }
            t_max
        });
        found
    }

    /// The nearest hit of a world-space ray. The object-space ray keeps the same
    /// parameter t (its direction is transformed, not renormalised).
    #[must_use]
    pub fn intersect(&self, ray: &Ray) -> Option<Hit> {
        let mut best: Option<Hit> = None;
        self.bvh.traverse(ray, |_, prims, t_max| {
            let mut t_max = t_max;
            for &i in prims {
                let inv = &self.inverses[i as usize];
                let local = self.local_ray(i, ray, t_max);
                if let Some(mut h) = self.instances[i as usize].blas.intersect(&local) {
                    h.instance = i;
                    // Normals transform by the inverse transpose.
                    h.normal = (inv.matrix3.transpose() * glam::Vec3A::from(h.normal))
                        .normalize_or_zero()
                        .into();
                    t_max = h.t;
                    best = Some(h);
                }
            }
            t_max
        });
        best
    }
}

impl Tlas {
    /// The BVH over instances (leaves index [`Tlas::instances`]).
    pub(crate) fn bvh(&self) -> &Bvh {
        &self.bvh
    }

    /// World-to-object transform of each instance.
    pub(crate) fn inverses(&self) -> &[Affine3A] {
        &self.inverses
    }
}

#[cfg(test)]
mod tests;
