//! Input variables of a Workspace as terraform sees them.
//!
//! provider-terraform passes `forProvider.vars` as `-var key=value`, then each `varFiles` entry as a
//! `-var-file`, then `varmap` as a final JSON `-var-file`; terraform applies them in that order, later ones
//! winning. `-var` values of primitive-typed variables are taken literally, others are parsed as HCL. A `-var`
//! for an undeclared variable is an error; var-file values for undeclared variables are ignored.

use hcl::Expression;
use hcl::eval::{Context, Evaluate};

use super::config::{RootModule, Variable};
use super::diag::Diag;
use super::encode;

/// Format of a var file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileFormat {
    Hcl,
    Json,
}

/// The variable assignments of a Workspace, in terraform's order.
#[derive(Debug, Clone, Default)]
pub(crate) struct Assignments {
    /// `forProvider.vars`.
    pub cli: Vec<(String, String)>,
    /// Contents of the `varFiles` entries.
    pub files: Vec<(String, FileFormat)>,
    /// `forProvider.varmap`.
    pub varmap: Option<serde_json::Map<String, serde_json::Value>>,
}

/// A primitive or structural type constraint.
enum Ty {
    Any,
    String,
    Number,
    Bool,
    List(Box<Ty>),
    Map(Box<Ty>),
    Structural,
}

fn ty(expr: Option<&Expression>) -> Ty {
    match expr {
        Some(Expression::Variable(v)) => match v.as_str() {
            "string" => Ty::String,
            "number" => Ty::Number,
            "bool" => Ty::Bool,
            _ => Ty::Any,
        },
        Some(Expression::FuncCall(f)) => {
            let inner = || Box::new(ty(f.args.first()));
            match f.name.name.as_str() {
                "list" | "set" => Ty::List(inner()),
                "map" => Ty::Map(inner()),
                _ => Ty::Structural,
            }
        }
        _ => Ty::Any,
    }
}

fn ty_name(t: &Ty) -> String {
    match t {
        Ty::Any | Ty::Structural => "value".into(),
        Ty::String => "string".into(),
        Ty::Number => "number".into(),
        Ty::Bool => "bool".into(),
        Ty::List(i) => format!("list of {}", ty_name(i)),
        Ty::Map(i) => format!("map of {}", ty_name(i)),
    }
}

fn convert(v: hcl::Value, t: &Ty) -> Result<hcl::Value, String> {
    use hcl::Value as V;
    let bad = || format!("{} required", ty_name(t));
    match (t, v) {
        (_, V::Null) => Ok(V::Null),
        (Ty::Any | Ty::Structural, v) => Ok(v),
        (Ty::String, V::String(s)) => Ok(V::String(s)),
        (Ty::String, v @ (V::Number(_) | V::Bool(_))) => Ok(V::String(
            super::funcs::primitive_string(&v).unwrap_or_default(),
        )),
        (Ty::Number, v @ V::Number(_)) => Ok(v),
        (Ty::Number, V::String(s)) => s
            .trim()
            .parse::<f64>()
            .map(|f| encode::from_json(&encode::to_json(&V::from(f))))
            .map_err(|_| "a number is required".to_string()),
        (Ty::Bool, V::Bool(b)) => Ok(V::Bool(b)),
        (Ty::Bool, V::String(s)) if s == "true" || s == "false" => Ok(V::Bool(s == "true")),
        (Ty::List(inner), V::Array(items)) => items
            .into_iter()
            .map(|i| convert(i, inner))
            .collect::<Result<Vec<_>, _>>()
            .map(V::Array),
        (Ty::Map(inner), V::Object(m)) => m
            .into_iter()
            .map(|(k, v)| convert(v, inner).map(|v| (k, v)))
            .collect::<Result<hcl::Map<_, _>, _>>()
            .map(V::Object),
        _ => Err(bad()),
    }
}

/// Evaluates a literal HCL expression (no variables or functions, as in a var file).
fn literal(expr: &Expression) -> Result<hcl::Value, Diag> {
    expr.evaluate(&Context::new()).map_err(|e| {
        Diag::new(
            "Variables not allowed",
            format!("Variables may not be used here: {e}."),
        )
    })
}

fn parse_file(text: &str, format: FileFormat) -> Result<Vec<(String, hcl::Value)>, Diag> {
    match format {
        FileFormat::Json => {
            let v: serde_json::Value = serde_json::from_str(text)
                .map_err(|e| Diag::new("Invalid JSON syntax", e.to_string()))?;
            let obj = v.as_object().ok_or_else(|| {
                Diag::new(
                    "Invalid variable definitions file",
                    "The root value of a JSON variable definitions file must be an object.",
                )
            })?;
            Ok(obj
                .iter()
                .map(|(k, v)| (k.clone(), encode::from_json(v)))
                .collect())
        }
        FileFormat::Hcl => {
            let body = hcl::parse(text)
                .map_err(|e| Diag::new("Invalid HCL syntax", e.to_string().trim().to_string()))?;
            body.attributes()
                .map(|a| Ok((a.key().to_string(), literal(a.expr())?)))
                .collect()
        }
    }
}

