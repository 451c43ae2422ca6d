//! Reading values given as text, as a file, or on stdin (`-`).

use std::io::Read;
use std::path::Path;

use anyhow::Context;

/// Reads `path`, or stdin when it is `-`.
pub(super) fn read_file_or_stdin(path: &Path) -> anyhow::Result<String> {
    if path == Path::new("-") {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("could not read stdin")?;
        return Ok(text);
    }
    std::fs::read_to_string(path).with_context(|| format!("could not read {}", path.display()))
}

/// The text of an option given either inline or as a file (`-` = stdin).
pub(super) fn text_or_file(text: Option<String>, file: Option<&Path>) -> anyhow::Result<Option<String>> {
    match (text, file) {
        (Some(text), _) => Ok(Some(text)),
        (None, Some(path)) => read_file_or_stdin(path).map(Some),
        (None, None) => Ok(None),
    }
}
