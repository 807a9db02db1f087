//! The `lens_room` example in a window under a virtual X server (Xvfb, which CI
//! installs), headless with `--frames N --screenshot`: on Grin's CPU pool the
//! window's image matches Grin's render of `assets/scenes/lens_room.ron`, and on
//! Bevy's own device (lavapipe here) the film resolved in place on the device shows
//! the same scene. Without Xvfb the tests skip, unless GRIN_REQUIRE_GPU=1 (CI), which
//! demands them.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use renderer_core::{
    CancelToken, FrameFormat, Pool, PoolConfig, RenderSettings, Renderer, Scene, Session,
};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

/// A private Xvfb display for one test, stopped on drop.
struct Display {
    name: String,
    server: Child,
}

impl Drop for Display {
    fn drop(&mut self) {
        // SIGTERM, so that Xvfb removes its lock and socket.
        let _ = Command::new("kill")
            .arg(self.server.id().to_string())
            .status();
        let _ = self.server.wait();
    }
}

/// Starts Xvfb on a display it picks itself (`-displayfd`).
fn display() -> Option<Display> {
    let server = Command::new("Xvfb")
        .args([
            "-displayfd",
            "1",
            "-screen",
            "0",
            "800x600x24",
            "-nolisten",
            "tcp",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn();
    let Ok(mut server) = server else {
        assert!(
            std::env::var("GRIN_REQUIRE_GPU").as_deref() != Ok("1"),
            "GRIN_REQUIRE_GPU=1 but Xvfb cannot start"
        );
        eprintln!("skipped: no Xvfb");
        return None;
    };
    let mut line = String::new();
    let stdout = server.stdout.take().expect("Xvfb's stdout is piped");
    let _ = BufReader::new(stdout).read_line(&mut line);
    let n: u32 = line
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("Xvfb did not start (it printed {line:?} for its display)"));
    Some(Display {
        name: format!(":{n}"),
        server,
    })
}

/// The example's binary, built beside this test (`cargo test` builds examples).
fn example() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's path");
    let profile = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps");
    profile.join("examples").join("lens_room")
}

fn temp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("grin-bevy-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("a temporary folder");
    d
}

/// Runs the example to a converged 4-spp film at 160x120 in a window of the same
/// size, saves the window, and returns the screenshot and what the example printed.
fn run_example(d: &Display, backend: &str, shot: &Path) -> (image::RgbImage, String) {
    let out = Command::new(example())
        .args([
            "--frames",
            "10",
            "--until-complete",
            "--spp",
            "4",
            "--film",
            "160x120",
            "--window",
            "160x120",
            "--backend",
            backend,
            "--screenshot",
        ])
        .arg(shot)
        .current_dir(ROOT)
        .env("DISPLAY", &d.name)
        .env_remove("WAYLAND_DISPLAY")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the example starts");
    // A film that never completes must not hang the test: stop it after 5 minutes.
    let pid = out.id();
    let (done, stop) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if stop.recv_timeout(Duration::from_secs(300)).is_err() {
            let _ = Command::new("kill").arg(pid.to_string()).status();
        }
    });
    let out = out.wait_with_output().expect("the example runs");
    let _ = done.send(());
    let _ = watchdog.join();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "lens_room failed: {text}");
    let image = image::open(shot)
        .unwrap_or_else(|e| panic!("{}: {e}\n{text}", shot.display()))
        .to_rgb8();
    (image, text)
}

/// Grin's own render of the room at 160x120, 4 spp, on `backend` (what `grin render
/// --backend` runs: the session's whole-frame render).
fn reference(backend: renderer_core::Backend) -> image::RgbImage {
    let scene = Scene::load(Path::new(ROOT).join("assets/scenes/lens_room.ron").as_ref())
        .expect("the room's scene file loads");
    let pool = Arc::new(Pool::new(PoolConfig::with_threads(2)).expect("a pool"));
    let renderer = Renderer::with_backend(pool, backend, &renderer_core::GpuConfig::from_env())
        .expect("the backend opens");
    let mut session = Session::new(renderer);
    session.set_scene(Arc::new(scene));
    session.set_settings(RenderSettings {
        width: 160,
        height: 120,
        spp: 4,
        ..RenderSettings::default()
    });
    session
        .render_all(&CancelToken::new(), |_| {})
        .expect("the room renders");
    let view = session.frame(FrameFormat::Rgba8).expect("a frame");
    let rgb: Vec<u8> = view
        .rgba8()
        .expect("RGBA8")
        .chunks_exact(4)
        .flat_map(|p| [p[0], p[1], p[2]])
        .collect();
    image::RgbImage::from_raw(160, 120, rgb).expect("160x120")
}

/// Share of pixels whose channels all lie within `tol` of the other image's.
fn within(a: &image::RgbImage, b: &image::RgbImage, tol: u8) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let ok = a
        .pixels()
        .zip(b.pixels())
        .filter(|(p, q)| p.0.iter().zip(q.0).all(|(x, y)| x.abs_diff(y) <= tol))
        .count();
    ok as f64 / f64::from(a.width() * a.height())
}

#[test]
fn the_example_on_the_cpu_shows_grins_render_of_the_room_in_its_window() {
    let Some(d) = display() else {
        return;
    };
    let dir = temp("cpu");
    let (shot, text) = run_example(&d, "cpu", &dir.join("shot.png"));
    assert!(text.contains("4/4 spp"), "{text}");
    assert!(text.contains("CPU"), "{text}");
    let share = within(&shot, &reference(renderer_core::Backend::Cpu), 2);
    assert!(
        share >= 0.99,
        "{:.2}% of the window's pixels within 2/255 of grin's render\n{text}",
        share * 100.0
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_example_on_bevys_device_resolves_the_film_in_place() {
    let Some(d) = display() else {
        return;
    };
    let dir = temp("gpu");
    let (shot, text) = run_example(&d, "gpu", &dir.join("shot.png"));
    assert!(text.contains("4/4 spp"), "{text}");
    assert!(
        text.contains("(Bevy's device)"),
        "rendered on Bevy's device: {text}"
    );
    // What Grin's own GPU backend renders of the scene file on the same adapter.
    let share = within(&shot, &reference(renderer_core::Backend::Gpu), 2);
    assert!(
        share >= 0.99,
        "{:.2}% of the window's pixels within 2/255 of grin's GPU render\n{text}",
        share * 100.0
    );
    let _ = std::fs::remove_dir_all(dir);
}
