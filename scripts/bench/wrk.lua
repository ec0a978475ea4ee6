-- wrk.lua -- request shape and the result line scripts/bench.sh parses.
-- BENCH_BODY=N (environment) sends a POST with an N-byte text body.
local n = tonumber(os.getenv("BENCH_BODY") or "0")
if n > 0 then
    wrk.method = "POST"
    wrk.body = string.rep("abcdefghijklmnopqrstuvwxyz01234\n", math.floor(n / 32)) ..
               string.rep("z", n % 32)
    wrk.headers["Content-Type"] = "text/plain"
end

done = function(summary, latency, requests)
    local e = summary.errors
    io.write(string.format("RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d p999_us=%d " ..
                           "errors=%d\n", summary.requests, summary.duration,
                           latency:percentile(50), latency:percentile(99),
                           latency:percentile(99.9),
                           e.connect + e.read + e.write + e.status + e.timeout))
end
