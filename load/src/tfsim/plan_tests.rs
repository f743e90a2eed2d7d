//! Plans of the shipped sample modules and of broken modules.

use serde_json::{Value, json};

use super::diag::Step;
use super::outputs::{Outputs, secret_bytes};
use super::plan::{self, Failure, Settings};
use super::vars::{Assignments, FileFormat};

fn sample_module(file: &str) -> String {
    let text = match file {
        "vpc" => include_str!("../../../samples/workspacetemplates/vpc-template.yaml"),
        "eks" => include_str!("../../../samples/workspacetemplates/eks-controlplane-template.yaml"),
        "kubeconfig" => {
            include_str!("../../../samples/workspacetemplates/eks-kubeconfig-template.yaml")
        }
        "spot-check" => include_str!("../../../samples/workspacetemplates/spot-role-check.yaml"),
        _ => include_str!("../../../samples/workspacetemplates/spot-role-create.yaml"),
    };
    let doc: serde_yaml::Value = serde_yaml::from_str(text).unwrap_or_else(|e| panic!("{e}"));
    doc["spec"]["template"]["spec"]["forProvider"]["module"]
        .as_str()
        .unwrap_or_else(|| panic!("{file} has no module"))
        .to_string()
}

fn settings() -> Settings {
    Settings {
        seed: 7,
        account_id: "123456789012".into(),
        spot_role_exists: true,
        signed_at: "2026-01-02T03:04:05Z".parse().unwrap(),
    }
}

fn cli(pairs: &[(&str, &str)]) -> Assignments {
    Assignments {
        cli: pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..Default::default()
    }
}

fn ok(module: &str, a: &Assignments) -> Outputs {
    plan::inline(module, a, &settings()).unwrap_or_else(|f| panic!("{f:?}"))
}

fn fails(module: &str, a: &Assignments) -> Failure {
    match plan::inline(module, a, &settings()) {
        Ok(out) => panic!("expected a failure, got {out:?}"),
        Err(f) => f,
    }
}

fn text(out: &Outputs, key: &str) -> String {
    String::from_utf8(secret_bytes(&out[key].value)).unwrap_or_else(|e| panic!("{e}"))
}

fn vpc() -> Outputs {
    ok(
        &sample_module("vpc"),
        &cli(&[("name", "c1-vpc"), ("cluster_name", "c1")]),
    )
}

fn eks_vars(vpc_config: String) -> Assignments {
    Assignments {
        files: vec![(vpc_config, FileFormat::Hcl)],
        ..cli(&[
            ("cluster_name", "c1"),
            ("kubernetes_version", "1.31"),
            ("region", "ap-northeast-1"),
        ])
    }
}

#[test]
fn vpc_sample_declares_what_it_publishes() {
    let out = vpc();
    let keys: Vec<&str> = out.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["private_subnets", "public_subnets", "vpc_config", "vpc_id"]
    );
    let vpc_id = out["vpc_id"].value.as_str().unwrap_or_default().to_string();
    assert!(vpc_id.starts_with("vpc-") && vpc_id.len() == 21, "{vpc_id}");
    assert_eq!(
        out["private_subnets"].value.as_array().map(Vec::len),
        Some(3)
    );
    assert!(out["vpc_config"].sensitive);
    let config = text(&out, "vpc_config");
    assert!(
        config.contains(&format!("vpc_id          = \"{vpc_id}\"")),
        "{config}"
    );
    assert_eq!(vpc(), out, "same inputs, same outputs");
}

#[test]
fn eks_sample_reads_the_vpc_config_and_publishes_a_kubeconfig() {
    let out = ok(&sample_module("eks"), &eks_vars(text(&vpc(), "vpc_config")));
    for key in [
        "kubeconfig",
        "cluster_endpoint",
        "cluster_certificate_authority_data",
        "cluster_name",
        "karpenter",
    ] {
        assert!(out.contains_key(key), "{key}");
    }
    assert!(out["kubeconfig"].sensitive && out["cluster_certificate_authority_data"].sensitive);
    assert!(!out["cluster_endpoint"].sensitive);
    let endpoint = out["cluster_endpoint"].value.as_str().unwrap_or_default();
    assert_eq!(
        endpoint,
        super::aws::eks_endpoint(7, "c1", "ap-northeast-1")
    );
    let kc: kube::config::Kubeconfig =
        serde_yaml::from_str(&text(&out, "kubeconfig")).unwrap_or_else(|e| panic!("{e}"));
    let cluster = kc.clusters[0]
        .cluster
        .clone()
        .unwrap_or_else(|| panic!("no cluster"));
    assert_eq!(cluster.server.as_deref(), Some(endpoint));
    assert_eq!(
        cluster.certificate_authority_data.as_deref(),
        out["cluster_certificate_authority_data"].value.as_str()
    );
    let raw: Value =
        serde_yaml::from_str(&text(&out, "kubeconfig")).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        raw["users"][0]["user"]["token"]
            .as_str()
            .is_some_and(|t| t.starts_with("k8s-aws-v1."))
    );
    assert_eq!(
        out["karpenter"].value["service_account"]["annotations"]["eks.amazonaws.com/role-arn"],
        json!("arn:aws:iam::123456789012:role/KarpenterController-c1")
    );
    assert_eq!(
        out["karpenter"].value["ec2_node_class"]["role"],
        json!("c1-node")
    );
    assert_eq!(
        text(&out, "karpenter").as_bytes()[0],
        b'{',
        "objects are JSON in the secret"
    );
}

