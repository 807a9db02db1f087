//! BVH and TLAS traversal agree with brute force on hit/miss, triangle and t.

use std::sync::Arc;

use crate::accel::{Blas, BlasCache, Instance, Mesh, Ray, Tlas, Triangle, intersect_triangle};
use glam::{Affine3A, Quat, Vec3};
use proptest::prelude::*;

fn mesh_from(tris: &[[f32; 9]]) -> Mesh {
    let mut m = Mesh::default();
    for (k, t) in tris.iter().enumerate() {
        for v in 0..3 {
            m.positions.push([t[3 * v], t[3 * v + 1], t[3 * v + 2]]);
        }
        let b = 3 * k as u32;
        m.indices.push([b, b + 1, b + 2]);
    }
    m
}

fn triangle(m: &Mesh, i: usize) -> Triangle {
    let [a, b, c] = m.indices[i].map(|k| m.positions[k as usize]);
    Triangle::new(a, b, c)
}

/// Nearest hit by testing every triangle: (t, triangle).
fn brute(m: &Mesh, ray: &Ray) -> Option<(f32, u32)> {
    let mut best: Option<(f32, u32)> = None;
    for i in 0..m.indices.len() {
        let t_max = best.map_or(ray.t_max, |b| b.0);
        if let Some((t, _, _)) = intersect_triangle(&triangle(m, i), ray, t_max) {
            best = Some((t, i as u32));
        }
    }
    best
}

fn coord() -> impl Strategy<Value = f32> {
    -10.0f32..10.0
}

fn tri() -> impl Strategy<Value = [f32; 9]> {
    (
        proptest::array::uniform3(coord()),
        proptest::array::uniform3(-1.5f32..1.5),
        proptest::array::uniform3(-1.5f32..1.5),
    )
        .prop_map(|(c, a, b)| {
            [
                c[0],
                c[1],
                c[2],
                c[0] + a[0],
                c[1] + a[1],
                c[2] + a[2],
                c[0] + b[0],
                c[1] + b[1],
                c[2] + b[2],
            ]
        })
}

fn ray() -> impl Strategy<Value = Ray> {
    (
        proptest::array::uniform3(-15.0f32..15.0),
        proptest::array::uniform3(-1.0f32..1.0),
        0.0f32..40.0,
    )
        .prop_map(|(o, d, t_max)| Ray {
            origin: Vec3::from(o),
            dir: Vec3::from(d),
            t_min: 0.0,
            t_max,
        })
}

/// Same hit, or the same t where two triangles tie.
fn agree(a: Option<(f32, u32)>, b: Option<(f32, u32)>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(x), Some(y)) => x.1 == y.1 || (x.0 - y.0).abs() <= 1e-5 * x.0.abs().max(1.0),
        _ => false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn blas_matches_brute_force(tris in proptest::collection::vec(tri(), 1..300), rays in proptest::collection::vec(ray(), 64)) {
        let mesh = mesh_from(&tris);
        let blas = Blas::build(&mesh);
        for r in &rays {
            let got = blas.intersect(r).map(|h| (h.t, h.triangle));
            prop_assert!(agree(got, brute(&mesh, r)), "{got:?} vs {:?}", brute(&mesh, r));
        }
    }

    /// The box query (the CPU's 4-wide tree, whose leaves hold the triangles)
    /// answers as a test of every triangle's box does, and hits carry the
    /// triangle's own normal.
    #[test]
    fn box_queries_and_hit_normals_match_brute_force(
        tris in proptest::collection::vec(tri(), 1..300),
        boxes in proptest::collection::vec((proptest::array::uniform3(-12.0f32..12.0), proptest::array::uniform3(0.0f32..4.0)), 32),
        rays in proptest::collection::vec(ray(), 32),
    ) {
        let mesh = mesh_from(&tris);
        let blas = Blas::build(&mesh);
        for (c, h) in &boxes {
            let (lo, hi) = (Vec3::from(*c) - Vec3::from(*h), Vec3::from(*c) + Vec3::from(*h));
            let brute = (0..mesh.indices.len()).any(|i| {
                let [a, b, c] = triangle(&mesh, i).vertices();
                let (tmin, tmax) = (a.min(b).min(c), a.max(b).max(c));
                !(tmin.cmpgt(hi).any() || tmax.cmplt(lo).any())
            });
            prop_assert_eq!(blas.overlaps_box(lo, hi), brute, "box {:?}-{:?}", lo, hi);
        }
        for r in &rays {
            if let Some(hit) = blas.intersect(r) {
                prop_assert_eq!(hit.normal, triangle(&mesh, hit.triangle as usize).normal());
            }
        }
    }

    #[test]
    fn tlas_matches_brute_force_over_transformed_instances(
        tris in proptest::collection::vec(tri(), 1..60),
        placements in proptest::collection::vec((proptest::array::uniform3(-8.0f32..8.0), 0.0f32..6.3, 0.5f32..2.0), 1..6),
        rays in proptest::collection::vec(ray(), 48),
    ) {
        let mesh = mesh_from(&tris);
        let cache = BlasCache::default();
        let blas = cache.get(&mesh);
        let transforms: Vec<Affine3A> = placements
            .iter()
            .map(|(t, angle, s)| Affine3A::from_scale_rotation_translation(Vec3::splat(*s), Quat::from_rotation_y(*angle), Vec3::from(*t)))
            .collect();
        let tlas = Tlas::build(transforms.iter().map(|&transform| Instance { blas: Arc::clone(&blas), transform }).collect());
        // Brute force in world space: every instance's triangles transformed.
        let world: Vec<Mesh> = transforms
            .iter()
            .map(|tf| Mesh {
                positions: mesh.positions.iter().map(|p| tf.transform_point3(Vec3::from(*p)).into()).collect(),
                indices: mesh.indices.clone(),
                uvs: Vec::new(),
            })
            .collect();
        for r in &rays {
            let mut best: Option<(f32, u32, u32)> = None;
            for (i, m) in world.iter().enumerate() {
                let t_max = best.map_or(r.t_max, |b| b.0);
                if let Some((t, tri)) = brute(m, &Ray { t_max, ..*r }) {
                    best = Some((t, tri, i as u32));
                }
            }
            let got = tlas.intersect(r);
            match (got, best) {
                (None, None) => {}
                (Some(h), Some(b)) => prop_assert!(
                    (h.t - b.0).abs() <= 2e-4 * b.0.abs().max(1.0),
                    "t {} vs {}", h.t, b.0
                ),
                (g, b) => prop_assert!(false, "{g:?} vs {b:?}"),
            }
        }
    }
}

