//! Object names with `${VARIABLE}` placeholders (clusterctl, envsubst and WorkspaceTemplate variables): a
//! placeholder stands for any non-empty text.

/// A name split into literal text and placeholders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamePattern {
    /// Literal pieces; a placeholder stands between two consecutive pieces.
    pieces: Vec<String>,
}

impl NamePattern {
    pub fn parse(name: &str) -> Self {
        let mut pieces = vec![String::new()];
        let mut rest = name;
        while let Some(start) = rest.find("${") {
            let Some(len) = rest[start..].find('}') else {
                break;
            };
            pieces
                .last_mut()
                .expect("one piece")
                .push_str(&rest[..start]);
            pieces.push(String::new());
            rest = &rest[start + len + 1..];
        }
        pieces.last_mut().expect("one piece").push_str(rest);
        NamePattern { pieces }
    }

    /// The pattern with no placeholder.
    pub fn literal(&self) -> Option<&str> {
        match self.pieces.as_slice() {
            [only] => Some(only),
            _ => None,
        }
    }

    /// The literal text after the last placeholder (the whole name when there is none).
    pub fn suffix(&self) -> &str {
        self.pieces.last().expect("one piece")
    }

    /// The name with every placeholder replaced by `value`.
    pub fn instantiate(&self, value: &str) -> String {
        self.pieces.join(value)
    }

    /// Whether `name` (placeholders read as the text of one name) is a name this pattern produces.
    pub fn matches(&self, name: &NamePattern) -> bool {
        glob_match(&self.pieces, &name.instantiate("x"))
    }
}

impl std::fmt::Display for NamePattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.pieces.join("<name>"))
    }
}

/// `text` is the pieces in order with non-empty text between consecutive ones.
fn glob_match(pieces: &[String], text: &str) -> bool {
    let (first, rest) = pieces.split_first().expect("one piece");
    let Some(mut at) = text.strip_prefix(first.as_str()) else {
        return false;
    };
    let Some((last, middle)) = rest.split_last() else {
        return at.is_empty();
    };
    for piece in middle {
        match at.get(1..).and_then(|t| t.find(piece.as_str())) {
            Some(i) => at = &at[1 + i + piece.len()..],
            None => return false,
        }
    }
    at.len() > last.len() && at.ends_with(last.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_names_against_patterns() {
        let table = [
            (
                "${WORKSPACE_NAME}-eks-connection",
                "demo-eks-connection",
                true,
            ),
            (
                "${WORKSPACE_NAME}-eks-connection",
                "${CLUSTER_NAME}-eks-connection",
                true,
            ),
            ("${WORKSPACE_NAME}-eks-connection", "-eks-connection", false),
            (
                "${WORKSPACE_NAME}-eks-connection",
                "${C}-eks-conection",
                false,
            ),
            (
                "${WORKSPACE_NAME}-vpc-connection",
                "${C}-vpc-vpc-connection",
                true,
            ),
            ("${a}-${b}-x", "p-q-x", true),
            ("${a}-${b}-x", "p-x", false),
            ("fixed", "fixed", true),
            ("fixed", "fixed2", false),
        ];
        for (pattern, name, want) in table {
            let got = NamePattern::parse(pattern).matches(&NamePattern::parse(name));
            assert_eq!(got, want, "{pattern} ~ {name}");
        }
    }

    #[test]
    fn splits_and_instantiates() {
        let p = NamePattern::parse("${CLUSTER_NAME}-eks-connection");
        assert_eq!(p.suffix(), "-eks-connection");
        assert_eq!(p.literal(), None);
        assert_eq!(p.instantiate("demo"), "demo-eks-connection");
        assert_eq!(p.to_string(), "<name>-eks-connection");
        assert_eq!(NamePattern::parse("a-b").literal(), Some("a-b"));
        assert_eq!(NamePattern::parse("a-${x").literal(), Some("a-${x"));
    }
}
