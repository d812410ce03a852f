-- common.lua — the prelude of every cpd Redis operation (see embed_lua.cmake). It runs in one
-- of two forms: as the top of the library `cpd_<hash>` loaded once with FUNCTION LOAD (Redis 7+),
-- each op a function registered by it and called with FCALL, so this code runs once per load,
-- not once per call; or prepended to each op script for EVALSHA (older servers, or a user not
-- allowed FUNCTION). Either way an op starts with begin(KEYS, ARGV), which resets the per-call
-- state below, so nothing survives from one call to the next.
--
-- KEYS[1] is the deployment's hash tag "{<prefix>}"; every key below starts with it, so one
-- deployment lives in one Cluster slot. ARGV[1] is "<instance>:<epoch>": the calling process's
-- instance id (put into pub/sub messages so a process can ignore its own) and the epoch of the
-- connection the call was sent on (begin() refuses calls from an older connection).
--
-- A script reads what it needs through aget()/tget() (cached per script), changes the Lua
-- tables, and calls commit() once at the end: commit() writes every changed record, keeps every
-- index and counter in step and publishes wake-ups. Nothing is written before commit(), so a
-- script that returns early (NOT_FOUND, CONFLICT) changes nothing.
local P, INST, ARGS -- set by begin(): the tag, the instance id, the op's arguments

-- Result codes understood by the C side (mapped to CP_ERR_*). STALE: refused by begin(), nothing
-- done (an op of a dropped connection; its reply is read by nobody).
local OK, NOT_FOUND, CONFLICT, INVALID, STALE = 0, 1, 2, 3, 4

-- enum cp_agent_status / cp_task_status / cp_health / cp_circuit (sdk/include/cp/types.h)
local A_READY, A_BUSY, A_DRAINING, A_OFFLINE, A_FAILED = 1, 2, 3, 4, 5
local T_PENDING, T_CLAIMED, T_RUNNING, T_COMPLETED, T_FAILED, T_CANCELLED, T_TIMEOUT =
    0, 1, 2, 3, 4, 5, 6
local H_HEALTHY, H_DEGRADED, H_UNHEALTHY, H_UNKNOWN = 0, 1, 2, 3
local C_CLOSED, C_OPEN = 0, 1

-- Pending score: priority * 2^44 + pending_since (clamped into the band); ties are broken by
-- the member, which starts with a 16-digit arrival number (INCR of P.."seq").
local BAND = 17592186044416

local call -- redis.call, set by begin() (a library may not touch it while loading)
local TN = {} -- tenants: filled by tenant.lua (appended to this file)
local AF = {} -- affinity holds: filled by affinity.lua (appended after tenant.lua)
local QT = {} -- provider quotas: filled by quota.lua (appended after affinity.lua)

-- Optional string argument: "" = NULL, "=" .. value = value.
local function opt(s)
    if s == nil or s == '' then return nil end
    return string.sub(s, 2)
end

-- A set of names is stored as each name followed by "\n" ("" = empty set).
local function caps_enc(list)
    if #list == 0 then return '' end
    return table.concat(list, '\n') .. '\n'
