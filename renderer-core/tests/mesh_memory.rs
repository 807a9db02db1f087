//! Loading a mesh takes about the memory of the mesh: the peak heap while a PLY
//! (ASCII or binary) loads stays within 1.5 times the peak for the same mesh as OBJ
//! (it was 3 times: every PLY element became a map of named properties). Measured
//! with a counting allocator, so the figures do not depend on the machine.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};

use renderer_core::scene::{load_obj, load_ply};

/// The system allocator, counting live and peak bytes.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call forwards to the system allocator with the same layout; the
// counters are only statistics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            let now = if new_size >= layout.size() {
                LIVE.fetch_add(new_size - layout.size(), Ordering::Relaxed) + new_size
                    - layout.size()
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed)
                    - (layout.size() - new_size)
            };
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Peak heap bytes above what was live before, while `f` runs.
fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let out = f();
    (out, PEAK.load(Ordering::Relaxed) - base)
}

#[test]
fn a_ply_loads_in_about_the_memory_of_the_same_obj() {
    let dir = std::env::temp_dir().join(format!("grin-mesh-memory-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // A 300 x 300 grid: 90,601 vertices, 180,000 triangles.
    let n = 300usize;
    let mut obj = String::new();
    let mut ply_ascii = String::new();
    let mut verts = Vec::new();
    for j in 0..=n {
        for i in 0..=n {
            let v = [
                i as f32 * 0.01,
                j as f32 * 0.01,
                ((i * j) % 7) as f32 * 0.001,
            ];
            verts.push(v);
        }
    }
    let mut faces = Vec::new();
    let at = |i: usize, j: usize| (j * (n + 1) + i) as u32;
    for j in 0..n {
        for i in 0..n {
            faces.push([at(i, j), at(i + 1, j), at(i + 1, j + 1)]);
            faces.push([at(i, j), at(i + 1, j + 1), at(i, j + 1)]);
        }
    }
    for v in &verts {
        obj += &format!("v {} {} {}\n", v[0], v[1], v[2]);
    }
    for f in &faces {
        obj += &format!("f {} {} {}\n", f[0] + 1, f[1] + 1, f[2] + 1);
    }
    let header = |format: &str| {
        format!(
            "ply\nformat {format} 1.0\nelement vertex {}\nproperty float x\nproperty float y\nproperty float z\nelement face {}\nproperty list uchar int vertex_indices\nend_header\n",
            verts.len(),
            faces.len()
        )
    };
    ply_ascii += &header("ascii");
    for v in &verts {
        ply_ascii += &format!("{} {} {}\n", v[0], v[1], v[2]);
    }
    for f in &faces {
        ply_ascii += &format!("3 {} {} {}\n", f[0], f[1], f[2]);
    }
    let mut ply_binary = header("binary_little_endian").into_bytes();
    for v in &verts {
        for c in v {
            ply_binary.write_all(&c.to_le_bytes()).unwrap();
        }
    }
    for f in &faces {
        ply_binary.push(3);
        for &i in f {
            ply_binary.write_all(&(i as i32).to_le_bytes()).unwrap();
        }
    }
    let (obj_path, ascii_path, binary_path) =
        (dir.join("g.obj"), dir.join("a.ply"), dir.join("b.ply"));
    std::fs::write(&obj_path, obj).unwrap();
    std::fs::write(&ascii_path, ply_ascii).unwrap();
    std::fs::write(&binary_path, ply_binary).unwrap();
    drop((verts, faces));

    let (obj_mesh, obj_peak) = peak_during(|| load_obj(&obj_path).unwrap());
    let final_bytes = obj_mesh.positions.len() * 12 + obj_mesh.indices.len() * 12;
    for path in [&ascii_path, &binary_path] {
        let (mesh, peak) = peak_during(|| load_ply(path).unwrap());
        // The same mesh (OBJ loading may order its vertices differently).
        assert_eq!(mesh.positions.len(), obj_mesh.positions.len());
        assert_eq!(mesh.indices.len(), obj_mesh.indices.len());
        eprintln!(
            "{}: peak {:.1} MB, OBJ peak {:.1} MB, mesh {:.1} MB",
            path.display(),
            peak as f64 / 1e6,
            obj_peak as f64 / 1e6,
            final_bytes as f64 / 1e6
        );
        assert!(
            peak as f64 <= 1.5 * obj_peak as f64,
            "{}: PLY peak {peak} bytes vs OBJ {obj_peak}",
            path.display()
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
