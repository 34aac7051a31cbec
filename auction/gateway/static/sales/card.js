// One lot's card in the bidder's room: the stone, the live figures, and (for a buyer who may bid) the bid form
// with its confirmation step. The card is built once and its figures updated in place, so a bidder typing an
// amount never loses it to a price change.
//
// Exports
//   class LotCard(lot, room)   room: {sale, currency, schedule, isLive, canBid(), myPaddle(), watched(lot),
//                              toggleWatch(lot), placeBid(card, kind, amount), announce(text)}
//     .element                 the <article>
//     .render(nowMs)           figures, status, countdown, "you" line, form state
//     .tick(nowMs)             the countdown alone
//     .showAnswer(text, kind)  the bid's answer line ("pending", "ok", "bad")
//     .showBanner(text, kind)  a banner above the form (fair warning, another bid taken, sold...)
//     .renderLog()             the event log, in seq order
//     .flash()
//   stoneFacts(listing, currency) -> <dl>   the stone's data, estimate and details (the tender's cards show it too)

import {h, replace, uid} from "../js/dom.js";
import {carats, countdown, money, parseMoney, units} from "../js/format.js";
import {allIn, premium} from "../js/premium.js";
import {lotStatusLabel} from "../js/sales.js";
import {isFinal, isOpen} from "./lot-state.js";

const ENDING_SOON_MS = 120000;
const DETAIL_LABELS = {kp_certificate: "Kimberley Process certificate"};

export function stoneFacts(listing, currency) {
  const d = listing.diamond;
  const facts = [
    ["Carat", carats(d.carat_points)],
    ["Shape", d.shape],
    ["Colour", d.colour || d.fancy_colour || d.colour_range],
    ["Clarity", d.clarity || d.clarity_range],
    ["Cut", d.cut],
    ["Polish", d.polish],
    ["Symmetry", d.symmetry],
    ["Fluorescence", d.fluorescence],
    ["Measurements", d.measurements],
    ["Report", d.lab ? `${d.lab} ${d.report_number}` : d.report_override_reason ? "None (operator's override)" : null],
    ["Estimate", `${money(listing.low_estimate, currency)} – ${money(listing.high_estimate, currency)}`],
  ];
  for (const [name, value] of Object.entries(listing.details || {})) {
    if (!["relisted_from"].includes(name)) facts.push([DETAIL_LABELS[name] || name.replace(/_/g, " ").replace(/^./, (c) => c.toUpperCase()), value]);
  }
  return h("dl", {class: "stone"}, facts.filter(([, value]) => value).map(([name, value]) =>
    h("div", {}, h("dt", {}, name), h("dd", {}, value))));
}

function figure(label, field, attributes = {}) {
  const value = h("span", {class: "figure-value num", dataset: {field}, ...attributes});
  return [h("div", {class: "figure"}, h("span", {class: "figure-label"}, label), value), value];
}

export class LotCard {
  constructor(lot, room) {
    this.lot = lot;
    this.room = room;
    this.confirming = null;  // {kind, amount} while the confirmation step is shown
    const no = lot.listing.lot;
    const titleId = uid("lot-title");
    const [price, priceValue] = figure("Current price", "price", {"aria-live": "polite", "aria-atomic": "true"});
    const [leader, leaderValue] = figure("Leading", "leader");
    const [next, nextValue] = figure(room.isLive ? "Asking" : "Next bid at least", "next");
    const [ends, endsValue] = figure(room.isLive ? "On the block" : "Ends in", "countdown");
    const [reserve, reserveValue] = figure("Reserve", "reserve");
    const [bids, bidsValue] = figure("Bids", "bids");
    this.fields = {price: priceValue, leader: leaderValue, next: nextValue, countdown: endsValue,
      reserve: reserveValue, bids: bidsValue};
    this.status = h("span", {class: "badge", dataset: {field: "status"}});
    this.watch = h("button", {type: "button", class: "secondary watch", "aria-pressed": "false",
      on: {click: () => this.toggleWatch()}}, "Watch");
    this.you = h("p", {class: "you", dataset: {field: "you"}, "aria-live": "polite"});
    this.banner = h("p", {class: "banner", dataset: {field: "banner"}, role: "status", hidden: true});
    this.answer = h("p", {class: "answer", dataset: {field: "answer"}, role: "status", "aria-live": "polite"});
    this.logList = h("ol", {dataset: {field: "log"}});
    this.logCount = h("span", {}, "0");
    this.form = this.buildForm(no);
    const photos = (lot.listing.photos || []).map((src, i) =>
      h("img", {src, alt: `Lot ${no}, photo ${i + 1}`, loading: "lazy"}));
    this.element = h("article", {class: "lot", id: `lot-${no}`, dataset: {lot: String(no)}, "aria-labelledby": titleId},
      h("div", {class: "lot-head"},
        h("h2", {id: titleId}, `Lot ${no}: ${lot.listing.title}`), this.status, this.watch),
      photos.length ? h("div", {class: "lot-photos"}, photos) : null,
      stoneFacts(lot.listing, room.currency),
      h("div", {class: "lot-live"}, price, leader, next, ends, reserve, bids),
      this.you, this.banner, this.form, this.answer,
      h("details", {class: "log"}, h("summary", {}, "Events (", this.logCount, ")"), this.logList));
  }

