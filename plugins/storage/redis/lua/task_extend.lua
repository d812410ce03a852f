-- task_extend.lua — the holder's lease: a claimed/running task's deadline moves to the one
-- given (and inflight with it), its progress is replaced when given; the holder's heartbeat
-- is refreshed when it asks. Fenced like complete. ARGV: inst now id agent? deadline_ms
-- progress?
local NAMES = {[0] = 'pending', 'claimed', 'running', 'completed', 'failed', 'cancelled',
               'timeout'}
local now_s, id, by = ARGV[2], ARGV[3], opt(ARGV[4])
local dl_s, prog = ARGV[5], opt(ARGV[6])
local t, ttext = task_read(id)
if not t then return reply(NOT_FOUND, 'task not found') end
local st = tonumber(t[TR_ST])
local ag = t[TR_AG] -- false: none
local state = 'task is ' .. (NAMES[st] or 'unknown')
if not active(st) then return reply(CONFLICT, state, {task_raw = ttext}) end
if by and by ~= ag then
    return reply(CONFLICT, state .. ' and assigned to ' ..
                     (ag and (ag .. ', not ' .. by) or 'no agent'), {task_raw = ttext})
end
local dl = tonumber(dl_s)
if dl == 0 then -- the task's own timeout from now
    local to = tonumber(t[TR_TO])
    dl = to > 0 and tonumber(now_s) + to or 0
    dl_s = istr(dl)
end
if prog then -- in the packed members (x_enc())
    local rare = {}
    x_dec(rare, t[TR_X] or nil)
    rare.prog = prog
    t[TR_X] = x_enc(rare)
end
t[TR_DL] = dl_s
ttext = trec_set(id, t)
if dl > 0 then
    call('ZADD', P .. 'inflight', dl_s, id)
else
    call('ZREM', P .. 'inflight', id)
end
local a, atext
if ag then a, atext = agent_raw(ag) end
if a and by == ag and tonumber(a[AR_HB]) ~= tonumber(now_s) then
    -- last_heartbeat = now and its liveness index, as agent_store() would
    a[AR_HB] = now_s
    atext = arec_set(ag, a)
    call('ZADD', P .. (tonumber(a[AR_ST]) == A_OFFLINE and 'off' or 'alive'), now_s, ag)
end
F.change(F.EXTENDED, tonumber(now_s), ag or nil, id, t[REC.T_TYPE], st, st, nil, nil,
         tonumber(t[TR_ATT]))
return reply(OK, nil, {task_raw = ttext, agent_raw = atext or false})
