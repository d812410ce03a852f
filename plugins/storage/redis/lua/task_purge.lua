-- task_purge.lua — delete terminal tasks (status in the mask, of the type if given) that ended
-- at or before a time, oldest first, at most `limit`, looking at no more than 10 x limit of the
-- done index per call. ARGV: inst now ended_before status_mask type? limit
local before = tonumber(ARGV[3])
local mask = tonumber(ARGV[4])
local ttype = opt(ARGV[5])
local limit = tonumber(ARGV[6])
if limit <= 0 then limit = 1000 end
if mask == 0 then mask = 120 end -- every terminal status: completed failed cancelled timeout
local ids = call('ZRANGEBYSCORE', P .. 'done', '-inf', before, 'LIMIT', 0, limit * 10)
local events, deleted, stopped = {}, 0, false
for i, id in ipairs(ids) do
    if deleted >= limit then
        stopped = true
        break
    end
    local t = tget(id)
    if t and terminal(t.st) and math.floor(mask / 2 ^ t.st) % 2 == 1 and
        (not ttype or t.type == ttype) then
        events[#events + 1] = event(E_DELETED, t.ag, t)
        tdel(id)
        deleted = deleted + 1
    end
end
commit()
local more = 0
if (stopped or #ids >= limit * 10) and call('ZCOUNT', P .. 'done', '-inf', before) > 0 then
    more = 1
end
return reply(OK, nil, {events = events, more = more})
