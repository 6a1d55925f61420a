-- wrk script: a fresh random customer id per request, with the sandbox
-- static token (see benches/e2e.rs for how to run it).
math.randomseed(os.time())
local hex = "0123456789abcdef"
local function h(n)
  local t = {}
  for i = 1, n do local r = math.random(1, 16); t[i] = hex:sub(r, r) end
  return table.concat(t)
end
request = function()
  local id = h(8) .. "-" .. h(4) .. "-4" .. h(3) .. "-8" .. h(3) .. "-" .. h(12)
  return wrk.format("GET", "/v1/customers/" .. id .. "/qualifications",
    {["Authorization"] = "Bearer sandbox-token", ["Accept"] = "application/json"})
end
