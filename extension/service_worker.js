// The service worker owns every network call: it fetches the pictures the content scripts
// found, asks the ShopLens API about them (the API key never leaves this worker), keeps the
// answers for the browser session, backs off when the API fails, and reports a status.
importScripts("lib/settings.js", "lib/api.js");

const { settings: Settings, api: Api } = self.ShopLens;
const CONTENT_SCRIPT = {
  id: "shoplens-content",
  js: ["lib/pictures.js", "lib/labels.js", "lib/settings.js", "badges.js", "content.js"],
  runAt: "document_idle",
};
const MENU_ID = "shoplens-classify";
const BATCH = 16;
const backoff = new Api.Backoff();

// Content scripts run on the sites the user allowed (the host permissions held), and follow
// the permissions as the user grants or withdraws them.
async function registerContentScripts() {
  const { origins = [] } = await chrome.permissions.getAll();
  await chrome.scripting.unregisterContentScripts({ ids: [CONTENT_SCRIPT.id] }).catch(() => {});
  if (origins.length) await chrome.scripting.registerContentScripts([{ ...CONTENT_SCRIPT, matches: origins }]);
}

async function setStatus(state, message = "") {
  await chrome.storage.session.set({ status: { state, message, at: Date.now() } });
}

async function cachedAnswers(urls) {
  const keys = urls.map((url) => `answer:${url}`);
  const stored = await chrome.storage.session.get(keys);
  return Object.fromEntries(urls.filter((url) => stored[`answer:${url}`]).map((url) => [url, stored[`answer:${url}`]]));
}

async function fetchPicture(url) {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(15000) });
    return response.ok ? { url, blob: await response.blob() } : null;
  } catch (error) {
    return null;
  }
}

/** Answers for `urls`: {answers: {url: answer}, failed: [url], retryInMs} (retryInMs: the API failed). */
async function classify(urls) {
  const answers = await cachedAnswers(urls);
  const failed = [];
  const missing = urls.filter((url) => !answers[url]);
  if (!missing.length) return { answers, failed, retryInMs: 0 };
  if (backoff.wait() > 0) return { answers, failed, retryInMs: backoff.wait() };
  const settings = await Settings.load();
  try {
    for (let start = 0; start < missing.length; start += BATCH) {
      const fetched = await Promise.all(missing.slice(start, start + BATCH).map(fetchPicture));
      const pictures = fetched.filter(Boolean);
      failed.push(...missing.slice(start, start + BATCH).filter((_, index) => !fetched[index]));
      if (!pictures.length) continue;
      const results = await Api.classifyBatch(settings, pictures);
      const fresh = {};
      pictures.forEach((picture, index) => {
        if (results[index] && !results[index].error) fresh[picture.url] = results[index];
        else failed.push(picture.url); // not a usable picture: no badge, not asked again
      });
      Object.assign(answers, fresh);
      await chrome.storage.session.set(Object.fromEntries(Object.entries(fresh).map(([url, a]) => [`answer:${url}`, a])));
    }
  } catch (error) {
    const delay = backoff.failed();
    await setStatus(error.kind || "error", error.message);
    return { answers, failed, retryInMs: delay };
  }
  backoff.succeeded();
  await setStatus("ok");
  return { answers, failed, retryInMs: 0 };
}

async function showInTab(tabId, url) {
  const { answers } = await classify([url]);
  const message = { type: "show", url, answer: answers[url] || null };
  try {
    await chrome.tabs.sendMessage(tabId, message);
  } catch (error) {
    // No content script on this site yet: the menu click granted activeTab, enough to add it.
    await chrome.scripting.executeScript({ target: { tabId }, files: CONTENT_SCRIPT.js });
    await chrome.tabs.sendMessage(tabId, message);
  }
}

chrome.runtime.onInstalled.addListener(() => {
  chrome.contextMenus.create({ id: MENU_ID, title: "Classify with ShopLens", contexts: ["image"] });
  registerContentScripts();
});
chrome.runtime.onStartup.addListener(registerContentScripts);
chrome.permissions.onAdded.addListener(registerContentScripts);
chrome.permissions.onRemoved.addListener(registerContentScripts);

chrome.contextMenus.onClicked.addListener((info, tab) => {
  if (info.menuItemId === MENU_ID && info.srcUrl && tab) showInTab(tab.id, info.srcUrl);
});

chrome.runtime.onMessage.addListener((message, sender, reply) => {
  if (message.type === "classify" && Array.isArray(message.urls)) {
    classify(message.urls.filter((url) => typeof url === "string")).then(reply);
    return true; // the reply comes later
  }
  if (message.type === "status") {
    chrome.storage.session.get({ status: { state: "idle", message: "" } }).then(({ status }) => reply(status));
    return true;
  }
  return false;
});
