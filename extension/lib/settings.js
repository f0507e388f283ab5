// The user's settings (chrome.storage.sync) with their defaults.
(function (root) {
  "use strict";

  const DEFAULTS = {
    endpoint: "http://127.0.0.1:8000",
    apiKey: "",
    threshold: 0.5, // top probability under this shows as low confidence
    disabledSites: [], // origins where the user turned ShopLens off
    badgePosition: "top-left",
    sendCorrections: null, // null: never asked; true only once the shopper agreed (lib/corrections.js says what is sent)
  };
  const POSITIONS = ["top-left", "top-right", "bottom-left", "bottom-right"];

  function load() {
    return chrome.storage.sync.get(DEFAULTS);
  }

  function save(changes) {
    return chrome.storage.sync.set(changes);
  }

  function siteEnabled(settings, origin) {
    return !settings.disabledSites.includes(origin);
  }

  /** The origin pattern a host permission needs for `url`, e.g. "https://shop.example/*". */
  function originPattern(url) {
    return `${new URL(url).origin}/*`;
  }

  const api = { DEFAULTS, POSITIONS, load, save, siteEnabled, originPattern };
  root.ShopLens = Object.assign(root.ShopLens || {}, { settings: api });
  if (typeof module !== "undefined") module.exports = api;
})(globalThis);
