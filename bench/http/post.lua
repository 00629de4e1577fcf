-- wrk script: POST /api/v1/declarations with a unique id per request.
-- Usage: RISKGATE_TOKEN=rgt_… BODY=declaration.json RUN=r1 \
--   wrk -t2 -c16 -d30s -s bench/http/post.lua http://127.0.0.1:8080
-- BODY holds one DATA.md declaration whose "id" value is replaced; RUN
-- keeps ids unique across runs against the same store.

local body = io.open(os.getenv("BODY")):read("*a"):gsub("\n", "")
local token = os.getenv("RISKGATE_TOKEN")
local run = os.getenv("RUN") or "wrk"
local threads = {}
local counter = 0
local tid = 0

function setup(thread)
  tid = tid + 1
  thread:set("tid", tid)
  table.insert(threads, thread)
end

function init(args)
  counter = 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. token
end

function request()
  counter = counter + 1
  local id = string.format("%s-%d-%09d", run, tid, counter)
  local b = body:gsub('"id"%s*:%s*"[^"]*"', '"id":"' .. id .. '"', 1)
  return wrk.format(nil, "/api/v1/declarations", nil, b)
end

function response(status, headers, body)
  if status ~= 200 then
    errors = (errors or 0) + 1
  end
end

function done(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads) do
    bad = bad + (t:get("errors") or 0)
  end
  io.write(string.format("non-200 responses: %d\n", bad))
  for _, p in ipairs({50, 90, 99, 99.9}) do
    io.write(string.format("latency p%g: %.2f ms\n", p, latency:percentile(p) / 1000))
  end
end
