//! Reading input files with limits: only regular files (never a device, FIFO or
//! directory: `/dev/zero` as a scene would be read until memory ran out), at most a
//! stated size, with a UTF-8 byte-order mark accepted on text.
//!
//! ```
//! use renderer_core::input::{read_text, SCENE_BYTES};
//! let err = read_text(std::path::Path::new("/dev/zero"), SCENE_BYTES).unwrap_err();
//! assert!(err.to_string().contains("not a regular file"));
//! ```

use std::io::Read;
use std::path::Path;

/// The largest scene or manifest text read (RON): 256 MiB.
pub const SCENE_BYTES: u64 = 256 << 20;
/// The largest sampled-field file read (RON numbers): 2 GiB.
pub const FIELD_BYTES: u64 = 2 << 30;
/// The largest mesh or image file read: 16 GiB.
pub const MESH_BYTES: u64 = 16 << 30;

/// Why an input file was not read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    /// The path is a directory.
    #[error("is a directory, not a file")]
    Directory,
    /// The path is a device, FIFO or socket.
    #[error("is not a regular file (a device, FIFO or socket)")]
    NotRegular,
    /// The file is larger than the limit for its kind.
    #[error("is {size} bytes, over the limit of {limit} bytes for this kind of file")]
    TooLarge {
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The operating system's error (missing file, permissions, a symlink loop).
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The text is not UTF-8.
    #[error("is not UTF-8 text")]
    NotUtf8,
}

/// Checks that `path` is a regular file (after following links) of at most `limit`
/// bytes; returns its size.
///
/// # Errors
/// What it is instead, or the operating system's error.
pub fn check_file(path: &Path, limit: u64) -> Result<u64, InputError> {
    let m = std::fs::metadata(path)?;
    if m.is_dir() {
        return Err(InputError::Directory);
    }
    if !m.is_file() {
        return Err(InputError::NotRegular);
    }
    if m.len() > limit {
        return Err(InputError::TooLarge {
            size: m.len(),
            limit,
        });
    }
    Ok(m.len())
}

/// Reads a text file of at most `limit` bytes ([`check_file`]), without a leading
/// UTF-8 byte-order mark.
///
/// # Errors
/// As [`check_file`]; a file that grew past the limit while read; not UTF-8.
pub fn read_text(path: &Path, limit: u64) -> Result<String, InputError> {
    let size = check_file(path, limit)?;
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    std::fs::File::open(path)?
        .take(limit + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(InputError::TooLarge {
            size: bytes.len() as u64,
            limit,
        });
    }
    let text = String::from_utf8(bytes).map_err(|_| InputError::NotUtf8)?;
    Ok(match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_owned(),
        None => text,
    })
}
