// What the buyer's account and the consignor's room both show: stones in words, shipments and their tracking,
// tables that scroll inside themselves on a phone, and the sales' names and currencies.
//
// Exports
//   stone(diamond) -> string          "1.52 ct Round, G, VS2, cut Excellent; GIA report 2211430001"
//   loadSales() -> Promise<Map<id, SaleSummary>>   every sale by id (name, currency, format, starts_at_ms)
//   saleName(sales, id) -> string     the sale's name, or "Sale <id>" for one the list does not hold
//   table(caption, headers, rows, {numeric}) -> Element   a captioned table in a scroller; `numeric` the
//       indexes of right-aligned columns; rows are arrays of cells (strings or elements)
//   empty(text) -> Element            a muted paragraph for an empty list
//   shipmentsTable(shipments, sales) -> Element   each shipment: lot, sale, carrier, parcels with tracking
//       numbers, state, scheduled delivery, and the last scan
//   TRACKING_LABEL, trackingLabel(state)
//   failed(element, what, exc)        says in `element` that `what` could not be loaded, and why
//   rate(bp) -> string                basis points as a percentage, exactly: 2600 -> "26%", 1250 -> "12.5%"
//   printUrl(sale, buyer) -> string   the printable invoice, its dates in this browser's time zone

import {api} from "../js/api.js";
import {h, replace} from "../js/dom.js";
import {carats, date, money, when} from "../js/format.js";

export function stone(diamond) {
  if (!diamond) return "";
  const grades = [
    diamond.colour || diamond.colour_range,
    diamond.fancy_colour ? `fancy ${diamond.fancy_colour}` : null,
    diamond.clarity || diamond.clarity_range,
    diamond.cut ? `cut ${diamond.cut}` : null,
  ].filter(Boolean);
  const report = diamond.lab && diamond.report_number ? `; ${diamond.lab} report ${diamond.report_number}` : "";
  return [`${carats(diamond.carat_points)} ${diamond.shape}`, ...grades].join(", ") + report;
}

export async function loadSales() {
  const sales = await api("GET", "/api/sales");
  return new Map(sales.map((sale) => [sale.id, sale]));
}

export function saleName(sales, id) {
  const sale = sales.get(id);
  return sale ? sale.name : `Sale ${id}`;
}

export function table(caption, headers, rows, {numeric = []} = {}) {
  // On a phone each row stacks into label: value pairs (rooms.css, .stack), so that nothing a reader needs (the
  // outstanding amount, an Accept button) sits off to the side; the explicit roles keep it a table to a screen
  // reader whatever the layout.
  const cls = (index) => (numeric.includes(index) ? "num" : null);
  return h("div", {class: "table-scroll stack", tabindex: "0", role: "region", "aria-label": caption},
    h("table", {role: "table"},
      h("caption", {}, caption),
      h("thead", {role: "rowgroup"}, h("tr", {role: "row"},
        headers.map((name, index) => h("th", {scope: "col", role: "columnheader", class: cls(index)}, name)))),
      h("tbody", {role: "rowgroup"}, rows.map((cells) => h("tr", {role: "row"},
        cells.map((cell, index) => h("td", {role: "cell", class: cls(index), dataset: {label: headers[index] || ""}}, cell)))))));
}

export function empty(text) {
  return h("p", {class: "muted"}, text);
}

export const TRACKING_LABEL = Object.freeze({
  created: "Booked",
  collected: "Collected",
  in_transit: "In transit",
  delivered_signed: "Delivered and signed for",
  exception: "Held up: the carrier reported a problem",
  lost: "Lost in transit",
});

export function trackingLabel(state) {
  return TRACKING_LABEL[state] || state;
}

function lastScan(shipment) {
  const scans = shipment.parcels.flatMap((parcel) => parcel.history);
  if (!scans.length) return "";
  const latest = scans.reduce((a, b) => (a.at_ms >= b.at_ms ? a : b));
  return `${trackingLabel(latest.state)}, ${when(latest.at_ms)}${latest.note ? ` (${latest.note})` : ""}`;
}

export function shipmentsTable(shipments, sales) {
  const rows = shipments.map((shipment) => [
    `Lot ${shipment.lot}`,
    saleName(sales, shipment.sale),
    shipment.carrier,
    h("ul", {class: "plain"}, shipment.parcels.map((parcel) =>
      h("li", {}, `${parcel.tracking_no}: ${trackingLabel(parcel.state)}`))),
    h("span", {class: "badge badge-neutral"}, trackingLabel(shipment.state)),
    date(shipment.scheduled_ms),
    lastScan(shipment),
    money(shipment.declared_value, shipment.currency),
  ]);
  return table("Shipments", ["Lot", "Sale", "Carrier", "Parcels and tracking", "State", "Due to arrive", "Last scan",
    "Insured for"], rows, {numeric: [7]});
}

export function failed(element, what, exc) {
  replace(element, h("p", {class: "banner banner-bad", role: "alert"}, `${what} could not be loaded: ${exc.message}`));
}

export function rate(bp) {
  const whole = Math.floor(bp / 100);
  const rest = bp % 100;
  return rest ? `${whole}.${String(rest).padStart(2, "0").replace(/0$/, "")}%` : `${whole}%`;
}

export function printUrl(sale, buyer) {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  return `/api/settlement/sales/${sale}/invoices/${buyer}/print?tz=${encodeURIComponent(zone)}`;
}
