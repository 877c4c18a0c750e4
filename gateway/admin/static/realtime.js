// Refreshes the dashboard's "Right now" panel every 15 seconds from
// GET /sites/<site>/realtime ({"last_5_minutes": n, "last_30_minutes": n}, null
// for a count under k).
// An external file, because the admin pages forbid inline scripts (CSP).
"use strict";
(function () {
  var panel = document.getElementById("realtime");
  if (!panel || !window.fetch) return;
  var url = panel.getAttribute("data-url");
  function refresh() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (answer) { return answer.ok ? answer.json() : null; })
      .then(function (numbers) {
        if (!numbers) return;
        panel.querySelectorAll("[data-live]").forEach(function (element) {
          var value = numbers[element.getAttribute("data-live")];
          if (typeof value === "number") element.textContent = String(value);
          // A count the k rule withholds (1 to k - 1 visitors) comes as null.
          else if (value === null) element.textContent = "< " + panel.getAttribute("data-k");
        });
        panel.setAttribute("data-refreshed", new Date().toISOString());
      })
      .catch(function () { /* offline for a moment: the next tick tries again */ });
  }
  setInterval(refresh, 15000);
  refresh();
})();
