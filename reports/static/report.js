/* support-audit report: draws the charts and makes the findings table filterable and sortable.
 * No libraries besides the embedded plotly.js. It reads its data from the JSON block
 * #report-data and writes text with textContent only: nothing from the data becomes HTML. */
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var lang = document.documentElement.lang || "en";

  /* On a phone: short category names (full name on hover), amounts inside the bars or not at
   * all when they do not fit, so no label runs into another. */
  function shorten(text, n) {
    if (typeof text !== "string" || text.length <= n) { return text; }
    var cut = text.slice(0, n - 1);
    var amp = cut.lastIndexOf("&");
    if (amp >= 0 && cut.indexOf(";", amp) < 0) { cut = cut.slice(0, amp); }  // no half entity
    return cut + "…";
  }
  function forNarrow(chart) {
    return chart.data.map(function (t) {
      var c = Object.assign({}, t);
      if (c.type === "waterfall") {
        c.textposition = "inside";
      } else if (c.type === "bar") {
        c.textposition = c.orientation === "h" ? "inside" : "auto";
        c.insidetextanchor = "middle";
        c.textangle = 0;
      }
      return c;
    });
  }
  function narrowLayout(chart) {
    var layout = JSON.parse(JSON.stringify(chart.layout));
    layout.uniformtext = { minsize: 9, mode: "hide" };
    layout.margin = Object.assign({}, layout.margin, { r: 12 });
    var t = chart.data[0] || {};
    var horizontal = t.orientation === "h";
    var cats = horizontal ? t.y : t.x;
    var axis = horizontal ? "yaxis" : "xaxis";
    if (cats && layout[axis] && layout[axis].type === "category") {
      layout[axis].tickmode = "array";
      layout[axis].tickvals = cats;
      layout[axis].ticktext = cats.map(function (c) { return shorten(c, horizontal ? 16 : 10); });
      if (!horizontal) { layout[axis].tickangle = -45; }
    }
    if (horizontal && t.type === "bar" && layout.xaxis) { delete layout.xaxis.range; }
    var valueAxis = horizontal ? "xaxis" : "yaxis";
    if (layout[valueAxis]) { layout[valueAxis].nticks = 4; }
    return layout;
  }

  function drawCharts() {
    if (typeof window.Plotly === "undefined") {
      var note = document.getElementById("no-plotly");
      if (note) { note.hidden = false; }
      return;
    }
    data.charts.forEach(function (chart) {
      var el = document.getElementById(chart.id);
      if (el) {
        var narrow = el.clientWidth < 560;
        window.Plotly.newPlot(el, narrow ? forNarrow(chart) : chart.data,
                              narrow ? narrowLayout(chart) : chart.layout, data.config);
      }
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

  /* The action list: search, filters, sort, grouping (customer / agent), pages of PAGE rows,
   * permalinks (#T-100042-2026-06) and CSV downloads. Rows are the server-rendered <tr>s;
   * group headers are rebuilt here with textContent. Money is summed in integer cents. */
  var PAGE = 50;
  function cents(v) {
    if (v === "" || v === undefined) { return null; }
    var neg = v.charAt(0) === "-", parts = v.replace("-", "").split(".");
    var c = Number(parts[0]) * 100 + Number(((parts[1] || "") + "00").slice(0, 2));
    return neg ? -c : c;
  }
  function setupActions() {
    var table = document.getElementById("action-table");
    if (!table) { return; }
    var rows = Array.prototype.slice.call(table.querySelectorAll("tbody.arow"));
    var tools = document.getElementById("action-tools");
    var pager = document.getElementById("action-pager");
    var search = document.getElementById("action-search");
    var groupSel = document.getElementById("action-group");
    var count = document.getElementById("action-count");
    var pageLabel = document.getElementById("action-page");
    var selects = Array.prototype.slice.call(tools.querySelectorAll("select[data-afilter]"));
    var number = new Intl.NumberFormat(lang);
    var money = new Intl.NumberFormat(lang, { style: "currency", currency: data.currency || "EUR" });
    var collator = new Intl.Collator(lang, { numeric: true, sensitivity: "base" });
    rows.forEach(function (r, i) {
      r.dataset.rank = i;
      r.dataset.search = r.textContent.toLowerCase() + " " + (r.dataset.customer || "").toLowerCase();
    });
    var firstRank = {};
    rows.forEach(function (r, i) { if (!(r.dataset.customer in firstRank)) { firstRank[r.dataset.customer] = i; } });
    table.querySelectorAll("tbody.group, tbody.subtotal, tbody.more").forEach(function (r) { r.remove(); });
    tools.hidden = false;
    var state = { page: 0, key: null, dir: 1 };
    var keys = {
      ticket: function (r) { return r.dataset.ticket; },
      month: function (r) { return r.dataset.month; },
      action: function (r) { return r.dataset.actionLabel; },
      agent: function (r) { return r.dataset.agent; },
      tier: function (r) { return r.dataset.tierLabel; },
      expected: function (r) { return cents(r.dataset.expected); },
      billed: function (r) { return cents(r.dataset.billed); },
      delta: function (r) { return cents(r.dataset.delta); }
    };
    function groupOf(r) {
      var g = groupSel.value;
      if (g === "customer") { return [r.dataset.customer, (r.dataset.customerName || "") + " (" + r.dataset.customer + ")"]; }
      if (g === "agent") { return [r.dataset.agent, r.dataset.agent || data.text.no_agent]; }
      return null;
    }
    function visible() {
      var q = search.value.trim().toLowerCase();
      var want = {};
      selects.forEach(function (s) { if (s.value) { want[s.dataset.afilter] = s.value; } });
      return rows.filter(function (r) {
        if (q && r.dataset.search.indexOf(q) < 0) { return false; }
        return Object.keys(want).every(function (k) { return r.dataset[k] === want[k]; });
      });
    }
    function order(list) {
      var g = groupSel.value;
      return list.slice().sort(function (a, b) {
        if (g === "customer") {  // customers keep the page's order: most money first
          var c0 = firstRank[a.dataset.customer] - firstRank[b.dataset.customer];
          if (c0 !== 0) { return c0; }
        } else if (g) {
          var c1 = collator.compare(groupOf(a)[1], groupOf(b)[1]);
          if (c1 !== 0) { return c1; }
        }
        if (state.key) {
          var x = keys[state.key](a), y = keys[state.key](b);
          if (x !== y) {
            if (x === null || x === "") { return 1; }
            if (y === null || y === "") { return -1; }
            var c = typeof x === "number" ? x - y : collator.compare(x, y);
            if (c !== 0) { return state.dir * c; }
          }
        }
        return Number(a.dataset.rank) - Number(b.dataset.rank);
      });
    }
    function headerRow(key, label, members) {
      var inv = 0, cred = 0;
      members.forEach(function (r) {
        var d = cents(r.dataset.delta);
        if (d === null) { return; }
        if (r.dataset.action === "invoice") { inv += d; }
        if (r.dataset.action === "credit") { cred -= d; }
      });
      var body = document.createElement("tbody");
      body.className = "group";
      body.dataset[groupSel.value] = key;
      var tr = document.createElement("tr");
      body.appendChild(tr);
      var th = document.createElement("th");
      th.scope = "rowgroup";
      th.colSpan = 8;
      th.textContent = label;
      var sub = document.createElement("span");
      sub.className = "subtotal-text";
      sub.textContent = " — " + data.text.subtotal
        .replace("{invoice}", money.format(inv / 100)).replace("{credit}", money.format(cred / 100));
      th.appendChild(sub);
      tr.appendChild(th);
      return body;
    }
    function render() {
      var list = order(visible());
      var size = state.all ? Math.max(list.length, 1) : PAGE;
      var pages = Math.max(1, Math.ceil(list.length / size));
      state.page = state.all ? 0 : Math.min(Math.max(state.page, 0), pages - 1);
      var shown = list.slice(state.page * size, (state.page + 1) * size);
      var members = {};
      list.forEach(function (r) { var g = groupOf(r); if (g) { (members[g[0]] = members[g[0]] || []).push(r); } });
      var frag = document.createDocumentFragment(), last = null;
      shown.forEach(function (r) {
        var g = groupOf(r);
        if (g && g[0] !== last) { frag.appendChild(headerRow(g[0], g[1], members[g[0]])); last = g[0]; }
        frag.appendChild(r);
      });
      Array.prototype.slice.call(table.tBodies).forEach(function (b) { b.remove(); });
      table.appendChild(frag);
      count.textContent = data.text.rows.replace("{shown}", number.format(list.length))
        .replace("{total}", number.format(rows.length));
      pager.hidden = pages < 2;
      pageLabel.textContent = data.text.page.replace("{page}", number.format(state.page + 1))
        .replace("{pages}", number.format(pages));
      return list;
    }
    function reset() { state.page = 0; render(); }
    search.addEventListener("input", reset);
    selects.forEach(function (s) { s.addEventListener("change", reset); });
    groupSel.addEventListener("change", reset);
    pager.querySelectorAll("button[data-page]").forEach(function (b) {
      b.addEventListener("click", function () { state.page += Number(b.dataset.page); render(); });
    });
    var headers = Array.prototype.slice.call(table.tHead.querySelectorAll("th[data-asort]"));
    headers.forEach(function (th) {
      th.querySelector("button").addEventListener("click", function () {
        var key = th.dataset.asort;
        var first = (key === "delta" || key === "expected" || key === "billed") ? -1 : 1;
        state.dir = state.key === key ? -state.dir : first;
        state.key = key;
        headers.forEach(function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", state.dir === 1 ? "ascending" : "descending");
        reset();
      });
    });
    function goToHash() {
      var id = decodeURIComponent(window.location.hash.slice(1));
      var target = null;  // rows of other pages are not in the document: look them up here
      rows.forEach(function (r) { if (r.id === id) { target = r; } });
      if (!target) { return; }
      var list = order(visible());
      if (list.indexOf(target) < 0) {
        search.value = "";
        selects.forEach(function (s) { s.value = ""; });
        list = order(visible());
      }
      state.page = Math.floor(list.indexOf(target) / PAGE);
      render();
      rows.forEach(function (r) { r.classList.remove("target"); });
      target.classList.add("target");
      target.scrollIntoView({ block: "center" });
    }
    window.addEventListener("hashchange", goToHash);
    render();
    if (window.location.hash) { goToHash(); }
    window.reportActions = {
      render: render, rows: rows,
      printing: function (on) { state.all = on; render(); }
    };
  }

  function setupDownloads() {
    document.querySelectorAll("button[data-download]").forEach(function (b) {
      b.addEventListener("click", function () {
        var name = b.dataset.download;
        var text = (data.downloads || {})[name];
        if (typeof text !== "string") { return; }
        var blob = new Blob([text], { type: "text/csv;charset=utf-8" });
        var a = document.createElement("a");
        a.href = URL.createObjectURL(blob);
        a.download = name + ".csv";
        document.body.appendChild(a);
        a.click();
        setTimeout(function () { URL.revokeObjectURL(a.href); a.remove(); }, 0);
      });
    });
  }

  /* Printing shows the whole action list (every row that passes the filters, no pages). */
  function setupPrint() {
    function all(on) {
      if (window.reportActions) { window.reportActions.printing(on); }
      if (window.Plotly) {  // charts take the paper's width (and the screen's again after)
        document.querySelectorAll(".js-plotly-plot").forEach(function (p) { window.Plotly.Plots.resize(p); });
      }
    }
    window.addEventListener("beforeprint", function () { all(true); });
    window.addEventListener("afterprint", function () { all(false); });
    if (window.matchMedia) {
      var mq = window.matchMedia("print");
      var onChange = function (e) { all(e.matches); };
      if (mq.addEventListener) { mq.addEventListener("change", onChange); } else if (mq.addListener) { mq.addListener(onChange); }
    }
  }

  setupFindings();
  setupActions();
  setupDownloads();
  setupPrint();
  // The tables work now; plotly.js comes after this script (so a 5 MB library does not keep the
  // tables waiting) and the charts are drawn once it has loaded.
  window.reportReadyAt = performance.now();
  if (document.readyState === "complete") { drawCharts(); } else { window.addEventListener("load", drawCharts); }
}());
