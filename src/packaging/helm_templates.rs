//! The Go-template parts of the chart. Objects are rewritten with markers (`__PREFIX__`, …) where a value
//! goes, serialised as YAML, and the markers then expanded into template expressions and blocks.

use serde_yaml::Value;

/// A marker and the template text it becomes.
pub type Marker = (&'static str, &'static str);

pub const MARKERS: &[Marker] = &[
    ("__PREFIX__", "{{ .Values.namePrefix }}"),
    ("__NAMESPACE__", "{{ .Release.Namespace }}"),
    ("__REPLICAS__", "{{ .Values.replicas }}"),
    (
        "__IMAGE__",
        "\"{{ .Values.image.repository }}:{{ .Values.image.tag }}\"",
    ),
    ("__PULL_POLICY__", "{{ .Values.image.pullPolicy }}"),
];

const LEADER_ELECT: &str = "--leader-elect";

/// Name prefix and release namespace on an object and on what it references (as kustomize's `namePrefix`
/// and `namespace` do).
pub fn placed(mut v: Value) -> Value {
    let prefixed = |n: &Value| Value::from(format!("__PREFIX__{}", n.as_str().unwrap_or_default()));
    v["metadata"]["name"] = prefixed(&v["metadata"]["name"]);
    if v["metadata"].get("namespace").is_some() {
        v["metadata"]["namespace"] = "__NAMESPACE__".into();
    }
    if v.get("roleRef").is_some() {
        v["roleRef"]["name"] = prefixed(&v["roleRef"]["name"]);
    }
    if let Some(subjects) = v.get_mut("subjects").and_then(Value::as_sequence_mut) {
        for s in subjects
            .iter_mut()
            .filter(|s| s["kind"].as_str() == Some("ServiceAccount"))
        {
            s["name"] = prefixed(&s["name"]);
            s["namespace"] = "__NAMESPACE__".into();
        }
    }
    v
}

/// What the Deployment's values default to, read from its source.
pub struct Values {
    pub prefix: String,
    pub repository: String,
    pub image_tag: String,
    pub pull_policy: String,
    pub replicas: u64,
    pub resources: Value,
    pub leader_elect: bool,
}

fn container(d: &Value) -> &Value {
    &d["spec"]["template"]["spec"]["containers"][0]
}

impl Values {
    pub fn from_deployment(d: &Value, prefix: &str) -> Result<Self, String> {
        let c = container(d);
        let image = c["image"]
            .as_str()
            .ok_or("the manager container has no image")?;
        let (repository, tag) = image
            .rsplit_once(':')
            .ok_or("the manager image has no tag")?;
        Ok(Values {
            prefix: prefix.to_string(),
            repository: repository.into(),
            image_tag: tag.into(),
            pull_policy: c["imagePullPolicy"]
                .as_str()
                .unwrap_or("IfNotPresent")
                .into(),
            replicas: d["spec"]["replicas"].as_u64().unwrap_or(1),
            resources: c["resources"].clone(),
            leader_elect: args(d).iter().any(|a| a == LEADER_ELECT),
        })
    }

    pub fn yaml(&self) -> String {
        let resources = serde_yaml::to_string(&self.resources).expect("YAML serialises");
        let resources: String = resources.lines().map(|l| format!("  {l}\n")).collect();
        format!(
            "{HEADER}\
# Prefix of every object name (deploy/default's namePrefix).\n\
namePrefix: {}\n\
image:\n  repository: {}\n  tag: {}\n  pullPolicy: {}\n\
replicas: {}\n\
resources:\n{resources}\
# --leader-elect: one active replica at a time.\n\
leaderElection:\n  enabled: {}\n\
# --sharding: every replica reconciles a share of the clusters (leader election is then off;\n\
# set replicas to 2 or more).\n\
sharding: false\n\
# --kube-api-qps / --kube-api-burst when set (the controller's defaults are 200 / 400).\n\
kubeApiQps: \"\"\n\
kubeApiBurst: \"\"\n\
# OTEL_EXPORTER_OTLP_ENDPOINT: traces are exported over OTLP when set.\n\
otlpEndpoint: \"\"\n\
# More arguments of `capt run`.\n\
extraArgs: []\n",
            self.prefix,
            self.repository,
            self.image_tag,
            self.pull_policy,
            self.replicas,
            self.leader_elect
        )
    }
}

const HEADER: &str = "# Generated from deploy/ by `CAPT_UPDATE_CHART=1 cargo nextest run --test packaging_helm`; do not edit.\n";

fn args(d: &Value) -> Vec<String> {
    container(d)["args"]
        .as_sequence()
        .into_iter()
        .flatten()
        .filter_map(|a| a.as_str().map(str::to_string))
        .collect()
}

