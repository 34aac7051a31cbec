// The landing page (/): what the house is, and its sales, upcoming, live and finished.
import {api} from "../js/api.js";
import {h, replace} from "../js/dom.js";
import {carats, money, plural, when} from "../js/format.js";
import {loadSales, SALE_STATUS_LABEL} from "../js/sales.js";
import {mount} from "../js/shell.js";

const ORDER = ["live", "upcoming", "finished"];
const GROUP_TITLES = {live: "Live now", upcoming: "Upcoming sales", finished: "Finished sales"};

function estimateRange(entries, currency) {
  if (!entries.length) return "";
  const lows = entries.map((entry) => BigInt(entry.listing.low_estimate));
  const highs = entries.map((entry) => BigInt(entry.listing.high_estimate));
  const low = lows.reduce((a, b) => (a < b ? a : b));
  const high = highs.reduce((a, b) => (a > b ? a : b));
  return `Estimates ${money(low, currency)} – ${money(high, currency)}`;
}

function saleCard({sale, entries, status}) {
  const weights = entries.reduce((sum, entry) => sum + entry.listing.diamond.carat_points, 0);
  const sold = entries.filter((entry) => entry.live && entry.live.status === "sold").length;
  return h("li", {class: "sale-card", dataset: {sale: String(sale.id), status}},
    h("h4", {}, h("a", {href: `/sales/${sale.id}`}, sale.name)),
    h("p", {}, h("span", {class: `badge badge-${status}`}, SALE_STATUS_LABEL[status]), " ",
      h("span", {class: "muted"}, `${sale.format === "live" ? "Live auction" : sale.format === "timed" ? "Timed sale" : "Tender"}`)),
    h("p", {}, `${plural(sale.lots, "lot")} · ${carats(weights)} in all · ${sale.currency}`),
    h("p", {class: "muted"}, status === "upcoming" ? `Starts ${when(sale.starts_at_ms)}` : `Started ${when(sale.starts_at_ms)}`),
    status === "finished" ? h("p", {}, `${sold} of ${plural(entries.length, "lot")} sold`) : h("p", {}, estimateRange(entries, sale.currency)),
    h("p", {}, h("a", {href: `/sales/${sale.id}`, "aria-label": `${status === "finished" ? "Results of" : "Open"} ${sale.name}`},
      status === "finished" ? "See the results" : status === "live" ? "Enter the sale room" : "View the catalogue")));
}

async function start() {
  const {me} = await mount({title: "Sales"});
  if (me) {
    replace(document.getElementById("intro-actions"),
      h("span", {}, `Signed in as ${me.name}.`));
  }
  const groups = document.getElementById("sales-groups");
  const loading = document.getElementById("sales-loading");
  let sales;
  try {
    sales = await loadSales(api);
  } catch (exc) {
    loading.textContent = `The sales could not be loaded: ${exc.message}`;
    return;
  }
  loading.hidden = true;
  if (!sales.length) {
    replace(groups, h("p", {}, "No sales are scheduled yet."));
    return;
  }
  replace(groups, ...ORDER.map((status) => {
    const these = sales.filter((entry) => entry.status === status);
    if (!these.length) return null;
    return h("section", {"aria-labelledby": `group-${status}`, class: "sale-group"},
      h("h3", {id: `group-${status}`}, GROUP_TITLES[status]),
      h("ul", {class: "sale-list"}, these.map(saleCard)));
  }));
}

start();
