//! The workspace's `ARCHITECTURE.md` names only files that exist (its links and the
//! repository paths it quotes), so the map cannot drift from the tree unnoticed.

use std::path::Path;

#[test]
fn architecture_md_names_only_files_that_exist() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let text = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    let mut named = Vec::new();
    // Markdown links: ](path)
    for part in text.split("](").skip(1) {
        if let Some(end) = part.find(')') {
            named.push(part[..end].to_owned());
        }
    }
    // Quoted paths: `dir/file.ext`
    for (k, part) in text.split('`').enumerate() {
        let quoted = k % 2 == 1;
        let is_path = part.contains('/')
            && [".rs", ".md", ".wgsl", ".txt", ".h"]
                .iter()
                .any(|e| part.ends_with(e))
            && !part.contains(' ');
        if quoted && is_path {
            named.push(part.to_owned());
        }
    }
    assert!(named.len() > 20, "{named:?}");
    let missing: Vec<_> = named
        .iter()
        .filter(|p| !p.starts_with("http") && !root.join(p).exists())
        .collect();
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md names missing files: {missing:?}"
    );
}

/// The layering the architecture states: only the loader (`src/scene/file.rs`, and
/// `src/scene/mod.rs` re-exporting it for hosts) names the scene file's types;
/// rendering, shading, transport and the GPU path read the runtime `Scene`.
#[test]
fn only_the_loader_names_the_scene_file_types() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let file_types = [
        "SceneFile",
        "MeshDesc",
        "MeshSource",
        "MaterialDesc",
        "InstanceDesc",
    ];
    let mut stack = vec![src.clone()];
    let mut offenders = Vec::new();
    let mut seen = 0;
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            seen += 1;
            let rel = path
                .strip_prefix(&src)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            if rel == "scene/file.rs" || rel == "scene/mod.rs" {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for t in file_types {
                // As a whole word (wgpu's InstanceDescriptor is not InstanceDesc).
                let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
                let named = text.match_indices(t).any(|(at, _)| {
                    !word(text[..at].chars().next_back())
                        && !word(text[at + t.len()..].chars().next())
                });
                if named {
                    offenders.push(format!("src/{rel} names {t}"));
                }
            }
        }
    }
    assert!(seen > 40, "walked only {seen} files");
    assert!(offenders.is_empty(), "{offenders:#?}");
}
