-- agent_heartbeat.lua — liveness and self-reported status. ARGV: inst now id status
-- Every agent sends one every few seconds, and almost every one leaves the status (and what it
-- reported) as it was: then it is written directly — one GET of the record, SET of it with
-- last_heartbeat and the liveness index, exactly the writes commit() would derive — and replied
-- as written. A heartbeat that changes the status or the reported one takes the generic path
-- (counters and indexes follow the status).
local now = ARGV[2]
local id = ARGV[3]
local status = tonumber(ARGV[4])
local r = agent_raw(id)
if not r then return reply(NOT_FOUND, 'agent not found') end
if status < -1 or status > A_FAILED or status == A_OFFLINE then
    return reply(INVALID, 'an agent cannot report this status')
end

-- The status rules. While its probe fails, a heartbeat keeps the agent alive but cannot make it
-- usable: a failed or offline agent with a failing probe is (back to) failed. The result is
-- resolved as agent_norm() does: a drained agent shows draining unless offline or failed.
local function next_status(st, probe, hs, inf, mc, dra)
    local s
    if probe and hs == H_UNHEALTHY and (st == A_FAILED or st == A_OFFLINE) then
        s = A_FAILED
    elseif status < 0 then
        s = (st == A_OFFLINE) and A_READY or st
    else
        s = status
    end
    if dra ~= 0 and s ~= A_OFFLINE and s ~= A_FAILED then s = A_DRAINING end
    if s == A_READY and inf >= mc then s = A_BUSY end
    return s
end

local st = tonumber(r[AR_ST])
local rep = tonumber(r[AR_REP]) or A_READY
if next_status(st, r[AR_PROBE], tonumber(r[AR_HS]), tonumber(r[AR_INF]), tonumber(r[AR_MC]),
               tonumber(r[AR_DRA]) or 0) == st and (status < 0 or status == rep) then
    r[AR_HB] = now
    local text = arec_set(id, r)
    call('ZADD', P .. 'alive', now, id) -- st is not offline: an offline agent comes back
    return reply(OK, nil, {agent_raw = text, abefore = st})
end

local a = aget(id)
a.hb = tonumber(now)
local was = a.st
a.st = next_status(a.st, a.probe, a.hs, a.inf, a.mc, a.dra)
if status >= 0 then
    a.rep = status
elseif was == A_OFFLINE then
    a.rep = A_READY
end
aput(a)
commit()
F.status(a.hb, id, st, a.st)
return reply(OK, nil, {agent = a, abefore = st})
