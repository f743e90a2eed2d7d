//! The terraform functions modules may call, for hcl's evaluation context.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hcl::Value;
use hcl::eval::{Context, FuncArgs, FuncDef, ParamType};

use super::encode;

fn def(params: &[ParamType], func: hcl::eval::Func) -> FuncDef {
    FuncDef::builder().params(params.to_vec()).build(func)
}

fn variadic(func: hcl::eval::Func) -> FuncDef {
    FuncDef::builder()
        .variadic_param(ParamType::Any)
        .build(func)
}

/// Declares the terraform functions in `ctx`.
pub(crate) fn declare(ctx: &mut Context<'_>) {
    use ParamType::{Any, String as Str};
    ctx.declare_func("jsonencode", def(&[Any], jsonencode));
    ctx.declare_func("jsondecode", def(&[Str], jsondecode));
    ctx.declare_func("yamlencode", def(&[Any], yamlencode));
    ctx.declare_func("base64encode", def(&[Str], base64encode));
    ctx.declare_func("base64decode", def(&[Str], base64decode));
    ctx.declare_func(
        "format",
        FuncDef::builder()
            .param(Str)
            .variadic_param(Any)
            .build(format),
    );
    ctx.declare_func(
        "lookup",
        FuncDef::builder()
            .param(Any)
            .param(Str)
            .variadic_param(Any)
            .build(lookup),
    );
    ctx.declare_func("tostring", def(&[Any], tostring));
    ctx.declare_func("tonumber", def(&[Any], tonumber));
    ctx.declare_func("tobool", def(&[Any], tobool));
    ctx.declare_func("tolist", def(&[Any], identity_list));
    ctx.declare_func("toset", def(&[Any], toset));
    ctx.declare_func("tomap", def(&[Any], identity_map));
    ctx.declare_func(
        "join",
        FuncDef::builder()
            .param(Str)
            .variadic_param(Any)
            .build(join),
    );
    ctx.declare_func("split", def(&[Str, Str], split));
    ctx.declare_func("length", def(&[Any], length));
    ctx.declare_func(
        "slice",
        def(&[Any, ParamType::Number, ParamType::Number], slice),
    );
    ctx.declare_func("concat", variadic(concat));
    ctx.declare_func("merge", variadic(merge));
    ctx.declare_func("keys", def(&[Any], keys));
    ctx.declare_func("values", def(&[Any], values));
    ctx.declare_func("element", def(&[Any, ParamType::Number], element));
    ctx.declare_func("contains", def(&[Any, Any], contains));
    ctx.declare_func("coalesce", variadic(coalesce));
    ctx.declare_func("lower", def(&[Str], |a| Ok(s(&a[0]).to_lowercase().into())));
    ctx.declare_func("upper", def(&[Str], |a| Ok(s(&a[0]).to_uppercase().into())));
    ctx.declare_func("replace", def(&[Str, Str, Str], replace));
    ctx.declare_func("trimspace", def(&[Str], |a| Ok(s(&a[0]).trim().into())));
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

fn index_arg(v: &Value, what: &str) -> Result<usize, String> {
    v.as_u64()
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| format!("{what} must be a non-negative whole number"))
}

fn jsonencode(a: FuncArgs) -> Result<Value, String> {
    Ok(encode::go_json(&encode::to_json(&a[0])).into())
}

fn jsondecode(a: FuncArgs) -> Result<Value, String> {
    let v: serde_json::Value = serde_json::from_str(s(&a[0])).map_err(|e| e.to_string())?;
    Ok(encode::from_json(&v))
}

fn yamlencode(a: FuncArgs) -> Result<Value, String> {
    Ok(encode::yaml(&encode::to_json(&a[0])).into())
}

fn base64encode(a: FuncArgs) -> Result<Value, String> {
    Ok(STANDARD.encode(s(&a[0])).into())
}

fn base64decode(a: FuncArgs) -> Result<Value, String> {
    let bytes = STANDARD
        .decode(s(&a[0]))
        .map_err(|e| format!("failed to decode base64 data: {e}"))?;
    String::from_utf8(bytes)
        .map(Value::from)
        .map_err(|_| "the result of decoding the provided string is not valid UTF-8".into())
}

