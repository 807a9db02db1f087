//! Atomic JSON snapshots: a status file that a farm manager or a person can read at
//! any moment and always find whole. Each write goes to a temporary file in the same
//! folder, is synced, and is renamed over the old one (rename is atomic on POSIX file
//! systems).

use std::io::Write;
use std::path::Path;

/// Whether `path` may be replaced by a rename: nothing is there, or a regular file. A
/// device node, FIFO, socket, directory or symbolic link is never replaced (as root,
/// a rename would replace `/dev/null` itself).
///
/// # Errors
/// What is there, naming the path.
pub fn ensure_replaceable(path: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_file() => Ok(()),
        Ok(m) => {
            let t = m.file_type();
            let what = if t.is_dir() {
                "a directory"
            } else if t.is_symlink() {
                "a symbolic link"
            } else {
                "not a regular file (a device, FIFO or socket)"
            };
            Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("{} is {what}; refusing to replace it", path.display()),
            ))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(std::io::Error::new(
            e.kind(),
            format!("{}: {e}", path.display()),
        )),
    }
}

/// Writes `bytes` to `path` atomically: into a temporary file beside it (named for
/// this process), every byte checked, synced, and renamed over `path` only when
/// whole, so the final name holds a whole file or nothing (a full disk leaves the
/// old file, or none). Only a regular file (or nothing) is replaced.
///
/// # Errors
/// The I/O error, naming the path; the temporary file is removed.
pub fn write_bytes_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    ensure_replaceable(path)?;
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other(format!("{}: not a file path", path.display())))?;
    let mut tmp_name = name.to_owned();
    tmp_name.push(format!(".{}.tmp", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let result = (|| {
        // A fresh file, never one reached through a link planted at its name.
        let _ = std::fs::remove_file(&tmp);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        // Checked again at the last moment: something may have appeared meanwhile.
        ensure_replaceable(path)?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(|e| {
        let msg = e.to_string();
        if msg.contains(&path.display().to_string()) {
            e
        } else {
            std::io::Error::new(e.kind(), format!("{}: {msg}", path.display()))
        }
    })
}

/// Writes `value` as pretty JSON to `path` atomically ([`write_bytes_atomic`]).
///
/// # Errors
/// The I/O or serialisation error, naming the path.
pub fn write_json_atomic(path: &Path, value: &impl serde::Serialize) -> std::io::Result<()> {
    let mut text = serde_json::to_vec_pretty(value)
        .map_err(|e| std::io::Error::other(format!("{}: {e}", path.display())))?;
    text.push(b'\n');
    write_bytes_atomic(path, &text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[test]
    fn a_reader_always_sees_valid_json_while_it_is_rewritten() {
        let dir = std::env::temp_dir().join(format!("grin-status-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("status.json");
        write_json_atomic(&path, &serde_json::json!({ "n": 0 })).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let reader = {
            let (path, stop) = (path.clone(), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut reads = 0;
                while !stop.load(Ordering::Relaxed) {
                    let text = std::fs::read(&path).unwrap();
                    let v: serde_json::Value = serde_json::from_slice(&text)
                        .unwrap_or_else(|e| panic!("invalid JSON after {reads} reads: {e}"));
                    assert!(v["n"].is_u64());
                    reads += 1;
                }
                reads
            })
        };
        for n in 0..300u64 {
            let big: Vec<u64> = (0..n * 10).collect();
            write_json_atomic(&path, &serde_json::json!({ "n": n, "pad": big })).unwrap();
        }
        stop.store(true, Ordering::Relaxed);
        assert!(reader.join().unwrap() > 0);
        let left: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(left.is_empty(), "no temporary files left");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
