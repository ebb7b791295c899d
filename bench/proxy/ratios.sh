#!/usr/bin/env bash
# ratios.sh RESULTS_FILE... : Ferry against the peers, measured in the same run, as ratios
# against the project's performance targets. Every target row says met / MISSED / n/a
# (n/a: a side of the ratio is missing or failed). Ratios above 1 favour Ferry.
#   CONNECT bulk   ferry-http bulk_connect  / danted bulk_socks5, / squid bulk_connect  >= 1.0
#   SOCKS5 bulk    ferry-socks bulk_socks5  / danted bulk_socks5                        >= 1.0
#   absform bulk   ferry-http bulk_absform  / squid bulk_absform                        >= 1.5
#   small rps      ferry-http small_rps     / squid small_rps (keep-alive)              >= 1.2
#   newconn rps    ferry-http newconn_rps   / tinyproxy newconn_rps (Connection: close) >= 1.0
#   idle tunnel    ferry-http / ferry-socks rss_per_idle_conn                           <= 16 KiB
# A request-rate row is only "met" if Ferry's wrk run had no errors.
# Informational rows (no target): CPU seconds per GB moved, requests per CPU second.
cat "$@" | awk '
  $1 == "RESULT" {
    for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
    v[f["name"], f["metric"]] = f["value"]
  }
  function num(x) { return x ~ /^[0-9]+(\.[0-9]+)?$/ }
  function g(n, m) { return ((n, m) in v) ? v[n, m] : "-" }
  function row(label, a, b, op, target, errs,    r, st) {
    if (num(a) && num(b) && b > 0) {
      r = sprintf("%.2f", a / b)
      if (op == ">=") st = (a / b >= target + 0) ? "met" : "MISSED"
      else st = "-"
      if (st == "met" && errs != "" && errs != "0" && errs != "-") st = "MISSED (errors=" errs ")"
    } else { r = "-"; st = (op == "") ? "-" : "n/a" }
    printf "%-34s %10s %10s %7s %8s  %s\n", label, a, b, r, (op == "" ? "" : op " " target), st
  }
  function limit(label, a, target,    st) {
    st = num(a) ? ((a <= target + 0) ? "met" : "MISSED") : "n/a"
    printf "%-34s %10s %10s %7s %8s  %s\n", label, a, "-", "-", "<= " target, st
  }
  END {
    printf "%-34s %10s %10s %7s %8s  %s\n", "target (Ferry / peer)", "ferry", "peer", "ratio", "target", "status"
    row("CONNECT bulk MB/s  / danted",  g("ferry-http", "bulk_connect"), g("danted", "bulk_socks5"), ">=", "1.0")
    row("CONNECT bulk MB/s  / squid",   g("ferry-http", "bulk_connect"), g("squid", "bulk_connect"), ">=", "1.0")
    row("SOCKS5 bulk MB/s   / danted",  g("ferry-socks", "bulk_socks5"), g("danted", "bulk_socks5"), ">=", "1.0")
    row("absform bulk MB/s  / squid",   g("ferry-http", "bulk_absform"), g("squid", "bulk_absform"), ">=", "1.5")
    row("small req/s        / squid",   g("ferry-http", "small_rps"), g("squid", "small_rps"), ">=", "1.2", g("ferry-http", "small_errors"))
    row("newconn req/s      / tinyproxy", g("ferry-http", "newconn_rps"), g("tinyproxy", "newconn_rps"), ">=", "1.0", g("ferry-http", "newconn_errors"))
    limit("KiB per idle CONNECT tunnel", g("ferry-http", "rss_per_idle_conn"), 16)
    limit("KiB per idle SOCKS5 session", g("ferry-socks", "rss_per_idle_conn"), 16)
    print ""
    printf "%-34s %10s %10s %7s   (cpu-s/GB: lower is better; req/cpu-s: higher)\n", "info (Ferry / peer)", "ferry", "peer", "ratio"
    row("CONNECT cpu-s/GB   / squid",   g("ferry-http", "bulk_connect_cpu"), g("squid", "bulk_connect_cpu"), "", 0)
    row("SOCKS5 cpu-s/GB    / danted",  g("ferry-socks", "bulk_socks5_cpu"), g("danted", "bulk_socks5_cpu"), "", 0)
    row("absform cpu-s/GB   / squid",   g("ferry-http", "bulk_absform_cpu"), g("squid", "bulk_absform_cpu"), "", 0)
    row("small req/cpu-s    / squid",   g("ferry-http", "small_req_per_cpu_s"), g("squid", "small_req_per_cpu_s"), "", 0)
    row("newconn req/cpu-s  / tinyproxy", g("ferry-http", "newconn_req_per_cpu_s"), g("tinyproxy", "newconn_req_per_cpu_s"), "", 0)
  }'
