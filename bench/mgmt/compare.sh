#!/usr/bin/env bash
# compare.sh RESULTS_FILE... : the management plane's overhead from a bench/proxy results file that
# has ferry-http / ferry-http-mgmt and ferry-socks / ferry-socks-mgmt. One row per metric measured
# on both: base, with management, the ratio (mgmt / base) and whether it is within the target
# (>= 0.90 for throughput and request rates; CPU per GB and memory are informational).
cat "$@" | awk '
  $1 == "RESULT" {
    for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
    v[f["name"], f["metric"]] = f["value"]; u[f["metric"]] = f["unit"]; seen[f["metric"]] = 1
  }
  function num(x) { return x ~ /^[0-9]+(\.[0-9]+)?$/ }
  function row(peer, m, target,    a, b, r, st) {
    if (!((peer, m) in v) || !((peer "-mgmt", m) in v)) return
    a = v[peer, m]; b = v[peer "-mgmt", m]
    if (num(a) && num(b) && a > 0) {
      r = sprintf("%.3f", b / a)
      st = (target == "") ? "-" : ((b / a >= target + 0) ? "met" : "MISSED")
    } else { r = "-"; st = "n/a" }
    printf "%-12s %-22s %12s %12s %7s  %s\n", peer, m " (" u[m] ")", a, b, r, st
  }
  END {
    printf "%-12s %-22s %12s %12s %7s  %s\n", "inbound", "metric", "base", "management", "ratio", "target >= 0.90"
    for (p = 1; p <= 2; p++) {
      peer = (p == 1) ? "ferry-http" : "ferry-socks"
      row(peer, "bulk_absform", 0.90); row(peer, "bulk_connect", 0.90); row(peer, "bulk_socks5", 0.90)
      row(peer, "small_rps", 0.90); row(peer, "newconn_rps", 0.90)
      row(peer, "bulk_connect_cpu", ""); row(peer, "bulk_absform_cpu", ""); row(peer, "bulk_socks5_cpu", "")
      row(peer, "small_p99", ""); row(peer, "newconn_p99", ""); row(peer, "rss_per_idle_conn", "")
    }
  }'
