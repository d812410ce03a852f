"""only_config.py — CONTRACT §7 and start-up/shutdown behaviour: --check-config, bad values and
unknown keys (exit 2 naming the key), precedence defaults < YAML < environment < flags, bad
plugins (exit 2 with one line naming the file), and a clean exit 0 on SIGTERM/SIGINT."""

import glob
import os
import signal
import time

from cpdtest import (BUILD_DIR, FIXTURE_DIR, SOURCE_DIR, Client, Cpd, CpdTestCase,
                     free_port, in_thread, main, run_cpd_to_exit, to_yaml)

EXAMPLE = os.path.join(SOURCE_DIR, "examples", "cpd.yaml")
BUNDLED = ["least_loaded", "round_robin", "random", "affinity", "headroom"]


def lines(text):
    return [l for l in text.splitlines() if l.strip()]


class CheckConfig(CpdTestCase):
    start_server = False

    def check(self, text, env=None, args=()):
        return run_cpd_to_exit(["--check-config"] + list(args), env=env, config_text=text)

    def assertRejected(self, result, *mentions):
        rc, out, err = result
        self.assertEqual(rc, 2, "expected exit 2, got %d; stderr:\n%s" % (rc, err))
        for m in mentions:
            self.assertIn(m, err, "the message does not name %r:\n%s" % (m, err))
        for marker in ("AddressSanitizer", "runtime error", "LeakSanitizer"):
            self.assertNotIn(marker, err)

    def test_example_config_is_valid(self):
        if not os.path.exists(EXAMPLE):
            self.skipTest("examples/cpd.yaml does not exist yet")
        rc, out, err = run_cpd_to_exit(["--config", EXAMPLE, "--check-config"], cwd=SOURCE_DIR)
        self.assertEqual(rc, 0, "examples/cpd.yaml rejected:\n" + err)
        self.assertIn("OK", out + err)

    def test_minimal_configs_are_valid(self):
        for text in ("storage:\n  plugin: memory\n", "{}\n", "",
                     to_yaml({"listen": "127.0.0.1:9999", "selection": {"default": "random"},
                              "agents": {"heartbeat_timeout_seconds": 0.5},
                              "tasks": {"timeout_seconds": 10, "max_retries": 0},
                              "auth": {"tokens": [{"token": "t0k3n-abc", "role": "admin"},
                                                  "tok:reader"]}})):
            rc, out, err = self.check(text)
            self.assertEqual(rc, 0, "config rejected:\n%s\n---\n%s" % (text, err))

    def test_bad_values_name_key_and_value(self):
        cases = [
            ("agents:\n  heartbeat_timeout_seconds: abc\n", "heartbeat_timeout_seconds", "abc"),
            ("agents:\n  heartbeat_timeout_seconds: -3\n", "heartbeat_timeout_seconds", "-3"),
            ("tasks:\n  max_retries: many\n", "max_retries", "many"),
            ("tasks:\n  timeout_seconds: 0\n", "timeout_seconds", "0"),
            ("limits:\n  max_body_bytes: 10\n", "max_body_bytes", "10"),
            ("listen: nonsense\n", "listen", "nonsense"),
            ("listen: 127.0.0.1:99999\n", "listen", "99999"),
            ("storage:\n  fallback: disk\n", "fallback", "disk"),
            ("log:\n  level: loud\n", "level", "loud"),
            ("auth:\n  allow_anonymous: perhaps\n", "allow_anonymous", "perhaps"),
            ("auth:\n  tokens: [{token: abc123, role: superuser}]\n", "auth.tokens",
             "superuser"),
            ("selection:\n  default: no_such_strategy\n", "no_such_strategy"),
        ]
        for text, *mentions in cases:
            with self.subTest(config=text):
                self.assertRejected(self.check(text), *mentions)

    def test_bad_value_stops_a_real_start(self):
        port = free_port()
        rc, out, err = run_cpd_to_exit(["--listen", "127.0.0.1:%d" % port],
                                       config_text="tasks:\n  max_retries: -1\n")
        self.assertRejected((rc, out, err), "max_retries", "-1")

    def test_unknown_keys(self):
        self.assertRejected(self.check("bogus_key: 1\n"), "bogus_key")
        self.assertRejected(self.check("agents:\n  heartbeat_timeout: 5\n"), "heartbeat_timeout")
        self.assertRejected(self.check("storage:\n  plugin: memory\n  colour: blue\n"), "colour")

    def test_yaml_syntax_error_and_missing_file(self):
        self.assertRejected(self.check("listen: [unclosed\n"))
        missing = os.path.join(BUILD_DIR, "no-such-dir", "cpd.yaml")
        rc, out, err = run_cpd_to_exit(["--config", missing, "--check-config"])
        self.assertRejected((rc, out, err), missing)

    def test_environment_bad_values_name_the_variable(self):
        for var, value in (("HEARTBEAT_TIMEOUT", "abc"), ("MAX_TASK_RETRIES", "-1"),
                           ("TASK_TIMEOUT", "soon"), ("CLEANUP_INTERVAL", "0"),
                           ("CONTROL_PLANE_LISTEN", "nowhere"),
                           ("CONTROL_PLANE_TOKENS", "justatoken"),
                           ("CONTROL_PLANE_STORAGE", "no_such_store")):
            with self.subTest(var=var):
                rc, out, err = run_cpd_to_exit(["--listen", "127.0.0.1:%d" % free_port()],
                                               env={var: value})
                self.assertRejected((rc, out, err), var if var != "CONTROL_PLANE_STORAGE"
                                    else "no_such_store")

    def test_environment_overrides_yaml_and_flags_override_environment(self):
        text = "tasks:\n  max_retries: 2\n  timeout_seconds: 99\n"
        rc, out, err = self.check(text, env={"MAX_TASK_RETRIES": "bad"})
        self.assertRejected((rc, out, err), "MAX_TASK_RETRIES")
        # Observable precedence on a running server.
        yaml_port, env_port, flag_port = free_port(), free_port(), free_port()
        cpd = Cpd(config={"listen": "127.0.0.1:%d" % yaml_port,
                          "tasks": {"max_retries": 2, "timeout_seconds": 99}},
                  env={"TASK_TIMEOUT": "42", "CONTROL_PLANE_LISTEN": "127.0.0.1:%d" % env_port},
                  listen="127.0.0.1:%d" % flag_port)
        self._extra_cpds.append(cpd)
        cpd.start()
        c = cpd.client()
        r = c.post("tasks", {"task_type": "t"})
        self.assertStatus(r, 201)
        t = c.get("tasks/" + r.body["task_id"]).body
        self.assertEqual(t["timeout_seconds"], 42, "environment beats YAML")
        self.assertEqual(t["max_retries"], 2, "YAML beats defaults")
        cpd.stop()

    def test_env_listen_beats_yaml_listen(self):
        yaml_port, env_port = free_port(), free_port()
        cpd = Cpd(config={"listen": "127.0.0.1:%d" % yaml_port}, listen=False,
                  env={"CONTROL_PLANE_LISTEN": "127.0.0.1:%d" % env_port})
        cpd.port = env_port
        self._extra_cpds.append(cpd)
        cpd.start()
        cpd.stop()
        cpd2 = Cpd(config={"listen": "127.0.0.1:%d" % yaml_port}, listen=False)
        cpd2.port = yaml_port
        self._extra_cpds.append(cpd2)
        cpd2.start()
        cpd2.stop()

    def test_no_config_no_environment_starts_on_memory_with_bundled_plugins(self):
        # Run from an empty directory: no ./cpd.yaml, no CONTROL_PLANE_* variables, plugins
        # found next to the binary.
        cpd = Cpd(write_config=False, plugin_dir_env=False)
        self._extra_cpds.append(cpd)
        cpd.start()
        c = cpd.client()
        for aid in ("n1", "n2"):
            self.assertStatus(c.post("agents", {"agent_id": aid, "capabilities": ["z"]}), 201)
        for s in BUNDLED:
            self.assertStatus(c.get("agents/select?capability=z&strategy=" + s), 200, s)
        t = c.get("tasks/" + c.post("tasks", {"task_type": "t"}).body["task_id"]).body
        self.assertEqual((t["timeout_seconds"], t["max_retries"]), (300, 3))
        cpd.stop()

    def test_cpd_yaml_in_working_directory_is_read(self):
        cpd = Cpd(write_config=False)
        self._extra_cpds.append(cpd)
        with open(os.path.join(cpd.dir, "cpd.yaml"), "w") as f:
            f.write("tasks:\n  timeout_seconds: 33\n")
        cpd.start()
        c = cpd.client()
        t = c.get("tasks/" + c.post("tasks", {"task_type": "t"}).body["task_id"]).body
        self.assertEqual(t["timeout_seconds"], 33)
        cpd.stop()

    def test_help_version_and_bad_flags(self):
        rc, out, err = run_cpd_to_exit(["--help"])
        self.assertEqual(rc, 0, err)
        self.assertIn("--config", out + err)
        rc, out, err = run_cpd_to_exit(["--version"])
        self.assertEqual(rc, 0, err)
        self.assertRegex(out + err, r"\d+\.\d+\.\d+")
        rc, out, err = run_cpd_to_exit(["--no-such-flag"])
        self.assertRejected((rc, out, err), "--no-such-flag")


