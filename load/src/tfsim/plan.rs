//! A simulated `terraform init` + `plan` + `apply` of a Workspace's module: the outputs it declares, evaluated
//! against the fake AWS account, or the terraform error it fails with.

use hcl::eval::{Context, ErrorKind, Evaluate};
use hcl::{Body, Expression, Value};

use super::aws::{Account, Args};
use super::aws_modules::{KNOWN_SOURCES, ModuleKind};
use super::config::{self, Call, RootModule};
use super::diag::{Diag, Step};
use super::encode;
use super::funcs;
use super::outputs::{DEFAULT_REGION, Output, Outputs};
use super::refs::{self, Dep, Ref};
use super::vars::{self, Assignments};

/// A failed plan: the step that failed and terraform's diagnostic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    pub step: Step,
    pub diag: Diag,
}

impl Failure {
    fn at(step: Step) -> impl FnOnce(Diag) -> Failure {
        move |diag| Failure { step, diag }
    }
}

/// Account settings that do not depend on the module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Settings {
    pub seed: u64,
    pub account_id: String,
    pub spot_role_exists: bool,
    /// When the run signs what it signs (EKS tokens are presigned URLs valid 15 minutes from here).
    pub signed_at: chrono::DateTime<chrono::Utc>,
}

impl Settings {
    fn account(&self, region: String) -> Account {
        Account {
            seed: self.seed,
            account_id: self.account_id.clone(),
            region,
            spot_role_exists: self.spot_role_exists,
            signed_at: self.signed_at,
        }
    }

    /// The same account (the signing time aside): a cycle's plan still holds.
    pub fn same_account(&self, other: &Settings) -> bool {
        (self.seed, &self.account_id, self.spot_role_exists)
            == (other.seed, &other.account_id, other.spot_role_exists)
    }
}

/// Arguments of a block that are not inputs.
const META_ARGS: &[&str] = &[
    "source",
    "version",
    "depends_on",
    "providers",
    "provider",
    "count",
    "for_each",
    "lifecycle",
];

/// Plans an inline module (`main.tf`).
pub(crate) fn inline(
    text: &str,
    assignments: &Assignments,
    settings: &Settings,
) -> Result<Outputs, Failure> {
    let m = config::parse(text).map_err(Failure::at(Step::Init))?;
    for call in &m.modules {
        let source = call.literal("source").unwrap_or_default();
        if ModuleKind::from_source(&source).is_none() {
            return Err(Failure {
                step: Step::Init,
                diag: Diag::new(
                    "Failed to download module",
                    format!("Could not download module \"{}\" source code from \"{source}\": tfsim models only the module sources {KNOWN_SOURCES}.", call.name),
                )
                .within(format!("in module \"{}\"", call.name)),
            });
        }
    }
    let plan = Failure::at(Step::Plan);
    let vars = vars::resolve(&m, assignments).map_err(plan)?;
    let mut ev = Eval::new(
        &m,
        Value::Object(vars),
        settings.account(DEFAULT_REGION.into()),
    );
    let region = match &m.provider_region {
        Some(e) => ev
            .expr(e)
            .map_err(|d| Failure::at(Step::Plan)(d.within("in provider \"aws\"")))?,
        None => ev.var("region").cloned().unwrap_or(Value::Null),
    };
    if let Some(r) = region.as_str().filter(|r| !r.is_empty()) {
        ev.acct.region = r.to_string();
    }
    let mut out = Outputs::new();
    for o in &m.outputs {
        let within = format!("in output \"{}\"", o.name);
        let value = ev
            .expr(&o.value)
            .map_err(|d| Failure::at(Step::Plan)(d.within(&within)))?;
        if !o.sensitive
            && let Some(r) = refs::collect(&o.value).iter().find(|r| ev.is_sensitive(r))
        {
            return Err(Failure::at(Step::Plan)(sensitive_output(r).within(within)));
        }
        if !value.is_null() {
            out.insert(
                o.name.clone(),
                Output {
                    value: encode::to_json(&value),
                    sensitive: o.sensitive,
                },
            );
        }
    }
    ev.check_unreferenced().map_err(Failure::at(Step::Plan))?;
    Ok(out)
}

