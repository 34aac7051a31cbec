// The bidder's room of a sealed-bid tender (/sales/{sale} when the sale is a tender; room.js hands it over).
//
// Per lot: the stone, the viewing period and the bid window with a countdown on the server's clock, and for a
// registered buyer the form to submit or replace their sealed bid, per carat or in total (the other figure
// derived as the engine derives it, tender-figures.js), with its priority; the receipt (commitment and salt),
// kept in this browser and downloadable; their own bids, opened here from the copies sealed to this browser's
// own key (js/own-key.js: the house can't read them); after the close the published commitments, checked
// against the receipt; after the reveal the lot's result and the buyer's rank.
//
// Sources: GET /api/sales/{sale}/tender/my-bids, .../commitments, .../results; POST .../tender-bids; the live
// feed for the lots' periods and results (a tender's public events never carry a bid).
//
// Exports
//   class TenderRoom(sale, detail, entries, me, registration)   .start(shell)

import {api, ApiError} from "../js/api.js";
import {clock} from "../js/clock.js";
import {field, h, replace, uid} from "../js/dom.js";
import {Feed, newClientId} from "../js/feed.js";
import {carats, countdown, money, parseMoney, plural, when} from "../js/format.js";
import {ownKey, openSeal, sha256Hex} from "../js/own-key.js";
import {allIn} from "../js/premium.js";
import {stoneFacts} from "./card.js";
import {applyEvent, applyView, isFinal, newLot} from "./lot-state.js";
import {commitmentText, perCaratOf, STATUS_WORDS, totalOf} from "./tender-figures.js";

const CLOSED = new Set(["awaiting_reveal", "awaiting_acceptance", "sold", "passed", "withdrawn"]);
const REVEALED = new Set(["awaiting_acceptance", "sold", "passed"]);
const MAX_PRIORITY = 10000;
const REFUSALS = {
  lot_not_open: "the bid window is not open",
  lot_closed: "the bid window has closed",
  too_late: "the bid window had closed when it arrived",
  not_registered: "you are not registered for this sale",
  not_approved: "your company is not approved to bid",
  suspended: "your company is suspended",
  deposit_missing: "your deposit has not been received yet",
  own_lot: "you may not bid on a lot of your own",
};

export class TenderRoom {
  constructor(sale, detail, entries, me, registration) {
    this.sale = sale;
    this.detail = detail;
    this.me = me;
    this.registration = registration;
    this.role = me ? me.role : "anonymous";
    this.currency = detail.sale.currency;
    this.schedule = detail.settings.premium;
    this.bidsFrom = detail.settings.tender.bids_from_ms;
    this.lots = new Map(entries.map((entry) => [entry.listing.lot, newLot(entry)]));
    this.cards = new Map();
    this.key = null;
    this.myBids = [];
    this.opened = new Map();  // client_id -> the buyer's copy, opened here
    this.results = new Map();  // lot -> LotResult
    this.commitments = new Map();  // lot -> LotCommitments
    this.receiptsKey = me && me.company_id ? `auction.tender.${sale}.${me.company_id}` : null;
  }

  canBid() {
    return this.role === "buyer" && this.registration && this.registration.status === "approved";
  }

  async start(shell) {
    this.shell = shell;
    const container = document.getElementById("lots");
    for (const [no, lot] of this.lots) {
      const card = new TenderCard(lot, this);
      this.cards.set(no, card);
      container.appendChild(card.element);
    }
    document.getElementById("sale-status").hidden = true;
    document.getElementById("bidder").appendChild(h("p", {dataset: {field: "tender-note"}},
      "A sealed-bid tender: one bid per lot, which you may replace until the close; the latest counts. Your bid is "
      + "sealed before anything is written, and nobody, the house included, can read it before the officers' reveal. "
      + "Your receipt lets you check afterwards that it was counted as you made it."));
    if (this.role === "buyer") await this.loadKey();
    await Promise.all([this.loadMine(), this.loadPublished()]);
    this.renderAll();
    clock.onTick((now) => this.cards.forEach((card) => card.tick(now)));
    this.watchFeed();
  }

