// The service worker owns every network call: it fetches the pictures the content scripts
// found, asks the ShopLens API about them (the API key never leaves this worker), keeps the
// answers for the browser session, backs off when the API fails, and reports a status.
// Pictures it cannot read (a CDN that sends no CORS headers) go to the API by URL.
// (Firefox runs this file as a background script after the same libraries: see manifest.firefox.json.)
if (typeof importScripts === "function") {
  importScripts("lib/settings.js", "lib/backoff.js", "lib/pacing.js", "lib/api.js", "lib/corrections.js");
}

const { settings: Settings, api: Api, pacing: Pacings, corrections: Corrections } = self.ShopLens;
const CONTENT_SCRIPT = {
  id: "shoplens-content",
  js: ["lib/pictures.js", "lib/labels.js", "lib/settings.js", "lib/backoff.js", "lib/pacing.js", "lib/corrections.js",
    "lib/dialog.js", "badges.js", "similar_panel.js", "correction_panel.js", "content.js"],
  runAt: "document_idle",
  allFrames: true, // product grids in frames (embedded shops, quick views) get their own badges
};
// The page-world announcer of shadow roots (lib/shadow-watch.js), before the page's own scripts.
const SHADOW_WATCH = { id: "shoplens-shadow-watch", js: ["lib/shadow-watch.js"], runAt: "document_start", world: "MAIN",
  allFrames: true };
const MENU_ID = "shoplens-classify";
const SIMILAR_MENU_ID = "shoplens-similar";
const VOCABULARY_MS = 60000;
let pacing = new Pacings.Pacing();

// Content scripts run on the sites the user allowed (the host permissions held), and follow
// the permissions as the user grants or withdraws them.
async function registerContentScripts() {
  const { origins = [] } = await chrome.permissions.getAll();
  const registered = await chrome.scripting.getRegisteredContentScripts();
  if (registered.length) await chrome.scripting.unregisterContentScripts({ ids: registered.map((script) => script.id) });
  if (origins.length) {
    await chrome.scripting.registerContentScripts([CONTENT_SCRIPT, SHADOW_WATCH].map((script) => ({ ...script,
      matches: origins })));
  }
}

async function setStatus(state, message = "") {
  await chrome.storage.session.set({ status: { state, message, at: Date.now() } });
}

async function cachedAnswers(urls) {
  const keys = urls.map((url) => `answer:${url}`);
  const stored = await chrome.storage.session.get(keys);
  return Object.fromEntries(urls.filter((url) => stored[`answer:${url}`]).map((url) => [url, stored[`answer:${url}`]]));
}

/** The picture's bytes, or null where this browser may not read them (no CORS headers, an error). */
async function fetchPicture(url) {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(15000), credentials: "omit" });
    return response.ok ? { url, blob: await response.blob() } : null;
  } catch (error) {
    return null;
  }
}

/** Asks the API about `urls` (one batch): the readable pictures by their bytes, the others by
 * URL. Returns {fresh: {url: answer}, unusable: [url], later: [url]}: `later` are the pictures the
 * server answered "not now" for (their own 503 or 429 inside the batch). */
async function classifySlice(settings, urls) {
  const fetched = await Promise.all(urls.map(fetchPicture));
  const pictures = fetched.filter(Boolean);
  const byUrl = urls.filter((_, index) => !fetched[index]);
  const [sent, fetchedByApi] = await Promise.all([
    pictures.length ? Api.classifyBatch(settings, pictures) : [],
    byUrl.length ? Api.classifyUrls(settings, byUrl) : [],
  ]);
  const outcome = { fresh: {}, unusable: [], later: [] };
  const results = [...sent, ...fetchedByApi];
  [...pictures.map((picture) => picture.url), ...byUrl].forEach((url, index) => {
    const result = results[index];
    if (result && !result.error) outcome.fresh[url] = result;
    else if (!result || Api.isTransient(result)) outcome.later.push(url);
    else outcome.unusable.push(url);
  });
  return outcome;
}

/** Answers for `urls`: those already known, and one batch of the others asked, as large as the
 * server keeps up with (lib/pacing.js): {answers: {url: answer}, failed: [url], waiting: [url],
 * retryInMs}. failed: neither this browser nor the API could read the picture; waiting: not asked
 * or not answered yet, to ask again in retryInMs (0: at once). One batch a message, so that each
 * batch's badges show as soon as it is answered and the tab's next message puts what came into
 * view meanwhile first. */
async function classify(urls) {
  const answers = await cachedAnswers(urls);
  const waiting = urls.filter((url) => !answers[url]);
  if (!waiting.length || pacing.wait() > 0) return { answers, failed: [], waiting, retryInMs: pacing.wait() };
  const settings = await Settings.load();
  const batch = waiting.slice(0, pacing.size);
  const rest = waiting.slice(batch.length);
  const sentAt = Date.now();
  try {
    const outcome = await classifySlice(settings, batch);
    Object.assign(answers, outcome.fresh);
    await chrome.storage.session.set(Object.fromEntries(Object.entries(outcome.fresh)
      .map(([url, answer]) => [`answer:${url}`, answer])));
    if (outcome.later.length) {
      const retryInMs = pacing.refused();
      await setStatus("unavailable", `${Api.MESSAGES.unavailable}: ${outcome.later.length} pictures waiting`);
      return { answers, failed: outcome.unusable, waiting: [...outcome.later, ...rest], retryInMs };
    }
    pacing.answered(Date.now() - sentAt, batch.length);
    await setStatus("ok");
    return { answers, failed: outcome.unusable, waiting: rest, retryInMs: 0 };
  } catch (error) {
    await setStatus(error.kind || "error", error.message);
    // as long as the server says, and smaller batches
    return { answers, failed: [], waiting, retryInMs: pacing.refused(error.retryAfterMs) };
  }
}

