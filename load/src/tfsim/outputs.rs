//! Terraform outputs by module profile.
//!
//! Profile rules, first match wins:
//! 1. annotation `tfsim.capt.dev/profile` = `eks` | `vpc` | `spot-role-check` | `spot-role-create` | `kubeconfig` | `generic`;
//! 2. Workspace name suffix: `-kubeconfig`, `-spot-role-check`, `-spot-role-create`, `-eks-controlplane`, `-vpc`;
//! 3. module text: `AWSServiceRoleForEC2Spot` with `aws_iam_service_linked_role` → spot-role-create, with a
//!    `data` source → spot-role-check; `aws_eks_cluster` or `terraform-aws-modules/eks` → EKS;
//!    `aws_vpc` or `terraform-aws-modules/vpc` → VPC;
//! 4. vars: `kubernetes_version` → EKS;
//! 5. otherwise generic (no outputs).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::faults::FaultKind;
use super::ids;
use super::kubeconfig;
use super::workspace::WorkspaceView;

/// Annotation forcing a profile.
pub const PROFILE_ANNOTATION: &str = "tfsim.capt.dev/profile";
/// Annotation overriding `role_exists` of a spot-role-check Workspace (`"true"` / `"false"`).
pub const ROLE_EXISTS_ANNOTATION: &str = "tfsim.capt.dev/role-exists";
/// Region used when the Workspace has no `region` var.
pub const DEFAULT_REGION: &str = "us-west-2";
/// Kubernetes version used when the Workspace has no `kubernetes_version` var.
pub const DEFAULT_KUBERNETES_VERSION: &str = "1.31";

/// What kind of module a Workspace holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// EKS control plane.
    Eks,
    /// VPC.
    Vpc,
    /// Check for the EC2 Spot service-linked role.
    SpotRoleCheck,
    /// Creation of the EC2 Spot service-linked role.
    SpotRoleCreate,
    /// Kubeconfig generation.
    Kubeconfig,
    /// Anything else: no outputs.
    Generic,
}

impl Profile {
    fn from_name(s: &str) -> Option<Profile> {
        Some(match s.trim() {
            "eks" => Profile::Eks,
            "vpc" => Profile::Vpc,
            "spot-role-check" => Profile::SpotRoleCheck,
            "spot-role-create" => Profile::SpotRoleCreate,
            "kubeconfig" => Profile::Kubeconfig,
            "generic" => Profile::Generic,
            _ => return None,
        })
    }
}

/// Detects the profile of a Workspace (see the module documentation for the rules).
pub(crate) fn detect(ws: &WorkspaceView) -> Profile {
    if let Some(p) = ws
        .annotations
        .get(PROFILE_ANNOTATION)
        .and_then(|s| Profile::from_name(s))
    {
        return p;
    }
    let name = ws.name.as_str();
    let by_suffix = [
        ("-kubeconfig", Profile::Kubeconfig),
        ("-spot-role-check", Profile::SpotRoleCheck),
        ("-spot-role-create", Profile::SpotRoleCreate),
        ("-eks-controlplane", Profile::Eks),
        ("-vpc", Profile::Vpc),
    ];
    if let Some((_, p)) = by_suffix.iter().find(|(s, _)| name.ends_with(s)) {
        return *p;
    }
    let m = ws.module.as_str();
    if m.contains("AWSServiceRoleForEC2Spot") {
        if m.contains("aws_iam_service_linked_role") {
            return Profile::SpotRoleCreate;
        }
        if m.contains("data \"") || m.contains("data '") {
            return Profile::SpotRoleCheck;
        }
    }
    if m.contains("aws_eks_cluster") || m.contains("terraform-aws-modules/eks") {
        return Profile::Eks;
    }
    if m.contains("aws_vpc") || m.contains("terraform-aws-modules/vpc") {
        return Profile::Vpc;
    }
    if ws.var("kubernetes_version").is_some() {
        return Profile::Eks;
    }
    Profile::Generic
}

/// One terraform output.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Output {
    pub value: Value,
    pub sensitive: bool,
}

/// All outputs of a Workspace by name.
pub(crate) type Outputs = BTreeMap<String, Output>;

fn plain(v: impl Into<Value>) -> Output {
    Output {
        value: v.into(),
        sensitive: false,
    }
}

fn sensitive(v: impl Into<Value>) -> Output {
    Output {
        value: v.into(),
        sensitive: true,
    }
}

/// Settings outputs depend on.
pub(crate) struct Inputs<'a> {
    pub seed: u64,
    pub account_id: &'a str,
    pub spot_role_exists: bool,
    pub fault: Option<FaultKind>,
    /// Base64 PEM CA to publish (reused across applies so a cluster keeps its CA).
    pub ca_b64: &'a str,
}