/// A primitive as terraform converts it to a string.
pub(crate) fn primitive_string(v: &Value) -> Option<String> {
    match v {
        Value::String(x) => Some(x.clone()),
        Value::Number(_) => Some(encode::to_json(v).to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn format(a: FuncArgs) -> Result<Value, String> {
    let spec = s(&a[0]);
    let mut args = a.iter().skip(1);
    let mut out = String::new();
    let mut chars = spec.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let verb = chars.next().ok_or("unterminated format verb")?;
        if verb == '%' {
            out.push('%');
            continue;
        }
        let arg = args
            .next()
            .ok_or("not enough arguments for format string")?;
        match verb {
            's' | 'd' | 't' | 'f' | 'g' => {
                out.push_str(&primitive_string(arg).ok_or("unsupported value for format verb")?)
            }
            'q' => out.push_str(
                &serde_json::Value::String(primitive_string(arg).unwrap_or_default()).to_string(),
            ),
            'v' => out.push_str(&encode::go_json(&encode::to_json(arg))),
            other => return Err(format!("unsupported format verb %{other}")),
        }
    }
    Ok(out.into())
}

fn lookup(a: FuncArgs) -> Result<Value, String> {
    let map = a[0].as_object().ok_or("the first argument must be a map")?;
    match map.get(s(&a[1])) {
        Some(v) => Ok(v.clone()),
        None => a
            .get(2)
            .cloned()
            .ok_or_else(|| format!("the given key {:?} does not exist in the map", s(&a[1]))),
    }
}

fn tostring(a: FuncArgs) -> Result<Value, String> {
    match &a[0] {
        Value::Null => Ok(Value::Null),
        v => primitive_string(v)
            .map(Value::from)
            .ok_or_else(|| "cannot convert a collection value to string".into()),
    }
}

fn tonumber(a: FuncArgs) -> Result<Value, String> {
    match &a[0] {
        Value::Number(_) | Value::Null => Ok(a[0].clone()),
        Value::String(x) => x
            .parse::<f64>()
            .map(|f| encode::from_json(&encode::to_json(&Value::from(f))))
            .map_err(|_| format!("cannot convert {x:?} to number")),
        _ => Err("cannot convert this value to number".into()),
    }
}

fn tobool(a: FuncArgs) -> Result<Value, String> {
    match &a[0] {
        Value::Bool(_) | Value::Null => Ok(a[0].clone()),
        Value::String(x) if x == "true" || x == "false" => Ok(Value::Bool(x == "true")),
        _ => Err("cannot convert this value to bool".into()),
    }
}

fn identity_list(a: FuncArgs) -> Result<Value, String> {
    match &a[0] {
        Value::Array(_) => Ok(a[0].clone()),
        _ => Err("a list is required".into()),
    }
}

fn toset(a: FuncArgs) -> Result<Value, String> {
    let items = a[0].as_array().ok_or("a list is required")?;
    let mut out: Vec<Value> = Vec::new();
    for i in items {
        if !out.contains(i) {
            out.push(i.clone());
        }
    }
    Ok(Value::Array(out))
}

fn identity_map(a: FuncArgs) -> Result<Value, String> {
    match &a[0] {
        Value::Object(_) => Ok(a[0].clone()),
        _ => Err("a map is required".into()),
    }
}

fn join(a: FuncArgs) -> Result<Value, String> {
    let sep = s(&a[0]);
    let mut parts = Vec::new();
    for list in a.iter().skip(1) {
        for item in list.as_array().ok_or("join requires lists")? {
            parts.push(primitive_string(item).ok_or("join requires a list of strings")?);
        }
    }
    Ok(parts.join(sep).into())
}

fn split(a: FuncArgs) -> Result<Value, String> {
    Ok(Value::Array(
        s(&a[1]).split(s(&a[0])).map(Value::from).collect(),
    ))
}

fn length(a: FuncArgs) -> Result<Value, String> {
    let n = match &a[0] {
        Value::Array(v) => v.len(),
        Value::Object(m) => m.len(),
        Value::String(x) => x.chars().count(),
        _ => {
            return Err(
                "argument must be a string, a collection type, or a structural type".into(),
            );
        }
    };
    Ok(Value::from(n as u64))
}

fn slice(a: FuncArgs) -> Result<Value, String> {
    let items = a[0].as_array().ok_or("the first argument must be a list")?;
    let (start, end) = (
        index_arg(&a[1], "start_index")?,
        index_arg(&a[2], "end_index")?,
    );
    if start > end || end > items.len() {
        return Err(format!(
            "the end index must not be greater than the length of the list ({})",
            items.len()
        ));
    }
    Ok(Value::Array(items[start..end].to_vec()))
}

fn concat(a: FuncArgs) -> Result<Value, String> {
    let mut out = Vec::new();
    for list in a.iter() {
        out.extend(
            list.as_array()
                .ok_or("all arguments must be lists")?
                .iter()
                .cloned(),
        );
    }
    Ok(Value::Array(out))
}

fn merge(a: FuncArgs) -> Result<Value, String> {
    let mut out = hcl::Map::new();
    for m in a.iter().filter(|v| !v.is_null()) {
        for (k, v) in m.as_object().ok_or("arguments must be maps or objects")? {
            out.insert(k.clone(), v.clone());
        }
    }
    Ok(Value::Object(out))
}

fn sorted_keys(v: &Value) -> Result<Vec<&String>, String> {
    let m = v.as_object().ok_or("a map or object is required")?;
    let mut k: Vec<&String> = m.keys().collect();
    k.sort();
    Ok(k)
}

fn keys(a: FuncArgs) -> Result<Value, String> {
    Ok(Value::Array(
        sorted_keys(&a[0])?
            .into_iter()
            .map(|k| Value::from(k.as_str()))
            .collect(),
    ))
}

fn values(a: FuncArgs) -> Result<Value, String> {
    let m = a[0].as_object().ok_or("a map or object is required")?;
    Ok(Value::Array(
        sorted_keys(&a[0])?
            .into_iter()
            .map(|k| m[k].clone())
            .collect(),
    ))
}

fn element(a: FuncArgs) -> Result<Value, String> {
    let items = a[0].as_array().ok_or("the first argument must be a list")?;
    if items.is_empty() {
        return Err("cannot use element function with an empty list".into());
    }
    Ok(items[index_arg(&a[1], "index")? % items.len()].clone())
}

fn contains(a: FuncArgs) -> Result<Value, String> {
    let items = a[0]
        .as_array()
        .ok_or("the first argument must be a list or set")?;
    Ok(Value::Bool(items.contains(&a[1])))
}

fn coalesce(a: FuncArgs) -> Result<Value, String> {
    a.iter()
        .find(|v| !v.is_null() && v.as_str() != Some(""))
        .cloned()
        .ok_or_else(|| "no non-null, non-empty-string arguments".into())
}

fn replace(a: FuncArgs) -> Result<Value, String> {
    Ok(s(&a[0]).replace(s(&a[1]), s(&a[2])).into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hcl::eval::Evaluate;

    fn eval(expr: &str) -> Result<Value, String> {
        let mut ctx = Context::new();
        declare(&mut ctx);
        let body = hcl::parse(&format!("x = {expr}\n")).map_err(|e| e.to_string())?;
        let attr = body.attributes().next().ok_or("no attribute")?;
        attr.expr().evaluate(&ctx).map_err(|e| e.to_string())
    }

    #[test]
    fn functions_behave_like_terraform() {
        let ok = |e: &str| eval(e).unwrap_or_else(|err| panic!("{e}: {err}"));
        assert_eq!(
            ok(r#"jsonencode({b = 1, a = ["x"]})"#),
            Value::from(r#"{"a":["x"],"b":1}"#)
        );
        assert_eq!(ok(r#"base64decode(base64encode("hi"))"#), Value::from("hi"));
        assert_eq!(ok(r#"format("%s-%d", "a", 3)"#), Value::from("a-3"));
        assert_eq!(ok(r#"lookup({a = "1"}, "b", "d")"#), Value::from("d"));
        assert_eq!(ok(r#"join(",", ["a", "b"])"#), Value::from("a,b"));
        assert_eq!(ok("tostring(true)"), Value::from("true"));
        assert_eq!(
            ok(r#"length(slice(["a", "b", "c", "d"], 0, 3))"#),
            Value::from(3u64)
        );
        assert_eq!(
            ok(r#"yamlencode({a = "b"})"#),
            Value::from("\"a\": \"b\"\n")
        );
        assert!(eval(r#"lookup({a = "1"}, "b")"#).is_err());
        assert!(eval("nosuchfn(1)").is_err());
    }
}
