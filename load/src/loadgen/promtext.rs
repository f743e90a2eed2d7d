//! Just enough of the Prometheus text format to read counters and histograms from /metrics.

use std::collections::BTreeMap;

/// One sample: metric name, labels, value.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

fn parse_labels(s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = s;
    while let Some(eq) = rest.find('=') {
        let key = rest[..eq].trim().trim_start_matches(',').trim().to_string();
        let after = &rest[eq + 1..];
        let Some(body) = after.strip_prefix('"') else {
            break;
        };
        let mut val = String::new();
        let mut end = body.len();
        let mut escaped = false;
        for (i, c) in body.char_indices() {
            if escaped {
                val.push(match c {
                    'n' => '\n',
                    other => other,
                });
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                end = i;
                break;
            } else {
                val.push(c);
            }
        }
        out.insert(key, val);
        rest = body.get(end + 1..).unwrap_or("");
    }
    out
}

/// All samples of a text exposition (comments skipped).
pub fn parse(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (head, value) = match l.find('}') {
                Some(close) => (&l[..=close], l[close + 1..].trim()),
                None => {
                    let mut it = l.splitn(2, ' ');
                    (it.next()?, it.next()?.trim())
                }
            };
            let value: f64 = value.split_whitespace().next()?.parse().ok()?;
            let (name, labels) = match head.find('{') {
                Some(open) => (&head[..open], parse_labels(&head[open + 1..head.len() - 1])),
                None => (head, BTreeMap::new()),
            };
            Some(Sample {
                name: name.to_string(),
                labels,
                value,
            })
        })
        .collect()
}

/// Sum of every sample named `name`.
pub fn sum(samples: &[Sample], name: &str) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name)
        .map(|s| s.value)
        .sum()
}

/// Sum of the samples named `name` whose label `label` equals `value`.
pub fn sum_where(samples: &[Sample], name: &str, label: &str, value: &str) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name && s.labels.get(label).is_some_and(|v| v == value))
        .map(|s| s.value)
        .sum()
}

/// Sum of the samples named `name`, grouped by label `label`.
pub fn by_label(samples: &[Sample], name: &str, label: &str) -> BTreeMap<String, f64> {
    by_key(samples, name, |s| {
        Some(s.labels.get(label).cloned().unwrap_or_default())
    })
}

/// Sum of the samples named `name` by `key` (samples it gives `None` are left out).
pub fn by_key(
    samples: &[Sample],
    name: &str,
    key: impl Fn(&Sample) -> Option<String>,
) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for s in samples.iter().filter(|s| s.name == name) {
        if let Some(k) = key(s) {
            *out.entry(k).or_insert(0.0) += s.value;
        }
    }
    out
}

/// Cumulative bucket counts of histogram `name` (all label sets added), by upper bound.
pub fn buckets(samples: &[Sample], name: &str) -> Vec<(f64, f64)> {
    let bucket = format!("{name}_bucket");
    let mut by_le: BTreeMap<u64, (f64, f64)> = BTreeMap::new();
    for s in samples.iter().filter(|s| s.name == bucket) {
        let Some(le) = s.labels.get("le") else {
            continue;
        };
        let le: f64 = if le == "+Inf" {
            f64::INFINITY
        } else {
            match le.parse() {
                Ok(v) => v,
                Err(_) => continue,
            }
        };
        let e = by_le.entry(le.to_bits()).or_insert((le, 0.0));
        e.1 += s.value;
    }
    let mut v: Vec<(f64, f64)> = by_le.into_values().collect();
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    v
}

/// Upper bound of the bucket holding quantile `q` of a cumulative histogram difference.
pub fn quantile(buckets: &[(f64, f64)], q: f64) -> Option<f64> {
    let total = buckets.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    buckets.iter().find(|(_, c)| *c >= rank).map(|(le, _)| *le)
}

/// Bucket-wise `later - earlier` of two cumulative histograms with the same bounds.
pub fn bucket_diff(later: &[(f64, f64)], earlier: &[(f64, f64)]) -> Vec<(f64, f64)> {
    later
        .iter()
        .map(|(le, c)| {
            let before = earlier
                .iter()
                .find(|(l, _)| l.to_bits() == le.to_bits())
                .map_or(0.0, |(_, c)| *c);
            (*le, c - before)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# HELP controller_runtime_reconcile Total reconciles.
# TYPE controller_runtime_reconcile counter
controller_runtime_reconcile_total{controller="captcluster",result="success"} 10
controller_runtime_reconcile_total{controller="wta",result="error"} 2
capt_api_requests_total{verb="patch",resource="captclusters/status",code="200"} 7
capt_mailbox_wait_seconds_bucket{kind="A",le="0.001"} 1
capt_mailbox_wait_seconds_bucket{kind="A",le="0.1"} 9
capt_mailbox_wait_seconds_bucket{kind="A",le="+Inf"} 10
capt_mailbox_wait_seconds_bucket{kind="B",le="0.001"} 0
capt_mailbox_wait_seconds_bucket{kind="B",le="0.1"} 0
capt_mailbox_wait_seconds_bucket{kind="B",le="+Inf"} 10
capt_leader 1
"#;

    #[test]
    fn reads_counters_labels_and_histograms() {
        let s = parse(TEXT);
        assert_eq!(sum(&s, "controller_runtime_reconcile_total"), 12.0);
        assert_eq!(
            sum_where(&s, "controller_runtime_reconcile_total", "result", "error"),
            2.0
        );
        assert_eq!(
            by_label(&s, "capt_api_requests_total", "verb")["patch"],
            7.0
        );
        assert_eq!(sum(&s, "capt_leader"), 1.0);
        let b = buckets(&s, "capt_mailbox_wait_seconds");
        assert_eq!(b, vec![(0.001, 1.0), (0.1, 9.0), (f64::INFINITY, 20.0)]);
        assert_eq!(quantile(&b, 0.4), Some(0.1));
        assert_eq!(quantile(&b, 0.99), Some(f64::INFINITY));
        let d = bucket_diff(&b, &[(0.001, 1.0), (0.1, 1.0), (f64::INFINITY, 1.0)]);
        assert_eq!(d, vec![(0.001, 0.0), (0.1, 8.0), (f64::INFINITY, 19.0)]);
    }
}