  // ---- the bid form ---------------------------------------------------------------------------------------------

  buildForm(no) {
    const room = this.room;
    this.amount = h("input", {id: uid(`amount-${no}`), name: "amount", inputmode: "decimal", autocomplete: "off",
      dataset: {field: "amount"}, on: {input: () => this.preview()}});
    this.total = h("p", {class: "muted", dataset: {field: "total"}, "aria-live": "polite"});
    this.bidButton = h("button", {type: "submit", dataset: {action: "bid"}}, room.isLive ? "Bid at the ask" : "Bid");
    this.maxButton = room.isLive ? null : h("button", {type: "button", class: "secondary", dataset: {action: "max"},
      on: {click: () => this.ask("max_bid")}}, "Set a maximum bid");
    this.confirmBox = h("div", {class: "confirm", hidden: true, dataset: {field: "confirm"}, tabindex: "-1"});
    const amountField = room.isLive ? null : h("div", {class: "field"},
      h("label", {for: this.amount.id}, `Your bid (${room.currency})`), this.amount);
    const form = h("form", {class: "bid-form", dataset: {field: "form"}, hidden: true, "aria-label": `Bid on lot ${no}`,
      on: {submit: (event) => { event.preventDefault(); this.ask("bid"); }}},
      h("div", {class: "bid-row"}, amountField, this.bidButton, this.maxButton), this.total, this.confirmBox);
    form.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && this.confirming) this.cancel();
    });
    return form;
  }

  amountNow() {
    if (this.room.isLive) return BigInt(this.lot.view.next_minimum);
    return parseMoney(this.amount.value, this.room.currency);
  }

  preview() {
    const amount = this.amountNow();
    if (amount === null || amount <= 0n) {
      this.total.textContent = this.amount.value ? "Enter an amount such as 1,250.00" : "";
      return;
    }
    const cost = allIn(amount, this.room.schedule);
    this.total.textContent = `With the buyer's premium of ${money(premium(amount, this.room.schedule), this.room.currency)}, ` +
      `you would pay ${money(cost, this.room.currency)} (before tax and shipping).`;
  }

  ask(kind) {
    const amount = this.amountNow();
    const currency = this.room.currency;
    if (amount === null || amount <= 0n) {
      this.showAnswer("Enter the amount you want to bid, in " + currency + ".", "bad");
      this.amount.focus();
      return;
    }
    this.confirming = {kind, amount};
    const cost = allIn(amount, this.room.schedule);
    const what = kind === "max_bid"
      ? `Your maximum: ${money(amount, currency)}. We bid for you, only as much as needed.`
      : `Your bid: ${money(amount, currency)}.`;
    const confirm = h("button", {type: "button", dataset: {action: "confirm"}, on: {click: () => this.confirm()}},
      kind === "max_bid" ? "Confirm maximum" : "Confirm bid");
    const cancel = h("button", {type: "button", class: "secondary", on: {click: () => this.cancel()}}, "Cancel");
    replace(this.confirmBox,
      h("p", {}, what),
      h("p", {dataset: {field: "confirm-total"}},
        `If you win at ${money(amount, currency)}, you pay `, h("strong", {}, money(cost, currency)),
        ` with the buyer's premium of ${money(premium(amount, this.room.schedule), currency)}.`),
      h("div", {class: "actions"}, confirm, cancel));
    this.confirmBox.hidden = false;
    confirm.focus();
  }

  cancel() {
    this.confirming = null;
    this.confirmBox.hidden = true;
    (this.room.isLive ? this.bidButton : this.amount).focus();
  }

  confirm() {
    const {kind, amount} = this.confirming;
    this.confirming = null;
    this.confirmBox.hidden = true;
    this.room.placeBid(this, kind, amount);
    (this.room.isLive ? this.bidButton : this.amount).focus();
  }

  // ---- figures ------------------------------------------------------------------------------------------------

  render(nowMs) {
    const v = this.lot.view;
    const currency = this.room.currency;
    const mine = this.room.myPaddle();
    this.element.dataset.status = v.status;
    this.status.textContent = lotStatusLabel(v.status);
    this.status.className = `badge badge-${v.status}`;
    this.fields.price.textContent = v.bid_count || v.status === "sold" ? money(v.price, currency) : "No bids yet";
    this.fields.leader.textContent = v.leader_paddle === null || v.leader_paddle === undefined
      ? "—" : v.leader_paddle === mine ? `You (paddle ${mine})` : `Paddle ${v.leader_paddle}`;
    this.fields.next.textContent = isFinal(v.status) ? "—" : money(v.next_minimum, currency);
    this.fields.reserve.textContent = v.bid_count ? (v.reserve_met ? "Met" : "Not met") : "—";
    this.fields.bids.textContent = `${v.bid_count}${v.extensions ? ` · extended ${v.extensions}×` : ""}`;
    this.renderYou(v, mine);
    this.renderForm(v);
    this.tick(nowMs);
    const watched = this.room.watched(this.lot.listing.lot);
    this.watch.setAttribute("aria-pressed", String(watched));
    this.watch.textContent = watched ? "Watching" : "Watch";
    this.element.classList.toggle("watched", watched);
  }

  renderYou(v, mine) {
    let text = "";
    let kind = "";
    if (mine !== null && this.lot.mine) {
      if (v.status === "sold") [text, kind] = v.leader_paddle === mine ? ["You won this lot.", "lead"] : ["Sold to another bidder.", "outbid"];
      else if (isFinal(v.status)) [text, kind] = ["This lot was not sold.", ""];
      else if (v.leader_paddle === mine) [text, kind] = ["You lead.", "lead"];
      else [text, kind] = [`You have been outbid. The next bid is at least ${money(v.next_minimum, this.room.currency)}.`, "outbid"];
    } else if (mine !== null && v.leader_paddle === mine) {
      [text, kind] = [v.status === "sold" ? "You won this lot." : "You lead.", "lead"];
    }
    this.you.textContent = text;
    this.you.className = `you${kind ? ` you-${kind}` : ""}`;
    this.element.dataset.you = kind;
  }

  renderForm(v) {
    const open = isOpen(v.status) && this.room.canBid();
    this.form.hidden = !open;
    if (!open) {
      this.confirmBox.hidden = true;
      this.confirming = null;
      return;
    }
    const mine = this.room.myPaddle();
    if (this.room.isLive) {
      const leading = v.leader_paddle === mine;
      this.bidButton.disabled = leading || Boolean(this.lot.pending);
      this.bidButton.textContent = leading ? "You lead" : `Bid ${money(v.next_minimum, this.room.currency)}`;
      if (leading) this.total.textContent = "";
      else this.preview();
      return;
    }
    const typed = parseMoney(this.amount.value, this.room.currency);
    if (document.activeElement !== this.amount && (typed === null || typed < BigInt(v.next_minimum))) {
      this.amount.value = units(v.next_minimum, this.room.currency);  // follow the price unless they are typing
    }
    this.bidButton.textContent = v.leader_paddle === mine ? "Bid (you lead: raise your maximum instead)" : "Bid";
    this.bidButton.disabled = v.leader_paddle === mine;
    this.preview();
  }

  tick(nowMs) {
    const v = this.lot.view;
    const field = this.fields.countdown;
    if (this.room.isLive) {
      field.textContent = ["open", "fair_warning", "paused"].includes(v.status) ? "Now" : isFinal(v.status) ? "—" : "Not yet";
      return;
    }
    if (isFinal(v.status)) {
      field.textContent = "Closed";
    } else if (v.status === "scheduled") {
      field.textContent = v.start_ms > nowMs ? `Opens in ${countdown(v.start_ms - nowMs)}` : "Opening…";
    } else {
      const left = v.end_ms - nowMs;
      field.textContent = left > 0 ? countdown(left) : "Closing…";
      field.classList.toggle("ending", left > 0 && left < ENDING_SOON_MS);
    }
  }

  showAnswer(text, kind) {
    this.answer.textContent = text;
    this.answer.className = `answer answer-${kind}`;
    this.answer.dataset.kind = kind;
  }

  showBanner(text, kind = "warn") {
    this.banner.textContent = text || "";
    this.banner.hidden = !text;
    this.banner.className = `banner${kind === "ok" ? " banner-ok" : kind === "bad" ? " banner-bad" : ""}`;
  }

  renderLog() {
    const seqs = [...this.lot.log.keys()].sort((a, b) => a - b);
    replace(this.logList, seqs.map((seq) => h("li", {value: seq, dataset: {seq: String(seq)}}, this.lot.log.get(seq))));
    this.logCount.textContent = String(seqs.length);
  }

  flash() {
    this.element.classList.remove("flash");
    void this.element.offsetWidth;  // restart the animation
    this.element.classList.add("flash");
  }

  toggleWatch() {
    this.room.toggleWatch(this.lot.listing.lot);
    this.render(this.room.now());
  }
}
