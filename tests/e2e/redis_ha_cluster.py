"""redis_ha_cluster.py — cpd on Redis Cluster (three masters, three replicas): every key of a
deployment is in the slot of its `{prefix}` hash tag.

* Start-up on a node that does not serve the slot (a master of other slots, and, through the
  `nodes` seed list after a dead url, a replica of another master): both processes follow
  MOVED to the owner, name it in /health and /stats, and work from the first request.
* CLUSTER FAILOVER of the owner under load (submitters and agents through both processes):
  both follow the new owner within 10 s of the promotion without a restart, count the
  redirect and the failover in /metrics, and no task that a client was told about is lost or
  completed twice."""

import uuid

from cpdtest import CpdTestCase, free_port, main
from rediscluster import shared_prefix_config, verify_exactly_once
from redisha import (Cluster, assert_followed, command, ha_run, key_slot, metric,
                     wait_new_master)


class Url:
    def __init__(self, url):
        self.url = url


class ClusterHA(CpdTestCase):
    start_server = False

    def setUp(self):
        super().setUp()
        self.cluster = Cluster()
        self.addCleanup(self.cluster.cleanup)
        self.cluster.start()
        self.prefix = "hac:%s:" % uuid.uuid4().hex[:10]
        self.slot = key_slot("{%s}" % self.prefix)
        self.owner, self.owner_replicas = self.cluster.owner(self.slot)
        masters = {m for _, _, m, _ in self.cluster.slot_map(self.owner)}
        self.other_master = sorted(masters - {self.owner})[0]
        self.other_replica = [r for f, l, m, reps in self.cluster.slot_map(self.owner)
                              if m == self.other_master for r in reps][0]

    def test_wrong_node_at_start_then_cluster_failover_under_load(self):
        cfg_a = shared_prefix_config(self.prefix)
        a = self.start_cpd(store="redis", redis=Url("redis://127.0.0.1:%d" % self.other_master),
                           config=cfg_a)
        cfg_b = shared_prefix_config(self.prefix, nodes="127.0.0.1:%d" % self.other_replica)
        b = self.start_cpd(store="redis", redis=Url("redis://127.0.0.1:%d" % free_port()),
                           config=cfg_b)
        for cpd in (a, b):
            c = cpd.client()
            st = c.get("health").body["storage"]
            self.assertEqual((st["mode"], st["address"], st["available"]),
                             ("cluster", "127.0.0.1:%d" % self.owner, True), cpd.describe())
        self.register("first", client=a.client())  # works from the first request
        self.assertEqual(b.client().get("agents/first").status, 200)

        def failover():
            command(self.owner_replicas[0], "CLUSTER", "FAILOVER")
            return wait_new_master(self.owner_replicas[:1])
        res = ha_run(self, a, b, failover)
        assert_followed(self, res, [a, b])
        ledger = res["ledger"]
        tasks = verify_exactly_once(self, res["clients"], ledger, res["agents"], res["types"],
                                    800)
        total = command(res["new_port"], "ZCARD", "{%s}tasks" % self.prefix)  # layout 3
        self.assertEqual(int(total), len(tasks))
        redirects = [metric(c, "cp_storage_redirects_total") for c in res["clients"]]
        for r in redirects:
            self.assertGreaterEqual(r, 1)
        print("CLUSTER FAILOVER: writes again %.2fs / %.2fs after the promotion (processes A / "
              "B; longest time without a successful write %.2fs / %.2fs), %d answers 503, "
              "redirects followed %d / %d, 0 acknowledged tasks lost, 0 completed twice"
              % (res["recovery"][0][0], res["recovery"][1][0], res["recovery"][0][1],
                 res["recovery"][1][1], ledger.n503, redirects[0], redirects[1]))
        a.stop()
        b.stop()


if __name__ == "__main__":
    main()
