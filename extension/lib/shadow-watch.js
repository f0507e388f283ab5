// Runs in the page's own world, before the page's scripts (content scripts do not see the
// page's calls): tells the content script when an open shadow root is attached, so the
// pictures in it are seen also where nothing is added to the document (a custom element
// defined late and upgraded in place). It only announces; it reads and sends nothing.
(function () {
  "use strict";

  const attachShadow = Element.prototype.attachShadow;
  Element.prototype.attachShadow = function (init) {
    const shadow = attachShadow.call(this, init);
    if (init && init.mode === "open") {
      queueMicrotask(() => this.dispatchEvent(new CustomEvent("shoplens-shadow-attached", { bubbles: true, composed: true })));
    }
    return shadow;
  };
})();