  // ---- the buyer's own key, receipts and bids ------------------------------------------------------------------

  async loadKey() {
    try {
      this.key = await ownKey(`buyer:${this.me.id}`);
    } catch (exc) {
      this.shell.setStatus(`Your bids will still be sealed, but this browser can't keep a key to read them back: ${exc.message}`, "error");
    }
  }

  receipts() {
    try {
      return JSON.parse(localStorage.getItem(this.receiptsKey) || "{}");
    } catch {
      return {};
    }
  }

  keepReceipt(receipt) {
    const all = this.receipts();
    all[receipt.client_id] = {...all[receipt.client_id], ...receipt};
    try {
      localStorage.setItem(this.receiptsKey, JSON.stringify(all));
    } catch {
      // storage full or refused: the receipt is on screen to download
    }
  }

  async loadMine() {
    if (!this.canBid() && this.role !== "buyer") return;
    try {
      this.myBids = (await api("GET", `/api/sales/${this.sale}/tender/my-bids`)).bids;
    } catch (exc) {
      if (!(exc instanceof ApiError && exc.status === 403)) this.shell.setStatus(`Your bids could not be loaded: ${exc.message}`, "error");
      return;
    }
    if (!this.key) return;
    await Promise.all(this.myBids.filter((bid) => bid.copy && !this.opened.has(bid.client_id)).map(async (bid) => {
      const where = `tender-copy|${this.sale}|${bid.lot}|${this.me.company_id}|${bid.client_id}`;
      try {
        this.opened.set(bid.client_id, JSON.parse(await openSeal(this.key, bid.copy, where)));
      } catch {
        this.opened.set(bid.client_id, null);  // sealed to a key this browser does not hold
      }
    }));
  }

  async loadPublished() {
    const statuses = [...this.lots.values()].map((lot) => lot.view.status);
    const tasks = [];
    if (statuses.some((s) => CLOSED.has(s))) {
      tasks.push(api("GET", `/api/sales/${this.sale}/tender/commitments`).then((rows) => {
        for (const row of rows) this.commitments.set(row.lot, row);
      }));
    }
    if (statuses.some((s) => REVEALED.has(s))) {
      tasks.push(api("GET", `/api/sales/${this.sale}/tender/results`).then((answer) => {
        for (const row of answer.lots) this.results.set(row.lot, row);
      }));
    }
    try {
      await Promise.all(tasks);
    } catch (exc) {
      this.shell.setStatus(`The tender's published lists could not be loaded: ${exc.message}`, "error");
    }
  }

  async refresh() {
    await Promise.all([this.loadMine(), this.loadPublished()]);
    this.renderAll();
  }

  registrationChanged() {  // approved while the page was open (room.js asks again): the forms appear
    for (const card of this.cards.values()) card.enableForm();
    this.loadMine().then(() => this.renderAll());
  }

  renderAll() {
    for (const card of this.cards.values()) card.render(clock.now());
  }

  // ---- a bid -----------------------------------------------------------------------------------------------------

  async submit(card, body) {
    const lot = card.lot.listing.lot;
    const clientId = card.retryId || newClientId("t");
    card.retryId = clientId;  // until an answer: a resend with the same id never bids twice
    try {
      const receipt = await api("POST", `/api/sales/${this.sale}/lots/${lot}/tender-bids`,
        {client_id: clientId, ...body, ...(this.key ? {buyer_key: this.key.publicText} : {})});
      card.retryId = null;
      this.keepReceipt({...receipt, amount: body.amount ?? null, per_carat: body.per_carat ?? null});
      card.showAnswer(`Sealed and kept at ${when(receipt.submitted_ms)}. Keep your receipt: it proves your bid is counted as you made it.`, "ok");
      this.shell.announce(`Lot ${lot}: your sealed bid was kept.`);
      await this.loadMine();
      card.render(clock.now());
    } catch (exc) {
      const unknown = exc instanceof ApiError && (exc.status === 0 || exc.code === "unavailable");
      if (!unknown) card.retryId = null;
      const why = exc instanceof ApiError && exc.body && exc.body.type === "rejected"
        ? REFUSALS[exc.body.reason] || exc.body.reason : exc.message;
      card.showAnswer(unknown ? `Not known whether it was kept (${exc.message}): submit again, it will not count twice.`
        : `Not kept: ${why}.`, "bad");
    }
  }

