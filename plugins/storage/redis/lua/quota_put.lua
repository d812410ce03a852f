-- quota_put.lua — define a provider quota (quota.lua); the same id again replaces the
-- definition and keeps its live counts. ARGV: inst id provider model? key_id? rpm tpm
-- max_in_flight (id and provider checked by redis_quota.c).
local id = ARGV[2]
local k = P .. 'qt:' .. id
local created = call('EXISTS', k) == 0 and 1 or 0
call('HSET', k, 'prov', ARGV[3], 'rpm', ARGV[6], 'tpm', ARGV[7], 'mif', ARGV[8])
local gone = {}
for i, f in ipairs({'model', 'key'}) do
    local v = opt(ARGV[3 + i])
    if v then call('HSET', k, f, v) else gone[#gone + 1] = f end
end
if #gone > 0 then call('HDEL', k, unpack(gone)) end
call('SADD', P .. 'quotas', id)
local q = QT.load(id)
-- a cut at or above the new max_in_flight has nothing left to grow back to
if q.lim > 0 and q.mif > 0 and q.lim >= q.mif then q.lim = 0 end
QT.save(q)
call('PUBLISH', P .. 'events', 'quota ' .. id .. ' ' .. INST) -- a larger limit: room
return reply(OK, nil, {created = created, quotas = {QT.entry(q)}})
