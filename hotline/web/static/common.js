/* What every dashboard page shares (dashboard_base.html loads it on every page, before
 * dashboard.js or drills.js):
 *
 * - hotlinePage.el / .svg: build an HTML or SVG element with attributes and text;
 * - hotlinePage.headedTable: a table with its header row;
 * - hotlinePage.poll: keep a live page current from its JSON (the incident and drill pages);
 * - hotlinePage.getJson: fetch one JSON document of the page (an incident's older report);
 * - buttons whose form has data-confirm ask first (中止, 無効にする, ルームの作成…);
 * - 「すべて選択」/「選択を解除」 buttons (data-check-all / data-check-none).
 *
 * Data only ever reaches the page through textContent and attribute setters, never as HTML.
 */
(function () {
  "use strict";

  var SVG_NS = "http://www.w3.org/2000/svg";
  var JSON_REQUEST = { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } };

  function setAttrs(node, attrs) {
    if (!attrs) {
      return;
    }
    Object.keys(attrs).forEach(function (name) {
      if (name === "className" && !(node instanceof SVGElement)) {
        node.className = attrs[name];
      } else {
        node.setAttribute(name === "className" ? "class" : name, String(attrs[name]));
      }
    });
  }

  function filled(node, attrs, text) {
    setAttrs(node, attrs);
    if (text !== undefined && text !== null) {
      node.textContent = String(text);
    }
    return node;
  }

  function el(tag, attrs, text) {
    return filled(document.createElement(tag), attrs, text);
  }

  function svg(tag, attrs, text) {
    return filled(document.createElementNS(SVG_NS, tag), attrs, text);
  }

  /* A table with `attrs` whose head is one row of `titles`; the caller adds the body. */
  function headedTable(attrs, titles) {
    var table = el("table", attrs);
    var head = el("tr");
    titles.forEach(function (title) {
      head.appendChild(el("th", null, title));
    });
    table.appendChild(el("thead")).appendChild(head);
    return table;
  }

  function setLiveStatus(text, bad) {
    var node = document.getElementById("live-status");
    node.textContent = text;
    node.className = "live-status" + (bad ? " bad" : "");
  }

  /* Ask root's data-json-url every data-poll-ms (a live page's own JSON), show its updatedAt
   * in #updated-at and hand the view to render(view); the state goes to #live-status. The
   * first request goes out now when `now` is true, else after one interval (the server has
   * just rendered the page). `query`, when given, is asked before every request for a query
   * string to add (what the page shows at that moment). A 401 (the session ended) stops the
   * polling. */
  function poll(root, render, now, query) {
    var url = root.getAttribute("data-json-url");
    var interval = parseInt(root.getAttribute("data-poll-ms"), 10) || 2500;
    var timer = null;

    function schedule() {
      clearTimeout(timer);
      timer = setTimeout(ask, interval);
    }

    function ask() {
      var extra = query ? query() : "";
      fetch(extra ? url + "?" + extra : url, JSON_REQUEST)
        .then(function (response) {
          if (response.status === 401) {
            setLiveStatus("ログインの有効期限が切れました。ページを開き直してください。", true);
            return null;
          }
          if (!response.ok) {
            throw new Error("HTTP " + response.status);
          }
          return response.json();
        })
        .then(function (view) {
          if (view === null) {
            return;
          }
          document.getElementById("updated-at").textContent = view.updatedAt;
          render(view);
          setLiveStatus("自動更新中", false);
          schedule();
        })
        .catch(function () {
          setLiveStatus("更新できません（再試行中）", true);
          schedule();
        });
    }

    if (now) {
      ask();
    } else {
      schedule();
    }
  }

  /* GET a JSON document of the page's own (same session); resolves to the parsed body,
   * rejects on any non-2xx answer. */
  function getJson(url) {
    return fetch(url, JSON_REQUEST)
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.json();
      });
  }

  // -- confirmations and the form helpers ------------------------------------------------------

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var message = form && form.getAttribute && form.getAttribute("data-confirm");
    if (message && !window.confirm(message)) {
      event.preventDefault();
    }
  });

  function checkAll(button, value) {
    var box = document.getElementById(button.getAttribute(value ? "data-check-all" : "data-check-none"));
    if (!box) {
      return;
    }
    box.querySelectorAll("input[type=checkbox]").forEach(function (input) {
      input.checked = value;
    });
  }

  document.querySelectorAll("[data-check-all]").forEach(function (button) {
    button.addEventListener("click", function () { checkAll(button, true); });
  });
  document.querySelectorAll("[data-check-none]").forEach(function (button) {
    button.addEventListener("click", function () { checkAll(button, false); });
  });

  window.hotlinePage = { el: el, svg: svg, headedTable: headedTable, poll: poll, getJson: getJson };
})();
