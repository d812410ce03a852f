-- tenant.lua — fair share between tenants (cp/storage.h, "Tenants"), appended to common.lua by
-- embed_lua.cmake, so every op has it; its functions live in the table TN (declared in
-- common.lua, so that task_store() can reach it) to cost each op one upvalue.
--
-- A task's tenant is the 8th packed member of its x (after est and usage) (x_enc(); absent = "default"). The queue of
-- a (capability set, tenant) is P.."q:"..qk with qk = sha1(req) for the default tenant (as in
-- layout 2, so nothing moves) and sha1(req.."\t"..tenant) for another; P.."capsets" maps qk to
-- req, followed by "\t"..tenant for another tenant's queue (the claim's subset test reads only
-- the "\n"-terminated capabilities). P.."tn:"..tenant holds w (weight), m (max_in_flight), cfg
-- (1: set by tenant_put), inf (claimed/running tasks), s0..s3 (service per priority band: tokens
-- charged in the band / weight; shares are per band, so a tenant's chat turns in band high do
-- not shrink its share of band normal) and tok (tokens charged); P.."tenants" names every
-- tenant that has such a hash; P.."tnvb" (field = band) is the service being served now in a
-- band: a tenant's service there counts as at least that (idle time banks no credit). A claimed
-- task keeps the band it was charged in (tnb: one up when aged) for the usage correction.
TN.DEFAULT = 'default'
-- Bands as text, and their score bounds (made at first use: a library may not call string
-- functions while it loads): numbers in keys and arguments would go through glibc's printf.
TN.B = {[0] = '0', '1', '2', '3'}
TN.LO, TN.HI = {}, {}
function TN.bounds(b)
    local lo = TN.LO[b]
    if not lo then
        lo = string.format('%d', b * BAND)
        TN.LO[b], TN.HI[b] = lo, string.format('%d', (b + 1) * BAND - 1)
    end
    return lo, TN.HI[b]
end

-- The tenant as stored (nil: the default one).
function TN.norm(tn)
    if not tn or tn == '' or tn == TN.DEFAULT then return nil end
    return tn
end
function TN.qk(req, tn) return redis.sha1hex(tn and (req .. '\t' .. tn) or req) end
function TN.setval(req, tn) return tn and (req .. '\t' .. tn) or req end
function TN.of_set(v) return string.match(v, '\t(.*)$') end
-- The tenant of a task's packed x (nil: the default one).
function TN.of_x(x)
    if not x then return nil end
    local v, pos = nil, 1
    for _ = 1, 8 do
        v, pos = lp_next(x, pos)
        if not v then return nil end
    end
    return TN.norm(v)
end

-- The claim's view of a tenant (cached per call in `cache`): srv[band + 1] its service there.
function TN.state(cache, tn)
    local id = tn or TN.DEFAULT
    local s = cache[id]
    if not s then
        local r = call('HMGET', P .. 'tn:' .. id, 'w', 'm', 'inf', 's0', 's1', 's2', 's3', 'q',
                       'tok')
        s = {w = tonumber(r[1]) or 1, m = tonumber(r[2]) or 0, inf = tonumber(r[3]) or 0, srv = {},
             id = id, q = r[8] or '', tok = tonumber(r[9]) or 0}
        for b = 1, 4 do s.srv[b] = tonumber(r[3 + b]) or 0 end
        cache[id] = s
    end
    return s
end
function TN.full(s) return s.m > 0 and s.inf >= s.m end

-- Claim order of two candidates {b = band, v = service, ti = tenant id, s = score, m = member}.
function TN.before(a, b)
    if a.b ~= b.b then return a.b < b.b end
    if a.v ~= b.v then return a.v < b.v end
    if a.ti ~= b.ti then return a.ti < b.ti end -- equal services: the claim index's order
    if a.s ~= b.s then return a.s < b.s end
    return a.m < b.m
end

-- The claim candidate of a queued task (score s, member m) of a tenant in state ts: its band
-- (one up once pending `aging` ms, when aging > 0), its tenant's service, its pending_since.
function TN.candidate(s, m, ts, now, aging)
    local b = math.floor(s / BAND)
    local ps = s - b * BAND
    local eb = b
    if aging > 0 and b > 0 and ps + aging <= now then eb = b - 1 end
    return {b = eb, v = ts.srv[eb + 1] or 0, ti = ts.id, s = ps, m = m}