  // ---- the feed ------------------------------------------------------------------------------------------------

  watchFeed() {
    const state = document.getElementById("connection");
    const feed = new Feed({
      onState: (now) => {
        state.textContent = {connecting: "Connecting…", live: "Live", reconnecting: "Reconnecting…", offline: "Offline"}[now] || now;
        state.className = `conn conn-${now}`;
        state.dataset.state = now;
      },
      onFrame: (frame) => this.onFrame(frame),
      onWelcome: (frame) => clock.observe(frame.server_ms),
      onError: (frame) => this.shell.setStatus(`The live feed said: ${frame.message}`, "error"),
    });
    const lots = this.role === "consignor" ? this.ownLots() : null;
    if (lots && !lots.length) {
      state.textContent = "No live updates: none of these lots is yours";
      return;
    }
    feed.subscribe(this.sale, lots);
    feed.connect();
  }

  ownLots() {
    const own = [...this.lots.values()].filter((lot) => lot.listing.consignor_id === this.me.consignor_id);
    return own.map((lot) => lot.listing.lot);
  }

  onFrame(frame) {
    const lot = this.lots.get(frame.lot);
    if (!lot || frame.sale !== this.sale) return;
    const before = lot.view.status;
    if (frame.type === "snapshot" || frame.type === "record_snapshot") applyView(lot, frame.lot_state);
    else if (frame.type === "event") applyEvent(lot, frame.event);
    else if (frame.type === "record") return;  // the house's form: the snapshot and result reads suffice
    if (lot.view.status !== before) {
      this.shell.announce(`Lot ${frame.lot}: ${STATUS_WORDS[lot.view.status] || lot.view.status}.`);
      if (CLOSED.has(lot.view.status)) this.refresh();
    }
    this.cards.get(frame.lot).render(clock.now());
  }
}

// ---- one lot ---------------------------------------------------------------------------------------------------

function figure(label, fieldName) {
  const value = h("span", {class: "figure-value num", dataset: {field: fieldName}});
  return [h("div", {class: "figure"}, h("span", {class: "figure-label"}, label), value), value];
}

class TenderCard {
  constructor(lot, room) {
    this.lot = lot;
    this.room = room;
    this.retryId = null;
    const listing = lot.listing;
    const no = listing.lot;
    const titleId = uid("lot-title");
    const [period, periodValue] = figure("Now", "period");
    const [clockFigure, clockValue] = figure("Countdown", "countdown");
    const [windowFigure, windowValue] = figure("Bid window", "window");
    const [result, resultValue] = figure("Result", "result");
    this.fields = {period: periodValue, countdown: clockValue, window: windowValue, result: resultValue};
    windowValue.textContent = `${when(room.bidsFrom)} – ${when(lot.view.end_ms)}`;
    this.status = h("span", {class: "badge", dataset: {field: "status"}});
    this.answer = h("p", {class: "answer", role: "status", "aria-live": "polite", dataset: {field: "answer"}});
    this.mine = h("div", {class: "tender-mine", dataset: {field: "mine"}});
    this.check = h("div", {class: "tender-check", dataset: {field: "check"}, "aria-live": "polite"});
    this.form = room.canBid() ? this.buildForm(no, listing.diamond.carat_points) : null;
    this.element = h("article", {class: "lot tender-lot", id: `lot-${no}`, dataset: {lot: String(no)}, "aria-labelledby": titleId},
      h("div", {class: "lot-head"}, h("h2", {id: titleId}, `Lot ${no}: ${listing.title}`), this.status),
      stoneFacts(listing, room.currency),
      h("div", {class: "lot-live"}, period, clockFigure, windowFigure, result),
      this.form, this.answer, this.mine, this.check);
  }

