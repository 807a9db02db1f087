//! The plugin's cost per frame with 10, 100 and 1,000 moving entities: the
//! extraction alone (Bevy queries to the Grin scene handed to the session: the
//! plugin's `GrinStats::extract`); the extraction and the session's update (the
//! stages 1-2 the step ran: the TLAS rebuilt); and a whole `App::update` with a 1x1
//! film (Bevy's schedule and transform propagation, extraction, the update, one
//! sample).
//!
//! `cargo bench -p grin-bevy --bench host --ignore-rust-version`

use std::time::Duration;

use bevy::prelude::*;
use criterion::{Criterion, criterion_group, criterion_main};
use grin_bevy::{GrinBackend, GrinCamera, GrinStats};
use renderer_core::frame::stage;

#[derive(Component)]
struct Mover(Vec3);

fn app(n: usize) -> App {
    let mut app = grin_bevy::headless_app(2);
    app.add_systems(
        Startup,
        move |mut commands: Commands<'_, '_>,
              mut meshes: ResMut<'_, Assets<Mesh>>,
              mut materials: ResMut<'_, Assets<StandardMaterial>>| {
            let mesh = meshes.add(Cuboid::new(0.2, 0.2, 0.2));
            let material = materials.add(Color::linear_rgb(0.6, 0.5, 0.4));
            let side = (n as f32).sqrt().ceil() as usize;
            for i in 0..n {
                let at = Vec3::new(
                    (i % side) as f32 * 0.5,
                    0.0,
                    -((i / side) as f32) * 0.5 - 2.0,
                );
                commands.spawn((
                    Mesh3d(mesh.clone()),
                    MeshMaterial3d(material.clone()),
                    Transform::from_translation(at),
                    Mover(at),
                ));
            }
            commands.spawn((
                DirectionalLight::default(),
                Transform::default().looking_to(Vec3::new(0.3, -1.0, -0.5), Vec3::Y),
            ));
            commands.spawn((
                GrinCamera::new(1, 1)
                    .with_spp(1)
                    .with_budget(Duration::ZERO)
                    .with_backend(GrinBackend::Cpu),
                Transform::from_xyz(0.0, 2.0, 4.0).looking_at(Vec3::new(0.0, 0.0, -3.0), Vec3::Y),
            ));
        },
    );
    // Every entity moves every frame.
    app.add_systems(
        Update,
        |mut frame: Local<'_, u32>, mut movers: Query<'_, '_, (&Mover, &mut Transform)>| {
            *frame += 1;
            let dy = (*frame as f32 * 0.1).sin() * 0.1;
            for (m, mut t) in &mut movers {
                t.translation = m.0 + Vec3::Y * dy;
            }
        },
    );
    for _ in 0..5 {
        app.update();
    }
    app
}

fn host(c: &mut Criterion) {
    let mut g = c.benchmark_group("bevy_host");
    for n in [10, 100, 1000] {
        let mut a = app(n);
        g.bench_function(format!("extract/{n}"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    a.update();
                    let s = a.world().resource::<GrinStats>();
                    assert_eq!(s.instances, n);
                    assert!(s.error.is_none(), "{:?}", s.error);
                    total += s.extract;
                }
                total
            });
        });
        // The extraction and the session's update: stages 1-2 as the step ran them
        // (the TLAS rebuilt; BLASes, fields and emitters kept).
        g.bench_function(format!("extract+tlas/{n}"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    a.update();
                    let s = a.world().resource::<GrinStats>();
                    let prepare: Duration = s
                        .stages
                        .iter()
                        .filter(|(name, _)| {
                            [stage::BLAS, stage::FIELDS, stage::TLAS].contains(&name.as_str())
                        })
                        .map(|(_, t)| *t)
                        .sum();
                    total += s.extract + prepare;
                }
                total
            });
        });
        g.bench_function(format!("update/{n}"), |b| b.iter(|| a.update()));
        let s = a.world().resource::<GrinStats>();
        assert!(s.tlas_rebuilds > 0 && s.full_prepares == 1, "{s:?}");
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(3));
    targets = host
}
criterion_main!(benches);
