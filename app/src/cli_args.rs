//! The arguments `grin render` and `grin-preview` share: `--camera`, `--size` and
//! `--backend`, parsed once for both (clap value parsers with typed errors).
//!
//! ```
//! use grin_app::cli_args::{ArgError, parse_camera, parse_size};
//! assert_eq!(parse_size("640x480"), Ok((640, 480)));
//! assert!(matches!(parse_size("0x480"), Err(ArgError::Size { max: 16384, .. })));
//! let (eye, target, fov) = parse_camera("0,1,-5,0,0,0,40").unwrap();
//! assert_eq!((eye.y, target.z, fov), (1.0, 0.0, Some(40.0)));
//! ```

use renderer_core::gpu::Backend;

/// Why an argument was refused (clap prints it after the flag's name).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ArgError {
    /// Not `WxH`, or a side outside `1..=max`.
    #[error("expected WxH with both in 1..={max}, got '{given}'")]
    Size {
        /// The largest side allowed.
        max: u32,
        /// What was given.
        given: String,
    },
    /// Not a comma-separated list of numbers.
    #[error("expected px,py,pz,lx,ly,lz[,fov], got {0:?}")]
    CameraSyntax(String),
    /// Not 6 or 7 finite numbers.
    #[error("expected 6 or 7 finite numbers, got {0:?}")]
    CameraCount(String),
    /// The eye on its target, or a field of view outside (0, 180).
    #[error("{0:?}: eye and target must differ, 0 < fov < 180")]
    CameraGeometry(String),
}

/// Where frames render (`--backend`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendArg {
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
fn parse_size_within(s: &str, max: u32) -> Result<(u32, u32), ArgError> {
    let bad = || ArgError::Size {
        max,
        given: s.to_owned(),
    };
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
///
/// # Errors
/// [`ArgError::Size`].
pub fn parse_size(s: &str) -> Result<(u32, u32), ArgError> {
    parse_size_within(s, 16384)
}

/// A window size, `WxH`, each side 1..=8192 (what surfaces take).
///
/// # Errors
/// [`ArgError::Size`].
pub fn parse_window_size(s: &str) -> Result<(u32, u32), ArgError> {
    parse_size_within(s, 8192)
}

/// Parses `px,py,pz,lx,ly,lz[,fov]`: eye, target and an optional vertical field of
/// view in degrees.
///
/// # Errors
/// [`ArgError::CameraSyntax`], [`ArgError::CameraCount`] or
/// [`ArgError::CameraGeometry`].
pub fn parse_camera(s: &str) -> Result<(glam::DVec3, glam::DVec3, Option<f64>), ArgError> {
    let v: Vec<f64> = s
        .split(',')
        .map(|x| x.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| ArgError::CameraSyntax(s.to_owned()))?;
    if !(v.len() == 6 || v.len() == 7) || v.iter().any(|x| !x.is_finite()) {
        return Err(ArgError::CameraCount(s.to_owned()));
    }
    let (p, l) = (
        glam::DVec3::new(v[0], v[1], v[2]),
        glam::DVec3::new(v[3], v[4], v[5]),
    );
    if p == l || v.get(6).is_some_and(|f| !(0.0 < *f && *f < 180.0)) {
        return Err(ArgError::CameraGeometry(s.to_owned()));
    }
    Ok((p, l, v.get(6).copied()))
}
