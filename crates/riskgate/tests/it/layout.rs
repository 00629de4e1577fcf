//! The layering ARCHITECTURE.md promises, checked on the source: no module
//! cycle inside any crate, the store below the engine, the binary a small
//! share of the code.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Identifiers following `prefix` in `text` (`crate::x` → `x`).
fn after(text: &str, prefix: &str) -> BTreeSet<String> {
    text.match_indices(prefix)
        .map(|(i, _)| {
            text[i + prefix.len()..].chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect::<String>()
        })
        .filter(|s| !s.is_empty())
        .collect()
}

/// Top-level module → the top-level modules it names (`crate::x`, and
/// `super::x` from a file directly under `src/`).
fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in &files {
        let rel = f.strip_prefix(src).unwrap();
        let top = rel.iter().next().unwrap().to_string_lossy().trim_end_matches(".rs").to_string();
        if top == "lib" || top == "main" {
            continue;
        }
        let text = std::fs::read_to_string(f).unwrap();
        let mut deps = after(&text, "crate::");
        if rel.components().count() == 1 {
            deps.extend(after(&text, "super::"));
        }
        g.entry(top.clone()).or_default().extend(deps.into_iter().filter(|d| *d != top));
    }
    let names: BTreeSet<String> = g.keys().cloned().collect();
    for deps in g.values_mut() {
        deps.retain(|d| names.contains(d));
    }
    g
}

fn find_cycle(g: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        u: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(u.to_string(), 1);
        stack.push(u.to_string());
        for v in g.get(u).into_iter().flatten() {
            match state.get(v) {
                Some(1) => {
                    let at = stack.iter().position(|s| s == v).unwrap();
                    let mut c = stack[at..].to_vec();
                    c.push(v.clone());
                    return Some(c);
                }
                None => {
                    if let Some(c) = visit(v, g, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(u.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for u in g.keys() {
        if !state.contains_key(u)
            && let Some(c) = visit(u, g, &mut state, &mut Vec::new())
        {
            return Some(c);
        }
    }
    None
}

#[test]
fn no_module_cycles_store_below_engine_small_binary() {
    let root = workspace().join("crates");
    let mut lines: BTreeMap<String, usize> = BTreeMap::new();
    for e in std::fs::read_dir(&root).unwrap() {
        let dir = e.unwrap().path();
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let g = module_graph(&dir.join("src"));
        assert!(find_cycle(&g).is_none(), "module cycle in {name}: {:?}", find_cycle(&g));
        let mut files = Vec::new();
        rust_files(&dir, &mut files);
        lines.insert(name, files.iter().map(|f| std::fs::read_to_string(f).unwrap().lines().count()).sum());
    }
    assert!(lines.len() >= 10, "{lines:?}");
    let total: usize = lines.values().sum();
    assert!(
        lines["riskgate"] * 4 <= total,
        "the binary holds {} of {total} lines: more than a quarter",
        lines["riskgate"]
    );
    let store = std::fs::read_to_string(root.join("riskgate-store/Cargo.toml")).unwrap();
    let riskgate_deps: Vec<&str> =
        store.lines().filter(|l| l.starts_with("riskgate-")).map(|l| l.split('.').next().unwrap()).collect();
    assert_eq!(riskgate_deps, ["riskgate-core"], "the store depends on the vocabulary only");
}

#[test]
fn the_cycle_finder_finds_cycles() {
    let g: BTreeMap<String, BTreeSet<String>> =
        [("a".to_string(), BTreeSet::from(["b".to_string()])), ("b".to_string(), BTreeSet::from(["a".to_string()]))]
            .into_iter()
            .collect();
    assert_eq!(find_cycle(&g), Some(vec!["a".to_string(), "b".to_string(), "a".to_string()]));
    assert_eq!(after("use crate::app::App; crate::x_y::z", "crate::"), BTreeSet::from(["app".into(), "x_y".into()]));
}
