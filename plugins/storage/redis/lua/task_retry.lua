-- task_retry.lua — retry by hand: a failed, timed-out or cancelled task back to pending as a new
-- arrival, retries 0, its result, error, assignment and waiting cleared, its attempts kept.
-- ARGV: inst now id
local NAMES = {[0] = 'pending', 'claimed', 'running', 'completed', 'failed', 'cancelled',
               'timeout'}
local now = tonumber(ARGV[2])
local t = tget(ARGV[3])
if not t then return reply(NOT_FOUND, 'task not found') end
if t.st ~= T_FAILED and t.st ~= T_TIMEOUT and t.st ~= T_CANCELLED then
    return reply(CONFLICT, 'task is ' .. (NAMES[t.st] or 'unknown'), {task = t})
end
local was = t.st
t.res, t.err, t.coat, t.re = nil, nil, 0, 0
t.poa, t.pou = nil, 0
requeue(t, now)
tput(t)
commit()
F.task(F.RETRIED, now, t, was, nil)
return reply(OK, nil, {task = t, tbefore = was})
