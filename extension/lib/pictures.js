// Which pictures on a page are product pictures, which source of each to send, and which
// element around a picture is its product card. Plain DOM logic, tested under jsdom.
(function (root) {
  "use strict";

  const MIN_SIDE = 80; // on-screen pixels; icons and thumbnails of controls are smaller
  const MAX_ASPECT = 3; // wider or taller than this is a banner or a sprite strip
  const GOOD_WIDTH = 320; // the model looks at 224 pixels: a source this wide is enough
  const NOT_A_PRODUCT = /(^|[\W_])(logo|icons?|sprites?|pixel|tracking|tracker|spacer|avatar|badge|favicon|emoji|flag)([\W_]|$)/i;

  /** The candidates of a srcset: [{url, width}] where width is the w descriptor, or x times 1000. */
  function parseSrcset(srcset) {
    if (!srcset) return [];
    return srcset.split(/,\s+/).map((part) => part.trim()).filter(Boolean).map((part) => {
      const [url, descriptor = "1x"] = part.split(/\s+/);
      const value = parseFloat(descriptor);
      const width = descriptor.endsWith("w") ? value : (Number.isFinite(value) ? value : 1) * 1000;
      return { url, width };
    });
  }

  function absolute(url, img) {
    try {
      return new URL(url, img.ownerDocument.baseURI).href;
    } catch (error) {
      return null;
    }
  }

  /** The source to classify: from srcset and <picture> sources, the narrowest one at least
   * GOOD_WIDTH wide (else the widest); without candidates, what the browser shows. */
  function bestSource(img) {
    const sources = img.parentElement && img.parentElement.tagName === "PICTURE"
      ? Array.from(img.parentElement.querySelectorAll("source")) : [];
    const candidates = [img, ...sources].flatMap((element) => parseSrcset(element.getAttribute("srcset")));
    if (candidates.length) {
      const wide = candidates.filter((c) => c.width >= GOOD_WIDTH).sort((a, b) => a.width - b.width);
      const chosen = wide[0] || candidates.sort((a, b) => b.width - a.width)[0];
      return absolute(chosen.url, img);
    }
    const src = img.currentSrc || img.getAttribute("src");
    return src ? absolute(src, img) : null;
  }

  function isHidden(img) {
    const view = img.ownerDocument.defaultView;
    for (let element = img; element && element.nodeType === 1; element = element.parentElement) {
      const style = view.getComputedStyle(element);
      if (style.display === "none" || style.visibility === "hidden" || parseFloat(style.opacity) === 0) return true;
    }
    return false;
  }

  /** Whether `img` looks like a product picture (not an icon, logo, sprite or tracking pixel). */
  function isProductPicture(img, minSide = MIN_SIDE) {
    const source = bestSource(img);
    if (!source || !/^https?:/.test(source) || /\.svg(\?|#|$)/i.test(source)) return false;
    const path = new URL(source).pathname;
    if (NOT_A_PRODUCT.test(path) || NOT_A_PRODUCT.test(`${img.id} ${img.className}`)) return false;
    const { width, height } = img.getBoundingClientRect();
    if (width < minSide || height < minSide) return false;
    if (Math.max(width / height, height / width) > MAX_ASPECT) return false;
    return !isHidden(img);
  }

  /** Every product picture under `rootNode`. */
  function findPictures(rootNode, minSide = MIN_SIDE) {
    return Array.from(rootNode.querySelectorAll("img")).filter((img) => isProductPicture(img, minSide));
  }

  /** The product card around `img`: its largest ancestor that holds no other product picture
   * (`pictures`: the product pictures of the page). */
  function productCard(img, pictures) {
    const others = Array.from(pictures).filter((other) => other !== img);
    let card = img;
    for (let element = img.parentElement; element && element !== img.ownerDocument.body; element = element.parentElement) {
      if (others.some((other) => element.contains(other))) break;
      card = element;
    }
    return card;
  }

  const api = { parseSrcset, bestSource, isProductPicture, findPictures, productCard, MIN_SIDE };
  root.ShopLens = Object.assign(root.ShopLens || {}, { pictures: api });
  if (typeof module !== "undefined") module.exports = api;
})(globalThis);
