-- agent_list.lua — agents matching a filter, sorted by agent_id (the ZSET P.."agents" holds
-- every id with score 0, so it is in byte order). ARGV: inst status caps...
local status = tonumber(ARGV[2])
local caps = argv_list(3)
local only
if #caps > 0 then
    local keys = {}
    for i, c in ipairs(caps) do keys[i] = P .. 'ac:' .. c end
    only = {}
    for _, id in ipairs(call('SINTER', unpack(keys))) do only[id] = true end
end
local out = {}
for _, id in ipairs(call('ZRANGE', P .. 'agents', 0, -1)) do
    if not only or only[id] then
        local a = aget(id)
        if a and (status < 0 or a.st == status) then out[#out + 1] = agent_reply(a) end
    end
end
return reply(OK, nil, {agents = out, total = #out})
