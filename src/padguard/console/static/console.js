// padguard console: vanilla JS, no build step. Server-sent events for live data; the page marks
// itself stale when no frame or heartbeat arrived within STALE_MS, and never shows old data as current.
"use strict";
const STALE_MS = 3000;
const $ = (id) => document.getElementById(id);
const el = (tag, cls, text) => { const e = document.createElement(tag); if (cls) e.className = cls; if (text !== undefined) e.textContent = text; return e; };
const SVG = "http://www.w3.org/2000/svg";
const sv = (tag, attrs, text) => { const e = document.createElementNS(SVG, tag); for (const k in attrs || {}) e.setAttribute(k, attrs[k]); if (text !== undefined) e.textContent = text; return e; };

let me = null, layout = null, state = null, es = null, lastBeat = 0, lastFrameWall = null;
let records = [], lastSeq = 0, pending = null, replayTimer = null;

function fmtT(ms) {
  if (ms === null || ms === undefined) return "-";
  const neg = ms < 0, s = Math.floor(Math.abs(ms) / 1000);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), x = s % 60;
  return `T${neg ? "-" : "+"}${String(h).padStart(2, "0")}:${String(m).padStart(2, "0")}:${String(x).padStart(2, "0")}`;
}
function fmtDur(ms) {
  if (ms === null || ms === undefined) return "-";
  const s = Math.round(ms / 1000), neg = s < 0, a = Math.abs(s);
  return `${neg ? "-" : ""}${Math.floor(a / 3600)}h${String(Math.floor((a % 3600) / 60)).padStart(2, "0")}m${String(a % 60).padStart(2, "0")}s`;
}
const clock = (w) => w ? new Date(w * 1000).toISOString().substring(11, 19) + "Z" : "-";

async function api(method, path, body) {
  const opt = { method, headers: {}, credentials: "same-origin" };
  if (body !== undefined) { opt.headers["Content-Type"] = "application/json"; opt.body = JSON.stringify(body); }
  if (method !== "GET" && me) opt.headers["X-CSRF-Token"] = me.csrf;
  const r = await fetch(path, opt);
  let data = null;
  try { data = await r.json(); } catch (e) { data = {}; }
  return { status: r.status, data };
}

// ---------------------------------------------------------------- login
async function boot() {
  const r = await api("GET", "/api/me");
  if (r.status !== 200) { document.body.classList.add("nologin"); return; }
  me = r.data;
  document.body.classList.remove("nologin");
  $("whoami").textContent = `${me.user} (${me.role.replace("_", " ")})`;
  const l = await api("GET", "/api/layout");
  layout = l.data;
  $("title").textContent = `${layout.site_name} - ${layout.procedure}`;
  buildPad(); buildStatic(); permNote();
  if (me.live) connect(); else startReplay();
  tab(location.hash.substring(1) || "countdown");
}
$("login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const r = await api("POST", "/api/login", { name: $("login-name").value, password: $("login-pass").value });
  if (r.status === 200) { $("login-pass").value = ""; $("login-msg").textContent = ""; boot(); }
  else $("login-msg").textContent = (r.data && r.data.detail) ? String(r.data.detail) : `login failed (${r.status})`;
});
$("logout-btn").addEventListener("click", async () => { await api("POST", "/api/logout", {}); if (es) es.close(); location.hash = ""; location.reload(); });

function tab(name) {
  for (const s of document.querySelectorAll(".tab")) s.classList.toggle("active", s.id === "tab-" + name);
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.dataset.tab === name);
}
window.addEventListener("hashchange", () => tab(location.hash.substring(1) || "countdown"));

