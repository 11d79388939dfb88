/*
 * switchboard web chat widget: plain JavaScript, no dependencies, no build.
 *
 * Embed:  <script src="https://support.example.com/webchat/widget.js" defer></script>
 * Options, set before it runs (all optional):
 *   window.SwitchboardChat = {
 *     title: "Chat with us",
 *     name: "Li Lei",                 // the visitor's own name (unverified)
 *     identity: {customer_id, name, tier, timestamp, signature},  // signed by the shop's server
 *     open: false,                    // open the panel on load
 *     base: "https://support.example.com"   // default: where this script came from
 *   };
 *
 * Protocol (channels/webchat/PROTOCOL.md): POST /webchat/sessions for a token,
 * then a WebSocket to /webchat/ws?token=...; each message has a client_id and
 * stays in localStorage until the server acks it (after it is stored); on
 * reconnect the unacked ones are resent and the history after the last seq
 * is asked for. Every text is rendered with textContent, never as markup.
 */
(function () {
  "use strict";
  if (window.__switchboardChat) return;
  window.__switchboardChat = true;

  var config = window.SwitchboardChat || {};
  var script = document.currentScript;
  var base = config.base || (script && script.src ? script.src.replace(/\/webchat\/widget\.js(\?.*)?$/, "") : location.origin);
  var KEY = "switchboard.webchat.";
  var MAX_TEXT = 4000;

  function load(name, fallback) {
    try { var v = localStorage.getItem(KEY + name); return v === null ? fallback : JSON.parse(v); } catch (e) { return fallback; }
  }
  function save(name, value) {
    try { localStorage.setItem(KEY + name, JSON.stringify(value)); } catch (e) { /* storage off: memory only */ }
  }

  // A visitor id is reused only for the same shop customer (or the same
  // absence of one), so a shared computer does not show one customer's
  // chat to the next.
  var customer = config.identity ? String(config.identity.customer_id) : null;
  if (load("customer", null) !== customer) { save("visitor_id", null); save("session", null); save("pending", []); }
  save("customer", customer);

  var session = load("session", null);  // {session_token, visitor_id, expires_at}
  var pending = load("pending", []);    // [{client_id, text}], oldest first
  var identityPending = !!config.identity;
  var started = false, socket = null, opened = false, attempt = 0, retryTimer = null, pingTimer = null;
  var lastSeq = 0, seen = {}, bubbles = {}, unread = 0, typingSentAt = 0, typingStop = null, agentTypingTimer = null;

  // ---- the panel -------------------------------------------------------
  function el(tag, style, text) {
    var e = document.createElement(tag);
    if (style) Object.assign(e.style, style);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  var title = String(config.title || "Chat with us");
  var root = el("div", { position: "fixed", right: "20px", bottom: "20px", zIndex: "2147483000", font: "14px/1.4 system-ui, sans-serif", color: "#222" });
  var button = el("button", { padding: "10px 16px", border: "0", borderRadius: "20px", background: "#1f6feb", color: "#fff", cursor: "pointer", font: "inherit" }, title);
  var panel = el("div", { display: "none", flexDirection: "column", width: "320px", height: "440px", background: "#fff", border: "1px solid #ccc", borderRadius: "8px", boxShadow: "0 4px 16px rgba(0,0,0,.2)", overflow: "hidden" });
  var header = el("div", { padding: "10px 12px", background: "#1f6feb", color: "#fff", fontWeight: "600", cursor: "pointer" }, title);
  var status = el("div", { padding: "2px 12px", fontSize: "12px", color: "#666", minHeight: "16px" }, "");
  var log = el("div", { flex: "1", overflowY: "auto", padding: "8px" });
  log.setAttribute("role", "log");
  log.setAttribute("aria-live", "polite");
  var typing = el("div", { padding: "0 12px 4px", fontSize: "12px", color: "#666", visibility: "hidden" }, "Agent is typing…");
  var zh = /^zh/i.test(String((navigator && navigator.language) || ""));
  var queue = el("div", { padding: "4px 12px", fontSize: "12px", color: "#444", background: "#f3f6fb", display: "none" }, "");
  queue.setAttribute("aria-live", "polite");
  var form = el("form", { display: "flex", borderTop: "1px solid #ddd", margin: "0" });
  var input = el("textarea", { flex: "1", border: "0", padding: "8px", resize: "none", font: "inherit" });
  input.rows = 2;
  input.placeholder = "Type a message";
  input.setAttribute("aria-label", "Message");
  var send = el("button", { border: "0", background: "none", color: "#1f6feb", padding: "0 12px", cursor: "pointer", font: "inherit" }, "Send");
  send.type = "submit";
  form.append(input, send);
  panel.append(header, status, queue, log, typing, form);
  root.append(panel, button);

  function toggle(open) {
    panel.style.display = open ? "flex" : "none";
    button.style.display = open ? "none" : "inline-block";
    if (open) { unread = 0; button.textContent = title; input.focus(); begin(); }
  }
  button.onclick = function () { toggle(true); };
  header.onclick = function () { toggle(false); };

  // Pending messages stay at the bottom until the server has them.
  function place(row, isPending) {
    var before = null;
    for (var i = 0; i < pending.length && !before && !isPending; i++) {
      var b = bubbles[pending[i].client_id];
      if (b) before = b.row;
    }
    log.insertBefore(row, before);
    log.scrollTop = log.scrollHeight;
  }
  function bubble(from, text, agent, clientId, live) {
    var mine = from === "visitor";
    var row = el("div", { display: "flex", flexDirection: "column", alignItems: mine ? "flex-end" : "flex-start", margin: "4px 0" });
    var label = agent || (from === "bot" ? "Assistant" : "");
    if (!mine && label) row.append(el("div", { fontSize: "11px", color: "#666" }, label));
    row.append(el("div", { maxWidth: "80%", padding: "6px 10px", borderRadius: "12px", whiteSpace: "pre-wrap", overflowWrap: "anywhere", background: mine ? "#1f6feb" : from === "system" ? "#fff6dd" : "#eee", color: mine ? "#fff" : "#222" }, text));
    var note = el("div", { fontSize: "11px", color: "#999" }, clientId ? "Sending…" : "");
    row.append(note);
    if (clientId) bubbles[clientId] = { row: row, note: note };
    place(row, !!clientId);
    if (live && !mine && panel.style.display === "none") { unread++; button.textContent = title + " (" + unread + ")"; }
  }
  function setStatus(text) { status.textContent = text; }

  // ---- the protocol ----------------------------------------------------
  function frame(f) {
    if (socket && socket.readyState === 1) socket.send(JSON.stringify(f));
  }
  function newClientId() {
    var bytes = new Uint8Array(12);
    if (window.crypto && crypto.getRandomValues) crypto.getRandomValues(bytes);
    else for (var i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
    return "m" + Date.now().toString(36) + Array.from(bytes, function (b) { return (b % 36).toString(36); }).join("");
  }
  // Control characters go (the server would drop them), lone surrogates
  // become U+FFFD (the server cannot read them); returns code points.
  function clean(text) {
    return Array.from(text.replace(/[\u0000-\u0008\u000B-\u001F\u007F-\u009F]/g, ""), function (c) {
      return c.length === 1 && c >= "\uD800" && c <= "\uDFFF" ? "\uFFFD" : c;
    });
  }
  function settle(clientId, note) {
    pending = pending.filter(function (m) { return m.client_id !== clientId; });
    save("pending", pending);
    var b = bubbles[clientId];
    if (b) b.note.textContent = note;
  }
  function show(m, live) {
    if (!m || !m.id) return;
    if (live && m.seq === lastSeq + 1) lastSeq = m.seq;
    if (seen[m.id]) return;
    seen[m.id] = true;
    if (m.from === "visitor" && m.client_id && bubbles[m.client_id]) { settle(m.client_id, ""); return; }
    bubble(m.from, m.text, m.agent, null, live);
    if (m.from === "agent") agentTyping(false);
  }
  function agentTyping(on) {
    clearTimeout(agentTypingTimer);
    typing.style.visibility = on ? "visible" : "hidden";
    if (on) agentTypingTimer = setTimeout(function () { agentTyping(false); }, 15000);
  }
  // The visitor's place in line for a person (a `queue` frame); 0 hides it.
  function inLine(position) {
    var n = Number(position) || 0;
    queue.style.display = n > 0 ? "block" : "none";
    queue.textContent = n > 0 ? (zh ? "正在排队，您前面还有 " + (n - 1) + " 位（第 " + n + " 位）" : "You are number " + n + " in line") : "";
  }
  function resend(clientId) {
    pending.forEach(function (m) { if (m.client_id === clientId) frame({ type: "message", client_id: m.client_id, text: m.text }); });
  }
  function handle(f) {
    if (f.type === "ack") {
      if (f.id) seen[f.id] = true;
      if (f.seq === lastSeq + 1) lastSeq = f.seq;
      settle(f.client_id, "");
    } else if (f.type === "message") {
      show(f, true);
    } else if (f.type === "history") {
      (f.messages || []).forEach(function (m) {
        show(m, false);
        if (typeof m.seq === "number" && m.seq > lastSeq) lastSeq = m.seq;
      });
      if (f.more) frame({ type: "history", after: lastSeq });
    } else if (f.type === "typing") {
      agentTyping(!!f.on);
    } else if (f.type === "csat") {
      survey(f);
    } else if (f.type === "csat_done") {
      if (surveyBox) { surveyBox.textContent = "Thank you! " + "★".repeat(f.score); surveyBox = null; }
    } else if (f.type === "queue") {
      inLine(f.position);
    } else if (f.type === "error") {
      if (f.code === "session_expired") { session = null; save("session", null); if (socket) socket.close(); }
      else if (f.code === "rejected" && f.client_id) settle(f.client_id, "Not delivered: " + f.message);
      else if ((f.code === "unavailable" || f.code === "rate_limited") && f.client_id) {
        setTimeout(function () { resend(f.client_id); }, 5000);
      }
    }
  }

  // The satisfaction survey: `scale` stars, an optional comment, one answer.
  var surveyBox = null;
  function survey(f) {
    if (surveyBox || !(f.scale >= 2 && f.scale <= 5)) return;
    surveyBox = el("div", { margin: "6px 0", padding: "6px", border: "1px solid #ddd", borderRadius: "8px" });
    var note = f.comment ? el("textarea", { width: "100%", boxSizing: "border-box", font: "inherit" }) : null;
    if (note) { note.rows = 2; note.placeholder = "Comment (optional)"; note.setAttribute("aria-label", "Comment"); }
    var stars = el("div", {});
    for (var i = 1; i <= f.scale; i++) {
      (function (score) {
        var star = el("button", { border: "0", background: "none", fontSize: "20px", cursor: "pointer", color: "#f5a623" }, "★");
        star.type = "button";
        star.setAttribute("aria-label", score + " of " + f.scale);
        star.onclick = function () { frame({ type: "csat", score: score, comment: note ? clean(note.value).join("").slice(0, 1000) : "" }); };
        stars.append(star);
      })(i);
    }
    surveyBox.append(el("div", {}, String(f.question || "")), stars);
    if (note) surveyBox.append(note);
    place(surveyBox, false);
  }

  function ensureSession() {
    if (session && session.session_token && !identityPending && Date.parse(session.expires_at) - Date.now() > 60000) {
      return Promise.resolve(session);
    }
    var body = {};
    var visitorId = load("visitor_id", null);
    if (visitorId) body.visitor_id = visitorId;
    if (config.name) body.name = Array.from(String(config.name)).slice(0, 100).join("");
    if (identityPending) body.identity = config.identity;
    return fetch(base + "/webchat/sessions", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body), credentials: "omit"
    }).then(function (r) {
      // A refused identity (stale, wrong signature) still lets the visitor chat, unlinked.
      if ((r.status === 400 || r.status === 403) && identityPending) { identityPending = false; return ensureSession(); }
      if (!r.ok) throw new Error("session refused: " + r.status);
      return r.json().then(function (s) {
        identityPending = false;
        session = s;
        save("session", s);
        save("visitor_id", s.visitor_id);
        return s;
      });
    });
  }

  function connect() {
    clearTimeout(retryTimer);
    retryTimer = null;
    setStatus(attempt ? "Reconnecting…" : "Connecting…");
    ensureSession().then(function (s) {
      var ws = new WebSocket(base.replace(/^http/, "ws") + "/webchat/ws?token=" + encodeURIComponent(s.session_token));
      socket = ws;
      opened = false;
      ws.onopen = function () {
        opened = true;
        setStatus("");
        frame({ type: "history", after: lastSeq });
        pending.forEach(function (m) { frame({ type: "message", client_id: m.client_id, text: m.text }); });
        pingTimer = setInterval(function () { frame({ type: "ping" }); }, 25000);
      };
      ws.onmessage = function (e) {
        var f;
        attempt = 0;  // the server answers: the next drop starts the backoff again
        try { f = JSON.parse(e.data); } catch (x) { return; }
        if (f && typeof f === "object") handle(f);
      };
      ws.onclose = function () {
        clearInterval(pingTimer);
        if (socket === ws) socket = null;
        // Refused before opening: most likely an expired or revoked token.
        if (!opened) { session = null; save("session", null); }
        retry();
      };
    }).catch(retry);
  }
  function begin() {
    if (!started) { started = true; connect(); }
  }
  function retry() {
    if (retryTimer) return;
    var delay = Math.min(30000, 1000 * Math.pow(2, attempt++));
    setStatus(pending.length ? "Offline: your messages will be sent when the connection is back." : "Reconnecting…");
    retryTimer = setTimeout(connect, delay / 2 + Math.random() * delay / 2);
  }

  function stopTyping() {
    clearTimeout(typingStop);
    if (typingSentAt) frame({ type: "typing", on: false });
    typingSentAt = 0;
  }
  input.addEventListener("input", function () {
    if (Date.now() - typingSentAt > 3000) { frame({ type: "typing", on: true }); typingSentAt = Date.now(); }
    clearTimeout(typingStop);
    typingStop = setTimeout(stopTyping, 4000);
  });
  input.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); form.requestSubmit ? form.requestSubmit() : form.onsubmit(e); }
  });
  form.onsubmit = function (e) {
    e.preventDefault();
    var chars = clean(input.value);
    if (!chars.join("").trim()) return;
    if (chars.length > MAX_TEXT) { setStatus("That message is too long (at most " + MAX_TEXT + " characters)."); return; }
    var m = { client_id: newClientId(), text: chars.join("") };
    input.value = "";
    pending.push(m);
    save("pending", pending);
    bubble("visitor", m.text, null, m.client_id);
    stopTyping();
    frame({ type: "message", client_id: m.client_id, text: m.text });  // else sent on (re)connect
    begin();
  };

  function start() {
    document.body.append(root);
    pending.forEach(function (m) { bubble("visitor", m.text, null, m.client_id); });
    if (config.open) toggle(true);
    else if (load("visitor_id", null) || pending.length) begin();
  }
  if (document.body) start(); else document.addEventListener("DOMContentLoaded", start);
})();