fn invalid(name: &str, reason: &str) -> Diag {
    Diag::new(
        "Invalid value for input variable",
        format!("The given value is not suitable for var.{name} declared at main.tf: {reason}."),
    )
}

fn cli_value(name: &str, raw: &str, decl: &Variable) -> Result<hcl::Value, Diag> {
    match ty(decl.type_.as_ref()) {
        Ty::Any | Ty::String | Ty::Number | Ty::Bool => Ok(hcl::Value::String(raw.to_string())),
        _ => {
            let body = hcl::parse(&format!("v = {raw}\n")).map_err(|_| {
                Diag::new(
                    "Invalid expression",
                    format!("The value given for variable \"{name}\" is not a valid expression."),
                )
            })?;
            let expr = body
                .attributes()
                .next()
                .map(hcl::Attribute::expr)
                .cloned()
                .unwrap_or(Expression::Null);
            literal(&expr)
        }
    }
}

/// The value of every declared variable (`var.*`).
pub(crate) fn resolve(
    m: &RootModule,
    a: &Assignments,
) -> Result<hcl::Map<String, hcl::Value>, Diag> {
    let mut given: hcl::Map<String, hcl::Value> = hcl::Map::new();
    for (name, raw) in &a.cli {
        let decl = m.variables.get(name).ok_or_else(|| {
            Diag::new(
                "Value for undeclared variable",
                format!("A variable named \"{name}\" was assigned on the command line, but the root module does not declare a variable of that name. To use this value, add a \"variable\" block to the configuration."),
            )
        })?;
        given.insert(name.clone(), cli_value(name, raw, decl)?);
    }
    for (text, format) in &a.files {
        given.extend(parse_file(text, *format)?);
    }
    if let Some(vm) = &a.varmap {
        given.extend(vm.iter().map(|(k, v)| (k.clone(), encode::from_json(v))));
    }
    let mut out = hcl::Map::new();
    for (name, decl) in &m.variables {
        let value = match given.swap_remove(name) {
            Some(v) => v,
            None => match &decl.default {
                Some(d) => literal(d)?,
                None => {
                    return Err(Diag::new(
                        "No value for required variable",
                        format!(
                            "The root module input variable \"{name}\" is not set, and has no default value. Use a -var or -var-file command line argument to provide a value for this variable."
                        ),
                    ));
                }
            },
        };
        let value = convert(value, &ty(decl.type_.as_ref())).map_err(|r| invalid(name, &r))?;
        out.insert(name.clone(), value);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::config;
    use super::*;

    fn module() -> RootModule {
        config::parse(
            "variable \"a\" { type = string }\nvariable \"l\" { type = list(string) }\nvariable \"n\" {\n  type    = number\n  default = 2\n}\n",
        )
        .unwrap_or_else(|d| panic!("{d:?}"))
    }

    #[test]
    fn later_sources_win_and_types_convert() {
        let a = Assignments {
            cli: vec![("a".into(), "cli".into()), ("l".into(), "[\"x\"]".into())],
            files: vec![("a = \"file\"\n".into(), FileFormat::Hcl)],
            varmap: serde_json::json!({"a": 5}).as_object().cloned(),
        };
        let v = resolve(&module(), &a).unwrap_or_else(|d| panic!("{d:?}"));
        assert_eq!(v["a"], hcl::Value::from("5"));
        assert_eq!(v["l"], hcl::Value::Array(vec!["x".into()]));
        assert_eq!(v["n"], hcl::Value::from(2u64));
    }

    #[test]
    fn missing_and_undeclared_variables_fail() {
        let err = |a: Assignments| resolve(&module(), &a).map(|_| ()).map_err(|d| d.summary);
        assert_eq!(
            err(Assignments::default()),
            Err("No value for required variable".into())
        );
        let a = Assignments {
            cli: vec![("zzz".into(), "1".into())],
            ..Default::default()
        };
        assert_eq!(err(a), Err("Value for undeclared variable".into()));
        let a = Assignments {
            cli: vec![
                ("a".into(), "x".into()),
                ("l".into(), "\"notalist\"".into()),
            ],
            ..Default::default()
        };
        assert_eq!(err(a), Err("Invalid value for input variable".into()));
    }
}
