-- task_claim.lua — hand the best claimable pending task to an agent, atomically.
-- Candidates come from the queues (one ZSET per distinct required-capability set and tenant)
-- whose set is a subset of the claim's capabilities; the best is the lowest (score, member) over
-- their heads, i.e. priority, then pending_since, then arrival; among tenants (lua/tenant.lua)
-- the band, the tenant's service, then the rest (found through the claim index, TN.pick).
-- ARGV: inst now agent caps_mode token aging_ms caps...
-- (caps_mode: 0 = the agent's registered capabilities, 1 = these, 2 = these but not sorted and
-- unique: INVALID once the agent is known to exist; token: the claim's "<instance>:<n>", kept
-- in the task as `ctk` so that claim_release.lua can undo this claim if its reply is lost).
-- The hot path of every claim, so it works on the records as stored (one GET each, replied
-- as written) and writes exactly what a claim changes, instead of going through aget()/commit():
-- the writes below are what commit() would make of the same change (agent_store/task_store).
local now, now_s = tonumber(ARGV[2]), ARGV[2]
local aid = ARGV[3]
AF.reset() -- affinity holds (affinity.lua)
local a, atext0 = agent_raw(aid)
if not a then return reply(NOT_FOUND, 'agent not found') end
if ARGV[4] == '2' then return reply(INVALID, 'capabilities must be sorted and unique') end
local atext -- the agent as stored (set by heartbeat())
local st, mc, inf, hci = tonumber(a[AR_ST]), tonumber(a[AR_MC]), tonumber(a[AR_INF]),
                         tonumber(a[AR_HCI])
-- last_heartbeat = now, always (and its liveness index, as agent_store()); the record stored
-- when anything changed (`changed`: a field set by the caller), its text in atext.
local function heartbeat(changed)
    if tonumber(a[AR_HB]) ~= now then
        a[AR_HB] = now_s
        call('ZADD', P .. (st == A_OFFLINE and 'off' or 'alive'), now_s, aid)
        changed = true
    end
    if changed then atext = arec_set(aid, a) else atext = atext0 end
end
-- The claim rule: a mirror of cp_claim_allowed() in sdk/include/cp/storage.h (ready, below
-- max_concurrent_tasks, circuit not open; open with retry_at <= now counts as half_open, which
-- may claim). Change both together: the conformance case claim_rule_grid compares them.
local circuit_ok = hci ~= C_OPEN or tonumber(a[AR_HRA]) <= now
if st ~= A_READY or inf >= mc or not circuit_ok then
    -- At its limit, busy or starting: a claim that may wait for the agent to be able to claim
    -- marks it (`wr`), and the change that allows it publishes "room <agent>" (agent_store()).
    local wr = circuit_ok and st <= A_BUSY and not a[REC.A_WR]
    if wr then a[REC.A_WR] = '1' end
    heartbeat(wr)
    return reply(OK, nil, {agent_raw = atext, abefore = st})
end

