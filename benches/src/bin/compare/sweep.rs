//! `compare -- batch`'s sweep row: trace once, shade many. 64 variations of
//! `luneburg.ron` (8 sun directions x 8 wall colourings) at 320x240, 16 spp, rendered
//! (a) as one sweep (`Renderer::render_sweep`: the rays the variations share traced
//! once) and (b) one render per variation (a `Session` each, as a batch of 64 jobs
//! would), on the same pool. Checks the images are identical; reports the speed-up
//! (goal: at least 5x).

use std::sync::Arc;
use std::time::Instant;

use glam::DVec3;
use renderer_core::frame::{RenderSettings, Renderer, Snapshot};
use renderer_core::material::{Checker, Material};
use renderer_core::scene::{Light, Scene};
use renderer_core::session::Session;
use scheduler::{CancelToken, Pool, PoolConfig};

const SUNS: usize = 8;
const COLOURS: usize = 8;

/// The variations: sun `i` (turned about the vertical), wall colouring `j`.
fn variations(base: &Scene) -> Result<Vec<Arc<Scene>>, String> {
    let mut out = Vec::new();
    for i in 0..SUNS {
        let a = std::f64::consts::TAU * i as f64 / SUNS as f64;
        let dir = DVec3::new(0.6 * a.cos(), -0.7, 0.6 * a.sin());
        for j in 0..COLOURS {
            let t = j as f32 / COLOURS as f32;
            let mut s = base.edit();
            s.clear_lights().light(Light::Directional {
                direction: dir,
                irradiance: [2.0, 2.0 - t, 1.5 + t],
            });
            s.set_material(
                0,
                Material::Checker(Checker {
                    a: [0.9, 0.9 - 0.5 * t, 0.9],
                    b: [0.1 + 0.6 * t, 0.15, 0.3],
                    scale: 2.0,
                }),
            )
            .map_err(|e| e.to_string())?;
            out.push(Arc::new(s.build().map_err(|e| e.to_string())?));
        }
    }
    Ok(out)
}

/// Runs the sweep row; returns its JSON.
pub(crate) fn run() -> Result<serde_json::Value, String> {
    let path = super::batch::root().join("assets/scenes/luneburg.ron");
    let base = Scene::load(&path).map_err(|e| e.to_string())?;
    let scenes = variations(&base)?;
    let settings = RenderSettings {
        width: 320,
        height: 240,
        spp: 16,
        ..RenderSettings::default()
    };
    let pool = Arc::new(Pool::new(PoolConfig::default()).map_err(|e| e.to_string())?);
    let snapshot = Snapshot::new(Arc::clone(&scenes[0]), settings).map_err(|e| e.to_string())?;

    let t = Instant::now();
    let sweep = Renderer::new(Arc::clone(&pool))
        .render_sweep(&snapshot, &scenes, &CancelToken::new())
        .map_err(|e| e.to_string())?;
    let sweep_s = t.elapsed().as_secs_f64();
    eprintln!(
        "sweep: {} variations in {sweep_s:.2} s ({} rays traced, {} answered from memory)",
        scenes.len(),
        sweep.rays,
        sweep.remembered
    );

    let t = Instant::now();
    let mut identical = true;
    let mut rays = 0;
    for (k, scene) in scenes.iter().enumerate() {
        let mut session = Session::new(Renderer::new(Arc::clone(&pool)));
        session.set_scene(Arc::clone(scene));
        session.set_settings(settings);
        session
            .render_all(&CancelToken::new(), |r| rays += r.rays)
            .map_err(|e| e.to_string())?;
        identical &= session.renderer().film() == &sweep.films[k];
    }
    let alone_s = t.elapsed().as_secs_f64();
    let ratio = alone_s / sweep_s;
    eprintln!(
        "one render per variation: {alone_s:.2} s ({rays} rays); the sweep is {ratio:.2}x faster (goal: 5x); images identical: {identical}"
    );
    Ok(serde_json::json!({
        "scene": "luneburg.ron",
        "variations": scenes.len(),
        "varied": format!("{SUNS} sun directions x {COLOURS} wall colourings"),
        "size": [settings.width, settings.height],
        "spp": settings.spp,
        "bounces": settings.max_bounces,
        "threads": pool.threads(),
        "sweep_s": sweep_s,
        "sweep_rays": sweep.rays,
        "sweep_remembered": sweep.remembered,
        "one_render_per_variation_s": alone_s,
        "one_render_per_variation_rays": rays,
        "ratio": ratio,
        "goal_ratio": 5.0,
        "identical_images": identical,
    }))
}
