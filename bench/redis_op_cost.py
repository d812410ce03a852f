#!/usr/bin/env python3
"""redis_op_cost.py — Redis server time per call of the lifecycle operations (submit, claim that
gets a task, complete, claim that finds nothing), measured with INFO commandstats (no SLOWLOG: logging
every command inside a script inflates scripts of many commands). Not a test: a measuring tool
for the Lua in lua/ (docs/redis.md, "Performance").

  redis-server --port 36379 --save '' --appendonly no &
  python3 bench/redis_op_cost.py plugins/storage/redis/lua 36379

Loads lua/ as a function library of its own (cpdcost), registers 50 agents, then 40 rounds of:
50 submits, 50 claims (each gets a task), 50 completes, 50 claims (none gets one); then 40 of
50 submits with an idempotency key (what the clients send) and 50 submits as one batch; each
round's calls pipelined. Prints Redis microseconds per task. Then the two-request lifecycle
(task_complete_next.lua: complete and claim the next task in one call): 40 rounds of 50 submits
and 50 completes-with-next (each completes the task its agent holds and claims one just
submitted), and one round of completes-with-next that find nothing; and the lifecycle totals side
by side: three requests per task (submit, claim, complete: 3 FCALLs) against two (submit,
complete with next: 2 FCALLs). It runs the rounds twice: with the change feed off (no cpd process streams events:
the key {tag}feed is absent) and on (the key is there: every changing call numbers and
publishes its changes). It flushes the server first, so it refuses a server that holds any
key. Loopback only; Python standard library only.

Times on a shared machine are noisy; two figures are not: the Redis commands each op runs inside
its script (always printed), and the instructions redis-server executes per call when it runs
under valgrind's callgrind (slow: fewer rounds with CPD_COST_ROUNDS):

  valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.%p redis-server --port 36379 \
      --save '' --appendonly no &
  CPD_COST_CALLGRIND=/tmp/cg.<pid> CPD_COST_ROUNDS=4 python3 bench/redis_op_cost.py \
      plugins/storage/redis/lua 36379
"""
import glob
import subprocess
import os
import sys

from benchlib import RespConn, lua_library, shared_modules

OPS = ("agent_register agent_heartbeat agent_unregister agent_set_health "
       "task_submit task_list task_claim task_transition reap stats claim_release "
       "conn_epoch task_extend task_retry task_purge task_submit_batch").split()
