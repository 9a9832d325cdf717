//! `docs/architecture.md`'s crate table must say what the manifests say: for every crate, the
//! direct `dimua-*` dependencies of its `[dependencies]` section.

use std::collections::BTreeSet;
use std::path::Path;

fn manifest_deps(manifest: &Path) -> (String, BTreeSet<String>) {
    let text = std::fs::read_to_string(manifest).unwrap();
    let toml: toml::Value = toml::from_str(&text).unwrap();
    let name = toml["package"]["name"].as_str().unwrap().to_string();
    let deps = toml
        .get("dependencies")
        .and_then(|d| d.as_table())
        .map(|t| {
            t.keys()
                .filter_map(|k| k.strip_prefix("dimua-"))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    (name, deps)
}

#[test]
fn architecture_doc_matches_the_manifests() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/architecture.md")).unwrap();
    let mut manifests = vec![root.join("Cargo.toml")];
    for entry in std::fs::read_dir(root.join("crates")).unwrap() {
        manifests.push(entry.unwrap().path().join("Cargo.toml"));
    }
    for manifest in manifests {
        let (name, deps) = manifest_deps(&manifest);
        let cell = if name == "dimua" {
            "`dimua` (binary)".to_string()
        } else {
            format!("`{name}`")
        };
        let row = doc
            .lines()
            .find(|l| l.starts_with(&format!("| {cell} |")))
            .unwrap_or_else(|| panic!("docs/architecture.md has no row for {name}"));
        let listed: BTreeSet<String> = row
            .trim_end_matches('|')
            .rsplit('|')
            .next()
            .unwrap()
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty() && s != "-")
            .collect();
        assert_eq!(
            listed,
            deps,
            "{name}: docs/architecture.md vs {}",
            manifest.display()
        );
    }
}
