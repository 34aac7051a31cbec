// The live rostrum, driven from the keyboard: the lot on the block with its ask, step, price, leader and where
// the lead came from (an online leader is someone the room can't see), the online bid waiting for the clerk,
// the commission bar, possible missed bids, how many are watching, the absentee book and the record feed.
//
// Every action has a key (shown on screen; rostrum_keys.js): digits type a paddle or an amount into the entry,
// Enter takes a floor bid for the paddle typed, F calls fair warning, H brings the hammer down, A accepts the
// online bid waiting... The auctioneer's view has every action; the clerk's only the console's jobs (bids from the
// room, online bids, undo): the others are not shown at all. The state shown is GET /api/sales/{sale}/rostrum,
// read again whenever the record feed (the websocket, record form) says the sale moved.

import {api} from "../js/api.js";
import {h, replace} from "../js/dom.js";
import {carats, money, parseMoney, plural, time} from "../js/format.js";
import {Feed} from "../js/feed.js";
import {lotStatusLabel} from "../js/sales.js";
import {roleLabel} from "../js/shell.js";
import {badge, errorText, loadSales, openConsole, queryInt, table} from "./common.js";
import {ACTIONS, ENTRY_KEY, actionForKey, actionsFor, refusalText} from "./rostrum_keys.js";

const ON_THE_BLOCK = ["open", "fair_warning", "paused"];
const FINAL = ["sold", "passed", "withdrawn"];
const FEED_KEPT = 200;  // record lines kept on screen
const CONFIRM_MS = 5000;  // a second H within this confirms a hammer over a waiting online bid
const STATUS_KIND = {open: "open", fair_warning: "fair_warning", paused: "paused", sold: "sold", passed: "passed",
  withdrawn: "withdrawn", scheduled: "scheduled"};

async function start(context) {
  const saleId = queryInt("sale");
  try {
    if (!saleId) return await chooseSale(context.main);
    const [detail, lots] = await Promise.all([api("GET", `/api/sales/${saleId}`), api("GET", `/api/sales/${saleId}/lots`)]);
    if (detail.sale.format !== "live") {
      replace(context.main, h("h1", {}, "Rostrum"),
        h("p", {class: "notice"}, `${detail.sale.name} is a ${detail.sale.format} sale: only a live sale has a rostrum.`),
        h("p", {}, h("a", {href: "/console/rostrum"}, "Choose a live sale")));
      return;
    }
    await new Rostrum(context, detail, lots).start();
  } catch (exc) {
    replace(context.main, h("h1", {}, "Rostrum"), h("p", {class: "status status-error"}, errorText(exc)));
  }
}

async function chooseSale(main) {
  const sales = await loadSales((s) => s.format === "live");
  replace(main, h("h1", {}, "Rostrum"), h("p", {}, "Choose the live sale to run."),
    sales.length
      ? h("ul", {class: "jobs"}, sales.map((s) => h("li", {}, h("a", {href: `?sale=${s.id}`}, `${s.name} (sale ${s.id})`))))
      : h("p", {class: "muted"}, "There is no live sale."));
}

class Rostrum {
  constructor(context, detail, lots) {
    this.ctx = context;
    this.role = context.role;
    this.sale = detail.sale;
    this.settings = detail.settings;
    this.currency = detail.sale.currency;
    this.listings = new Map(lots.map((entry) => [entry.listing.lot, entry.listing]));
    this.view = null;
    this.selected = null;  // the lot the keys act on while none is on the block
    this.confirmHammer = 0;
    this.reading = null;  // the view's read in flight
    this.stale = false;  // the feed moved while it was in flight: read again after it
    this.actions = actionsFor(this.role).filter((a) => !a.house || this.settings.live.house_bids);
    this.feed = new Feed({
      onState: (state) => this.connection(state),
      onFrame: (frame) => this.frame(frame),
      onError: (frame) => this.ctx.setStatus(errorText(frame), "error"),
    });
  }

