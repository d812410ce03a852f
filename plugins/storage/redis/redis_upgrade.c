/* redis_upgrade.c — the in-place upgrade to layout 4 (docs/redis.md "Layout version"): every
 * agent and task record, a hash of fields up to layout 3, becomes one string value holding the
 * same fields in a fixed order (rec_text() in lua/common.lua, redis_record.c; values stay the
 * strings the hash held, so nothing is re-formatted). Run at start-up by check_layout() (blocking,
 * like the rest of the start-up check) before the version key says 4.
 *
 * In three steps, each idempotent (two processes may upgrade at once; a record already a string
 * is left alone):
 *  1. convert the records, RS_UPGRADE_BATCH per call so that Redis is never blocked for long
 *     (the indexes {prefix}agents and {prefix}tasks name every record);
 *  2. in one script, if the version is still below 4: fence every process of an older layout —
 *     their connection epochs ({prefix}conn:<instance>, common.lua begin()) are raised past any
 *     epoch they can have, with no expiry, so their scripts refuse every call of theirs from then
 *     on (they answer 503 and cannot write a hash-form record over a converted one) — and set
 *     the version to 4. A layout-4 process raises its own epoch only after its start-up check
 *     has read version 4, so it is never fenced;
 *  3. convert again: records an older process wrote between 1 and 2.
 */
#include <stdio.h>
#include <string.h>

#include "redis_int.h"

enum { RS_UPGRADE_BATCH = 500 };

/* KEYS[1] tag; ARGV: index ("agents" | "tasks"), offset, count, then the record's field names
 * in order (redis_fields.c). Converts the records of one slice of the index into the stored
 * form of layout 4 (rec_text() in lua/common.lua): a missing field absent (0x01), or "0" for
 * the counters and times the scripts read as numbers; returns how many members the slice had. */
