"""redis_record_encoding.py — records as stored in Redis (docs/redis.md "Record format", layout
4): every agent and task is one string value, "<n>\\0<field>\\0...", the fields in a fixed order
with an absent one the byte 0x01, and stays one through its lifecycle; numbers are kept as exact
decimal text (no float rounding of ids, times or counters); the documented redis-cli EVAL reads
a record field by field; and a record that is not in that form (written by something else) is
an error answer, never a crash or a wrong reading."""

from cpdtest import CpdTestCase, main

# The order of the fields (A_REC and T_REC in lua/common.lua).
A_REC = ("id caps st model prov md probe reg hb la mc inf cur tc tf ls lc hs hlc hcf hcs hlat "
         "herr hci hcif hco hoa hra dra rep qsc wr").split()
T_REC = ("id type pl req st pr cat clat stat coat ps ag to mr re att res err md strat poa pou "
         "dl x cm qs qk qm pqm pqs cseq dw ctk tnb").split()

# docs/redis.md: a record's fields, in order, with redis-cli alone (read-only).
READ_RECORD = ("local s = redis.call('GET', KEYS[1]) local c = string.find(s, '\\0', 1, true) "
               "return {struct.unpack(string.rep('s', tonumber(string.sub(s, 1, c - 1))), s, "
               "c + 1)}")


class RecordEncoding(CpdTestCase):
    def fields(self, key, names):
        text = self.cpd.redis.command("GET", key)
        self.assertEqual(self.cpd.redis.command("TYPE", key), "string")
        parts = text.split("\0")
        self.assertEqual(parts[-1], "")  # every field ends with a zero byte
        self.assertEqual(int(parts[0]), len(names))
        self.assertEqual(len(parts), len(names) + 2)
        return {n: v for n, v in zip(names, parts[1:]) if v != "\x01"}

    def test_records_are_one_value_through_the_lifecycle(self):
        agent = self.register(self.uid("enc"), capabilities=["code"], model="m",
                              max_concurrent_tasks=3)["agent_id"]
        akey = "{%s}a:%s" % (self.cpd.prefix, agent)
        a = self.fields(akey, A_REC)
        self.assertEqual((a["id"], a["caps"], a["st"], a["model"], a["mc"], a["inf"]),
                         (agent, "code\n", "1", "m", "3", "0"))
        self.assertNotIn("cur", a)  # absent
        task = self.submit(required_capabilities=["code"], payload={"p": "a/b\u00e9"},
                           timeout_seconds=86400.5)
        tkey = "{%s}t:%s" % (self.cpd.prefix, task)
        t = self.fields(tkey, T_REC)
        self.assertEqual((t["id"], t["st"], t["pl"], t["to"]),
                         (task, "0", '{"p":"a/b\u00e9"}', "86400500"))
        view = self.task(task)
        self.assertEqual(self.claim(agent)["id"], task)
        t = self.fields(tkey, T_REC)
        self.assertEqual((t["st"], t["ag"], t["att"]), ("1", agent, "1"))
        self.assertEqual(self.fields(akey, A_REC)["cur"], task)
        self.assertStatus(self.c.post("tasks/%s/complete" % task,
                                      {"agent_id": agent, "result": {"ok": True}}), 200)
        t = self.fields(tkey, T_REC)
        self.assertEqual((t["st"], t["res"]), ("3", '{"ok":true}'))
        a = self.fields(akey, A_REC)
        self.assertEqual((a["inf"], a["tc"], a["lc"]), ("0", "1", "1"))
        self.assertNotIn("cur", a)
        self.heartbeat(agent)
        self.assertEqual(self.agent(agent)["tasks_completed"], 1)
        self.assertEqual(self.task(task)["created_at"], view["created_at"])

    def test_numbers_are_exact_text(self):
        agent = self.register(self.uid("num"))["agent_id"]
        a = self.fields("{%s}a:%s" % (self.cpd.prefix, agent), A_REC)
        for f in ("reg", "hb"):  # milliseconds since 1970: 13 digits, beyond a float's 14 %g
            self.assertRegex(a[f], r"^\d{13}$")
        # A timeout of 1000000.5 s: 1000000500 ms exactly, and read back as given.
        task = self.submit(timeout_seconds=1000000.5)
        t = self.fields("{%s}t:%s" % (self.cpd.prefix, task), T_REC)
        self.assertEqual(t["to"], "1000000500")
        self.assertEqual(self.task(task)["timeout_seconds"], 1000000.5)

    def test_readable_with_redis_cli_eval(self):
        agent = self.register(self.uid("cli"), capabilities=["x"])["agent_id"]
        key = "{%s}a:%s" % (self.cpd.prefix, agent)
        got = self.cpd.redis.command("EVAL", READ_RECORD, "1", key)
        self.assertEqual(got[0], agent)
        self.assertEqual(got[1], "x\n")
        self.assertEqual(len(got), len(A_REC) + 1)  # the fields, then unpack's next position

    def test_a_record_in_another_form_is_an_error_not_a_crash(self):
        agent = self.register(self.uid("bad"))["agent_id"]
        key = "{%s}a:%s" % (self.cpd.prefix, agent)
        for junk in ("not a record", "31\0only one\0", "1\0a\0b\0"):
            self.cpd.redis.command("SET", key, junk)
            r = self.c.get("agents/" + agent)
            self.assertEqual(r.status, 503, r.body)
            self.assertIn("error", r.body)
        # A hash where a record should be (an older layout's): an error answer too.
        self.cpd.redis.command("DEL", key)
        self.cpd.redis.command("HSET", key, "id", agent)
        self.assertEqual(self.c.get("agents/" + agent).status, 503)
        self.cpd.redis.command("DEL", key)
        self.assertEqual(self.c.get("agents/" + agent).status, 404)
        self.assertStatus(self.c.get("health"), 200)


if __name__ == "__main__":
    main()
