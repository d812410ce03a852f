"""test_reload.py — SIGHUP reloads the configuration file (and environment) in place: held
long-poll claims and open connections survive and are answered, tasks stay, new tokens work
and removed ones get 401, run-time values (timeouts, log level) take effect; what needs a
restart is logged and kept; an invalid new configuration keeps the running one."""

import os
import signal
import time

from cpdtest import Client, CpdTestCase, deep_merge, in_thread, main, to_yaml, wait_until

ADMIN, AGENT, READER = "adm-tok-1", "agt-tok-1", "rdr-tok-1"
TOKENS = [{"token": ADMIN, "role": "admin"}, {"token": AGENT, "role": "agent"},
          {"token": READER, "role": "reader"}]


class Reload(CpdTestCase):
    cpd_config = {"auth": {"tokens": TOKENS}, "tasks": {"timeout_seconds": 300}}
    token = ADMIN

    def rewrite(self, extra):
        """Write a new config file for the running cpd (the same storage section)."""
        cfg = deep_merge(self.cpd.config(), extra)
        with open(self.cpd.config_path, "w") as f:
            f.write(to_yaml(cfg))

    def hup(self, expect):
        """SIGHUP, then wait for the log line `expect`; returns the log since."""
        before = len(self.cpd.stderr())
        self.cpd.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: expect in self.cpd.stderr()[before:], 10.0, what=repr(expect))
        time.sleep(0.05)
        self.assertTrue(self.cpd.running(), "cpd died on SIGHUP:\n" + self.cpd.describe())
        return self.cpd.stderr()[before:]

    def held(self):
        return self.c.get("stats").body["scheduler"]["held_claims"]

    def test_reload_keeps_held_claims_and_swaps_tokens(self):
        agents = [self.register(capabilities=["r"], max_concurrent_tasks=2)["agent_id"]
                  for _ in range(3)]
        old_task = self.submit(task_type="before")
        self.assertEqual(self.claim(agents[0])["id"], old_task)
        # Three long polls, each on its own connection, held across the reload.
        polls = []
        for aid in agents:
            c = Client(self.cpd.port, token=AGENT, timeout=60)
            self.addCleanup(c.close)
            polls.append(in_thread(c.post, "tasks/claim", {"agent_id": aid, "block_ms": 30000}))
        wait_until(lambda: self.held() == 3, 10.0, what="3 held claims")

        self.rewrite({"auth": {"tokens": [{"token": ADMIN, "role": "admin"},
                                          {"token": "agt-tok-2", "role": "agent"},
                                          {"token": READER, "role": "reader"}]},
                      "tasks": {"timeout_seconds": 42}, "log": {"level": "debug"}})
        log = self.hup("reload: applied")
        self.assertIn("tasks.timeout_seconds 300 -> 42", log)
        self.assertIn("auth.tokens (3 -> 3 tokens)", log)
        self.assertIn("log.level info -> debug", log)
        for secret in (ADMIN, AGENT, "agt-tok-2", READER):
            self.assertNotIn(secret, log)

        self.assertEqual(self.held(), 3, "held claims were dropped by the reload")
        self.assertEqual(self.task(old_task)["status"], "claimed")  # the store is untouched
        r = self.c.get("agents", token=AGENT)
        self.assertError(r, 401, "unauthorized")
        self.assertStatus(self.c.get("agents", token="agt-tok-2"), 200)
        self.assertStatus(self.c.get("agents", token=READER), 200)
        # The held claims are answered with new work, on their original connections.
        new = sorted(self.submit(task_type="after") for _ in range(3))
        got = []
        for p in polls:
            r, _ = p.join(30)
            self.assertStatus(r, 200)
            self.assertIsNotNone(r.body["task"], "a held claim came back empty")
            got.append(r.body["task"]["id"])
        self.assertEqual(sorted(got), new)
        self.assertEqual(self.task(new[0])["timeout_seconds"], 42)  # the new default applies

    def test_invalid_configuration_keeps_the_running_one(self):
        with open(self.cpd.config_path, "w") as f:
            f.write("tasks: {timeout_seconds: soon}\n")
        log = self.hup("reload failed")
        self.assertIn("still running on the previous configuration", log)
        self.assertIn("timeout_seconds", log)
        self.assertStatus(self.c.get("agents", token=AGENT), 200)
        self.assertEqual(self.task(self.submit())["timeout_seconds"], 300)
        # Tokens gone from the environment of a variable: the same, the old tokens stay.
        self.rewrite({"auth": {"tokens": [{"token": "${NOT_SET_ANYWHERE}", "role": "admin"}]}})
        log = self.hup("reload failed")
        self.assertIn("NOT_SET_ANYWHERE", log)
        self.assertStatus(self.c.get("agents", token=READER), 200)

    def test_restart_only_keys_are_named_and_kept(self):
        self.rewrite({"listen": "127.0.0.1:1", "plugins_strict_permissions": False,
                      "selection": {"plugins": ["least_loaded", "random"]},
                      "tasks": {"max_retries": 7}})
        log = self.hup("reload: applied")
        self.assertIn("needs a restart", log)
        for key in ("selection.plugins", "plugins_strict_permissions"):
            self.assertIn(key, log)
        self.assertIn("tasks.max_retries 3 -> 7", log)
        self.assertStatus(self.c.get("agents"), 200)  # still on the same port
        self.assertEqual(self.task(self.submit())["max_retries"], 7)
        # round_robin is still loaded: the restart-only list did not change.
        self.register(capabilities=["z"], token=None)
        self.assertStatus(self.c.get("agents/select?capability=z&strategy=round_robin"), 200)

    def test_limits_follow_the_reload(self):
        body = {"task_type": "big", "payload": {"blob": "x" * 3000}}
        self.cpd.stop()
        self.cpd.extra_config = deep_merge(self.cpd.extra_config,
                                           {"limits": {"max_body_bytes": 1024}})
        self.cpd.start()
        self.c = self.cpd.client(token=ADMIN)
        self.assertError(self.c.post("tasks", body), 413, "payload_too_large")
        self.rewrite({"limits": {"max_body_bytes": 65536}})
        log = self.hup("reload: applied")
        self.assertIn("limits.max_body_bytes 1024 -> 65536", log)
        self.assertStatus(self.c.post("tasks", body), 201)
        # Beyond what the HTTP library was told at start-up (2 x 1024 + 4096): it was told again
        # (for connections opened after the reload; one kept alive keeps its transport cap).
        big = {"task_type": "big", "payload": {"blob": "x" * 20000}}
        self.assertStatus(self.cpd.client(token=ADMIN).post("tasks", big), 201)

    def test_probe_defaults_and_thresholds_follow_the_reload(self):
        from cpdtest import free_port
        # A tcp probe on a port nothing listens on, with the configured default interval (30 s
        # here): after its first check it would not fail again for half a minute.
        self.rewrite({"probes": {"interval_seconds": 30},
                      "health": {"unhealthy_threshold": 1000}})
        self.hup("reload: applied")
        probe = {"type": "tcp", "address": "127.0.0.1:%d" % free_port()}
        aid = self.register(health_probe=probe)["agent_id"]

        def health():
            return self.c.get("health/" + aid).body

        wait_until(lambda: health()["consecutive_failures"] >= 1, 10.0, what="first check")
        self.rewrite({"probes": {"interval_seconds": 0.2},
                      "health": {"unhealthy_threshold": 3}})
        log = self.hup("reload: applied")
        self.assertIn("probes.interval_seconds 30 -> 0.2", log)
        self.assertIn("health.unhealthy_threshold 1000 -> 3", log)
        # The running probe now checks every 0.2 s and the new threshold applies.
        h = wait_until(lambda: (lambda x: x if x["status"] == "unhealthy" else None)(health()),
                       15.0, what="unhealthy after the reload")
        self.assertGreaterEqual(h["consecutive_failures"], 3)

    def register(self, token=None, **fields):
        fields.setdefault("agent_id", self.uid("agent"))
        r = self.c.post("agents", fields, token=AGENT)
        self.assertStatus(r, 201)
        return r.body


if __name__ == "__main__":
    main()