/// The EKS API endpoint tfsim gives the EKS Workspace named `workspace` in `region`.
pub fn eks_endpoint(seed: u64, workspace: &str, region: &str) -> String {
    let id = ids::hex(seed, &["eks-endpoint", workspace], 32).to_uppercase();
    format!("https://{id}.gr7.{region}.eks.amazonaws.com")
}

/// Whether a profile publishes a cluster CA (and so needs one generated).
pub(crate) fn needs_ca(profile: Profile, ws: &WorkspaceView) -> bool {
    match profile {
        Profile::Eks => true,
        Profile::Kubeconfig => ws.var("cluster_certificate_authority_data").is_none(),
        _ => false,
    }
}

/// Computes the outputs of `ws` for `profile`.
pub(crate) fn compute(profile: Profile, ws: &WorkspaceView, inp: &Inputs<'_>) -> Outputs {
    let mut out = match profile {
        Profile::Eks => eks(ws, inp),
        Profile::Vpc => vpc(ws, inp),
        Profile::SpotRoleCheck => {
            let exists = ws
                .annotations
                .get(ROLE_EXISTS_ANNOTATION)
                .map(|v| v.trim() == "true")
                .unwrap_or(inp.spot_role_exists);
            Outputs::from([("role_exists".to_string(), plain(exists))])
        }
        Profile::SpotRoleCreate => Outputs::from([(
            "role_arn".to_string(),
            plain(format!(
                "arn:aws:iam::{}:role/aws-service-role/spot.amazonaws.com/AWSServiceRoleForEC2Spot",
                inp.account_id
            )),
        )]),
        Profile::Kubeconfig => kubeconfig_module(ws, inp),
        Profile::Generic => Outputs::new(),
    };
    if inp.fault == Some(FaultKind::SecretNoEndpoint) {
        out.remove("cluster_endpoint");
        out.remove("kubeconfig");
    }
    out
}

fn region(ws: &WorkspaceView) -> String {
    ws.var("region").unwrap_or(DEFAULT_REGION).to_string()
}

fn token(seed: u64, ws: &WorkspaceView) -> String {
    format!(
        "k8s-aws-v1.{}",
        ids::hex(seed, &["token", &ws.name, &ws.generation.to_string()], 64)
    )
}

fn eks(ws: &WorkspaceView, inp: &Inputs<'_>) -> Outputs {
    let region = region(ws);
    let name = ws.var("cluster_name").unwrap_or(&ws.name).to_string();
    let version = ws
        .var("kubernetes_version")
        .or_else(|| ws.var("cluster_version"))
        .unwrap_or(DEFAULT_KUBERNETES_VERSION)
        .to_string();
    let acct = inp.account_id;
    let endpoint = eks_endpoint(inp.seed, &ws.name, &region);
    let oidc_id = ids::hex(inp.seed, &["oidc", &ws.name], 32).to_uppercase();
    let oidc_provider = format!("oidc.eks.{region}.amazonaws.com/id/{oidc_id}");
    let karpenter_role = format!("arn:aws:iam::{acct}:role/KarpenterController-{name}");
    let node_role = format!("KarpenterNodeRole-{name}");
    let queue = format!("Karpenter-{name}");
    let kubeconfig = kubeconfig::render(
        &name,
        &region,
        Some(&endpoint),
        inp.ca_b64,
        &token(inp.seed, ws),
    );
    Outputs::from([
        ("cluster_endpoint".into(), plain(endpoint)),
        ("cluster_name".into(), plain(name.clone())),
        ("cluster_version".into(), plain(version)),
        (
            "cluster_arn".into(),
            plain(format!("arn:aws:eks:{region}:{acct}:cluster/{name}")),
        ),
        (
            "cluster_certificate_authority_data".into(),
            plain(inp.ca_b64),
        ),
        (
            "cluster_security_group_id".into(),
            plain(format!("sg-{}", ids::hex(inp.seed, &["sg", &ws.name], 17))),
        ),
        (
            "cluster_oidc_issuer_url".into(),
            plain(format!("https://{oidc_provider}")),
        ),
        ("oidc_provider".into(), plain(oidc_provider.clone())),
        (
            "oidc_provider_arn".into(),
            plain(format!("arn:aws:iam::{acct}:oidc-provider/{oidc_provider}")),
        ),
        (
            "karpenter_iam_role_arn".into(),
            plain(karpenter_role.clone()),
        ),
        ("karpenter_queue_name".into(), plain(queue.clone())),
        (
            "karpenter".into(),
            plain(json!({
                "service_account": { "annotations": { "eks.amazonaws.com/role-arn": karpenter_role } },
                "ec2_node_class": { "role": node_role },
                "discovery_tag": { "key": "karpenter.sh/discovery", "value": name },
                "queue_name": queue,
            })),
        ),
        ("region".into(), plain(region)),
        ("kubeconfig".into(), sensitive(kubeconfig)),
    ])
}