# Composed ops, as embed_lua.cmake builds them: the parts defined once after common.
PARTS = ("task_transition", "task_claim")
COMPOSED = ("task_complete_next",)


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: redis_op_cost.py LUA_DIR PORT")
    lua, port = sys.argv[1], int(sys.argv[2])
    lib = lua_library(lua, "cpdcost", "cost_", shared_modules(lua), OPS + list(COMPOSED), PARTS)
    conn = RespConn(port)
    pipe, cmd, fcall_usec = conn.pipe, conn.cmd, conn.fcall_usec
    conn.require_empty("redis_op_cost.py", port)
    cmd("FUNCTION", "LOAD", "REPLACE", lib)
    # ARGV[1] as cpd sends it: instance and connection epoch, whose key exists (every call
    # reads it: lua/common.lua begin()).
    inst, now, agents = "0123456789abcdef:000000000001", 1795900227000, 50
    tags = {"off": "{cost:}", "on": "{cost-feed:}"}  # one key space per run: nothing left over

    def fc_of(tag):
        def fc(op, *args):
            return ("FCALL", "cost_" + op, 1, tag, inst) + args
        return fc

    for tag in tags.values():
        cmd("SET", tag + "conn:0123456789abcdef", "1")
        pipe([fc_of(tag)("agent_register", now, "agent-%d" % i, "", "", "={}", "", 1)
              for i in range(agents)])

    def command_calls():
        """Calls per command name since the last CONFIG RESETSTAT (the commands scripts run
        count there too), without the FCALLs themselves and this tool's own."""
        out = {}
        for line in cmd("INFO", "commandstats").split("\r\n"):
            if line.startswith("cmdstat_"):
                name, rest = line[len("cmdstat_"):].split(":", 1)
                if name in ("fcall", "info") or name.startswith("config"):
                    continue
                d = dict(kv.split("=") for kv in rest.split(","))
                out[name.upper()] = (int(d["calls"]), int(d["usec"]))
        return out

    def cpu_usec():
        d = dict(line.split(":", 1) for line in cmd("INFO", "cpu").split("\r\n")
                 if ":" in line)
        return int((float(d["used_cpu_user"]) + float(d["used_cpu_sys"])) * 1e6)

    n = 0
    results = {}
    for feed in ("off", "on"):
        if feed == "on":
            cmd("SET", tags[feed] + "feed", "1000")
        results[feed], n = rounds(pipe, cmd, fc_of(tags[feed]), fcall_usec, cpu_usec,
                                  command_calls, now, agents, n)
    print("%-24s %24s %24s" % ("", "feed off", "feed on"))
    for name in results["off"]:
        off, on = results["off"][name], results["on"][name]
        print("%-24s %8.1f us/task %8.1f us/task   (%d calls, %d tasks each)"
              % (name, off[1] / off[2], on[1] / on[2], off[0], off[2]))
    # The commands the scripts ran, per call: deterministic (unlike the times), so a change to
    # the Lua shows here exactly.
    print()
    print("Redis commands run inside the scripts per call (feed off; feed on adds), and of the "
          "FCALL time (feed off) the share of those commands")
    for name in results["off"]:
        off, on = results["off"][name], results["on"][name]
        per = {c: k / off[0] for c, k in off[4].items()}
        extra = {c: on[4].get(c, 0) / on[0] - per.get(c, 0) for c in set(on[4]) | set(per)}
        print("%-24s %5.2f %3.0f%%  %s%s" % (
            name, sum(per.values()), 100.0 * off[5] / max(off[1], 1),
            " ".join("%s %.4g" % (c, k) for c, k in sorted(per.items(), key=lambda x: -x[1])),
            "   | feed on: " + " ".join("%+.3g %s" % (k, c) for c, k in sorted(extra.items())
                                         if abs(k) > 0.005) if any(abs(k) > 0.005
                                                                   for k in extra.values())
            else ""))
    # Per task lifecycle: FCALL time and FCALLs, three requests against two.
    lifecycles = (("3 requests (submit, claim, complete)",
                   ("submit", "claim (gets one)", "complete")),
                  ("2 requests (submit, complete+next)", ("submit", "complete+next (gets one)")))
    print()
    print("per task lifecycle (FCALL time, FCALLs, Redis CPU of the whole server)")
    print("%-38s %44s %44s" % ("", "feed off", "feed on"))
    for label, parts in lifecycles:
        row = []
        for feed in ("off", "on"):
            r = results[feed]
            us = sum(r[p][1] / r[p][2] for p in parts)
            calls = sum(r[p][0] / r[p][2] for p in parts)
            cpu = sum(r[p][3] / r[p][2] for p in parts)
            cmds = sum(sum(r[p][4].values()) / r[p][2] for p in parts)
            row.append("%6.1f us %4.2f FCALLs %5.1f cmds %6.1f us CPU" % (us, calls, cmds, cpu))
        print("%-38s %44s %44s" % (label, row[0], row[1]))
    if CALLGRIND:
        print()
        print("instructions redis-server executed (callgrind), thousands per task")
        print("%-38s %12s %12s" % ("", "feed off", "feed on"))
        for name in results["off"]:
            print("%-38s %12.1f %12.1f" % (name, *(results[f][name][6] / results[f][name][2] / 1e3
                                                  for f in ("off", "on"))))
        for label, parts in lifecycles:
            print("%-38s %12.1f %12.1f" % (label, *(sum(results[f][p][6] / results[f][p][2]
                                                        for p in parts) / 1e3
                                                    for f in ("off", "on"))))
    agent_cache_reread(pipe, cmd, cpu_usec, tags["off"], agents, results["off"])
    cmd("FLUSHALL")
    cmd("FUNCTION", "DELETE", "cpdcost")


