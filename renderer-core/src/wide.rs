//! The CPU's traversal structure: a 4-wide BVH collapsed from the binary one (whose
//! GPU layout stays the reference). A node holds its four children's boxes as
//! structure-of-arrays lanes, so one ray meets four boxes in a handful of vector
//! operations, and a traversal visits about half as many nodes.

use glam::Vec3;
use smallvec::SmallVec;

use crate::accel::{Bvh, ROBUST_EXIT, Ray, RayFrame, Triangle};

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
/// ray together; `slot` maps lanes back to triangle slots (`u32::MAX`: empty).
#[derive(Debug, Clone, Copy)]
#[repr(C, align(32))]
struct Leaf4 {
    // First: each lane's test begins by reading it, with v0 in the same cache line.
    slot: [u32; 4],
    v0: [[f32; 4]; 3],
    v1: [[f32; 4]; 3],
    v2: [[f32; 4]; 3],
}

/// A leaf hit: triangle slot, t, barycentric u and v.
pub(crate) type LeafHit = (usize, f32, f32, f32);

impl Leaf4 {
    /// The watertight test on the four lanes: the nearest hit within
    /// [t_min, t_max].
    #[inline(always)]
    fn intersect(&self, frame: &RayFrame, t_max: f32) -> Option<LeafHit> {
        let mut best: Option<LeafHit> = None;
        let mut bt = t_max;
        for l in 0..4 {
            if self.slot[l] == u32::MAX {
                continue;
            }
            let lane = |v: &[[f32; 4]; 3]| Vec3::new(v[0][l], v[1][l], v[2][l]);
            if let Some((t, u, v)) = frame.hit(lane(&self.v0), lane(&self.v1), lane(&self.v2), bt) {
                bt = t;
                best = Some((self.slot[l] as usize, t, u, v));
            }
        }
        best
    }
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
    /// largest interior child first.
    pub(crate) fn from_binary(bvh: &Bvh, triangles: &[Triangle]) -> Self {
        let mut out = Self::default();
        let Some(root) = bvh.nodes.first() else {
            return out;
        };
        if bvh.prims.is_empty() {
            return out;
        }
        if root.count > 0 {
            out.root_leaf = Some(out.leaf(root.left_or_first, root.count, triangles));
            return out;
        }
        out.collapse(bvh, 0, triangles);
        out
    }

    /// Builds the wide node for binary interior node `n`; returns its index.
    /// Packs the triangles of slots `first..first + count` into consecutive leaves of
    /// four lanes; returns the first leaf's index and the number of leaves.
    fn leaf(&mut self, first: u32, count: u32, triangles: &[Triangle]) -> (u32, u32) {
        let start = self.leaves.len() as u32;
        for chunk in (first..first + count).step_by(4) {
            let mut leaf = Leaf4 {
                v0: [[0.0; 4]; 3],
                v1: [[0.0; 4]; 3],
                v2: [[0.0; 4]; 3],
                slot: [u32::MAX; 4],
            };
            for (l, slot) in (chunk..(chunk + 4).min(first + count)).enumerate() {
                let t = &triangles[slot as usize];
                for a in 0..3 {
                    leaf.v0[a][l] = t.v0[a];
                    leaf.v1[a][l] = t.v1[a];
                    leaf.v2[a][l] = t.v2[a];
                }
                leaf.slot[l] = slot;
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
        for leaf in &self.leaves[first as usize..(first + n) as usize] {
            if let Some(hit) = leaf.intersect(frame, t_max) {
                t_max = hit.1;
                best = Some(hit);
                if any {
                    break;
                }
            }
        }
        best
    }

    fn collapse(&mut self, bvh: &Bvh, n: u32, triangles: &[Triangle]) -> u32 {
        let node = &bvh.nodes[n as usize];
        let mut kids: Vec<u32> = vec![node.left_or_first, node.left_or_first + 1];
        while kids.len() < 4 {
            // Open the interior child with the largest surface area.
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
        let index = self.nodes.len() as u32;
        self.nodes.push(Node4 {
            min: [[f32::INFINITY; 4]; 3],
            max: [[f32::NEG_INFINITY; 4]; 3],
            child: [Packed::EMPTY; 4],
        });
        for (lane, &k) in kids.iter().enumerate() {
            let c = &bvh.nodes[k as usize];
            let child = if c.count > 0 {
                self.leaf_child(c.left_or_first, c.count, triangles)
            } else {
                Child::Node(self.collapse(bvh, k, triangles))
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
    fn leaf_child(&mut self, first: u32, count: u32, triangles: &[Triangle]) -> Child {
        if count <= 4 * Packed::LEAF_RUN {
            let (start, n) = self.leaf(first, count, triangles);
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
            for t in &triangles[lo as usize..hi as usize] {
                for v in t.vertices() {
                    min = min.min(v);
                    max = max.max(v);
                }
            }
            let child = self.leaf_child(lo, hi - lo, triangles);
            self.set(index, lane, min.into(), max.into(), child);
        }
        Child::Node(index)
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
    use crate::accel::{BvhNode, intersect_triangle};

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
        let wide = Bvh4::from_binary(&bvh, &tris);
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
        assert_eq!((hit.0, hit.1), (11, 6.0));
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
        let wide = Bvh4::from_binary(&bvh, &tris);
        let hit = wide.intersect(&ray, false).expect("a leaf is hit");
        assert_eq!((hit.0, hit.1), ((D - 2) as usize, 8.0), "wide traversal");
        let boxed = bvh.any_overlap(
            glam::Vec3::new(-0.1, -0.1, -3.5),
            glam::Vec3::new(0.1, 0.1, -2.5),
            |_, prims| prims == [D - 2],
        );
        assert!(boxed, "box overlap");
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
        let wide = Bvh4::from_binary(&bvh, &tris);
        for k in 0..N {
            let ray = Ray {
                origin: glam::Vec3::new(k as f32 * 3.0, 0.0, 5.0),
                dir: -glam::Vec3::Z,
                t_min: 0.0,
                t_max: f32::INFINITY,
            };
            let hit = wide.intersect(&ray, false).map(|h| (h.0, h.1));
            assert_eq!(hit, Some((k as usize, 5.0)), "triangle {k}");
        }
    }
}
