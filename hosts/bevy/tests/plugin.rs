//! The plugin in headless Bevy apps (no window, no renderer: `MinimalPlugins`, Grin
//! on its CPU pool): the image matches Grin's own render of the same scene file,
//! moving an entity restarts the film and rebuilds only the TLAS, changed meshes are
//! converted again, despawned entities go, and a bad field keeps the last good scene.

use std::sync::Arc;
use std::time::Duration;

use bevy::prelude::*;
use grin_bevy::{GrinCamera, GrinField, GrinFilm, GrinStats, room};
use renderer_core::{
    CancelToken, FrameFormat, Pool, PoolConfig, RenderSettings, Renderer, Scene, Session,
};

const ROOM: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../assets/scenes/lens_room.ron"
);

/// A headless app rendering the lens room at `width` x `height`, `spp`.
fn room_app(width: u32, height: u32, spp: u32) -> App {
    let mut app = grin_bevy::headless_app(2);
    app.add_systems(
        Startup,
        move |mut commands: Commands<'_, '_>,
              mut meshes: ResMut<'_, Assets<Mesh>>,
              mut materials: ResMut<'_, Assets<StandardMaterial>>| {
            room::spawn(&mut commands, &mut meshes, &mut materials);
            let (at, projection) = room::camera();
            commands.spawn((
                GrinCamera::new(width, height)
                    .with_spp(spp)
                    .with_budget(Duration::from_millis(40)),
                at,
                projection,
            ));
        },
    );
    app
}

fn stats(app: &App) -> GrinStats {
    app.world().resource::<GrinStats>().clone()
}

/// Updates until the film has all its samples.
fn converge(app: &mut App) {
    for _ in 0..2000 {
        app.update();
        let s = stats(app);
        assert!(s.error.is_none(), "{:?}", s.error);
        if s.complete {
            return;
        }
    }
    panic!("the film did not converge in 2000 frames: {:?}", stats(app));
}

/// The film image's RGBA8 pixels.
fn pixels(app: &mut App) -> Vec<u8> {
    let world = app.world_mut();
    let handle = world
        .query::<&GrinFilm>()
        .single(world)
        .expect("one Grin camera")
        .image
        .clone();
    let images = world.resource::<Assets<Image>>();
    images
        .get(&handle)
        .and_then(|i| i.data.clone())
        .expect("the film image has data")
}

/// Grin's own render of the scene file at the same settings (what `grin render`
/// runs: the session's whole-frame render).
fn grin_render(path: &str, settings: RenderSettings) -> Vec<u8> {
    let scene = Scene::load(path.as_ref()).expect("the room's scene file loads");
    let pool = Arc::new(Pool::new(PoolConfig::with_threads(2)).expect("a pool"));
    let mut session = Session::new(Renderer::new(pool));
    session.set_scene(Arc::new(scene));
    session.set_settings(settings);
    session
        .render_all(&CancelToken::new(), |_| {})
        .expect("the scene renders");
    let view = session.frame(FrameFormat::Rgba8).expect("a frame");
    view.rgba8().expect("RGBA8").to_vec()
}

/// The share of pixels whose channels are all within `tolerance` of the other's.
fn share_within(a: &[u8], b: &[u8], tolerance: u8) -> f64 {
    assert_eq!(a.len(), b.len());
    let close = a
        .chunks_exact(4)
        .zip(b.chunks_exact(4))
        .filter(|(p, q)| {
            p.iter()
                .zip(q.iter())
                .all(|(x, y)| x.abs_diff(*y) <= tolerance)
        })
        .count();
    close as f64 / (a.len() / 4) as f64
}

/// Pixels clearly red (the red box).
fn red_pixels(rgba: &[u8]) -> usize {
    rgba.chunks_exact(4)
        .filter(|p| {
            u32::from(p[0]) > u32::from(p[1]) + 60 && u32::from(p[0]) > u32::from(p[2]) + 60
        })
        .count()
}

#[test]
fn the_plugin_renders_what_grin_renders_of_the_same_scene_file() {
    let (w, h, spp) = (96, 72, 16);
    let mut app = room_app(w, h, spp);
    converge(&mut app);
    let s = stats(&app);
    assert_eq!((s.spp, s.spp_target, s.instances), (16, 16, 4));
    let plugin = pixels(&mut app);
    let reference = grin_render(
        ROOM,
        RenderSettings {
            width: w,
            height: h,
            spp,
            ..RenderSettings::default()
        },
    );
    let share = share_within(&plugin, &reference, 2);
    assert!(
        share >= 0.99,
        "{:.2}% of pixels within 2/255 of grin's render (99% asked)",
        share * 100.0
    );
    // The scene shows what it should: the red box, through or beside the lens.
    assert!(
        red_pixels(&plugin) > 50,
        "{} red pixels",
        red_pixels(&plugin)
    );
}

