// Wharf console: the pending queue, live. Every few seconds this asks
// GET /api/registrations (the session cookie is enough for a read) and
// updates the pending badge in the navigation (and the dashboard's count);
// on the pending page, when the names changed, it fetches the page again
// and adds the new rows and drops the gone ones, leaving the rows being
// typed into alone, and announces the change in the aria-live region.
// Without JavaScript the pages work the same, with a reload.
(function () {
  "use strict";
  var PERIOD_MS = 3000;
  var badge = document.getElementById("pending-badge");
  var live = document.getElementById("live-status");
  var rows = document.getElementById("pending-rows");
  if (!badge) {
    return;
  }

  function names(list) {
    return list.map(function (r) { return r.name; }).sort().join("\n");
  }

  function shown() {
    if (!rows) {
      return null;
    }
    var out = [];
    rows.querySelectorAll("tr[data-key]").forEach(function (tr) {
      out.push(tr.getAttribute("data-key"));
    });
    return out.sort().join("\n");
  }

  function setCount(n) {
    badge.textContent = String(n);
    badge.setAttribute("aria-label", n + " pending");
    badge.hidden = n === 0;
    var count = document.getElementById("pending-count");
    if (count) {
      count.textContent = String(n);
    }
  }

  function announce(text) {
    if (live && text) {
      live.textContent = text;
    }
  }

  function merge(html) {
    var fresh = new DOMParser().parseFromString(html, "text/html")
      .getElementById("pending-rows");
    if (!fresh) {
      return;
    }
    var have = {};
    rows.querySelectorAll("tr[data-key]").forEach(function (tr) {
      have[tr.getAttribute("data-key")] = tr;
    });
    var want = {};
    var added = [];
    fresh.querySelectorAll("tr[data-key]").forEach(function (tr) {
      var key = tr.getAttribute("data-key");
      want[key] = true;
      if (!have[key]) {
        rows.appendChild(document.importNode(tr, true));
        added.push(key);
      }
    });
    var gone = 0;
    Object.keys(have).forEach(function (key) {
      if (!want[key]) {
        have[key].remove();
        gone += 1;
      }
    });
    var left = rows.querySelectorAll("tr[data-key]").length;
    document.getElementById("pending").hidden = left === 0;
    document.getElementById("pending-empty").hidden = left !== 0;
    if (added.length) {
      announce("New registration" + (added.length > 1 ? "s" : "") + ": " + added.join(", "));
    } else if (gone) {
      announce(left + " registration" + (left === 1 ? "" : "s") + " waiting");
    }
  }

  var timer = null;
  function poll() {
    fetch("/api/registrations", { credentials: "same-origin", cache: "no-store" })
      .then(function (r) {
        if (r.status === 401) {
          throw new Error("logged out");
        }
        return r.json();
      })
      .then(function (body) {
        var list = body.registrations || [];
        setCount(list.length);
        if (rows && names(list) !== shown()) {
          return fetch("/console/pending", { credentials: "same-origin", cache: "no-store" })
            .then(function (r) { return r.text(); })
            .then(merge);
        }
        return null;
      })
      .then(function () { timer = setTimeout(poll, PERIOD_MS); })
      .catch(function (e) {
        if (e && e.message !== "logged out") {
          timer = setTimeout(poll, PERIOD_MS * 3);
        }
      });
  }
  timer = setTimeout(poll, PERIOD_MS);
  window.addEventListener("pagehide", function () { clearTimeout(timer); });
}());
