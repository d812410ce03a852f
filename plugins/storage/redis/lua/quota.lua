-- quota.lua — provider quotas (cp/quota.h, docs/fleet.md), appended to common.lua after
-- tenant.lua by embed_lua.cmake, so every op has it; its functions live in the table QT
-- (declared in common.lua, so that task_store() can reach it).
--
-- Keys (the quota id q is an identifier):
--   P.."quotas"     SET of every quota id
--   P.."qt:"..q     HASH: the definition (prov, model, key: scope; rpm, tpm, mif) and the live
--                   state: rs / ts (requests / tokens in the window), inf (tasks held under it),
--                   lim / ceil (AIMD concurrency limit after a cut and where its growth ends;
--                   0 / absent: none), pu (paused until, ms), pz ("1" while a pause was told
--                   and its end not yet), rl (429s reported under it), hw ("1" while a claim
--                   it held back may be waiting: the next task leaving it says so)
--   P.."qw:"..q     ZSET of the seconds of the window that hold a use (member = score = second)
--   P.."qb:"..q     HASH of those seconds' buckets: "r<sec>" requests, "t<sec>" tokens
--   P.."qr:"..q     HASH task id -> "<sec> <tokens>": the reservation of the claim that holds it
-- The window is the current second and the 60 before it (QT.W one-second buckets), as in the
-- memory store: a bucket leaves when its second is W seconds old. A claim checks and reserves
-- in the claim script itself; a task leaving its holder gives its place back (task_store() and
-- the fast paths call QT.leave()), settles its tokens against reported usage, and — when a claim
-- was held back by the quota since the last time (hw) — publishes "quota <q>" on P.."events" so
-- that claims held by the quota in every process try again (one message per wait, as "room").
QT.W = 61
QT.FIELDS = {'prov', 'model', 'key', 'rpm', 'tpm', 'mif', 'rs', 'ts', 'inf', 'lim', 'ceil', 'pu',
             'pz', 'rl', 'hw'}
-- Change feed kinds (enum cp_change_kind): paused, resumed, concurrency.
QT.F_PAUSED, QT.F_RESUMED, QT.F_CONCURRENCY = 18, 19, 20

-- (functions in QT, not locals: the EVALSHA form of an op is one chunk, under Lua's 200 locals)
function QT.num(v) return tonumber(v) or 0 end
function QT.str(v) if v then return v end return nil end

-- A quota's record as a table (nil: no such quota).
function QT.load(id)
    local r = call('HMGET', P .. 'qt:' .. id, unpack(QT.FIELDS))
    if not r[1] then return nil end
    return {id = id, prov = r[1], model = QT.str(r[2]), key = QT.str(r[3]), rpm = QT.num(r[4]),
            tpm = QT.num(r[5]), mif = QT.num(r[6]), rs = QT.num(r[7]), ts = QT.num(r[8]),
            inf = QT.num(r[9]), lim = QT.num(r[10]), ceil = QT.num(r[11]), pu = QT.num(r[12]),
            pz = r[13] == '1', rl = QT.num(r[14]), hw = r[15] == '1'}
end

-- The live state back (the definition is written by quota_put only).
function QT.save(q)
    call('HSET', P .. 'qt:' .. q.id, 'rs', istr(q.rs), 'ts', istr(q.ts), 'inf', istr(q.inf),
         'lim', istr(q.lim), 'ceil', istr(q.ceil), 'pu', istr(q.pu), 'pz', q.pz and '1' or '0',
         'rl', istr(q.rl))
end

-- A quota change on the change feed: "<kind> <at> <agent> <quota> ~ -1 -1 -1 -1 <limit> -1
-- <paused until>" (redis_feed_parse.c reads the quota id in the task's place).
function QT.feed(kind, now, aid, q)
    if F.buf == nil then F.buf = call('EXISTS', P .. 'feed') == 1 and {} or false end
    if not F.buf then return end
    F.buf[#F.buf + 1] = table.concat({kind, F.num(now), aid or '~', q.id, '~', '-1', '-1', '-1',
                                      '-1', F.num(q.lim), '-1', F.num(q.pu)}, ' ')
end

function QT.sec(now) return math.floor((now >= 0 and now or 0) / 1000) end

