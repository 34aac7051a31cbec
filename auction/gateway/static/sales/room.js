// The bidder's room (/sales/{sale}): the sale's lots with their stones, live over the feed; for a registered
// buyer, bids and maximum bids with the premium-inclusive total shown before they confirm; a watch list; for a
// live sale the lot on the block, the ask, fair warning, the hammer and "another bid was taken". Anyone may
// watch; a consignor sees their own lots live, and the house's staff the record form of the feed.
import {api, ApiError, OPERATOR_ROLES} from "../js/api.js";
import {clock} from "../js/clock.js";
import {h, replace} from "../js/dom.js";
import {Feed} from "../js/feed.js";
import {money, plural, units, when} from "../js/format.js";
import {rateText} from "../js/premium.js";
import {saleStatus, SALE_STATUS_LABEL} from "../js/sales.js";
import {mount} from "../js/shell.js";
import {LotCard} from "./card.js";
import {TenderRoom} from "./tender.js";
import {applyEvent, applyView, describe, isFinal, logEvent, newLot} from "./lot-state.js";

const HISTORY_LIMIT = 1000;  // the API's most per request: a lot's whole history in practice
const CONNECTION_TEXT = {
  connecting: "Connecting…",
  live: "Live",
  reconnecting: "Reconnecting… updates paused",
  offline: "Offline: waiting for the network",
};

const REASONS = {
  too_low: "Too low",
  lot_not_open: "The lot is not open for bids",
  too_late: "Too late: the lot had closed when your bid arrived",
  lot_closed: "The lot is closed",
  already_leading: "You already lead: raise your maximum instead",
  max_not_raised: "A new maximum must be at least one step above your current one",
  not_allowed: "You may not bid here",
  busy: "The server is busy: try again in a moment",
  not_registered: "You are not registered for this sale",
  not_approved: "Your company is not approved to bid",
  approval_expired: "Your company's approval has expired",
  suspended: "Your company is suspended",
  deposit_missing: "Your deposit has not been received yet",
  own_lot: "You may not bid on a lot of your own or of a linked consignor",
  over_limit: "This bid would take you over your bidding limit for the sale",
  another_bid_taken: "Another bid was taken at that price",
  not_the_ask: "Bids are taken at the ask only",
};

class Room {
  constructor(sale, detail, entries, me, registration) {
    this.sale = sale;
    this.detail = detail;
    this.me = me;
    this.registration = registration;
    this.currency = detail.sale.currency;
    this.schedule = detail.settings.premium;
    this.isLive = detail.sale.format === "live";
    this.role = me ? me.role : "anonymous";
    this.lots = new Map(entries.map((entry) => [entry.listing.lot, newLot(entry)]));
    this.cards = new Map();
    this.watchKey = `auction.watch.${sale}`;
    this.watchList = new Set(this.loadWatchList());
    this.refreshTimers = new Map();
    this.feed = null;
  }

  // ---- what the cards ask of the room --------------------------------------------------------------------------

  now() {
    return clock.now();
  }

  myPaddle() {
    return this.registration && this.registration.status === "approved" ? this.registration.paddle : null;
  }

  canBid() {
    return this.role === "buyer" && this.myPaddle() !== null;
  }

  registrationChanged() {  // approved while the page was open: the bid forms appear without a reload
    for (const card of this.cards.values()) card.render(this.now());
  }

  watched(lot) {
    return this.watchList.has(lot);
  }

  loadWatchList() {
    try {
      const saved = JSON.parse(localStorage.getItem(this.watchKey) || "[]");
      return Array.isArray(saved) ? saved.filter(Number.isInteger) : [];
    } catch {
      return [];
    }
  }

  toggleWatch(lot) {
    if (this.watchList.has(lot)) this.watchList.delete(lot);
    else this.watchList.add(lot);
    try {
      localStorage.setItem(this.watchKey, JSON.stringify([...this.watchList]));
    } catch {
      // storage full or refused: the list lasts for this page
    }
    this.filter();
  }

