// The buyer's premium, exactly as the engine charges it (auction/engine/premium.py): marginal bands in basis
// points, the exact sum rounded once, half up, to the minor unit. BigInt throughout: no float touches money.
//
// Exports
//   premium(hammer, schedule) -> BigInt    schedule: the sale's `settings.premium` ({bands: [[starts_at,
//                                          rate_bp], ...]}, as GET /api/sales/{sale} gives it)
//   allIn(amount, schedule) -> BigInt      amount + premium: what a buyer would owe, before tax and shipping
//   rateText(schedule) -> string           "26 % to 1,000,000; 21 % to 6,000,000; 15 % above" (amounts in minor
//                                          units are formatted by the caller's `money`, given as formatAmount)

const BASIS_POINTS = 10000n;

function bandsOf(schedule) {
  return schedule.bands.map(([start, rate]) => [BigInt(start), BigInt(rate)]);
}

export function premium(hammer, schedule) {
  const amount = BigInt(hammer);
  if (amount <= 0n) return 0n;
  const bands = bandsOf(schedule);
  let exact = 0n;  // units x basis points
  bands.forEach(([start, rate], index) => {
    const upper = index + 1 < bands.length ? bands[index + 1][0] : amount;
    const top = amount < upper ? amount : upper;
    if (top > start) exact += (top - start) * rate;
  });
  return (2n * exact + BASIS_POINTS) / (2n * BASIS_POINTS);  // half up
}

export function allIn(amount, schedule) {
  return BigInt(amount) + premium(amount, schedule);
}

export function rateText(schedule, formatAmount) {
  const bands = schedule.bands;
  if (bands.length === 1) return `${Number(bands[0][1]) / 100} %`;
  return bands.map(([, rate], index) => {
    const percent = `${Number(rate) / 100} %`;
    return index + 1 < bands.length ? `${percent} up to ${formatAmount(bands[index + 1][0])}` : `${percent} above`;
  }).join("; ");
}
