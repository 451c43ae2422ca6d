//! The script index (SPEC 7): every script under the configured script
//! folders with the metadata from its header comment, so agents and the
//! enqueue page pick real paths instead of inventing them.
//!
//! The scan only reads; it never executes or changes a script. A file is a
//! script by its extension (`SCRIPT_EXTENSIONS`); vendored, generated and
//! hidden folders (`SKIPPED_FOLDERS`, and any name starting with `.`) are
//! never entered, so a `node_modules/` or `target/` under a script folder
//! costs nothing.

mod header;

pub(crate) use header::parse_header;

use std::io::Read;
use std::path::{Path, PathBuf};

use walkdir::{DirEntry, WalkDir};

/// Files that are scripts, by extension.
const SCRIPT_EXTENSIONS: [&str; 10] = ["sh", "bash", "zsh", "py", "rb", "pl", "js", "mjs", "ts", "lua"];

/// Folders never entered: vendored and generated ones. Hidden files and
/// folders (`.git/`, `.venv/`) are skipped too.
const SKIPPED_FOLDERS: [&str; 3] = ["node_modules", "__pycache__", "target"];

/// Only the top of a file is read; a header longer than this is not a header.
const HEADER_READ_LIMIT_BYTES: u64 = 16 * 1024;

/// One indexed script.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Script {
    /// Path relative to the project folder, with `/` separators: the value a
    /// `script_path` payload field takes.
    pub path: String,
    /// The header's `name`, else the file name without extension.
    pub name: String,
    pub description: Option<String>,
    pub inputs: Option<String>,
    pub outputs: Option<String>,
    pub tags: Vec<String>,
    pub timeout: Option<u64>,
    pub task_class: Option<String>,
}

impl Script {
    /// True when `term` occurs, ignoring case, in the path, name,
    /// description or a tag.
    pub fn matches(&self, term: &str) -> bool {
        let term = term.to_lowercase();
        [Some(&self.path), Some(&self.name), self.description.as_ref()]
            .into_iter()
            .flatten()
            .chain(self.tags.iter())
            .any(|field| field.to_lowercase().contains(&term))
    }
}

/// The scripts found by one scan, sorted by path.
#[derive(Debug, Clone, Default)]
pub struct ScriptIndex {
    scripts: Vec<Script>,
}

impl ScriptIndex {
    /// Scans `dirs` (relative ones resolve from `project_root`). Folders that
    /// do not exist are skipped: a fresh project may not have made them yet.
    /// Unreadable files are skipped too; the index is a convenience, not a
    /// source of truth.
    pub fn scan(project_root: &Path, dirs: &[PathBuf]) -> ScriptIndex {
        let mut scripts = Vec::new();
        for dir in dirs {
            let dir = project_root.join(dir);
            let walker = WalkDir::new(&dir)
                .follow_links(false)
                .into_iter()
                .filter_entry(|entry| entry.depth() == 0 || !is_skipped(entry));
            for entry in walker.filter_map(Result::ok) {
                if !entry.file_type().is_file() || !is_script(entry.path()) {
                    continue;
                }
                if let Some(script) = read_script(project_root, entry.path()) {
                    scripts.push(script);
                }
            }
        }
        scripts.sort_by(|a, b| a.path.cmp(&b.path));
        scripts.dedup_by(|a, b| a.path == b.path);
        ScriptIndex { scripts }
    }

    /// Every script, sorted by path.
    pub fn all(&self) -> &[Script] {
        &self.scripts
    }

    /// Scripts whose path, name, description or tags contain `term`.
    pub fn search(&self, term: &str) -> Vec<&Script> {
        self.scripts.iter().filter(|s| s.matches(term)).collect()
    }
}

/// Whether the walk leaves out `entry` (and, for a folder, all below it):
/// a hidden file or folder, or a vendored or generated folder.
fn is_skipped(entry: &DirEntry) -> bool {
    let name = entry.file_name().to_string_lossy();
    name.starts_with('.') || entry.file_type().is_dir() && SKIPPED_FOLDERS.contains(&name.as_ref())
}

/// Whether `path` names a script, by its extension.
fn is_script(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| SCRIPT_EXTENSIONS.contains(&e))
}

fn read_script(project_root: &Path, path: &Path) -> Option<Script> {
    let file = std::fs::File::open(path).ok()?;
    let mut bytes = Vec::new();
    file.take(HEADER_READ_LIMIT_BYTES).read_to_end(&mut bytes).ok()?;
    let header = parse_header(&String::from_utf8_lossy(&bytes));
    let relative = path.strip_prefix(project_root).unwrap_or(path);
    let display = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/");
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    Some(Script {
        path: display,
        name: header.name.unwrap_or(stem),
        description: header.description,
        inputs: header.inputs,
        outputs: header.outputs,
        tags: header.tags,
        timeout: header.timeout,
        task_class: header.task_class,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_includes_excludes_and_searches() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        let write = |rel: &str, text: &str| {
            let path = root.join(rel);
            std::fs::create_dir_all(path.parent().expect("has parent")).expect("mkdir");
            std::fs::write(path, text).expect("write");
        };
        write(
            "scripts/deploy.sh",
            "#!/bin/sh\n# description: Deploy the app\n# tags: ops\n",
        );
        write("scripts/sub/report.py", "# name: weekly-report\n# timeout: 60\n");
        write("scripts/README.md", "# not a script\n");
        write("scripts/node_modules/x/index.js", "// description: vendored\n");
        write("scripts/.hidden/secret.sh", "# description: hidden\n");
        write("scripts/.dotted.sh", "# description: hidden\n");
        write("scripts/sub/target/debug/build.sh", "# description: generated\n");
        write("scripts/__pycache__/x.py", "# description: generated\n");
        write("scripts/.git/hooks/pre-commit.sh", "# description: git's\n");
        write(
            "scripts/target.sh",
            "# description: a script named like a folder\n",
        );
        write("scripts/noext", "#!/bin/sh\n");
        write("tools/check.js", "// description: Lint things\n");
        let index = ScriptIndex::scan(
            root,
            &[
                PathBuf::from("scripts"),
                PathBuf::from("tools"),
                PathBuf::from("missing"),
            ],
        );
        let paths: Vec<&str> = index.all().iter().map(|s| s.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "scripts/deploy.sh",
                "scripts/sub/report.py",
                "scripts/target.sh",
                "tools/check.js"
            ]
        );
        assert_eq!(index.all()[0].name, "deploy");
        assert_eq!(index.all()[1].name, "weekly-report");
        assert_eq!(index.all()[1].timeout, Some(60));
        let found: Vec<&str> = index.search("OPS").iter().map(|s| s.path.as_str()).collect();
        assert_eq!(found, ["scripts/deploy.sh"]);
        assert_eq!(index.search("lint").len(), 1);
        assert!(index.search("nothing-like-this").is_empty());
    }
}
