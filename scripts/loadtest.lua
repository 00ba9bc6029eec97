-- wrk script: each request files a deletion request for a random subject with a unique Idempotency-Key.
local counter = 0
local thread_id = 0

function setup(thread)
  thread_id = thread_id + 1
  thread:set("tid", thread_id)
end

function init(args)
  subjects = tonumber(args[1]) or 100
  key = args[2]
end

function request()
  counter = counter + 1
  local subject = math.random(0, subjects - 1)
  local body = string.format('{"subjectIds":["subject-%d"],"method":"ssd","externalReference":"load-%d-%d"}', subject, tid, counter)
  local headers = {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. key,
    ["Idempotency-Key"] = string.format("load-%d-%d-%d", tid, counter, math.random(1, 1000000000)),
  }
  return wrk.format("POST", "/v1/deletion-requests", headers, body)
end

function done(summary, latency, requests)
  io.write(string.format("RESULT submissions_per_second=%.1f p50_ms=%.1f p99_ms=%.1f requests=%d non_2xx=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.requests, summary.errors.status))
end
