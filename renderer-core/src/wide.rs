//! The CPU's traversal structure: a 4-wide BVH collapsed from the binary one (whose
//! GPU layout stays the reference). A node holds its four children's boxes as
//! structure-of-arrays lanes, so one ray meets four boxes in a handful of vector
//! operations, and a traversal visits about half as many nodes. Its leaves hold the
//! triangles themselves (four to a leaf record, as lanes), so the CPU keeps nothing
//! else of a mesh's acceleration structure: box queries walk the same tree.

use glam::{Vec3, Vec4};
use smallvec::SmallVec;

use crate::accel::{Bvh, ROBUST_EXIT, Ray, RayFrame, geometric_normal};

/// Child slot contents: an interior node, a leaf (its first [`Leaf4`] and how many
/// follow it: a binary leaf holds up to 16 triangles), or nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Child {
    Empty,
    Node(u32),
    Leaf(u32, u32),
}

/// A [`Child`] in one word, as nodes and the traversal stack hold it (a node is then
/// 128 bytes, two cache lines, where the enum made it 160): an interior node's
/// index; or, with the top bit set, a leaf's first [`Leaf4`] in the low 27 bits and
/// its count less one in the next 4; or `u32::MAX` for nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Packed(u32);

impl Packed {
    const EMPTY: Self = Self(u32::MAX);
    const LEAF: u32 = 1 << 31;
    /// The most [`Leaf4`]s one packed leaf holds.
    const LEAF_RUN: u32 = 16;
    /// Leaves and nodes are indexed below this.
    const INDEX_LIMIT: u32 = 1 << 27;

    fn pack(c: Child) -> Self {
        match c {
            Child::Empty => Self::EMPTY,
            Child::Node(i) => Self(i),
            Child::Leaf(first, n) => Self(Self::LEAF | ((n - 1) << 27) | first),
        }
    }

    #[inline(always)]
    fn unpack(self) -> Child {
        if self.0 == u32::MAX {
            Child::Empty
        } else if self.0 & Self::LEAF == 0 {
            Child::Node(self.0)
        } else {
            Child::Leaf(self.0 & (Self::INDEX_LIMIT - 1), ((self.0 >> 27) & 15) + 1)
        }
    }
}

/// Four children's boxes, one lane each, and what each child is.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(64))]
struct Node4 {
    min: [[f32; 4]; 3],
    max: [[f32; 4]; 3],
    child: [Packed; 4],
}

/// Up to four triangles of one leaf as structure-of-arrays lanes, tested against a
/// ray together; `tri` names each lane's triangle by its index in the mesh
/// (`u32::MAX`: an empty lane).
#[derive(Debug, Clone, Copy)]
#[repr(C, align(32))]
struct Leaf4 {
    // First: each lane's test begins by reading it, with v0 in the same cache line.
    tri: [u32; 4],
    v0: [[f32; 4]; 3],
    v1: [[f32; 4]; 3],
    v2: [[f32; 4]; 3],
}

/// A leaf hit: the lane's [`LaneRef`], t, barycentric u and v.
pub(crate) type LeafHit = (LaneRef, f32, f32, f32);

/// One lane of one leaf record: `leaf * 4 + lane`. [`Bvh4::triangle`] and
/// [`Bvh4::normal`] read the triangle it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LaneRef(u32);

/// A triangle's three vertices, as the mesh stores them.
pub(crate) type Corners = [[f32; 3]; 3];