#[test]
fn eks_sample_without_the_vpc_var_file_lacks_variables() {
    let f = fails(&sample_module("eks"), &eks_vars(String::new()));
    assert_eq!(f.step, Step::Plan);
    assert_eq!(f.diag.summary, "No value for required variable");
}

#[test]
fn kubeconfig_and_spot_samples() {
    let out = ok(
        &sample_module("kubeconfig"),
        &cli(&[
            ("cluster_name", "c1"),
            ("region", "us-west-2"),
            ("cluster_endpoint", "https://x"),
            ("cluster_certificate_authority_data", "Q0E="),
        ]),
    );
    assert!(text(&out, "kubeconfig").contains("k8s-aws-v1."));
    let check = ok(&sample_module("spot-check"), &Assignments::default());
    assert_eq!(check["role_exists"].value, Value::Bool(true));
    assert_eq!(text(&check, "role_exists"), "true");
    let no_role = Settings {
        spot_role_exists: false,
        ..settings()
    };
    let check = plan::inline(
        &sample_module("spot-check"),
        &Assignments::default(),
        &no_role,
    )
    .unwrap_or_else(|f| panic!("{f:?}"));
    assert_eq!(check["role_exists"].value, Value::Bool(false));
    let create = ok(&sample_module("spot-create"), &Assignments::default());
    assert_eq!(
        create["role_arn"].value,
        json!(
            "arn:aws:iam::123456789012:role/aws-service-role/spot.amazonaws.com/AWSServiceRoleForEC2Spot"
        )
    );
}

#[test]
fn only_declared_outputs_are_published() {
    let m = "module \"eks\" {\n  source       = \"terraform-aws-modules/eks/aws\"\n  cluster_name = \"c1\"\n}\noutput \"endpoint\" {\n  value = module.eks.cluster_endpoint\n}\n";
    let out = ok(m, &Assignments::default());
    assert_eq!(out.keys().collect::<Vec<_>>(), ["endpoint"]);
    assert!(ok("# nothing\n", &Assignments::default()).is_empty());
}

#[test]
fn unresolvable_references_fail_with_terraform_wording() {
    let cases = [
        (
            "output \"x\" {\n  value = module.nope.id\n}\n",
            "Reference to undeclared module",
        ),
        (
            "output \"x\" {\n  value = var.nope\n}\n",
            "Reference to undeclared input variable",
        ),
        (
            "output \"x\" {\n  value = aws_vpc.nope.id\n}\n",
            "Reference to undeclared resource",
        ),
        (
            "output \"x\" {\n  value = data.aws_region.nope.name\n}\n",
            "Reference to undeclared resource",
        ),
        (
            "data \"aws_region\" \"r\" {}\noutput \"x\" {\n  value = data.aws_region.r.nope\n}\n",
            "Unsupported attribute",
        ),
        (
            "output \"x\" {\n  value = nofunc(1)\n}\n",
            "Call to unknown function",
        ),
        (
            "resource \"aws_x\" \"y\" {}\noutput \"x\" {\n  value = aws_x.y.id\n}\n",
            "Invalid resource type",
        ),
        (
            "data \"aws_eks_cluster_auth\" \"a\" {\n  name = \"c\"\n}\noutput \"x\" {\n  value = data.aws_eks_cluster_auth.a.token\n}\n",
            "Output refers to sensitive values",
        ),
        (
            "locals {\n  a = var.nope\n}\n",
            "Reference to undeclared input variable",
        ),
    ];
    for (module, summary) in cases {
        let f = fails(module, &Assignments::default());
        assert_eq!(
            (f.step, f.diag.summary.as_str()),
            (Step::Plan, summary),
            "{module}"
        );
    }
    let m = "module \"eks\" {\n  source       = \"terraform-aws-modules/eks/aws\"\n  cluster_name = \"c1\"\n}\noutput \"x\" {\n  value = module.eks.kubeconfig\n}\n";
    assert_eq!(
        fails(m, &Assignments::default()).diag.summary,
        "Unsupported attribute"
    );
    let syntax = fails("output \"x\" {\n  value = \n", &Assignments::default());
    assert_eq!(syntax.step, Step::Init);
    let unknown = fails(
        "module \"m\" {\n  source = \"hashicorp/consul/aws\"\n}\n",
        &Assignments::default(),
    );
    assert_eq!(
        (unknown.step, unknown.diag.summary.as_str()),
        (Step::Init, "Failed to download module")
    );
}

#[test]
fn remote_modules_by_address() {
    let out = plan::remote(
        "git::https://github.com/terraform-aws-modules/terraform-aws-eks.git?ref=v20.11.0",
        &cli(&[("cluster_name", "r1")]),
        &settings(),
    )
    .unwrap_or_else(|f| panic!("{f:?}"));
    assert!(out["cluster_endpoint"].value.is_string() && !out["cluster_endpoint"].sensitive);
    let f = plan::remote(
        "git::https://example.com/mod.git",
        &Assignments::default(),
        &settings(),
    )
    .map(|_| ())
    .unwrap_err();
    assert_eq!(f.step, Step::Fetch);
    assert!(super::diag::message(f.step, &f.diag).starts_with(
        "connect failed: cannot get remote Terraform module: error downloading 'git::https://example.com/mod.git'"
    ));
}
