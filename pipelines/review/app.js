// The review page: cards from /api/variants, decisions to /api/decide (see server.py).
"use strict";

const TOKEN = document.querySelector('meta[name="assetpipe-token"]').content;
const AWAITING = ["pending", "changed"];
const state = {data: {variants: [], counts: {}}, filter: "awaiting", current: 0, selected: new Set(), busy: false};

function $(sel, root) { return (root || document).querySelector(sel); }

function shown() {
  const f = state.filter;
  return state.data.variants.filter(v => f === "all" || (f === "awaiting" ? AWAITING.includes(v.state) : v.state === f));
}

async function load() {
  const r = await fetch("/api/variants", {headers: {"Accept": "application/json"}});
  const doc = await r.json();
  if (!r.ok) { say(doc.error || r.statusText, true); return; }
  state.data = doc;
  const keys = new Set(doc.variants.map(v => v.key));
  for (const k of [...state.selected]) if (!keys.has(k)) state.selected.delete(k);
  render();
}

function say(text, error) {
  const s = $("#status");
  s.textContent = text;
  s.className = error ? "error" : "";
}

function figure(label, take, extra) {
  const fig = document.createElement("figure");
  const img = document.createElement("img");
  img.src = take.url;
  img.alt = label;
  img.loading = "lazy";
  const cap = document.createElement("figcaption");
  cap.textContent = `${label} ${take.sha256.slice(0, 12)}${extra ? " · " + extra : ""}`;
  fig.append(img, cap);
  return fig;
}

function takes(v) {
  const box = document.createElement("div");
  box.className = "takes";
  const a = v.approved, b = v.built;
  const differ = a && b && a.sha256 !== b.sha256;
  if (differ) {
    box.classList.add("pair");
    box.append(figure("approved take", a, `${a.by} ${a.at}`));
  }
  if (b) {
    const label = v.state === "rejected" ? "rejected take" : differ ? "new take" : v.state === "approved" ? "approved take" : "built take";
    box.append(figure(label, b));
  } else if (a) {
    box.append(figure("approved take", a, `${a.by} ${a.at}`));
  }
  if (!a && !b) {
    const none = document.createElement("div");
    none.className = "none";
    none.textContent = "not built yet: run assetpipe build";
    box.append(none);
  }
  return box;
}

function card(v, index) {
  const node = $("#card-template").content.firstElementChild.cloneNode(true);
  node.dataset.key = v.key;
  node.dataset.state = v.state;
  $(".key", node).textContent = v.key;
  const badge = $(".state", node);
  badge.textContent = v.state;
  badge.classList.add(v.state);
  $(".plan", node).textContent = `plan: ${v.plan_status}${v.reason ? " (" + v.reason + ")" : ""}`;
  $(".takes", node).replaceWith(takes(v));
  $(".explain", node).textContent = v.state === "approved" ? "" : v.explain.join("\n");
  $(".prompt", node).textContent = v.prompt || "(a local rendition: no prompt)";
  const r = v.review;
  $(".who-decided", node).textContent = r.by ? `${r.state === "rejected" ? "rejected" : "last decision"} by ${r.by} at ${r.at}${r.note ? ": " + r.note : ""}` : "";
  const pick = $(".pick", node);
  pick.checked = state.selected.has(v.key);
  pick.addEventListener("change", () => { toggle(v.key, pick.checked); });
  $("button.approve", node).addEventListener("click", () => decide("approve", [v.key], $(".note", node).value));
  $("button.reject", node).addEventListener("click", () => rejectCard(node, v.key));
  node.addEventListener("click", () => { state.current = index; mark(false); });
  return node;
}

function render() {
  const list = shown();
  const counts = Object.assign({}, state.data.counts);
  counts.awaiting = (counts.pending || 0) + (counts.changed || 0);
  counts.all = state.data.variants.length;
  document.querySelectorAll("[data-count]").forEach(el => { el.textContent = counts[el.dataset.count] || 0; });
  document.querySelectorAll("[data-filter]").forEach(b => b.setAttribute("aria-pressed", String(b.dataset.filter === state.filter)));
  $("#catalog").textContent = state.data.catalog || "";
  $("#reviewer").textContent = state.data.reviewer || "";
  const main = $("#cards");
  main.replaceChildren(...list.map(card));
  if (!list.length) {
    const p = document.createElement("p");
    p.className = "none";
    p.textContent = `no ${state.filter === "all" ? "" : state.filter + " "}variants`;
    main.append(p);
  }
  state.current = Math.max(0, Math.min(state.current, list.length - 1));
  updateSelection();
  mark(false);
}

