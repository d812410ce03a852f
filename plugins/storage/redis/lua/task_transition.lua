-- task_transition.lua — start, complete, fail, cancel, release: compare-and-set on the task's
-- status (and assigned agent), then the agent's counters. ARGV: inst now kind id agent? result?
-- error? latency requeue pass_over_ms expect_attempt
local TR_START, TR_COMPLETE, TR_FAIL, TR_CANCEL, TR_RELEASE = 1, 2, 3, 4, 5
local NAMES = {[0] = 'pending', 'claimed', 'running', 'completed', 'failed', 'cancelled',
               'timeout'}
local now = tonumber(ARGV[2])
local kind = tonumber(ARGV[3])
local id = ARGV[4]
local by = opt(ARGV[5])
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
        local st = tonumber(call('HGET', akey(aid), 'st'))
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
if kind == TR_START then
    t.st = T_RUNNING
    t.stat = now
    if t.ag then a = aget(t.ag) end
else
    if active(t.st) then a = agent_leave(t, by, now) end
    if kind == TR_COMPLETE then
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
        if ARGV[9] == '1' and t.re < t.mr then
            requeue(t, now)
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
        t.st = T_CANCELLED
        t.coat = now
    else -- TR_RELEASE: back to its old place, as if never handed out
        t.st = T_PENDING
        t.att = t.att - 1
        t.ag, t.clat, t.stat = nil, 0, 0
        t.qm, t.qs = t.pqm, t.pqs
    end
end
tput(t)
commit()
return reply(OK, nil, {task = t, agent = a})
