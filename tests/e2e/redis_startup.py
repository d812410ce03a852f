"""redis_startup.py — Redis unreachable when cpd starts (CONTRACT §7 storage fallback): with
`storage.fallback: memory` cpd starts on the in-memory store, says so loudly in its log, and
/stats and /health show storage.fallback true with the reason and backend memory; without it
cpd exits with status 2 and a message naming the url — never the password.

And the key layout's version ({prefix}layout): recorded on a new store, upgraded in place from an
older one (layout 3's records, hashes of fields, into layout 4's one value each, every agent,
task and field kept; processes of older layouts fenced), and a newer or foreign one refuses
start-up with a message saying why, writing nothing."""

import socket
import threading
import time

from cpdtest import CpdTestCase, RedisServer, free_port, main, run_cpd_to_exit, to_yaml

PASSWORD = "s3cr3t-Pa55"

# The fields of a record as stored (layout 4), in order: A_REC and T_REC of lua/common.lua.
A_REC = ("id caps st model prov md probe reg hb la mc inf cur tc tf ls lc hs hlc hcf hcs hlat "
         "herr hci hcif hco hoa hra dra rep qsc wr").split()
T_REC = ("id type pl req st pr cat clat stat coat ps ag to mr re att res err md strat poa pou "
         "dl x cm qs qk qm pqm pqs cseq dw ctk tnb").split()


def redis_config(url, fallback=None, **options):
    storage = {"plugin": "redis", "options": dict({"url": url, "prefix": "startup:"},
                                                  **{k: str(v) for k, v in options.items()})}
    if fallback:
        storage["fallback"] = fallback
    return {"storage": storage}


