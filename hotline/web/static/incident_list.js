/* HQ dashboard: the incident list keeps itself current and makes a new 第一報 impossible to miss.
 *
 * Polls /dashboard/incidents.json (common.js's hotlinePage.poll) and rebuilds the table from
 * rows whose cell texts the server made final (the same ones the template renders). An
 * incident that was not on the page before is a new 第一報: its row is marked 新着, it is listed
 * in the alert box, and the tab's title starts with the number of unread ones, 「(2) 災害一覧 - …」,
 * until 「確認した（既読にする）」 is pressed.
 *
 * Two alerts need the user's consent, so each waits for a button press:
 * - a beep (Web Audio API, no sound file): browsers only let a page play sound after a gesture,
 *   so the button creates the AudioContext and plays one beep to show it works;
 * - a desktop notification (Notification API): the button asks for the permission; when it is
 *   granted already, notifications are on from the start.
 * Data only ever reaches the page through textContent and attribute setters, never as HTML.
 */
(function () {
  "use strict";

  var root = document.getElementById("incident-list");
  if (!root) {
    return;
  }
  var page = window.hotlinePage;
  var el = page.el;
  var baseTitle = document.title;
  var known = {}; // incident id -> true once it has been on this page
  var unread = []; // new incidents not yet marked read, oldest first
  var audio = null; // the AudioContext, once the user has turned the sound on
  var soundButton = document.getElementById("sound-button");
  var notifyButton = document.getElementById("notify-button");
  var COLUMNS = [
    ["ID", "id"], ["被災市町", null], ["最初の報告", "openedAt"], ["状態", null],
    ["報告数", "reportCount"], ["最新の報告", "latestText"], ["確認済みの市町", "ackText"]
  ];

  document.querySelectorAll("#incident-rows tr").forEach(function (tr) {
    known[tr.getAttribute("data-incident-id")] = true;
  });

  function isUnread(id) {
    return unread.some(function (item) { return item.id === id; });
  }

  function row(item) {
    var classes = "status-" + item.status + (item.silent ? " has-silent" : "") + (isUnread(item.id) ? " new" : "");
    var tr = el("tr", { className: classes, "data-testid": "incident-" + item.id, "data-incident-id": item.id });
    COLUMNS.forEach(function (column) {
      var td = el("td", { "data-label": column[0] });
      if (column[0] === "被災市町") {
        td.appendChild(el("a", { href: item.url, "data-testid": "incident-link" }, item.municipality));
        if (isUnread(item.id)) {
          td.appendChild(el("span", { className: "new-badge", "data-testid": "new-badge" }, "新着"));
        }
      } else if (column[0] === "状態") {
        td.appendChild(el("span", { className: "status " + item.status }, item.statusLabel));
      } else {
        td.textContent = String(item[column[1]]);
      }
      if (column[0] === "確認済みの市町") {
        td.setAttribute("data-testid", "ack-summary");
      }
      tr.appendChild(td);
    });
    return tr;
  }

  function showUnread() {
    var box = document.getElementById("new-reports");
    var list = document.getElementById("new-report-list");
    list.textContent = "";
    unread.forEach(function (item) {
      var li = el("li");
      li.appendChild(el("a", { href: item.url }, item.municipality));
      li.appendChild(document.createTextNode("　" + item.latestText));
      list.appendChild(li);
    });
    document.getElementById("unread-count").textContent = String(unread.length);
    box.hidden = unread.length === 0;
    document.title = unread.length ? "(" + unread.length + ") " + baseTitle : baseTitle;
  }

  function beep() {
    if (!audio) {
      return;
    }
    // Three short 880 Hz tones: an alarm, not a melody.
    [0, 0.25, 0.5].forEach(function (start) {
      var osc = audio.createOscillator();
      var gain = audio.createGain();
      var at = audio.currentTime + start;
      osc.frequency.value = 880;
      gain.gain.setValueAtTime(0.2, at);
      gain.gain.exponentialRampToValueAtTime(0.001, at + 0.18);
      osc.connect(gain).connect(audio.destination);
      osc.start(at);
      osc.stop(at + 0.2);
    });
    root.setAttribute("data-beeps", String((parseInt(root.getAttribute("data-beeps"), 10) || 0) + 1));
  }

  function notificationsOn() {
    return "Notification" in window && window.Notification.permission === "granted";
  }

  function notify(item) {
    if (!notificationsOn()) {
      return;
    }
    var shown = new window.Notification("新しい第一報: " + item.municipality, {
      body: item.latestText, tag: "hotline-incident-" + item.id
    });
    shown.onclick = function () {
      window.focus();
      window.location.href = item.url;
    };
  }

  function render(view) {
    var fresh = view.incidents.filter(function (item) { return !known[item.id]; });
    fresh.forEach(function (item) {
      known[item.id] = true;
      unread.push(item);
    });
    var body = document.getElementById("incident-rows");
    body.textContent = "";
    view.incidents.forEach(function (item) { body.appendChild(row(item)); });
    document.getElementById("incidents-box").hidden = view.incidents.length === 0;
    document.querySelector("[data-testid=no-incidents]").hidden = view.incidents.length !== 0;
    if (fresh.length) {
      showUnread();
      beep();
      fresh.forEach(notify);
    }
  }

  function setButton(button, on, text) {
    button.setAttribute("aria-pressed", on ? "true" : "false");
    button.textContent = text;
  }

  soundButton.addEventListener("click", function () {
    if (audio) {
      audio.close();
      audio = null;
      setButton(soundButton, false, "通知音を鳴らす");
      return;
    }
    var Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) {
      setButton(soundButton, false, "このブラウザーでは音を鳴らせません");
      return;
    }
    audio = new Context(); // created in the click: the browser lets it play
    setButton(soundButton, true, "通知音：オン（押すと止めます）");
    beep(); // the user hears what a new report will sound like
  });

  function showNotifyState() {
    if (!("Notification" in window)) {
      notifyButton.disabled = true;
      notifyButton.textContent = "このブラウザーはデスクトップ通知に対応していません";
    } else if (window.Notification.permission === "granted") {
      notifyButton.disabled = true;
      setButton(notifyButton, true, "デスクトップ通知：オン");
    } else if (window.Notification.permission === "denied") {
      notifyButton.disabled = true;
      setButton(notifyButton, false, "デスクトップ通知はブラウザーの設定で拒否されています");
    }
  }

  notifyButton.addEventListener("click", function () {
    var asked = window.Notification.requestPermission(showNotifyState);
    if (asked && asked.then) {
      asked.then(showNotifyState);
    }
  });

  document.getElementById("mark-read").addEventListener("click", function () {
    unread = [];
    showUnread();
    document.querySelectorAll("#incident-rows tr.new").forEach(function (tr) {
      tr.classList.remove("new");
      tr.querySelectorAll(".new-badge").forEach(function (badge) { badge.remove(); });
    });
  });

  showNotifyState();
  page.poll(root, render, true);
})();
