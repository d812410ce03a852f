#!/usr/bin/env python3
"""redis_events.py — the event stream across cpd processes on one Redis: every process tells
every change, whichever process made it, in the same order under the same ids (so a reader
resumes on another process with the id it had); the scripts publish nothing while no process
streams (the flag key {prefix}feed is absent) and start once one does; a lost connection to
Redis is told to readers as `resync`."""

import io
import socket
import time
import uuid

import cpdtest
from cpdtest import CpdTestCase, RedisServer, SseReader, resp_encode, resp_read, shared_redis


class ChannelListener:
    """A raw Redis subscriber on one channel: the messages that arrived."""

    def __init__(self, redis, channel):
        self.sock = socket.create_connection(("127.0.0.1", redis.port), timeout=5)
        self.sock.sendall(resp_encode(["SUBSCRIBE", channel]))
        self.buf = b""
        assert self.messages(wait=2, want_subscribe=True) == []

    def messages(self, wait=0.5, want_subscribe=False):
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            self.buf += chunk
            if want_subscribe and b"subscribe" in self.buf:
                break
        got, f = [], io.BytesIO(self.buf)
        while True:
            at = f.tell()
            try:
                reply = resp_read(f)
            except (OSError, ValueError, IndexError):
                f.seek(at)  # an incomplete reply: wait for the rest
                break
            if reply[0] == "message":
                got.append(reply[2])
        self.buf = f.read()
        return got

    def close(self):
        self.sock.close()


class RestartableRedis(RedisServer):
    WAIT_FOR_FREE_PORT = False  # redis-server binds with SO_REUSEADDR


def lifecycle(test, client, cap):
    a = test.uid("agent")
    test.register(a, client=client, capabilities=[cap])
    t = test.submit(client=client, task_type="tt", required_capabilities=[cap])
    test.claim(a, client=client)
    test.assertStatus(client.post("tasks/%s/complete" % t, {"agent_id": a}), 200)
    return a, t