impl Leaf4 {
    /// The watertight test on the four lanes: the nearest hit within
    /// [t_min, t_max], as (lane, t, u, v).
    ///
    /// [`RayFrame::hit`] on every lane at once: the same operations in the same
    /// order in each lane (IEEE arithmetic per lane, nothing fused), so the same
    /// values; the nearest lane wins and, where two lanes meet the ray at the same
    /// t, the later one, as testing them one by one against a shrinking t_max does.
    #[inline(always)]
    fn intersect(&self, frame: &RayFrame, t_max: f32) -> Option<(usize, f32, f32, f32)> {
        if frame.s.z == 0.0 {
            return None;
        }
        let (k, s, o, d) = (
            frame.k,
            frame.s.to_array(),
            frame.origin.to_array(),
            frame.dir.to_array(),
        );
        let t_min = frame.t_min;
        let col = |v: &[[f32; 4]; 3], axis: usize| Vec4::from_array(v[axis]);
        let sub3 = |v: &[[f32; 4]; 3]| [0, 1, 2].map(|a| col(v, a) - Vec4::splat(o[a]));
        // The normal from the vertices as stored, (b - a) x (c - a).
        let e1 = [0, 1, 2].map(|a| col(&self.v1, a) - col(&self.v0, a));
        let e2 = [0, 1, 2].map(|a| col(&self.v2, a) - col(&self.v0, a));
        let n = [
            e1[1] * e2[2] - e2[1] * e1[2],
            e1[2] * e2[0] - e2[2] * e1[0],
            e1[0] * e2[1] - e2[0] * e1[1],
        ];
        let (a, b, c) = (sub3(&self.v0), sub3(&self.v1), sub3(&self.v2));
        let (sx, sy) = (Vec4::splat(s[0]), Vec4::splat(s[1]));
        let shear = |p: &[Vec4; 3]| (p[k[0]] - sx * p[k[2]], p[k[1]] - sy * p[k[2]]);
        let (ax, ay) = shear(&a);
        let (bx, by) = shear(&b);
        let (cx, cy) = shear(&c);
        let u = cx * by - cy * bx;
        let v = ax * cy - ay * cx;
        let w = bx * ay - by * ax;
        let zero = Vec4::ZERO;
        let mixed = (u.cmplt(zero) | v.cmplt(zero) | w.cmplt(zero))
            & (u.cmpgt(zero) | v.cmpgt(zero) | w.cmpgt(zero));
        let det = u + v + w;
        let facing = n[0] * Vec4::splat(d[0]) + n[1] * Vec4::splat(d[1]) + n[2] * Vec4::splat(d[2]);
        let t = (n[0] * a[0] + n[1] * a[1] + n[2] * a[2]) / facing;
        let ok = !mixed
            & det.cmpne(zero)
            & facing.cmpne(zero)
            & t.cmpge(Vec4::splat(t_min))
            & t.cmple(Vec4::splat(t_max));
        let mut mask = ok.bitmask();
        if mask == 0 {
            return None;
        }
        let ts = t.to_array();
        let mut best = None;
        let mut bt = t_max;
        while mask != 0 {
            let l = mask.trailing_zeros() as usize;
            mask &= mask - 1;
            // Empty lanes hold a zero triangle (no normal): never ok, but say so.
            if self.tri[l] != u32::MAX && ts[l] <= bt {
                bt = ts[l];
                best = Some(l);
            }
        }
        let l = best?;
        let inv = 1.0 / det.to_array()[l];
        Some((l, ts[l], v.to_array()[l] * inv, w.to_array()[l] * inv))
    }

    /// Lane `l`'s vertices.
    #[inline(always)]
    fn corners(&self, l: usize) -> [Vec3; 3] {
        let lane = |v: &[[f32; 4]; 3]| Vec3::new(v[0][l], v[1][l], v[2][l]);
        [lane(&self.v0), lane(&self.v1), lane(&self.v2)]
    }
}

/// The children of the wide node over binary interior node `n`: its descendants
/// after opening, while fewer than four, the interior one of largest surface area.
fn kids(bvh: &Bvh, n: u32) -> SmallVec<[u32; 4]> {
    let node = &bvh.nodes[n as usize];
    let mut kids: SmallVec<[u32; 4]> = SmallVec::new();
    kids.extend([node.left_or_first, node.left_or_first + 1]);
    while kids.len() < 4 {
        let best = kids
            .iter()
            .enumerate()
            .filter(|(_, k)| bvh.nodes[**k as usize].count == 0)
            .max_by(|a, b| {
                let na = &bvh.nodes[*a.1 as usize];
                let nb = &bvh.nodes[*b.1 as usize];
                area(na.min, na.max).total_cmp(&area(nb.min, nb.max))
            })
            .map(|(i, _)| i);
        let Some(i) = best else { break };
        let k = kids.swap_remove(i);
        let c = &bvh.nodes[k as usize];
        kids.push(c.left_or_first);
        kids.push(c.left_or_first + 1);
    }
    kids
}

