//! kubectl round trip against kubesim (skipped when `kubectl` is not on PATH).

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use capt_load::kubesim::{Config, Handle, start};

const CRD: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: gadgets, singular: gadget, kind: Gadget, listKind: GadgetList, shortNames: [gd]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
      scale: {specReplicasPath: .spec.replicas, statusReplicasPath: .status.replicas}
    additionalPrinterColumns:
    - {name: Region, type: string, jsonPath: .spec.region}
    - {name: Ready, type: string, jsonPath: ".status.conditions[?(@.type=='Ready')].status"}
    - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              region: {type: string}
              size: {type: integer, default: 1}
              replicas: {type: integer}
          status:
            type: object
            x-kubernetes-preserve-unknown-fields: true
"#;

const GADGET: &str = r#"apiVersion: example.com/v1
kind: Gadget
metadata:
  name: g1
  finalizers: [example.com/hold]
spec:
  region: eu-west-1
"#;

fn kubectl_path() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("kubectl"))
        .find(|p| p.is_file())
}

struct Kubectl {
    bin: PathBuf,
    kubeconfig: PathBuf,
    cache: PathBuf,
}

impl Kubectl {
    async fn run(&self, args: &[&str]) -> Output {
        let mut cmd = tokio::process::Command::new(&self.bin);
        cmd.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(&self.cache)
            .args(args)
            .kill_on_drop(true);
        tokio::time::timeout(Duration::from_secs(60), cmd.output())
            .await
            .unwrap_or_else(|_| panic!("kubectl {args:?} timed out"))
            .expect("kubectl runs")
    }

    async fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}\n{stdout}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// A kubesim server, a scratch directory and kubectl pointed at both.
