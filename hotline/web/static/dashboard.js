/* HQ dashboard: keep the incident page current without a reload.
 *
 * Polls the incident's JSON every few seconds and, when it changed, rebuilds the report
 * matrices and the chronology with the same markup the server renders
 * (templates/_dashboard_macros.html). Data only ever goes into the page through
 * textContent and attribute setters, never as HTML. The helpers come from common.js.
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

  function matrixTable(report) {
    var table = page.headedTable({ className: "matrix", "data-testid": "matrix-" + report.id },
      ["市町・氏名", "区分・役職", "配信", "既読", "確認"]);
    var body = el("tbody");
    var cellClasses = [["name", null], ["relation", null], ["delivered", "delivered-cell"],
      ["read", "read-cell"], ["ack", "ack-cell"]];
    report.matrix.rows.forEach(function (row) {
      var tr = el("tr", {
        className: row.classes.join(" "),
        "data-testid": row.testid,
        "data-group": row.group,
        "data-acknowledged": row.acknowledged ? "true" : "false"
      });
      row.cells.forEach(function (cell, i) {
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

  function reportSection(report) {
    var section = el("section", {
      className: "report", "data-testid": "report-" + report.id, "data-report-id": report.id
    });
    var title = el("h2", { className: "report-title" });
    title.appendChild(el("span", { className: "label" }, report.label));
    title.appendChild(document.createTextNode(" "));
    title.appendChild(el("span", { className: "poster" }, report.poster));
    title.appendChild(document.createTextNode(" "));
    title.appendChild(el("time", null, report.createdAt));
    section.appendChild(title);
    section.appendChild(el("p", { className: "report-text", "data-testid": "report-text" }, report.text));
    var summary = report.matrix.summary;
    var p = el("p", {
      className: "summary" + (summary.silent.length ? " has-silent" : ""),
      "data-testid": "summary-" + report.id
    }, summary.text);
    if (summary.silent.length) {
      p.appendChild(el("span", { className: "silent-list" }, "　未確認: " + summary.silent.join("、")));
    }
    section.appendChild(p);
    section.appendChild(matrixTable(report));
    return section;
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
    var reports = document.getElementById("reports");
    var sections = view.reports.filter(function (r) { return r.matrix; }).map(reportSection);
    if (!sections.length) {
      sections = [el("p", { className: "empty" }, "この災害には、まだ報告がありません。")];
    }
    reports.replaceChildren.apply(reports, sections);
    var box = document.getElementById("timeline-box");
    box.replaceChildren(timelineList(view.timeline));
  }

  page.poll(root, function (view) {
    // updatedAt changes on every answer; rebuild only when the data itself changed.
    view.updatedAt = "";
    var key = JSON.stringify(view);
    if (key !== lastBody) {
      lastBody = key;
      render(view);
    }
  }, false);
})();
