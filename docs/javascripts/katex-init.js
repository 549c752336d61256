// Render the site's math with the KaTeX copy in docs/assets/katex (no network needed): KaTeX 0.16.47
// from the npm package `katex` (MIT, docs/assets/katex/LICENSE), woff2 fonts only (katex.min.css trimmed to name just those).
// pymdownx.arithmatex (generic mode) wraps docstring and page math in .arithmatex elements as
// \( ... \) and \[ ... \]; notebook markdown cells keep Jupyter's $ ... $ and $$ ... $$.
(function () {
  var options = {
    delimiters: [
      { left: "$$", right: "$$", display: true },
      { left: "\\[", right: "\\]", display: true },
      { left: "\\(", right: "\\)", display: false },
      { left: "$", right: "$", display: false },
    ],
    throwOnError: false,
    errorColor: "#cc0000",
  };
  function render(root) {
    var selector = ".arithmatex, .jupyter-wrapper .jp-MarkdownOutput, .md-sidebar--secondary .md-nav__link";
    root.querySelectorAll(selector).forEach(function (el) {
      renderMathInElement(el, options);
    });
  }
  if (typeof document$ !== "undefined") {
    document$.subscribe(function (doc) { render(doc.body || document.body); });
  } else {
    document.addEventListener("DOMContentLoaded", function () { render(document.body); });
  }
})();