def agent_cache_reread(pipe, cmd, cpu_usec, tag, agents, off):
    """What another process's task event costs each cpd process whose agent cache is on
    (redis_cache.c: a claim, completion, failure, requeue, release, timeout or cancellation has
    its agent read again): the agent's record in the MGET of the cache's re-read batch (layout 4:
    a record is one value). Measured as one batch per event, the case of a process that is
    otherwise idle; busy processes put several events' agents in one batch."""
    cmd("CONFIG", "RESETSTAT")
    cpu0 = cpu_usec()
    for _ in range(ROUNDS):
        for i in range(agents):
            pipe([("MGET", tag + "a:agent-%d" % i)])
    cpu = cpu_usec() - cpu0
    stats = {}
    for line in cmd("INFO", "commandstats").split("\r\n"):
        if line.startswith("cmdstat_"):
            name, rest = line[len("cmdstat_"):].split(":", 1)
            stats[name] = dict(kv.split("=") for kv in rest.split(","))
    n = ROUNDS * agents
    usec = sum(int(stats[c]["usec"]) for c in ("mget",) if c in stats)
    lifecycle = sum(off[p][1] / off[p][2] for p in ("submit", "claim (gets one)", "complete"))
    print()
    print("agent cache: another process's task event, per cpd process with the cache on: "
          "%.1f us of commands (MGET %s us/call), %.1f us Redis CPU per re-read (%d); "
          "a task's claim and completion are two events: %.1f us against the %.1f us of "
          "FCALL time of its 3-request lifecycle (feed off)"
          % (usec / n, stats.get("mget", {}).get("usec_per_call", "?"), cpu / n, n,
             2 * usec / n, lifecycle))


ROUNDS = int(os.environ.get("CPD_COST_ROUNDS", "40"))
CALLGRIND = os.environ.get("CPD_COST_CALLGRIND", "")  # the out file of callgrind, without .N


