//! Tool-list integrity: the definitions (name, title, description, schemas, annotations) of a
//! server's tools the user has accepted, kept in the state directory. The first definition a
//! tool is seen with is accepted; a later, different one is `Changed` until a call to it is
//! approved, so a server that silently turns a read tool into a write tool is caught.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use holdpoint_core::canonical_json;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::Error;

/// The fields of a tool definition that say what it does.
const DEFINING: &[&str] = &["name", "title", "description", "inputSchema", "outputSchema", "annotations"];

/// What the gateway knows of one tool.
#[derive(Clone, Debug, PartialEq)]
pub enum ToolStatus {
    /// The server has not listed it in this session.
    Unlisted,
    /// Listed as it was accepted.
    Accepted(Value),
    /// Listed differently from the accepted definition.
    Changed(Value),
}

#[derive(Default, Serialize, Deserialize)]
struct Accepted {
    /// Tool name → `sha256:<hex>` of its defining fields.
    tools: BTreeMap<String, String>,
}

/// One server's accepted tool definitions and the ones it lists now.
#[derive(Debug)]
pub struct ToolBook {
    file: Option<PathBuf>,
    accepted: BTreeMap<String, String>,
    current: HashMap<String, Value>,
}

impl ToolBook {
    /// The book of server `name` under `dir` (`state/mcp-tools`), read if it exists. A file
    /// that cannot be read or parsed is an error, never a fresh start.
    pub fn open(dir: &Path, name: &str) -> Result<ToolBook, Error> {
        let file = dir.join(format!("{}.json", file_name(name)));
        let accepted =
            match std::fs::read(&file) {
                Ok(bytes) => serde_json::from_slice::<Accepted>(&bytes)
                    .map_err(|e| Error::File {
                        path: file.clone(),
                        source: std::io::Error::new(
                            std::io::ErrorKind::InvalidData,
                            format!(
                                "not a tool list Holdpoint wrote ({e}); remove it to accept the server's tools again"
                            ),
                        ),
                    })?
                    .tools,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
                Err(source) => return Err(Error::File { path: file, source }),
            };
        Ok(ToolBook { file: Some(file), accepted, current: HashMap::new() })
    }

    /// A book kept only in memory (benchmarks, tests).
    pub fn in_memory() -> ToolBook {
        ToolBook { file: None, accepted: BTreeMap::new(), current: HashMap::new() }
    }

    /// Notes the tools a `tools/list` answer shows; a tool never seen before is accepted.
    pub fn observe(&mut self, tools: &[Value]) -> Result<(), Error> {
        let mut new = false;
        for tool in tools {
            let Some(name) = tool.get("name").and_then(Value::as_str) else { continue };
            if !self.accepted.contains_key(name) {
                self.accepted.insert(name.to_owned(), digest(tool));
                new = true;
            }
            self.current.insert(name.to_owned(), tool.clone());
        }
        if new { self.save() } else { Ok(()) }
    }

    /// What is known of tool `name`.
    pub fn status(&self, name: &str) -> ToolStatus {
        match self.current.get(name) {
            None => ToolStatus::Unlisted,
            Some(tool) if self.accepted.get(name) == Some(&digest(tool)) => ToolStatus::Accepted(tool.clone()),
            Some(tool) => ToolStatus::Changed(tool.clone()),
        }
    }

    /// Accepts the definition the server lists now (after a call to the changed tool was
    /// approved).
    pub fn accept(&mut self, name: &str) -> Result<(), Error> {
        let Some(tool) = self.current.get(name) else { return Ok(()) };
        self.accepted.insert(name.to_owned(), digest(tool));
        self.save()
    }

    fn save(&self) -> Result<(), Error> {
        let Some(file) = &self.file else { return Ok(()) };
        let io = |source: std::io::Error| Error::File { path: file.clone(), source };
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let text = serde_json::to_vec_pretty(&Accepted { tools: self.accepted.clone() }).map_err(|e| io(e.into()))?;
        let tmp = file.with_extension("json.tmp");
        std::fs::write(&tmp, text).map_err(io)?;
        std::fs::rename(&tmp, file).map_err(io)
    }
}

/// `sha256:<hex>` over the canonical JSON of a tool's defining fields.
pub fn digest(tool: &Value) -> String {
    let mut fields = Map::new();
    for key in DEFINING {
        if let Some(v) = tool.get(*key) {
            fields.insert((*key).to_owned(), v.clone());
        }
    }
    let hash = Sha256::digest(canonical_json(&Value::Object(fields)).as_bytes());
    format!("sha256:{}", hash.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// A server name as a file name: letters, digits, `-` and `_` kept, anything else as `%XX`.
fn file_name(name: &str) -> String {
    name.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_changed_tool_stays_changed_until_accepted_and_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let read = json!({"name":"save","description":"reads","inputSchema":{"type":"object"},"annotations":{"readOnlyHint":true}});
        let write = json!({"name":"save","description":"writes","inputSchema":{"type":"object"}});
        let mut book = ToolBook::open(dir.path(), "fix/ture").unwrap();
        assert_eq!(book.status("save"), ToolStatus::Unlisted);
        book.observe(std::slice::from_ref(&read)).unwrap();
        assert_eq!(book.status("save"), ToolStatus::Accepted(read.clone()));
        let mut book = ToolBook::open(dir.path(), "fix/ture").unwrap();
        book.observe(std::slice::from_ref(&write)).unwrap();
        assert_eq!(book.status("save"), ToolStatus::Changed(write.clone()));
        book.accept("save").unwrap();
        assert_eq!(book.status("save"), ToolStatus::Accepted(write));
        assert!(dir.path().join("fix%2Fture.json").is_file());
    }
}
