// Small helpers of the console: DOM building, times, units, fetching.

// el builds an element: attributes (on* are listeners, booleans toggle)
// and children (strings become text, never HTML).
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (typeof v === "boolean") { if (v) e.setAttribute(k, ""); }
    else if (k === "value") e.value = v;
    else e.setAttribute(k, v);
  }
  e.append(...children.filter((c) => c !== null && c !== undefined));
  return e;
}

// ago says how long ago an RFC 3339 time was: "2 min ago".
export function ago(t) {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(t)) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

// Units known from the usual names of measurements and fields.
const units = [[/temp/i, "°C"], [/humid/i, "%"], [/pressure/i, "hPa"], [/percent|_pct$/i, "%"], [/volt/i, "V"], [/speed/i, "km/h"]];

export function unitOf(measurement, field) {
  const name = field === "value" ? measurement : field;
  for (const [re, u] of units) if (re.test(name)) return u;
  return "";
}

// withUnit shows a value with its unit; with v null, the unit alone.
export function withUnit(measurement, field, v) {
  const u = unitOf(measurement, field);
  if (v === null) return (field === "value" ? measurement : measurement + "." + field) + (u ? ` (${u})` : "");
  const s = typeof v === "number" ? String(Math.round(v * 100) / 100) : String(v);
  return u ? `${s} ${u}` : s;
}

export async function getJSON(path) {
  const r = await fetch(path, { credentials: "same-origin" });
  if (r.status === 401) { location.href = "login"; throw new Error("login needed"); }
  if (!r.ok) throw new Error(`${path}: ${r.status}`);
  return r.json();
}
