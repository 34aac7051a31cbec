// What a sale and a lot are, in words: derived from the lots' live states, so a finished sale never says live.
//
// Exports
//   FINAL: the lot statuses after which nothing changes (sold, passed, withdrawn)
//   saleStatus(sale, entries, nowMs) -> "upcoming" | "live" | "finished"
//       sale: a SaleSummary; entries: its GET /api/sales/{sale}/lots answer ([{listing, live}]). Finished when
//       every lot is final; live when any lot is open (or under fair warning, paused, viewing, awaiting...);
//       otherwise upcoming before the sale starts, and live once it has started with lots still to open.
//   SALE_STATUS_LABEL: {upcoming: "Upcoming", live: "Live now", finished: "Finished"}
//   lotStatusLabel(status) -> string   "fair_warning" -> "Fair warning", ...
//   loadSales(api, {limit}) -> Promise<[{sale, entries, status}]>   the newest `limit` sales with their lots

export const FINAL = Object.freeze(["sold", "passed", "withdrawn"]);
const ACTIVE = ["open", "fair_warning", "paused", "viewing", "awaiting_reveal", "awaiting_acceptance"];

export const SALE_STATUS_LABEL = Object.freeze({upcoming: "Upcoming", live: "Live now", finished: "Finished"});

const LOT_LABELS = {
  scheduled: "Not open yet",
  viewing: "Viewing",
  open: "Open",
  fair_warning: "Fair warning",
  paused: "Paused",
  awaiting_reveal: "Awaiting reveal",
  awaiting_acceptance: "Awaiting acceptance",
  sold: "Sold",
  passed: "Passed",
  withdrawn: "Withdrawn",
};

export function lotStatusLabel(status) {
  return LOT_LABELS[status] || status;
}

export function saleStatus(sale, entries, nowMs) {
  const statuses = entries.map((entry) => (entry.live ? entry.live.status : "scheduled"));
  if (statuses.length && statuses.every((status) => FINAL.includes(status))) return "finished";
  if (statuses.some((status) => ACTIVE.includes(status))) return "live";
  return sale.starts_at_ms > nowMs ? "upcoming" : (statuses.length ? "live" : "upcoming");
}

export async function loadSales(api, {limit = 30, nowMs = Date.now()} = {}) {
  const sales = (await api("GET", "/api/sales")).slice(0, limit);
  return Promise.all(sales.map(async (sale) => {
    let entries = [];
    try {
      entries = await api("GET", `/api/sales/${sale.id}/lots`);
    } catch {
      entries = [];
    }
    return {sale, entries, status: saleStatus(sale, entries, nowMs)};
  }));
}
