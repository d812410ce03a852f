#!/usr/bin/env python3
"""redis_tenant_cost.py — Redis server time of a claim with tenants (fair share, lua/tenant.lua)
as the number of tenants with waiting work grows: 1, 10 and 100 tenants. Not a test: a
measuring tool (docs/redis.md "Tenants").

  redis-server --port 36379 --save '' --appendonly no &
  python3 bench/redis_tenant_cost.py plugins/storage/redis/lua 36379

Loads lua/ as a function library of its own (cpdtenantcost: the prelude — common.lua and the
shared modules — as embed_lua.cmake composes them), registers 50 agents, queues 2,500 tasks
spread evenly over the tenants (one capability set), then 40 rounds of 50 claims (each gets a
task) and 50 completes, each round pipelined; prints Redis microseconds per claim and per complete (INFO commandstats,
FCALL), the claim's cost relative to one tenant, and the Redis commands a claim's script runs
(commandstats; load-independent). It flushes the server first, so it refuses a
server that holds any key. Loopback only; Python standard library only.
"""
import sys

from benchlib import RespConn, lua_library, shared_modules

OPS = ("agent_register task_submit task_claim task_transition tenant_put").split()


def script_commands(cmd):
    """Redis commands the scripts ran since the last CONFIG RESETSTAT (INFO commandstats, every
    command but FCALL, INFO and CONFIG): a cost load does not move."""
    n = 0
    for line in cmd("INFO", "commandstats").split("\r\n"):
        if line.startswith("cmdstat_"):
            name = line.split(":", 1)[0][8:]
            if name not in ("fcall", "info", "config|resetstat", "config"):
                d = dict(kv.split("=") for kv in line.split(":", 1)[1].split(","))
                n += int(d["calls"])
    return n


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: redis_tenant_cost.py LUA_DIR PORT")
    lua, port = sys.argv[1], int(sys.argv[2])
    lib = lua_library(lua, "cpdtenantcost", "tc_", shared_modules(lua), OPS)
    conn = RespConn(port)
    pipe, cmd, fcall_usec = conn.pipe, conn.cmd, conn.fcall_usec
    conn.require_empty("redis_tenant_cost.py", port)
    cmd("FUNCTION", "LOAD", "REPLACE", lib)
    inst, now, agents = "0123456789abcdef:000000000001", 1795900227000, 50

    base = None
    print("%-10s %16s %16s %12s %18s" % ("tenants", "claim us/call", "complete us/call",
                                          "claim vs 1", "claim commands/call"))
    for n_tenants in (1, 10, 100):
        tag = "{tc%d:}" % n_tenants

        def fc(op, *args):
            return ("FCALL", "tc_" + op, 1, tag, inst) + args
        cmd("SET", tag + "conn:0123456789abcdef", "1")
        pipe([fc("agent_register", now, "agent-%d" % i, "", "", "={}", "", agents)
              for i in range(agents)])
        tenants = ["default"] if n_tenants == 1 else ["tenant-%d" % i for i in range(n_tenants)]
        pipe([fc("tenant_put", t, 1 + i % 3, 0) for i, t in enumerate(tenants)])

        # A submit item (common.lua submit_one()): id type payload priority created_at
        # timeout_ms max_retries retries attempt metadata? strategy? not_before key? backoff?
        # est? n_caps tenant affinity_key hold_ms caps...
        def item(i):
            t = tenants[i % len(tenants)]
            return ("task_%024x" % i, "bench", '{"x":1}', 2, now + i, 300000, 3, 0, 0, "", "", 0,
                    "", "", "=100 50", 0, "" if t == "default" else t, "", 0)
        total = 2500
        for start in range(0, total, 250):
            pipe([fc("task_submit", *item(i)) for i in range(start, start + 250)])
        claim_us = claim_calls = done_us = done_calls = claim_cmds = 0
        for r in range(40):
            cmd("CONFIG", "RESETSTAT")
            got = pipe([fc("task_claim", now + 10000 + r, "agent-%d" % i, "0", "x:%d" % i, 0)
                        for i in range(agents)])
            calls, us = fcall_usec()
            claim_calls, claim_us = claim_calls + calls, claim_us + us
            claim_cmds += script_commands(cmd)
            # the claimed task: the 4th member of the short reply, its record as stored
            # ("<n>\0<id>\0...": lua/common.lua)
            ids = [g[3].split("\0")[1] for g in got if g[0] == 0 and g[3]]
            if len(ids) != agents:
                sys.exit("redis_tenant_cost.py: a claim found nothing (%d of %d)"
                         % (len(ids), agents))
            cmd("CONFIG", "RESETSTAT")
            pipe([fc("task_transition", now + 10000 + r, 2, t, "=agent-%d" % i, "={}", "", -1,
                     "1", 30000, 0, 0, "", "") for i, t in enumerate(ids)])
            calls, us = fcall_usec()
            done_calls, done_us = done_calls + calls, done_us + us
        per_claim = claim_us / claim_calls
        base = base or per_claim
        print("%-10d %16.1f %16.1f %11.2fx %18.1f" % (n_tenants, per_claim, done_us / done_calls,
                                                     per_claim / base, claim_cmds / claim_calls))
    cmd("FLUSHALL")
    cmd("FUNCTION", "DELETE", "cpdtenantcost")


if __name__ == "__main__":
    main()
