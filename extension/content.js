// On a shopping page: finds the product pictures (now and as more appear), asks the
// service worker about each picture once, shows the badges, and applies the popup's filter.
(function () {
  "use strict";

  if (globalThis.__shoplensContent) return; // injected twice (site scripts and a context-menu click)
  globalThis.__shoplensContent = true;

  const { pictures: Pictures, labels: Labels, settings: Settings, BadgeLayer } = globalThis.ShopLens;
  const FLUSH_MS = 150;
  const FILTER_STYLE = "[data-shoplens-filter=dim]{opacity:.2 !important;transition:opacity .2s}"
    + "[data-shoplens-filter=hide]{display:none !important}";

  let settings = null;
  let page = null; // what ShopLens keeps about this page while it is on

  function newPage() {
    return {
      layer: new BadgeLayer(document),
      urls: new Map(), // product picture -> its source URL
      answers: new Map(), // source URL -> answer
      asked: new Set(), // source URLs sent, or about to be
      queued: new Set(),
      filter: null,
      timers: new Set(),
      observers: [],
      listeners: [],
    };
  }

  function later(callback, ms) {
    const timer = setTimeout(() => {
      page && page.timers.delete(timer);
      callback();
    }, ms);
    page.timers.add(timer);
  }

  function listen(target, type, handler, options) {
    target.addEventListener(type, handler, options);
    page.listeners.push(() => target.removeEventListener(type, handler, options));
  }

  function consider(img) {
    if (!page || !Pictures.isProductPicture(img)) return;
    const url = Pictures.bestSource(img);
    page.urls.set(img, url);
    if (page.answers.has(url)) render(img);
    else if (!page.asked.has(url)) {
      page.asked.add(url);
      page.queued.add(url);
      if (page.queued.size === 1) later(flush, FLUSH_MS);
    }
  }

  async function flush() {
    const urls = [...page.queued];
    page.queued.clear();
    const current = page;
    const result = await chrome.runtime.sendMessage({ type: "classify", urls });
    if (page !== current || !result) return; // turned off meanwhile
    for (const [url, answer] of Object.entries(result.answers)) page.answers.set(url, answer);
    for (const [img, url] of page.urls) if (result.answers[url]) render(img);
    const unanswered = urls.filter((url) => !result.answers[url] && !result.failed.includes(url));
    if (unanswered.length && result.retryInMs > 0) {
      later(() => {
        unanswered.forEach((url) => page.asked.delete(url));
        for (const [img, url] of page.urls) if (unanswered.includes(url)) consider(img);
      }, result.retryInMs);
    }
  }

  function render(img) {
    page.layer.show(img, page.answers.get(page.urls.get(img)), settings);
    if (page.filter) applyFilter(page.filter);
  }

  function labelled() {
    return [...page.urls].filter(([, url]) => page.answers.has(url)).map(([img]) => img);
  }

  function applyFilter(filter) {
    page.filter = filter;
    const pictures = labelled();
    for (const img of pictures) {
      const card = Pictures.productCard(img, pictures);
      const passes = !filter || Labels.matches(page.answers.get(page.urls.get(img)), filter);
      if (passes) delete card.dataset.shoplensFilter;
      else card.dataset.shoplensFilter = filter.mode === "hide" ? "hide" : "dim";
    }
    requestAnimationFrame(() => page && page.layer.placeAll());
  }

  function clearFilter() {
    document.querySelectorAll("[data-shoplens-filter]").forEach((card) => delete card.dataset.shoplensFilter);
  }

  function summary() {
    if (!page) return { enabled: false };
    const answers = labelled().map((img) => page.answers.get(page.urls.get(img)));
    return { enabled: true, ...Labels.summarise(answers), pending: page.queued.size, filter: page.filter };
  }

  function watch() {
    const visible = new IntersectionObserver((entries) => {
      for (const entry of entries) if (entry.isIntersecting) consider(entry.target);
    }, { rootMargin: "200px" });
    const seen = new WeakSet();
    const scan = () => {
      for (const img of document.images) {
        if (seen.has(img)) continue;
        seen.add(img);
        visible.observe(img);
        img.addEventListener("load", () => consider(img)); // its size is known once loaded
      }
    };
    let scheduled = false;
    const changed = new MutationObserver(() => {
      if (scheduled) return;
      scheduled = true;
      requestAnimationFrame(() => {
        scheduled = false;
        if (!page) return;
        scan();
        page.layer.placeAll();
      });
    });
    changed.observe(document.documentElement, { childList: true, subtree: true, attributes: true,
      attributeFilter: ["src", "srcset"] });
    page.observers.push(visible, changed);
    let placing = false;
    const place = () => {
      if (placing) return;
      placing = true;
      requestAnimationFrame(() => {
        placing = false;
        page && page.layer.placeAll();
      });
    };
    listen(window, "resize", place, { passive: true });
    listen(document, "scroll", place, { passive: true, capture: true });
    listen(document, "mouseover", (event) => page.layer.expand(event.target, true), { passive: true });
    listen(document, "mouseout", (event) => page.layer.expand(event.target, false), { passive: true });
    scan();
  }

  function start() {
    if (page) return;
    page = newPage();
    const style = document.createElement("style");
    style.id = "shoplens-filter-style";
    style.textContent = FILTER_STYLE;
    document.documentElement.appendChild(style);
    watch();
  }

  function stop() {
    if (!page) return;
    page.observers.forEach((observer) => observer.disconnect());
    page.listeners.forEach((remove) => remove());
    page.timers.forEach((timer) => clearTimeout(timer));
    page.layer.destroy();
    clearFilter();
    document.getElementById("shoplens-filter-style")?.remove();
    page = null;
  }

  function showAnswer(url, answer) {
    if (!answer) return;
    start(); // a right-click asks for this picture even where ShopLens is off
    page.answers.set(url, answer);
    for (const img of document.images) {
      if ([Pictures.bestSource(img), img.currentSrc, img.src].includes(url)) {
        page.urls.set(img, url);
        render(img);
      }
    }
  }

  chrome.runtime.onMessage.addListener((message, sender, reply) => {
    if (message.type === "summary") reply(summary());
    else if (message.type === "filter" && page) {
      applyFilter(message.filter);
      reply(summary());
    } else if (message.type === "show") {
      showAnswer(message.url, message.answer);
      reply(true);
    }
    return false;
  });

  chrome.storage.onChanged.addListener(async (changes, area) => {
    if (area !== "sync") return;
    settings = await Settings.load();
    const enabled = Settings.siteEnabled(settings, location.origin);
    if (!enabled) stop();
    else if (!page) start();
    else for (const img of labelled()) render(img);
  });

  Settings.load().then((loaded) => {
    settings = loaded;
    if (Settings.siteEnabled(settings, location.origin)) start();
  });
})();