/// The wide nodes and leaf records that collapsing binary interior node `n` makes
/// ([`Bvh4::collapse`] counted without building).
fn census(bvh: &Bvh, n: u32) -> (usize, usize) {
    kids(bvh, n).iter().fold((1, 0), |(nodes, leaves), &k| {
        let c = &bvh.nodes[k as usize];
        let (a, b) = if c.count > 0 {
            leaf_census(c.count)
        } else {
            census(bvh, k)
        };
        (nodes + a, leaves + b)
    })
}

/// The wide nodes and leaf records of a leaf child of `count` triangles
/// ([`Bvh4::leaf_child`] counted without building).
fn leaf_census(count: u32) -> (usize, usize) {
    if count <= 4 * Packed::LEAF_RUN {
        return (0, count.div_ceil(4) as usize);
    }
    let quarter = count.div_ceil(4);
    (0..4)
        .map(|lane| {
            let lo = quarter * lane;
            (lo + quarter).min(count).saturating_sub(lo)
        })
        .filter(|&n| n > 0)
        .fold((1, 0), |(nodes, leaves), n| {
            let (a, b) = leaf_census(n);
            (nodes + a, leaves + b)
        })
}

/// Where [`Bvh4::from_binary`] reads the triangles: the binary tree's slot order and
/// each primitive's vertices.
struct Source<'a> {
    prims: &'a [u32],
    corners: &'a dyn Fn(u32) -> Corners,
}

/// A 4-wide BVH over the same leaves (primitive slots) as the binary BVH it came from.
#[derive(Debug, Clone, Default)]
pub(crate) struct Bvh4 {
    nodes: Vec<Node4>,
    leaves: Vec<Leaf4>,
    /// A root that is a leaf (tiny meshes): its first leaf and their number.
    root_leaf: Option<(u32, u32)>,
}

fn area(min: [f32; 3], max: [f32; 3]) -> f32 {
    let d = [max[0] - min[0], max[1] - min[1], max[2] - min[2]];
    d[0] * d[1] + d[1] * d[2] + d[2] * d[0]
}

impl Bvh4 {
    /// Collapses `bvh`: each wide node takes up to four descendants, opening the
    /// largest interior child first. `corners(p)` gives the vertices of primitive
    /// `p` (an entry of `bvh.prims`: a triangle's index in its mesh).
    pub(crate) fn from_binary(bvh: &Bvh, corners: impl Fn(u32) -> Corners) -> Self {
        let mut out = Self::default();
        let Some(root) = bvh.nodes.first() else {
            return out;
        };
        if bvh.prims.is_empty() {
            return out;
        }
        let src = Source {
            prims: &bvh.prims,
            corners: &corners,
        };
        // Sized exactly before they are filled: these vectors are over-aligned, and
        // growing one copies it (a million triangles' leaves are 46 MB: growth was a
        // 40 MB peak above what the tree keeps).
        if root.count > 0 {
            out.leaves.reserve_exact(root.count.div_ceil(4) as usize);
            out.root_leaf = Some(out.leaf(root.left_or_first, root.count, &src));
        } else {
            let (nodes, leaves) = census(bvh, 0);
            out.nodes.reserve_exact(nodes);
            out.leaves.reserve_exact(leaves);
            out.collapse(bvh, 0, &src);
            debug_assert_eq!((out.nodes.len(), out.leaves.len()), (nodes, leaves));
        }
        out
    }

    /// Bytes held (nodes and leaves).
    pub(crate) fn bytes(&self) -> u64 {
        (std::mem::size_of_val(self.nodes.as_slice())
            + std::mem::size_of_val(self.leaves.as_slice())) as u64
    }

    /// The mesh index of the triangle in `lane`.
    #[inline]
    pub(crate) fn triangle(&self, lane: LaneRef) -> u32 {
        self.leaves[(lane.0 / 4) as usize].tri[(lane.0 % 4) as usize]
    }

