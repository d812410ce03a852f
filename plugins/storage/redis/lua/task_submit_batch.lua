-- task_submit_batch.lua — task_submit for each item, in order, in one script. The whole batch is
-- checked first (no id twice, no id taken unless the item's idempotency key finds its task), so
-- a refused batch writes nothing. ARGV: inst n item... (items as submit_one() reads them).
local n = tonumber(ARGV[2])
local o, ids, keys = 3, {}, {}
for _ = 1, n do
    local id, ik = ARGV[o], opt(ARGV[o + 12])
    if ids[id] then return reply(INVALID, 'a task id appears twice in the batch') end
    ids[id] = true
    local found = ik and (keys[ik] or keyed_task(ik))
    if not found then
        if call('EXISTS', tkey(id)) == 1 then
            return reply(CONFLICT, 'a task with this id exists',
                         {task_raw = call('GET', tkey(id)) or false})
        end
        if ik then keys[ik] = true end
    end
    o = item_end(o)
end
local tasks = {}
o = 3
for i = 1, n do
    tasks[i] = submit_one(o)
    o = item_end(o)
end
return reply(OK, nil, {tasks = tasks})
