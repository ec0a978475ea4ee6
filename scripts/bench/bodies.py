"""bodies.py -- report.py's part for the body benchmark and the claim-check
sweep (scripts/bench/bodies.sh): samples carrying "section": "bodies" or
"claim". Each function prints its table and returns what goes in the JSON."""
import statistics

SHAPES = {"get": "GET", "post": "POST", "echo": "ECHO"}
ORDER = {"nginx-proxy": 0, "portico": 1}


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def size_name(n):
    if n >= 1 << 20 and n % (1 << 20) == 0:
        return "%dMiB" % (n >> 20)
    if n >= 1024 and n % 1024 == 0:
        return "%dKiB" % (n >> 10)
    return "%dB" % n


def rows_of(samples, section, key):
    """One row per key(sample): medians over the repetitions."""
    groups = {}
    for s in samples:
        if s.get("section") == section:
            groups.setdefault(key(s), []).append(s)
    rows = []
    for k, ss in groups.items():
        done = [s for s in ss if s["requests"] > 0]  # CPU per request of runs that completed some
        roles = {r: median([s["cpu_us"][r] / s["requests"] for s in done]) for r in ss[0]["cpu_us"]}
        growth = {r: max(s["rss_peak_kb"][r] - s["rss_before_kb"][r] for s in ss)
                  for r in ss[0].get("rss_peak_kb", {})}
        rows.append({
            "target": ss[0]["target"], "shape": ss[0]["shape"], "size": ss[0]["size"],
            "conns": ss[0]["conns"], "claim_bytes": ss[0]["claim_bytes"], "reps": len(ss),
            "rps": median([s["requests"] * 1e6 / s["duration_us"] for s in ss]),
            "p50_ms": median([s["p50_us"] / 1000 for s in ss]),
            "p99_ms": median([s["p99_us"] / 1000 for s in ss]),
            "errors": sum(s["errors"] for s in ss),
            "cpu_us_per_req": median([sum(s["cpu_us"].values()) / s["requests"] for s in done]),
            "cpu_us_per_req_by_role": roles,
            # peak (VmHWM during the load) minus RSS just before it, the
            # largest over the repetitions
            "rss_growth_kb": growth,
            "rss_peak_kb": {r: max(s["rss_peak_kb"][r] for s in ss) for r in growth},
        })
    return rows


def report_bodies(samples):
    rows = rows_of(samples, "bodies", lambda s: (s["target"], s["shape"], s["size"], s["conns"]))
    if not rows:
        return None
    rows.sort(key=lambda r: (r["size"], r["shape"], r["conns"], ORDER.get(r["target"], 9)))
    ref = {(r["shape"], r["size"], r["conns"]): r for r in rows if r["target"] == "nginx-proxy"}
    for r in rows:
        n = ref.get((r["shape"], r["size"], r["conns"]))
        if r["target"] != "nginx-proxy" and n and n["rps"] and n["cpu_us_per_req"] and r["cpu_us_per_req"]:
            r["rps_ratio_vs_nginx_proxy"] = r["rps"] / n["rps"]
            r["cpu_ratio_vs_nginx_proxy"] = r["cpu_us_per_req"] / n["cpu_us_per_req"]
            if n["p50_ms"]:
                r["p50_ratio_vs_nginx_proxy"] = r["p50_ms"] / n["p50_ms"]
    hdr = ("%-12s %-5s %6s %5s %9s %8s %7s %7s %9s %-30s %13s %6s %6s" %
           ("bodies", "shape", "size", "conns", "req/s", "MB/s", "p50ms", "p99ms", "cpu us/r",
            "  by role (us/req)", "RSS grow kB", "x rps", "x cpu"))
    print()
    print("Bodies: the same bytes both ways (GET: N-byte answer; POST: N-byte request, 128-byte answer;"
          " ECHO: N both ways)")
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        moved = r["size"] * (2 if r["shape"] == "echo" else 1)
        roles = " ".join("%s=%.1f" % (k[:3], v) for k, v in r["cpu_us_per_req_by_role"].items()
                         if v is not None) or "no request completed"
        main = "gateway" if "gateway" in r["rss_growth_kb"] else "proxy"
        print("%-12s %-5s %6s %5d %9.0f %8.1f %7.3f %7.3f %9s %-30s %13s %6s %6s%s" % (
            r["target"], SHAPES.get(r["shape"], r["shape"]), size_name(r["size"]), r["conns"], r["rps"],
            r["rps"] * moved / 1e6, r["p50_ms"], r["p99_ms"],
            "%.1f" % r["cpu_us_per_req"] if r["cpu_us_per_req"] is not None else "-", roles,
            "%+d" % r["rss_growth_kb"].get(main, 0),
            "%.2f" % r["rps_ratio_vs_nginx_proxy"] if "rps_ratio_vs_nginx_proxy" in r else "",
            "%.2f" % r["cpu_ratio_vs_nginx_proxy"] if "cpu_ratio_vs_nginx_proxy" in r else "",
            "  errors=%d" % r["errors"] if r["errors"] else ""))
    # the RSS target: gateway growth at 1 MiB and 50 connections
    big = [r for r in rows if r["size"] == 1 << 20 and r["conns"] == 50]
    rss = {}
    for r in big:
        role = "gateway" if r["target"] == "portico" else "proxy"
        g = r["rss_growth_kb"].get(role)
        if g is not None:
            rss["%s_%s_kb" % (r["target"], r["shape"])] = g
    if rss:
        print("RSS growth at 1 MiB, 50 connections (peak during the load minus before; gateway target < 2 MB): " +
              ", ".join("%s %+.1f MB" % (k[:-3].replace("_", " "), v / 1024) for k, v in sorted(rss.items())))
    # issue 18's targets, where this run has the point (portico / nginx-proxy)
    targets = {}
    for r in rows:
        if r["target"] != "portico" or "rps_ratio_vs_nginx_proxy" not in r:
            continue
        name = "%s_%s_%d" % (r["shape"], size_name(r["size"]), r["conns"])
        if r["size"] == 4096 and r["shape"] == "post" and r["conns"] == 50:
            targets[name + "_x_rps_ge_1.0"] = r["rps_ratio_vs_nginx_proxy"]
            targets[name + "_x_cpu_le_1.0"] = r["cpu_ratio_vs_nginx_proxy"]
        if r["size"] == 65536 and r["conns"] == 50:
            targets[name + "_x_rps_ge_0.8"] = r["rps_ratio_vs_nginx_proxy"]
        if r["conns"] == 1 and "p50_ratio_vs_nginx_proxy" in r:
            targets[name + "_x_p50_le_1.7"] = r["p50_ratio_vs_nginx_proxy"]
        if r["size"] == 1 << 20 and r["conns"] == 50:
            targets[name + "_gateway_rss_growth_mb_lt_2"] = r["rss_growth_kb"].get("gateway", 0) / 1024
    if targets:
        print("body targets: " + ", ".join("%s: %.2f" % kv for kv in targets.items()))
    return {"rows": rows, "rss_growth_1mib_50": rss, "targets": targets}


