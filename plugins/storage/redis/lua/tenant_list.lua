-- tenant_list.lua — every tenant with a record or pending tasks, by id, with its claimable
-- pending tasks counted over the non-empty queues (P.."capsets"). ARGV: inst
local waiting, ids = {}, {}
local sets = call('HGETALL', P .. 'capsets')
for i = 1, #sets, 2 do
    local id = TN.of_set(sets[i + 1]) or TN.DEFAULT
    if not waiting[id] then ids[#ids + 1] = id end
    waiting[id] = (waiting[id] or 0) + call('ZCARD', P .. 'q:' .. sets[i])
end
for _, id in ipairs(call('SMEMBERS', P .. 'tenants')) do
    if not waiting[id] then
        waiting[id] = 0
        ids[#ids + 1] = id
    end
end
table.sort(ids)
local out = {}
for i, id in ipairs(ids) do out[i] = TN.entry(id, waiting[id]) end
return reply(OK, nil, {tenants = out})
