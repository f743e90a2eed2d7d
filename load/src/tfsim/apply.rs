//! Running a Workspace's module: reading its var files, planning it, and the messages of failed runs.

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::Api;

use super::diag::{self, Diag, Step};
use super::ids;
use super::outputs::{DEFAULT_KUBERNETES_VERSION, Outputs};
use super::plan::{self, Failure, Settings};
use super::vars::{Assignments, FileFormat};
use super::workspace::{KeyRef, VarFile, WorkspaceView};

/// Why a Workspace's module could not be run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RunError {
    /// Terraform failed (init or plan): a configuration problem, until the spec changes.
    Terraform(Failure),
    /// A var file could not be read (`cannot get tfvars: …`): retried, it may appear later.
    VarFile(String),
}

impl RunError {
    /// The `Synced=False/ReconcileError` message.
    pub(crate) fn message(&self) -> String {
        match self {
            RunError::Terraform(f) => diag::message(f.step, &f.diag),
            RunError::VarFile(reason) => {
                format!(
                    "observe failed: cannot determine Terraform options: cannot get tfvars: {reason}"
                )
            }
        }
    }
}

async fn read_key(client: &kube::Client, source: &str, r: &KeyRef) -> Result<String, String> {
    let missing = |e: kube::Error| match e {
        kube::Error::Api(s) => s.message,
        other => other.to_string(),
    };
    // A missing key reads as an empty file, as in provider-terraform.
    if source == "ConfigMapKey" {
        let cm = Api::<ConfigMap>::namespaced(client.clone(), &r.namespace)
            .get(&r.name)
            .await
            .map_err(missing)?;
        Ok(cm
            .data
            .and_then(|d| d.get(&r.key).cloned())
            .unwrap_or_default())
    } else {
        let s = Api::<Secret>::namespaced(client.clone(), &r.namespace)
            .get(&r.name)
            .await
            .map_err(missing)?;
        let bytes = s.data.and_then(|d| d.get(&r.key).map(|b| b.0.clone()));
        Ok(String::from_utf8_lossy(&bytes.unwrap_or_default()).into_owned())
    }
}

async fn var_file(client: &kube::Client, vf: &VarFile) -> Result<(String, FileFormat), RunError> {
    let format = if vf.format.as_deref() == Some("JSON") {
        FileFormat::Json
    } else {
        FileFormat::Hcl
    };
    let r = if vf.source == "ConfigMapKey" {
        vf.config_map_key_ref.as_ref()
    } else {
        vf.secret_key_ref.as_ref()
    };
    let r = r.ok_or_else(|| {
        RunError::VarFile(format!(
            "varFiles entry of source {:?} has no reference",
            vf.source
        ))
    })?;
    let text = read_key(client, &vf.source, r)
        .await
        .map_err(RunError::VarFile)?;
    Ok((text, format))
}

/// Reads the var files and plans the module of `ws`.
pub(crate) async fn run(
    client: &kube::Client,
    ws: &WorkspaceView,
    settings: &Settings,
) -> Result<Outputs, RunError> {
    let mut files = Vec::with_capacity(ws.var_files.len());
    for vf in &ws.var_files {
        files.push(var_file(client, vf).await?);
    }
    let assignments = Assignments {
        cli: ws.vars.clone(),
        files,
        varmap: ws.varmap.clone(),
    };
    let failure = |step, summary: &str, detail: String| {
        RunError::Terraform(Failure {
            step,
            diag: Diag::new(summary, detail),
        })
    };
    match ws.source.as_str() {
        "Remote" => plan::remote(&ws.module, &assignments, settings).map_err(RunError::Terraform),
        "Flux" => Err(failure(
            Step::Fetch,
            "cannot get Flux Artefact Terraform module",
            "tfsim does not simulate Flux sources".into(),
        )),
        _ if ws.inline_format.as_deref() == Some("JSON") => Err(failure(
            Step::Init,
            "Unsupported configuration format",
            "tfsim reads inline modules in HCL only (inlineFormat: JSON is not simulated).".into(),
        )),
        _ => plan::inline(&ws.module, &assignments, settings).map_err(RunError::Terraform),
    }
}

/// The message of the `apply-error` fault: an AWS API error fitting what the module creates.
pub(crate) fn apply_error_message(ws: &WorkspaceView, seed: u64) -> String {
    let h = ids::hex(seed, &["request", &ws.name, &ws.generation.to_string()], 32);
    let request_id = format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    );
    let m = ws.module.as_str();
    let summary = if m.contains("terraform-aws-modules/eks") || m.contains("aws_eks_cluster") {
        let name = ws.var("cluster_name").unwrap_or(&ws.name);
        let version = ws
            .var("kubernetes_version")
            .unwrap_or(DEFAULT_KUBERNETES_VERSION);
        format!(
            "creating EKS Cluster ({name}): operation error EKS: CreateCluster, https response error StatusCode: 400, RequestID: {request_id}, InvalidParameterException: unsupported Kubernetes version {version}"
        )
    } else if m.contains("terraform-aws-modules/vpc") || m.contains("aws_vpc") {
        format!(
            "creating EC2 VPC: operation error EC2: CreateVpc, https response error StatusCode: 400, RequestID: {request_id}, api error VpcLimitExceeded: The maximum number of VPCs has been reached."
        )
    } else if m.contains("aws_iam_service_linked_role") {
        format!(
            "creating IAM Service Linked Role (spot.amazonaws.com): operation error IAM: CreateServiceLinkedRole, https response error StatusCode: 400, RequestID: {request_id}, InvalidInput: Service role name AWSServiceRoleForEC2Spot has been taken in this account, please try a different suffix."
        )
    } else {
        format!(
            "operation error STS: GetCallerIdentity, https response error StatusCode: 403, RequestID: {request_id}, api error ExpiredToken: The security token included in the request is expired"
        )
    };
    let step = if ws.at_provider.checksum.is_some() {
        Step::Update
    } else {
        Step::Create
    };
    diag::message(step, &Diag::new(summary, String::new()))
}
