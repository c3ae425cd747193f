/* Drill coordinator pages (the confirmations and the check-all buttons are common.js's).
 *
 * - The drill page polls its JSON every few seconds and rebuilds the live sections with the
 *   same markup the server renders (templates/drill_macros.html), then draws the answer-rate
 *   chart as inline SVG from the run's answer curve.
 * - The history page draws its chart from the data-* attributes of the table beneath it.
 *
 * Data only ever reaches the page through textContent and attribute setters, never as HTML;
 * the helpers that build elements come from common.js.
 */
(function () {
  "use strict";

  var page = window.hotlinePage;
  var el = page.el;
  var svg = page.svg;

  // -- charts ----------------------------------------------------------------------------------

  var NICE = [1, 2, 5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 240, 360, 480, 720, 1080, 1440];

  function niceCeil(value) {
    for (var i = 0; i < NICE.length; i++) {
      if (NICE[i] >= value) {
        return NICE[i];
      }
    }
    return Math.ceil(value / 60) * 60;
  }

  function formatNumber(value) {
    return (Math.round(value * 100) / 100).toString();
  }

  /* A round step for about 4-6 ticks between 0 and max. */
  function tickStep(max) {
    var steps = [1, 2, 5, 10, 15, 30, 60, 120, 180, 360];  // whole minutes only
    for (var i = 0; i < steps.length; i++) {
      if (max / steps[i] <= 6) {
        return steps[i];
      }
    }
    return Math.ceil(max / 6 / 60) * 60;
  }

  /* Answer rate over time as a step line: x in minutes since the run fired, y in %. */
  function answerChart(live) {
    var W = 640, H = 260, L = 56, R = 20, T = 16, B = 44;
    var curve = live.curve.length ? live.curve : [{ minutes: 0, rate: 0 }];
    var last = curve[curve.length - 1];
    var until = live.elapsedMinutes === null ? last.minutes : Math.max(last.minutes, live.elapsedMinutes);
    var xmax = niceCeil(Math.max(until, 1));
    var answered = curve.length - 1;
    var chart = svg("svg", {
      viewBox: "0 0 " + W + " " + H,
      className: "answer-chart",
      role: "img",
      "aria-label": "回答率の推移（現在 " + Math.round(last.rate * 100) + "%）",
      "data-testid": "answer-chart-svg",
      "data-points": answered
    });
    function x(minutes) { return L + (W - L - R) * Math.min(minutes, xmax) / xmax; }
    function y(rate) { return T + (H - T - B) * (1 - rate); }

    [0, 0.25, 0.5, 0.75, 1].forEach(function (rate) {
      chart.appendChild(svg("line", { x1: L, x2: W - R, y1: y(rate), y2: y(rate), className: "grid" }));
      chart.appendChild(svg("text", { x: L - 6, y: y(rate) + 4, className: "tick y" }, Math.round(rate * 100) + "%"));
    });
    var step = tickStep(xmax);
    for (var minutes = 0; minutes <= xmax + 1e-9; minutes += step) {
      chart.appendChild(svg("line", { x1: x(minutes), x2: x(minutes), y1: H - B, y2: H - B + 4, className: "axis" }));
      chart.appendChild(svg("text", { x: x(minutes), y: H - B + 16, className: "tick x" }, formatNumber(minutes)));
    }
    chart.appendChild(svg("line", { x1: L, x2: W - R, y1: H - B, y2: H - B, className: "axis" }));
    chart.appendChild(svg("line", { x1: L, x2: L, y1: T, y2: H - B, className: "axis" }));
    chart.appendChild(svg("text", { x: (L + W - R) / 2, y: H - 6, className: "axis-title" }, "経過時間（分）"));
    chart.appendChild(svg("text", {
      x: 14, y: (T + H - B) / 2, className: "axis-title",
      transform: "rotate(-90 14 " + (T + H - B) / 2 + ")"
    }, "回答率（%）"));
    if (live.deadlineMinutes <= xmax) {
      chart.appendChild(svg("line", {
        x1: x(live.deadlineMinutes), x2: x(live.deadlineMinutes), y1: T, y2: H - B, className: "deadline"
      }));
      chart.appendChild(svg("text", { x: x(live.deadlineMinutes) - 4, y: T + 12, className: "deadline-label" }, "締め切り"));
    }

    var d = "M" + x(0) + " " + y(0);
    curve.forEach(function (point, index) {
      if (index > 0) {
        d += " H" + x(point.minutes) + " V" + y(point.rate);
      }
    });
    d += " H" + x(until);
    chart.appendChild(svg("path", { d: d, className: "curve" }));
    curve.forEach(function (point, index) {
      if (index === 0) {
        return;
      }
      var dot = svg("circle", {
        cx: x(point.minutes), cy: y(point.rate), r: 4, className: "point", "data-testid": "chart-point"
      });
      var seconds = Math.round(point.minutes * 60);
      dot.appendChild(svg("title", null, Math.floor(seconds / 60) + "分" + (seconds % 60) + "秒 " +
        Math.round(point.rate * 100) + "%"));
      chart.appendChild(dot);
    });
    return chart;
  }

  /* Closed runs side by side: answer rate as bars (left axis, %), the median minutes to answer
   * as a line (right axis, minutes). */
  function historyChart(rows) {
    var n = rows.length;
    var L = 56, R = 56, T = 16, B = 48, H = 280;
    var step = 56;
    var W = Math.max(640, L + R + n * step);
    step = (W - L - R) / n;
    var medians = rows.map(function (r) { return r.median; }).filter(function (m) { return m !== null; });
    var mmax = [1, 2, 4, 8, 12, 20, 40, 60, 120, 240, 480, 1440].find(function (m) {
      return m >= Math.max.apply(null, medians.concat([1]));
    }) || 1440;
    var chart = svg("svg", {
      viewBox: "0 0 " + W + " " + H,
      className: "history-chart",
      role: "img",
      "aria-label": "回ごとの回答率と回答までの時間の中央値",
      "data-testid": "history-chart-svg"
    });
    function cx(i) { return L + step * (i + 0.5); }
    function yRate(rate) { return T + (H - T - B) * (1 - rate); }
    function yMin(m) { return T + (H - T - B) * (1 - m / mmax); }

    [0, 0.25, 0.5, 0.75, 1].forEach(function (f) {
      chart.appendChild(svg("line", { x1: L, x2: W - R, y1: yRate(f), y2: yRate(f), className: "grid" }));
      chart.appendChild(svg("text", { x: L - 6, y: yRate(f) + 4, className: "tick y" }, Math.round(f * 100) + "%"));
      chart.appendChild(svg("text", { x: W - R + 6, y: yRate(f) + 4, className: "tick y2" }, formatNumber(mmax * f) + "分"));
    });
    chart.appendChild(svg("line", { x1: L, x2: W - R, y1: H - B, y2: H - B, className: "axis" }));
    chart.appendChild(svg("line", { x1: L, x2: L, y1: T, y2: H - B, className: "axis" }));
    chart.appendChild(svg("line", { x1: W - R, x2: W - R, y1: T, y2: H - B, className: "axis" }));
    chart.appendChild(svg("text", {
      x: 14, y: (T + H - B) / 2, className: "axis-title",
      transform: "rotate(-90 14 " + (T + H - B) / 2 + ")"
    }, "回答率（%）"));
    chart.appendChild(svg("text", {
      x: W - 10, y: (T + H - B) / 2, className: "axis-title",
      transform: "rotate(90 " + (W - 10) + " " + (T + H - B) / 2 + ")"
    }, "中央値（分）"));

    var d = "";
    rows.forEach(function (row, i) {
      var width = Math.min(32, step * 0.6);
      var bar = svg("rect", {
        x: cx(i) - width / 2, y: yRate(row.rate), width: width, height: Math.max(0, H - B - yRate(row.rate)),
        className: "bar kind-" + row.kind, "data-testid": "history-bar"
      });
      bar.appendChild(svg("title", null, row.title + " 回答率 " + Math.round(row.rate * 100) + "%"));
      chart.appendChild(bar);
      chart.appendChild(svg("text", { x: cx(i), y: H - B + 16, className: "tick x" }, row.label));
      if (row.median !== null) {
        d += (d ? " L" : "M") + cx(i) + " " + yMin(row.median);
      }
    });
    if (d) {
      chart.appendChild(svg("path", { d: d, className: "median-line" }));
    }
    rows.forEach(function (row, i) {
      if (row.median === null) {
        return;
      }
      var dot = svg("circle", { cx: cx(i), cy: yMin(row.median), r: 4, className: "median-point" });
      dot.appendChild(svg("title", null, row.title + " 中央値 " + formatNumber(row.median) + "分"));
      chart.appendChild(dot);
    });
    var legend = svg("g", { className: "legend" });
    legend.appendChild(svg("rect", { x: L, y: H - 18, width: 12, height: 12, className: "bar" }));
    legend.appendChild(svg("text", { x: L + 16, y: H - 8 }, "回答率"));
    legend.appendChild(svg("line", { x1: L + 80, x2: L + 100, y1: H - 12, y2: H - 12, className: "median-line" }));
    legend.appendChild(svg("text", { x: L + 104, y: H - 8 }, "回答までの時間の中央値"));
    chart.appendChild(legend);
    return chart;
  }

  // -- the history page --------------------------------------------------------------------------

  var historyBox = document.getElementById("history-chart");
  if (historyBox) {
    var rows = [];
    document.querySelectorAll("#history-table tr[data-run-id]").forEach(function (tr) {
      var median = tr.getAttribute("data-median");
      rows.push({
        label: tr.getAttribute("data-label"),
        title: tr.getAttribute("data-title"),
        kind: tr.className.replace("kind-", ""),
        rate: parseFloat(tr.getAttribute("data-rate")) || 0,
        median: median === "" ? null : parseFloat(median)
      });
    });
    if (rows.length) {
      historyBox.replaceChildren(historyChart(rows));
    }
  }

  // -- the drill page ----------------------------------------------------------------------------

  var root = document.getElementById("drill");
  if (!root) {
    return;
  }
  var lastState = null;
  var lastLive = null;
  var lastRuns = null;

  function postForm(action, testid, label, className, confirmText, fields) {
    var form = el("form", { method: "post", action: action, "data-confirm": confirmText });
    form.appendChild(el("input", { type: "hidden", name: "csrf_token", value: root.getAttribute("data-csrf") }));
    Object.keys(fields || {}).forEach(function (name) {
      form.appendChild(el("input", { type: "hidden", name: name, value: fields[name] }));
    });
    form.appendChild(el("button", { type: "submit", className: className, "data-testid": testid }, label));
    return form;
  }

  function actions(view) {
    var a = view.actions;
    var nodes = [];
    if (a.abortRunId) {
      nodes.push(postForm(root.getAttribute("data-abort-url"), "abort-button", "中止", "danger",
        a.abortConfirm, { run_id: a.abortRunId }));
    }
    if (a.cancel) {
      nodes.push(postForm(root.getAttribute("data-cancel-url"), "cancel-button", "予定の取り消し", "",
        a.cancelConfirm));
    }
    if (a.fire) {
      nodes.push(postForm(root.getAttribute("data-fire-url"), "fire-button", "今すぐ実施",
        view.drill.kind === "real" ? "danger" : "primary", a.fireConfirm));
    }
    return nodes;
  }

  /* A heading with its count and a list of people (代理回答, メールで送った質問, メールで回答),
   * as templates/drill_macros.html renders them; nothing when the list is empty. */
  function peopleList(parent, title, name, items, text) {
    if (!items.length) {
      return;
    }
    var h3 = el("h3", null, title);
    h3.appendChild(el("span", { "data-testid": name + "-count" }, items.length + "人"));
    parent.appendChild(h3);
    var list = el("ul", { className: name, "data-testid": name + "-list" });
    items.forEach(function (item) {
      list.appendChild(el("li", { "data-testid": name + "-person" }, text(item)));
    });
    parent.appendChild(list);
  }

  function liveRun(live, view) {
    var section = el("section", {
      className: "live-run run-" + live.status, "data-testid": "live-run", "data-run-id": live.runId
    });
    var h2 = el("h2", null, "実施 ");
    h2.appendChild(el("time", null, live.firedAt));
    h2.appendChild(document.createTextNode(" "));
    h2.appendChild(el("span", { className: "status run-" + live.status, "data-testid": "run-status" }, live.statusLabel));
    h2.appendChild(document.createTextNode(" "));
    h2.appendChild(el("span", { className: "deadline" }, "締め切り " + live.deadlineAt));
    section.appendChild(h2);

    var kpis = el("div", { className: "kpis" });
    [["回答", live.rateText, "answer-rate"], ["回答までの時間（中央値）", live.median, "median"],
      ["締め切り後の回答", live.lateAnswers + "件", "late-answers"]].forEach(function (kpi) {
      var p = el("p", { className: "kpi" });
      p.appendChild(el("span", { className: "kpi-label" }, kpi[0]));
      p.appendChild(el("span", { className: "kpi-value", "data-testid": kpi[2] }, kpi[1]));
      kpis.appendChild(p);
    });
    section.appendChild(kpis);

    var figure = el("figure", { className: "chart" });
    figure.appendChild(el("figcaption", null, "回答率の推移（開始からの経過時間）"));
    figure.appendChild(el("div", { className: "chart-box", id: "answer-chart", "data-testid": "answer-chart" }));
    section.appendChild(figure);

    var grid = el("div", { className: "live-grid" });
    var left = el("div");
    left.appendChild(el("h3", null, "安否"));
    var safety = el("ul", { className: "safety", "data-testid": "safety" });
    live.safety.forEach(function (item, i) {
      var li = el("li", { className: "safety-" + (i + 1), "data-testid": "safety-" + (i + 1) });
      li.appendChild(el("span", { className: "safety-label" }, item.label));
      li.appendChild(document.createTextNode(" "));
      li.appendChild(el("b", null, item.count));
      li.appendChild(document.createTextNode("人"));
      safety.appendChild(li);
    });
    left.appendChild(safety);
    var h3 = el("h3", null, "未回答 ");
    h3.appendChild(el("span", { "data-testid": "silent-count" }, live.silent.length + "人"));
    left.appendChild(h3);
    var silent = el("ul", { className: "silent", "data-testid": "silent-list" });
    live.silent.forEach(function (name) {
      silent.appendChild(el("li", { "data-testid": "silent-person" }, name));
    });
    if (!live.silent.length) {
      silent.appendChild(el("li", { className: "empty" },
        live.undelivered.length ? "未達の人のほかは全員が回答しました。" : "全員が回答しました。"));
    }
    left.appendChild(silent);
    if (live.undelivered.length) {
      var h3u = el("h3", null, "未達（質問が届いていません） ");
      h3u.appendChild(el("span", { "data-testid": "undelivered-count" }, live.undelivered.length + "人"));
      left.appendChild(h3u);
      var lost = el("ul", { className: "undelivered", "data-testid": "undelivered-list" });
      live.undelivered.forEach(function (person) {
        var li = el("li", { "data-testid": "undelivered-person" });
        li.appendChild(el("span", { className: "name" }, person.name));
        li.appendChild(document.createTextNode(" "));
        li.appendChild(el("span", { className: "reason" }, "（" + person.reason + "）"));
        if (view.actions.resend) {
          var form = postForm(root.getAttribute("data-resend-url"), "resend-button", "再送", "small",
            view.actions.resendConfirm, { run_id: live.runId, member_key: person.key });
          form.className = "inline";
          li.appendChild(form);
        }
        lost.appendChild(li);
      });
      left.appendChild(lost);
    }
    // 代理回答, then which channel reached whom: the question's fallback mails, answers by mail
    peopleList(left, "代理回答 ", "proxied", live.proxied, function (p) {
      return p.name + "（" + p.by + " が代理で記録）";
    });
    peopleList(left, "メールで送った質問 ", "mailed", live.mailed, function (p) {
      return p.name + "（" + p.status + "）";
    });
    peopleList(left, "メールで回答 ", "by-mail", live.byMail, function (name) {
      return name;
    });
    grid.appendChild(left);

    var right = el("div");
    right.appendChild(el("h3", null, "市町別の参集見込み（人数）"));
    var table = page.headedTable({ className: "forecast", "data-testid": "forecast" },
      ["市町", "回答/対象", "+30分", "+1時間", "+3時間", "参集不可"]);
    var body = el("tbody");
    live.forecast.forEach(function (town) {
      var tr = el("tr", { "data-testid": "forecast-" + town.code });
      tr.appendChild(el("td", null, town.name));
      town.cells.forEach(function (cell) { tr.appendChild(el("td", null, cell)); });
      body.appendChild(tr);
    });
    table.appendChild(body);
    var total = el("tr", { "data-testid": "forecast-total" });
    total.appendChild(el("th", null, "合計"));
    live.forecastTotal.forEach(function (cell) { total.appendChild(el("td", null, cell)); });
    table.appendChild(el("tfoot")).appendChild(total);
    right.appendChild(table);
    right.appendChild(el("p", { className: "hint" },
      "+30分 / +1時間 / +3時間 は、その時間までに参集できる人数（累計）です。"));
    grid.appendChild(right);
    section.appendChild(grid);

    var links = el("p", { className: "actions" });
    links.appendChild(el("a", { href: live.csvUrl, "data-testid": "csv-link" }, "この回の回答をCSVで保存"));
    section.appendChild(links);
    return section;
  }

  function runsTable(runs) {
    var table = page.headedTable({ className: "runs", "data-testid": "runs" },
      ["実施日時", "状態", "締め切り", "回答", "回答までの時間（中央値）", "CSV"]);
    var body = el("tbody");
    runs.forEach(function (run) {
      var tr = el("tr", { "data-testid": "run-" + run.id, className: "run-" + run.status });
      [run.firedAt, run.statusLabel, run.deadlineAt, run.rate, run.median].forEach(function (cell) {
        tr.appendChild(el("td", null, cell));
      });
      var csv = el("td");
      if (run.csvUrl) {
        csv.appendChild(el("a", { href: run.csvUrl }, "CSV"));
      }
      tr.appendChild(csv);
      body.appendChild(tr);
    });
    if (!runs.length) {
      var empty = el("tr");
      empty.appendChild(el("td", { colspan: 6, className: "empty" }, "まだ実施していません。"));
      body.appendChild(empty);
    }
    table.appendChild(body);
    return table;
  }

  function render(view) {
    document.getElementById("drill-schedule").textContent = view.drill.schedule;
    var status = document.getElementById("drill-status");
    status.textContent = view.drill.statusLabel;
    status.className = "status drill-" + view.drill.status;

    var state = JSON.stringify([view.drill.status, view.actions]);
    if (state !== lastState) {
      lastState = state;
      var box = document.getElementById("drill-actions");
      box.replaceChildren.apply(box, actions(view));
    }
    var runs = JSON.stringify(view.runs);
    if (runs !== lastRuns) {
      lastRuns = runs;
      document.getElementById("runs-box").replaceChildren(runsTable(view.runs));
    }
    var liveBox = document.getElementById("live-box");
    if (!view.live) {
      if (lastLive !== "none") {
        lastLive = "none";
        liveBox.replaceChildren(el("p", { className: "empty", "data-testid": "no-run" },
          "まだ実施していません。実施すると、ここに回答状況が表示されます。"));
      }
      return;
    }
    // elapsedMinutes moves on every poll; rebuild the tables only when the answers changed.
    var live = JSON.stringify([Object.assign({}, view.live, { elapsedMinutes: null }), view.actions.resend]);
    if (live !== lastLive) {
      lastLive = live;
      liveBox.replaceChildren(liveRun(view.live, view));
    }
    document.getElementById("answer-chart").replaceChildren(answerChart(view.live));
  }

  page.poll(root, render, true);  // the answer chart is drawn only here: ask at once
})();
