"""report.py — the fleet benchmark's figures: computed from the mock provider's counters (the
yardstick: 429s, tokens per provider minute, per-tenant tokens, cached tokens) and from the
simulator's own records (waits, warm turns, retries), printed side by side per mode."""

import math


def percentile(values, p):
    if not values:
        return None
    v = sorted(values)
    return v[min(len(v) - 1, max(0, int(math.ceil(p / 100.0 * len(v))) - 1))]


class ModeResult:
    def __init__(self, sim, stats, t0, t_end):
        a = sim.a
        self.mode, self.features = sim.mode, (sim.features.describe() if sim.fleet else "")
        self.errors = list(sim.errors)
        cnt = stats["counters"]
        self.calls = cnt.get("requests", 0)
        self.r429 = cnt.get("rate_limited", 0)
        self.cached = cnt.get("cached_tokens", 0)
        self.prefix = cnt.get("prefix_tokens", 0)
        self.tpm = a.tpm
        self.weights = {t.name: t.weight for t in sim.tenants}
        total_w = float(sum(self.weights.values()))
        self.weight_share = {n: w / total_w for n, w in self.weights.items()}
        # (share of TPM, {tenant: share of the normal band's tokens}, chat tokens' share):
        # fair share applies within a priority band; conversation turns (band high, tenant
        # label "<tenant>:chat" at the provider) are counted apart.
        self.windows = []
        for i in range(a.windows):
            w = stats["per_window"].get(str(i), {"tokens": 0, "by_tenant": {}})
            tok = w["tokens"]
            normal = sum(w["by_tenant"].get(n, 0) for n in self.weights)
            self.windows.append((tok / float(a.tpm),
                                 {n: (w["by_tenant"].get(n, 0) / float(normal) if normal
                                      else 0.0) for n in self.weights},
                                 (tok - normal) / float(tok) if tok else 0.0))
        with sim.work.lock:  # agents may still be finishing a call: take a snapshot
            records = list(sim.work.records.values())
        with sim.lock:
            completions = list(sim.completions.values())
            max_in_flight = list(sim.max_in_flight.values())
        submitted = [r for r in records if r.submitted is not None and r.submitted < t_end]
        self.offered = sum(r.tokens for r in submitted) / float(a.tpm * a.windows)
        served = [r for r in submitted if r.served is not None and r.served < t_end]
        self.completed = sum(1 for r in served if r.done)
        self.failed_final = sim.fails_final
        self.fails = sim.fails
        self.retries = sum(r.retries for r in submitted)
        # Wait: from submission to the provider call that succeeded; a task still waiting at
        # the end counts with the time it has waited so far (a lower bound, shown as >=).
        self.waits = {}
        for n in list(self.weights) + ["chat"]:
            mine = lambda r: (r.conv is not None) if n == "chat" else (r.tenant == n
                                                                        and r.conv is None)
            done = [(r.served - r.submitted) / sim.scale for r in served if mine(r)]
            open_ = [(t_end - r.submitted) / sim.scale for r in submitted
                     if mine(r) and (r.served is None or r.served >= t_end) and not r.failed]
            self.waits[n] = (done, open_)
        self.warm = (sim.work.warm_hits, sim.work.warm_turns)
        self.waiting = dict(sim.waiting)  # window -> {tenant: least waiting sampled}
        self.tolerance = a.share_tolerance
        self.backlog = {t.name: t.backlog for t in sim.tenants}
        comp = completions or [0]
        self.busiest = (max(comp), sum(comp) / float(max(1, a.agents)))
        self.max_in_flight = max(max_in_flight or [0])
        self.slots = a.slots

    def wait_p(self, tenant, p):
        done, open_ = self.waits[tenant]
        v = percentile(done + open_, p)
        if v is None:
            return "-"
        censored = open_ and v >= min(open_)
        return "%s%.0f s" % (">=" if censored else "", v)


def _pct(x):
    return "%.1f %%" % (100.0 * x)


