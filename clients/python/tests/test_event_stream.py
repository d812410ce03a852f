"""test_events.py — the event stream from Python: Client.events() (a generator) and
AsyncClient.events() (an async iterator) against a real cpd — filters, the change's fields,
resumption with last_event_id, refusals raised, stopping by break, by a cancel event and by
cancelling the task — and against a fake server: reconnection with Last-Event-ID after the
server's retry delay, a dropped connection, oversized and malformed events."""

import asyncio
import threading
import time

import support
from support import CpdCase, FakeServer, read_request, run_async

import cpclient
from cpclient import AsyncClient, BadRequestError, Event, ProtocolError
from cpclient.events import SseParser


def submit_later(url, task_type, n, delay=0.5):
    """Submit n tasks of task_type from another thread after `delay` (the stream is open)."""
    ids = []

    def run():
        time.sleep(delay)
        with cpclient.Client(url) as c:
            for _ in range(n):
                ids.append(c.submit_task(task_type, {"n": 1}))

    th = threading.Thread(target=run, daemon=True)
    th.start()
    return th, ids


class SyncEventsTest(CpdCase):
    def test_filtered_events_and_resume(self):
        c = self.client()
        th, ids = submit_later(self.url, "py-events", 3)
        got = []
        for ev in c.events(types=["task_submitted"], task_type="py-events"):
            got.append(ev)
            if len(got) == 3:
                break
        th.join(10)
        self.assertEqual([e.type for e in got], ["task_submitted"] * 3)
        self.assertEqual([e.task_id for e in got], ids)
        self.assertEqual(got[0].data["new_status"], "pending")
        self.assertEqual(got[0].data["priority"], "normal")
        self.assertTrue(all(isinstance(e, Event) and e.id for e in got))
        self.assertEqual(sorted(int(e.id) for e in got), [int(e.id) for e in got])
        # resumed after the first: the other two again
        again = c.events(task_type="py-events", last_event_id=got[0].id)
        self.assertEqual([next(again).id for _ in range(2)], [got[1].id, got[2].id])
        again.close()
        # the same connection pool still serves ordinary calls
        self.assertEqual(c.get_task(ids[0]).id, ids[0])

    def test_refusal_raised_and_cancel_event(self):
        c = self.client()
        with self.assertRaises(BadRequestError) as cm:
            next(c.events(types=["task_done"]))
        self.assertEqual(cm.exception.code, "invalid_field")
        stop = threading.Event()
        threading.Timer(0.4, stop.set).start()
        t0 = time.monotonic()
        self.assertEqual(list(c.events(task_type="never", cancel=stop)), [])
        self.assertLess(time.monotonic() - t0, 3.0)


class AsyncEventsTest(CpdCase):
    def test_async_iterator(self):
        async def scenario():
            async with AsyncClient(self.url) as co:
                agent = "py-agent"

                async def act():
                    await asyncio.sleep(0.5)
                    await co.register_agent(agent_id=agent, capabilities=["x"])
                    await co.heartbeat(agent, "draining")

                task = asyncio.ensure_future(act())
                got = []
                async for ev in co.events(agent_id=agent):
                    got.append(ev)
                    if len(got) == 2:
                        break
                await task
                self.assertEqual([e.type for e in got],
                                 ["agent_registered", "agent_status_changed"])
                self.assertEqual(got[1].data["old_status"], "ready")
                self.assertEqual(got[1].data["new_status"], "draining")
                # cancelling the task that iterates ends the stream at once
                async def forever():
                    async for _ in co.events(task_type="never"):
                        pass

                t = asyncio.ensure_future(forever())
                await asyncio.sleep(0.3)
                t0 = time.monotonic()
                t.cancel()
                with self.assertRaises(asyncio.CancelledError):
                    await t
                self.assertLess(time.monotonic() - t0, 1.0)
                with self.assertRaises(BadRequestError):
                    async for _ in co.events(types="nope"):
                        pass

        run_async(scenario())


def fake_stream(conn, state):
    head = read_request(conn).decode("latin-1")
    last = None
    for line in head.split("\r\n"):
        if line.lower().startswith("last-event-id:"):
            last = line.split(":", 1)[1].strip()
    state.append(last)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n")

    def chunk(b):
        conn.sendall(b"%x\r\n%s\r\n" % (len(b), b))

    if last is None:
        chunk(b": hi\nretry: 50\n\nid: 7\nevent: first\ndata: {\"n\": 1}\n\n")
        conn.sendall(b"0\r\n\r\n")  # the server ends the stream
    elif last == "7":
        chunk(b"id: 8\nevent: second\ndata: {\"n\":\ndata: 2}\n\n")
        chunk(b"id: 9\nevent: third\ndata: not json\n\n")
        conn.shutdown(2)  # dropped mid-stream (no last chunk)
    else:
        chunk(b"event: resync\ndata: {\"reason\": \"x\"}\n\nid: 10\nevent: last\ndata: {}\n\n")
        time.sleep(5)


class FakeEventsTest(support.unittest.TestCase):
    def test_reconnects_with_last_event_id(self):
        seen = []
        server = FakeServer(lambda conn: fake_stream(conn, seen))
        self.addCleanup(server.close)
        with cpclient.Client(server.url) as c:
            it = c.events()
            got = [next(it) for _ in range(5)]
            it.close()
        self.assertEqual([(e.id, e.type) for e in got],
                         [("7", "first"), ("8", "second"), ("9", "third"), (None, "resync"),
                          ("10", "last")])
        self.assertEqual(got[1].data, {"n": 2})  # two data lines joined
        self.assertEqual(got[2].data, {"text": "not json"})
        self.assertEqual(seen[:3], [None, "7", "9"])

        async def scenario():
            async with AsyncClient(server.url) as co:
                out = []
                async for ev in co.events(last_event_id="7"):
                    out.append(ev.id)
                    if len(out) == 2:
                        break
                return out

        self.assertEqual(run_async(scenario()), ["8", "9"])

    def test_without_reconnect_the_stream_ends(self):
        seen = []
        server = FakeServer(lambda conn: fake_stream(conn, seen))
        self.addCleanup(server.close)
        with cpclient.Client(server.url) as c:
            self.assertEqual([e.id for e in c.events(reconnect=False)], ["7"])

    def test_hostile_events_bounded(self):
        p = SseParser(max_bytes=1024)
        with self.assertRaises(ProtocolError):
            p.feed(b"data: " + b"x" * 2000)  # a line without end
        p = SseParser(max_bytes=1024)
        with self.assertRaises(ProtocolError):
            for _ in range(40):
                p.feed(b"data: " + b"y" * 60 + b"\n")  # many lines, one event
        p = SseParser()
        self.assertEqual(p.feed(b"id: a\x00b\nretry: 99999999999\ndata: {}\n\n")[0].id, None)
        self.assertEqual(p.retry, 3600.0)


if __name__ == "__main__":
    support.main()
