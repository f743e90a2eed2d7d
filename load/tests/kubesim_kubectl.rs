//! kubectl round trip against kubesim (skipped when `kubectl` is not on PATH).

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use capt_load::kubesim::{Config, start};

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
    subresources: {status: {}}
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

#[tokio::test]
async fn kubectl_round_trip() {
    let Some(bin) = kubectl_path() else {
        println!("skipped: kubectl not found");
        return;
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
