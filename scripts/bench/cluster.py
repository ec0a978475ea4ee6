#!/usr/bin/env python3
"""cluster.py -- one Redis server vs a 3-shard Redis Cluster, in the same run.

    cluster.py --gateway BIN --echo BIN --out DIR [--duration S] [--conns C]
               [--instances N] [--heartbeat-seconds S] [--shards K]

For each set-up (one redis-server; K primaries of redis-server
--cluster-enabled, no replicas) it starts the gateway and N echo instances
(their request channels spread over the shards by their random ids), runs wrk
(GET /echo/x, C connections, S seconds, after a 1 s warm-up), and reads the
CPU time (utime+stime, /proc/<pid>/stat) of every Redis process, the gateway
and the services around the measured run. Then 1,000 instances heartbeating
every second (heartbeat.py, plain PUBLISH on the registration channel) for the
heartbeat seconds: the CPU of every Redis node, since a PUBLISH on a cluster
reaches every node. Prints a table and writes DIR/cluster-results.json.

Processes are started by the test harness helpers (tests/integration: harness.py,
cluster.py) and stopped by PID."""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "..", "tests", "integration"))
import harness  # noqa: E402
import cluster as clustermod  # noqa: E402

HZ = os.sysconf("SC_CLK_TCK")


def ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def wrk(url, conns, secs):
    out = subprocess.run(["wrk", "-t2" if conns > 1 else "-t1", "-c%d" % conns, "-d%ds" % secs,
                          "--timeout", "5s", "-s", os.path.join(here, "wrk.lua"), url],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=secs + 60)
    for line in out.stdout.decode(errors="replace").splitlines():
        if line.startswith("RESULT "):
            return dict((k, int(v)) for k, v in (kv.split("=") for kv in line.split()[1:]))
    raise RuntimeError("wrk gave no result: %s" % out.stdout[-500:])


