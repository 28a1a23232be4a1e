// A running build's log, live: asks the page's log URL for the lines after the last one shown, once a second,
// until the answer says the build has finished. Each request is answered at once (the server never holds one
// open), so a viewer costs a short request a second, not a worker thread for the whole build. The page works
// without this file: it was drawn with the log so far.
(function () {
  "use strict";
  const log = document.getElementById("build-log");
  if (!log || log.dataset.finished === "true") return;
  const url = log.dataset.logUrl;
  const status = document.getElementById("build-status");
  const phase = document.getElementById("build-phase");
  const count = document.getElementById("build-log-count");
  let next = parseInt(log.dataset.next || "0", 10);
  const POLL_MS = 1000;
  const RETRY_MS = 5000;
  const PAGE = parseInt(log.dataset.page || "2000", 10);

  function atBottom() {
    return log.scrollHeight - log.scrollTop - log.clientHeight < 24;
  }

  function show(answer) {
    if (answer.lines.length) {
      const follow = atBottom();
      log.append(document.createTextNode(answer.lines.map((line) => line + "\n").join("")));
      if (follow) log.scrollTop = log.scrollHeight;
    }
    next = answer.next;
    log.dataset.next = String(next);
    if (count) count.textContent = String(next);
    if (status) {
      status.textContent = answer.status_label;
      status.className = "badge build-status status-" + answer.status;
    }
    if (phase) phase.textContent = answer.phase_label;
  }

  function ended() {
    log.dataset.finished = "true";
    document.querySelectorAll("[data-while-active]").forEach((element) => { element.hidden = true; });
    const note = document.getElementById("build-ended");
    if (note) note.hidden = false;
  }

  function poll() {
    fetch(url + "?start=" + next, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then((response) => {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then((answer) => {
        show(answer);
        // A full page may have more lines behind it: ask again at once. A finished build is read to the end:
        // its last lines were written before it finished, and an empty answer says there are no more.
        if (answer.finished && !answer.lines.length) ended();
        else if (answer.finished || answer.lines.length >= PAGE) poll();
        else setTimeout(poll, POLL_MS);
      })
      .catch(() => { setTimeout(poll, RETRY_MS); });   // a restarting server: try again a little later
  }

  setTimeout(poll, POLL_MS);
})();