function cards() { return Array.from(document.querySelectorAll("article.card")); }

function mark(scroll) {
  cards().forEach((c, i) => c.classList.toggle("current", i === state.current));
  const c = cards()[state.current];
  if (c && scroll) c.scrollIntoView({block: "start", behavior: "instant"});
}

function move(delta) {
  const n = cards().length;
  if (!n) return;
  state.current = Math.max(0, Math.min(n - 1, state.current + delta));
  mark(true);
}

function toggle(key, on) {
  if (on) state.selected.add(key); else state.selected.delete(key);
  updateSelection();
}

function updateSelection() {
  $("#selected-count").textContent = `${state.selected.size} selected`;
  const list = shown();
  $("#select-all").checked = list.length > 0 && list.every(v => state.selected.has(v.key));
}

function rejectCard(node, key) {
  const note = $(".note", node);
  if (!note.value.trim()) { note.focus(); say("type what is wrong with this take, then Enter (or click reject)", false); return; }
  decide("reject", [key], note.value.trim());
}

// the take each card shows: the server refuses a decision on a take a build has replaced since
function seenTakes(keys) {
  const seen = {};
  for (const v of state.data.variants) if (keys.includes(v.key) && v.built) seen[v.key] = v.built.sha256;
  return seen;
}

async function decide(action, keys, note) {
  if (state.busy || !keys.length) return;
  state.busy = true;
  document.querySelectorAll("button").forEach(b => { b.disabled = true; });
  say(`${action === "approve" ? "approving" : "rejecting"} ${keys.length} variant(s)…`, false);
  try {
    const r = await fetch("/api/decide", {
      method: "POST",
      headers: {"Content-Type": "application/json", "X-Assetpipe-Token": TOKEN},
      body: JSON.stringify({action, keys, note: note || null, seen: seenTakes(keys)}),
    });
    const doc = await r.json();
    if (!r.ok || !doc.ok) { say(doc.error || r.statusText, true); return; }
    const changed = doc.decisions.filter(d => d.changed).length;
    say(`${action === "approve" ? "approved" : "rejected"} ${changed} variant(s)` +
        (changed < keys.length ? `, ${keys.length - changed} already were` : ""), false);
    keys.forEach(k => state.selected.delete(k));
    await load();
  } catch (err) {
    say(String(err), true);
  } finally {
    state.busy = false;
    document.querySelectorAll("button").forEach(b => { b.disabled = false; });
  }
}

function currentKey() {
  const c = cards()[state.current];
  return c ? c.dataset.key : null;
}

function onKey(ev) {
  const t = ev.target;
  if (t instanceof HTMLInputElement && t.type === "text") {
    if (ev.key === "Escape") { t.blur(); ev.preventDefault(); }
    if (ev.key === "Enter" && t.classList.contains("note")) {
      ev.preventDefault();
      const node = t.closest("article.card");
      if (t.value.trim()) decide("reject", [node.dataset.key], t.value.trim());
    }
    return;
  }
  if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const key = currentKey();
  const node = cards()[state.current];
  switch (ev.key) {
    case "j": case "ArrowDown": move(1); break;
    case "k": case "ArrowUp": move(-1); break;
    case "a": if (key) decide("approve", [key], $(".note", node).value); break;
    case "r": if (node) rejectCard(node, key); break;
    case "x": if (key) { toggle(key, !state.selected.has(key)); $(".pick", node).checked = state.selected.has(key); } break;
    default: return;
  }
  ev.preventDefault();
}

function init() {
  document.querySelectorAll("[data-filter]").forEach(b => b.addEventListener("click", () => {
    state.filter = b.dataset.filter;
    state.current = 0;
    render();
  }));
  $("#select-all").addEventListener("change", ev => {
    shown().forEach(v => toggle(v.key, ev.target.checked));
    render();
  });
  $("#approve-selected").addEventListener("click", () => decide("approve", [...state.selected], $("#bulk-note").value));
  $("#reject-selected").addEventListener("click", () => {
    const note = $("#bulk-note").value.trim();
    if (!note) { $("#bulk-note").focus(); say("a rejection needs a note: type it in the selection's note field", true); return; }
    decide("reject", [...state.selected], note);
  });
  document.addEventListener("keydown", onKey);
  load().catch(err => say(String(err), true));
}

init();
