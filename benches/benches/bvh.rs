//! BVH build and straight-ray traversal on the peer terrain (100k triangles here, to
//! keep criterion's runs short; `compare -- bvh` measures the full 1M mesh), and curved
//! rays through the Luneburg and Schwarzschild fields (ns per integrator step).

use std::time::Duration;

use benches::terrain::{coherent_rays, incoherent_rays, terrain};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use glam::DVec3;
use renderer_core::accel::Blas;
use renderer_core::field::{FieldKind, Luneburg, Medium, Schwarzschild};
use renderer_core::integrator::{Integrator, Tolerances, Verdict};

fn bvh(c: &mut Criterion) {
    let mesh = terrain(225);
    let mut g = c.benchmark_group("bvh_terrain_100k");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    g.throughput(Throughput::Elements(mesh.indices.len() as u64));
    g.bench_function("build", |b| b.iter(|| Blas::build(&mesh)));
    let blas = Blas::build(&mesh);
    let coherent = coherent_rays(256);
    let incoherent = incoherent_rays(&mesh, 65_536);
    g.throughput(Throughput::Elements(coherent.len() as u64));
    g.bench_function("coherent_rays_1_thread", |b| {
        b.iter(|| {
            coherent
                .iter()
                .filter(|r| blas.intersect(r).is_some())
                .count()
        })
    });
    g.throughput(Throughput::Elements(incoherent.len() as u64));
    g.bench_function("incoherent_rays_1_thread", |b| {
        b.iter(|| {
            incoherent
                .iter()
                .filter(|r| blas.intersect(r).is_some())
                .count()
        })
    });
    g.finish();
}

/// A named set of rays (origin, direction) through one integrator.
type Case<'a> = (&'a str, &'a Integrator, Vec<(DVec3, DVec3)>);

fn curved(c: &mut Criterion) {
    let luneburg = Integrator::new(
        Medium::default().with(FieldKind::Luneburg(Luneburg {
            centre: DVec3::ZERO,
            radius: 1.0,
        })),
        Tolerances::default(),
    );
    let hole = Integrator::new(
        Medium::default().with(FieldKind::Schwarzschild(Schwarzschild {
            centre: DVec3::ZERO,
            rs: 2.0,
            extent: 100.0,
        })),
        Tolerances::default(),
    );
    let mut g = c.benchmark_group("curved_rays");
    g.sample_size(20);
    let cases: [Case<'_>; 2] = [
        (
            "luneburg_100_rays",
            &luneburg,
            (0..100)
                .map(|k| {
                    (
                        DVec3::new(-2.0, -0.95 + 0.019 * f64::from(k), 0.1),
                        DVec3::X,
                    )
                })
                .collect(),
        ),
        (
            "schwarzschild_100_rays",
            &hole,
            (0..100)
                .map(|k| (DVec3::new(-99.0, 5.5 + 0.3 * f64::from(k), 0.0), DVec3::X))
                .collect(),
        ),
    ];
    for (name, integrator, rays) in cases {
        let (steps, segments) = rays.iter().fold((0u64, 0u64), |(s, g), &(o, d)| {
            let r = integrator.trace(o, d, None, |_| Verdict::Continue);
            (s + u64::from(r.steps), g + u64::from(r.segments))
        });
        println!(
            "{name}: {:.1} steps and {:.1} segments per ray",
            steps as f64 / 100.0,
            segments as f64 / 100.0
        );
        // Throughput in integrator steps, so criterion reports time per step.
        g.throughput(Throughput::Elements(steps));
        g.bench_function(name, |b| {
            b.iter(|| {
                rays.iter()
                    .map(|&(o, d)| integrator.trace(o, d, None, |_| Verdict::Continue).steps)
                    .sum::<u32>()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bvh, curved);
criterion_main!(benches);
