-- wrk script for the benchmarks: POSTs one GraphQL body, rotating bearer tokens.
--
-- Environment: BENCH_BODY_FILE  the JSON request body
--              BENCH_TOKENS_FILE one access token a line
-- Counts answers that are not 200 or carry "errors", and prints one line
-- `BENCH_RESULT {json}` at the end (latencies in microseconds).

local function read_file(path)
  local file = assert(io.open(path, "rb"), "cannot open " .. tostring(path))
  local text = file:read("*a")
  file:close()
  return text
end

local body = read_file(os.getenv("BENCH_BODY_FILE"))
local tokens = {}
for line in read_file(os.getenv("BENCH_TOKENS_FILE")):gmatch("[^\r\n]+") do
  tokens[#tokens + 1] = line
end

local threads = {}
local thread_count = 0
local next_token = 1
bad_answers = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("thread_index", thread_count)
  threads[#threads + 1] = thread
end

function init(args)
  -- Threads start at different members so they do not ask for the same rows in step.
  next_token = ((thread_index or 1) * 17) % #tokens + 1
end

function request()
  local token = tokens[next_token]
  next_token = next_token % #tokens + 1
  return wrk.format("POST", nil, {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token,
  }, body)
end

function response(status, headers, answer)
  if status ~= 200 or answer:find('"errors"', 1, true) then
    bad_answers = bad_answers + 1
  end
end

function done(summary, latency, requests)
  local bad = 0
  for _, thread in ipairs(threads) do
    bad = bad + (thread:get("bad_answers") or 0)
  end
  local errors = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"non_2xx":%d,"socket_errors":%d,' ..
    '"bad_answers":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, errors.status,
    errors.connect + errors.read + errors.write + errors.timeout, bad,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