#[test]
fn moving_an_entity_restarts_the_film_and_rebuilds_only_the_tlas() {
    let mut app = room_app(48, 36, 4);
    converge(&mut app);
    let before = stats(&app);
    assert_eq!((before.films, before.full_prepares), (1, 1));
    assert_eq!(before.blas_builds, 4, "floor, wall and two boxes");
    // Unchanged: the film stays (complete), nothing is rebuilt.
    for _ in 0..3 {
        app.update();
    }
    let still = stats(&app);
    assert_eq!(
        (still.films, still.full_prepares, still.tlas_rebuilds),
        (1, 1, 0)
    );
    assert!(still.complete);
    // Move one box.
    let world = app.world_mut();
    let mut boxes = world.query_filtered::<&mut Transform, With<Mesh3d>>();
    let mut moved = boxes.iter_mut(world).nth(2).expect("a third mesh entity");
    moved.translation.x += 0.3;
    app.update();
    let after = stats(&app);
    assert_eq!(after.films, 2, "the film restarted");
    assert_eq!(after.tlas_rebuilds, 1, "the TLAS was rebuilt");
    assert_eq!(after.full_prepares, 1, "nothing else was prepared");
    assert_eq!(after.blas_builds, 4, "no BLAS was built");
    assert_eq!(
        after.mesh_uploads, before.mesh_uploads,
        "no mesh converted again"
    );
    // And it converges again, without another restart.
    let mut last = after.spp;
    while !stats(&app).complete {
        app.update();
        let s = stats(&app);
        assert!(s.spp >= last, "samples never go back while nothing changes");
        assert_eq!(s.films, 2);
        last = s.spp;
    }
}

#[test]
fn a_changed_mesh_is_converted_again_and_a_despawned_entity_disappears() {
    let mut app = room_app(64, 48, 2);
    converge(&mut app);
    let first = stats(&app);
    let red_before = red_pixels(&pixels(&mut app));
    assert!(red_before > 20, "{red_before} red pixels");
    // Change the green box's mesh asset in place (taller).
    let world = app.world_mut();
    let mut q = world.query::<(Entity, &Mesh3d, &Transform)>();
    let (green, handle) = q
        .iter(world)
        .find(|(_, _, t)| (t.translation.x - 1.3).abs() < 1e-4)
        .map(|(e, m, _)| (e, m.0.clone()))
        .expect("the green box");
    let mut meshes = world.resource_mut::<Assets<Mesh>>();
    *meshes.get_mut(&handle).expect("its mesh") = Cuboid::new(0.8, 2.0, 0.8).into();
    converge(&mut app);
    let changed = stats(&app);
    assert_eq!(
        changed.mesh_uploads,
        first.mesh_uploads + 1,
        "the changed mesh was converted"
    );
    assert_eq!(
        changed.blas_builds,
        first.blas_builds + 1,
        "and its BLAS built"
    );
    assert_eq!(changed.films, first.films + 1);
    // Despawn the red box: it disappears from the image.
    let world = app.world_mut();
    let mut q = world.query::<(Entity, &Transform)>();
    let red = q
        .iter(world)
        .find(|(e, t)| *e != green && (t.translation.x + 1.2).abs() < 1e-4)
        .map(|(e, _)| e)
        .expect("the red box");
    world.despawn(red);
    converge(&mut app);
    let gone = stats(&app);
    assert_eq!(gone.instances, 3);
    assert_eq!(red_pixels(&pixels(&mut app)), 0, "no red left");
}

#[test]
fn an_invalid_field_is_reported_and_the_last_good_scene_keeps_rendering() {
    let mut app = room_app(48, 36, 8);
    app.update();
    let world = app.world_mut();
    let mut lens = world.query_filtered::<&mut GrinField, With<room::Lens>>();
    lens.single_mut(world).expect("the lens").0 = renderer_core::field::Luneburg {
        centre: glam::DVec3::ZERO,
        radius: -1.0,
    }
    .into();
    app.update();
    let s = stats(&app);
    let error = s.error.clone().expect("the bad field is reported");
    assert!(error.contains("GrinField on"), "{error}");
    assert!(error.contains("radius"), "{error}");
    assert_eq!(s.films, 1, "the last good scene renders on");
    // It keeps converging on the last good scene.
    for _ in 0..2000 {
        if stats(&app).complete {
            break;
        }
        app.update();
    }
    let s = stats(&app);
    assert!(s.complete && s.films == 1, "{s:?}");
    // A good field again: the error clears and the film restarts with it.
    let world = app.world_mut();
    let mut lens = world.query_filtered::<&mut GrinField, With<room::Lens>>();
    lens.single_mut(world).expect("the lens").0 = renderer_core::field::Luneburg {
        centre: glam::DVec3::ZERO,
        radius: 0.5,
    }
    .into();
    app.update();
    let s = stats(&app);
    assert!(s.error.is_none(), "{:?}", s.error);
    assert_eq!(s.films, 2);
}
