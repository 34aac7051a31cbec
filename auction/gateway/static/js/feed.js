// The live channel (docs/PROTOCOL.md): one websocket to /ws that watches sales, resumes after a drop
// without missing or repeating an event, and carries bids and rostrum messages with their ids.
//
// Exports
//   new Feed({onState, onFrame, onWelcome, onError, url}) -> feed
//     onState(state)    "connecting" (the first time), "live" (welcomed and subscribed), "reconnecting" (after a
//                       drop, retrying with backoff), "offline" (the browser says it has no network)
//     onFrame(frame)    every snapshot, event, record_snapshot and record, in order per lot, each once:
//                       the feed drops a repeat (seq at or below the last) and, on a gap, reconnects and resumes
//                       from the last seq it delivered. A snapshot replaces the lot's state (also after a resume
//                       from further back than the server keeps: PROTOCOL.md "How long the server remembers").
//     onWelcome(frame)  the server's welcome: {role, bidder, server_ms}, after every (re)connection
//     onError(frame)    an `error` frame that answers no request (a refused subscribe, rate_limited, lagged)
//   feed.connect()                         opens the socket (again after close()); idempotent
//   feed.subscribe(sale, lots = null)      watch a sale (all lots, or these); kept and sent again on reconnect,
//                                          with `resume` from each lot's last seq
//   feed.unsubscribe(sale)
//   feed.lastSeq(sale, lot) -> number|undefined
//   feed.bid(sale, lot, amount, kind = "bid"|"max_bid") -> {clientId, answer: Promise<frame>}
//       the answer is the server's ack, rejected, bid_waiting or error naming the client_id. Until it comes the
//       bid is *sent*, not accepted; if the connection drops first it is sent again with the same client_id
//       after the reconnect (the server answers a resend with its first answer, so it never bids twice).
//       An `unavailable` error (outcome unknown) is resent the same way, a few times, before it is given back.
//   feed.request(frame) -> Promise<frame>  a rostrum message (request_id filled in if absent), answered by its
//       rostrum_ack, rostrum_refused or error; resent like bids
//   feed.quote(sale, lot, amount) -> Promise<{amount, premium, total}>
//   feed.close()                           closes for good (until connect())
//   feed.state, feed.role, feed.bidder    the connection's state and who the server says we are
//   newClientId(prefix = "w") -> string    a fresh id of the protocol's alphabet, unique across page loads

const MAX_DELAY_MS = 30000;
const FIRST_DELAY_MS = 500;
const PING_EVERY_MS = 15000;  // a `time` frame now and then: the clock's refresh, and a dead socket's detector
const SILENT_FOR_MS = 40000;  // nothing heard this long on an open socket: it is dead, reconnect
const UNAVAILABLE_RETRIES = 5;
const ANSWERS = new Set(["ack", "rejected", "bid_waiting", "rostrum_ack", "rostrum_refused", "error"]);
const LOT_FRAMES = new Set(["snapshot", "event", "record_snapshot", "record"]);

let idCounter = 0;
const pageTag = Math.random().toString(36).slice(2, 8);

export function newClientId(prefix = "w") {
  idCounter += 1;
  return `${prefix}-${pageTag}${Date.now().toString(36)}-${idCounter}`;
}

function key(sale, lot) {
  return `${sale}:${lot}`;
}

export class Feed {
  constructor({onState = () => {}, onFrame = () => {}, onWelcome = () => {}, onError = () => {}, url = null} = {}) {
    this.url = url || `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/ws`;
    this.onState = onState;
    this.onFrame = onFrame;
    this.onWelcome = onWelcome;
    this.onError = onError;
    this.state = "connecting";
    this.role = null;
    this.bidder = null;
    this.ws = null;
    this.wanted = false;
    this.everLive = false;
    this.attempts = 0;
    this.notBefore = 0;  // the server's retry hint, epoch ms
    this.retryTimer = null;
    this.pingTimer = null;
    this.lastHeard = 0;
    this.subscriptions = new Map();  // sale -> lots (null: all)
    this.seqs = new Map();  // "sale:lot" -> last seq delivered
    this.pending = new Map();  // client_id / request_id -> {frame, resolve, tries}
    this.quotes = [];  // [{frame, resolve}] in the order asked (a quote's answer carries no id)
    window.addEventListener("online", () => this.wanted && this.reconnectNow());
    window.addEventListener("offline", () => this.wanted && this.setState("offline"));
  }

  // ---- connection ------------------------------------------------------------------------------------------

  connect() {
    this.wanted = true;
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    if (!navigator.onLine) {
      this.setState("offline");
    } else if (this.state !== "connecting") {
      this.setState("reconnecting");
    }
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.onmessage = (message) => this.received(ws, message);
    ws.onclose = () => this.closed(ws);
    ws.onerror = () => {};  // onclose follows and decides what to do
  }

  close() {
    this.wanted = false;
    clearTimeout(this.retryTimer);
    clearInterval(this.pingTimer);
    if (this.ws) this.ws.close(1000);
    this.ws = null;
  }

  reconnectNow() {
    this.attempts = 0;
    if (this.ws && this.ws.readyState === WebSocket.OPEN) return;
    this.connect();
  }

  setState(state) {
    if (this.state === state) return;
    this.state = state;
    this.onState(state);
  }

