#!/usr/bin/env python3
"""bench_table.py — turn scripts/bench.sh's raw results (one JSON line per run) into the
side-by-side Markdown tables: each figure the median of its runs with the min-max beside it,
its ceiling, the ratio to the ceiling and the target ratio.

usage: bench_table.py RESULTS.jsonl RUNS SECONDS
"""
import json
import os
import statistics
import sys
from collections import defaultdict


def load(path):
    by = defaultdict(list)
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                r = json.loads(line)
            except ValueError:
                continue
            by[(r["kind"], r["label"])].append(r["data"])
    return by


def fmt_n(v):
    if v is None:
        return "–"
    if v >= 100:
        return f"{v:,.0f}"
    return f"{v:.2f}" if v < 10 else f"{v:.1f}"


def stat(vals):
    vals = [v for v in vals if v is not None]
    if not vals:
        return None, None, None
    return statistics.median(vals), min(vals), max(vals)


def spread(vals, unit=""):
    med, lo, hi = stat(vals)
    if med is None:
        return "–"
    s = f"{fmt_n(med)}{unit}"
    if len(vals) > 1:
        s += f" ({fmt_n(lo)}–{fmt_n(hi)})"
    return s


def good(runs):
    return [d for d in runs if not d.get("failed") and d.get("errors", 0) == 0]


def tput(runs):
    return [d.get("throughput") for d in runs]


def lat(runs, hist, p):
    out = []
    for d in runs:
        h = d.get("latency_ms", {}).get(hist)
        if h and h.get("count", 1):
            out.append(h.get(p))
    return out


def first_hist(d):
    h = d.get("latency_ms", {})
    return next(iter(h)) if h else None


def targets(by, ceil):
    """Issue #14's targets: this tree ("new") beside BENCH_BASE ("base"), when measured."""
    kinds = ("t_mem_next", "t_redis_heartbeat", "t_redis_lifecycle", "t_redis_next",
             "t_redis_select")
    if not any(by.get((k, lbl)) for k in kinds for lbl in ("new", "base")):
        return
    base_rev = os.environ.get("BENCH_BASE_REV") or ""

    def med(kind, label, field=None):
        runs_ = by.get((kind, label)) or []
        if field:
            vals = [d.get(field) for d in runs_]
        else:
            vals = tput(good(runs_))
        m, _, _ = stat(vals)
        return m, vals

    def cell(kind, label, field=None, unit=""):
        m, vals = med(kind, label, field)
        return spread(vals, unit) if m is not None else "–"

    print()
    print("## Issue #14 targets" + (f": this tree vs {base_rev} (alternating runs)" if base_rev
                                   else " (no BENCH_BASE given: this tree only)"))
    print()
    print("| figure | base | this tree | this / base | target | met |")
    print("|---|---|---|---|---|---|")

    def row(name, kind, field=None, unit="", target=None, ok=None, ratio_of=None):
        bm, _ = med(kind, "base", field)
        nm, _ = med(kind, "new", field)
        r = f"{nm / bm:.2f}x" if (bm and nm is not None) else "–"
        met = ""
        if ok and nm is not None:
            met = "yes" if ok(nm) else "NO"
        print(f"| {name} | {cell(kind, 'base', field, unit) if base_rev else '–'} | "
              f"{cell(kind, 'new', field, unit)} | {r} | {target or '–'} | {met} |")

    row("memory: lifecycle submit→complete+next (2 requests), tasks/s", "t_mem_next",
        unit="", target="≥ 30,000 tasks/s", ok=lambda v: v >= 30000)
    post = ceil.get("nginx_post")
    hb_b, _ = med("t_redis_heartbeat", "base")
    hb_n, _ = med("t_redis_heartbeat", "new")
    row("redis: heartbeat (1,000 agents), req/s", "t_redis_heartbeat")
    if post:
        rb = f"{hb_b / post:.2f}" if hb_b else "–"
        rn = f"{hb_n / post:.2f}" if hb_n else "–"
        met = ("yes" if hb_n / post >= 0.3 else "NO") if hb_n else ""
        print(f"| redis: heartbeat ÷ nginx POST ({fmt_n(post)} req/s) | {rb if base_rev else '–'} "
              f"| {rn} | | ≥ 0.3 | {met} |")
    row("redis: lifecycle submit→claim→complete (3 requests), tasks/s", "t_redis_lifecycle")
    row("redis: lifecycle submit→complete+next (2 requests), tasks/s", "t_redis_next")
    lc_b, _ = med("t_redis_lifecycle", "base")
    nx_n, _ = med("t_redis_next", "new")
    if base_rev and lc_b and nx_n:
        x = nx_n / lc_b
        print(f"| redis: lifecycle throughput, this tree (2 requests) ÷ base (3 requests) | | "
              f"{x:.2f}x | | ≥ 2.5x | {'yes' if x >= 2.5 else 'NO'} |")
    for kind, what in (("t_redis_lifecycle", "3 requests"), ("t_redis_next", "2 requests")):
        row(f"redis: Redis CPU µs per lifecycle ({what}, INFO)", kind + "_cost",
            "redis_cpu_us_per_task", target="≤ 110 µs", ok=lambda v: v <= 110)
        row(f"redis: commands' µs per lifecycle ({what}, commandstats)", kind + "_cost",
            "redis_us_per_task")
        row(f"redis: FCALLs per lifecycle ({what})", kind + "_cost", "fcalls_per_task")
    row("redis: select (1,000 agents), calls/s", "t_redis_select", target="≥ 5,000 calls/s",
        ok=lambda v: v >= 5000)