def print_table(a, results):
    print()
    print("AI-fleet dispatch (bench_fleet): %d agents x %d slots on %d cpd process(es), %s; "
          "mock provider %d RPM / %d TPM, %s window, provider minute = %.0f real s; "
          "%d minutes measured per mode"
          % (a.agents, a.slots, a.processes,
             "one Redis" if a.store == "redis" else "memory store", a.rpm, a.tpm, a.window,
             a.minute, a.windows))
    print("Times are provider (model) time: real seconds x %.1f." % (60.0 / a.minute))
    rows = []

    def row(label, fn):
        rows.append([label] + [fn(r) for r in results])

    row("offered load (x TPM, flood backlog included)", lambda r: "%.2f" % r.offered)
    row("provider calls / 429s", lambda r: "%d / %d (%s)" % (
        r.calls, r.r429, _pct(r.r429 / float(max(1, r.calls)))))
    row("TPM used: mean (lowest minute)", lambda r: "%s (%s)" % (
        _pct(sum(w[0] for w in r.windows) / len(r.windows)), _pct(min(w[0] for w in r.windows))))
    row("tasks completed", lambda r: str(r.completed))
    row("fail calls / retries counted / failed for good", lambda r: "%d / %d / %d" % (
        r.fails, r.retries, r.failed_final))
    names = list(results[0].weights) if results else []
    for n in names:
        row("tenant %s share of band normal, per minute: min-max (weight %s)"
            % (n, _pct(results[0].weight_share[n])),
            lambda r, n=n: "%s - %s" % (_pct(min(w[1][n] for w in r.windows)),
                                        _pct(max(w[1][n] for w in r.windows))))
    for n in names + ["chat"]:
        row(("tenant %s wait p50 / p99" % n) if n != "chat" else "chat turns wait p50 / p99",
            lambda r, n=n: "%s / %s" % (r.wait_p(n, 50), r.wait_p(n, 99)))
    row("chat turns' share of tokens (band high), per minute", lambda r: "%s - %s" % (
        _pct(min(w[2] for w in r.windows)), _pct(max(w[2] for w in r.windows))))
    row("conversation turns to the warm agent", lambda r: "%s (%d of %d)" % (
        _pct(r.warm[0] / float(max(1, r.warm[1]))), r.warm[0], r.warm[1]))
    row("cached input tokens (of cacheable prefix)", lambda r: "%d (%s)" % (
        r.cached, _pct(r.cached / float(max(1, r.prefix)))))
    row("busiest agent: completions (mean) / max in flight",
        lambda r: "%d (%.1f) / %d of %d" % (r.busiest[0], r.busiest[1], r.max_in_flight,
                                            r.slots))
    header = ["", *[r.mode for r in results]]
    widths = [max(len(str(x[i])) for x in rows + [header]) for i in range(len(header))]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"
    print(line(header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print(line(r))
    for r in results:
        print_windows(r, names)
        if r.features:
            print("  features: " + r.features)
        for e in r.errors[:5]:
            print("  error: " + e)


def print_windows(r, names):
    """Per provider minute: TPM used, chat's share, each tenant's share of band normal against
    its weight, the least each tenant had waiting (sampled from GET /tenants; 0 = it ran out of
    queued work in that minute, so a share below its weight is not unfair), and pass/fail:
    every tenant within r.tolerance points of its weight."""
    print("\n%s, per provider minute (flood backlog %d tasks; b, c queued at start %d, %d): "
          "band normal shares vs weights %s, pass = all within +-%.0f points"
          % (r.mode, r.backlog.get("flood", 0), r.backlog.get("b", 0), r.backlog.get("c", 0),
             " / ".join("%s %s" % (n, _pct(r.weight_share[n])) for n in names), r.tolerance))
    print("  minute | TPM used | chat    | " + " | ".join("%-7s" % n for n in names) +
          " | least waiting (%s) | pass" % " / ".join(names))
    passed = 0
    for i, (used, shares, chat) in enumerate(r.windows):
        ok = all(abs(shares[n] - r.weight_share[n]) * 100.0 <= r.tolerance for n in names)
        passed += ok
        low = r.waiting.get(i, {})
        lw = " / ".join(str(low[n]) if n in low else "-" for n in names)
        print("  %6d | %8s | %7s | %s | %-18s | %s" % (
            i + 1, _pct(used), _pct(chat), " | ".join("%-7s" % _pct(shares[n]) for n in names),
            lw, "pass" if ok else "FAIL"))
    print("  windows within +-%.0f points: %d of %d" % (r.tolerance, passed, len(r.windows)))
