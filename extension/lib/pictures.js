// Which elements on a page show product pictures, which source of each to send, and which
// element around a picture is its product card. Plain DOM logic, tested under jsdom.
(function (root) {
  "use strict";

  const MIN_SIDE = 80; // on-screen pixels; icons and thumbnails of controls are smaller
  const MIN_NATURAL = 24; // the picture's own pixels: smaller is a placeholder (1x1 gif) or a spacer
  const MAX_ASPECT = 3; // wider or taller than this is a banner or a sprite strip
  const GOOD_WIDTH = 320; // the model looks at 224 pixels: a candidate this wide is enough
  const NOT_A_PRODUCT = /(^|[\W_])(logo|icons?|sprites?|pixel|tracking|tracker|spacer|avatar|badge|favicon|emoji|flag)([\W_]|$)/i;
  const SPACE = /[\t\n\f\r ]/;

  /** The descriptors after a srcset URL, from `position`: [descriptors, next position] (HTML spec's tokenizer). */
  function descriptorsAt(input, position) {
    const descriptors = [];
    let current = "";
    let state = "in descriptor";
    for (;; position += 1) {
      const c = input[position];
      if (c === undefined) {
        if (current) descriptors.push(current);
        return [descriptors, position];
      }
      if (state === "in parens") {
        current += c;
        if (c === ")") state = "in descriptor";
      } else if (state === "after descriptor") {
        if (!SPACE.test(c)) {
          state = "in descriptor";
          position -= 1; // reconsume
        }
      } else if (SPACE.test(c)) {
        if (current) descriptors.push(current);
        current = "";
        state = "after descriptor";
      } else if (c === ",") {
        if (current) descriptors.push(current);
        return [descriptors, position + 1];
      } else {
        current += c;
        if (c === "(") state = "in parens";
      }
    }
  }

  /** The candidates of a srcset as the HTML spec parses them (commas need no space after them):
   * [{url, width}] where width is the w descriptor, or the x density times 1000 (none: 1x). */
  function parseSrcset(srcset) {
    const input = srcset || "";
    const candidates = [];
    let position = 0;
    while (position < input.length) {
      while (position < input.length && (SPACE.test(input[position]) || input[position] === ",")) position += 1;
      if (position >= input.length) break;
      const start = position;
      while (position < input.length && !SPACE.test(input[position])) position += 1;
      let url = input.slice(start, position);
      let descriptors = [];
      if (url.endsWith(",")) url = url.replace(/,+$/, "");
      else [descriptors, position] = descriptorsAt(input, position);
      const width = descriptors.find((d) => /^\d+w$/.test(d));
      const density = descriptors.find((d) => /^[\d.]+x$/.test(d));
      if (url) candidates.push({ url, width: width ? parseInt(width, 10) : (density ? parseFloat(density) : 1) * 1000 });
    }
    return candidates;
  }

  function absolute(url, element) {
    try {
      return new URL(url, element.ownerDocument.baseURI).href;
    } catch (error) {
      return null;
    }
  }

  /** The first url(...) of a computed background-image, or null. */
  function backgroundUrl(element) {
    const image = element.ownerDocument.defaultView.getComputedStyle(element).backgroundImage || "";
    const match = /url\(\s*(?:"([^"]*)"|'([^']*)'|([^)]*?))\s*\)/.exec(image);
    return match ? absolute(match[1] ?? match[2] ?? match[3], element) : null;
  }

  /** What the browser shows in `element` now: an <img>'s currentSrc once loaded, or its
   * background picture's URL; null while nothing real shows (loading, a data: placeholder). */
  function shownSource(element) {
    const url = element.tagName === "IMG"
      ? (element.complete && element.naturalWidth > 0 ? element.currentSrc || element.src : null)
      : backgroundUrl(element);
    return url && /^https?:/.test(url) ? url : null;
  }

  /** The source to send for `img` showing `shown`: the narrowest candidate at least GOOD_WIDTH
   * wide of the same srcset (the same picture, lighter), never wider than what shows. */
  function lighterSource(img, shown) {
    const picture = img.parentElement && img.parentElement.tagName === "PICTURE" ? img.parentElement : null;
    const elements = [img, ...(picture ? picture.querySelectorAll("source") : [])];
    for (const element of elements) {
      const candidates = parseSrcset(element.getAttribute("srcset"))
        .map((c) => ({ url: absolute(c.url, img), width: c.width }));
      const current = candidates.find((c) => c.url === shown);
      if (!current) continue;
      const lighter = candidates.filter((c) => c.width >= GOOD_WIDTH && c.width < current.width)
        .sort((a, b) => a.width - b.width)[0];
      return lighter ? lighter.url : shown;
    }
    return shown;
  }

  /** The source to classify for `element` (an <img> or a background-picture element), or null. */
  function sourceToSend(element) {
    const shown = shownSource(element);
    if (!shown) return null;
    return element.tagName === "IMG" ? lighterSource(element, shown) : shown;
  }

  /** The element's parent across shadow boundaries (a shadow root's host). */
  function composedParent(node) {
    if (node.parentElement) return node.parentElement;
    const rootNode = node.parentNode;
    return rootNode && rootNode.host ? rootNode.host : null;
  }

  function isHidden(element) {
    const view = element.ownerDocument.defaultView;
    for (let node = element; node && node.nodeType === 1; node = composedParent(node)) {
      const style = view.getComputedStyle(node);
      if (style.display === "none" || style.visibility === "hidden" || parseFloat(style.opacity) === 0) return true;
    }
    return false;
  }

  /** Whether `element` shows a product picture (not an icon, logo, sprite, placeholder or
   * tracking pixel). `natural`: the picture's own {width, height} (an <img> knows its own). */
  function isProductPicture(element, natural = element, minSide = MIN_SIDE) {
    const source = shownSource(element);
    if (!source || /\.svg(\?|#|$)/i.test(source)) return false;
    if (NOT_A_PRODUCT.test(new URL(source).pathname)) return false;
    if (NOT_A_PRODUCT.test(`${element.id} ${element.getAttribute("class") || ""}`)) return false;
    const naturalWidth = natural.naturalWidth ?? natural.width;
    const naturalHeight = natural.naturalHeight ?? natural.height;
    if (!(naturalWidth >= MIN_NATURAL && naturalHeight >= MIN_NATURAL)) return false;
    const { width, height } = element.getBoundingClientRect();
    if (width < minSide || height < minSide) return false;
    if (Math.max(width / height, height / width) > MAX_ASPECT) return false;
    return !isHidden(element);
  }

  /** Every <img> under `rootNode`, in it and in the open shadow roots inside it. */
  function allImages(rootNode) {
    const found = [...rootNode.querySelectorAll("img")];
    for (const element of rootNode.querySelectorAll("*")) if (element.shadowRoot) found.push(...allImages(element.shadowRoot));
    return found;
  }

  /** Every open shadow root under `rootNode` (nested ones too). */
  function shadowRoots(rootNode) {
    return [...rootNode.querySelectorAll("*")].filter((element) => element.shadowRoot)
      .flatMap((element) => [element.shadowRoot, ...shadowRoots(element.shadowRoot)]);
  }

  /** Elements under `rootNode` (itself included) that show a picture as their background. */
  function backgroundElements(rootNode) {
    const elements = rootNode.nodeType === 1 ? [rootNode, ...rootNode.querySelectorAll("*")] : [...rootNode.querySelectorAll("*")];
    return elements.filter((element) => element.tagName !== "IMG" && backgroundUrl(element));
  }

  /** Every product <img> under `rootNode` (sizes as the page lays them out). */
  function findPictures(rootNode, minSide = MIN_SIDE) {
    return allImages(rootNode).filter((img) => isProductPicture(img, img, minSide));
  }

  /** The product card around `element`: its largest ancestor that holds no other product
   * picture (`pictures`: the product pictures of the page). */
  function productCard(element, pictures) {
    const others = Array.from(pictures).filter((other) => other !== element);
    const body = element.ownerDocument.body;
    let card = element;
    for (let node = composedParent(element); node && node !== body; node = composedParent(node)) {
      if (others.some((other) => contains(node, other))) break;
      card = node;
    }
    return card;
  }

  /** Whether `ancestor` holds `node`, across shadow boundaries. */
  function contains(ancestor, node) {
    for (let current = node; current; current = composedParent(current)) if (current === ancestor) return true;
    return false;
  }

  const api = { parseSrcset, shownSource, lighterSource, sourceToSend, backgroundUrl, isProductPicture, findPictures,
    allImages, shadowRoots, backgroundElements, productCard, composedParent, contains, MIN_SIDE };
  root.ShopLens = Object.assign(root.ShopLens || {}, { pictures: api });
  if (typeof module !== "undefined") module.exports = api;
})(globalThis);
