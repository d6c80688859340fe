// Rendering of the dashboard's answers into the page. Text only via textContent (no HTML
// injection from stored values); times in UTC like the API.
"use strict";

const REASON_LABELS = {
  license_unknown: "Invalid license key (does not exist)",
  activation_unknown: "Bypassed activation (no matching activation)",
  license_revoked: "Revoked license",
  license_expired: "Expired license",
  license_suspended: "Suspended license",
  license_product_mismatch: "License / product mismatch",
  product_version_unknown: "Unknown product version",
  product_unknown: "Unknown product",
  format_errors: "Malformed data",
};

const Render = {
  number(n) { return n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US"); },
  pct(p) { return p === null || p === undefined ? "–" : p.toFixed(1) + " %"; },
  utc(iso) { return iso ? iso.replace("T", " ").replace(/\.\d{3}Z$/, "").replace(/Z$/, "") : ""; },
  reason(r) { return REASON_LABELS[r] || r; },

  el(tag, text, cls) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (cls) node.className = cls;
    return node;
  },

  link(text, onOpen, label) {
    const a = Render.el("a", text);
    a.href = "#raw";
    if (label) a.setAttribute("aria-label", label);
    a.addEventListener("click", (event) => { event.preventDefault(); onOpen(); });
    return a;
  },

  row(cells) {
    const tr = document.createElement("tr");
    for (const cell of cells) {
      const td = document.createElement("td");
      if (cell && cell.nodeType) td.appendChild(cell);
      else if (cell && typeof cell === "object") { td.textContent = cell.text; td.className = cell.cls || ""; }
      else td.textContent = cell === null || cell === undefined ? "" : String(cell);
      tr.appendChild(td);
    }
    return tr;
  },

  fill(tbody, rows, emptyText, columns) {
    tbody.replaceChildren(...rows);
    if (!rows.length) {
      const tr = document.createElement("tr");
      const td = Render.el("td", emptyText, "muted");
      td.colSpan = columns;
      tr.appendChild(td);
      tbody.appendChild(tr);
    }
  },

  stat(id, value, detail) {
    const dd = document.getElementById(id);
    dd.replaceChildren(Render.el("span", value, "value"));
    dd.dataset.value = value;
    if (detail) dd.appendChild(Render.el("span", detail, "detail"));
  },

  stats(answer) {
    const life = answer.lifetime, range = answer.in_range;
    Render.stat("stat-lifetime", Render.number(life.records), Render.number(life.flagged) + " flagged ever");
    Render.stat("stat-flagged", Render.pct(range.flagged_pct), Render.number(range.flagged) + " records in range");
    Render.stat("stat-clean", Render.pct(range.clean_pct), Render.number(range.clean) + " records in range");
    Render.stat("stat-range", Render.number(range.records), null);
  },

  alerts(answer, open) {
    const rows = answer.reasons.map((r) => {
      const label = Render.reason(r.reason);
      const name = r.records ? Render.link(label, () => open(r), "Open the records flagged " + label) : Render.el("span", label);
      const tr = Render.row([name, { text: Render.number(r.records), cls: "num" }]);
      tr.dataset.reason = r.reason;
      tr.dataset.records = r.records;
      if (!r.records) tr.className = "zero";
      return tr;
    });
    Render.fill(document.querySelector("#alerts tbody"), rows, "No flagged records", 2);
  },

  offenders(tableId, items, open, what) {
    const rows = items.map((item) => {
      const tr = Render.row([
        Render.link(item.value, () => open(item), "Open the flagged records of " + what + " " + item.value),
        { text: Render.number(item.flagged), cls: "num" },
        { text: Render.number(item.users), cls: "num" },
        item.reasons.map(Render.reason).join(", "),
      ]);
      tr.dataset.value = item.value;
      tr.dataset.flagged = item.flagged;
      return tr;
    });
    Render.fill(document.querySelector("#" + tableId + " tbody"), rows, "No flagged records in the range", 4);
  },

  chart: null,

  trends(answer) {
    const buckets = answer.buckets;
    const xs = buckets.map((b) => Date.parse(b.bucket) / 1000);
    const clean = buckets.map((b) => b.clean), flagged = buckets.map((b) => b.flagged);
    const holder = document.getElementById("trend-chart");
    const width = Math.max(300, holder.clientWidth || 560);
    if (Render.chart) { Render.chart.destroy(); Render.chart = null; }
    if (window.uPlot) {
      Render.chart = new window.uPlot({
        width: width, height: 240, tzDate: (ts) => window.uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),
        series: [{ label: "UTC" },
          { label: "Clean", stroke: "#1a7f37", fill: "rgba(26,127,55,0.12)", width: 2 },
          { label: "Flagged", stroke: "#cf222e", fill: "rgba(207,34,46,0.15)", width: 2 }],
        axes: [{}, { size: 60 }],
      }, [xs, clean, flagged], holder);
    }
    const rows = buckets.map((b) => Render.row([Render.utc(b.bucket), { text: Render.number(b.clean), cls: "num" },
      { text: Render.number(b.flagged), cls: "num" }]));
    Render.fill(document.querySelector("#trend-table tbody"), rows, "No buckets", 3);
  },

  versions(answer) {
    const holder = document.getElementById("versions");
    const parts = answer.products.map((product) => {
      const table = Render.el("table", null, "data");
      table.appendChild(Render.el("caption", (product.product_id || "(no product)") + " · " + Render.number(product.records) + " records"));
      const head = Render.row(["Version", "Records", "Share", "Flagged"]);
      const thead = document.createElement("thead");
      head.querySelectorAll("td").forEach((td) => { const th = Render.el("th", td.textContent); th.scope = "col"; td.replaceWith(th); });
      thead.appendChild(head);
      table.appendChild(thead);
      const tbody = document.createElement("tbody");
      for (const v of product.versions) {
        const share = product.records ? (100 * v.records) / product.records : 0;
        const bar = Render.el("span", null, "bar");
        bar.style.width = share.toFixed(1) + "%";
        const meter = Render.el("span", null, "meter");
        meter.appendChild(bar);
        meter.setAttribute("aria-label", share.toFixed(1) + " %");
        const tr = Render.row([v.version || "(none)", { text: Render.number(v.records), cls: "num" }, meter,
          { text: Render.number(v.flagged), cls: "num" }]);
        tr.dataset.version = v.version;
        tbody.appendChild(tr);
      }
      table.appendChild(tbody);
      return table;
    });
    holder.replaceChildren(...parts);
    if (!parts.length) holder.appendChild(Render.el("p", "No records in the range", "muted"));
  },

  value(record) {
    if (record.data_type === "text") return record.text_data;
    if (record.data_type === "numeric-xy-axis") return "(" + record.numeric_data_x + ", " + record.numeric_data_y + ")";
    return record.numeric_data_single_value;
  },

  records(tbody, records, append, open) {
    const rows = records.map((r) => {
      const button = Render.el("button", "Open");
      button.type = "button";
      button.setAttribute("aria-label", "Open the full payload of record " + r.id);
      button.addEventListener("click", () => open(r, button));
      const tr = Render.row([Render.utc(r.created_at), r.product_id, r.product_version, r.license_key,
        r.activation_identifier, r.user_identifier, Render.value(r), r.red_flags.map(Render.reason).join(", "), button]);
      tr.dataset.id = r.id;
      if (r.has_red_flags) tr.className = "flagged";
      return tr;
    });
    if (append) tbody.append(...rows);
    else Render.fill(tbody, rows, "No records match these filters", 9);
  },
};

window.Render = Render;
window.REASON_LABELS = REASON_LABELS;
