// refedge partner app: dates and numbers in the page's language with the browser's Intl
// API. <time datetime="..." data-fmt="date|datetime"> and <data value="..."
// data-fmt="number"> are rewritten in place; their server text is the fallback. Times
// are written in UTC, as the pages say.
(() => {
  "use strict";
  const lang = document.documentElement.lang || "en";
  const fmts = {
    date: new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeZone: "UTC" }),
    datetime: new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "short", timeZone: "UTC" }),
    number: new Intl.NumberFormat(lang),
  };
  for (const el of document.querySelectorAll("time[data-fmt]")) {
    const d = new Date(el.getAttribute("datetime"));
    const f = fmts[el.dataset.fmt];
    if (f && !isNaN(d)) el.textContent = f.format(d);
  }
  for (const el of document.querySelectorAll("data[data-fmt=number]")) {
    const n = Number(el.value);
    if (isFinite(n)) el.textContent = fmts.number.format(n);
  }
})();