def callgrind(what):
    """Zeroes (what "-z") or dumps ("-d") the instruction counts of the redis-server running
    under callgrind; after a dump, returns the instructions it executed since the zero."""
    pid = CALLGRIND.rsplit(".", 1)[-1]
    subprocess.run(["callgrind_control", what, pid], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    if what != "-d":
        return 0
    dumps = glob.glob(CALLGRIND + ".*")
    latest = max(dumps, key=lambda f: int(f.rsplit(".", 1)[-1]))
    with open(latest) as f:
        for line in f:
            if line.startswith("totals:"):
                return int(line.split()[1])
    sys.exit("redis_op_cost.py: no totals in " + latest)


def record_id(rec):
    """The id of a record in a reply: its stored text ("<n>\\0<id>\\0...", layout 4) or an
    array."""
    if isinstance(rec, bytes):
        rec = rec.decode()
    if isinstance(rec, str):
        return rec.split("\0")[1]
    return rec[0]


def rounds(pipe, cmd, fc, fcall_usec, cpu_usec, command_calls, now, agents, n):
    names = ("submit", "claim (gets one)", "complete", "claim (empty)", "heartbeat",
             "submit with a key", "submit, batch of 50", "complete+next (gets one)",
             "complete+next (empty)")
    # calls, usec, tasks, Redis CPU usec, {command: calls run inside the scripts}
    # and the usec of those commands (the rest of the FCALL time is Lua and call overhead)
    # and (under callgrind) the instructions redis-server executed
    total = {k: [0, 0, 0, 0, {}, 0, 0] for k in names}

    # A submit item (common.lua submit_one()): id type payload priority created_at timeout_ms
    # max_retries retries attempt metadata? strategy? not_before key? backoff? est? n_caps
    # tenant ("": the default one) affinity_key ("": none) hold_ms caps...
    def item(t, key=""):
        return (t, "bench", '{"x":1}', 2, now, 300000, 3, 0, 0, "", "", 0, key, "", "", 0, "",
                "", 0)

    def measure(batches):
        for name, cmds, ok in batches:
            cmd("CONFIG", "RESETSTAT")
            cpu0 = cpu_usec()
            if CALLGRIND:
                callgrind("-z")
            replies = pipe(cmds)
            if CALLGRIND:
                total[name][6] += callgrind("-d")
            total[name][3] += cpu_usec() - cpu0  # the whole server: parsing, I/O, scripts
            for r in replies:
                if r[0] != 0 or not ok(r):
                    sys.exit("redis_op_cost.py: %s: unexpected reply %r" % (name, r[:2]))
            calls, usec = fcall_usec()
            for c, (k, u) in command_calls().items():
                total[name][4][c] = total[name][4].get(c, 0) + k
                total[name][5] += u
            total[name][0] += calls
            total[name][1] += usec
            total[name][2] += 50 if name.startswith("submit, batch") else len(cmds)

    for _ in range(ROUNDS):
        ids = ["task_%024x" % (n + i) for i in range(agents)]
        n += agents
        measure((
            ("submit", [fc("task_submit", *item(t)) for t in ids], lambda r: True),
            ("claim (gets one)", [fc("task_claim", now, "agent-%d" % i, "0", "x:%d" % i)
                                  for i in range(agents)], lambda r: bool(r[3])),
            ("complete", [fc("task_transition", now, 2, t, "=agent-%d" % i, '={"ok":true}', "",
                             -1, "1", 30000, 0, 0, "", "") for i, t in enumerate(ids)],
             lambda r: True),
            ("claim (empty)", [fc("task_claim", now, "agent-%d" % i, "0", "x:%d" % i)
                               for i in range(agents)], lambda r: not r[3]),
            ("heartbeat", [fc("agent_heartbeat", now, "agent-%d" % i, -1)
                           for i in range(agents)], lambda r: bool(r[2])),
        ))
    # The two-request lifecycle: each agent holds one task; a round submits 50 and completes the
    # held ones with next, which claims the new ones (ARGV: task_transition's 14, then the
    # claim's agent caps_mode token aging_ms).
    def complete_next(i, t):
        return fc("task_complete_next", now, 2, t, "=agent-%d" % i, '={"ok":true}', "", -1, "1",
                  30000, 0, 0, "", "", "agent-%d" % i, "0", "x:%d" % i, 0)

    held = ["task_%024x" % (n + i) for i in range(agents)]
    n += agents
    pipe([fc("task_submit", *item(t)) for t in held])
    for i, r in enumerate(pipe([fc("task_claim", now, "agent-%d" % i, "0", "x:%d" % i)
                                for i in range(agents)])):
        held[i] = record_id(r[3])
    for _ in range(ROUNDS):
        ids = ["task_%024x" % (n + i) for i in range(agents)]
        n += agents
        got = {}

        def took(r):
            nxt = r[7] if len(r) > 7 else None  # the claim's reply (short form: lua/common.lua)
            if not nxt or not nxt[3]:
                return False
            got[len(got)] = record_id(nxt[3])
            return True
        measure((
            ("submit", [fc("task_submit", *item(t)) for t in ids], lambda r: True),
            ("complete+next (gets one)", [complete_next(i, t) for i, t in enumerate(held)], took),
        ))
        held = [got[i] for i in range(agents)]
    measure((("complete+next (empty)", [complete_next(i, t) for i, t in enumerate(held)],
              lambda r: len(r) > 7 and not r[7][3]),))
    # Then the submits the clients send (with an idempotency key) and batches: after the
    # lifecycle rounds, so the claims above saw one queue as before.
    for _ in range(ROUNDS):
        keyed = ["task_%024x" % (n + i) for i in range(agents)]
        batched = ["task_%024x" % (n + agents + i) for i in range(50)]
        n += agents + 50
        measure((
            ("submit with a key", [fc("task_submit", *item(t, "=k" + t)) for t in keyed],
             lambda r: True),
            ("submit, batch of 50", [fc("task_submit_batch", 50,
                                        *[x for t in batched for x in item(t)])],
             lambda r: len(r[6]) == 50),
        ))
    return total, n


if __name__ == "__main__":
    main()