  async placeBid(card, kind, amount) {
    const lot = card.lot;
    const sent = this.feed.state === "live" ? "Sent: waiting for the server's answer…"
      : "Waiting to send: the connection is down; it goes as soon as it is back…";
    card.showAnswer(sent, "pending");
    const {clientId, answer} = this.feed.bid(this.sale, lot.listing.lot, Number(amount), kind);
    lot.pending = {clientId, kind, amount};
    card.render(this.now());
    const reply = await answer;
    lot.pending = null;
    this.answered(card, kind, reply);
    card.render(this.now());
  }

  answered(card, kind, reply) {
    const lot = card.lot;
    const currency = this.currency;
    if (reply.type === "ack") {
      lot.mine = true;
      const max = kind === "max_bid" ? ` Your maximum: ${money(reply.your_max, currency)}.` : "";
      if (reply.leading) card.showAnswer(`Accepted: you lead at ${money(reply.price, currency)}.${max}`, "ok");
      else card.showAnswer(`Accepted, but another bidder's maximum is higher: the price is ${money(reply.price, currency)}.${max}`, "bad");
    } else if (reply.type === "bid_waiting") {
      lot.mine = true;
      lot.waiting = reply.amount;
      card.showAnswer(`Received: your bid of ${money(reply.amount, currency)} is waiting for the clerk.`, "pending");
    } else if (reply.type === "rejected") {
      const next = reply.next_amount ? ` The least you can bid now is ${money(reply.next_amount, currency)}.` : "";
      card.showAnswer(`Not accepted: ${REASONS[reply.reason] || reply.reason}.${next}`, "bad");
      if (reply.next_amount && !this.isLive) card.amount.value = units(reply.next_amount, currency);  // ready to send
    } else {
      card.showAnswer(`Not sent: ${reply.message}`, "bad");
    }
  }

  // ---- the feed ------------------------------------------------------------------------------------------------

  onFrame(frame) {
    const lot = this.lots.get(frame.lot);
    if (!lot || frame.sale !== this.sale) return;
    const card = this.cards.get(frame.lot);
    if (frame.type === "snapshot" || frame.type === "record_snapshot") {
      const before = lot.view.seq;
      applyView(lot, frame.lot_state);
      lot.snapshots = (lot.snapshots || 0) + 1;  // the first is the subscription's; more mean a resume fell back
      card.element.dataset.snapshots = String(lot.snapshots);
      if (before && frame.lot_state.seq > before + 1) this.fillLog(lot, card, before);  // resynchronised
    } else if (frame.type === "event") {
      this.onEvent(lot, card, frame.event);
    } else if (frame.type === "record") {
      logEvent(lot, frame.seq, `Recorded: ${frame.event.type}`);
      lot.view.seq = frame.seq;
      this.refreshSoon(lot);
    }
    card.render(this.now());
    card.renderLog();
    this.renderSale();
  }

  onEvent(lot, card, event) {
    const before = lot.view.price;
    const mine = this.myPaddle();
    const wasLeading = mine !== null && lot.view.leader_paddle === mine;
    const {note} = applyEvent(lot, event);
    logEvent(lot, event.seq, describe(event, (amount) => money(amount, this.currency)));
    if (lot.view.price !== before) card.flash();
    if (event.type === "bid" && mine !== null && event.paddle === mine) {
      lot.mine = true;
      if (lot.waiting !== undefined) {
        card.showAnswer(`Taken: you lead at ${money(event.amount, this.currency)}.`, "ok");
        lot.waiting = undefined;
      }
    }
    this.banners(lot, card, event, note, mine);
    if (wasLeading && lot.view.leader_paddle !== mine && !isFinal(lot.view.status)) {
      this.announce(`Lot ${lot.listing.lot}: you have been outbid. The next bid is at least ${money(lot.view.next_minimum, this.currency)}.`);
    }
  }

