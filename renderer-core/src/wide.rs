//! The CPU's traversal structure: a 4-wide BVH collapsed from the binary one (whose
//! GPU layout stays the reference). A node holds its four children's boxes as
//! structure-of-arrays lanes, so one ray meets four boxes in a handful of vector
//! operations, and a traversal visits about half as many nodes.

use crate::accel::{Bvh, Ray, Triangle};

/// Child slot contents: an interior node, a leaf `(first slot, count)`, or nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Child {
    Empty,
    Node(u32),
    Leaf(u32),
}

/// Four children's boxes, one lane each, and what each child is.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(32))]
struct Node4 {
    min: [[f32; 4]; 3],
    max: [[f32; 4]; 3],
    child: [Child; 4],
}

/// Up to four triangles of one leaf as structure-of-arrays lanes, tested against a
/// ray together; `slot` maps lanes back to triangle slots (`u32::MAX`: empty).
#[derive(Debug, Clone, Copy)]
#[repr(C, align(32))]
struct Leaf4 {
    v0: [[f32; 4]; 3],
    e1: [[f32; 4]; 3],
    e2: [[f32; 4]; 3],
    slot: [u32; 4],
}

/// A leaf hit: triangle slot, t, barycentric u and v.
pub(crate) type LeafHit = (usize, f32, f32, f32);

impl Leaf4 {
    /// Moller-Trumbore on the four lanes: the nearest hit within [t_min, t_max],
    /// or with `any`, the first found.
    #[inline(always)]
    fn intersect(&self, ray: &Ray, t_max: f32) -> Option<LeafHit> {
        let d = [ray.dir.x, ray.dir.y, ray.dir.z];
        let o = [ray.origin.x, ray.origin.y, ray.origin.z];
        let mut t = [f32::INFINITY; 4];
        let mut uu = [0.0f32; 4];
        let mut vv = [0.0f32; 4];
        for l in 0..4 {
            let (e1, e2) = (
                [self.e1[0][l], self.e1[1][l], self.e1[2][l]],
                [self.e2[0][l], self.e2[1][l], self.e2[2][l]],
            );
            let p = [
                d[1] * e2[2] - d[2] * e2[1],
                d[2] * e2[0] - d[0] * e2[2],
                d[0] * e2[1] - d[1] * e2[0],
            ];
            let det = e1[0] * p[0] + e1[1] * p[1] + e1[2] * p[2];
            let inv = 1.0 / det;
            let sv = [
                o[0] - self.v0[0][l],
                o[1] - self.v0[1][l],
                o[2] - self.v0[2][l],
            ];
            let u = (sv[0] * p[0] + sv[1] * p[1] + sv[2] * p[2]) * inv;
            let q = [
                sv[1] * e1[2] - sv[2] * e1[1],
                sv[2] * e1[0] - sv[0] * e1[2],
                sv[0] * e1[1] - sv[1] * e1[0],
            ];
            let v = (d[0] * q[0] + d[1] * q[1] + d[2] * q[2]) * inv;
            let tt = (e2[0] * q[0] + e2[1] * q[1] + e2[2] * q[2]) * inv;
            let ok = det.abs() >= 1e-12
                && (0.0..=1.0).contains(&u)
                && v >= 0.0
                && u + v <= 1.0
                && tt >= ray.t_min
                && tt <= t_max;
            t[l] = if ok { tt } else { f32::INFINITY };
            uu[l] = u;
            vv[l] = v;
        }
        let mut best: Option<LeafHit> = None;
        let mut bt = t_max;
        for l in 0..4 {
            if t[l] <= bt && self.slot[l] != u32::MAX {
                bt = t[l];
                best = Some((self.slot[l] as usize, t[l], uu[l], vv[l]));
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
    /// A root that is a leaf (tiny meshes): its leaf index.
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
            out.root_leaf = Some((out.leaf(root.left_or_first, root.count, triangles), 0));
            return out;
        }
        out.collapse(bvh, 0, triangles);
        out
    }

    /// Builds the wide node for binary interior node `n`; returns its index.
    /// Packs the triangles of slots `first..first + count` (at most 4) into a leaf.
    fn leaf(&mut self, first: u32, count: u32, triangles: &[Triangle]) -> u32 {
        let mut leaf = Leaf4 {
            v0: [[0.0; 4]; 3],
            e1: [[0.0; 4]; 3],
            e2: [[0.0; 4]; 3],
            slot: [u32::MAX; 4],
        };
        for (l, slot) in (first..first + count.min(4)).enumerate() {
            let t = &triangles[slot as usize];
            for a in 0..3 {
                leaf.v0[a][l] = t.v0[a];
                leaf.e1[a][l] = t.e1[a];
                leaf.e2[a][l] = t.e2[a];
            }
            leaf.slot[l] = slot;
        }
        self.leaves.push(leaf);
        (self.leaves.len() - 1) as u32
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
            child: [Child::Empty; 4],
        });
        for (lane, &k) in kids.iter().enumerate() {
            let c = &bvh.nodes[k as usize];
            let child = if c.count > 0 {
                Child::Leaf(self.leaf(c.left_or_first, c.count, triangles))
            } else {
                Child::Node(self.collapse(bvh, k, triangles))
            };
            let w = &mut self.nodes[index as usize];
            for axis in 0..3 {
                w.min[axis][lane] = c.min[axis];
                w.max[axis][lane] = c.max[axis];
            }
            w.child[lane] = child;
        }
        index
    }

    /// The nearest triangle hit within the ray's interval, or with `any`, the
    /// first one found (shadow rays).
    pub(crate) fn intersect(&self, ray: &Ray, any: bool) -> Option<LeafHit> {
        if let Some((leaf, _)) = self.root_leaf {
            return self.leaves[leaf as usize].intersect(ray, ray.t_max);
        }
        if self.nodes.is_empty() {
            return None;
        }
        let mut best = None;
        let inv = ray.dir.recip();
        let o = [ray.origin.x, ray.origin.y, ray.origin.z];
        let iv = [inv.x, inv.y, inv.z];
        let mut t_max = ray.t_max;
        let mut stack: [(Child, f32); 192] = [(Child::Empty, 0.0); 192];
        let mut sp = 0usize;
        let mut current = Child::Node(0);
        loop {
            match current {
                Child::Node(i) => {
                    let n = &self.nodes[i as usize];
                    let mut lo = [ray.t_min; 4];
                    let mut hi = [t_max; 4];
                    for axis in 0..3 {
                        for l in 0..4 {
                            let a = (n.min[axis][l] - o[axis]) * iv[axis];
                            let b = (n.max[axis][l] - o[axis]) * iv[axis];
                            lo[l] = lo[l].max(a.min(b));
                            hi[l] = hi[l].min(a.max(b));
                        }
                    }
                    // Children hit, sorted far to near so the nearest is visited now
                    // and the others wait on the stack.
                    let mut hits: [(Child, f32); 4] = [(Child::Empty, 0.0); 4];
                    let mut k = 0;
                    for l in 0..4 {
                        if lo[l] <= hi[l] && n.child[l] != Child::Empty {
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
                        for h in &hits[..k - 1] {
                            if sp < stack.len() {
                                stack[sp] = *h;
                                sp += 1;
                            }
                        }
                        current = hits[k - 1].0;
                        continue;
                    }
                }
                Child::Leaf(leaf) => {
                    if let Some(hit) = self.leaves[leaf as usize].intersect(ray, t_max) {
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
                if sp == 0 {
                    return best;
                }
                sp -= 1;
                let (c, t_enter) = stack[sp];
                if t_enter <= t_max {
                    current = c;
                    break;
                }
            }
        }
    }
}