def run_setup(kind, args, tmp):
    res = {"setup": kind}
    single = cl = gw = None
    echos = []
    try:
        if kind == "single":
            single = harness.Redis(tmp).start()
            url, nodes = single.url, [("redis", single.port, single.proc.pid)]
        else:
            cl = clustermod.Cluster(tmp, primaries=args.shards, replicas=0).start()
            url = cl.url
            nodes = [("shard%d" % i, n.port, n.proc.pid) for i, n in enumerate(cl.nodes)]
        gw = harness.Gateway(tmp, url, ["--log-level", "warn"], name="gw-" + kind).start()
        gw.wait_healthy(30)
        for i in range(args.instances):
            err = open(os.path.join(tmp, "echo-%s-%d.log" % (kind, i)), "wb")
            p = subprocess.Popen([args.echo, "--redis", url], stdout=err, stderr=err,
                                 stdin=subprocess.DEVNULL)
            err.close()
            harness._track(p)
            echos.append(p)
        harness.wait_until(lambda: len(gw.route_instances("*", "/echo/*")) == args.instances, 30,
                           0.05, "echo instances registered")
        if cl is not None:
            def shard(ch):
                port = cl.owner(cl.keyslot(ch)).port
                return [n[0] for n in nodes if n[1] == port][0]
            insts = gw.route_instances("*", "/echo/*")
            res["placement"] = {"reply": shard(gw.reply_channel),
                                "instances": sorted(shard("%s:svc:%s" % (harness.PREFIX, i))
                                                    for i in insts)}
        target = "http://%s:%d/echo/x" % (harness.HOST, gw.port)
        wrk(target, args.conns, 1)  # warm-up
        pids = [n[2] for n in nodes]
        # each node's own background (cluster bus, PINGs, expiry), measured
        # idle for as long as the load: subtracted for the per-request figure
        before = [ticks(p) for p in pids]
        time.sleep(args.duration)
        idle = [ticks(p) - b for p, b in zip(pids, before)]
        before = [ticks(p) for p in pids]
        gw0, echo0 = ticks(gw.pid), sum(ticks(p.pid) for p in echos)
        r = wrk(target, args.conns, args.duration)
        after = [ticks(p) for p in pids]
        gw1, echo1 = ticks(gw.pid), sum(ticks(p.pid) for p in echos)
        reqs = max(1, r["requests"])
        res["rps"] = round(r["requests"] * 1e6 / r["duration_us"])
        res["requests"] = r["requests"]
        res["errors"] = r["errors"]
        res["p99_us"] = r["p99_us"]
        res["redis_us_per_req"] = {n[0]: round((a - b) * 1e6 / HZ / reqs, 2)
                                   for n, a, b in zip(nodes, after, before)}
        res["redis_us_per_req_total"] = round(sum(res["redis_us_per_req"].values()), 2)
        res["redis_idle_us_per_req"] = {n[0]: round(i * 1e6 / HZ / reqs, 2)
                                        for n, i in zip(nodes, idle)}
        res["redis_net_us_per_req"] = {
            n[0]: round(max(0, (a - b) - i) * 1e6 / HZ / reqs, 2)
            for n, a, b, i in zip(nodes, after, before, idle)}
        res["gateway_us_per_req"] = round((gw1 - gw0) * 1e6 / HZ / reqs, 2)
        res["services_us_per_req"] = round((echo1 - echo0) * 1e6 / HZ / reqs, 2)
        if args.heartbeat_seconds > 0:
            before = [ticks(p) for p in pids]
            hb = subprocess.run([sys.executable, os.path.join(here, "heartbeat.py"), harness.HOST,
                                 str(nodes[0][1]), harness.PREFIX, "1000",
                                 str(args.heartbeat_seconds)],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                timeout=args.heartbeat_seconds + 60)
            after = [ticks(p) for p in pids]
            res["heartbeat_sent"] = hb.stdout.decode(errors="replace").strip()[-100:]
            res["heartbeat_redis_cpu_pct"] = {
                n[0]: round((a - b) * 100.0 / HZ / args.heartbeat_seconds, 2)
                for n, a, b in zip(nodes, after, before)}
    finally:
        for p in echos:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
            harness._untrack(p)
        if gw is not None:
            gw.stop(check_clean=False)
        if single is not None:
            single.stop()
        if cl is not None:
            cl.close()
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gateway", required=True)
    ap.add_argument("--echo", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--conns", type=int, default=50)
    ap.add_argument("--instances", type=int, default=3)
    ap.add_argument("--shards", type=int, default=3)
    ap.add_argument("--heartbeat-seconds", type=int, default=10)
    args = ap.parse_args()
    args.gateway, args.echo = os.path.abspath(args.gateway), os.path.abspath(args.echo)
    os.environ["GATEWAY_BIN"] = args.gateway
    tmp = tempfile.mkdtemp(prefix="portico-bench-cluster-", dir=args.out)
    results = [run_setup("single", args, os.path.join(tmp, "single")),
               run_setup("cluster", args, os.path.join(tmp, "cluster"))]
    s, c = results
    single_us = max(0.001, s["redis_us_per_req_total"])
    summary = {
        "rps_ratio": round(c["rps"] / max(1, s["rps"]), 3),
        "mean_shard_vs_single": round(c["redis_us_per_req_total"] / args.shards / single_us, 3),
        "busiest_shard_vs_single": round(max(c["redis_us_per_req"].values()) / single_us, 3),
        "cluster_total_vs_single": round(c["redis_us_per_req_total"] / single_us, 3),
    }
    single_net = max(0.001, sum(s["redis_net_us_per_req"].values()))
    summary["net_mean_shard_vs_single"] = round(
        sum(c["redis_net_us_per_req"].values()) / args.shards / single_net, 3)
    summary["net_busiest_shard_vs_single"] = round(
        max(c["redis_net_us_per_req"].values()) / single_net, 3)
    with open(os.path.join(args.out, "cluster-results.json"), "w") as f:
        json.dump({"results": results, "summary": summary, "conns": args.conns,
                   "duration": args.duration, "instances": args.instances,
                   "loadavg": os.getloadavg()}, f, indent=1)
    print("%-8s %9s %7s %-40s %9s %9s" % ("setup", "req/s", "p99 ms", "Redis CPU us/request (each node)",
                                        "gateway", "services"))
    for r in results:
        print("%-8s %9d %7.1f %-40s %9.1f %9.1f" % (
            r["setup"], r["rps"], r["p99_us"] / 1000.0,
            " ".join("%.1f" % v for v in r["redis_us_per_req"].values()),
            r["gateway_us_per_req"], r["services_us_per_req"]))
    print("cluster/single req/s: %.2f; Redis CPU per request, against one server's: mean shard %.2f,"
          " busiest shard %.2f, all shards %.2f" % (
              summary["rps_ratio"], summary["mean_shard_vs_single"],
              summary["busiest_shard_vs_single"], summary["cluster_total_vs_single"]))
    print("the same without each node's idle background (measured idle for as long): "
          "mean shard %.2f, busiest shard %.2f; idle us/request per node: %s" % (
              summary["net_mean_shard_vs_single"], summary["net_busiest_shard_vs_single"],
              " / ".join(" ".join("%.2f" % v for v in r["redis_idle_us_per_req"].values())
                         for r in results)))
    for r in results:
        if "placement" in r:
            print("placement (%s): %s" % (r["setup"], r["placement"]))
    for r in results:
        if "heartbeat_redis_cpu_pct" in r:
            print("1,000 heartbeats/s (%s): Redis CPU %% per node: %s" % (
                r["setup"], " ".join("%.1f" % v for v in r["heartbeat_redis_cpu_pct"].values())))
    print("load average at the end: %.2f %.2f %.2f" % os.getloadavg())


if __name__ == "__main__":
    main()
