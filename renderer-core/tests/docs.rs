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