end

-- The aged candidate of band hb + 1 in queue q: its oldest task when it has waited `aging` ms
-- and is not passed over for agent aid (nil: none).
function TN.aged(q, hb, ts, now, aging, aid)
    if hb + 1 >= 4 then return nil end
    local lo = (hb + 1) * BAND
    local r = call('ZRANGEBYSCORE', q, string.format('%d', lo),
                   string.format('%d', lo + now - aging), 'WITHSCORES', 'LIMIT', 0, 1)
    if #r == 0 then return nil end
    local po = task_read(string.sub(r[1], 18)) or {}
    if po[REC.T_POA] == aid and now < (tonumber(po[REC.T_POU]) or 0) then return nil end
    return TN.candidate(tonumber(r[2]), r[1], ts, now, aging)
end

-- What a claim costs its tenant: the estimated tokens (est_tokens.input + max_output, the
-- packed "<input> <max_output>"), or 1 for a task that declares none.
function TN.cost_of(est)
    local i, o = string.match(est or '', '^(%d+) (%d+)$')
    local c = (tonumber(i) or 0) + (tonumber(o) or 0)
    return c > 0 and c or 1
end
-- The same from a task_read() record's packed x (its 6th member).
function TN.cost(t)
    local x, v, pos = t[TR_X], nil, 1
    if not x then return 1 end
    for _ = 1, 6 do
        v, pos = lp_next(x, pos)
        if not v then return 1 end
    end
    return TN.cost_of(v)
end

-- complete/fail reported usage ("<input> <output> <cached>") for task table t: its claim's
-- charge is corrected from the estimate to the tokens used, in the band it was charged in.
function TN.settle(t, us)
    local i, o = string.match(us or '', '^(%d+) (%d+)')
    if not i then return end
    local delta = tonumber(i) + tonumber(o) - TN.cost_of(t.est)
    if delta == 0 then return end
    local k = P .. 'tn:' .. (TN.norm(t.tn) or TN.DEFAULT)
    local b = tonumber(t.tnb) or tonumber(t.pr) or 2
    local r = call('HMGET', k, 'w', 's' .. b, 'q')
    local w = tonumber(r[1]) or 1
    TN.set_service(TN.norm(t.tn) or TN.DEFAULT, b, (tonumber(r[2]) or 0) + delta / (w > 0 and w or 1),
                   r[3] or '')
    if call('HINCRBY', k, 'tok', delta) < 0 then call('HSET', k, 'tok', 0) end
end

-- The claim of a task of tenant tn (state s from TN.state()) in band b is charged. The band's
-- service being served now becomes this tenant's (the least-served one's; not a running
-- maximum: settled usage may lower services, and a tenant back from idle must not start above
-- the tenants that kept work waiting).
-- Its service, in flight and tokens go in one HSET: s (TN.state) read them in this call, and
-- nothing changed them since (what TN.set_service and two HINCRBYs would write).
function TN.claimed(tn, s, cost, b)
    local id = tn or TN.DEFAULT
    local v, bs = s.srv[b + 1] or 0, TN.B[b] or tostring(b)
    call('HSET', P .. 'tnvb', bs, string.format('%.17g', v))
    local vs = string.format('%.17g', v + cost / (s.w > 0 and s.w or 1))
    call('HSET', P .. 'tn:' .. id, 's' .. bs, vs, 'inf', istr(s.inf + 1), 'tok',
         istr(s.tok + cost))
    for rk in string.gmatch(s.q, '%x+') do
        call('ZADD', P .. 'ti:' .. rk .. ':' .. bs, 'XX', vs, id)
    end
    -- (a tenant with index entries, q, was added to P.."tenants" with them: index_add(); nothing
    -- removes a tenant from that set)
    if s.q == '' then call('SADD', P .. 'tenants', id) end
end

-- A task of tenant tn left claimed/running.
function TN.left(tn)
    local k = P .. 'tn:' .. (tn or TN.DEFAULT)
    if call('HINCRBY', k, 'inf', '-1') < 0 then call('HSET', k, 'inf', '0') end
end

-- tenant_list's entry of one tenant: id w m cfg waiting in_flight tokens_served.
function TN.entry(id, waiting)
    local r = call('HMGET', P .. 'tn:' .. id, 'w', 'm', 'cfg', 'inf', 'tok')
    return {id, tonumber(r[1]) or 1, tonumber(r[2]) or 0, tonumber(r[3]) or 0, waiting or 0,
            tonumber(r[4]) or 0, tonumber(r[5]) or 0}