/** "More like this" for the picture at `url`: the API's answer, or {error}. */
async function similar(url) {
  const picture = (await fetchPicture(url)) || { url }; // unreadable here: the API fetches it
  try {
    return await Api.similar(await Settings.load(), picture);
  } catch (error) {
    return { error: error.message };
  }
}

/** The model's vocabulary ({version, category, colour}) from GET /v1/vocabulary, kept a minute per
 * endpoint (a new default version brings its own); or {error}. */
async function vocabulary() {
  const settings = await Settings.load();
  const key = `vocabulary:${settings.endpoint}`;
  const stored = (await chrome.storage.session.get(key))[key];
  if (stored && Date.now() - stored.at < VOCABULARY_MS) return stored;
  try {
    const found = Corrections.vocabularyOf(await Api.vocabulary(settings));
    if (!found) return { error: "the API names no labels of the model (GET /v1/vocabulary)" };
    await chrome.storage.session.set({ [key]: { ...found, at: Date.now() } });
    return found;
  } catch (error) {
    return { error: error.message };
  }
}

/** Sends a shopper's correction to POST /v1/feedback, only where they agreed to sending
 * corrections (the options' switch): {sent: true} or {sent: false, error}. */
async function feedback({ pictureUrl, pageUrl, answer, correction }) {
  const settings = await Settings.load();
  if (settings.sendCorrections !== true) return { sent: false, error: "sending corrections is off (ShopLens options)" };
  const labels = await vocabulary();
  if (labels.error) return { sent: false, error: labels.error };
  if (!Corrections.valid(correction, labels)) return { sent: false, error: "not one of the model's labels" };
  try {
    const body = Corrections.feedbackBody({ pictureUrl, pageUrl, answer, correction, time: new Date() });
    return { sent: true, answer: await Api.feedback(settings, body) };
  } catch (error) {
    return { sent: false, error: error.message };
  }
}

async function sendToTab(tabId, message) {
  try {
    await chrome.tabs.sendMessage(tabId, message);
  } catch (error) {
    // No content script on this site yet: the menu click granted activeTab, enough to add it.
    await chrome.scripting.executeScript({ target: { tabId, allFrames: true }, files: CONTENT_SCRIPT.js });
    await chrome.tabs.sendMessage(tabId, message);
  }
}

async function showInTab(tabId, url) {
  const { answers } = await classify([url]);
  await sendToTab(tabId, { type: "show", url, answer: answers[url] || null });
}

chrome.runtime.onInstalled.addListener(() => {
  chrome.contextMenus.create({ id: MENU_ID, title: "Classify with ShopLens", contexts: ["image"] });
  chrome.contextMenus.create({ id: SIMILAR_MENU_ID, title: "More like this (ShopLens)", contexts: ["image"] });
  registerContentScripts();
});
chrome.runtime.onStartup.addListener(registerContentScripts);
// Another endpoint or key (the options saved): a fresh start, not the old server's backoff.
chrome.storage.onChanged.addListener((changes, area) => {
  if (area === "sync" && (changes.endpoint || changes.apiKey)) pacing = new Pacings.Pacing();
});
chrome.permissions.onAdded.addListener(registerContentScripts);
chrome.permissions.onRemoved.addListener(registerContentScripts);

chrome.contextMenus.onClicked.addListener((info, tab) => {
  if (info.menuItemId === MENU_ID && info.srcUrl && tab) showInTab(tab.id, info.srcUrl);
  if (info.menuItemId === SIMILAR_MENU_ID && info.srcUrl && tab) {
    sendToTab(tab.id, { type: "similar-open", url: info.srcUrl });
  }
});

chrome.runtime.onMessage.addListener((message, sender, reply) => {
  if (message.type === "classify" && Array.isArray(message.urls)) {
    classify(message.urls.filter((url) => typeof url === "string")).then(reply);
    return true; // the reply comes later
  }
  if (message.type === "similar" && typeof message.url === "string") {
    similar(message.url).then(reply);
    return true;
  }
  if (message.type === "vocabulary") {
    vocabulary().then(reply);
    return true;
  }
  if (message.type === "feedback" && typeof message.pictureUrl === "string" && typeof message.pageUrl === "string"
    && message.answer && Array.isArray(message.answer.labels)) {
    feedback(message).then(reply);
    return true;
  }
  if (message.type === "status") {
    chrome.storage.session.get({ status: { state: "idle", message: "" } }).then(({ status }) => reply(status));
    return true;
  }
  return false;
});
