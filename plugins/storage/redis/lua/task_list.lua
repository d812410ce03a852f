-- task_list.lua — tasks newest created first, at most `limit`; total = every match. The
-- created_at indexes (all, per status, per type; members "<arrival>:<id>", so equal created_at
-- keeps arrival order) answer one filter without a scan; with both filters the smaller index is
-- walked and the other tested by ZSCORE. ARGV: inst status type? limit
local status = tonumber(ARGV[2])
local ttype = opt(ARGV[3])
local limit = tonumber(ARGV[4])
local members, total = {}, 0
if status >= 0 and ttype then
    local k1, k2 = P .. 'ts:' .. status, P .. 'tt:' .. ttype
    if call('ZCARD', k1) > call('ZCARD', k2) then k1, k2 = k2, k1 end
    local off = 0
    while true do
        local chunk = call('ZREVRANGE', k1, off, off + 255)
        if #chunk == 0 then break end
        for _, m in ipairs(chunk) do
            if call('ZSCORE', k2, m) then
                total = total + 1
                if #members < limit then members[#members + 1] = m end
            end
        end
        off = off + 256
    end
else
    local key = P .. 'tasks'
    if status >= 0 then
        key = P .. 'ts:' .. status
    elseif ttype then
        key = P .. 'tt:' .. ttype
    end
    total = call('ZCARD', key)
    if limit > 0 then members = call('ZREVRANGE', key, 0, limit - 1) end
end
local out = {}
-- Each task replied as stored (its text: one value; the C side decodes it).
for _, m in ipairs(members) do
    local text = call('GET', tkey(string.sub(m, 18)))
    if text then out[#out + 1] = text end
end
return reply(OK, nil, {tasks = out, total = total})
