/* The IOM list page (offline): sort by any column, filter by band, local area and text. Data: window.WMP_IOM. */
(function () {
  "use strict";
  var D = window.WMP_IOM, rows = D.rows.slice();
  var body = document.querySelector("#iom-table tbody"), count = document.getElementById("iom-count");
  var band = document.getElementById("filter-band"), area = document.getElementById("filter-area"), text = document.getElementById("filter-text");
  var sortKey = "rank", sortDir = 1;
  function esc(s) { return String(s).replace(/[&<>"]/g, function (c) { return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c]; }); }
  function cell(r, k) {
    var v = r[k];
    if (v === null || v === undefined || v === "") return "–";
    if (k === "probability") return (100 * v).toFixed(1) + "%";
    if (k === "harm_score") return Number(v).toFixed(1);
    if (k === "band") return D.band_labels[v] || v;
    return esc(v);
  }
  function render() {
    var b = band.value, a = area.value, q = text.value.trim().toLowerCase();
    var shown = rows.filter(function (r) {
      if (b && r.band !== b) return false;
      if (a && r.local_area !== a) return false;
      if (q && (r.offender_key + " " + r.reasons + " " + (r.local_area || "")).toLowerCase().indexOf(q) < 0) return false;
      return true;
    });
    shown.sort(function (x, y) {
      var u = x[sortKey], v = y[sortKey];
      if (u === null || u === undefined) return 1;
      if (v === null || v === undefined) return -1;
      if (u < v) return -sortDir;
      if (u > v) return sortDir;
      return x.rank - y.rank;
    });
    body.innerHTML = shown.map(function (r) {
      return "<tr>" + D.columns.map(function (c) {
        return '<td class="' + c.key + '">' + cell(r, c.key) + "</td>";
      }).join("") + "</tr>";
    }).join("");
    count.textContent = shown.length + " of " + rows.length + " shown";
    document.querySelectorAll("#iom-table th").forEach(function (th) {
      th.setAttribute("aria-sort", th.dataset.key === sortKey ? (sortDir > 0 ? "ascending" : "descending") : "none");
    });
  }
  document.querySelectorAll("#iom-table th").forEach(function (th) {
    th.addEventListener("click", function () {
      if (sortKey === th.dataset.key) { sortDir = -sortDir; } else { sortKey = th.dataset.key; sortDir = th.dataset.desc ? -1 : 1; }
      render();
    });
  });
  [band, area].forEach(function (el) { el.addEventListener("change", render); });
  text.addEventListener("input", render);
  render();
})();
