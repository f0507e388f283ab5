// The popup: the page's counts by category and colour, the filter, the site switch, and
// one status line when the API fails.
(async function () {
  "use strict";

  const { settings: Settings, labels: Labels } = globalThis.ShopLens;
  const $ = (id) => document.getElementById(id);

  // Opened as a page (popup.html?tab=ID) it works on that tab: for tests and keyboard users.
  async function targetTab() {
    const id = Number(new URLSearchParams(location.search).get("tab"));
    if (id) return chrome.tabs.get(id);
    const [tab] = await chrome.tabs.query({ active: true, currentWindow: true });
    return tab;
  }

  function fillRows(body, counts) {
    body.replaceChildren(...Object.entries(counts).sort((a, b) => b[1] - a[1]).map(([name, count]) => {
      const row = document.createElement("tr");
      row.dataset.name = name;
      for (const text of [name, String(count)]) {
        const cell = document.createElement("td");
        cell.textContent = text;
        row.appendChild(cell);
      }
      return row;
    }));
  }

  function fillOptions(select, names) {
    const chosen = select.value;
    select.replaceChildren(select.options[0], ...names.sort().map((name) => new Option(name, name)));
    select.value = names.includes(chosen) ? chosen : "";
  }

  function showSummary(summary) {
    const enabled = Boolean(summary && summary.enabled);
    $("counts").hidden = $("filter").hidden = !enabled;
    if (!enabled) return;
    $("total").textContent = String(summary.total);
    fillRows($("categories"), summary.categories);
    fillRows($("colours"), summary.colours);
    fillOptions($("filter-category"), Object.keys(summary.categories));
    fillOptions($("filter-colour"), Object.keys(summary.colours));
  }

  function unreadableLine(count) {
    return count === 1 ? "1 picture could not be read" : `${count} pictures could not be read`;
  }

  function waitingLine(count) {
    return count === 1 ? "1 picture waiting for the server" : `${count} pictures waiting for the server`;
  }

  /** The API's state, and the page's pictures nobody could read: never "all is well" while some fail. */
  async function showStatus(summary) {
    const status = await chrome.runtime.sendMessage({ type: "status" });
    const unreadable = (summary && summary.unreadable) || 0;
    const waiting = (summary && summary.waiting) || 0;
    const apiFailing = status && !["ok", "idle"].includes(status.state);
    const lines = [apiFailing ? status.message : "", waiting && apiFailing ? waitingLine(waiting) : "",
      unreadable ? unreadableLine(unreadable) : ""].filter(Boolean);
    $("status").textContent = lines.join("; ");
    $("status").classList.toggle("failure", lines.length > 0);
    $("status").dataset.state = apiFailing ? status.state : (unreadable ? "unreadable" : (status ? status.state : "idle"));
    $("status").dataset.unreadable = String(unreadable);
    $("status").dataset.waiting = String(waiting);
  }

  const tab = await targetTab();
  const ask = (message) => chrome.tabs.sendMessage(tab.id, message).catch(() => null);
  const origin = /^https?:/.test(tab.url || "") ? new URL(tab.url).origin : null;
  const settings = await Settings.load();
  const granted = origin ? await chrome.permissions.contains({ origins: [`${origin}/*`] }) : false;
  $("site").textContent = origin || "this page";
  $("site-enabled").disabled = !origin;
  $("site-enabled").checked = granted && Settings.siteEnabled(settings, origin);

  $("site-enabled").addEventListener("change", async (event) => {
    const on = event.target.checked;
    if (on && !(await chrome.permissions.request({ origins: [`${origin}/*`] }))) {
      event.target.checked = false;
      return;
    }
    const current = await Settings.load();
    const others = current.disabledSites.filter((site) => site !== origin);
    await Settings.save({ disabledSites: on ? others : [...others, origin] });
    if (on) chrome.tabs.reload(tab.id); // the site's scripts arrive with the next load
  });

  $("filter").addEventListener("submit", async (event) => {
    event.preventDefault();
    const mode = document.querySelector("input[name=mode]:checked").value;
    const filter = { category: $("filter-category").value, colour: $("filter-colour").value, mode };
    showSummary(await ask({ type: "filter", filter }));
  });
  $("clear").addEventListener("click", async () => showSummary(await ask({ type: "filter", filter: null })));

  /** The tab's summary over all its frames (a shop grid in a frame counts too); the top frame's
   * alone where the frames cannot be reached. */
  async function pageSummary() {
    try {
      const frames = await chrome.scripting.executeScript({ target: { tabId: tab.id, allFrames: true },
        func: () => (globalThis.__shoplensSummary ? globalThis.__shoplensSummary() : null) });
      const summaries = frames.map((frame) => frame.result).filter((summary) => summary && summary.enabled);
      if (summaries.length) return Labels.combine(summaries);
    } catch (error) {
      // no access to some frame: the top frame answers for the page
    }
    return ask({ type: "summary" });
  }

  const refresh = async () => {
    const summary = await pageSummary();
    showSummary(summary);
    await showStatus(summary);
  };
  await refresh();
  setInterval(refresh, 1000); // pictures keep arriving while the popup is open
})();