async fn setup() -> Option<(Handle, PathBuf, Kubectl)> {
    let Some(bin) = kubectl_path() else {
        println!("skipped: kubectl not found");
        return None;
    };
    let h = start(Config::default()).await.unwrap();
    let dir = std::env::temp_dir().join(format!(
        "kubesim-kubectl-{}-{}",
        std::process::id(),
        h.port()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let k = Kubectl {
        bin,
        kubeconfig: write(&dir, "kubeconfig", &h.kubeconfig_yaml()),
        cache: dir.join("cache"),
    };
    Some((h, dir, k))
}

#[tokio::test]
async fn kubectl_round_trip() {
    let Some((h, dir, k)) = setup().await else {
        return;
    };
    let crd = write(&dir, "crd.yaml", CRD);
    let gadget = write(&dir, "gadget.yaml", GADGET);

    k.ok(&["apply", "-f", crd.to_str().unwrap()]).await;
    k.ok(&["apply", "-f", gadget.to_str().unwrap()]).await;
    let again = k.ok(&["apply", "-f", gadget.to_str().unwrap()]).await;
    assert!(again.contains("unchanged"), "{again}");

    let table = k.ok(&["get", "gadgets"]).await;
    let header: Vec<&str> = table
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(header, vec!["NAME", "REGION", "READY", "AGE"], "{table}");
    assert!(
        table.contains("g1") && table.contains("eu-west-1"),
        "{table}"
    );
    let short = k.ok(&["get", "gd", "g1", "--no-headers"]).await;
    assert!(short.starts_with("g1"), "{short}");

    let json: serde_json::Value =
        serde_json::from_str(&k.ok(&["get", "gadget", "g1", "-o", "json"]).await).unwrap();
    assert_eq!(json["spec"]["size"], 1, "schema default applied");
    assert_eq!(json["metadata"]["generation"], 1);

    k.ok(&[
        "patch",
        "gadget",
        "g1",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"region":"us-east-1"}}"#,
    ])
    .await;
    let region = k
        .ok(&[
            "get",
            "gadget",
            "g1",
            "-o",
            "jsonpath={.spec.region} {.metadata.generation}",
        ])
        .await;
    assert_eq!(region, "us-east-1 2");

    k.ok(&["delete", "gadget", "g1", "--wait=false"]).await;
    let ts = k
        .ok(&[
            "get",
            "gadget",
            "g1",
            "-o",
            "jsonpath={.metadata.deletionTimestamp}",
        ])
        .await;
    assert!(
        !ts.is_empty(),
        "deletionTimestamp set while the finalizer holds"
    );

    let waiter = {
        let k = Kubectl {
            bin: k.bin.clone(),
            kubeconfig: k.kubeconfig.clone(),
            cache: k.cache.clone(),
        };
        tokio::spawn(async move {
            k.run(&["wait", "--for=delete", "gadget/g1", "--timeout=30s"])
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    k.ok(&[
        "patch",
        "gadget",
        "g1",
        "--type",
        "json",
        "-p",
        r#"[{"op":"remove","path":"/metadata/finalizers"}]"#,
    ])
    .await;
    let waited = waiter.await.unwrap();
    assert!(
        waited.status.success(),
        "wait --for=delete: {}",
        String::from_utf8_lossy(&waited.stderr)
    );
    let gone = k.run(&["get", "gadget", "g1"]).await;
    assert!(!gone.status.success());
    assert!(
        String::from_utf8_lossy(&gone.stderr).contains("NotFound"),
        "{}",
        String::from_utf8_lossy(&gone.stderr)
    );

    let ns = k.ok(&["get", "namespaces"]).await;
    assert!(
        ns.lines().next().unwrap_or("").starts_with("NAME") && ns.contains("kube-system"),
        "{ns}"
    );
    let resources = k.ok(&["api-resources"]).await;
    assert!(
        resources.contains("gadgets") && resources.contains("leases"),
        "{resources}"
    );
    h.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// The imperative commands, whose built-in kinds kubectl sends and reads in protobuf.
#[tokio::test]
async fn kubectl_imperative_commands() {
    let Some((h, dir, k)) = setup().await else {
        return;
    };
    let out = k
        .ok(&[
            "create",
            "secret",
            "generic",
            "db",
            "--from-literal=password=s3cret",
        ])
        .await;
    assert_eq!(out.trim(), "secret/db created");
    let pw = k
        .ok(&[
            "get",
            "secret",
            "db",
            "-o",
            "jsonpath={.data.password} {.type}",
        ])
        .await;
    assert_eq!(pw, "czNjcmV0 Opaque");
    k.ok(&[
        "create",
        "configmap",
        "settings",
        "--from-literal=mode=fast",
    ])
    .await;
    k.ok(&["create", "namespace", "team-a"]).await;
    k.ok(&["create", "serviceaccount", "robot", "-n", "team-a"])
        .await;
    let again = k.run(&["create", "namespace", "team-a"]).await;
    assert!(!again.status.success());
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(
        err.contains("(AlreadyExists)") && err.contains("namespaces \"team-a\" already exists"),
        "{err}"
    );
    let phase = k
        .ok(&[
            "get",
            "namespace",
            "team-a",
            "-o",
            "jsonpath={.status.phase}",
        ])
        .await;
    assert_eq!(phase, "Active");
    let can = k.ok(&["auth", "can-i", "get", "secrets"]).await;
    assert_eq!(can.trim(), "yes");

    k.ok(&["label", "secret", "db", "tier=backend"]).await;
    k.ok(&["annotate", "configmap", "settings", "owner=team-a"])
        .await;
    let yaml: serde_json::Value =
        serde_yaml::from_str(&k.ok(&["get", "configmap", "settings", "-o", "yaml"]).await).unwrap();
    assert_eq!(yaml["metadata"]["annotations"]["owner"], "team-a");
    assert_eq!(yaml["data"]["mode"], "fast");
    let labels = k
        .ok(&["get", "secrets", "-l", "tier=backend", "-o", "name"])
        .await;
    assert_eq!(labels.trim(), "secret/db");

    let editor = write(
        &dir,
        "editor.sh",
        "#!/bin/sh\nsed -i 's/mode: fast/mode: slow/' \"$1\"\n",
    );
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let mut edit = tokio::process::Command::new(&k.bin);
    edit.arg("--kubeconfig")
        .arg(&k.kubeconfig)
        .args(["edit", "configmap", "settings"])
        .env("EDITOR", &editor)
        .env("KUBE_EDITOR", &editor);
    let edited = edit.output().await.unwrap();
    assert!(
        edited.status.success(),
        "{}",
        String::from_utf8_lossy(&edited.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&edited.stdout).trim(),
        "configmap/settings edited"
    );
    let mode = k
        .ok(&[
            "get",
            "configmap",
            "settings",
            "-o",
            "jsonpath={.data.mode}",
        ])
        .await;
    assert_eq!(mode, "slow");

    let crd = write(&dir, "crd.yaml", CRD);
    k.ok(&["apply", "-f", crd.to_str().unwrap()]).await;
    let gadget = write(
        &dir,
        "gadget.yaml",
        GADGET
            .replace("  finalizers: [example.com/hold]\n", "")
            .as_str(),
    );
    k.ok(&["apply", "-f", gadget.to_str().unwrap()]).await;
    let scaled = k.ok(&["scale", "gadget", "g1", "--replicas=3"]).await;
    assert_eq!(scaled.trim(), "gadget.example.com/g1 scaled");
    let replicas = k
        .ok(&["get", "gadget", "g1", "-o", "jsonpath={.spec.replicas}"])
        .await;
    assert_eq!(replicas, "3");

    let deleted = k.ok(&["delete", "secret", "db"]).await;
    assert_eq!(deleted.trim(), "secret \"db\" deleted");
    k.ok(&["delete", "namespace", "team-a", "--wait=false"])
        .await;
    let gone = k.run(&["get", "secret", "db"]).await;
    let err = String::from_utf8_lossy(&gone.stderr);
    assert!(
        err.contains("(NotFound)") && err.contains("secrets \"db\" not found"),
        "{err}"
    );
    h.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
