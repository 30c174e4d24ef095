// Rampart's one script. Every page works without it; it adds live updates — a run's job graph
// refreshes its states, a running job's log grows as the job writes — and asks before
// destructive forms are sent. It never inserts markup: log text and states become text nodes.
(function () {
  "use strict";

  var STATUSES = ["pending", "queued", "running", "succeeded", "failed", "cancelled", "timed_out", "skipped", "interrupted", "waiting"];
  // The live log keeps at most this many lines in the page; older ones are in the pages and the
  // download, so that a long log does not make the browser hold all of it.
  var MAX_LINES = 5000;

  function statusClass(s) {
    return "st st-" + (STATUSES.indexOf(s) >= 0 ? s : "unknown");
  }

  function say(id, text) {
    var el = document.getElementById(id);
    if (el) el.textContent = text;
  }

  document.addEventListener("submit", function (ev) {
    var msg = ev.target.getAttribute && ev.target.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) ev.preventDefault();
  });

  // Run page: poll the run's state while it is not finished.
  function followRun(run) {
    var url = run.getAttribute("data-status-url");
    function apply(st) {
      var head = document.getElementById("run-status");
      if (head && head.textContent !== st.text) {
        head.textContent = st.text;
        head.className = statusClass(st.status);
        say("run-live", "Run " + st.text);
      }
      var succeeded = {};
      st.jobs.forEach(function (j) {
        var nodes = document.querySelectorAll('[data-job-id="' + Number(j.id) + '"]');
        Array.prototype.forEach.call(nodes, function (n) {
          var state = n.querySelector("[data-state]");
          if (n instanceof SVGElement) {
            n.setAttribute("class", "node " + statusClass(j.status));
            var title = n.querySelector("title");
            n.setAttribute("aria-label", (title ? title.textContent : "job") + ": " + j.text);
          } else if (state) {
            state.className = statusClass(j.status);
            var d = n.querySelector("[data-duration]");
            if (d) d.textContent = j.duration;
          }
          if (state) state.textContent = j.text;
        });
        if (j.status === "succeeded") succeeded[j.id] = true;
      });
      Array.prototype.forEach.call(document.querySelectorAll("path.edge"), function (e) {
        e.setAttribute("class", succeeded[e.getAttribute("data-from")] ? "edge done" : "edge");
      });
      if (st.terminal) {
        run.setAttribute("data-terminal", "true");
        var p = document.createElement("p");
        p.className = "notice";
        p.setAttribute("role", "status");
        var a = document.createElement("a");
        a.href = window.location.pathname;
        a.textContent = "Reload to see its artifacts and results";
        p.appendChild(document.createTextNode("The run has finished: " + st.text + ". "));
        p.appendChild(a);
        var h = run.querySelector("h1");
        h.parentNode.insertBefore(p, h.nextSibling);
        return;
      }
      window.setTimeout(tick, 2000);
    }
    function tick() {
      fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
        .then(apply)
        .catch(function () { window.setTimeout(tick, 5000); });
    }
    window.setTimeout(tick, 1500);
  }

  // Job page: append new lines from the server-sent event stream.
  function appendSegments(lt, segs) {
    segs.forEach(function (s) {
      if (s.c) {
        var span = document.createElement("span");
        span.className = s.c;
        span.textContent = s.t;
        lt.appendChild(span);
      } else {
        lt.appendChild(document.createTextNode(s.t));
      }
    });
  }

  function newLine(l) {
    var div = document.createElement("div");
    div.className = "line";
    div.id = "L" + l.n;
    var a = document.createElement("a");
    a.className = "ln";
    a.href = "?line=" + l.n + "#L" + l.n;
    a.textContent = String(l.n);
    var lt = document.createElement("span");
    lt.className = "lt";
    div.appendChild(a);
    div.appendChild(lt);
    return div;
  }

  function notice(log, text, link, href) {
    var div = document.createElement("div");
    div.className = "gap";
    div.appendChild(document.createTextNode(text + " "));
    var a = document.createElement("a");
    a.href = href;
    a.textContent = link;
    div.appendChild(a);
    return div;
  }

  function followLog(log) {
    var lines = log.getElementsByClassName("line");
    var last = lines.length ? lines[lines.length - 1] : null;
    var trimmed = false;
    var follow = true;

    var tools = document.querySelector(".log-tools");
    if (tools) {
      var label = document.createElement("label");
      label.className = "log-follow";
      var box = document.createElement("input");
      box.type = "checkbox";
      box.checked = true;
      box.addEventListener("change", function () { follow = box.checked; });
      label.appendChild(box);
      label.appendChild(document.createTextNode("Follow new lines"));
      tools.appendChild(label);
    }
    log.scrollTop = log.scrollHeight;

    var url = log.getAttribute("data-stream") + "?after=" + encodeURIComponent(log.getAttribute("data-after") || "0");
    var es = new EventSource(url);
    es.addEventListener("lines", function (ev) {
      var data = JSON.parse(ev.data);
      var frag = document.createDocumentFragment();
      data.lines.forEach(function (l) {
        if (!(last && last.id === "L" + l.n && last.getAttribute("data-open") === "true")) {
          last = newLine(l);
          frag.appendChild(last);
        }
        appendSegments(last.lastChild, l.s);
        if (l.open) last.setAttribute("data-open", "true"); else last.removeAttribute("data-open");
        if (l.cut) last.classList.add("cut");
      });
      log.appendChild(frag);
      var extra = lines.length - MAX_LINES;
      if (extra > 0) {
        for (var i = 0; i < extra; i++) log.removeChild(lines[0]);
        if (!trimmed) {
          trimmed = true;
          log.insertBefore(notice(log, "Earlier lines are no longer kept in this view.", "Read them page by page", "?from=1"), log.firstChild);
        }
      }
      if (last) say("log-last", last.id.slice(1));
      if (follow) log.scrollTop = log.scrollHeight;
    });
    es.addEventListener("skip", function (ev) {
      var d = JSON.parse(ev.data);
      log.appendChild(notice(log, "Lines " + d.from + " to " + (d.to - 1) + " came faster than this view shows them.", "Read them", "?from=" + Number(d.from)));
      last = null;
    });
    es.addEventListener("end", function (ev) {
      es.close();
      var d = JSON.parse(ev.data);
      var st = document.getElementById("job-status");
      if (st) {
        st.textContent = d.text;
        st.className = statusClass(d.status);
      }
      say("log-live", "The job has finished: " + d.text + ".");
    });
    es.addEventListener("error", function () {
      if (es.readyState === EventSource.CLOSED) say("log-live", "Live updates stopped. Reload the page to resume.");
    });
  }

  function start() {
    var run = document.getElementById("run");
    if (run && run.getAttribute("data-terminal") !== "true") followRun(run);
    var log = document.getElementById("log");
    if (log) {
      if (log.getAttribute("data-live") === "true") {
        followLog(log);
      } else if (!window.location.hash && log.getAttribute("data-target") === "0") {
        log.scrollTop = log.scrollHeight;
      }
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