end
local function caps_dec(s)
    local t = {}
    if s then
        for c in string.gmatch(s, '([^\n]*)\n') do t[#t + 1] = c end
    end
    return t
end
local function argv_list(from)
    local t = {}
    for i = from, #ARGS do t[#t + 1] = ARGS[i] end
    return t
end

local function copy(t)
    local c = {}
    for k, v in pairs(t) do c[k] = v end
    return c
end

local function tonum(t, fields)
    for _, f in ipairs(fields) do t[f] = tonumber(t[f]) or 0 end
    return t
end

---------------------------------------------------------------------------------------------
-- Records. Agent fields: id caps st model prov md probe reg hb la mc inf cur tc tf ls lc
-- and health hs hlc hcf hcs hlat herr hci hcif hco hoa hra, then dra (drained_at, 0 = not
-- drained) and rep (the status the agent reported last; absent in records from before 2.4:
-- read as ready). ls and hlat stay strings (doubles
-- round-trip exactly that way). Task fields: id type pl req st pr cat clat stat coat ps ag
-- to mr re att res err md strat poa pou dl x, the index members cm (created_at indexes) and
-- cseq (claim order), the queue place qk (sha1 of req), qm/qs (member and score while pending),
-- pqm/pqs (the last place, for RELEASE), and dw (1 while waiting for not_before in
-- P.."delayed" instead of a queue). dl: the deadline while claimed/running (replies show 0
-- otherwise). x: the members most tasks lack, packed (x_enc()): not_before, progress, ended
-- attempts, idempotency key, backoff — in tables t.nb, t.prog, t.hist, t.ik, t.bo. (Packed
-- before layout 4, when records were hashes; the C side reads x as it is.)
local A_NUM = {'st', 'reg', 'hb', 'la', 'mc', 'inf', 'tc', 'tf', 'lc', 'hs', 'hlc', 'hcf', 'hcs',
               'hci', 'hcif', 'hco', 'hoa', 'hra', 'dra'}
local T_NUM = {'st', 'pr', 'cat', 'clat', 'stat', 'coat', 'ps', 'to', 'mr', 're', 'att', 'pou',
               'dl'}

-- Length-prefixed strings ("<len>:<bytes>"), as redis_reply.c reads them (lp_next()).
local function lp(s) return #s .. ':' .. s end
-- The next length-prefixed string of s at pos: it and the position after it (nil: none).
local function lp_next(s, pos)
    local c = s and string.find(s, ':', pos, true)
    if not c then return nil end
    local n = tonumber(string.sub(s, pos, c - 1))
    if not n then return nil end
    return string.sub(s, c + 1, c + n), c + 1 + n
end

-- x: lp(not_before) lp(progress) lp(hist) lp(key) lp(backoff), then (provider quotas) lp(est)
-- ("<input> <max_output>") and lp(us) (usage "<input> <output> <cached>"), then (tenants,
-- tenant.lua) lp(tenant), "" for none; nil when all none. Records written before est/us have
-- five members (read as none), before the tenant seven.
local function x_enc(t)
    if (t.nb or 0) == 0 and not t.prog and not t.hist and not t.ik and not t.bo and not t.est and
        not t.us and not t.tn then return nil end
    local x = lp((t.nb or 0) ~= 0 and string.format('%d', t.nb) or '') .. lp(t.prog or '') ..
                  lp(t.hist or '') .. lp(t.ik or '') .. lp(t.bo or '')
    if t.est or t.us or t.tn then x = x .. lp(t.est or '') .. lp(t.us or '') end
    if t.tn then x = x .. lp(t.tn) end
    return x
end
local function x_dec(t, x)
    local v, pos = {}, 1
    for i = 1, 8 do
        v[i], pos = lp_next(x, pos)
        if not v[i] then break end
        if v[i] == '' then v[i] = nil end
    end
    t.nb = tonumber(v[1]) or 0
    t.prog, t.hist, t.ik, t.bo, t.est, t.us, t.tn = v[2], v[3], v[4], v[5], v[6], v[7], v[8]
end

local function akey(id) return P .. 'a:' .. id end
local function tkey(id) return P .. 't:' .. id end

-- Records as stored (layout 4, docs/redis.md "Record format"): an agent or a task is ONE string
-- value: the number of fields, then each field, every one followed by a zero byte
--   "<n>\0<field 1>\0<field 2>\0...<field n>\0"
-- in the order of A_REC / T_REC, an absent field the single byte "\1" (ABSENT). Values are the
-- strings Redis kept in hash fields up to layout 3 (numbers as "%.17g" gives them: integers up
-- to 2^53 exactly) and never hold a zero byte (they come from C strings). One GET and one SET
-- move a record instead of a value per field (an HMGET of 30 fields: ~93k redis-server
-- instructions; GET + struct.unpack: ~20k), and a script replies a record as its text: one
-- value, split by redis_record.c. The first 30 (agents) / 24 (tasks) fields are the reply's
-- (redis_fields.c), the rest the scripts' own. A record with fewer fields (written before one
-- was appended) reads the missing ones as absent.
-- In Lua a record is an array of those strings by position (AR_* / TR_*; false = absent), as
-- agent_raw() / task_read() give it; the generic path (aget/tget) names them (a_named()).
local A_REC = {'id', 'caps', 'st', 'model', 'prov', 'md', 'probe', 'reg', 'hb', 'la', 'mc', 'inf',
               'cur', 'tc', 'tf', 'ls', 'lc', 'hs', 'hlc', 'hcf', 'hcs', 'hlat', 'herr', 'hci',
               'hcif', 'hco', 'hoa', 'hra', 'dra', 'rep', 'qsc', 'wr'}
