//! Retired apps: `<data dir>/retired.json`, written by sunset, read by the board (which hides or
//! greys them). Written whole to a temporary file, fsync'd, then renamed, so a crash never leaves
//! half a file.
use crate::ops::OpError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

pub const FILE: &str = "retired.json";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retired {
    /// RFC 3339 time of the sunset.
    pub at: String,
    pub by: String,
    pub op_id: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct RetiredFile {
    #[serde(default)]
    apps: BTreeMap<String, Retired>,
}

pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE)
}

/// Every retired app; a missing file means none.
pub fn load(data_dir: &Path) -> Result<BTreeMap<String, Retired>, OpError> {
    let p = path(data_dir);
    match std::fs::read(&p) {
        Ok(bytes) => serde_json::from_slice::<RetiredFile>(&bytes)
            .map(|f| f.apps)
            .map_err(|e| OpError::Journal(format!("{}: {e}", p.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(OpError::Journal(format!("{}: {e}", p.display()))),
    }
}

/// Whether the app is retired (an unreadable file counts as "not retired").
pub fn is_retired(data_dir: &Path, app: &str) -> bool {
    load(data_dir).is_ok_and(|m| m.contains_key(app))
}

/// Marks the app retired; `Ok(false)` when it already was (the first record is kept).
pub fn mark(data_dir: &Path, app: &str, record: Retired) -> Result<bool, OpError> {
    let mut apps = load(data_dir)?;
    if apps.contains_key(app) {
        return Ok(false);
    }
    apps.insert(app.to_string(), record);
    write(data_dir, &RetiredFile { apps })?;
    Ok(true)
}

/// Removes the mark (an app brought back by hand); `Ok(false)` when it was not retired.
pub fn unmark(data_dir: &Path, app: &str) -> Result<bool, OpError> {
    let mut apps = load(data_dir)?;
    if apps.remove(app).is_none() {
        return Ok(false);
    }
    write(data_dir, &RetiredFile { apps })?;
    Ok(true)
}

fn write(data_dir: &Path, file: &RetiredFile) -> Result<(), OpError> {
    let p = path(data_dir);
    let err = |e: std::io::Error| OpError::Journal(format!("{}: {e}", p.display()));
    std::fs::create_dir_all(data_dir).map_err(err)?;
    let tmp = data_dir.join(format!(".{FILE}.{}.tmp", std::process::id()));
    let bytes = serde_json::to_vec_pretty(file).map_err(|e| OpError::Journal(e.to_string()))?;
    let mut f = std::fs::File::create(&tmp).map_err(err)?;
    f.write_all(&bytes).map_err(err)?;
    f.write_all(b"\n").map_err(err)?;
    f.sync_all().map_err(err)?;
    std::fs::rename(&tmp, &p).map_err(err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mark_load_unmark() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load(dir.path()).unwrap().is_empty());
        let rec = Retired {
            at: "2026-11-27T19:00:00Z".into(),
            by: "ann".into(),
            op_id: "op1".into(),
        };
        assert!(mark(dir.path(), "worker", rec.clone()).unwrap());
        let again = Retired {
            op_id: "op2".into(),
            ..rec.clone()
        };
        assert!(!mark(dir.path(), "worker", again).unwrap());
        assert_eq!(load(dir.path()).unwrap()["worker"], rec);
        assert!(is_retired(dir.path(), "worker"));
        assert!(!is_retired(dir.path(), "web"));
        assert!(unmark(dir.path(), "worker").unwrap());
        assert!(!is_retired(dir.path(), "worker"));
        std::fs::write(path(dir.path()), "{nope").unwrap();
        assert!(load(dir.path()).is_err());
        assert!(!is_retired(dir.path(), "worker"));
    }
}
