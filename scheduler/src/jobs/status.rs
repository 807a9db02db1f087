//! Atomic JSON snapshots: a status file that a farm manager or a person can read at
//! any moment and always find whole. Each write goes to a temporary file in the same
//! folder, is synced, and is renamed over the old one (rename is atomic on POSIX file
//! systems).

use std::io::Write;
use std::path::Path;

/// Writes `value` as pretty JSON to `path` atomically.
///
/// # Errors
/// The I/O or serialisation error, naming the path.
pub fn write_json_atomic(path: &Path, value: &impl serde::Serialize) -> std::io::Result<()> {
    let text = serde_json::to_vec_pretty(value)
        .map_err(|e| std::io::Error::other(format!("{}: {e}", path.display())))?;
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other(format!("{}: not a file path", path.display())))?;
    let mut tmp_name = name.to_owned();
    tmp_name.push(format!(".{}.tmp", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&text)?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))
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