/// Plans a remote module: the outputs of the module at `address`, with every variable as an input.
pub(crate) fn remote(
    address: &str,
    assignments: &Assignments,
    settings: &Settings,
) -> Result<Outputs, Failure> {
    let kind = ModuleKind::from_source(address).ok_or_else(|| Failure {
        step: Step::Fetch,
        diag: Diag::new(
            "cannot get remote Terraform module",
            format!("error downloading '{address}': tfsim models only the module sources {KNOWN_SOURCES}"),
        ),
    })?;
    let mut inputs = Args::new();
    for (k, v) in &assignments.cli {
        inputs.insert(k.clone(), Value::from(v.as_str()));
    }
    if let Some(vm) = &assignments.varmap {
        inputs.extend(vm.iter().map(|(k, v)| (k.clone(), encode::from_json(v))));
    }
    let region = inputs
        .get("region")
        .and_then(Value::as_str)
        .unwrap_or(DEFAULT_REGION)
        .to_string();
    let value = settings
        .account(region)
        .module(kind, "root", &inputs)
        .map_err(Failure::at(Step::Plan))?;
    let mut out = Outputs::new();
    if let Value::Object(attrs) = value {
        for (k, v) in attrs.into_iter().filter(|(_, v)| !v.is_null()) {
            out.insert(
                k,
                Output {
                    value: encode::to_json(&v),
                    sensitive: false,
                },
            );
        }
    }
    Ok(out)
}

fn sensitive_output(r: &Ref) -> Diag {
    Diag::new(
        "Output refers to sensitive values",
        format!(
            "To reduce the risk of accidentally exporting sensitive data that was intended to be only internal, Terraform requires that any root module output containing sensitive data be explicitly marked as sensitive, to confirm your intent. ({}.{} is sensitive.)\n\nIf you do intend to export this data, annotate the output value as sensitive by adding the following argument:\n    sensitive = true",
            r.root,
            r.attrs.join(".")
        ),
    )
}

/// Maps an hcl evaluation error to terraform's diagnostic.
fn eval_diag(e: &hcl::eval::Error) -> Diag {
    match e.kind() {
        ErrorKind::UndefinedFunc(name) => Diag::new(
            "Call to unknown function",
            format!("There is no function named \"{name}\"."),
        ),
        ErrorKind::FuncCall(name, msg) => Diag::new(
            "Error in function call",
            format!("Call to function \"{name}\" failed: {msg}."),
        ),
        ErrorKind::NoSuchKey(_) | ErrorKind::Index(_) => Diag::new(
            "Invalid index",
            "The given key does not identify an element in this collection value.",
        ),
        ErrorKind::UndefinedVar(_) => Diag::new("Invalid reference", e.to_string()),
        ErrorKind::UnaryOp(..) | ErrorKind::BinaryOp(..) => {
            Diag::new("Invalid operand", e.to_string())
        }
        _ => Diag::new("Invalid expression", e.to_string()),
    }
}

/// Block values computed so far, evaluated on demand in dependency order.
struct Eval<'m> {
    m: &'m RootModule,
    acct: Account,
    vars: Value,
    locals: hcl::Map<String, Value>,
    modules: hcl::Map<String, Value>,
    /// data source type → name → value.
    data: hcl::Map<String, hcl::Map<String, Value>>,
    /// resource type → name → value.
    resources: hcl::Map<String, hcl::Map<String, Value>>,
    visiting: Vec<Dep>,
}

fn nested<'a>(
    m: &'a hcl::Map<String, hcl::Map<String, Value>>,
    kind: &str,
    name: &str,
) -> Option<&'a Value> {
    m.get(kind).and_then(|n| n.get(name))
}

