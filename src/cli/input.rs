//! Reading the operator's YAML as written: files, directories, stdin; every document of a
//! multi-document stream, `kind: List` items included. Documents of kinds meshguard does not
//! read (Deployments, VirtualServices...) are set aside, not refused: a manifests directory
//! holds them beside the security resources.

use super::Failure;
use serde_json::Value;
use serde_saphyr::Spanned;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The kinds the plugin's configuration takes.
const READ_KINDS: [&str; 5] = [
    "AuthorizationPolicy",
    "RequestAuthentication",
    "PeerAuthentication",
    "ServiceEntry",
    "Gateway",
];

/// Where a document came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub file: String,
    /// The line the document starts on (1-based), as editors and compilers point at it.
    pub line: usize,
    /// The item of a `kind: List` document (0-based, as `items[i]`).
    pub item: Option<usize>,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)?;
        if let Some(i) = self.item {
            write!(f, " (items[{i}])")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone)]
pub struct Document {
    pub origin: Origin,
    pub value: Value,
}

impl Document {
    fn str_at(&self, pointer: &str) -> &str {
        self.value
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    pub fn kind(&self) -> &str {
        self.str_at("/kind")
    }

    pub fn namespace(&self) -> &str {
        self.str_at("/metadata/namespace")
    }

    pub fn name(&self) -> &str {
        self.str_at("/metadata/name")
    }

    /// `Kind namespace/name`, as the loader names a resource.
    pub fn id(&self) -> String {
        format!("{} {}/{}", self.kind(), self.namespace(), self.name())
    }
}

/// What the inputs hold: the resources for the plugin, and the documents set aside.
#[derive(Debug, Default)]
pub struct Inputs {
    pub resources: Vec<Document>,
    pub skipped: Vec<Document>,
}

/// Reads every path (`-` is stdin). A file that cannot be read or parsed is a failure.
pub fn read(paths: &[PathBuf]) -> Result<Inputs, Failure> {
    let mut files = Vec::new();
    for p in paths {
        if p.as_os_str() == "-" {
            files.push(None);
        } else if p.is_dir() {
            let mut found = Vec::new();
            walk(p, &mut found)?;
            if found.is_empty() {
                return Err(Failure(format!(
                    "{}: no *.yaml, *.yml or *.json file in this directory",
                    p.display()
                )));
            }
            files.extend(found.into_iter().map(Some));
        } else {
            files.push(Some(p.clone()));
        }
    }
    let mut out = Inputs::default();
    for file in files {
        let (name, text) = match &file {
            None => {
                let mut text = String::new();
                std::io::stdin()
                    .read_to_string(&mut text)
                    .map_err(|e| Failure(format!("stdin: {e}")))?;
                ("<stdin>".to_string(), text)
            }
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| Failure(format!("{}: {e}", path.display())))?;
                (path.display().to_string(), text)
            }
        };
        parse(&name, &text, &mut out)?;
    }
    Ok(out)
}

/// Files under `dir` with a YAML or JSON extension, recursively, in name order (so the
/// configuration, and any message about it, is the same on every run).
fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), Failure> {
    let entries = std::fs::read_dir(dir).map_err(|e| Failure(format!("{}: {e}", dir.display())))?;
    let mut paths = entries
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Failure(format!("{}: {e}", dir.display())))?;
    paths.sort();
    for p in paths {
        if p.is_dir() {
            walk(&p, out)?;
        } else if p
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"))
        {
            out.push(p);
        }
    }
    Ok(())
}

/// Parses one file's documents into `out`. JSON is YAML, so one parser reads both.
pub fn parse(name: &str, text: &str, out: &mut Inputs) -> Result<(), Failure> {
    let documents: Vec<Spanned<Value>> =
        serde_saphyr::from_multiple(text).map_err(|e| Failure(format!("{name}: {e}")))?;
    for doc in documents {
        let origin = Origin {
            file: name.to_string(),
            line: usize::try_from(doc.referenced.line()).unwrap_or(0),
            item: None,
        };
        let value = doc.value;
        if !value.is_object() {
            return Err(Failure(format!(
                "{origin}: expected a Kubernetes object (a mapping with apiVersion, kind, metadata)"
            )));
        }
        let is_list = value.get("kind").and_then(Value::as_str) == Some("List");
        match value.get("items").and_then(Value::as_array) {
            Some(items) if is_list => {
                for (j, item) in items.iter().enumerate() {
                    let origin = Origin {
                        item: Some(j),
                        ..origin.clone()
                    };
                    sort(
                        Document {
                            origin,
                            value: item.clone(),
                        },
                        out,
                    );
                }
            }
            _ => sort(Document { origin, value }, out),
        }
    }
    Ok(())
}

/// Resources of the kinds meshguard reads go to the loader, and so does anything claiming the
/// security.istio.io group or lacking a kind (the loader then says what is wrong with it).
fn sort(doc: Document, out: &mut Inputs) {
    let group = doc
        .value
        .get("apiVersion")
        .and_then(Value::as_str)
        .and_then(|v| v.split_once('/'))
        .map_or("", |(g, _)| g);
    let kind = doc.kind();
    if kind.is_empty() || READ_KINDS.contains(&kind) || group == "security.istio.io" {
        out.resources.push(doc);
    } else {
        out.skipped.push(doc);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_lists_and_skipped_kinds() {
        let mut out = Inputs::default();
        parse(
            "x.yaml",
            "# a comment\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n---\n\
             apiVersion: v1\nkind: List\nitems:\n- apiVersion: security.istio.io/v1\n  kind: AuthorizationPolicy\n  \
             metadata: {name: a, namespace: ns}\n  spec:\n    {}\n---\n# only a comment\n",
            &mut out,
        )
        .unwrap();
        assert_eq!(out.skipped.len(), 1);
        assert_eq!(out.resources.len(), 1);
        let r = &out.resources[0];
        assert_eq!(r.id(), "AuthorizationPolicy ns/a");
        assert_eq!(r.origin.to_string(), "x.yaml:7 (items[0])");
        assert_eq!(r.value["spec"], serde_json::json!({}));
    }

    #[test]
    fn istio_security_kinds_and_kindless_documents_reach_the_loader() {
        let mut out = Inputs::default();
        parse(
            "x.yaml",
            "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicie\n---\nmetadata: {}\n",
            &mut out,
        )
        .unwrap();
        assert_eq!(out.resources.len(), 2);
    }

    #[test]
    fn bad_yaml_and_scalars_fail() {
        let mut out = Inputs::default();
        let e = parse("x.yaml", "a: [1, 2\n", &mut out).unwrap_err();
        assert!(e.0.starts_with("x.yaml: "), "{}", e.0);
        let e = parse("x.yaml", "just a string\n", &mut out).unwrap_err();
        assert!(e.0.contains("x.yaml:1"), "{}", e.0);
    }
}
