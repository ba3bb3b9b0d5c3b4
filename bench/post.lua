-- wrk script for bench/run.py: POST one body again and again, report a JSON summary.
--
--   VG_BODY     file with the request body
--   VG_HEADERS  file of "Name: value" lines (may be empty)
--   VG_OUT      where done() writes the summary
--   VG_BUST     optional marker; each request gets it replaced by a unique tag, so
--               every image URL differs and no gateway cache can answer it

local function read_all(path)
  local fh = assert(io.open(path, "rb"))
  local data = fh:read("*a")
  fh:close()
  return data
end

wrk.method = "POST"
wrk.body = read_all(os.getenv("VG_BODY"))
wrk.headers["Content-Type"] = "application/json"
for line in io.lines(os.getenv("VG_HEADERS")) do
  local name, value = line:match("^([^:]+):%s*(.*)$")
  if name then wrk.headers[name] = value end
end

local marker = os.getenv("VG_BUST")
if marker and marker ~= "" then
  local head, tail = nil, nil
  local at, stop = string.find(wrk.body, marker, 1, true)
  if at then
    head = string.sub(wrk.body, 1, at - 1)
    tail = string.sub(wrk.body, stop + 1)
    local n = 0
    local run = tostring(os.time())
    request = function()
      n = n + 1
      return wrk.format(nil, nil, nil, head .. run .. "-" .. n .. tail)
    end
  end
end

done = function(summary, latency, requests)
  local e = summary.errors
  local fh = assert(io.open(os.getenv("VG_OUT"), "w"))
  fh:write(string.format(
    '{"requests": %d, "duration_us": %d, "bytes": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_us": {"p50": %d, "p90": %d, "p99": %d, "max": %d, "mean": %.1f}}',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
  fh:close()
end