    /// The unit geometric normal of the triangle in `lane`
    /// ([`crate::accel::geometric_normal`]).
    #[inline]
    pub(crate) fn normal(&self, lane: LaneRef) -> Vec3 {
        geometric_normal(self.leaves[(lane.0 / 4) as usize].corners((lane.0 % 4) as usize))
    }

    /// Builds the wide node for binary interior node `n`; returns its index.
    /// Packs the triangles of slots `first..first + count` into consecutive leaves of
    /// four lanes; returns the first leaf's index and the number of leaves.
    fn leaf(&mut self, first: u32, count: u32, src: &Source<'_>) -> (u32, u32) {
        let start = self.leaves.len() as u32;
        for chunk in (first..first + count).step_by(4) {
            let mut leaf = Leaf4 {
                v0: [[0.0; 4]; 3],
                v1: [[0.0; 4]; 3],
                v2: [[0.0; 4]; 3],
                tri: [u32::MAX; 4],
            };
            for (l, slot) in (chunk..(chunk + 4).min(first + count)).enumerate() {
                let p = src.prims[slot as usize];
                let [v0, v1, v2] = (src.corners)(p);
                for a in 0..3 {
                    leaf.v0[a][l] = v0[a];
                    leaf.v1[a][l] = v1[a];
                    leaf.v2[a][l] = v2[a];
                }
                leaf.tri[l] = p;
            }
            self.leaves.push(leaf);
        }
        (start, self.leaves.len() as u32 - start)
    }

    /// The nearest hit among leaves `first..first + n` within `t_max` (with `any`,
    /// the first found).
    #[inline(always)]
    fn leaves_hit(
        &self,
        first: u32,
        n: u32,
        frame: &RayFrame,
        t_max: f32,
        any: bool,
    ) -> Option<LeafHit> {
        let mut best = None;
        let mut t_max = t_max;
        for (k, leaf) in self.leaves[first as usize..(first + n) as usize]
            .iter()
            .enumerate()
        {
            if let Some((lane, t, u, v)) = leaf.intersect(frame, t_max) {
                t_max = t;
                best = Some((LaneRef((first + k as u32) * 4 + lane as u32), t, u, v));
                if any {
                    break;
                }
            }
        }
        best
    }

    fn collapse(&mut self, bvh: &Bvh, n: u32, src: &Source<'_>) -> u32 {
        let kids = kids(bvh, n);
        let index = self.nodes.len() as u32;
        self.nodes.push(Node4 {
            min: [[f32::INFINITY; 4]; 3],
            max: [[f32::NEG_INFINITY; 4]; 3],
            child: [Packed::EMPTY; 4],
        });
        for (lane, &k) in kids.iter().enumerate() {
            let c = &bvh.nodes[k as usize];
            let child = if c.count > 0 {
                self.leaf_child(c.left_or_first, c.count, src)
            } else {
                Child::Node(self.collapse(bvh, k, src))
            };
            self.set(index, lane, c.min, c.max, child);
        }
        index
    }

    fn set(&mut self, node: u32, lane: usize, min: [f32; 3], max: [f32; 3], child: Child) {
        debug_assert!(self.nodes.len() < Packed::INDEX_LIMIT as usize);
        debug_assert!(self.leaves.len() < Packed::INDEX_LIMIT as usize);
        let w = &mut self.nodes[node as usize];
        for axis in 0..3 {
            w.min[axis][lane] = min[axis];
            w.max[axis][lane] = max[axis];
        }
        w.child[lane] = Packed::pack(child);
    }

