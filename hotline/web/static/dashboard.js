/* HQ dashboard: keep the incident page current without a reload.
 *
 * Polls the incident's JSON every few seconds and, when it changed, rebuilds the overview
 * (towns x reports), the latest report, the list of older reports and the chronology (its
 * latest entries) with the same markup the server renders (templates/_dashboard_macros.html).
 * An older report's matrix is fetched when its <details> is opened, and from then on comes
 * with every poll (`?open=<ids>`) until it is closed. Data only ever goes into the page
 * through textContent and attribute setters, never as HTML. The helpers come from common.js.
 */
(function () {
  "use strict";

  var root = document.getElementById("incident");
  if (!root) {
    return;
  }
  var page = window.hotlinePage;
  var el = page.el;
  var lastBody = null;
  var opened = {}; // older report id -> true while its details are open
  var matrices = {}; // older report id -> its latest matrix (from its own JSON or a poll)

  function reportUrl(id) {
    return root.getAttribute("data-report-url").replace(/0\.json$/, id + ".json");
  }

  function scroller(child) {
    var box = el("div", { className: "table-scroll" });
    box.appendChild(child);
    return box;
  }

  function matrixTable(report, matrix) {
    var heads = ["市町・氏名", "区分・役職", "配信", "既読", "確認"];
    var cellClasses = [["name", null], ["relation", null], ["delivered", "delivered-cell"],
      ["read", "read-cell"], ["ack", "ack-cell"]];
    if (matrix.mail) { // the report went by fallback mail to someone: which channel reached whom
      heads.push("メール");
      cellClasses.push(["mail", "mail-cell"]);
    }
    var table = page.headedTable({ className: "matrix", "data-testid": "matrix-" + report.id }, heads);
    var body = el("tbody");
    matrix.rows.forEach(function (row) {
      var tr = el("tr", {
        className: row.classes.join(" "),
        "data-testid": row.testid,
        "data-group": row.group,
        "data-acknowledged": row.acknowledged ? "true" : "false"
      });
      row.cells.slice(0, cellClasses.length).forEach(function (cell, i) {
        var attrs = { className: cellClasses[i][0] };
        if (cellClasses[i][1]) {
          attrs["data-testid"] = cellClasses[i][1];
        }
        tr.appendChild(el("td", attrs, cell));
      });
      body.appendChild(tr);
    });
    table.appendChild(body);
    return table;
  }

  function overviewTable(overview) {
    var table = el("table", { className: "overview", "data-testid": "overview-table" });
    var head = el("tr");
    head.appendChild(el("th", { className: "town" }, "市町"));
    overview.columns.forEach(function (col) {
      var th = el("th", {
        className: "report-col" + (col.latest ? " latest" : ""), "data-testid": "overview-col-" + col.id
      });
      th.appendChild(el("a", { href: "#report-" + col.id, "data-report-link": col.id }, col.label));
      th.appendChild(el("span", { className: "col-time" }, col.createdAt));
      th.appendChild(el("span", { className: "col-count", title: "確認済みの市町／確認が必要な市町" }, col.count));
      head.appendChild(th);
    });
    table.appendChild(el("thead")).appendChild(head);
    var body = el("tbody");
    overview.rows.forEach(function (row) {
      var tr = el("tr", { "data-testid": row.testid });
      tr.appendChild(el("th", { className: "town" }, row.name));
      row.cells.forEach(function (cell) {
        tr.appendChild(el("td", { className: "state " + cell.state }, cell.text));
      });
      body.appendChild(tr);
    });
    table.appendChild(body);
    return table;
  }

  function reportHeader(parent, report) {
    var title = el("h2", { className: "report-title" });
    title.appendChild(el("span", { className: "label" }, report.label));
    title.appendChild(document.createTextNode(" "));
    title.appendChild(el("span", { className: "poster" }, report.poster));
    title.appendChild(document.createTextNode(" "));
    title.appendChild(el("time", null, report.createdAt));
    parent.appendChild(title);
    parent.appendChild(el("p", { className: "report-text", "data-testid": "report-text" }, report.text));
  }

  function reportSummary(report) {
    var summary = report.summary;
    var p = el("p", {
      className: "summary" + (summary.silent.length ? " has-silent" : ""),
      "data-testid": "summary-" + report.id
    }, summary.text);
    if (summary.silent.length) {
      p.appendChild(el("span", { className: "silent-list" }, "　未確認: " + summary.silent.join("、")));
    }
    return p;
  }

  function latestSection(report) {
    var section = el("section", {
      className: "report latest", id: "report-" + report.id,
      "data-testid": "report-" + report.id, "data-report-id": report.id
    });
    section.appendChild(el("p", { className: "kicker" }, "最新の報告"));
    reportHeader(section, report);
    section.appendChild(reportSummary(report));
    section.appendChild(scroller(matrixTable(report, report.matrix)));
    return section;
  }

  function matrixBox(report) {
    var matrix = report.matrix || matrices[report.id];
    var box = el("div", { className: "table-scroll matrix-box", "data-testid": "matrix-box-" + report.id });
    box.appendChild(matrix ? matrixTable(report, matrix) : el("p", { className: "loading" }, "読み込み中…"));
    return box;
  }

  function olderReport(report) {
    var details = el("details", {
      className: "report older", id: "report-" + report.id,
      "data-testid": "report-" + report.id, "data-report-id": report.id
    });
    var summary = el("summary", { "data-testid": "open-report-" + report.id });
    summary.appendChild(el("span", { className: "label" }, report.label));
    summary.appendChild(document.createTextNode(" "));
    summary.appendChild(el("span", { className: "poster" }, report.poster));
    summary.appendChild(document.createTextNode(" "));
    summary.appendChild(el("time", null, report.createdAt));
    summary.appendChild(document.createTextNode(" "));
    summary.appendChild(el("span", { className: "summary-line" }, report.summary.text));
    details.appendChild(summary);
    details.appendChild(el("p", { className: "report-text", "data-testid": "report-text" }, report.text));
    details.appendChild(reportSummary(report));
    details.appendChild(matrixBox(report));
    details.open = !!opened[report.id];
    return details;
  }

  function timelineList(entries) {
    var list = el("ol", { className: "timeline", "data-testid": "timeline" });
    entries.forEach(function (e) {
      var li = el("li", { className: "entry kind-" + e.kind, "data-testid": "timeline-entry", "data-kind": e.kind });
      li.appendChild(el("time", null, e.at));
      li.appendChild(document.createTextNode(" "));
      li.appendChild(el("span", { className: "kind" }, e.kindLabel));
      li.appendChild(document.createTextNode(" "));
      li.appendChild(el("span", { className: "title" }, e.title));
      li.appendChild(document.createTextNode(" "));
      li.appendChild(el("span", { className: "detail" }, e.detail));
      list.appendChild(li);
    });
    if (!entries.length) {
      list.appendChild(el("li", { className: "empty" }, "記録はまだありません。"));
    }
    return list;
  }

  function render(view) {
    var status = document.getElementById("incident-status");
    status.textContent = view.incident.statusLabel;
    status.className = "status " + view.incident.status;
    var overview = root.querySelector("[data-testid=overview]");
    overview.hidden = !view.latest;
    document.getElementById("overview-box").replaceChildren(overviewTable(view.overview));
    var latest = document.getElementById("latest-box");
    if (view.latest) {
      latest.replaceChildren(latestSection(view.latest));
    } else {
      latest.replaceChildren(el("p", { className: "empty" }, "この災害には、まだ報告がありません。"));
    }
    view.older.forEach(function (report) {
      if (report.matrix) {
        matrices[report.id] = report.matrix;
      }
    });
    document.getElementById("older-section").hidden = !view.older.length;
    document.getElementById("older-count").textContent = view.older.length;
    var older = document.getElementById("older-reports");
    older.replaceChildren.apply(older, view.older.map(olderReport));
    document.getElementById("timeline-box").replaceChildren(timelineList(view.timeline));
    document.getElementById("timeline-note").hidden = view.timelineTotal <= view.timeline.length;
    document.getElementById("timeline-shown").textContent = view.timeline.length;
    document.getElementById("timeline-total").textContent = view.timelineTotal;
  }

  /* An older report was opened: show what we have, fetch its matrix, and from now on ask
   * for it with every poll. */
  function load(details) {
    var id = details.getAttribute("data-report-id");
    page.getJson(reportUrl(id)).then(function (answer) {
      matrices[id] = answer.report.matrix;
      var current = document.getElementById("report-" + id);
      if (current && current.open) {
        current.replaceChild(matrixBox(answer.report), current.querySelector(".matrix-box"));
      }
    }).catch(function () {
      var current = document.getElementById("report-" + id);
      var box = current && current.querySelector(".matrix-box");
      if (box && !matrices[id]) {
        box.replaceChildren(el("p", { className: "loading bad" }, "読み込めませんでした。閉じて開き直してください。"));
      }
    });
  }

  var olderList = document.getElementById("older-reports");
  // toggle does not bubble: listen while it goes down (capture)
  olderList.addEventListener("toggle", function (event) {
    var details = event.target;
    if (!details.matches || !details.matches("details.older")) {
      return;
    }
    var id = details.getAttribute("data-report-id");
    if (!details.open) {
      delete opened[id];
    } else if (!opened[id]) { // opened by a person (a rebuild keeps open ones open quietly)
      opened[id] = true;
      load(details);
    }
  }, true);

  /* The overview's report names lead to the report: an older one opens. */
  function reveal(id) {
    var target = document.getElementById("report-" + id);
    if (target && target.tagName === "DETAILS") {
      target.open = true;
    }
  }
  root.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a[data-report-link]");
    if (link) {
      reveal(link.getAttribute("data-report-link"));
    }
  });
  if (/^#report-\d+$/.test(window.location.hash)) {
    reveal(window.location.hash.slice("#report-".length));
  }

  page.poll(root, function (view) {
    // updatedAt changes on every answer; rebuild only when the data itself changed.
    view.updatedAt = "";
    var key = JSON.stringify(view);
    if (key !== lastBody) {
      lastBody = key;
      render(view);
    }
  }, false, function () {
    var ids = Object.keys(opened);
    return ids.length ? "open=" + ids.join(",") : "";
  });
})();
