//! Embeds the web console (`console/`, static files built from registry
//! packages by the console's own tooling) into the binary, so `riskgate
//! serve` needs no files beside it and works offline.

use std::fmt::Write;
use std::path::{Path, PathBuf};

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with('.') || name == "node_modules" {
            continue;
        }
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn main() {
    // Read at run time: `env!` would bake in the directory the build script
    // was compiled in (wrong when a target/ dir is copied between checkouts).
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR")).join("console");
    println!("cargo:rerun-if-changed=console");
    let mut files = Vec::new();
    walk(&root, &mut files);
    let mut src = String::from("pub static FILES: &[(&str, &[u8])] = &[\n");
    for f in files {
        let rel = f.strip_prefix(&root).expect("under the root").to_string_lossy().replace('\\', "/");
        let _ = writeln!(src, "    ({rel:?}, include_bytes!({:?})),", f.display().to_string());
    }
    src.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("console_files.rs");
    std::fs::write(out, src).expect("writing console_files.rs");
}
