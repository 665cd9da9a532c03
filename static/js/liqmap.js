/* liqmap page script: theme, data age and stale badge, table sorting and filter boxes, copy
 * button; loading the interactive Bokeh figures on demand; and the heatmap's leverage filter,
 * intensity control, key-level edge labels, number style and theme colours. Plain JavaScript (no
 * eval, no CustomJS), so it runs under the pages' Content-Security-Policy; it touches Bokeh
 * models by name (sitegen/render/figures.py lists them). */
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
    themeListeners.forEach(function (f) { f(next); });
  });
  var themeListeners = [];

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
      // A recorded sample is old on purpose; only the build can mark it stale.
      if (el.hasAttribute("data-sample") && !el.hasAttribute("data-server-stale")) { return; }
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

  /* Sortable tables: buttons in the header cells; values from data-value. The first click
   * sorts ascending (data-first="descending" for columns read largest first), the next one
   * reverses; rows without a value stay last either way. */
  document.querySelectorAll("table[data-sortable]").forEach(function (table) {
    var heads = table.querySelectorAll("thead th");
    heads.forEach(function (th, col) {
      var btn = th.querySelector("button[data-sort]");
      if (!btn) { return; }
      btn.addEventListener("click", function () {
        var numeric = btn.getAttribute("data-sort") === "num";
        var now = th.getAttribute("aria-sort");
        var asc = now ? now !== "ascending" : btn.getAttribute("data-first") !== "descending";
        heads.forEach(function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", asc ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        var value = function (row) {
          var c = row.cells[col];
          var v = c ? (c.hasAttribute("data-value") ? c.getAttribute("data-value") : c.textContent) : "";
          if (!numeric) { return v.trim() === "" ? null : v; }
          var x = parseFloat(v);
          return isFinite(x) ? x : null;
        };
        var keyed = rows.map(function (r, i) { return [value(r), i, r]; });
        keyed.sort(function (a, b) {
          if (a[0] === null || b[0] === null) {
            return a[0] === b[0] ? a[1] - b[1] : (a[0] === null ? 1 : -1);
          }
          var r = numeric ? a[0] - b[0] : String(a[0]).localeCompare(String(b[0]));
          return (asc ? r : -r) || a[1] - b[1];
        });
        keyed.forEach(function (k) { body.appendChild(k[2]); });
      });
    });
  });

  /* Filter boxes: rows whose data-search holds the typed text stay, as the reader types
   * (case-insensitive; "so" finds SOL by its base, pair or slug). */
  document.querySelectorAll("input[data-filter]").forEach(function (input) {
    var table = document.getElementById(input.getAttribute("data-filter"));
    if (!table) { return; }
    var count = document.querySelector("[data-filter-count='" + table.id + "']");
    var noun = count ? count.getAttribute("data-noun") : "";
    function apply() {
      var q = input.value.trim().toLowerCase();
      var rows = table.tBodies[0].rows, shown = 0;
      for (var i = 0; i < rows.length; i++) {
        var hit = !q || (rows[i].getAttribute("data-search") || "").indexOf(q) >= 0;
        rows[i].hidden = !hit;
        if (hit) { shown++; }
      }
      if (count) {
        count.textContent = q ? shown + " of " + rows.length + " " + noun : rows.length + " " + noun;
      }
    }
    input.addEventListener("input", apply);
    var asked = /[?&]q=([^&#]*)/.exec(window.location.search);
    if (asked) {
      try { input.value = decodeURIComponent(asked[1].replace(/\+/g, " ")); } catch (e) { input.value = ""; }
    }
    if (input.value) { apply(); }  // ?q=sol, or the text the browser restored on "back"
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

  /* One number style everywhere, as sitegen.render.levels.fmt_usd: $442M, $3.7B, -$100M. */
  function fmtUsd(x) {
    if (typeof x !== "number" || !isFinite(x)) { return "\u2013"; }
    var a = Math.abs(x), sign = x < 0 ? "-" : "";
    var units = [[1e12, "T"], [1e9, "B"], [1e6, "M"], [1e3, "K"]];
    for (var i = 0; i < units.length; i++) {
      var v = a / units[i][0], tenths = Math.floor(v * 10 + 0.5) / 10;
      if (tenths >= 1) {
        return sign + "$" + (tenths < 10 ? tenths.toFixed(1) : Math.floor(v + 0.5).toFixed(0)) + units[i][1];
      }
    }
    return sign + "$" + Math.floor(a + 0.5).toFixed(0);
  }
  window.liqmapFmtUsd = fmtUsd;  // the tests compare it with the Python fmt_usd

  /* Switch Bokeh's dollar formatters to fmtUsd: by class, before any view draws. The models
   * are named usd_ticks / usd_hover in the page; other formatters keep Bokeh's behaviour. */
  function patchFormatters(B) {
    var Models = B.Models;
    var get = function (n) { try { return Models.get ? Models.get(n) : Models(n); } catch (e) { return null; } };
    var Num = get("NumeralTickFormatter"), Hover = get("CustomJSHover");
    if (Num && !Num.prototype.__liqmap) {
      var doFormat = Num.prototype.doFormat;
      Num.prototype.doFormat = function (ticks, opts) {
        return this.name === "usd_ticks" ? ticks.map(fmtUsd) : doFormat.call(this, ticks, opts);
      };
      Num.prototype.__liqmap = true;
    }
    if (Hover && !Hover.prototype.__liqmap) {
      var format = Hover.prototype.format;
      Hover.prototype.format = function (value, fmt, vars) {
        return this.name === "usd_hover" ? fmtUsd(value) : format.call(this, value, fmt, vars);
      };
      Hover.prototype.__liqmap = true;
    }
  }

  /* Interactive figures on demand. The page shows a static picture of the heatmap; BokehJS
   * (1.3 MB) and the page's document (doc.js beside the page, sitegen/docfile.py) load on the
   * reader's first touch, key, wheel, scroll or mouse move, or at once when the page carries
   * both inline (--standalone). The heatmap is built then; a figure below the fold only when
   * it scrolls into view. Callbacks registered with onDocument run whenever the document
   * arrives, however late. */
  var itemsEl = document.getElementById("liqmap-bokeh-items");
  var docCallbacks = [], liveDoc = null, started = false;
  var byName = {}, allModels = [];  // every model of the document, attached to it or not yet
  function onDocument(cb) { if (liveDoc) { cb(liveDoc); } else { docCallbacks.push(cb); } }
  function loadScripts(urls) {
    return Promise.all(urls.map(function (u) {
      return new Promise(function (resolve, reject) {
        var el = document.createElement("script");
        el.src = u; el.async = false;  // fetched in parallel, run in order
        el.onload = resolve;
        el.onerror = function () { reject(new Error("cannot load " + u)); };
        document.head.appendChild(el);
      });
    }));
  }
  var triggers = ["pointerdown", "touchstart", "keydown", "wheel", "scroll", "mousemove"];
  var startY = window.scrollY;
  function onInput(ev) {
    // Only a reader's own input counts: Chrome sends synthetic mouse moves (no movement)
    // after layout, and a scroll event when it restores the position on load.
    if (!ev.isTrusted) { return; }
    if (ev.type === "mousemove" && !ev.movementX && !ev.movementY) { return; }
    if (ev.type === "scroll" && Math.abs(window.scrollY - startY) < 4) { return; }
    start();
  }

  /* Build the document, show the heatmap and whatever else is on screen, and add each other
   * figure (a root of the same document, so shared ranges stay linked) as it comes into view. */
  var MARGIN = 200;  // px: start building a figure this far before it scrolls into view
  function nearView(el) {
    var r = el.getBoundingClientRect();
    return r.bottom > -MARGIN && r.top < window.innerHeight + MARGIN;
  }
  function whenBuilt(doc, model, el) {
    var frames = 0;
    (function check() {
      if (doc.views_manager && doc.views_manager.get(model)) { el.setAttribute("data-built", ""); return; }
      if (++frames < 1200) { window.requestAnimationFrame(check); }
    })();
  }
  function build(B, docsJson, item) {
    var doc = B.require("document").Document.from_json(docsJson[item.docid]);
    doc.all_models.forEach(function (m) { allModels.push(m); if (m.name) { byName[m.name] = m; } });
    var later = [];
    doc.roots().slice().forEach(function (m) {
      var el = document.getElementById(item.roots[m.id]);
      if (el && m.name !== "heatmap" && !nearView(el)) { later.push([m, el]); doc.remove_root(m); }
    });
    // add_document_standalone puts root i of the document into els[i], now and when added.
    var els = doc.roots().map(function (m) { return document.getElementById(item.roots[m.id]); });
    return B.embed.add_document_standalone(doc, document.body, els).then(function () {
      doc.roots().forEach(function (m, i) { if (els[i]) { els[i].setAttribute("data-built", ""); } });
      return { doc: doc, later: later, els: els };
    });
  }
  function addLater(built) {
    var doc = built.doc;
    function attach(pair) {
      if (pair.done) { return; }
      pair.done = true;
      built.els[doc.roots().length] = pair[1];
      doc.add_root(pair[0]);
      whenBuilt(doc, pair[0], pair[1]);
    }
    if (!built.later.length) { return; }
    if (!("IntersectionObserver" in window)) { built.later.forEach(attach); return; }
    var io = new window.IntersectionObserver(function (entries) {
      entries.forEach(function (e) {
        if (!e.isIntersecting) { return; }
        io.unobserve(e.target);
        built.later.forEach(function (pair) { if (pair[1] === e.target) { attach(pair); } });
      });
    }, { rootMargin: MARGIN + "px 0px" });
    built.later.forEach(function (pair) { io.observe(pair[1]); });
  }
  function start() {
    if (started || !itemsEl) { return; }
    started = true;
    triggers.forEach(function (t) { window.removeEventListener(t, onInput, true); });
    root.setAttribute("data-loading", "");
    var items = JSON.parse(itemsEl.textContent);
    var src = JSON.parse(document.getElementById("liqmap-bokeh-src").textContent);
    var inline = document.getElementById("liqmap-bokeh-docs");
    var built = null;
    loadScripts(src).then(function () {
      var docsJson = inline ? JSON.parse(inline.textContent) : window.liqmapDoc;
      if (!window.Bokeh || !docsJson) { throw new Error("the chart data did not arrive"); }
      patchFormatters(window.Bokeh);
      return build(window.Bokeh, docsJson, items[0]);
    }).then(function (b) {
      built = b;
      liveDoc = b.doc;
      var cbs = docCallbacks; docCallbacks = [];
      cbs.forEach(function (cb) { cb(liveDoc); });
      root.removeAttribute("data-loading");
      root.setAttribute("data-live", "");
      addLater(built);
    }).catch(function (err) {
      root.removeAttribute("data-loading");
      root.setAttribute("data-live-error", String(err && err.message || err));
      if (window.console) { window.console.error("liqmap: charts failed to load", err); }
    });
  }
  if (itemsEl) {
    if (window.Bokeh) {
      start();
    } else {
      triggers.forEach(function (t) { window.addEventListener(t, onInput, { capture: true, passive: true }); });
      document.querySelectorAll("[data-load-charts]").forEach(function (b) { b.addEventListener("click", start); });
      if (/[?&]live\b/.test(window.location.search)) { start(); }
    }
  }

  // By name among all the document's models, including figures not yet added to the page.
  function named(doc, name) { return byName[name] || doc.get_model_by_name(name); }
  function isA(model, cls) { return model && model.constructor && model.constructor.__name__ === cls; }
  var mouse = window.matchMedia && window.matchMedia("(pointer: fine)").matches;

  /* Touch: no drag tool is active in the page (a swipe scrolls the page); with a mouse,
   * drag pans as usual. On a touch screen the toolbar stays visible, so pan and zoom are
   * one tap away, and a tap shows the tooltip. */
  onDocument(function (doc) {
    ["heatmap", "liqmap"].forEach(function (n) {
      var fig = named(doc, n);
      if (!fig) { return; }
      if (mouse) {
        var pan = fig.toolbar.tools.filter(function (t) { return isA(t, "PanTool"); })[0];
        if (pan) { fig.toolbar.active_drag = pan; }
      } else {
        fig.toolbar.autohide = false;
      }
    });
  });

  /* A tap shows the tooltip: BokehJS shows it on a pointer move, which a touch tap never
   * sends, so the tap is handed to the figure's event layer as one. */
  function eventLayers(node, out) {
    node.querySelectorAll("*").forEach(function (el) {
      if (el.classList && el.classList.contains("bk-events")) { out.push(el); }
      if (el.shadowRoot) { eventLayers(el.shadowRoot, out); }
    });
    return out;
  }
  var touchStart = null;
  document.addEventListener("pointerdown", function (ev) {
    touchStart = ev.pointerType === "touch" ? [ev.clientX, ev.clientY] : null;
  }, true);
  document.addEventListener("pointerup", function (ev) {
    if (ev.pointerType !== "touch" || !touchStart || !liveDoc) { return; }
    if (Math.abs(ev.clientX - touchStart[0]) + Math.abs(ev.clientY - touchStart[1]) > 12) { return; }
    var holder = ev.target && ev.target.closest ? ev.target.closest(".bk-root-holder") : null;
    if (!holder) { return; }
    var x = ev.clientX, y = ev.clientY;
    // After BokehJS has finished with the touch itself, as a separate (mouse) pointer.
    window.setTimeout(function () {
      eventLayers(holder, []).forEach(function (el) {
        var r = el.getBoundingClientRect();
        if (x < r.left || x > r.right || y < r.top || y > r.bottom) { return; }
        el.dispatchEvent(new PointerEvent("pointermove", {
          clientX: x, clientY: y, pointerId: 7001, pointerType: "mouse", isPrimary: true,
          bubbles: true, composed: true
        }));
      });
    }, 0);
  }, true);

  /* Theme colours for the plot areas (the heat image keeps its palette). */
  var THEMES = {
    dark: { bg: "#0d1017", text: "#9aa4b2", grid: "#3a3f4b", price: "#ffffff", cumL: "#b8dcff", cumS: "#ffe0a8", labelBg: "#0d1017" },
    light: { bg: "#ffffff", text: "#556070", grid: "#dde2ea", price: "#151a23", cumL: "#0b3d91", cumS: "#8a4500", labelBg: "#ffffff" }
  };
  function applyTheme(doc, name) {
    var t = THEMES[name] || THEMES.dark;
    allModels.forEach(function (m) {
      var cls = m.constructor && m.constructor.__name__;
      if (cls === "Figure" || cls === "Plot") {
        if (m.name !== "heatmap") { m.background_fill_color = t.bg; }
      } else if (/Axis$/.test(cls)) {
        m.major_label_text_color = t.text; m.axis_label_text_color = t.text;
        m.axis_line_color = t.grid; m.major_tick_line_color = t.grid;
      } else if (cls === "Grid") {
        m.grid_line_color = t.grid;
      } else if (cls === "Legend") {
        m.label_text_color = t.text;
      } else if (cls === "ColorBar") {
        m.major_label_text_color = t.text; m.title_text_color = t.text;
      } else if (cls === "Span" && m.name === "price_span") {
        m.line_color = t.price;
      } else if (cls === "GlyphRenderer" && (m.name === "cum_long_line" || m.name === "cum_short_line")) {
        m.glyph.line_color = m.name === "cum_long_line" ? t.cumL : t.cumS;
      }
    });
  }
  onDocument(function (doc) {
    applyTheme(doc, root.getAttribute("data-theme"));
    themeListeners.push(function (name) { applyTheme(doc, name); });
  });

  /* Heatmap controls, key-level edge labels and an honest colour scale. */
  var controls = document.querySelector("[data-heat-controls]");
  if (!controls) { return; }

  onDocument(function (doc) {
    var src = named(doc, "heat_src");
    if (!src) { return; }
    var mapper = named(doc, "heat_mapper");
    var heat = named(doc, "heatmap");
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
      // The page ships the drawn image and the hover columns empty; "all" is the sum of the
      // leverage groups.
      allL.fill(0); allS.fill(0);
      groups.forEach(function (g) {
        var gl = d["long_" + g][0], gs = d["short_" + g][0];
        for (var i = 0; i < allL.length; i++) { allL[i] += gl[i]; allS[i] += gs[i]; }
      });
      for (var j = 0; j < L.length; j++) { L[j] = allL[j]; S[j] = allS[j]; I[j] = allL[j] + allS[j]; }
      src.change.emit();
    }
    var mapSrc = named(doc, "map_src");
    var mapAll = null;
    if (mapSrc) {
      mapAll = {};
      ["long", "short", "cum_long", "cum_short"].forEach(function (c) { mapAll[c] = Array.from(mapSrc.data[c]); });
    }

    /* The colour scale tops out at the 99th percentile of the non-empty cells on screen, as
     * the page computed it for the default window; it follows when the reader pans or zooms. */
    var shape = I.shape || [0, 0];
    var rowsN = shape[0], colsN = shape[1];
    var y0 = Math.log(d.y[0]), y1 = Math.log(d.y[0] + d.dh[0]);
    function visibleHigh() {
      if (!heat || !rowsN) { return baseHigh; }
      var lo = Math.log(heat.y_range.start), hi = Math.log(heat.y_range.end);
      var vals = [];
      for (var r = 0; r < rowsN; r++) {
        var c = y0 + (r + 0.5) / rowsN * (y1 - y0);
        if (c < lo || c > hi) { continue; }
        for (var k = r * colsN, e = k + colsN; k < e; k++) { if (I[k] > 0) { vals.push(I[k]); } }
      }
      if (!vals.length) { return baseHigh; }
      vals.sort(function (a, b) { return a - b; });
      return Math.max(vals[Math.min(vals.length - 1, Math.floor(0.99 * (vals.length - 1)))], 1);
    }

    var marks = [];
    try { marks = JSON.parse(controls.getAttribute("data-marks") || "[]"); } catch (e) { marks = []; }
    var above = named(doc, "off_above"), below = named(doc, "off_below");
    var lastPrice = parseFloat(controls.getAttribute("data-last")) || 0;
    function edgeLabels() {
      if (!heat) { return; }
      var lo = heat.y_range.start, hi = heat.y_range.end;
      [[above, function (m) { return m.price > hi; }, "\u25b2 ", hi, -16],
       [below, function (m) { return m.price < lo; }, "\u25bc ", lo, 4]].forEach(function (a) {
        var label = a[0];
        if (!label) { return; }
        // The nearest one and how many more lie beyond (figures.py: _edge_text).
        var off = marks.filter(a[1]).sort(function (x, y) {
          return Math.abs(x.price - lastPrice) - Math.abs(y.price - lastPrice);
        });
        label.text = off.length ? a[2] + off[0].text + (off.length > 1 ? " (+" + (off.length - 1) + " more)" : "") : "";
        label.visible = off.length > 0;
        label.y = a[3]; label.y_offset = a[4];
      });
    }
    var pending = null;
    function onView() {
      edgeLabels();
      if (pending) { window.clearTimeout(pending); }
      pending = window.setTimeout(function () { baseHigh = visibleHigh(); recolour(); }, 120);
    }
    if (heat) {
      heat.y_range.change.connect(onView);
    }
    root.setAttribute("data-heat-ready", "1");

    function rescaleMap() {
      var bars = named(doc, "map_bars"), cum = named(doc, "map_cum");
      var fig = named(doc, "liqmap");
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
