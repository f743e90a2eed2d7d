//! tfsim publishes exactly the outputs a Workspace's module declares, as provider-terraform does.

mod tfsim_support;

use capt_load::tfsim;
use serde_json::json;
use tfsim_support::*;

const TYPED_MODULE: &str = r#"
variable "n" {
  type = number
}
output "s" {
  value = "a<b"
}
output "n" {
  value = var.n + 1
}
output "b" {
  value = true
}
output "l" {
  value = ["x", 2]
}
output "m" {
  value = { z = 1, a = "&" }
}
output "secret" {
  value     = "hidden"
  sensitive = true
}
"#;

#[tokio::test]
async fn outputs_are_encoded_per_type_and_sensitivity() {
    let env = Env::start(fast()).await;
    env.namespace("o1").await;
    env.create(inline_workspace(
        "typed",
        TYPED_MODULE,
        &[("n", "41")],
        Some(("o1", "typed-out")),
    ))
    .await;
    let ws = env.wait_ws("typed", "Ready=True", ready).await;
    assert_eq!(
        serde_json::Value::Object(outputs(&ws)),
        json!({ "s": "a<b", "n": 42, "b": true, "l": ["x", 2], "m": { "a": "&", "z": 1 } }),
        "status holds the non-sensitive outputs as JSON values"
    );
    let data = env.wait_secret("o1", "typed-out").await;
    let text = |k: &str| String::from_utf8(data[k].clone()).expect("utf8");
    assert_eq!(text("s"), "a<b", "strings are raw");
    assert_eq!(text("n"), "42");
    assert_eq!(text("b"), "true");
    assert_eq!(text("l"), r#"["x",2]"#);
    assert_eq!(
        text("m"),
        r#"{"a":"\u0026","z":1}"#,
        "Go JSON: sorted keys, HTML-safe"
    );
    assert_eq!(
        text("secret"),
        "hidden",
        "sensitive outputs are in the secret"
    );
    env.stop().await;
}

#[tokio::test]
async fn a_module_without_a_kubeconfig_output_publishes_none() {
    let env = Env::start(fast()).await;
    env.namespace("o2").await;
    let module = EKS_MODULE
        .split("output \"kubeconfig\"")
        .next()
        .unwrap_or_default();
    let mut ws = eks_workspace("k1", "o2", "1.31", None);
    ws["spec"]["forProvider"]["module"] = json!(module);
    env.create(ws).await;
    env.wait_ws("k1-eks-controlplane", "Ready=True", ready)
        .await;
    let data = env.wait_secret("o2", "k1-eks-connection").await;
    assert!(data.contains_key("cluster_endpoint"));
    assert!(!data.contains_key("kubeconfig"));
    env.stop().await;
}

#[tokio::test]
async fn unresolvable_references_are_plan_errors_until_fixed() {
    let env = Env::start(fast()).await;
    env.namespace("o3").await;
    let broken = "output \"x\" {\n  value = module.eks.cluster_endpoint\n}\n";
    env.create(inline_workspace(
        "broken",
        broken,
        &[],
        Some(("o3", "broken-out")),
    ))
    .await;
    let (ws, msg) = env.wait_reconcile_error("broken").await;
    assert!(
        msg.starts_with("observe failed: cannot diff (i.e. plan) Terraform configuration: Terraform encountered an error. Summary: Reference to undeclared module. To see the full error run: echo \""),
        "{msg}"
    );
    assert!(!ready(&ws));
    assert!(outputs(&ws).is_empty());
    assert!(
        env.secrets("o3")
            .get_opt("broken-out")
            .await
            .expect("get")
            .is_none()
    );

    env.merge(
        "broken",
        json!({ "spec": { "forProvider": { "module": "output \"x\" {\n  value = 1\n}\n" } } }),
        "fix module",
    )
    .await;
    let ws = env
        .wait_ws("broken", "Ready=True after the fix", ready)
        .await;
    assert_eq!(outputs(&ws)["x"], json!(1));
    env.stop().await;
}

#[tokio::test]
async fn same_inputs_give_same_outputs_across_runs() {
    let mut runs = Vec::new();
    for _ in 0..2 {
        let env = Env::start(fast()).await;
        env.namespace("o4").await;
        env.create(eks_workspace("d1", "o4", "1.31", None)).await;
        let ws = env
            .wait_ws("d1-eks-controlplane", "Ready=True", ready)
            .await;
        let mut data = env.wait_secret("o4", "d1-eks-connection").await;
        // The EKS token is a presigned URL signed at apply time: everything else is the same.
        let kubeconfig = data.remove("kubeconfig").expect("kubeconfig output");
        runs.push((outputs(&ws), data, without_token(&kubeconfig)));
        env.stop().await;
    }
    assert_eq!(runs[0], runs[1]);
}

/// A kubeconfig with its `k8s-aws-v1.` token cut out.
fn without_token(kubeconfig: &[u8]) -> String {
    let text = String::from_utf8_lossy(kubeconfig).into_owned();
    let start = text.find("k8s-aws-v1.").expect("an EKS token");
    let end = text[start..]
        .find(|c: char| c == '"' || c == '\\' || c.is_whitespace())
        .map_or(text.len(), |e| start + e);
    format!("{}<token>{}", &text[..start], &text[end..])
}

#[tokio::test]
async fn var_files_are_read_from_secrets_and_retried() {
    let env = Env::start(fast()).await;
    env.namespace("o5").await;
    let module =
        "variable \"vpc_id\" {\n  type = string\n}\noutput \"vpc\" {\n  value = var.vpc_id\n}\n";
    let mut ws = inline_workspace("reader", module, &[], None);
    ws["spec"]["forProvider"]["varFiles"] = json!([{
        "source": "SecretKey",
        "format": "HCL",
        "secretKeyRef": { "namespace": "o5", "name": "vpc-out", "key": "vpc_config" }
    }]);
    env.create(ws).await;
    let (_, msg) = env.wait_reconcile_error("reader").await;
    assert!(
        msg.starts_with("observe failed: cannot determine Terraform options: cannot get tfvars: "),
        "{msg}"
    );
    env.create(inline_workspace(
        "writer",
        "output \"vpc_config\" {\n  value = \"vpc_id = \\\"vpc-123\\\"\"\n}\n",
        &[],
        Some(("o5", "vpc-out")),
    ))
    .await;
    let ws = env
        .wait_ws("reader", "Ready=True once the secret exists", ready)
        .await;
    assert_eq!(outputs(&ws)["vpc"], json!("vpc-123"));
    env.stop().await;
}

#[tokio::test]
async fn remote_modules_map_by_address() {
    let env = Env::start(fast()).await;
    let remote = |name: &str, address: &str| {
        json!({
            "metadata": { "name": name },
            "spec": { "forProvider": {
                "source": "Remote",
                "module": address,
                "vars": [{ "key": "cluster_name", "value": "r1" }]
            } }
        })
    };
    env.create(remote(
        "known",
        "git::https://github.com/terraform-aws-modules/terraform-aws-eks.git?ref=v20.11.0",
    ))
    .await;
    env.create(remote(
        "unknown",
        "git::https://example.com/modules/thing.git",
    ))
    .await;
    let ws = env.wait_ws("known", "Ready=True", ready).await;
    assert_eq!(outputs(&ws)["cluster_name"], json!("r1"));
    assert_eq!(
        outputs(&ws)["cluster_endpoint"],
        json!(tfsim::eks_endpoint(42, "r1", tfsim::DEFAULT_REGION))
    );
    let (_, msg) = env.wait_reconcile_error("unknown").await;
    assert!(
        msg.starts_with("connect failed: cannot get remote Terraform module: error downloading 'git::https://example.com/modules/thing.git'"),
        "{msg}"
    );
    env.stop().await;
}