#[test]
fn the_blas_cache_reuses_by_content() {
    let a = mesh_from(&[[0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0]]);
    let cache = BlasCache::default();
    let x = cache.get(&a);
    let y = cache.get(&a.clone());
    assert!(Arc::ptr_eq(&x, &y));
    let mut b = a.clone();
    b.positions[0][2] = 0.5;
    let z = cache.get(&b);
    assert_eq!(cache.len(), 2);
    // Held weakly: a BLAS no scene uses any more is freed, and built again on demand.
    drop((x, y));
    assert_eq!(cache.len(), 1);
    assert!(Arc::ptr_eq(&z, &cache.get(&b)));
}

#[test]
fn nodes_and_triangles_are_gpu_plain_data() {
    assert_eq!(std::mem::size_of::<crate::accel::BvhNode>(), 32);
    assert_eq!(std::mem::size_of::<Triangle>(), 48);
    let mesh = mesh_from(&[[0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0]; 9]);
    let blas = Blas::build(&mesh);
    let layout = blas.binary(&mesh);
    let bytes: &[u8] = bytemuck::cast_slice(&layout.bvh.nodes);
    assert_eq!(bytes.len(), 32 * layout.bvh.nodes.len());
    assert_eq!(layout.triangles.len(), 9);
}

#[test]
fn hit_normals_are_unit_and_follow_the_instance_rotation() {
    // A triangle in the z = 0 plane (normal +z), turned 90 degrees about y: +x.
    let mesh = mesh_from(&[[-1.0, -1.0, 0.0, 1.0, -1.0, 0.0, 0.0, 1.0, 0.0]]);
    let blas = Arc::new(Blas::build(&mesh));
    let plain = blas
        .intersect(&Ray {
            origin: Vec3::new(0.0, 0.0, 5.0),
            dir: -Vec3::Z,
            t_min: 0.0,
            t_max: 100.0,
        })
        .unwrap();
    assert!((plain.normal - Vec3::Z).length() < 1e-6);
    let turned = Affine3A::from_scale_rotation_translation(
        Vec3::splat(2.0),
        Quat::from_rotation_y(std::f32::consts::FRAC_PI_2),
        Vec3::new(3.0, 0.0, 0.0),
    );
    let tlas = Tlas::build(vec![Instance {
        blas,
        transform: turned,
    }]);
    let h = tlas
        .intersect(&Ray {
            origin: Vec3::new(10.0, 0.0, 0.0),
            dir: -Vec3::X,
            t_min: 0.0,
            t_max: 100.0,
        })
        .unwrap();
    assert!((h.normal - Vec3::X).length() < 1e-5, "{}", h.normal);
    assert!((h.t - 7.0).abs() < 1e-5);
}

/// A box query through a tree deeper than the traversal's 64-entry stack on the
/// stack: the entries past it spill to the heap and are visited in the same order.
#[test]
fn box_queries_through_a_chain_deeper_than_the_stack() {
    use crate::accel::{Bvh, BvhNode};
    // Node 0 is the root; interior node k has its children at 2k+1 (a leaf holding
    // primitive k) and 2k+2 (the next interior node, visited first), 150 levels.
    let depth = 150u32;
    let node = |left_or_first: u32, count: u32| BvhNode {
        min: [0.0; 3],
        left_or_first,
        max: [1.0; 3],
        count,
    };
    let mut nodes = vec![node(1, 0)];
    for k in 0..depth {
        nodes.push(node(k, 1));
        if k + 1 < depth {
            nodes.push(node(2 * (k + 1) + 1, 0));
        } else {
            nodes.push(node(depth, 1));
        }
    }
    let bvh = Bvh {
        nodes,
        prims: (0..=depth).collect(),
    };
    // 150 interior levels and the leaves below the last.
    assert_eq!(bvh.depth(), depth + 1);
    // An empty tree's root is a leaf of nothing.
    let empty = Bvh {
        nodes: vec![node(0, 0)],
        prims: Vec::new(),
    };
    assert_eq!(empty.depth(), 1);
    let (lo, hi) = (Vec3::splat(0.25), Vec3::splat(0.75));
    // Every leaf is reached: the one holding primitive 3 (near the top, so pushed
    // first and popped last, below 100 spilled entries) ...
    let mut seen = Vec::new();
    assert!(bvh.any_overlap(lo, hi, |_, prims| {
        seen.push(prims[0]);
        prims[0] == 3
    }));
    assert_eq!(seen.last(), Some(&3));
    // ... and with no leaf matching, all of them, each once.
    let mut all = Vec::new();
    assert!(!bvh.any_overlap(lo, hi, |_, prims| {
        all.push(prims[0]);
        false
    }));
    all.sort_unstable();
    assert_eq!(all, (0..=depth).collect::<Vec<_>>());
}
