// Options: API endpoint and key, threshold, badge position, sites switched off.
(async function () {
  "use strict";

  const Settings = globalThis.ShopLens.settings;
  const $ = (id) => document.getElementById(id);

  function showSaved(text) {
    $("saved").textContent = text;
  }

  const settings = await Settings.load();
  for (const position of Settings.POSITIONS) $("badge-position").add(new Option(position, position));
  $("endpoint").value = settings.endpoint;
  $("api-key").value = settings.apiKey;
  $("threshold").value = String(settings.threshold);
  $("badge-position").value = settings.badgePosition;
  $("disabled-sites").value = settings.disabledSites.join("\n");

  $("options").addEventListener("submit", async (event) => {
    event.preventDefault();
    const endpoint = $("endpoint").value.trim();
    // The API endpoint is the one host the extension must reach: ask for it if it is new.
    const needed = { origins: [Settings.originPattern(endpoint)] };
    if (!(await chrome.permissions.contains(needed)) && !(await chrome.permissions.request(needed))) {
      showSaved(`not saved: ShopLens needs permission to reach ${new URL(endpoint).origin}`);
      return;
    }
    const sites = $("disabled-sites").value.split("\n").map((line) => line.trim()).filter(Boolean)
      .map((site) => { try { return new URL(site).origin; } catch (error) { return null; } }).filter(Boolean);
    await Settings.save({ endpoint, apiKey: $("api-key").value, threshold: Number($("threshold").value),
      badgePosition: $("badge-position").value, disabledSites: sites });
    showSaved("saved");
  });
})();
