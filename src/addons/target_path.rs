//! `targetPath` of a Flux `valuesFrom` entry: the key side of Helm's `--set key=value`, read by Helm's
//! strvals parser. Dots separate keys unless escaped (`eks\.amazonaws\.com/role-arn`), `name[2]` indexes a
//! list, and `,` or `=` end the key.

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Segment {
    Key(String),
    Index(usize),
}

/// Why Helm would not read a path as intended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("the path is empty")]
    Empty,
    #[error("empty key at character {0} (a leading, trailing or doubled dot)")]
    EmptyKey(usize),
    #[error("`{0}` at character {1} ends the key in Helm's --set syntax; escape it as `\\{0}`")]
    Terminator(char, usize),
    #[error("list index `[{0}]` is not a non-negative integer")]
    BadIndex(String),
    #[error("list index {0} is above Helm's limit of 65536")]
    IndexTooLarge(usize),
    #[error("`[` at character {0} has no closing `]`")]
    Unclosed(usize),
    #[error("after `]` at character {0} comes `{1}`; expected `.`, `[` or the end")]
    AfterIndex(usize, char),
    #[error("the path ends with an escaping backslash")]
    TrailingEscape,
    #[error("the key `{joined}` is split at its dots into {count} keys; escape them: `{escaped}`")]
    UnescapedDomain {
        joined: String,
        count: usize,
        escaped: String,
    },
}

const MAX_INDEX: usize = 65536;

/// Parses `path` as Helm does.
pub fn parse(path: &str) -> Result<Vec<Segment>, PathError> {
    if path.is_empty() {
        return Err(PathError::Empty);
    }
    let chars: Vec<char> = path.chars().collect();
    let mut segs = Vec::new();
    let mut key = String::new();
    let mut i = 0;
    // Whether the current key may be empty (right after an index, `.` or `[` follows without a key).
    let mut after_index = false;
    while i < chars.len() {
        match chars[i] {
            '\\' => {
                let c = *chars.get(i + 1).ok_or(PathError::TrailingEscape)?;
                key.push(c);
                i += 2;
                continue;
            }
            c @ (',' | '=') => return Err(PathError::Terminator(c, i + 1)),
            '.' => {
                if key.is_empty() && !after_index {
                    return Err(PathError::EmptyKey(i + 1));
                }
                if !key.is_empty() {
                    segs.push(Segment::Key(std::mem::take(&mut key)));
                }
                after_index = false;
                if i + 1 == chars.len() {
                    return Err(PathError::EmptyKey(i + 2));
                }
            }
            '[' => {
                if !key.is_empty() {
                    segs.push(Segment::Key(std::mem::take(&mut key)));
                } else if !after_index {
                    return Err(PathError::EmptyKey(i + 1));
                }
                let close = chars[i..]
                    .iter()
                    .position(|&c| c == ']')
                    .ok_or(PathError::Unclosed(i + 1))?;
                let text: String = chars[i + 1..i + close].iter().collect();
                let n: usize = text
                    .parse()
                    .map_err(|_| PathError::BadIndex(text.clone()))?;
                if n > MAX_INDEX {
                    return Err(PathError::IndexTooLarge(n));
                }
                segs.push(Segment::Index(n));
                i += close + 1;
                match chars.get(i) {
                    None | Some('.') | Some('[') => {}
                    Some(&c) => return Err(PathError::AfterIndex(i, c)),
                }
                after_index = true;
                continue;
            }
            c => key.push(c),
        }
        i += 1;
    }
    if !key.is_empty() {
        segs.push(Segment::Key(key));
    }
    unescaped_domain(&segs)?;
    Ok(segs)
}

/// Top-level domain labels that end the first part of a prefixed Kubernetes key (`eks.amazonaws.com/…`).
const DOMAIN_ENDS: [&str; 8] = ["com", "io", "sh", "org", "net", "dev", "aws", "cloud"];

