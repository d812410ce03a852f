-- check_layout.lua — test_redis_layout.c runs this with EVAL 1 "{<prefix>}": every task and
-- agent against every index and counter that docs/redis.md ("Key layout") promises. Returns
-- {number of tasks, problem...}: no problem listed = consistent.
local P = KEYS[1]
local errs = {}
local function e(m) if #errs < 20 then errs[#errs + 1] = m end end
local function num(v) return tonumber(v) or 0 end
local S = {}
local st_raw = redis.call('HGETALL', P .. 'stats')
for i = 1, #st_raw, 2 do S[st_raw[i]] = tonumber(st_raw[i + 1]) end
local by_st, by_pr, by_type, n = {}, {}, {}, 0
local inflight_n, done_n, delayed_n, keyed = 0, 0, 0, 0
local function bump(t, k) t[k] = (t[k] or 0) + 1 end
-- The packed rare members (x_enc() in common.lua): {not_before, progress, hist, key, backoff}.
local function x_fields(x)
    local v, pos = {}, 1
    for i = 1, 5 do
        local c = x and string.find(x, ':', pos, true)
        if not c then
            if x then e('bad x ' .. x) end
            return {}
        end
        local n = tonumber(string.sub(x, pos, c - 1))
        v[i] = string.sub(x, c + 1, c + n)
        if v[i] == '' then v[i] = nil end
        pos = c + 1 + n
    end
    return v
end
-- A record as stored (layout 4: one string value, "<n>\0<field>\0..." in the order of A_REC /
-- T_REC in common.lua, an absent field the byte 0x01) as an HMGET of its fields would have
-- given it (false: absent).
local A_REC = {'id', 'caps', 'st', 'model', 'prov', 'md', 'probe', 'reg', 'hb', 'la', 'mc', 'inf',
               'cur', 'tc', 'tf', 'ls', 'lc', 'hs', 'hlc', 'hcf', 'hcs', 'hlat', 'herr', 'hci',
               'hcif', 'hco', 'hoa', 'hra', 'dra', 'rep', 'qsc', 'wr'}
local T_REC = {'id', 'type', 'pl', 'req', 'st', 'pr', 'cat', 'clat', 'stat', 'coat', 'ps', 'ag',
               'to', 'mr', 're', 'att', 'res', 'err', 'md', 'strat', 'poa', 'pou', 'dl', 'x',
               'cm', 'qs', 'qk', 'qm', 'pqm', 'pqs', 'cseq', 'dw', 'ctk', 'tnb'}
