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
    let given_root = root;
    let root = root.canonicalize().map_err(|e| {
        format!(
            "spool.path: could not resolve the project folder {}: {e}",
            root.display()
        )
    })?;
    let resolved = resolve_below(given_root, &root, spool)
        .unwrap_or_else(|| resolve_existing(spool))
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

/// [`resolve_existing`] of `spool` for the usual case, `root` joined with
/// plain names (`spool`, `data/spool`) none of which is a symlink: the
/// canonical `root` (`resolved_root`) joined with them. Only those names
/// are looked at (one `lstat` each) instead of every folder from `/` down
/// again (a `readlink` each: 8 for a project 7 folders deep). `None` when
/// `spool` is not of that shape or one of the names is a symlink: resolve
/// it fully then.
fn resolve_below(root: &Path, resolved_root: &Path, spool: &Path) -> Option<std::io::Result<PathBuf>> {
    let names = spool.strip_prefix(root).ok()?;
    if names.as_os_str().is_empty() || !names.components().all(|c| matches!(c, Component::Normal(_))) {
        return None;
    }
    let mut resolved = resolved_root.to_path_buf();
    let mut exists = true;
    for name in names.components() {
        resolved.push(name);
        if exists {
            match std::fs::symlink_metadata(&resolved) {
                Ok(meta) if meta.file_type().is_symlink() => return None,
                Ok(_) => {}
                // Nothing below a missing folder exists either.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => exists = false,
                Err(e) => return Some(Err(e)),
            }
        }
    }
    Some(Ok(resolved))
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
        // The short way resolves as the long way wherever it applies.
        std::fs::create_dir_all(root.join("data/spool")).unwrap();
        std::fs::write(root.join("file"), "").unwrap();
        std::os::unix::fs::symlink(dir.path(), root.join("data/up-link")).unwrap();
        let spelled = root.join("src/../.");
        let resolved_root = root.canonicalize().unwrap();
        for (spool, short) in [
            ("spool", true),
            ("data/spool", true),
            ("data/spool/new/deeper", true),
            ("data/up-link", false),
            ("data/up-link/x", false),
            ("src/../spool", false),
            (".", false),
        ] {
            for root in [&root, &spelled] {
                let spool = root.join(spool);
                let fast = resolve_below(root, &resolved_root, &spool);
                assert_eq!(fast.is_some(), short, "{spool:?}");
                if let Some(fast) = fast {
                    assert_eq!(fast.unwrap(), resolve_existing(&spool).unwrap(), "{spool:?}");
                }
            }
        }
        let under_file = root.join("file/spool");
        assert_eq!(
            resolve_below(&root, &resolved_root, &under_file)
                .unwrap()
                .unwrap_err()
                .kind(),
            resolve_existing(&under_file).unwrap_err().kind()
        );
        assert!(err.contains("is the project folder itself"), "{err}");
        let err = check_inside(&root, &root.join("..")).unwrap_err();
        assert!(err.contains("is a folder above the project"), "{err}");
        let err = check_inside(&root, Path::new("/usr")).unwrap_err();
        assert!(err.contains("is outside the project folder"), "{err}");
    }
}