class EventsAcrossProcesses(CpdTestCase):
    start_server = False

    def setUp(self):
        super().setUp()
        self.redis = shared_redis()
        self.prefix = "ev:%s:" % uuid.uuid4().hex[:10]
        cfg = {"storage": {"options": {"prefix": self.prefix}}}
        self.a = self.start_cpd(store="redis", redis=self.redis, config=cfg)
        self.b = self.start_cpd(store="redis", redis=self.redis, config=cfg)
        self.ca, self.cb = self.a.client(), self.b.client()

    def reader(self, cpd, **kw):
        r = SseReader(cpd.port, "events", **kw)
        self.addCleanup(r.close)
        self.assertEqual(r.status, 200, r.body)
        return r

    def test_nothing_published_until_someone_streams(self):
        channel = "{%s}feed" % self.prefix
        listen = ChannelListener(self.redis, channel)
        self.addCleanup(listen.close)
        lifecycle(self, self.ca, "c1")
        self.assertEqual(listen.messages(), [])
        self.assertEqual(self.redis.command("EXISTS", channel), 0)
        ra = self.reader(self.a)
        cpdtest.wait_until(lambda: self.redis.command("EXISTS", channel) == 1, 5,
                           what="the feed key")
        ttl = self.redis.command("PTTL", channel)
        self.assertTrue(0 < ttl <= 30000, ttl)
        _, t = lifecycle(self, self.cb, "c2")  # made through the other process
        msgs = listen.messages()
        self.assertGreater(len(msgs), 0)
        # one message per script call: the number of its first change, then one line each
        first = msgs[0].split("\n")
        self.assertTrue(first[0].isdigit())
        self.assertEqual(len(first[1].split(" ")), 11)
        ev = ra.until(lambda e: e["event"] == "task_completed")[-1]
        self.assertEqual(ev["data"]["task_id"], t)

    def test_same_changes_same_ids_everywhere(self):
        ra, rb = self.reader(self.a), self.reader(self.b)
        time.sleep(0.3)  # both subscribed before the first change
        lifecycle(self, self.ca, "x1")
        lifecycle(self, self.cb, "x2")
        key = lambda e: (e["id"], e["event"], e["data"].get("task_id"), e["data"]["agent_id"])
        # each lifecycle: registered, submitted, claimed, busy, completed, ready
        ga = [ra.next() for _ in range(12)]
        gb = [rb.next() for _ in range(12)]
        self.assertEqual([key(e) for e in ga], [key(e) for e in gb])
        self.assertEqual([e["event"] for e in ga[:6]],
                         ["agent_registered", "task_submitted", "task_claimed",
                          "agent_status_changed", "task_completed", "agent_status_changed"])
        # a reader that read up to the fifth change on A resumes on B with that id
        r = self.reader(self.b, headers={"Last-Event-ID": ga[4]["id"]})
        rest = [r.next() for _ in range(len(ga) - 5)]
        self.assertEqual([key(e) for e in rest], [key(e) for e in ga[5:]])

    def test_complete_with_next_is_one_message(self):
        # One script call, one message: the completion's changes and the claim's, numbered in a
        # row, the completion first (lua/task_complete_next.lua defers the first step's).
        channel = "{%s}feed" % self.prefix
        listen = ChannelListener(self.redis, channel)
        self.addCleanup(listen.close)
        ra = self.reader(self.a)
        cpdtest.wait_until(lambda: self.redis.command("EXISTS", channel) == 1, 5,
                           what="the feed key")
        a = self.uid("agent")
        self.register(a, client=self.cb, capabilities=["n1"])
        t1 = self.submit(client=self.cb, task_type="tt", required_capabilities=["n1"])
        self.claim(a, client=self.cb)
        t2 = self.submit(client=self.cb, task_type="tt", required_capabilities=["n1"])
        listen.messages()  # what came before
        r = self.cb.post("tasks/%s/complete" % t1, {"agent_id": a, "next": {"block_ms": 0}})
        self.assertStatus(r, 200)
        self.assertEqual(r.body["next"]["id"], t2)
        msgs = listen.messages(wait=1)
        self.assertEqual(len(msgs), 1, msgs)
        lines = msgs[0].split("\n")
        first = int(lines[0])
        kinds = [int(l.split(" ")[0]) for l in lines[1:]]
        tasks = [l.split(" ")[3] for l in lines[1:]]
        # completed (9) t1, then claimed (7) t2 (agent status changes, 3, may sit between)
        self.assertEqual([k for k in kinds if k != 3], [9, 7], lines)
        self.assertEqual(tasks[kinds.index(9)], t1)
        self.assertEqual(tasks[kinds.index(7)], t2)
        # a reader sees them in that order
        evs = ra.until(lambda e: e["event"] == "task_claimed" and
                       e["data"].get("task_id") == t2)
        done = [e for e in evs if e["event"] == "task_completed"][-1]
        self.assertEqual(done["data"]["task_id"], t1)
        self.assertLess(evs.index(done), len(evs) - 1)
        self.assertGreater(first, 0)

    def test_lost_redis_connection_is_told_as_resync(self):
        own = RestartableRedis().start()
        self.addCleanup(own.cleanup)
        cpd = self.start_cpd(store="redis", redis=own)
        r = self.reader(cpd)
        time.sleep(0.3)
        self.register(self.uid("agent"), client=cpd.client(), capabilities=["y"])
        self.assertEqual(r.next()["event"], "agent_registered")
        own.restart()  # the pub/sub connection drops and comes back
        ev = r.until(lambda e: e["event"] == "resync", timeout=20)[-1]
        self.assertIn("reload", ev["data"]["reason"])
        self.assertIsNone(ev["id"])
        # and the stream goes on once the store is back (a registration made before this
        # process has made the feed key again is not told: that is what resync said)
        deadline = time.monotonic() + 20
        while True:
            a = self.uid("agent")
            reg = cpd.client().post("agents", {"agent_id": a, "capabilities": ["y"]})
            try:
                ev = r.until(lambda e: e["event"] == "agent_registered", timeout=1)[-1]
                break
            except AssertionError:
                self.assertLess(time.monotonic(), deadline, "no event after the restart")
        self.assertEqual(reg.status, 201)
        self.assertEqual(ev["data"]["agent_id"], a)

if __name__ == "__main__":
    cpdtest.main()
