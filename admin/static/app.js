// The admin page: calls the JSON API beside it (relative URLs), sending the
// key it was given as X-API-Key. The key lives in one variable, never in
// storage or a cookie, and is gone on reload. Text from the API is only
// ever set as textContent: the page's CSP forbids HTML from strings.
//
// Two views share the page: the list (#/) and a key's own page
// (#/keys/{id}). Actions (edit, disable, enable, rotate, delete) work the
// same from both, ask in a dialog that names the key, and change only the
// rows they touch, so the list keeps its place, its search and its pages.
"use strict";
(() => {
  let apiKey = null;
  // me is the principal of apiKey (GET whoami): the page marks its key,
  // and offers no way to disable or delete it while it is the last admin
  // key (the API refuses that too: 409).
  let me = null;
  // The keys loaded into the list, by ID, and the cursor of its next page.
  const keys = new Map();
  // query is the search, filter and order of the rows shown, which the
  // next page continues whatever the controls say meanwhile.
  const list = { next: "", query: "", seq: 0, abort: null, scrollY: 0, searchTimer: 0 };
  // Keys made in this tab, marked "new" in the list.
  const fresh = new Set();
  // Keys that rotated keys name (rotated_to) but the list has not loaded:
  // ID -> key, or null once it turned out to be gone.
  const successors = new Map();
  // The key whose page is shown, and the one shown last.
  let viewing = null;
  let viewed = null;
  let lastViewed = null;
  const $ = (id) => document.getElementById(id);

  class APIError extends Error {
    constructor(status, msg) {
      super(msg);
      this.status = status;
    }
  }

  // FormError is a field's value the page refuses before sending it.
  class FormError extends Error {
    constructor(msg, control) {
      super(msg);
      this.control = control;
    }
  }

  async function api(method, path, body, signal) {
    const init = { method, headers: { "X-API-Key": apiKey }, cache: "no-store", signal };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const res = await fetch(path, init);
    let data = null;
    if (res.status !== 204) {
      try { data = await res.json(); } catch { data = null; }
    }
    if (!res.ok) {
      if (res.status === 401 && apiKey !== null) lock("The key was refused; enter it again.");
      throw new APIError(res.status, (data && data.msg) || `${res.status} ${res.statusText}`);
    }
    return data;
  }

  const keyPath = (id) => `keys/${encodeURIComponent(id)}`;

  // --- small helpers -------------------------------------------------------

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }

  function show(node, text) {
    node.textContent = text || "";
    node.hidden = !text;
  }

  function pad(n) { return String(n).padStart(2, "0"); }

  function day(s) {
    const d = new Date(s);
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  }

  // when shows a time as local "YYYY-MM-DD HH:MM", which may wrap only
  // between the date and the time.
  function when(s, none) {
    if (!s) return el("span", none, "muted");
    const d = new Date(s);
    const out = el("span");
    out.append(el("span", day(s), "nowrap"), " ", el("span", `${pad(d.getHours())}:${pad(d.getMinutes())}`, "nowrap"));
    out.title = s;
    return out;
  }

  function whenText(s) {
    const d = new Date(s);
    return `${day(s)} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
  }

  // keyLabel names a key in buttons, dialogs and notices: its name and
  // its start, which tells keys of one name apart.
  function keyLabel(k) {
    return k.name ? `"${k.name}" (${k.start}…)` : `the key ${k.start}… (no name)`;
  }

  // durationMs reads a Go duration ("1m0s", "24h", "1h30m").
  function durationMs(s) {
    const units = { ns: 1e-6, us: 1e-3, "µs": 1e-3, ms: 1, s: 1e3, m: 6e4, h: 36e5 };
    const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/y;
    let total = 0;
    let i = 0;
    for (let m; (m = re.exec(s)) !== null; i = re.lastIndex) total += Number(m[1]) * units[m[2]];
    return i === s.length && s !== "" ? total : NaN;
  }

  const windows = [["1s", "a second"], ["1m", "a minute"], ["1h", "an hour"], ["24h", "a day"]];

  function rateText(r) {
    if (!r) return "the server's default";
    const w = windows.find(([d]) => durationMs(d) === durationMs(r.window));
    return `${r.limit} ${w ? w[1] : `per ${r.window}`}`;
  }

  function isMine(k) { return me !== null && k.id === me.key_id; }

  // resemblesKey mirrors the API's refusal of a key given as a search:
  // an underscore followed by 30 or more base62 characters. Such text is
  // never sent, since a search is part of a URL, which ends up in logs.
  const resemblesKey = (s) => /_[0-9A-Za-z]{30,}/.test(s);

  // --- notices -------------------------------------------------------------

  let noticeTimer = 0;
  // notify says that an action succeeded, in a status region that
  // screen readers announce, for a few seconds.
  function notify(text) {
    const n = $("notice");
    n.textContent = text;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(() => { if (n.textContent === text) n.textContent = ""; }, 8000);
  }

  function alertError(msg) {
    const target = viewing !== null ? $("key-error") : $("list-error");
    if (target) show(target, msg);
  }

  function clearErrors() {
    show($("list-error"));
    if ($("key-error")) show($("key-error"));
  }

  // --- dialogs -------------------------------------------------------------

  // ask shows the confirmation dialog, whose title and body name the key.
  // When the person confirms, run does the work with the dialog still
  // open, so a refusal is shown beside the question; it closes once run
  // succeeds. It resolves true when done, false when cancelled, and
  // rejects with a 404 (the key is gone: the caller says so).
  function ask({ title, body, ok, danger, focus, run }) {
    const dlg = $("confirm");
    const okb = $("confirm-ok");
    const cancel = $("confirm-cancel");
    $("confirm-title").textContent = title;
    $("confirm-body").replaceChildren(...body);
    show($("confirm-error"));
    okb.textContent = ok;
    okb.className = danger ? "danger-solid" : "";
    return new Promise((resolve, reject) => {
      const finish = (fn, v) => {
        okb.onclick = cancel.onclick = dlg.oncancel = null;
        if (dlg.open) dlg.close();
        fn(v);
      };
      okb.onclick = async () => {
        okb.disabled = cancel.disabled = true;
        try {
          await run();
          finish(resolve, true);
        } catch (e) {
          if (e.status === 404 || apiKey === null) finish(reject, e);
          else show($("confirm-error"), e.message);
        } finally {
          okb.disabled = cancel.disabled = false;
        }
      };
      cancel.onclick = () => finish(resolve, false);
      dlg.oncancel = (ev) => { ev.preventDefault(); finish(resolve, false); };
      dlg.showModal();
      (focus || cancel).focus();
    });
  }

  function para(text, cls) { return el("p", text, cls); }

  function keyList(list) {
    const ul = el("ul", undefined, "key-list");
    for (const d of list) ul.append(el("li", `${keyLabel(d)}, ${d.owner}`));
    return ul;
  }

  // --- the fields of a key -------------------------------------------------

  function field(spec, control, extra) {
    const wrap = el("div", undefined, spec.wide ? "field wide" : "field");
    const id = control.id || (control.id = spec.domId);
    const lab = el("label", spec.label);
    lab.htmlFor = id;
    wrap.append(lab, extra || control);
    if (spec.hint) {
      const hint = el("small", spec.hint, "hint");
      hint.id = `${id}-hint`;
      control.setAttribute("aria-describedby", hint.id);
      wrap.append(hint);
    }
    return wrap;
  }

  function input(type, spec) {
    const i = el("input");
    i.type = type;
    i.spellcheck = false;
    i.autocomplete = "off";
    if (spec.max) i.maxLength = spec.max;
    if (spec.placeholder) i.placeholder = spec.placeholder;
    return i;
  }

  function isoMinute(d) { return d.toISOString().replace(/\.\d{3}Z$/, "Z"); }

  function localInput(s) {
    const d = new Date(s);
    return `${day(s)}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
  }

  // Each kind of field builds its control, reads it as the entries of a
  // request body (none for a create left empty), fills it from a key, and
  // empties it.
  const kinds = {
    text(spec, mode) {
      const i = spec.multiline ? el("textarea") : input("text", spec);
      if (spec.multiline) { i.rows = 2; i.maxLength = spec.max; }
      return {
        node: field(spec, i), focus: i, controls: [i],
        read() {
          const v = i.value.trim();
          if (spec.required && mode === "create" && !v) throw new FormError(spec.required, i);
          return mode === "create" && !v ? {} : { [spec.id]: v };
        },
        fill(k) { i.value = k[spec.id] || ""; },
        clear() { i.value = ""; },
      };
    },
    words(spec, mode) {
      const i = input("text", spec);
      return {
        node: field(spec, i), focus: i, controls: [i],
        read() {
          const v = i.value.split(/[\s,]+/).filter(Boolean);
          return mode === "create" && v.length === 0 ? {} : { [spec.id]: v };
        },
        fill(k) { i.value = (k[spec.id] || []).join(" "); },
        clear() { i.value = ""; },
      };
    },
    // Metadata is one key=value a line. Metadata the text cannot hold (a
    // line break in a value, "=" in a key) is shown but not editable.
    metadata(spec, mode) {
      const t = el("textarea");
      t.rows = 2;
      t.spellcheck = false;
      t.placeholder = "team=payments";
      let fixed = null;
      return {
        node: field(spec, t), focus: t, controls: [t],
        read() {
          if (fixed !== null) return { [spec.id]: fixed };
          const out = {};
          t.value.split("\n").forEach((line, n) => {
            if (line.trim() === "") return;
            const at = line.indexOf("=");
            if (at <= 0) throw new FormError(`Metadata, line ${n + 1}: write key=value`, t);
            out[line.slice(0, at).trim()] = line.slice(at + 1).trim();
          });
          return mode === "create" && Object.keys(out).length === 0 ? {} : { [spec.id]: out };
        },
        fill(k) {
          const m = k[spec.id] || {};
          const entries = Object.entries(m);
          fixed = entries.some(([a, b]) => /[\n=]/.test(a) || b.includes("\n")) ? m : null;
          t.value = entries.map(([a, b]) => `${a}=${b}`).join("\n");
          t.readOnly = fixed !== null;
          t.title = fixed !== null ? "This metadata holds line breaks or a key with '=': change it through the API" : "";
        },
        clear() { t.value = ""; fixed = null; t.readOnly = false; },
      };
    },
    // Expiry: never, a time from now, or a date. A create sends ttl for a
    // time from now; a change sends expires_at, null for never.
    expiry(spec, mode) {
      const sel = el("select");
      const date = input("datetime-local", {});
      date.id = `${spec.domId}-date`;
      date.setAttribute("aria-label", "Expiry date and time");
      const choices = [["", "never"], ["168h", "in 7 days"], ["720h", "in 30 days"], ["2160h", "in 90 days"], ["8760h", "in a year"], ["date", "on a date…"]];
      for (const [v, label] of choices) sel.append(new Option(label, v));
      const box = el("div", undefined, "pair");
      box.append(sel, date);
      const sync = () => { date.hidden = sel.value !== "date"; };
      sel.addEventListener("change", () => { sync(); if (!date.hidden) date.focus(); });
      const c = {
        node: field(spec, sel, box), focus: sel, controls: [sel, date],
        read() {
          const v = sel.value;
          if (v === "") return mode === "create" ? {} : { expires_at: null };
          if (v === "date") {
            if (!date.value) throw new FormError("Pick the expiry date and time", date);
            return { expires_at: isoMinute(new Date(date.value)) };
          }
          if (mode === "create") return { ttl: v };
          return { expires_at: isoMinute(new Date(Date.now() + durationMs(v))) };
        },
        fill(k) {
          sel.value = k.expires_at ? "date" : "";
          date.value = k.expires_at ? localInput(k.expires_at) : "";
          sync();
        },
        clear() { sel.value = "720h"; date.value = ""; sync(); },
      };
      c.clear();
      return c;
    },
    // A rate limit: a number of requests per window; empty for the
    // server's default.
    rate(spec, mode) {
      const n = input("number", spec);
      n.min = "1";
      n.step = "1";
      n.placeholder = "default";
      n.setAttribute("aria-label", "Requests");
      const w = el("select");
      w.id = `${spec.domId}-window`;
      w.setAttribute("aria-label", "Per");
      for (const [v, label] of windows) w.append(new Option(`per ${label.replace(/^an? /, "")}`, v));
      const box = el("div", undefined, "pair");
      box.append(n, w);
      const c = {
        node: field(spec, n, box), focus: n, controls: [n, w],
        read() {
          if (n.value.trim() === "") return mode === "create" ? {} : { rate_limit: null };
          const limit = Number(n.value);
          if (!Number.isInteger(limit) || limit < 1) throw new FormError("The rate limit is a whole number of requests, at least 1; leave it empty for the default", n);
          return { rate_limit: { limit, window: w.value } };
        },
        fill(k) {
          const r = k.rate_limit;
          n.value = r ? String(r.limit) : "";
          for (const o of [...w.options]) if (o.dataset.custom) o.remove();
          w.value = "1m";
          if (r) {
            const known = windows.find(([d]) => durationMs(d) === durationMs(r.window));
            if (known) w.value = known[0];
            else {
              const o = new Option(`per ${r.window}`, r.window);
              o.dataset.custom = "1";
              w.append(o);
              w.value = r.window;
            }
          }
        },
        clear() { n.value = ""; w.value = "1m"; },
      };
      c.clear();
      return c;
    },
    // Uses: a create's max_uses (at least 1), a change's remaining_uses
    // (0 exhausts the key); empty for no limit.
    uses(spec, mode) {
      const i = input("number", spec);
      i.min = mode === "create" ? "1" : "0";
      i.step = "1";
      i.placeholder = "no limit";
      return {
        node: field(spec, i), focus: i, controls: [i],
        read() {
          const name = mode === "create" ? "max_uses" : "remaining_uses";
          if (i.value.trim() === "") return mode === "create" ? {} : { [name]: null };
          const v = Number(i.value);
          if (!Number.isInteger(v) || v < Number(i.min)) {
            throw new FormError(`Uses are a whole number, at least ${i.min}; leave it empty for no limit`, i);
          }
          return { [name]: v };
        },
        fill(k) { i.value = k.remaining_uses === null ? "" : String(k.remaining_uses); },
        clear() { i.value = ""; },
      };
    },
    checkbox(spec) {
      const c = input("checkbox", {});
      c.id = spec.domId;
      const wrap = el("div", undefined, "field check");
      const lab = el("label");
      lab.append(c, ` ${spec.label}`);
      wrap.append(lab);
      if (spec.hint) wrap.append(el("small", spec.hint, "hint"));
      return {
        node: wrap, focus: c, controls: [c],
        read() { return { [spec.id]: c.checked }; },
        fill(k) { c.checked = k[spec.id]; },
        clear() { c.checked = true; },
      };
    },
  };

  // FIELDS are the fields of a key the page sets: the create form sends
  // them to POST keys, the edit view those changed to PATCH keys/{id}. A
  // field the API adds goes here once, and both forms have it. locks
  // marks the fields that can lock a key's holder out, which the last
  // admin key may not be given (the API answers 409).
  const FIELDS = [
    { id: "name", label: "Name", kind: "text", max: 256, placeholder: "ci", required: "Give the key a name, so people can tell it apart" },
    { id: "owner", label: "Owner", kind: "text", max: 256, placeholder: "yours when empty", only: "create" },
    { id: "scopes", label: "Scopes", kind: "words", placeholder: "bots:read bots:write", hint: "Separated by spaces" },
    { id: "expires_at", label: "Expires", kind: "expiry", locks: true },
    { id: "description", label: "Description", kind: "text", multiline: true, max: 4096, wide: true },
    { id: "metadata", label: "Metadata", kind: "metadata", wide: true, hint: "One key=value a line" },
    { id: "rate_limit", label: "Rate limit", kind: "rate", locks: true, hint: "Empty: the server's default" },
    { id: "allowed_ips", label: "Allowed IPs", kind: "words", placeholder: "any address", locks: true, hint: "Addresses or CIDR ranges, separated by spaces" },
    { id: "remaining_uses", label: "Uses", kind: "uses", locks: true, hint: "Empty: no usage limit" },
    { id: "enabled", label: "Enabled", kind: "checkbox", only: "edit", locks: true },
  ];

  function buildFields(mode, container) {
    const out = [];
    for (const spec of FIELDS) {
      if (spec.only && spec.only !== mode) continue;
      const label = spec.id === "remaining_uses" ? (mode === "edit" ? "Uses left" : "Max uses") : spec.label;
      const f = kinds[spec.kind]({ ...spec, label, domId: `${mode}-${spec.id}` }, mode);
      f.spec = spec;
      container.append(f.node);
      out.push(f);
    }
    return out;
  }

  const createFields = buildFields("create", $("create-fields"));
  const editFields = buildFields("edit", $("edit-fields"));

  function readAll(fields) {
    const body = {};
    for (const f of fields) Object.assign(body, f.read());
    return body;
  }

  function showFormError(target, e) {
    if (!(e instanceof FormError)) throw e;
    show(target, e.message);
    if (e.control) e.control.focus();
  }

  // --- the list ------------------------------------------------------------

  function rowOf(id) {
    for (const tr of $("rows").children) if (tr.dataset.id === id) return tr;
    return null;
  }

  function youBadge() {
    const you = el("span", "you", "you");
    you.title = "The key this page is signed in with";
    return you;
  }

  function stateBadge(k) {
    const replaced = k.rotated_to && k.state === "enabled";
    const s = replaced ? "replaced" : k.state;
    return el("span", s, `state state-${s}`);
  }

  // successorNote says what replaced a rotated key, and until when the
  // old one works: "replaced by ak_4qGZ… until 2026-05-02 10:00".
  function successorNote(k) {
    if (!k.rotated_to) return null;
    const next = keys.get(k.rotated_to) || successors.get(k.rotated_to);
    if (next === undefined) fetchSuccessor(k.rotated_to);
    const note = el("span", "replaced by ", "successor");
    if (next === null) note.append("a key since deleted");
    else {
      const a = el("a", next ? `${next.start}…` : k.rotated_to);
      a.href = `#/${keyPath(k.rotated_to)}`;
      note.append(a);
    }
    if (k.state === "enabled" && k.expires_at) note.append(` until ${whenText(k.expires_at)}`);
    return note;
  }

  const fetching = new Set();
  async function fetchSuccessor(id) {
    if (fetching.has(id)) return;
    fetching.add(id);
    try {
      successors.set(id, await api("GET", keyPath(id)));
    } catch (e) {
      if (e.status !== 404) { fetching.delete(id); return; }
      successors.set(id, null);
    }
    for (const k of keys.values()) if (k.rotated_to === id) rerender(k);
    if (viewed && viewed.rotated_to === id) renderKey(viewed);
  }

  function actionButton(text, action, k, cls) {
    const b = el("button", text, cls ? `small ${cls}` : "small");
    b.type = "button";
    b.dataset.action = action;
    b.dataset.id = k.id;
    b.setAttribute("aria-label", `${text} ${keyLabel(k)}`);
    return b;
  }

  // actions are the buttons for k: none that could lock the page's admin
  // out (the last admin key is neither disabled nor deleted), and no
  // rotation of an expired or already rotated key (409).
  function actions(k) {
    const box = el("span", undefined, "actions");
    const lastAdmin = isMine(k) && me.last_admin_key;
    box.append(actionButton("Edit", "edit", k));
    if (!(lastAdmin && k.enabled)) box.append(actionButton(k.enabled ? "Disable" : "Enable", "toggle", k));
    if (k.state !== "expired" && !k.rotated_to) box.append(actionButton("Rotate", "rotate", k));
    if (!lastAdmin) box.append(actionButton("Delete", "delete", k, "danger"));
    if (lastAdmin) {
      const note = el("span", "last admin key", "note");
      note.title = "The only enabled admin key: create another before disabling or deleting this one";
      box.append(note);
    }
    return box;
  }

  function row(k) {
    const tr = el("tr");
    tr.dataset.id = k.id;
    if (fresh.has(k.id)) tr.classList.add("fresh");
    const add = (cls, ...content) => {
      const td = el("td", undefined, cls);
      td.append(...content);
      tr.append(td);
      return td;
    };
    const link = el("a", k.name || "(no name)", k.name ? "key-link" : "key-link unnamed");
    link.href = `#/${keyPath(k.id)}`;
    link.title = k.name;
    const sub = el("div", undefined, "sub");
    // The badges come before what a phone adds (the owner, the last
    // use), which a long owner may clip.
    sub.append(el("code", `${k.start}…`));
    if (isMine(k)) sub.append(" ", youBadge());
    if (fresh.has(k.id)) sub.append(" ", el("span", "new", "new"));
    sub.append(el("span", ` · ${k.owner}`, "phone"),
      el("span", k.last_used_at ? ` · used ${day(k.last_used_at)}` : " · never used", "phone"));
    add("c-name", link, sub);
    const owner = add("c-owner", el("span", k.owner, "clip"));
    owner.firstChild.title = k.owner;
    const scopes = el("span", undefined, "scopes");
    if (k.scopes.length === 0) scopes.append(el("span", "—", "muted"));
    for (const s of k.scopes) scopes.append(el("span", s, "scope"));
    add("c-scopes", scopes);
    const state = add("c-state", stateBadge(k));
    const note = successorNote(k);
    if (note) state.append(note);
    add("c-when", when(k.created_at, "—"));
    add("c-when", when(k.last_used_at, "never"));
    add("c-when c-expires", when(k.expires_at, "never"));
    add("c-actions", actions(k));
    return tr;
  }

  function rerender(k) {
    const tr = rowOf(k.id);
    if (tr) tr.replaceWith(row(k));
  }

  // upsert takes a key as the API now shows it into the list (in its row,
  // or, for a key just made, a new row at the top) and the key's page.
  function upsert(k, made) {
    const had = keys.has(k.id);
    if (had || made) keys.set(k.id, k);
    if (successors.has(k.id)) successors.set(k.id, k);
    if (had) rerender(k);
    else if (made) {
      fresh.add(k.id);
      $("rows").prepend(row(k));
    }
    for (const o of keys.values()) if (o.rotated_to === k.id) rerender(o);
    if (viewed && viewed.id === k.id) renderKey(k);
    listState();
  }

  function removeKey(id) {
    keys.delete(id);
    const tr = rowOf(id);
    if (tr) tr.remove();
    listState();
  }

  function filtered() { return $("search").value.trim() !== "" || $("filter-state").value !== ""; }

  function listState() {
    const n = keys.size;
    $("keys").hidden = n === 0;
    $("more").hidden = !list.next;
    $("empty").hidden = n > 0;
    if (n > 0) return;
    if (!filtered()) {
      $("empty-text").textContent = "No keys here yet. Create one above.";
      $("clear-filters").hidden = true;
      return;
    }
    const q = $("search").value.trim();
    const st = $("filter-state").value;
    const parts = [];
    if (q) parts.push(`"${q}"`);
    if (st) parts.push(`${q ? "in" : "in the"} state ${st}`);
    $("empty-text").textContent = `No keys match ${parts.join(" ")}.`;
    $("clear-filters").hidden = false;
  }

  function listQuery() {
    const [sort, order] = $("sort").value.split(":");
    const p = new URLSearchParams({ limit: "50", sort, order });
    const q = $("search").value.trim();
    const st = $("filter-state").value;
    if (q) p.set("q", q);
    if (st) p.set("state", st);
    return p;
  }

  // load reads the list's first page (or, with more, its next one). A
  // later load makes an earlier one's answer moot: typing a search sends
  // one request per pause, and only the last one's answer is shown.
  async function load(more) {
    const q = $("search").value.trim();
    if (resemblesKey(q)) {
      $("search").value = "";
      show($("search-error"), "That looks like an API key, so it was not sent: search by its start (such as ak_4qGZ) or its ID.");
      return;
    }
    show($("search-error"));
    const params = more ? new URLSearchParams(list.query) : listQuery();
    if (more) params.set("after", list.next);
    const seq = ++list.seq;
    if (list.abort) list.abort.abort();
    const ctl = new AbortController();
    list.abort = ctl;
    $("keys").setAttribute("aria-busy", "true");
    let page;
    try {
      page = await api("GET", `keys?${params}`, undefined, ctl.signal);
    } catch (e) {
      if (e.name === "AbortError") return;
      throw e;
    } finally {
      if (seq === list.seq) $("keys").removeAttribute("aria-busy");
    }
    if (seq !== list.seq) return;
    if (!more) {
      keys.clear();
      $("rows").replaceChildren();
      list.query = params.toString();
    }
    for (const k of page.keys) {
      if (keys.has(k.id)) {
        upsert(k); // placed at the top when it was made here
        continue;
      }
      keys.set(k.id, k);
      $("rows").append(row(k));
    }
    list.next = page.next;
    listState();
  }

  async function reload() {
    show($("list-error"));
    try {
      await load(false);
    } catch (e) { if (apiKey !== null) show($("list-error"), e.message); }
  }

  // --- the signed-in key ---------------------------------------------------

  async function whoami() {
    me = await api("GET", "whoami");
    const s = $("signed-in");
    s.textContent = `Signed in: ${me.name || me.key_id || me.owner}`;
    s.title = `Owner ${me.owner}${me.admin ? ", admin" : ""}`;
    s.hidden = false;
  }

  // refreshMe asks whoami again after a change, which may have made the
  // page's key the last admin key or no longer so, and redraws its row.
  async function refreshMe() {
    const was = me;
    await whoami();
    if (me.last_admin_key === was.last_admin_key && me.key_id === was.key_id) return;
    for (const id of new Set([was.key_id, me.key_id])) {
      const k = keys.get(id);
      if (k) rerender(k);
      if (viewed && viewed.id === id) renderKey(viewed);
    }
  }

  // --- actions -------------------------------------------------------------

  // made lists the keys k made, or was rotated into, and theirs (GET
  // keys/{id}/descendants): the keys a leaked k's holder may have made.
  async function made(k) {
    return (await api("GET", `${keyPath(k.id)}/descendants`)).keys;
  }

  async function disable(k) {
    const desc = await made(k);
    const body = [para("Requests with it are refused until someone enables it again.")];
    if (desc.length > 0) body.push(para("It made these keys, or was rotated into them, which will be disabled too:"), keyList(desc));
    if (isMine(k)) body.push(para("This is the key this page is signed in with: the page will lock.", "warn-text"));
    let res;
    const done = await ask({
      title: `Disable ${keyLabel(k)}?`, body, ok: isMine(k) ? "Disable and lock" : "Disable", danger: true,
      run: async () => {
        res = await api("PATCH", desc.length > 0 ? `${keyPath(k.id)}?cascade=true` : keyPath(k.id), { enabled: false });
      },
    });
    if (!done) return false;
    const disabled = res.disabled || [];
    upsert(res.key || res);
    for (const d of disabled) upsert(d);
    notify(`Disabled ${keyLabel(k)}${disabled.length ? ` and ${disabled.length} key${disabled.length > 1 ? "s" : ""} it made` : ""}.`);
    return true;
  }

  async function enable(k) {
    upsert(await api("PATCH", keyPath(k.id), { enabled: true }));
    notify(`Enabled ${keyLabel(k)}.`);
    return true;
  }

  // graces are the rotation's choices: how long the old key keeps working.
  const graces = [["0s", "at once"], ["1h", "1 hour"], ["24h", "24 hours"], ["168h", "7 days"], ["720h", "30 days"]];
  const graceText = (v) => {
    const g = graces.find(([d]) => d === v);
    return v === "0s" ? "stops at once" : `keeps working for ${g ? g[1] : v}`;
  };

  async function rotate(k) {
    const limited = k.remaining_uses !== null;
    const max = me.max_grace === null ? Infinity : durationMs(me.max_grace);
    const sel = el("select");
    sel.id = "grace";
    for (const [v] of graces) {
      if (durationMs(v) <= max && (!limited || v === "0s")) sel.append(new Option(graceText(v), v));
    }
    sel.value = [...sel.options].some((o) => o.value === "24h") ? "24h" : sel.options[sel.options.length - 1].value;
    const lab = el("label", "The old key");
    lab.htmlFor = sel.id;
    const pick = el("div", undefined, "field");
    pick.append(lab, sel);
    const body = [para("A new key with the same settings is made and shown once."), pick];
    if (limited) body.push(para("It has a usage limit: its remaining uses move to the new key, so the old one stops at once."));
    if (max !== Infinity && !limited) body.push(para(`Your key may give at most ${me.max_grace} of grace.`, "muted"));
    if (isMine(k)) body.push(para("This is the key this page is signed in with: the page goes on with the new one.", "warn-text"));
    let res;
    const done = await ask({
      title: `Rotate ${keyLabel(k)}?`, body, ok: "Rotate", focus: sel,
      run: async () => { res = await api("POST", `${keyPath(k.id)}/rotate`, { grace: sel.value }); },
    });
    if (!done) return false;
    // The page's own key: go on with the new one, which keeps working
    // when the old one stops.
    if (isMine(k)) apiKey = res.plaintext;
    showSecret(`New key for ${keyLabel(res.key)}, replacing ${k.start}…`, res.plaintext);
    upsert(res.key, true);
    try {
      upsert(await api("GET", keyPath(k.id)));
    } catch (e) {
      if (e.status !== 404) throw e;
      removeKey(k.id);
    }
    notify(`Rotated ${keyLabel(k)}: the old key ${graceText(sel.value)}.`);
    return true;
  }

  async function remove(k) {
    const desc = await made(k);
    const body = [para("Anything using it stops working at once. This cannot be undone.")];
    if (desc.length > 0) body.push(para("It made these keys, or was rotated into them, which will be disabled:"), keyList(desc));
    if (isMine(k)) body.push(para("This is the key this page is signed in with: the page will lock.", "warn-text"));
    let res;
    const done = await ask({
      title: `Delete ${keyLabel(k)}?`, body, ok: "Delete", danger: true,
      run: async () => { res = await api("DELETE", desc.length > 0 ? `${keyPath(k.id)}?cascade=true` : keyPath(k.id)); },
    });
    if (!done) return false;
    removeKey(k.id);
    for (const d of (res && res.disabled) || []) upsert(d);
    if (viewing === k.id) location.hash = "#/";
    notify(`Deleted ${keyLabel(k)}.`);
    return true;
  }

  // edit opens the edit view of k, as stored now, with every field the
  // API can change, and sends only the fields changed.
  async function edit(shown) {
    const k = await api("GET", keyPath(shown.id));
    upsert(k);
    const dlg = $("edit");
    const form = $("edit-form");
    const lockout = isMine(k) && me.last_admin_key;
    $("edit-title").textContent = `Edit ${keyLabel(k)}`;
    for (const f of editFields) {
      f.fill(k);
      for (const c of f.controls) c.disabled = lockout && f.spec.locks === true;
    }
    const before = new Map(editFields.map((f) => [f, JSON.stringify(f.read())]));
    const note = $("edit-note");
    show(note, lockout ? "This is the last admin key, and the page is signed in with it: its expiry, limits and state cannot be changed here, since that could lock everyone out. Create another admin key first." : "");
    show($("edit-error"));
    let confirmedDisable = false;
    return new Promise((resolve, reject) => {
      const finish = (fn, v) => {
        form.onsubmit = $("edit-cancel").onclick = dlg.oncancel = null;
        if (dlg.open) dlg.close();
        fn(v);
      };
      form.onsubmit = async (ev) => {
        ev.preventDefault();
        show($("edit-error"));
        const body = {};
        try {
          for (const f of editFields) {
            const now = f.read();
            if (JSON.stringify(now) !== before.get(f)) Object.assign(body, now);
          }
        } catch (e) {
          showFormError($("edit-error"), e);
          return;
        }
        if (Object.keys(body).length === 0) {
          finish(resolve, true);
          notify(`Nothing changed on ${keyLabel(k)}.`);
          return;
        }
        const submit = form.querySelector("button[type=submit]");
        submit.disabled = true;
        try {
          const disabling = body.enabled === false;
          const desc = disabling ? await made(k) : [];
          if (disabling && !confirmedDisable && (desc.length > 0 || isMine(k))) {
            // Say what a disable takes with it, and save on the second press.
            confirmedDisable = true;
            note.replaceChildren();
            if (isMine(k)) note.append(para("This is the key this page is signed in with: disabling it locks the page.", "warn-text"));
            if (desc.length > 0) note.append(para("It made these keys, or was rotated into them, which will be disabled too:"), keyList(desc));
            note.append(para("Press Save changes again to go ahead."));
            note.hidden = false;
            return;
          }
          const res = await api("PATCH", desc.length > 0 ? `${keyPath(k.id)}?cascade=true` : keyPath(k.id), body);
          finish(resolve, true);
          upsert(res.key || res);
          for (const d of res.disabled || []) upsert(d);
          notify(`Saved ${keyLabel(res.key || res)}: ${Object.keys(body).join(", ").replaceAll("_", " ")}.`);
        } catch (e) {
          if (e.status === 404 || apiKey === null) finish(reject, e);
          else show($("edit-error"), e.message);
        } finally {
          submit.disabled = false;
        }
      };
      $("edit-cancel").onclick = () => finish(resolve, false);
      dlg.oncancel = (ev) => { ev.preventDefault(); finish(resolve, false); };
      dlg.showModal();
      editFields[0].focus.focus();
    });
  }

  // stale takes a key the API no longer knows (deleted elsewhere) off the
  // list, and says so.
  function stale(k) {
    removeKey(k.id);
    notify(`${keyLabel(k)} is gone: it was deleted elsewhere, so it left the list.`);
    if (viewing === k.id) renderGone(k.id);
  }

  const handlers = {
    edit,
    toggle: (k) => (k.enabled ? disable(k) : enable(k)),
    rotate,
    delete: remove,
  };

  // act runs an action on the key with the given ID from a row or the
  // key's page, and puts the focus back where it was: on the same button
  // of the redrawn row, or near the row if the key left the list.
  async function act(action, id, opener) {
    const k = keys.get(id) || (viewed && viewed.id === id ? viewed : null);
    if (!k) return;
    clearErrors();
    const scope = opener.closest("#key-view") ? $("key-view") : $("rows");
    const next = scope === $("rows") && rowOf(id) ? rowOf(id).nextElementSibling : null;
    const shown = secretShown;
    try {
      const changed = await handlers[action](k);
      if (changed && apiKey !== null) await refreshMe();
    } catch (e) {
      if (apiKey === null) return; // locked: the login says why
      if (e.status === 404) stale(k);
      else alertError(e.message);
    }
    if (apiKey === null || secretShown !== shown) return;
    const again = scope.querySelector(`button[data-action="${action}"][data-id="${CSS.escape(id)}"]`);
    const fallback = rowOf(id) ? rowOf(id).querySelector("a.key-link") : next ? next.querySelector("a.key-link") : $("search");
    if (again && !again.hidden) again.focus();
    else if (viewing !== null && $("key-title")) $("key-title").focus();
    else if (fallback) fallback.focus();
  }

  document.addEventListener("click", (ev) => {
    const b = ev.target.closest("button[data-action]");
    if (!b || !b.closest("#rows, #key-view")) return;
    act(b.dataset.action, b.dataset.id, b);
  });

  // --- a key's own page ----------------------------------------------------

  function dl(rows) {
    const d = el("dl", undefined, "fields-list");
    for (const [term, value] of rows) {
      const wrap = el("div");
      const dd = el("dd");
      if (typeof value === "string") dd.textContent = value; else dd.append(value);
      wrap.append(el("dt", term), dd);
      d.append(wrap);
    }
    return d;
  }

  function keyRef(id, none) {
    if (!id) return el("span", none, "muted");
    const k = keys.get(id) || successors.get(id);
    const a = el("a", k ? `${k.name || "(no name)"} (${k.start}…)` : id);
    a.href = `#/${keyPath(id)}`;
    return a;
  }

  function words(list, cls, none) {
    const span = el("span");
    if (list.length === 0) span.append(el("span", none, "muted"));
    for (const w of list) span.append(el("span", w, cls));
    return span;
  }

  async function copyText(text, status, what) {
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      const t = el("textarea");
      t.value = text;
      document.body.append(t);
      t.select();
      document.execCommand("copy");
      t.remove();
    }
    show(status, `Copied ${what} to the clipboard.`);
  }

  function renderKey(k) {
    viewed = k;
    const view = $("key-view");
    const focused = document.activeElement && view.contains(document.activeElement) ? document.activeElement : null;
    const refocus = focused && focused.dataset.action ? `button[data-action="${focused.dataset.action}"]` : focused && focused.id ? `#${CSS.escape(focused.id)}` : null;
    const back = el("a", "← All keys", "back");
    back.href = "#/";
    const title = el("h2", k.name || "(no name)");
    title.id = "key-title";
    title.tabIndex = -1;
    const head = el("div", undefined, "key-head");
    head.append(title, stateBadge(k));
    if (isMine(k)) head.append(youBadge());
    const idLine = el("div", undefined, "id-line");
    const copy = el("button", "Copy ID", "small");
    copy.type = "button";
    copy.id = "copy-id";
    copy.setAttribute("aria-label", `Copy ID of ${keyLabel(k)}`);
    const copied = el("span", "", "muted");
    copied.id = "copy-id-status";
    copied.setAttribute("aria-live", "polite");
    copy.addEventListener("click", () => copyText(k.id, copied, "the ID"));
    const idCode = el("code", k.id);
    idCode.id = "key-id";
    idLine.append(el("span", "ID", "label"), idCode, copy, copied);
    const err = el("p", undefined, "error");
    err.id = "key-error";
    err.setAttribute("role", "alert");
    err.hidden = true;
    const meta = Object.entries(k.metadata);
    const metaList = el("span");
    if (meta.length === 0) metaList.append(el("span", "none", "muted"));
    for (const [a, b] of meta) metaList.append(el("span", `${a}=${b}`, "scope"));
    const replaced = successorNote(k);
    view.replaceChildren(back, head, idLine, actions(k), err, dl([
      ["Owner", k.owner],
      ["Start", el("code", `${k.start}…`)],
      ["Description", k.description || el("span", "none", "muted")],
      ["Scopes", words(k.scopes, "scope", "none")],
      ["Metadata", metaList],
      ["State", replaced ? replaced : k.state],
      ["Created", when(k.created_at, "—")],
      ["Updated", when(k.updated_at, "—")],
      ["Expires", when(k.expires_at, "never")],
      ["Last used", when(k.last_used_at, "never")],
      ["Rate limit", rateText(k.rate_limit)],
      ["Allowed IPs", words(k.allowed_ips, "scope", "any address")],
      ["Uses left", k.remaining_uses === null ? "no limit" : String(k.remaining_uses)],
      ["Made by", keyRef(k.created_by, "an operator")],
      ["Disabled by", k.enabled ? el("span", "—", "muted") : keyRef(k.disabled_by, "an operator or admin")],
    ]));
    const chain = el("section", undefined, "sub-section");
    chain.setAttribute("aria-labelledby", "chain-title");
    const chainTitle = el("h3", "Rotation chain");
    chainTitle.id = "chain-title";
    const chainList = el("ol", undefined, "chain");
    chainList.id = "key-chain";
    chain.append(chainTitle, chainList);
    const kids = el("section", undefined, "sub-section");
    kids.setAttribute("aria-labelledby", "made-title");
    const kidsTitle = el("h3", "Keys it made");
    kidsTitle.id = "made-title";
    const kidsList = el("ul", undefined, "chain");
    kidsList.id = "key-made";
    kids.append(kidsTitle, kidsList);
    const usage = el("section", undefined, "sub-section");
    usage.id = "usage";
    usage.setAttribute("aria-labelledby", "usage-title");
    const usageTitle = el("h3", "Usage");
    usageTitle.id = "usage-title";
    usage.append(usageTitle, para("No usage history is recorded for keys yet: its requests over time will show here.", "muted"));
    view.append(chain, kids, usage);
    loadRelated(k);
    if (refocus) {
      const again = view.querySelector(refocus);
      if (again) again.focus();
    }
  }

  function linkItem(k, current) {
    const li = el("li");
    const a = el("a", `${k.name || "(no name)"} (${k.start}…)`);
    a.href = `#/${keyPath(k.id)}`;
    if (current) a.setAttribute("aria-current", "page");
    li.append(a, " ", stateBadge(k), el("span", ` made ${whenText(k.created_at)}`, "muted"));
    return li;
  }

  async function loadRelated(k) {
    const id = k.id;
    try {
      const [chain, kids] = await Promise.all([
        api("GET", `${keyPath(id)}/rotations`),
        api("GET", `${keyPath(id)}/descendants`),
      ]);
      if (!viewed || viewed.id !== id || !$("key-chain")) return;
      for (const o of [...chain.keys, ...kids.keys]) if (o.id !== id && !keys.has(o.id)) successors.set(o.id, o);
      $("key-chain").replaceChildren(...chain.keys.map((o) => linkItem(o, o.id === id)));
      if (chain.keys.length < 2) $("key-chain").replaceChildren(el("li", "Never rotated.", "muted"));
      $("key-made").replaceChildren(...kids.keys.map((o) => linkItem(o, false)));
      if (kids.keys.length === 0) $("key-made").replaceChildren(el("li", "None.", "muted"));
    } catch (e) {
      if (apiKey !== null && viewed && viewed.id === id && e.status !== 404) alertError(e.message);
    }
  }

  function renderGone(id) {
    viewed = null;
    const back = el("a", "← All keys", "back");
    back.href = "#/";
    const title = el("h2", "No such key");
    title.id = "key-title";
    title.tabIndex = -1;
    $("key-view").replaceChildren(back, title, para(`There is no key ${id} that you may see: it was deleted, or never existed.`, "muted"));
  }

  async function openKey(id) {
    if (!$("list-view").hidden) list.scrollY = window.scrollY;
    $("list-view").hidden = true;
    $("key-view").hidden = false;
    viewing = id;
    lastViewed = id;
    const known = keys.get(id);
    if (known) {
      renderKey(known);
      $("key-title").focus();
    } else $("key-view").replaceChildren(para("Loading…", "muted"));
    window.scrollTo(0, 0);
    try {
      const k = await api("GET", keyPath(id));
      if (viewing !== id) return;
      if (known && JSON.stringify(known) === JSON.stringify(k)) return;
      if (keys.has(id)) upsert(k); else renderKey(k);
      if (!known) $("key-title").focus();
    } catch (e) {
      if (viewing !== id || apiKey === null) return;
      if (e.status === 404) {
        removeKey(id);
        renderGone(id);
        $("key-title").focus();
      } else alertError(e.message);
    }
  }

  function showList() {
    viewing = null;
    viewed = null;
    const wasHidden = $("list-view").hidden;
    $("key-view").hidden = true;
    $("key-view").replaceChildren();
    $("list-view").hidden = false;
    if (!wasHidden) return;
    window.scrollTo(0, list.scrollY);
    const tr = lastViewed && rowOf(lastViewed);
    if (tr) tr.querySelector("a.key-link").focus({ preventScroll: true });
  }

  function route() {
    if (apiKey === null) return;
    const m = /^#\/keys\/([^/]+)$/.exec(location.hash);
    let id = null;
    try {
      id = m && decodeURIComponent(m[1]);
    } catch {
      id = null;
    }
    // A key where its ID belongs is never sent: the path of a request
    // ends up in logs.
    if (id !== null && resemblesKey(id)) {
      location.replace("#/");
      notify("That link held what looks like an API key, not a key's ID, so it was not sent.");
      return;
    }
    if (id !== null) openKey(id);
    else showList();
  }

  window.addEventListener("hashchange", route);

  // --- the new key, shown once ---------------------------------------------

  // secretShown counts the new keys shown, so an action that showed one
  // leaves the focus on it.
  let secretShown = 0;

  function showSecret(title, plaintext) {
    secretShown++;
    $("secret-title").textContent = title;
    $("secret-value").value = plaintext;
    show($("copy-status"));
    $("secret").hidden = false;
    $("secret").scrollIntoView({ block: "nearest" });
    $("secret-value").focus();
    $("secret-value").select();
  }

  function hideSecret() {
    $("secret-value").value = "";
    $("secret").hidden = true;
  }

  // --- locking and unlocking -----------------------------------------------

  function lock(message) {
    apiKey = null;
    me = null;
    list.next = "";
    keys.clear();
    fresh.clear();
    successors.clear();
    viewing = viewed = lastViewed = null;
    $("rows").replaceChildren();
    $("key-view").replaceChildren();
    for (const d of document.querySelectorAll("dialog")) if (d.open) d.close();
    hideSecret();
    $("notice").textContent = "";
    $("signed-in").hidden = true;
    $("app").hidden = true;
    $("lock").hidden = true;
    $("login").hidden = false;
    show($("login-error"), message);
    $("login-key").focus();
  }

  $("login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const input = $("login-key");
    apiKey = input.value.trim();
    input.value = "";
    show($("login-error"));
    try {
      await whoami();
      await load(false);
    } catch (e) {
      apiKey = null;
      me = null;
      $("signed-in").hidden = true;
      show($("login-error"), e.status === 401 ? "That key was refused." : e.message);
      return;
    }
    $("login").hidden = true;
    $("app").hidden = false;
    $("lock").hidden = false;
    if (/^#\/keys\//.test(location.hash)) {
      route();
      return;
    }
    showList();
    // The first useful control: the search, or, with no keys yet, the
    // form that makes one.
    if (keys.size > 0) $("search").focus();
    else $("create-box").querySelector("summary").focus();
  });

  $("lock").addEventListener("click", () => lock());

  $("create-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    show($("create-error"));
    let body;
    try {
      body = readAll(createFields);
    } catch (e) {
      showFormError($("create-error"), e);
      return;
    }
    try {
      const res = await api("POST", "keys", body);
      for (const f of createFields) f.clear();
      $("create-box").open = false;
      showSecret(`New key ${keyLabel(res.key)} for ${res.key.owner}`, res.plaintext);
      upsert(res.key, true);
      notify(`Created ${keyLabel(res.key)} for ${res.key.owner}.`);
      await refreshMe();
    } catch (e) {
      if (apiKey !== null) show($("create-error"), e.message);
    }
  });

  $("copy").addEventListener("click", () => copyText($("secret-value").value, $("copy-status"), "the key"));

  $("secret-done").addEventListener("click", () => {
    hideSecret();
    const first = viewing !== null ? $("key-title") : $("rows").querySelector("a.key-link") || $("search");
    if (first) first.focus();
  });
  $("refresh").addEventListener("click", reload);
  $("more").addEventListener("click", async () => {
    const before = $("rows").children.length;
    try {
      await load(true);
      const first = $("rows").children[before];
      if (first) first.querySelector("a.key-link").focus();
    } catch (e) { if (apiKey !== null) show($("list-error"), e.message); }
  });
  $("filter-state").addEventListener("change", reload);
  $("sort").addEventListener("change", reload);
  $("search").addEventListener("input", () => {
    clearTimeout(list.searchTimer);
    list.searchTimer = setTimeout(reload, 250);
  });
  $("search").addEventListener("keydown", (ev) => {
    if (ev.key === "Enter") {
      clearTimeout(list.searchTimer);
      reload();
    }
  });
  $("clear-filters").addEventListener("click", () => {
    $("search").value = "";
    $("filter-state").value = "";
    reload();
    $("search").focus();
  });
})();