impl<'m> Eval<'m> {
    fn new(m: &'m RootModule, vars: Value, acct: Account) -> Self {
        Self {
            m,
            acct,
            vars,
            locals: hcl::Map::new(),
            modules: hcl::Map::new(),
            data: hcl::Map::new(),
            resources: hcl::Map::new(),
            visiting: Vec::new(),
        }
    }

    fn var(&self, name: &str) -> Option<&Value> {
        self.vars.as_object().and_then(|v| v.get(name))
    }

    fn is_sensitive(&self, r: &Ref) -> bool {
        match r.root.as_str() {
            "var" => r
                .attrs
                .first()
                .and_then(|n| self.m.variables.get(n))
                .is_some_and(|v| v.sensitive),
            "data" => {
                r.attrs.first().is_some_and(|k| k == "aws_eks_cluster_auth")
                    && r.attrs.get(2).is_some_and(|a| a == "token")
            }
            _ => false,
        }
    }

    fn value_of(&self, dep: &Dep) -> Option<&Value> {
        match dep {
            Dep::Var(n) => self.var(n),
            Dep::Local(n) => self.locals.get(n),
            Dep::Module(n) => self.modules.get(n),
            Dep::Data(k, n) => nested(&self.data, k, n),
            Dep::Resource(k, n) => nested(&self.resources, k, n),
            Dep::Builtin => None,
        }
    }

    /// Evaluates `e` after checking its references and computing what they depend on.
    fn expr(&mut self, e: &Expression) -> Result<Value, Diag> {
        let found = refs::collect(e);
        let mut deps = Vec::with_capacity(found.len());
        for r in &found {
            let dep = refs::declared(self.m, r)?;
            self.ensure(&dep)?;
            deps.push(dep);
        }
        for (r, dep) in found.iter().zip(&deps) {
            if let Some(target) = self.value_of(dep) {
                refs::attributes(r, target)?;
            }
        }
        let ctx = self.context();
        e.evaluate(&ctx).map_err(|err| eval_diag(&err))
    }

