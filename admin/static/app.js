// The admin page: calls the JSON API beside it (relative URLs), sending the
// key it was given as X-API-Key. The key lives in one variable, never in
// storage or a cookie, and is gone on reload. Text from the API is only
// ever set as textContent: the page's CSP forbids HTML from strings.
"use strict";
(() => {
  let apiKey = null;
  // me is the principal of apiKey (GET whoami): the page marks its key,
  // and offers no way to disable or delete it while it is the last admin
  // key (the API refuses that too: 409).
  let me = null;
  let next = "";
  const keys = new Map(); // id -> key shown in the table
  const $ = (id) => document.getElementById(id);

  class APIError extends Error {
    constructor(status, msg) {
      super(msg);
      this.status = status;
    }
  }

  async function api(method, path, body) {
    const init = { method, headers: { "X-API-Key": apiKey }, cache: "no-store" };
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

  function show(el, text) {
    el.textContent = text || "";
    el.hidden = !text;
  }

  function pad(n) { return String(n).padStart(2, "0"); }

  // when shows a time as local "YYYY-MM-DD HH:MM", which may wrap only
  // between the date and the time.
  function when(s, none) {
    if (!s) return none;
    const d = new Date(s);
    const out = document.createElement("span");
    out.append(
      el("span", `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`, "nowrap"), " ",
      el("span", `${pad(d.getHours())}:${pad(d.getMinutes())}`, "nowrap"),
    );
    out.title = s;
    return out;
  }

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }

  function button(text, action, id, cls) {
    const b = el("button", text, cls);
    b.type = "button";
    b.dataset.action = action;
    b.dataset.id = id;
    return b;
  }

  function row(k) {
    const tr = document.createElement("tr");
    tr.dataset.id = k.id;
    const add = (label, content, cls) => {
      const td = document.createElement("td");
      td.dataset.label = label;
      if (cls) td.className = cls;
      if (typeof content === "string") td.textContent = content; else td.append(content);
      tr.append(td);
      return td;
    };
    const mine = me !== null && k.id === me.key_id;
    const lastAdmin = mine && me.last_admin_key;
    add("Key", el("code", `${k.start}…`));
    const name = document.createElement("span");
    name.textContent = k.name || "—";
    if (mine) {
      const you = el("span", "you", "you");
      you.title = "The key this page is signed in with";
      name.append(" ", you);
    }
    add("Name", name, "name");
    add("Owner", k.owner);
    const scopes = document.createElement("span");
    if (k.scopes.length === 0) scopes.textContent = "—";
    for (const s of k.scopes) scopes.append(el("span", s, "scope"));
    add("Scopes", scopes);
    add("State", el("span", k.state, `state state-${k.state}`));
    add("Created", when(k.created_at, "—"), "when");
    add("Expires", when(k.expires_at, "never"), "when");
    add("Last used", when(k.last_used_at, "never"), "when");
    const actions = document.createElement("span");
    actions.className = "actions";
    // The last admin key cannot be disabled or deleted: nobody could sign
    // in to manage keys any more.
    if (!(lastAdmin && k.enabled)) actions.append(button(k.enabled ? "Disable" : "Enable", "toggle", k.id, "small"));
    // An expired key, or one already rotated, cannot be rotated (409).
    if (k.state !== "expired" && !k.rotated_to) actions.append(button("Rotate", "rotate", k.id, "small"));
    if (!lastAdmin) actions.append(button("Delete", "delete", k.id, "small danger"));
    if (lastAdmin) {
      const note = el("span", "last admin key", "note");
      note.title = "The only enabled admin key: create another before disabling or deleting this one";
      actions.append(note);
    }
    add("Actions", actions, "actions-cell");
    return tr;
  }

  async function load(more) {
    const params = new URLSearchParams({ limit: "50" });
    const state = $("filter-state").value;
    const owner = $("filter-owner").value.trim();
    if (state) params.set("state", state);
    if (owner) params.set("owner", owner);
    if (more && next) params.set("after", next);
    const page = await api("GET", `keys?${params}`);
    if (!more) {
      keys.clear();
      $("rows").replaceChildren();
    }
    for (const k of page.keys) {
      keys.set(k.id, k);
      $("rows").append(row(k));
    }
    next = page.next;
    $("more").hidden = !next;
    $("empty").hidden = keys.size > 0;
    $("keys").hidden = keys.size === 0;
  }

  async function whoami() {
    me = await api("GET", "whoami");
  }

  async function refresh() {
    show($("list-error"));
    try {
      await whoami();
      await load(false);
    } catch (e) { if (apiKey !== null) show($("list-error"), e.message); }
  }

  // made lists the keys k made, or was rotated into, and theirs (GET
  // keys/{id}/descendants): the keys a leaked k's holder may have made.
  async function made(k) {
    const res = await api("GET", `keys/${encodeURIComponent(k.id)}/descendants`);
    return res.keys;
  }

  function describe(keys) {
    return keys.map((d) => `\n  • "${d.name || d.id}" (${d.start}…), ${d.owner}`).join("");
  }

  function showSecret(title, plaintext) {
    $("secret-title").textContent = title;
    $("secret-value").value = plaintext;
    show($("copy-status"));
    $("secret").hidden = false;
    $("secret").scrollIntoView({ block: "nearest" });
    $("secret-value").select();
  }

  function hideSecret() {
    $("secret-value").value = "";
    $("secret").hidden = true;
  }

  function lock(message) {
    apiKey = null;
    me = null;
    next = "";
    keys.clear();
    $("rows").replaceChildren();
    hideSecret();
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
      show($("login-error"), e.status === 401 ? "That key was refused." : e.message);
      return;
    }
    $("login").hidden = true;
    $("app").hidden = false;
    $("lock").hidden = false;
  });

  $("lock").addEventListener("click", () => lock());

  $("create-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = ev.target.elements;
    const body = { name: f.name.value.trim() };
    const scopes = f.scopes.value.split(/[\s,]+/).filter(Boolean);
    if (scopes.length) body.scopes = scopes;
    if (f.owner.value.trim()) body.owner = f.owner.value.trim();
    if (f.description.value.trim()) body.description = f.description.value.trim();
    if (f.ttl.value) body.ttl = f.ttl.value;
    show($("create-error"));
    try {
      const res = await api("POST", "keys", body);
      ev.target.reset();
      showSecret(`New key "${res.key.name}" for ${res.key.owner}`, res.plaintext);
      await refresh();
    } catch (e) {
      if (apiKey !== null) show($("create-error"), e.message);
    }
  });

  $("rows").addEventListener("click", async (ev) => {
    const b = ev.target.closest("button[data-action]");
    if (!b) return;
    const k = keys.get(b.dataset.id);
    if (!k) return;
    const label = `"${k.name || k.id}" (${k.start}…)`;
    const path = `keys/${encodeURIComponent(k.id)}`;
    const mine = me !== null && k.id === me.key_id ? " It is the key this page is signed in with: the page will lock." : "";
    show($("list-error"));
    try {
      switch (b.dataset.action) {
        case "toggle": {
          if (k.enabled) {
            // Disabling a key disables what it made too, once confirmed:
            // whoever holds a leaked key may have made more with it.
            const desc = await made(k);
            const also = desc.length > 0 ? ` It made these keys, or was rotated into them, which will be disabled too:${describe(desc)}` : "";
            if ((also || mine) && !confirm(`Disable ${label}?${mine}${also}`)) return;
            await api("PATCH", desc.length > 0 ? `${path}?cascade=true` : path, { enabled: false });
          } else {
            await api("PATCH", path, { enabled: true });
          }
          break;
        }
        case "rotate": {
          // A usage-limited key passes its remaining uses to the new key,
          // so the API refuses it a grace period (400): two live keys
          // would double its uses.
          const limited = k.remaining_uses !== null;
          const after = limited
            ? "it has a usage limit, so the old one stops working at once."
            : "the old one keeps working for 24 hours.";
          if (!confirm(`Rotate ${label}? A new key is shown once; ${after}`)) return;
          const res = await api("POST", `${path}/rotate`, { grace: limited ? "0s" : "24h" });
          // The page's own key: go on with the new one, which keeps
          // working when the old one stops.
          if (me !== null && k.id === me.key_id) apiKey = res.plaintext;
          showSecret(`New key for "${res.key.name || res.key.id}" (replaces ${k.start}…)`, res.plaintext);
          break;
        }
        case "delete": {
          const desc = await made(k);
          const also = desc.length > 0 ? ` It made these keys, or was rotated into them, which will be disabled:${describe(desc)}` : "";
          if (!confirm(`Delete ${label}? Anything using it stops working at once. This cannot be undone.${mine}${also}`)) return;
          await api("DELETE", desc.length > 0 ? `${path}?cascade=true` : path);
          break;
        }
      }
      await refresh();
    } catch (e) {
      if (apiKey !== null) show($("list-error"), e.message);
    }
  });

  $("copy").addEventListener("click", async () => {
    const input = $("secret-value");
    try {
      await navigator.clipboard.writeText(input.value);
    } catch {
      input.select();
      document.execCommand("copy");
    }
    show($("copy-status"), "Copied to the clipboard.");
  });

  $("secret-done").addEventListener("click", hideSecret);
  $("refresh").addEventListener("click", refresh);
  $("more").addEventListener("click", async () => {
    try { await load(true); } catch (e) { if (apiKey !== null) show($("list-error"), e.message); }
  });
  $("filter-state").addEventListener("change", refresh);
  $("filter-owner").addEventListener("change", refresh);
})();