  async start() {
    this.build();
    await this.refresh();
    this.feed.subscribe(this.sale.id);
    this.feed.connect();
    document.addEventListener("keydown", (event) => this.key(event));
    this.entry.focus();
  }

  // ---- the page's parts, built once ----------------------------------------------------------------------------

  build() {
    const can = (message) => this.actions.some((a) => a.message === message);
    this.conn = h("span", {class: "conn conn-connecting", id: "connection"}, "Connecting");
    this.watching = h("span", {class: "watching", id: "watching", "aria-live": "polite"});
    this.blockTitle = h("h2", {id: "block-title"});
    this.figures = h("dl", {class: "figures", id: "figures"});
    this.banners = h("div", {class: "banners", id: "banners"});
    this.missed = h("div", {id: "missed", role: "alert"});
    this.entry = h("input", {id: "entry", name: "entry", inputmode: "decimal", autocomplete: "off", maxlength: 16,
      "aria-describedby": "entry-hint"});
    this.entryForm = h("form", {class: "entry", id: "entry-form", on: {submit: (e) => { e.preventDefault(); this.perform("floor"); }}},
      h("label", {for: "entry"}, "Paddle or amount"), this.entry,
      h("p", {class: "field-hint", id: "entry-hint"}, can("take_bid")
        ? "Type a paddle, then Enter for a floor bid or T for a phone bid."
        : "Type an amount, then K to set the ask, I the increment, O to open at it."));
    this.reasonBox = h("div", {id: "reason-box", hidden: true});
    this.buttons = h("div", {class: "rostrum-actions", id: "rostrum-actions", role: "group", "aria-label": "Rostrum actions"},
      this.actions.map((a) => h("button", {type: "button", class: "secondary", dataset: {action: a.action}, title: a.label,
        "aria-keyshortcuts": a.key, on: {click: () => this.perform(a.action)}},
      h("kbd", {"aria-hidden": "true"}, a.key === "Enter" ? "↵" : a.key), h("span", {}, a.button))));
    this.lots = h("div", {id: "lots"});
    this.book = h("div", {id: "book"});
    this.record = h("ol", {class: "record-feed", id: "record-feed", reversed: true});
    this.recordEmpty = h("p", {class: "muted"}, "What happens from now on, newest first.");
    const mine = this.role === "clerk"
      ? "You are the clerk: you take bids from the room, answer online bids and undo the newest bid; the auctioneer opens, warns and hammers."
      : "You run the rostrum: every action is yours.";
    replace(this.ctx.main,
      h("div", {class: "rostrum-head"},
        h("h1", {}, `Rostrum: ${this.sale.name}`), this.conn, this.watching, badge(roleLabel(this.role), "neutral")),
      h("p", {class: "muted"}, mine),
      h("div", {class: "rostrum"},
        h("section", {class: "panel block-panel", id: "block", "aria-labelledby": "block-title"},
          this.blockTitle, this.missed, this.banners, this.figures, this.entryForm, this.reasonBox, this.buttons,
          h("details", {class: "shortcuts", open: true}, h("summary", {}, "Keyboard shortcuts"),
            h("dl", {id: "shortcuts"}, this.actions.map((a) => [h("dt", {}, h("kbd", {}, a.key)), h("dd", {}, a.label)]),
              h("dt", {}, h("kbd", {}, "↑ ↓")), h("dd", {}, "Choose the lot, while none is on the block"),
              h("dt", {}, h("kbd", {}, "Esc")), h("dd", {}, "Clear the entry")))),
        h("div", {class: "rostrum-side"},
          h("section", {class: "panel", "aria-labelledby": "lots-title"}, h("h2", {id: "lots-title"}, "Lots"), this.lots),
          h("section", {class: "panel", "aria-labelledby": "book-title"}, h("h2", {id: "book-title"}, "Absentee book"), this.book),
          h("section", {class: "panel", "aria-labelledby": "record-title"}, h("h2", {id: "record-title"}, "Record"), this.recordEmpty, this.record))));
  }

