//! `capt check addons`: the shipped add-on samples pass; a broken copy fails with the expected findings and
//! exit status; with a kubeconfig, the live secrets and control-plane status are checked without printing
//! any value.

use std::path::{Path, PathBuf};
use std::process::Command;

use capt::addons::{Options, Report, check};
use capt::api::CAPTControlPlane;
use capt_load::kubesim;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams, PostParams};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn samples() -> PathBuf {
    Path::new(ROOT).join("samples/addons")
}

fn templates() -> PathBuf {
    Path::new(ROOT).join("samples/workspacetemplates")
}

fn capt(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_capt"))
        .args(args)
        .output()
        .expect("capt runs");
    (
        out.status.code().expect("exit code"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The samples with the mistakes seed 002 warns of (and a few more) put in.
fn broken_copy(dir: &Path) -> PathBuf {
    let edits: [(&str, &str); 6] = [
        (
            "valuesKey: karpenter_queue_name",
            "valuesKey: karpenter_queue",
        ),
        (
            r"eks\.amazonaws\.com/role-arn",
            "eks.amazonaws.com/role-arn",
        ),
        (
            "targetPath: settings.clusterEndpoint",
            "targetPath: settings.clusterName",
        ),
        ("replicas: 1", "settings:\n      interruptionQueue: fixed"),
        ("outputs.cluster_endpoint", "outputs.cluster_endpoint_url"),
        ("outputs.karpenter_queue_name", "outputs.karpenter.queue"),
    ];
    let mut text = String::new();
    for f in [
        "karpenter-helmrelease.yaml",
        "karpenter-helmchartproxy.yaml",
    ] {
        text += &std::fs::read_to_string(samples().join(f)).expect("sample");
        text += "---\n";
    }
    for (from, to) in edits {
        assert!(text.contains(from), "the samples contain {from}");
        text = text.replacen(from, to, 1);
    }
    // One misspelt secret name, and a ClusterResourceSet forwarding the connection secret.
    text = text.replacen(
        "name: ${CLUSTER_NAME}-eks-connection\n    valuesKey: cluster_name",
        "name: ${CLUSTER_NAME}-eks-conection\n    valuesKey: cluster_nam",
        1,
    );
    text += "apiVersion: addons.cluster.x-k8s.io/v1beta1\nkind: ClusterResourceSet\nmetadata:\n  name: karpenter-config\n  namespace: default\nspec:\n  clusterSelector: {}\n  resources:\n  - name: ${CLUSTER_NAME}-eks-connection\n    kind: Secret\n";
    let path = dir.join("broken.yaml");
    std::fs::write(&path, text).expect("write");
    path
}

fn codes(report: &Report) -> Vec<(&'static str, String)> {
    report
        .findings
        .iter()
        .map(|f| {
            let field = f.path.rsplit(' ').next().unwrap_or_default();
            let field = field
                .strip_prefix(".ControlPlane.status.workspaceStatus.atProvider.")
                .unwrap_or(field);
            (f.code, field.to_string())
        })
        .collect()
}

#[test]
fn the_samples_pass() {
    let (code, out) = capt(&[
        "check",
        "addons",
        samples().to_str().unwrap(),
        "--templates",
        templates().to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.starts_with("0 error(s), 0 warning(s); checked 8 reference(s)"),
        "{out}"
    );
}

#[test]
fn a_broken_copy_fails_with_the_expected_findings() {
    let dir = tempdir("broken");
    let broken = broken_copy(&dir);
    let templates_dir = templates();
    let args = [
        "check",
        "addons",
        broken.to_str().unwrap(),
        "--templates",
        templates_dir.to_str().unwrap(),
    ];
    let (code, text) = capt(&args);
    assert_eq!(code, 1, "{text}");
    let (_, json) = capt(&[&args[..], &["--output", "json"]].concat());
    let report: serde_json::Value = serde_json::from_str(&json).expect("json");
    let findings = report["findings"].as_array().expect("findings");
    assert_eq!(
        text.lines().count(),
        findings.len() + 1,
        "one line per finding and a summary"
    );

    let opts = Options {
        paths: vec![broken.clone()],
        templates: vec![templates()],
        kubeconfig: None,
    };
    let report = block_on(check(&opts)).expect("checks");
    let want: Vec<(&str, &str)> = vec![
        ("unknown-output", "outputs.cluster_endpoint_url"),
        ("unknown-output-key", "outputs.karpenter.queue"),
        ("unknown-secret", "spec.valuesFrom[0].name"),
        ("unknown-key", "spec.valuesFrom[0].valuesKey"),
        ("duplicate-target-path", "spec.valuesFrom[1].targetPath"),
        ("invalid-target-path", "spec.valuesFrom[2].targetPath"),
        ("unknown-key", "spec.valuesFrom[3].valuesKey"),
        ("overridden-by-values", "spec.valuesFrom[3].targetPath"),
        ("resource-set-secret-type", "spec.resources[0].name"),
    ];
    let mut got = codes(&report);
    got.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(b.0)));
    let mut want: Vec<(&str, String)> = want.into_iter().map(|(c, p)| (c, p.to_string())).collect();
    want.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(b.0)));
    assert_eq!(got, want, "{}", report.text());

    let line = |code: &str| {
        report
            .findings
            .iter()
            .find(|f| f.code == code)
            .map(|f| f.line_text())
            .unwrap_or_default()
    };
    assert!(line("unknown-secret").contains("`${CLUSTER_NAME}-eks-conection`"));
    assert!(line("unknown-secret").ends_with("fix: name the secret `…-eks-connection`"));
    assert!(
        text.contains("fix: did you mean `karpenter_queue_name`?"),
        "{text}"
    );
    assert!(text.contains("fix: did you mean `cluster_name`?"), "{text}");
    assert!(line("invalid-target-path").contains(r"escape them: `eks\.amazonaws\.com/role-arn`"));
    assert!(line("unknown-output").ends_with("fix: did you mean `cluster_endpoint`?"));
    let source = std::fs::read_to_string(&broken).expect("read");
    for f in &report.findings {
        let at = source.lines().nth(f.line - 1).expect("line in file");
        let field = f.path.rsplit('.').next().unwrap_or_default();
        let needle = if f.path.contains("valuesTemplate") {
            "ControlPlane"
        } else {
            field
        };
        assert!(at.contains(needle), "{} points at `{at}`", f.line_text());
    }
}