fn vpc(ws: &WorkspaceView, inp: &Inputs<'_>) -> Outputs {
    let region = region(ws);
    let seed = inp.seed;
    let vpc_id = format!("vpc-{}", ids::hex(seed, &["vpc", &ws.name], 17));
    let azs: Vec<String> = ["a", "b", "c"]
        .iter()
        .map(|z| format!("{region}{z}"))
        .collect();
    let subnet = |kind: &str, i: usize| {
        format!(
            "subnet-{}",
            ids::hex(seed, &["subnet", kind, &ws.name, &i.to_string()], 17)
        )
    };
    let private: Vec<String> = (0..azs.len()).map(|i| subnet("private", i)).collect();
    let public: Vec<String> = (0..azs.len()).map(|i| subnet("public", i)).collect();
    let mut subnets = Vec::new();
    for (kind, ids) in [("private", &private), ("public", &public)] {
        for (id, az) in ids.iter().zip(&azs) {
            subnets.push(json!({ "id": id, "availability_zone": az, "type": kind }));
        }
    }
    let quote = |v: &[String]| {
        v.iter()
            .map(|s| format!("\"{s}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let vpc_config = format!(
        "vpc_id = \"{vpc_id}\"\nprivate_subnets = [{}]\npublic_subnets = [{}]\n",
        quote(&private),
        quote(&public)
    );
    Outputs::from([
        ("vpc_id".into(), plain(vpc_id)),
        ("vpc_cidr_block".into(), plain("10.0.0.0/16")),
        ("azs".into(), plain(json!(azs))),
        ("private_subnets".into(), plain(json!(private))),
        ("public_subnets".into(), plain(json!(public))),
        ("private_subnet_azs".into(), plain(json!(azs))),
        ("public_subnet_azs".into(), plain(json!(azs))),
        ("subnets".into(), plain(Value::Array(subnets))),
        ("vpc_config".into(), sensitive(vpc_config)),
    ])
}

fn kubeconfig_module(ws: &WorkspaceView, inp: &Inputs<'_>) -> Outputs {
    let region = region(ws);
    let base = ws.name.strip_suffix("-kubeconfig").unwrap_or(&ws.name);
    let cluster = ws.var("cluster_name").unwrap_or(base).to_string();
    let endpoint = ws
        .var("cluster_endpoint")
        .map(str::to_string)
        .unwrap_or_else(|| eks_endpoint(inp.seed, &format!("{base}-eks-controlplane"), &region));
    let ca = ws
        .var("cluster_certificate_authority_data")
        .unwrap_or(inp.ca_b64);
    let text = kubeconfig::render(&cluster, &region, Some(&endpoint), ca, &token(inp.seed, ws));
    Outputs::from([("kubeconfig".into(), sensitive(text))])
}

/// The non-sensitive outputs as provider-terraform writes them to `status.atProvider.outputs`.
pub(crate) fn status_outputs(out: &Outputs) -> serde_json::Map<String, Value> {
    out.iter()
        .filter(|(_, o)| !o.sensitive)
        .map(|(k, o)| (k.clone(), o.value.clone()))
        .collect()
}

/// All outputs as connection-secret data: strings raw, everything else JSON-encoded.
pub(crate) fn secret_data(out: &Outputs, fault: Option<FaultKind>) -> BTreeMap<String, Vec<u8>> {
    let mut data: BTreeMap<String, Vec<u8>> = out
        .iter()
        .map(|(k, o)| {
            let bytes = match &o.value {
                Value::String(s) => s.clone().into_bytes(),
                other => other.to_string().into_bytes(),
            };
            (k.clone(), bytes)
        })
        .collect();
    match fault {
        Some(FaultKind::SecretMissingKubeconfig) => {
            data.remove("kubeconfig");
        }
        Some(FaultKind::SecretMissingCa) => {
            data.remove("cluster_certificate_authority_data");
        }
        Some(FaultKind::SecretInvalidKubeconfig) => {
            data.insert("kubeconfig".into(), kubeconfig::INVALID.as_bytes().to_vec());
        }
        _ => {}
    }
    data
}
