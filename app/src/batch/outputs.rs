//! A frame's files: where its image and outputs go, the done-marker, claims that keep
//! concurrent batches on one `--out` from rendering the same frame, and the clean-up
//! of temporaries a killed batch left.

#[allow(clippy::wildcard_imports)]
use super::*;

pub(super) fn image_path(dir: &Path, frame: u32) -> PathBuf {
    dir.join(format!("frame_{frame:05}.png"))
}

pub(super) fn outputs_of(job: &Job, image: &Path, frame: u32) -> Vec<PathBuf> {
    let mut v = Vec::new();
    if job.outputs.png {
        v.push(image.to_path_buf());
    }
    if job.outputs.exr {
        v.push(image.with_extension("exr"));
    }
    for a in &job.outputs.aovs {
        let ext = if job.outputs.exr { "exr" } else { "png" };
        let stem = image
            .file_stem()
            .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
        v.push(image.with_file_name(format!("{stem}.{a}.{ext}")));
    }
    if job.outputs.metadata {
        v.push(image.with_extension("json"));
    }
    for (way, _) in flow_neighbours(job, frame) {
        v.extend(flow_paths(image, way));
    }
    if let Some(sweep) = &job.sweep {
        for k in 0..sweep.images() {
            let p = sweep_image(image, k);
            if job.outputs.png {
                v.push(p.clone());
            }
            if job.outputs.exr {
                v.push(p.with_extension("exr"));
            }
        }
        v.push(image.with_extension("sweep.json"));
    }
    v
}

/// Image `k` of a frame's sweep (`frame_N.sweep_K.png`).
pub(super) fn sweep_image(image: &Path, k: usize) -> PathBuf {
    let stem = image
        .file_stem()
        .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
    image.with_file_name(format!("{stem}.sweep_{k:03}.png"))
}

/// The frames a frame's flow goes to: `("fwd", next)` and `("bwd", previous)`,
/// those within the job.
pub(super) fn flow_neighbours(job: &Job, frame: u32) -> Vec<(&'static str, u32)> {
    if !job.outputs.flow {
        return Vec::new();
    }
    let end = job.frames.start + job.frames.count;
    let mut v = Vec::new();
    if frame + 1 < end {
        v.push(("fwd", frame + 1));
    }
    if frame > job.frames.start {
        v.push(("bwd", frame - 1));
    }
    v
}

/// The flow files of `image` towards `way`: the float EXR and the colour-coded PNG.
pub(super) fn flow_paths(image: &Path, way: &str) -> [PathBuf; 2] {
    let stem = image
        .file_stem()
        .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
    [
        image.with_file_name(format!("{stem}.flow_{way}.exr")),
        image.with_file_name(format!("{stem}.flow_{way}.png")),
    ]
}

pub(super) fn marker(image: &Path) -> PathBuf {
    let mut m = image.as_os_str().to_owned();
    m.push(".done");
    PathBuf::from(m)
}

/// Removes the temporary files (`NAME.PID.tmp`, or `NAME.tmp` of older versions)
/// of the files in `outputs`, and the claims on them that a killed run on this host
/// left, scanning each of their folders once.
pub(super) fn remove_stale_temporaries(outputs: &std::collections::HashSet<PathBuf>) {
    let dirs: std::collections::BTreeSet<&Path> =
        outputs.iter().filter_map(|p| p.parent()).collect();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            // A claim left by a killed run on this host (its process is gone).
            if let Some(image) = name.strip_suffix(".claim") {
                if outputs.contains(&dir.join(image)) {
                    let holder = std::fs::read_to_string(e.path()).unwrap_or_default();
                    let stale = holder.split_once('@').is_some_and(|(pid, host)| {
                        host == host_name() && !Path::new("/proc").join(pid).exists()
                    });
                    if stale {
                        let _ = std::fs::remove_file(e.path());
                    }
                }
                continue;
            }
            let Some(base) = name.strip_suffix(".tmp") else {
                continue;
            };
            let base = match base.rsplit_once('.') {
                Some((b, pid)) if !pid.is_empty() && pid.bytes().all(|c| c.is_ascii_digit()) => b,
                _ => base,
            };
            if outputs.contains(&dir.join(base)) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// Where --prune-empty moves a frame's files: OUT/pruned/NAME/...
pub(super) fn pruned_path(out: &Path, job: &Job, file: &Path) -> PathBuf {
    let name = file.file_name().unwrap_or_default();
    out.join("pruned").join(&job.name).join(name)
}

/// Whether a frame is complete: every output and its marker, in place or pruned.
pub(super) fn complete(out: &Path, job: &Job, image: &Path, frame: u32) -> bool {
    let all = |f: &dyn Fn(&Path) -> PathBuf| {
        f(&marker(image)).is_file() && outputs_of(job, image, frame).iter().all(|p| f(p).is_file())
    };
    all(&|p| p.to_path_buf()) || all(&|p| pruned_path(out, job, p))
}

/// A frame this process is rendering: `<image>.claim` created exclusively (holding
/// `pid@host`), so a second batch on the same `--out` (or an overlapping shard or
/// range) leaves the frame alone; removed when dropped. A claim whose process is
/// gone (same host, no such pid) is stale and taken over.
#[derive(Debug)]
pub(super) struct Claim(PathBuf);

impl Drop for Claim {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

pub(super) fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_owned())
        .unwrap_or_default()
}

impl Claim {
    /// Claims the frame whose image is `image`; `Ok(None)` when another live process
    /// holds it.
    pub(super) fn take(image: &Path) -> Result<Option<Self>, String> {
        let mut path = image.as_os_str().to_owned();
        path.push(".claim");
        let path = PathBuf::from(path);
        let me = format!("{}@{}", std::process::id(), host_name());
        for _ in 0..2 {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    use std::io::Write;
                    // Held from here: dropped (removed) if the write fails.
                    let claim = Self(path);
                    f.write_all(me.as_bytes())
                        .map_err(|e| format!("{}: {e}", claim.0.display()))?;
                    return Ok(Some(claim));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let holder = std::fs::read_to_string(&path).unwrap_or_default();
                    let stale = holder.split_once('@').is_some_and(|(pid, host)| {
                        host == host_name() && !Path::new("/proc").join(pid).exists()
                    });
                    if !stale {
                        return Ok(None);
                    }
                    let _ = std::fs::remove_file(&path);
                }
                Err(e) => return Err(format!("{}: {e}", path.display())),
            }
        }
        Ok(None)
    }
}
