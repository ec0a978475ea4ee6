#!/usr/bin/env python3
"""report.py -- medians, ratios and targets from bench.sh's raw samples.

    report.py SAMPLES.jsonl OUT.json [NOTE]

Prints one table (req/s, p50/p99/p99.9, server-side CPU per request, RSS,
portico/nginx-proxy ratios at the same body and connection count) and the
checks, and writes the same as JSON; then the body benchmark and the
claim-check sweep (bodies.py).
"""
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bodies import report_bodies, report_claim  # noqa: E402


# portico-http is the gateway's plain listener in the HTTPS run (the same
# process as portico-https), kept apart from the main series' portico rows.
LOAD_TARGETS = ("portico", "nginx-direct", "nginx-proxy", "nginx-https", "portico-https",
                "portico-https-reload",
                "portico-http", "portico-nolog", "portico-accesslog",
                # HTTP upstreams (--routes-file) against the nginx proxy, same origin
                "nginx-proxy-up", "portico-up", "nginx-proxy-1m", "portico-up-1m",
                # the nginx proxy adding the gateway's forwarding headers
                "nginx-proxy-fwd",
                # 1 connection with every process on one CPU (placement fixed)
                "nginx-proxy-up-pin", "portico-up-pin")


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def ref_ratio(r, what):
    """r's ratio to its reference: nginx-proxy (plain), nginx-https, or the
    gateway without an access log (portico-accesslog)."""
    return (r.get("%s_ratio_vs_nginx_proxy" % what) or r.get("%s_ratio_vs_nginx_https" % what)
            or r.get("%s_ratio_vs_nolog" % what))


