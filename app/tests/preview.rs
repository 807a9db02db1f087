//! `grin-preview` in scripted runs under a virtual X server (Xvfb, which CI
//! installs): its window's image (read back from the swapchain) matches `grin
//! render`; replayed input moves the camera to where `grin render --camera` sees the
//! same image; editing the scene file reloads it and a broken edit keeps the last good
//! scene. Without Xvfb the tests skip, unless GRIN_REQUIRE_GPU=1 (CI), which demands
//! them.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// A private Xvfb display for one test, killed on drop.
struct Display {
    name: String,
    server: Option<Child>,
}

impl Drop for Display {
    fn drop(&mut self) {
        if let Some(s) = self.server.as_mut() {
            // SIGTERM, so that Xvfb removes its lock and socket (a SIGKILLed server
            // leaves them behind for the next run to trip over).
            let _ = Command::new("kill").arg(s.id().to_string()).status();
            let _ = s.wait();
        }
    }
}

/// Starts Xvfb on a display it picks itself (`-displayfd`: it writes the number
/// once it accepts connections), so neither another run's display nor a stale
/// socket of a killed one is ever taken for ours.
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
        server: Some(server),
    })
}

fn preview(d: &Display, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_grin-preview"));
    c.args(args)
        .current_dir(ROOT)
        .env("DISPLAY", &d.name)
        .env_remove("WAYLAND_DISPLAY")
        .env("NODEVICE_SELECT", "1");
    c
}

fn grin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_grin"))
        .args(args)
        .current_dir(ROOT)
        .env("NODEVICE_SELECT", "1")
        .output()
        .unwrap()
}

fn temp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("grin-preview-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn rgb(path: &Path) -> image::RgbImage {
    image::open(path).unwrap().to_rgb8()
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
fn the_window_shows_what_grin_render_renders_on_the_gpu_adapter() {
    let Some(d) = display() else { return };
    let dir = temp("shot");
    // A screenshot of luneburg at 96x72, 4 spp on the GPU, presented `present`.
    let screenshot = |present: &str| {
        let shot = dir.join(format!("{present}.png"));
        let out = preview(
            &d,
            &[
                "assets/scenes/luneburg.ron",
                "--size",
                "96x72",
                "--spp",
                "4",
                "--backend",
                "gpu",
                "--present",
                present,
                "--screenshot",
                shot.to_str().unwrap(),
            ],
        )
        .output()
        .unwrap();
        (shot, out)
    };
    let (shot, out) = screenshot("device");
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.code() == Some(4) {
        assert!(
            std::env::var("GRIN_REQUIRE_GPU").as_deref() != Ok("1"),
            "GRIN_REQUIRE_GPU=1 but: {stderr}"
        );
        return;
    }
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("frames render on GPU"), "{stderr}");
    // On the window's own device, drawn from the film buffer without copies...
    assert!(stderr.contains("film drawn in place"), "{stderr}");
    // ...the same picture as the film read back, converted and uploaded.
    let (host_shot, out) = screenshot("host");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("film drawn in place"), "{stderr}");
    // The host path rounds to 8 bits before the sRGB texture decodes it again.
    let same = within(&rgb(&shot), &rgb(&host_shot), 1);
    assert!(same == 1.0, "{same}");
    let reference = dir.join("ref.png");
    let r = grin(&[
        "render",
        "assets/scenes/luneburg.ron",
        "-o",
        reference.to_str().unwrap(),
        "--size",
        "96x72",
        "--spp",
        "4",
        "--backend",
        "cpu",
    ]);
    assert!(r.status.success());
    // The GPU path's parity with the CPU on this scene (tests/gpu.rs): 99.9% of
    // pixels within 2/255.
    let share = within(&rgb(&shot), &rgb(&reference), 2);
    assert!(share >= 0.99, "{share}");
}

#[test]
fn replayed_input_moves_the_camera_where_grin_render_agrees() {
    let Some(d) = display() else { return };
    let dir = temp("replay");
    let script = dir.join("input.txt");
    std::fs::write(&script, "orbit 60 -20\nzoom 2\npan 10 -5\nkey W 2\nkey E\n").unwrap();
    let shot = dir.join("shot.png");
    let out = preview(
        &d,
        &[
            "assets/scenes/tetra.ron",
            "--size",
            "80x60",
            "--spp",
            "2",
            "--backend",
            "cpu",
            "--input",
            script.to_str().unwrap(),
            "--print-camera",
            "--screenshot",
            shot.to_str().unwrap(),
        ],
    )
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let camera = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let start = "2.0,2.0,-3.0";
    assert!(!camera.starts_with(start), "the camera moved: {camera}");
    let reference = dir.join("ref.png");
    let r = grin(&[
        "render",
        "assets/scenes/tetra.ron",
        "-o",
        reference.to_str().unwrap(),
        "--size",
        "80x60",
        "--spp",
        "2",
        "--backend",
        "cpu",
        "--camera",
        &camera,
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert_eq!(within(&rgb(&shot), &rgb(&reference), 0), 1.0);
}

#[test]
fn editing_the_scene_reloads_it_and_a_broken_edit_keeps_the_last_good_one() {
    let Some(d) = display() else { return };
    let dir = temp("reload");
    let original =
        std::fs::read_to_string(Path::new(ROOT).join("assets/scenes/tetra.ron")).unwrap();
    // Mesh paths are relative to the scene file: keep it beside them.
    let scene = Path::new(ROOT).join(format!("assets/scenes/.reload-{}.ron", std::process::id()));
    std::fs::write(&scene, &original).unwrap();
    let shot = dir.join("shot.png");
    let mut child = preview(
        &d,
        &[
            scene.to_str().unwrap(),
            "--size",
            "64x48",
            "--spp",
            "2",
            "--backend",
            "cpu",
            "--wait-reloads",
            "1",
            "--frames",
            "100000",
            "--screenshot",
            shot.to_str().unwrap(),
        ],
    )
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut log = Vec::new();
    let wait_for = |what: &str, log: &mut Vec<String>| {
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(60) {
            if let Ok(l) = rx.recv_timeout(Duration::from_millis(100)) {
                let hit = l.contains(what);
                log.push(l);
                if hit {
                    return;
                }
            }
        }
        panic!("no {what:?} in {log:#?}");
    };
    wait_for("showing", &mut log);
    std::fs::write(&scene, "( this is not a scene").unwrap();
    wait_for("reload failed", &mut log);
    let red = original.replace(
        "environment: GradientSky(horizon: (0.8, 0.85, 0.9), zenith: (0.2, 0.35, 0.7)),",
        "environment: Constant((1.0, 0.0, 0.0)),",
    );
    assert_ne!(red, original, "the test edits the sky");
    std::fs::write(&scene, &red).unwrap();
    wait_for("reloaded", &mut log);
    let status = child.wait().unwrap();
    let _ = std::fs::remove_file(&scene);
    assert!(status.success(), "{log:#?}");
    let img = rgb(&shot);
    let corner = img.get_pixel(0, 0).0;
    assert!(
        corner[0] > 200 && corner[1] < 30 && corner[2] < 30,
        "red sky: {corner:?}"
    );
}

#[test]
fn a_missing_scene_exits_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_grin-preview"))
        .arg("no/such/scene.ron")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no/such/scene.ron"));
}