local function hm(key, names, ...)
    local text = redis.call('GET', key)
    local t = {}
    if text then
        local vals = {}
        for v in string.gmatch(text, '([^%z]*)%z') do vals[#vals + 1] = v end
        if tonumber(vals[1]) ~= #names or #vals ~= #names + 1 then
            e('record ' .. key .. ' has ' .. (#vals - 1) .. ' fields')
        end
        for i, f in ipairs(names) do
            if vals[i + 1] and vals[i + 1] ~= '\1' then t[f] = vals[i + 1] end
        end
    end
    local r = {}
    for i, f in ipairs({...}) do
        if t[f] == nil then r[i] = false else r[i] = t[f] end
    end
    return r
end
local af = {} -- agent -> active tasks assigned
for _, cm in ipairs(redis.call('ZRANGE', P .. 'tasks', 0, -1)) do
    n = n + 1
    local id = string.sub(cm, 18)
    local h = hm(P .. 't:' .. id, T_REC, 'st', 'cm', 'type', 'qm', 'qs', 'qk', 'ag',
                         'to', 'coat', 'clat', 'cseq', 'req', 'pr', 'id', 'pqm', 'dl', 'dw', 'x')
    local x = x_fields(h[18])
    h[18], h[19] = x[1], x[4] -- not_before, key
    local st = tonumber(h[1])
    if not st then
        e('task without record ' .. id)
    else
        if h[14] ~= id then e('id field ' .. id) end
        if h[2] ~= cm then e('cm ' .. id) end
        bump(by_st, st)
        bump(by_pr, num(h[13]))
        bump(by_type, h[3])
        if not redis.call('ZSCORE', P .. 'ts:' .. st, cm) then e('not in ts: ' .. id) end
        if not redis.call('ZSCORE', P .. 'tt:' .. h[3], cm) then e('not in tt: ' .. id) end
        if h[6] ~= redis.sha1hex(h[12]) then e('qk ' .. id) end
        local dsc = redis.call('ZSCORE', P .. 'delayed', id)
        if st == 0 and h[17] then
            delayed_n = delayed_n + 1
            if h[4] or h[5] then e('queue place while waiting ' .. id) end
            if not dsc or tonumber(dsc) ~= num(h[18]) then e('delayed ' .. id) end
        elseif dsc then
            e('delayed while not waiting ' .. id)
        end
        if h[19] then
            keyed = keyed + 1
            if redis.call('HGET', P .. 'idem', h[19]) ~= id then e('idem ' .. id) end
        end
        if st == 0 and not h[17] then
            local sc = h[4] and redis.call('ZSCORE', P .. 'q:' .. h[6], h[4])
            if not sc or tonumber(sc) ~= tonumber(h[5]) then e('queue place ' .. id) end
            if redis.call('HGET', P .. 'capsets', h[6]) ~= h[12] then e('capsets ' .. id) end
        elseif st == 0 then
            -- waiting: checked above
        else
            if h[4] or h[5] then e('queue place while not pending ' .. id) end
            if st == 1 and not h[15] then e('claimed without its last place ' .. id) end
        end
        local act = st == 1 or st == 2
        local inf = redis.call('ZSCORE', P .. 'inflight', id)
        if act and num(h[16]) > 0 then
            inflight_n = inflight_n + 1
            if not inf or tonumber(inf) ~= num(h[16]) then e('inflight ' .. id) end
        elseif inf then
            e('inflight while not ' .. id)
        end
        if act then
            if not h[7] then
                e('active without agent ' .. id)
            else
                bump(af, h[7])
                local s = redis.call('ZSCORE', P .. 'af:' .. h[7], id)
                if not s or tonumber(s) ~= num(h[11]) then e('af ' .. id) end
            end
        elseif st == 0 and h[7] then
            e('pending with an agent ' .. id)
        end
        local d = redis.call('ZSCORE', P .. 'done', id)
        if st >= 3 then
            done_n = done_n + 1
            if not d or tonumber(d) ~= num(h[9]) then e('done ' .. id) end
        elseif d then
            e('done while not ' .. id)
        end
    end
end
-- Layout 3: tasks by status are the cardinalities of the indexes, no counters (stats.lua).
if redis.call('ZCARD', P .. 'tasks') ~= n then e('ZCARD tasks vs ' .. n) end
if S.tasks_total then e('a tasks_total counter (layout 3 has none)') end
for st = 0, 6 do
    local c = by_st[st] or 0
    if S['ts:' .. st] then e('a ts:' .. st .. ' counter (layout 3 has none)') end
    if redis.call('ZCARD', P .. 'ts:' .. st) ~= c then e('ZCARD ts:' .. st) end
end
for pr = 0, 3 do
    if num(S['tp:' .. pr]) ~= (by_pr[pr] or 0) then e('tp:' .. pr) end
end
local types = redis.call('HGETALL', P .. 'sc:type')
local seen = 0
for i = 1, #types, 2 do
    seen = seen + 1
    if tonumber(types[i + 1]) ~= by_type[types[i]] then e('sc:type ' .. types[i]) end
end
for _ in pairs(by_type) do seen = seen - 1 end
if seen ~= 0 then e('sc:type names') end
if redis.call('ZCARD', P .. 'inflight') ~= inflight_n then e('inflight count') end
if redis.call('ZCARD', P .. 'done') ~= done_n then e('done count') end
if redis.call('ZCARD', P .. 'delayed') ~= delayed_n then e('delayed count') end
if redis.call('HLEN', P .. 'idem') ~= keyed then e('idem count') end
local caps = redis.call('HGETALL', P .. 'capsets')
for i = 1, #caps, 2 do
    if redis.call('ZCARD', P .. 'q:' .. caps[i]) == 0 then e('capsets names an empty queue') end
end
local avail, by_ast, by_hs, open = 0, {}, {}, 0
local ids = redis.call('ZRANGE', P .. 'agents', 0, -1)
for _, aid in ipairs(ids) do
    local a = hm(P .. 'a:' .. aid, A_REC, 'st', 'inf', 'mc', 'hci', 'hb', 'hs', 'probe',
                         'caps', 'id', 'dra')
    local st, inf, mc, hci = num(a[1]), num(a[2]), num(a[3]), num(a[4])
    if a[9] ~= aid then e('agent record ' .. aid) end
    bump(by_ast, st)
    bump(by_hs, num(a[6]))
    if hci == 1 then open = open + 1 end
    if hci ~= 1 and st == 1 and inf < mc then avail = avail + 1 end
    if num(a[10]) ~= 0 and st ~= 3 and st ~= 4 and st ~= 5 then
        e('drained but ' .. st .. ' ' .. aid)
    end
    if inf ~= (af[aid] or 0) then e('in flight ' .. aid .. ': ' .. inf .. ' vs ' .. (af[aid] or 0)) end
    af[aid] = nil
    if redis.call('ZCARD', P .. 'af:' .. aid) ~= inf then e('af: size ' .. aid) end
    if st == 1 and inf >= mc then e('ready at its maximum ' .. aid) end
    if not a[7] and num(a[6]) ~= (st == 4 and 2 or 0) then e('health without probe ' .. aid) end
    local live, other = 'alive', 'off'
    if st == 4 then live, other = 'off', 'alive' end
    local hb = redis.call('ZSCORE', P .. live, aid)
    if not hb or tonumber(hb) ~= num(a[5]) then e('liveness ' .. aid) end
    if redis.call('ZSCORE', P .. other, aid) then e('in both liveness sets ' .. aid) end
    local hs = num(a[6])
    local unwell = redis.call('ZSCORE', P .. 'unwell', aid) ~= false
    if unwell ~= (hs == 1 or hs == 2) then e('unwell ' .. aid) end
    for c in string.gmatch(a[8] or '', '([^\n]*)\n') do
        if redis.call('SISMEMBER', P .. 'ac:' .. c, aid) ~= 1 then e('ac:' .. c .. ' ' .. aid) end
    end
end
for aid in pairs(af) do e('tasks held by an unknown agent ' .. aid) end
if num(S.agents_total) ~= #ids then e('agents_total') end
if num(S.agents_available) ~= avail then
    e('agents_available ' .. num(S.agents_available) .. ' vs ' .. avail)
end
if num(S.circuits_open) ~= open then e('circuits_open') end
for st = 1, 5 do
    if num(S['as:' .. st]) ~= (by_ast[st] or 0) then e('as:' .. st) end
end
for hs = 0, 3 do
    if num(S['ah:' .. hs]) ~= (by_hs[hs] or 0) then e('ah:' .. hs) end
end
if redis.call('ZCARD', P .. 'unwell') ~= (by_hs[1] or 0) + (by_hs[2] or 0) then
    e('unwell size')
end
if redis.call('ZCARD', P .. 'alive') + redis.call('ZCARD', P .. 'off') ~= #ids then
    e('liveness set sizes')
end
return {n, unpack(errs)}
