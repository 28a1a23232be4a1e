// Starts Redoc on /api/v1/redoc/ from a file rather than an inline script, so the page needs no inline code.
(function () {
  var container = document.getElementById("redoc-container");
  Redoc.init(container.dataset.schemaUrl, JSON.parse(container.dataset.settings), container);
})();
