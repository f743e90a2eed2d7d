#!/usr/bin/env python3
"""Render load/RESULTS.md from capt-load report.json files.

Usage: python3 load/report.py RESULTS_DIR [NOTES.md] > load/RESULTS.md
       python3 load/report.py --api-table             (the table of docs/api-requests.md)
       python3 load/report.py --check-api-doc DOC.md  (DOC.md holds that table, exit 1 if not)

RESULTS_DIR holds one directory per run (<runtime>-<clusters>/report.json, convergence.svg).
Runs are grouped by cluster count; each table puts the runtimes side by side. NOTES.md (default
RESULTS_DIR/NOTES.md, if present) is appended verbatim.

The controller's API requests per cluster are compared, per verb and resource, with the figures
of load/api-minimum.json (the one place they are written down; docs/api-requests.md shows them).
"""

import json
import sys
from pathlib import Path

SCHEMA = "capt-load/report/v1"
MINIMUM = Path(__file__).resolve().parent / "api-minimum.json"
# A measured figure above this multiple of the designed one is flagged.
BUDGET = 1.1


def load(results: Path):
    runs = []
    for p in sorted(results.glob("*/report.json")):
        r = json.loads(p.read_text())
        if r.get("schema") != SCHEMA:
            continue
        r["_dir"] = p.parent
        runs.append(r)
    return runs


def mib(b):
    return f"{b / 1048576:.1f} MiB"


def dist(d, unit, fmt="{:.1f}"):
    if not d or not d.get("samples"):
        return "–"
    return " / ".join(fmt.format(d[k]) for k in ("p50", "p90", "p99", "max")) + f" {unit}"


def per_cluster(m):
    if not m:
        return "–"
    return ", ".join(f"{k} {v:.1f}" for k, v in sorted(m.items()))


def total(m):
    return sum(m.values()) if m else 0


def api_minimum(path: Path = MINIMUM):
    return json.loads(path.read_text()) if path.exists() else None


def documented(doc, sharding: bool):
    """`verb resource` -> (minimum, designed), in the document's order; sharding rows added."""
    out = {}
    for row in doc["rows"] + (doc.get("sharding", []) if sharding else []):
        k = f"{row['verb']} {row['resource']}"
        m, d = out.get(k, (0, 0))
        out[k] = (m + row["minimum"], d + row["designed"])
    return out


def not_per_cluster(doc, key):
    skip = doc.get("not_per_cluster", [])
    return key in skip or key.split(" ", 1)[0] in skip


def versus(measured, designed):
    if designed == 0:
        return f"{measured:.1f} / 0" + (" **over**" if measured > 0.05 else "")
    ratio = measured / designed
    flag = " **over**" if ratio > BUDGET else ""
    return f"{measured:.1f} / {designed:g} = {ratio:.2f}×{flag}"


def api_rows(r, doc):
    """Measured requests per cluster against the designed figure, per verb and resource."""
    api = r.get("api_requests") or {}
    writes = api.get("controller_writes_per_cluster_by_resource") or {}
    by_verb = api.get("controller_per_cluster") or {}
    if not writes:
        # An older report: no per-resource figures to compare.
        return []
    want = documented(doc, bool(r.get("sharding")))
    out = []
    for k, (_, designed) in want.items():
        verb = k.split(" ", 1)[0]
        if verb == "get":
            # Reads are counted by verb only: every get, of any resource.
            m = by_verb.get("get")
            label = f"… {k} (all gets)"
        else:
            m = writes.get(k, 0.0)
            label = f"… {k}"
        out.append((label, "–" if m is None else versus(m, designed)))
    for k, m in sorted(writes.items()):
        if k not in want:
            note = "not per cluster" if not_per_cluster(doc, k) else "**not documented**"
            out.append((f"… {k}", f"{m:.1f} ({note})"))
    measured = sum(v for k, v in writes.items() if k in want)
    minimum = sum(m for k, (m, _) in want.items() if not k.startswith("get "))
    designed = sum(d for k, (_, d) in want.items() if not k.startswith("get "))
    out.insert(0, ("controller writes / cluster: measured / as designed (minimum)",
                   f"{versus(measured, designed)} ({minimum})"))
    return out


def api_table(doc) -> str:
    """The table of docs/api-requests.md."""
    lines = ["| verb | resource | minimum | as designed | why |", "|---|---|---|---|---|"]
    for row in doc["rows"]:
        lines.append(f"| {row['verb']} | {row['resource']} | {row['minimum']} | {row['designed']} | "
                     f"{row['reason']} |")
    for row in doc.get("sharding", []):
        lines.append(f"| {row['verb']} | {row['resource']} | +{row['minimum']} | +{row['designed']} | "
                     f"{row['reason']} |")
    base = [row for row in doc["rows"] if row["verb"] != "get"]
    lines.append(f"| **all writes** | | **{sum(r['minimum'] for r in base)}** | "
                 f"**{sum(r['designed'] for r in base)}** | without `--sharding` |")
    return "\n".join(lines) + "\n"


