//! The declarations of an inline root module (`main.tf`), parsed with hcl.

use std::collections::BTreeMap;

use hcl::{Block, Body, Expression};

use super::diag::Diag;

/// A `variable` block.
#[derive(Debug, Clone)]
pub(crate) struct Variable {
    /// The `type` constraint, if any.
    pub type_: Option<Expression>,
    /// The `default` expression, if any.
    pub default: Option<Expression>,
    /// `sensitive = true`.
    pub sensitive: bool,
}

/// A `module`, `resource` or `data` block: its arguments and nested blocks.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    /// `module` name, or resource / data source type.
    pub kind: String,
    pub name: String,
    pub body: Body,
}

impl Call {
    /// The literal string of argument `key` (e.g. a module's `source`).
    pub(crate) fn literal(&self, key: &str) -> Option<String> {
        self.body
            .attributes()
            .find(|a| a.key() == key)
            .and_then(|a| match a.expr() {
                Expression::String(s) => Some(s.clone()),
                Expression::TemplateExpr(t) => match t.as_ref() {
                    hcl::TemplateExpr::QuotedString(s) => Some(s.clone()),
                    hcl::TemplateExpr::Heredoc(h) => Some(h.template.clone()),
                },
                _ => None,
            })
    }
}

/// An `output` block.
#[derive(Debug, Clone)]
pub(crate) struct Output {
    pub name: String,
    pub value: Expression,
    /// `sensitive = true` (a literal, as terraform requires).
    pub sensitive: bool,
}

/// The declarations of a root module.
#[derive(Debug, Clone, Default)]
pub(crate) struct RootModule {
    pub variables: BTreeMap<String, Variable>,
    pub locals: BTreeMap<String, Expression>,
    pub modules: Vec<Call>,
    pub resources: Vec<Call>,
    pub data: Vec<Call>,
    pub outputs: Vec<Output>,
    /// The `region` argument of a `provider "aws"` block, if any.
    pub provider_region: Option<Expression>,
}

impl RootModule {
    pub(crate) fn module(&self, name: &str) -> Option<&Call> {
        self.modules.iter().find(|m| m.name == name)
    }

    pub(crate) fn resource(&self, kind: &str, name: &str) -> Option<&Call> {
        self.resources
            .iter()
            .find(|r| r.kind == kind && r.name == name)
    }

    pub(crate) fn data_source(&self, kind: &str, name: &str) -> Option<&Call> {
        self.data.iter().find(|r| r.kind == kind && r.name == name)
    }
}

fn labels(b: &Block) -> Vec<String> {
    b.labels().iter().map(|l| l.as_str().to_string()).collect()
}

fn attr<'a>(body: &'a Body, key: &str) -> Option<&'a Expression> {
    body.attributes()
        .find(|a| a.key() == key)
        .map(hcl::Attribute::expr)
}

fn duplicate(what: &str, name: &str) -> Diag {
    Diag::new(
        format!("Duplicate {what} declaration"),
        format!(
            "A {what} named \"{name}\" was already declared. Names must be unique within a module."
        ),
    )
}

fn labels_of<const N: usize>(b: &Block, what: &str) -> Result<[String; N], Diag> {
    labels(b).try_into().map_err(|_| {
        Diag::new(
            format!("Missing name for {what}"),
            format!("All {what} blocks must have {N} label(s)."),
        )
    })
}