// ---------------------------------------------------------------- live feed
function connect() {
  if (es) es.close();
  setConn("down", "connecting");
  es = new EventSource(`/api/stream?after=${lastSeq}`);
  es.addEventListener("frame", (e) => { const f = JSON.parse(e.data); lastBeat = performance.now(); render(f.state); });
  es.addEventListener("beat", () => { lastBeat = performance.now(); checkStale(); });
  es.addEventListener("records", (e) => { addRecords(JSON.parse(e.data)); });
  es.onerror = () => {
    setConn("down", "DISCONNECTED");
    checkStale();
    if (es.readyState === EventSource.CLOSED) reconnectSoon();
  };
  es.onopen = () => { lastBeat = performance.now(); };
}
function reconnectSoon() {
  // the browser gave up on the stream (or the server went away): try again until it answers
  setTimeout(async () => {
    try {
      const r = await api("GET", "/api/me");
      if (r.status === 401) location.reload(); else connect();
    } catch (e) { reconnectSoon(); }
  }, 1500);
}
function setConn(cls, text) { const c = $("conn"); c.className = "conn " + cls; c.textContent = text; }
function checkStale() {
  if (!me || !me.live) return;
  const age = performance.now() - lastBeat;
  const stale = !lastBeat || age > STALE_MS || !es || es.readyState !== EventSource.OPEN;
  document.body.classList.toggle("stale", stale);
  const b = $("stale-banner");
  if (stale) {
    b.textContent = `DATA STALE: no update for ${(age / 1000).toFixed(0)} s` + (lastFrameWall ? ` (last server update ${clock(lastFrameWall)}). Values below are NOT current.` : ".");
    b.classList.remove("hidden");
    setConn(es && es.readyState === EventSource.OPEN ? "stale" : "down", es && es.readyState === EventSource.OPEN ? "STALE" : "DISCONNECTED");
    $("cd-mode").textContent = "UNKNOWN (stale)"; $("cd-mode").className = "mode";
  } else {
    b.classList.add("hidden");
    setConn("live", "LIVE");
  }
}
setInterval(checkStale, 500);

function addRecords(list) {
  for (const r of list) { if (r.seq > lastSeq) { records.push(r); lastSeq = r.seq; } }
  if (records.length > 3000) records = records.slice(-2500);
  renderLog();
}

// ---------------------------------------------------------------- replay
async function startReplay() {
  $("replay-bar").classList.remove("hidden");
  setConn("replay", "REPLAY");
  const r = await api("GET", "/api/state");
  const range = r.data.state.replay_range;
  const sl = $("replay-slider");
  sl.min = range[0]; sl.max = range[1]; sl.value = range[1];
  sl.addEventListener("input", () => { clearTimeout(replayTimer); replayTimer = setTimeout(() => replayAt(+sl.value), 60); });
  $("replay-play").addEventListener("click", () => {
    if (sl.dataset.playing) { delete sl.dataset.playing; $("replay-play").textContent = "play"; return; }
    sl.dataset.playing = "1"; $("replay-play").textContent = "pause";
    const step = async () => {
      if (!sl.dataset.playing || +sl.value >= +sl.max) { delete sl.dataset.playing; $("replay-play").textContent = "play"; return; }
      sl.value = Math.min(+sl.max, +sl.value + Math.max(1, Math.round((sl.max - sl.min) / 400)));
      await replayAt(+sl.value); setTimeout(step, 100);
    };
    if (+sl.value >= +sl.max) sl.value = sl.min;
    step();
  });
  await replayAt(range[1]);
}
async function replayAt(seq) {
  const [s, e] = await Promise.all([api("GET", `/api/state?at=${seq}`), api("GET", `/api/events?upto=${seq}&limit=2000`)]);
  $("replay-pos").textContent = `record ${seq} of ${$("replay-slider").max}: ${s.data.state.count} (${s.data.state.mode})`;
  records = e.data.events; lastSeq = records.length ? records[records.length - 1].seq : 0;
  render(s.data.state); renderLog();
}

// ---------------------------------------------------------------- static parts
function buildStatic() {
  const sel = $("recycle-point"); sel.textContent = "";
  for (const p of layout.recycle_points) sel.appendChild(el("option", "", p)).value = p;
  const t = $("cd-holds"); t.textContent = "";
  if (!layout.holds.length) { t.insertRow().insertCell().textContent = "none in this procedure"; }
  const hr = t.insertRow(); for (const h of ["built-in hold", "at", "duration"]) hr.appendChild(el("th", "", h));
  for (const h of layout.holds) { const r = t.insertRow(); r.insertCell().textContent = h.name; r.insertCell().textContent = fmtT(h.tc_ms); r.insertCell().textContent = fmtDur(h.duration_ms); }
  for (const b of document.querySelectorAll(".cmd")) b.addEventListener("click", () => preview(b.dataset.cmd));
  $("preview-cancel").addEventListener("click", () => { pending = null; $("preview").classList.add("hidden"); });
  $("preview-send").addEventListener("click", send);
  for (const c of document.querySelectorAll(".lf")) c.addEventListener("change", renderLog);
  $("log-text").addEventListener("input", renderLog);
}
function permNote() {
  const p = me.permissions.filter((x) => x !== "view");
  $("perm-note").textContent = p.length ? `As ${me.role.replace("_", " ")} you may: ${p.join(", ")}.` : `As ${me.role} you may only watch: commands are disabled.`;
  for (const b of document.querySelectorAll(".cmd")) b.disabled = !me.live || !me.permissions.includes(b.dataset.cmd);
}

