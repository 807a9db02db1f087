//! Every shader parses and validates with naga (no adapter needed), the shared structs
//! have the same layout in WGSL as in Rust, and a broken shader's error names the file
//! and line.

use crate::gpu::{layout, shaders};

fn validate(src: &str) -> Result<naga::Module, String> {
    validate_files(src, &shaders::files())
}

fn validate_files(src: &str, files: &[(&'static str, &str)]) -> Result<naga::Module, String> {
    validate_as(src, files, naga::valid::Capabilities::empty())
}

fn validate_as(
    src: &str,
    files: &[(&'static str, &str)],
    capabilities: naga::valid::Capabilities,
) -> Result<naga::Module, String> {
    let module = naga::front::wgsl::parse_str(src).map_err(|e| {
        let line = e.location(src).map_or(0, |l| l.line_number as usize);
        let (file, local) = shaders::locate(files, line);
        format!("{file}:{local}: {}", e.emit_to_string(src))
    })?;
    naga::valid::Validator::new(naga::valid::ValidationFlags::all(), capabilities)
        .validate(&module)
        .map_err(|e| {
            let line = e.location(src).map_or(0, |l| l.line_number as usize);
            let (file, local) = shaders::locate(files, line);
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
fn the_kerr_program_validates_with_f64_and_the_other_needs_none() {
    // The Kerr variant (f64) validates with the FLOAT64 capability, its probe too;
    // the program every device gets validates without it (above), so a device
    // without f64 shaders loses only Kerr holes.
    let f64 = naga::valid::Capabilities::FLOAT64;
    let src = shaders::kerr_source();
    let module =
        validate_as(&src, &shaders::files_for(true), f64).unwrap_or_else(|e| panic!("{e}"));
    assert!(module.entry_points.iter().any(|e| e.name == "trace_rays"));
    let probe = shaders::probe_source_for(true);
    validate_as(&probe, &shaders::probe_files_for(true), f64).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        validate_as(
            &src,
            &shaders::files_for(true),
            naga::valid::Capabilities::empty()
        )
        .is_err(),
        "the Kerr program should need f64"
    );
    let base = naga::front::wgsl::parse_str(&shaders::source()).unwrap();
    assert!(
        !base
            .types
            .iter()
            .any(|(_, t)| t.inner.scalar() == Some(naga::Scalar::F64)),
        "f64 in the program without it"
    );
}

#[test]
fn the_kernel_probe_parses_and_validates() {
    let src = shaders::probe_source();
    let files = shaders::probe_files();
    let module = validate_files(&src, &files).unwrap_or_else(|e| panic!("{e}"));
    assert!(module.entry_points.iter().any(|e| e.name == "probe"));
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
    let mut files = shaders::files();
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

/// Names the generated prelude defines (`const NAME`).
fn prelude_constants() -> Vec<String> {
    layout::prelude()
        .lines()
        .filter_map(|l| l.strip_prefix("const "))
        .filter_map(|l| l.split([':', ' ', '=']).next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_broken_field_kind_names_its_own_file_and_line() {
    // Each field kind's WGSL sits beside its Rust module and is located as its own
    // file in errors.
    let mut files = shaders::files();
    let k = files
        .iter()
        .position(|(name, _)| name.ends_with("field/luneburg.wgsl"))
        .expect("the Luneburg kind's WGSL is joined into the program");
    let broken = files[k]
        .1
        .replacen("let d = p - centre;", "let d = p - ;", 1);
    files[k].1 = &broken;
    let src = shaders::assemble(&files);
    let err = validate_with(&src, &files).unwrap_err();
    let line = files[k]
        .1
        .lines()
        .position(|l| l.contains("let d = p - ;"))
        .unwrap()
        + 1;
    assert!(
        err.starts_with(&format!("renderer-core/src/field/luneburg.wgsl:{line}:")),
        "{err}"
    );
}

#[test]
fn shared_constants_and_bindings_come_only_from_the_rust_definitions() {
    let generated = prelude_constants();
    for name in [
        "NONE",
        "B_FILM",
        "B_NODES",
        "TERM_HIT",
        "DP_A",
        "DP_E",
        "PATH_TURNS",
        "VERDICT_UNCERTAIN",
        "MODE_ANY",
        "TASK_EMITTER",
        "FLAG_DONE",
        "OP_FILM",
        "SURFACE_OFFSET",
        "SEGMENT_START_EPS",
        "CONE_GEOMETRIC_FRACTION",
    ] {
        assert!(
            generated.iter().any(|g| g == name),
            "{name} is not generated"
        );
    }
    for (file, text) in shaders::probe_files_for(true)
        .into_iter()
        .chain([shaders::KERR_OFF])
    {
        for (k, line) in text.lines().enumerate() {
            let line = line.trim_start();
            // No hand copy of a generated constant.
            if let Some(rest) = line.strip_prefix("const ") {
                let name = rest.split([':', ' ', '=']).next().unwrap_or("");
                assert!(
                    !generated.iter().any(|g| g == name),
                    "{file}:{}: {name} is generated from renderer-core/src/gpu/layout.rs; do not define it here",
                    k + 1
                );
            }
            // Bindings by name (B_*), never by number.
            if let Some(at) = line.find("@binding(") {
                let arg = &line[at + "@binding(".len()..];
                assert!(
                    arg.starts_with("B_"),
                    "{file}:{}: a binding by number; use the generated B_* constants",
                    k + 1
                );
            }
        }
    }
}

#[test]
fn generated_constants_have_the_rust_values() {
    use crate::integrator::{DP_A, DP_E, Termination, Verdict};
    let src = shaders::source();
    let module = validate(&src).unwrap_or_else(|e| panic!("{e}"));
    let value = |name: &str| -> naga::Expression {
        let c = module
            .constants
            .iter()
            .find(|(_, c)| c.name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("{name} missing"))
            .1;
        module.global_expressions[c.init].clone()
    };
    let scalar_u32 = |name: &str| match value(name) {
        naga::Expression::Literal(naga::Literal::U32(v)) => v,
        e => panic!("{name}: {e:?}"),
    };
    for t in Termination::ALL {
        let code = scalar_u32(&format!("TERM_{}", t.gpu_name()));
        assert_eq!(
            Termination::from_gpu(code),
            Some(t),
            "TERM_{}",
            t.gpu_name()
        );
    }
    for v in Verdict::ALL {
        assert_eq!(
            Verdict::ALL.get(scalar_u32(&format!("VERDICT_{}", v.gpu_name())) as usize),
            Some(&v),
            "VERDICT_{}",
            v.gpu_name()
        );
    }
    use layout::{path_flag, path_task, trace_mode};
    for (name, v) in [
        ("MODE_CLOSEST", trace_mode::CLOSEST),
        ("MODE_ANY", trace_mode::ANY),
        ("MODE_NONE", trace_mode::NONE),
        ("TASK_PATH", path_task::PATH),
        ("TASK_LIGHT", path_task::LIGHT),
        ("TASK_ENV", path_task::ENV),
        ("TASK_EMITTER", path_task::EMITTER),
        ("FLAG_SPECULAR", path_flag::SPECULAR),
        ("FLAG_LAST", path_flag::LAST),
        ("FLAG_DONE", path_flag::DONE),
        ("FLAG_GLOSSY", path_flag::GLOSSY),
        ("OP_RNG", layout::probe_op::RNG),
        ("OP_BOX", layout::probe_op::BOX),
    ] {
        assert_eq!(scalar_u32(name), v, "{name}");
    }
    assert_eq!(scalar_u32("NONE"), layout::NONE);
    for (name, v) in [
        ("SURFACE_OFFSET", crate::lights::SURFACE_OFFSET),
        ("POINT_LIGHT_STOP", crate::lights::POINT_LIGHT_STOP),
        ("MIN_DISTANCE2", crate::lights::MIN_DISTANCE2),
        ("EMITTER_MIN_COSINE", crate::lights::EMITTER_MIN_COSINE),
        ("MIS_MIN_COSINE", crate::lights::MIS_MIN_COSINE),
        ("SEGMENT_START_EPS", crate::trace::SEGMENT_START_EPS),
        (
            "CONE_GEOMETRIC_FRACTION",
            crate::integrator::RayCone::GEOMETRIC_FRACTION,
        ),
    ] {
        match value(name) {
            naga::Expression::Literal(naga::Literal::F32(f)) => assert_eq!(f, v as f32, "{name}"),
            e => panic!("{name}: {e:?}"),
        }
    }
    for (name, b) in layout::binding::ALL {
        assert_eq!(scalar_u32(&format!("B_{name}")), b, "B_{name}");
    }
    // The tableau: the shaders' rows 1..7 are the integrator's rows, in f32.
    let floats = |name: &str| -> Vec<f32> {
        let naga::Expression::Compose { components, .. } = value(name) else {
            panic!("{name} is not an array");
        };
        components
            .iter()
            .map(|&h| match module.global_expressions[h] {
                naga::Expression::Literal(naga::Literal::F32(v)) => v,
                ref e => panic!("{name}: {e:?}"),
            })
            .collect()
    };
    let a = floats("DP_A");
    assert_eq!(a.len(), 42);
    assert!(a[..6].iter().all(|&v| v == 0.0));
    for (i, row) in DP_A.iter().enumerate() {
        for (j, &v) in row.iter().enumerate() {
            assert_eq!(a[6 * (i + 1) + j], v as f32, "DP_A[{i}][{j}]");
        }
    }
    let e = floats("DP_E");
    assert_eq!(e, DP_E.map(|v| v as f32).to_vec());
}
