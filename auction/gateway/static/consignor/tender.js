// The consignor's part of a sealed-bid tender: the lot's period in words, its result once revealed, and below
// the reserve the top bid offered to them, to accept or decline within the acceptance window (the bidder is
// never named). room.js shows these on the lot's card.
//
// Exports
//   loadTenderOffers(saleIds) -> Promise<Map("sale:lot" -> Offer)>   GET /api/sales/{sale}/tender/results for
//       each tender sale: the offers on this consignor's own lots ({lot, amount, per_carat, reserve, until_ms})
//   tenderFigures(live, currency) -> Element[]   the card's figures for a tender lot
//   offerPanel(sale, offer, currency, answered) -> Element   accept / decline; `answered()` after either

import {api} from "../js/api.js";
import {h} from "../js/dom.js";
import {countdown, money, when} from "../js/format.js";
import {clock} from "../js/clock.js";
import {setStatus} from "../js/shell.js";

const PERIOD = {
  scheduled: "Not on view yet", viewing: "On view; bids not yet open", open: "Bid window open: bids are sealed",
  awaiting_reveal: "Closed: waiting for the officers' reveal", awaiting_acceptance: "Below your reserve: your decision",
};

export async function loadTenderOffers(saleIds) {
  const offers = new Map();
  await Promise.all(saleIds.map(async (sale) => {
    const answer = await api("GET", `/api/sales/${sale}/tender/results`);
    for (const offer of answer.offers) offers.set(`${sale}:${offer.lot}`, offer);
  }));
  return offers;
}

function figure(label, value) {
  return h("div", {class: "figure"}, h("span", {class: "figure-label"}, label), h("span", {class: "figure-value"}, value));
}

export function tenderFigures(live, currency) {
  const status = live ? live.status : "scheduled";
  const shown = [figure("Tender", PERIOD[status] || (status === "sold" ? `Sold for ${money(live.price, currency)}` : status))];
  if (status === "open") shown.push(figure("Bids close in", countdown(live.end_ms - clock.now())));
  return shown;
}

async function answer(sale, offer, currency, accept, button, answered) {
  button.disabled = true;
  try {
    const done = await api("POST", `/api/sales/${sale}/lots/${offer.lot}/tender/${accept ? "accept" : "decline"}`);
    setStatus(done.status === "sold" ? `Lot ${offer.lot}: accepted, sold for ${money(done.amount, currency)}.`
      : `Lot ${offer.lot}: declined; the lot is passed.`, "ok");
  } catch (exc) {
    setStatus(`Your answer on lot ${offer.lot} was not taken: ${exc.message}`, "error");
    button.disabled = false;
  }
  answered();
}

export function offerPanel(sale, offer, currency, answered) {
  const what = `the top bid of ${money(offer.amount, currency)} on lot ${offer.lot}`;
  const accept = h("button", {type: "button", dataset: {action: "accept-tender"}, "aria-label": `Accept ${what}`}, "Accept");
  const decline = h("button", {type: "button", class: "secondary", dataset: {action: "decline-tender"},
    "aria-label": `Decline ${what}`}, "Decline");
  accept.addEventListener("click", () => answer(sale, offer, currency, true, accept, answered));
  decline.addEventListener("click", () => answer(sale, offer, currency, false, decline, answered));
  return h("div", {class: "panel tender-offer", dataset: {field: "tender-offer"}},
    h("p", {}, `The top sealed bid is ${money(offer.amount, currency)}`,
      offer.per_carat ? ` (${money(offer.per_carat, currency)} per carat)` : "",
      `, below your reserve of ${money(offer.reserve, currency)}. You may accept it until ${when(offer.until_ms)}; `,
      "declined or left, the lot is passed."),
    h("div", {class: "actions"}, accept, decline));
}
