-- Hooks of the demo's product page (routes[...] hooks = "scripts/product.lua"
-- in conf/tessera.lua). What each phase does:
--   on_request   reads ?lang= (en, de, fr; else en) and the "ab" cookie (A/B
--                bucket "a" or "b"; none: "a"), both become cache key parts and
--                req.vars, which the template and the later phases see
--   on_fragment  formats the price for the language (price.display)
--   on_render    keeps three recommendations on mobile
--   on_response  adds Cookie to Vary (the bucket comes from a cookie) and tags
--                the page with its bucket
--   on_log       adds the language and the bucket to the access log line

local FORMATS = {
  en = { decimal = ".", group = ",", before = true },
  de = { decimal = ",", group = ".", before = false },
  fr = { decimal = ",", group = "\226\128\175", before = false }, -- narrow no-break space
}
local PROMOS = { a = "Free delivery from 50 EUR", b = "10% off your first order" }
local SYMBOLS = { EUR = "\226\130\172", USD = "$", GBP = "\194\163" }

local function group_digits(int, sep)
  local out = int
  while true do
    local n
    out, n = string.gsub(out, "^(%d+)(%d%d%d)", "%1" .. sep .. "%2")
    if n == 0 then return out end
  end
end

local function format_price(amount, currency, lang)
  local f = FORMATS[lang] or FORMATS.en
  local cents = math.floor(amount * 100 + 0.5)
  local text = group_digits(tostring(math.floor(cents / 100)), f.group) ..
               f.decimal .. string.format("%02d", cents % 100)
  local sym = SYMBOLS[currency] or currency
  if f.before then return sym .. text end
  return text .. "\194\160" .. sym -- no-break space
end

return {
  on_request = function(req)
    local lang = req.query.lang
    if not FORMATS[lang] then lang = "en" end
    local bucket = req.cookies.ab == "b" and "b" or "a"
    req.key_parts = { "lang=" .. lang, "ab=" .. bucket }
    req.vars = { lang = lang, bucket = bucket, promo = PROMOS[bucket] }
  end,

  on_fragment = function(name, data, meta)
    if name == "price" and type(data) == "table" and type(data.amount) == "number" then
      data.display = format_price(data.amount, data.currency, meta.vars.lang)
      if type(data.was) == "number" then data.was_display = format_price(data.was, data.currency, meta.vars.lang) end
    end
  end,

  on_render = function(ctx)
    if ctx.channel == "mobile" and type(ctx.recs) == "table" and type(ctx.recs.items) == "table" then
      local fewer = {}
      for i = 1, math.min(3, #ctx.recs.items) do fewer[i] = ctx.recs.items[i] end
      ctx.recs.items = fewer
    end
  end,

  on_response = function(res)
    local vary = res.headers["vary"]
    res.headers["vary"] = vary and (vary .. ", Cookie") or "Cookie"
    res.tags = { "ab-" .. res.vars.bucket }
  end,

  on_log = function(entry)
    if entry.vars then return { lang = entry.vars.lang, ab = entry.vars.bucket } end
  end,
}