  // ---- the form ------------------------------------------------------------------------------------------------

  enableForm() {
    if (this.form || !this.room.canBid()) return;
    this.form = this.buildForm(this.lot.listing.lot, this.lot.listing.diamond.carat_points);
    this.answer.before(this.form);
  }

  buildForm(no, points) {
    const currency = this.room.currency;
    const name = uid(`how-${no}`);
    const radio = (value, label, checked) => {
      const input = h("input", {type: "radio", name, value, id: uid(`how-${value}`), checked,
        dataset: {field: `how-${value}`}, on: {change: () => this.preview()}});
      return h("div", {class: "check"}, input, h("label", {for: input.id}, label));
    };
    const perCaratFirst = points > 0;
    this.how = h("fieldset", {class: "tender-how"}, h("legend", {}, "How you bid"),
      radio("per_carat", `Per carat (${carats(points)})`, perCaratFirst), radio("total", "In total", !perCaratFirst));
    this.amount = h("input", {name: "amount", inputmode: "decimal", autocomplete: "off", dataset: {field: "amount"},
      on: {input: () => this.preview()}});
    this.priority = h("input", {name: "priority", type: "number", min: "1", max: String(MAX_PRIORITY), step: "1",
      value: "1", inputmode: "numeric", dataset: {field: "priority"}});
    this.derived = h("p", {class: "muted", dataset: {field: "derived"}, "aria-live": "polite"});
    this.submitButton = h("button", {type: "submit", dataset: {action: "tender-bid"}}, "Submit sealed bid");
    const amountField = field(`Your bid (${currency})`, this.amount);
    this.amountLabel = amountField.querySelector("label");
    const form = h("form", {class: "bid-form tender-form", "aria-label": `Sealed bid on lot ${no}`, dataset: {field: "form"},
      on: {submit: (event) => { event.preventDefault(); this.send(); }}},
      this.how, amountField, this.derived,
      field("Priority (1 is first)", this.priority,
        "If your winning bids together pass your limit, you win them in this order while within it."),
      h("div", {class: "bid-row"}, this.submitButton));
    return form;
  }

  kind() {
    return this.how.querySelector("input:checked").value;
  }

  figures() {
    // {amount, perCarat, body} of what is typed, or null: amount the total it counts at
    const typed = parseMoney(this.amount.value, this.room.currency);
    if (typed === null || typed <= 0n) return null;
    const points = this.lot.listing.diamond.carat_points;
    if (this.kind() === "per_carat") {
      return {amount: totalOf(typed, points), perCarat: typed, body: {per_carat: Number(typed)}};
    }
    return {amount: typed, perCarat: perCaratOf(typed, points), body: {amount: Number(typed)}};
  }

  preview() {
    const currency = this.room.currency;
    const points = this.lot.listing.diamond.carat_points;
    const perCarat = this.kind() === "per_carat";
    this.amountLabel.textContent = perCarat ? `Your bid per carat (${currency})` : `Your bid in total (${currency})`;
    const figures = this.figures();
    if (!figures) {
      this.derived.textContent = this.amount.value ? `Enter an amount such as 1,250.00 ${currency}.` : "";
      return;
    }
    const total = money(figures.amount, currency);
    const withPremium = money(allIn(figures.amount, this.room.schedule), currency);
    this.derived.textContent = perCarat
      ? `Counts as ${total} in total: ${money(figures.perCarat, currency)} × ${carats(points)}, rounded half up to the minor unit. With the buyer's premium you would pay ${withPremium}.`
      : `Your total is kept as typed: ${total}${figures.perCarat !== null ? `, ${money(figures.perCarat, currency)} per carat (for comparison, rounded half up)` : ""}. With the buyer's premium you would pay ${withPremium}.`;
  }

