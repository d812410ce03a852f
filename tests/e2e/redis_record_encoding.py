"""redis_record_encoding.py — agent records are real hash tables in Redis (docs/redis.md
"Performance"): a new agent's hash is converted at registration (a listpack hash finds each
field by scanning the record, and every heartbeat, claim and completion reads ~30 of them),
or when it registers again (a record written by an older cpd), with nothing left in it of the
conversion; the record's fields are those of the key layout."""

from cpdtest import CpdTestCase, main


class RecordEncoding(CpdTestCase):
    def test_agent_record_is_a_hash_table(self):
        agent = self.register(self.uid("enc"), capabilities=["code"])["agent_id"]
        key = "{%s}a:%s" % (self.cpd.prefix, agent)
        redis = self.cpd.redis
        self.assertEqual(redis.command("OBJECT", "ENCODING", key), "hashtable")
        fields = redis.command("HKEYS", key)
        self.assertNotIn("_", fields)
        for f in ("id", "caps", "st", "hb", "inf", "mc"):
            self.assertIn(f, fields)
        # It stays one through the lifecycle, and reads as before.
        task = self.submit(required_capabilities=["code"])
        self.assertEqual(self.claim(agent)["id"], task)
        self.assertStatus(self.c.post("tasks/%s/complete" % task,
                                      {"agent_id": agent, "result": {"ok": True}}), 200)
        self.heartbeat(agent)
        self.assertEqual(redis.command("OBJECT", "ENCODING", key), "hashtable")
        self.assertEqual(self.agent(agent)["tasks_completed"], 1)
        self.assertNotIn("_", redis.command("HKEYS", key))

    def test_an_older_record_is_converted_when_it_registers_again(self):
        agent = self.register(self.uid("old"))["agent_id"]
        key = "{%s}a:%s" % (self.cpd.prefix, agent)
        redis = self.cpd.redis
        # As an older cpd left it: the same fields, in a listpack.
        fields = redis.command("HGETALL", key)
        redis.command("DEL", key)
        redis.command("HSET", key, *fields)
        self.assertEqual(redis.command("OBJECT", "ENCODING", key), "listpack")
        self.register(agent, max_concurrent_tasks=2, expect=200)
        self.assertEqual(redis.command("OBJECT", "ENCODING", key), "hashtable")
        self.assertEqual(self.agent(agent)["max_concurrent_tasks"], 2)


if __name__ == "__main__":
    main()