/// Template blocks: the line `<key>: <marker>` becomes `<key>:` and the block's lines, `{ind}` standing for
/// the key's indent.
pub type Blocks = Vec<(&'static str, String)>;

/// The Deployment with markers for every value; its args and env become template blocks.
pub fn deployment(d: Value) -> (Value, Blocks) {
    let args = args(&d);
    let env = container(&d)["env"].clone();
    let mut d = placed(d);
    d["spec"]["replicas"] = "__REPLICAS__".into();
    let spec = &mut d["spec"]["template"]["spec"];
    spec["serviceAccountName"] = format!(
        "__PREFIX__{}",
        spec["serviceAccountName"].as_str().unwrap_or_default()
    )
    .into();
    let c = &mut spec["containers"][0];
    c["image"] = "__IMAGE__".into();
    c["imagePullPolicy"] = "__PULL_POLICY__".into();
    c["resources"] = "__RESOURCES__".into();
    c["args"] = "__ARGS__".into();
    c["env"] = "__ENV__".into();
    (
        d,
        vec![
            ("__ARGS__", args_block(&args)),
            ("__ENV__", env_block(&env)),
        ],
    )
}

fn args_block(args: &[String]) -> String {
    let mut lines = Vec::new();
    for a in args {
        if a == LEADER_ELECT {
            lines.push(
                "{{- if and .Values.leaderElection.enabled (not .Values.sharding) }}".to_string(),
            );
            lines.push(format!("{{ind}}- {a}"));
            lines.push("{{- end }}".to_string());
        } else {
            lines.push(format!("{{ind}}- {a}"));
        }
    }
    lines.push("{{- if .Values.sharding }}".into());
    lines.push("{ind}- --sharding".into());
    lines.push("{{- end }}".into());
    for (value, flag) in [
        ("kubeApiQps", "--kube-api-qps"),
        ("kubeApiBurst", "--kube-api-burst"),
    ] {
        lines.push(format!("{{{{- with .Values.{value} }}}}"));
        lines.push(format!("{{ind}}- {flag}={{{{ . }}}}"));
        lines.push("{{- end }}".into());
    }
    lines.push("{{- range .Values.extraArgs }}".into());
    lines.push("{ind}- {{ . | quote }}".into());
    lines.push("{{- end }}".into());
    lines.join("\n")
}

fn env_block(env: &Value) -> String {
    let mut lines: Vec<String> = match env {
        Value::Null => Vec::new(),
        v => serde_yaml::to_string(v)
            .expect("YAML serialises")
            .lines()
            .map(|l| format!("{{ind}}{l}"))
            .collect(),
    };
    lines.push("{{- with .Values.otlpEndpoint }}".into());
    lines.push("{ind}- name: OTEL_EXPORTER_OTLP_ENDPOINT".into());
    lines.push("{ind}  value: {{ . | quote }}".into());
    lines.push("{{- end }}".into());
    lines.join("\n")
}

/// An expanded template (see [`expand`]) rendered only when the boolean value `value` is set.
pub fn only_if(value: &str, expanded: &str) -> String {
    let body = expanded.strip_prefix(HEADER).unwrap_or(expanded);
    format!("{HEADER}{{{{- if .Values.{value} }}}}\n{body}{{{{- end }}}}\n")
}

/// Expands the markers of serialised YAML into template text.
pub fn expand(yaml: &str, blocks: &Blocks) -> String {
    let mut out = String::from(HEADER);
    for line in yaml.lines() {
        let indent = line.len() - line.trim_start().len();
        let ind = " ".repeat(indent);
        if let Some((key, _)) = line.trim_start().split_once(": __RESOURCES__") {
            out.push_str(&format!(
                "{ind}{key}:\n{{{{- toYaml .Values.resources | nindent {} }}}}\n",
                indent + 2
            ));
        } else if let Some((key, block)) = blocks.iter().find_map(|(m, b)| {
            let (key, _) = line.trim_start().split_once(&format!(": {m}"))?;
            Some((key, b))
        }) {
            out.push_str(&format!("{ind}{key}:\n{}\n", block.replace("{ind}", &ind)));
        } else {
            let mut l = line.to_string();
            for (m, t) in MARKERS {
                l = l.replace(m, t);
            }
            out.push_str(&l);
            out.push('\n');
        }
    }
    out
}

pub fn chart_yaml(version: &str, app_version: &str) -> String {
    format!(
        "{HEADER}apiVersion: v2\nname: capt\ndescription: Cluster API provider for Amazon EKS through Crossplane provider-terraform Workspaces\ntype: application\nversion: {version}\nappVersion: \"{app_version}\"\n"
    )
}

pub const NOTES: &str = "capt is running in namespace {{ .Release.Namespace }}:\n  kubectl -n {{ .Release.Namespace }} get deployment {{ .Values.namePrefix }}controller-manager\n";
