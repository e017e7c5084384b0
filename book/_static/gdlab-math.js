// Inline formulas wider than their line get a box of their own that scrolls sideways: MathJax 3
// does not break lines, so on a phone such a formula would otherwise run past the column's edge.
(function () {
  "use strict";
  function fit() {
    document.querySelectorAll('mjx-container:not([display="true"])').forEach(function (m) {
      m.classList.remove("gdlab-wide-math");
      var line = m.parentElement;
      if (line && m.getBoundingClientRect().width > line.clientWidth + 1) {
        m.classList.add("gdlab-wide-math");
      }
    });
  }
  function start() {
    var mj = window.MathJax;
    if (mj && mj.startup && mj.startup.promise) {
      mj.startup.promise.then(fit);
      window.addEventListener("resize", fit);
    } else {
      setTimeout(start, 50);
    }
  }
  start();
})();