def rows(r):
    c = r.get("controller") or {}
    rc = r.get("reconciles") or {}
    q = r.get("quiet") or {}
    rs = r.get("restart")
    api = r.get("api_requests") or {}
    out = [
        ("converged", f"{'yes' if r['converged'] else '**no**'} ({r['ready_clusters']}/{r['clusters']})"),
        ("first create → last Ready", f"{r['convergence_secs']:.1f} s"),
        ("time to Ready p50 / p90 / p99 / max", dist(r.get("time_to_ready_secs"), "s")),
        ("event → status p50 / p90 / p99 / max", dist(r.get("event_to_status_ms"), "ms", "{:.0f}")),
        ("controller API requests / cluster", f"{total(api.get('controller_per_cluster')):.1f}"),
        ("… by verb", per_cluster(api.get("controller_per_cluster"))),
        ("API server requests / cluster (all clients)", f"{total(api.get('server_per_cluster')):.1f}"),
    ]
    doc = api_minimum()
    if doc:
        out += api_rows(r, doc)
    if c:
        out += [
            ("controller RSS idle", mib(c["rss_idle_bytes"])),
            ("controller RSS converged", mib(c["rss_converged_bytes"])),
            ("controller RSS peak", mib(c["rss_peak_bytes"])),
            ("RSS per cluster above idle", f"{c['rss_per_cluster_bytes'] / 1024:.1f} KiB"),
            ("controller CPU (load)", f"{c['cpu_seconds_load']:.1f} s"),
            ("controller CPU (quiet window)", f"{c['cpu_seconds_quiet']:.2f} s"),
        ]
    if rc:
        p99 = rc["mailbox_wait_p99_ms"]
        # JSON has no infinity: null means the 99th percentile is above the largest bucket.
        p99s = "> largest bucket" if p99 is None or p99 >= 1e300 else f"≤ {p99:.0f} ms"
        out += [
            ("reconciles (errors)", f"{rc['total']} ({rc['errors']})"),
            ("reconciles / cluster", f"{rc['per_cluster']:.1f}"),
            ("reconciles/s avg / peak", f"{rc['per_sec_avg']:.0f} / {rc['per_sec_peak']:.0f}"),
            ("queue wait mean / p99 bucket", f"{rc['mailbox_wait_mean_ms']:.0f} ms / {p99s}"),
        ]
    cw = q.get("controller_writes")
    sw = q.get("server_writes")
    out.append((f"writes in {q.get('secs', 0)} s quiet window (controller / all)",
                f"{'–' if cw is None else cw} / {'–' if sw is None else sw}"))
    if rs:
        noop = rs.get("noop_pass_secs")
        out.append(("restart: → ready / → no-op pass",
                    f"{rs['ready_secs']:.2f} s / {'not settled' if noop is None else f'{noop:.2f} s'}"))
        out.append(("restart pass: reconciles / writes", f"{rs['reconciles']} / {rs['controller_writes']}"))
    for ch in r.get("churn") or []:
        out.append((f"churn {ch['kind']} ({ch['completed']}/{ch['clusters']}) p50 / p99",
                    f"{ch['secs']['p50']:.1f} / {ch['secs']['p99']:.1f} s"))
    return out


def render(runs, results: Path, notes: str) -> str:
    lines = ["# capt load results", ""]
    if not runs:
        lines.append(f"No reports in `{results}`.")
        return "\n".join(lines) + "\n"
    m = runs[0].get("machine", {})
    r0 = runs[0]
    lines += [
        f"Machine: {m.get('cpus', '?')} CPUs, {m.get('os', '?')}; target: in-process kubesim "
        f"(API server, tfsim and capisim share the load generator's process; the controller is a "
        f"separate process measured through /proc). Generated by `load/run-benchmarks.sh` and "
        f"`load/report.py` from `{results}/*/report.json`.",
        "",
        f"Each cluster is a CAPI `Cluster` + `CAPTCluster` + `CAPTControlPlane`, created at "
        f"{r0['rate_per_sec']:g}/s over {r0['namespaces']} namespaces; tfsim apply delay "
        f"`{r0['tf_delay']}`.",
        "",
    ]
    if api_minimum():
        lines += [
            "Rows `… <verb> <resource>`: the controller's requests per cluster, measured / as designed "
            "([docs/api-requests.md](../docs/api-requests.md), `load/api-minimum.json`); **over**: above "
            f"{BUDGET:g}×.",
            "",
        ]
    sizes = sorted({r["clusters"] for r in runs})
    for size in sizes:
        group = sorted((r for r in runs if r["clusters"] == size), key=lambda r: r["runtime"])
        lines += [f"## {size} clusters", ""]
        lines.append("| measure | " + " | ".join(f"`{r['runtime']}`" for r in group) + " |")
        lines.append("|---|" + "---|" * len(group))
        table = [dict(rows(r)) for r in group]
        keys = []
        for t in table:
            keys += [k for k in t if k not in keys]
        for k in keys:
            lines.append(f"| {k} | " + " | ".join(t.get(k, "–") for t in table) + " |")
        lines.append("")
        for r in group:
            svg = r["_dir"] / "convergence.svg"
            rel = svg.relative_to(Path("load")) if svg.is_relative_to(Path("load")) else svg
            lines.append(f"- `{r['runtime']}`: ![{r['label']}]({rel}) (`{svg}`)")
        lines.append("")
        for r in group:
            for n in r.get("notes") or []:
                lines.append(f"- {r['label']}: {n}")
        lines.append("")
    if notes:
        lines += [notes.rstrip(), ""]
    return "\n".join(lines)


def check_api_doc(path: Path) -> int:
    if api_table(api_minimum()) in path.read_text():
        return 0
    print(f"{path}: its table differs from `load/report.py --api-table` ({MINIMUM})", file=sys.stderr)
    return 1


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    if argv[1] == "--api-table":
        sys.stdout.write(api_table(api_minimum()))
        return 0
    if argv[1] == "--check-api-doc" and len(argv) > 2:
        return check_api_doc(Path(argv[2]))
    results = Path(argv[1])
    notes_path = Path(argv[2]) if len(argv) > 2 else results / "NOTES.md"
    notes = notes_path.read_text() if notes_path.exists() else ""
    sys.stdout.write(render(load(results), results, notes))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
