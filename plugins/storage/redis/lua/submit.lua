-- submit.lua — part of the prelude of every cpd Redis operation (appended after rules.lua by
-- embed_lua.cmake): storing one submitted task, the hot path of task_submit and
-- task_submit_batch.
---------------------------------------------------------------------------------------------
-- Submitting one task (task_submit, task_submit_batch). The item at ARGS[o]: id type payload
-- priority created_at timeout_ms max_retries retries attempt metadata? strategy? not_before
-- idempotency_key? backoff? est? n_caps caps... (ITEM_FIXED members before the capabilities).
-- The hot path of every task, so it writes straight what task_store() writes for a new
-- pending task (record, queue, capsets, created_at indexes, counters, wake-up), without its
-- tables. One arrival number serves as both members (queue and created_at indexes): each index
-- only needs arrival order among its own members.
local ITEM_FIXED = 19 -- the 17th: the tenant, after n_caps ("" = the default one); then the
-- affinity key ("": none) and hold in ms (affinity.lua)
local function item_end(o) return o + ITEM_FIXED + tonumber(ARGS[o + 15]) end

-- The text of the task holding key ik (nil: none).
local function keyed_task(ik)
    local ex = call('HGET', P .. 'idem', ik)
    return ex and call('GET', tkey(ex)) or nil
end

-- Returns the reply of the task (its text) and 1 (stored now) or 0 (found by its idempotency
-- key); nil when its id is taken (nothing written but an arrival number).
local function submit_one(o)
    local id, ik = ARGS[o], opt(ARGS[o + 12])
    -- The key: taken for this id at once (one command when it is new), else its task answers
    -- (an entry whose task is gone is taken over).
    if ik and call('HSETNX', P .. 'idem', ik, id) == 0 then
        local r = keyed_task(ik)
        if r then return r, 0 end
        call('HSET', P .. 'idem', ik, id)
    end
    local tk = tkey(id)
    local ttype, pl, pr_s, cat_s = ARGS[o + 1], ARGS[o + 2], ARGS[o + 3], ARGS[o + 4]
    local pr, cat = tonumber(pr_s), tonumber(cat_s)
    local md, strat, bo = opt(ARGS[o + 9]) or '{}', opt(ARGS[o + 10]), opt(ARGS[o + 13])
    local nb_s, est = ARGS[o + 11], opt(ARGS[o + 14])
    local nb = tonumber(nb_s)
    local caps = {}
    for i = o + ITEM_FIXED, item_end(o) - 1 do caps[#caps + 1] = ARGS[i] end
    local req = caps_enc(caps)
    local tn = TN.norm(ARGS[o + 16])
    local qk = TN.qk(req, tn)
    local m = seq_member(id)
    local waits = nb > cat
    local ps_s = waits and nb_s or cat_s
    local ps = tonumber(ps_s)
    if ps < 0 then ps = 0 elseif ps >= BAND then ps = BAND - 1 end
    local qs = istr(pr * BAND + ps)
    -- The rare members, packed as x_enc() does (progress and attempts: none yet).
    local x
    if nb ~= 0 or ik or bo or est or tn then
        x = lp(nb ~= 0 and nb_s or '') .. '0:0:' .. lp(ik or '') .. lp(bo or '')
        if est or tn then x = x .. lp(est or '') .. '0:' end
        if tn then x = x .. lp(tn) end
    end
    -- Numbers go as the strings given (see istr()), in T_REC's order. A waiting task has no
    -- queue place yet: dw instead of qm and qs.
    local qm, dw = m, false
    if waits then qm, qs, dw = false, false, '1' end
    local text = REC.text({id, ttype, pl, req, '0', pr_s, cat_s, '0', '0', '0', ps_s, false,
                           ARGS[o + 5], ARGS[o + 6], ARGS[o + 7], ARGS[o + 8], false, false, md,
                           strat or false, false, '0', '0', x or false, m, qs, qk, qm, false,
                           false, false, dw, false}, #T_REC, REC.T_ABS)
    -- Creates the record, or finds the id taken (then nothing is left written).
    if not call('SET', tk, text, 'NX') then
        if ik then call('HDEL', P .. 'idem', ik) end
        return nil
    end
    if waits then
        call('ZADD', P .. 'delayed', nb_s, id)
    else
        call('ZADD', P .. 'q:' .. qk, qs, m)
        TN.enqueued(qk, req, tn, qs) -- capsets and the claim index (tenant.lua)
    end
    call('ZADD', P .. 'tasks', cat_s, m)
    call('ZADD', P .. 'tt:' .. ttype, cat_s, m)
    call('ZADD', P .. 'ts:0', cat_s, m)
    call('HINCRBY', P .. 'stats', 'tp:' .. pr_s, '1')
    call('HINCRBY', P .. 'sc:type', ttype, '1')
    if not waits then call('PUBLISH', P .. 'events', 'pending ' .. id .. ' ' .. INST) end
    AF.last = not waits and AF.hold(id, req, ARGS[o + 17], ARGS[o + 18], cat) or 0
    F.change(F.SUBMITTED, cat, nil, id, ttype, nil, T_PENDING, nil, nil, tonumber(ARGS[o + 8]), pr)
    return text, 1
end

