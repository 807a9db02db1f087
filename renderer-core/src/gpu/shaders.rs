//! The WGSL program: the generated prelude ([`super::layout::prelude`], with the
//! field kinds' dispatch) followed by the files of `shaders/` and each registered
//! field kind's WGSL (`renderer-core/src/field/<kind>.wgsl`), included at compile
//! time. One module holds every entry point (`render`, `trace_rays`), so the
//! integrator, traversal and shading exist once.
//!
//! The program comes in two variants. Kerr holes are integrated in f64
//! (`shaders/kerr.wgsl` and the kind's own file), which needs wgpu's `SHADER_F64`;
//! the program of every device leaves them out for `shaders/kerr_off.wgsl` (stand-ins,
//! never reached: such scenes are refused), and a device with f64 shaders builds the
//! Kerr variant ([`kerr_source`]) when a Kerr scene first needs it.

/// The files of `shaders/`, in the order they are joined.
pub const FILES: [(&str, &str); 4] = [
    (
        "shaders/common.wgsl",
        include_str!("../../../shaders/common.wgsl"),
    ),
    (
        "shaders/intersect.wgsl",
        include_str!("../../../shaders/intersect.wgsl"),
    ),
    (
        "shaders/integrate.wgsl",
        include_str!("../../../shaders/integrate.wgsl"),
    ),
    (
        "shaders/shade.wgsl",
        include_str!("../../../shaders/shade.wgsl"),
    ),
];

/// The Kerr passage (f64), in the Kerr variant.
pub const KERR: (&str, &str) = (
    "shaders/kerr.wgsl",
    include_str!("../../../shaders/kerr.wgsl"),
);

/// Its stand-ins, in the program without f64.
pub const KERR_OFF: (&str, &str) = (
    "shaders/kerr_off.wgsl",
    include_str!("../../../shaders/kerr_off.wgsl"),
);

/// The kernel probe's entry point (tests only), appended by [`probe_source`].
pub const PROBE: (&str, &str) = (
    "shaders/probe.wgsl",
    include_str!("../../../shaders/probe.wgsl"),
);

/// Every file of the program, in the order they are joined: [`FILES`], the Kerr
/// passage or its stand-ins, then each registered field, material and environment
/// kind's WGSL (spacetimes only in the Kerr variant).
#[must_use]
pub fn files_for(kerr: bool) -> Vec<(&'static str, &'static str)> {
    let mut files = FILES.to_vec();
    files.push(if kerr { KERR } else { KERR_OFF });
    files.extend(
        crate::field::KINDS
            .iter()
            .filter(|k| kerr || !k.spacetime)
            .map(|k| (k.wgsl_path, k.wgsl)),
    );
    files.extend(crate::material::KINDS.iter().map(|k| (k.wgsl_path, k.wgsl)));
    files.extend(
        crate::environment::KINDS
            .iter()
            .map(|k| (k.wgsl_path, k.wgsl)),
    );
    files
}

/// The program's files without f64 ([`files_for`]).
#[must_use]
pub fn files() -> Vec<(&'static str, &'static str)> {
    files_for(false)
}

/// The program's files followed by the kernel probe ([`super::probe`]).
#[must_use]
pub fn probe_files_for(kerr: bool) -> Vec<(&'static str, &'static str)> {
    let mut files = files_for(kerr);
    files.push(PROBE);
    files
}

/// [`probe_files_for`] without f64.
#[must_use]
pub fn probe_files() -> Vec<(&'static str, &'static str)> {
    probe_files_for(false)
}

/// The program followed by the kernel probe ([`super::probe`]), in the variant
/// `kerr` says.
#[must_use]
pub fn probe_source_for(kerr: bool) -> String {
    let mut s = assemble(&probe_files_for(kerr));
    if kerr {
        s += &kerr_constants();
    }
    s
}

/// [`probe_source_for`] without f64.
#[must_use]
pub fn probe_source() -> String {
    probe_source_for(false)
}

/// The whole program without f64: the prelude, then each file.
#[must_use]
pub fn source() -> String {
    assemble(&files())
}

/// The whole program with the Kerr passage (needs `SHADER_F64`): the prelude, each
/// file, then the passage's f64 constants.
#[must_use]
pub fn kerr_source() -> String {
    assemble(&files_for(true)) + &kerr_constants()
}

/// The Dormand-Prince tableau in f64 for the Kerr passage (`KERR_DP_A`: the
/// integrator's six rows of six; `KERR_DP_E`) and the disk colour's table of
/// colour matching functions (`KERR_CMF`), appended after the files so that
/// [`locate`] holds for them (declarations in WGSL may come in any order).
#[must_use]
pub fn kerr_constants() -> String {
    let fmt = |v: f64| format!("{v:?}lf");
    let mut s =
        String::from("// Generated from renderer-core/src/integrator.rs: do not edit here.\n");
    s += "const KERR_DP_A = array<f64, 36>(\n";
    for row in crate::integrator::DP_A {
        s += &format!("    {},\n", row.map(fmt).join(", "));
    }
    s += ");\n";
    s += &format!(
        "const KERR_DP_E = array<f64, 7>({});\n",
        crate::integrator::DP_E.map(fmt).join(", ")
    );
    // The disk's colour: wavelength (um) and the colour matching functions there.
    let table = &*crate::integrator::KERR_WAVELENGTHS;
    s += &format!("const KERR_CMF = array<vec4<f32>, {}>(\n", table.len());
    for (um, _, [x, y, z]) in table {
        s += &format!("    vec4<f32>({um:?}, {x:?}, {y:?}, {z:?}),\n");
    }
    s += ");\n";
    s
}

/// Joins a prelude and `files` (name, text) into one program.
#[must_use]
pub fn assemble(files: &[(&str, &str)]) -> String {
    let mut s = super::layout::prelude();
    for (_, text) in files {
        s += text;
        if !text.ends_with('\n') {
            s.push('\n');
        }
    }
    s
}

/// Which file and line (1-based) the 1-based `line` of [`assemble`]'s output comes
/// from (`<generated prelude>` for the prelude).
#[must_use]
pub fn locate(files: &[(&'static str, &str)], line: usize) -> (&'static str, usize) {
    let mut start = super::layout::prelude().lines().count();
    if line <= start {
        return ("<generated prelude>", line);
    }
    for (name, text) in files {
        let n = text.lines().count();
        if line <= start + n {
            return (name, line - start);
        }
        start += n;
    }
    ("<end>", line - start)
}

#[cfg(test)]
mod tests;
