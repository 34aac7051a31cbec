// The shill monitor of a sale: every bidder who has bid, highest score first, each score (0 to 100) with the
// signals it comes from, each explained; flagged at or above the house's threshold. Read again every few seconds
// while the page is open. The auctioneer (and an admin) may cancel a buyer's bids on an open lot for cause here.

import {api} from "../js/api.js";
import {field, h, replace} from "../js/dom.js";
import {money, plural} from "../js/format.js";
import {badge, errorText, input, loadSales, openConsole, queryInt, run, saleSelect, setQuery, table} from "./common.js";

const EVERY_MS = 5000;
const ROSTRUM = ["auctioneer", "admin"];

const ctx = await openConsole({title: "Shill monitor", path: "/console/shill"});
if (ctx) await start(ctx);

async function start({main, can}) {
  let sales = [];
  try {
    sales = await loadSales();
  } catch (exc) {
    replace(main, h("h1", {}, "Shill monitor"), h("p", {class: "status status-error"}, errorText(exc)));
    return;
  }
  const body = h("div", {id: "shill"});
  const scores = h("div", {id: "scores", "aria-live": "polite"});
  let timer = null;
  let names = new Map();
  replace(main, h("h1", {}, "Shill monitor"),
    h("p", {class: "muted"}, "Signals worth a look: a bidder who bids mostly on one consignor's lots, raises early "
      + "and rarely wins, or shadows one rival. A score is a reason to look, not a finding."),
    saleSelect(sales, queryInt("sale"), (id) => show(id)), body);

  async function show(saleId) {
    clearInterval(timer);
    setQuery({sale: saleId});
    const sale = sales.find((s) => s.id === saleId);
    if (!sale) return replace(body, h("p", {class: "muted"}, "Choose a sale to watch its bidders."));
    replace(body, scores, can(ROSTRUM) ? cancelForm(sale) : null);
    try {
      names = new Map((await api("GET", "/api/companies")).map((c) => [c.id, c.legal_name]));
    } catch {
      names = new Map();  // not every operator may list companies: bidders are then shown by number
    }
    await read(sale);
    timer = setInterval(() => read(sale), EVERY_MS);
  }

  async function read(sale) {
    try {
      const report = await api("GET", `/api/sales/${sale.id}/shill-scores`);
      const flagged = report.bidders.filter((b) => b.flagged).length;
      replace(scores,
        h("p", {}, `${plural(report.bidders.length, "bidder")}, ${flagged} flagged at ${report.threshold} or above `
          + `(from ${plural(report.events, "recorded event")}).`),
        table({
          caption: "Bidders by score", empty: "Nobody has bid in this sale yet.",
          rows: report.bidders.map((b) => ({...b, __data: {bidder: b.bidder, flagged: String(b.flagged)}})),
          columns: [
            {label: "Paddle", num: true, cell: (b) => String(b.paddle)},
            {label: "Bidder", cell: (b) => names.get(b.bidder) || `company ${b.bidder}`},
            {label: "Score", num: true, cell: (b) => h("span", {class: "score"},
              h("meter", {min: 0, max: 100, low: report.threshold - 1, high: report.threshold, optimum: 0, value: b.score,
                "aria-label": `score ${b.score} of 100`}), ` ${b.score}`)},
            {label: "", cell: (b) => (b.flagged ? badge("Flagged", "rejected") : "")},
            {label: "Why", cell: (b) => h("details", {},
              h("summary", {}, b.explanation),
              h("ul", {}, b.signals.map((s) => h("li", {}, `${s.name.replaceAll("_", " ")}: ${s.value} `
                + `(${plural(s.evidence, "piece")} of evidence). ${s.explanation}`))))},
          ],
        }));
    } catch (exc) {
      replace(scores, h("p", {class: "status status-error"}, errorText(exc)));
    }
  }

  await show(queryInt("sale"));
}

function cancelForm(sale) {
  const lot = input("lot", {type: "number", min: 1, required: true, inputmode: "numeric"});
  const paddle = input("paddle", {type: "number", min: 1, required: true, inputmode: "numeric"});
  const reason = h("textarea", {name: "reason", rows: 2, required: true, minlength: 3, maxlength: 500});
  const submit = h("button", {type: "submit", class: "danger"}, "Cancel the paddle's bids on the lot");
  const form = h("form", {class: "form", id: "cancel-form"},
    h("fieldset", {}, h("legend", {}, "Cancel a buyer's bids for cause"),
      h("p", {class: "field-hint"}, "On an open lot only; the lot is recomputed from everyone else's bids, on the record."),
      h("div", {class: "grid-2"}, field("Lot", lot), field("Paddle", paddle)),
      field("Reason (on the record and the audit log)", reason),
      h("div", {class: "actions"}, submit)));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    await run(submit, () => api("POST", `/api/sales/${sale.id}/lots/${lot.value}/cancellations`,
      {paddle: Number(paddle.value), reason: reason.value.trim()}),
    (done) => `Lot ${done.lot}: the bids of paddle ${paddle.value} cancelled; it stands at ${money(done.lot_state.price, sale.currency)}.`);
  });
  return form;
}
