//! tfsim against the in-memory API server: apply, outputs, connection secret, spec change, deletion, faults.

mod tfsim_support;

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use capt_load::tfsim::{self, Delay, FaultKind};
use kube::api::DeleteParams;
use serde_json::{Value, json};
use tfsim_support::*;

fn decode_pem_certificate(pem: &str) -> Vec<u8> {
    let body: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE-----"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END CERTIFICATE-----"))
        .collect();
    let der = STANDARD.decode(body).expect("PEM body is base64");
    assert!(
        der.len() > 100 && der[0] == 0x30,
        "certificate DER is a SEQUENCE"
    );
    der
}

#[tokio::test]
async fn eks_workspace_becomes_ready_with_outputs_and_secret() {
    let env = Env::start(fast()).await;
    env.namespace("team-a").await;
    env.create(eks_workspace("c1", "team-a", "1.31", None))
        .await;

    let creating = env
        .wait_ws("c1-eks-controlplane", "finalizer", |o| {
            o.metadata
                .finalizers
                .iter()
                .flatten()
                .any(|f| f == tfsim::FINALIZER)
        })
        .await;
    assert!(!ready(&creating) || cond(&creating, "Ready").is_some());

    let ws = env
        .wait_ws("c1-eks-controlplane", "Ready=True", ready)
        .await;
    assert!(cond_is(&ws, "Synced", "True", "ReconcileSuccess"));
    assert_eq!(
        cond(&ws, "Ready").and_then(|c| c["observedGeneration"].as_i64()),
        Some(1)
    );
    assert!(
        ws.data["status"]["atProvider"]["checksum"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );

    let out = outputs(&ws);
    let endpoint = out["cluster_endpoint"]
        .as_str()
        .expect("cluster_endpoint")
        .to_string();
    let host = endpoint
        .strip_prefix("https://")
        .and_then(|h| h.strip_suffix(".gr7.ap-northeast-1.eks.amazonaws.com"))
        .expect("EKS endpoint shape");
    assert_eq!(host.len(), 32);
    assert!(host.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(out["cluster_name"], "c1");
    assert_eq!(out["cluster_version"], "1.31");
    assert!(
        out["oidc_provider_arn"]
            .as_str()
            .is_some_and(|s| s.starts_with("arn:aws:iam::"))
    );
    assert!(
        out["karpenter_iam_role_arn"]
            .as_str()
            .is_some_and(|s| s.contains(":role/"))
    );
    assert!(out["karpenter_queue_name"].is_string());
    assert!(
        out["karpenter"]["service_account"]["annotations"]["eks.amazonaws.com/role-arn"]
            .is_string()
    );
    assert!(
        !out.contains_key("kubeconfig"),
        "sensitive outputs stay out of status"
    );
    assert_eq!(
        endpoint,
        tfsim::eks_endpoint(42, "c1", "ap-northeast-1"),
        "endpoint is deterministic from seed, cluster name and region"
    );

    let data = env.wait_secret("team-a", "c1-eks-connection").await;
    assert_eq!(data["cluster_endpoint"], endpoint.as_bytes());
    let ca_b64 =
        String::from_utf8(data["cluster_certificate_authority_data"].clone()).expect("utf8");
    assert_eq!(out["cluster_certificate_authority_data"], ca_b64.as_str());
    let pem = String::from_utf8(STANDARD.decode(&ca_b64).expect("CA is base64")).expect("PEM utf8");
    decode_pem_certificate(&pem);
    assert_eq!(
        data["karpenter"][0], b'{',
        "non-string outputs are JSON-encoded"
    );

    let kubeconfig_text = String::from_utf8(data["kubeconfig"].clone()).expect("utf8");
    let kc: kube::config::Kubeconfig =
        serde_yaml::from_str(&kubeconfig_text).expect("kubeconfig parses");
    let cluster = kc.clusters[0].cluster.clone().expect("cluster entry");
    assert_eq!(cluster.server.as_deref(), Some(endpoint.as_str()));
    assert_eq!(
        cluster.certificate_authority_data.as_deref(),
        Some(ca_b64.as_str())
    );
    let cfg = kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
        .await
        .expect("kubeconfig is usable");
    kube::Client::try_from(cfg).expect("client with the generated CA as trust root");

    let secret = env
        .secrets("team-a")
        .get("c1-eks-connection")
        .await
        .expect("secret");
    assert_eq!(secret.type_.as_deref(), Some(tfsim::CONNECTION_SECRET_TYPE));
    env.stop().await;
}

const VPC_MODULE: &str = r#"
variable "name" {
  type = string
}
variable "region" {
  type = string
}
data "aws_availability_zones" "available" {}
module "vpc" {
  source          = "terraform-aws-modules/vpc/aws"
  name            = var.name
  cidr            = "10.0.0.0/16"
  azs             = slice(data.aws_availability_zones.available.names, 0, 3)
  private_subnets = ["10.0.1.0/24", "10.0.2.0/24", "10.0.3.0/24"]
  public_subnets  = ["10.0.101.0/24", "10.0.102.0/24", "10.0.103.0/24"]
}
output "vpc_id" {
  value = module.vpc.vpc_id
}
output "azs" {
  value = module.vpc.azs
}
output "private_subnets" {
  value = module.vpc.private_subnets
}
output "public_subnets" {
  value = module.vpc.public_subnets
}
output "vpc_config" {
  sensitive = true
  value     = <<-EOT
    vpc_id          = "${module.vpc.vpc_id}"
    private_subnets = ${jsonencode(module.vpc.private_subnets)}
  EOT
}
"#;

#[tokio::test]
async fn vpc_workspace_outputs() {
    let env = Env::start(fast()).await;
    env.namespace("team-b").await;
    env.create(inline_workspace(
        "c2-vpc",
        VPC_MODULE,
        &[("name", "c2-vpc"), ("region", "eu-west-1")],
        Some(("team-b", "c2-vpc-connection")),
    ))
    .await;
    let ws = env.wait_ws("c2-vpc", "Ready=True", ready).await;
    let out = outputs(&ws);
    let vpc_id = out["vpc_id"].as_str().expect("vpc_id");
    assert!(vpc_id.starts_with("vpc-") && vpc_id.len() == 21, "{vpc_id}");
    let private = out["private_subnets"]
        .as_array()
        .expect("private_subnets list");
    let public = out["public_subnets"]
        .as_array()
        .expect("public_subnets list");
    assert_eq!(private.len(), 3);
    assert_eq!(public.len(), 3);
    assert!(
        private
            .iter()
            .all(|s| s.as_str().is_some_and(|s| s.starts_with("subnet-")))
    );
    assert_eq!(
        out["azs"],
        json!(["eu-west-1a", "eu-west-1b", "eu-west-1c"])
    );
    assert!(!out.contains_key("vpc_config"), "vpc_config is sensitive");
    let data = env.wait_secret("team-b", "c2-vpc-connection").await;
    let hcl = String::from_utf8(data["vpc_config"].clone()).expect("utf8");
    assert!(
        hcl.starts_with(&format!("vpc_id          = \"{vpc_id}\"\n")),
        "{hcl}"
    );
    assert_eq!(data["vpc_id"], vpc_id.as_bytes());
    let subnets_json: Value =
        serde_json::from_slice(&data["private_subnets"]).expect("JSON list in secret");
    assert_eq!(subnets_json.as_array(), Some(private));
    env.stop().await;
}

#[tokio::test]
async fn spot_role_modules_follow_the_account() {
    let config = tfsim::Config {
        spot_role_exists: false,
        ..fast()
    };
    let env = Env::start(config).await;
    let check = "data \"aws_iam_roles\" \"spot\" {\n  name_regex = \"^AWSServiceRoleForEC2Spot$\"\n}\noutput \"role_exists\" {\n  value = length(data.aws_iam_roles.spot.names) > 0\n}\n";
    let create = "resource \"aws_iam_service_linked_role\" \"spot\" {\n  aws_service_name = \"spot.amazonaws.com\"\n}\noutput \"role_arn\" {\n  value = aws_iam_service_linked_role.spot.arn\n}\n";
    env.create(inline_workspace("c3-spot-role-check", check, &[], None))
        .await;
    let mut exists = inline_workspace("c3-spot-role-check-2", check, &[], None);
    exists["metadata"]["annotations"] = json!({ tfsim::ROLE_EXISTS_ANNOTATION: "true" });
    env.create(exists).await;
    env.create(inline_workspace("c3-spot-role-create", create, &[], None))
        .await;
    let check = env.wait_ws("c3-spot-role-check", "Ready=True", ready).await;
    assert_eq!(outputs(&check)["role_exists"], json!(false));
    let check2 = env
        .wait_ws("c3-spot-role-check-2", "Ready=True", ready)
        .await;
    assert_eq!(outputs(&check2)["role_exists"], json!(true));
    let create = env
        .wait_ws("c3-spot-role-create", "Ready=True", ready)
        .await;
    assert!(
        outputs(&create)["role_arn"]
            .as_str()
            .is_some_and(|s| s.ends_with("/AWSServiceRoleForEC2Spot"))
    );
    env.stop().await;
}

#[tokio::test]
async fn spec_change_starts_a_new_apply_cycle() {
    let config = tfsim::Config {
        delay: Delay::Fixed(Duration::from_millis(600)),
        ..fast()
    };
    let env = Env::start(config).await;
    env.namespace("team-c").await;
    env.create(eks_workspace("c4", "team-c", "1.30", None))
        .await;
    let first = env
        .wait_ws("c4-eks-controlplane", "Ready=True", ready)
        .await;
    let checksum1 = first.data["status"]["atProvider"]["checksum"].clone();
    let ca1 = outputs(&first)["cluster_certificate_authority_data"].clone();
    assert_eq!(outputs(&first)["cluster_version"], "1.30");

    let mut spec = eks_workspace("c4", "team-c", "1.31", None)["spec"].clone();
    spec["forProvider"]["vars"][1] = json!({ "key": "kubernetes_version", "value": "1.31" });
    env.merge(
        "c4-eks-controlplane",
        json!({ "spec": { "forProvider": { "vars": spec["forProvider"]["vars"] } } }),
        "patch spec",
    )
    .await;

    let updating = env
        .wait_ws(
            "c4-eks-controlplane",
            "Ready=False/Creating for generation 2",
            |o| {
                cond(o, "Ready").is_some_and(|c| {
                    c["status"] == "False"
                        && c["reason"] == "Creating"
                        && c["observedGeneration"] == 2
                })
            },
        )
        .await;
    assert_eq!(updating.metadata.generation, Some(2));
    let second = env
        .wait_ws("c4-eks-controlplane", "Ready=True for generation 2", |o| {
            ready(o) && cond(o, "Ready").is_some_and(|c| c["observedGeneration"] == 2)
        })
        .await;
    assert_eq!(outputs(&second)["cluster_version"], "1.31");
    assert_ne!(second.data["status"]["atProvider"]["checksum"], checksum1);
    assert_eq!(
        outputs(&second)["cluster_certificate_authority_data"],
        ca1,
        "a cluster keeps its CA"
    );
    env.stop().await;
}

#[tokio::test]
async fn deletion_destroys_then_releases_and_orphan_skips_destroy() {
    let config = tfsim::Config {
        destroy_delay: Delay::Fixed(Duration::from_millis(800)),
        ..fast()
    };
    let env = Env::start(config).await;
    env.namespace("team-d").await;
    env.create(eks_workspace("c5", "team-d", "1.31", None))
        .await;
    env.wait_ws("c5-eks-controlplane", "Ready=True", ready)
        .await;
    env.wait_secret("team-d", "c5-eks-connection").await;

    env.workspaces()
        .delete("c5-eks-controlplane", &DeleteParams::default())
        .await
        .expect("delete");
    env.wait_ws("c5-eks-controlplane", "Ready=False/Deleting", |o| {
        o.metadata.deletion_timestamp.is_some() && cond_is(o, "Ready", "False", "Deleting")
    })
    .await;
    env.wait_gone("c5-eks-controlplane").await;
    assert!(
        env.secrets("team-d")
            .get_opt("c5-eks-connection")
            .await
            .expect("get")
            .is_none(),
        "connection secret removed"
    );

    let mut orphan = eks_workspace("c6", "team-d", "1.31", None);
    orphan["spec"]["deletionPolicy"] = json!("Orphan");
    env.create(orphan).await;
    env.wait_ws("c6-eks-controlplane", "Ready=True", ready)
        .await;
    let started = tokio::time::Instant::now();
    env.workspaces()
        .delete("c6-eks-controlplane", &DeleteParams::default())
        .await
        .expect("delete");
    env.wait_gone("c6-eks-controlplane").await;
    assert!(
        started.elapsed() < Duration::from_millis(700),
        "Orphan skips the destroy delay (took {:?})",
        started.elapsed()
    );
    env.stop().await;
}

#[tokio::test]
async fn apply_error_fault_by_annotation_and_rule() {
    let config = tfsim::Config {
        faults: vec![("bad-*".to_string(), FaultKind::ApplyError)],
        ..fast()
    };
    let env = Env::start(config).await;
    env.namespace("team-e").await;
    env.create(eks_workspace("c7", "team-e", "1.31", Some("apply-error")))
        .await;
    env.create(eks_workspace("bad", "team-e", "1.31", None))
        .await;
    for name in ["c7-eks-controlplane", "bad-eks-controlplane"] {
        let (ws, msg) = env.wait_reconcile_error(name).await;
        assert!(
            msg.starts_with("create failed: cannot apply Terraform configuration: Terraform encountered an error. Summary: creating EKS Cluster ("),
            "{msg}"
        );
        assert!(msg.contains("InvalidParameterException"), "{msg}");
        assert!(cond_is(&ws, "Ready", "False", "Creating"));
        assert!(outputs(&ws).is_empty());
    }
    assert!(
        env.secrets("team-e")
            .get_opt("c7-eks-connection")
            .await
            .expect("get")
            .is_none()
    );

    env.merge(
        "c7-eks-controlplane",
        json!({ "metadata": { "annotations": { tfsim::FAULT_ANNOTATION: null } } }),
        "clear fault",
    )
    .await;
    env.wait_ws(
        "c7-eks-controlplane",
        "Ready=True after the fault is cleared",
        |o| ready(o) && cond_is(o, "Synced", "True", "ReconcileSuccess"),
    )
    .await;
    env.stop().await;
}

#[tokio::test]
async fn flap_fault_alternates_ready() {
    let config = tfsim::Config {
        flap_period: Delay::Fixed(Duration::from_millis(300)),
        ..fast()
    };
    let env = Env::start(config).await;
    env.create(eks_workspace("c8", "default", "1.31", Some("flap")))
        .await;
    env.wait_ws("c8-eks-controlplane", "Ready=True", ready)
        .await;
    env.wait_ws("c8-eks-controlplane", "Ready=False/Unavailable", |o| {
        cond_is(o, "Ready", "False", "Unavailable")
    })
    .await;
    env.wait_ws("c8-eks-controlplane", "Ready=True again", ready)
        .await;
    env.stop().await;
}

#[tokio::test]
async fn secret_faults_are_visible_in_the_connection_secret() {
    let env = Env::start(fast()).await;
    env.namespace("team-f").await;
    let cases = [
        ("f1", "secret-missing-kubeconfig"),
        ("f2", "secret-missing-ca"),
        ("f3", "secret-invalid-kubeconfig"),
        ("f4", "secret-no-endpoint"),
        ("f5", "none"),
    ];
    for (cluster, fault) in cases {
        env.create(eks_workspace(cluster, "team-f", "1.31", Some(fault)))
            .await;
    }
    let mut secrets = BTreeMap::new();
    let mut outs = BTreeMap::new();
    for (cluster, _) in cases {
        let ws = env
            .wait_ws(&format!("{cluster}-eks-controlplane"), "Ready=True", ready)
            .await;
        outs.insert(cluster, outputs(&ws));
        secrets.insert(
            cluster,
            env.wait_secret("team-f", &format!("{cluster}-eks-connection"))
                .await,
        );
    }
    assert!(!secrets["f1"].contains_key("kubeconfig"));
    assert!(secrets["f1"].contains_key("cluster_certificate_authority_data"));

    assert!(!secrets["f2"].contains_key("cluster_certificate_authority_data"));
    assert!(secrets["f2"].contains_key("kubeconfig"));

    let bad = String::from_utf8(secrets["f3"]["kubeconfig"].clone()).expect("utf8");
    assert!(serde_yaml::from_str::<kube::config::Kubeconfig>(&bad).is_err());

    assert!(!secrets["f4"].contains_key("cluster_endpoint"));
    assert!(!secrets["f4"].contains_key("kubeconfig"));
    assert!(!outs["f4"].contains_key("cluster_endpoint"));
    assert!(outs["f4"].contains_key("cluster_certificate_authority_data"));

    for key in [
        "kubeconfig",
        "cluster_endpoint",
        "cluster_certificate_authority_data",
    ] {
        assert!(secrets["f5"].contains_key(key), "{key}");
    }
    env.stop().await;
}

#[tokio::test]
async fn missing_secret_namespace_is_a_reconcile_error_until_created() {
    let env = Env::start(fast()).await;
    env.create(eks_workspace("c9", "not-yet", "1.31", None))
        .await;
    let (ws, msg) = env.wait_reconcile_error("c9-eks-controlplane").await;
    assert!(
        msg.starts_with("cannot publish connection details"),
        "{msg}"
    );
    assert!(!ready(&ws));
    env.namespace("not-yet").await;
    env.wait_ws("c9-eks-controlplane", "Ready=True", ready)
        .await;
    env.wait_secret("not-yet", "c9-eks-connection").await;
    env.stop().await;
}
