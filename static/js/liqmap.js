/* liqmap page script: theme, data age and stale badge, table sorting, copy button, and the
 * heatmap's leverage filter and intensity control. Plain JavaScript (no eval, no CustomJS),
 * so it runs under the pages' Content-Security-Policy; it touches Bokeh models by name. */
(function () {
  "use strict";
  var root = document.documentElement;

  function stored(key, value) {
    // localStorage throws inside sandboxed iframes (opaque origin): treat as unavailable.
    try {
      if (value === undefined) { return window.localStorage.getItem(key); }
      window.localStorage.setItem(key, value);
    } catch (e) { /* no storage */ }
    return null;
  }

  /* Theme: dark by default; ?theme=light or the toggle (remembered) switch it. */
  var asked = /[?&]theme=(dark|light)\b/.exec(window.location.search);
  var theme = asked ? asked[1] : stored("liqmap-theme");
  if (theme === "light" || theme === "dark") { root.setAttribute("data-theme", theme); }
  document.addEventListener("click", function (ev) {
    var btn = ev.target.closest ? ev.target.closest("[data-theme-toggle]") : null;
    if (!btn) { return; }
    var next = root.getAttribute("data-theme") === "light" ? "dark" : "light";
    root.setAttribute("data-theme", next);
    stored("liqmap-theme", next);
  });

  /* Data age ("12 min ago") and a stale badge when the data is older than the limit. */
  function ageText(ms) {
    var min = Math.round(ms / 60000);
    if (min < 1) { return "just now"; }
    if (min < 90) { return min + " min ago"; }
    var h = ms / 3600000;
    if (h < 48) { return h.toFixed(h < 10 ? 1 : 0) + " h ago"; }
    return Math.round(h / 24) + " days ago";
  }
  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-age]").forEach(function (el) {
      var t = Date.parse(el.getAttribute("data-age"));
      if (!isNaN(t)) { el.textContent = "(" + ageText(now - t) + ")"; }
    });
    document.querySelectorAll("[data-stale-badge]").forEach(function (el) {
      var t = Date.parse(el.getAttribute("data-asof"));
      var limit = parseFloat(el.getAttribute("data-stale-after")) * 3600000;
      if (isNaN(t) || isNaN(limit)) { return; }
      if (now - t > limit) {
        el.hidden = false;
        if (!el.hasAttribute("data-server-stale")) {
          el.textContent = "stale: data is " + ageText(now - t).replace(" ago", "") + " old";
        }
        el.title = "The data behind this page ends more than " + (limit / 3600000) + " hours ago.";
      }
    });
  }
  document.querySelectorAll("[data-stale-badge]").forEach(function (el) {
    if (!el.hidden) { el.setAttribute("data-server-stale", ""); }
  });
  tick();
  window.setInterval(tick, 60000);

  /* Sortable tables: buttons in the header cells; values from data-value. */
  document.querySelectorAll("table[data-sortable]").forEach(function (table) {
    var heads = table.querySelectorAll("thead th");
    heads.forEach(function (th, col) {
      var btn = th.querySelector("button[data-sort]");
      if (!btn) { return; }
      btn.addEventListener("click", function () {
        var numeric = btn.getAttribute("data-sort") === "num";
        var asc = th.getAttribute("aria-sort") !== "ascending";
        heads.forEach(function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", asc ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var ca = a.cells[col], cb = b.cells[col];
          var va = ca ? (ca.getAttribute("data-value") || ca.textContent) : "";
          var vb = cb ? (cb.getAttribute("data-value") || cb.textContent) : "";
          var r = numeric ? (parseFloat(va) - parseFloat(vb)) : va.localeCompare(vb);
          return asc ? r : -r;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });

  /* Copy buttons. */
  document.querySelectorAll("[data-copy]").forEach(function (btn) {
    btn.addEventListener("click", function () {
      var el = document.querySelector(btn.getAttribute("data-copy"));
      if (!el) { return; }
      el.select();
      var done = function () { btn.textContent = "Copied"; };
      try {
        navigator.clipboard.writeText(el.value).then(done, function () { document.execCommand("copy"); done(); });
      } catch (e) { document.execCommand("copy"); done(); }
    });
  });

  /* Heatmap controls: wait for BokehJS to build the document, then find models by name. */
  var controls = document.querySelector("[data-heat-controls]");
  if (!controls) { return; }

  function whenModels(cb) {
    var tries = 0;
    (function poll() {
      var B = window.Bokeh;
      if (B && B.documents && B.documents.length) {
        var doc = B.documents[0];
        var src = doc.get_model_by_name("heat_src");
        if (src) { cb(doc, src); return; }
      }
      if (tries++ < 400) { window.setTimeout(poll, 25); }
    })();
  }

  whenModels(function (doc, src) {
    var mapper = doc.get_model_by_name("heat_mapper");
    var allHigh = parseFloat(controls.getAttribute("data-high")) || (mapper ? mapper.high : 1);
    var baseHigh = allHigh;
    var slider = controls.querySelector("[data-intensity]");
    function recolour() {
      // Intensity: each step of the slider halves (or doubles) the top of the colour scale
      // every two steps; the colour bar follows, so its dollar labels stay true.
      if (mapper) { mapper.high = baseHigh * Math.pow(2, -(slider ? parseFloat(slider.value) : 0) / 2); }
    }
    var status = controls.querySelector("[data-lev-status]");
    var d = src.data;
    var L = d.long[0], S = d.short[0], I = d.image[0];
    var groups = (controls.getAttribute("data-groups") || "").split(",").filter(Boolean);
    var allL = Float32Array.from(L), allS = Float32Array.from(S);
    if (groups.length > 1) {
      // The page ships the hover columns empty; "all" is the sum of the leverage groups.
      allL.fill(0); allS.fill(0);
      groups.forEach(function (g) {
        var gl = d["long_" + g][0], gs = d["short_" + g][0];
        for (var i = 0; i < allL.length; i++) { allL[i] += gl[i]; allS[i] += gs[i]; }
      });
      for (var j = 0; j < L.length; j++) { L[j] = allL[j]; S[j] = allS[j]; I[j] = allL[j] + allS[j]; }
      src.change.emit();
    }
    var mapSrc = doc.get_model_by_name("map_src");
    var mapAll = null;
    if (mapSrc) {
      mapAll = {};
      ["long", "short", "cum_long", "cum_short"].forEach(function (c) { mapAll[c] = Array.from(mapSrc.data[c]); });
    }
    root.setAttribute("data-heat-ready", "1");

    function rescaleMap() {
      var bars = doc.get_model_by_name("map_bars"), cum = doc.get_model_by_name("map_cum");
      var fig = doc.get_model_by_name("liqmap");
      if (!mapSrc || !bars || !cum || !fig) { return; }
      var lo = fig.x_range.start, hi = fig.x_range.end, md = mapSrc.data;
      var top = 0, ctop = 0;
      for (var i = 0; i < md.price.length; i++) {
        if (md.price[i] < lo || md.price[i] > hi) { continue; }
        top = Math.max(top, md.long[i], md.short[i]);
        ctop = Math.max(ctop, md.cum_long[i], md.cum_short[i]);
      }
      bars.end = (top || 1) * 1.08;
      cum.end = (ctop || 1) * 1.05;
    }

    function apply(key) {
      var gl = key === "all" ? allL : d["long_" + key][0];
      var gs = key === "all" ? allS : d["short_" + key][0];
      if (!gl || !gs) { return; }
      for (var i = 0; i < I.length; i++) { L[i] = gl[i]; S[i] = gs[i]; I[i] = gl[i] + gs[i]; }
      // In-place edits: BokehJS re-maps the image on the source's change signal.
      src.change.emit();
      if (mapSrc) {
        var md = Object.assign({}, mapSrc.data);
        ["long", "short", "cum_long", "cum_short"].forEach(function (c) {
          md[c] = key === "all" ? mapAll[c].slice() : Array.from(mapSrc.data[c + "_" + key]);
        });
        mapSrc.data = md;
        mapSrc.change.emit();
        rescaleMap();
      }
      // Each leverage group gets its own colour scale (the colour bar shows it in dollars).
      baseHigh = key === "all" ? allHigh : (parseFloat(controls.getAttribute("data-high-" + key)) || allHigh);
      recolour();
      root.setAttribute("data-lev", key);
      if (status) {
        var label = controls.querySelector("input[name=lev][value=" + key + "]");
        status.textContent = key === "all" ? "" : "showing " + (label ? label.parentNode.getAttribute("title") : key) + " only";
      }
    }

    controls.querySelectorAll("input[name=lev]").forEach(function (inp) {
      inp.addEventListener("change", function () { if (inp.checked) { apply(inp.value); } });
    });
    if (slider) { slider.addEventListener("input", recolour); }
  });
})();