local T_REC = {'id', 'type', 'pl', 'req', 'st', 'pr', 'cat', 'clat', 'stat', 'coat', 'ps', 'ag',
               'to', 'mr', 're', 'att', 'res', 'err', 'md', 'strat', 'poa', 'pou', 'dl', 'x',
               'cm', 'qs', 'qk', 'qm', 'pqm', 'pqs', 'cseq', 'dw', 'ctk', 'tnb'}
-- One table (REC) for the rest, to keep the scripts' main chunk under Lua's 200 locals:
-- A_ABS / T_ABS, the positions that may be absent (the others always hold a value); ABSENT;
-- FMT, struct.unpack formats of n zero-terminated strings (made at first use: a library may
-- not call string functions while it loads); N, #A_REC and #T_REC as text.
local REC = {A_ABS = {4, 5, 7, 13, 23, 29, 30, 31, 32},
             T_ABS = {12, 17, 18, 20, 21, 24, 26, 28, 29, 30, 31, 32, 33, 34}, ABSENT = '\1',
             FMT = {}, N = {[32] = '32', [34] = '34'}}

-- The record at key as an array of `n` fields, and its text; nil when there is none.
function REC.get(key, n, abs)
    local s = call('GET', key)
    if not s then return nil end
    local c = string.find(s, '\0', 1, true)
    local k = tonumber(string.sub(s, 1, c - 1))
    local fmt = REC.FMT[k]
    if not fmt then
        fmt = string.rep('s', k)
        REC.FMT[k] = fmt
    end
    local r = {struct.unpack(fmt, s, c + 1)}
    r[k + 1] = nil -- unpack's next position
    for i = k + 1, n do r[i] = false end
    for _, i in ipairs(abs) do
        if r[i] == REC.ABSENT then r[i] = false end
    end
    return r, s