  // ---- reading the sale ----------------------------------------------------------------------------------------

  async refresh() {
    if (this.reading) {
      this.stale = true;
      return this.reading;
    }
    this.reading = (async () => {
      do {
        this.stale = false;
        try {
          this.view = await api("GET", `/api/sales/${this.sale.id}/rostrum`);
          // The lot on the block stays shown once it closes (its result, a possible missed bid, reopening),
          // until the auctioneer opens the next one or chooses another.
          if (this.view.on_block !== null) this.selected = this.view.on_block;
          this.render();
        } catch (exc) {
          this.ctx.setStatus(errorText(exc), "error");
        }
      } while (this.stale);
    })();
    try {
      await this.reading;
    } finally {
      this.reading = null;
    }
  }

  current() {
    if (!this.view) return null;
    const lots = this.view.lots;
    const number = this.view.on_block ?? this.selected ?? this.nextLot();
    return lots.find((l) => l.lot_state.lot === number) || lots[0] || null;
  }

  nextLot() {
    const lots = this.view.lots;
    const closed = lots.filter((l) => FINAL.includes(l.lot_state.status)).map((l) => l.lot_state.lot);
    const last = closed.length ? Math.max(...closed) : 0;
    const next = lots.find((l) => l.lot_state.lot > last && !FINAL.includes(l.lot_state.status));
    return (next || lots.find((l) => !FINAL.includes(l.lot_state.status)) || lots[lots.length - 1] || {lot_state: {}}).lot_state.lot;
  }

  // ---- showing it ----------------------------------------------------------------------------------------------

  render() {
    const lot = this.current();
    this.watching.textContent = `${plural(this.view.watching, "watching", "watching")}`;
    if (!lot) {
      replace(this.blockTitle, "No lots");
      return;
    }
    const state = lot.lot_state;
    const live = lot.live;
    const listing = this.listings.get(state.lot);
    const cur = this.currency;
    this.block().dataset.lot = state.lot;
    this.block().dataset.status = state.status;
    replace(this.blockTitle, `Lot ${state.lot}`, listing ? `: ${listing.title}` : "", " ",
      badge(lotStatusLabel(state.status), STATUS_KIND[state.status] || "neutral"),
      this.view.on_block === null ? h("span", {class: "muted"}, " (not on the block)") : null);
    const leader = state.leader_paddle === null ? "—" : `paddle ${state.leader_paddle}`;
    const figure = (label, value, id, extra = null) => h("div", {class: "figure", id}, h("dt", {}, label), h("dd", {}, value, extra));
    replace(this.figures,
      figure("Ask", money(live.ask, cur), "fig-ask"),
      figure("Increment", money(live.increment, cur), "fig-increment"),
      figure(FINAL.includes(state.status) && state.status === "sold" ? "Hammer" : "Price", money(state.price, cur), "fig-price"),
      figure("Leader", leader, "fig-leader", live.lead_source
        ? h("span", {class: `source source-${live.lead_source}`}, ` ${live.lead_source === "online" ? "ONLINE" : live.lead_source}`) : null),
      figure("Reserve", `${money(lot.reserve, cur)} ${state.reserve_met ? "(met)" : "(not met)"}`, "fig-reserve"),
      figure("Bids", String(state.bid_count), "fig-bids"),
      figure("Commission bar", live.commission_bar
        ? `paddle ${live.commission_bar.paddle} up to ${money(live.commission_bar.max_amount, cur)}` : "none", "fig-bar"),
      listing ? figure("Stone", `${carats(listing.diamond.carat_points)} ${listing.diamond.shape}`, "fig-stone") : null);
    const banners = [];
    if (live.waiting) {
      banners.push(h("p", {class: "banner", id: "waiting-banner"},
        `Online bid waiting: paddle ${live.waiting.paddle} at ${money(live.waiting.amount, cur)}. `,
        this.can("accept_online_bid") ? "A accepts it, D declines it." : ""));
    }
    if (live.lead_source === "online" && ON_THE_BLOCK.includes(state.status)) {
      banners.push(h("p", {class: "banner banner-ok", id: "online-lead"}, `An online bidder leads (paddle ${state.leader_paddle}): not in the room.`));
    }
    if (state.status === "paused") banners.push(h("p", {class: "banner", id: "paused-banner"}, "The lot is paused: P resumes it."));
    if (this.view.on_block === null && FINAL.includes(state.status) && this.can("open_lot")) {
      const next = this.nextLot();
      if (next !== state.lot) banners.push(h("p", {class: "banner banner-ok", id: "next-banner"}, `Next: lot ${next}. O opens it.`));
    }
    replace(this.banners, banners);
    replace(this.missed, live.missed.length
      ? h("p", {class: "banner banner-bad", id: "missed-banner"},
        `Possible missed bid${live.missed.length > 1 ? "s" : ""}: `,
        live.missed.map((m) => `paddle ${m.paddle} at ${money(m.amount, cur)}, ${(m.after_hammer_ms / 1000).toFixed(1)} s after the hammer`).join("; "),
        this.can("reopen_lot") ? ". R reopens the lot." : ".")
      : null);
    this.renderButtons(lot);
    this.renderLots();
    this.renderBook(lot);
  }

