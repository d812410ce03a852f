-- store.lua — part of the prelude of every cpd Redis operation (embed_lua.cmake appends it to
-- common.lua and tenant.lua): the generic path's writes. commit() stores every record aget()/
-- tget() handed out and the op changed, keeping every index and counter in step.
---------------------------------------------------------------------------------------------
-- Writing records and their indexes.

-- The invariants every change keeps (a status "resolved", cp/storage.h): a drained agent is
-- draining unless offline or failed; ready with tasks in flight at the maximum is busy; an
-- agent without a probe is healthy unless offline.
local function agent_norm(a)
    if a.dra ~= 0 and a.st ~= A_OFFLINE and a.st ~= A_FAILED then a.st = A_DRAINING end
    if a.st == A_READY and a.inf >= a.mc then a.st = A_BUSY end
    if not a.probe then a.hs = (a.st == A_OFFLINE) and H_UNHEALTHY or H_HEALTHY end
end

-- P.."unwell": the ids of agents whose health is degraded or unhealthy (score 0, so a page is
-- a ZRANGEBYLEX): what GET /health lists for a large fleet, without reading every agent.
local function unwell(hs) return hs == H_DEGRADED or hs == H_UNHEALTHY end

local function agent_store(old, a)
    local id = (a or old).id
    -- `wr`: a claim of this agent waits until it may claim again (task_claim.lua marks it).
    -- A change that may allow that — or refuse it for good — tells every process ("room").
    if old and old.wr and (not a or a.st ~= old.st or a.inf < old.inf) then
        PUBS[#PUBS + 1] = 'room ' .. id
        if a then a.wr = nil end
    end
    if not a then
        agent_account(old, -1, true)
        call('DEL', akey(id), P .. 'af:' .. id)
        if REC.wid == id then REC.wid = nil end
        call('ZREM', P .. 'agents', id)
        if unwell(old.hs) then call('ZREM', P .. 'unwell', id) end
        call('ZREM', P .. (old.st == A_OFFLINE and 'off' or 'alive'), id)
        for _, c in ipairs(caps_dec(old.caps)) do call('SREM', P .. 'ac:' .. c, id) end
        return
    end
    agent_norm(a)
    -- Most changes (a heartbeat, a claim) leave every counted field as it was: no deltas.
    local names = not old or old.caps ~= a.caps or old.prov ~= a.prov
    if names or old.st ~= a.st or old.hs ~= a.hs or old.hci ~= a.hci or old.inf ~= a.inf or
        old.mc ~= a.mc then
        if old then agent_account(old, -1, names) end
        agent_account(a, 1, names)
    end
    if REC.changed(a, old) then arec_set(id, REC.array(a, A_REC)) end
    if not old then call('ZADD', P .. 'agents', 0, id) end
    local was_unwell = old ~= nil and unwell(old.hs)
    if was_unwell ~= unwell(a.hs) then
        if was_unwell then call('ZREM', P .. 'unwell', id) else call('ZADD', P .. 'unwell', 0, id) end
    end
    -- Liveness indexes by last_heartbeat: P.."alive" (not offline), P.."off" (offline).
    local was_off, is_off = old and old.st == A_OFFLINE, a.st == A_OFFLINE
    if old and was_off ~= is_off then call('ZREM', P .. (was_off and 'off' or 'alive'), id) end
    if not old or was_off ~= is_off or old.hb ~= a.hb then
        call('ZADD', P .. (is_off and 'off' or 'alive'), a.hb, id)
    end
    if not old or old.caps ~= a.caps then
        local had = {}
        if old then
            for _, c in ipairs(caps_dec(old.caps)) do had[c] = true end
        end
        local has = {}
        for _, c in ipairs(caps_dec(a.caps)) do
            has[c] = true
            if not had[c] then call('SADD', P .. 'ac:' .. c, id) end
        end
        for c in pairs(had) do
            if not has[c] then call('SREM', P .. 'ac:' .. c, id) end
        end
    end
end

local function active(st) return st == T_CLAIMED or st == T_RUNNING end

local function terminal(st) return st >= T_COMPLETED end

-- "%016.0f" of the arrival number, without printf's floating-point path (~2 thousand
-- instructions): its digits, zero-padded to 16.
local function seq_member(id)
    local n = istr(call('INCR', P .. 'seq'))
    return string.rep('0', 16 - #n) .. n .. ':' .. id
end

-- Indexes of a task (members are "<16-digit arrival>:<id>" where order among equal scores
-- matters): P.."tasks", P.."ts:"..status, P.."tt:"..type by created_at (member cm);
-- P.."q:"..qk by priority band + pending_since (member qm) while pending; P.."inflight" by
-- claimed_at + timeout_ms while claimed/running (timeout_ms > 0); P.."af:"..agent by claim
-- order (score cseq) while claimed/running; P.."done" by completed_at while terminal.
local function task_store(old, t)
    local id = (t or old).id
    if old then task_account(old, -1) end
    if t then
        -- Leaving pending remembers the place (RELEASE puts the task back there).
        if t.st ~= T_PENDING and t.qm then
            t.pqm, t.pqs, t.qm, t.qs = t.qm, t.qs, nil, nil
        end
        if t.st ~= T_PENDING then t.dw = nil end
        if t.st == T_PENDING and t.dw then t.qm, t.qs = nil, nil end
        if t.st == T_PENDING and not t.dw and not t.qm then
            local ps = t.ps
            if ps < 0 then ps = 0 elseif ps >= BAND then ps = BAND - 1 end
            t.qm = seq_member(id)
            t.qs = t.pr * BAND + ps
        end
        task_account(t, 1)
    end
    local oq, nq = old and old.qm, t and t.qm
    -- P.."capsets" (sha1 -> set) names exactly the non-empty queues: a claim visits only those.
    if oq and oq ~= nq then
        local q = P .. 'q:' .. old.qk
        call('ZREM', q, oq)
        if call('ZCARD', q) == 0 then call('HDEL', P .. 'capsets', old.qk) end
    end
    if nq and nq ~= oq then
        call('ZADD', P .. 'q:' .. t.qk, t.qs, nq)
        TN.enqueued(t.qk, t.req, t.tn, t.qs) -- capsets and the claim index (tenant.lua)
        PUBS[#PUBS + 1] = 'pending ' .. id
    end
    -- P.."delayed" by not_before: pending tasks waiting for it (dw), until reap makes them due.
    local was_w, is_w = old and old.st == T_PENDING and old.dw, t and t.st == T_PENDING and t.dw
    if was_w and (not is_w or old.nb ~= t.nb) then call('ZREM', P .. 'delayed', id) end
    if is_w and (not was_w or old.nb ~= t.nb) then call('ZADD', P .. 'delayed', t.nb, id) end
    local was_active, is_active = old and active(old.st), t and active(t.st)
    local moved = not was_active or not is_active or old.dl ~= t.dl or old.ag ~= t.ag or
                      old.cseq ~= t.cseq
    if was_active and not is_active then
        TN.left(old.tn)
        QT.leave(id, false, nil, nil, 0) -- quota.lua: its place back
    end
    if was_active and moved then
        call('ZREM', P .. 'inflight', id)
        if old.ag then call('ZREM', P .. 'af:' .. old.ag, id) end
    end
    if is_active and moved then
        if t.dl > 0 then call('ZADD', P .. 'inflight', t.dl, id) end
        if t.ag then call('ZADD', P .. 'af:' .. t.ag, t.cseq or 0, id) end
    end
    local was_done, is_done = old and terminal(old.st), t and terminal(t.st)
    if was_done and (not is_done or old.coat ~= t.coat) then call('ZREM', P .. 'done', id) end
    if is_done and (not was_done or old.coat ~= t.coat) then
        call('ZADD', P .. 'done', t.coat, id)
    end
    if is_done and not was_done then PUBS[#PUBS + 1] = 'done ' .. id end
    if not t then
        if old.ik and call('HGET', P .. 'idem', old.ik) == id then
            call('HDEL', P .. 'idem', old.ik)
        end
        call('DEL', tkey(id))
        call('ZREM', P .. 'tasks', old.cm)
        call('ZREM', P .. 'ts:' .. old.st, old.cm)
        call('ZREM', P .. 'tt:' .. old.type, old.cm)
        return
    end
    if not old then
        t.cm = seq_member(id)
        call('ZADD', P .. 'tasks', t.cat, t.cm)
        call('ZADD', P .. 'tt:' .. t.type, t.cat, t.cm)
    end
    local rec = t_rec(t)
    if REC.changed(rec, old and t_rec(old)) then trec_set(id, REC.array(rec, T_REC)) end
    if not old or old.st ~= t.st then
        if old then call('ZREM', P .. 'ts:' .. old.st, old.cm) end
        call('ZADD', P .. 'ts:' .. t.st, t.cat, t.cm)
    end
end

local function commit()
    gen()
    for _, id in ipairs(DIRTY_A) do
        local e = AC[id]
        if e.old or e.cur then agent_store(e.old or nil, e.cur or nil) end
    end
    for _, id in ipairs(DIRTY_T) do
        local e = TC[id]
        if e.old or e.cur then task_store(e.old or nil, e.cur or nil) end
    end
    flush_deltas()
    for _, m in ipairs(PUBS) do call('PUBLISH', P .. 'events', m .. ' ' .. INST) end
end

