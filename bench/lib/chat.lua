-- wrk script of the benchmark: POST an OpenAI-style chat request (~300
-- bytes of JSON) with a different X-User-Id on every request, so that the
-- sticky split (module, split_clients, HAProxy's hash) sees many users.

local body = '{"model":"gpt-bench","messages":['
  .. '{"role":"system","content":"You write short, polite replies to customer support tickets."},'
  .. '{"role":"user","content":"Hello, I ordered a pair of boots last week and the tracking page has not changed since Monday. Where is my order?"}'
  .. '],"temperature":0.2,"max_tokens":300}'

local counter = 0
local prefix = "u"

local nthreads = 0

function setup(thread)
  nthreads = nthreads + 1
  thread:set("id", nthreads)
end

function init(args)
  prefix = "u" .. tostring(id or 0) .. "-"
end

function request()
  counter = counter + 1
  return wrk.format("POST", nil, {
    ["Host"] = "bench.local",
    ["Content-Type"] = "application/json",
    ["X-User-Id"] = prefix .. counter,
  }, body)
end
