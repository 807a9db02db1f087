//! A room of Bevy meshes seen through a Luneburg lens, with a heat-haze blob, rendered
//! by Grin in a Bevy window.
//!
//! ```text
//! cargo run --release -p grin-bevy --example lens_room
//! cargo run --release -p grin-bevy --example lens_room -- --frames 60 --screenshot shot.png
//! ```
//!
//! Keys: W/A/S/D/Q/E fly, drag with the right mouse button to look; arrows move the
//! lens (PageUp/PageDown: up and down), Tab switches the arrows to the haze; 1-5 show
//! the image, depth, normals, instances or integrator segments; G switches between
//! Grin's CPU pool and Bevy's device. The title shows samples, rays/s and fps.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use bevy::core_pipeline::tonemapping::Tonemapping;
use bevy::input::mouse::AccumulatedMouseMotion;
use bevy::prelude::*;
use bevy::render::view::screenshot::{Screenshot, save_to_disk};
use bevy::window::{PrimaryWindow, WindowResolution};
use clap::Parser;
use grin_bevy::room::{self, Haze, Lens};
use grin_bevy::{GrinAov, GrinBackend, GrinCamera, GrinFilm, GrinPlugin, GrinStats};

/// Command line.
#[derive(Parser, Debug, Resource, Clone)]
#[command(about = "Grin's curved light in a Bevy window: a room through a Luneburg lens")]
struct Args {
    /// Run this many frames, then exit (with --screenshot: save the window first).
    #[arg(long)]
    frames: Option<u32>,
    /// Save the window to this PNG after --frames frames.
    #[arg(long)]
    screenshot: Option<PathBuf>,
    /// With --frames: go on past them until the film has all its samples.
    #[arg(long)]
    until_complete: bool,
    /// Film size, WIDTHxHEIGHT.
    #[arg(long, default_value = "320x240", value_parser = parse_size)]
    film: (u32, u32),
    /// Window size, WIDTHxHEIGHT.
    #[arg(long, default_value = "640x480", value_parser = parse_size)]
    window: (u32, u32),
    /// Samples per pixel to converge to.
    #[arg(long, default_value_t = 64)]
    spp: u32,
    /// Grin's time per frame, in milliseconds.
    #[arg(long, default_value_t = 20)]
    budget_ms: u64,
    /// auto (Bevy's device when it is a hardware GPU), cpu or gpu.
    #[arg(long, default_value = "auto", value_parser = parse_backend)]
    backend: GrinBackend,
}

fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let (w, h) = s.split_once('x').ok_or("expected WIDTHxHEIGHT")?;
    let w: u32 = w.parse().map_err(|e| format!("width: {e}"))?;
    let h: u32 = h.parse().map_err(|e| format!("height: {e}"))?;
    if w == 0 || h == 0 {
        return Err("sizes must be positive".into());
    }
    Ok((w, h))
}

fn parse_backend(s: &str) -> Result<GrinBackend, String> {
    match s {
        "auto" => Ok(GrinBackend::Auto),
        "cpu" => Ok(GrinBackend::Cpu),
        "gpu" => Ok(GrinBackend::Gpu),
        other => Err(format!("{other:?}: expected auto, cpu or gpu")),
    }
}

/// Frames so far and when the run started.
#[derive(Resource)]
struct Run {
    frames: u32,
    started: Instant,
    last_title: Instant,
    shot_at: Option<u32>,
    /// Whether the arrows move the haze (else the lens).
    haze: bool,
    /// Frame times after the first 30 frames (start-up: windows, pipelines), ms.
    times: Vec<f64>,
}

fn main() {
    let args = Args::parse();
    let (w, h) = args.window;
    App::new()
        .add_plugins((
            DefaultPlugins.set(WindowPlugin {
                primary_window: Some(Window {
                    title: "Grin: lens room".into(),
                    resolution: WindowResolution::new(w, h),
                    ..Window::default()
                }),
                ..WindowPlugin::default()
            }),
            GrinPlugin::default(),
        ))
        .insert_resource(args)
        .insert_resource(Run {
            frames: 0,
            started: Instant::now(),
            last_title: Instant::now(),
            shot_at: None,
            haze: false,
            times: Vec::new(),
        })
        .add_systems(Startup, setup)
        .add_systems(Update, (fly, move_fields, switch, show_film, title, frames))
        .run();
}