end

---------------------------------------------------------------------------------------------
-- The claim index: per capability set (rk = sha1 of the set, the default tenant's qk) and band
-- b, P.."ti:"..rk..":"..b is a ZSET of the tenants with tasks of that set in that band, scored
-- by their service there. A claim walks, per matching set, the bands from the most urgent and
-- in each the tenants from the least served: the first tenant not at its max_in_flight whose
-- queue has a task of the band (not passed over for this agent) wins its set and band, so a
-- claim reads a few heads whatever the number of tenants. P.."rsets" maps rk -> the set (and
-- field "!" = 1 once the index was built from P.."capsets": the first claim after an upgrade
-- builds it); the tenant hash's field q lists the rk a tenant has entries under (a service change
-- rescores them). Entries are added on enqueue (TN.enqueued) and removed when a claim
-- empties the band of the queue or finds it empty (cancel, delete and expiry leave the entry to
-- that lazy clean-up). With claim aging (aging_ms > 0) task_claim.lua reads every queue's head
-- instead, as before the index.

-- Service of tenant id in band b becomes v: the hash and its index entries (q: the tenant's
-- field q, the rk it has entries under, space-separated).
function TN.set_service(id, b, v, q)
    local vs = string.format('%.17g', v)
    call('HSET', P .. 'tn:' .. id, 's' .. b, vs)
    for rk in string.gmatch(q, '%x+') do
        call('ZADD', P .. 'ti:' .. rk .. ':' .. b, 'XX', vs, id)
    end
end

-- Index entry of tenant tn (nil: default) for set req in band b; a new entry is a tenant back
-- from idle in that band: its service there counts from the service being served now (idle
-- time banks no credit).
local function index_add(req, tn, b, rk)
    local id = tn or TN.DEFAULT
    rk = rk or redis.sha1hex(req)
    local k = P .. 'ti:' .. rk .. ':' .. b
    if call('ZADD', k, 'NX', '0', id) == 0 then return end
    call('HSET', P .. 'rsets', rk, req)
    local tk = P .. 'tn:' .. id
    local r = call('HMGET', tk, 's' .. b, 'q')
    local q, idle = r[2] or '', true -- idle: no entry in band b under another set either
    for o in string.gmatch(q, '%x+') do
        if o ~= rk and call('ZSCORE', P .. 'ti:' .. o .. ':' .. b, id) then idle = false end
    end
    if not string.find(q, rk, 1, true) then
        q = q == '' and rk or (q .. ' ' .. rk)
        call('HSET', tk, 'q', q)
        call('SADD', P .. 'tenants', id)
    end
    local v, vt = tonumber(r[1]) or 0, tonumber(call('HGET', P .. 'tnvb', tostring(b))) or 0
    if idle and v < vt then
        TN.set_service(id, b, vt, q)
    else
        call('ZADD', k, 'XX', string.format('%.17g', v), id)
    end
end

-- A task of score qs entered the queue qk of (req, tenant tn): P.."capsets" and the index.
function TN.enqueued(qk, req, tn, qs)
    tn = TN.norm(tn)
    call('HSET', P .. 'capsets', qk, TN.setval(req, tn))
    local rk
    if not tn then rk = qk end -- the default tenant's queue key is the set's sha1
    index_add(req, tn, math.floor(tonumber(qs) / BAND), rk)
end