  send() {
    const figures = this.figures();
    if (!figures) {
      this.showAnswer(`Enter your bid in ${this.room.currency}.`, "bad");
      this.amount.focus();
      return;
    }
    const priority = Number(this.priority.value);
    if (!Number.isInteger(priority) || priority < 1 || priority > MAX_PRIORITY) {
      this.showAnswer(`The priority is a whole number from 1 to ${MAX_PRIORITY}.`, "bad");
      this.priority.focus();
      return;
    }
    this.showAnswer("Sealing and sending…", "pending");
    this.room.submit(this, {...figures.body, priority});
  }

  showAnswer(text, kind) {
    this.answer.textContent = text;
    this.answer.className = `answer answer-${kind}`;
    this.answer.dataset.kind = kind;
  }

  // ---- what is shown -------------------------------------------------------------------------------------------

  render(nowMs) {
    const v = this.lot.view;
    this.element.dataset.status = v.status;
    this.status.textContent = STATUS_WORDS[v.status] || v.status;
    this.status.className = `badge badge-${v.status}`;
    this.fields.period.textContent = v.status === "viewing" ? "Viewing" : v.status === "open" ? "Bid window" : STATUS_WORDS[v.status] || v.status;
    const result = this.room.results.get(this.lot.listing.lot);
    this.fields.result.textContent = resultText(result, this.room.currency);
    if (this.form) {
      const open = v.status === "open";
      this.form.hidden = !open;
      const counting = this.room.myBids.some((bid) => bid.lot === this.lot.listing.lot && bid.counts);
      this.submitButton.textContent = counting ? "Replace my sealed bid" : "Submit sealed bid";
      if (open) this.preview();
    }
    this.renderMine();
    this.renderCheck();
    this.tick(nowMs);
  }

  tick(nowMs) {
    const v = this.lot.view;
    let text;
    if (v.status === "scheduled") text = `Viewing opens in ${countdown(v.start_ms - nowMs)}`;
    else if (v.status === "viewing") text = this.room.bidsFrom > nowMs ? `Bids open in ${countdown(this.room.bidsFrom - nowMs)}` : "Bids opening…";
    else if (v.status === "open") text = v.end_ms > nowMs ? `Closes in ${countdown(v.end_ms - nowMs)}` : "Closing…";
    else text = isFinal(v.status) ? "Closed" : "Bids closed";
    this.fields.countdown.textContent = text;
  }

  renderMine() {
    const room = this.room;
    if (room.role !== "buyer") return;
    const no = this.lot.listing.lot;
    const receipts = room.receipts();
    const bids = room.myBids.filter((bid) => bid.lot === no);
    if (!bids.length) {
      replace(this.mine, h("p", {class: "muted"}, room.canBid() ? "You have not bid on this lot." : ""));
      return;
    }
    const currency = room.currency;
    const rows = bids.slice().reverse().map((bid) => {
      const copy = room.opened.get(bid.client_id);
      const receipt = receipts[bid.client_id] || {};
      const amount = bid.amount ?? (copy ? copy.amount : receipt.amount);
      const typed = bid.per_carat ?? (copy ? copy.per_carat : receipt.per_carat);
      const perCarat = typed ?? (amount === undefined || amount === null ? null : perCaratOf(amount, this.lot.listing.diamond.carat_points));
      const salt = receipt.salt || (copy ? copy.salt : null);
      const shown = amount === undefined || amount === null
        ? (bid.copy ? "Sealed to a key this browser does not hold" : "Sealed (no copy for you)")
        : `${money(amount, currency)}${perCarat ? ` (${money(perCarat, currency)} per carat)` : ""}`;
      const rank = bid.rank ? `Rank ${bid.rank}${bid.won ? ", won" : ""}${bid.excluded ? ", over your limit: passed to the next bid" : ""}` : "";
      return h("tr", {dataset: {clientId: bid.client_id, counts: String(bid.counts)}},
        h("td", {"data-label": "Submitted"}, when(bid.submitted_ms)),
        h("td", {"data-label": "Your bid", dataset: {field: "my-amount"}}, shown),
        h("td", {"data-label": "Priority", class: "num"}, String(bid.priority)),
        h("td", {"data-label": "Counts", dataset: {field: "counts"}}, bid.counts ? "Counts" : "Replaced"),
        h("td", {"data-label": "Rank", dataset: {field: "rank"}}, rank || "–"),
        h("td", {"data-label": "Receipt"}, receiptLink(room.sale, no, bid, salt)));
    });
    replace(this.mine,
      h("h3", {}, "Your bids on this lot"),
      h("p", {class: "muted"}, "Opened in this browser with your own key: the house can't read them before the close."),
      h("div", {class: "table-scroll"}, h("table", {},
        h("caption", {class: "visually-hidden"}, `Your bids on lot ${no}`),
        h("thead", {}, h("tr", {}, ["Submitted", "Your bid", "Priority", "Counts", "Rank", "Receipt"].map((c) =>
          h("th", {scope: "col"}, c)))),
        h("tbody", {}, rows))));
  }