static const char convert_lua[] =
    "local P, idx = KEYS[1], ARGV[1]\n"
    "local off, n = tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "local zero = {dl = 1, pou = 1, la = 1, tc = 1, tf = 1, lc = 1, ls = 1, hlc = 1, hcf = 1,\n"
    "  hcs = 1, hci = 1, hcif = 1, hco = 1, hoa = 1, hra = 1, clat = 1, stat = 1, coat = 1,\n"
    "  att = 1, re = 1, mr = 1, to = 1, inf = 1, reg = 1, hb = 1, ps = 1, hs = 1}\n"
    "local ms = redis.call('ZRANGE', P .. idx, off, off + n - 1)\n"
    "for _, m in ipairs(ms) do\n"
    "  local k = idx == 'agents' and (P .. 'a:' .. m) or (P .. 't:' .. string.sub(m, 18))\n"
    "  if redis.call('TYPE', k).ok == 'hash' then\n"
    "    local r, t = redis.call('HGETALL', k), {}\n"
    "    for i = 1, #r, 2 do t[r[i]] = r[i + 1] end\n"
    "    local v = {}\n"
    "    for i = 4, #ARGV do\n"
    "      local f = ARGV[i]\n"
    "      v[#v + 1] = t[f] or (f == 'hlat' and '-1') or (zero[f] and '0') or '\\1'\n"
    "    end\n"
    "    redis.call('SET', k, (#ARGV - 3) .. '\\0' .. table.concat(v, '\\0') .. '\\0')\n"
    "  end\n"
    "end\n"
    "return #ms\n";

/* KEYS[1] tag; ARGV: the version to set. Fences older processes and sets the version, unless
 * it is already that (step 2 above); returns 1 when it did. */
static const char fence_lua[] =
    "local P = KEYS[1]\n"
    "local v = tonumber(redis.call('GET', P .. 'layout'))\n"
    "if v and v >= tonumber(ARGV[1]) then return 0 end\n"
    "local pat = string.gsub(P .. 'conn:', '[%*%?%[%]\\\\]', '\\\\%0') .. '*'\n"
    "local cur = '0'\n"
    "repeat\n"
    "  local r = redis.call('SCAN', cur, 'MATCH', pat, 'COUNT', 1000)\n"
    "  cur = r[1]\n"
    "  for _, k in ipairs(r[2]) do redis.call('SET', k, '999999999999999') end\n"
    "until cur == '0'\n"
    "redis.call('SET', P .. 'layout', ARGV[1])\n"
    "return 1\n";

/* EVAL of script with KEYS[1] = tag and the arguments args[0..n_args). */
static redisReply *eval(redisContext *c, const char *script, const char *tag, int n_args,
                        const char *const *args, char *why, size_t n)
{
    const char *argv[8 + RS_AGENT_FIELDS + RS_TASK_FIELDS + RS_TASK_OWN_FIELDS];
    if (n_args > (int)(sizeof argv / sizeof *argv) - 4) {
        snprintf(why, n, "layout upgrade: too many arguments");
        return NULL;
    }
    argv[0] = "EVAL", argv[1] = script, argv[2] = "1", argv[3] = tag;
    for (int i = 0; i < n_args; i++)
        argv[4 + i] = args[i];
    redisReply *r = redisCommandArgv(c, 4 + n_args, argv, NULL);
    if (!r) {
        snprintf(why, n, "layout upgrade: %.100s", c->errstr[0] ? c->errstr : "no reply");
        return NULL;
    }
    if (r->type != REDIS_REPLY_INTEGER) {
        snprintf(why, n, "layout upgrade refused: %.120s",
                 r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

/* Step 1 or 3 for one index: 0, or -1 with why. */
static int convert(redisContext *c, const char *tag, const char *index, long long *done, char *why,
                   size_t n)
{
    int agents = !strcmp(index, "agents");
    const char *args[3 + RS_TASK_FIELDS + RS_TASK_OWN_FIELDS + RS_AGENT_FIELDS];
    char off[24], cnt[16];
    int k = 3;
    for (int i = 0; i < (agents ? RS_AGENT_FIELDS : RS_TASK_FIELDS); i++)
        args[k++] = agents ? rs_agent_fields[i] : rs_task_fields[i];
    for (int i = 0; i < (agents ? RS_AGENT_OWN_FIELDS : RS_TASK_OWN_FIELDS); i++)
        args[k++] = agents ? rs_agent_own_fields[i] : rs_task_own_fields[i];
    snprintf(cnt, sizeof cnt, "%d", RS_UPGRADE_BATCH);
    args[0] = index, args[1] = off, args[2] = cnt;
    for (long long o = 0;; o += RS_UPGRADE_BATCH) {
        snprintf(off, sizeof off, "%lld", o);
        redisReply *r = eval(c, convert_lua, tag, k, args, why, n);
        if (!r) return -1;
        long long got = r->integer;
        freeReplyObject(r);
        *done += got;
        if (got < RS_UPGRADE_BATCH) return 0;
    }
}

int rs_layout_upgrade4(struct rs *rs, redisContext *c, char *why, size_t n)
{
    long long records = 0, again = 0;
    if (convert(c, rs->tag, "agents", &records, why, n) != 0 ||
        convert(c, rs->tag, "tasks", &records, why, n) != 0)
        return -1;
    char ver[8];
    snprintf(ver, sizeof ver, "%d", RS_LAYOUT_VERSION);
    const char *args[1] = {ver};
    redisReply *r = eval(c, fence_lua, rs->tag, 1, args, why, n);
    if (!r) return -1;
    freeReplyObject(r);
    if (convert(c, rs->tag, "agents", &again, why, n) != 0 ||
        convert(c, rs->tag, "tasks", &again, why, n) != 0)
        return -1;
    if (records > 0) /* a new store: nothing to say */
        rs->host->log(rs->host, CP_LOG_INFO,
                      "redis: key layout under %s: %lld records stored as one value each "
                      "(layout %d); processes of older layouts fenced",
                      rs->tag, records, RS_LAYOUT_VERSION);
    return 0;
}
