// Options: API endpoint and key, threshold, badge position, sending label corrections, sites switched off.
(async function () {
  "use strict";

  const { settings: Settings, corrections: Corrections } = globalThis.ShopLens;
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
  $("send-corrections").checked = settings.sendCorrections === true;
  $("what-is-sent").textContent = Corrections.WHAT_IS_SENT;

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
    // ticked here is agreeing (the words beside it say what is sent); left unticked by someone never
    // asked, the first correction still asks
    const { sendCorrections } = await Settings.load();
    const send = $("send-corrections").checked || (sendCorrections === null ? null : false);
    await Settings.save({ endpoint, apiKey: $("api-key").value, threshold: Number($("threshold").value),
      badgePosition: $("badge-position").value, sendCorrections: send, disabledSites: sites });
    showSaved("saved");
  });
})();
