-- reap.lua — timeouts, offline agents, stale agents, delayed tasks that came due, retention;
-- oldest first through the deadline indexes, at most about max_events units of work (0 = no
-- limit). Idempotent: every process sharing the deployment may run it; the second finds
-- nothing left to do. ARGV: inst now heartbeat_timeout_ms remove_stale retention_ms max_events
-- [max_terminal [jitter]]
local now = tonumber(ARGV[2])
local hbt = tonumber(ARGV[3])
local remove_stale = ARGV[4] == '1'
local retention = tonumber(ARGV[5])
local budget = tonumber(ARGV[6])
local max_terminal = tonumber(ARGV[7] or '0') or 0
local seed, k = tonumber(ARGV[8] or '0') or 0, 0 -- the k-th requeue draws jitter_mix(seed, k)
if budget <= 0 then budget = math.huge end
local events, work = {}, 0
local function left()
    local n = budget - work
    if n > 1000000 then n = 1000000 end -- a LIMIT count; the loop stops at the budget anyway
    return n
end

-- The index of unwell agents (common.lua) is kept by every change since it exists; a deployment
-- written by an older cpd gets it built once, here (one read of every agent's health).
if call('EXISTS', P .. 'unwell:built') == 0 then
    for _, aid in ipairs(call('ZRANGE', P .. 'agents', 0, -1)) do
        local a = agent_raw(aid)
        if a and unwell(tonumber(a[AR_HS])) then
            call('ZADD', P .. 'unwell', 0, aid)
        end
    end
    call('SET', P .. 'unwell:built', '1')
end

-- A held task whose holder failed it by silence (timeout, offline): a failure of the holder,
-- an attempt ended with `outcome`; pending again (after its backoff) while retries remain,
-- else `final`.
local function requeue_failed(t, err, final, outcome)
    local a = agent_leave(t, nil, now)
    -- (a busy agent that gets its slot back here is not told as a status change: the task's
    -- own change names it; memory_reap.c does the same)
    if a then a.tf = a.tf + 1 end
    t.re = t.re + 1
    t.err = err
    hist_add(t, outcome, now)
    if t.re < t.mr then
        requeue(t, now, backoff_ms(t, jitter_mix(seed, k)))
        k = k + 1
    else
        t.st = final
        t.coat = now
    end
    tput(t)
end

-- Claimed/running tasks past their deadline, earliest first (a task claimed by an older cpd,
-- without dl, times out at claimed_at + timeout_ms).
if left() > 0 then
    for _, id in ipairs(call('ZRANGEBYSCORE', P .. 'inflight', '-inf', now, 'LIMIT', 0, left())) do
        if work >= budget then break end
        local t = tget(id)
        local dl = t and (t.dl > 0 and t.dl or (t.to > 0 and t.clat + t.to or 0)) or 0
        if t and active(t.st) and dl > 0 and dl <= now then
            local holder, was = t.ag, t.st
            requeue_failed(t, 'timeout', T_TIMEOUT, O_TIMEOUT)
            events[#events + 1] = event(E_TIMEOUT, holder, t, nil, was)
            F.task(F.TIMEOUT, now, t, was, holder)
            work = work + 1
        end
    end
end

-- Agents silent for heartbeat_timeout_ms turn offline, least recently heard first; their held
-- tasks are requeued as failures ("agent offline").
if hbt > 0 and work < budget then
    for _, aid in ipairs(call('ZRANGEBYSCORE', P .. 'alive', '-inf', now - hbt, 'LIMIT', 0,
                              left())) do
        if work >= budget then break end
        local a = aget(aid)
        if a and a.st ~= A_OFFLINE and a.hb + hbt <= now then
            local was = a.st
            a.st = A_OFFLINE
            aput(a)
            events[#events + 1] = event(E_OFFLINE, aid, nil, nil, was)
            F.status(now, aid, was, A_OFFLINE)
            work = work + 1
            for _, tid in ipairs(call('ZRANGE', P .. 'af:' .. aid, 0, -1)) do
                local t = tget(tid)
                if t and active(t.st) and t.ag == aid then
                    local was = t.st
                    requeue_failed(t, 'agent offline', T_FAILED, O_OFFLINE)
                    if t.st == T_PENDING then
                        events[#events + 1] = event(E_REQUEUED, aid, t, nil, was)
                        F.task(F.REQUEUED, now, t, was, aid)
                    end
                    work = work + 1
                end
            end
        end
    end
end

-- Offline agents silent for 3 x heartbeat_timeout_ms are deleted; their held tasks (if any
-- are left) go back to pending as unregister does.
if remove_stale and hbt > 0 and work < budget then
    local stale = 3 * hbt
    -- Agents turned offline above are not in P.."off" yet (written at commit): look at both.
    local ids = call('ZRANGEBYSCORE', P .. 'off', '-inf', now - stale, 'LIMIT', 0, left())
    for _, e in ipairs(events) do
        if e[1] == E_OFFLINE then ids[#ids + 1] = e[2] end
    end
    local seen = {}
    for _, aid in ipairs(ids) do
        if work >= budget then break end
        local a = aget(aid)
        if a and not seen[aid] and a.st == A_OFFLINE and a.hb + stale <= now then
            seen[aid] = true
            events[#events + 1] = event(E_REMOVED, aid, nil, nil, A_OFFLINE)
            F.change(F.REMOVED, now, aid, nil, nil, A_OFFLINE, nil)
            work = work + 1
            for _, tid in ipairs(call('ZRANGE', P .. 'af:' .. aid, 0, -1)) do
                local t = tget(tid)
                if t and active(t.st) and t.ag == aid then
                    local was = t.st
                    hist_add(t, O_REMOVED, now)
                    requeue(t, now)
                    tput(t)
                    events[#events + 1] = event(E_REQUEUED, aid, t, nil, was)
                    F.task(F.REQUEUED, now, t, was, aid)
                    work = work + 1
                end
            end
            adel(aid)
        end
    end
end

-- Waiting tasks whose not_before came: due, into their queues (commit() publishes "pending"
-- for each, as for a submit), earliest first.
if work < budget then
    for _, id in ipairs(call('ZRANGEBYSCORE', P .. 'delayed', '-inf', now, 'LIMIT', 0, left())) do
        if work >= budget then break end
        local t = tget(id)
        if t and t.st == T_PENDING and t.dw and t.nb <= now then
            t.dw = nil
            t.ps = t.nb
            tput(t)
            events[#events + 1] = event(E_DUE, nil, t, nil, T_PENDING)
            F.task(F.DUE, now, t, T_PENDING, nil)
            work = work + 1
        elseif not (t and t.st == T_PENDING and t.dw) then
            call('ZREM', P .. 'delayed', id) -- no such waiting task: never due, drop it
        end
    end
end

-- Terminal tasks completed retention_ms ago are deleted, oldest first.
local deleted = 0
if retention >= 0 and work < budget then
    local ids = call('ZRANGEBYSCORE', P .. 'done', '-inf', now - retention, 'LIMIT', 0, left())
    for _, id in ipairs(ids) do
        if work >= budget then break end
        local t = tget(id)
        if t and terminal(t.st) and t.coat + retention <= now then
            events[#events + 1] = event(E_DELETED, t.ag, t, nil, t.st)
            tdel(id)
            work = work + 1
            deleted = deleted + 1
        end
    end
end

-- The count cap: beyond max_terminal terminal tasks, the oldest go whatever their age. The
-- index is written at commit, so it still lists the tasks deleted above (skipped here); tasks
-- that turned terminal in this run join it at commit and count from the next run.
if max_terminal > 0 and work < budget then
    local over = call('ZCARD', P .. 'done') - deleted - max_terminal
    if over > 0 then
        local n = math.min(over, budget - work) + deleted
        for _, id in ipairs(call('ZRANGE', P .. 'done', 0, n - 1)) do
            if over <= 0 or work >= budget then break end
            local t = tget(id)
            if t and terminal(t.st) then
                events[#events + 1] = event(E_DELETED, t.ag, t, nil, t.st)
                tdel(id)
                work = work + 1
                over = over - 1
            end
        end
    end
end

commit()
local first = call('ZRANGE', P .. 'delayed', 0, 0, 'WITHSCORES')
return reply(OK, nil, {events = events, next_due = first[2] and i64(tonumber(first[2])) or 0})
