/* The interactive hotspot map page (offline). Data: window.WMP_MAP (see wmp_pipeline/maps/page.py). */
(function () {
  "use strict";
  var D = window.WMP_MAP;
  var fmt = function (v, d) { return v === null || v === undefined ? "–" : Number(v).toFixed(d); };
  var fmtInt = function (v) { return v === null || v === undefined ? "–" : String(Math.round(v)); };
  var pct = function (v) { return v === null || v === undefined ? "–" : (100 * v).toFixed(1) + "%"; };
  function esc(s) { return String(s).replace(/[&<>"]/g, function (c) { return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c]; }); }
  function rankChange(v) {
    if (v === null || v === undefined) return "new this week";
    if (v > 0) return "\u25B2 up " + v;
    if (v < 0) return "\u25BC down " + (-v);
    return "no change";
  }
  function fmtBreak(v) { return v >= 1 ? Number(v).toFixed(1) : String(Number(Number(v).toPrecision(2))); }
  function niceStep(raw) {
    var p = Math.pow(10, Math.floor(Math.log10(Math.max(raw, 1e-9)))), m = raw / p;
    return Math.max(1, (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p);
  }
  function colour(t, v) {
    var c = t.colours[0];
    for (var i = 0; i < t.breaks.length; i++) { if (v >= t.breaks[i]) c = t.colours[i + 1]; }
    return c;
  }

  var map = L.map("map", {zoomSnap: 0.25, attributionControl: !!D.tiles, preferCanvas: false});
  window.wmpMap = map;
  if (D.tiles) {
    L.tileLayer(D.tiles.url, {attribution: esc(D.tiles.attribution || ""), maxZoom: 19}).addTo(map);
  }
  map.createPane("boundaries");
  map.getPane("boundaries").style.zIndex = 450;
  map.getPane("boundaries").style.pointerEvents = "none";

  var info = document.getElementById("info");
  var layers = {}, byId = {}, current = null;

  function describe(t, i) {
    var c = t.cells;
    var name = D.lsoa_names[c.lsoa[i]] || "";
    return '<table class="kv">' +
      "<tr><th>Cell</th><td class=\"mono\" data-field=\"cell_id\">" + esc(c.id[i]) + " (" + t.cell_size_m + " m)</td></tr>" +
      "<tr><th>LSOA</th><td data-field=\"lsoa\">" + esc(c.lsoa[i] || "–") + (name ? " " + esc(name) : "") + "</td></tr>" +
      "<tr><th>Expected crimes, next 4 weeks</th><td data-field=\"predicted_count\">" + fmt(c.p[i], 2) + "</td></tr>" +
      "<tr><th>P(at least one)</th><td data-field=\"prob\">" + pct(c.q[i]) + "</td></tr>" +
      "<tr><th>Crimes, last 4 weeks</th><td data-field=\"c4\">" + fmtInt(c.c4[i]) + "</td></tr>" +
      "<tr><th>Crimes, last 52 weeks</th><td data-field=\"c52\">" + fmtInt(c.c52[i]) + "</td></tr>" +
      "<tr><th>Rank</th><td data-field=\"rank\">" + c.r[i] + " of " + c.id.length + (c.top[i] ? " (top " + t.top_n + ")" : "") + "</td></tr>" +
      "<tr><th>Since last week</th><td data-field=\"rank_change\">" + rankChange(c.rc[i]) + "</td></tr></table>";
  }

  function build(t) {
    var group = L.featureGroup(), c = t.cells, paths = [];
    for (var i = 0; i < c.id.length; i++) {
      var ring = c.ring[i], pts = [];
      for (var k = 0; k < ring.length; k += 2) pts.push([ring[k + 1], ring[k]]);
      var top = !!c.top[i];
      var base = {stroke: top, color: "#111", weight: top ? 2 : 0, fillColor: colour(t, c.p[i]), fillOpacity: 0.75,
                  className: top ? "wmp-cell wmp-top" : "wmp-cell"};
      var poly = L.polygon(pts, base);
      poly._wmp = {i: i, base: base};
      poly.on("mouseover", function (e) {
        var p = e.target;
        p.setStyle({stroke: true, weight: 3, color: "#0033cc"});
        p.bringToFront();
        info.innerHTML = "<h3>" + esc(t.title) + "</h3>" + describe(t, p._wmp.i);
        info.classList.add("active");
      });
      poly.on("mouseout", function (e) { e.target.setStyle(e.target._wmp.base); });
      group.addLayer(poly);
      paths.push(poly);
    }
    layers[t.code] = group;
    byId[t.code] = paths;
  }

  function legend(t) {
    var el = document.getElementById("legend");
    var rows = ['<div class="legend-title">Expected crimes per ' + t.cell_size_m + ' m cell, next 4 weeks</div>'];
    var lo = [0].concat(t.breaks);
    for (var i = 0; i < t.colours.length; i++) {
      var label = i + 1 < lo.length ? fmtBreak(lo[i]) + " – " + fmtBreak(lo[i + 1]) : "\u2265 " + fmtBreak(lo[i]);
      rows.push('<div class="legend-row"><span class="swatch" style="background:' + t.colours[i] + '"></span>' + label + "</div>");
    }
    rows.push('<div class="legend-row"><span class="swatch top"></span>outlined: the top ' + t.top_n + (t.top_n === 1 ? " cell" : " cells") + " (1% of the area)</div>");
    el.innerHTML = rows.join("");
  }

  function show(code) {
    var t = D.targets.filter(function (x) { return x.code === code; })[0];
    if (!t) return;
    if (current && layers[current]) map.removeLayer(layers[current]);
    if (!layers[code]) build(t);
    layers[code].addTo(map);
    current = code;
    legend(t);
    document.getElementById("target-title").textContent = t.title + " \u2014 " + t.cell_size_m + " m cells";
    info.innerHTML = '<p class="hint">Hover over a cell for its numbers.</p>';
    info.classList.remove("active");
    document.querySelectorAll(".trend").forEach(function (el) { el.classList.toggle("current", el.dataset.target === code); });
  }

  /* the page's test hook: the screen point of a cell's centre (by rank) of the shown target */
  window.wmpCellPoint = function (rank) {
    var t = D.targets.filter(function (x) { return x.code === current; })[0];
    var i = t.cells.r.indexOf(rank);
    var p = map.latLngToContainerPoint(byId[current][i].getBounds().getCenter());
    var box = document.getElementById("map").getBoundingClientRect();
    return {x: box.left + p.x, y: box.top + p.y, id: t.cells.id[i]};
  };

  if (D.outline) {
    L.geoJSON(D.outline, {pane: "boundaries", interactive: false, style: {color: "#222", weight: 2.5, fill: false}}).addTo(map);
  }
  if (D.lsoas) {
    L.geoJSON(D.lsoas, {pane: "boundaries", interactive: false, style: {color: "#555", weight: 0.6, opacity: 0.7, fill: false}}).addTo(map);
  }
  var labels = L.layerGroup(), districtLabels = L.layerGroup();
  (D.labels || []).forEach(function (l) {
    var m = L.marker([l.lat, l.lon], {icon: L.divIcon({className: "area-label", html: esc(l.name), iconSize: null}), interactive: false, keyboard: false});
    (l.level === "district" ? districtLabels : labels).addLayer(m);
  });
  districtLabels.addTo(map);
  function labelZoom() {
    if (map.getZoom() >= D.label_min_zoom) { labels.addTo(map); } else { map.removeLayer(labels); }
  }
  map.on("zoomend", labelZoom);

  var radios = document.querySelectorAll("input[name=target]");
  radios.forEach(function (r) { r.addEventListener("change", function () { if (r.checked) show(r.value); }); });

  D.targets.forEach(build);
  var bounds = L.latLngBounds([]);
  Object.keys(layers).forEach(function (k) { bounds.extend(layers[k].getBounds()); });
  map.fitBounds(bounds, {padding: [10, 10]});
  show(D.targets[0].code);
  labelZoom();

  /* trend charts: inline SVG, hover for values */
  document.querySelectorAll(".trend").forEach(function (box) {
    var tr = D.trends[box.dataset.target];
    if (!tr || !tr.weeks.length) return;
    var W = 640, H = 220, L0 = 44, R0 = 12, T0 = 12, B0 = 28;
    var n = tr.weeks.length, ymax = 1;
    tr.recorded.concat(tr.forecast).forEach(function (v) { if (v !== null && v > ymax) ymax = v; });
    var step = niceStep(ymax / 4);
    ymax = step * Math.ceil(ymax / step);
    var x = function (i) { return L0 + (n === 1 ? 0 : i * (W - L0 - R0) / (n - 1)); };
    var y = function (v) { return T0 + (H - T0 - B0) * (1 - v / ymax); };
    function line(vals) {
      var d = "";
      vals.forEach(function (v, i) { if (v === null) return; d += (d ? "L" : "M") + x(i).toFixed(1) + "," + y(v).toFixed(1); });
      return d;
    }
    var s = ['<svg class="wmp-trend" viewBox="0 0 ' + W + " " + H + '" role="img">'];
    for (var v = 0; v <= ymax + 1e-9; v += step) {
      s.push('<line class="grid" x1="' + L0 + '" x2="' + (W - R0) + '" y1="' + y(v) + '" y2="' + y(v) + '"/>');
      s.push('<text class="axis" x="' + (L0 - 6) + '" y="' + (y(v) + 4) + '" text-anchor="end">' + Math.round(v) + "</text>");
    }
    [0, Math.floor((n - 1) / 2), n - 1].forEach(function (i, k) {
      var anchor = ["start", "middle", "end"][k];
      s.push('<text class="axis" x="' + x(i) + '" y="' + (H - 8) + '" text-anchor="' + anchor + '">' + tr.weeks[i] + "</text>");
    });
    s.push('<path class="recorded" d="' + line(tr.recorded) + '"/>');
    s.push('<path class="forecast" d="' + line(tr.forecast) + '"/>');
    s.push('<line class="cursor" y1="' + T0 + '" y2="' + (H - B0) + '" x1="-10" x2="-10"/>');
    s.push('<rect class="hover" x="' + L0 + '" y="' + T0 + '" width="' + (W - L0 - R0) + '" height="' + (H - T0 - B0) + '"/></svg>');
    s.push('<div class="wmp-trend-tip">Hover over the chart for the values of a week.</div>');
    box.querySelector(".chart").innerHTML = s.join("");
    var svg = box.querySelector("svg"), tip = box.querySelector(".wmp-trend-tip"), cursor = svg.querySelector(".cursor");
    svg.querySelector(".hover").addEventListener("mousemove", function (e) {
      var r = svg.getBoundingClientRect(), px = (e.clientX - r.left) * W / r.width;
      var i = Math.max(0, Math.min(n - 1, Math.round((px - L0) / ((W - L0 - R0) / Math.max(1, n - 1)))));
      cursor.setAttribute("x1", x(i)); cursor.setAttribute("x2", x(i));
      tip.textContent = "4 weeks from " + tr.weeks[i] + ": recorded " + fmtInt(tr.recorded[i]) + ", forecast " + fmt(tr.forecast[i], 1);
    });
  });
})();
