-- quota_list.lua — every provider quota with its live state as of now, by id (quota.lua).
-- Writes only what time changed: buckets leaving the window, a pause that ended (told on the
-- change feed). ARGV: inst now
local now = tonumber(ARGV[2])
local ids = call('SMEMBERS', P .. 'quotas')
table.sort(ids)
local out = {}
for _, id in ipairs(ids) do
    local q = QT.load(id)
    if q then
        QT.advance(q, now)
        out[#out + 1] = QT.entry(q)
    end
end
return reply(OK, nil, {quotas = out, total = #out})
