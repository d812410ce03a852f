"""benchlib.py — what the benchmark scripts share (standard library only): free loopback ports,
a process's resident memory, a cpd process started on a store and waited for, and a RESP
connection to a redis-server with the cost tools' function-library loading and FCALL timing.
Not a benchmark itself."""

import http.client
import os
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
from cpdtest import resp_encode, resp_read  # noqa: E402  (the e2e tests' RESP; starts nothing)

API = "/api/control-plane"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def rss_kb(pid):
    """VmRSS of the process, 0 when it is gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def wait_http(port, proc, what, timeout=30):
    """Until GET /stats answers 200 on port; exits if proc ends or the time is up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("%s exited (%s)" % (what, proc.returncode))
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", API + "/stats")
            if c.getresponse().status == 200:
                c.close()
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("%s did not start" % what)


def start_cpd(build, storage_yaml, prefix="cpd-bench-", timeout=30):
    """cpd of `build` on a free port with `storage_yaml` (the config's storage: section) and
    long heartbeat/cleanup intervals, logging to <dir>/cpd.log; returns (port, proc, dir,
    log file)."""
    port = free_port()
    d = tempfile.mkdtemp(prefix=prefix)
    cfg = os.path.join(d, "cpd.yaml")
    with open(cfg, "w") as f:
        f.write(storage_yaml)
    env = dict(os.environ, CONTROL_PLANE_PLUGIN_DIR=os.path.join(build, "plugins"),
               HEARTBEAT_TIMEOUT="86400", CLEANUP_INTERVAL="3600")
    for k in ("CONTROL_PLANE_TOKENS", "CONTROL_PLANE_STORAGE"):
        env.pop(k, None)
    log = open(os.path.join(d, "cpd.log"), "wb")
    proc = subprocess.Popen([os.path.join(build, "cpd"), "--config", cfg, "--listen",
                             "127.0.0.1:%d" % port], env=env, stdout=log, stderr=log)
    wait_http(port, proc, "cpd in %s (log: %s)" % (build, log.name), timeout)
    return port, proc, d, log


class RespConn:
    """One pipelined RESP connection to the redis-server on port."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.rd = self.sock.makefile("rb")

    def pipe(self, cmds):
        self.sock.sendall(b"".join(resp_encode(c) for c in cmds))
        return [resp_read(self.rd) for _ in cmds]

    def cmd(self, *args):
        return self.pipe([args])[0]

    def require_empty(self, tool, port):
        if self.cmd("DBSIZE") != 0:
            sys.exit("%s: the server on port %d holds keys; use an empty one" % (tool, port))

    def fcall_usec(self):
        """(calls, usec) of FCALL since the last CONFIG RESETSTAT."""
        for line in self.cmd("INFO", "commandstats").split("\r\n"):
            if line.startswith("cmdstat_fcall:"):
                d = dict(kv.split("=") for kv in line.split(":", 1)[1].split(","))
                return int(d["calls"]), int(d["usec"])
        return 0, 0


def shared_modules(lua):
    """The shared Lua modules concatenated before every op, in order: RS_LUA_FILES of the
    plugin's CMakeLists.txt (beside lua/), so a module added there is loaded here too."""
    with open(os.path.join(lua, "..", "CMakeLists.txt")) as f:
        text = f.read()
    line = text[text.index("set(RS_LUA_FILES"):]
    line = line[:line.index(")")]
    return tuple(w.rsplit("/", 1)[1][:-len(".lua")] for w in line.split()[1:])


def lua_library(lua, name, fn_prefix, shared, ops, parts=()):
    """The cost tools' own function library `name` from the plugin's lua/ directory: the shared
    modules (RS_LUA_FILES) once, each of `parts` as local function op_<part>(ARGV) (what
    embed_lua.cmake composes ops from), then each op registered as <fn_prefix><op>."""
    def read(m):
        with open(os.path.join(lua, m + ".lua")) as f:
            return f.read()
    lib = "#!lua name=%s\n" % name + "".join(read(m) + "\n" for m in shared)
    for part in parts:
        lib += "\nlocal function op_%s(ARGV)\n%s\nend\n" % (part, read(part))
    for o in ops:
        lib += ("\nredis.register_function('%s%s', function(KEYS, ARGV)\n"
                "local refused = begin(KEYS, ARGV)\nif refused then return refused end\n"
                % (fn_prefix, o)) + read(o) + "\nend)\n"
    return lib
