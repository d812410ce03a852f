-- task_transition.lua — start, complete, fail, cancel, release: compare-and-set on the task's
-- status (and assigned agent), then the agent's counters. ARGV: inst now kind id agent? result?
-- error? latency requeue pass_over_ms expect_attempt jitter usage? rate_limited?
-- (usage: "<input> <output> <cached>" tokens; rate_limited: the retry_after_ms of a 429)
local TR_START, TR_COMPLETE, TR_FAIL, TR_CANCEL, TR_RELEASE = 1, 2, 3, 4, 5
local NAMES = {[0] = 'pending', 'claimed', 'running', 'completed', 'failed', 'cancelled',
               'timeout'}
local now = tonumber(ARGV[2])
local kind = tonumber(ARGV[3])
local id = ARGV[4]
local by = opt(ARGV[5])

-- START and COMPLETE, the hot path of every task: on the records as stored (one GET each,
-- replied as written), writing exactly what commit() would make of the same change.
if kind == TR_START or (kind == TR_COMPLETE and ARGV[13] == '') then
    local t, ttext = task_read(id)
    if not t then return reply(NOT_FOUND, 'task not found') end
    local st0 = tonumber(t[TR_ST])
    local ag = t[TR_AG] -- false: none
    local allowed
    if kind == TR_START then allowed = st0 == T_CLAIMED else allowed = active(st0) end
    local state = 'task is ' .. (NAMES[st0] or 'unknown')
    if not allowed then return reply(CONFLICT, state, {task_raw = ttext}) end
    if by and by ~= ag then
        return reply(CONFLICT, state .. ' and assigned to ' ..
                         (ag and (ag .. ', not ' .. by) or 'no agent'), {task_raw = ttext})
    end
    if kind == TR_START then
        t[TR_ST], t[TR_STAT] = ST_S[T_RUNNING], ARGV[2]
        ttext = trec_set(id, t)
        task_restatus(t[TR_CM], t[TR_CAT], T_CLAIMED, T_RUNNING)
        F.change(F.STARTED, now, ag, id, t[REC.T_TYPE], T_CLAIMED, T_RUNNING, nil, nil,
                 tonumber(t[TR_ATT]))
        local ar, atext
        if ag then ar, atext = agent_raw(ag) end
        return reply(OK, nil, {task_raw = ttext, agent_raw = atext or false,
                               abefore = ar and tonumber(ar[AR_ST]), tbefore = T_CLAIMED})
    end
    -- COMPLETE. The agent (if still registered) gets its slot back (agent_leave()), one more
    -- completed and the latency.
    local a, ast0, atext
    if ag then a = agent_raw(ag) end
    if a then
        local lat = tonumber(ARGV[8]) or -1
        if lat < 0 then lat = now - tonumber(t[TR_CLAT]) end
        ast0, atext = complete_agent(a, ag, id, now, ARGV[2], lat, by == ag)
    end
    local res = opt(ARGV[6])
    t[TR_ST], t[TR_COAT], t[TR_RES] = ST_S[T_COMPLETED], ARGV[2], res or false
    ttext = trec_set(id, t)
    call('ZREM', P .. 'inflight', id)
    if ag then call('ZREM', P .. 'af:' .. ag, id) end
    TN.left(TN.of_x(t[TR_X] or nil))
    QT.leave(id, true, nil, nil, now, ag or nil) -- quota.lua: its place back, AIMD growth
    call('ZADD', P .. 'done', ARGV[2], id)
    task_restatus(t[TR_CM], t[TR_CAT], st0, T_COMPLETED)
    call('PUBLISH', P .. 'events', 'done ' .. id .. ' ' .. INST)
    F.change(F.COMPLETED, now, ag, id, t[REC.T_TYPE], st0, T_COMPLETED, nil, nil,
             tonumber(t[TR_ATT]))
    if a then F.status(now, ag, ast0, tonumber(a[AR_ST])) end
    return reply(OK, nil, {task_raw = ttext, agent_raw = atext or false, abefore = ast0,
                           tbefore = st0})
end

local t = tget(id)
if not t then return reply(NOT_FOUND, 'task not found') end
local allowed
if kind == TR_START or kind == TR_RELEASE then
    allowed = t.st == T_CLAIMED
elseif kind == TR_COMPLETE or kind == TR_FAIL then
    allowed = active(t.st)
elseif kind == TR_CANCEL then
    allowed = t.st == T_PENDING or active(t.st)
else
    return reply(INVALID, 'unknown transition kind ' .. ARGV[3])
end
local state = 'task is ' .. (NAMES[t.st] or 'unknown')
if not allowed then return reply(CONFLICT, state, {task = t}) end
if by and by ~= t.ag then
    return reply(CONFLICT, state .. ' and assigned to ' ..
                     (t.ag and (t.ag .. ', not ' .. by) or 'no agent'), {task = t})
