"""cpdtest.py — the end-to-end harness: starts real cpd and redis-server processes on free
loopback ports and talks HTTP/JSON to cpd. Standard library only.

Environment (set by tests/e2e/CMakeLists.txt; guessed from the source tree when run by hand):
  CPD_BIN        the cpd binary            CP_PLUGIN_DIR  <build>/plugins
  CP_BUILD_DIR   the build tree            CP_SOURCE_DIR  the source tree
  REDIS_SERVER   redis-server binary       CP_TEST_STORE  memory | redis (default memory)

A test module subclasses CpdTestCase; by default every test gets a fresh cpd (and, on the redis
store, a fresh key prefix on one redis-server shared by the module), so tests never see each
other's agents or tasks. `python3 test_x.py` runs the module and exits non-zero on failure.
"""

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("CP_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))


def _guess_build_dir():
    for name in ("build/test", "build-e2e", "build"):
        path = os.path.join(SOURCE_DIR, name)
        if os.path.exists(os.path.join(path, "cpd")):
            return path
    return os.path.join(SOURCE_DIR, "build/test")


BUILD_DIR = os.environ.get("CP_BUILD_DIR") or _guess_build_dir()
CPD_BIN = os.environ.get("CPD_BIN") or os.path.join(BUILD_DIR, "cpd")
PLUGIN_DIR = os.environ.get("CP_PLUGIN_DIR") or os.path.join(BUILD_DIR, "plugins")
FIXTURE_DIR = os.path.join(BUILD_DIR, "fixtures")
REDIS_SERVER = os.environ.get("REDIS_SERVER") or shutil.which("redis-server") or ""
STORE = os.environ.get("CP_TEST_STORE", "memory")
BASE = "/api/control-plane"

# ISO 8601 UTC with milliseconds (CONTRACT §1).
TIMESTAMP_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
TASK_ID_RE = re.compile(r"^task_[0-9a-f]{24}$")

# Variables of CONTRACT §7 that must not leak from the developer's shell into a test's cpd.
_CPD_ENV_VARS = (
    "REDIS_URL", "CONTROL_PLANE_PREFIX", "HEARTBEAT_INTERVAL", "HEARTBEAT_TIMEOUT",
    "PROBE_INTERVAL", "PROBE_TIMEOUT", "TASK_TIMEOUT", "MAX_TASK_RETRIES", "CLEANUP_INTERVAL",
    "CONTROL_PLANE_LISTEN", "CONTROL_PLANE_TOKENS", "CONTROL_PLANE_STORAGE",
    "CONTROL_PLANE_PLUGIN_DIR",
)


def _die_with_parent():
    """preexec_fn: the child gets SIGKILL when the test process dies (no orphaned servers when
    ctest kills a test on timeout)."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def parse_timestamp(s):
    """Seconds since the epoch of an ISO 8601 UTC timestamp with milliseconds."""
    import calendar
    assert TIMESTAMP_RE.match(s), "not an ISO 8601 UTC ms timestamp: %r" % (s,)
    secs = calendar.timegm(time.strptime(s[:19], "%Y-%m-%dT%H:%M:%S"))
    return secs + int(s[20:23]) / 1000.0


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_is_free(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def wait_until(predicate, timeout, interval=0.02, what="condition"):
    """Poll predicate() until it returns a truthy value (returned) or timeout seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def to_yaml(obj, indent=0):
    """A YAML block rendering of dicts/lists/scalars (JSON-quoted strings, flow lists of scalars)."""
    pad = " " * indent

    def scalar(v):
        if v is None:
            return "null"
        if v is True:
            return "true"
        if v is False:
            return "false"
        if isinstance(v, (int, float)):
            return repr(v)
        return json.dumps(str(v))

    if isinstance(obj, dict):
        if not obj:
            return pad + "{}\n"
        out = []
        for k, v in obj.items():
            if isinstance(v, dict) and v:
                out.append("%s%s:\n%s" % (pad, k, to_yaml(v, indent + 2)))
            elif isinstance(v, list) and any(isinstance(x, (dict, list)) for x in v):
                out.append("%s%s:\n" % (pad, k))
                for item in v:
                    body = to_yaml(item, indent + 4).lstrip()
                    out.append("%s  - %s" % (pad, body))
            elif isinstance(v, list):
                out.append("%s%s: [%s]\n" % (pad, k, ", ".join(scalar(x) for x in v)))
            elif isinstance(v, dict):
                out.append("%s%s: {}\n" % (pad, k))
            else:
                out.append("%s%s: %s\n" % (pad, k, scalar(v)))
        return "".join(out)
    return pad + scalar(obj) + "\n"


def deep_merge(base, extra):
    """base updated with extra, recursively for dicts; a None value in extra deletes the key."""
    out = dict(base)
    for k, v in (extra or {}).items():
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out


# ---------------------------------------------------------------------------------------------
# redis-server


class RedisServer:
    """A private redis-server on a loopback port: no persistence, stopped with the test."""

    PERSISTENCE = ["--appendonly", "no"]
    WAIT_FOR_FREE_PORT = True  # subclasses restarting on the same port after a kill skip this

    def __init__(self, port=None):
        if not REDIS_SERVER:
            raise unittest.SkipTest("redis-server not found (set REDIS_SERVER)")
        self.port = port or free_port()
        self.dir = tempfile.mkdtemp(prefix="cpd-redis-")
        self.log_path = os.path.join(self.dir, "redis.log")
        self.proc = None

    @property
    def url(self):
        return "redis://127.0.0.1:%d" % self.port

    def start(self, timeout=10.0):
        if self.WAIT_FOR_FREE_PORT:
            wait_until(lambda: port_is_free(self.port), 10.0,
                       what="port %d to be free" % self.port)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
            + self.PERSISTENCE + ["--dir", self.dir],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("redis-server exited with %s:\n%s"
                                     % (self.proc.returncode, self.log()))
            try:
                if self.command("PING") == "PONG":  # -LOADING while replaying an AOF
                    return self
            except (OSError, RuntimeError):
                pass
            time.sleep(0.02)
        raise AssertionError("redis-server did not answer PING:\n" + self.log())

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def command(self, *args, timeout=5.0):
        """Send one command (RESP) and return the decoded reply; errors raise RuntimeError."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
            s.sendall(resp_encode(args))
            return resp_read(s.makefile("rb"))

    def stop(self, timeout=5.0):
        """SIGTERM and wait."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self):
        """SIGKILL: the server vanishes without a goodbye."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def restart(self):
        """Stop (if running) and start again on the same port; the data is gone."""
        self.stop()
        return self.start()

    def cleanup(self):
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def resp_encode(args):
    """One command as RESP bytes (also used by bench/redis_op_cost.py)."""
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(parts)


def resp_read(f):
    """One decoded reply from the binary file f; error replies raise RuntimeError."""
    line = f.readline()
    if not line:
        raise OSError("redis closed the connection")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise RuntimeError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)[:-2]
        return data.decode(errors="replace")
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [resp_read(f) for _ in range(n)]
    raise OSError("bad RESP reply: %r" % line)


_shared_redis = None


def shared_redis():
    """One redis-server per test process, started on first use and stopped at exit."""
    global _shared_redis
    if _shared_redis is None or _shared_redis.proc is None or _shared_redis.proc.poll() is not None:
        import atexit
        _shared_redis = RedisServer().start()
        atexit.register(_shared_redis.cleanup)
    return _shared_redis


# ---------------------------------------------------------------------------------------------
# HTTP client


class Response(tuple):
    """(status, headers, body) with names; body is parsed JSON when it parses, else text."""

    def __new__(cls, status, headers, body):
        return super().__new__(cls, (status, headers, body))

    status = property(lambda self: self[0])
    headers = property(lambda self: self[1])
    body = property(lambda self: self[2])

    def __repr__(self):
        return "Response(%d, %r)" % (self.status, self.body)


class Client:
    """HTTP/1.1 keep-alive client for one cpd. Paths not starting with '/' are relative to
    /api/control-plane/ (so "agents" means /api/control-plane/agents)."""

    def __init__(self, port, host="127.0.0.1", token=None, timeout=30.0):
        self.host, self.port, self.token, self.timeout = host, port, token, timeout
        self.conn = None

    def close(self):
        if self.conn:
            self.conn.close()
            self.conn = None

    def _connection(self):
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        return self.conn

    def request(self, method, path, body=None, raw=None, headers=None, token=None, timeout=None):
        """Send one request and return Response(status, headers, body).
        body: a JSON value sent as application/json; raw: bytes/str sent as is (Content-Type
        application/json unless headers says otherwise; a header set to None is left out).
        token: a bearer token for this request (default: the client's)."""
        if not path.startswith("/"):
            path = BASE + "/" + path
        hdrs = {}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        elif raw is not None:
            data = raw.encode() if isinstance(raw, str) else raw
            hdrs["Content-Type"] = "application/json"
        tok = token if token is not None else self.token
        if tok:
            hdrs["Authorization"] = "Bearer " + tok
        for k, v in (headers or {}).items():
            for existing in [h for h in hdrs if h.lower() == k.lower()]:
                del hdrs[existing]
            if v is not None:
                hdrs[k] = v
        if data is None and method in ("POST", "PUT", "PATCH"):
            hdrs.setdefault("Content-Length", "0")
        for attempt in (0, 1):
            conn = self._connection()
            if timeout is not None:
                conn.timeout = timeout
                if conn.sock:
                    conn.sock.settimeout(timeout)
            reused = conn.sock is not None
            try:
                conn.request(method, path, body=data, headers=hdrs)
                resp = conn.getresponse()
                raw_body = resp.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError,
                    http.client.CannotSendRequest):
                # A kept-alive connection the server closed while idle: retry once on a new one.
                self.close()
                if attempt == 0 and reused:
                    continue
                raise
            finally:
                if timeout is not None and self.conn is not None:
                    self.conn.timeout = self.timeout
                    if self.conn.sock:
                        self.conn.sock.settimeout(self.timeout)
            if resp.will_close:
                self.close()
            return Response(resp.status, resp.headers, _decode(raw_body))
        raise AssertionError("unreachable")

    # Shorthands.
    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)