class BadPlugins(CpdTestCase):
    start_server = False

    def setUp(self):
        super().setUp()
        self.fixtures = sorted(glob.glob(os.path.join(FIXTURE_DIR, "*.so")))
        if not self.fixtures:
            self.skipTest("no fixture plugins in %s" % FIXTURE_DIR)

    def config_for(self, path):
        name = os.path.basename(path)
        if name == "create_fails.so":
            return {"probes": {"plugins": ["http", "tcp", path]}}
        if name == "duplicate_name.so":
            good = os.path.join(FIXTURE_DIR, "good.so")
            return {"selection": {"plugins": BUNDLED + [good, path]}}
        return {"selection": {"plugins": BUNDLED + [path]}}

    def test_each_bad_plugin_stops_start_up_with_one_line(self):
        bad = [f for f in self.fixtures if os.path.basename(f) != "good.so"]
        for path in bad:
            name = os.path.basename(path)
            with self.subTest(fixture=name):
                for check in (False, True):
                    port = free_port()
                    args = ["--listen", "127.0.0.1:%d" % port]
                    if check:
                        args.append("--check-config")
                    rc, out, err = run_cpd_to_exit(
                        args, config_text=to_yaml(self.config_for(path)))
                    self.assertEqual(rc, 2, "%s (check=%s): exit %d\n%s" % (name, check, rc, err))
                    got = lines(err)
                    self.assertEqual(len(got), 1, "%s: expected one line, got:\n%s" % (name, err))
                    self.assertIn(name, got[0])
                    self.assertNotIn("Sanitizer", err)

    def test_missing_plugin_file(self):
        missing = os.path.join(FIXTURE_DIR, "does_not_exist.so")
        rc, out, err = run_cpd_to_exit(["--listen", "127.0.0.1:%d" % free_port()],
                                       config_text=to_yaml({"selection": {
                                           "plugins": BUNDLED + [missing]}}))
        self.assertEqual(rc, 2, err)
        self.assertEqual(len(lines(err)), 1, err)
        self.assertIn("does_not_exist.so", err)
        rc, out, err = run_cpd_to_exit(["--listen", "127.0.0.1:%d" % free_port()],
                                       config_text="selection:\n  plugins: [least_loaded, nope]\n")
        self.assertEqual(rc, 2, err)
        self.assertIn("nope", err)

    def test_good_plugin_is_selectable_by_name(self):
        good = os.path.join(FIXTURE_DIR, "good.so")
        if not os.path.exists(good):
            self.skipTest("no good.so fixture")
        cpd = Cpd(config={"selection": {"plugins": BUNDLED + [good]}})
        self._extra_cpds.append(cpd)
        cpd.start()
        c = cpd.client()
        for aid in ("g1", "g2", "g3"):
            self.assertStatus(c.post("agents", {"agent_id": aid, "capabilities": ["g"]}), 201)
        r = c.get("agents/select?capability=g&strategy=fixture_good")
        self.assertStatus(r, 200)
        self.assertIn(r.body["agent_id"], ("g1", "g2", "g3"))
        cpd.stop()


