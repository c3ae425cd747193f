/* An HQ instruction's page (instruction_page.html) kept current while it is open: each town's
 * state, the answers and the rooms, from the page's JSON (hotlinePage.poll), so HQ sees towns
 * acknowledge without reloading. Data reaches the page through textContent only.
 * On the form (instruction_new.html), the send button is disabled once pressed: a second
 * press sends nothing anyway (the form's one-time id), this only spares the wait. */
(function () {
  "use strict";

  var form = document.querySelector("[data-testid=instruction-form]");
  if (form) {
    form.addEventListener("submit", function () {
      var button = form.querySelector("[data-testid=send-button]");
      button.disabled = true;
      button.textContent = "送信中…";
    });
  }

  var page = window.hotlinePage;
  var el = page.el;
  var root = document.getElementById("instruction");
  if (!root) {
    return;
  }

  function fill(node, children) {
    while (node.firstChild) {
      node.removeChild(node.firstChild);
    }
    children.forEach(function (child) {
      node.appendChild(child);
    });
  }

  function townRow(t) {
    var row = el("tr", { "data-testid": "town-" + t.code });
    row.appendChild(el("th", { className: "town" }, t.name));
    row.appendChild(el("td", { className: "state " + t.state, "data-testid": "state" },
      t.stateLabel + (t.failure ? "（" + t.failure + "）" : "")));
    row.appendChild(el("td", null, t.firstAckAt + (t.minutes ? "（" + t.minutes + "）" : "")));
    row.appendChild(el("td", null, t.who));
    row.appendChild(el("td", null, t.answers + "件"));
    return row;
  }

  function answerItem(a) {
    var item = el("li", { "data-testid": "answer-" + a.id });
    item.appendChild(el("strong", null, a.town));
    item.appendChild(document.createTextNode(" " + a.who + "（" + a.at + "・" + a.label + "）"));
    if (a.incidentUrl) {
      item.appendChild(document.createTextNode(" "));
      item.appendChild(el("a", { href: a.incidentUrl }, "災害の記録へ"));
    }
    item.appendChild(el("p", { className: "report-text" }, a.text));
    return item;
  }

  function roomRow(d) {
    var row = el("tr");
    [d.room, d.status, d.at, d.error].forEach(function (value) {
      row.appendChild(el("td", null, value));
    });
    return row;
  }

  function render(view) {
    document.getElementById("instruction-count").textContent = view.count;
    fill(document.getElementById("instruction-towns-body"), view.towns.map(townRow));
    var answers;
    if (view.answers.length) {
      answers = el("ul", { className: "answers", "data-testid": "answers" });
      view.answers.forEach(function (a) {
        answers.appendChild(answerItem(a));
      });
    } else {
      answers = el("p", { className: "empty", "data-testid": "no-answers" }, "まだ回答はありません。");
    }
    fill(document.getElementById("answers-box"), [answers]);
    fill(document.getElementById("instruction-rooms-body"), view.deliveries.map(roomRow));
  }

  page.poll(root, render, false);
})();
