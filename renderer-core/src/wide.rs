//! The CPU's traversal structure: a 4-wide BVH collapsed from the binary one (whose
//! GPU layout stays the reference). A node holds its four children's boxes as
//! structure-of-arrays lanes, so one ray meets four boxes in a handful of vector
//! operations, and a traversal visits about half as many nodes.

use crate::accel::{Bvh, Ray};

/// Child slot contents: an interior node, a leaf `(first slot, count)`, or nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Child {
    Empty,
    Node(u32),
    Leaf(u32, u32),
}

/// Four children's boxes, one lane each, and what each child is.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(32))]
struct Node4 {
    min: [[f32; 4]; 3],
    max: [[f32; 4]; 3],
    child: [Child; 4],
}

/// A 4-wide BVH over the same leaves (primitive slots) as the binary BVH it came from.
#[derive(Debug, Clone, Default)]
pub(crate) struct Bvh4 {
    nodes: Vec<Node4>,
    /// A root that is a leaf (tiny meshes).
    root_leaf: Option<(u32, u32)>,
}

fn area(min: [f32; 3], max: [f32; 3]) -> f32 {
    let d = [max[0] - min[0], max[1] - min[1], max[2] - min[2]];
    d[0] * d[1] + d[1] * d[2] + d[2] * d[0]
}

impl Bvh4 {
    /// Collapses `bvh`: each wide node takes up to four descendants, opening the
    /// largest interior child first.
    pub(crate) fn from_binary(bvh: &Bvh) -> Self {
        let mut out = Self::default();
        let Some(root) = bvh.nodes.first() else {
            return out;
        };
        if bvh.prims.is_empty() {
            return out;
        }
        if root.count > 0 {
            out.root_leaf = Some((root.left_or_first, root.count));
            return out;
        }
        out.collapse(bvh, 0);
        out
    }

    /// Builds the wide node for binary interior node `n`; returns its index.
    fn collapse(&mut self, bvh: &Bvh, n: u32) -> u32 {
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
                Child::Leaf(c.left_or_first, c.count)
            } else {
                Child::Node(self.collapse(bvh, k))
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

    /// Visits the leaves the ray's interval meets, nearest box first, with `t_max`
    /// shrinking as `leaf(first slot, count, t_max) -> new t_max` reports hits; a
    /// returned value below `ray.t_min` stops the traversal (any-hit queries).
    pub(crate) fn traverse(&self, ray: &Ray, mut leaf: impl FnMut(usize, usize, f32) -> f32) {
        if let Some((first, count)) = self.root_leaf {
            leaf(first as usize, count as usize, ray.t_max);
            return;
        }
        if self.nodes.is_empty() {
            return;
        }
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
                Child::Leaf(first, count) => {
                    t_max = leaf(first as usize, count as usize, t_max);
                    if t_max < ray.t_min {
                        return;
                    }
                }
                Child::Empty => {}
            }
            loop {
                if sp == 0 {
                    return;
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
