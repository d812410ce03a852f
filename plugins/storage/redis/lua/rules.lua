-- rules.lua — part of the prelude of every cpd Redis operation (appended after store.lua by
-- embed_lua.cmake): rules several operations share — an agent's slot back, a requeue, the
-- backoff, the attempts history.
---------------------------------------------------------------------------------------------
-- Rules shared by several operations.

-- Task `t` leaves claimed/running: its assigned agent (if still registered) gets its slot back.
-- `by` is the agent id the request came from (its heartbeat is refreshed), or nil.
local function agent_leave(t, by, now)
    if not t.ag then return nil end
    local a = aget(t.ag)
    if not a then return nil end
    if a.inf > 0 then a.inf = a.inf - 1 end
    if a.cur == t.id then a.cur = nil end
    -- Below its maximum: ready again, unless busy is what the agent itself reported.
    if a.st == A_BUSY and a.inf < a.mc and a.rep ~= A_BUSY then a.st = A_READY end
    if by and by == a.id then a.hb = now end
    aput(a)
    return a
end

-- Back to pending with the assignment (and what belonged to the attempt) cleared; a fresh
-- place at the back of its band — or, with delay > 0, waiting until now + delay.
local function requeue(t, now, delay)
    t.st = T_PENDING
    t.ag, t.clat, t.stat, t.cseq, t.dl, t.prog = nil, 0, 0, nil, 0, nil
    t.ps = now
    t.qm, t.qs = nil, nil
    t.nb, t.dw = 0, nil
    if delay and delay > 0 then
        t.nb = now + delay
        t.ps = t.nb
        t.dw = '1'
    end
end

-- The delay of t's backoff after its `retries` (a mirror of cp_backoff_delay_ms() in
-- sdk/include/cp/storage.h); rnd: a uniform 32-bit number.
local B_FIXED, B_EXPONENTIAL = 1, 2
local function backoff_ms(t, rnd)
    if not t.bo then return 0 end
    local ty, base, mx, jit = string.match(t.bo, '^(%d+) (%d+) (%d+) (%d+)$')
    ty, base, mx = tonumber(ty), tonumber(base), tonumber(mx)
    if not ty or base <= 0 or t.re <= 0 then return 0 end
    local d = base
    if ty == B_EXPONENTIAL then
        local i = 1
        while i < t.re and (mx <= 0 or d < mx) and d < 2305843009213693952 do
            d = d * 2
            i = i + 1
        end
        if mx > 0 and d > mx then d = mx end
    elseif ty ~= B_FIXED then
        return 0
    end
    if jit == '1' then
        local half = math.floor(d / 2)
        d = d - half + math.floor(half * (rnd / 4294967296))
    end
    return d
end
-- cp_jitter_mix(): the random number of the k-th requeue of one operation.
local function jitter_mix(seed, k) return (seed + k * 2654435761) % 4294967296 end

-- Ended attempts (hist): each entry is a length-prefixed string ("<len>:<bytes>") of five
-- length-prefixed fields (agent, started, ended, outcome, error); the last ATTEMPTS_MAX kept.
-- redis_reply.c reads it (parse_attempts()).
local ATTEMPTS_MAX = 32
local O_FAILED, O_TIMEOUT, O_OFFLINE, O_REMOVED, O_CANCELLED = 0, 1, 2, 3, 4
local O_RATE_LIMITED = 6
local function hist_add(t, outcome, now)
    if not t.ag then return end
    local err = ''
    if outcome <= O_OFFLINE or outcome == O_RATE_LIMITED then err = t.err or '' end
    local h = (t.hist or '') ..
                  lp(lp(t.ag) .. lp(string.format('%d', t.clat)) .. lp(string.format('%d', now)) ..
                         lp(string.format('%d', outcome)) .. lp(err))
    local starts, pos = {}, 1
    while pos <= #h do
        local c = string.find(h, ':', pos, true)
        starts[#starts + 1] = pos
        pos = c + 1 + tonumber(string.sub(h, pos, c - 1))
    end
    if #starts > ATTEMPTS_MAX then h = string.sub(h, starts[#starts - ATTEMPTS_MAX + 1]) end
    t.hist = h
end

