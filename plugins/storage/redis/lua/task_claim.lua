-- task_claim.lua — hand the best claimable pending task to an agent, atomically.
-- Candidates come from the queues (one ZSET per distinct required-capability set) whose set is a
-- subset of the claim's capabilities; the best is the lowest (score, member) over their heads,
-- i.e. priority, then pending_since, then arrival. ARGV: inst now agent caps_mode caps...
-- (caps_mode: 0 = the agent's registered capabilities, 1 = these, 2 = these but not sorted and
-- unique: INVALID once the agent is known to exist).
local now = tonumber(ARGV[2])
local aid = ARGV[3]
local a = aget(aid)
if not a then return reply(NOT_FOUND, 'agent not found') end
if ARGV[4] == '2' then return reply(INVALID, 'capabilities must be sorted and unique') end
a.hb = now
aput(a)
-- Open with retry_at <= now counts as half_open, which may claim.
local circuit_ok = a.hci ~= C_OPEN or a.hra <= now
if a.st ~= A_READY or a.inf >= a.mc or not circuit_ok then
    commit()
    return reply(OK, nil, {agent = a})
end
local have = {}
local caps = (ARGV[4] == '1') and argv_list(5) or caps_dec(a.caps)
for _, c in ipairs(caps) do have[c] = true end

local function subset(enc)
    for c in string.gmatch(enc, '([^\n]*)\n') do
        if not have[c] then return false end
    end
    return true
end

local best
local sets = call('HGETALL', P .. 'capsets')
for i = 1, #sets, 2 do
    if subset(sets[i + 1]) then
        local q = P .. 'q:' .. sets[i]
        -- The head first (the usual answer), then wider steps past passed-over tasks.
        local off, step, done = 0, 1, false
        while not done do
            local r = call('ZRANGE', q, off, off + step - 1, 'WITHSCORES')
            if #r == 0 then
                if off == 0 then call('HDEL', P .. 'capsets', sets[i]) end -- empty queue
                break
            end
            for j = 1, #r, 2 do
                local m, s = r[j], tonumber(r[j + 1])
                if best and (s > best.s or (s == best.s and m > best.m)) then
                    done = true -- nothing further in this queue can beat the best
                    break
                end
                local tid = string.sub(m, 18)
                local po = call('HMGET', tkey(tid), 'poa', 'pou')
                -- Passed over: the agent that failed it waits until passed_over_until.
                if not (po[1] == aid and now < (tonumber(po[2]) or 0)) then
                    best = {s = s, m = m, id = tid}
                    done = true
                    break
                end
            end
            off = off + step
            step = 16
        end
    end
end
if not best then
    commit()
    return reply(OK, nil, {agent = a})
end
local t = tget(best.id)
t.st = T_CLAIMED
t.ag = aid
t.clat = now
t.stat = 0
t.att = t.att + 1
t.cseq = call('INCR', P .. 'seq')
tput(t)
a.inf = a.inf + 1
a.cur = t.id
a.la = now
commit() -- busy at the maximum: agent_norm()
return reply(OK, nil, {agent = a, task = t})