-- Provider quotas (quota.lua): a paused, full or out-of-requests quota holds the claim.
QT.qs = QT.of_raw(a, now) -- (a field, not a local: the EVALSHA chunk is near Lua's 200 locals)
do
    local held, due = QT.blocked(QT.qs, now)
    if held then
        QT.held(QT.qs)
        heartbeat(false)
        return reply(OK, nil, {agent_raw = atext, abefore = st, qheld = 1, next_due = due})
    end
end

local best, have
local function subset(enc)
    if not have then
        have = {}
        for _, c in ipairs((ARGV[4] == '1') and argv_list(7) or caps_dec(a[AR_CAPS])) do
            have[c] = true
        end
    end
    for c in string.gmatch(enc, '([^\n]*)\n') do
        if not have[c] then return false end
    end
    return true
end
-- Tasks held for this agent come first (lua/affinity.lua). Then, without aging: the claim
-- index of lua/tenant.lua (a few heads whatever the tenant count); with aging: every queue's
-- head, and the oldest task of the band after it.
local aging = tonumber(ARGV[6]) or 0
local sets = {}
best = AF.first(aid, now, subset, {}, aging)
if best then -- taken
elseif aging > 0 then sets = call('HGETALL', P .. 'capsets') else best = TN.pick(subset, aid, now) end
if #sets > 0 then
    -- One set (the usual case): its head is read whole at once, it is most likely the one.
    local single = #sets == 2
    local tcache = {} -- tenants (tenant.lua): a queue of a tenant at its max_in_flight is skipped
    for i = 1, #sets, 2 do
        local tn = TN.of_set(sets[i + 1])
        local ts = subset(sets[i + 1]) and TN.state(tcache, tn)
        if ts and not TN.full(ts) then
            local q = P .. 'q:' .. sets[i]
            -- The head (and the next: is the head alone?) first, then wider steps past
            -- passed-over tasks.
            local off, step, done, hb = 0, 2, false, nil
            while not done do
                local r = call('ZRANGE', q, off, off + step - 1, 'WITHSCORES')
                if #r == 0 then
                    if off == 0 then call('HDEL', P .. 'capsets', sets[i]) end -- empty queue
                    break
                end
                for j = 1, #r, 2 do
                    local m, s = r[j], tonumber(r[j + 1])
                    local c = TN.candidate(s, m, ts, now, aging)
                    if not hb then hb = math.floor(s / BAND) end
                    if best and not TN.before(c, best) then
                        done = true -- nothing further in this queue can beat the best
                        break
                    end
                    local tid = string.sub(m, 18)
                    local rec = task_read(tid) or {}
                    local poa, pou = rec[REC.T_POA], rec[REC.T_POU]
                    -- Passed over: the agent that failed it waits until passed_over_until.
                    if not (poa == aid and now < (tonumber(pou) or 0)) and
                        not AF.other(tid, aid, now) then -- (held for another agent: skipped)
                        -- alone: the queue's only task, so claiming it empties the queue
                        best = {s = c.s, m = m, id = tid, qk = sets[i], t = rec[1] and rec,
                                alone = off == 0 and #r == 2, b = c.b, v = c.v, ti = c.ti, tn = tn,
                                ts = ts}
                        done = true
                        break
                    end
                end
                off = off + step
                step = 16
            end
            -- Aging: the oldest task of the band after the head's counts one band up once it
            -- has waited `aging` ms, and may then come before the head's band-mates.
            local c = hb and aging > 0 and TN.aged(q, hb, ts, now, aging, aid)
            if c and AF.other(string.sub(c.m, 18), aid, now) then c = nil end
            if c and (not best or TN.before(c, best)) then
                best = {s = c.s, m = c.m, id = string.sub(c.m, 18), qk = sets[i], alone = false,
                        b = c.b, v = c.v, ti = c.ti, tn = tn, ts = ts}
            end
        end
    end
end
if not best then
    heartbeat(false)
    return reply(OK, nil, {agent_raw = atext, abefore = st, next_due = AF.due})
end

-- The task: pending -> claimed. It leaves its queue (the place is kept for RELEASE), enters
-- the claimed indexes (inflight by its deadline when it has a timeout, the agent's af: set by
-- claim order).
local tid = best.id
local t = best.t or task_read(tid)
if QT.qs then -- the task must fit the tokens left on each quota, else it is left for others
    local need = QT.tokens(t[TR_X] or nil)
    local fits, due = QT.fits(QT.qs, need)
    if not fits then
        QT.held(QT.qs)
        heartbeat(false)
        return reply(OK, nil, {agent_raw = atext, abefore = st, qheld = 1, next_due = due})
    end
    QT.reserve(QT.qs, tid, need, now)
end
local cseq = istr(call('INCR', P .. 'seq'))
local att = tonumber(t[TR_ATT]) + 1
local to = tonumber(t[TR_TO])
local dl = to > 0 and now + to or 0
local dl_s = istr(dl)
t[TR_ST], t[TR_AG], t[TR_CLAT], t[TR_STAT], t[TR_ATT] = ST_S[T_CLAIMED], aid, now_s, '0', istr(att)
t[REC.T_CSEQ], t[REC.T_CTK], t[TR_DL] = cseq, ARGV[5], dl_s
-- leaving pending keeps the place (RELEASE puts the task back there)
t[REC.T_PQM], t[REC.T_PQS], t[REC.T_QM], t[TR_QS] = best.m, t[TR_QS], false, false
t[REC.T_TNB] = best.b and istr(best.b) or false -- the band charged (tenant.lua)
local ttext = trec_set(tid, t)
local q = P .. 'q:' .. best.qk
call('ZREM', q, best.m)
AF.claimed(tid)
if best.rk then TN.took(best) elseif best.alone then call('HDEL', P .. 'capsets', best.qk) end
if dl > 0 then call('ZADD', P .. 'inflight', dl_s, tid) end
call('ZADD', P .. 'af:' .. aid, cseq, tid)
task_restatus(t[TR_CM], t[TR_CAT], T_PENDING, T_CLAIMED)
TN.claimed(best.tn, best.ts, TN.cost(t), best.b)

-- The agent: one more in flight, busy at the maximum (agent_norm()).
local inf1 = inf + 1
local st1 = inf1 >= mc and A_BUSY or A_READY
a[AR_INF], a[AR_CUR], a[AR_LA], a[AR_ST] = istr(inf1), tid, now_s, ST_S[st1]
heartbeat(true)
agent_recount(hci, mc, st, inf, st1, inf1)
F.change(F.CLAIMED, now, aid, tid, t[REC.T_TYPE], T_PENDING, T_CLAIMED, nil, nil, att)
F.status(now, aid, st, st1)
return reply(OK, nil, {agent_raw = atext, task_raw = ttext, abefore = st, tbefore = T_PENDING})
