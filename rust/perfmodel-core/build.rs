//! Embeds every TOML file of the repository's `hwdb/` folder into the core crate,
//! so the built library works from any directory without data files beside it.
use std::fmt::Write as _;
use std::{env, fs, path::Path};

fn collect(dir: &Path, root: &Path, out: &mut Vec<(String, String)>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            println!("cargo:rerun-if-changed={}", path.display());
            collect(&path, root, out);
        } else if path.extension().is_some_and(|e| e == "toml") {
            println!("cargo:rerun-if-changed={}", path.display());
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            out.push((
                rel,
                path.canonicalize().unwrap().to_string_lossy().into_owned(),
            ));
        }
    }
}

fn main() {
    let manifest = env::var("CARGO_MANIFEST_DIR").unwrap();
    let root = Path::new(&manifest).join("../../hwdb");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut files = Vec::new();
    if root.is_dir() {
        let root = root.canonicalize().unwrap();
        collect(&root, &root, &mut files);
    }
    let mut code =
        String::from("/// (path relative to hwdb/, file contents) of every embedded hwdb file.\n");
    code.push_str("pub static EMBEDDED_FILES: &[(&str, &str)] = &[\n");
    for (rel, abs) in &files {
        writeln!(code, "    ({rel:?}, include_str!({abs:?})),").unwrap();
    }
    code.push_str("];\n");
    let out = Path::new(&env::var("OUT_DIR").unwrap()).join("embedded_hwdb.rs");
    fs::write(out, code).unwrap();
}
