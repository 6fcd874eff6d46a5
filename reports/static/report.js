/* support-audit report: draws the charts and makes the findings table filterable and sortable.
 * No libraries besides the embedded plotly.js. It reads its data from the JSON block
 * #report-data and writes text with textContent only: nothing from the data becomes HTML. */
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var lang = document.documentElement.lang || "en";

  function drawCharts() {
    if (typeof window.Plotly === "undefined") {
      var note = document.getElementById("no-plotly");
      if (note) { note.hidden = false; }
      return;
    }
    data.charts.forEach(function (chart) {
      var el = document.getElementById(chart.id);
      if (el) { window.Plotly.newPlot(el, chart.data, chart.layout, data.config); }
    });
  }

  function setupFindings() {
    var table = document.getElementById("findings-table");
    if (!table) { return; }
    var bodies = Array.prototype.slice.call(table.tBodies);
    var selects = Array.prototype.slice.call(document.querySelectorAll("select[data-filter]"));
    var count = document.getElementById("findings-count");
    var number = new Intl.NumberFormat(lang);

    function applyFilters() {
      var want = {};
      selects.forEach(function (s) { if (s.value) { want[s.dataset.filter] = s.value; } });
      var shown = 0;
      bodies.forEach(function (b) {
        var ok = Object.keys(want).every(function (k) { return b.dataset[k] === want[k]; });
        b.hidden = !ok;
        if (ok) { shown += 1; }
      });
      count.textContent = data.text.shown
        .replace("{shown}", number.format(shown))
        .replace("{total}", number.format(bodies.length));
    }
    selects.forEach(function (s) { s.addEventListener("change", applyFilters); });

    var keys = {
      severity: function (b) { return Number(b.dataset.severityRank); },
      kind: function (b) { return b.dataset.kindLabel; },
      status: function (b) { return b.dataset.status; },
      customer: function (b) { return b.dataset.customerName + " " + b.dataset.customer; },
      ticket: function (b) { return b.dataset.ticket; },
      month: function (b) { return b.dataset.month; },
      delta: function (b) { return b.dataset.delta === "" ? null : parseFloat(b.dataset.delta); }
    };
    var collator = new Intl.Collator(lang, { numeric: true, sensitivity: "base" });
    var state = { key: null, dir: 1 };
    var headers = Array.prototype.slice.call(table.tHead.querySelectorAll("th[data-sort]"));

    function compare(key, dir) {
      return function (a, b) {
        var x = keys[key](a), y = keys[key](b);
        if (x === null || y === null) {  // no amount: always last
          if (x === y) { return Number(a.dataset.rank) - Number(b.dataset.rank); }
          return x === null ? 1 : -1;
        }
        var c = typeof x === "number" ? x - y : collator.compare(x, y);
        return c !== 0 ? dir * c : Number(a.dataset.rank) - Number(b.dataset.rank);
      };
    }
    headers.forEach(function (th) {
      th.querySelector("button").addEventListener("click", function () {
        var key = th.dataset.sort;
        var first = (key === "delta" || key === "severity") ? -1 : 1;
        state.dir = state.key === key ? -state.dir : first;
        state.key = key;
        headers.forEach(function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", state.dir === 1 ? "ascending" : "descending");
        bodies.slice().sort(compare(key, state.dir)).forEach(function (b) { table.appendChild(b); });
      });
    });
    applyFilters();
  }

  /* Printing shows every explanation: open all <details>, close them again afterwards. */
  function setupPrint() {
    var opened = [];
    window.addEventListener("beforeprint", function () {
      document.querySelectorAll("details:not([open])").forEach(function (d) {
        d.open = true;
        opened.push(d);
      });
    });
    window.addEventListener("afterprint", function () {
      opened.forEach(function (d) { d.open = false; });
      opened = [];
    });
  }

  setupFindings();
  setupPrint();
  drawCharts();
}());