-- Empty the buckets whose second left the window (sec - W or older); tell a pause that ended.
function QT.advance(q, now)
    local sec = QT.sec(now)
    local w = P .. 'qw:' .. q.id
    local old = call('ZRANGEBYSCORE', w, '-inf', istr(sec - QT.W))
    local dirty = false
    if #old > 0 then
        local b = P .. 'qb:' .. q.id
        for _, s in ipairs(old) do
            local r = call('HMGET', b, 'r' .. s, 't' .. s)
            q.rs = q.rs - QT.num(r[1])
            q.ts = q.ts - QT.num(r[2])
            call('HDEL', b, 'r' .. s, 't' .. s)
        end
        call('ZREMRANGEBYSCORE', w, '-inf', istr(sec - QT.W))
        if q.rs < 0 then q.rs = 0 end
        if q.ts < 0 then q.ts = 0 end
        dirty = true
    end
    if q.pz and q.pu <= now then
        q.pz = false
        QT.feed(QT.F_RESUMED, now, nil, q)
        dirty = true
    end
    if dirty then QT.save(q) end
end

-- When the window's oldest use leaves it (ms), or 0 when the window is empty.
function QT.next_room(q)
    local r = call('ZRANGE', P .. 'qw:' .. q.id, 0, 0)
    if #r == 0 then return 0 end
    return (tonumber(r[1]) + QT.W) * 1000
end

-- An agent's quota_scopes as stored (agent field qsc): lp(provider) lp(model) lp(key_id) per
-- scope, "" for none.
function QT.scopes_enc(list)
    local out = {}
    for i, s in ipairs(list) do out[i] = lp(s[1]) .. lp(s[2] or '') .. lp(s[3] or '') end
    return table.concat(out)
