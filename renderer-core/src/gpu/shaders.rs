//! The WGSL program: the generated prelude ([`super::layout::prelude`], with the
//! field kinds' dispatch) followed by the files of `shaders/` and each registered
//! field kind's WGSL (`renderer-core/src/field/<kind>.wgsl`), included at compile
//! time. One module holds every entry point (`render`, `trace_rays`), so the
//! integrator, traversal and shading exist once.

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

/// The kernel probe's entry point (tests only), appended by [`probe_source`].
pub const PROBE: (&str, &str) = (
    "shaders/probe.wgsl",
    include_str!("../../../shaders/probe.wgsl"),
);

/// Every file of the program, in the order they are joined: [`FILES`], then each
/// registered field, material and environment kind's WGSL.
#[must_use]
pub fn files() -> Vec<(&'static str, &'static str)> {
    let mut files = FILES.to_vec();
    files.extend(crate::field::KINDS.iter().map(|k| (k.wgsl_path, k.wgsl)));
    files.extend(crate::material::KINDS.iter().map(|k| (k.wgsl_path, k.wgsl)));
    files.extend(
        crate::environment::KINDS
            .iter()
            .map(|k| (k.wgsl_path, k.wgsl)),
    );
    files
}

/// The program's files followed by the kernel probe ([`super::probe`]).
#[must_use]
pub fn probe_files() -> Vec<(&'static str, &'static str)> {
    let mut files = files();
    files.push(PROBE);
    files
}

/// The program followed by the kernel probe ([`super::probe`]).
#[must_use]
pub fn probe_source() -> String {
    assemble(&probe_files())
}

/// The whole program: the prelude, then each file.
#[must_use]
pub fn source() -> String {
    assemble(&files())
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
