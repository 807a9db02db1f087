//! Compiles `tests/capi/host.c` with the system C compiler against the shared library
//! and runs it: a C host builds a scene from arrays, renders in budgeted steps,
//! checks pixels, cancels from another thread, and checks the error paths.

use std::path::PathBuf;
use std::process::Command;

#[test]
fn a_c_host_renders_and_gets_errors_not_undefined_behaviour() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    // The test binary is target/<profile>/deps/c_host-*: `cargo test` leaves the
    // shared library beside it in deps/ (`cargo build` also copies it one level up).
    let exe = std::env::current_exe().unwrap();
    let name = format!(
        "{}grin{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    );
    let lib_dir = exe
        .ancestors()
        .skip(1)
        .take(2)
        .find(|d| d.join(&name).is_file())
        .unwrap_or_else(|| panic!("{name} not built beside {}", exe.display()))
        .to_path_buf();
    let out = std::env::temp_dir().join(format!("grin-capi-host-{}", std::process::id()));
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let build = Command::new(&cc)
        .arg(dir.join("tests/capi/host.c"))
        .arg("-std=c11")
        .arg("-D_POSIX_C_SOURCE=200809L")
        .arg("-D_DEFAULT_SOURCE")
        .args(["-Wall", "-Wextra", "-Werror"])
        .arg("-I")
        .arg(dir.join("include"))
        .arg("-L")
        .arg(&lib_dir)
        .arg(format!("-Wl,-rpath,{}", lib_dir.display()))
        .args(["-lgrin", "-lpthread", "-o"])
        .arg(&out)
        .output()
        .expect("run the C compiler");
    assert!(
        build.status.success(),
        "{}",
        String::from_utf8_lossy(&build.stderr)
    );
    let run = Command::new(&out)
        .current_dir(dir.join("../.."))
        .env("WGPU_BACKEND", "metal")
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&out);
    assert!(
        run.status.success(),
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(String::from_utf8_lossy(&run.stdout).contains("all checks passed"));
}