  closed(ws) {
    if (ws !== this.ws) return;
    clearInterval(this.pingTimer);
    this.ws = null;
    if (!this.wanted) return;
    this.setState(navigator.onLine ? "reconnecting" : "offline");
    this.attempts += 1;
    // Exponential backoff with jitter, never sooner than the server asked (a `busy` answer's retry hint). A
    // refused upgrade's own Retry-After is invisible to a page's WebSocket, hence the jitter: many pages that
    // were dropped together spread their returns instead of coming back at once.
    const ceiling = Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** (this.attempts - 1));
    const delay = Math.max(ceiling / 2 + Math.random() * (ceiling / 2), this.notBefore - Date.now());
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  drop(ws) {
    // Close a socket we no longer trust (a gap in a lot's seq, or silence): onclose reconnects and resumes.
    if (ws === this.ws && ws.readyState <= WebSocket.OPEN) ws.close(4000, "resume");
  }

  send(frame) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN && this.state === "live") {
      this.ws.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }

  // ---- what arrives ----------------------------------------------------------------------------------------

  received(ws, message) {
    if (ws !== this.ws) return;
    this.lastHeard = Date.now();
    let frame;
    try {
      frame = JSON.parse(message.data);
    } catch {
      return;
    }
    if (frame.type === "welcome") return this.welcomed(ws, frame);
    if (LOT_FRAMES.has(frame.type)) return this.lotFrame(ws, frame);
    if (frame.type === "quote") return this.quoted(frame);
    if (ANSWERS.has(frame.type)) return this.answered(frame);
  }

  welcomed(ws, frame) {
    this.role = frame.role;
    this.bidder = frame.bidder;
    this.attempts = 0;
    this.everLive = true;
    this.onWelcome(frame);
    for (const [sale, lots] of this.subscriptions) this.sendSubscribe(ws, sale, lots);
    this.setState("live");
    for (const entry of this.pending.values()) this.send(entry.frame);  // the same ids: answered once, never twice
    for (const entry of this.quotes) this.send(entry.frame);
    clearInterval(this.pingTimer);
    this.pingTimer = setInterval(() => {
      if (Date.now() - this.lastHeard > SILENT_FOR_MS) this.drop(ws);
      else this.send({type: "time"});
    }, PING_EVERY_MS);
  }

  lotFrame(ws, frame) {
    const id = key(frame.sale, frame.lot);
    if (frame.type === "snapshot" || frame.type === "record_snapshot") {
      this.seqs.set(id, frame.lot_state.seq);
      this.onFrame(frame);
      return;
    }
    const last = this.seqs.get(id);
    if (last !== undefined && frame.seq <= last) return;  // seen already
    if (last !== undefined && frame.seq > last + 1) {  // a hole: never show a lot with one missing
      this.drop(ws);
      return;
    }
    this.seqs.set(id, frame.seq);
    this.onFrame(frame);
  }

  answered(frame) {
    const id = frame.client_id || frame.request_id;
    const entry = id ? this.pending.get(id) : undefined;
    if (!entry) {
      if (frame.type === "error") this.errored(frame);
      return;
    }
    if (frame.type === "error" && frame.code === "unavailable" && entry.tries < UNAVAILABLE_RETRIES) {
      entry.tries += 1;  // the outcome is unknown: ask again with the same id, a little later
      setTimeout(() => this.send(entry.frame), 500 * entry.tries);
      return;
    }
    this.pending.delete(id);
    entry.resolve(frame);
  }

  errored(frame) {
    if (frame.retry_after) this.notBefore = Date.now() + frame.retry_after * 1000;
    if (frame.code === "busy" || frame.code === "rate_limited") this.notBefore = Math.max(this.notBefore, Date.now() + 1000);
    this.onError(frame);
  }

  quoted(frame) {
    const index = this.quotes.findIndex(
      (entry) => entry.frame.sale === frame.sale && entry.frame.lot === frame.lot && entry.frame.amount === frame.amount);
    if (index < 0) return;
    const [entry] = this.quotes.splice(index, 1);
    entry.resolve(frame);
  }

  // ---- what we send ----------------------------------------------------------------------------------------

  subscribe(sale, lots = null) {
    this.subscriptions.set(sale, lots);
    if (this.ws && this.state === "live") this.sendSubscribe(this.ws, sale, lots);
  }

  unsubscribe(sale) {
    this.subscriptions.delete(sale);
    this.send({type: "unsubscribe", sale});
  }

  sendSubscribe(ws, sale, lots) {
    const resume = {};
    for (const [id, seq] of this.seqs) {
      const [ofSale, lot] = id.split(":").map(Number);
      if (ofSale === sale && (lots === null || lots.includes(lot))) resume[lot] = seq;
    }
    const frame = {type: "subscribe", sale, lots, resume: Object.keys(resume).length ? resume : null};
    ws.send(JSON.stringify(frame));
  }

  lastSeq(sale, lot) {
    return this.seqs.get(key(sale, lot));
  }

  bid(sale, lot, amount, kind = "bid") {
    const clientId = newClientId(kind === "max_bid" ? "m" : "b");
    const frame = {type: kind, sale, lot, amount, client_id: clientId};
    return {clientId, answer: this.ask(clientId, frame)};
  }

  request(frame) {
    const full = frame.request_id ? frame : {...frame, request_id: newClientId("r")};
    return this.ask(full.request_id, full);
  }

  ask(id, frame) {
    return new Promise((resolve) => {
      this.pending.set(id, {frame, resolve, tries: 0});
      this.send(frame);  // not live: sent on the next welcome
    });
  }

  quote(sale, lot, amount) {
    return new Promise((resolve) => {
      const frame = {type: "quote", sale, lot, amount};
      this.quotes.push({frame, resolve});
      this.send(frame);
    });
  }
}
