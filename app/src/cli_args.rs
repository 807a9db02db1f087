//! The arguments `grin render` and `grin-preview` share (one source, included by
//! both binaries): `--camera`, `--size` and `--backend`.

use renderer_core::gpu::Backend;

/// Where frames render (`--backend`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum BackendArg {
    /// GPU if present, else CPU.
    Auto,
    /// CPU threads.
    Cpu,
    /// GPU only.
    Gpu,
}

impl From<BackendArg> for Backend {
    fn from(b: BackendArg) -> Self {
        match b {
            BackendArg::Auto => Backend::Auto,
            BackendArg::Cpu => Backend::Cpu,
            BackendArg::Gpu => Backend::Gpu,
        }
    }
}

/// Parses `WxH` with both sides in `1..=max`.
fn parse_size_within(s: &str, max: u32) -> Result<(u32, u32), String> {
    let bad = || format!("expected WxH with both in 1..={max}, got '{s}'");
    let (w, h) = s.split_once(['x', 'X']).ok_or_else(bad)?;
    let (w, h) = (
        w.trim().parse::<u32>().map_err(|_| bad())?,
        h.trim().parse::<u32>().map_err(|_| bad())?,
    );
    if w == 0 || h == 0 || w > max || h > max {
        return Err(bad());
    }
    Ok((w, h))
}

/// An image or tile size, `WxH`, each side 1..=16384.
#[allow(dead_code)] // the preview takes only window sizes
pub(crate) fn parse_size(s: &str) -> Result<(u32, u32), String> {
    parse_size_within(s, 16384)
}

/// A window size, `WxH`, each side 1..=8192 (what surfaces take).
#[allow(dead_code)] // `grin render` has no window
pub(crate) fn parse_window_size(s: &str) -> Result<(u32, u32), String> {
    parse_size_within(s, 8192)
}

/// Parses `px,py,pz,lx,ly,lz[,fov]`.
pub(crate) fn parse_camera(s: &str) -> Result<(glam::DVec3, glam::DVec3, Option<f64>), String> {
    let v: Vec<f64> = s
        .split(',')
        .map(|x| x.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| format!("expected px,py,pz,lx,ly,lz[,fov], got {s:?}"))?;
    if !(v.len() == 6 || v.len() == 7) || v.iter().any(|x| !x.is_finite()) {
        return Err(format!("expected 6 or 7 finite numbers, got {s:?}"));
    }
    let (p, l) = (
        glam::DVec3::new(v[0], v[1], v[2]),
        glam::DVec3::new(v[3], v[4], v[5]),
    );
    if p == l || v.get(6).is_some_and(|f| !(0.0 < *f && *f < 180.0)) {
        return Err(format!("{s:?}: eye and target must differ, 0 < fov < 180"));
    }
    Ok((p, l, v.get(6).copied()))
}
