//! The preview's camera controller (orbit, pan, zoom, fly) and the scripted input
//! events that drive it in tests and demos.

use glam::DVec3;
use renderer_core::scene::CameraDesc;

/// An orbit camera around a target. Until it is moved it reports the scene's camera
/// exactly (no round trip through angles), so an untouched view matches `grin render`.
#[derive(Debug, Clone)]
pub(crate) struct Orbit {
    original: CameraDesc,
    moved: bool,
    target: DVec3,
    distance: f64,
    yaw: f64,
    pitch: f64,
}

impl Orbit {
    pub(crate) fn new(c: CameraDesc) -> Self {
        let d = c.position - c.look_at;
        let distance = d.length().max(1e-9);
        Self {
            original: c,
            moved: false,
            target: c.look_at,
            distance,
            yaw: d.x.atan2(d.z),
            pitch: (d.y / distance).clamp(-1.0, 1.0).asin(),
        }
    }

    /// The camera now.
    pub(crate) fn desc(&self) -> CameraDesc {
        if !self.moved {
            return self.original;
        }
        let (sy, cy) = self.yaw.sin_cos();
        let (sp, cp) = self.pitch.sin_cos();
        CameraDesc {
            position: self.target + self.distance * DVec3::new(cp * sy, sp, cp * cy),
            look_at: self.target,
            ..self.original
        }
    }

    fn basis(&self) -> (DVec3, DVec3, DVec3) {
        let c = self.desc();
        let forward = (c.look_at - c.position).normalize_or(DVec3::Z);
        let right = forward.cross(c.up).normalize_or(DVec3::X);
        let up = right.cross(forward);
        (forward, right, up)
    }

    /// Left-drag by `dx`, `dy` pixels: around the target.
    pub(crate) fn orbit(&mut self, dx: f64, dy: f64) {
        self.yaw -= dx * 0.01;
        self.pitch = (self.pitch + dy * 0.01).clamp(-1.55, 1.55);
        self.moved = true;
    }

    /// Right-drag by `dx`, `dy` pixels: the target slides in the view plane.
    pub(crate) fn pan(&mut self, dx: f64, dy: f64) {
        let (_, right, up) = self.basis();
        self.target += (-dx * right + dy * up) * self.distance * 0.002;
        self.moved = true;
    }

    /// Wheel `steps` (positive: closer).
    pub(crate) fn zoom(&mut self, steps: f64) {
        self.distance = (self.distance * 0.9f64.powf(steps)).max(1e-6);
        self.moved = true;
    }

    /// WASD (forward, left, back, right) and QE (down, up): eye and target move
    /// together by a twentieth of the orbit distance.
    pub(crate) fn fly(&mut self, key: char) -> bool {
        let (forward, right, _) = self.basis();
        let step = self.distance * 0.05;
        let d = match key.to_ascii_lowercase() {
            'w' => forward,
            's' => -forward,
            'a' => -right,
            'd' => right,
            'q' => -DVec3::Y,
            'e' => DVec3::Y,
            _ => return false,
        };
        self.target += d * step;
        self.moved = true;
        true
    }
}

/// A scripted input event (one per UI frame).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Event {
    Orbit(f64, f64),
    Pan(f64, f64),
    Zoom(f64),
    Key(char),
}

/// Parses an input script: one event per line, `orbit DX DY`, `pan DX DY`, `zoom
/// STEPS`, `key K [TIMES]`; `#` starts a comment.
pub(crate) fn parse_script(text: &str) -> Result<Vec<Event>, String> {
    let mut v = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let bad = |why: &str| format!("line {}: {why}: {line:?}", i + 1);
        let parts: Vec<&str> = line.split_whitespace().collect();
        let num = |k: usize| -> Result<f64, String> {
            parts
                .get(k)
                .and_then(|s| s.parse::<f64>().ok())
                .filter(|x| x.is_finite())
                .ok_or_else(|| bad("expected a number"))
        };
        match parts[0] {
            "orbit" => v.push(Event::Orbit(num(1)?, num(2)?)),
            "pan" => v.push(Event::Pan(num(1)?, num(2)?)),
            "zoom" => v.push(Event::Zoom(num(1)?)),
            "key" => {
                let k = parts
                    .get(1)
                    .and_then(|s| s.chars().next())
                    .filter(|c| "wasdqeWASDQE".contains(*c))
                    .ok_or_else(|| bad("expected one of W A S D Q E"))?;
                let times = if parts.len() > 2 { num(2)? as usize } else { 1 };
                v.extend(std::iter::repeat_n(Event::Key(k), times));
            }
            _ => return Err(bad("unknown event (orbit, pan, zoom, key)")),
        }
    }
    Ok(v)
}

pub(crate) use crate::cli_args::parse_camera;

/// The camera as `--camera` takes it (round-trip precision).
pub(crate) fn format_camera(c: &CameraDesc) -> String {
    let p = c.position;
    let l = c.look_at;
    format!(
        "{:?},{:?},{:?},{:?},{:?},{:?},{:?}",
        p.x, p.y, p.z, l.x, l.y, l.z, c.fov_deg
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cam() -> CameraDesc {
        CameraDesc {
            position: DVec3::new(0.0, 1.0, -4.0),
            look_at: DVec3::ZERO,
            up: DVec3::Y,
            fov_deg: 40.0,
            observer: Default::default(),
        }
    }

    #[test]
    fn untouched_is_exact_and_moves_behave() {
        let mut o = Orbit::new(cam());
        assert_eq!(o.desc(), cam());
        o.orbit(0.0, 0.0);
        let d = o.desc();
        assert!(
            (d.position - cam().position).length() < 1e-12,
            "same place via angles"
        );
        o.zoom(1.0);
        assert!((o.desc().position.length() - 0.9 * 17f64.sqrt()).abs() < 1e-9);
        let before = o.desc();
        assert!(o.fly('w'));
        let after = o.desc();
        assert!((after.look_at - before.look_at).dot(before.look_at - before.position) > 0.0);
        assert!(!o.fly('x'));
    }

    #[test]
    fn scripts_and_cameras_parse() {
        let s = parse_script("# a tour\norbit 40 -10\npan 5 5\nzoom 2\nkey W 3\n").unwrap();
        assert_eq!(s.len(), 6);
        assert_eq!(s[0], Event::Orbit(40.0, -10.0));
        assert!(parse_script("spin 1").unwrap_err().contains("line 1"));
        assert!(parse_script("key X").is_err());
        let c = cam();
        let (p, l, f) = parse_camera(&format_camera(&c)).unwrap();
        assert_eq!((p, l, f), (c.position, c.look_at, Some(40.0)));
        assert!(parse_camera("1,2,3").is_err());
    }
}