  block() {
    return document.getElementById("block");
  }

  renderButtons(lot) {
    const state = lot.lot_state;
    const onBlock = this.view.on_block !== null;
    const enabled = {
      open: !onBlock && this.view.lots.some((l) => !FINAL.includes(l.lot_state.status)),
      floor: ON_THE_BLOCK.includes(state.status), phone: ON_THE_BLOCK.includes(state.status), house: ON_THE_BLOCK.includes(state.status),
      accept: Boolean(lot.live.waiting), decline: Boolean(lot.live.waiting),
      undo: ON_THE_BLOCK.includes(state.status) && state.bid_count > 0,
      ask: ON_THE_BLOCK.includes(state.status), increment: ON_THE_BLOCK.includes(state.status),
      fair_warning: state.status === "open", hammer: ["open", "fair_warning"].includes(state.status),
      pass: ON_THE_BLOCK.includes(state.status), pause: ON_THE_BLOCK.includes(state.status),
      reopen: !onBlock && ["sold", "passed"].includes(state.status),
      withdraw: !FINAL.includes(state.status),
    };
    for (const button of this.buttons.querySelectorAll("button")) {
      button.disabled = !enabled[button.dataset.action];
      if (button.dataset.action === "pause") {
        button.lastChild.textContent = state.status === "paused" ? "Resume" : "Pause";
      }
    }
  }

  renderLots() {
    const cur = this.currency;
    const current = this.current();
    replace(this.lots, table({
      caption: "Lots of the sale",
      rows: this.view.lots.map((l) => ({...l, __data: {lot: l.lot_state.lot, status: l.lot_state.status}})),
      columns: [
        {label: "Lot", num: true, cell: (l) => String(l.lot_state.lot)},
        {label: "Title", cell: (l) => (this.listings.get(l.lot_state.lot) || {title: ""}).title},
        {label: "Status", cell: (l) => badge(lotStatusLabel(l.lot_state.status), STATUS_KIND[l.lot_state.status] || "neutral")},
        {label: "Price", num: true, cell: (l) => (l.lot_state.bid_count ? money(l.lot_state.price, cur) : "")},
        {label: "Leader", cell: (l) => (l.lot_state.leader_paddle === null ? "" : `paddle ${l.lot_state.leader_paddle}`)},
        {label: "", cell: (l) => (current && l.lot_state.lot === current.lot_state.lot
          ? h("span", {class: "muted"}, "shown")
          : h("button", {type: "button", class: "link-button", disabled: this.view.on_block !== null,
            on: {click: () => this.select(l.lot_state.lot)}}, `Show lot ${l.lot_state.lot}`))},
      ],
    }));
  }

