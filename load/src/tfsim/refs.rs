//! References (`var.x`, `module.m.attr`, `data.t.n.attr`, `t.n.attr`, `local.x`) in HCL expressions, and the
//! checks terraform makes on them, with terraform's wording.

use std::collections::BTreeSet;

use hcl::expr::{Expression, Operation, TraversalOperator};
use hcl::template::{Directive, Element, Template};
use hcl::{TemplateExpr, Value};

use super::config::RootModule;
use super::diag::Diag;

/// A reference: its root name and the attribute names that follow (up to the first index or splat).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Ref {
    pub root: String,
    pub attrs: Vec<String>,
}

/// The block a reference depends on.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Dep {
    Var(String),
    Local(String),
    Module(String),
    Data(String, String),
    Resource(String, String),
    /// `path.*`, `terraform.*`: built in.
    Builtin,
}

/// Roots that name no resource type.
const BUILTINS: &[&str] = &["path", "terraform"];

/// All references in `expr`, skipping names bound by `for` expressions.
pub(crate) fn collect(expr: &Expression) -> BTreeSet<Ref> {
    let mut out = BTreeSet::new();
    walk(expr, &mut Vec::new(), &mut out);
    out
}

fn push(root: &str, ops: &[TraversalOperator], bound: &[String], out: &mut BTreeSet<Ref>) {
    if bound.iter().any(|b| b == root) {
        return;
    }
    let attrs = ops
        .iter()
        .map_while(|op| match op {
            TraversalOperator::GetAttr(id) => Some(id.as_str().to_string()),
            TraversalOperator::Index(Expression::String(s)) => Some(s.clone()),
            _ => None,
        })
        .collect();
    out.insert(Ref {
        root: root.to_string(),
        attrs,
    });
}

fn walk(expr: &Expression, bound: &mut Vec<String>, out: &mut BTreeSet<Ref>) {
    match expr {
        Expression::Variable(v) => push(v.as_str(), &[], bound, out),
        Expression::Traversal(t) => {
            if let Expression::Variable(v) = &t.expr {
                push(v.as_str(), &t.operators, bound, out);
            } else {
                walk(&t.expr, bound, out);
            }
            for op in &t.operators {
                if let TraversalOperator::Index(i) = op {
                    walk(i, bound, out);
                }
            }
        }
        Expression::Array(items) => items.iter().for_each(|e| walk(e, bound, out)),
        Expression::Object(obj) => {
            for (k, v) in obj {
                if let hcl::ObjectKey::Expression(k) = k {
                    // A bare identifier key is a literal name, not a reference.
                    if !matches!(k, Expression::Variable(_)) {
                        walk(k, bound, out);
                    }
                }
                walk(v, bound, out);
            }
        }
        Expression::TemplateExpr(t) => walk_template_expr(t, bound, out),
        Expression::FuncCall(f) => f.args.iter().for_each(|e| walk(e, bound, out)),
        Expression::Parenthesis(e) => walk(e, bound, out),
        Expression::Conditional(c) => {
            walk(&c.cond_expr, bound, out);
            walk(&c.true_expr, bound, out);
            walk(&c.false_expr, bound, out);
        }
        Expression::Operation(op) => match op.as_ref() {
            Operation::Unary(u) => walk(&u.expr, bound, out),
            Operation::Binary(b) => {
                walk(&b.lhs_expr, bound, out);
                walk(&b.rhs_expr, bound, out);
            }
        },
        Expression::ForExpr(f) => {
            walk(&f.collection_expr, bound, out);
            let n = bound.len();
            bound.extend(f.key_var.iter().map(|k| k.as_str().to_string()));
            bound.push(f.value_var.as_str().to_string());
            if let Some(k) = &f.key_expr {
                walk(k, bound, out);
            }
            walk(&f.value_expr, bound, out);
            if let Some(c) = &f.cond_expr {
                walk(c, bound, out);
            }
            bound.truncate(n);
        }
        _ => {}
    }
}

fn walk_template_expr(t: &TemplateExpr, bound: &mut Vec<String>, out: &mut BTreeSet<Ref>) {
    if let Ok(template) = Template::from_expr(t) {
        walk_template(&template, bound, out);
    }
}

fn walk_template(t: &Template, bound: &mut Vec<String>, out: &mut BTreeSet<Ref>) {
    for el in t.elements() {
        match el {
            Element::Literal(_) => {}
            Element::Interpolation(i) => walk(&i.expr, bound, out),
            Element::Directive(d) => match d.as_ref() {
                Directive::If(i) => {
                    walk(&i.cond_expr, bound, out);
                    walk_template(&i.true_template, bound, out);
                    if let Some(f) = &i.false_template {
                        walk_template(f, bound, out);
                    }
                }
                Directive::For(f) => {
                    walk(&f.collection_expr, bound, out);
                    let n = bound.len();
                    bound.extend(f.key_var.iter().map(|k| k.as_str().to_string()));
                    bound.push(f.value_var.as_str().to_string());
                    walk_template(&f.template, bound, out);
                    bound.truncate(n);
                }
            },
        }
    }
}

