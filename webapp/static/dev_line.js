/* LINE simulator (/dev/line): chat with the bot as simulated LINE users.
 *
 * Users (name + generated userId) and their chat logs live in localStorage.  User actions are
 * posted to {api}/event, which turns them into signed webhook events for the app; what the bot
 * sends is read from the LINE stand-in through {api}/messages, polled every second.
 *
 * Every string from the bot is put into the page with textContent / attributes, never innerHTML.
 */
(function () {
  "use strict";

  var root = document.getElementById("app");
  var API = root.dataset.api;
  var BOT_NAME = root.dataset.botName || "Bot";
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var CSRF = csrfMeta ? csrfMeta.getAttribute("content") : null;
  var STORE_KEY = "devLine.v1";
  var MAX_LOG = 300;
  var POLL_MS = 1000;

  var $ = function (id) { return document.getElementById(id); };
  var chat = $("chat");
  var tabs = $("user-tabs");
  var input = $("chat-input");
  var quickBar = $("quick-replies");
  var imageInput = $("image-input");

  // ------------------------------------------------------------------------------------------
  // DOM helper: h(tag, props, children) — text only through textContent / text nodes
  // ------------------------------------------------------------------------------------------

  function h(tag, props, children) {
    var el = document.createElement(tag);
    if (props) {
      Object.keys(props).forEach(function (k) {
        var v = props[k];
        if (v === undefined || v === null || v === false) return;
        if (k === "class") el.className = v;
        else if (k === "text") el.textContent = String(v);
        else if (k === "testid") el.setAttribute("data-testid", v);
        else if (k.slice(0, 2) === "on" && typeof v === "function") el.addEventListener(k.slice(2), v);
        else el.setAttribute(k, v === true ? "" : String(v));
      });
    }
    [].concat(children === undefined ? [] : children).forEach(function (c) {
      if (c === null || c === undefined || c === false) return;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    });
    return el;
  }

  function css(el, prop, value) {
    // The CSSOM ignores invalid values, so a bot-supplied colour cannot inject anything.
    if (value !== undefined && value !== null && value !== "") el.style.setProperty(prop, String(value));
  }

  var toastTimer = null;
  function toast(text) {
    var t = $("toast");
    t.textContent = text;
    t.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { t.hidden = true; }, 3500);
  }

  function hhmm(iso) {
    var d = iso ? new Date(iso) : new Date();
    if (isNaN(d.getTime())) d = new Date();
    return String(d.getHours()).padStart(2, "0") + ":" + String(d.getMinutes()).padStart(2, "0");
  }

  function randomHex(bytes) {
    var a = new Uint8Array(bytes);
    crypto.getRandomValues(a);
    return Array.prototype.map.call(a, function (b) { return b.toString(16).padStart(2, "0"); }).join("");
  }

  // ------------------------------------------------------------------------------------------
  // State (localStorage)
  // ------------------------------------------------------------------------------------------

  function load() {
    try {
      var s = JSON.parse(localStorage.getItem(STORE_KEY) || "null");
      if (s && Array.isArray(s.users)) {
        s.after = s.after || 0;
        return s;
      }
    } catch (e) { /* start over */ }
    return { users: [], active: null, after: 0 };
  }

  var state = load();

  function save() {
    state.users.forEach(function (u) { if (u.log.length > MAX_LOG) u.log.splice(0, u.log.length - MAX_LOG); });
    try {
      localStorage.setItem(STORE_KEY, JSON.stringify(state));
    } catch (e) {
      // Quota: drop image thumbnails and try once more.
      state.users.forEach(function (u) { u.log.forEach(function (en) { delete en.src; }); });
      try { localStorage.setItem(STORE_KEY, JSON.stringify(state)); } catch (e2) { /* give up */ }
    }
  }

  function userById(id) {
    for (var i = 0; i < state.users.length; i++) if (state.users[i].id === id) return state.users[i];
    return null;
  }

  function activeUser() { return userById(state.active); }

  function addUser(name) {
    var u = {
      id: "U" + randomHex(16),
      name: name || "使用者 " + (state.users.length + 1),
      friend: false,
      everFollowed: false,
      unread: 0,
      log: [],
    };
    state.users.push(u);
    state.active = u.id;
    save();
    renderAll();
    return u;
  }

  function newKey() { return Date.now().toString(36) + randomHex(4); }

  // ------------------------------------------------------------------------------------------
  // Talking to the server
  // ------------------------------------------------------------------------------------------

  function setConnected(ok, why) {
    var c = $("conn");
    c.classList.toggle("bad", !ok);
    c.title = ok ? "已連線到 LINE 模擬伺服器" : "無法連線：" + (why || "");
  }

  function postJSON(path, body) {
    var headers = { "Content-Type": "application/json" };
    if (CSRF) headers["X-CSRFToken"] = CSRF;
    return fetch(API + path, { method: "POST", headers: headers, body: JSON.stringify(body), credentials: "same-origin" })
      .then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (data) {
          if (!r.ok) throw new Error(data.error || ("HTTP " + r.status));
          return data;
        });
      });
  }

  /* Send one webhook event for user u; `entry` (optional) is the user's own bubble. */
  function sendEvent(u, payload, entry) {
    if (!u) { toast("請先建立使用者"); return Promise.resolve(); }
    if (entry) {
      entry.from = "user";
      entry.key = newKey();
      entry.time = new Date().toISOString();
      entry.status = "sending";
      u.log.push(entry);
      save();
      if (u.id === state.active) renderChat(false);
    }
    var body = Object.assign({}, payload, { userId: u.id, displayName: u.name });
    return postJSON("/event", body).then(function (data) {
      if (data.status >= 300) throw new Error("webhook 回應 HTTP " + data.status + (data.response ? "：" + data.response.slice(0, 120) : ""));
      if (entry) entry.status = "sent";
    }).catch(function (err) {
      if (entry) entry.status = "error";
      toast("傳送失敗：" + err.message);
    }).then(function () {
      save();
      if (entry) updateEntry(entry);
      poll();
      loadRichMenu();
    });
  }

  var polling = false;
  function poll() {
    if (polling || !state.users.length) return;
    polling = true;
    var ids = state.users.map(function (u) { return u.id; }).join(",");
    fetch(API + "/messages?user=" + encodeURIComponent(ids) + "&after=" + state.after, { credentials: "same-origin" })
      .then(function (r) {
        return r.json().then(function (data) {
          if (!r.ok) throw new Error(data.error || ("HTTP " + r.status));
          return data;
        });
      })
      .then(function (data) {
        setConnected(true);
        if (typeof data.lastId === "number" && data.lastId < state.after) {
          state.after = 0; // the stand-in was reset
          save();
          return;
        }
        var activeChanged = false;
        var tabsChanged = false;
        (data.messages || []).forEach(function (d) {
          state.after = Math.max(state.after, d.id);
          var u = userById(d.to);
          if (!u) return;
          var dup = u.log.some(function (en) { return en.from === "bot" && en.sent === d.sentMessageId; });
          if (dup) return;
          u.log.push({ from: "bot", key: newKey(), sent: d.sentMessageId, kind: d.kind, message: d.message, time: d.time });
          if (u.id === state.active) activeChanged = true;
          else { u.unread = (u.unread || 0) + 1; tabsChanged = true; }
        });
        if (data.messages && data.messages.length) save();
        if (activeChanged) renderChat(false);
        if (tabsChanged) renderTabs();
      })
      .catch(function (err) { setConnected(false, err.message); })
      .then(function () { polling = false; });
  }

  // ------------------------------------------------------------------------------------------
  // Actions (quick replies, template and flex buttons, rich menu areas)
  // ------------------------------------------------------------------------------------------

  function openUri(uri) {
    if (typeof uri === "string" && /^(https?:|mailto:|tel:)/i.test(uri)) {
      window.open(uri, "_blank", "noopener");
    } else {
      toast("模擬器無法開啟：" + uri);
    }
  }

  function performAction(action) {
    var u = activeUser();
    if (!action || !u) return;
    switch (action.type) {
      case "message":
        sendEvent(u, { type: "text", text: action.text || action.label || "" }, { kind: "text", text: action.text || action.label || "" });
        break;
      case "postback": {
        var shown = action.displayText || action.text;
        if (action.inputOption === "openKeyboard") {
          if (action.fillInText) input.value = action.fillInText;
          input.focus();
        } else if (action.inputOption === "openRichMenu") {
          showRichMenu(true);
        }
        sendEvent(u, { type: "postback", data: action.data }, shown ? { kind: "text", text: shown } : null);
        break;
      }
      case "uri":
        openUri(action.uri || (action.altUri && action.altUri.desktop));
        break;
      case "datetimepicker":
        pickDatetime(u, action);
        break;
      case "camera":
      case "cameraRoll":
        imageInput.click();
        break;
      case "location":
        sendEvent(u, { type: "location" }, { kind: "text", text: "📍 臺中市政府（臺灣大道三段99號）" });
        break;
      case "richmenuswitch":
        postJSON("/richmenu/switch", { userId: u.id, richMenuAliasId: action.richMenuAliasId })
          .then(function () { loadRichMenu(); })
          .catch(function (err) { toast("切換選單失敗：" + err.message); });
        sendEvent(u, { type: "postback", data: action.data, params: { newRichMenuAliasId: action.richMenuAliasId, status: "SUCCESS" } }, null);
        break;
      case "clipboard":
        if (navigator.clipboard) {
          navigator.clipboard.writeText(action.clipboardText || "").then(function () { toast("已複製"); }, function () { toast(action.clipboardText); });
        } else {
          toast(action.clipboardText);
        }
        break;
      default:
        toast("模擬器不支援此動作：" + action.type);
    }
  }

  function tappable(el, action) {
    el.classList.add("tappable");
    if (!el.hasAttribute("data-testid")) el.setAttribute("data-testid", "card-action");
    el.setAttribute("role", "button");
    el.tabIndex = 0;
    if (action.label) el.setAttribute("aria-label", action.label);
    el.addEventListener("click", function (ev) { ev.stopPropagation(); performAction(action); });
    el.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); ev.stopPropagation(); performAction(action); }
    });
    return el;
  }

  function actionButton(action, cls) {
    return h("button", {
      type: "button",
      class: cls,
      testid: "card-button",
      text: (action && action.label) || "",
      onclick: function (ev) { ev.stopPropagation(); performAction(action); },
    });
  }

  function pickDatetime(u, action) {
    var mode = action.mode === "time" ? "time" : action.mode === "date" ? "date" : "datetime-local";
    openDialog(action.label || "選擇日期時間", mode, action.initial || "", function (value) {
      var key = action.mode === "datetime" ? "datetime" : action.mode;
      var params = {};
      params[key] = value;
      sendEvent(u, { type: "postback", data: action.data, params: params }, null);
    }, { min: action.min, max: action.max });
  }

  var dialogDone = null;
  function openDialog(title, type, value, done, limits) {
    var inp = $("dialog-input");
    $("dialog-title").textContent = title;
    inp.type = type;
    inp.value = value || "";
    inp.min = (limits && limits.min) || "";
    inp.max = (limits && limits.max) || "";
    dialogDone = done;
    $("dialog").hidden = false;
    inp.focus();
  }

  $("dialog-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var value = $("dialog-input").value;
    $("dialog").hidden = true;
    if (dialogDone && value) dialogDone(value);
    dialogDone = null;
  });
  $("dialog-cancel").addEventListener("click", function () { $("dialog").hidden = true; dialogDone = null; });

  // ------------------------------------------------------------------------------------------
  // Rendering: text
  // ------------------------------------------------------------------------------------------

  var URL_RE = /https?:\/\/[^\s<>"'「」『』（）()【】、，。！？]+/g;

  function linkify(text) {
    var frag = document.createDocumentFragment();
    var last = 0;
    String(text).replace(URL_RE, function (match, offset) {
      var url = match.replace(/[.,;:!?]+$/, "");
      frag.append(document.createTextNode(text.slice(last, offset)));
      frag.append(h("a", { href: url, target: "_blank", rel: "noopener noreferrer", text: url }));
      last = offset + url.length;
      return match;
    });
    frag.append(document.createTextNode(String(text).slice(last)));
    return frag;
  }

  function textV2(msg) {
    var subs = msg.substitution || {};
    return String(msg.text || "").replace(/\{([A-Za-z0-9_]+)\}/g, function (all, key) {
      var s = subs[key];
      if (!s) return all;
      if (s.type === "mention") {
        var m = s.mentionee || {};
        if (m.type === "all") return "@All";
        var u = userById(m.userId);
        return "@" + (u ? u.name : "使用者");
      }
      if (s.type === "emoji") return "😀";
      return all;
    });
  }

  // ------------------------------------------------------------------------------------------
  // Rendering: Flex messages
  // ------------------------------------------------------------------------------------------

  var SPACING = { none: "0px", xs: "2px", sm: "4px", md: "8px", lg: "12px", xl: "16px", xxl: "20px" };
  var TEXT_SIZE = { xxs: "11px", xs: "12px", sm: "13px", md: "15px", lg: "17px", xl: "20px", xxl: "24px", "3xl": "28px", "4xl": "36px", "5xl": "48px" };
  var IMAGE_SIZE = { xxs: "40px", xs: "60px", sm: "80px", md: "100px", lg: "120px", xl: "140px", xxl: "160px", "3xl": "180px", "4xl": "200px", "5xl": "240px", full: "100%" };
  var RADIUS = { none: "0px", xs: "2px", sm: "4px", md: "8px", lg: "12px", xl: "16px", xxl: "20px" };
  var BORDER = { none: "0px", light: "0.5px", normal: "1px", medium: "2px", "semi-bold": "3px", bold: "4px" };
  var BUBBLE_WIDTH = { nano: "120px", micro: "160px", deca: "220px", hecto: "241px", kilo: "260px", mega: "300px", giga: "386px" };
  var ALIGN = { start: "flex-start", end: "flex-end", center: "center", top: "flex-start", bottom: "flex-end" };

  function len(v, map) {
    if (v === undefined || v === null) return null;
    if (map && Object.prototype.hasOwnProperty.call(map, v)) return map[v];
    if (/^-?\d+(\.\d+)?(px|%)$/.test(String(v))) return String(v);
    return null;
  }

  function padding(el, c) {
    var all = len(c.paddingAll, SPACING);
    if (all) css(el, "padding", all);
    [["paddingTop", "padding-top"], ["paddingBottom", "padding-bottom"], ["paddingStart", "padding-inline-start"], ["paddingEnd", "padding-inline-end"]]
      .forEach(function (p) { var v = len(c[p[0]], SPACING); if (v) css(el, p[1], v); });
  }

  function common(el, c, parentLayout) {
    var horizontal = parentLayout === "horizontal" || parentLayout === "baseline";
    var flex = typeof c.flex === "number" ? c.flex : horizontal ? 1 : 0;
    var width = len(c.width);
    if (width) {
      css(el, "width", width);
      css(el, "flex", "0 0 auto");
    } else if (flex > 0) {
      css(el, "flex", horizontal ? flex + " 1 0px" : flex + " 1 auto");
    } else {
      css(el, "flex", "0 0 auto");
    }
    css(el, "max-width", len(c.maxWidth));
    css(el, "height", len(c.height));
    css(el, "max-height", len(c.maxHeight));
    if (horizontal && c.gravity) css(el, "align-self", ALIGN[c.gravity]);
    if (!horizontal && c.align && c.type !== "text") css(el, "align-self", ALIGN[c.align]);
    if (c.position === "absolute") {
      css(el, "position", "absolute");
      css(el, "top", len(c.offsetTop, SPACING));
      css(el, "bottom", len(c.offsetBottom, SPACING));
      css(el, "inset-inline-start", len(c.offsetStart, SPACING));
      css(el, "inset-inline-end", len(c.offsetEnd, SPACING));
    } else if (c.offsetTop || c.offsetBottom || c.offsetStart || c.offsetEnd) {
      css(el, "position", "relative");
      css(el, "top", len(c.offsetTop, SPACING));
      css(el, "bottom", len(c.offsetBottom, SPACING));
      css(el, "inset-inline-start", len(c.offsetStart, SPACING));
      css(el, "inset-inline-end", len(c.offsetEnd, SPACING));
    }
  }

  function flexComponent(c, parentLayout) {
    if (!c || typeof c !== "object") return h("span");
    var el;
    switch (c.type) {
      case "box": el = flexBox(c); break;
      case "text": el = flexText(c); break;
      case "button": el = flexButton(c); break;
      case "image": el = flexImage(c); break;
      case "video": el = flexImage({ url: c.previewUrl, aspectRatio: c.aspectRatio, size: "full" }); el.classList.add("fx-video"); break;
      case "icon": el = flexIcon(c); break;
      case "separator":
        el = h("div", { class: "fx-sep " + (parentLayout === "vertical" ? "fx-sep-h" : "fx-sep-v") });
        css(el, "border-color", c.color);
        break;
      case "filler":
        el = h("div", { class: "fx-filler" });
        css(el, "flex", (typeof c.flex === "number" ? c.flex : 1) + " 1 0px");
        return el;
      case "spacer":
        el = h("div", { class: "fx-spacer" });
        css(el, "flex", "0 0 " + (len(c.size, SPACING) || "8px"));
        return el;
      default:
        el = h("div", { class: "fx-unknown", text: "[" + c.type + "]" });
    }
    common(el, c, parentLayout);
    if (c.action && c.type !== "button") tappable(el, c.action);
    return el;
  }

  function flexBox(c) {
    var layout = c.layout === "horizontal" || c.layout === "baseline" ? c.layout : "vertical";
    var el = h("div", { class: "fx-box fx-" + layout });
    var gap = len(c.spacing, SPACING);
    (c.contents || []).forEach(function (child, i) {
      var ce = flexComponent(child, layout);
      var margin = child && child.margin !== undefined ? len(child.margin, SPACING) : i > 0 ? gap : null;
      if (margin && !(child && child.position === "absolute")) {
        css(ce, layout === "vertical" ? "margin-top" : "margin-inline-start", margin);
      }
      el.append(ce);
    });
    css(el, "background-color", c.backgroundColor);
    css(el, "border-color", c.borderColor);
    var bw = len(c.borderWidth, BORDER);
    if (bw) { css(el, "border-width", bw); css(el, "border-style", "solid"); }
    css(el, "border-radius", len(c.cornerRadius, RADIUS));
    css(el, "justify-content", c.justifyContent);
    if (layout !== "baseline") css(el, "align-items", c.alignItems);
    if (c.background && c.background.type === "linearGradient") {
      var stops = [c.background.startColor];
      if (c.background.centerColor) stops.push(c.background.centerColor + " " + (c.background.centerPosition || "50%"));
      stops.push(c.background.endColor);
      css(el, "background-image", "linear-gradient(" + (c.background.angle || "0deg") + ", " + stops.join(", ") + ")");
    }
    padding(el, c);
    return el;
  }

  function styleText(el, c) {
    css(el, "font-size", len(c.size, TEXT_SIZE));
    if (c.weight === "bold") css(el, "font-weight", "700");
    css(el, "color", c.color);
    if (c.style === "italic") css(el, "font-style", "italic");
    if (c.decoration === "underline" || c.decoration === "line-through") css(el, "text-decoration", c.decoration);
  }

  function flexText(c) {
    var el = h("div", { class: "fx-text" + (c.wrap ? " fx-wrap" : "") });
    if (Array.isArray(c.contents) && c.contents.length) {
      c.contents.forEach(function (s) {
        var span = h("span", { text: (s && s.text) || "" });
        if (s) styleText(span, s);
        el.append(span);
      });
    } else {
      el.textContent = c.text || "";
    }
    styleText(el, c);
    if (c.align) css(el, "text-align", c.align === "end" ? "end" : c.align === "center" ? "center" : "start");
    if (c.wrap && c.maxLines > 0) {
      el.classList.add("fx-clamp");
      css(el, "-webkit-line-clamp", String(c.maxLines));
    }
    if (c.lineSpacing && len(c.lineSpacing)) css(el, "line-height", "calc(1.35em + " + len(c.lineSpacing) + ")");
    return el;
  }

  function flexButton(c) {
    var a = c.action || {};
    var style = c.style === "primary" || c.style === "secondary" ? c.style : "link";
    var el = actionButton(a, "fx-button fx-btn-" + style + (c.height === "sm" ? " fx-btn-sm" : ""));
    if (c.color) css(el, style === "link" ? "color" : "background-color", c.color);
    return el;
  }

  function ratio(value, fallback) {
    var m = /^(\d+(?:\.\d+)?):(\d+(?:\.\d+)?)$/.exec(String(value || ""));
    return m ? m[1] + " / " + m[2] : fallback;
  }

  function flexImage(c) {
    var el = h("div", { class: "fx-image" });
    css(el, "width", len(c.size, IMAGE_SIZE) || "100px");
    css(el, "aspect-ratio", ratio(c.aspectRatio, "1 / 1"));
    css(el, "background-color", c.backgroundColor);
    var img = h("img", { alt: "", loading: "lazy" });
    if (c.url) img.src = c.url;
    css(img, "object-fit", c.aspectMode === "cover" ? "cover" : "contain");
    el.append(img);
    return el;
  }

  function flexIcon(c) {
    var img = h("img", { class: "fx-icon", alt: "" });
    if (c.url) img.src = c.url;
    var size = len(c.size, TEXT_SIZE) || TEXT_SIZE.md;
    css(img, "height", size);
    css(img, "aspect-ratio", ratio(c.aspectRatio, "1 / 1"));
    return img;
  }

  var BLOCK_PADDING = { header: "14px 16px", hero: "0px", body: "16px", footer: "10px 12px 12px" };

  function flexBubble(b) {
    var el = h("div", { class: "fx-bubble" });
    css(el, "width", BUBBLE_WIDTH[b.size] || BUBBLE_WIDTH.mega);
    if (b.direction === "rtl") el.dir = "rtl";
    var styles = b.styles || {};
    var first = true;
    ["header", "hero", "body", "footer"].forEach(function (part) {
      if (!b[part]) return;
      var st = styles[part] || {};
      var block = h("div", { class: "fx-block fx-block-" + part });
      css(block, "background-color", st.backgroundColor);
      if (st.separator && !first) css(block, "border-top", "1px solid " + (st.separatorColor || "#e0e0e0"));
      var content = flexComponent(b[part], "vertical");
      if (b[part].type === "box") {
        css(content, "padding", BLOCK_PADDING[part]);
        padding(content, b[part]);
      }
      block.append(content);
      el.append(block);
      first = false;
    });
    if (b.action) tappable(el, b.action);
    return el;
  }

  function renderFlex(msg) {
    var c = msg.contents || {};
    if (c.type === "carousel") {
      return h("div", { class: "carousel" }, (c.contents || []).map(flexBubble));
    }
    return flexBubble(c);
  }

  // ------------------------------------------------------------------------------------------
  // Rendering: template and other messages
  // ------------------------------------------------------------------------------------------

  function templateCard(col, t) {
    var card = h("div", { class: "tpl-card" });
    var head = h("div", { class: "tpl-head" });
    if (col.thumbnailImageUrl) {
      var pic = h("div", { class: "tpl-image" });
      css(pic, "aspect-ratio", t.imageAspectRatio === "square" ? "1 / 1" : "1.51 / 1");
      css(pic, "background-color", col.imageBackgroundColor || t.imageBackgroundColor);
      var img = h("img", { alt: "" });
      img.src = col.thumbnailImageUrl;
      css(img, "object-fit", t.imageSize === "contain" ? "contain" : "cover");
      pic.append(img);
      head.append(pic);
    }
    if (col.title) head.append(h("div", { class: "tpl-title", text: col.title }));
    if (col.text) head.append(h("div", { class: "tpl-text", text: col.text }));
    if (col.defaultAction) tappable(head, col.defaultAction);
    card.append(head);
    card.append(h("div", { class: "tpl-actions" }, (col.actions || []).map(function (a) { return actionButton(a, "tpl-action"); })));
    return card;
  }

  function renderTemplate(msg) {
    var t = msg.template || {};
    if (t.type === "buttons") return templateCard(t, t);
    if (t.type === "confirm") {
      return h("div", { class: "tpl-card tpl-confirm" }, [
        h("div", { class: "tpl-text", text: t.text || "" }),
        h("div", { class: "tpl-actions tpl-row" }, (t.actions || []).map(function (a) { return actionButton(a, "tpl-action"); })),
      ]);
    }
    if (t.type === "carousel") {
      return h("div", { class: "carousel" }, (t.columns || []).map(function (col) { return templateCard(col, t); }));
    }
    if (t.type === "image_carousel") {
      return h("div", { class: "carousel" }, (t.columns || []).map(function (col) {
        var cell = h("div", { class: "tpl-imgcol" });
        var img = h("img", { alt: "" });
        img.src = col.imageUrl;
        cell.append(img);
        if (col.action) {
          if (col.action.label) cell.append(h("div", { class: "tpl-imglabel", text: col.action.label }));
          tappable(cell, col.action);
        }
        return cell;
      }));
    }
    return h("div", { class: "bubble bot", text: msg.altText || "[template]" });
  }

  function renderImagemap(msg) {
    var base = msg.baseSize || { width: 1040, height: 1040 };
    var wrap = h("div", { class: "imagemap" });
    css(wrap, "aspect-ratio", base.width + " / " + base.height);
    var img = h("img", { alt: msg.altText || "" });
    img.src = String(msg.baseUrl || "") + "/1040";
    wrap.append(img);
    (msg.actions || []).forEach(function (a) {
      var area = a.area || {};
      var action = a.type === "uri" ? { type: "uri", uri: a.linkUri, label: a.label }
        : a.type === "message" ? { type: "message", text: a.text, label: a.label }
        : a.type === "clipboard" ? { type: "clipboard", clipboardText: a.clipboardText, label: a.label } : a;
      var spot = h("div", { class: "imagemap-area" });
      css(spot, "left", (area.x / base.width * 100) + "%");
      css(spot, "top", (area.y / base.height * 100) + "%");
      css(spot, "width", (area.width / base.width * 100) + "%");
      css(spot, "height", (area.height / base.height * 100) + "%");
      wrap.append(tappable(spot, action));
    });
    return wrap;
  }

  var STICKERS = [
    { packageId: "446", stickerId: "1988", emoji: "😄", keywords: ["Happy"] },
    { packageId: "446", stickerId: "1989", emoji: "👍", keywords: ["OK", "Good"] },
    { packageId: "446", stickerId: "1990", emoji: "🙏", keywords: ["Thanks"] },
    { packageId: "446", stickerId: "1991", emoji: "😢", keywords: ["Sad"] },
    { packageId: "446", stickerId: "1992", emoji: "😮", keywords: ["Surprised"] },
    { packageId: "446", stickerId: "1993", emoji: "😡", keywords: ["Angry"] },
    { packageId: "789", stickerId: "10855", emoji: "🎉", keywords: ["Congrats"] },
    { packageId: "789", stickerId: "10856", emoji: "👋", keywords: ["Hello"] },
  ];

  function stickerEmoji(packageId, stickerId) {
    for (var i = 0; i < STICKERS.length; i++) {
      if (STICKERS[i].packageId === String(packageId) && STICKERS[i].stickerId === String(stickerId)) return STICKERS[i].emoji;
    }
    return "🐻";
  }

  /* One bot message object → element (data-testid="bubble-bot"). */
  function renderBotMessage(msg) {
    var el;
    switch (msg.type) {
      case "text":
        el = h("div", { class: "bubble bot" }, linkify(msg.text || ""));
        break;
      case "textV2":
        el = h("div", { class: "bubble bot" }, linkify(textV2(msg)));
        break;
      case "sticker":
        el = h("div", { class: "sticker", title: "貼圖 " + msg.packageId + "/" + msg.stickerId }, [
          h("span", { class: "sticker-emoji", text: stickerEmoji(msg.packageId, msg.stickerId) }),
          h("span", { class: "sticker-label", text: "貼圖 " + msg.packageId + "/" + msg.stickerId }),
        ]);
        break;
      case "image": {
        el = h("div", { class: "photo" });
        var img = h("img", { alt: "圖片" });
        img.src = msg.previewImageUrl || msg.originalContentUrl || "";
        el.append(img);
        tappable(el, { type: "uri", uri: msg.originalContentUrl, label: "開啟圖片" });
        break;
      }
      case "video":
        el = h("div", { class: "bubble bot media" }, ["▶ 影片 ", h("a", { href: /^https?:/.test(msg.originalContentUrl || "") ? msg.originalContentUrl : "#", target: "_blank", rel: "noopener noreferrer", text: "開啟" })]);
        break;
      case "audio":
        el = h("div", { class: "bubble bot media", text: "🔊 語音訊息（" + Math.round((msg.duration || 0) / 1000) + " 秒）" });
        break;
      case "location":
        el = h("div", { class: "tpl-card location" }, [
          h("div", { class: "tpl-title", text: "📍 " + (msg.title || "位置") }),
          h("div", { class: "tpl-text", text: msg.address || "" }),
          h("div", { class: "tpl-actions" }, actionButton({ type: "uri", label: "開啟地圖", uri: "https://www.google.com/maps?q=" + encodeURIComponent(msg.latitude + "," + msg.longitude) }, "tpl-action")),
        ]);
        break;
      case "template":
        el = renderTemplate(msg);
        break;
      case "flex":
        el = renderFlex(msg);
        break;
      case "imagemap":
        el = renderImagemap(msg);
        break;
      default:
        el = h("div", { class: "bubble bot", text: "[" + msg.type + "] " + (msg.altText || "") });
    }
    el.setAttribute("data-testid", "bubble-bot");
    el.setAttribute("data-type", msg.type || "");
    if (msg.altText) el.setAttribute("title", msg.altText);
    return el;
  }

  function renderUserContent(entry) {
    var el;
    if (entry.kind === "sticker") {
      el = h("div", { class: "sticker mine" }, [
        h("span", { class: "sticker-emoji", text: entry.emoji || "🐻" }),
        h("span", { class: "sticker-label", text: "貼圖" }),
      ]);
    } else if (entry.kind === "image") {
      el = h("div", { class: "photo mine" });
      if (entry.src) {
        var img = h("img", { alt: "傳送的圖片" });
        img.src = entry.src;
        el.append(img);
      } else {
        el.append(h("span", { text: "🖼 圖片" }));
      }
    } else {
      el = h("div", { class: "bubble user" }, linkify(entry.text || ""));
    }
    el.setAttribute("data-testid", "bubble-user");
    return el;
  }

  var entryElements = new Map();

  function statusText(entry) {
    if (entry.status === "sending") return "傳送中";
    if (entry.status === "error") return "未送達";
    return "";
  }

  function renderEntry(entry) {
    var row;
    if (entry.from === "system") {
      row = h("div", { class: "system", testid: "system-note", text: entry.text });
    } else if (entry.from === "user") {
      row = h("div", { class: "row mine" + (entry.status === "error" ? " failed" : "") }, [
        h("div", { class: "meta" }, [h("span", { class: "status", text: statusText(entry) }), h("span", { class: "time", text: hhmm(entry.time) })]),
        renderUserContent(entry),
      ]);
    } else {
      var msg = entry.message || {};
      var name = msg.sender && msg.sender.name ? msg.sender.name : null;
      var avatar = h("div", { class: "avatar", "aria-hidden": "true", text: "臺" });
      if (msg.sender && msg.sender.iconUrl) {
        avatar.textContent = "";
        var icon = h("img", { alt: "" });
        icon.src = msg.sender.iconUrl;
        avatar.append(icon);
      }
      row = h("div", { class: "row theirs", "data-kind": entry.kind || "" }, [
        avatar,
        h("div", { class: "col" }, [
          name ? h("div", { class: "sender", text: name }) : null,
          h("div", { class: "line" }, [renderBotMessage(msg), h("div", { class: "meta" }, h("span", { class: "time", text: hhmm(entry.time) }))]),
        ]),
      ]);
    }
    entryElements.set(entry.key, row);
    return row;
  }

  function updateEntry(entry) {
    var old = entryElements.get(entry.key);
    var u = activeUser();
    if (!old || !u || u.log.indexOf(entry) < 0) return;
    var fresh = renderEntry(entry);
    old.replaceWith(fresh);
  }

  // ------------------------------------------------------------------------------------------
  // Rendering: the page
  // ------------------------------------------------------------------------------------------

  var renderedUser = null;
  var lastRenderedKey = null;

  function renderChat(full) {
    var u = activeUser();
    var start = 0;
    if (!full && u && renderedUser === u.id) {
      if (lastRenderedKey !== null) {
        var idx = -1;
        for (var i = u.log.length - 1; i >= 0; i--) if (u.log[i].key === lastRenderedKey) { idx = i; break; }
        if (idx < 0) full = true;
        else start = idx + 1;
      }
    } else {
      full = true;
    }
    if (full) {
      chat.textContent = "";
      entryElements.clear();
      lastRenderedKey = null;
      renderedUser = u ? u.id : null;
      start = 0;
    }
    if (!u) {
      chat.append(h("div", { class: "empty", text: "按「＋ 新增使用者」建立一位模擬的 LINE 使用者，再按「加入好友」開始與機器人對話。" }));
      renderQuickReplies(null);
      return;
    }
    var empty = chat.querySelector(".empty");
    if (empty) empty.remove();
    if (!u.log.length) {
      chat.append(h("div", { class: "empty", text: u.friend ? "傳訊息給機器人吧。" : "按「加入好友」把機器人加為好友（送出 follow 事件）。" }));
    }
    for (var j = start; j < u.log.length; j++) {
      if (!u.log[j].key) u.log[j].key = newKey();
      chat.append(renderEntry(u.log[j]));
      lastRenderedKey = u.log[j].key;
    }
    renderQuickReplies(u);
    chat.scrollTop = chat.scrollHeight;
  }

  function renderQuickReplies(u) {
    quickBar.textContent = "";
    var last = u && u.log.length ? u.log[u.log.length - 1] : null;
    var items = last && last.from === "bot" && last.message && last.message.quickReply ? last.message.quickReply.items || [] : [];
    items.forEach(function (item) {
      var a = item.action || {};
      var btn = h("button", { type: "button", class: "quick-reply", testid: "quick-reply", onclick: function () { performAction(a); } });
      if (item.imageUrl) {
        var icon = h("img", { alt: "" });
        icon.src = item.imageUrl;
        btn.append(icon);
      }
      btn.append(document.createTextNode(a.label || a.text || a.type || ""));
      quickBar.append(btn);
    });
    quickBar.hidden = items.length === 0;
    // As in LINE: quick reply buttons fold the rich menu away (the menu button brings it back).
    if (items.length && typeof hideRichMenu === "function") hideRichMenu();
  }

  function renderTabs() {
    tabs.textContent = "";
    state.users.forEach(function (u) {
      var tab = h("button", {
        type: "button",
        role: "tab",
        class: "tab" + (u.id === state.active ? " active" : ""),
        testid: "user-tab",
        "data-user-id": u.id,
        "aria-selected": u.id === state.active ? "true" : "false",
        title: u.id,
        onclick: function () { switchUser(u.id); },
      }, [h("span", { class: "tab-name", text: u.name })]);
      if (u.unread) tab.append(h("span", { class: "unread", testid: "unread", text: String(u.unread) }));
      tabs.append(tab);
    });
  }

  function renderUserbar() {
    var u = activeUser();
    $("userbar").hidden = !u;
    if (!u) return;
    $("user-name").textContent = u.name + (u.friend ? "（好友）" : "（尚未加入好友）");
    $("user-id").textContent = u.id;
    $("follow").hidden = !!u.friend;
    $("block").hidden = !u.friend;
  }

  function renderAll() {
    renderTabs();
    renderUserbar();
    renderChat(true);
    loadRichMenu();
  }

  function switchUser(id) {
    var u = userById(id);
    if (!u) return;
    state.active = id;
    u.unread = 0;
    save();
    hideRichMenu();
    renderAll();
  }

  // ------------------------------------------------------------------------------------------
  // Rich menu
  // ------------------------------------------------------------------------------------------

  var richMenu = null;

  function hideRichMenu() { $("rich-menu").hidden = true; }

  function showRichMenu(show) {
    if (!richMenu) return;
    $("rich-menu").hidden = !show;
  }

  function loadRichMenu() {
    var u = activeUser();
    if (!u) { richMenu = null; $("menu-toggle").hidden = true; hideRichMenu(); return; }
    fetch(API + "/richmenu?user=" + encodeURIComponent(u.id), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : { richMenu: null }; })
      .then(function (data) {
        var menu = data.richMenu;
        var same = richMenu && menu && richMenu.richMenuId === menu.richMenuId;
        richMenu = menu;
        $("menu-toggle").hidden = !menu;
        if (!menu) { hideRichMenu(); return; }
        $("menu-toggle").textContent = "☰ " + (menu.chatBarText || "選單");
        if (same) return;
        var areas = $("rich-menu-areas");
        areas.textContent = "";
        var size = menu.size || { width: 2500, height: 843 };
        css(areas, "aspect-ratio", size.width + " / " + size.height);
        // A designed image carries its own labels: the area labels then stay for screen readers only.
        areas.classList.toggle("has-image", !!menu.imageUrl);
        if (menu.imageUrl) {
          var img = h("img", { alt: "", testid: "rich-menu-image" });
          img.src = menu.imageUrl;
          areas.append(img);
        }
        (menu.areas || []).forEach(function (area) {
          var b = area.bounds || {};
          var spot = h("div", { class: "rich-menu-area", testid: "rich-menu-area" }, h("span", { text: (area.action && area.action.label) || "" }));
          css(spot, "left", (b.x / size.width * 100) + "%");
          css(spot, "top", (b.y / size.height * 100) + "%");
          css(spot, "width", (b.width / size.width * 100) + "%");
          css(spot, "height", (b.height / size.height * 100) + "%");
          areas.append(tappable(spot, area.action || {}));
        });
        if (menu.selected) showRichMenu(true);
      })
      .catch(function () { /* the stand-in may be down; the poll shows that */ });
  }

  $("menu-toggle").addEventListener("click", function () { showRichMenu($("rich-menu").hidden); });

  // ------------------------------------------------------------------------------------------
  // Controls
  // ------------------------------------------------------------------------------------------

  $("add-user").addEventListener("click", function () {
    var form = $("new-user-form");
    form.hidden = !form.hidden;
    if (!form.hidden) {
      $("new-user-name").value = "";
      $("new-user-name").focus();
    }
  });

  $("new-user-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var name = $("new-user-name").value.trim();
    $("new-user-form").hidden = true;
    addUser(name);
  });

  $("cancel-new-user").addEventListener("click", function () { $("new-user-form").hidden = true; });

  $("follow").addEventListener("click", function () {
    var u = activeUser();
    if (!u) return;
    var unblocked = !!u.everFollowed;
    u.friend = true;
    u.everFollowed = true;
    u.log.push({ from: "system", key: newKey(), text: unblocked ? "你已解除封鎖" : "你已將 " + BOT_NAME + " 加為好友", time: new Date().toISOString() });
    save();
    renderUserbar();
    renderChat(false);
    sendEvent(u, { type: "follow", isUnblocked: unblocked }, null);
  });

  $("block").addEventListener("click", function () {
    var u = activeUser();
    if (!u) return;
    u.friend = false;
    u.log.push({ from: "system", key: newKey(), text: "你已封鎖此帳號", time: new Date().toISOString() });
    save();
    renderUserbar();
    renderChat(false);
    sendEvent(u, { type: "unfollow" }, null);
  });

  $("clear-log").addEventListener("click", function () {
    var u = activeUser();
    if (!u) return;
    u.log = [];
    save();
    renderChat(true);
  });

  $("remove-user").addEventListener("click", function () {
    var u = activeUser();
    if (!u) return;
    state.users = state.users.filter(function (x) { return x.id !== u.id; });
    state.active = state.users.length ? state.users[0].id : null;
    save();
    renderAll();
  });

  $("user-id").addEventListener("click", function () {
    var u = activeUser();
    if (u && navigator.clipboard) navigator.clipboard.writeText(u.id).then(function () { toast("已複製 userId"); }, function () {});
  });

  function sendText() {
    var text = input.value;
    if (!text.trim()) return;
    var u = activeUser();
    if (!u) { toast("請先建立使用者"); return; }
    input.value = "";
    autosize();
    sendEvent(u, { type: "text", text: text }, { kind: "text", text: text });
  }

  $("composer").addEventListener("submit", function (ev) { ev.preventDefault(); sendText(); });

  input.addEventListener("keydown", function (ev) {
    // Enter sends; Shift+Enter is a newline; never while an IME is composing (注音、倉頡…).
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing && ev.keyCode !== 229) {
      ev.preventDefault();
      sendText();
    }
  });

  function autosize() {
    input.style.height = "auto";
    input.style.height = Math.min(input.scrollHeight, 120) + "px";
  }
  input.addEventListener("input", autosize);

  var picker = $("sticker-picker");
  STICKERS.forEach(function (s) {
    picker.append(h("button", {
      type: "button",
      class: "sticker-choice",
      testid: "sticker-choice",
      title: s.keywords.join(", "),
      text: s.emoji,
      onclick: function () {
        picker.hidden = true;
        var u = activeUser();
        sendEvent(u, { type: "sticker", packageId: s.packageId, stickerId: s.stickerId, keywords: s.keywords }, { kind: "sticker", emoji: s.emoji });
      },
    }));
  });
  $("sticker-button").addEventListener("click", function () { picker.hidden = !picker.hidden; });

  $("image-button").addEventListener("click", function () { imageInput.click(); });

  function thumbnail(dataUrl) {
    return new Promise(function (resolve) {
      var img = new Image();
      img.onload = function () {
        var scale = Math.min(1, 240 / Math.max(img.width, img.height));
        var canvas = document.createElement("canvas");
        canvas.width = Math.max(1, Math.round(img.width * scale));
        canvas.height = Math.max(1, Math.round(img.height * scale));
        canvas.getContext("2d").drawImage(img, 0, 0, canvas.width, canvas.height);
        try { resolve(canvas.toDataURL("image/jpeg", 0.7)); } catch (e) { resolve(null); }
      };
      img.onerror = function () { resolve(null); };
      img.src = dataUrl;
    });
  }

  imageInput.addEventListener("change", function () {
    var file = imageInput.files && imageInput.files[0];
    imageInput.value = "";
    var u = activeUser();
    if (!file || !u) return;
    if (file.size > 10 * 1024 * 1024) { toast("圖片太大（上限 10 MB）"); return; }
    var reader = new FileReader();
    reader.onload = function () {
      var dataUrl = String(reader.result);
      var comma = dataUrl.indexOf(",");
      thumbnail(dataUrl).then(function (thumb) {
        sendEvent(u, { type: "image", image: { contentType: file.type || "image/jpeg", base64: dataUrl.slice(comma + 1) } }, { kind: "image", src: thumb });
      });
    };
    reader.readAsDataURL(file);
  });

  // ------------------------------------------------------------------------------------------
  // Start
  // ------------------------------------------------------------------------------------------

  if (state.active && !userById(state.active)) state.active = state.users.length ? state.users[0].id : null;
  renderAll();
  poll();
  setInterval(poll, POLL_MS);
  setInterval(loadRichMenu, 5000);

  // For tests and the console.
  window.devLine = { state: function () { return state; }, poll: poll, addUser: addUser, performAction: performAction };
})();
