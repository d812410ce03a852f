-- task_submit.lua — store a new task: pending, pending_since = created_at, nothing assigned
-- (the members of the input that describe a later state are not taken).
-- ARGV: inst id type payload pr cat to mr re att md? strat? caps...
-- The hot path of every task, so it writes straight what task_store() writes for a new pending
-- task (record, queue, capsets, created_at indexes, counters, wake-up), without its tables.
-- One arrival number serves as both members (queue and created_at indexes): each index only
-- needs arrival order among its own members.
local id = ARGV[2]
local tk = tkey(id)
-- Creates the record with its id, or finds it taken (then nothing was written).
if call('HSETNX', tk, 'id', id) == 0 then
    return reply(CONFLICT, 'a task with this id exists', {task_raw = raw_task(task_read(id))})
end
local ttype, pl, pr, cat = ARGV[3], ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6])
local to, mr, re, att = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9]),
                        tonumber(ARGV[10])
local md, strat = opt(ARGV[11]) or '{}', opt(ARGV[12])
local req = caps_enc(argv_list(13))
local qk = redis.sha1hex(req)
local ps = cat
if ps < 0 then ps = 0 elseif ps >= BAND then ps = BAND - 1 end
local m = seq_member(id)
local qs = istr(pr * BAND + ps)
local cat_s = ARGV[6]
-- Numbers go as the strings given (see istr() in common.lua).
call('HSET', tk, 'type', ttype, 'pl', pl, 'req', req, 'st', '0', 'pr', ARGV[5],
     'cat', cat_s, 'clat', '0', 'stat', '0', 'coat', '0', 'ps', cat_s, 'to', ARGV[7], 'mr',
     ARGV[8], 're', ARGV[9], 'att', ARGV[10], 'md', md, 'pou', '0', 'qk', qk, 'qm', m, 'qs', qs,
     'cm', m)
if strat then call('HSET', tk, 'strat', strat) end
call('ZADD', P .. 'q:' .. qk, qs, m)
call('HSET', P .. 'capsets', qk, req)
call('ZADD', P .. 'tasks', cat_s, m)
call('ZADD', P .. 'tt:' .. ttype, cat_s, m)
call('ZADD', P .. 'ts:0', cat_s, m)
local S = P .. 'stats'
call('HINCRBY', S, 'tasks_total', '1')
call('HINCRBY', S, 'ts:0', '1')
call('HINCRBY', S, 'tp:' .. ARGV[5], '1')
call('HINCRBY', P .. 'sc:type', ttype, '1')
call('PUBLISH', P .. 'events', 'pending ' .. id .. ' ' .. INST)
F.change(F.SUBMITTED, cat, nil, id, ttype, nil, T_PENDING, nil, nil, att, pr)
return reply(OK, nil, {task_raw = {id, ttype, pl, req, T_PENDING, pr, i64(cat), 0, 0, 0, i64(cat),
                                   false, i64(to), mr, re, att, false, false, md, nz(strat),
                                   false, 0}})