def report_claim(samples):
    rows = rows_of(samples, "claim", lambda s: (s["size"], s["claim_bytes"]))
    if not rows:
        return None
    for r in rows:
        t = int(r["claim_bytes"])
        r["by_reference"] = t > 0 and r["size"] > t
    rows.sort(key=lambda r: (r["size"], int(r["claim_bytes"]) or 1 << 62))
    hdr = ("%-8s %-9s %-7s %9s %7s %9s %-34s" %
           ("size", "threshold", "body", "req/s", "p99ms", "cpu us/r", "  by role (us/req)"))
    print()
    print("Claim check: echo bodies (N both ways) at %d connections, gateway and service thresholds alike"
          % rows[0]["conns"])
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        roles = " ".join("%s=%.1f" % (k[:3], v) for k, v in r["cpu_us_per_req_by_role"].items()
                         if v is not None) or "no request completed"
        t = int(r["claim_bytes"])
        print("%-8s %-9s %-7s %9.0f %7.3f %9s %-34s%s" % (
            size_name(r["size"]), size_name(t) if t else "off", "by ref" if r["by_reference"] else "inline",
            r["rps"], r["p99_ms"], "%.1f" % r["cpu_us_per_req"] if r["cpu_us_per_req"] is not None else "-",
            roles,
            "  errors=%d" % r["errors"] if r["errors"] else ""))
    # per size: inline against by reference (medians over the thresholds that
    # gave each), and which is cheaper
    verdict = {}
    print()
    for size in sorted({r["size"] for r in rows}):
        inl = [r for r in rows if r["size"] == size and not r["by_reference"]]
        ref = [r for r in rows if r["size"] == size and r["by_reference"]]
        if not inl or not ref:
            continue
        ci, cr = median([r["cpu_us_per_req"] for r in inl]), median([r["cpu_us_per_req"] for r in ref])
        ri, rr = median([r["rps"] for r in inl]), median([r["rps"] for r in ref])
        if ci is None or cr is None or not ri or not rr:
            print("%-8s no request completed one way: no comparison" % size_name(size))
            continue
        verdict[size] = {"inline_cpu_us": ci, "ref_cpu_us": cr, "inline_rps": ri, "ref_rps": rr,
                         "cheaper_cpu": "by reference" if cr < ci else "inline",
                         "faster": "by reference" if rr > ri else "inline"}
        print("%-8s inline %7.1f us/req %8.0f req/s | by reference %7.1f us/req %8.0f req/s"
              " -> CPU: %s (%.2fx), req/s: %s (%.2fx)" % (
                  size_name(size), ci, ri, cr, rr, verdict[size]["cheaper_cpu"], cr / ci,
                  verdict[size]["faster"], rr / ri))
    # the threshold the measurement points at: by reference from the smallest
    # size from which it is cheaper in CPU at every larger size measured
    sizes = sorted(verdict)
    cross = None
    for i, size in enumerate(sizes):
        if all(verdict[s]["cheaper_cpu"] == "by reference" for s in sizes[i:]):
            cross = size
            break
    below = max((s for s in sizes if cross is None or s < cross), default=None)
    if cross is None:
        print("by CPU per request: inline is cheaper at every size measured (up to %s)" % size_name(sizes[-1]))
    elif below is None:
        print("by CPU per request: by reference is cheaper at every size measured (from %s)" % size_name(cross))
    else:
        print("by CPU per request: inline up to %s, by reference from %s on: a threshold in [%s, %s)" % (
            size_name(below), size_name(cross), size_name(below), size_name(cross)))
    return {"rows": rows, "by_size": {str(k): v for k, v in verdict.items()},
            "ref_cheaper_from": cross, "inline_cheaper_up_to": below}
