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
  // An owner may hold any character, "/" included: it is one path
  // segment, percent-encoded. "." and ".." cannot be one (URLs resolve
  // them, encoded or not), so the page never sends them.
  const ownerPath = (owner) => `owners/${encodeURIComponent(owner)}`;
  const ownerHash = (owner) => `#/${ownerPath(owner)}`;
  const unsendableOwner = (owner) => owner === "." || owner === "..";

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

  // windowMs reads a window as the API does: whole days ("1d") or a Go
  // duration ("1m", "1h30m").
  function windowMs(s) {
    const days = /^(\d+)d$/.exec(s);
    return days ? Number(days[1]) * 864e5 : durationMs(s);
  }

  // windowText writes a window the API shows ("24h0m0s") as one types
  // it: "1d", "1m", "1h30m".
  function windowText(s) {
    const ms = durationMs(s);
    if (!(ms > 0)) return s;
    if (ms % 864e5 === 0) return `${ms / 864e5}d`;
    let out = "";
    let rest = ms;
    for (const [unit, size] of [["h", 36e5], ["m", 6e4], ["s", 1e3], ["ms", 1]]) {
      const n = Math.floor(rest / size);
      if (n > 0) out += `${n}${unit}`;
      rest -= n * size;
    }
    return out || s;
  }

  // limitText says what a named limit allows: "burst: 10 a second".
  function limitText(r) { return `${r.name}: ${rateText(r)}`; }

  const utcText = (s) => new Date(s).toISOString().slice(0, 16).replace("T", " ") + " UTC";

  // inText says how far off a time is: "in 5 hours", "in 3 days".
  function inText(s) {
    const min = Math.round((new Date(s) - Date.now()) / 6e4);
    const [n, unit] = min < 1 ? [0, ""] : min < 90 ? [min, "minute"] : min < 36 * 60 ? [Math.round(min / 60), "hour"] : [Math.round(min / 1440), "day"];
    return n === 0 ? "now" : `in ${n} ${unit}${n > 1 ? "s" : ""}`;
  }

  // refillText says how uses come back: "100 uses every day at 00:00
  // UTC". A month without the day refills on its last day.
  function refillText(r) {
    if (!r) return "none";
    const when = r.interval === "monthly"
      ? `every month on day ${r.day} at 00:00 UTC${r.day > 28 ? " (or the month's last day)" : ""}`
      : "every day at 00:00 UTC";
    return `${r.amount} use${r.amount === 1 ? "" : "s"} ${when}${r.roll_over ? "; unused ones roll over" : "; unused ones lapse"}`;
  }

  // creditsText says compactly what a key or an owner may still spend:
  // "4 left", "37/100 left" (of a refill's amount), or null for no limit.
  function creditsText(o) {
    if (o.remaining_uses === null) return null;
    return o.refill ? `${o.remaining_uses}/${o.refill.amount} left` : `${o.remaining_uses} left`;
  }

  function creditsTitle(o) {
    const left = `${o.remaining_uses} use${o.remaining_uses === 1 ? "" : "s"} left`;
    return o.refill && o.next_refill_at ? `${left}; refilled with ${refillText(o.refill)}; next ${utcText(o.next_refill_at)}` : left;
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

  // typed reads a number field as typed: a browser empties the value of
  // one holding what is not a number ("1e"), which must not read as
  // empty (no limit).
  function typed(i, msg) {
    if (i.validity.badInput) throw new FormError(msg, i);
    return i.value.trim();
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
          // A key pasted where a name belongs leaves the page no further.
          if (spec.notKey && resemblesKey(v)) {
            i.value = "";
            throw new FormError(`That looks like an API key, not ${spec.notKey}, so it was not sent`, i);
          }
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
          const msg = "The rate limit is a whole number of requests, at least 1; leave it empty for the default";
          if (typed(n, msg) === "") return mode === "create" ? {} : { rate_limit: null };
          const limit = Number(n.value);
          if (!Number.isInteger(limit) || limit < 1) throw new FormError(msg, n);
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
    // Uses: a create's spec.createAs (a key's max_uses, at least 1), or
    // remaining_uses (0 exhausts the key); empty for no limit.
    uses(spec, mode) {
      const i = input("number", spec);
      const name = mode === "create" && spec.createAs ? spec.createAs : spec.id;
      i.min = mode === "create" && spec.createAs ? "1" : "0";
      i.step = "1";
      i.placeholder = spec.empty || "no limit";
      return {
        node: field(spec, i), focus: i, controls: [i],
        read() {
          const msg = `Uses are a whole number, at least ${i.min}; leave it empty for no limit`;
          if (typed(i, msg) === "") return mode === "create" ? {} : { [name]: null };
          const v = Number(i.value);
          if (!Number.isInteger(v) || v < Number(i.min)) throw new FormError(msg, i);
          return { [name]: v };
        },
        fill(k) { i.value = k.remaining_uses === null ? "" : String(k.remaining_uses); },
        clear() { i.value = ""; },
      };
    },
    // A count (an owner's max_keys): a whole number, empty for 0, any
    // number.
    count(spec, mode) {
      const i = input("number", spec);
      i.min = "0";
      i.step = "1";
      i.placeholder = spec.empty;
      return {
        node: field(spec, i), focus: i, controls: [i],
        read() {
          const msg = `${spec.label} is a whole number; leave it empty for ${spec.empty}`;
          if (typed(i, msg) === "") return mode === "create" ? {} : { [spec.id]: 0 };
          const v = Number(i.value);
          if (!Number.isInteger(v) || v < 0) throw new FormError(msg, i);
          return { [spec.id]: v };
        },
        fill(k) { i.value = k[spec.id] ? String(k[spec.id]) : ""; },
        clear() { i.value = ""; },
      };
    },
    // Named rate limits: rows of a name, a number of requests and a
    // window ("1s", "1m", "1d"), added and removed. A change sends the
    // whole list ([] for none).
    limits(spec, mode) {
      const box = el("fieldset", undefined, "field wide group");
      box.id = spec.domId;
      const legend = el("legend", spec.label);
      const head = el("div", undefined, "limit-head");
      head.setAttribute("aria-hidden", "true");
      head.append(el("span", "Name"), el("span", "Requests"), el("span", "Per window"), el("span"));
      const rows = el("div", undefined, "limit-rows");
      const add = el("button", "Add a limit", "small");
      add.type = "button";
      add.id = `${spec.domId}-add`;
      const hint = el("small", spec.hint, "hint");
      hint.id = `${spec.domId}-hint`;
      box.setAttribute("aria-describedby", hint.id);
      let seq = 0;
      // Each row's controls name their row, which moves up when one
      // above it goes; at most 8 limits (the API's).
      const sync = () => {
        [...rows.children].forEach((row, n) => {
          const [name, limit, win, del] = row.querySelectorAll("input, button");
          name.setAttribute("aria-label", `Name of limit ${n + 1}`);
          limit.setAttribute("aria-label", `Requests of limit ${n + 1}`);
          win.setAttribute("aria-label", `Window of limit ${n + 1}, such as 1s, 1m, 1h or 1d`);
          del.setAttribute("aria-label", `Remove limit ${n + 1}`);
        });
        head.hidden = rows.children.length === 0;
        add.hidden = rows.children.length >= 8;
      };
      const addRow = (l) => {
        const n = ++seq;
        const row = el("div", undefined, "limit-row");
        const name = input("text", { max: 64, placeholder: "burst" });
        const limit = input("number", { placeholder: "100" });
        limit.min = "1";
        limit.step = "1";
        const win = input("text", { max: 32, placeholder: "1m" });
        for (const [c, part] of [[name, "name"], [limit, "limit"], [win, "window"]]) {
          c.id = `${spec.domId}-${n}-${part}`;
          c.dataset.part = part;
        }
        const del = el("button", "Remove", "small danger");
        del.type = "button";
        del.addEventListener("click", () => {
          const next = row.nextElementSibling || row.previousElementSibling;
          row.remove();
          sync();
          (next ? next.querySelector("input") : add).focus();
        });
        if (l) {
          name.value = l.name;
          limit.value = String(l.limit);
          win.value = windowText(l.window);
        }
        row.append(name, limit, win, del);
        rows.append(row);
        sync();
        return name;
      };
      add.addEventListener("click", () => addRow().focus());
      box.append(legend, head, rows, add, hint);
      sync();
      return {
        node: box, focus: add,
        get controls() { return [...box.querySelectorAll("input, button")]; },
        read() {
          const out = [];
          for (const row of rows.children) {
            const [name, limit, win] = row.querySelectorAll("input");
            const bad = `${spec.label}, "${name.value.trim()}": the number of requests is a whole number, at least 1`;
            const [n, l, w] = [name.value.trim(), typed(limit, bad), win.value.trim()];
            if (!n && !l && !w) continue;
            if (!n) throw new FormError(`${spec.label}: give each limit a name, such as burst or daily`, name);
            if (out.some((o) => o.name === n)) throw new FormError(`${spec.label}: two limits are named "${n}"`, name);
            const v = Number(l);
            if (l === "" || !Number.isInteger(v) || v < 1) throw new FormError(bad, limit);
            if (!(windowMs(w) >= 1)) throw new FormError(`${spec.label}, "${n}": the window is a duration such as 1s, 1m, 1h or 1d`, win);
            out.push({ name: n, limit: v, window: w });
          }
          return mode === "create" && out.length === 0 ? {} : { [spec.id]: out };
        },
        fill(k) {
          rows.replaceChildren();
          for (const l of k[spec.id] || []) addRow(l);
          sync();
        },
        clear() { rows.replaceChildren(); sync(); },
      };
    },
    // A refill: none, or an amount of uses every day or every month on a
    // day, rolled over or not. A change sends null for none.
    refill(spec, mode) {
      const box = el("fieldset", undefined, "field wide group");
      box.id = spec.domId;
      const part = (label, control, cls) => {
        const wrap = el("div", undefined, cls || "sub-field");
        const lab = el("label", label);
        lab.htmlFor = control.id;
        wrap.append(lab, control);
        return wrap;
      };
      const every = el("select");
      every.id = `${spec.domId}-interval`;
      for (const [v, label] of [["", "no refill"], ["daily", "every day"], ["monthly", "every month"]]) every.append(new Option(label, v));
      const amount = input("number", { placeholder: "100" });
      amount.id = `${spec.domId}-amount`;
      amount.min = "1";
      amount.step = "1";
      const dayOf = input("number", {});
      dayOf.id = `${spec.domId}-day`;
      dayOf.min = "1";
      dayOf.max = "31";
      dayOf.step = "1";
      const roll = input("checkbox", {});
      roll.id = `${spec.domId}-roll_over`;
      const rollLab = el("label");
      rollLab.append(roll, " Unused uses roll over");
      const rollWrap = el("div", undefined, "sub-field check");
      rollWrap.append(rollLab);
      const amountWrap = part("Uses each time", amount);
      const dayWrap = part("On day", dayOf, "sub-field day");
      const line = el("div", undefined, "refill-row");
      line.append(part("When", every), amountWrap, dayWrap, rollWrap);
      const hint = el("small", spec.hint, "hint");
      hint.id = `${spec.domId}-hint`;
      box.setAttribute("aria-describedby", hint.id);
      box.append(el("legend", spec.label), line, hint);
      const sync = () => {
        amountWrap.hidden = rollWrap.hidden = every.value === "";
        dayWrap.hidden = every.value !== "monthly";
      };
      every.addEventListener("change", () => { sync(); if (!amountWrap.hidden && amount.value === "") amount.focus(); });
      const c = {
        node: box, focus: every, controls: [every, amount, dayOf, roll],
        read() {
          if (every.value === "") return mode === "create" ? {} : { [spec.id]: null };
          const badAmount = "The refill gives a whole number of uses, at least 1";
          const a = Number(typed(amount, badAmount));
          if (amount.value.trim() === "" || !Number.isInteger(a) || a < 1) throw new FormError(badAmount, amount);
          const r = { amount: a, interval: every.value };
          if (every.value === "monthly") {
            const badDay = "A monthly refill comes on a day from 1 to 31";
            const d = Number(typed(dayOf, badDay));
            if (dayOf.value.trim() === "" || !Number.isInteger(d) || d < 1 || d > 31) throw new FormError(badDay, dayOf);
            r.day = d;
          }
          r.roll_over = roll.checked;
          return { [spec.id]: r };
        },
        fill(k) {
          const r = k[spec.id];
          every.value = r ? r.interval : "";
          amount.value = r ? String(r.amount) : "";
          dayOf.value = r && r.day ? String(r.day) : "1";
          roll.checked = !!(r && r.roll_over);
          sync();
        },
        clear() { every.value = ""; amount.value = ""; dayOf.value = "1"; roll.checked = false; sync(); },
      };
      c.clear();
      return c;
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
    { id: "owner", label: "Owner", kind: "text", max: 256, placeholder: "yours when empty", only: "create", notKey: "an owner" },
    { id: "scopes", label: "Scopes", kind: "words", placeholder: "bots:read bots:write", hint: "Separated by spaces" },
    { id: "expires_at", label: "Expires", kind: "expiry", locks: true },
    { id: "description", label: "Description", kind: "text", multiline: true, max: 4096, wide: true },
    { id: "metadata", label: "Metadata", kind: "metadata", wide: true, hint: "One key=value a line" },
    { id: "rate_limit", label: "Rate limit", kind: "rate", locks: true, hint: "Empty: the server's default, or none beside named limits" },
    { id: "allowed_ips", label: "Allowed IPs", kind: "words", placeholder: "any address", locks: true, hint: "Addresses or CIDR ranges, separated by spaces" },
    { id: "remaining_uses", createAs: "max_uses", label: "Uses", kind: "uses", locks: true, hint: "Empty: no usage limit (with a refill, it starts with the refill's amount)" },
    { id: "refill", label: "Refill", kind: "refill", locks: true, hint: "Gives the uses again at 00:00 UTC; monthly on a day a month lacks, on its last day" },
    { id: "rate_limits", label: "Named rate limits", kind: "limits", locks: true, hint: "Each counted on its own beside the rate limit, such as 10 a second (1s) and 10000 a day (1d); a request needs room in every one" },
    { id: "enabled", label: "Enabled", kind: "checkbox", only: "edit", locks: true },
  ];

  // checkFields refuses what the fields allow one by one but not
  // together: a change that lifts the usage limit would drop a refill
  // with it (the API's null remaining_uses stops refills).
  function checkFields(fields, all, sent) {
    if (all.refill && sent.remaining_uses === null) {
      const uses = fields.find((f) => f.spec.id === "remaining_uses");
      throw new FormError("A refill gives uses back, so it needs a usage limit: fill in the uses, or choose no refill", uses.focus);
    }
  }

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
    const credits = creditsText(k);
    if (credits) sub.append(el("span", ` · ${credits}`, "phone"));
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
    const used = add("c-when", when(k.last_used_at, "never"));
    if (credits) {
      const c = el("span", credits, k.remaining_uses === 0 ? "credits none-left" : "credits");
      c.title = creditsTitle(k);
      used.append(c);
    }
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
        const all = {};
        try {
          for (const f of editFields) {
            const now = f.read();
            Object.assign(all, now);
            if (JSON.stringify(now) !== before.get(f)) Object.assign(body, now);
          }
          checkFields(editFields, all, body);
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
      // The server's default applies only to keys without any limit.
      ["Rate limit", !k.rate_limit && k.rate_limits.length > 0 ? "none besides its named limits" : rateText(k.rate_limit)],
      ["Allowed IPs", words(k.allowed_ips, "scope", "any address")],
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
    view.append(usageSection(k), chain, kids);
    loadRelated(k);
    if (refocus) {
      const again = view.querySelector(refocus);
      if (again) again.focus();
    }
  }

  // usageRows are what a key or an owner has spent and may still spend:
  // uses left and spent, the refill and when the next one comes, and the
  // named rate limits.
  function usageRows(o, limitsLabel) {
    const rows = [
      ["Uses left", o.remaining_uses === null ? "no limit" : String(o.remaining_uses)],
      ["Uses spent", `${o.uses_spent} in all`],
      ["Refill", refillText(o.refill)],
    ];
    if (o.refill && o.next_refill_at) {
      const next = el("span");
      next.append(el("span", utcText(o.next_refill_at), "nowrap"), ` (${inText(o.next_refill_at)})`);
      next.title = `${whenText(o.next_refill_at)} here`;
      rows.push(["Last refill", o.refilled_at ? utcText(o.refilled_at) : el("span", "not yet", "muted")], ["Next refill", next]);
    }
    rows.push([limitsLabel, words(o.rate_limits.map(limitText), "scope", "none")]);
    return rows;
  }

  // usageSection is a key's usage, and a link to its owner's policy,
  // which loadRelated fills in when there is one.
  function usageSection(k) {
    const usage = el("section", undefined, "sub-section");
    usage.id = "usage";
    usage.setAttribute("aria-labelledby", "usage-title");
    const usageTitle = el("h3", "Usage");
    usageTitle.id = "usage-title";
    const list = dl(usageRows(k, "Named rate limits"));
    list.id = "usage-fields";
    const owner = el("p", undefined, "owner-note");
    owner.id = "owner-policy";
    owner.hidden = true;
    usage.append(usageTitle, list, owner);
    return usage;
  }

  // showOwnerPolicy says, on a key's page, that its owner has a policy its
  // keys share, and links to it.
  function showOwnerPolicy(o) {
    const p = $("owner-policy");
    if (!p) return;
    p.hidden = o === null;
    if (o === null) return;
    const a = el("a", `${o.owner}'s policy`);
    a.href = ownerHash(o.owner);
    const parts = [];
    if (o.remaining_uses !== null) parts.push(`${o.remaining_uses}${o.refill ? `/${o.refill.amount}` : ""} shared uses left`);
    if (o.rate_limits.length > 0) parts.push(o.rate_limits.map(limitText).join(", "));
    if (o.max_keys > 0) parts.push(`at most ${o.max_keys} key${o.max_keys > 1 ? "s" : ""}`);
    p.replaceChildren("Its owner's keys share ", a, " too", parts.length > 0 ? `: ${parts.join("; ")}.` : ".");
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
      const [chain, kids, owners] = await Promise.all([
        api("GET", `${keyPath(id)}/rotations`),
        api("GET", `${keyPath(id)}/descendants`),
        api("GET", "owners").catch(() => ({ owners: [] })),
      ]);
      if (!viewed || viewed.id !== id || !$("key-chain")) return;
      showOwnerPolicy(owners.owners.find((o) => o.owner === k.owner) || null);
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

  // setView shows one view (list, key or owners), and marks its link in
  // the bar as the current page.
  function setView(name) {
    if (!$("list-view").hidden && name !== "list") list.scrollY = window.scrollY;
    $("list-view").hidden = name !== "list";
    $("key-view").hidden = name !== "key";
    $("owners-view").hidden = name !== "owners";
    if (name !== "key") {
      viewing = viewed = null;
      $("key-view").replaceChildren();
    }
    if (name !== "owners") {
      ownersShown = undefined;
      $("owners-view").replaceChildren();
    }
    for (const [a, on] of [[$("nav-keys"), name !== "owners"], [$("nav-owners"), name === "owners"]]) {
      if (on) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
    }
  }

  async function openKey(id) {
    setView("key");
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
    const wasHidden = $("list-view").hidden;
    setView("list");
    if (!wasHidden) return;
    window.scrollTo(0, list.scrollY);
    const tr = lastViewed && rowOf(lastViewed);
    if (tr) tr.querySelector("a.key-link").focus({ preventScroll: true });
  }

  function route() {
    if (apiKey === null) return;
    const m = /^#\/(keys|owners)\/([^/]+)$/.exec(location.hash);
    let arg = null;
    try {
      arg = m && decodeURIComponent(m[2]);
    } catch {
      arg = null;
    }
    // A key where an ID or an owner belongs is never sent: the path of a
    // request ends up in logs.
    if (arg !== null && resemblesKey(arg)) {
      location.replace(m[1] === "keys" ? "#/" : "#/owners");
      notify(`That link held what looks like an API key, not ${m[1] === "keys" ? "a key's ID" : "an owner"}, so it was not sent.`);
      return;
    }
    if (arg !== null && m[1] === "keys") openKey(arg);
    else if (arg !== null) openOwners(arg);
    else if (location.hash === "#/owners") openOwners(null);
    else showList();
  }

  window.addEventListener("hashchange", route);

  // --- owner policies ------------------------------------------------------

  // OWNER_FIELDS are what a policy sets, read by the kinds the key forms
  // use. A save sends them all (PUT replaces the policy), but the uses
  // left only when changed: left out, the owner keeps the uses it has,
  // whatever its keys spent since the form was filled.
  const OWNER_FIELDS = [
    { id: "rate_limits", label: "Shared rate limits", kind: "limits", hint: "Counted for all the owner's keys together, such as 100 a second (1s) and 100000 a day (1d)" },
    { id: "remaining_uses", label: "Shared uses left", kind: "uses", empty: "no shared limit", hint: "Spent by all its keys together; empty: no shared usage limit (with a refill, it starts with the refill's amount)" },
    { id: "refill", label: "Refill", kind: "refill", hint: "Gives the shared uses again at 00:00 UTC; monthly on a day a month lacks, on its last day" },
    { id: "max_keys", label: "Max keys", kind: "count", empty: "any number", hint: "Live keys the owner may have; a create beyond it is refused" },
  ];

  const ownerBox = $("owner-fields");
  const ownerName = kinds.text({ id: "owner", label: "Owner", max: 256, domId: "owner-edit-owner", placeholder: "alice",
    required: "Name the owner whose keys share the policy", notKey: "an owner", hint: "It needs a key before it can have a policy" }, "create");
  ownerBox.append(ownerName.node);
  const ownerFields = OWNER_FIELDS.map((spec) => {
    const f = kinds[spec.kind]({ ...spec, domId: `owner-edit-${spec.id}` }, "edit");
    f.spec = spec;
    ownerBox.append(f.node);
    return f;
  });

  // ownersShown is the owner whose policy the owners view shows, null for
  // them all, undefined when the view is not shown.
  let ownersShown;

  function ownerButton(text, action, owner, cls) {
    const b = el("button", text, cls ? `small ${cls}` : "small");
    b.type = "button";
    b.dataset.ownerAction = action;
    b.dataset.owner = owner;
    b.setAttribute("aria-label", `${text} the policy of ${owner}`);
    return b;
  }

  function ownerActions(owner) {
    const box = el("span", undefined, "actions");
    if (me.admin) box.append(ownerButton("Edit", "edit", owner), ownerButton("Remove", "remove", owner, "danger"));
    return box;
  }

  function ownersError() {
    const p = el("p", undefined, "error");
    p.id = "owners-error";
    p.setAttribute("role", "alert");
    p.hidden = true;
    return p;
  }

  function ownersTitle(text) {
    const h = el("h2", text);
    h.id = "owners-title";
    h.tabIndex = -1;
    return h;
  }

  // policyList is one policy in full.
  function policyList(o) {
    const d = dl([
      ...usageRows(o, "Shared rate limits"),
      ["Max keys", o.max_keys > 0 ? String(o.max_keys) : el("span", "any number", "muted")],
      ["Updated", when(o.updated_at, "—")],
    ]);
    d.id = "owner-fields-list";
    return d;
  }

  function policyRow(o) {
    const tr = el("tr");
    tr.dataset.owner = o.owner;
    const add = (cls, ...content) => {
      const td = el("td", undefined, cls);
      td.append(...content);
      tr.append(td);
    };
    const a = el("a", o.owner, "key-link");
    a.href = ownerHash(o.owner);
    a.title = o.owner;
    const credits = creditsText(o);
    const sub = el("div", [credits ? `${credits} shared` : "no shared uses", `${o.rate_limits.length} limit${o.rate_limits.length === 1 ? "" : "s"}`,
      o.max_keys > 0 ? `at most ${o.max_keys} key${o.max_keys > 1 ? "s" : ""}` : ""].filter(Boolean).join(" · "), "sub phone-block");
    add("c-name", a, sub);
    add("c-limits", words(o.rate_limits.map(limitText), "scope", "none"));
    const uses = el("span", credits || "no limit", credits ? "" : "muted");
    if (credits) uses.title = creditsTitle(o);
    add("c-uses", uses, el("span", `${o.uses_spent} spent`, "credits"));
    add("c-refill", o.refill ? refillText(o.refill) : el("span", "none", "muted"));
    add("c-max", o.max_keys > 0 ? String(o.max_keys) : el("span", "any", "muted"));
    add("c-actions", ownerActions(o.owner));
    return tr;
  }

  // openOwners shows every policy the principal may read (owner null), or
  // one owner's. Each is read afresh: policies change elsewhere, and
  // their uses every request.
  async function openOwners(owner) {
    const was = ownersShown;
    setView("owners");
    ownersShown = owner;
    const view = $("owners-view");
    if (was !== owner) view.replaceChildren(para("Loading…", "muted"));
    try {
      if (owner === null) await renderOwners();
      else await renderOwner(owner);
    } catch (e) {
      if (apiKey === null || ownersShown !== owner) return;
      view.replaceChildren(ownersTitle(owner === null ? "Owner policies" : owner), ownersError());
      show($("owners-error"), e.message);
    }
    if (was !== owner && ownersShown === owner && $("owners-title")) $("owners-title").focus();
  }

  async function renderOwners() {
    const { owners } = await api("GET", "owners");
    if (ownersShown !== null) return;
    const view = $("owners-view");
    const intro = para("A policy is shared by all of an owner's keys: rate limits counted for them together, uses they spend together (refilled every day or month, if you like), and how many live keys the owner may have. A request needs room in its key's own limits and in its owner's.", "muted");
    if (!me.admin) {
      const mine = owners.find((o) => o.owner === me.owner);
      const title = ownersTitle(`Your owner's policy: ${me.owner}`);
      if (!mine) {
        view.replaceChildren(title, intro, para(`Your keys' owner, ${me.owner}, has no policy: each key has only its own limits.`), ownersError());
        return;
      }
      view.replaceChildren(title, intro, policyList(mine), para("Only an admin can change it.", "muted"), ownersError());
      return;
    }
    const head = el("div", undefined, "toolbar");
    const set = el("button", "Set a policy", "");
    set.type = "button";
    set.id = "owner-new";
    set.addEventListener("click", () => editOwner(null, set));
    head.append(ownersTitle("Owner policies"), set);
    const table = el("table");
    table.id = "owners";
    const cap = el("caption", "Owner policies", "sr-only");
    const thead = el("thead");
    const hr = el("tr");
    for (const [text, cls] of [["Owner", "c-name"], ["Shared rate limits", "c-limits"], ["Shared uses", "c-uses"], ["Refill", "c-refill"], ["Max keys", "c-max"], ["", "c-actions"]]) {
      const th = el("th", undefined, cls);
      th.scope = "col";
      if (text) th.textContent = text; else th.append(el("span", "Actions", "sr-only"));
      hr.append(th);
    }
    thead.append(hr);
    const body = el("tbody");
    body.id = "owner-rows";
    owners.sort((a, b) => a.owner.localeCompare(b.owner));
    body.append(...owners.map(policyRow));
    table.append(cap, thead, body);
    table.hidden = owners.length === 0;
    const empty = para("No owner has a policy yet. Set one to make an owner's keys share their limits and uses, or to cap how many keys it may have.", "empty");
    empty.id = "owners-empty";
    empty.hidden = owners.length > 0;
    view.replaceChildren(head, intro, ownersError(), table, empty);
  }

  async function renderOwner(owner) {
    let o = null;
    if (!unsendableOwner(owner)) {
      try {
        o = await api("GET", ownerPath(owner));
      } catch (e) {
        if (e.status !== 404) throw e;
      }
    }
    if (ownersShown !== owner) return;
    const back = el("a", "← Owner policies", "back");
    back.href = "#/owners";
    const head = el("div", undefined, "key-head");
    head.append(ownersTitle(owner));
    const view = $("owners-view");
    if (o === null) {
      const parts = [back, head, para(`${owner} has no policy you may see: its keys have only their own limits.`, "muted"), ownersError()];
      if (me.admin && !unsendableOwner(owner)) {
        const set = el("button", `Set a policy for ${owner}`, "");
        set.type = "button";
        set.id = "owner-new";
        set.addEventListener("click", () => editOwner(null, set, owner));
        parts.push(set);
      }
      view.replaceChildren(...parts);
      return;
    }
    const actions = ownerActions(owner);
    view.replaceChildren(back, head, actions, ownersError(), policyList(o));
  }

  // editOwner opens the policy form: for a new policy (o null, with the
  // owner typed in or given), or to change o. It resolves once saved or
  // cancelled.
  async function editOwner(shown, opener, preset) {
    let o = shown;
    if (o !== null) o = await api("GET", ownerPath(o.owner));
    const dlg = $("owner-edit");
    const form = $("owner-form");
    $("owner-edit-title").textContent = o ? `Edit the policy of ${o.owner}` : "Set an owner's policy";
    ownerName.node.hidden = o !== null;
    ownerName.clear();
    if (preset) ownerName.fill({ owner: preset });
    const base = o || { rate_limits: [], remaining_uses: null, refill: null, max_keys: 0 };
    for (const f of ownerFields) f.fill(base);
    const usesField = ownerFields.find((f) => f.spec.id === "remaining_uses");
    const usesBefore = JSON.stringify(usesField.read());
    const allBefore = JSON.stringify(ownerFields.map((f) => f.read()));
    show($("owner-edit-error"));
    // The view is drawn again after a save: the focus goes back to the
    // button that opened the form as drawn then.
    const back = opener.id ? `#${CSS.escape(opener.id)}` : `button[data-owner-action="edit"][data-owner="${CSS.escape(opener.dataset.owner)}"]`;
    const refocus = () => {
      const b = $("owners-view").querySelector(back) || $("owners-title");
      if (b) b.focus();
    };
    return new Promise((resolve) => {
      const finish = (saved) => {
        form.onsubmit = $("owner-edit-cancel").onclick = dlg.oncancel = null;
        if (dlg.open) dlg.close();
        resolve(saved);
        refocus();
      };
      form.onsubmit = async (ev) => {
        ev.preventDefault();
        show($("owner-edit-error"));
        let owner;
        const body = {};
        try {
          owner = o ? o.owner : ownerName.read().owner;
          if (unsendableOwner(owner)) throw new FormError(`An owner named "${owner}" cannot be sent in a URL: set its policy in Go, with Manager.SetOwnerPolicy`, ownerName.focus);
          for (const f of ownerFields) Object.assign(body, f.read());
        } catch (e) {
          showFormError($("owner-edit-error"), e);
          return;
        }
        if (o && JSON.stringify(ownerFields.map((f) => f.read())) === allBefore) {
          finish(false);
          notify(`Nothing changed in the policy of ${o.owner}.`);
          return;
        }
        if (o && JSON.stringify({ remaining_uses: body.remaining_uses }) === usesBefore) delete body.remaining_uses;
        const submit = form.querySelector("button[type=submit]");
        submit.disabled = true;
        try {
          const saved = await api("PUT", ownerPath(owner), body);
          if (ownersShown !== undefined) await openOwners(ownersShown);
          finish(true);
          notify(`Saved the policy of ${saved.owner}.`);
        } catch (e) {
          if (apiKey !== null) show($("owner-edit-error"), e.message);
        } finally {
          submit.disabled = false;
        }
      };
      $("owner-edit-cancel").onclick = () => finish(false);
      dlg.oncancel = (ev) => { ev.preventDefault(); finish(false); };
      dlg.showModal();
      (o ? ownerFields[0].focus : ownerName.focus).focus();
    });
  }

  async function removeOwner(owner, opener) {
    const done = await ask({
      title: `Remove the policy of ${owner}?`,
      body: [para("Its keys then have only their own limits: the shared rate limits, the shared uses and what is left of them, and the cap on its keys go.")],
      ok: "Remove", danger: true,
      run: () => api("DELETE", ownerPath(owner)),
    }).catch((e) => {
      if (e.status !== 404) throw e;
      return true; // removed elsewhere: gone either way
    });
    if (!done) {
      opener.focus();
      return;
    }
    notify(`Removed the policy of ${owner}.`);
    if (ownersShown === owner) {
      location.hash = "#/owners";
      return;
    }
    const tr = opener.closest("tr");
    const next = tr && (tr.nextElementSibling || tr.previousElementSibling);
    await openOwners(null);
    const again = next && $("owner-rows") && [...$("owner-rows").children].find((r) => r.dataset.owner === next.dataset.owner);
    (again ? again.querySelector("a") : $("owner-new")).focus();
  }

  $("owners-view").addEventListener("click", async (ev) => {
    const b = ev.target.closest("button[data-owner-action]");
    if (!b) return;
    const owner = b.dataset.owner;
    show($("owners-error"));
    try {
      if (b.dataset.ownerAction === "edit") await editOwner({ owner }, b);
      else await removeOwner(owner, b);
    } catch (e) {
      if (apiKey === null) return;
      if ($("owners-error")) show($("owners-error"), e.status === 404 ? `${owner} has no policy any more: it was removed elsewhere.` : e.message);
    }
  });

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
    ownersShown = undefined;
    $("rows").replaceChildren();
    $("key-view").replaceChildren();
    $("owners-view").replaceChildren();
    $("views").hidden = true;
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
    $("views").hidden = false;
    if (/^#\/(keys\/|owners)/.test(location.hash)) {
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
