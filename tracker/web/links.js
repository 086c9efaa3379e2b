// refedge link builder: posts the form to POST /api/v1/links (same origin, session
// cookie) and shows the answer. Every value goes in through value, textContent or a
// checked attribute, never as markup.
(() => {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const form = $("link-form");
  if (!form) return;
  const root = document.documentElement;
  const errorBox = $("error");
  const result = $("result");
  const messages = JSON.parse(($("rfe-messages") || {}).textContent || "{}");
  // T is the catalogue's text of key with {name} placeholders filled from args.
  const T = (key, args) => String(messages[key] || key).replace(/\{(\w+)\}/g, (m, k) => (args && k in args ? String(args[k]) : m));

  function fail(msg) {
    errorBox.textContent = msg;
    errorBox.hidden = false;
    result.hidden = true;
    root.dataset.state = "error";
  }

  function render(d) {
    $("link").value = d.link;
    for (const row of document.querySelectorAll("#share tr[data-network]")) {
      const n = row.dataset.network;
      const a = $("share-" + n);
      const href = (d.share && d.share[n]) || "";
      if (/^(https:\/\/|mailto:)/.test(href)) a.href = href; else a.removeAttribute("href");
      $("share-link-" + n).value = (d.share_links && d.share_links[n]) || "";
    }
    if (typeof d.qr_png === "string" && d.qr_png.startsWith("data:image/png;base64,")) {
      $("qr").src = d.qr_png;
      $("qr-png").href = d.qr_png;
    }
    if (typeof d.qr_svg === "string") {
      $("qr-svg").href = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(d.qr_svg);
    }
    errorBox.hidden = true;
    result.hidden = false;
    root.dataset.state = "ready";
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    errorBox.hidden = true;
    const body = { url: $("url").value.trim() };
    const sub = $("sub").value.trim();
    if (sub) body.sub = sub;
    $("build").disabled = true;
    root.dataset.state = "loading";
    try {
      const resp = await fetch("/api/v1/links", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "Accept": "application/json" },
        body: JSON.stringify(body),
      });
      let data = null;
      try { data = await resp.json(); } catch (_) { data = null; }
      if (!resp.ok || !data) {
        fail((data && data.error) || T("links.js.failed", { status: resp.status }));
        return;
      }
      render(data);
    } catch (_) {
      fail(T("links.js.unreachable"));
    } finally {
      $("build").disabled = false;
    }
  });

  document.addEventListener("click", async (ev) => {
    const b = ev.target.closest("button.copy");
    if (!b) return;
    const input = $(b.dataset.copy);
    if (!input || !input.value) return;
    let ok = false;
    try {
      await navigator.clipboard.writeText(input.value);
      ok = true;
    } catch (_) {
      input.select();
      try { ok = document.execCommand("copy"); } catch (_) { ok = false; }
    }
    b.textContent = ok ? T("common.copied") : T("common.press_ctrl_c");
    b.dataset.state = ok ? "copied" : "manual";
    setTimeout(() => { b.textContent = T("common.copy"); delete b.dataset.state; }, 2000);
  });
})();