def main():
    path, runs, secs = sys.argv[1], sys.argv[2], sys.argv[3]
    by = load(path)
    print()
    print(f"## Side by side (median of {runs} runs of {secs} s; min–max in brackets)")
    print()
    ceil = {}
    for key in ("nginx_get", "nginx_post"):
        m, _, _ = stat(tput(by.get((key, "-"), [])))
        ceil[key] = m
    redis1, _, _ = stat(tput(by.get(("redis_evalsha_p1", "-"), [])))

    print("| scenario | store | value | p50 / p99 ms | ceiling | ratio | target | met |")
    print("|---|---|---|---|---|---|---|---|")

    def row(name, store, runs_, unit, hist, ceiling_key, target, target_kind="ratio", note="",
            rate=None):
        if not runs_:
            if note:
                print(f"| {name} | {store} | not measured{note} | | | | {target or '–'} | |")
            return
        ok = good(runs_)
        bad = len(runs_) - len(ok)
        use = ok or runs_
        value = spread(tput(use), " " + unit)
        h = hist or first_hist(use[0])
        p50, _, _ = stat(lat(use, h, "p50"))
        p99s = lat(use, h, "p99")
        p99, _, _ = stat(p99s)
        lat_s = f"{fmt_n(p50)} / {fmt_n(p99)}" if p50 is not None else "–"
        c = ceil.get(ceiling_key) if ceiling_key else None
        med, _, _ = stat(tput(use))
        ratio = med / c if (c and med is not None) else None
        met = ""
        if target_kind == "ratio" and target and ratio is not None:
            met = "yes" if ratio >= target else "NO"
        if target_kind == "p99" and target and p99 is not None:
            met = "yes" if p99 < target else "NO"
            value = f"p99 {spread(p99s, ' ms')} at {fmt_n(med)} {unit}"
            if rate and med is not None and med < 0.95 * rate:
                met = f"NO (offered {fmt_n(rate)}/s, kept up with {fmt_n(med)}/s)"
        if bad:
            met += f" ({bad} run(s) with errors)"
        cs = f"{fmt_n(c)} ({ceiling_key.replace('_', ' ')})" if c else "–"
        rs = f"{ratio:.2f}" if ratio is not None else "–"
        ts = (f"≥ {target}" if target_kind == "ratio" else f"p99 < {target} ms") if target else "–"
        print(f"| {name} | {store} | {value} | {lat_s} | {cs} | {rs} | {ts} | {met} |")

    row("nginx GET, wrk -t1 -c50", "–", by.get(("nginx_get", "-")), "req/s", "request", None, None)
    row("nginx POST, wrk -t1 -c50", "–", by.get(("nginx_post", "-")), "req/s", "request", None, None)
    row("cp-bench raw GET on nginx (generator limit)", "–", by.get(("cpbench_nginx_get", "-")),
        "req/s", "raw", "nginx_get", None)
    row("redis EVALSHA claim-like, -c50", "–", by.get(("redis_evalsha_p1", "-")), "calls/s", None,
        None, None)
    row("redis EVALSHA claim-like, -c50 -P16", "–", by.get(("redis_evalsha_p16", "-")), "calls/s",
        None, None, None)
    stores = sorted({lbl for (k, lbl) in by if k in ("read", "lifecycle", "wakeup")},
                    key=lambda s: (s != "memory", s))
    skipped = os.environ.get("BENCH_REDIS_SKIPPED")
    if skipped and "redis" not in stores:
        stores.append("redis")
    for st in stores:
        note = f" ({skipped})" if st == "redis" and skipped else ""
        row("read GET /agents/:id", st, by.get(("read", st)), "req/s", "read", "nginx_get", 0.5,
            note=note)
        row("read GET /agents/:id, wrk -t1 -c50", st, by.get(("wrk_read", st)), "req/s",
            "request", "nginx_get", 0.5, note=note)
        row("heartbeat", st, by.get(("heartbeat", st)), "req/s", "heartbeat", "nginx_post", 0.4,
            note=note)
        row("heartbeat, wrk -t1 -c50", st, by.get(("wrk_heartbeat", st)), "req/s", "request",
            "nginx_post", 0.4, note=note)
        row("select (1,000 agents)", st, by.get(("select", st)), "req/s", "select", "nginx_get",
            None, note=note)
        row("lifecycle submit→claim→complete", st, by.get(("lifecycle", st)), "tasks/s",
            "end_to_end", "nginx_get", 0.15 if st == "memory" else 0.08, note=note)
        row("lifecycle submit→complete+next (2 requests)", st, by.get(("lifecycle_next", st)),
            "tasks/s", "end_to_end", "nginx_get", None, note=note)
        row("wakeup, 100 held claimers, 1,000/s", st, by.get(("wakeup", st)), "tasks/s",
            "wakeup", None, 2 if st == "memory" else 5, "p99", note=note, rate=1000)
        stops = by.get(("cpd_stop", st))
        if stops:
            print(f"| cpd exit on SIGTERM | {st} | {len(stops)} run(s) ended with status "
                  f"{sorted({d['status'] for d in stops})} (crash on shutdown) | | | | | NO |")
    if redis1:
        print()
        print(f"Redis ceiling for the redis store: {fmt_n(redis1)} claim-like EVALSHA/s unpipelined; "
              f"a lifecycle costs at least 3 calls, so ≤ {fmt_n(redis1 / 3)} lifecycles/s "
              "if cpd did not pipeline.")

    costs = [(k, by.get((k + "_cost", "redis"))) for k in ("lifecycle", "lifecycle_next")]
    if any(runs_ for _, runs_ in costs):
        print()
        print("## Redis cost per task lifecycle (INFO commandstats over the run, empty claims "
              "included)")
        print()
        print("| lifecycle | FCALLs / task | FCALL µs / task | all commands µs / task | "
              "Redis CPU µs / task |")
        print("|---|---|---|---|---|")
        names = {"lifecycle": "3 requests: submit, claim, complete",
                 "lifecycle_next": "2 requests: submit, complete with next"}
        for k, runs_ in costs:
            if not runs_:
                continue
            cells = [spread([d.get(f) for d in runs_]) for f in
                     ("fcalls_per_task", "fcall_us_per_task", "redis_us_per_task",
                      "redis_cpu_us_per_task")]
            print(f"| {names[k]} | " + " | ".join(cells) + " |")

    targets(by, ceil)

    submits = [(st, by.get(("submit_b1", st)), by.get(("submit_b100", st))) for st in
               sorted({lbl for (k, lbl) in by if k in ("submit_b1", "submit_b100")},
                      key=lambda s: (s != "memory", s))]
    if submits:
        print()
        print("## Submit throughput: one task per request vs batches of 100 (8 connections)")
        print()
        print("| store | POST /tasks | POST /tasks/batch (100 per request) | ratio |")
        print("|---|---|---|---|")
        for st, single, batch in submits:
            def per_s(runs_):
                return [d["tasks"]["per_s"] for d in runs_ or [] if d.get("ok")]
            s1, b1 = per_s(single), per_s(batch)
            m1, _, _ = stat(s1)
            m2, _, _ = stat(b1)
            ratio = f"{m2 / m1:.1f}x" if m1 and m2 else "–"
            print(f"| {st} | {spread(s1, ' tasks/s') if s1 else 'not measured'} | "
                  f"{spread(b1, ' tasks/s') if b1 else 'not measured'} | {ratio} |")

    sc = by.get(("scale", "memory"))
    if sc:
        d = sc[0]
        print()
        print(f"## Scale: {d['agents']:,} agents + {d['tasks']:,} pending tasks, memory store")
        print()
        print("| measure | value |")
        print("|---|---|")
        print(f"| RSS empty | {d['rss_empty_kb'] / 1024:.1f} MiB |")
        print(f"| RSS with agents | {d['rss_agents_kb'] / 1024:.1f} MiB "
              f"({(d['rss_agents_kb'] - d['rss_empty_kb']) * 1024 / d['agents']:.0f} B/agent) |")
        print(f"| RSS with agents + tasks | {d['rss_full_kb'] / 1024:.1f} MiB "
              f"({(d['rss_full_kb'] - d['rss_agents_kb']) * 1024 / d['tasks']:.0f} B/task) |")
        fa, ft = d.get("fill_agents") or {}, d.get("fill_tasks") or {}
        if fa:
            print(f"| register rate (32 conns) | {fmt_n(fa['agents']['per_s'])} agents/s |")
        if ft:
            print(f"| submit rate (32 conns) | {fmt_n(ft['tasks']['per_s'])} tasks/s |")
        for name, dd, hist in (("claim with full queue", d.get("claim"), "claim_hit"),
                               ("claim with empty queue", (by.get(("scale_empty", "memory")) or
                                                           [None])[0], "claim_empty"),
                               ("read with all agents", d.get("read"), "read")):
            if not dd:
                continue
            h = dd["latency_ms"].get(hist, {})
            print(f"| {name} | {fmt_n(dd['throughput'])} {dd['unit']}, p50 {h.get('p50')} ms, "
                  f"p99 {h.get('p99')} ms, max {h.get('max')} ms |")

    growth = [("g_agents_read", "read GET /agents/:id vs registered agents", "read", "agents"),
              ("g_agents_select", "select (4 conns) vs registered agents", "select", "agents"),
              ("g_agents_lifecycle", "lifecycle vs registered agents", "end_to_end", "agents"),
              ("g_pending_claim", "claim (block_ms 0) vs pending tasks", None, "pending"),
              ("g_held_wakeup", "wakeup at 1,000/s vs held claimers", "wakeup", "held claimers")]
    for kind, title, hist, dim in growth:
        rows = sorted(((int(lbl), d[0]) for (k, lbl), d in by.items() if k == kind),
                      key=lambda x: x[0])
        if not rows:
            continue
        print()
        print(f"### {title}")
        print()
        print(f"| {dim} | throughput | p50 ms | p90 ms | p99 ms | max ms |")
        print("|---|---|---|---|---|---|")
        for n, d in rows:
            hk = hist
            if hk is None:
                hk = "claim_hit" if d["latency_ms"].get("claim_hit", {}).get("count") else "claim_empty"
            h = d["latency_ms"].get(hk, {})
            extra = f" ({hk})" if hist is None else ""
            print(f"| {n:,} | {fmt_n(d['throughput'])} {d['unit']}{extra} | {h.get('p50')} | "
                  f"{h.get('p90')} | {h.get('p99')} | {h.get('max')} |")


if __name__ == "__main__":
    main()