  async renderCheck() {
    const room = this.room;
    const no = this.lot.listing.lot;
    const published = room.commitments.get(no);
    const counting = room.myBids.find((bid) => bid.lot === no && bid.counts);
    if (!published || !published.closed) {
      replace(this.check);
      return;
    }
    const list = h("details", {}, h("summary", {}, `Published commitments (${published.commitments.length})`),
      h("p", {class: "muted"}, `SHA-256 of the list: ${published.digest}`),
      h("ol", {class: "commitments"}, published.commitments.map((c) => h("li", {}, h("code", {}, c)))));
    if (!counting) {
      replace(this.check, list);
      return;
    }
    const listed = published.commitments.includes(counting.commitment);
    const matches = await this.recomputed(counting);
    const words = listed
      ? `Your receipt's commitment is in the published list${matches === true ? ", and it matches the bid you made" : matches === false ? ", but it does not match the bid this browser holds" : ""}.`
      : "Your receipt's commitment is NOT in the published list: tell the house at once, with your receipt.";
    replace(this.check, h("p", {class: listed && matches !== false ? "you you-lead" : "banner banner-bad",
      dataset: {field: "receipt-check", listed: String(listed)}}, words), list);
  }

  async recomputed(bid) {
    // the commitment made again here from what was bid and the salt: true, false, or null (nothing to check with)
    const copy = this.room.opened.get(bid.client_id);
    const receipt = this.room.receipts()[bid.client_id] || {};
    const amount = copy ? copy.amount : receipt.amount;
    const salt = copy ? copy.salt : receipt.salt;
    if (amount === undefined || amount === null || !salt) return null;
    const perCarat = copy ? copy.per_carat : receipt.per_carat;
    const text = commitmentText(this.room.sale, bid.lot, this.room.me.company_id, bid.client_id, amount, perCarat, salt);
    return (await sha256Hex(text)) === bid.commitment;
  }
}

function resultText(result, currency) {
  if (!result) return "After the reveal";
  if (result.status === "sold") {
    return `Sold for ${money(result.amount, currency)}${result.per_carat ? ` (${money(result.per_carat, currency)} per carat)` : ""}`;
  }
  return `${STATUS_WORDS[result.status] || result.status} · ${plural(result.bids, "bid")}`;
}

function receiptLink(sale, lot, bid, salt) {
  const receipt = {sale, lot, client_id: bid.client_id, commitment: bid.commitment, salt, submitted_ms: bid.submitted_ms,
    priority: bid.priority};
  const download = () => {
    const url = URL.createObjectURL(new Blob([JSON.stringify(receipt, null, 2)], {type: "application/json"}));
    const link = h("a", {href: url, download: `receipt-sale-${sale}-lot-${lot}-${bid.client_id}.json`, hidden: true});
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  };
  return h("details", {class: "receipt", dataset: {field: "receipt"}},
    h("summary", {}, "Receipt"),
    h("p", {}, "Commitment ", h("code", {dataset: {field: "commitment"}}, bid.commitment)),
    h("p", {}, "Salt ", h("code", {dataset: {field: "salt"}}, salt || "not in this browser")),
    h("button", {type: "button", class: "secondary", on: {click: download}}, "Download receipt"));
}