class Shutdown(CpdTestCase):
    def test_sigterm_with_state_exits_0(self):
        self.register("s1", capabilities=["x"])
        tid = self.submit(required_capabilities=["x"])
        self.claim("s1")
        self.submit()
        # tearDown sends SIGTERM and asserts exit 0 within a few seconds, sanitizer-clean.
        self.assertEqual(self.task(tid)["status"], "claimed")

    def test_sigterm_answers_held_claims(self):
        self.register("holder")
        held = Client(self.cpd.port)  # not closed by stop(): it must get its answer
        h = in_thread(self.claim, "holder", client=held, block_ms=20000)
        time.sleep(0.3)
        t0 = time.monotonic()
        rc = self.cpd.stop(timeout=5)
        self.assertEqual(rc, 0)
        self.assertLess(time.monotonic() - t0, 3.0)
        try:
            task, elapsed = h.join(5)
            self.assertIsNone(task)
        except (OSError, ConnectionError):
            pass  # the connection closing at exit is acceptable; hanging is not
        finally:
            held.close()
        self.assertLess(time.monotonic() - t0, 5.0)

    def test_sigint_exits_0(self):
        self.register("s")
        proc = self.cpd.proc
        proc.send_signal(signal.SIGINT)
        self.assertEqual(proc.wait(5), 0, self.cpd.describe())


if __name__ == "__main__":
    main()
