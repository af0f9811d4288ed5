/* sef-workflow: small enhancements after the GOV.UK Design System; every page works
   without them. No framework. */
(function () {
  "use strict";

  /* the error summary (or else a success banner) takes the focus when the page loads, so
     it is read out first; its links move to the field to fix and show its label */
  function focusOnLoad() {
    var first = document.querySelector("[data-focus-on-load]");
    if (first && document.activeElement !== first) {
      first.focus();
    }
  }

  function labelOf(input) {
    var fieldset = input.closest("fieldset");
    if (fieldset) {
      var legend = fieldset.querySelector("legend");
      if (legend) return legend;
    }
    return (input.labels && input.labels[0]) || input;
  }

  function linkErrorSummary() {
    var summary = document.querySelector(".error-summary");
    if (!summary) return;
    summary.addEventListener("click", function (event) {
      var link = event.target.closest("a[href^='#']");
      if (!link) return;
      var input = document.getElementById(link.getAttribute("href").slice(1));
      if (input && !/^(INPUT|SELECT|TEXTAREA|BUTTON)$/.test(input.tagName)) {
        input = input.querySelector("input, select, textarea") || input;  /* a group */
      }
      if (!input) return;
      event.preventDefault();
      history.pushState(null, "", link.getAttribute("href"));
      var details = input.closest("details");
      if (details) details.open = true;
      labelOf(input).scrollIntoView();
      input.focus({ preventScroll: true });
    });
  }

  /* on a narrow screen each table row is shown as a card: every cell is introduced by its
     column's heading (data-label), unless the heading is only for screen readers */
  function headingText(th) {
    var copy = th.cloneNode(true);
    copy.querySelectorAll(".visually-hidden").forEach(function (el) { el.remove(); });
    return copy.textContent.replace(/\s+/g, " ").trim();
  }

  function labelTableCells() {
    document.querySelectorAll("table.table").forEach(function (table) {
      var heads = Array.prototype.map.call(table.querySelectorAll("thead tr:last-child th"), headingText);
      table.querySelectorAll("tbody tr").forEach(function (row) {
        var column = 0;
        Array.prototype.forEach.call(row.children, function (cell) {
          var label = heads[column];
          if (label && !cell.hasAttribute("data-label")) cell.setAttribute("data-label", label);
          column += cell.colSpan || 1;
        });
      });
    });
  }

  function start() {
    labelTableCells();
    linkErrorSummary();
    focusOnLoad();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
