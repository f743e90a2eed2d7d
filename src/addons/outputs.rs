//! The `output` blocks of a WorkspaceTemplate's inline module, parsed with hcl-rs (the parser the terraform
//! simulator reads modules with): name, `sensitive`, and what can be told of the value's shape without
//! evaluating it.

use hcl::{Expression, ObjectKey};

/// What a declared output holds, as far as its expression tells without evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Shape {
    /// An object literal: a map of values.
    Map,
    /// A list or tuple literal.
    List,
    /// A string, number or bool literal, or a string template.
    Scalar,
    /// `yamlencode(…)` / `jsonencode(…)`: a string holding a document.
    Encoded,
    /// `null`: terraform keeps it out of its state, so it is published nowhere.
    Null,
    /// A reference or function result whose type the expression does not show.
    Unknown,
}

/// One `output` block.
#[derive(Debug, Clone)]
pub struct DeclaredOutput {
    pub name: String,
    /// `sensitive = true`: kept out of `status.atProvider.outputs`, still in the connection secret.
    pub sensitive: bool,
    pub value: Expression,
}

/// Result of following a path into an output's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Found,
    /// The segment that an object literal does not have.
    Missing(String),
    /// The value is not a literal that can be followed.
    Unknown,
}

/// The module text is not valid HCL or an output block is malformed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OutputsError {
    #[error("invalid HCL: {0}")]
    Syntax(String),
    #[error("output block without exactly one name label")]
    Label,
    #[error("output \"{0}\" has no value")]
    NoValue(String),
    #[error("output \"{0}\" is declared twice")]
    Duplicate(String),
}

/// The outputs a module declares, in declaration order.
pub fn declared_outputs(module: &str) -> Result<Vec<DeclaredOutput>, OutputsError> {
    let body = hcl::parse(module).map_err(|e| OutputsError::Syntax(e.to_string().trim().into()))?;
    let mut out: Vec<DeclaredOutput> = Vec::new();
    for block in body.blocks().filter(|b| b.identifier() == "output") {
        let [label] = block.labels() else {
            return Err(OutputsError::Label);
        };
        let name = label.as_str().to_string();
        if out.iter().any(|o| o.name == name) {
            return Err(OutputsError::Duplicate(name));
        }
        let attr = |key: &str| {
            block
                .body()
                .attributes()
                .find(|a| a.key() == key)
                .map(|a| a.expr().clone())
        };
        let value = attr("value").ok_or_else(|| OutputsError::NoValue(name.clone()))?;
        let sensitive = matches!(attr("sensitive"), Some(Expression::Bool(true)));
        out.push(DeclaredOutput {
            name,
            sensitive,
            value,
        });
    }
    Ok(out)
}

impl DeclaredOutput {
    pub fn shape(&self) -> Shape {
        shape_of(&self.value)
    }

    /// Follows `path` (object keys) into the value.
    pub fn lookup(&self, path: &[String]) -> Lookup {
        let mut at = &self.value;
        for seg in path {
            let Expression::Object(obj) = strip(at) else {
                return Lookup::Unknown;
            };
            match obj
                .iter()
                .find(|(k, _)| key_name(k).as_deref() == Some(seg))
            {
                Some((_, v)) => at = v,
                None => return Lookup::Missing(seg.clone()),
            }
        }
        Lookup::Found
    }
}

fn strip(e: &Expression) -> &Expression {
    match e {
        Expression::Parenthesis(inner) => strip(inner),
        other => other,
    }
}

fn key_name(k: &ObjectKey) -> Option<String> {
    match k {
        ObjectKey::Identifier(i) => Some(i.as_str().to_string()),
        ObjectKey::Expression(Expression::String(s)) => Some(s.clone()),
        ObjectKey::Expression(Expression::TemplateExpr(t)) => match t.as_ref() {
            hcl::TemplateExpr::QuotedString(s) if !s.contains("${") => Some(s.clone()),
            _ => None,
        },
        _ => None,
    }
}

fn shape_of(e: &Expression) -> Shape {
    match strip(e) {
        Expression::Null => Shape::Null,
        Expression::Bool(_) | Expression::Number(_) | Expression::String(_) => Shape::Scalar,
        Expression::TemplateExpr(_) => Shape::Scalar,
        Expression::Array(_) => Shape::List,
        Expression::Object(_) => Shape::Map,
        Expression::FuncCall(f) => match f.name.name.as_str() {
            "yamlencode" | "jsonencode" => Shape::Encoded,
            "tostring" | "format" | "join" | "base64encode" | "base64decode" | "lower"
            | "upper" | "trimspace" | "replace" => Shape::Scalar,
            "tolist" | "toset" | "concat" | "keys" | "values" | "split" => Shape::List,
            "tomap" | "merge" => Shape::Map,
            _ => Shape::Unknown,
        },
        Expression::ForExpr(f) => {
            if f.key_expr.is_some() {
                Shape::Map
            } else {
                Shape::List
            }
        }
        _ => Shape::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODULE: &str = r#"
variable "n" { type = string }
output "name" { value = var.n }
output "token" {
  value     = "t"
  sensitive = true
}
output "cfg" {
  value = {
    service_account = { annotations = { "eks.amazonaws.com/role-arn" = var.n } }
  }
}
output "list" { value = [1, 2] }
output "doc" { value = yamlencode({ a = 1 }) }
output "gone" { value = null }
"#;

    #[test]
    fn reads_names_sensitivity_and_shapes() {
        let outs = declared_outputs(MODULE).expect("parses");
        let table: Vec<(&str, bool, Shape)> = outs
            .iter()
            .map(|o| (o.name.as_str(), o.sensitive, o.shape()))
            .collect();
        assert_eq!(
            table,
            vec![
                ("name", false, Shape::Unknown),
                ("token", true, Shape::Scalar),
                ("cfg", false, Shape::Map),
                ("list", false, Shape::List),
                ("doc", false, Shape::Encoded),
                ("gone", false, Shape::Null),
            ]
        );
    }

    #[test]
    fn follows_object_literals() {
        let outs = declared_outputs(MODULE).expect("parses");
        let cfg = outs.iter().find(|o| o.name == "cfg").expect("cfg");
        let path = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let role = path(&[
            "service_account",
            "annotations",
            "eks.amazonaws.com/role-arn",
        ]);
        assert_eq!(cfg.lookup(&role), Lookup::Found);
        assert_eq!(
            cfg.lookup(&path(&["service_account", "labels"])),
            Lookup::Missing("labels".into())
        );
        let name = outs.iter().find(|o| o.name == "name").expect("name");
        assert_eq!(name.lookup(&path(&["x"])), Lookup::Unknown);
    }

    #[test]
    fn malformed_modules_are_errors() {
        assert!(matches!(
            declared_outputs("output \"x\" {\n value = 1\n"),
            Err(OutputsError::Syntax(_))
        ));
        assert_eq!(
            declared_outputs("output \"x\" { value = 1 }\noutput \"x\" { value = 2 }\n").err(),
            Some(OutputsError::Duplicate("x".into()))
        );
        assert_eq!(
            declared_outputs("output \"x\" { sensitive = true }\n").err(),
            Some(OutputsError::NoValue("x".into()))
        );
    }
}