end
-- The text of record array r (n fields; every present one a string: a number would go through
-- Lua's "%.14g").
function REC.text(r, n, abs)
    local absent = REC.ABSENT
    for _, i in ipairs(abs) do
        if not r[i] then r[i] = absent end
    end
    local s = REC.N[n] .. '\0' .. table.concat(r, '\0', 1, n) .. '\0'
    for _, i in ipairs(abs) do
        if r[i] == absent then r[i] = false end
    end
    return s
end
-- An agent written in this call is not read again: arec_set() keeps its array and text
-- (REC.wid; begin() forgets it) — complete with next completes, then claims for the same agent.
-- Whoever changes that array writes it (arec_set), as every caller of agent_raw() does.
local function agent_raw(id)
    if REC.wid == id then return REC.wa, REC.wt end
    return REC.get(akey(id), #A_REC, REC.A_ABS)
end
local function task_read(id) return REC.get(tkey(id), #T_REC, REC.T_ABS) end
-- Stores agent / task array r; returns its text (the reply of it).
local function arec_set(id, r)
    local s = REC.text(r, #A_REC, REC.A_ABS)
    call('SET', akey(id), s)
    REC.wid, REC.wa, REC.wt = id, r, s
    return s
end
local function trec_set(id, r)
    local s = REC.text(r, #T_REC, REC.T_ABS)
    call('SET', tkey(id), s)
    return s
end
-- Record arrays and the named tables of the generic path, both ways (numbers as "%.17g").
function REC.named(r, names)
    local t = {}
    for i, f in ipairs(names) do
        local v = r[i]
        if v and v ~= REC.ABSENT then t[f] = v end
    end
    return t
end
function REC.array(t, names)
    local r = {}
    for i, f in ipairs(names) do
        local v = t[f]
        if type(v) == 'number' then v = string.format('%.17g', v) end
        r[i] = v or REC.ABSENT -- (false again after REC.text() for the positions that may be)
    end
    return r
end
-- Does named table t differ from old in any field?
function REC.changed(t, old)
    if not old then return true end
    for k, v in pairs(t) do
        if old[k] ~= v then return true end
    end
    for k in pairs(old) do
        if t[k] == nil then return true end
    end
    return false
end

-- Per-script caches: id -> {old = snapshot or false, cur = table or false}; DIRTY_* keep the
-- order in which records were first changed (events and queue arrival follow it). With the
-- counter deltas and wake-ups (below), the state of the generic path (aget() .. commit()),
-- made by gen() when a call first takes that path: the hot paths (submit, claim, complete, a
-- heartbeat that changes nothing counted) never do, and each table made and collected per call
-- costs Redis' Lua about as much as a command.
local AC, TC, DIRTY_A, DIRTY_T
local DELTA, DELTA_ORDER
local PUBS
local function gen()
    if AC then return end
    AC, TC, DIRTY_A, DIRTY_T = {}, {}, {}, {}
    DELTA, DELTA_ORDER = {}, {}
    PUBS = {}
end

local function aget(id)
    gen()
    local e = AC[id]
    if not e then
        local a = agent_raw(id)
        if a then
            a = REC.named(a, A_REC)
            tonum(a, A_NUM)
            a.rep = tonumber(a.rep) or A_READY
        end
        e = {old = a and copy(a) or false, cur = a or false, dirty = false}
        AC[id] = e
    end
    return e.cur or nil
end
local function aput(a)
    gen()
    local e = AC[a.id]
    if not e then
        e = {old = false}
        AC[a.id] = e
    end
    e.cur = a
    if not e.dirty then
        e.dirty = true
        DIRTY_A[#DIRTY_A + 1] = a.id
    end
end
local function adel(id)
    gen()
    aget(id)
    local e = AC[id]
    e.cur = false
    if not e.dirty then
        e.dirty = true
        DIRTY_A[#DIRTY_A + 1] = id
    end
end

local function tget(id)
    gen()
    local e = TC[id]
    if not e then
        local t = task_read(id)
        if t then
            t = REC.named(t, T_REC)
            tonum(t, T_NUM)
            x_dec(t, t.x)
            t.x = nil
            if t.qs then t.qs = tonumber(t.qs) end
            if t.pqs then t.pqs = tonumber(t.pqs) end
            if t.cseq then t.cseq = tonumber(t.cseq) end
        end
        e = {old = t and copy(t) or false, cur = t or false, dirty = false}
        TC[id] = e
    end
    return e.cur or nil
end
local function tput(t)
    gen()
    local e = TC[t.id]
    if not e then
        e = {old = false}
        TC[t.id] = e
    end
    e.cur = t
    if not e.dirty then
        e.dirty = true
        DIRTY_T[#DIRTY_T + 1] = t.id
    end
end
local function tdel(id)
    gen()
    tget(id)
    local e = TC[id]
    e.cur = false
    if not e.dirty then
        e.dirty = true
        DIRTY_T[#DIRTY_T + 1] = id
    end
end

---------------------------------------------------------------------------------------------
-- Counters for stats(): deltas gathered during commit() and applied once.
local function delta(hash, field, d)
    gen()
    local k = hash .. '\0' .. field
    if DELTA[k] == nil then
        DELTA[k] = 0
        DELTA_ORDER[#DELTA_ORDER + 1] = {hash, field, k}
    end
    DELTA[k] = DELTA[k] + d
end

-- The availability rule of cp_agent_is_available(): ready, below the maximum, circuit not open.
local function agent_available(a)
    return a.hci ~= C_OPEN and a.st == A_READY and a.inf < a.mc
end

-- `names`: also the per-capability and per-provider counts (they change only when an agent
-- is added, deleted, or re-registered with other capabilities or provider).
local function agent_account(a, d, names)
    local S = P .. 'stats'
    delta(S, 'agents_total', d)
    if agent_available(a) then delta(S, 'agents_available', d) end
    delta(S, 'as:' .. a.st, d)
    delta(S, 'ah:' .. a.hs, d)
    if a.hci == C_OPEN then delta(S, 'circuits_open', d) end
    if not names then return end
    for _, c in ipairs(caps_dec(a.caps)) do delta(P .. 'sc:cap', c, d) end
    if a.prov then delta(P .. 'sc:prov', a.prov, d) end
end

-- Tasks by status are not counted: stats.lua takes the cardinalities of the status indexes
-- (ZCARD of P.."ts:"..status and P.."tasks"), which every change keeps up anyway (layout 3).
local function task_account(t, d)
    local S = P .. 'stats'
    delta(S, 'tp:' .. t.pr, d)
    delta(P .. 'sc:type', t.type, d)
end

local function flush_deltas()
    for _, e in ipairs(DELTA_ORDER) do
        local d = DELTA[e[3]]
        if d ~= 0 then
            local v = call('HINCRBY', e[1], e[2], d)
            -- Named counters (capability, provider, type) disappear at zero.
            if v <= 0 and e[1] ~= P .. 'stats' then call('HDEL', e[1], e[2]) end
        end
    end
end

-- The stored fields of task table t (the generic path's): the rare members packed into x.
local function t_rec(t)
    local r = copy(t)
    r.nb, r.prog, r.hist, r.ik, r.bo, r.est, r.us, r.tn = nil, nil, nil, nil, nil, nil, nil, nil
    r.x = x_enc(t)
    return r
end

---------------------------------------------------------------------------------------------
-- Replies: {rc, message, created, agent, task, agents, tasks, total, stats, events}; the C side
-- (redis_reply.c) reads agents and tasks by position in the arrays built here.
local function nz(v)
    if v == nil then return false end
    return v
end

-- Lua numbers are doubles: int64 values above 2^53 (e.g. a "never" timeout of INT64_MAX) are
-- rounded, and a reply must not hold 2^63 (Redis' conversion to a C integer would overflow).
local I64_MAX = 9223372036854774784 -- the largest double below 2^63
local function i64(v)
    if v > I64_MAX then return I64_MAX elseif v < -I64_MAX then return -I64_MAX end
    return v
end

-- A record in a reply: its text as it is (or would be) stored (one value, which
-- redis_record.c splits; capability sets stay encoded, "a\nb\n"). The C side drops what a
-- reply must not show: a pass-over time without its agent, a deadline while the task is not
-- held. The hot ops reply the text they read or wrote.
local function agent_reply(a)
    if not a then return false end
    return REC.text(REC.array(a, A_REC), #A_REC, REC.A_ABS)
end

local function task_reply(t)
    if not t then return false end
    return REC.text(REC.array(t_rec(t), T_REC), #T_REC, REC.T_ABS)
end

-- Numbers given to redis.call() are formatted with printf("%.17g") by Redis, a cost the hot ops
-- avoid: they pass strings (ARGV as given, these constants, istr() of integers — the same text
-- "%.17g" gives for integers below 2^53). Record fields must be strings too (REC.text()).
local ST_S = {[0] = '0', '1', '2', '3', '4', '5', '6'}
-- (small integers from a table: string.format goes through glibc's printf, ~1.2 thousand
-- redis-server instructions a number, and a lifecycle formats dozens)
REC.SMALL = {[-1] = '-1', [0] = '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '10', '11', '12',
             '13', '14', '15', '16', '17', '18', '19', '20', '21', '22', '23', '24', '25', '26',
             '27', '28', '29', '30', '31', '32'}
local function istr(n) return REC.SMALL[n] or string.format('%d', n) end
-- Fields of the record arrays by position in A_REC / T_REC.
local AR_CAPS, AR_ST, AR_HB, AR_LA, AR_MC, AR_INF, AR_CUR, AR_TC, AR_LS, AR_LC, AR_HCI, AR_HRA =
    2, 3, 9, 10, 11, 12, 13, 14, 16, 17, 24, 28
local AR_PROBE, AR_HS, AR_DRA, AR_REP = 7, 18, 29, 30
local TR_ST, TR_CAT, TR_CLAT, TR_STAT, TR_COAT, TR_AG, TR_TO, TR_ATT, TR_RES, TR_DL, TR_X, TR_CM,
      TR_QS = 5, 7, 8, 9, 10, 12, 13, 16, 17, 23, 24, 25, 26
-- (and in REC, those used in one place or two)
REC.A_WR, REC.T_TYPE, REC.T_POA, REC.T_POU, REC.T_QM, REC.T_PQM, REC.T_PQS, REC.T_CSEQ, REC.T_CTK =
    32, 2, 21, 22, 28, 29, 30, 31, 33
REC.T_QK, REC.T_TNB = 27, 34

-- The counters of an agent whose status or tasks in flight changed and nothing else counted
-- (health, circuit, maximum, names): what agent_account(old, -1) + agent_account(new, 1) net.
-- While REC.nets is a table (task_complete_next.lua: a completion, then a claim, by one agent)
-- the changes are summed there and REC.net_flush() applies what they net to: a completion that
-- makes the agent ready and a claim that makes it busy again write no counter at all.
local function agent_recount(hci, mc, st0, inf0, st1, inf1)
    local S = P .. 'stats'
    local function avail(st, inf)
        return hci ~= C_OPEN and st == A_READY and inf < mc
    end
    local v0, v1 = avail(st0, inf0), avail(st1, inf1)
    local n = REC.nets
    if n then
        if v0 ~= v1 then n.agents_available = (n.agents_available or 0) + (v1 and 1 or -1) end
        if st0 ~= st1 then
            local f0, f1 = 'as:' .. ST_S[st0], 'as:' .. ST_S[st1]
            n[f0], n[f1] = (n[f0] or 0) - 1, (n[f1] or 0) + 1
        end
        return
    end
    if v0 ~= v1 then call('HINCRBY', S, 'agents_available', v1 and '1' or '-1') end
    if st0 ~= st1 then
        call('HINCRBY', S, 'as:' .. ST_S[st0], '-1')
        call('HINCRBY', S, 'as:' .. ST_S[st1], '1')
    end
end
function REC.net_flush()
    local n = REC.nets
    REC.nets = nil
    if not n then return end
    for _, f in ipairs({'agents_available', 'as:0', 'as:1', 'as:2', 'as:3', 'as:4', 'as:5'}) do
        local d = n[f]
        if d and d ~= 0 then call('HINCRBY', P .. 'stats', f, istr(d)) end
    end
end

-- A task's status index (its count: task_account()), from status st0 to st1 (created_at cat,
-- member cm).
local function task_restatus(cm, cat, st0, st1)
    call('ZREM', P .. 'ts:' .. ST_S[st0], cm)
    call('ZADD', P .. 'ts:' .. ST_S[st1], cat, cm)
end

-- COMPLETE's side of the agent (task_transition.lua's hot path), on its record `a` as
-- agent_raw() read it: its slot back as agent_leave() gives it, one more completed, the latency
-- `lat`, last_heartbeat = now when `touch`; written as commit() would (a claim waiting for its
-- slot, `wr`, is told). Returns its status before and the record's text. (Here rather than in
-- task_transition.lua to keep that script's closure under Lua's 60 upvalues.)
local function complete_agent(a, ag, id, now, now_s, lat, touch)
    local ast, ainf, amc = tonumber(a[AR_ST]), tonumber(a[AR_INF]), tonumber(a[AR_MC])
    local inf1 = ainf > 0 and ainf - 1 or ainf
    local self_busy = (tonumber(a[AR_REP]) or A_READY) == A_BUSY
    local st1 = (ast == A_BUSY and inf1 < amc and not self_busy) and A_READY or ast
    a[AR_LS] = string.format('%.17g', (tonumber(a[AR_LS]) or 0) + lat)
    a[AR_INF], a[AR_TC], a[AR_LC] = istr(inf1), istr(tonumber(a[AR_TC]) + 1),
                                    istr(tonumber(a[AR_LC]) + 1)
    a[AR_ST] = ST_S[st1]
    if touch and tonumber(a[AR_HB]) ~= now then
        a[AR_HB] = now_s
        call('ZADD', P .. (ast == A_OFFLINE and 'off' or 'alive'), now_s, ag)
    end
    if a[AR_CUR] == id then a[AR_CUR] = false end
    if a[REC.A_WR] then -- a claim waits for this slot (agent_store())
        a[REC.A_WR] = false
        call('PUBLISH', P .. 'events', 'room ' .. ag .. ' ' .. INST)
    end
    local s = arec_set(ag, a)
    agent_recount(tonumber(a[AR_HCI]), amc, ast, ainf, st1, inf1)
    return ast, s
end

---------------------------------------------------------------------------------------------
-- The change feed (docs/redis.md, "The event feed"). While the key P.."feed" exists (a cpd
-- process streams events to a client; the key is also the counter that numbers the changes),
-- a script that changes something publishes its changes on the channel P.."feed" as one
-- message: the number of the first change, then one line per change
--   "<kind> <at> <agent> <task> <type> <old> <new> <old circuit> <new circuit> <attempt> <pr>"
-- ("~" for no id; ids cannot contain spaces or "~": the host validates them). Kinds are enum
-- cp_change_kind. begin() reads the key with the connection epoch (one MGET), so without it a
-- call costs nothing more.
-- One table (F) so that the functions of the library stay under Lua's 60 upvalues.
local F = {REGISTERED = 1, UNREGISTERED = 2, STATUS = 3, REMOVED = 4, HEALTH = 5, SUBMITTED = 6,
           CLAIMED = 7, STARTED = 8, COMPLETED = 9, FAILED = 10, REQUEUED = 11, RELEASED = 12,
           TIMEOUT = 13, CANCELLED = 14, EXTENDED = 15, DUE = 16, RETRIED = 17}
-- F.buf: this call's changes (nil = not looked yet, false = nobody streams); reset by begin().

-- (small numbers from REC.SMALL, and the last time formatted kept: a call's changes share it)
function F.num(v)
    if v == nil or v == false then return '-1' end
    local s = REC.SMALL[v]
    if s then return s end
    if v ~= F.lastn then F.lastn, F.lasts = v, string.format('%d', v) end
    return F.lasts
end
function F.change(kind, at, aid, tid, ttype, old, new, oc, nc, att, pr)
    if F.buf == nil then F.buf = call('EXISTS', P .. 'feed') == 1 and {} or false end
    if not F.buf then return end
    local num = F.num
    -- (one concatenation: no table per change)
    F.buf[#F.buf + 1] = num(kind) .. ' ' .. num(at) .. ' ' .. (aid or '~') .. ' ' ..
                            (tid or '~') .. ' ' .. (ttype or '~') .. ' ' .. num(old) .. ' ' ..
                            num(new) .. ' ' .. num(oc) .. ' ' .. num(nc) .. ' ' ..
                            num(att or 0) .. ' ' .. num(pr)
end
-- A task change (t a record table after the change; aid: the agent concerned).
function F.task(kind, at, t, old, aid)
    F.change(kind, at, aid, t.id, t.type, old, t.st, nil, nil, t.att)
end
-- An agent's status change, when there is one.
function F.status(at, aid, old, new)
    if old ~= new then F.change(F.STATUS, at, aid, nil, nil, old, new) end
end
-- (F.defer: task_complete_next.lua publishes its two steps' changes as one message)
function F.flush()
    local buf = F.buf
    if not buf or #buf == 0 or F.defer then return end
    local last = call('INCRBY', P .. 'feed', istr(#buf))
    call('PUBLISH', P .. 'feed', F.num(last - #buf + 1) .. '\n' .. table.concat(buf, '\n'))
    F.buf = {}
end

-- r.abefore / r.tbefore: the statuses of the agent and the task before the call (cp_result
-- .before), or nil. Publishes the call's changes.
-- NONE: the empty list of a reply (shared: never changed).
local NONE = {}
-- Two forms. The short one, for a call that answers with at most one agent and one task (every
-- hot op): {rc, message, agent, task, agent before, task before, created} — 7 members (a table
-- member costs Redis ~1.5k instructions to reply, a nested empty table more: the long form
-- costs ~22k per call). task_complete_next.lua appends the claim's reply as an 8th. The long
-- one (14 members, 16 for the tenant ops) for everything else: {rc, message, created, agent,
-- task, agents, tasks, total, stats, events, agent before, task before, next due, more}.
local function reply(rc, msg, r)
    r = r or NONE
    F.flush()
    if not (r.agents or r.tasks or r.total or r.stats or r.events or (r.next_due or 0) ~= 0 or
        r.more or r.tenants or r.quotas or r.qheld) then
        return {rc, nz(msg), r.agent_raw or agent_reply(r.agent), r.task_raw or task_reply(r.task),
                nz(r.abefore), nz(r.tbefore), r.created or 0}
    end
    local out = {rc, nz(msg), r.created or 0, r.agent_raw or agent_reply(r.agent),
                 r.task_raw or task_reply(r.task), r.agents or NONE,
                 r.tasks or NONE, r.total or 0, r.stats or false, r.events or NONE, nz(r.abefore),
                 nz(r.tbefore), r.next_due or 0, r.more or 0}
    -- tenant ops (tenant.lua): a 16th member (the 15th, complete_next's claim, is none)
    if r.tenants then out[15], out[16] = false, r.tenants end
    -- quota ops and a claim held by a quota (quota.lua): a 17th, {quota_held, quotas}
    if r.quotas or r.qheld then
        out[15], out[16], out[17] = false, r.tenants or false, {r.qheld or 0, r.quotas or NONE}
    end
    return out
end

-- CP_EVENT_* kinds
local E_REQUEUED, E_TIMEOUT, E_OFFLINE, E_REMOVED, E_DELETED, E_DUE = 1, 2, 3, 4, 5, 6
-- before: the status of the task (task events) or the agent (agent events) before.
local function event(kind, agent_id, t, status, before)
    if not t then return {kind, agent_id, false, false, -1, {}, false, nz(before), 0} end
    return {kind, nz(agent_id), t.id, t.type, status or t.st, t.req, nz(t.strat), nz(before),
            t.att}
end

---------------------------------------------------------------------------------------------
-- The start of every op: this call's tag, instance, arguments, and empty per-call state; or,
-- for a call of a dropped connection, the STALE reply the op returns at once (embed_lua.cmake).
-- P.."conn:"..instance holds the epoch of that process's newest command connection, raised
-- before anything else is sent on it (redis_fence.c). A call carrying an older epoch was sent
-- on a connection cpd has given up — its caller was answered 503 "may or may not have been
-- applied" — and Redis runs it only now (it was in that socket's buffer): it must not run, or
-- a claim would hand out a task nobody hears of. One MGET per call, which also reads whether
-- the change feed is on (F.buf).
local function begin(keys, argv)
    call = redis.call
    P, ARGS = keys[1], argv
    local sep = string.find(argv[1], ':', 1, true)
    INST = sep and string.sub(argv[1], 1, sep - 1) or argv[1]
    F.buf, F.defer = nil, nil
    if sep then
        -- One MGET reads the epoch and whether the change feed is on (F.buf: F.change() would
        -- otherwise ask with an EXISTS of its own in every changing call).
        local v = call('MGET', P .. 'conn:' .. INST, P .. 'feed')
        local cur = tonumber(v[1])
        local epoch = tonumber(string.sub(argv[1], sep + 1)) or 0
        if cur and cur > epoch then
            F.buf = false
            return reply(STALE, 'sent on a dropped connection (epoch ' .. epoch .. ', now ' ..
                             cur .. '): not run')
        end
        F.buf = v[2] and {} or false
    end
    AC, TC, DIRTY_A, DIRTY_T, DELTA, DELTA_ORDER, PUBS = nil, nil, nil, nil, nil, nil, nil
    REC.wid, REC.wa, REC.wt, REC.nets = nil, nil, nil, nil
end