def main():
    samples = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
    note = sys.argv[3] if len(sys.argv) > 3 else ""
    groups = {}
    for s in samples:
        if s["target"] in LOAD_TARGETS and "handshakes" not in s and "section" not in s:
            key = (s["target"], s["body"], s["conns"], s["instances"], s["workers"])
            groups.setdefault(key, []).append(s)

    rows = []
    for key, ss in groups.items():
        target, body, conns, inst, workers = key
        rps = [s["requests"] * 1e6 / s["duration_us"] for s in ss]
        cpu = [sum(s["cpu_us"].values()) / max(1, s["requests"]) for s in ss]
        roles = {}
        for r in ss[0]["cpu_us"]:
            roles[r] = median([s["cpu_us"][r] / max(1, s["requests"]) for s in ss])
        rows.append({
            "target": target, "body": body, "conns": conns, "instances": inst, "workers": workers,
            "reps": len(ss), "rps": median(rps),
            "p50_ms": median([s["p50_us"] / 1000 for s in ss]),
            "p99_ms": median([s["p99_us"] / 1000 for s in ss]),
            "p999_ms": median([s["p999_us"] / 1000 for s in ss]),
            "errors": sum(s["errors"] for s in ss),
            "cpu_us_per_req": median(cpu), "cpu_us_per_req_by_role": roles,
            "rss_kb": {r: max(s["rss_kb"][r] for s in ss) for r in ss[0]["rss_kb"]},
        })
    order = {"nginx-direct": 0, "nginx-proxy": 1, "portico": 2, "nginx-https": 3,
             "portico-https": 4, "portico-https-reload": 5, "portico-http": 6,
             "portico-nolog": 7, "portico-accesslog": 8,
             "nginx-proxy-up": 9, "nginx-proxy-fwd": 10, "portico-up": 11, "nginx-proxy-1m": 12,
             "portico-up-1m": 13, "nginx-proxy-up-pin": 14, "portico-up-pin": 15}
    rows.sort(key=lambda r: (r["body"], r["conns"], order[r["target"]], r["instances"], r["workers"]))
    ref = {(r["body"], r["conns"]): r for r in rows if r["target"] == "nginx-proxy"}
    for r in rows:
        n = ref.get((r["body"], r["conns"]))
        if r["target"] == "portico" and n and n["rps"] and n["cpu_us_per_req"]:
            r["rps_ratio_vs_nginx_proxy"] = r["rps"] / n["rps"]
            r["cpu_ratio_vs_nginx_proxy"] = r["cpu_us_per_req"] / n["cpu_us_per_req"]
    # the access log's cost: the logging gateway against the plain one (same run)
    ref_log = {(r["body"], r["conns"]): r for r in rows if r["target"] == "portico-nolog"}
    for r in rows:
        n = ref_log.get((r["body"], r["conns"]))
        if r["target"] == "portico-accesslog" and n and n["rps"] and n["cpu_us_per_req"]:
            r["rps_ratio_vs_nolog"] = r["rps"] / n["rps"]
            r["cpu_ratio_vs_nolog"] = r["cpu_us_per_req"] / n["cpu_us_per_req"]
    # HTTP upstreams: the gateway proxying to the origin against nginx doing the same
    for pt, nt in (("portico-up", "nginx-proxy-up"), ("portico-up-1m", "nginx-proxy-1m"),
                   ("portico-up-pin", "nginx-proxy-up-pin")):
        ref_up = {(r["body"], r["conns"]): r for r in rows if r["target"] == nt}
        for r in rows:
            n = ref_up.get((r["body"], r["conns"]))
            if r["target"] == pt and n and n["rps"] and n["cpu_us_per_req"]:
                r["rps_ratio_vs_nginx_proxy"] = r["rps"] / n["rps"]
                r["cpu_ratio_vs_nginx_proxy"] = r["cpu_us_per_req"] / n["cpu_us_per_req"]
    # HTTPS: the gateway's TLS listener against nginx `listen ssl` (same run)
    ref_tls = {(r["body"], r["conns"]): r for r in rows if r["target"] == "nginx-https"}
    for r in rows:
        n = ref_tls.get((r["body"], r["conns"]))
        if r["target"] == "portico-https" and n and n["rps"] and n["cpu_us_per_req"]:
            r["rps_ratio_vs_nginx_https"] = r["rps"] / n["rps"]
            r["cpu_ratio_vs_nginx_https"] = r["cpu_us_per_req"] / n["cpu_us_per_req"]

    hdr = ("%-18s %5s %5s %4s %3s %9s %7s %7s %7s %8s %-26s %9s %6s %6s" %
           ("target", "body", "conns", "inst", "wrk", "req/s", "p50ms", "p99ms", "p99.9ms",
            "cpu us/r", "  by role (us/req)", "gwRSS kB", "x rps", "x cpu"))
    print()
    if rows:
        print(hdr)
        print("-" * len(hdr))
    for r in rows:
        roles = " ".join("%s=%.1f" % (k[:3], v) for k, v in r["cpu_us_per_req_by_role"].items())
        rss = r["rss_kb"].get("gateway", "")
        print("%-18s %5s %5d %4s %3s %9.0f %7.3f %7.3f %7.3f %8.1f %-26s %9s %6s %6s%s" % (
            r["target"], "4KiB" if r["body"] else "GET", r["conns"],
            r["instances"] or "-", r["workers"] if r["target"] == "portico" else "-",
            r["rps"], r["p50_ms"], r["p99_ms"], r["p999_ms"], r["cpu_us_per_req"], roles, rss,
            "%.2f" % ref_ratio(r, "rps") if ref_ratio(r, "rps") else "",
            "%.2f" % ref_ratio(r, "cpu") if ref_ratio(r, "cpu") else "",
            "  errors=%d" % r["errors"] if r["errors"] else ""))

    # HTTP upstreams against the nginx proxy adding the same forwarding
    # headers: whole path, and the proxy's own CPU against the gateway's
    fwd = {r["conns"]: r for r in rows if r["target"] == "nginx-proxy-fwd"}
    for r in rows:
        n = fwd.get(r["conns"])
        if r["target"] != "portico-up" or not n or not n["rps"] or not n["cpu_us_per_req"]:
            continue
        g, px = r["cpu_us_per_req_by_role"].get("gateway"), n["cpu_us_per_req_by_role"].get("proxy")
        r["rps_ratio_vs_nginx_fwd"] = r["rps"] / n["rps"]
        r["cpu_ratio_vs_nginx_fwd"] = r["cpu_us_per_req"] / n["cpu_us_per_req"]
        print("HTTP upstream, %d connection(s), against nginx adding the same forwarding headers: "
              "%.2fx req/s at %.2fx CPU per request%s" % (
                  r["conns"], r["rps_ratio_vs_nginx_fwd"], r["cpu_ratio_vs_nginx_fwd"],
                  " (gateway %.1f us, its proxy %.1f us: %.2fx)" % (g, px, g / px) if g and px else ""))

    for r in rows:
        if r["target"] == "portico-up-pin" and r.get("rps_ratio_vs_nginx_proxy"):
            print("HTTP upstream, 1 connection, wrk, proxy and origin all on one CPU (placement fixed, "
                  "for information): %.2fx req/s at %.2fx CPU per request" % (
                      r["rps_ratio_vs_nginx_proxy"], r["cpu_ratio_vs_nginx_proxy"]))

    # new TLS handshakes per second (openssl s_time -new / -reuse)
    hs = {(s["target"], s["handshakes"]): s["connections"] / s["seconds"]
          for s in samples if "handshakes" in s and s["seconds"]}
    for mode in ("new", "reuse"):
        n, p = hs.get(("nginx-https", mode)), hs.get(("portico-https", mode))
        if n or p:
            print("TLS handshakes/s (%s, s_time, one local 404 each): nginx-https %s, portico-https %s%s" % (
                "full" if mode == "new" else "resumed", "%.0f" % n if n else "-",
                "%.0f" % p if p else "-", ", ratio %.2f" % (p / n) if n and p else ""))
    handshakes = {"%s_%s_per_s" % (t, m): v for (t, m), v in hs.items()}

    checks = {}
    print()
    for s in samples:
        t = s["target"]
        if t == "redis-publish":
            parts = s["csv"].replace("'", "").split(",")
            rps = float(parts[1]) if len(parts) > 1 else None
            cpu = s["cpu_us"]["redis"] / s["requests"]
            checks.setdefault("redis_publish", []).append(
                {"pipeline": s["pipeline"], "rps": rps, "redis_cpu_us_per_publish": cpu})
            print("redis-benchmark PUBLISH (1 subscriber, 50 clients) -P %-2d %9.0f /s  redis CPU %.2f us/publish"
                  % (s["pipeline"], rps or 0, cpu))
        elif t == "idle-10k":
            add = (s["rss_held_kb"] - s["rss_before_kb"]) / 1024
            checks["idle_10k"] = {"rss_before_kb": s["rss_before_kb"], "rss_held_kb": s["rss_held_kb"],
                                  "added_mb": add}
            print("10,000 idle keep-alive connections: gateway RSS %.1f MB -> %.1f MB (+%.1f MB; target <= 30)"
                  % (s["rss_before_kb"] / 1024, s["rss_held_kb"] / 1024, add))
        elif t == "rss-settled":
            checks["rss_settled_kb"] = s["rss_kb"]
            print("gateway RSS after the whole 1-instance series, 5 s idle: %.1f MB (target <= 8)"
                  % (s["rss_kb"] / 1024))
        elif t == "upstream-1m-rss":
            b, pk, st = s["rss_before_kb"], s["rss_peak_kb"], s["rss_settled_kb"]
            checks["upstream_1m_rss"] = {"before_kb": b, "peak_kb": pk, "settled_kb": st,
                                         "peak_growth_mb": (pk - b) / 1024,
                                         "settled_growth_mb": (st - b) / 1024}
            print("1 MiB responses through an HTTP upstream at 50 connections: gateway RSS %.1f MB before, "
                  "peak %.1f MB during the loads (+%.1f), %.1f MB 5 s after (+%.1f; target < 2)"
                  % (b / 1024, pk / 1024, (pk - b) / 1024, st / 1024, (st - b) / 1024))
        elif t == "heartbeat-1000":
            pct = s["cpu_us"] / (s["seconds"] * 1e6) * 100
            checks["heartbeat_1000"] = {"seconds": s["seconds"], "gateway_cpu_pct_of_core": pct,
                                        "instances": s["instances"], "generator": s["sent"]}
            print("1,000 instances heartbeating each second: gateway CPU %.2f%% of one core (%s instances live;"
                  " target <= 5%%)" % (pct, s["instances"]))
        elif t == "router":
            per = s["ir"] / s["lookups"]
            checks.setdefault("router", {})[str(s["routes"])] = {"ir_per_lookup": per}
            print("router lookup, %5d routes: %.0f instructions/lookup (callgrind)" % (s["routes"], per))
    rt = checks.get("router", {})
    if "10" in rt and "10000" in rt:
        ratio = rt["10000"]["ir_per_lookup"] / rt["10"]["ir_per_lookup"]
        rt["ratio_10000_vs_10"] = ratio
        print("router lookup ratio 10,000/10 routes: %.2f (target <= 1.2)" % ratio)

    # The targets (2 cores, 50 connections, small GET, same run).
    targets = {}
    p50c = next((r for r in rows if r["target"] == "portico" and r["body"] == 0 and r["conns"] == 50
                 and r["instances"] == 1 and r["workers"] == 1), None)
    p1c = next((r for r in rows if r["target"] == "portico" and r["body"] == 0 and r["conns"] == 1
                and r["instances"] == 1 and r["workers"] == 1), None)
    if p50c and "rps_ratio_vs_nginx_proxy" in p50c:
        targets["throughput_ratio_ge_0.8"] = p50c["rps_ratio_vs_nginx_proxy"]
        targets["cpu_ratio_le_1.0"] = p50c["cpu_ratio_vs_nginx_proxy"]
        targets["p99_ms_le_2_at_50"] = p50c["p99_ms"]
        targets["gateway_rss_mb_le_8"] = p50c["rss_kb"].get("gateway", 0) / 1024
    if p1c:
        targets["p50_ms_le_0.15_at_1"] = p1c["p50_ms"]
    alog = next((r for r in rows if r["target"] == "portico-accesslog" and r["body"] == 0
                 and r["conns"] == 50), None)
    if alog and "rps_ratio_vs_nolog" in alog:
        targets["accesslog_rps_ratio_ge_0.95"] = alog["rps_ratio_vs_nolog"]
    # The reference's own latencies in the same run, for the latency targets.
    for key, conns, field in (("nginx_proxy_p99_ms_at_50", 50, "p99_ms"), ("nginx_proxy_p50_ms_at_1", 1, "p50_ms")):
        ref = next((r for r in rows if r["target"] == "nginx-proxy" and r["body"] == 0 and r["conns"] == conns),
                   None)
        if ref:
            targets[key] = ref[field]
    bodies = report_bodies(samples)
    claim = report_claim(samples)
    if targets:
        print()
        print("targets: " + ", ".join("%s: %.3f" % kv for kv in targets.items()))
    json.dump({"note": note, "rows": rows, "checks": checks, "targets": targets,
               "tls_handshakes": handshakes, "bodies": bodies, "claim_check": claim},
              open(sys.argv[2], "w"), indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