def _decode(raw_body):
    text = raw_body.decode("utf-8", errors="replace")
    if not text:
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def q(s):
    """Percent-encode one path segment (an agent id may hold '/', '@', ':')."""
    return urllib.parse.quote(s, safe="")


# ---------------------------------------------------------------------------------------------
# cpd


class Cpd:
    """One cpd process with a generated YAML config in a private temp dir.

    config: extra top-level config keys merged into the generated file (a None value removes a
    key); env: environment overrides (a None value removes a variable); store: memory | redis;
    redis: the RedisServer for the redis store (default: the shared one); args: extra argv.
    """

    def __init__(self, config=None, env=None, store=None, redis=None, args=None, listen=None,
                 write_config=True, cwd=None, plugin_dir_env=True):
        self.store = store or STORE
        self.dir = tempfile.mkdtemp(prefix="cpd-e2e-")
        self.port = None
        self.listen = listen
        self.extra_config = config or {}
        self.extra_env = env or {}
        self.args = list(args or [])
        self.redis = redis
        self.write_config = write_config
        self.cwd = cwd or self.dir
        self.plugin_dir_env = plugin_dir_env
        self.prefix = "cpdtest:%s:" % uuid.uuid4().hex[:12]
        self.config_path = os.path.join(self.dir, "cpd.yaml") if write_config else None
        self.stderr_path = os.path.join(self.dir, "cpd.stderr")
        self.proc = None
        self.clients = []

    # -- configuration
    def config(self):
        cfg = {}
        if self.store == "redis":
            if not os.path.exists(os.path.join(PLUGIN_DIR, "redis.so")):
                raise unittest.SkipTest("redis.so is not built (CP_WITH_REDIS=OFF or no hiredis)")
            if self.redis is None:
                self.redis = shared_redis()
            cfg["storage"] = {"plugin": "redis",
                              "options": {"url": self.redis.url, "prefix": self.prefix}}
        else:
            cfg["storage"] = {"plugin": "memory"}
        return deep_merge(cfg, self.extra_config)

    def environment(self):
        env = {k: v for k, v in os.environ.items() if k not in _CPD_ENV_VARS}
        if self.plugin_dir_env:
            env["CONTROL_PLANE_PLUGIN_DIR"] = PLUGIN_DIR
        # Leaks found at exit make cpd exit non-zero, which stop() reports.
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:exitcode=23")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
        for k, v in self.extra_env.items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = str(v)
        return env

    def argv(self):
        argv = [CPD_BIN]
        if self.config_path:
            argv += ["--config", self.config_path]
        if self.listen is not False:
            argv += ["--listen", self.listen or "127.0.0.1:%d" % self.port]
        return argv + self.args

    # -- life cycle
    def spawn(self):
        """Start the process without waiting for it to answer."""
        if not os.path.exists(CPD_BIN):
            raise AssertionError("cpd binary not found at %s (set CPD_BIN)" % CPD_BIN)
        if self.port is None:
            self.port = _port_of(self.listen) if self.listen else free_port()
        if self.config_path:
            with open(self.config_path, "w") as f:
                f.write(to_yaml(self.config()))
        err = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen(self.argv(), env=self.environment(), cwd=self.cwd,
                                     stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                                     preexec_fn=_die_with_parent)
        err.close()
        return self

    def start(self, timeout=15.0):
        """Start cpd and wait until GET /api/control-plane/health answers 200."""
        self.spawn()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("cpd exited with %s at start-up:\n%s"
                                     % (self.proc.returncode, self.describe()))
            try:
                c = Client(self.port, timeout=2.0)
                r = c.get("health")
                c.close()
                if r.status == 200:
                    return self
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.02)
        self.kill()
        raise AssertionError("cpd did not answer /health within %.0fs:\n%s"
                             % (timeout, self.describe()))

    def client(self, token=None, timeout=30.0):
        c = Client(self.port, token=token, timeout=timeout)
        self.clients.append(c)
        return c

    def stderr(self):
        try:
            with open(self.stderr_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def describe(self):
        cfg = ""
        if self.config_path and os.path.exists(self.config_path):
            with open(self.config_path) as f:
                cfg = f.read()
        return ("--- argv: %s\n--- config:\n%s--- stderr:\n%s---"
                % (" ".join(self.argv()), cfg, self.stderr()))

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_exit(self, timeout=10.0):
        """Wait for the process to end on its own; returns its exit status."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("cpd did not exit within %.0fs:\n%s" % (timeout, self.describe()))

    def stop(self, timeout=10.0, check=True):
        """SIGTERM; assert that cpd exits 0 within `timeout` seconds (sanitizer reports and
        leaks make it exit non-zero). Returns the exit status."""
        for c in self.clients:
            c.close()
        self.clients = []
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("cpd did not exit within %.0fs of SIGTERM:\n%s"
                                     % (timeout, self.describe()))
        rc = self.proc.returncode
        self.proc_rc = rc
        self.proc = None
        if check and rc != 0:
            raise AssertionError("cpd exited with %d after SIGTERM:\n%s" % (rc, self.describe()))
        if check:
            _check_sanitizers(self.stderr(), self)
        return rc

    def kill(self):
        """SIGKILL: no clean-up, as after a crash."""
        for c in self.clients:
            c.close()
        self.clients = []
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def cleanup(self):
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def _port_of(listen):
    return int(listen.rsplit(":", 1)[1])


def _check_sanitizers(text, cpd):
    for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
        if marker in text:
            raise AssertionError("sanitizer report in cpd's stderr:\n%s" % cpd.describe())


def run_cpd_to_exit(args, env=None, config_text=None, cwd=None, timeout=15.0, plugin_dir_env=True):
    """Run cpd with `args` (and a config file written from config_text, passed with --config)
    until it exits by itself. Returns (exit status, stdout, stderr)."""
    tmp = tempfile.mkdtemp(prefix="cpd-e2e-")
    try:
        argv = [CPD_BIN]
        if config_text is not None:
            path = os.path.join(tmp, "cpd.yaml")
            with open(path, "w") as f:
                f.write(config_text)
            argv += ["--config", path]
        argv += list(args)
        full_env = {k: v for k, v in os.environ.items() if k not in _CPD_ENV_VARS}
        if plugin_dir_env:
            full_env["CONTROL_PLANE_PLUGIN_DIR"] = PLUGIN_DIR
        full_env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:exitcode=23")
        for k, v in (env or {}).items():
            if v is None:
                full_env.pop(k, None)
            else:
                full_env[k] = str(v)
        try:
            p = subprocess.run(argv, env=full_env, cwd=cwd or tmp, stdin=subprocess.DEVNULL,
                               capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            raise AssertionError("cpd %s did not exit within %.0fs; stderr:\n%s"
                                 % (" ".join(argv), timeout,
                                    (e.stderr or b"").decode(errors="replace")))
        return (p.returncode, p.stdout.decode(errors="replace"),
                p.stderr.decode(errors="replace"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Test case base


class CpdTestCase(unittest.TestCase):
    """Base class. Class attributes:
      cpd_config  extra config keys for every cpd of the class
      cpd_env     environment overrides
      per_test    True: a fresh cpd per test (default); False: one cpd for the class
      start_server  False: no server at all (tests that run cpd themselves; self.cpd is None)
    self.cpd is the server and self.c a keep-alive client to it."""

    cpd_config = {}
    cpd_env = {}
    per_test = True
    start_server = True
    token = None

    @classmethod
    def _new_cpd(cls):
        return Cpd(config=cls.cpd_config, env=cls.cpd_env).start()

    @classmethod
    def setUpClass(cls):
        cls._class_cpd = None
        if cls.start_server and not cls.per_test:
            cls._class_cpd = cls._new_cpd()

    @classmethod
    def tearDownClass(cls):
        if cls._class_cpd is not None:
            try:
                cls._class_cpd.stop()
            finally:
                cls._class_cpd.cleanup()
                cls._class_cpd = None

    def setUp(self):
        self._extra_cpds = []
        self._uid = 0
        self.cpd = self.c = None
        if not self.start_server:
            return
        if self.per_test:
            self.cpd = self._new_cpd()
        else:
            self.cpd = self._class_cpd
        self.c = self.cpd.client(token=self.token)

    def tearDown(self):
        for cpd in self._extra_cpds:
            cpd.cleanup()
        if self.cpd is None:
            return
        if self.per_test:
            try:
                self.cpd.stop()
            finally:
                self.cpd.cleanup()
        else:
            self.c.close()

    def start_cpd(self, **kw):
        """An extra cpd for this test (stopped with kill at tearDown unless stopped before)."""
        cpd = Cpd(**kw)
        self._extra_cpds.append(cpd)
        return cpd.start()

    def uid(self, prefix="a"):
        """A unique identifier for this test (agent ids, capabilities, task types)."""
        self._uid += 1
        return "%s-%d-%s" % (prefix, self._uid, uuid.uuid4().hex[:6])

    # -- assertions
    def assertStatus(self, r, status, msg=None):
        if r.status != status:
            self.fail("expected HTTP %d, got %d %r%s" % (status, r.status, r.body,
                                                        (" (" + msg + ")") if msg else ""))

    def assertError(self, r, status, code, mentions=None):
        """An error response: the status, {"error": non-empty text, "code": code}, JSON; and
        when `mentions` is given, the message names it (a field, a state)."""
        self.assertStatus(r, status, "expected error %s" % code)
        self.assertIsInstance(r.body, dict, "error body is not a JSON object: %r" % (r.body,))
        self.assertEqual(r.body.get("code"), code, "wrong error code in %r" % (r.body,))
        self.assertIsInstance(r.body.get("error"), str, r.body)
        self.assertTrue(r.body["error"], "empty error message")
        ctype = r.headers.get("Content-Type", "")
        self.assertIn("application/json", ctype, "error Content-Type %r" % ctype)
        if mentions is not None:
            self.assertIn(mentions, r.body["error"],
                          "error message %r does not name %r" % (r.body["error"], mentions))

    def assertTimestamp(self, value, near=None, slack=10.0):
        self.assertIsInstance(value, str, "timestamp is %r" % (value,))
        self.assertRegex(value, TIMESTAMP_RE)
        if near is not None:
            self.assertLess(abs(parse_timestamp(value) - near), slack,
                            "timestamp %s is not near now" % value)

    # -- API shorthands (each asserts success)
    def register(self, agent_id=None, client=None, expect=201, **fields):
        body = dict(fields)
        body["agent_id"] = agent_id or self.uid("agent")
        r = (client or self.c).post("agents", body)
        self.assertStatus(r, expect, "register %s" % body["agent_id"])
        return r.body

    def submit(self, client=None, **fields):
        fields.setdefault("task_type", "t")
        r = (client or self.c).post("tasks", fields)
        self.assertStatus(r, 201, "submit %r" % fields)
        self.assertRegex(r.body["task_id"], TASK_ID_RE)
        return r.body["task_id"]

    def claim(self, agent_id, client=None, **fields):
        fields["agent_id"] = agent_id
        r = (client or self.c).post("tasks/claim", fields)
        self.assertStatus(r, 200, "claim by %s" % agent_id)
        self.assertIn("task", r.body)
        return r.body["task"]

    def task(self, task_id, client=None):
        r = (client or self.c).get("tasks/" + task_id)
        self.assertStatus(r, 200, "get task %s" % task_id)
        return r.body

    def agent(self, agent_id, client=None):
        r = (client or self.c).get("agents/" + q(agent_id))
        self.assertStatus(r, 200, "get agent %s" % agent_id)
        return r.body

    def heartbeat(self, agent_id, status=None, client=None):
        body = {} if status is None else {"status": status}
        r = (client or self.c).post("agents/%s/heartbeat" % q(agent_id), body)
        self.assertStatus(r, 200, "heartbeat %s" % agent_id)
        return r.body

    def snapshot(self, client=None):
        """Everything visible: all agents and all tasks (for 'nothing changed' checks)."""
        c = client or self.c
        a = c.get("agents?available=false")
        self.assertStatus(a, 200)
        t = c.get("tasks?limit=1000")
        self.assertStatus(t, 200)
        agents = sorted(a.body["agents"], key=lambda x: x["agent_id"])
        tasks = sorted(t.body["tasks"], key=lambda x: x["id"])
        return {"agents": agents, "agents_total": a.body["total"], "tasks": tasks,
                "tasks_total": t.body["total"]}


class SseReader:
    """A Server-Sent Events reader on its own connection (a raw socket, so that a read may time
    out and be tried again): GET <path> (relative to /api/control-plane/ like Client), then
    next() event by event. An event is a dict {"id": str or None, "event": name, "data": parsed
    JSON (text when it does not parse)}; comment lines are counted in .comments, "retry:" kept
    in .retry. status, headers (lower-case names) and, for a refusal, body as Client has them."""

    def __init__(self, port, path="events", token=None, headers=None, timeout=10.0):
        if not path.startswith("/"):
            path = BASE + "/" + path
        hdrs = {"Host": "127.0.0.1:%d" % port, "Accept": "text/event-stream"}
        if token:
            hdrs["Authorization"] = "Bearer " + token
        hdrs.update(headers or {})
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        head = "GET %s HTTP/1.1\r\n" % path + "".join("%s: %s\r\n" % kv for kv in hdrs.items())
        self.sock.sendall((head + "\r\n").encode())
        self.raw = b""  # received, not yet de-chunked
        self.buf = ""  # de-chunked text not yet parsed into events
        self.comments = 0
        self.retry = None
        self.eof = False
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.raw:
            if not self._recv(deadline):
                raise AssertionError("no response head from cpd")
        head, self.raw = self.raw.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            self.headers[k.strip().lower()] = v.strip()
        self.chunked = self.headers.get("transfer-encoding", "").lower() == "chunked"
        self.body = None
        if self.status != 200:
            n = int(self.headers.get("content-length", "0"))
            while len(self.raw) < n and self._recv(deadline):
                pass
            self.body = _decode(self.raw[:n])

    def _recv(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("no event within the time allowed")
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise AssertionError("no event within the time allowed")
        except ConnectionError:
            chunk = b""
        if not chunk:
            self.eof = True
            return False
        self.raw += chunk
        return True

    def _dechunk(self):
        if not self.chunked:
            self.buf += self.raw.decode("utf-8", errors="replace")
            self.raw = b""
            return
        while b"\r\n" in self.raw:
            size_line, rest = self.raw.split(b"\r\n", 1)
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                self.eof = True
                self.raw = b""
                return
            if len(rest) < size + 2:
                return
            self.buf += rest[:size].decode("utf-8", errors="replace")
            self.raw = rest[size + 2:]

    def next(self, timeout=10.0):
        """The next event, or None when the server ended the stream."""
        deadline = time.monotonic() + timeout
        while True:
            self._dechunk()
            while "\n\n" in self.buf:
                block, self.buf = self.buf.split("\n\n", 1)
                ev = {"id": None, "event": "message", "data": None}
                data = []
                for line in block.split("\n"):
                    if line.startswith(":"):
                        self.comments += 1
                        continue
                    key, _, value = line.partition(":")
                    value = value[1:] if value.startswith(" ") else value
                    if key == "data":
                        data.append(value)
                    elif key in ("id", "event"):
                        ev[key] = value
                    elif key == "retry":
                        self.retry = int(value)
                if data:
                    ev["data"] = _decode("\n".join(data).encode())
                    return ev
            if self.eof:
                return None
            self._recv(deadline)

    def until(self, predicate, timeout=10.0):
        """Events up to and including the first one predicate(ev) accepts."""
        deadline = time.monotonic() + timeout
        seen = []
        while True:
            ev = self.next(max(0.01, deadline - time.monotonic()))
            if ev is None:
                raise AssertionError("the stream ended before the event; got %r" % seen)
            seen.append(ev)
            if predicate(ev):
                return seen

    def close(self):
        self.sock.close()


def in_thread(fn, *args, **kwargs):
    """Run fn in a thread; returns a handle with .join() -> (result, elapsed seconds)."""
    box = {}

    def run():
        t0 = time.monotonic()
        try:
            box["result"] = fn(*args, **kwargs)
        except BaseException as e:  # reported by join()
            box["error"] = e
        box["elapsed"] = time.monotonic() - t0

    th = threading.Thread(target=run, daemon=True)
    th.start()

    class Handle:
        thread = th

        @staticmethod
        def join(timeout=30.0):
            th.join(timeout)
            if th.is_alive():
                raise AssertionError("background request did not finish in %.0fs" % timeout)
            if "error" in box:
                raise box["error"]
            return box["result"], box["elapsed"]

    return Handle()


def main():
    """unittest's main with a verbose summary; exits non-zero on failure."""
    print("cpdtest: store=%s cpd=%s" % (STORE, CPD_BIN), file=sys.stderr)
    unittest.main(verbosity=2)