end
if kind == TR_RELEASE and t.att ~= tonumber(ARGV[11]) then
    return reply(CONFLICT, state .. ' at attempt ' .. t.att .. ', not ' .. ARGV[11], {task = t})
end

-- Another registered agent, not offline/failed/draining, with every required capability? Only
-- then is the failing agent passed over (else the task would wait for nobody).
local function someone_else_can(holder)
    local caps = caps_dec(t.req)
    local function usable(aid)
        if aid == holder then return false end
        local ar = agent_raw(aid)
        local st = ar and tonumber(ar[AR_ST])
        return st ~= nil and st ~= A_OFFLINE and st ~= A_FAILED and st ~= A_DRAINING
    end
    if #caps > 0 then
        local keys = {}
        for i, c in ipairs(caps) do keys[i] = P .. 'ac:' .. c end
        for _, aid in ipairs(call('SINTER', unpack(keys))) do
            if usable(aid) then return true end
        end
        return false
    end
    local off = 0
    while true do
        local ids = call('ZRANGE', P .. 'agents', off, off + 63)
        if #ids == 0 then return false end
        for _, aid in ipairs(ids) do
            if usable(aid) then return true end
        end
        off = off + 64
    end
end

local function add_latency(a)
    local lat = tonumber(ARGV[8]) or -1
    if lat < 0 then lat = now - t.clat end
    a.ls = string.format('%.17g', (tonumber(a.ls) or 0) + lat)
    a.lc = a.lc + 1
end

local a
local t0, holder = t.st, t.ag
local a0 = holder and aget(holder)
local ast0 = a0 and a0.st
if kind == TR_START then
    t.st = T_RUNNING
    t.stat = now
    if t.ag then a = aget(t.ag) end
else
    if active(t.st) then a = agent_leave(t, by, now) end
    local us, rl = opt(ARGV[13]), tonumber(opt(ARGV[14]))
    -- quota.lua: its claim's places back, settled against usage; a 429 pauses or cuts them
    local qtook = active(t.st) and (kind == TR_COMPLETE or kind == TR_FAIL) and
                      QT.leave(id, kind == TR_COMPLETE, us, kind == TR_FAIL and rl or nil, now,
                               t.ag)
    if us and (kind == TR_COMPLETE or kind == TR_FAIL) then
        t.us = us
        TN.settle(t, us) -- tenants: the claim's charge, estimate -> actual
    elseif kind == TR_FAIL and rl then
        TN.settle(t, '0 0') -- a 429 without usage: no call was made, the charge is refunded
    end
    if kind == TR_FAIL and rl then
        -- The provider's 429: back to pending, no retry and no failure counted; the task waits
        -- the retry time (docs/fleet.md "Rate limits (429) as backoff").
        t.err = opt(ARGV[7])
        hist_add(t, O_RATE_LIMITED, now)
        requeue(t, now, qtook and 0 or rl) -- a quota took the pause: claimable by others
    elseif kind == TR_COMPLETE then
        t.st = T_COMPLETED
        t.res = opt(ARGV[6])
        t.coat = now
        if a then
            a.tc = a.tc + 1
            add_latency(a)
        end
    elseif kind == TR_FAIL then
        t.re = t.re + 1
        t.err = opt(ARGV[7])
        if a then
            a.tf = a.tf + 1
            add_latency(a)
        end
        hist_add(t, O_FAILED, now)
        if ARGV[9] == '1' and t.re < t.mr then
            requeue(t, now, backoff_ms(t, jitter_mix(tonumber(ARGV[12]) or 0, 0)))
            t.poa, t.pou = nil, 0
            if a and someone_else_can(a.id) then
                t.poa = a.id
                t.pou = now + tonumber(ARGV[10])
            end
        else
            t.st = T_FAILED
            t.coat = now
        end
    elseif kind == TR_CANCEL then
        hist_add(t, O_CANCELLED, now) -- a held task's attempt (a pending one has no agent)
        t.st = T_CANCELLED
        t.coat = now
    else -- TR_RELEASE: back to its old place, as if never handed out
        t.st = T_PENDING
        t.att = t.att - 1
        t.ag, t.clat, t.stat, t.dl, t.prog = nil, 0, 0, 0, nil
        t.qm, t.qs = t.pqm, t.pqs
    end
end
tput(t)
commit()
local CHANGE_OF = {[TR_START] = F.STARTED, [TR_COMPLETE] = F.COMPLETED, [TR_FAIL] = F.FAILED,
                   [TR_CANCEL] = F.CANCELLED, [TR_RELEASE] = F.RELEASED}
F.task(CHANGE_OF[kind], now, t, t0, holder)
if a then F.status(now, holder, ast0, a.st) end
return reply(OK, nil, {task = t, agent = a, abefore = a and ast0, tbefore = t0})
