//! Every shader parses and validates with naga (no adapter needed), the shared structs
//! have the same layout in WGSL as in Rust, and a broken shader's error names the file
//! and line.

use renderer_core::gpu::{layout, shaders};

fn validate(src: &str) -> Result<naga::Module, String> {
    let module = naga::front::wgsl::parse_str(src).map_err(|e| {
        let line = e.location(src).map_or(0, |l| l.line_number as usize);
        let (file, local) = shaders::locate(&shaders::FILES, line);
        format!("{file}:{local}: {}", e.emit_to_string(src))
    })?;
    naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::empty(),
    )
    .validate(&module)
    .map_err(|e| {
        let line = e.location(src).map_or(0, |l| l.line_number as usize);
        let (file, local) = shaders::locate(&shaders::FILES, line);
        format!("{file}:{local}: {}", e.emit_to_string(src))
    })?;
    Ok(module)
}

#[test]
fn the_program_parses_and_validates() {
    let src = shaders::source();
    let module = validate(&src).unwrap_or_else(|e| panic!("{e}"));
    let entries: Vec<_> = module
        .entry_points
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    assert!(
        entries.contains(&"render") && entries.contains(&"trace_rays"),
        "{entries:?}"
    );
}

#[test]
fn shared_structs_have_the_rust_layout_in_wgsl() {
    let src = shaders::source();
    let module = naga::front::wgsl::parse_str(&src).unwrap();
    let mut layouter = naga::proc::Layouter::default();
    layouter.update(module.to_ctx()).unwrap();
    for (name, size, _) in layout::declarations() {
        let (handle, ty) = module
            .types
            .iter()
            .find(|(_, t)| t.name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("{name} not in the module"));
        let naga::TypeInner::Struct { members, span } = &ty.inner else {
            panic!("{name} is not a struct");
        };
        assert_eq!(
            *span as usize, size,
            "{name}: WGSL size {span}, Rust {size}"
        );
        // Members are laid out densely (no implicit padding): each starts where the
        // previous ended, as #[repr(C)] places them.
        let mut end = 0u32;
        for m in members {
            assert_eq!(m.offset, end, "{name}.{:?} at {}", m.name, m.offset);
            end = m.offset + layouter[m.ty].size;
        }
        assert_eq!(end as usize, size, "{name}: trailing padding");
        let _ = handle;
    }
}

#[test]
fn a_broken_shader_names_its_file_and_line() {
    let mut files = shaders::FILES;
    let broken = files[2].1.replacen(
        "fn has_grid() -> bool {",
        "fn has_grid() -> bool {\n    let = ;",
        1,
    );
    files[2].1 = &broken;
    let src = shaders::assemble(&files);
    let err = validate_with(&src, &files).unwrap_err();
    let line = files[2]
        .1
        .lines()
        .position(|l| l.contains("let = ;"))
        .unwrap()
        + 1;
    assert!(
        err.starts_with(&format!("shaders/integrate.wgsl:{line}:")),
        "{err}"
    );
}

fn validate_with(src: &str, files: &[(&'static str, &str)]) -> Result<(), String> {
    naga::front::wgsl::parse_str(src).map(|_| ()).map_err(|e| {
        let line = e.location(src).map_or(0, |l| l.line_number as usize);
        let (file, local) = shaders::locate(files, line);
        format!("{file}:{local}: {}", e.emit_to_string(src))
    })
}
