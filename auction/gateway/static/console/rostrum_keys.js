// The rostrum's keyboard and who may do what at it, pure (no DOM): the page (rostrum.js) asks these.
//
// Exports
//   MESSAGE_ROLES: {message type: [roles]}   auction/gateway/access.py MESSAGE_RULES for the rostrum's messages
//       (tests/web/test_console.py checks the two agree): what a role can't send is hidden, not just refused
//   ACTIONS: [{action, key, button, label, message, needs}]   every action of the rostrum with its key, its button's
//       short text and its full label (the shortcut list, the button's title); `needs`:
//       "paddle" (the entry holds a paddle), "amount" (the entry holds an amount), "reason" (asked for), or none
//   actionsFor(role) -> ACTIONS the role may take
//   actionForKey(key, role) -> action|null    a key as KeyboardEvent.key gives it ("h", "H", "Enter", ...)
//   ENTRY_KEY: /^[0-9.]$/                     the keys that type into the entry (a paddle or an amount)
//   refusalText(reason) -> string             a rostrum_refused reason in words

const ROSTRUM = ["auctioneer", "admin"];
const CLERKS = ["auctioneer", "clerk", "admin"];

export const MESSAGE_ROLES = Object.freeze({
  open_lot: ROSTRUM,
  take_bid: CLERKS,
  set_ask: ROSTRUM,
  set_increment: ROSTRUM,
  accept_online_bid: CLERKS,
  decline_online_bid: CLERKS,
  fair_warning: ROSTRUM,
  hammer: ROSTRUM,
  pass_lot: ROSTRUM,
  reopen_lot: ROSTRUM,
  pause_lot: ROSTRUM,
  resume_lot: ROSTRUM,
  undo_bid: CLERKS,
  withdraw_lot: ROSTRUM,
});

export const ACTIONS = Object.freeze([
  {action: "floor", key: "Enter", button: "Floor bid", label: "Floor bid for the paddle typed", message: "take_bid", needs: "paddle"},
  {action: "phone", key: "T", button: "Phone bid", label: "Phone bid for the paddle typed", message: "take_bid", needs: "paddle"},
  {action: "house", key: "B", button: "House bid", label: "House bid under the paddle typed", message: "take_bid", needs: "paddle",
    house: true},
  {action: "accept", key: "A", button: "Accept online bid", label: "Accept the online bid waiting", message: "accept_online_bid",
    needs: null},
  {action: "decline", key: "D", button: "Decline online bid", label: "Decline the online bid waiting",
    message: "decline_online_bid", needs: null},
  {action: "undo", key: "U", button: "Undo last bid", label: "Undo the newest bid", message: "undo_bid", needs: null},
  {action: "open", key: "O", button: "Open lot", label: "Open the lot, or the next after a hammer (at the amount typed, or its opening)",
    message: "open_lot", needs: null},
  {action: "ask", key: "K", button: "Set ask", label: "Set the ask to the amount typed", message: "set_ask", needs: "amount"},
  {action: "increment", key: "I", button: "Set increment", label: "Set the increment to the amount typed", message: "set_increment",
    needs: "amount"},
  {action: "fair_warning", key: "F", button: "Fair warning", label: "Fair warning", message: "fair_warning", needs: null},
  {action: "hammer", key: "H", button: "Hammer", label: "Hammer: sold to the leading paddle", message: "hammer", needs: null},
  {action: "pass", key: "X", button: "Pass", label: "Pass the lot", message: "pass_lot", needs: null},
  {action: "pause", key: "P", button: "Pause", label: "Pause or resume the lot", message: "pause_lot", needs: null},
  {action: "reopen", key: "R", button: "Reopen", label: "Reopen the lot just closed", message: "reopen_lot", needs: "reason"},
  {action: "withdraw", key: "W", button: "Withdraw", label: "Withdraw the lot", message: "withdraw_lot", needs: "reason"},
]);

export const ENTRY_KEY = /^[0-9.]$/;

export function actionsFor(role) {
  return ACTIONS.filter((a) => MESSAGE_ROLES[a.message].includes(role));
}

export function actionForKey(key, role) {
  const wanted = key.length === 1 ? key.toUpperCase() : key;
  return actionsFor(role).find((a) => a.key === wanted) || null;
}

const REFUSALS = {
  another_bid_taken: "another bid was taken at that ask",
  not_the_ask: "that is not the ask",
  no_pending_bid: "no online bid is waiting",
  nothing_to_undo: "there is no bid to undo",
  reserve_not_met: "the reserve is not met: take a bid at the reserve or pass the lot",
  another_lot_open: "another lot is on the block",
  not_last_lot: "only the lot closed last may be reopened, before the next one opens",
  house_bids_not_allowed: "this sale takes no house bids",
  reserve_reached: "house bids stop below the reserve",
  bad_amount: "that amount is not possible here",
  lot_not_open: "the lot is not open (or is paused)",
  lot_closed: "the lot is closed",
  already_leading: "that paddle leads already",
  too_low: "too low",
  over_limit: "that paddle's bidding limit would be passed",
  not_registered: "that paddle is not registered for this sale",
  not_approved: "that paddle's company is not approved",
  approval_expired: "that paddle's company approval has expired",
  suspended: "that paddle's company is suspended",
  deposit_missing: "that paddle's deposit has not been received",
  own_lot: "that paddle may not bid on its own consignor's lot",
};

export function refusalText(reason) {
  return REFUSALS[reason] || String(reason).replaceAll("_", " ");
}
