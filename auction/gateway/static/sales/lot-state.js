// A lot as the bidder's room knows it: the public view (LotView) folded with each public event, and its log.
// Pure functions on plain objects; no DOM here.
//
// Exports
//   newLot(entry) -> lot     from GET /api/sales/{sale}/lots: {listing, live}; lot.view is the LotView (or a
//                            stand-in from the listing while the engine has not loaded the lot)
//   applyView(lot, view)     a snapshot (or record_snapshot's lot_state): the lot is now exactly this
//   applyEvent(lot, event) -> {note}   one public event, in seq order; `note` names what the bidder should be
//                            told beyond the figures (e.g. {declined: paddle, why})
//   logEvent(lot, seq, line) keeps one line per seq (a repeat replaces, so history and live never double up)
//   describe(event, money) -> string   one event in words, for the log
//   isOpen(status), isFinal(status)

const FINAL = new Set(["sold", "passed", "withdrawn"]);
const BIDDABLE = new Set(["open", "fair_warning"]);

export function isFinal(status) {
  return FINAL.has(status);
}

export function isOpen(status) {
  return BIDDABLE.has(status);
}

export function newLot(entry) {
  const listing = entry.listing;
  const view = entry.live || {
    sale: listing.sale, lot: listing.lot, seq: 0, status: "scheduled", opening: listing.opening, price: 0,
    leader_paddle: null, reserve_met: false, next_minimum: listing.opening, start_ms: listing.start_ms,
    end_ms: listing.end_ms, bid_count: 0, extensions: 0,
  };
  return {listing, view: {...view}, log: new Map(), lastBid: null};
}

export function applyView(lot, view) {
  lot.view = {...view};
}

export function applyEvent(lot, event) {
  const v = lot.view;
  const note = {};
  switch (event.type) {
    case "opened":
      v.status = "open";
      v.end_ms = event.end_ms;
      if (event.ask) v.next_minimum = event.ask;
      break;
    case "bid":
      Object.assign(v, {price: event.amount, leader_paddle: event.paddle, reserve_met: event.reserve_met,
        next_minimum: event.next_minimum, bid_count: v.bid_count + 1});
      if (v.status === "fair_warning") v.status = "open";  // a bid answers fair warning
      lot.lastBid = event;
      break;
    case "revised":  // the house struck someone's bids: the price may go down and the leader change
      Object.assign(v, {price: event.price, leader_paddle: event.paddle, bid_count: event.bid_count,
        reserve_met: event.reserve_met, next_minimum: event.next_minimum});
      break;
    case "extended":
      v.end_ms = event.end_ms;
      v.extensions += 1;
      break;
    case "sold":
      Object.assign(v, {status: "sold", price: event.hammer, leader_paddle: event.paddle});
      break;
    case "passed":
    case "withdrawn":
      v.status = event.type;
      break;
    case "ask":
      v.next_minimum = event.ask;
      break;
    case "fair_warning":
    case "paused":
      v.status = event.type;
      break;
    case "resumed":
    case "reopened":
      v.status = "open";
      break;
    case "undone":
      Object.assign(v, {price: event.price, leader_paddle: event.paddle, bid_count: event.bid_count,
        next_minimum: event.ask});
      note.undone = event.undone;
      break;
    case "declined":
      note.declined = event.paddle;
      note.why = event.why;
      break;
    case "viewing":
      v.status = "viewing";
      break;
    case "bids_closed":
      v.status = "awaiting_reveal";
      break;
    case "tender_result":
      v.status = event.outcome === "awaiting_acceptance" ? "awaiting_acceptance" : event.outcome;
      if (event.outcome === "sold") v.price = event.amount;
      break;
    default:
      break;  // hidden: something only the house sees; the seq moves on
  }
  v.seq = event.seq;
  return {note};
}

export function logEvent(lot, seq, line) {
  lot.log.set(seq, line);
}

const WHY = {
  another_bid_taken: "another bid was taken first",
  too_late: "the hammer had fallen",
  declined: "declined by the clerk",
};

export function describe(event, money) {
  switch (event.type) {
    case "opened": return event.ask ? `Opened, asking ${money(event.ask)}` : "Opened for bidding";
    case "bid": {
      const source = event.source && event.source !== "online" ? ` (${event.source})` : "";
      return `Bid ${money(event.amount)} by paddle ${event.paddle}${event.auto ? " (maximum bid)" : ""}${source}`;
    }
    case "revised": return `Revised by the house: ${money(event.price)}, ${event.paddle === null ? "no leader" : `paddle ${event.paddle} leads`}`;
    case "extended": return "Extended: a late bid moved the end";
    case "sold": return `Sold for ${money(event.hammer)} to paddle ${event.paddle}`;
    case "passed": return "Passed: not sold";
    case "withdrawn": return "Withdrawn from the sale";
    case "ask": return `Asking ${money(event.ask)}${event.increment ? ` (steps of ${money(event.increment)})` : ""}`;
    case "fair_warning": return "Fair warning";
    case "paused": return "Paused";
    case "resumed": return "Resumed";
    case "reopened": return "Reopened";
    case "declined": return `Online bid of paddle ${event.paddle} not taken: ${WHY[event.why] || event.why}`;
    case "undone": return `Bid of paddle ${event.undone} taken back; ${money(event.price)} stands`;
    case "viewing": return "Viewing opened";
    case "bids_closed": return "Bids closed";
    case "tender_result": return `Result: ${event.outcome}${event.amount ? ` at ${money(event.amount)}` : ""}`;
    case "hidden": return "A change only the house sees";
    default: return event.type;
  }
}
