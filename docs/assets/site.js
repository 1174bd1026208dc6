/* SCOW AI 教程 — the theme's small page scripts, moved out of the HTML so that the Content-Security-Policy
 * needs no hash for them (overrides/partials/javascripts/*.html).  A page loads this one file three times;
 * each <script src> tag names the part it runs in data-run, at the place where Material ran it inline:
 *   "base"    in <head>: Material's storage helpers (__md_scope, __md_hash, __md_get, __md_set);
 *   "palette" in the header: the reader's colour palette, before the page is painted;
 *   "content" after the content: the reader's last content tab, and the tab a #fragment names.
 * The same logic as Material's inline scripts (mkdocs-material 9.8), written as readable code. */
(function () {
  "use strict";
  var me = document.currentScript;
  var part = me && me.getAttribute("data-run");

  if (part === "base") {
    window.__md_scope = new URL(me.getAttribute("data-scope") || ".", location);
    window.__md_hash = function (text) {
      return Array.from(text).reduce(function (h, c) { return (h << 5) - h + c.charCodeAt(0); }, 0);
    };
    window.__md_get = function (key, storage, scope) {
      storage = storage || localStorage;
      scope = scope || window.__md_scope;
      return JSON.parse(storage.getItem(scope.pathname + "." + key));
    };
    window.__md_set = function (key, value, storage, scope) {
      storage = storage || localStorage;
      scope = scope || window.__md_scope;
      try {
        storage.setItem(scope.pathname + "." + key, JSON.stringify(value));
      } catch (e) { /* storage full or disabled: the choice is not remembered */ }
    };
  } else if (part === "palette") {
    var palette = window.__md_get("__palette");
    if (palette && palette.color) {
      if (palette.color.media === "(prefers-color-scheme)") {
        var light = matchMedia("(prefers-color-scheme: light)").matches;
        var input = document.querySelector(light ? "[data-md-color-media='(prefers-color-scheme: light)']"
                                                 : "[data-md-color-media='(prefers-color-scheme: dark)']");
        ["media", "scheme", "primary", "accent"].forEach(function (name) {
          palette.color[name] = input.getAttribute("data-md-color-" + name);
        });
      }
      Object.keys(palette.color).forEach(function (name) {
        document.body.setAttribute("data-md-color-" + name, palette.color[name]);
      });
    }
  } else if (part === "content") {
    var tabs = window.__md_get("__tabs");
    if (me.hasAttribute("data-linked-tabs") && Array.isArray(tabs)) {
      document.querySelectorAll(".tabbed-set").forEach(function (set) {
        var labels = set.querySelector(".tabbed-labels");
        outer: for (var i = 0; i < tabs.length; i++) {
          var all = labels.getElementsByTagName("label");
          for (var j = 0; j < all.length; j++) {
            if (all[j].innerText.trim() === tabs[i]) {
              document.getElementById(all[j].htmlFor).checked = true;
              break outer;
            }
          }
        }
      });
    }
    var target = document.getElementById(location.hash.slice(1));
    if (target && target.name) target.checked = target.name.indexOf("__tabbed_") === 0;
  }
})();
