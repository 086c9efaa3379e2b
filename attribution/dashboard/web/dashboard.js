// refedge partner dashboard charts: plain SVG, no dependencies.
//
// Reads the JSON block #rfe-chart-data the server rendered and draws into every
// <figure data-chart="...">. Text goes in through textContent only; sizes are SVG
// attributes, not inline styles, so the page's CSP needs no 'unsafe-inline'.
(function () {
  "use strict";

  var NS = "http://www.w3.org/2000/svg";
  var W = 640, H = 220, M = { top: 12, right: 12, bottom: 28, left: 72 };

  function el(name, attrs, parent) {
    var e = document.createElementNS(NS, name);
    for (var k in attrs) {
      if (Object.prototype.hasOwnProperty.call(attrs, k)) e.setAttribute(k, String(attrs[k]));
    }
    if (parent) parent.appendChild(e);
    return e;
  }

  function title(parent, text) {
    var t = el("title", {}, parent);
    t.textContent = text;
  }

  // Words come from the page's catalogue block, numbers and dates from Intl in the
  // page's language; bucket times are UTC, as the period above the charts says.
  var lang = document.documentElement.lang || "en";
  var messages = {};
  try { messages = JSON.parse((document.getElementById("rfe-messages") || {}).textContent || "{}"); } catch (e) { messages = {}; }
  function T(key, args) {
    return String(messages[key] || key).replace(/\{(\w+)\}/g, function (m, k) { return args && k in args ? String(args[k]) : m; });
  }
  var numFmt = new Intl.NumberFormat(lang);
  var pctFmt = new Intl.NumberFormat(lang, { style: "percent", minimumFractionDigits: 1, maximumFractionDigits: 1 });
  var labelFmts = {
    hour: new Intl.DateTimeFormat(lang, { timeZone: "UTC", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" }),
    day: new Intl.DateTimeFormat(lang, { timeZone: "UTC", day: "numeric", month: "short" }),
    month: new Intl.DateTimeFormat(lang, { timeZone: "UTC", month: "short", year: "numeric" })
  };

  function fmtNum(v) {
    return numFmt.format(Number(v));
  }

  function fmtMoney(v, exp) {
    return new Intl.NumberFormat(lang, { minimumFractionDigits: exp, maximumFractionDigits: exp }).format(v / Math.pow(10, exp));
  }

  function fmtPct(v) {
    return pctFmt.format(v);
  }

  // bucketLabels writes the buckets' start times for the interval.
  function bucketLabels(iso, interval) {
    var f = labelFmts[interval] || labelFmts.day;
    return (iso || []).map(function (s) {
      var d = new Date(s);
      return isNaN(d) ? s : f.format(d);
    });
  }

  // niceMax rounds a maximum up to 1, 2 or 5 times a power of ten.
  function niceMax(v) {
    if (!(v > 0)) return 1;
    var p = Math.pow(10, Math.floor(Math.log10(v)));
    var steps = [1, 2, 5, 10];
    for (var i = 0; i < steps.length; i++) {
      if (steps[i] * p >= v) return steps[i] * p;
    }
    return 10 * p;
  }

  // frame draws the SVG, axes and labels; it returns helpers to place values.
  function frame(fig, labels, lo, hi, fmt, name) {
    var svg = el("svg", { viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": name, "class": "plot" });
    fig.appendChild(svg);
    var pw = W - M.left - M.right, ph = H - M.top - M.bottom;
    var n = Math.max(labels.length, 1);
    var y = function (v) { return M.top + ph - ((v - lo) / (hi - lo)) * ph; };
    var x = function (i) { return M.left + (i * pw) / n; };
    var axis = el("g", { "class": "axis" }, svg);
    var ticks = lo < 0 ? [lo, 0, hi] : [0, hi / 2, hi];
    ticks.forEach(function (t) {
      el("line", { x1: M.left, x2: W - M.right, y1: y(t), y2: y(t), "class": t === 0 ? "zero" : "grid" }, axis);
      var tx = el("text", { x: M.left - 6, y: y(t) + 4, "text-anchor": "end" }, axis);
      tx.textContent = fmt(t);
    });
    var picks = labels.length <= 1 ? [0] : [0, Math.floor((labels.length - 1) / 2), labels.length - 1];
    picks.forEach(function (i) {
      if (labels[i] === undefined) return;
      var tx = el("text", { x: x(i) + pw / n / 2, y: H - 8, "text-anchor": "middle" }, axis);
      tx.textContent = labels[i];
    });
    return { svg: svg, x: x, y: y, bw: pw / n, ph: ph };
  }

  function legend(fig, items) {
    var ul = document.createElement("ul");
    ul.className = "legend";
    items.forEach(function (it) {
      var li = document.createElement("li");
      var sw = document.createElement("span");
      sw.className = "swatch " + it.cls;
      li.appendChild(sw);
      li.appendChild(document.createTextNode(it.label));
      ul.appendChild(li);
    });
    fig.appendChild(ul);
  }

  // bars draws one or more series side by side (stacked when stack is true).
  function bars(fig, labels, series, opts) {
    var lo = 0, hi = 0;
    for (var i = 0; i < labels.length; i++) {
      var sum = 0;
      series.forEach(function (s) {
        var v = s.values[i] || 0;
        if (opts.stack) sum += v; else hi = Math.max(hi, v);
        lo = Math.min(lo, v);
      });
      if (opts.stack) hi = Math.max(hi, sum);
    }
    hi = niceMax(hi);
    if (lo < 0) lo = -niceMax(-lo);
    var f = frame(fig, labels, lo, hi, opts.fmt, opts.name);
    var g = el("g", { "class": "bars" }, f.svg);
    var groups = opts.stack ? 1 : series.length;
    var gap = Math.min(2, f.bw * 0.15);
    var w = Math.max((f.bw - gap) / groups, 0.5);
    for (var j = 0; j < labels.length; j++) {
      var base = 0;
      series.forEach(function (s, k) {
        var v = s.values[j] || 0;
        var from = opts.stack ? base : 0, to = from + v;
        if (opts.stack) base = to;
        var top = f.y(Math.max(from, to)), bottom = f.y(Math.min(from, to));
        var r = el("rect", {
          x: f.x(j) + gap / 2 + (opts.stack ? 0 : k * w), y: top, width: w, height: Math.max(bottom - top, 0),
          "class": "bar " + s.cls, "data-value": v, "data-index": j
        }, g);
        title(r, labels[j] + " · " + s.label + ": " + opts.fmt(v));
      });
    }
    legend(fig, series);
  }

  // line draws a polyline with a point per bucket.
  function line(fig, labels, s, opts) {
    var hi = 0;
    s.values.forEach(function (v) { hi = Math.max(hi, v || 0); });
    var f = frame(fig, labels, 0, hi > 0 ? hi * 1.1 : 1, opts.fmt, opts.name);
    var pts = s.values.map(function (v, i) { return (f.x(i) + f.bw / 2).toFixed(1) + "," + f.y(v || 0).toFixed(1); });
    el("polyline", { points: pts.join(" "), "class": "line " + s.cls }, f.svg);
    var g = el("g", { "class": "points" }, f.svg);
    s.values.forEach(function (v, i) {
      var c = el("circle", { cx: f.x(i) + f.bw / 2, cy: f.y(v || 0), r: 2.5, "class": "point " + s.cls, "data-value": v || 0, "data-index": i }, g);
      title(c, labels[i] + " · " + s.label + ": " + opts.fmt(v || 0));
    });
    legend(fig, [s]);
  }

  function draw(d) {
    var L = bucketLabels(d.labels, d.interval);
    var charts = {
      clicks: function (fig) {
        bars(fig, L, [
          { label: T("dash.js.valid"), cls: "valid", values: d.valid },
          { label: T("dash.js.flagged"), cls: "flagged", values: d.flagged }
        ], { stack: true, fmt: fmtNum, name: T("dash.js.clicks_name") });
      },
      impressions: function (fig) {
        bars(fig, L, [{ label: T("dash.js.impressions"), cls: "impressions", values: d.impressions }], { fmt: fmtNum, name: T("dash.js.impressions") });
      },
      ctr: function (fig) {
        line(fig, L, { label: T("dash.js.ctr"), cls: "ctr", values: d.ctr }, { fmt: fmtPct, name: T("dash.js.ctr_name") });
      },
      signups: function (fig) {
        bars(fig, L, [
          { label: T("dash.js.signups"), cls: "signups", values: d.signups },
          { label: T("dash.js.activations"), cls: "activations", values: d.activations }
        ], { fmt: fmtNum, name: T("dash.js.signups_name") });
      },
      earnings: function (fig) {
        if (!d.earnings || d.earnings.length === 0) {
          bars(fig, L, [{ label: T("dash.js.earnings"), cls: "earnings", values: L.map(function () { return 0; }) }], { fmt: fmtNum, name: T("dash.js.earnings") });
          return;
        }
        d.earnings.forEach(function (c, i) {
          var sub = i === 0 ? fig : fig.appendChild(document.createElement("div"));
          bars(sub, L, [{ label: T("dash.js.net_earnings", { currency: c.currency }), cls: "earnings c" + (i % 4), values: c.values }],
            { fmt: function (v) { return fmtMoney(v, c.exp); }, name: T("dash.js.earnings_in", { currency: c.currency }) });
        });
      }
    };
    var figs = document.querySelectorAll("figure[data-chart]");
    for (var i = 0; i < figs.length; i++) {
      var fn = charts[figs[i].getAttribute("data-chart")];
      if (fn) fn(figs[i]);
      figs[i].setAttribute("data-drawn", "true");
    }
    document.documentElement.setAttribute("data-charts", "ready");
  }

  function start() {
    var node = document.getElementById("rfe-chart-data");
    if (!node) return;
    try {
      draw(JSON.parse(node.textContent));
    } catch (e) {
      document.documentElement.setAttribute("data-charts", "error");
      throw e;
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