  renderBook(lot) {
    const cur = this.currency;
    replace(this.book, table({
      caption: `Absentee book of lot ${lot.lot_state.lot}`, empty: "No commission bids on this lot.",
      rows: lot.live.absentees,
      columns: [
        {label: "Paddle", num: true, cell: (a) => String(a.paddle)},
        {label: "Up to", num: true, cell: (a) => money(a.max_amount, cur)},
        {label: "", cell: (a) => (lot.live.commission_bar && lot.live.commission_bar.paddle === a.paddle ? badge("the bar", "waiting") : "")},
      ],
    }));
  }

  select(number) {
    if (this.view.on_block !== null) return;
    this.selected = number;
    this.render();
  }

  step(by) {
    if (!this.view || this.view.on_block !== null) return;
    const numbers = this.view.lots.map((l) => l.lot_state.lot);
    const at = numbers.indexOf(this.current().lot_state.lot);
    const next = numbers[Math.min(numbers.length - 1, Math.max(0, at + by))];
    this.select(next);
    this.ctx.announce(`Lot ${next} shown.`);
  }

  can(message) {
    return this.actions.some((a) => a.message === message);
  }

  // ---- the feed -----------------------------------------------------------------------------------------------

  connection(state) {
    const words = {connecting: "Connecting", live: "Live", reconnecting: "Reconnecting…", offline: "Offline"};
    this.conn.className = `conn conn-${state}`;
    this.conn.textContent = words[state] || state;
    if (state === "live") this.refresh();
  }

  frame(frame) {
    if (frame.type === "record") this.note(frame);
    if (frame.type === "record" || frame.type === "record_snapshot") this.refresh();
  }

  note(frame) {
    const text = describe(frame.event, this.currency);
    if (!text) return;
    this.recordEmpty.hidden = true;
    this.record.prepend(h("li", {dataset: {lot: frame.lot, seq: frame.seq, type: frame.event.type}},
      h("time", {}, time(frame.event.at_ms)), ` Lot ${frame.lot}: ${text}`));
    while (this.record.children.length > FEED_KEPT) this.record.lastChild.remove();
  }

  // ---- the keyboard -------------------------------------------------------------------------------------------

