/* The home page's catalog filters (overrides/hooks/catalog.py writes the catalog and the form, hidden; this
   shows the form and hides the tutorials that do not match). No requests, no inline code: loaded as a file,
   so it runs under a Content-Security-Policy without 'unsafe-inline'. */
(function () {
  "use strict";

  function matches(item, filters) {
    var platform = filters.platform, gpus = filters.gpus, time = filters.time;
    if (platform && item.dataset.platform !== platform && item.dataset.platform !== "both") return false;
    if (gpus) {
      var n = Number(item.dataset.gpus), nodes = Number(item.dataset.nodes);
      if (gpus === "0" && n !== 0) return false;
      if (gpus === "1" && !(n === 1 && nodes === 1)) return false;
      if (gpus === "multi" && !(n > 1 || nodes > 1)) return false;
    }
    if (time && Number(item.dataset.time) > Number(time)) return false;
    return true;
  }

  function setUp(form) {
    var root = form.closest(".catalog") || document;
    var items = Array.prototype.slice.call(root.querySelectorAll(".catalog-item"));
    var count = form.querySelector(".catalog-filters__count");
    var template = count ? count.dataset.template : "";

    function apply() {
      var filters = {};
      form.querySelectorAll("select[data-filter]").forEach(function (select) {
        filters[select.dataset.filter] = select.value;
      });
      var shown = 0;
      items.forEach(function (item) {
        var ok = matches(item, filters);
        item.hidden = !ok;
        if (ok) shown += 1;
      });
      root.querySelectorAll(".catalog-section").forEach(function (section) {
        section.hidden = !section.querySelector(".catalog-item:not([hidden])");
      });
      if (count) count.textContent = template.replace("{shown}", shown).replace("{total}", items.length);
    }

    form.addEventListener("change", apply);
    form.addEventListener("reset", function () { window.setTimeout(apply, 0); });
    form.addEventListener("submit", function (event) { event.preventDefault(); });
    form.hidden = false;
    apply();
  }

  function start() {
    document.querySelectorAll("form.catalog-filters").forEach(setUp);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
