//! Reading manifests: YAML files (one or many documents) from files and directories, each document with the
//! file and line it starts at, so findings can point into the file.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// One YAML document of a file.
#[derive(Debug, Clone)]
pub struct Doc {
    pub file: PathBuf,
    /// 1-based line of the document's first line.
    pub line: usize,
    /// The document's text.
    pub text: String,
    pub value: Value,
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("{file}:{line}: not valid YAML: {error}")]
    Yaml {
        file: PathBuf,
        line: usize,
        error: String,
    },
}

impl Doc {
    pub fn kind(&self) -> &str {
        self.value["kind"].as_str().unwrap_or_default()
    }

    pub fn api_version(&self) -> &str {
        self.value["apiVersion"].as_str().unwrap_or_default()
    }

    pub fn name(&self) -> &str {
        self.value["metadata"]["name"].as_str().unwrap_or_default()
    }

    pub fn namespace(&self) -> Option<&str> {
        self.value["metadata"]["namespace"].as_str()
    }

    /// `Kind namespace/name` (or `Kind name`).
    pub fn label(&self) -> String {
        match self.namespace() {
            Some(ns) => format!("{} {ns}/{}", self.kind(), self.name()),
            None => format!("{} {}", self.kind(), self.name()),
        }
    }

    /// The line of the `nth` (0-based) line of this document that contains every needle, else the document's
    /// first line.
    pub fn line_of(&self, needles: &[&str], nth: usize) -> usize {
        self.text
            .lines()
            .enumerate()
            .filter(|(_, l)| needles.iter().all(|n| l.contains(n)))
            .nth(nth)
            .map_or(self.line, |(i, _)| self.line + i)
    }
}

/// Every `.yaml`/`.yml` file under `paths` (directories recursively, in name order); files named explicitly
/// are read whatever their extension.
pub fn files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, ManifestError> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            walk(p, &mut out)?;
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), ManifestError> {
    let io = |e| ManifestError::Io(dir.to_path_buf(), e);
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(io)?;
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out)?;
        } else if matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")) {
            out.push(p);
        }
    }
    Ok(())
}

/// The documents of every file, skipping empty ones.
pub fn load(paths: &[PathBuf]) -> Result<Vec<Doc>, ManifestError> {
    let mut docs = Vec::new();
    for file in files(paths)? {
        let text =
            std::fs::read_to_string(&file).map_err(|e| ManifestError::Io(file.clone(), e))?;
        docs.extend(parse(&file, &text)?);
    }
    Ok(docs)
}

/// Splits `text` at `---` lines and parses each document.
pub fn parse(file: &Path, text: &str) -> Result<Vec<Doc>, ManifestError> {
    let mut docs = Vec::new();
    let mut start = 1;
    let mut chunk = String::new();
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let separator = line.starts_with("---");
        if !separator {
            chunk.push_str(line);
            chunk.push('\n');
        }
        if separator || i + 1 == lines.len() {
            push_doc(file, start, std::mem::take(&mut chunk), &mut docs)?;
            start = i + 2;
        }
    }
    Ok(docs)
}

fn push_doc(
    file: &Path,
    line: usize,
    text: String,
    docs: &mut Vec<Doc>,
) -> Result<(), ManifestError> {
    let value: Value = serde_yaml::from_str(&text).map_err(|e| ManifestError::Yaml {
        file: file.to_path_buf(),
        line: line + e.location().map_or(0, |l| l.line().saturating_sub(1)),
        error: e.to_string(),
    })?;
    if value.is_object() {
        docs.push(Doc {
            file: file.to_path_buf(),
            line,
            text,
            value,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_keep_their_first_line() {
        let text = "# c\nkind: A\nmetadata:\n  name: a\n---\n\n---\nkind: B\nspec:\n  x: 1\n";
        let docs = parse(Path::new("f.yaml"), text).expect("parses");
        let got: Vec<(&str, usize)> = docs.iter().map(|d| (d.kind(), d.line)).collect();
        assert_eq!(got, vec![("A", 1), ("B", 8)]);
        assert_eq!(docs[1].line_of(&["x:"], 0), 10);
        assert_eq!(docs[1].line_of(&["absent"], 0), 8);
    }

    #[test]
    fn yaml_errors_name_the_line() {
        let err =
            parse(Path::new("f.yaml"), "kind: A\n---\na: 1\nb: [\nc: 3\n").expect_err("invalid");
        assert!(err.to_string().starts_with("f.yaml:6:"), "{err}");
    }
}