fn setup(
    mut commands: Commands<'_, '_>,
    mut meshes: ResMut<'_, Assets<Mesh>>,
    mut materials: ResMut<'_, Assets<StandardMaterial>>,
    args: Res<'_, Args>,
) {
    room::spawn(&mut commands, &mut meshes, &mut materials);
    let (at, projection) = room::camera();
    // The Grin camera: a transform and a projection, no Bevy 3-D camera (Bevy does
    // not render the room itself); a 2-D camera shows the film.
    let mut camera = GrinCamera::new(args.film.0, args.film.1)
        .with_spp(args.spp)
        .with_budget(Duration::from_millis(args.budget_ms))
        .with_backend(args.backend);
    // Small tiles, as the preview window: a 16x16 tile of slow curved pixels could
    // overrun a UI frame.
    camera.settings.tile = (8, 8);
    commands.spawn((camera, at, projection));
    // The film is the whole picture: no tonemapping, no multisampling (4x MSAA of a
    // full-window sprite is pure cost, on lavapipe a large one).
    commands.spawn((Camera2d, Tonemapping::None, Msaa::Off));
}

/// A sprite of the film, stretched over the window.
fn show_film(
    mut commands: Commands<'_, '_>,
    films: Query<'_, '_, &GrinFilm, Added<GrinFilm>>,
    mut sprites: Query<'_, '_, &mut Sprite>,
    window: Query<'_, '_, &Window, With<PrimaryWindow>>,
) {
    let Ok(window) = window.single() else {
        return;
    };
    let size = Vec2::new(window.width(), window.height());
    for film in &films {
        commands.spawn(Sprite {
            image: film.image.clone(),
            custom_size: Some(size),
            ..Sprite::default()
        });
    }
    for mut sprite in &mut sprites {
        if sprite.custom_size != Some(size) {
            sprite.custom_size = Some(size);
        }
    }
}

/// W/A/S/D/Q/E move the camera, the right mouse button drags the view.
fn fly(
    keys: Res<'_, ButtonInput<KeyCode>>,
    buttons: Res<'_, ButtonInput<MouseButton>>,
    motion: Res<'_, AccumulatedMouseMotion>,
    time: Res<'_, Time>,
    mut camera: Query<'_, '_, &mut Transform, With<GrinCamera>>,
) {
    let Ok(mut t) = camera.single_mut() else {
        return;
    };
    let step = 2.0 * time.delta_secs();
    let mut go = Vec3::ZERO;
    for (key, dir) in [
        (KeyCode::KeyW, *t.forward()),
        (KeyCode::KeyS, -*t.forward()),
        (KeyCode::KeyD, *t.right()),
        (KeyCode::KeyA, -*t.right()),
        (KeyCode::KeyE, Vec3::Y),
        (KeyCode::KeyQ, -Vec3::Y),
    ] {
        if keys.pressed(key) {
            go += dir;
        }
    }
    if go != Vec3::ZERO {
        t.translation += go.normalize() * step;
    }
    if buttons.pressed(MouseButton::Right) && motion.delta != Vec2::ZERO {
        let (yaw, pitch, _) = t.rotation.to_euler(EulerRot::YXZ);
        let yaw = yaw - motion.delta.x * 0.004;
        let pitch = (pitch - motion.delta.y * 0.004).clamp(-1.5, 1.5);
        t.rotation = Quat::from_euler(EulerRot::YXZ, yaw, pitch, 0.0);
    }
}

/// Arrows (and PageUp/PageDown) move the lens or, after Tab, the haze.
fn move_fields(
    keys: Res<'_, ButtonInput<KeyCode>>,
    time: Res<'_, Time>,
    mut run: ResMut<'_, Run>,
    mut lens: Query<'_, '_, &mut Transform, (With<Lens>, Without<Haze>)>,
    mut haze: Query<'_, '_, &mut Transform, (With<Haze>, Without<Lens>)>,
) {
    if keys.just_pressed(KeyCode::Tab) {
        run.haze = !run.haze;
    }
    let step = 1.0 * time.delta_secs();
    let mut go = Vec3::ZERO;
    for (key, dir) in [
        (KeyCode::ArrowLeft, -Vec3::X),
        (KeyCode::ArrowRight, Vec3::X),
        (KeyCode::ArrowUp, -Vec3::Z),
        (KeyCode::ArrowDown, Vec3::Z),
        (KeyCode::PageUp, Vec3::Y),
        (KeyCode::PageDown, -Vec3::Y),
    ] {
        if keys.pressed(key) {
            go += dir * step;
        }
    }
    if go == Vec3::ZERO {
        return;
    }
    let target = if run.haze {
        haze.single_mut()
    } else {
        lens.single_mut()
    };
    if let Ok(mut t) = target {
        t.translation += go;
    }
}