// ---------------------------------------------------------------- pad mimic
let padRefs = {};
function buildPad() {
  const eqs = layout.equipment, wrap = $("pad-wrap");
  wrap.textContent = ""; padRefs = { eq: {}, sen: {} };
  const W = 300, cols = Math.max(1, Math.min(6, Math.ceil(Math.sqrt(eqs.length))));
  const heights = eqs.map((e) => 66 + e.sensors.length * 17);
  const inPlume = eqs.filter((e) => e.plume), outPlume = eqs.filter((e) => !e.plume);
  const order = [...inPlume, ...outPlume];
  let rowsH = [], x = 0, y = 0, col = 0, rowMax = 0; const pos = {};
  order.forEach((e, i) => {
    const h = heights[eqs.indexOf(e)];
    if (col === cols || (i === inPlume.length && col > 0)) { y += rowMax + (i === inPlume.length ? 30 : 14); col = 0; rowMax = 0; }
    pos[e.name] = [20 + col * (W + 14), 40 + y]; rowMax = Math.max(rowMax, h); col++;
    if (i === inPlume.length - 1) rowsH.push(y + rowMax);
  });
  const totalH = 60 + y + rowMax, totalW = 40 + cols * (W + 14);
  const svg = sv("svg", { width: totalW, height: totalH, viewBox: `0 0 ${totalW} ${totalH}`, id: "pad-svg", role: "img" });
  const defs = sv("defs");
  const pat = sv("pattern", { id: "hatch", width: 8, height: 8, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" });
  pat.appendChild(sv("rect", { width: 8, height: 8, fill: "#1b2129" })); pat.appendChild(sv("line", { x1: 0, y1: 0, x2: 0, y2: 8, stroke: "#6e7681", "stroke-width": 3 }));
  defs.appendChild(pat); svg.appendChild(defs);
  if (inPlume.length) {
    let minX = 1e9, maxX = 0, minY = 1e9, maxY = 0;
    for (const e of inPlume) { const [px, py] = pos[e.name]; minX = Math.min(minX, px); minY = Math.min(minY, py); maxX = Math.max(maxX, px + W); maxY = Math.max(maxY, py + heights[eqs.indexOf(e)]); }
    svg.appendChild(sv("rect", { class: "plume", x: minX - 10, y: minY - 26, width: maxX - minX + 20, height: maxY - minY + 36, rx: 12 }));
    svg.appendChild(sv("text", { class: "plume-label", x: minX, y: minY - 10 }, "PLUME ZONE: equipment that must be safe at ignition"));
  }
  eqs.forEach((e, i) => {
    const [px, py] = pos[e.name], h = heights[i];
    const g = sv("g", { class: "eq", transform: `translate(${px},${py})`, "data-eq": e.name });
    g.appendChild(sv("rect", { class: "box", width: W, height: h, rx: 5 }));
    if (e.kind === "lock") g.appendChild(sv("path", { class: "lockico", d: "M10 10 v-4 a4 4 0 0 1 8 0 v4 M8 10 h12 v9 h-12 z" }));
    else if (e.kind === "shield") g.appendChild(sv("path", { class: "lockico", d: "M14 4 l7 3 v5 c0 4 -3 7 -7 8 c-4 -1 -7 -4 -7 -8 v-5 z" }));
    g.appendChild(sv("text", { x: 28, y: 18 }, e.name + ` (${e.kind})`));
    const ptxt = sv("text", { class: "pos", x: 8, y: 38 }, "--"); g.appendChild(ptxt);
    const safe = sv("text", { x: 8, y: 54 }, e.plume ? `safe at ignition: ${e.plume.safe.join("/")}` : `positions: ${e.positions.join(" / ")}`); g.appendChild(safe);
    padRefs.eq[e.name] = { g, ptxt, e };
    e.sensors.forEach((s, k) => {
      const sx = 8, sy = 74 + k * 17;
      const sg = sv("g", { class: "sen", transform: `translate(${sx},${sy})`, "data-sensor": s });
      sg.appendChild(sv("circle", { cx: 4, cy: -4, r: 4 }));
      const t = sv("text", { class: "v", x: 12, y: 0 }, s); sg.appendChild(t);
      g.appendChild(sg); padRefs.sen[s] = { sg, t, name: s };
    });
    svg.appendChild(g);
  });
  wrap.appendChild(svg);
}
function renderPad(st) {
  const sens = {};
  st.sensors.forEach((v, i) => { const f = v[2]; sens[layout.sensors[i].name] = { value: v[0], age_ms: v[1], fresh: f.includes("f"), stale: f.includes("s"), malformed: f.includes("m") }; });
  for (const q of st.equipment) {
    const r = padRefs.eq[q.name]; if (!r) continue;
    const e = r.e, hazard = e.plume && q.sensed && !e.plume.safe.includes(q.sensed) && q.state !== "stale";
    r.g.setAttribute("class", `eq ${q.state}${hazard ? " hazard" : ""}`);
    const label = { stale: "STALE: position unknown", disagree: "DISAGREE: sensors differ", unsensed: "no sensor", transit: "IN TRANSIT" }[q.state];
    r.ptxt.textContent = (label || q.sensed) + (q.state === "partial" ? " (a sensor is STALE)" : "") + (hazard ? `  (unsafe at ignition: ${e.plume.hazard.toUpperCase()})` : "");
    for (const name of e.sensors) {
      const s = sens[name], ref = padRefs.sen[name]; if (!s || !ref) continue;
      const cls = s.malformed ? "malformed" : (s.stale || !s.fresh) ? "stale" : (q.state === "disagree" ? "disagree" : "");
      ref.sg.setAttribute("class", "sen " + cls);
      const age = s.age_ms === null ? "never" : `${(s.age_ms / 1000).toFixed(1)}s`;
      ref.t.textContent = `${name}=${s.value} ${cls === "stale" ? "STALE " : ""}${age}`;
    }
  }
}

// ---------------------------------------------------------------- render
function render(st) {
  state = st; lastFrameWall = st.server_wall;
  // countdown
  $("cd-count").textContent = st.count;
  const m = $("cd-mode"); m.textContent = st.mode + (st.replay || !st.live ? " (replay)" : ""); m.className = "mode " + st.mode;
  const rows = [
    ["wall clock (UTC)", clock(st.server_wall)], ["count clock", st.count],
    ["mode", st.mode + (st.outcome ? ` - outcome ${st.outcome.replaceAll("_", " ")}` : "")],
    ["hold", st.mode === "HOLDING" ? `${st.reason}${st.automatic_hold ? " (automatic: resume needs two persons)" : ""}` : "-"],
    ["current step", st.current_step || "-"], ["next step", st.next_step ? `${st.next_step} at ${fmtT(st.next_step_tc_ms)}` : "-"],
    ["launch window left", fmtDur(st.window_left_ms)], ["point of no return", `${fmtT(st.pnr_tc_ms)} ${st.past_pnr ? "(PASSED: a violation aborts)" : ""}`],
    ["holds / recycles", `${st.holds} holds (${st.hold_time_s} s held), ${st.recycles} recycles`],
    ["active conditions", Object.keys(st.conditions).join(", ") || "none"], ["link", st.link], ["archive record", st.last_seq],
  ];
  const t = $("cd-table"); t.textContent = "";
  for (const [k, v] of rows) { const r = t.insertRow(); r.insertCell().textContent = k; r.insertCell().textContent = v; }
  renderPad(st); renderCriteria(st); renderAlarms(st); renderRequests(st);
  const un = st.unacked || 0;
  $("alarm-count").textContent = un ? `(${un})` : "";
  $("req-count").textContent = st.requests && st.requests.length ? `(${st.requests.length})` : "";
  const ab = $("alarm-banner");
  if (un && st.live) { ab.textContent = `${un} UNACKNOWLEDGED ALARM${un > 1 ? "S" : ""}: ${st.alarms.find((a) => !a.acked).text}`; ab.classList.remove("hidden"); }
  else ab.classList.add("hidden");
  checkStale();
}
function renderCriteria(st) {
  const box = $("criteria"); box.textContent = "";
  for (const c of st.criteria) {
    const d = el("div", `crit ${c.applies ? c.state : "na"}`);
    const h = el("div"); h.appendChild(el("span", "st " + (c.applies ? c.state : "NA"), c.applies ? c.state : "not in force"));
    h.appendChild(el("b", "", " " + c.criterion)); h.appendChild(el("span", "note", ` ${c.description || ""} (in force ${c.from} .. ${c.until})`));
    d.appendChild(h);
    const t = el("table", "grid");
    const hr = t.insertRow(); for (const x of ["term", "votes", "member", "reading", "age", "fresh?"]) hr.appendChild(el("th", "", x));
    for (const term of c.terms) {
      term.readings.forEach((rd, i) => {
        const r = t.insertRow();
        r.insertCell().textContent = i === 0 ? `${term.term}: ${term.state}` : "";
        r.insertCell().textContent = i === 0 ? `${term.votes} of ${term.votes_needed} needed (${term.members} members)` : "";
        r.insertCell().textContent = rd.sensor; r.insertCell().textContent = rd.value;
        r.insertCell().textContent = rd.value === "no data" ? "never" : `${rd.age_s.toFixed(1)} s`;
        const f = r.insertCell(); if (rd.fresh) f.textContent = "fresh"; else f.appendChild(el("span", "stale-tag", "STALE"));
      });
    }
    d.appendChild(t);
    if (c.state !== "OK") d.appendChild(el("div", "note", "clears when: " + c.clears_when));
    box.appendChild(d);
  }
}
function renderAlarms(st) {
  const hb = $("hold-box"); hb.textContent = "";
  if (st.mode === "HOLDING") {
    hb.appendChild(el("b", "", `HOLDING: ${st.reason}`));
    const a = st.alarms.find((x) => x.seq === st.hold_seq);
    if (a) hb.appendChild(el("p", "", a.text));
    for (const c of st.criteria.filter((c) => c.applies && c.state !== "OK")) hb.appendChild(el("p", "", `${c.criterion} is ${c.state}; clears when ${c.clears_when}`));
    for (const [k, v] of Object.entries(st.conditions)) hb.appendChild(el("p", "", `condition ${k}: ${v}`));
  } else hb.appendChild(el("span", "note", `not holding (${st.mode})`));
  const box = $("alarms");
  const key = JSON.stringify(st.alarms.map((a) => [a.seq, a.acked && a.acked.seq]));
  if (box.dataset.key === key) return;  // unchanged: keep what the operator is typing
  box.dataset.key = key; box.textContent = "";
  if (!st.alarms.length) box.appendChild(el("p", "note", "no alarms"));
  for (const a of st.alarms) {
    const d = el("div", "alarm-item" + (a.acked ? " acked" : ""));
    d.dataset.seq = a.seq;
    d.appendChild(el("b", "", `#${a.seq} ${a.count} ${a.name.toUpperCase()} `)); d.appendChild(el("span", "", a.text));
    if (a.acked) d.appendChild(el("div", "note", `acknowledged by ${a.acked.user} (${a.acked.role}) at ${clock(a.acked.wall)}${a.acked.comment ? ": " + a.acked.comment : ""}`));
    else if (st.live && me.permissions.includes("ack")) {
      const row = el("div"); const inp = el("input"); inp.placeholder = "comment"; inp.maxLength = 500; inp.className = "ack-comment";
      const b = el("button", "ack-btn", "acknowledge");
      b.addEventListener("click", async () => {
        b.disabled = true;
        const r = await api("POST", "/api/ack", { seq: a.seq, comment: inp.value });
        if (r.status !== 200) { b.disabled = false; d.appendChild(el("div", "msg", String(r.data.detail || r.status))); }
      });
      row.appendChild(inp); row.appendChild(b); d.appendChild(row);
    } else d.appendChild(el("div", "note", "not acknowledged"));
    box.appendChild(d);
  }
}
function renderRequests(st) {
  const box = $("requests");
  const key = JSON.stringify(st.requests || []);
  if (box.dataset.key === key) return; box.dataset.key = key; box.textContent = "";
  if (!st.requests || !st.requests.length) { box.appendChild(el("p", "note", "nothing waiting")); return; }
  for (const q of st.requests) {
    const d = el("div", "req"); d.dataset.id = q.id;
    d.appendChild(el("div", "", `${q.user} (${q.role.replace("_", " ")}) requests ${q.command}${q.arg ? " " + q.arg : ""}${q.comment ? ": " + q.comment : ""}`));
    const canApprove = me.permissions.includes("approve") && q.user !== me.user;
    const ap = el("button", "approve-btn", "approve"), rj = el("button", "reject-btn", "reject");
    ap.disabled = rj.disabled = !canApprove;
    if (!canApprove) d.appendChild(el("div", "note", q.user === me.user ? "waiting for another user to approve" : "your role cannot approve"));
    ap.addEventListener("click", () => decide(q, "approve")); rj.addEventListener("click", () => decide(q, "reject"));
    d.appendChild(ap); d.appendChild(document.createTextNode(" ")); d.appendChild(rj); box.appendChild(d);
  }
}
async function decide(q, what) {
  const r = await api("POST", `/api/requests/${q.id}/${what}`, { comment: "" });
  msg(r.status === 200 ? `${what}d: ${q.command}${r.data.mode ? " -> " + r.data.mode : ""}` : `${what} failed: ${detail(r)}`, r.status === 200);
}
function detail(r) { const d = r.data || {}; if (d.refused && d.refused.length) return d.refused.join("; "); if (typeof d.detail === "string") return d.detail; return JSON.stringify(d.detail || d); }
function msg(text, ok) { const m = $("cmd-msg"); m.textContent = text; m.className = "msg" + (ok ? " ok" : ""); }

// ---------------------------------------------------------------- commands: preview, then send
function preview(cmd) {
  if (!state) return;
  const arg = cmd === "recycle" ? $("recycle-point").value : null;
  const at = arg !== null ? layout.recycle_at[arg] : undefined;
  const two = ["resume", "recycle"].includes(cmd) && state.automatic_hold;
  const what = {
    hold: state.past_pnr ? "Hold the count. PAST THE POINT OF NO RETURN a hold is an ABORT." : `Hold the count at ${state.count}. Equipment stays where it is; an operator resumes.`,
    resume: `Resume the count from ${state.count} (now ${state.mode}${state.reason ? ", held for " + state.reason : ""}). Refused unless every criterion in force is OK and no fail-safe condition is active.`,
    recycle: `Recycle: set the count clock back to the recycle point '${arg}'${at !== undefined ? " (" + fmtT(at) + ")" : ""} and re-run the steps from there. Refused if the restarted count would not end in the launch window.`,
    scrub: "SCRUB today's attempt: the count ends and cannot be resumed.",
    abort: "ABORT the count: it ends now.",
  }[cmd];
  pending = { command: cmd, arg };
  $("preview-text").textContent = what + (two ? " TWO-PERSON RULE: the count is held by an automatic hold, so this is sent as a request that a different user with an approving role (launch director or safety officer) must approve." : "");
  $("preview").classList.remove("hidden"); $("preview").dataset.cmd = cmd;
}
async function send() {
  if (!pending) return;
  const body = { command: pending.command, comment: $("preview-comment").value };
  if (pending.arg) body.arg = pending.arg;
  $("preview").classList.add("hidden");
  const r = await api("POST", "/api/command", body);
  if (r.status === 202) msg(`requested ${body.command}: waiting for approval by another user (request ${r.data.request.id})`, true);
  else if (r.status === 200) msg(`${body.command} accepted: ${r.data.mode}`, true);
  else msg(`${body.command} not applied: ${detail(r)}`, false);
  pending = null; $("preview-comment").value = "";
}

// ---------------------------------------------------------------- event log
function cat(r) {
  if (r.kind === "event") return "event"; if (r.kind === "operator") return "operator";
  if (r.kind === "audit") return "audit"; if (r.kind === "safety" || r.kind === "clear") return "safety"; return "other";
}
function renderLog() {
  const on = new Set([...document.querySelectorAll(".lf")].filter((c) => c.checked).map((c) => c.value));
  const txt = $("log-text").value.toLowerCase();
  const t = $("log"); t.textContent = "";
  const hr = t.insertRow(); for (const x of ["record", "count", "kind", "what", "who"]) hr.appendChild(el("th", "", x));
  const shown = records.filter((r) => on.has(cat(r)) && (!txt || (r.value + r.name).toLowerCase().includes(txt))).slice(-400).reverse();
  for (const r of shown) {
    const row = t.insertRow(); row.className = "k-" + (r.kind === "event" ? r.name : r.kind);
    row.insertCell().textContent = "#" + r.seq; row.insertCell().textContent = r.count;
    row.insertCell().textContent = r.kind === "event" ? r.name : r.kind; row.insertCell().textContent = r.value || r.name;
    const d = r.data || {};
    row.insertCell().textContent = d.user ? `${d.user} (${d.role})${d.approver ? " approved by " + d.approver : ""}` : "";
    row.addEventListener("click", () => { for (const x of t.rows) x.classList.remove("sel"); row.classList.add("sel"); $("log-record").textContent = JSON.stringify(r, null, 2); });
  }
}

boot();