fn need_attr<'a>(r: &'a Ref, i: usize, what: &str) -> Result<&'a str, Diag> {
    r.attrs.get(i).map(String::as_str).ok_or_else(|| {
        Diag::new(
            "Invalid reference",
            format!("The \"{}\" object must be followed by {what}.", r.root),
        )
    })
}

/// Checks that `r` names something the module declares; returns what it depends on.
pub(crate) fn declared(m: &RootModule, r: &Ref) -> Result<Dep, Diag> {
    match r.root.as_str() {
        "var" => {
            let name = need_attr(r, 0, "an attribute name")?;
            if m.variables.contains_key(name) {
                Ok(Dep::Var(name.into()))
            } else {
                Err(Diag::new(
                    "Reference to undeclared input variable",
                    format!(
                        "An input variable with the name \"{name}\" has not been declared. This variable can be declared with a variable \"{name}\" {{}} block."
                    ),
                ))
            }
        }
        "local" => {
            let name = need_attr(r, 0, "an attribute name")?;
            if m.locals.contains_key(name) {
                Ok(Dep::Local(name.into()))
            } else {
                Err(Diag::new(
                    "Reference to undeclared local value",
                    format!("A local value with the name \"{name}\" has not been declared."),
                ))
            }
        }
        "module" => {
            let name = need_attr(r, 0, "a module name")?;
            if m.module(name).is_some() {
                Ok(Dep::Module(name.into()))
            } else {
                Err(Diag::new(
                    "Reference to undeclared module",
                    format!("No module call named \"{name}\" is declared in the root module."),
                ))
            }
        }
        "data" => {
            let kind = need_attr(r, 0, "a data source type")?;
            let name = need_attr(r, 1, "a data source name")?;
            if m.data_source(kind, name).is_some() {
                Ok(Dep::Data(kind.into(), name.into()))
            } else {
                Err(Diag::new(
                    "Reference to undeclared resource",
                    format!(
                        "A data resource \"{kind}\" \"{name}\" has not been declared in the root module."
                    ),
                ))
            }
        }
        root if BUILTINS.contains(&root) => Ok(Dep::Builtin),
        kind => {
            let Some(name) = r.attrs.first() else {
                return Err(Diag::new(
                    "Invalid reference",
                    "A reference to a resource type must be followed by at least one attribute access, specifying the resource name.",
                ));
            };
            if m.resource(kind, name).is_some() {
                Ok(Dep::Resource(kind.into(), name.clone()))
            } else {
                Err(Diag::new(
                    "Reference to undeclared resource",
                    format!(
                        "A managed resource \"{kind}\" \"{name}\" has not been declared in the root module."
                    ),
                ))
            }
        }
    }
}

/// How many attribute names of `r` select the object (the rest are attributes of it).
fn prefix_len(r: &Ref) -> usize {
    match r.root.as_str() {
        "data" => 2,
        _ => 1,
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "object",
    }
}

/// Checks the attributes `r` reads from `target` (the value of the referenced variable, module, resource...).
pub(crate) fn attributes(r: &Ref, target: &Value) -> Result<(), Diag> {
    let mut v = target;
    for attr in r.attrs.iter().skip(prefix_len(r)) {
        v = match v {
            Value::Object(o) => o.get(attr).ok_or_else(|| {
                Diag::new(
                    "Unsupported attribute",
                    format!("This object does not have an attribute named \"{attr}\"."),
                )
            })?,
            Value::Array(_) => {
                return Err(Diag::new(
                    "Unsupported attribute",
                    format!(
                        "Can't access attributes on a list of objects. Did you mean to access attribute \"{attr}\" for a specific element of the list, or across all elements of the list?"
                    ),
                ));
            }
            Value::Null => {
                return Err(Diag::new(
                    "Attempt to get attribute from null value",
                    "This value is null, so it does not have any attributes.",
                ));
            }
            other => {
                return Err(Diag::new(
                    "Unsupported attribute",
                    format!(
                        "Can't access attributes on a primitive-typed value ({}).",
                        type_name(other)
                    ),
                ));
            }
        };
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs(src: &str) -> Vec<String> {
        let body = hcl::parse(&format!("x = {src}\n")).unwrap_or_else(|e| panic!("{e}"));
        let attr = body
            .attributes()
            .next()
            .unwrap_or_else(|| panic!("no attr"));
        collect(attr.expr())
            .into_iter()
            .map(|r| format!("{}.{}", r.root, r.attrs.join(".")))
            .collect()
    }

    #[test]
    fn finds_references_everywhere() {
        assert_eq!(
            refs(r#"yamlencode({a = [module.eks.x], b = "${var.y}-${data.t.n.z[0]}"})"#),
            vec!["data.t.n.z", "module.eks.x", "var.y"]
        );
        assert_eq!(refs("[for s in var.l : s.id if s.ok]"), vec!["var.l"]);
        assert_eq!(refs("aws_vpc.v.id"), vec!["aws_vpc.v.id"]);
    }
}
