#!/usr/bin/env python3
"""redis_op_cost.py — Redis server time per call of the lifecycle operations (submit, claim that
gets a task, complete, claim that finds nothing), measured with INFO commandstats (no SLOWLOG: logging
every command inside a script inflates scripts of many commands). Not a test: a measuring tool
for the Lua in lua/ (docs/redis.md, "Performance").

  redis-server --port 36379 --save '' --appendonly no &
  python3 bench/redis_op_cost.py plugins/storage/redis/lua 36379

Loads lua/ as a function library of its own (cpdcost), registers 50 agents, then 40 rounds of:
50 submits, 50 claims (each gets a task), 50 completes, 50 claims (none gets one), each batch
pipelined. It runs the rounds twice: with the change feed off (no cpd process streams events:
the key {tag}feed is absent) and on (the key is there: every changing call numbers and
publishes its changes). It flushes the server first, so it refuses a server that holds any
key. Loopback only; Python standard library only.
"""
import os
import socket
import sys

# The RESP client of the end-to-end tests (tests/e2e/cpdtest.py; importing it starts nothing).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
from cpdtest import resp_encode, resp_read  # noqa: E402

OPS = ("agent_register agent_heartbeat agent_unregister agent_set_health "
       "task_submit task_list task_claim task_transition reap stats").split()


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: redis_op_cost.py LUA_DIR PORT")
    lua, port = sys.argv[1], int(sys.argv[2])
    lib = "#!lua name=cpdcost\n" + open(os.path.join(lua, "common.lua")).read()
    for o in OPS:
        lib += ("\nredis.register_function('cost_%s', function(KEYS, ARGV)\nbegin(KEYS, ARGV)\n"
                % o) + open(os.path.join(lua, o + ".lua")).read() + "\nend)\n"
    sock = socket.create_connection(("127.0.0.1", port))
    rd = sock.makefile("rb")

    def pipe(cmds):
        sock.sendall(b"".join(resp_encode(c) for c in cmds))
        return [resp_read(rd) for _ in cmds]

    def cmd(*args):
        return pipe([args])[0]

    if cmd("DBSIZE") != 0:
        sys.exit("redis_op_cost.py: the server on port %d holds keys; use an empty one" % port)
    cmd("FUNCTION", "LOAD", "REPLACE", lib)
    tag, inst, now, agents = "{cost:}", "0123456789abcdef", 1795900227000, 50

    def fc(op, *args):
        return ("FCALL", "cost_" + op, 1, tag, inst) + args

    pipe([fc("agent_register", now, "agent-%d" % i, "", "", "={}", "", 1) for i in range(agents)])

    def fcall_usec():
        for line in cmd("INFO", "commandstats").split("\r\n"):
            if line.startswith("cmdstat_fcall:"):
                d = dict(kv.split("=") for kv in line.split(":", 1)[1].split(","))
                return int(d["calls"]), int(d["usec"])
        return 0, 0

    n = 0
    results = {}
    for feed in ("off", "on"):
        if feed == "on":
            cmd("SET", tag + "feed", "1000")
        results[feed], n = rounds(pipe, cmd, fc, fcall_usec, now, agents, n)
    print("%-18s %14s %14s" % ("", "feed off", "feed on"))
    for name in results["off"]:
        off, on = results["off"][name], results["on"][name]
        print("%-18s %8.1f us/call %8.1f us/call   (%d calls each)"
              % (name, off[1] / off[0], on[1] / on[0], off[0]))
    cmd("FLUSHALL")
    cmd("FUNCTION", "DELETE", "cpdcost")


def rounds(pipe, cmd, fc, fcall_usec, now, agents, n):
    total = {k: [0, 0] for k in ("submit", "claim (gets one)", "complete", "claim (empty)")}
    for _ in range(40):
        ids = ["task_%024x" % (n + i) for i in range(agents)]
        n += agents
        batches = (
            ("submit", [fc("task_submit", t, "bench", '{"x":1}', 2, now, 300000, 3, 0, 0, "", "")
                        for t in ids], lambda r: True),
            ("claim (gets one)", [fc("task_claim", now, "agent-%d" % i, "0")
                                  for i in range(agents)], lambda r: bool(r[4])),
            ("complete", [fc("task_transition", now, 2, t, "=agent-%d" % i, '={"ok":true}', "",
                             -1, "1", 30000, 0) for i, t in enumerate(ids)], lambda r: True),
            ("claim (empty)", [fc("task_claim", now, "agent-%d" % i, "0")
                               for i in range(agents)], lambda r: not r[4]),
        )
        for name, cmds, ok in batches:
            cmd("CONFIG", "RESETSTAT")
            for r in pipe(cmds):
                if r[0] != 0 or not ok(r):
                    sys.exit("redis_op_cost.py: %s: unexpected reply %r" % (name, r[:2]))
            calls, usec = fcall_usec()
            total[name][0] += calls
            total[name][1] += usec
    return total, n


if __name__ == "__main__":
    main()