class SilentServer:
    """A TCP listener that accepts and never answers: a hung Redis."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.th = threading.Thread(target=self._accept, daemon=True)
        self.th.start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)

    def close(self):
        self.sock.close()
        for c in self.conns:
            c.close()


class Fallback(CpdTestCase):
    start_server = False

    def assertNoSecret(self, text):
        self.assertNotIn(PASSWORD, text, "the password leaked:\n" + text)

    def start_on_fallback(self, url, display, **options):
        # store="memory": the harness then adds no Redis of its own; the config says redis.
        cpd = self.start_cpd(store="memory", config=redis_config(url, "memory", **options))
        c = cpd.client()
        for path in ("stats", "health"):
            r = c.get(path)
            self.assertStatus(r, 200, path)
            st = r.body["storage"]
            self.assertEqual(st["backend"], "memory", path)
            self.assertIs(st["fallback"], True, path)
            self.assertIs(st["available"], True, path)
            self.assertIsInstance(st["fallback_reason"], str, path)
            self.assertIn(display, st["fallback_reason"], path)
            self.assertNoSecret(st["fallback_reason"])
        self.assertEqual(c.get("health").body["status"], "healthy")
        log = cpd.stderr()
        self.assertIn("FALLING BACK TO THE IN-MEMORY STORE", log)
        self.assertIn(display, log)
        self.assertIn("storage: memory FALLBACK", log)  # the "listening" line says it too
        self.assertNoSecret(log)
        # It really serves, on memory.
        self.register("fb-agent", client=c)
        tid = self.submit(client=c)
        self.assertEqual(self.claim("fb-agent", client=c)["id"], tid)
        st = c.get("stats").body
        self.assertEqual(st["scheduler"]["by_status"]["claimed"], 1)
        self.assertEqual(st["registry"]["total_agents"], 1)
        cpd.stop()  # a clean exit 0, no leak
        return st

    def test_unreachable_with_fallback_starts_on_memory_loudly(self):
        port = free_port()  # nothing listens there
        self.start_on_fallback("redis://:%s@127.0.0.1:%d/0" % (PASSWORD, port),
                               "redis://127.0.0.1:%d/0" % port, timeout_ms=500)

    def test_hung_redis_with_fallback_starts_within_timeout(self):
        srv = SilentServer()
        self.addCleanup(srv.close)
        t0 = time.monotonic()
        self.start_on_fallback("redis://:%s@127.0.0.1:%d" % (PASSWORD, srv.port),
                               "redis://127.0.0.1:%d/0" % srv.port, timeout_ms=300)
        # timeout_ms bounds the wait for the AUTH reply (plus cpd's own start-up).
        self.assertLess(time.monotonic() - t0, 8)

    def test_redis_that_comes_up_later_is_not_used(self):
        # The fallback is for the whole life of the process (no silent switch of stores):
        # Redis appearing afterwards changes nothing, and the fallback stays visible.
        port = free_port()
        cpd = self.start_cpd(store="memory", config=redis_config(
            "redis://127.0.0.1:%d" % port, "memory", timeout_ms=300))
        redis = RedisServer(port=port).start()
        self.addCleanup(redis.cleanup)
        c = cpd.client()
        self.register("late", client=c)
        st = c.get("stats").body["storage"]
        self.assertEqual((st["backend"], st["fallback"]), ("memory", True))
        self.assertEqual(redis.command("DBSIZE"), 0)
        cpd.stop()


class NoFallback(CpdTestCase):
    start_server = False

    def run_to_exit(self, url, **options):
        t0 = time.monotonic()
        rc, out, err = run_cpd_to_exit(["--listen", "127.0.0.1:%d" % free_port()],
                                       config_text=to_yaml(redis_config(url, **options)))
        return rc, out + err, time.monotonic() - t0

    def assertExit2(self, rc, text, display, *mentions):
        self.assertEqual(rc, 2, "expected exit status 2, got %d:\n%s" % (rc, text))
        self.assertIn(display, text)
        for m in mentions:
            self.assertIn(m, text)
        self.assertNotIn(PASSWORD, text, "the password leaked:\n" + text)
        self.assertNotIn("FALLING BACK", text)
        self.assertNotIn("listening", text)
        for marker in ("AddressSanitizer", "LeakSanitizer", "runtime error"):
            self.assertNotIn(marker, text)

    def test_unreachable_without_fallback_exits_2_naming_url_not_password(self):
        port = free_port()
        rc, text, took = self.run_to_exit("redis://:%s@127.0.0.1:%d/3" % (PASSWORD, port),
                                          timeout_ms=500)
        self.assertExit2(rc, text, "redis://127.0.0.1:%d/3" % port, "cannot reach Redis")
        self.assertLess(took, 10)

    def test_user_and_password_url_from_environment(self):
        port = free_port()
        t0 = time.monotonic()
        rc, out, err = run_cpd_to_exit(
            ["--listen", "127.0.0.1:%d" % free_port()],
            config_text="storage:\n  plugin: redis\n",
            env={"REDIS_URL": "redis://ops:%s@127.0.0.1:%d" % (PASSWORD, port)})
        self.assertExit2(rc, out + err, "redis://ops@127.0.0.1:%d/0" % port, "cannot reach")
        self.assertLess(time.monotonic() - t0, 15)

    def test_hung_redis_without_fallback_exits_2_within_timeout(self):
        srv = SilentServer()
        self.addCleanup(srv.close)
        rc, text, took = self.run_to_exit("redis://:%s@127.0.0.1:%d" % (PASSWORD, srv.port),
                                          timeout_ms=300)
        self.assertExit2(rc, text, "redis://127.0.0.1:%d/0" % srv.port, "within 300 ms")
        self.assertLess(took, 8)

    def test_wrong_password_exits_2_naming_url_not_either_password(self):
        redis = RedisServer()
        self.addCleanup(redis.cleanup)
        redis.start()
        redis.command("CONFIG", "SET", "requirepass", "the-right-one")
        rc, text, _ = self.run_to_exit("redis://:%s@127.0.0.1:%d" % (PASSWORD, redis.port))
        self.assertExit2(rc, text, "redis://127.0.0.1:%d/0" % redis.port, "AUTH")
        self.assertNotIn("the-right-one", text)


class LayoutVersion(CpdTestCase):
    start_server = False
    KEY = "{startup:}layout"

    def setUp(self):
        super().setUp()
        self.redis = RedisServer()
        self.addCleanup(self.redis.cleanup)
        self.redis.start()
        self.url = "redis://127.0.0.1:%d" % self.redis.port

    def keys(self):
        return sorted(self.redis.command("KEYS", "*"))

    def start_serving(self):
        cpd = self.start_cpd(store="memory", config=redis_config(self.url))
        c = cpd.client()
        self.register(self.uid("layout"), client=c)
        self.assertEqual(c.get("stats").body["storage"]["backend"], "redis")
        return cpd

    def test_new_store_records_the_version(self):
        cpd = self.start_serving()
        self.assertEqual(self.redis.command("GET", self.KEY), "4")
        self.assertIn("key layout under {startup:}: version 4 recorded", cpd.stderr())
        cpd.stop()
        # Started again: nothing to record, nothing said.
        cpd = self.start_serving()
        self.assertNotIn("key layout", cpd.stderr())
        cpd.stop()

    def test_older_layout_is_upgraded_in_place(self):
        self.redis.command("SET", self.KEY, "1")
        cpd = self.start_serving()
        self.assertEqual(self.redis.command("GET", self.KEY), "4")
        self.assertIn("upgraded in place from version 1 to 4", cpd.stderr())
        cpd.stop()

    def test_layout_2_task_counters_are_dropped(self):
        # Layouts 1 and 2 counted tasks by status in {prefix}stats; 3 takes the cardinalities
        # of the status indexes. A store as layout 2 left it: tasks, their indexes, and the
        # counters (here deliberately wrong, as a store written by processes of mixed versions
        # can be): the upgrade deletes the counters, /stats counts from the indexes.
        cpd = self.start_serving()
        c = cpd.client()
        agent = self.register(self.uid("counted"), client=c)["agent_id"]
        for i in range(3):
            self.submit(client=c, task_type="counted")
        self.claim(agent, client=c)
        cpd.stop()
        stats_key = "{startup:}stats"
        self.redis.command("HSET", stats_key, "tasks_total", "7", "ts:0", "5", "ts:1", "2",
                           "ts:3", "9")
        self.redis.command("SET", self.KEY, "2")
        cpd = self.start_serving()
        self.assertIn("upgraded in place from version 2 to 4", cpd.stderr())
        self.assertEqual(self.redis.command("GET", self.KEY), "4")
        left = self.redis.command("HMGET", stats_key, "tasks_total", "ts:0", "ts:1", "ts:3")
        self.assertEqual(left, [None] * 4)
        # Agent counters are kept as they were.
        self.assertIsNotNone(self.redis.command("HGET", stats_key, "agents_total"))
        tasks = cpd.client().get("stats").body["scheduler"]
        self.assertEqual(tasks["total"], 3)
        self.assertEqual(tasks["pending_tasks"], 2)
        self.assertEqual(tasks["by_status"]["claimed"], 1)
        self.assertEqual(tasks["by_status"]["completed"], 0)
        cpd.stop()

    def test_layout_3_records_are_converted_keeping_every_field(self):
        # A store as layout 3 left it: every record a hash of its fields. Made here from the
        # records a layout-4 cpd wrote (each stored field under its name, absent ones left
        # out, as layout 3 stored them), with agents and tasks in every kind of state.
        cpd = self.start_serving()
        c = cpd.client()
        busy = self.register(self.uid("busy"), client=c, capabilities=["code"],
                             max_concurrent_tasks=2, model="m-1", provider="p-1",
                             metadata={"k": "v"})["agent_id"]
        idle = self.register(self.uid("idle"), client=c)["agent_id"]
        tasks = [self.submit(client=c, task_type="lay", required_capabilities=["code"],
                             payload={"n": i}, priority=i % 4, metadata={"i": i},
                             idempotency_key="k-%d" % i, timeout_seconds=1000000.5)
                 for i in range(4)]
        tasks.append(self.submit(client=c, task_type="later", delay_seconds=3600))
        done = self.claim(busy, client=c)["id"]
        self.assertStatus(c.post("tasks/%s/complete" % done,
                                 {"agent_id": busy, "result": {"ok": [1, 2]}}), 200)
        running = self.claim(busy, client=c)["id"]
        self.assertStatus(c.post("tasks/%s/start" % running, {"agent_id": busy}), 200)
        self.assertStatus(c.post("tasks/%s/extend" % running,
                                 {"agent_id": busy, "progress": {"percent": 50,
                                                                 "message": "half"}}), 200)
        failed = self.claim(busy, client=c)["id"]
        self.assertStatus(c.post("tasks/%s/fail" % failed,
                                 {"agent_id": busy, "error": "boom", "requeue": True}), 200)
        self.heartbeat(idle, client=c)
        before_a = {a: c.get("agents/" + a).body for a in (busy, idle)}
        before_t = {t: c.get("tasks/" + t).body for t in tasks}
        cpd.stop()
        names = {"a": A_REC, "t": T_REC}
        records = 0
        for key in self.redis.command("KEYS", "{startup:}[at]:*"):
            names_of = names[key[len("{startup:}")]]
            fields = self.redis.command("GET", key).split("\0")
            self.assertEqual(int(fields[0]), len(names_of))
            flat = []
            for name, value in zip(names_of, fields[1:]):
                if value != "\x01":
                    flat += [name, value]
            self.redis.command("DEL", key)
            self.redis.command("HSET", key, *flat)
            records += 1
        self.assertEqual(records, 3 + len(tasks))  # with start_serving()'s agent
        # A process of layout 3 still connected: its connection epoch key.
        self.redis.command("SET", "{startup:}conn:0123456789abcdef", "7", "EX", "600")
        self.redis.command("SET", self.KEY, "3")
        cpd = self.start_serving()
        self.assertIn("upgraded in place from version 3 to 4", cpd.stderr())
        self.assertEqual(self.redis.command("GET", self.KEY), "4")
        for key in self.redis.command("KEYS", "{startup:}[at]:*"):
            self.assertEqual(self.redis.command("TYPE", key), "string", key)
        c = cpd.client()
        for a, view in before_a.items():
            self.assertEqual(c.get("agents/" + a).body, view)
        for t, view in before_t.items():
            self.assertEqual(c.get("tasks/" + t).body, view)
        # The old process is fenced: its epoch raised past any it can have, for good.
        self.assertEqual(self.redis.command("GET", "{startup:}conn:0123456789abcdef"),
                         "999999999999999")
        self.assertEqual(self.redis.command("TTL", "{startup:}conn:0123456789abcdef"), -1)
        fn = [f for f in self.redis.command("FUNCTION", "LIST")
              if f[1].startswith("cpd_")][0]
        claim = next(x[1] for x in fn[5] if x[1].endswith("_task_claim"))
        refused = self.redis.command("FCALL", claim, "1", "{startup:}",
                                     "0123456789abcdef:000000000008", "1700000000000", idle,
                                     "0", "x:1", "0")
        self.assertEqual(refused[0], 4)
        self.assertIn("dropped connection", refused[1])
        # And the converted store works on: the pending tasks are claimed, the held completed.
        self.assertStatus(c.post("tasks/%s/complete" % running,
                                 {"agent_id": busy, "result": {"ok": True}}), 200)
        got = self.claim(busy, client=c)
        self.assertIn(got["id"], tasks)
        cpd.stop()

    def refused(self, value, *mentions):
        self.redis.command("SET", self.KEY, value)
        before = self.keys()
        rc, out, err = run_cpd_to_exit(["--listen", "127.0.0.1:%d" % free_port()],
                                       config_text=to_yaml(redis_config(self.url)))
        text = out + err
        self.assertEqual(rc, 2, "expected exit status 2, got %d:\n%s" % (rc, text))
        for m in mentions:
            self.assertIn(m, text)
        self.assertNotIn("listening", text)
        self.assertEqual(self.keys(), before, "a refused start-up wrote to the store")
        self.assertEqual(self.redis.command("GET", self.KEY), value)

    def test_newer_layout_refuses_start_up(self):
        self.refused("5", "layout version 5 under {startup:} is newer than this cpd's 4",
                     "upgrade cpd, or use another prefix")

    def test_foreign_value_refuses_start_up(self):
        self.refused("banana", "{startup:}layout holds no layout version",
                     "another application's prefix?")


if __name__ == "__main__":
    main()
