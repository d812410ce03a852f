"""redis_unwell_index.py — the Redis index of degraded/unhealthy agents behind GET /health's
summary (`{<prefix>}unwell`): kept by every change of an agent's health, and built once by the
reaper for a deployment written before it existed (simulated by deleting it and its marker)."""

import time

from cpdtest import CpdTestCase, main, wait_until


class UnwellIndex(CpdTestCase):
    cpd_env = {"HEARTBEAT_TIMEOUT": "1"}

    def unhealthy_listed(self):
        r = self.c.get("health?agents=summary")
        self.assertStatus(r, 200)
        return sorted(r.body["unhealthy_agents"])

    def test_index_follows_health_and_is_rebuilt(self):
        ids = sorted(self.uid("u") for _ in range(5))
        for a in ids:
            self.register(a)
        silent = ids[1::2]

        def silent_offline():
            for a in ids[::2]:
                self.heartbeat(a)
            return self.unhealthy_listed() == silent
        wait_until(silent_offline, 10, interval=0.2, what="the silent agents listed unhealthy")

        # A heartbeat brings one back: it leaves the index.
        self.heartbeat(silent[0])
        self.assertEqual(self.unhealthy_listed(), silent[1:])

        # An older deployment: neither the index nor its marker. The reaper builds it.
        tag = "{%s}" % self.cpd.prefix
        redis = self.cpd.redis
        self.assertEqual(redis.command("ZRANGE", tag + "unwell", "0", "-1"), silent[1:])
        redis.command("DEL", tag + "unwell", tag + "unwell:built")
        self.assertEqual(self.unhealthy_listed(), [])
        wait_until(lambda: self.unhealthy_listed() == silent[1:], 5, interval=0.05,
                   what="the index rebuilt by the reaper")
        self.assertEqual(redis.command("EXISTS", tag + "unwell:built"), 1)
        time.sleep(0.3)  # built once: later passes leave it alone
        self.assertEqual(redis.command("ZRANGE", tag + "unwell", "0", "-1"), silent[1:])


if __name__ == "__main__":
    main()
