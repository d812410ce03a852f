-- common.lua — the prelude of every cpd Redis operation (see embed_lua.cmake). It runs in one
-- of two forms: as the top of the library `cpd_<hash>` loaded once with FUNCTION LOAD (Redis 7+),
-- each op a function registered by it and called with FCALL, so this code runs once per load,
-- not once per call; or prepended to each op script for EVALSHA (older servers, or a user not
-- allowed FUNCTION). Either way an op starts with begin(KEYS, ARGV), which resets the per-call
-- state below, so nothing survives from one call to the next.
--
-- KEYS[1] is the deployment's hash tag "{<prefix>}"; every key below starts with it, so one
-- deployment lives in one Cluster slot. ARGV[1] is the calling process's instance id (put into
-- pub/sub messages so a process can ignore its own).
--
-- A script reads what it needs through aget()/tget() (cached per script), changes the Lua
-- tables, and calls commit() once at the end: commit() writes every changed record, keeps every
-- index and counter in step and publishes wake-ups. Nothing is written before commit(), so a
-- script that returns early (NOT_FOUND, CONFLICT) changes nothing.
local P, INST, ARGS -- set by begin(): the tag, the instance id, the op's arguments

-- Result codes understood by the C side (mapped to CP_ERR_*).
local OK, NOT_FOUND, CONFLICT, INVALID = 0, 1, 2, 3

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

local function hgetall(key)
    local r = call('HGETALL', key)
    if #r == 0 then return nil end
    local t = {}
    for i = 1, #r, 2 do t[r[i]] = r[i + 1] end
    return t
end