    fn context(&self) -> Context<'static> {
        let mut ctx = Context::new();
        funcs::declare(&mut ctx);
        ctx.declare_var("var", self.vars.clone());
        ctx.declare_var("local", Value::Object(self.locals.clone()));
        ctx.declare_var("module", Value::Object(self.modules.clone()));
        let nest = |m: &hcl::Map<String, hcl::Map<String, Value>>| -> Value {
            Value::Object(
                m.iter()
                    .map(|(k, v)| (k.clone(), Value::Object(v.clone())))
                    .collect(),
            )
        };
        ctx.declare_var("data", nest(&self.data));
        for (kind, by_name) in &self.resources {
            ctx.declare_var(kind.as_str(), Value::Object(by_name.clone()));
        }
        ctx.declare_var(
            "path",
            super::aws::obj([
                ("module", ".".into()),
                ("root", ".".into()),
                ("cwd", ".".into()),
            ]),
        );
        ctx.declare_var(
            "terraform",
            super::aws::obj([("workspace", "default".into())]),
        );
        ctx
    }

    fn ensure(&mut self, dep: &Dep) -> Result<(), Diag> {
        if matches!(dep, Dep::Var(_) | Dep::Builtin) || self.value_of(dep).is_some() {
            return Ok(());
        }
        if self.visiting.contains(dep) {
            return Err(Diag::new("Cycle", format!("{:?}", self.visiting)));
        }
        self.visiting.push(dep.clone());
        let result = self.compute(dep);
        self.visiting.pop();
        let value = result?;
        match dep {
            Dep::Local(n) => {
                self.locals.insert(n.clone(), value);
            }
            Dep::Module(n) => {
                self.modules.insert(n.clone(), value);
            }
            Dep::Data(k, n) => {
                self.data
                    .entry(k.clone())
                    .or_default()
                    .insert(n.clone(), value);
            }
            Dep::Resource(k, n) => {
                self.resources
                    .entry(k.clone())
                    .or_default()
                    .insert(n.clone(), value);
            }
            Dep::Var(_) | Dep::Builtin => {}
        }
        Ok(())
    }

    fn compute(&mut self, dep: &Dep) -> Result<Value, Diag> {
        let m = self.m;
        let unmodelled = |what: &str, kind: &str, block: String| {
            Diag::new(
                format!("Invalid {what}"),
                format!("The provider hashicorp/aws does not support {what} \"{kind}\" (tfsim does not model it)."),
            )
            .within(block)
        };
        match dep {
            Dep::Local(n) => {
                let e = &m.locals[n];
                self.expr(e).map_err(|d| d.within("in locals"))
            }
            Dep::Module(n) => {
                let call = m
                    .module(n)
                    .ok_or_else(|| Diag::new("Reference to undeclared module", n.clone()))?;
                let within = format!("in module \"{n}\"");
                let inputs = self.body(&call.body).map_err(|d| d.within(&within))?;
                let kind = ModuleKind::from_source(&call.literal("source").unwrap_or_default())
                    .ok_or_else(|| Diag::new("Failed to download module", within.clone()))?;
                self.acct.module(kind, n, &inputs)
            }
            Dep::Data(k, n) => {
                let call = m
                    .data_source(k, n)
                    .ok_or_else(|| Diag::new("Reference to undeclared resource", n.clone()))?;
                let within = format!("in data \"{k}\" \"{n}\"");
                let args = self.body(&call.body).map_err(|d| d.within(&within))?;
                self.acct
                    .data(k, n, &args)
                    .unwrap_or_else(|| Err(unmodelled("data source", k, within)))
            }
            Dep::Resource(k, n) => {
                let call = m
                    .resource(k, n)
                    .ok_or_else(|| Diag::new("Reference to undeclared resource", n.clone()))?;
                let within = format!("in resource \"{k}\" \"{n}\"");
                let args = self.body(&call.body).map_err(|d| d.within(&within))?;
                self.acct
                    .resource(k, n, &args)
                    .unwrap_or_else(|| Err(unmodelled("resource type", k, within)))
            }
            Dep::Var(_) | Dep::Builtin => Ok(Value::Null),
        }
    }

    /// Evaluates the arguments of a block body (nested blocks become objects).
    fn body(&mut self, body: &Body) -> Result<Args, Diag> {
        let mut args = Args::new();
        for a in body.attributes().filter(|a| !META_ARGS.contains(&a.key())) {
            let v = self.expr(a.expr())?;
            args.insert(a.key().to_string(), v);
        }
        for b in body
            .blocks()
            .filter(|b| !META_ARGS.contains(&b.identifier()))
        {
            let v = self.body(b.body())?;
            args.insert(b.identifier().to_string(), Value::Object(v));
        }
        Ok(args)
    }

    /// Checks the references of every block no output needed (terraform validates the whole configuration).
    fn check_unreferenced(&self) -> Result<(), Diag> {
        let m = self.m;
        let calls = |list: &'m [Call], what: &'static str| {
            list.iter()
                .map(move |c| (format!("in {what} \"{}\"", c.name), &c.body))
        };
        let mut exprs: Vec<(String, Expression)> = m
            .locals
            .values()
            .map(|e| ("in locals".to_string(), e.clone()))
            .collect();
        for (within, body) in calls(&m.modules, "module")
            .chain(calls(&m.resources, "resource"))
            .chain(calls(&m.data, "data"))
        {
            collect_exprs(body, &within, &mut exprs);
        }
        for (within, e) in &exprs {
            for r in refs::collect(e) {
                refs::declared(m, &r).map_err(|d| d.within(within))?;
            }
        }
        Ok(())
    }
}

fn collect_exprs(body: &Body, within: &str, out: &mut Vec<(String, Expression)>) {
    for a in body.attributes() {
        out.push((within.to_string(), a.expr().clone()));
    }
    for b in body.blocks() {
        collect_exprs(b.body(), within, out);
    }
}
