-- agent_list.lua — agents matching a filter. Candidates come from the smallest index that can
-- hold every match: P.."agents" (every id) without a capability filter, else the set
-- P.."ac:"..cap of the one capability, or SINTER of the sets (Redis starts from the smallest).
-- Only the candidates' hashes are read, each with one HMGET replied as stored. A set's order
-- is arbitrary: redis_reply.c sorts the list by agent_id (byte order) unless it arrives sorted.
-- ARGV: inst status caps...
local status = tonumber(ARGV[2])
local caps = argv_list(3)
local ids
if #caps == 0 then
    ids = call('ZRANGE', P .. 'agents', 0, -1)
elseif #caps == 1 then
    ids = call('SMEMBERS', P .. 'ac:' .. caps[1])
else
    local keys = {}
    for i, c in ipairs(caps) do keys[i] = P .. 'ac:' .. c end
    ids = call('SINTER', unpack(keys))
end
local out = {}
for _, id in ipairs(ids) do
    local r = agent_raw(id)
    if r and (status < 0 or tonumber(r[3]) == status) then out[#out + 1] = r end
end
return reply(OK, nil, {agents = out, total = #out})
