// The supervisor dashboard: signs in with the admin or supervisor token
// (kept in this tab's session storage only), then follows
// GET /api/v1/supervisor/stream (Server-Sent Events read with fetch, so the
// token goes in the Authorization header) and renders each snapshot. Data
// is only ever put in the page as text, never as markup.
"use strict";

(function () {
  const TOKEN_KEY = "switchboard.dashboard.token";
  const LANG_KEY = "switchboard.dashboard.lang";
  const STREAM = "/api/v1/supervisor/stream";
  const SNAPSHOT = "/api/v1/supervisor/snapshot";
  // No event for this long: the connection is taken as dropped.
  const SILENCE_MS = 15000;
  const COLORS = ["#2f5fd0", "#1f8a4c", "#c77700", "#8e44ad", "#c62828", "#00838f"];

  const TEXT = {
    en: {
      title: "Supervisor", signout: "Sign out", signin_title: "Sign in to the supervisor dashboard",
      signin_label: "Admin or supervisor token", signin_button: "Sign in",
      refused: "This token was refused.", unreachable: "The daemon cannot be reached: ",
      live: "Live", stale: "Stale — reconnecting", updated: "updated",
      k_waiting: "Waiting", k_longest: "Longest wait", k_risk: "At SLA risk", k_agents: "Agents available",
      k_today: "Conversations today", k_sla: "SLA attainment today",
      queues: "Queues", agents: "Agents", at_risk: "Conversations at SLA risk",
      inbound_chart: "Inbound messages per minute, last hour", frt_chart: "First response time, last hour",
      queue: "Queue", waiting: "Waiting", longest: "Longest wait", risk: "At SLA risk", breached: "Breached today",
      conversations: "Today", frt: "First response p50 / p90", resolution_rate: "Resolved", reopen_rate: "Reopened",
      transfer_rate: "Transferred", sla: "SLA met", csat: "CSAT", complaints: "Complaints",
      agent: "Agent", status: "Status", load: "Load / capacity", handled: "Handled today",
      conversation: "Conversation", clock: "Clock", due: "Due", none_at_risk: "No conversation at risk.",
      no_data: "No data yet.", p50: "p50", p90: "p90", alert: "Alert",
      available: "available", away: "away", offline: "offline", busy: "busy",
      inbound_surge: "Inbound surge", queue_waiting: "Queue waiting", longest_wait: "Longest wait",
      agents_available: "Agents available", since: "since", unassigned: "unassigned", overdue: "overdue",
      first_response: "first response", next_response: "next response", resolution: "resolution",
      sec: " s", min: " m ", hour: " h ", minutes_ago: " min", now: "now",
    },
    zh: {
      title: "主管看板", signout: "退出", signin_title: "登录主管看板",
      signin_label: "管理员或主管令牌", signin_button: "登录",
      refused: "令牌无效。", unreachable: "无法连接服务：",
      live: "实时", stale: "数据过期 — 正在重连", updated: "更新于",
      k_waiting: "排队中", k_longest: "最长等待", k_risk: "SLA 风险", k_agents: "在线客服",
      k_today: "今日会话", k_sla: "今日 SLA 达成率",
      queues: "队列", agents: "客服", at_risk: "SLA 风险会话",
      inbound_chart: "每分钟进线消息（近一小时）", frt_chart: "首次响应时间（近一小时）",
      queue: "队列", waiting: "排队", longest: "最长等待", risk: "SLA 风险", breached: "今日超时",
      conversations: "今日", frt: "首响 p50 / p90", resolution_rate: "解决率", reopen_rate: "重开率",
      transfer_rate: "转接率", sla: "SLA 达成", csat: "满意度", complaints: "投诉率",
      agent: "客服", status: "状态", load: "负载 / 容量", handled: "今日处理",
      conversation: "会话", clock: "时钟", due: "到期", none_at_risk: "暂无风险会话。",
      no_data: "暂无数据。", p50: "p50", p90: "p90", alert: "告警",
      available: "在线", away: "离开", offline: "离线", busy: "忙碌",
      inbound_surge: "进线激增", queue_waiting: "排队过多", longest_wait: "等待过久",
      agents_available: "在线客服不足", since: "自", unassigned: "未分配", overdue: "已超时",
      first_response: "首次响应", next_response: "后续响应", resolution: "解决",
      sec: " 秒", min: " 分 ", hour: " 小时 ", minutes_ago: " 分钟", now: "现在",
    },
  };

  let lang = sessionStorage.getItem(LANG_KEY) || ((navigator.language || "en").toLowerCase().startsWith("zh") ? "zh" : "en");
  let token = sessionStorage.getItem(TOKEN_KEY);
  let last = null;      // the last snapshot shown
  let stale = true;
  let controller = null; // the open stream's AbortController
  let retry = 1000;
  let watchdog = null;

  const $ = (id) => document.getElementById(id);
  const t = (key) => (TEXT[lang][key] !== undefined ? TEXT[lang][key] : key);

  // An element with attributes and children (strings become text nodes).
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") el.className = v; else el.setAttribute(k, v);
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }

  function svg(tag, attrs, ...children) {
    const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
    for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return el;
  }

  function duration(secs) {
    if (secs === null || secs === undefined || Number.isNaN(secs)) return "–";
    const s = Math.round(secs);
    if (s < 60) return s + t("sec");
    if (s < 3600) return Math.floor(s / 60) + t("min") + String(s % 60).padStart(2, "0") + t("sec");
    return Math.floor(s / 3600) + t("hour") + String(Math.floor((s % 3600) / 60)).padStart(2, "0") + t("min").trimEnd();
  }
  const pct = (x) => (x === null || x === undefined ? "–" : Math.round(x * 100) + " %");
  const clock = (iso) => new Date(iso).toLocaleTimeString(lang === "zh" ? "zh-CN" : "en-GB", { hour: "2-digit", minute: "2-digit", second: "2-digit" });

  // Met over met + breached, over every clock of some report rows.
  function attainment(rows) {
    let met = 0, all = 0;
    for (const row of rows) {
      for (const c of Object.values((row && row.sla_attainment) || {})) { met += c.met || 0; all += (c.met || 0) + (c.breached || 0); }
    }
    return all ? met / all : null;
  }
  const breached = (row) => Object.values((row && row.sla_attainment) || {}).reduce((n, c) => n + (c.breached || 0), 0);
  const byGroup = (rows) => Object.fromEntries((rows || []).map((r) => [r.group, r]));

  // ---- rendering ----

  function translate() {
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    for (const el of document.querySelectorAll("[data-t]")) el.textContent = t(el.dataset.t);
    $("lang").textContent = lang === "zh" ? "English" : "中文";
    document.title = "switchboard · " + t("title");
  }

  function showState() {
    const el = $("state");
    el.hidden = !token;
    el.className = "pill " + (stale ? "stale" : "live");
    const at = last && last.at ? " · " + t("updated") + " " + clock(last.at) : "";
    el.textContent = (stale ? t("stale") : t("live")) + at;
    document.body.dataset.state = stale ? "stale" : "live";
  }

  function table(el, head, rows, empty) {
    el.replaceChildren(h("thead", {}, h("tr", {}, head.map(([label, cls]) => h("th", { class: cls }, t(label))))));
    const body = h("tbody", {});
    if (!rows.length) body.append(h("tr", {}, h("td", { colspan: head.length, class: "empty" }, t(empty || "no_data"))));
    for (const cells of rows) body.append(h("tr", {}, cells));
    el.append(body);
  }

  function render(s) {
    const today = s.today || {};
    const todayQ = byGroup(today.queues);
    const todayA = byGroup(today.agents);
    const queues = s.queues || [];
    const agents = s.agents || [];

    $("k-waiting").textContent = queues.reduce((n, q) => n + q.waiting, 0);
    $("k-longest").textContent = duration(Math.max(0, ...queues.map((q) => q.longest_wait_secs || 0)));
    $("k-risk").textContent = queues.reduce((n, q) => n + (q.sla_at_risk || 0), 0);
    $("k-agents").textContent = ((s.agents_by_status || {}).available || 0) + " / " + agents.length;
    const todayRows = today.queues || [];
    $("k-today").textContent = todayRows.reduce((n, r) => n + (r.conversations || 0), 0);
    $("k-sla").textContent = pct(attainment(todayRows));

    const alerts = $("alerts");
    alerts.replaceChildren(...(s.alerts || []).map((a) => h("div", { class: "alert", "data-alert": a.alert },
      "⚠ " + t(a.alert) + (a.scope && a.scope !== "all" ? " (" + a.scope + ")" : "") + ": " + a.figure + " / " + a.threshold
      + " · " + t("since") + " " + clock(a.since))));

    table($("queues"), [["queue"], ["waiting", "num"], ["longest", "num"], ["risk", "num"], ["breached", "num"], ["conversations", "num"],
      ["frt", "num"], ["resolution_rate", "num"], ["reopen_rate", "num"], ["transfer_rate", "num"], ["sla", "num"], ["csat", "num"], ["complaints", "num"]],
      queues.map((q) => {
        const r = todayQ[q.queue] || {};
        const frt = r.first_response_secs;
        return [
          h("td", {}, q.queue),
          h("td", { class: "num" + (q.waiting > 0 ? " warn" : ""), "data-queue-waiting": q.queue }, q.waiting),
          h("td", { class: "num" }, duration(q.longest_wait_secs)),
          h("td", { class: "num" + (q.sla_at_risk > 0 ? " bad" : "") }, q.sla_at_risk),
          h("td", { class: "num" }, breached(r)),
          h("td", { class: "num" }, r.conversations || 0),
          h("td", { class: "num" }, frt ? duration(frt.p50) + " / " + duration(frt.p90) : "–"),
          h("td", { class: "num" }, pct(r.resolution_rate)),
          h("td", { class: "num" }, pct(r.reopen_rate)),
          h("td", { class: "num" }, pct(r.transfer_rate)),
          h("td", { class: "num" }, pct(attainment([r]))),
          h("td", { class: "num" }, r.csat && r.csat.average !== null && r.csat.average !== undefined ? r.csat.average.toFixed(2) + " (" + r.csat.responses + ")" : "–"),
          h("td", { class: "num" }, pct(r.complaint_rate)),
        ];
      }));

    table($("agents"), [["agent"], ["status"], ["load"], ["handled", "num"]], agents.map((a) => {
      const channels = Object.keys(Object.assign({}, a.capacity || {}, a.load || {})).sort();
      return [
        h("td", {}, a.agent),
        h("td", {}, h("span", { class: "status " + a.status }, t(a.status))),
        h("td", {}, channels.map((c) => {
          const load = (a.load || {})[c] || 0, cap = (a.capacity || {})[c] || 0;
          const width = cap ? Math.min(100, Math.round((100 * load) / cap)) : 0;
          return h("span", { class: "load" }, c + " ",
            h("span", { class: "bar" }, h("i", { class: load >= cap && cap ? "full" : "", style: "width:" + width + "%" })),
            load + "/" + cap);
        })),
        h("td", { class: "num" }, (todayA[a.agent] || {}).resolved || 0),
      ];
    }));

    const now = Date.now();
    table($("at-risk"), [["conversation"], ["queue"], ["agent"], ["clock"], ["due", "num"]], (s.at_risk || []).map((c) => {
      const left = (Date.parse(c.due_at) - now) / 1000;
      return [
        h("td", {}, h("code", {}, c.conversation_id)),
        h("td", {}, c.queue),
        h("td", {}, c.agent || t("unassigned")),
        h("td", {}, t(c.clock)),
        h("td", { class: "num " + (left < 0 ? "bad" : "warn") }, clock(c.due_at) + " (" + (left < 0 ? t("overdue") : duration(left)) + ")"),
      ];
    }), "none_at_risk");

    renderInbound(s.last_hour || []);
    renderFrt(s.last_hour || []);
  }

  const W = 600, H = 160, PAD = 28;

  function axes(chart, max, n) {
    chart.append(svg("line", { x1: PAD, y1: H - 18, x2: W, y2: H - 18, stroke: "#ccd" }));
    chart.append(svg("text", { x: 2, y: 12 }, max));
    chart.append(svg("text", { x: 2, y: H - 20 }, 0));
    chart.append(svg("text", { x: PAD, y: H - 4 }, "−" + n + t("minutes_ago")));
    chart.append(svg("text", { x: W - 30, y: H - 4 }, t("now")));
  }

  function legend(el, names) {
    el.replaceChildren(...names.map((n, i) => h("span", {}, h("i", { style: "background:" + COLORS[i % COLORS.length] }), n)));
  }

  // Stacked bars of inbound messages per minute by channel.
  function renderInbound(minutes) {
    const channels = [...new Set(minutes.flatMap((m) => Object.keys(m.inbound || {})))].sort();
    const totals = minutes.map((m) => Object.values(m.inbound || {}).reduce((a, b) => a + b, 0));
    const max = Math.max(1, ...totals);
    const chart = svg("svg", { viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": t("inbound_chart"), "data-total": totals.reduce((a, b) => a + b, 0) });
    axes(chart, max, minutes.length || 60);
    const step = (W - PAD) / Math.max(1, minutes.length);
    minutes.forEach((m, i) => {
      let y = H - 18;
      channels.forEach((c, j) => {
        const v = (m.inbound || {})[c] || 0;
        if (!v) return;
        const bar = ((H - 30) * v) / max;
        y -= bar;
        chart.append(svg("rect", { x: PAD + i * step + 1, y: y, width: Math.max(1, step - 2), height: bar, fill: COLORS[j % COLORS.length] },
          svg("title", {}, clock(m.minute) + " " + c + ": " + v)));
      });
    });
    $("inbound-chart").replaceChildren(chart);
    legend($("inbound-legend"), channels);
  }

  // Lines of the first-response p50 and p90 per minute.
  function renderFrt(minutes) {
    const points = minutes.map((m) => m.first_response_secs || null);
    const max = Math.max(1, ...points.filter(Boolean).map((p) => p.p90));
    const chart = svg("svg", { viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": t("frt_chart"), "data-points": points.filter(Boolean).length });
    axes(chart, duration(max), minutes.length || 60);
    const step = (W - PAD) / Math.max(1, minutes.length - 1);
    ["p50", "p90"].forEach((key, j) => {
      let d = "";
      points.forEach((p, i) => {
        if (!p) return;
        const x = PAD + i * step, y = H - 18 - ((H - 30) * p[key]) / max;
        d += (d ? " L" : "M") + x.toFixed(1) + " " + y.toFixed(1);
        chart.append(svg("circle", { cx: x, cy: y, r: 2, fill: COLORS[j] }, svg("title", {}, clock(minutes[i].minute) + " " + key + ": " + duration(p[key]))));
      });
      if (d) chart.append(svg("path", { d: d, fill: "none", stroke: COLORS[j], "stroke-width": 1.5 }));
    });
    $("frt-chart").replaceChildren(chart);
    legend($("frt-legend"), [t("p50"), t("p90")]);
  }

  // ---- the connection ----

  function signOut(message) {
    if (controller) controller.abort();
    controller = null;
    clearTimeout(watchdog);
    token = null;
    last = null;
    sessionStorage.removeItem(TOKEN_KEY);
    $("board").hidden = true;
    $("signout").hidden = true;
    $("signin").hidden = false;
    $("signin-error").textContent = message || "";
    showState();
  }

  function setStale(value) {
    stale = value;
    showState();
  }

  function reconnectLater() {
    setStale(true);
    const wait = retry;
    retry = Math.min(retry * 2, 10000);
    setTimeout(() => { if (token) connect(); }, wait);
  }

  function onSnapshot(data) {
    let s;
    try { s = JSON.parse(data); } catch (e) { return; }
    if (s.stale) { setStale(true); return; }
    last = s;
    retry = 1000;
    setStale(false);
    render(s);
  }

  // Reads Server-Sent Events from a fetch body: `event:` and `data:` lines,
  // a blank line ends an event.
  async function follow(body, signal) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "", event = "message", data = [];
    const arm = () => { clearTimeout(watchdog); watchdog = setTimeout(() => controller && controller.abort(), SILENCE_MS); };
    arm();
    while (!signal.aborted) {
      const { value, done } = await reader.read();
      if (done) break;
      arm();
      buffer += value;
      let nl;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, nl).replace(/\r$/, "");
        buffer = buffer.slice(nl + 1);
        if (line === "") {
          if (data.length && event === "snapshot") onSnapshot(data.join("\n"));
          event = "message"; data = [];
        } else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
        else if (line.startsWith("event:")) event = line.slice(6).trim();
      }
    }
  }

  async function connect() {
    if (controller) controller.abort();
    const mine = new AbortController();
    controller = mine;
    try {
      const resp = await fetch(STREAM, { headers: { Authorization: "Bearer " + token, Accept: "text/event-stream" }, signal: mine.signal, cache: "no-store" });
      if (resp.status === 401 || resp.status === 403) { signOut(t("refused")); return; }
      if (!resp.ok || !resp.body) throw new Error("HTTP " + resp.status);
      await follow(resp.body, mine.signal);
    } catch (e) {
      // A dropped connection, an abort by the watchdog: reconnect below.
    }
    if (controller === mine && token) reconnectLater();
  }

  async function signIn(candidate) {
    $("signin-error").textContent = "";
    let resp;
    try {
      resp = await fetch(SNAPSHOT, { headers: { Authorization: "Bearer " + candidate }, cache: "no-store" });
    } catch (e) {
      $("signin-error").textContent = t("unreachable") + e.message;
      return;
    }
    if (resp.status === 401 || resp.status === 403) { $("signin-error").textContent = t("refused"); return; }
    token = candidate;
    sessionStorage.setItem(TOKEN_KEY, token);
    start();
    if (resp.ok) onSnapshot(await resp.text());
  }

  function start() {
    $("signin").hidden = true;
    $("board").hidden = false;
    $("signout").hidden = false;
    showState();
    connect();
  }

  $("signin").addEventListener("submit", (e) => {
    e.preventDefault();
    const value = $("token").value.trim();
    if (value) signIn(value);
  });
  $("signout").addEventListener("click", () => signOut(""));
  $("lang").addEventListener("click", () => {
    lang = lang === "zh" ? "en" : "zh";
    sessionStorage.setItem(LANG_KEY, lang);
    translate();
    showState();
    if (last) render(last);
  });

  translate();
  if (token) start(); else signOut("");
})();
