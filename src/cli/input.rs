//! Reading values given as text, as a file, or on stdin (`-`).
//!
//! Every read is capped: at most `limit + 1` bytes are read, so a huge file,
//! `/dev/zero` or an endless pipe (`yes | sparkq complete ...`) ends in the
//! too-large error at once instead of filling memory.

use std::io::Read;
use std::path::Path;

use anyhow::{Context, bail};

use crate::queue;

/// Reads `path`, or stdin when it is `-`, refusing more than `limit` bytes
/// of `what`. A regular file is measured first, so its error gives its
/// size; a pipe or device is read no further than `limit + 1` bytes.
pub(super) fn read_file_or_stdin(path: &Path, what: &'static str, limit: usize) -> anyhow::Result<String> {
    let shown = if path == Path::new("-") {
        "stdin".to_owned()
    } else {
        path.display().to_string()
    };
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    let mut bytes = Vec::new();
    let read = if path == Path::new("-") {
        std::io::stdin().lock().take(cap).read_to_end(&mut bytes)
    } else {
        let file = std::fs::File::open(path).with_context(|| format!("could not read {shown}"))?;
        if let Ok(meta) = file.metadata()
            && meta.is_file()
            && meta.len() >= cap
        {
            let size = usize::try_from(meta.len()).unwrap_or(usize::MAX);
            return Err(queue::Error::TooLarge { what, size, limit }.into());
        }
        file.take(cap).read_to_end(&mut bytes)
    };
    read.with_context(|| format!("could not read {shown}"))?;
    if bytes.len() > limit {
        bail!(
            "{what} from {shown} is over the limit of {limit} bytes\n  Write large outputs to a file and put its path in the result, or raise 'limits:' in sparkq.yml."
        );
    }
    String::from_utf8(bytes).with_context(|| format!("{what} from {shown} is not UTF-8 text"))
}

/// The text of an option given either inline or as a file (`-` = stdin),
/// the file capped at `limit` bytes.
pub(super) fn text_or_file(
    text: Option<String>,
    file: Option<&Path>,
    what: &'static str,
    limit: usize,
) -> anyhow::Result<Option<String>> {
    match (text, file) {
        (Some(text), _) => Ok(Some(text)),
        (None, Some(path)) => read_file_or_stdin(path, what, limit).map(Some),
        (None, None) => Ok(None),
    }
}

/// Up to `len + 1` bytes of the file at `path`, as text (lossy): enough to
/// tell whether it holds exactly `len` bytes of known text, without reading
/// a huge or endless file whole.
pub(super) fn read_prefix(path: &Path, len: usize) -> std::io::Result<String> {
    let cap = u64::try_from(len).unwrap_or(u64::MAX).saturating_add(1);
    let mut bytes = Vec::new();
    std::fs::File::open(path)?.take(cap).read_to_end(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}
