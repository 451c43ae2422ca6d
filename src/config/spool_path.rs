//! Where the spool may be: strictly inside the project folder.
//!
//! `teardown` deletes the spool, so a spool path that is the project itself
//! (`spool.path: "."`), one of its parents, or a folder elsewhere would
//! have it delete the user's work. Such paths are refused when the config
//! is loaded (and so at `setup` and `teardown` too), compared after
//! resolving `..` and symlinks, including a spool folder that is itself a
//! symlink.

use std::path::{Component, Path, PathBuf};

/// Checks that `spool` lies strictly inside `root`; the problem, if not,
/// phrased for the `spool.path` key.
pub(super) fn check_inside(root: &Path, spool: &Path) -> Result<(), String> {
    let root = root.canonicalize().map_err(|e| {
        format!(
            "spool.path: could not resolve the project folder {}: {e}",
            root.display()
        )
    })?;
    let resolved = resolve_existing(spool)
        .map_err(|e| format!("spool.path: could not resolve {}: {e}", spool.display()))?;
    if resolved.starts_with(&root) && resolved != root {
        return Ok(());
    }
    let what = if resolved == root {
        "is the project folder itself"
    } else if root.starts_with(&resolved) {
        "is a folder above the project"
    } else {
        "is outside the project folder"
    };
    Err(format!(
        "spool.path: {} {what} ({}); teardown would delete it\n    Use a folder inside the project, e.g. 'spool'.",
        spool.display(),
        root.display()
    ))
}

/// `path` with symlinks and `..` resolved: the longest existing prefix is
/// canonicalized and the rest appended, normalizing `.` and `..`.
fn resolve_existing(path: &Path) -> std::io::Result<PathBuf> {
    let mut existing = path.to_path_buf();
    let mut rest: Vec<PathBuf> = Vec::new();
    loop {
        match existing.canonicalize() {
            Ok(mut resolved) => {
                for part in rest.iter().rev() {
                    if part.as_os_str() == Component::ParentDir.as_os_str() {
                        resolved.pop();
                    } else if part.as_os_str() != Component::CurDir.as_os_str() {
                        resolved.push(part);
                    }
                }
                return Ok(resolved);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let Some(last) = existing.components().next_back() else {
                    return Err(e);
                };
                rest.push(PathBuf::from(last.as_os_str()));
                if !existing.pop() {
                    return Err(e);
                }
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_folders_strictly_inside_the_project_pass() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("proj");
        std::fs::create_dir_all(root.join("src")).unwrap();
        std::os::unix::fs::symlink(&root, root.join("self-link")).unwrap();
        std::os::unix::fs::symlink(dir.path(), root.join("up-link")).unwrap();
        for (spool, ok) in [
            ("spool", true),
            ("data/spool", true),
            ("src/../spool", true),
            (".", false),
            ("", false),
            ("..", false),
            ("../other", false),
            ("spool/../..", false),
            ("self-link", false),
            ("up-link/x", false),
            ("/usr", false),
        ] {
            let result = check_inside(&root, &root.join(spool));
            assert_eq!(result.is_ok(), ok, "{spool:?}: {result:?}");
        }
        let err = check_inside(&root, &root.join(".")).unwrap_err();
        assert!(err.contains("is the project folder itself"), "{err}");
        let err = check_inside(&root, &root.join("..")).unwrap_err();
        assert!(err.contains("is a folder above the project"), "{err}");
        let err = check_inside(&root, Path::new("/usr")).unwrap_err();
        assert!(err.contains("is outside the project folder"), "{err}");
    }
}
