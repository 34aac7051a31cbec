// A tender bid's figures, exactly as the gateway and the engine make them (auction/engine/formats/tender.py):
// BigInt minor units, never a float.
//
// The rounding rule (docs/RULES.md "Tenders"): a bid given per carat counts at its total, the per-carat figure
// times the lot's weight (carat points are hundredths of a carat), rounded once, half up, to the minor unit. A
// bid given in total is kept as typed; its per-carat figure, shown for comparison only, is the total divided by
// the weight, rounded half up the same way.
//
// Exports
//   totalOf(perCarat, caratPoints) -> BigInt          round_half_up(perCarat * points, 100)
//   perCaratOf(total, caratPoints) -> BigInt|null     round_half_up(total * 100, points); null for no weight
//   commitmentText(sale, lot, company, clientId, amount, perCarat, salt) -> string   what the receipt's
//       commitment is the SHA-256 of (formats.tender.commitment), for the browser to check it
//   STATUS_WORDS: a tender lot's status in words

function roundHalfUp(numerator, denominator) {
  return (2n * numerator + denominator) / (2n * denominator);
}

export function totalOf(perCarat, caratPoints) {
  return roundHalfUp(BigInt(perCarat) * BigInt(caratPoints), 100n);
}

export function perCaratOf(total, caratPoints) {
  return caratPoints ? roundHalfUp(BigInt(total) * 100n, BigInt(caratPoints)) : null;
}

export function commitmentText(sale, lot, company, clientId, amount, perCarat, salt) {
  return `tender-bid:v1|${sale}|${lot}|${company}|${clientId}|${amount}|${perCarat === null || perCarat === undefined ? "" : perCarat}|${salt}`;
}

export const STATUS_WORDS = Object.freeze({
  scheduled: "Not on view yet",
  viewing: "On view: bids not yet open",
  open: "Bid window open",
  awaiting_reveal: "Closed: waiting for the officers' reveal",
  awaiting_acceptance: "Below the reserve: the consignor decides",
  sold: "Sold",
  passed: "Not sold",
  withdrawn: "Withdrawn",
});