end
function QT.scopes_dec(s)
    local out, pos = {}, 1
    while s and pos <= #s do
        local p, m, k
        p, pos = lp_next(s, pos)
        if not p then break end
        m, pos = lp_next(s, pos)
        if not m then break end
        k, pos = lp_next(s, pos)
        if not k then break end
        out[#out + 1] = {p, m ~= '' and m or nil, k ~= '' and k or nil}
    end
    return out
end

-- cp_quota_covers() of sdk/include/cp/quota.h: change both together.
function QT.eq(want, have) return not want or want == have end
function QT.covers(q, prov, model, scopes)
    if not q.key and prov and q.prov == prov and QT.eq(q.model, model) then return true end
    for _, s in ipairs(scopes) do
        if q.prov == s[1] and QT.eq(q.model, s[2]) and QT.eq(q.key, s[3]) then
            return true
        end
    end
    return false
end

-- The quotas of an agent (provider, model, packed quota_scopes), advanced to now; nil when
-- the deployment has no quota at all (the claim then costs one SMEMBERS).
function QT.of_agent(prov, model, qsc, now)
    local ids = call('SMEMBERS', P .. 'quotas')
    if #ids == 0 then return nil end
    local scopes, out = QT.scopes_dec(qsc or nil), {}
    for _, id in ipairs(ids) do
        local q = QT.load(id)
        if q and QT.covers(q, prov or nil, model or nil, scopes) then
            QT.advance(q, now)
            out[#out + 1] = q
        end
    end
    return out
end

-- The same for an agent_raw() array (model, provider and qsc at 4, 5 and 31).
function QT.of_raw(a, now) return QT.of_agent(a[5], a[4], a[31], now) end

function QT.cap(q) return q.lim > 0 and q.lim or q.mif end

-- Before the task is known: true (held) and when room returns by the clock (0: when a task
-- leaves its holder) if a quota is paused, at its concurrency limit or out of requests.
function QT.blocked(qs, now)
    local held, due = false, 0
    if not qs then return false, 0 end
    for _, q in ipairs(qs) do
        local d, b = 0, false
        if q.pu > now then
            b, d = true, q.pu
        elseif QT.cap(q) > 0 and q.inf >= QT.cap(q) then
            b = true
        elseif q.rpm > 0 and q.rs + 1 > q.rpm then
            b, d = true, QT.next_room(q)
        end
        if b then
            held = true
            if d > due then due = d end -- room needs every blocking quota: the latest time
        end
    end
    return held, due
end

-- The tokens a claim reserves for a task (cp_quota_task_tokens(): est input + max_output) from
-- its packed x (the 6th member, "<input> <max_output>"); 0 without an estimate.
function QT.tokens(x)
    local v, pos = nil, 1
    if not x then return 0 end
    for _ = 1, 6 do
        v, pos = lp_next(x, pos)
        if not v then return 0 end
    end
    local i, o = string.match(v, '^(%d+) (%d+)$')
    return (tonumber(i) or 0) + (tonumber(o) or 0)
end

-- A claim of an agent under quotas qs was held back: the next task leaving one of them (in any
-- process) publishes "quota <q>" (QT.leave()).
function QT.held(qs)
    for _, q in ipairs(qs) do
        if not q.hw then call('HSET', P .. 'qt:' .. q.id, 'hw', '1') end
    end
end

-- Whether `need` tokens fit every quota with a tpm (a task larger than the whole tpm fits an
-- empty window only); when not, false and when the oldest use leaves.
function QT.fits(qs, need)
    local ok, due = true, 0
    for _, q in ipairs(qs) do
        if q.tpm > 0 and not (q.ts + need <= q.tpm or q.ts == 0) then
            ok = false
            local d = QT.next_room(q)
            if d > due then due = d end
        end
    end
    return ok, due
end

-- The claim of task tid reserves one request, `need` tokens and a place in flight on each.
function QT.reserve(qs, tid, need, now)
    local sec = QT.sec(now)
    local s, n = istr(sec), istr(need)
    for _, q in ipairs(qs) do
        local b = P .. 'qb:' .. q.id
        call('HINCRBY', b, 'r' .. s, 1)
        call('HINCRBY', b, 't' .. s, n)
        call('ZADD', P .. 'qw:' .. q.id, s, s)
        call('HSET', P .. 'qr:' .. q.id, tid, s .. ' ' .. n)
        q.rs, q.ts, q.inf = q.rs + 1, q.ts + need, q.inf + 1
        call('HSET', P .. 'qt:' .. q.id, 'rs', istr(q.rs), 'ts', istr(q.ts), 'inf', istr(q.inf))
    end
end

-- Task tid left its holder: every reservation of its claim is given back. ok: it completed (an
-- AIMD cut grows back by one); us: the usage reported ("<input> <output> <cached>"; the
-- reservation's bucket, while in the window, is corrected to input + output); rl: a 429 (its
-- retry time in ms, 0: none -> AIMD; nil: not one). Returns true when a quota took the 429.
function QT.leave(tid, ok, us, rl, now, aid)
    local ids = call('SMEMBERS', P .. 'quotas')
    local took = false
    for _, id in ipairs(ids) do
        local rk = P .. 'qr:' .. id
        local res = call('HGET', rk, tid)
        local q = res and QT.load(id)
        if res then call('HDEL', rk, tid) end
        if q then
            took = QT.settle(q, res, ok, us, rl, now, aid) or took
            if q.hw then -- a claim it held back may be waiting: room (once per wait)
                call('HDEL', P .. 'qt:' .. id, 'hw')
                call('PUBLISH', P .. 'events', 'quota ' .. id .. ' ' .. INST)
            end
        end
    end
    return took
end

function QT.settle(q, res, ok, us, rl, now, aid)
    local lim0 = q.lim
    local took = false
    if rl then
        took = true
        q.rl = q.rl + 1
        if rl > 0 then
            if now + rl > q.pu then
                q.pu = now + rl
                q.pz = true
                QT.feed(QT.F_PAUSED, now, aid, q)
            end
        else
            -- half the concurrency it had (its cap, else what it had in flight, this task
            -- included), grown back one per completion
            local had = QT.cap(q) > 0 and QT.cap(q) or q.inf
            if q.lim == 0 then q.ceil = q.mif > 0 and q.mif or had end
            q.lim = math.max(math.floor(had / 2), 1)
            if q.lim >= q.ceil then q.lim = 0 end
        end
    end
    if q.inf > 0 then q.inf = q.inf - 1 end
    local i, o = string.match(us or '', '^(%d+) (%d+)')
    local sec, tok = string.match(res, '^(%d+) (%d+)$')
    if i and sec then
        local b = P .. 'qb:' .. q.id
        local have = tonumber(call('HGET', b, 't' .. sec))
        if have then -- still in the window
            local delta = tonumber(i) + tonumber(o) - tonumber(tok)
            if have + delta < 0 then delta = -have end
            if delta ~= 0 then
                call('HINCRBY', b, 't' .. sec, istr(delta))
                q.ts = q.ts + delta
                if q.ts < 0 then q.ts = 0 end
            end
        end
    end
    if ok and q.lim > 0 then
        q.lim = q.lim + 1
        if q.lim >= q.ceil then q.lim = 0 end -- back where it was: the cut ends
    end
    if q.lim ~= lim0 then QT.feed(QT.F_CONCURRENCY, now, aid, q) end
    QT.save(q)
    return took
end

-- quota_list's / quota_put's entry of one quota: id prov model key rpm tpm mif rs ts inf lim
-- pu next_room rl (model / key: false when none).
function QT.entry(q)
    return {q.id, q.prov, q.model or false, q.key or false, q.rpm, q.tpm, q.mif, q.rs, q.ts,
            q.inf, q.lim, q.pu, QT.next_room(q), q.rl}
end