#[test]
fn a_sensitive_output_in_a_value_template_is_an_error() {
    let dir = tempdir("sensitive");
    let text =
        std::fs::read_to_string(samples().join("karpenter-helmchartproxy.yaml")).expect("sample");
    let path = dir.join("hcp.yaml");
    std::fs::write(
        &path,
        text.replace("outputs.cluster_endpoint", "outputs.kubeconfig"),
    )
    .expect("write");
    let opts = Options {
        paths: vec![path],
        templates: vec![templates()],
        kubeconfig: None,
    };
    let report = block_on(check(&opts)).expect("checks");
    assert_eq!(
        codes(&report),
        vec![("sensitive-output", "outputs.kubeconfig".to_string())]
    );
}

const SECRET_VALUES: [&str; 2] = [
    "arn:aws:iam::123456789012:role/never-printed",
    "never-printed-name",
];

#[tokio::test]
async fn live_secrets_and_status_are_checked_without_printing_values() {
    let server = kubesim::start(kubesim::Config::default())
        .await
        .expect("kubesim");
    server
        .install_crds_yaml(&capt::api::crds_yaml())
        .expect("crds");
    let client = server.client();
    let dir = tempdir("live");
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(&kubeconfig, server.kubeconfig_yaml()).expect("kubeconfig");

    let cp: CAPTControlPlane = serde_yaml::from_str(
        "apiVersion: controlplane.cluster.x-k8s.io/v1beta1\nkind: CAPTControlPlane\nmetadata:\n  name: demo\n  namespace: default\nspec:\n  version: \"1.31\"\n  workspaceTemplateRef:\n    name: eks-controlplane-template\n",
    )
    .expect("cp");
    let cps = Api::<CAPTControlPlane>::namespaced(client.clone(), "default");
    cps.create(&PostParams::default(), &cp)
        .await
        .expect("create cp");
    let status = serde_json::json!({"status": {"ready": true, "workspaceStatus": {"ready": true, "atProvider": {"outputs": {
        "cluster_name": SECRET_VALUES[1], "cluster_endpoint": "", "karpenter_iam_role_arn": SECRET_VALUES[0]
    }}}}});
    cps.patch_status("demo", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .expect("status");
    let data = [
        ("cluster_name", SECRET_VALUES[1]),
        ("cluster_endpoint", ""),
        ("karpenter_iam_role_arn", SECRET_VALUES[0]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
    .collect();
    let secret = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some("demo-eks-connection".into()),
            ..Default::default()
        },
        data: Some(data),
        ..Default::default()
    };
    Api::<Secret>::namespaced(client, "default")
        .create(&PostParams::default(), &secret)
        .await
        .expect("secret");

    let opts = Options {
        paths: vec![samples()],
        templates: vec![templates()],
        kubeconfig: Some(kubeconfig),
    };
    let report = check(&opts).await.expect("checks");
    assert_eq!(report.checked.live_clusters, 1);
    let mut got: Vec<(&str, String)> = report
        .findings
        .iter()
        .map(|f| (f.code, f.message.clone()))
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("live-secret-value", "key `cluster_endpoint` of secret `default/demo-eks-connection` is empty".to_string()),
            ("live-secret-value", "secret `default/demo-eks-connection` has no key `karpenter_queue_name`".to_string()),
            ("live-status-output", "status.workspaceStatus.atProvider.outputs.cluster_endpoint is missing or empty".to_string()),
            ("live-status-output", "status.workspaceStatus.atProvider.outputs.karpenter_queue_name is missing or empty".to_string()),
        ]
    );
    assert!(
        report.findings.iter().all(|f| f.is_error()),
        "the control plane is ready: errors"
    );
    for out in [report.text(), report.json()] {
        for v in SECRET_VALUES {
            assert!(!out.contains(v), "a value is printed: {out}");
        }
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

fn tempdir(what: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("capt-addons-{what}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tempdir");
    dir
}