  banners(lot, card, event, note, mine) {
    const currency = this.currency;
    switch (event.type) {
      case "fair_warning": card.showBanner("Fair warning: the hammer is about to fall."); break;
      case "paused": card.showBanner("Paused by the auctioneer."); break;
      case "resumed": card.showBanner(""); break;
      case "reopened": card.showBanner("Reopened: bidding again."); break;
      case "bid":  // a new bid ends fair warning; "another bid was taken" stays for the bid that took the ask
        if (!(lot.declinedSeq && event.seq === lot.declinedSeq + 1)) card.showBanner("");
        break;
      case "undone": card.showBanner(`The last bid (paddle ${note.undone}) was taken back: ${money(event.price, currency)} stands.`); break;
      case "sold": {
        const won = mine !== null && event.paddle === mine;
        card.showBanner(won ? `Sold to you for ${money(event.hammer, currency)}.` : `Sold for ${money(event.hammer, currency)} to paddle ${event.paddle}.`, won ? "ok" : "warn");
        if (won) this.announce(`You won lot ${lot.listing.lot} for ${money(event.hammer, currency)}.`);
        break;
      }
      case "passed": card.showBanner("Passed: not sold."); break;
      case "withdrawn": card.showBanner("Withdrawn from the sale."); break;
      case "declined":
        if (mine !== null && note.declined === mine) {
          lot.declinedSeq = event.seq;
          const text = note.why === "another_bid_taken" ? "Another bid was taken: yours was not. Bid again at the new ask."
            : note.why === "too_late" ? "Your bid came after the hammer." : "The clerk declined your bid.";
          card.showBanner(text, "bad");
          card.showAnswer(`Not taken: ${text}`, "bad");
          lot.waiting = undefined;
        }
        break;
      default: break;
    }
  }

  refreshSoon(lot) {
    // An operator's record frames carry the engine's own events; the public view of the lot is read once they
    // settle, rather than re-deriving it here from every kind of record.
    clearTimeout(this.refreshTimers.get(lot.listing.lot));
    this.refreshTimers.set(lot.listing.lot, setTimeout(async () => {
      try {
        const entry = await api("GET", `/api/sales/${this.sale}/lots/${lot.listing.lot}`);
        if (entry.live && entry.live.seq >= lot.view.seq) applyView(lot, entry.live);
        this.cards.get(lot.listing.lot).render(this.now());
        this.renderSale();
      } catch {
        // the next record frame tries again
      }
    }, 150));
  }

  async fillLog(lot, card, after) {
    // The events a lot's history holds: for the log only (the state comes from the feed), so that the log shows
    // every event of the lot, including those a snapshot summed up after a long drop.
    try {
      const page = await api("GET", `/api/sales/${this.sale}/lots/${lot.listing.lot}/events`, undefined,
        {query: {after, limit: HISTORY_LIMIT}});
      const mine = this.myPaddle();
      for (const event of page.events) {
        if (!lot.log.has(event.seq)) logEvent(lot, event.seq, describe(event, (amount) => money(amount, this.currency)));
        if (event.type === "bid" && mine !== null && event.paddle === mine) lot.mine = true;
      }
      card.render(this.now());
      card.renderLog();
    } catch {
      // the log lacks the older events; the lot's state is whole regardless
    }
  }

  // ---- the page ------------------------------------------------------------------------------------------------

  announce(text) {
    this.shell.announce(text);
  }

  onState(state) {
    const element = document.getElementById("connection");
    element.textContent = CONNECTION_TEXT[state] || state;
    element.className = `conn conn-${state}`;
    element.dataset.state = state;
  }

  renderSale() {
    const entries = [...this.lots.values()].map((lot) => ({listing: lot.listing, live: lot.view}));
    const status = saleStatus(this.detail.sale, entries, this.now());
    const badge = document.getElementById("sale-status");
    badge.hidden = false;
    badge.textContent = SALE_STATUS_LABEL[status];
    badge.className = `badge badge-${status}`;
    badge.dataset.status = status;
    if (this.isLive) this.renderBlock();
  }

  renderBlock() {
    const panel = document.getElementById("on-block");
    const onBlock = [...this.lots.values()].find((lot) => ["open", "fair_warning", "paused"].includes(lot.view.status));
    for (const [no, card] of this.cards) card.element.classList.toggle("on-block", onBlock !== undefined && onBlock.listing.lot === no);
    if (!onBlock) {
      replace(panel, h("h2", {}, "On the block"), h("p", {}, "No lot is being sold right now."));
      panel.hidden = false;
      return;
    }
    const v = onBlock.view;
    const state = v.status === "fair_warning" ? "Fair warning!" : v.status === "paused" ? "Paused" : "Bidding";
    replace(panel,
      h("h2", {}, "On the block: ", h("a", {href: `#lot-${onBlock.listing.lot}`}, `Lot ${onBlock.listing.lot}, ${onBlock.listing.title}`)),
      h("p", {dataset: {field: "block-state"}, class: v.status === "fair_warning" ? "banner" : ""}, state),
      h("p", {}, "Asking ", h("strong", {dataset: {field: "ask"}}, money(v.next_minimum, this.currency)),
        v.bid_count ? ` · ${money(v.price, this.currency)} bid by paddle ${v.leader_paddle}` : " · no bids yet"));
    panel.hidden = false;
  }

