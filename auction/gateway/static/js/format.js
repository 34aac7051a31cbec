// Money, weights and times as a person reads them, in the viewer's locale and time zone.
//
// Exports
//   exponent(currency) -> number      minor-unit digits of an ISO 4217 currency (USD 2, JPY 0, BHD 3)
//   money(minor, currency) -> string  an integer amount in minor units (number, BigInt or digit string),
//       localised with its currency: money(123456, "USD") is "$1,234.56" in en-US. No float ever holds
//       the amount: it is split into units and minor units with BigInt, and Intl formats the exact
//       decimal string. null/undefined gives "".
//   units(minor, currency) -> string  the same amount as a plain decimal "1234.56" (for an input field)
//   parseMoney(text, currency) -> BigInt|null   "1,234.5" -> 123450n in minor units; null if not a
//       plain non-negative amount with at most the currency's digits (no float parsing either)
//   carats(points) -> string          carat weight from integer points: 152 -> "1.52 ct"
//   when(ms) -> string                a date and time, e.g. "12 Mar 2026, 14:05"
//   date(ms) -> string                a date alone
//   time(ms) -> string                a time of day with seconds, e.g. "14:05:09"
//   countdown(ms) -> string           a remaining duration: "0:09", "4:05", "2h 03m", "3d 4h"; "0:00" at or
//       below zero
//   plural(n, one, many?) -> string   "1 lot", "3 lots"

const exponents = new Map();

export function exponent(currency) {
  if (!exponents.has(currency)) {
    let digits = 2;
    try {
      digits = new Intl.NumberFormat("en", {style: "currency", currency}).resolvedOptions().maximumFractionDigits;
    } catch {
      digits = 2;  // not a currency Intl knows: the common case
    }
    exponents.set(currency, digits);
  }
  return exponents.get(currency);
}

function toBigInt(minor) {
  if (typeof minor === "bigint") return minor;
  if (typeof minor === "number") {
    if (!Number.isSafeInteger(minor)) throw new RangeError(`not an integer amount: ${minor}`);
    return BigInt(minor);
  }
  if (typeof minor === "string" && /^-?\d+$/.test(minor)) return BigInt(minor);
  throw new RangeError(`not an integer amount: ${minor}`);
}

export function units(minor, currency) {
  if (minor === null || minor === undefined) return "";
  const value = toBigInt(minor);
  const digits = exponent(currency);
  const negative = value < 0n;
  const abs = negative ? -value : value;
  const scale = 10n ** BigInt(digits);
  const whole = abs / scale;
  const fraction = (abs % scale).toString().padStart(digits, "0");
  return `${negative ? "-" : ""}${whole}${digits ? "." + fraction : ""}`;
}

const moneyFormats = new Map();

export function money(minor, currency) {
  if (minor === null || minor === undefined) return "";
  let format = moneyFormats.get(currency);
  if (!format) {
    try {
      format = new Intl.NumberFormat(undefined, {style: "currency", currency});
    } catch {
      format = null;
    }
    moneyFormats.set(currency, format);
  }
  const decimal = units(minor, currency);
  // Intl formats a decimal string exactly (it is never turned into a float), so large amounts keep every digit.
  return format ? format.format(decimal) : `${decimal} ${currency}`;
}

export function parseMoney(text, currency) {
  const digits = exponent(currency);
  const cleaned = String(text).trim().replace(/[\s,']/g, "");
  const match = /^(\d{1,15})(?:\.(\d*))?$/.exec(cleaned);
  if (!match) return null;
  const fraction = match[2] || "";
  if (fraction.length > digits) return null;
  return BigInt(match[1]) * 10n ** BigInt(digits) + BigInt(fraction.padEnd(digits, "0") || "0");
}

export function carats(points) {
  if (points === null || points === undefined) return "";
  const value = Number(points);
  return `${Math.floor(value / 100)}.${String(value % 100).padStart(2, "0")} ct`;
}

const dateTime = new Intl.DateTimeFormat(undefined, {dateStyle: "medium", timeStyle: "short"});
const dateOnly = new Intl.DateTimeFormat(undefined, {dateStyle: "medium"});
const timeOfDay = new Intl.DateTimeFormat(undefined, {timeStyle: "medium"});

export function when(ms) {
  return ms === null || ms === undefined ? "" : dateTime.format(new Date(ms));
}

export function date(ms) {
  return ms === null || ms === undefined ? "" : dateOnly.format(new Date(ms));
}

export function time(ms) {
  return ms === null || ms === undefined ? "" : timeOfDay.format(new Date(ms));
}

export function countdown(ms) {
  const total = Math.max(0, Math.floor(ms / 1000));
  const days = Math.floor(total / 86400);
  const hours = Math.floor((total % 86400) / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = total % 60;
  if (days) return `${days}d ${hours}h`;
  if (hours) return `${hours}h ${String(minutes).padStart(2, "0")}m`;
  return `${minutes}:${String(seconds).padStart(2, "0")}`;
}

export function plural(n, one, many = `${one}s`) {
  return `${n} ${n === 1 ? one : many}`;
}