/// A key like `eks.amazonaws.com/role-arn` written without escapes splits into `eks`, `amazonaws`,
/// `com/role-arn`: the segment with the `/` starts with a domain end.
fn unescaped_domain(segs: &[Segment]) -> Result<(), PathError> {
    for (i, seg) in segs.iter().enumerate() {
        let Segment::Key(k) = seg else { continue };
        let Some((tld, _)) = k.split_once('/') else {
            continue;
        };
        if i == 0 || !DOMAIN_ENDS.contains(&tld) {
            continue;
        }
        let start = segs[..i]
            .iter()
            .rposition(|s| match s {
                Segment::Key(k) => !is_domain_label(k),
                Segment::Index(_) => true,
            })
            .map_or(0, |p| p + 1);
        if start == i {
            continue;
        }
        let parts: Vec<&str> = segs[start..=i]
            .iter()
            .filter_map(|s| match s {
                Segment::Key(k) => Some(k.as_str()),
                Segment::Index(_) => None,
            })
            .collect();
        return Err(PathError::UnescapedDomain {
            joined: parts.join("."),
            count: parts.len(),
            escaped: parts.join("\\."),
        });
    }
    Ok(())
}

fn is_domain_label(k: &str) -> bool {
    !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !matches!(
            k,
            "annotations" | "labels" | "nodeSelector" | "podAnnotations" | "podLabels"
        )
}

/// The path as text with one spelling per meaning (for finding duplicates).
pub fn canonical(segs: &[Segment]) -> String {
    let mut out = String::new();
    for s in segs {
        match s {
            Segment::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(&k.replace('\\', "\\\\").replace('.', "\\."));
            }
            Segment::Index(n) => out.push_str(&format!("[{n}]")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str) -> Segment {
        Segment::Key(k.to_string())
    }

    #[test]
    fn valid_paths() {
        let table: [(&str, Vec<Segment>); 5] = [
            (
                "settings.clusterName",
                vec![key("settings"), key("clusterName")],
            ),
            (
                r"serviceAccount.annotations.eks\.amazonaws\.com/role-arn",
                vec![
                    key("serviceAccount"),
                    key("annotations"),
                    key("eks.amazonaws.com/role-arn"),
                ],
            ),
            (
                "tolerations[0].key",
                vec![key("tolerations"), Segment::Index(0), key("key")],
            ),
            (
                "a[1][2]",
                vec![key("a"), Segment::Index(1), Segment::Index(2)],
            ),
            (r"a\,b", vec![key("a,b")]),
        ];
        for (path, want) in table {
            assert_eq!(parse(path), Ok(want), "{path}");
        }
    }

    #[test]
    fn invalid_paths() {
        let table = [
            ("", PathError::Empty),
            (".a", PathError::EmptyKey(1)),
            ("a..b", PathError::EmptyKey(3)),
            ("a.", PathError::EmptyKey(3)),
            ("a,b", PathError::Terminator(',', 2)),
            ("a=b", PathError::Terminator('=', 2)),
            ("a[x]", PathError::BadIndex("x".into())),
            ("a[-1]", PathError::BadIndex("-1".into())),
            ("a[70000]", PathError::IndexTooLarge(70000)),
            ("a[1", PathError::Unclosed(2)),
            ("a[1]b", PathError::AfterIndex(4, 'b')),
            ("[0]", PathError::EmptyKey(1)),
            ("a\\", PathError::TrailingEscape),
        ];
        for (path, want) in table {
            assert_eq!(parse(path), Err(want), "{path:?}");
        }
    }

    #[test]
    fn an_unescaped_annotation_key_is_named() {
        let err =
            parse("serviceAccount.annotations.eks.amazonaws.com/role-arn").expect_err("split");
        assert_eq!(
            err,
            PathError::UnescapedDomain {
                joined: "eks.amazonaws.com/role-arn".into(),
                count: 3,
                escaped: r"eks\.amazonaws\.com/role-arn".into(),
            }
        );
        assert!(parse("image.repository/name").is_ok());
    }

    #[test]
    fn canonical_spelling_round_trips() {
        for p in [r"a.b\.c[0].d", "x", "a[1][2]"] {
            let segs = parse(p).expect("valid");
            assert_eq!(canonical(&segs), p);
            assert_eq!(parse(&canonical(&segs)), Ok(segs));
        }
    }
}