-- Builds the index from P.."capsets" (idempotent), then marks it built.
local function index_build()
    local sets = call('HGETALL', P .. 'capsets')
    for i = 1, #sets, 2 do
        local q, tn = P .. 'q:' .. sets[i], TN.of_set(sets[i + 1])
        local req = tn and string.sub(sets[i + 1], 1, #sets[i + 1] - #tn - 1) or sets[i + 1]
        for b = 0, 3 do
            local r = call('ZRANGEBYSCORE', q, string.format('%d', b * BAND),
                           string.format('%d', (b + 1) * BAND - 1), 'LIMIT', 0, 1)
            if #r > 0 then index_add(req, tn, b) end
        end
    end
    call('HSET', P .. 'rsets', '!', '1')
end

-- The first task of band b in queue q not passed over for agent aid: member, score (nil:
-- none), whether the band is empty, whether the task is alone in its band, and its record
-- (task_read(), when `whole`: the likely winner is read once).
local function band_head(q, b, aid, now, whole)
    local lo, hi = TN.bounds(b)
    local off, step = 0, 2
    while true do
        local r = call('ZRANGEBYSCORE', q, lo, hi, 'WITHSCORES', 'LIMIT', istr(off), istr(step))
        if #r == 0 then return nil, nil, off == 0 end
        for j = 1, #r, 2 do
            local tid, rec, poa, pou = string.sub(r[j], 18), nil, nil, nil
            -- (one GET either way since layout 4: a record is one value)
            local po = task_read(tid) or {}
            if whole and off == 0 and j == 1 then rec = po end
            poa, pou = po[REC.T_POA], po[REC.T_POU]
            -- Passed over for this agent, or held for another (lua/affinity.lua): stepped over.
            if not (poa == aid and now < (tonumber(pou) or 0)) and not AF.other(tid, aid, now) then
                return r[j], tonumber(r[j + 1]), false, off == 0 and #r == 2,
                       rec and rec[1] and rec
            end
        end
        off, step = off + step, 16
    end
end

-- The best claimable task for agent aid among the sets that subset(set) accepts: a candidate
-- {s, m, id, qk, b, v, tn, ts} as task_claim.lua takes it (nil: none).
function TN.pick(subset, aid, now)
    local rsets = call('HGETALL', P .. 'rsets')
    local built = false
    for i = 1, #rsets, 2 do
        if rsets[i] == '!' then built = true end
    end
    if not built then
        index_build()
        rsets = call('HGETALL', P .. 'rsets')
    end
    local best, tcache = nil, {}
    local single = #rsets <= 4 -- one set (and the mark): its first head is most likely the one
    for i = 1, #rsets, 2 do
        local rk, req = rsets[i], rsets[i + 1]
        if rk ~= '!' and subset(req) then
            local live, bands = false, 0
            for b = 0, 3 do
                if best and b > best.b then break end
                bands = bands + 1
                local k = P .. 'ti:' .. rk .. ':' .. TN.B[b]
                local off, stale, done = 0, nil, false
                while not done do
                    local r = call('ZRANGE', k, istr(off), istr(off + 7), 'WITHSCORES')
                    if #r == 0 then break end
                    live = true
                    for j = 1, #r, 2 do
                        local id, v = r[j], tonumber(r[j + 1])
                        -- Past the best in its band: nothing further here beats it.
                        if best and b == best.b and (v > best.v or (v == best.v and id > best.ti)) then
                            done = true
                            break
                        end
                        local tn = TN.norm(id)
                        local ts = TN.state(tcache, tn)
                        if not TN.full(ts) then
                            local qk = tn and TN.qk(req, tn) or rk -- (default: rk)
                            local m, s, empty, alone, rec = band_head(P .. 'q:' .. qk, b, aid, now,
                                                                      single)
                            if empty then
                                stale = stale or {}
                                stale[#stale + 1] = id
                            elseif m then
                                local c = {b = b, v = v, ti = id, s = s - b * BAND, m = m}
                                if not best or TN.before(c, best) then
                                    best = {s = c.s, m = m, id = string.sub(m, 18), qk = qk, b = b,
                                            v = v, ti = id, tn = tn, ts = ts, rk = rk,
                                            alone = alone, t = rec}
                                end
                                -- (service, tenant id) is the index's own order: the first
                                -- tenant with a task is this set and band's best.
                                done = true
                                break
                            end
                        end
                    end
                    off = off + 8
                end
                if stale then call('ZREM', k, unpack(stale)) end
            end
            if not live and bands == 4 then call('HDEL', P .. 'rsets', rk) end
        end
    end
    return best
end

-- After the claim took candidate c out of its queue: a band left empty leaves the index, an
-- empty queue leaves P.."capsets".
function TN.took(c)
    if not c.alone then return end -- band_head saw another task in the band
    local q = P .. 'q:' .. c.qk
    if c.rk then call('ZREM', P .. 'ti:' .. c.rk .. ':' .. TN.B[c.b], c.tn or TN.DEFAULT) end
    if call('ZCARD', q) == 0 then call('HDEL', P .. 'capsets', c.qk) end
end
