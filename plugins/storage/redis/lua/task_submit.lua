-- task_submit.lua — store a new task: pending (or waiting for its not_before), pending_since =
-- created_at, nothing assigned; or, when its idempotency key is taken, answer that task and
-- change nothing (created 0). ARGV: inst, then one item as submit_one() in common.lua reads it.
local t, created = submit_one(2)
if not t then
    return reply(CONFLICT, 'a task with this id exists',
                 {task_raw = call('GET', tkey(ARGV[2])) or false})
end
-- next_due: the end of its affinity hold (affinity.lua), 0 when not held
return reply(OK, nil, {task_raw = t, created = created, next_due = created == 1 and AF.last or 0})