-- Writes the fields of `t` that differ from `old` (nil: a new record, everything) to the hash;
-- `optional` fields that became nil are deleted.
local function hput(key, t, old, optional)
    local args, del = {}, {}
    for k, v in pairs(t) do
        if not old or old[k] ~= v then
            args[#args + 1] = k
            args[#args + 1] = v
        end
    end
    if old then
        for _, f in ipairs(optional) do
            if t[f] == nil and old[f] ~= nil then del[#del + 1] = f end
        end
    end
    if #del > 0 then call('HDEL', key, unpack(del)) end
    if #args > 0 then call('HSET', key, unpack(args)) end
end

local function tonum(t, fields)
    for _, f in ipairs(fields) do t[f] = tonumber(t[f]) or 0 end
    return t
end

---------------------------------------------------------------------------------------------
-- Records. Agent hash fields: id caps st model prov md probe reg hb la mc inf cur tc tf ls lc
-- and health hs hlc hcf hcs hlat herr hci hcif hco hoa hra. ls and hlat stay strings (doubles
-- round-trip exactly that way). Task hash fields: id type pl req st pr cat clat stat coat ps ag
-- to mr re att res err md strat poa pou, the index members cm (created_at indexes) and cseq
-- (claim order), and the queue place qk (sha1 of req), qm/qs (member and score while pending),
-- pqm/pqs (the last place, for RELEASE).
local A_NUM = {'st', 'reg', 'hb', 'la', 'mc', 'inf', 'tc', 'tf', 'lc', 'hs', 'hlc', 'hcf', 'hcs',
               'hci', 'hcif', 'hco', 'hoa', 'hra'}
local A_OPT = {'model', 'prov', 'probe', 'cur', 'herr'}
local T_NUM = {'st', 'pr', 'cat', 'clat', 'stat', 'coat', 'ps', 'to', 'mr', 're', 'att', 'pou'}
local T_OPT = {'ag', 'res', 'err', 'strat', 'poa', 'qm', 'qs', 'pqm', 'pqs', 'cseq'}

local function akey(id) return P .. 'a:' .. id end
local function tkey(id) return P .. 't:' .. id end

-- Per-script caches: id -> {old = snapshot or false, cur = table or false}; DIRTY_* keep the
-- order in which records were first changed (events and queue arrival follow it).
local AC, TC, DIRTY_A, DIRTY_T

local function aget(id)
    local e = AC[id]
    if not e then
        local a = hgetall(akey(id))
        if a then tonum(a, A_NUM) end
        e = {old = a and copy(a) or false, cur = a or false, dirty = false}
        AC[id] = e
    end
    return e.cur or nil
end
local function aput(a)
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
    aget(id)
    local e = AC[id]
    e.cur = false
    if not e.dirty then
        e.dirty = true
        DIRTY_A[#DIRTY_A + 1] = id
    end
end

local function tget(id)
    local e = TC[id]
    if not e then
        local t = hgetall(tkey(id))
        if t then
            tonum(t, T_NUM)
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
local DELTA, DELTA_ORDER
local function delta(hash, field, d)
    local k = hash .. '\0' .. field
    if DELTA[k] == nil then
        DELTA[k] = 0
        DELTA_ORDER[#DELTA_ORDER + 1] = {hash, field, k}
    end
    DELTA[k] = DELTA[k] + d
end

-- The availability rule of cp_agent_is_available().
local function agent_available(a)
    if a.hci == C_OPEN then return false end
    if a.st == A_READY then return true end
    return a.st == A_BUSY and a.inf < a.mc
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

local function task_account(t, d)
    local S = P .. 'stats'
    delta(S, 'tasks_total', d)
    delta(S, 'ts:' .. t.st, d)
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

---------------------------------------------------------------------------------------------
-- Writing records and their indexes.

-- The invariants every change keeps: ready with tasks in flight at the maximum is busy; an
-- agent without a probe is healthy unless offline.
local function agent_norm(a)
    if a.st == A_READY and a.inf >= a.mc then a.st = A_BUSY end
    if not a.probe then a.hs = (a.st == A_OFFLINE) and H_UNHEALTHY or H_HEALTHY end
end

-- P.."unwell": the ids of agents whose health is degraded or unhealthy (score 0, so a page is
-- a ZRANGEBYLEX): what GET /health lists for a large fleet, without reading every agent.
local function unwell(hs) return hs == H_DEGRADED or hs == H_UNHEALTHY end

local function agent_store(old, a)
    local id = (a or old).id
    if not a then
        agent_account(old, -1, true)
        call('DEL', akey(id), P .. 'af:' .. id)
        call('ZREM', P .. 'agents', id)
        if unwell(old.hs) then call('ZREM', P .. 'unwell', id) end
        call('ZREM', P .. (old.st == A_OFFLINE and 'off' or 'alive'), id)
        for _, c in ipairs(caps_dec(old.caps)) do call('SREM', P .. 'ac:' .. c, id) end
        return
    end
    agent_norm(a)
    -- Most changes (a heartbeat, a claim) leave every counted field as it was: no deltas.
    local names = not old or old.caps ~= a.caps or old.prov ~= a.prov
    if names or old.st ~= a.st or old.hs ~= a.hs or old.hci ~= a.hci or old.inf ~= a.inf or
        old.mc ~= a.mc then
        if old then agent_account(old, -1, names) end
        agent_account(a, 1, names)
    end
    hput(akey(id), a, old, A_OPT)
    if not old then call('ZADD', P .. 'agents', 0, id) end
    local was_unwell = old ~= nil and unwell(old.hs)
    if was_unwell ~= unwell(a.hs) then
        if was_unwell then call('ZREM', P .. 'unwell', id) else call('ZADD', P .. 'unwell', 0, id) end
    end
    -- Liveness indexes by last_heartbeat: P.."alive" (not offline), P.."off" (offline).
    local was_off, is_off = old and old.st == A_OFFLINE, a.st == A_OFFLINE
    if old and was_off ~= is_off then call('ZREM', P .. (was_off and 'off' or 'alive'), id) end
    if not old or was_off ~= is_off or old.hb ~= a.hb then
        call('ZADD', P .. (is_off and 'off' or 'alive'), a.hb, id)
    end
    if not old or old.caps ~= a.caps then
        local had = {}
        if old then
            for _, c in ipairs(caps_dec(old.caps)) do had[c] = true end
        end
        local has = {}
        for _, c in ipairs(caps_dec(a.caps)) do
            has[c] = true
            if not had[c] then call('SADD', P .. 'ac:' .. c, id) end
        end
        for c in pairs(had) do
            if not has[c] then call('SREM', P .. 'ac:' .. c, id) end
        end
    end
end

local function active(st) return st == T_CLAIMED or st == T_RUNNING end
local function terminal(st) return st >= T_COMPLETED end

local PUBS

local function seq_member(id)
    return string.format('%016.0f', call('INCR', P .. 'seq')) .. ':' .. id
end

-- Indexes of a task (members are "<16-digit arrival>:<id>" where order among equal scores
-- matters): P.."tasks", P.."ts:"..status, P.."tt:"..type by created_at (member cm);
-- P.."q:"..qk by priority band + pending_since (member qm) while pending; P.."inflight" by
-- claimed_at + timeout_ms while claimed/running (timeout_ms > 0); P.."af:"..agent by claim
-- order (score cseq) while claimed/running; P.."done" by completed_at while terminal.
local function task_store(old, t)
    local id = (t or old).id
    if old then task_account(old, -1) end
    if t then
        -- Leaving pending remembers the place (RELEASE puts the task back there).
        if t.st ~= T_PENDING and t.qm then
            t.pqm, t.pqs, t.qm, t.qs = t.qm, t.qs, nil, nil
        end
        if t.st == T_PENDING and not t.qm then
            local ps = t.ps
            if ps < 0 then ps = 0 elseif ps >= BAND then ps = BAND - 1 end
            t.qm = seq_member(id)
            t.qs = t.pr * BAND + ps
        end
        task_account(t, 1)
    end
    local oq, nq = old and old.qm, t and t.qm
    -- P.."capsets" (sha1 -> set) names exactly the non-empty queues: a claim visits only those.
    if oq and oq ~= nq then
        local q = P .. 'q:' .. old.qk
        call('ZREM', q, oq)
        if call('ZCARD', q) == 0 then call('HDEL', P .. 'capsets', old.qk) end
    end
    if nq and nq ~= oq then
        call('ZADD', P .. 'q:' .. t.qk, t.qs, nq)
        call('HSET', P .. 'capsets', t.qk, t.req)
        PUBS[#PUBS + 1] = 'pending ' .. id
    end
    local was_active, is_active = old and active(old.st), t and active(t.st)
    local moved = not was_active or not is_active or old.clat ~= t.clat or old.ag ~= t.ag or
                      old.to ~= t.to or old.cseq ~= t.cseq
    if was_active and moved then
        call('ZREM', P .. 'inflight', id)
        if old.ag then call('ZREM', P .. 'af:' .. old.ag, id) end
    end
    if is_active and moved then
        if t.to > 0 then call('ZADD', P .. 'inflight', t.clat + t.to, id) end
        if t.ag then call('ZADD', P .. 'af:' .. t.ag, t.cseq or 0, id) end
    end
    local was_done, is_done = old and terminal(old.st), t and terminal(t.st)
    if was_done and (not is_done or old.coat ~= t.coat) then call('ZREM', P .. 'done', id) end
    if is_done and (not was_done or old.coat ~= t.coat) then
        call('ZADD', P .. 'done', t.coat, id)
    end
    if is_done and not was_done then PUBS[#PUBS + 1] = 'done ' .. id end
    if not t then
        call('DEL', tkey(id))
        call('ZREM', P .. 'tasks', old.cm)
        call('ZREM', P .. 'ts:' .. old.st, old.cm)
        call('ZREM', P .. 'tt:' .. old.type, old.cm)
        return
    end
    if not old then
        t.cm = seq_member(id)
        call('ZADD', P .. 'tasks', t.cat, t.cm)
        call('ZADD', P .. 'tt:' .. t.type, t.cat, t.cm)
    end
    hput(tkey(id), t, old, T_OPT)
    if not old or old.st ~= t.st then
        if old then call('ZREM', P .. 'ts:' .. old.st, old.cm) end
        call('ZADD', P .. 'ts:' .. t.st, t.cat, t.cm)
    end
end

local function commit()
    for _, id in ipairs(DIRTY_A) do
        local e = AC[id]
        if e.old or e.cur then agent_store(e.old or nil, e.cur or nil) end
    end
    for _, id in ipairs(DIRTY_T) do
        local e = TC[id]
        if e.old or e.cur then task_store(e.old or nil, e.cur or nil) end
    end
    flush_deltas()
    for _, m in ipairs(PUBS) do call('PUBLISH', P .. 'events', m .. ' ' .. INST) end
end

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
    if a.st == A_BUSY and a.inf < a.mc then a.st = A_READY end
    if by and by == a.id then a.hb = now end
    aput(a)
    return a
end

-- Back to pending with the assignment cleared; a fresh place at the back of its band.
local function requeue(t, now)
    t.st = T_PENDING
    t.ag, t.clat, t.stat, t.cseq = nil, 0, 0, nil
    t.ps = now
    t.qm, t.qs = nil, nil
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

-- Capability sets travel encoded ("a\nb\n"); redis_reply.c splits them.
local function agent_reply(a)
    if not a then return false end
    return {a.id, a.caps, a.st, nz(a.model), nz(a.prov), a.md, nz(a.probe), i64(a.reg),
            i64(a.hb), i64(a.la), a.mc, a.inf, nz(a.cur), a.tc, a.tf, a.ls, a.lc, a.hs,
            i64(a.hlc), a.hcf, a.hcs, a.hlat, nz(a.herr), a.hci, a.hcif, a.hco, i64(a.hoa),
            i64(a.hra)}
end

local function task_reply(t)
    if not t then return false end
    return {t.id, t.type, t.pl, t.req, t.st, t.pr, i64(t.cat), i64(t.clat),
            i64(t.stat), i64(t.coat), i64(t.ps), nz(t.ag), i64(t.to), t.mr, t.re, t.att,
            nz(t.res), nz(t.err), t.md, nz(t.strat), nz(t.poa), t.poa and i64(t.pou) or 0}
end

-- A_FIELDS in agent_reply() order: HMGET of them is an agent reply as it is stored (numbers as
-- strings; redis_reply.c reads both). Read-only ops reply that way, without building a table.
local A_FIELDS = {'id', 'caps', 'st', 'model', 'prov', 'md', 'probe', 'reg', 'hb', 'la', 'mc', 'inf',
                  'cur', 'tc', 'tf', 'ls', 'lc', 'hs', 'hlc', 'hcf', 'hcs', 'hlat', 'herr', 'hci',
                  'hcif', 'hco', 'hoa', 'hra'}
local function agent_raw(id)
    local r = call('HMGET', akey(id), unpack(A_FIELDS))
    if not r[1] then return nil end
    return r
end

-- T_READ: the fields of task_reply() in its order, then cm and qs. HMGET of them is a task
-- reply as stored once raw_task() has cut it to size (the hot ops read and reply this way).
local T_READ = {'id', 'type', 'pl', 'req', 'st', 'pr', 'cat', 'clat', 'stat', 'coat', 'ps', 'ag',
                'to', 'mr', 're', 'att', 'res', 'err', 'md', 'strat', 'poa', 'pou', 'cm', 'qs'}
local TR_ST, TR_CAT, TR_CLAT, TR_STAT, TR_COAT, TR_AG, TR_TO, TR_ATT, TR_RES, TR_CM, TR_QS =
    5, 7, 8, 9, 10, 12, 13, 16, 17, 23, 24
local function task_read(id)
    local r = call('HMGET', tkey(id), unpack(T_READ))
    if not r[1] then return nil end
    return r
end
-- The task_reply() part of a task_read() array (changed in place).
local function raw_task(r)
    r[24], r[23] = nil, nil
    if not r[21] then r[22] = 0 end -- pass-over time only with its agent, as task_reply()
    return r
end
-- Numbers given to redis.call() are formatted with printf("%.17g") by Redis, a cost the hot ops
-- avoid: they pass strings (ARGV as given, these constants, istr() of integers — the same text
-- "%.17g" gives for integers below 2^53).
local ST_S = {[0] = '0', '1', '2', '3', '4', '5', '6'}
local function istr(n) return string.format('%d', n) end
-- Agent fields by position in A_FIELDS (agent_raw()).
local AR_CAPS, AR_ST, AR_HB, AR_LA, AR_MC, AR_INF, AR_CUR, AR_TC, AR_LS, AR_LC, AR_HCI, AR_HRA =
    2, 3, 9, 10, 11, 12, 13, 14, 16, 17, 24, 28
local AR_PROBE, AR_HS = 7, 18

-- The counters of an agent whose status or tasks in flight changed and nothing else counted
-- (health, circuit, maximum, names): what agent_account(old, -1) + agent_account(new, 1) net.
local function agent_recount(hci, mc, st0, inf0, st1, inf1)
    local S = P .. 'stats'
    local function avail(st, inf)
        return hci ~= C_OPEN and (st == A_READY or (st == A_BUSY and inf < mc))
    end
    local v0, v1 = avail(st0, inf0), avail(st1, inf1)
    if v0 ~= v1 then call('HINCRBY', S, 'agents_available', v1 and '1' or '-1') end
    if st0 ~= st1 then
        call('HINCRBY', S, 'as:' .. ST_S[st0], '-1')
        call('HINCRBY', S, 'as:' .. ST_S[st1], '1')
    end
end

-- A task's status index and counter, from status st0 to st1 (created_at cat, member cm).
local function task_restatus(cm, cat, st0, st1)
    call('ZREM', P .. 'ts:' .. ST_S[st0], cm)
    call('ZADD', P .. 'ts:' .. ST_S[st1], cat, cm)
    call('HINCRBY', P .. 'stats', 'ts:' .. ST_S[st0], '-1')
    call('HINCRBY', P .. 'stats', 'ts:' .. ST_S[st1], '1')
end

---------------------------------------------------------------------------------------------
-- The change feed (docs/redis.md, "The event feed"). While the key P.."feed" exists (a cpd
-- process streams events to a client; the key is also the counter that numbers the changes),
-- a script that changes something publishes its changes on the channel P.."feed" as one
-- message: the number of the first change, then one line per change
--   "<kind> <at> <agent> <task> <type> <old> <new> <old circuit> <new circuit> <attempt> <pr>"
-- ("~" for no id; ids cannot contain spaces or "~": the host validates them). Kinds are enum
-- cp_change_kind. Without the key a changing call costs one EXISTS; a reading call nothing.
-- One table (F) so that the functions of the library stay under Lua's 60 upvalues.
local F = {REGISTERED = 1, UNREGISTERED = 2, STATUS = 3, REMOVED = 4, HEALTH = 5, SUBMITTED = 6,
           CLAIMED = 7, STARTED = 8, COMPLETED = 9, FAILED = 10, REQUEUED = 11, RELEASED = 12,
           TIMEOUT = 13, CANCELLED = 14}
-- F.buf: this call's changes (nil = not looked yet, false = nobody streams); reset by begin().

function F.num(v)
    if v == nil or v == false then return '-1' end
    return string.format('%d', v)
end
function F.change(kind, at, aid, tid, ttype, old, new, oc, nc, att, pr)
    if F.buf == nil then F.buf = call('EXISTS', P .. 'feed') == 1 and {} or false end
    if not F.buf then return end
    local num = F.num
    F.buf[#F.buf + 1] = table.concat({kind, num(at), aid or '~', tid or '~', ttype or '~',
                                      num(old), num(new), num(oc), num(nc), num(att or 0),
                                      num(pr)}, ' ')
end
-- A task change (t a record table after the change; aid: the agent concerned).
function F.task(kind, at, t, old, aid)
    F.change(kind, at, aid, t.id, t.type, old, t.st, nil, nil, t.att)
end
-- An agent's status change, when there is one.
function F.status(at, aid, old, new)
    if old ~= new then F.change(F.STATUS, at, aid, nil, nil, old, new) end
end
function F.flush()
    local buf = F.buf
    if not buf or #buf == 0 then return end
    local last = call('INCRBY', P .. 'feed', #buf)
    call('PUBLISH', P .. 'feed', F.num(last - #buf + 1) .. '\n' .. table.concat(buf, '\n'))
    F.buf = {}
end

-- r.abefore / r.tbefore: the statuses of the agent and the task before the call (cp_result
-- .before), or nil. Publishes the call's changes.
local function reply(rc, msg, r)
    r = r or {}
    F.flush()
    return {rc, nz(msg), r.created or 0, r.agent_raw or agent_reply(r.agent),
            r.task_raw or task_reply(r.task), r.agents or {},
            r.tasks or {}, r.total or 0, r.stats or false, r.events or {}, nz(r.abefore),
            nz(r.tbefore)}
end

-- CP_EVENT_* kinds
local E_REQUEUED, E_TIMEOUT, E_OFFLINE, E_REMOVED, E_DELETED = 1, 2, 3, 4, 5
-- before: the status of the task (task events) or the agent (agent events) before.
local function event(kind, agent_id, t, status, before)
    if not t then return {kind, agent_id, false, false, -1, {}, false, nz(before), 0} end
    return {kind, nz(agent_id), t.id, t.type, status or t.st, t.req, nz(t.strat), nz(before),
            t.att}
end

---------------------------------------------------------------------------------------------
-- The start of every op: this call's tag, instance, arguments, and empty per-call state.
local function begin(keys, argv)
    call = redis.call
    P, INST, ARGS = keys[1], argv[1], argv
    AC, TC, DIRTY_A, DIRTY_T = {}, {}, {}, {}
    DELTA, DELTA_ORDER = {}, {}
    PUBS = {}
    F.buf = nil
end