  key(event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
    const target = event.target;
    const typing = target instanceof HTMLElement && target.matches("input, textarea, select") && target !== this.entry;
    if (typing) {
      if (event.key === "Escape" && this.reasonBox.contains(target)) this.closeReason();
      return;
    }
    if (ENTRY_KEY.test(event.key)) {
      if (target !== this.entry) {
        event.preventDefault();
        this.entry.value += event.key;
        this.entry.focus();
      }
      return;
    }
    if (event.key === "Backspace" || event.key === "Delete") {
      if (target !== this.entry) {
        event.preventDefault();
        this.entry.value = this.entry.value.slice(0, -1);
      }
      return;
    }
    if (event.key === "Escape") {
      this.entry.value = "";
      this.confirmHammer = 0;
      return;
    }
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      if (target === this.entry || target === document.body) {
        event.preventDefault();
        this.step(event.key === "ArrowDown" ? 1 : -1);
      }
      return;
    }
    if (event.key === "Enter") return;  // in the entry, its form takes the floor bid; on a button, the button's own
    const action = actionForKey(event.key, this.role);
    if (!action || (action.house && !this.settings.live.house_bids)) return;
    event.preventDefault();
    this.perform(action.action);
  }

  // ---- acting -------------------------------------------------------------------------------------------------

  async perform(name) {
    const action = ACTIONS.find((a) => a.action === name);
    if (!action || !this.actions.includes(action) || !this.view) return;
    const lot = this.current();
    const state = lot.lot_state;
    const base = {sale: this.sale.id, lot: state.lot};
    let frame;
    switch (name) {
      case "floor": case "phone": case "house": {
        const paddle = this.paddle();
        if (paddle === null) return;
        frame = {type: "take_bid", ...base, paddle, source: name};
        break;
      }
      case "open": {  // the lot shown, or after a hammer the next one
        const ask = this.entry.value.trim() ? this.amount() : null;
        if (ask === undefined) return;
        const number = FINAL.includes(state.status) ? this.nextLot() : state.lot;
        frame = {type: "open_lot", ...base, lot: number, ask};
        break;
      }
      case "ask": case "increment": {
        const amount = this.amount();
        if (amount === undefined || amount === null) return;
        frame = {type: name === "ask" ? "set_ask" : "set_increment", ...base, amount};
        break;
      }
      case "hammer":
        if (lot.live.waiting && Date.now() - this.confirmHammer > CONFIRM_MS) {
          this.confirmHammer = Date.now();
          this.ctx.setStatus(`An online bid is waiting (paddle ${lot.live.waiting.paddle}): accept or decline it, `
            + "or press H again to hammer over it.", "error");
          return;
        }
        this.confirmHammer = 0;
        frame = {type: "hammer", ...base};
        break;
      case "pause":
        frame = state.status === "paused" ? {type: "resume_lot", ...base} : {type: "pause_lot", ...base, reason: ""};
        break;
      case "reopen": case "withdraw":
        this.askReason(action, base, lot);
        return;
      default:
        frame = {type: action.message, ...base};
    }
    await this.send(frame, action);
  }

  paddle() {
    const text = this.entry.value.trim();
    if (!/^\d{1,6}$/.test(text) || Number(text) < 1) {
      this.ctx.setStatus("Type the paddle number first (digits), then the key.", "error");
      this.entry.focus();
      return null;
    }
    return Number(text);
  }

  amount() {
    const value = parseMoney(this.entry.value, this.currency);
    if (value === null || value <= 0n) {
      this.ctx.setStatus(`Type an amount in ${this.currency} first (e.g. 1500), then the key.`, "error");
      this.entry.focus();
      return undefined;
    }
    return Number(value);
  }

  askReason(action, base, lot) {
    const reason = h("input", {id: "reason", name: "reason", maxlength: 500, required: true, minlength: 1, autocomplete: "off",
      value: action.action === "reopen" && lot.live.missed.length ? "a possible missed online bid" : ""});
    const form = h("form", {class: "form reason-form", on: {submit: async (e) => {
      e.preventDefault();
      if (!reason.value.trim()) return;
      this.closeReason();
      await this.send({type: action.message, ...base, reason: reason.value.trim()}, action);
    }}},
    h("label", {for: "reason"}, `${action.label}: the reason (on the record)`), reason,
    h("div", {class: "actions"}, h("button", {type: "submit"}, action.action === "reopen" ? "Reopen" : "Withdraw"),
      h("button", {type: "button", class: "secondary", on: {click: () => this.closeReason()}}, "Cancel (Esc)")));
    replace(this.reasonBox, form);
    this.reasonBox.hidden = false;
    reason.focus();
    reason.select();
  }

  closeReason() {
    replace(this.reasonBox);
    this.reasonBox.hidden = true;
    this.entry.focus();
  }

  async send(frame, action) {
    this.ctx.setStatus(`${action.label}: sent…`, "info");
    // What the entry held for this action: cleared once it is done, unless something new was typed meanwhile.
    const used = action.needs === "paddle" || action.needs === "amount" || frame.ask ? this.entry.value : null;
    const answer = await this.feed.request(frame);
    if (answer.type === "rostrum_ack") {
      if (used !== null && this.entry.value === used) this.entry.value = "";
      this.ctx.setStatus(`${done(frame)} (lot ${frame.lot})`, "ok");
    } else if (answer.type === "rostrum_refused") {
      this.ctx.setStatus(`Refused: ${refusalText(answer.reason)}`
        + (answer.next_amount ? ` (next: ${money(answer.next_amount, this.currency)})` : ""), "error");
    } else {
      this.ctx.setStatus(`Not done: ${answer.message}`, "error");
    }
    await this.refresh();
  }
}

