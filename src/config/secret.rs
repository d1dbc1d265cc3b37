//! Secrets named by the configuration: read from an environment variable or a file, never inline.
//!
//! The value lives in a [`SecretString`], whose `Debug` prints `[REDACTED]`; only the code that
//! signs or sends a credential calls `expose_secret`.

use std::path::Path;

pub use secrecy::{ExposeSecret, SecretString};

use super::raw::RawSecret;

/// Reads the secret `raw` names. Files are relative to `base_dir` (the config file's folder);
/// one trailing newline is removed, as editors and `kubectl create secret` add one.
pub(crate) fn resolve(raw: &RawSecret, base_dir: &Path) -> Result<SecretString, String> {
    let value = match (&raw.env, &raw.file) {
        (Some(var), None) => std::env::var(var).map_err(|e| match e {
            std::env::VarError::NotPresent => format!("environment variable {var} is not set"),
            std::env::VarError::NotUnicode(_) => {
                format!("environment variable {var} is not valid UTF-8")
            }
        })?,
        (None, Some(file)) => {
            let path = base_dir.join(file);
            let mut text = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read secret file {}: {e}", path.display()))?;
            if text.ends_with('\n') {
                text.pop();
                if text.ends_with('\r') {
                    text.pop();
                }
            }
            text
        }
        _ => {
            return Err(
                "give exactly one of env = \"VAR\" or file = \"path\" (secrets are never written inline)"
                    .to_owned(),
            )
        }
    };
    if value.is_empty() {
        return Err("the secret is empty".to_owned());
    }
    Ok(SecretString::from(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_secret_loses_one_trailing_newline_and_never_prints() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("s"), "hunter2\n").unwrap();
        let raw = RawSecret {
            env: None,
            file: Some("s".into()),
        };
        let secret = resolve(&raw, dir.path()).unwrap();
        assert_eq!(secret.expose_secret(), "hunter2");
        assert!(!format!("{secret:?}").contains("hunter2"));
    }

    #[test]
    fn both_or_neither_source_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let both = RawSecret {
            env: Some("X".into()),
            file: Some("y".into()),
        };
        let neither = RawSecret {
            env: None,
            file: None,
        };
        assert!(resolve(&both, dir.path()).is_err());
        assert!(resolve(&neither, dir.path()).is_err());
    }

    #[test]
    fn missing_file_and_empty_secret_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("empty"), "\n").unwrap();
        let missing = RawSecret {
            env: None,
            file: Some("nope".into()),
        };
        let empty = RawSecret {
            env: None,
            file: Some("empty".into()),
        };
        assert!(resolve(&missing, dir.path()).unwrap_err().contains("nope"));
        assert!(resolve(&empty, dir.path()).unwrap_err().contains("empty"));
    }
}
