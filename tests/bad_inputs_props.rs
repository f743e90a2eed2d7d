//! Property tests of the parsers that see untrusted input: the template renderer, the kubeconfig
//! validator and the connection-secret validator return a result — never panic — on arbitrary
//! input, and what they accept keeps its invariants. Inputs come from a seeded generator (the seed
//! is printed on failure); `CAPT_PROP_CASES` raises the number of cases (default 2000 per property).

use std::collections::BTreeMap;

use capt::reconcile::{kubeconfig, render, secrets};
use serde_json::{Map, Value, json};

/// xorshift64*: small, seeded, reproducible.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    /// Bytes biased towards the characters the parsers care about.
    fn bytes(&mut self, max: usize) -> Vec<u8> {
        const INTERESTING: &[u8] =
            b"${}:-\n \t\"'[]#&*!|>%@`\\/=.0123456789abcxyzABC\x00\xff\xc3\xa9";
        let len = self.below(max + 1);
        (0..len)
            .map(|_| match self.below(4) {
                0 => self.next() as u8,
                _ => INTERESTING[self.below(INTERESTING.len())],
            })
            .collect()
    }

    fn text(&mut self, max: usize) -> String {
        String::from_utf8_lossy(&self.bytes(max)).into_owned()
    }

    /// A string made of placeholder-ish fragments.
    fn template_string(&mut self) -> String {
        let parts = [
            "${",
            "}",
            "$",
            "${WORKSPACE_NAME}",
            "${a}",
            "${b}",
            "${a",
            "$${a}",
            "${}",
            "x",
            " ",
            "\"",
            "\\",
            "é",
            "${${a}}",
        ];
        (0..self.below(8)).map(|_| self.pick(&parts)).collect()
    }

    fn json(&mut self, depth: usize) -> Value {
        match self.below(if depth == 0 { 4 } else { 7 }) {
            0 => Value::Null,
            1 => json!(self.below(2) == 0),
            2 => json!(self.next() as i64),
            3 => Value::String(self.template_string()),
            4 => Value::Array((0..self.below(4)).map(|_| self.json(depth - 1)).collect()),
            _ => {
                let mut m = Map::new();
                for _ in 0..self.below(4) {
                    m.insert(self.template_string(), self.json(depth - 1));
                }
                Value::Object(m)
            }
        }
    }

    /// YAML documents shaped like kubeconfigs, with pieces missing, duplicated or mistyped.
    fn kubeconfig_like(&mut self) -> Vec<u8> {
        let pieces = [
            "apiVersion: v1\n",
            "kind: Config\n",
            "clusters:\n- name: c\n  cluster:\n    server: https://h\n    certificate-authority-data: Q0E=\n",
            "clusters: []\n",
            "clusters:\n- name: c\n  cluster: {server: 7}\n",
            "contexts:\n- name: x\n  context: {cluster: c, user: u}\n",
            "contexts: {}\n",
            "current-context: x\n",
            "current-context: missing\n",
            "users:\n- name: u\n  user: {token: t}\n",
            "users:\n- name: u\n  user: {exec: {args: [x]}}\n",
            "users:\n- name: u\n  user: {}\n",
            "users: null\n",
            "&a [*a]\n",
            "- - - -\n",
            "\t: :\n",
        ];
        let mut out: Vec<u8> = (0..self.below(7))
            .flat_map(|_| self.pick(&pieces).as_bytes().to_vec())
            .collect();
        if self.below(3) == 0 {
            let at = self.below(out.len() + 1);
            let noise = self.bytes(16);
            out.splice(at..at, noise);
        }
        out
    }
}

fn cases() -> u64 {
    std::env::var("CAPT_PROP_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
}

/// Run `f` on `cases()` seeds; a panic names the seed to reproduce it.
fn for_all(name: &str, f: impl Fn(&mut Gen)) {
    for seed in 1..=cases() {
        let mut g = Gen(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&mut g)));
        assert!(r.is_ok(), "{name}: panicked at seed {seed}");
    }
}

#[test]
fn render_never_panics_and_substitutes_only_strings() {
    for_all("render", |g| {
        let spec = g.json(4);
        let mut vars = BTreeMap::new();
        for _ in 0..g.below(4) {
            let k = g.pick(&["a", "b", "", "c}", "WORKSPACE_NAME"]).to_string();
            vars.insert(k, g.template_string());
        }
        let ws = g.text(70);
        match render::render(&spec, &ws, &vars) {
            Ok(out) => {
                assert!(spec.is_object());
                // Rendering changes strings only: the shape (keys, arrays, scalars) is kept.
                assert_eq!(shape(&out), shape(&spec));
                // Hashing what was rendered is total and stable.
                assert_eq!(render::spec_hash(&out), render::spec_hash(&out.clone()));
            }
            Err(e) => assert!(!e.to_string().is_empty()),
        }
    });
}

fn shape(v: &Value) -> Value {
    match v {
        Value::String(_) => Value::String(String::new()),
        Value::Array(a) => Value::Array(a.iter().map(shape).collect()),
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), shape(v))).collect()),
        other => other.clone(),
    }
}

#[test]
fn kubeconfig_validation_never_panics() {
    for_all("kubeconfig", |g| {
        let input = if g.below(2) == 0 {
            g.kubeconfig_like()
        } else {
            g.bytes(512)
        };
        if let Ok(valid) = kubeconfig::parse_and_validate(&input) {
            assert!(
                !valid.server.is_empty(),
                "a valid kubeconfig selects a server"
            );
            let _ = kubeconfig::with_server(&input, "https://example.invalid:443");
        }
    });
}

#[test]
fn connection_secret_validation_never_panics_on_any_data() {
    let huge = vec![b'A'; 4 << 20];
    for_all("secret", |g| {
        let mut data = BTreeMap::new();
        let keys = [
            "kubeconfig",
            "cluster_certificate_authority_data",
            "cluster_endpoint",
            "other",
        ];
        for _ in 0..g.below(5) {
            let value = match g.below(5) {
                0 => g.kubeconfig_like(),
                1 => Vec::new(),
                2 => format!(
                    "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
                    g.text(64)
                )
                .into_bytes(),
                _ => g.bytes(256),
            };
            data.insert(g.pick(&keys).to_string(), value);
        }
        let endpoint = (g.below(2) == 0).then(|| g.text(40));
        let _ = secrets::validate_connection_secret(&data, endpoint.as_deref());
    });
    // Huge and binary values are refused with a reason, not a crash.
    let mut data = BTreeMap::new();
    data.insert("kubeconfig".to_string(), huge.clone());
    data.insert("cluster_certificate_authority_data".to_string(), huge);
    assert!(secrets::validate_connection_secret(&data, None).is_err());
    let binary: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
    data.insert("kubeconfig".to_string(), binary.clone());
    data.insert("cluster_certificate_authority_data".to_string(), binary);
    assert!(secrets::validate_connection_secret(&data, None).is_err());
}
