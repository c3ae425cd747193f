// LINE WORKS emulator talk page (demos/tests only).
// Every user-provided string goes into the DOM through textContent / properties, never innerHTML.
"use strict";

(function () {
  const SAMPLE_LOCATION = { address: "愛媛県宇和島市曙町1番地", latitude: 33.2233, longitude: 132.5606 };
  const POLL_MS = 1000;

  const $ = (id) => document.getElementById(id);
  const userSelect = $("user-select");
  const roomList = $("room-list");
  const roomsEmpty = $("rooms-empty");
  const roomSection = $("room");
  const placeholder = $("room-placeholder");
  const roomTitle = $("room-title");
  const roomMembers = $("room-members");
  const messageList = $("message-list");
  const quickReplies = $("quick-replies");
  const composer = $("composer");
  const input = $("message-input");
  const photoInput = $("photo-input");
  const locationButton = $("location-button");
  const statusLine = $("status");

  let userId = "";
  let current = null; // {key, channelId}
  let rendered = new Map(); // seq -> {el, readEl}
  let quickSignature = "";
  let busy = false;

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v;
      else if (k.startsWith("data-")) node.setAttribute(k, v);
      else node[k] = v;
    }
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function safeUrl(url) {
    return typeof url === "string" && /^https?:\/\//i.test(url) ? url : null;
  }

  async function api(method, url, body) {
    const opts = { method, headers: {} };
    if (body instanceof FormData) opts.body = body;
    else if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    const resp = await fetch(url, opts);
    const data = await resp.json().catch(() => ({}));
    if (!resp.ok) throw new Error(data.description || "HTTP " + resp.status);
    return data;
  }

  function showError(err) {
    statusLine.textContent = err ? "エラー: " + err.message : "";
  }

  // --- users -------------------------------------------------------------------------

  async function loadUsers() {
    const data = await api("GET", "/_emulator/talk/users");
    for (const group of data.groups) {
      const optgroup = el("optgroup", { label: group.org });
      for (const u of group.users) {
        const label = u.position ? u.name + "（" + u.position + "）" : u.name;
        optgroup.appendChild(el("option", { value: u.userId }, label));
      }
      userSelect.appendChild(optgroup);
    }
    const wanted = new URLSearchParams(location.search).get("user");
    if (wanted) {
      userSelect.value = wanted;
      if (userSelect.value === wanted) selectUser(wanted);
    }
  }

  function selectUser(id) {
    userId = id;
    closeRoom();
    roomList.replaceChildren();
    roomsEmpty.hidden = Boolean(userId);
    if (userId) refreshRooms().catch(showError);
  }

  // --- room list -----------------------------------------------------------------------

  async function refreshRooms() {
    if (!userId) return;
    const asked = userId;
    const data = await api("GET", "/_emulator/talk/rooms?userId=" + encodeURIComponent(userId));
    if (asked !== userId) return;
    const items = data.rooms.map((room) => {
      const li = el("li", {
        class: "room-item" + (current && current.key === room.key ? " active" : ""),
        "data-testid": "room-item",
        "data-room-key": room.key,
        "data-channel-id": room.channelId || "",
        tabIndex: 0,
      });
      const title = room.type === "SINGLE_USER" ? "hotline bot" : room.title + "（" + room.memberCount + "）";
      li.appendChild(el("span", { class: "title", "data-testid": "room-title-text" }, title));
      li.appendChild(el("span", { class: "time" }, room.lastTime));
      li.appendChild(el("span", { class: "last" }, room.lastText));
      if (room.unread > 0) li.appendChild(el("span", { class: "unread", "data-testid": "unread" }, room.unread));
      else if (!room.botIn) li.appendChild(el("span", { class: "noBot" }, "ボット退出済み"));
      li.addEventListener("click", () => openRoom(room.key, room.channelId));
      li.addEventListener("keydown", (e) => {
        if (e.key === "Enter") openRoom(room.key, room.channelId);
      });
      return li;
    });
    roomList.replaceChildren(...items);
  }

  // --- room ----------------------------------------------------------------------------

  function closeRoom() {
    current = null;
    rendered = new Map();
    quickSignature = "";
    messageList.replaceChildren();
    quickReplies.replaceChildren();
    quickReplies.hidden = true;
    roomSection.hidden = true;
    placeholder.hidden = false;
  }

  function openRoom(key, channelId) {
    closeRoom();
    current = { key, channelId: channelId || null };
    roomSection.hidden = false;
    placeholder.hidden = true;
    roomSection.dataset.roomKey = key;
    refreshRoom().then(refreshRooms).catch(showError);
    input.focus();
  }

  async function refreshRoom() {
    if (!current || !userId) return;
    const asked = current.key;
    const url = "/_emulator/talk/room?userId=" + encodeURIComponent(userId) + "&key=" + encodeURIComponent(asked);
    const data = await api("GET", url);
    if (!current || current.key !== asked) return;
    const room = data.room;
    roomTitle.textContent = room.type === "SINGLE_USER" ? "hotline bot" : room.title;
    roomMembers.textContent =
      room.type === "SINGLE_USER" ? "" : "メンバー " + room.members.length + "人" + (room.botIn ? "" : "・ボット退出済み");
    renderMessages(data.messages);
    renderQuickReplies(data.quickReply);
  }

  function renderMessages(messages) {
    const seqs = new Set(messages.map((m) => m.seq));
    if ([...rendered.keys()].some((seq) => !seqs.has(seq))) {
      rendered = new Map(); // the emulator was reset
      messageList.replaceChildren();
    }
    const nearBottom = messageList.scrollHeight - messageList.scrollTop - messageList.clientHeight < 60;
    let added = false;
    for (const msg of messages) {
      const known = rendered.get(msg.seq);
      if (known) {
        known.readEl.textContent = readText(msg.readCount);
        continue;
      }
      const node = renderMessage(msg);
      messageList.appendChild(node.el);
      rendered.set(msg.seq, node);
      added = true;
    }
    if (added && (nearBottom || messages.length === rendered.size)) {
      messageList.scrollTop = messageList.scrollHeight;
    }
  }

  function readText(n) {
    return n > 0 ? "既読 " + n : "";
  }

  function renderMessage(msg) {
    const mine = msg.sender === userId;
    const bot = msg.sender === "bot";
    const wrap = el("div", {
      class: "msg" + (mine ? " mine" : "") + (bot ? " bot" : ""),
      "data-testid": "message",
      "data-seq": String(msg.seq),
      "data-sender": msg.sender,
    });
    if (!mine) wrap.appendChild(el("div", { class: "sender", "data-testid": "sender" }, msg.senderName));
    const row = el("div", { class: "row" });
    const bubble = el("div", { class: "bubble", "data-testid": "bubble" });
    renderContent(bubble, msg);
    const meta = el("div", { class: "meta" });
    const readEl = el("span", { class: "read", "data-testid": "read-count" }, readText(msg.readCount));
    meta.appendChild(readEl);
    meta.appendChild(el("span", { class: "time", "data-testid": "time" }, msg.hhmm));
    row.appendChild(bubble);
    row.appendChild(meta);
    wrap.appendChild(row);
    return { el: wrap, readEl };
  }

  function appendSegments(parent, msg, fallback) {
    const segments = msg.segments || [{ text: fallback || "" }];
    for (const seg of segments) {
      if (seg.mention !== undefined) parent.appendChild(el("span", { class: "mention" }, "@" + seg.mention));
      else parent.appendChild(document.createTextNode(seg.text));
    }
  }

  function renderContent(bubble, msg) {
    const c = msg.content || {};
    switch (c.type) {
      case "text":
        appendSegments(bubble, msg, c.text);
        break;
      case "button_template":
        appendSegments(bubble, msg, c.contentText);
        break;
      case "list_template":
        if (c.coverData && c.coverData.title) bubble.appendChild(el("div", { class: "sub" }, c.coverData.title));
        for (const item of c.elements || []) {
          bubble.appendChild(el("div", {}, item.title + (item.subtitle ? " — " + item.subtitle : "")));
        }
        break;
      case "carousel":
        for (const col of c.columns || []) {
          bubble.appendChild(el("div", {}, (col.title ? col.title + "：" : "") + col.text));
        }
        break;
      case "image": {
        const src = c.fileId ? "/_emulator/files/" + encodeURIComponent(c.fileId) : safeUrl(c.previewImageUrl || c.originalContentUrl);
        if (src) bubble.appendChild(el("img", { src, alt: "画像", "data-testid": "image" }));
        else bubble.textContent = "画像";
        break;
      }
      case "file": {
        const href = c.fileId ? "/_emulator/files/" + encodeURIComponent(c.fileId) + "?download=1" : safeUrl(c.originalContentUrl);
        const name = c.fileName || "ファイル";
        if (href) bubble.appendChild(el("a", { href, download: name, "data-testid": "file-link" }, "📎 " + name));
        else bubble.textContent = "📎 " + name;
        break;
      }
      case "link": {
        appendSegments(bubble, msg, c.contentText);
        const href = safeUrl(c.link);
        bubble.appendChild(document.createElement("br"));
        if (href) bubble.appendChild(el("a", { href, target: "_blank", rel: "noopener noreferrer" }, c.linkText));
        else bubble.appendChild(el("span", {}, c.linkText));
        break;
      }
      case "location":
        bubble.appendChild(el("div", { "data-testid": "location" }, "📍 " + (c.address || "位置情報")));
        bubble.appendChild(el("div", { class: "sub" }, "緯度 " + c.latitude + " / 経度 " + c.longitude));
        break;
      case "sticker":
        bubble.textContent = "（スタンプ）";
        break;
      case "flex":
        bubble.textContent = c.altText || "（フレックスメッセージ）";
        break;
      default:
        bubble.textContent = "（" + String(c.type) + " メッセージ）";
    }
    if (c.postback !== undefined && msg.sender !== "bot") bubble.title = "postback: " + c.postback;
    const actions = msg.actions || [];
    if (actions.length) {
      const box = el("div", { class: "buttons" });
      actions.forEach((action, index) => {
        const label = action.label || action.text || action.type;
        const button = el("button", { type: "button", "data-testid": "action-button", "data-index": String(index) }, label);
        button.addEventListener("click", () => tap(msg.seq, index, false, action));
        box.appendChild(button);
      });
      bubble.appendChild(box);
    }
  }

  function renderQuickReplies(quick) {
    const signature = quick ? quick.seq + ":" + JSON.stringify(quick.items) : "";
    if (signature === quickSignature) return;
    quickSignature = signature;
    quickReplies.replaceChildren();
    quickReplies.hidden = !quick;
    if (!quick) return;
    quick.items.forEach((action, index) => {
      const label = action.label || action.displayText || action.text || action.type;
      const chip = el("button", { type: "button", "data-testid": "quick-reply", "data-index": String(index) }, label);
      chip.addEventListener("click", () => tap(quick.seq, index, true, action));
      quickReplies.appendChild(chip);
    });
  }

  // --- acting ------------------------------------------------------------------------

  async function tap(seq, index, quickReply, action) {
    if (!current) return;
    if (action.type === "uri") {
      const href = safeUrl(action.uri);
      if (href) window.open(href, "_blank", "noopener");
      return;
    }
    if (action.type === "copy") {
      if (navigator.clipboard) navigator.clipboard.writeText(String(action.copyText || "")).catch(() => {});
      statusLine.textContent = "コピーしました";
      return;
    }
    try {
      await api("POST", "/_emulator/tap", {
        userId, channelId: current.channelId, seq, action: index, quickReply, wait: false,
      });
      showError(null);
      await refreshRoom();
    } catch (err) {
      showError(err);
    }
  }

  async function post(content) {
    if (!current || busy) return;
    busy = true;
    try {
      await api("POST", "/_emulator/act", { userId, channelId: current.channelId, content, wait: false });
      showError(null);
      await refreshRoom();
    } catch (err) {
      showError(err);
    } finally {
      busy = false;
    }
  }

  composer.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value;
    if (!text.trim()) return;
    input.value = "";
    post({ type: "text", text });
  });

  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      composer.requestSubmit();
    }
  });

  photoInput.addEventListener("change", async () => {
    const file = photoInput.files && photoInput.files[0];
    photoInput.value = "";
    if (!file || !current) return;
    try {
      const form = new FormData();
      form.append("file", file);
      const uploaded = await api("POST", "/_emulator/upload", form);
      const type = file.type.startsWith("image/") ? "image" : "file";
      await post({ type, fileId: uploaded.fileId });
    } catch (err) {
      showError(err);
    }
  });

  locationButton.addEventListener("click", () => post({ type: "location", ...SAMPLE_LOCATION }));

  userSelect.addEventListener("change", () => selectUser(userSelect.value));

  async function poll() {
    try {
      await refreshRoom();
      await refreshRooms();
    } catch (err) {
      showError(err);
    } finally {
      setTimeout(poll, POLL_MS);
    }
  }

  loadUsers().catch(showError).finally(() => setTimeout(poll, POLL_MS));
})();
