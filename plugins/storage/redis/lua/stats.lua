-- stats.lua — the counters kept by every script, and the tasks by status as the cardinalities
-- of their status indexes (never a scan). ARGV: inst
local fields = {'agents_total', 'agents_available'}
for i = 0, 5 do fields[#fields + 1] = 'as:' .. i end
for i = 0, 4 do fields[#fields + 1] = 'ah:' .. i end
fields[#fields + 1] = 'circuits_open'
fields[#fields + 1] = 'tasks_total' -- ZCARD of P.."tasks", below
local TS = #fields + 1 -- then ts:0 .. ts:6: ZCARD of P.."ts:"..status
for i = 0, 6 do fields[#fields + 1] = 'ts:' .. i end
for i = 0, 3 do fields[#fields + 1] = 'tp:' .. i end
local v = call('HMGET', P .. 'stats', unpack(fields))
local scalars = {}
for i = 1, #fields do scalars[i] = tonumber(v[i]) or 0 end
scalars[TS - 1] = call('ZCARD', P .. 'tasks')
for i = 0, 6 do scalars[TS + i] = call('ZCARD', P .. 'ts:' .. i) end
local stats = {scalars, call('HGETALL', P .. 'sc:cap'), call('HGETALL', P .. 'sc:prov'),
               call('HGETALL', P .. 'sc:type')}
return reply(OK, nil, {stats = stats})
