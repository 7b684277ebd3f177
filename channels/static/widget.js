/*! supportgraph chat widget — no build step, no dependencies.
 *
 * Embed with one tag (before </body>, or anywhere with `defer`):
 *
 *   <script src="https://support.example.com/widget.js"
 *           data-server="https://support.example.com"   (optional: the script's origin)
 *           data-site-key="shop-1"                      (optional: namespaces saved chats)
 *           data-user-id="cus_001"                      (optional: a signed-in customer)
 *           data-user-hash="<hex HMAC-SHA256 of the id>" (required with data-user-id)
 *           data-title="Cedar Lane Goods"                (optional)
 *           data-accent="#2f6f4f"                        (optional)
 *           defer></script>
 *
 * The API must list the page's origin in its `cors_origins` setting when the page is
 * served from another origin than the API. `window.SupportGraphWidget` has init(options),
 * reload() (re-reads the script tag's data-* attributes), destroy(), open(), close().
 */
(function () {
  "use strict";
  if (window.SupportGraphWidget) return;

  var SCRIPT = document.currentScript;
  var STRINGS = {
    en: {
      title: "Support", open: "Open the support chat", close: "Close the chat",
      placeholder: "Ask a question…", label: "Your message", send: "Send",
      human: "Talk to a human", humanText: "I want to talk to a human",
      handoff: "A member of our team will take over this conversation and reply here.",
      confirm: "Confirm", decline: "Decline", yes: "yes", no: "no", sources: "Sources",
      suggestions: "Suggested answers",
      welcome: "Hello! Ask me about orders, deliveries, returns, refunds or payments.",
      you: "You", bot: "Assistant", agent: "Support team", typing: "The assistant is typing…",
      sending: "Sending…", retrying: "Not sent yet: retrying in {s} s…",
      offline: "Connection lost. Your message is kept and will be sent automatically.",
      lost: "The connection dropped during the reply; fetching it…",
      error: "Sorry, something went wrong: {detail}", retry: "Retry now",
      newTab: "(opens in a new tab)"
    },
    fr: {
      title: "Assistance", open: "Ouvrir le chat d'assistance", close: "Fermer le chat",
      placeholder: "Posez votre question…", label: "Votre message", send: "Envoyer",
      human: "Parler à un humain", humanText: "Je veux parler à un humain",
      handoff: "Un membre de notre équipe va prendre le relais et vous répondra ici.",
      confirm: "Confirmer", decline: "Refuser", yes: "oui", no: "non", sources: "Sources",
      suggestions: "Réponses suggérées",
      welcome: "Bonjour ! Posez-moi vos questions sur les commandes, livraisons, retours, " +
               "remboursements ou paiements.",
      you: "Vous", bot: "Assistant", agent: "Équipe support", typing: "L'assistant écrit…",
      sending: "Envoi…", retrying: "Pas encore envoyé : nouvel essai dans {s} s…",
      offline: "Connexion perdue. Votre message est conservé et sera envoyé automatiquement.",
      lost: "La connexion a été coupée pendant la réponse ; récupération…",
      error: "Désolé, une erreur est survenue : {detail}", retry: "Réessayer",
      newTab: "(s'ouvre dans un nouvel onglet)"
    }
  };
  var BACKOFF = [1000, 2000, 4000, 8000, 15000, 30000];
  var POLL_MS = 3000;  // history polling while a human (agent or approver) is expected

  function uiLanguage() {
    var langs = navigator.languages && navigator.languages.length ? navigator.languages
      : [navigator.language || "en"];
    return String(langs[0] || "en").toLowerCase().indexOf("fr") === 0 ? "fr" : "en";
  }

  function uid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return Date.now().toString(36) + Math.random().toString(36).slice(2);
  }

  function fmt(s, values) {
    return s.replace(/\{(\w+)\}/g, function (_, k) { return values[k]; });
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    for (var k in attrs || {}) {
      if (k === "text") node.textContent = attrs[k];
      else if (k === "class") node.className = attrs[k];
      else if (attrs[k] === true) node.setAttribute(k, "");
      else if (attrs[k] !== false && attrs[k] != null) node.setAttribute(k, attrs[k]);
    }
    (children || []).forEach(function (c) { if (c) node.appendChild(c); });
    return node;
  }

  /** Server-sent events from a fetch Response: yields {event, data}. */
  async function* readEvents(response) {
    var reader = response.body.getReader();
    var decoder = new TextDecoder();
    var buffer = "";
    for (;;) {
      var step = await reader.read();
      if (step.done) break;
      buffer = (buffer + decoder.decode(step.value, { stream: true })).replace(/\r\n?/g, "\n");
      var end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        var block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        var event = "message", data = [];
        block.split("\n").forEach(function (line) {
          if (!line || line[0] === ":") return;
          var colon = line.indexOf(":");
          var field = colon < 0 ? line : line.slice(0, colon);
          var value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
          if (field === "event") event = value;
          else if (field === "data") data.push(value);
        });
        if (data.length) yield { event: event, data: data.join("\n") };
      }
    }
  }

  function NetworkError(message) { this.name = "NetworkError"; this.message = message; }
  NetworkError.prototype = Object.create(Error.prototype);
  function ProblemError(problem) {
    this.name = "ProblemError"; this.problem = problem;
    this.message = problem.detail || problem.title || "error";
  }
  ProblemError.prototype = Object.create(Error.prototype);

  var CSS = [
    ":host{all:initial;position:fixed;right:20px;bottom:20px;z-index:2147483000;",
    "font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1d1d1b;",
    "--sg-accent:#2f6f4f}",
    "*{box-sizing:border-box}[hidden]{display:none!important}",
    ".sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);",
    "white-space:nowrap}",
    "button{font:inherit;cursor:pointer}",
    "button:focus-visible,a:focus-visible,textarea:focus-visible{outline:3px solid #f2b134;",
    "outline-offset:2px}",
    ".launcher{width:60px;height:60px;border-radius:50%;border:0;background:var(--sg-accent);",
    "color:#fff;box-shadow:0 6px 20px rgba(0,0,0,.25);display:grid;place-items:center}",
    ".launcher svg{width:28px;height:28px}",
    ".panel{position:fixed;right:20px;bottom:92px;width:380px;height:min(600px,calc(100vh - 120px));",
    "background:#fff;border-radius:16px;box-shadow:0 12px 40px rgba(0,0,0,.25);display:flex;",
    "flex-direction:column;overflow:hidden}",
    "@media (max-width:480px){.panel{right:0;bottom:0;width:100vw;height:100vh;border-radius:0}}",
    "header{background:var(--sg-accent);color:#fff;padding:12px 12px 12px 16px;display:flex;",
    "align-items:center;gap:8px}",
    "header h2{margin:0;font-size:16px;flex:1}",
    ".human{background:rgba(255,255,255,.16);color:#fff;border:1px solid rgba(255,255,255,.6);",
    "border-radius:999px;padding:4px 10px;font-size:13px}",
    ".human[aria-pressed=true]{background:#fff;color:var(--sg-accent)}",
    ".x{background:none;border:0;color:#fff;font-size:22px;line-height:1;width:32px;height:32px;",
    "border-radius:8px}",
    ".banner{padding:8px 14px;font-size:13px;background:#fff4d6;border-bottom:1px solid #f0dc9c}",
    ".banner.handoff{background:#e6f1fb;border-color:#b9d5ee}",
    ".log{flex:1;overflow-y:auto;padding:14px;display:flex;flex-direction:column;gap:10px;",
    "background:#f6f5f1}",
    ".msg{max-width:86%;padding:9px 13px;border-radius:14px;white-space:pre-wrap;",
    "overflow-wrap:anywhere}",
    ".customer{align-self:flex-end;background:var(--sg-accent);color:#fff;",
    "border-bottom-right-radius:4px}",
    ".assistant{align-self:flex-start;background:#fff;border:1px solid #e0ddd5;",
    "border-bottom-left-radius:4px}",
    ".assistant.error{background:#fdecea;border-color:#f5c2bd}",
    ".assistant.agent{background:#eef6fd;border-color:#b9d5ee}",
    ".meta{display:block;font-size:12px;opacity:.8;margin-top:4px}",
    ".typing::after{content:'…';animation:sg-blink 1s steps(2) infinite}",
    "@keyframes sg-blink{50%{opacity:.2}}",
    ".sources{margin:8px 0 0;padding:8px 0 0;border-top:1px solid #eee;font-size:13px;",
    "list-style:none;white-space:normal}",
    ".sources li{margin:2px 0}.sources a{color:var(--sg-accent)}",
    ".choices{display:flex;gap:8px;margin-top:10px;white-space:normal}",
    ".choices button{border-radius:999px;padding:6px 16px;border:1px solid var(--sg-accent);",
    "background:#fff;color:var(--sg-accent)}",
    ".choices button.yes{background:var(--sg-accent);color:#fff}",
    ".choices button:disabled{opacity:.5;cursor:default}",
    ".quick-replies{flex-wrap:wrap}",
    ".quick-replies button{border-radius:14px;padding:5px 12px;text-align:left;",
    "font-size:14px;max-width:100%}",
    ".meta button{background:none;border:0;color:inherit;text-decoration:underline;padding:0;",
    "margin-left:6px;font-size:12px}",
    "form{display:flex;gap:8px;padding:10px;border-top:1px solid #e6e3dc;background:#fff}",
    "textarea{flex:1;resize:none;height:44px;max-height:120px;padding:11px 12px;",
    "border:1px solid #bbb;border-radius:10px;font:inherit;color:inherit}",
    ".send{border:0;border-radius:10px;background:var(--sg-accent);color:#fff;padding:0 16px}"
  ].join("");

  var ICON = '<svg viewBox="0 0 24 24" aria-hidden="true" focusable="false" fill="none" ' +
    'stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round">' +
    '<path d="M21 15a2 2 0 0 1-2 2H7l-4 4V5a2 2 0 0 1 2-2h14a2 2 0 0 1 2 2z"/></svg>';

  function Widget(options) {
    var origin = SCRIPT && SCRIPT.src ? new URL(SCRIPT.src, location.href).origin
      : location.origin;
    this.server = String(options.server || origin).replace(/\/+$/, "");
    this.siteKey = options.siteKey || "";
    this.userId = options.userId || "";
    this.userHash = options.userHash || "";
    this.lang = options.language || uiLanguage();
    this.t = STRINGS[this.lang] || STRINGS.en;
    this.title = options.title || this.t.title;
    this.accent = options.accent || "";
    this.key = "supportgraph:" + this.server + ":" + this.siteKey + ":" +
      (this.userId || "guest");
    this.state = this.load();
    this.nodes = {};
    this.busy = false;
    this.attempt = 0;
    this.timer = null;
    this.destroyed = false;
  }

  Widget.prototype.load = function () {
    var fresh = { conversationId: null, messages: [], outbox: [], handoff: false,
                  waitingApproval: false, language: null, open: false };
    try {
      var saved = JSON.parse(localStorage.getItem(this.key) || "null");
      if (saved && Array.isArray(saved.messages)) {
        for (var k in fresh) if (!(k in saved)) saved[k] = fresh[k];
        // A reply that was streaming when the page went away comes back from the history.
        saved.messages = saved.messages.filter(function (m) { return !m.streaming; });
        return saved;
      }
    } catch (e) { /* private mode or corrupt entry: start afresh */ }
    return fresh;
  };

  Widget.prototype.save = function () {
    try { localStorage.setItem(this.key, JSON.stringify(this.state)); } catch (e) { /* full */ }
  };

  Widget.prototype.url = function (path) { return this.server + path; };

  /** The request body with the signed-in customer; `speak`: with the language of the
   * words the server says on the customer's behalf (confirm, handoff). */
  Widget.prototype.identity = function (body, speak) {
    if (this.userId) { body.customer_id = this.userId; body.user_hash = this.userHash; }
    if (speak) body.language = this.state.language || this.lang;
    return body;
  };

  // ---- DOM -------------------------------------------------------------------------
  Widget.prototype.mount = function () {
    var t = this.t, self = this;
    var host = el("div", { id: "supportgraph-widget", "data-supportgraph": "" });
    var root = host.attachShadow({ mode: "open" });
    var style = el("style", { text: CSS });
    var launcher = el("button", { type: "button", class: "launcher", "aria-label": t.open,
                                  "aria-expanded": "false", "aria-controls": "sg-panel" });
    launcher.innerHTML = ICON;
    var heading = el("h2", { id: "sg-title", text: this.title });
    var human = el("button", { type: "button", class: "human", "aria-pressed": "false",
                               text: t.human });
    var close = el("button", { type: "button", class: "x", "aria-label": t.close,
                               text: "×" });
    var handoff = el("div", { class: "banner handoff", role: "status", text: t.handoff,
                              hidden: true });
    var banner = el("div", { class: "banner", role: "status", hidden: true });
    var log = el("div", { class: "log", role: "log", "aria-live": "polite",
                          "aria-labelledby": "sg-title", tabindex: "0" });
    var input = el("textarea", { id: "sg-input", rows: "1", placeholder: t.placeholder,
                                 autocomplete: "off", maxlength: "4000" });
    var form = el("form", { "aria-label": t.label }, [
      el("label", { for: "sg-input", class: "sr", text: t.label }), input,
      el("button", { type: "submit", class: "send", text: t.send })]);
    var panel = el("div", { id: "sg-panel", class: "panel", role: "dialog",
                            "aria-labelledby": "sg-title", hidden: true },
                   [el("header", {}, [heading, human, close]), handoff, banner, log, form]);
    root.appendChild(style);
    root.appendChild(panel);
    root.appendChild(launcher);
    if (this.accent) host.style.setProperty("--sg-accent", this.accent);
    this.nodes = { host: host, root: root, launcher: launcher, panel: panel, log: log,
                   input: input, form: form, human: human, handoff: handoff, banner: banner };

    launcher.addEventListener("click", function () {
      if (self.state.open) self.close(); else self.open();
    });
    close.addEventListener("click", function () { self.close(); });
    human.addEventListener("click", function () { self.requestHuman(); });
    panel.addEventListener("keydown", function (e) {
      if (e.key === "Escape") { e.preventDefault(); self.close(); }
    });
    input.addEventListener("keydown", function (e) {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        self.submit();
      }
    });
    form.addEventListener("submit", function (e) { e.preventDefault(); self.submit(); });
    this.onOnline = function () { self.kick(); };
    window.addEventListener("online", this.onOnline);

    document.body.appendChild(host);
    this.renderAll();
    if (this.state.open) this.open(false);
    // The history first, then what is still queued: both rewrite the message list.
    var ready = this.state.conversationId ? this.refresh() : Promise.resolve(true);
    ready.catch(function () { return false; }).then(function () { self.kick(); });
    this.poller = setInterval(function () { self.poll(); }, POLL_MS);
  };

  /** While handed off (or a refund waits for approval), fetch the history now and then:
   * a human's reply and the approval's outcome arrive there. */
  Widget.prototype.poll = function () {
    if (this.destroyed || this.busy || this.state.outbox.length || document.hidden ||
        !this.state.conversationId || !(this.state.handoff || this.state.waitingApproval)) {
      return;
    }
    this.refresh().catch(function () { /* offline: the next poll tries again */ });
  };

  Widget.prototype.destroy = function () {
    this.destroyed = true;
    clearTimeout(this.timer);
    clearInterval(this.poller);
    window.removeEventListener("online", this.onOnline);
    if (this.nodes.host) this.nodes.host.remove();
  };

  Widget.prototype.open = function (focus) {
    this.state.open = true;
    this.save();
    this.nodes.panel.hidden = false;
    this.nodes.launcher.setAttribute("aria-expanded", "true");
    this.nodes.launcher.setAttribute("aria-label", this.t.close);
    this.scroll();
    if (focus !== false) this.nodes.input.focus();
  };

  Widget.prototype.close = function () {
    this.state.open = false;
    this.save();
    this.nodes.panel.hidden = true;
    this.nodes.launcher.setAttribute("aria-expanded", "false");
    this.nodes.launcher.setAttribute("aria-label", this.t.open);
    this.nodes.launcher.focus();
  };

  Widget.prototype.scroll = function () {
    var log = this.nodes.log;
    log.scrollTop = log.scrollHeight;
  };

  /** Bring the log in line with the state, touching only the messages that changed (the
   * log is an aria-live region: rebuilt nodes would be announced again). */
  Widget.prototype.renderAll = function () {
    var log = this.nodes.log, self = this, lastIndex = this.lastAssistantIndex();
    var items = this.state.messages.map(function (m, i) {
      var last = i === lastIndex;
      var sig = m.streaming ? "streaming" : JSON.stringify(
        [m.role, m.text, m.citations, m.awaiting && last, last ? m.quick : null, m.pending,
         m.retryIn, m.error]);
      return { key: m.id, sig: sig, build: function () { return self.renderMessage(m, last); } };
    });
    if (!items.length) {
      items = [{ key: "welcome", sig: "", build: function () {
        return el("div", { class: "msg assistant welcome", text: self.t.welcome });
      } }];
    }
    var existing = new Map();
    Array.prototype.forEach.call(log.children, function (n) { existing.set(n.dataset.key, n); });
    var prev = null;
    items.forEach(function (item) {
      var node = existing.get(item.key);
      if (!node || node.dataset.sig !== item.sig) {
        var fresh = item.build();
        fresh.dataset.key = item.key;
        fresh.dataset.sig = item.sig;
        if (node) node.replaceWith(fresh);
        node = fresh;
      }
      existing.delete(item.key);
      var want = prev ? prev.nextSibling : log.firstChild;
      if (node !== want) log.insertBefore(node, want);
      prev = node;
    });
    existing.forEach(function (n) { n.remove(); });
    this.nodes.handoff.hidden = !this.state.handoff;
    this.nodes.human.setAttribute("aria-pressed", this.state.handoff ? "true" : "false");
    this.renderBanner();
    this.scroll();
  };

  Widget.prototype.lastAssistantIndex = function () {
    for (var i = this.state.messages.length - 1; i >= 0; i--) {
      if (this.state.messages[i].role === "assistant") return i;
    }
    return -1;
  };

  Widget.prototype.renderBanner = function () {
    var b = this.nodes.banner;
    if (this.offline && this.state.outbox.length) {
      b.textContent = this.t.offline;
      b.hidden = false;
    } else {
      b.hidden = true;
    }
  };

  Widget.prototype.renderMessage = function (m, last) {
    var t = this.t, self = this;
    var cls = "msg " + (m.role === "customer" ? "customer" : m.role === "agent" ?
      "assistant agent" : "assistant") + (m.error ? " error" : "");
    var node = el("div", { class: cls });
    node.appendChild(el("span", { class: "sr", text: (m.role === "customer" ? t.you :
      m.role === "agent" ? t.agent : t.bot) + ": " }));
    var text = el("span", { class: "text", text: m.text });
    node.appendChild(text);
    if (m.streaming) {
      node.setAttribute("aria-busy", "true");
      if (!m.text) {
        text.classList.add("typing");
        text.setAttribute("aria-label", t.typing);
      }
    }
    if (m.citations && m.citations.length) {
      node.appendChild(el("span", { class: "sr", text: t.sources + ":" }));
      var list = el("ul", { class: "sources", "aria-label": t.sources });
      m.citations.forEach(function (c) {
        var label = "[" + c.index + "] " + c.title + (c.section ? " — " + c.section : "");
        var item = el("li");
        if (/^(https?:\/\/|\/)/.test(c.source || "")) {
          var link = el("a", { href: new URL(c.source, self.server + "/").href,
                               target: "_blank", rel: "noopener", text: label });
          link.appendChild(el("span", { class: "sr", text: " " + t.newTab }));
          item.appendChild(link);
        } else {
          item.textContent = label;
          if (c.source) item.title = c.source;
        }
        list.appendChild(item);
      });
      node.appendChild(list);
    }
    if (m.awaiting && last) {
      var yes = el("button", { type: "button", class: "yes", text: t.confirm });
      var no = el("button", { type: "button", class: "no", text: t.decline });
      var answer = function (confirmed) {
        yes.disabled = no.disabled = true;
        m.awaiting = false;
        self.enqueue({ kind: "confirm", confirmed: confirmed,
                       text: confirmed ? self.words().yes : self.words().no });
        self.nodes.input.focus();
      };
      yes.addEventListener("click", function () { answer(true); });
      no.addEventListener("click", function () { answer(false); });
      node.appendChild(el("div", { class: "choices", role: "group" }, [yes, no]));
    }
    if (!m.awaiting && last && m.quick && m.quick.length) {
      // Suggested answers (yes / no to a human, the orders to choose from): a click sends
      // the text as the customer's message, like typing it.
      var buttons = m.quick.map(function (q) {
        var b = el("button", { type: "button", class: "quick", text: q.label });
        b.addEventListener("click", function () {
          self.enqueue({ kind: "message", text: q.text });
          self.nodes.input.focus();
        });
        return b;
      });
      node.appendChild(el("div", { class: "choices quick-replies", role: "group",
                                   "aria-label": t.suggestions }, buttons));
    }
    if (m.pending) {
      var meta = el("span", { class: "meta", text: m.retryIn ?
        fmt(t.retrying, { s: Math.ceil(m.retryIn / 1000) }) : t.sending });
      if (m.retryIn) {
        var now = el("button", { type: "button", text: t.retry });
        now.addEventListener("click", function () { self.kick(true); });
        meta.appendChild(now);
      }
      node.appendChild(meta);
    }
    return node;
  };

  Widget.prototype.words = function () {
    return STRINGS[this.state.language || this.lang] || this.t;
  };

  // ---- sending ---------------------------------------------------------------------
  Widget.prototype.submit = function () {
    var text = this.nodes.input.value.trim();
    if (!text) return;
    this.nodes.input.value = "";
    this.enqueue({ kind: "message", text: text });
  };

  Widget.prototype.requestHuman = function () {
    if (!this.state.open) this.open();
    this.enqueue({ kind: "handoff", text: this.words().humanText });
  };

  /** Queue an item (saved, so a reload or a network blip does not lose it) and send. */
  Widget.prototype.enqueue = function (item) {
    item.id = uid();
    this.state.messages.forEach(function (m) { m.awaiting = false; m.quick = null; });
    this.state.messages.push({ id: item.id, role: "customer", text: item.text,
                               pending: true });
    this.state.outbox.push(item);
    this.save();
    this.renderAll();
    this.kick(true);
  };

  Widget.prototype.kick = function (now) {
    if (now) this.attempt = 0;
    clearTimeout(this.timer);
    this.timer = null;
    this.drain();
  };

  Widget.prototype.drain = async function () {
    if (this.busy || this.destroyed) return;
    this.busy = true;
    try {
      while (this.state.outbox.length && !this.destroyed) {
        var item = this.state.outbox[0];
        this.setPending(item.id, { retryIn: 0 });
        try {
          await this.deliver(item);
          this.offline = false;
          this.attempt = 0;
        } catch (err) {
          if (err instanceof NetworkError) {
            this.offline = true;
            var delay = BACKOFF[Math.min(this.attempt, BACKOFF.length - 1)];
            this.attempt += 1;
            this.setPending(item.id, { retryIn: delay });
            var self = this;
            this.timer = setTimeout(function () { self.drain(); }, delay);
            return;
          }
          this.addError(err);
        }
        this.state.outbox.shift();
        this.setPending(item.id, null);
      }
    } finally {
      this.busy = false;
    }
  };

  Widget.prototype.setPending = function (id, pending) {
    var m = this.state.messages.find(function (x) { return x.id === id; });
    if (m) {
      if (pending) { m.pending = true; m.retryIn = pending.retryIn; }
      else { delete m.pending; delete m.retryIn; }
    }
    this.save();
    this.renderAll();
  };

  Widget.prototype.addError = function (err) {
    var detail = err && err.message ? err.message : String(err);
    this.state.messages.push({ id: uid(), role: "assistant", error: true,
                               text: fmt(this.t.error, { detail: detail }) });
    this.save();
    this.renderAll();
  };

  Widget.prototype.request = async function (path, options) {
    var response;
    try {
      response = await fetch(this.url(path), options);
    } catch (e) {
      throw new NetworkError(String(e && e.message || e));
    }
    if (response.status >= 500 && response.status !== 501) {
      throw new NetworkError("HTTP " + response.status);
    }
    return response;
  };

  Widget.prototype.problem = async function (response) {
    var type = response.headers.get("content-type") || "";
    if (type.indexOf("text/event-stream") === 0) {
      for await (var ev of readEvents(response)) {
        if (ev.event === "error") return new ProblemError(JSON.parse(ev.data));
      }
    }
    try { return new ProblemError(await response.json()); } catch (e) {
      return new ProblemError({ title: "HTTP " + response.status });
    }
  };

  Widget.prototype.ensureConversation = async function () {
    if (this.state.conversationId) return this.state.conversationId;
    var r = await this.request("/v1/conversations", { method: "POST" });
    if (!r.ok) throw await this.problem(r);
    this.state.conversationId = (await r.json()).conversation_id;
    this.save();
    return this.state.conversationId;
  };

  Widget.prototype.post = function (path, body) {
    return this.request(path, { method: "POST", body: JSON.stringify(body),
                                headers: { "Content-Type": "application/json" } });
  };

  Widget.prototype.deliver = async function (item) {
    var id = await this.ensureConversation();
    var base = "/v1/conversations/" + encodeURIComponent(id);
    if (item.kind === "message") return this.stream(base, item);
    var r = item.kind === "confirm"
      ? await this.post(base + "/confirm", this.identity({ confirmed: item.confirmed }, true))
      : await this.post(base + "/handoff", this.identity({}, true));
    if (!r.ok) throw await this.problem(r);
    var reply = await r.json();
    if (item.kind === "handoff") this.state.handoff = true;
    this.finish(this.startReply(), reply);
  };

  Widget.prototype.startReply = function () {
    var m = { id: uid(), role: "assistant", text: "", streaming: true };
    this.state.messages.push(m);
    this.renderAll();
    return { message: m };
  };

  /** Show the streamed text so far in the reply's node. */
  Widget.prototype.grow = function (live, text) {
    live.message.text = text;
    var self = this;
    var node = Array.prototype.find.call(this.nodes.log.children, function (n) {
      return n.dataset.key === live.message.id;
    });
    if (!node) return;
    var span = node.querySelector(".text");
    span.classList.remove("typing");
    span.removeAttribute("aria-label");
    span.textContent = text;
    self.scroll();
  };

  Widget.prototype.finish = function (live, reply) {
    var m = live.message;
    delete m.streaming;
    m.text = reply.reply;
    m.citations = reply.citations || [];
    m.awaiting = !!reply.awaiting_confirmation;
    m.quick = (reply.quick_replies || []).slice(0, 6);
    if (reply.action && reply.action.status === "pending_approval") {
      this.state.waitingApproval = true;
    }
    if (reply.language) this.state.language = reply.language;
    if (reply.intent && reply.intent.route === "handoff") this.state.handoff = true;
    this.save();
    this.renderAll();
  };

  Widget.prototype.stream = async function (base, item) {
    var r = await this.post(base + "/messages/stream",
                            this.identity({ text: item.text }));
    var type = r.headers.get("content-type") || "";
    if (!r.ok || type.indexOf("text/event-stream") !== 0) throw await this.problem(r);
    // From here the server has the message: a broken stream is not resent, the reply is
    // fetched from the conversation's history instead.
    this.setPending(item.id, null);
    var live = this.startReply();
    var received = "";
    try {
      for await (var ev of readEvents(r)) {
        var data = JSON.parse(ev.data);
        if (ev.event === "token") {
          received += data.text;
          this.grow(live, received);
        } else if (ev.event === "final") {
          this.finish(live, data);
          return;
        } else if (ev.event === "error") {
          this.dropMessage(live.message);
          throw new ProblemError(data);
        }
      }
      throw new NetworkError("stream ended early");
    } catch (err) {
      if (err instanceof ProblemError) throw err;
      this.dropMessage(live.message);
      this.showBanner(this.t.lost);
      await this.refreshUntilDone();
    }
  };

  Widget.prototype.dropMessage = function (m) {
    var i = this.state.messages.indexOf(m);
    if (i >= 0) this.state.messages.splice(i, 1);
    this.save();
    this.renderAll();
  };

  Widget.prototype.showBanner = function (text) {
    this.nodes.banner.textContent = text;
    this.nodes.banner.hidden = false;
  };

  // ---- history ---------------------------------------------------------------------
  /** Replace the saved messages with the server's history (queued ones stay at the end). */
  Widget.prototype.refresh = async function () {
    var id = this.state.conversationId;
    if (!id) return true;
    var r = await this.request("/v1/conversations/" + encodeURIComponent(id) + "/messages",
                               { method: "GET" });
    if (r.status === 404) {
      // The server no longer knows it: start a new conversation, keep what is queued.
      this.state.conversationId = null;
      this.state.messages = this.state.messages.filter(function (m) { return m.pending; });
      this.state.handoff = false;
      this.save();
      this.renderAll();
      return true;
    }
    if (!r.ok) return false;
    var body = await r.json();
    var old = this.state.messages;
    var awaiting = old.some(function (m) { return m.awaiting; });
    var queued = old.filter(function (m) { return m.pending; });
    var messages = body.messages.map(function (m, i) {
      return { id: "h" + i, role: m.role, text: m.text, citations: m.citations || [] };
    });
    var last = messages[messages.length - 1];
    var known = old.filter(function (m) { return !m.pending && !m.error; });
    if (messages.length > known.length) this.state.waitingApproval = false;  // news came
    var lastOld = known[known.length - 1];
    if (last && lastOld && last.role === "assistant" && last.text === lastOld.text) {
      last.awaiting = awaiting;
      last.quick = lastOld.quick || null;
    }
    this.state.messages = messages.concat(queued);
    this.save();
    this.renderAll();
    return true;
  };

  Widget.prototype.refreshUntilDone = async function () {
    for (var i = 0; ; i++) {
      try {
        if (await this.refresh()) { this.renderBanner(); return; }
      } catch (e) {
        if (!(e instanceof NetworkError)) throw e;
      }
      var delay = BACKOFF[Math.min(i, BACKOFF.length - 1)];
      await new Promise(function (resolve) { setTimeout(resolve, delay); });
      if (this.destroyed) return;
    }
  };

  // ---- public API ------------------------------------------------------------------
  var current = null;

  function fromScript() {
    var d = SCRIPT ? SCRIPT.dataset : {};
    return { server: d.server, siteKey: d.siteKey, userId: d.userId, userHash: d.userHash,
             title: d.title, accent: d.accent, language: d.language };
  }

  function init(options) {
    if (current) current.destroy();
    current = new Widget(options || fromScript());
    current.mount();
    return current;
  }

  window.SupportGraphWidget = {
    init: init,
    reload: function () { return init(fromScript()); },
    destroy: function () { if (current) current.destroy(); current = null; },
    open: function () { if (current) current.open(); },
    close: function () { if (current) current.close(); },
    get widget() { return current; }
  };

  if (!SCRIPT || SCRIPT.dataset.autoInit !== "false") {
    if (document.body) init();
    else document.addEventListener("DOMContentLoaded", function () { init(); });
  }
})();