  filter() {
    const only = document.getElementById("only-watched").checked;
    let shown = 0;
    for (const [no, card] of this.cards) {
      const visible = !only || this.watchList.has(no);
      card.element.hidden = !visible;
      if (visible) shown += 1;
    }
    document.getElementById("lot-count").textContent = only
      ? `${plural(shown, "lot")} on your watch list` : plural(this.cards.size, "lot");
  }

  build() {
    const container = document.getElementById("lots");
    for (const [no, lot] of this.lots) {
      const card = new LotCard(lot, this);
      this.cards.set(no, card);
      container.appendChild(card.element);
      card.render(this.now());
    }
    document.getElementById("tools").hidden = false;
    document.getElementById("only-watched").addEventListener("change", () => this.filter());
    this.filter();
    this.renderSale();
    clock.onTick((now) => this.cards.forEach((card) => card.tick(now)));
  }

  watchFeed() {
    const subscribeTo = this.feedLots();
    this.feed = new Feed({
      onState: (state) => this.onState(state),
      onFrame: (frame) => this.onFrame(frame),
      onWelcome: (frame) => clock.observe(frame.server_ms),
      onError: (frame) => this.shell.setStatus(`The live feed said: ${frame.message}`, "error"),
    });
    if (subscribeTo === undefined) {
      this.onState("live");
      document.getElementById("connection").textContent = "No live updates: none of these lots is yours";
      return;
    }
    this.feed.subscribe(this.sale, subscribeTo);
    this.feed.connect();
  }

  feedLots() {
    // What this role may watch: a consignor only their own lots (undefined: none here, so no subscription).
    if (this.role !== "consignor") return null;
    const own = [...this.lots.values()].filter((lot) => lot.listing.consignor_id === this.me.consignor_id);
    return own.length ? own.map((lot) => lot.listing.lot) : undefined;
  }

  async loadHistories() {
    const queue = [...this.lots.values()];
    const next = async () => {
      for (let lot = queue.shift(); lot; lot = queue.shift()) await this.fillLog(lot, this.cards.get(lot.listing.lot), 0);
    };
    await Promise.all([next(), next(), next(), next()]);
  }
}

// ---- the bidder's panel: registration, paddle, role notes ------------------------------------------------------

async function registrationOf(sale, me) {
  if (!me || me.role !== "buyer") return null;
  try {
    const rows = await api("GET", `/api/sales/${sale}/registrations`);
    return rows.find((row) => row.company === me.company_id) || null;
  } catch {
    return null;
  }
}