/// 1-5: what the film shows; G: CPU or Bevy's device.
fn switch(keys: Res<'_, ButtonInput<KeyCode>>, mut camera: Query<'_, '_, &mut GrinCamera>) {
    let Ok(mut c) = camera.single_mut() else {
        return;
    };
    for (key, aov) in [
        (KeyCode::Digit1, GrinAov::Image),
        (KeyCode::Digit2, GrinAov::Depth),
        (KeyCode::Digit3, GrinAov::Normal),
        (KeyCode::Digit4, GrinAov::Instance),
        (KeyCode::Digit5, GrinAov::Segments),
    ] {
        if keys.just_pressed(key) && c.aov != aov {
            c.aov = aov;
        }
    }
    if keys.just_pressed(KeyCode::KeyG) {
        c.backend = match c.backend {
            GrinBackend::Cpu => GrinBackend::Gpu,
            _ => GrinBackend::Cpu,
        };
    }
}

/// Samples, rays/s and frames per second in the title, twice a second.
fn title(
    mut run: ResMut<'_, Run>,
    stats: Res<'_, GrinStats>,
    mut window: Query<'_, '_, &mut Window, With<PrimaryWindow>>,
    time: Res<'_, Time>,
) {
    if run.last_title.elapsed() < Duration::from_millis(500) {
        return;
    }
    run.last_title = Instant::now();
    let fps = 1.0 / time.delta_secs().max(1e-6);
    let text = format!(
        "Grin: lens room | {} | {}/{} spp | {:.2} M rays/s | {:.0} fps{}",
        stats.backend,
        stats.spp,
        stats.spp_target,
        stats.rays_per_s / 1e6,
        fps,
        stats
            .error
            .as_deref()
            .map(|e| format!(" | {e}"))
            .unwrap_or_default(),
    );
    if let Ok(mut w) = window.single_mut() {
        w.title = text;
    }
}

/// Counts frames; after --frames, saves the screenshot (if asked), prints the run's
/// figures and exits.
fn frames(
    mut commands: Commands<'_, '_>,
    mut run: ResMut<'_, Run>,
    args: Res<'_, Args>,
    stats: Res<'_, GrinStats>,
    time: Res<'_, Time>,
    mut exit: MessageWriter<'_, AppExit>,
) {
    run.frames += 1;
    if run.frames > 30 {
        run.times.push(time.delta_secs_f64() * 1e3);
    }
    let Some(limit) = args.frames else {
        return;
    };
    let done = run.frames >= limit && (!args.until_complete || stats.complete);
    if done && run.shot_at.is_none() {
        let wall = run.started.elapsed().as_secs_f64();
        let mut times = run.times.clone();
        times.sort_by(f64::total_cmp);
        let median = times.get(times.len() / 2).copied().unwrap_or(f64::NAN);
        let mean = times.iter().sum::<f64>() / times.len().max(1) as f64;
        println!(
            "lens_room: {} frames in {wall:.2} s; after the first 30: median {median:.1} ms, mean {mean:.1} ms ({:.1} fps); {}/{} spp, {:.2} M rays/s, {}, extraction {:.3} ms",
            run.frames,
            1e3 / mean,
            stats.spp,
            stats.spp_target,
            stats.rays_per_s / 1e6,
            stats.backend,
            stats.extract.as_secs_f64() * 1e3,
        );
        match &args.screenshot {
            Some(path) => {
                commands
                    .spawn(Screenshot::primary_window())
                    .observe(save_to_disk(path.clone()));
            }
            None => {
                exit.write(AppExit::Success);
            }
        }
        run.shot_at = Some(run.frames);
    }
    // The screenshot is written a few frames after it is asked for.
    if let (Some(at), Some(path)) = (run.shot_at, &args.screenshot) {
        if path.exists() && run.frames > at + 1 {
            println!("lens_room: wrote {}", path.display());
            exit.write(AppExit::Success);
        } else if run.frames > at + 600 {
            eprintln!("lens_room: the screenshot was not written");
            exit.write(AppExit::from_code(1));
        }
    }
}
