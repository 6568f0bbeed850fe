// coursekit book: the search page quotes each page's text, math included, as
// TeX source (\( ... \)). Load the book's own MathJax there and typeset the
// results as they arrive, so they read like the pages.
document.addEventListener("DOMContentLoaded", function () {
  var results = document.getElementById("search-results");
  if (!results) return;
  var pending = null;
  // A summary is cut out of the page's text, so it may start inside a
  // formula (a lone closing \) or \]) or end inside one: drop those pieces.
  function trimCutFormulas(summary) {
    var nodes = [], walker = document.createTreeWalker(summary, NodeFilter.SHOW_TEXT);
    while (walker.nextNode()) nodes.push(walker.currentNode);
    if (!nodes.length) return;
    var first = nodes[0], last = nodes[nodes.length - 1];
    var close = first.data.search(/\\[)\]]/), open = first.data.search(/\\[(\[]/);
    if (close >= 0 && (open < 0 || close < open)) first.data = "..." + first.data.slice(close + 2);
    var lastOpen = Math.max(last.data.lastIndexOf("\\("), last.data.lastIndexOf("\\["));
    var lastClose = Math.max(last.data.lastIndexOf("\\)"), last.data.lastIndexOf("\\]"));
    if (lastOpen > lastClose) last.data = last.data.slice(0, lastOpen) + "...";
  }
  function typeset() {
    results.querySelectorAll("p.context:not([data-trimmed])").forEach(function (p) {
      p.dataset.trimmed = "1";
      trimCutFormulas(p);
    });
    if (!window.MathJax || !MathJax.typesetPromise) return;
    clearTimeout(pending);
    pending = setTimeout(function () {
      MathJax.typesetPromise([results]).catch(function () {});
    }, 100);
  }
  new MutationObserver(typeset).observe(results, {childList: true, subtree: true});
  if (window.MathJax && MathJax.typesetPromise) return;
  var root = document.documentElement.dataset.content_root || "./";
  window.MathJax = {startup: {typeset: false, ready: function () {
    MathJax.startup.defaultReady();
    MathJax.startup.promise.then(typeset);
  }}};
  var script = document.createElement("script");
  script.src = root + "_static/mathjax/tex-chtml.js";
  script.async = true;
  document.head.appendChild(script);
});
