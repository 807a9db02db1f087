//! BVH build and straight-ray traversal on the peer terrain (100k triangles here, to
//! keep criterion's runs short; `compare -- bvh` measures the full 1M mesh), and curved
//! rays through the Luneburg (exact and with a pixel's cone), fish-eye (extents 16
//! and 1000) and Schwarzschild fields (ns per integrator step; steps per ray printed).

use std::time::Duration;

use benches::terrain::{coherent_rays, incoherent_rays, terrain};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use glam::DVec3;
use renderer_core::accel::Blas;
use renderer_core::field::{FieldKind, Luneburg, MaxwellFishEye, Medium, Schwarzschild};
use renderer_core::integrator::{Integrator, RayCone, Tolerances, Verdict};

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

/// A named set of rays (origin, direction) through one integrator, each standing
/// for the beam `RayCone` (`EXACT`: the tolerances alone).
type Case<'a> = (&'a str, &'a Integrator, Vec<(DVec3, DVec3)>, RayCone);

fn fisheye(extent: f64) -> Integrator {
    Integrator::new(
        Medium::default().with(FieldKind::MaxwellFishEye(MaxwellFishEye {
            centre: DVec3::ZERO,
            radius: 1.0,
            n0: 2.0,
            extent,
        })),
        Tolerances::default(),
    )
}

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
    let (fish16, fish1000) = (fisheye(16.0), fisheye(1000.0));
    // A 320x240 pixel of a 35 degree view (the README scene's).
    let pixel = RayCone {
        width: 0.0,
        spread: 2.5e-3,
    };
    let lens_rays: Vec<(DVec3, DVec3)> = (0..100)
        .map(|k| {
            (
                DVec3::new(-2.0, -0.95 + 0.019 * f64::from(k), 0.1),
                DVec3::X,
            )
        })
        .collect();
    // Through the fish-eye off its centre, out past its extent.
    let fish_rays: Vec<(DVec3, DVec3)> = (0..100)
        .map(|k| {
            (
                DVec3::new(-3.0, -0.9 + 0.018 * f64::from(k), 0.2),
                DVec3::new(1.0, 0.05, 0.0).normalize(),
            )
        })
        .collect();
    let mut g = c.benchmark_group("curved_rays");
    g.sample_size(20);
    let cases: [Case<'_>; 5] = [
        (
            "luneburg_100_rays",
            &luneburg,
            lens_rays.clone(),
            RayCone::EXACT,
        ),
        ("luneburg_100_pixel_rays", &luneburg, lens_rays, pixel),
        (
            "fisheye_extent16_100_rays",
            &fish16,
            fish_rays.clone(),
            RayCone::EXACT,
        ),
        (
            "fisheye_extent1000_100_rays",
            &fish1000,
            fish_rays,
            RayCone::EXACT,
        ),
        (
            "schwarzschild_100_rays",
            &hole,
            (0..100)
                .map(|k| (DVec3::new(-99.0, 5.5 + 0.3 * f64::from(k), 0.0), DVec3::X))
                .collect(),
            RayCone::EXACT,
        ),
    ];
    for (name, integrator, rays, cone) in cases {
        let (steps, segments) = rays.iter().fold((0u64, 0u64), |(s, g), &(o, d)| {
            let r = integrator.trace_cone(o, d, cone, None, |_| Verdict::Continue);
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
                    .map(|&(o, d)| {
                        integrator
                            .trace_cone(o, d, cone, None, |_| Verdict::Continue)
                            .steps
                    })
                    .sum::<u32>()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bvh, curved);
criterion_main!(benches);
