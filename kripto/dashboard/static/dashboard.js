// The dashboard page: draws the charts and tables from /api/state and polls it every few
// seconds, so a new tick or trade appears without a reload. Money arrives as strings; it is
// turned into numbers only to place points on a chart, never for arithmetic.
"use strict";
(function () {
  const LWC = window.LightweightCharts;
  const csrf = document.querySelector('meta[name="kripto-csrf"]').content;
  const ui = document.querySelector('meta[name="kripto-ui"]').content;
  const POLL_MS = 3000;
  const started = performance.now();
  let span = ["day", "week", "all"].includes(new URLSearchParams(location.search).get("span"))
    ? new URLSearchParams(location.search).get("span") : "day";
  document.querySelectorAll("button.span").forEach((o) => o.classList.toggle("on", o.dataset.span === span));
  let markerInfo = new Map();
  let lastDrawn = [];
  // What the charts drew, for tests and the benchmark.
  window.kriptoChart = { points: 0, markers: 0, valuePoints: 0, draws: 0, firstDrawMs: null };
  // The layout choices that keep labels readable (room after the newest point, no series
  // titles in the money chart's price tags), for the browser test.
  window.kriptoChart.layout = () => ({
    rightOffset: priceChart.timeScale().options().rightOffset,
    moneyTitles: [value, hold, dca].map((s) => s.options().title),
    markerTexts: lastDrawn.map((m) => m.text),
  });

  const dark = {
    layout: { background: { color: "#161c22" }, textColor: "#c9d1d9" },
    grid: { vertLines: { color: "#222" }, horzLines: { color: "#222" } },
    // Room after the newest point, so the last time label is not cut off at the edge.
    timeScale: { timeVisible: true, secondsVisible: false, rightOffset: 6 },
    autoSize: true,
  };
  const priceChart = LWC.createChart(document.getElementById("price-chart"), dark);
  const price = priceChart.addSeries(LWC.LineSeries, { color: "#6cb6ff", lineWidth: 2 });
  const markers = LWC.createSeriesMarkers(price, []);
  const moneyChart = LWC.createChart(document.getElementById("money-chart"), dark);
  // The heading names the lines (in their colours): a series title would widen the price tag
  // on the axis until it covers the axis's own labels.
  const value = moneyChart.addSeries(LWC.LineSeries, { color: "#3fb950" });
  const hold = moneyChart.addSeries(LWC.LineSeries, { color: "#d29922" });
  const dca = moneyChart.addSeries(LWC.LineSeries, { color: "#a371f7" });

  const $ = (id) => document.getElementById(id);
  // Display only: the figure is already rounded to the penny by the server.
  const gbp = (s) => {
    if (s == null) return "–";
    const n = Number(s);
    return (n < 0 ? "-£" : "£") + Math.abs(n).toLocaleString("en-GB", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  };
  const points = (rows) => rows.map((r) => ({ time: r.time, value: Number(r.value) }));
  function cell(text, cls) {
    const td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    return td;
  }
  // A marker sits on the chart's bar at or before its trade (the series is downsampled).
  function snap(times, t) {
    let lo = 0, hi = times.length - 1, best = times[0];
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (times[mid] <= t) { best = times[mid]; lo = mid + 1; } else { hi = mid - 1; }
    }
    return best;
  }

  function drawCharts(chart) {
    const rates = points(chart.rates);
    price.setData(rates);
    const times = rates.map((r) => r.time);
    markerInfo = new Map();
    const drawn = times.length ? chart.markers.map((m) => {
      markerInfo.set(m.id, m);
      const buy = m.side === "buy";
      // One letter each (B, S), so neighbours never overlap or run off the chart; a manual
      // trade is a circle rather than an arrow. The tooltip says the rest.
      return {
        id: m.id, time: snap(times, m.time), position: buy ? "belowBar" : "aboveBar",
        shape: m.decision ? (buy ? "arrowUp" : "arrowDown") : "circle",
        color: buy ? "#3fb950" : "#f85149", text: buy ? "B" : "S",
      };
    }).sort((a, b) => a.time - b.time) : [];
    markers.setMarkers(drawn);
    lastDrawn = drawn;
    value.setData(points(chart.value));
    hold.setData(points(chart.hold));
    dca.setData(points(chart.dca || []));
    const k = window.kriptoChart;
    k.points = rates.length; k.markers = drawn.length; k.valuePoints = chart.value.length;
    k.span = chart.span; k.draws += 1;
    if (k.draws === 1) {
      priceChart.timeScale().fitContent();
      moneyChart.timeScale().fitContent();
    }
    if (k.firstDrawMs === null) {
      requestAnimationFrame(() => { k.firstDrawMs = performance.now() - started; });
    }
  }

  function drawTables(state) {
    const trades = $("trades");
    trades.replaceChildren(...state.trades.map((t) => {
      const tr = document.createElement("tr");
      tr.dataset.trade = t.id;
      tr.append(cell(t.createdAt.replace("T", " ").slice(0, 19)), cell(t.side, t.side),
        cell(gbp(t.asked), "asked"), cell(gbp(t.paid), "paid"), cell(gbp(t.fillFees), "fee"),
        cell(gbp(t.fillPrice), "fill-price"), cell(t.filledSize));
      const td = document.createElement("td");
      const a = document.createElement("a");
      a.href = ui + "/workflows/" + encodeURIComponent(t.id);
      a.textContent = t.id; a.target = "_blank"; a.rel = "noopener";
      td.append(a); tr.append(td);
      return tr;
    }));
    const indicators = (values) => Object.entries(values)
      .map(([name, value]) => name + " " + value).join(" · ");
    $("decisions").replaceChildren(...state.decisions.map((d) => {
      const tr = document.createElement("tr");
      tr.append(cell(d.tickTime.replace("T", " ").slice(0, 19)), cell(d.action, d.action),
        cell(gbp(d.amount)), cell(d.reason), cell(indicators(d.indicators || {})));
      return tr;
    }));
  }

  function drawNow(state) {
    const m = state.money, n = state.now;
    $("m-value").textContent = gbp(m.value) + " (from " + gbp(m.startGbp) + ")";
    $("m-realised").textContent = gbp(m.realised);
    $("m-unrealised").textContent = gbp(m.unrealised);
    $("m-fees").textContent = gbp(m.fees);
    $("m-saved").textContent = m.feesSaved === null ? "–" : gbp(m.feesSaved) + " against all-taker";
    $("n-rate").textContent = n.rate ? gbp(n.rate) + " at " + n.rateTime.slice(11, 19) + " UTC" : "no rates yet";
    $("n-btc").textContent = m.btc + " BTC";
    $("n-wallet").textContent = n.wallet ? Object.entries(n.wallet).map(([c, v]) => (c === "gbp" ? gbp(v) : v + " BTC")).join(", ") : "see kripto wallet";
    const d = n.lastDecision;
    $("n-decision").textContent = d ? d.reason : "none yet";  // a reason starts with its action
    $("n-next").textContent = n.paused ? "paused" : n.nextTick ? n.nextTick.replace("T", " ").slice(0, 19) + " UTC" : "–";
    $("k-state").textContent = n.paused === null ? "no schedule" : n.paused ? "PAUSED" : "running";
    $("k-state").className = n.paused ? "sell" : "buy";
    $("k-note").textContent = n.note || "";
    $("simulated").hidden = !n.simulated;
  }

  let inFlight = false;
  async function refresh() {
    if (inFlight) return;
    inFlight = true;
    try {
      const res = await fetch("/api/state?span=" + span, { cache: "no-store" });
      if (!res.ok) return;
      const state = await res.json();
      drawCharts(state.chart);
      drawTables(state);
      drawNow(state);
    } finally {
      inFlight = false;
    }
  }

  // Where a marker's bar is on the page, for the browser test to hover it.
  window.kriptoChart.markerBar = (id) => {
    const m = lastDrawn.find((d) => d.id === id);
    const el = document.getElementById("price-chart").getBoundingClientRect();
    const bar = m && price.dataByIndex(price.data().findIndex((p) => p.time === m.time));
    if (!bar) return null;
    return { x: el.left + priceChart.timeScale().timeToCoordinate(m.time),
             y: el.top + price.priceToCoordinate(bar.value) };
  };
  priceChart.subscribeCrosshairMove((param) => {
    const tip = $("tooltip");
    const m = param.hoveredObjectId && markerInfo.get(param.hoveredObjectId);
    if (!m || !param.point) { tip.hidden = true; return; }
    tip.textContent = m.side.toUpperCase() + " " + gbp(m.value) + " (" + m.btc + " BTC): " + m.reason;
    const width = document.getElementById("price-chart").clientWidth;
    // Beside the marker, on whichever side keeps the tooltip inside the chart.
    tip.style.left = (param.point.x > width - 300 ? param.point.x - 280 : param.point.x + 20) + "px";
    tip.style.top = param.point.y + 40 + "px";
    tip.hidden = false;
  });

  document.querySelectorAll("button.span").forEach((b) => b.addEventListener("click", () => {
    span = b.dataset.span;
    document.querySelectorAll("button.span").forEach((o) => o.classList.toggle("on", o === b));
    refresh().then(() => priceChart.timeScale().fitContent());
  }));

  async function post(path, body) {
    const res = await fetch(path, {
      method: "POST", headers: { "X-CSRF-Token": csrf, "Content-Type": "application/json" },
      body: body === undefined ? "" : JSON.stringify(body), credentials: "same-origin",
    });
    let data = {};
    try { data = await res.json(); } catch (e) { data = { error: res.statusText }; }
    return { ok: res.ok, status: res.status, data };
  }

  $("sign-out").addEventListener("click", async () => {
    await post("/logout");
    location.assign("/login");
  });

  for (const [id, path] of [["pause", "/api/pause"], ["resume", "/api/resume"]]) {
    const button = $(id);
    if (!button) continue;
    button.addEventListener("click", async () => {
      const r = await post(path);
      $("k-result").textContent = r.ok ? r.data.note : r.data.error;
      refresh();
    });
  }

  // One key per form: it is made when the form is drawn and kept until a trade with it ends,
  // so a double click (or a retried request) trades once.
  function newKey() {
    if (crypto.randomUUID) return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }
  const form = $("trade-form");
  if (form) {
    $("trade-key").value = newKey();
    // A trade is asked for, then confirmed: the first step shows what it would be.
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const side = $("trade-side").value, amount = $("trade-amount").value.trim();
      const res = await fetch("/api/quote?side=" + side + "&amount=" + encodeURIComponent(amount), { cache: "no-store" });
      const q = await res.json();
      if (!res.ok) { $("trade-result").textContent = q.error; return; }
      $("trade-quote").textContent = side.toUpperCase() + " " + gbp(q.amount) + " of BTC: about "
        + q.size + " BTC at " + gbp(q.rate) + ", fee about " + gbp(q.fee) + " (" + q.feeRate + "%"
        + (q.takerFeeRate !== q.feeRate ? " as a maker; " + q.takerFeeRate + "% on what falls back to taker" : "") + ").";
      $("trade-result").textContent = "";
      $("trade-confirm").hidden = false;
    });
    $("trade-no").addEventListener("click", () => { $("trade-confirm").hidden = true; });
    $("trade-yes").addEventListener("click", async () => {
      $("trade-confirm").hidden = true;
      const key = $("trade-key").value;
      $("trade-result").textContent = "trading…";
      const r = await post("/api/trade", {
        idempotencyKey: key, tradeType: $("trade-side").value, amount: $("trade-amount").value.trim(),
      });
      if (r.ok && r.data.order) {
        const o = r.data.order;
        // One amount story (as kripto trade, kripto trades and the receipt): asked, paid (a
        // buy: value and fee) or received (a sell: value less fee), and the fee.
        const value = Number(o.executedValue), fee = Number(o.fillFees), buy = o.side === "buy";
        $("trade-result").textContent = (r.data.existed ? "already traded: " : "traded: ") + o.side
          + " " + gbp(r.data.amount || $("trade-amount").value.trim()) + ": "
          + (buy ? "paid " : "received ") + gbp(buy ? value + fee : value - fee)
          + ", fee " + gbp(fee) + " (" + r.data.id + ")";
        $("trade-key").value = newKey();
      } else if (r.status === 202) {
        $("trade-result").textContent = "trade " + r.data.id + " is still running";
      } else {
        $("trade-result").textContent = r.data.error;
        if (r.status === 422) $("trade-key").value = newKey();
      }
      refresh();
    });
  }

  refresh();
  setInterval(refresh, POLL_MS);
})();