    /// The child for the triangles of slots `first..first + count`: a leaf, or, for
    /// more than one packed leaf holds (the builder makes none), a node over
    /// quarters of them.
    fn leaf_child(&mut self, first: u32, count: u32, src: &Source<'_>) -> Child {
        if count <= 4 * Packed::LEAF_RUN {
            let (start, n) = self.leaf(first, count, src);
            return Child::Leaf(start, n);
        }
        let index = self.nodes.len() as u32;
        self.nodes.push(Node4 {
            min: [[f32::INFINITY; 4]; 3],
            max: [[f32::NEG_INFINITY; 4]; 3],
            child: [Packed::EMPTY; 4],
        });
        let quarter = count.div_ceil(4);
        for lane in 0..4 {
            let lo = first + quarter * lane as u32;
            let hi = (lo + quarter).min(first + count);
            if lo >= hi {
                break;
            }
            let (mut min, mut max) = (Vec3::INFINITY, Vec3::NEG_INFINITY);
            for &p in &src.prims[lo as usize..hi as usize] {
                for v in (src.corners)(p) {
                    min = min.min(Vec3::from(v));
                    max = max.max(Vec3::from(v));
                }
            }
            let child = self.leaf_child(lo, hi - lo, src);
            self.set(index, lane, min.into(), max.into(), child);
        }
        Child::Node(index)
    }

    /// Whether `test` accepts some triangle (its vertices) in a leaf whose box
    /// overlaps `[lo, hi]` (touching counts): the box queries of curved steps ("may
    /// this chord meet geometry"). Triangles in leaves the box misses are not
    /// offered, so `test` must reject those itself if it is to be exact.
    pub(crate) fn any_triangle(
        &self,
        lo: Vec3,
        hi: Vec3,
        mut test: impl FnMut([Vec3; 3]) -> bool,
    ) -> bool {
        let mut leaves = |first: u32, n: u32| {
            self.leaves[first as usize..(first + n) as usize]
                .iter()
                .any(|leaf| (0..4).any(|l| leaf.tri[l] != u32::MAX && test(leaf.corners(l))))
        };
        if let Some((first, n)) = self.root_leaf {
            return leaves(first, n);
        }
        if self.nodes.is_empty() {
            return false;
        }
        let (lo, hi) = (lo.to_array(), hi.to_array());
        // A plain array on the stack, spilling to the heap only past 64 entries (this
        // runs for every curved step near geometry).
        let mut local = [Packed::EMPTY; 64];
        let mut len = 0;
        let mut spill: Vec<Packed> = Vec::new();
        let mut current = Child::Node(0);
        loop {
            match current {
                Child::Node(i) => {
                    let n = &self.nodes[i as usize];
                    for l in 0..4 {
                        let apart = (0..3).any(|a| n.min[a][l] > hi[a] || n.max[a][l] < lo[a]);
                        if apart || n.child[l] == Packed::EMPTY {
                            continue;
                        }
                        if len < local.len() {
                            local[len] = n.child[l];
                            len += 1;
                        } else {
                            spill.push(n.child[l]);
                        }
                    }
                }
                Child::Leaf(first, n) => {
                    if leaves(first, n) {
                        return true;
                    }
                }
                Child::Empty => {}
            }
            current = if let Some(c) = spill.pop() {
                c.unpack()
            } else if len > 0 {
                len -= 1;
                local[len].unpack()
            } else {
                return false;
            };
        }
    }

