"""test_retention.py — terminal tasks are bounded by count as well as by age: with
tasks.max_terminal N the oldest terminal tasks beyond N are deleted (by completed_at), pending
and held tasks are never touched, and the counters in /stats follow."""

import time

from cpdtest import CpdTestCase, main, wait_until


class MaxTerminal(CpdTestCase):
    cpd_config = {"tasks": {"max_terminal": 3}}

    def test_oldest_terminal_tasks_beyond_the_cap_are_deleted(self):
        agent = self.register(capabilities=["x"], max_concurrent_tasks=10)["agent_id"]
        done = []
        for i in range(6):
            tid = self.submit(task_type="capped")
            got = self.claim(agent)
            self.assertEqual(got["id"], tid)
            if i == 2:
                r = self.c.post("tasks/%s/fail" % tid, {"agent_id": agent, "error": "no",
                                                        "requeue": False})
            else:
                r = self.c.post("tasks/%s/complete" % tid, {"agent_id": agent, "result": i})
            self.assertStatus(r, 200)
            done.append(tid)
            time.sleep(0.01)  # distinct completed_at
        pending = self.submit(task_type="capped")
        held_id = self.submit(task_type="capped")
        self.assertEqual(self.claim(agent)["id"], pending)  # FIFO: the first is held now
        held, pending = pending, held_id

        def gone(tid):
            return self.c.get("tasks/" + tid).status == 404

        # The reaper runs every 250 ms: the three oldest terminal tasks go, the rest stay.
        wait_until(lambda: all(gone(t) for t in done[:3]), 10.0, what="the oldest to go")
        for tid in done[3:]:
            self.assertEqual(self.task(tid)["status"], "completed")
        self.assertEqual(self.task(held)["status"], "claimed")
        self.assertEqual(self.task(pending)["status"], "pending")
        r = self.c.get("tasks?limit=100")
        self.assertStatus(r, 200)
        self.assertEqual(sorted(t["id"] for t in r.body["tasks"]),
                         sorted(done[3:] + [held, pending]))
        stats = self.c.get("stats").body
        by_status = stats["scheduler"]["by_status"]
        self.assertEqual(by_status.get("completed", 0) + by_status.get("failed", 0), 3)
        self.assertEqual(stats["scheduler"]["total"], 5)


class NoCap(CpdTestCase):
    cpd_config = {"tasks": {"max_terminal": 0}}

    def test_zero_keeps_every_terminal_task(self):
        agent = self.register()["agent_id"]
        ids = []
        for _ in range(5):
            tid = self.submit()
            self.claim(agent)
            self.assertStatus(self.c.post("tasks/%s/complete" % tid, {"agent_id": agent}), 200)
            ids.append(tid)
        time.sleep(1.0)  # four reaper rounds
        for tid in ids:
            self.assertEqual(self.task(tid)["status"], "completed")


if __name__ == "__main__":
    main()
