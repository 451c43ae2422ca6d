//! The README's walk-through works when pasted: it is run here as written.

use std::path::Path;

/// The first ```bash block after `heading` in README.md.
fn bash_block_after(heading: &str) -> String {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let section = &readme[readme
        .find(heading)
        .unwrap_or_else(|| panic!("README has no {heading:?}"))..];
    let start = section.find("```bash\n").expect("a bash block") + "```bash\n".len();
    let end = start + section[start..].find("\n```").expect("a closed block");
    section[start..end].to_owned()
}

#[test]
fn the_five_minute_walk_through_runs_as_written() {
    let script = bash_block_after("## Five-minute walk-through");
    let bin_dir = Path::new(crate::support::sparkq_bin()).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let home = tempfile::tempdir().unwrap();
    let output = std::process::Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(home.path())
        .env("PATH", path)
        .env("NO_COLOR", "1")
        .env("TMPDIR", home.path())
        .env_remove("SPARKQ_CONFIG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "walk-through failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stdout.contains("Dry run clean: 3 migrations would apply"),
        "{stdout}"
    );
    assert!(stdout.contains("No login route exists yet"), "{stdout}");
    assert!(stdout.contains("Server:  not running"), "{stdout}");
}

#[test]
fn the_readme_test_command_installs_what_the_tests_need() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let block = bash_block_after("Run every test");
    assert_eq!(block.trim(), "scripts/test.sh");
    let ci = std::fs::read_to_string(root.join(".ci/run")).unwrap();
    assert!(
        ci.lines()
            .any(|l| l.trim().ends_with("scripts/test.sh") && !l.starts_with('#')),
        "{ci}"
    );
    let install = bash_block_after("## Set up");
    assert!(install.contains("cargo install --locked --path ."), "{install}");

    // On a machine with none of the tools and no apt-get, it stops before
    // cargo test and names every package, instead of letting tests skip.
    let bin = tempfile::tempdir().unwrap();
    let dirname = ["/usr/bin/dirname", "/bin/dirname"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("dirname");
    std::os::unix::fs::symlink(dirname, bin.path().join("dirname")).unwrap();
    let bash = ["/usr/bin/bash", "/bin/bash"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("bash");
    let out = std::process::Command::new(bash)
        .arg(root.join("scripts/test.sh"))
        .env("PATH", bin.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    for package in [
        "git",
        "rsync",
        "chromium",
        "chromium-driver",
        "python3",
        "util-linux",
    ] {
        assert!(stderr.contains(package), "{package} not named:\n{stderr}");
    }
}