function done(frame) {
  switch (frame.type) {
    case "take_bid": return `${frame.source === "phone" ? "Phone" : frame.source === "house" ? "House" : "Floor"} bid taken for paddle ${frame.paddle}`;
    case "open_lot": return "Lot opened";
    case "set_ask": return "Ask set";
    case "set_increment": return "Increment set";
    case "accept_online_bid": return "Online bid accepted";
    case "decline_online_bid": return "Online bid declined";
    case "fair_warning": return "Fair warning called";
    case "hammer": return "Hammer down";
    case "pass_lot": return "Lot passed";
    case "reopen_lot": return "Lot reopened";
    case "pause_lot": return "Lot paused";
    case "resume_lot": return "Lot resumed";
    case "undo_bid": return "Newest bid undone";
    case "withdraw_lot": return "Lot withdrawn";
    default: return "Done";
  }
}

// One record event in words, as the record has it (bidder ids, maximums, sources); "" for the ones not worth a line.
function describe(event, cur) {
  const m = (amount) => money(amount, cur);
  switch (event.type) {
    case "LotOpened": return `opened at ${m(event.ask)}`;
    case "BidAccepted": return `bid ${m(event.amount)}, paddle ${event.paddle} (${event.source}${event.kind === "max" ? `, maximum ${m(event.max_amount)}` : ""})`;
    case "ProxyBidPlaced": return `bid ${m(event.amount)} for paddle ${event.paddle} from their maximum`;
    case "MaxBidRaised": return `paddle ${event.paddle} raised their maximum to ${m(event.max_amount)}`;
    case "AbsenteeBidLeft": return `commission bid, paddle ${event.paddle} up to ${m(event.max_amount)}`;
    case "AskSet": return `ask ${m(event.ask)}`;
    case "IncrementChanged": return `increment ${m(event.increment)}, ask ${m(event.ask)}`;
    case "OnlineBidPending": return `online bid waiting, paddle ${event.paddle} at ${m(event.amount)}`;
    case "OnlineBidDeclined": return `online bid of paddle ${event.paddle} not taken (${event.reason.replaceAll("_", " ")})`;
    case "FairWarningCalled": return "fair warning";
    case "LotSold": return `SOLD to paddle ${event.paddle} at ${m(event.hammer)}`;
    case "LotPassed": return `passed${event.highest_bid ? ` at ${m(event.highest_bid)}` : ""}`;
    case "LotWithdrawn": return `withdrawn (${event.reason})`;
    case "LotReopened": return `reopened (${event.reason})`;
    case "LotPaused": return `paused${event.reason ? ` (${event.reason})` : ""}`;
    case "LotResumed": return "resumed";
    case "BidUndone": return `bid of paddle ${event.paddle} at ${m(event.amount)} undone; ${event.leader_paddle === null ? "no leader" : `paddle ${event.leader_paddle} leads at ${m(event.price)}`}`;
    case "LateBidNoted": return `possible missed bid: paddle ${event.paddle} at ${m(event.amount)}, ${(event.after_hammer_ms / 1000).toFixed(1)} s after the hammer`;
    case "BidsCancelled": return `bids of bidder ${event.bidder} cancelled (${event.reason})`;
    default: return event.type;
  }
}

// Last: the class above must be defined before the page starts.
const ctx = await openConsole({title: "Rostrum", path: "/console/rostrum"});
if (ctx) await start(ctx);
