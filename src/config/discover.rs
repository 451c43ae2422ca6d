//! Where `sparkq.yml` is: `--config PATH`, else `$SPARKQ_CONFIG`, else the
//! nearest `sparkq.yml` in the current folder or its parents.

use std::path::{Path, PathBuf};

use super::Error;

/// The config file's name.
pub const CONFIG_FILE_NAME: &str = "sparkq.yml";
/// The environment variable naming a config file.
pub const CONFIG_ENV: &str = "SPARKQ_CONFIG";

/// The config file to use, following the lookup order above.
pub fn find_config_file(explicit: Option<&Path>) -> Result<PathBuf, Error> {
    if let Some(path) = explicit {
        return Ok(path.to_owned());
    }
    if let Some(path) = std::env::var_os(CONFIG_ENV).filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(path));
    }
    let start = std::env::current_dir().map_err(|source| Error::Read {
        path: PathBuf::from("."),
        source,
    })?;
    start
        .ancestors()
        .map(|dir| dir.join(CONFIG_FILE_NAME))
        .find(|candidate| candidate.is_file())
        .ok_or(Error::NotFound { start })
}