    /// The nearest triangle hit within the ray's interval, or with `any`, the
    /// first one found (shadow rays).
    pub(crate) fn intersect(&self, ray: &Ray, any: bool) -> Option<LeafHit> {
        let frame = RayFrame::new(ray);
        if let Some((first, n)) = self.root_leaf {
            return self.leaves_hit(first, n, &frame, ray.t_max, any);
        }
        if self.nodes.is_empty() {
            return None;
        }
        let mut best = None;
        let inv = ray.dir.recip();
        let o = [ray.origin.x, ray.origin.y, ray.origin.z];
        let iv = [inv.x, inv.y, inv.z];
        let mut t_max = ray.t_max;
        // Not zeroed per query (that was half of a query's time); deeper trees spill.
        let mut stack: SmallVec<[(Packed, f32); 64]> = SmallVec::new();
        let mut current = Child::Node(0);
        loop {
            match current {
                Child::Node(i) => {
                    let n = &self.nodes[i as usize];
                    let mut lo = [ray.t_min; 4];
                    let mut hi = [f32::INFINITY; 4];
                    for axis in 0..3 {
                        for l in 0..4 {
                            let a = (n.min[axis][l] - o[axis]) * iv[axis];
                            let b = (n.max[axis][l] - o[axis]) * iv[axis];
                            lo[l] = lo[l].max(a.min(b));
                            hi[l] = hi[l].min(a.max(b));
                        }
                    }
                    for h in &mut hi {
                        *h = (*h * ROBUST_EXIT).min(t_max);
                    }
                    // Children hit, sorted far to near so the nearest is visited now
                    // and the others wait on the stack.
                    let mut hits: [(Packed, f32); 4] = [(Packed::EMPTY, 0.0); 4];
                    let mut k = 0;
                    for l in 0..4 {
                        if lo[l] <= hi[l] && n.child[l] != Packed::EMPTY {
                            let mut j = k;
                            while j > 0 && hits[j - 1].1 < lo[l] {
                                hits[j] = hits[j - 1];
                                j -= 1;
                            }
                            hits[j] = (n.child[l], lo[l]);
                            k += 1;
                        }
                    }
                    if k > 0 {
                        stack.extend_from_slice(&hits[..k - 1]);
                        current = hits[k - 1].0.unpack();
                        continue;
                    }
                }
                Child::Leaf(first, n) => {
                    if let Some(hit) = self.leaves_hit(first, n, &frame, t_max, any) {
                        t_max = hit.1;
                        best = Some(hit);
                        if any {
                            return best;
                        }
                    }
                }
                Child::Empty => {}
            }
            loop {
                let Some((c, t_enter)) = stack.pop() else {
                    return best;
                };
                if t_enter <= t_max {
                    current = c.unpack();
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accel::{BvhNode, Triangle, intersect_triangle};

    /// The 4-wide tree of `bvh` over `tris` (indexed by primitive).
    fn wide_of(bvh: &Bvh, tris: &[Triangle]) -> Bvh4 {
        Bvh4::from_binary(bvh, |p| {
            let t = &tris[p as usize];
            [t.v0, t.v1, t.v2].map(|v| [v[0], v[1], v[2]])
        })
    }

    /// The four-lane test gives, bit for bit, what the scalar watertight test gives
    /// lane by lane with a shrinking t_max (the later lane on a tie), including
    /// triangles that share edges and vertices with the ray's path, degenerate
    /// ones, and rays along the axes.
    #[test]
    fn the_four_lane_test_is_the_scalar_test() {
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            // Small integers and halves: shared edges, ties and zeros are common.
            ((seed >> 40) % 9) as f32 * 0.5 - 2.0
        };
        let mut hits = 0;
        for case in 0..20_000 {
            let mut leaf = Leaf4 {
                tri: [0, 1, 2, 3],
                v0: [[0.0; 4]; 3],
                v1: [[0.0; 4]; 3],
                v2: [[0.0; 4]; 3],
            };
            for l in 0..4 {
                for a in 0..3 {
                    leaf.v0[a][l] = next();
                    leaf.v1[a][l] = next();
                    leaf.v2[a][l] = next();
                }
            }
            if case % 5 == 0 {
                leaf.tri[3] = u32::MAX;
            }
            let origin = glam::Vec3::new(next(), next(), next() - 4.0);
            // Mostly aimed at a lane's vertex or edge midpoint (rays through shared
            // edges and corners), else random or along an axis.
            let [a, b, _] = leaf.corners(case % 4);
            let dir = match case % 7 {
                0 => glam::Vec3::Z,
                1 => glam::Vec3::new(next(), next(), next()),
                2 | 3 => a - origin,
                _ => (a + b) * 0.5 - origin,
            };
            let ray = Ray {
                origin,
                dir,
                t_min: 0.0,
                t_max: if case % 3 == 0 { 2.0 } else { f32::INFINITY },
            };
            let frame = RayFrame::new(&ray);
            let mut scalar = None;
            let mut bt = ray.t_max;
            for l in 0..4 {
                if leaf.tri[l] == u32::MAX {
                    continue;
                }
                let [a, b, c] = leaf.corners(l);
                if let Some((t, u, v)) = frame.hit(a, b, c, bt) {
                    bt = t;
                    scalar = Some((l, t, u, v));
                }
            }
            hits += usize::from(scalar.is_some());
            let bits = |h: Option<(usize, f32, f32, f32)>| {
                h.map(|(l, t, u, v)| (l, t.to_bits(), u.to_bits(), v.to_bits()))
            };
            assert_eq!(
                bits(leaf.intersect(&frame, ray.t_max)),
                bits(scalar),
                "case {case}: {ray:?}"
            );
        }
        // The cases must meet triangles often enough to test something.
        assert!(hits > 10_000, "{hits} of 20000 cases hit");
    }

    /// A binary leaf of twelve stacked triangles (the builder makes leaves of up to 16
    /// where the SAH finds no cheaper split) is held whole: the nearest of the twelve
    /// is found, whichever lane and leaf it is in.
    #[test]
    fn leaves_of_more_than_four_triangles_are_held_whole() {
        let tris: Vec<Triangle> = (0..13)
            .map(|k| {
                // Twelve stacked, nearest last; a thirteenth far off in the other leaf.
                let (z, x) = if k < 12 {
                    (-(12 - k) as f32, 0.0)
                } else {
                    (0.0, 50.0)
                };
                Triangle::new([x - 1.0, -1.0, z], [x + 1.0, -1.0, z], [x, 1.0, z])
            })
            .collect();
        let leaf = |first, count, lo: [f32; 3], hi: [f32; 3]| BvhNode {
            min: lo,
            max: hi,
            left_or_first: first,
            count,
        };
        let bvh = Bvh {
            nodes: vec![
                leaf(1, 0, [-1.0, -1.0, -12.0], [51.0, 1.0, 0.0]),
                leaf(0, 12, [-1.0, -1.0, -12.0], [1.0, 1.0, -1.0]),
                leaf(12, 1, [49.0, -1.0, 0.0], [51.0, 1.0, 0.0]),
            ],
            prims: (0..13).collect(),
        };
        let wide = wide_of(&bvh, &tris);
        let ray = Ray {
            origin: glam::Vec3::new(0.0, 0.0, 5.0),
            dir: -glam::Vec3::Z,
            t_min: 0.0,
            t_max: f32::INFINITY,
        };
        let brute = (0..13)
            .filter_map(|k| intersect_triangle(&tris[k], &ray, f32::INFINITY).map(|h| (k, h.0)))
            .min_by(|a, b| a.1.total_cmp(&b.1));
        assert_eq!(brute.map(|b| b.0), Some(11));
        let hit = wide.intersect(&ray, false).expect("the stack is hit");
        assert_eq!((wide.triangle(hit.0), hit.1), (11, 6.0));
        assert_eq!(wide.normal(hit.0), tris[11].normal());
        assert!(wide.intersect(&ray, true).is_some());
    }

    /// A tree far deeper than the traversal stacks' inline size (a chain of 300
    /// levels whose far leaves all wait on the stack while the near, interior, child is
    /// opened): the nearest triangle sits in one of the last far leaves pushed. Stacks
    /// that dropped entries past a fixed size (64 binary, 192 wide) missed it.
    #[test]
    fn deep_trees_lose_no_nodes() {
        const D: u32 = 300;
        // Triangle k at z = -(D - k) - 1, the deeper the nearer to the camera, but
        // for the last level's two (the near one there is visited, not pushed): the
        // nearest is D - 2, in a far leaf pushed after 298 others.
        let tris: Vec<Triangle> = (0..=D)
            .map(|k| {
                let z = if k + 1 >= D {
                    -(D as f32) - 1.5
                } else {
                    -((D - k) as f32) - 1.0
                };
                Triangle::new([-1.0, -1.0, z], [1.0, -1.0, z], [0.0, 1.0, z])
            })
            .collect();
        let leaf = |k: u32| {
            let z = tris[k as usize].v0[2];
            BvhNode {
                min: [-1.0, -1.0, z],
                max: [1.0, 1.0, z],
                left_or_first: k,
                count: 1,
            }
        };
        let mut nodes = vec![BvhNode {
            min: [-1.0, -1.0, -(D as f32) - 2.0],
            max: [1.0, 1.0, 4.0],
            left_or_first: 1,
            count: 0,
        }];
        for k in 0..D {
            // Children of level k at 1 + 2k (the next level, entered first) and 2 + 2k.
            nodes.push(if k + 1 < D {
                BvhNode {
                    left_or_first: 3 + 2 * k,
                    ..nodes[0]
                }
            } else {
                leaf(D)
            });
            nodes.push(leaf(k));
        }
        let bvh = Bvh {
            nodes,
            prims: (0..=D).collect(),
        };
        let ray = Ray {
            origin: glam::Vec3::new(0.0, 0.0, 5.0),
            dir: -glam::Vec3::Z,
            t_min: 0.0,
            t_max: f32::INFINITY,
        };
        let mut nearest = None;
        bvh.traverse(&ray, |_, prims, t_max| {
            let mut t_max = t_max;
            for &p in prims {
                if let Some((t, _, _)) = intersect_triangle(&tris[p as usize], &ray, t_max) {
                    t_max = t;
                    nearest = Some(p);
                }
            }
            t_max
        });
        assert_eq!(nearest, Some(D - 2), "binary traversal");
        let wide = wide_of(&bvh, &tris);
        let hit = wide.intersect(&ray, false).expect("a leaf is hit");
        assert_eq!(
            (wide.triangle(hit.0), hit.1),
            (D - 2, 8.0),
            "wide traversal"
        );
        let (lo, hi) = (
            glam::Vec3::new(-0.1, -0.1, -3.5),
            glam::Vec3::new(0.1, 0.1, -2.5),
        );
        let boxed = bvh.any_overlap(lo, hi, |_, prims| prims == [D - 2]);
        assert!(boxed, "box overlap");
        // The wide tree's box query reaches the same deep leaf (its stack spills).
        let z = tris[(D - 2) as usize].v0[2];
        assert!(
            wide.any_triangle(lo, hi, |[a, _, _]| a.z == z),
            "wide box query"
        );
        assert!(!wide.any_triangle(lo, hi, |[a, _, _]| a.z == z + 100.0));
    }

    /// A binary leaf of more triangles than one packed leaf holds (64; the builder
    /// makes none, but a hand-made tree may) becomes a node over quarters of it,
    /// and every triangle stays reachable.
    #[test]
    fn oversized_leaves_become_nodes() {
        const N: u32 = 150;
        let tris: Vec<Triangle> = (0..N)
            .map(|k| {
                // Spread along x; each a unit triangle facing +z.
                let x = k as f32 * 3.0;
                Triangle::new([x - 1.0, -1.0, 0.0], [x + 1.0, -1.0, 0.0], [x, 1.0, 0.0])
            })
            .collect();
        let bvh = Bvh {
            nodes: vec![
                BvhNode {
                    min: [-1.0, -1.0, 0.0],
                    max: [3.0 * N as f32, 1.0, 1.0],
                    left_or_first: 1,
                    count: 0,
                },
                BvhNode {
                    min: [-1.0, -1.0, 0.0],
                    max: [3.0 * (N - 1) as f32 - 2.0, 1.0, 0.0],
                    left_or_first: 0,
                    count: N - 1,
                },
                BvhNode {
                    min: [3.0 * (N - 1) as f32 - 1.0, -1.0, 0.0],
                    max: [3.0 * (N - 1) as f32 + 1.0, 1.0, 0.0],
                    left_or_first: N - 1,
                    count: 1,
                },
            ],
            prims: (0..N).collect(),
        };
        let wide = wide_of(&bvh, &tris);
        for k in 0..N {
            let ray = Ray {
                origin: glam::Vec3::new(k as f32 * 3.0, 0.0, 5.0),
                dir: -glam::Vec3::Z,
                t_min: 0.0,
                t_max: f32::INFINITY,
            };
            let hit = wide
                .intersect(&ray, false)
                .map(|h| (wide.triangle(h.0), h.1));
            assert_eq!(hit, Some((k, 5.0)), "triangle {k}");
        }
    }
}
