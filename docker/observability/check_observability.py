"""Checks of the observability profile's files (docs/containers.md#observability).

    python docker/observability/check_observability.py                    # the files, with promtool
    python docker/observability/check_observability.py --live HOST:PORT  # + a Prometheus scraping it

Static: `promtool check config` / `check rules` / `test rules` (alerts.test.yml), the Grafana dashboard's
structure (Grafana's JSON schema is not published as a file; this checks what Grafana needs to load and
draw it: unique panel ids, grid positions inside 24 columns, the provisioned datasource uid, refIds) and
every panel query through promtool's PromQL parser. Live: the metric names the rules and the dashboard
use are all exported by the running service, and a real Prometheus on loopback scrapes the targets with
the rules loaded, evaluates them without error and answers every dashboard query.
Each check is a (label, ok, detail) row; tests/containers and scripts/container-smoke print them.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
DASHBOARD = HERE / "grafana" / "dashboards" / "plugin-service.json"
DATASOURCES = HERE / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
Check = tuple[str, bool, str]
# Grafana's macros and variables, replaced by plain PromQL before parsing or querying
GRAFANA_SUBSTITUTIONS = {"$__rate_interval": "1m", "$__interval": "1m", "$instance": ".*"}
METRIC = re.compile(r"\b(plugin_service_[a-z_]+|process_[a-z_]+|up)\b")


def dashboard_queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def alert_queries() -> list[str]:
    text = (HERE / "alerts.yml").read_text()
    # the rules file is YAML; its expressions are the `expr:` values (single-line or folded blocks)
    exprs: list[str] = []
    current: list[str] | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("expr:"):
            value = stripped[len("expr:") :].strip()
            current = [] if value == "|" else None
            if current is None:
                exprs.append(value)
        elif current is not None:
            if stripped and not stripped.startswith(("for:", "labels:", "annotations:", "- alert:")):
                current.append(stripped)
            else:
                exprs.append(" ".join(current))
                current = None
    return exprs


def plain_promql(expr: str) -> str:
    for macro, value in GRAFANA_SUBSTITUTIONS.items():
        expr = expr.replace(macro, value)
    return expr


def metric_names(exprs: list[str]) -> set[str]:
    """Series names the expressions read (histogram_quantile etc. are functions, not metrics)."""
    return {m for e in exprs for m in METRIC.findall(e)}


def _promtool(*args: str, cwd: Path = HERE) -> tuple[bool, str]:
    result = subprocess.run(["promtool", *args], cwd=cwd, capture_output=True, text=True, timeout=120)
    return result.returncode == 0, (result.stdout + result.stderr).strip().splitlines()[-1] if (
        result.stdout + result.stderr
    ).strip() else ""


def dashboard_structure() -> list[Check]:
    dashboard = json.loads(DASHBOARD.read_text())
    uid = re.search(r"uid:\s*(\S+)", DATASOURCES.read_text())
    datasource_uid = uid.group(1) if uid else None
    checks: list[Check] = []
    panels = dashboard.get("panels", [])
    ids = [p.get("id") for p in panels]
    checks.append(
        (
            "dashboard: uid, title, schemaVersion and panels present",
            all(dashboard.get(k) for k in ("uid", "title", "schemaVersion")) and bool(panels),
            dashboard.get("title", ""),
        )
    )
    checks.append(("dashboard: panel ids unique", len(set(ids)) == len(ids) and None not in ids, f"{len(ids)} panels"))
    bad_grid = [
        p["title"]
        for p in panels
        if not (p["gridPos"]["x"] >= 0 and p["gridPos"]["x"] + p["gridPos"]["w"] <= 24 and p["gridPos"]["h"] > 0)
    ]
    checks.append(("dashboard: every panel inside the 24-column grid", not bad_grid, ", ".join(bad_grid)))
    bad_ds = [
        p["title"]
        for p in panels
        if p.get("datasource", {}).get("uid") != datasource_uid
        or any(t.get("datasource", {}).get("uid") != datasource_uid for t in p.get("targets", []))
    ]
    checks.append(
        (f"dashboard: panels use the provisioned datasource uid {datasource_uid!r}", not bad_ds, ", ".join(bad_ds))
    )
    bad_targets = [
        p["title"]
        for p in panels
        if not p.get("targets")
        or len({t.get("refId") for t in p["targets"]}) != len(p["targets"])
        or not all(t.get("expr") for t in p["targets"])
    ]
    checks.append(("dashboard: every panel has queries with distinct refIds", not bad_targets, ", ".join(bad_targets)))
    variables = {v["name"] for v in dashboard.get("templating", {}).get("list", [])}
    used = {m for e in dashboard_queries() for m in re.findall(r"\$(\w+)", e) if not m.startswith("__")}
    checks.append(("dashboard: every $variable used is defined", used <= variables, f"used {sorted(used)}"))
    return checks


def static_checks() -> list[Check]:
    checks: list[Check] = []
    checks += [("promtool check config prometheus.yml", *_promtool("check", "config", "prometheus.yml"))]
    checks += [("promtool check rules alerts.yml", *_promtool("check", "rules", "alerts.yml"))]
    checks += [
        (
            "promtool test rules alerts.test.yml (each alert fires, and not on a healthy service)",
            *_promtool("test", "rules", "alerts.test.yml"),
        )
    ]
    checks += dashboard_structure()
    with tempfile.TemporaryDirectory() as tmp:
        rules = {
            "groups": [
                {
                    "name": "dashboard",
                    "rules": [
                        {"record": f"dashboard:query_{i}", "expr": plain_promql(e)}
                        for i, e in enumerate(dashboard_queries())
                    ],
                }
            ]
        }
        path = Path(tmp) / "dashboard-queries.yml"
        path.write_text(json.dumps(rules))  # JSON is YAML
        ok, detail = _promtool("check", "rules", str(path), cwd=Path(tmp))
        checks.append(
            (f"every dashboard query parses as PromQL ({len(dashboard_queries())} queries, promtool)", ok, detail)
        )
    return checks


def _get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def exported_names(target: str) -> set[str]:
    with urllib.request.urlopen(f"http://{target}/metrics", timeout=10) as response:
        text = response.read().decode()
    names = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            name, kind = line.split()[2:4]
            names.add(name)
            if kind == "counter":
                names.add(f"{name}_total")
            if kind == "histogram":
                names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names


def check_live(targets: list[str], work: Path, timeout: float = 60) -> list[Check]:
    """Metric names against the live targets, then a Prometheus on loopback scraping them."""
    checks: list[Check] = []
    exported: set[str] = set()
    for target in targets:
        exported |= exported_names(target)
    exported.add("up")
    wanted = metric_names(alert_queries() + dashboard_queries())
    missing = sorted(wanted - exported)
    checks.append(
        (
            f"every metric the alerts and the dashboard use is exported by the live service ({len(wanted)})",
            not missing,
            "missing: " + ", ".join(missing) if missing else "",
        )
    )
    if not shutil.which("prometheus"):
        return [*checks, ("Prometheus scrape of the live service", False, "prometheus is not installed")]
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    shutil.copy(HERE / "alerts.yml", work / "alerts.yml")
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": ["alerts.yml"],
        "scrape_configs": [{"job_name": "plugin-service", "static_configs": [{"targets": targets}]}],
    }
    (work / "prometheus.yml").write_text(json.dumps(config))
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api/v1"
    with (work / "prometheus.log").open("w") as log:
        proc = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={work / 'prometheus.yml'}",
                f"--storage.tsdb.path={work / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + timeout
        health: list[str] = []
        while time.monotonic() < deadline:
            try:
                active = _get_json(f"{api}/targets")["data"]["activeTargets"]
                health = [t["health"] for t in active]
                groups = _get_json(f"{api}/rules")["data"]["groups"]
                rules = [r for g in groups for r in g["rules"]]
                if (
                    health.count("up") == len(targets)
                    and rules
                    and all(
                        r.get("lastEvaluation", "").startswith("2") and not r["lastEvaluation"].startswith("0001")
                        for r in rules
                    )
                ):
                    break
            except (OSError, KeyError, ValueError):
                pass
            time.sleep(1)
        checks.append(
            (
                f"Prometheus on loopback scrapes {len(targets)} live plugin-service targets (up)",
                health.count("up") == len(targets),
                f"health {health}",
            )
        )
        groups = _get_json(f"{api}/rules")["data"]["groups"]
        rules = [r for g in groups for r in g["rules"]]
        bad = [f"{r['name']}: {r.get('lastError', r.get('health'))}" for r in rules if r.get("health") != "ok"]
        checks.append(
            (
                f"Prometheus evaluates the {len(rules)} alert rules on live data without error",
                bool(rules) and not bad,
                "; ".join(bad),
            )
        )
        firing = [
            a["labels"]["alertname"] for a in _get_json(f"{api}/alerts")["data"]["alerts"] if a["state"] == "firing"
        ]
        checks.append(("no alert fires on the healthy stack", not firing, ", ".join(firing)))
        failed, empty = [], 0
        for expr in dashboard_queries():
            query = urllib.parse.urlencode({"query": plain_promql(expr)})
            try:
                answer = _get_json(f"{api}/query?{query}")
                empty += 0 if answer["data"]["result"] else 1
            except OSError as exc:
                failed.append(f"{expr[:50]}: {exc}")
        checks.append(
            (
                f"Prometheus answers every dashboard query on live data ({len(dashboard_queries())})",
                not failed,
                "; ".join(failed) or f"{empty} returned no series yet (no such traffic in this run)",
            )
        )
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    return checks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--live", nargs="*", default=[], metavar="HOST:PORT", help="running plugin services to scrape")
    args = parser.parse_args(argv)
    if not shutil.which("promtool"):
        print("promtool not found (apt-get install prometheus)", file=sys.stderr)
        return 2
    checks = static_checks()
    if args.live:
        checks += check_live(args.live, Path(tempfile.mkdtemp(prefix="prometheus-check-")))
    for label, ok, detail in checks:
        print(f"[{'ok' if ok else 'FAIL'}] {label}" + (f": {detail}" if detail and not ok else ""))
    return 0 if all(ok for _, ok, _ in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
