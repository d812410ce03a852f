-- affinity.lua — affinity holds (cp/storage.h, "Affinity holds"; docs/fleet.md), appended to
-- common.lua by embed_lua.cmake like tenant.lua; its functions live in the table AF (declared in
-- common.lua) to cost each op one upvalue.
--
-- A new claimable task with an affinity key is held, for a bounded time, for the agent the
-- affinity memory names for its key (P.."aff:"..key, written by redis_affinity.c). Three keys of
-- its own, none in the task's record:
--   P.."holds"      ZSET task id -> when its hold ends (every hold; "any hold?" is one EXISTS)
--   P.."held"       HASH task id -> the agent it is held for
--   P.."ah:"..agent ZSET task id -> when its hold ends (the agent's held tasks; PEXPIREAT its
--                   last hold's end, so an agent that never claims again leaves nothing)
-- A hold ends when its task is claimed (AF.claimed), when a claim meets it expired or no longer
-- pending, or when a submit's sweep finds it expired. The task stays in its queue all along, so
-- nothing else (counts, tenants, queues) knows of holds.
AF.due, AF.last = 0, 0
local HOLD_LOAD_FACTOR = 2 -- in flight + held below this x max_concurrent_tasks

-- 1 when any hold exists (asked once per call; AF.reset() forgets the answer).
function AF.has()
    if AF.any == nil then AF.any = call('EXISTS', P .. 'holds') == 1 end
    return AF.any
end

-- The start of a claim: nothing skipped yet.
function AF.reset()
    AF.due, AF.any = 0, nil
end

-- The hold of task tid (held for agent ag, or nil: unknown) ends.
function AF.drop(tid, ag)
    call('ZREM', P .. 'holds', tid)
    call('HDEL', P .. 'held', tid)
    if ag then call('ZREM', P .. 'ah:' .. ag, tid) end
end

-- A few expired holds end (a submit's share of the cleaning).
local function sweep(now)
    local old = call('ZRANGEBYSCORE', P .. 'holds', '-inf', now, 'LIMIT', 0, 16)
    for i = 1, #old do AF.drop(old[i], call('HGET', P .. 'held', old[i])) end
end

-- A new pending task (id, capabilities req as caps_enc() gives them, affinity key, hold in ms
-- as given): held for the key's agent when that agent may have it. Returns the hold's end, or 0.
function AF.hold(id, req, key, hold_s, now)
    local hold = tonumber(hold_s) or 0
    if not key or key == '' or hold <= 0 then return 0 end
    local aid = call('GET', P .. 'aff:' .. key)
    if not aid then return 0 end
    local ar = agent_raw(aid) -- (its record, layout 4: one value)
    if not ar then return 0 end
    local f = {ar[AR_ST], ar[AR_MC], ar[AR_INF], ar[AR_HCI], ar[AR_HRA], ar[AR_HS], ar[AR_CAPS]}
    local st = tonumber(f[1])
    if not st or (st ~= 0 and st ~= A_READY and st ~= A_BUSY) then return 0 end -- 0: starting
    if tonumber(f[6]) == H_UNHEALTHY then return 0 end
    if tonumber(f[4]) == C_OPEN and (tonumber(f[5]) or 0) > now then return 0 end
    local have = '\n' .. (f[7] or '')
    for c in string.gmatch(req, '([^\n]*)\n') do
        if not string.find(have, '\n' .. c .. '\n', 1, true) then return 0 end
    end
    sweep(now)
    local ak = P .. 'ah:' .. aid
    call('ZREMRANGEBYSCORE', ak, '-inf', now)
    if (tonumber(f[3]) or 0) + call('ZCARD', ak) >= HOLD_LOAD_FACTOR * (tonumber(f[2]) or 1) then
        return 0
    end
    local u = now + hold
    local u_s = string.format('%d', u)
    call('ZADD', ak, u_s, id)
    call('PEXPIREAT', ak, u_s)
    call('ZADD', P .. 'holds', u_s, id)
    call('HSET', P .. 'held', id, aid)
    return u
end

-- A claim by agent aid meets pending task tid: true when tid is held for another agent (AF.due
-- then notes the earliest end of a hold skipped).
function AF.other(tid, aid, now)
    if not AF.has() then return false end
    local u = tonumber(call('ZSCORE', P .. 'holds', tid))
    if not u then return false end
    local ag = call('HGET', P .. 'held', tid)
    if u <= now or not ag then
        AF.drop(tid, ag or nil)
        return false
    end
    if ag == aid then return false end
    if AF.due == 0 or u < AF.due then AF.due = u end
    return true
end

-- Task tid was claimed: its hold, if any, ends.
function AF.claimed(tid)
    if not AF.has() then return end
    local ag = call('HGET', P .. 'held', tid)
    if ag then AF.drop(tid, ag) end
end

-- The best task held for agent aid that this claim may take (subset: its capabilities test of
-- a capsets value; tcache, aging: as the claim's tenant state), as the claim's `best`, or nil.
function AF.first(aid, now, subset, tcache, aging)
    if not AF.has() then return nil end
    local ids = call('ZRANGE', P .. 'ah:' .. aid, 0, -1, 'WITHSCORES')
    local best
    for i = 1, #ids, 2 do
        local tid, u = ids[i], tonumber(ids[i + 1])
        local t = task_read(tid) or {} -- (its record, layout 4: one value)
        local r = {t[TR_ST], t[REC.T_QM], t[TR_QS], t[REC.T_QK], t[REC.T_POA], t[REC.T_POU]}
        if u <= now or r[1] ~= '0' or not r[2] then
            AF.drop(tid, aid) -- expired, or no longer in a queue
        elseif not (r[5] == aid and now < (tonumber(r[6]) or 0)) then
            local setv = call('HGET', P .. 'capsets', r[4])
            local s = tonumber(r[3])
            if setv and s and subset(setv) and
                (not best or s < best.qs or (s == best.qs and r[2] < best.m)) then
                local tn = TN.of_set(setv)
                local ts = TN.state(tcache, tn)
                if not TN.full(ts) then
                    local c = TN.candidate(s, r[2], ts, now, aging)
                    best = {s = c.s, m = r[2], id = tid, qk = r[4], b = c.b, v = c.v, tn = tn,
                            ts = ts, qs = s}
                end
            end
        end
    end
    if best then best.alone = call('ZCARD', P .. 'q:' .. best.qk) == 1 end
    return best
end
