// On a shopping page: finds the elements that show product pictures (<img> in the page and
// in open shadow roots, product-sized CSS background pictures), now and as they appear or
// change what they show; asks the service worker about each shown picture once; keeps the
// badges on what is visible; applies the popup's filter.
(function () {
  "use strict";

  if (globalThis.__shoplensContent) return; // injected twice (site scripts and a context-menu click)
  globalThis.__shoplensContent = true;

  const { pictures: Pictures, labels: Labels, settings: Settings, backoff: Backoffs, pacing: Pacings,
    corrections: Corrections, BadgeLayer, SimilarPanel, CorrectionPanel } = globalThis.ShopLens;
  const FLUSH_MS = 150;
  // Pictures this far below (or above) the viewport are asked about before the shopper scrolls
  // to them, after the visible ones: Chromium's own distance for loading lazy pictures on a fast
  // connection, so these are pictures the browser has fetched already.
  const LOOKAHEAD = "1250px";
  // Requests to the service worker at once: while one batch is answered the next is on its way, so
  // the server never idles between batches (bench/extension_load.py); more would only queue there.
  const MAX_IN_FLIGHT = 2;
  const PER_REQUEST = Pacings.MAX_SIZE; // the service worker sends at most one batch this large a request
  const WATCHED_ATTRIBUTES = ["src", "srcset", "class", "style", "hidden"]; // what moves, hides or swaps a picture
  const FILTER_STYLE = "[data-shoplens-filter=dim]{opacity:.2 !important;transition:opacity .2s}"
    + "[data-shoplens-filter=hide]{display:none !important}";

  let settings = null;
  let page = null; // what ShopLens keeps about this page while it is on

  function newPage() {
    return {
      layer: new BadgeLayer(document, { similar: moreLikeThis, correct: openCorrection }),
      tracked: new Set(), // elements that may show a product picture
      near: new Set(), // tracked elements in or near the viewport
      sources: new Map(), // element -> the source URL sent for what it shows
      answers: new Map(), // source URL -> answer
      corrections: new Map(), // source URL -> the shopper's correction ({garment, category, colour})
      asked: new Set(), // source URLs sent, or about to be
      queued: new Set(),
      waiting: new Set(), // source URLs the server has not answered yet (asked, or to ask again)
      inFlight: 0, // requests to the service worker not answered yet (at most MAX_IN_FLIGHT)
      workerRetry: new Backoffs.Backoff(1000, 30000), // the service worker itself did not answer (restarted)
      unreadable: new Map(), // source URL -> its backoff: neither the browser nor the API could read it
      natural: new Map(), // background picture URL -> its own {width, height} (null while loading)
      filter: null,
      timers: new Set(),
      observers: [],
      listeners: [],
    };
  }

  function later(callback, ms) {
    const timer = setTimeout(() => {
      if (!page) return;
      page.timers.delete(timer);
      callback();
    }, ms);
    page.timers.add(timer);
  }

  function listen(target, type, handler, options) {
    target.addEventListener(type, handler, options);
    page.listeners.push(() => target.removeEventListener(type, handler, options));
  }

  /** Calls `callback` once in the next frame however often it is asked for meanwhile. */
  function everyFrame(callback) {
    let scheduled = false;
    return () => {
      if (scheduled) return;
      scheduled = true;
      requestAnimationFrame(() => {
        scheduled = false;
        if (page) callback();
      });
    };
  }

  /** A background picture's own size; null until its probe has loaded (then a refresh). */
  function naturalSize(url) {
    if (page.natural.has(url)) return page.natural.get(url);
    page.natural.set(url, null);
    const probe = new Image();
    const done = () => {
      if (!page) return;
      page.natural.set(url, { width: probe.naturalWidth, height: probe.naturalHeight });
      page.refresh();
    };
    probe.onload = probe.onerror = done;
    probe.src = url;
    return null;
  }

  function natural(element) {
    if (element.tagName === "IMG") return element;
    const url = Pictures.backgroundUrl(element);
    return url && naturalSize(url);
  }

  /** Looks at what `element` shows now; a new picture gets asked about (its old badge goes). */
  function consider(element) {
    if (!page || !element.isConnected) return;
    const size = natural(element);
    if (!size || !Pictures.isProductPicture(element, size)) return; // not (yet) a product picture: badge kept as is
    const url = Pictures.sourceToSend(element);
    if (!url || url === page.sources.get(element)) return;
    page.sources.set(element, url);
    element.dataset.shoplensSource = url;
    if (page.answers.has(url)) render(element);
    else {
      page.layer.remove(element); // its label was for the picture it showed before
      ask(url);
    }
  }

  function ask(url) {
    if (page.asked.has(url)) return;
    page.asked.add(url);
    page.queued.add(url);
    if (page.queued.size === 1) later(flush, FLUSH_MS);
  }

  function showing(url) {
    return [...page.sources].filter(([element, source]) => source === url && element.isConnected).map(([e]) => e);
  }

  /** Whether some element showing `url` is in the viewport now (those are asked about first). */
  function inView(url) {
    return showing(url).some((element) => {
      const rect = element.getBoundingClientRect();
      return rect.bottom > 0 && rect.right > 0 && rect.top < innerHeight && rect.left < innerWidth;
    });
  }

  /** Sends what is queued, pictures in view first; at most MAX_IN_FLIGHT requests at a time. */
  async function flush() {
    if (page.inFlight >= MAX_IN_FLIGHT || !page.queued.size) return;
    const urls = [...page.queued].sort((a, b) => Number(inView(b)) - Number(inView(a))).slice(0, PER_REQUEST);
    urls.forEach((url) => {
      page.queued.delete(url);
      page.waiting.add(url);
    });
    const current = page;
    page.inFlight += 1;
    if (page.queued.size) later(flush, 0); // the rest in the next request, while this one is answered
    const result = await chrome.runtime.sendMessage({ type: "classify", urls }).catch(() => null);
    if (page !== current) return; // turned off meanwhile
    page.inFlight -= 1;
    received(urls, result || { answers: {}, failed: [], waiting: urls, retryInMs: page.workerRetry.failed() });
    if (result) page.workerRetry.succeeded();
    if (page.queued.size) later(flush, 0);
  }

  function received(urls, result) {
    for (const [url, answer] of Object.entries(result.answers)) {
      page.answers.set(url, answer);
      page.unreadable.delete(url);
      page.waiting.delete(url);
      showing(url).forEach(render);
    }
    for (const url of result.failed) {
      page.waiting.delete(url);
      retryUnreadable(url);
    }
    updateCards();
    // not answered yet: asked again once the server may take them; none is given up on
    const again = urls.filter((url) => !result.answers[url] && !result.failed.includes(url));
    later(() => {
      again.forEach((url) => {
        page.asked.delete(url);
        if (showing(url).length) ask(url);
        else page.waiting.delete(url); // no longer on the page
      });
      flush(); // the next batch at once: the server said go (or its wait is over)
    }, result.retryInMs || 0);
  }

  /** Neither the browser nor the API could read `url`: counted, and asked again with backoff. */
  function retryUnreadable(url) {
    if (!page.unreadable.has(url)) page.unreadable.set(url, new Backoffs.Backoff(2000, 60000));
    const delay = page.unreadable.get(url).failed();
    later(() => {
      page.asked.delete(url);
      if (showing(url).length) ask(url);
    }, delay);
  }

  /** The answer a badge shows for `url`: the model's, or the shopper's correction of it. */
  function shown(url) {
    const answer = page.answers.get(url);
    const correction = page.corrections.get(url);
    return answer && correction ? Corrections.corrected(answer, correction) : answer;
  }

  function labelled() {
    return [...page.sources].filter(([element, url]) => element.isConnected && page.answers.has(url)
      && Labels.isGarment(shown(url))).map(([element]) => element);
  }

  function render(element) {
    const url = page.sources.get(element);
    const answer = shown(url);
    if (!Labels.isGarment(answer) && !page.corrections.has(url)) {
      page.layer.remove(element); // not a garment: no badge at all (unless the shopper said so: their badge stays)
      return;
    }
    page.layer.show(element, answer, settings);
    if (page.filter) applyFilter(page.filter);
  }

  /** Each badge's product card, once the page's labelled pictures are known: a card's own
   * overlays (its link stretched over the picture) do not count as covering its picture. */
  function updateCards() {
    const pictures = labelled();
    for (const element of pictures) page.layer.setCard(element, Pictures.productCard(element, pictures));
    page.layer.placeAll();
  }

  function forget(element) {
    page.layer.remove(element);
    page.sources.delete(element);
    page.tracked.delete(element);
    page.near.delete(element);
    page.observers.forEach((observer) => observer.unobserve && observer.unobserve(element));
    delete element.dataset.shoplensSource;
  }

  function applyFilter(filter) {
    page.filter = filter;
    const pictures = labelled();
    for (const element of pictures) {
      const card = Pictures.productCard(element, pictures);
      const passes = !filter || Labels.matches(shown(page.sources.get(element)), filter);
      if (passes) delete card.dataset.shoplensFilter;
      else card.dataset.shoplensFilter = filter.mode === "hide" ? "hide" : "dim";
    }
    requestAnimationFrame(() => page && page.layer.placeAll());
  }

  function clearFilter() {
    document.querySelectorAll("[data-shoplens-filter]").forEach((card) => delete card.dataset.shoplensFilter);
    for (const element of page.tracked) delete element.dataset.shoplensSource;
  }

  function summary() {
    if (!page) return { enabled: false };
    const answers = labelled().map((element) => shown(page.sources.get(element)));
    const unreadable = [...page.unreadable.keys()].filter((url) => showing(url).length).length;
    const waiting = [...page.waiting].filter((url) => showing(url).length).length;
    return { enabled: true, ...Labels.summarise(answers), pending: page.queued.size, waiting, unreadable,
      filter: page.filter };
  }
  globalThis.__shoplensSummary = summary; // the popup adds up the summaries of every frame of the tab

  function watch() {
    const near = new IntersectionObserver((entries) => {
      for (const entry of entries) {
        if (entry.isIntersecting) {
          page.near.add(entry.target);
          consider(entry.target);
        } else page.near.delete(entry.target);
      }
    }, { rootMargin: LOOKAHEAD });
    const place = everyFrame(() => page.layer.placeAll());
    const resized = new ResizeObserver(place);
    const changed = new MutationObserver((records) => {
      for (const record of records) {
        for (const node of record.addedNodes) if (node.nodeType === 1) Pictures.backgroundElements(node).forEach(track);
        // a background picture set later on the element itself (lazysizes' data-bg, a hover swap)
        if (record.type === "attributes" && !page.tracked.has(record.target) && record.target.tagName !== "IMG"
          && Pictures.backgroundUrl(record.target)) track(record.target);
      }
      page.refresh();
    });
    const observed = new WeakSet(); // the document and the shadow roots already watched
    const observe = (rootNode) => {
      if (observed.has(rootNode)) return;
      observed.add(rootNode);
      changed.observe(rootNode, { childList: true, subtree: true, attributes: true, attributeFilter: WATCHED_ATTRIBUTES });
      listen(rootNode, "load", page.refresh, { capture: true, passive: true }); // an <img> knows its source once loaded
    };
    const track = (element) => {
      if (page.tracked.has(element)) return;
      page.tracked.add(element);
      near.observe(element);
      resized.observe(element);
    };
    page.refresh = everyFrame(() => {
      Pictures.shadowRoots(document).forEach(observe);
      Pictures.allImages(document).forEach(track);
      for (const element of page.tracked) {
        if (!element.isConnected) forget(element);
        else if (page.near.has(element)) consider(element);
      }
      page.layer.placeAll();
    });
    page.observers.push(near, resized, changed);
    observe(document);
    Pictures.backgroundElements(document).forEach(track);
    for (const type of ["transitionend", "animationend", "shoplens-shadow-attached"]) {
      listen(document, type, page.refresh, { capture: true, passive: true });
    }
    listen(window, "resize", place, { passive: true });
    listen(document, "scroll", place, { passive: true, capture: true });
    let pointer = [-1, -1];
    const point = everyFrame(() => page.layer.pointAt(...pointer));
    listen(document, "mousemove", (event) => {
      pointer = [event.clientX, event.clientY];
      point();
    }, { passive: true });
    listen(document.documentElement, "mouseleave", () => {
      pointer = [-1, -1];
      point();
    }, { passive: true });
    page.refresh();
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

  /** "More like this" from a badge's hover card: the panel for the picture it labels (settled once closed). */
  function moreLikeThis(element, button) {
    return SimilarPanel.open(document, page.sources.get(element), { returnFocus: button }).then((panel) => panel.closed);
  }

  /** "Wrong label?" from a badge's hover card: the correction dialog; the badge shows the
   * shopper's labels at once, and the service worker sends them once the shopper agreed (settled once closed). */
  function openCorrection(element, button) {
    const url = page.sources.get(element);
    const current = page;
    return CorrectionPanel.open(document, {
      answer: page.answers.get(url),
      consent: settings.sendCorrections,
      ask: (message) => chrome.runtime.sendMessage({ ...message, pictureUrl: url, pageUrl: location.href }),
      agree: (yes) => Settings.save({ sendCorrections: yes }),
      onCorrect: (correction) => {
        if (page !== current) return; // turned off meanwhile
        page.corrections.set(url, correction);
        showing(url).forEach(render);
        updateCards();
      },
    }, button).then((panel) => panel.closed);
  }

  function showAnswer(url, answer) {
    if (!answer) return;
    start(); // a right-click asks for this picture even where ShopLens is off
    page.answers.set(url, answer);
    for (const img of Pictures.allImages(document)) {
      if ([Pictures.sourceToSend(img), img.currentSrc, img.src].includes(url)) {
        page.sources.set(img, url);
        render(img);
      }
    }
    updateCards();
  }

  chrome.runtime.onMessage.addListener((message, sender, reply) => {
    if (message.type === "summary") reply(summary());
    else if (message.type === "filter" && page) {
      applyFilter(message.filter);
      reply(summary());
    } else if (message.type === "show") {
      showAnswer(message.url, message.answer);
      reply(true);
    } else if (message.type === "similar-open") {
      SimilarPanel.open(document, message.url);
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
    else labelled().forEach(render);
  });

  Settings.load().then((loaded) => {
    settings = loaded;
    if (Settings.siteEnabled(settings, location.origin)) start();
  });
})();