function bidderPanel(room) {
  const panel = document.getElementById("bidder");
  const role = room.role;
  const reg = room.registration;
  let body;
  if (role === "anonymous") {
    const next = encodeURIComponent(location.pathname);
    body = [h("p", {}, "You are watching. ", h("a", {href: `/sign-in?next=${next}`}, "Sign in"), " to bid, or ",
      h("a", {href: "/apply"}, "apply to bid"), " if your company is new to us.")];
  } else if (role === "consignor") {
    body = [h("p", {}, "You see your own lots live: bids by paddle and whether the reserve is met.")];
  } else if (OPERATOR_ROLES.includes(role)) {
    body = [h("p", {}, "You see the house's view of this sale. Run it from the ", h("a", {href: "/console"}, "console"), ".")];
  } else if (reg && reg.status === "approved") {
    const limit = reg.limit ? ` Your bidding limit, premium included: ${money(reg.limit, room.currency)}.` : "";
    body = [h("p", {dataset: {field: "paddle"}}, h("strong", {}, `Your paddle: ${reg.paddle}.`), limit)];
  } else if (reg && reg.status === "requested") {
    body = [h("p", {dataset: {field: "registration"}}, "Your registration is waiting for the house's approval. You can bid once it is approved.")];
    awaitDecision(room);
  } else if (reg && reg.status === "refused") {
    body = [h("p", {dataset: {field: "registration"}}, `Your registration was refused${reg.reason ? `: ${reg.reason}` : ""}.`)];
  } else {
    const button = h("button", {type: "button", id: "register"}, "Register to bid in this sale");
    const result = h("p", {role: "status", dataset: {field: "registration"}});
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        room.registration = await api("POST", `/api/sales/${room.sale}/registrations`);
        bidderPanel(room);
        document.getElementById("bidder").focus();
      } catch (exc) {
        result.textContent = exc instanceof ApiError ? `Registration refused: ${exc.message}` : String(exc);
        button.disabled = false;
      }
    });
    body = [h("p", {}, "To bid, register your company for this sale. The house approves it with a paddle number and a limit."), button, result];
  }
  if (role === "buyer") {
    body.push(h("p", {}, "Your invoices, payments due and shipments are in ", h("a", {href: "/account"}, "your account"), "."));
  }
  const rates = h("p", {class: "muted"}, `Buyer's premium on the hammer price: ${rateText(room.schedule, (amount) => money(amount, room.currency))}. ` +
    "Every bid shows what you would pay with it before you confirm.");
  replace(panel, h("h2", {}, "Your bidding"), ...body, rates);
  panel.tabIndex = -1;
  panel.hidden = false;
}

const DECISION_POLL_MS = 5_000;

// The house decides on a registration while the buyer may be watching: ask again every few seconds until it is
// decided, then show the paddle (or the refusal) and the bid forms, without a reload.
function awaitDecision(room) {
  if (room.decisionTimer) return;
  room.decisionTimer = setTimeout(async () => {
    room.decisionTimer = null;
    const now = await registrationOf(room.sale, room.me);
    if (now && now.status !== "requested") {
      room.registration = now;
      bidderPanel(room);
      if (room.registrationChanged) room.registrationChanged();
    } else {
      awaitDecision(room);
    }
  }, DECISION_POLL_MS);
}

function notFound(main, message) {
  replace(main, h("section", {class: "notice"}, h("h1", {}, "Sale not found"), h("p", {}, message),
    h("p", {}, h("a", {href: "/"}, "See all sales"))));
}

async function start() {
  const shell = await mount({title: "Sale room"});
  const raw = location.pathname.split("/")[2] || "";
  const sale = /^\d{1,15}$/.test(raw) ? Number(raw) : null;
  if (!sale) return notFound(shell.main, "This address does not name a sale.");
  let detail;
  let entries;
  try {
    [detail, entries] = await Promise.all([api("GET", `/api/sales/${sale}`), api("GET", `/api/sales/${sale}/lots`),
      clock.start()]);
  } catch (exc) {
    if (exc instanceof ApiError && exc.status === 404) return notFound(shell.main, `There is no sale ${sale}.`);
    shell.setStatus(`The sale could not be loaded: ${exc.message}`, "error");
    return;
  }
  document.title = `${detail.sale.name} · Sale room`;
  document.getElementById("sale-title").textContent = detail.sale.name;
  const kind = detail.sale.format === "live" ? "Live auction" : detail.sale.format === "timed" ? "Timed sale" : "Tender";
  document.getElementById("sale-meta").textContent =
    `${kind} · ${plural(entries.length, "lot")} · from ${when(detail.sale.starts_at_ms)} · prices in ${detail.sale.currency}, before the buyer's premium`;
  const registration = await registrationOf(sale, shell.me);
  if (detail.sale.format === "tender") {  // sealed bids: a room of its own (tender.js)
    const tender = new TenderRoom(sale, detail, entries, shell.me, registration);
    bidderPanel(tender);
    return tender.start(shell);
  }
  const room = new Room(sale, detail, entries, shell.me, registration);
  room.shell = shell;
  bidderPanel(room);
  room.build();
  room.watchFeed();
  window.auctionRoom = room;  // for a developer's console; nothing reads it
  await room.loadHistories();
}

start();