/// Parses `main.tf` text. Syntax errors and malformed blocks are diagnostics, as `terraform init` reports them.
pub(crate) fn parse(text: &str) -> Result<RootModule, Diag> {
    let body = hcl::parse(text).map_err(|e| {
        let detail = e.to_string();
        Diag::new("Invalid HCL syntax", detail.trim().to_string())
    })?;
    let mut m = RootModule::default();
    for block in body.blocks() {
        match block.identifier() {
            "variable" => {
                let [name] = labels_of::<1>(block, "variable")?;
                let v = Variable {
                    type_: attr(block.body(), "type").cloned(),
                    default: attr(block.body(), "default").cloned(),
                    sensitive: matches!(
                        attr(block.body(), "sensitive"),
                        Some(Expression::Bool(true))
                    ),
                };
                if m.variables.insert(name.clone(), v).is_some() {
                    return Err(duplicate("variable", &name));
                }
            }
            "locals" => {
                for a in block.body().attributes() {
                    if m.locals
                        .insert(a.key().to_string(), a.expr().clone())
                        .is_some()
                    {
                        return Err(duplicate("local value", a.key()));
                    }
                }
            }
            "module" => {
                let [name] = labels_of::<1>(block, "module")?;
                if m.module(&name).is_some() {
                    return Err(duplicate("module call", &name));
                }
                let call = Call {
                    kind: name.clone(),
                    name,
                    body: block.body().clone(),
                };
                if call.literal("source").is_none() {
                    return Err(Diag::new(
                        "Missing required argument",
                        "The argument \"source\" is required, but no definition was found.",
                    )
                    .within(format!("in module \"{}\"", call.name)));
                }
                m.modules.push(call);
            }
            kind @ ("resource" | "data") => {
                let [t, name] = labels_of::<2>(block, kind)?;
                let call = Call {
                    kind: t,
                    name,
                    body: block.body().clone(),
                };
                let list = if kind == "resource" {
                    &mut m.resources
                } else {
                    &mut m.data
                };
                if list
                    .iter()
                    .any(|c| c.kind == call.kind && c.name == call.name)
                {
                    return Err(duplicate(kind, &format!("{}.{}", call.kind, call.name)));
                }
                list.push(call);
            }
            "output" => {
                let [name] = labels_of::<1>(block, "output")?;
                if m.outputs.iter().any(|o| o.name == name) {
                    return Err(duplicate("output", &name));
                }
                let value = attr(block.body(), "value").cloned().ok_or_else(|| {
                    Diag::new(
                        "Missing required argument",
                        "The argument \"value\" is required, but no definition was found.",
                    )
                    .within(format!("in output \"{name}\""))
                })?;
                let sensitive = match attr(block.body(), "sensitive") {
                    None => false,
                    Some(Expression::Bool(b)) => *b,
                    Some(_) => {
                        return Err(Diag::new(
                            "Invalid value for \"sensitive\"",
                            "The \"sensitive\" argument must be true or false.",
                        )
                        .within(format!("in output \"{name}\"")));
                    }
                };
                m.outputs.push(Output {
                    name,
                    value,
                    sensitive,
                });
            }
            "provider" => {
                if labels(block).first().map(String::as_str) == Some("aws") {
                    m.provider_region = attr(block.body(), "region").cloned();
                }
            }
            "terraform" | "moved" | "import" | "check" | "removed" => {}
            other => {
                return Err(Diag::new(
                    "Unsupported block type",
                    format!("Blocks of type \"{other}\" are not expected here."),
                ));
            }
        }
    }
    if let Some(a) = body.attributes().next() {
        return Err(Diag::new(
            "Unsupported argument",
            format!("An argument named \"{}\" is not expected here.", a.key()),
        ));
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_declarations() {
        let m = parse(
            r#"
variable "a" { type = string }
locals { x = 1 }
module "eks" { source = "terraform-aws-modules/eks/aws" }
resource "aws_vpc" "v" { cidr_block = "10.0.0.0/16" }
data "aws_region" "r" {}
output "o" {
  value     = var.a
  sensitive = true
}
"#,
        )
        .unwrap_or_else(|d| panic!("{d:?}"));
        assert!(m.variables.contains_key("a"));
        assert_eq!(
            m.module("eks").and_then(|c| c.literal("source")).as_deref(),
            Some("terraform-aws-modules/eks/aws")
        );
        assert!(m.resource("aws_vpc", "v").is_some());
        assert!(m.data_source("aws_region", "r").is_some());
        assert!(m.outputs[0].sensitive);
    }

    #[test]
    fn syntax_errors_and_duplicates_are_diagnostics() {
        let missing_brace = "output \"x\" {\n  value = 1\n";
        assert_eq!(
            parse(missing_brace).map(|_| ()).map_err(|d| d.summary),
            Err("Invalid HCL syntax".to_string())
        );
        let dup = "output \"x\" { value = 1 }\noutput \"x\" { value = 2 }\n";
        assert_eq!(
            parse(dup).map(|_| ()).map_err(|d| d.summary),
            Err("Duplicate output declaration".to_string())
        );
    }
}
