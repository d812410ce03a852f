-- tenant.lua — fair share between tenants (cp/storage.h, "Tenants"), appended to common.lua by
-- embed_lua.cmake, so every op has it; its functions live in the table TN (declared in
-- common.lua, so that task_store() can reach it) to cost each op one upvalue.
--
-- A task's tenant is the 8th packed member of its x (after est and usage) (x_enc(); absent = "default"). The queue of
-- a (capability set, tenant) is P.."q:"..qk with qk = sha1(req) for the default tenant (as in
-- layout 2, so nothing moves) and sha1(req.."\t"..tenant) for another; P.."capsets" maps qk to
-- req, followed by "\t"..tenant for another tenant's queue (the claim's subset test reads only
-- the "\n"-terminated capabilities). P.."tn:"..tenant holds w (weight), m (max_in_flight), cfg
-- (1: set by tenant_put), inf (claimed/running tasks), srv (tokens charged / weight) and tok
-- (tokens charged); P.."tenants" names every tenant that has such a hash; P.."tnvt" is the
-- service being served now: a tenant's service counts as at least that (idle time banks no
-- credit).
TN.DEFAULT = 'default'

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

-- The claim's view of a tenant (cached per call in `cache`).
function TN.state(cache, tn)
    local id = tn or TN.DEFAULT
    local s = cache[id]
    if not s then
        local r = call('HMGET', P .. 'tn:' .. id, 'w', 'm', 'inf', 'srv')
        s = {w = tonumber(r[1]) or 1, m = tonumber(r[2]) or 0, inf = tonumber(r[3]) or 0,
             srv = tonumber(r[4]) or 0}
        if cache.vt == nil then cache.vt = tonumber(call('GET', P .. 'tnvt')) or 0 end
        if s.srv < cache.vt then s.srv = cache.vt end
        s.vt = cache.vt
        cache[id] = s
    end
    return s
end
function TN.full(s) return s.m > 0 and s.inf >= s.m end

-- Claim order of two candidates {b = band, v = service, s = score, m = member}.
function TN.before(a, b)
    if a.b ~= b.b then return a.b < b.b end
    if a.v ~= b.v then return a.v < b.v end
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
    return {b = eb, v = ts.srv, s = ps, m = m}
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
-- charge is corrected from the estimate to the tokens used.
function TN.settle(t, us)
    local i, o = string.match(us or '', '^(%d+) (%d+)')
    if not i then return end
    local delta = tonumber(i) + tonumber(o) - TN.cost_of(t.est)
    if delta == 0 then return end
    local k = P .. 'tn:' .. (TN.norm(t.tn) or TN.DEFAULT)
    local r = call('HMGET', k, 'w', 'srv')
    local w = tonumber(r[1]) or 1
    call('HSET', k, 'srv', string.format('%.17g', (tonumber(r[2]) or 0) + delta / (w > 0 and w or 1)))
    if call('HINCRBY', k, 'tok', delta) < 0 then call('HSET', k, 'tok', 0) end
end

-- The claim of a task of tenant tn (state s from TN.state()) is charged.
function TN.claimed(tn, s, cost)
    local id = tn or TN.DEFAULT
    local k = P .. 'tn:' .. id
    if s.srv > s.vt then call('SET', P .. 'tnvt', string.format('%.17g', s.srv)) end
    call('HSET', k, 'srv', string.format('%.17g', s.srv + cost / (s.w > 0 and s.w or 1)))
    call('HINCRBY', k, 'inf', 1)
    call('HINCRBY', k, 'tok', cost)
    call('SADD', P .. 'tenants', id)
end

-- A task of tenant tn left claimed/running.
function TN.left(tn)
    local k = P .. 'tn:' .. (tn or TN.DEFAULT)
    if call('HINCRBY', k, 'inf', -1) < 0 then call('HSET', k, 'inf', 0) end
end

-- tenant_list's entry of one tenant: id w m cfg waiting in_flight tokens_served.
function TN.entry(id, waiting)
    local r = call('HMGET', P .. 'tn:' .. id, 'w', 'm', 'cfg', 'inf', 'tok')
    return {id, tonumber(r[1]) or 1, tonumber(r[2]) or 0, tonumber(r[3]) or 0, waiting or 0,
            tonumber(r[4]) or 0, tonumber(r[5]) or 0}
end
